//! The audit log for the organization's admins: filters, cursor pages
//! newest first, tenancy, the summary by action and client address, and
//! every filter served by an index.

use crate::helpers::*;
use bson::doc;
use serde_json::{json, Value};

fn ids(r: &Resp) -> Vec<String> {
    r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn admins_read_their_organizations_log_filtered_and_paged() {
    let app = TestApp::spawn_with(&[("RATE_LIMIT_API_FREE", "100000")]).await;
    let (owner, admin, member) = (app.owner().await, app.admin().await, app.member().await);
    let account = app.create_account(owner, "Audited GmbH").await;
    let r = app
        .patch(
            &format!("/api/v1/accounts/{account}"),
            Some(owner),
            json!({ "name": "Audited AG" }),
        )
        .await;
    assert_eq!(r.status, 200);
    for i in 0..3 {
        app.create_account(member, &format!("Member's {i}")).await;
    }
    // A denial, recorded against the member.
    let r = app
        .delete(&format!("/api/v1/accounts/{account}"), Some(member))
        .await;
    assert_eq!(r.status, 403);
    // Another organization's activity is not ours to see.
    app.create_account(app.other().await, "Elsewhere").await;

    let all = app.get("/api/v1/audit-log?limit=100", Some(admin)).await;
    assert_eq!(all.status, 200, "{}", all.text);
    let entries = all.body["data"].as_array().unwrap();
    let times: Vec<&str> = entries
        .iter()
        .map(|e| e["createdAt"].as_str().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest first");
    assert!(entries.iter().all(|e| e.get("organizationId").is_none()));
    assert!(!all.text.contains("Elsewhere"));

    let creates = app
        .get(
            "/api/v1/audit-log?action=CREATE&resource=account",
            Some(admin),
        )
        .await;
    assert_eq!(
        creates.body["data"].as_array().unwrap().len(),
        4,
        "{}",
        creates.text
    );
    let mine = app
        .get(
            &format!("/api/v1/audit-log?userId={}&action=CREATE", member.id),
            Some(admin),
        )
        .await;
    assert_eq!(mine.body["data"].as_array().unwrap().len(), 3);
    let record = app
        .get(
            &format!("/api/v1/audit-log?resourceId={account}"),
            Some(admin),
        )
        .await;
    let actions: Vec<&str> = record.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["UPDATE", "CREATE"], "{}", record.text);
    let denied = app
        .get("/api/v1/audit-log?action=PERMISSION_DENIED", Some(admin))
        .await;
    assert_eq!(denied.body["data"][0]["userId"], member.id.as_str());
    let local = app
        .get(
            "/api/v1/audit-log?ipAddress=127.0.0.1&limit=100",
            Some(admin),
        )
        .await;
    assert_eq!(ids(&local).len(), entries.len());
    let future = app
        .get("/api/v1/audit-log?since=2099-01-01T00:00:00Z", Some(admin))
        .await;
    assert_eq!(future.body["data"], json!([]));
    let past = app
        .get("/api/v1/audit-log?until=2000-01-01T00:00:00Z", Some(admin))
        .await;
    assert_eq!(past.body["data"], json!([]));

    // Pages of 2 walk the whole log once.
    let mut walked = vec![];
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/audit-log?limit=2&cursor={c}"),
            None => "/api/v1/audit-log?limit=2".into(),
        };
        let page = app.get(&path, Some(admin)).await;
        assert_eq!(page.status, 200, "{}", page.text);
        walked.extend(ids(&page));
        match page.body["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(walked, ids(&all));

    // Bad questions are 400 naming the parameter; members may not ask.
    for q in ["userId=nope", "since=yesterday", "colour=red"] {
        let r = app
            .get(&format!("/api/v1/audit-log?{q}"), Some(admin))
            .await;
        assert_eq!(r.status, 400, "{q}: {}", r.text);
    }
    assert_eq!(app.get("/api/v1/audit-log", Some(member)).await.status, 403);
}

#[tokio::test]
async fn the_summary_counts_by_action_and_by_address() {
    let app = TestApp::spawn().await;
    let (owner, viewer) = (app.owner().await, app.viewer().await);
    for i in 0..2 {
        app.create_account(owner, &format!("Acme {i}")).await;
    }
    let r = app
        .post("/api/v1/accounts", Some(viewer), json!({ "name": "No" }))
        .await;
    assert_eq!(r.status, 403);
    let r = app.get("/api/v1/audit-log/summary", Some(owner)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let count = |action: &str| -> i64 {
        r.body["byAction"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["action"] == action)
            .map(|a| a["count"].as_i64().unwrap())
            .unwrap_or(0)
    };
    let creates = app
        .count(
            "audit_log",
            doc! { "organizationId": oid(&owner.org_id), "action": "CREATE" },
        )
        .await as i64;
    assert_eq!(count("CREATE"), creates);
    assert_eq!(count("PERMISSION_DENIED"), 1);
    let first: &Value = &r.body["byIpAddress"][0];
    assert_eq!(first["ipAddress"], "127.0.0.1", "{}", r.text);
    assert_eq!(first["actions"]["PERMISSION_DENIED"], 1);
    let later = app
        .get(
            "/api/v1/audit-log/summary?since=2099-01-01T00:00:00Z",
            Some(owner),
        )
        .await;
    assert_eq!(later.body["byAction"], json!([]));
}
