//! The organization: read, settings, plan, soft delete, ownership transfer.

use crate::helpers::*;
use bson::doc;
use serde_json::json;

#[tokio::test]
async fn every_member_reads_the_organization_and_admins_change_its_name_and_settings() {
    let app = TestApp::spawn().await;
    let r = app
        .get("/api/v1/organization", Some(app.viewer().await))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["id"], app.owner().await.org_id.as_str());
    assert_eq!(r.body["plan"], "FREE");
    let r = app
        .patch("/api/v1/organization", Some(app.admin().await), json!({ "name": "Acme Garage GmbH", "settings": { "timezone": "Europe/Berlin", "currency": "EUR" } }))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["name"], "Acme Garage GmbH");
    // The time zone changed (from UTC): when is kept beside it, read-only.
    let changed = r.body["settings"]["timezoneChangedAt"]
        .as_str()
        .unwrap_or_default();
    assert!(changed.ends_with('Z') && changed.len() >= 20, "{}", r.body);
    let mut settings = r.body["settings"].clone();
    settings
        .as_object_mut()
        .unwrap()
        .remove("timezoneChangedAt");
    assert_eq!(
        settings,
        json!({ "timezone": "Europe/Berlin", "currency": "EUR" })
    );
    let audit = app
        .find(
            "audit_log",
            doc! { "action": "UPDATE", "resource": "organization" },
        )
        .await;
    assert_eq!(audit.len(), 1);
    assert!(audit[0]
        .get_document("changes")
        .unwrap()
        .contains_key("name"));
    app.patch(
        "/api/v1/organization",
        Some(app.member().await),
        json!({ "name": "x" }),
    )
    .await
    .assert_problem(403, "PERMISSION_DENIED");
}

#[tokio::test]
async fn invalid_organization_settings_name_their_field_and_change_nothing() {
    let app = TestApp::spawn().await;
    let r = app
        .patch(
            "/api/v1/organization",
            Some(app.owner().await),
            json!({ "name": "", "settings": { "currency": "euro", "locale": "x" } }),
        )
        .await;
    r.assert_problem(422, "VALIDATION_FAILED");
    assert_eq!(
        r.error_fields(),
        ["name", "settings.currency", "settings.locale"]
    );
    let r = app
        .patch(
            "/api/v1/organization",
            Some(app.owner().await),
            json!({ "plan": "ENTERPRISE" }),
        )
        .await;
    assert_eq!(r.error_fields(), ["plan"]);
    assert_eq!(
        app.get("/api/v1/organization", Some(app.owner().await))
            .await
            .body["plan"],
        "FREE"
    );
}

#[tokio::test]
async fn only_the_owner_changes_the_plan_and_the_new_limit_applies_on_the_next_request() {
    let app = TestApp::spawn().await;
    // Upgrades are the operator's (or billing's); the owner moves down.
    app.db
        .collection::<bson::Document>("organizations")
        .update_one(
            doc! { "_id": oid(&app.owner().await.org_id) },
            doc! { "$set": { "plan": "ENTERPRISE" } },
        )
        .await
        .unwrap();
    let r = app
        .put(
            "/api/v1/organization/plan",
            Some(app.admin().await),
            json!({ "plan": "PRO" }),
        )
        .await;
    r.assert_problem(403, "PERMISSION_DENIED");
    let r = app
        .put(
            "/api/v1/organization/plan",
            Some(app.owner().await),
            json!({ "plan": "GOLD" }),
        )
        .await;
    r.assert_problem(422, "VALIDATION_FAILED");
    let r = app
        .put(
            "/api/v1/organization/plan",
            Some(app.owner().await),
            json!({ "plan": "PRO" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["plan"], "PRO");
    let next = app.get("/api/v1/accounts", Some(app.viewer().await)).await;
    assert_eq!(next.header("ratelimit-limit"), Some("1000"));
}

#[tokio::test]
async fn deleting_the_organization_needs_its_slug_and_then_refuses_every_member() {
    let app = TestApp::spawn().await;
    app.everyone().await;
    let slug = app
        .get("/api/v1/organization", Some(app.owner().await))
        .await
        .str("slug");
    for body in [json!({}), json!({ "confirm": "wrong" })] {
        let r = app
            .send(
                "DELETE",
                "/api/v1/organization",
                Some(app.owner().await),
                body.clone(),
            )
            .await;
        r.assert_problem(422, "VALIDATION_FAILED");
        assert_eq!(r.error_fields(), ["confirm"]);
    }
    assert_eq!(
        app.get("/api/v1/accounts", Some(app.viewer().await))
            .await
            .status,
        200
    );
    let r = app
        .send(
            "DELETE",
            "/api/v1/organization",
            Some(app.admin().await),
            json!({ "confirm": slug }),
        )
        .await;
    r.assert_problem(403, "PERMISSION_DENIED");

    let r = app
        .send(
            "DELETE",
            "/api/v1/organization",
            Some(app.owner().await),
            json!({ "confirm": slug }),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    for actor in [
        app.owner().await,
        app.admin().await,
        app.member().await,
        app.viewer().await,
    ] {
        app.get("/api/v1/accounts", Some(actor))
            .await
            .assert_problem(403, "ORGANIZATION_INACTIVE");
        let refresh = app.refresh(&actor.refresh).await;
        assert_eq!(refresh.status, 401, "{}", refresh.text);
    }
    let org = app
        .find(
            "organizations",
            doc! { "_id": oid(&app.owner().await.org_id) },
        )
        .await
        .remove(0);
    assert!(!org.get_bool("isActive").unwrap());
    assert!(org.get_datetime("deleteScheduledAt").is_ok());
    assert_eq!(
        app.get("/api/v1/accounts", Some(app.other().await))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn ownership_moves_to_an_active_member_in_one_step() {
    let app = TestApp::spawn().await;
    let body = |id: &str| json!({ "memberId": id });
    let r = app
        .post(
            "/api/v1/organization/transfer-ownership",
            Some(app.admin().await),
            body(&app.member().await.id),
        )
        .await;
    r.assert_problem(403, "PERMISSION_DENIED");
    let r = app
        .post(
            "/api/v1/organization/transfer-ownership",
            Some(app.owner().await),
            body(&app.owner().await.id),
        )
        .await;
    assert_eq!(r.error_fields(), ["memberId"]);
    let r = app
        .post(
            "/api/v1/organization/transfer-ownership",
            Some(app.owner().await),
            body(&app.other().await.id),
        )
        .await;
    r.assert_problem(404, "NOT_FOUND");
    app.set_user(app.viewer().await, doc! { "status": "INACTIVE" })
        .await;
    let r = app
        .post(
            "/api/v1/organization/transfer-ownership",
            Some(app.owner().await),
            body(&app.viewer().await.id),
        )
        .await;
    r.assert_problem(422, "MEMBER_NOT_ACTIVE");

    let r = app
        .post(
            "/api/v1/organization/transfer-ownership",
            Some(app.owner().await),
            body(&app.member().await.id),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["role"], "OWNER");
    assert_eq!(
        app.get("/api/v1/auth/me", Some(app.owner().await))
            .await
            .body["role"],
        "ADMIN"
    );
    assert_eq!(
        app.get("/api/v1/auth/me", Some(app.member().await))
            .await
            .body["role"],
        "OWNER"
    );
    let owners = app
        .count(
            "users",
            doc! { "organizationId": oid(&app.owner().await.org_id), "role": "OWNER" },
        )
        .await;
    assert_eq!(owners, 1);
    // The former owner can no longer do what only an owner does.
    let r = app
        .put(
            "/api/v1/organization/plan",
            Some(app.owner().await),
            json!({ "plan": "PRO" }),
        )
        .await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn an_ownership_transfer_that_fails_half_way_changes_nobody() {
    let app = TestApp::spawn_isolated().await;
    let fail_points = FailPoints::take().await;
    app.everyone().await;
    // The request's update commands (in its transaction): the promotion,
    // then the demotion, which is made to fail.
    app.fail_command(&fail_points, "update", 1).await;
    let r = app
        .post(
            "/api/v1/organization/transfer-ownership",
            Some(app.owner().await),
            json!({ "memberId": app.member().await.id }),
        )
        .await;
    r.assert_problem(500, "INTERNAL_ERROR");
    assert_eq!(
        app.get("/api/v1/auth/me", Some(app.member().await))
            .await
            .body["role"],
        "MEMBER"
    );
    assert_eq!(
        app.get("/api/v1/auth/me", Some(app.owner().await))
            .await
            .body["role"],
        "OWNER"
    );
    assert!(app
        .find("audit_log", doc! { "changes.reason": "OWNERSHIP_TRANSFER" })
        .await
        .is_empty());
    // Nothing is stuck: the same transfer goes through afterwards.
    let r = app
        .post(
            "/api/v1/organization/transfer-ownership",
            Some(app.owner().await),
            json!({ "memberId": app.member().await.id }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn the_owner_sees_the_organizations_usage() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    app.everyone().await;
    for i in 0..3 {
        app.create_account(owner, &format!("Usage {i}")).await;
    }
    let gone = app.create_account(owner, "Deleted").await;
    assert_eq!(
        app.delete(&format!("/api/v1/accounts/{gone}"), Some(owner))
            .await
            .status,
        204
    );
    let r = app
        .request_upload(owner, "estimate.pdf", "application/pdf", 10)
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = app.get("/api/v1/organization/usage", Some(owner)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["members"], 4);
    assert_eq!(r.body["records"]["accounts"], 3);
    assert_eq!(r.body["records"]["vehicles"], 0);
    // A pending upload stores nothing yet.
    assert_eq!(
        (r.body["documents"].as_i64(), r.body["storedBytes"].as_i64()),
        (Some(0), Some(0))
    );
    assert!(r.body["requestsThisWindow"].as_u64().unwrap() >= 6);
    let r = app
        .get("/api/v1/organization/usage", Some(app.admin().await))
        .await;
    assert_eq!(r.status, 403);
}
