//! The owner's reports: `GET /api/v1/reports/{name}?from=YYYY-MM-DD&
//! to=YYYY-MM-DD&groupBy=day|week|month|technician`, days in the
//! organization's time zone (`from` and `to` included). Every figure is an
//! integer (money in minor units, time in minutes, ratios in basis
//! points), every answer carries the formula of each figure as text
//! (`definitions`), and cancelled work orders never count: the invoice
//! figures read invoices (work orders INVOICED or PAID, by the invoice's
//! issue time, from the lines frozen on it), the clock figures closed time
//! entries (by their start).
//!
//! Revenue, invoices, parts margin, effective labour rate and technician
//! productivity read the daily rollup ([`super::rollup`]) when it is
//! current for the organization's time zone, else the source (streaming
//! the period's invoices or entries, one cursor batch in memory, on
//! indexes by organization and time); one function computes an invoice's
//! or an entry's figures for both, so they agree. Technician efficiency
//! (billed hours against the clocked minutes of the invoiced lines, which
//! a correction may change after invoicing) and bay utilization (from the
//! appointments) always read the source. [`rebuild`] recomputes the
//! rollup.

use std::collections::{BTreeMap, HashMap, HashSet};

use bson::oid::ObjectId;
use bson::{doc, Bson, DateTime, Document};
use jiff::civil::Date;
use serde_json::{json, Map, Value};
use shared::db::{number, Scope};
use shared::error::{ApiError, Code};
use shared::migrate::Index;
use shared::runtime::{Ctx, HandlerResult};
use shared::unscoped::{Unscoped, UnscopedTx};

use crate::calendar::Calendar;

use super::order::{div_half_even, LineKind, WORK_ORDERS};
use super::rollup::{INVOICE_FIGURES, UNASSIGNED};
use super::time_clock::TIME_ENTRIES;

/// The reports there are.
pub const NAMES: &[&str] = &[
    "revenue",
    "invoices",
    "parts-margin",
    "effective-labor-rate",
    "technician-efficiency",
    "technician-productivity",
    "bay-utilization",
];

/// The longest span a report covers, in days.
const MAX_DAYS: i64 = 1_100;

/// The indexes the reports read by: invoices by issue time.
pub fn indexes() -> Vec<Index> {
    vec![Index::on(
        WORK_ORDERS,
        doc! { "organizationId": 1, "invoice.issuedAt": 1 },
    )]
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum GroupBy {
    Day,
    Week,
    Month,
    Technician,
}

impl GroupBy {
    fn parse(s: &str) -> Option<GroupBy> {
        match s {
            "day" => Some(GroupBy::Day),
            "week" => Some(GroupBy::Week),
            "month" => Some(GroupBy::Month),
            "technician" => Some(GroupBy::Technician),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            GroupBy::Day => "day",
            GroupBy::Week => "week",
            GroupBy::Month => "month",
            GroupBy::Technician => "technician",
        }
    }
}

/// What a request asks: the span as instants, its calendar, the grouping.
struct Query {
    from: Date,
    to: Date,
    start: DateTime,
    end: DateTime,
    cal: Calendar,
    by: GroupBy,
}

fn bad(param: &str, message: &str) -> ApiError {
    ApiError::bad_field(Code::InvalidParameter, param, message)
}

/// The local midnight starting `date`, as an instant.
fn midnight(cal: &Calendar, date: Date) -> Option<DateTime> {
    cal.midnight(date).map(DateTime::from_millis)
}

fn query(ctx: &Ctx, scope: &Scope) -> Result<Query, ApiError> {
    let mut params: HashMap<&str, &str> = HashMap::new();
    for (k, v) in &ctx.req.query {
        if !["from", "to", "groupBy"].contains(&k.as_str()) {
            return Err(ApiError::bad_field(
                Code::UnknownParameter,
                k,
                "is not a parameter of reports (from, to, groupBy)",
            ));
        }
        if params.insert(k.as_str(), v.as_str()).is_some() {
            return Err(bad(k, "is given more than once"));
        }
    }
    let date = |p: &str| -> Result<Date, ApiError> {
        let v = params
            .get(p)
            .ok_or_else(|| bad(p, "is required (YYYY-MM-DD)"))?;
        v.parse::<Date>()
            .ok()
            .filter(|_| v.len() == 10)
            .ok_or_else(|| bad(p, "must be a date such as 2026-11-30"))
    };
    let (from, to) = (date("from")?, date("to")?);
    if to < from {
        return Err(bad("to", "must not be before from"));
    }
    let days = (to - from).get_days() as i64 + 1;
    if days > MAX_DAYS {
        return Err(bad(
            "to",
            &format!("a report spans at most {MAX_DAYS} days"),
        ));
    }
    let by = match params.get("groupBy") {
        None => GroupBy::Month,
        Some(g) => GroupBy::parse(g)
            .ok_or_else(|| bad("groupBy", "must be day, week, month or technician"))?,
    };
    let cal = Calendar::of(scope.caller().org.settings.as_ref());
    let start = midnight(&cal, from).ok_or_else(|| bad("from", "is out of range"))?;
    let after = to.tomorrow().map_err(|_| bad("to", "is out of range"))?;
    let end = midnight(&cal, after).ok_or_else(|| bad("to", "is out of range"))?;
    Ok(Query {
        from,
        to,
        start,
        end,
        cal,
        by,
    })
}

impl Query {
    /// The row an instant (and a technician) falls in.
    fn key(&self, at: DateTime, technician: Option<&str>) -> String {
        if self.by == GroupBy::Technician {
            return technician.unwrap_or(UNASSIGNED).to_string();
        }
        let Some(date) = self.cal.local_date(at.timestamp_millis()) else {
            return "unknown".into();
        };
        match self.by {
            GroupBy::Day => date.to_string(),
            GroupBy::Week => {
                let w = date.iso_week_date();
                format!("{:04}-W{:02}", w.year(), w.week())
            }
            _ => format!("{:04}-{:02}", date.year(), date.month()),
        }
    }
}

/// Sums per row: figure name -> value, summed in 128 bits (no sum of
/// 64-bit amounts can overflow it) and narrowed once for the answer.
type Rows = BTreeMap<String, BTreeMap<&'static str, i128>>;

fn add(rows: &mut Rows, key: &str, figure: &'static str, value: impl Into<i128>) {
    let sum = rows
        .entry(key.to_string())
        .or_default()
        .entry(figure)
        .or_insert(0);
    *sum = sum.saturating_add(value.into());
}

/// `n / d` rounded half-even, `None` when `d` is 0.
fn ratio(n: i128, d: i128) -> Option<i128> {
    (d != 0).then(|| div_half_even(n, d))
}

/// Sets `figure` to `n x 10000 / d` in basis points, rounded half-even;
/// left out when `d` is 0.
fn set_bps(row: &mut BTreeMap<&'static str, i128>, figure: &'static str, n: i128, d: i128) {
    if let Some(bps) = ratio(n * 10_000, d) {
        row.insert(figure, bps);
    }
}

/// Minutes of `hundredths` of an hour, rounded half-even.
fn minutes_of(hundredths: i128) -> i128 {
    div_half_even(hundredths * 60, 100)
}

/// The period's invoices, one at a time: (issue time, vehicle, work order
/// technician, frozen lines).
async fn invoices(
    scope: &Scope,
    q: &Query,
    mut visit: impl FnMut(DateTime, Option<ObjectId>, Option<ObjectId>, &[Document], &Document),
) -> Result<(), ApiError> {
    scope
        .collection(WORK_ORDERS)
        .for_each(
            doc! {
                "deletedAt": null,
                "status": { "$in": ["INVOICED", "PAID"] },
                "invoice.issuedAt": { "$gte": q.start, "$lt": q.end },
            },
            doc! { "invoice.issuedAt": 1 },
            |d| {
                let Ok(invoice) = d.get_document("invoice") else {
                    return Ok(());
                };
                let Ok(at) = invoice.get_datetime("issuedAt") else {
                    return Ok(());
                };
                let lines: Vec<Document> = invoice
                    .get_array("lines")
                    .map(|a| a.iter().filter_map(Bson::as_document).cloned().collect())
                    .unwrap_or_default();
                visit(
                    *at,
                    d.get_object_id("vehicleId").ok(),
                    d.get_object_id("technicianId").ok(),
                    &lines,
                    &d,
                );
                Ok(())
            },
        )
        .await
}

fn n(d: &Document, k: &str) -> i64 {
    number(d, k).unwrap_or(0)
}

/// A work order's technician as a row key.
fn who(technician: Option<ObjectId>) -> Option<String> {
    technician.map(|t| t.to_hex())
}

/// The clock figures a row sums (see [`super::rollup::entry_figures`]).
const CLOCK_FIGURES: &[&str] = &[
    "entries",
    "shiftMinutes",
    "jobMinutes",
    "nonBillableMinutes",
];

/// Summed figures per row, and the cars of each row.
#[derive(Default)]
struct Sums {
    rows: Rows,
    cars: HashMap<String, HashSet<String>>,
}

impl Sums {
    /// Adds one invoice's or entry's `figures` (the `vehicles.` ones as
    /// cars) to row `key`, keeping only those of `names`.
    fn add(&mut self, key: &str, names: &[&'static str], figures: &[(String, i128)]) {
        for name in names {
            let v = figures
                .iter()
                .find(|(k, _)| k == name)
                .map_or(0, |(_, v)| *v);
            add(&mut self.rows, key, name, v);
        }
        for (k, v) in figures {
            if let (Some(car), true) = (k.strip_prefix("vehicles."), *v > 0) {
                self.cars
                    .entry(key.to_string())
                    .or_default()
                    .insert(car.to_string());
            }
        }
    }
}

/// The rollup's rows of the span, when it is current (see
/// [`super::rollup::read`]), with each one's row key.
async fn rolled_up(
    scope: &Scope,
    q: &Query,
) -> Result<Option<Vec<(String, super::rollup::Row)>>, ApiError> {
    let (from, to) = (q.from.to_string(), q.to.to_string());
    let Some(rows) = super::rollup::read(scope, &q.cal.tz_name, &from, &to).await? else {
        return Ok(None);
    };
    Ok(Some(
        rows.into_iter()
            .filter_map(|r| {
                let date: Date = r.day.parse().ok()?;
                let at = midnight(&q.cal, date)?;
                Some((q.key(at, Some(&r.technician)), r))
            })
            .collect(),
    ))
}

/// A stored row's figures as `(name, value)`, its cars as `vehicles.<id>`.
fn stored(figures: &Document) -> Vec<(String, i128)> {
    let mut out = vec![];
    for (k, v) in figures {
        match v {
            Bson::Document(cars) if k == "vehicles" => {
                for (car, n) in cars {
                    let n = n
                        .as_i64()
                        .or_else(|| n.as_i32().map(i64::from))
                        .unwrap_or(0);
                    out.push((format!("vehicles.{car}"), i128::from(n)));
                }
            }
            _ => {
                if let Some(n) = number(figures, k) {
                    out.push((k.clone(), i128::from(n)));
                }
            }
        }
    }
    out
}

/// The period's invoice figures per row: from the rollup when current,
/// else from the invoices themselves (the same figures either way: one
/// function computes an invoice's).
async fn invoice_sums(scope: &Scope, q: &Query) -> Result<Sums, ApiError> {
    let mut sums = Sums::default();
    if let Some(rows) = rolled_up(scope, q).await? {
        for (key, r) in rows {
            if number(&r.figures, "invoices").unwrap_or(0) > 0 {
                sums.add(&key, INVOICE_FIGURES, &stored(&r.figures));
            }
        }
        return Ok(sums);
    }
    invoices(scope, q, |at, vehicle, technician, lines, order| {
        let key = q.key(at, who(technician).as_deref());
        let id = order.get_object_id("_id").unwrap_or_default();
        let figures = super::rollup::invoice_figures(lines, vehicle.unwrap_or(id));
        sums.add(&key, INVOICE_FIGURES, &figures);
    })
    .await?;
    Ok(sums)
}

/// The period's clock figures per row (closed entries by their start):
/// from the rollup when current, else from the entries.
async fn clock_sums(scope: &Scope, q: &Query) -> Result<Sums, ApiError> {
    let mut sums = Sums::default();
    if let Some(rows) = rolled_up(scope, q).await? {
        for (key, r) in rows {
            if number(&r.figures, "entries").unwrap_or(0) > 0 {
                sums.add(&key, CLOCK_FIGURES, &stored(&r.figures));
            }
        }
        return Ok(sums);
    }
    scope
        .collection(TIME_ENTRIES)
        .for_each(
            doc! { "startedAt": { "$gte": q.start, "$lt": q.end }, "endedAt": { "$ne": null } },
            doc! { "startedAt": 1 },
            |e| {
                if let Some((at, technician, figures)) = super::rollup::of_entry(&e) {
                    sums.add(&q.key(at, Some(&technician)), CLOCK_FIGURES, &figures);
                }
                Ok(())
            },
        )
        .await?;
    Ok(sums)
}

/// `rows` with only the figures `keep` (renamed `(from, to)`).
fn pick(rows: Rows, keep: &[(&'static str, &'static str)]) -> Rows {
    rows.into_iter()
        .map(|(key, row)| {
            let picked = keep
                .iter()
                .map(|(from, to)| (*to, row.get(from).copied().unwrap_or(0)))
                .collect();
            (key, picked)
        })
        .collect()
}

async fn revenue(scope: &Scope, q: &Query) -> Result<(Rows, Value), ApiError> {
    let sums = invoice_sums(scope, q).await?;
    let rows = pick(
        sums.rows,
        &[
            ("labor", "labor"),
            ("parts", "parts"),
            ("fees", "fees"),
            ("adjustments", "adjustments"),
            ("net", "net"),
            ("discounts", "discounts"),
        ],
    );
    let definitions = json!({
        "labor": "sum of the amounts (quantity x unit price less the line's discount and its share of the work order's discount, before tax) of the invoices' LABOR lines",
        "parts": "sum of the amounts of the invoices' PART lines",
        "fees": "sum of the amounts of the invoices' FEE lines (entered ones and the fee rules' lines)",
        "adjustments": "sum of the amounts of the invoices' ADJUSTMENT lines (package prices; negative for a discount)",
        "net": "labor + parts + fees + adjustments: revenue net of discounts, before tax",
        "discounts": "sum of the invoices' line discounts and shares of work-order discounts (already taken off the figures above)",
    });
    Ok((rows, definitions))
}

async fn invoice_counts(scope: &Scope, q: &Query) -> Result<(Rows, Value), ApiError> {
    let sums = invoice_sums(scope, q).await?;
    let mut rows = pick(sums.rows, &[("invoices", "invoices"), ("net", "net")]);
    for (key, row) in rows.iter_mut() {
        let cars = sums.cars.get(key).map_or(0, |c| c.len() as i128);
        row.insert("carCount", cars);
        let aro = ratio(row["net"], row["invoices"]).unwrap_or(0);
        row.insert("averageRepairOrder", aro);
    }
    let definitions = json!({
        "invoices": "number of invoices issued (work orders INVOICED or PAID; cancelled ones never)",
        "carCount": "number of distinct vehicles invoiced",
        "net": "sum of the invoices' line amounts, before tax",
        "averageRepairOrder": "net / invoices, rounded half to even",
    });
    Ok((rows, definitions))
}

async fn parts_margin(scope: &Scope, q: &Query) -> Result<(Rows, Value), ApiError> {
    let sums = invoice_sums(scope, q).await?;
    let mut rows = pick(
        sums.rows,
        &[
            ("parts", "partsRevenue"),
            ("partsCost", "partsCost"),
            ("linesWithoutCost", "linesWithoutCost"),
        ],
    );
    for row in rows.values_mut() {
        let (revenue, cost) = (row["partsRevenue"], row["partsCost"]);
        row.insert("margin", revenue - cost);
        set_bps(row, "marginBps", revenue - cost, revenue);
    }
    let definitions = json!({
        "partsRevenue": "sum of the amounts of the invoices' PART lines, before tax (a package's ADJUSTMENT lines are not shared out to parts: see revenue)",
        "partsCost": "sum over those lines of quantity x the part's unit cost copied onto the line when it was added",
        "linesWithoutCost": "PART lines whose part had no unit cost (their cost counts as 0)",
        "margin": "partsRevenue - partsCost",
        "marginBps": "margin x 10000 / partsRevenue, rounded half to even (absent when partsRevenue is 0)",
    });
    Ok((rows, definitions))
}

async fn labor_rate(scope: &Scope, q: &Query) -> Result<(Rows, Value), ApiError> {
    let sums = invoice_sums(scope, q).await?;
    let mut rows = pick(
        sums.rows,
        &[
            ("labor", "laborRevenue"),
            ("billedHundredths", "billedHundredths"),
        ],
    );
    for row in rows.values_mut() {
        let (revenue, hundredths) = (row["laborRevenue"], row["billedHundredths"]);
        if let Some(rate) = ratio(revenue * 100, hundredths) {
            row.insert("effectiveLaborRate", rate);
        }
    }
    let definitions = json!({
        "laborRevenue": "sum of the amounts of the invoices' LABOR lines, before tax (a package's ADJUSTMENT lines are not shared out to labour: see revenue)",
        "billedHundredths": "sum of the LABOR lines' quantities, in hundredths of an hour",
        "effectiveLaborRate": "laborRevenue x 100 / billedHundredths: revenue per billed hour, rounded half to even",
    });
    Ok((rows, definitions))
}

/// A LABOR line's billed hundredths per technician: by its splits (shares
/// by largest remainder, so they sum to the line's quantity exactly), else
/// all to the work order's technician.
fn shares(line: &Document, technician: Option<ObjectId>) -> Vec<(String, i128)> {
    let q = i128::from(n(line, "quantity"));
    let splits: Vec<(String, i128)> = line
        .get_array("technicianSplits")
        .map(|a| {
            a.iter()
                .filter_map(Bson::as_document)
                .filter_map(|s| {
                    Some((
                        s.get_object_id("technicianId").ok()?.to_hex(),
                        i128::from(n(s, "shareBps")),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let total: i128 = splits.iter().map(|(_, bps)| bps).sum();
    if splits.is_empty() || total <= 0 {
        let who = who(technician).unwrap_or_else(|| UNASSIGNED.to_string());
        return vec![(who, q)];
    }
    let weights: Vec<i128> = splits.iter().map(|(_, bps)| *bps).collect();
    let shares = super::order::largest_remainder(q, &weights);
    splits.into_iter().map(|(t, _)| t).zip(shares).collect()
}

async fn efficiency(scope: &Scope, q: &Query) -> Result<(Rows, Value), ApiError> {
    let mut rows = Rows::new();
    // Lines clocked before lines kept whose minutes they are (no
    // `clockedBy`): their entries are read, by technician.
    let mut legacy: HashMap<ObjectId, DateTime> = HashMap::new();
    let mut legacy_orders: Vec<ObjectId> = vec![];
    invoices(scope, q, |at, _, technician, lines, order| {
        // The clock keeps each line's minutes, and each technician's
        // share of them, on the work order's own line.
        let live = super::order::lines_of(order);
        for l in lines.iter().filter(|l| LineKind::of(l) == LineKind::Labor) {
            for (who, hundredths) in shares(l, technician) {
                let key = q.key(at, Some(&who));
                add(&mut rows, &key, "billedHundredths", hundredths);
                add(&mut rows, &key, "clockedMinutes", 0);
            }
            let Some((id, line)) = l.get_object_id("id").ok().and_then(|id| {
                live.iter()
                    .find(|x| x.get_object_id("id") == Ok(id))
                    .map(|x| (id, x))
            }) else {
                continue;
            };
            let clocked = n(line, "clockedMinutes");
            if q.by != GroupBy::Technician {
                let key = q.key(at, None);
                add(&mut rows, &key, "clockedMinutes", clocked);
                add(&mut rows, &key, "billedHundredths", 0);
                continue;
            }
            let by: Vec<(String, i64)> = line
                .get_document("clockedBy")
                .map(|by| {
                    by.iter()
                        .map(|(who, m)| {
                            let m = m.as_i64().or_else(|| m.as_i32().map(i64::from));
                            (who.clone(), m.unwrap_or(0))
                        })
                        .collect()
                })
                .unwrap_or_default();
            if by.iter().map(|(_, m)| m).sum::<i64>() != clocked {
                // Clocked (in part) before lines kept whose minutes.
                legacy.insert(id, at);
                if let Ok(o) = order.get_object_id("_id") {
                    legacy_orders.push(o);
                }
                continue;
            }
            for (who, m) in by {
                let key = q.key(at, Some(&who));
                add(&mut rows, &key, "clockedMinutes", m);
                add(&mut rows, &key, "billedHundredths", 0);
            }
        }
    })
    .await?;
    for chunk in legacy_orders.chunks(1_000) {
        scope
            .collection(TIME_ENTRIES)
            .for_each(
                doc! { "kind": "JOB", "workOrderId": { "$in": chunk.to_vec() }, "endedAt": { "$ne": null } },
                doc! {},
                |e| {
                    let Some(at) = e.get_object_id("lineId").ok().and_then(|l| legacy.get(&l)) else {
                        return Ok(());
                    };
                    let who = who(e.get_object_id("technicianId").ok())
                        .unwrap_or_else(|| UNASSIGNED.into());
                    let key = q.key(*at, Some(&who));
                    add(&mut rows, &key, "clockedMinutes", n(&e, "minutes"));
                    add(&mut rows, &key, "billedHundredths", 0);
                    Ok(())
                },
            )
            .await?;
    }
    for row in rows.values_mut() {
        let billed = minutes_of(row.remove("billedHundredths").unwrap_or(0));
        row.insert("billedMinutes", billed);
        let clocked = row["clockedMinutes"];
        set_bps(row, "efficiencyBps", billed, clocked);
    }
    let definitions = json!({
        "billedMinutes": "the invoices' LABOR quantities (hundredths of an hour) shared by the lines' technicianSplits by largest remainder (else all to the work order's technician), summed per row and turned into minutes once, rounded half to even",
        "clockedMinutes": "minutes of the closed JOB time entries on those invoiced lines",
        "efficiencyBps": "billedMinutes x 10000 / clockedMinutes, rounded half to even (absent without clocked time)",
    });
    Ok((rows, definitions))
}

async fn productivity(scope: &Scope, q: &Query) -> Result<(Rows, Value), ApiError> {
    let sums = clock_sums(scope, q).await?;
    let mut rows = pick(
        sums.rows,
        &[
            ("shiftMinutes", "shiftMinutes"),
            ("jobMinutes", "jobMinutes"),
            ("nonBillableMinutes", "nonBillableMinutes"),
        ],
    );
    for row in rows.values_mut() {
        let (job, shift) = (row["jobMinutes"], row["shiftMinutes"]);
        set_bps(row, "productivityBps", job, shift);
    }
    let definitions = json!({
        "shiftMinutes": "minutes of the closed SHIFT entries started in the period",
        "jobMinutes": "minutes of the closed JOB entries started in the period",
        "nonBillableMinutes": "minutes of the closed NON_BILLABLE entries started in the period",
        "productivityBps": "jobMinutes x 10000 / shiftMinutes, rounded half to even (absent without shift time)",
    });
    Ok((rows, definitions))
}

/// The local days of the span, with their opening hours (instants).
fn open_days(q: &Query) -> Vec<(Date, Option<(i64, i64)>)> {
    let mut out = vec![];
    let mut d = q.from;
    while d <= q.to {
        out.push((d, q.cal.open(d)));
        match d.tomorrow() {
            Ok(next) => d = next,
            Err(_) => break,
        }
    }
    out
}

async fn bay_utilization(scope: &Scope, q: &Query) -> Result<(Rows, Value), ApiError> {
    let mut rows = Rows::new();
    let days = open_days(q);
    let key = |date: Date, bay: &str| -> String {
        let at = midnight(&q.cal, date).unwrap_or(q.start);
        match q.by {
            GroupBy::Technician => bay.to_string(),
            _ => format!("{} {bay}", q.key(at, None)),
        }
    };
    for (date, hours) in &days {
        for bay in &q.cal.bays {
            let minutes = hours.map_or(0, |(o, c)| (c - o).max(0) / 60_000);
            add(&mut rows, &key(*date, bay), "availableMinutes", minutes);
            add(&mut rows, &key(*date, bay), "bookedMinutes", 0);
        }
    }
    scope
        .collection(super::appointments::APPOINTMENTS)
        .for_each(
            doc! {
                "deletedAt": null,
                "status": { "$nin": ["CANCELLED", "NO_SHOW"] },
                "bay": { "$in": q.cal.bays.clone() },
                "startAt": { "$lt": q.end },
                "endAt": { "$gt": q.start },
            },
            doc! {},
            |a| {
                let (Ok(bay), Ok(start), Ok(end)) = (
                    a.get_str("bay"),
                    a.get_datetime("startAt"),
                    a.get_datetime("endAt"),
                ) else {
                    return Ok(());
                };
                let (start, end) = (start.timestamp_millis(), end.timestamp_millis());
                // Each day it touches (an appointment lasts at most 12
                // hours): its part within that day's hours.
                let index = |ms: i64| {
                    q.cal
                        .local_date(ms)
                        .map(|d| (d - q.from).get_days().clamp(0, days.len() as i32) as usize)
                };
                let (Some(first), Some(last)) = (index(start), index(end - 1)) else {
                    return Ok(());
                };
                for (date, hours) in days.iter().take(last + 1).skip(first) {
                    let Some((o, c)) = hours else { continue };
                    let overlap = end.min(*c) - start.max(*o);
                    if overlap > 0 {
                        add(
                            &mut rows,
                            &key(*date, bay),
                            "bookedMinutes",
                            overlap / 60_000,
                        );
                    }
                }
                Ok(())
            },
        )
        .await?;
    for row in rows.values_mut() {
        let (booked, available) = (row["bookedMinutes"], row["availableMinutes"]);
        set_bps(row, "utilizationBps", booked, available);
    }
    let definitions = json!({
        "availableMinutes": "for each of the organization's bays (settings.bays), the minutes of the span's days within their working hours (settings.workingHours, local time)",
        "bookedMinutes": "minutes of the bay's appointments (not CANCELLED or NO_SHOW) within those working hours",
        "utilizationBps": "bookedMinutes x 10000 / availableMinutes, rounded half to even (absent when the bay has no working hours in the row)",
    });
    Ok((rows, definitions))
}

/// `GET /api/v1/reports/{name}` (ADMIN+, or a key with `reports:read`).
pub async fn report(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let name = ctx.req.param("name").unwrap_or("").to_string();
    if !NAMES.contains(&name.as_str()) {
        return Err(ApiError::NotFound { resource: "report" });
    }
    let q = query(&ctx, scope)?;
    let (rows, definitions) = match name.as_str() {
        "revenue" => revenue(scope, &q).await?,
        "invoices" => invoice_counts(scope, &q).await?,
        "parts-margin" => parts_margin(scope, &q).await?,
        "effective-labor-rate" => labor_rate(scope, &q).await?,
        "technician-efficiency" => efficiency(scope, &q).await?,
        "bay-utilization" => bay_utilization(scope, &q).await?,
        _ => productivity(scope, &q).await?,
    };
    let mut out = vec![];
    for (key, figures) in rows {
        let mut m = Map::new();
        m.insert("key".into(), json!(key));
        for (f, v) in figures {
            let v = i64::try_from(v).map_err(|_| super::order::out_of_range("to", "a figure"))?;
            m.insert(f.into(), json!(v));
        }
        out.push(Value::Object(m));
    }
    let rows = out;
    Ok(shared::http::ApiResponse::ok(&json!({
        "report": name,
        "from": q.from.to_string(),
        "to": q.to.to_string(),
        "groupBy": q.by.as_str(),
        "timezone": q.cal.tz_name,
        "currency": super::work_orders::organization_currency(scope),
        "rows": rows,
        "definitions": definitions,
    })))
}

/// The reports' rollup ([`super::rollup`]) of organization `org` (calendar
/// `cal`) recomputed from the source in spans of local months, one
/// transaction each (a year of a busy shop in one would outlast a
/// transaction's lifetime). The spans tile all time: the first has no
/// start, each ends with the month of the next source event (a stretch
/// without any is merged into the span after it, so an entry dated far in
/// the past costs one empty read, not a transaction a month), and the last
/// has no end and also writes the marker and drops other zones' rows. Each
/// transaction reads its span's invoiced, live work orders and closed time
/// entries and replaces the span's rows, so an event committing meanwhile
/// is either in its reading or conflicts with it and is added on top, and
/// a span already rebuilt or not yet reached is kept by its events as
/// always. The marker is stamped with the rebuild's start, so a time zone
/// changed while it ran leaves the rollup aside. Returns (invoices,
/// entries, rows).
pub async fn rebuild(
    db: &Unscoped<'_>,
    org: ObjectId,
    cal: &Calendar,
) -> Result<(u64, u64, u64), ApiError> {
    let started = DateTime::now();
    let outside = || ApiError::internal("the rebuild's span is outside the calendar");
    let (mut invoices, mut entries, mut rows) = (0, 0, 0);
    let mut from: Option<Date> = None;
    loop {
        // The span ends with the month of the next event at or after its start.
        let since = from
            .map(|d| cal.midnight(d).ok_or_else(outside))
            .transpose()?;
        let to = match next_event(db, org, since).await? {
            Some(at) => Some(
                cal.local_date(at)
                    .ok_or_else(outside)?
                    .first_of_month()
                    .checked_add(jiff::Span::new().months(1))
                    .map_err(|_| outside())?,
            ),
            None => None,
        };
        let (i, e, r) = db
            .transaction(|tx| {
                Box::pin(async move { rebuild_span(tx, org, cal, from, to, started).await })
            })
            .await?;
        (invoices, entries, rows) = (invoices + i, entries + e, rows + r);
        match to {
            None => return Ok((invoices, entries, rows)),
            Some(to) if Some(to) > from => from = Some(to),
            Some(_) => return Err(outside()),
        }
    }
}

/// The first instant (ms) at or after `since` of an invoice or a closed
/// time entry of `org`.
async fn next_event(
    db: &Unscoped<'_>,
    org: ObjectId,
    since: Option<i64>,
) -> Result<Option<i64>, ApiError> {
    let (mut invoiced, mut closed) = (invoiced_orders(org), closed_entries(org));
    if let Some(since) = since {
        let at = doc! { "$gte": DateTime::from_millis(since) };
        invoiced.insert("invoice.issuedAt", at.clone());
        closed.insert("startedAt", at);
    }
    let (invoice, entry) = tokio::try_join!(
        first(db, WORK_ORDERS, invoiced, "invoice.issuedAt"),
        first(db, TIME_ENTRIES, closed, "startedAt"),
    )?;
    Ok([invoice, entry].into_iter().flatten().min())
}

/// The closed time entries of `org` a report counts.
fn closed_entries(org: ObjectId) -> Document {
    doc! { "organizationId": org, "endedAt": { "$ne": null } }
}

/// The invoiced, live work orders of `org` a report counts.
fn invoiced_orders(org: ObjectId) -> Document {
    doc! {
        "organizationId": org, "deletedAt": null,
        "status": { "$in": [super::order::Status::Invoiced.as_str(), super::order::Status::Paid.as_str()] },
        "invoice.issuedAt": { "$exists": true },
    }
}

/// The first instant of `field` among `filter`'s documents, in ms.
async fn first(
    db: &Unscoped<'_>,
    coll: &str,
    filter: Document,
    field: &str,
) -> Result<Option<i64>, ApiError> {
    let found = db
        .collection(coll)
        .find_many(filter, doc! { field: 1 }, 1, Some(doc! { field: 1 }))
        .await?;
    let at = |d: &Document| {
        let (outer, inner) = field.split_once('.').unwrap_or(("", field));
        let d = if outer.is_empty() {
            Some(d)
        } else {
            d.get_document(outer).ok()
        };
        d.and_then(|d| d.get_datetime(inner).ok())
            .map(|t| t.timestamp_millis())
    };
    Ok(found.first().and_then(at))
}

/// One span of local days `from..to` of [`rebuild`] (no start, or no end:
/// every day before or after), in `tx`: its sources read, its rows of
/// `cal`'s zone replaced; the last span (no end) also replaces the marker,
/// stamped `started`, and drops the rows of other zones. Returns
/// (invoices, entries, rows).
async fn rebuild_span(
    tx: &mut UnscopedTx<'_>,
    org: ObjectId,
    cal: &Calendar,
    from: Option<Date>,
    to: Option<Date>,
    started: DateTime,
) -> Result<(u64, u64, u64), ApiError> {
    let outside = || ApiError::internal("the rebuild's span is outside the calendar");
    let (mut span, mut days) = (Document::new(), Document::new());
    if let Some(from) = from {
        let at = cal.midnight(from).ok_or_else(outside)?;
        span.insert("$gte", DateTime::from_millis(at));
        days.insert("$gte", from.to_string());
    }
    if let Some(to) = to {
        let at = cal.midnight(to).ok_or_else(outside)?;
        span.insert("$lt", DateTime::from_millis(at));
        days.insert("$lt", to.to_string());
    }
    let mut sums: BTreeMap<String, (String, String, BTreeMap<String, i128>)> = BTreeMap::new();
    let mut add = |at: DateTime, who: String, figures: Vec<(String, i128)>| {
        let Some(day) = cal.local_date(at.timestamp_millis()) else {
            return;
        };
        let day = day.to_string();
        let row = sums
            .entry(super::rollup::row_id(org, &cal.tz_name, &day, &who))
            .or_insert_with(|| (day, who, BTreeMap::new()));
        for (k, v) in figures {
            *row.2.entry(k).or_insert(0) += v;
        }
    };
    let (mut invoices, mut entries) = (0_u64, 0_u64);
    let (mut orders, mut closed) = (invoiced_orders(org), closed_entries(org));
    if !span.is_empty() {
        orders.insert("invoice.issuedAt", span.clone());
        closed.insert("startedAt", span);
    }
    tx.for_each(
        WORK_ORDERS,
        orders,
        doc! { "invoice.issuedAt": 1, "invoice.lines": 1, "vehicleId": 1, "technicianId": 1 },
        |d| {
            if let Some((at, who, figures)) = super::rollup::of_invoice(&d) {
                invoices += 1;
                add(at, who, figures);
            }
        },
    )
    .await?;
    tx.for_each(
        TIME_ENTRIES,
        closed,
        doc! { "kind": 1, "minutes": 1, "startedAt": 1, "endedAt": 1, "technicianId": 1 },
        |d| {
            if let Some((at, who, figures)) = super::rollup::of_entry(&d) {
                entries += 1;
                add(at, who, figures);
            }
        },
    )
    .await?;
    let mut docs = vec![];
    for (id, (day, who, figures)) in sums {
        let mut d = doc! {
            "_id": id, "organizationId": org, "tz": &cal.tz_name, "day": day, "technician": who,
        };
        for (k, v) in figures {
            // As far as a running $inc could take it.
            let v = v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
            super::rollup::insert_dotted(&mut d, &k, v);
        }
        docs.push(d);
    }
    let rows = docs.len() as u64;
    let mut replaced = doc! { "organizationId": org, "tz": &cal.tz_name };
    if !days.is_empty() {
        replaced.insert("day", days);
    }
    if to.is_none() {
        // The last span: the marker, and every other zone's rows, too.
        let marker = super::rollup::marker_id(org);
        replaced =
            doc! { "organizationId": org, "$or": [replaced, { "tz": { "$ne": &cal.tz_name } }] };
        docs.push(doc! {
            "_id": marker, "organizationId": org, "timezone": &cal.tz_name, "rebuiltAt": started,
        });
    }
    tx.delete_many(super::rollup::REPORT_DAYS, replaced).await?;
    if !docs.is_empty() {
        tx.insert_many(super::rollup::REPORT_DAYS, docs).await?;
    }
    Ok((invoices, entries, rows))
}
