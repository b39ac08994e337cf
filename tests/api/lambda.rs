//! A compiled function binary, run as Lambda runs it: the test plays the
//! Lambda Runtime API on a local port, hands the binary API Gateway HTTP API
//! (v2) events, and reads its responses.

use crate::helpers::*;
use bson::doc;
use serde_json::{json, Value};
use tests::lambda::{function_binary, http_api_event, lambda_env, Emulator};

#[tokio::test]
async fn a_compiled_function_answers_http_api_events_through_the_runtime_api() {
    let app = TestApp::spawn().await;
    app.create_account(app.owner().await, "Made over HTTP")
        .await;
    let binary = function_binary("accounts", "debug");
    let (emu, addr) = Emulator::start().await;
    // A function that handles no files starts without any storage configuration.
    let mut child = tokio::process::Command::new(&binary)
        .env_clear()
        .envs(
            app.env
                .iter()
                .filter(|(k, _)| !STORAGE_VARS.contains(&k.as_str())),
        )
        .envs(lambda_env(addr, "accounts"))
        .env("LOG_LEVEL", "warn")
        .kill_on_drop(true)
        .spawn()
        .expect("function starts");

    let created = emu
        .invoke(http_api_event(
            "POST",
            "/api/v1/accounts",
            "",
            &app.owner().await.token,
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
            &app.owner().await.token,
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

#[tokio::test]
async fn a_file_function_builds_its_storage_client_at_cold_start_or_refuses_to_start() {
    let app = TestApp::spawn().await;
    let binary = function_binary("uploads", "debug");
    let without = tokio::process::Command::new(&binary)
        .env_clear()
        .envs(app.env.iter().filter(|(k, _)| k.as_str() != "S3_BUCKET"))
        .envs(lambda_env("127.0.0.1:9".parse().unwrap(), "uploads"))
        .output()
        .await
        .unwrap();
    assert_eq!(without.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&without.stderr).contains("S3_BUCKET is not set"),
        "{}",
        String::from_utf8_lossy(&without.stderr)
    );

    let (emu, addr) = Emulator::start().await;
    let mut child = tokio::process::Command::new(&binary)
        .env_clear()
        .envs(&app.env)
        .envs(lambda_env(addr, "uploads"))
        .env("LOG_LEVEL", "warn")
        .kill_on_drop(true)
        .spawn()
        .expect("function starts");
    let r = emu
        .invoke(http_api_event(
            "POST",
            "/api/v1/uploads",
            "",
            &app.member().await.token,
            Some(&json!({ "fileName": "photo.png", "contentType": "image/png", "size": 4 })),
        ))
        .await;
    assert_eq!(r["statusCode"], 201, "{r}");
    let body: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
    let (status, text) = app.put_presigned(&body, vec![1, 2, 3, 4]).await;
    assert_eq!(status, 200, "{text}");
    child.kill().await.ok();
}
