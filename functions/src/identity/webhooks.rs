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
use bson::{doc, Bson, DateTime, Document};
use serde::Deserialize;
use serde_json::{json, Value};
use shared::audit::{Action, AuditEntry};
use shared::db::{collections, number, Scope};
use shared::error::{ApiError, Code, FieldError};
use shared::http::ApiResponse;
use shared::migrate::Index;
use shared::records::{self, Filter, ListSpec};
use shared::runtime::{ok, Ctx, HandlerResult};
use shared::time::rfc3339;
use shared::validate::{multiline, Errors};
use shared::webhook::{self as delivery, DISABLED, ENABLED};

/// The endpoints, one document each.
pub const ENDPOINTS: &str = collections::WEBHOOK_ENDPOINTS;
/// Their messages (`shared::webhook`).
const MESSAGES: &str = collections::WEBHOOK_MESSAGES;
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
    (
        "inspection.completed",
        "A work order's inspection was completed (its ratings frozen).",
    ),
    (
        "estimate.viewed",
        "A customer opened an estimate's share link for the first time.",
    ),
    (
        "estimate.decided",
        "A customer decided on an estimate's lines through its share link (each line's decision).",
    ),
    (
        "purchase_order.ordered",
        "A purchase order was sent to its vendor (ORDERED).",
    ),
    (
        "purchase_order.received",
        "A receipt was recorded against a purchase order.",
    ),
    (
        "service_reminder.sent",
        "A service reminder was emailed to the customer (one event per reminder).",
    ),
    (
        "contact.unsubscribed",
        "A contact unsubscribed from reminder emails by their one-click link.",
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

fn render(d: &Document) -> Value {
    let time = |k: &str| d.get_datetime(k).ok().map(|t| rfc3339(*t));
    json!({
        "id": d.get_object_id("_id").ok().map(|i| i.to_hex()),
        "url": d.get_str("url").unwrap_or(""),
        "events": shared::apikey::strings(d, "events"),
        "description": d.get_str("description").ok(),
        "status": d.get_str("status").unwrap_or(ENABLED),
        "disabledAt": time("disabledAt"),
        "disabledReason": d.get_str("disabledReason").ok(),
        "failingSince": time("failingSince"),
        "failedMessages": number(d, "failedMessages").unwrap_or(0),
        "previousSecretExpiresAt": time("previousSecretUntil")
            .filter(|_| d.get_datetime("previousSecretUntil").is_ok_and(|t| *t > DateTime::now())),
        "createdBy": d.get_object_id("createdBy").ok().map(|i| i.to_hex()),
        "createdAt": time("createdAt"),
        "updatedAt": time("updatedAt"),
        "version": number(d, "version"),
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
    let id = ObjectId::new();
    let secret = shared::signature::new_secret();
    let sealed = delivery::seal_secret(scope.config(), id, &secret)
        .ok_or_else(|| ApiError::internal("the webhook secret could not be sealed"))?;
    let now = DateTime::now();
    let record = doc! {
        "_id": id, "url": &url, "events": &events, "description": description,
        "status": ENABLED, "secret": sealed, "failedMessages": 0_i64,
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
                // Counted in the transaction: concurrent creates write the
                // organization's counter, so they conflict and run again
                // one after another; the limit is on the endpoints as this
                // transaction sees them (the counter only says whether
                // there are any).
                tx.update_organization(doc! { "$inc": { "webhookEndpoints": 1_i64 } })
                    .await?
                    .ok_or_else(|| ApiError::internal("the caller's organization vanished"))?;
                if tx.count(ENDPOINTS, doc! {}).await? > MAX_ENDPOINTS {
                    return Err(ApiError::conflict(
                        Code::AlreadyExists,
                        format!("An organization has at most {MAX_ENDPOINTS} webhook endpoints"),
                    ));
                }
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

/// An endpoint's deliveries: newest first, by status, type and time.
pub(crate) static DELIVERIES: ListSpec = ListSpec {
    sort_fields: &["createdAt"],
    default_sort: "-createdAt",
    search_fields: &[],
    filters: &[
        Filter::text("status"),
        Filter::text("type"),
        Filter::from("since", "createdAt"),
        Filter::to("until", "createdAt"),
    ],
};

/// A message as the delivery log shows it, attempts oldest first.
fn render_message(d: &Document) -> Value {
    let time = |k: &str| d.get_datetime(k).ok().map(|t| rfc3339(*t));
    let status = d.get_str("status").unwrap_or(delivery::PENDING);
    let attempts: Vec<Value> = d
        .get_array("attempts")
        .map(|a| {
            a.iter()
                .filter_map(Bson::as_document)
                .map(|a| {
                    json!({
                        "at": a.get_datetime("at").ok().map(|t| rfc3339(*t)),
                        "durationMs": number(a, "durationMs").unwrap_or(0),
                        "statusCode": number(a, "statusCode"),
                        "error": a.get_str("error").ok(),
                        "responseBody": a.get_str("responseBody").ok(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let id = d.get_object_id("_id").ok();
    json!({
        "id": id.map(|i| i.to_hex()),
        "webhookId": id.map(|i| format!("msg_{i}")),
        "eventId": d.get_object_id("eventId").ok().map(|i| i.to_hex()),
        "type": d.get_str("type").unwrap_or(""),
        "status": status,
        "createdAt": time("createdAt"),
        "nextAttemptAt": if status == delivery::PENDING { time("nextAttemptAt") } else { None },
        "deliveredAt": time("deliveredAt"),
        "attempts": attempts,
    })
}

/// The indexes the delivery log needs are the platform's
/// (`shared::migrate`, `0011_webhook_messages`).
///
/// `GET /api/v1/webhooks/{id}/deliveries?status=&type=&since=&until=&cursor=&limit=`.
pub async fn deliveries(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let id = ctx.path_id()?;
    let (endpoint, page) = tokio::join!(
        find(scope, id),
        records::page(
            &ctx.req,
            scope,
            MESSAGES,
            &DELIVERIES,
            doc! { "endpointId": id },
            None
        )
    );
    endpoint?;
    let (docs, next) = page?;
    let data: Vec<Value> = docs.iter().map(render_message).collect();
    ok(json!({ "data": data, "nextCursor": next }))
}

/// An enabled endpoint, or 404 / 409 `ENDPOINT_DISABLED`.
async fn enabled(scope: &Scope, id: ObjectId) -> Result<Document, ApiError> {
    let endpoint = find(scope, id).await?;
    if endpoint.get_str("status").unwrap_or(ENABLED) != ENABLED {
        return Err(ApiError::conflict(
            Code::EndpointDisabled,
            "The endpoint is disabled: enable it first (POST /api/v1/webhooks/{id}/enable)",
        ));
    }
    Ok(endpoint)
}

/// [`enabled`], then one send by hand (a test, a retry, a recovery)
/// counted against the organization's hourly `WEBHOOK_SENDS` (429 past
/// it): a refused request spends nothing.
async fn sendable(scope: &Scope, id: ObjectId) -> Result<Document, ApiError> {
    let endpoint = enabled(scope, id).await?;
    scope
        .spend(shared::ratelimit::LimitedAction::WebhookSends)
        .await?;
    Ok(endpoint)
}

/// `POST /api/v1/webhooks/{id}/deliveries/{messageId}/retry` -> 202: the
/// message is queued again with a fresh schedule and attempted at once
/// (within the request's budget); answers it as it then stands. One
/// already waiting or being sent is 409 `MESSAGE_IN_FLIGHT`.
pub async fn retry(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let id = ctx.path_id()?;
    let message =
        shared::validate::object_id("messageId", ctx.req.param("messageId").unwrap_or(""))?;
    sendable(scope, id).await?;
    let now = DateTime::now();
    let queued = scope
        .transaction(|tx| {
            Box::pin(async move {
                let queued = tx
                    .update_by_id(
                        MESSAGES,
                        doc! { "_id": message, "endpointId": id,
                               "status": { "$in": [delivery::FAILED, delivery::SKIPPED, delivery::DELIVERED] } },
                        doc! { "$set": { "status": delivery::PENDING, "nextAttemptAt": now, "tries": 0_i32 } },
                    )
                    .await?;
                if queued.is_some() {
                    tx.audit(
                        AuditEntry::new(Action::Update, "webhook_message")
                            .id(message)
                            .changes(doc! { "status": delivery::PENDING, "endpointId": id }),
                    )
                    .await?;
                }
                Ok(queued)
            })
        })
        .await?;
    let messages = scope.collection(MESSAGES);
    if queued.is_none() {
        return match messages
            .find_one(doc! { "_id": message, "endpointId": id })
            .await?
        {
            Some(_) => Err(ApiError::conflict(
                Code::MessageInFlight,
                "The message is already waiting for its next attempt or being sent",
            )),
            None => Err(ApiError::NotFound {
                resource: "webhook message",
            }),
        };
    }
    delivery::send_now(scope.state(), message).await;
    accepted(scope, message).await
}

/// 202 with message `id` as it stands after its inline attempt.
async fn accepted(scope: &Scope, id: ObjectId) -> HandlerResult {
    let after = scope
        .collection(MESSAGES)
        .find_one(doc! { "_id": id })
        .await?
        .ok_or(ApiError::NotFound {
            resource: "webhook message",
        })?;
    Ok(ApiResponse::json(
        http::StatusCode::ACCEPTED,
        &render_message(&after),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Recovery {
    /// Required; optional here so that another organization's endpoint is
    /// a 404 first.
    since: Option<String>,
    until: Option<String>,
}

/// `POST /api/v1/webhooks/{id}/recover {since, until?}` -> 202 `{queued}`:
/// every FAILED or SKIPPED message of the endpoint from that range is
/// queued once more (a second recovery finds them queued), sent by
/// `send-webhooks` oldest first.
pub async fn recover(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let id = ctx.path_id()?;
    let input: Recovery = ctx.req.json()?;
    // Another organization's endpoint is a 404 before anything else.
    enabled(scope, id).await?;
    let mut errors = Errors::new();
    let time = |field: &str, v: &str| {
        DateTime::parse_rfc3339_str(v)
            .map_err(|_| FieldError::new(field, "must be a time such as 2026-12-01T00:00:00Z"))
    };
    let since = match input.since.as_deref() {
        Some(v) => errors.check(time("since", v)),
        None => errors.check(Err(FieldError::new("since", "is required"))),
    };
    let until = input
        .until
        .as_deref()
        .and_then(|u| errors.check(time("until", u)));
    errors.finish()?;
    let since = since.ok_or_else(|| ApiError::internal("validated recovery incomplete"))?;
    scope
        .spend(shared::ratelimit::LimitedAction::WebhookSends)
        .await?;
    let mut range = doc! { "$gte": since };
    if let Some(until) = until {
        range.insert("$lt", until);
    }
    let now = DateTime::now();
    let range = &range;
    let queued = scope
        .transaction(|tx| {
            Box::pin(async move {
                let n = tx
                    .update_many(
                        MESSAGES,
                        doc! { "endpointId": id, "createdAt": range.clone(),
                               "status": { "$in": [delivery::FAILED, delivery::SKIPPED] } },
                        doc! { "$set": { "status": delivery::PENDING, "nextAttemptAt": now, "tries": 0_i32 } },
                    )
                    .await?;
                tx.audit(
                    AuditEntry::new(Action::Update, "webhook_endpoint")
                        .id(id)
                        .changes(doc! { "recovered": n as i64, "since": range.get("$gte").cloned() }),
                )
                .await?;
                Ok(n)
            })
        })
        .await?;
    Ok(ApiResponse::json(
        http::StatusCode::ACCEPTED,
        &json!({ "queued": queued }),
    ))
}

/// `POST /api/v1/webhooks/{id}/test` -> 202: a `webhook.test` message to
/// this endpoint alone, attempted at once; answers it as it then stands.
pub async fn test(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let id = ctx.path_id()?;
    let endpoint = sendable(scope, id).await?;
    let message = delivery::send_test(scope.state(), scope.org_id(), &endpoint).await?;
    scope
        .audit(
            AuditEntry::new(Action::Create, "webhook_message")
                .id(message)
                .changes(doc! { "type": "webhook.test", "endpointId": id }),
        )
        .await;
    accepted(scope, message).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SecretRotation {
    grace_period_hours: Option<i64>,
}

/// `POST /api/v1/webhooks/{id}/rotate-secret {gracePeriodHours: 0-72,
/// default 24}`: a new signing secret, answered once; until the grace
/// ends every message carries a signature by each (a keyed retry replays
/// `secret: null`).
pub async fn rotate_secret(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let id = ctx.path_id()?;
    let input: SecretRotation = ctx.req.json_or_empty()?;
    let mut errors = Errors::new();
    let grace = super::api_keys::int_in(
        &mut errors,
        "gracePeriodHours",
        input.grace_period_hours,
        0,
        72,
        24,
    );
    errors.finish()?;
    let old = find(scope, id).await?;
    let secret = shared::signature::new_secret();
    let sealed = delivery::seal_secret(scope.config(), id, &secret)
        .ok_or_else(|| ApiError::internal("the webhook secret could not be sealed"))?;
    let now = DateTime::now();
    let until = shared::db::shifted(now, grace * shared::db::HOUR_MS);
    let mut set = doc! { "secret": sealed, "updatedAt": now };
    if grace > 0 {
        set.insert(
            "previousSecret",
            old.get("secret").cloned().unwrap_or(Bson::Null),
        );
        set.insert("previousSecretUntil", until);
    } else {
        set.insert("previousSecret", Bson::Null);
        set.insert("previousSecretUntil", Bson::Null);
    }
    let version = old.get("version").cloned().unwrap_or(Bson::Null);
    let mut shown = json!({
        "id": id.to_hex(),
        "secret": null,
        "previousSecretExpiresAt": (grace > 0).then(|| rfc3339(until)),
    });
    let replay = ApiResponse::json(http::StatusCode::OK, &shown);
    let (set, replay, version) = (&set, &replay, &version);
    scope
        .transaction(|tx| {
            Box::pin(async move {
                // Conditional on the version read: a concurrent rotation
                // would otherwise keep a secret nobody holds as "previous".
                tx.update_by_id(
                    ENDPOINTS,
                    doc! { "_id": id, "version": version.clone() },
                    doc! { "$set": set.clone(), "$inc": { "version": 1_i64 } },
                )
                .await?
                .ok_or_else(|| {
                    ApiError::conflict(
                        Code::WriteConflict,
                        "The endpoint changed meanwhile: rotate again",
                    )
                })?;
                tx.audit(
                    AuditEntry::new(Action::Update, "webhook_endpoint")
                        .id(id)
                        .changes(doc! { "secret": "rotated", "gracePeriodHours": grace }),
                )
                .await?;
                tx.respond(replay)
            })
        })
        .await?;
    shown["secret"] = Value::String(secret);
    ok(shown)
}

/// `POST /api/v1/webhooks/{id}/enable`: a disabled endpoint takes messages
/// again, its failure counts cleared (what it skipped stays for a
/// recovery).
pub async fn enable(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let id = ctx.path_id()?;
    let after = scope
        .transaction(|tx| {
            Box::pin(async move {
                let after = tx
                    .find_one_and_update(
                        ENDPOINTS,
                        doc! { "_id": id },
                        doc! { "$set": {
                            "status": ENABLED, "disabledAt": null, "disabledReason": null,
                            "failingSince": null, "failedMessages": 0_i64,
                            "noticeExhaustedAt": null, "noticeWarningAt": null, "noticeDisabledAt": null,
                            "updatedAt": DateTime::now(),
                        }, "$inc": { "version": 1_i64 } },
                    )
                    .await?
                    .ok_or(ApiError::NotFound {
                        resource: "webhook endpoint",
                    })?;
                tx.audit(
                    AuditEntry::new(Action::Update, "webhook_endpoint")
                        .id(id)
                        .changes(doc! { "status": ENABLED }),
                )
                .await?;
                Ok(after)
            })
        })
        .await?;
    ok(render(&after))
}

/// An endpoint failing this long, with at least [`DISABLE_AFTER_FAILED`]
/// failed messages, is disabled.
pub const DISABLE_AFTER_DAYS: i64 = 5;
pub const DISABLE_AFTER_FAILED: i64 = 10;

/// The notices about a failing endpoint: its flag, what must hold, the
/// subject and the sentence.
struct Notice {
    flag: &'static str,
    due: fn(DateTime) -> Document,
    headline: &'static str,
    detail: &'static str,
}

const NOTICES: [Notice; 3] = [
    Notice {
        flag: "noticeExhaustedAt",
        due: |_| doc! { "failedMessages": { "$gte": 1_i64 }, "failingSince": { "$ne": null } },
        headline: "A webhook message could not be delivered",
        detail: "A webhook message to this endpoint failed every attempt over about three days and will not be retried by itself. The endpoint is disabled after failing for 5 days with at least 10 such messages.",
    },
    Notice {
        flag: "noticeWarningAt",
        due: |now| doc! { "status": ENABLED,
            "failingSince": { "$lte": shared::db::shifted(now, -(DISABLE_AFTER_DAYS - 1) * shared::db::DAY_MS) } },
        headline: "A webhook endpoint will be disabled in 24 hours",
        detail: "This endpoint has failed every delivery for 4 days. If it still fails in 24 hours with at least 10 failed messages, it is disabled: later messages are kept, not sent, until it is enabled again.",
    },
    Notice {
        flag: "noticeDisabledAt",
        due: |_| doc! { "status": DISABLED, "disabledAt": { "$ne": null } },
        headline: "A webhook endpoint was disabled",
        detail: "This endpoint was disabled: it kept failing (or answered 410 Gone). Messages for it are kept as SKIPPED; enable it and recover them once the receiver works.",
    },
];

/// Part of `send-webhooks` (every minute), at `now`: disables the
/// endpoints failing [`DISABLE_AFTER_DAYS`] days with at least
/// [`DISABLE_AFTER_FAILED`] failed messages whose owners were warned a
/// day before or earlier, then emails the owners and
/// admins of each endpoint once per notice (a message first exhausted, a
/// day before the disable, the disable), each claimed by a conditional
/// update in the transaction that queues its emails, so no rerun sends one
/// twice. Returns how many endpoints were disabled or noticed.
pub async fn watch(db: &shared::unscoped::Unscoped<'_>, now: DateTime) -> Result<u64, ApiError> {
    let endpoints = db.collection(ENDPOINTS);
    let mut touched = endpoints
        .update_many(
            doc! {
                "status": ENABLED,
                "failingSince": { "$lte": shared::db::shifted(now, -DISABLE_AFTER_DAYS * shared::db::DAY_MS) },
                "failedMessages": { "$gte": DISABLE_AFTER_FAILED },
                // Never without the warning a day before.
                "noticeWarningAt": { "$lte": shared::db::shifted(now, -shared::db::DAY_MS) },
            },
            doc! { "$set": { "status": DISABLED, "disabledAt": now, "disabledReason": "FAILING" } },
        )
        .await?;
    for notice in &NOTICES {
        let mut due = (notice.due)(now);
        due.insert(notice.flag, Bson::Null);
        let found = endpoints
            .find_many(
                due.clone(),
                doc! { "_id": 1 },
                500,
                Some(doc! { "secret": 0, "previousSecret": 0 }),
            )
            .await?;
        for endpoint in &found {
            let (Ok(id), Ok(org)) = (
                endpoint.get_object_id("_id"),
                endpoint.get_object_id("organizationId"),
            ) else {
                continue;
            };
            let (orgs, users) = (
                db.collection(collections::ORGANIZATIONS),
                db.collection(collections::USERS),
            );
            let (organization, staff) = tokio::try_join!(
                orgs.find_one(doc! { "_id": org }),
                users.find_many(
                    doc! { "organizationId": org, "role": { "$in": ["OWNER", "ADMIN"] }, "status": "ACTIVE" },
                    doc! { "_id": 1 },
                    50,
                    Some(doc! { "email": 1, "firstName": 1 }),
                ),
            )?;
            let organization = organization
                .as_ref()
                .and_then(|o| o.get_str("name").ok())
                .unwrap_or("your organization")
                .to_string();
            let hex = id.to_hex();
            let failing = crate::emails::FailingEndpoint {
                organization: &organization,
                endpoint_id: &hex,
                url: endpoint.get_str("url").unwrap_or(""),
                since: endpoint
                    .get_datetime("failingSince")
                    .or_else(|_| endpoint.get_datetime("disabledAt"))
                    .copied()
                    .unwrap_or(now),
                headline: notice.headline,
                detail: notice.detail,
            };
            let messages: Vec<_> = staff
                .iter()
                .filter_map(|u| {
                    let to = u.get_str("email").ok()?;
                    let name = u.get_str("firstName").unwrap_or("");
                    Some((
                        u.get_object_id("_id").ok(),
                        crate::emails::webhook_failing(db.config(), to, name, &failing),
                    ))
                })
                .collect();
            let (due, messages, flag) = (&due, &messages, notice.flag);
            let claimed = db
                .transaction(|tx| {
                    Box::pin(async move {
                        let mut claim = due.clone();
                        claim.insert("_id", id);
                        if tx
                            .update_one(ENDPOINTS, claim, doc! { "$set": { flag: now } })
                            .await?
                            == 0
                        {
                            return Ok(false);
                        }
                        for (user, message) in messages {
                            tx.queue_email(Some(org), *user, message).await?;
                        }
                        Ok(true)
                    })
                })
                .await?;
            touched += u64::from(claimed);
        }
    }
    Ok(touched)
}
