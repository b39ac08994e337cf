//! A work order's status, moved by `POST /api/v1/work-orders/{id}/transition`
//! only along the transitions [`Status::next`] allows: work starts once a
//! line is approved, completion uses up the stock the PART lines hold and
//! cancellation gives it back, invoicing freezes the bill
//! ([`super::invoices::issue`]), and PAID needs a balance of 0.

use bson::{doc, DateTime};
use serde_json::Value;
use shared::audit::{Action, AuditEntry};
use shared::error::{ApiError, Code, FieldError};
use shared::fields::{self, Field, Kind};
use shared::http::ApiResponse;
use shared::rbac::Permission;
use shared::records::{find_live, render};
use shared::runtime::{Ctx, HandlerResult};

use super::invoices;
use super::order::{with_previous, Order, Status, WORK_ORDERS};
use super::parts::{consume, reserve};
use super::work_orders::WORK_ORDER;

/// The body of `POST /api/v1/work-orders/{id}/transition`.
pub(crate) static TRANSITION: &[Field] = &[Field::required(
    "to",
    Kind::Enum {
        values: Status::NAMES,
        default: None,
    },
)];

/// `POST /api/v1/work-orders/{id}/transition` `{to}`: moves the work order
/// along an allowed transition (409 `INVALID_TRANSITION` naming the
/// allowed ones). MEMBERs move the work orders they created or work on,
/// up to COMPLETED; cancelling one already IN_PROGRESS, invoicing and
/// marking paid need an ADMIN+.
pub async fn transition(ctx: &Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let id = ctx.path_id()?;
    let before = find_live(scope, &WORK_ORDER, id).await?;
    let body: Value = ctx.req.json()?;
    let (input, _) = fields::parse_create(TRANSITION, &body)?;
    let to = input
        .get_str("to")
        .ok()
        .and_then(Status::parse)
        .ok_or_else(|| ApiError::field("to", "is required"))?;
    let read = Order::of(&before)?;
    let from = read.status;
    let allowed = from.next();
    if !allowed.contains(&to) {
        return Err(ApiError::Conflict {
            code: Code::InvalidTransition,
            detail: if allowed.is_empty() {
                format!("A {from} work order does not change status any more")
            } else {
                format!(
                    "From {from} a work order can go to {}",
                    allowed
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(" or ")
                )
            },
            errors: vec![FieldError::new("to", format!("cannot be {to} from {from}"))],
        });
    }
    WORK_ORDER
        .require_own_or(scope, &before, Permission::UpdateAnyRecord)
        .await?;
    if to == Status::InProgress && !read.has_approved_line() {
        return Err(ApiError::Conflict {
            code: Code::InvalidTransition,
            detail: "Work starts once the customer approved at least one line (POST .../approval)"
                .into(),
            errors: vec![FieldError::new("to", "needs an approved line")],
        });
    }
    if matches!(to, Status::Invoiced | Status::Paid)
        || (to == Status::Cancelled && from == Status::InProgress)
    {
        scope.require(Permission::UpdateAnyRecord).await?;
    }
    let balance = read.balance;
    if to == Status::Paid && balance != 0 {
        return Err(ApiError::Conflict {
            code: Code::InvalidTransition,
            detail: format!(
                "The balance is {balance}: a work order is PAID once its payments cover it (POST .../payments)"
            ),
            errors: vec![FieldError::new("to", "needs a balance of 0")],
        });
    }
    if to == Status::Invoiced {
        scope.ensure_sequence(invoices::INVOICES).await?;
    }
    let mut filter = doc! { "_id": id, "deletedAt": null, "status": from };
    if to == Status::Paid {
        filter.insert("balance", 0_i64);
    }
    let filter = &filter;
    let actor = scope.caller().user.id;
    let after = scope
        .transaction(|tx| {
            Box::pin(async move {
                let now = DateTime::now();
                let stamp = to.stamp();
                let Some(mut after) = tx
                    .find_one_and_update(
                        WORK_ORDERS,
                        filter.clone(),
                        doc! {
                            "$set": { "status": to, "updatedAt": now, stamp: now },
                            "$inc": { "version": 1_i64 },
                        },
                    )
                    .await?
                else {
                    return Ok(None);
                };
                // Checked again on the work order as it is written: a line
                // declined or repriced meanwhile leaves none approved.
                let written = Order::of(&after)?;
                if to == Status::InProgress && !written.has_approved_line() {
                    return Err(ApiError::Conflict {
                        code: Code::InvalidTransition,
                        detail: "Work starts once the customer approved at least one line (POST .../approval)".into(),
                        errors: vec![FieldError::new("to", "needs an approved line")],
                    });
                }
                // The stock the PART lines hold: used up on completion,
                // given back on cancellation.
                for (part, quantity) in written.reservations() {
                    match to {
                        Status::Completed => consume(tx, part, quantity, id, actor).await?,
                        Status::Cancelled => reserve(tx, part, -quantity).await?,
                        _ => {}
                    }
                }
                let mut change = doc! { "status": { "from": from, "to": to } };
                if to == Status::Invoiced {
                    after = invoices::issue(tx, &after).await?;
                    // The reports' rollup, in the same commit.
                    super::rollup::invoice(tx, &after, 1)?;
                    change.insert(
                        "invoiceNumber",
                        after.get_str("invoiceNumber").unwrap_or_default(),
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
                tx.announce("work_order.status_changed", &with_previous(&shown, from));
                if to == Status::Invoiced {
                    tx.announce("invoice.issued", &shown);
                }
                Ok(Some(after))
            })
        })
        .await?;
    match after {
        Some(after) => Ok(ApiResponse::ok(&render(&after))),
        // Moved by a concurrent request meanwhile: say where it is now.
        None => {
            let now = find_live(scope, &WORK_ORDER, id).await?;
            Err(ApiError::conflict(
                Code::InvalidTransition,
                format!(
                    "The work order is {} now; reload it",
                    now.get_str("status").unwrap_or("?")
                ),
            ))
        }
    }
}
