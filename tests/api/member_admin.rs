//! Managing members: roles, approval and deactivation, removal, and the rules
//! around them (nobody changes their own role, ADMINs are an OWNER's
//! business, the last OWNER stays).

use crate::helpers::*;
use bson::doc;
use serde_json::json;

fn path(actor: &Actor) -> String {
    format!("/api/v1/members/{}", actor.id)
}

#[tokio::test]
async fn any_member_reads_a_member_and_another_organizations_member_is_a_404() {
    let app = TestApp::spawn().await;
    let r = app
        .get(&path(app.admin().await), Some(app.viewer().await))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["role"], "ADMIN");
    assert!(!r.text.contains("passwordHash"));
    app.get(&path(app.other().await), Some(app.owner().await))
        .await
        .assert_problem(404, "NOT_FOUND");
    app.patch(
        &path(app.other().await),
        Some(app.owner().await),
        json!({ "role": "VIEWER" }),
    )
    .await
    .assert_problem(404, "NOT_FOUND");
    app.delete(&path(app.other().await), Some(app.owner().await))
        .await
        .assert_problem(404, "NOT_FOUND");
}

#[tokio::test]
async fn an_admin_changes_roles_up_to_member_and_the_change_applies_on_the_next_request() {
    let app = TestApp::spawn().await;
    let r = app
        .patch(
            &path(app.viewer().await),
            Some(app.admin().await),
            json!({ "role": "MEMBER" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["role"], "MEMBER");
    assert_eq!(
        app.post(
            "/api/v1/accounts",
            Some(app.viewer().await),
            json!({ "name": "Now allowed" })
        )
        .await
        .status,
        201
    );
    let audit = app
        .find(
            "audit_log",
            doc! { "action": "UPDATE", "resource": "user", "resourceId": oid(&app.viewer().await.id) },
        )
        .await;
    assert_eq!(
        audit[0]
            .get_document("changes")
            .unwrap()
            .get_document("role")
            .unwrap(),
        &doc! { "from": "VIEWER", "to": "MEMBER" }
    );
}

#[tokio::test]
async fn making_or_changing_an_admin_is_for_an_owner() {
    let app = TestApp::spawn().await;
    let r = app
        .patch(
            &path(app.member().await),
            Some(app.admin().await),
            json!({ "role": "ADMIN" }),
        )
        .await;
    r.assert_problem(403, "PERMISSION_DENIED");
    assert_eq!(r.body["requiredRole"], "OWNER");
    let other_admin = app.add_member(app.owner().await, "ADMIN").await;
    app.patch(
        &path(&other_admin),
        Some(app.admin().await),
        json!({ "role": "VIEWER" }),
    )
    .await
    .assert_problem(403, "PERMISSION_DENIED");
    app.patch(
        &path(&other_admin),
        Some(app.admin().await),
        json!({ "status": "INACTIVE" }),
    )
    .await
    .assert_problem(403, "PERMISSION_DENIED");
    app.delete(&path(&other_admin), Some(app.admin().await))
        .await
        .assert_problem(403, "PERMISSION_DENIED");
    let r = app
        .patch(
            &path(app.member().await),
            Some(app.owner().await),
            json!({ "role": "ADMIN" }),
        )
        .await;
    assert_eq!(r.body["role"], "ADMIN");
    let r = app
        .patch(
            &path(app.member().await),
            Some(app.owner().await),
            json!({ "role": "OWNER" }),
        )
        .await;
    r.assert_problem(422, "VALIDATION_FAILED");
    assert_eq!(r.error_fields(), ["role"]);
}

#[tokio::test]
async fn nobody_changes_their_own_role_or_status() {
    let app = TestApp::spawn().await;
    for actor in [app.admin().await, app.owner().await] {
        let r = app
            .patch(&path(actor), Some(actor), json!({ "role": "VIEWER" }))
            .await;
        r.assert_problem(422, "SELF_CHANGE");
        let r = app
            .patch(&path(actor), Some(actor), json!({ "status": "INACTIVE" }))
            .await;
        r.assert_problem(422, "SELF_CHANGE");
        app.delete(&path(actor), Some(actor))
            .await
            .assert_problem(422, "SELF_CHANGE");
    }
}

#[tokio::test]
async fn the_last_owner_cannot_be_demoted_deactivated_or_removed() {
    let app = TestApp::spawn().await;
    let second = app.add_member(app.owner().await, "ADMIN").await;
    // Make a second owner directly, then let them try to remove the first.
    app.set_user(&second, doc! { "role": "OWNER" }).await;
    let r = app
        .patch(
            &path(app.owner().await),
            Some(&second),
            json!({ "role": "ADMIN" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Now `second` is the only owner; the former owner (an ADMIN) cannot touch them,
    // and nobody can take the last owner away.
    for (body, method) in [
        (json!({ "role": "ADMIN" }), "PATCH"),
        (json!({ "status": "INACTIVE" }), "PATCH"),
        (json!({}), "DELETE"),
    ] {
        let r = app
            .send(method, &path(&second), Some(app.owner().await), body)
            .await;
        assert_eq!(r.status, 403, "{}", r.text);
    }
    let r = app
        .patch(&path(&second), Some(&second), json!({ "role": "ADMIN" }))
        .await;
    r.assert_problem(422, "SELF_CHANGE");
    assert_eq!(
        app.count(
            "users",
            doc! { "organizationId": oid(&app.owner().await.org_id), "role": "OWNER", "status": "ACTIVE" }
        )
        .await,
        1
    );
}

#[tokio::test]
async fn approving_a_pending_member_lets_them_sign_in() {
    let app = TestApp::spawn().await;
    app.set_user(app.viewer().await, doc! { "status": "PENDING" })
        .await;
    let r = app.sign_in(&app.viewer().await.email, PASSWORD).await;
    r.assert_problem(403, "USER_PENDING");
    let r = app
        .patch(
            &path(app.viewer().await),
            Some(app.admin().await),
            json!({ "status": "ACTIVE" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app.sign_in(&app.viewer().await.email, PASSWORD).await;
    assert_eq!(r.status, 200);
    let r = app
        .patch(
            &path(app.viewer().await),
            Some(app.admin().await),
            json!({ "status": "PENDING" }),
        )
        .await;
    assert_eq!(r.error_fields(), ["status"]);
}

#[tokio::test]
async fn deactivation_revokes_sessions_and_refuses_the_next_request_until_reactivated() {
    let app = TestApp::spawn().await;
    let r = app
        .patch(
            &path(app.member().await),
            Some(app.admin().await),
            json!({ "status": "INACTIVE" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.get("/api/v1/accounts", Some(app.member().await))
        .await
        .assert_problem(403, "USER_INACTIVE");
    let r = app.refresh(&app.member().await.refresh).await;
    assert_eq!(r.status, 401);
    let r = app
        .patch(
            &path(app.member().await),
            Some(app.admin().await),
            json!({ "status": "ACTIVE" }),
        )
        .await;
    assert_eq!(r.status, 200);
    // The deactivation ended every session: the member signs in again.
    app.get("/api/v1/accounts", Some(app.member().await))
        .await
        .assert_problem(401, "SESSION_REVOKED");
    let member = app.login(&app.member().await.email).await;
    assert_eq!(app.get("/api/v1/accounts", Some(&member)).await.status, 200);
}

#[tokio::test]
async fn a_removed_member_is_gone_but_their_records_stay_attributed() {
    let app = TestApp::spawn().await;
    let id = app
        .create_account(app.member().await, "Made by a leaver")
        .await;
    let r = app
        .delete(&path(app.member().await), Some(app.admin().await))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    app.get(&path(app.member().await), Some(app.admin().await))
        .await
        .assert_problem(404, "NOT_FOUND");
    app.get("/api/v1/accounts", Some(app.member().await))
        .await
        .assert_problem(401, "INVALID_TOKEN");
    let account = app
        .get(&format!("/api/v1/accounts/{id}"), Some(app.admin().await))
        .await;
    assert_eq!(account.body["createdBy"], app.member().await.id.as_str());
    let audit = app
        .find("audit_log", doc! { "action": "DELETE", "resource": "user" })
        .await;
    assert_eq!(
        audit[0]
            .get_document("changes")
            .unwrap()
            .get_str("email")
            .unwrap(),
        app.member().await.email
    );
}

#[tokio::test]
async fn a_member_patch_needs_role_or_status_and_rejects_anything_else() {
    let app = TestApp::spawn().await;
    app.patch(
        &path(app.viewer().await),
        Some(app.admin().await),
        json!({}),
    )
    .await
    .assert_problem(422, "NOTHING_TO_UPDATE");
    let r = app
        .patch(
            &path(app.viewer().await),
            Some(app.admin().await),
            json!({ "email": "new@example.test" }),
        )
        .await;
    assert_eq!(r.error_fields(), ["email"]);
    let r = app
        .patch(
            &path(app.viewer().await),
            Some(app.admin().await),
            json!({ "role": "KING" }),
        )
        .await;
    assert_eq!(r.error_fields(), ["role"]);
    app.get("/api/v1/members/nope", Some(app.admin().await))
        .await
        .assert_problem(400, "INVALID_ID");
}
