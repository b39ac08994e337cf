//! Canned jobs: copied into a work order as one group (PART lines priced
//! from their part, stock reserved in the same transaction, all or
//! nothing), a package price made exact by an ADJUSTMENT line that follows
//! the customer's decisions on the group, and a copy that later edits of
//! the job do not change.

use serde_json::{json, Value};

use crate::helpers::*;
use crate::work_orders::{customer, open, part_doc, stocked_part};

async fn job(app: &TestApp, actor: &Actor, part: &str, package: Option<i64>) -> Resp {
    let mut body = json!({
        "name": "Brake pads front",
        "category": "Brakes",
        "lines": [
            { "type": "LABOR", "description": "Fit pads", "quantity": 150, "unitPrice": 9000, "taxRate": 1900 },
            { "type": "PART", "partId": part, "quantity": 2 },
        ],
    });
    if let Some(p) = package {
        body["packagePrice"] = json!(p);
    }
    app.post("/api/v1/canned-jobs", Some(actor), body).await
}

async fn apply(app: &TestApp, actor: &Actor, order: &str, job: &str) -> Resp {
    app.post(
        &format!("/api/v1/work-orders/{order}/canned-jobs"),
        Some(actor),
        json!({ "cannedJobId": job }),
    )
    .await
}

fn lines(order: &Value) -> Vec<Value> {
    order["lines"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_canned_job_adds_its_lines_as_one_group_at_its_package_price() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await.clone();
    let member = app.member().await.clone();
    let part = stocked_part(&app, "PAD-1", 10).await;
    // ADMIN+ write canned jobs; a PART line names its part.
    job(&app, &member, &part, None)
        .await
        .assert_problem(403, "PERMISSION_DENIED");
    let r = app
        .post(
            "/api/v1/canned-jobs",
            Some(&owner),
            json!({ "name": "x", "lines": [{ "type": "PART", "quantity": 1 }] }),
        )
        .await;
    r.assert_problem(422, "VALIDATION_FAILED");
    assert_eq!(r.error_fields(), ["lines[0].partId"]);
    let r = job(&app, &owner, &part, Some(14_900)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let job_id = r.str("id");
    assert_eq!(
        app.get("/api/v1/canned-jobs", Some(&member)).await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // A MEMBER applies it to a work order of their own.
    let (_, vehicle) = customer(&app, &owner).await;
    let order = open(&app, &member, &vehicle, json!({})).await.str("id");
    let r = apply(&app, &member, &order, &job_id).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let got = lines(&r.body);
    assert_eq!(got.len(), 3);
    let group = &got[0]["group"]["id"];
    assert!(got.iter().all(|l| &l["group"]["id"] == group));
    assert_eq!(got[0]["group"]["cannedJobId"], job_id.as_str());
    // The part's price, its stock reserved.
    assert_eq!(got[1]["unitPrice"], 1299);
    assert_eq!(
        shared::db::number(&part_doc(&app, &part).await, "reserved"),
        Some(2)
    );
    // 135.00 + 25.98 = 160.98, made 149.00 by the adjustment.
    assert_eq!(got[2]["type"], "ADJUSTMENT");
    assert_eq!(got[2]["amount"], -1_198);
    let net: i64 = got.iter().map(|l| l["amount"].as_i64().unwrap()).sum();
    assert_eq!(net, 14_900);
    assert_eq!(r.body["subtotal"], 14_900);
    // 19 % of 135.00, of 25.98 and of -11.98, each rounded half-even.
    assert_eq!(r.body["tax"], 2_565 + 494 - 228);

    // The adjustment is not decided on; it follows the group's lines.
    let decide = |ids: Vec<(&Value, &str)>| {
        let body = json!({
            "approvedBy": "Customer", "method": "PHONE",
            "lines": ids.iter().map(|(id, d)| json!({ "lineId": id, "decision": d })).collect::<Vec<_>>(),
        });
        let (app, owner, order) = (&app, &owner, &order);
        async move {
            app.post(
                &format!("/api/v1/work-orders/{order}/approval"),
                Some(owner),
                body,
            )
            .await
        }
    };
    let r = decide(vec![(&got[2]["id"], "APPROVED")]).await;
    r.assert_problem(422, "VALIDATION_FAILED");
    let r = decide(vec![(&got[0]["id"], "APPROVED")]).await;
    assert_eq!(lines(&r.body)[2]["approval"], "PENDING");
    let r = decide(vec![(&got[1]["id"], "APPROVED")]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(lines(&r.body)[2]["approval"], "APPROVED");
    let r = decide(vec![(&got[1]["id"], "DECLINED")]).await;
    assert_eq!(lines(&r.body)[2]["approval"], "DECLINED");
    // Without the package, the lines' own prices.
    assert_eq!(r.body["subtotal"], 13_500);

    // Editing the canned job changes no work order that used it.
    let r = app
        .patch(
            &format!("/api/v1/canned-jobs/{job_id}"),
            Some(&owner),
            json!({ "name": "Renamed", "packagePrice": 99 }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let after = app
        .get(&format!("/api/v1/work-orders/{order}"), Some(&owner))
        .await;
    assert_eq!(lines(&after.body)[2]["amount"], -1_198);
    assert_eq!(lines(&after.body)[0]["group"]["name"], "Brake pads front");
}

#[tokio::test]
async fn a_short_part_adds_nothing() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await.clone();
    let part = stocked_part(&app, "PAD-2", 1).await;
    let job_id = job(&app, &owner, &part, None).await.str("id");
    let (_, vehicle) = customer(&app, &owner).await;
    let order = open(&app, &owner, &vehicle, json!({})).await.str("id");
    apply(&app, &owner, &order, &job_id)
        .await
        .assert_problem(409, "INSUFFICIENT_STOCK");
    let after = app
        .get(&format!("/api/v1/work-orders/{order}"), Some(&owner))
        .await;
    assert!(lines(&after.body).is_empty());
    assert_eq!(
        shared::db::number(&part_doc(&app, &part).await, "reserved").unwrap_or(0),
        0
    );
    // Another organization's canned job cannot be applied here.
    let other = app.other().await.clone();
    let theirs = app
        .post(
            "/api/v1/canned-jobs",
            Some(&other),
            json!({ "name": "Theirs", "lines": [{ "type": "LABOR", "quantity": 100, "unitPrice": 100 }] }),
        )
        .await;
    assert_eq!(theirs.status, 201, "{}", theirs.text);
    let r = apply(&app, &owner, &order, &theirs.str("id")).await;
    r.assert_problem(422, "VALIDATION_FAILED");
    assert_eq!(r.error_fields(), ["cannedJobId"]);
}

#[tokio::test]
async fn a_parts_cost_is_set_by_admins_and_copied_to_its_lines_but_never_shown_to_the_customer() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await.clone();
    let member = app.member().await.clone();
    let part = stocked_part(&app, "OIL-1", 10).await;
    app.patch(
        &format!("/api/v1/parts/{part}"),
        Some(&member),
        json!({ "unitCost": 700 }),
    )
    .await
    .assert_problem(403, "PERMISSION_DENIED");
    app.post(
        "/api/v1/parts",
        Some(&member),
        json!({ "sku": "X-1", "name": "X", "unitCost": 1 }),
    )
    .await
    .assert_problem(403, "PERMISSION_DENIED");
    // Without a cost, a MEMBER still creates parts.
    let r = app
        .post(
            "/api/v1/parts",
            Some(&member),
            json!({ "sku": "X-2", "name": "X" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = app
        .patch(
            &format!("/api/v1/parts/{part}"),
            Some(&owner),
            json!({ "unitCost": 700 }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    let (_, vehicle) = customer(&app, &owner).await;
    let order = open(&app, &owner, &vehicle, json!({})).await.str("id");
    let r = crate::work_orders::add_line(
        &app,
        &owner,
        &order,
        json!({ "type": "PART", "partId": part, "quantity": 1 }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(lines(&r.body)[0]["unitCost"], 700);
    // A later cost change leaves the line's copy.
    app.patch(
        &format!("/api/v1/parts/{part}"),
        Some(&owner),
        json!({ "unitCost": 900 }),
    )
    .await;
    let after = app
        .get(&format!("/api/v1/work-orders/{order}"), Some(&owner))
        .await;
    assert_eq!(lines(&after.body)[0]["unitCost"], 700);
    // The customer's view shows no cost.
    let r = app
        .post(
            &format!("/api/v1/work-orders/{order}/share-links"),
            Some(&owner),
            json!({ "purpose": "ESTIMATE" }),
        )
        .await;
    let token = r.str("url").rsplit('/').next().unwrap().to_string();
    let view = app
        .get(&format!("/api/v1/public/share/{token}"), None)
        .await;
    assert_eq!(view.status, 200, "{}", view.text);
    assert!(!view.text.to_lowercase().contains("cost"), "{}", view.text);
}

#[tokio::test]
async fn the_package_price_drops_out_when_its_group_is_changed() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await.clone();
    let part = stocked_part(&app, "PAD-9", 10).await;
    let job_id = job(&app, &owner, &part, Some(14_900)).await.str("id");
    let (_, vehicle) = customer(&app, &owner).await;
    let order = open(&app, &owner, &vehicle, json!({})).await.str("id");
    let got = lines(&apply(&app, &owner, &order, &job_id).await.body);
    let approve = json!({
        "approvedBy": "Customer", "method": "PHONE",
        "lines": [{ "lineId": got[0]["id"], "decision": "APPROVED" }, { "lineId": got[1]["id"], "decision": "APPROVED" }],
    });
    let r = app
        .post(
            &format!("/api/v1/work-orders/{order}/approval"),
            Some(&owner),
            approve,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(lines(&r.body)[2]["approval"], "APPROVED");
    assert_eq!(r.body["subtotal"], 14_900);
    // Repricing a line of the package: the package no longer holds.
    let r = app
        .patch(
            &format!(
                "/api/v1/work-orders/{order}/lines/{}",
                got[0]["id"].as_str().unwrap()
            ),
            Some(&owner),
            json!({ "unitPrice": 10_000 }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(lines(&r.body)[2]["approval"], "DECLINED");
    assert_eq!(r.body["subtotal"], 15_000 + 2_598);
    // The adjustment itself is the server's: no PATCH.
    app.patch(
        &format!(
            "/api/v1/work-orders/{order}/lines/{}",
            got[2]["id"].as_str().unwrap()
        ),
        Some(&owner),
        json!({ "description": "mine" }),
    )
    .await
    .assert_problem(422, "VALIDATION_FAILED");
    // Removing a line of another package application drops that one too.
    let again = lines(&apply(&app, &owner, &order, &job_id).await.body);
    let adjustment = again.last().unwrap().clone();
    assert_eq!(adjustment["approval"], "PENDING");
    let r = app
        .delete(
            &format!(
                "/api/v1/work-orders/{order}/lines/{}",
                again[3]["id"].as_str().unwrap()
            ),
            Some(&owner),
        )
        .await;
    assert!(r.status == 200 || r.status == 204, "{}", r.text);
    let after = app
        .get(&format!("/api/v1/work-orders/{order}"), Some(&owner))
        .await;
    let now = lines(&after.body);
    let adj = now.iter().find(|l| l["id"] == adjustment["id"]).unwrap();
    assert_eq!(adj["approval"], "DECLINED");
    // A discount on a line of a package reprices it too: the package price
    // and the discount never stack.
    let third = lines(&apply(&app, &owner, &order, &job_id).await.body);
    let n = third.len();
    let r = app
        .patch(
            &format!(
                "/api/v1/work-orders/{order}/lines/{}",
                third[n - 3]["id"].as_str().unwrap()
            ),
            Some(&owner),
            json!({ "discount": { "percent": 100 } }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let now = lines(&r.body);
    assert_eq!(now[n - 1]["type"], "ADJUSTMENT");
    assert_eq!(now[n - 1]["approval"], "DECLINED");
    assert_eq!(now[n - 3]["amount"], 0);
}
