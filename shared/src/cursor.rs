//! Opaque, tamper-proof list cursors.
//!
//! A cursor is the position after the last item of a page: the sort it was
//! made for, that item's sort value and its id, as JSON, base64url-encoded
//! and signed with an HMAC keyed from the JWT secret. A cursor that was
//! edited, truncated or made for another sort is a 400, never a query.
//! After a rotation of the secret, cursors and sync tokens signed with
//! `JWT_SECRET_PREVIOUS` still verify, as access tokens do, so no client
//! paging or syncing across the rotation is thrown back to the start.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bson::oid::ObjectId;
use bson::Bson;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::ApiError;
use crate::error::Code;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// The sort spec, e.g. `-createdAt`.
    pub sort: String,
    /// The sort field's value, in relaxed extended JSON.
    pub value: serde_json::Value,
    pub id: String,
}

pub struct CursorKey {
    current: Vec<u8>,
    /// The key of the secret before a rotation: verifies, never signs.
    previous: Option<Vec<u8>>,
}

fn key_of(secret: &str) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("any key length works");
    mac.update(b"list-cursor-v1");
    mac.finalize().into_bytes().to_vec()
}

impl CursorKey {
    pub fn derive(secret: &str) -> Self {
        Self {
            current: key_of(secret),
            previous: None,
        }
    }

    /// Signs with `secret`; also verifies what `previous` signed.
    pub fn rotated(secret: &str, previous: Option<&str>) -> Self {
        Self {
            current: key_of(secret),
            previous: previous.map(key_of),
        }
    }

    fn mac(&self, payload: &[u8]) -> HmacSha256 {
        Self::mac_with(&self.current, payload)
    }

    fn mac_with(key: &[u8], payload: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(key).expect("any key length works");
        mac.update(payload);
        mac
    }

    pub fn encode(&self, sort: &str, value: &Bson, id: ObjectId) -> String {
        let position = Position {
            sort: sort.to_string(),
            value: value.clone().into_relaxed_extjson(),
            id: id.to_hex(),
        };
        let payload = serde_json::to_vec(&position).unwrap_or_default();
        let tag = self.mac(&payload).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(&tag[..16])
        )
    }

    /// A cursor this key signed, whatever its sort: for cursors that carry
    /// their own context in the sort (delta sync).
    pub fn decode_any(&self, cursor: &str) -> Result<Position, ApiError> {
        let (payload, tag) = cursor.split_once('.').ok_or_else(bad_cursor)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| bad_cursor())?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| bad_cursor())?;
        let signed = std::iter::once(&self.current)
            .chain(self.previous.as_ref())
            .any(|key| {
                Self::mac_with(key, &payload)
                    .verify_truncated_left(&tag)
                    .is_ok()
            });
        if !signed || tag.len() != 16 {
            return Err(bad_cursor());
        }
        serde_json::from_slice(&payload).map_err(|_| bad_cursor())
    }

    /// What a well-formed cursor says, without checking who signed it: for
    /// telling one signed with a secret since retired (the client should
    /// start over) from a forgery or garbage. Never a basis for a query.
    pub fn unverified(cursor: &str) -> Option<Position> {
        let (payload, tag) = cursor.split_once('.')?;
        let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        (tag.len() == 16)
            .then(|| serde_json::from_slice(&payload).ok())
            .flatten()
    }

    /// Checks the signature and that the cursor was made for `sort`.
    pub fn decode(&self, cursor: &str, sort: &str) -> Result<(Bson, ObjectId), ApiError> {
        let bad = bad_cursor;
        let position = self.decode_any(cursor)?;
        if position.sort != sort {
            return Err(ApiError::bad_field(
                Code::InvalidCursor,
                "cursor",
                "was made for another sort order; start again without a cursor",
            ));
        }
        let value = Bson::try_from(position.value).map_err(|_| bad())?;
        let id = ObjectId::parse_str(&position.id).map_err(|_| bad())?;
        Ok((value, id))
    }
}

fn bad_cursor() -> ApiError {
    ApiError::bad_field(
        Code::InvalidCursor,
        "cursor",
        "is not a cursor this list returned",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_its_position() {
        let k = CursorKey::derive("secret");
        let id = ObjectId::new();
        let when = Bson::DateTime(bson::DateTime::from_millis(1_700_000_000_123));
        let c = k.encode("-createdAt", &when, id);
        assert_eq!(k.decode(&c, "-createdAt").unwrap(), (when, id));
    }

    #[test]
    fn an_edited_cursor_is_rejected() {
        let k = CursorKey::derive("secret");
        let c = k.encode("name", &Bson::String("b".into()), ObjectId::new());
        let (payload, tag) = c.split_once('.').unwrap();
        let mut raw = URL_SAFE_NO_PAD.decode(payload).unwrap();
        let text = String::from_utf8(raw.clone())
            .unwrap()
            .replace("\"b\"", "\"a\"");
        raw = text.into_bytes();
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(raw));
        assert!(k.decode(&forged, "name").is_err());
        assert!(k.decode("garbage", "name").is_err());
        assert!(k.decode(&format!("{payload}."), "name").is_err());
    }

    #[test]
    fn a_cursor_signed_with_another_key_is_rejected() {
        let c = CursorKey::derive("a").encode("name", &Bson::String("b".into()), ObjectId::new());
        assert!(CursorKey::derive("b").decode(&c, "name").is_err());
    }

    #[test]
    fn after_a_rotation_a_cursor_of_the_previous_secret_still_verifies() {
        let before = CursorKey::derive("old");
        let id = ObjectId::new();
        let c = before.encode("name", &Bson::String("b".into()), id);
        let after = CursorKey::rotated("new", Some("old"));
        assert_eq!(
            after.decode(&c, "name").unwrap(),
            (Bson::String("b".into()), id)
        );
        // New cursors are signed with the new secret only.
        let fresh = after.encode("name", &Bson::String("b".into()), id);
        assert!(before.decode(&fresh, "name").is_err());
        assert!(CursorKey::rotated("new", None).decode(&c, "name").is_err());
    }

    #[test]
    fn a_cursor_for_another_sort_is_rejected() {
        let k = CursorKey::derive("secret");
        let c = k.encode("name", &Bson::String("b".into()), ObjectId::new());
        assert!(k.decode(&c, "-name").is_err());
    }
}
