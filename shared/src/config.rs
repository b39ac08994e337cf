//! Typed configuration, read once from the environment at cold start.
//!
//! Secrets are wrapped in [`Secret`], whose `Debug` never prints the value, so a
//! config logged by accident leaks nothing. A missing or weak secret stops
//! start-up with a message naming the variable.

use std::fmt;
use std::time::Duration;

use crate::ratelimit::LimitOverrides;

/// A value that must never reach a log line or a response.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

#[derive(Debug)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Everything a function needs to know about its environment.
#[derive(Clone, Debug)]
pub struct Config {
    pub mongodb_uri: Secret,
    pub mongodb_db: String,
    pub jwt_secret: Secret,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub bcrypt_cost: u32,
    pub allowed_origins: Vec<String>,
    /// Bounds every MongoDB wait so an outage answers 503 well inside the
    /// function timeout instead of the driver's 30 s default.
    pub db_timeout: Duration,
    pub rate_limits: LimitOverrides,
    /// Object storage, when `S3_BUCKET` is set; the functions that handle
    /// files refuse to start without it.
    pub storage: Option<StorageConfig>,
    pub uploads: UploadPolicy,
}

/// Where files live: an S3-compatible bucket.
#[derive(Clone, Debug)]
pub struct StorageConfig {
    pub bucket: String,
    pub region: String,
    /// `S3_ENDPOINT` for R2, Spaces, MinIO or a local server; unset means AWS.
    pub endpoint: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`); on by default whenever an
    /// endpoint is given, since most S3-compatible servers expect it.
    pub force_path_style: bool,
    pub access_key_id: Secret,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
    /// Put in front of every object key (a preview deployment's own prefix);
    /// empty in production.
    pub key_prefix: String,
}

/// What may be uploaded: content types and the largest file per plan.
#[derive(Clone, Debug)]
pub struct UploadPolicy {
    pub allowed_types: Vec<String>,
    /// Bytes, for FREE, PRO and ENTERPRISE.
    pub max_bytes: [u64; 3],
    pub upload_url_ttl: Duration,
    pub download_url_ttl: Duration,
}

/// Images, PDF, office documents (Microsoft and OpenDocument), CSV and plain text.
pub const DEFAULT_UPLOAD_TYPES: &[&str] = &[
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "image/heic",
    "application/pdf",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "text/csv",
    "text/plain",
];

const MIB: u64 = 1024 * 1024;

pub const MIN_JWT_SECRET_BYTES: usize = 32;

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`, so tests can supply variables
    /// without touching the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let mongodb_uri = get("MONGODB_URI").ok_or_else(|| {
            ConfigError("MONGODB_URI is not set: point it at a MongoDB server".into())
        })?;
        let jwt_secret = get("JWT_SECRET").ok_or_else(|| {
            ConfigError(format!(
                "JWT_SECRET is not set: use a random value of at least {MIN_JWT_SECRET_BYTES} bytes"
            ))
        })?;
        if jwt_secret.len() < MIN_JWT_SECRET_BYTES {
            return Err(ConfigError(format!(
                "JWT_SECRET is too weak: it has {} bytes, at least {MIN_JWT_SECRET_BYTES} are required",
                jwt_secret.len()
            )));
        }
        let number = |name: &str, default: u64| -> Result<u64, ConfigError> {
            match get(name) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse()
                    .map_err(|_| ConfigError(format!("{name} must be a whole number, got {v:?}"))),
            }
        };
        let bcrypt_cost = number("BCRYPT_COST", 10)?;
        if !(4..=31).contains(&bcrypt_cost) {
            return Err(ConfigError(format!(
                "BCRYPT_COST must be between 4 and 31, got {bcrypt_cost}"
            )));
        }
        let allowed_origins = get("ALLOWED_ORIGINS")
            .map(|v| {
                v.split(',')
                    .map(|o| o.trim().trim_end_matches('/').to_string())
                    .filter(|o| !o.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            mongodb_uri: Secret::new(mongodb_uri),
            mongodb_db: get("MONGODB_DB").unwrap_or_else(|| "crm".into()),
            jwt_secret: Secret::new(jwt_secret),
            jwt_issuer: get("JWT_ISSUER").unwrap_or_else(|| "workshop-crm".into()),
            jwt_audience: get("JWT_AUDIENCE").unwrap_or_else(|| "workshop-crm-api".into()),
            access_token_ttl: Duration::from_secs(number("ACCESS_TOKEN_TTL_SECONDS", 15 * 60)?),
            refresh_token_ttl: Duration::from_secs(number(
                "REFRESH_TOKEN_TTL_SECONDS",
                30 * 24 * 3600,
            )?),
            bcrypt_cost: bcrypt_cost as u32,
            allowed_origins,
            db_timeout: Duration::from_millis(number("DB_TIMEOUT_MS", 2_000)?),
            rate_limits: LimitOverrides::from_lookup(&get)?,
            storage: storage_config(&get)?,
            uploads: UploadPolicy {
                allowed_types: get("UPLOAD_CONTENT_TYPES")
                    .map(|v| {
                        v.split(',')
                            .map(|t| t.trim().to_ascii_lowercase())
                            .filter(|t| !t.is_empty())
                            .collect()
                    })
                    .unwrap_or_else(|| {
                        DEFAULT_UPLOAD_TYPES.iter().map(|t| t.to_string()).collect()
                    }),
                max_bytes: [
                    number("UPLOAD_MAX_BYTES_FREE", 10 * MIB)?,
                    number("UPLOAD_MAX_BYTES_PRO", 100 * MIB)?,
                    number("UPLOAD_MAX_BYTES_ENTERPRISE", 1024 * MIB)?,
                ],
                upload_url_ttl: Duration::from_secs(number("UPLOAD_URL_TTL_SECONDS", 600)?),
                download_url_ttl: Duration::from_secs(number("DOWNLOAD_URL_TTL_SECONDS", 300)?),
            },
        })
    }
}

fn storage_config(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<Option<StorageConfig>, ConfigError> {
    let Some(bucket) = get("S3_BUCKET") else {
        return Ok(None);
    };
    let required = |name: &str| {
        get(name).map(Secret::new).ok_or_else(|| {
            ConfigError(format!(
                "{name} is not set: S3_BUCKET is, and the storage client needs credentials"
            ))
        })
    };
    let endpoint = get("S3_ENDPOINT").map(|e| e.trim_end_matches('/').to_string());
    let force_path_style = match get("S3_FORCE_PATH_STYLE").as_deref() {
        None => endpoint.is_some(),
        Some("true") => true,
        Some("false") => false,
        Some(other) => {
            return Err(ConfigError(format!(
                "S3_FORCE_PATH_STYLE must be true or false, got {other:?}"
            )))
        }
    };
    let key_prefix = get("S3_KEY_PREFIX").unwrap_or_default();
    if !key_prefix.is_empty() && !key_prefix.ends_with('/') {
        return Err(ConfigError(format!(
            "S3_KEY_PREFIX must end with '/', got {key_prefix:?}"
        )));
    }
    Ok(Some(StorageConfig {
        bucket,
        region: get("S3_REGION")
            .or_else(|| get("AWS_REGION"))
            .unwrap_or_else(|| "us-east-1".into()),
        endpoint,
        force_path_style,
        access_key_id: required("AWS_ACCESS_KEY_ID")?,
        secret_access_key: required("AWS_SECRET_ACCESS_KEY")?,
        session_token: get("AWS_SESSION_TOKEN").map(Secret::new),
        key_prefix,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    const STRONG: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn a_missing_jwt_secret_stops_start_up_naming_the_variable() {
        let err = config(&[("MONGODB_URI", "mongodb://x")]).unwrap_err();
        assert!(err.0.contains("JWT_SECRET"), "{err}");
    }

    #[test]
    fn a_jwt_secret_under_32_bytes_is_refused() {
        let err = config(&[("MONGODB_URI", "mongodb://x"), ("JWT_SECRET", "short")]).unwrap_err();
        assert!(err.0.contains("JWT_SECRET is too weak"), "{err}");
    }

    #[test]
    fn a_missing_mongodb_uri_stops_start_up_naming_the_variable() {
        let err = config(&[("JWT_SECRET", STRONG)]).unwrap_err();
        assert!(err.0.contains("MONGODB_URI"), "{err}");
    }

    #[test]
    fn secrets_do_not_print_in_debug_output() {
        let c = config(&[("MONGODB_URI", "mongodb://u:pw@h"), ("JWT_SECRET", STRONG)]).unwrap();
        let printed = format!("{c:?}");
        assert!(!printed.contains(STRONG));
        assert!(!printed.contains("pw@h"));
    }

    #[test]
    fn storage_needs_credentials_once_a_bucket_is_named() {
        let err = config(&[
            ("MONGODB_URI", "mongodb://x"),
            ("JWT_SECRET", STRONG),
            ("S3_BUCKET", "files"),
        ])
        .unwrap_err();
        assert!(err.0.contains("AWS_ACCESS_KEY_ID"), "{err}");
        let c = config(&[
            ("MONGODB_URI", "mongodb://x"),
            ("JWT_SECRET", STRONG),
            ("S3_BUCKET", "files"),
            ("S3_ENDPOINT", "http://127.0.0.1:9000/"),
            ("AWS_ACCESS_KEY_ID", "key"),
            ("AWS_SECRET_ACCESS_KEY", "storage-secret-value"),
        ])
        .unwrap();
        let s = c.storage.as_ref().unwrap();
        assert_eq!(s.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert!(s.force_path_style);
        assert!(!format!("{c:?}").contains("storage-secret-value"));
    }

    #[test]
    fn upload_limits_per_plan_are_configurable() {
        let c = config(&[
            ("MONGODB_URI", "mongodb://x"),
            ("JWT_SECRET", STRONG),
            ("UPLOAD_MAX_BYTES_FREE", "1000"),
            ("UPLOAD_CONTENT_TYPES", "image/png, Text/Plain"),
        ])
        .unwrap();
        assert_eq!(c.uploads.max_bytes, [1000, 100 * MIB, 1024 * MIB]);
        assert_eq!(c.uploads.allowed_types, vec!["image/png", "text/plain"]);
        assert!(c.storage.is_none());
    }

    #[test]
    fn allowed_origins_are_split_and_trimmed() {
        let c = config(&[
            ("MONGODB_URI", "mongodb://x"),
            ("JWT_SECRET", STRONG),
            ("ALLOWED_ORIGINS", "https://a.example, https://b.example/"),
        ])
        .unwrap();
        assert_eq!(
            c.allowed_origins,
            vec!["https://a.example", "https://b.example"]
        );
    }
}
