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

use std::time::Duration;

use bson::{doc, DateTime, Document};
use http::StatusCode;
use sha2::{Digest, Sha256};

use crate::auth::Caller;
use crate::db::collections;
use crate::error::ApiError;
use crate::http::{ApiRequest, ApiResponse};
use crate::state::State;

pub const KEEP_HOURS: i64 = 24;
/// How long a retry waits for the first request with its key to finish.
const WAIT: Duration = Duration::from_secs(10);
/// An in-progress key older than this is taken to be abandoned (its request died).
const ABANDONED_MS: i64 = 60_000;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The key a request carries, checked.
pub(crate) fn key_of(req: &ApiRequest) -> Result<Option<String>, ApiError> {
    let Some(key) = req.header("idempotency-key") else {
        return Ok(None);
    };
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::bad_field(
            "INVALID_PARAMETER",
            "Idempotency-Key",
            "must be 1 to 255 visible ASCII characters",
        ));
    }
    Ok(Some(key.to_string()))
}

/// What to do with a request that carries a key.
pub(crate) enum Begin {
    /// First time: run the handler, then [`complete`].
    Run(String),
    /// Seen before: answer this.
    Replay(ApiResponse),
}

fn request_hash(req: &ApiRequest) -> String {
    let mut h = Sha256::new();
    h.update(req.method.as_str());
    h.update(b" ");
    h.update(req.path.as_bytes());
    h.update(b"\n");
    h.update(&req.body);
    hex(&h.finalize())
}

fn coll(state: &State) -> mongodb::Collection<Document> {
    state.db.collection(collections::IDEMPOTENCY_KEYS)
}

pub(crate) async fn begin(
    state: &State,
    caller: &Caller,
    key: &str,
    req: &ApiRequest,
) -> Result<Begin, ApiError> {
    let id = hex(&Sha256::digest(
        format!("{}:{key}", caller.user.id.to_hex()).as_bytes(),
    ));
    let hash = request_hash(req);
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
            "expiresAt": DateTime::from_millis(now.timestamp_millis() + KEEP_HOURS * 3_600_000),
        };
        match coll(state).insert_one(record).await {
            Ok(_) => return Ok(Begin::Run(id)),
            Err(e) => {
                let err = ApiError::from_db(e);
                if !matches!(
                    err,
                    ApiError::Conflict {
                        code: "ALREADY_EXISTS",
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
                code: "IDEMPOTENCY_KEY_REUSED",
                detail: "This Idempotency-Key was used for a different request".into(),
                errors: vec![crate::error::FieldError::new(
                    "Idempotency-Key",
                    "was used for a different request",
                )],
            });
        }
        if found.get_str("status").ok() == Some("COMPLETED") {
            return replay(&found).map(Begin::Replay);
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
                "IDEMPOTENCY_KEY_IN_USE",
                "A request with this Idempotency-Key is still running; retry shortly",
            ));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn replay(found: &Document) -> Result<ApiResponse, ApiError> {
    let status = found
        .get_i32("responseStatus")
        .ok()
        .and_then(|s| StatusCode::from_u16(s as u16).ok())
        .ok_or_else(|| ApiError::internal("idempotency record without a response"))?;
    let body = match found.get("responseBody") {
        Some(bson::Bson::Binary(b)) => b.bytes.clone(),
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
pub(crate) async fn complete(state: &State, id: &str, response: &ApiResponse) {
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
        coll(state)
            .update_one(
                doc! { "_id": id },
                doc! { "$set": {
                    "status": "COMPLETED",
                    "responseStatus": response.status.as_u16() as i32,
                    "responseHeaders": headers,
                    "responseBody": bson::Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: response.body.clone() },
                } },
            )
            .await
            .map(|_| ())
    };
    if let Err(e) = result {
        tracing::error!(error = %e, "[DATABASE_ERROR] could not record an idempotent response");
    }
}
