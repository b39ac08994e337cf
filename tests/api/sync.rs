//! Mobile clients: cheap polling (`ETag` on every GET, `If-None-Match`
//! answered 304 with no body) and delta sync (`updatedSince`), including
//! writes made by others while the client pages.

use std::collections::BTreeMap;

use bson::doc;
use serde_json::{json, Value};

use crate::helpers::*;

/// A GET that names the tag the client holds.
async fn revalidate(app: &TestApp, path: &str, actor: &Actor, tag: &str) -> Resp {
    app.request(
        "GET",
        path,
        Some(&actor.token),
        None,
        &[("if-none-match", tag)],
    )
    .await
}

#[tokio::test]
async fn a_record_and_a_list_page_answer_304_while_they_have_not_changed() {
    let app = TestApp::spawn().await;
    let (owner, viewer) = (app.owner().await, app.viewer().await);
    let id = app.create_account(owner, "Polled Garage").await;
    let path = format!("/api/v1/accounts/{id}");
    let first = app.get(&path, Some(viewer)).await;
    let tag = first
        .header("etag")
        .expect("a record has an ETag")
        .to_string();
    assert_eq!(tag, "\"1\"", "the record's version");
    let again = revalidate(&app, &path, viewer, &tag).await;
    assert_eq!(again.status, 304);
    assert!(again.text.is_empty(), "304 has no body: {}", again.text);
    assert_eq!(again.header("etag"), Some(tag.as_str()));

    let list = app.get("/api/v1/accounts", Some(viewer)).await;
    let list_tag = list
        .header("etag")
        .expect("a list page has an ETag")
        .to_string();
    let same = revalidate(&app, "/api/v1/accounts", viewer, &list_tag).await;
    assert_eq!(same.status, 304);

    // A change gives both a new tag; If-Match keeps its 412.
    let r = app
        .request(
            "PATCH",
            &path,
            Some(&owner.token),
            Some(br#"{"industry":"Fleet"}"#.to_vec()),
            &[("if-match", "\"1\""), ("content-type", "application/json")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let stale = app
        .request(
            "PATCH",
            &path,
            Some(&owner.token),
            Some(br#"{"industry":"Taxi"}"#.to_vec()),
            &[("if-match", "\"1\""), ("content-type", "application/json")],
        )
        .await;
    stale.assert_problem(412, "VERSION_MISMATCH");
    let changed = revalidate(&app, &path, viewer, &tag).await;
    assert_eq!(changed.status, 200);
    assert_eq!(changed.header("etag"), Some("\"2\""));
    let relisted = revalidate(&app, "/api/v1/accounts", viewer, &list_tag).await;
    assert_eq!(relisted.status, 200);
    assert_ne!(relisted.header("etag"), Some(list_tag.as_str()));
}

/// A client's copy of one entity, kept by applying sync pages.
#[derive(Default)]
struct Replica {
    records: BTreeMap<String, Value>,
    token: String,
}

impl Replica {
    /// Syncs from the held token, page by page; `between` runs after each
    /// page but the last (others writing while the client pages).
    async fn sync(
        &mut self,
        app: &TestApp,
        actor: &Actor,
        mut between: impl FnMut(usize) -> Option<futures_util::future::BoxFuture<'static, ()>>,
    ) -> usize {
        let since = if self.token.is_empty() {
            "0".to_string()
        } else {
            self.token.clone()
        };
        let mut cursor: Option<String> = None;
        let (mut pages, mut seen) = (0, 0);
        loop {
            let mut path = format!(
                "/api/v1/accounts?updatedSince={}&limit=2",
                urlencode(&since)
            );
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={}", urlencode(c)));
            }
            let r = app.get(&path, Some(actor)).await;
            assert_eq!(r.status, 200, "{}", r.text);
            for item in r.body["data"].as_array().unwrap() {
                seen += 1;
                let id = item["id"].as_str().unwrap().to_string();
                if item.get("deletedAt").is_some_and(|d| d.is_string())
                    && item.get("name").is_none()
                {
                    self.records.remove(&id);
                } else {
                    self.records.insert(id, item.clone());
                }
            }
            pages += 1;
            match r.body["nextCursor"].as_str() {
                Some(c) => {
                    assert!(
                        r.body["syncToken"].is_null(),
                        "the token comes on the last page only"
                    );
                    cursor = Some(c.to_string());
                    if let Some(write) = between(pages) {
                        write.await;
                    }
                }
                None => {
                    self.token = r.body["syncToken"]
                        .as_str()
                        .expect("a sync token")
                        .to_string();
                    return seen;
                }
            }
        }
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Every live account as the plain list shows it.
async fn server_state(app: &TestApp, actor: &Actor) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = "/api/v1/accounts?limit=100".to_string();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={}", urlencode(c)));
        }
        let r = app.get(&path, Some(actor)).await;
        for item in r.body["data"].as_array().unwrap() {
            out.insert(item["id"].as_str().unwrap().to_string(), item.clone());
        }
        match r.body["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return out,
        }
    }
}

#[tokio::test]
async fn a_client_that_syncs_ends_with_exactly_the_servers_state() {
    let app = std::sync::Arc::new(TestApp::spawn().await);
    let owner = app.owner().await.clone();
    let member = app.member().await.clone();
    let mut ids = vec![];
    for i in 0..5 {
        ids.push(app.create_account(&owner, &format!("Garage {i}")).await);
    }
    // The first, full sync, while someone else creates and edits.
    let mut replica = Replica::default();
    let writer = app.clone();
    let (o, first) = (owner.clone(), ids[0].clone());
    let seen = replica
        .sync(&app, &member, move |page| {
            let (app, o, first) = (writer.clone(), o.clone(), first.clone());
            (page == 1).then(|| {
                Box::pin(async move {
                    app.create_account(&o, "Created while paging").await;
                    let r = app
                        .patch(
                            &format!("/api/v1/accounts/{first}"),
                            Some(&o),
                            json!({ "industry": "Changed while paging" }),
                        )
                        .await;
                    assert_eq!(r.status, 200);
                }) as futures_util::future::BoxFuture<'static, ()>
            })
        })
        .await;
    assert!(seen >= 5, "{seen}");

    // Others: 3 creates, 2 updates, 1 delete.
    for i in 0..3 {
        app.create_account(&owner, &format!("Later {i}")).await;
    }
    for id in &ids[1..3] {
        let r = app
            .patch(
                &format!("/api/v1/accounts/{id}"),
                Some(&owner),
                json!({ "website": "https://updated.example" }),
            )
            .await;
        assert_eq!(r.status, 200);
    }
    let r = app
        .delete(&format!("/api/v1/accounts/{}", ids[4]), Some(&owner))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);

    let changes = replica.sync(&app, &member, |_| None).await;
    assert!(changes >= 6, "the changes since the token: {changes}");
    assert_eq!(
        replica.records,
        server_state(&app, &member).await,
        "the client holds exactly the server's state"
    );
    assert!(!replica.records.contains_key(&ids[4]));

    // Nothing new: the next sync brings at most the overlap, and no change.
    replica.sync(&app, &member, |_| None).await;
    assert_eq!(replica.records, server_state(&app, &member).await);
}

#[tokio::test]
async fn sync_tokens_are_signed_and_expire_with_the_tombstones() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    let r = app
        .get("/api/v1/accounts?updatedSince=forged.token", Some(owner))
        .await;
    r.assert_problem(400, "INVALID_PARAMETER");
    assert_eq!(r.error_fields(), ["updatedSince"]);
    let r = app
        .get("/api/v1/accounts?updatedSince=0&sort=name", Some(owner))
        .await;
    r.assert_problem(400, "INVALID_PARAMETER");
    assert_eq!(r.error_fields(), ["sort"]);
    // A token (signed as the API signs them) from 31 days ago.
    let key = shared::cursor::CursorKey::derive(JWT_SECRET);
    let old =
        bson::DateTime::from_millis(bson::DateTime::now().timestamp_millis() - 31 * 86_400_000);
    let token = key.encode(
        "sync",
        &bson::Bson::DateTime(old),
        bson::oid::ObjectId::from_bytes([0; 12]),
    );
    let r = app
        .get(
            &format!("/api/v1/accounts?updatedSince={token}"),
            Some(owner),
        )
        .await;
    r.assert_problem(410, "RESYNC_REQUIRED");
    // Another organization's records never appear.
    app.create_account(app.other().await, "Theirs").await;
    let mine = app
        .get("/api/v1/accounts?updatedSince=0", Some(owner))
        .await;
    assert_eq!(mine.body["data"], json!([]));
    assert_eq!(app.count("accounts", doc! {}).await, 1);
}
