//! Work orders: consecutive per-organization numbers under concurrency, the
//! vehicle's owner as the account, active technicians, and the status
//! machine with its roles.

use crate::helpers::*;
use bson::doc;
use serde_json::{json, Value};

/// An account with one vehicle, made by `actor`: (account, vehicle).
pub(crate) async fn customer(app: &TestApp, actor: &Actor) -> (String, String) {
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

pub(crate) async fn open(app: &TestApp, actor: &Actor, vehicle: &str, extra: Value) -> Resp {
    let mut body = json!({ "vehicleId": vehicle, "complaint": "Noise from the front left wheel" });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    app.post("/api/v1/work-orders", Some(actor), body).await
}

/// Adds a FEE line to the work order and has the customer approve it.
pub(crate) async fn approved_line(app: &TestApp, actor: &Actor, order: &str) {
    let r = app
        .post(
            &format!("/api/v1/work-orders/{order}/lines"),
            Some(actor),
            json!({ "type": "FEE", "description": "Diagnosis", "quantity": 1, "unitPrice": 2500 }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let line = r.body["lines"].as_array().unwrap().last().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = approve(app, actor, order, &[(&line, "APPROVED")]).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

pub(crate) async fn approve(
    app: &TestApp,
    actor: &Actor,
    order: &str,
    decisions: &[(&str, &str)],
) -> Resp {
    let lines: Vec<Value> = decisions
        .iter()
        .map(|(l, d)| json!({ "lineId": l, "decision": d }))
        .collect();
    app.post(
        &format!("/api/v1/work-orders/{order}/approval"),
        Some(actor),
        json!({ "lines": lines, "approvedBy": "Jonas Müller", "method": "PHONE" }),
    )
    .await
}

pub(crate) async fn move_to(app: &TestApp, actor: &Actor, id: &str, to: &str) -> Resp {
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
    // Work starts only once the customer approved a line.
    move_to(&app, member, &id, "IN_PROGRESS")
        .await
        .assert_problem(409, "INVALID_TRANSITION");
    approved_line(&app, member, &id).await;
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
    approved_line(&app, &other_member, &assigned).await;
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
    // PAID comes with the payment that settles the balance (the 25.00 fee).
    move_to(&app, admin, &assigned, "PAID")
        .await
        .assert_problem(409, "INVALID_TRANSITION");
    let paid = app
        .post(
            &format!("/api/v1/work-orders/{assigned}/payments"),
            Some(admin),
            json!({ "amount": 2500, "method": "CASH" }),
        )
        .await;
    assert_eq!(paid.body["status"], "PAID", "{}", paid.text);
    assert!(paid.body["paidAt"].is_string(), "{}", paid.text);
    // Bad input, and every move audited.
    let r = move_to(&app, admin, &id, "DONE").await;
    assert_eq!(r.error_fields(), ["to"]);
    let moves = app
        .find(
            "audit_log",
            doc! { "resource": "work_order", "action": "UPDATE", "resourceId": oid(&assigned), "changes.status": { "$exists": true } },
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

/// A part with `stock` received, by an ADMIN: its id.
pub(crate) async fn stocked_part(app: &TestApp, sku: &str, stock: i64) -> String {
    let admin = app.admin().await;
    let id = app
        .create_record(
            admin,
            "parts",
            json!({ "sku": sku, "name": format!("Part {sku}"), "unitPrice": 1299, "taxRate": 1900 }),
        )
        .await;
    let r = app
        .post(
            &format!("/api/v1/parts/{id}/adjustments"),
            Some(admin),
            json!({ "quantity": stock, "reason": "RECEIVED" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    id
}

pub(crate) async fn part_doc(app: &TestApp, id: &str) -> bson::Document {
    app.find("parts", doc! { "_id": oid(id) }).await.remove(0)
}

pub(crate) async fn add_line(app: &TestApp, actor: &Actor, order: &str, line: Value) -> Resp {
    app.post(
        &format!("/api/v1/work-orders/{order}/lines"),
        Some(actor),
        line,
    )
    .await
}

#[tokio::test]
async fn lines_total_up_half_even_and_part_lines_hold_stock_until_completion() {
    let app = TestApp::spawn().await;
    let (owner, member, admin) = (app.owner().await, app.member().await, app.admin().await);
    let part = stocked_part(&app, "PAD-1", 10).await;
    let (_, vehicle) = customer(&app, owner).await;
    let order = open(&app, member, &vehicle, json!({})).await.str("id");
    add_line(&app, member, &order, json!({ "type": "LABOR", "description": "Replace pads", "quantity": 150, "unitPrice": 9000, "taxRate": 1900 })).await;
    let r = add_line(
        &app,
        member,
        &order,
        json!({ "type": "PART", "partId": part, "quantity": 2 }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = add_line(
        &app,
        member,
        &order,
        json!({ "type": "FEE", "description": "Disposal", "quantity": 1, "unitPrice": 500 }),
    )
    .await;
    // 135.00 + 25.98 + 5.00, tax 25.65 + 4.94.
    assert_eq!(
        (
            r.body["subtotal"].as_i64(),
            r.body["tax"].as_i64(),
            r.body["total"].as_i64()
        ),
        (Some(16_598), Some(3_059), Some(19_657)),
        "{}",
        r.text
    );
    let lines = r.body["lines"].as_array().unwrap().clone();
    assert_eq!(lines[1]["description"], "Part PAD-1");
    assert_eq!(lines[1]["approval"], "PENDING");
    let (part_line, fee_line) = (
        lines[1]["id"].as_str().unwrap().to_string(),
        lines[2]["id"].as_str().unwrap().to_string(),
    );
    let p = part_doc(&app, &part).await;
    assert_eq!(
        (
            p.get_i64("reserved").unwrap(),
            p.get_i64("available").unwrap()
        ),
        (2, 8)
    );
    // More units: the reservation follows; more than available: 409, nothing moves.
    let r = app
        .patch(
            &format!("/api/v1/work-orders/{order}/lines/{part_line}"),
            Some(member),
            json!({ "quantity": 5 }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(part_doc(&app, &part).await.get_i64("reserved").unwrap(), 5);
    add_line(
        &app,
        member,
        &order,
        json!({ "type": "PART", "partId": part, "quantity": 6 }),
    )
    .await
    .assert_problem(409, "INSUFFICIENT_STOCK");
    assert_eq!(part_doc(&app, &part).await.get_i64("reserved").unwrap(), 5);
    let r = app
        .delete(
            &format!("/api/v1/work-orders/{order}/lines/{fee_line}"),
            Some(member),
        )
        .await;
    assert_eq!(r.body["lines"].as_array().unwrap().len(), 2);
    // The customer declines the part: its stock goes back; approving it
    // again takes it again. Decisions record who, how and from where.
    let labour_line = lines[0]["id"].as_str().unwrap().to_string();
    let r = approve(
        &app,
        member,
        &order,
        &[(&part_line, "DECLINED"), (&labour_line, "APPROVED")],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["lines"][1]["approval"], "DECLINED");
    assert_eq!(r.body["lines"][0]["approvedBy"], "Jonas Müller");
    assert_eq!(r.body["lines"][0]["approvalMethod"], "PHONE");
    assert!(r.body["lines"][0]["approvalIp"].is_string(), "{}", r.text);
    // Declined lines are shown, not counted: 135.00 + 25.65 tax.
    assert_eq!(r.body["total"], 16_065);
    assert_eq!(part_doc(&app, &part).await.get_i64("reserved").unwrap(), 0);
    let r = approve(&app, member, &order, &[(&part_line, "APPROVED")]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(part_doc(&app, &part).await.get_i64("reserved").unwrap(), 5);
    // A changed price puts an approved line back to PENDING.
    let r = app
        .patch(
            &format!("/api/v1/work-orders/{order}/lines/{labour_line}"),
            Some(member),
            json!({ "unitPrice": 9500 }),
        )
        .await;
    assert_eq!(r.body["lines"][0]["approval"], "PENDING");
    let r = approve(&app, member, &order, &[(&labour_line, "MAYBE")]).await;
    assert_eq!(r.error_fields(), ["lines[0].decision"]);
    let r = approve(&app, member, &order, &[(&labour_line, "APPROVED")]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Completion uses up the reservation, with a movement naming the work order.
    for to in ["APPROVED", "IN_PROGRESS", "COMPLETED"] {
        assert_eq!(move_to(&app, member, &order, to).await.status, 200, "{to}");
    }
    let p = part_doc(&app, &part).await;
    assert_eq!(
        (
            p.get_i64("onHand").unwrap(),
            p.get_i64("reserved").unwrap(),
            p.get_i64("available").unwrap()
        ),
        (5, 0, 5)
    );
    let consumed = app
        .find(
            "stock_movements",
            doc! { "partId": oid(&part), "reason": "CONSUMED" },
        )
        .await;
    assert_eq!(consumed.len(), 1);
    assert_eq!(
        consumed[0].get_object_id("workOrderId").unwrap(),
        oid(&order)
    );
    assert_eq!(consumed[0].get_i64("delta").unwrap(), -5);
    // A completed work order's lines no longer change.
    add_line(
        &app,
        admin,
        &order,
        json!({ "type": "FEE", "quantity": 1, "unitPrice": 100 }),
    )
    .await
    .assert_problem(409, "INVALID_TRANSITION");
    // Cancelling gives a reservation back.
    let other = open(&app, member, &vehicle, json!({})).await.str("id");
    add_line(
        &app,
        member,
        &other,
        json!({ "type": "PART", "partId": part, "quantity": 3 }),
    )
    .await;
    assert_eq!(part_doc(&app, &part).await.get_i64("available").unwrap(), 2);
    assert_eq!(move_to(&app, member, &other, "CANCELLED").await.status, 200);
    let p = part_doc(&app, &part).await;
    assert_eq!(
        (p.get_i64("onHand").unwrap(), p.get_i64("reserved").unwrap()),
        (5, 0)
    );
    // Input: a PART line needs its part, other lines their price.
    let third = open(&app, member, &vehicle, json!({})).await.str("id");
    assert_eq!(
        add_line(
            &app,
            member,
            &third,
            json!({ "type": "PART", "quantity": 1 })
        )
        .await
        .error_fields(),
        ["partId"]
    );
    assert_eq!(
        add_line(
            &app,
            member,
            &third,
            json!({ "type": "LABOR", "quantity": 1 })
        )
        .await
        .error_fields(),
        ["unitPrice"]
    );
}

#[tokio::test]
async fn thirty_concurrent_part_lines_on_ten_available_reserve_exactly_ten() {
    let app = TestApp::spawn_with(&[("RATE_LIMIT_API_FREE", "100000")]).await;
    let owner = app.owner().await;
    let part = stocked_part(&app, "HOT-1", 10).await;
    let (_, vehicle) = customer(&app, owner).await;
    let mut orders = vec![];
    for _ in 0..3 {
        orders.push(open(&app, owner, &vehicle, json!({})).await.str("id"));
    }
    let adds = (0..30).map(|n| {
        add_line(
            &app,
            owner,
            &orders[n % 3],
            json!({ "type": "PART", "partId": part, "quantity": 1 }),
        )
    });
    let results = futures_util::future::join_all(adds).await;
    let ok = results.iter().filter(|r| r.status == 201).count();
    let short = results
        .iter()
        .filter(|r| r.status == 409 && r.body["code"] == "INSUFFICIENT_STOCK")
        .count();
    assert_eq!((ok, short), (10, 20));
    // reserved is the sum of the open reservations; nothing is negative.
    let held: usize = app
        .find("work_orders", doc! {})
        .await
        .iter()
        .map(|o| o.get_array("lines").map(|l| l.len()).unwrap_or(0))
        .sum();
    let p = part_doc(&app, &part).await;
    assert_eq!(p.get_i64("reserved").unwrap(), held as i64);
    assert_eq!(
        (
            p.get_i64("reserved").unwrap(),
            p.get_i64("available").unwrap(),
            p.get_i64("onHand").unwrap()
        ),
        (10, 0, 10)
    );
}
