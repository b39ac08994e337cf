//! The record semantics every CRM entity shares, checked for each of them
//! with the same helpers: roles and ownership, tenancy, audit, soft delete;
//! then what is particular to each (relations, uniqueness, filters).

use crate::helpers::*;
use bson::doc;
use serde_json::{json, Value};

/// A text field of the entity (of the minimal body when it has one), and
/// the body that changes it.
fn patch_of(plural: &str) -> (String, Value) {
    let (_, e) = functions::registry::ENTITY_PATHS
        .iter()
        .find(|(p, _)| *p == plural)
        .unwrap();
    let text = |name: &str| {
        e.fields.iter().any(|f| {
            f.name == name
                && matches!(
                    f.kind,
                    shared::fields::Kind::Text { .. } | shared::fields::Kind::Multiline { .. }
                )
        })
    };
    let (_, body) = entities().into_iter().find(|(p, _)| *p == plural).unwrap();
    let field = body
        .as_object()
        .unwrap()
        .keys()
        .find(|k| text(k))
        .cloned()
        // Else a free-text one (notes): other text fields may be checked
        // against the organization's settings.
        .or_else(|| {
            e.fields
                .iter()
                .find(|f| matches!(f.kind, shared::fields::Kind::Multiline { .. }))
                .map(|f| f.name.to_string())
        })
        .expect("a text field");
    (field.clone(), json!({ field: "Changed" }))
}

#[tokio::test]
async fn every_entity_follows_roles_ownership_tenancy_audit_and_soft_delete() {
    let app = TestApp::spawn_with(&[("RATE_LIMIT_API_FREE", "100000")]).await;
    for (plural, _) in entities() {
        let base = format!("/api/v1/{plural}");
        let (field, patch) = patch_of(plural);
        // Roles: a VIEWER cannot create; a MEMBER can, and edits only their
        // own. An entity for ADMINs only (forms) is all ADMIN's: its
        // "own" records are an ADMIN's, and members and viewers get 403.
        // One whose writes only are ADMIN's (inspection templates) is read
        // by everyone.
        let declared = functions::registry::ENTITY_PATHS
            .iter()
            .find(|(p, _)| *p == plural)
            .map(|(_, e)| *e)
            .unwrap();
        let (admin_only, admin_creates) = (declared.admin_only, declared.admin_creates());
        let maker = if admin_creates {
            app.admin().await
        } else {
            app.member().await
        };
        let reader = if admin_only {
            app.admin().await
        } else {
            app.viewer().await
        };
        let outsiders = if admin_creates {
            vec![app.viewer().await, app.member().await]
        } else {
            vec![app.viewer().await]
        };
        for outsider in outsiders {
            app.post(
                &base,
                Some(outsider),
                app.minimal_body(app.owner().await, plural).await,
            )
            .await
            .assert_problem(403, "PERMISSION_DENIED");
        }
        let mine = app
            .create_record(
                maker,
                plural,
                app.minimal_body(app.owner().await, plural).await,
            )
            .await;
        let owners = app
            .create_record(
                app.owner().await,
                plural,
                app.minimal_body(app.owner().await, plural).await,
            )
            .await;
        let r = app
            .patch(&format!("{base}/{mine}"), Some(maker), patch.clone())
            .await;
        assert_eq!(r.status, 200, "{plural}: {}", r.text);
        assert_eq!(r.body[&field], "Changed");
        assert_eq!(r.body["version"], 2);
        app.patch(
            &format!("{base}/{owners}"),
            Some(app.member().await),
            patch.clone(),
        )
        .await
        .assert_problem(403, "PERMISSION_DENIED");
        app.delete(&format!("{base}/{mine}"), Some(app.member().await))
            .await
            .assert_problem(403, "PERMISSION_DENIED");

        // Tenancy: another organization sees a 404 for everything and lists nothing of ours.
        for (method, path) in [
            ("GET", format!("{base}/{mine}")),
            ("PATCH", format!("{base}/{mine}")),
            ("DELETE", format!("{base}/{mine}")),
            ("POST", format!("{base}/{mine}/restore")),
        ] {
            let body = serde_json::to_vec(&patch).unwrap();
            app.request(
                method,
                &path,
                Some(&app.other().await.token),
                Some(body),
                &[],
            )
            .await
            .assert_problem(404, "NOT_FOUND");
        }
        let theirs = app.get(&base, Some(app.other().await)).await;
        assert_eq!(theirs.body["data"], json!([]), "{plural}");
        let ours = app.get(&base, Some(reader)).await;
        assert_eq!(ours.body["data"].as_array().unwrap().len(), 2, "{plural}");

        // Soft delete and restore by an ADMIN.
        assert_eq!(
            app.delete(&format!("{base}/{mine}"), Some(app.admin().await))
                .await
                .status,
            204
        );
        app.get(&format!("{base}/{mine}"), Some(app.admin().await))
            .await
            .assert_problem(404, "NOT_FOUND");
        assert_eq!(
            app.post(
                &format!("{base}/{mine}/restore"),
                Some(app.admin().await),
                json!({})
            )
            .await
            .status,
            200
        );

        // Audit: one entry per mutation, the update naming its change.
        let entries = app
            .find("audit_log", doc! { "resourceId": oid(&mine) })
            .await;
        let actions: Vec<&str> = entries
            .iter()
            .map(|e| e.get_str("action").unwrap())
            .collect();
        assert_eq!(
            actions,
            ["CREATE", "UPDATE", "DELETE", "RESTORE"],
            "{plural}"
        );
        let change = entries[1]
            .get_document("changes")
            .unwrap()
            .get_document(&field)
            .unwrap();
        assert_eq!(change.get_str("to").unwrap(), "Changed");
    }
}

#[tokio::test]
async fn relations_must_point_at_live_records_of_the_same_organization() {
    let app = TestApp::spawn().await;
    let my_account = app.create_account(app.owner().await, "Mine").await;
    let their_account = app.create_account(app.other().await, "Theirs").await;
    let r = app
        .post(
            "/api/v1/contacts",
            Some(app.owner().await),
            json!({ "firstName": "A", "lastName": "B", "accountId": their_account }),
        )
        .await;
    r.assert_problem(422, "VALIDATION_FAILED");
    assert_eq!(r.error_fields(), ["accountId"]);
    let contact = app
        .create_record(
            app.owner().await,
            "contacts",
            json!({ "firstName": "A", "lastName": "B", "accountId": my_account }),
        )
        .await;
    let listed = app
        .get(
            &format!("/api/v1/contacts?accountId={my_account}"),
            Some(app.owner().await),
        )
        .await;
    assert_eq!(listed.body["data"][0]["id"], contact.as_str());

    // A deleted account cannot be linked either.
    app.delete(
        &format!("/api/v1/accounts/{my_account}"),
        Some(app.owner().await),
    )
    .await;
    let r = app
        .post(
            "/api/v1/opportunities",
            Some(app.owner().await),
            json!({ "name": "Deal", "accountId": my_account }),
        )
        .await;
    assert_eq!(r.error_fields(), ["accountId"]);

    // assignedTo is a member of the organization.
    let r = app
        .post(
            "/api/v1/leads",
            Some(app.owner().await),
            json!({ "firstName": "L", "lastName": "D", "assignedTo": app.other().await.id }),
        )
        .await;
    assert_eq!(r.error_fields(), ["assignedTo"]);
    let lead = app
        .create_record(
            app.owner().await,
            "leads",
            json!({ "firstName": "L", "lastName": "D", "assignedTo": app.member().await.id }),
        )
        .await;
    let mine = app
        .get(
            &format!("/api/v1/leads?assignedTo={}", app.member().await.id),
            Some(app.member().await),
        )
        .await;
    assert_eq!(mine.body["data"][0]["id"], lead.as_str());
    assert_eq!(mine.body["data"][0]["status"], "NEW");

    // relatedTo names a type and a record of that type.
    let their_lead = app
        .create_record(
            app.other().await,
            "leads",
            app.minimal_body(app.other().await, "leads").await,
        )
        .await;
    let r = app
        .post(
            "/api/v1/tasks",
            Some(app.owner().await),
            json!({ "title": "T", "relatedTo": { "type": "lead", "id": their_lead } }),
        )
        .await;
    assert_eq!(r.error_fields(), ["relatedTo.id"]);
    let r = app
        .post(
            "/api/v1/tasks",
            Some(app.owner().await),
            json!({ "title": "T", "relatedTo": { "type": "account", "id": lead } }),
        )
        .await;
    assert_eq!(
        r.error_fields(),
        ["relatedTo.id"],
        "a lead's id is not an account"
    );
    let r = app
        .post(
            "/api/v1/tasks",
            Some(app.owner().await),
            json!({ "title": "T", "relatedTo": { "type": "lead", "id": lead } }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["relatedTo"], json!({ "type": "lead", "id": lead }));
    // A patch is checked the same way.
    let r = app
        .patch(
            &format!("/api/v1/contacts/{contact}"),
            Some(app.owner().await),
            json!({ "accountId": their_account }),
        )
        .await;
    assert_eq!(r.error_fields(), ["accountId"]);
}

#[tokio::test]
async fn a_sku_is_unique_within_an_organization_only() {
    let app = TestApp::spawn().await;
    let body = json!({ "name": "Brake pads", "type": "PART", "sku": "BP-100", "price": 4999, "currency": "EUR" });
    let r = app
        .post("/api/v1/products", Some(app.owner().await), body.clone())
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["active"], true);
    assert_eq!(r.body["price"], 4999);
    let dup = app
        .post("/api/v1/products", Some(app.admin().await), body.clone())
        .await;
    dup.assert_problem(409, "ALREADY_EXISTS");
    assert_eq!(dup.error_fields(), ["sku"]);
    assert_eq!(
        app.post("/api/v1/products", Some(app.other().await), body)
            .await
            .status,
        201
    );
    // Products without a SKU do not collide.
    for _ in 0..2 {
        assert_eq!(
            app.post(
                "/api/v1/products",
                Some(app.owner().await),
                json!({ "name": "Wash", "type": "SERVICE" })
            )
            .await
            .status,
            201
        );
    }
    let inactive = app
        .post(
            "/api/v1/products",
            Some(app.owner().await),
            json!({ "name": "Old", "type": "PART", "active": false }),
        )
        .await;
    assert_eq!(inactive.status, 201);
    let active = app
        .get("/api/v1/products?active=false", Some(app.owner().await))
        .await;
    assert_eq!(active.body["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn money_enums_and_ranges_are_checked_per_field() {
    let app = TestApp::spawn().await;
    let r = app
        .post("/api/v1/opportunities", Some(app.owner().await), json!({ "name": "D", "amount": 12.5, "currency": "eur", "probability": 101, "stage": "DREAMING", "closeDate": "next week" }))
        .await;
    r.assert_problem(422, "VALIDATION_FAILED");
    assert_eq!(
        r.error_fields(),
        ["stage", "amount", "currency", "closeDate", "probability"]
    );
    let r = app
        .post("/api/v1/opportunities", Some(app.owner().await), json!({ "name": "D", "amount": 250000, "currency": "EUR", "probability": 60, "closeDate": "2026-12-31T00:00:00Z" }))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["stage"], "PROSPECTING");
    assert_eq!(r.body["closeDate"], "2026-12-31T00:00:00.000Z");
    let r = app
        .post(
            "/api/v1/contacts",
            Some(app.owner().await),
            json!({ "firstName": "A", "lastName": "B", "tags": ["vip", 3] }),
        )
        .await;
    assert_eq!(r.error_fields(), ["tags"]);
}

#[tokio::test]
async fn overdue_open_tasks_and_tags_can_be_listed() {
    let app = TestApp::spawn().await;
    let past = "2020-01-01T00:00:00Z";
    let late = app
        .create_record(
            app.owner().await,
            "tasks",
            json!({ "title": "Late", "dueAt": past }),
        )
        .await;
    app.create_record(
        app.owner().await,
        "tasks",
        json!({ "title": "Done late", "dueAt": past, "status": "DONE" }),
    )
    .await;
    app.create_record(
        app.owner().await,
        "tasks",
        json!({ "title": "Future", "dueAt": "2999-01-01T00:00:00Z" }),
    )
    .await;
    let r = app
        .get("/api/v1/tasks?overdue=true", Some(app.owner().await))
        .await;
    let ids: Vec<&str> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [late.as_str()]);
    app.get("/api/v1/tasks?overdue=yes", Some(app.owner().await))
        .await
        .assert_problem(400, "INVALID_PARAMETER");

    app.create_record(
        app.owner().await,
        "contacts",
        json!({ "firstName": "V", "lastName": "Ip", "tags": ["VIP", "fleet"] }),
    )
    .await;
    app.create_record(
        app.owner().await,
        "contacts",
        json!({ "firstName": "N", "lastName": "O", "tags": ["fleet"] }),
    )
    .await;
    let vip = app
        .get("/api/v1/contacts?tag=vip", Some(app.owner().await))
        .await;
    assert_eq!(vip.body["data"].as_array().unwrap().len(), 1);
    let fleet = app
        .get(
            "/api/v1/contacts?tag=fleet&sort=lastName",
            Some(app.owner().await),
        )
        .await;
    let names: Vec<&str> = fleet.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["lastName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Ip", "O"]);
    app.get("/api/v1/contacts?accountId=zzz", Some(app.owner().await))
        .await
        .assert_problem(400, "INVALID_PARAMETER");
}
