//! `Idempotency-Key` on POST: a retry with the same key from the same user
//! within 24 hours gets the first response again and changes nothing; the
//! same key with a different request is a 422; concurrent retries wait for
//! the first to finish, so exactly one of them does the work.
//!
//! One document per user and key (`_id` = SHA-256 of both) in
//! `idempotency_keys`. It is inserted as the request is authenticated, in
//! the same round trip as the caller's read (the token names the user; a
//! refused caller's reservation is released), and the unique `_id` makes
//! it the lock. The response is kept in it by the transaction that makes
//! the change ([`crate::db::Tx::respond`], used by the record engine), so
//! the change and its kept answer commit together: a request cut off by a
//! database outage, even in its commit, is either done with its answer kept
//! (its retry gets that answer) or not done at all (its retry runs it).
//! Handlers that answer outside such a transaction have their response
//! kept after it ([`complete`]). A response that says "try again" (5xx,
//! 409 write conflict, 429) is not kept, so the retry runs for real.
//!
//! A reservation names its request (`owner`) and lasts until the request's
//! hard time limit (`leaseUntil`): only a request past it can no longer be
//! at work, so only then may a retry take the key over, and a late
//! completion of the old one then matches nothing.
//!
//! A kept response body is sealed (ChaCha20-Poly1305) under a key derived
//! from the server's secret, the user and the Idempotency-Key itself, which
//! is stored only as a hash: the collection never holds a response in plain
//! text (an invitation's token, an export's rows, a token pair), yet the
//! client that knows its key still gets the first response back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bson::oid::ObjectId;
use bson::{doc, DateTime, Document};
use http::StatusCode;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::error::Code;
use crate::hex::hex;
use crate::http::{ApiRequest, ApiResponse};
use crate::seal::{open, seal};
use crate::state::State;
use crate::store::collections;
use crate::time::HOUR_MS;
use crate::transaction::Batch;

pub const KEEP_HOURS: i64 = 24;
/// How long a retry waits for the first request with its key to finish.
const WAIT: Duration = Duration::from_secs(10);

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

/// A key being worked on by this request: its record id, this request's
/// mark on it and the key its response is sealed with.
pub(crate) struct Pending {
    id: String,
    owner: ObjectId,
    seal: [u8; 32],
    /// Its response was kept by the transaction that made the change.
    done: AtomicBool,
}

impl Pending {
    /// The response is kept (by the committed transaction).
    pub(crate) fn completed(&self) {
        self.done.store(true, Ordering::Release);
    }
}

/// What to do with a request: run it (holding the key's reservation, if
/// it carries a key; the way out then calls [`complete`]), or answer a
/// replay.
pub(crate) enum Begin {
    Run(Option<Arc<Pending>>),
    Replay(ApiResponse),
}

/// A request's key, ready to be reserved.
pub(crate) struct Claim {
    id: String,
    user: ObjectId,
    org: ObjectId,
    hash: String,
    seal: [u8; 32],
    lease: Duration,
}

/// The first try at a request's key, made before its caller is confirmed.
pub(crate) enum Reserved {
    /// No key (or not a POST).
    None,
    /// Reserved for this request.
    Held(Arc<Pending>),
    /// Another request holds or held it: [`settle`] decides.
    Taken(Claim),
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

/// Reserves the key of a POST by `user` of `org` (as its token names them,
/// before they are read), for at most `lease` (the request's hard time
/// limit). Runs beside the caller's read; a caller then refused releases
/// it ([`release`]).
pub(crate) async fn reserve(
    state: &State,
    user: ObjectId,
    org: ObjectId,
    req: &ApiRequest,
    lease: Duration,
) -> Result<Reserved, ApiError> {
    if req.method != http::Method::POST {
        return Ok(Reserved::None);
    }
    let Some(key) = key_of(req)? else {
        return Ok(Reserved::None);
    };
    let claim = Claim {
        id: hex(&Sha256::digest(
            format!("{}:{key}", user.to_hex()).as_bytes(),
        )),
        user,
        org,
        hash: request_hash(req),
        seal: seal_key(state, &user.to_hex(), &key),
        lease,
    };
    Ok(match claim.try_take(state).await? {
        Some(pending) => Reserved::Held(pending),
        None => Reserved::Taken(claim),
    })
}

impl Claim {
    /// Inserts the reservation; `None` when the key has a record already.
    async fn try_take(&self, state: &State) -> Result<Option<Arc<Pending>>, ApiError> {
        let now = DateTime::now();
        let owner = ObjectId::new();
        let lease_ms = i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX / 2);
        let record = doc! {
            "_id": &self.id,
            "userId": self.user,
            "organizationId": self.org,
            "requestHash": &self.hash,
            "status": "IN_PROGRESS",
            "owner": owner,
            "createdAt": now,
            "leaseUntil": DateTime::from_millis(now.timestamp_millis().saturating_add(lease_ms)),
            "expiresAt": DateTime::from_millis(now.timestamp_millis() + KEEP_HOURS * HOUR_MS),
        };
        match coll(state).insert_one(record).await {
            Ok(_) => Ok(Some(Arc::new(Pending {
                id: self.id.clone(),
                owner,
                seal: self.seal,
                done: AtomicBool::new(false),
            }))),
            Err(e) => match ApiError::from_db(e) {
                ApiError::Conflict {
                    code: Code::AlreadyExists,
                    ..
                } => Ok(None),
                other => Err(other),
            },
        }
    }
}

/// For an authorized caller: runs the request under its reservation, or
/// answers the replay of the first request with its key, or waits for
/// that one to finish.
pub(crate) async fn settle(state: &State, reserved: Reserved) -> Result<Begin, ApiError> {
    let claim = match reserved {
        Reserved::None => return Ok(Begin::Run(None)),
        Reserved::Held(pending) => return Ok(Begin::Run(Some(pending))),
        Reserved::Taken(claim) => claim,
    };
    let started = tokio::time::Instant::now();
    loop {
        let Some(found) = coll(state).find_one(doc! { "_id": &claim.id }).await? else {
            // Released in between: try to take it.
            match claim.try_take(state).await? {
                Some(pending) => return Ok(Begin::Run(Some(pending))),
                None => continue,
            }
        };
        if found.get_str("requestHash").ok() != Some(claim.hash.as_str()) {
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
            return replay(&found, &claim.seal).map(Begin::Replay);
        }
        if lease_ended(&found) {
            // Its request is past its time limit: no longer at work.
            let mut filter = doc! { "_id": &claim.id, "status": "IN_PROGRESS" };
            if let Some(owner) = found.get("owner") {
                filter.insert("owner", owner.clone());
            }
            coll(state).delete_one(filter).await?;
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

/// Whether an unfinished reservation's request is past its time limit (a
/// record from before leases: a minute after it began).
fn lease_ended(found: &Document) -> bool {
    let now = DateTime::now().timestamp_millis();
    match found.get_datetime("leaseUntil") {
        Ok(until) => until.timestamp_millis() < now,
        Err(_) => found.get_datetime("createdAt").map_or(true, |d| {
            d.timestamp_millis() + crate::time::MINUTE_MS < now
        }),
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

/// A response that invites a retry which must run again: not kept.
fn retryable(response: &ApiResponse) -> bool {
    response.status.is_server_error()
        || response.status == StatusCode::TOO_MANY_REQUESTS
        || (response.status == StatusCode::CONFLICT
            && response.body.windows(14).any(|w| w == b"WRITE_CONFLICT"))
}

/// The update that keeps `response` in the reservation.
fn kept(pending: &Pending, response: &ApiResponse) -> Result<Document, ApiError> {
    let mut headers = Document::new();
    for name in ["content-type", "location", "etag"] {
        if let Some(v) = response.header(name) {
            headers.insert(name, v);
        }
    }
    let sealed = seal(&pending.seal, &response.body)
        .ok_or_else(|| ApiError::internal("could not seal an idempotent response"))?;
    Ok(doc! { "$set": {
        "status": "COMPLETED",
        "responseStatus": response.status.as_u16() as i32,
        "responseHeaders": headers,
        "responseSealed": bson::Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: sealed },
    } })
}

fn ours(pending: &Pending) -> Document {
    doc! { "_id": &pending.id, "owner": pending.owner, "status": "IN_PROGRESS" }
}

/// Keeps `response` in the reservation within the transaction of `batch`
/// (see [`crate::db::Tx::respond`]); whether it is kept there (a response
/// inviting a retry is not). A reservation taken over meanwhile fails the
/// transaction with 409 `IDEMPOTENCY_KEY_IN_USE`.
pub(crate) fn complete_in(
    pending: &Pending,
    response: &ApiResponse,
    state: &State,
    batch: &mut Batch,
) -> Result<bool, ApiError> {
    if retryable(response) {
        return Ok(false);
    }
    batch.update_matching(
        &state.db,
        collections::IDEMPOTENCY_KEYS,
        ours(pending),
        kept(pending, response)?,
        || {
            ApiError::conflict(
                Code::IdempotencyKeyInUse,
                "This request's Idempotency-Key was taken over by a retry; the retry's answer stands",
            )
        },
    );
    Ok(true)
}

/// Gives up a reservation whose request will not run (its caller was
/// refused, or it failed in a way a retry must redo).
pub(crate) async fn release(state: &State, pending: &Pending) {
    if let Err(e) = coll(state).delete_one(ours(pending)).await {
        tracing::error!(error = %e, "[DATABASE_ERROR] could not release an Idempotency-Key");
    }
}

/// Keeps the response for retries, or forgets the key when the response
/// invites a retry that must run again (unless the transaction that made
/// the change kept it already). With the database unreachable nothing is
/// tried: the reservation lapses at its lease's end.
pub(crate) async fn complete(state: &State, pending: &Pending, response: &ApiResponse) {
    if pending.done.load(Ordering::Acquire) {
        return;
    }
    if response.status == StatusCode::SERVICE_UNAVAILABLE
        && response
            .body
            .windows(20)
            .any(|w| w == b"DATABASE_UNAVAILABLE")
    {
        return;
    }
    if retryable(response) {
        return release(state, pending).await;
    }
    let update = match kept(pending, response) {
        Ok(update) => update,
        Err(e) => {
            tracing::error!(error = %e, "[INTERNAL_ERROR] could not keep an idempotent response");
            return release(state, pending).await;
        }
    };
    match coll(state).update_one(ours(pending), update).await {
        Ok(r) if r.matched_count == 0 => {
            tracing::warn!(
                "[IDEMPOTENCY] a reservation was taken over before its response was kept"
            )
        }
        Ok(_) => {}
        Err(e) => {
            tracing::error!(error = %e, "[DATABASE_ERROR] could not record an idempotent response")
        }
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
