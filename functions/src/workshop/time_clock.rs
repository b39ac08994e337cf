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
//! the same slot; at most 24 hours, open entries too). Every rule (the
//! work order's status, its line, the entry's times) is checked on what
//! the transaction reads, under the technician's lock.
//!
//! An entry left open past the working day it started in is closed at
//! the end of that day's working hours in the organization's time zone
//! (at the local midnight when the day has none, or the entry started
//! after them), with `source: AUTO_CLOSE`: by the scheduled cleanup
//! ([`auto_close`]), or by the technician's next clock-in or clock-out,
//! whichever comes first, so yesterday's forgotten shift is never today's.

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
fn line_of(entry: &Document) -> Option<Counted> {
    if entry.get_str("kind") != Ok(EntryKind::Job.as_str()) {
        return None;
    }
    Some((
        entry.get_object_id("workOrderId").ok()?,
        entry.get_object_id("lineId").ok()?,
        entry.get_object_id("technicianId").ok(),
    ))
}

/// Where a JOB entry's minutes count: its work order and line, and who
/// clocked them.
type Counted = (ObjectId, ObjectId, Option<ObjectId>);

/// The line's `clockedMinutes` (and its technician's share of them in
/// `clockedBy`, which the efficiency report reads) change of `delta`
/// (the filter and update).
fn line_change((order, line, technician): Counted, delta: i64) -> (Document, Document) {
    let mut inc = doc! { "lines.$.clockedMinutes": delta };
    if let Some(t) = technician {
        inc.insert(format!("lines.$.clockedBy.{}", t.to_hex()), delta);
    }
    (
        doc! { "_id": order, "lines.id": line },
        doc! { "$inc": inc },
    )
}

/// Adds `delta` minutes to the line's `clockedMinutes` in the transaction
/// (a line deleted meanwhile keeps nothing: the minutes stay on the entry).
async fn count_on_line(tx: &mut Tx<'_>, at: Option<Counted>, delta: i64) -> Result<(), ApiError> {
    if let Some(at) = at {
        let (filter, update) = line_change(at, delta);
        tx.update_by_id(WORK_ORDERS, filter, update).await?;
    }
    Ok(())
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

/// Closes the open `entry` (as this transaction read it) at `at`, adding
/// its minutes to its line, audited.
async fn close(
    tx: &mut Tx<'_>,
    entry: &Document,
    at: DateTime,
    source: Option<Source>,
) -> Result<Document, ApiError> {
    let id = shared::error::id_of(entry, "time entry")?;
    let version = shared::db::number(entry, "version").unwrap_or(1);
    let (m, update) = closing(entry, at, source);
    let after = tx
        .find_one_and_update(
            TIME_ENTRIES,
            doc! { "_id": id, "open": true, "version": version },
            update,
        )
        .await?
        .ok_or_else(|| {
            ApiError::conflict(Code::WriteConflict, "The entry changed meanwhile; retry")
        })?;
    count_on_line(tx, line_of(entry), m).await?;
    super::rollup::entry(tx, &after, 1)?;
    let mut changes = doc! { "endedAt": at, "minutes": m };
    if let Some(s) = source {
        changes.insert("source", s.as_str());
    }
    tx.audit(
        AuditEntry::new(Action::Update, "time_entry")
            .id(id)
            .changes(changes),
    )
    .await?;
    Ok(after)
}

/// Checks the work order `found` (read in the transaction) for a JOB: live,
/// its lines still worked on when `open` is asked, and the line (when
/// named) one of its LABOR lines.
fn check_order(
    found: Option<&Document>,
    line: Option<ObjectId>,
    open: bool,
) -> Result<(), ApiError> {
    let found = found.ok_or(ApiError::NotFound {
        resource: "work order",
    })?;
    if open && !Status::of(found).lines_change() {
        return Err(ApiError::conflict(
            Code::InvalidTransition,
            "Time is clocked on a work order before it is COMPLETED",
        ));
    }
    if let Some(line) = line {
        let labour = super::order::lines_of(found).iter().any(|l| {
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

/// The live work order `id`, as the transaction sees it.
async fn order_in(tx: &mut Tx<'_>, id: ObjectId) -> Result<Option<Document>, ApiError> {
    tx.find_one(WORK_ORDERS, doc! { "_id": id, "deletedAt": null })
        .await
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

/// Inserts `entry`, audited.
async fn open_entry(tx: &mut Tx<'_>, entry: &Document) -> Result<(), ApiError> {
    let id = shared::error::id_of(entry, "time entry")?;
    tx.insert_one(TIME_ENTRIES, entry.clone()).await?;
    let mut changes = Document::new();
    for key in ["technicianId", "kind", "workOrderId", "lineId", "startedAt"] {
        if let Some(v) = entry.get(key) {
            changes.insert(key, v.clone());
        }
    }
    tx.audit(
        AuditEntry::new(Action::Create, "time_entry")
            .id(id)
            .changes(changes),
    )
    .await
}

/// Before a clock transaction: the body's references checked and the
/// technician's lock made (once, outside any transaction), side by side.
async fn ready(
    scope: &Scope,
    refs: &[shared::fields::Reference],
    technician: ObjectId,
) -> Result<(), ApiError> {
    let lock = lock_name(technician);
    let (refs, locked) = tokio::join!(
        records::check_references(scope, refs),
        scope.ensure_sequence(&lock)
    );
    refs?;
    locked
}

/// The lock a technician's clock takes in every transaction.
fn lock_name(technician: ObjectId) -> String {
    format!("time-clock:{}", technician.to_hex())
}

/// The technician's open entries, as the transaction sees them; those left
/// open past their working day are closed at its end (`AUTO_CLOSE`) first,
/// as the cleanup would have: yesterday's forgotten shift is not today's.
async fn open_now(
    tx: &mut Tx<'_>,
    technician: ObjectId,
    now: DateTime,
) -> Result<(Vec<Document>, Vec<Document>), ApiError> {
    let found = tx
        .find_many(
            TIME_ENTRIES,
            doc! { "technicianId": technician, "open": true },
            doc! { "startedAt": 1 },
            5,
        )
        .await?;
    let cal = Calendar::of(tx.scope().caller().org.settings.as_ref());
    let (mut open, mut closed) = (vec![], vec![]);
    for entry in found {
        let end = entry
            .get_datetime("startedAt")
            .ok()
            .and_then(|s| day_end(&cal, *s));
        match end {
            Some(end) if end <= now => {
                closed.push(close(tx, &entry, end, Some(Source::AutoClose)).await?);
            }
            _ => open.push(entry),
        }
    }
    Ok((open, closed))
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
    if let Some(l) = line {
        input.insert("lineId", l);
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
    let technician = technician_of(scope, &input).await?;
    check_bay(scope, &input)?;
    ready(scope, &refs, technician).await?;
    let auto_shift = auto_start_shift(scope);
    let input = &input;
    let (entry, closed, created) = scope
        .transaction(|tx| {
            Box::pin(async move {
                tx.lock(&lock_name(technician)).await?;
                let now = DateTime::now();
                // The work order as this transaction sees it: a status
                // changed or a line deleted meanwhile is seen here.
                if let Some(order) = order {
                    let found = order_in(tx, order).await?;
                    check_order(found.as_ref(), line, true)?;
                }
                let (open, _) = open_now(tx, technician, now).await?;
                let in_slot =
                    |slot: &str| open.iter().find(|e| e.get_str("slot") == Ok(slot)).cloned();
                let mut closed = None;
                match kind {
                    EntryKind::Shift => {
                        if let Some(shift) = in_slot("SHIFT") {
                            return Ok((shift, None, false));
                        }
                    }
                    EntryKind::Job | EntryKind::NonBillable => {
                        if let Some(work) = in_slot("WORK") {
                            let same = work.get_str("kind") == Ok(kind.as_str())
                                && ["workOrderId", "lineId", "activity"].iter().all(|k| {
                                    work.get(k).filter(|v| **v != Bson::Null) == input.get(k)
                                });
                            if same {
                                return Ok((work, None, false));
                            }
                        }
                        if in_slot("SHIFT").is_none() {
                            if !auto_shift {
                                return Err(ApiError::conflict(
                                    Code::NoOpenShift,
                                    "Clock in to a SHIFT first (or set timeClock.autoStartShift)",
                                ));
                            }
                            let shift =
                                new_entry(tx.scope(), technician, EntryKind::Shift, input, now);
                            open_entry(tx, &shift).await?;
                        }
                        if let Some(work) = in_slot("WORK") {
                            closed = Some(close(tx, &work, now, None).await?);
                        }
                    }
                }
                let entry = new_entry(tx.scope(), technician, kind, input, now);
                open_entry(tx, &entry).await?;
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
/// `closed`); 409 `NOT_CLOCKED_IN` when nothing of that kind is open. An
/// entry left open past its working day was closed at its end.
pub async fn clock_out(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let body: Value = ctx.req.json()?;
    let (input, refs) = fields::parse_create(CLOCK_OUT, &body)?;
    let kind = EntryKind::in_field(&input, "kind").unwrap_or(EntryKind::Shift);
    let technician = technician_of(scope, &input).await?;
    ready(scope, &refs, technician).await?;
    let (entry, closed) = scope
        .transaction(|tx| {
            Box::pin(async move {
                tx.lock(&lock_name(technician)).await?;
                let now = DateTime::now();
                let (open, stale) = open_now(tx, technician, now).await?;
                let of_kind = |e: &&Document| e.get_str("kind") == Ok(kind.as_str());
                let Some(target) = open.iter().find(of_kind).cloned() else {
                    // Left open past its day: closed at the day's end now.
                    if let Some(done) = stale.iter().find(of_kind) {
                        return Ok((done.clone(), None));
                    }
                    return Err(ApiError::conflict(
                        Code::NotClockedIn,
                        format!("No open {} entry to clock out of", kind.as_str()),
                    ));
                };
                let mut closed = None;
                if kind == EntryKind::Shift {
                    if let Some(work) = open.iter().find(|e| e.get_str("slot") == Ok("WORK")) {
                        closed = Some(close(tx, work, now, None).await?);
                    }
                }
                let after = close(tx, &target, now, None).await?;
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
        // Under `$and`: the query's own `technicianId` filter cannot
        // replace it.
        filter.insert(
            "$and",
            vec![Bson::Document(
                doc! { "technicianId": scope.caller().user.id },
            )],
        );
    }
    let (docs, next) = records::page(&ctx.req, scope, TIME_ENTRIES, &LIST, filter, None).await?;
    let data: Vec<Value> = docs.iter().map(shown).collect();
    Ok(ApiResponse::ok(
        &json!({ "data": data, "nextCursor": next }),
    ))
}

/// A time in the future (beyond a 5-minute clock skew) is refused.
fn not_future(field: &str, t: DateTime, now: DateTime) -> Result<(), ApiError> {
    if t.timestamp_millis() > now.timestamp_millis() + 5 * MINUTE_MS {
        return Err(ApiError::field(field, "cannot be in the future"));
    }
    Ok(())
}

/// `PATCH /api/v1/time-entries/{id}` (ADMIN+) `{editReason, startedAt?,
/// endedAt?, workOrderId?, lineId?, bay?, activity?}`: the corrected entry,
/// audited with its reason; 409 `TIME_ENTRY_OVERLAP` when it would overlap
/// another entry of the technician's slot. Every rule is checked on the
/// entry as the edit's transaction reads it.
pub async fn edit(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let id = ctx.path_id()?;
    // Another organization's entry is a 404 whatever the body says; the
    // technician (never changed by an edit) names the lock.
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
    check_bay(scope, &input)?;
    let technician = before
        .get_object_id("technicianId")
        .map_err(|_| ApiError::internal("an entry without its technician"))?;
    ready(scope, &refs, technician).await?;
    let input = &input;
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
                let kind = EntryKind::in_field(&current, "kind").unwrap_or(EntryKind::Shift);
                if kind != EntryKind::Job
                    && (input.contains_key("workOrderId") || input.contains_key("lineId"))
                {
                    return Err(ApiError::field("workOrderId", "is taken by a JOB only"));
                }
                if input.contains_key("workOrderId") || input.contains_key("lineId") {
                    let order = input
                        .get_object_id("workOrderId")
                        .or_else(|_| current.get_object_id("workOrderId"))
                        .map_err(|_| ApiError::field("workOrderId", "is required for a JOB"))?;
                    let line = input
                        .get_object_id("lineId")
                        .ok()
                        .or_else(|| current.get_object_id("lineId").ok());
                    let found = order_in(tx, order).await?;
                    // A correction may come after the work order is done.
                    check_order(found.as_ref(), line, false)?;
                }
                let now = DateTime::now();
                let started = input
                    .get_datetime("startedAt")
                    .or_else(|_| current.get_datetime("startedAt"))
                    .copied()
                    .map_err(|_| ApiError::internal("an entry without its start"))?;
                let ended = input
                    .get_datetime("endedAt")
                    .ok()
                    .or_else(|| current.get_datetime("endedAt").ok())
                    .copied();
                not_future("startedAt", started, now)?;
                // An entry lasts at most a day, open ones too.
                let end = ended.unwrap_or(now);
                let span = end.timestamp_millis() - started.timestamp_millis();
                if ended.is_some() && span <= 0 {
                    return Err(ApiError::field("endedAt", "must be after startedAt"));
                }
                if span > MAX_ENTRY_HOURS * 60 * MINUTE_MS {
                    let field = if ended.is_some() {
                        "endedAt"
                    } else {
                        "startedAt"
                    };
                    return Err(ApiError::field(
                        field,
                        format!("an entry lasts at most {MAX_ENTRY_HOURS} hours"),
                    ));
                }
                if let Some(end) = ended {
                    not_future("endedAt", end, now)?;
                }
                // Another entry of the slot overlapping [started, ended).
                let mut overlap = doc! {
                    "_id": { "$ne": id }, "technicianId": technician, "slot": kind.slot(),
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
                let old_minutes = current
                    .get_datetime("endedAt")
                    .is_ok()
                    .then(|| shared::db::number(&current, "minutes").unwrap_or(0));
                if let Some(m) = old_minutes {
                    count_on_line(tx, line_of(&current), -m).await?;
                }
                if let Some(m) = new_minutes {
                    count_on_line(tx, line_of(&after), m).await?;
                }
                // The reports' rollup: the entry as it was out, as it is in.
                super::rollup::entry(tx, &current, -1)?;
                super::rollup::entry(tx, &after, 1)?;
                let reason = input.get_str("editReason").unwrap_or("");
                let mut changes = diff(&current, &after);
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

/// When an entry started at `started` is left open too long: the end of
/// that local day's working hours, or the local midnight after it when
/// the day has none or the entry started after them.
fn day_end(cal: &Calendar, started: DateTime) -> Option<DateTime> {
    let ms = started.timestamp_millis();
    let date = cal.local_date(ms)?;
    let end = match cal.open(date) {
        Some((_, close)) if ms < close => close,
        _ => cal.midnight(date.tomorrow().ok()?)?,
    };
    Some(DateTime::from_millis(end))
}

/// The scheduled cleanup's part: entries left open past their working day
/// are closed at its end (`AUTO_CLOSE`), their minutes added to their
/// line in the same transaction, each under its technician's lock and as
/// that transaction reads it. At most `batch` entries a run, oldest first;
/// one that fails is logged and left to the next run. Returns (looked at,
/// closed).
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
            Some(doc! { "_id": 1, "organizationId": 1, "technicianId": 1, "startedAt": 1 }),
        )
        .await?;
    let mut calendars: HashMap<ObjectId, Calendar> = HashMap::new();
    let (mut scanned, mut closed) = (0, 0);
    let meta = RequestMeta::system("time-clock-auto-close", "SCHEDULED");
    for entry in open {
        scanned += 1;
        let (Ok(id), Ok(org), Ok(technician), Ok(started)) = (
            entry.get_object_id("_id"),
            entry.get_object_id("organizationId"),
            entry.get_object_id("technicianId"),
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
        let Some(cal) = calendars.get(&org) else {
            continue;
        };
        // Only what is already past its day's end is read again.
        if day_end(cal, started).is_none_or(|end| end > now) {
            continue;
        }
        let meta = &meta;
        let done = db
            .transaction(|tx| {
                Box::pin(
                    async move { close_unscoped(tx, id, org, technician, cal, now, meta).await },
                )
            })
            .await;
        match done {
            Ok(true) => closed += 1,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = ?e, entry = %id, "[TIME_CLOCK] an entry was not closed")
            }
        }
    }
    Ok((scanned, closed))
}

/// [`close`] for the cleanup: under the technician's lock (when the clock
/// made it), on the entry as this transaction reads it, `AUTO_CLOSE`,
/// audited. `false` when it was closed or changed meanwhile.
async fn close_unscoped(
    tx: &mut UnscopedTx<'_>,
    id: ObjectId,
    org: ObjectId,
    technician: ObjectId,
    cal: &Calendar,
    now: DateTime,
    meta: &RequestMeta,
) -> Result<bool, ApiError> {
    let lock = format!("{}:{}", org.to_hex(), lock_name(technician));
    tx.update_one(
        collections::SEQUENCES,
        doc! { "_id": lock },
        doc! { "$inc": { "value": 1_i64 } },
    )
    .await?;
    let Some(entry) = tx
        // Read in the transaction (an update that changes nothing).
        .find_one_and_update(
            TIME_ENTRIES,
            doc! { "_id": id, "organizationId": org, "open": true },
            doc! { "$inc": { "version": 0_i64 } },
        )
        .await?
    else {
        return Ok(false);
    };
    let Some(at) = entry
        .get_datetime("startedAt")
        .ok()
        .and_then(|s| day_end(cal, *s))
        .filter(|end| *end <= now)
    else {
        return Ok(false);
    };
    let version = shared::db::number(&entry, "version").unwrap_or(1);
    let (m, update) = closing(&entry, at, Some(Source::AutoClose));
    let filter = doc! { "_id": id, "organizationId": org, "open": true, "version": version };
    if tx.update_one(TIME_ENTRIES, filter, update).await? == 0 {
        return Ok(false);
    }
    let mut closed = entry.clone();
    closed.extend(doc! { "endedAt": at, "minutes": m });
    super::rollup::entry_unscoped(tx, org, cal, &closed)?;
    if let Some(at) = line_of(&entry) {
        let (mut filter, update) = line_change(at, m);
        filter.insert("organizationId", org);
        tx.update_one(WORK_ORDERS, filter, update).await?;
    }
    tx.audit(
        AuditEntry::new(Action::Update, "time_entry")
            .id(id)
            .changes(doc! { "endedAt": at, "minutes": m, "source": Source::AutoClose.as_str() }),
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
