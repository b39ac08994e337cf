//! `Idempotency-Key` on every authenticated POST.

use crate::helpers::*;
use bson::doc;
use serde_json::json;

async fn post_with_key(
    app: &TestApp,
    actor: &Actor,
    path: &str,
    key: &str,
    body: serde_json::Value,
) -> Resp {
    let bytes = serde_json::to_vec(&body).unwrap();
    app.request(
        "POST",
        path,
        Some(&actor.token),
        Some(bytes),
        &[("idempotency-key", key)],
    )
    .await
}

/// `POST /api/v1/accounts` `{name}` with `key`.
async fn account_with_key(app: &TestApp, actor: &Actor, key: &str, name: &str) -> Resp {
    post_with_key(app, actor, "/api/v1/accounts", key, json!({ "name": name })).await
}

#[tokio::test]
async fn a_retry_with_the_same_key_returns_the_first_response_and_creates_nothing() {
    let app = TestApp::spawn().await;
    let first = account_with_key(&app, app.member().await, "key-1", "Once").await;
    assert_eq!(first.status, 201);
    let retry = account_with_key(&app, app.member().await, "key-1", "Once").await;
    assert_eq!(retry.status, 201);
    assert_eq!(retry.text, first.text);
    assert_eq!(retry.header("location"), first.header("location"));
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(app.count("accounts", doc! { "name": "Once" }).await, 1);
    assert_eq!(
        app.audits("CREATE")
            .await
            .iter()
            .filter(|a| a.get_str("resource") == Ok("account"))
            .count(),
        1
    );
}

#[tokio::test]
async fn the_same_key_with_another_body_is_a_422_and_another_users_key_is_their_own() {
    let app = TestApp::spawn().await;
    assert_eq!(
        account_with_key(&app, app.member().await, "k", "A")
            .await
            .status,
        201
    );
    let other_body = account_with_key(&app, app.member().await, "k", "B").await;
    other_body.assert_problem(422, "IDEMPOTENCY_KEY_REUSED");
    let other_user = account_with_key(&app, app.admin().await, "k", "A").await;
    assert_eq!(other_user.status, 201);
    assert_ne!(other_user.body["id"], "");
    assert_eq!(app.count("accounts", doc! {}).await, 2);
    let bad = account_with_key(&app, app.member().await, "bad key", "C").await;
    bad.assert_problem(400, "INVALID_PARAMETER");
}

#[tokio::test]
async fn twenty_concurrent_retries_with_one_key_create_exactly_one_record() {
    let app = TestApp::spawn().await;
    let member = app.member().await;
    let attempts = (0..20).map(|_| {
        post_with_key(
            &app,
            member,
            "/api/v1/contacts",
            "burst",
            json!({ "firstName": "Con", "lastName": "Current" }),
        )
    });
    let results = futures_util::future::join_all(attempts).await;
    let statuses: Vec<u16> = results.iter().map(|r| r.status).collect();
    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");
    assert!(results
        .iter()
        .all(|r| r.body["id"] == results[0].body["id"]));
    assert_eq!(app.count("contacts", doc! {}).await, 1);
}

#[tokio::test]
async fn a_validation_error_is_replayed_but_a_retryable_failure_is_not_kept() {
    let app = TestApp::spawn().await;
    let bad = account_with_key(&app, app.member().await, "v", "").await;
    bad.assert_problem(422, "VALIDATION_FAILED");
    let again = account_with_key(&app, app.member().await, "v", "").await;
    assert_eq!(again.text, bad.text);
    // Keys work on every authenticated POST, not only records.
    let invite = json!({ "email": "keyed@example.test", "role": "VIEWER" });
    let a = post_with_key(
        &app,
        app.admin().await,
        "/api/v1/invitations",
        "inv",
        invite.clone(),
    )
    .await;
    let b = post_with_key(
        &app,
        app.admin().await,
        "/api/v1/invitations",
        "inv",
        invite,
    )
    .await;
    assert_eq!((a.status, b.status), (201, 201));
    assert_eq!(a.body["id"], b.body["id"]);
    assert_eq!(app.count("invitations", doc! {}).await, 1);
}
