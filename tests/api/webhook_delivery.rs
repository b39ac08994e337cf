//! Webhook delivery end to end: a receiver on 127.0.0.1 (allowed for tests
//! by `WEBHOOKS_ALLOW_NETWORKS`) records what arrives and answers what the
//! test tells it; every delivery is verified with the Standard Webhooks
//! reference library from PyPI (`tests/fixtures/verify_webhooks.py`), not
//! with our signer. The schedule runs on an injected clock
//! (`functions::maintenance::webhooks::run_at`).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use bson::{doc, DateTime, Document};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::{json, Value};

use crate::helpers::*;

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Received {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }
}

/// What the receiver answers: status and headers, 200 when nothing is queued.
type Answer = (u16, Vec<(&'static str, String)>);

#[derive(Clone)]
struct Receiver {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<Received>>>,
    answers: Arc<Mutex<VecDeque<Answer>>>,
    /// Answered once the queue is empty.
    fallback: Arc<Mutex<u16>>,
    /// When set, each request is answered only once this turns true (or
    /// after 12 s, counted in `held_out`): an endpoint that hangs.
    gate: Arc<Mutex<Option<tokio::sync::watch::Receiver<bool>>>>,
    held_out: Arc<std::sync::atomic::AtomicUsize>,
    /// When set, turned true by the first request that arrives.
    opens: Arc<Mutex<Option<tokio::sync::watch::Sender<bool>>>>,
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver = Receiver {
            addr: listener.local_addr().unwrap(),
            got: Arc::default(),
            answers: Arc::default(),
            fallback: Arc::new(Mutex::new(200)),
            gate: Arc::default(),
            held_out: Arc::default(),
            opens: Arc::default(),
        };
        let r = receiver.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let r = r.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |req: http::Request<hyper::body::Incoming>| {
                            let r = r.clone();
                            async move {
                                let headers = req
                                    .headers()
                                    .iter()
                                    .map(|(k, v)| {
                                        (k.to_string(), v.to_str().unwrap_or("").to_string())
                                    })
                                    .collect();
                                let body =
                                    req.into_body().collect().await.unwrap().to_bytes().to_vec();
                                r.got.lock().unwrap().push(Received { headers, body });
                                if let Some(opens) = r.opens.lock().unwrap().as_ref() {
                                    opens.send_replace(true);
                                }
                                let gate = r.gate.lock().unwrap().clone();
                                if let Some(mut gate) = gate {
                                    let opened = tokio::time::timeout(
                                        Duration::from_secs(12),
                                        gate.wait_for(|open| *open),
                                    )
                                    .await;
                                    if opened.is_err() {
                                        r.held_out
                                            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                                    }
                                }
                                let (status, extra) = r
                                    .answers
                                    .lock()
                                    .unwrap()
                                    .pop_front()
                                    .unwrap_or((*r.fallback.lock().unwrap(), vec![]));
                                let mut response = http::Response::builder().status(status);
                                for (k, v) in extra {
                                    response = response.header(k, v);
                                }
                                Ok::<_, std::convert::Infallible>(
                                    response
                                        .body(Full::new(Bytes::from_static(b"receiver says no")))
                                        .unwrap(),
                                )
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        receiver
    }

    fn url(&self) -> String {
        format!("http://{}/hooks", self.addr)
    }

    fn answer(&self, status: u16, headers: Vec<(&'static str, String)>) {
        self.answers.lock().unwrap().push_back((status, headers));
    }

    fn always(&self, status: u16) {
        *self.fallback.lock().unwrap() = status;
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits (up to 10 s) until `n` requests have arrived.
    async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..200 {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the receiver got {} requests, not {n}",
            self.received().len()
        );
    }
}

/// Each delivery verified by the reference library with `secret`: the
/// payload, or why it was refused.
fn verify(secret: &str, got: &[Received]) -> Vec<Result<Value, String>> {
    let python = std::path::Path::new(&std::env::var("SECANTUS_BIN").expect("SECANTUS_BIN"))
        .with_file_name("python");
    let input = json!({
        "secret": secret,
        "deliveries": got.iter().map(|d| json!({
            "headers": d.headers.iter().cloned().collect::<std::collections::HashMap<_, _>>(),
            "body": base64::engine::general_purpose::STANDARD.encode(&d.body),
        })).collect::<Vec<_>>(),
    });
    let mut child = std::process::Command::new(python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/verify_webhooks.py"
        ))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the venv's python");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "verifier failed");
    let results: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    results
        .into_iter()
        .map(|r| match r["ok"].as_bool() {
            Some(true) => Ok(r["payload"].clone()),
            _ => Err(r["error"].to_string()),
        })
        .collect()
}

async fn spawn() -> TestApp {
    TestApp::spawn_with(&[
        ("WEBHOOKS_ALLOW_NETWORKS", "127.0.0.0/8"),
        ("EMAIL_INLINE_BUDGET_MS", "2000"),
    ])
    .await
}

/// `owner` adds an endpoint at `receiver` for `events`: (id, secret).
async fn endpoint(
    app: &TestApp,
    owner: &Actor,
    receiver: &Receiver,
    events: Value,
) -> (String, String) {
    let r = app
        .post(
            "/api/v1/webhooks",
            Some(owner),
            json!({ "url": receiver.url(), "events": events }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    (r.str("id"), r.str("secret"))
}

/// A message's first logged attempt.
fn first_attempt(m: &Document) -> Document {
    m.get_array("attempts").unwrap()[0]
        .as_document()
        .unwrap()
        .clone()
}

async fn messages(app: &TestApp, filter: Document) -> Vec<Document> {
    let mut all = app.find("webhook_messages", filter).await;
    all.sort_by_key(|m| {
        (
            *m.get_datetime("createdAt").unwrap(),
            m.get_object_id("_id").unwrap(),
        )
    });
    all
}

#[tokio::test]
async fn changes_arrive_signed_as_the_reference_library_verifies_and_are_logged() {
    let app = spawn().await;
    let owner = app.owner().await.clone();
    // A vehicle's body names an account: made before the endpoint.
    let vehicle = app.minimal_body(&owner, "vehicles").await;
    let receiver = Receiver::start().await;
    let (endpoint, secret) = endpoint(
        &app,
        &owner,
        &receiver,
        json!(["account.*", "webhook.test"]),
    )
    .await;

    let id = app.create_account(&owner, "Delivered Garage").await;
    let r = app
        .patch(
            &format!("/api/v1/accounts/{id}"),
            Some(&owner),
            json!({ "name": "Renamed Garage" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Not selected: no message.
    app.create_record(&owner, "vehicles", vehicle).await;
    let got = receiver.wait_for(2).await;
    let verified: Vec<Value> = verify(&secret, &got)
        .into_iter()
        .map(|v| v.unwrap())
        .collect();
    let kinds: Vec<&str> = verified
        .iter()
        .map(|p| p["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["account.created", "account.updated"]);
    assert_eq!(verified[0]["data"]["id"], id.as_str());
    assert_eq!(verified[0]["data"]["version"], 1);
    assert_eq!(verified[1]["data"]["name"], "Renamed Garage");
    assert_eq!(verified[1]["data"]["version"], 2);
    assert!(verified[0]["timestamp"].as_str().unwrap().ends_with('Z'));
    // A signature by another secret is refused by the same library.
    let wrong = shared::signature::new_secret();
    assert!(verify(&wrong, &got).iter().all(|v| v.is_err()));

    // The delivery log: one message each, delivered at the first attempt,
    // named by the webhook-id the receiver saw.
    let log = app
        .get(
            &format!("/api/v1/webhooks/{endpoint}/deliveries"),
            Some(&owner),
        )
        .await;
    assert_eq!(log.status, 200, "{}", log.text);
    let data = log.body["data"].as_array().unwrap();
    assert_eq!(data.len(), 2, "{}", log.text);
    for m in data {
        assert_eq!(m["status"], "DELIVERED", "{m}");
        assert_eq!(m["attempts"].as_array().unwrap().len(), 1);
        assert_eq!(m["attempts"][0]["statusCode"], 200);
        assert!(
            got.iter().any(|g| g.header("webhook-id") == m["webhookId"]),
            "{m}"
        );
    }
    assert_eq!(app.count("webhook_messages", doc! {}).await, 2);

    // A test message, to this endpoint alone.
    let r = app
        .post(
            &format!("/api/v1/webhooks/{endpoint}/test"),
            Some(&owner),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["status"], "DELIVERED", "{}", r.text);
    let got = receiver.wait_for(3).await;
    let test = verify(&secret, &got[2..])[0].clone().unwrap();
    assert_eq!(test["type"], "webhook.test");

    // A retry sends the same message again, under the same webhook-id.
    let first = data[0]["id"].as_str().unwrap();
    let r = app
        .post(
            &format!("/api/v1/webhooks/{endpoint}/deliveries/{first}/retry"),
            Some(&owner),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["status"], "DELIVERED");
    let got = receiver.wait_for(4).await;
    assert_eq!(got[3].header("webhook-id"), format!("msg_{first}"));
    assert!(verify(&secret, &got[3..])[0].is_ok());
    // Nothing is left for the scheduled run.
    let report = functions::maintenance::webhooks::run_at(&app.state, DateTime::now())
        .await
        .unwrap();
    assert_eq!((report.scanned, report.remaining), (0, 0), "{report:?}");
    assert_eq!(receiver.received().len(), 4);
}

#[tokio::test]
async fn failures_follow_the_schedule_and_then_fail_and_notify() {
    let app = spawn().await;
    let owner = app.owner().await.clone();
    app.admin().await;
    let receiver = Receiver::start().await;
    receiver.always(500);
    let (endpoint, secret) = endpoint(&app, &owner, &receiver, json!(["*"])).await;
    app.create_account(&owner, "Unlucky Garage").await;
    receiver.wait_for(1).await;

    let mut now = DateTime::now();
    for (attempt, wait) in shared::webhook::SCHEDULE_SECS.iter().enumerate() {
        let m = &messages(&app, doc! {}).await[0];
        assert_eq!(
            m.get_str("status").unwrap(),
            "PENDING",
            "after attempt {}",
            attempt + 1
        );
        let next = m.get_datetime("nextAttemptAt").unwrap().timestamp_millis();
        let last = m
            .get_array("attempts")
            .unwrap()
            .last()
            .unwrap()
            .as_document()
            .unwrap()
            .clone();
        // From the attempt, on the scheduler's clock.
        let delay = next - last.get_datetime("at").unwrap().timestamp_millis();
        assert!(
            delay <= wait * 1000 && delay >= wait * 900,
            "attempt {}: next in {delay} ms, scheduled {wait} s less up to 10%",
            attempt + 1
        );
        // Not due a second before.
        let early = DateTime::from_millis(next - 1000);
        let report = functions::maintenance::webhooks::run_at(&app.state, early)
            .await
            .unwrap();
        assert_eq!(report.scanned, 0);
        now = DateTime::from_millis(next);
        let report = functions::maintenance::webhooks::run_at(&app.state, now)
            .await
            .unwrap();
        assert!(report.scanned >= 1, "{report:?}");
    }
    let got = receiver.received();
    assert_eq!(got.len(), 10, "one first attempt and nine retries");
    let id = got[0].header("webhook-id").to_string();
    assert!(
        got.iter().all(|g| g.header("webhook-id") == id),
        "the same webhook-id on every retry"
    );
    assert!(verify(&secret, &got).iter().all(|v| v.is_ok()));
    let m = &messages(&app, doc! {}).await[0];
    assert_eq!(m.get_str("status").unwrap(), "FAILED");
    let attempts = m.get_array("attempts").unwrap();
    assert_eq!(attempts.len(), 10);
    assert!(attempts
        .iter()
        .all(|a| a.as_document().unwrap().get_i32("statusCode") == Ok(500)));
    let e = &app
        .find("webhook_endpoints", doc! { "_id": oid(&endpoint) })
        .await[0];
    assert_eq!(shared::db::number(e, "failedMessages"), Some(1));
    assert!(e.get_datetime("failingSince").is_ok());
    assert_eq!(e.get_str("status").unwrap(), "ENABLED");

    // The owners and admins are told once that a message was exhausted.
    let notices = app
        .find("email_outbox", doc! { "kind": "webhook-failing" })
        .await;
    let mut to: Vec<&str> = notices.iter().map(|n| n.get_str("to").unwrap()).collect();
    to.sort();
    let mut staff = vec![owner.email.as_str(), app.admin().await.email.as_str()];
    staff.sort();
    assert_eq!(to, staff);
    assert!(notices[0]
        .get_str("subject")
        .unwrap()
        .contains("could not be delivered"));
    functions::maintenance::webhooks::run_at(&app.state, now)
        .await
        .unwrap();
    assert_eq!(
        app.count("email_outbox", doc! { "kind": "webhook-failing" })
            .await,
        2
    );
}

#[tokio::test]
async fn redirects_fail_retry_after_is_waited_out_and_410_disables() {
    let app = spawn().await;
    let owner = app.owner().await.clone();
    let receiver = Receiver::start().await;
    let (endpoint, _) = endpoint(&app, &owner, &receiver, json!(["account.created"])).await;

    // A redirect (to the metadata service) is a failure, never followed.
    receiver.answer(
        302,
        vec![("location", "http://169.254.169.254/latest/meta-data".into())],
    );
    app.create_account(&owner, "Redirected").await;
    receiver.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.received().len(), 1);
    let m = &messages(&app, doc! {}).await[0];
    assert_eq!(m.get_str("status").unwrap(), "PENDING");
    let a = first_attempt(m);
    assert_eq!(a.get_i32("statusCode"), Ok(302));
    // From a loopback receiver no body is kept.
    assert_eq!(a.get("responseBody"), Some(&bson::Bson::Null));

    // Retry-After on 503: the next attempt waits at least that long.
    receiver.answer(503, vec![("retry-after", "3600".into())]);
    let now = *m.get_datetime("nextAttemptAt").unwrap();
    let report = functions::maintenance::webhooks::run_at(&app.state, now)
        .await
        .unwrap();
    assert_eq!(report.scanned, 1);
    let m = &messages(&app, doc! {}).await[0];
    let next = m.get_datetime("nextAttemptAt").unwrap().timestamp_millis();
    assert!(
        next >= now.timestamp_millis() + 3_600_000,
        "Retry-After not honoured: {}",
        next - now.timestamp_millis()
    );

    // 410: the message fails and the endpoint is disabled; later events are
    // kept as SKIPPED.
    receiver.answer(410, vec![]);
    let now = DateTime::from_millis(next);
    functions::maintenance::webhooks::run_at(&app.state, now)
        .await
        .unwrap();
    let m = &messages(&app, doc! {}).await[0];
    assert_eq!(m.get_str("status").unwrap(), "FAILED");
    let e = app
        .get(&format!("/api/v1/webhooks/{endpoint}"), Some(&owner))
        .await;
    assert_eq!(
        (e.body["status"].as_str(), e.body["disabledReason"].as_str()),
        (Some("DISABLED"), Some("GONE"))
    );
    let disabled = app
        .find("email_outbox", doc! { "kind": "webhook-failing" })
        .await;
    assert!(disabled
        .iter()
        .any(|n| n.get_str("subject").unwrap().contains("was disabled")));

    app.create_account(&owner, "While disabled 1").await;
    app.create_account(&owner, "While disabled 2").await;
    let skipped = messages(&app, doc! { "status": "SKIPPED" }).await;
    assert_eq!(skipped.len(), 2);
    assert_eq!(receiver.received().len(), 3);
    app.post(
        &format!("/api/v1/webhooks/{endpoint}/recover"),
        Some(&owner),
        json!({ "since": "2020-01-01T00:00:00Z" }),
    )
    .await
    .assert_problem(409, "ENDPOINT_DISABLED");

    // Enabled and recovered: each missed message arrives once, oldest
    // first; a second recovery queues nothing.
    let r = app
        .post(
            &format!("/api/v1/webhooks/{endpoint}/enable"),
            Some(&owner),
            json!({}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["status"].as_str()),
        (200, Some("ENABLED")),
        "{}",
        r.text
    );
    let r = app
        .post(
            &format!("/api/v1/webhooks/{endpoint}/recover"),
            Some(&owner),
            json!({ "since": "2020-01-01T00:00:00Z" }),
        )
        .await;
    assert_eq!(
        (r.status, &r.body["queued"]),
        (202, &json!(3)),
        "{}",
        r.text
    );
    let again = app
        .post(
            &format!("/api/v1/webhooks/{endpoint}/recover"),
            Some(&owner),
            json!({ "since": "2020-01-01T00:00:00Z" }),
        )
        .await;
    assert_eq!(again.body["queued"], 0, "{}", again.text);
    functions::maintenance::webhooks::run_at(&app.state, DateTime::now())
        .await
        .unwrap();
    let got = receiver.received();
    assert_eq!(got.len(), 6, "three recovered messages, each once");
    let mut names: Vec<String> = got[3..]
        .iter()
        .map(|g| {
            serde_json::from_slice::<Value>(&g.body).unwrap()["data"]["name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["Redirected", "While disabled 1", "While disabled 2"]
    );
    assert_eq!(
        messages(&app, doc! { "status": "DELIVERED" }).await.len(),
        3
    );
}

#[tokio::test]
async fn a_failing_endpoint_is_warned_then_disabled_with_one_email_each() {
    let app = spawn().await;
    let owner = app.owner().await.clone();
    let receiver = Receiver::start().await;
    let (endpoint, _) = endpoint(&app, &owner, &receiver, json!(["*"])).await;
    let now = DateTime::now();
    let days_ago =
        |d: f64| DateTime::from_millis(now.timestamp_millis() - (d * 86_400_000.0) as i64);
    let set = |fields: Document| {
        let app = &app;
        let id = oid(&endpoint);
        async move {
            app.db
                .collection::<Document>("webhook_endpoints")
                .update_one(doc! { "_id": id }, doc! { "$set": fields })
                .await
                .unwrap();
        }
    };
    let subjects = || async {
        let mut s: Vec<String> = app
            .find("email_outbox", doc! { "kind": "webhook-failing" })
            .await
            .iter()
            .map(|n| n.get_str("subject").unwrap().to_string())
            .collect();
        s.sort();
        s.dedup();
        s
    };
    // Failing for 4 days with 9 failed messages: warned, not disabled.
    set(doc! { "failingSince": days_ago(4.1), "failedMessages": 9_i64 }).await;
    functions::maintenance::webhooks::run_at(&app.state, now)
        .await
        .unwrap();
    let s = subjects().await;
    assert_eq!(s.len(), 2, "{s:?}");
    assert!(
        s.iter().any(|s| s.contains("will be disabled in 24 hours")),
        "{s:?}"
    );
    assert_eq!(
        app.get(&format!("/api/v1/webhooks/{endpoint}"), Some(&owner))
            .await
            .body["status"],
        "ENABLED"
    );
    // 5 days but 9 failed messages: still enabled.
    set(doc! { "failingSince": days_ago(5.1) }).await;
    functions::maintenance::webhooks::run_at(&app.state, now)
        .await
        .unwrap();
    assert_eq!(
        app.get(&format!("/api/v1/webhooks/{endpoint}"), Some(&owner))
            .await
            .body["status"],
        "ENABLED"
    );
    // The tenth, but the warning is not a day old yet: still enabled.
    set(doc! { "failedMessages": 10_i64 }).await;
    functions::maintenance::webhooks::run_at(&app.state, now)
        .await
        .unwrap();
    assert_eq!(
        app.get(&format!("/api/v1/webhooks/{endpoint}"), Some(&owner))
            .await
            .body["status"],
        "ENABLED"
    );
    // A day after the warning: disabled, and told so once.
    set(doc! { "noticeWarningAt": days_ago(1.01) }).await;
    functions::maintenance::webhooks::run_at(&app.state, now)
        .await
        .unwrap();
    functions::maintenance::webhooks::run_at(&app.state, now)
        .await
        .unwrap();
    let e = app
        .get(&format!("/api/v1/webhooks/{endpoint}"), Some(&owner))
        .await;
    assert_eq!(
        (e.body["status"].as_str(), e.body["disabledReason"].as_str()),
        (Some("DISABLED"), Some("FAILING"))
    );
    let s = subjects().await;
    assert_eq!(s.len(), 3, "{s:?}");
    assert_eq!(
        app.count("email_outbox", doc! { "kind": "webhook-failing" })
            .await,
        3,
        "one owner, three notices, each once"
    );
    // A delivery while disabled is skipped, not sent.
    app.create_account(&owner, "Skipped").await;
    assert_eq!(messages(&app, doc! { "status": "SKIPPED" }).await.len(), 1);
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn a_rotated_secret_signs_with_both_until_the_grace_ends() {
    let app = spawn().await;
    let owner = app.owner().await.clone();
    let receiver = Receiver::start().await;
    let (endpoint, old) = endpoint(&app, &owner, &receiver, json!(["account.created"])).await;
    let r = app
        .post(
            &format!("/api/v1/webhooks/{endpoint}/rotate-secret"),
            Some(&owner),
            json!({ "gracePeriodHours": 1 }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let new = r.str("secret");
    assert_ne!(new, old);
    assert!(r.body["previousSecretExpiresAt"].is_string());
    app.create_account(&owner, "Both").await;
    let got = receiver.wait_for(1).await;
    assert_eq!(got[0].header("webhook-signature").split(' ').count(), 2);
    assert!(verify(&old, &got)[0].is_ok());
    assert!(verify(&new, &got)[0].is_ok());
    // Without a grace, only the new one.
    let r = app
        .post(
            &format!("/api/v1/webhooks/{endpoint}/rotate-secret"),
            Some(&owner),
            json!({ "gracePeriodHours": 0 }),
        )
        .await;
    let newest = r.str("secret");
    app.create_account(&owner, "One").await;
    let got = receiver.wait_for(2).await;
    assert!(verify(&newest, &got[1..])[0].is_ok());
    assert!(verify(&new, &got[1..])[0].is_err());
    app.post(
        &format!("/api/v1/webhooks/{endpoint}/rotate-secret"),
        Some(&owner),
        json!({ "gracePeriodHours": 73 }),
    )
    .await
    .assert_problem(422, "VALIDATION_FAILED");
}

#[tokio::test]
async fn an_address_is_checked_again_when_a_message_is_sent() {
    let app = spawn().await;
    let owner = app.owner().await.clone();
    let receiver = Receiver::start().await;
    let (endpoint, _) = endpoint(&app, &owner, &receiver, json!(["account.created"])).await;
    // Stored targets changed behind the API's back are still refused at
    // send time: each attempt is logged as blocked, nothing is sent.
    for (i, url) in [
        "http://169.254.169.254/latest/meta-data",
        "https://10.0.0.5/hook",
        "https://[::ffff:169.254.169.254]/hook",
        "https://[fd00::1]/hook",
    ]
    .iter()
    .enumerate()
    {
        app.db
            .collection::<Document>("webhook_endpoints")
            .update_one(
                doc! { "_id": oid(&endpoint) },
                doc! { "$set": { "url": *url } },
            )
            .await
            .unwrap();
        app.create_account(&owner, &format!("Blocked {i}")).await;
        let m = messages(&app, doc! {}).await.pop().unwrap();
        let a = first_attempt(&m);
        let error = a.get_str("error").unwrap_or("");
        assert_eq!(error, "blocked", "{url}: {a}");
    }
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn concurrent_runs_send_each_due_message_exactly_once() {
    let app = TestApp::spawn_with(&[
        ("WEBHOOKS_ALLOW_NETWORKS", "127.0.0.0/8"),
        ("EMAIL_INLINE_BUDGET_MS", "2000"),
        ("RATE_LIMIT_API_FREE", "100000"),
    ])
    .await;
    let owner = app.owner().await.clone();
    let receiver = Receiver::start().await;
    receiver.always(500);
    endpoint(&app, &owner, &receiver, json!(["account.created"])).await;
    let names: Vec<String> = (0..20).map(|i| format!("Burst {i}")).collect();
    let creates = names.iter().map(|n| app.create_account(&owner, n));
    futures_util::future::join_all(creates).await;
    receiver.wait_for(20).await;
    receiver.always(200);
    let later = DateTime::from_millis(DateTime::now().timestamp_millis() + 10_000);
    let runs = (0..3).map(|_| functions::maintenance::webhooks::run_at(&app.state, later));
    let reports = futures_util::future::join_all(runs).await;
    let attempts: u64 = reports.iter().map(|r| r.as_ref().unwrap().scanned).sum();
    assert_eq!(attempts, 20, "{reports:?}");
    let got = receiver.received();
    assert_eq!(got.len(), 40);
    let mut retried: Vec<&str> = got[20..].iter().map(|g| g.header("webhook-id")).collect();
    retried.sort();
    retried.dedup();
    assert_eq!(retried.len(), 20, "each message once");
    assert_eq!(
        app.count("webhook_messages", doc! { "status": "DELIVERED" })
            .await,
        20
    );
}

#[tokio::test]
async fn a_fault_of_ours_fails_the_message_without_counting_against_the_endpoint() {
    let app = spawn().await;
    let owner = app.owner().await.clone();
    let receiver = Receiver::start().await;
    let (endpoint, _) = endpoint(&app, &owner, &receiver, json!(["account.created"])).await;
    // A secret that no longer opens (sealed under another server secret).
    app.db
        .collection::<Document>("webhook_endpoints")
        .update_one(
            doc! { "_id": oid(&endpoint) },
            doc! { "$set": { "secret": bson::Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: vec![7; 60] } } },
        )
        .await
        .unwrap();
    app.create_account(&owner, "Unsigned").await;
    let m = messages(&app, doc! {}).await.pop().unwrap();
    assert_eq!(m.get_str("status").unwrap(), "FAILED");
    let a = first_attempt(&m);
    assert_eq!(a.get_str("error").unwrap(), "internal");
    let e = &app
        .find("webhook_endpoints", doc! { "_id": oid(&endpoint) })
        .await[0];
    assert_eq!(shared::db::number(e, "failedMessages"), Some(0));
    assert_eq!(e.get("failingSince"), None);
    assert!(receiver.received().is_empty(), "nothing unsigned is sent");
}

#[tokio::test]
async fn an_organization_whose_endpoint_hangs_does_not_hold_the_others_messages() {
    let app = TestApp::spawn_with(&[
        ("WEBHOOKS_ALLOW_NETWORKS", "127.0.0.0/8"),
        ("EMAIL_INLINE_BUDGET_MS", "2000"),
        ("RATE_LIMIT_API_FREE", "100000"),
    ])
    .await;
    let (owner, other) = (app.owner().await.clone(), app.other().await.clone());
    let (slow, quick) = (Receiver::start().await, Receiver::start().await);
    slow.always(500);
    quick.always(500);
    endpoint(&app, &owner, &slow, json!(["account.created"])).await;
    endpoint(&app, &other, &quick, json!(["account.created"])).await;
    // The slow organization's twelve retries are due before the other's one.
    for i in 0..12 {
        app.create_account(&owner, &format!("Slow {i}")).await;
    }
    slow.wait_for(12).await;
    app.create_account(&other, "Quick").await;
    quick.wait_for(1).await;
    // Now the slow endpoint hangs until the other organization's retry
    // arrives: a run that gave all its senders to the older messages
    // would leave it waiting behind twelve seconds of hanging.
    let (opens, gate) = tokio::sync::watch::channel(false);
    *slow.gate.lock().unwrap() = Some(gate);
    *quick.opens.lock().unwrap() = Some(opens);
    slow.always(200);
    quick.always(200);
    let later = DateTime::from_millis(DateTime::now().timestamp_millis() + 10_000);
    let report = functions::maintenance::webhooks::run_at(&app.state, later)
        .await
        .unwrap();
    assert_eq!(report.scanned, 13, "{report:?}");
    assert_eq!(quick.received().len(), 2);
    assert_eq!(slow.received().len(), 24);
    assert_eq!(
        slow.held_out.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the other organization's message waited behind the hanging ones"
    );
    assert_eq!(
        app.count("webhook_messages", doc! { "status": "DELIVERED" })
            .await,
        13
    );
}

#[tokio::test]
async fn sends_by_hand_are_counted_against_the_organizations_hourly_bucket() {
    let app = TestApp::spawn_with(&[
        ("WEBHOOKS_ALLOW_NETWORKS", "127.0.0.0/8"),
        ("EMAIL_INLINE_BUDGET_MS", "2000"),
        ("RATE_LIMIT_WEBHOOK_SENDS_FREE", "2"),
    ])
    .await;
    let owner = app.owner().await.clone();
    let receiver = Receiver::start().await;
    let (id, _) = endpoint(&app, &owner, &receiver, json!(["webhook.test"])).await;
    let test = format!("/api/v1/webhooks/{id}/test");
    for _ in 0..2 {
        let r = app.post(&test, Some(&owner), json!({})).await;
        assert_eq!(r.status, 202, "{}", r.text);
    }
    let r = app.post(&test, Some(&owner), json!({})).await;
    r.assert_problem(429, "RATE_LIMIT_EXCEEDED");
    assert!(r.header("retry-after").is_some());
    let r = app
        .post(
            &format!("/api/v1/webhooks/{id}/recover"),
            Some(&owner),
            json!({ "since": "2026-01-01T00:00:00Z" }),
        )
        .await;
    r.assert_problem(429, "RATE_LIMIT_EXCEEDED");
    assert_eq!(receiver.received().len(), 2, "nothing sent past the limit");
    // Another organization's bucket is its own.
    let other = app.other().await.clone();
    let (theirs, _) = endpoint(&app, &other, &receiver, json!(["webhook.test"])).await;
    let r = app
        .post(
            &format!("/api/v1/webhooks/{theirs}/test"),
            Some(&other),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
}
