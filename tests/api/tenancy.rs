//! Tenant isolation: another organization's records are 404, never 403 and
//! never their data, and lists show only the caller's organization.

use crate::helpers::*;
use bson::doc;
use serde_json::json;

#[tokio::test]
async fn another_organizations_account_is_a_404_for_every_action() {
    let app = TestApp::spawn().await;
    let theirs = app
        .create_account(app.other().await, "Rival's customer")
        .await;
    let path = format!("/api/v1/accounts/{theirs}");
    app.get(&path, Some(app.owner().await))
        .await
        .assert_problem(404, "NOT_FOUND");
    app.patch(
        &path,
        Some(app.owner().await),
        json!({ "name": "Hijacked" }),
    )
    .await
    .assert_problem(404, "NOT_FOUND");
    app.delete(&path, Some(app.owner().await))
        .await
        .assert_problem(404, "NOT_FOUND");
    // Restore of a deleted foreign record is a 404 too.
    assert_eq!(app.delete(&path, Some(app.other().await)).await.status, 204);
    app.post(
        &format!("{path}/restore"),
        Some(app.owner().await),
        json!({}),
    )
    .await
    .assert_problem(404, "NOT_FOUND");
    let stored = app
        .find("accounts", doc! { "_id": oid(&theirs) })
        .await
        .remove(0);
    assert_eq!(stored.get_str("name").unwrap(), "Rival's customer");
    assert_eq!(
        stored.get_i64("version").unwrap(),
        2,
        "only the owner's own delete changed it"
    );
}

#[tokio::test]
async fn lists_never_show_another_organizations_records() {
    let app = TestApp::spawn().await;
    let mine = app.create_account(app.owner().await, "Shared Name").await;
    app.create_account(app.other().await, "Shared Name").await;
    for query in ["", "?q=shared", "?sort=name", "?limit=100"] {
        let r = app
            .get(
                &format!("/api/v1/accounts{query}"),
                Some(app.viewer().await),
            )
            .await;
        let ids: Vec<&str> = r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [mine.as_str()], "query {query:?}");
    }
    let members = app.get("/api/v1/members", Some(app.other().await)).await;
    let emails: Vec<&str> = members.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, [app.other().await.email.as_str()]);
}

#[tokio::test]
async fn an_organization_id_in_the_body_is_rejected_and_cannot_move_a_record() {
    let app = TestApp::spawn().await;
    let r = app
        .post(
            "/api/v1/accounts",
            Some(app.owner().await),
            json!({ "name": "X", "organizationId": app.other().await.org_id }),
        )
        .await;
    r.assert_problem(422, "VALIDATION_FAILED");
    assert_eq!(r.error_fields(), ["organizationId"]);
    let id = app.create_account(app.owner().await, "Mine").await;
    let r = app
        .patch(
            &format!("/api/v1/accounts/{id}"),
            Some(app.owner().await),
            json!({ "organizationId": app.other().await.org_id }),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(
        app.count(
            "accounts",
            doc! { "organizationId": oid(&app.other().await.org_id) }
        )
        .await,
        0
    );
}
