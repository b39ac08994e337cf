//! Organization-scoped data access: DESIGN's invariant 1.
//!
//! [`Scope`] is the only handle function code gets to tenant data. Its fields
//! are private and only the runtime builds one, after the token was verified
//! and the caller's role checked. Every filter it runs gets the caller's
//! `organizationId` (replacing anything else under that key), every insert is
//! stamped with it, and updates cannot change it. Writes go through a [`Tx`],
//! so a mutation and its audit entry commit together or not at all.

use std::sync::Arc;
use std::time::Duration;

use bson::oid::ObjectId;
use bson::{doc, Document};
use futures_util::TryStreamExt;
use mongodb::options::{ClientOptions, ReturnDocument};
use mongodb::{Client, ClientSession, Collection};

use crate::audit::{self, AuditEntry};
use crate::auth::Caller;
use crate::config::{Config, ConfigError};
use crate::error::ApiError;
use crate::ratelimit::{self, Decision, LimitedAction};
use crate::rbac::Permission;
use crate::state::State;

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
    pub const ACCOUNTS: &str = "accounts";
    pub const CONTACTS: &str = "contacts";
    pub const LEADS: &str = "leads";
    pub const OPPORTUNITIES: &str = "opportunities";
    pub const TASKS: &str = "tasks";
    pub const PRODUCTS: &str = "products";
    pub const INVITATIONS: &str = "invitations";
    pub const PASSWORD_RESETS: &str = "password_resets";
    pub const IDEMPOTENCY_KEYS: &str = "idempotency_keys";
    pub const DOCUMENTS: &str = "documents";

    /// Every collection a tenant purge empties of the organization's documents.
    pub fn tenant() -> impl Iterator<Item = &'static str> {
        ORG_SCOPED.into_iter().chain(CRM)
    }

    /// The CRM entities' collections.
    pub const CRM: [&str; 6] = [ACCOUNTS, CONTACTS, LEADS, OPPORTUNITIES, TASKS, PRODUCTS];

    /// The platform's collections whose documents belong to one organization
    /// (by `organizationId`); with [`CRM`], what a tenant purge deletes.
    pub const ORG_SCOPED: [&str; 9] = [
        DOCUMENTS,
        USERS,
        REFRESH_TOKENS,
        SESSIONS,
        LOGIN_ATTEMPTS,
        AUDIT_LOG,
        INVITATIONS,
        PASSWORD_RESETS,
        IDEMPOTENCY_KEYS,
    ];
}

pub const ORG_FIELD: &str = "organizationId";

/// `t` moved by `ms` milliseconds (negative: earlier).
pub fn shifted(t: bson::DateTime, ms: i64) -> bson::DateTime {
    bson::DateTime::from_millis(t.timestamp_millis() + ms)
}

pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// Builds the client with every wait bounded by `db_timeout`.
pub(crate) async fn connect(config: &Config) -> Result<Client, ConfigError> {
    let mut opts = ClientOptions::parse(config.mongodb_uri.expose())
        .await
        .map_err(|e| {
            ConfigError(format!(
                "MONGODB_URI is not a usable MongoDB URI: {}",
                e.kind
            ))
        })?;
    opts.server_selection_timeout = Some(config.db_timeout);
    opts.connect_timeout = Some(config.db_timeout);
    opts.max_idle_time = Some(Duration::from_secs(300));
    opts.app_name.get_or_insert_with(|| "workshop-crm".into());
    Client::with_options(opts).map_err(|e| ConfigError(format!("MongoDB client: {}", e.kind)))
}

/// Who made the request, for audit entries and logs.
#[derive(Clone, Debug, Default)]
pub struct RequestMeta {
    pub request_id: String,
    /// The HTTP method and path, as the denial audit entry records them.
    pub method: String,
    pub path: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
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
        }
    }

    /// The client's rate-limit key: its address, an IPv6 one by its /64.
    pub fn client_key(&self) -> String {
        ratelimit::client_key(self.ip.as_deref().and_then(|ip| ip.parse().ok()))
    }
}

/// The organization-scoped data handle.
pub struct Scope {
    state: Arc<State>,
    caller: Caller,
    meta: RequestMeta,
}

impl Scope {
    /// Only the runtime's authorization step calls this.
    pub(crate) fn new(state: Arc<State>, caller: Caller, meta: RequestMeta) -> Self {
        Self {
            state,
            caller,
            meta,
        }
    }

    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    pub fn org_id(&self) -> ObjectId {
        self.caller.org.id
    }

    pub fn meta(&self) -> &RequestMeta {
        &self.meta
    }

    pub(crate) fn state(&self) -> &State {
        &self.state
    }

    pub fn collection(&self, name: &'static str) -> ScopedCollection {
        ScopedCollection {
            coll: self.state.db.collection(name),
            org: self.org_id(),
        }
    }

    /// Starts a transaction for a mutation and its audit entry.
    pub async fn begin(&self) -> Result<Tx<'_>, ApiError> {
        let mut session = self.state.client.start_session().await?;
        session.start_transaction().await?;
        Ok(Tx {
            scope: self,
            session,
        })
    }

    /// Refuses the action: writes the PERMISSION_DENIED audit entry and
    /// returns the 403 to send.
    pub async fn deny(&self, permission: Permission) -> ApiError {
        deny(&self.state, &self.caller, &self.meta, permission).await
    }

    /// Checks a permission beyond the one the route declared (for example
    /// editing a record someone else created).
    pub async fn require(&self, permission: Permission) -> Result<(), ApiError> {
        if permission.allows(self.caller.role) {
            Ok(())
        } else {
            Err(self.deny(permission).await)
        }
    }

    /// Counts one use of an organization-wide bucket of the caller's plan
    /// (exports, uploads); 429 with Retry-After once it is spent.
    pub async fn spend(&self, action: LimitedAction) -> Result<(), ApiError> {
        let hit = ratelimit::hit(&self.state.db, action, &self.org_id().to_hex()).await?;
        let limit = self
            .state
            .config
            .rate_limits
            .limit(action, self.caller.org.plan);
        let decision = Decision::new(action, limit, hit);
        if decision.allowed() {
            Ok(())
        } else {
            Err(decision.error())
        }
    }

    /// Writes an audit entry outside any transaction (for events that change
    /// no data, such as a sign-out).
    pub async fn audit(&self, entry: AuditEntry) {
        let d = entry.into_document(Some(self.org_id()), Some(self.caller.user.id), &self.meta);
        audit::write_direct(&self.state.db, d).await;
    }
}

pub(crate) async fn deny(
    state: &State,
    caller: &Caller,
    meta: &RequestMeta,
    permission: Permission,
) -> ApiError {
    let required = permission.min_role();
    tracing::warn!(
        requestId = %meta.request_id,
        userId = %caller.user.id,
        organizationId = %caller.org.id,
        permission = permission.as_str(),
        "[PERMISSION_DENIED] {} needs {required}, caller is {}",
        permission.as_str(),
        caller.role
    );
    // Shaped as operators query it: resource "api_endpoint", the path as its id.
    let entry = AuditEntry::new(audit::Action::PermissionDenied, "api_endpoint")
        .id(meta.path.clone())
        .changes(doc! {
            "method": meta.method.clone(),
            "requiredPermission": permission.as_str(),
            "requiredRole": required.as_str(),
            "actualRole": caller.role.as_str(),
        });
    let d = entry.into_document(Some(caller.org.id), Some(caller.user.id), meta);
    audit::write_direct(&state.db, d).await;
    ApiError::PermissionDenied {
        permission,
        required,
        actual: caller.role,
    }
}

/// A collection seen through one organization.
pub struct ScopedCollection {
    coll: Collection<Document>,
    org: ObjectId,
}

impl ScopedCollection {
    fn scoped(&self, mut filter: Document) -> Document {
        filter.insert(ORG_FIELD, self.org);
        filter
    }

    pub async fn find_one(&self, filter: Document) -> Result<Option<Document>, ApiError> {
        Ok(self.coll.find_one(self.scoped(filter)).await?)
    }

    pub async fn find_many(
        &self,
        filter: Document,
        sort: Document,
        limit: i64,
        projection: Option<Document>,
    ) -> Result<Vec<Document>, ApiError> {
        let mut find = self.coll.find(self.scoped(filter)).sort(sort).limit(limit);
        if let Some(p) = projection {
            find = find.projection(p);
        }
        let cursor = find.await?;
        Ok(cursor.try_collect().await?)
    }

    /// Visits the matching documents in `sort` order one at a time, holding
    /// one cursor batch in memory rather than the whole result.
    pub async fn for_each(
        &self,
        filter: Document,
        sort: Document,
        mut visit: impl FnMut(Document) -> Result<(), ApiError>,
    ) -> Result<(), ApiError> {
        let mut cursor = self
            .coll
            .find(self.scoped(filter))
            .sort(sort)
            .batch_size(1000)
            .await?;
        while let Some(d) = cursor.try_next().await? {
            visit(d)?;
        }
        Ok(())
    }

    pub async fn count(&self, filter: Document) -> Result<u64, ApiError> {
        Ok(self.coll.count_documents(self.scoped(filter)).await?)
    }

    /// Runs a pipeline whose first stage restricts it to the organization.
    pub async fn aggregate(&self, pipeline: Vec<Document>) -> Result<Vec<Document>, ApiError> {
        let mut stages = vec![doc! { "$match": { ORG_FIELD: self.org } }];
        stages.extend(pipeline);
        let cursor = self.coll.aggregate(stages).await?;
        Ok(cursor.try_collect().await?)
    }
}

/// A transaction within one organization. Dropped without [`Tx::commit`], it
/// aborts, and nothing it wrote is visible.
pub struct Tx<'a> {
    scope: &'a Scope,
    session: ClientSession,
}

impl Tx<'_> {
    fn coll(&self, name: &str) -> Collection<Document> {
        self.scope.state.db.collection(name)
    }

    fn scoped(&self, mut filter: Document) -> Document {
        filter.insert(ORG_FIELD, self.scope.org_id());
        filter
    }

    pub async fn find_one(
        &mut self,
        coll: &'static str,
        filter: Document,
    ) -> Result<Option<Document>, ApiError> {
        let filter = self.scoped(filter);
        Ok(self
            .coll(coll)
            .find_one(filter)
            .session(&mut self.session)
            .await?)
    }

    /// Inserts `doc` stamped with the organization; returns its `_id`.
    pub async fn insert_one(
        &mut self,
        coll: &'static str,
        mut doc: Document,
    ) -> Result<ObjectId, ApiError> {
        let id = match doc.get_object_id("_id") {
            Ok(id) => id,
            Err(_) => {
                let id = ObjectId::new();
                doc.insert("_id", id);
                id
            }
        };
        doc.insert(ORG_FIELD, self.scope.org_id());
        self.coll(coll)
            .insert_one(doc)
            .session(&mut self.session)
            .await?;
        Ok(id)
    }

    /// Inserts `docs`, each stamped with the organization.
    pub async fn insert_many(
        &mut self,
        coll: &'static str,
        docs: Vec<Document>,
    ) -> Result<(), ApiError> {
        if docs.is_empty() {
            return Ok(());
        }
        let org = self.scope.org_id();
        let docs = docs.into_iter().map(|mut d| {
            d.insert(ORG_FIELD, org);
            d
        });
        self.coll(coll)
            .insert_many(docs)
            .session(&mut self.session)
            .await?;
        Ok(())
    }

    /// Updates one document and returns it as it is after the update.
    /// `organizationId` cannot be set or unset through `update`.
    pub async fn find_one_and_update(
        &mut self,
        coll: &'static str,
        filter: Document,
        update: Document,
    ) -> Result<Option<Document>, ApiError> {
        let filter = self.scoped(filter);
        Ok(self
            .coll(coll)
            .find_one_and_update(filter, strip_org(update))
            .return_document(ReturnDocument::After)
            .session(&mut self.session)
            .await?)
    }

    /// Updates every matching document of the organization; returns how many changed.
    pub async fn update_many(
        &mut self,
        coll: &'static str,
        filter: Document,
        update: Document,
    ) -> Result<u64, ApiError> {
        let filter = self.scoped(filter);
        let r = self
            .coll(coll)
            .update_many(filter, strip_org(update))
            .session(&mut self.session)
            .await?;
        Ok(r.modified_count)
    }

    /// Ends every session of `user` (a member of this organization), access
    /// tokens included; returns how many refresh tokens were revoked.
    pub async fn end_all_sessions(
        &mut self,
        user: ObjectId,
        reason: &str,
        now: bson::DateTime,
    ) -> Result<u64, ApiError> {
        let mut revoked = 0;
        for (name, filter, update) in crate::auth::tokens::end_all_writes(user, reason, now) {
            revoked = self.update_many(name, filter, update).await?;
        }
        Ok(revoked)
    }

    /// Deletes one matching document of the organization; returns whether one was.
    pub async fn delete_one(
        &mut self,
        coll: &'static str,
        filter: Document,
    ) -> Result<bool, ApiError> {
        let filter = self.scoped(filter);
        let r = self
            .coll(coll)
            .delete_one(filter)
            .session(&mut self.session)
            .await?;
        Ok(r.deleted_count == 1)
    }

    /// Updates the caller's own `organizations` document (matched by `_id`,
    /// the one collection not keyed by `organizationId`); returns it after.
    pub async fn update_organization(
        &mut self,
        update: Document,
    ) -> Result<Option<Document>, ApiError> {
        Ok(self
            .coll(collections::ORGANIZATIONS)
            .find_one_and_update(doc! { "_id": self.scope.org_id() }, update)
            .return_document(ReturnDocument::After)
            .session(&mut self.session)
            .await?)
    }

    /// Adds the audit entry of this transaction's change.
    pub async fn audit(&mut self, entry: AuditEntry) -> Result<(), ApiError> {
        let d = entry.into_document(
            Some(self.scope.org_id()),
            Some(self.scope.caller.user.id),
            &self.scope.meta,
        );
        self.coll(collections::AUDIT_LOG)
            .insert_one(d)
            .session(&mut self.session)
            .await?;
        Ok(())
    }

    pub async fn commit(mut self) -> Result<(), ApiError> {
        commit(&mut self.session).await
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
pub(crate) fn decode<T: serde::de::DeserializeOwned>(d: Document) -> Result<T, ApiError> {
    bson::from_document(d)
        .map_err(|e| ApiError::internal(format!("stored document does not match its model: {e}")))
}

/// Inserts `docs` (collection, document) in one transaction, run again on a
/// write conflict: for flows that have no [`Scope`] yet (sign-up, join).
pub(crate) async fn insert_in_transaction(
    state: &State,
    docs: &[(&'static str, Document)],
) -> Result<(), ApiError> {
    retry_transient(|| async move {
        let mut session = state.client.start_session().await?;
        session.start_transaction().await?;
        for (coll, doc) in docs {
            state
                .db
                .collection::<Document>(coll)
                .insert_one(doc.clone())
                .session(&mut session)
                .await?;
        }
        commit(&mut session).await
    })
    .await
}

/// Removes `organizationId` from every operator of an update, so no update
/// can move a document to another organization.
fn strip_org(mut update: Document) -> Document {
    for (_, fields) in update.iter_mut() {
        if let Some(fields) = fields.as_document_mut() {
            fields.remove(ORG_FIELD);
        }
    }
    update
}

/// How often a transaction that lost a write conflict is run again.
const TRANSACTION_ATTEMPTS: u32 = 8;

/// Runs `op` (which begins, writes and commits a transaction) again from the
/// start while it fails with a transient write conflict, with a short,
/// growing, jittered pause between attempts.
pub async fn retry_transient<T, Fut>(mut op: impl FnMut() -> Fut) -> Result<T, ApiError>
where
    Fut: std::future::Future<Output = Result<T, ApiError>>,
{
    let mut pause_ms = 5u64;
    for attempt in 1.. {
        match op().await {
            Err(e) if e.is_transient() && attempt < TRANSACTION_ATTEMPTS => {
                let jitter = rand::random::<u64>() % pause_ms.max(1);
                tokio::time::sleep(Duration::from_millis(pause_ms + jitter)).await;
                pause_ms = (pause_ms * 2).min(200);
            }
            other => return other,
        }
    }
    unreachable!("the loop returns on the last attempt")
}

/// Inserts a document that carries its own `_id`. When the server reports a
/// duplicate key but the document with that `_id` is there, the insert did
/// happen (its acknowledgement was lost to an internal retry), so it counts
/// as done; a genuine duplicate of another document stays an error.
pub(crate) async fn insert_own_id(
    coll: &Collection<Document>,
    doc: Document,
) -> Result<(), ApiError> {
    let id = doc
        .get("_id")
        .cloned()
        .ok_or_else(|| ApiError::internal("insert without _id"))?;
    match coll.insert_one(doc).await {
        Ok(_) => Ok(()),
        Err(e) => {
            let err = ApiError::from_db(e);
            if matches!(
                err,
                ApiError::Conflict {
                    code: "ALREADY_EXISTS",
                    ..
                }
            ) && coll.find_one(doc! { "_id": id }).await?.is_some()
            {
                Ok(())
            } else {
                Err(err)
            }
        }
    }
}

/// Commits, retrying once when the outcome is unknown (the driver's advice
/// for `UnknownTransactionCommitResult`).
pub(crate) async fn commit(session: &mut ClientSession) -> Result<(), ApiError> {
    match session.commit_transaction().await {
        Ok(()) => Ok(()),
        Err(e) if e.contains_label(mongodb::error::UNKNOWN_TRANSACTION_COMMIT_RESULT) => {
            Ok(session.commit_transaction().await?)
        }
        Err(e) => Err(e.into()),
    }
}
