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

    // The same email again adds to the lead: empty fields filled, nothing
    // overwritten, no duplicate.
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
    assert_eq!(leads[0].get_str("firstName").unwrap(), "Jana");
    assert_eq!(leads[0].get_str("company").unwrap(), "Novak Cars");
    assert_eq!(leads[0].get_i64("submissionCount").unwrap(), 2);
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
