//! Typed configuration, read once from the environment at cold start.
//!
//! Secrets are wrapped in [`Secret`], whose `Debug` never prints the value, so a
//! config logged by accident leaks nothing. A missing or weak secret stops
//! start-up with a message naming the variable.

use std::fmt;
use std::time::Duration;

use crate::limits::LimitOverrides;

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

pub use crate::error::ConfigError;

/// Everything a function needs to know about its environment.
#[derive(Clone, Debug)]
pub struct Config {
    pub mongodb_uri: Secret,
    pub mongodb_db: String,
    pub jwt_secret: Secret,
    /// `JWT_SECRET_PREVIOUS`: the secret before a rotation, still accepted
    /// for verifying access tokens (never for signing) until the longest
    /// access-token lifetime has passed.
    pub jwt_secret_previous: Option<Secret>,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    /// A sign-in's absolute lifetime: however often its refresh token is
    /// rotated, after this the user signs in again.
    pub session_max_lifetime: Duration,
    pub bcrypt_cost: u32,
    pub allowed_origins: Vec<String>,
    /// Bounds every MongoDB wait so an outage answers 503 well inside the
    /// function timeout instead of the driver's 30 s default.
    pub db_timeout: Duration,
    /// `MONGODB_MAX_POOL_SIZE` (default 4: a serverless instance serves one
    /// request at a time) and `MONGODB_MIN_POOL_SIZE` (default 0: an idle
    /// instance holds no connection open).
    pub mongodb_pool: (u32, u32),
    /// `IP_BLOCKS_REFRESH_SECONDS` (0 to 60, default 60): how stale an
    /// instance's copy of the address blocklist may be.
    pub ip_blocks_refresh: Duration,
    /// `API_KEY_PEPPER`: the key API keys are hashed under (HMAC-SHA256).
    /// Without it, one derived from `JWT_SECRET` (so rotating that secret
    /// without setting this one invalidates every API key).
    pub api_key_pepper: Secret,
    /// `API_KEY_CACHE_SECONDS` (0 to 30, default 30): how long an instance
    /// trusts its copy of an API key, so how long a revocation may take to
    /// reach every instance.
    pub api_key_cache: Duration,
    /// `WEBHOOKS_ALLOW_NETWORKS`: networks (CIDRs, comma-separated) webhook
    /// URLs may point at although they are private or loopback, and over
    /// plain http: a receiver in development and tests. Never in production.
    pub webhooks_allow_networks: Vec<ipnet::IpNet>,
    pub rate_limits: LimitOverrides,
    /// Object storage, when `S3_BUCKET` is set; the functions that handle
    /// files refuse to start without it.
    pub storage: Option<StorageConfig>,
    pub uploads: UploadPolicy,
    /// Where this deployment runs; a preview gets its own database and key prefix.
    pub deployment: Deployment,
    /// The bearer token cron requests must carry (`CRON_SECRET`); without
    /// it every cron request is refused.
    pub cron_secret: Option<Secret>,
    pub cleanup: CleanupConfig,
    pub email: EmailConfig,
}

/// Transactional email (`shared::email`) and the links it carries.
#[derive(Clone, Debug)]
pub struct EmailConfig {
    /// `SMTP_URL` (`smtp://user:pass@host:587?tls=required`,
    /// `smtps://...:465`); without it emails wait in the outbox.
    pub smtp_url: Option<Secret>,
    /// `EMAIL_FROM`, a mailbox (`Workshop CRM <no-reply@example.com>`).
    pub from: String,
    /// `APP_URL`: the web app the links in emails open.
    pub app_url: String,
    /// `API_URL` (default `APP_URL`, for a web app that serves the API
    /// under its own origin): where a link in an email that the API itself
    /// answers points (a reminder's one-click unsubscribe).
    pub api_url: String,
    /// `EMAIL_MAX_ATTEMPTS`: sends tried before an email is given up.
    pub max_attempts: u32,
    /// `EMAIL_RETRY_BASE_SECONDS`: the first wait after a failed send;
    /// each further failure doubles it (at most 6 hours).
    pub retry_base: Duration,
    /// `TURNSTILE_VERIFY_URL`: Cloudflare Turnstile's `siteverify`.
    pub turnstile_verify_url: String,
    /// `EMAIL_INLINE_BUDGET_MS` (default 300, at most 2000): how long a
    /// request waits, all its emails together, for them to be sent after
    /// its commit; what is not sent by then goes on without the request
    /// (and, failing that, with the scheduled sender).
    pub inline_budget: Duration,
}

/// Cloudflare's Turnstile verification endpoint.
pub const TURNSTILE_VERIFY_URL: &str = "https://challenges.cloudflare.com/turnstile/v0/siteverify";

/// What the environment says this deployment is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Deployment {
    /// `VERCEL_ENV=production` or `DEPLOY_STAGE=production`.
    Production,
    /// A branch's preview (`VERCEL_ENV=preview` + `VERCEL_GIT_COMMIT_REF`, or
    /// any other `DEPLOY_STAGE`): never production's database or files.
    Preview { branch: String },
    /// Neither: a developer's machine or the tests; names as configured.
    Local,
}

/// Bounds and retention of the scheduled cleanups.
#[derive(Clone, Debug)]
pub struct CleanupConfig {
    /// Organizations purged per run at most; the rest wait for the next run.
    pub max_organizations: u64,
    /// Documents deleted per batch.
    pub batch_size: i64,
    /// Batches per run at most.
    pub max_batches: u64,
    /// No batch starts after this many seconds, so a run ends inside its
    /// function's timeout (300 s) with its report.
    pub max_seconds: u64,
    /// Audit-log retention in days for FREE, PRO and ENTERPRISE.
    pub audit_retention_days: [u64; 3],
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
/// The audit log's TTL index (a backstop) removes entries after this many
/// days whatever the plan, so no retention may be longer.
pub const MAX_AUDIT_RETENTION_DAYS: u64 = 3 * 365;

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
        let jwt_secret_previous = get("JWT_SECRET_PREVIOUS");
        if let Some(p) = &jwt_secret_previous {
            if p.len() < MIN_JWT_SECRET_BYTES {
                return Err(ConfigError(format!(
                    "JWT_SECRET_PREVIOUS is too weak: it has {} bytes, at least {MIN_JWT_SECRET_BYTES} are required",
                    p.len()
                )));
            }
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
        // Presigned URLs are short-lived: at most an hour.
        let url_ttl = |name: &str, default: u64| -> Result<Duration, ConfigError> {
            let secs = number(name, default)?;
            if !(1..=3600).contains(&secs) {
                return Err(ConfigError(format!(
                    "{name} must be between 1 and 3600 seconds, got {secs}"
                )));
            }
            Ok(Duration::from_secs(secs))
        };
        let cron_secret = get("CRON_SECRET");
        if let Some(c) = &cron_secret {
            if c.len() < MIN_JWT_SECRET_BYTES {
                return Err(ConfigError(format!(
                    "CRON_SECRET is too weak: it has {} bytes, at least {MIN_JWT_SECRET_BYTES} are required",
                    c.len()
                )));
            }
        }
        let retention = |name: &str, default: u64| -> Result<u64, ConfigError> {
            let days = number(name, default)?;
            if !(1..=MAX_AUDIT_RETENTION_DAYS).contains(&days) {
                return Err(ConfigError(format!(
                    "{name} must be between 1 and {MAX_AUDIT_RETENTION_DAYS} days (the audit log's TTL backstop), got {days}"
                )));
            }
            Ok(days)
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
        let deployment = deployment(&get)?;
        let mut mongodb_db = get("MONGODB_DB").unwrap_or_else(|| "crm".into());
        let mut storage = storage_config(&get)?;
        if let Deployment::Preview { branch } = &deployment {
            let names = PreviewNames::derive(&mongodb_db, branch);
            mongodb_db = names.database;
            if let Some(s) = storage.as_mut() {
                s.key_prefix = format!("{}{}", s.key_prefix, names.key_prefix);
            }
        }
        let email = email_config(&get, &number)?;
        Ok(Self {
            mongodb_uri: Secret::new(mongodb_uri),
            mongodb_db,
            jwt_secret: Secret::new(jwt_secret.clone()),
            jwt_secret_previous: jwt_secret_previous.map(Secret::new),
            jwt_issuer: get("JWT_ISSUER").unwrap_or_else(|| "workshop-crm".into()),
            jwt_audience: get("JWT_AUDIENCE").unwrap_or_else(|| "workshop-crm-api".into()),
            access_token_ttl: Duration::from_secs(number("ACCESS_TOKEN_TTL_SECONDS", 15 * 60)?),
            refresh_token_ttl: Duration::from_secs(number(
                "REFRESH_TOKEN_TTL_SECONDS",
                30 * 24 * 3600,
            )?),
            session_max_lifetime: Duration::from_secs(number(
                "SESSION_MAX_LIFETIME_SECONDS",
                30 * 24 * 3600,
            )?),
            bcrypt_cost: bcrypt_cost as u32,
            allowed_origins,
            db_timeout: Duration::from_millis(number("DB_TIMEOUT_MS", 2_000)?),
            ip_blocks_refresh: Duration::from_secs(
                number("IP_BLOCKS_REFRESH_SECONDS", 60)?.min(60),
            ),
            api_key_pepper: match get("API_KEY_PEPPER") {
                Some(p) if p.len() < MIN_JWT_SECRET_BYTES => {
                    return Err(ConfigError(format!(
                        "API_KEY_PEPPER is too weak: it has {} bytes, at least {MIN_JWT_SECRET_BYTES} are required",
                        p.len()
                    )))
                }
                Some(p) => Secret::new(p),
                None => Secret::new(crate::apikey::hash(&jwt_secret, "api-key-pepper")),
            },
            api_key_cache: Duration::from_secs(number("API_KEY_CACHE_SECONDS", 30)?.min(30)),
            webhooks_allow_networks: get("WEBHOOKS_ALLOW_NETWORKS")
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    s.parse::<ipnet::IpNet>().map(|n| n.trunc()).map_err(|_| {
                        ConfigError(format!(
                            "WEBHOOKS_ALLOW_NETWORKS: {s:?} is not a CIDR network such as 127.0.0.1/32"
                        ))
                    })
                })
                .collect::<Result<_, _>>()?,
            mongodb_pool: {
                let max = number("MONGODB_MAX_POOL_SIZE", 4)?;
                let min = number("MONGODB_MIN_POOL_SIZE", 0)?;
                if !(1..=500).contains(&max) || min > max {
                    return Err(ConfigError(format!(
                        "MONGODB_MAX_POOL_SIZE must be 1 to 500 and MONGODB_MIN_POOL_SIZE at most that, got {max} and {min}"
                    )));
                }
                (max as u32, min as u32)
            },
            rate_limits: LimitOverrides::from_lookup(&get)?,
            storage,
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
                upload_url_ttl: url_ttl("UPLOAD_URL_TTL_SECONDS", 600)?,
                download_url_ttl: url_ttl("DOWNLOAD_URL_TTL_SECONDS", 300)?,
            },
            deployment,
            cron_secret: cron_secret.map(Secret::new),
            cleanup: CleanupConfig {
                max_organizations: number("CLEANUP_MAX_ORGANIZATIONS", 5)?.max(1),
                batch_size: number("CLEANUP_BATCH_SIZE", 500)?.clamp(1, 10_000) as i64,
                max_batches: number("CLEANUP_MAX_BATCHES", 200)?.max(1),
                max_seconds: number("CLEANUP_MAX_SECONDS", 240)?.max(1),
                audit_retention_days: [
                    retention("AUDIT_RETENTION_DAYS_FREE", 90)?,
                    retention("AUDIT_RETENTION_DAYS_PRO", 90)?,
                    retention("AUDIT_RETENTION_DAYS_ENTERPRISE", 365)?,
                ],
            },
            email,
        })
    }
}

fn email_config(
    get: &impl Fn(&str) -> Option<String>,
    number: &impl Fn(&str, u64) -> Result<u64, ConfigError>,
) -> Result<EmailConfig, ConfigError> {
    let smtp_url = get("SMTP_URL");
    if let Some(url) = &smtp_url {
        smtp_url_is_safe(url)?;
    }
    let from = get("EMAIL_FROM").unwrap_or_else(|| "Workshop CRM <no-reply@localhost>".into());
    if !from.contains('@') {
        return Err(ConfigError(format!(
            "EMAIL_FROM must be an email address or a mailbox (Name <address>), got {from:?}"
        )));
    }
    let app_url = get("APP_URL").unwrap_or_else(|| "http://localhost:5173".into());
    if !(app_url.starts_with("https://") || app_url.starts_with("http://")) {
        return Err(ConfigError(format!(
            "APP_URL must be an http(s) URL, got {app_url:?}"
        )));
    }
    let api_url = get("API_URL").unwrap_or_else(|| app_url.clone());
    if !(api_url.starts_with("https://") || api_url.starts_with("http://")) {
        return Err(ConfigError(format!(
            "API_URL must be an http(s) URL, got {api_url:?}"
        )));
    }
    Ok(EmailConfig {
        smtp_url: smtp_url.map(Secret::new),
        from,
        app_url: app_url.trim_end_matches('/').to_string(),
        api_url: api_url.trim_end_matches('/').to_string(),
        max_attempts: number("EMAIL_MAX_ATTEMPTS", 8)?.clamp(1, 50) as u32,
        retry_base: Duration::from_secs(number("EMAIL_RETRY_BASE_SECONDS", 60)?),
        turnstile_verify_url: get("TURNSTILE_VERIFY_URL")
            .unwrap_or_else(|| TURNSTILE_VERIFY_URL.into()),
        inline_budget: Duration::from_millis(number("EMAIL_INLINE_BUDGET_MS", 300)?.min(2_000)),
    })
}

/// `smtps://` (implicit TLS) anywhere; `smtp://` only with
/// `?tls=required` (STARTTLS, refused when the relay does not offer it),
/// or to a loopback relay (a development server): anything else would let
/// the relay's address on the path read every password-reset link.
fn smtp_url_is_safe(url: &str) -> Result<(), ConfigError> {
    if url.starts_with("smtps://") {
        return Ok(());
    }
    let Some(rest) = url.strip_prefix("smtp://") else {
        return Err(ConfigError(
            "SMTP_URL must start with smtp:// or smtps://".into(),
        ));
    };
    // Parts a URL parser would read differently from this one are refused.
    if rest.contains(['#', '\\']) {
        return Err(ConfigError(
            "SMTP_URL must not contain '#' or '\\' (URL-encode them in the user or password)"
                .into(),
        ));
    }
    let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
    let authority = authority.split('/').next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host_port.split(':').next().unwrap_or(""),
    };
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    let tls_required = query.split('&').any(|p| p == "tls=required");
    if loopback || tls_required {
        return Ok(());
    }
    Err(ConfigError(format!(
        "SMTP_URL: smtp:// to {host} would send in plain text; add ?tls=required (STARTTLS) or use smtps://"
    )))
}

fn deployment(get: &impl Fn(&str) -> Option<String>) -> Result<Deployment, ConfigError> {
    match get("VERCEL_ENV").as_deref() {
        Some("production") => return Ok(Deployment::Production),
        Some("preview") => {
            let branch = get("VERCEL_GIT_COMMIT_REF").ok_or_else(|| {
                ConfigError(
                    "VERCEL_GIT_COMMIT_REF is not set: a preview needs its branch to name its database"
                        .into(),
                )
            })?;
            return Ok(Deployment::Preview { branch });
        }
        Some("development") | None => {}
        Some(other) => {
            return Err(ConfigError(format!(
                "VERCEL_ENV must be production, preview or development, got {other:?}"
            )))
        }
    }
    Ok(match get("DEPLOY_STAGE") {
        None => Deployment::Local,
        Some(stage) if stage == "production" => Deployment::Production,
        Some(stage) => Deployment::Preview { branch: stage },
    })
}

/// A preview's own database name and object-key prefix, derived from its
/// branch: stable, distinct per branch, within MongoDB's name rules.
#[derive(Debug, PartialEq, Eq)]
pub struct PreviewNames {
    pub database: String,
    pub key_prefix: String,
}

/// MongoDB database names must stay under 64 bytes.
pub const MAX_DATABASE_NAME: usize = 63;

impl PreviewNames {
    pub fn derive(base: &str, branch: &str) -> Self {
        use sha2::{Digest, Sha256};
        // Lowercase ASCII letters and digits; every other run of characters
        // becomes one '-'. The hash keeps branches apart that sanitize alike.
        let mut slug = String::new();
        for c in branch.chars() {
            if c.is_ascii_alphanumeric() {
                slug.push(c.to_ascii_lowercase());
            } else if !slug.ends_with('-') {
                slug.push('-');
            }
        }
        let slug = slug.trim_matches('-');
        let hash = crate::hex::hex(&Sha256::digest(branch.as_bytes())[..5]);
        let base: String = base
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .take(16)
            .collect();
        let fixed = base.len() + "_preview__".len() + hash.len();
        let room = MAX_DATABASE_NAME.saturating_sub(fixed).min(30);
        let slug: String = slug.chars().take(room).collect();
        let slug = slug.trim_end_matches('-');
        let label = if slug.is_empty() {
            hash.clone()
        } else {
            format!("{slug}_{hash}")
        };
        Self {
            database: format!("{base}_preview_{label}"),
            key_prefix: format!("previews/{}/", label.replace('_', "-")),
        }
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
    fn plain_smtp_is_refused_except_to_a_loopback_relay() {
        let with = |url: &str| {
            config(&[
                ("MONGODB_URI", "mongodb://x"),
                ("JWT_SECRET", STRONG),
                ("SMTP_URL", url),
            ])
        };
        for plain in [
            "smtp://relay.example.com:587",
            "smtp://u:p@relay.example.com:25?tls=opportunistic",
            "smtp://u:p%40x@10.0.0.5",
            "smtp://[2001:db8::1]:25",
            "smtp://127.0.0.1.example.com:25",
        ] {
            let err = with(plain).unwrap_err();
            assert!(err.0.contains("tls=required"), "{plain}: {err}");
        }
        // Read as loopback here, as relay.example.com by a URL parser.
        assert!(with("smtp://relay.example.com#@127.0.0.1:25").is_err());
        for fine in [
            "smtp://relay.example.com:587?tls=required",
            "smtps://u:p@relay.example.com:465",
            "smtp://127.0.0.1:2525",
            "smtp://localhost:2525",
            "smtp://[::1]:25",
            "smtp://u:p@127.0.0.1:2525",
        ] {
            assert!(with(fine).is_ok(), "{fine}");
        }
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
    fn url_lifetimes_cron_secret_and_retention_are_bounded_at_start_up() {
        let base = [("MONGODB_URI", "mongodb://x"), ("JWT_SECRET", STRONG)];
        for (name, value) in [
            ("UPLOAD_URL_TTL_SECONDS", "86400"),
            ("DOWNLOAD_URL_TTL_SECONDS", "0"),
            ("CRON_SECRET", "short"),
            ("AUDIT_RETENTION_DAYS_ENTERPRISE", "5000"),
        ] {
            let err = config(&[base[0], base[1], (name, value)]).unwrap_err();
            assert!(err.0.contains(name), "{err}");
        }
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

    fn names(branch: &str) -> PreviewNames {
        PreviewNames::derive("crm", branch)
    }

    #[test]
    fn a_preview_branch_gets_a_sanitized_stable_database_and_prefix() {
        let n = names("feature/Brake-Pads_v2");
        assert!(
            n.database.starts_with("crm_preview_feature-brake-pads-v2_"),
            "{n:?}"
        );
        assert!(
            n.key_prefix.starts_with("previews/feature-brake-pads-v2-"),
            "{n:?}"
        );
        assert_eq!(
            n,
            names("feature/Brake-Pads_v2"),
            "stable across cold starts"
        );
        for branch in [
            "a/b/c",
            "fix/überprüfung-ölwechsel",
            "🚗",
            &"x".repeat(200),
            "-",
            "",
        ] {
            let n = names(branch);
            assert!(n.database.len() <= MAX_DATABASE_NAME, "{branch}: {n:?}");
            assert!(
                n.database
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
                "{branch}: {n:?}"
            );
            assert!(
                n.key_prefix.ends_with('/') && !n.key_prefix.contains("//"),
                "{n:?}"
            );
            assert!(n.database != "crm");
        }
    }

    #[test]
    fn branches_that_sanitize_alike_still_get_different_databases() {
        let similar = [
            "feature/a-b",
            "feature/a_b",
            "feature/A-B",
            "Feature/a.b",
            &format!("{}1", "y".repeat(199)),
            &format!("{}2", "y".repeat(199)),
            "fix/ölwechsel",
            "fix/ålwechsel",
        ];
        let dbs: std::collections::HashSet<String> =
            similar.iter().map(|b| names(b).database).collect();
        let prefixes: std::collections::HashSet<String> =
            similar.iter().map(|b| names(b).key_prefix).collect();
        assert_eq!(dbs.len(), similar.len());
        assert_eq!(prefixes.len(), similar.len());
    }

    #[test]
    fn only_a_production_environment_gets_production_names() {
        let base = [
            ("MONGODB_URI", "mongodb://x"),
            ("JWT_SECRET", STRONG),
            ("MONGODB_DB", "crm"),
        ];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut v = base.to_vec();
            v.extend_from_slice(extra);
            config(&v).unwrap()
        };
        let prod = with(&[
            ("VERCEL_ENV", "production"),
            ("VERCEL_GIT_COMMIT_REF", "main"),
        ]);
        assert_eq!(
            (prod.deployment, prod.mongodb_db.as_str()),
            (Deployment::Production, "crm")
        );
        let preview = with(&[("VERCEL_ENV", "preview"), ("VERCEL_GIT_COMMIT_REF", "main")]);
        assert!(
            preview.mongodb_db.starts_with("crm_preview_main_"),
            "{}",
            preview.mongodb_db
        );
        let stage = with(&[("DEPLOY_STAGE", "feature/x")]);
        assert!(stage.mongodb_db.starts_with("crm_preview_feature-x_"));
        assert_eq!(with(&[("DEPLOY_STAGE", "production")]).mongodb_db, "crm");
        let err = config(&[base[0], base[1], ("VERCEL_ENV", "preview")]).unwrap_err();
        assert!(err.0.contains("VERCEL_GIT_COMMIT_REF"), "{err}");
    }

    #[test]
    fn a_preview_puts_its_files_under_its_own_prefix() {
        let c = config(&[
            ("MONGODB_URI", "mongodb://x"),
            ("JWT_SECRET", STRONG),
            ("S3_BUCKET", "files"),
            ("AWS_ACCESS_KEY_ID", "key"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("VERCEL_ENV", "preview"),
            ("VERCEL_GIT_COMMIT_REF", "feature/x"),
        ])
        .unwrap();
        let prefix = &c.storage.unwrap().key_prefix;
        assert!(prefix.starts_with("previews/feature-x-"), "{prefix}");
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
