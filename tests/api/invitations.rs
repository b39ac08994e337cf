//! Invitations (create, list, accept, reuse, expiry, revoke, forgery) and
//! join requests with approval.

use crate::helpers::*;
use crate::mailbox;
use bson::doc;
use serde_json::{json, Value};

/// Invites `email`; a 201 gets the token from the invitation email (as
/// `token` in the answer's body, where the tests read it).
async fn invite(app: &TestApp, by: &Actor, email: &str, role: &str) -> Resp {
    let to = email.to_lowercase();
    let seen = mailbox::seen(&to);
    let mut r = app
        .post(
            "/api/v1/invitations",
            Some(by),
            json!({ "email": email, "role": role }),
        )
        .await;
    if r.status == 201 {
        assert!(r.body.get("token").is_none(), "{}", r.text);
        let mail = mailbox::wait_new(&to, &seen).await;
        r.body["token"] = json!(mail.token("/accept-invitation?token="));
    }
    r
}

fn acceptance(token: &str) -> Value {
    json!({ "token": token, "password": PASSWORD, "firstName": "Ina", "lastName": "Vite" })
}

#[tokio::test]
async fn an_accepted_invitation_creates_an_active_member_with_the_invited_role() {
    let app = TestApp::spawn().await;
    let r = invite(&app, app.admin().await, "New.Hire@Example.test", "MEMBER").await;
    assert_eq!(r.status, 201, "{}", r.text);
    let token = r.str("token");
    assert_eq!(r.body["email"], "new.hire@example.test");
    let stored = app
        .find("invitations", doc! { "email": "new.hire@example.test" })
        .await
        .remove(0);
    assert_ne!(
        stored.get_str("tokenHash").unwrap(),
        token,
        "the token is stored hashed"
    );
    let listed = app
        .get("/api/v1/invitations", Some(app.admin().await))
        .await;
    assert_eq!(listed.body["data"].as_array().unwrap().len(), 1);
    assert!(!listed.text.contains("token"), "{}", listed.text);

    let r = app
        .post("/api/v1/invitations/accept", None, acceptance(&token))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["user"]["role"], "MEMBER");
    assert_eq!(r.body["user"]["status"], "ACTIVE");
    assert_eq!(
        r.body["organization"]["id"],
        app.owner().await.org_id.as_str()
    );
    let me = app
        .request(
            "GET",
            "/api/v1/auth/me",
            Some(r.body["accessToken"].as_str().unwrap()),
            None,
            &[],
        )
        .await;
    assert_eq!(me.body["role"], "MEMBER");
    assert!(app
        .get("/api/v1/invitations", Some(app.admin().await))
        .await
        .body["data"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_used_revoked_expired_or_forged_invitation_creates_nothing() {
    let app = TestApp::spawn().await;
    let used = invite(&app, app.owner().await, "used@example.test", "VIEWER")
        .await
        .str("token");
    assert_eq!(
        app.post("/api/v1/invitations/accept", None, acceptance(&used))
            .await
            .status,
        201
    );
    app.post("/api/v1/invitations/accept", None, acceptance(&used))
        .await
        .assert_problem(409, "INVITATION_USED");

    let r = invite(&app, app.owner().await, "revoked@example.test", "VIEWER").await;
    let (id, revoked) = (r.str("id"), r.str("token"));
    assert_eq!(
        app.delete(
            &format!("/api/v1/invitations/{id}"),
            Some(app.admin().await)
        )
        .await
        .status,
        204
    );
    app.delete(
        &format!("/api/v1/invitations/{id}"),
        Some(app.admin().await),
    )
    .await
    .assert_problem(404, "NOT_FOUND");
    app.post("/api/v1/invitations/accept", None, acceptance(&revoked))
        .await
        .assert_problem(409, "INVITATION_REVOKED");

    let expired = invite(&app, app.owner().await, "expired@example.test", "VIEWER")
        .await
        .str("token");
    app.db
        .collection::<bson::Document>("invitations")
        .update_one(
            doc! { "email": "expired@example.test" },
            doc! { "$set": { "expiresAt": bson::DateTime::from_millis(0) } },
        )
        .await
        .unwrap();
    app.post("/api/v1/invitations/accept", None, acceptance(&expired))
        .await
        .assert_problem(409, "INVITATION_EXPIRED");

    let r = app
        .post(
            "/api/v1/invitations/accept",
            None,
            acceptance("forged-token"),
        )
        .await;
    r.assert_problem(400, "INVALID_INVITATION");
    assert_eq!(r.error_fields(), ["token"]);
    for email in ["revoked@example.test", "expired@example.test"] {
        assert_eq!(app.count("users", doc! { "email": email }).await, 0);
    }
}

#[tokio::test]
async fn inviting_an_admin_is_for_an_owner_and_owners_are_never_invited() {
    let app = TestApp::spawn().await;
    invite(&app, app.admin().await, "boss@example.test", "ADMIN")
        .await
        .assert_problem(403, "PERMISSION_DENIED");
    assert_eq!(
        invite(&app, app.owner().await, "boss@example.test", "ADMIN")
            .await
            .status,
        201
    );
    let r = invite(&app, app.owner().await, "king@example.test", "OWNER").await;
    assert_eq!(r.error_fields(), ["role"]);
    let r = invite(&app, app.owner().await, &app.other().await.email, "VIEWER").await;
    r.assert_problem(409, "ALREADY_EXISTS");
    invite(&app, app.member().await, "x@example.test", "VIEWER")
        .await
        .assert_problem(403, "PERMISSION_DENIED");
}

#[tokio::test]
async fn inviting_an_email_again_replaces_the_pending_invitation() {
    let app = TestApp::spawn().await;
    let first = invite(&app, app.owner().await, "twice@example.test", "VIEWER")
        .await
        .str("token");
    let second = invite(&app, app.owner().await, "twice@example.test", "MEMBER")
        .await
        .str("token");
    app.post("/api/v1/invitations/accept", None, acceptance(&first))
        .await
        .assert_problem(409, "INVITATION_REVOKED");
    let r = app
        .post("/api/v1/invitations/accept", None, acceptance(&second))
        .await;
    assert_eq!(r.body["user"]["role"], "MEMBER");
}

#[tokio::test]
async fn another_organizations_invitation_cannot_be_revoked() {
    let app = TestApp::spawn().await;
    let id = invite(&app, app.other().await, "theirs@example.test", "VIEWER")
        .await
        .str("id");
    app.delete(
        &format!("/api/v1/invitations/{id}"),
        Some(app.owner().await),
    )
    .await
    .assert_problem(404, "NOT_FOUND");
    assert!(app
        .get("/api/v1/invitations", Some(app.owner().await))
        .await
        .body["data"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_join_request_waits_for_approval_before_the_user_can_sign_in() {
    let app = TestApp::spawn().await;
    let slug = app
        .get("/api/v1/organization", Some(app.owner().await))
        .await
        .str("slug");
    let body = json!({ "organizationSlug": slug, "email": "joiner@example.test", "password": PASSWORD, "firstName": "Jo", "lastName": "Iner" });
    let r = app.post("/api/v1/auth/join", None, body.clone()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["user"]["status"], "PENDING");
    assert!(r.body.get("accessToken").is_none());
    let login = json!({ "email": "joiner@example.test", "password": PASSWORD });
    app.post("/api/v1/auth/login", None, login.clone())
        .await
        .assert_problem(403, "USER_PENDING");
    app.post("/api/v1/auth/join", None, body)
        .await
        .assert_problem(409, "ALREADY_EXISTS");

    let id = r.body["user"]["id"].as_str().unwrap();
    let approved = app
        .patch(
            &format!("/api/v1/members/{id}"),
            Some(app.admin().await),
            json!({ "status": "ACTIVE" }),
        )
        .await;
    assert_eq!(approved.status, 200, "{}", approved.text);
    assert_eq!(
        app.post("/api/v1/auth/login", None, login).await.status,
        200
    );
}

#[tokio::test]
async fn a_join_request_for_an_unknown_organization_names_the_slug() {
    let app = TestApp::spawn().await;
    let r = app
        .post("/api/v1/auth/join", None, json!({ "organizationSlug": "no-such-org", "email": "j@example.test", "password": PASSWORD, "firstName": "J", "lastName": "K" }))
        .await;
    r.assert_problem(422, "ORGANIZATION_NOT_FOUND");
    assert_eq!(r.error_fields(), ["organizationSlug"]);
    assert_eq!(
        app.count("users", doc! { "email": "j@example.test" }).await,
        0
    );
}
