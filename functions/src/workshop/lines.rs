//! A work order's lines (labour, parts, fees) and its totals, and the
//! stock its PART lines hold: a PART line reserves its quantity on the part
//! in the transaction that adds it (409 `INSUFFICIENT_STOCK` when not
//! enough is available), changing its quantity moves the reservation,
//! declining or deleting it releases it, COMPLETED consumes it and
//! CANCELLED releases it, each with a stock movement naming the work order.
//!
//! Money is integer minor units in the work order's one currency. A line's
//! amount is `quantity x unitPrice` (LABOR quantities are hundredths of an
//! hour, so divided by 100), its tax `amount x taxRate / 10000` (basis
//! points); each is rounded half to even on its own line. Declined lines
//! are shown and not counted.
//!
//! Every amount a work order holds (a line's amount and tax, the subtotal,
//! tax and total) is at most [`MAX_AMOUNT`]: computed in i128 and
//! converted back only when in range, so a product of two in-range inputs
//! can never wrap into a negative amount; a line that would pass the bound
//! is refused (422 `AMOUNT_OUT_OF_RANGE` naming the field) and nothing is
//! stored.
//!
//! A line changes only while the work order is ESTIMATE, APPROVED or
//! IN_PROGRESS, and that is checked on the work order as the transaction
//! reads it (the write is conditional on that version): a line change
//! racing a completion or cancellation either commits first (and the
//! transition then sees its reservation) or finds the new status and is
//! refused, so no reservation is left behind or released twice.

use bson::oid::ObjectId;
use bson::{doc, Bson, DateTime, Document};
use serde_json::Value;
use shared::audit::{Action, AuditEntry};
use shared::db::{number, Scope, Tx};
use shared::error::{ApiError, Code, FieldError};
use shared::fields::{self, Field, Kind};
use shared::http::ApiResponse;
use shared::rbac::Permission;
use shared::records::{find_live, render};
use shared::runtime::{Ctx, HandlerResult};

use super::parts::{PARTS, STOCK_MOVEMENTS};
use super::work_orders::{WORK_ORDER, WORK_ORDERS};

const TYPES: [&str; 3] = ["LABOR", "PART", "FEE"];

const DESCRIPTION: Field = Field::optional("description", Kind::Text { min: 0, max: 500 });
const QUANTITY: Kind = Kind::Integer {
    min: 1,
    max: 1_000_000,
};
const UNIT_PRICE: Field = Field::optional("unitPrice", Kind::Money);
const TAX_RATE: Field = Field::optional(
    "taxRate",
    Kind::Integer {
        min: 0,
        max: 10_000,
    },
);

pub(crate) static NEW_LINE: &[Field] = &[
    Field::required(
        "type",
        Kind::Enum {
            values: &TYPES,
            default: None,
        },
    ),
    DESCRIPTION,
    Field::required("quantity", QUANTITY),
    UNIT_PRICE,
    TAX_RATE,
    Field::optional("partId", Kind::Ref(PARTS)),
];

/// What a line's PATCH may change: [`NEW_LINE`]'s fields but its type and part.
static LINE_PATCH: &[Field] = &[
    DESCRIPTION,
    Field::optional("quantity", QUANTITY),
    UNIT_PRICE,
    TAX_RATE,
];

/// `n / d` rounded half to even (`d > 0`).
pub fn div_half_even(n: i128, d: i128) -> i128 {
    let (q, r) = (n.div_euclid(d), n.rem_euclid(d));
    match (2 * r).cmp(&d) {
        std::cmp::Ordering::Less => q,
        std::cmp::Ordering::Greater => q + 1,
        std::cmp::Ordering::Equal => q + (q & 1),
    }
}

/// The most any amount of a work order may be, in minor units (10^15:
/// ten trillion in a two-decimal currency), as for every `Money` field.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000_000;

/// 422 `AMOUNT_OUT_OF_RANGE` naming `field`: `what` would pass [`MAX_AMOUNT`].
pub fn out_of_range(field: &str, what: &str) -> ApiError {
    ApiError::Unprocessable {
        code: Code::AmountOutOfRange,
        detail: format!("{what} would be more than {MAX_AMOUNT} minor units"),
        errors: vec![FieldError::new(
            field,
            format!("makes {what} more than {MAX_AMOUNT} minor units"),
        )],
    }
}

/// `n` as an amount: `Some` only within 0..=[`MAX_AMOUNT`].
fn amount_of(n: i128) -> Option<i64> {
    i64::try_from(n)
        .ok()
        .filter(|n| (0..=MAX_AMOUNT).contains(n))
}

/// A line's amount and tax, in minor units; `None` when either input is
/// negative or either result would pass [`MAX_AMOUNT`].
pub fn line_money(kind: &str, quantity: i64, unit_price: i64, tax_rate: i64) -> Option<(i64, i64)> {
    if quantity < 0 || unit_price < 0 || !(0..=10_000).contains(&tax_rate) {
        return None;
    }
    // i64 x i64 always fits in i128; the bound is checked before narrowing.
    let gross = i128::from(quantity) * i128::from(unit_price);
    let amount = if kind == "LABOR" {
        div_half_even(gross, 100)
    } else {
        gross
    };
    let amount = amount_of(amount)?;
    let tax = amount_of(div_half_even(
        i128::from(amount) * i128::from(tax_rate),
        10_000,
    ))?;
    Some((amount, tax))
}

fn lines_of(order: &Document) -> Vec<Document> {
    order
        .get_array("lines")
        .map(|a| a.iter().filter_map(|l| l.as_document().cloned()).collect())
        .unwrap_or_default()
}

/// What a new work order starts with: no lines, nothing to pay.
pub fn empty() -> Document {
    doc! {
        "lines": [], "subtotal": 0_i64, "tax": 0_i64, "total": 0_i64,
        "amountPaid": 0_i64, "balance": 0_i64,
    }
}

/// The `$set` of a work order's lines and the totals they make (lines
/// change only before invoicing, so nothing is paid yet and the balance is
/// the total). A line amount or a total past [`MAX_AMOUNT`] is 422
/// `AMOUNT_OUT_OF_RANGE` naming `field`, the input that made it.
pub fn with_totals(lines: Vec<Document>, field: &str) -> Result<Document, ApiError> {
    let (mut subtotal, mut tax) = (0_i128, 0_i128);
    let mut out = Vec::with_capacity(lines.len());
    for mut l in lines {
        let (amount, t) = line_money(
            l.get_str("type").unwrap_or_default(),
            number(&l, "quantity").unwrap_or(0),
            number(&l, "unitPrice").unwrap_or(0),
            number(&l, "taxRate").unwrap_or(0),
        )
        .ok_or_else(|| out_of_range(field, "a line's amount"))?;
        l.insert("amount", amount);
        l.insert("tax", t);
        if l.get_str("approval").unwrap_or_default() != "DECLINED" {
            subtotal += i128::from(amount);
            tax += i128::from(t);
        }
        out.push(Bson::Document(l));
    }
    let total = amount_of(subtotal + tax).ok_or_else(|| out_of_range(field, "the total"))?;
    let (subtotal, tax) = (
        amount_of(subtotal).ok_or_else(|| out_of_range(field, "the subtotal"))?,
        amount_of(tax).ok_or_else(|| out_of_range(field, "the tax"))?,
    );
    Ok(doc! {
        "lines": out,
        "subtotal": subtotal, "tax": tax, "total": total,
        "amountPaid": 0_i64, "balance": total,
        "updatedAt": DateTime::now(),
    })
}

/// Moves `delta` units of `part` into (positive) or out of (negative) its
/// reservation; 409 `INSUFFICIENT_STOCK` when not enough is available. A
/// release never takes `reserved` below 0: one asking for more than is
/// reserved (which a consistent work order never does) is refused, with
/// the whole write, as an internal error, rather than take what other
/// work orders hold.
pub async fn reserve(tx: &mut Tx<'_>, part: ObjectId, delta: i64) -> Result<(), ApiError> {
    if delta == 0 {
        return Ok(());
    }
    let p = tx
        .find_one(PARTS, doc! { "_id": part })
        .await?
        .ok_or(ApiError::NotFound { resource: "part" })?;
    let (reserved, available) = (
        number(&p, "reserved").unwrap_or(0),
        number(&p, "available").unwrap_or(0),
    );
    if delta < 0 && reserved + delta < 0 {
        return Err(ApiError::internal(format!(
            "[STOCK] part {part}: a release of {} asked for more than the {reserved} reserved",
            -delta
        )));
    }
    if delta > available {
        return Err(ApiError::Conflict {
            code: Code::InsufficientStock,
            detail: format!("Only {available} of this part are available; {delta} asked for"),
            errors: vec![FieldError::new("quantity", "is more than is available")],
        });
    }
    tx.find_one_and_update(
        PARTS,
        doc! { "_id": part, "reserved": reserved, "available": available },
        doc! { "$inc": { "reserved": delta, "available": -delta, "version": 1_i64 }, "$set": { "updatedAt": DateTime::now() } },
    )
    .await?
    .ok_or_else(|| ApiError::conflict(Code::WriteConflict, "The part's stock changed meanwhile; retry"))?;
    Ok(())
}

/// Uses up what `part` has reserved for the work order: `onHand` and
/// `reserved` both go down, with a CONSUMED movement.
pub async fn consume(
    tx: &mut Tx<'_>,
    part: ObjectId,
    quantity: i64,
    work_order: ObjectId,
    actor: ObjectId,
) -> Result<(), ApiError> {
    tx.find_one_and_update(
        PARTS,
        doc! { "_id": part, "reserved": { "$gte": quantity }, "onHand": { "$gte": quantity } },
        doc! { "$inc": { "onHand": -quantity, "reserved": -quantity, "version": 1_i64 }, "$set": { "updatedAt": DateTime::now() } },
    )
    .await?
    .ok_or_else(|| ApiError::internal(format!("part {part} holds less than its reservation")))?;
    tx.insert_one(
        STOCK_MOVEMENTS,
        doc! {
            "partId": part, "delta": -quantity, "reason": "CONSUMED", "note": null,
            "workOrderId": work_order, "actor": actor, "createdAt": DateTime::now(),
        },
    )
    .await?;
    Ok(())
}

/// The part whose stock `line` holds: a PART line's, unless declined.
fn held_part(line: &Document) -> Option<ObjectId> {
    let holds = line.get_str("type") == Ok("PART") && line.get_str("approval") != Ok("DECLINED");
    holds.then(|| line.get_object_id("partId").ok()).flatten()
}

/// Whether `order`'s counted PART lines hold stock now: reserved while it
/// is open, consumed on completion, released on cancellation.
pub fn holds_stock(order: &Document) -> bool {
    OPEN.contains(&order.get_str("status").unwrap_or("ESTIMATE"))
}

/// What the work order's counted PART lines hold: (part, quantity).
pub fn reservations(order: &Document) -> Vec<(ObjectId, i64)> {
    lines_of(order)
        .iter()
        .filter_map(|l| Some((held_part(l)?, number(l, "quantity")?)))
        .collect()
}

/// The statuses in which a work order's lines still change.
const OPEN: [&str; 3] = ["ESTIMATE", "APPROVED", "IN_PROGRESS"];

/// 409 `INVALID_TRANSITION` unless `order` is in one of the [`OPEN`]
/// statuses.
fn still_open(order: &Document) -> Result<(), ApiError> {
    let status = order.get_str("status").unwrap_or("ESTIMATE");
    if OPEN.contains(&status) {
        return Ok(());
    }
    Err(ApiError::conflict(
        Code::InvalidTransition,
        format!("The lines of a {status} work order no longer change"),
    ))
}

/// The live work order as the transaction reads it, refused unless its
/// lines still change: the check that counts, since [`save`] writes only
/// over this very version.
async fn load(tx: &mut Tx<'_>, id: ObjectId) -> Result<Document, ApiError> {
    let order = tx
        .find_one(WORK_ORDERS, doc! { "_id": id, "deletedAt": null })
        .await?
        .ok_or(ApiError::NotFound {
            resource: "work_order",
        })?;
    still_open(&order)?;
    Ok(order)
}

/// Where line `id` is among `lines` (404 when it is not one of them).
fn at(lines: &[Document], id: ObjectId) -> Result<usize, ApiError> {
    lines
        .iter()
        .position(|l| l.get_object_id("id") == Ok(id))
        .ok_or(ApiError::NotFound { resource: "line" })
}

/// The work order, live, that the caller may change the lines of (its
/// creator, its technician, or an ADMIN+), before COMPLETED: the caller's
/// right, and a first look at the status.
async fn editable(scope: &Scope, id: ObjectId) -> Result<Document, ApiError> {
    let order = find_live(scope, &WORK_ORDER, id).await?;
    if !WORK_ORDER.is_callers(scope, &order) {
        scope.require(Permission::UpdateAnyRecord).await?;
    }
    // Checked again in the transaction ([`load`]); refusing here spares a
    // transaction on an order that is plainly closed.
    still_open(&order)?;
    Ok(order)
}

/// Writes the new lines with their totals, conditional on the version the
/// transaction read, and audits the change.
async fn save(
    tx: &mut Tx<'_>,
    order: &Document,
    lines: Vec<Document>,
    field: &str,
    change: Document,
) -> Result<Document, ApiError> {
    let id = order
        .get_object_id("_id")
        .map_err(|_| ApiError::internal("no id"))?;
    let version = number(order, "version").unwrap_or(1);
    let set = with_totals(lines, field)?;
    let after = tx
        .find_one_and_update(
            WORK_ORDERS,
            doc! { "_id": id, "version": version, "deletedAt": null, "status": { "$in": OPEN.to_vec() } },
            doc! { "$set": set, "$inc": { "version": 1_i64 } },
        )
        .await?
        .ok_or_else(|| {
            ApiError::conflict(
                Code::WriteConflict,
                "The work order changed meanwhile; retry",
            )
        })?;
    tx.audit(
        AuditEntry::new(Action::Update, "work_order")
            .id(id)
            .changes(change),
    )
    .await?;
    Ok(after)
}

/// `POST /api/v1/work-orders/{id}/lines`: adds a line (PART lines reserve
/// their quantity); answers the whole work order.
pub async fn add(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let id = ctx.path_id()?;
    let order = editable(scope, id).await?;
    let body: Value = ctx.req.json()?;
    let (mut line, refs) = fields::parse_create(NEW_LINE, &body)?;
    shared::records::check_references(scope, &refs).await?;
    let kind = line.get_str("type").unwrap_or_default().to_string();
    let part = line.get_object_id("partId").ok();
    match (kind.as_str(), part) {
        ("PART", None) => return Err(ApiError::field("partId", "is required on a PART line")),
        ("PART", Some(p)) => {
            let part = find_live(scope, &super::parts::PART, p).await?;
            let (priced, billed) = (part.get_str("currency"), order.get_str("currency"));
            if let (Ok(priced), Ok(billed)) = (priced, billed) {
                if priced != billed {
                    return Err(ApiError::field(
                        "partId",
                        format!("is priced in {priced}; this work order is in {billed}"),
                    ));
                }
            }
            for (from, to) in [
                ("unitPrice", "unitPrice"),
                ("taxRate", "taxRate"),
                ("name", "description"),
            ] {
                if !line.contains_key(to) {
                    if let Some(v) = part.get(from) {
                        line.insert(to, v.clone());
                    }
                }
            }
        }
        (_, Some(_)) => return Err(ApiError::field("partId", "belongs on PART lines only")),
        (_, None) => {}
    }
    if !line.contains_key("unitPrice") {
        return Err(ApiError::field("unitPrice", "is required"));
    }
    line.insert("id", ObjectId::new());
    line.insert("approval", "PENDING");
    let line = &line;
    let after = scope
        .transaction(|tx| {
            Box::pin(async move {
                let order = load(tx, id).await?;
                if let Ok(p) = line.get_object_id("partId") {
                    reserve(tx, p, number(line, "quantity").unwrap_or(0)).await?;
                }
                let mut lines = lines_of(&order);
                lines.push(line.clone());
                save(
                    tx,
                    &order,
                    lines,
                    "unitPrice",
                    doc! { "lineAdded": line.clone() },
                )
                .await
            })
        })
        .await?;
    Ok(ApiResponse::json(
        http::StatusCode::CREATED,
        &render(&after),
    ))
}

fn line_id(ctx: &Ctx) -> Result<ObjectId, ApiError> {
    shared::validate::object_id("lineId", ctx.req.param("lineId").unwrap_or(""))
}

/// `PATCH /api/v1/work-orders/{id}/lines/{lineId}`: description,
/// quantity (a PART line's reservation follows), unit price, tax rate; a
/// changed quantity or price puts an approved line back to PENDING.
pub async fn update(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let id = ctx.path_id()?;
    editable(scope, id).await?;
    let body: Value = ctx.req.json()?;
    let (changes, _) = fields::parse_patch(LINE_PATCH, &body)?;
    let line_id = line_id(&ctx)?;
    if !changes.unset.is_empty() {
        return Err(ApiError::field(
            &changes.unset[0],
            "cannot be cleared on a line",
        ));
    }
    let set = &changes.set;
    let after = scope
        .transaction(|tx| {
            Box::pin(async move {
                let order = load(tx, id).await?;
                let mut lines = lines_of(&order);
                let i = at(&lines, line_id)?;
                let line = &mut lines[i];
                let old_q = number(line, "quantity").unwrap_or(0);
                let repriced = set.contains_key("quantity") || set.contains_key("unitPrice");
                line.extend(set.clone());
                if repriced && line.get_str("approval") == Ok("APPROVED") {
                    line.insert("approval", "PENDING");
                }
                if let Some(p) = held_part(line) {
                    reserve(tx, p, number(line, "quantity").unwrap_or(0) - old_q).await?;
                }
                let field = ["quantity", "unitPrice", "taxRate"]
                    .into_iter()
                    .find(|f| set.contains_key(*f))
                    .unwrap_or("quantity");
                save(
                    tx,
                    &order,
                    lines,
                    field,
                    doc! { "lineChanged": line_id, "set": set.clone() },
                )
                .await
            })
        })
        .await?;
    Ok(ApiResponse::ok(&render(&after)))
}

/// `DELETE /api/v1/work-orders/{id}/lines/{lineId}`: removes the line and
/// releases what it held.
pub async fn remove(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let id = ctx.path_id()?;
    editable(scope, id).await?;
    let line_id = line_id(&ctx)?;
    let after = scope
        .transaction(|tx| {
            Box::pin(async move {
                let order = load(tx, id).await?;
                let mut lines = lines_of(&order);
                let line = lines.remove(at(&lines, line_id)?);
                if let Some(p) = held_part(&line) {
                    reserve(tx, p, -number(&line, "quantity").unwrap_or(0)).await?;
                }
                save(tx, &order, lines, "lineId", doc! { "lineRemoved": line_id }).await
            })
        })
        .await?;
    Ok(ApiResponse::ok(&render(&after)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_round_to_even() {
        assert_eq!(div_half_even(5, 2), 2);
        assert_eq!(div_half_even(7, 2), 4);
        assert_eq!(div_half_even(6, 4), 2);
        assert_eq!(div_half_even(10, 4), 2);
        assert_eq!(div_half_even(11, 4), 3);
    }

    #[test]
    fn labour_is_hundredths_of_an_hour_and_tax_is_per_line() {
        // 1.5 h at 90.00/h = 135.00; 19 % tax = 25.65.
        assert_eq!(
            line_money("LABOR", 150, 9_000, 1_900),
            Some((13_500, 2_565))
        );
        // 0.25 h at 85.50 = 21.375 -> 21.38 (8 is even); 2 parts at 12.99.
        assert_eq!(line_money("LABOR", 25, 8_550, 0), Some((2_138, 0)));
        assert_eq!(line_money("PART", 2, 1_299, 1_900), Some((2_598, 494)));
    }

    #[test]
    fn a_product_past_the_bound_is_refused_not_wrapped() {
        // 20879 x 883507068044904 is -1000 when wrapped to 64 bits.
        assert_eq!(line_money("FEE", 20_879, 883_507_068_044_904, 0), None);
        assert_eq!(line_money("FEE", 1, MAX_AMOUNT, 0), Some((MAX_AMOUNT, 0)));
        assert_eq!(line_money("FEE", 1, MAX_AMOUNT + 1, 0), None);
        assert_eq!(line_money("FEE", 1, -1, 0), None);
        assert_eq!(line_money("LABOR", i64::MAX, i64::MAX, 10_000), None);
        // The tax is bounded too, and never more than the amount.
        assert_eq!(
            line_money("FEE", 1, MAX_AMOUNT, 10_000),
            Some((MAX_AMOUNT, MAX_AMOUNT))
        );
    }

    #[test]
    fn totals_past_the_bound_are_refused_naming_the_field() {
        let line = |price: i64| doc! { "type": "FEE", "quantity": 1_i64, "unitPrice": price, "taxRate": 0_i64 };
        let ok = with_totals(
            vec![line(MAX_AMOUNT / 2), line(MAX_AMOUNT / 2)],
            "unitPrice",
        )
        .unwrap();
        assert_eq!(ok.get_i64("total").unwrap(), MAX_AMOUNT);
        match with_totals(vec![line(MAX_AMOUNT), line(1)], "unitPrice") {
            Err(ApiError::Unprocessable { code, errors, .. }) => {
                assert_eq!(code, Code::AmountOutOfRange);
                assert_eq!(errors[0].field, "unitPrice");
            }
            other => panic!("{other:?}"),
        }
    }
}

/// The body of `POST /api/v1/work-orders/{id}/approval`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Approval {
    lines: Vec<Decision>,
    approved_by: String,
    method: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Decision {
    line_id: String,
    decision: String,
}

const METHODS: [&str; 3] = ["IN_PERSON", "PHONE", "SIGNATURE"];

/// `POST /api/v1/work-orders/{id}/approval` `{lines: [{lineId, decision:
/// APPROVED|DECLINED}], approvedBy, method: IN_PERSON|PHONE|SIGNATURE}`:
/// records the customer's decision on each line, with who, how, when and
/// from which address. Declining a PART line releases its stock;
/// approving a declined one reserves it again (409 when short).
pub async fn approve(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let id = ctx.path_id()?;
    editable(scope, id).await?;
    let input: Approval = ctx.req.json()?;
    let mut errors = shared::validate::Errors::new();
    let by = errors.check(shared::validate::text(
        "approvedBy",
        &input.approved_by,
        1,
        200,
    ));
    if !METHODS.contains(&input.method.as_str()) {
        errors.push(FieldError::new(
            "method",
            format!("must be one of {}", METHODS.join(", ")),
        ));
    }
    if input.lines.is_empty() || input.lines.len() > 200 {
        errors.push(FieldError::new("lines", "must name 1 to 200 lines"));
    }
    let mut decisions = vec![];
    for (n, d) in input.lines.iter().enumerate() {
        let line = shared::validate::object_id(&format!("lines[{n}].lineId"), &d.line_id).ok();
        if line.is_none() {
            errors.push(FieldError::new(
                format!("lines[{n}].lineId"),
                "must be a 24-character hex id",
            ));
        }
        if !matches!(d.decision.as_str(), "APPROVED" | "DECLINED") {
            errors.push(FieldError::new(
                format!("lines[{n}].decision"),
                "must be APPROVED or DECLINED",
            ));
        }
        decisions.push((line, d.decision.clone()));
    }
    errors.finish()?;
    let by = by.unwrap_or_default();
    let method = input.method;
    let ip = scope.meta().ip.clone();
    let (decisions, by, method, ip) = (&decisions, &by, &method, &ip);
    let after = scope
        .transaction(|tx| {
            Box::pin(async move {
                let order = load(tx, id).await?;
                let mut lines = lines_of(&order);
                let now = DateTime::now();
                for (n, (line_id, decision)) in decisions.iter().enumerate() {
                    let line = lines
                        .iter_mut()
                        .find(|l| line_id.is_some_and(|i| l.get_object_id("id") == Ok(i)))
                        .ok_or_else(|| ApiError::field(&format!("lines[{n}].lineId"), "is not a line of this work order"))?;
                    let was_declined = line.get_str("approval") == Ok("DECLINED");
                    let declines = decision == "DECLINED";
                    if let (Ok(p), Ok("PART")) = (line.get_object_id("partId"), line.get_str("type")) {
                        let q = number(line, "quantity").unwrap_or(0);
                        match (was_declined, declines) {
                            (false, true) => reserve(tx, p, -q).await?,
                            (true, false) => reserve(tx, p, q).await?,
                            _ => {}
                        }
                    }
                    line.insert("approval", decision.as_str());
                    line.insert("approvedBy", by.as_str());
                    line.insert("approvalMethod", method.as_str());
                    line.insert("approvedAt", now);
                    line.insert("approvalIp", ip.clone());
                }
                let summary: Vec<Bson> = decisions
                    .iter()
                    .map(|(l, d)| Bson::Document(doc! { "lineId": *l, "decision": d.as_str() }))
                    .collect();
                save(tx, &order, lines, "lines", doc! { "approval": { "by": by.as_str(), "method": method.as_str(), "lines": summary } }).await
            })
        })
        .await?;
    Ok(ApiResponse::ok(&render(&after)))
}

/// Whether the customer approved at least one line (work starts only then).
pub fn has_approved_line(order: &Document) -> bool {
    lines_of(order)
        .iter()
        .any(|l| l.get_str("approval") == Ok("APPROVED"))
}
