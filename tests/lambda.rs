//! A Lambda Runtime API emulator: plays AWS's side of
//! `/2018-06-01/runtime/...` on a local port, so a compiled function binary
//! runs exactly as it does on Lambda, and the caller hands it events.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::{json, Value};
use tokio::sync::Notify;

#[derive(Default)]
pub struct Emulator {
    pending: Mutex<VecDeque<(String, Value)>>,
    results: Mutex<HashMap<String, Value>>,
    init_error: Mutex<Option<String>>,
    changed: Notify,
    next_id: Mutex<u64>,
}

impl Emulator {
    /// Starts the emulator on a free local port.
    pub async fn start() -> (Arc<Emulator>, SocketAddr) {
        let emu = Arc::new(Emulator::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = emu.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
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

    async fn next(&self) -> (String, Value) {
        loop {
            let notified = self.changed.notified();
            if let Some(e) = self.pending.lock().unwrap().pop_front() {
                return e;
            }
            notified.await;
        }
    }

    /// Queues an event and waits (up to 60 s) for the function's answer.
    pub async fn invoke(&self, event: Value) -> Value {
        let id = {
            let mut n = self.next_id.lock().unwrap();
            *n += 1;
            format!("invocation-{n}")
        };
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
            .expect("the function answered within 60 s")
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
                "arn:aws:lambda:eu-central-1:123456789012:function:crm"
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

/// The environment a function gets from Lambda, pointed at the emulator.
pub fn lambda_env(runtime_api: SocketAddr, function: &str) -> Vec<(String, String)> {
    [
        ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", function.to_string()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".to_string()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// A compiled function binary of `profile` (`debug` or `release`), built
/// with cargo if it is not there yet.
pub fn function_binary(name: &str, profile: &str) -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"));
    let path = target.join(profile).join(name);
    if !path.exists() {
        let mut cmd =
            std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.args(["build", "-p", "functions", "--bin", name])
            .current_dir(&workspace);
        if profile == "release" {
            cmd.arg("--release");
        }
        assert!(
            cmd.status().expect("cargo build").success(),
            "building {name} failed"
        );
    }
    path
}

/// An API Gateway HTTP API (payload format 2.0) event. The body, if any, is
/// sent base64-encoded, as API Gateway does for binary media.
pub fn http_api_event(
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
