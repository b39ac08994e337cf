//! Appointments: a bay and a technician booked for a stretch of time. The
//! organization's settings say when it is open (`workingHours` per weekday,
//! in its IANA `timezone`, daylight saving time included) and which bays
//! it has. An appointment lies within one day's opening hours (422
//! `OUTSIDE_WORKING_HOURS`), and no two non-cancelled appointments overlap
//! on a bay or on a technician (409 `SLOT_TAKEN` naming the other one).
//! Times are half-open: one ending at 10:00 and one starting at 10:00 do
//! not overlap.
//!
//! Overlap is a rule across records no unique index expresses, so every
//! create, change and restore of an appointment takes the organization's
//! appointment lock in its transaction ([`Entity::serialize`]): concurrent
//! bookings conflict on it and run one after the other, each checking
//! against what the previous one committed. Twenty concurrent bookings of
//! one slot create exactly one.

use bson::{doc, Bson, DateTime, Document};
use jiff::civil::Date;
use serde_json::json;
use shared::db::{collections, Tx};
use shared::error::{ApiError, Code, FieldError};
use shared::fields::{Field, Kind};
use shared::migrate::Index;
use shared::records::{Entity, Filter, ListSpec, RangeLimit, Write};
use shared::runtime::{ok, Ctx, HandlerResult};

use crate::calendar::Calendar;

use super::order::WORK_ORDERS;
use super::vehicles::VEHICLES;
use super::work_orders::customer_and_technician;
use shared::time::{HOUR_MS, MINUTE_MS};

pub const APPOINTMENTS: &str = "appointments";

shared::words! {
    /// Where an appointment stands.
    pub enum Status {
        Scheduled = "SCHEDULED",
        Confirmed = "CONFIRMED",
        CheckedIn = "CHECKED_IN",
        Completed = "COMPLETED",
        Cancelled = "CANCELLED",
        NoShow = "NO_SHOW",
    }
}

/// The longest appointment.
const MAX_HOURS: i64 = 12;

/// Availability steps through a day in slots starting this many minutes
/// apart.
const STEP_MINUTES: i64 = 15;

pub static APPOINTMENT: Entity = Entity {
    collection: APPOINTMENTS,
    resource: "appointment",
    list: ListSpec {
        sort_fields: &["startAt", "createdAt", "updatedAt"],
        default_sort: "startAt",
        search_fields: &["notes", "bay"],
        filters: &[
            // A calendar's window: what overlaps [from, to).
            Filter::from("from", "endAt"),
            Filter::to("to", "startAt"),
            Filter::text("bay"),
            Filter::id("technicianId"),
            Filter::id("vehicleId"),
            Filter::id("accountId"),
            Filter::text("status"),
        ],
    },
    fields: &[
        Field::required("startAt", Kind::DateTime),
        Field::required("endAt", Kind::DateTime),
        Field::optional("bay", Kind::Text { min: 1, max: 50 }),
        Field::optional("technicianId", Kind::Ref(collections::USERS)),
        Field::optional("vehicleId", Kind::Ref(VEHICLES)),
        Field::optional("accountId", Kind::Ref(crate::crm::collections::ACCOUNTS)),
        Field::optional("workOrderId", Kind::Ref(WORK_ORDERS)),
        Field::optional(
            "status",
            Kind::Enum {
                values: Status::NAMES,
                default: Some(Status::Scheduled.as_str()),
            },
        ),
        Field::optional("notes", Kind::Multiline { max: 10_000 }),
    ],
    assignees: &["technicianId"],
    // Like a work order's: the vehicle's owner, an active technician.
    prepare: Some(|scope, write, fields| Box::pin(customer_and_technician(scope, write, fields))),
    written: Some(|tx, write, after| Box::pin(check(tx, write, after))),
    serialize: Some(APPOINTMENTS),
    max_range: Some(RangeLimit {
        from: "from",
        to: "to",
        days: 62,
    }),
    ..Entity::DEFAULTS
};

/// The overlap queries' indexes: per bay and per technician, by start.
pub fn indexes() -> Vec<Index> {
    vec![
        Index::on(
            APPOINTMENTS,
            doc! { "organizationId": 1, "bay": 1, "startAt": 1, "_id": 1 },
        ),
        Index::on(
            APPOINTMENTS,
            doc! { "organizationId": 1, "technicianId": 1, "startAt": 1, "_id": 1 },
        ),
    ]
}

fn ms(d: &Document, key: &str) -> Option<i64> {
    d.get_datetime(key).ok().map(|t| t.timestamp_millis())
}

/// Whether a write changed what the rules look at (a create or restore
/// always does, a delete never).
fn rescheduled(write: Write<'_>, after: &Document) -> bool {
    let before = match write {
        Write::Create | Write::Restore => return true,
        Write::Delete => return false,
        Write::Update(before) => before,
    };
    ["startAt", "endAt", "bay", "technicianId", "status"]
        .iter()
        .any(|k| before.get(*k) != after.get(*k))
}

/// The rules of [`APPOINTMENT`], checked in the write's transaction with
/// the organization's appointment lock held.
async fn check(tx: &mut Tx<'_>, write: Write<'_>, after: &Document) -> Result<(), ApiError> {
    let cancelled = |d: &Document| Status::in_field(d, "status") == Some(Status::Cancelled);
    match write {
        Write::Create if !cancelled(after) => {
            tx.announce("appointment.booked", &shared::records::render(after))
        }
        Write::Update(before) if cancelled(after) && !cancelled(before) => {
            tx.announce("appointment.cancelled", &shared::records::render(after))
        }
        _ => {}
    }
    if !rescheduled(write, after) {
        return Ok(());
    }
    let (Some(start), Some(end)) = (ms(after, "startAt"), ms(after, "endAt")) else {
        return Err(ApiError::internal("appointment without times"));
    };
    if end <= start {
        return Err(ApiError::field("endAt", "must be after startAt"));
    }
    if end - start > MAX_HOURS * HOUR_MS {
        return Err(ApiError::field(
            "endAt",
            format!("must be at most {MAX_HOURS} hours after startAt"),
        ));
    }
    let calendar = Calendar::of(tx.scope().caller().org.settings.as_ref());
    let bay = after.get_str("bay").ok();
    if let Some(bay) = bay {
        if !calendar.bays.iter().any(|b| b == bay) {
            return Err(ApiError::field(
                "bay",
                if calendar.bays.is_empty() {
                    "names no bay: the organization has none set (settings.bays)".to_string()
                } else {
                    format!("must be one of {}", calendar.bays.join(", "))
                },
            ));
        }
    }
    if Status::in_field(after, "status") == Some(Status::Cancelled) {
        return Ok(());
    }
    let within = calendar
        .local_date(start)
        .and_then(|d| calendar.open(d))
        .is_some_and(|(open, close)| open <= start && end <= close);
    if !within {
        return Err(ApiError::Unprocessable {
            code: Code::OutsideWorkingHours,
            detail: format!(
                "The appointment must lie within one day's working hours ({})",
                calendar.tz_name
            ),
            errors: vec![FieldError::new("startAt", "is outside the working hours")],
        });
    }
    let id = after.get_object_id("_id").ok();
    let mut sides: Vec<(&str, Bson)> = vec![];
    if let Some(b) = bay {
        sides.push(("bay", Bson::String(b.into())));
    }
    if let Ok(t) = after.get_object_id("technicianId") {
        sides.push(("technicianId", Bson::ObjectId(t)));
    }
    for (field, value) in sides {
        let other = tx
            .find_one(
                APPOINTMENTS,
                doc! {
                    field: value,
                    "_id": { "$ne": id },
                    "deletedAt": null,
                    "status": { "$ne": Status::Cancelled },
                    "startAt": { "$lt": DateTime::from_millis(end) },
                    "endAt": { "$gt": DateTime::from_millis(start) },
                },
            )
            .await?;
        if let Some(other) = other {
            let other_id = other
                .get_object_id("_id")
                .map(|i| i.to_hex())
                .unwrap_or_default();
            let whose = if field == "bay" { "bay" } else { "technician" };
            return Err(ApiError::Conflict {
                code: Code::SlotTaken,
                detail: format!("The {whose} is booked then by appointment {other_id}"),
                errors: vec![FieldError::new(
                    field,
                    format!("is taken by appointment {other_id}"),
                )],
            });
        }
    }
    Ok(())
}

/// `GET /api/v1/appointments/availability?date=YYYY-MM-DD&durationMinutes=N
/// [&bay=NAME][&technicianId=ID]`: the free slots of that local day, per
/// bay (every bay unless one is named), starting every 15 minutes from
/// opening, each `durationMinutes` long, ending by closing, and clashing
/// with no non-cancelled appointment of the bay (nor of the technician,
/// when one is named).
pub async fn availability(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let mut errors: Vec<FieldError> = vec![];
    let (mut date, mut duration, mut bay, mut technician) = (None, None, None, None);
    for (k, v) in &ctx.req.query {
        match k.as_str() {
            "date" => match v.parse::<Date>() {
                Ok(d) => date = Some(d),
                Err(_) => errors.push(FieldError::new("date", "must be a date such as 2026-12-01")),
            },
            "durationMinutes" => match v.parse::<i64>() {
                Ok(n) if (5..=MAX_HOURS * 60).contains(&n) => duration = Some(n),
                _ => errors.push(FieldError::new(
                    "durationMinutes",
                    format!(
                        "must be a whole number of minutes from 5 to {}",
                        MAX_HOURS * 60
                    ),
                )),
            },
            "bay" => bay = Some(v.clone()),
            "technicianId" => match shared::validate::object_id("technicianId", v) {
                Ok(t) => technician = Some(t),
                Err(_) => errors.push(FieldError::new(
                    "technicianId",
                    "must be a 24-character hex id",
                )),
            },
            other => {
                return Err(ApiError::bad_field(
                    Code::UnknownParameter,
                    other,
                    "is not a parameter of this route",
                ))
            }
        }
    }
    if date.is_none() {
        errors.push(FieldError::new("date", "is required"));
    }
    if duration.is_none() {
        errors.push(FieldError::new("durationMinutes", "is required"));
    }
    let calendar = Calendar::of(scope.caller().org.settings.as_ref());
    if let Some(b) = &bay {
        if !calendar.bays.contains(b) {
            errors.push(FieldError::new(
                "bay",
                "is not one of the organization's bays",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::BadRequest {
            code: Code::InvalidParameter,
            detail: "Ask for a date (YYYY-MM-DD) and a durationMinutes".into(),
            errors,
        });
    }
    let (Some(date), Some(duration)) = (date, duration) else {
        return Err(ApiError::internal("checked above"));
    };
    let bays: Vec<String> = match bay {
        Some(b) => vec![b],
        None => calendar.bays.clone(),
    };
    let Some((open, close)) = calendar.open(date) else {
        return ok(
            json!({ "date": date.to_string(), "timezone": calendar.tz_name, "open": null, "slots": [] }),
        );
    };
    let taken = scope
        .collection(APPOINTMENTS)
        .find_many(
            doc! {
                "deletedAt": null,
                "status": { "$ne": Status::Cancelled },
                "startAt": { "$lt": DateTime::from_millis(close) },
                "endAt": { "$gt": DateTime::from_millis(open) },
            },
            doc! { "startAt": 1, "_id": 1 },
            2_000,
            None,
        )
        .await?;
    let busy = |field: &str, value: Bson| -> Vec<(i64, i64)> {
        taken
            .iter()
            .filter(|a| a.get(field) == Some(&value))
            .filter_map(|a| Some((ms(a, "startAt")?, ms(a, "endAt")?)))
            .collect()
    };
    let technician_busy = technician
        .map(|t| busy("technicianId", Bson::ObjectId(t)))
        .unwrap_or_default();
    let length = duration * MINUTE_MS;
    let mut slots = vec![];
    for b in &bays {
        let mut clashes = busy("bay", Bson::String(b.clone()));
        clashes.extend(&technician_busy);
        let mut start = open;
        while start + length <= close {
            let end = start + length;
            if !clashes.iter().any(|(s, e)| *s < end && *e > start) {
                slots.push(json!({
                    "bay": b,
                    "startAt": rfc3339(start),
                    "endAt": rfc3339(end),
                }));
            }
            start += STEP_MINUTES * MINUTE_MS;
        }
    }
    ok(json!({
        "date": date.to_string(),
        "timezone": calendar.tz_name,
        "durationMinutes": duration,
        "open": { "from": rfc3339(open), "to": rfc3339(close) },
        "slots": slots,
    }))
}

fn rfc3339(ms: i64) -> String {
    shared::time::rfc3339(DateTime::from_millis(ms))
}
