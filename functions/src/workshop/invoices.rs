//! A work order's invoice and its payments. Moving a work order to
//! INVOICED allocates the organization's next invoice number (`INV-000001`,
//! a sequence of its own, consecutive like work-order numbers) and freezes
//! what is billed: the invoice is a copy of the counted lines, totals,
//! customer and vehicle as they were at that moment, which no later edit
//! of the account or vehicle changes. Payments then lower the balance; the
//! one that brings it to 0 marks the work order PAID. More than the balance
//! is refused (422 `OVERPAYMENT`), so a balance is never negative, even
//! under concurrent payments (each is checked in its transaction against
//! the balance it read, and a concurrent one makes it run again).

use bson::oid::ObjectId;
use bson::{doc, Bson, DateTime, Document};
use http::StatusCode;
use serde_json::Value;
use shared::audit::{Action, AuditEntry};
use shared::db::{number, Tx};
use shared::error::{id_of, ApiError, Code, FieldError};
use shared::fields::{self, Field, Kind};
use shared::http::ApiResponse;
use shared::records::{find_live, render};
use shared::runtime::{Ctx, HandlerResult};

use super::order::{Approval, Status, WORK_ORDERS};
use super::vehicles::VEHICLES;
use super::work_orders::{self, WORK_ORDER};
use shared::time::MINUTE_MS;

/// The sequence invoice numbers come from.
pub const INVOICES: &str = "invoices";

shared::words! {
    /// How a payment was made.
    pub enum PaymentMethod {
        Cash = "CASH",
        Card = "CARD",
        Transfer = "TRANSFER",
    }
}

static PAYMENT: &[Field] = &[
    Field::required("amount", Kind::Money),
    Field::required(
        "method",
        Kind::Enum {
            values: PaymentMethod::NAMES,
            default: None,
        },
    ),
    Field::optional("paidAt", Kind::DateTime),
    Field::optional("reference", Kind::Text { min: 0, max: 200 }),
];

/// In the transaction that moved work order `order` to INVOICED: takes the
/// next invoice number and writes the frozen invoice, the amount paid (0)
/// and the balance (the total). Returns the work order as it is then.
pub async fn issue(tx: &mut Tx<'_>, order: &Document) -> Result<Document, ApiError> {
    let id = id_of(order, "work order")?;
    let n = tx.next_in_sequence(INVOICES).await?;
    let account = match order.get_object_id("accountId") {
        Ok(a) => {
            tx.find_one(crate::crm::collections::ACCOUNTS, doc! { "_id": a })
                .await?
        }
        Err(_) => None,
    };
    let vehicle = match order.get_object_id("vehicleId") {
        Ok(v) => tx.find_one(VEHICLES, doc! { "_id": v }).await?,
        Err(_) => None,
    };
    let set = invoiced(order, n, account.as_ref(), vehicle.as_ref());
    let after = tx
        .find_one_and_update(WORK_ORDERS, doc! { "_id": id }, doc! { "$set": set })
        .await?
        .ok_or_else(|| ApiError::internal("work order vanished while invoicing"))?;
    Ok(after)
}

/// What invoicing `order` as invoice number `n` sets on it: the invoice
/// (a copy of the counted lines, totals, customer and vehicle), nothing
/// paid, the total owed.
pub fn invoiced(
    order: &Document,
    n: i64,
    account: Option<&Document>,
    vehicle: Option<&Document>,
) -> Document {
    let number = format!("INV-{n:06}");
    let pick = |d: Option<&Document>, keys: &[&str]| -> Bson {
        let Some(d) = d else {
            return Bson::Null;
        };
        let mut out = doc! { "id": d.get("_id").cloned().unwrap_or(Bson::Null) };
        for k in keys {
            if let Some(v) = d.get(*k) {
                out.insert(*k, v.clone());
            }
        }
        Bson::Document(out)
    };
    let lines: Vec<Bson> = order
        .get_array("lines")
        .map(|a| a.to_vec())
        .unwrap_or_default()
        .into_iter()
        .filter(|l| {
            l.as_document()
                .is_some_and(|l| Approval::of(l) != Some(Approval::Declined))
        })
        .collect();
    let total = number_of(order, "total");
    let invoice = doc! {
        "number": &number,
        "issuedAt": DateTime::now(),
        "workOrderNumber": order.get_str("number").unwrap_or_default(),
        "currency": order.get_str("currency").unwrap_or("USD"),
        "customer": pick(account, &["name", "email", "phone", "address"]),
        "vehicle": pick(vehicle, &["vin", "plate", "make", "model", "year"]),
        "odometerIn": order.get("odometerIn").cloned().unwrap_or(Bson::Null),
        "lines": lines,
        "subtotal": number_of(order, "subtotal"),
        "tax": number_of(order, "tax"),
        "total": total,
        "discountTotal": number_of(order, "discountTotal"),
        "taxExempt": order.get_bool("taxExempt").unwrap_or(false),
        "taxExemptReason": order.get("taxExemptReason").cloned().unwrap_or(Bson::Null),
    };
    doc! {
        "invoiceNumber": &number, "invoice": invoice,
        "amountPaid": 0_i64, "balance": total, "payments": [],
    }
}

fn number_of(d: &Document, key: &str) -> i64 {
    number(d, key).unwrap_or(0)
}

/// `GET /api/v1/work-orders/{id}/invoice`: the invoice as issued, with the
/// payments so far, the amount paid and the balance; 404 `invoice` before
/// the work order is INVOICED.
pub async fn show(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let order = find_live(scope, &WORK_ORDER, ctx.path_id()?).await?;
    let Ok(invoice) = order.get_document("invoice") else {
        return Err(ApiError::NotFound {
            resource: "invoice",
        });
    };
    let mut out = render(invoice);
    if let Some(o) = out.as_object_mut() {
        let view = render(&order);
        o.insert("workOrderId".into(), view["id"].clone());
        for k in ["status", "payments", "amountPaid", "balance"] {
            o.insert(k.into(), view[k].clone());
        }
    }
    Ok(ApiResponse::ok(&out))
}

/// `POST /api/v1/work-orders/{id}/payments` `{amount, method:
/// CASH|CARD|TRANSFER, paidAt?, reference?}` (ADMIN+), on an INVOICED work
/// order: 201 with the work order, its `amountPaid` and `balance`; PAID
/// when the balance reaches 0.
pub async fn pay(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let id = ctx.path_id()?;
    find_live(scope, &WORK_ORDER, id).await?;
    let body: Value = ctx.req.json()?;
    let (input, _) = fields::parse_create(PAYMENT, &body)?;
    let amount = number(&input, "amount").unwrap_or(0);
    if amount <= 0 {
        return Err(ApiError::field("amount", "must be more than 0"));
    }
    let now = DateTime::now();
    let paid_at = input.get_datetime("paidAt").copied().unwrap_or(now);
    if paid_at.timestamp_millis() > now.timestamp_millis() + 5 * MINUTE_MS {
        return Err(ApiError::field("paidAt", "cannot be in the future"));
    }
    let mut payment = doc! {
        "id": ObjectId::new(), "amount": amount,
        "method": input.get_str("method").unwrap_or_default(),
        "paidAt": paid_at, "recordedBy": scope.caller().user.id, "createdAt": now,
    };
    if let Ok(r) = input.get_str("reference") {
        payment.insert("reference", r);
    }
    let payment = &payment;
    let after = scope
        .transaction(|tx| {
            Box::pin(async move {
                let (_, read) = work_orders::read_in(tx, id).await?;
                let status = read.status;
                if status != Status::Invoiced {
                    return Err(ApiError::conflict(
                        Code::InvalidTransition,
                        format!("Payments are taken on INVOICED work orders; this one is {status}"),
                    ));
                }
                let balance = read.balance;
                if amount > balance {
                    return Err(ApiError::Unprocessable {
                        code: Code::Overpayment,
                        detail: format!(
                            "The balance is {balance}; a payment of {amount} is more than is owed"
                        ),
                        errors: vec![FieldError::new(
                            "amount",
                            format!("must be at most the balance, {balance}"),
                        )],
                    });
                }
                let left = balance - amount;
                let mut set = doc! { "balance": left, "updatedAt": DateTime::now() };
                if left == 0 {
                    set.insert("status", Status::Paid);
                    set.insert("paidAt", DateTime::now());
                }
                let after = tx
                    .find_one_and_update(
                        WORK_ORDERS,
                        doc! { "_id": id, "version": read.version, "balance": balance },
                        doc! {
                            "$set": set,
                            "$inc": { "amountPaid": amount, "version": 1_i64 },
                            "$push": { "payments": payment.clone() },
                        },
                    )
                    .await?
                    .ok_or_else(|| {
                        ApiError::conflict(
                            Code::WriteConflict,
                            "The work order changed meanwhile; retry",
                        )
                    })?;
                let mut change =
                    doc! { "payment": payment.clone(), "balance": { "from": balance, "to": left } };
                if left == 0 {
                    change.insert(
                        "status",
                        doc! { "from": Status::Invoiced, "to": Status::Paid },
                    );
                }
                tx.audit(
                    AuditEntry::new(Action::Update, "work_order")
                        .id(id)
                        .changes(change),
                )
                .await?;
                let shown = render(&after);
                tx.announce("work_order.updated", &shown);
                tx.announce("payment.recorded", &shown);
                if left == 0 {
                    tx.announce(
                        "work_order.status_changed",
                        &super::order::with_previous(&shown, Status::Invoiced),
                    );
                }
                Ok(after)
            })
        })
        .await?;
    Ok(ApiResponse::json(StatusCode::CREATED, &render(&after)))
}
