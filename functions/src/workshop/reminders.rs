//! Service reminders: when each vehicle is due for what the shop's
//! `service-rules` say (every N months and/or every N km or mi), and the
//! declined work to follow up.
//!
//! **When a rule is due.** It was last done at the latest of: an INVOICED
//! or PAID work order with a line of the rule's canned job that was not
//! declined (its invoice date and `odometerIn`), and a manual entry
//! (`POST /vehicles/{id}/service-history`). The vehicle's daily distance
//! comes from its odometer readings of the last 365 days (the first and
//! last of them, at least 14 days apart), else the organization's default
//! (`settings.serviceReminders.defaultDailyDistance`, 40 km a day). Due by
//! time is the last service's local date plus the months; due by distance
//! is the day the odometer is estimated to reach the last service's
//! reading plus the interval, counted in whole days from the latest
//! reading; the rule is due at whichever comes first. Never done, it
//! counts from the day the vehicle was added, and by distance from the
//! next multiple of the interval past the latest reading. DUE_SOON from
//! `dueSoonDays` before (or `dueSoonDistance` before, whichever is first),
//! OVERDUE after the due date, UNKNOWN when nothing gives a date.
//!
//! **The list.** `GET /service-reminders` reads `service_reminders`: one
//! document per vehicle and rule, and per declined line (due
//! `declinedFollowUpDays` after the decision), with its due and due-soon
//! dates as local `YYYY-MM-DD` strings, so OVERDUE (and `dueBefore`) is an
//! indexed range on the due date against today. DUE_SOON (the due-soon
//! date <= today <= the due date) is two ranges, which no index walk
//! answers without reading every later due date; each reminder therefore
//! stores its due-soon days as a few aligned blocks of 2^k days
//! (`soonCover`, see [`cover`]), and the list asks for the 17 blocks that
//! hold today: one indexed `$in` that matches exactly the reminders due
//! soon. The documents are derived: recomputed for a vehicle
//! after each change to what they come from (a reading, a service entry, a
//! work order's transition or the customer's decision), for the whole
//! organization when its rules changed since the last time (the next read
//! of the list does it, as it does when they were computed by an earlier
//! version of this module: see [`COMPUTED_AS`]) and by every
//! `send-reminders` run at least daily. A recomputation lost to a fault is
//! made good by the next one.
//!
//! **Sending.** `send-reminders` runs hourly; for each organization whose
//! local time is within today's working hours, it emails each account's
//! contact (its `primaryContactId`, else the vehicle's contact, else the
//! account's first contact with an address) one email with its due
//! reminders, once per due cycle (a cycle is the last service it counts
//! from): a reminder is claimed by one conditional update in the
//! transaction that queues the email, so a second run, or two at once,
//! send nothing more. A contact who unsubscribed, or (where the settings
//! require it) never consented, is skipped for the cycle; every email
//! carries a one-click unsubscribe (`crate::crm::consent`).

use std::collections::{BTreeMap, HashMap, HashSet};

use bson::oid::ObjectId;
use bson::{doc, Bson, DateTime, Document};
use jiff::civil::Date;
use jiff::Span;
use serde_json::{json, Value};
use shared::audit::{Action, AuditEntry};
use shared::db::{number, Scope};
use shared::error::{ApiError, FieldError};
use shared::fields::{self, Field, Kind};
use shared::http::ApiResponse;
use shared::migrate::Index;
use shared::records::{find_live, page, render, Entity, Filter, ListSpec, Write};
use shared::runtime::{ok, Ctx, HandlerResult};
use shared::time::{DAY_MS, MINUTE_MS};
use shared::unscoped::Unscoped;

use super::canned_jobs::CANNED_JOBS;
use super::order::{Approval, Status, WORK_ORDERS};
use super::vehicles::{metres, ODOMETER_READINGS, VEHICLE, VEHICLES};
use crate::calendar::Calendar;
use crate::crm::collections::{ACCOUNTS, CONTACTS};
use crate::reminder_settings::ReminderSettings;

pub const SERVICE_RULES: &str = "service_rules";
pub const SERVICE_HISTORY: &str = "service_history";
pub const SERVICE_REMINDERS: &str = "service_reminders";

/// How far back readings give the daily distance.
const WINDOW_DAYS: i64 = 365;
/// The least span of readings that gives a daily distance.
const MIN_SPAN_DAYS: i64 = 14;
/// Reminders sent per scheduled run and organization, at most.
const SEND_BATCH: i64 = 500;
/// Reminders written per transaction, at most.
const WRITE_CHUNK: usize = 1_000;
/// The version of what a reminder stores. A marker stamped with another
/// (or none) makes the next list read and the next run recompute the
/// organization's reminders, so a field added here is on every one of them
/// before a query relies on it.
const COMPUTED_AS: i32 = 2;
/// The due-soon cover's largest block: 2^16 days (about 179 years), so a
/// window of any length is a few dozen blocks at most.
const COVER_LEVELS: u32 = 16;

const UNITS: Kind = Kind::Enum {
    values: &["km", "mi"],
    default: Some("km"),
};

pub static SERVICE_RULE: Entity = Entity {
    collection: SERVICE_RULES,
    resource: "service_rule",
    list: ListSpec {
        sort_fields: &["createdAt", "updatedAt", "name"],
        default_sort: "name",
        search_fields: &["name"],
        filters: &[Filter::id("cannedJobId")],
    },
    fields: &[
        Field::required("name", Kind::Text { min: 1, max: 200 }),
        Field::optional("cannedJobId", Kind::Ref(CANNED_JOBS)),
        Field::optional("everyMonths", Kind::Integer { min: 1, max: 240 }),
        Field::optional(
            "everyDistance",
            Kind::Integer {
                min: 1,
                max: 1_000_000,
            },
        ),
        Field::optional("distanceUnit", UNITS),
        Field::optional("dueSoonDays", Kind::Integer { min: 0, max: 365 }),
        Field::optional(
            "dueSoonDistance",
            Kind::Integer {
                min: 0,
                max: 1_000_000,
            },
        ),
    ],
    admin_writes: true,
    prepare: Some(|scope, write, fields| Box::pin(check_rule(scope, write, fields))),
    written: Some(|tx, write, after| Box::pin(rules_changed(tx, write, after))),
    ..Entity::DEFAULTS
};

/// A rule has an interval (422 on `everyMonths` otherwise), a due-soon
/// window of 30 days unless it says otherwise, and a due-soon distance only
/// with a distance interval.
async fn check_rule(_: &Scope, _: Write<'_>, fields: &mut Document) -> Result<(), ApiError> {
    let has = |k: &str| number(fields, k).is_some();
    if !has("everyMonths") && !has("everyDistance") {
        return Err(ApiError::field(
            "everyMonths",
            "a rule needs everyMonths, everyDistance or both",
        ));
    }
    if has("dueSoonDistance") && !has("everyDistance") {
        return Err(ApiError::field("dueSoonDistance", "needs everyDistance"));
    }
    if !has("dueSoonDays") {
        fields.insert("dueSoonDays", 30_i64);
    }
    if fields.get_str("distanceUnit").is_err() {
        fields.insert("distanceUnit", "km");
    }
    Ok(())
}

/// The `_id` of the organization's marker: when its rules last changed
/// and when its reminders were last computed from them.
fn marker_id(org: ObjectId) -> String {
    format!("{}|rules", org.to_hex())
}

/// Any write of a rule marks the organization's reminders for a whole
/// recomputation, with the write's commit.
async fn rules_changed(
    tx: &mut shared::db::Tx<'_>,
    _: Write<'_>,
    _: &Document,
) -> Result<(), ApiError> {
    let id = marker_id(tx.scope().org_id());
    tx.upsert_with_commit(
        SERVICE_REMINDERS,
        id,
        doc! { "$set": { "changedAt": DateTime::now() } },
    );
    Ok(())
}

/// Reminders by due date, by the days they are due soon, by vehicle, and
/// those waiting to be sent.
pub fn indexes() -> Vec<Index> {
    vec![
        Index::on(
            SERVICE_REMINDERS,
            doc! { "organizationId": 1, "listed": 1, "dueDate": 1, "_id": 1 },
        ),
        Index::on(
            SERVICE_REMINDERS,
            doc! { "organizationId": 1, "listed": 1, "soonCover": 1, "dueDate": 1, "_id": 1 },
        ),
        Index::on(
            SERVICE_REMINDERS,
            doc! { "organizationId": 1, "vehicleId": 1 },
        ),
        Index::on(
            SERVICE_REMINDERS,
            doc! { "organizationId": 1, "unsent": 1, "soonDate": 1 },
        ),
        Index::on(
            SERVICE_HISTORY,
            doc! { "organizationId": 1, "vehicleId": 1, "doneAt": -1 },
        ),
    ]
}

/// A rule as the reminders compute with it.
struct Rule {
    id: ObjectId,
    name: String,
    job: Option<ObjectId>,
    months: Option<i64>,
    every: Option<i64>,
    unit: String,
    soon_days: i64,
    soon_distance: Option<i64>,
}

impl Rule {
    fn of(d: &Document) -> Option<Rule> {
        Some(Rule {
            id: d.get_object_id("_id").ok()?,
            name: d.get_str("name").unwrap_or_default().to_string(),
            job: d.get_object_id("cannedJobId").ok(),
            months: number(d, "everyMonths"),
            every: number(d, "everyDistance"),
            unit: d.get_str("distanceUnit").unwrap_or("km").to_string(),
            soon_days: number(d, "dueSoonDays").unwrap_or(30),
            soon_distance: number(d, "dueSoonDistance"),
        })
    }

    fn every_metres(&self) -> Option<i64> {
        self.every.map(|e| metres(e, &self.unit))
    }
}

/// An odometer reading: when, and how far (metres).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Point {
    ms: i64,
    metres: i64,
}

/// A rule's last service on a vehicle.
#[derive(Clone, Debug)]
struct Done {
    ms: i64,
    metres: Option<i64>,
    source: &'static str,
    work_order: Option<ObjectId>,
}

/// A declined line to follow up.
struct Declined {
    work_order: ObjectId,
    line: String,
    description: String,
    ms: i64,
}

/// What the reminders of one vehicle are computed from.
#[derive(Default)]
struct Facts {
    account: Option<ObjectId>,
    contact: Option<ObjectId>,
    label: String,
    created_ms: i64,
    unit: String,
    latest: Option<Point>,
    first_in_window: Option<Point>,
    last_in_window: Option<Point>,
    done: HashMap<ObjectId, Done>,
    declined: Vec<Declined>,
}

/// The vehicle's daily distance in metres, and whether its readings gave
/// it (else the default).
fn daily_metres(f: &Facts, default_km: i64) -> (f64, bool) {
    if let (Some(a), Some(b)) = (f.first_in_window, f.last_in_window) {
        let span = b.ms - a.ms;
        if span >= MIN_SPAN_DAYS * DAY_MS && b.metres >= a.metres {
            let rate = (b.metres - a.metres) as f64 * DAY_MS as f64 / span as f64;
            return (rate, true);
        }
    }
    (default_km as f64 * 1000.0, false)
}

/// When a rule is due on a vehicle.
#[derive(Debug, Default, PartialEq)]
struct Plan {
    by_time: Option<Date>,
    by_distance: Option<Date>,
    /// The odometer it is due at, in metres.
    due_metres: Option<i64>,
    due: Option<Date>,
    soon: Option<Date>,
    /// The last service it counts from (its instant, ms), or `new`.
    cycle: String,
}

fn add_days(d: Date, days: i64) -> Option<Date> {
    d.checked_add(Span::new().try_days(days).ok()?).ok()
}

fn earliest(a: Option<Date>, b: Option<Date>) -> Option<Date> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The day the odometer reaches `target` metres, from `from` at `rate`
/// metres a day (whole days, rounded down: never later than it is).
fn reaching(cal: &Calendar, from: Point, target: i64, rate: f64) -> Option<Date> {
    if rate <= 0.0 {
        return None;
    }
    let days = ((target - from.metres) as f64 / rate).floor();
    if !days.is_finite() || days.abs() > 100_000.0 {
        return None;
    }
    add_days(cal.local_date(from.ms)?, days as i64)
}

fn plan(rule: &Rule, f: &Facts, rate: f64, cal: &Calendar) -> Plan {
    let done = f.done.get(&rule.id);
    let done_on = done.and_then(|d| cal.local_date(d.ms));
    let basis = done_on.or_else(|| cal.local_date(f.created_ms));
    let by_time = rule
        .months
        .and_then(|m| basis.and_then(|b| b.checked_add(Span::new().try_months(m).ok()?).ok()));
    let mut out = Plan {
        by_time,
        // The instant, not the local day: a new time zone starts no cycle.
        cycle: done.map_or_else(|| "new".to_string(), |d| d.ms.to_string()),
        ..Plan::default()
    };
    if let Some(every) = rule.every_metres() {
        // Where the odometer stood at the last service: as read then, or
        // estimated back from the latest reading.
        let done_metres = done.and_then(|d| {
            d.metres.or_else(|| {
                let l = f.latest?;
                let back = rate * (l.ms - d.ms) as f64 / DAY_MS as f64;
                Some(((l.metres as f64 - back).max(0.0)) as i64)
            })
        });
        let due_metres = match (done, done_metres, f.latest) {
            (Some(_), Some(m), _) => Some(m.saturating_add(every)),
            (Some(_), None, _) => None,
            (None, _, Some(l)) => Some((l.metres / every + 1).saturating_mul(every)),
            (None, _, None) => None,
        };
        // From the later known point: the latest reading, or the last
        // service when it was read after it.
        let at_service = done.and_then(|d| {
            Some(Point {
                ms: d.ms,
                metres: d.metres?,
            })
        });
        let from = match (f.latest, at_service) {
            (Some(l), Some(s)) => Some(if s.ms > l.ms { s } else { l }),
            (l, s) => l.or(s),
        };
        if let (Some(target), Some(from)) = (due_metres, from) {
            out.by_distance = reaching(cal, from, target, rate);
            if let Some(soon) = rule.soon_distance {
                let soon_target = target - metres(soon, &rule.unit);
                out.soon = reaching(cal, from, soon_target, rate);
            }
        }
        out.due_metres = due_metres;
    }
    out.due = earliest(out.by_time, out.by_distance);
    let by_days = out.due.and_then(|d| add_days(d, -rule.soon_days));
    out.soon = earliest(out.soon, by_days).map(|s| match out.due {
        Some(d) => s.min(d),
        None => s,
    });
    out
}

/// A local date as a number of days from 1970-01-01 (negative before).
fn day_number(d: Date) -> i64 {
    d.since(Date::constant(1970, 1, 1))
        .map_or(0, |s| i64::from(s.get_days()))
}

/// The block of 2^`level` days, aligned on a multiple of its length, that
/// holds day `n`, as one number.
fn block(level: u32, n: i64) -> i64 {
    (i64::from(level) << 32) + (n >> level) + (1 << 30)
}

/// The aligned blocks of 2^k days (k <= [`COVER_LEVELS`]) that tile the
/// days from `soon` to `due`, both included: at each step the largest that
/// starts there and fits, so at most two a level (and one more for each
/// 2^16 days). A reminder is due soon on a day exactly when one of the
/// blocks [`holding`] that day is in its cover.
fn cover(soon: Date, due: Date) -> Vec<i64> {
    let (mut n, last) = (day_number(soon), day_number(due));
    let mut out = vec![];
    while n <= last {
        let mut level = 0;
        while level < COVER_LEVELS
            && n.rem_euclid(1 << (level + 1)) == 0
            && n + (1 << (level + 1)) - 1 <= last
        {
            level += 1;
        }
        out.push(block(level, n));
        n += 1 << level;
    }
    out
}

/// The blocks that hold `day`, one a level.
fn holding(day: Date) -> Vec<i64> {
    let n = day_number(day);
    (0..=COVER_LEVELS).map(|level| block(level, n)).collect()
}

/// Whether the organization's marker says its reminders were computed by
/// this version of this module (so each has its cover).
fn current(marker: &Document) -> bool {
    marker.get_i32("computedAs") == Ok(COMPUTED_AS)
}

/// Whether the organization's reminders are to be recomputed, from its
/// marker: its rules changed since they were, they were computed by
/// another version of this module, or (with `max_age`) longer ago than
/// that many milliseconds.
fn stale(marker: &Document, now: i64, max_age: Option<i64>) -> bool {
    let refreshed = marker
        .get_datetime("refreshedAt")
        .map(|t| t.timestamp_millis());
    let changed = marker
        .get_datetime("changedAt")
        .map(|t| t.timestamp_millis());
    match refreshed {
        Err(_) => changed.is_ok() || max_age.is_some(),
        Ok(r) => {
            !current(marker)
                || changed.is_ok_and(|c| c >= r)
                || max_age.is_some_and(|age| r < now - age)
        }
    }
}

/// OK, DUE_SOON, OVERDUE, or UNKNOWN without a due date.
fn status(due: Option<&str>, soon: Option<&str>, today: &str) -> &'static str {
    match (due, soon) {
        (None, _) => "UNKNOWN",
        (Some(d), _) if today > d => "OVERDUE",
        (_, Some(s)) if today >= s => "DUE_SOON",
        _ => "OK",
    }
}

/// The odometer `m` metres in `unit`, rounded.
fn in_unit(m: i64, unit: &str) -> i64 {
    match unit {
        "mi" => ((m as f64) / 1609.344).round() as i64,
        _ => ((m as f64) / 1000.0).round() as i64,
    }
}

/// Where reminders are read and written: a request's scope, or the
/// scheduled run's unscoped handle on one organization.
pub enum Db<'a> {
    Scoped(&'a Scope),
    Unscoped(&'a Unscoped<'a>, ObjectId),
}

impl Db<'_> {
    fn org(&self) -> ObjectId {
        match self {
            Db::Scoped(s) => s.org_id(),
            Db::Unscoped(_, org) => *org,
        }
    }

    async fn find(
        &self,
        coll: &'static str,
        filter: Document,
        sort: Document,
        projection: Option<Document>,
    ) -> Result<Vec<Document>, ApiError> {
        match self {
            Db::Scoped(s) => {
                s.collection(coll)
                    .find_many(filter, sort, 0, projection)
                    .await
            }
            Db::Unscoped(u, org) => {
                let mut filter = filter;
                filter.insert("organizationId", *org);
                u.collection(coll)
                    .find_many(filter, sort, 0, projection)
                    .await
            }
        }
    }

    /// Writes `updates` (upserts by id), a transaction per
    /// [`WRITE_CHUNK`] of them (the writes go with each commit): derived
    /// documents, each whole, so a large organization never makes one
    /// transaction too large; the marker, when there, goes last.
    async fn write(&self, updates: &[(Bson, Document)]) -> Result<(), ApiError> {
        let org = self.org();
        for chunk in updates.chunks(WRITE_CHUNK) {
            match self {
                Db::Scoped(s) => {
                    s.transaction(|tx| {
                        Box::pin(async move {
                            for (id, update) in chunk {
                                tx.upsert_with_commit(
                                    SERVICE_REMINDERS,
                                    id.clone(),
                                    update.clone(),
                                );
                            }
                            Ok(())
                        })
                    })
                    .await?
                }
                Db::Unscoped(u, _) => {
                    u.transaction(|tx| {
                        Box::pin(async move {
                            for (id, update) in chunk {
                                tx.upsert_with_commit(
                                    SERVICE_REMINDERS,
                                    doc! { "_id": id.clone(), "organizationId": org },
                                    update.clone(),
                                );
                            }
                            Ok(())
                        })
                    })
                    .await?
                }
            }
        }
        Ok(())
    }
}

/// What the reminders of an organization (or one vehicle) are computed
/// from, read concurrently.
struct Inputs {
    rules: Vec<Rule>,
    facts: BTreeMap<ObjectId, Facts>,
}

fn vehicle_filter(vehicle: Option<ObjectId>) -> Document {
    match vehicle {
        Some(v) => doc! { "vehicleId": v },
        None => doc! {},
    }
}

async fn inputs(db: &Db<'_>, vehicle: Option<ObjectId>, now: i64) -> Result<Inputs, ApiError> {
    let since = DateTime::from_millis(now - WINDOW_DAYS * DAY_MS);
    // The `_id` first: the local server's planner takes the first clause
    // an index serves, and `deletedAt` alone has one across the collection.
    let vehicles = match vehicle {
        Some(v) => doc! { "_id": v, "deletedAt": null },
        None => doc! { "deletedAt": null },
    };
    let mut readings = vehicle_filter(vehicle);
    readings.insert("readAt", doc! { "$gte": since });
    let mut orders = vehicle_filter(vehicle);
    orders.insert("deletedAt", Bson::Null);
    // Which orders and lines count is decided below: a condition on the
    // status or the lines here keeps the local server's planner off the
    // vehicle's index (a `$ne` made it scan every work order).
    let (rules, vehicles, readings, history, orders) = tokio::try_join!(
        db.find(
            SERVICE_RULES,
            doc! { "deletedAt": null },
            doc! { "_id": 1 },
            None
        ),
        db.find(
            VEHICLES,
            vehicles,
            doc! { "_id": 1 },
            Some(doc! {
                "accountId": 1, "contactId": 1, "make": 1, "model": 1, "plate": 1,
                "createdAt": 1, "odometer": 1,
            })
        ),
        db.find(
            ODOMETER_READINGS,
            readings,
            doc! { "readAt": 1, "_id": 1 },
            Some(doc! { "vehicleId": 1, "readAt": 1, "metres": 1 })
        ),
        db.find(
            SERVICE_HISTORY,
            vehicle_filter(vehicle),
            doc! { "doneAt": 1, "_id": 1 },
            None
        ),
        db.find(
            WORK_ORDERS,
            orders,
            doc! { "_id": 1 },
            Some(doc! {
                "vehicleId": 1, "status": 1, "invoicedAt": 1, "odometerIn": 1, "number": 1,
                "lines": 1,
            })
        ),
    )?;
    let rules: Vec<Rule> = rules.iter().filter_map(Rule::of).collect();
    let mut facts: BTreeMap<ObjectId, Facts> = BTreeMap::new();
    for v in &vehicles {
        let Ok(id) = v.get_object_id("_id") else {
            continue;
        };
        let text = |k: &str| v.get_str(k).unwrap_or_default().to_string();
        let label = [text("make"), text("model"), text("plate")]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        let odometer = v.get_document("odometer").ok();
        let latest = odometer.and_then(|o| {
            Some(Point {
                ms: o.get_datetime("readAt").ok()?.timestamp_millis(),
                metres: number(o, "metres")?,
            })
        });
        facts.insert(
            id,
            Facts {
                account: v.get_object_id("accountId").ok(),
                contact: v.get_object_id("contactId").ok(),
                label,
                created_ms: v
                    .get_datetime("createdAt")
                    .map(|t| t.timestamp_millis())
                    .unwrap_or(now),
                unit: odometer
                    .and_then(|o| o.get_str("unit").ok())
                    .unwrap_or("km")
                    .to_string(),
                latest,
                ..Facts::default()
            },
        );
    }
    for r in &readings {
        let (Ok(v), Ok(at), Some(m)) = (
            r.get_object_id("vehicleId"),
            r.get_datetime("readAt"),
            number(r, "metres"),
        ) else {
            continue;
        };
        if let Some(f) = facts.get_mut(&v) {
            let p = Point {
                ms: at.timestamp_millis(),
                metres: m,
            };
            f.first_in_window.get_or_insert(p);
            f.last_in_window = Some(p);
        }
    }
    let later = |f: &mut Facts, rule: ObjectId, d: Done| {
        if f.done.get(&rule).is_none_or(|old| old.ms <= d.ms) {
            f.done.insert(rule, d);
        }
    };
    for h in &history {
        let (Ok(v), Ok(rule), Ok(at)) = (
            h.get_object_id("vehicleId"),
            h.get_object_id("ruleId"),
            h.get_datetime("doneAt"),
        ) else {
            continue;
        };
        if let Some(f) = facts.get_mut(&v) {
            let d = Done {
                ms: at.timestamp_millis(),
                metres: number(h, "metres"),
                source: "MANUAL",
                work_order: None,
            };
            later(f, rule, d);
        }
    }
    let by_job: HashMap<ObjectId, Vec<ObjectId>> = rules.iter().fold(HashMap::new(), |mut m, r| {
        if let Some(j) = r.job {
            m.entry(j).or_default().push(r.id);
        }
        m
    });
    for o in &orders {
        let (Ok(v), Ok(wo)) = (o.get_object_id("vehicleId"), o.get_object_id("_id")) else {
            continue;
        };
        let Some(f) = facts.get_mut(&v) else {
            continue;
        };
        let lines: Vec<&Document> = o
            .get_array("lines")
            .map(|a| a.iter().filter_map(Bson::as_document).collect())
            .unwrap_or_default();
        let invoiced = o
            .get_datetime("invoicedAt")
            .ok()
            .map(|t| t.timestamp_millis());
        let status = Status::of(o);
        if matches!(status, Status::Cancelled) {
            continue;
        }
        if let (Some(at), true) = (invoiced, matches!(status, Status::Invoiced | Status::Paid)) {
            let odometer = number(o, "odometerIn").map(|n| metres(n, &f.unit));
            let mut jobs: HashSet<ObjectId> = HashSet::new();
            for l in &lines {
                if Approval::of(l) == Some(Approval::Declined) {
                    continue;
                }
                if let Some(j) = l
                    .get_document("group")
                    .ok()
                    .and_then(|g| g.get_object_id("cannedJobId").ok())
                {
                    jobs.insert(j);
                }
            }
            for j in jobs {
                for rule in by_job.get(&j).into_iter().flatten() {
                    let d = Done {
                        ms: at,
                        metres: odometer,
                        source: "WORK_ORDER",
                        work_order: Some(wo),
                    };
                    later(f, *rule, d);
                }
            }
        }
        for l in &lines {
            let declined = Approval::of(l) == Some(Approval::Declined);
            let at = l.get_datetime("approvedAt").map(|t| t.timestamp_millis());
            let id = l
                .get_object_id("id")
                .map(|i| i.to_hex())
                .or_else(|_| l.get_str("id").map(str::to_string));
            if let (true, Ok(at), Ok(id)) = (declined, at, id) {
                if at >= now - WINDOW_DAYS * DAY_MS {
                    f.declined.push(Declined {
                        work_order: wo,
                        line: id,
                        description: l.get_str("description").unwrap_or_default().to_string(),
                        ms: at,
                    });
                }
            }
        }
    }
    Ok(Inputs { rules, facts })
}

/// The id of a reminder: the same for the same vehicle and rule (or
/// declined line) whenever it is computed.
fn reminder_id(org: ObjectId, key: &str) -> ObjectId {
    let hash = shared::auth::links::hash(&format!("{}|{key}", org.to_hex()));
    ObjectId::parse_str(&hash[..24]).unwrap_or_else(|_| ObjectId::new())
}

/// The computed fields of each reminder, by id.
fn reminders(
    org: ObjectId,
    inputs: &Inputs,
    settings: &ReminderSettings,
    cal: &Calendar,
) -> Vec<(ObjectId, Document)> {
    let mut out = vec![];
    let day = |d: Option<Date>| d.map(|d| d.to_string());
    for (vehicle, f) in &inputs.facts {
        let (rate, _) = daily_metres(f, settings.daily_km);
        let common = doc! {
            "vehicleId": vehicle, "accountId": f.account, "contactId": f.contact,
            "vehicle": &f.label,
        };
        for rule in &inputs.rules {
            let p = plan(rule, f, rate, cal);
            let done = f.done.get(&rule.id);
            let mut d = common.clone();
            d.extend(doc! {
                "source": "RULE", "ruleId": rule.id, "workOrderId": null, "lineId": null,
                "name": &rule.name,
                "dueDate": day(p.due), "soonDate": day(p.soon),
                "soonCover": p.soon.zip(p.due).map(|(s, d)| cover(s, d)),
                "dueByTime": day(p.by_time), "dueByDistance": day(p.by_distance),
                "dueOdometer": p.due_metres.map(|m| in_unit(m, &rule.unit)),
                "distanceUnit": &rule.unit,
                "lastDoneAt": done.map(|d| DateTime::from_millis(d.ms)),
                "cycle": &p.cycle,
            });
            let key = format!("{}|rule|{}", vehicle.to_hex(), rule.id.to_hex());
            out.push((reminder_id(org, &key), d));
        }
        for l in &f.declined {
            let due = cal
                .local_date(l.ms)
                .and_then(|d| add_days(d, settings.follow_up_days));
            let mut d = common.clone();
            d.extend(doc! {
                "source": "DECLINED_WORK", "ruleId": null, "workOrderId": l.work_order,
                "lineId": &l.line, "name": &l.description,
                "dueDate": day(due), "soonDate": day(due),
                "soonCover": due.map(|d| cover(d, d)),
                "dueByTime": day(due), "dueByDistance": null, "dueOdometer": null,
                "distanceUnit": null, "lastDoneAt": null,
                "cycle": "declined",
            });
            let key = format!(
                "{}|declined|{}|{}",
                vehicle.to_hex(),
                l.work_order.to_hex(),
                l.line
            );
            out.push((reminder_id(org, &key), d));
        }
    }
    out
}

/// The organization's settings and calendar, as `db` reads them.
async fn organization(db: &Db<'_>) -> Result<Option<Document>, ApiError> {
    match db {
        Db::Scoped(s) => Ok(s.caller().org.settings.clone()),
        Db::Unscoped(u, org) => Ok(u
            .collection(shared::store::collections::ORGANIZATIONS)
            .find_one(doc! { "_id": *org })
            .await?
            .and_then(|o| o.get_document("settings").ok().cloned())),
    }
}

/// Recomputes the reminders of one vehicle (`Some`) or of the whole
/// organization, writing only what changed; returns how many changed.
pub async fn refresh(db: &Db<'_>, vehicle: Option<ObjectId>) -> Result<u64, ApiError> {
    let started = DateTime::now();
    let now = started.timestamp_millis();
    let org = db.org();
    let existing = match vehicle {
        Some(v) => doc! { "vehicleId": v },
        None => doc! { "vehicleId": { "$exists": true } },
    };
    let (settings, inputs, stored) = tokio::try_join!(
        organization(db),
        inputs(db, vehicle, now),
        db.find(SERVICE_REMINDERS, existing, doc! { "_id": 1 }, None),
    )?;
    let cal = Calendar::of(settings.as_ref());
    let rs = ReminderSettings::of(settings.as_ref());
    let computed = reminders(org, &inputs, &rs, &cal);
    let mut before: HashMap<ObjectId, Document> = stored
        .into_iter()
        .filter_map(|d| Some((d.get_object_id("_id").ok()?, d)))
        .collect();
    let mut updates: Vec<(Bson, Document)> = vec![];
    for (id, mut fields) in computed {
        let old = before.remove(&id);
        let sent_cycle = old.as_ref().and_then(|o| o.get_str("sentCycle").ok());
        let unsent =
            fields.get_str("dueDate").is_ok() && sent_cycle != fields.get_str("cycle").ok();
        fields.insert("unsent", unsent);
        fields.insert("listed", true);
        let unchanged = old.as_ref().is_some_and(|o| {
            fields
                .iter()
                .all(|(k, v)| o.get(k).unwrap_or(&Bson::Null) == v)
        });
        if unchanged {
            continue;
        }
        fields.insert("updatedAt", started);
        updates.push((
            Bson::ObjectId(id),
            doc! { "$set": fields, "$setOnInsert": { "createdAt": started } },
        ));
    }
    // What is no longer computed (a rule or vehicle deleted, a decline
    // reversed) is kept, without a due date, with the cycle it was sent
    // for: restored, it is not sent again for that cycle.
    for (id, old) in before {
        if old.get_bool("listed") == Ok(false) {
            continue;
        }
        updates.push((
            Bson::ObjectId(id),
            doc! { "$set": {
                "listed": false, "dueDate": null, "soonDate": null, "soonCover": null,
                "unsent": false,
                "updatedAt": started,
            } },
        ));
    }
    let changed = updates.len() as u64;
    if vehicle.is_none() {
        updates.push((
            Bson::String(marker_id(org)),
            doc! { "$set": {
                "refreshedAt": started, "leaseUntil": null, "computedAs": COMPUTED_AS,
            } },
        ));
    }
    db.write(&updates).await?;
    Ok(changed)
}

/// After a change to what a vehicle's reminders come from: recomputes
/// them. Never fails the request that changed it (the next
/// recomputation makes good what this one could not).
pub async fn after_change(scope: &Scope, vehicle: Option<ObjectId>) {
    let Some(vehicle) = vehicle else {
        return;
    };
    if let Err(e) = refresh(&Db::Scoped(scope), Some(vehicle)).await {
        tracing::warn!(error = ?e, %vehicle, "[REMINDERS] not recomputed; the next run will");
    }
}

/// A change to what a vehicle's reminders come from.
#[derive(Clone, Copy)]
pub enum Source {
    /// `POST /vehicles/{id}/odometer`.
    Reading,
    /// `POST /work-orders/{id}/transition` (to INVOICED or CANCELLED).
    Transition,
    /// `POST /work-orders/{id}/approval` (declined lines).
    Approval,
    /// The customer's decisions by link.
    Decision,
}

/// The handler of `source`, then the recomputation of the vehicle's
/// reminders (after its commit; see [`after_change`]).
pub async fn recomputing(ctx: Ctx, source: Source) -> HandlerResult {
    let response = match source {
        Source::Reading => super::vehicles::add_reading(&ctx).await?,
        Source::Transition => super::transitions::transition(&ctx).await?,
        Source::Approval => super::lines::approve(&ctx).await?,
        Source::Decision => super::share::decide(&ctx).await?,
    };
    let scope = ctx.scope()?;
    let vehicle = match source {
        Source::Reading => ctx.path_id().ok(),
        Source::Transition | Source::Approval => {
            let body = serde_json::from_slice::<Value>(&response.body).unwrap_or_default();
            // Only an invoice (the last service) or a cancellation (its
            // declined lines no longer followed up) changes reminders.
            let counts = matches!(source, Source::Approval)
                || [Status::Invoiced, Status::Cancelled]
                    .iter()
                    .any(|s| body["status"] == s.as_str());
            body["vehicleId"]
                .as_str()
                .filter(|_| counts)
                .and_then(|v| ObjectId::parse_str(v).ok())
        }
        Source::Decision => match scope.caller().link.as_deref() {
            Some(link) => scope
                .collection(WORK_ORDERS)
                .find_one(doc! { "_id": link.record_id })
                .await
                .ok()
                .flatten()
                .and_then(|o| o.get_object_id("vehicleId").ok()),
            None => None,
        },
    };
    after_change(scope, vehicle).await;
    Ok(response)
}

/// Today in the organization's time zone.
fn today(cal: &Calendar, now: DateTime) -> String {
    cal.local_date(now.timestamp_millis())
        .map(|d| d.to_string())
        .unwrap_or_default()
}

/// A stored reminder as the API shows it, its status as of `today`.
fn shown(d: &Document, today: &str) -> Value {
    let mut out = render(d);
    let status = status(d.get_str("dueDate").ok(), d.get_str("soonDate").ok(), today);
    if let Some(o) = out.as_object_mut() {
        o.insert("status".into(), json!(status));
        if let Some(soon) = o.remove("soonDate") {
            o.insert("dueSoonDate".into(), soon);
        }
        for k in [
            "cycle",
            "sentCycle",
            "unsent",
            "soonCover",
            "organizationId",
        ] {
            o.remove(k);
        }
    }
    out
}

/// How reminders are paged: by due date, soonest first.
pub(crate) static REMINDERS_LIST: ListSpec = ListSpec {
    sort_fields: &["dueDate"],
    default_sort: "dueDate",
    search_fields: &[],
    filters: &[
        Filter::id("vehicleId"),
        Filter::id("accountId"),
        Filter::id("ruleId"),
        Filter::text("source"),
    ],
};

fn bad(param: &str, message: &str) -> ApiError {
    ApiError::bad_field(shared::error::Code::InvalidParameter, param, message)
}

/// `GET /api/v1/service-reminders?status=DUE_SOON|OVERDUE|OK|UNKNOWN&
/// dueBefore=YYYY-MM-DD&vehicleId=&accountId=&source=`: the reminders, by
/// due date, paged by cursor. Recomputed first when the rules changed
/// since they last were.
pub async fn list(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let cal = Calendar::of(scope.caller().org.settings.as_ref());
    let now = DateTime::now();
    let today = today(&cal, now);
    let mut req = ctx.req.clone();
    // Plain conditions on the indexed fields (no `$and`, no `$ne`: either
    // keeps the local server's planner off the index). A `$lt` on the
    // date strings matches no null.
    let (mut due, mut soon, mut unknown) = (Document::new(), Document::new(), false);
    let mut due_soon = false;
    let before = |due: &mut Document, v: &str| {
        if due.get_str("$lt").is_ok_and(|lt| lt <= v) {
            return;
        }
        due.insert("$lt", v);
    };
    let mut seen = HashSet::new();
    for (k, v) in &ctx.req.query {
        if !["status", "dueBefore"].contains(&k.as_str()) {
            continue;
        }
        if !seen.insert(k.as_str()) {
            return Err(bad(k, "is given more than once"));
        }
        match (k.as_str(), v.as_str()) {
            ("status", "OVERDUE") => before(&mut due, &today),
            ("status", "DUE_SOON") => due_soon = true,
            ("status", "OK") => {
                due.insert("$gte", &today);
                soon.insert("$gt", &today);
            }
            ("status", "UNKNOWN") => unknown = true,
            ("status", _) => return Err(bad(k, "must be OK, DUE_SOON, OVERDUE or UNKNOWN")),
            _ => {
                let ok = v.len() == 10 && v.parse::<Date>().is_ok();
                if !ok {
                    return Err(bad(k, "must be a date such as 2026-12-31"));
                }
                before(&mut due, v);
            }
        }
    }
    // DUE_SOON by the cover of today's blocks; as two ranges (which read
    // every later due date) only while reminders may lack their cover.
    let blocks = today.parse::<Date>().ok().filter(|_| due_soon).map(holding);
    let filter = |by_cover: bool| {
        let (mut due, mut soon) = (due.clone(), soon.clone());
        let mut filter = doc! { "listed": true };
        match &blocks {
            Some(b) if by_cover => {
                filter.insert("soonCover", doc! { "$in": b.clone() });
            }
            _ if due_soon => {
                due.insert("$gte", &today);
                soon.insert("$lte", &today);
            }
            _ => {}
        }
        match (unknown, due.is_empty()) {
            (true, true) => {
                filter.insert("dueDate", Bson::Null);
            }
            // No date yet, but due before a date: nothing.
            (true, false) => {
                filter.insert(
                    "$and",
                    vec![doc! { "dueDate": null }, doc! { "dueDate": due }],
                );
            }
            (false, false) => {
                filter.insert("dueDate", due);
            }
            (false, true) => {}
        }
        if !soon.is_empty() {
            filter.insert("soonDate", soon);
        }
        filter
    };
    req.query.retain(|(k, _)| k != "status" && k != "dueBefore");
    let org = scope.org_id();
    let read = |by_cover: bool| {
        page(
            &req,
            scope,
            SERVICE_REMINDERS,
            &REMINDERS_LIST,
            filter(by_cover),
            None,
        )
    };
    let markers = scope.collection(SERVICE_REMINDERS);
    let (marker, first) =
        tokio::join!(markers.find_one(doc! { "_id": marker_id(org) }), read(true));
    let marker = marker?;
    let stale = marker
        .as_ref()
        .is_some_and(|m| stale(m, now.timestamp_millis(), None));
    // One reader recomputes (under a two-minute lease on the marker);
    // the others, and this one should it fail, answer what is stored.
    let recomputed = if stale && lease(scope, now).await {
        match refresh(&Db::Scoped(scope), None).await {
            Ok(_) => Some(read(true).await?),
            Err(e) => {
                tracing::warn!(error = ?e, "[REMINDERS] not recomputed; answering what is stored");
                None
            }
        }
    } else {
        None
    };
    let covered = marker.as_ref().is_some_and(current);
    let (mut docs, next) = match recomputed {
        Some(page) => page,
        // Reminders of an earlier version, or of an organization never
        // recomputed as a whole, may lack their cover.
        None if blocks.is_some() && !covered => read(false).await?,
        None => first?,
    };
    if due_soon {
        // What its dates say, should a cover be out of date.
        docs.retain(|d| {
            status(
                d.get_str("dueDate").ok(),
                d.get_str("soonDate").ok(),
                &today,
            ) == "DUE_SOON"
        });
    }
    let data: Vec<Value> = docs.iter().map(|d| shown(d, &today)).collect();
    ok(json!({ "data": data, "nextCursor": next, "asOf": today }))
}

/// Takes the organization's recomputation for two minutes, unless
/// another reader holds it; the recomputation's last write releases it.
async fn lease(scope: &Scope, now: DateTime) -> bool {
    let id = marker_id(scope.org_id());
    let until = DateTime::from_millis(now.timestamp_millis() + 2 * 60_000);
    let taken = scope
        .transaction(|tx| {
            let id = id.clone();
            Box::pin(async move {
                tx.update_many(
                    SERVICE_REMINDERS,
                    doc! { "_id": id, "$or": [
                        { "leaseUntil": null }, { "leaseUntil": { "$lt": now } },
                    ] },
                    doc! { "$set": { "leaseUntil": until } },
                )
                .await
            })
        })
        .await;
    matches!(taken, Ok(1))
}

/// The body of `POST /api/v1/vehicles/{id}/service-history`.
pub(crate) static HISTORY: &[Field] = &[
    Field::required("ruleId", Kind::Ref(SERVICE_RULES)),
    Field::optional("doneAt", Kind::DateTime),
    Field::optional(
        "odometer",
        Kind::Integer {
            min: 0,
            max: 10_000_000,
        },
    ),
    Field::optional(
        "unit",
        Kind::Enum {
            values: &["km", "mi"],
            default: None,
        },
    ),
    Field::optional("notes", Kind::Multiline { max: 2_000 }),
];

fn shown_entry(d: &Document) -> Value {
    let mut out = render(d);
    if let Some(o) = out.as_object_mut() {
        o.remove("metres");
    }
    out
}

/// `POST /api/v1/vehicles/{id}/service-history {ruleId, doneAt?,
/// odometer?, unit?, notes?}` -> 201: a service done outside the shop's
/// work orders (or before the shop used this system), which the rule
/// counts from when it is the latest.
pub async fn add_history(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let vehicle_id = ctx.path_id()?;
    let vehicle = find_live(scope, &VEHICLE, vehicle_id).await?;
    let body: Value = ctx.req.json()?;
    let (input, _) = fields::parse_create(HISTORY, &body)?;
    let rule = input
        .get_object_id("ruleId")
        .map_err(|_| ApiError::field("ruleId", "must be a service rule's id"))?;
    if find_live(scope, &SERVICE_RULE, rule).await.is_err() {
        return Err(ApiError::field(
            "ruleId",
            "is not a service rule of this organization",
        ));
    }
    let now = DateTime::now();
    let done_at = input.get_datetime("doneAt").copied().unwrap_or(now);
    if done_at.timestamp_millis() > now.timestamp_millis() + 5 * MINUTE_MS {
        return Err(ApiError::field("doneAt", "cannot be in the future"));
    }
    let unit = input
        .get_str("unit")
        .ok()
        .or_else(|| {
            vehicle
                .get_document("odometer")
                .ok()
                .and_then(|o| o.get_str("unit").ok())
        })
        .unwrap_or("km")
        .to_string();
    let odometer = number(&input, "odometer");
    let unit = unit.as_str();
    let entry = doc! {
        "_id": ObjectId::new(), "vehicleId": vehicle_id, "ruleId": rule, "doneAt": done_at,
        "odometer": odometer, "unit": unit, "metres": odometer.map(|o| metres(o, unit)),
        "notes": input.get_str("notes").ok(), "source": "MANUAL",
        "createdBy": scope.caller().user.id, "createdAt": now,
    };
    let entry_ref = &entry;
    scope
        .transaction(|tx| {
            Box::pin(async move {
                let id = shared::error::id_of(entry_ref, "service entry")?;
                tx.insert_one(SERVICE_HISTORY, entry_ref.clone()).await?;
                tx.audit(
                    AuditEntry::new(Action::Create, "service_history")
                        .id(id)
                        .changes(doc! {
                            "vehicleId": vehicle_id, "ruleId": rule, "doneAt": done_at,
                            "odometer": odometer, "unit": unit,
                        }),
                )
                .await?;
                Ok(())
            })
        })
        .await?;
    after_change(scope, Some(vehicle_id)).await;
    Ok(ApiResponse::json(
        http::StatusCode::CREATED,
        &shown_entry(&entry),
    ))
}

/// How a vehicle's service entries are paged: newest first.
pub(crate) static HISTORY_LIST: ListSpec = ListSpec {
    sort_fields: &["doneAt"],
    default_sort: "-doneAt",
    search_fields: &[],
    filters: &[Filter::id("ruleId")],
};

/// `GET /api/v1/vehicles/{id}/service-history`: the manual entries,
/// newest first.
pub async fn history(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let vehicle_id = ctx.path_id()?;
    find_live(scope, &VEHICLE, vehicle_id).await?;
    let (docs, next) = page(
        &ctx.req,
        scope,
        SERVICE_HISTORY,
        &HISTORY_LIST,
        doc! { "vehicleId": vehicle_id },
        None,
    )
    .await?;
    let data: Vec<Value> = docs.iter().map(shown_entry).collect();
    ok(json!({ "data": data, "nextCursor": next }))
}

/// A kilometre figure with at most one decimal.
fn km(metres_a_day: f64) -> Value {
    let tenths = (metres_a_day / 100.0).round() as i64;
    if tenths % 10 == 0 {
        json!(tenths / 10)
    } else {
        json!(tenths as f64 / 10.0)
    }
}

/// `GET /api/v1/vehicles/{id}/service-due`: per rule, the last service,
/// the due dates by time and by distance, the one that comes first and
/// the status, computed now from the vehicle's records.
pub async fn due(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let vehicle_id = ctx.path_id()?;
    // The live vehicle is read with the rest (none: 404), in one round trip.
    let db = Db::Scoped(scope);
    let settings = scope.caller().org.settings.as_ref();
    let cal = Calendar::of(settings);
    let rs = ReminderSettings::of(settings);
    let now = DateTime::now();
    let inputs = inputs(&db, Some(vehicle_id), now.timestamp_millis()).await?;
    let today = today(&cal, now);
    let Some(f) = inputs.facts.get(&vehicle_id) else {
        return Err(ApiError::NotFound {
            resource: "vehicle",
        });
    };
    let (rate, measured) = daily_metres(f, rs.daily_km);
    let day = |d: Option<Date>| d.map(|d| d.to_string());
    let data: Vec<Value> = inputs
        .rules
        .iter()
        .map(|rule| {
            let p = plan(rule, f, rate, &cal);
            let due = day(p.due);
            let soon = day(p.soon);
            let last = f.done.get(&rule.id).map(|d| {
                json!({
                    "at": shared::time::rfc3339(DateTime::from_millis(d.ms)),
                    "odometer": d.metres.map(|m| in_unit(m, &rule.unit)),
                    "source": d.source,
                    "workOrderId": d.work_order.map(|w| w.to_hex()),
                })
            });
            json!({
                "ruleId": rule.id.to_hex(),
                "name": rule.name,
                "cannedJobId": rule.job.map(|j| j.to_hex()),
                "everyMonths": rule.months,
                "everyDistance": rule.every,
                "distanceUnit": rule.unit,
                "lastDone": last,
                "dueByTime": day(p.by_time),
                "dueByDistance": day(p.by_distance),
                "dueOdometer": p.due_metres.map(|m| in_unit(m, &rule.unit)),
                "dueDate": due,
                "dueSoonDate": soon,
                "status": status(due.as_deref(), soon.as_deref(), &today),
            })
        })
        .collect();
    ok(json!({
        "vehicleId": vehicle_id.to_hex(),
        "asOf": today,
        "dailyDistance": km(rate),
        "dailyDistanceUnit": "km",
        "dailyDistanceSource": if measured { "READINGS" } else { "DEFAULT" },
        "data": data,
    }))
}

/// Who an account's reminders go to: its primary contact, else the
/// vehicle's, else its first contact with an address; `None` when none has
/// an address.
fn recipient<'c>(
    account: Option<&Document>,
    vehicle_contact: Option<ObjectId>,
    contacts: &'c [Document],
) -> Option<&'c Document> {
    let by_id = |id: Option<ObjectId>| {
        contacts
            .iter()
            .find(|c| id.is_some() && c.get_object_id("_id").ok() == id)
    };
    let has_email = |c: &&Document| c.get_str("email").is_ok_and(|e| !e.is_empty());
    by_id(account.and_then(|a| a.get_object_id("primaryContactId").ok()))
        .filter(has_email)
        .or_else(|| by_id(vehicle_contact).filter(has_email))
        .or_else(|| contacts.iter().find(has_email))
}

/// The reminder email: each reminder a line (`name` for `vehicle`, due
/// `date`).
fn message(
    config: &shared::config::Config,
    shop: &str,
    phone: &str,
    to: &Document,
    due: &[&Document],
    token: &str,
) -> shared::email::Message {
    let items: Vec<String> = due
        .iter()
        .map(|r| {
            format!(
                "- {} for {}: due {}",
                r.get_str("name").unwrap_or("Service"),
                r.get_str("vehicle").unwrap_or("your vehicle"),
                r.get_str("dueDate").unwrap_or("soon"),
            )
        })
        .collect();
    let url = crate::crm::consent::url(config, token);
    crate::emails::service_reminder(
        to.get_str("email").unwrap_or_default(),
        &crate::emails::ServiceReminder {
            shop,
            phone,
            name: to.get_str("firstName").unwrap_or_default(),
            items: &items.join("\n"),
            unsubscribe: &url,
        },
    )
}

/// The contacts an account's reminders may go to: the vehicle's and the
/// account's, live, oldest first.
async fn contacts_of(
    db: &Db<'_>,
    account: Option<ObjectId>,
    vehicle_contact: Option<ObjectId>,
) -> Result<(Option<Document>, Vec<Document>), ApiError> {
    let mut any: Vec<Document> = vec![];
    if let Some(a) = account {
        any.push(doc! { "accountId": a });
    }
    if let Some(c) = vehicle_contact {
        any.push(doc! { "_id": c });
    }
    if any.is_empty() {
        return Ok((None, vec![]));
    }
    let account_doc = async {
        match account {
            Some(a) => Ok(db
                .find(
                    ACCOUNTS,
                    doc! { "_id": a, "deletedAt": null },
                    doc! { "_id": 1 },
                    None,
                )
                .await?
                .into_iter()
                .next()),
            None => Ok(None),
        }
    };
    let (account_doc, contacts) = tokio::try_join!(
        account_doc,
        db.find(
            CONTACTS,
            doc! { "$or": any, "deletedAt": null },
            doc! { "createdAt": 1, "_id": 1 },
            None
        )
    )?;
    Ok((account_doc, contacts))
}

/// How one account's due reminders went: sent to a contact, or skipped
/// for the cycle and why.
struct Outcome<'a> {
    contact: Option<&'a Document>,
    /// `SENT`, `NO_CONTACT`, `OPTED_OUT` or `NO_CONSENT`.
    word: &'static str,
}

fn outcome<'a>(
    account: Option<&Document>,
    vehicle_contact: Option<ObjectId>,
    contacts: &'a [Document],
    settings: &ReminderSettings,
) -> Outcome<'a> {
    let Some(c) = recipient(account, vehicle_contact, contacts) else {
        return Outcome {
            contact: None,
            word: "NO_CONTACT",
        };
    };
    let word = crate::crm::consent::refusal(c, settings.require_consent).unwrap_or("SENT");
    Outcome {
        contact: Some(c),
        word,
    }
}

/// The claim of reminder `r` for its cycle: it matches only while that
/// cycle is not yet sent.
fn claim(r: &Document) -> Document {
    let cycle = r.get_str("cycle").unwrap_or_default();
    doc! {
        "_id": r.get_object_id("_id").ok(),
        "organizationId": r.get_object_id("organizationId").ok(),
        "unsent": true, "cycle": cycle, "sentCycle": { "$ne": cycle },
    }
}

fn sent(r: &Document, outcome: &str, to: Option<ObjectId>, now: DateTime) -> Document {
    doc! { "$set": {
        "unsent": false, "sentCycle": r.get_str("cycle").unwrap_or_default(),
        "outcome": outcome, "sentAt": now, "sentTo": to,
    } }
}

/// `send-reminders`, for every organization with rules or reminders:
/// recomputes its reminders when its rules changed or a day has passed,
/// then, within today's working hours, sends what is due. Returns the
/// reminders looked at and those sent.
pub async fn send_due(db: &Unscoped<'_>, now: DateTime) -> Result<(u64, u64), ApiError> {
    let mut orgs: Vec<ObjectId> = vec![];
    for (coll, filter) in [
        (SERVICE_RULES, doc! { "deletedAt": null }),
        (SERVICE_REMINDERS, doc! { "unsent": true }),
    ] {
        for d in db
            .collection(coll)
            .find_many(
                filter,
                doc! { "organizationId": 1 },
                0,
                Some(doc! { "organizationId": 1, "_id": 0 }),
            )
            .await?
        {
            if let Ok(o) = d.get_object_id("organizationId") {
                if !orgs.contains(&o) {
                    orgs.push(o);
                }
            }
        }
    }
    // Each hour starts with another organization, so one that a run has
    // no time for is not always last.
    if !orgs.is_empty() {
        let hour = (now.timestamp_millis() / 3_600_000) as usize;
        let start = hour % orgs.len();
        orgs.rotate_left(start);
    }
    let (mut looked, mut sent_count) = (0, 0);
    let deadline =
        std::time::Instant::now() + std::time::Duration::from_secs(db.config().cleanup.max_seconds);
    for org in orgs {
        if std::time::Instant::now() > deadline {
            // The next hourly run goes on with the rest.
            tracing::warn!("[REMINDERS] out of time: the next run takes the other organizations");
            break;
        }
        match send_org(db, org, now).await {
            Ok((l, s)) => {
                looked += l;
                sent_count += s;
            }
            Err(e) => {
                tracing::warn!(error = ?e, organization = %org, "[REMINDERS] not sent this run")
            }
        }
    }
    Ok((looked, sent_count))
}

async fn send_org(db: &Unscoped<'_>, org: ObjectId, now: DateTime) -> Result<(u64, u64), ApiError> {
    let Some(o) = db
        .collection(shared::store::collections::ORGANIZATIONS)
        .find_one(doc! { "_id": org })
        .await?
    else {
        return Ok((0, 0));
    };
    if !o.get_bool("isActive").unwrap_or(true) || o.get_datetime("deletedAt").is_ok() {
        return Ok((0, 0));
    }
    let settings = o.get_document("settings").ok();
    let cal = Calendar::of(settings);
    let rs = ReminderSettings::of(settings);
    let handle = Db::Unscoped(db, org);
    let marker = db
        .collection(SERVICE_REMINDERS)
        .find_one(doc! { "_id": marker_id(org), "organizationId": org })
        .await?;
    let due_refresh = marker
        .as_ref()
        .is_none_or(|m| stale(m, now.timestamp_millis(), Some(20 * 3600 * 1000)));
    if due_refresh {
        if let Err(e) = refresh(&handle, None).await {
            tracing::warn!(error = ?e, organization = %org, "[REMINDERS] not recomputed; sending what is stored");
        }
    }
    if !rs.enabled {
        return Ok((0, 0));
    }
    let ms = now.timestamp_millis();
    let Some(date) = cal.local_date(ms) else {
        return Ok((0, 0));
    };
    if !cal
        .open(date)
        .is_some_and(|(from, to)| from <= ms && ms < to)
    {
        return Ok((0, 0));
    }
    let today = date.to_string();
    let today = today.as_str();
    let due = db
        .collection(SERVICE_REMINDERS)
        .find_many(
            doc! {
                // A due-soon date on or before today (`unsent` is set only
                // with a due date): the index's equalities and one range.
                "organizationId": org, "unsent": true, "soonDate": { "$lte": today },
            },
            doc! { "soonDate": 1, "_id": 1 },
            SEND_BATCH,
            None,
        )
        .await?;
    let looked = due.len() as u64;
    // A vehicle deleted or sold to another account since its reminders
    // were computed: recomputed now, sent (if due) by a later run.
    let ids: Vec<Bson> = due
        .iter()
        .filter_map(|r| r.get_object_id("vehicleId").ok().map(Bson::ObjectId))
        .collect();
    let owners: HashMap<ObjectId, Option<ObjectId>> = handle
        .find(
            VEHICLES,
            doc! { "_id": { "$in": ids }, "deletedAt": null },
            doc! { "_id": 1 },
            Some(doc! { "accountId": 1 }),
        )
        .await?
        .into_iter()
        .filter_map(|v| {
            Some((
                v.get_object_id("_id").ok()?,
                v.get_object_id("accountId").ok(),
            ))
        })
        .collect();
    let mut moved = HashSet::new();
    let mut groups: BTreeMap<String, Vec<&Document>> = BTreeMap::new();
    for r in &due {
        let Ok(vehicle) = r.get_object_id("vehicleId") else {
            continue;
        };
        if owners.get(&vehicle) != Some(&r.get_object_id("accountId").ok()) {
            moved.insert(vehicle);
            continue;
        }
        let key = r
            .get_object_id("accountId")
            .map(|a| a.to_hex())
            .unwrap_or_else(|_| {
                format!(
                    "vehicle:{}",
                    r.get_object_id("vehicleId")
                        .map(|v| v.to_hex())
                        .unwrap_or_default()
                )
            });
        groups.entry(key).or_default().push(r);
    }
    let shop = o.get_str("name").unwrap_or("Your workshop").to_string();
    let phone = settings
        .and_then(|s| s.get_str("phone").ok())
        .unwrap_or_default()
        .to_string();
    let endpoints = number(&o, "webhookEndpoints").unwrap_or(0) > 0;
    let mut sent_count = 0;
    let mut outbox = vec![];
    for group in groups.values() {
        let first = group[0];
        let (account, contacts) = contacts_of(
            &handle,
            first.get_object_id("accountId").ok(),
            first.get_object_id("contactId").ok(),
        )
        .await?;
        let out = outcome(
            account.as_ref(),
            first.get_object_id("contactId").ok(),
            &contacts,
            &rs,
        );
        let to = out.contact.and_then(|c| c.get_object_id("_id").ok());
        let recipient = match (out.word, out.contact, to) {
            ("SENT", Some(c), Some(id)) => Some((c, id)),
            _ => None,
        };
        let (word, group, shop, phone) = (out.word, group, &shop, &phone);
        let meta = shared::db::RequestMeta::system("send-reminders", "SCHEDULED");
        let meta = &meta;
        let queued = db
            .transaction(|tx| {
                Box::pin(async move {
                    let mut claimed = vec![];
                    for r in group.iter() {
                        if tx
                            .update_one(SERVICE_REMINDERS, claim(r), sent(r, word, to, now))
                            .await?
                            == 1
                        {
                            claimed.push(*r);
                        }
                    }
                    if claimed.is_empty() {
                        return Ok(None);
                    }
                    let ids: Vec<Bson> = claimed
                        .iter()
                        .filter_map(|r| r.get_object_id("_id").ok().map(Bson::ObjectId))
                        .collect();
                    tx.audit(
                        AuditEntry::new(Action::Update, "service_reminder")
                            .changes(doc! { "reminders": ids, "outcome": word, "sentTo": to }),
                        Some(org),
                        None,
                        meta,
                    )
                    .await?;
                    let Some((contact, contact_id)) = recipient else {
                        return Ok(None);
                    };
                    // Only what this run claimed: a reminder another run or
                    // a manual send took is not in it.
                    let (token, link) = crate::crm::consent::new_link(org, contact_id, None);
                    let message = message(db.config(), shop, phone, contact, &claimed, &token);
                    tx.insert_with_commit(shared::store::collections::LINKS, link);
                    let id = tx.queue_email(Some(org), None, &message).await?;
                    if endpoints {
                        for r in &claimed {
                            let mut shown = shown(r, today);
                            shown["sentTo"] = json!(to.map(|t| t.to_hex()));
                            shown["sentAt"] = json!(shared::time::rfc3339(now));
                            tx.announce(org, "service_reminder.sent", &shown);
                        }
                    }
                    Ok(Some((id, claimed.len() as u64)))
                })
            })
            .await;
        match queued {
            Ok(Some((id, n))) => {
                outbox.push(id);
                sent_count += n;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = ?e, organization = %org, "[REMINDERS] a reminder email was not queued")
            }
        }
    }
    // One wait for all of them; what is not sent by then, `send-emails`
    // sends.
    shared::email::deliver(db.state(), &outbox).await;
    for vehicle in moved {
        if let Err(e) = refresh(&handle, Some(vehicle)).await {
            tracing::warn!(error = ?e, %vehicle, "[REMINDERS] not recomputed; the next run will");
        }
    }
    Ok((looked, sent_count))
}

/// `POST /api/v1/service-reminders/{id}/send` -> 200 with the reminder:
/// emails it now to the account's contact, whatever its cycle; 409
/// `CONTACT_OPTED_OUT` for a contact who unsubscribed (or, where the
/// settings require it, never consented), 422 on `contactId` when no
/// contact has an address.
pub async fn send(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let id = ctx.path_id()?;
    let live = doc! { "_id": id, "listed": true };
    let stored = scope
        .collection(SERVICE_REMINDERS)
        .find_one(live.clone())
        .await?
        .ok_or(ApiError::NotFound {
            resource: "service reminder",
        })?;
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Nothing {}
    let _: Nothing = ctx.req.json_or_empty()?;
    // As the vehicle stands now (deleted, or another account's since).
    if let Ok(vehicle) = stored.get_object_id("vehicleId") {
        refresh(&Db::Scoped(scope), Some(vehicle)).await?;
    }
    let reminder = scope
        .collection(SERVICE_REMINDERS)
        .find_one(live)
        .await?
        .ok_or(ApiError::NotFound {
            resource: "service reminder",
        })?;
    let db = Db::Scoped(scope);
    let org = &scope.caller().org;
    let settings = org.settings.as_ref();
    let rs = ReminderSettings::of(settings);
    let (account, contacts) = contacts_of(
        &db,
        reminder.get_object_id("accountId").ok(),
        reminder.get_object_id("contactId").ok(),
    )
    .await?;
    let out = outcome(
        account.as_ref(),
        reminder.get_object_id("contactId").ok(),
        &contacts,
        &rs,
    );
    let Some(contact) = out.contact else {
        return Err(ApiError::Validation {
            errors: vec![FieldError::new(
                "contactId",
                "neither the account nor the vehicle has a contact with an email address",
            )],
        });
    };
    if out.word != "SENT" {
        return Err(crate::crm::consent::opted_out(out.word));
    }
    let contact_id = shared::error::id_of(contact, "contact")?;
    // Our name on a customer's inbox by hand: a few a day per address.
    scope
        .spend_on(
            shared::ratelimit::LimitedAction::ShareEmail,
            contact.get_str("email").unwrap_or_default(),
        )
        .await?;
    let to = Some(contact_id);
    let phone = settings
        .and_then(|s| s.get_str("phone").ok())
        .unwrap_or_default();
    let (token, link) =
        crate::crm::consent::new_link(scope.org_id(), contact_id, Some(scope.caller().user.id));
    let email = message(
        scope.config(),
        &org.name,
        phone,
        contact,
        &[&reminder],
        &token,
    );
    let now = DateTime::now();
    let cal = Calendar::of(settings);
    let today = today(&cal, now);
    let today = today.as_str();
    let (reminder_ref, email, link) = (&reminder, &email, &link);
    let (queued, after) = scope
        .transaction(|tx| {
            Box::pin(async move {
                let update = sent(reminder_ref, "SENT", to, now);
                let after = tx
                    .find_one_and_update(SERVICE_REMINDERS, doc! { "_id": id }, update)
                    .await?
                    .ok_or(ApiError::NotFound {
                        resource: "service reminder",
                    })?;
                tx.insert_one(shared::store::collections::LINKS, link.clone())
                    .await?;
                let queued = tx.queue_email(None, email).await?;
                tx.audit(
                    AuditEntry::new(Action::Update, "service_reminder")
                        .id(id)
                        .changes(doc! { "outcome": "SENT", "sentTo": to, "manual": true }),
                )
                .await?;
                let mut shown = shown(&after, today);
                shown["sentTo"] = json!(to.map(|t| t.to_hex()));
                tx.announce("service_reminder.sent", &shown);
                Ok((queued, after))
            })
        })
        .await?;
    shared::email::deliver(scope.state(), &[queued]).await;
    ok(shown(&after, today))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc() -> Calendar {
        Calendar::of(None)
    }

    fn rule(months: Option<i64>, km: Option<i64>) -> Rule {
        Rule {
            id: ObjectId::new(),
            name: "Service".into(),
            job: None,
            months,
            every: km,
            unit: "km".into(),
            soon_days: 30,
            soon_distance: None,
        }
    }

    const DAY0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

    fn at(day: i64, km: i64) -> Point {
        Point {
            ms: DAY0 + day * DAY_MS,
            metres: km * 1000,
        }
    }

    #[test]
    fn forty_km_a_day_and_due_by_time_before_distance() {
        let r = rule(Some(12), Some(15_000));
        let mut f = Facts {
            created_ms: DAY0,
            latest: Some(at(100, 54_000)),
            first_in_window: Some(at(0, 50_000)),
            last_in_window: Some(at(100, 54_000)),
            ..Facts::default()
        };
        f.done.insert(
            r.id,
            Done {
                ms: DAY0,
                metres: Some(50_000_000),
                source: "MANUAL",
                work_order: None,
            },
        );
        let (rate, measured) = daily_metres(&f, 40);
        assert_eq!((rate, measured), (40_000.0, true));
        let p = plan(&r, &f, rate, &utc());
        let day = |n: i64| add_days(utc().local_date(DAY0).unwrap(), n);
        assert_eq!(p.by_time, day(365));
        assert_eq!(p.by_distance, day(375));
        assert_eq!(p.due, day(365));
        assert_eq!(p.soon, day(335));
        assert_eq!(p.due_metres, Some(65_000_000));
        assert_eq!(p.cycle, DAY0.to_string());
    }

    #[test]
    fn a_day_holds_a_block_of_the_cover_exactly_when_it_is_within_the_window() {
        let base = Date::constant(1969, 12, 1);
        let d = |n: i64| add_days(base, n).unwrap();
        for soon in 0..70 {
            for len in [0, 1, 2, 3, 6, 7, 8, 29, 30, 31, 64, 200, 365] {
                let c = cover(d(soon), d(soon + len));
                for day in soon - 3..soon + len + 4 {
                    let held = holding(d(day));
                    let hits = c.iter().filter(|b| held.contains(b)).count();
                    let within = soon <= day && day <= soon + len;
                    assert_eq!(hits, usize::from(within), "{soon} +{len} on {day}");
                }
            }
        }
        // Windows longer than the largest block (2^16 days), on days at
        // and around their ends and the blocks' boundaries.
        for (soon, len) in [(-70_001, 140_000), (-3, 65_536), (65_530, 131_075)] {
            let c = cover(d(soon), d(soon + len));
            let mut days = vec![soon - 1, soon, soon + len, soon + len + 1];
            for k in [8, 12, 15, 16] {
                let step = 1_i64 << k;
                // Day numbers count from 1970-01-01, 31 days after `base`.
                let first = ((soon - 31).div_euclid(step) + 1) * step + 31;
                days.extend([first - 1, first, first + 1]);
            }
            for day in days {
                let held = holding(d(day));
                let hits = c.iter().filter(|b| held.contains(b)).count();
                let within = soon <= day && day <= soon + len;
                assert_eq!(hits, usize::from(within), "{soon} +{len} on {day}");
            }
        }
        // A window of 30 days is a handful of blocks; one of centuries a
        // few dozen.
        assert!(cover(d(0), d(30)).len() <= 2 * 5);
        let long = cover(d(-36_500), d(36_500));
        assert!(long.len() <= 2 * 16 + 2, "{}", long.len());
        assert!(cover(d(5), d(4)).is_empty());
    }

    #[test]
    fn readings_too_close_together_give_the_default_and_never_done_counts_from_the_next_multiple() {
        let r = rule(None, Some(15_000));
        let f = Facts {
            created_ms: DAY0,
            latest: Some(at(10, 52_000)),
            first_in_window: Some(at(0, 50_000)),
            last_in_window: Some(at(10, 52_000)),
            ..Facts::default()
        };
        let (rate, measured) = daily_metres(&f, 40);
        assert_eq!((rate, measured), (40_000.0, false));
        let p = plan(&r, &f, rate, &utc());
        // 60,000 km is 8,000 km past 52,000: 200 days at 40 km a day.
        assert_eq!(p.due_metres, Some(60_000_000));
        assert_eq!(p.due, add_days(utc().local_date(DAY0).unwrap(), 210));
        assert_eq!(p.cycle, "new");
        assert_eq!(
            status(Some("2026-05-01"), Some("2026-04-01"), "2026-04-15"),
            "DUE_SOON"
        );
        assert_eq!(
            status(Some("2026-05-01"), Some("2026-04-01"), "2026-05-02"),
            "OVERDUE"
        );
        assert_eq!(
            status(Some("2026-05-01"), Some("2026-04-01"), "2026-03-31"),
            "OK"
        );
        assert_eq!(status(None, None, "2026-03-31"), "UNKNOWN");
    }
}
