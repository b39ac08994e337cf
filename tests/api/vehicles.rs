//! Vehicles: VIN and plate rules, uniqueness among live vehicles, model
//! years, the owner account, odometer readings that never go down (but
//! for an ADMIN's correction), the service history, filters and tenancy.

use crate::helpers::*;
use bson::doc;
use serde_json::{json, Value};

async fn vehicle(
    app: &TestApp,
    actor: &Actor,
    account: &str,
    extra: Value,
) -> crate::helpers::Resp {
    let mut body = json!({ "make": "Volkswagen", "model": "Golf", "accountId": account });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    app.post("/api/v1/vehicles", Some(actor), body).await
}

#[tokio::test]
async fn a_vin_is_upper_cased_checked_and_unique_among_live_vehicles() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    let account = app.create_account(owner, "Fleet GmbH").await;
    let r = vehicle(
        &app,
        owner,
        &account,
        json!({ "vin": " 1m8gdm9axkp042788 " }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["vin"], "1M8GDM9AXKP042788");
    let first = r.str("id");
    // A North American VIN with a wrong check digit, and I/O/Q anywhere.
    for bad in ["1M8GDM9A1KP042788", "WVWZZZ1JZXW00000O", "WVWZZZ1JZXW0000"] {
        let r = vehicle(&app, owner, &account, json!({ "vin": bad })).await;
        r.assert_problem(422, "VALIDATION_FAILED");
        assert_eq!(r.error_fields(), ["vin"], "{bad}");
    }
    // Elsewhere position 9 is free.
    let r = vehicle(&app, owner, &account, json!({ "vin": "WVWZZZ1JZXW000001" })).await;
    assert_eq!(r.status, 201, "{}", r.text);
    // The same VIN again: 409 naming it, whatever its case.
    let r = vehicle(&app, owner, &account, json!({ "vin": "1M8GDM9AXKP042788" })).await;
    r.assert_problem(409, "ALREADY_EXISTS");
    assert_eq!(r.error_fields(), ["vin"]);
    assert_eq!(
        app.count("vehicles", doc! { "vin": "1M8GDM9AXKP042788" })
            .await,
        1
    );
    // Deleted, its VIN is free again; restoring it then collides.
    assert_eq!(
        app.delete(&format!("/api/v1/vehicles/{first}"), Some(owner))
            .await
            .status,
        204
    );
    let r = vehicle(&app, owner, &account, json!({ "vin": "1M8GDM9AXKP042788" })).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = app
        .post(
            &format!("/api/v1/vehicles/{first}/restore"),
            Some(owner),
            json!({}),
        )
        .await;
    r.assert_problem(409, "ALREADY_EXISTS");
    // Another organization may hold the same VIN.
    let other = app.other().await;
    let theirs = app.create_account(other, "Their fleet").await;
    let r = vehicle(&app, other, &theirs, json!({ "vin": "1M8GDM9AXKP042788" })).await;
    assert_eq!(r.status, 201, "{}", r.text);
}

#[tokio::test]
async fn plates_compare_without_case_spaces_and_dashes_and_years_are_bounded() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    let account = app.create_account(owner, "Plates AG").await;
    let r = vehicle(
        &app,
        owner,
        &account,
        json!({ "plate": "b-sa 123", "year": 2019 }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["plate"], "BSA123");
    let r = vehicle(&app, owner, &account, json!({ "plate": "BSA123" })).await;
    r.assert_problem(409, "ALREADY_EXISTS");
    assert_eq!(r.error_fields(), ["plate"]);
    let next_year = shared::validate::current_year() + 1;
    for (year, ok) in [
        (1885, false),
        (1886, true),
        (next_year, true),
        (next_year + 1, false),
    ] {
        let r = vehicle(&app, owner, &account, json!({ "year": year })).await;
        assert_eq!(r.status == 201, ok, "{year}: {}", r.text);
        if !ok {
            assert_eq!(r.error_fields(), ["year"]);
        }
    }
    // The owner is required, and must be an account of this organization.
    let r = app
        .post("/api/v1/vehicles", Some(owner), json!({ "make": "Opel" }))
        .await;
    assert_eq!(r.error_fields(), ["accountId"]);
    let foreign = app.create_account(app.other().await, "Not yours").await;
    let r = vehicle(&app, owner, &foreign, json!({})).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.error_fields(), ["accountId"]);
}

#[tokio::test]
async fn vehicles_filter_by_account_make_and_year_and_search_vin_and_plate() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    let a = app.create_account(owner, "A").await;
    let b = app.create_account(owner, "B").await;
    vehicle(
        &app,
        owner,
        &a,
        json!({ "make": "BMW", "year": 2018, "plate": "M-XY 1" }),
    )
    .await;
    vehicle(
        &app,
        owner,
        &a,
        json!({ "make": "Audi", "year": 2020, "vin": "WAUZZZ8V0KA000001" }),
    )
    .await;
    vehicle(&app, owner, &b, json!({ "make": "BMW", "year": 2020 })).await;
    let count = |r: Resp| r.body["data"].as_array().map(Vec::len).unwrap_or(99);
    let list = |q: String| {
        let app = &app;
        async move { app.get(&format!("/api/v1/vehicles?{q}"), Some(owner)).await }
    };
    assert_eq!(count(list(format!("accountId={a}")).await), 2);
    assert_eq!(count(list("make=BMW".into()).await), 2);
    assert_eq!(count(list("year=2020".into()).await), 2);
    assert_eq!(count(list("year=2020&make=BMW".into()).await), 1);
    assert_eq!(count(list("q=MXY1".into()).await), 1);
    assert_eq!(count(list("q=WAUZZZ".into()).await), 1);
    list("year=recent".into())
        .await
        .assert_problem(400, "INVALID_PARAMETER");
}

async fn reading(app: &TestApp, actor: &Actor, id: &str, body: Value) -> Resp {
    app.post(
        &format!("/api/v1/vehicles/{id}/odometer"),
        Some(actor),
        body,
    )
    .await
}

#[tokio::test]
async fn an_odometer_never_goes_down_unless_an_admin_corrects_it() {
    let app = TestApp::spawn().await;
    let (owner, member, admin) = (app.owner().await, app.member().await, app.admin().await);
    let account = app.create_account(owner, "Odo KG").await;
    let id = vehicle(&app, member, &account, json!({})).await.str("id");
    let r = reading(&app, member, &id, json!({ "value": 1000, "unit": "km" })).await;
    assert_eq!(r.status, 201, "{}", r.text);
    // 700 miles are 1,126.5 km: more than 1,000 km.
    let r = reading(&app, member, &id, json!({ "value": 700, "unit": "mi" })).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let v = app
        .get(&format!("/api/v1/vehicles/{id}"), Some(member))
        .await;
    assert_eq!(v.body["odometer"]["value"], 700);
    assert_eq!(v.body["odometer"]["unit"], "mi");
    // Lower than the latest: refused, nothing written.
    let r = reading(&app, member, &id, json!({ "value": 1100, "unit": "km" })).await;
    r.assert_problem(422, "ODOMETER_DECREASING");
    assert_eq!(r.error_fields(), ["value"]);
    // A reading dated before the latest must not be higher than it.
    let r = reading(
        &app,
        member,
        &id,
        json!({ "value": 5000, "unit": "km", "readAt": "2020-01-01T00:00:00Z" }),
    )
    .await;
    r.assert_problem(422, "ODOMETER_DECREASING");
    let r = reading(
        &app,
        member,
        &id,
        json!({ "value": 400, "unit": "km", "readAt": "2020-01-01T00:00:00Z" }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // A correction is for ADMINs, and is audited as one.
    reading(
        &app,
        member,
        &id,
        json!({ "value": 900, "unit": "km", "correction": true }),
    )
    .await
    .assert_problem(403, "PERMISSION_DENIED");
    let r = reading(
        &app,
        admin,
        &id,
        json!({ "value": 900, "unit": "km", "correction": true }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let v = app
        .get(&format!("/api/v1/vehicles/{id}"), Some(member))
        .await;
    assert_eq!(v.body["odometer"]["value"], 900);
    assert_eq!(
        app.count(
            "audit_log",
            doc! { "resource": "odometer_reading", "changes.correction": true },
        )
        .await,
        1
    );
    // The readings, newest first; the refused ones are not there.
    let list = app
        .get(
            &format!("/api/v1/vehicles/{id}/odometer"),
            Some(app.viewer().await),
        )
        .await;
    let values: Vec<i64> = list.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["value"].as_i64().unwrap())
        .collect();
    assert_eq!(values.len(), 4, "{}", list.text);
    assert_eq!(*values.last().unwrap(), 400);
    assert_eq!(app.count("odometer_readings", doc! {}).await, 4);
    // Bad input names its field.
    let r = reading(&app, member, &id, json!({ "value": -1, "unit": "furlong" })).await;
    r.assert_problem(422, "VALIDATION_FAILED");
    assert_eq!(r.error_fields(), ["value", "unit"]);
    let r = reading(
        &app,
        member,
        &id,
        json!({ "value": 1, "unit": "km", "readAt": "2999-01-01T00:00:00Z" }),
    )
    .await;
    assert_eq!(r.error_fields(), ["readAt"]);
}

#[tokio::test]
async fn concurrent_readings_leave_the_latest_on_the_vehicle() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    let account = app.create_account(owner, "Race Ltd").await;
    let id = vehicle(&app, owner, &account, json!({})).await.str("id");
    let sends =
        (1..=10).map(|n| reading(&app, owner, &id, json!({ "value": n * 100, "unit": "km" })));
    let results = futures_util::future::join_all(sends).await;
    let accepted = results.iter().filter(|r| r.status == 201).count();
    assert!(results.iter().all(|r| r.status == 201 || r.status == 422));
    // Whatever was accepted is in the readings, and the vehicle shows the
    // highest accepted one: no reading lower than an earlier one slipped in.
    let stored = app.find("odometer_readings", doc! {}).await;
    assert_eq!(stored.len(), accepted);
    let highest = stored
        .iter()
        .map(|d| d.get_i64("value").unwrap())
        .max()
        .unwrap();
    let v = app
        .get(&format!("/api/v1/vehicles/{id}"), Some(owner))
        .await;
    assert_eq!(v.body["odometer"]["value"], highest);
}

#[tokio::test]
async fn the_history_lists_the_vehicles_work_orders_newest_first_and_tenancy_holds() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    let account = app.create_account(owner, "History GmbH").await;
    let id = vehicle(&app, owner, &account, json!({})).await.str("id");
    let r = app
        .get(
            &format!("/api/v1/vehicles/{id}/history"),
            Some(app.viewer().await),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"], json!([]));
    assert_eq!(r.body["vehicle"]["id"], id.as_str());
    let org = oid(&owner.org_id);
    let orders = app.db.collection::<bson::Document>("work_orders");
    for (n, day) in [(1, 1), (2, 3), (3, 2)] {
        orders
            .insert_one(doc! {
                "organizationId": org, "vehicleId": oid(&id), "number": format!("WO-00000{n}"),
                "deletedAt": null,
                "createdAt": bson::DateTime::from_millis(1_700_000_000_000 + day * 86_400_000),
            })
            .await
            .unwrap();
    }
    let r = app
        .get(&format!("/api/v1/vehicles/{id}/history"), Some(owner))
        .await;
    let numbers: Vec<&str> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["number"].as_str().unwrap())
        .collect();
    assert_eq!(numbers, ["WO-000002", "WO-000003", "WO-000001"]);
    // Another organization sees none of it.
    let other = app.other().await;
    for path in ["", "/odometer", "/history"] {
        app.get(&format!("/api/v1/vehicles/{id}{path}"), Some(other))
            .await
            .assert_problem(404, "NOT_FOUND");
    }
    reading(&app, other, &id, json!({ "value": 1, "unit": "km" }))
        .await
        .assert_problem(404, "NOT_FOUND");
    assert_eq!(app.count("odometer_readings", doc! {}).await, 0);
}

#[tokio::test]
async fn a_vehicles_readings_are_paged_by_cursor_newest_first() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    let account = app.create_account(owner, "Paged KG").await;
    let id = vehicle(&app, owner, &account, json!({})).await.str("id");
    for value in [100, 200, 300, 400, 500] {
        let r = reading(&app, owner, &id, json!({ "value": value, "unit": "km" })).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let mut seen = vec![];
    let mut path = format!("/api/v1/vehicles/{id}/odometer?limit=2");
    loop {
        let r = app.get(&path, Some(owner)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let page = r.body["data"].as_array().unwrap();
        assert!(page.len() <= 2);
        seen.extend(page.iter().map(|d| d["value"].as_i64().unwrap()));
        match r.body["nextCursor"].as_str() {
            Some(c) => path = format!("/api/v1/vehicles/{id}/odometer?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, [500, 400, 300, 200, 100]);
    // A bad page size is the list's usual 400.
    app.get(
        &format!("/api/v1/vehicles/{id}/odometer?limit=0"),
        Some(owner),
    )
    .await
    .assert_problem(400, "INVALID_PARAMETER");
}
