//! Work orders: consecutive per-organization numbers under concurrency, the
//! vehicle's owner as the account, active technicians, and the status
//! machine with its roles.

use crate::helpers::*;
use bson::doc;
use serde_json::{json, Value};

/// An account with one vehicle, made by `actor`: (account, vehicle).
async fn customer(app: &TestApp, actor: &Actor) -> (String, String) {
    let account = app.create_account(actor, "Customer GmbH").await;
    let vehicle = app
        .create_record(
            actor,
            "vehicles",
            json!({ "make": "Skoda", "model": "Octavia", "accountId": account }),
        )
        .await;
    (account, vehicle)
}

async fn open(app: &TestApp, actor: &Actor, vehicle: &str, extra: Value) -> Resp {
    let mut body = json!({ "vehicleId": vehicle, "complaint": "Noise from the front left wheel" });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    app.post("/api/v1/work-orders", Some(actor), body).await
}

async fn move_to(app: &TestApp, actor: &Actor, id: &str, to: &str) -> Resp {
    app.post(
        &format!("/api/v1/work-orders/{id}/transition"),
        Some(actor),
        json!({ "to": to }),
    )
    .await
}

#[tokio::test]
async fn twenty_concurrent_creates_get_twenty_consecutive_numbers() {
    let app = TestApp::spawn_with(&[("RATE_LIMIT_API_FREE", "100000")]).await;
    let owner = app.owner().await;
    let (_, vehicle) = customer(&app, owner).await;
    let creates = (0..20).map(|_| open(&app, owner, &vehicle, json!({})));
    let results = futures_util::future::join_all(creates).await;
    for r in &results {
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let mut numbers: Vec<String> = results.iter().map(|r| r.str("number")).collect();
    numbers.sort();
    let expected: Vec<String> = (1..=20).map(|n| format!("WO-{n:06}")).collect();
    assert_eq!(numbers, expected);
    // Another organization counts from 1 on its own.
    let other = app.other().await;
    let (_, theirs) = customer(&app, other).await;
    assert_eq!(
        open(&app, other, &theirs, json!({})).await.str("number"),
        "WO-000001"
    );
}

#[tokio::test]
async fn the_account_is_the_vehicles_owner_and_the_technician_an_active_member() {
    let app = TestApp::spawn().await;
    let (owner, member) = (app.owner().await, app.member().await);
    let (account, vehicle) = customer(&app, owner).await;
    let r = open(&app, member, &vehicle, json!({ "technicianId": member.id })).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["accountId"], account.as_str());
    assert_eq!(r.body["status"], "ESTIMATE");
    let stranger = app.create_account(owner, "Not the owner").await;
    let r = open(&app, member, &vehicle, json!({ "accountId": stranger })).await;
    assert_eq!(r.error_fields(), ["accountId"]);
    app.set_user(app.viewer().await, doc! { "status": "INACTIVE" })
        .await;
    let r = open(
        &app,
        member,
        &vehicle,
        json!({ "technicianId": app.viewer().await.id }),
    )
    .await;
    assert_eq!(r.error_fields(), ["technicianId"]);
    let r = open(
        &app,
        member,
        &vehicle,
        json!({ "technicianId": app.other().await.id }),
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.error_fields(), ["technicianId"]);
    // The status is the machine's: not set on create, not patched.
    let r = open(&app, member, &vehicle, json!({ "status": "APPROVED" })).await;
    assert_eq!(r.error_fields(), ["status"]);
    let id = open(&app, member, &vehicle, json!({})).await.str("id");
    move_to(&app, member, &id, "APPROVED").await;
    let r = app
        .patch(
            &format!("/api/v1/work-orders/{id}"),
            Some(owner),
            json!({ "status": "ESTIMATE" }),
        )
        .await;
    assert_eq!(r.error_fields(), ["status"]);
    // The vehicle's history lists them; another organization sees none.
    let history = app
        .get(&format!("/api/v1/vehicles/{vehicle}/history"), Some(member))
        .await;
    assert_eq!(history.body["data"].as_array().unwrap().len(), 2);
    app.get(
        &format!("/api/v1/work-orders/{id}"),
        Some(app.other().await),
    )
    .await
    .assert_problem(404, "NOT_FOUND");
}

#[tokio::test]
async fn a_work_order_moves_only_along_its_transitions_and_roles() {
    let app = TestApp::spawn().await;
    let (owner, admin, member) = (app.owner().await, app.admin().await, app.member().await);
    let (_, vehicle) = customer(&app, owner).await;
    let id = open(&app, member, &vehicle, json!({})).await.str("id");
    assert_eq!(
        move_to(&app, member, &id, "APPROVED").await.body["status"],
        "APPROVED"
    );
    let r = move_to(&app, member, &id, "COMPLETED").await;
    r.assert_problem(409, "INVALID_TRANSITION");
    assert!(
        r.body["detail"].as_str().unwrap().contains("IN_PROGRESS"),
        "{}",
        r.text
    );
    assert_eq!(move_to(&app, member, &id, "IN_PROGRESS").await.status, 200);
    // Cancelling work in progress is for ADMINs.
    move_to(&app, member, &id, "CANCELLED")
        .await
        .assert_problem(403, "PERMISSION_DENIED");
    assert_eq!(
        move_to(&app, admin, &id, "CANCELLED").await.body["status"],
        "CANCELLED"
    );
    move_to(&app, admin, &id, "ESTIMATE")
        .await
        .assert_problem(409, "INVALID_TRANSITION");
    // Another MEMBER's work order, unless they work on it.
    let other_member = app.add_member(owner, "MEMBER").await;
    let theirs = open(&app, owner, &vehicle, json!({})).await.str("id");
    move_to(&app, &other_member, &theirs, "APPROVED")
        .await
        .assert_problem(403, "PERMISSION_DENIED");
    let assigned = open(
        &app,
        owner,
        &vehicle,
        json!({ "technicianId": other_member.id }),
    )
    .await
    .str("id");
    for to in ["APPROVED", "IN_PROGRESS", "COMPLETED"] {
        assert_eq!(
            move_to(&app, &other_member, &assigned, to).await.status,
            200,
            "{to}"
        );
    }
    // Invoicing and payment are for ADMINs.
    move_to(&app, &other_member, &assigned, "INVOICED")
        .await
        .assert_problem(403, "PERMISSION_DENIED");
    assert_eq!(
        move_to(&app, admin, &assigned, "INVOICED").await.status,
        200
    );
    let paid = move_to(&app, admin, &assigned, "PAID").await;
    assert_eq!(paid.body["status"], "PAID");
    assert!(paid.body["paidAt"].is_string(), "{}", paid.text);
    // Bad input, and every move audited.
    let r = move_to(&app, admin, &id, "DONE").await;
    assert_eq!(r.error_fields(), ["to"]);
    let moves = app
        .find(
            "audit_log",
            doc! { "resource": "work_order", "action": "UPDATE", "resourceId": oid(&assigned) },
        )
        .await;
    assert_eq!(moves.len(), 5);
}

#[tokio::test]
async fn the_assigned_technician_edits_like_the_creator_and_lists_filter_by_opening_time() {
    let app = TestApp::spawn().await;
    let (owner, member) = (app.owner().await, app.member().await);
    let bystander = app.add_member(owner, "MEMBER").await;
    let (_, vehicle) = customer(&app, owner).await;
    let id = open(&app, owner, &vehicle, json!({ "technicianId": member.id }))
        .await
        .str("id");
    let path = format!("/api/v1/work-orders/{id}");
    let r = app
        .patch(
            &path,
            Some(member),
            json!({ "cause": "Worn wheel bearing" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.patch(&path, Some(&bystander), json!({ "cause": "Guess" }))
        .await
        .assert_problem(403, "PERMISSION_DENIED");
    let count = |q: String| {
        let app = &app;
        async move {
            let r = app
                .get(&format!("/api/v1/work-orders?{q}"), Some(owner))
                .await;
            assert_eq!(r.status, 200, "{q}: {}", r.text);
            r.body["data"].as_array().unwrap().len()
        }
    };
    let hour_ago = shared::time::rfc3339(shared::time::shifted(bson::DateTime::now(), -3_600_000));
    let in_an_hour = shared::time::rfc3339(shared::time::shifted(bson::DateTime::now(), 3_600_000));
    assert_eq!(count(format!("openedFrom={hour_ago}")).await, 1);
    assert_eq!(count(format!("openedTo={hour_ago}")).await, 0);
    assert_eq!(
        count(format!("openedFrom={hour_ago}&openedTo={in_an_hour}")).await,
        1
    );
    assert_eq!(count(format!("openedFrom={in_an_hour}")).await, 0);
    assert_eq!(count(format!("technicianId={}", member.id)).await, 1);
    assert_eq!(count("status=ESTIMATE".into()).await, 1);
    app.get("/api/v1/work-orders?openedFrom=yesterday", Some(owner))
        .await
        .assert_problem(400, "INVALID_PARAMETER");
}
