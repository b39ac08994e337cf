//! Access-token verification on every protected route, and refresh-token
//! rotation with reuse detection.

use crate::helpers::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bson::doc;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use shared::rbac::Access;

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn sign(claims: &serde_json::Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn claims_for(actor: &Actor, exp: u64) -> serde_json::Value {
    json!({ "sub": actor.id, "org": actor.org_id, "sid": "65a1b2c3d4e5f60718293a4b",
            "iss": "workshop-crm", "aud": "workshop-crm-api", "iat": now() - 1000, "exp": exp })
}

/// Every protected method of every route, with `{id}` filled in.
fn protected() -> Vec<(&'static str, String)> {
    let mut out = vec![];
    for route in functions::routes::ROUTES.iter() {
        for endpoint in route.methods {
            let (verb, access) = (&endpoint.method, &endpoint.access);
            if let Access::Requires(_) = access {
                out.push((
                    verb.as_str(),
                    route.path.replace("{id}", "65a1b2c3d4e5f60718293a4b"),
                ));
            }
        }
    }
    out
}

#[tokio::test]
async fn every_protected_route_refuses_missing_expired_forged_and_unsigned_tokens() {
    let app = TestApp::spawn().await;
    let expired = sign(&claims_for(app.owner().await, now() - 60), JWT_SECRET);
    let wrong_key = sign(
        &claims_for(app.owner().await, now() + 600),
        "another-secret-0123456789abcdef0123",
    );
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims_for(app.owner().await, now() + 600).to_string());
    let unsigned = format!("{header}.{payload}.");
    let routes = protected();
    assert!(routes.len() >= 8, "route table lost its protected routes");
    for (method, path) in routes {
        let body = Some(b"{}".to_vec());
        let r = app.request(method, &path, None, body.clone(), &[]).await;
        r.assert_problem(401, "UNAUTHENTICATED");
        for token in [&expired, &wrong_key, &unsigned, &"garbage".to_string()] {
            let r = app
                .request(method, &path, Some(token), body.clone(), &[])
                .await;
            r.assert_problem(401, "INVALID_TOKEN");
        }
    }
}

#[tokio::test]
async fn a_token_of_a_deleted_user_is_refused() {
    let app = TestApp::spawn().await;
    app.db
        .collection::<bson::Document>("users")
        .delete_one(doc! { "_id": oid(&app.viewer().await.id) })
        .await
        .unwrap();
    app.get("/api/v1/accounts", Some(app.viewer().await))
        .await
        .assert_problem(401, "INVALID_TOKEN");
}

#[tokio::test]
async fn a_refresh_returns_a_new_pair_and_the_used_token_dies() {
    let app = TestApp::spawn().await;
    let r = app.refresh(&app.member().await.refresh).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let new_refresh = r.str("refreshToken");
    assert_ne!(new_refresh, app.member().await.refresh);
    let token = r.body["accessToken"].as_str().unwrap();
    let me = app
        .request("GET", "/api/v1/auth/me", Some(token), None, &[])
        .await;
    assert_eq!(me.status, 200);
    let stored = app
        .find(
            "refresh_tokens",
            doc! { "userId": oid(&app.member().await.id) },
        )
        .await;
    assert!(stored
        .iter()
        .all(|t| t.get_str("tokenHash").unwrap().len() == 64));
    assert!(
        !stored.iter().any(|t| t.to_string().contains(&new_refresh)),
        "token stored in clear"
    );
}

#[tokio::test]
async fn the_refresh_cookie_works_in_place_of_the_body() {
    let app = TestApp::spawn().await;
    let cookie = format!("refresh_token={}", app.member().await.refresh);
    let r = app
        .request(
            "POST",
            "/api/v1/auth/refresh",
            None,
            None,
            &[("cookie", &cookie)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r
        .header("set-cookie")
        .unwrap()
        .starts_with("refresh_token="));
}

#[tokio::test]
async fn a_rotated_out_token_presented_again_revokes_its_whole_family() {
    let app = TestApp::spawn().await;
    let first = app.refresh(&app.member().await.refresh).await;
    let current = first.body["refreshToken"].as_str().unwrap().to_string();
    // The thief replays the old token.
    let replay = app.refresh(&app.member().await.refresh).await;
    replay.assert_problem(401, "REFRESH_TOKEN_REUSED");
    // The legitimate holder's newer token is dead too.
    let r = app.refresh(&current).await;
    assert_eq!(r.status, 401);
    assert_eq!(app.audits("TOKEN_REUSE_DETECTED").await.len(), 1);
    // Another session of the same user is untouched.
    let other_session = app.login(&app.member().await.email).await;
    let r = app.refresh(&other_session.refresh).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn fifty_concurrent_refreshes_with_one_token_give_exactly_one_new_pair() {
    // Fifty writers on one token family and one rate-limit bucket queue on
    // the suite's loaded one-process database server: give them time to
    // (exactly once is the claim here, not latency).
    let app = TestApp::spawn_with(&[("DB_TIMEOUT_MS", "20000")]).await;
    let member = app.member().await;
    let attempts = (0..50).map(|_| app.refresh(&member.refresh));
    let results = futures_util::future::join_all(attempts).await;
    let ok = results.iter().filter(|r| r.status == 200).count();
    assert_eq!(
        ok,
        1,
        "statuses: {:?}",
        results.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let odd: Vec<&str> = results
        .iter()
        .filter(|r| r.status != 200 && r.status != 401)
        .map(|r| r.text.as_str())
        .collect();
    assert!(odd.is_empty(), "{odd:?}");
}

#[tokio::test]
async fn a_refresh_without_a_token_names_the_field() {
    let app = TestApp::spawn().await;
    let r = app.post("/api/v1/auth/refresh", None, json!({})).await;
    r.assert_problem(422, "VALIDATION_FAILED");
    assert_eq!(r.error_fields(), ["refreshToken"]);
    let r = app.refresh("made-up").await;
    r.assert_problem(401, "INVALID_REFRESH_TOKEN");
}

#[tokio::test]
async fn a_deactivated_user_cannot_refresh() {
    let app = TestApp::spawn().await;
    app.set_user(app.member().await, doc! { "status": "INACTIVE" })
        .await;
    let r = app.refresh(&app.member().await.refresh).await;
    r.assert_problem(403, "USER_INACTIVE");
}

/// The payload of a JWT's header, as JSON.
fn jwt_header(token: &str) -> serde_json::Value {
    use base64::Engine;
    let head = token.split('.').next().unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(head)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn a_rotated_jwt_secret_keeps_issued_tokens_valid_while_it_is_the_previous_one() {
    const NEW_SECRET: &str = "a-brand-new-signing-secret-0123456789abcdef";
    let before = TestApp::spawn().await;
    let owner = before.owner().await;
    let old_kid = jwt_header(&owner.token)["kid"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(old_kid.starts_with('k') && !old_kid.contains(JWT_SECRET));
    // The same database, served after the rotation.
    let db = before.env["MONGODB_DB"].clone();
    let rotated = TestApp::spawn_with(&[
        ("MONGODB_DB", db.as_str()),
        ("JWT_SECRET", NEW_SECRET),
        ("JWT_SECRET_PREVIOUS", JWT_SECRET),
    ])
    .await;
    let me = rotated.get("/api/v1/auth/me", Some(owner)).await;
    assert_eq!(
        me.status, 200,
        "a token signed before the rotation: {}",
        me.text
    );
    let fresh = rotated.login(&owner.email).await;
    let new_kid = jwt_header(&fresh.token)["kid"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(
        new_kid, old_kid,
        "new tokens are signed with the new secret"
    );
    assert_eq!(
        rotated.get("/api/v1/auth/me", Some(&fresh)).await.status,
        200
    );
    // An instance still on the old secret does not take the new tokens...
    before
        .get("/api/v1/auth/me", Some(&fresh))
        .await
        .assert_problem(401, "INVALID_TOKEN");
    // ...and once the previous secret is dropped, the old tokens are void.
    let after =
        TestApp::spawn_with(&[("MONGODB_DB", db.as_str()), ("JWT_SECRET", NEW_SECRET)]).await;
    after
        .get("/api/v1/auth/me", Some(owner))
        .await
        .assert_problem(401, "INVALID_TOKEN");
    assert_eq!(after.get("/api/v1/auth/me", Some(&fresh)).await.status, 200);
}

#[tokio::test]
async fn cursors_and_sync_tokens_signed_before_a_rotation_still_page_and_sync() {
    const NEW_SECRET: &str = "a-brand-new-signing-secret-0123456789abcdef";
    let before = TestApp::spawn().await;
    let owner = before.owner().await;
    for n in 0..3 {
        before.create_account(owner, &format!("Rotation {n}")).await;
    }
    let page = before.get("/api/v1/accounts?limit=2", Some(owner)).await;
    let cursor = page.str("nextCursor");
    let synced = before
        .get("/api/v1/accounts?updatedSince=0&limit=100", Some(owner))
        .await;
    let token = synced.str("syncToken");
    let enc = |s: &str| {
        s.replace('=', "%3D")
            .replace('+', "%2B")
            .replace('/', "%2F")
    };

    let db = before.env["MONGODB_DB"].clone();
    let rotated = TestApp::spawn_with(&[
        ("MONGODB_DB", db.as_str()),
        ("JWT_SECRET", NEW_SECRET),
        ("JWT_SECRET_PREVIOUS", JWT_SECRET),
    ])
    .await;
    let fresh = rotated.login(&owner.email).await;
    let next = rotated
        .get(
            &format!("/api/v1/accounts?limit=2&cursor={}", enc(&cursor)),
            Some(&fresh),
        )
        .await;
    assert_eq!(next.status, 200, "{}", next.text);
    assert_eq!(next.body["data"].as_array().unwrap().len(), 1);
    let delta = rotated
        .get(
            &format!("/api/v1/accounts?updatedSince={}", enc(&token)),
            Some(&fresh),
        )
        .await;
    assert_eq!(delta.status, 200, "{}", delta.text);
    assert!(delta.body["syncToken"].is_string(), "{}", delta.text);

    // Once the previous secret is dropped they no longer verify; a sync
    // token then asks for a full resync rather than failing the client.
    let after =
        TestApp::spawn_with(&[("MONGODB_DB", db.as_str()), ("JWT_SECRET", NEW_SECRET)]).await;
    after
        .get(
            &format!("/api/v1/accounts?limit=2&cursor={}", enc(&cursor)),
            Some(&fresh),
        )
        .await
        .assert_problem(400, "INVALID_CURSOR");
    after
        .get(
            &format!("/api/v1/accounts?updatedSince={}", enc(&token)),
            Some(&fresh),
        )
        .await
        .assert_problem(410, "RESYNC_REQUIRED");
}
