//! The reports' daily rollup (`report_days`): per organization, local day
//! and technician, the sums the invoice and clock reports are made of,
//! kept in the same transaction as the event that changes them (an invoice
//! issued, an invoiced work order deleted or restored, a time entry closed
//! or corrected), as increments sent with the commit (no round trip of
//! their own). A report then reads a few documents a day instead of every
//! invoice and time entry of its span.
//!
//! Each document is one `(day, technician)` of one time zone: days are the
//! organization's local days when the event was written. A marker document
//! says which time zone the rollup was last rebuilt in (`crm-admin reports
//! rebuild --org SLUG`, `reports::rebuild`, recomputes it from the source
//! in spans of local months, a transaction each, so events committing
//! meanwhile are either in their span's reading or conflict and are then
//! added on top); a report reads the rollup only while the
//! marker names the organization's current time zone, else the source (an
//! organization never rebuilt, or whose time zone changed since, gets
//! exact figures the slow way until it is rebuilt).
//!
//! The figures of one invoice or entry are computed by one function
//! ([`invoice_figures`], [`entry_figures`]) for the rollup, the rebuild
//! and the reports' reading of the source alike.

use std::collections::BTreeMap;

use bson::oid::ObjectId;
use bson::{doc, Bson, DateTime, Document};
use shared::db::{number, Scope, Tx};
use shared::error::ApiError;
use shared::migrate::Index;
use shared::unscoped::UnscopedTx;

use crate::calendar::Calendar;

use super::order::LineKind;

pub const REPORT_DAYS: &str = "report_days";

/// The key of work no technician is named for.
pub const UNASSIGNED: &str = "unassigned";

/// The rollup's indexes: a report's days of one time zone.
pub fn indexes() -> Vec<Index> {
    vec![Index::on(
        REPORT_DAYS,
        doc! { "organizationId": 1, "tz": 1, "day": 1 },
    )]
}

/// The invoice figures a row sums, the count first.
pub const INVOICE_FIGURES: &[&str] = &[
    "invoices",
    "labor",
    "parts",
    "fees",
    "adjustments",
    "net",
    "discounts",
    "partsCost",
    "linesWithoutCost",
    "billedHundredths",
];

/// The figures one invoice adds to its row: `invoices`, `labor`, `parts`,
/// `fees`, `adjustments`, `net`, `discounts`, `partsCost`,
/// `linesWithoutCost`, `billedHundredths`, and one `vehicles.<id>` (the
/// vehicle, else the work order: a car counted once per row however many
/// of its invoices fall in it).
pub fn invoice_figures(lines: &[Document], car: ObjectId) -> Figures {
    let n = |d: &Document, k: &str| i128::from(number(d, k).unwrap_or(0));
    let mut sums: BTreeMap<&str, i128> = BTreeMap::new();
    // Every figure but the count, so an invoice without such lines has 0s.
    for f in &INVOICE_FIGURES[1..] {
        sums.insert(f, 0);
    }
    let mut add = |k: &'static str, v: i128| *sums.entry(k).or_insert(0) += v;
    for l in lines {
        let kind = LineKind::of(l);
        let figure = match kind {
            LineKind::Labor => "labor",
            LineKind::Part => "parts",
            LineKind::Fee => "fees",
            LineKind::Adjustment => "adjustments",
        };
        add(figure, n(l, "amount"));
        add("net", n(l, "amount"));
        add("discounts", n(l, "lineDiscount") + n(l, "orderDiscount"));
        match kind {
            LineKind::Part => match number(l, "unitCost") {
                Some(cost) => add("partsCost", i128::from(cost) * n(l, "quantity")),
                None => add("linesWithoutCost", 1),
            },
            LineKind::Labor => add("billedHundredths", n(l, "quantity")),
            _ => {}
        }
    }
    let mut out: Figures = sums
        .into_iter()
        .map(|(k, v)| (k.to_string(), i128::from(bounded(v))))
        .collect();
    out.push(("invoices".into(), 1));
    out.push((format!("vehicles.{}", car.to_hex()), 1));
    out
}

/// The figures one closed time entry adds to its row: `entries` and the
/// minutes of its kind (`shiftMinutes`, `jobMinutes`,
/// `nonBillableMinutes`); an open entry adds nothing.
pub fn entry_figures(entry: &Document) -> Figures {
    if entry.get_datetime("endedAt").is_err() {
        return vec![];
    }
    let figure = match entry.get_str("kind") {
        Ok("SHIFT") => "shiftMinutes",
        Ok("JOB") => "jobMinutes",
        _ => "nonBillableMinutes",
    };
    let minutes = i128::from(bounded(i128::from(number(entry, "minutes").unwrap_or(0))));
    vec![("entries".into(), 1), (figure.into(), minutes)]
}

/// Named figures (money in minor units, time in minutes, counts).
pub type Figures = Vec<(String, i128)>;

/// Where an event's figures go (its time, its technician's row key) and
/// the figures.
pub type Contribution = (DateTime, String, Figures);

/// An invoiced work order's row (its invoice's issue time and the work
/// order's technician) and figures; `None` for one without an invoice.
pub fn of_invoice(order: &Document) -> Option<Contribution> {
    let invoice = order.get_document("invoice").ok()?;
    let at = *invoice.get_datetime("issuedAt").ok()?;
    let lines: Vec<Document> = invoice
        .get_array("lines")
        .map(|a| a.iter().filter_map(Bson::as_document).cloned().collect())
        .unwrap_or_default();
    let car = order
        .get_object_id("vehicleId")
        .or_else(|_| order.get_object_id("_id"))
        .ok()?;
    Some((at, technician(order), invoice_figures(&lines, car)))
}

/// A closed time entry's row (its start and technician) and figures.
pub fn of_entry(entry: &Document) -> Option<Contribution> {
    let at = *entry.get_datetime("startedAt").ok()?;
    let figures = entry_figures(entry);
    (!figures.is_empty()).then(|| (at, technician(entry), figures))
}

fn technician(d: &Document) -> String {
    d.get_object_id("technicianId")
        .map_or_else(|_| UNASSIGNED.to_string(), |t| t.to_hex())
}

/// The `_id` of a row: organization, time zone, local day, technician.
pub(crate) fn row_id(org: ObjectId, tz: &str, day: &str, who: &str) -> String {
    format!("{}|{tz}|{day}|{who}", org.to_hex())
}

/// The marker's `_id`.
pub(crate) fn marker_id(org: ObjectId) -> String {
    format!("{}|rollup", org.to_hex())
}

/// The most any one figure adds (2^52): a figure past it (a part cost of
/// 10^15 times a million) is held there, so that no event fails for its
/// report figure and sums of many stay far from wrapping.
const MAX_FIGURE: i128 = 1 << 52;

/// `v` held within [`MAX_FIGURE`] either way.
pub(crate) fn bounded(v: i128) -> i64 {
    v.clamp(-MAX_FIGURE, MAX_FIGURE) as i64
}

/// The row's `_id`, and the upsert adding `sign` x `figures` to it.
fn change(
    org: ObjectId,
    cal: &Calendar,
    at: DateTime,
    who: &str,
    figures: &[(String, i128)],
    sign: i64,
) -> Option<(String, Document)> {
    let day = cal.local_date(at.timestamp_millis())?.to_string();
    let mut inc = Document::new();
    for (k, v) in figures {
        // Bounded already (see [`invoice_figures`]).
        inc.insert(k.clone(), bounded(*v) * sign);
    }
    let update = doc! {
        "$inc": inc,
        "$setOnInsert": { "tz": &cal.tz_name, "day": &day, "technician": who },
    };
    Some((row_id(org, &cal.tz_name, &day, who), update))
}

/// In `tx`: adds (`sign` 1) or takes back (-1) an invoiced work order's
/// figures.
pub fn invoice(tx: &mut Tx<'_>, order: &Document, sign: i64) -> Result<(), ApiError> {
    let Some((at, who, figures)) = of_invoice(order) else {
        return Ok(());
    };
    apply(tx, at, &who, &figures, sign)
}

/// In `tx`: adds (`sign` 1) or takes back (-1) a time entry's figures (an
/// open one has none).
pub fn entry(tx: &mut Tx<'_>, entry: &Document, sign: i64) -> Result<(), ApiError> {
    let Some((at, who, figures)) = of_entry(entry) else {
        return Ok(());
    };
    apply(tx, at, &who, &figures, sign)
}

fn apply(
    tx: &mut Tx<'_>,
    at: DateTime,
    who: &str,
    figures: &[(String, i128)],
    sign: i64,
) -> Result<(), ApiError> {
    let scope = tx.scope();
    let cal = Calendar::of(scope.caller().org.settings.as_ref());
    let (id, update) = change(scope.org_id(), &cal, at, who, figures, sign)
        .ok_or_else(|| ApiError::internal("a report figure out of range"))?;
    tx.upsert_with_commit(REPORT_DAYS, &id, update);
    Ok(())
}

/// [`entry`] for the scheduled cleanup's transaction (organization `org`
/// in calendar `cal`).
pub fn entry_unscoped(
    tx: &mut UnscopedTx<'_>,
    org: ObjectId,
    cal: &Calendar,
    entry: &Document,
) -> Result<(), ApiError> {
    let Some((at, who, figures)) = of_entry(entry) else {
        return Ok(());
    };
    let (id, update) = change(org, cal, at, &who, &figures, 1)
        .ok_or_else(|| ApiError::internal("a report figure out of range"))?;
    tx.upsert_with_commit(
        REPORT_DAYS,
        doc! { "_id": id, "organizationId": org },
        update,
    );
    Ok(())
}

/// A row of the rollup as a report reads it: its local day, technician
/// and figures.
pub struct Row {
    pub day: String,
    pub technician: String,
    pub figures: Document,
}

/// The organization's rows of the days `from..=to` (`YYYY-MM-DD`) in time
/// zone `tz`, in one query with the marker; `None` unless the marker names
/// `tz` and was made since the zone last changed
/// (`settings.timezoneChangedAt`: a zone changed and changed back leaves
/// rows of the other zone unaccounted for).
pub async fn read(
    scope: &Scope,
    tz: &str,
    from: &str,
    to: &str,
) -> Result<Option<Vec<Row>>, ApiError> {
    let changed = scope
        .caller()
        .org
        .settings
        .as_ref()
        .and_then(|s| s.get_str("timezoneChangedAt").ok())
        .and_then(|t| DateTime::parse_rfc3339_str(t).ok());
    let marker = marker_id(scope.org_id());
    let mut rows = vec![];
    let mut current = false;
    scope
        .collection(REPORT_DAYS)
        .for_each(
            doc! { "$or": [
                { "_id": &marker },
                { "tz": tz, "day": { "$gte": from, "$lte": to } },
            ] },
            doc! {},
            |d| {
                if d.get_str("_id") == Ok(marker.as_str()) {
                    let rebuilt = d.get_datetime("rebuiltAt").ok().copied();
                    current = d.get_str("timezone") == Ok(tz)
                        && changed.is_none_or(|c| rebuilt.is_some_and(|r| r >= c));
                    return Ok(());
                }
                rows.push(Row {
                    day: d.get_str("day").unwrap_or_default().to_string(),
                    technician: d.get_str("technician").unwrap_or(UNASSIGNED).to_string(),
                    figures: d,
                });
                Ok(())
            },
        )
        .await?;
    Ok(current.then_some(rows))
}

/// Sets `vehicles.<id>` as the nested field an `$inc` of that path makes.
pub(crate) fn insert_dotted(d: &mut Document, key: &str, v: i64) {
    match key.split_once('.') {
        Some((outer, inner)) => {
            if !matches!(d.get(outer), Some(Bson::Document(_))) {
                d.insert(outer, Document::new());
            }
            if let Some(Bson::Document(nested)) = d.get_mut(outer) {
                nested.insert(inner, v);
            }
        }
        None => {
            d.insert(key, v);
        }
    }
}
