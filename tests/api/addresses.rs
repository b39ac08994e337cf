//! Email addresses belong to whoever proves them: an account an
//! administrator makes cannot sign in until its owner follows the emailed
//! link, and until then it blocks nobody (registering or accepting an
//! invitation releases it, audited in its organization); addresses only,
//! never mailboxes; invitations capped per address and per organization.

use bson::doc;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::mailbox::wait_for;

fn unique(who: &str) -> String {
    format!("{who}.{}@example.test", bson::oid::ObjectId::new().to_hex())
}

fn new_member(email: &str) -> Value {
    json!({ "email": email, "firstName": "Vic", "lastName": "Tim", "role": "MEMBER",
            "password": "squatter-password-123" })
}

fn registration(email: &str) -> Value {
    json!({ "organizationName": "Victim Motors", "email": email, "password": PASSWORD,
            "firstName": "Vera", "lastName": "Victim" })
}

/// What an attacker's organization can do today with someone else's
/// address: make it a member with a password, then deactivate it.
async fn squat(app: &TestApp, attacker: &Actor, victim: &str) -> String {
    let r = app
        .post("/api/v1/members", Some(attacker), new_member(victim))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.str("id");
    let r = app
        .patch(
            &format!("/api/v1/members/{id}"),
            Some(attacker),
            json!({ "status": "INACTIVE" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    id
}

#[tokio::test]
async fn an_account_an_admin_made_signs_in_only_after_its_owner_follows_the_link() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    let email = unique("made");
    let r = app
        .post("/api/v1/members", Some(owner), new_member(&email))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["emailVerified"], false);
    app.sign_in(&email, "squatter-password-123")
        .await
        .assert_problem(403, "EMAIL_NOT_VERIFIED");
    // A wrong password says nothing about the account.
    app.sign_in(&email, "not-the-password-1")
        .await
        .assert_problem(401, "INVALID_CREDENTIALS");

    let mail = wait_for(&email, "").await;
    let token = mail.token("http");
    let r = app
        .post("/api/v1/auth/verify-email", None, json!({ "token": token }))
        .await;
    assert!(r.status < 300, "{}", r.text);
    let r = app.sign_in(&email, "squatter-password-123").await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn an_unproven_account_never_blocks_the_addresss_owner_from_registering() {
    let app = TestApp::spawn().await;
    let attacker = app.owner().await;
    let victim = unique("victim");
    let squatter = squat(&app, attacker, &victim).await;

    // Registering is not proving: the registration waits for the link
    // that goes to the address, and nothing changes until it is followed.
    let r = app
        .post("/api/v1/auth/register", None, registration(&victim))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let held = app.find("users", doc! { "_id": oid(&squatter) }).await;
    assert_eq!(held[0].get_str("email").unwrap(), victim);
    let pending = app
        .find(
            "email_verifications",
            doc! { "registration": { "$exists": true } },
        )
        .await;
    assert_eq!(pending.len(), 1);
    let wanted = pending[0].get_str("tokenHash").unwrap().to_string();
    // The address has two links now: the squatter's own (never followed)
    // and the registration's; the owner follows the latter.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let token = loop {
        let found = crate::mailbox::messages_to(&victim)
            .into_iter()
            .map(|m| m.token("http"))
            .find(|t| shared::auth::tokens::hash_token(t) == wanted);
        if let Some(t) = found {
            break t;
        }
        assert!(std::time::Instant::now() < deadline, "no confirmation link");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let r = app
        .post("/api/v1/auth/verify-email", None, json!({ "token": token }))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);

    // The squatting account is released: deactivated, its address moved
    // aside, and its organization told why.
    let held = app.find("users", doc! { "email": &victim }).await;
    assert_eq!(held.len(), 1);
    assert_ne!(held[0].get_object_id("_id").unwrap(), oid(&squatter));
    let released = app.find("users", doc! { "_id": oid(&squatter) }).await;
    assert_eq!(released[0].get_str("releasedEmail").unwrap(), victim);
    assert_eq!(released[0].get_str("status").unwrap(), "INACTIVE");
    let audit = app
        .find(
            "audit_log",
            doc! { "resourceId": oid(&squatter), "changes.released": &victim },
        )
        .await;
    assert_eq!(audit.len(), 1);
    assert_eq!(
        audit[0].get_object_id("organizationId").unwrap(),
        oid(&attacker.org_id)
    );
    // The owner signs in to the new organization, verified; the squatter's
    // password opens nothing.
    let owner = app.sign_in(&victim, PASSWORD).await;
    assert_eq!(owner.status, 200, "{}", owner.text);
    assert_eq!(owner.body["user"]["role"], "OWNER");
    assert_eq!(owner.body["user"]["emailVerified"], true);
    app.sign_in(&victim, "squatter-password-123")
        .await
        .assert_problem(401, "INVALID_CREDENTIALS");
}

#[tokio::test]
async fn an_unproven_account_never_blocks_an_invitation_and_a_proven_one_does() {
    let app = TestApp::spawn().await;
    let attacker = app.owner().await;
    let inviter = app.other().await;
    let victim = unique("invited");
    let squatter = squat(&app, attacker, &victim).await;

    let r = app
        .post(
            "/api/v1/invitations",
            Some(inviter),
            json!({ "email": victim, "role": "MEMBER" }),
        )
        .await;
    assert_eq!(
        r.status, 201,
        "the squatter blocks no invitation: {}",
        r.text
    );
    let token = wait_for(&victim, "invited you").await.token("http");
    let r = app
        .post(
            "/api/v1/invitations/accept",
            None,
            json!({ "token": token, "firstName": "Vera", "lastName": "Victim", "password": PASSWORD }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let released = app.find("users", doc! { "_id": oid(&squatter) }).await;
    assert_eq!(released[0].get_str("releasedEmail").unwrap(), victim);

    // The invited account proved its address: it holds it, and a
    // registration is refused at once.
    let again = app
        .post("/api/v1/auth/register", None, registration(&victim))
        .await;
    again.assert_problem(409, "ALREADY_EXISTS");
    let r = app
        .post("/api/v1/members", Some(attacker), new_member(&victim))
        .await;
    r.assert_problem(409, "ALREADY_EXISTS");
}

#[tokio::test]
async fn an_email_is_an_address_not_a_mailbox() {
    let app = TestApp::spawn().await;
    for bad in [
        "x<victim@example.test>",
        "Victim <victim@example.test>",
        "victim@example.test, other@example.test",
        "\"v\"@example.test",
    ] {
        let r = app
            .post("/api/v1/auth/register", None, registration(bad))
            .await;
        r.assert_problem(422, "VALIDATION_FAILED");
        assert_eq!(r.error_fields(), ["email"], "{bad}");
        let r = app
            .post("/api/v1/members", Some(app.owner().await), new_member(bad))
            .await;
        assert_eq!(r.error_fields(), ["email"], "{bad}: {}", r.text);
        let r = app
            .post(
                "/api/v1/invitations",
                Some(app.owner().await),
                json!({ "email": bad, "role": "MEMBER" }),
            )
            .await;
        assert_eq!(r.error_fields(), ["email"], "{bad}: {}", r.text);
    }
    assert_eq!(
        app.count("users", doc! { "email": { "$regex": "victim" } })
            .await,
        0
    );
}

#[tokio::test]
async fn invitations_are_capped_per_address_and_per_organization() {
    let app = TestApp::spawn_with(&[("RATE_LIMIT_INVITATIONS_FREE", "5")]).await;
    let (owner, other) = (app.owner().await, app.other().await);
    let target = unique("popular");
    let invite = |by: &'static str, email: String| {
        let app = &app;
        async move {
            let actor = if by == "owner" {
                app.owner().await
            } else {
                app.other().await
            };
            app.post(
                "/api/v1/invitations",
                Some(actor),
                json!({ "email": email, "role": "VIEWER" }),
            )
            .await
        }
    };
    // 3 a day to one address, from all organizations together.
    for by in ["owner", "other", "owner"] {
        assert_eq!(invite(by, target.clone()).await.status, 201);
    }
    invite("other", target.clone())
        .await
        .assert_problem(429, "RATE_LIMIT_EXCEEDED");
    assert_eq!(app.count("invitations", doc! { "email": &target }).await, 3);
    assert_eq!(app.count("email_outbox", doc! { "to": &target }).await, 3);
    let _ = (owner, other);

    // The organization's own day (5 here): two invitations went out, three
    // more do, the next is refused and sends nothing.
    for n in 0..3 {
        let r = invite("owner", unique(&format!("team{n}"))).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let late = unique("late");
    invite("owner", late.clone())
        .await
        .assert_problem(429, "RATE_LIMIT_EXCEEDED");
    assert_eq!(app.count("email_outbox", doc! { "to": &late }).await, 0);
}

#[tokio::test]
async fn an_invitation_token_handed_to_its_owner_proves_nothing() {
    let app = TestApp::spawn().await;
    let attacker = app.owner().await;
    let other = app.other().await;
    let victim = unique("handed");
    let squatter = squat(&app, other, &victim).await;
    // The attacker's OWNER asks for the token and accepts it themselves.
    let r = app
        .post(
            "/api/v1/invitations?returnToken=true",
            Some(attacker),
            json!({ "email": victim, "role": "MEMBER" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let token = r.str("token");
    let r = app
        .post(
            "/api/v1/invitations/accept",
            None,
            json!({ "token": token, "firstName": "Not", "lastName": "Victim", "password": PASSWORD }),
        )
        .await;
    // The squatter (unproven) still holds the address: no release.
    r.assert_problem(409, "ALREADY_EXISTS");
    let held = app.find("users", doc! { "_id": oid(&squatter) }).await;
    assert_eq!(held[0].get_str("email").unwrap(), victim);
    assert_eq!(app.count("users", doc! { "email": &victim }).await, 1);
}
