//! Webhook signatures as the Standard Webhooks specification defines them,
//! so a receiver verifies ours with any of its published libraries.
//!
//! A secret is `whsec_` + base64 of its key bytes. A message is signed as
//! `v1,` + base64 of HMAC-SHA256 over `{webhook-id}.{webhook-timestamp}.{body}`;
//! while a secret is being rotated, the `webhook-signature` header carries
//! one signature per secret, separated by spaces, and a receiver accepts
//! the message if any of them verifies.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// What every signing secret starts with.
pub const SECRET_PREFIX: &str = "whsec_";

/// A new signing secret: `whsec_` + base64 of 32 random bytes.
pub fn new_secret() -> String {
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(key))
}

/// The key bytes of a `whsec_` secret; `None` if it is not one.
pub fn key_of(secret: &str) -> Option<Vec<u8>> {
    let encoded = secret.strip_prefix(SECRET_PREFIX)?;
    STANDARD.decode(encoded).ok().filter(|k| !k.is_empty())
}

/// The `webhook-signature` header for a message: one `v1,` signature per
/// secret, space-separated. `None` without a secret or if one is malformed.
pub fn sign(secrets: &[&str], id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    if secrets.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(secrets.len());
    for secret in secrets {
        let key = key_of(secret)?;
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes a key of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        out.push(format!(
            "v1,{}",
            STANDARD.encode(mac.finalize().into_bytes())
        ));
    }
    Some(out.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The specification's own test vector.
    #[test]
    fn the_standard_webhooks_test_vector_is_reproduced() {
        let header = sign(
            &["whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"],
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            1649367553,
            br#"{"email":"test@example.com","username":"test_user"}"#,
        );
        assert_eq!(
            header.as_deref(),
            Some("v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=")
        );
    }

    #[test]
    fn during_a_rotation_both_secrets_sign_and_a_bad_secret_signs_nothing() {
        let (old, new) = (new_secret(), new_secret());
        assert!(old.starts_with("whsec_") && key_of(&old).unwrap().len() == 32);
        let both = sign(&[&old, &new], "msg_1", 1, b"{}").unwrap();
        let each: Vec<&str> = both.split(' ').collect();
        assert_eq!(each.len(), 2);
        assert_eq!(each[0], sign(&[&old], "msg_1", 1, b"{}").unwrap());
        assert_eq!(each[1], sign(&[&new], "msg_1", 1, b"{}").unwrap());
        assert_ne!(each[0], each[1]);
        assert_eq!(sign(&["whsec_not base64!"], "msg_1", 1, b"{}"), None);
        assert_eq!(sign(&["C2FVsBQIhrscChlQIMV"], "msg_1", 1, b"{}"), None);
        assert_eq!(sign(&[], "msg_1", 1, b"{}"), None);
    }
}
