//! Webhook endpoints (ADMIN+, or a key with `webhooks:write`): where the
//! organization's events are to be sent, which ones, and the signing
//! secret (Standard Webhooks, `shared::signature`), answered once and kept
//! sealed (`shared::seal`), since signing needs it back.
//!
//! A URL is `https` and its host is checked when it is set: an address
//! literal in any notation (`2130706433`, `0x7f.1`, `[::ffff:169.254.169.254]`)
//! that is loopback, private, link-local, CGNAT, unique-local or mapped to
//! one of these is refused (`shared::netguard`), as is a URL with
//! credentials. Only the networks in `WEBHOOKS_ALLOW_NETWORKS` (development
//! and tests) may be private, and only they over plain http. A name is
//! resolved and its addresses checked when a message is sent.
//!
//! The event catalogue: `<record>.created|updated|deleted|restored` for
//! every entity of the registry (derived, not listed here) and the
//! domain's own events; `events` names types, `*`, or a segment wildcard
//! (`work_order.*`).

use bson::oid::ObjectId;
use bson::spec::BinarySubtype;
use bson::{doc, Binary, Bson, DateTime, Document};
use serde::Deserialize;
use serde_json::{json, Value};
use shared::audit::{Action, AuditEntry};
use shared::db::Scope;
use shared::error::{ApiError, Code, FieldError};
use shared::http::ApiResponse;
use shared::migrate::Index;
use shared::runtime::{ok, Ctx, HandlerResult};
use shared::time::rfc3339;
use shared::validate::{multiline, Errors};

/// The endpoints, one document each.
pub const ENDPOINTS: &str = "webhook_endpoints";
/// At most this many endpoints per organization.
const MAX_ENDPOINTS: u64 = 100;
const MAX_URL: usize = 2048;

/// The domain's own events, beside the registry's record events.
pub const DOMAIN_EVENTS: &[(&str, &str)] = &[
    (
        "work_order.status_changed",
        "A work order moved to another status.",
    ),
    (
        "work_order.approval_recorded",
        "The customer's decisions on a work order's lines were recorded.",
    ),
    ("invoice.issued", "A work order was invoiced."),
    (
        "payment.recorded",
        "A payment was recorded against an invoice.",
    ),
    ("appointment.booked", "An appointment was booked."),
    ("appointment.cancelled", "An appointment was cancelled."),
    ("lead.submitted", "A lead arrived through a public form."),
    (
        "part.stock_low",
        "A part's stock fell to its reorder level or below.",
    ),
    (
        "vehicle.odometer_recorded",
        "An odometer reading was recorded for a vehicle.",
    ),
    ("webhook.test", "A test message sent on request."),
];

/// Every event type with its description: the registry's record events,
/// then the domain's.
pub fn catalogue() -> Vec<(String, String)> {
    let mut all = vec![];
    for (_, e) in crate::registry::ENTITY_PATHS.iter() {
        for (verb, what) in [
            ("created", "created"),
            ("updated", "changed"),
            ("deleted", "deleted (to the trash)"),
            ("restored", "restored from the trash"),
        ] {
            let name = e.resource.replace('_', " ");
            all.push((
                format!("{}.{verb}", e.resource),
                format!("A {name} was {what}."),
            ));
        }
    }
    all.extend(
        DOMAIN_EVENTS
            .iter()
            .map(|(t, d)| (t.to_string(), d.to_string())),
    );
    all
}

/// The indexes the endpoints need.
pub fn indexes() -> Vec<Index> {
    vec![Index::on(
        ENDPOINTS,
        doc! { "organizationId": 1, "createdAt": -1 },
    )]
}

/// `GET /api/v1/webhook-event-types`.
pub async fn event_types(_ctx: Ctx) -> HandlerResult {
    let data: Vec<Value> = catalogue()
        .into_iter()
        .map(|(t, d)| json!({ "type": t, "description": d }))
        .collect();
    ok(json!({ "data": data, "nextCursor": null }))
}

/// The key the secret of endpoint `id` is sealed under.
fn secret_key(scope: &Scope, id: ObjectId) -> [u8; 32] {
    shared::seal::derive(
        scope.config().jwt_secret.expose(),
        "webhook-secret",
        &[&id.to_hex()],
    )
}

fn render(d: &Document) -> Value {
    let time = |k: &str| d.get_datetime(k).ok().map(|t| rfc3339(*t));
    json!({
        "id": d.get_object_id("_id").ok().map(|i| i.to_hex()),
        "url": d.get_str("url").unwrap_or(""),
        "events": shared::apikey::strings(d, "events"),
        "description": d.get_str("description").ok(),
        "status": d.get_str("status").unwrap_or("ENABLED"),
        "createdBy": d.get_object_id("createdBy").ok().map(|i| i.to_hex()),
        "createdAt": time("createdAt"),
        "updatedAt": time("updatedAt"),
        "version": shared::db::number(d, "version"),
    })
}

/// A target URL as stored, or why it is refused.
fn target(scope: &Scope, url: &str) -> Result<String, FieldError> {
    let refuse = |why: &str| Err(FieldError::new("url", why));
    let url = url.trim();
    if url.is_empty() || url.len() > MAX_URL {
        return refuse("must be an https URL of at most 2048 characters");
    }
    let Ok(uri) = url.parse::<http::Uri>() else {
        return refuse("is not a URL");
    };
    let Some(authority) = uri.authority() else {
        return refuse("must be an absolute URL such as https://hooks.example.com/workshop");
    };
    if authority.as_str().contains('@') {
        return refuse("must not carry credentials: authenticate by the signature");
    }
    let host = authority.host().trim_end_matches('.').to_ascii_lowercase();
    if host == "localhost" || host.ends_with(".localhost") {
        return refuse("points at this machine");
    }
    let allowed = &scope.config().webhooks_allow_networks;
    let address = shared::netguard::host_address(authority.host());
    if let Some(ip) = address {
        if !shared::netguard::reachable(ip, allowed) {
            return refuse(
                "points at a loopback, private, link-local or otherwise internal address",
            );
        }
    }
    let allowed_plain = address.is_some_and(|ip| shared::netguard::in_allowed(ip, allowed));
    match uri.scheme_str() {
        Some("https") => {}
        Some("http") if allowed_plain => {}
        _ => return refuse("must be https"),
    }
    if authority.host().is_empty() {
        return refuse("must name a host");
    }
    Ok(url.to_string())
}

/// The event selectors as stored, or what is wrong with them.
fn selectors(errors: &mut Errors, given: &[String]) -> Vec<String> {
    if given.is_empty() || given.len() > 100 {
        errors.push(FieldError::new("events", "must name 1 to 100 event types"));
        return vec![];
    }
    let types = catalogue();
    let mut out: Vec<String> = vec![];
    for s in given {
        let known = s == "*"
            || types.iter().any(|(t, _)| t == s)
            || s.strip_suffix(".*").is_some_and(|prefix| {
                types
                    .iter()
                    .any(|(t, _)| t.split_once('.').is_some_and(|(p, _)| p == prefix))
            });
        if !known {
            errors.push(FieldError::new(
                "events",
                format!("{s:?} is no event type, `*` or `<record>.*` (GET /api/v1/webhook-event-types lists them)"),
            ));
        } else if !out.contains(s) {
            out.push(s.clone());
        }
    }
    out
}

fn description(errors: &mut Errors, given: Option<&str>) -> Option<String> {
    given.and_then(|d| errors.check(multiline("description", d, 500)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NewEndpoint {
    url: String,
    events: Vec<String>,
    description: Option<String>,
}

/// `POST /api/v1/webhooks {url, events, description?}` -> 201 with the
/// signing secret, shown this once (a keyed retry replays `secret: null`).
pub async fn create(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let input: NewEndpoint = ctx.req.json()?;
    let mut errors = Errors::new();
    let url = errors.check(target(scope, &input.url));
    let events = selectors(&mut errors, &input.events);
    let description = description(&mut errors, input.description.as_deref());
    errors.finish()?;
    let url = url.ok_or_else(|| ApiError::internal("validated endpoint input incomplete"))?;
    if scope.collection(ENDPOINTS).count(doc! {}).await? >= MAX_ENDPOINTS {
        return Err(ApiError::conflict(
            Code::AlreadyExists,
            format!("An organization has at most {MAX_ENDPOINTS} webhook endpoints"),
        ));
    }
    let id = ObjectId::new();
    let secret = shared::signature::new_secret();
    let sealed = shared::seal::seal(&secret_key(scope, id), secret.as_bytes())
        .ok_or_else(|| ApiError::internal("the webhook secret could not be sealed"))?;
    let now = DateTime::now();
    let record = doc! {
        "_id": id, "url": &url, "events": &events, "description": description,
        "status": "ENABLED",
        "secret": Bson::Binary(Binary { subtype: BinarySubtype::Generic, bytes: sealed }),
        "createdBy": scope.caller().user.id, "createdAt": now, "updatedAt": now, "version": 1_i64,
    };
    let mut shown = render(&record);
    shown["secret"] = Value::Null;
    let replay = ApiResponse::json(http::StatusCode::CREATED, &shown);
    shown["secret"] = Value::String(secret);
    let (record, replay) = (&record, &replay);
    scope
        .transaction(|tx| {
            Box::pin(async move {
                tx.insert_one(ENDPOINTS, record.clone()).await?;
                tx.update_organization(doc! { "$inc": { "webhookEndpoints": 1_i64 } })
                    .await?;
                tx.audit(
                    AuditEntry::new(Action::Create, "webhook_endpoint")
                        .id(id)
                        .changes(doc! { "url": record.get("url").cloned(), "events": record.get("events").cloned() }),
                )
                .await?;
                tx.respond(replay)
            })
        })
        .await?;
    Ok(ApiResponse::json(http::StatusCode::CREATED, &shown))
}

/// `GET /api/v1/webhooks`: every endpoint, newest first, without secrets.
pub async fn list(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let docs = scope
        .collection(ENDPOINTS)
        .find_many(
            doc! {},
            doc! { "createdAt": -1, "_id": -1 },
            MAX_ENDPOINTS as i64,
            Some(doc! { "secret": 0 }),
        )
        .await?;
    let data: Vec<Value> = docs.iter().map(render).collect();
    ok(json!({ "data": data, "nextCursor": null }))
}

async fn find(scope: &Scope, id: ObjectId) -> Result<Document, ApiError> {
    scope
        .collection(ENDPOINTS)
        .find_one(doc! { "_id": id })
        .await?
        .ok_or(ApiError::NotFound {
            resource: "webhook endpoint",
        })
}

/// `GET /api/v1/webhooks/{id}`.
pub async fn get(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    ok(render(&find(scope, ctx.path_id()?).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct EndpointPatch {
    url: Option<String>,
    events: Option<Vec<String>>,
    description: Option<String>,
}

/// `PATCH /api/v1/webhooks/{id} {url?, events?, description?}`: the same
/// rules as a create.
pub async fn update(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let id = ctx.path_id()?;
    let input: EndpointPatch = ctx.req.json()?;
    let mut errors = Errors::new();
    let mut set = Document::new();
    if let Some(url) = &input.url {
        if let Some(url) = errors.check(target(scope, url)) {
            set.insert("url", url);
        }
    }
    if let Some(events) = &input.events {
        set.insert("events", selectors(&mut errors, events));
    }
    if let Some(d) = description(&mut errors, input.description.as_deref()) {
        set.insert("description", d);
    }
    errors.finish()?;
    if set.is_empty() {
        // Another organization's endpoint is a 404 before anything else.
        find(scope, id).await?;
        return Err(ApiError::bad_request(
            Code::NothingToUpdate,
            "Name at least one of url, events, description",
        ));
    }
    set.insert("updatedAt", DateTime::now());
    let set = &set;
    let after = scope
        .transaction(|tx| {
            Box::pin(async move {
                let after = tx
                    .find_one_and_update(
                        ENDPOINTS,
                        doc! { "_id": id },
                        doc! { "$set": set.clone(), "$inc": { "version": 1_i64 } },
                    )
                    .await?
                    .ok_or(ApiError::NotFound {
                        resource: "webhook endpoint",
                    })?;
                let mut changes = set.clone();
                changes.remove("updatedAt");
                tx.audit(
                    AuditEntry::new(Action::Update, "webhook_endpoint")
                        .id(id)
                        .changes(changes),
                )
                .await?;
                Ok(after)
            })
        })
        .await?;
    ok(render(&after))
}

/// `DELETE /api/v1/webhooks/{id}` -> 204: the endpoint and its secret are
/// gone.
pub async fn delete(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let id = ctx.path_id()?;
    scope
        .transaction(|tx| {
            Box::pin(async move {
                if !tx.delete_one(ENDPOINTS, doc! { "_id": id }).await? {
                    return Err(ApiError::NotFound {
                        resource: "webhook endpoint",
                    });
                }
                tx.update_organization(doc! { "$inc": { "webhookEndpoints": -1_i64 } })
                    .await?;
                tx.audit(AuditEntry::new(Action::Delete, "webhook_endpoint").id(id))
                    .await
            })
        })
        .await?;
    Ok(ApiResponse::no_content())
}
