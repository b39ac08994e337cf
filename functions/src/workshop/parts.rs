//! Parts inventory: each part has a SKU (unique in the organization),
//! prices in minor units, and stock that changes only through movements.
//! `onHand`, `reserved` and `available` (= onHand - reserved) are counters
//! no body can set; every change to them writes a `stock_movements` row in
//! the same transaction, so the stock is always the sum of its movements
//! and never goes below what is reserved, nor below 0.

use bson::oid::ObjectId;
use bson::{doc, DateTime, Document};
use http::StatusCode;
use serde_json::{json, Value};
use shared::audit::{Action, AuditEntry};
use shared::db::{number, Tx};
use shared::error::{id_of, ApiError, Code, FieldError};
use shared::fields::{self, Field, Kind};
use shared::http::ApiResponse;
use shared::migrate::Index;
use shared::records::{find_live, render, Entity, Filter, ListSpec};
use shared::runtime::{ok, Ctx, HandlerResult};

pub const PARTS: &str = "parts";
pub const STOCK_MOVEMENTS: &str = "stock_movements";

const COUNT: Kind = Kind::Integer {
    min: 0,
    max: 1_000_000_000,
};

pub static PART: Entity = Entity {
    collection: PARTS,
    resource: "part",
    list: ListSpec {
        sort_fields: &["createdAt", "updatedAt", "sku", "name"],
        default_sort: "-createdAt",
        search_fields: &["sku", "name", "brand"],
        filters: &[
            Filter::text("brand"),
            Filter::text("binLocation"),
            Filter::custom("lowStock", "available", low_stock),
        ],
    },
    fields: &[
        Field::required("sku", Kind::Text { min: 1, max: 64 }),
        Field::required("name", Kind::Text { min: 1, max: 200 }),
        Field::optional("brand", Kind::Text { min: 0, max: 100 }),
        Field::optional("unitCost", Kind::Money),
        Field::optional("unitPrice", Kind::Money),
        Field::optional("currency", Kind::Currency),
        Field::optional(
            "taxRate",
            Kind::Integer {
                min: 0,
                max: 10_000,
            },
        ),
        Field::optional("binLocation", Kind::Text { min: 0, max: 50 }),
        Field::optional("reorderLevel", COUNT),
        Field::optional("reorderQuantity", COUNT),
        // What a reorder suggestion fills the position up to.
        Field::optional("reorderUpTo", COUNT),
    ],
    unique: &["sku"],
    importable: true,
    // `onOrder`: ordered from vendors and not received yet.
    counters: &["onHand", "reserved", "available", "onOrder"],
    prepare: Some(|scope, write, fields| Box::pin(cost_by_admin(scope, write, fields))),
    ..Entity::DEFAULTS
};

/// A part's `unitCost` is set by ADMIN+ only (until receiving keeps it as a
/// moving average), on create and on PATCH alike; every PART line copies
/// it when it is added.
async fn cost_by_admin(
    scope: &shared::db::Scope,
    write: shared::records::Write<'_>,
    fields: &mut Document,
) -> Result<(), ApiError> {
    let changes = match write {
        shared::records::Write::Create => fields.contains_key("unitCost"),
        shared::records::Write::Update(before) => fields.get("unitCost") != before.get("unitCost"),
        shared::records::Write::Restore | shared::records::Write::Delete => false,
    };
    if changes {
        scope
            .require(shared::rbac::Permission::UpdateAnyRecord)
            .await?;
    }
    Ok(())
}

/// `lowStock=true`: parts whose available stock is at or under their
/// reorder level (a part without one is never low).
fn low_stock(value: &str) -> Result<Document, ApiError> {
    match value {
        "true" => Ok(doc! {
            "reorderLevel": { "$type": "number" },
            "$expr": { "$lte": ["$available", "$reorderLevel"] },
        }),
        "false" => Ok(doc! {
            "$expr": { "$not": [{ "$lte": ["$available", { "$ifNull": ["$reorderLevel", -1] }] }] },
        }),
        _ => Err(ApiError::bad_field(
            Code::InvalidParameter,
            "lowStock",
            "must be true or false",
        )),
    }
}

/// The reasons an adjustment may give (work orders add CONSUMED).
const ADJUSTMENT_REASONS: [&str; 4] = ["RECEIVED", "COUNT", "DAMAGED", "RETURNED"];

/// The body of `POST /api/v1/parts/{id}/adjustments`.
pub(crate) static ADJUSTMENT: &[Field] = &[
    Field::required(
        "quantity",
        Kind::Integer {
            min: -1_000_000_000,
            max: 1_000_000_000,
        },
    ),
    Field::required(
        "reason",
        Kind::Enum {
            values: &ADJUSTMENT_REASONS,
            default: None,
        },
    ),
    Field::optional("note", Kind::Multiline { max: 1_000 }),
];

/// Movements are listed per part, newest first.
pub fn indexes() -> Vec<Index> {
    vec![Index::on(
        STOCK_MOVEMENTS,
        doc! { "organizationId": 1, "partId": 1, "createdAt": -1, "_id": -1 },
    )]
}

fn insufficient(available: i64, asked: i64) -> ApiError {
    ApiError::Conflict {
        code: Code::InsufficientStock,
        detail: format!(
            "Only {available} available: stock cannot go below what open work orders reserve, nor below 0 (asked to remove {asked})"
        ),
        errors: vec![FieldError::new("quantity", "is more than the stock allows")],
    }
}

/// The most of a part a workshop may hold: far past any shelf, and far
/// from where a sum of stock could wrap.
const MAX_STOCK: i64 = 1_000_000_000_000;

/// 422 `AMOUNT_OUT_OF_RANGE`: the stock would pass [`MAX_STOCK`].
fn too_much() -> ApiError {
    ApiError::Unprocessable {
        code: Code::AmountOutOfRange,
        detail: format!("A part holds at most {MAX_STOCK} units"),
        errors: vec![FieldError::new(
            "quantity",
            format!("would take the stock past {MAX_STOCK}"),
        )],
    }
}

/// `POST /api/v1/parts/{id}/adjustments` `{quantity, reason, note}`
/// (ADMIN+): moves `onHand` by `quantity` (non-zero) and records the
/// movement, in one transaction; 409 `INSUFFICIENT_STOCK` when `onHand`
/// would fall below `reserved` or below 0, changing nothing.
pub async fn adjust(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let part_id = ctx.path_id()?;
    let current = find_live(scope, &PART, part_id).await?;
    let body: Value = ctx.req.json()?;
    let (input, _) = fields::parse_create(ADJUSTMENT, &body)?;
    let quantity = number(&input, "quantity").unwrap_or(0);
    if quantity == 0 {
        return Err(ApiError::field("quantity", "must not be 0"));
    }
    // What is already short is refused before any transaction, so a burst
    // on an emptied part does not queue up behind the write lock; the
    // transaction checks again against what it reads.
    let (on_hand, reserved) = (
        number(&current, "onHand").unwrap_or(0),
        number(&current, "reserved").unwrap_or(0),
    );
    if on_hand + quantity < reserved.max(0) {
        return Err(insufficient(on_hand - reserved, -quantity));
    }
    if on_hand.checked_add(quantity).is_none_or(|n| n > MAX_STOCK) {
        return Err(too_much());
    }
    let reason = input.get_str("reason").unwrap_or_default().to_string();
    let movement = doc! {
        "_id": ObjectId::new(),
        "partId": part_id,
        "delta": quantity,
        "reason": &reason,
        "note": input.get_str("note").ok(),
        "workOrderId": null,
        "actor": scope.caller().user.id,
        "createdAt": DateTime::now(),
    };
    let movement = &movement;
    let part = scope
        .transaction(|tx| {
            Box::pin(async move {
                let part = tx
                    .find_one(PARTS, doc! { "_id": part_id, "deletedAt": null })
                    .await?
                    .ok_or(ApiError::NotFound { resource: "part" })?;
                let on_hand = number(&part, "onHand").unwrap_or(0);
                let reserved = number(&part, "reserved").unwrap_or(0);
                if on_hand + quantity < reserved.max(0) {
                    return Err(insufficient(on_hand - reserved, -quantity));
                }
                if on_hand.checked_add(quantity).is_none_or(|n| n > MAX_STOCK) {
                    return Err(too_much());
                }
                let after = tx
                    .find_one_and_update(
                        PARTS,
                        doc! { "_id": part_id, "onHand": on_hand, "reserved": reserved },
                        doc! {
                            "$inc": { "onHand": quantity, "available": quantity, "version": 1_i64 },
                            "$set": { "updatedAt": DateTime::now() },
                        },
                    )
                    .await?
                    .ok_or_else(|| ApiError::conflict(Code::WriteConflict, "The part's stock changed meanwhile; retry"))?;
                announce_low(tx, on_hand - reserved, &after);
                tx.insert_one(STOCK_MOVEMENTS, movement.clone()).await?;
                let id = id_of(movement, "stock movement")?;
                tx.audit(
                    AuditEntry::new(Action::Create, "stock_movement")
                        .id(id)
                        .changes(doc! {
                            "partId": part_id, "delta": quantity, "reason": movement.get_str("reason").unwrap_or_default(),
                            "onHand": { "from": on_hand, "to": on_hand + quantity },
                        }),
                )
                .await?;
                Ok(after)
            })
        })
        .await?;
    let mut out = render(movement);
    out["part"] = render(&part);
    Ok(ApiResponse::json(StatusCode::CREATED, &out))
}

/// `GET /api/v1/parts/{id}/movements`: the part's stock movements, newest
/// first, paged by cursor like every list (`limit`, `cursor`).
pub async fn movements(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let part_id = ctx.path_id()?;
    find_live(scope, &PART, part_id).await?;
    let (docs, next) = shared::records::page(
        &ctx.req,
        scope,
        STOCK_MOVEMENTS,
        &MOVEMENTS_LIST,
        doc! { "partId": part_id },
        None,
    )
    .await?;
    let data: Vec<Value> = docs.iter().map(render).collect();
    ok(json!({ "data": data, "nextCursor": next }))
}

/// How a part's movements are paged: newest first by default.
pub(crate) static MOVEMENTS_LIST: shared::records::ListSpec = shared::records::ListSpec {
    sort_fields: &["createdAt"],
    default_sort: "-createdAt",
    search_fields: &[],
    filters: &[],
};

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
    let after = tx.find_one_and_update(
        PARTS,
        doc! { "_id": part, "reserved": reserved, "available": available },
        doc! { "$inc": { "reserved": delta, "available": -delta, "version": 1_i64 }, "$set": { "updatedAt": DateTime::now() } },
    )
    .await?
    .ok_or_else(|| ApiError::conflict(Code::WriteConflict, "The part's stock changed meanwhile; retry"))?;
    announce_low(tx, available, &after);
    Ok(())
}

/// Announces `part.stock_low` when a write takes a part's available stock
/// from above its reorder level to it or below (once per crossing, not on
/// every write while low).
fn announce_low(tx: &mut Tx<'_>, available_before: i64, after: &Document) {
    let (Some(level), Some(available)) =
        (number(after, "reorderLevel"), number(after, "available"))
    else {
        return;
    };
    if available <= level && available_before > level {
        tx.announce("part.stock_low", &render(after));
    }
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
