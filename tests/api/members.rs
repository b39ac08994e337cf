//! Members: listing (any role) and direct creation (ADMIN+, ADMINs only by
//! an OWNER).

use crate::helpers::*;
use bson::doc;
use serde_json::json;

fn new_member(email: &str, role: &str) -> serde_json::Value {
    json!({ "email": email, "firstName": "New", "lastName": "Member", "role": role, "password": PASSWORD })
}

#[tokio::test]
async fn every_role_lists_the_members_without_secrets() {
    let app = TestApp::spawn().await;
    for actor in [
        app.viewer().await,
        app.member().await,
        app.admin().await,
        app.owner().await,
    ] {
        let r = app.get("/api/v1/members", Some(actor)).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body["data"].as_array().unwrap().len(), 4);
        assert!(
            !r.text.contains("passwordHash") && !r.text.contains("$2b$"),
            "{}",
            r.text
        );
    }
    let r = app
        .get("/api/v1/members?role=ADMIN", Some(app.viewer().await))
        .await;
    let emails: Vec<&str> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, [app.admin().await.email.as_str()]);
}

#[tokio::test]
async fn an_admin_adds_members_and_viewers_but_not_admins() {
    let app = TestApp::spawn().await;
    let r = app
        .post(
            "/api/v1/members",
            Some(app.admin().await),
            new_member("m@example.test", "MEMBER"),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["status"], "ACTIVE");
    assert!(!r.text.contains("passwordHash"));
    let r = app
        .post(
            "/api/v1/members",
            Some(app.admin().await),
            new_member("a@example.test", "ADMIN"),
        )
        .await;
    r.assert_problem(403, "PERMISSION_DENIED");
    assert_eq!(r.body["requiredRole"], "OWNER");
    assert_eq!(
        app.count("users", doc! { "email": "a@example.test" }).await,
        0
    );
    let r = app
        .post(
            "/api/v1/members",
            Some(app.owner().await),
            new_member("a@example.test", "ADMIN"),
        )
        .await;
    assert_eq!(r.status, 201);
    let audit = app.find("audit_log", doc! { "action": "CREATE", "resource": "user", "resourceId": oid(r.body["id"].as_str().unwrap()) }).await;
    assert_eq!(audit.len(), 1);
    assert_eq!(
        audit[0]
            .get_document("changes")
            .unwrap()
            .get_str("role")
            .unwrap(),
        "ADMIN"
    );
}

#[tokio::test]
async fn members_and_viewers_cannot_add_members() {
    let app = TestApp::spawn().await;
    for actor in [app.member().await, app.viewer().await] {
        let r = app
            .post(
                "/api/v1/members",
                Some(actor),
                new_member("x@example.test", "VIEWER"),
            )
            .await;
        r.assert_problem(403, "PERMISSION_DENIED");
    }
    assert_eq!(
        app.count("users", doc! { "email": "x@example.test" }).await,
        0
    );
}

#[tokio::test]
async fn an_owner_cannot_be_added_and_an_unknown_role_is_refused() {
    let app = TestApp::spawn().await;
    for role in ["OWNER", "SUPERUSER", "admin"] {
        let r = app
            .post(
                "/api/v1/members",
                Some(app.owner().await),
                new_member("o@example.test", role),
            )
            .await;
        r.assert_problem(422, "VALIDATION_FAILED");
        assert_eq!(r.error_fields(), ["role"]);
    }
}

#[tokio::test]
async fn a_member_email_already_in_use_anywhere_is_a_409() {
    let app = TestApp::spawn().await;
    let r = app
        .post(
            "/api/v1/members",
            Some(app.owner().await),
            new_member(&app.other().await.email, "VIEWER"),
        )
        .await;
    r.assert_problem(409, "ALREADY_EXISTS");
    assert_eq!(r.error_fields(), ["email"]);
}
