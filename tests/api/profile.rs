//! The caller's own account: name, password change, sessions.

use crate::helpers::*;
use bson::doc;
use serde_json::json;

#[tokio::test]
async fn a_user_changes_their_own_name_and_nothing_else() {
    let app = TestApp::spawn().await;
    let r = app
        .patch(
            "/api/v1/auth/me",
            Some(app.viewer().await),
            json!({ "firstName": "Vera" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["firstName"], "Vera");
    let audit = app
        .find(
            "audit_log",
            doc! { "action": "UPDATE", "resourceId": oid(&app.viewer().await.id) },
        )
        .await;
    assert_eq!(
        audit[0]
            .get_document("changes")
            .unwrap()
            .get_document("firstName")
            .unwrap()
            .get_str("to")
            .unwrap(),
        "Vera"
    );
    let r = app
        .patch(
            "/api/v1/auth/me",
            Some(app.viewer().await),
            json!({ "role": "OWNER" }),
        )
        .await;
    assert_eq!(r.error_fields(), ["role"]);
    let r = app
        .patch(
            "/api/v1/auth/me",
            Some(app.viewer().await),
            json!({ "lastName": "" }),
        )
        .await;
    assert_eq!(r.error_fields(), ["lastName"]);
    assert_eq!(
        app.get("/api/v1/auth/me", Some(app.viewer().await))
            .await
            .body["role"],
        "VIEWER"
    );
}

#[tokio::test]
async fn changing_the_password_needs_the_current_one_and_signs_out_other_sessions() {
    let app = TestApp::spawn().await;
    let other_session = app.login(&app.member().await.email).await;
    let wrong = app
        .post(
            "/api/v1/auth/password",
            Some(app.member().await),
            json!({ "currentPassword": "not it at all", "newPassword": "a brand new secret" }),
        )
        .await;
    wrong.assert_problem(422, "INVALID_CURRENT_PASSWORD");
    assert_eq!(wrong.error_fields(), ["currentPassword"]);
    let short = app
        .post(
            "/api/v1/auth/password",
            Some(app.member().await),
            json!({ "currentPassword": PASSWORD, "newPassword": "short" }),
        )
        .await;
    assert_eq!(short.error_fields(), ["newPassword"]);

    let r = app
        .post(
            "/api/v1/auth/password",
            Some(app.member().await),
            json!({ "currentPassword": PASSWORD, "newPassword": "a brand new secret" }),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    // This session lives on; the other one is signed out.
    assert_eq!(app.refresh(&app.member().await.refresh).await.status, 200);
    assert_eq!(app.refresh(&other_session.refresh).await.status, 401);
    let old = app.sign_in(&app.member().await.email, PASSWORD).await;
    assert_eq!(old.status, 401);
    let new = app
        .sign_in(&app.member().await.email, "a brand new secret")
        .await;
    assert_eq!(new.status, 200);
}

#[tokio::test]
async fn a_user_lists_their_sessions_and_signs_one_out() {
    let app = TestApp::spawn().await;
    let laptop = app.login(&app.admin().await.email).await;
    let r = app
        .get("/api/v1/auth/sessions", Some(app.admin().await))
        .await;
    assert_eq!(r.status, 200);
    let sessions = r.body["data"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    assert!(!r.text.contains("tokenHash"));
    let laptop_id = app
        .request(
            "GET",
            "/api/v1/auth/sessions",
            Some(&laptop.token),
            None,
            &[],
        )
        .await
        .body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Someone else cannot end it; its owner can.
    app.delete(
        &format!("/api/v1/auth/sessions/{laptop_id}"),
        Some(app.owner().await),
    )
    .await
    .assert_problem(404, "NOT_FOUND");
    assert_eq!(
        app.delete(
            &format!("/api/v1/auth/sessions/{laptop_id}"),
            Some(app.admin().await)
        )
        .await
        .status,
        204
    );
    assert_eq!(app.refresh(&laptop.refresh).await.status, 401);
    assert_eq!(
        app.get("/api/v1/auth/sessions", Some(app.admin().await))
            .await
            .body["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
