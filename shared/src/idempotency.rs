//! `Idempotency-Key` on POST: a retry with the same key from the same user
//! within 24 hours gets the first response again and changes nothing; the
//! same key with a different request is a 422; concurrent retries wait for
//! the first to finish, so exactly one of them does the work.
//!
//! One document per user and key (`_id` = SHA-256 of both) in
//! `idempotency_keys`, inserted before the handler runs (the unique `_id`
//! makes that the lock) and completed with the response afterwards. A
//! response that says "try again" (5xx, 409 write conflict, 429) is not kept,
//! so the retry runs for real.
//!
//! A kept response body is sealed (ChaCha20-Poly1305) under a key derived
//! from the server's secret, the user and the Idempotency-Key itself, which
//! is stored only as a hash: the collection never holds a response in plain
//! text (an invitation's token, an export's rows, a token pair), yet the
//! client that knows its key still gets the first response back.

use std::time::Duration;

use bson::{doc, DateTime, Document};
use http::StatusCode;
use sha2::{Digest, Sha256};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::error::Code;
use crate::hex::hex;
use crate::http::{ApiRequest, ApiResponse};
use crate::seal::{open, seal};
use crate::state::State;
use crate::store::collections;
use crate::time::{HOUR_MS, MINUTE_MS};

pub const KEEP_HOURS: i64 = 24;
/// How long a retry waits for the first request with its key to finish.
const WAIT: Duration = Duration::from_secs(10);
/// An in-progress key older than this is taken to be abandoned (its request died).
const ABANDONED_MS: i64 = MINUTE_MS;

/// The key a request carries, checked.
pub(crate) fn key_of(req: &ApiRequest) -> Result<Option<String>, ApiError> {
    let Some(key) = req.header("idempotency-key") else {
        return Ok(None);
    };
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::bad_field(
            Code::InvalidParameter,
            "Idempotency-Key",
            "must be 1 to 255 visible ASCII characters",
        ));
    }
    Ok(Some(key.to_string()))
}

/// A key being worked on: its record id and the key its response is sealed with.
pub(crate) struct Pending {
    id: String,
    seal: [u8; 32],
}

/// What to do with a request: run it (holding the key's reservation, if
/// it carries a key; the way out then calls [`complete`]), or answer a
/// replay.
pub(crate) enum Begin {
    Run(Option<Pending>),
    Replay(ApiResponse),
}

/// The sealing key of one user's Idempotency-Key: derived from the
/// server's secret, so neither the database alone nor the key alone opens it.
fn seal_key(state: &State, user: &str, key: &str) -> [u8; 32] {
    crate::seal::derive(
        state.config.jwt_secret.expose(),
        "idempotency-response",
        &[user, key],
    )
}

/// What makes two requests the same: method, path, query string (as
/// parsed, in order: `?returnToken=true` asks for a different answer) and
/// body.
fn request_hash(req: &ApiRequest) -> String {
    let mut h = Sha256::new();
    h.update(req.method.as_str());
    h.update(b" ");
    h.update(req.path.as_bytes());
    for (k, v) in &req.query {
        // Lengths first, so no two different queries hash alike.
        h.update((k.len() as u64).to_be_bytes());
        h.update(k.as_bytes());
        h.update((v.len() as u64).to_be_bytes());
        h.update(v.as_bytes());
    }
    h.update(b"\n");
    h.update(&req.body);
    hex(&h.finalize())
}

fn coll(state: &State) -> mongodb::Collection<Document> {
    state.db.collection(collections::IDEMPOTENCY_KEYS)
}

/// The pipeline's step for a caller's request: only a POST with an
/// `Idempotency-Key` is kept; a replay is answered, a new key reserved.
pub(crate) async fn start(
    state: &State,
    caller: &Caller,
    req: &ApiRequest,
) -> Result<Begin, ApiError> {
    if req.method != http::Method::POST {
        return Ok(Begin::Run(None));
    }
    let Some(key) = key_of(req)? else {
        return Ok(Begin::Run(None));
    };
    let key = key.as_str();
    let id = hex(&Sha256::digest(
        format!("{}:{key}", caller.user.id.to_hex()).as_bytes(),
    ));
    let hash = request_hash(req);
    let seal = seal_key(state, &caller.user.id.to_hex(), key);
    let started = tokio::time::Instant::now();
    loop {
        let now = DateTime::now();
        let record = doc! {
            "_id": &id,
            "userId": caller.user.id,
            "organizationId": caller.org.id,
            "requestHash": &hash,
            "status": "IN_PROGRESS",
            "createdAt": now,
            "expiresAt": DateTime::from_millis(now.timestamp_millis() + KEEP_HOURS * HOUR_MS),
        };
        match coll(state).insert_one(record).await {
            Ok(_) => return Ok(Begin::Run(Some(Pending { id, seal }))),
            Err(e) => {
                let err = ApiError::from_db(e);
                if !matches!(
                    err,
                    ApiError::Conflict {
                        code: Code::AlreadyExists,
                        ..
                    }
                ) {
                    return Err(err);
                }
            }
        }
        let Some(found) = coll(state).find_one(doc! { "_id": &id }).await? else {
            continue; // Released in between: try to take it.
        };
        if found.get_str("requestHash").ok() != Some(hash.as_str()) {
            return Err(ApiError::Unprocessable {
                code: Code::IdempotencyKeyReused,
                detail: "This Idempotency-Key was used for a different request".into(),
                errors: vec![crate::error::FieldError::new(
                    "Idempotency-Key",
                    "was used for a different request",
                )],
            });
        }
        if found.get_str("status").ok() == Some("COMPLETED") {
            return replay(&found, &seal).map(Begin::Replay);
        }
        let age = DateTime::now().timestamp_millis()
            - found
                .get_datetime("createdAt")
                .map(|d| d.timestamp_millis())
                .unwrap_or(0);
        if age > ABANDONED_MS {
            coll(state)
                .delete_one(doc! { "_id": &id, "status": "IN_PROGRESS" })
                .await?;
            continue;
        }
        if started.elapsed() > WAIT {
            return Err(ApiError::conflict(
                Code::IdempotencyKeyInUse,
                "A request with this Idempotency-Key is still running; retry shortly",
            ));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn replay(found: &Document, seal: &[u8; 32]) -> Result<ApiResponse, ApiError> {
    let status = found
        .get_i32("responseStatus")
        .ok()
        .and_then(|s| StatusCode::from_u16(s as u16).ok())
        .ok_or_else(|| ApiError::internal("idempotency record without a response"))?;
    let body = match found.get("responseSealed") {
        Some(bson::Bson::Binary(b)) => open(seal, &b.bytes).ok_or_else(|| {
            // Sealed under another secret (JWT_SECRET was rotated): the
            // first request did run; its answer cannot be read back.
            ApiError::conflict(
                Code::IdempotencyKeyUsed,
                "A request with this Idempotency-Key already completed; its response can no longer be replayed",
            )
        })?,
        _ => vec![],
    };
    let mut r = ApiResponse {
        status,
        headers: http::HeaderMap::new(),
        body,
    };
    if let Ok(headers) = found.get_document("responseHeaders") {
        for (k, v) in headers {
            if let Some(v) = v.as_str() {
                r.set_header(k, v);
            }
        }
    }
    r.set_header("idempotent-replayed", "true");
    Ok(r)
}

/// Keeps the response for retries, or forgets the key when the response
/// invites a retry that must run again.
pub(crate) async fn complete(state: &State, pending: &Pending, response: &ApiResponse) {
    let id = pending.id.as_str();
    let retryable = response.status.is_server_error()
        || response.status == StatusCode::TOO_MANY_REQUESTS
        || (response.status == StatusCode::CONFLICT
            && response.body.windows(14).any(|w| w == b"WRITE_CONFLICT"));
    let result = if retryable {
        coll(state).delete_one(doc! { "_id": id }).await.map(|_| ())
    } else {
        let mut headers = Document::new();
        for name in ["content-type", "location", "etag"] {
            if let Some(v) = response.header(name) {
                headers.insert(name, v);
            }
        }
        let Some(sealed) = seal(&pending.seal, &response.body) else {
            tracing::error!("[INTERNAL_ERROR] could not seal an idempotent response");
            let _ = coll(state).delete_one(doc! { "_id": id }).await;
            return;
        };
        coll(state)
            .update_one(
                doc! { "_id": id },
                doc! { "$set": {
                    "status": "COMPLETED",
                    "responseStatus": response.status.as_u16() as i32,
                    "responseHeaders": headers,
                    "responseSealed": bson::Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: sealed },
                } },
            )
            .await
            .map(|_| ())
    };
    if let Err(e) = result {
        tracing::error!(error = %e, "[DATABASE_ERROR] could not record an idempotent response");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_body_opens_with_its_key_only() {
        let (key, other) = ([7u8; 32], [8u8; 32]);
        let sealed = seal(&key, b"{\"token\":\"secret\"}").unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(open(&key, &sealed).unwrap(), b"{\"token\":\"secret\"}");
        assert!(open(&other, &sealed).is_none());
        assert!(open(&key, &sealed[..5]).is_none());
    }
}
