//! Sessions and refresh tokens.
//!
//! A sign-in starts a session: one `sessions` document (its absolute
//! expiry, and whether it was ended) and a family of refresh tokens, each 32
//! random bytes stored as their SHA-256. Rotation claims the presented token
//! with one atomic `findOneAndUpdate`, so of any number of concurrent
//! refreshes with one token exactly one wins; a token presented after it was
//! rotated out is a theft signal and ends its session.
//!
//! Revocation wins every race with a rotation, without a transaction:
//! - ending one session marks its `sessions` document first, then revokes
//!   its tokens; every rotation reads the `sessions` document (while it
//!   inserts the new token: one round trip) and refuses a token of a marked
//!   session. Either the rotation sees the mark (and revokes what it
//!   inserted), or the mark came after its read: then the sweep revokes the
//!   new token, or, had it swept before the insert landed, the new token is
//!   refused at its first rotation by the mark.
//! - ending every session of a user bumps the user's `sessionEpoch` first.
//!   Tokens carry the epoch they were issued in (refresh tokens in their
//!   document, access tokens in the `sep` claim); one from an earlier epoch
//!   is refused at rotation and on every request, so a token minted by a
//!   rotation that raced the bump dies on its first use.

use base64::Engine;
use bson::oid::ObjectId;
use bson::{doc, DateTime, Document};
use mongodb::options::ReturnDocument;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::audit::{self, Action, AuditEntry};
use crate::auth::{check_active, session_ended, Organization, User};
use crate::error::ApiError;
use crate::error::Code;
use crate::state::State;
use crate::store::{collections, number, RequestMeta};
use crate::time::shifted;
use crate::transaction::insert_own_id;

pub const COOKIE_NAME: &str = "refresh_token";
pub const COOKIE_PATH: &str = "/api/v1/auth";

const ROTATED: &str = "ROTATED";
const REUSE_DETECTED: &str = "REUSE_DETECTED";

/// An access token and a refresh token issued together.
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
    pub refresh_expires_in: u64,
    pub session_id: ObjectId,
}

pub fn hash_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    crate::hex::hex(&digest)
}

pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn coll(state: &State, name: &str) -> mongodb::Collection<Document> {
    state.db.collection(name)
}

/// The session a token continues.
struct Family {
    id: ObjectId,
    expires_at: DateTime,
    epoch: i64,
}

/// Starts a session for `user`: its `sessions` document and a first pair.
pub async fn issue(state: &State, user: &User, meta: &RequestMeta) -> Result<TokenPair, ApiError> {
    let (family, session) = new_session(state, user, meta);
    // Its own `_id`: an insert whose acknowledgement was lost and retried
    // is the same session, not a conflict.
    insert_own_id(&coll(state, collections::SESSIONS), session).await?;
    let (refresh, refresh_expires_in) =
        insert_token(state, user.id, user.organization_id, &family, meta).await?;
    pair(state, user, &family, refresh, refresh_expires_in)
}

/// A record to write: its collection and the document.
pub type Record = (&'static str, Document);

/// [`issue`] for a caller that writes the records in a transaction of
/// its own (with its commit, in one command with its other writes): the
/// pair, and the session and refresh token records as (collection,
/// document).
pub fn issue_records(
    state: &State,
    user: &User,
    meta: &RequestMeta,
) -> Result<(TokenPair, [Record; 2]), ApiError> {
    let (family, session) = new_session(state, user, meta);
    let (refresh, refresh_expires_in, record) =
        token_record(state, user.id, user.organization_id, &family, meta);
    let pair = pair(state, user, &family, refresh, refresh_expires_in)?;
    Ok((
        pair,
        [
            (collections::SESSIONS, session),
            (collections::REFRESH_TOKENS, record),
        ],
    ))
}

/// A new session of `user` (its family) and its `sessions` document.
fn new_session(state: &State, user: &User, meta: &RequestMeta) -> (Family, Document) {
    let now = DateTime::now();
    let family = Family {
        id: ObjectId::new(),
        expires_at: shifted(now, state.config.session_max_lifetime.as_millis() as i64),
        epoch: user.session_epoch,
    };
    let session = doc! {
        "_id": family.id,
        "userId": user.id,
        "organizationId": user.organization_id,
        "createdAt": now,
        "expiresAt": family.expires_at,
        "revokedAt": null,
        "ipAddress": meta.ip.clone(),
        "userAgent": meta.user_agent.clone(),
    };
    (family, session)
}

/// Inserts a refresh token of `family`; returns it and its lifetime in
/// seconds (the token TTL, cut at the session's absolute expiry).
async fn insert_token(
    state: &State,
    user: ObjectId,
    org: ObjectId,
    family: &Family,
    meta: &RequestMeta,
) -> Result<(String, u64), ApiError> {
    let (token, secs, record) = token_record(state, user, org, family, meta);
    insert_own_id(&coll(state, collections::REFRESH_TOKENS), record).await?;
    Ok((token, secs))
}

/// A new refresh token of `family`: the token, its lifetime in seconds,
/// and its record (which holds only its hash).
fn token_record(
    state: &State,
    user: ObjectId,
    org: ObjectId,
    family: &Family,
    meta: &RequestMeta,
) -> (String, u64, Document) {
    let token = new_token();
    let now = DateTime::now();
    let ttl = shifted(now, state.config.refresh_token_ttl.as_millis() as i64);
    let expires = ttl.min(family.expires_at);
    let record = doc! {
        "_id": ObjectId::new(),
        "tokenHash": hash_token(&token),
        "familyId": family.id,
        "userId": user,
        "organizationId": org,
        "sessionEpoch": family.epoch,
        "sessionExpiresAt": family.expires_at,
        "createdAt": now,
        "expiresAt": expires,
        "revokedAt": null,
        "ipAddress": meta.ip.clone(),
        "userAgent": meta.user_agent.clone(),
    };
    let secs = (expires.timestamp_millis() - now.timestamp_millis()).max(0) / 1000;
    (token, secs as u64, record)
}

fn pair(
    state: &State,
    user: &User,
    family: &Family,
    refresh_token: String,
    refresh_expires_in: u64,
) -> Result<TokenPair, ApiError> {
    let (access_token, expires_in) =
        state
            .jwt
            .issue(user.id, user.organization_id, family.id, family.epoch)?;
    Ok(TokenPair {
        access_token,
        refresh_token,
        expires_in,
        refresh_expires_in,
        session_id: family.id,
    })
}

fn invalid() -> ApiError {
    ApiError::unauthenticated(
        Code::InvalidRefreshToken,
        "The refresh token is invalid, expired or revoked; sign in again",
    )
}

/// Exchanges a refresh token for a new pair; the presented one dies.
pub async fn rotate(
    state: &State,
    token: &str,
    meta: &RequestMeta,
) -> Result<(TokenPair, User, Organization), ApiError> {
    let hash = hash_token(token);
    let now = DateTime::now();
    let claimed = coll(state, collections::REFRESH_TOKENS)
        .find_one_and_update(
            doc! { "tokenHash": &hash, "revokedAt": null, "expiresAt": { "$gt": now } },
            doc! { "$set": { "revokedAt": now, "revokedReason": ROTATED } },
        )
        .return_document(ReturnDocument::Before)
        .await?;
    let Some(old) = claimed else {
        return Err(reject(state, &hash, meta).await);
    };
    let (Ok(user_id), Ok(org_id), Ok(family_id)) = (
        old.get_object_id("userId"),
        old.get_object_id("organizationId"),
        old.get_object_id("familyId"),
    ) else {
        return Err(invalid());
    };
    // The new token goes in while the session and the user are read (one
    // round trip): a revocation this read misses either sweeps the new
    // token too, or swept before it went in, and then the session's mark
    // refuses it at its first use (see the module docs).
    let family = Family {
        id: family_id,
        expires_at: old
            .get_datetime("sessionExpiresAt")
            .or_else(|_| old.get_datetime("expiresAt"))
            .copied()
            .unwrap_or(now),
        epoch: number(&old, "sessionEpoch").unwrap_or(0),
    };
    // The session, the user and the organization in one command (see
    // `read_caller`), while the new token is inserted.
    let session = super::Beside {
        collection: collections::SESSIONS,
        filter: doc! { "_id": family_id },
        sort: None,
        limit: 1,
    };
    let ((refresh, refresh_expires_in), (org, user, found)) = tokio::try_join!(
        insert_token(state, user_id, org_id, &family, meta),
        super::read_caller(state, org_id, Some(user_id), Some(&session)),
    )?;
    let found = found.and_then(|page| page.into_iter().next());
    let new_hash = hash_token(&refresh);
    // A session ended before this claim refuses the rotation. One ended
    // after it (a reuse detected by a racing request) lets the rotation
    // answer, as it came first, but the token it made is revoked with the
    // rest of the session.
    let mut ended_after_claim = false;
    let verdict = match (found, user, org) {
        (None, _, _) => Err(invalid()),
        (Some(s), _, _) if s.get_datetime("expiresAt").map_or(true, |e| *e <= now) => {
            Err(ApiError::unauthenticated(
                Code::SessionExpired,
                "This sign-in has reached its maximum lifetime; sign in again",
            ))
        }
        (Some(s), _, _) if s.get_datetime("revokedAt").is_ok_and(|t| *t < now) => Err(invalid()),
        (Some(s), Some(user), Some(org)) if user.organization_id == org.id => {
            ended_after_claim = s.get_datetime("revokedAt").is_ok();
            match check_active(&user, &org) {
                Err(refusal) => Err(refusal),
                Ok(()) if user.session_epoch != family.epoch => Err(session_ended()),
                Ok(()) => Ok((user, org)),
            }
        }
        _ => Err(invalid()),
    };
    let revoke_new = || async {
        coll(state, collections::REFRESH_TOKENS)
            .update_one(
                doc! { "tokenHash": &new_hash },
                doc! { "$set": { "revokedAt": DateTime::now(), "revokedReason": "SESSION_ENDED" } },
            )
            .await
    };
    let (user, org) = match verdict {
        Ok(found) => found,
        Err(refusal) => {
            revoke_new().await?;
            return Err(refusal);
        }
    };
    if ended_after_claim {
        revoke_new().await?;
    }
    let tokens = pair(state, &user, &family, refresh, refresh_expires_in)?;
    tracing::info!(
        requestId = %meta.request_id, userId = %user.id, organizationId = %org.id,
        "[AUTH_SESSION] refresh token rotated"
    );
    Ok((tokens, user, org))
}

/// Works out why a token was not claimable; a rotated-out token ends its session.
async fn reject(state: &State, hash: &str, meta: &RequestMeta) -> ApiError {
    let found = match coll(state, collections::REFRESH_TOKENS)
        .find_one(doc! { "tokenHash": hash })
        .await
    {
        Ok(found) => found,
        Err(e) => return e.into(),
    };
    let Some(found) = found else {
        return invalid();
    };
    if found.get_str("revokedReason").ok() != Some(ROTATED) {
        return invalid();
    }
    let (Ok(family), Ok(user), Ok(org)) = (
        found.get_object_id("familyId"),
        found.get_object_id("userId"),
        found.get_object_id("organizationId"),
    ) else {
        return invalid();
    };
    if let Err(e) = end_session(state, user, family, REUSE_DETECTED).await {
        return e;
    }
    tracing::warn!(
        requestId = %meta.request_id, userId = %user, organizationId = %org,
        "[AUTH_SESSION] refresh token reused: session family revoked"
    );
    let entry = AuditEntry::new(Action::TokenReuseDetected, "session").id(family);
    audit::write_direct(&state.db, entry.into_document(Some(org), Some(user), meta)).await;
    ApiError::unauthenticated(
        Code::RefreshTokenReused,
        "This refresh token was already used; every session it belongs to has been signed out",
    )
}

/// Ends one session of `user`: the `sessions` document first, then every
/// live token of its family. Returns how many tokens were revoked (0 when
/// the session is not the user's or already ended).
pub async fn end_session(
    state: &State,
    user: ObjectId,
    family: ObjectId,
    reason: &str,
) -> Result<u64, ApiError> {
    let now = DateTime::now();
    let marked = coll(state, collections::SESSIONS)
        .update_one(
            doc! { "_id": family, "userId": user, "revokedAt": null },
            doc! { "$set": { "revokedAt": now, "revokedReason": reason } },
        )
        .await?;
    let revoked = coll(state, collections::REFRESH_TOKENS)
        .update_many(
            doc! { "familyId": family, "userId": user, "revokedAt": null },
            doc! { "$set": { "revokedAt": now, "revokedReason": reason } },
        )
        .await?;
    Ok(revoked.modified_count.max(marked.modified_count))
}

/// The session of `token`, when it is one of `user`'s refresh tokens.
pub async fn family_of(
    state: &State,
    user: ObjectId,
    token: Option<&str>,
) -> Result<Option<ObjectId>, ApiError> {
    let Some(token) = token else {
        return Ok(None);
    };
    let found = coll(state, collections::REFRESH_TOKENS)
        .find_one(doc! { "tokenHash": hash_token(token), "userId": user })
        .await?;
    Ok(found.and_then(|t| t.get_object_id("familyId").ok()))
}

/// The user and organization a refresh token (live or not) was issued to.
pub async fn owner_of(
    state: &State,
    token: &str,
) -> Result<Option<(ObjectId, ObjectId)>, ApiError> {
    let found = coll(state, collections::REFRESH_TOKENS)
        .find_one(doc! { "tokenHash": hash_token(token) })
        .await?;
    Ok(found.and_then(|t| {
        Some((
            t.get_object_id("userId").ok()?,
            t.get_object_id("organizationId").ok()?,
        ))
    }))
}

/// Whose sessions end: one user's, or every member's of an organization
/// (deactivated or deleted).
#[derive(Clone, Copy, Debug)]
pub enum Ending {
    User(ObjectId),
    Organization(ObjectId),
    /// Every user of every organization (an incident: `crm-admin sessions
    /// revoke-all`).
    Everyone,
}

/// The writes that end every session of `whose`, in the order they must
/// run: the epoch first (from then on no older token is accepted), then the
/// `sessions` documents and the refresh tokens (so listings show them
/// ended). Each is `(collection, filter, update)`, for a transaction or not.
pub fn end_all_writes(
    whose: Ending,
    reason: &str,
    now: DateTime,
) -> [(&'static str, Document, Document); 3] {
    let (users, owned) = match whose {
        Ending::User(user) => (doc! { "_id": user }, doc! { "userId": user }),
        Ending::Organization(org) => (
            doc! { "organizationId": org },
            doc! { "organizationId": org },
        ),
        Ending::Everyone => (doc! {}, doc! {}),
    };
    let live = |mut filter: Document| {
        filter.insert("revokedAt", bson::Bson::Null);
        filter
    };
    let revoke = doc! { "$set": { "revokedAt": now, "revokedReason": reason } };
    [
        (
            collections::USERS,
            users,
            doc! { "$inc": { "sessionEpoch": 1_i64 } },
        ),
        (collections::SESSIONS, live(owned.clone()), revoke.clone()),
        (collections::REFRESH_TOKENS, live(owned), revoke),
    ]
}

/// Ends every session of `whose` at once, access tokens included; returns
/// how many refresh tokens were revoked.
pub async fn end_all(state: &State, whose: Ending, reason: &str) -> Result<u64, ApiError> {
    let mut revoked = 0;
    for (name, filter, update) in end_all_writes(whose, reason, DateTime::now()) {
        revoked = coll(state, name)
            .update_many(filter, update)
            .await?
            .modified_count;
    }
    Ok(revoked)
}

/// The `Set-Cookie` value carrying a refresh token to a browser.
pub fn cookie(token: &str, max_age_secs: u64) -> String {
    format!(
        "{COOKIE_NAME}={token}; Path={COOKIE_PATH}; Max-Age={max_age_secs}; HttpOnly; Secure; SameSite=Strict"
    )
}

/// The `Set-Cookie` value that removes the refresh cookie.
pub fn clear_cookie() -> String {
    format!("{COOKIE_NAME}=; Path={COOKIE_PATH}; Max-Age=0; HttpOnly; Secure; SameSite=Strict")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_stored_as_its_sha256() {
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn tokens_are_random_and_long() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
    }

    #[test]
    fn the_refresh_cookie_is_http_only_secure_and_strict() {
        let c = cookie("t", 10);
        for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/api/v1/auth"] {
            assert!(c.contains(attribute), "{c}");
        }
    }
}
