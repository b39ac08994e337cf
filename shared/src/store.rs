//! The names and shapes of stored data, below every layer that reads or
//! writes it: collection names, the tenant key, who made a change
//! ([`RequestMeta`]), and decoding stored documents.

use bson::oid::ObjectId;
use bson::Document;

use crate::error::{ApiError, OrInternal};

/// Collection names, in one place.
pub mod collections {
    pub const ORGANIZATIONS: &str = "organizations";
    pub const USERS: &str = "users";
    pub const REFRESH_TOKENS: &str = "refresh_tokens";
    /// One document per sign-in (a refresh-token family): its absolute
    /// expiry and whether it was ended.
    pub const SESSIONS: &str = "sessions";
    pub const LOGIN_ATTEMPTS: &str = "login_attempts";
    pub const RATE_LIMITS: &str = "rate_limits";
    pub const AUDIT_LOG: &str = "audit_log";
    pub const SCHEMA_MIGRATIONS: &str = "schema_migrations";
    pub const INVITATIONS: &str = "invitations";
    pub const PASSWORD_RESETS: &str = "password_resets";
    pub const IDEMPOTENCY_KEYS: &str = "idempotency_keys";
    pub const DOCUMENTS: &str = "documents";
    /// Per-organization number sequences (`{_id: "<org>:<name>", value}`).
    pub const SEQUENCES: &str = "sequences";
    /// Emails waiting to be sent, or sent (`shared::email`).
    pub const EMAIL_OUTBOX: &str = "email_outbox";
    /// Client addresses (CIDR) refused by every function (`crm-admin ips`).
    pub const IP_BLOCKS: &str = "ip_blocks";
    /// One-time email verification tokens (hashed).
    pub const EMAIL_VERIFICATIONS: &str = "email_verifications";
    /// API keys, stored as keyed hashes (`crate::apikey`).
    pub const API_KEYS: &str = "api_keys";
    /// Events for the organization's webhook endpoints, written in the
    /// transaction of the change they announce (`crate::db::Tx::announce`).
    pub const WEBHOOK_EVENTS: &str = "webhook_events";
    /// Where an organization's events are sent (`crate::webhook`).
    pub const WEBHOOK_ENDPOINTS: &str = "webhook_endpoints";
    /// One event for one endpoint, with its attempts (`crate::webhook`).
    pub const WEBHOOK_MESSAGES: &str = "webhook_messages";
    /// Capability links, stored as their token's hash (`crate::auth::links`).
    pub const LINKS: &str = "links";

    /// The platform's collections whose documents belong to one organization
    /// (by `organizationId`). The tenant purge does not rely on this list
    /// (it searches every collection of the database); tests fill these,
    /// and the domain's, to check it.
    pub const ORG_SCOPED: [&str; 17] = [
        DOCUMENTS,
        SEQUENCES,
        USERS,
        REFRESH_TOKENS,
        SESSIONS,
        LOGIN_ATTEMPTS,
        AUDIT_LOG,
        INVITATIONS,
        PASSWORD_RESETS,
        IDEMPOTENCY_KEYS,
        EMAIL_OUTBOX,
        EMAIL_VERIFICATIONS,
        API_KEYS,
        WEBHOOK_EVENTS,
        WEBHOOK_ENDPOINTS,
        WEBHOOK_MESSAGES,
        LINKS,
    ];
}

pub const ORG_FIELD: &str = "organizationId";

/// Who made the request, for audit entries and logs.
#[derive(Clone, Debug, Default)]
pub struct RequestMeta {
    pub request_id: String,
    /// The HTTP method and path, as the denial audit entry records them.
    pub method: String,
    pub path: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The API key the request came with (its document's id): the audit
    /// log names it as the actor.
    pub api_key: Option<ObjectId>,
    /// The capability link the request came through: the audit log names
    /// it as the actor.
    pub link: Option<ObjectId>,
}

impl RequestMeta {
    /// For changes made by the platform itself (`crm-admin`, a scheduled
    /// cleanup) rather than by a request: `actor` is the path and the agent.
    pub fn system(actor: &str, method: &str) -> Self {
        Self {
            request_id: format!("{actor}-{}", ObjectId::new().to_hex()),
            method: method.into(),
            path: actor.into(),
            ip: None,
            user_agent: Some(actor.into()),
            api_key: None,
            link: None,
        }
    }

    /// The client's rate-limit key: its address, an IPv6 one by its /64.
    pub fn client_key(&self) -> String {
        crate::limits::client_key(self.ip.as_deref().and_then(|ip| ip.parse().ok()))
    }
}

/// A numeric field whatever its BSON width (servers and aggregations return
/// counts and sums as 32-bit, 64-bit or double).
pub fn number(d: &Document, key: &str) -> Option<i64> {
    match d.get(key)? {
        bson::Bson::Int32(n) => Some(*n as i64),
        bson::Bson::Int64(n) => Some(*n),
        bson::Bson::Double(n) => Some(*n as i64),
        _ => None,
    }
}

/// Decodes a stored document into its typed model; a mismatch is an internal error.
pub fn decode<T: serde::de::DeserializeOwned>(d: Document) -> Result<T, ApiError> {
    bson::from_document(d).internal("stored document does not match its model")
}
