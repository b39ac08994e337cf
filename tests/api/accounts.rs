//! Accounts: the full record semantics (create, read, list with cursor,
//! search, filter and sort, update with If-Match, soft delete, restore) and
//! their audit entries.

use crate::helpers::*;
use bson::doc;
use serde_json::json;
use std::collections::HashSet;

#[tokio::test]
async fn a_created_account_has_its_fields_and_the_record_bookkeeping() {
    let app = TestApp::spawn().await;
    let r = app
        .post(
            "/api/v1/accounts",
            Some(app.member().await),
            json!({ "name": "  Hansen Auto  ", "industry": "Repair", "website": "https://hansen.example",
                    "email": "Info@Hansen.example", "phone": "+45 1234 5678",
                    "address": { "street": "Main St 1", "city": "Aarhus", "postalCode": "8000", "country": "DK" },
                    "notes": "VIP\ncustomer" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let a = &r.body;
    assert_eq!(a["name"], "Hansen Auto");
    assert_eq!(a["email"], "info@hansen.example");
    assert_eq!(a["address"]["postalCode"], "8000");
    assert_eq!(a["version"], 1);
    assert_eq!(a["createdBy"], app.member().await.id.as_str());
    assert!(a["createdAt"].as_str().unwrap().ends_with('Z'));
    assert!(a.get("organizationId").is_none());
    let id = a["id"].as_str().unwrap();
    assert_eq!(
        r.header("location"),
        Some(format!("/api/v1/accounts/{id}").as_str())
    );
    let got = app
        .get(&format!("/api/v1/accounts/{id}"), Some(app.viewer().await))
        .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, r.body);
    let stored = app
        .find("accounts", doc! { "_id": oid(id) })
        .await
        .remove(0);
    assert_eq!(
        stored.get_object_id("organizationId").unwrap(),
        oid(&app.owner().await.org_id)
    );
}

#[tokio::test]
async fn each_mutation_writes_its_audit_entry_with_the_changed_fields() {
    let app = TestApp::spawn().await;
    let id = app.create_account(app.admin().await, "Before").await;
    let path = format!("/api/v1/accounts/{id}");
    assert_eq!(
        app.patch(
            &path,
            Some(app.admin().await),
            json!({ "name": "After", "industry": "Tyres" })
        )
        .await
        .status,
        200
    );
    assert_eq!(app.delete(&path, Some(app.admin().await)).await.status, 204);
    assert_eq!(
        app.post(
            &format!("{path}/restore"),
            Some(app.admin().await),
            json!({})
        )
        .await
        .status,
        200
    );

    let entries = app
        .find(
            "audit_log",
            doc! { "resource": "account", "resourceId": oid(&id) },
        )
        .await;
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e.get_str("action").unwrap())
        .collect();
    assert_eq!(actions, ["CREATE", "UPDATE", "DELETE", "RESTORE"]);
    for e in &entries {
        assert_eq!(
            e.get_object_id("userId").unwrap(),
            oid(&app.admin().await.id)
        );
        assert_eq!(
            e.get_object_id("organizationId").unwrap(),
            oid(&app.admin().await.org_id)
        );
        assert!(e.get_str("requestId").is_ok());
        assert_eq!(e.get_str("ipAddress").unwrap(), "127.0.0.1");
    }
    assert_eq!(
        entries[0]
            .get_document("changes")
            .unwrap()
            .get_str("name")
            .unwrap(),
        "Before"
    );
    let update = entries[1].get_document("changes").unwrap();
    assert_eq!(
        update.get_document("name").unwrap(),
        &doc! { "from": "Before", "to": "After" }
    );
    assert_eq!(
        update.get_document("industry").unwrap(),
        &doc! { "from": null, "to": "Tyres" }
    );
    assert!(!update.contains_key("version"));
}

#[tokio::test]
async fn patch_changes_only_the_given_fields_bumps_the_version_and_clears_with_null() {
    let app = TestApp::spawn().await;
    let r = app
        .post(
            "/api/v1/accounts",
            Some(app.owner().await),
            json!({ "name": "A", "industry": "x", "phone": "12345" }),
        )
        .await;
    let id = r.body["id"].as_str().unwrap();
    let r = app
        .patch(
            &format!("/api/v1/accounts/{id}"),
            Some(app.owner().await),
            json!({ "industry": null, "notes": "n" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["name"], "A");
    assert_eq!(r.body["phone"], "12345");
    assert_eq!(r.body["notes"], "n");
    assert!(r.body.get("industry").is_none());
    assert_eq!(r.body["version"], 2);
}

#[tokio::test]
async fn patch_with_a_stale_if_match_is_a_412_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let id = app.create_account(app.owner().await, "Original").await;
    let path = format!("/api/v1/accounts/{id}");
    let body = serde_json::to_vec(&json!({ "name": "First" })).unwrap();
    let ok = app
        .request(
            "PATCH",
            &path,
            Some(&app.owner().await.token),
            Some(body),
            &[("if-match", "1")],
        )
        .await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body["version"], 2);
    let body = serde_json::to_vec(&json!({ "name": "Second" })).unwrap();
    let stale = app
        .request(
            "PATCH",
            &path,
            Some(&app.owner().await.token),
            Some(body.clone()),
            &[("if-match", "\"1\"")],
        )
        .await;
    stale.assert_problem(412, "VERSION_MISMATCH");
    assert_eq!(stale.body["currentVersion"], 2);
    assert_eq!(
        app.get(&path, Some(app.owner().await)).await.body["name"],
        "First"
    );
    let bad = app
        .request(
            "PATCH",
            &path,
            Some(&app.owner().await.token),
            Some(body),
            &[("if-match", "abc")],
        )
        .await;
    bad.assert_problem(400, "INVALID_PARAMETER");
}

#[tokio::test]
async fn a_deleted_account_disappears_until_it_is_restored() {
    let app = TestApp::spawn().await;
    let id = app.create_account(app.owner().await, "Gone").await;
    let path = format!("/api/v1/accounts/{id}");
    assert_eq!(app.delete(&path, Some(app.admin().await)).await.status, 204);
    app.get(&path, Some(app.owner().await))
        .await
        .assert_problem(404, "NOT_FOUND");
    assert_eq!(
        app.get("/api/v1/accounts", Some(app.owner().await))
            .await
            .body["data"],
        json!([])
    );
    app.delete(&path, Some(app.admin().await))
        .await
        .assert_problem(404, "NOT_FOUND");
    let stored = app.find("accounts", doc! { "_id": oid(&id) }).await;
    assert!(
        stored[0].get_datetime("deletedAt").is_ok(),
        "soft delete keeps the document"
    );

    let r = app
        .post(
            &format!("{path}/restore"),
            Some(app.admin().await),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["name"], "Gone");
    assert!(r.body["deletedAt"].is_null());
    assert_eq!(app.get(&path, Some(app.viewer().await)).await.status, 200);
    let again = app
        .post(
            &format!("{path}/restore"),
            Some(app.admin().await),
            json!({}),
        )
        .await;
    again.assert_problem(409, "NOT_DELETED");
}

#[tokio::test]
async fn pagination_walks_every_account_once_in_order() {
    let app = TestApp::spawn().await;
    let mut created = HashSet::new();
    for i in 0..23 {
        created.insert(
            app.create_account(app.owner().await, &format!("Account {i:02}"))
                .await,
        );
    }
    for sort in ["-createdAt", "name", "-name", "updatedAt"] {
        let mut seen = vec![];
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/api/v1/accounts?limit=10&sort={sort}");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let r = app.get(&path, Some(app.viewer().await)).await;
            assert_eq!(r.status, 200, "{}", r.text);
            let page = r.body["data"].as_array().unwrap();
            assert!(page.len() <= 10);
            seen.extend(page.iter().map(|a| {
                (
                    a["id"].as_str().unwrap().to_string(),
                    a["name"].as_str().unwrap().to_string(),
                )
            }));
            match r.body["nextCursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        assert_eq!(seen.len(), 23, "sort {sort}");
        let ids: HashSet<String> = seen.iter().map(|(id, _)| id.clone()).collect();
        assert_eq!(ids, created, "sort {sort}");
        let names: Vec<&String> = seen.iter().map(|(_, n)| n).collect();
        let mut sorted = names.clone();
        sorted.sort();
        match sort {
            "name" | "updatedAt" => assert_eq!(names, sorted, "sort {sort}"),
            _ => {
                sorted.reverse();
                assert_eq!(names, sorted, "sort {sort}");
            }
        }
    }
}

#[tokio::test]
async fn the_default_page_has_25_items_and_the_limit_is_capped_at_100() {
    let app = TestApp::spawn().await;
    for i in 0..27 {
        app.create_account(app.owner().await, &format!("A{i}"))
            .await;
    }
    let r = app.get("/api/v1/accounts", Some(app.owner().await)).await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 25);
    assert!(r.body["nextCursor"].is_string());
    app.get("/api/v1/accounts?limit=101", Some(app.owner().await))
        .await
        .assert_problem(400, "INVALID_PARAMETER");
    app.get("/api/v1/accounts?limit=0", Some(app.owner().await))
        .await
        .assert_problem(400, "INVALID_PARAMETER");
}

#[tokio::test]
async fn search_is_case_insensitive_literal_and_filters_combine() {
    let app = TestApp::spawn().await;
    for (name, industry) in [
        ("Nordic Tyres", "tyres"),
        ("nordic paint", "paint"),
        ("South Tyres", "tyres"),
        ("A.B (Ltd)", "paint"),
    ] {
        let r = app
            .post(
                "/api/v1/accounts",
                Some(app.owner().await),
                json!({ "name": name, "industry": industry }),
            )
            .await;
        assert_eq!(r.status, 201);
    }
    let names = |r: &Resp| {
        let mut v: Vec<String> = r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        names(
            &app.get("/api/v1/accounts?q=NORDIC", Some(app.owner().await))
                .await
        ),
        ["Nordic Tyres", "nordic paint"]
    );
    assert_eq!(
        names(
            &app.get("/api/v1/accounts?industry=tyres", Some(app.owner().await))
                .await
        ),
        ["Nordic Tyres", "South Tyres"]
    );
    assert_eq!(
        names(
            &app.get(
                "/api/v1/accounts?q=nordic&industry=tyres",
                Some(app.owner().await)
            )
            .await
        ),
        ["Nordic Tyres"]
    );
    assert_eq!(
        names(
            &app.get("/api/v1/accounts?q=.B%20(", Some(app.owner().await))
                .await
        ),
        ["A.B (Ltd)"]
    );
    assert!(names(
        &app.get("/api/v1/accounts?q=.*", Some(app.owner().await))
            .await
    )
    .is_empty());
}

#[tokio::test]
async fn an_unknown_sort_or_query_parameter_is_a_400_naming_it() {
    let app = TestApp::spawn().await;
    let r = app
        .get(
            "/api/v1/accounts?sort=passwordHash",
            Some(app.owner().await),
        )
        .await;
    r.assert_problem(400, "INVALID_PARAMETER");
    assert_eq!(r.error_fields(), ["sort"]);
    let r = app
        .get(
            "/api/v1/accounts?organizationId=65a1b2c3d4e5f60718293a4b",
            Some(app.owner().await),
        )
        .await;
    r.assert_problem(400, "UNKNOWN_PARAMETER");
    assert_eq!(r.error_fields(), ["organizationId"]);
}

#[tokio::test]
async fn a_forged_or_foreign_cursor_is_a_400() {
    let app = TestApp::spawn().await;
    for i in 0..3 {
        app.create_account(app.owner().await, &format!("A{i}"))
            .await;
    }
    let r = app
        .get("/api/v1/accounts?limit=1", Some(app.owner().await))
        .await;
    let cursor = r.str("nextCursor");
    let tampered = format!("x{}", &cursor[1..]);
    for bad in [tampered.as_str(), "not-a-cursor", "e30.AAAA"] {
        let r = app
            .get(
                &format!("/api/v1/accounts?limit=1&cursor={bad}"),
                Some(app.owner().await),
            )
            .await;
        r.assert_problem(400, "INVALID_CURSOR");
    }
    let r = app
        .get(
            &format!("/api/v1/accounts?limit=1&sort=name&cursor={cursor}"),
            Some(app.owner().await),
        )
        .await;
    r.assert_problem(400, "INVALID_CURSOR");
}

#[tokio::test]
async fn paging_through_a_thousand_records_with_inserts_between_pages_skips_and_repeats_none() {
    let app = TestApp::spawn_with(&[("RATE_LIMIT_API_FREE", "100000")]).await;
    let mut csv = String::from("name\n");
    for i in 0..1000 {
        csv.push_str(&format!("Account {i:04}\n"));
    }
    let r = app
        .post(
            "/api/v1/imports",
            Some(app.owner().await),
            json!({ "entity": "accounts", "csv": csv }),
        )
        .await;
    assert_eq!(r.body["inserted"], 1000, "{}", r.text);
    let originals: HashSet<String> = app
        .find("accounts", doc! {})
        .await
        .iter()
        .map(|d| d.get_object_id("_id").unwrap().to_hex())
        .collect();
    for sort in ["-createdAt", "name"] {
        let mut seen = vec![];
        let mut cursor: Option<String> = None;
        let mut page_no = 0;
        loop {
            let mut path = format!("/api/v1/accounts?limit=100&sort={sort}");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let r = app.get(&path, Some(app.viewer().await)).await;
            seen.extend(
                r.body["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a["id"].as_str().unwrap().to_string()),
            );
            // Someone adds records while we page: before and after the cursor.
            page_no += 1;
            app.create_account(
                app.member().await,
                &format!("Account 0000 new {sort} {page_no}"),
            )
            .await;
            app.create_account(app.member().await, &format!("Zz new {sort} {page_no}"))
                .await;
            match r.body["nextCursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        let unique: HashSet<&String> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "{sort}: a record was repeated");
        let seen_originals = seen.iter().filter(|id| originals.contains(*id)).count();
        assert_eq!(
            seen_originals, 1000,
            "{sort}: an original record was skipped"
        );
    }
}
