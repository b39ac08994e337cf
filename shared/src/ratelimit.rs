//! Plan rate limits, counted in MongoDB because serverless instances share
//! no memory (the arithmetic is [`crate::limits`]').
//!
//! Fixed windows: one document per action, key and window
//! (`{_id: "api:<org>:<windowStart>", count, expiresAt}`), bumped with one
//! atomic upsert (`$inc`), so concurrent requests on any number of instances
//! are counted exactly. A TTL index on `expiresAt` removes finished windows.

use bson::{doc, Document};
use mongodb::options::ReturnDocument;

use crate::error::ApiError;
use crate::error::Code;
pub use crate::limits::{client_key, Decision, Hit, LimitOverrides, LimitedAction, Plan};
use crate::state::State;
use crate::store::collections;

fn bucket_id(action: LimitedAction, key: &str, now: u64) -> (String, u64) {
    let window = action.window_secs();
    let start = now / window * window;
    (format!("{}:{key}:{start}", action.name()), start + window)
}

/// Counts one request in the current window of `action` for `key`.
///
/// The bucket is bumped with a plain `$inc` (no upsert); when the window's
/// bucket does not exist yet it is inserted with a count of 0 (a concurrent
/// insert of the same bucket is a harmless duplicate) and the bump retried.
/// This keeps counting exact where concurrent upserts are not: some
/// MongoDB-compatible servers answer a racing upsert with no document even
/// though they applied it.
pub(crate) async fn hit(state: &State, action: LimitedAction, key: &str) -> Result<Hit, ApiError> {
    let now = state.clock.now_secs();
    let (id, reset_at) = bucket_id(action, key, now);
    let coll = state.db.collection::<Document>(collections::RATE_LIMITS);
    let expires = bson::DateTime::from_millis((reset_at as i64) * 1000);
    for _ in 0..3 {
        let bumped = coll
            .find_one_and_update(doc! { "_id": &id }, doc! { "$inc": { "count": 1_i64 } })
            .return_document(ReturnDocument::After)
            .await?;
        if let Some(d) = bumped {
            let count = crate::store::number(&d, "count").unwrap_or(1) as u64;
            return Ok(Hit {
                count,
                reset_at,
                now,
            });
        }
        let bucket = doc! { "_id": &id, "action": action.name(), "key": key, "count": 0_i64, "expiresAt": expires };
        if let Err(e) = coll.insert_one(bucket).await {
            if !is_duplicate(&e) {
                return Err(e.into());
            }
        }
    }
    Err(ApiError::internal(format!(
        "rate-limit bucket {id} could not be created"
    )))
}

/// How much of the current window of `action` for `key` is used, without
/// counting anything: (used, window end in seconds since the epoch).
pub(crate) async fn peek(
    state: &State,
    action: LimitedAction,
    key: &str,
) -> Result<(u64, u64), ApiError> {
    let (id, reset_at) = bucket_id(action, key, state.clock.now_secs());
    let used = state
        .db
        .collection::<Document>(collections::RATE_LIMITS)
        .find_one(doc! { "_id": &id })
        .await?
        .and_then(|d| crate::store::number(&d, "count"))
        .unwrap_or(0);
    Ok((used.max(0) as u64, reset_at))
}

/// Counts one request of a per-client-address bucket (see [`client_key`])
/// and judges it against the bucket's limit.
pub(crate) async fn hit_client(
    state: &crate::state::State,
    action: LimitedAction,
    ip: Option<std::net::IpAddr>,
) -> Result<Decision, ApiError> {
    let hit = hit(state, action, &client_key(ip)).await?;
    Ok(Decision::new(
        action,
        state.config.rate_limits.limit(action, Plan::Free),
        hit,
    ))
}

/// Takes back one counted request (a sign-in that turned out to succeed).
pub(crate) async fn undo(state: &State, action: LimitedAction, key: &str) {
    let (id, _) = bucket_id(action, key, state.clock.now_secs());
    let _ = state
        .db
        .collection::<Document>(collections::RATE_LIMITS)
        .update_one(
            doc! { "_id": id, "count": { "$gt": 0_i64 } },
            doc! { "$inc": { "count": -1_i64 } },
        )
        .await;
}

fn is_duplicate(e: &mongodb::error::Error) -> bool {
    matches!(
        ApiError::from_db(e.clone()),
        ApiError::Conflict {
            code: Code::AlreadyExists,
            ..
        }
    )
}
