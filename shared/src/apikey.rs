//! The shape of an API key, checked before any database read.
//!
//! A key is `wcrm_` + an 8-character key id + 32 random characters + a
//! 6-character checksum, all base62: the prefix lets secret scanners
//! recognise a leaked key, and the checksum (CRC-32 of everything before
//! it) lets a mistyped or truncated key be refused without touching the
//! database. The key is stored only as a keyed hash (HMAC-SHA256 under a
//! pepper from configuration), so a copy of the database does not yield
//! usable keys; the key id is kept in clear to name the key in lists and
//! audit entries.

use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;

/// What every key starts with.
pub const PREFIX: &str = "wcrm_";
const ID_LEN: usize = 8;
const SECRET_LEN: usize = 32;
const CHECKSUM_LEN: usize = 6;
/// The length of a whole key.
pub const LEN: usize = PREFIX.len() + ID_LEN + SECRET_LEN + CHECKSUM_LEN;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A newly made key: shown to its creator once, then only its hash is kept.
pub struct NewKey {
    /// The whole key (`wcrm_…`).
    pub key: String,
    /// Its 8-character id, kept in clear.
    pub id: String,
}

/// A key that passed its checksum: its id, and the whole key to hash.
#[derive(Debug, PartialEq, Eq)]
pub struct Presented<'a> {
    pub id: &'a str,
    pub key: &'a str,
}

/// Makes a key from the thread's CSPRNG (seeded by the operating system).
pub fn generate() -> NewKey {
    let mut rng = rand::rng();
    let mut body = String::with_capacity(LEN);
    body.push_str(PREFIX);
    for _ in 0..ID_LEN + SECRET_LEN {
        body.push(BASE62[rng.random_range(0..62)] as char);
    }
    let id = body[PREFIX.len()..PREFIX.len() + ID_LEN].to_string();
    body.push_str(&checksum(&body));
    NewKey { key: body, id }
}

/// Whether `s` has a key's shape and checksum: `None` for anything else
/// (a JWT, a truncated or mistyped key).
pub fn parse(s: &str) -> Option<Presented<'_>> {
    if s.len() != LEN || !s.starts_with(PREFIX) {
        return None;
    }
    let rest = &s.as_bytes()[PREFIX.len()..];
    if !rest.iter().all(u8::is_ascii_alphanumeric) {
        return None;
    }
    let (body, sum) = s.split_at(LEN - CHECKSUM_LEN);
    (checksum(body) == sum).then(|| Presented {
        id: &s[PREFIX.len()..PREFIX.len() + ID_LEN],
        key: s,
    })
}

/// Whether a bearer credential is meant as an API key (then a bad one is
/// `INVALID_API_KEY`, not an invalid access token).
pub fn looks_like_key(s: &str) -> bool {
    s.starts_with(PREFIX)
}

/// The stored form: HMAC-SHA256 of the whole key under `pepper`, in hex.
pub fn hash(pepper: &str, key: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(pepper.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(key.as_bytes());
    crate::hex::hex(&mac.finalize().into_bytes())
}

/// How lists show a key: the prefix, the first four characters of its id,
/// an ellipsis and its last three characters (of its checksum: about 18
/// bits of the CRC of a 190-bit secret, kept in clear for this).
pub fn display(id: &str, key_tail: &str) -> String {
    format!(
        "{PREFIX}{}…{}",
        id.get(..4).unwrap_or(""),
        key_tail
            .get(key_tail.len().saturating_sub(3)..)
            .unwrap_or("")
    )
}

/// The six base62 characters of the CRC-32 of `body`.
fn checksum(body: &str) -> String {
    let mut n = crc32(body.as_bytes()) as u64;
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(out.to_vec()).expect("base62 is ASCII")
}

/// CRC-32 (IEEE 802.3, as zlib and secret scanners compute it), bit by bit:
/// a key is 51 bytes, so a table would buy nothing.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_is_zlibs() {
        // The check value of CRC-32/ISO-HDLC.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn a_generated_key_parses_and_names_its_id() {
        let k = generate();
        assert_eq!(k.key.len(), LEN);
        assert!(k.key.starts_with("wcrm_"));
        let p = parse(&k.key).expect("its own checksum");
        assert_eq!(p.id, k.id);
        assert_eq!(p.key, k.key);
        assert_ne!(generate().key, k.key);
    }

    #[test]
    fn a_mistyped_truncated_or_foreign_key_is_refused_by_its_shape() {
        let k = generate().key;
        // One character changed anywhere after the prefix breaks the checksum.
        for i in PREFIX.len()..LEN {
            let mut b = k.clone().into_bytes();
            b[i] = if b[i] == b'a' { b'b' } else { b'a' };
            let typo = String::from_utf8(b).unwrap();
            assert_eq!(parse(&typo), None, "typo at {i}");
        }
        assert_eq!(parse(&k[..LEN - 1]), None);
        assert_eq!(parse(&format!("{k}0")), None);
        assert_eq!(parse(&k.replacen("wcrm_", "wcrx_", 1)), None);
        assert_eq!(parse("eyJhbGciOiJIUzI1NiJ9.e30.sig"), None);
        let mut non_ascii = k.clone();
        non_ascii.replace_range(10..11, "é");
        assert_eq!(parse(&non_ascii), None);
    }

    #[test]
    fn the_stored_hash_depends_on_the_pepper_and_the_display_hides_the_secret() {
        let k = generate();
        let h = hash("pepper-one", &k.key);
        assert_eq!(h.len(), 64);
        assert_eq!(h, hash("pepper-one", &k.key));
        assert_ne!(h, hash("pepper-two", &k.key));
        let shown = display(&k.id, &k.key);
        assert_eq!(shown, format!("wcrm_{}…{}", &k.id[..4], &k.key[LEN - 3..]));
        assert!(!shown.contains(&k.key[PREFIX.len() + ID_LEN..LEN - CHECKSUM_LEN]));
        // Stored strings that are not keys still display, never panic.
        assert_eq!(display("aéé", "aéé"), "wcrm_…");
    }
}
