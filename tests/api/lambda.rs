//! A compiled function binary, run as Lambda runs it: the test plays the
//! Lambda Runtime API (`/2018-06-01/runtime/...`) on a local port, hands the
//! binary API Gateway HTTP API (v2) events, and reads its responses.

use crate::helpers::*;
use base64::Engine;
use bson::doc;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

#[derive(Default)]
struct Emulator {
    pending: Mutex<VecDeque<(String, Value)>>,
    results: Mutex<HashMap<String, Value>>,
    init_error: Mutex<Option<String>>,
    changed: Notify,
}

impl Emulator {
    async fn next(&self) -> (String, Value) {
        loop {
            let notified = self.changed.notified();
            if let Some(e) = self.pending.lock().unwrap().pop_front() {
                return e;
            }
            notified.await;
        }
    }

    /// Queues an event and waits for the function's answer.
    async fn invoke(&self, event: Value) -> Value {
        let id = bson::oid::ObjectId::new().to_hex();
        self.pending.lock().unwrap().push_back((id.clone(), event));
        self.changed.notify_waiters();
        let wait = async {
            loop {
                let notified = self.changed.notified();
                if let Some(r) = self.results.lock().unwrap().remove(&id) {
                    return r;
                }
                if let Some(e) = self.init_error.lock().unwrap().clone() {
                    panic!("function failed to initialise: {e}");
                }
                notified.await;
            }
        };
        tokio::time::timeout(Duration::from_secs(60), wait)
            .await
            .expect("function answered")
    }
}

async fn serve(
    emu: Arc<Emulator>,
    req: hyper::Request<hyper::body::Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let parts: Vec<&str> = path
        .trim_start_matches("/2018-06-01/runtime/")
        .split('/')
        .collect();
    let mut response = hyper::Response::new(Full::new(Bytes::new()));
    match (method.as_str(), parts.as_slice()) {
        ("GET", ["invocation", "next"]) => {
            let (id, event) = emu.next().await;
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis()
                + 30_000;
            let h = response.headers_mut();
            h.insert("lambda-runtime-aws-request-id", id.parse().unwrap());
            h.insert(
                "lambda-runtime-deadline-ms",
                deadline.to_string().parse().unwrap(),
            );
            h.insert(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:eu-central-1:123456789012:function:accounts"
                    .parse()
                    .unwrap(),
            );
            h.insert(
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000".parse().unwrap(),
            );
            *response.body_mut() = Full::new(Bytes::from(event.to_string()));
        }
        ("POST", ["invocation", id, "response"]) | ("POST", ["invocation", id, "error"]) => {
            let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            emu.results.lock().unwrap().insert(id.to_string(), value);
            emu.changed.notify_waiters();
            *response.status_mut() = hyper::StatusCode::ACCEPTED;
        }
        ("POST", ["init", "error"]) => {
            *emu.init_error.lock().unwrap() = Some(String::from_utf8_lossy(&body).into_owned());
            emu.changed.notify_waiters();
            *response.status_mut() = hyper::StatusCode::ACCEPTED;
        }
        _ => *response.status_mut() = hyper::StatusCode::NOT_FOUND,
    }
    response
}

async fn start_emulator() -> (Arc<Emulator>, std::net::SocketAddr) {
    let emu = Arc::new(Emulator::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shared = emu.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let emu = shared.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let emu = emu.clone();
                    async move { Ok::<_, std::convert::Infallible>(serve(emu, req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (emu, addr)
}

/// The compiled function binary, built if `scripts/test.sh` has not already.
pub fn function_binary(name: &str) -> PathBuf {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"));
    let path = target.join("debug").join(name);
    if !path.exists() {
        let status = std::process::Command::new(env!("CARGO"))
            .args(["build", "-p", "functions", "--bin", name])
            .current_dir(&workspace)
            .status()
            .expect("cargo build");
        assert!(status.success(), "building {name} failed");
    }
    path
}

/// An API Gateway HTTP API (payload format 2.0) event.
fn http_api_event(
    method: &str,
    path: &str,
    query: &str,
    token: &str,
    body: Option<&Value>,
) -> Value {
    let (body, encoded) = match body {
        Some(b) => (
            json!(base64::engine::general_purpose::STANDARD.encode(b.to_string())),
            true,
        ),
        None => (Value::Null, false),
    };
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {
            "authorization": format!("Bearer {token}"),
            "content-type": "application/json",
            "host": "abc123.execute-api.eu-central-1.amazonaws.com",
            "user-agent": "lambda-test",
            "x-forwarded-for": "10.10.10.10",
            "x-request-id": "lambda-req-1"
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.eu-central-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": { "method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "198.51.100.23", "userAgent": "lambda-test" },
            "requestId": "apigw-req-1",
            "routeKey": "$default",
            "stage": "$default",
            "time": "21/Nov/2026:13:00:00 +0000",
            "timeEpoch": 1795266000000_u64
        },
        "body": body,
        "isBase64Encoded": encoded
    })
}

#[tokio::test]
async fn a_compiled_function_answers_http_api_events_through_the_runtime_api() {
    let app = TestApp::spawn().await;
    app.create_account(&app.owner, "Made over HTTP").await;
    let binary = function_binary("accounts");
    let (emu, addr) = start_emulator().await;
    let mut child = tokio::process::Command::new(&binary)
        .env_clear()
        .envs(&app.env)
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "accounts")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("LOG_LEVEL", "warn")
        .kill_on_drop(true)
        .spawn()
        .expect("function starts");

    let created = emu
        .invoke(http_api_event(
            "POST",
            "/api/v1/accounts",
            "",
            &app.owner.token,
            Some(&json!({ "name": "Made over Lambda" })),
        ))
        .await;
    assert_eq!(created["statusCode"], 201, "{created}");
    let body: Value = serde_json::from_str(created["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["name"], "Made over Lambda");
    let headers = &created["headers"];
    assert_eq!(headers["x-request-id"], "lambda-req-1");
    assert_eq!(headers["ratelimit-limit"], "100");

    let listed = emu
        .invoke(http_api_event(
            "GET",
            "/api/v1/accounts",
            "sort=name&limit=1",
            &app.owner.token,
            None,
        ))
        .await;
    assert_eq!(listed["statusCode"], 200, "{listed}");
    let body: Value = serde_json::from_str(listed["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["data"][0]["name"], "Made over HTTP");
    assert!(body["nextCursor"].is_string());

    let anonymous = emu
        .invoke(http_api_event("GET", "/api/v1/accounts", "", "", None))
        .await;
    assert_eq!(anonymous["statusCode"], 401);

    // The client address is API Gateway's sourceIp, never X-Forwarded-For.
    let audit = app
        .find(
            "audit_log",
            doc! { "action": "CREATE", "resource": "account", "changes.name": "Made over Lambda" },
        )
        .await;
    assert_eq!(audit[0].get_str("ipAddress").unwrap(), "198.51.100.23");
    child.kill().await.ok();
}
