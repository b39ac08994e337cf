//! Digital vehicle inspections: templates (an entity, ADMIN+ to write)
//! copied into a work order, where each item gets a rating (GREEN, YELLOW,
//! RED or NA), a measurement (a measurement under a threshold suggests the
//! rating), a note for the customer and an internal one, and may recommend
//! work: PENDING lines added to the work order, linked to the item, in
//! the item's transaction. Completing freezes ratings and measurements
//! (notes stay editable); reopening is ADMIN+ and audited. A copy is the
//! work order's own: editing or deleting the template changes no
//! inspection made from it.
//!
//! Measurements and thresholds are integers in the item's `unit` (declare
//! `0.1 mm` to measure tread depth to a tenth of a millimetre).

use bson::oid::ObjectId;
use bson::{doc, Bson, DateTime, Document};
use serde::Deserialize;
use serde_json::{json, Value};
use shared::audit::{Action, AuditEntry};
use shared::db::{number, Scope};
use shared::error::{ApiError, Code, FieldError};
use shared::fields::{Field, Kind};
use shared::http::ApiResponse;
use shared::migrate::Index;
use shared::rbac::Permission;
use shared::records::{find_live, render, Entity, ListSpec};
use shared::runtime::{Ctx, HandlerResult};
use shared::validate::Errors;

use super::lines::{add_lines, new_line};
use super::order::{Order, Status};
use super::work_orders::WORK_ORDER;

pub const TEMPLATES: &str = "inspection_templates";
pub const INSPECTIONS: &str = "inspections";

/// An item's kinds and ratings.
pub const KINDS: &[&str] = &["RATING", "MEASUREMENT", "CHECK"];
pub const RATINGS: &[&str] = &["GREEN", "YELLOW", "RED", "NA"];

const VALUE: Kind = Kind::Integer {
    min: -1_000_000_000,
    max: 1_000_000_000,
};

static THRESHOLDS: &[Field] = &[
    Field::optional("yellowBelow", VALUE),
    Field::optional("redBelow", VALUE),
];

static ITEM: &[Field] = &[
    Field::required("label", Kind::Text { min: 1, max: 200 }),
    Field::required(
        "kind",
        Kind::Enum {
            values: KINDS,
            default: None,
        },
    ),
    Field::optional("unit", Kind::Text { min: 0, max: 20 }),
    Field::optional("thresholds", Kind::Object(THRESHOLDS)),
];

static SECTION: &[Field] = &[
    Field::required("title", Kind::Text { min: 1, max: 200 }),
    Field::required("items", Kind::Rows { of: ITEM, max: 100 }),
];

pub static INSPECTION_TEMPLATE: Entity = Entity {
    collection: TEMPLATES,
    resource: "inspection_template",
    list: ListSpec {
        sort_fields: &["createdAt", "updatedAt", "name"],
        default_sort: "-createdAt",
        search_fields: &["name"],
        filters: &[],
    },
    fields: &[
        Field::required("name", Kind::Text { min: 1, max: 200 }),
        Field::required(
            "sections",
            Kind::Rows {
                of: SECTION,
                max: 30,
            },
        ),
    ],
    admin_writes: true,
    ..Entity::DEFAULTS
};

/// The indexes inspections need.
pub fn indexes() -> Vec<Index> {
    vec![Index::on(
        INSPECTIONS,
        doc! { "organizationId": 1, "workOrderId": 1, "createdAt": 1 },
    )]
}

/// An inspection as staff see it.
fn shown(d: &Document) -> Value {
    render(d)
}

/// The work order of the path, live, that the caller may change (its
/// creator, its technician, or an ADMIN+), not CANCELLED.
async fn work_order(scope: &Scope, id: ObjectId) -> Result<Document, ApiError> {
    let order = find_live(scope, &WORK_ORDER, id).await?;
    WORK_ORDER
        .require_own_or(scope, &order, Permission::UpdateAnyRecord)
        .await?;
    if Status::of(&order) == Status::Cancelled {
        return Err(ApiError::conflict(
            Code::InvalidTransition,
            "A CANCELLED work order takes no inspection",
        ));
    }
    Ok(order)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NewInspection {
    template_id: String,
}

/// `POST /api/v1/work-orders/{id}/inspections {templateId}` -> 201: the
/// template copied into the work order, each item with an id of its own.
pub async fn create(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let id = ctx.path_id()?;
    work_order(scope, id).await?;
    let input: NewInspection = ctx.req.json()?;
    let template_id = shared::validate::object_id("templateId", &input.template_id)?;
    let template = scope
        .collection(TEMPLATES)
        .find_one(doc! { "_id": template_id, "deletedAt": null })
        .await?
        .ok_or_else(|| ApiError::field("templateId", "does not exist"))?;
    let sections: Vec<Bson> = template
        .get_array("sections")
        .map(|a| a.iter().filter_map(Bson::as_document).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|s| {
            let items: Vec<Bson> = s
                .get_array("items")
                .map(|a| a.iter().filter_map(Bson::as_document).collect::<Vec<_>>())
                .unwrap_or_default()
                .into_iter()
                .map(|i| {
                    let mut item = i.clone();
                    item.insert("id", ObjectId::new());
                    item.insert("rating", Bson::Null);
                    item.insert("recommendationLineIds", Bson::Array(vec![]));
                    Bson::Document(item)
                })
                .collect();
            Bson::Document(doc! { "title": s.get_str("title").unwrap_or_default(), "items": items })
        })
        .collect();
    let items: usize = sections
        .iter()
        .filter_map(Bson::as_document)
        .map(|s| s.get_array("items").map_or(0, Vec::len))
        .sum();
    if items > MAX_ITEMS {
        return Err(ApiError::field(
            "templateId",
            format!("has {items} items; an inspection takes at most {MAX_ITEMS}"),
        ));
    }
    if scope
        .collection(INSPECTIONS)
        .count(doc! { "workOrderId": id })
        .await?
        >= MAX_INSPECTIONS
    {
        return Err(ApiError::conflict(
            Code::AlreadyExists,
            format!("A work order has at most {MAX_INSPECTIONS} inspections"),
        ));
    }
    let now = DateTime::now();
    let inspection_id = ObjectId::new();
    let record = doc! {
        "_id": inspection_id, "workOrderId": id, "templateId": template_id,
        "name": template.get_str("name").unwrap_or_default(), "status": "IN_PROGRESS",
        "sections": sections, "createdBy": scope.caller().user.id,
        "createdAt": now, "updatedAt": now, "version": 1_i64,
    };
    let record = &record;
    scope
        .transaction(|tx| {
            Box::pin(async move {
                tx.insert_one(INSPECTIONS, record.clone()).await?;
                tx.audit(
                    AuditEntry::new(Action::Create, "inspection")
                        .id(inspection_id)
                        .changes(doc! { "workOrderId": id, "templateId": template_id }),
                )
                .await?;
                Ok(())
            })
        })
        .await?;
    Ok(ApiResponse::json(http::StatusCode::CREATED, &shown(record)))
}

/// `GET /api/v1/work-orders/{id}/inspections`: the work order's
/// inspections, oldest first.
pub async fn list(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let id = ctx.path_id()?;
    find_live(scope, &WORK_ORDER, id).await?;
    let found = of_work_order(scope, id).await?;
    let data: Vec<Value> = found.iter().map(shown).collect();
    Ok(ApiResponse::ok(
        &json!({ "data": data, "nextCursor": null }),
    ))
}

/// The inspections of work order `id`, oldest first.
pub(crate) async fn of_work_order(scope: &Scope, id: ObjectId) -> Result<Vec<Document>, ApiError> {
    scope
        .collection(INSPECTIONS)
        .find_many(
            doc! { "workOrderId": id },
            doc! { "createdAt": 1, "_id": 1 },
            50,
            None,
        )
        .await
}

/// Where item `item` is in `inspection` (section, item) and the item
/// itself; 404 when it is not one of its items.
fn locate(inspection: &Document, item: ObjectId) -> Result<(usize, usize, &Document), ApiError> {
    let sections = inspection.get_array("sections").ok().into_iter().flatten();
    for (s, section) in sections.enumerate() {
        let items = section
            .as_document()
            .and_then(|d| d.get_array("items").ok());
        for (i, it) in items.into_iter().flatten().enumerate() {
            if let Some(doc) = it
                .as_document()
                .filter(|d| d.get_object_id("id") == Ok(item))
            {
                return Ok((s, i, doc));
            }
        }
    }
    Err(ApiError::NotFound {
        resource: "inspection item",
    })
}

/// The rating a measurement suggests under `item`'s thresholds.
pub fn suggested(item: &Document, value: i64) -> Option<&'static str> {
    let t = item.get_document("thresholds").ok()?;
    if number(t, "redBelow").is_some_and(|r| value < r) {
        return Some("RED");
    }
    if number(t, "yellowBelow").is_some_and(|y| value < y) {
        return Some("YELLOW");
    }
    (number(t, "redBelow").is_some() || number(t, "yellowBelow").is_some()).then_some("GREEN")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ItemPatch {
    rating: Option<String>,
    measurement: Option<Measurement>,
    note_for_customer: Option<String>,
    internal_note: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Measurement {
    value: i64,
    unit: Option<String>,
}

/// The path's inspection and item ids, after the work order's checks.
fn ids(ctx: &Ctx) -> Result<(ObjectId, Option<ObjectId>), ApiError> {
    let inspection =
        shared::validate::object_id("inspectionId", ctx.req.param("inspectionId").unwrap_or(""))?;
    let item = match ctx.req.param("itemId") {
        Some(i) => Some(shared::validate::object_id("itemId", i)?),
        None => None,
    };
    Ok((inspection, item))
}

/// Writes `set` on inspection `inspection` of work order `id` if it is
/// still at `version` (else 409 `WRITE_CONFLICT`), audited as `change`.
async fn save(
    scope: &Scope,
    id: ObjectId,
    inspection: ObjectId,
    version: i64,
    set: Document,
    change: Document,
) -> Result<Document, ApiError> {
    let (set, change) = (&set, &change);
    scope
        .transaction(|tx| {
            Box::pin(async move {
                let completes = set.get_str("status") == Ok("COMPLETED");
                let mut set = set.clone();
                set.insert("updatedAt", DateTime::now());
                let after = tx
                    .find_one_and_update(
                        INSPECTIONS,
                        doc! { "_id": inspection, "workOrderId": id, "version": version },
                        doc! { "$set": set, "$inc": { "version": 1_i64 } },
                    )
                    .await?
                    .ok_or_else(|| {
                        ApiError::conflict(
                            Code::WriteConflict,
                            "The inspection changed meanwhile; retry",
                        )
                    })?;
                tx.audit(
                    AuditEntry::new(Action::Update, "inspection")
                        .id(inspection)
                        .changes(change.clone()),
                )
                .await?;
                if completes {
                    tx.announce("inspection.completed", &render(&after));
                }
                Ok(after)
            })
        })
        .await
}

/// 409 `INSPECTION_COMPLETED` for a completed inspection: what its items
/// show is frozen.
fn still_open(inspection: &Document) -> Result<(), ApiError> {
    if inspection.get_str("status") == Ok("COMPLETED") {
        return Err(ApiError::conflict(
            Code::InspectionCompleted,
            "The inspection is completed: reopen it first",
        ));
    }
    Ok(())
}

/// The most inspections a work order has, and items an inspection has.
const MAX_INSPECTIONS: u64 = 50;
const MAX_ITEMS: usize = 300;
/// The most lines one item recommends.
const MAX_RECOMMENDED: usize = 100;

/// The inspection `inspection` of work order `id`.
async fn find(scope: &Scope, id: ObjectId, inspection: ObjectId) -> Result<Document, ApiError> {
    scope
        .collection(INSPECTIONS)
        .find_one(doc! { "_id": inspection, "workOrderId": id })
        .await?
        .ok_or(ApiError::NotFound {
            resource: "inspection",
        })
}

/// `PATCH /api/v1/work-orders/{id}/inspections/{inspectionId}/items/{itemId}`
/// `{rating?, measurement?: {value, unit?}, noteForCustomer?, internalNote?}`:
/// a measurement without a rating takes the one its thresholds suggest.
/// Once COMPLETED only the notes change (409 `INSPECTION_COMPLETED`).
pub async fn update_item(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let id = ctx.path_id()?;
    work_order(scope, id).await?;
    let input: ItemPatch = ctx.req.json()?;
    let (inspection_id, item_id) = ids(&ctx)?;
    let item_id = item_id.ok_or_else(|| ApiError::internal("an item route without its item"))?;
    let mut errors = Errors::new();
    if input
        .rating
        .as_deref()
        .is_some_and(|r| !RATINGS.contains(&r))
    {
        errors.push(FieldError::new(
            "rating",
            "must be GREEN, YELLOW, RED or NA",
        ));
    }
    let note = |errors: &mut Errors, field: &str, v: &Option<String>| {
        v.as_deref()
            .and_then(|n| errors.check(shared::validate::multiline(field, n, 2_000)))
    };
    let for_customer = note(&mut errors, "noteForCustomer", &input.note_for_customer);
    let internal = note(&mut errors, "internalNote", &input.internal_note);
    let unit = input
        .measurement
        .as_ref()
        .and_then(|m| m.unit.as_deref())
        .and_then(|u| errors.check(shared::validate::text("measurement.unit", u, 0, 20)));
    if input
        .measurement
        .as_ref()
        .is_some_and(|m| !(-1_000_000_000..=1_000_000_000).contains(&m.value))
    {
        errors.push(FieldError::new("measurement.value", "must be within ±10^9"));
    }
    if input.rating.is_none()
        && input.measurement.is_none()
        && input.note_for_customer.is_none()
        && input.internal_note.is_none()
    {
        errors.push(FieldError::new(
            "rating",
            "send a rating, measurement or note",
        ));
    }
    errors.finish()?;
    let inspection = find(scope, id, inspection_id).await?;
    let (s, i, item) = locate(&inspection, item_id)?;
    let completed = inspection.get_str("status") == Ok("COMPLETED");
    if completed && (input.rating.is_some() || input.measurement.is_some()) {
        return Err(ApiError::conflict(
            Code::InspectionCompleted,
            "The inspection is completed: its ratings and measurements are frozen (notes stay editable)",
        ));
    }
    let at = format!("sections.{s}.items.{i}");
    let mut set = Document::new();
    let mut change = doc! { "itemId": item_id };
    if let Some(m) = &input.measurement {
        let unit = unit.or_else(|| item.get_str("unit").ok().map(str::to_string));
        set.insert(
            format!("{at}.measurement"),
            doc! { "value": m.value, "unit": unit },
        );
        change.insert("measurement", m.value);
    }
    let rating = input.rating.clone().or_else(|| {
        input
            .measurement
            .as_ref()
            .and_then(|m| suggested(item, m.value))
            .map(str::to_string)
    });
    if let Some(r) = rating {
        change.insert("rating", r.as_str());
        set.insert(format!("{at}.rating"), r);
    }
    if let Some(n) = for_customer {
        set.insert(format!("{at}.noteForCustomer"), n);
        change.insert("noteForCustomer", true);
    }
    if let Some(n) = internal {
        set.insert(format!("{at}.internalNote"), n);
        change.insert("internalNote", true);
    }
    let version = number(&inspection, "version").unwrap_or(1);
    let after = save(scope, id, inspection_id, version, set, change).await?;
    Ok(ApiResponse::ok(&shown(&after)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Recommendation {
    lines: Vec<Value>,
}

/// `POST .../inspections/{inspectionId}/items/{itemId}/recommendation
/// {lines}` -> 201: PENDING lines added to the work order (PART lines
/// reserving their stock, all or nothing), each naming the item, and
/// linked from the item, in one transaction. Answers the work order.
pub async fn recommend(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let id = ctx.path_id()?;
    let order = work_order(scope, id).await?;
    let input: Recommendation = ctx.req.json()?;
    let (inspection_id, item_id) = ids(&ctx)?;
    let item_id = item_id.ok_or_else(|| ApiError::internal("an item route without its item"))?;
    if input.lines.is_empty() || input.lines.len() > 20 {
        return Err(ApiError::field("lines", "must have 1 to 20 lines"));
    }
    let read = Order::of(&order)?;
    if !read.status.lines_change() {
        return Err(ApiError::conflict(
            Code::InvalidTransition,
            format!("A {} work order's lines no longer change", read.status),
        ));
    }
    let mut new = vec![];
    for (n, body) in input.lines.iter().enumerate() {
        let mut line = new_line(scope, &read, body)
            .await
            .map_err(|e| nested(e, n))?;
        line.insert("inspectionItemId", item_id);
        new.push(line);
    }
    let inspection = find(scope, id, inspection_id).await?;
    still_open(&inspection)?;
    let (s, i, item) = locate(&inspection, item_id)?;
    let already = item.get_array("recommendationLineIds").map_or(0, Vec::len);
    if already + new.len() > MAX_RECOMMENDED {
        return Err(ApiError::field(
            "lines",
            format!("an item recommends at most {MAX_RECOMMENDED} lines"),
        ));
    }
    let version = number(&inspection, "version").unwrap_or(1);
    let line_ids: Vec<Bson> = new.iter().filter_map(|l| l.get("id").cloned()).collect();
    let at = format!("sections.{s}.items.{i}.recommendationLineIds");
    let (new, line_ids, at) = (&new, &line_ids, &at);
    let after = scope
        .transaction(|tx| {
            Box::pin(async move {
                // On the inspection as read: open, its items where they were.
                tx.find_one_and_update(
                    INSPECTIONS,
                    doc! { "_id": inspection_id, "workOrderId": id, "version": version, "status": "IN_PROGRESS" },
                    doc! { "$push": { at.as_str(): { "$each": line_ids.clone() } }, "$inc": { "version": 1_i64 } },
                )
                .await?
                .ok_or_else(|| {
                    ApiError::conflict(Code::WriteConflict, "The inspection changed meanwhile; retry")
                })?;
                let after = add_lines(
                    tx,
                    id,
                    new,
                    doc! { "recommended": { "inspectionId": inspection_id, "itemId": item_id, "lines": line_ids.clone() } },
                )
                .await?;
                tx.announce("work_order.updated", &render(&after));
                Ok(after)
            })
        })
        .await?;
    Ok(ApiResponse::json(
        http::StatusCode::CREATED,
        &render(&after),
    ))
}

/// What an item's photo or video may be: the type, and its largest size.
pub const MEDIA: &[(&str, u64)] = &[
    ("image/jpeg", 15 * 1024 * 1024),
    ("image/png", 15 * 1024 * 1024),
    ("image/webp", 15 * 1024 * 1024),
    ("image/heic", 15 * 1024 * 1024),
    ("video/mp4", 100 * 1024 * 1024),
];

static PHOTO_FIELDS: &[Field] = &[
    Field::required("fileName", Kind::Text { min: 1, max: 255 }),
    Field::required("contentType", Kind::Text { min: 3, max: 255 }),
    Field::required(
        "size",
        Kind::Integer {
            min: 1,
            max: i64::MAX,
        },
    ),
];

/// `POST .../inspections/{inspectionId}/items/{itemId}/photos {fileName,
/// contentType, size}` -> 201: a document of the work order naming the
/// item, PENDING, and its presigned PUT, whose signature binds the type
/// and exact length (images up to 15 MiB, MP4 video up to 100 MiB: the
/// store refuses anything else); completed with `POST
/// /documents/{id}/complete` like any upload.
pub async fn request_photo(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let id = ctx.path_id()?;
    work_order(scope, id).await?;
    let body: Value = ctx.req.json()?;
    let (mut input, _) = shared::fields::parse_create(PHOTO_FIELDS, &body)?;
    let (inspection_id, item_id) = ids(&ctx)?;
    let item_id = item_id.ok_or_else(|| ApiError::internal("an item route without its item"))?;
    let inspection = find(scope, id, inspection_id).await?;
    still_open(&inspection)?;
    locate(&inspection, item_id)?;
    input.insert("relatedTo", doc! { "type": "work_order", "id": id });
    input.insert("inspectionId", inspection_id);
    input.insert("inspectionItemId", item_id);
    crate::files::documents::sign_upload(scope, &crate::files::handlers::DOCUMENT, input, MEDIA)
        .await
}

/// The uploaded photos of work order `id`'s inspection items.
pub(crate) async fn photos_of(scope: &Scope, id: ObjectId) -> Result<Vec<Document>, ApiError> {
    scope
        .collection(shared::db::collections::DOCUMENTS)
        .find_many(
            doc! { "relatedTo.type": "work_order", "relatedTo.id": id,
            "inspectionItemId": { "$exists": true }, "status": "UPLOADED", "deletedAt": null },
            doc! { "createdAt": 1, "_id": 1 },
            500,
            None,
        )
        .await
}

/// A line's error named under `lines[n]`.
fn nested(e: ApiError, n: usize) -> ApiError {
    match e {
        ApiError::Validation { errors } => ApiError::Validation {
            errors: errors
                .into_iter()
                .map(|f| FieldError::new(format!("lines[{n}].{}", f.field), f.message))
                .collect(),
        },
        other => other,
    }
}

/// `POST .../inspections/{inspectionId}/complete`: ratings and
/// measurements frozen; `inspection.completed` announced.
pub async fn complete(ctx: Ctx) -> HandlerResult {
    set_status(ctx, "IN_PROGRESS", "COMPLETED").await
}

/// `POST .../inspections/{inspectionId}/reopen` (ADMIN+, audited).
pub async fn reopen(ctx: Ctx) -> HandlerResult {
    set_status(ctx, "COMPLETED", "IN_PROGRESS").await
}

async fn set_status(ctx: Ctx, from: &str, to: &str) -> HandlerResult {
    let scope = ctx.scope()?;
    let id = ctx.path_id()?;
    work_order(scope, id).await?;
    let (inspection_id, _) = ids(&ctx)?;
    let inspection = find(scope, id, inspection_id).await?;
    if inspection.get_str("status") != Ok(from) {
        return Err(ApiError::conflict(
            Code::InvalidTransition,
            format!("Only a {from} inspection can become {to}"),
        ));
    }
    let mut set = doc! { "status": to };
    if to == "COMPLETED" {
        set.insert("completedAt", DateTime::now());
        set.insert("completedBy", scope.caller().user.id);
    }
    let version = number(&inspection, "version").unwrap_or(1);
    let after = save(
        scope,
        id,
        inspection_id,
        version,
        set,
        doc! { "status": { "from": from, "to": to } },
    )
    .await?;
    Ok(ApiResponse::ok(&shown(&after)))
}

/// The completed inspections as the customer sees them: each item's
/// label, rating, measurement, note for the customer and photos (`photos`:
/// short-lived signed URLs by item); never the internal note nor an item id.
pub fn public(
    inspections: &[Document],
    photos: &std::collections::HashMap<ObjectId, Vec<Value>>,
) -> Value {
    let out: Vec<Value> = inspections
        .iter()
        .filter(|ins| ins.get_str("status") == Ok("COMPLETED"))
        .map(|ins| {
            let sections: Vec<Value> = ins
                .get_array("sections")
                .map(|a| a.iter().filter_map(Bson::as_document).collect::<Vec<_>>())
                .unwrap_or_default()
                .into_iter()
                .map(|s| {
                    let items: Vec<Value> = s
                        .get_array("items")
                        .map(|a| a.iter().filter_map(Bson::as_document).collect::<Vec<_>>())
                        .unwrap_or_default()
                        .into_iter()
                        .map(|i| {
                            json!({
                                "label": i.get_str("label").ok(),
                                "rating": i.get_str("rating").ok(),
                                "measurement": i.get_document("measurement").ok().map(|m| json!({
                                    "value": number(m, "value"),
                                    "unit": m.get_str("unit").ok(),
                                })),
                                "noteForCustomer": i.get_str("noteForCustomer").ok(),
                                "photos": i.get_object_id("id").ok().and_then(|id| photos.get(&id)).cloned().unwrap_or_default(),
                            })
                        })
                        .collect();
                    json!({ "title": s.get_str("title").ok(), "items": items })
                })
                .collect();
            json!({
                "name": ins.get_str("name").ok(),
                "status": ins.get_str("status").ok(),
                "sections": sections,
            })
        })
        .collect();
    Value::Array(out)
}
