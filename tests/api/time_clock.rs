//! The technicians' time clock: one open shift and one open piece of work
//! per technician under concurrency, work that needs a shift, clock-out of
//! a shift closing the work with it, minutes counted on the LABOR line
//! (and moved by an edit), corrections by ADMIN+ with a reason and no
//! overlap, a MEMBER's view of their own entries, and the cleanup closing
//! entries left open past the working day.

use bson::doc;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::work_orders::{add_line, customer, open};

/// A work order with two LABOR lines: (order, first line, second line).
async fn job(app: &TestApp, owner: &Actor) -> (String, String, String) {
    let (_, vehicle) = customer(app, owner).await;
    let order = open(app, owner, &vehicle, json!({})).await.str("id");
    let mut lines = vec![];
    for d in ["Brakes", "Wheels"] {
        let r = add_line(
            app,
            owner,
            &order,
            json!({ "type": "LABOR", "description": d, "quantity": 100, "unitPrice": 9000, "taxRate": 1900 }),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text);
        lines.push(
            r.body["lines"].as_array().unwrap().last().unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    (order, lines[0].clone(), lines[1].clone())
}

async fn clock(app: &TestApp, actor: &Actor, path: &str, body: Value) -> Resp {
    app.post(&format!("/api/v1/time-entries/{path}"), Some(actor), body)
        .await
}

async fn open_entries(app: &TestApp, technician: &str) -> Vec<bson::Document> {
    app.find(
        "time_entries",
        doc! { "technicianId": oid(technician), "open": true },
    )
    .await
}

async fn line_minutes(app: &TestApp, order: &str, line: &str) -> i64 {
    let o = &app.find("work_orders", doc! { "_id": oid(order) }).await[0];
    o.get_array("lines")
        .unwrap()
        .iter()
        .filter_map(|l| l.as_document())
        .find(|l| l.get_object_id("id").unwrap() == oid(line))
        .and_then(|l| shared::db::number(l, "clockedMinutes"))
        .unwrap_or(0)
}

#[tokio::test]
async fn a_technician_has_one_open_shift_and_one_open_job_and_a_shift_out_closes_both() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await.clone();
    let member = app.member().await.clone();
    let (order, brakes, wheels) = job(&app, &owner).await;

    // Work needs a shift.
    clock(
        &app,
        &member,
        "clock-in",
        json!({ "kind": "JOB", "workOrderId": order, "lineId": brakes }),
    )
    .await
    .assert_problem(409, "NO_OPEN_SHIFT");
    // A JOB names its work order; a line must be one of its LABOR lines.
    let r = clock(&app, &member, "clock-in", json!({ "kind": "JOB" })).await;
    r.assert_problem(422, "VALIDATION_FAILED");
    assert_eq!(r.error_fields(), ["workOrderId"]);

    let shift = clock(&app, &member, "clock-in", json!({ "kind": "SHIFT" })).await;
    assert_eq!(shift.status, 201, "{}", shift.text);
    assert_eq!(shift.body["technicianId"], member.id.as_str());
    // The same again answers the open shift.
    let again = clock(&app, &member, "clock-in", json!({ "kind": "SHIFT" })).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.body["id"], shift.body["id"]);

    let bad = json!({ "kind": "JOB", "workOrderId": order, "lineId": bson::oid::ObjectId::new().to_hex() });
    clock(&app, &member, "clock-in", bad)
        .await
        .assert_problem(422, "VALIDATION_FAILED");
    let first = clock(
        &app,
        &member,
        "clock-in",
        json!({ "kind": "JOB", "workOrderId": order, "lineId": brakes }),
    )
    .await;
    assert_eq!(first.status, 201, "{}", first.text);
    // Other work closes the open job at the same instant.
    let second = clock(
        &app,
        &member,
        "clock-in",
        json!({ "kind": "JOB", "workOrderId": order, "lineId": wheels }),
    )
    .await;
    assert_eq!(second.status, 201, "{}", second.text);
    assert_eq!(second.body["closed"]["id"], first.body["id"]);
    assert_eq!(second.body["closed"]["endedAt"], second.body["startedAt"]);
    assert_eq!(open_entries(&app, &member.id).await.len(), 2);

    // Clocking out of the shift closes the job with it.
    let out = clock(&app, &member, "clock-out", json!({ "kind": "SHIFT" })).await;
    assert_eq!(out.status, 200, "{}", out.text);
    assert_eq!(out.body["closed"]["id"], second.body["id"]);
    assert!(open_entries(&app, &member.id).await.is_empty());
    clock(&app, &member, "clock-out", json!({ "kind": "JOB" }))
        .await
        .assert_problem(409, "NOT_CLOCKED_IN");

    // A MEMBER clocks only themselves; an ADMIN may name the technician.
    let admin = app.admin().await.clone();
    clock(
        &app,
        &member,
        "clock-in",
        json!({ "kind": "SHIFT", "technicianId": admin.id }),
    )
    .await
    .assert_problem(403, "PERMISSION_DENIED");
    let r = clock(
        &app,
        &admin,
        "clock-in",
        json!({ "kind": "SHIFT", "technicianId": member.id }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["technicianId"], member.id.as_str());
    clock(&app, &admin, "clock-in", json!({ "kind": "SHIFT" })).await;

    // A MEMBER lists their own entries; an ADMIN everyone's, filtered.
    let mine = app.get("/api/v1/time-entries", Some(&member)).await;
    assert_eq!(mine.status, 200, "{}", mine.text);
    let rows = mine.body["data"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|e| e["technicianId"] == member.id.as_str()));
    assert!(rows
        .iter()
        .all(|e| e.get("open").is_none() && e.get("slot").is_none()));
    let all = app.get("/api/v1/time-entries", Some(&admin)).await;
    assert_eq!(all.body["data"].as_array().unwrap().len(), 5);
    let jobs = app
        .get(
            &format!("/api/v1/time-entries?kind=JOB&workOrderId={order}"),
            Some(&admin),
        )
        .await;
    assert_eq!(jobs.body["data"].as_array().unwrap().len(), 2);
    // Another organization sees none of them.
    let other = app.other().await.clone();
    let theirs = app.get("/api/v1/time-entries", Some(&other)).await;
    assert_eq!(theirs.body["data"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn twenty_concurrent_clock_ins_leave_one_open_entry() {
    let app = TestApp::spawn_with(&[("RATE_LIMIT_API_FREE", "100000")]).await;
    let owner = app.owner().await.clone();
    let member = app.member().await.clone();
    let (order, brakes, wheels) = job(&app, &owner).await;
    let shifts = futures_util::future::join_all(
        (0..20).map(|_| clock(&app, &member, "clock-in", json!({ "kind": "SHIFT" }))),
    )
    .await;
    assert_eq!(shifts.iter().filter(|r| r.status == 201).count(), 1);
    assert!(shifts.iter().all(|r| r.status == 201 || r.status == 200));
    // The same job twenty times: one entry.
    let body = json!({ "kind": "JOB", "workOrderId": order, "lineId": brakes });
    let same = futures_util::future::join_all(
        (0..20).map(|_| clock(&app, &member, "clock-in", body.clone())),
    )
    .await;
    assert_eq!(
        same.iter().filter(|r| r.status == 201).count(),
        1,
        "{:?}",
        same.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(app.count("time_entries", doc! { "kind": "JOB" }).await, 1);
    // Alternating jobs: whatever the order, one open piece of work.
    let mixed = futures_util::future::join_all((0..20).map(|i| {
        let line = if i % 2 == 0 { &wheels } else { &brakes };
        clock(
            &app,
            &member,
            "clock-in",
            json!({ "kind": "JOB", "workOrderId": order, "lineId": line }),
        )
    }))
    .await;
    assert!(
        mixed.iter().all(|r| r.status == 201 || r.status == 200),
        "{:?}",
        mixed.iter().map(|r| &r.text).collect::<Vec<_>>()
    );
    let open = open_entries(&app, &member.id).await;
    assert_eq!(open.len(), 2, "one shift and one job: {open:?}");
    assert_eq!(
        open.iter()
            .filter(|e| e.get_str("kind").unwrap() == "JOB")
            .count(),
        1
    );
    // Every closed job ends where the next one starts: no overlap.
    let mut jobs = app.find("time_entries", doc! { "kind": "JOB" }).await;
    jobs.sort_by_key(|e| {
        (
            e.get_datetime("startedAt").unwrap().timestamp_millis(),
            e.get_datetime("endedAt")
                .map(|t| t.timestamp_millis())
                .unwrap_or(i64::MAX),
        )
    });
    for pair in jobs.windows(2) {
        let end = pair[0].get_datetime("endedAt").unwrap();
        assert!(end <= pair[1].get_datetime("startedAt").unwrap());
    }
}

#[tokio::test]
async fn corrections_need_a_reason_keep_entries_apart_and_move_the_lines_minutes() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await.clone();
    let member = app.member().await.clone();
    let admin = app.admin().await.clone();
    let (order, brakes, wheels) = job(&app, &owner).await;
    clock(&app, &member, "clock-in", json!({ "kind": "SHIFT" })).await;
    let a = clock(
        &app,
        &member,
        "clock-in",
        json!({ "kind": "JOB", "workOrderId": order, "lineId": brakes }),
    )
    .await
    .str("id");
    let b = clock(
        &app,
        &member,
        "clock-in",
        json!({ "kind": "JOB", "workOrderId": order, "lineId": wheels }),
    )
    .await
    .str("id");
    clock(&app, &member, "clock-out", json!({ "kind": "JOB" })).await;

    let at = |minutes_ago: i64| {
        shared::time::rfc3339(bson::DateTime::from_millis(
            bson::DateTime::now().timestamp_millis() - minutes_ago * 60_000,
        ))
    };
    let path = format!("/api/v1/time-entries/{a}");
    // ADMIN+ only, and with a reason.
    app.patch(
        &path,
        Some(&member),
        json!({ "editReason": "forgot", "startedAt": at(200) }),
    )
    .await
    .assert_problem(403, "PERMISSION_DENIED");
    let r = app
        .patch(&path, Some(&admin), json!({ "startedAt": at(200) }))
        .await;
    r.assert_problem(422, "VALIDATION_FAILED");
    assert_eq!(r.error_fields(), ["editReason"]);
    let r = app
        .patch(
            &path,
            Some(&admin),
            json!({ "editReason": "clocked late", "startedAt": at(200), "endedAt": at(210) }),
        )
        .await;
    r.assert_problem(422, "VALIDATION_FAILED");

    // 150 minutes on the brakes: the line counts them.
    let r = app
        .patch(
            &path,
            Some(&admin),
            json!({ "editReason": "clocked late", "startedAt": at(200), "endedAt": at(50) }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["minutes"], 150);
    assert_eq!(r.body["source"], "MANUAL");
    assert_eq!(line_minutes(&app, &order, &brakes).await, 150);
    // Moved to the wheels, the minutes move with it.
    let r = app
        .patch(
            &path,
            Some(&admin),
            json!({ "editReason": "wrong line", "lineId": wheels, "endedAt": at(80) }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(line_minutes(&app, &order, &brakes).await, 0);
    let b_minutes = app.find("time_entries", doc! { "_id": oid(&b) }).await[0]
        .get_i64("minutes")
        .unwrap();
    assert_eq!(line_minutes(&app, &order, &wheels).await, 120 + b_minutes);

    // Onto the other job's time: 409, nothing changed.
    let b_start = app.find("time_entries", doc! { "_id": oid(&b) }).await[0]
        .get_datetime("startedAt")
        .unwrap()
        .timestamp_millis();
    let into_b = shared::time::rfc3339(bson::DateTime::from_millis(b_start + 1));
    let before = app.find("time_entries", doc! { "_id": oid(&a) }).await[0].clone();
    app.patch(
        &path,
        Some(&admin),
        json!({ "editReason": "typo", "endedAt": into_b }),
    )
    .await
    .assert_problem(409, "TIME_ENTRY_OVERLAP");
    assert_eq!(
        app.find("time_entries", doc! { "_id": oid(&a) }).await[0],
        before
    );

    // Audited with the reason.
    let audit = app
        .find(
            "audit_log",
            doc! { "resource": "time_entry", "changes.editReason": "wrong line" },
        )
        .await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].get_object_id("userId").unwrap(), oid(&admin.id));
}

#[tokio::test]
async fn the_cleanup_closes_entries_left_open_past_the_working_day() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await.clone();
    let member = app.member().await.clone();
    let r = app
        .patch(
            "/api/v1/organization",
            Some(&owner),
            json!({ "settings": { "timezone": "Europe/Berlin", "workingHours": {
                "mon": ["08:00", "17:00"], "tue": ["08:00", "17:00"], "wed": ["08:00", "17:00"],
                "thu": ["08:00", "17:00"], "fri": ["08:00", "17:00"], "sat": null, "sun": null } } }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (order, brakes, _) = job(&app, &owner).await;
    // Monday 2 November 2026, 10:00 in Berlin (09:00 UTC): closed at
    // 17:00 (16:00 UTC), 7 hours later. A Saturday's entry (no hours):
    // at the local midnight after it.
    let monday = bson::DateTime::parse_rfc3339_str("2026-11-02T09:00:00Z").unwrap();
    let saturday = bson::DateTime::parse_rfc3339_str("2026-11-07T10:00:00Z").unwrap();
    let org = oid(&owner.org_id);
    let entry = |kind: &str, slot: &str, at: bson::DateTime, tech: &str| {
        let mut d = doc! {
            "_id": bson::oid::ObjectId::new(), "organizationId": org, "technicianId": oid(tech),
            "kind": kind, "slot": slot, "open": true, "startedAt": at, "endedAt": null,
            "source": "APP", "createdAt": at, "updatedAt": at, "version": 1_i64,
        };
        if kind == "JOB" {
            d.insert("workOrderId", oid(&order));
            d.insert("lineId", oid(&brakes));
        }
        d
    };
    let job_entry = entry("JOB", "WORK", monday, &member.id);
    let shift = entry("SHIFT", "SHIFT", saturday, &owner.id);
    let fresh = entry("SHIFT", "SHIFT", bson::DateTime::now(), &member.id);
    app.db
        .collection::<bson::Document>("time_entries")
        .insert_many([job_entry.clone(), shift.clone(), fresh.clone()])
        .await
        .unwrap();
    let state = shared::State::from_config(
        shared::config::Config::from_lookup(|k| app.env.get(k).cloned()).unwrap(),
        Some(shared::storage::Storage::s3),
    )
    .await
    .unwrap();
    functions::maintenance::cleanup::sessions(&state, bson::DateTime::now())
        .await
        .unwrap();
    let got = |d: &bson::Document| {
        let id = d.get_object_id("_id").unwrap();
        let app = &app;
        async move { app.find("time_entries", doc! { "_id": id }).await.remove(0) }
    };
    let j = got(&job_entry).await;
    assert_eq!(j.get_str("source").unwrap(), "AUTO_CLOSE");
    assert_eq!(
        j.get_datetime("endedAt").unwrap(),
        &bson::DateTime::parse_rfc3339_str("2026-11-02T16:00:00Z").unwrap()
    );
    assert_eq!(j.get_i64("minutes").unwrap(), 420);
    assert!(j.get("open").is_none());
    assert_eq!(line_minutes(&app, &order, &brakes).await, 420);
    let s = got(&shift).await;
    assert_eq!(
        s.get_datetime("endedAt").unwrap(),
        &bson::DateTime::parse_rfc3339_str("2026-11-07T23:00:00Z").unwrap()
    );
    // Today's open shift stays open; a second run changes nothing.
    assert!(got(&fresh).await.get_bool("open").unwrap());
    functions::maintenance::cleanup::sessions(&state, bson::DateTime::now())
        .await
        .unwrap();
    assert_eq!(line_minutes(&app, &order, &brakes).await, 420);
}

#[tokio::test]
async fn with_auto_start_shift_work_opens_the_shift_with_it() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await.clone();
    let member = app.member().await.clone();
    let (order, brakes, _) = job(&app, &owner).await;
    let r = app
        .patch(
            "/api/v1/organization",
            Some(&owner),
            json!({ "settings": { "timeClock": { "autoStartShift": true } } }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = clock(
        &app,
        &member,
        "clock-in",
        json!({ "kind": "JOB", "workOrderId": order, "lineId": brakes }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let open = open_entries(&app, &member.id).await;
    let mut kinds: Vec<&str> = open.iter().map(|e| e.get_str("kind").unwrap()).collect();
    kinds.sort();
    assert_eq!(kinds, ["JOB", "SHIFT"]);
}

#[tokio::test]
async fn a_member_lists_only_their_own_entries_whatever_the_filter() {
    let app = TestApp::spawn().await;
    let member = app.member().await.clone();
    let admin = app.admin().await.clone();
    clock(&app, &admin, "clock-in", json!({ "kind": "SHIFT" })).await;
    clock(&app, &member, "clock-in", json!({ "kind": "SHIFT" })).await;
    let r = app
        .get(
            &format!("/api/v1/time-entries?technicianId={}", admin.id),
            Some(&member),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"].as_array().unwrap().len(), 0, "{}", r.text);
    let r = app
        .get(
            &format!("/api/v1/time-entries?technicianId={}", admin.id),
            Some(&admin),
        )
        .await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn yesterdays_forgotten_shift_is_closed_at_its_days_end_not_reused() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await.clone();
    let member = app.member().await.clone();
    app.patch(
        "/api/v1/organization",
        Some(&owner),
        json!({ "settings": { "timezone": "UTC", "workingHours": {
            "mon": ["08:00", "17:00"], "tue": ["08:00", "17:00"], "wed": ["08:00", "17:00"],
            "thu": ["08:00", "17:00"], "fri": ["08:00", "17:00"], "sat": ["08:00", "17:00"],
            "sun": ["08:00", "17:00"] } } }),
    )
    .await;
    // Opened by the clock two days ago at 09:00 UTC (its lock exists).
    clock(&app, &member, "clock-in", json!({ "kind": "SHIFT" })).await;
    let day = bson::DateTime::now().timestamp_millis() / 86_400_000 - 2;
    let started = bson::DateTime::from_millis(day * 86_400_000 + 9 * 3_600_000);
    let old = open_entries(&app, &member.id).await.remove(0);
    app.db
        .collection::<bson::Document>("time_entries")
        .update_one(
            doc! { "_id": old.get_object_id("_id").unwrap() },
            doc! { "$set": { "startedAt": started } },
        )
        .await
        .unwrap();
    let r = clock(&app, &member, "clock-in", json!({ "kind": "SHIFT" })).await;
    assert_eq!(r.status, 201, "a new shift: {}", r.text);
    let closed = app
        .find(
            "time_entries",
            doc! { "_id": old.get_object_id("_id").unwrap() },
        )
        .await
        .remove(0);
    assert_eq!(closed.get_str("source").unwrap(), "AUTO_CLOSE");
    assert_eq!(
        closed.get_datetime("endedAt").unwrap().timestamp_millis(),
        day * 86_400_000 + 17 * 3_600_000
    );
    assert_eq!(closed.get_i64("minutes").unwrap(), 8 * 60);
    // An open entry cannot be edited to last more than a day.
    let admin = app.admin().await.clone();
    let r = app
        .patch(
            &format!("/api/v1/time-entries/{}", r.str("id")),
            Some(&admin),
            json!({ "editReason": "started earlier", "startedAt": shared::time::rfc3339(started) }),
        )
        .await;
    r.assert_problem(422, "VALIDATION_FAILED");
    assert_eq!(r.error_fields(), ["startedAt"]);
}

#[tokio::test]
async fn labour_lines_split_between_technicians_in_basis_points_summing_to_10000() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await.clone();
    let (member, admin) = (app.member().await.clone(), app.admin().await.clone());
    let (order, brakes, _) = job(&app, &owner).await;
    let splits = |a: i64, b: i64| json!([{ "technicianId": member.id, "shareBps": a }, { "technicianId": admin.id, "shareBps": b }]);
    let labour = |s: Value| json!({ "type": "LABOR", "quantity": 100, "unitPrice": 100, "technicianSplits": s });
    let r = add_line(&app, &owner, &order, labour(splits(6_000, 3_000))).await;
    r.assert_problem(422, "VALIDATION_FAILED");
    assert_eq!(r.error_fields(), ["technicianSplits"]);
    let twice = json!([{ "technicianId": member.id, "shareBps": 5_000 }, { "technicianId": member.id, "shareBps": 5_000 }]);
    add_line(&app, &owner, &order, labour(twice))
        .await
        .assert_problem(422, "VALIDATION_FAILED");
    let fee = json!({ "type": "FEE", "quantity": 1, "unitPrice": 100, "technicianSplits": splits(5_000, 5_000) });
    add_line(&app, &owner, &order, fee)
        .await
        .assert_problem(422, "VALIDATION_FAILED");
    let other = app.other().await.clone();
    let foreign = json!([{ "technicianId": other.id, "shareBps": 10_000 }]);
    add_line(&app, &owner, &order, labour(foreign))
        .await
        .assert_problem(422, "VALIDATION_FAILED");
    let r = add_line(&app, &owner, &order, labour(splits(6_000, 4_000))).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let line = r.body["lines"].as_array().unwrap().last().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // A PATCH keeps the same rule, on the line as it would be.
    let path = format!("/api/v1/work-orders/{order}/lines/{brakes}");
    app.patch(
        &path,
        Some(&owner),
        json!({ "technicianSplits": splits(5_000, 5_001) }),
    )
    .await
    .assert_problem(422, "VALIDATION_FAILED");
    let r = app
        .patch(
            &path,
            Some(&owner),
            json!({ "technicianSplits": splits(2_500, 7_500) }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let lines = r.body["lines"].as_array().unwrap();
    let split_of = |id: &str| {
        lines.iter().find(|l| l["id"] == id).unwrap()["technicianSplits"][1]["shareBps"].clone()
    };
    assert_eq!(split_of(&brakes), 7_500);
    assert_eq!(split_of(&line), 4_000);
}
