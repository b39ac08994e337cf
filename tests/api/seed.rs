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
        None,
    )
    .await
    .unwrap();
    let users = functions::maintenance::seed::demo(&state).await.unwrap();
    assert_eq!(users.len(), 4);
    let again = functions::maintenance::seed::demo(&state).await.unwrap();
    assert_eq!(again.len(), 4);
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
}
