//! The workshop benchmark (`scripts/bench.sh workshop`): p50/p99 through a
//! release `crm-local` of creating a work order, adding a PART line (a
//! stock reservation), completing a work order with 5 PART lines (5
//! consumptions) and a day's availability with 40 appointments, in an
//! organization holding `BENCH_VEHICLES` vehicles (default 10,000) and
//! `BENCH_WORK_ORDERS` work orders (default 50,000), seeded straight into
//! MongoDB. `BENCH_WORKSHOP_REQUESTS` (default 200) samples each.

use std::time::Instant;

use bson::{doc, oid::ObjectId, DateTime, Document};
use serde_json::{json, Value};
use tests::bench_support::{hwm_kib, number, p50_p99, Bench};

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
    for chunk in (0..orders).collect::<Vec<_>>().chunks(2000) {
        let docs: Vec<Document> = chunk
            .iter()
            .map(|i| {
                let created = DateTime::from_millis(now.timestamp_millis() - (*i as i64) * 60_000);
                let mut d = doc! {
                    "number": format!("OLD-{i:07}"), "vehicleId": vehicle_ids[i % vehicles],
                    "accountId": account_id, "complaint": "Service", "status": STATUSES[i % STATUSES.len()],
                    "currency": "EUR", "lines": [
                        { "id": ObjectId::new(), "type": "LABOR", "quantity": 150_i64, "unitPrice": 9_000_i64,
                          "taxRate": 1_900_i64, "approval": "APPROVED", "amount": 13_500_i64, "tax": 2_565_i64 },
                    ],
                    "subtotal": 13_500_i64, "tax": 2_565_i64, "total": 16_065_i64,
                    "amountPaid": 0_i64, "balance": 16_065_i64, "createdAt": created,
                };
                d.extend(stamp.clone());
                d
            })
            .collect();
        db.collection::<Document>("work_orders")
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

    println!(
        "## Workshop at scale: {vehicles} vehicles and {orders} work orders in the organization (seeded in {:.0} s), {samples} samples\n",
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
        "\ncrm-local peak memory: {:.1} MiB",
        hwm_kib(bench.server.id().unwrap_or(0)) as f64 / 1024.0
    );
    bench.stop().await;
}
