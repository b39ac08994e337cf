//! Access tokens: HS256 only, with `exp`, `iss`, `aud` and `sub` required and
//! at most 5 seconds of clock leeway (jsonwebtoken's defaults would require
//! only `exp` and allow 60 s).
//!
//! Secret rotation without signing anyone out: every token names its key
//! (`kid`, a fingerprint of the secret, never the secret), new tokens are
//! signed with `JWT_SECRET`, and a token whose `kid` is that of
//! `JWT_SECRET_PREVIOUS` is still verified with it, until the operator
//! drops it once the longest access-token lifetime has passed.

use bson::oid::ObjectId;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::error::Code;
use crate::error::{ApiError, OrInternal};

pub const LEEWAY_SECS: u64 = 5;

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// The user's organization id.
    pub org: String,
    /// The refresh-token family (the session) this access token belongs to.
    pub sid: String,
    /// The user's session epoch when the token was issued (see
    /// [`crate::auth::User::session_epoch`]).
    #[serde(default)]
    pub sep: i64,
    pub iss: String,
    pub aud: String,
    pub iat: u64,
    pub exp: u64,
}

pub(crate) struct JwtKeys {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// The previous secret's `kid` and key, for verification only.
    previous: Option<(String, DecodingKey)>,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl_secs: u64,
}

impl JwtKeys {
    pub(crate) fn new(config: &Config) -> Self {
        let secret = config.jwt_secret.expose().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.set_issuer(&[config.jwt_issuer.as_str()]);
        validation.set_audience(&[config.jwt_audience.as_str()]);
        Self {
            kid: key_id(secret),
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            previous: config.jwt_secret_previous.as_ref().map(|p| {
                let p = p.expose().as_bytes();
                (key_id(p), DecodingKey::from_secret(p))
            }),
            validation,
            issuer: config.jwt_issuer.clone(),
            audience: config.jwt_audience.clone(),
            ttl_secs: config.access_token_ttl.as_secs(),
        }
    }

    /// Signs an access token; returns it with its lifetime in seconds.
    pub(crate) fn issue(
        &self,
        user: ObjectId,
        org: ObjectId,
        session: ObjectId,
        epoch: i64,
    ) -> Result<(String, u64), ApiError> {
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            sub: user.to_hex(),
            org: org.to_hex(),
            sid: session.to_hex(),
            sep: epoch,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now,
            exp: now + self.ttl_secs,
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.kid.clone());
        let token =
            jsonwebtoken::encode(&header, &claims, &self.encoding).internal("signing a token")?;
        Ok((token, self.ttl_secs))
    }

    pub(crate) fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let kid = jsonwebtoken::decode_header(token).ok().and_then(|h| h.kid);
        let key = match (&self.previous, kid) {
            (Some((previous, key)), Some(kid)) if *previous == kid => key,
            _ => &self.decoding,
        };
        jsonwebtoken::decode::<Claims>(token, key, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                let detail = match e.kind() {
                    ErrorKind::ExpiredSignature => "The access token has expired; refresh it",
                    _ => "The access token is invalid",
                };
                ApiError::unauthenticated(Code::InvalidToken, detail)
            })
    }
}

/// A key's public name: `k` and the first 12 hex digits of its SHA-256.
fn key_id(secret: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    format!("k{}", &crate::hex::hex(&Sha256::digest(secret))[..12])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn keys() -> JwtKeys {
        let c = Config::from_lookup(|k| match k {
            "MONGODB_URI" => Some("mongodb://x".into()),
            "JWT_SECRET" => Some("0123456789abcdef0123456789abcdef".into()),
            _ => None,
        })
        .unwrap();
        JwtKeys::new(&c)
    }

    fn b64(s: &str) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn an_issued_token_verifies() {
        let k = keys();
        let (u, o, s) = (ObjectId::new(), ObjectId::new(), ObjectId::new());
        let (t, ttl) = k.issue(u, o, s, 3).unwrap();
        assert_eq!(ttl, 900);
        let c = k.verify(&t).unwrap();
        assert_eq!(c.sub, u.to_hex());
        assert_eq!(c.org, o.to_hex());
        assert_eq!(c.sep, 3);
    }

    #[test]
    fn a_token_with_alg_none_is_rejected() {
        let k = keys();
        let (t, _) = k
            .issue(ObjectId::new(), ObjectId::new(), ObjectId::new(), 0)
            .unwrap();
        let payload = t.split('.').nth(1).unwrap();
        let forged = format!("{}.{payload}.", b64(r#"{"alg":"none","typ":"JWT"}"#));
        assert!(k.verify(&forged).is_err());
    }

    #[test]
    fn a_token_without_an_audience_is_rejected() {
        let k = keys();
        let now = jsonwebtoken::get_current_timestamp();
        let claims = serde_json::json!({"sub": "a", "iss": "workshop-crm", "exp": now + 60});
        let t = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef"),
        )
        .unwrap();
        assert!(k.verify(&t).is_err());
    }

    #[test]
    fn a_token_expired_beyond_the_leeway_is_rejected() {
        let k = keys();
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            sub: "a".into(),
            org: "b".into(),
            sid: "c".into(),
            sep: 0,
            iss: "workshop-crm".into(),
            aud: "workshop-crm-api".into(),
            iat: now - 100,
            exp: now - LEEWAY_SECS - 2,
        };
        let t = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &k.encoding).unwrap();
        assert!(k.verify(&t).is_err());
    }
}
