//! Work orders: a vehicle's visit to the workshop, numbered per
//! organization (`WO-000001`, consecutive even under concurrent creates),
//! owned by the vehicle's owner, moving through its statuses only along
//! the allowed transitions.

use bson::{doc, DateTime, Document};
use serde_json::Value;
use shared::audit::{Action, AuditEntry};
use shared::db::{collections, number, Scope, Tx};
use shared::error::{ApiError, Code, FieldError};
use shared::fields::{self, Field, Kind};
use shared::http::ApiResponse;
use shared::model::UserStatus;
use shared::rbac::Permission;
use shared::records::{find_live, render, Entity, Filter, ListSpec, Numbering, Write};
use shared::runtime::{Ctx, HandlerResult};

use super::vehicles::{record_reading, Reading, VEHICLE, VEHICLES};
use super::{invoices, lines};

pub const WORK_ORDERS: &str = "work_orders";

/// A work order's statuses, in the order it normally moves through them.
pub const STATUSES: [&str; 7] = [
    "ESTIMATE",
    "APPROVED",
    "IN_PROGRESS",
    "COMPLETED",
    "INVOICED",
    "PAID",
    "CANCELLED",
];

/// Where a work order may go from `status`.
pub fn next(status: &str) -> &'static [&'static str] {
    match status {
        "ESTIMATE" => &["APPROVED", "CANCELLED"],
        "APPROVED" => &["IN_PROGRESS", "CANCELLED"],
        "IN_PROGRESS" => &["COMPLETED", "CANCELLED"],
        "COMPLETED" => &["INVOICED"],
        "INVOICED" => &["PAID"],
        _ => &[],
    }
}

const TEXT: Kind = Kind::Multiline { max: 10_000 };

/// The body of `POST /api/v1/work-orders/{id}/transition`.
pub(crate) static TRANSITION: &[Field] = &[Field::required(
    "to",
    Kind::Enum {
        values: &STATUSES,
        default: None,
    },
)];

pub static WORK_ORDER: Entity = Entity {
    collection: WORK_ORDERS,
    resource: "work_order",
    list: ListSpec {
        sort_fields: &["createdAt", "updatedAt", "number", "promisedAt"],
        default_sort: "-createdAt",
        search_fields: &["number", "complaint"],
        filters: &[
            Filter::text("status"),
            Filter::id("vehicleId"),
            Filter::id("accountId"),
            Filter::id("technicianId"),
            Filter::from("openedFrom", "createdAt"),
            Filter::to("openedTo", "createdAt"),
        ],
    },
    fields: &[
        Field::required("complaint", TEXT),
        Field::required("vehicleId", Kind::Ref(VEHICLES)),
        Field::optional("accountId", Kind::Ref(collections::ACCOUNTS)),
        Field::optional("technicianId", Kind::Ref(collections::USERS)),
        // Set by `POST .../transition` only: a body may send nothing but
        // the status a new work order starts in.
        Field::optional(
            "status",
            Kind::Enum {
                values: &STATUSES,
                default: Some("ESTIMATE"),
            },
        )
        .reserved(STATUSES.split_at(1).1),
        Field::optional("cause", TEXT),
        Field::optional("correction", TEXT),
        Field::optional("promisedAt", Kind::DateTime),
        Field::optional(
            "odometerIn",
            Kind::Integer {
                min: 0,
                max: 10_000_000,
            },
        ),
        Field::optional("notes", TEXT),
        Field::optional("currency", Kind::Currency),
    ],
    unique: &["number"],
    numbering: Some(Numbering {
        field: "number",
        prefix: "WO-",
        width: 6,
    }),
    prepare: Some(|scope, write, fields| Box::pin(prepare(scope, write, fields))),
    assignees: &["technicianId"],
    written: Some(|tx, write, after| Box::pin(written(tx, write, after))),
    ..Entity::DEFAULTS
};

/// In a work order's write transaction: its odometer reading (see
/// [`odometer_in`]) and the stock its PART lines hold. Deleting an open
/// work order (ESTIMATE, APPROVED, IN_PROGRESS) releases what its lines
/// reserved, as CANCELLED does; restoring it reserves that again, or is
/// refused (409 `INSUFFICIENT_STOCK`) and the work order stays deleted.
async fn written(tx: &mut Tx<'_>, write: Write<'_>, after: &Document) -> Result<(), ApiError> {
    let holds = lines::holds_stock(after);
    match write {
        Write::Delete if holds => {
            for (part, quantity) in lines::reservations(after) {
                lines::reserve(tx, part, -quantity).await?;
            }
            Ok(())
        }
        Write::Restore if holds => {
            for (part, quantity) in lines::reservations(after) {
                lines::reserve(tx, part, quantity).await?;
            }
            Ok(())
        }
        Write::Delete | Write::Restore => Ok(()),
        Write::Create | Write::Update(_) => odometer_in(tx, write, after).await,
    }
}

/// A work order's `odometerIn`, when set on create or changed by a PATCH,
/// is a reading of the vehicle's odometer (in the unit of its latest
/// reading, else km), taken now: one lower than the vehicle's latest
/// refuses the write (422 `ODOMETER_DECREASING` naming `odometerIn`).
/// Restoring a work order records nothing: its reading is on record.
async fn odometer_in(tx: &mut Tx<'_>, write: Write<'_>, after: &Document) -> Result<(), ApiError> {
    let Some(value) = number(after, "odometerIn") else {
        return Ok(());
    };
    let changed = match write {
        Write::Create => true,
        Write::Update(before) => number(before, "odometerIn") != Some(value),
        Write::Restore | Write::Delete => false,
    };
    if !changed {
        return Ok(());
    }
    let (Ok(vehicle), Ok(id)) = (after.get_object_id("vehicleId"), after.get_object_id("_id"))
    else {
        return Err(ApiError::internal("work order without vehicle"));
    };
    let unit = tx
        .find_one(VEHICLES, doc! { "_id": vehicle })
        .await?
        .and_then(|v| {
            Some(
                v.get_document("odometer")
                    .ok()?
                    .get_str("unit")
                    .ok()?
                    .to_string(),
            )
        })
        .unwrap_or_else(|| "km".into());
    let reading = Reading {
        vehicle,
        value,
        unit: &unit,
        read_at: DateTime::now(),
        correction: false,
        field: "odometerIn",
        work_order: Some(id),
    };
    record_reading(tx, &reading).await.map(drop)
}

/// See [`customer_and_technician`]; a new work order is in the
/// organization's currency (else USD) and has no lines yet. A PATCH
/// changes nothing once the work order is INVOICED (409
/// `INVALID_TRANSITION`), and neither its vehicle nor its currency once it
/// has a line (422 naming the field): its prices were taken in that
/// currency, its stock reserved for that car.
async fn prepare(scope: &Scope, write: Write<'_>, fields: &mut Document) -> Result<(), ApiError> {
    if !fields.contains_key("vehicleId") {
        return Err(ApiError::field("vehicleId", "is required"));
    }
    if let Write::Update(before) = write {
        let status = before.get_str("status").unwrap_or("ESTIMATE");
        if matches!(status, "INVOICED" | "PAID") {
            return Err(ApiError::conflict(
                Code::InvalidTransition,
                format!("A {status} work order no longer changes"),
            ));
        }
        let priced = before.get_array("lines").is_ok_and(|l| !l.is_empty());
        for field in ["vehicleId", "currency"] {
            if priced && before.get(field) != fields.get(field) {
                return Err(ApiError::field(
                    field,
                    "cannot change: the work order has lines priced for it",
                ));
            }
        }
    }
    customer_and_technician(scope, write, fields).await?;
    if let Write::Update(_) = write {
        return Ok(());
    }
    if !fields.contains_key("currency") {
        let org = scope.caller().org.settings.as_ref();
        let currency = org
            .and_then(|s| s.get_str("currency").ok())
            .unwrap_or("USD");
        fields.insert("currency", currency);
    }
    fields.extend(lines::empty());
    Ok(())
}

/// The rules a work order and an appointment share, on create and on
/// PATCH: with a `vehicleId`, the account is the vehicle's owner (filled
/// in when not given, a 422 when another; a PATCH that moves the record to
/// another vehicle and names no account takes the new vehicle's owner); a
/// `technicianId` must be an ACTIVE member. A PATCH checks what it changes:
/// a technician who has since left stays on the records they worked.
pub async fn customer_and_technician(
    scope: &Scope,
    write: Write<'_>,
    fields: &mut Document,
) -> Result<(), ApiError> {
    let changed = |f: &str, fields: &Document| match write {
        Write::Update(before) => before.get(f) != fields.get(f),
        _ => true,
    };
    if let Write::Update(before) = write {
        if changed("vehicleId", fields) && !changed("accountId", fields) {
            fields.remove("accountId");
        }
        if !changed("vehicleId", fields) && !changed("accountId", fields) {
            return technician(scope, before, fields).await;
        }
    }
    if let Ok(vehicle_id) = fields.get_object_id("vehicleId") {
        let vehicle = find_live(scope, &VEHICLE, vehicle_id).await?;
        let owner = vehicle
            .get_object_id("accountId")
            .map_err(|_| ApiError::internal("vehicle without owner"))?;
        match fields.get_object_id("accountId") {
            Ok(given) if given != owner => {
                return Err(ApiError::field("accountId", "must be the vehicle's owner"))
            }
            Ok(_) => {}
            Err(_) => {
                fields.insert("accountId", owner);
            }
        }
    }
    match write {
        Write::Update(before) => technician(scope, before, fields).await,
        _ => technician(scope, &Document::new(), fields).await,
    }
}

/// A `technicianId` that differs from `before`'s must be an ACTIVE member.
async fn technician(scope: &Scope, before: &Document, fields: &Document) -> Result<(), ApiError> {
    if before.get("technicianId") == fields.get("technicianId") {
        return Ok(());
    }
    if let Ok(technician) = fields.get_object_id("technicianId") {
        let active = scope
            .collection(collections::USERS)
            .find_one(doc! { "_id": technician, "status": UserStatus::Active.as_str() })
            .await?
            .is_some();
        if !active {
            return Err(ApiError::field(
                "technicianId",
                "is not an active member of the organization",
            ));
        }
    }
    Ok(())
}

/// `POST /api/v1/work-orders/{id}/transition` `{to}`: moves the work order
/// along an allowed transition (409 `INVALID_TRANSITION` naming the
/// allowed ones). MEMBERs move the work orders they created or work on,
/// up to COMPLETED; cancelling one already IN_PROGRESS, invoicing and
/// marking paid need an ADMIN+.
pub async fn transition(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let id = ctx.path_id()?;
    let before = find_live(scope, &WORK_ORDER, id).await?;
    let body: Value = ctx.req.json()?;
    let (input, _) = fields::parse_create(TRANSITION, &body)?;
    let to = input.get_str("to").unwrap_or_default().to_string();
    let from = before.get_str("status").unwrap_or("ESTIMATE").to_string();
    let allowed = next(&from);
    if !allowed.contains(&to.as_str()) {
        return Err(ApiError::Conflict {
            code: Code::InvalidTransition,
            detail: if allowed.is_empty() {
                format!("A {from} work order does not change status any more")
            } else {
                format!(
                    "From {from} a work order can go to {}",
                    allowed.join(" or ")
                )
            },
            errors: vec![FieldError::new("to", format!("cannot be {to} from {from}"))],
        });
    }
    if !WORK_ORDER.is_callers(scope, &before) {
        scope.require(Permission::UpdateAnyRecord).await?;
    }
    if to == "IN_PROGRESS" && !lines::has_approved_line(&before) {
        return Err(ApiError::Conflict {
            code: Code::InvalidTransition,
            detail: "Work starts once the customer approved at least one line (POST .../approval)"
                .into(),
            errors: vec![FieldError::new("to", "needs an approved line")],
        });
    }
    if matches!(to.as_str(), "INVOICED" | "PAID") || (to == "CANCELLED" && from == "IN_PROGRESS") {
        scope.require(Permission::UpdateAnyRecord).await?;
    }
    let balance = number(&before, "balance").unwrap_or(0);
    if to == "PAID" && balance != 0 {
        return Err(ApiError::Conflict {
            code: Code::InvalidTransition,
            detail: format!(
                "The balance is {balance}: a work order is PAID once its payments cover it (POST .../payments)"
            ),
            errors: vec![FieldError::new("to", "needs a balance of 0")],
        });
    }
    if to == "INVOICED" {
        scope.ensure_sequence(invoices::INVOICES).await?;
    }
    let mut filter = doc! { "_id": id, "deletedAt": null, "status": &from };
    if to == "PAID" {
        filter.insert("balance", 0_i64);
    }
    let filter = &filter;
    let (from_ref, to_ref) = (from.as_str(), to.as_str());
    let actor = scope.caller().user.id;
    let after = scope
        .transaction(|tx| {
            Box::pin(async move {
                let now = DateTime::now();
                let stamp = format!("{}At", to_ref.to_lowercase().replace('_', ""));
                let Some(mut after) = tx
                    .find_one_and_update(
                        WORK_ORDERS,
                        filter.clone(),
                        doc! {
                            "$set": { "status": to_ref, "updatedAt": now, stamp: now },
                            "$inc": { "version": 1_i64 },
                        },
                    )
                    .await?
                else {
                    return Ok(None);
                };
                // Checked again on the work order as it is written: a line
                // declined or repriced meanwhile leaves none approved.
                if to_ref == "IN_PROGRESS" && !lines::has_approved_line(&after) {
                    return Err(ApiError::Conflict {
                        code: Code::InvalidTransition,
                        detail: "Work starts once the customer approved at least one line (POST .../approval)".into(),
                        errors: vec![FieldError::new("to", "needs an approved line")],
                    });
                }
                // The stock the PART lines hold: used up on completion,
                // given back on cancellation.
                for (part, quantity) in lines::reservations(&after) {
                    match to_ref {
                        "COMPLETED" => lines::consume(tx, part, quantity, id, actor).await?,
                        "CANCELLED" => lines::reserve(tx, part, -quantity).await?,
                        _ => {}
                    }
                }
                let mut change = doc! { "status": { "from": from_ref, "to": to_ref } };
                if to_ref == "INVOICED" {
                    after = invoices::issue(tx, &after).await?;
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
