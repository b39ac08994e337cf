//! The smaller findings of the second hardening: an idempotency key bound
//! to the query string too, a password change voiding reset links, a body
//! that must say it is JSON, and one-time links never stored in plain text
//! (sealed in the outbox, dropped when an email is given up).

use bson::doc;
use serde_json::json;

use crate::email::{app_with_smtp_down, free_port, request_reset, unique_email};
use crate::helpers::*;
use crate::mailbox::wait_for;

#[tokio::test]
async fn an_idempotency_key_is_bound_to_the_query_string_too() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    let post = |path: &'static str, email: String| {
        let app = &app;
        async move {
            let body = serde_json::to_vec(&json!({ "email": email, "role": "VIEWER" })).unwrap();
            app.request(
                "POST",
                path,
                Some(&app.owner().await.token),
                Some(body),
                &[("idempotency-key", "invite-once")],
            )
            .await
        }
    };
    let email = unique_email("keyed");
    let first = post("/api/v1/invitations", email.clone()).await;
    assert_eq!(first.status, 201, "{}", first.text);
    assert!(first.body.get("token").is_none_or(|t| t.is_null()));
    // The same key and body, asking for the token: not the same request.
    let asking = post("/api/v1/invitations?returnToken=true", email.clone()).await;
    asking.assert_problem(422, "IDEMPOTENCY_KEY_REUSED");
    assert!(!asking.text.contains("token\":\""), "{}", asking.text);
    // The first request again is its replay.
    let again = post("/api/v1/invitations", email.clone()).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.body["id"], first.body["id"]);
    assert_eq!(app.count("invitations", doc! { "email": &email }).await, 1);
    let _ = owner;
}

#[tokio::test]
async fn a_password_change_voids_the_reset_links_asked_for_before_it() {
    let app = TestApp::spawn().await;
    let member = app.member().await;
    assert_eq!(request_reset(&app, &member.email).await.status, 202);
    let mail = wait_for(&member.email, "Reset your password").await;
    let token = mail.token("http://localhost:5173/reset-password?token=");
    let r = app
        .post(
            "/api/v1/auth/password",
            Some(member),
            json!({ "currentPassword": PASSWORD, "newPassword": "the-owners-new-passphrase-1" }),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = app
        .post(
            "/api/v1/auth/password-reset",
            None,
            json!({ "token": token, "newPassword": "an-attackers-passphrase-2" }),
        )
        .await;
    r.assert_problem(400, "INVALID_RESET_TOKEN");
    assert_eq!(
        app.sign_in(&member.email, "the-owners-new-passphrase-1")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_body_must_say_it_is_json() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    let body = serde_json::to_vec(&json!({ "name": "Untyped GmbH" })).unwrap();
    // No type (an empty header) or another type: refused before any work.
    for mime in ["", "text/plain"] {
        let r = app
            .request(
                "POST",
                "/api/v1/accounts",
                Some(&owner.token),
                Some(body.clone()),
                &[("content-type", mime)],
            )
            .await;
        r.assert_problem(415, "UNSUPPORTED_MEDIA_TYPE");
    }
    // A route that reads no body refuses an untyped one too.
    let id = app.create_account(owner, "Typed GmbH").await;
    assert_eq!(
        app.delete(&format!("/api/v1/accounts/{id}"), Some(owner))
            .await
            .status,
        204
    );
    let r = app
        .request(
            "POST",
            &format!("/api/v1/accounts/{id}/restore"),
            Some(&owner.token),
            Some(b"name=x".to_vec()),
            &[("content-type", "application/x-www-form-urlencoded")],
        )
        .await;
    r.assert_problem(415, "UNSUPPORTED_MEDIA_TYPE");
    assert_eq!(
        app.count("accounts", doc! { "name": "Untyped GmbH" }).await,
        0
    );
    assert_eq!(
        app.count("accounts", doc! { "_id": oid(&id), "deletedAt": null })
            .await,
        0
    );
}

#[tokio::test]
async fn one_time_links_are_never_stored_in_plain_text() {
    // SMTP down: the reset email waits in the outbox (two attempts
    // allowed, one a second after the first), then is given up.
    let app = app_with_smtp_down(free_port(), &[("EMAIL_MAX_ATTEMPTS", "2")]).await;
    let member = app.member().await;
    assert_eq!(request_reset(&app, &member.email).await.status, 202);
    let filter = doc! { "to": &member.email, "kind": "password-reset" };
    let entries = app.find("email_outbox", filter.clone()).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    let stored = format!("{:?}", entries[0]);
    assert!(!stored.contains("reset-password?token="), "{stored}");
    assert!(!stored.contains("Reset your password</"), "{stored}");
    assert!(entries[0].get_binary_generic("sealed").is_ok(), "{stored}");
    // Given up after its second attempt: no bodies are kept.
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert_eq!(app.cron("send-emails").await.status, 200);
        if app.find("email_outbox", filter.clone()).await[0].get_str("status") == Ok("FAILED") {
            break;
        }
    }
    let entry = &app.find("email_outbox", filter).await[0];
    assert_eq!(entry.get_str("status").unwrap(), "FAILED", "{entry:?}");
    for k in ["sealed", "text", "html"] {
        assert_eq!(entry.get(k), Some(&bson::Bson::Null), "{k}: {entry:?}");
    }
}
