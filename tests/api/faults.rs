//! Faults with real servers: the MongoDB-wire server stopped under a
//! running API, local and a compiled function behind the Runtime API
//! emulator (every route answers 503 problem+json in bounded time, and the
//! same process serves again once the server is back); and commits made to
//! fail by the server's `failCommand` fail point in the multi-document
//! flows (a work order's completion, an import, a lead's conversion, a
//! payment, an ownership transfer): nothing is left behind and the
//! client's retry with the same Idempotency-Key completes it once. The
//! purge's failed batch is in `cleanup.rs`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bson::doc;
use serde_json::{json, Value};

use crate::cleanup::CRON_SECRET;
use crate::helpers::*;

/// A SecantusDB of the test's own, on `port`, with its data in `dir`.
pub async fn start_mongo(port: u16, dir: &PathBuf) -> tokio::process::Child {
    let bin = std::env::var("SECANTUS_BIN").expect("SECANTUS_BIN is set by scripts/test.sh");
    let child = tokio::process::Command::new(bin)
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--storage-path",
        ])
        .arg(dir)
        .args(["--log-level", "ERROR", "--enable-test-commands"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("SecantusDB starts");
    tests::net::wait_for_port(port).await;
    child
}

/// A SecantusDB of the test's own on a free port, with its data in a
/// fresh temporary folder named after `name`: the server, its port, its
/// folder and its URI.
async fn own_mongo(name: &str) -> (tokio::process::Child, u16, PathBuf, String) {
    let port = tests::net::free_port();
    let dir = std::env::temp_dir().join(format!("{name}-{}", bson::oid::ObjectId::new().to_hex()));
    std::fs::create_dir_all(&dir).unwrap();
    let mongo = start_mongo(port, &dir).await;
    let uri = format!("mongodb://127.0.0.1:{port}/?directConnection=true");
    (mongo, port, dir, uri)
}

/// Stops the server the way an operator or a failover does (SIGTERM), so
/// it keeps what it acknowledged.
async fn stop_mongo(mongo: &mut tokio::process::Child) {
    let pid = mongo.id().expect("running").to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    mongo.wait().await.unwrap();
}

/// A body each public route accepts as well-formed, so what it answers
/// depends on the database alone.
fn body_for(path: &str) -> Value {
    let email = "someone@example.test";
    match path {
        "/api/v1/auth/register" => json!({ "organizationName": "Down Garage", "email": email,
            "password": PASSWORD, "firstName": "D", "lastName": "Own" }),
        "/api/v1/auth/join" => json!({ "organizationSlug": "down-garage", "email": email,
            "password": PASSWORD, "firstName": "D", "lastName": "Own" }),
        "/api/v1/auth/login" => json!({ "email": email, "password": PASSWORD }),
        "/api/v1/auth/refresh" => json!({ "refreshToken": "a".repeat(43) }),
        "/api/v1/auth/password-reset" => {
            json!({ "token": "a".repeat(43), "newPassword": PASSWORD })
        }
        "/api/v1/auth/password-reset/request" => json!({ "email": email }),
        "/api/v1/auth/verify-email" => json!({ "token": "a".repeat(43) }),
        "/api/v1/invitations/accept" => json!({ "token": "a".repeat(43), "password": PASSWORD,
            "firstName": "D", "lastName": "Own" }),
        _ => json!({ "email": email }),
    }
}

#[tokio::test]
async fn with_the_database_down_every_route_answers_503_and_serves_again_when_it_is_back() {
    let (mut mongo, port, dir, uri) = own_mongo("crm-fault").await;
    let app = TestApp::spawn_with(&[
        ("MONGODB_URI", uri.as_str()),
        ("DB_TIMEOUT_MS", "1000"),
        ("CRON_SECRET", CRON_SECRET),
        ("RATE_LIMIT_API_FREE", "100000"),
    ])
    .await;
    let owner = app.owner().await;
    let account = app.create_account(owner, "Survivor").await;

    // The API process stays up throughout.
    stop_mongo(&mut mongo).await;
    let mut calls = vec![];
    for route in functions::routes::ROUTES.iter() {
        let path = route
            .path
            .replace("{id}", &account)
            .replace("{lineId}", &bson::oid::ObjectId::new().to_hex())
            .replace("{publicId}", &"ab".repeat(16));
        for endpoint in route.methods {
            let method = endpoint.method.as_str();
            if method != "OPTIONS" {
                calls.push((method, path.clone()));
            }
        }
    }
    let checked = calls.len();
    // Ten at a time: each waits out the database timeout.
    for chunk in calls.chunks(10) {
        let answers = futures_util::future::join_all(chunk.iter().map(|(method, path)| {
            let token = if path.starts_with("/api/cron/") {
                CRON_SECRET.to_string()
            } else {
                owner.token.clone()
            };
            let body = (*method != "GET" && *method != "DELETE")
                .then(|| serde_json::to_vec(&body_for(path)).unwrap());
            let app = &app;
            async move {
                let started = Instant::now();
                let r = tokio::time::timeout(
                    Duration::from_secs(30),
                    app.request(
                        method,
                        path,
                        Some(&token),
                        body,
                        &[("content-type", "application/json")],
                    ),
                )
                .await
                .unwrap_or_else(|_| panic!("{method} {path} hangs with the database down"));
                (method, path, r, started.elapsed())
            }
        }))
        .await;
        for (method, path, r, took) in answers {
            // The contract and its reference page need no database: they are
            // served, unless the blocklist was due for a reread.
            let static_route =
                path.starts_with("/api/v1/openapi.json") || path.starts_with("/api/v1/docs");
            if static_route && r.status == 200 {
                continue;
            }
            assert_eq!(r.status, 503, "{method} {path}: {}", r.text);
            assert_eq!(
                r.header("content-type"),
                Some("application/problem+json"),
                "{method} {path}"
            );
            assert_eq!(
                r.body["code"], "DATABASE_UNAVAILABLE",
                "{method} {path}: {}",
                r.text
            );
            // Bounded: the configured wait and a second, not a hang.
            assert!(
                took <= Duration::from_millis(2_000),
                "{method} {path} took {took:?}"
            );
        }
    }
    assert!(checked >= 100, "{checked} endpoints checked");

    // Back on the same port and data: the same process serves again.
    let _mongo = start_mongo(port, &dir).await;
    let mut last = None;
    for _ in 0..120 {
        let r = app
            .get(&format!("/api/v1/accounts/{account}"), Some(owner))
            .await;
        let done = r.status == 200;
        last = Some(r);
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let back = last.unwrap();
    assert_eq!(
        back.status, 200,
        "the API serves again once the database is back: {}",
        back.text
    );
    assert_eq!(back.body["name"], "Survivor");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_compiled_function_answers_503_while_the_database_is_down_and_recovers_in_place() {
    use tests::lambda::{function_binary, http_api_event, lambda_env, Emulator};
    let (mut mongo, port, dir, uri) = own_mongo("crm-fault-fn").await;
    let app =
        TestApp::spawn_with(&[("MONGODB_URI", uri.as_str()), ("DB_TIMEOUT_MS", "1000")]).await;
    let owner = app.owner().await;
    let account = app.create_account(owner, "Lambda survivor").await;

    let (emu, addr) = Emulator::start().await;
    let mut function = tokio::process::Command::new(function_binary("accounts-id", "debug"))
        .env_clear()
        .envs(
            app.env
                .iter()
                .filter(|(k, _)| !STORAGE_VARS.contains(&k.as_str())),
        )
        .envs(lambda_env(addr, "accounts-id"))
        .env("LOG_LEVEL", "error")
        .kill_on_drop(true)
        .spawn()
        .expect("function starts");
    let get = || {
        let mut event = http_api_event(
            "GET",
            &format!("/api/v1/accounts/{account}"),
            "",
            &owner.token,
            None,
        );
        event["pathParameters"] = json!({ "id": account });
        event
    };
    let up = emu.invoke(get()).await;
    assert_eq!(up["statusCode"], 200, "{up}");

    stop_mongo(&mut mongo).await;
    let started = Instant::now();
    let down = tokio::time::timeout(Duration::from_secs(30), emu.invoke(get()))
        .await
        .expect("the function must not hang");
    assert_eq!(down["statusCode"], 503, "{down}");
    let raw = down["body"].as_str().unwrap_or("{}");
    let text = if down["isBase64Encoded"] == true {
        use base64::Engine;
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(raw)
                .unwrap(),
        )
        .unwrap()
    } else {
        raw.to_string()
    };
    let body: Value = serde_json::from_str(&text).unwrap_or_default();
    assert_eq!(body["code"], "DATABASE_UNAVAILABLE", "{down}");
    assert!(
        started.elapsed() <= Duration::from_millis(2_000),
        "{:?}",
        started.elapsed()
    );

    let _mongo = start_mongo(port, &dir).await;
    let mut last = Value::Null;
    for _ in 0..60 {
        last = emu.invoke(get()).await;
        if last["statusCode"] == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        last["statusCode"], 200,
        "the same process serves again: {last}"
    );
    assert!(
        function.try_wait().unwrap().is_none(),
        "the function process never restarted"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// POSTs `body` to `path` as `actor` with `Idempotency-Key: key`.
async fn keyed(app: &TestApp, actor: &Actor, path: &str, key: &str, body: Value) -> Resp {
    app.request(
        "POST",
        path,
        Some(&actor.token),
        Some(serde_json::to_vec(&body).unwrap()),
        &[
            ("idempotency-key", key),
            ("content-type", "application/json"),
        ],
    )
    .await
}

/// Makes the app's next commit fail and sends the keyed POST, which must
/// answer 500.
async fn fails_to_commit(
    app: &TestApp,
    fail_points: &FailPoints,
    actor: &Actor,
    path: &str,
    key: &str,
    body: &Value,
) {
    app.fail_command(fail_points, "commitTransaction", 0).await;
    let failed = keyed(app, actor, path, key, body.clone()).await;
    assert_eq!(failed.status, 500, "{}", failed.text);
}

/// The client's retry with the same key, which runs; then once more, which
/// is the stored answer replayed. Returns the retry's answer.
async fn retried_once(app: &TestApp, actor: &Actor, path: &str, key: &str, body: &Value) -> Resp {
    let done = keyed(app, actor, path, key, body.clone()).await;
    let replay = keyed(app, actor, path, key, body.clone()).await;
    assert_eq!(replay.status, done.status, "{}", replay.text);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    done
}

#[tokio::test]
async fn a_failed_commit_leaves_nothing_and_the_keyed_retry_completes_it_exactly_once() {
    use crate::work_orders::{add_line, approve, customer, move_to, open, part_doc, stocked_part};
    let app = TestApp::spawn_isolated().await;
    let fail_points = FailPoints::take().await;
    let admin = app.admin().await;

    // A work order's completion: status, stock withdrawal and movements.
    let (_, vehicle) = customer(&app, admin).await;
    let part = stocked_part(&app, "PAD-7", 10).await;
    let order = open(&app, admin, &vehicle, json!({})).await.str("id");
    let r = add_line(
        &app,
        admin,
        &order,
        json!({ "type": "PART", "partId": part, "quantity": 4, "description": "Brake pads" }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let line = r.body["lines"].as_array().unwrap().last().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        approve(&app, admin, &order, &[(&line, "APPROVED")])
            .await
            .status,
        200
    );
    for to in ["APPROVED", "IN_PROGRESS"] {
        let r = move_to(&app, admin, &order, to).await;
        assert_eq!(r.status, 200, "{to}: {}", r.text);
    }
    let movements = app.count("stock_movements", doc! {}).await;
    let path = format!("/api/v1/work-orders/{order}/transition");
    let complete = json!({ "to": "COMPLETED" });
    fails_to_commit(&app, &fail_points, admin, &path, "complete-1", &complete).await;
    let stock = part_doc(&app, &part).await;
    assert_eq!(
        (stock.get_i64("onHand"), stock.get_i64("reserved")),
        (Ok(10), Ok(4)),
        "nothing withdrawn"
    );
    assert_eq!(app.count("stock_movements", doc! {}).await, movements);
    let wo = app
        .get(&format!("/api/v1/work-orders/{order}"), Some(admin))
        .await;
    assert_eq!(wo.body["status"], "IN_PROGRESS");

    let done = retried_once(&app, admin, &path, "complete-1", &complete).await;
    assert_eq!(done.status, 200, "the retry runs: {}", done.text);
    assert_eq!(done.body["status"], "COMPLETED");
    let stock = part_doc(&app, &part).await;
    assert_eq!(
        (stock.get_i64("onHand"), stock.get_i64("reserved")),
        (Ok(6), Ok(0)),
        "withdrawn once"
    );
    assert_eq!(app.count("stock_movements", doc! {}).await, movements + 1);

    // An all-or-nothing import.
    let csv = "name,industry\nFault Motors,Automotive\nRetry Cars,Automotive\n";
    let body = json!({ "entity": "accounts", "csv": csv });
    let accounts = app.count("accounts", doc! {}).await;
    fails_to_commit(
        &app,
        &fail_points,
        admin,
        "/api/v1/imports",
        "import-1",
        &body,
    )
    .await;
    assert_eq!(app.count("accounts", doc! {}).await, accounts);
    let done = retried_once(&app, admin, "/api/v1/imports", "import-1", &body).await;
    assert!(done.status == 200 || done.status == 201, "{}", done.text);
    assert_eq!(
        app.count("accounts", doc! {}).await,
        accounts + 2,
        "imported once"
    );
}

async fn counts(app: &TestApp) -> Vec<u64> {
    let mut out = vec![];
    for c in ["accounts", "contacts", "opportunities"] {
        out.push(app.count(c, doc! {}).await);
    }
    out
}

async fn role(app: &TestApp, email: &str) -> String {
    app.find("users", doc! { "email": email }).await[0]
        .get_str("role")
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_failed_commit_of_a_conversion_a_payment_or_an_ownership_transfer_is_retried_once() {
    let app = TestApp::spawn_isolated().await;
    let fail_points = FailPoints::take().await;
    let owner = app.owner().await;
    let admin = app.admin().await;

    // A lead's conversion: account, contact, opportunity and the lead.
    let lead = app
        .create_record(
            admin,
            "leads",
            json!({ "firstName": "Lena", "lastName": "Lead", "company": "Fault Motors", "email": "lena@fault.example" }),
        )
        .await;
    let before = counts(&app).await;
    let path = format!("/api/v1/leads/{lead}/convert");
    let body = json!({ "opportunity": { "name": "Brake job" } });
    fails_to_commit(&app, &fail_points, admin, &path, "convert-1", &body).await;
    assert_eq!(counts(&app).await, before, "nothing converted");
    let status = app.get(&format!("/api/v1/leads/{lead}"), Some(admin)).await;
    assert_eq!(status.body["status"], "NEW");
    let done = retried_once(&app, admin, &path, "convert-1", &body).await;
    assert_eq!(done.status, 200, "the retry runs: {}", done.text);
    assert_eq!(
        counts(&app).await,
        before.iter().map(|n| n + 1).collect::<Vec<_>>(),
        "converted once"
    );

    // A payment: the payment, the balance and the status.
    let (_, vehicle) = crate::work_orders::customer(&app, admin).await;
    let order = crate::invoices::completed(&app, admin, &vehicle).await;
    let r = crate::work_orders::move_to(&app, admin, &order, "INVOICED").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let invoice = format!("/api/v1/work-orders/{order}/invoice");
    let balance = app.get(&invoice, Some(admin)).await.body["balance"].clone();
    let path = format!("/api/v1/work-orders/{order}/payments");
    let body = json!({ "amount": 1000, "method": "CARD" });
    fails_to_commit(&app, &fail_points, admin, &path, "pay-1", &body).await;
    let after = app.get(&invoice, Some(admin)).await.body;
    assert_eq!(after["balance"], balance, "nothing paid");
    assert_eq!(after["payments"], json!([]));
    let done = retried_once(&app, admin, &path, "pay-1", &body).await;
    assert_eq!(done.status, 201, "the retry runs: {}", done.text);
    let after = app.get(&invoice, Some(admin)).await.body;
    assert_eq!(after["payments"].as_array().unwrap().len(), 1, "paid once");
    assert_eq!(after["balance"], balance.as_i64().unwrap() - 1000);

    // An ownership transfer: the promotion and the demotion.
    let member = app.member().await;
    let body = json!({ "memberId": member.id });
    let path = "/api/v1/organization/transfer-ownership";
    fails_to_commit(&app, &fail_points, owner, path, "transfer-1", &body).await;
    assert_eq!(
        (
            role(&app, &owner.email).await,
            role(&app, &member.email).await
        ),
        ("OWNER".to_string(), "MEMBER".to_string()),
        "nobody changed"
    );
    let done = keyed(&app, owner, path, "transfer-1", body.clone()).await;
    assert_eq!(done.status, 200, "the retry runs: {}", done.text);
    // The former owner is an ADMIN now: authorization comes before the
    // stored answer, so a third try is refused rather than replayed.
    let again = keyed(&app, owner, path, "transfer-1", body).await;
    again.assert_problem(403, "PERMISSION_DENIED");
    assert_eq!(role(&app, &member.email).await, "OWNER");
    assert_eq!(role(&app, &owner.email).await, "ADMIN");
    assert_eq!(
        app.count(
            "users",
            doc! { "organizationId": oid(&owner.org_id), "role": "OWNER" }
        )
        .await,
        1,
        "one owner"
    );
}

/// No request is held through an outage: the database is stopped (SIGTERM)
/// under 50 concurrent keyed creates. Every answer comes within
/// `DB_TIMEOUT_MS` and a second of the stop (or of its own start, if later),
/// and is 201 or 503 `DATABASE_UNAVAILABLE`, nothing else; once the database
/// is back, each client retries with its key until it gets 201, and every
/// key's record exists exactly once: a create cut off in its commit kept
/// its answer with it, so its retry replays it and creates nothing.
#[tokio::test]
async fn creates_cut_off_by_an_outage_answer_503_in_time_and_land_exactly_once_on_retry() {
    const CLIENTS: usize = 50;
    const DB_TIMEOUT_MS: u64 = 1000;
    let (mut mongo, port, dir, uri) = own_mongo("crm-outage").await;
    let timeout = DB_TIMEOUT_MS.to_string();
    let app = TestApp::spawn_with(&[
        ("MONGODB_URI", uri.as_str()),
        ("DB_TIMEOUT_MS", timeout.as_str()),
        ("RATE_LIMIT_API_FREE", "100000"),
    ])
    .await;
    let owner = app.owner().await;
    let run = bson::oid::ObjectId::new().to_hex();
    let create = |i: usize| {
        let (app, token, run) = (&app, owner.token.clone(), run.clone());
        async move {
            let key = format!("outage-{run}-{i}");
            let body = serde_json::to_vec(&json!({ "name": format!("Outage {run} {i}") })).unwrap();
            let sent = Instant::now();
            let r = app
                .request(
                    "POST",
                    "/api/v1/accounts",
                    Some(&token),
                    Some(body),
                    &[("idempotency-key", key.as_str())],
                )
                .await;
            (i, r, sent, Instant::now())
        }
    };

    // The stop comes once the first answers are in, so most creates are
    // somewhere in their round trips when the database goes away.
    let answered = std::sync::atomic::AtomicUsize::new(0);
    let all = futures_util::future::join_all((0..CLIENTS).map(|i| {
        let answered = &answered;
        let one = create(i);
        async move {
            let out = one.await;
            answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            out
        }
    }));
    let stopper = async {
        while answered.load(std::sync::atomic::Ordering::SeqCst) < 3 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let stopping = Instant::now();
        stop_mongo(&mut mongo).await;
        stopping
    };
    let (answers, stopped_at) = tokio::join!(all, stopper);
    if std::env::var("OUTAGE_VERBOSE").is_ok() {
        for (i, r, sent, at) in &answers {
            eprintln!(
                "{i}: {} sent {:?} after stop, answered {:?} after stop",
                r.status,
                sent.checked_duration_since(stopped_at).unwrap_or_default(),
                at.checked_duration_since(stopped_at).unwrap_or_default()
            );
        }
    }
    let limit = Duration::from_millis(DB_TIMEOUT_MS + 1_000);
    let mut unavailable = vec![];
    for (i, r, sent, at) in &answers {
        let held = at.duration_since((*sent).max(stopped_at));
        assert!(
            r.status == 201 || r.status == 503,
            "create {i}: only 201 or 503, got {}: {}",
            r.status,
            r.text
        );
        if r.status == 503 {
            assert_eq!(r.body["code"], "DATABASE_UNAVAILABLE", "{}", r.text);
            unavailable.push(*i);
        }
        assert!(
            *at <= stopped_at || held <= limit,
            "create {i} was held {held:?} after the database stopped"
        );
    }
    assert!(
        !unavailable.is_empty(),
        "the outage cut no create off: the test proves nothing"
    );

    // Back on the same port and data; each client retries with its key.
    let _mongo = start_mongo(port, &dir).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    for i in 0..CLIENTS {
        loop {
            let (_, r, _, _) = create(i).await;
            if r.status == 201 {
                break;
            }
            assert!(
                matches!(r.status, 503 | 409),
                "retry of create {i}: {} {}",
                r.status,
                r.text
            );
            if r.status == 409 {
                assert_eq!(r.body["code"], "IDEMPOTENCY_KEY_IN_USE", "{}", r.text);
            }
            assert!(Instant::now() < deadline, "create {i} never completed");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
    let accounts = client
        .database(app.state.database_name())
        .collection::<bson::Document>("accounts");
    for i in 0..CLIENTS {
        let n = accounts
            .count_documents(doc! { "name": format!("Outage {run} {i}") })
            .await
            .unwrap();
        assert_eq!(n, 1, "create {i} landed {n} times");
    }
    eprintln!(
        "{} of {CLIENTS} creates answered 503 in the outage; all landed once on retry",
        unavailable.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
