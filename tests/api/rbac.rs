//! Every role against every accounts action, per the README's role table, and the
//! PERMISSION_DENIED audit entry of each denial.

use crate::helpers::*;
use bson::doc;
use serde_json::json;

/// What each role may do with accounts: (list/read, create, update own,
/// update another's, delete, restore).
const TABLE: [(&str, [bool; 6]); 4] = [
    ("VIEWER", [true, false, false, false, false, false]),
    ("MEMBER", [true, true, true, false, false, false]),
    ("ADMIN", [true, true, true, true, true, true]),
    ("OWNER", [true, true, true, true, true, true]),
];

#[tokio::test]
async fn every_role_gets_exactly_the_account_actions_designs_table_gives_it() {
    let app = TestApp::spawn().await;
    let actors = [
        app.viewer().await,
        app.member().await,
        app.admin().await,
        app.owner().await,
    ];
    let mut denials = 0;
    for (actor, (role, allowed)) in actors.into_iter().zip(TABLE) {
        // Fixtures: one account the actor created (when it can), one created by the owner.
        let own = if allowed[1] {
            Some(app.create_account(actor, &format!("{role} own")).await)
        } else {
            None
        };
        let others = app
            .create_account(app.owner().await, &format!("for {role}"))
            .await;
        let deleted = app
            .create_account(app.owner().await, &format!("deleted for {role}"))
            .await;
        assert_eq!(
            app.delete(
                &format!("/api/v1/accounts/{deleted}"),
                Some(app.owner().await)
            )
            .await
            .status,
            204
        );

        let responses = [
            app.get(&format!("/api/v1/accounts/{others}"), Some(actor))
                .await,
            app.post("/api/v1/accounts", Some(actor), json!({ "name": "new" }))
                .await,
            match &own {
                Some(id) => {
                    app.patch(
                        &format!("/api/v1/accounts/{id}"),
                        Some(actor),
                        json!({ "notes": "mine" }),
                    )
                    .await
                }
                None => {
                    app.patch(
                        &format!("/api/v1/accounts/{others}"),
                        Some(actor),
                        json!({ "notes": "x" }),
                    )
                    .await
                }
            },
            app.patch(
                &format!("/api/v1/accounts/{others}"),
                Some(actor),
                json!({ "notes": "theirs" }),
            )
            .await,
            app.delete(&format!("/api/v1/accounts/{others}"), Some(actor))
                .await,
            app.post(
                &format!("/api/v1/accounts/{deleted}/restore"),
                Some(actor),
                json!({}),
            )
            .await,
        ];
        let results: Vec<u16> = responses.iter().map(|r| r.status).collect();
        let list = app.get("/api/v1/accounts", Some(actor)).await.status;
        assert_eq!(list, 200, "{role} lists");
        let expected: Vec<u16> = [200, 201, 200, 200, 204, 200]
            .iter()
            .zip(allowed)
            .map(|(ok, yes)| if yes { *ok } else { 403 })
            .collect();
        println!("{role:<6} read/create/update-own/update-other/delete/restore -> {results:?}");
        let texts: Vec<&str> = responses.iter().map(|r| r.text.as_str()).collect();
        assert_eq!(results, expected, "{role}: {texts:?}");
        denials += allowed.iter().filter(|a| !**a).count();
    }
    assert_eq!(app.audits("PERMISSION_DENIED").await.len(), denials);
}

#[tokio::test]
async fn a_member_editing_another_members_account_is_denied_with_an_audit_entry() {
    let app = TestApp::spawn().await;
    let colleague = app.add_member(app.admin().await, "MEMBER").await;
    let id = app.create_account(&colleague, "Colleague's").await;
    let r = app
        .patch(
            &format!("/api/v1/accounts/{id}"),
            Some(app.member().await),
            json!({ "name": "Mine now" }),
        )
        .await;
    r.assert_problem(403, "PERMISSION_DENIED");
    assert_eq!(r.body["requiredRole"], "ADMIN");
    assert_eq!(r.body["actualRole"], "MEMBER");
    let entries = app.audits("PERMISSION_DENIED").await;
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!(
        e.get_object_id("userId").unwrap(),
        oid(&app.member().await.id)
    );
    assert_eq!(e.get_str("resource").unwrap(), "api_endpoint");
    assert_eq!(
        e.get_str("resourceId").unwrap(),
        format!("/api/v1/accounts/{id}")
    );
    assert_eq!(
        e.get_document("changes").unwrap(),
        &doc! { "method": "PATCH", "requiredPermission": "UPDATE_ANY_RECORD", "requiredRole": "ADMIN", "actualRole": "MEMBER" }
    );
    let stored = app
        .find("accounts", doc! { "_id": oid(&id) })
        .await
        .remove(0);
    assert_eq!(stored.get_str("name").unwrap(), "Colleague's");
}

#[tokio::test]
async fn a_viewer_creating_an_account_is_denied_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let r = app
        .post(
            "/api/v1/accounts",
            Some(app.viewer().await),
            json!({ "name": "Nope" }),
        )
        .await;
    r.assert_problem(403, "PERMISSION_DENIED");
    assert_eq!(r.body["requiredRole"], "MEMBER");
    assert_eq!(app.count("accounts", doc! {}).await, 0);
    let e = app.audits("PERMISSION_DENIED").await.remove(0);
    assert_eq!(
        e.get_document("changes")
            .unwrap()
            .get_str("requiredPermission")
            .unwrap(),
        "CREATE_RECORDS"
    );
}
