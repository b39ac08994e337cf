//! A work order's odometer reading, its invoice (numbered per organization,
//! frozen when issued) and its payments (never more than the balance, even
//! when concurrent; PAID when it reaches 0).

use crate::helpers::*;
use crate::work_orders::{add_line, approve, customer, move_to, open};
use bson::doc;
use serde_json::json;

#[tokio::test]
async fn odometer_in_is_a_reading_of_the_vehicle_and_never_goes_down() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    let (_, vehicle) = customer(&app, owner).await;
    let r = open(&app, owner, &vehicle, json!({ "odometerIn": 50_000 })).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let order = r.str("id");
    let v = app
        .get(&format!("/api/v1/vehicles/{vehicle}"), Some(owner))
        .await;
    assert_eq!(v.body["odometer"]["value"], 50_000);
    assert_eq!(v.body["odometer"]["unit"], "km");
    let readings = app
        .get(&format!("/api/v1/vehicles/{vehicle}/odometer"), Some(owner))
        .await;
    assert_eq!(readings.body["data"][0]["workOrderId"], order.as_str());

    // Lower than the latest: refused, and neither the work order nor a
    // reading is left behind.
    let before = app.count("work_orders", doc! {}).await;
    let r = open(&app, owner, &vehicle, json!({ "odometerIn": 40_000 })).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.body["code"], "ODOMETER_DECREASING");
    assert_eq!(r.body["errors"][0]["field"], "odometerIn");
    assert_eq!(app.count("work_orders", doc! {}).await, before);
    assert_eq!(app.count("odometer_readings", doc! {}).await, 1);

    // Set later by PATCH: a reading too; the same value again is none.
    let r = open(&app, owner, &vehicle, json!({})).await;
    let second = r.str("id");
    for _ in 0..2 {
        let r = app
            .patch(
                &format!("/api/v1/work-orders/{second}"),
                Some(owner),
                json!({ "odometerIn": 50_250 }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    assert_eq!(app.count("odometer_readings", doc! {}).await, 2);
    let r = app
        .patch(
            &format!("/api/v1/work-orders/{second}"),
            Some(owner),
            json!({ "odometerIn": 100 }),
        )
        .await;
    assert_eq!(r.body["code"], "ODOMETER_DECREASING", "{}", r.text);
    let stored = app.find("work_orders", doc! { "_id": oid(&second) }).await;
    assert_eq!(stored[0].get_i64("odometerIn").unwrap(), 50_250);
    // Restoring the first work order, below the latest reading now, takes
    // no new reading and is not refused.
    let path = format!("/api/v1/work-orders/{order}");
    assert_eq!(app.delete(&path, Some(owner)).await.status, 204);
    let r = app
        .post(&format!("{path}/restore"), Some(owner), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(app.count("odometer_readings", doc! {}).await, 2);
}

/// A work order of `vehicle` with two approved lines (a fee of 25.00 and
/// 1.5 h of labour at 90.00 with 19 % tax: 160.00 + 25.65 = 185.65) and a
/// declined one, moved to COMPLETED.
pub(crate) async fn completed(app: &TestApp, actor: &Actor, vehicle: &str) -> String {
    let order = open(app, actor, vehicle, json!({})).await.str("id");
    let mut lines = vec![];
    for line in [
        json!({ "type": "FEE", "description": "Diagnosis", "quantity": 1, "unitPrice": 2500 }),
        json!({ "type": "LABOR", "description": "Brakes", "quantity": 150, "unitPrice": 9000, "taxRate": 1900 }),
        json!({ "type": "FEE", "description": "Car wash", "quantity": 1, "unitPrice": 1500 }),
    ] {
        let r = add_line(app, actor, &order, line).await;
        assert_eq!(r.status, 201, "{}", r.text);
        lines.push(
            r.body["lines"].as_array().unwrap().last().unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let r = approve(
        app,
        actor,
        &order,
        &[
            (&lines[0], "APPROVED"),
            (&lines[1], "APPROVED"),
            (&lines[2], "DECLINED"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    for to in ["APPROVED", "IN_PROGRESS", "COMPLETED"] {
        assert_eq!(move_to(app, actor, &order, to).await.status, 200);
    }
    order
}

pub(crate) async fn pay(app: &TestApp, actor: &Actor, order: &str, amount: i64) -> Resp {
    app.post(
        &format!("/api/v1/work-orders/{order}/payments"),
        Some(actor),
        json!({ "amount": amount, "method": "CARD" }),
    )
    .await
}

#[tokio::test]
async fn invoicing_numbers_and_freezes_and_payments_bring_the_balance_to_paid() {
    let app = TestApp::spawn().await;
    let (owner, admin, member) = (app.owner().await, app.admin().await, app.member().await);
    let (account, vehicle) = customer(&app, owner).await;
    let order = completed(&app, owner, &vehicle).await;
    let invoice = format!("/api/v1/work-orders/{order}/invoice");

    // Not invoiced yet: no invoice, no payments.
    assert_eq!(app.get(&invoice, Some(owner)).await.status, 404);
    let r = pay(&app, owner, &order, 100).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (409, Some("INVALID_TRANSITION"))
    );

    // Members do not invoice.
    assert_eq!(move_to(&app, member, &order, "INVOICED").await.status, 403);
    let r = move_to(&app, admin, &order, "INVOICED").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["invoiceNumber"], "INV-000001");
    assert_eq!(
        (r.body["total"].as_i64(), r.body["balance"].as_i64()),
        (Some(18_565), Some(18_565))
    );
    assert_eq!(r.body["amountPaid"], 0);

    // The invoice is what was billed then: counted lines only, and the
    // customer's name as it was.
    let r = app
        .patch(
            &format!("/api/v1/accounts/{account}"),
            Some(owner),
            json!({ "name": "Renamed AG" }),
        )
        .await;
    assert_eq!(r.status, 200);
    let inv = app.get(&invoice, Some(app.viewer().await)).await;
    assert_eq!(inv.status, 200, "{}", inv.text);
    assert_eq!(inv.body["number"], "INV-000001");
    assert_eq!(inv.body["customer"]["name"], "Customer GmbH");
    assert_eq!(inv.body["lines"].as_array().unwrap().len(), 2);
    assert_eq!(
        (inv.body["subtotal"].as_i64(), inv.body["tax"].as_i64()),
        (Some(16_000), Some(2_565))
    );
    assert_eq!(inv.body["total"], 18_565);

    // Lines no longer change.
    let r = add_line(
        &app,
        owner,
        &order,
        json!({ "type": "FEE", "quantity": 1, "unitPrice": 100 }),
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.text);

    // The next invoice takes the next number.
    let other = completed(&app, owner, &vehicle).await;
    let r = move_to(&app, owner, &other, "INVOICED").await;
    assert_eq!(r.body["invoiceNumber"], "INV-000002");

    // Payments: members may not, more than the balance is refused, PAID
    // only once the balance is 0.
    assert_eq!(pay(&app, member, &order, 100).await.status, 403);
    let r = pay(&app, admin, &order, 18_566).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("OVERPAYMENT")),
        "{}",
        r.text
    );
    assert_eq!(r.body["errors"][0]["field"], "amount");
    for bad in [
        json!({ "amount": 0, "method": "CARD" }),
        json!({ "amount": 10, "method": "BITCOIN" }),
        json!({ "amount": 10 }),
    ] {
        let r = app
            .post(
                &format!("/api/v1/work-orders/{order}/payments"),
                Some(admin),
                bad,
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.text);
    }
    let r = move_to(&app, admin, &order, "PAID").await;
    assert_eq!(r.status, 409, "{}", r.text);
    let r = pay(&app, admin, &order, 10_000).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        (r.body["amountPaid"].as_i64(), r.body["balance"].as_i64()),
        (Some(10_000), Some(8_565))
    );
    assert_eq!(r.body["status"], "INVOICED");
    let r = pay(&app, admin, &order, 8_565).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        (r.body["status"].as_str(), r.body["balance"].as_i64()),
        (Some("PAID"), Some(0))
    );
    assert_eq!(r.body["payments"].as_array().unwrap().len(), 2);
    let inv = app.get(&invoice, Some(owner)).await;
    assert_eq!(
        (inv.body["status"].as_str(), inv.body["amountPaid"].as_i64()),
        (Some("PAID"), Some(18_565))
    );
    let r = pay(&app, admin, &order, 1).await;
    assert_eq!(r.status, 409, "{}", r.text);
    let audited = app
        .count(
            "audit_log",
            doc! { "resourceId": oid(&order), "changes.payment": { "$exists": true } },
        )
        .await;
    assert_eq!(audited, 2);
}

#[tokio::test]
async fn concurrent_payments_never_take_the_balance_below_zero() {
    let app = TestApp::spawn_with(&[("RATE_LIMIT_API_FREE", "100000")]).await;
    let owner = app.owner().await;
    let (_, vehicle) = customer(&app, owner).await;
    let order = completed(&app, owner, &vehicle).await;
    assert_eq!(move_to(&app, owner, &order, "INVOICED").await.status, 200);
    // 18,565 owed; 12 payments of 5,000: three fit, the fourth would not.
    let payments = (0..12).map(|_| pay(&app, owner, &order, 5_000));
    let results = futures_util::future::join_all(payments).await;
    let accepted = results.iter().filter(|r| r.status == 201).count();
    assert_eq!(
        accepted,
        3,
        "{:?}",
        results.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for r in results.iter().filter(|r| r.status != 201) {
        assert_eq!(r.body["code"], "OVERPAYMENT", "{}", r.text);
    }
    let stored = app
        .find("work_orders", doc! { "_id": oid(&order) })
        .await
        .remove(0);
    assert_eq!(stored.get_i64("amountPaid").unwrap(), 15_000);
    assert_eq!(stored.get_i64("balance").unwrap(), 3_565);
    assert_eq!(stored.get_array("payments").unwrap().len(), 3);
    assert_eq!(stored.get_str("status").unwrap(), "INVOICED");
}

#[tokio::test]
async fn a_work_order_bills_in_one_currency() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    let r = app
        .patch(
            "/api/v1/organization",
            Some(owner),
            json!({ "settings": { "currency": "EUR" } }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (_, vehicle) = customer(&app, owner).await;
    let r = open(&app, owner, &vehicle, json!({})).await;
    assert_eq!(r.body["currency"], "EUR");
    let order = r.str("id");
    let dollars = app
        .create_record(
            owner,
            "parts",
            json!({ "sku": "US-1", "name": "Imported", "unitPrice": 500, "currency": "USD" }),
        )
        .await;
    let r = add_line(
        &app,
        owner,
        &order,
        json!({ "type": "PART", "partId": dollars, "quantity": 1 }),
    )
    .await;
    assert_eq!(
        (r.status, r.body["errors"][0]["field"].as_str()),
        (422, Some("partId")),
        "{}",
        r.text
    );
    let stored = app
        .find("work_orders", doc! { "_id": oid(&order) })
        .await
        .remove(0);
    assert!(stored.get_array("lines").unwrap().is_empty());
}
