//! Webhook endpoints: the signing secret shown once and kept sealed, the
//! targets refused in every notation of an internal address, the event
//! catalogue derived from the registry, and who may configure them.

use bson::doc;
use serde_json::json;

use crate::helpers::*;

const TARGET: &str = "https://hooks.example.com/workshop";

/// `actor` adds an endpoint for every event at [`TARGET`].
async fn add_endpoint(app: &TestApp, actor: &Actor) -> Resp {
    app.post(
        "/api/v1/webhooks",
        Some(actor),
        json!({ "url": TARGET, "events": ["*"] }),
    )
    .await
}

#[tokio::test]
async fn an_endpoint_gets_its_secret_once_and_keeps_it_sealed() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await.clone();
    let body = json!({ "url": TARGET, "events": ["account.*", "work_order.status_changed"], "description": "Accounting" });
    let r = app
        .post("/api/v1/webhooks", Some(&owner), body.clone())
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let secret = r.str("secret");
    assert_eq!(
        shared::signature::key_of(&secret).map(|k| k.len()),
        Some(32),
        "{secret}"
    );
    let id = r.str("id");
    assert_eq!(
        r.body["events"],
        json!(["account.*", "work_order.status_changed"])
    );
    assert_eq!(r.body["status"], "ENABLED");

    // Listed and read without it; stored only sealed, under this endpoint's key.
    let list = app.get("/api/v1/webhooks", Some(&owner)).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["data"][0]["id"], id.as_str());
    assert!(
        list.body["data"][0].get("secret").is_none(),
        "{}",
        list.text
    );
    let one = app
        .get(&format!("/api/v1/webhooks/{id}"), Some(&owner))
        .await;
    assert!(one.body.get("secret").is_none(), "{}", one.text);
    let stored = app
        .find("webhook_endpoints", doc! { "_id": oid(&id) })
        .await;
    assert!(
        !stored[0].to_string().contains(&secret[6..]),
        "the secret is stored in clear"
    );
    let sealed = stored[0].get_binary_generic("secret").unwrap();
    let key = shared::seal::derive(JWT_SECRET, "webhook-secret", &[&id]);
    assert_eq!(shared::seal::open(&key, sealed).unwrap(), secret.as_bytes());
    let other = shared::seal::derive(
        JWT_SECRET,
        "webhook-secret",
        &[&bson::oid::ObjectId::new().to_hex()],
    );
    assert!(shared::seal::open(&other, sealed).is_none());

    // A keyed retry replays the endpoint without the secret.
    let raw = serde_json::to_vec(&body).unwrap();
    let headers = [("idempotency-key", "endpoint-once")];
    let first = app
        .request(
            "POST",
            "/api/v1/webhooks",
            Some(&owner.token),
            Some(raw.clone()),
            &headers,
        )
        .await;
    let again = app
        .request(
            "POST",
            "/api/v1/webhooks",
            Some(&owner.token),
            Some(raw),
            &headers,
        )
        .await;
    assert_eq!(first.status, 201, "{}", first.text);
    assert!(first.body["secret"].is_string());
    assert_eq!(again.body["id"], first.body["id"], "{}", again.text);
    assert!(again.body["secret"].is_null(), "{}", again.text);
    assert_eq!(app.count("webhook_endpoints", doc! {}).await, 2);

    let r = app
        .patch(
            &format!("/api/v1/webhooks/{id}"),
            Some(&owner),
            json!({ "events": ["*"] }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["events"], json!(["*"]));
    assert_eq!(
        app.delete(&format!("/api/v1/webhooks/{id}"), Some(&owner))
            .await
            .status,
        204
    );
    app.get(&format!("/api/v1/webhooks/{id}"), Some(&owner))
        .await
        .assert_problem(404, "NOT_FOUND");
    assert_eq!(
        app.audits("CREATE")
            .await
            .iter()
            .filter(|a| a.get_str("resource") == Ok("webhook_endpoint"))
            .count(),
        2
    );
}

#[tokio::test]
async fn internal_targets_are_refused_in_every_notation_and_events_must_exist() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await.clone();
    for url in [
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://api.LOCALHOST./hook",
        "https://[::1]/hook",
        "https://2130706433/hook",
        "https://0x7f.1/hook",
        "https://0177.0.0.1/hook",
        "https://[::ffff:169.254.169.254]/latest/meta-data",
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.5/hook",
        "https://100.64.0.1/hook",
        "https://[fd00::1]/hook",
        "https://[64:ff9b::a9fe:a9fe]/hook",
        "http://hooks.example.com/hook",
        "https://user:password@hooks.example.com/hook",
        "ftp://hooks.example.com/hook",
        "/relative/hook",
        "not a url",
    ] {
        let r = app
            .post(
                "/api/v1/webhooks",
                Some(&owner),
                json!({ "url": url, "events": ["*"] }),
            )
            .await;
        assert_eq!(r.status, 422, "{url}: {}", r.text);
        assert_eq!(
            r.error_fields(),
            vec!["url".to_string()],
            "{url}: {}",
            r.text
        );
    }
    for events in [
        json!([]),
        json!(["nothing.created"]),
        json!(["account.exploded"]),
        json!(["nothing.*"]),
    ] {
        let r = app
            .post(
                "/api/v1/webhooks",
                Some(&owner),
                json!({ "url": TARGET, "events": events }),
            )
            .await;
        assert_eq!(r.status, 422, "{events}: {}", r.text);
        assert_eq!(
            r.error_fields(),
            vec!["events".to_string()],
            "{events}: {}",
            r.text
        );
    }
    let id = {
        let r = add_endpoint(&app, &owner).await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.str("id")
    };
    let r = app
        .patch(
            &format!("/api/v1/webhooks/{id}"),
            Some(&owner),
            json!({ "url": "https://0x7f.1/" }),
        )
        .await;
    assert_eq!(r.status, 422, "a PATCH keeps the rule: {}", r.text);
    assert_eq!(
        app.find("webhook_endpoints", doc! {}).await[0]
            .get_str("url")
            .unwrap(),
        TARGET
    );

    // Only the networks the deployment allows, and only they over http.
    let dev = TestApp::spawn_with(&[("WEBHOOKS_ALLOW_NETWORKS", "127.0.0.1/32")]).await;
    let owner = dev.owner().await.clone();
    let post = |url: &'static str| {
        dev.post(
            "/api/v1/webhooks",
            Some(&owner),
            json!({ "url": url, "events": ["*"] }),
        )
    };
    assert_eq!(post("http://127.0.0.1:9/hook").await.status, 201);
    assert_eq!(post("http://127.0.0.2:9/hook").await.status, 422);
    assert_eq!(post("http://10.0.0.5/hook").await.status, 422);
}

#[tokio::test]
async fn the_catalogue_comes_from_the_registry_and_only_admins_or_keys_configure() {
    let app = TestApp::spawn().await;
    let viewer = app.viewer().await.clone();
    let r = app.get("/api/v1/webhook-event-types", Some(&viewer)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let types: Vec<&str> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["type"].as_str().unwrap())
        .collect();
    for (_, e) in functions::registry::ENTITY_PATHS.iter() {
        for verb in ["created", "updated", "deleted", "restored"] {
            let t = format!("{}.{verb}", e.resource);
            assert!(types.contains(&t.as_str()), "{t} missing");
        }
    }
    for t in [
        "work_order.status_changed",
        "invoice.issued",
        "lead.submitted",
        "webhook.test",
    ] {
        assert!(types.contains(&t), "{t} missing");
    }

    let member = app.member().await.clone();
    add_endpoint(&app, &member)
        .await
        .assert_problem(403, "PERMISSION_DENIED");
    let owner = app.owner().await.clone();
    let key = |scopes: serde_json::Value| {
        let app = &app;
        let owner = owner.clone();
        async move {
            let r = app
                .post(
                    "/api/v1/api-keys",
                    Some(&owner),
                    json!({ "name": "hooks", "scopes": scopes }),
                )
                .await;
            Actor {
                token: r.str("key"),
                ..owner
            }
        }
    };
    let reader = key(json!(["webhooks:read"])).await;
    add_endpoint(&app, &reader)
        .await
        .assert_problem(403, "INSUFFICIENT_SCOPE");
    assert_eq!(app.get("/api/v1/webhooks", Some(&reader)).await.status, 200);
    let writer = key(json!(["webhooks:write"])).await;
    let r = add_endpoint(&app, &writer).await;
    assert_eq!(r.status, 201, "{}", r.text);
}

#[tokio::test]
async fn the_endpoint_limit_holds_under_concurrent_creates() {
    let app = TestApp::spawn_with(&[("RATE_LIMIT_API_FREE", "100000")]).await;
    let owner = app.owner().await.clone();
    // Three short of the 100 an organization may have.
    for _ in 0..97 {
        assert_eq!(add_endpoint(&app, &owner).await.status, 201);
    }
    let tries = (0..8).map(|_| add_endpoint(&app, &owner));
    let answers = futures_util::future::join_all(tries).await;
    let made = answers.iter().filter(|r| r.status == 201).count();
    for r in answers.iter().filter(|r| r.status != 201) {
        r.assert_problem(409, "ALREADY_EXISTS");
    }
    assert_eq!(made, 3, "exactly the three left");
    assert_eq!(app.count("webhook_endpoints", doc! {}).await, 100);
    let org = &app
        .find("organizations", doc! { "_id": oid(&owner.org_id) })
        .await[0];
    assert_eq!(shared::db::number(org, "webhookEndpoints"), Some(100));
}

/// The events the test's organization has, in the order written.
async fn events(app: &TestApp) -> Vec<bson::Document> {
    let mut all = app.find("webhook_events", doc! {}).await;
    all.sort_by_key(|e| {
        (
            *e.get_datetime("createdAt").unwrap(),
            e.get_object_id("_id").unwrap(),
        )
    });
    all
}

#[tokio::test]
async fn a_change_is_announced_with_its_commit_and_only_where_endpoints_exist() {
    let app = TestApp::spawn_isolated().await;
    let fail_points = FailPoints::take().await;
    let owner = app.owner().await.clone();
    app.create_account(&owner, "Before any endpoint").await;
    assert_eq!(
        app.count("webhook_events", doc! {}).await,
        0,
        "no endpoint, no event"
    );

    let r = add_endpoint(&app, &owner).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let endpoint = r.str("id");
    // The owner's token reads the organization afresh on every request.
    let id = app.create_account(&owner, "Announced").await;
    let r = app
        .patch(
            &format!("/api/v1/accounts/{id}"),
            Some(&owner),
            json!({ "name": "Renamed" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        app.delete(&format!("/api/v1/accounts/{id}"), Some(&owner))
            .await
            .status,
        204
    );
    let r = app
        .post(
            &format!("/api/v1/accounts/{id}/restore"),
            Some(&owner),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let all = events(&app).await;
    let kinds: Vec<&str> = all.iter().map(|e| e.get_str("type").unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "account.created",
            "account.updated",
            "account.deleted",
            "account.restored"
        ]
    );
    for e in &all {
        assert_eq!(
            e.get_object_id("organizationId").unwrap(),
            oid(&owner.org_id)
        );
        assert_eq!(e.get_document("data").unwrap().get_str("id").unwrap(), id);
    }
    let data = |i: usize| all[i].get_document("data").unwrap().clone();
    assert_eq!(data(0).get_str("name").unwrap(), "Announced");
    assert_eq!(shared::db::number(&data(1), "version"), Some(2));
    assert_eq!(data(1).get_str("name").unwrap(), "Renamed");

    // A change whose commit fails announces nothing.
    app.fail_command(&fail_points, "commitTransaction", 0).await;
    let r = app
        .post(
            "/api/v1/accounts",
            Some(&owner),
            json!({ "name": "Never committed" }),
        )
        .await;
    assert!(r.status >= 500, "{}", r.text);
    assert_eq!(
        app.count("accounts", doc! { "name": "Never committed" })
            .await,
        0
    );
    assert_eq!(
        events(&app).await.len(),
        4,
        "an uncommitted change was announced"
    );

    // Another organization's changes are not this one's events; without
    // endpoints left, nothing more is announced.
    let other = app.other().await.clone();
    app.create_account(&other, "Elsewhere").await;
    assert_eq!(
        app.count(
            "webhook_events",
            doc! { "organizationId": oid(&other.org_id) }
        )
        .await,
        0
    );
    assert_eq!(
        app.delete(&format!("/api/v1/webhooks/{endpoint}"), Some(&owner))
            .await
            .status,
        204
    );
    app.create_account(&owner, "After the last endpoint").await;
    assert_eq!(events(&app).await.len(), 4);
}

/// The event rides in the batch the audit entry is sent in: a create
/// announced to an endpoint sends no database command more in its
/// transaction than one that is not (fewest of three, as the round-trip
/// budgets count). After the commit the request fans its event out: the
/// organization's endpoints read, the event marked (and, for an endpoint
/// that selects it, its message written and the attempt recorded, which
/// this endpoint, selecting other events, does not need).
#[tokio::test]
async fn an_announced_change_costs_no_command_more() {
    let (app, proxy) = spawn_behind_proxy(&[]).await;
    let owner = app.owner().await.clone();
    let fewest = |label: &'static str| {
        let (app, proxy, owner) = (&app, &proxy, &owner);
        async move {
            let mut best = u32::MAX;
            for i in 0..3 {
                proxy.take();
                app.create_account(owner, &format!("{label} {i}")).await;
                best = best.min(proxy.take().values().sum());
            }
            best
        }
    };
    app.create_account(&owner, "warm-up").await;
    let quiet = fewest("quiet").await;
    let r = app
        .post(
            "/api/v1/webhooks",
            Some(&owner),
            json!({ "url": TARGET, "events": ["work_order.*"] }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let announced = fewest("announced").await;
    assert_eq!(
        announced,
        quiet + 2,
        "commands per create: {announced} announced, {quiet} not"
    );
    assert_eq!(app.count("webhook_messages", doc! {}).await, 0);
    assert_eq!(
        app.count("webhook_events", doc! { "fannedOut": true })
            .await,
        3
    );
    assert_eq!(
        app.count("webhook_events", doc! { "type": "account.created" })
            .await,
        3
    );
}

/// The domain's own events, each written with the change it names: the
/// work order's loop (approval, status, invoice, payment), an odometer
/// reading, a part falling to its reorder level (once per crossing),
/// appointments booked and cancelled, and a lead from a public form.
#[tokio::test]
async fn the_domains_events_are_announced_with_their_changes() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await.clone();
    crate::appointments::calendar(&app).await;
    // Only test messages are sent: the events are what is checked here.
    let r = app
        .post(
            "/api/v1/webhooks",
            Some(&owner),
            json!({ "url": TARGET, "events": ["webhook.test"] }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let count = |kind: &'static str| {
        let app = &app;
        async move { app.count("webhook_events", doc! { "type": kind }).await }
    };

    let (_, vehicle) = crate::work_orders::customer(&app, &owner).await;
    let order = crate::invoices::completed(&app, &owner, &vehicle).await;
    assert_eq!(count("work_order.approval_recorded").await, 1);
    let changed = app
        .find(
            "webhook_events",
            doc! { "type": "work_order.status_changed" },
        )
        .await;
    let moves: Vec<(String, String)> = changed
        .iter()
        .map(|e| {
            let d = e.get_document("data").unwrap();
            (
                d.get_str("previousStatus").unwrap().to_string(),
                d.get_str("status").unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        moves.contains(&("IN_PROGRESS".into(), "COMPLETED".into())),
        "{moves:?}"
    );
    let r = crate::work_orders::move_to(&app, &owner, &order, "INVOICED").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let issued = app
        .find("webhook_events", doc! { "type": "invoice.issued" })
        .await;
    assert_eq!(issued.len(), 1);
    let data = issued[0].get_document("data").unwrap();
    assert_eq!(data.get_str("id").unwrap(), order);
    assert_eq!(data.get_str("invoiceNumber").unwrap(), "INV-000001");
    let total = r.body["total"].as_i64().unwrap();
    let r = crate::invoices::pay(&app, &owner, &order, total).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(count("payment.recorded").await, 1);
    let paid = app
        .find(
            "webhook_events",
            doc! { "type": "work_order.status_changed", "data.status": "PAID" },
        )
        .await;
    assert_eq!(paid.len(), 1);

    let r = app
        .post(
            &format!("/api/v1/vehicles/{vehicle}/odometer"),
            Some(&owner),
            json!({ "value": 120_000, "unit": "km" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(count("vehicle.odometer_recorded").await, 1);

    let part = app
        .create_record(
            &owner,
            "parts",
            json!({ "sku": "PAD-LOW", "name": "Pads", "unitPrice": 1250, "currency": "EUR", "reorderLevel": 5 }),
        )
        .await;
    for (quantity, low) in [(10, 0), (-6, 1), (-1, 1), (4, 1), (-2, 2)] {
        let r = app
            .post(
                &format!("/api/v1/parts/{part}/adjustments"),
                Some(&owner),
                json!({ "quantity": quantity, "reason": "COUNT" }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(count("part.stock_low").await, low, "after {quantity}");
    }

    let r = app
        .post(
            "/api/v1/appointments",
            Some(&owner),
            json!({ "startAt": "2027-01-12T09:00:00Z", "endAt": "2027-01-12T10:00:00Z", "bay": "Bay 1" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(count("appointment.booked").await, 1);
    let r = app
        .patch(
            &format!("/api/v1/appointments/{}", r.str("id")),
            Some(&owner),
            json!({ "status": "CANCELLED" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(count("appointment.cancelled").await, 1);

    let r = app
        .post(
            "/api/v1/forms",
            Some(&owner),
            json!({ "name": "Contact", "fields": [{ "field": "email", "required": true }],
                    "allowedOrigins": ["https://garage.example"] }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = app
        .request(
            "POST",
            &format!("/api/v1/public/forms/{}/submissions", r.str("publicId")),
            None,
            Some(br#"{"email":"new.lead@example.com"}"#.to_vec()),
            &[
                ("content-type", "application/json"),
                ("origin", "https://garage.example"),
            ],
        )
        .await;
    assert!(r.status < 300, "{}", r.text);
    let lead = app
        .find("webhook_events", doc! { "type": "lead.submitted" })
        .await;
    assert_eq!(lead.len(), 1);
    assert_eq!(
        lead[0]
            .get_document("data")
            .unwrap()
            .get_str("email")
            .unwrap(),
        "new.lead@example.com"
    );
    // Converting the lead announces what it makes and the lead's change.
    let lead_id = lead[0]
        .get_document("data")
        .unwrap()
        .get_str("id")
        .unwrap()
        .to_string();
    let r = app
        .post(
            &format!("/api/v1/leads/{lead_id}/convert"),
            Some(&owner),
            json!({ "accountName": "New Lead Garage", "opportunity": { "name": "Service", "amount": 10000, "currency": "EUR" } }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    for (kind, id) in [
        ("account.created", &r.body["account"]["id"]),
        ("contact.created", &r.body["contact"]["id"]),
        ("opportunity.created", &r.body["opportunity"]["id"]),
        ("lead.updated", &r.body["lead"]["id"]),
    ] {
        let found = app
            .find(
                "webhook_events",
                doc! { "type": kind, "data.id": id.as_str().unwrap() },
            )
            .await;
        assert_eq!(found.len(), 1, "{kind}");
    }
    // A CSV import announces each record it makes.
    let before = count("contact.created").await;
    let r = app
        .post(
            "/api/v1/imports",
            Some(&owner),
            json!({ "entity": "contacts", "csv": "firstName,lastName,email,type\nIma,Port,ima@example.com,CUSTOMER\nOtto,Port,otto@example.com,CUSTOMER\n" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(count("contact.created").await, before + 2);

    // Every event belongs to this organization and is in the catalogue.
    let types: Vec<String> = functions::identity::webhooks::catalogue()
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    for e in app.find("webhook_events", doc! {}).await {
        assert_eq!(
            e.get_object_id("organizationId").unwrap(),
            oid(&owner.org_id)
        );
        let t = e.get_str("type").unwrap();
        assert!(types.iter().any(|c| c == t), "{t} is not in the catalogue");
    }
}

/// The OpenAPI document carries the catalogue as its top-level `webhooks`:
/// every event type once, its body with the record's schema.
#[test]
fn the_openapi_document_lists_every_event_as_a_webhook() {
    let doc: serde_json::Value =
        serde_json::from_str(functions::service::docs::OPENAPI_JSON).unwrap();
    let hooks = doc["webhooks"].as_object().expect("top-level webhooks");
    let catalogue = functions::identity::webhooks::catalogue();
    assert_eq!(hooks.len(), catalogue.len());
    for (kind, _) in &catalogue {
        let body = &hooks[kind]["post"]["requestBody"]["content"]["application/json"]["schema"];
        assert_eq!(body["properties"]["type"]["const"], kind.as_str(), "{kind}");
    }
    let data = |k: &str| {
        hooks[k]["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"]
            ["data"]["$ref"]
            .clone()
    };
    assert_eq!(data("account.created"), "#/components/schemas/Account");
    assert_eq!(data("invoice.issued"), "#/components/schemas/WorkOrder");
    assert_eq!(
        data("work_order.status_changed"),
        "#/components/schemas/WorkOrder"
    );
}
