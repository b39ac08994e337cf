//! The list queries use indexes: no collection scan for the default list, a
//! filter by an indexed field, or an allow-listed sort (checked with explain).

use crate::helpers::*;
use bson::{doc, Document};
use serde_json::json;

fn has_collscan(plan: &bson::Bson) -> bool {
    match plan {
        bson::Bson::Document(d) => {
            d.get_str("stage") == Ok("COLLSCAN") || d.values().any(has_collscan)
        }
        bson::Bson::Array(a) => a.iter().any(has_collscan),
        _ => false,
    }
}

async fn explain(app: &TestApp, collection: &str, filter: Document, sort: Document) -> Document {
    app.db
        .run_command(doc! {
            "explain": { "find": collection, "filter": filter, "sort": sort, "limit": 26 },
            "verbosity": "queryPlanner",
        })
        .await
        .unwrap()
}

/// Fails when the winning plan of the query scans the collection.
async fn assert_indexed(app: &TestApp, collection: &str, filter: Document, sort: Document) {
    let plan = explain(app, collection, filter.clone(), sort.clone()).await;
    let winning = plan
        .get_document("queryPlanner")
        .and_then(|q| q.get_document("winningPlan"))
        .expect("a query plan");
    assert!(
        !has_collscan(&bson::Bson::Document(winning.clone())),
        "{collection} {filter} {sort}: {winning}"
    );
}

#[tokio::test]
async fn list_queries_are_served_by_indexes() {
    let app = TestApp::spawn().await;
    for (plural, _) in entities() {
        let body = app.minimal_body(app.owner().await, plural).await;
        app.create_record(app.owner().await, plural, body).await;
    }
    app.create_record(
        app.owner().await,
        "contacts",
        json!({ "firstName": "A", "lastName": "B", "tags": ["x"] }),
    )
    .await;
    let org = oid(&app.owner().await.org_id);
    let cases: Vec<(&str, Document, Document)> = vec![
        ("accounts", doc! {}, doc! { "createdAt": -1, "_id": -1 }),
        (
            "accounts",
            doc! { "industry": "x" },
            doc! { "createdAt": -1, "_id": -1 },
        ),
        ("accounts", doc! {}, doc! { "name": 1, "_id": 1 }),
        ("accounts", doc! {}, doc! { "updatedAt": -1, "_id": -1 }),
        (
            "contacts",
            doc! { "tags": "x" },
            doc! { "createdAt": -1, "_id": -1 },
        ),
        ("contacts", doc! {}, doc! { "lastName": 1, "_id": 1 }),
        (
            "leads",
            doc! { "status": "NEW" },
            doc! { "createdAt": -1, "_id": -1 },
        ),
        (
            "opportunities",
            doc! { "stage": "WON" },
            doc! { "createdAt": -1, "_id": -1 },
        ),
        (
            "tasks",
            doc! { "status": "OPEN" },
            doc! { "createdAt": -1, "_id": -1 },
        ),
        (
            "products",
            doc! { "type": "PART" },
            doc! { "createdAt": -1, "_id": -1 },
        ),
        ("products", doc! {}, doc! { "name": 1, "_id": 1 }),
    ];
    for (collection, extra, sort) in cases {
        let mut filter = doc! { "organizationId": org, "deletedAt": null };
        filter.extend(extra.clone());
        assert_indexed(&app, collection, filter, sort).await;
    }
    // The audit log's list, unfiltered and by each filter.
    for extra in [
        doc! {},
        doc! { "action": "CREATE" },
        doc! { "userId": oid(&app.owner().await.id) },
        doc! { "resource": "account" },
        doc! { "resourceId": org },
        doc! { "ipAddress": "127.0.0.1" },
    ] {
        let mut filter = doc! { "organizationId": org };
        filter.extend(extra.clone());
        assert_indexed(
            &app,
            "audit_log",
            filter,
            doc! { "createdAt": -1, "_id": -1 },
        )
        .await;
    }
}

#[tokio::test]
async fn delta_sync_and_the_trash_sweep_are_served_by_indexes() {
    let app = TestApp::spawn().await;
    let org = oid(&app.owner().await.org_id);
    for entity in functions::registry::ENTITIES.iter() {
        assert_indexed(
            &app,
            entity.collection,
            doc! { "organizationId": org, "updatedAt": { "$gte": bson::DateTime::from_millis(0) } },
            doc! { "updatedAt": 1, "_id": 1 },
        )
        .await;
        assert_indexed(
            &app,
            entity.collection,
            doc! { "deletedAt": { "$lt": bson::DateTime::now() } },
            doc! {},
        )
        .await;
    }
}
