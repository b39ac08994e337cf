//! Digital vehicle inspections: a template copied into a work order (later
//! template edits change nothing there), items rated by measurement and
//! threshold, recommended work added as PENDING lines in the item's
//! transaction, completion freezing ratings, reopening by ADMIN+, and the
//! customer's view showing ratings and notes for the customer only.

use bson::doc;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::work_orders::{customer, open, part_doc, stocked_part};

fn template() -> Value {
    json!({
        "name": "Brakes and tyres",
        "sections": [
            { "title": "Brakes", "items": [
                { "label": "Front pads", "kind": "MEASUREMENT", "unit": "0.1 mm",
                  "thresholds": { "yellowBelow": 40, "redBelow": 20 } },
                { "label": "Brake fluid", "kind": "CHECK" },
            ]},
            { "title": "Tyres", "items": [ { "label": "Tread", "kind": "RATING" } ] },
        ],
    })
}

/// The item ids of an inspection, in order.
fn items(inspection: &Value) -> Vec<String> {
    inspection["sections"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["items"].as_array().unwrap().iter())
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn an_inspection_rates_items_recommends_work_and_shows_the_customer_what_is_theirs() {
    let app = TestApp::spawn().await;
    let (owner, admin, member) = (
        app.owner().await.clone(),
        app.admin().await.clone(),
        app.member().await.clone(),
    );
    app.post("/api/v1/inspection-templates", Some(&member), template())
        .await
        .assert_problem(403, "PERMISSION_DENIED");
    let template_id = app
        .create_record(&admin, "inspection-templates", template())
        .await;
    // Every role reads them: a technician starts an inspection from one.
    let r = app.get("/api/v1/inspection-templates", Some(&member)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
    let (_, vehicle) = customer(&app, &owner).await;
    let r = open(&app, &member, &vehicle, json!({})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let order = r.str("id");
    let base = format!("/api/v1/work-orders/{order}/inspections");
    let r = app
        .post(&base, Some(&member), json!({ "templateId": template_id }))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let inspection = r.str("id");
    let ids = items(&r.body);
    assert_eq!(ids.len(), 3);
    // A later edit of the template changes nothing here.
    let r = app
        .patch(
            &format!("/api/v1/inspection-templates/{template_id}"),
            Some(&admin),
            json!({ "name": "Renamed", "sections": [{ "title": "Only", "items": [{ "label": "X", "kind": "CHECK" }] }] }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let listed = app.get(&base, Some(&member)).await;
    assert_eq!(listed.body["data"][0]["name"], "Brakes and tyres");
    assert_eq!(items(&listed.body["data"][0]), ids);

    // A measurement under a threshold suggests the rating.
    let item = |i: usize| format!("{base}/{inspection}/items/{}", ids[i]);
    for (value, rating) in [(15, "RED"), (30, "YELLOW"), (55, "GREEN")] {
        let r = app
            .patch(
                &item(0),
                Some(&member),
                json!({ "measurement": { "value": value } }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let it = &r.body["sections"][0]["items"][0];
        assert_eq!(it["rating"], rating, "{value}");
        assert_eq!(it["measurement"]["unit"], "0.1 mm");
    }
    let r = app
        .patch(
            &item(0),
            Some(&member),
            json!({ "measurement": { "value": 18 }, "noteForCustomer": "Pads worn: replace soon", "internalNote": "upsell discs" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.patch(&item(2), Some(&member), json!({ "rating": "PURPLE" }))
        .await
        .assert_problem(422, "VALIDATION_FAILED");

    // Recommended work: PENDING lines linked to the item, stock reserved.
    let part = stocked_part(&app, "PAD-9", 5).await;
    let r = app
        .post(
            &format!("{}/recommendation", item(0)),
            Some(&member),
            json!({ "lines": [
                { "type": "PART", "partId": part, "quantity": 2 },
                { "type": "LABOR", "quantity": 100, "unitPrice": 9000, "description": "Fit pads" },
            ] }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let lines = r.body["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 2);
    for l in lines {
        assert_eq!(l["approval"], "PENDING");
        assert_eq!(l["inspectionItemId"], ids[0].as_str());
    }
    assert_eq!(
        shared::db::number(&part_doc(&app, &part).await, "reserved"),
        Some(2)
    );
    let stored = &app
        .find("inspections", doc! { "_id": oid(&inspection) })
        .await[0];
    let linked = stored.get_array("sections").unwrap()[0]
        .as_document()
        .unwrap()
        .get_array("items")
        .unwrap()[0]
        .as_document()
        .unwrap()
        .get_array("recommendationLineIds")
        .unwrap()
        .len();
    assert_eq!(linked, 2);
    // Too much stock: nothing is added, nothing linked.
    app.post(
        &format!("{}/recommendation", item(1)),
        Some(&member),
        json!({ "lines": [{ "type": "PART", "partId": part, "quantity": 50 }] }),
    )
    .await
    .assert_problem(409, "INSUFFICIENT_STOCK");
    let wo = app
        .get(&format!("/api/v1/work-orders/{order}"), Some(&member))
        .await;
    assert_eq!(wo.body["lines"].as_array().unwrap().len(), 2);

    // A photo of the item: its type and length bound by the presigned PUT.
    let photos = format!("{}/photos", item(0));
    let ask = |name: &str, content_type: &str, size: usize| {
        let (app, member, photos) = (&app, &member, &photos);
        let body = json!({ "fileName": name, "contentType": content_type, "size": size });
        async move { app.post(photos, Some(member), body).await }
    };
    ask("pads.pdf", "application/pdf", 10)
        .await
        .assert_problem(422, "UNSUPPORTED_FILE_TYPE");
    ask("pads.jpg", "image/jpeg", 15 * 1024 * 1024 + 1)
        .await
        .assert_problem(422, "FILE_TOO_LARGE");
    let r = ask("clip.mp4", "video/mp4", 15 * 1024 * 1024 + 1).await;
    assert_eq!(r.status, 201, "a video may be larger: {}", r.text);
    let bytes = file_bytes(2_000);
    let r = ask("pads.png", "image/png", bytes.len()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let other = app
        .http
        .put(r.body["uploadUrl"].as_str().unwrap())
        .header("content-type", "image/png")
        .body(file_bytes(2_500))
        .send()
        .await
        .unwrap();
    assert_eq!(
        other.status().as_u16(),
        403,
        "the store took another length"
    );
    let (status, text) = app.put_presigned(&r.body, bytes.clone()).await;
    assert_eq!(status, 200, "{text}");
    let done = app.complete(&member, &r.str("documentId")).await;
    assert_eq!(done.status, 200, "{}", done.text);

    // Completed: ratings frozen, notes still editable; reopening is ADMIN+.
    let r = app
        .post(
            &format!("{base}/{inspection}/complete"),
            Some(&member),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "COMPLETED");
    app.patch(&item(2), Some(&member), json!({ "rating": "GREEN" }))
        .await
        .assert_problem(409, "INSPECTION_COMPLETED");
    ask("late.png", "image/png", 10)
        .await
        .assert_problem(409, "INSPECTION_COMPLETED");
    app.post(
        &format!("{}/recommendation", item(2)),
        Some(&member),
        json!({ "lines": [{ "type": "FEE", "quantity": 1, "unitPrice": 100 }] }),
    )
    .await
    .assert_problem(409, "INSPECTION_COMPLETED");
    let r = app
        .patch(
            &item(2),
            Some(&member),
            json!({ "noteForCustomer": "Good tread" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.post(
        &format!("{base}/{inspection}/reopen"),
        Some(&member),
        json!({}),
    )
    .await
    .assert_problem(403, "PERMISSION_DENIED");
    let r = app
        .post(
            &format!("{base}/{inspection}/reopen"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "IN_PROGRESS");
    let r = app
        .post(
            &format!("{base}/{inspection}/complete"),
            Some(&member),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let audited = app
        .find(
            "audit_log",
            doc! { "resource": "inspection", "changes.status.to": "IN_PROGRESS" },
        )
        .await;
    assert_eq!(audited.len(), 1);

    // The customer sees ratings and notes meant for them, not internal ones.
    let r = app
        .post(
            &format!("/api/v1/work-orders/{order}/share-links"),
            Some(&owner),
            json!({ "purpose": "ESTIMATE" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let token = r.str("url").rsplit('/').next().unwrap().to_string();
    let view = app
        .get(&format!("/api/v1/public/share/{token}"), None)
        .await;
    assert_eq!(view.status, 200, "{}", view.text);
    let shown = &view.body["inspections"][0]["sections"][0]["items"][0];
    assert_eq!(shown["rating"], "RED");
    assert_eq!(shown["noteForCustomer"], "Pads worn: replace soon");
    assert!(!view.text.contains("upsell"), "an internal note leaked");
    assert!(
        !view.text.contains(&ids[0]),
        "item ids are not the customer's"
    );
    let photo = &shown["photos"][0];
    assert_eq!(photo["contentType"], "image/png");
    let got = app
        .http
        .get(photo["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(got.status().as_u16(), 200);
    assert_eq!(got.bytes().await.unwrap().to_vec(), bytes);

    // Another organization sees none of it.
    let other = app.other().await.clone();
    app.get(&base, Some(&other))
        .await
        .assert_problem(404, "NOT_FOUND");
    app.patch(&item(2), Some(&other), json!({ "rating": "RED" }))
        .await
        .assert_problem(404, "NOT_FOUND");
}
