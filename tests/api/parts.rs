//! Parts inventory: SKUs, read-only stock counters, adjustments that never
//! take stock below what is reserved or below 0 (also under concurrency),
//! movements that always add up to the stock, and the low-stock list.

use crate::helpers::*;
use bson::doc;
use serde_json::{json, Value};

async fn part(app: &TestApp, actor: &Actor, sku: &str, extra: Value) -> String {
    let mut body = json!({ "sku": sku, "name": format!("Part {sku}"), "unitPrice": 1250, "currency": "EUR", "taxRate": 1900 });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    app.create_record(actor, "parts", body).await
}

async fn adjust(app: &TestApp, actor: &Actor, id: &str, quantity: i64, reason: &str) -> Resp {
    app.post(
        &format!("/api/v1/parts/{id}/adjustments"),
        Some(actor),
        json!({ "quantity": quantity, "reason": reason }),
    )
    .await
}

/// The stock invariants, straight from the database: onHand is the sum of
/// the movements, available is onHand - reserved, nothing is negative.
async fn assert_stock_adds_up(app: &TestApp, id: &str) -> i64 {
    let part = app.find("parts", doc! { "_id": oid(id) }).await.remove(0);
    let on_hand = part.get_i64("onHand").unwrap();
    let reserved = part.get_i64("reserved").unwrap();
    let moved: i64 = app
        .find("stock_movements", doc! { "partId": oid(id) })
        .await
        .iter()
        .map(|m| m.get_i64("delta").unwrap())
        .sum();
    assert_eq!(on_hand, moved, "onHand is the sum of the movements");
    assert_eq!(part.get_i64("available").unwrap(), on_hand - reserved);
    assert!(on_hand >= reserved && reserved >= 0 && on_hand >= 0);
    on_hand
}

#[tokio::test]
async fn a_part_starts_empty_its_sku_is_unique_and_its_stock_is_read_only() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    let id = part(&app, owner, "BRK-001", json!({ "reorderLevel": 2 })).await;
    let r = app.get(&format!("/api/v1/parts/{id}"), Some(owner)).await;
    for counter in ["onHand", "reserved", "available"] {
        assert_eq!(r.body[counter], 0, "{counter}: {}", r.text);
    }
    let dup = app
        .post(
            "/api/v1/parts",
            Some(owner),
            json!({ "sku": "BRK-001", "name": "Again" }),
        )
        .await;
    dup.assert_problem(409, "ALREADY_EXISTS");
    assert_eq!(dup.error_fields(), ["sku"]);
    let r = app
        .post(
            "/api/v1/parts",
            Some(owner),
            json!({ "sku": "X-1", "name": "Free stock", "onHand": 100 }),
        )
        .await;
    assert_eq!(r.error_fields(), ["onHand"]);
    let r = app
        .patch(
            &format!("/api/v1/parts/{id}"),
            Some(owner),
            json!({ "available": 5 }),
        )
        .await;
    assert_eq!(r.error_fields(), ["available"]);
    let r = app
        .post(
            "/api/v1/parts",
            Some(owner),
            json!({ "sku": "X-2", "name": "Taxing", "taxRate": 10001 }),
        )
        .await;
    assert_eq!(r.error_fields(), ["taxRate"]);
}

#[tokio::test]
async fn adjustments_move_stock_record_movements_and_never_go_below_zero_or_reserved() {
    let app = TestApp::spawn().await;
    let (owner, admin, member) = (app.owner().await, app.admin().await, app.member().await);
    let id = part(&app, owner, "OIL-5W30", json!({})).await;
    let r = adjust(&app, admin, &id, 10, "RECEIVED").await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["part"]["onHand"], 10);
    assert_eq!(r.body["delta"], 10);
    assert_eq!(
        adjust(&app, admin, &id, -3, "DAMAGED").await.body["part"]["available"],
        7
    );
    // Taking more than there is: 409, nothing changes.
    let r = adjust(&app, admin, &id, -8, "COUNT").await;
    r.assert_problem(409, "INSUFFICIENT_STOCK");
    assert_eq!(assert_stock_adds_up(&app, &id).await, 7);
    // What open work orders reserve cannot be adjusted away.
    app.db
        .collection::<bson::Document>("parts")
        .update_one(
            doc! { "_id": oid(&id) },
            doc! { "$set": { "reserved": 5_i64, "available": 2_i64 } },
        )
        .await
        .unwrap();
    adjust(&app, admin, &id, -3, "DAMAGED")
        .await
        .assert_problem(409, "INSUFFICIENT_STOCK");
    assert_eq!(adjust(&app, admin, &id, -2, "RETURNED").await.status, 201);
    // Roles and input.
    adjust(&app, member, &id, 1, "RECEIVED")
        .await
        .assert_problem(403, "PERMISSION_DENIED");
    assert_eq!(
        adjust(&app, admin, &id, 0, "RECEIVED").await.error_fields(),
        ["quantity"]
    );
    assert_eq!(
        adjust(&app, admin, &id, 1, "STOLEN").await.error_fields(),
        ["reason"]
    );
    // The movements, newest first, for any member.
    let list = app
        .get(
            &format!("/api/v1/parts/{id}/movements"),
            Some(app.viewer().await),
        )
        .await;
    let deltas: Vec<i64> = list.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["delta"].as_i64().unwrap())
        .collect();
    assert_eq!(deltas, [-2, -3, 10]);
    assert_eq!(
        app.count("audit_log", doc! { "resource": "stock_movement" })
            .await,
        3
    );
    // Another organization sees nothing of it.
    let other = app.other().await;
    app.get(&format!("/api/v1/parts/{id}/movements"), Some(other))
        .await
        .assert_problem(404, "NOT_FOUND");
    adjust(&app, other, &id, 5, "RECEIVED")
        .await
        .assert_problem(404, "NOT_FOUND");
}

#[tokio::test]
async fn thirty_concurrent_withdrawals_from_ten_in_stock_leave_exactly_ten_taken() {
    let app = TestApp::spawn_with(&[("RATE_LIMIT_API_FREE", "100000")]).await;
    let admin = app.admin().await;
    let id = part(&app, admin, "FLT-9", json!({})).await;
    assert_eq!(adjust(&app, admin, &id, 10, "RECEIVED").await.status, 201);
    let takes = (0..30).map(|_| adjust(&app, admin, &id, -1, "DAMAGED"));
    let results = futures_util::future::join_all(takes).await;
    let taken = results.iter().filter(|r| r.status == 201).count();
    let refused = results
        .iter()
        .filter(|r| r.status == 409 && r.body["code"] == "INSUFFICIENT_STOCK")
        .count();
    let others: Vec<&str> = results
        .iter()
        .filter(|r| r.status != 201 && r.body["code"] != "INSUFFICIENT_STOCK")
        .map(|r| r.text.as_str())
        .collect();
    assert_eq!((taken, refused), (10, 20), "{others:?}");
    assert_eq!(assert_stock_adds_up(&app, &id).await, 0);
    assert_eq!(
        app.count("stock_movements", doc! { "partId": oid(&id) })
            .await,
        11
    );
}

#[tokio::test]
async fn the_low_stock_list_holds_parts_at_or_under_their_reorder_level() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let low = part(&app, admin, "LOW-1", json!({ "reorderLevel": 5 })).await;
    let fine = part(&app, admin, "OK-1", json!({ "reorderLevel": 5 })).await;
    let unset = part(&app, admin, "NONE-1", json!({})).await;
    adjust(&app, admin, &low, 5, "RECEIVED").await;
    adjust(&app, admin, &fine, 6, "RECEIVED").await;
    adjust(&app, admin, &unset, 1, "RECEIVED").await;
    let ids = |r: Resp| -> Vec<String> {
        r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_string())
            .collect()
    };
    let r = app.get("/api/v1/parts?lowStock=true", Some(admin)).await;
    assert_eq!(ids(r), std::slice::from_ref(&low));
    let r = app
        .get("/api/v1/parts?lowStock=false&sort=sku", Some(admin))
        .await;
    assert_eq!(ids(r), [unset.clone(), fine.clone()]);
    adjust(&app, admin, &fine, -1, "DAMAGED").await;
    let r = app
        .get("/api/v1/parts?lowStock=true&sort=sku", Some(admin))
        .await;
    assert_eq!(ids(r), [low, fine]);
    app.get("/api/v1/parts?lowStock=maybe", Some(admin))
        .await
        .assert_problem(400, "INVALID_PARAMETER");
}

#[tokio::test]
async fn stock_is_bounded_so_no_sum_of_it_can_wrap() {
    let app = TestApp::spawn_with(&[("RATE_LIMIT_API_FREE", "100000")]).await;
    let admin = app.admin().await;
    let id = part(&app, admin, "BULK-1", json!({})).await;
    // A stock just under the bound of 10^12 units, as years of receipts
    // would leave it (written straight to the database: a million
    // requests would take too long).
    let near: i64 = 1_000_000_000_000 - 5;
    app.db
        .collection::<bson::Document>("stock_movements")
        .insert_one(
            doc! { "organizationId": oid(&admin.org_id), "partId": oid(&id), "delta": near,
            "reason": "RECEIVED", "createdAt": bson::DateTime::now() },
        )
        .await
        .unwrap();
    app.db
        .collection::<bson::Document>("parts")
        .update_one(
            doc! { "_id": oid(&id) },
            doc! { "$set": { "onHand": near, "available": near } },
        )
        .await
        .unwrap();
    assert_eq!(adjust(&app, admin, &id, 5, "RECEIVED").await.status, 201);
    let r = adjust(&app, admin, &id, 1, "RECEIVED").await;
    r.assert_problem(422, "AMOUNT_OUT_OF_RANGE");
    assert_eq!(r.error_fields(), ["quantity"]);
    assert_eq!(assert_stock_adds_up(&app, &id).await, 1_000_000_000_000);
}
