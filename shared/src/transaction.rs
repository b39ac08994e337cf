//! The one transaction retry: [`Retry`] runs a transaction again from the
//! start while it loses a write conflict (for [`crate::db::Scope::transaction`]
//! and [`crate::unscoped::Unscoped::transaction`]), and [`commit`] retries an
//! unknown commit result.

use std::time::Duration;

use bson::{doc, Document};
use mongodb::{ClientSession, Collection};

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
pub(crate) struct Retry {
    attempt: u32,
    pause_ms: u64,
}

impl Retry {
    pub(crate) fn new() -> Self {
        Self {
            attempt: 1,
            pause_ms: 5,
        }
    }

    /// Whether `result` (of the attempt just made) should be run again;
    /// waits the pause first when it should.
    pub(crate) async fn again<T>(&mut self, result: &Result<T, ApiError>) -> bool {
        let transient = matches!(result, Err(e) if e.is_transient());
        if !transient || self.attempt >= TRANSACTION_ATTEMPTS {
            return false;
        }
        let jitter = rand::random::<u64>() % self.pause_ms.max(1);
        tokio::time::sleep(Duration::from_millis(self.pause_ms + jitter)).await;
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
