//! Bad input gets a clear problem+json error naming the field, and nothing
//! is written.

use crate::helpers::*;
use bson::doc;
use serde_json::{json, Value};

async fn nothing_written(app: &TestApp) {
    assert_eq!(
        app.count("accounts", doc! {}).await,
        0,
        "an account was written"
    );
    assert_eq!(
        app.audits("CREATE")
            .await
            .iter()
            .filter(|a| a.get_str("resource") == Ok("account"))
            .count(),
        0
    );
}

async fn create(app: &TestApp, body: Value) -> Resp {
    app.post("/api/v1/accounts", Some(app.owner().await), body)
        .await
}

#[tokio::test]
async fn missing_overlong_unknown_and_mistyped_fields_are_422_naming_the_field() {
    let app = TestApp::spawn().await;
    let cases = [
        (json!({}), "name"),
        (json!({ "name": "" }), "name"),
        (json!({ "name": "x".repeat(201) }), "name"),
        (json!({ "name": "A", "colour": "red" }), "colour"),
        (json!({ "name": 42 }), "name"),
        (json!({ "name": "A", "address": "Main St" }), "address"),
        (
            json!({ "name": "A", "address": { "town": "Oslo" } }),
            "address.town",
        ),
        (json!({ "name": "A", "email": "not-an-email" }), "email"),
        (
            json!({ "name": "A", "website": "javascript:alert(1)" }),
            "website",
        ),
        (json!({ "name": "A", "phone": "call me" }), "phone"),
        (json!({ "name": "A", "notes": "x".repeat(10_001) }), "notes"),
        (json!(["name"]), "body"),
    ];
    for (body, field) in cases {
        let r = create(&app, body.clone()).await;
        r.assert_problem(422, "VALIDATION_FAILED");
        assert_eq!(r.error_fields(), [field], "body {body}");
    }
    nothing_written(&app).await;
}

#[tokio::test]
async fn an_operator_object_in_any_field_is_just_a_wrong_type() {
    let app = TestApp::spawn().await;
    let op = json!({ "$gt": "" });
    for field in ["name", "industry", "website", "email", "phone", "notes"] {
        let mut body = json!({ "name": "A" });
        body[field] = op.clone();
        let r = create(&app, body).await;
        r.assert_problem(422, "VALIDATION_FAILED");
        assert_eq!(r.error_fields(), [field]);
    }
    let r = create(
        &app,
        json!({ "name": "A", "address": { "city": { "$ne": null } } }),
    )
    .await;
    assert_eq!(r.error_fields(), ["address.city"]);
    let id = app.create_account(app.owner().await, "Target").await;
    let r = app
        .patch(
            &format!("/api/v1/accounts/{id}"),
            Some(app.owner().await),
            json!({ "name": { "$set": "x" } }),
        )
        .await;
    assert_eq!(r.status, 422);
    let r = app
        .get("/api/v1/accounts?industry[$ne]=x", Some(app.owner().await))
        .await;
    r.assert_problem(400, "UNKNOWN_PARAMETER");
    let login = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({ "email": { "$gt": "" }, "password": { "$gt": "" } }),
        )
        .await;
    login.assert_problem(422, "VALIDATION_FAILED");
    assert_eq!(app.count("accounts", doc! {}).await, 1);
}

#[tokio::test]
async fn every_invalid_field_is_listed_at_once() {
    let app = TestApp::spawn().await;
    let r = create(&app, json!({ "name": "", "email": "x", "phone": "?" })).await;
    r.assert_problem(422, "VALIDATION_FAILED");
    assert_eq!(r.error_fields(), ["name", "email", "phone"]);
    nothing_written(&app).await;
}

#[tokio::test]
async fn malformed_json_and_an_empty_body_are_400() {
    let app = TestApp::spawn().await;
    for body in [&b"{\"name\": "[..], b"not json", b""] {
        let r = app
            .request(
                "POST",
                "/api/v1/accounts",
                Some(&app.owner().await.token),
                Some(body.to_vec()),
                &[],
            )
            .await;
        r.assert_problem(400, "MALFORMED_JSON");
    }
    nothing_written(&app).await;
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_415() {
    let app = TestApp::spawn().await;
    let r = app
        .request(
            "POST",
            "/api/v1/accounts",
            Some(&app.owner().await.token),
            None,
            &[("content-type", "text/plain")],
        )
        .await;
    r.assert_problem(415, "UNSUPPORTED_MEDIA_TYPE");
}

#[tokio::test]
async fn a_body_over_one_mebibyte_is_a_413() {
    let app = TestApp::spawn().await;
    let big =
        serde_json::to_vec(&json!({ "name": "A", "notes": "x".repeat(1024 * 1024) })).unwrap();
    let r = app
        .request(
            "POST",
            "/api/v1/accounts",
            Some(&app.owner().await.token),
            Some(big),
            &[],
        )
        .await;
    r.assert_problem(413, "PAYLOAD_TOO_LARGE");
    nothing_written(&app).await;
}

#[tokio::test]
async fn a_malformed_id_is_a_400_naming_the_id() {
    let app = TestApp::spawn().await;
    for id in [
        "123",
        "zzzzzzzzzzzzzzzzzzzzzzzz",
        "65a1b2c3d4e5f60718293a4b0",
    ] {
        let r = app
            .get(&format!("/api/v1/accounts/{id}"), Some(app.owner().await))
            .await;
        r.assert_problem(400, "INVALID_ID");
        assert_eq!(r.error_fields(), ["id"]);
    }
    let r = app
        .patch(
            "/api/v1/accounts/nope",
            Some(app.owner().await),
            json!({ "name": "x" }),
        )
        .await;
    r.assert_problem(400, "INVALID_ID");
}

#[tokio::test]
async fn a_patch_with_nothing_to_change_is_a_422_and_bumps_no_version() {
    let app = TestApp::spawn().await;
    let id = app.create_account(app.owner().await, "Same").await;
    let r = app
        .patch(
            &format!("/api/v1/accounts/{id}"),
            Some(app.owner().await),
            json!({}),
        )
        .await;
    r.assert_problem(422, "NOTHING_TO_UPDATE");
    let r = app
        .patch(
            &format!("/api/v1/accounts/{id}"),
            Some(app.owner().await),
            json!({ "name": null }),
        )
        .await;
    assert_eq!(r.error_fields(), ["name"]);
    assert_eq!(
        app.get(&format!("/api/v1/accounts/{id}"), Some(app.owner().await))
            .await
            .body["version"],
        1
    );
}

#[tokio::test]
async fn a_list_without_search_fields_refuses_q_instead_of_failing() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    for path in ["/api/v1/audit-log?q=x", "/api/v1/audit-log?q="] {
        let r = app.get(path, Some(owner)).await;
        r.assert_problem(400, "UNKNOWN_PARAMETER");
        assert!(r.error_fields().contains(&"q".to_string()), "{}", r.text);
    }
    // A list that searches still takes it.
    let r = app.get("/api/v1/accounts?q=x", Some(owner)).await;
    assert_eq!(r.status, 200, "{}", r.text);
}
