//! Plan rate limits, counted in MongoDB because serverless instances share
//! no memory (the arithmetic is [`crate::limits`]').
//!
//! Fixed windows: one document per action, key and window
//! (`{_id: "api:<org>:<windowStart>", count, expiresAt}`), bumped with one
//! atomic `$inc` that counts each request once however often it is
//! delivered (see [`hit`]), so concurrent requests on any number of
//! instances are counted exactly. A TTL index on `expiresAt` removes finished windows.

use bson::{doc, Document};
use mongodb::options::ReturnDocument;

use crate::error::ApiError;
use crate::error::Code;
pub use crate::limits::{client_key, Decision, Hit, LimitOverrides, LimitedAction, Plan};
use crate::state::State;
use crate::store::collections;

/// The bucket's field of recent bump nonces (see [`hit`]).
const RECENT: &str = "recent";
/// How many nonces a bucket keeps: a retry delivered after this many other
/// bumps of the same bucket would count again.
const RECENT_KEPT: i32 = 32;

/// The `$push` that records `nonce` among the bucket's recent ones.
fn stamp(nonce: bson::oid::ObjectId) -> Document {
    doc! { RECENT: { "$each": [nonce], "$slice": -RECENT_KEPT } }
}

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
///
/// Each bump also carries a nonce of its own and applies only while the
/// bucket's recent nonces lack it, so it counts once however often it is
/// delivered: the driver retries a write whose connection dropped (a
/// loaded server's late heartbeat clears the pool), and a retry that
/// overtakes its first attempt on the server would otherwise count the
/// request twice. A bump answered with no document is looked up by its
/// nonce and counted once if it is there.
pub(crate) async fn hit(state: &State, action: LimitedAction, key: &str) -> Result<Hit, ApiError> {
    bump(state, action, key, bson::oid::ObjectId::new()).await
}

/// One delivery of the bump stamped `nonce` (see [`hit`], which stamps
/// each request's bump afresh): delivering the same bump again counts
/// nothing more and answers the bucket as it is.
pub async fn bump(
    state: &State,
    action: LimitedAction,
    key: &str,
    nonce: bson::oid::ObjectId,
) -> Result<Hit, ApiError> {
    let now = state.clock.now_secs();
    let (id, reset_at) = bucket_id(action, key, now);
    let coll = state.db.collection::<Document>(collections::RATE_LIMITS);
    let expires = bson::DateTime::from_millis((reset_at as i64) * 1000);
    for _ in 0..3 {
        let mut bumped = coll
            .find_one_and_update(
                doc! { "_id": &id, RECENT: { "$ne": nonce } },
                doc! { "$inc": { "count": 1_i64 }, "$push": stamp(nonce) },
            )
            .return_document(ReturnDocument::After)
            .await?;
        if bumped.is_none() {
            bumped = coll.find_one(doc! { "_id": &id, RECENT: nonce }).await?;
        }
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
/// counting anything: (used, window end in seconds since the epoch). The
/// current window is the newest bucket not yet over, so an operator's
/// process reads the same bucket the functions count in.
pub async fn peek(state: &State, action: LimitedAction, key: &str) -> Result<(u64, u64), ApiError> {
    let now = state.clock.now_secs();
    let (_, window_end) = bucket_id(action, key, now);
    let live = bson::DateTime::from_millis(now as i64 * 1000);
    let bucket = state
        .db
        .collection::<Document>(collections::RATE_LIMITS)
        .find_one(doc! { "action": action.name(), "key": key, "expiresAt": { "$gt": live } })
        .sort(doc! { "expiresAt": -1 })
        .await?;
    Ok(match bucket {
        Some(b) => (
            crate::store::number(&b, "count").unwrap_or(0).max(0) as u64,
            b.get_datetime("expiresAt")
                .map(|t| (t.timestamp_millis() / 1000) as u64)
                .unwrap_or(window_end),
        ),
        None => (0, window_end),
    })
}

/// Empties `action`'s buckets for `key` (an operator's reset): the count
/// starts again from 0. Returns whether there was anything to empty.
pub async fn reset(state: &State, action: LimitedAction, key: &str) -> Result<bool, ApiError> {
    let r = state
        .db
        .collection::<Document>(collections::RATE_LIMITS)
        .delete_many(doc! { "action": action.name(), "key": key })
        .await?;
    Ok(r.deleted_count > 0)
}

/// Counts one use of `action`'s bucket for `key` and judges it against
/// `limit`: the one call every limited path makes. A spent bucket is 429
/// `RATE_LIMIT_EXCEEDED` with `Retry-After` (the count stays: a refused
/// request was still made).
pub async fn check(
    state: &State,
    action: LimitedAction,
    key: &str,
    limit: u64,
) -> Result<Decision, ApiError> {
    count(state, action, key, limit).await?.enforce()
}

/// Counts and judges like [`check`] without refusing: for the pipeline,
/// whose answer carries the decision's `RateLimit-*` headers either way.
pub(crate) async fn count(
    state: &State,
    action: LimitedAction,
    key: &str,
    limit: u64,
) -> Result<Decision, ApiError> {
    Ok(Decision::new(action, limit, hit(state, action, key).await?))
}

/// The limit of a bucket that is not an organization's (a client
/// address's, an email address's): the free plan's.
pub fn platform_limit(state: &State, action: LimitedAction) -> u64 {
    state.config.rate_limits.limit(action, Plan::Free)
}

/// Takes back one counted request (a sign-in that turned out to succeed).
/// A failed write (a conflict with a concurrent hit) is tried again a few
/// times: a lost undo would count a good sign-in as a failure.
pub(crate) async fn undo(state: &State, action: LimitedAction, key: &str) {
    undo_at(state, action, key, state.clock.now_secs()).await
}

/// [`undo`] in the bucket of the window that held `at` (seconds since the
/// epoch: a [`Hit`]'s `now`), so a count taken back after its window ended
/// comes off the window it was counted in, not the next one.
pub async fn undo_at(state: &State, action: LimitedAction, key: &str, at: u64) {
    let (id, _) = bucket_id(action, key, at);
    let buckets = state.db.collection::<Document>(collections::RATE_LIMITS);
    // The undo is stamped like a bump, so a redelivered one takes back once.
    let nonce = bson::oid::ObjectId::new();
    for attempt in 0..5u64 {
        let done = buckets
            .update_one(
                doc! { "_id": &id, "count": { "$gt": 0_i64 }, RECENT: { "$ne": nonce } },
                doc! { "$inc": { "count": -1_i64 }, "$push": stamp(nonce) },
            )
            .await;
        match done {
            Ok(_) => return,
            Err(e) if attempt == 4 => {
                tracing::error!(error = %e, bucket = action.name(),
                    "[DATABASE_ERROR] could not take back a counted request");
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10 << attempt)).await,
        }
    }
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
