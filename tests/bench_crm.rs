//! The CRM benchmark (`scripts/bench.sh crm`): list and create latency for
//! every entity with `BENCH_CRM_RECORDS` records (default 100,000) in the
//! measured organization and `BENCH_CRM_ORGS` (default 10) other
//! organizations of the same size, then one CSV export of the
//! organization's CUSTOMER contacts, half of them (time, size, server peak
//! memory). Records are
//! seeded straight into MongoDB; requests go through a release `crm-local`.

use std::time::{Duration, Instant};

use bson::{doc, oid::ObjectId, DateTime, Document};
use serde_json::{json, Value};
use tests::lambda::function_binary;

const SECRET: &str = "bench-secret-0123456789abcdef0123456789";

fn number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn hwm_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

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
    let uri = std::env::var("MONGODB_URI").expect("MONGODB_URI must be set");
    let db_name = format!("bench_crm_{}", ObjectId::new().to_hex());
    let port = tests::net::free_port();
    let mut server = tokio::process::Command::new(function_binary("crm-local", "release"))
        .env("MONGODB_URI", &uri)
        .env("MONGODB_DB", &db_name)
        .env("JWT_SECRET", SECRET)
        .env("PORT", port.to_string())
        .env("LOG_LEVEL", "warn")
        .env("RATE_LIMIT_API_FREE", "1000000000")
        .env("RATE_LIMIT_EXPORTS_FREE", "1000")
        // Seeding 1.1 M records per entity outlasts a 15-minute access token.
        .env("ACCESS_TOKEN_TTL_SECONDS", "86400")
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("crm-local starts");
    let base = format!("http://127.0.0.1:{port}/api/v1");
    let http = reqwest::Client::new();
    tests::net::wait_for_port(port).await;
    let reg: Value = http
        .post(format!("{base}/auth/register"))
        .json(&json!({ "organizationName": "Bench", "email": format!("{db_name}@bench.test"), "password": "bench-password", "firstName": "B", "lastName": "E" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = reg["accessToken"].as_str().unwrap().to_string();
    let org = ObjectId::parse_str(reg["organization"]["id"].as_str().unwrap()).unwrap();
    let user = ObjectId::parse_str(reg["user"]["id"].as_str().unwrap()).unwrap();

    let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
    let db = client.database(&db_name);
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
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 200);
            r.bytes().await.unwrap();
            list.push(t.elapsed());
            let t = Instant::now();
            let r = http
                .post(format!("{base}/{entity}"))
                .bearer_auth(&token)
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
        list.sort();
        create.sort();
        println!(
            "| {entity} | {:.0} s | {} / {} | {} / {} |",
            seeding.as_secs_f64(),
            ms(pct(&list, 0.5)),
            ms(pct(&list, 0.99)),
            ms(pct(&create, 0.5)),
            ms(pct(&create, 0.99))
        );
    }

    let pid = server.id().unwrap_or(0);
    let before = hwm_kib(pid);
    let t = Instant::now();
    let r = http
        .post(format!("{base}/exports"))
        .bearer_auth(&token)
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
    server.kill().await.ok();
    client.database(&db_name).drop().await.ok();
}
