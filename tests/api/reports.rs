//! The owner's reports over a fixture with hand-computed figures: three
//! invoices on two vehicles (one issued 00:30 local on the night daylight
//! saving time ends, so it belongs to that day), a package discount, a
//! part without a cost, a cancelled and a deleted work order that never
//! count, two technicians with known entries (one job across local
//! midnight), technician splits on a labour line.

use bson::{doc, oid::ObjectId, Bson, Document};
use serde_json::{json, Value};

use crate::helpers::*;

fn at(s: &str) -> bson::DateTime {
    bson::DateTime::parse_rfc3339_str(s).unwrap()
}

fn line(kind: &str, id: ObjectId, quantity: i64, amount: i64) -> Document {
    doc! { "id": id, "type": kind, "quantity": quantity, "unitPrice": 0_i64, "amount": amount, "tax": 0_i64, "approval": "APPROVED" }
}

struct Fixture {
    t1: String,
    t2: String,
}

async fn fixture(app: &TestApp) -> Fixture {
    let owner = app.owner().await.clone();
    let r = app
        .patch(
            "/api/v1/organization",
            Some(&owner),
            json!({ "settings": { "timezone": "Europe/Berlin", "currency": "EUR" } }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (t1, t2) = (app.member().await.id.clone(), app.admin().await.id.clone());
    let org = oid(&owner.org_id);
    let (v1, v2) = (ObjectId::new(), ObjectId::new());
    let (l1, l2, l3, other) = (
        ObjectId::new(),
        ObjectId::new(),
        ObjectId::new(),
        ObjectId::new(),
    );
    let mut labour1 = line("LABOR", l1, 150, 13_500);
    labour1.insert(
        "technicianSplits",
        vec![
            Bson::Document(doc! { "technicianId": oid(&t1), "shareBps": 6_000_i64 }),
            Bson::Document(doc! { "technicianId": oid(&t2), "shareBps": 4_000_i64 }),
        ],
    );
    let mut pads = line("PART", ObjectId::new(), 2, 2_598);
    pads.insert("unitCost", 700_i64);
    let order = |status: &str,
                 vehicle: Option<ObjectId>,
                 tech: Option<ObjectId>,
                 issued: &str,
                 lines: Vec<Document>,
                 deleted: bool| {
        let lines: Vec<Bson> = lines.into_iter().map(Bson::Document).collect();
        doc! {
            "_id": ObjectId::new(), "organizationId": org, "status": status,
            "vehicleId": vehicle, "technicianId": tech,
            "deletedAt": if deleted { Bson::DateTime(at("2026-11-05T00:00:00Z")) } else { Bson::Null },
            "lines": lines.clone(),
            "invoice": { "issuedAt": at(issued), "lines": lines },
        }
    };
    let orders = vec![
        // Sunday 25 October 2026, 00:30 in Berlin (summer time): that day.
        order(
            "INVOICED",
            Some(v1),
            Some(oid(&t1)),
            "2026-10-24T22:30:00Z",
            vec![labour1, pads, line("FEE", ObjectId::new(), 1, 500)],
            false,
        ),
        // Monday 26 October, 00:30 in Berlin (winter time).
        order(
            "PAID",
            Some(v1),
            Some(oid(&t2)),
            "2026-10-25T23:30:00Z",
            vec![
                line("LABOR", l2, 100, 9_000),
                line("ADJUSTMENT", ObjectId::new(), 1, -1_000),
                line("PART", ObjectId::new(), 1, 1_000),
            ],
            false,
        ),
        order(
            "INVOICED",
            Some(v2),
            None,
            "2026-11-03T10:00:00Z",
            vec![line("LABOR", l3, 50, 4_500)],
            false,
        ),
        order(
            "CANCELLED",
            Some(v2),
            None,
            "2026-11-01T10:00:00Z",
            vec![line("LABOR", other, 99, 99_999)],
            false,
        ),
        order(
            "INVOICED",
            Some(v2),
            None,
            "2026-11-02T10:00:00Z",
            vec![line("LABOR", other, 99, 99_999)],
            true,
        ),
        // Before the span: 24 October, 23:59 in Berlin.
        order(
            "INVOICED",
            Some(v2),
            None,
            "2026-10-24T21:59:00Z",
            vec![line("LABOR", other, 99, 99_999)],
            false,
        ),
    ];
    let order_ids: Vec<ObjectId> = orders
        .iter()
        .map(|o| o.get_object_id("_id").unwrap())
        .collect();
    app.db
        .collection::<Document>("work_orders")
        .insert_many(orders)
        .await
        .unwrap();
    let entry = |tech: &str,
                 kind: &str,
                 order: Option<ObjectId>,
                 line: Option<ObjectId>,
                 from: &str,
                 minutes: i64| {
        let start = at(from);
        let mut d = doc! {
            "organizationId": org, "technicianId": oid(tech), "kind": kind,
            "startedAt": start, "minutes": minutes,
            "endedAt": bson::DateTime::from_millis(start.timestamp_millis() + minutes * 60_000),
        };
        if let (Some(o), Some(l)) = (order, line) {
            d.insert("workOrderId", o);
            d.insert("lineId", l);
        }
        d
    };
    let mut open = entry(&t1, "SHIFT", None, None, "2026-10-26T07:00:00Z", 0);
    open.insert("endedAt", Bson::Null);
    let entries = vec![
        entry(&t1, "SHIFT", None, None, "2026-10-25T07:00:00Z", 480),
        entry(
            &t1,
            "JOB",
            Some(order_ids[0]),
            Some(l1),
            "2026-10-25T08:00:00Z",
            60,
        ),
        entry(&t2, "SHIFT", None, None, "2026-10-25T14:00:00Z", 600),
        entry(
            &t2,
            "JOB",
            Some(order_ids[0]),
            Some(l1),
            "2026-10-25T15:00:00Z",
            30,
        ),
        // 22:30 to 00:00 local, across midnight into the 26th.
        entry(
            &t2,
            "JOB",
            Some(order_ids[1]),
            Some(l2),
            "2026-10-25T21:30:00Z",
            90,
        ),
        entry(&t2, "NON_BILLABLE", None, None, "2026-10-25T17:00:00Z", 60),
        // On a line never invoiced: no efficiency figure counts it.
        entry(
            &t2,
            "JOB",
            Some(ObjectId::new()),
            Some(ObjectId::new()),
            "2026-11-10T08:00:00Z",
            500,
        ),
        open,
    ];
    app.db
        .collection::<Document>("time_entries")
        .insert_many(entries)
        .await
        .unwrap();
    // The lines' clocked minutes, and whose, as the clock keeps them.
    for (order, line, by) in [
        (order_ids[0], l1, doc! { &t1: 60_i64, &t2: 30_i64 }),
        (order_ids[1], l2, doc! { &t2: 90_i64 }),
    ] {
        let total: i64 = by.values().filter_map(Bson::as_i64).sum();
        app.db
            .collection::<Document>("work_orders")
            .update_one(
                doc! { "_id": order, "lines.id": line },
                doc! { "$set": { "lines.$.clockedMinutes": total, "lines.$.clockedBy": by } },
            )
            .await
            .unwrap();
    }
    Fixture { t1, t2 }
}

async fn report(app: &TestApp, actor: &Actor, name: &str, query: &str) -> Value {
    let r = app
        .get(&format!("/api/v1/reports/{name}?{query}"), Some(actor))
        .await;
    assert_eq!(r.status, 200, "{name}: {}", r.text);
    assert!(r.body["definitions"]
        .as_object()
        .is_some_and(|d| !d.is_empty()));
    r.body
}

fn row<'a>(body: &'a Value, key: &str) -> &'a Value {
    body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == key)
        .unwrap_or_else(|| panic!("no row {key} in {body}"))
}

#[tokio::test]
async fn every_figure_matches_the_hand_computed_value() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await.clone();
    let f = fixture(&app).await;
    let span = "from=2026-10-25&to=2026-11-30";

    let r = report(&app, &owner, "revenue", span).await;
    assert_eq!(r["groupBy"], "month");
    assert_eq!(r["rows"].as_array().unwrap().len(), 2);
    let oct = row(&r, "2026-10");
    assert_eq!(
        (
            oct["labor"].clone(),
            oct["parts"].clone(),
            oct["fees"].clone(),
            oct["adjustments"].clone(),
            oct["net"].clone()
        ),
        (
            json!(22_500),
            json!(3_598),
            json!(500),
            json!(-1_000),
            json!(25_598)
        )
    );
    let nov = row(&r, "2026-11");
    assert_eq!(
        (
            nov["labor"].clone(),
            nov["parts"].clone(),
            nov["net"].clone()
        ),
        (json!(4_500), json!(0), json!(4_500))
    );
    // By day: the invoice at 00:30 local belongs to the 25th, the next to the 26th.
    let r = report(&app, &owner, "revenue", &format!("{span}&groupBy=day")).await;
    assert_eq!(row(&r, "2026-10-25")["net"], 16_598);
    assert_eq!(row(&r, "2026-10-26")["net"], 9_000);
    let r = report(&app, &owner, "revenue", &format!("{span}&groupBy=week")).await;
    assert_eq!(row(&r, "2026-W43")["net"], 16_598);
    assert_eq!(row(&r, "2026-W44")["net"], 9_000);
    assert_eq!(row(&r, "2026-W45")["net"], 4_500);

    let r = report(&app, &owner, "invoices", span).await;
    let oct = row(&r, "2026-10");
    assert_eq!(
        (
            oct["invoices"].clone(),
            oct["carCount"].clone(),
            oct["averageRepairOrder"].clone()
        ),
        (json!(2), json!(1), json!(12_799))
    );
    assert_eq!(row(&r, "2026-11")["invoices"], 1);

    let r = report(&app, &owner, "parts-margin", span).await;
    let oct = row(&r, "2026-10");
    assert_eq!(oct["partsRevenue"], 3_598);
    assert_eq!(oct["partsCost"], 1_400);
    assert_eq!(oct["margin"], 2_198);
    assert_eq!(oct["marginBps"], 6_109);
    assert_eq!(oct["linesWithoutCost"], 1);

    let r = report(&app, &owner, "effective-labor-rate", span).await;
    assert_eq!(row(&r, "2026-10")["effectiveLaborRate"], 9_000);
    assert_eq!(row(&r, "2026-11")["effectiveLaborRate"], 9_000);

    let r = report(
        &app,
        &owner,
        "technician-efficiency",
        &format!("{span}&groupBy=technician"),
    )
    .await;
    let (t1, t2) = (row(&r, &f.t1), row(&r, &f.t2));
    assert_eq!(
        (
            t1["billedMinutes"].clone(),
            t1["clockedMinutes"].clone(),
            t1["efficiencyBps"].clone()
        ),
        (json!(54), json!(60), json!(9_000))
    );
    assert_eq!(
        (
            t2["billedMinutes"].clone(),
            t2["clockedMinutes"].clone(),
            t2["efficiencyBps"].clone()
        ),
        (json!(96), json!(120), json!(8_000))
    );
    let nobody = row(&r, "unassigned");
    assert_eq!(nobody["billedMinutes"], 30);
    assert!(nobody.get("efficiencyBps").is_none());

    let r = report(
        &app,
        &owner,
        "technician-productivity",
        "from=2026-10-25&to=2026-10-26&groupBy=technician",
    )
    .await;
    let (t1, t2) = (row(&r, &f.t1), row(&r, &f.t2));
    assert_eq!(
        (
            t1["shiftMinutes"].clone(),
            t1["jobMinutes"].clone(),
            t1["productivityBps"].clone()
        ),
        (json!(480), json!(60), json!(1_250))
    );
    assert_eq!(
        (
            t2["jobMinutes"].clone(),
            t2["nonBillableMinutes"].clone(),
            t2["productivityBps"].clone()
        ),
        (json!(120), json!(60), json!(2_000))
    );
}

#[tokio::test]
async fn reports_are_for_admins_and_refuse_bad_spans() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await.clone();
    let member = app.member().await.clone();
    app.get(
        "/api/v1/reports/revenue?from=2026-01-01&to=2026-01-31",
        Some(&member),
    )
    .await
    .assert_problem(403, "PERMISSION_DENIED");
    app.get(
        "/api/v1/reports/unknown?from=2026-01-01&to=2026-01-31",
        Some(&owner),
    )
    .await
    .assert_problem(404, "NOT_FOUND");
    for q in [
        "from=2026-02-01&to=2026-01-01",
        "from=2026-1-1&to=2026-01-31",
        "to=2026-01-31",
        "from=2020-01-01&to=2026-01-31",
        "from=2026-01-01&to=2026-01-31&groupBy=year",
    ] {
        let r = app
            .get(&format!("/api/v1/reports/revenue?{q}"), Some(&owner))
            .await;
        assert!(r.status == 400 || r.status == 422, "{q}: {}", r.text);
    }
    // Another organization's invoices never show.
    fixture(&app).await;
    let other = app.other().await.clone();
    let r = report(&app, &other, "revenue", "from=2026-10-25&to=2026-11-30").await;
    assert!(r["rows"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn bay_utilization_counts_booked_minutes_within_working_hours() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await.clone();
    let r = app
        .patch(
            "/api/v1/organization",
            Some(&owner),
            json!({ "settings": { "timezone": "Europe/Berlin", "bays": ["Bay 1", "Bay 2"], "workingHours": {
                "mon": ["08:00", "17:00"], "tue": ["08:00", "17:00"], "wed": ["08:00", "17:00"],
                "thu": ["08:00", "17:00"], "fri": ["08:00", "17:00"], "sat": null, "sun": null } } }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let org = oid(&owner.org_id);
    let booking = |bay: &str, from: &str, to: &str, status: &str| {
        doc! {
            "organizationId": org, "bay": bay, "startAt": at(from), "endAt": at(to),
            "status": status, "deletedAt": null,
        }
    };
    // Monday 2 November 2026 (UTC+1 in Berlin).
    app.db
        .collection::<Document>("appointments")
        .insert_many([
            booking(
                "Bay 1",
                "2026-11-02T08:00:00Z",
                "2026-11-02T10:00:00Z",
                "SCHEDULED",
            ),
            // 17:00 to 19:00 local: an hour within the working day.
            booking(
                "Bay 1",
                "2026-11-02T15:00:00Z",
                "2026-11-02T17:00:00Z",
                "COMPLETED",
            ),
            booking(
                "Bay 2",
                "2026-11-03T07:00:00Z",
                "2026-11-03T08:30:00Z",
                "CONFIRMED",
            ),
            booking(
                "Bay 2",
                "2026-11-02T08:00:00Z",
                "2026-11-02T12:00:00Z",
                "CANCELLED",
            ),
        ])
        .await
        .unwrap();
    let r = report(
        &app,
        &owner,
        "bay-utilization",
        "from=2026-11-02&to=2026-11-03&groupBy=day",
    )
    .await;
    assert_eq!(r["rows"].as_array().unwrap().len(), 4);
    let monday = row(&r, "2026-11-02 Bay 1");
    assert_eq!(monday["availableMinutes"], 540);
    assert_eq!(monday["bookedMinutes"], 180);
    assert_eq!(monday["utilizationBps"], 3_333);
    assert_eq!(row(&r, "2026-11-02 Bay 2")["bookedMinutes"], 0);
    assert_eq!(row(&r, "2026-11-03 Bay 2")["utilizationBps"], 1_667);
    // A weekend day has no working hours: nothing available.
    let r = report(
        &app,
        &owner,
        "bay-utilization",
        "from=2026-11-07&to=2026-11-07&groupBy=day",
    )
    .await;
    assert_eq!(row(&r, "2026-11-07 Bay 1")["availableMinutes"], 0);
    assert!(row(&r, "2026-11-07 Bay 1").get("utilizationBps").is_none());
}

/// Every report the rollup serves, for each grouping, over `span`.
async fn rolled_up_reports(app: &TestApp, owner: &Actor, span: &str) -> Vec<Value> {
    let mut out = vec![];
    for name in [
        "revenue",
        "invoices",
        "parts-margin",
        "effective-labor-rate",
        "technician-productivity",
    ] {
        for by in ["day", "week", "month", "technician"] {
            let r = report(app, owner, name, &format!("{span}&groupBy={by}")).await;
            out.push(json!({ "report": name, "groupBy": by, "rows": r["rows"] }));
        }
    }
    out
}

/// The organization's rollup rows as sums: what each (time zone, day,
/// technician) holds, zeros left out (a row taken back to zero by a
/// deletion is no row).
async fn rollup_sums(app: &TestApp) -> std::collections::BTreeMap<String, Document> {
    let mut out = std::collections::BTreeMap::new();
    for d in app.find("report_days", doc! {}).await {
        let Ok(day) = d.get_str("day") else { continue };
        let mut figures = Document::new();
        for (k, v) in &d {
            match v {
                Bson::Document(cars) if k == "vehicles" => {
                    for (car, n) in cars {
                        if n.as_i64() != Some(0) {
                            figures.insert(format!("vehicles.{car}"), n.clone());
                        }
                    }
                }
                Bson::Int64(0) | Bson::Int32(0) => {}
                Bson::Int64(_) | Bson::Int32(_) => {
                    figures.insert(k, v.clone());
                }
                _ => {}
            }
        }
        if !figures.is_empty() {
            let key = format!(
                "{} {day} {}",
                d.get_str("tz").unwrap(),
                d.get_str("technician").unwrap()
            );
            out.insert(key, figures);
        }
    }
    out
}

#[tokio::test]
async fn the_rollup_kept_with_each_event_equals_a_rebuild_from_the_source() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await.clone();
    let member = app.member().await.clone();
    fixture(&app).await;
    // A plan whose request budget covers the many reports compared here.
    app.db
        .collection::<Document>("organizations")
        .update_one(
            doc! { "_id": oid(&owner.org_id) },
            doc! { "$set": { "plan": "ENTERPRISE" } },
        )
        .await
        .unwrap();
    let today = bson::DateTime::now().try_to_rfc3339_string().unwrap()[..10].to_string();
    let span = format!("from=2026-10-01&to={today}");
    // Never rebuilt: the figures come from the source.
    let from_source = rolled_up_reports(&app, &owner, &span).await;
    assert!(app.find("report_days", doc! {}).await.is_empty());

    // Rebuilt: the same answers, now read from the rollup.
    let slug = app
        .get("/api/v1/organization", Some(&owner))
        .await
        .str("slug");
    let out = crate::admin_cli::admin_json(&app, &["reports", "rebuild", "--org", &slug]);
    // Four live invoices (the cancelled and the deleted ones never count),
    // seven closed entries (the open one has no figures yet).
    assert_eq!(
        (&out["invoices"], &out["timeEntries"]),
        (&json!(4), &json!(7))
    );
    assert_eq!(out["timezone"], "Europe/Berlin");
    assert_eq!(rolled_up_reports(&app, &owner, &span).await, from_source);
    // Read from the rollup indeed: a figure changed there shows.
    let (day, tech) = ("2026-11-03", "unassigned");
    app.db
        .collection::<Document>("report_days")
        .update_one(
            doc! { "day": day, "technician": tech },
            doc! { "$inc": { "labor": 1_i64 } },
        )
        .await
        .unwrap();
    let r = report(&app, &owner, "revenue", &format!("{span}&groupBy=day")).await;
    assert_eq!(row(&r, day)["labor"], 4_501);
    // A time zone changed (even back again) leaves the rollup aside until
    // it is rebuilt: the source answers.
    for tz in ["UTC", "Europe/Berlin"] {
        let r = app
            .patch(
                "/api/v1/organization",
                Some(&owner),
                json!({ "settings": { "timezone": tz } }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let r = report(&app, &owner, "revenue", &format!("{span}&groupBy=day")).await;
    assert_eq!(row(&r, day)["labor"], 4_500);

    // Events through the API keep it: an invoice issued, a time entry
    // clocked and corrected, an invoiced work order deleted.
    crate::admin_cli::admin_json(&app, &["reports", "rebuild", "--org", &slug]);
    let (_, vehicle) = crate::work_orders::customer(&app, &owner).await;
    let mut invoiced = vec![];
    for i in 0..2 {
        let order =
            crate::work_orders::open(&app, &owner, &vehicle, json!({ "technicianId": member.id }))
                .await
                .str("id");
        crate::work_orders::approved_line(&app, &owner, &order).await;
        let r = crate::work_orders::add_line(
            &app,
            &owner,
            &order,
            json!({ "type": "LABOR", "description": "Work", "quantity": 125 + i, "unitPrice": 8000, "taxRate": 1900, "discount": { "percent": 10 } }),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text);
        for to in ["APPROVED", "IN_PROGRESS", "COMPLETED", "INVOICED"] {
            let r = app
                .post(
                    &format!("/api/v1/work-orders/{order}/transition"),
                    Some(&owner),
                    json!({ "to": to }),
                )
                .await;
            assert_eq!(r.status, 200, "{to}: {}", r.text);
        }
        invoiced.push(order);
    }
    let r = app
        .delete(
            &format!("/api/v1/work-orders/{}", invoiced[1]),
            Some(&owner),
        )
        .await;
    let deleted = r.status == 204 || r.status == 200;
    for path in ["clock-in", "clock-out"] {
        let r = app
            .post(
                &format!("/api/v1/time-entries/{path}"),
                Some(&member),
                json!({ "kind": "SHIFT" }),
            )
            .await;
        assert!(r.status == 200 || r.status == 201, "{path}: {}", r.text);
    }
    let entry = app
        .find("time_entries", doc! { "technicianId": oid(&member.id), "endedAt": { "$ne": null }, "workOrderId": null })
        .await
        .into_iter()
        .find(|e| e.get_datetime("startedAt").unwrap().timestamp_millis() > at("2026-12-01T00:00:00Z").timestamp_millis())
        .expect("the entry just clocked");
    let ended = entry.get_datetime("endedAt").unwrap().timestamp_millis();
    let started = bson::DateTime::from_millis(ended - 95 * 60_000)
        .try_to_rfc3339_string()
        .unwrap();
    let r = app
        .patch(
            &format!(
                "/api/v1/time-entries/{}",
                entry.get_object_id("_id").unwrap().to_hex()
            ),
            Some(&owner),
            json!({ "startedAt": started, "editReason": "Forgot to clock in" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let kept = rollup_sums(&app).await;
    let answers = rolled_up_reports(&app, &owner, &span).await;
    // The corrected shift counts its 95 minutes, once (beside the
    // fixture's 480).
    let r = report(
        &app,
        &owner,
        "technician-productivity",
        &format!("{span}&groupBy=technician"),
    )
    .await;
    let since_rebuild: i64 = row(&r, &member.id)["shiftMinutes"].as_i64().unwrap();
    assert_eq!(since_rebuild, 480 + 95, "{r}");
    // Today's revenue: 1.25 h at 80.00 less 10 % = 90.00 and the 25.00 of
    // the approved fee line (the second order deleted when that is allowed).
    let r = report(
        &app,
        &owner,
        "revenue",
        &format!("from={today}&to={today}&groupBy=day"),
    )
    .await;
    let expected = if deleted {
        9_000 + 2_500
    } else {
        9_000 + 2_500 + 9_072 + 2_500
    };
    assert_eq!(row(&r, &today)["net"], expected, "{r}");

    let out = crate::admin_cli::admin_json(&app, &["reports", "rebuild", "--org", &slug]);
    assert_eq!(out["invoices"], if deleted { 5 } else { 6 });
    assert_eq!(
        rollup_sums(&app).await,
        kept,
        "the rollup kept with each event differs from a rebuild"
    );
    assert_eq!(rolled_up_reports(&app, &owner, &span).await, answers);
}
