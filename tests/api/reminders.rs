//! Service reminders: the due date of a rule from a vehicle's readings and
//! last service (the 40 km a day, due on day 365 not 375), the
//! list by status, declined work followed up, the hourly run that emails
//! once per due cycle (also when two runs race), and consent: the
//! one-click unsubscribe (RFC 8058 headers) honoured by every later send.

use bson::doc;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::mailbox;
use crate::work_orders::{approve, customer, move_to, open};

const DAY_MS: i64 = 86_400_000;

/// The UTC date of `ms` plus `days`.
fn date(ms: i64, days: i64) -> String {
    let d: Date = jiff::Timestamp::from_millisecond(ms)
        .unwrap()
        .to_zoned_datetime(TimeZone::UTC)
        .date();
    d.checked_add(jiff::Span::new().days(days))
        .unwrap()
        .to_string()
}

/// The UTC date of `ms` plus `months`.
fn months(ms: i64, months: i64) -> String {
    let d: Date = jiff::Timestamp::from_millisecond(ms)
        .unwrap()
        .to_zoned_datetime(TimeZone::UTC)
        .date();
    d.checked_add(jiff::Span::new().months(months))
        .unwrap()
        .to_string()
}

fn rfc(ms: i64) -> String {
    shared::time::rfc3339(bson::DateTime::from_millis(ms))
}

async fn rule(app: &TestApp, actor: &Actor, body: Value) -> String {
    let r = app.post("/api/v1/service-rules", Some(actor), body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.str("id")
}

async fn reading(app: &TestApp, actor: &Actor, vehicle: &str, km: i64, at: i64) {
    let r = app
        .post(
            &format!("/api/v1/vehicles/{vehicle}/odometer"),
            Some(actor),
            json!({ "value": km, "unit": "km", "readAt": rfc(at) }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

async fn done(app: &TestApp, actor: &Actor, vehicle: &str, rule: &str, at: i64, km: Option<i64>) {
    let r = app
        .post(
            &format!("/api/v1/vehicles/{vehicle}/service-history"),
            Some(actor),
            json!({ "ruleId": rule, "doneAt": rfc(at), "odometer": km }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

async fn reminders(app: &TestApp, actor: &Actor, query: &str) -> Vec<Value> {
    let r = app
        .get(&format!("/api/v1/service-reminders{query}"), Some(actor))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["data"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_rule_is_due_at_the_earlier_of_time_and_distance_and_listed_by_status() {
    let app = TestApp::spawn().await;
    let (owner, member) = (app.owner().await, app.member().await);
    // Rules are ADMIN+ and need an interval.
    let oil = json!({ "name": "Oil service", "everyMonths": 12, "everyDistance": 15000 });
    let r = app
        .post("/api/v1/service-rules", Some(member), oil.clone())
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = app
        .post(
            "/api/v1/service-rules",
            Some(owner),
            json!({ "name": "Nothing" }),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.error_fields(), vec!["everyMonths"]);
    let oil = rule(&app, owner, oil).await;

    // 50,000 km on day 0 and 54,000 km on day 100: 40 km a day. Serviced
    // at 50,000 km on day 0, a 12 months / 15,000 km rule is due on day
    // 365 by time (12 months: 365 days but across a February 29), day
    // 375 by distance: by time.
    let (_, vehicle) = customer(&app, owner).await;
    let now = bson::DateTime::now().timestamp_millis();
    let day0 = now - 100 * DAY_MS;
    reading(&app, member, &vehicle, 50_000, day0).await;
    reading(&app, member, &vehicle, 54_000, now).await;
    done(&app, member, &vehicle, &oil, day0, Some(50_000)).await;
    let r = app
        .get(
            &format!("/api/v1/vehicles/{vehicle}/service-due"),
            Some(member),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["dailyDistance"], 40, "{}", r.text);
    assert_eq!(r.body["dailyDistanceSource"], "READINGS");
    let due = &r.body["data"][0];
    assert_eq!(due["dueByTime"], months(day0, 12), "{due}");
    assert_eq!(due["dueByDistance"], date(day0, 375), "{due}");
    assert_eq!(due["dueDate"], months(day0, 12), "{due}");
    assert_eq!(due["dueOdometer"], 65_000);
    assert_eq!(due["status"], "OK");
    assert_eq!(due["lastDone"]["source"], "MANUAL");
    assert_eq!(due["lastDone"]["odometer"], 50_000);

    // A second vehicle serviced 400 days ago is overdue; a third without
    // readings or service counts from the day it was added (UNKNOWN by
    // distance, due by time a year on).
    let (_, late) = customer(&app, owner).await;
    done(&app, member, &late, &oil, now - 400 * DAY_MS, None).await;
    let (_, new) = customer(&app, owner).await;
    let overdue = reminders(&app, member, "?status=OVERDUE").await;
    let ids: Vec<&str> = overdue
        .iter()
        .map(|r| r["vehicleId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![late.as_str()], "{overdue:?}");
    assert_eq!(overdue[0]["dueDate"], months(now - 400 * DAY_MS, 12));
    assert_eq!(overdue[0]["status"], "OVERDUE");
    let ok = reminders(&app, member, "?status=OK").await;
    let mut ids: Vec<&str> = ok
        .iter()
        .map(|r| r["vehicleId"].as_str().unwrap())
        .collect();
    ids.sort();
    let mut want = vec![vehicle.as_str(), new.as_str()];
    want.sort();
    assert_eq!(ids, want, "{ok:?}");
    // dueBefore bounds the due date; the list runs soonest first.
    let before = reminders(&app, member, &format!("?dueBefore={}", months(day0, 12))).await;
    assert_eq!(before.len(), 1, "{before:?}");
    let all = reminders(&app, member, "").await;
    assert_eq!(all.len(), 3);
    assert_eq!(all[0]["vehicleId"], late.as_str());
    app.get("/api/v1/service-reminders?status=LATE", Some(member))
        .await
        .assert_problem(400, "INVALID_PARAMETER");

    // A rule changed: the next read of the list recomputes every vehicle.
    let r = app
        .patch(
            &format!("/api/v1/service-rules/{oil}"),
            Some(owner),
            json!({ "everyMonths": 3 }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let overdue = reminders(&app, member, "?status=OVERDUE").await;
    assert_eq!(overdue.len(), 2, "{overdue:?}");
    // Deleting it takes its reminders with it.
    let r = app
        .delete(&format!("/api/v1/service-rules/{oil}"), Some(owner))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(reminders(&app, member, "").await.is_empty());
}

#[tokio::test]
async fn due_soon_lists_exactly_the_reminders_from_their_due_soon_date_to_their_due_date() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    let oil = rule(
        &app,
        owner,
        json!({ "name": "Oil service", "everyMonths": 12 }),
    )
    .await;
    // Serviced so that the rule falls due yesterday, today, in 10, 30 and
    // 31 days (due soon from 30 days before).
    let now = bson::DateTime::now().timestamp_millis();
    let today: Date = date(now, 0).parse().unwrap();
    let mut vehicles = vec![];
    for k in [-1_i64, 0, 10, 30, 31] {
        let (_, vehicle) = customer(&app, owner).await;
        let serviced = today
            .checked_add(jiff::Span::new().days(k))
            .unwrap()
            .checked_sub(jiff::Span::new().months(12))
            .unwrap();
        let at = serviced
            .at(12, 0, 0, 0)
            .to_zoned_datetime(TimeZone::UTC)
            .unwrap()
            .timestamp()
            .as_millisecond();
        done(&app, owner, &vehicle, &oil, at, None).await;
        // Due a year after the service (a February 29 moves it by a day).
        let due: Date = months(at, 12).parse().unwrap();
        let soon = due.checked_sub(jiff::Span::new().days(30)).unwrap();
        vehicles.push((vehicle, due, soon <= today && today <= due));
    }
    let expected = |before: Option<Date>| -> Vec<String> {
        let mut v: Vec<&(String, Date, bool)> = vehicles
            .iter()
            .filter(|(_, due, soon)| *soon && before.is_none_or(|b| *due < b))
            .collect();
        v.sort_by_key(|(_, due, _)| *due);
        v.iter().map(|(id, _, _)| id.clone()).collect()
    };
    let ids = |list: &[Value]| -> Vec<String> {
        list.iter()
            .map(|r| r["vehicleId"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(expected(None).len() >= 2, "{vehicles:?}");
    let soon = reminders(&app, owner, "?status=DUE_SOON").await;
    assert_eq!(ids(&soon), expected(None), "{soon:?}");
    assert!(soon.iter().all(|r| r["status"] == "DUE_SOON"), "{soon:?}");
    assert!(
        soon.iter().all(|r| r.get("soonCover").is_none()),
        "{soon:?}"
    );
    // With dueBefore, and a page at a time.
    let eleven = today.checked_add(jiff::Span::new().days(11)).unwrap();
    let bounded = reminders(&app, owner, &format!("?status=DUE_SOON&dueBefore={eleven}")).await;
    assert_eq!(ids(&bounded), expected(Some(eleven)), "{bounded:?}");
    let (mut paged, mut cursor) = (vec![], None::<String>);
    loop {
        let query = match &cursor {
            Some(c) => format!("?status=DUE_SOON&limit=1&cursor={c}"),
            None => "?status=DUE_SOON&limit=1".to_string(),
        };
        let r = app
            .get(&format!("/api/v1/service-reminders{query}"), Some(owner))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        paged.extend(ids(r.body["data"].as_array().unwrap()));
        match r.body["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(paged, expected(None));

    // Reminders stored by an earlier version (without the due-soon days,
    // its marker unstamped): while another reader holds the
    // recomputation, the list reads the two ranges; the next read once
    // the lease is over recomputes them.
    let stored = app.db.collection::<bson::Document>("service_reminders");
    let earlier = |lease: bson::DateTime| {
        let stored = stored.clone();
        async move {
            stored
                .update_many(
                    doc! { "vehicleId": { "$exists": true } },
                    doc! { "$unset": { "soonCover": "" } },
                )
                .await
                .unwrap();
            stored
                .update_many(
                    doc! { "vehicleId": { "$exists": false } },
                    doc! { "$unset": { "computedAs": "" }, "$set": { "leaseUntil": lease } },
                )
                .await
                .unwrap();
        }
    };
    earlier(bson::DateTime::from_millis(now + 60_000)).await;
    let meanwhile = reminders(&app, owner, "?status=DUE_SOON").await;
    assert_eq!(ids(&meanwhile), expected(None), "{meanwhile:?}");
    let covered = app
        .count(
            "service_reminders",
            doc! { "soonCover": { "$exists": true } },
        )
        .await;
    assert_eq!(covered, 0, "the lease holder's work, not this reader's");
    earlier(bson::DateTime::from_millis(now - 60_000)).await;
    let again = reminders(&app, owner, "?status=DUE_SOON").await;
    assert_eq!(ids(&again), expected(None), "{again:?}");
    let covered = app
        .count(
            "service_reminders",
            doc! { "soonCover": { "$type": "array" } },
        )
        .await;
    assert_eq!(covered, 5, "recomputed");

    // A vehicle deleted, or another organization's, has no service due.
    let (_, gone) = customer(&app, owner).await;
    let r = app
        .delete(&format!("/api/v1/vehicles/{gone}"), Some(owner))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let other = app.other().await;
    for (vehicle, actor) in [(&gone, owner), (&vehicles[0].0, other)] {
        app.get(
            &format!("/api/v1/vehicles/{vehicle}/service-due"),
            Some(actor),
        )
        .await
        .assert_problem(404, "NOT_FOUND");
    }
}

#[tokio::test]
async fn a_declined_line_and_an_invoiced_canned_job_are_what_reminders_follow() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    let job = app
        .post(
            "/api/v1/canned-jobs",
            Some(owner),
            json!({ "name": "Oil service", "bookable": true, "lines": [
                { "type": "LABOR", "description": "Change oil", "quantity": 50, "unitPrice": 9000 },
            ] }),
        )
        .await;
    assert_eq!(job.status, 201, "{}", job.text);
    let job = job.str("id");
    let oil = rule(
        &app,
        owner,
        json!({ "name": "Oil service", "cannedJobId": job, "everyMonths": 12 }),
    )
    .await;
    let (_, vehicle) = customer(&app, owner).await;
    let order = open(&app, owner, &vehicle, json!({ "odometerIn": 80_000 }))
        .await
        .str("id");
    let r = app
        .post(
            &format!("/api/v1/work-orders/{order}/canned-jobs"),
            Some(owner),
            json!({ "cannedJobId": job }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = app
        .post(
            &format!("/api/v1/work-orders/{order}/lines"),
            Some(owner),
            json!({ "type": "LABOR", "description": "Replace wiper blades", "quantity": 20, "unitPrice": 9000 }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let lines = r.body["lines"].as_array().unwrap().clone();
    let id = |i: usize| lines[i]["id"].as_str().unwrap().to_string();
    let r = approve(
        &app,
        owner,
        &order,
        &[(&id(0), "APPROVED"), (&id(1), "DECLINED")],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // The declined line is followed up 30 days on (the default).
    let today = date(bson::DateTime::now().timestamp_millis(), 0);
    let declined = reminders(&app, owner, "?source=DECLINED_WORK").await;
    assert_eq!(declined.len(), 1, "{declined:?}");
    assert_eq!(declined[0]["name"], "Replace wiper blades");
    assert_eq!(declined[0]["workOrderId"], order.as_str());
    assert_eq!(
        declined[0]["dueDate"],
        date(bson::DateTime::now().timestamp_millis(), 30)
    );
    // Invoiced, the canned job is the rule's last service.
    for to in ["APPROVED", "IN_PROGRESS", "COMPLETED", "INVOICED"] {
        let r = move_to(&app, owner, &order, to).await;
        assert_eq!(r.status, 200, "{to}: {}", r.text);
    }
    let r = app
        .get(
            &format!("/api/v1/vehicles/{vehicle}/service-due"),
            Some(owner),
        )
        .await;
    let due = &r.body["data"][0];
    assert_eq!(due["ruleId"], oil.as_str(), "{}", r.text);
    assert_eq!(due["lastDone"]["source"], "WORK_ORDER", "{}", r.text);
    assert_eq!(due["lastDone"]["workOrderId"], order.as_str());
    assert_eq!(due["lastDone"]["odometer"], 80_000);
    assert_eq!(
        due["dueDate"],
        months(bson::DateTime::now().timestamp_millis(), 12)
    );
    let rules = reminders(&app, owner, "?source=RULE").await;
    assert_eq!(
        rules[0]["lastDoneAt"].as_str().map(|s| &s[..10]),
        Some(today.as_str())
    );
}

#[tokio::test]
async fn reminders_are_sent_once_per_cycle_and_the_one_click_unsubscribe_stops_them() {
    let app = TestApp::spawn_with(&[("CRON_SECRET", crate::cleanup::CRON_SECRET)]).await;
    let owner = app.owner().await;
    let email = crate::email::unique_email("driver");
    let (account, vehicle) = customer(&app, owner).await;
    let contact = app
        .create_record(
            owner,
            "contacts",
            json!({ "firstName": "Jonas", "lastName": "Weber", "email": email, "accountId": account }),
        )
        .await;
    let r = app
        .patch(
            &format!("/api/v1/accounts/{account}"),
            Some(owner),
            json!({ "primaryContactId": contact }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let oil = rule(
        &app,
        owner,
        json!({ "name": "Oil service", "everyMonths": 6 }),
    )
    .await;
    let now = bson::DateTime::now().timestamp_millis();
    done(&app, owner, &vehicle, &oil, now - 200 * DAY_MS, None).await;

    // Outside working hours (closed every day) nothing is sent.
    let hours = |open: Value| {
        let days: serde_json::Map<String, Value> =
            ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
                .iter()
                .map(|d| (d.to_string(), open.clone()))
                .collect();
        json!({ "settings": { "workingHours": days } })
    };
    let r = app
        .patch("/api/v1/organization", Some(owner), hours(Value::Null))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(app.cron("send-reminders").await.status, 200);
    assert_eq!(app.count("email_outbox", doc! { "to": &email }).await, 0);
    let r = app
        .patch(
            "/api/v1/organization",
            Some(owner),
            hours(json!(["00:00", "24:00"])),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // Two runs at once: one email.
    let (a, b) = tokio::join!(app.cron("send-reminders"), app.cron("send-reminders"));
    assert_eq!((a.status, b.status), (200, 200), "{} {}", a.text, b.text);
    let mail = mailbox::wait_for(&email, "due for service").await;
    assert!(mail.text.contains("Oil service"), "{}", mail.text);
    assert_eq!(mail.list_unsubscribe_post, "List-Unsubscribe=One-Click");
    let url = mail
        .list_unsubscribe
        .trim_matches(|c| c == '<' || c == '>')
        .to_string();
    let token = url
        .split("/api/v1/public/unsubscribe/")
        .nth(1)
        .unwrap_or_else(|| panic!("{url}"))
        .to_string();
    assert!(mail.text.contains(&url), "{}", mail.text);
    let outbox = || app.count("email_outbox", doc! { "to": &email });
    assert_eq!(outbox().await, 1);
    let stored = app
        .find("service_reminders", doc! { "vehicleId": oid(&vehicle) })
        .await;
    assert_eq!(stored[0].get_str("outcome").unwrap(), "SENT");
    assert_eq!(stored[0].get_object_id("sentTo").unwrap(), oid(&contact));
    // A second run sends nothing, nor one after the rule was deleted and
    // restored (the cycle it was sent for is kept); a manual send does.
    assert_eq!(app.cron("send-reminders").await.status, 200);
    assert_eq!(outbox().await, 1);
    let path = format!("/api/v1/service-rules/{oil}");
    assert_eq!(app.delete(&path, Some(owner)).await.status, 204);
    assert_eq!(app.cron("send-reminders").await.status, 200);
    let r = app
        .post(&format!("{path}/restore"), Some(owner), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(app.cron("send-reminders").await.status, 200);
    assert_eq!(outbox().await, 1);
    let id = stored[0].get_object_id("_id").unwrap().to_hex();
    let send = format!("/api/v1/service-reminders/{id}/send");
    let r = app.post(&send, Some(owner), json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "OVERDUE");
    assert_eq!(outbox().await, 2);

    // Opening the link changes nothing; posting it (as a mail client
    // does) unsubscribes, once.
    let path = format!("/api/v1/public/unsubscribe/{token}");
    let page = app.get(&path, None).await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("<form method=\"post\""), "{}", page.text);
    let form = [("content-type", "application/x-www-form-urlencoded")];
    for _ in 0..2 {
        let r = app
            .request(
                "POST",
                &path,
                None,
                Some(b"List-Unsubscribe=One-Click".to_vec()),
                &form,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["unsubscribed"], true);
    }
    let c = app
        .get(&format!("/api/v1/contacts/{contact}"), Some(owner))
        .await;
    assert_eq!(c.body["emailConsent"]["marketing"], false, "{}", c.text);
    assert_eq!(c.body["emailConsent"]["source"], "UNSUBSCRIBE");
    assert!(c.body["unsubscribedAt"].is_string(), "{}", c.text);
    let audits = app
        .find(
            "audit_log",
            doc! { "resource": "contact", "resourceId": oid(&contact), "action": "UPDATE" },
        )
        .await;
    assert_eq!(audits.len(), 1, "{audits:?}");
    // Honoured by every later send: manual (409) and a new cycle's.
    app.post(&send, Some(owner), json!({}))
        .await
        .assert_problem(409, "CONTACT_OPTED_OUT");
    done(&app, owner, &vehicle, &oil, now - 190 * DAY_MS, None).await;
    assert_eq!(app.cron("send-reminders").await.status, 200);
    assert_eq!(outbox().await, 2);
    let stored = app
        .find("service_reminders", doc! { "vehicleId": oid(&vehicle) })
        .await;
    assert_eq!(stored[0].get_str("outcome").unwrap(), "OPTED_OUT");
    // Staff cannot forge an unsubscribe; only an ADMIN+ saying how the
    // contact agreed again lifts it.
    let consent = format!("/api/v1/contacts/{contact}");
    let set_consent = |body| app.patch(&consent, Some(owner), body);
    let member = app.member().await;
    let again = json!({ "emailConsent": { "marketing": true, "source": "PHONE" } });
    let r = app.patch(&consent, Some(member), again).await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = set_consent(json!({ "emailConsent": { "marketing": true } })).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.error_fields(), vec!["emailConsent.source"]);
    let r = set_consent(json!({ "emailConsent": { "marketing": false, "source": "UNSUBSCRIBE" } }))
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    let r =
        set_consent(json!({ "emailConsent": { "marketing": true, "source": "IN_PERSON" } })).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body["unsubscribedAt"].is_null(), "{}", r.text);
    assert!(r.body["emailConsent"]["at"].is_string(), "{}", r.text);
    let r = app.post(&send, Some(owner), json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(outbox().await, 3);

    // Where the organization requires consent, a contact without it gets
    // nothing, by the run or by hand.
    let r = app
        .patch(
            "/api/v1/organization",
            Some(owner),
            json!({ "settings": { "serviceReminders": { "requireMarketingConsent": true } } }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = set_consent(json!({ "emailConsent": { "marketing": false } })).await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.post(&send, Some(owner), json!({}))
        .await
        .assert_problem(409, "CONTACT_OPTED_OUT");
    assert_eq!(outbox().await, 3);
}
