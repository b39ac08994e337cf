//! The scheduled cleanups, run the way Vercel's crons run them (a GET with
//! `Bearer $CRON_SECRET` on their routes): the tenant purge with documents in
//! every collection and files in storage, an interrupted purge resumed,
//! audit retention per plan, the session sweep, and cron authorization.

use bson::{doc, Bson, Document};
use serde_json::json;

use crate::helpers::*;

pub const CRON_SECRET: &str = "cron-secret-for-tests-0123456789";

impl TestApp {
    pub async fn cron(&self, job: &str) -> Resp {
        self.request(
            "GET",
            &format!("/api/cron/{job}"),
            Some(CRON_SECRET),
            None,
            &[],
        )
        .await
    }

    /// Every document of every collection that belongs to `org`, plus the
    /// organization itself, sorted, for byte-for-byte comparison.
    async fn tenant_snapshot(&self, org: &str) -> Vec<(String, Vec<u8>)> {
        let org = oid(org);
        let mut out = vec![];
        let mut names = self.db.list_collection_names().await.unwrap();
        names.sort();
        for name in names {
            let filter = if name == "organizations" {
                doc! { "_id": org }
            } else {
                doc! { "organizationId": org }
            };
            for d in self.find(&name, filter).await {
                out.push((name.clone(), bson::to_vec(&d).unwrap()));
            }
        }
        out.sort();
        out
    }

    /// Gives the organization of `owner` data in every organization-scoped
    /// collection (through the API where there is one) and two stored files.
    async fn fill_tenant(&self, owner: &Actor) -> Vec<String> {
        self.create_account(owner, "Fill account").await;
        for (plural, _) in entities() {
            if plural != "accounts" {
                let body = self.minimal_body(owner, plural).await;
                self.create_record(owner, plural, body).await;
            }
        }
        self.request(
            "POST",
            "/api/v1/contacts",
            Some(&owner.token),
            Some(br#"{"firstName":"Ida","lastName":"Empotent"}"#.to_vec()),
            &[("idempotency-key", "fill-1")],
        )
        .await;
        self.post(
            "/api/v1/invitations",
            Some(owner),
            json!({ "email": format!("{}@invite.test", bson::oid::ObjectId::new()), "role": "VIEWER" }),
        )
        .await;
        self.post(
            "/api/v1/auth/login",
            None,
            json!({ "email": owner.email, "password": "wrong password" }),
        )
        .await;
        let files = vec![
            self.upload_document(owner, "one.pdf", file_bytes(11)).await,
            self.upload_document(owner, "two.pdf", file_bytes(22)).await,
        ];
        // Collections no API call above reached get a document directly.
        let org = oid(&owner.org_id);
        for name in shared::db::collections::ORG_SCOPED
            .into_iter()
            .chain(functions::crm::collections::ALL)
        {
            if self.count(name, doc! { "organizationId": org }).await == 0 {
                self.db
                    .collection::<Document>(name)
                    .insert_one(
                        doc! { "organizationId": org, "filler": true, "expiresAt": days_ago(-1),
                        "tokenHash": bson::oid::ObjectId::new().to_hex(),
                        "keyId": bson::oid::ObjectId::new().to_hex(),
                        "endpointId": bson::oid::ObjectId::new() },
                    )
                    .await
                    .unwrap();
            }
        }
        files
    }
}

#[tokio::test]
async fn a_purge_removes_every_document_and_file_of_the_tenant_and_nothing_else() {
    let app = TestApp::spawn_with(&[("CRON_SECRET", CRON_SECRET)]).await;
    let doomed_files = app.fill_tenant(app.owner().await).await;
    let doomed_keys =
        futures_util::future::join_all(doomed_files.iter().map(|id| app.storage_key(id))).await;
    let their_files = app.fill_tenant(app.other().await).await;
    let their_keys =
        futures_util::future::join_all(their_files.iter().map(|id| app.storage_key(id))).await;
    // Deleted recently: kept until its 30 days are over.
    let recent = app.register("Recently Closed").await;
    app.schedule_deletion(&recent, 10).await;
    app.schedule_deletion(app.owner().await, 31).await;

    let before = app.tenant_snapshot(&app.other().await.org_id).await;
    let recent_before = app.tenant_snapshot(&recent.org_id).await;
    assert!(
        before.len() > 20,
        "the other tenant has data: {}",
        before.len()
    );

    let r = app.cron("cleanup-organizations").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (&r.body["scanned"], &r.body["deleted"], &r.body["remaining"]),
        (&json!(1), &json!(1), &json!(0))
    );
    assert!(r.body["durationMs"].is_u64());

    let org = oid(&app.owner().await.org_id);
    for name in app.db.list_collection_names().await.unwrap() {
        assert_eq!(
            app.count(&name, doc! { "organizationId": org }).await,
            0,
            "{name} still holds the purged tenant's documents"
        );
    }
    assert_eq!(app.count("organizations", doc! { "_id": org }).await, 0);
    let storage = app.storage();
    for key in &doomed_keys {
        assert!(storage.head(key).await.unwrap().is_none(), "{key}");
    }
    assert_eq!(app.tenant_snapshot(&app.other().await.org_id).await, before);
    assert_eq!(app.tenant_snapshot(&recent.org_id).await, recent_before);
    for (id, key) in their_files.iter().zip(&their_keys) {
        assert!(storage.head(key).await.unwrap().is_some());
        let got = app
            .get(&format!("/api/v1/documents/{id}"), Some(app.other().await))
            .await;
        let bytes = app
            .http
            .get(got.body["downloadUrl"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert!(bytes.len() == 11 || bytes.len() == 22);
        assert_eq!(bytes.to_vec(), file_bytes(bytes.len()));
    }
    // Idempotent: nothing left to do.
    let again = app.cron("cleanup-organizations").await;
    assert_eq!(
        (&again.body["scanned"], &again.body["deleted"]),
        (&json!(0), &json!(0))
    );
}

#[tokio::test]
async fn a_purge_stopped_after_its_first_batch_is_finished_by_the_next_runs() {
    let app = TestApp::spawn_with(&[
        ("CRON_SECRET", CRON_SECRET),
        ("CLEANUP_BATCH_SIZE", "2"),
        ("CLEANUP_MAX_BATCHES", "1"),
    ])
    .await;
    let files = app.fill_tenant(app.owner().await).await;
    let keys = futures_util::future::join_all(files.iter().map(|id| app.storage_key(id))).await;
    app.schedule_deletion(app.owner().await, 40).await;
    let other_before = app.tenant_snapshot(&app.other().await.org_id).await;
    let org = oid(&app.owner().await.org_id);

    // One batch: the first two objects go, everything else stays.
    let first = app.cron("cleanup-organizations").await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(
        (
            &first.body["scanned"],
            &first.body["deleted"],
            &first.body["remaining"]
        ),
        (&json!(1), &json!(0), &json!(1))
    );
    let storage = app.storage();
    for key in &keys {
        assert!(storage.head(key).await.unwrap().is_none());
    }
    assert_eq!(app.count("organizations", doc! { "_id": org }).await, 1);
    assert!(app.count("users", doc! { "organizationId": org }).await > 0);

    let mut runs = 1;
    loop {
        let r = app.cron("cleanup-organizations").await;
        assert_eq!(r.status, 200, "{}", r.text);
        runs += 1;
        if r.body["remaining"] == 0 {
            assert_eq!(r.body["deleted"], 1);
            break;
        }
        assert!(runs < 200, "the purge does not finish");
    }
    assert!(runs > 3, "batches of 2 need several runs, took {runs}");
    for name in app.db.list_collection_names().await.unwrap() {
        assert_eq!(
            app.count(&name, doc! { "organizationId": org }).await,
            0,
            "{name}"
        );
    }
    assert_eq!(app.count("organizations", doc! { "_id": org }).await, 0);
    assert_eq!(
        app.tenant_snapshot(&app.other().await.org_id).await,
        other_before
    );
}

#[tokio::test]
async fn a_run_purges_at_most_the_configured_number_of_organizations() {
    let app = TestApp::spawn_with(&[
        ("CRON_SECRET", CRON_SECRET),
        ("CLEANUP_MAX_ORGANIZATIONS", "1"),
    ])
    .await;
    let second = app.register("Second Closed").await;
    app.schedule_deletion(app.owner().await, 45).await;
    app.schedule_deletion(&second, 35).await;
    let first = app.cron("cleanup-organizations").await;
    assert_eq!(
        (
            &first.body["scanned"],
            &first.body["deleted"],
            &first.body["remaining"]
        ),
        (&json!(1), &json!(1), &json!(1))
    );
    // The longest-deleted goes first.
    assert_eq!(
        app.count(
            "organizations",
            doc! { "_id": oid(&app.owner().await.org_id) }
        )
        .await,
        0
    );
    assert_eq!(
        app.count("organizations", doc! { "_id": oid(&second.org_id) })
            .await,
        1
    );
    let next = app.cron("cleanup-organizations").await;
    assert_eq!(
        (&next.body["deleted"], &next.body["remaining"]),
        (&json!(1), &json!(0))
    );
    assert_eq!(
        app.count("organizations", doc! { "_id": oid(&second.org_id) })
            .await,
        0
    );
}

#[tokio::test]
async fn audit_entries_are_kept_as_long_as_the_plan_of_their_organization_says() {
    let app = TestApp::spawn_with(&[
        ("CRON_SECRET", CRON_SECRET),
        ("AUDIT_RETENTION_DAYS_PRO", "180"),
    ])
    .await;
    app.everyone().await;
    let pro = app.register("Pro Garage").await;
    let enterprise = app.register("Enterprise Garage").await;
    let orgs = app.db.collection::<Document>("organizations");
    for (actor, plan) in [(&pro, "PRO"), (&enterprise, "ENTERPRISE")] {
        orgs.update_one(
            doc! { "_id": oid(&actor.org_id) },
            doc! { "$set": { "plan": plan } },
        )
        .await
        .unwrap();
    }
    let free = oid(&app.owner().await.org_id);
    let entries = [
        (Bson::ObjectId(free), 100, false),
        (Bson::ObjectId(free), 80, true),
        (Bson::ObjectId(oid(&pro.org_id)), 100, true),
        (Bson::ObjectId(oid(&pro.org_id)), 200, false),
        (Bson::ObjectId(oid(&enterprise.org_id)), 200, true),
        (Bson::ObjectId(oid(&enterprise.org_id)), 364, true),
        (Bson::ObjectId(oid(&enterprise.org_id)), 400, false),
        (Bson::Null, 100, false),
        (Bson::Null, 30, true),
    ];
    let audit = app.db.collection::<Document>("audit_log");
    for (i, (org, days, _)) in entries.iter().enumerate() {
        audit
            .insert_one(doc! { "organizationId": org.clone(), "action": "TEST", "n": i as i32, "createdAt": days_ago(*days) })
            .await
            .unwrap();
    }
    let r = app.cron("cleanup-audit-logs").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["deleted"], 4);
    assert_eq!(r.body["remaining"], 0);
    for (i, (_, days, kept)) in entries.iter().enumerate() {
        assert_eq!(
            app.count("audit_log", doc! { "n": i as i32 }).await == 1,
            *kept,
            "entry {i}, {days} days old"
        );
    }
    // Today's entries (registrations, sign-ins) are all still there.
    assert!(app.count("audit_log", doc! { "action": "LOGIN" }).await > 0);
}

#[tokio::test]
async fn the_session_sweep_removes_what_expired_and_keeps_what_is_live() {
    let app = TestApp::spawn_with(&[("CRON_SECRET", CRON_SECRET)]).await;
    let org = oid(&app.owner().await.org_id);
    let user = oid(&app.owner().await.id);
    let live_tokens = app.count("refresh_tokens", doc! {}).await;
    let inserts: [(&str, Document, Document); 6] = [
        (
            "refresh_tokens",
            doc! { "tokenHash": "expired", "userId": user, "organizationId": org, "familyId": "f1", "expiresAt": days_ago(1), "revokedAt": null },
            doc! { "tokenHash": "revoked-yesterday", "userId": user, "organizationId": org, "familyId": "f2", "expiresAt": days_ago(-20), "revokedAt": days_ago(1) },
        ),
        (
            "login_attempts",
            doc! { "email": "x@y.test", "organizationId": org, "expiresAt": days_ago(1) },
            doc! { "email": "x@y.test", "organizationId": org, "expiresAt": days_ago(-1) },
        ),
        (
            "idempotency_keys",
            doc! { "_id": "old-key", "organizationId": org, "expiresAt": days_ago(1) },
            doc! { "_id": "new-key", "organizationId": org, "expiresAt": days_ago(-1) },
        ),
        (
            "invitations",
            doc! { "tokenHash": "inv-old", "organizationId": org, "status": "PENDING", "expiresAt": days_ago(2) },
            doc! { "tokenHash": "inv-new", "organizationId": org, "status": "PENDING", "expiresAt": days_ago(-6) },
        ),
        (
            "password_resets",
            doc! { "tokenHash": "reset-old", "organizationId": org, "expiresAt": days_ago(1) },
            doc! { "tokenHash": "reset-new", "organizationId": org, "expiresAt": days_ago(-1) },
        ),
        (
            "rate_limits",
            doc! { "_id": "api:old", "count": 3_i64, "expiresAt": days_ago(1) },
            doc! { "_id": "api:new", "count": 3_i64, "expiresAt": days_ago(-1) },
        ),
    ];
    for (name, old, new) in &inserts {
        let c = app.db.collection::<Document>(name);
        c.insert_one(old.clone()).await.unwrap();
        c.insert_one(new.clone()).await.unwrap();
    }
    app.db
        .collection::<Document>("refresh_tokens")
        .insert_one(doc! { "tokenHash": "revoked-long-ago", "userId": user, "organizationId": org, "familyId": "f3", "expiresAt": days_ago(-20), "revokedAt": days_ago(8) })
        .await
        .unwrap();

    let r = app.cron("cleanup-sessions").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["remaining"], 0);
    assert!(r.body["deleted"].as_u64().unwrap() >= 7, "{}", r.text);
    for (name, old, new) in &inserts {
        let key = if old.contains_key("_id") {
            "_id"
        } else if old.contains_key("tokenHash") {
            "tokenHash"
        } else {
            "expiresAt"
        };
        assert_eq!(
            app.count(name, doc! { key: old.get(key).unwrap().clone() })
                .await,
            0,
            "{name}: the expired one"
        );
        assert_eq!(
            app.count(name, doc! { key: new.get(key).unwrap().clone() })
                .await,
            1,
            "{name}: the live one"
        );
    }
    assert_eq!(
        app.count("refresh_tokens", doc! { "tokenHash": "revoked-long-ago" })
            .await,
        0
    );
    assert_eq!(
        app.count(
            "refresh_tokens",
            doc! { "tokenHash": { "$regex": "^(revoked-yesterday)$" } }
        )
        .await,
        1,
        "recently revoked tokens stay, so their reuse is still detected"
    );
    assert_eq!(
        app.count(
            "refresh_tokens",
            doc! { "tokenHash": { "$nin": ["revoked-yesterday"] } }
        )
        .await,
        live_tokens
    );
}

#[tokio::test]
async fn cron_routes_answer_only_the_scheduler() {
    let app = TestApp::spawn_with(&[("CRON_SECRET", CRON_SECRET)]).await;
    for job in [
        "cleanup-organizations",
        "cleanup-audit-logs",
        "cleanup-sessions",
    ] {
        let path = format!("/api/cron/{job}");
        for token in [
            None,
            Some("wrong-secret"),
            Some(app.owner().await.token.as_str()),
        ] {
            app.request("GET", &path, token, None, &[])
                .await
                .assert_problem(401, "CRON_UNAUTHORIZED");
        }
        let basic = app
            .request(
                "GET",
                &path,
                None,
                None,
                &[("authorization", &format!("Basic {CRON_SECRET}"))],
            )
            .await;
        basic.assert_problem(401, "CRON_UNAUTHORIZED");
        let ok = app.cron(job).await;
        assert_eq!(ok.status, 200, "{job}: {}", ok.text);
        for key in ["scanned", "deleted", "remaining", "durationMs"] {
            assert!(ok.body[key].is_u64(), "{job}: {key} in {}", ok.text);
        }
        let post = app
            .request("POST", &path, Some(CRON_SECRET), None, &[])
            .await;
        post.assert_problem(405, "METHOD_NOT_ALLOWED");
    }
    // Without a configured secret nothing gets in, not even an empty bearer.
    let open = TestApp::spawn().await;
    for token in [None, Some(""), Some(CRON_SECRET)] {
        open.request("GET", "/api/cron/cleanup-sessions", token, None, &[])
            .await
            .assert_problem(401, "CRON_UNAUTHORIZED");
    }
}

#[tokio::test]
async fn a_purge_empties_every_collection_any_route_wrote_the_tenant_into() {
    use shared::rbac::Access;
    let app = TestApp::spawn_with(&[
        ("CRON_SECRET", CRON_SECRET),
        ("RATE_LIMIT_API_FREE", "100000"),
    ])
    .await;
    app.fill_tenant(app.owner().await).await;
    // Every method of every route, as the owner (a fresh session each time,
    // since some routes sign it out), with an empty body and a fixture id.
    let mut called = 0;
    for route in functions::routes::ROUTES.iter() {
        for endpoint in route.methods {
            let (verb, access) = (&endpoint.method, &endpoint.access);
            let session = app.login(&app.owner().await.email).await;
            let token = match access {
                Access::Requires(_) => Some(session.token.as_str()),
                Access::Public | Access::Throttled(_) => None,
                Access::Cron => continue,
                Access::Link => continue,
            };
            let path = if route.path.contains("{id}") {
                route.path.replace(
                    "{id}",
                    &crate::matrix::fixture_id(&app, route.path, None).await,
                )
            } else {
                route.path.to_string()
            };
            let key = bson::oid::ObjectId::new().to_hex();
            let r = app
                .request(
                    verb.as_str(),
                    &path,
                    token,
                    Some(b"{}".to_vec()),
                    &[("idempotency-key", key.as_str())],
                )
                .await;
            assert!(r.status < 500, "{} {path}: {}", verb.as_str(), r.text);
            called += 1;
        }
    }
    assert!(called > 40, "walked {called} route methods");
    // A collection no code knows of yet: a later feature's.
    let org = oid(&app.owner().await.org_id);
    app.db
        .collection::<Document>("a_future_feature")
        .insert_one(doc! { "organizationId": org, "note": "added after this test was written" })
        .await
        .unwrap();
    let mut holding = vec![];
    for name in app.db.list_collection_names().await.unwrap() {
        if name != "organizations" && app.count(&name, doc! { "organizationId": org }).await > 0 {
            holding.push(name);
        }
    }
    holding.sort();
    assert!(holding.len() >= 12, "the walk reached: {holding:?}");
    let theirs = app.tenant_snapshot(&app.other().await.org_id).await;

    app.schedule_deletion(app.owner().await, 31).await;
    let r = app.cron("cleanup-organizations").await;
    assert_eq!(r.status, 200, "{}", r.text);
    for name in &holding {
        assert_eq!(
            app.count(name, doc! { "organizationId": org }).await,
            0,
            "the purge left documents in {name}"
        );
    }
    assert_eq!(app.count("organizations", doc! { "_id": org }).await, 0);
    assert_eq!(app.tenant_snapshot(&app.other().await.org_id).await, theirs);
    println!("purged the tenant from: {}", holding.join(", "));
}

#[tokio::test]
async fn a_tenant_exported_purged_and_imported_comes_back_document_for_document() {
    use crate::admin_cli::{admin_json, crm_admin};
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    app.fill_tenant(owner).await;
    app.fill_tenant(app.other().await).await;
    let slug = app
        .get("/api/v1/organization", Some(owner))
        .await
        .str("slug");
    let before = app.tenant_snapshot(&owner.org_id).await;
    let others = app.tenant_snapshot(&app.other().await.org_id).await;
    let dir = std::env::temp_dir().join(format!(
        "crm-export-test-{}",
        bson::oid::ObjectId::new().to_hex()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("tenant.tar");
    let file = file.to_str().unwrap();

    let manifest = admin_json(&app, &["tenants", "export", &slug, "--out", file]);
    assert_eq!(manifest["format"], "workshop-crm-tenant/1");
    let exported: u64 = manifest["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["documents"].as_u64().unwrap())
        .sum();
    assert_eq!(exported as usize, before.len(), "{manifest}");
    assert_eq!(manifest["objects"]["count"], 2, "{manifest}");
    // Progress is drawn on a terminal only: piped, stderr stays empty.
    let again = dir.join("again.tar");
    let plain = crm_admin(
        &app,
        &["tenants", "export", &slug, "--out", again.to_str().unwrap()],
        None,
    );
    assert!(plain.status.success());
    assert!(
        plain.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&plain.stderr)
    );
    assert!(String::from_utf8_lossy(&plain.stdout).contains("format: workshop-crm-tenant/1"));
    // The archive is a plain tar: the manifest first, JSON lines after.
    let listing = std::process::Command::new("tar")
        .args(["-tf", file])
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout).to_string();
    assert!(listing.starts_with("manifest.json\n"), "{listing}");
    assert!(listing.contains("collections/accounts.jsonl"), "{listing}");

    // It refuses to overwrite the organization that is there.
    let refused = crm_admin(&app, &["tenants", "import", file], None);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("refuses to overwrite"));

    let purge = crm_admin(
        &app,
        &["tenants", "delete", &slug, "--now"],
        Some(&format!("{slug}\n")),
    );
    assert!(
        purge.status.success(),
        "{}",
        String::from_utf8_lossy(&purge.stderr)
    );
    assert!(app.tenant_snapshot(&owner.org_id).await.is_empty());

    // A damaged archive writes nothing.
    let damaged = dir.join("damaged.tar");
    let bytes = std::fs::read(file).unwrap();
    let at = bytes
        .windows(12)
        .position(|w| w == b"Fill account")
        .expect("account in archive");
    let mut broken = bytes.clone();
    broken[at] = b'B';
    std::fs::write(&damaged, broken).unwrap();
    let r = crm_admin(
        &app,
        &["tenants", "import", damaged.to_str().unwrap()],
        None,
    );
    assert_eq!(r.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&r.stderr).contains("checksum"),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert!(app.tenant_snapshot(&owner.org_id).await.is_empty());

    let restored = admin_json(&app, &["tenants", "import", file]);
    assert_eq!(restored["idsKept"], true);
    assert_eq!(
        app.tenant_snapshot(&owner.org_id).await,
        before,
        "every document compares equal"
    );
    assert_eq!(app.tenant_snapshot(&app.other().await.org_id).await, others);
    let back = app.login(&owner.email).await;
    let accounts = app.get("/api/v1/accounts", Some(&back)).await;
    assert!(accounts.text.contains("Fill account"), "{}", accounts.text);

    // A copy with new ids, once the original is gone again.
    let purge = crm_admin(
        &app,
        &["tenants", "delete", &slug, "--now"],
        Some(&format!("{slug}\n")),
    );
    assert!(purge.status.success());
    let copy = admin_json(&app, &["tenants", "import", file, "--as", "acme-copy"]);
    assert_eq!(copy["idsKept"], false);
    let new_org = copy["organization"]["id"].as_str().unwrap().to_string();
    assert_ne!(new_org, owner.org_id);
    let copied = app.tenant_snapshot(&new_org).await;
    assert_eq!(copied.len(), before.len());
    // References follow the new ids: every contact's account is in the copy.
    let org = oid(&new_org);
    for contact in app.find("contacts", doc! { "organizationId": org }).await {
        if let Ok(account) = contact.get_object_id("accountId") {
            assert_eq!(
                app.count("accounts", doc! { "_id": account, "organizationId": org })
                    .await,
                1
            );
        }
    }
    let sign_in = app.sign_in(&owner.email, PASSWORD).await;
    assert_eq!(sign_in.status, 200, "{}", sign_in.text);
    assert_eq!(sign_in.body["user"]["organizationId"], new_org.as_str());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn records_deleted_more_than_thirty_days_ago_leave_the_trash() {
    let app = TestApp::spawn_with(&[("CRON_SECRET", CRON_SECRET)]).await;
    let owner = app.owner().await;
    let (old, recent, live) = (
        app.create_account(owner, "Long gone").await,
        app.create_account(owner, "Just deleted").await,
        app.create_account(owner, "Still here").await,
    );
    for id in [&old, &recent] {
        let r = app
            .delete(&format!("/api/v1/accounts/{id}"), Some(owner))
            .await;
        assert_eq!(r.status, 204);
    }
    app.db
        .collection::<Document>("accounts")
        .update_one(
            doc! { "_id": oid(&old) },
            doc! { "$set": { "deletedAt": days_ago(31) } },
        )
        .await
        .unwrap();
    let r = app.cron("cleanup-sessions").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(app.count("accounts", doc! { "_id": oid(&old) }).await, 0);
    assert_eq!(app.count("accounts", doc! { "_id": oid(&recent) }).await, 1);
    assert_eq!(app.count("accounts", doc! { "_id": oid(&live) }).await, 1);
    let restore = app
        .post(
            &format!("/api/v1/accounts/{recent}/restore"),
            Some(owner),
            json!({}),
        )
        .await;
    assert_eq!(
        restore.status, 200,
        "the trash keeps the recent one restorable"
    );
}

#[tokio::test]
async fn a_purge_batch_that_fails_leaves_the_tenant_due_and_the_next_run_finishes_it() {
    // Its own appName, so the failure hits only this app's commands.
    let uri = format!(
        "{}&appName=t{}",
        mongodb_uri(),
        bson::oid::ObjectId::new().to_hex()
    );
    let app = TestApp::spawn_with(&[("CRON_SECRET", CRON_SECRET), ("MONGODB_URI", &uri)]).await;
    let fail_points = FailPoints::take().await;
    app.fill_tenant(app.owner().await).await;
    app.fill_tenant(app.other().await).await;
    app.schedule_deletion(app.owner().await, 31).await;
    let theirs = app.tenant_snapshot(&app.other().await.org_id).await;
    let doomed = app.tenant_snapshot(&app.owner().await.org_id).await;
    let org = oid(&app.owner().await.org_id);

    // The third batch's delete fails half way through the purge.
    app.fail_command(&fail_points, "delete", 2).await;
    let r = app.cron("cleanup-organizations").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (&r.body["deleted"], &r.body["remaining"]),
        (&json!(0), &json!(1)),
        "{}",
        r.text
    );
    // The organization stays, due, with what the failed batch did not
    // delete; nothing of anyone else's is touched.
    assert_eq!(app.count("organizations", doc! { "_id": org }).await, 1);
    let left = app.tenant_snapshot(&app.owner().await.org_id).await;
    assert!(
        left.len() > 1 && left.len() < doomed.len(),
        "{} of {} documents left",
        left.len(),
        doomed.len()
    );
    assert_eq!(app.tenant_snapshot(&app.other().await.org_id).await, theirs);

    // The next run finishes it.
    let r = app.cron("cleanup-organizations").await;
    assert_eq!(
        (&r.body["deleted"], &r.body["remaining"]),
        (&json!(1), &json!(0)),
        "{}",
        r.text
    );
    assert!(app
        .tenant_snapshot(&app.owner().await.org_id)
        .await
        .is_empty());
    assert_eq!(app.tenant_snapshot(&app.other().await.org_id).await, theirs);
}

/// Rewrites the tenant archive `from` into `to` with python's tarfile:
/// `mode` `duplicate` (accounts twice), `unlisted` (a collection listed
/// nowhere), `listed-global` (the blocklist, listed in
/// the manifest with its checksum), `foreign` (accounts claimed for
/// `other`, checksums made to match).
fn tamper(from: &str, to: &str, mode: &str, org: &str, other: &str) {
    const SCRIPT: &str = r#"
import hashlib, io, json, sys, tarfile
src, dst, mode, org, other = sys.argv[1:6]
files = []
with tarfile.open(src) as t:
    for m in t.getmembers():
        files.append([m.name, t.extractfile(m).read()])
def sha(data):
    h = hashlib.sha256()
    for line in data.decode().splitlines():
        h.update(line.encode() + b"\n")
    return h.hexdigest()
manifest = json.loads(dict(files)["manifest.json"])
blocks = b'{"_id":{"$oid":"65a1b2c3d4e5f60718293a4b"},"cidr":"0.0.0.0/0","organizationId":{"$oid":"%s"}}\n' % org.encode()
if mode == "duplicate":
    files.append(next([n, d] for n, d in files if n == "collections/accounts.jsonl"))
elif mode == "unlisted":
    files.append(["collections/notes.jsonl", blocks])
elif mode == "listed-global":
    files.append(["collections/ip_blocks.jsonl", blocks])
    manifest["collections"].append({"name": "ip_blocks", "file": "collections/ip_blocks.jsonl", "documents": 1, "sha256": sha(blocks)})
elif mode == "foreign":
    for f in files:
        if f[0] == "collections/accounts.jsonl":
            f[1] = f[1].replace(org.encode(), other.encode())
            for c in manifest["collections"]:
                if c["file"] == f[0]:
                    c["sha256"] = sha(f[1])
for f in files:
    if f[0] == "manifest.json":
        f[1] = json.dumps(manifest).encode()
with tarfile.open(dst, "w") as t:
    for name, data in files:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", SCRIPT, from, to, mode, org, other])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn an_archive_with_foreign_duplicate_or_unlisted_entries_writes_nothing() {
    use crate::admin_cli::{admin_json, crm_admin};
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    app.fill_tenant(owner).await;
    let other = app.other().await;
    let slug = app
        .get("/api/v1/organization", Some(owner))
        .await
        .str("slug");
    let dir = std::env::temp_dir().join(format!(
        "crm-import-test-{}",
        bson::oid::ObjectId::new().to_hex()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("tenant.tar");
    let file = file.to_str().unwrap();
    admin_json(&app, &["tenants", "export", &slug, "--out", file]);
    let purge = crm_admin(
        &app,
        &["tenants", "delete", &slug, "--now"],
        Some(&format!("{slug}\n")),
    );
    assert!(purge.status.success());
    let blocks_before = app.count("ip_blocks", doc! {}).await;
    for (mode, says) in [
        ("duplicate", "appears twice"),
        ("unlisted", "not in its manifest"),
        ("listed-global", "not an entry"),
        ("foreign", "another organization"),
    ] {
        let bad = dir.join(format!("{mode}.tar"));
        let bad = bad.to_str().unwrap();
        tamper(file, bad, mode, &owner.org_id, &other.org_id);
        let r = crm_admin(&app, &["tenants", "import", bad], None);
        let stderr = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(1), "{mode}: {stderr}");
        assert!(stderr.contains(says), "{mode}: {stderr}");
        assert!(
            app.tenant_snapshot(&owner.org_id).await.is_empty(),
            "{mode}"
        );
        assert_eq!(
            app.count("ip_blocks", doc! {}).await,
            blocks_before,
            "{mode}"
        );
    }
    // The archive as exported still imports.
    let restored = admin_json(&app, &["tenants", "import", file]);
    assert_eq!(restored["idsKept"], true);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_tenant_archive_carries_no_waiting_emails_bodies() {
    use crate::admin_cli::admin_json;
    // SMTP down: an invitation's email (its one-time link) waits.
    let app =
        crate::email::app_with_smtp_down(crate::email::free_port(), &[("EMAIL_MAX_ATTEMPTS", "5")])
            .await;
    let owner = app.owner().await;
    let invitee = crate::email::unique_email("archived");
    let r = app
        .post(
            "/api/v1/invitations",
            Some(owner),
            json!({ "email": invitee, "role": "VIEWER" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let waiting = &app.find("email_outbox", doc! { "to": &invitee }).await[0];
    assert!(waiting.get_binary_generic("sealed").is_ok(), "{waiting:?}");
    let slug = app
        .get("/api/v1/organization", Some(owner))
        .await
        .str("slug");
    let dir = std::env::temp_dir().join(format!(
        "crm-export-mail-{}",
        bson::oid::ObjectId::new().to_hex()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("tenant.tar");
    let file = file.to_str().unwrap();
    admin_json(&app, &["tenants", "export", &slug, "--out", file]);
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, tarfile; t = tarfile.open(sys.argv[1]); \
             print(t.extractfile('collections/email_outbox.jsonl').read().decode())",
            file,
        ])
        .output()
        .expect("python3 runs");
    let outbox = String::from_utf8_lossy(&out.stdout);
    let entry: serde_json::Value = outbox
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["to"] == invitee.as_str())
        .expect("the invitation's entry is archived");
    assert_eq!(entry["sealed"], serde_json::Value::Null, "{entry}");
    assert_eq!(entry["text"], serde_json::Value::Null, "{entry}");
    assert_eq!(entry["status"], "FAILED", "{entry}");
    // The live outbox still has it, to send.
    let live = &app.find("email_outbox", doc! { "to": &invitee }).await[0];
    assert!(live.get_binary_generic("sealed").is_ok());
    let _ = std::fs::remove_dir_all(&dir);
}
