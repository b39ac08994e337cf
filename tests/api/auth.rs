//! Register, login (statuses, throttling, uniform failures), me, logout.

use crate::helpers::*;
use bson::doc;
use serde_json::{json, Value};

fn registration(email: &str, password: &str) -> Value {
    json!({ "organizationName": "Bolt & Nut Garage", "email": email, "password": password,
            "firstName": "Bea", "lastName": "Bolt" })
}

#[tokio::test]
async fn register_creates_a_free_organization_and_its_active_owner() {
    let app = TestApp::spawn().await;
    app.everyone().await;
    let r = app
        .post(
            "/api/v1/auth/register",
            None,
            registration("Bea@Example.test", PASSWORD),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["organization"]["plan"], "FREE");
    assert_eq!(r.body["organization"]["slug"], "bolt-nut-garage");
    assert_eq!(r.body["user"]["role"], "OWNER");
    assert_eq!(r.body["user"]["status"], "ACTIVE");
    assert_eq!(r.body["user"]["email"], "bea@example.test");
    assert_eq!(r.body["expiresIn"], 900);
    assert!(r.body["accessToken"].is_string() && r.body["refreshToken"].is_string());
    assert!(!r.text.contains("passwordHash") && !r.text.contains("$2b$"));
    let org = app
        .find("organizations", doc! { "slug": "bolt-nut-garage" })
        .await;
    assert_eq!(org.len(), 1);
    assert_eq!(
        app.audits("CREATE")
            .await
            .iter()
            .filter(|a| a.get_str("resource") == Ok("organization"))
            .count(),
        3
    );
}

#[tokio::test]
async fn a_second_organization_with_the_same_name_gets_another_slug() {
    let app = TestApp::spawn().await;
    let a = app
        .post(
            "/api/v1/auth/register",
            None,
            registration("a@example.test", PASSWORD),
        )
        .await;
    let b = app
        .post(
            "/api/v1/auth/register",
            None,
            registration("b@example.test", PASSWORD),
        )
        .await;
    assert_eq!((a.status, b.status), (201, 201));
    assert_ne!(
        a.body["organization"]["slug"],
        b.body["organization"]["slug"]
    );
}

#[tokio::test]
async fn register_with_an_email_in_use_is_a_409_and_creates_nothing() {
    let app = TestApp::spawn().await;
    app.everyone().await;
    let orgs_before = app.count("organizations", doc! {}).await;
    let r = app
        .post(
            "/api/v1/auth/register",
            None,
            registration(&app.member().await.email, PASSWORD),
        )
        .await;
    r.assert_problem(409, "ALREADY_EXISTS");
    assert_eq!(r.error_fields(), ["email"]);
    assert_eq!(app.count("organizations", doc! {}).await, orgs_before);
}

#[tokio::test]
async fn a_password_under_10_or_over_71_bytes_is_refused_with_a_field_error() {
    let app = TestApp::spawn().await;
    for password in ["123456789".to_string(), "x".repeat(72), "é".repeat(36)] {
        let r = app
            .post(
                "/api/v1/auth/register",
                None,
                registration("p@example.test", &password),
            )
            .await;
        r.assert_problem(422, "VALIDATION_FAILED");
        assert_eq!(r.error_fields(), ["password"]);
    }
    assert_eq!(
        app.count("users", doc! { "email": "p@example.test" }).await,
        0
    );
    let ok = app
        .post(
            "/api/v1/auth/register",
            None,
            registration("p@example.test", &"x".repeat(71)),
        )
        .await;
    assert_eq!(ok.status, 201);
}

#[tokio::test]
async fn login_returns_tokens_and_a_strict_http_only_refresh_cookie() {
    let app = TestApp::spawn().await;
    app.everyone().await;
    let r = app.sign_in(&app.member().await.email, PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["user"]["role"], "MEMBER");
    let cookie = r.header("set-cookie").unwrap();
    assert!(cookie.starts_with(&format!(
        "refresh_token={}",
        r.body["refreshToken"].as_str().unwrap()
    )));
    for flag in ["HttpOnly", "Secure", "SameSite=Strict"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    assert_eq!(app.audits("LOGIN").await.len(), 4);
}

fn without_request_id(mut v: Value) -> Value {
    v.as_object_mut().unwrap().remove("requestId");
    v
}

#[tokio::test]
async fn unknown_email_and_wrong_password_get_the_same_401_body() {
    let app = TestApp::spawn().await;
    let unknown = app.sign_in("nobody@example.test", PASSWORD).await;
    let wrong = app
        .sign_in(&app.member().await.email, "wrong password!")
        .await;
    unknown.assert_problem(401, "INVALID_CREDENTIALS");
    assert_eq!(wrong.status, 401);
    assert_eq!(
        without_request_id(unknown.body),
        without_request_id(wrong.body)
    );
    let attempts = app.find("login_attempts", doc! { "success": false }).await;
    let reasons: Vec<&str> = attempts
        .iter()
        .map(|a| a.get_str("reason").unwrap())
        .collect();
    assert_eq!(reasons, ["UNKNOWN_EMAIL", "WRONG_PASSWORD"]);
    let failed = app.audits("LOGIN_FAILED").await;
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0].get_object_id("userId").unwrap(),
        oid(&app.member().await.id)
    );
}

#[tokio::test]
async fn pending_and_inactive_users_are_refused_with_a_code_only_after_a_correct_password() {
    let app = TestApp::spawn().await;
    for (status, code) in [("PENDING", "USER_PENDING"), ("INACTIVE", "USER_INACTIVE")] {
        app.set_user(app.viewer().await, doc! { "status": status })
            .await;
        let wrong = app
            .sign_in(&app.viewer().await.email, "not the password")
            .await;
        wrong.assert_problem(401, "INVALID_CREDENTIALS");
        let right = app.sign_in(&app.viewer().await.email, PASSWORD).await;
        right.assert_problem(403, code);
        assert!(right.body.get("accessToken").is_none());
    }
}

#[tokio::test]
async fn members_of_an_inactive_organization_cannot_sign_in_or_call_the_api() {
    let app = TestApp::spawn().await;
    app.everyone().await;
    app.db
        .collection::<bson::Document>("organizations")
        .update_one(
            doc! { "_id": oid(&app.owner().await.org_id) },
            doc! { "$set": { "isActive": false } },
        )
        .await
        .unwrap();
    let r = app.sign_in(&app.admin().await.email, PASSWORD).await;
    r.assert_problem(403, "ORGANIZATION_INACTIVE");
    app.get("/api/v1/accounts", Some(app.admin().await))
        .await
        .assert_problem(403, "ORGANIZATION_INACTIVE");
    assert_eq!(
        app.get("/api/v1/accounts", Some(app.other().await))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_deactivated_member_is_refused_on_the_next_request() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.get("/api/v1/accounts", Some(app.member().await))
            .await
            .status,
        200
    );
    app.set_user(app.member().await, doc! { "status": "INACTIVE" })
        .await;
    app.get("/api/v1/accounts", Some(app.member().await))
        .await
        .assert_problem(403, "USER_INACTIVE");
}

#[tokio::test]
async fn a_role_change_takes_effect_on_the_next_request() {
    let app = TestApp::spawn().await;
    let r = app
        .post(
            "/api/v1/accounts",
            Some(app.viewer().await),
            json!({ "name": "A" }),
        )
        .await;
    assert_eq!(r.status, 403);
    app.set_user(app.viewer().await, doc! { "role": "MEMBER" })
        .await;
    let r = app
        .post(
            "/api/v1/accounts",
            Some(app.viewer().await),
            json!({ "name": "A" }),
        )
        .await;
    assert_eq!(r.status, 201);
}

#[tokio::test]
async fn ten_failed_logins_for_one_email_throttle_it_whatever_x_forwarded_for_says() {
    let app = TestApp::spawn().await;
    let body = json!({ "email": app.member().await.email, "password": "wrong password!" });
    let bytes = serde_json::to_vec(&body).unwrap();
    for i in 0..10 {
        let xff = format!("10.0.0.{i}");
        let r = app
            .request(
                "POST",
                "/api/v1/auth/login",
                None,
                Some(bytes.clone()),
                &[("x-forwarded-for", &xff)],
            )
            .await;
        assert_eq!(r.status, 401, "attempt {i}: {}", r.text);
    }
    let r = app
        .sign_in_via(&app.member().await.email, PASSWORD, "10.9.9.9")
        .await;
    r.assert_problem(429, "RATE_LIMIT_EXCEEDED");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry));
    // Another email from the same address still gets through.
    let r = app.sign_in(&app.viewer().await.email, PASSWORD).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn a_hundred_failed_logins_from_one_address_throttle_it_whatever_x_forwarded_for_says() {
    let app = TestApp::spawn().await;
    app.everyone().await;
    for i in 0..100 {
        let xff = format!("192.0.2.{}", i % 250);
        let r = app
            .sign_in_via(&format!("guess{i}@example.test"), "wrong password!", &xff)
            .await;
        assert_eq!(r.status, 401, "attempt {i}");
    }
    let r = app
        .sign_in_via(&app.viewer().await.email, PASSWORD, "198.51.100.7")
        .await;
    r.assert_problem(429, "RATE_LIMIT_EXCEEDED");
    assert!(r.header("retry-after").is_some());
}

#[tokio::test]
async fn a_successful_login_does_not_count_as_a_failure() {
    let app = TestApp::spawn().await;
    for _ in 0..12 {
        let r = app.sign_in(&app.member().await.email, PASSWORD).await;
        assert_eq!(r.status, 200);
    }
}

#[tokio::test]
async fn a_hash_of_a_lower_cost_is_upgraded_at_the_next_login() {
    let app = TestApp::spawn_with(&[("BCRYPT_COST", "5")]).await;
    let old = bcrypt::hash(PASSWORD, 4).unwrap();
    app.set_user(app.member().await, doc! { "passwordHash": &old })
        .await;
    let r = app.sign_in(&app.member().await.email, PASSWORD).await;
    assert_eq!(r.status, 200);
    let user = app
        .find("users", doc! { "_id": oid(&app.member().await.id) })
        .await
        .remove(0);
    assert!(user.get_str("passwordHash").unwrap().starts_with("$2b$05$"));
}

#[tokio::test]
async fn me_returns_the_caller_with_role_and_plan_and_no_secrets() {
    let app = TestApp::spawn().await;
    let r = app.get("/api/v1/auth/me", Some(app.admin().await)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["role"], "ADMIN");
    assert_eq!(r.body["plan"], "FREE");
    assert_eq!(r.body["user"]["id"], app.admin().await.id.as_str());
    assert_eq!(
        r.body["organization"]["id"],
        app.admin().await.org_id.as_str()
    );
    assert!(!r.text.contains("passwordHash"));
}

#[tokio::test]
async fn logout_revokes_the_presented_refresh_token_only() {
    let app = TestApp::spawn().await;
    let second = app.login(&app.member().await.email).await;
    let r = app
        .post(
            "/api/v1/auth/logout",
            Some(app.member().await),
            json!({ "refreshToken": app.member().await.refresh }),
        )
        .await;
    assert_eq!(r.status, 204);
    assert!(r.header("set-cookie").unwrap().contains("Max-Age=0"));
    let dead = app.refresh(&app.member().await.refresh).await;
    dead.assert_problem(401, "INVALID_REFRESH_TOKEN");
    let alive = app.refresh(&second.refresh).await;
    assert_eq!(alive.status, 200);
    assert_eq!(app.audits("LOGOUT").await.len(), 1);
}

#[tokio::test]
async fn logout_of_all_sessions_revokes_every_refresh_token_of_the_user() {
    let app = TestApp::spawn().await;
    let second = app.login(&app.member().await.email).await;
    let r = app
        .post(
            "/api/v1/auth/logout",
            Some(app.member().await),
            json!({ "allSessions": true }),
        )
        .await;
    assert_eq!(r.status, 204);
    for token in [&app.member().await.refresh, &second.refresh] {
        let r = app.refresh(token).await;
        assert_eq!(r.status, 401);
    }
    // Other users keep their sessions.
    let r = app.refresh(&app.viewer().await.refresh).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn a_user_cannot_revoke_someone_elses_refresh_token() {
    let app = TestApp::spawn().await;
    let r = app
        .post(
            "/api/v1/auth/logout",
            Some(app.member().await),
            json!({ "refreshToken": app.viewer().await.refresh }),
        )
        .await;
    assert_eq!(r.status, 204);
    let r = app.refresh(&app.viewer().await.refresh).await;
    assert_eq!(r.status, 200);
}
