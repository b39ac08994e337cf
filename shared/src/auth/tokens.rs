//! Refresh tokens: 32 random bytes, stored as their SHA-256, one document per
//! token, grouped in families (one family per sign-in). Rotation is a single
//! atomic `findOneAndUpdate` that revokes the presented token, so of any
//! number of concurrent refreshes with one token exactly one wins. A token
//! presented after it was rotated out is a theft signal: its whole family is
//! revoked.

use base64::Engine;
use bson::oid::ObjectId;
use bson::{doc, DateTime, Document};
use mongodb::options::ReturnDocument;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::audit::{self, Action, AuditEntry};
use crate::auth::{check_active, Organization, User};
use crate::db::{collections, RequestMeta};
use crate::error::ApiError;
use crate::state::State;

pub const COOKIE_NAME: &str = "refresh_token";
pub const COOKIE_PATH: &str = "/api/v1/auth";

const ROTATED: &str = "ROTATED";
const REUSE_DETECTED: &str = "REUSE_DETECTED";
const LOGOUT: &str = "LOGOUT";

/// An access token and a refresh token issued together.
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
    pub refresh_expires_in: u64,
    pub session_id: ObjectId,
}

pub(crate) fn hash_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn coll(state: &State) -> mongodb::Collection<Document> {
    state.db.collection(collections::REFRESH_TOKENS)
}

/// Issues a pair for `user`, in a new family unless `family` continues one.
pub(crate) async fn issue(
    state: &State,
    user: &User,
    family: Option<ObjectId>,
    meta: &RequestMeta,
) -> Result<TokenPair, ApiError> {
    let token = new_token();
    let family = family.unwrap_or_default();
    let now = DateTime::now();
    let ttl = state.config.refresh_token_ttl;
    let expires = DateTime::from_millis(now.timestamp_millis() + ttl.as_millis() as i64);
    let record = doc! {
            "_id": ObjectId::new(),
            "tokenHash": hash_token(&token),
            "familyId": family,
            "userId": user.id,
            "organizationId": user.organization_id,
            "createdAt": now,
            "expiresAt": expires,
            "revokedAt": null,
            "ipAddress": meta.ip.clone(),
            "userAgent": meta.user_agent.clone(),
    };
    crate::db::insert_own_id(&coll(state), record).await?;
    let (access_token, expires_in) = state.jwt.issue(user.id, user.organization_id, family)?;
    Ok(TokenPair {
        access_token,
        refresh_token: token,
        expires_in,
        refresh_expires_in: ttl.as_secs(),
        session_id: family,
    })
}

fn invalid() -> ApiError {
    ApiError::unauthenticated(
        "INVALID_REFRESH_TOKEN",
        "The refresh token is invalid, expired or revoked; sign in again",
    )
}

/// Exchanges a refresh token for a new pair; the presented one dies.
pub(crate) async fn rotate(
    state: &State,
    token: &str,
    meta: &RequestMeta,
) -> Result<(TokenPair, User, Organization), ApiError> {
    let hash = hash_token(token);
    let now = DateTime::now();
    let claimed = coll(state)
        .find_one_and_update(
            doc! { "tokenHash": &hash, "revokedAt": null, "expiresAt": { "$gt": now } },
            doc! { "$set": { "revokedAt": now, "revokedReason": ROTATED } },
        )
        .return_document(ReturnDocument::Before)
        .await?;
    let Some(old) = claimed else {
        return Err(reject(state, &hash, meta).await);
    };
    let user_id = old.get_object_id("userId").map_err(|_| invalid())?;
    let family = old.get_object_id("familyId").map_err(|_| invalid())?;
    let user = state
        .db
        .collection::<User>(collections::USERS)
        .find_one(doc! { "_id": user_id })
        .await?
        .ok_or_else(invalid)?;
    let org = state
        .db
        .collection::<Organization>(collections::ORGANIZATIONS)
        .find_one(doc! { "_id": user.organization_id })
        .await?
        .ok_or_else(invalid)?;
    check_active(&user, &org)?;
    let pair = issue(state, &user, Some(family), meta).await?;
    tracing::info!(
        requestId = %meta.request_id, userId = %user.id, organizationId = %org.id,
        "[AUTH_SESSION] refresh token rotated"
    );
    Ok((pair, user, org))
}

/// Works out why a token was not claimable; a rotated-out token revokes its family.
async fn reject(state: &State, hash: &str, meta: &RequestMeta) -> ApiError {
    let found = match coll(state).find_one(doc! { "tokenHash": hash }).await {
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
    let revoked = coll(state)
        .update_many(
            doc! { "familyId": family, "revokedAt": null },
            doc! { "$set": { "revokedAt": DateTime::now(), "revokedReason": REUSE_DETECTED } },
        )
        .await;
    if let Err(e) = revoked {
        return e.into();
    }
    tracing::warn!(
        requestId = %meta.request_id, userId = %user, organizationId = %org,
        "[AUTH_SESSION] refresh token reused: session family revoked"
    );
    let entry = AuditEntry::new(Action::TokenReuseDetected, "session").id(family);
    audit::write_direct(&state.db, entry.into_document(Some(org), Some(user), meta)).await;
    ApiError::unauthenticated(
        "REFRESH_TOKEN_REUSED",
        "This refresh token was already used; every session it belongs to has been signed out",
    )
}

/// Revokes one of the user's refresh tokens, if it is theirs.
pub(crate) async fn revoke_one(
    state: &State,
    user: ObjectId,
    token: &str,
) -> Result<u64, ApiError> {
    let r = coll(state)
        .update_one(
            doc! { "tokenHash": hash_token(token), "userId": user, "revokedAt": null },
            doc! { "$set": { "revokedAt": DateTime::now(), "revokedReason": LOGOUT } },
        )
        .await?;
    Ok(r.modified_count)
}

/// Revokes every live refresh token of the user.
pub(crate) async fn revoke_all(state: &State, user: ObjectId) -> Result<u64, ApiError> {
    let r = coll(state)
        .update_many(
            doc! { "userId": user, "revokedAt": null },
            doc! { "$set": { "revokedAt": DateTime::now(), "revokedReason": LOGOUT } },
        )
        .await?;
    Ok(r.modified_count)
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
        for part in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/api/v1/auth"] {
            assert!(c.contains(part), "{c}");
        }
    }
}
