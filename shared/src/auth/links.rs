//! Capability links: a URL that lets someone without an account act on
//! one record of one organization, for one purpose, until it expires or is
//! revoked (a customer opening an estimate on the phone, say).
//!
//! The token is 32 random bytes in base62 (43 characters); only its
//! SHA-256 is stored (`links.tokenHash`, unique), so the database alone
//! opens nothing, and a token is compared only by its hash. What a link
//! grants is the domain's: the runtime ([`crate::rbac::Access::Link`])
//! resolves the `{token}` of the path to its link and organization and
//! builds a [`Caller`] that stands for the link (its id as the user's, the
//! lowest role, no session), so the handler gets a tenant-scoped
//! [`crate::db::Scope`] like any other and every write is audited under
//! the link. Unknown is 404; expired or revoked is 410 with a code that
//! says which; an inactive organization's links stop at once (403).

use std::sync::Arc;

use bson::oid::ObjectId;
use bson::{doc, DateTime, Document};
use rand::RngCore;

use super::{Caller, Organization, User, UserStatus};
use crate::error::{ApiError, Code};
use crate::rbac::Role;
use crate::state::State;
use crate::store::collections;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// The length of a token: 32 bytes in base62, zero-padded.
pub const TOKEN_LEN: usize = 43;

/// A new token and the hash to store for it.
pub fn new_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    token_of(&bytes)
}

/// The token of 32 given bytes and its hash: for a token the server must
/// make again (the demo seed's, derived from its secret).
pub fn token_of(bytes: &[u8; 32]) -> (String, String) {
    let token = base62(bytes);
    let hash = hash(&token);
    (token, hash)
}

/// The stored form of `token`.
pub fn hash(token: &str) -> String {
    super::tokens::hash_token(token)
}

/// `bytes` as a big-endian number in base62, [`TOKEN_LEN`] digits.
fn base62(bytes: &[u8]) -> String {
    let mut n = bytes.to_vec();
    let mut digits = Vec::with_capacity(TOKEN_LEN);
    while digits.len() < TOKEN_LEN {
        let mut rem = 0u32;
        for b in n.iter_mut() {
            let acc = (rem << 8) | u32::from(*b);
            *b = (acc / 62) as u8;
            rem = acc % 62;
        }
        digits.push(BASE62[rem as usize]);
    }
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
}

/// Whether `token` could be one (its length and alphabet): anything else
/// is refused before a database read.
pub fn well_formed(token: &str) -> bool {
    token.len() == TOKEN_LEN && token.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// `path` with every segment that could be a token shown as `{token}`: a
/// token is a credential, never logged nor audited.
pub fn redacted(path: &str) -> String {
    path.split('/')
        .map(|s| if well_formed(s) { "{token}" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

/// A stored link, as the runtime hands it to the handler.
#[derive(Clone, Debug)]
pub struct Link {
    pub id: ObjectId,
    pub organization_id: ObjectId,
    /// The record it opens, and what for (the domain's words).
    pub record_id: ObjectId,
    pub purpose: String,
    pub expires_at: DateTime,
    /// The whole stored document, for the domain's own fields.
    pub doc: Document,
}

fn not_found() -> ApiError {
    ApiError::NotFound { resource: "link" }
}

/// The link `token` names, or why not: 404 for an unknown token, 410
/// `LINK_REVOKED` or `LINK_EXPIRED`.
pub async fn find(state: &State, token: &str) -> Result<Link, ApiError> {
    if !well_formed(token) {
        return Err(not_found());
    }
    let doc = state
        .db
        .collection::<Document>(collections::LINKS)
        .find_one(doc! { "tokenHash": hash(token) })
        .await?
        .ok_or_else(not_found)?;
    let link = Link {
        id: doc.get_object_id("_id").map_err(|_| not_found())?,
        organization_id: doc
            .get_object_id("organizationId")
            .map_err(|_| not_found())?,
        record_id: doc.get_object_id("recordId").map_err(|_| not_found())?,
        purpose: doc.get_str("purpose").unwrap_or_default().to_string(),
        expires_at: *doc.get_datetime("expiresAt").map_err(|_| not_found())?,
        doc: doc.clone(),
    };
    if doc.get_datetime("revokedAt").is_ok() {
        return Err(ApiError::Gone {
            code: Code::LinkRevoked,
            detail: "This link has been withdrawn by the workshop".into(),
        });
    }
    if link.expires_at <= DateTime::now() {
        return Err(ApiError::Gone {
            code: Code::LinkExpired,
            detail: "This link has expired; ask the workshop for a new one".into(),
        });
    }
    Ok(link)
}

/// The organization of `link`; 403 once it is deactivated.
pub async fn organization(state: &State, link: &Link) -> Result<Organization, ApiError> {
    let org = state
        .db
        .collection::<Organization>(collections::ORGANIZATIONS)
        .find_one(doc! { "_id": link.organization_id })
        .await?
        .ok_or_else(not_found)?;
    if !org.is_active {
        return Err(ApiError::forbidden(
            Code::OrganizationInactive,
            "This organization is deactivated",
        ));
    }
    Ok(org)
}

/// The caller a link stands for: its organization, the link as the user
/// (its id, no address, no password), the lowest role.
pub fn caller(link: &Link, org: Organization) -> Caller {
    Caller {
        user: User {
            id: link.id,
            organization_id: link.organization_id,
            email: String::new(),
            password_hash: String::new(),
            first_name: "Customer link".into(),
            last_name: String::new(),
            role: Role::Viewer,
            status: UserStatus::Active,
            created_at: link.id.timestamp(),
            last_login_at: None,
            password_reset_required: false,
            session_epoch: 0,
            email_verified: false,
            email_proof_required: false,
            known_addresses: vec![],
        },
        org,
        role: Role::Viewer,
        session_id: link.id,
        key: None,
        link: Some(Arc::new(link.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_43_base62_characters_and_stored_as_its_hash() {
        let (token, hash) = new_token();
        assert!(well_formed(&token), "{token}");
        assert_eq!(hash, super::super::tokens::hash_token(&token));
        assert_ne!(new_token().0, token);
        assert_eq!(base62(&[0u8; 32]), "0".repeat(TOKEN_LEN));
        assert!(!base62(&[0xff; 32]).starts_with('0'));
        assert!(!well_formed("short"));
        assert!(!well_formed(&format!("{}-", &token[..42])));
    }

    #[test]
    fn a_token_in_a_path_is_never_shown() {
        let (token, _) = new_token();
        assert_eq!(
            redacted(&format!("/api/v1/public/share/{token}/decisions")),
            "/api/v1/public/share/{token}/decisions"
        );
        assert_eq!(
            redacted("/api/v1/accounts/65a1b2c3d4e5f60718293a4b"),
            "/api/v1/accounts/65a1b2c3d4e5f60718293a4b"
        );
    }
}
