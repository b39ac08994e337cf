//! Purchase orders and receiving: a partial then a full receipt at the
//! part's moving average cost (exact minor units, computed by hand), a
//! keyed receipt retried moving nothing twice, over-receipt refused,
//! concurrent receipts that never receive more than was ordered, a failed
//! commit that leaves stock, cost and order as they were, and reorder
//! suggestions.

use bson::doc;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::work_orders::{add_line, customer, open, part_doc, stocked_part};

fn n(d: &bson::Document, k: &str) -> i64 {
    shared::db::number(d, k).unwrap_or(0)
}

async fn keyed(app: &TestApp, actor: &Actor, path: &str, key: &str, body: &Value) -> Resp {
    app.request(
        "POST",
        path,
        Some(&actor.token),
        Some(serde_json::to_vec(body).unwrap()),
        &[
            ("idempotency-key", key),
            ("content-type", "application/json"),
        ],
    )
    .await
}

/// A part of 10 on hand at 12.00 (its cost set by the owner), a vendor and
/// an ORDERED purchase order of `quantity` of it at 15.00: (part, order,
/// its first line's id).
async fn ordered(
    app: &TestApp,
    owner: &Actor,
    sku: &str,
    quantity: i64,
) -> (String, String, String) {
    let part = stocked_part(app, sku, 10).await;
    let r = app
        .patch(
            &format!("/api/v1/parts/{part}"),
            Some(owner),
            json!({ "unitCost": 1200 }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let vendor = app
        .create_record(owner, "vendors", json!({ "name": "Parts Wholesale GmbH" }))
        .await;
    let r = app
        .post(
            "/api/v1/purchase-orders",
            Some(owner),
            json!({ "vendorId": vendor, "lines": [{ "partId": part, "description": "Pads", "quantity": quantity, "unitCost": 1500 }] }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let order = r.str("id");
    let line = r.body["lines"][0]["id"].as_str().unwrap().to_string();
    let r = app
        .post(
            &format!("/api/v1/purchase-orders/{order}/transition"),
            Some(owner),
            json!({ "to": "ORDERED" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    (part, order, line)
}

#[tokio::test]
async fn a_purchase_order_is_received_in_part_then_whole_at_the_moving_average_cost() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await.clone();
    let member = app.member().await.clone();
    // ADMIN+ write vendors and purchase orders.
    app.post("/api/v1/vendors", Some(&member), json!({ "name": "Mine" }))
        .await
        .assert_problem(403, "PERMISSION_DENIED");
    let part = stocked_part(&app, "PAD-1", 10).await;
    app.patch(
        &format!("/api/v1/parts/{part}"),
        Some(&owner),
        json!({ "unitCost": 1200, "reorderLevel": 20, "reorderUpTo": 30 }),
    )
    .await;
    let vendor = app
        .create_record(&owner, "vendors", json!({ "name": "Parts Wholesale GmbH" }))
        .await;
    // A line for a work order waits for its part.
    let (_, vehicle) = customer(&app, &owner).await;
    let wo = open(&app, &owner, &vehicle, json!({})).await.str("id");
    let r = add_line(
        &app,
        &owner,
        &wo,
        json!({ "type": "FEE", "description": "Cleaner", "quantity": 1, "unitPrice": 900 }),
    )
    .await;
    let wo_line = r.body["lines"][0]["id"].as_str().unwrap().to_string();
    let r = app
        .post(
            "/api/v1/purchase-orders",
            Some(&owner),
            json!({ "vendorId": vendor, "expectedAt": "2026-12-10T08:00:00Z", "lines": [
                { "partId": part, "description": "Brake pads", "quantity": 5, "unitCost": 1500 },
                { "description": "Brake cleaner", "quantity": 2, "unitCost": 450, "workOrderId": wo, "workOrderLineId": wo_line },
            ] }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["number"], "PO-000001");
    assert_eq!(r.body["status"], "DRAFT");
    // 5 x 15.00 + 2 x 4.50.
    assert_eq!(r.body["total"], 8_400);
    assert_eq!(r.body["lines"][1]["received"], 0);
    let order = r.str("id");
    let lines: Vec<String> = r.body["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_string())
        .collect();
    let path = format!("/api/v1/purchase-orders/{order}");
    let receipt = |line: &str, quantity: i64, cost: Option<i64>| {
        let mut l = json!({ "lineId": line, "quantity": quantity });
        if let Some(c) = cost {
            l["unitCost"] = json!(c);
        }
        json!({ "vendorInvoiceNumber": "V-881", "receivedAt": "2026-12-04T09:00:00Z", "lines": [l] })
    };
    // Nothing is received before it is ordered.
    app.post(
        &format!("{path}/receipts"),
        Some(&owner),
        receipt(&lines[0], 1, None),
    )
    .await
    .assert_problem(409, "INVALID_TRANSITION");
    let r = app
        .post(
            &format!("{path}/transition"),
            Some(&owner),
            json!({ "to": "ORDERED" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(n(&part_doc(&app, &part).await, "onOrder"), 5);
    // Ordered, its lines no longer change.
    app.patch(
        &path,
        Some(&owner),
        json!({ "lines": [{ "description": "x", "quantity": 1, "unitCost": 1 }] }),
    )
    .await
    .assert_problem(409, "INVALID_TRANSITION");
    // 10 on hand + 5 on order - 0 reserved = 15, under 20: up to 30.
    let r = app
        .get("/api/v1/parts/reorder-suggestions", Some(&member))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"][0]["id"], part.as_str());
    assert_eq!(r.body["data"][0]["position"], 15);
    assert_eq!(r.body["data"][0]["suggestedQuantity"], 15);

    // 2 of 5 at the ordered 15.00: (10 x 12.00 + 2 x 15.00) / 12 = 12.50.
    let first = receipt(&lines[0], 2, None);
    let r = keyed(
        &app,
        &owner,
        &format!("{path}/receipts"),
        "receipt-1",
        &first,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["status"], "PARTIALLY_RECEIVED");
    let p = part_doc(&app, &part).await;
    assert_eq!(
        (n(&p, "onHand"), n(&p, "onOrder"), n(&p, "unitCost")),
        (12, 3, 1_250)
    );
    // The same receipt again (its key): the first answer, nothing moved.
    let again = keyed(
        &app,
        &owner,
        &format!("{path}/receipts"),
        "receipt-1",
        &first,
    )
    .await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(n(&part_doc(&app, &part).await, "onHand"), 12);
    let movements = app
        .find(
            "stock_movements",
            doc! { "partId": oid(&part), "purchaseOrderId": oid(&order) },
        )
        .await;
    assert_eq!(movements.len(), 1);
    assert_eq!(movements[0].get_str("reason").unwrap(), "RECEIVED");
    // More than still waits (3) is refused, and changes nothing.
    let r = app
        .post(&format!("{path}/receipts"), Some(&owner), {
            let mut b = receipt(&lines[0], 4, None);
            b["vendorInvoiceNumber"] = json!("V-899");
            b
        })
        .await;
    r.assert_problem(422, "VALIDATION_FAILED");
    assert_eq!(r.error_fields(), ["lines[0].quantity"]);
    assert_eq!(n(&part_doc(&app, &part).await, "onHand"), 12);

    // The rest at 16.10, with the cleaner: (12 x 12.50 + 3 x 16.10) / 15 =
    // 198.30 / 15 = 13.22 exactly.
    let rest = json!({ "vendorInvoiceNumber": "V-902", "receivedAt": "2026-12-04T15:00:00Z", "lines": [
        { "lineId": lines[0], "quantity": 3, "unitCost": 1610 },
        { "lineId": lines[1], "quantity": 2 },
    ] });
    let r = keyed(
        &app,
        &owner,
        &format!("{path}/receipts"),
        "receipt-2",
        &rest,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["status"], "RECEIVED");
    assert_eq!(r.body["receipts"].as_array().unwrap().len(), 2);
    let p = part_doc(&app, &part).await;
    assert_eq!(
        (n(&p, "onHand"), n(&p, "onOrder"), n(&p, "unitCost")),
        (15, 0, 1_322)
    );
    // The work order's line knows its part came.
    let w = app
        .get(&format!("/api/v1/work-orders/{wo}"), Some(&owner))
        .await;
    assert_eq!(
        w.body["lines"][0]["partReceivedAt"], "2026-12-04T15:00:00.000Z",
        "{}",
        w.body
    );
    // 15 on hand, nothing on order: no longer short of 20? Still: up to 30.
    let r = app
        .get("/api/v1/parts/reorder-suggestions", Some(&member))
        .await;
    assert_eq!(r.body["data"][0]["suggestedQuantity"], 15);
    // The same vendor invoice again, without a key: refused.
    let r = app
        .post(
            &format!("{path}/receipts"),
            Some(&owner),
            receipt(&lines[0], 1, None),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    // A received order is not deleted; closed, it is done.
    app.delete(&path, Some(&owner))
        .await
        .assert_problem(409, "INVALID_TRANSITION");
    let r = app
        .post(
            &format!("{path}/transition"),
            Some(&owner),
            json!({ "to": "CLOSED" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "CLOSED");
}

#[tokio::test]
async fn concurrent_receipts_never_receive_more_than_was_ordered() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await.clone();
    let (part, order, line) = ordered(&app, &owner, "PAD-2", 5).await;
    let path = format!("/api/v1/purchase-orders/{order}/receipts");
    let body = json!({ "vendorInvoiceNumber": "V-1", "receivedAt": "2026-12-04T09:00:00Z", "lines": [{ "lineId": line, "quantity": 1 }] });
    let answers =
        futures_util::future::join_all((0..8).map(|_| app.post(&path, Some(&owner), body.clone())))
            .await;
    let created = answers.iter().filter(|r| r.status == 201).count() as i64;
    for r in &answers {
        assert!([201, 409, 422].contains(&r.status), "{}", r.text);
    }
    let po = app
        .find("purchase_orders", doc! { "_id": oid(&order) })
        .await
        .remove(0);
    let received = n(
        po.get_array("lines").unwrap()[0].as_document().unwrap(),
        "received",
    );
    assert!(received <= 5, "received {received} of 5");
    assert_eq!(received, created);
    let p = part_doc(&app, &part).await;
    // Stock and movements moved exactly as often as a receipt landed.
    assert_eq!(n(&p, "onHand"), 10 + received);
    assert_eq!(n(&p, "onOrder"), 5 - received);
    let movements = app
        .find("stock_movements", doc! { "purchaseOrderId": oid(&order) })
        .await;
    assert_eq!(movements.len() as i64, received);
}

#[tokio::test]
async fn a_failed_commit_leaves_stock_cost_and_order_as_they_were() {
    let app = TestApp::spawn_isolated().await;
    let fail_points = FailPoints::take().await;
    let owner = app.owner().await.clone();
    let (part, order, line) = ordered(&app, &owner, "PAD-3", 4).await;
    let path = format!("/api/v1/purchase-orders/{order}/receipts");
    let body = json!({ "vendorInvoiceNumber": "V-7", "receivedAt": "2026-12-04T09:00:00Z", "lines": [{ "lineId": line, "quantity": 4, "unitCost": 1800 }] });
    let before = (
        part_doc(&app, &part).await,
        app.find("purchase_orders", doc! { "_id": oid(&order) })
            .await
            .remove(0),
    );
    app.fail_command(&fail_points, "commitTransaction", 0).await;
    let failed = keyed(&app, &owner, &path, "receipt-f", &body).await;
    assert_eq!(failed.status, 500, "{}", failed.text);
    let p = part_doc(&app, &part).await;
    assert_eq!(
        (n(&p, "onHand"), n(&p, "onOrder"), n(&p, "unitCost")),
        (
            n(&before.0, "onHand"),
            n(&before.0, "onOrder"),
            n(&before.0, "unitCost")
        )
    );
    let po = app
        .find("purchase_orders", doc! { "_id": oid(&order) })
        .await
        .remove(0);
    assert_eq!(po.get("lines"), before.1.get("lines"));
    assert_eq!(po.get_str("status").unwrap(), "ORDERED");
    assert!(app
        .find("stock_movements", doc! { "purchaseOrderId": oid(&order) })
        .await
        .is_empty());
    // The client's retry with its key lands it once: (10 x 12.00 + 4 x
    // 18.00) / 14 = 192.00 / 14 = 13.714.. -> 13.71.
    let done = keyed(&app, &owner, &path, "receipt-f", &body).await;
    assert_eq!(done.status, 201, "{}", done.text);
    let p = part_doc(&app, &part).await;
    assert_eq!(
        (n(&p, "onHand"), n(&p, "onOrder"), n(&p, "unitCost")),
        (14, 0, 1_371)
    );
}

#[tokio::test]
async fn a_part_deleted_on_order_is_not_received_and_cancelling_takes_it_off_order() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await.clone();
    let (part, order, line) = ordered(&app, &owner, "PAD-4", 3).await;
    assert_eq!(n(&part_doc(&app, &part).await, "onOrder"), 3);
    let r = app
        .delete(&format!("/api/v1/parts/{part}"), Some(&owner))
        .await;
    assert!(r.status == 200 || r.status == 204, "{}", r.text);
    let body = json!({ "vendorInvoiceNumber": "V-3", "receivedAt": "2026-12-04T09:00:00Z", "lines": [{ "lineId": line, "quantity": 1 }] });
    let r = app
        .post(
            &format!("/api/v1/purchase-orders/{order}/receipts"),
            Some(&owner),
            body,
        )
        .await;
    r.assert_problem(422, "VALIDATION_FAILED");
    assert_eq!(r.error_fields(), ["lines[0].lineId"]);
    assert_eq!(n(&part_doc(&app, &part).await, "onHand"), 10);
    let r = app
        .post(
            &format!("/api/v1/purchase-orders/{order}/transition"),
            Some(&owner),
            json!({ "to": "CANCELLED" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(n(&part_doc(&app, &part).await, "onOrder"), 0);
}
