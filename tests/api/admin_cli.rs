//! `crm-admin`, the operators' command line, run as a process against the
//! test's database: every subcommand, its exit codes and `--json` output.

use crate::helpers::*;
use bson::doc;
use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Output, Stdio};

pub(crate) fn crm_admin(app: &TestApp, args: &[&str], stdin: Option<&str>) -> Output {
    let binary = tests::lambda::function_binary("crm-admin", "debug");
    let mut child = Command::new(binary)
        .env_clear()
        .envs(&app.env)
        .env("LOG_LEVEL", "error")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("crm-admin starts");
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

/// `crm-admin --json ARGS`, its output parsed (and its success checked).
pub(crate) fn admin_json(app: &TestApp, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    json_out(&crm_admin(app, &all, None))
}

fn json_out(o: &Output) -> Value {
    assert!(
        o.status.success(),
        "crm-admin failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&o.stdout)))
}

async fn slug_of(app: &TestApp, actor: &Actor) -> String {
    app.get("/api/v1/organization", Some(actor))
        .await
        .str("slug")
}

#[tokio::test]
async fn usage_errors_exit_2_and_unknown_records_exit_1() {
    let app = TestApp::spawn().await;
    assert_eq!(crm_admin(&app, &[], None).status.code(), Some(2));
    assert_eq!(
        crm_admin(&app, &["tenants", "explode"], None).status.code(),
        Some(2)
    );
    assert_eq!(
        crm_admin(&app, &["audit", "a@b.example", "--since", "soon"], None)
            .status
            .code(),
        Some(2)
    );
    let o = crm_admin(
        &app,
        &["--json", "users", "revoke-sessions", "nobody@example.test"],
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("No such user"));
    assert_eq!(crm_admin(&app, &["--help"], None).status.code(), Some(0));
}

#[tokio::test]
async fn migrate_is_idempotent_and_tenants_list_counts_users_and_records() {
    let app = TestApp::spawn().await;
    app.everyone().await;
    let out = admin_json(&app, &["migrate"]);
    assert_eq!(
        out["applied"],
        json!([]),
        "the test database is already migrated"
    );
    app.create_account(app.owner().await, "One").await;
    app.create_account(app.owner().await, "Two").await;
    let list = admin_json(&app, &["tenants", "list"]);
    let slug = slug_of(&app, app.owner().await).await;
    let mine = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["slug"] == slug.as_str())
        .unwrap()
        .clone();
    assert_eq!(mine["users"], 4);
    assert_eq!(mine["accounts"], 2);
    assert_eq!(mine["records"], 2);
    assert_eq!(mine["plan"], "FREE");
    let human = crm_admin(&app, &["tenants", "list"], None);
    assert!(String::from_utf8_lossy(&human.stdout).contains("users=4"));
}

#[tokio::test]
async fn deactivating_a_tenant_refuses_its_members_until_it_is_reactivated() {
    let app = TestApp::spawn().await;
    app.everyone().await;
    let slug = slug_of(&app, app.owner().await).await;
    let out = admin_json(&app, &["tenants", "deactivate", &slug]);
    assert_eq!(out["isActive"], false);
    app.get("/api/v1/accounts", Some(app.member().await))
        .await
        .assert_problem(403, "ORGANIZATION_INACTIVE");
    assert_eq!(app.refresh(&app.member().await.refresh).await.status, 401);
    admin_json(&app, &["tenants", "reactivate", &slug]);
    // The deactivation ended every session: members sign in again.
    app.get("/api/v1/accounts", Some(app.member().await))
        .await
        .assert_problem(401, "SESSION_REVOKED");
    let member = app.login(&app.member().await.email).await;
    assert_eq!(app.get("/api/v1/accounts", Some(&member)).await.status, 200);
    let audit = app
        .find(
            "audit_log",
            doc! { "resource": "organization", "changes.actor": "crm-admin" },
        )
        .await;
    assert_eq!(audit.len(), 2);
}

#[tokio::test]
async fn purging_a_tenant_asks_for_the_slug_and_leaves_other_tenants_intact() {
    let app = TestApp::spawn().await;
    app.everyone().await;
    let slug = slug_of(&app, app.owner().await).await;
    app.create_account(app.owner().await, "Doomed").await;
    let theirs = app.create_account(app.other().await, "Survivor").await;
    let doomed_files = [
        app.upload_document(app.member().await, "a.pdf", file_bytes(10))
            .await,
        app.upload_document(app.owner().await, "b.pdf", file_bytes(20))
            .await,
    ];
    let their_file = app
        .upload_document(app.other().await, "theirs.pdf", file_bytes(30))
        .await;
    let mut doomed_keys = vec![];
    for id in &doomed_files {
        doomed_keys.push(app.storage_key(id).await);
    }
    let their_key = app.storage_key(&their_file).await;
    let other_before = app
        .count(
            "audit_log",
            doc! { "organizationId": oid(&app.other().await.org_id) },
        )
        .await;

    assert_eq!(
        crm_admin(&app, &["tenants", "delete", &slug], Some(&slug))
            .status
            .code(),
        Some(2),
        "--now is required"
    );
    assert_eq!(
        crm_admin(
            &app,
            &["tenants", "delete", &slug, "--now"],
            Some("wrong\n")
        )
        .status
        .code(),
        Some(1)
    );
    assert_eq!(
        app.count(
            "accounts",
            doc! { "organizationId": oid(&app.owner().await.org_id) }
        )
        .await,
        1
    );

    let out = json_out(&crm_admin(
        &app,
        &["--json", "tenants", "delete", &slug, "--now"],
        Some(&format!("{slug}\n")),
    ));
    assert_eq!(out["deleted"]["accounts"], 1);
    assert_eq!(out["deleted"]["objects"], 2);
    assert_eq!(out["deleted"]["documents"], 2);
    let storage = app.storage();
    for key in &doomed_keys {
        assert!(storage.head(key).await.unwrap().is_none(), "{key}");
    }
    assert_eq!(
        storage.head(&their_key).await.unwrap().map(|o| o.size),
        Some(30)
    );
    assert_eq!(out["deleted"]["users"], 4);
    let org = oid(&app.owner().await.org_id);
    for collection in [
        "documents",
        "users",
        "accounts",
        "audit_log",
        "refresh_tokens",
        "invitations",
        "login_attempts",
    ] {
        assert_eq!(
            app.count(collection, doc! { "organizationId": org }).await,
            0,
            "{collection}"
        );
    }
    assert_eq!(app.count("organizations", doc! { "_id": org }).await, 0);
    assert_eq!(
        app.get(
            &format!("/api/v1/accounts/{theirs}"),
            Some(app.other().await)
        )
        .await
        .body["name"],
        "Survivor"
    );
    assert_eq!(
        app.count(
            "audit_log",
            doc! { "organizationId": oid(&app.other().await.org_id) }
        )
        .await,
        other_before
    );
}

#[tokio::test]
async fn revoking_a_users_sessions_signs_them_out_everywhere() {
    let app = TestApp::spawn().await;
    let out = admin_json(
        &app,
        &["users", "revoke-sessions", &app.member().await.email],
    );
    assert_eq!(out["sessionsRevoked"], 1);
    assert_eq!(app.refresh(&app.member().await.refresh).await.status, 401);
}

#[tokio::test]
async fn a_forced_password_reset_refuses_the_user_until_the_printed_token_is_used() {
    let app = TestApp::spawn().await;
    let out = admin_json(
        &app,
        &["users", "force-password-reset", &app.member().await.email],
    );
    let token = out["resetToken"].as_str().unwrap().to_string();
    app.get("/api/v1/accounts", Some(app.member().await))
        .await
        .assert_problem(403, "PASSWORD_RESET_REQUIRED");
    app.sign_in(&app.member().await.email, PASSWORD)
        .await
        .assert_problem(403, "PASSWORD_RESET_REQUIRED");
    assert_eq!(app.refresh(&app.member().await.refresh).await.status, 401);

    let r = app
        .post(
            "/api/v1/auth/password-reset",
            None,
            json!({ "token": "forged", "newPassword": "a new password!" }),
        )
        .await;
    r.assert_problem(400, "INVALID_RESET_TOKEN");
    let r = app
        .post(
            "/api/v1/auth/password-reset",
            None,
            json!({ "token": token, "newPassword": "a new password!" }),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = app
        .post(
            "/api/v1/auth/password-reset",
            None,
            json!({ "token": token, "newPassword": "another password" }),
        )
        .await;
    r.assert_problem(400, "INVALID_RESET_TOKEN");
    assert_eq!(
        app.sign_in(&app.member().await.email, "a new password!")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn set_status_changes_a_users_status_and_rejects_unknown_ones() {
    let app = TestApp::spawn().await;
    let out = admin_json(
        &app,
        &["users", "set-status", &app.viewer().await.email, "INACTIVE"],
    );
    assert_eq!(out["previousStatus"], "ACTIVE");
    app.get("/api/v1/accounts", Some(app.viewer().await))
        .await
        .assert_problem(403, "USER_INACTIVE");
    assert_eq!(
        crm_admin(
            &app,
            &["users", "set-status", &app.viewer().await.email, "SLEEPING"],
            None
        )
        .status
        .code(),
        Some(1)
    );
    admin_json(
        &app,
        &["users", "set-status", &app.viewer().await.email, "ACTIVE"],
    );
    assert_eq!(
        app.login(&app.viewer().await.email).await.email,
        app.viewer().await.email
    );
}

#[tokio::test]
async fn audit_and_logins_show_what_happened_newest_first() {
    let app = TestApp::spawn().await;
    app.everyone().await;
    let id = app.create_account(app.admin().await, "Audited").await;
    app.delete(&format!("/api/v1/accounts/{id}"), Some(app.admin().await))
        .await;
    let out = admin_json(&app, &["audit", &app.admin().await.email]);
    let actions: Vec<&str> = out
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(&actions[..3], ["DELETE", "CREATE", "LOGIN"]);
    let slug = slug_of(&app, app.owner().await).await;
    let deletes = admin_json(&app, &["audit", "--org", &slug, "--action", "DELETE"]);
    assert_eq!(deletes.as_array().unwrap().len(), 1);
    let none = admin_json(&app, &["audit", "--org", &slug, "--since", "0s"]);
    assert!(none.as_array().unwrap().is_empty());

    app.sign_in(&app.viewer().await.email, "wrong password!")
        .await;
    let logins = admin_json(&app, &["logins", &app.viewer().await.email]);
    assert_eq!(logins[0]["reason"], "WRONG_PASSWORD");
    assert_eq!(logins[1]["success"], true);
    let by_ip = admin_json(&app, &["logins", "--ip", "127.0.0.1"]);
    assert!(by_ip.as_array().unwrap().len() >= 4);
}

#[tokio::test]
async fn each_scheduled_cleanup_can_be_run_by_hand() {
    let app = TestApp::spawn().await;
    app.db
        .collection::<bson::Document>("login_attempts")
        .insert_one(doc! { "email": "old@x.test", "expiresAt": bson::DateTime::from_millis(0) })
        .await
        .unwrap();
    for job in ["organizations", "audit-logs", "sessions"] {
        let out = admin_json(&app, &["cleanup", job]);
        for key in ["scanned", "deleted", "remaining", "durationMs"] {
            assert!(out[key].is_u64(), "{job}: {key} in {out}");
        }
    }
    assert_eq!(
        app.count("login_attempts", doc! { "email": "old@x.test" })
            .await,
        0
    );
    assert_eq!(
        crm_admin(&app, &["cleanup", "everything"], None)
            .status
            .code(),
        Some(2)
    );
}

#[tokio::test]
async fn an_organization_whose_purge_is_due_cannot_be_reactivated() {
    let app = TestApp::spawn().await;
    let slug = slug_of(&app, app.owner().await).await;
    app.schedule_deletion(app.owner().await, 31).await;
    let out = crm_admin(&app, &["tenants", "reactivate", &slug], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("being purged"));
    let org = app
        .find(
            "organizations",
            doc! { "_id": oid(&app.owner().await.org_id) },
        )
        .await;
    assert!(!org[0].get_bool("isActive").unwrap());
}

#[tokio::test]
async fn operator_revocations_end_access_tokens_too() {
    let app = TestApp::spawn().await;
    admin_json(
        &app,
        &["users", "revoke-sessions", &app.member().await.email],
    );
    app.get("/api/v1/accounts", Some(app.member().await))
        .await
        .assert_problem(401, "SESSION_REVOKED");
    // A forced reset ends the sessions as well; once the user set a new
    // password, the tokens from before stay dead.
    let out = admin_json(
        &app,
        &["users", "force-password-reset", &app.viewer().await.email],
    );
    let r = app
        .post(
            "/api/v1/auth/password-reset",
            None,
            json!({ "token": out["resetToken"], "newPassword": "a brand new secret" }),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    app.get("/api/v1/accounts", Some(app.viewer().await))
        .await
        .assert_problem(401, "SESSION_REVOKED");
}

#[tokio::test]
async fn set_plan_is_the_operators_upgrade_and_is_audited() {
    let app = TestApp::spawn().await;
    let slug = slug_of(&app, app.owner().await).await;
    let out = admin_json(&app, &["tenants", "set-plan", &slug, "ENTERPRISE"]);
    assert_eq!(out["plan"], "ENTERPRISE");
    assert_eq!(out["previousPlan"], "FREE");
    let next = app.get("/api/v1/accounts", Some(app.viewer().await)).await;
    assert_eq!(next.header("ratelimit-limit"), Some("10000"));
    let audits = app
        .find(
            "audit_log",
            doc! { "resource": "organization", "changes.actor": "crm-admin", "changes.plan.to": "ENTERPRISE" },
        )
        .await;
    assert_eq!(audits.len(), 1);
    // The owner may then move down.
    let r = app
        .put(
            "/api/v1/organization/plan",
            Some(app.owner().await),
            json!({ "plan": "PRO" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        crm_admin(&app, &["tenants", "set-plan", &slug, "GOLD"], None)
            .status
            .code(),
        Some(1)
    );
}

#[tokio::test]
async fn on_call_reads_resets_and_overrides_rate_limits() {
    let app = TestApp::spawn().await;
    let fresh = app.register("Busy Garage").await;
    let slug = app
        .get("/api/v1/organization", Some(&fresh))
        .await
        .str("slug");
    for _ in 0..2 {
        app.get("/api/v1/accounts", Some(&fresh)).await;
    }
    let bucket = |rows: &Value, name: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|b| b["bucket"] == name)
            .cloned()
            .unwrap()
    };
    // GET /organization and the two lists.
    let status = admin_json(&app, &["ratelimit", "status", "--org", &slug]);
    assert_eq!(bucket(&status, "API")["used"], 3, "{status}");
    assert_eq!(bucket(&status, "API")["limit"], 100);
    let again = admin_json(&app, &["ratelimit", "status", "--org", &slug]);
    assert_eq!(bucket(&again, "API")["used"], 3, "status counts nothing");

    let reset = admin_json(
        &app,
        &["ratelimit", "reset", "--org", &slug, "--bucket", "api"],
    );
    assert_eq!(reset["reset"], json!(["API"]), "{reset}");
    let status = admin_json(&app, &["ratelimit", "status", "--org", &slug]);
    assert_eq!(bucket(&status, "API")["used"], 0);
    let audited = app
        .count(
            "audit_log",
            doc! { "changes.rateLimitReset": "API", "changes.actor": "crm-admin" },
        )
        .await;
    assert_eq!(audited, 1);

    // An override replaces the plan's limit until the end of its day.
    let set = admin_json(
        &app,
        &[
            "ratelimit",
            "override",
            "--org",
            &slug,
            "--bucket",
            "API",
            "--limit",
            "3",
            "--until",
            "2099-12-31",
        ],
    );
    assert_eq!(set["until"], "2100-01-01T00:00:00.000Z", "{set}");
    let statuses: Vec<u16> = {
        let mut v = vec![];
        for _ in 0..4 {
            v.push(app.get("/api/v1/accounts", Some(&fresh)).await.status);
        }
        v
    };
    assert_eq!(statuses, [200, 200, 200, 429]);
    // One that has run out no longer applies.
    admin_json(
        &app,
        &[
            "ratelimit",
            "override",
            "--org",
            &slug,
            "--bucket",
            "API",
            "--limit",
            "3",
            "--until",
            "2001-01-01",
        ],
    );
    assert_eq!(app.get("/api/v1/accounts", Some(&fresh)).await.status, 200);

    // A sign-in bucket, by email.
    for _ in 0..2 {
        app.post(
            "/api/v1/auth/login",
            None,
            json!({ "email": fresh.email, "password": "wrong-password" }),
        )
        .await;
    }
    let by_email = admin_json(&app, &["ratelimit", "status", "--email", &fresh.email]);
    assert_eq!(by_email[0]["used"], 2, "{by_email}");
    admin_json(&app, &["ratelimit", "reset", "--email", &fresh.email]);
    let by_email = admin_json(&app, &["ratelimit", "status", "--email", &fresh.email]);
    assert_eq!(by_email[0]["used"], 0);
    // A client address, named however the operator writes it, is the
    // bucket the server counts: the IPv4-mapped form is the IPv4 address.
    let by_ip = admin_json(&app, &["ratelimit", "status", "--ip", "127.0.0.1"]);
    let mapped = admin_json(&app, &["ratelimit", "status", "--ip", "::ffff:127.0.0.1"]);
    assert!(by_ip[0]["used"].as_u64().unwrap() >= 2, "{by_ip}");
    assert_eq!(mapped[0]["used"], by_ip[0]["used"], "{mapped}");
    admin_json(&app, &["ratelimit", "reset", "--ip", "::ffff:127.0.0.1"]);
    let by_ip = admin_json(&app, &["ratelimit", "status", "--ip", "127.0.0.1"]);
    assert_eq!(by_ip[0]["used"], 0, "{by_ip}");
    let o = crm_admin(
        &app,
        &[
            "ratelimit",
            "override",
            "--org",
            &slug,
            "--bucket",
            "LOGIN",
            "--limit",
            "1",
            "--until",
            "2099-01-01",
        ],
        None,
    );
    assert!(!o.status.success());
}

#[tokio::test]
async fn tenant_stats_and_user_show_answer_the_runbook_questions() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    app.create_account(owner, "Stats GmbH").await;
    let gone = app.create_account(owner, "Gone").await;
    assert_eq!(
        app.delete(&format!("/api/v1/accounts/{gone}"), Some(owner))
            .await
            .status,
        204
    );
    let slug = slug_of(&app, owner).await;
    let stats = admin_json(&app, &["tenants", "stats"]);
    let mine = stats
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["slug"] == slug.as_str())
        .cloned()
        .unwrap();
    assert_eq!(mine["users"], 1, "{mine}");
    assert_eq!(mine["records"]["accounts"], 1);
    assert_eq!(mine["records"]["work-orders"], 0);
    assert_eq!(
        (mine["documents"].as_i64(), mine["storedBytes"].as_i64()),
        (Some(0), Some(0))
    );
    assert!(mine["lastActivityAt"].is_string(), "{mine}");

    let viewer = app.viewer().await;
    for _ in 0..2 {
        let r = app
            .post(
                "/api/v1/auth/login",
                None,
                json!({ "email": viewer.email, "password": "wrong-password" }),
            )
            .await;
        assert_eq!(r.status, 401);
    }
    let shown = admin_json(&app, &["users", "show", &viewer.email]);
    assert_eq!(shown["status"], "ACTIVE", "{shown}");
    assert_eq!(shown["role"], "VIEWER");
    assert_eq!(shown["organization"], slug.as_str());
    assert_eq!(shown["organizationActive"], true);
    assert_eq!(shown["failedSignInsLast24h"], 2);
    assert_eq!(shown["signInBucket"]["used"], 2);
    assert!(shown["openSessions"].as_u64().unwrap() >= 1);
    let o = crm_admin(&app, &["users", "show", "nobody@example.test"], None);
    assert_eq!(o.status.code(), Some(1));
}

#[tokio::test]
async fn sessions_revoke_all_signs_out_one_organization_or_everyone() {
    let app = TestApp::spawn().await;
    let (owner, other) = (app.owner().await, app.other().await);
    let slug = slug_of(&app, owner).await;
    let out = admin_json(&app, &["sessions", "revoke-all", "--org", &slug]);
    assert!(out["sessionsRevoked"].as_u64().unwrap() >= 1, "{out}");
    // The access token stops working at once; the other tenant is untouched.
    assert_eq!(app.get("/api/v1/accounts", Some(owner)).await.status, 401);
    assert_eq!(app.get("/api/v1/accounts", Some(other)).await.status, 200);
    let r = app.refresh(&owner.refresh).await;
    assert_eq!(r.status, 401, "{}", r.text);
    admin_json(&app, &["sessions", "revoke-all"]);
    assert_eq!(app.get("/api/v1/accounts", Some(other)).await.status, 401);
    let audited = app
        .count(
            "audit_log",
            doc! { "changes.allSessions": true, "changes.actor": "crm-admin" },
        )
        .await;
    assert_eq!(audited, 2);
}

#[tokio::test]
async fn db_indexes_names_what_is_missing_or_extra() {
    let app = TestApp::spawn().await;
    let ok = admin_json(&app, &["db", "indexes"]);
    assert_eq!(ok, json!({ "missing": [], "extra": [] }));
    let appointments = app.db.collection::<bson::Document>("appointments");
    appointments
        .drop_index("organizationId_1_bay_1_startAt_1__id_1")
        .await
        .unwrap();
    appointments
        .create_index(
            mongodb::IndexModel::builder()
                .keys(doc! { "notes": 1 })
                .build(),
        )
        .await
        .unwrap();
    let o = crm_admin(&app, &["db", "indexes"], None);
    assert_eq!(o.status.code(), Some(1));
    let said = String::from_utf8_lossy(&o.stderr);
    assert!(
        said.contains("appointments {organizationId: 1, bay: 1, startAt: 1, _id: 1}"),
        "{said}"
    );
    assert!(said.contains("appointments {notes: 1}"), "{said}");
    // `migrate` puts back what is missing; the extra one stays an operator's call.
    crm_admin(&app, &["migrate"], None);
    let o = crm_admin(&app, &["db", "indexes"], None);
    let said = String::from_utf8_lossy(&o.stderr);
    assert!(!said.contains("bay: 1"), "{said}");
}

#[tokio::test]
async fn db_explain_shows_every_list_query_on_an_index() {
    let app = TestApp::spawn().await;
    let rows = admin_json(&app, &["db", "explain", "work-orders"]);
    let rows = rows.as_array().unwrap();
    // The default order, 4 sorts and 6 filters.
    assert_eq!(rows.len(), 11, "{rows:?}");
    assert!(
        rows.iter().all(|r| r["collectionScan"] == false),
        "{rows:?}"
    );
    assert!(rows.iter().any(|r| r["query"] == "status=x"));
    // Without its indexes, the same question fails naming the scan.
    app.db
        .collection::<bson::Document>("work_orders")
        .drop_indexes()
        .await
        .unwrap();
    let o = crm_admin(&app, &["db", "explain", "work-orders"], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("COLLSCAN"));
    let o = crm_admin(&app, &["db", "explain", "spaceships"], None);
    assert_eq!(o.status.code(), Some(1));
}

#[tokio::test]
async fn a_blocked_address_gets_403_from_every_route_until_it_is_unblocked() {
    let app = TestApp::spawn_with(&[("IP_BLOCKS_REFRESH_SECONDS", "0")]).await;
    let owner = app.owner().await;
    let elsewhere = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let from_elsewhere = |path: &str| {
        let req = elsewhere
            .get(app.url(path))
            .bearer_auth(&owner.token)
            .send();
        async move { req.await.unwrap() }
    };
    assert_eq!(from_elsewhere("/api/v1/accounts").await.status(), 200);

    let usage = crm_admin(&app, &["ips", "block", "127.0.0.2"], None);
    assert_eq!(usage.status.code(), Some(2), "a block needs a reason");
    let bad = crm_admin(
        &app,
        &["ips", "block", "127.0.0.300", "--reason", "x"],
        None,
    );
    assert_eq!(bad.status.code(), Some(1));
    let blocked = admin_json(
        &app,
        &[
            "ips",
            "block",
            "127.0.0.2/31",
            "--reason",
            "credential stuffing",
        ],
    );
    assert_eq!(blocked["cidr"], "127.0.0.2/31");
    for path in [
        "/api/v1/accounts",
        "/api/v1/health",
        "/api/v1/no-such-route",
    ] {
        let r = from_elsewhere(path).await;
        assert_eq!(r.status(), 403, "{path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["code"], "ADDRESS_BLOCKED", "{path}: {body}");
    }
    // Before any other work: a blocked sign-in is not even counted.
    let r = elsewhere
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({ "email": owner.email, "password": "wrong password!" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        app.count("login_attempts", doc! { "ipAddress": "127.0.0.2" })
            .await,
        0
    );
    // Other addresses are served.
    assert_eq!(app.get("/api/v1/accounts", Some(owner)).await.status, 200);

    let listed = admin_json(&app, &["ips", "list"]);
    assert_eq!(listed[0]["reason"], "credential stuffing", "{listed}");
    let audit = app.find("audit_log", doc! { "resource": "ip_block" }).await;
    assert_eq!(audit.len(), 1);
    assert_eq!(
        audit[0].get_document("changes").unwrap().get_str("actor"),
        Ok("crm-admin")
    );

    admin_json(&app, &["ips", "unblock", "127.0.0.2/31"]);
    assert_eq!(from_elsewhere("/api/v1/accounts").await.status(), 200);
    // An address is blocked as the rate limits key it: the IPv4-mapped
    // form blocks the IPv4 client, an IPv6 address its whole /64.
    let mapped = admin_json(
        &app,
        &["ips", "block", "::ffff:127.0.0.2", "--reason", "mapped"],
    );
    assert_eq!(mapped["cidr"], "127.0.0.2/32", "{mapped}");
    assert_eq!(from_elsewhere("/api/v1/accounts").await.status(), 403);
    admin_json(&app, &["ips", "unblock", "127.0.0.2"]);
    let v6 = admin_json(
        &app,
        &["ips", "block", "2001:db8:1:2::99", "--reason", "v6"],
    );
    assert_eq!(v6["cidr"], "2001:db8:1:2::/64", "{v6}");
    admin_json(&app, &["ips", "unblock", "2001:db8:1:2::7"]);
    assert_eq!(from_elsewhere("/api/v1/accounts").await.status(), 200);
    assert_eq!(
        crm_admin(&app, &["ips", "unblock", "127.0.0.2/31"], None)
            .status
            .code(),
        Some(1)
    );
    // A block that has run out is not in force.
    admin_json(
        &app,
        &[
            "ips",
            "block",
            "127.0.0.2",
            "--reason",
            "old",
            "--until",
            "2020-01-01",
        ],
    );
    assert_eq!(from_elsewhere("/api/v1/accounts").await.status(), 200);
    assert_eq!(admin_json(&app, &["ips", "list"]), json!([]));
}

#[tokio::test]
async fn users_unlock_clears_the_failed_sign_ins_and_db_stats_sizes_every_collection() {
    let app = TestApp::spawn().await;
    let member = app.member().await;
    for _ in 0..3 {
        let r = app.sign_in(&member.email, "wrong password!").await;
        assert_eq!(r.status, 401);
    }
    let status = admin_json(&app, &["ratelimit", "status", "--email", &member.email]);
    assert_eq!(status[0]["used"], 3, "{status}");
    admin_json(&app, &["users", "unlock", &member.email]);
    let status = admin_json(&app, &["ratelimit", "status", "--email", &member.email]);
    assert_eq!(status[0]["used"], 0, "{status}");

    let stats = admin_json(&app, &["db", "stats"]);
    let users = stats["collections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["collection"] == "users")
        .unwrap_or_else(|| panic!("{stats}"));
    assert_eq!(users["documents"], 2, "{stats}");
    assert!(users["dataBytes"].as_i64().unwrap() > 0);
    assert!(users["indexes"].as_i64().unwrap() >= 4);
    assert_eq!(stats["poolPerInstance"]["max"], 4);
    assert_eq!(stats["poolPerInstance"]["min"], 0);
    assert!(
        stats["connections"]["current"].as_i64().unwrap() >= 1,
        "{stats}"
    );
}

#[tokio::test]
async fn long_work_shows_progress_on_a_terminal_only() {
    let app = TestApp::spawn().await;
    let binary = tests::lambda::function_binary("crm-admin", "debug");
    // `script` (util-linux) runs the command on a pseudo-terminal.
    let on_terminal = |args: &str| {
        let out = Command::new("script")
            .args(["-qec", &format!("{} {args}", binary.display()), "/dev/null"])
            .env_clear()
            .envs(&app.env)
            .env("LOG_LEVEL", "error")
            .env("TERM", "xterm")
            .output()
            .expect("script runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let drawn = on_terminal("migrate");
    assert!(
        drawn.contains("migrating"),
        "a spinner on a terminal: {drawn:?}"
    );
    assert!(
        !on_terminal("--json migrate").contains("migrating"),
        "none with --json"
    );
    let piped = crm_admin(&app, &["migrate"], None);
    assert!(piped.status.success());
    assert!(
        piped.stderr.is_empty(),
        "none when piped: {}",
        String::from_utf8_lossy(&piped.stderr)
    );
}
