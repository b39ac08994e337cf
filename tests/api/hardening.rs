//! Hardening, tried as an attacker would: sessions that really end (access
//! tokens included, and whatever a refresh loop races), no self-service plan
//! upgrades, hostile input that answers a 4xx instead of taking the process
//! down, throttled public endpoints, and the smaller leaks (quota spent by
//! removed members, cached or sniffed responses, secrets kept in
//! idempotency records, formula-prone CSV cells).

use crate::helpers::*;
use bson::doc;
use serde_json::{json, Value};

/// `GET /api/v1/auth/me` with a bare access token.
async fn me_with(app: &TestApp, token: &str) -> Resp {
    app.request("GET", "/api/v1/auth/me", Some(token), None, &[])
        .await
}

#[tokio::test]
async fn signing_out_everywhere_ends_every_access_and_refresh_token_at_once() {
    let app = TestApp::spawn().await;
    let laptop = app.login(&app.member().await.email).await;
    assert_eq!(me_with(&app, &laptop.token).await.status, 200);
    let r = app
        .post(
            "/api/v1/auth/logout",
            Some(app.member().await),
            json!({ "allSessions": true }),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    for session in [app.member().await, &laptop] {
        me_with(&app, &session.token)
            .await
            .assert_problem(401, "SESSION_REVOKED");
        assert_eq!(app.refresh(&session.refresh).await.status, 401);
    }
    // Signing in again works, and other users were not touched.
    let again = app.login(&app.member().await.email).await;
    assert_eq!(me_with(&app, &again.token).await.status, 200);
    assert_eq!(me_with(&app, &app.viewer().await.token).await.status, 200);
}

#[tokio::test]
async fn a_password_change_ends_every_other_session_and_every_earlier_access_token() {
    let app = TestApp::spawn().await;
    let phone = app.login(&app.member().await.email).await;
    let r = app
        .post(
            "/api/v1/auth/password",
            Some(app.member().await),
            json!({ "currentPassword": PASSWORD, "newPassword": "a brand new secret" }),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    me_with(&app, &phone.token)
        .await
        .assert_problem(401, "SESSION_REVOKED");
    assert_eq!(app.refresh(&phone.refresh).await.status, 401);
    // This session's access token predates the change too; its refresh
    // token carries the session on.
    me_with(&app, &app.member().await.token)
        .await
        .assert_problem(401, "SESSION_REVOKED");
    let renewed = app.refresh(&app.member().await.refresh).await;
    assert_eq!(renewed.status, 200, "{}", renewed.text);
    let token = renewed.body["accessToken"].as_str().unwrap();
    assert_eq!(me_with(&app, token).await.status, 200);
}

#[tokio::test]
async fn a_deactivated_member_stays_signed_out_after_reactivation() {
    let app = TestApp::spawn().await;
    let path = format!("/api/v1/members/{}", app.member().await.id);
    for status in ["INACTIVE", "ACTIVE"] {
        let r = app
            .patch(&path, Some(app.admin().await), json!({ "status": status }))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    me_with(&app, &app.member().await.token)
        .await
        .assert_problem(401, "SESSION_REVOKED");
    assert_eq!(app.refresh(&app.member().await.refresh).await.status, 401);
    let again = app.login(&app.member().await.email).await;
    assert_eq!(me_with(&app, &again.token).await.status, 200);
}

/// The thief's side of a race: refreshes in a tight loop with the newest
/// token it holds, until the server refuses; returns the last pair it got.
async fn refresh_until_refused(app: &TestApp, mut refresh: String) -> (String, String) {
    let mut access = String::new();
    for _ in 0..200 {
        let r = app.refresh(&refresh).await;
        if r.status != 200 {
            break;
        }
        access = r.str("accessToken");
        refresh = r.str("refreshToken");
    }
    (refresh, access)
}

#[tokio::test]
async fn a_refresh_loop_cannot_outrun_signing_out_everywhere() {
    let app = TestApp::spawn_with(&[("RATE_LIMIT_REFRESH", "100000")]).await;
    for round in 0..3 {
        let victim = app.login(&app.member().await.email).await;
        let stolen = app.login(&app.member().await.email).await;
        let thief = refresh_until_refused(&app, stolen.refresh.clone());
        let sign_out = async {
            tokio::time::sleep(std::time::Duration::from_millis(20 * round)).await;
            app.post(
                "/api/v1/auth/logout",
                Some(&victim),
                json!({ "allSessions": true }),
            )
            .await
        };
        let ((last_refresh, last_access), r) = tokio::join!(thief, sign_out);
        assert_eq!(r.status, 204, "{}", r.text);
        assert_eq!(
            app.refresh(&last_refresh).await.status,
            401,
            "round {round}: the thief's last refresh token still works"
        );
        for token in [&last_access, &stolen.token] {
            if !token.is_empty() {
                assert_eq!(
                    me_with(&app, token).await.status,
                    401,
                    "round {round}: the thief's access token still works"
                );
            }
        }
    }
}

#[tokio::test]
async fn a_refresh_loop_cannot_outrun_reuse_detection() {
    let app = TestApp::spawn_with(&[("RATE_LIMIT_REFRESH", "100000")]).await;
    for round in 0..3u64 {
        let victim = app.login(&app.member().await.email).await;
        // The victim's client rotates first; the thief kept the old token's
        // successor, and the victim's client presents the old one again.
        let first = app.refresh(&victim.refresh).await;
        assert_eq!(first.status, 200);
        let stolen = first.body["refreshToken"].as_str().unwrap().to_string();
        let family = victim_family(&app, &victim).await;
        let thief = refresh_until_refused(&app, stolen);
        let reuse = async {
            tokio::time::sleep(std::time::Duration::from_millis(15 * round)).await;
            app.refresh(&victim.refresh).await
        };
        let ((last_refresh, _), r) = tokio::join!(thief, reuse);
        r.assert_problem(401, "REFRESH_TOKEN_REUSED");
        assert_eq!(
            app.refresh(&last_refresh).await.status,
            401,
            "round {round}: the session survived reuse detection"
        );
        let live = app
            .count(
                "refresh_tokens",
                doc! { "familyId": family, "revokedAt": null },
            )
            .await;
        assert_eq!(live, 0, "round {round}: a live token of the ended session");
    }
}

/// The session (refresh-token family) of an actor's first refresh token.
async fn victim_family(app: &TestApp, actor: &Actor) -> bson::oid::ObjectId {
    let tokens = app
        .find(
            "refresh_tokens",
            doc! { "userId": oid(&actor.id), "tokenHash": sha256_hex(&actor.refresh) },
        )
        .await;
    tokens[0].get_object_id("familyId").unwrap()
}

fn sha256_hex(s: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn a_session_ends_at_its_absolute_lifetime_however_often_it_is_refreshed() {
    let app = TestApp::spawn_with(&[("SESSION_MAX_LIFETIME_SECONDS", "3")]).await;
    let session = app.login(&app.member().await.email).await;
    let r = app.refresh(&session.refresh).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let cookie = r.header("set-cookie").unwrap().to_string();
    let max_age: u64 = cookie
        .split("Max-Age=")
        .nth(1)
        .and_then(|v| v.split(';').next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(max_age <= 3, "{cookie}");
    let next = r.str("refreshToken");
    tokio::time::sleep(std::time::Duration::from_millis(3_500)).await;
    assert_eq!(app.refresh(&next).await.status, 401);
}

#[tokio::test]
async fn a_session_past_its_lifetime_is_refused_even_with_a_live_token() {
    let app = TestApp::spawn().await;
    let past = bson::DateTime::from_millis(bson::DateTime::now().timestamp_millis() - 1_000);
    app.db
        .collection::<bson::Document>("sessions")
        .update_many(
            doc! { "userId": oid(&app.member().await.id) },
            doc! { "$set": { "expiresAt": past } },
        )
        .await
        .unwrap();
    app.refresh(&app.member().await.refresh)
        .await
        .assert_problem(401, "SESSION_EXPIRED");
}

#[tokio::test]
async fn an_owner_cannot_upgrade_the_plan_through_the_api() {
    let app = TestApp::spawn().await;
    for plan in ["PRO", "ENTERPRISE"] {
        app.put(
            "/api/v1/organization/plan",
            Some(app.owner().await),
            json!({ "plan": plan }),
        )
        .await
        .assert_problem(403, "PLAN_CHANGE_REQUIRES_BILLING");
    }
    let org = app
        .get("/api/v1/organization", Some(app.owner().await))
        .await;
    assert_eq!(org.body["plan"], "FREE");
    assert_eq!(
        app.count(
            "audit_log",
            doc! { "resource": "organization", "action": "UPDATE" }
        )
        .await,
        0
    );
    let next = app.get("/api/v1/accounts", Some(app.owner().await)).await;
    assert_eq!(next.header("ratelimit-limit"), Some("100"));
    // Staying on the plan one has changes nothing and is no error.
    let same = app
        .put(
            "/api/v1/organization/plan",
            Some(app.owner().await),
            json!({ "plan": "FREE" }),
        )
        .await;
    assert_eq!(same.status, 200, "{}", same.text);
}

#[tokio::test]
async fn an_import_with_a_column_beside_its_own_sub_field_is_a_422_and_the_server_lives_on() {
    let app = TestApp::spawn().await;
    for csv in [
        "name,address,address.city\nAcme,Main Street,Berlin\n",
        "name,address.city,address\nAcme,Berlin,Main Street\n",
        "name,name\nAcme,Other\n",
    ] {
        let r = app
            .post(
                "/api/v1/imports",
                Some(app.admin().await),
                json!({ "entity": "accounts", "csv": csv }),
            )
            .await;
        r.assert_problem(422, "CONFLICTING_COLUMNS");
        assert!(
            r.body["detail"].as_str().unwrap().contains("address") || csv.starts_with("name,name")
        );
    }
    assert_eq!(app.get("/api/v1/health", None).await.status, 200);
    assert_eq!(app.count("accounts", doc! {}).await, 0);
}

#[tokio::test]
async fn hostile_search_text_never_answers_a_server_error() {
    let app = TestApp::spawn().await;
    app.create_account(app.owner().await, "a.b(c) [x]").await;
    app.create_account(app.owner().await, "abxc").await;
    let long = "q".repeat(5_000);
    for q in [
        "%00",
        "a%00b",
        "%FF%FE%FD",
        "%C3%28",
        long.as_str(),
        ".*",
        "(",
        "%5C",
        "[",
        "%24where",
        "%5E.*%24",
    ] {
        let r = app
            .get(&format!("/api/v1/accounts?q={q}"), Some(app.owner().await))
            .await;
        assert!(r.status < 500, "q={q}: {} {}", r.status, r.text);
        assert!(
            r.status == 200 || r.status == 400,
            "q={q}: {} {}",
            r.status,
            r.text
        );
    }
    // Metacharacters match themselves.
    let r = app
        .get("/api/v1/accounts?q=a.b(c)", Some(app.owner().await))
        .await;
    assert_eq!(r.status, 200);
    let names: Vec<&str> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a.b(c) [x]"]);
    let r = app
        .get("/api/v1/accounts?q=.*", Some(app.owner().await))
        .await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 0);
    let r = app
        .get("/api/v1/accounts?q=a%00b", Some(app.owner().await))
        .await;
    r.assert_problem(400, "INVALID_PARAMETER");
}

/// Every request after the limit: 429 with Retry-After and the RateLimit headers.
#[track_caller]
fn assert_throttled(r: &Resp) {
    r.assert_problem(429, "RATE_LIMIT_EXCEEDED");
    assert!(r.header("retry-after").is_some(), "{:?}", r.headers);
    assert_eq!(r.header("ratelimit-remaining"), Some("0"));
}

#[tokio::test]
async fn sign_up_is_throttled_per_client_address_at_20_an_hour() {
    let app = TestApp::spawn().await;
    app.everyone().await;
    // The app's two organizations were the first two sign-ups.
    for n in 2..20 {
        app.register(&format!("Garage {n}")).await;
    }
    let r = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({ "organizationName": "One Too Many", "email": "late@example.test",
                    "password": PASSWORD, "firstName": "Lea", "lastName": "Late" }),
        )
        .await;
    assert_throttled(&r);
    assert_eq!(
        app.count("users", doc! { "email": "late@example.test" })
            .await,
        0
    );
}

#[tokio::test]
async fn join_reset_accept_and_refresh_are_throttled_per_client_address() {
    let app = TestApp::spawn_with(&[
        ("RATE_LIMIT_JOIN", "2"),
        ("RATE_LIMIT_PASSWORD_RESET", "2"),
        ("RATE_LIMIT_INVITATION_ACCEPT", "2"),
        ("RATE_LIMIT_REFRESH", "2"),
    ])
    .await;
    let attempts: [(&str, Value); 4] = [
        (
            "/api/v1/auth/join",
            json!({ "organizationSlug": "nope", "email": "j@example.test", "password": PASSWORD,
                    "firstName": "J", "lastName": "Oin" }),
        ),
        (
            "/api/v1/auth/password-reset",
            json!({ "token": "guess", "newPassword": "a brand new secret" }),
        ),
        (
            "/api/v1/invitations/accept",
            json!({ "token": "guess", "password": PASSWORD, "firstName": "I", "lastName": "Nvitee" }),
        ),
        ("/api/v1/auth/refresh", json!({ "refreshToken": "guess" })),
    ];
    for (path, body) in attempts {
        for _ in 0..2 {
            let r = app.post(path, None, body.clone()).await;
            assert_ne!(r.status, 429, "{path}: {}", r.text);
            assert!(r.header("ratelimit-limit").is_some(), "{path}");
        }
        assert_throttled(&app.post(path, None, body).await);
    }
}

#[tokio::test]
async fn a_removed_members_old_token_spends_none_of_the_organizations_quota() {
    let app = TestApp::spawn().await;
    let r = app
        .delete(
            &format!("/api/v1/members/{}", app.member().await.id),
            Some(app.owner().await),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let spent = || async {
        app.find(
            "rate_limits",
            doc! { "action": "api", "key": &app.owner().await.org_id },
        )
        .await
        .iter()
        .map(|d| d.get_i64("count").unwrap_or(0))
        .sum::<i64>()
    };
    let before = spent().await;
    for _ in 0..5 {
        let r = app.get("/api/v1/accounts", Some(app.member().await)).await;
        assert_eq!(r.status, 401, "{}", r.text);
    }
    assert_eq!(spent().await, before);
}

#[tokio::test]
async fn a_leads_status_is_converted_only_by_the_conversion_and_then_stays() {
    let app = TestApp::spawn().await;
    let r = app
        .post(
            "/api/v1/leads",
            Some(app.member().await),
            json!({ "firstName": "Lena", "lastName": "Lead", "status": "CONVERTED" }),
        )
        .await;
    r.assert_problem(422, "VALIDATION_FAILED");
    assert_eq!(r.error_fields(), ["status"]);
    let id = app
        .create_record(
            app.member().await,
            "leads",
            json!({ "firstName": "Lena", "lastName": "Lead", "company": "Lead Motors" }),
        )
        .await;
    let path = format!("/api/v1/leads/{id}");
    let r = app
        .patch(
            &path,
            Some(app.member().await),
            json!({ "status": "CONVERTED" }),
        )
        .await;
    assert_eq!(r.error_fields(), ["status"]);
    assert_eq!(
        app.get(&path, Some(app.member().await)).await.body["status"],
        "NEW"
    );
    let r = app
        .post(
            &format!("{path}/convert"),
            Some(app.member().await),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    for status in ["NEW", "QUALIFIED"] {
        let r = app
            .patch(&path, Some(app.admin().await), json!({ "status": status }))
            .await;
        r.assert_problem(422, "VALIDATION_FAILED");
        assert_eq!(r.error_fields(), ["status"]);
    }
    let r = app
        .patch(
            &path,
            Some(app.admin().await),
            json!({ "phone": "+49 30 1234" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "CONVERTED");
}

#[tokio::test]
async fn csv_exports_quote_every_cell() {
    let app = TestApp::spawn().await;
    app.create_account(app.owner().await, "Acme;=HYPERLINK(\"http://x.example\")")
        .await;
    let r = app
        .post(
            "/api/v1/exports",
            Some(app.admin().await),
            json!({ "entity": "accounts", "format": "csv" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.text
            .contains("\"Acme;=HYPERLINK(\"\"http://x.example\"\")\""),
        "{}",
        r.text
    );
    for line in r.text.lines() {
        assert!(
            line.starts_with('"') && line.ends_with('"'),
            "unquoted: {line}"
        );
    }
}

#[tokio::test]
async fn responses_are_not_cached_and_not_sniffed() {
    let app = TestApp::spawn().await;
    let r = app.get("/api/v1/accounts", Some(app.viewer().await)).await;
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    for r in [
        app.get("/api/v1/nothing-here", None).await,
        app.get("/api/v1/health", None).await,
        app.get("/api/v1/accounts", None).await,
    ] {
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    }
}

#[tokio::test]
async fn an_idempotency_record_keeps_no_secret_in_plain_text_yet_replays() {
    let app = TestApp::spawn().await;
    let body =
        serde_json::to_vec(&json!({ "email": "new.hire@example.test", "role": "MEMBER" })).unwrap();
    let owner = app.owner().await;
    let send = || {
        app.request(
            "POST",
            "/api/v1/invitations?returnToken=true",
            Some(&owner.token),
            Some(body.clone()),
            &[("idempotency-key", "invite-new-hire-1")],
        )
    };
    let first = send().await;
    assert_eq!(first.status, 201, "{}", first.text);
    let token = first.body["token"].as_str().expect("invitation token");
    let stored = app.find("idempotency_keys", doc! {}).await;
    assert_eq!(stored.len(), 1);
    let raw = bson::to_vec(&stored[0]).unwrap();
    assert!(
        !raw.windows(token.len()).any(|w| w == token.as_bytes()),
        "the invitation token is stored in plain text"
    );
    let again = send().await;
    assert_eq!(again.status, 201);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body["token"], token);
    assert_eq!(app.count("invitations", doc! {}).await, 1);
}
