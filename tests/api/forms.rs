//! Public lead forms: configured by ADMINs, posted by anyone from the
//! allowed origins (JSON or a plain HTML form), refused from others,
//! spam-proofed, deduplicated by email, every submission kept.

use crate::helpers::*;
use bson::doc;
use serde_json::{json, Value};

const SITE: &str = "https://garage.example";

async fn make_form(app: &TestApp, extra: Value) -> Value {
    let mut body = json!({
        "name": "Website contact",
        "fields": [
            { "field": "email", "required": true },
            { "field": "firstName" },
            { "field": "phone" },
            { "field": "company" },
        ],
        "allowedOrigins": [SITE],
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = app
        .post("/api/v1/forms", Some(app.admin().await), body)
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body
}

async fn submit_json(app: &TestApp, public_id: &str, origin: Option<&str>, body: Value) -> Resp {
    let mut headers = vec![("content-type", "application/json")];
    if let Some(o) = origin {
        headers.push(("origin", o));
    }
    app.request(
        "POST",
        &format!("/api/v1/public/forms/{public_id}/submissions"),
        None,
        Some(serde_json::to_vec(&body).unwrap()),
        &headers,
    )
    .await
}

async fn submit_html(app: &TestApp, public_id: &str, origin: &str, body: &str) -> Resp {
    app.request(
        "POST",
        &format!("/api/v1/public/forms/{public_id}/submissions"),
        None,
        Some(body.as_bytes().to_vec()),
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("origin", origin),
        ],
    )
    .await
}

#[tokio::test]
async fn admins_configure_forms_with_an_unguessable_public_id() {
    let app = TestApp::spawn().await;
    let form = make_form(&app, json!({})).await;
    let public_id = form["publicId"].as_str().unwrap();
    assert_eq!(public_id.len(), 32);
    assert_ne!(public_id, form["id"].as_str().unwrap());
    assert_eq!(
        (form["source"].as_str(), form["active"].as_bool()),
        (Some("FORM"), Some(true))
    );
    // Members and viewers see no forms at all.
    for actor in [app.member().await, app.viewer().await] {
        let r = app.get("/api/v1/forms", Some(actor)).await;
        assert_eq!(r.status, 403, "{}", r.text);
    }
    for (bad, field) in [
        (
            json!({ "fields": [{ "field": "password" }] }),
            "fields[0].field",
        ),
        (
            json!({ "fields": [{ "field": "email" }, { "field": "email" }] }),
            "fields[1].field",
        ),
        (json!({ "fields": [] }), "fields"),
        (
            json!({ "allowedOrigins": ["https://garage.example/contact"] }),
            "allowedOrigins",
        ),
    ] {
        let mut body = json!({ "name": "Bad", "fields": [{ "field": "email" }] });
        for (k, v) in bad.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = app
            .post("/api/v1/forms", Some(app.admin().await), body)
            .await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert_eq!(r.body["errors"][0]["field"], field, "{}", r.text);
    }
    assert_eq!(app.count("forms", doc! {}).await, 1);
    // Rotating the key retires the old one at once.
    let id = form["id"].as_str().unwrap();
    let r = app
        .post(
            &format!("/api/v1/forms/{id}/rotate-key"),
            Some(app.admin().await),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let new_id = r.str("publicId");
    assert_ne!(new_id, public_id);
    let r = submit_json(&app, public_id, Some(SITE), json!({ "email": "a@b.test" })).await;
    assert_eq!(r.status, 404, "{}", r.text);
    let r = submit_json(&app, &new_id, Some(SITE), json!({ "email": "a@b.test" })).await;
    assert_eq!(r.status, 201, "{}", r.text);
}

#[tokio::test]
async fn a_submission_from_an_allowed_origin_makes_a_lead_and_others_make_nothing() {
    let app = TestApp::spawn().await;
    let form = make_form(&app, json!({})).await;
    let public_id = form["publicId"].as_str().unwrap();

    // Scripts: the preflight answers the allowed origin only.
    let path = format!("/api/v1/public/forms/{public_id}/submissions");
    let shared_app = &app;
    let preflight = |origin: &'static str| {
        let path = path.clone();
        async move {
            let headers = [
                ("origin", origin),
                ("access-control-request-method", "POST"),
            ];
            shared_app
                .request("OPTIONS", &path, None, None, &headers)
                .await
        }
    };
    let r = preflight(SITE).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(r.header("access-control-allow-origin"), Some(SITE));
    assert_eq!(r.header("access-control-allow-credentials"), None);
    assert_eq!(preflight("https://evil.example").await.status, 403);

    let r = submit_json(
        &app,
        public_id,
        Some(SITE),
        json!({
            "email": "Jana.Novak@Example.test", "firstName": "Jana", "phone": "+49 30 1234567",
            "favouriteColour": "blue", "consent": { "given": true, "text": "You may contact me." },
        }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.header("access-control-allow-origin"), Some(SITE));
    assert_eq!(r.body["received"], true);
    let leads = app.find("leads", doc! {}).await;
    assert_eq!(leads.len(), 1);
    let lead = &leads[0];
    assert_eq!(lead.get_str("email").unwrap(), "jana.novak@example.test");
    assert_eq!(lead.get_str("source").unwrap(), "FORM");
    assert_eq!(lead.get_str("status").unwrap(), "NEW");
    let submission = app.find("form_submissions", doc! {}).await.remove(0);
    assert_eq!(
        submission.get_object_id("leadId").unwrap(),
        lead.get_object_id("_id").unwrap()
    );
    assert!(!submission
        .get_document("payload")
        .unwrap()
        .contains_key("favouriteColour"));
    assert!(submission
        .get_document("consent")
        .unwrap()
        .get_bool("given")
        .unwrap());
    assert!(submission.get_str("ipAddress").is_ok());
    assert_eq!(
        app.count("audit_log", doc! { "resource": "lead", "action": "CREATE" })
            .await,
        1
    );

    // Another site: refused whether a script or a plain form posts, and
    // nothing is stored.
    let r = submit_json(
        &app,
        public_id,
        Some("https://evil.example"),
        json!({ "email": "x@y.test" }),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = submit_html(&app, public_id, "https://evil.example", "email=x%40y.test").await;
    assert_eq!(r.status, 403, "{}", r.text);
    // Bad input: 422 naming the field, nothing stored.
    let r = submit_json(
        &app,
        public_id,
        Some(SITE),
        json!({ "firstName": "No email" }),
    )
    .await;
    assert_eq!(
        (r.status, r.body["errors"][0]["field"].as_str()),
        (422, Some("email")),
        "{}",
        r.text
    );
    assert_eq!(r.header("access-control-allow-origin"), Some(SITE));
    let r = submit_json(
        &app,
        public_id,
        Some(SITE),
        json!({ "email": "not-an-email" }),
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.text);
    let r = submit_json(
        &app,
        public_id,
        Some(SITE),
        json!({ "email": "a@b.test", "company": "x".repeat(17_000) }),
    )
    .await;
    assert_eq!(r.status, 413, "{}", r.text);
    assert_eq!(app.count("leads", doc! {}).await, 1);
    assert_eq!(app.count("form_submissions", doc! {}).await, 1);

    // The same email again is attached to the lead and changes none of
    // its fields (not even empty ones): staff see it and decide.
    let before = app.find("leads", doc! {}).await.remove(0);
    let r = submit_html(
        &app,
        public_id,
        SITE,
        "email=jana.novak%40example.test&firstName=Someone+Else&company=Novak+Cars",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    let leads = app.find("leads", doc! {}).await;
    assert_eq!(leads.len(), 1);
    assert_eq!(leads[0], before, "the lead is exactly as it was");
    let lead = leads[0].get_object_id("_id").unwrap().to_hex();
    let r = app
        .get(
            &format!("/api/v1/leads/{lead}/submissions"),
            Some(app.viewer().await),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let rows = r.body["data"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{}", r.text);
    assert_eq!(rows[0]["payload"]["company"], "Novak Cars");
    assert_eq!(rows[0]["payload"]["firstName"], "Someone Else");
    assert!(rows.iter().all(|s| s["leadId"] == lead.as_str()));
    // Who sent it (address, browser) stays in the form's own list (ADMIN+).
    assert!(rows
        .iter()
        .all(|s| s.get("ipAddress").is_none() && s.get("userAgent").is_none()));
    // Another organization's lead is not there to list.
    let other = app.other().await;
    app.get(&format!("/api/v1/leads/{lead}/submissions"), Some(other))
        .await
        .assert_problem(404, "NOT_FOUND");
}

#[tokio::test]
async fn two_concurrent_first_submissions_with_one_email_make_one_lead() {
    let app = TestApp::spawn().await;
    let form = make_form(&app, json!({})).await;
    let public_id = form["publicId"].as_str().unwrap();
    for round in 0..3 {
        let email = format!("twice{round}@example.test");
        let send = |n: usize| {
            submit_json(
                &app,
                public_id,
                Some(SITE),
                json!({ "email": email, "firstName": format!("Visitor {n}") }),
            )
        };
        let (a, b) = tokio::join!(send(1), send(2));
        assert_eq!((a.status, b.status), (201, 201), "{} {}", a.text, b.text);
        let leads = app.find("leads", doc! { "email": &email }).await;
        assert_eq!(leads.len(), 1, "round {round}");
        let id = leads[0].get_object_id("_id").unwrap();
        assert_eq!(
            app.count("form_submissions", doc! { "leadId": id }).await,
            2,
            "both submissions are filed under the one lead"
        );
    }
}

#[tokio::test]
async fn honeypot_catches_do_not_spend_the_forms_day() {
    let app = TestApp::spawn().await;
    let form = make_form(&app, json!({})).await;
    let (form_id, public_id) = (
        oid(form["id"].as_str().unwrap()),
        form["publicId"].as_str().unwrap(),
    );
    let org = oid(&app.owner().await.org_id);
    let day_of = |spam: bool| -> Vec<bson::Document> {
        (0..200)
            .map(|_| {
                doc! { "organizationId": org, "formId": form_id, "payload": {}, "spam": spam,
                "ipAddress": "192.0.2.1", "createdAt": bson::DateTime::now() }
            })
            .collect()
    };
    // A bot's day of honeypot catches (FREE: 200 a day) fills no real slot.
    let submissions = app.db.collection::<bson::Document>("form_submissions");
    submissions.insert_many(day_of(true)).await.unwrap();
    let r = submit_json(
        &app,
        public_id,
        Some(SITE),
        json!({ "email": "real@example.test" }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // Past the spam cap, a catch still looks like a success, and is not kept.
    let r = submit_json(
        &app,
        public_id,
        Some(SITE),
        json!({ "email": "bot@example.test", "_gotcha": "x" }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        app.count("form_submissions", doc! { "spam": true }).await,
        200
    );
    // Real submissions have their cap: the 200th real one today closes the day.
    submissions.insert_many(day_of(false)).await.unwrap();
    let r = submit_json(
        &app,
        public_id,
        Some(SITE),
        json!({ "email": "late@example.test" }),
    )
    .await;
    r.assert_problem(429, "RATE_LIMIT_EXCEEDED");
}

#[tokio::test]
async fn a_forms_address_bucket_is_keyed_by_the_client_key() {
    use tests::lambda::{function_binary, http_api_event, lambda_env, Emulator};
    let app = TestApp::spawn_with(&[("RATE_LIMIT_PUBLIC_FORM", "2")]).await;
    let form = make_form(&app, json!({})).await;
    let public_id = form["publicId"].as_str().unwrap().to_string();
    // Through Lambda, whose event names the client address (API Gateway's
    // sourceIp), so the test can speak from any IPv6 address.
    let name = "public-forms-publicid-submissions";
    let (emu, addr) = Emulator::start().await;
    let _child = tokio::process::Command::new(function_binary(name, "debug"))
        .env_clear()
        .envs(
            app.env
                .iter()
                .filter(|(k, _)| !STORAGE_VARS.contains(&k.as_str())),
        )
        .envs(lambda_env(addr, name))
        .env("LOG_LEVEL", "warn")
        .kill_on_drop(true)
        .spawn()
        .expect("function starts");
    let path = format!("/api/v1/public/forms/{public_id}/submissions");
    let mut n = 0;
    let mut from = |ip: &str| {
        n += 1;
        let mut event = http_api_event(
            "POST",
            &path,
            "",
            "",
            Some(&json!({ "email": format!("visitor{n}@example.test") })),
        );
        event["requestContext"]["http"]["sourceIp"] = json!(ip);
        event["headers"]["origin"] = json!(SITE);
        event["headers"]
            .as_object_mut()
            .unwrap()
            .remove("authorization");
        let emu = &emu;
        async move { emu.invoke(event).await["statusCode"].as_u64().unwrap() }
    };
    // One client's /64 is one key, whichever of its addresses it sends from.
    assert_eq!(from("2001:db8:7:7::1").await, 201);
    assert_eq!(from("2001:db8:7:7:ffff::2").await, 201);
    assert_eq!(from("2001:db8:7:7:abcd::3").await, 429);
    assert_eq!(from("2001:db8:7:8::1").await, 201);
    // An IPv4-mapped address is its IPv4 address.
    assert_eq!(from("198.51.100.7").await, 201);
    assert_eq!(from("::ffff:198.51.100.7").await, 201);
    assert_eq!(from("198.51.100.7").await, 429);
}

#[tokio::test]
async fn html_forms_redirect_spam_is_kept_quietly_and_admins_read_submissions() {
    let app = TestApp::spawn().await;
    let form = make_form(
        &app,
        json!({ "redirectUrl": "https://garage.example/thanks" }),
    )
    .await;
    let (id, public_id) = (
        form["id"].as_str().unwrap(),
        form["publicId"].as_str().unwrap(),
    );
    let r = submit_html(
        &app,
        public_id,
        SITE,
        "email=max%40example.test&firstName=Max&consent=on&consentText=OK",
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(r.header("location"), Some("https://garage.example/thanks"));
    // The honeypot: answered like a success, no lead.
    let ok = submit_json(
        &app,
        public_id,
        Some(SITE),
        json!({ "email": "real@example.test" }),
    )
    .await;
    let spam = submit_json(
        &app,
        public_id,
        Some(SITE),
        json!({ "email": "bot@spam.test", "_gotcha": "http://spam" }),
    )
    .await;
    assert_eq!(ok.status, spam.status);
    let keys = |r: &Resp| {
        r.body
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&ok), keys(&spam));
    assert_eq!(app.count("leads", doc! {}).await, 2);
    assert_eq!(
        app.count("form_submissions", doc! { "spam": true }).await,
        1
    );
    let admin = app.admin().await;
    let r = app
        .get(
            &format!("/api/v1/forms/{id}/submissions?spam=true"),
            Some(admin),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
    let ip = r.body["data"][0]["ipAddress"].as_str().unwrap().to_string();
    let r = app
        .get(
            &format!("/api/v1/forms/{id}/submissions?ipAddress={ip}"),
            Some(admin),
        )
        .await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 3, "{}", r.text);
    let r = app
        .get(
            &format!("/api/v1/forms/{id}/submissions"),
            Some(app.member().await),
        )
        .await;
    assert_eq!(r.status, 403);

    // An inactive form, and a deactivated organization: nobody home.
    let r = app
        .patch(
            &format!("/api/v1/forms/{id}"),
            Some(admin),
            json!({ "active": false }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = submit_json(
        &app,
        public_id,
        Some(SITE),
        json!({ "email": "late@example.test" }),
    )
    .await;
    assert_eq!(r.status, 404);
    let other = make_form(&app, json!({})).await;
    app.db
        .collection::<bson::Document>("organizations")
        .update_one(
            doc! { "_id": oid(&admin.org_id) },
            doc! { "$set": { "isActive": false } },
        )
        .await
        .unwrap();
    let r = submit_json(
        &app,
        other["publicId"].as_str().unwrap(),
        Some(SITE),
        json!({ "email": "late@example.test" }),
    )
    .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn one_address_gets_twenty_submissions_a_form_an_hour() {
    let app = TestApp::spawn().await;
    let form = make_form(&app, json!({})).await;
    let public_id = form["publicId"].as_str().unwrap();
    let mut statuses = vec![];
    for i in 0..21 {
        let r = submit_json(
            &app,
            public_id,
            Some(SITE),
            json!({ "email": format!("p{i}@example.test") }),
        )
        .await;
        statuses.push(r.status);
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        20,
        "{statuses:?}"
    );
    assert_eq!(statuses[20], 429);
    // Another form of the same organization has its own bucket.
    let second = make_form(&app, json!({})).await;
    let r = submit_json(
        &app,
        second["publicId"].as_str().unwrap(),
        Some(SITE),
        json!({ "email": "q@example.test" }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(app.count("form_submissions", doc! {}).await, 21);
    // On-call sees who is flooding the forms.
    let rows =
        crate::admin_cli::admin_json(&app, &["forms", "submissions", "--by-ip", "--since", "1h"]);
    assert_eq!(rows[0]["ipAddress"], "127.0.0.1", "{rows}");
    assert_eq!(rows[0]["submissions"], 21);
    assert_eq!(rows[0]["spam"], 0);
}

#[tokio::test]
async fn a_new_lead_from_a_form_is_emailed_to_the_admins_unless_the_form_says_not() {
    let app = TestApp::spawn().await;
    let (owner, admin, member) = (app.owner().await, app.admin().await, app.member().await);
    let form = make_form(&app, json!({ "name": "Brake check <offer>" })).await;
    let quiet = make_form(&app, json!({ "name": "Quiet", "notifyAdmins": false })).await;
    let lead_email = format!("{}@customer.test", bson::oid::ObjectId::new().to_hex());
    let r = submit_json(
        &app,
        form["publicId"].as_str().unwrap(),
        Some(SITE),
        json!({ "email": lead_email, "firstName": "Lena", "company": "Lena's Cabs" }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let lead = &app.find("leads", doc! { "email": &lead_email }).await[0];
    let lead_id = lead.get_object_id("_id").unwrap().to_hex();
    for who in [owner, admin] {
        let mail = crate::mailbox::wait_for(&who.email, "New lead from Brake check <offer>").await;
        assert!(mail.text.contains(&lead_email), "{}", mail.text);
        assert!(
            mail.text.contains(&format!("/leads/{lead_id}")),
            "{}",
            mail.text
        );
        assert!(
            mail.html.contains("Brake check &lt;offer&gt;"),
            "{}",
            mail.html
        );
    }
    assert!(
        crate::mailbox::messages_to(&member.email)
            .iter()
            .all(|m| !m.subject.contains("New lead")),
        "members are not notified"
    );
    // A second submission with the same email adds to the lead: no new email.
    let r = submit_json(
        &app,
        quiet["publicId"].as_str().unwrap(),
        Some(SITE),
        json!({ "email": format!("other-{lead_email}") }),
    )
    .await;
    assert_eq!(r.status, 201);
    let again = submit_json(
        &app,
        form["publicId"].as_str().unwrap(),
        Some(SITE),
        json!({ "email": lead_email }),
    )
    .await;
    assert_eq!(again.status, 201);
    assert_eq!(
        app.count("email_outbox", doc! { "kind": "new-lead" }).await,
        2,
        "one email per admin for the one new lead of a notifying form"
    );
}

/// A stand-in for Turnstile's `siteverify` on 127.0.0.1: passes the token
/// `good-token` (for the secret `turnstile-secret`), fails any other; keeps
/// every request body it got.
async fn siteverify_stub() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/turnstile/v0/siteverify",
        listener.local_addr().unwrap()
    );
    let seen = std::sync::Arc::new(std::sync::Mutex::new(vec![]));
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let log = log.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let mut got = 0;
                let body = loop {
                    let n = socket.read(&mut buf[got..]).await.unwrap_or(0);
                    got += n;
                    let text = String::from_utf8_lossy(&buf[..got]).to_string();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let len = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap())
                            })
                            .unwrap_or(0);
                        if body.len() >= len || n == 0 {
                            break body.to_string();
                        }
                    }
                    if n == 0 {
                        break String::new();
                    }
                };
                log.lock().unwrap().push(body.clone());
                let pass = body.contains("secret=turnstile-secret")
                    && body.contains("response=good-token");
                let answer = if pass {
                    r#"{"success":true,"error-codes":[]}"#
                } else {
                    r#"{"success":false,"error-codes":["invalid-input-response"]}"#
                };
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                    answer.len()
                );
                let _ = socket.write_all(reply.as_bytes()).await;
            });
        }
    });
    (url, seen)
}

#[tokio::test]
async fn a_form_with_a_turnstile_secret_takes_only_verified_submissions() {
    let (url, seen) = siteverify_stub().await;
    let app = TestApp::spawn_with(&[("TURNSTILE_VERIFY_URL", &url)]).await;
    let form = make_form(&app, json!({ "turnstileSecret": "turnstile-secret" })).await;
    assert_eq!(form["turnstileSecretSet"], true, "{form}");
    assert!(
        form.get("turnstileSecret").is_none(),
        "the secret is write-only"
    );
    // Nor does an export carry it, as CSV or as JSON.
    let owner = app.owner().await;
    for format in ["csv", "json"] {
        let export = app
            .post(
                "/api/v1/exports",
                Some(owner),
                json!({ "entity": "forms", "format": format }),
            )
            .await;
        assert_eq!(export.status, 200, "{}", export.text);
        assert!(export.text.contains("Website contact"), "{}", export.text);
        assert!(
            !export.text.contains("turnstile-secret"),
            "the {format} export carries the secret: {}",
            export.text
        );
    }
    let public_id = form["publicId"].as_str().unwrap();
    let email = format!("{}@human.test", bson::oid::ObjectId::new().to_hex());

    let missing = submit_json(&app, public_id, Some(SITE), json!({ "email": email })).await;
    missing.assert_problem(403, "CAPTCHA_FAILED");
    let forged = submit_json(
        &app,
        public_id,
        Some(SITE),
        json!({ "email": email, "cf-turnstile-response": "made-up" }),
    )
    .await;
    forged.assert_problem(403, "CAPTCHA_FAILED");
    let html = submit_html(
        &app,
        public_id,
        SITE,
        &format!("email={email}&cf-turnstile-response=made-up"),
    )
    .await;
    assert_eq!(html.status, 403);
    assert!(
        html.text.contains("anti-spam check failed"),
        "{}",
        html.text
    );
    assert_eq!(app.count("leads", doc! { "email": &email }).await, 0);

    let ok = submit_json(
        &app,
        public_id,
        Some(SITE),
        json!({ "email": email, "cf-turnstile-response": "good-token" }),
    )
    .await;
    assert_eq!(ok.status, 201, "{}", ok.text);
    assert_eq!(app.count("leads", doc! { "email": &email }).await, 1);
    let bodies = seen.lock().unwrap().clone();
    assert_eq!(
        bodies.len(),
        3,
        "the missing token never reached siteverify: {bodies:?}"
    );
    assert!(bodies[2].contains("remoteip=127.0.0.1"), "{bodies:?}");
    let stored = &app.find("form_submissions", doc! {}).await;
    assert!(
        stored.iter().all(|s| !s
            .get_document("payload")
            .unwrap()
            .contains_key("cf-turnstile-response")),
        "{stored:?}"
    );
    // The audit log never holds the secret.
    let audits = app.find("audit_log", doc! { "resource": "form" }).await;
    assert!(
        !format!("{audits:?}").contains("turnstile-secret"),
        "{audits:?}"
    );

    // An unreachable verifier refuses (fails closed).
    let down =
        TestApp::spawn_with(&[("TURNSTILE_VERIFY_URL", "http://127.0.0.1:9/siteverify")]).await;
    let form = make_form(&down, json!({ "turnstileSecret": "turnstile-secret" })).await;
    let r = submit_json(
        &down,
        form["publicId"].as_str().unwrap(),
        Some(SITE),
        json!({ "email": email, "cf-turnstile-response": "good-token" }),
    )
    .await;
    r.assert_problem(403, "CAPTCHA_FAILED");
}
