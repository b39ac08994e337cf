//! Compiled function binaries driven with recorded events of every shape
//! Lambda delivers (tests/fixtures/events): API Gateway REST (v1), HTTP API
//! (v2), a Lambda function URL, an ALB target, and a scheduled EventBridge
//! event; then the same binaries under Vercel's runtime.

use bson::doc;
use serde_json::Value;
use tests::lambda::{function_binary, lambda_env, Emulator};

use crate::helpers::*;

const FORMATS: [&str; 4] = ["apigw-rest-v1", "http-api-v2", "function-url", "alb"];

fn fixture(name: &str, vars: &[(&str, &str)]) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/events")
        .join(format!("{name}.json"));
    let mut text = std::fs::read_to_string(&path).unwrap();
    for (k, v) in vars {
        text = text.replace(&format!("{{{{{k}}}}}"), v);
    }
    serde_json::from_str(&text).unwrap()
}

/// A response header from either `headers` or `multiValueHeaders`.
fn header(r: &Value, name: &str) -> Vec<String> {
    let mut out = vec![];
    if let Some(v) = r["headers"][name].as_str() {
        out.push(v.to_string());
    }
    for v in r["multiValueHeaders"][name]
        .as_array()
        .into_iter()
        .flatten()
    {
        out.push(v.as_str().unwrap().to_string());
    }
    out.dedup();
    out
}

fn body(r: &Value) -> Value {
    assert_ne!(r["isBase64Encoded"], true, "JSON answers are text: {r}");
    serde_json::from_str(r["body"].as_str().expect("body")).expect("JSON body")
}

struct Function {
    emu: std::sync::Arc<Emulator>,
    _child: tokio::process::Child,
}

async fn start(app: &TestApp, name: &str, extra: &[(&str, &str)]) -> Function {
    let (emu, addr) = Emulator::start().await;
    let child = tokio::process::Command::new(function_binary(name, "debug"))
        .env_clear()
        .envs(&app.env)
        .envs(lambda_env(addr, name))
        .envs(extra.iter().copied())
        .env("LOG_LEVEL", "warn")
        .kill_on_drop(true)
        .spawn()
        .expect("function starts");
    Function { emu, _child: child }
}

#[tokio::test]
async fn every_http_event_format_reaches_the_handler_and_maps_the_response_back() {
    let app = TestApp::spawn().await;
    let target = app.create_account(app.owner().await, "Lookup Target").await;
    let accounts = start(&app, "accounts", &[]).await;
    let accounts_id = start(&app, "accounts-id", &[]).await;
    let refresh = start(&app, "auth-refresh", &[]).await;

    for format in FORMATS {
        let session = app.login(&app.owner().await.email).await;
        let vars = [
            ("TOKEN", session.token.as_str()),
            ("ID", target.as_str()),
            ("REFRESH", session.refresh.as_str()),
        ];
        let events = fixture(format, &vars);

        // A base64 body, the method, the request id header, and the response mapping.
        let created = accounts.emu.invoke(events["create"].clone()).await;
        assert_eq!(created["statusCode"], 201, "{format}: {created}");
        let account = body(&created);
        assert_eq!(account["name"], "Fixture Motors", "{format}");
        assert_eq!(account["industry"], "Automotive", "{format}");
        assert_eq!(
            header(&created, "x-request-id"),
            ["fixture-req-1"],
            "{format}"
        );
        assert_eq!(
            header(&created, "content-type"),
            ["application/json"],
            "{format}"
        );
        assert!(
            header(&created, "location")[0].ends_with(account["id"].as_str().unwrap()),
            "{format}: {created}"
        );
        if format == "alb" {
            assert_eq!(created["statusDescription"], "201 Created");
        }
        // The client address the platform recorded, never a client's header.
        let audit = app
            .find(
                "audit_log",
                doc! { "action": "CREATE", "resourceId": oid(account["id"].as_str().unwrap()) },
            )
            .await;
        assert_eq!(
            audit[0].get_str("ipAddress").unwrap(),
            "198.51.100.23",
            "{format}"
        );

        // The path parameter.
        let got = accounts_id.emu.invoke(events["get"].clone()).await;
        assert_eq!(got["statusCode"], 200, "{format}: {got}");
        assert_eq!(body(&got)["id"], target, "{format}");
        assert_eq!(body(&got)["name"], "Lookup Target", "{format}");

        // Repeated query keys arrive as two values (and the list refuses them).
        let repeated = accounts.emu.invoke(events["repeated"].clone()).await;
        assert_eq!(repeated["statusCode"], 400, "{format}: {repeated}");
        let problem = body(&repeated);
        assert_eq!(problem["errors"][0]["field"], "q", "{format}");
        assert!(
            problem["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("more than once"),
            "{format}: {problem}"
        );
        assert_eq!(
            header(&repeated, "content-type"),
            ["application/problem+json"]
        );

        // The refresh token from a cookie; the new one back as Set-Cookie.
        let refreshed = refresh.emu.invoke(events["refresh"].clone()).await;
        assert_eq!(refreshed["statusCode"], 200, "{format}: {refreshed}");
        let set_cookie: Vec<String> = match format {
            "http-api-v2" | "function-url" => refreshed["cookies"]
                .as_array()
                .expect("v2 answers carry cookies apart")
                .iter()
                .map(|c| c.as_str().unwrap().to_string())
                .collect(),
            _ => header(&refreshed, "set-cookie"),
        };
        let new_refresh = body(&refreshed)["refreshToken"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(set_cookie.len(), 1, "{format}: {refreshed}");
        assert!(
            set_cookie[0].starts_with(&format!("refresh_token={new_refresh};")),
            "{format}: {set_cookie:?}"
        );
        assert_ne!(new_refresh, session.refresh);
    }
}

#[tokio::test]
async fn a_scheduled_function_runs_its_job_on_an_eventbridge_event_only() {
    let app = TestApp::spawn().await;
    app.db
        .collection::<bson::Document>("rate_limits")
        .insert_one(doc! { "_id": "api:expired", "count": 1_i64, "expiresAt": bson::DateTime::from_millis(0) })
        .await
        .unwrap();
    let job = start(&app, "cleanup-sessions", &[]).await;
    let report = job.emu.invoke(fixture("eventbridge-scheduled", &[])).await;
    for key in ["scanned", "deleted", "remaining", "durationMs"] {
        assert!(report[key].is_u64(), "{key}: {report}");
    }
    assert!(report["deleted"].as_u64().unwrap() >= 1, "{report}");
    assert_eq!(
        app.count("rate_limits", doc! { "_id": "api:expired" })
            .await,
        0
    );

    let http = fixture(
        "http-api-v2",
        &[("TOKEN", "x"), ("ID", "x"), ("REFRESH", "x")],
    );
    let refused = job.emu.invoke(http["create"].clone()).await;
    assert!(
        refused["errorMessage"]
            .as_str()
            .unwrap_or("")
            .contains("runs on its schedule only"),
        "{refused}"
    );
}

async fn start_vercel(
    app: &TestApp,
    name: &str,
    extra: &[(&str, &str)],
) -> (tokio::process::Child, String) {
    let port = tests::net::free_port();
    let child = tokio::process::Command::new(function_binary(name, "debug"))
        .env_clear()
        .envs(&app.env)
        .envs(extra.iter().copied())
        .env("VERCEL", "1")
        .env("VERCEL_DEV_PORT", port.to_string())
        .env("LOG_LEVEL", "warn")
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("function starts");
    tests::net::wait_for_port(port).await;
    (child, format!("http://127.0.0.1:{port}"))
}

#[tokio::test]
async fn under_vercels_runtime_the_same_binaries_serve_http_path_parameters_and_crons() {
    let app = TestApp::spawn().await;
    let target = app.create_account(app.owner().await, "Vercel Target").await;
    let (_item, base) = start_vercel(&app, "accounts-id", &[]).await;
    // The path as the client sent it, and the entrypoint's own path with the
    // parameter as a query parameter (Vercel's file-system routing).
    for url in [
        format!("{base}/api/v1/accounts/{target}"),
        format!("{base}/api/v1/accounts/[id]?id={target}"),
    ] {
        let r = app
            .http
            .get(&url)
            .bearer_auth(&app.owner().await.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{url}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["id"], target.as_str());
    }
    let (_list, base) = start_vercel(&app, "accounts", &[]).await;
    let r = app
        .http
        .post(format!("{base}/api/v1/accounts"))
        .bearer_auth(&app.owner().await.token)
        .header("x-real-ip", "203.0.113.50")
        .json(&serde_json::json!({ "name": "Made on Vercel" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let audit = app
        .find(
            "audit_log",
            doc! { "action": "CREATE", "changes.name": "Made on Vercel" },
        )
        .await;
    assert_eq!(audit[0].get_str("ipAddress").unwrap(), "203.0.113.50");

    let secret = "vercel-cron-secret-0123456789abcdef";
    let (_cron, base) = start_vercel(&app, "cleanup-sessions", &[("CRON_SECRET", secret)]).await;
    let url = format!("{base}/api/cron/cleanup-sessions");
    let denied = app.http.get(&url).send().await.unwrap();
    assert_eq!(denied.status(), 401);
    let ran = app.http.get(&url).bearer_auth(secret).send().await.unwrap();
    assert_eq!(ran.status(), 200);
    let report: Value = ran.json().await.unwrap();
    assert!(report["durationMs"].is_u64(), "{report}");
}
