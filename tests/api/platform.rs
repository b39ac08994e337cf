//! Health, request ids, CORS, unknown routes and methods.

use crate::helpers::*;
use serde_json::json;
use shared::config::Config;
use std::time::Duration;

#[tokio::test]
async fn health_reports_the_database_ok() {
    let app = TestApp::spawn().await;
    let r = app.get("/api/v1/health", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, json!({ "status": "ok", "database": "ok" }));
}

#[tokio::test]
async fn health_answers_503_problem_json_when_the_database_is_unreachable() {
    // Nothing listens on port 1; the state is built without a warm-up ping.
    let mut env = test_env(&unique_db_name());
    env.insert(
        "MONGODB_URI".into(),
        "mongodb://127.0.0.1:1/?directConnection=true".into(),
    );
    let config = Config::from_lookup(|k| env.get(k).cloned()).unwrap();
    let state = shared::State::from_config(config, None).await.unwrap();
    let addr = shared::runtime::spawn_local(state, &functions::routes::ROUTES)
        .await
        .unwrap();
    // A guard against hanging, not a timing assertion.
    let response = tokio::time::timeout(
        Duration::from_secs(20),
        reqwest::get(format!("http://{addr}/api/v1/health")),
    )
    .await
    .expect("health must not hang")
    .unwrap();
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "DATABASE_UNAVAILABLE");
    assert!(
        !body.to_string().contains("127.0.0.1:1"),
        "leaks internals: {body}"
    );
}

#[tokio::test]
async fn a_valid_request_id_is_echoed_and_a_missing_one_is_generated() {
    let app = TestApp::spawn().await;
    let r = app
        .request(
            "GET",
            "/api/v1/health",
            None,
            None,
            &[("x-request-id", "abc-123")],
        )
        .await;
    assert_eq!(r.header("x-request-id"), Some("abc-123"));
    let r = app
        .request(
            "GET",
            "/api/v1/health",
            None,
            None,
            &[("x-request-id", "bad id!")],
        )
        .await;
    let generated = r.header("x-request-id").unwrap();
    assert!(!generated.is_empty() && generated != "bad id");
    let r = app.get("/api/v1/accounts", None).await;
    assert_eq!(r.body["requestId"], r.header("x-request-id").unwrap());
}

#[tokio::test]
async fn a_preflight_from_an_allowed_origin_is_answered_with_cors_headers() {
    let app = TestApp::spawn().await;
    let r = app
        .request(
            "OPTIONS",
            "/api/v1/accounts/65a1b2c3d4e5f60718293a4b",
            None,
            None,
            &[
                ("origin", ORIGIN),
                ("access-control-request-method", "PATCH"),
            ],
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(r.header("access-control-allow-origin"), Some(ORIGIN));
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert!(r
        .header("access-control-allow-methods")
        .unwrap()
        .contains("PATCH"));
    assert!(r
        .header("access-control-allow-headers")
        .unwrap()
        .contains("authorization"));
}

#[tokio::test]
async fn a_preflight_from_another_origin_is_refused_and_gets_no_cors_headers() {
    let app = TestApp::spawn().await;
    let r = app
        .request(
            "OPTIONS",
            "/api/v1/accounts",
            None,
            None,
            &[
                ("origin", "https://evil.example"),
                ("access-control-request-method", "POST"),
            ],
        )
        .await;
    r.assert_problem(403, "CORS_ORIGIN_DENIED");
    assert!(r.header("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn responses_to_an_allowed_origin_carry_cors_headers() {
    let app = TestApp::spawn().await;
    let r = app
        .request(
            "GET",
            "/api/v1/accounts",
            Some(&app.owner().await.token),
            None,
            &[("origin", ORIGIN)],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some(ORIGIN));
    assert!(r
        .header("access-control-expose-headers")
        .unwrap()
        .contains("ratelimit-remaining"));
}

#[tokio::test]
async fn an_unknown_route_is_a_404_and_an_unknown_method_a_405_with_allow() {
    let app = TestApp::spawn().await;
    app.get("/api/v1/nope", None)
        .await
        .assert_problem(404, "NOT_FOUND");
    let r = app
        .request(
            "PUT",
            "/api/v1/accounts",
            Some(&app.owner().await.token),
            None,
            &[],
        )
        .await;
    r.assert_problem(405, "METHOD_NOT_ALLOWED");
    assert_eq!(r.header("allow"), Some("GET, POST, OPTIONS"));
}
