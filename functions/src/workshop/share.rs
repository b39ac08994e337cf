//! Share links: a work order's estimate or invoice, opened by its customer
//! without an account, and the customer's decisions on the estimate.
//!
//! Staff make a link (`POST /work-orders/{id}/share-links`), list and
//! revoke them; the link is a platform capability link
//! (`shared::auth::links`: 32 random bytes in base62, only the hash kept),
//! its URL made from the organization's `shareUrlTemplate` setting (the
//! SaaS team hosts the page) or `APP_URL/share/{token}`. Through it the
//! customer reads a snapshot ([`view`]: the shop, their first name, the
//! vehicle with its plate masked, the lines with their prices and tax, the
//! totals; never a cost, an internal note, a technician or another
//! record's id) and decides on the estimate's lines ([`decide`]): method
//! LINK, the signer, address, user agent and the version seen, under the
//! same stock rules as a decision staff record, in one transaction.

use bson::oid::ObjectId;
use bson::{doc, Bson, DateTime, Document};
use serde::Deserialize;
use serde_json::{json, Value};
use shared::audit::{Action, AuditEntry};
use shared::auth::links::{self, Link};
use shared::db::collections::DOCUMENTS;
use shared::db::{collections, number, shifted, Scope, DAY_MS, HOUR_MS};
use shared::error::{ApiError, Code, FieldError};
use shared::http::ApiResponse;
use shared::records::{find_live, render};
use shared::runtime::{Ctx, HandlerResult};
use shared::validate::Errors;

use super::lines::{decide as record_decisions, Decided};
use super::order::{lines_of, Approval, ApprovalMethod, Status, WORK_ORDERS};
use super::work_orders::WORK_ORDER;

const LINKS: &str = collections::LINKS;
/// What a link is for.
pub const PURPOSES: &[&str] = &["ESTIMATE", "INVOICE"];
/// How long a link is kept after it expired (a late visitor is told it
/// expired rather than that it never was).
const KEPT_DAYS: i64 = 90;
/// The largest signature image taken with a decision.
pub const MAX_SIGNATURE: usize = 100 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NewLink {
    purpose: Option<String>,
    expires_in_hours: Option<i64>,
    send_to: Option<String>,
}

/// The URL of `token` for `scope`'s organization.
fn url_of(scope: &Scope, token: &str) -> String {
    let template = scope
        .caller()
        .org
        .settings
        .as_ref()
        .and_then(|s| s.get_str("shareUrlTemplate").ok().map(str::to_string));
    match template {
        Some(t) => t.replace("{token}", token),
        None => format!("{}/share/{token}", scope.config().email.app_url),
    }
}

/// How a stored link is listed: never its token or hash.
fn shown(link: &Document) -> Value {
    let now = DateTime::now();
    let status = if link.get_datetime("revokedAt").is_ok() {
        "REVOKED"
    } else if link.get_datetime("expiresAt").is_ok_and(|e| *e <= now) {
        "EXPIRED"
    } else {
        "ACTIVE"
    };
    let mut out = render(link);
    if let Some(o) = out.as_object_mut() {
        // `signature`: kept on the link before signatures became documents.
        for hidden in [
            "tokenHash",
            "forgetAt",
            "signature",
            "resource",
            "organizationId",
        ] {
            o.remove(hidden);
        }
        o.insert(
            "workOrderId".into(),
            o.get("recordId").cloned().unwrap_or(Value::Null),
        );
        o.remove("recordId");
        o.insert("status".into(), json!(status));
    }
    out
}

/// `POST /api/v1/work-orders/{id}/share-links {purpose, expiresInHours?,
/// sendTo?}` -> 201 `{id, url, expiresAt, ...}`: the URL (with its token)
/// is answered this once (a keyed retry replays `url: null`).
pub async fn create(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let id = ctx.path_id()?;
    // Another organization's work order is a 404 before anything else;
    // a MEMBER shares only the work orders they may change the lines of.
    let order = find_live(scope, &WORK_ORDER, id).await?;
    WORK_ORDER
        .require_own_or(scope, &order, shared::rbac::Permission::UpdateAnyRecord)
        .await?;
    let input: NewLink = ctx.req.json()?;
    let mut errors = Errors::new();
    let purpose = match input.purpose.as_deref() {
        Some(p) if PURPOSES.contains(&p) => Some(p.to_string()),
        Some(_) => {
            errors.push(FieldError::new("purpose", "must be ESTIMATE or INVOICE"));
            None
        }
        None => {
            errors.push(FieldError::new("purpose", "is required"));
            None
        }
    };
    let hours = input.expires_in_hours.unwrap_or(168);
    if !(1..=720).contains(&hours) {
        errors.push(FieldError::new("expiresInHours", "must be 1 to 720"));
    }
    let send_to = input
        .send_to
        .as_deref()
        .and_then(|e| errors.check(shared::validate::Email::parse("sendTo", e)))
        .map(shared::validate::Email::into_inner);
    errors.finish()?;
    let purpose = purpose.unwrap_or_default();
    let status = Status::of(&order);
    if purpose == "INVOICE" && !matches!(status, Status::Invoiced | Status::Paid) {
        return Err(ApiError::conflict(
            Code::InvalidTransition,
            "An invoice link needs an INVOICED or PAID work order",
        ));
    }
    if purpose == "ESTIMATE" && status == Status::Cancelled {
        return Err(ApiError::conflict(
            Code::InvalidTransition,
            "A CANCELLED work order has no estimate to share",
        ));
    }
    let (token, hash) = links::new_token();
    let now = DateTime::now();
    let expires = shifted(now, hours * HOUR_MS);
    let link_id = ObjectId::new();
    let record = doc! {
        "_id": link_id, "resource": "work_order", "recordId": id, "purpose": &purpose,
        "tokenHash": hash, "expiresAt": expires, "forgetAt": shifted(expires, KEPT_DAYS * DAY_MS),
        "createdBy": scope.caller().user.id, "createdAt": now,
        "sentTo": send_to.clone(), "viewCount": 0_i64,
    };
    let url = url_of(scope, &token);
    let mut answer = shown(&record);
    answer["url"] = Value::Null;
    let replay = ApiResponse::json(http::StatusCode::CREATED, &answer);
    answer["url"] = json!(url);
    let email = match &send_to {
        Some(to) => {
            // Our name on a stranger's inbox: a few a day per address,
            // from every organization together.
            scope
                .spend_on(shared::ratelimit::LimitedAction::ShareEmail, to)
                .await?;
            Some(invitation_email(scope, &order, to, &purpose, &url, expires).await?)
        }
        None => None,
    };
    let (record, replay, email) = (&record, &replay, &email);
    let queued = scope
        .transaction(|tx| {
            Box::pin(async move {
                tx.insert_one(LINKS, record.clone()).await?;
                tx.audit(
                    AuditEntry::new(Action::Create, "share_link")
                        .id(link_id)
                        .changes(doc! { "workOrderId": id, "purpose": record.get("purpose").cloned(),
                        "expiresAt": record.get("expiresAt").cloned(), "sentTo": record.get("sentTo").cloned() }),
                )
                .await?;
                let queued = match email {
                    Some(m) => Some(tx.queue_email(None, m).await?),
                    None => None,
                };
                tx.respond(replay)?;
                Ok(queued)
            })
        })
        .await?;
    if let Some(q) = queued {
        shared::email::deliver(scope.state(), &[q]).await;
    }
    Ok(ApiResponse::json(http::StatusCode::CREATED, &answer))
}

/// The email that carries a link to `to`.
async fn invitation_email(
    scope: &Scope,
    order: &Document,
    to: &str,
    purpose: &str,
    url: &str,
    expires: DateTime,
) -> Result<shared::email::Message, ApiError> {
    let (vehicle, customer) = customer_of(scope, order).await?;
    let name = customer
        .as_ref()
        .and_then(|c| c.get_str("firstName").ok())
        .unwrap_or("")
        .to_string();
    let car = vehicle
        .as_ref()
        .map(|v| {
            [v.get_str("make").ok(), v.get_str("model").ok()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "your vehicle".into());
    Ok(crate::emails::share_link(
        to,
        &crate::emails::SharedDocument {
            shop: &scope.caller().org.name,
            name: &name,
            purpose: &purpose.to_lowercase(),
            vehicle: &car,
            url,
            expires,
        },
    ))
}

/// The work order's vehicle and the vehicle's contact, as stored.
async fn customer_of(
    scope: &Scope,
    order: &Document,
) -> Result<(Option<Document>, Option<Document>), ApiError> {
    let Ok(vehicle_id) = order.get_object_id("vehicleId") else {
        return Ok((None, None));
    };
    let vehicle = scope
        .collection(super::vehicles::VEHICLES)
        .find_one(doc! { "_id": vehicle_id })
        .await?;
    let contact = match vehicle
        .as_ref()
        .and_then(|v| v.get_object_id("contactId").ok())
    {
        Some(c) => {
            scope
                .collection(crate::crm::collections::CONTACTS)
                .find_one(doc! { "_id": c, "deletedAt": null })
                .await?
        }
        None => None,
    };
    Ok((vehicle, contact))
}

/// `GET /api/v1/work-orders/{id}/share-links`: the work order's links,
/// newest first, with when they were viewed and decided.
pub async fn list(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let id = ctx.path_id()?;
    find_live(scope, &WORK_ORDER, id).await?;
    let found = scope
        .collection(LINKS)
        .find_many(
            doc! { "recordId": id },
            doc! { "createdAt": -1, "_id": -1 },
            200,
            Some(doc! { "tokenHash": 0, "signature": 0 }),
        )
        .await?;
    let data: Vec<Value> = found.iter().map(shown).collect();
    Ok(ApiResponse::ok(
        &json!({ "data": data, "nextCursor": null }),
    ))
}

/// `DELETE /api/v1/share-links/{id}` -> 204: the link answers 410 from now
/// on (revoking one already revoked changes nothing).
pub async fn revoke(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let id = ctx.path_id()?;
    let now = DateTime::now();
    let by = scope.caller().user.id;
    // A MEMBER revokes the links of work orders they may change, as they share.
    let link = scope
        .collection(LINKS)
        .find_one(doc! { "_id": id })
        .await?
        .ok_or(ApiError::NotFound {
            resource: "share link",
        })?;
    if let Some(order) = scope
        .collection(WORK_ORDERS)
        .find_one(doc! { "_id": link.get_object_id("recordId").ok() })
        .await?
    {
        WORK_ORDER
            .require_own_or(scope, &order, shared::rbac::Permission::UpdateAnyRecord)
            .await?;
    }
    scope
        .transaction(|tx| {
            Box::pin(async move {
                let changed = tx
                    .update_many(
                        LINKS,
                        doc! { "_id": id, "revokedAt": null },
                        doc! { "$set": { "revokedAt": now, "revokedBy": by } },
                    )
                    .await?;
                if changed > 0 {
                    tx.audit(AuditEntry::new(Action::Delete, "share_link").id(id))
                        .await?;
                }
                Ok(())
            })
        })
        .await?;
    Ok(ApiResponse::no_content())
}

/// The link of a request that came through one: a work order's (the
/// runtime sets the public headers of its answers, errors too).
pub(crate) fn link_of(scope: &Scope) -> Result<&Link, ApiError> {
    let link = scope
        .caller()
        .link
        .as_deref()
        .ok_or_else(|| ApiError::internal("a share route without its link"))?;
    if link.doc.get_str("resource") != Ok("work_order") {
        return Err(ApiError::NotFound { resource: "link" });
    }
    Ok(link)
}

/// `plate` with all but its last 3 characters masked.
pub fn masked(plate: &str) -> String {
    let chars: Vec<char> = plate.chars().collect();
    let keep = chars.len().saturating_sub(3);
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| if i < keep { '•' } else { *c })
        .collect()
}

/// A line as the customer sees it.
fn public_line(line: &Document) -> Value {
    json!({
        "id": line.get_object_id("id").map(|i| i.to_hex()).ok(),
        "type": line.get_str("type").ok(),
        "description": line.get_str("description").ok(),
        "quantity": number(line, "quantity"),
        "unitPrice": number(line, "unitPrice"),
        "taxRate": number(line, "taxRate"),
        "gross": number(line, "gross").or_else(|| number(line, "amount")),
        "discount": number(line, "lineDiscount").unwrap_or(0)
            .saturating_add(number(line, "orderDiscount").unwrap_or(0)),
        "amount": number(line, "amount"),
        "tax": number(line, "tax"),
        "status": Approval::of(line).unwrap_or(Approval::Pending).as_str(),
        // A package's adjustment follows its group, a fee its rule: not
        // decided on themselves.
        "decidable": !super::order::is_kept(line),
        "group": line.get_document("group").ok().and_then(|g| g.get_str("name").ok()),
    })
}

/// The snapshot the customer sees (see the module docs): built field by
/// field, so nothing internal can slip in.
fn snapshot(scope: &Scope, link: &Link, opened: &Opened) -> Value {
    let (order, vehicle, contact) = (
        &opened.order,
        opened.vehicle.as_ref(),
        opened.contact.as_ref(),
    );
    let org = &scope.caller().org;
    let settings = org.settings.clone().unwrap_or_default();
    let text = |d: &Document, k: &str| d.get_str(k).ok().map(str::to_string);
    let lines: Vec<Value> = lines_of(order).iter().map(public_line).collect();
    let mut out = json!({
        "purpose": link.purpose,
        "expiresAt": shared::time::rfc3339(link.expires_at),
        "shop": {
            "name": org.name,
            "address": text(&settings, "address"),
            "phone": text(&settings, "phone"),
            "logoUrl": text(&settings, "logoUrl"),
            "logo": opened.logo,
        },
        "customer": { "firstName": contact.and_then(|c| text(c, "firstName")) },
        "vehicle": vehicle.map(|v| json!({
            "year": number(v, "year"),
            "make": text(v, "make"),
            "model": text(v, "model"),
            "plate": text(v, "plate").map(|p| masked(&p)),
        })),
        "workOrder": {
            "number": text(order, "number"),
            "status": Status::of(order).as_str(),
            "currency": text(order, "currency"),
            "version": number(order, "version"),
            "lines": lines,
            "subtotal": number(order, "subtotal"),
            "discountTotal": number(order, "discountTotal").unwrap_or(0),
            "tax": number(order, "tax"),
            "taxExempt": order.get_bool("taxExempt").unwrap_or(false),
            "total": number(order, "total"),
        },
        "inspections": super::inspections::public(&opened.inspections, &opened.photos),
        "decisionsOpen": link.purpose == "ESTIMATE" && Status::of(order).lines_change(),
    });
    if link.purpose == "INVOICE" {
        let invoice = order.get_document("invoice").ok();
        let payments: Vec<Value> = order
            .get_array("payments")
            .map(|a| {
                a.iter()
                    .filter_map(Bson::as_document)
                    .map(|p| {
                        json!({
                            "amount": number(p, "amount"),
                            "method": p.get_str("method").ok(),
                            "paidAt": p.get_datetime("paidAt").ok().map(|t| shared::time::rfc3339(*t)),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        out["invoice"] = json!({
            "invoiceNumber": text(order, "invoiceNumber")
                .or_else(|| invoice.and_then(|i| text(i, "invoiceNumber"))),
            "issuedAt": order.get_datetime("invoicedAt").ok().map(|t| shared::time::rfc3339(*t)),
            "payments": payments,
            "amountPaid": number(order, "amountPaid"),
            "balance": number(order, "balance"),
        });
    }
    out
}

/// What a customer's view is made of.
struct Opened {
    order: Document,
    vehicle: Option<Document>,
    contact: Option<Document>,
    inspections: Vec<Document>,
    /// The items' photos: short-lived URLs by item.
    photos: std::collections::HashMap<ObjectId, Vec<Value>>,
    /// The shop's logo document: a short-lived URL.
    logo: Option<String>,
}

/// How long a photo's URL in the customer's view works.
const PHOTO_URL_TTL: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Each uploaded photo of `docs` as `{url, contentType}` (a GET signed for
/// [`PHOTO_URL_TTL`]), by item.
async fn photo_urls(
    scope: &Scope,
    docs: Vec<Document>,
) -> Result<std::collections::HashMap<ObjectId, Vec<Value>>, ApiError> {
    let mut out: std::collections::HashMap<ObjectId, Vec<Value>> = Default::default();
    if docs.is_empty() {
        return Ok(out);
    }
    let storage = scope.storage()?;
    for d in docs {
        let (Ok(item), Ok(key)) = (d.get_object_id("inspectionItemId"), d.get_str("storageKey"))
        else {
            continue;
        };
        let content_type = d
            .get_str("contentType")
            .unwrap_or("application/octet-stream");
        let name = d.get_str("fileName").unwrap_or("photo");
        let url = storage
            .presign_get(key, name, content_type, PHOTO_URL_TTL)
            .await?;
        out.entry(item)
            .or_default()
            .push(json!({ "url": url, "contentType": content_type }));
    }
    Ok(out)
}

/// `order` with its vehicle, contact and inspections (read at once).
async fn around(scope: &Scope, order: Document) -> Result<Opened, ApiError> {
    let id = order
        .get_object_id("_id")
        .map_err(|_| ApiError::internal("a work order without id"))?;
    let (people, inspections, photos, logo) = tokio::join!(
        customer_of(scope, &order),
        super::inspections::of_work_order(scope, id),
        super::inspections::photos_of(scope, id),
        logo_url(scope)
    );
    let (vehicle, contact) = people?;
    Ok(Opened {
        order,
        vehicle,
        contact,
        inspections: inspections?,
        photos: photo_urls(scope, photos?).await?,
        logo: logo?,
    })
}

/// A short-lived URL of the shop's logo document (`settings.logoDocumentId`,
/// while it is live) for the customer's page.
async fn logo_url(scope: &Scope) -> Result<Option<String>, ApiError> {
    let Some(key) = crate::files::documents::logo(scope)
        .await?
        .and_then(|d| d.get_str("storageKey").ok().map(str::to_string))
    else {
        return Ok(None);
    };
    Ok(Some(
        scope
            .storage()?
            .presign_get(&key, "logo", "", PHOTO_URL_TTL)
            .await?,
    ))
}

/// The work order a link opens (live), with what its view shows.
async fn opened(scope: &Scope, link: &Link) -> Result<Opened, ApiError> {
    let order = scope
        .collection(WORK_ORDERS)
        .find_one(doc! { "_id": link.record_id, "deletedAt": null })
        .await?
        .ok_or(ApiError::Gone {
            code: Code::LinkRevoked,
            detail: "This work order is no longer available".into(),
        })?;
    around(scope, order).await
}

/// `GET /api/v1/public/share/{token}`: the snapshot, its `ETag` the work
/// order's version; the view is counted (first, last, how many).
pub async fn view(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let link = link_of(scope)?;
    let (read, counted) = tokio::join!(opened(scope, link), record_view(scope, link));
    let opened = read?;
    counted?;
    let body = snapshot(scope, link, &opened);
    let mut r = ApiResponse::ok(&body);
    r.set_header(
        "etag",
        &format!("\"{}\"", number(&opened.order, "version").unwrap_or(1)),
    );
    Ok(r)
}

/// Counts a view; the first is audited and announced (`estimate.viewed`).
async fn record_view(scope: &Scope, link: &Link) -> Result<(), ApiError> {
    let now = DateTime::now();
    let first = link.doc.get_datetime("firstViewedAt").is_err();
    let (id, record, purpose) = (link.id, link.record_id, link.purpose.clone());
    let purpose = &purpose;
    scope
        .transaction(|tx| {
            Box::pin(async move {
                let mut set = doc! { "lastViewedAt": now };
                let mut filter = doc! { "_id": id };
                if first {
                    set.insert("firstViewedAt", now);
                    filter.insert("firstViewedAt", Bson::Null);
                }
                let after = tx
                    .find_one_and_update(
                        LINKS,
                        filter,
                        doc! { "$set": set, "$inc": { "viewCount": 1_i64 } },
                    )
                    .await?;
                if first && after.is_none() {
                    // Another request was the first view.
                    tx.find_one_and_update(
                        LINKS,
                        doc! { "_id": id },
                        doc! { "$set": { "lastViewedAt": now }, "$inc": { "viewCount": 1_i64 } },
                    )
                    .await?;
                } else if first {
                    tx.audit(
                        AuditEntry::new(Action::Update, "share_link")
                            .id(id)
                            .changes(doc! { "firstViewedAt": now }),
                    )
                    .await?;
                    if purpose == "ESTIMATE" {
                        tx.announce(
                            "estimate.viewed",
                            &json!({ "id": id.to_hex(), "workOrderId": record.to_hex(), "viewedAt": shared::time::rfc3339(now) }),
                        );
                    }
                }
                Ok(())
            })
        })
        .await
}

/// A signature stored with a decision: its document's id, key and size.
struct Signature {
    id: ObjectId,
    key: String,
    size: i64,
}

/// The `documents` record of a signature: an uploaded PNG of the work
/// order, made by the link.
fn signature_document(scope: &Scope, sig: &Signature, order: ObjectId) -> Document {
    let mut d = shared::records::new_record(
        scope,
        &doc! {
            "fileName": "signature.png",
            "contentType": "image/png",
            "size": sig.size,
            "relatedTo": { "type": "work_order", "id": order },
            "status": "PENDING",
            "storageKey": sig.key.as_str(),
            "purpose": "SIGNATURE",
        },
    );
    d.insert("_id", sig.id);
    d
}

/// Removes a signature no decision took: its file, then its PENDING
/// record (what fails is left to the sweep of abandoned uploads).
async fn forget_signature(scope: &Scope, sig: &Signature) {
    let Ok(storage) = scope.storage() else {
        return;
    };
    if let Err(e) = storage.delete(&sig.key).await {
        tracing::warn!(error = ?e, "[SHARE] an unused signature file was not removed");
        return;
    }
    let id = sig.id;
    let removed = scope
        .transaction(|tx| {
            Box::pin(async move {
                tx.delete_one(DOCUMENTS, doc! { "_id": id, "status": "PENDING" })
                    .await
                    .map(drop)
            })
        })
        .await;
    if let Err(e) = removed {
        tracing::warn!(error = ?e, "[SHARE] an unused signature record was not removed");
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Decisions {
    lines: Vec<super::lines::LineDecision>,
    signer_name: String,
    signature_png: Option<String>,
}

/// The version an `If-Match` names (as a record's PATCH reads it); 428
/// without one.
fn if_match(ctx: &Ctx) -> Result<i64, ApiError> {
    shared::records::if_match(&ctx.req)?.ok_or_else(|| ApiError::PreconditionRequired {
        detail: "Send If-Match with the ETag of the estimate you decided on".into(),
    })
}

/// `POST /api/v1/public/share/{token}/decisions` with `If-Match`:
/// `{lines: [{lineId, decision}], signerName, signaturePng?}` (an ESTIMATE
/// link): the decisions recorded with method LINK. 412 when the estimate
/// changed since it was seen, 422 `LINE_NOT_OPEN` once its lines no longer
/// change, the same decisions again change nothing (200), another decision
/// on a decided line is 409 `DECISION_CONFLICT`.
pub async fn decide(ctx: &Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let link = link_of(scope)?;
    if link.purpose != "ESTIMATE" {
        return Err(ApiError::forbidden(
            Code::PermissionDenied,
            "Decisions are taken on an estimate's link only",
        ));
    }
    let seen = if_match(ctx)?;
    let input: Decisions = ctx.req.json()?;
    let mut errors = Errors::new();
    let signer = errors.check(shared::validate::text(
        "signerName",
        &input.signer_name,
        1,
        200,
    ));
    let decisions = super::lines::parse_decisions(&mut errors, &input.lines);
    let signature = match input.signature_png.as_deref() {
        None => None,
        Some(b64) if b64.len() > MAX_SIGNATURE.div_ceil(3) * 4 + 4 => {
            errors.push(FieldError::new("signaturePng", "must be at most 100 KiB"));
            None
        }
        Some(b64) => {
            use base64::Engine;
            match base64::engine::general_purpose::STANDARD.decode(b64.trim()) {
                Ok(bytes) if bytes.len() > MAX_SIGNATURE => {
                    errors.push(FieldError::new("signaturePng", "must be at most 100 KiB"));
                    None
                }
                Ok(bytes) if bytes.starts_with(b"\x89PNG\r\n\x1a\n") => Some(bytes),
                _ => {
                    errors.push(FieldError::new(
                        "signaturePng",
                        "must be a base64 PNG image",
                    ));
                    None
                }
            }
        }
    };
    errors.finish()?;
    let signer = signer.unwrap_or_default();
    let meta = scope.meta();
    let decided = Decided {
        by: &signer,
        method: ApprovalMethod::Link,
        ip: meta.ip.clone(),
        seen: Some(seen),
        strict: true,
    };
    let agent = meta.user_agent.clone();
    // The signature is a document of the work order. Its record is made
    // PENDING before its file is stored and becomes UPLOADED in the
    // decision's transaction, so a committed decision never names a missing
    // file, and a file whose decision did not commit is found by the
    // sweep of abandoned uploads (a day later) if it is not removed here.
    let signature = match signature {
        Some(png) => {
            let storage = scope.storage()?;
            let id = ObjectId::new();
            let key = storage.document_key(scope.org_id(), id);
            let sig = Signature {
                id,
                key,
                size: png.len() as i64,
            };
            let pending = signature_document(scope, &sig, link.record_id);
            let pending = &pending;
            scope
                .transaction(|tx| {
                    Box::pin(
                        async move { tx.insert_one(DOCUMENTS, pending.clone()).await.map(drop) },
                    )
                })
                .await?;
            storage.put(&sig.key, "image/png", png).await?;
            Some(sig)
        }
        None => None,
    };
    let (decisions, decided, link_id, record) = (&decisions, &decided, link.id, link.record_id);
    let (signer, agent, signature_ref) = (&signer, &agent, &signature);
    let outcome = scope
        .transaction(|tx| {
            Box::pin(async move {
                let (after, changed) = match record_decisions(tx, record, decisions, decided).await {
                    Err(ApiError::Conflict { code: Code::InvalidTransition, .. }) => {
                        return Err(ApiError::Unprocessable {
                            code: Code::LineNotOpen,
                            detail: "The estimate's lines are no longer open for a decision".into(),
                            errors: vec![],
                        })
                    }
                    // The shop's stock is not the customer's business.
                    Err(ApiError::Conflict { code: Code::InsufficientStock, .. }) => {
                        return Err(ApiError::conflict(
                            Code::InsufficientStock,
                            "A part of this estimate is not available now; please contact the workshop",
                        ))
                    }
                    other => other?,
                };
                if !changed {
                    return Ok((after, false));
                }
                let summary: Vec<Bson> = decisions
                    .iter()
                    .map(|(l, d)| Bson::Document(doc! { "lineId": *l, "decision": d.as_str() }))
                    .collect();
                let now = DateTime::now();
                let mut set = doc! { "decidedAt": now, "signerName": signer.as_str() };
                if let Some(sig) = signature_ref {
                    tx.update_by_id(
                        DOCUMENTS,
                        doc! { "_id": sig.id, "status": "PENDING" },
                        doc! { "$set": { "status": "UPLOADED", "uploadedAt": now, "updatedAt": now } },
                    )
                    .await?
                    .ok_or_else(|| ApiError::internal("the signature's record vanished"))?;
                    set.insert("signatureDocumentId", sig.id);
                }
                let entry = doc! { "at": now, "signerName": signer.as_str(), "lines": summary.clone() };
                // Still live as the decision commits: a link revoked or
                // expired meanwhile decides nothing.
                let live = doc! { "_id": link_id, "revokedAt": null, "expiresAt": { "$gt": now } };
                tx.find_one_and_update(LINKS, live, doc! { "$set": set, "$push": { "decisions": entry } })
                    .await?
                    .ok_or_else(|| ApiError::Gone {
                        code: Code::LinkRevoked,
                        detail: "This link has been withdrawn or has expired".into(),
                    })?;
                tx.audit(
                    AuditEntry::new(Action::Update, "share_link")
                        .id(link_id)
                        .changes(doc! {
                            "method": "LINK", "signerName": signer.as_str(), "userAgent": agent.clone(),
                            "versionSeen": decided.seen, "lines": summary.clone(),
                            "signatureDocumentId": signature_ref.as_ref().map(|s| s.id),
                        }),
                )
                .await?;
                let decided_lines: Vec<Value> = decisions
                    .iter()
                    .map(|(l, d)| json!({ "lineId": l.map(|i| i.to_hex()), "decision": d.as_str() }))
                    .collect();
                tx.announce(
                    "estimate.decided",
                    &json!({ "id": link_id.to_hex(), "workOrderId": record.to_hex(),
                             "signerName": signer, "lines": decided_lines,
                             "version": number(&after, "version") }),
                );
                Ok((after, changed))
            })
        })
        .await;
    let after = match outcome {
        Ok((after, true)) => after,
        // A commit that may have landed keeps its signature.
        Err(e) if e.is_unavailable() => return Err(e),
        other => {
            // Nothing names the stored signature: a repeat of decisions
            // already taken, or a decision refused. Left behind on a
            // failure here, the sweep removes it with its PENDING record.
            if let Some(sig) = &signature {
                forget_signature(scope, sig).await;
            }
            other?.0
        }
    };
    let opened = around(scope, after).await?;
    let after = &opened.order;
    let body = snapshot(scope, link, &opened);
    let mut r = ApiResponse::ok(&body);
    r.set_header(
        "etag",
        &format!("\"{}\"", number(after, "version").unwrap_or(1)),
    );
    Ok(r)
}

/// `OPTIONS` of the public routes: any origin, no credentials.
pub async fn preflight(_ctx: Ctx) -> HandlerResult {
    let mut r = ApiResponse::no_content();
    r.set_header("access-control-allow-origin", "*");
    r.set_header("access-control-allow-methods", "GET, POST");
    r.set_header("access-control-allow-headers", "content-type, if-match");
    r.set_header("access-control-max-age", "600");
    Ok(r)
}
