//! API keys as callers: an organization-level principal beside the
//! signed-in person (`crate::apikey` is the key's shape and hash).
//!
//! A presented key is refused on its checksum before any database read.
//! A well-formed one is looked up by its key id, once per
//! `API_KEY_CACHE_SECONDS` (30 s at most) per instance: a revocation takes
//! effect at once on the instance that made it and within that time on
//! every other one. An unknown or wrong well-formed key spends the client
//! address's failed-credentials bucket, and an instance that saw it spent
//! refuses the address without reading. The organization is still re-read on every request,
//! so deactivating it stops its keys at once. `lastUsedAt` is written at
//! most once a minute per key, in the round trip that reads the caller.

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use bson::{doc, DateTime, Document};

use crate::apikey::{self, KeyRecord};
use crate::error::{ApiError, Code};
use crate::ratelimit::{self, client_key, LimitedAction};
use crate::state::State;
use crate::store::collections;

/// How often `lastUsedAt` is written per key, at most.
const TOUCH_EVERY_MS: i64 = 60_000;

fn invalid() -> ApiError {
    ApiError::unauthenticated(
        Code::InvalidApiKey,
        "The API key is invalid: check that it was copied whole",
    )
}

/// The stored key `presented` is, if it may be used now from `ip`:
/// 401 `INVALID_API_KEY` for a malformed, unknown or wrong key (without
/// saying which), `API_KEY_REVOKED` and `API_KEY_EXPIRED` for a key that
/// was good, 403 `IP_NOT_ALLOWED` outside its networks.
pub(crate) async fn verify(
    state: &State,
    presented: &str,
    ip: Option<IpAddr>,
) -> Result<Arc<KeyRecord>, ApiError> {
    let key = apikey::parse(presented).ok_or_else(invalid)?;
    let record = match cached(state, key.id) {
        Some(record) => record,
        None => {
            refused_address(state, ip)?;
            let found = state
                .db
                .collection::<Document>(collections::API_KEYS)
                .find_one(doc! { "keyId": key.id })
                .await?;
            let Some(record) = found.as_ref().and_then(KeyRecord::from_document) else {
                return Err(failed(state, ip).await);
            };
            let record = Arc::new(record);
            if let Ok(mut cache) = state.api_keys.lock() {
                cache.retain(|_, (at, _)| at.elapsed() < state.config.api_key_cache);
                cache.insert(key.id.to_string(), (Instant::now(), record.clone()));
            }
            record
        }
    };
    if !record.matches(state.config.api_key_pepper.expose(), key.key) {
        return Err(failed(state, ip).await);
    }
    let now = DateTime::now();
    if record.revoked_at.is_some_and(|at| at <= now) {
        return Err(ApiError::unauthenticated(
            Code::ApiKeyRevoked,
            "This API key has been revoked",
        ));
    }
    if record.expires_at <= now {
        return Err(ApiError::unauthenticated(
            Code::ApiKeyExpired,
            "This API key has expired: an administrator can issue a new one",
        ));
    }
    if !record.allows_ip(ip) {
        return Err(ApiError::forbidden(
            Code::IpNotAllowed,
            "This API key may not be used from this address",
        ));
    }
    Ok(record)
}

/// 429 without a database read for an address this instance saw spend
/// its failed-credentials bucket (until that window ends).
fn refused_address(state: &State, ip: Option<IpAddr>) -> Result<(), ApiError> {
    let now = state.clock.now_secs();
    let until = state
        .key_refusals
        .lock()
        .ok()
        .and_then(|r| r.get(&client_key(ip)).copied())
        .filter(|until| *until > now);
    match until {
        Some(until) => Err(too_many(until - now)),
        None => Ok(()),
    }
}

fn too_many(retry_after: u64) -> ApiError {
    ApiError::RateLimited {
        retry_after: retry_after.max(1),
        detail: "Too many invalid credentials from this address; try again later".into(),
    }
}

/// A well-formed key that is unknown or wrong: counted in the client
/// address's failed-credentials bucket (the one failed sign-ins spend), so
/// guessing keys costs the database at most that bucket's worth per
/// window; once it is spent this instance refuses the address from memory.
/// 401 `INVALID_API_KEY`, or 429 once the bucket is spent.
async fn failed(state: &State, ip: Option<IpAddr>) -> ApiError {
    let action = LimitedAction::FailedLoginIp;
    let address = client_key(ip);
    let limit = ratelimit::platform_limit(state, action);
    match ratelimit::count(state, action, &address, limit).await {
        Ok(d) if !d.allowed() => {
            if let Ok(mut refusals) = state.key_refusals.lock() {
                let now = d.now;
                refusals.retain(|_, until| *until > now);
                refusals.insert(address, d.reset_at);
            }
            too_many(d.reset_secs())
        }
        Ok(_) => invalid(),
        Err(e) => e,
    }
}

fn cached(state: &State, key_id: &str) -> Option<Arc<KeyRecord>> {
    let cache = state.api_keys.lock().ok()?;
    let (at, record) = cache.get(key_id)?;
    (at.elapsed() < state.config.api_key_cache).then(|| record.clone())
}

/// Drops this instance's copy of a key (after a change to it), so the
/// change applies here from the next request.
pub fn forget(state: &State, key_id: &str) {
    if let Ok(mut cache) = state.api_keys.lock() {
        cache.remove(key_id);
    }
}

/// Records the key's use (`lastUsedAt`, `lastUsedIp`) if this instance has
/// not seen it recorded within the last minute; conditional, so instances
/// together write it at most about once a minute. A failure is logged: the
/// request does not depend on it.
pub(crate) async fn touch(state: &State, record: &KeyRecord, ip: Option<IpAddr>) {
    let now = DateTime::now().timestamp_millis();
    let last = record.last_used.load(Ordering::Relaxed);
    if now - last < TOUCH_EVERY_MS
        || record
            .last_used
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
    {
        return;
    }
    let stale = DateTime::from_millis(now - TOUCH_EVERY_MS);
    let result = state
        .db
        .collection::<Document>(collections::API_KEYS)
        .update_one(
            doc! { "_id": record.id, "$or": [
                { "lastUsedAt": { "$lt": stale } },
                { "lastUsedAt": null },
            ] },
            doc! { "$set": {
                "lastUsedAt": DateTime::from_millis(now),
                "lastUsedIp": ip.map(|ip| ip.to_string()),
            } },
        )
        .await;
    if let Err(e) = result {
        tracing::warn!(error = %e, keyId = %record.key_id, "[API_KEY] lastUsedAt not written");
    }
}
