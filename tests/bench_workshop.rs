//! The workshop benchmark (`scripts/bench.sh workshop`): p50/p99 through a
//! release `crm-local` of creating a work order, adding a PART line (a
//! stock reservation), completing a work order with 5 PART lines (5
//! consumptions) and a day's availability with 40 appointments, in an
//! organization holding `BENCH_VEHICLES` vehicles (default 10,000) and
//! `BENCH_WORK_ORDERS` work orders (default 50,000; the INVOICED and PAID
//! ones issued over the past year, with a labour and a part line), and
//! `BENCH_TIME_ENTRIES` closed time entries over the same year (default
//! 200,000: a shift for every ten, the others jobs on invoiced labour
//! lines, 8 technicians), seeded straight into MongoDB; then each report
//! over that year by month, from the source and then from the rollup
//! `crm-admin reports rebuild` makes (asserting the same answers), and the
//! rebuild's time; and service reminders over every vehicle (two readings
//! each, two rules): the first list read that computes them all, the list
//! by status and a vehicle's due services. `BENCH_WORKSHOP_REQUESTS` (default 200)
//! samples each operation, `BENCH_REPORT_REQUESTS` (default 20) each
//! report.

use std::time::Instant;

use bson::{doc, oid::ObjectId, Bson, DateTime, Document};
use serde_json::{json, Value};
use tests::bench_support::{hwm_kib, number, p50_p99, Bench, DB_TIMEOUT_MS, SECRET};

const STATUSES: [&str; 7] = [
    "PAID",
    "PAID",
    "INVOICED",
    "COMPLETED",
    "IN_PROGRESS",
    "ESTIMATE",
    "CANCELLED",
];

#[tokio::main]
async fn main() {
    let vehicles = number("BENCH_VEHICLES", 10_000);
    let orders = number("BENCH_WORK_ORDERS", 50_000);
    let entries = number("BENCH_TIME_ENTRIES", 200_000);
    let report_samples = number("BENCH_REPORT_REQUESTS", 20);
    const YEAR_MS: i64 = 365 * 86_400_000;
    let technicians: Vec<ObjectId> = (0..8).map(|_| ObjectId::new()).collect();
    let mut invoiced: Vec<(ObjectId, ObjectId)> = vec![];
    let samples = number("BENCH_WORKSHOP_REQUESTS", 200);
    let bench = Bench::start("bench_workshop").await;
    let (org, user, db) = (bench.org, bench.user, &bench.db);
    let now = DateTime::now();
    let stamp = doc! {
        "organizationId": org, "createdBy": user, "version": 1_i64, "deletedAt": null,
        "updatedAt": now,
    };

    let account = bench
        .call(
            "POST",
            "/accounts",
            Some(json!({ "name": "Fleet owner" })),
            201,
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let account_id = ObjectId::parse_str(&account).unwrap();
    eprintln!("seeding {vehicles} vehicles and {orders} work orders");
    let seeded = Instant::now();
    let vehicle_ids: Vec<ObjectId> = (0..vehicles).map(|_| ObjectId::new()).collect();
    for chunk in vehicle_ids.chunks(2000) {
        let docs: Vec<Document> = chunk
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let make = ["Volkswagen", "Ford", "Toyota"][i % 3];
                let mut d = doc! {
                    "_id": *id, "make": make, "model": "Model",
                    "year": 2010 + (i % 15) as i64, "accountId": account_id,
                    "plate": format!("B{}", id.to_hex()), "createdAt": now,
                };
                d.extend(stamp.clone());
                d
            })
            .collect();
        db.collection::<Document>("vehicles")
            .insert_many(docs)
            .await
            .unwrap();
    }
    let mut all_orders: Vec<Document> = vec![];
    for chunk in (0..orders).collect::<Vec<_>>().chunks(2000) {
        let docs: Vec<Document> = chunk
            .iter()
            .map(|i| {
                let created = DateTime::from_millis(now.timestamp_millis() - (*i as i64) * 60_000);
                let status = STATUSES[i % STATUSES.len()];
                let (id, labor) = (ObjectId::new(), ObjectId::new());
                let lines = vec![
                    doc! { "id": labor, "type": "LABOR", "quantity": 150_i64, "unitPrice": 9_000_i64,
                      "taxRate": 1_900_i64, "approval": "APPROVED", "amount": 13_500_i64, "tax": 2_565_i64,
                      "gross": 13_500_i64 },
                    doc! { "id": ObjectId::new(), "type": "PART", "quantity": 2_i64, "unitPrice": 2_450_i64,
                      "unitCost": 1_500_i64, "taxRate": 1_900_i64, "approval": "APPROVED",
                      "amount": 4_900_i64, "tax": 931_i64, "gross": 4_900_i64 },
                ];
                let mut d = doc! {
                    "_id": id, "number": format!("OLD-{i:07}"), "vehicleId": vehicle_ids[i % vehicles],
                    "accountId": account_id, "complaint": "Service", "status": status,
                    "technicianId": technicians[i % technicians.len()],
                    "currency": "EUR", "lines": lines.clone(),
                    "subtotal": 18_400_i64, "tax": 3_496_i64, "total": 21_896_i64,
                    "amountPaid": 0_i64, "balance": 21_896_i64, "createdAt": created,
                };
                if matches!(status, "INVOICED" | "PAID") {
                    // Issued over the past year, evenly.
                    let at = now.timestamp_millis() - (*i as i64 * 7_919_000) % YEAR_MS;
                    d.insert("invoice", doc! {
                        "number": format!("INV-{i:07}"), "issuedAt": DateTime::from_millis(at),
                        "currency": "EUR", "lines": lines, "subtotal": 18_400_i64, "tax": 3_496_i64,
                        "total": 21_896_i64,
                    });
                }
                d.extend(stamp.clone());
                d
            })
            .collect();
        for d in &docs {
            if let Ok(invoice) = d.get_document("invoice") {
                let line = invoice.get_array("lines").unwrap()[0]
                    .as_document()
                    .unwrap()
                    .get_object_id("id")
                    .unwrap();
                invoiced.push((d.get_object_id("_id").unwrap(), line));
            }
        }
        all_orders.extend(docs);
    }
    // The clock keeps each labour line's minutes, and each technician's
    // share, on the work order's line: as the entries below add up.
    let mut clocked: std::collections::HashMap<ObjectId, (i64, Document)> =
        std::collections::HashMap::new();
    for i in (0..entries).filter(|i| i % 10 != 0) {
        let (order, _) = invoiced[i % invoiced.len()];
        let minutes = 30 + (i as i64 % 7) * 15;
        let tech = technicians[i % technicians.len()].to_hex();
        let (total, by) = clocked.entry(order).or_insert((0, Document::new()));
        *total += minutes;
        let was = by.get_i64(&tech).unwrap_or(0);
        by.insert(tech, was + minutes);
    }
    for d in all_orders.iter_mut() {
        if let Some((total, by)) = clocked.get(&d.get_object_id("_id").unwrap()) {
            let mut lines = d.get_array("lines").unwrap().clone();
            if let Some(Bson::Document(labor)) = lines.get_mut(0) {
                labor.insert("clockedMinutes", *total);
                labor.insert("clockedBy", by.clone());
            }
            d.insert("lines", lines);
        }
    }
    for chunk in all_orders.chunks(2000) {
        db.collection::<Document>("work_orders")
            .insert_many(chunk.to_vec())
            .await
            .unwrap();
    }
    for chunk in (0..entries).collect::<Vec<_>>().chunks(5000) {
        let docs: Vec<Document> = chunk
            .iter()
            .map(|i| {
                let start = now.timestamp_millis() - (*i as i64 * 157_000) % YEAR_MS;
                let minutes = 30 + (*i as i64 % 7) * 15;
                let mut d = doc! {
                    "technicianId": technicians[i % technicians.len()],
                    "startedAt": DateTime::from_millis(start),
                    "endedAt": DateTime::from_millis(start + minutes * 60_000),
                    "minutes": minutes, "open": false, "source": "APP", "createdAt": now,
                };
                if i % 10 == 0 {
                    d.extend(doc! { "kind": "SHIFT", "slot": "SHIFT", "minutes": 480_i64 });
                } else {
                    let (order, line) = invoiced[i % invoiced.len()];
                    d.extend(doc! { "kind": "JOB", "slot": "WORK", "workOrderId": order, "lineId": line });
                }
                d.extend(stamp.clone());
                d
            })
            .collect();
        db.collection::<Document>("time_entries")
            .insert_many(docs)
            .await
            .unwrap();
    }
    let seeding = seeded.elapsed();

    let mut parts = vec![];
    for p in 0..5 {
        let part = bench
            .call(
                "POST",
                "/parts",
                Some(json!({ "sku": format!("BENCH-{p}"), "name": format!("Part {p}"), "unitPrice": 1_000 + p, "taxRate": 1_900 })),
                201,
            )
            .await["id"]
            .as_str()
            .unwrap()
            .to_string();
        bench
            .call(
                "POST",
                &format!("/parts/{part}/adjustments"),
                Some(json!({ "quantity": 1_000_000, "reason": "RECEIVED" })),
                201,
            )
            .await;
        parts.push(part);
    }

    let open = |i: usize| {
        let vehicle = vehicle_ids[(i * 7919) % vehicles].to_hex();
        bench.call(
            "POST",
            "/work-orders",
            Some(json!({ "vehicleId": vehicle, "complaint": format!("Noise {i}") })),
            201,
        )
    };
    let (mut create, mut line) = (vec![], vec![]);
    for i in 0..samples {
        let t = Instant::now();
        let order = open(i).await;
        create.push(t.elapsed());
        let id = order["id"].as_str().unwrap();
        let t = Instant::now();
        bench
            .call(
                "POST",
                &format!("/work-orders/{id}/lines"),
                Some(json!({ "type": "PART", "partId": parts[i % 5], "quantity": 1 })),
                201,
            )
            .await;
        line.push(t.elapsed());
    }

    let mut complete = vec![];
    for i in 0..samples / 2 {
        let order = open(samples + i).await;
        let id = order["id"].as_str().unwrap().to_string();
        let mut decisions = vec![];
        for part in &parts {
            let after = bench
                .call(
                    "POST",
                    &format!("/work-orders/{id}/lines"),
                    Some(json!({ "type": "PART", "partId": part, "quantity": 2 })),
                    201,
                )
                .await;
            let line = after["lines"].as_array().unwrap().last().unwrap()["id"].clone();
            decisions.push(json!({ "lineId": line, "decision": "APPROVED" }));
        }
        bench
            .call(
                "POST",
                &format!("/work-orders/{id}/approval"),
                Some(json!({ "lines": decisions, "approvedBy": "Customer", "method": "PHONE" })),
                200,
            )
            .await;
        for to in ["APPROVED", "IN_PROGRESS"] {
            bench
                .call(
                    "POST",
                    &format!("/work-orders/{id}/transition"),
                    Some(json!({ "to": to })),
                    200,
                )
                .await;
        }
        let t = Instant::now();
        let done = bench
            .call(
                "POST",
                &format!("/work-orders/{id}/transition"),
                Some(json!({ "to": "COMPLETED" })),
                200,
            )
            .await;
        complete.push(t.elapsed());
        assert_eq!(done["status"], "COMPLETED");
    }

    // A Monday with 40 appointments: four bays, ten hours each.
    let bays: Vec<String> = (1..=4).map(|b| format!("Bay {b}")).collect();
    let hours: Value = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .map(|d| (d.to_string(), json!(["08:00", "18:00"])))
        .collect::<serde_json::Map<_, _>>()
        .into();
    bench
        .call(
            "PATCH",
            "/organization",
            Some(json!({ "settings": { "timezone": "Europe/Berlin", "workingHours": hours, "bays": bays } })),
            200,
        )
        .await;
    for bay in &bays {
        for h in 0..10 {
            bench
                .call(
                    "POST",
                    "/appointments",
                    Some(json!({
                        "startAt": format!("2027-03-01T{:02}:00:00Z", 7 + h),
                        "endAt": format!("2027-03-01T{:02}:00:00Z", 8 + h),
                        "bay": bay,
                    })),
                    201,
                )
                .await;
        }
    }
    let mut availability = vec![];
    for _ in 0..samples {
        let t = Instant::now();
        let free = bench
            .call(
                "GET",
                "/appointments/availability?date=2027-03-02&durationMinutes=60",
                None,
                200,
            )
            .await;
        availability.push(t.elapsed());
        assert!(!free["slots"].as_array().unwrap().is_empty());
    }
    let mut busy_day = vec![];
    for _ in 0..samples {
        let t = Instant::now();
        let free = bench
            .call(
                "GET",
                "/appointments/availability?date=2027-03-01&durationMinutes=60",
                None,
                200,
            )
            .await;
        busy_day.push(t.elapsed());
        assert_eq!(free["slots"], json!([]));
    }

    // Service reminders: two readings a vehicle, the first from 10,000 to
    // 100,000 km, the latest a year's driving at 20 to 60 km a day later
    // and kept on the vehicle (as `POST .../odometer` does); an oil service
    // rule (12 months / 15,000 km) and a brake check (24 months). The oil
    // service falls due by distance on days spread over the next two
    // years: about 1 in 12 within the 30 days it is due soon, about 1 in
    // 75 already past (within the 5 days since the latest reading). The
    // first list read computes every vehicle's reminders, later ones read
    // them by status.
    for (n, chunk) in vehicle_ids.chunks(2000).enumerate() {
        let (mut docs, mut latest) = (vec![], vec![]);
        for (j, id) in chunk.iter().enumerate() {
            let i = n * 2000 + j;
            let per_day = 20 + (i % 41) as i64;
            let first = 10_000 + (i as i64 * 9) % 90_000;
            for (days, km) in [(300_i64, first), (5, first + per_day * 295)] {
                let read_at = DateTime::from_millis(now.timestamp_millis() - days * 86_400_000);
                let mut d = doc! {
                    "vehicleId": *id, "value": km, "unit": "km", "metres": km * 1000,
                    "readAt": read_at, "correction": false, "createdAt": now,
                };
                d.extend(stamp.clone());
                docs.push(d);
                if days == 5 {
                    latest.push(doc! {
                        "q": { "_id": *id },
                        "u": { "$set": { "odometer": {
                            "value": km, "unit": "km", "metres": km * 1000, "readAt": read_at,
                        } } },
                    });
                }
            }
        }
        db.collection::<Document>("odometer_readings")
            .insert_many(docs)
            .await
            .unwrap();
        let updated = db
            .run_command(doc! { "update": "vehicles", "updates": latest })
            .await
            .unwrap();
        let modified = match updated.get("nModified") {
            Some(Bson::Int32(n)) => i64::from(*n),
            Some(Bson::Int64(n)) => *n,
            _ => -1,
        };
        assert_eq!(modified, chunk.len() as i64, "{updated}");
    }
    for rule in [
        json!({ "name": "Oil service", "everyMonths": 12, "everyDistance": 15000 }),
        json!({ "name": "Brake check", "everyMonths": 24 }),
    ] {
        bench.call("POST", "/service-rules", Some(rule), 201).await;
    }
    let t = Instant::now();
    let first = bench
        .call(
            "GET",
            "/service-reminders?status=DUE_SOON&limit=50",
            None,
            200,
        )
        .await;
    let recompute = t.elapsed();
    assert!(first["data"].is_array());
    let reminders_stored = db
        .collection::<Document>("service_reminders")
        .count_documents(doc! { "organizationId": org, "vehicleId": { "$exists": true } })
        .await
        .unwrap();
    let in_a_month = DateTime::from_millis(now.timestamp_millis() + 30 * 86_400_000)
        .try_to_rfc3339_string()
        .unwrap()[..10]
        .to_string();
    let (mut due_soon, mut campaign, mut vehicle_due) = (vec![], vec![], vec![]);
    let (mut soon_listed, mut overdue_listed) = (0, 0);
    for i in 0..samples {
        let t = Instant::now();
        let page = bench
            .call(
                "GET",
                "/service-reminders?status=DUE_SOON&limit=50",
                None,
                200,
            )
            .await;
        due_soon.push(t.elapsed());
        soon_listed = page["data"].as_array().map_or(0, Vec::len);
        let t = Instant::now();
        let page = bench
            .call(
                "GET",
                &format!("/service-reminders?status=OVERDUE&dueBefore={in_a_month}&limit=100"),
                None,
                200,
            )
            .await;
        campaign.push(t.elapsed());
        overdue_listed = page["data"].as_array().map_or(0, Vec::len);
        let vehicle = vehicle_ids[(i * 7919) % vehicles].to_hex();
        let t = Instant::now();
        bench
            .call(
                "GET",
                &format!("/vehicles/{vehicle}/service-due"),
                None,
                200,
            )
            .await;
        vehicle_due.push(t.elapsed());
    }

    // Each report over the past year, by month.
    let today = now.try_to_rfc3339_string().unwrap()[..10].to_string();
    let year_ago = DateTime::from_millis(now.timestamp_millis() - YEAR_MS + 86_400_000)
        .try_to_rfc3339_string()
        .unwrap()[..10]
        .to_string();
    let names = [
        "revenue",
        "invoices",
        "parts-margin",
        "effective-labor-rate",
        "technician-efficiency",
        "technician-productivity",
        "bay-utilization",
    ];
    let run_reports = || async {
        let mut out = vec![];
        for name in names {
            let mut took = vec![];
            let mut answer = Value::Null;
            for _ in 0..report_samples {
                let t = Instant::now();
                answer = bench
                    .call(
                        "GET",
                        &format!("/reports/{name}?from={year_ago}&to={today}&groupBy=month"),
                        None,
                        200,
                    )
                    .await;
                took.push(t.elapsed());
            }
            out.push((name, answer, took));
        }
        out
    };
    // Printed as measured: a later failure keeps these.
    println!(
        "## Workshop at scale: {vehicles} vehicles and {orders} work orders ({} invoiced over the past year) and {entries} time entries in the organization (seeded in {:.0} s), {samples} samples\n",
        invoiced.len(),
        seeding.as_secs_f64()
    );
    println!("| operation | p50 / p99 |\n|---|---|");
    println!("| create work order | {} |", p50_p99(&mut create));
    println!("| add PART line (reservation) | {} |", p50_p99(&mut line));
    println!(
        "| complete work order with 5 PART lines ({} samples) | {} |",
        complete.len(),
        p50_p99(&mut complete)
    );
    println!(
        "| availability, day with 40 appointments (none free) | {} |",
        p50_p99(&mut busy_day)
    );
    println!(
        "| availability, the next day (4 bays x 37 slots) | {} |",
        p50_p99(&mut availability)
    );
    println!(
        "| service reminders: first list read, computing {reminders_stored} reminders | {:.1} s |",
        recompute.as_secs_f64()
    );
    println!(
        "| service reminders, `status=DUE_SOON`, 50 a page ({soon_listed} on it) | {} |",
        p50_p99(&mut due_soon)
    );
    println!(
        "| service reminders, `status=OVERDUE&dueBefore=`, 100 a page ({overdue_listed} on it) | {} |",
        p50_p99(&mut campaign)
    );
    println!(
        "| a vehicle's service-due | {} |",
        p50_p99(&mut vehicle_due)
    );
    // From the source (no rollup yet), then from the rollup once
    // `crm-admin reports rebuild` has made it: the same answers.
    let from_source = run_reports().await;
    let slug = db
        .collection::<Document>("organizations")
        .find_one(doc! { "_id": org })
        .await
        .unwrap()
        .unwrap()
        .get_str("slug")
        .unwrap()
        .to_string();
    let t = Instant::now();
    let rebuilt =
        std::process::Command::new(tests::lambda::function_binary("crm-admin", "release"))
            .env("MONGODB_URI", std::env::var("MONGODB_URI").unwrap())
            .env("MONGODB_DB", db.name())
            .env("JWT_SECRET", SECRET)
            .env("LOG_LEVEL", "warn")
            .env("DB_TIMEOUT_MS", DB_TIMEOUT_MS)
            .args(["--json", "reports", "rebuild", "--org", &slug])
            .output()
            .unwrap();
    let rebuild_took = t.elapsed();
    if !rebuilt.status.success() {
        println!(
            "\n| report over the past year by month ({report_samples} samples) | rows | from the source p50 / p99 |\n|---|---|---|"
        );
        for (name, answer, mut source) in from_source {
            let rows = answer["rows"].as_array().map_or(0, Vec::len);
            println!("| {name} | {rows} | {} |", p50_p99(&mut source));
        }
        bench.stop().await;
        panic!(
            "`crm-admin reports rebuild` failed after {:.1} s: {} {}",
            rebuild_took.as_secs_f64(),
            String::from_utf8_lossy(&rebuilt.stdout).trim(),
            String::from_utf8_lossy(&rebuilt.stderr).trim()
        );
    }
    let from_rollup = run_reports().await;
    for ((name, a, _), (_, b, _)) in from_source.iter().zip(&from_rollup) {
        assert_eq!(a["rows"], b["rows"], "{name}: the rollup answers otherwise");
    }

    println!(
        "\n| report over the past year by month ({report_samples} samples) | rows | from the source p50 / p99 | from the rollup p50 / p99 |\n|---|---|---|---|"
    );
    for ((name, answer, mut source), (_, _, mut rolled)) in from_source.into_iter().zip(from_rollup)
    {
        let rows = answer["rows"].as_array().map_or(0, Vec::len);
        println!(
            "| {name} | {rows} | {} | {} |",
            p50_p99(&mut source),
            p50_p99(&mut rolled)
        );
    }
    println!(
        "\n`crm-admin reports rebuild`: {:.1} s ({})",
        rebuild_took.as_secs_f64(),
        String::from_utf8_lossy(&rebuilt.stdout).trim()
    );
    println!(
        "\ncrm-local peak memory: {:.1} MiB",
        hwm_kib(bench.server.id().unwrap_or(0)) as f64 / 1024.0
    );
    bench.stop().await;
}
