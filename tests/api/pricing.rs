//! Discounts, fee rules and tax-exempt customers, against cents computed by
//! hand (each expected figure below is worked out in its comment, not by
//! the code under test): a line discount by percentage and by amount, a
//! work-order discount shared over three lines by largest remainder, a
//! shop-supplies fee raised to its minimum and lowered to its maximum, 19 %
//! tax rounded half to even per line, and an exempt customer who pays none.

use serde_json::{json, Value};

use crate::helpers::*;
use crate::work_orders::{add_line, customer, open, stocked_part};

/// Shop supplies: 10 % of labour after discounts, 5.00 to 20.00, taxed at
/// 19 %.
async fn fee_rules(app: &TestApp, owner: &Actor) {
    let r = app
        .patch(
            "/api/v1/organization",
            Some(owner),
            json!({ "settings": { "fees": [
                { "name": "Shop supplies", "basis": "LABOR", "percent": 10, "min": 500, "max": 2000, "taxable": true, "taxRate": 1900 },
            ] } }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

/// The customer's `decision` on `line` of work order `order`, by phone.
async fn decide(
    app: &TestApp,
    actor: &Actor,
    order: &str,
    line: &impl serde::Serialize,
    decision: &str,
) -> Resp {
    app.post(
        &format!("/api/v1/work-orders/{order}/approval"),
        Some(actor),
        json!({ "approvedBy": "Customer", "method": "PHONE", "lines": [{ "lineId": line, "decision": decision }] }),
    )
    .await
}

fn lines(order: &Value) -> Vec<Value> {
    order["lines"].as_array().unwrap().clone()
}

fn figures(order: &Value) -> [i64; 4] {
    ["subtotal", "tax", "total", "discountTotal"].map(|k| order[k].as_i64().unwrap())
}

/// (amount, tax) of each line, in order.
fn line_money(order: &Value) -> Vec<(i64, i64)> {
    lines(order)
        .iter()
        .map(|l| (l["amount"].as_i64().unwrap(), l["tax"].as_i64().unwrap()))
        .collect()
}

/// The three lines of the table: 0.33 h of labour at 95.00, three parts at
/// 12.99 less 10 %, 2.5 h at 95.00 less 7.50.
async fn three_lines(app: &TestApp, actor: &Actor, order: &str, part: &str) -> Value {
    for line in [
        json!({ "type": "LABOR", "description": "Diagnosis", "quantity": 33, "unitPrice": 9500, "taxRate": 1900 }),
        json!({ "type": "PART", "partId": part, "quantity": 3, "discount": { "percent": 10 } }),
        json!({ "type": "LABOR", "description": "Brakes", "quantity": 250, "unitPrice": 9500, "taxRate": 1900, "discount": { "amount": 750 } }),
    ] {
        let r = add_line(app, actor, order, line).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    app.get(&format!("/api/v1/work-orders/{order}"), Some(actor))
        .await
        .body
}

#[tokio::test]
async fn discounts_fees_and_tax_come_to_the_cents_computed_by_hand() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await.clone();
    fee_rules(&app, &owner).await;
    let part = stocked_part(&app, "PAD-1", 10).await; // 12.99, 19 %
    let (_, vehicle) = customer(&app, &owner).await;
    let order = open(&app, &owner, &vehicle, json!({})).await.str("id");
    let wo = three_lines(&app, &owner, &order, &part).await;
    // Gross: 33 x 95.00 / 100 = 31.35; 3 x 12.99 = 38.97, less 10 % =
    // 3.897 -> 3.90 = 35.07; 250 x 95.00 / 100 = 237.50, less 7.50 =
    // 230.00. Labour after discounts 31.35 + 230.00 = 261.35: 10 % is 26.135
    // -> 26.14, lowered to the 20.00 maximum.
    let l = lines(&wo);
    assert_eq!(l.len(), 4, "{wo}");
    assert_eq!(
        [&l[0]["gross"], &l[1]["gross"], &l[2]["gross"]],
        [3135, 3897, 23750]
    );
    assert_eq!([&l[1]["lineDiscount"], &l[2]["lineDiscount"]], [390, 750]);
    assert_eq!(l[3]["type"], "FEE");
    assert_eq!(l[3]["feeRule"], "Shop supplies");
    // Tax 19 %: 31.35 -> 5.9565 -> 5.96; 35.07 -> 6.6633 -> 6.66; 230.00 ->
    // 43.70; 20.00 -> 3.80.
    assert_eq!(
        line_money(&wo),
        [(3135, 596), (3507, 666), (23000, 4370), (2000, 380)]
    );
    // 31.35 + 35.07 + 230.00 + 20.00 = 316.42; tax 60.12; total 376.54;
    // discounts 3.90 + 7.50 = 11.40.
    assert_eq!(figures(&wo), [31_642, 6_012, 37_654, 1_140]);
    let fee_id = l[3]["id"].clone();

    // 10.00 off the whole order, shared over 31.35, 35.07 and 230.00
    // (296.42): 1000 x 3135 / 29642 = 105 r 22590, x 3507 -> 118 r 9244,
    // x 23000 -> 775 r 27450; the 2 cents left go to the largest
    // remainders (the third line, then the first): 106, 118, 776.
    let r = app
        .patch(
            &format!("/api/v1/work-orders/{order}"),
            Some(&owner),
            json!({ "discount": { "amount": 1000 } }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let l = lines(&r.body);
    let shares: Vec<&Value> = l.iter().take(3).map(|l| &l["orderDiscount"]).collect();
    assert_eq!(shares, [106, 118, 776]);
    // Amounts 30.29, 33.89, 222.24; labour 252.53 -> fee 25.25, lowered
    // to 20.00. Tax: 5.7551 -> 5.76; 6.4391 -> 6.44; 42.2256 -> 42.23;
    // 3.80.
    assert_eq!(
        line_money(&r.body),
        [(3029, 576), (3389, 644), (22224, 4223), (2000, 380)]
    );
    // 30.29 + 33.89 + 222.24 + 20.00 = 306.42; tax 58.23; total 364.65;
    // discounts 11.40 + 10.00 = 21.40.
    assert_eq!(figures(&r.body), [30_642, 5_823, 36_465, 2_140]);
    // The fee line keeps its id while its rule applies.
    assert_eq!(l[3]["id"], fee_id);

    // 12.5 % instead: 296.42 x 0.125 = 37.0525 -> 37.05, shared: 3705 x
    // 3135 / 29642 = 391 r 25153, x 3507 -> 438 r 10239, x 23000 -> 2874 r
    // 23892; 2 cents left to the first and third: 392, 438, 2875.
    let r = app
        .patch(
            &format!("/api/v1/work-orders/{order}"),
            Some(&owner),
            json!({ "discount": { "percent": 12.5 } }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Amounts 27.43, 30.69, 201.25; labour 228.68 -> 22.87 -> 20.00. Tax:
    // 5.2117 -> 5.21; 5.8311 -> 5.83; 38.2375 -> 38.24; 3.80.
    assert_eq!(
        line_money(&r.body),
        [(2743, 521), (3069, 583), (20125, 3824), (2000, 380)]
    );
    // 279.37; tax 53.08; total 332.45; discounts 3.90 + 7.50 + 37.05.
    assert_eq!(figures(&r.body), [27_937, 5_308, 33_245, 4_845]);
    assert_eq!(r.body["discount"]["percent"], 12.5);

    // Declining the big labour line takes it out of the share and of the
    // fee's base: 31.35 + 35.07 = 66.42; 12.5 % = 8.3025 -> 8.30: 830 x
    // 3135 / 6642 = 391 r 5028, x 3507 -> 438 r 1614: 1 cent to the first.
    // Labour 31.35 - 3.92 = 27.43: 2.743 -> 2.74, raised to the 5.00
    // minimum.
    let big = l[2]["id"].clone();
    let r = decide(&app, &owner, &order, &big, "DECLINED").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let l = lines(&r.body);
    assert_eq!([&l[0]["orderDiscount"], &l[1]["orderDiscount"]], [392, 438]);
    assert_eq!(l[3]["amount"], 500);
    // 27.43 + 30.69 + 5.00 = 63.12; tax 5.21 + 5.83 + 0.95 = 11.99.
    assert_eq!(figures(&r.body)[..3], [6_312, 1_199, 7_511]);
}

#[tokio::test]
async fn an_exempt_customer_pays_no_tax_and_the_exemption_is_kept_on_the_order() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await.clone();
    fee_rules(&app, &owner).await;
    // An exemption names its reason, on create and on PATCH alike.
    let r = app
        .post(
            "/api/v1/accounts",
            Some(&owner),
            json!({ "name": "City Fleet", "taxExempt": true }),
        )
        .await;
    r.assert_problem(422, "VALIDATION_FAILED");
    assert_eq!(r.error_fields(), ["taxExemptReason"]);
    // An import keeps the rule too: the row without a reason is refused.
    let r = app
        .post(
            "/api/v1/imports",
            Some(&owner),
            json!({ "entity": "accounts", "mode": "valid-only",
                "csv": "name,taxExempt,taxExemptReason\nFleet A,true,\nFleet B,true,Charity 7\n" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["inserted"], 1);
    // Rows are numbered as lines of the file, the header being line 1.
    assert_eq!(r.body["errors"][0]["field"], "rows[2].taxExemptReason");
    // Only ADMIN+ make an exemption.
    let member = app.member().await.clone();
    app.post(
        "/api/v1/accounts",
        Some(&member),
        json!({ "name": "Mine", "taxExempt": true, "taxExemptReason": "Says so" }),
    )
    .await
    .assert_problem(403, "PERMISSION_DENIED");
    let mine = app.create_account(&member, "Mine").await;
    app.patch(
        &format!("/api/v1/accounts/{mine}"),
        Some(&member),
        json!({ "taxExempt": true, "taxExemptReason": "Says so" }),
    )
    .await
    .assert_problem(403, "PERMISSION_DENIED");
    let account = app.create_account(&owner, "City Fleet").await;
    let r = app
        .patch(
            &format!("/api/v1/accounts/{account}"),
            Some(&owner),
            json!({ "taxExempt": true }),
        )
        .await;
    r.assert_problem(422, "VALIDATION_FAILED");
    assert_eq!(r.error_fields(), ["taxExemptReason"]);
    let r = app
        .patch(
            &format!("/api/v1/accounts/{account}"),
            Some(&owner),
            json!({ "taxExempt": true, "taxExemptReason": "Public body, certificate 42" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let vehicle = app
        .create_record(
            &owner,
            "vehicles",
            json!({ "make": "VW", "model": "Caddy", "accountId": account }),
        )
        .await;
    let r = open(&app, &owner, &vehicle, json!({})).await;
    assert_eq!(r.body["taxExempt"], true, "{}", r.text);
    assert_eq!(r.body["taxExemptReason"], "Public body, certificate 42");
    let order = r.str("id");
    let r = add_line(
        &app,
        &owner,
        &order,
        json!({ "type": "LABOR", "description": "Diagnosis", "quantity": 33, "unitPrice": 9500, "taxRate": 1900 }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // 31.35 of labour: shop supplies 3.135 -> 3.14, raised to 5.00; no tax
    // on either, the fee's taxable rate notwithstanding.
    assert_eq!(line_money(&r.body), [(3135, 0), (500, 0)]);
    assert_eq!(figures(&r.body), [3_635, 0, 3_635, 0]);

    // The account's later change leaves the order as the customer saw it.
    let r = app
        .patch(
            &format!("/api/v1/accounts/{account}"),
            Some(&owner),
            json!({ "taxExempt": false }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = add_line(
        &app,
        &owner,
        &order,
        json!({ "type": "FEE", "description": "Towing", "quantity": 1, "unitPrice": 4000, "taxRate": 1900 }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["taxExempt"], true);
    assert_eq!(r.body["tax"], 0);
    // A new order of the now taxed customer is taxed.
    let r = open(&app, &owner, &vehicle, json!({})).await;
    assert_eq!(r.body["taxExempt"], false, "{}", r.text);
}

#[tokio::test]
async fn a_refused_discount_or_a_kept_line_leaves_the_work_order_as_it_was() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await.clone();
    fee_rules(&app, &owner).await;
    let part = stocked_part(&app, "PAD-1", 10).await;
    let (_, vehicle) = customer(&app, &owner).await;
    let order = open(&app, &owner, &vehicle, json!({})).await.str("id");
    let before = three_lines(&app, &owner, &order, &part).await;
    let path = format!("/api/v1/work-orders/{order}");
    let fee = lines(&before)[3]["id"].as_str().unwrap().to_string();
    let big = lines(&before)[2]["id"].as_str().unwrap().to_string();
    // More off the order than its lines come to (296.42; the fee takes no
    // discount).
    let r = app
        .patch(
            &path,
            Some(&owner),
            json!({ "discount": { "amount": 29_643 } }),
        )
        .await;
    r.assert_problem(422, "VALIDATION_FAILED");
    assert_eq!(r.error_fields(), ["discount.amount"]);
    for bad in [
        json!({ "percent": 0 }),
        json!({ "percent": 100.001 }),
        json!({ "percent": 10, "amount": 5 }),
        json!({ "amount": 0 }),
        json!({ "ratio": 1 }),
        json!("10%"),
    ] {
        let r = app
            .patch(&path, Some(&owner), json!({ "discount": bad }))
            .await;
        assert_eq!(r.status, 422, "{bad}: {}", r.text);
    }
    // More off a line than the line is.
    let r = app
        .patch(
            &format!("{path}/lines/{big}"),
            Some(&owner),
            json!({ "discount": { "amount": 23_751 } }),
        )
        .await;
    r.assert_problem(422, "VALIDATION_FAILED");
    assert_eq!(r.error_fields(), ["discount"]);
    // A fee rule's line is the server's: not changed, removed or decided.
    let r = app
        .patch(
            &format!("{path}/lines/{fee}"),
            Some(&owner),
            json!({ "unitPrice": 1 }),
        )
        .await;
    r.assert_problem(422, "VALIDATION_FAILED");
    app.delete(&format!("{path}/lines/{fee}"), Some(&owner))
        .await
        .assert_problem(422, "VALIDATION_FAILED");
    let r = decide(&app, &owner, &order, &fee, "DECLINED").await;
    r.assert_problem(422, "VALIDATION_FAILED");
    let now = app.get(&path, Some(&owner)).await.body;
    assert_eq!(now["version"], before["version"]);
    assert_eq!(now["lines"], before["lines"]);

    // Taking a line's discount off raises what the customer pays: an
    // approved line is agreed again; adding one keeps the approval.
    let r = decide(&app, &owner, &order, &big, "APPROVED").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .patch(
            &format!("{path}/lines/{big}"),
            Some(&owner),
            json!({ "discount": { "percent": 50 } }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(lines(&r.body)[2]["approval"], "APPROVED");
    assert_eq!(lines(&r.body)[2]["lineDiscount"], 11_875);
    let r = app
        .patch(
            &format!("{path}/lines/{big}"),
            Some(&owner),
            json!({ "discount": null }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(lines(&r.body)[2]["approval"], "PENDING");
    assert_eq!(lines(&r.body)[2]["amount"], 23_750);

    // A discount taken off the whole order raises what the approved lines
    // cost: they are agreed again.
    let r = app
        .patch(
            &path,
            Some(&owner),
            json!({ "discount": { "percent": 10 } }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = decide(&app, &owner, &order, &big, "APPROVED").await;
    assert_eq!(lines(&r.body)[2]["approval"], "APPROVED");
    let r = app
        .patch(&path, Some(&owner), json!({ "discount": null }))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(lines(&r.body)[2]["approval"], "PENDING");
    // A work order opened with an amount off it: lines come first.
    let r = open(
        &app,
        &owner,
        &vehicle,
        json!({ "discount": { "amount": 500 } }),
    )
    .await;
    r.assert_problem(422, "VALIDATION_FAILED");
    assert_eq!(r.error_fields(), ["discount.amount"]);

    // Once completed, the prices no longer change.
    let r = decide(&app, &owner, &order, &big, "APPROVED").await;
    assert_eq!(r.status, 200, "{}", r.text);
    for to in ["APPROVED", "IN_PROGRESS", "COMPLETED"] {
        let r = app
            .post(
                &format!("{path}/transition"),
                Some(&owner),
                json!({ "to": to }),
            )
            .await;
        assert_eq!(r.status, 200, "{to}: {}", r.text);
    }
    app.patch(&path, Some(&owner), json!({ "discount": { "percent": 5 } }))
        .await
        .assert_problem(409, "INVALID_TRANSITION");
}

#[tokio::test]
async fn fee_rules_are_checked_field_by_field() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await.clone();
    let r = app
        .patch(
            "/api/v1/organization",
            Some(&owner),
            json!({ "settings": { "fees": [
                { "name": "Supplies", "basis": "LABOUR", "percent": 7.125, "min": 900, "max": 100, "taxable": true },
            ] } }),
        )
        .await;
    r.assert_problem(422, "VALIDATION_FAILED");
    assert_eq!(
        r.error_fields(),
        [
            "settings.fees[0].basis",
            "settings.fees[0].percent",
            "settings.fees[0].max",
            "settings.fees[0].taxRate",
        ]
    );
    let settings = app.get("/api/v1/organization", Some(&owner)).await.body["settings"].clone();
    assert!(
        settings.get("fees").is_none_or(Value::is_null),
        "{settings}"
    );
}
