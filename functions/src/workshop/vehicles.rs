//! Vehicles: each belongs to an account (its owner), with a VIN (checked,
//! unique among the organization's live vehicles), a licence plate (unique
//! the same way, compared without case, spaces and dashes), and odometer
//! readings that never go down unless an ADMIN says it is a correction.

use bson::oid::ObjectId;
use bson::{doc, DateTime, Document};
use http::StatusCode;
use serde_json::{json, Value};
use shared::audit::{Action, AuditEntry};
use shared::db::{number, Scope, Tx};
use shared::error::{id_of, ApiError, Code, FieldError};
use shared::fields::{self, Field, Kind};
use shared::http::ApiResponse;
use shared::migrate::Index;
use shared::rbac::Permission;
use shared::records::{find_live, page, render, Entity, Filter, ListSpec};
use shared::runtime::{ok, Ctx, HandlerResult};

use super::kinds::{MODEL_YEAR, PLATE, VIN};
use super::order::WORK_ORDERS;
use shared::time::MINUTE_MS;

pub const VEHICLES: &str = "vehicles";
pub const ODOMETER_READINGS: &str = "odometer_readings";

pub static VEHICLE: Entity = Entity {
    collection: VEHICLES,
    resource: "vehicle",
    list: ListSpec {
        sort_fields: &["createdAt", "updatedAt", "make", "year"],
        default_sort: "-createdAt",
        search_fields: &["vin", "plate", "make", "model"],
        filters: &[
            Filter::id("accountId"),
            Filter::text("make"),
            Filter::integer("year"),
        ],
    },
    fields: &[
        Field::required("make", Kind::Text { min: 1, max: 50 }),
        Field::optional("model", Kind::Text { min: 0, max: 100 }),
        Field::optional("year", Kind::Custom(&MODEL_YEAR)),
        Field::required("accountId", Kind::Ref(crate::crm::collections::ACCOUNTS)),
        Field::optional("contactId", Kind::Ref(crate::crm::collections::CONTACTS)),
        Field::optional("vin", Kind::Custom(&VIN)),
        Field::optional("plate", Kind::Custom(&PLATE)),
        Field::optional("color", Kind::Text { min: 0, max: 50 }),
        Field::optional("engine", Kind::Text { min: 0, max: 100 }),
        Field::optional("notes", Kind::Multiline { max: 10_000 }),
    ],
    unique_live: &["vin", "plate"],
    importable: true,
    ..Entity::DEFAULTS
};

/// The body of `POST /api/v1/vehicles/{id}/odometer`.
pub(crate) static READING: &[Field] = &[
    Field::required(
        "value",
        Kind::Integer {
            min: 0,
            max: 10_000_000,
        },
    ),
    Field::required(
        "unit",
        Kind::Enum {
            values: &["km", "mi"],
            default: None,
        },
    ),
    Field::optional("readAt", Kind::DateTime),
    Field::optional("correction", Kind::Bool { default: None }),
];

/// Readings are listed per vehicle, newest first.
pub fn indexes() -> Vec<Index> {
    vec![Index::on(
        ODOMETER_READINGS,
        doc! { "organizationId": 1, "vehicleId": 1, "readAt": -1, "_id": -1 },
    )]
}

/// A reading in metres, so kilometres and miles compare exactly enough.
pub(crate) fn metres(value: i64, unit: &str) -> i64 {
    match unit {
        "mi" => value.saturating_mul(1_609_344) / 1000,
        _ => value.saturating_mul(1000),
    }
}

/// `POST /api/v1/vehicles/{id}/odometer` `{value, unit: km|mi, readAt?,
/// correction?}` -> 201 with the reading. A reading taken after the
/// vehicle's latest must not be lower, one taken before it must not be
/// higher (422 `ODOMETER_DECREASING`), unless an ADMIN+ marks it a
/// `correction` (audited as such). The vehicle shows the latest reading.
pub async fn add_reading(ctx: &Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let vehicle_id = ctx.path_id()?;
    // Another organization's vehicle is a 404 whatever the body says.
    find_live(scope, &VEHICLE, vehicle_id).await?;
    let body: Value = ctx.req.json()?;
    let (input, _) = fields::parse_create(READING, &body)?;
    let correction = input.get_bool("correction").unwrap_or(false);
    if correction {
        scope.require(Permission::UpdateAnyRecord).await?;
    }
    let value = number(&input, "value").unwrap_or(0);
    let unit = input.get_str("unit").unwrap_or("km").to_string();
    let now = DateTime::now();
    let read_at = input.get_datetime("readAt").copied().unwrap_or(now);
    if read_at.timestamp_millis() > now.timestamp_millis() + 5 * MINUTE_MS {
        return Err(ApiError::field("readAt", "cannot be in the future"));
    }
    let reading = Reading {
        vehicle: vehicle_id,
        value,
        unit: &unit,
        read_at,
        correction,
        field: "value",
        work_order: None,
    };
    let reading = &reading;
    let stored = scope
        .transaction(|tx| Box::pin(async move { record_reading(tx, reading).await }))
        .await?;
    Ok(ApiResponse::json(
        StatusCode::CREATED,
        &render_reading(&stored, scope),
    ))
}

/// One odometer reading to record.
pub struct Reading<'a> {
    pub vehicle: ObjectId,
    pub value: i64,
    pub unit: &'a str,
    pub read_at: DateTime,
    pub correction: bool,
    /// The body field an out-of-order reading is blamed on.
    pub field: &'a str,
    /// The work order that took it (its `odometerIn`).
    pub work_order: Option<ObjectId>,
}

/// Records `r` in the transaction: refused (422 `ODOMETER_DECREASING`)
/// when out of order with the vehicle's latest unless a correction; the
/// vehicle shows it when it is the newest; audited. Returns the stored
/// reading.
pub async fn record_reading(tx: &mut Tx<'_>, r: &Reading<'_>) -> Result<Document, ApiError> {
    let vehicle = tx
        .find_one(VEHICLES, doc! { "_id": r.vehicle, "deletedAt": null })
        .await?
        .ok_or(ApiError::NotFound {
            resource: "vehicle",
        })?;
    let latest = vehicle.get_document("odometer").ok();
    let (latest_m, latest_at) = (
        latest.and_then(|o| number(o, "metres")),
        latest.and_then(|o| o.get_datetime("readAt").ok().copied()),
    );
    let m = metres(r.value, r.unit);
    let newest = latest_at.is_none_or(|t| r.read_at >= t);
    let decreasing = match latest_m {
        Some(l) if newest => m < l,
        Some(l) => m > l,
        None => false,
    };
    if decreasing && !r.correction {
        return Err(ApiError::Unprocessable {
            code: Code::OdometerDecreasing,
            detail: "An odometer never goes down: a later reading must not be lower than an earlier one (an ADMIN may send correction: true to the vehicle's odometer)".into(),
            errors: vec![FieldError::new(r.field, "is out of order with the vehicle's latest reading")],
        });
    }
    let now = DateTime::now();
    let reading = doc! {
        "_id": ObjectId::new(),
        "vehicleId": r.vehicle,
        "value": r.value,
        "unit": r.unit,
        "metres": m,
        "readAt": r.read_at,
        "correction": r.correction,
        "workOrderId": r.work_order,
        "createdBy": tx.scope().caller().user.id,
        "createdAt": now,
    };
    tx.insert_one(ODOMETER_READINGS, reading.clone()).await?;
    if newest || r.correction {
        tx.find_one_and_update(
            VEHICLES,
            doc! { "_id": r.vehicle },
            doc! {
                "$set": {
                    "odometer": {
                        "value": r.value, "unit": r.unit, "metres": m, "readAt": r.read_at,
                    },
                    "updatedAt": now,
                },
                "$inc": { "version": 1_i64 },
            },
        )
        .await?;
    }
    let id = id_of(&reading, "reading")?;
    tx.audit(
        AuditEntry::new(Action::Create, "odometer_reading")
            .id(id)
            .changes(doc! {
                "vehicleId": r.vehicle, "value": r.value, "unit": r.unit,
                "readAt": r.read_at, "correction": r.correction, "workOrderId": r.work_order,
            }),
    )
    .await?;
    let shown = render_reading(&reading, tx.scope());
    tx.announce("vehicle.odometer_recorded", &shown);
    Ok(reading)
}

fn render_reading(d: &Document, scope: &Scope) -> Value {
    let mut out = render(d);
    if let Some(o) = out.as_object_mut() {
        o.remove("metres");
        o.insert("organizationId".into(), json!(scope.org_id().to_hex()));
    }
    out
}

/// How a vehicle's readings are paged: newest first by default.
pub(crate) static READINGS_LIST: ListSpec = ListSpec {
    sort_fields: &["readAt"],
    default_sort: "-readAt",
    search_fields: &[],
    filters: &[],
};

/// How a vehicle's work orders are paged: newest first by default.
pub(crate) static HISTORY_LIST: ListSpec = ListSpec {
    sort_fields: &["createdAt"],
    default_sort: "-createdAt",
    search_fields: &[],
    filters: &[],
};

/// `GET /api/v1/vehicles/{id}/odometer`: the readings, newest first, paged
/// by cursor like every list (`limit`, `cursor`).
pub async fn readings(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let vehicle_id = ctx.path_id()?;
    find_live(scope, &VEHICLE, vehicle_id).await?;
    let (docs, next) = page(
        &ctx.req,
        scope,
        ODOMETER_READINGS,
        &READINGS_LIST,
        doc! { "vehicleId": vehicle_id },
        None,
    )
    .await?;
    let data: Vec<Value> = docs.iter().map(|d| render_reading(d, scope)).collect();
    ok(json!({ "data": data, "nextCursor": next }))
}

/// `GET /api/v1/vehicles/{id}/history`: the vehicle's work orders, newest
/// first, with their totals, paged by cursor.
pub async fn history(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let vehicle_id = ctx.path_id()?;
    let vehicle = find_live(scope, &VEHICLE, vehicle_id).await?;
    let (orders, next) = page(
        &ctx.req,
        scope,
        WORK_ORDERS,
        &HISTORY_LIST,
        doc! { "vehicleId": vehicle_id, "deletedAt": null },
        None,
    )
    .await?;
    let data: Vec<Value> = orders.iter().map(render).collect();
    ok(json!({ "vehicle": render(&vehicle), "data": data, "nextCursor": next }))
}
