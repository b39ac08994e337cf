//! The technicians' time clock: `time_entries` of kind SHIFT (at work),
//! JOB (on a work order, optionally one of its LABOR lines) or
//! NON_BILLABLE (cleaning, training: an `activity`).
//!
//! A technician has at most one open SHIFT and one open piece of work (a
//! JOB or NON_BILLABLE entry) at a time. A partial unique index on the
//! open entries of a technician's slot (`open: true`) holds it whatever
//! happens, and every clock-in, clock-out and edit of a technician's
//! entries takes that technician's lock first in its transaction, so
//! concurrent taps run one after the other: the second sees the first's
//! entry. Clocking in to what is already open answers the open entry
//! (200) instead of a new one, so twenty concurrent taps give one entry.
//! Starting other work closes the open one at the same instant; work needs
//! an open shift (409 `NO_OPEN_SHIFT`) unless the organization's
//! `timeClock.autoStartShift` setting opens one with it; clocking out of a
//! shift closes the open work with it.
//!
//! A closed entry carries `minutes` (its length rounded to the nearest
//! minute, a half up), and a JOB entry on a line adds them to the line's
//! `clockedMinutes` in the same transaction (an edit moves the
//! difference), without changing the work order's version: clocked time is
//! not part of the estimate the customer decides on.
//!
//! ADMIN+ edit entries (`editReason` required, audited with the change;
//! 409 `TIME_ENTRY_OVERLAP` when the new times overlap another entry of
//! the same slot). The scheduled cleanup closes entries left open past
//! the working day they started in ([`auto_close`]): at the end of that
//! day's working hours in the organization's time zone (at the local
//! midnight when the day has none, or the entry started after them),
//! with `source: AUTO_CLOSE`.

use std::collections::HashMap;

use bson::oid::ObjectId;
use bson::{doc, Bson, DateTime, Document};
use http::StatusCode;
use serde_json::{json, Value};
use shared::audit::{diff, Action, AuditEntry};
use shared::db::{collections, RequestMeta, Scope, Tx};
use shared::error::{ApiError, Code};
use shared::fields::{self, Field, Kind};
use shared::http::ApiResponse;
use shared::migrate::Index;
use shared::rbac::Permission;
use shared::records::{self, render, Filter, ListSpec};
use shared::runtime::{Ctx, HandlerResult};
use shared::time::MINUTE_MS;
use shared::unscoped::{Unscoped, UnscopedTx};

use crate::calendar::Calendar;

use super::order::{LineKind, Status, WORK_ORDERS};

pub const TIME_ENTRIES: &str = "time_entries";

shared::words! {
    /// What an entry records.
    pub enum EntryKind {
        Shift = "SHIFT",
        Job = "JOB",
        NonBillable = "NON_BILLABLE",
    }
}

shared::words! {
    /// How an entry came to be.
    pub enum Source {
        App = "APP",
        Manual = "MANUAL",
        AutoClose = "AUTO_CLOSE",
    }
}

impl EntryKind {
    /// The slot an entry holds: a shift, or the one piece of work a
    /// technician does at a time.
    fn slot(self) -> &'static str {
        match self {
            EntryKind::Shift => "SHIFT",
            EntryKind::Job | EntryKind::NonBillable => "WORK",
        }
    }
}

/// The longest an entry may be edited to last.
const MAX_ENTRY_HOURS: i64 = 24;

/// The indexes the time clock needs: one open entry per technician and
/// slot, and the lists by technician, by work order and by time.
pub fn indexes() -> Vec<Index> {
    vec![
        Index::unique_where(
            TIME_ENTRIES,
            doc! { "organizationId": 1, "technicianId": 1, "slot": 1 },
            doc! { "open": true },
        ),
        Index::on(
            TIME_ENTRIES,
            doc! { "organizationId": 1, "technicianId": 1, "startedAt": -1 },
        ),
        Index::on(
            TIME_ENTRIES,
            doc! { "organizationId": 1, "workOrderId": 1, "startedAt": -1 },
        ),
        Index::on(
            TIME_ENTRIES,
            doc! { "organizationId": 1, "startedAt": -1, "_id": -1 },
        ),
        // The cleanup's scan of entries left open.
        Index::on(TIME_ENTRIES, doc! { "open": 1, "startedAt": 1 }),
    ]
}

const KIND: Kind = Kind::Enum {
    values: EntryKind::NAMES,
    default: None,
};

pub static CLOCK_IN: &[Field] = &[
    Field::required("kind", KIND),
    Field::optional("technicianId", Kind::Ref(collections::USERS)),
    Field::optional("workOrderId", Kind::Ref(WORK_ORDERS)),
    Field::optional("lineId", Kind::Text { min: 24, max: 24 }),
    Field::optional("bay", Kind::Text { min: 1, max: 50 }),
    Field::optional("activity", Kind::Text { min: 1, max: 100 }),
];

pub static CLOCK_OUT: &[Field] = &[
    Field::required("kind", KIND),
    Field::optional("technicianId", Kind::Ref(collections::USERS)),
];

pub static EDIT: &[Field] = &[
    Field::required("editReason", Kind::Text { min: 3, max: 500 }),
    Field::optional("startedAt", Kind::DateTime),
    Field::optional("endedAt", Kind::DateTime),
    Field::optional("workOrderId", Kind::Ref(WORK_ORDERS)),
    Field::optional("lineId", Kind::Text { min: 24, max: 24 }),
    Field::optional("bay", Kind::Text { min: 1, max: 50 }),
    Field::optional("activity", Kind::Text { min: 1, max: 100 }),
];

/// The list's parameters: by technician, work order, kind and start.
pub static LIST: ListSpec = ListSpec {
    sort_fields: &["startedAt"],
    default_sort: "-startedAt",
    search_fields: &[],
    filters: &[
        Filter::id("technicianId"),
        Filter::id("workOrderId"),
        Filter::text("kind"),
        Filter::from("from", "startedAt"),
        Filter::to("to", "startedAt"),
    ],
};

/// An entry as the API shows it (the internal `slot` and `open` left out).
fn shown(d: &Document) -> Value {
    let mut v = render(d);
    if let Some(o) = v.as_object_mut() {
        o.remove("slot");
        o.remove("open");
    }
    v
}

/// The technician a clock request is for: the caller, or (ADMIN+) the
/// member it names.
async fn technician_of(scope: &Scope, input: &Document) -> Result<ObjectId, ApiError> {
    let me = scope.caller().user.id;
    match input.get_object_id("technicianId") {
        Ok(t) if t != me => {
            scope.require(Permission::UpdateAnyRecord).await?;
            Ok(t)
        }
        _ => Ok(me),
    }
}

/// Minutes between two instants, to the nearest (a half up).
fn minutes(from: DateTime, to: DateTime) -> i64 {
    let ms = (to.timestamp_millis() - from.timestamp_millis()).max(0);
    (ms + MINUTE_MS / 2) / MINUTE_MS
}

/// Where a JOB entry's time counts: its work order and line.
fn line_of(entry: &Document) -> Option<(ObjectId, ObjectId)> {
    if entry.get_str("kind") != Ok(EntryKind::Job.as_str()) {
        return None;
    }
    Some((
        entry.get_object_id("workOrderId").ok()?,
        entry.get_object_id("lineId").ok()?,
    ))
}

/// The line's `clockedMinutes` change of `delta` (the filter and update).
fn line_change(order: ObjectId, line: ObjectId, delta: i64) -> (Document, Document) {
    (
        doc! { "_id": order, "lines.id": line },
        doc! { "$inc": { "lines.$.clockedMinutes": delta } },
    )
}

/// The update that closes an open entry at `at`.
fn closing(entry: &Document, at: DateTime, source: Option<Source>) -> (i64, Document) {
    let started = entry.get_datetime("startedAt").copied().unwrap_or(at);
    let m = minutes(started, at);
    let mut set = doc! { "endedAt": at, "minutes": m, "updatedAt": DateTime::now() };
    if let Some(s) = source {
        set.insert("source", s.as_str());
    }
    (
        m,
        doc! { "$set": set, "$unset": { "open": "" }, "$inc": { "version": 1_i64 } },
    )
}

/// Closes the open `entry` at `at` in the transaction, adding its minutes
/// to its line.
async fn close(tx: &mut Tx<'_>, entry: &Document, at: DateTime) -> Result<Document, ApiError> {
    let id = shared::error::id_of(entry, "time entry")?;
    let (m, update) = closing(entry, at, None);
    let after = tx
        .find_one_and_update(TIME_ENTRIES, doc! { "_id": id, "open": true }, update)
        .await?
        .ok_or_else(|| {
            ApiError::conflict(Code::WriteConflict, "The entry changed meanwhile; retry")
        })?;
    if let Some((order, line)) = line_of(entry) {
        let (filter, update) = line_change(order, line, m);
        tx.update_by_id(WORK_ORDERS, filter, update).await?;
    }
    Ok(after)
}

/// The work order a JOB is clocked on: live, its lines still worked on,
/// and the line (when named) one of its LABOR lines.
async fn check_job(scope: &Scope, order: ObjectId, line: Option<ObjectId>) -> Result<(), ApiError> {
    let found = scope
        .collection(WORK_ORDERS)
        .find_one(doc! { "_id": order, "deletedAt": null })
        .await?
        .ok_or(ApiError::NotFound {
            resource: "work order",
        })?;
    if !Status::of(&found).lines_change() {
        return Err(ApiError::conflict(
            Code::InvalidTransition,
            "Time is clocked on a work order before it is COMPLETED",
        ));
    }
    if let Some(line) = line {
        let labour = super::order::lines_of(&found).iter().any(|l| {
            l.get_object_id("id") == Ok(line) && l.get_str("type") == Ok(LineKind::Labor.as_str())
        });
        if !labour {
            return Err(ApiError::field(
                "lineId",
                "must be a LABOR line of the work order",
            ));
        }
    }
    Ok(())
}

/// `lineId` of `input` as an id (422 when it is none).
fn line_id(input: &Document) -> Result<Option<ObjectId>, ApiError> {
    match input.get_str("lineId") {
        Ok(s) => ObjectId::parse_str(s)
            .map(Some)
            .map_err(|_| ApiError::field("lineId", "must be a line id")),
        Err(_) => Ok(None),
    }
}

/// A bay must be one the organization has (when it lists any).
fn check_bay(scope: &Scope, input: &Document) -> Result<(), ApiError> {
    if let Ok(bay) = input.get_str("bay") {
        let cal = Calendar::of(scope.caller().org.settings.as_ref());
        if !cal.bays.is_empty() && !cal.bays.iter().any(|b| b == bay) {
            return Err(ApiError::field(
                "bay",
                "must be one of the organization's bays",
            ));
        }
    }
    Ok(())
}

/// Whether work opens a shift with it (`settings.timeClock.autoStartShift`).
fn auto_start_shift(scope: &Scope) -> bool {
    scope
        .caller()
        .org
        .settings
        .as_ref()
        .and_then(|s| s.get_document("timeClock").ok())
        .and_then(|t| t.get_bool("autoStartShift").ok())
        .unwrap_or(false)
}

/// A new open entry.
fn new_entry(
    scope: &Scope,
    technician: ObjectId,
    kind: EntryKind,
    input: &Document,
    now: DateTime,
) -> Document {
    let mut d = doc! {
        "_id": ObjectId::new(),
        "organizationId": scope.org_id(),
        "technicianId": technician,
        "kind": kind.as_str(),
        "slot": kind.slot(),
        "open": true,
        "startedAt": now,
        "endedAt": Bson::Null,
        "source": Source::App.as_str(),
        "createdBy": scope.caller().user.id,
        "createdAt": now,
        "updatedAt": now,
        "version": 1_i64,
    };
    if kind != EntryKind::Shift {
        for key in ["workOrderId", "lineId", "bay", "activity"] {
            if let Some(v) = input.get(key) {
                d.insert(key, v.clone());
            }
        }
    }
    d
}

/// The lock a technician's clock takes in every transaction.
fn lock_name(technician: ObjectId) -> String {
    format!("time-clock:{}", technician.to_hex())
}

/// `POST /api/v1/time-entries/clock-in {kind, technicianId?, workOrderId?,
/// lineId?, bay?, activity?}` -> 201 with the new entry (and the work it
/// closed), or 200 with the open entry when it is the same work.
pub async fn clock_in(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let body: Value = ctx.req.json()?;
    let (mut input, refs) = fields::parse_create(CLOCK_IN, &body)?;
    let kind = EntryKind::in_field(&input, "kind").unwrap_or(EntryKind::Shift);
    let line = line_id(&input)?;
    if line.is_some() {
        input.insert("lineId", line.map(Bson::ObjectId).unwrap_or(Bson::Null));
    }
    let order = input.get_object_id("workOrderId").ok();
    match kind {
        EntryKind::Job if order.is_none() => {
            return Err(ApiError::field("workOrderId", "is required for a JOB"))
        }
        EntryKind::Shift | EntryKind::NonBillable if order.is_some() || line.is_some() => {
            return Err(ApiError::field("workOrderId", "is taken by a JOB only"))
        }
        _ => {}
    }
    if line.is_some() && order.is_none() {
        return Err(ApiError::field("lineId", "needs its workOrderId"));
    }
    let technician = technician_of(scope, &input).await?;
    check_bay(scope, &input)?;
    // Independent reads, side by side: the references, the work order,
    // and the technician's lock (made once, outside any transaction).
    let lock = lock_name(technician);
    let (refs, job, locked) = tokio::join!(
        records::check_references(scope, &refs),
        async {
            match order {
                Some(order) => check_job(scope, order, line).await,
                None => Ok(()),
            }
        },
        scope.ensure_sequence(&lock)
    );
    refs?;
    job?;
    locked?;
    let auto_shift = auto_start_shift(scope);
    let input = &input;
    let (entry, closed, created) = scope
        .transaction(|tx| {
            Box::pin(async move {
                tx.lock(&lock_name(technician)).await?;
                let open = tx
                    .find_many(
                        TIME_ENTRIES,
                        doc! { "technicianId": technician, "open": true },
                        doc! { "startedAt": 1 },
                        5,
                    )
                    .await?;
                let in_slot =
                    |slot: &str| open.iter().find(|e| e.get_str("slot") == Ok(slot)).cloned();
                let now = DateTime::now();
                let mut closed = None;
                match kind {
                    EntryKind::Shift => {
                        if let Some(shift) = in_slot("SHIFT") {
                            return Ok((shift, None, false));
                        }
                    }
                    EntryKind::Job | EntryKind::NonBillable => {
                        if in_slot("SHIFT").is_none() {
                            if !auto_shift {
                                return Err(ApiError::conflict(
                                    Code::NoOpenShift,
                                    "Clock in to a SHIFT first (or set timeClock.autoStartShift)",
                                ));
                            }
                            let shift =
                                new_entry(tx.scope(), technician, EntryKind::Shift, input, now);
                            tx.insert_one(TIME_ENTRIES, shift).await?;
                        }
                        if let Some(work) = in_slot("WORK") {
                            let same = work.get_str("kind") == Ok(kind.as_str())
                                && ["workOrderId", "lineId", "activity"].iter().all(|k| {
                                    work.get(k).filter(|v| **v != Bson::Null) == input.get(k)
                                });
                            if same {
                                return Ok((work, None, false));
                            }
                            closed = Some(close(tx, &work, now).await?);
                        }
                    }
                }
                let entry = new_entry(tx.scope(), technician, kind, input, now);
                tx.insert_one(TIME_ENTRIES, entry.clone()).await?;
                tx.audit(
                    AuditEntry::new(Action::Create, "time_entry")
                        .id(shared::error::id_of(&entry, "time entry")?)
                        .changes(doc! { "kind": kind.as_str(), "technicianId": technician }),
                )
                .await?;
                Ok((entry, closed, true))
            })
        })
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut out = shown(&entry);
    out["closed"] = closed.as_ref().map(shown).unwrap_or(Value::Null);
    Ok(ApiResponse::json(status, &out))
}

/// `POST /api/v1/time-entries/clock-out {kind, technicianId?}` -> 200 with
/// the closed entry (a SHIFT closes the open work with it, listed in
/// `closed`); 409 `NOT_CLOCKED_IN` when nothing of that kind is open.
pub async fn clock_out(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let body: Value = ctx.req.json()?;
    let (input, refs) = fields::parse_create(CLOCK_OUT, &body)?;
    let kind = EntryKind::in_field(&input, "kind").unwrap_or(EntryKind::Shift);
    let technician = technician_of(scope, &input).await?;
    let lock = lock_name(technician);
    let (refs, locked) = tokio::join!(
        records::check_references(scope, &refs),
        scope.ensure_sequence(&lock)
    );
    refs?;
    locked?;
    let (entry, closed) = scope
        .transaction(|tx| {
            Box::pin(async move {
                tx.lock(&lock_name(technician)).await?;
                let now = DateTime::now();
                let open = tx
                    .find_many(
                        TIME_ENTRIES,
                        doc! { "technicianId": technician, "open": true },
                        doc! { "startedAt": 1 },
                        5,
                    )
                    .await?;
                let target = open
                    .iter()
                    .find(|e| e.get_str("kind") == Ok(kind.as_str()))
                    .cloned()
                    .ok_or_else(|| {
                        ApiError::conflict(
                            Code::NotClockedIn,
                            format!("No open {} entry to clock out of", kind.as_str()),
                        )
                    })?;
                let mut closed = None;
                if kind == EntryKind::Shift {
                    if let Some(work) = open.iter().find(|e| e.get_str("slot") == Ok("WORK")) {
                        closed = Some(close(tx, work, now).await?);
                    }
                }
                let after = close(tx, &target, now).await?;
                tx.audit(
                    AuditEntry::new(Action::Update, "time_entry")
                        .id(shared::error::id_of(&after, "time entry")?)
                        .changes(doc! { "endedAt": now }),
                )
                .await?;
                Ok((after, closed))
            })
        })
        .await?;
    let mut out = shown(&entry);
    out["closed"] = closed.as_ref().map(shown).unwrap_or(Value::Null);
    Ok(ApiResponse::ok(&out))
}

/// `GET /api/v1/time-entries` (filters `technicianId`, `workOrderId`,
/// `kind`, `from`, `to` on the start): a MEMBER sees their own entries.
pub async fn list(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let mut filter = Document::new();
    if !Permission::UpdateAnyRecord.allows(scope.caller().role) {
        filter.insert("technicianId", scope.caller().user.id);
    }
    let (docs, next) = records::page(&ctx.req, scope, TIME_ENTRIES, &LIST, filter, None).await?;
    let data: Vec<Value> = docs.iter().map(shown).collect();
    Ok(ApiResponse::ok(
        &json!({ "data": data, "nextCursor": next }),
    ))
}

/// `PATCH /api/v1/time-entries/{id}` (ADMIN+) `{editReason, startedAt?,
/// endedAt?, workOrderId?, lineId?, bay?, activity?}`: the corrected entry,
/// audited with its reason; 409 `TIME_ENTRY_OVERLAP` when it would overlap
/// another entry of the technician's slot.
pub async fn edit(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let id = ctx.path_id()?;
    let before = scope
        .collection(TIME_ENTRIES)
        .find_one(doc! { "_id": id })
        .await?
        .ok_or(ApiError::NotFound {
            resource: "time entry",
        })?;
    let body: Value = ctx.req.json()?;
    let (mut input, refs) = fields::parse_create(EDIT, &body)?;
    let expected = records::if_match(&ctx.req)?;
    let line = line_id(&input)?;
    if let Some(l) = line {
        input.insert("lineId", l);
    }
    let kind = EntryKind::in_field(&before, "kind").unwrap_or(EntryKind::Shift);
    if kind != EntryKind::Job && (input.contains_key("workOrderId") || line.is_some()) {
        return Err(ApiError::field("workOrderId", "is taken by a JOB only"));
    }
    check_bay(scope, &input)?;
    records::check_references(scope, &refs).await?;
    let order = input
        .get_object_id("workOrderId")
        .ok()
        .or_else(|| before.get_object_id("workOrderId").ok());
    if line.is_some() || input.contains_key("workOrderId") {
        if let Some(order) = order {
            check_line(
                scope,
                order,
                line.or_else(|| before.get_object_id("lineId").ok()),
            )
            .await?;
        }
    }
    let started = input
        .get_datetime("startedAt")
        .or_else(|_| before.get_datetime("startedAt"))
        .copied()
        .map_err(|_| ApiError::internal("an entry without its start"))?;
    let ended = input
        .get_datetime("endedAt")
        .ok()
        .or_else(|| before.get_datetime("endedAt").ok())
        .copied();
    let now = DateTime::now();
    if started.timestamp_millis() > now.timestamp_millis() + 5 * MINUTE_MS {
        return Err(ApiError::field("startedAt", "cannot be in the future"));
    }
    if let Some(end) = ended {
        let span = end.timestamp_millis() - started.timestamp_millis();
        if span <= 0 {
            return Err(ApiError::field("endedAt", "must be after startedAt"));
        }
        if span > MAX_ENTRY_HOURS * 60 * MINUTE_MS {
            return Err(ApiError::field(
                "endedAt",
                format!("an entry lasts at most {MAX_ENTRY_HOURS} hours"),
            ));
        }
        if end.timestamp_millis() > now.timestamp_millis() + 5 * MINUTE_MS {
            return Err(ApiError::field("endedAt", "cannot be in the future"));
        }
    }
    let technician = before
        .get_object_id("technicianId")
        .map_err(|_| ApiError::internal("an entry without its technician"))?;
    let slot = kind.slot();
    scope.ensure_sequence(&lock_name(technician)).await?;
    let (input, before_ref) = (&input, &before);
    let after = scope
        .transaction(|tx| {
            Box::pin(async move {
                tx.lock(&lock_name(technician)).await?;
                let current = tx.find_one(TIME_ENTRIES, doc! { "_id": id }).await?.ok_or(
                    ApiError::NotFound {
                        resource: "time entry",
                    },
                )?;
                let version = shared::db::number(&current, "version").unwrap_or(1);
                if expected.is_some_and(|v| v != version) {
                    return Err(ApiError::PreconditionFailed {
                        current_version: version,
                    });
                }
                // Another entry of the slot overlapping [started, ended).
                let mut overlap = doc! {
                    "_id": { "$ne": id }, "technicianId": technician, "slot": slot,
                    "$or": [{ "endedAt": null }, { "endedAt": { "$gt": started } }],
                };
                if let Some(end) = ended {
                    overlap.insert("startedAt", doc! { "$lt": end });
                }
                if let Some(other) = tx.find_one(TIME_ENTRIES, overlap).await? {
                    return Err(ApiError::conflict(
                        Code::TimeEntryOverlap,
                        format!(
                            "The entry would overlap the technician's entry {}",
                            other
                                .get_object_id("_id")
                                .map(|i| i.to_hex())
                                .unwrap_or_default()
                        ),
                    ));
                }
                let mut set = input.clone();
                set.insert("startedAt", started);
                set.insert("editedBy", tx.scope().caller().user.id);
                set.insert("source", Source::Manual.as_str());
                set.insert("updatedAt", now);
                let mut update = doc! { "$inc": { "version": 1_i64 } };
                let old_minutes = shared::db::number(&current, "minutes").unwrap_or(0);
                let new_minutes = ended.map(|e| minutes(started, e));
                if let Some(end) = ended {
                    set.insert("endedAt", end);
                    set.insert("minutes", new_minutes.unwrap_or(0));
                    update.insert("$unset", doc! { "open": "" });
                }
                update.insert("$set", set);
                let after = tx
                    .find_one_and_update(
                        TIME_ENTRIES,
                        doc! { "_id": id, "version": version },
                        update,
                    )
                    .await?
                    .ok_or_else(|| {
                        ApiError::conflict(
                            Code::WriteConflict,
                            "The entry changed meanwhile; retry",
                        )
                    })?;
                // The minutes move from the line they counted on to the
                // line they count on now.
                let was_closed = current.get_datetime("endedAt").is_ok();
                if let (Some((order, line)), true) = (line_of(&current), was_closed) {
                    let (f, u) = line_change(order, line, -old_minutes);
                    tx.update_by_id(WORK_ORDERS, f, u).await?;
                }
                if let (Some((order, line)), Some(m)) = (line_of(&after), new_minutes) {
                    let (f, u) = line_change(order, line, m);
                    tx.update_by_id(WORK_ORDERS, f, u).await?;
                }
                let reason = input.get_str("editReason").unwrap_or("");
                let mut changes = diff(before_ref, &after);
                changes.insert("editReason", reason);
                tx.audit(
                    AuditEntry::new(Action::Update, "time_entry")
                        .id(id)
                        .changes(changes),
                )
                .await?;
                Ok(after)
            })
        })
        .await?;
    let mut r = ApiResponse::ok(&shown(&after));
    r.set_header(
        "etag",
        &format!("\"{}\"", shared::db::number(&after, "version").unwrap_or(1)),
    );
    Ok(r)
}

/// For an edit: the line (when named) is a LABOR line of the live work
/// order (whatever its status: a correction may come after the invoice).
async fn check_line(
    scope: &Scope,
    order: ObjectId,
    line: Option<ObjectId>,
) -> Result<(), ApiError> {
    let found = scope
        .collection(WORK_ORDERS)
        .find_one(doc! { "_id": order, "deletedAt": null })
        .await?
        .ok_or(ApiError::NotFound {
            resource: "work order",
        })?;
    if let Some(line) = line {
        let labour = super::order::lines_of(&found).iter().any(|l| {
            l.get_object_id("id") == Ok(line) && l.get_str("type") == Ok(LineKind::Labor.as_str())
        });
        if !labour {
            return Err(ApiError::field(
                "lineId",
                "must be a LABOR line of the work order",
            ));
        }
    }
    Ok(())
}

/// When an entry started at `started` is left open too long: the end of
/// that local day's working hours, or the local midnight after it when
/// the day has none or the entry started after them.
fn day_end(cal: &Calendar, started: DateTime) -> Option<DateTime> {
    let ms = started.timestamp_millis();
    let date = cal.local_date(ms)?;
    let end = match cal.open(date) {
        Some((_, close)) if ms < close => close,
        _ => {
            let next = date.tomorrow().ok()?;
            next.to_datetime(jiff::civil::Time::MIN)
                .to_zoned_datetime(cal.tz.clone())
                .ok()?
                .timestamp()
                .as_millisecond()
        }
    };
    Some(DateTime::from_millis(end))
}

/// The scheduled cleanup's part: entries left open past their working day
/// are closed at its end (`AUTO_CLOSE`), their minutes added to their
/// line in the same transaction. At most `batch` entries a run; returns
/// (looked at, closed).
pub async fn auto_close(
    db: &Unscoped<'_>,
    now: DateTime,
    batch: i64,
) -> Result<(u64, u64), ApiError> {
    // Nothing younger than an hour can be past its day's end by much.
    let cutoff = DateTime::from_millis(now.timestamp_millis() - 60 * MINUTE_MS);
    let open = db
        .collection(TIME_ENTRIES)
        .find_many(
            doc! { "open": true, "startedAt": { "$lt": cutoff } },
            doc! { "startedAt": 1 },
            batch,
            None,
        )
        .await?;
    let mut calendars: HashMap<ObjectId, Calendar> = HashMap::new();
    let (mut scanned, mut closed) = (0, 0);
    let meta = RequestMeta::system("time-clock-auto-close", "SCHEDULED");
    for entry in open {
        scanned += 1;
        let (Ok(org), Ok(started)) = (
            entry.get_object_id("organizationId"),
            entry.get_datetime("startedAt").copied(),
        ) else {
            continue;
        };
        if let std::collections::hash_map::Entry::Vacant(slot) = calendars.entry(org) {
            let settings = db
                .collection(collections::ORGANIZATIONS)
                .find_one(doc! { "_id": org })
                .await?
                .and_then(|o| o.get_document("settings").ok().cloned());
            slot.insert(Calendar::of(settings.as_ref()));
        }
        let Some(end) = calendars.get(&org).and_then(|c| day_end(c, started)) else {
            continue;
        };
        if end > now {
            continue;
        }
        let (entry, meta) = (&entry, &meta);
        let done = db
            .transaction(|tx| {
                Box::pin(async move { close_unscoped(tx, entry, org, end, meta).await })
            })
            .await?;
        closed += u64::from(done);
    }
    Ok((scanned, closed))
}

/// [`close`] for the cleanup, with `AUTO_CLOSE` and the audit entry.
async fn close_unscoped(
    tx: &mut UnscopedTx<'_>,
    entry: &Document,
    org: ObjectId,
    at: DateTime,
    meta: &RequestMeta,
) -> Result<bool, ApiError> {
    let id = shared::error::id_of(entry, "time entry")?;
    let (m, update) = closing(entry, at, Some(Source::AutoClose));
    let filter = doc! { "_id": id, "organizationId": org, "open": true };
    if tx.update_one(TIME_ENTRIES, filter, update).await? == 0 {
        return Ok(false);
    }
    if let Some((order, line)) = line_of(entry) {
        let (mut filter, update) = line_change(order, line, m);
        filter.insert("organizationId", org);
        tx.update_one(WORK_ORDERS, filter, update).await?;
    }
    tx.audit(
        AuditEntry::new(Action::Update, "time_entry")
            .id(id)
            .changes(doc! { "endedAt": at, "source": Source::AutoClose.as_str() }),
        Some(org),
        None,
        meta,
    )
    .await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_round_half_up() {
        let t = |ms: i64| DateTime::from_millis(ms);
        assert_eq!(minutes(t(0), t(29_999)), 0);
        assert_eq!(minutes(t(0), t(30_000)), 1);
        assert_eq!(minutes(t(0), t(90 * 60_000 + 29_999)), 90);
        assert_eq!(minutes(t(10), t(0)), 0);
    }
}
