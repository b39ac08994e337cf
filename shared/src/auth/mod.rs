//! Who is calling: tokens, passwords, and the verified caller.
//!
//! - [`jwt`] (re-exported): short-lived access tokens (HS256, claims pinned).
//! - [`password`]: bcrypt without silent truncation.
//! - [`tokens`]: sessions and refresh tokens, random and stored hashed,
//!   rotated on every use; a reused one ends its session.
//!
//! The flows that use them (register, login, refresh, logout, profile) are
//! the domain's (`functions::identity`). `authenticate` turns a bearer token into a
//! [`Caller`] by re-reading the user and the organization on every request,
//! so a deactivation or a role change takes effect on the caller's next
//! request.

pub mod apikeys;
pub mod links;
pub mod password;
pub mod tokens;

pub use crate::jwt;
pub use crate::time::rfc3339;

use std::sync::Arc;

use bson::oid::ObjectId;
use bson::{doc, DateTime, Document};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::error::Code;
use crate::http::ApiRequest;
pub use crate::model::UserStatus;
use crate::ratelimit::Plan;
use crate::rbac::Role;
use crate::state::State;
use crate::store::collections;

/// A `users` document. Deliberately not `Debug`: it holds the password hash.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    pub organization_id: ObjectId,
    pub email: String,
    #[serde(default)]
    pub(crate) password_hash: String,
    pub first_name: String,
    pub last_name: String,
    pub role: Role,
    pub status: UserStatus,
    pub created_at: DateTime,
    #[serde(default)]
    pub last_login_at: Option<DateTime>,
    /// Set by an operator (`crm-admin users force-password-reset`): the
    /// account is refused until the reset token is used.
    #[serde(default)]
    pub password_reset_required: bool,
    /// Bumped whenever every session of the user must end (sign out
    /// everywhere, password change or reset, deactivation, an operator's
    /// revocation); tokens carry the epoch they were issued in, and one from
    /// an earlier epoch is refused.
    #[serde(default)]
    pub session_epoch: i64,
    /// False from sign-up (register, join) until the user opens the link
    /// of the verification email; accounts made any other way (an
    /// accepted invitation proves the address) and older accounts are
    /// verified.
    #[serde(default = "verified")]
    pub email_verified: bool,
    /// Set on accounts an administrator made directly: until the address's
    /// owner follows the emailed link (`emailVerified`), the account cannot
    /// sign in and does not hold the address (registering or accepting an
    /// invitation with it releases the account).
    #[serde(default)]
    pub email_proof_required: bool,
    /// The client addresses the account signed in from lately (at most 20):
    /// a sign-in from any other gets the user a security alert.
    #[serde(default)]
    pub known_addresses: Vec<String>,
}

fn verified() -> bool {
    true
}

impl User {
    /// The stored bcrypt hash, for verifying a password; never shown.
    pub fn password_hash(&self) -> &str {
        &self.password_hash
    }

    /// The public view: never the password hash.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id.to_hex(),
            "organizationId": self.organization_id.to_hex(),
            "email": self.email,
            "firstName": self.first_name,
            "lastName": self.last_name,
            "role": self.role,
            "status": self.status,
            "createdAt": rfc3339(self.created_at),
            "lastLoginAt": self.last_login_at.map(rfc3339),
            "emailVerified": self.email_verified,
        })
    }
}

/// An `organizations` document.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Organization {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    pub name: String,
    pub slug: String,
    pub plan: Plan,
    pub is_active: bool,
    #[serde(default)]
    pub settings: Option<bson::Document>,
    #[serde(default)]
    pub delete_scheduled_at: Option<DateTime>,
    pub created_at: DateTime,
    /// Operator-set limits per bucket that replace the plan's until a
    /// time: `{"UPLOADS": {"limit": 5000, "until": <date>}}` (`crm-admin
    /// ratelimit override`).
    #[serde(default)]
    pub rate_limit_overrides: Option<bson::Document>,
    /// How many webhook endpoints it has: a change is announced (an event
    /// written with it) only when there are any.
    #[serde(default)]
    pub webhook_endpoints: i64,
}

impl Organization {
    /// This organization's limit for `action` now: an operator's override
    /// while it lasts, else its plan's (with the deployment's
    /// `RATE_LIMIT_*` settings).
    pub fn limit(
        &self,
        limits: &crate::limits::LimitOverrides,
        action: crate::limits::LimitedAction,
    ) -> u64 {
        let name = action.name().to_uppercase();
        let current = self
            .rate_limit_overrides
            .as_ref()
            .and_then(|o| o.get_document(&name).ok())
            .filter(|o| {
                o.get_datetime("until")
                    .is_ok_and(|u| u.timestamp_millis() > DateTime::now().timestamp_millis())
            })
            .and_then(|o| crate::store::number(o, "limit"));
        match current {
            Some(limit) => limit.max(0) as u64,
            None => limits.limit(action, self.plan),
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id.to_hex(),
            "name": self.name,
            "slug": self.slug,
            "plan": self.plan,
            "isActive": self.is_active,
            "settings": self.settings.as_ref().map(|s| bson::Bson::Document(s.clone()).into_relaxed_extjson()).unwrap_or_else(|| json!({})),
            "deleteScheduledAt": self.delete_scheduled_at.map(rfc3339),
            "createdAt": rfc3339(self.created_at),
        })
    }
}

/// The verified caller of one request, as the database says now.
#[derive(Clone)]
pub struct Caller {
    /// The signed-in person; for an API key, the key standing in for one
    /// (its id is the key's: what `createdBy` and the audit log name).
    pub user: User,
    pub org: Organization,
    pub role: Role,
    /// The session (refresh-token family) of the access token; the key's
    /// id for an API key.
    pub session_id: ObjectId,
    /// The API key the request came with, if it came with one.
    pub key: Option<Arc<crate::apikey::KeyRecord>>,
    /// The capability link the request came through ([`links`]), if any.
    pub link: Option<Arc<links::Link>>,
}

impl User {
    /// The stand-in of an API key where handlers name a user: the key's
    /// id, its name, and the role it was made with. It holds no address,
    /// no password and no session.
    fn of_key(key: &crate::apikey::KeyRecord) -> User {
        User {
            id: key.id,
            organization_id: key.organization_id,
            email: String::new(),
            password_hash: String::new(),
            first_name: key.name.clone(),
            last_name: "(API key)".into(),
            role: key.role,
            status: UserStatus::Active,
            created_at: key.id.timestamp(),
            last_login_at: None,
            password_reset_required: false,
            session_epoch: 0,
            email_verified: true,
            email_proof_required: false,
            known_addresses: vec![],
        }
    }
}

fn bearer(req: &ApiRequest) -> Result<&str, ApiError> {
    let header = req.header("authorization").ok_or_else(|| {
        ApiError::unauthenticated(
            Code::Unauthenticated,
            "Sign in first: send Authorization: Bearer <access token>",
        )
    })?;
    match header.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim())
        }
        _ => Err(ApiError::unauthenticated(
            Code::Unauthenticated,
            "The Authorization header must be: Bearer <access token>",
        )),
    }
}

/// The one permission check: `permission` against the caller's role. A
/// refusal is a 403 naming both, with its PERMISSION_DENIED audit entry
/// ([`crate::audit::denied`]). The pipeline checks the route's permission
/// with it, and [`crate::db::Scope::require`] any further one.
pub async fn require(
    db: &mongodb::Database,
    caller: &Caller,
    meta: &crate::store::RequestMeta,
    permission: crate::rbac::Permission,
) -> Result<(), ApiError> {
    if permission.allows(caller.role) {
        return Ok(());
    }
    Err(crate::audit::denied(
        db,
        caller.org.id,
        caller.user.id,
        caller.role,
        meta,
        permission,
    )
    .await)
}

/// What an API key must hold for a route method: its scope (403
/// `INSUFFICIENT_SCOPE` naming it), and a route a key may call at all (403
/// `API_KEY_NOT_ALLOWED`), each refusal audited like a role's. A signed-in
/// person passes; their role is checked by [`require`].
pub async fn require_scope(
    db: &mongodb::Database,
    caller: &Caller,
    meta: &crate::store::RequestMeta,
    needed: crate::rbac::KeyScope,
) -> Result<(), ApiError> {
    match &caller.key {
        Some(key) if !needed.granted_by(&key.scopes) => {
            Err(crate::audit::key_denied(db, caller.org.id, key, meta, needed).await)
        }
        _ => Ok(()),
    }
}

/// Who a request's credential names, once it is verified: the ids an
/// access token carries (no database read: the caller is [`caller`]), or
/// an API key as stored.
pub(crate) struct Bearer {
    /// The user, or the API key's id.
    pub(crate) user_id: ObjectId,
    pub(crate) org_id: ObjectId,
    credential: Credential,
}

enum Credential {
    Session { session_id: ObjectId, epoch: i64 },
    Key(Arc<crate::apikey::KeyRecord>),
}

impl Bearer {
    /// The API key, if the credential is one.
    pub(crate) fn key(&self) -> Option<&Arc<crate::apikey::KeyRecord>> {
        match &self.credential {
            Credential::Key(key) => Some(key),
            Credential::Session { .. } => None,
        }
    }
}

/// Verifies the request's credential: an access token's signature, issuer,
/// audience, expiry and ids; or an API key (`wcrm_…`), checksum first
/// ([`apikeys::verify`]).
pub(crate) async fn identify(state: &State, req: &ApiRequest) -> Result<Bearer, ApiError> {
    let presented = bearer(req)?;
    if crate::apikey::looks_like_key(presented) {
        let key = apikeys::verify(state, presented, req.client_ip).await?;
        return Ok(Bearer {
            user_id: key.id,
            org_id: key.organization_id,
            credential: Credential::Key(key),
        });
    }
    let claims = state.jwt.verify(presented)?;
    let invalid = || ApiError::unauthenticated(Code::InvalidToken, "The access token is invalid");
    Ok(Bearer {
        user_id: ObjectId::parse_str(&claims.sub).map_err(|_| invalid())?,
        org_id: ObjectId::parse_str(&claims.org).map_err(|_| invalid())?,
        credential: Credential::Session {
            session_id: ObjectId::parse_str(&claims.sid).map_err(|_| invalid())?,
            epoch: claims.sep,
        },
    })
}

/// A read made in the same command as the caller's (see [`caller`]): the
/// record or the page an endpoint declared (`runtime::Prefetch`), its
/// filter already limited to the verified token's organization.
pub(crate) struct Beside {
    pub collection: &'static str,
    pub filter: Document,
    /// A page's order; a record has none.
    pub sort: Option<Document>,
    pub limit: i64,
}

/// What [`caller`] read beside the caller: `None` when nothing was asked,
/// or when the combined read failed and the caller was read alone (the
/// handler then reads, and reports, it itself).
pub(crate) type BesideRead = Option<Vec<Document>>;

/// Reads the user and the organization of a verified token, checks that
/// the token's session epoch is the user's and that both are active, so a
/// revoked session or a deactivated account is refused on its next
/// request; and reads `beside` in the same command (see [`read_caller`]).
/// What was read beside is handed back whatever the verdict: the runtime
/// drops it unseen for a refused caller.
pub(crate) async fn caller(
    state: &State,
    token: &Bearer,
    beside: Option<Beside>,
) -> (Result<Caller, ApiError>, BesideRead) {
    let user_id = match &token.credential {
        Credential::Session { .. } => Some(token.user_id),
        Credential::Key(_) => None,
    };
    let read = match read_caller(state, token.org_id, user_id, beside.as_ref()).await {
        Ok(read) => Ok(read),
        // A page the server refuses (a query it rejects, a page past
        // 16 MiB) is the handler's to read and report: the caller alone is
        // read again, so the verdict stays its own.
        Err(e) if beside.is_some() && !e.is_unavailable() => {
            tracing::warn!(error = %e,
                "[DATABASE_ERROR] the caller's read with a page failed; reading the caller alone");
            read_caller(state, token.org_id, user_id, None).await
        }
        Err(e) => Err(e),
    };
    match read {
        Ok((org, user, page)) => (judge(token, org, user), page),
        Err(e) => (Err(e), None),
    }
}

/// One aggregation on the organizations: the token's organization, its
/// user (a session's) in a `$unionWith`, and `beside` in another. Every
/// document of the answer is made by the pipeline, `{_id: "organization"
/// | "user", doc}` and `{_id: "page", docs}`, the page gathered by one
/// `$group` in its `$sort` order (a union's output order is unspecified,
/// and a stored record cannot pass for the caller). On MongoDB (4.4 or
/// later) the three reads cost one round trip either way; on a server that
/// answers one command at a time (the local one), one command instead of
/// three also saves two commands' overhead, and a cold start opens fewer
/// connections. A page past 16 MiB fails the command; [`caller`] then
/// reads the caller alone.
pub(super) async fn read_caller(
    state: &State,
    org_id: ObjectId,
    user_id: Option<ObjectId>,
    beside: Option<&Beside>,
) -> Result<(Option<Organization>, Option<User>, Option<Vec<Document>>), ApiError> {
    use futures_util::TryStreamExt;
    let wrap = |what: &str| doc! { "$replaceWith": { "_id": what, "doc": "$$ROOT" } };
    let mut pipeline = vec![doc! { "$match": { "_id": org_id } }, wrap("organization")];
    if let Some(user_id) = user_id {
        pipeline.push(doc! { "$unionWith": {
            "coll": collections::USERS,
            "pipeline": [ { "$match": { "_id": user_id } }, wrap("user") ],
        } });
    }
    if let Some(b) = beside {
        let mut read = vec![doc! { "$match": b.filter.clone() }];
        if let Some(sort) = &b.sort {
            read.push(doc! { "$sort": sort.clone() });
        }
        read.push(doc! { "$limit": b.limit });
        read.push(doc! { "$group": { "_id": "page", "docs": { "$push": "$$ROOT" } } });
        pipeline.push(doc! { "$unionWith": { "coll": b.collection, "pipeline": read } });
    }
    let docs: Vec<Document> = state
        .db
        .collection::<Document>(collections::ORGANIZATIONS)
        .aggregate(pipeline)
        .await?
        .try_collect()
        .await?;
    let (mut org, mut user, mut page) = (None, None, vec![]);
    let inner = |d: &Document, key: &str| d.get_document(key).ok().cloned();
    for d in docs {
        match d.get_str("_id") {
            Ok("organization") if org.is_none() => {
                org = inner(&d, "doc")
                    .map(crate::store::decode::<Organization>)
                    .transpose()?;
            }
            Ok("user") if user.is_none() => {
                user = inner(&d, "doc")
                    .map(crate::store::decode::<User>)
                    .transpose()?;
            }
            Ok("page") => {
                page = d
                    .get_array("docs")
                    .map(|a| a.iter().filter_map(|b| b.as_document().cloned()).collect())
                    .unwrap_or_default();
            }
            _ => {
                return Err(ApiError::internal(
                    "the caller's read answered an unknown document",
                ))
            }
        }
    }
    // Ids matched, as the reads asked.
    if org.as_ref().is_some_and(|o| o.id != org_id)
        || user.as_ref().is_some_and(|u| Some(u.id) != user_id)
    {
        return Err(ApiError::internal("the caller's read answered another id"));
    }
    Ok((org, user, beside.map(|_| page)))
}

/// The verdict on a token given what [`read_caller`] found.
fn judge(
    token: &Bearer,
    org: Option<Organization>,
    user: Option<User>,
) -> Result<Caller, ApiError> {
    let (session_id, epoch) = match &token.credential {
        Credential::Session { session_id, epoch } => (*session_id, *epoch),
        Credential::Key(key) => return key_caller(key, org),
    };
    let (user, org) = match (user, org) {
        (Some(u), Some(o)) if u.organization_id == o.id => (u, o),
        _ => {
            return Err(ApiError::unauthenticated(
                Code::InvalidToken,
                "The account of this token no longer exists",
            ))
        }
    };
    // A deactivated account or organization says so (403) before a token
    // from an earlier session epoch is refused (401).
    check_active(&user, &org)?;
    if epoch != user.session_epoch {
        return Err(session_ended());
    }
    let role = user.role;
    Ok(Caller {
        user,
        org,
        role,
        session_id,
        key: None,
        link: None,
    })
}

/// The caller an API key stands for: its organization, re-read now (a
/// deactivated one stops its keys at once), and the key as its user.
fn key_caller(
    key: &Arc<crate::apikey::KeyRecord>,
    org: Option<Organization>,
) -> Result<Caller, ApiError> {
    let org = org
        .ok_or_else(|| ApiError::unauthenticated(Code::InvalidApiKey, "The API key is invalid"))?;
    if !org.is_active {
        return Err(ApiError::forbidden(
            Code::OrganizationInactive,
            "This organization is deactivated",
        ));
    }
    Ok(Caller {
        user: User::of_key(key),
        org,
        role: key.role,
        session_id: key.id,
        key: Some(key.clone()),
        link: None,
    })
}

/// The answer to a token issued before every session of its user ended.
pub(crate) fn session_ended() -> ApiError {
    ApiError::unauthenticated(
        Code::SessionRevoked,
        "This session has been signed out; sign in again",
    )
}

/// Refuses PENDING and INACTIVE users, users who must reset their password,
/// and inactive organizations, with a code that names which.
pub fn check_active(user: &User, org: &Organization) -> Result<(), ApiError> {
    if !org.is_active {
        return Err(ApiError::forbidden(
            Code::OrganizationInactive,
            "This organization is deactivated",
        ));
    }
    if user.password_reset_required {
        return Err(ApiError::forbidden(
            Code::PasswordResetRequired,
            "This account's password must be reset with the token an administrator gave you",
        ));
    }
    match user.status {
        UserStatus::Active if user.email_proof_required && !user.email_verified => {
            Err(ApiError::forbidden(
                Code::EmailNotVerified,
                "This account is waiting for its owner to confirm the email address: follow the link in the email we sent, or ask for a password reset, whose link confirms it too",
            ))
        }
        UserStatus::Active => Ok(()),
        UserStatus::Pending => Err(ApiError::forbidden(
            Code::UserPending,
            "This account is waiting for an administrator's approval",
        )),
        UserStatus::Inactive => Err(ApiError::forbidden(
            Code::UserInactive,
            "This account is deactivated",
        )),
    }
}
