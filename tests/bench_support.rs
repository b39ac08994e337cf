//! What the at-scale benchmarks (`bench-crm`, `bench-workshop`) share: the
//! release `crm-local` they measure through, a registered owner, sizes from
//! the environment and the statistics they print.

use std::time::Duration;

use bson::oid::ObjectId;
use serde_json::{json, Value};

use crate::lambda::function_binary;

/// The secret the benchmark's servers sign with.
pub const SECRET: &str = "bench-secret-0123456789abcdef0123456789";
/// How long the benchmark's servers wait on the database: the one-process
/// local database answers late (a heartbeat too) while it takes a bulk
/// seed or reads a month of a busy shop; they wait rather than answer 503.
pub const DB_TIMEOUT_MS: &str = "60000";

/// A whole number from the environment, or `default`.
pub fn number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// The `p` quantile of `sorted`.
pub fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// "p50 / p99" of `samples`.
pub fn p50_p99(samples: &mut [Duration]) -> String {
    samples.sort();
    format!("{} / {}", ms(pct(samples, 0.5)), ms(pct(samples, 0.99)))
}

/// The process's peak resident memory (VmHWM), KiB.
pub fn hwm_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A release `crm-local` on a fresh database of `MONGODB_URI`, with an
/// owner registered.
pub struct Bench {
    pub server: tokio::process::Child,
    pub base: String,
    pub http: reqwest::Client,
    pub token: String,
    pub org: ObjectId,
    pub user: ObjectId,
    pub db: mongodb::Database,
}

impl Bench {
    pub async fn start(prefix: &str) -> Bench {
        Self::start_with(prefix, &[]).await
    }

    /// [`Bench::start`] with extra environment for the server.
    pub async fn start_with(prefix: &str, env: &[(&str, &str)]) -> Bench {
        let uri = std::env::var("MONGODB_URI").expect("MONGODB_URI must be set");
        let db_name = format!("{prefix}_{}", ObjectId::new().to_hex());
        let port = crate::net::free_port();
        let server = tokio::process::Command::new(function_binary("crm-local", "release"))
            .env("MONGODB_URI", &uri)
            .env("MONGODB_DB", &db_name)
            .env("JWT_SECRET", SECRET)
            .env("PORT", port.to_string())
            .env("LOG_LEVEL", "warn")
            .env("RATE_LIMIT_API_FREE", "1000000000")
            .env("RATE_LIMIT_EXPORTS_FREE", "1000")
            // Seeding at scale outlasts a 15-minute access token.
            .env("ACCESS_TOKEN_TTL_SECONDS", "86400")
            .env("DB_TIMEOUT_MS", DB_TIMEOUT_MS)
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("crm-local starts");
        let base = format!("http://127.0.0.1:{port}/api/v1");
        let http = reqwest::Client::new();
        crate::net::wait_for_port(port).await;
        let reg: Value = http
            .post(format!("{base}/auth/register"))
            .json(&json!({ "organizationName": "Bench", "email": format!("{db_name}@bench.test"), "password": "bench-password", "firstName": "B", "lastName": "E" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = |v: &Value| ObjectId::parse_str(v.as_str().unwrap()).unwrap();
        let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
        Bench {
            server,
            base,
            http,
            token: reg["accessToken"].as_str().unwrap().to_string(),
            org: id(&reg["organization"]["id"]),
            user: id(&reg["user"]["id"]),
            db: client.database(&db_name),
        }
    }

    /// Sends `method path` with `body` as the owner; asserts `expect` and
    /// answers the body.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>, expect: u16) -> Value {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut rb = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        assert_eq!(status, expect, "{path}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    pub async fn stop(mut self) {
        self.server.kill().await.ok();
        self.db.drop().await.ok();
    }
}
