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

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bson::oid::ObjectId;
use bson::{Bson, DateTime, Document};
use hmac::{Hmac, Mac};
use ipnet::IpNet;

use crate::model::Role;
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

/// A stored key as a caller needs it: read once per
/// `API_KEY_CACHE_SECONDS` per instance, then kept in [`Cache`].
#[derive(Debug)]
pub struct KeyRecord {
    /// The document's `_id`: the actor the audit log and `createdBy` name.
    pub id: ObjectId,
    pub organization_id: ObjectId,
    /// The 8 characters after the prefix, kept in clear.
    pub key_id: String,
    /// [`hash`] of the whole key.
    pub hash: String,
    pub name: String,
    pub scopes: Vec<String>,
    /// The role of its creator when it was made: it never does more.
    pub role: Role,
    pub expires_at: DateTime,
    /// When it stops working (a rotation's grace end may be in the future).
    pub revoked_at: Option<DateTime>,
    /// The networks it may be used from, when `restricted`.
    pub allowed_ips: Vec<IpNet>,
    /// Whether the key names networks at all: one whose stored networks
    /// all fail to read is used from nowhere, not from anywhere.
    pub restricted: bool,
    /// Requests per minute, beside the organization's plan limit.
    pub rate_limit: Option<u64>,
    /// `lastUsedAt` in milliseconds as this instance knows it (0: never),
    /// so it is written at most once a minute.
    pub last_used: AtomicI64,
}

/// The keys an instance has read lately, by key id, with when each was read.
pub type Cache = Mutex<HashMap<String, (Instant, Arc<KeyRecord>)>>;

/// The client addresses an instance refuses API keys from without a
/// database read, each until a time (seconds since the epoch): those whose
/// failed-credentials bucket it saw spent.
pub type Refusals = Mutex<HashMap<String, u64>>;

impl KeyRecord {
    /// From an `api_keys` document; `None` if it lacks what a caller needs.
    pub fn from_document(d: &Document) -> Option<KeyRecord> {
        Some(KeyRecord {
            id: d.get_object_id("_id").ok()?,
            organization_id: d.get_object_id("organizationId").ok()?,
            key_id: d.get_str("keyId").ok()?.to_string(),
            hash: d.get_str("hash").ok()?.to_string(),
            name: d.get_str("name").unwrap_or("").to_string(),
            scopes: strings(d, "scopes"),
            role: Role::parse(d.get_str("role").ok()?)?,
            expires_at: *d.get_datetime("expiresAt").ok()?,
            revoked_at: d.get_datetime("revokedAt").ok().copied(),
            allowed_ips: strings(d, "allowedIps")
                .iter()
                .filter_map(|s| network(s))
                .collect(),
            restricted: !strings(d, "allowedIps").is_empty(),
            rate_limit: match d.get("rateLimitPerMinute") {
                Some(Bson::Int32(n)) if *n > 0 => Some(*n as u64),
                Some(Bson::Int64(n)) if *n > 0 => Some(*n as u64),
                _ => None,
            },
            last_used: AtomicI64::new(
                d.get_datetime("lastUsedAt")
                    .map(|t| t.timestamp_millis())
                    .unwrap_or(0),
            ),
        })
    }

    /// Whether a request from `ip` may use the key.
    pub fn allows_ip(&self, ip: Option<IpAddr>) -> bool {
        if !self.restricted {
            return true;
        }
        let Some(ip) = ip else { return false };
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        self.allowed_ips.iter().any(|n| n.contains(&ip))
    }

    /// Whether `key` is this record's key (in constant time).
    pub fn matches(&self, pepper: &str, key: &str) -> bool {
        let presented = hash(pepper, key);
        presented.len() == self.hash.len()
            && presented
                .bytes()
                .zip(self.hash.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

/// An allowed network as a key stores it: a CIDR, or one address as a
/// single host (/32, /128); IPv4-mapped IPv6 as IPv4. `None` otherwise.
pub fn network(s: &str) -> Option<IpNet> {
    let s = s.trim();
    let net = match s.parse::<IpNet>() {
        Ok(net) => net,
        Err(_) => IpNet::from(s.parse::<IpAddr>().ok()?),
    };
    Some(
        match net {
            IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
                Some(v4) => IpNet::V4(ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96).ok()?),
                None => net,
            },
            net => net,
        }
        .trunc(),
    )
}

/// The strings of an array field of a key's document (scopes, networks);
/// empty when absent.
pub fn strings(d: &Document, key: &str) -> Vec<String> {
    d.get_array(key)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
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

/// CRC-32 (IEEE 802.3, as zlib, PNG and secret scanners compute it), bit
/// by bit: a key is 51 bytes, so a table would buy nothing.
pub fn crc32(bytes: &[u8]) -> u32 {
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
    fn allowed_networks_match_v4_v6_and_mapped_addresses() {
        let d = bson::doc! {
            "_id": ObjectId::new(), "organizationId": ObjectId::new(), "keyId": "abcdefgh",
            "hash": "00", "role": "ADMIN", "expiresAt": DateTime::now(),
            "allowedIps": ["203.0.113.0/24", "2001:db8::1", "::ffff:198.51.100.7", "junk"],
        };
        let k = KeyRecord::from_document(&d).unwrap();
        assert_eq!(k.allowed_ips.len(), 3);
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert!(k.allows_ip(ip("203.0.113.9")));
        assert!(k.allows_ip(ip("::ffff:203.0.113.9")));
        assert!(k.allows_ip(ip("2001:db8::1")));
        assert!(!k.allows_ip(ip("2001:db8::2")));
        assert!(k.allows_ip(ip("198.51.100.7")));
        assert!(!k.allows_ip(ip("198.51.100.8")));
        assert!(!k.allows_ip(None));
        let open = KeyRecord::from_document(&bson::doc! {
            "_id": ObjectId::new(), "organizationId": ObjectId::new(), "keyId": "abcdefgh",
            "hash": "00", "role": "ADMIN", "expiresAt": DateTime::now(),
        })
        .unwrap();
        assert!(open.allows_ip(None));
        let unreadable = KeyRecord::from_document(&bson::doc! {
            "_id": ObjectId::new(), "organizationId": ObjectId::new(), "keyId": "abcdefgh",
            "hash": "00", "role": "ADMIN", "expiresAt": DateTime::now(), "allowedIps": ["junk"],
        })
        .unwrap();
        assert!(!unreadable.allows_ip(ip("203.0.113.9")));
    }

    #[test]
    fn a_record_matches_only_its_own_key_under_its_pepper() {
        let k = generate();
        let d = bson::doc! {
            "_id": ObjectId::new(), "organizationId": ObjectId::new(), "keyId": &k.id,
            "hash": hash("pepper", &k.key), "role": "MEMBER", "expiresAt": DateTime::now(),
        };
        let r = KeyRecord::from_document(&d).unwrap();
        assert!(r.matches("pepper", &k.key));
        assert!(!r.matches("other", &k.key));
        assert!(!r.matches("pepper", &generate().key));
    }

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
