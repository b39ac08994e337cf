//! Authenticated encryption of what is kept at rest but must not be read
//! from the database alone: an idempotent request's kept response, an
//! email's bodies waiting in the outbox (its one-time links).
//!
//! ChaCha20-Poly1305 with a random 96-bit nonce stored in front of the
//! ciphertext, under 256-bit keys derived (HMAC-SHA256) from the server's
//! secret and a label naming the use, so one secret yields independent
//! keys and rotating `JWT_SECRET` (with `JWT_SECRET_PREVIOUS` kept while
//! sealed data from before may still be opened) rotates them all.

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::ChaCha20Poly1305;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

const NONCE_BYTES: usize = 12;

/// A 256-bit key for `label`'s use of `secret`, further bound to `context`.
pub fn derive(secret: &str, label: &str, context: &[&str]) -> [u8; 32] {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(label.as_bytes());
    mac.update(b"\0");
    mac.update(context.join("\0").as_bytes());
    mac.finalize().into_bytes().into()
}

/// `body` sealed under `key`: nonce, then ciphertext and tag.
pub fn seal(key: &[u8; 32], body: &[u8]) -> Option<Vec<u8>> {
    let cipher = ChaCha20Poly1305::new_from_slice(key).ok()?;
    let mut nonce = [0u8; NONCE_BYTES];
    rand::rng().fill_bytes(&mut nonce);
    let sealed = cipher.encrypt(&nonce.into(), body).ok()?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    Some(out)
}

/// What [`seal`] sealed under `key`; `None` for another key or a damaged box.
pub fn open(key: &[u8; 32], sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < NONCE_BYTES {
        return None;
    }
    let (nonce, body) = sealed.split_at(NONCE_BYTES);
    let nonce: [u8; NONCE_BYTES] = nonce.try_into().ok()?;
    let cipher = ChaCha20Poly1305::new_from_slice(key).ok()?;
    cipher.decrypt(&nonce.into(), body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_sealed_opens_only_with_its_key() {
        let k = derive("secret", "use", &["a"]);
        let sealed = seal(&k, b"a one-time link").unwrap();
        assert!(!sealed.windows(4).any(|w| w == b"link"));
        assert_eq!(open(&k, &sealed).unwrap(), b"a one-time link");
        assert!(open(&derive("secret", "use", &["b"]), &sealed).is_none());
        assert!(open(&derive("other", "use", &["a"]), &sealed).is_none());
        let mut damaged = sealed.clone();
        *damaged.last_mut().unwrap() ^= 1;
        assert!(open(&k, &damaged).is_none());
    }
}
