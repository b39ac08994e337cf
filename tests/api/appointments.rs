//! Appointments: the organization's calendar settings (time zone with
//! daylight saving time, working hours, bays), no overlap on a bay or a
//! technician (also under 20 concurrent bookings), the calendar window and
//! the free slots of a day.

use crate::helpers::*;
use bson::doc;
use serde_json::{json, Value};

/// Berlin, open Monday to Friday 08:00-18:00 and Saturday 09:00-13:00,
/// two bays.
pub(crate) async fn calendar(app: &TestApp) {
    let r = app
        .patch(
            "/api/v1/organization",
            Some(app.admin().await),
            json!({ "settings": {
                "timezone": "Europe/Berlin",
                "workingHours": {
                    "mon": ["08:00", "18:00"], "tue": ["08:00", "18:00"], "wed": ["08:00", "18:00"],
                    "thu": ["08:00", "18:00"], "fri": ["08:00", "18:00"], "sat": ["09:00", "13:00"],
                    "sun": null,
                },
                "bays": ["Bay 1", "Bay 2"],
            } }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

async fn book(app: &TestApp, actor: &Actor, start: &str, end: &str, extra: Value) -> Resp {
    let mut body = json!({ "startAt": start, "endAt": end });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    app.post("/api/v1/appointments", Some(actor), body).await
}

#[tokio::test]
async fn settings_are_checked_and_merged() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    calendar(&app).await;
    let r = app
        .patch(
            "/api/v1/organization",
            Some(admin),
            json!({ "settings": {
                "timezone": "Mars/Olympus_Mons",
                "workingHours": { "mon": ["18:00", "08:00"], "someday": null },
                "bays": [],
            } }),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    let mut fields: Vec<&str> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "settings.bays",
            "settings.timezone",
            "settings.workingHours.mon",
            "settings.workingHours.someday"
        ]
    );
    // A PATCH of one key keeps the others; null clears one.
    let r = app
        .patch(
            "/api/v1/organization",
            Some(admin),
            json!({ "settings": { "currency": "EUR", "bays": null } }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["settings"]["timezone"], "Europe/Berlin");
    assert_eq!(r.body["settings"]["workingHours"]["sat"][1], "13:00");
    assert_eq!(r.body["settings"]["currency"], "EUR");
    assert!(r.body["settings"].get("bays").is_none(), "{}", r.text);
}

#[tokio::test]
async fn working_hours_follow_the_time_zone_through_daylight_saving_time() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    calendar(&app).await;
    // Monday 11 January 2027: Berlin is UTC+1, so it opens at 07:00Z.
    let r = book(
        &app,
        owner,
        "2027-01-11T07:00:00Z",
        "2027-01-11T08:00:00Z",
        json!({}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["status"], "SCHEDULED");
    let r = book(
        &app,
        owner,
        "2027-01-11T06:00:00Z",
        "2027-01-11T07:00:00Z",
        json!({}),
    )
    .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("OUTSIDE_WORKING_HOURS")),
        "{}",
        r.text
    );
    // Monday 12 July 2027: UTC+2, so 06:00Z is 08:00 there and fine.
    let r = book(
        &app,
        owner,
        "2027-07-12T06:00:00Z",
        "2027-07-12T07:00:00Z",
        json!({}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // Until closing and not beyond; Saturday's shorter day; Sunday closed;
    // never across midnight.
    let cases = [
        ("2027-01-11T16:00:00Z", "2027-01-11T17:00:00Z", 201),
        ("2027-01-11T16:30:00Z", "2027-01-11T17:30:00Z", 422),
        ("2027-01-16T08:00:00Z", "2027-01-16T12:00:00Z", 201),
        ("2027-01-16T11:00:00Z", "2027-01-16T12:30:00Z", 422),
        ("2027-01-17T09:00:00Z", "2027-01-17T10:00:00Z", 422),
    ];
    for (start, end, status) in cases {
        let r = book(&app, owner, start, end, json!({})).await;
        assert_eq!(r.status, status, "{start}: {}", r.text);
    }
    // Times that make no appointment, and a bay the workshop has not.
    for (start, end, extra, field) in [
        (
            "2027-01-11T09:00:00Z",
            "2027-01-11T09:00:00Z",
            json!({}),
            "endAt",
        ),
        (
            "2027-01-11T09:00:00Z",
            "2027-01-11T08:00:00Z",
            json!({}),
            "endAt",
        ),
        (
            "2027-01-11T09:00:00Z",
            "2027-01-11T10:00:00Z",
            json!({ "bay": "Bay 9" }),
            "bay",
        ),
    ] {
        let r = book(&app, owner, start, end, extra).await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert_eq!(r.body["errors"][0]["field"], field, "{}", r.text);
    }
    assert_eq!(app.count("appointments", doc! {}).await, 4);

    // A vehicle's appointment is its owner's; a technician is a member.
    let account = app.create_account(owner, "Fleet GmbH").await;
    let vehicle = app
        .create_record(
            owner,
            "vehicles",
            json!({ "make": "Opel", "accountId": account }),
        )
        .await;
    let r = book(
        &app,
        owner,
        "2027-01-11T09:00:00Z",
        "2027-01-11T10:00:00Z",
        json!({ "vehicleId": vehicle }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["accountId"], account.as_str());
    let stranger = app.create_account(owner, "Someone else").await;
    let r = book(
        &app,
        owner,
        "2027-01-11T10:00:00Z",
        "2027-01-11T11:00:00Z",
        json!({ "vehicleId": vehicle, "accountId": stranger }),
    )
    .await;
    assert_eq!(r.body["errors"][0]["field"], "accountId", "{}", r.text);
    let r = book(
        &app,
        owner,
        "2027-01-11T10:00:00Z",
        "2027-01-11T11:00:00Z",
        json!({ "technicianId": app.other().await.id }),
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.text);
}

#[tokio::test]
async fn no_two_appointments_overlap_on_a_bay_or_a_technician() {
    let app = TestApp::spawn().await;
    let (owner, member) = (app.owner().await, app.member().await);
    calendar(&app).await;
    let tech = member.id.clone();
    let bay1 = json!({ "bay": "Bay 1" });
    let first = book(
        &app,
        owner,
        "2027-01-12T09:00:00Z",
        "2027-01-12T10:00:00Z",
        bay1.clone(),
    )
    .await;
    assert_eq!(first.status, 201, "{}", first.text);
    let first_id = first.str("id");
    let r = book(
        &app,
        owner,
        "2027-01-12T09:30:00Z",
        "2027-01-12T10:30:00Z",
        bay1.clone(),
    )
    .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (409, Some("SLOT_TAKEN")),
        "{}",
        r.text
    );
    assert!(
        r.body["detail"].as_str().unwrap().contains(&first_id),
        "{}",
        r.text
    );
    // Half-open: touching ends do not overlap.
    let r = book(
        &app,
        owner,
        "2027-01-12T10:00:00Z",
        "2027-01-12T11:00:00Z",
        bay1.clone(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = book(
        &app,
        owner,
        "2027-01-12T08:00:00Z",
        "2027-01-12T09:00:00Z",
        bay1.clone(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // The technician: busy in Bay 2 means not bookable in Bay 1 at once.
    let r = book(
        &app,
        owner,
        "2027-01-12T12:00:00Z",
        "2027-01-12T13:00:00Z",
        json!({ "bay": "Bay 2", "technicianId": tech }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = book(
        &app,
        owner,
        "2027-01-12T12:30:00Z",
        "2027-01-12T13:30:00Z",
        json!({ "bay": "Bay 1", "technicianId": tech }),
    )
    .await;
    assert_eq!(
        (r.status, r.body["errors"][0]["field"].as_str()),
        (409, Some("technicianId")),
        "{}",
        r.text
    );

    // Cancelling frees the slot; un-cancelling then collides.
    let r = app
        .patch(
            &format!("/api/v1/appointments/{first_id}"),
            Some(owner),
            json!({ "status": "CANCELLED" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = book(
        &app,
        owner,
        "2027-01-12T09:15:00Z",
        "2027-01-12T09:45:00Z",
        bay1.clone(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = app
        .patch(
            &format!("/api/v1/appointments/{first_id}"),
            Some(owner),
            json!({ "status": "SCHEDULED" }),
        )
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (409, Some("SLOT_TAKEN")),
        "{}",
        r.text
    );
    // Moving one onto another is refused too; a note is not a move.
    let r = app
        .patch(
            &format!("/api/v1/appointments/{first_id}"),
            Some(owner),
            json!({ "notes": "Customer called" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // A deleted one frees its slot, and restoring it is checked again.
    let second = book(
        &app,
        owner,
        "2027-01-13T09:00:00Z",
        "2027-01-13T10:00:00Z",
        bay1.clone(),
    )
    .await
    .str("id");
    let r = app
        .delete(&format!("/api/v1/appointments/{second}"), Some(owner))
        .await;
    assert_eq!(r.status, 204);
    let r = book(
        &app,
        owner,
        "2027-01-13T09:00:00Z",
        "2027-01-13T10:00:00Z",
        bay1.clone(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = app
        .post(
            &format!("/api/v1/appointments/{second}/restore"),
            Some(owner),
            json!({}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (409, Some("SLOT_TAKEN")),
        "{}",
        r.text
    );
}

#[tokio::test]
async fn twenty_concurrent_bookings_of_one_slot_make_exactly_one() {
    let app = TestApp::spawn_with(&[("RATE_LIMIT_API_FREE", "100000")]).await;
    let owner = app.owner().await;
    calendar(&app).await;
    let bookings = (0..20).map(|_| {
        book(
            &app,
            owner,
            "2027-01-14T10:00:00Z",
            "2027-01-14T11:00:00Z",
            json!({ "bay": "Bay 2" }),
        )
    });
    let results = futures_util::future::join_all(bookings).await;
    let made = results.iter().filter(|r| r.status == 201).count();
    assert_eq!(
        made,
        1,
        "{:?}",
        results.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for r in results.iter().filter(|r| r.status != 201) {
        assert_eq!(r.body["code"], "SLOT_TAKEN", "{}", r.text);
    }
    assert_eq!(app.count("appointments", doc! { "bay": "Bay 2" }).await, 1);
}

#[tokio::test]
async fn the_calendar_window_and_the_free_slots_of_a_day() {
    let app = TestApp::spawn().await;
    let (owner, viewer) = (app.owner().await, app.viewer().await);
    calendar(&app).await;
    for (start, end, bay) in [
        ("2027-01-11T07:00:00Z", "2027-01-11T09:00:00Z", "Bay 1"),
        ("2027-01-11T12:00:00Z", "2027-01-11T12:30:00Z", "Bay 1"),
        ("2027-01-12T07:00:00Z", "2027-01-12T08:00:00Z", "Bay 2"),
        ("2027-02-01T07:00:00Z", "2027-02-01T08:00:00Z", "Bay 1"),
    ] {
        let r = book(&app, owner, start, end, json!({ "bay": bay })).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let r = app
        .get(
            &format!(
                "/api/v1/appointments?{}",
                "from=2027-01-11T00:00:00Z&to=2027-01-13T00:00:00Z"
            ),
            Some(viewer),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let starts: Vec<&str> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["startAt"].as_str().unwrap())
        .collect();
    assert_eq!(
        starts,
        [
            "2027-01-11T07:00:00.000Z",
            "2027-01-11T12:00:00.000Z",
            "2027-01-12T07:00:00.000Z"
        ]
    );
    // What overlaps the window's start counts too.
    let r = app
        .get(
            &format!(
                "/api/v1/appointments?{}",
                "from=2027-01-11T08:00:00Z&to=2027-01-11T12:00:00Z&bay=Bay%201"
            ),
            Some(viewer),
        )
        .await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1, "{}", r.text);
    let r = app
        .get(
            &format!(
                "/api/v1/appointments?{}",
                "from=2027-01-01T00:00:00Z&to=2027-03-05T00:00:00Z"
            ),
            Some(viewer),
        )
        .await;
    assert_eq!(
        (r.status, r.body["errors"][0]["field"].as_str()),
        (400, Some("to")),
        "{}",
        r.text
    );

    // Monday: Bay 1 is open 07:00Z-17:00Z with 07:00-09:00 and 12:00-12:30
    // taken; hour-long slots start every 15 minutes.
    let r = app
        .get(
            "/api/v1/appointments/availability?date=2027-01-11&durationMinutes=60&bay=Bay%201",
            Some(viewer),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["timezone"], "Europe/Berlin");
    let slots: Vec<&str> = r.body["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["startAt"].as_str().unwrap())
        .collect();
    assert_eq!(slots.first(), Some(&"2027-01-11T09:00:00.000Z"));
    assert_eq!(slots.last(), Some(&"2027-01-11T16:00:00.000Z"));
    assert!(slots.contains(&"2027-01-11T11:00:00.000Z"));
    assert!(
        !slots.contains(&"2027-01-11T11:15:00.000Z"),
        "11:15-12:15 overlaps 12:00"
    );
    assert!(slots.contains(&"2027-01-11T12:30:00.000Z"));
    // 09:00..11:00 is 9 starts, 12:30..16:00 is 15.
    assert_eq!(slots.len(), 9 + 15, "{slots:?}");
    // Every bay when none is named; Sunday has none; bad questions are 400.
    let r = app
        .get(
            "/api/v1/appointments/availability?date=2027-01-11&durationMinutes=60",
            Some(viewer),
        )
        .await;
    let bay2 = r.body["slots"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["bay"] == "Bay 2")
        .count();
    assert_eq!(bay2, 37);
    let r = app
        .get(
            "/api/v1/appointments/availability?date=2027-01-17&durationMinutes=30",
            Some(viewer),
        )
        .await;
    assert_eq!(r.body["slots"], json!([]), "{}", r.text);
    for q in [
        "durationMinutes=30",
        "date=2027-13-01&durationMinutes=30",
        "date=2027-01-11&durationMinutes=0",
        "date=2027-01-11&durationMinutes=30&bay=Bay%209",
    ] {
        let r = app
            .get(
                &format!("/api/v1/appointments/availability?{q}"),
                Some(viewer),
            )
            .await;
        assert_eq!(r.status, 400, "{q}: {}", r.text);
    }
}
