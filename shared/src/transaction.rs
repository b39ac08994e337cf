//! The one transaction retry: [`Retry`] runs a transaction again from the
//! start while it loses a write conflict (for [`crate::db::Scope::transaction`]
//! and [`crate::unscoped::Unscoped::transaction`]), and [`commit`] retries an
//! unknown commit result.

use std::time::Duration;

use bson::{doc, Document};
use mongodb::error::ErrorKind;
use mongodb::options::{InsertOneModel, UpdateOneModel, WriteModel};
use mongodb::{Client, ClientSession, Collection, Database, Namespace};

use crate::error::ApiError;
use crate::error::Code;

/// How often a transaction that lost a write conflict is run again. A hot
/// document (one part's stock under a burst of withdrawals) lets one
/// transaction through per round, so a burst of N needs up to N rounds,
/// and more when a slow server lets a round go by with none through (a
/// burst of 20 on a loaded test machine ran out at 24).
const TRANSACTION_ATTEMPTS: u32 = 40;

/// The pauses between attempts of a transaction that lost a write
/// conflict: short, growing, jittered, and [`TRANSACTION_ATTEMPTS`] in all.
/// A database that cannot be reached is tried again only until
/// `DB_TIMEOUT_MS` after the first attempt that could not reach it (a
/// dropped connection on a busy server is retried; a server that stays
/// away is not waited on): then the request answers 503
/// `DATABASE_UNAVAILABLE` (a keyed client's retry completes it once),
/// rather than holding its client through an outage.
pub(crate) struct Retry {
    attempt: u32,
    pause_ms: u64,
    db_timeout: Duration,
    unreachable_since: Option<tokio::time::Instant>,
}

impl Retry {
    pub(crate) fn new(state: &crate::state::State) -> Self {
        Self {
            attempt: 1,
            pause_ms: 5,
            db_timeout: state.config.db_timeout,
            unreachable_since: None,
        }
    }

    /// Whether `result` (of the attempt just made) should be run again;
    /// waits the pause first when it should.
    pub(crate) async fn again<T>(&mut self, result: &Result<T, ApiError>) -> bool {
        let jitter = rand::random::<u64>() % self.pause_ms.max(1);
        let pause = Duration::from_millis(self.pause_ms + jitter);
        let now = tokio::time::Instant::now();
        let again = match result {
            Err(e) if e.is_transient() => self.attempt < TRANSACTION_ATTEMPTS,
            Err(e) if e.is_unavailable() => {
                let since = *self.unreachable_since.get_or_insert(now);
                self.attempt < TRANSACTION_ATTEMPTS && now + pause < since + self.db_timeout
            }
            _ => false,
        };
        if !again {
            return false;
        }
        tokio::time::sleep(pause).await;
        self.pause_ms = (self.pause_ms * 2).min(150);
        self.attempt += 1;
        true
    }
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
                    code: Code::AlreadyExists,
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
/// for `UnknownTransactionCommitResult`): at once after a dropped
/// connection, not at all after a commit that waited out `DB_TIMEOUT_MS`
/// for an unreachable server, and never for longer than that. Then the
/// request answers 503 (its Idempotency-Key tells a retry whether it
/// landed).
pub(crate) async fn commit(
    session: &mut ClientSession,
    state: &crate::state::State,
) -> Result<(), ApiError> {
    let started = tokio::time::Instant::now();
    match session.commit_transaction().await {
        Ok(()) => Ok(()),
        Err(e) if e.contains_label(mongodb::error::UNKNOWN_TRANSACTION_COMMIT_RESULT) => {
            let timeout = state.config.db_timeout;
            if started.elapsed() >= timeout {
                return Err(e.into());
            }
            match tokio::time::timeout(timeout, session.commit_transaction()).await {
                Ok(result) => Ok(result?),
                Err(_) => Err(ApiError::database_unavailable()),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// Writes whose answers nothing in the transaction reads (an audit entry,
/// an idempotent response, an outbox message, a login's records), held
/// back and sent together just before the commit: one `bulkWrite`
/// (MongoDB 8.0's command across collections) instead of one command, one
/// round trip, each. On an older server the driver refuses the command
/// before sending it, and the writes go one by one instead.
#[derive(Default)]
pub(crate) struct Batch {
    writes: Vec<(Namespace, Write)>,
}

enum Write {
    Insert(Document),
    /// An update that must match a document, or the transaction fails with
    /// the error given.
    Update {
        filter: Document,
        update: Document,
        unmatched: fn() -> ApiError,
    },
    /// An update that inserts the document when none matches (a counter
    /// kept beside the records).
    Upsert {
        filter: Document,
        update: Document,
    },
}

impl Batch {
    pub(crate) fn insert(&mut self, db: &Database, coll: &str, doc: Document) {
        self.writes
            .push((Namespace::new(db.name(), coll), Write::Insert(doc)));
    }

    /// Adds an update that must match one document; when it matches none,
    /// the flush fails with `unmatched()` (and the transaction with it).
    pub(crate) fn update_matching(
        &mut self,
        db: &Database,
        coll: &str,
        filter: Document,
        update: Document,
        unmatched: fn() -> ApiError,
    ) {
        self.writes.push((
            Namespace::new(db.name(), coll),
            Write::Update {
                filter,
                update,
                unmatched,
            },
        ));
    }

    /// Adds an update that inserts the document when `filter` (by its
    /// `_id`) matches none.
    pub(crate) fn upsert(&mut self, db: &Database, coll: &str, filter: Document, update: Document) {
        self.writes.push((
            Namespace::new(db.name(), coll),
            Write::Upsert { filter, update },
        ));
    }

    /// Sends the held writes in `session`'s transaction. Two transactions
    /// that insert the same new document by upsert collide on its `_id`:
    /// that duplicate is a write conflict (the transaction runs again and
    /// then updates the document the other one inserted).
    pub(crate) async fn flush(
        self,
        client: &Client,
        session: &mut ClientSession,
    ) -> Result<(), ApiError> {
        let upserts = self
            .writes
            .iter()
            .any(|(_, w)| matches!(w, Write::Upsert { .. }));
        match self.send(client, session).await {
            Err(ApiError::Conflict {
                code: Code::AlreadyExists,
                ..
            }) if upserts => Err(ApiError::conflict(
                Code::WriteConflict,
                "A counter was inserted meanwhile; retry",
            )),
            other => other,
        }
    }

    async fn send(self, client: &Client, session: &mut ClientSession) -> Result<(), ApiError> {
        if self.writes.len() > 1 {
            let models: Vec<WriteModel> = self
                .writes
                .iter()
                .map(|(ns, w)| match w {
                    Write::Insert(doc) => InsertOneModel::builder()
                        .namespace(ns.clone())
                        .document(doc.clone())
                        .build()
                        .into(),
                    Write::Update { filter, update, .. } => UpdateOneModel::builder()
                        .namespace(ns.clone())
                        .filter(filter.clone())
                        .update(update.clone())
                        .build()
                        .into(),
                    Write::Upsert { filter, update } => UpdateOneModel::builder()
                        .namespace(ns.clone())
                        .filter(filter.clone())
                        .update(update.clone())
                        .upsert(true)
                        .build()
                        .into(),
                })
                .collect();
            let count = |upsert: bool| {
                self.writes
                    .iter()
                    .filter(|(_, w)| match w {
                        Write::Update { .. } => !upsert,
                        Write::Upsert { .. } => upsert,
                        Write::Insert(_) => false,
                    })
                    .count() as i64
            };
            match client.bulk_write(models).session(&mut *session).await {
                Ok(result) => {
                    // An upsert that found its document counts as matched;
                    // the must-match updates are what is left.
                    let upserts_matched = count(true) - result.upserted_count;
                    if result.matched_count - upserts_matched < count(false) {
                        return Err(self.first_unmatched());
                    }
                    return Ok(());
                }
                Err(e) if matches!(*e.kind, ErrorKind::IncompatibleServer { .. }) => {}
                Err(e) => {
                    let duplicate = match &*e.kind {
                        ErrorKind::BulkWrite(b) => b.write_errors.values().any(|w| w.code == 11000),
                        _ => false,
                    };
                    if duplicate && count(true) > 0 {
                        // Told as the one-by-one path tells it (see `flush`).
                        return Err(ApiError::conflict(
                            Code::AlreadyExists,
                            "A document of this batch exists already",
                        ));
                    }
                    return Err(e.into());
                }
            }
        }
        for (ns, w) in self.writes {
            let coll = client.database(&ns.db).collection::<Document>(&ns.coll);
            match w {
                Write::Insert(doc) => {
                    coll.insert_one(doc).session(&mut *session).await?;
                }
                Write::Update {
                    filter,
                    update,
                    unmatched,
                } => {
                    let r = coll
                        .update_one(filter, update)
                        .session(&mut *session)
                        .await?;
                    if r.matched_count == 0 {
                        return Err(unmatched());
                    }
                }
                Write::Upsert { filter, update } => {
                    coll.update_one(filter, update)
                        .upsert(true)
                        .session(&mut *session)
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// The error of the first update that must match (a batch's updates
    /// are told apart only by a verbose result; the first is the one to
    /// name, and every batch here holds at most one).
    fn first_unmatched(&self) -> ApiError {
        self.writes
            .iter()
            .find_map(|(_, w)| match w {
                Write::Update { unmatched, .. } => Some(unmatched()),
                Write::Insert(_) | Write::Upsert { .. } => None,
            })
            .unwrap_or_else(|| ApiError::internal("an update of a batch matched nothing"))
    }
}
