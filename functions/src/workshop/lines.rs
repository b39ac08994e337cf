//! A work order's lines (labour, parts, fees) and its totals, and the
//! stock its PART lines hold: a PART line reserves its quantity on the part
//! in the transaction that adds it (409 `INSUFFICIENT_STOCK` when not
//! enough is available), changing its quantity moves the reservation,
//! declining or deleting it releases it, COMPLETED consumes it and
//! CANCELLED releases it, each with a stock movement naming the work order.
//!
//! The money the lines make is computed in [`super::order`]: a line that
//! would pass its bound is refused (422 `AMOUNT_OUT_OF_RANGE` naming the
//! field) and nothing is stored. The stock moves through
//! [`super::parts::reserve`].
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
use shared::db::{Scope, Tx};
use shared::error::{ApiError, Code, FieldError};
use shared::fields::{self, Field, Kind};
use shared::http::ApiResponse;
use shared::rbac::Permission;
use shared::records::{find_live, render};
use shared::runtime::{Ctx, HandlerResult};

use super::order::{
    is_kept, is_rule_fee, lines_of, with_totals, Approval, ApprovalMethod, Line, LineKind, Order,
    Pricing, Status, DISCOUNT, WORK_ORDERS,
};
use super::parts::{reserve, PARTS};
use super::work_orders::{self, WORK_ORDER};

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

static SPLIT: &[Field] = &[
    Field::required("technicianId", Kind::Ref(shared::db::collections::USERS)),
    Field::required(
        "shareBps",
        Kind::Integer {
            min: 1,
            max: 10_000,
        },
    ),
];

/// A line's own discount: `{percent}` of its amount or an `{amount}`.
const LINE_DISCOUNT: Field = Field::optional("discount", Kind::Custom(&DISCOUNT));

/// Who did a LABOR line's work: shares in basis points summing to 10,000.
const SPLITS: Field = Field::optional("technicianSplits", Kind::Rows { of: SPLIT, max: 10 });

/// A line's `technicianSplits`, as a create or a PATCH leaves it: on a
/// LABOR line only, each technician once, the shares summing to exactly
/// 10,000 basis points (an empty list: none).
fn check_splits(line: &Document) -> Result<(), ApiError> {
    let Ok(splits) = line.get_array("technicianSplits") else {
        return Ok(());
    };
    if splits.is_empty() {
        return Ok(());
    }
    if LineKind::of(line) != LineKind::Labor {
        return Err(ApiError::field(
            "technicianSplits",
            "belong on LABOR lines only",
        ));
    }
    let mut seen = std::collections::HashSet::new();
    let mut total: i64 = 0;
    for s in splits.iter().filter_map(Bson::as_document) {
        if !seen.insert(s.get_object_id("technicianId").ok()) {
            return Err(ApiError::field(
                "technicianSplits",
                "must name each technician once",
            ));
        }
        total += shared::db::number(s, "shareBps").unwrap_or(0);
    }
    if total != 10_000 {
        return Err(ApiError::field(
            "technicianSplits",
            format!("shares must sum to 10000 basis points, not {total}"),
        ));
    }
    Ok(())
}

pub(crate) static NEW_LINE: &[Field] = &[
    Field::required(
        "type",
        Kind::Enum {
            values: LineKind::ENTERED,
            default: None,
        },
    ),
    DESCRIPTION,
    Field::required("quantity", QUANTITY),
    UNIT_PRICE,
    TAX_RATE,
    Field::optional("partId", Kind::Ref(PARTS)),
    SPLITS,
    LINE_DISCOUNT,
];

/// What a line's PATCH may change: [`NEW_LINE`]'s fields but its type and part.
static LINE_PATCH: &[Field] = &[
    DESCRIPTION,
    Field::optional("quantity", QUANTITY),
    UNIT_PRICE,
    TAX_RATE,
    SPLITS,
    LINE_DISCOUNT,
];

/// The most lines a work order has (what its documents print stays a few
/// dozen pages).
pub const MAX_LINES: usize = 500;

/// 409 `INVALID_TRANSITION` unless a work order in `status` still has its
/// lines change ([`Status::lines_change`]).
fn still_open(status: Status) -> Result<(), ApiError> {
    if status.lines_change() {
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
async fn load(tx: &mut Tx<'_>, id: ObjectId) -> Result<(Document, Order), ApiError> {
    let (order, read) = work_orders::read_in(tx, id).await?;
    still_open(read.status)?;
    Ok((order, read))
}

/// The statuses in which lines change, as a filter's `$in`.
fn open_statuses() -> Vec<&'static str> {
    Status::ALL
        .iter()
        .filter(|s| s.lines_change())
        .map(|s| s.as_str())
        .collect()
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
pub(crate) async fn editable(scope: &Scope, id: ObjectId) -> Result<Order, ApiError> {
    let order = find_live(scope, &WORK_ORDER, id).await?;
    WORK_ORDER
        .require_own_or(scope, &order, Permission::UpdateAnyRecord)
        .await?;
    // Checked again in the transaction ([`load`]); refusing here spares a
    // transaction on an order that is plainly closed.
    let read = Order::of(&order)?;
    still_open(read.status)?;
    Ok(read)
}

/// Writes the new lines with their totals, conditional on the version the
/// transaction read, and audits the change. `stored` is the work order as
/// the transaction read it: its discount and its customer's exemption price
/// the lines, with the organization's fee rules as they are now.
async fn save(
    tx: &mut Tx<'_>,
    stored: &Document,
    order: &Order,
    lines: Vec<Document>,
    field: &str,
    change: Document,
) -> Result<Document, ApiError> {
    let (id, version) = (order.id, order.version);
    let mut lines = lines;
    // Whatever changed, a package's adjustment follows its group.
    follow_groups(&mut lines);
    let pricing = Pricing::of(stored, tx.scope().caller().org.settings.as_ref());
    let set = with_totals(lines, &pricing, field)?;
    let after = tx
        .find_one_and_update(
            WORK_ORDERS,
            doc! { "_id": id, "version": version, "deletedAt": null, "status": { "$in": open_statuses() } },
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
    tx.announce("work_order.updated", &render(&after));
    Ok(after)
}

/// A new PENDING line from `body` for `order`: its fields checked, a
/// PART line priced and named from its part (in the work order's currency).
pub(crate) async fn new_line(
    scope: &Scope,
    order: &Order,
    body: &Value,
) -> Result<Document, ApiError> {
    let (mut line, refs) = fields::parse_create(NEW_LINE, body)?;
    check_splits(&line)?;
    shared::records::check_references(scope, &refs).await?;
    let part = line.get_object_id("partId").ok();
    match (LineKind::of(&line), part) {
        (LineKind::Part, None) => {
            return Err(ApiError::field("partId", "is required on a PART line"))
        }
        (LineKind::Part, Some(p)) => {
            let part = find_live(scope, &super::parts::PART, p).await?;
            let (priced, billed) = (part.get_str("currency"), order.currency.as_deref());
            if let (Ok(priced), Some(billed)) = (priced, billed) {
                if priced != billed {
                    return Err(ApiError::field(
                        "partId",
                        format!("is priced in {priced}; this work order is in {billed}"),
                    ));
                }
            }
            // What the part cost when it was added: the shop's margin,
            // never shown to the customer.
            if let Some(cost) = part.get("unitCost") {
                line.insert("unitCost", cost.clone());
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
    line.insert("approval", Approval::Pending);
    Ok(line)
}

/// In `tx`: adds `new` lines to work order `id` (still open), each PART
/// line reserving its stock, all or nothing; audited as `change`.
pub(crate) async fn add_lines(
    tx: &mut Tx<'_>,
    id: ObjectId,
    new: &[Document],
    change: Document,
) -> Result<Document, ApiError> {
    let (stored, order) = load(tx, id).await?;
    let mut lines = lines_of(&stored);
    if lines.len() + new.len() > MAX_LINES {
        return Err(ApiError::field(
            "lines",
            format!("a work order has at most {MAX_LINES} lines"),
        ));
    }
    for line in new {
        let read = Line::of(line)?;
        if let Some(p) = read.held_part() {
            reserve(tx, p, read.quantity).await?;
        }
        lines.push(line.clone());
    }
    save(tx, &stored, &order, lines, "unitPrice", change).await
}

/// `POST /api/v1/work-orders/{id}/lines`: adds a line (PART lines reserve
/// their quantity); answers the whole work order.
pub async fn add(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let id = ctx.path_id()?;
    let order = editable(scope, id).await?;
    let body: Value = ctx.req.json()?;
    let line = new_line(scope, &order, &body).await?;
    let lines = std::slice::from_ref(&line);
    let after = scope
        .transaction(|tx| {
            Box::pin(async move {
                add_lines(tx, id, lines, doc! { "lineAdded": lines[0].clone() }).await
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
    let (changes, refs) = fields::parse_patch(LINE_PATCH, &body)?;
    shared::records::check_references(scope, &refs).await?;
    let line_id = line_id(&ctx)?;
    // A discount may be taken off (null); nothing else is cleared.
    if let Some(f) = changes.unset.iter().find(|f| *f != "discount") {
        return Err(ApiError::field(f, "cannot be cleared on a line"));
    }
    let (set, unset) = (&changes.set, &changes.unset);
    let after = scope
        .transaction(|tx| {
            Box::pin(async move {
                let (stored, order) = load(tx, id).await?;
                let old_q = order.line(line_id)?.quantity;
                let mut lines = lines_of(&stored);
                let i = at(&lines, line_id)?;
                kept_by_server(&lines[i], "lineId")?;
                let stored_line = lines[i].clone();
                let line = &mut lines[i];
                let was = after_own_discount(line);
                line.extend(set.clone());
                for f in unset {
                    line.remove(f);
                }
                // More to pay than the customer agreed to is agreed again.
                let raised_rate = set.contains_key("taxRate")
                    && shared::db::number(line, "taxRate")
                        > shared::db::number(&stored_line, "taxRate");
                let repriced = set.contains_key("quantity")
                    || set.contains_key("unitPrice")
                    || raised_rate
                    || after_own_discount(line) > was;
                // The same rule as on create, on the line as it now is.
                check_splits(line)?;
                if repriced && Approval::of(line) == Some(Approval::Approved) {
                    line.insert("approval", Approval::Pending);
                }
                let changed = Line::of(line)?;
                if let Some(p) = changed.held_part() {
                    reserve(tx, p, changed.quantity - old_q).await?;
                }
                let field = ["quantity", "unitPrice", "taxRate"]
                    .into_iter()
                    .find(|f| set.contains_key(*f))
                    .unwrap_or("quantity");
                save(
                    tx,
                    &stored,
                    &order,
                    lines,
                    field,
                    doc! { "lineChanged": line_id, "set": set.clone(), "unset": unset.clone() },
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
                let (stored, order) = load(tx, id).await?;
                let mut lines = lines_of(&stored);
                let i = at(&lines, line_id)?;
                if is_rule_fee(&lines[i]) {
                    kept_by_server(&lines[i], "lineId")?;
                }
                let gone = order.line(line_id)?;
                if let Some(p) = gone.held_part() {
                    reserve(tx, p, -gone.quantity).await?;
                }
                lines.remove(i);
                save(
                    tx,
                    &stored,
                    &order,
                    lines,
                    "lineId",
                    doc! { "lineRemoved": line_id },
                )
                .await
            })
        })
        .await?;
    Ok(ApiResponse::ok(&render(&after)))
}

/// 422 on `field` for a line the server keeps (see [`is_kept`]): a
/// package's adjustment follows its group, a fee rule's line the rule.
fn kept_by_server(line: &Document, field: &str) -> Result<(), ApiError> {
    if !is_kept(line) {
        return Ok(());
    }
    let why = if is_rule_fee(line) {
        "is a fee the organization's fee rules keep (settings.fees)"
    } else {
        "is a package price: it follows its group's lines (remove it to drop the price)"
    };
    Err(ApiError::field(field, why))
}

/// A line's gross less its own discount, as far as it reads (for whether a
/// change raised what the customer pays).
fn after_own_discount(line: &Document) -> i128 {
    let n = |k: &str| shared::db::number(line, k).unwrap_or(0);
    // Out of range is refused when the lines are saved.
    let gross = super::order::line_money(LineKind::of(line), n("quantity"), n("unitPrice"), 0)
        .map_or(0, |(a, _)| i128::from(a));
    let off = super::order::Discount::of(line, "discount").map_or(0, |d| d.off(gross));
    gross - off
}

/// The body of `POST /api/v1/work-orders/{id}/approval`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ApprovalBody {
    lines: Vec<LineDecision>,
    approved_by: String,
    method: String,
}

/// One line's decision as a request names it (staff approval and a
/// share link's decisions alike).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct LineDecision {
    line_id: String,
    decision: String,
}

/// `lines` checked into (line, decision), 1 to 200 of them, each error
/// named under `lines[n]`.
pub(crate) fn parse_decisions(
    errors: &mut shared::validate::Errors,
    lines: &[LineDecision],
) -> Vec<(Option<ObjectId>, Approval)> {
    if lines.is_empty() || lines.len() > 200 {
        errors.push(FieldError::new("lines", "must name 1 to 200 lines"));
    }
    let mut decisions = vec![];
    for (n, d) in lines.iter().enumerate() {
        let line = shared::validate::object_id(&format!("lines[{n}].lineId"), &d.line_id).ok();
        if line.is_none() {
            errors.push(FieldError::new(
                format!("lines[{n}].lineId"),
                "must be a 24-character hex id",
            ));
        }
        let decision = Approval::parse(&d.decision).filter(|a| *a != Approval::Pending);
        if decision.is_none() {
            errors.push(FieldError::new(
                format!("lines[{n}].decision"),
                "must be APPROVED or DECLINED",
            ));
        }
        decisions.push((line, decision.unwrap_or(Approval::Pending)));
    }
    decisions
}

/// A group's package price holds only for the whole group as it was
/// added: each ADJUSTMENT line of the group is APPROVED once every other
/// line of the group is, DECLINED once one of them is, PENDING until then;
/// and DECLINED for good (out of the totals) once a line of the group is
/// removed or repriced (`package.lines`, `package.net` record the group as
/// it was added). Run on every write of the lines ([`save`]).
pub(crate) fn follow_groups(lines: &mut [Document]) {
    let group_of = |l: &Document| {
        l.get_document("group")
            .ok()
            .and_then(|g| g.get_object_id("id").ok())
    };
    let adjustments: Vec<(usize, ObjectId)> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| LineKind::of(l) == LineKind::Adjustment)
        .filter_map(|(i, l)| Some((i, group_of(l)?)))
        .collect();
    for (i, group) in adjustments {
        let members: Vec<&Document> = lines
            .iter()
            .filter(|l| LineKind::of(l) != LineKind::Adjustment && group_of(l) == Some(group))
            .collect();
        let package = lines[i].get_document("package").ok();
        let ids: Vec<ObjectId> = members
            .iter()
            .filter_map(|l| l.get_object_id("id").ok())
            .collect();
        // After each line's own discount: a discount on a member reprices
        // the group, and the package no longer holds.
        let net: i64 = members
            .iter()
            .map(|l| i64::try_from(after_own_discount(l)).unwrap_or(i64::MAX))
            .fold(0_i64, |a, b| a.saturating_add(b));
        let intact = package.is_some_and(|p| {
            let was: Vec<ObjectId> = p
                .get_array("lines")
                .map(|a| a.iter().filter_map(Bson::as_object_id).collect())
                .unwrap_or_default();
            was == ids && shared::db::number(p, "net") == Some(net)
        });
        let approvals: Vec<Option<Approval>> = members.iter().map(|l| Approval::of(l)).collect();
        let approval = if !intact || approvals.contains(&Some(Approval::Declined)) {
            Approval::Declined
        } else if !approvals.is_empty() && approvals.iter().all(|a| *a == Some(Approval::Approved))
        {
            Approval::Approved
        } else {
            Approval::Pending
        };
        lines[i].insert("approval", approval);
    }
}

/// `POST /api/v1/work-orders/{id}/approval` `{lines: [{lineId, decision:
/// APPROVED|DECLINED}], approvedBy, method: IN_PERSON|PHONE|SIGNATURE}`:
/// records the customer's decision on each line, with who, how, when and
/// from which address. Declining a PART line releases its stock;
/// approving a declined one reserves it again (409 when short).
pub async fn approve(ctx: &Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let id = ctx.path_id()?;
    editable(scope, id).await?;
    let input: ApprovalBody = ctx.req.json()?;
    let mut errors = shared::validate::Errors::new();
    let by = errors.check(shared::validate::text(
        "approvedBy",
        &input.approved_by,
        1,
        200,
    ));
    let method = ApprovalMethod::parse(&input.method).filter(|m| *m != ApprovalMethod::Link);
    if method.is_none() {
        errors.push(FieldError::new(
            "method",
            format!("must be one of {}", ApprovalMethod::STAFF.join(", ")),
        ));
    }
    let decisions = parse_decisions(&mut errors, &input.lines);
    errors.finish()?;
    let by = by.unwrap_or_default();
    let method = method.unwrap_or(ApprovalMethod::InPerson);
    let ip = scope.meta().ip.clone();
    let decided = Decided {
        by: &by,
        method,
        ip: ip.clone(),
        seen: None,
        strict: false,
    };
    let (decisions, decided) = (&decisions, &decided);
    let after = scope
        .transaction(|tx| Box::pin(async move { Ok(decide(tx, id, decisions, decided).await?.0) }))
        .await?;
    Ok(ApiResponse::ok(&render(&after)))
}

/// Who decided, how, and under which rules (see [`decide`]).
pub(crate) struct Decided<'a> {
    pub by: &'a str,
    pub method: ApprovalMethod,
    pub ip: Option<String>,
    /// The version the decider saw (`If-Match`): 412 when the work order
    /// has changed since, unless nothing would change.
    pub seen: Option<i64>,
    /// The customer's rules: a line already decided the same way is left
    /// as it is (a repeated request changes nothing), one decided the
    /// other way is 409 `DECISION_CONFLICT`.
    pub strict: bool,
}

/// Records `decisions` (line, decision) on work order `id` in `tx`:
/// declining a PART line releases its stock, approving a declined one
/// reserves it again (409 when short). Returns the work order after, and
/// whether anything changed.
pub(crate) async fn decide(
    tx: &mut Tx<'_>,
    id: ObjectId,
    decisions: &[(Option<ObjectId>, Approval)],
    decided: &Decided<'_>,
) -> Result<(Document, bool), ApiError> {
    // A line named twice would be decided (and its stock moved) twice.
    let mut named = std::collections::HashSet::new();
    for (n, (line_id, _)) in decisions.iter().enumerate() {
        if line_id.is_some_and(|l| !named.insert(l)) {
            return Err(ApiError::field(
                &format!("lines[{n}].lineId"),
                "names a line already decided in this request",
            ));
        }
    }
    let (stored, order) = load(tx, id).await?;
    let mut lines = lines_of(&stored);
    let now = DateTime::now();
    let mut changes = vec![];
    for (n, (line_id, decision)) in decisions.iter().enumerate() {
        let field = format!("lines[{n}].lineId");
        let at = lines
            .iter()
            .position(|l| line_id.is_some_and(|i| l.get_object_id("id") == Ok(i)))
            .ok_or_else(|| ApiError::field(&field, "is not a line of this work order"))?;
        let read = Line::of(&lines[at])?;
        if read.kept {
            kept_by_server(&lines[at], &field)?;
        }
        if decided.strict && read.approval == *decision {
            // Already so: a repeated request changes nothing.
            continue;
        }
        changes.push((at, read, *decision, field));
    }
    if changes.is_empty() {
        return Ok((stored, false));
    }
    // Something would change: only on the version the decider saw.
    if let Some(seen) = decided.seen {
        if seen != order.version {
            return Err(ApiError::PreconditionFailed {
                current_version: order.version,
            });
        }
    }
    if decided.strict {
        if let Some((_, read, _, field)) = changes
            .iter()
            .find(|(_, read, _, _)| read.approval != Approval::Pending)
        {
            return Err(ApiError::Conflict {
                code: Code::DecisionConflict,
                detail: "A line was already decided otherwise; ask the workshop to change it"
                    .into(),
                errors: vec![FieldError::new(
                    field.clone(),
                    format!("is already {}", read.approval),
                )],
            });
        }
    }
    for (at, read, decision, _) in &changes {
        let was_declined = read.approval == Approval::Declined;
        let declines = *decision == Approval::Declined;
        if let (Some(p), LineKind::Part) = (read.part, read.kind) {
            let q = read.quantity;
            match (was_declined, declines) {
                (false, true) => reserve(tx, p, -q).await?,
                (true, false) => reserve(tx, p, q).await?,
                _ => {}
            }
        }
        let line = &mut lines[*at];
        line.insert("approval", *decision);
        line.insert("approvedBy", decided.by);
        line.insert("approvalMethod", decided.method);
        line.insert("approvedAt", now);
        line.insert("approvalIp", decided.ip.clone());
    }
    let summary: Vec<Bson> = changes
        .iter()
        .map(|(_, l, d, _)| Bson::Document(doc! { "lineId": l.id, "decision": d.as_str() }))
        .collect();
    let change = doc! { "approval": { "by": decided.by, "method": decided.method.as_str(), "lines": summary } };
    let after = save(tx, &stored, &order, lines, "lines", change).await?;
    tx.announce("work_order.approval_recorded", &render(&after));
    Ok((after, true))
}
