//! Share links: a work order's estimate opened by its customer without an
//! account (a snapshot with nothing internal, totals equal to the API's),
//! decisions by link under If-Match with the staff approval's stock rules,
//! revocation and expiry, and what staff see of their links.

use bson::doc;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::work_orders::{add_line, customer, open, part_doc, stocked_part};

/// A work order with a PART line (2 reserved) and a LABOR line: (order,
/// part, part line, labour line).
async fn estimate(app: &TestApp, owner: &Actor) -> (String, String, String, String) {
    let (_, vehicle) = customer(app, owner).await;
    // The plate and the contact the customer's view shows.
    let contact = app
        .create_record(
            owner,
            "contacts",
            json!({ "firstName": "Jonas", "lastName": "Müller", "email": "jonas@example.com" }),
        )
        .await;
    let r = app
        .patch(
            &format!("/api/v1/vehicles/{vehicle}"),
            Some(owner),
            json!({ "plate": "B-AB 1234", "contactId": contact, "year": 2019 }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = open(
        app,
        owner,
        &vehicle,
        json!({ "notes": "internal: customer haggles" }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let order = r.str("id");
    let part = stocked_part(app, "PAD-1", 10).await;
    let r = add_line(
        app,
        owner,
        &order,
        json!({ "type": "PART", "partId": part, "quantity": 2, "unitPrice": 4500, "taxRate": 1900, "description": "Brake pads" }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = add_line(
        app,
        owner,
        &order,
        json!({ "type": "LABOR", "quantity": 150, "unitPrice": 9000, "taxRate": 1900, "description": "Fit pads" }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let lines = r.body["lines"].as_array().unwrap();
    let (pads, labour) = (
        lines[0]["id"].as_str().unwrap().to_string(),
        lines[1]["id"].as_str().unwrap().to_string(),
    );
    (order, part, pads, labour)
}

/// Shares `order` for `purpose`: (link id, token).
async fn share(app: &TestApp, actor: &Actor, order: &str, purpose: &str) -> (String, String) {
    let r = app
        .post(
            &format!("/api/v1/work-orders/{order}/share-links"),
            Some(actor),
            json!({ "purpose": purpose }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let url = r.str("url");
    let token = url.rsplit('/').next().unwrap().to_string();
    (r.str("id"), token)
}

async fn decide(app: &TestApp, token: &str, etag: &str, body: Value) -> Resp {
    app.request(
        "POST",
        &format!("/api/v1/public/share/{token}/decisions"),
        None,
        Some(body.to_string().into_bytes()),
        &[("content-type", "application/json"), ("if-match", etag)],
    )
    .await
}

/// Every key of `v`, nested, as `a.b.c` paths (array items as `[]`).
fn paths(v: &Value, prefix: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let p = format!("{prefix}.{k}");
                out.push(p.clone());
                paths(v, &p, out);
            }
        }
        Value::Array(a) => {
            for v in a {
                paths(v, &format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}

/// Names of what stays inside the shop: never a key of the public view.
const INTERNAL: &[&str] = &[
    "notes",
    "cost",
    "unitCost",
    "technicianId",
    "partId",
    "accountId",
    "vehicleId",
    "contactId",
    "createdBy",
    "organizationId",
    "approvalIp",
    "approvedBy",
    "internalNote",
    "vin",
    "email",
    "tokenHash",
    "storageKey",
    "workOrderId",
    "inspectionId",
];

/// `schema` with its `$ref` followed in `doc`.
fn resolved<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => resolved(doc, doc.pointer(r.trim_start_matches('#')).unwrap()),
        None => schema,
    }
}

/// Every key of `value` (at any depth) that `schema` does not declare, as
/// a path; an object where the schema allows anything counts too.
fn undeclared(doc: &Value, schema: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
    let schema = resolved(doc, schema);
    if let Some(alternatives) = schema["anyOf"].as_array() {
        if value.is_null() {
            return;
        }
        let inner = alternatives
            .iter()
            .find(|a| a["type"] != "null")
            .expect("a non-null alternative");
        return undeclared(doc, inner, value, at, out);
    }
    match value {
        Value::Object(map) => {
            let Some(props) = schema["properties"].as_object() else {
                out.push(format!("{at} (an object the schema does not describe)"));
                return;
            };
            for (k, v) in map {
                match props.get(k) {
                    Some(s) => undeclared(doc, s, v, &format!("{at}.{k}"), out),
                    None => out.push(format!("{at}.{k}")),
                }
            }
        }
        Value::Array(items) => {
            for v in items {
                undeclared(doc, &schema["items"], v, &format!("{at}[]"), out);
            }
        }
        _ => {}
    }
}

/// Every property name `schema` declares, at any depth.
fn declared(doc: &Value, schema: &Value, out: &mut Vec<String>) {
    let schema = resolved(doc, schema);
    for alternative in schema["anyOf"].as_array().into_iter().flatten() {
        declared(doc, alternative, out);
    }
    if let Some(props) = schema["properties"].as_object() {
        for (k, s) in props {
            out.push(k.clone());
            declared(doc, s, out);
        }
    }
    if schema.get("items").is_some() {
        declared(doc, &schema["items"], out);
    }
}

#[tokio::test]
async fn the_public_view_has_only_what_its_schema_declares_and_that_nothing_internal() {
    let app = TestApp::spawn().await;
    let spec = app.get("/api/v1/openapi.json", None).await.body;
    let schema = &spec["paths"]["/api/v1/public/share/{token}"]["get"]["responses"]["200"]
        ["content"]["application/json"]["schema"];
    assert!(schema.is_object(), "the view is declared");
    let mut names = vec![];
    declared(&spec, schema, &mut names);
    assert!(names.len() > 40, "read the schema: {names:?}");
    let leaked: Vec<&String> = names
        .iter()
        .filter(|n| INTERNAL.contains(&n.as_str()))
        .collect();
    assert!(leaked.is_empty(), "internal names declared: {leaked:?}");

    // Real answers: the demo's estimate and its invoiced work order (an
    // inspection with photos, payments, the shop's logo), and an estimate
    // with a contact and a vehicle.
    let state = shared::State::from_config(
        shared::config::Config::from_lookup(|k| app.env.get(k).cloned()).unwrap(),
        Some(shared::storage::Storage::s3),
    )
    .await
    .unwrap();
    let demo = functions::maintenance::seed::demo(&state).await.unwrap();
    let mut paths_seen = vec![];
    for (_, path) in &demo.links {
        paths_seen.push(path.clone());
    }
    let owner = app.owner().await.clone();
    let (order, _, _, _) = estimate(&app, &owner).await;
    let (_, token) = share(&app, &owner, &order, "ESTIMATE").await;
    paths_seen.push(format!("/api/v1/public/share/{token}"));
    let mut photos = 0;
    for path in paths_seen {
        let r = app.get(&path, None).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        let mut out = vec![];
        undeclared(&spec, schema, &r.body, "", &mut out);
        assert!(out.is_empty(), "{path}: undeclared {out:?}");
        photos += r.text.matches("\"contentType\"").count();
        if path.contains(&token) {
            assert!(r.body["shop"]["logo"].is_null(), "no logo set here");
        } else {
            // The demo shop's logo document, by a short-lived URL.
            let logo = app
                .http
                .get(r.body["shop"]["logo"].as_str().unwrap())
                .send()
                .await
                .unwrap();
            assert_eq!(logo.status().as_u16(), 200);
            assert_eq!(logo.headers()["content-type"], "image/png");
            assert!(logo.bytes().await.unwrap().starts_with(b"\x89PNG"));
        }
    }
    assert!(photos > 0, "the answers walked included photos");
}

#[tokio::test]
async fn a_customer_opens_the_estimate_and_decides_by_link() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await.clone();
    let (order, part, pads, labour) = estimate(&app, &owner).await;
    let (link, token) = share(&app, &owner, &order, "ESTIMATE").await;
    assert_eq!(token.len(), 43);
    // Only the hash is kept.
    let stored = &app.find("links", doc! { "_id": oid(&link) }).await[0];
    assert_ne!(stored.get_str("tokenHash").unwrap(), token);
    assert!(!stored.to_string().contains(&token));

    let r = app
        .get(&format!("/api/v1/public/share/{token}"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let etag = r.header("etag").unwrap().to_string();
    let staff = app
        .get(&format!("/api/v1/work-orders/{order}"), Some(&owner))
        .await;
    assert_eq!(etag, format!("\"{}\"", staff.body["version"]));
    for k in ["subtotal", "tax", "total"] {
        assert_eq!(r.body["workOrder"][k], staff.body[k], "{k}");
    }
    assert_eq!(r.body["customer"]["firstName"], "Jonas");
    let plate = r.body["vehicle"]["plate"].as_str().unwrap();
    let (hidden, shown) = plate.split_at(plate.len() - 3);
    assert_eq!(shown, "234");
    assert!(
        !hidden.is_empty() && hidden.chars().all(|c| c == '•'),
        "{plate}"
    );
    assert_eq!(r.body["vehicle"]["make"], "Skoda");
    assert_eq!(r.body["shop"]["name"], "Acme Garage");
    // Nothing internal: only the declared keys, no other record's id.
    let mut keys = vec![];
    paths(&r.body, "", &mut keys);
    for k in &keys {
        let leaf = k.rsplit('.').next().unwrap();
        assert!(!INTERNAL.contains(&leaf), "{k} leaked");
    }
    assert!(!r.text.contains("haggles"));
    let ids: Vec<&str> = r.body["workOrder"]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [pads.as_str(), labour.as_str()]);
    assert!(!r.text.contains(&order), "the work order's id is not shown");

    // Without If-Match: 428; with an old one: 412.
    let body = json!({ "lines": [{ "lineId": pads, "decision": "DECLINED" }, { "lineId": labour, "decision": "APPROVED" }], "signerName": "Jonas Müller" });
    let r = app
        .request(
            "POST",
            &format!("/api/v1/public/share/{token}/decisions"),
            None,
            Some(body.to_string().into_bytes()),
            &[("content-type", "application/json")],
        )
        .await;
    r.assert_problem(428, "PRECONDITION_REQUIRED");
    decide(&app, &token, "\"1\"", body.clone())
        .await
        .assert_problem(412, "VERSION_MISMATCH");
    assert_eq!(
        part_doc(&app, &part).await.get_i64("reserved").unwrap_or(2),
        2
    );

    let r = decide(&app, &token, &etag, body.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let after = app
        .get(&format!("/api/v1/work-orders/{order}"), Some(&owner))
        .await;
    let lines = after.body["lines"].as_array().unwrap();
    assert_eq!(lines[0]["approval"], "DECLINED");
    assert_eq!(lines[0]["approvalMethod"], "LINK");
    assert_eq!(lines[0]["approvedBy"], "Jonas Müller");
    assert_eq!(lines[1]["approval"], "APPROVED");
    assert_eq!(r.body["workOrder"]["total"], after.body["total"]);
    // Declining the pads released their stock, as staff approval does.
    let p = part_doc(&app, &part).await;
    assert_eq!(shared::db::number(&p, "reserved"), Some(0));

    // The same body again (same If-Match) changes nothing; another
    // decision on a decided line is a conflict.
    let again = decide(&app, &token, &etag, body).await;
    assert_eq!(again.status, 200, "{}", again.text);
    let version = app
        .get(&format!("/api/v1/work-orders/{order}"), Some(&owner))
        .await
        .body["version"]
        .clone();
    assert_eq!(version, after.body["version"]);
    let other = json!({ "lines": [{ "lineId": pads, "decision": "APPROVED" }], "signerName": "Jonas Müller" });
    decide(&app, &token, &format!("\"{version}\""), other)
        .await
        .assert_problem(409, "DECISION_CONFLICT");

    // Staff see the views and the decision.
    let r = app
        .get(
            &format!("/api/v1/work-orders/{order}/share-links"),
            Some(&owner),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let shown = &r.body["data"][0];
    assert_eq!(shown["viewCount"], 1);
    assert!(shown["firstViewedAt"].is_string());
    assert!(shown["decidedAt"].is_string());
    assert_eq!(shown["status"], "ACTIVE");
    assert!(shown.get("tokenHash").is_none());
    let audit = app
        .find(
            "audit_log",
            doc! { "resource": "share_link", "changes.method": "LINK" },
        )
        .await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].get_str("actorType").unwrap(), "LINK");
    assert_eq!(audit[0].get_object_id("linkId").unwrap(), oid(&link));
}

#[tokio::test]
async fn a_revoked_or_expired_link_is_gone_and_an_unknown_one_is_not_found() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await.clone();
    let (order, _, _, _) = estimate(&app, &owner).await;
    let (link, token) = share(&app, &owner, &order, "ESTIMATE").await;
    let r = app
        .delete(&format!("/api/v1/share-links/{link}"), Some(&owner))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let gone = app
        .get(&format!("/api/v1/public/share/{token}"), None)
        .await;
    gone.assert_problem(410, "LINK_REVOKED");
    // Errors are readable by a share page on any origin too.
    assert_eq!(gone.header("access-control-allow-origin"), Some("*"));
    assert_eq!(gone.header("cache-control"), Some("no-store"));
    let (_, token) = share(&app, &owner, &order, "ESTIMATE").await;
    app.db
        .collection::<bson::Document>("links")
        .update_many(
            doc! { "revokedAt": null },
            doc! { "$set": { "expiresAt": bson::DateTime::from_millis(1_000) } },
        )
        .await
        .unwrap();
    app.get(&format!("/api/v1/public/share/{token}"), None)
        .await
        .assert_problem(410, "LINK_EXPIRED");
    let unknown = "A".repeat(43);
    app.get(&format!("/api/v1/public/share/{unknown}"), None)
        .await
        .assert_problem(404, "NOT_FOUND");
    // Another organization cannot revoke this one's link.
    let other = app.other().await.clone();
    app.delete(&format!("/api/v1/share-links/{link}"), Some(&other))
        .await
        .assert_problem(404, "NOT_FOUND");
    // An invoice link needs an invoiced work order.
    app.post(
        &format!("/api/v1/work-orders/{order}/share-links"),
        Some(&owner),
        json!({ "purpose": "INVOICE" }),
    )
    .await
    .assert_problem(409, "INVALID_TRANSITION");
}

#[tokio::test]
async fn the_link_is_built_from_the_organizations_template_and_can_be_emailed() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await.clone();
    let r = app
        .patch(
            "/api/v1/organization",
            Some(&owner),
            json!({ "settings": { "shareUrlTemplate": "https://shop.example/approve/{token}", "address": "Hauptstr. 1, Berlin" } }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    for bad in [
        "https://shop.example/approve",
        "http://shop.example/approve/{token}",
    ] {
        app.patch(
            "/api/v1/organization",
            Some(&owner),
            json!({ "settings": { "shareUrlTemplate": bad } }),
        )
        .await
        .assert_problem(422, "VALIDATION_FAILED");
    }
    let (order, _, _, _) = estimate(&app, &owner).await;
    let r = app
        .post(
            &format!("/api/v1/work-orders/{order}/share-links"),
            Some(&owner),
            json!({ "purpose": "ESTIMATE", "expiresInHours": 2, "sendTo": "jonas@example.com" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let url = r.str("url");
    assert!(url.starts_with("https://shop.example/approve/"), "{url}");
    let token = url.rsplit('/').next().unwrap();
    let mail = app
        .find("email_outbox", doc! { "to": "jonas@example.com" })
        .await;
    assert_eq!(mail.len(), 1);
    let view = app
        .get(&format!("/api/v1/public/share/{token}"), None)
        .await;
    assert_eq!(view.status, 200, "{}", view.text);
    assert_eq!(view.body["shop"]["address"], "Hauptstr. 1, Berlin");
    app.post(
        &format!("/api/v1/work-orders/{order}/share-links"),
        Some(&owner),
        json!({ "purpose": "ESTIMATE", "expiresInHours": 721 }),
    )
    .await
    .assert_problem(422, "VALIDATION_FAILED");
}

#[tokio::test]
async fn a_line_named_twice_is_refused_and_moves_no_stock() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await.clone();
    let (order, part, pads, _) = estimate(&app, &owner).await;
    let (_, token) = share(&app, &owner, &order, "ESTIMATE").await;
    let r = app
        .get(&format!("/api/v1/public/share/{token}"), None)
        .await;
    let etag = r.header("etag").unwrap().to_string();
    let twice = json!({ "lines": [{ "lineId": pads, "decision": "DECLINED" }, { "lineId": pads, "decision": "DECLINED" }], "signerName": "Jonas" });
    decide(&app, &token, &etag, twice)
        .await
        .assert_problem(422, "VALIDATION_FAILED");
    let p = part_doc(&app, &part).await;
    assert_eq!(shared::db::number(&p, "reserved"), Some(2));
    let r = crate::work_orders::approve(
        &app,
        &owner,
        &order,
        &[(&pads, "DECLINED"), (&pads, "APPROVED")],
    )
    .await;
    r.assert_problem(422, "VALIDATION_FAILED");
    let p = part_doc(&app, &part).await;
    assert_eq!(shared::db::number(&p, "reserved"), Some(2));
}

#[tokio::test]
async fn a_signature_is_kept_as_a_document_of_the_work_order() {
    use base64::Engine;
    let app = TestApp::spawn().await;
    let owner = app.owner().await.clone();
    let (order, _, pads, labour) = estimate(&app, &owner).await;
    let (link, token) = share(&app, &owner, &order, "ESTIMATE").await;
    let etag = app
        .get(&format!("/api/v1/public/share/{token}"), None)
        .await
        .header("etag")
        .unwrap()
        .to_string();
    let signatures = doc! { "purpose": "SIGNATURE", "relatedTo.id": oid(&order) };

    // Not a PNG: 422, nothing decided, nothing stored.
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let lines = json!([{ "lineId": pads, "decision": "APPROVED" }, { "lineId": labour, "decision": "APPROVED" }]);
    let r = decide(
        &app,
        &token,
        &etag,
        json!({ "lines": lines, "signerName": "Jonas", "signaturePng": b64(b"GIF89a....") }),
    )
    .await;
    r.assert_problem(422, "VALIDATION_FAILED");
    assert_eq!(r.error_fields(), ["signaturePng"]);
    assert_eq!(app.count("documents", signatures.clone()).await, 0);

    let png = functions::maintenance::seed::demo_png(60, 20, [10, 10, 10]);
    let body = json!({ "lines": lines, "signerName": "Jonas", "signaturePng": b64(&png) });
    let r = decide(&app, &token, &etag, body.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let found = app.find("documents", signatures.clone()).await;
    assert_eq!(found.len(), 1);
    let doc_id = found[0].get_object_id("_id").unwrap().to_hex();
    assert_eq!(found[0].get_str("status").unwrap(), "UPLOADED");
    assert_eq!(found[0].get_str("contentType").unwrap(), "image/png");
    assert_eq!(found[0].get_object_id("createdBy").unwrap(), oid(&link));
    // The link names it, staff download it as any document.
    let listed = app
        .get(
            &format!("/api/v1/work-orders/{order}/share-links"),
            Some(&owner),
        )
        .await;
    assert_eq!(
        listed.body["data"][0]["signatureDocumentId"],
        doc_id.as_str()
    );
    let r = app
        .get(&format!("/api/v1/documents/{doc_id}"), Some(&owner))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let got = app
        .http
        .get(r.str("downloadUrl"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(got.to_vec(), png);
    let files = app
        .get(
            &format!("/api/v1/documents?relatedToId={order}"),
            Some(&owner),
        )
        .await;
    assert_eq!(files.body["data"].as_array().unwrap().len(), 1);

    // The same decisions again: no second signature.
    let again = decide(&app, &token, &etag, body).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(app.count("documents", signatures).await, 1);
}
