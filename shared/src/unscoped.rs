//! Data access with no tenant: the one narrow capability for the flows that
//! run before there is a caller (sign-up, join, sign-in, invitation
//! acceptance, password reset), for scheduled jobs and for operator
//! commands.
//!
//! Tenant code gets a [`crate::db::Scope`], which the runtime builds after
//! authentication and authorization and which pins every query to one
//! organization. Everything else that reaches the database from the domain
//! opens an [`Unscoped`] handle, naming why ([`Purpose`]), so the places
//! that can read across organizations are few and can be counted:
//! `grep -rn "Unscoped::open" functions/src`. The handle hands out
//! [`Table`]s and [`UnscopedTx`]s, never the driver's own types, so no
//! `mongodb` name appears outside this crate.

use bson::Document;
use futures_util::TryStreamExt;
use mongodb::options::ReturnDocument;
use mongodb::{ClientSession, Collection};

use crate::audit::{self, AuditEntry};
use crate::config::Config;
use crate::error::{id_of, ApiError};
use crate::ratelimit::{self, Decision, LimitedAction};
use crate::state::State;
use crate::storage::Storage;
use crate::store::RequestMeta;

/// Why a flow reads or writes across organizations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Sign-up, join and sign-in: the user is not known yet.
    SignIn,
    /// Invitations: emails are unique across organizations, and the
    /// invitee has no account yet.
    Invitation,
    /// A password reset with an operator's token.
    PasswordReset,
    /// A scheduled cleanup.
    Scheduled,
    /// An operator command (`crm-admin`) or the local demo seed.
    Operator,
    /// A public form's submission: the submitter is anonymous and names
    /// the form only by its public id.
    PublicForm,
}

/// The unscoped handle; see the module docs.
pub struct Unscoped<'s> {
    state: &'s State,
    purpose: Purpose,
}

/// The work of one unscoped transaction attempt, borrowing its [`UnscopedTx`].
pub type UnscopedTxFuture<'t, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, ApiError>> + Send + 't>>;

impl<'s> Unscoped<'s> {
    /// The only constructor; every call names its purpose.
    pub fn open(state: &'s State, purpose: Purpose) -> Self {
        Self { state, purpose }
    }

    pub fn purpose(&self) -> Purpose {
        self.purpose
    }

    /// The platform state, for the platform's own flows (tokens, sessions).
    pub fn state(&self) -> &'s State {
        self.state
    }

    pub fn config(&self) -> &'s Config {
        &self.state.config
    }

    /// The object store (a 500 if this function was started without one).
    pub fn storage(&self) -> Result<&'s Storage, ApiError> {
        self.state.storage()
    }

    pub fn collection(&self, name: &str) -> Table {
        Table {
            coll: self.state.collection(name),
        }
    }

    /// The names of the database's collections, sorted, without the
    /// server's own (`system.*`).
    pub async fn collection_names(&self) -> Result<Vec<String>, ApiError> {
        let mut names: Vec<String> = self
            .state
            .list_collections()
            .await?
            .into_iter()
            .filter(|n| !n.starts_with("system."))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Counts one use of `action`'s bucket for `key` (an email, a client
    /// address) and refuses (429) once it is spent: [`ratelimit::check`]
    /// at the platform's limit.
    pub async fn check(&self, action: LimitedAction, key: &str) -> Result<Decision, ApiError> {
        let limit = ratelimit::platform_limit(self.state, action);
        ratelimit::check(self.state, action, key, limit).await
    }

    /// Gives back a use counted by [`Self::check`].
    pub async fn undo(&self, action: LimitedAction, key: &str) {
        ratelimit::undo(self.state, action, key).await
    }

    /// Writes an audit entry outside any transaction (logged, not raised,
    /// on failure).
    pub async fn audit(
        &self,
        entry: AuditEntry,
        org: Option<bson::oid::ObjectId>,
        user: Option<bson::oid::ObjectId>,
        meta: &RequestMeta,
    ) {
        audit::write_direct(&self.state.db, entry.into_document(org, user, meta)).await;
    }

    /// Runs `work` in a transaction and commits it, all again from the start
    /// while it loses a write conflict (see [`crate::db::Scope::transaction`]).
    pub async fn transaction<T>(
        &self,
        mut work: impl for<'t> FnMut(&'t mut UnscopedTx<'s>) -> UnscopedTxFuture<'t, T>,
    ) -> Result<T, ApiError> {
        let mut retry = crate::transaction::Retry::new(self.state);
        loop {
            let committing = std::sync::atomic::AtomicBool::new(false);
            let result = async {
                let mut session = self.state.client.start_session().await?;
                session.start_transaction().await?;
                let mut tx = UnscopedTx {
                    state: self.state,
                    session,
                    batch: crate::transaction::Batch::default(),
                    announced: vec![],
                };
                let out = work(&mut tx).await?;
                let batch = std::mem::take(&mut tx.batch);
                batch.flush(&self.state.client, &mut tx.session).await?;
                committing.store(true, std::sync::atomic::Ordering::Relaxed);
                crate::transaction::commit(&mut tx.session, self.state).await?;
                Ok((out, std::mem::take(&mut tx.announced)))
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
                crate::webhook::deliver(self.state, announced).await;
                return Ok(out);
            }
        }
    }
}

/// One collection, across organizations.
pub struct Table {
    coll: Collection<Document>,
}

impl Table {
    pub async fn find_one(&self, filter: Document) -> Result<Option<Document>, ApiError> {
        Ok(self.coll.find_one(filter).await?)
    }

    /// The matching documents in `sort` order, at most `limit` (0: all).
    pub async fn find_many(
        &self,
        filter: Document,
        sort: Document,
        limit: i64,
        projection: Option<Document>,
    ) -> Result<Vec<Document>, ApiError> {
        let mut find = self.coll.find(filter).sort(sort).limit(limit);
        if let Some(p) = projection {
            find = find.projection(p);
        }
        Ok(find.await?.try_collect().await?)
    }

    pub async fn count(&self, filter: Document) -> Result<u64, ApiError> {
        Ok(self.coll.count_documents(filter).await?)
    }

    /// Inserts `doc` (given an `_id` when it has none), counting an insert
    /// whose acknowledgement was lost to the driver's retry as done
    /// (`transaction::insert_own_id`) rather than as a duplicate of itself.
    pub async fn insert_one(&self, mut doc: Document) -> Result<(), ApiError> {
        if !doc.contains_key("_id") {
            doc.insert("_id", bson::oid::ObjectId::new());
        }
        crate::transaction::insert_own_id(&self.coll, doc).await
    }

    /// Updates the first match; returns how many matched (0 or 1).
    pub async fn update_one(&self, filter: Document, update: Document) -> Result<u64, ApiError> {
        Ok(self.coll.update_one(filter, update).await?.matched_count)
    }

    /// Inserts `docs` in order (an operator's restore).
    pub async fn insert_many(&self, docs: Vec<Document>) -> Result<(), ApiError> {
        if !docs.is_empty() {
            self.coll.insert_many(docs).await?;
        }
        Ok(())
    }

    /// Updates the first match, or inserts one when none matches.
    pub async fn upsert_one(&self, filter: Document, update: Document) -> Result<(), ApiError> {
        self.coll.update_one(filter, update).upsert(true).await?;
        Ok(())
    }

    /// Updates every match; returns how many changed.
    pub async fn update_many(&self, filter: Document, update: Document) -> Result<u64, ApiError> {
        Ok(self.coll.update_many(filter, update).await?.modified_count)
    }

    pub async fn delete_one(&self, filter: Document) -> Result<bool, ApiError> {
        Ok(self.coll.delete_one(filter).await?.deleted_count == 1)
    }

    pub async fn delete_many(&self, filter: Document) -> Result<u64, ApiError> {
        Ok(self.coll.delete_many(filter).await?.deleted_count)
    }
}

/// An unscoped transaction. Dropped before its commit, it aborts.
pub struct UnscopedTx<'s> {
    state: &'s State,
    session: ClientSession,
    /// Writes nothing here reads back, sent together with the commit.
    batch: crate::transaction::Batch,
    /// The webhook events in `batch`, delivered after the commit.
    announced: Vec<Document>,
}

impl UnscopedTx<'_> {
    fn coll(&self, name: &str) -> Collection<Document> {
        self.state.collection(name)
    }

    /// Inserts `doc` with the commit, in one command with the other writes
    /// held for it (nothing in the transaction can read it before).
    pub fn insert_with_commit(&mut self, coll: &str, doc: Document) {
        self.batch.insert(&self.state.db, coll, doc);
    }

    /// Announces an event of organization `org` to its webhook endpoints,
    /// with the commit (see [`crate::db::Tx::announce`]); the caller
    /// announces only for an organization with endpoints.
    pub fn announce(&mut self, org: bson::oid::ObjectId, kind: &str, data: &serde_json::Value) {
        let event = crate::webhook::event(org, kind, data);
        self.announced.push(event.clone());
        self.batch.insert(
            &self.state.db,
            crate::store::collections::WEBHOOK_EVENTS,
            event,
        );
    }

    /// Updates the one document matching `filter` with the commit (see
    /// [`Self::insert_with_commit`]); matching none fails the transaction
    /// with `unmatched()`.
    pub fn update_with_commit(
        &mut self,
        coll: &str,
        filter: Document,
        update: Document,
        unmatched: fn() -> ApiError,
    ) {
        self.batch
            .update_matching(&self.state.db, coll, filter, update, unmatched);
    }

    pub async fn insert_one(&mut self, coll: &str, doc: Document) -> Result<(), ApiError> {
        self.coll(coll)
            .insert_one(doc)
            .session(&mut self.session)
            .await?;
        Ok(())
    }

    /// Inserts `docs` (none: nothing).
    pub async fn insert_many(&mut self, coll: &str, docs: Vec<Document>) -> Result<(), ApiError> {
        if docs.is_empty() {
            return Ok(());
        }
        self.coll(coll)
            .insert_many(docs)
            .session(&mut self.session)
            .await?;
        Ok(())
    }

    /// Deletes every match; returns how many.
    pub async fn delete_many(&mut self, coll: &str, filter: Document) -> Result<u64, ApiError> {
        Ok(self
            .coll(coll)
            .delete_many(filter)
            .session(&mut self.session)
            .await?
            .deleted_count)
    }

    /// Visits every match (only the `projection`'s fields) as this
    /// transaction sees them, one cursor batch in memory at a time.
    pub async fn for_each(
        &mut self,
        coll: &str,
        filter: Document,
        projection: Document,
        mut visit: impl FnMut(Document),
    ) -> Result<(), ApiError> {
        let mut cursor = self
            .coll(coll)
            .find(filter)
            .projection(projection)
            .batch_size(1000)
            .session(&mut self.session)
            .await?;
        while let Some(d) = cursor.next(&mut self.session).await {
            visit(d?);
        }
        Ok(())
    }

    /// [`crate::db::Tx::upsert_with_commit`] for a document `filter`
    /// names (its `_id` and organization).
    pub fn upsert_with_commit(&mut self, coll: &str, filter: Document, update: Document) {
        self.batch.upsert(&self.state.db, coll, filter, update);
    }

    /// Updates the first match; returns how many matched (0 or 1).
    pub async fn update_one(
        &mut self,
        coll: &str,
        filter: Document,
        update: Document,
    ) -> Result<u64, ApiError> {
        Ok(self
            .coll(coll)
            .update_one(filter, update)
            .session(&mut self.session)
            .await?
            .matched_count)
    }

    /// Updates every match; returns how many matched.
    pub async fn update_many(
        &mut self,
        coll: &str,
        filter: Document,
        update: Document,
    ) -> Result<u64, ApiError> {
        Ok(self
            .coll(coll)
            .update_many(filter, update)
            .session(&mut self.session)
            .await?
            .matched_count)
    }

    /// Updates one document and returns it as it is after the update.
    pub async fn find_one_and_update(
        &mut self,
        coll: &str,
        filter: Document,
        update: Document,
    ) -> Result<Option<Document>, ApiError> {
        Ok(self
            .coll(coll)
            .find_one_and_update(filter, update)
            .return_document(ReturnDocument::After)
            .session(&mut self.session)
            .await?)
    }

    /// Ends every session of `whose`, access tokens included; returns how
    /// many refresh tokens were revoked.
    pub async fn end_all_sessions(
        &mut self,
        whose: crate::auth::tokens::Ending,
        reason: &str,
        now: bson::DateTime,
    ) -> Result<u64, ApiError> {
        let mut revoked = 0;
        for (name, filter, update) in crate::auth::tokens::end_all_writes(whose, reason, now) {
            revoked = self
                .coll(name)
                .update_many(filter, update)
                .session(&mut self.session)
                .await?
                .modified_count;
        }
        Ok(revoked)
    }

    /// Queues `message` in this transaction; returns its outbox id, for
    /// [`crate::email::deliver`] after the commit.
    pub async fn queue_email(
        &mut self,
        org: Option<bson::oid::ObjectId>,
        user: Option<bson::oid::ObjectId>,
        message: &crate::email::Message,
    ) -> Result<bson::oid::ObjectId, ApiError> {
        let doc = crate::email::outbox_document(&self.state.config, org, user, message);
        let id = id_of(&doc, "outbox entry")?;
        self.insert_with_commit(crate::store::collections::EMAIL_OUTBOX, doc);
        Ok(id)
    }

    /// Adds an audit entry to this transaction.
    pub async fn audit(
        &mut self,
        entry: AuditEntry,
        org: Option<bson::oid::ObjectId>,
        user: Option<bson::oid::ObjectId>,
        meta: &RequestMeta,
    ) -> Result<(), ApiError> {
        let d = entry.into_document(org, user, meta);
        self.insert_with_commit(crate::store::collections::AUDIT_LOG, d);
        Ok(())
    }
}
