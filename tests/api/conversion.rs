//! Lead conversion (one transaction) and the opportunity summary.

use crate::helpers::*;
use bson::doc;
use serde_json::json;

async fn lead(app: &TestApp, by: &Actor) -> String {
    app.create_record(by, "leads", json!({ "firstName": "Lena", "lastName": "Lead", "company": "Lead Motors", "email": "lena@lead.example", "source": "WALK_IN" })).await
}

/// `POST /api/v1/leads/{id}/convert` with `body` as `actor`.
async fn convert(app: &TestApp, actor: Option<&Actor>, id: &str, body: serde_json::Value) -> Resp {
    app.post(&format!("/api/v1/leads/{id}/convert"), actor, body)
        .await
}

#[tokio::test]
async fn converting_a_lead_creates_account_contact_and_opportunity_and_marks_it_converted() {
    let app = TestApp::spawn().await;
    let id = lead(&app, app.member().await).await;
    let r = convert(
        &app,
        Some(app.member().await),
        &id,
        json!({ "opportunity": { "name": "Fleet service", "amount": 120000, "currency": "EUR" } }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["lead"]["status"], "CONVERTED");
    assert_eq!(r.body["account"]["name"], "Lead Motors");
    assert_eq!(r.body["contact"]["accountId"], r.body["account"]["id"]);
    assert_eq!(r.body["contact"]["email"], "lena@lead.example");
    assert_eq!(r.body["opportunity"]["accountId"], r.body["account"]["id"]);
    assert_eq!(r.body["opportunity"]["stage"], "PROSPECTING");
    let account = r.body["account"]["id"].as_str().unwrap();
    assert_eq!(
        app.get(
            &format!("/api/v1/accounts/{account}"),
            Some(app.viewer().await)
        )
        .await
        .status,
        200
    );
    let again = convert(&app, Some(app.member().await), &id, json!({})).await;
    again.assert_problem(409, "ALREADY_CONVERTED");
    assert_eq!(app.count("accounts", doc! {}).await, 1);
    let creates = app
        .find(
            "audit_log",
            doc! { "action": "CREATE", "changes.via": "lead-conversion" },
        )
        .await;
    assert_eq!(creates.len(), 3);
}

#[tokio::test]
async fn a_conversion_that_fails_half_way_leaves_nothing() {
    let app = TestApp::spawn_isolated().await;
    let fail_points = FailPoints::take().await;
    let id = lead(&app, app.owner().await).await;
    // The conversion's inserts: account, contact, opportunity (made to fail), then audits.
    app.fail_command(&fail_points, "insert", 2).await;
    let r = convert(
        &app,
        Some(app.owner().await),
        &id,
        json!({ "opportunity": { "name": "Deal" } }),
    )
    .await;
    r.assert_problem(500, "INTERNAL_ERROR");
    for collection in ["accounts", "contacts", "opportunities"] {
        assert_eq!(app.count(collection, doc! {}).await, 0, "{collection}");
    }
    assert_eq!(
        app.get(&format!("/api/v1/leads/{id}"), Some(app.owner().await))
            .await
            .body["status"],
        "NEW"
    );
    let r = convert(
        &app,
        Some(app.owner().await),
        &id,
        json!({ "opportunity": { "name": "Deal" } }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(app.count("opportunities", doc! {}).await, 1);
}

#[tokio::test]
async fn conversion_checks_its_input_and_the_leads_owner() {
    let app = TestApp::spawn().await;
    let id = lead(&app, app.admin().await).await;
    convert(&app, Some(app.member().await), &id, json!({}))
        .await
        .assert_problem(403, "PERMISSION_DENIED");
    let r = convert(
        &app,
        Some(app.admin().await),
        &id,
        json!({ "opportunity": { "amount": -5 } }),
    )
    .await;
    r.assert_problem(422, "VALIDATION_FAILED");
    assert_eq!(r.error_fields(), ["opportunity.name", "opportunity.amount"]);
    let theirs = lead(&app, app.other().await).await;
    convert(&app, Some(app.owner().await), &theirs, json!({}))
        .await
        .assert_problem(404, "NOT_FOUND");
    let r = convert(
        &app,
        Some(app.admin().await),
        &id,
        json!({ "accountName": "Renamed GmbH" }),
    )
    .await;
    assert_eq!(r.body["account"]["name"], "Renamed GmbH");
    assert!(r.body["opportunity"].is_null());
}

#[tokio::test]
async fn the_summary_counts_and_sums_per_stage_and_currency_for_the_organization_only() {
    let app = TestApp::spawn().await;
    for (stage, amount, currency) in [
        ("WON", 1000, "EUR"),
        ("WON", 2500, "EUR"),
        ("WON", 700, "USD"),
        ("PROPOSAL", 300, "EUR"),
    ] {
        app.create_record(
            app.owner().await,
            "opportunities",
            json!({ "name": "O", "stage": stage, "amount": amount, "currency": currency }),
        )
        .await;
    }
    let deleted = app
        .create_record(
            app.owner().await,
            "opportunities",
            json!({ "name": "Gone", "stage": "WON", "amount": 99999, "currency": "EUR" }),
        )
        .await;
    app.delete(
        &format!("/api/v1/opportunities/{deleted}"),
        Some(app.owner().await),
    )
    .await;
    app.create_record(
        app.other().await,
        "opportunities",
        json!({ "name": "Theirs", "stage": "WON", "amount": 5, "currency": "EUR" }),
    )
    .await;
    let r = app
        .get("/api/v1/opportunities/summary", Some(app.viewer().await))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["data"],
        json!([
            { "stage": "PROPOSAL", "currency": "EUR", "count": 1, "amount": 300 },
            { "stage": "WON", "currency": "EUR", "count": 2, "amount": 3500 },
            { "stage": "WON", "currency": "USD", "count": 1, "amount": 700 },
        ])
    );
}
