//! The CRM benchmark (`scripts/bench.sh crm`): list and create latency for
//! every entity with `BENCH_CRM_RECORDS` records (default 100,000) in the
//! measured organization and `BENCH_CRM_ORGS` (default 10) other
//! organizations of the same size, then one CSV export of the
//! organization's CUSTOMER contacts, half of them (time, size, server peak
//! memory). Records are
//! seeded straight into MongoDB; requests go through a release `crm-local`.

use std::time::Instant;

use bson::{doc, oid::ObjectId, DateTime, Document};
use serde_json::{json, Value};
use tests::bench_support::{hwm_kib, ms, number, p50_p99, Bench};

fn pick(values: &[&'static str], i: usize) -> &'static str {
    values[i % values.len()]
}

/// A stored record of `entity` number `i`, as the API would have written it.
fn record(entity: &str, org: ObjectId, user: ObjectId, i: usize) -> Document {
    let now = DateTime::now();
    let mut d = match entity {
        "accounts" => {
            doc! { "name": format!("Account {i:07}"), "industry": pick(&["repair", "tyres", "paint"], i) }
        }
        "contacts" => {
            doc! { "firstName": format!("First{i}"), "lastName": format!("Last{i:07}"), "email": format!("c{i}@bench.test"), "tags": ["fleet"], "type": pick(&["CUSTOMER", "PROSPECT"], i) }
        }
        "leads" => {
            doc! { "firstName": format!("Lead{i}"), "lastName": format!("Name{i:07}"), "status": pick(&["NEW", "CONTACTED", "QUALIFIED"], i), "source": "WEBSITE" }
        }
        "opportunities" => {
            doc! { "name": format!("Deal {i:07}"), "stage": pick(&["PROSPECTING", "PROPOSAL", "WON"], i), "amount": (i as i64 % 1000) * 100, "currency": "EUR" }
        }
        "tasks" => {
            doc! { "title": format!("Task {i:07}"), "status": pick(&["OPEN", "DONE"], i), "priority": "NORMAL" }
        }
        _ => {
            doc! { "name": format!("Product {i:07}"), "type": "PART", "sku": format!("SKU-{i:07}"), "price": 999_i64, "currency": "EUR", "active": true }
        }
    };
    d.extend(doc! {
        "organizationId": org, "createdAt": now, "updatedAt": now, "createdBy": user,
        "version": 1_i64, "deletedAt": null,
    });
    d
}

fn body(entity: &str, i: usize) -> Value {
    match entity {
        "accounts" => json!({ "name": format!("New account {i}") }),
        "contacts" => json!({ "firstName": "New", "lastName": format!("Contact {i}") }),
        "leads" => json!({ "firstName": "New", "lastName": format!("Lead {i}") }),
        "opportunities" => {
            json!({ "name": format!("New deal {i}"), "amount": 1000, "currency": "EUR" })
        }
        "tasks" => json!({ "title": format!("New task {i}") }),
        _ => {
            json!({ "name": format!("New product {i}"), "type": "SERVICE", "sku": format!("NEW-{i}") })
        }
    }
}

#[tokio::main]
async fn main() {
    let records = number("BENCH_CRM_RECORDS", 100_000);
    let others = number("BENCH_CRM_ORGS", 10);
    let samples = number("BENCH_CRM_REQUESTS", 200);
    let bench = Bench::start("bench_crm").await;
    let (base, http, token, org, user, db) = (
        &bench.base,
        &bench.http,
        &bench.token,
        bench.org,
        bench.user,
        &bench.db,
    );
    let entities = [
        "accounts",
        "contacts",
        "leads",
        "opportunities",
        "tasks",
        "products",
    ];
    println!("## CRM at scale: {records} records per entity in the organization, {others} other organizations of the same size\n");
    println!("| entity | seeding | list p50 / p99 | create p50 / p99 |\n|---|---|---|---|");
    for entity in entities {
        eprintln!("seeding {entity}: {} organizations x {records}", others + 1);
        let seed_started = Instant::now();
        let orgs: Vec<ObjectId> = std::iter::once(org)
            .chain((0..others).map(|_| ObjectId::new()))
            .collect();
        for o in &orgs {
            for chunk in (0..records).collect::<Vec<_>>().chunks(2000) {
                let docs: Vec<Document> =
                    chunk.iter().map(|i| record(entity, *o, user, *i)).collect();
                db.collection::<Document>(entity)
                    .insert_many(docs)
                    .ordered(false)
                    .await
                    .unwrap();
            }
        }
        let seeding = seed_started.elapsed();
        eprintln!(
            "seeded {entity} in {:.0} s; measuring",
            seeding.as_secs_f64()
        );
        let (mut list, mut create) = (vec![], vec![]);
        for i in 0..samples {
            let t = Instant::now();
            let r = http
                .get(format!("{base}/{entity}"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 200);
            r.bytes().await.unwrap();
            list.push(t.elapsed());
            let t = Instant::now();
            let r = http
                .post(format!("{base}/{entity}"))
                .bearer_auth(token)
                .json(&body(entity, i))
                .send()
                .await
                .unwrap();
            assert_eq!(
                r.status().as_u16(),
                201,
                "{}",
                r.text().await.unwrap_or_default()
            );
            create.push(t.elapsed());
        }
        println!(
            "| {entity} | {:.0} s | {} | {} |",
            seeding.as_secs_f64(),
            p50_p99(&mut list),
            p50_p99(&mut create)
        );
    }

    let pid = bench.server.id().unwrap_or(0);
    let before = hwm_kib(pid);
    let t = Instant::now();
    let r = http
        .post(format!("{base}/exports"))
        .bearer_auth(token)
        .json(&json!({ "entity": "contacts", "format": "csv", "filters": { "type": "CUSTOMER" } }))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let rows = r
        .headers()
        .get("x-row-count")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("?")
        .to_string();
    let size = r.bytes().await.unwrap().len();
    let took = t.elapsed();
    println!("\n## CSV export of the organization's CUSTOMER contacts (half of them)\n");
    println!("| measure | value |\n|---|---|");
    println!("| status | {status} |");
    println!("| rows | {rows} |");
    println!("| time | {} |", ms(took));
    println!("| size | {:.1} MiB |", size as f64 / 1048576.0);
    println!(
        "| crm-local peak memory before / after | {:.1} MiB / {:.1} MiB |",
        before as f64 / 1024.0,
        hwm_kib(pid) as f64 / 1024.0
    );
    bench.stop().await;
}
