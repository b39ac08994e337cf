//! Work orders: a vehicle's visit to the workshop, numbered per
//! organization (`WO-000001`, consecutive even under concurrent creates),
//! owned by the vehicle's owner; the entity, and the rules its creates,
//! PATCHes, deletes and restores keep. Its status moves only through
//! [`super::transitions`].

use bson::oid::ObjectId;
use bson::{doc, DateTime, Document};
use shared::db::{collections, number, Scope, Tx};
use shared::error::{ApiError, Code};
use shared::fields::{Field, Kind};
use shared::model::UserStatus;
use shared::records::{find_live, Entity, Filter, ListSpec, Numbering, Write};

use super::order::{self, Order, Status, WORK_ORDERS};
use super::parts::reserve;
use super::vehicles::{record_reading, Reading, VEHICLE, VEHICLES};

const TEXT: Kind = Kind::Multiline { max: 10_000 };

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
        Field::optional("accountId", Kind::Ref(crate::crm::collections::ACCOUNTS)),
        Field::optional("technicianId", Kind::Ref(collections::USERS)),
        // Set by `POST .../transition` only: a body may send nothing but
        // the status a new work order starts in.
        Field::optional(
            "status",
            Kind::Enum {
                values: Status::NAMES,
                default: Some(Status::Estimate.as_str()),
            },
        )
        .reserved(Status::NAMES.split_at(1).1),
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
        // Off the whole work order, shared over its lines (see
        // `order::with_totals`).
        Field::optional("discount", Kind::Custom(&order::DISCOUNT)),
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

/// The live work order `id` as transaction `tx` reads it: the stored
/// document and its typed view (404 when deleted or another
/// organization's).
pub async fn read_in(tx: &mut Tx<'_>, id: ObjectId) -> Result<(Document, Order), ApiError> {
    let order = tx
        .find_one(WORK_ORDERS, doc! { "_id": id, "deletedAt": null })
        .await?
        .ok_or(ApiError::NotFound {
            resource: "work_order",
        })?;
    let read = Order::of(&order)?;
    Ok((order, read))
}

/// In a work order's write transaction: its odometer reading (see
/// [`odometer_in`]) and the stock its PART lines hold. Deleting an open
/// work order (ESTIMATE, APPROVED, IN_PROGRESS) releases what its lines
/// reserved, as CANCELLED does; restoring it reserves that again, or is
/// refused (409 `INSUFFICIENT_STOCK`) and the work order stays deleted.
async fn written(tx: &mut Tx<'_>, write: Write<'_>, after: &Document) -> Result<(), ApiError> {
    match write {
        Write::Delete | Write::Restore => {
            // An invoiced work order leaves the reports' rollup when deleted
            // and comes back when restored.
            let sign = if matches!(write, Write::Delete) {
                -1
            } else {
                1
            };
            super::rollup::invoice(tx, after, sign)?;
            let order = Order::of(after)?;
            if !order.holds_stock() {
                return Ok(());
            }
            let sign = if matches!(write, Write::Delete) {
                -1
            } else {
                1
            };
            for (part, quantity) in order.reservations() {
                reserve(tx, part, sign * quantity).await?;
            }
            Ok(())
        }
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
        let status = Status::of(before);
        if matches!(status, Status::Invoiced | Status::Paid) {
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
    let before = match write {
        Write::Update(before) => Some(before),
        _ => None,
    };
    if before.is_none_or(|b| b.get("accountId") != fields.get("accountId")) {
        exemption(scope, fields).await?;
    }
    let Some(before) = before else {
        if matches!(
            order::Discount::of(fields, "discount"),
            Some(order::Discount::Amount(_))
        ) {
            return Err(ApiError::field(
                "discount.amount",
                "is more than the work order's lines come to (0): add the lines first, or give a percent",
            ));
        }
        if !fields.contains_key("currency") {
            fields.insert("currency", organization_currency(scope));
        }
        fields.extend(order::empty());
        return Ok(());
    };
    reprice(scope, before, fields)
}

/// The customer's tax exemption, as the account has it when the work order
/// is opened or moved to another customer (`taxExempt`, `taxExemptReason`):
/// kept on the work order, so a later change of the account changes no
/// estimate the customer has seen.
async fn exemption(scope: &Scope, fields: &mut Document) -> Result<(), ApiError> {
    let account = match fields.get_object_id("accountId") {
        Ok(id) => Some(find_live(scope, &crate::crm::accounts::ACCOUNT, id).await?),
        Err(_) => None,
    };
    let exempt = account
        .as_ref()
        .is_some_and(|a| a.get_bool("taxExempt").unwrap_or(false));
    fields.insert("taxExempt", exempt);
    let reason = account
        .as_ref()
        .filter(|_| exempt)
        .and_then(|a| a.get_str("taxExemptReason").ok());
    fields.insert("taxExemptReason", reason);
    Ok(())
}

/// A PATCH that changes what prices the lines (the discount, the
/// customer's exemption) prices them again, while they still change (409
/// `INVALID_TRANSITION` after); an amount off the work order is at most
/// what its lines come to (422 on `discount.amount`).
fn reprice(scope: &Scope, before: &Document, fields: &mut Document) -> Result<(), ApiError> {
    let exempt = |d: &Document| d.get_bool("taxExempt").unwrap_or(false);
    let changed =
        before.get("discount") != fields.get("discount") || exempt(before) != exempt(fields);
    if !changed {
        return Ok(());
    }
    let status = Status::of(before);
    if !status.lines_change() {
        return Err(ApiError::conflict(
            Code::InvalidTransition,
            format!("The prices of a {status} work order no longer change"),
        ));
    }
    let pricing = order::Pricing::of(fields, scope.caller().org.settings.as_ref());
    let mut set = order::with_totals(order::lines_of(before), &pricing, "discount")?;
    order::agree_again_when_raised(&order::lines_of(before), &mut set);
    if let Some(order::Discount::Amount(asked)) = pricing.discount {
        let applied: i64 = set
            .get_array("lines")
            .map(|a| {
                a.iter()
                    .filter_map(bson::Bson::as_document)
                    .filter(|l| order::Approval::of(l) != Some(order::Approval::Declined))
                    .filter_map(|l| number(l, "orderDiscount"))
                    .sum()
            })
            .unwrap_or(0);
        if applied < asked {
            return Err(ApiError::field(
                "discount.amount",
                format!("is more than the work order's lines come to ({applied})"),
            ));
        }
    }
    fields.extend(set);
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

/// The organization's currency (`settings.currency`, USD when unset): a
/// new work order's, and what canned jobs and reports price in.
pub fn organization_currency(scope: &Scope) -> &str {
    scope
        .caller()
        .org
        .settings
        .as_ref()
        .and_then(|s| s.get_str("currency").ok())
        .unwrap_or("USD")
}
