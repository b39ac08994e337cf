//! Documents on the S3-compatible server (s3s-fs, which checks SigV4
//! signatures and presigned-URL expiry): the whole flow through real PUTs and
//! GETs with the presigned URLs, what the storage server refuses, tenancy,
//! roles, plan limits, a storage outage, the sweep and the purge.

use std::time::Duration;

use crate::helpers::*;
use bson::{doc, DateTime};
use serde_json::json;

const MIB: usize = 1024 * 1024;

#[tokio::test]
async fn a_file_goes_up_and_comes_down_through_presigned_urls() {
    let app = TestApp::spawn().await;
    let account = app.create_account(app.member().await, "Kunde Müller").await;
    let bytes = file_bytes(3_000);
    let r = app
        .post(
            "/api/v1/uploads",
            Some(app.member().await),
            json!({ "fileName": "Schaden vorne \"links\".jpg", "contentType": "image/jpeg",
                    "size": bytes.len(), "relatedTo": { "type": "account", "id": account } }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.str("documentId");
    let url = r.body["uploadUrl"].as_str().unwrap();
    assert_eq!(r.body["method"], "PUT");
    assert_eq!(r.body["headers"]["content-type"], "image/jpeg");
    assert_eq!(r.body["headers"]["content-length"], "3000");
    assert!(
        url.contains(&format!(
            "org/{}/documents/{id}?",
            app.member().await.org_id
        )),
        "{url}"
    );
    assert!(
        !url.contains("Schaden"),
        "the file name never goes into the key"
    );
    assert!(url.contains("X-Amz-Expires=600"), "{url}");
    assert!(
        url.contains("X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost"),
        "type and length are part of the signature: {url}"
    );
    assert!(r.body["document"].get("storageKey").is_none());
    assert_eq!(r.body["document"]["status"], "PENDING");
    assert_eq!(
        r.header("location"),
        Some(format!("/api/v1/documents/{id}").as_str())
    );

    // Completing before the file is there: 409, still PENDING.
    let early = app.complete(app.member().await, &id).await;
    early.assert_problem(409, "UPLOAD_NOT_FOUND");
    let stored = app.find("documents", doc! { "_id": oid(&id) }).await;
    assert_eq!(stored[0].get_str("status").unwrap(), "PENDING");

    let (status, text) = app.put_presigned(&r.body, bytes.clone()).await;
    assert_eq!(status, 200, "{text}");
    let done = app.complete(app.member().await, &id).await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(done.body["status"], "UPLOADED");
    assert!(done.body["uploadedAt"].is_string());
    // Completing again changes nothing.
    let again = app.complete(app.member().await, &id).await;
    assert_eq!(again.body["version"], done.body["version"]);

    let got = app
        .get(&format!("/api/v1/documents/{id}"), Some(app.viewer().await))
        .await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(got.body["fileName"], "Schaden vorne \"links\".jpg");
    assert!(got.body.get("storageKey").is_none());
    let mut metadata = got.body.clone();
    metadata.as_object_mut().unwrap().remove("downloadUrl");
    assert!(
        !metadata.to_string().contains("/documents/"),
        "no object key outside the URL: {metadata}"
    );
    let download = got.body["downloadUrl"].as_str().unwrap();
    assert!(download.contains("X-Amz-Expires=300"), "{download}");
    let file = app.http.get(download).send().await.unwrap();
    assert_eq!(file.status(), 200);
    let disposition = file
        .headers()
        .get("content-disposition")
        .map(|v| v.to_str().unwrap().to_string());
    assert_eq!(file.bytes().await.unwrap().to_vec(), bytes);
    assert_eq!(
        disposition.as_deref(),
        Some("attachment; filename=\"Schaden vorne _links_.jpg\"; filename*=UTF-8''Schaden%20vorne%20%22links%22.jpg")
    );

    let listed = app
        .get(
            &format!("/api/v1/documents?relatedToType=account&relatedToId={account}"),
            Some(app.viewer().await),
        )
        .await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(listed.body["data"].as_array().unwrap().len(), 1);
    assert!(listed.body["data"][0].get("storageKey").is_none());
    let pending = app
        .get("/api/v1/documents?status=PENDING", Some(app.viewer().await))
        .await;
    assert_eq!(pending.body["data"].as_array().unwrap().len(), 0);

    let created = app.audits("CREATE").await;
    assert!(created
        .iter()
        .any(|a| a.get_str("resource") == Ok("document")
            && a.get_object_id("resourceId") == Ok(oid(&id))));
    let downloads = app.audits("DOWNLOAD").await;
    assert_eq!(downloads.len(), 1);
    assert_eq!(downloads[0].get_str("userId").ok(), None);
    assert_eq!(
        downloads[0].get_object_id("userId").unwrap(),
        oid(&app.viewer().await.id)
    );
    let updated = app.audits("UPDATE").await;
    assert!(updated
        .iter()
        .any(|a| a.get_str("resource") == Ok("document")
            && a.get_document("changes")
                .unwrap()
                .get_document("status")
                .is_ok()));
}

/// A PUT of `size` bytes of `content_type` to `url`, sent as the client
/// chooses (not as the upload answer said); the storage server's status.
async fn put(app: &TestApp, url: &str, content_type: &str, size: usize) -> u16 {
    app.http
        .put(url)
        .header("content-type", content_type)
        .body(file_bytes(size))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn the_storage_server_refuses_a_changed_type_length_key_or_an_expired_url() {
    let app = TestApp::spawn_with(&[
        ("UPLOAD_URL_TTL_SECONDS", "2"),
        ("DOWNLOAD_URL_TTL_SECONDS", "2"),
    ])
    .await;
    let r = app
        .request_upload(app.member().await, "invoice.pdf", "application/pdf", 100)
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let url = r.str("uploadUrl");

    // Another content type than the signed one.
    assert_eq!(put(&app, &url, "text/html", 100).await, 403);
    // Another length than the signed one.
    assert_eq!(put(&app, &url, "application/pdf", 5_000).await, 403);
    // The same signature replayed for another key.
    let id = r.body["documentId"].as_str().unwrap();
    let other_key = url.replace(id, &bson::oid::ObjectId::new().to_hex());
    assert_eq!(put(&app, &other_key, "application/pdf", 100).await, 403);
    // Nothing was stored by any of them.
    let done = app.complete(app.member().await, id).await;
    done.assert_problem(409, "UPLOAD_NOT_FOUND");

    // Expired.
    tokio::time::sleep(Duration::from_millis(3_100)).await;
    let (status, _) = app.put_presigned(&r.body, file_bytes(100)).await;
    assert_eq!(status, 403, "an expired upload URL must be refused");

    let doc_id = app
        .upload_document(app.member().await, "a.pdf", file_bytes(10))
        .await;
    let got = app
        .get(
            &format!("/api/v1/documents/{doc_id}"),
            Some(app.member().await),
        )
        .await;
    let download = got.body["downloadUrl"].as_str().unwrap().to_string();
    assert_eq!(app.http.get(&download).send().await.unwrap().status(), 200);
    tokio::time::sleep(Duration::from_millis(3_100)).await;
    assert_eq!(
        app.http.get(&download).send().await.unwrap().status(),
        403,
        "an expired download URL must be refused"
    );
}

#[tokio::test]
async fn an_object_that_is_not_the_declared_file_leaves_the_document_pending() {
    let app = TestApp::spawn().await;
    let r = app
        .request_upload(app.member().await, "scan.pdf", "application/pdf", 64)
        .await;
    let (status, _) = app.put_presigned(&r.body, file_bytes(64)).await;
    assert_eq!(status, 200);
    let id = r.body["documentId"].as_str().unwrap();
    // The record now declares another size than the stored object has.
    app.db
        .collection::<bson::Document>("documents")
        .update_one(doc! { "_id": oid(id) }, doc! { "$set": { "size": 65_i64 } })
        .await
        .unwrap();
    let done = app.complete(app.member().await, id).await;
    done.assert_problem(409, "UPLOAD_MISMATCH");
    let stored = app.find("documents", doc! { "_id": oid(id) }).await;
    assert_eq!(stored[0].get_str("status").unwrap(), "PENDING");
    let got = app
        .get(&format!("/api/v1/documents/{id}"), Some(app.member().await))
        .await;
    assert!(
        got.body.get("downloadUrl").is_none(),
        "no download of a PENDING document"
    );

    // A day later the upload has expired: the sweep will take it, so it
    // cannot complete any more, even with the right object in place.
    let day_old =
        bson::DateTime::from_millis(bson::DateTime::now().timestamp_millis() - 25 * 3_600_000);
    app.db
        .collection::<bson::Document>("documents")
        .update_one(
            doc! { "_id": oid(id) },
            doc! { "$set": { "size": 64_i64, "createdAt": day_old } },
        )
        .await
        .unwrap();
    app.complete(app.member().await, id)
        .await
        .assert_problem(409, "UPLOAD_EXPIRED");
    let stored = app.find("documents", doc! { "_id": oid(id) }).await;
    assert_eq!(stored[0].get_str("status").unwrap(), "PENDING");
}

#[tokio::test]
async fn another_organization_cannot_read_list_complete_change_or_delete_a_document() {
    let app = TestApp::spawn().await;
    let id = app
        .upload_document(app.member().await, "offer.pdf", file_bytes(10))
        .await;
    let pending = app
        .request_upload(app.member().await, "pending.pdf", "application/pdf", 10)
        .await;
    let pending = pending.body["documentId"].as_str().unwrap().to_string();
    let rival = app.add_member(app.other().await, "MEMBER").await;
    for actor in [app.other().await, &rival] {
        app.get(&format!("/api/v1/documents/{id}"), Some(actor))
            .await
            .assert_problem(404, "NOT_FOUND");
        app.patch(
            &format!("/api/v1/documents/{id}"),
            Some(actor),
            json!({ "fileName": "mine.pdf" }),
        )
        .await
        .assert_problem(404, "NOT_FOUND");
        app.delete(&format!("/api/v1/documents/{id}"), Some(actor))
            .await
            .assert_problem(404, "NOT_FOUND");
        app.complete(actor, &pending)
            .await
            .assert_problem(404, "NOT_FOUND");
        let list = app.get("/api/v1/documents", Some(actor)).await;
        assert_eq!(list.body["data"].as_array().unwrap().len(), 0);
    }
    // A relation to another organization's record does not exist.
    let theirs = app.create_account(app.other().await, "Theirs").await;
    let r = app
        .post(
            "/api/v1/uploads",
            Some(app.member().await),
            json!({ "fileName": "x.pdf", "contentType": "application/pdf", "size": 5,
                    "relatedTo": { "type": "account", "id": theirs } }),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.error_fields(), ["relatedTo.id"]);
    let stored = app.find("documents", doc! { "_id": oid(&id) }).await;
    assert_eq!(stored[0].get_str("fileName").unwrap(), "offer.pdf");
    assert!(stored[0].get("deletedAt").unwrap().as_null().is_some());
}

#[tokio::test]
async fn members_rename_and_delete_their_own_documents_admins_any() {
    let app = TestApp::spawn().await;
    let own = app
        .upload_document(app.member().await, "own.pdf", file_bytes(10))
        .await;
    let admins = app
        .upload_document(app.admin().await, "admins.pdf", file_bytes(10))
        .await;
    let account = app
        .create_account(app.member().await, "Relink target")
        .await;

    let renamed = app
        .patch(
            &format!("/api/v1/documents/{own}"),
            Some(app.member().await),
            json!({ "fileName": "renamed.pdf", "relatedTo": { "type": "account", "id": account } }),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.text);
    assert_eq!(renamed.body["fileName"], "renamed.pdf");
    assert_eq!(renamed.body["relatedTo"]["id"], account);
    assert_eq!(renamed.body["status"], "UPLOADED");
    // Size, type and status are the file's, not editable.
    let r = app
        .patch(
            &format!("/api/v1/documents/{own}"),
            Some(app.member().await),
            json!({ "size": 1 }),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);

    app.patch(
        &format!("/api/v1/documents/{admins}"),
        Some(app.member().await),
        json!({ "fileName": "stolen.pdf" }),
    )
    .await
    .assert_problem(403, "PERMISSION_DENIED");
    app.delete(
        &format!("/api/v1/documents/{admins}"),
        Some(app.member().await),
    )
    .await
    .assert_problem(403, "PERMISSION_DENIED");
    app.request_upload(app.viewer().await, "v.pdf", "application/pdf", 10)
        .await
        .assert_problem(403, "PERMISSION_DENIED");
    app.delete(
        &format!("/api/v1/documents/{own}"),
        Some(app.viewer().await),
    )
    .await
    .assert_problem(403, "PERMISSION_DENIED");

    assert_eq!(
        app.delete(
            &format!("/api/v1/documents/{own}"),
            Some(app.member().await)
        )
        .await
        .status,
        204
    );
    assert_eq!(
        app.delete(
            &format!("/api/v1/documents/{admins}"),
            Some(app.owner().await)
        )
        .await
        .status,
        204
    );
    app.get(
        &format!("/api/v1/documents/{own}"),
        Some(app.member().await),
    )
    .await
    .assert_problem(404, "NOT_FOUND");
    // Soft delete: the file stays until the document is purged, and an
    // ADMIN can bring the document back.
    let key = app.storage_key(&own).await;
    assert!(app.storage().head(&key).await.unwrap().is_some());
    assert_eq!(app.audits("DELETE").await.len(), 2);
    app.post(
        &format!("/api/v1/documents/{own}/restore"),
        Some(app.member().await),
        json!({}),
    )
    .await
    .assert_problem(403, "PERMISSION_DENIED");
    let restored = app
        .post(
            &format!("/api/v1/documents/{own}/restore"),
            Some(app.admin().await),
            json!({}),
        )
        .await;
    assert_eq!(restored.status, 200, "{}", restored.text);
    assert!(app
        .get(
            &format!("/api/v1/documents/{own}"),
            Some(app.member().await)
        )
        .await
        .body["downloadUrl"]
        .is_string());
}

#[tokio::test]
async fn types_and_sizes_outside_the_policy_are_refused_before_anything_is_signed() {
    let app = TestApp::spawn_with(&[("RATE_LIMIT_UPLOADS_FREE", "3")]).await;
    let r = app
        .request_upload(
            app.member().await,
            "run.exe",
            "application/x-msdownload",
            10,
        )
        .await;
    r.assert_problem(422, "UNSUPPORTED_FILE_TYPE");
    assert_eq!(r.error_fields(), ["contentType"]);
    let r = app
        .request_upload(
            app.member().await,
            "big.pdf",
            "application/pdf",
            10 * MIB + 1,
        )
        .await;
    r.assert_problem(422, "FILE_TOO_LARGE");
    assert_eq!(r.error_fields(), ["size"]);
    let r = app
        .request_upload(app.member().await, "empty.pdf", "application/pdf", 0)
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.error_fields(), ["size"]);
    let r = app
        .post(
            "/api/v1/uploads",
            Some(app.member().await),
            json!({ "fileName": "a\nb.pdf", "contentType": "application/pdf", "size": 1 }),
        )
        .await;
    assert_eq!(r.error_fields(), ["fileName"]);
    let r = app
        .post(
            "/api/v1/uploads",
            Some(app.member().await),
            json!({ "fileName": "a.pdf", "contentType": "application/pdf", "size": 1, "key": "org/x" }),
        )
        .await;
    assert_eq!(r.error_fields(), ["key"]);
    assert_eq!(app.count("documents", doc! {}).await, 0);

    // The plan's limit: exactly 10 MiB is fine on FREE.
    let r = app
        .request_upload(app.member().await, "ok.pdf", "APPLICATION/PDF", 10 * MIB)
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["document"]["contentType"], "application/pdf");

    for (plan, allowed, refused) in [
        ("PRO", 100 * MIB, 100 * MIB + 1),
        ("ENTERPRISE", 1024 * MIB, 1024 * MIB + 1),
    ] {
        app.db
            .collection::<bson::Document>("organizations")
            .update_one(
                doc! { "_id": oid(&app.owner().await.org_id) },
                doc! { "$set": { "plan": plan } },
            )
            .await
            .unwrap();
        let r = app
            .request_upload(app.member().await, "big.pdf", "application/pdf", refused)
            .await;
        r.assert_problem(422, "FILE_TOO_LARGE");
        let r = app
            .request_upload(app.member().await, "big.pdf", "application/pdf", allowed)
            .await;
        assert_eq!(r.status, 201, "{plan}: {}", r.text);
    }

    // The uploads bucket of the plan (set to 3 for FREE here) counts too.
    app.db
        .collection::<bson::Document>("organizations")
        .update_one(
            doc! { "_id": oid(&app.owner().await.org_id) },
            doc! { "$set": { "plan": "FREE" } },
        )
        .await
        .unwrap();
    let r = app
        .request_upload(app.member().await, "one-too-many.pdf", "application/pdf", 1)
        .await;
    r.assert_problem(429, "RATE_LIMIT_EXCEEDED");
    assert_eq!(app.count("documents", doc! {}).await, 3);
}

#[tokio::test]
async fn a_storage_outage_answers_503_and_leaves_the_document_pending() {
    let bin = std::env::var("S3S_FS_BIN").expect("S3S_FS_BIN is set by scripts/test.sh");
    let dir = std::env::temp_dir().join(format!("s3-outage-{}", bson::oid::ObjectId::new()));
    let bucket = "outage-files";
    std::fs::create_dir_all(dir.join(bucket)).unwrap();
    let port = tests::net::free_port();
    let (key, secret) = ("outage-key", "outage-secret-key");
    let mut server = std::process::Command::new(bin)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--access-key", key, "--secret-key", secret])
        .arg(&dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("s3s-fs starts");
    tests::net::wait_for_port(port).await;
    let endpoint = format!("http://127.0.0.1:{port}");
    let app = TestApp::spawn_with(&[
        ("S3_ENDPOINT", &endpoint),
        ("S3_BUCKET", bucket),
        ("AWS_ACCESS_KEY_ID", key),
        ("AWS_SECRET_ACCESS_KEY", secret),
    ])
    .await;
    let uploaded = app
        .upload_document(app.member().await, "kept.pdf", file_bytes(10))
        .await;
    let r = app
        .request_upload(app.member().await, "lost.pdf", "application/pdf", 10)
        .await;
    let (status, _) = app.put_presigned(&r.body, file_bytes(10)).await;
    assert_eq!(status, 200);
    let id = r.body["documentId"].as_str().unwrap();

    server.kill().unwrap();
    server.wait().unwrap();
    let done = app.complete(app.member().await, id).await;
    done.assert_problem(503, "STORAGE_UNAVAILABLE");
    let stored = app.find("documents", doc! { "_id": oid(id) }).await;
    assert_eq!(stored[0].get_str("status").unwrap(), "PENDING");
    assert_eq!(
        app.count("documents", doc! { "status": "UPLOADED" }).await,
        1
    );
    // Reading metadata needs no storage round trip.
    let got = app
        .get(
            &format!("/api/v1/documents/{uploaded}"),
            Some(app.member().await),
        )
        .await;
    assert_eq!(got.status, 200, "{}", got.text);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_sweep_removes_abandoned_uploads_and_files_deleted_long_ago() {
    let app = TestApp::spawn().await;
    let old_pending = app
        .request_upload(app.member().await, "abandoned.pdf", "application/pdf", 10)
        .await;
    app.put_presigned(&old_pending.body, file_bytes(10)).await;
    let old_pending = old_pending.body["documentId"].as_str().unwrap().to_string();
    let fresh_pending = app
        .request_upload(app.member().await, "in-progress.pdf", "application/pdf", 10)
        .await;
    let fresh_pending = fresh_pending.body["documentId"]
        .as_str()
        .unwrap()
        .to_string();
    let long_deleted = app
        .upload_document(app.member().await, "old.pdf", file_bytes(10))
        .await;
    let recently_deleted = app
        .upload_document(app.member().await, "recent.pdf", file_bytes(10))
        .await;
    let kept = app
        .upload_document(app.member().await, "kept.pdf", file_bytes(10))
        .await;
    for id in [&long_deleted, &recently_deleted] {
        app.delete(&format!("/api/v1/documents/{id}"), Some(app.owner().await))
            .await;
    }
    let now = DateTime::now().timestamp_millis();
    let docs = app.db.collection::<bson::Document>("documents");
    docs.update_one(
        doc! { "_id": oid(&old_pending) },
        doc! { "$set": { "createdAt": DateTime::from_millis(now - 25 * 3_600_000) } },
    )
    .await
    .unwrap();
    docs.update_one(
        doc! { "_id": oid(&long_deleted) },
        doc! { "$set": { "deletedAt": DateTime::from_millis(now - 31 * 86_400_000) } },
    )
    .await
    .unwrap();
    let keys = [
        app.storage_key(&old_pending).await,
        app.storage_key(&long_deleted).await,
        app.storage_key(&recently_deleted).await,
        app.storage_key(&kept).await,
    ];

    let state = shared::State::from_config(
        shared::config::Config::from_lookup(|k| app.env.get(k).cloned()).unwrap(),
        Some(shared::storage::Storage::s3),
    )
    .await
    .unwrap();
    let report = functions::files::documents::sweep(&state, DateTime::now(), 100)
        .await
        .unwrap();
    assert_eq!(
        (report.scanned, report.deleted, report.remaining),
        (2, 2, 0)
    );
    let storage = app.storage();
    assert!(storage.head(&keys[0]).await.unwrap().is_none());
    assert!(storage.head(&keys[1]).await.unwrap().is_none());
    assert!(storage.head(&keys[2]).await.unwrap().is_some());
    assert!(storage.head(&keys[3]).await.unwrap().is_some());
    assert_eq!(app.count("documents", doc! {}).await, 3);
    assert_eq!(
        app.count("documents", doc! { "_id": oid(&fresh_pending) })
            .await,
        1
    );
    // Run again: nothing left to do.
    let again = functions::files::documents::sweep(&state, DateTime::now(), 100)
        .await
        .unwrap();
    assert_eq!((again.scanned, again.deleted), (0, 0));
}
