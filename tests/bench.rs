//! The benchmark: `scripts/bench.sh` runs it against release binaries and a
//! local MongoDB-wire server (`MONGODB_URI`). It prints, as a table:
//!
//! - the release size of every function binary;
//! - cold start: process start to first response, through the Lambda Runtime
//!   API emulator (`GET /api/v1/accounts`, 25 items; and `POST
//!   /api/v1/uploads`, which builds the storage client and presigns);
//! - resident memory of one function process after 1,000 invocations;
//! - p50 / p99 latency and throughput of `GET /api/v1/accounts` (25 items)
//!   on the local server (`crm-local`).
//!
//! Nothing here is asserted: the numbers go into the README and closing notes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tests::bench_support::SECRET;
use tests::lambda::{function_binary, http_api_event, lambda_env, Emulator};

fn env_for(db: &str) -> Vec<(String, String)> {
    [
        (
            "MONGODB_URI",
            std::env::var("MONGODB_URI").expect("MONGODB_URI must be set"),
        ),
        ("MONGODB_DB", db.to_string()),
        ("JWT_SECRET", SECRET.to_string()),
        // The benchmark measures the code path, not the FREE plan's 100/minute.
        ("RATE_LIMIT_API_FREE", "100000000".to_string()),
        ("RATE_LIMIT_LOGIN_EMAIL_FREE", "100000000".to_string()),
        ("RATE_LIMIT_LOGIN_IP_FREE", "100000000".to_string()),
        ("LOG_LEVEL", "warn".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    // The storage server scripts/bench.sh started (crm-local and uploads need it).
    .chain(
        [
            "S3_ENDPOINT",
            "S3_BUCKET",
            "S3_REGION",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
        ]
        .into_iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v))),
    )
    .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Starts a function binary as Lambda would, against the emulator at `addr`.
fn spawn_function(
    binary: &std::path::Path,
    env: &[(String, String)],
    addr: std::net::SocketAddr,
) -> tokio::process::Child {
    tokio::process::Command::new(binary)
        .env_clear()
        .envs(env.iter().cloned())
        .envs(lambda_env(addr, "accounts"))
        .kill_on_drop(true)
        .spawn()
        .expect("the function starts")
}

#[tokio::main]
async fn main() {
    let runs: usize = std::env::var("BENCH_COLD_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let requests: usize = std::env::var("BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let db = format!("bench_{}", bson::oid::ObjectId::new().to_hex());
    let env = env_for(&db);
    let client = reqwest::Client::new();

    println!("## Binary sizes (release, stripped)\n");
    println!("| function | size |\n|---|---|");
    let release = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release");
    for route in functions::routes::ROUTES.iter() {
        // Only the binaries scripts/bench.sh built (all with BENCH_ALL_BINARIES=1).
        if let Ok(meta) = std::fs::metadata(release.join(route.name)) {
            println!(
                "| {} | {:.2} MiB |",
                route.name,
                meta.len() as f64 / 1048576.0
            );
        }
    }

    // The local server: migrate, then an organization with 25 accounts.
    let port = tests::net::free_port();
    let mut local = tokio::process::Command::new(function_binary("crm-local", "release"))
        .envs(env.iter().cloned())
        .env("PORT", port.to_string())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("crm-local starts");
    let base = format!("http://127.0.0.1:{port}/api/v1");
    tests::net::wait_for_port(port).await;
    let reg: Value = client
        .post(format!("{base}/auth/register"))
        .json(
            &json!({ "organizationName": "Bench Garage", "email": format!("{db}@bench.test"),
                       "password": "bench-password", "firstName": "B", "lastName": "Ench" }),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = reg["accessToken"].as_str().expect("registered").to_string();
    for i in 0..25 {
        let r = client
            .post(format!("{base}/accounts"))
            .bearer_auth(&token)
            .json(&json!({ "name": format!("Account {i:02}"), "industry": "repair", "phone": "+49 30 1234567",
                           "address": { "street": "Hauptstr. 1", "city": "Berlin", "postalCode": "10115", "country": "DE" } }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
    }

    // Warm latency on the local server.
    let url = format!("{base}/accounts");
    for _ in 0..50 {
        client
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
    }
    let mut times = Vec::with_capacity(requests);
    for _ in 0..requests {
        let t = Instant::now();
        let r = client.get(&url).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let body = r.bytes().await.unwrap();
        times.push(t.elapsed());
        assert!(body.len() > 1000);
    }
    times.sort();
    let concurrency = 16;
    let total = requests;
    let t = Instant::now();
    let client = Arc::new(client);
    let mut tasks = vec![];
    for _ in 0..concurrency {
        let (client, url, token) = (client.clone(), url.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..total / concurrency {
                client
                    .get(&url)
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap()
                    .bytes()
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let throughput = (total / concurrency * concurrency) as f64 / t.elapsed().as_secs_f64();
    // Failed sign-ins: an unknown email must cost what a wrong password costs.
    let email = format!("{db}@bench.test");
    let (mut unknown, mut wrong) = (vec![], vec![]);
    for i in 0..20 {
        for (email, times) in [
            (format!("nobody{i}@bench.test"), &mut unknown),
            (email.clone(), &mut wrong),
        ] {
            let t = Instant::now();
            let r = client
                .post(format!("{base}/auth/login"))
                .json(&json!({ "email": email, "password": "not-the-password" }))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 401);
            times.push(t.elapsed());
        }
    }
    unknown.sort();
    wrong.sort();
    let (local_rss, local_hwm) = rss_kib(local.id().unwrap_or(0));
    local.kill().await.ok();

    println!("\n## Local server: GET /api/v1/accounts (25 items)\n");
    println!("| measure | value |\n|---|---|");
    println!("| requests (sequential, after 50 warm-up) | {requests} |");
    println!("| p50 | {} |", ms(percentile(&times, 0.50)));
    println!("| p99 | {} |", ms(percentile(&times, 0.99)));
    println!("| max | {} |", ms(*times.last().unwrap()));
    println!("| throughput, {concurrency} concurrent clients | {throughput:.0} requests/s |");
    println!("| failed sign-in, unknown email / wrong password (median of 20, bcrypt cost 10) | {} / {} |",
        ms(percentile(&unknown, 0.5)), ms(percentile(&wrong, 0.5)));
    println!(
        "| crm-local resident memory after {} requests | {:.1} MiB (peak {:.1} MiB) |",
        requests * 2 + 50,
        local_rss as f64 / 1024.0,
        local_hwm as f64 / 1024.0
    );

    // Cold starts through the Runtime API emulator.
    let event = http_api_event("GET", "/api/v1/accounts", "", &token, None);
    let binary = function_binary("accounts", "release");
    let mut colds = vec![];
    for _ in 0..runs {
        let (emu, addr) = Emulator::start().await;
        let t = Instant::now();
        let mut child = spawn_function(&binary, &env, addr);
        let r = emu.invoke(event.clone()).await;
        colds.push(t.elapsed());
        assert_eq!(r["statusCode"], 200, "{r}");
        child.kill().await.ok();
    }
    colds.sort();

    // The same for a function that builds the storage client and presigns.
    let upload = http_api_event(
        "POST",
        "/api/v1/uploads",
        "",
        &token,
        Some(
            &json!({ "fileName": "estimate.pdf", "contentType": "application/pdf", "size": 1000 }),
        ),
    );
    let uploads = function_binary("uploads", "release");
    let mut upload_colds = vec![];
    for _ in 0..runs {
        let (emu, addr) = Emulator::start().await;
        let t = Instant::now();
        let mut child = spawn_function(&uploads, &env, addr);
        let r = emu.invoke(upload.clone()).await;
        upload_colds.push(t.elapsed());
        assert_eq!(r["statusCode"], 201, "{r}");
        child.kill().await.ok();
    }
    upload_colds.sort();

    // Memory of one function process after 1,000 invocations.
    let (emu, addr) = Emulator::start().await;
    let mut child = spawn_function(&binary, &env, addr);
    let pid = child.id().unwrap_or(0);
    let first = emu.invoke(event.clone()).await;
    assert_eq!(first["statusCode"], 200);
    let (rss_first, _) = rss_kib(pid);
    let mut warm = vec![];
    for _ in 1..1000 {
        let t = Instant::now();
        let r = emu.invoke(event.clone()).await;
        warm.push(t.elapsed());
        assert_eq!(r["statusCode"], 200);
    }
    warm.sort();
    let (rss, hwm) = rss_kib(pid);
    child.kill().await.ok();

    println!("\n## Lambda (Runtime API emulator, MongoDB on loopback): GET /api/v1/accounts\n");
    println!("| measure | value |\n|---|---|");
    println!(
        "| cold start, process start to first response ({runs} runs) | median {}, min {}, max {} |",
        ms(percentile(&colds, 0.5)),
        ms(colds[0]),
        ms(*colds.last().unwrap())
    );
    println!(
        "| cold start of `uploads` (S3 client built, one presigned PUT; {runs} runs) | median {}, min {}, max {} |",
        ms(percentile(&upload_colds, 0.5)),
        ms(upload_colds[0]),
        ms(*upload_colds.last().unwrap())
    );
    println!(
        "| warm invocation p50 / p99 (999 runs) | {} / {} |",
        ms(percentile(&warm, 0.5)),
        ms(percentile(&warm, 0.99))
    );
    println!(
        "| resident memory after the first invocation | {:.1} MiB |",
        rss_first as f64 / 1024.0
    );
    println!(
        "| resident memory after 1,000 invocations | {:.1} MiB (peak {:.1} MiB) |",
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
}
