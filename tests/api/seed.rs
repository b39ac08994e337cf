//! The demo workshop `crm-local --seed` (README command 1) makes: its users
//! sign in, and its records are there through the API, once however often
//! it runs.

use crate::helpers::*;
use bson::doc;

#[tokio::test]
async fn the_demo_workshop_is_seeded_once_with_users_and_believable_records() {
    let app = TestApp::spawn().await;
    let state = shared::State::from_config(
        shared::config::Config::from_lookup(|k| app.env.get(k).cloned()).unwrap(),
        Some(shared::storage::Storage::s3),
    )
    .await
    .unwrap();
    let demo = functions::maintenance::seed::demo(&state).await.unwrap();
    let users = &demo.users;
    assert_eq!(users.len(), 4);
    let again = functions::maintenance::seed::demo(&state).await.unwrap();
    assert_eq!(again.users.len(), 4);
    // The same working links on every run: the estimate's and the invoice's.
    assert_eq!(again.links, demo.links);
    assert_eq!(demo.links.len(), 2);
    for (purpose, path) in &demo.links {
        let r = app.get(path, None).await;
        assert_eq!(r.status, 200, "{purpose}: {}", r.text);
        assert_eq!(r.body["purpose"], *purpose);
        if *purpose == "INVOICE" {
            // The invoiced work order's inspection, with its photos.
            let items: Vec<&serde_json::Value> = r.body["inspections"][0]["sections"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|s| s["items"].as_array().unwrap())
                .collect();
            assert_eq!(items.len(), 4);
            let photo = items[0]["photos"][0]["url"].as_str().unwrap();
            let got = app.http.get(photo).send().await.unwrap();
            assert_eq!(got.status().as_u16(), 200);
            let png = got.bytes().await.unwrap();
            assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
            assert!(r.body["invoice"]["invoiceNumber"].is_string());
        }
    }
    assert_eq!(app.count("links", doc! {}).await, 2);
    // The shop prints its logo, one of its own documents.
    let org = &app.find("organizations", doc! {}).await[0];
    let logo = org
        .get_document("settings")
        .unwrap()
        .get_str("logoDocumentId")
        .unwrap();
    let logo = &app.find("documents", doc! { "_id": oid(logo) }).await[0];
    assert_eq!(logo.get_str("status").unwrap(), "UPLOADED");
    assert_eq!(logo.get_str("contentType").unwrap(), "image/png");
    let owner = users.iter().find(|u| u.role.as_str() == "OWNER").unwrap();
    let r = app.sign_in(&owner.email, &owner.password).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let token = r.str("accessToken");
    let total = |path: &'static str| {
        let (app, token) = (&app, token.clone());
        async move {
            let r = app.request("GET", path, Some(&token), None, &[]).await;
            assert_eq!(r.status, 200, "{path}: {}", r.text);
            r.body["data"].as_array().unwrap().len()
        }
    };
    assert_eq!(total("/api/v1/accounts").await, 5);
    assert_eq!(total("/api/v1/contacts").await, 5);
    assert_eq!(total("/api/v1/leads").await, 4);
    assert_eq!(total("/api/v1/products").await, 4);
    assert_eq!(total("/api/v1/vehicles").await, 5);
    assert_eq!(total("/api/v1/parts").await, 6);
    assert_eq!(total("/api/v1/canned-jobs").await, 2);
    // A month of clocked time: shifts, jobs on the invoiced work order's
    // labour line (which counts their minutes) and cleaning.
    let entries = app.find("time_entries", doc! {}).await;
    assert!(entries.len() >= 3 * 18, "{}", entries.len());
    let job_minutes: i64 = entries
        .iter()
        .filter(|e| e.get_str("kind").unwrap() == "JOB")
        .map(|e| e.get_i64("minutes").unwrap())
        .sum();
    let invoiced = &app.find("work_orders", doc! { "status": "INVOICED" }).await[0];
    let clocked: i64 = invoiced
        .get_array("lines")
        .unwrap()
        .iter()
        .filter_map(|l| l.as_document())
        .filter_map(|l| shared::db::number(l, "clockedMinutes"))
        .sum();
    assert_eq!(clocked, job_minutes);
    // Three parts are at or under their reorder level.
    assert_eq!(total("/api/v1/parts?lowStock=true").await, 3);
    // Every part's stock is the sum of its movements.
    for part in app.find("parts", doc! {}).await {
        let moved: i64 = app
            .find(
                "stock_movements",
                doc! { "partId": part.get_object_id("_id").unwrap() },
            )
            .await
            .iter()
            .map(|m| m.get_i64("delta").unwrap())
            .sum();
        assert_eq!(part.get_i64("onHand").unwrap(), moved);
    }
    // Each vehicle shows its latest odometer reading, which is on record.
    let vehicles = app
        .request("GET", "/api/v1/vehicles", Some(&token), None, &[])
        .await;
    for v in vehicles.body["data"].as_array().unwrap() {
        let id = v["id"].as_str().unwrap();
        let readings = app
            .request(
                "GET",
                &format!("/api/v1/vehicles/{id}/odometer"),
                Some(&token),
                None,
                &[],
            )
            .await;
        assert_eq!(readings.body["data"][0]["value"], v["odometer"]["value"]);
    }
    // A work order in each status; what the open ones hold is what the
    // parts have reserved.
    let orders = app
        .request(
            "GET",
            "/api/v1/work-orders?limit=100",
            Some(&token),
            None,
            &[],
        )
        .await;
    let mut statuses: Vec<&str> = orders.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["status"].as_str().unwrap())
        .collect();
    statuses.sort();
    assert_eq!(
        statuses,
        [
            "APPROVED",
            "CANCELLED",
            "COMPLETED",
            "ESTIMATE",
            "INVOICED",
            "IN_PROGRESS",
            "PAID"
        ]
    );
    for part in app.find("parts", doc! {}).await {
        let id = part.get_object_id("_id").unwrap();
        let held: i64 = app
            .find(
                "work_orders",
                doc! { "status": { "$in": ["ESTIMATE", "APPROVED", "IN_PROGRESS"] } },
            )
            .await
            .iter()
            .flat_map(|o| o.get_array("lines").unwrap().clone())
            .filter_map(|l| l.as_document().cloned())
            .filter(|l| l.get_object_id("partId").ok() == Some(id))
            .map(|l| l.get_i64("quantity").unwrap())
            .sum();
        assert_eq!(part.get_i64("reserved").unwrap(), held);
        assert_eq!(
            part.get_i64("available").unwrap(),
            part.get_i64("onHand").unwrap() - held
        );
    }
    let invoiced = orders.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["status"] == "INVOICED")
        .unwrap();
    let inv = app
        .request(
            "GET",
            &format!(
                "/api/v1/work-orders/{}/invoice",
                invoiced["id"].as_str().unwrap()
            ),
            Some(&token),
            None,
            &[],
        )
        .await;
    assert_eq!(inv.status, 200, "{}", inv.text);
    assert_eq!(inv.body["balance"], inv.body["total"]);
    // The numbering continues after the seeded ones.
    let vehicle = vehicles.body["data"][0]["id"].as_str().unwrap();
    let r = app
        .request(
            "POST",
            "/api/v1/work-orders",
            Some(&token),
            Some(
                serde_json::to_vec(
                    &serde_json::json!({ "vehicleId": vehicle, "complaint": "Rattle" }),
                )
                .unwrap(),
            ),
            &[("content-type", "application/json")],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["number"], "WO-000008");
    // A week of appointments, in working hours, none overlapping.
    let week = app
        .request(
            "GET",
            "/api/v1/appointments?limit=100",
            Some(&token),
            None,
            &[],
        )
        .await;
    assert_eq!(
        week.body["data"].as_array().unwrap().len(),
        15,
        "{}",
        week.text
    );
    let day = week.body["data"][0]["startAt"].as_str().unwrap()[..10].to_string();
    let free = app
        .request(
            "GET",
            &format!("/api/v1/appointments/availability?date={day}&durationMinutes=60&bay=Bay%201"),
            Some(&token),
            None,
            &[],
        )
        .await;
    assert_eq!(free.status, 200, "{}", free.text);
    assert!(!free.body["slots"].as_array().unwrap().is_empty());
}
