//! The plan's API bucket, counted in MongoDB: exact under concurrency,
//! RateLimit-* headers on every response, 429 with Retry-After, and one
//! RATE_LIMIT_EXCEEDED audit entry per window.

use crate::helpers::*;
use bson::doc;
use bson::oid::ObjectId;

#[tokio::test]
async fn a_free_organization_gets_exactly_100_of_101_requests_in_a_minute() {
    let app = TestApp::spawn().await;
    let fresh = app.register("Fresh Free Garage").await;
    let mut statuses = vec![];
    for _ in 0..101 {
        statuses.push(app.get("/api/v1/accounts", Some(&fresh)).await);
    }
    let passed = statuses.iter().filter(|r| r.status == 200).count();
    let odd: Vec<&str> = statuses
        .iter()
        .filter(|r| r.status != 200 && r.status != 429)
        .map(|r| r.text.as_str())
        .collect();
    assert_eq!(passed, 100, "unexpected answers: {odd:?}");
    let first = &statuses[0];
    assert_eq!(first.header("ratelimit-limit"), Some("100"));
    assert_eq!(first.header("ratelimit-remaining"), Some("99"));
    let reset: u64 = first.header("ratelimit-reset").unwrap().parse().unwrap();
    assert!((1..=60).contains(&reset));
    let last = statuses.last().unwrap();
    last.assert_problem(429, "RATE_LIMIT_EXCEEDED");
    assert_eq!(last.header("ratelimit-remaining"), Some("0"));
    let retry: u64 = last.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    // Other organizations are not affected.
    assert_eq!(
        app.get("/api/v1/accounts", Some(app.other().await))
            .await
            .status,
        200
    );
}

/// The driver delivers a write again when its connection drops (a loaded
/// server's late heartbeat clears the pool), and the second delivery can
/// overtake the first on the server: a bump delivered twice counts once.
#[tokio::test]
async fn a_bump_delivered_twice_counts_once() {
    use shared::ratelimit::{bump, peek, LimitedAction};
    let app = TestApp::spawn().await;
    let (a, b) = (ObjectId::new(), ObjectId::new());
    let key = a.to_hex();
    let action = LimitedAction::Api;
    assert_eq!(bump(&app.state, action, &key, a).await.unwrap().count, 1);
    assert_eq!(bump(&app.state, action, &key, a).await.unwrap().count, 1);
    assert_eq!(bump(&app.state, action, &key, b).await.unwrap().count, 2);
    // Redelivered after another bump, the first still counts once.
    assert_eq!(bump(&app.state, action, &key, a).await.unwrap().count, 2);
    assert_eq!(peek(&app.state, action, &key).await.unwrap().0, 2);
}

/// A refused caller's count is taken back from the window it was counted
/// in, even when that window has ended by the time of the undo.
#[tokio::test]
async fn a_count_taken_back_after_its_window_ended_comes_off_that_window() {
    use shared::ratelimit::{bump, peek, undo_at, LimitedAction};
    let app = TestApp::spawn().await;
    let key = ObjectId::new().to_hex();
    let action = LimitedAction::Api;
    let counted = bump(&app.state, action, &key, ObjectId::new())
        .await
        .unwrap();
    app.clock.advance(action.window_secs());
    bump(&app.state, action, &key, ObjectId::new())
        .await
        .unwrap();
    undo_at(&app.state, action, &key, counted.now).await;
    assert_eq!(
        peek(&app.state, action, &key).await.unwrap().0,
        1,
        "the new window keeps its count"
    );
    let mut buckets = app.find("rate_limits", doc! { "key": &key }).await;
    buckets.sort_by_key(|b| *b.get_datetime("expiresAt").unwrap());
    let counts: Vec<i64> = buckets
        .iter()
        .map(|b| b.get_i64("count").unwrap())
        .collect();
    assert_eq!(counts, [0, 1], "the old window's count came back off it");
}

#[tokio::test]
async fn of_150_concurrent_requests_on_a_fresh_bucket_exactly_100_pass() {
    let app = TestApp::spawn().await;
    let fresh = app.register("Concurrent Garage").await;
    let requests = (0..150).map(|_| app.get("/api/v1/auth/me", Some(&fresh)));
    let results = futures_util::future::join_all(requests).await;
    let passed = results.iter().filter(|r| r.status == 200).count();
    let refused = results.iter().filter(|r| r.status == 429).count();
    assert_eq!((passed, refused), (100, 50));
    // One audit entry for the window, not one per refused request.
    let entries = app
        .find(
            "audit_log",
            doc! { "action": "RATE_LIMIT_EXCEEDED", "organizationId": oid(&fresh.org_id) },
        )
        .await;
    assert_eq!(entries.len(), 1);
    assert_eq!(
        entries[0]
            .get_document("changes")
            .unwrap()
            .get_str("bucket")
            .unwrap(),
        "api"
    );
}

#[tokio::test]
async fn a_configured_limit_replaces_the_plan_default_and_a_plan_change_applies_at_once() {
    let app = TestApp::spawn_with(&[("RATE_LIMIT_API_FREE", "3")]).await;
    let fresh = app.register("Tiny Garage").await;
    let statuses: Vec<u16> =
        futures_util::future::join_all((0..4).map(|_| app.get("/api/v1/auth/me", Some(&fresh))))
            .await
            .iter()
            .map(|r| r.status)
            .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        3,
        "{statuses:?}"
    );
    app.db
        .collection::<bson::Document>("organizations")
        .update_one(
            doc! { "_id": oid(&fresh.org_id) },
            doc! { "$set": { "plan": "PRO" } },
        )
        .await
        .unwrap();
    let r = app.get("/api/v1/auth/me", Some(&fresh)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("ratelimit-limit"), Some("1000"));
}

#[tokio::test]
async fn a_spent_bucket_opens_again_when_its_window_ends() {
    let app = TestApp::spawn_with(&[("RATE_LIMIT_API_FREE", "2")]).await;
    let fresh = app.register("Window Garage").await;
    for _ in 0..2 {
        assert_eq!(app.get("/api/v1/auth/me", Some(&fresh)).await.status, 200);
    }
    let refused = app.get("/api/v1/auth/me", Some(&fresh)).await;
    refused.assert_problem(429, "RATE_LIMIT_EXCEEDED");
    // The clock is stopped at the window's start: the whole minute is left.
    assert_eq!(refused.header("retry-after"), Some("60"));
    app.clock.advance(59);
    let still = app.get("/api/v1/auth/me", Some(&fresh)).await;
    still.assert_problem(429, "RATE_LIMIT_EXCEEDED");
    assert_eq!(still.header("retry-after"), Some("1"));
    app.clock.advance(1);
    let next = app.get("/api/v1/auth/me", Some(&fresh)).await;
    assert_eq!(next.status, 200, "{}", next.text);
    assert_eq!(next.header("ratelimit-remaining"), Some("1"));
    assert_eq!(next.header("ratelimit-reset"), Some("60"));
}

#[tokio::test]
async fn admins_see_each_bucket_as_it_stands() {
    let app = TestApp::spawn().await;
    let fresh = app.register("Counting Garage").await;
    for _ in 0..4 {
        app.get("/api/v1/accounts", Some(&fresh)).await;
    }
    let r = app
        .get("/api/v1/organization/rate-limits", Some(&fresh))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let bucket = |name: &str| {
        r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["bucket"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} bucket: {}", r.text))
    };
    let api = bucket("API");
    // Four lists and this request; peeking counts nothing more.
    assert_eq!(
        (
            api["limit"].as_u64(),
            api["used"].as_u64(),
            api["remaining"].as_u64()
        ),
        (Some(100), Some(5), Some(95))
    );
    assert_eq!(r.header("ratelimit-remaining"), Some("95"));
    assert_eq!(bucket("EXPORTS")["used"], 0);
    assert_eq!(bucket("UPLOADS")["limit"], 100);
    assert!(api["resetAt"].as_str().unwrap().ends_with('Z'));
    let member = app.add_member(&fresh, "MEMBER").await;
    let r = app
        .get("/api/v1/organization/rate-limits", Some(&member))
        .await;
    assert_eq!(r.status, 403);
}
