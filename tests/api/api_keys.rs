//! API keys: issued once, used as `Bearer wcrm_...` within their scopes
//! over the whole route table, refused on identity routes, by checksum
//! before any database read, by network, after revocation, expiry and a
//! rotation's grace; named as the actor in the audit log; and kept
//! nowhere in clear.

use bson::doc;
use serde_json::{json, Value};
use shared::rbac::{Access, KeyScope};

use crate::helpers::*;

/// An actor whose bearer credential is `key`.
fn with_key(key: &str, of: &Actor) -> Actor {
    Actor {
        token: key.to_string(),
        ..of.clone()
    }
}

async fn issue(app: &TestApp, by: &Actor, body: Value) -> (String, Value) {
    let r = app.post("/api/v1/api-keys", Some(by), body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    (r.str("key"), r.body)
}

/// Every document of every collection of the test's database, as text.
async fn everything(app: &TestApp) -> String {
    let mut all = String::new();
    for name in app.db.list_collection_names().await.unwrap() {
        for d in app.find(&name, doc! {}).await {
            all.push_str(&d.to_string());
        }
    }
    all
}

#[tokio::test]
async fn a_key_is_shown_once_works_within_its_scopes_and_is_the_actor() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await.clone();
    let (key, shown) = issue(
        &app,
        &owner,
        json!({ "name": "Accounting sync", "scopes": ["accounts:read", "contacts:write"] }),
    )
    .await;
    assert_eq!(key.len(), shared::apikey::LEN);
    assert!(key.starts_with("wcrm_"), "{key}");
    assert!(shared::apikey::parse(&key).is_some());
    assert_eq!(shown["status"], "ACTIVE");
    let display = shown["display"].as_str().unwrap();
    assert!(
        display.starts_with(&key[..9]) && display.ends_with(&key[key.len() - 3..]),
        "{display}"
    );
    let k = with_key(&key, &owner);

    app.create_account(&owner, "Visible").await;
    let r = app.get("/api/v1/accounts", Some(&k)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
    let r = app
        .post("/api/v1/accounts", Some(&k), json!({ "name": "Refused" }))
        .await;
    r.assert_problem(403, "INSUFFICIENT_SCOPE");
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .contains("accounts:write"),
        "{}",
        r.text
    );
    assert_eq!(app.count("accounts", doc! {}).await, 1);

    // Write implies read; what the key makes names the key.
    let body = app.minimal_body(&owner, "contacts").await;
    let r = app.post("/api/v1/contacts", Some(&k), body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let contact = r.str("id");
    assert_eq!(r.body["createdBy"], shown["id"]);
    assert_eq!(app.get("/api/v1/contacts", Some(&k)).await.status, 200);
    let entry = app
        .find(
            "audit_log",
            doc! { "resourceId": oid(&contact), "action": "CREATE" },
        )
        .await;
    assert_eq!(entry.len(), 1);
    assert_eq!(entry[0].get_str("actorType").unwrap(), "API_KEY");
    assert_eq!(
        entry[0].get_object_id("apiKeyId").unwrap(),
        oid(shown["id"].as_str().unwrap())
    );

    // A person's routes refuse keys, the key routes themselves too.
    for path in [
        "/api/v1/members",
        "/api/v1/auth/me",
        "/api/v1/api-keys",
        "/api/v1/organization",
    ] {
        app.get(path, Some(&k))
            .await
            .assert_problem(403, "API_KEY_NOT_ALLOWED");
    }

    // Listed without the key; the key is nowhere in the database.
    let list = app.get("/api/v1/api-keys", Some(&owner)).await;
    assert_eq!(list.status, 200);
    let listed = &list.body["data"][0];
    assert_eq!(listed["display"], shown["display"]);
    assert!(
        listed.get("key").is_none() && listed.get("hash").is_none(),
        "{listed}"
    );
    assert!(listed["lastUsedAt"].is_string(), "use recorded: {listed}");
    let stored = everything(&app).await;
    assert!(
        !stored.contains(&key[9..45]),
        "the key's secret is stored somewhere"
    );
}

#[tokio::test]
async fn a_mistyped_key_is_refused_before_any_database_read() {
    let (app, proxy) = spawn_behind_proxy(&[]).await;
    let owner = app.owner().await.clone();
    let (key, _) = issue(&app, &owner, json!({ "name": "k", "scopes": ["*:read"] })).await;
    let mut typo = key.clone().into_bytes();
    typo[20] = if typo[20] == b'a' { b'b' } else { b'a' };
    let typo = String::from_utf8(typo).unwrap();
    for bad in [typo.as_str(), &key[..key.len() - 1], "wcrm_short"] {
        proxy.take();
        let r = app
            .get("/api/v1/accounts", Some(&with_key(bad, &owner)))
            .await;
        r.assert_problem(401, "INVALID_API_KEY");
        assert!(proxy.take().is_empty(), "{bad} reached the database");
    }
    // A well-formed key that does not exist: the same answer, no hint.
    let unknown = shared::apikey::generate().key;
    app.get("/api/v1/accounts", Some(&with_key(&unknown, &owner)))
        .await
        .assert_problem(401, "INVALID_API_KEY");
    assert_eq!(
        app.get("/api/v1/accounts", Some(&with_key(&key, &owner)))
            .await
            .status,
        200
    );
}

/// The route table's scopes as a matrix: every method a signed-in caller
/// may call declares one; a key without it is refused naming it, a key
/// holding it gets past the scope check, and a person's route refuses
/// every key.
#[tokio::test]
async fn every_route_method_declares_its_scope_and_keys_are_held_to_it() {
    let app = TestApp::spawn_with(&[("RATE_LIMIT_API_FREE", "100000")]).await;
    let owner = app.owner().await.clone();
    let (none, _) = issue(
        &app,
        &owner,
        json!({ "name": "none", "scopes": ["nothing:read"] }),
    )
    .await;
    let (all, _) = issue(
        &app,
        &owner,
        json!({ "name": "all", "scopes": ["*:write"] }),
    )
    .await;
    let (none, all) = (with_key(&none, &owner), with_key(&all, &owner));
    let id = bson::oid::ObjectId::new().to_hex();
    let mut checked = 0;
    for route in functions::routes::ROUTES.iter() {
        let path = route.path.replace("{id}", &id).replace("{lineId}", &id);
        for e in route.methods {
            let Access::Requires(_) = e.access else {
                continue;
            };
            assert_ne!(
                e.scope,
                KeyScope::Undeclared,
                "{} {} declares no scope",
                e.method,
                route.path
            );
            let body =
                matches!(e.method.as_str(), "POST" | "PUT" | "PATCH").then(|| b"{}".to_vec());
            let (m, p) = (e.method.as_str(), path.as_str());
            let with_none = app
                .request(m, p, Some(&none.token), body.clone(), &[])
                .await;
            let with_all = app.request(m, p, Some(&all.token), body.clone(), &[]).await;
            match e.scope.name() {
                Some(scope) => {
                    with_none.assert_problem(403, "INSUFFICIENT_SCOPE");
                    assert!(with_none.text.contains(&scope), "{}", with_none.text);
                    assert!(
                        !matches!(
                            with_all.body["code"].as_str(),
                            Some("INSUFFICIENT_SCOPE" | "API_KEY_NOT_ALLOWED")
                        ),
                        "{} {}: {}",
                        e.method,
                        route.path,
                        with_all.text
                    );
                }
                None => {
                    with_none.assert_problem(403, "API_KEY_NOT_ALLOWED");
                    with_all.assert_problem(403, "API_KEY_NOT_ALLOWED");
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 80, "only {checked} methods checked");
    // Every entity: its read scope reads and does not write.
    for (plural, _) in functions::registry::ENTITY_PATHS.iter() {
        let (key, _) = issue(
            &app,
            &owner,
            json!({ "name": plural, "scopes": [format!("{plural}:read")] }),
        )
        .await;
        let k = with_key(&key, &owner);
        assert_eq!(
            app.get(&format!("/api/v1/{plural}"), Some(&k)).await.status,
            200,
            "{plural}"
        );
        let body = app.minimal_body(&owner, plural).await;
        app.post(&format!("/api/v1/{plural}"), Some(&k), body.clone())
            .await
            .assert_problem(403, "INSUFFICIENT_SCOPE");
        let r = app
            .post(&format!("/api/v1/{plural}"), Some(&all), body)
            .await;
        assert_eq!(r.status, 201, "{plural}: {}", r.text);
    }
}

#[tokio::test]
async fn revocation_expiry_networks_and_rotation_stop_a_key() {
    // No instance cache: the database's word applies at once.
    let app = TestApp::spawn_with(&[("API_KEY_CACHE_SECONDS", "0")]).await;
    let owner = app.owner().await.clone();
    let member = app.member().await.clone();
    // Only ADMIN+ issue keys, and only with a person's token.
    app.post(
        "/api/v1/api-keys",
        Some(&member),
        json!({ "name": "m", "scopes": ["*:read"] }),
    )
    .await
    .assert_problem(403, "PERMISSION_DENIED");
    for bad in [
        json!({ "name": "x", "scopes": [] }),
        json!({ "name": "x", "scopes": ["accounts:delete"] }),
        json!({ "name": "x", "scopes": ["*:read"], "expiresInDays": 367 }),
        json!({ "name": "x", "scopes": ["*:read"], "allowedIps": ["300.1.1.1"] }),
        json!({ "name": "", "scopes": ["*:read"] }),
    ] {
        let r = app
            .post("/api/v1/api-keys", Some(&owner), bad.clone())
            .await;
        assert_eq!(r.status, 422, "{bad}: {}", r.text);
    }
    assert_eq!(app.count("api_keys", doc! {}).await, 0);

    // Revoked: its own code, at once.
    let (key, shown) = issue(&app, &owner, json!({ "name": "r", "scopes": ["*:read"] })).await;
    let k = with_key(&key, &owner);
    assert_eq!(app.get("/api/v1/accounts", Some(&k)).await.status, 200);
    let id = shown["id"].as_str().unwrap();
    assert_eq!(
        app.delete(&format!("/api/v1/api-keys/{id}"), Some(&owner))
            .await
            .status,
        204
    );
    app.get("/api/v1/accounts", Some(&k))
        .await
        .assert_problem(401, "API_KEY_REVOKED");

    // Expired: its own code.
    let (key, shown) = issue(
        &app,
        &owner,
        json!({ "name": "e", "scopes": ["*:read"], "expiresInDays": 1 }),
    )
    .await;
    let k = with_key(&key, &owner);
    assert_eq!(app.get("/api/v1/accounts", Some(&k)).await.status, 200);
    app.db
        .collection::<bson::Document>("api_keys")
        .update_one(
            doc! { "_id": oid(shown["id"].as_str().unwrap()) },
            doc! { "$set": { "expiresAt": days_ago(1) } },
        )
        .await
        .unwrap();
    app.get("/api/v1/accounts", Some(&k))
        .await
        .assert_problem(401, "API_KEY_EXPIRED");

    // Networks: the test client is 127.0.0.1.
    let (key, shown) = issue(
        &app,
        &owner,
        json!({ "name": "n", "scopes": ["*:read"], "allowedIps": ["203.0.113.0/24", "2001:db8::/32"] }),
    )
    .await;
    let k = with_key(&key, &owner);
    app.get("/api/v1/accounts", Some(&k))
        .await
        .assert_problem(403, "IP_NOT_ALLOWED");
    let id = shown["id"].as_str().unwrap();
    let r = app
        .patch(
            &format!("/api/v1/api-keys/{id}"),
            Some(&owner),
            json!({ "allowedIps": ["127.0.0.0/8"] }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(app.get("/api/v1/accounts", Some(&k)).await.status, 200);
    // Scopes only narrow.
    let r = app
        .patch(
            &format!("/api/v1/api-keys/{id}"),
            Some(&owner),
            json!({ "scopes": ["accounts:write"] }),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    let r = app
        .patch(
            &format!("/api/v1/api-keys/{id}"),
            Some(&owner),
            json!({ "scopes": ["contacts:read"] }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.get("/api/v1/accounts", Some(&k))
        .await
        .assert_problem(403, "INSUFFICIENT_SCOPE");

    // Rotation: both work during the grace; then only the successor.
    let (key, shown) = issue(&app, &owner, json!({ "name": "rot", "scopes": ["*:read"] })).await;
    let old = with_key(&key, &owner);
    let id = shown["id"].as_str().unwrap();
    let r = app
        .post(
            &format!("/api/v1/api-keys/{id}/rotate"),
            Some(&owner),
            json!({ "gracePeriodHours": 1 }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let new = with_key(&r.str("key"), &owner);
    assert_ne!(new.token, old.token);
    assert_eq!(r.body["scopes"], json!(["*:read"]));
    assert_eq!(app.get("/api/v1/accounts", Some(&old)).await.status, 200);
    assert_eq!(app.get("/api/v1/accounts", Some(&new)).await.status, 200);
    let again = app
        .post(
            &format!("/api/v1/api-keys/{id}/rotate"),
            Some(&owner),
            json!({}),
        )
        .await;
    assert_eq!(again.status, 409, "{}", again.text);
    app.db
        .collection::<bson::Document>("api_keys")
        .update_one(
            doc! { "_id": oid(id) },
            doc! { "$set": { "revokedAt": days_ago(0) } },
        )
        .await
        .unwrap();
    app.get("/api/v1/accounts", Some(&old))
        .await
        .assert_problem(401, "API_KEY_REVOKED");
    assert_eq!(app.get("/api/v1/accounts", Some(&new)).await.status, 200);

    // A key's own limit, beside the plan's: what it refuses spends none
    // of the organization's.
    let (key, _) = issue(
        &app,
        &owner,
        json!({ "name": "l", "scopes": ["*:read"], "rateLimitPerMinute": 2 }),
    )
    .await;
    let k = with_key(&key, &owner);
    let org_count = || async {
        let buckets = app
            .find(
                "rate_limits",
                doc! { "action": "api", "key": &owner.org_id },
            )
            .await;
        buckets
            .iter()
            .map(|b| shared::db::number(b, "count").unwrap_or(0))
            .sum::<i64>()
    };
    let before = org_count().await;
    let statuses: Vec<u16> = {
        let mut s = vec![];
        for _ in 0..3 {
            s.push(app.get("/api/v1/accounts", Some(&k)).await.status);
        }
        s
    };
    assert_eq!(statuses, vec![200, 200, 429]);
    assert_eq!(org_count().await, before + 2);
    // An idempotent replay of an issue answers no key.
    let body = br#"{"name":"idem","scopes":["*:read"]}"#.to_vec();
    let headers = [("idempotency-key", "issue-once-1")];
    let first = app
        .request(
            "POST",
            "/api/v1/api-keys",
            Some(&owner.token),
            Some(body.clone()),
            &headers,
        )
        .await;
    let second = app
        .request(
            "POST",
            "/api/v1/api-keys",
            Some(&owner.token),
            Some(body),
            &headers,
        )
        .await;
    assert_eq!(first.status, 201, "{}", first.text);
    assert!(first.body["key"].is_string());
    assert_eq!(second.body["id"], first.body["id"], "{}", second.text);
    assert!(second.body["key"].is_null(), "{}", second.text);
}

#[tokio::test]
async fn an_export_or_import_by_key_needs_the_entitys_own_scope_and_refusals_are_audited() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await.clone();
    app.create_account(&owner, "Exported").await;
    let export = json!({ "entity": "accounts", "format": "json" });
    let (key, shown) = issue(
        &app,
        &owner,
        json!({ "name": "x", "scopes": ["exports:write"] }),
    )
    .await;
    let r = app
        .post(
            "/api/v1/exports",
            Some(&with_key(&key, &owner)),
            export.clone(),
        )
        .await;
    r.assert_problem(403, "INSUFFICIENT_SCOPE");
    assert!(r.text.contains("accounts:read"), "{}", r.text);
    let denied = app
        .find(
            "audit_log",
            doc! { "action": "PERMISSION_DENIED", "apiKeyId": oid(shown["id"].as_str().unwrap()) },
        )
        .await;
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert_eq!(
        denied[0]
            .get_document("changes")
            .unwrap()
            .get_str("requiredScope")
            .unwrap(),
        "accounts:read"
    );
    let (key, _) = issue(
        &app,
        &owner,
        json!({ "name": "y", "scopes": ["exports:write", "accounts:read"] }),
    )
    .await;
    let r = app
        .post("/api/v1/exports", Some(&with_key(&key, &owner)), export)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    let (key, _) = issue(
        &app,
        &owner,
        json!({ "name": "z", "scopes": ["imports:write", "accounts:read"] }),
    )
    .await;
    let r = app
        .post(
            "/api/v1/imports",
            Some(&with_key(&key, &owner)),
            json!({ "entity": "accounts", "csv": "name\nImported\n" }),
        )
        .await;
    r.assert_problem(403, "INSUFFICIENT_SCOPE");
    assert!(r.text.contains("accounts:write"), "{}", r.text);
    assert_eq!(app.count("accounts", doc! {}).await, 1);
}

#[tokio::test]
async fn guessed_keys_spend_the_address_bucket_then_cost_no_database_read() {
    let (app, proxy) = spawn_behind_proxy(&[("RATE_LIMIT_LOGIN_IP", "3")]).await;
    let owner = app.owner().await.clone();
    let guess = || with_key(&shared::apikey::generate().key, &owner);
    for _ in 0..3 {
        app.get("/api/v1/accounts", Some(&guess()))
            .await
            .assert_problem(401, "INVALID_API_KEY");
    }
    let r = app.get("/api/v1/accounts", Some(&guess())).await;
    r.assert_problem(429, "RATE_LIMIT_EXCEEDED");
    assert!(r.header("retry-after").is_some());
    proxy.take();
    app.get("/api/v1/accounts", Some(&guess()))
        .await
        .assert_problem(429, "RATE_LIMIT_EXCEEDED");
    assert!(
        proxy.take().is_empty(),
        "a refused address still reached the database"
    );
    // A person's token from the same address is not affected.
    assert_eq!(app.get("/api/v1/accounts", Some(&owner)).await.status, 200);
}

#[tokio::test]
async fn the_owners_are_told_fourteen_days_and_a_day_before_a_key_expires_once_each() {
    let app = TestApp::spawn_with(&[("CRON_SECRET", crate::cleanup::CRON_SECRET)]).await;
    let owner = app.owner().await.clone();
    let admin = app.admin().await.clone();
    let scopes = json!(["*:read"]);
    let (_, soon) = issue(
        &app,
        &admin,
        json!({ "name": "soon", "scopes": scopes, "expiresInDays": 10 }),
    )
    .await;
    issue(
        &app,
        &admin,
        json!({ "name": "later", "scopes": scopes, "expiresInDays": 90 }),
    )
    .await;
    issue(
        &app,
        &admin,
        json!({ "name": "day", "scopes": scopes, "expiresInDays": 1 }),
    )
    .await;
    let notices = || async {
        let mut subjects: Vec<String> = app
            .find("email_outbox", doc! { "kind": "api-key-expiring" })
            .await
            .iter()
            .map(|m| {
                assert_eq!(
                    m.get_str("to").unwrap(),
                    owner.email,
                    "only owners are told"
                );
                m.get_str("subject").unwrap().to_string()
            })
            .collect();
        subjects.sort();
        subjects
    };
    for _ in 0..2 {
        let r = app.cron("cleanup-sessions").await;
        assert_eq!(r.status, 200, "{}", r.text);
        let subjects = notices().await;
        assert_eq!(subjects.len(), 2, "{subjects:?}");
        assert!(subjects[0].ends_with("in 14 days or less"), "{subjects:?}");
        assert!(subjects[1].ends_with("within a day"), "{subjects:?}");
    }
    app.db
        .collection::<bson::Document>("api_keys")
        .update_one(
            doc! { "_id": oid(soon["id"].as_str().unwrap()) },
            doc! { "$set": { "expiresAt": bson::DateTime::from_millis(bson::DateTime::now().timestamp_millis() + 12 * 3_600_000) } },
        )
        .await
        .unwrap();
    assert_eq!(app.cron("cleanup-sessions").await.status, 200);
    let subjects = notices().await;
    assert_eq!(subjects.len(), 3, "{subjects:?}");
    assert_eq!(
        subjects
            .iter()
            .filter(|s| s.ends_with("within a day"))
            .count(),
        2
    );
}
