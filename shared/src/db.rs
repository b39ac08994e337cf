//! Organization-scoped data access: tenant isolation, the first security invariant.
//!
//! [`Scope`] is the only handle function code gets to tenant data. Its fields
//! are private and only the runtime builds one, after the token was verified
//! and the caller's role checked. Every filter it runs gets the caller's
//! `organizationId` (replacing anything else under that key), every insert is
//! stamped with it, and updates cannot change it. Writes go through a [`Tx`],
//! so a mutation and its audit entry commit together or not at all.

use std::sync::Arc;

use bson::oid::ObjectId;
use bson::{doc, Bson, Document};
use futures_util::TryStreamExt;
use mongodb::options::ReturnDocument;
use mongodb::{ClientSession, Collection};

use crate::audit::{self, AuditEntry};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::ratelimit::{self, LimitedAction};
use crate::rbac::Permission;
use crate::state::State;
pub use crate::store::{collections, decode, number, RequestMeta, ORG_FIELD};
pub use crate::time::{shifted, DAY_MS, HOUR_MS};
use crate::transaction::{commit, Batch};

/// The work of one transaction attempt, borrowing its [`Tx`].
pub type TxFuture<'t, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, ApiError>> + Send + 't>>;

/// The organization-scoped data handle.
pub struct Scope {
    state: Arc<State>,
    caller: Caller,
    meta: RequestMeta,
    /// The request's Idempotency-Key reservation, completed by the
    /// transaction that answers it ([`Tx::respond`]).
    idempotency: Option<Arc<crate::idempotency::Pending>>,
}

impl Scope {
    /// Only the runtime's authorization step calls this.
    pub(crate) fn new(
        state: Arc<State>,
        caller: Caller,
        meta: RequestMeta,
        idempotency: Option<Arc<crate::idempotency::Pending>>,
    ) -> Self {
        Self {
            state,
            caller,
            meta,
            idempotency,
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

    /// The deployment's configuration.
    pub fn config(&self) -> &crate::config::Config {
        &self.state.config
    }

    /// The platform state, for the platform's own flows (tokens,
    /// [`crate::unscoped::Unscoped`] where a rule must look beyond the
    /// organization, such as email uniqueness).
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The object store (a 500 if this function was started without one).
    pub fn storage(&self) -> Result<&crate::storage::Storage, ApiError> {
        self.state.storage()
    }

    pub fn collection(&self, name: &'static str) -> ScopedCollection {
        ScopedCollection {
            coll: self.state.db.collection(name),
            org: self.org_id(),
        }
    }

    /// Runs `work` in a transaction and commits it, all again from the start
    /// while it loses a write conflict: the one place tenant code gets a
    /// transaction, so a mutation and its audit entry commit together or
    /// not at all, and no handler writes its own retry loop. A retry runs
    /// `work` afresh, so it must not depend on what an aborted attempt did.
    pub async fn transaction<'s, T>(
        &'s self,
        mut work: impl for<'t> FnMut(&'t mut Tx<'s>) -> TxFuture<'t, T>,
    ) -> Result<T, ApiError> {
        let mut retry = crate::transaction::Retry::new(&self.state);
        loop {
            let committing = std::sync::atomic::AtomicBool::new(false);
            let result = async {
                let mut tx = self.begin().await?;
                let out = work(&mut tx).await?;
                // The batched writes go inside the transaction: if they fail,
                // it aborts and may run again. Only the commit may land unseen.
                tx.flush().await?;
                committing.store(true, std::sync::atomic::Ordering::Relaxed);
                let announced = std::mem::take(&mut tx.announced);
                tx.commit().await?;
                Ok((out, announced))
            }
            .await;
            // A commit that failed may have landed: never run again.
            if committing.load(std::sync::atomic::Ordering::Relaxed)
                && result.as_ref().is_err_and(ApiError::is_unavailable)
            {
                return result.map(|(out, _)| out);
            }
            if !retry.again(&result).await {
                let (out, announced) = result?;
                // Committed: the first attempts of its webhooks, within the
                // inline budget.
                crate::webhook::deliver(&self.state, announced).await;
                return Ok(out);
            }
        }
    }

    /// Starts a transaction for a mutation and its audit entry.
    async fn begin(&self) -> Result<Tx<'_>, ApiError> {
        let mut session = self.state.client.start_session().await?;
        session.start_transaction().await?;
        Ok(Tx {
            scope: self,
            session,
            batch: Batch::default(),
            answered: false,
            announced: vec![],
        })
    }

    /// Makes sure the organization's sequence `name` exists (at 0), outside
    /// any transaction, so the transactions that take numbers from it only
    /// ever update it.
    pub async fn ensure_sequence(&self, name: &str) -> Result<(), ApiError> {
        let id = format!("{}:{name}", self.org_id().to_hex());
        let coll = self.state.db.collection::<Document>(collections::SEQUENCES);
        if coll.find_one(doc! { "_id": &id }).await?.is_some() {
            return Ok(());
        }
        let seq = doc! { "_id": &id, ORG_FIELD: self.org_id(), "name": name, "value": 0_i64 };
        match coll.insert_one(seq).await {
            Ok(_) => Ok(()),
            Err(e) => match ApiError::from_db(e) {
                // A concurrent first use made it.
                ApiError::Conflict { .. } => Ok(()),
                other => Err(other),
            },
        }
    }

    /// Checks a permission beyond the one the route declared (for example
    /// editing a record someone else created), through the one denial
    /// path ([`crate::auth::require`]).
    pub async fn require(&self, permission: Permission) -> Result<(), ApiError> {
        crate::auth::require(&self.state.db, &self.caller, &self.meta, permission).await
    }

    /// Checks an API key's scope beyond the one the route declared (an
    /// export of one entity needs that entity's read scope), through the
    /// one key denial path ([`crate::auth::require_scope`]); a signed-in
    /// person passes.
    pub async fn require_scope(&self, needed: crate::rbac::KeyScope) -> Result<(), ApiError> {
        crate::auth::require_scope(&self.state.db, &self.caller, &self.meta, needed).await
    }

    /// Counts one use of an organization-wide bucket of the caller's plan
    /// (exports, uploads); 429 with Retry-After once it is spent.
    pub async fn spend(&self, action: LimitedAction) -> Result<(), ApiError> {
        let limit = self
            .caller
            .org
            .limit(&self.state.config.rate_limits, action);
        ratelimit::check(&self.state, action, &self.org_id().to_hex(), limit)
            .await
            .map(drop)
    }

    /// Counts one use of a platform-wide bucket keyed by `key` (an email
    /// address the caller writes to, say), whoever the caller is; 429 with
    /// Retry-After once it is spent.
    pub async fn spend_on(&self, action: LimitedAction, key: &str) -> Result<(), ApiError> {
        let limit = ratelimit::platform_limit(&self.state, action);
        ratelimit::check(&self.state, action, key, limit)
            .await
            .map(drop)
    }

    /// The organization's buckets (API, uploads, exports, invitations) as they stand:
    /// each one's limit on its plan, how much of the current window is used
    /// (this request included), what remains and when the window resets.
    pub async fn rate_limits(&self) -> Result<Vec<serde_json::Value>, ApiError> {
        let mut out = vec![];
        for action in LimitedAction::ALL.into_iter().filter(|a| !a.per_client()) {
            out.push(self.rate_limit(action).await?);
        }
        Ok(out)
    }

    /// One of [`Scope::rate_limits`]' buckets.
    pub async fn rate_limit(&self, action: LimitedAction) -> Result<serde_json::Value, ApiError> {
        let (used, reset_at) =
            ratelimit::peek(&self.state, action, &self.org_id().to_hex()).await?;
        let limit = self
            .caller
            .org
            .limit(&self.state.config.rate_limits, action);
        Ok(serde_json::json!({
            "bucket": action.name().to_uppercase(),
            "windowSeconds": action.window_secs(),
            "limit": limit,
            "used": used,
            "remaining": limit.saturating_sub(used),
            "resetAt": crate::time::rfc3339(bson::DateTime::from_millis(reset_at as i64 * 1000)),
        }))
    }

    /// Writes an audit entry outside any transaction (for events that change
    /// no data, such as a sign-out).
    pub async fn audit(&self, entry: AuditEntry) {
        let d = entry.into_document(Some(self.org_id()), Some(self.caller.user.id), &self.meta);
        audit::write_direct(&self.state.db, d).await;
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
    /// Writes nothing here reads back, sent together with the commit.
    batch: Batch,
    /// Whether the request's idempotent answer is in `batch`.
    answered: bool,
    /// The webhook events in `batch`, delivered after the commit.
    announced: Vec<Document>,
}

pub use crate::webhook::EVENT_DAYS;

impl<'a> Tx<'a> {
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

    /// Up to `limit` of the organization's documents matching `filter`, in
    /// `sort` order, as this transaction sees them.
    pub async fn find_many(
        &mut self,
        coll: &'static str,
        filter: Document,
        sort: Document,
        limit: i64,
    ) -> Result<Vec<Document>, ApiError> {
        let filter = self.scoped(filter);
        let mut cursor = self
            .coll(coll)
            .find(filter)
            .sort(sort)
            .limit(limit)
            .session(&mut self.session)
            .await?;
        let mut out = vec![];
        while let Some(d) = cursor.next(&mut self.session).await {
            out.push(d?);
        }
        Ok(out)
    }

    /// How many of the organization's documents match `filter`, as this
    /// transaction sees them.
    pub async fn count(&mut self, coll: &'static str, filter: Document) -> Result<u64, ApiError> {
        let filter = self.scoped(filter);
        Ok(self
            .coll(coll)
            .count_documents(filter)
            .session(&mut self.session)
            .await?)
    }

    /// Queues `message` for `user` (if it is to one) in this transaction
    /// (sent with the commit); returns its outbox id, for
    /// [`crate::email::deliver`] after the commit.
    pub async fn queue_email(
        &mut self,
        user: Option<ObjectId>,
        message: &crate::email::Message,
    ) -> Result<ObjectId, ApiError> {
        let doc = crate::email::outbox_document(
            &self.scope.state.config,
            Some(self.scope.org_id()),
            user,
            message,
        );
        let id = crate::error::id_of(&doc, "outbox entry")?;
        let mut doc = doc;
        doc.insert(ORG_FIELD, self.scope.org_id());
        self.batch
            .insert(&self.scope.state.db, collections::EMAIL_OUTBOX, doc);
        Ok(id)
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
    ///
    /// Done as update by `_id` (still under `filter`), then read back,
    /// rather than one `findAndModify`: inside the transaction the two see
    /// one state (a concurrent change is a write conflict, and the
    /// transaction runs again), and each is a plain indexed operation,
    /// where the local MongoDB-wire server runs `findAndModify` as a
    /// collection scan (500 ms at 50,000 documents, against a few ms). A
    /// filter without an `_id` first finds the document's id: one round trip
    /// more.
    pub async fn find_one_and_update(
        &mut self,
        coll: &'static str,
        filter: Document,
        update: Document,
    ) -> Result<Option<Document>, ApiError> {
        let Some(id) = self.update_by_id(coll, filter, update).await? else {
            return Ok(None);
        };
        let filter = self.scoped(doc! { "_id": id });
        Ok(self
            .coll(coll)
            .find_one(filter)
            .session(&mut self.session)
            .await?)
    }

    /// Updates the one document matching `filter` (by its `_id`, found first
    /// when the filter names none); its id, or `None` when nothing matched.
    /// `organizationId` cannot be set or unset through `update`.
    pub async fn update_by_id(
        &mut self,
        coll: &'static str,
        filter: Document,
        update: Document,
    ) -> Result<Option<Bson>, ApiError> {
        let mut filter = self.scoped(filter);
        // Only a plain id names one document; an operator, a pattern or an
        // array is found first like any other filter.
        let id = match filter.get("_id") {
            Some(id @ (Bson::ObjectId(_) | Bson::String(_) | Bson::Int32(_) | Bson::Int64(_))) => {
                id.clone()
            }
            _ => {
                let Some(found) = self
                    .coll(coll)
                    .find_one(filter.clone())
                    .projection(doc! { "_id": 1 })
                    .session(&mut self.session)
                    .await?
                else {
                    return Ok(None);
                };
                let id = found.get("_id").cloned().unwrap_or(Bson::Null);
                filter.insert("_id", id.clone());
                id
            }
        };
        let updated = self
            .coll(coll)
            .update_one(filter, strip_org(update))
            .session(&mut self.session)
            .await?;
        Ok((updated.matched_count > 0).then_some(id))
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

    /// Ends every session of `whose` (a member of this organization, or all
    /// of them), access tokens included; returns how many refresh tokens
    /// were revoked.
    pub async fn end_all_sessions(
        &mut self,
        whose: crate::auth::tokens::Ending,
        reason: &str,
        now: bson::DateTime,
    ) -> Result<u64, ApiError> {
        let mut revoked = 0;
        for (name, filter, update) in crate::auth::tokens::end_all_writes(whose, reason, now) {
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

    /// The next number of the organization's sequence `name` (see
    /// [`Scope::ensure_sequence`]), taken in this transaction: it is used
    /// only if the transaction commits.
    pub async fn next_in_sequence(&mut self, name: &str) -> Result<i64, ApiError> {
        let id = format!("{}:{name}", self.scope.org_id().to_hex());
        let seq = self
            .coll(collections::SEQUENCES)
            .find_one_and_update(
                doc! { "_id": &id, ORG_FIELD: self.scope.org_id() },
                doc! { "$inc": { "value": 1_i64 } },
            )
            .return_document(ReturnDocument::After)
            .session(&mut self.session)
            .await?
            .ok_or_else(|| ApiError::internal(format!("sequence {id} missing")))?;
        Ok(crate::store::number(&seq, "value").unwrap_or(0))
    }

    /// Takes the organization's lock `name` (a sequence, made beforehand
    /// with [`Scope::ensure_sequence`]) for the rest of the transaction: a
    /// concurrent transaction taking it too conflicts and runs again after
    /// this one commits, so both never check the same rule on the same
    /// snapshot.
    pub async fn lock(&mut self, name: &str) -> Result<(), ApiError> {
        self.next_in_sequence(name).await.map(drop)
    }

    /// The tenant scope the transaction runs in (its caller and
    /// organization).
    pub fn scope(&self) -> &'a Scope {
        self.scope
    }

    /// Adds the audit entry of this transaction's change (sent with the
    /// commit).
    pub async fn audit(&mut self, entry: AuditEntry) -> Result<(), ApiError> {
        let d = entry.into_document(
            Some(self.scope.org_id()),
            Some(self.scope.caller.user.id),
            &self.scope.meta,
        );
        self.batch
            .insert(&self.scope.state.db, collections::AUDIT_LOG, d);
        Ok(())
    }

    /// Adds `update` to the organization's document `id` of `coll`,
    /// inserting it (with the organization) when there is none, sent with
    /// the commit (no round trip of its own): a figure kept beside the
    /// records it sums, changed in the transaction that changes them.
    pub fn upsert_with_commit(
        &mut self,
        coll: &'static str,
        id: impl Into<bson::Bson>,
        update: Document,
    ) {
        let filter = self.scoped(doc! { "_id": id.into() });
        self.batch
            .upsert(&self.scope.state.db, coll, filter, strip_org(update));
    }

    /// Announces this transaction's change to the organization's webhook
    /// endpoints: an event `{type, data, createdAt}` in the outbox, sent
    /// with the commit (no round trip of its own), so nothing is announced
    /// that did not commit and nothing committed goes unannounced. Nothing
    /// is written for an organization without endpoints (as its caller was
    /// read: an endpoint added while this request ran may miss it). Events
    /// are kept [`EVENT_DAYS`] days.
    pub fn announce(&mut self, kind: &str, data: &serde_json::Value) {
        if self.scope.caller.org.webhook_endpoints <= 0 {
            return;
        }
        let event = crate::webhook::event(self.scope.org_id(), kind, data);
        self.announced.push(event.clone());
        self.batch
            .insert(&self.scope.state.db, collections::WEBHOOK_EVENTS, event);
    }

    /// The response this transaction's change answers with: a request with
    /// an Idempotency-Key keeps it in this transaction (sent with the
    /// commit), so the change and the answer a retry gets are both there or
    /// neither is. Call it last, with the response the handler returns.
    pub fn respond(&mut self, response: &crate::http::ApiResponse) -> Result<(), ApiError> {
        if let Some(pending) = &self.scope.idempotency {
            self.answered = crate::idempotency::complete_in(
                pending,
                response,
                &self.scope.state,
                &mut self.batch,
            )?;
        }
        Ok(())
    }

    /// Sends the deferred writes (inside the transaction, not yet committed).
    async fn flush(&mut self) -> Result<(), ApiError> {
        let batch = std::mem::take(&mut self.batch);
        batch
            .flush(&self.scope.state.client, &mut self.session)
            .await
    }

    pub async fn commit(mut self) -> Result<(), ApiError> {
        self.flush().await?;
        commit(&mut self.session, &self.scope.state).await?;
        if self.answered {
            if let Some(pending) = &self.scope.idempotency {
                pending.completed();
            }
        }
        Ok(())
    }
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
