//! Purchasing: the shop's `vendors` and its `purchase-orders` (numbered
//! `PO-000001` per organization), both ADMIN+ to write. An order is
//! written as a DRAFT (its vendor and lines change only then), ORDERED by
//! `POST .../transition` (each line's part counts it `onOrder`), received
//! by `POST .../receipts` (PARTIALLY_RECEIVED, then RECEIVED once every
//! line is), then CLOSED; a DRAFT or ORDERED one may be CANCELLED. Closing
//! or cancelling takes what was not received off `onOrder`.
//!
//! A receipt is one transaction: per line, a `RECEIVED` stock movement
//! naming the order, the part's stock and its moving average cost
//! `(onHand x avg + qty x cost) / (onHand + qty)` (half to even, in minor
//! units; the first receipt of a part without a cost sets it), its
//! `onOrder` lowered, the work-order line waiting for the part marked
//! `partReceivedAt`, and the order's lines and status, written only over
//! the version it read. Two receipts racing for the same order run one
//! after the other, so together they never receive more than was ordered
//! (422 `lines[n].quantity`, unless the receipt says `allowOverReceipt`).
//! With an Idempotency-Key a retried receipt answers what the first did
//! and moves nothing again.

use bson::oid::ObjectId;
use bson::{doc, Bson, DateTime, Document};
use http::StatusCode;
use serde_json::{json, Value};
use shared::audit::{Action, AuditEntry};
use shared::db::{number, Scope, Tx};
use shared::error::{ApiError, Code, FieldError};
use shared::fields::{self, Field, Kind};
use shared::http::ApiResponse;
use shared::records::{find_live, render, Entity, ListSpec, Numbering, Write};
use shared::runtime::{Ctx, HandlerResult};

use super::order::{div_half_even, MAX_AMOUNT, WORK_ORDERS};
use super::parts::{PARTS, STOCK_MOVEMENTS};

pub const VENDORS: &str = "vendors";
pub const PURCHASE_ORDERS: &str = "purchase_orders";

pub static VENDOR: Entity = Entity {
    collection: VENDORS,
    resource: "vendor",
    list: ListSpec {
        sort_fields: &["createdAt", "updatedAt", "name"],
        default_sort: "name",
        search_fields: &["name", "accountNumber"],
        filters: &[],
    },
    fields: &[
        Field::required("name", Kind::Text { min: 1, max: 200 }),
        Field::optional("email", Kind::Email),
        Field::optional("phone", Kind::Phone),
        Field::optional("accountNumber", Kind::Text { min: 0, max: 100 }),
        Field::optional("address", Kind::Multiline { max: 1_000 }),
        Field::optional("notes", Kind::Multiline { max: 10_000 }),
    ],
    admin_writes: true,
    ..Entity::DEFAULTS
};

shared::words! {
    /// Where a purchase order stands.
    pub enum PoStatus {
        Draft = "DRAFT",
        Ordered = "ORDERED",
        PartiallyReceived = "PARTIALLY_RECEIVED",
        Received = "RECEIVED",
        Closed = "CLOSED",
        Cancelled = "CANCELLED",
    }
}

impl PoStatus {
    /// Where `POST .../transition` may take an order from here (receipts
    /// move it to PARTIALLY_RECEIVED and RECEIVED).
    fn next(self) -> &'static [PoStatus] {
        use PoStatus::*;
        match self {
            Draft => &[Ordered, Cancelled],
            Ordered => &[Cancelled],
            PartiallyReceived | Received => &[Closed],
            Closed | Cancelled => &[],
        }
    }

    fn of(d: &Document) -> PoStatus {
        PoStatus::in_field(d, "status").unwrap_or(PoStatus::Draft)
    }
}

const QUANTITY: Kind = Kind::Integer {
    min: 1,
    max: 1_000_000,
};

static PO_LINE: &[Field] = &[
    Field::optional("partId", Kind::Ref(PARTS)),
    Field::required("description", Kind::Text { min: 1, max: 500 }),
    Field::required("quantity", QUANTITY),
    Field::required("unitCost", Kind::Money),
    Field::optional("workOrderId", Kind::Ref(WORK_ORDERS)),
    Field::optional("workOrderLineId", Kind::Text { min: 24, max: 24 }),
];

pub static PURCHASE_ORDER: Entity = Entity {
    collection: PURCHASE_ORDERS,
    resource: "purchase_order",
    list: ListSpec {
        sort_fields: &["createdAt", "updatedAt", "number", "expectedAt"],
        default_sort: "-createdAt",
        search_fields: &["number"],
        filters: &[
            shared::records::Filter::text("status"),
            shared::records::Filter::id("vendorId"),
        ],
    },
    fields: &[
        Field::required("vendorId", Kind::Ref(VENDORS)),
        Field::required(
            "lines",
            Kind::Rows {
                of: PO_LINE,
                max: 200,
            },
        ),
        Field::optional("expectedAt", Kind::DateTime),
        Field::optional("notes", Kind::Multiline { max: 10_000 }),
        // Moved by `POST .../transition` and receipts only.
        Field::optional(
            "status",
            Kind::Enum {
                values: PoStatus::NAMES,
                default: Some(PoStatus::Draft.as_str()),
            },
        )
        .reserved(PoStatus::NAMES.split_at(1).1),
    ],
    unique: &["number"],
    numbering: Some(Numbering {
        field: "number",
        prefix: "PO-",
        width: 6,
    }),
    admin_writes: true,
    prepare: Some(|scope, write, fields| Box::pin(prepare(scope, write, fields))),
    written: Some(|tx, write, after| Box::pin(written(tx, write, after))),
    ..Entity::DEFAULTS
};

/// Only a DRAFT or CANCELLED order is deleted (409 `INVALID_TRANSITION`
/// otherwise): an open one counts in its parts' `onOrder`, a received one
/// is what its stock movements name.
async fn written(_: &mut Tx<'_>, write: Write<'_>, after: &Document) -> Result<(), ApiError> {
    let status = PoStatus::of(after);
    if matches!(write, Write::Delete) && !matches!(status, PoStatus::Draft | PoStatus::Cancelled) {
        return Err(ApiError::conflict(
            Code::InvalidTransition,
            format!("A {status} purchase order is not deleted: cancel or close it"),
        ));
    }
    Ok(())
}

/// An order's vendor and lines change only while it is a DRAFT (409
/// `INVALID_TRANSITION` after); each line gets an id and nothing received,
/// and names a work order's line only when that work order has it; the
/// order's `total` is the sum of quantity x unit cost (at most
/// [`MAX_AMOUNT`]), in the organization's currency.
async fn prepare(scope: &Scope, write: Write<'_>, fields: &mut Document) -> Result<(), ApiError> {
    if let Write::Update(before) = write {
        let unchanged = ["vendorId", "lines"]
            .iter()
            .all(|f| before.get(*f) == fields.get(*f));
        if unchanged {
            return Ok(());
        }
        let status = PoStatus::of(before);
        if status != PoStatus::Draft {
            return Err(ApiError::conflict(
                Code::InvalidTransition,
                format!("The vendor and lines of a {status} purchase order no longer change"),
            ));
        }
        if before.get("lines") == fields.get("lines") {
            // Only the vendor: the lines stay as they are.
            return Ok(());
        }
    }
    let rows: Vec<Document> = fields
        .get_array("lines")
        .map(|a| a.iter().filter_map(Bson::as_document).cloned().collect())
        .unwrap_or_default();
    if rows.is_empty() {
        return Err(ApiError::field("lines", "must have at least one line"));
    }
    let mut total: i128 = 0;
    let mut out = vec![];
    for (n, mut line) in rows.into_iter().enumerate() {
        let at = |f: &str| format!("lines[{n}].{f}");
        match (
            line.get_object_id("workOrderId").ok(),
            line.get_str("workOrderLineId").ok(),
        ) {
            (None, None) => {}
            (Some(order), Some(wanted)) => {
                let wanted = ObjectId::parse_str(wanted)
                    .map_err(|_| ApiError::field(&at("workOrderLineId"), "must be a line id"))?;
                let order = find_live(scope, &super::work_orders::WORK_ORDER, order).await?;
                let has = super::order::lines_of(&order)
                    .iter()
                    .any(|l| l.get_object_id("id") == Ok(wanted));
                if !has {
                    return Err(ApiError::field(
                        &at("workOrderLineId"),
                        "is not a line of that work order",
                    ));
                }
                line.insert("workOrderLineId", wanted);
            }
            (None, Some(_)) => {
                return Err(ApiError::field(
                    &at("workOrderId"),
                    "is required with workOrderLineId",
                ))
            }
            (Some(_), None) => {
                return Err(ApiError::field(
                    &at("workOrderLineId"),
                    "is required with workOrderId",
                ))
            }
        }
        total += i128::from(number(&line, "quantity").unwrap_or(0))
            * i128::from(number(&line, "unitCost").unwrap_or(0));
        line.insert("id", ObjectId::new());
        line.insert("received", 0_i64);
        out.push(Bson::Document(line));
    }
    if total > i128::from(MAX_AMOUNT) {
        return Err(super::order::out_of_range("lines", "the order's total"));
    }
    fields.insert("lines", out);
    fields.insert("total", total as i64);
    fields.insert(
        "currency",
        super::work_orders::organization_currency(scope).to_string(),
    );
    Ok(())
}

/// The live order `id` as `tx` reads it.
async fn read_in(tx: &mut Tx<'_>, id: ObjectId) -> Result<Document, ApiError> {
    tx.find_one(PURCHASE_ORDERS, doc! { "_id": id, "deletedAt": null })
        .await?
        .ok_or(ApiError::NotFound {
            resource: "purchase_order",
        })
}

fn lines_of(order: &Document) -> Vec<Document> {
    order
        .get_array("lines")
        .map(|a| a.iter().filter_map(Bson::as_document).cloned().collect())
        .unwrap_or_default()
}

/// What a line still waits for: ordered less received, not below 0.
fn outstanding(line: &Document) -> i64 {
    (number(line, "quantity").unwrap_or(0) - number(line, "received").unwrap_or(0)).max(0)
}

/// Moves each part's `onOrder` by `sign` x (its lines' quantity, or what
/// they still wait for).
async fn on_order(
    tx: &mut Tx<'_>,
    lines: &[Document],
    sign: i64,
    all: bool,
) -> Result<(), ApiError> {
    for l in lines {
        let Ok(part) = l.get_object_id("partId") else {
            continue;
        };
        let q = if all {
            number(l, "quantity").unwrap_or(0)
        } else {
            outstanding(l)
        };
        if q > 0 {
            tx.update_by_id(
                PARTS,
                doc! { "_id": part },
                doc! {
                    "$inc": { "onOrder": sign * q, "version": 1_i64 },
                    "$set": { "updatedAt": DateTime::now() },
                },
            )
            .await?;
        }
    }
    Ok(())
}

/// `POST /api/v1/purchase-orders/{id}/transition` `{to}` (ADMIN+):
/// ORDERED (from DRAFT; its parts count it `onOrder`), CANCELLED (from
/// DRAFT or ORDERED) or CLOSED (once received, in part or whole); what was
/// not received leaves `onOrder`. 409 `INVALID_TRANSITION` otherwise.
pub async fn transition(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let id = ctx.path_id()?;
    find_live(scope, &PURCHASE_ORDER, id).await?;
    let body: Value = ctx.req.json()?;
    let (input, _) = fields::parse_create(TRANSITION, &body)?;
    let to = input
        .get_str("to")
        .ok()
        .and_then(PoStatus::parse)
        .ok_or_else(|| ApiError::field("to", "is required"))?;
    let after = scope
        .transaction(|tx| {
            Box::pin(async move {
                let before = read_in(tx, id).await?;
                let from = PoStatus::of(&before);
                if !from.next().contains(&to) {
                    return Err(ApiError::Conflict {
                        code: Code::InvalidTransition,
                        detail: format!("A {from} purchase order cannot become {to}"),
                        errors: vec![FieldError::new("to", format!("cannot be {to} from {from}"))],
                    });
                }
                let lines = lines_of(&before);
                match (from, to) {
                    (PoStatus::Draft, PoStatus::Ordered) => on_order(tx, &lines, 1, true).await?,
                    (PoStatus::Draft, _) => {}
                    _ => on_order(tx, &lines, -1, false).await?,
                }
                let now = DateTime::now();
                let version = number(&before, "version").unwrap_or(1);
                let stamp = format!("{}At", to.as_str().to_lowercase());
                let after = tx
                    .find_one_and_update(
                        PURCHASE_ORDERS,
                        doc! { "_id": id, "version": version, "deletedAt": null },
                        doc! {
                            "$set": { "status": to.as_str(), "updatedAt": now, stamp: now },
                            "$inc": { "version": 1_i64 },
                        },
                    )
                    .await?
                    .ok_or_else(|| {
                        ApiError::conflict(
                            Code::WriteConflict,
                            "The purchase order changed meanwhile; retry",
                        )
                    })?;
                tx.audit(
                    AuditEntry::new(Action::Update, "purchase_order")
                        .id(id)
                        .changes(doc! { "status": { "from": from.as_str(), "to": to.as_str() } }),
                )
                .await?;
                let shown = render(&after);
                tx.announce("purchase_order.updated", &shown);
                if to == PoStatus::Ordered {
                    tx.announce("purchase_order.ordered", &shown);
                }
                Ok(after)
            })
        })
        .await?;
    Ok(ApiResponse::ok(&render(&after)))
}

/// The body of `POST /api/v1/purchase-orders/{id}/transition`.
pub(crate) static TRANSITION: &[Field] = &[Field::required(
    "to",
    Kind::Enum {
        values: PoStatus::NAMES,
        default: None,
    },
)];

/// The body of `POST /api/v1/purchase-orders/{id}/receipts`.
pub(crate) static RECEIPT: &[Field] = &[
    Field::required("vendorInvoiceNumber", Kind::Text { min: 1, max: 100 }),
    Field::required("receivedAt", Kind::DateTime),
    Field::required(
        "lines",
        Kind::Rows {
            of: RECEIPT_LINE,
            max: 200,
        },
    ),
    Field::optional("allowOverReceipt", Kind::Bool { default: None }),
];

static RECEIPT_LINE: &[Field] = &[
    Field::required("lineId", Kind::Text { min: 24, max: 24 }),
    Field::required("quantity", QUANTITY),
    Field::optional("unitCost", Kind::Money),
];

/// A part's moving average cost after `qty` more at `cost`, half to even:
/// `(onHand x avg + qty x cost) / (onHand + qty)`; `cost` itself when the
/// part had none or none on hand.
pub fn moving_average(on_hand: i64, avg: Option<i64>, qty: i64, cost: i64) -> i64 {
    let on_hand = on_hand.max(0);
    match avg {
        Some(avg) if on_hand > 0 => {
            let n = i128::from(on_hand) * i128::from(avg) + i128::from(qty) * i128::from(cost);
            let d = i128::from(on_hand) + i128::from(qty);
            // Between the two costs, so within i64.
            div_half_even(n, d) as i64
        }
        _ => cost,
    }
}

/// `POST /api/v1/purchase-orders/{id}/receipts` (ADMIN+; see the module
/// docs).
pub async fn receive(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let id = ctx.path_id()?;
    find_live(scope, &PURCHASE_ORDER, id).await?;
    let body: Value = ctx.req.json()?;
    let (input, _) = fields::parse_create(RECEIPT, &body)?;
    let now = DateTime::now();
    let received_at = input.get_datetime("receivedAt").copied().unwrap_or(now);
    if received_at.timestamp_millis() > now.timestamp_millis() + 5 * 60_000 {
        return Err(ApiError::field("receivedAt", "cannot be in the future"));
    }
    let over = input.get_bool("allowOverReceipt").unwrap_or(false);
    let mut wanted: Vec<(ObjectId, i64, Option<i64>)> = vec![];
    for (n, l) in input
        .get_array("lines")
        .map(|a| a.iter().filter_map(Bson::as_document).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let line = l
            .get_str("lineId")
            .ok()
            .and_then(|s| ObjectId::parse_str(s).ok())
            .ok_or_else(|| ApiError::field(&format!("lines[{n}].lineId"), "must be a line id"))?;
        if wanted.iter().any(|(w, _, _)| *w == line) {
            return Err(ApiError::field(
                &format!("lines[{n}].lineId"),
                "names a line already received in this receipt",
            ));
        }
        wanted.push((
            line,
            number(l, "quantity").unwrap_or(0),
            number(l, "unitCost"),
        ));
    }
    if wanted.is_empty() {
        return Err(ApiError::field("lines", "must receive at least one line"));
    }
    let invoice = input
        .get_str("vendorInvoiceNumber")
        .unwrap_or_default()
        .to_string();
    let actor = scope.caller().user.id;
    let (wanted, invoice) = (&wanted, &invoice);
    let after = scope
        .transaction(|tx| {
            Box::pin(async move {
                let before = read_in(tx, id).await?;
                let status = PoStatus::of(&before);
                if !matches!(status, PoStatus::Ordered | PoStatus::PartiallyReceived) {
                    return Err(ApiError::conflict(
                        Code::InvalidTransition,
                        format!("Receipts are taken on ORDERED purchase orders; this one is {status}"),
                    ));
                }
                // The same vendor invoice twice is a receipt sent twice.
                let twice = before
                    .get_array("receipts")
                    .map(|r| {
                        r.iter()
                            .filter_map(Bson::as_document)
                            .any(|r| r.get_str("vendorInvoiceNumber") == Ok(invoice.as_str()))
                    })
                    .unwrap_or(false);
                if twice {
                    return Err(ApiError::Conflict {
                        code: Code::AlreadyExists,
                        detail: format!("Vendor invoice {invoice} was received on this order already"),
                        errors: vec![FieldError::new("vendorInvoiceNumber", "was received already")],
                    });
                }
                let currency = before.get_str("currency").ok().map(str::to_string);
                let mut lines = lines_of(&before);
                let receipt_id = ObjectId::new();
                let mut received = vec![];
                for (n, (line_id, qty, cost)) in wanted.iter().enumerate() {
                    let at = lines
                        .iter()
                        .position(|l| l.get_object_id("id") == Ok(*line_id))
                        .ok_or_else(|| {
                            ApiError::field(&format!("lines[{n}].lineId"), "is not a line of this order")
                        })?;
                    let waiting = outstanding(&lines[at]);
                    if *qty > waiting && !over {
                        return Err(ApiError::field(
                            &format!("lines[{n}].quantity"),
                            format!("is more than the {waiting} still to receive (allowOverReceipt to accept it)"),
                        ));
                    }
                    let cost = cost.unwrap_or_else(|| number(&lines[at], "unitCost").unwrap_or(0));
                    let line = &mut lines[at];
                    let was = number(line, "received").unwrap_or(0);
                    let now_received = was.checked_add(*qty).filter(|r| *r <= 2 * number(line, "quantity").unwrap_or(0));
                    let Some(now_received) = now_received else {
                        return Err(ApiError::field(
                            &format!("lines[{n}].quantity"),
                            "would receive more than twice what was ordered",
                        ));
                    };
                    line.insert("received", now_received);
                    if let Ok(part) = line.get_object_id("partId") {
                        let into = Receiving { part, qty: *qty, cost, was_on_order: (*qty).min(waiting), field: format!("lines[{n}].lineId"), currency: currency.as_deref() };
                        stock_in(tx, &into, id, invoice, actor).await?;
                    }
                    // The work-order line waiting for it, once all of it is here.
                    if let (Ok(order), Ok(wo_line), 0) = (
                        line.get_object_id("workOrderId"),
                        line.get_object_id("workOrderLineId"),
                        outstanding(line),
                    ) {
                        tx.update_by_id(
                            WORK_ORDERS,
                            doc! { "_id": order, "deletedAt": null, "lines.id": wo_line },
                            doc! {
                                "$set": { "lines.$.partReceivedAt": received_at, "updatedAt": DateTime::now() },
                                "$inc": { "version": 1_i64 },
                            },
                        )
                        .await?;
                    }
                    received.push(Bson::Document(doc! { "lineId": line_id, "quantity": qty, "unitCost": cost }));
                }
                let all = lines.iter().all(|l| outstanding(l) == 0);
                let to = if all { PoStatus::Received } else { PoStatus::PartiallyReceived };
                let receipt = doc! {
                    "id": receipt_id, "vendorInvoiceNumber": invoice, "receivedAt": received_at,
                    "lines": received, "receivedBy": actor, "createdAt": DateTime::now(),
                };
                let version = number(&before, "version").unwrap_or(1);
                let after = tx
                    .find_one_and_update(
                        PURCHASE_ORDERS,
                        doc! { "_id": id, "version": version, "deletedAt": null },
                        doc! {
                            "$set": { "lines": lines, "status": to.as_str(), "updatedAt": DateTime::now() },
                            "$push": { "receipts": receipt.clone() },
                            "$inc": { "version": 1_i64 },
                        },
                    )
                    .await?
                    .ok_or_else(|| {
                        ApiError::conflict(Code::WriteConflict, "The purchase order changed meanwhile; retry")
                    })?;
                let mut change = doc! { "receipt": receipt };
                if to != status {
                    change.insert("status", doc! { "from": status.as_str(), "to": to.as_str() });
                }
                tx.audit(AuditEntry::new(Action::Update, "purchase_order").id(id).changes(change))
                    .await?;
                let shown = render(&after);
                tx.announce("purchase_order.updated", &shown);
                tx.announce("purchase_order.received", &shown);
                tx.respond(&ApiResponse::json(StatusCode::CREATED, &shown))?;
                Ok(after)
            })
        })
        .await?;
    Ok(ApiResponse::json(StatusCode::CREATED, &render(&after)))
}

/// One line's parts coming in: `qty` of `part` at `cost`, of which
/// `was_on_order` were waiting; `field` names the line in errors,
/// `currency` is the order's.
struct Receiving<'a> {
    part: ObjectId,
    qty: i64,
    cost: i64,
    was_on_order: i64,
    field: String,
    currency: Option<&'a str>,
}

/// In `tx`: the parts of `r` received on order `order`: the part's stock,
/// its moving average cost and its `onOrder`, written over the stock and
/// cost this transaction read (a live part priced in the order's
/// currency), and the movement.
async fn stock_in(
    tx: &mut Tx<'_>,
    r: &Receiving<'_>,
    order: ObjectId,
    invoice: &str,
    actor: ObjectId,
) -> Result<(), ApiError> {
    let current = tx
        .find_one(PARTS, doc! { "_id": r.part, "deletedAt": null })
        .await?
        .ok_or_else(|| ApiError::field(&r.field, "names a part that was deleted"))?;
    if let (Ok(priced), Some(ordered)) = (current.get_str("currency"), r.currency) {
        if priced != ordered {
            return Err(ApiError::field(
                &r.field,
                format!("names a part priced in {priced}; this order is in {ordered}"),
            ));
        }
    }
    let on_hand = number(&current, "onHand").unwrap_or(0);
    if on_hand
        .checked_add(r.qty)
        .is_none_or(|n| n > 1_000_000_000_000)
    {
        return Err(ApiError::Unprocessable {
            code: Code::AmountOutOfRange,
            detail: "A part holds at most 10^12 units".into(),
            errors: vec![FieldError::new(
                &r.field,
                "would take the part's stock past 10^12",
            )],
        });
    }
    let avg = moving_average(on_hand, number(&current, "unitCost"), r.qty, r.cost);
    tx.find_one_and_update(
        PARTS,
        doc! { "_id": r.part, "onHand": on_hand, "unitCost": current.get("unitCost").cloned().unwrap_or(Bson::Null) },
        doc! {
            "$inc": { "onHand": r.qty, "available": r.qty, "onOrder": -r.was_on_order, "version": 1_i64 },
            "$set": { "unitCost": avg, "updatedAt": DateTime::now() },
        },
    )
    .await?
    .ok_or_else(|| ApiError::conflict(Code::WriteConflict, "The part's stock changed meanwhile; retry"))?;
    let movement = doc! {
        "_id": ObjectId::new(), "partId": r.part, "delta": r.qty, "reason": "RECEIVED",
        "note": format!("Vendor invoice {invoice}"), "workOrderId": null, "purchaseOrderId": order,
        "unitCost": r.cost, "actor": actor, "createdAt": DateTime::now(),
    };
    tx.insert_one(STOCK_MOVEMENTS, movement).await?;
    Ok(())
}

/// `GET /api/v1/parts/reorder-suggestions` (every role): live parts whose
/// position (`onHand + onOrder - reserved`) is below their `reorderLevel`,
/// with the quantity that brings it to `reorderUpTo` (else
/// `reorderQuantity`, else back to the level), most short first; at most
/// 500.
pub async fn reorder_suggestions(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let position = doc! { "$subtract": [
        { "$add": [{ "$ifNull": ["$onHand", 0] }, { "$ifNull": ["$onOrder", 0] }] },
        { "$ifNull": ["$reserved", 0] },
    ] };
    let parts = scope
        .collection(PARTS)
        .aggregate(vec![
            doc! { "$match": {
                "deletedAt": null,
                "reorderLevel": { "$type": "number" },
                "$expr": { "$lt": [position.clone(), "$reorderLevel"] },
            } },
            doc! { "$addFields": { "shortBy": { "$subtract": ["$reorderLevel", position] } } },
            doc! { "$sort": { "shortBy": -1, "sku": 1 } },
            doc! { "$limit": 500 },
        ])
        .await?;
    let data: Vec<Value> = parts
        .iter()
        .map(|p| {
            let n = |k: &str| number(p, k).unwrap_or(0);
            let pos = n("onHand") + n("onOrder") - n("reserved");
            let quantity = match (number(p, "reorderUpTo"), number(p, "reorderQuantity")) {
                (Some(up_to), _) if up_to > pos => up_to - pos,
                (_, Some(q)) if q > 0 => q,
                _ => n("reorderLevel") - pos,
            };
            let mut part = p.clone();
            part.remove("shortBy");
            let mut shown = render(&part);
            shown["position"] = json!(pos);
            shown["suggestedQuantity"] = json!(quantity);
            shown
        })
        .collect();
    Ok(ApiResponse::ok(&json!({ "data": data })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_moving_average_is_exact_to_the_minor_unit() {
        // 10 on hand at 12.00, 5 more at 15.00: (12000 + 7500) / 15 = 13.00.
        assert_eq!(moving_average(10, Some(1_200), 5, 1_500), 1_300);
        // 3 at 10.00, 4 at 10.01: 7004 / 7 = 1000.571.. -> 10.01.
        assert_eq!(moving_average(3, Some(1_000), 4, 1_001), 1_001);
        // Half to even: 1 at 1.00, 1 at 1.01: 2.01 / 2 = 1.005 -> 1.00.
        assert_eq!(moving_average(1, Some(100), 1, 101), 100);
        // Nothing on hand, or no cost yet: the receipt's cost.
        assert_eq!(moving_average(0, Some(900), 2, 1_100), 1_100);
        assert_eq!(moving_average(5, None, 2, 1_100), 1_100);
    }
}
