//! Public lead forms: a workshop's website posts leads straight into its
//! CRM. A form (ADMIN+) names the lead fields it accepts, the origins it
//! may be posted from, where a browser goes afterwards and which product
//! and source its leads get. Submitters address it by its `publicId` (128
//! random bits, URL-safe, distinct from the record id, replaced by
//! `rotate-key`), never by anything that names the organization.
//!
//! A submission (`POST /api/v1/public/forms/{publicId}/submissions`, no
//! authentication) is JSON (answered with JSON) or a plain HTML form post
//! (`application/x-www-form-urlencoded`, answered with a 303 to the form's
//! `redirectUrl` or a small thank-you page), at most 16 KiB. The form's
//! `allowedOrigins` are enforced twice: by CORS for scripts (no
//! credentials), and on the `Origin` header of every submission, so a form
//! posted from another site is refused (403) even when no script is
//! involved. Unknown fields are dropped; the form's fields are validated
//! like a lead's. Spam costs the spammer: a filled honeypot field gets
//! exactly the answer a success gets but makes no lead (the submission is
//! kept, marked spam, under a daily cap of its own); 20 submissions per
//! form and client key per hour (the PUBLIC_FORM bucket: an IPv6 client by
//! its /64); a daily cap of real submissions per form by plan. A
//! submission whose email matches a live lead of the organization is
//! attached to that lead and changes none of its fields: staff see it
//! among the lead's submissions and decide. Every submission is stored in
//! `form_submissions` with its payload as accepted, consent, client
//! address, user agent and lead.

use bson::oid::ObjectId;
use bson::{doc, Bson, DateTime, Document};
use http::StatusCode;
use rand::RngCore;
use serde_json::{json, Map, Value};
use shared::audit::{Action, AuditEntry};
use shared::db::{collections, Tx};
use shared::error::{id_of, ApiError, Code, FieldError, OrInternal};
use shared::fields::{Field, Kind};
use shared::http::{parse_query, ApiRequest, ApiResponse};
use shared::migrate::Index;
use shared::model::Plan;
use shared::ratelimit::{self, LimitedAction};
use shared::records::{self, find_live, render, Entity, Filter, ListSpec, Write};
use shared::runtime::{ok, Ctx, HandlerResult};
use shared::store::RequestMeta;
use shared::unscoped::{Purpose, Unscoped};

use super::leads::LEAD;
use shared::time::{DAY_MS, DAY_SECS};

pub const FORMS: &str = "forms";
pub const FORM_SUBMISSIONS: &str = "form_submissions";

/// The largest submission body.
pub const MAX_SUBMISSION_BYTES: usize = 16 * 1024;

/// The honeypot field when a form names none.
const HONEYPOT: &str = "_gotcha";
/// The field the Turnstile widget adds to the form it sits in.
const TURNSTILE_FIELD: &str = "cf-turnstile-response";

/// The lead fields a form may accept.
const LEAD_FIELDS: [&str; 5] = ["firstName", "lastName", "email", "phone", "company"];

static FORM_FIELD: &[Field] = &[
    Field::required(
        "field",
        Kind::Enum {
            values: &LEAD_FIELDS,
            default: None,
        },
    ),
    Field::optional("required", Kind::Bool { default: None }),
];

pub static FORM: Entity = Entity {
    collection: FORMS,
    resource: "form",
    list: ListSpec {
        sort_fields: &["createdAt", "updatedAt", "name"],
        default_sort: "-createdAt",
        search_fields: &["name"],
        filters: &[Filter::boolean("active"), Filter::id("productId")],
    },
    fields: &[
        Field::required("name", Kind::Text { min: 1, max: 100 }),
        Field::required(
            "fields",
            Kind::Rows {
                of: FORM_FIELD,
                max: 5,
            },
        ),
        Field::optional("allowedOrigins", Kind::Origins),
        Field::optional("redirectUrl", Kind::Url),
        Field::optional("productId", Kind::Ref(crate::crm::collections::PRODUCTS)),
        Field::optional(
            "source",
            Kind::Enum {
                values: &["WEBSITE", "REFERRAL", "PHONE", "WALK_IN", "FORM", "OTHER"],
                default: Some("FORM"),
            },
        ),
        Field::optional(
            "active",
            Kind::Bool {
                default: Some(true),
            },
        ),
        Field::optional("honeypotField", Kind::Text { min: 1, max: 50 }),
        // Write-only (shown as `turnstileSecretSet`): with it, every
        // submission needs a Cloudflare Turnstile token the server verifies.
        Field::optional("turnstileSecret", Kind::Text { min: 1, max: 200 }),
        Field::optional(
            "notifyAdmins",
            Kind::Bool {
                default: Some(true),
            },
        ),
    ],
    prepare: Some(|_, write, fields| {
        Box::pin(async move {
            if let Write::Create = write {
                fields.insert("publicId", public_id());
            }
            Ok(())
        })
    }),
    written: Some(|tx, write, after| Box::pin(check(tx, write, after))),
    admin_only: true,
    ..Entity::DEFAULTS
};

/// A new public id: 128 random bits as 32 hex digits (URL-safe).
fn public_id() -> String {
    let mut bytes = [0_u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    shared::hex::hex(&bytes)
}

/// Public ids are unique across organizations (submitters name nothing
/// else); submissions are read per form, newest first, and counted per
/// form per day.
pub fn indexes() -> Vec<Index> {
    vec![
        Index::unique_where(
            FORMS,
            doc! { "publicId": 1 },
            doc! { "publicId": { "$exists": true } },
        ),
        Index::on(
            FORM_SUBMISSIONS,
            doc! { "organizationId": 1, "formId": 1, "createdAt": -1, "_id": -1 },
        ),
        Index::on(
            FORM_SUBMISSIONS,
            doc! { "organizationId": 1, "formId": 1, "ipAddress": 1, "createdAt": -1, "_id": -1 },
        ),
        // A lead's submissions, newest first.
        Index::on(
            FORM_SUBMISSIONS,
            doc! { "organizationId": 1, "leadId": 1, "createdAt": -1, "_id": -1 },
        ),
        // One live lead per email among those forms created: concurrent
        // first submissions make one (`deletedAt` is null on live leads and
        // a distinct time on each deleted one).
        Index::unique_where(
            crate::crm::collections::LEADS,
            doc! { "organizationId": 1, "formEmail": 1, "deletedAt": 1 },
            doc! { "formEmail": { "$type": "string" } },
        ),
    ]
}

/// A form names each lead field once.
async fn check(_: &mut Tx<'_>, write: Write<'_>, after: &Document) -> Result<(), ApiError> {
    if let Write::Delete = write {
        return Ok(());
    }
    let mut seen = vec![];
    for (i, row) in after
        .get_array("fields")
        .map(|a| a.iter().filter_map(Bson::as_document).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let f = row.get_str("field").unwrap_or_default();
        if seen.contains(&f) {
            return Err(ApiError::field(
                &format!("fields[{i}].field"),
                format!("names {f} a second time"),
            ));
        }
        seen.push(f);
    }
    if seen.is_empty() {
        return Err(ApiError::field("fields", "must name at least one field"));
    }
    Ok(())
}

/// `POST /api/v1/forms/{id}/rotate-key`: a new `publicId`; the old one
/// stops working at once.
pub async fn rotate_key(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let id = ctx.path_id()?;
    find_live(scope, &FORM, id).await?;
    let key = public_id();
    let key = &key;
    let after = scope
        .transaction(|tx| {
            Box::pin(async move {
                let after = tx
                    .find_one_and_update(
                        FORMS,
                        doc! { "_id": id, "deletedAt": null },
                        doc! { "$set": { "publicId": key, "updatedAt": DateTime::now() }, "$inc": { "version": 1_i64 } },
                    )
                    .await?
                    .ok_or(ApiError::NotFound { resource: "form" })?;
                tx.audit(
                    AuditEntry::new(Action::Update, "form")
                        .id(id)
                        .changes(doc! { "publicId": "rotated" }),
                )
                .await?;
                Ok(after)
            })
        })
        .await?;
    Ok(ApiResponse::ok(&render(&after)))
}

pub(crate) static SUBMISSIONS: ListSpec = ListSpec {
    sort_fields: &["createdAt"],
    default_sort: "-createdAt",
    search_fields: &[],
    filters: &[
        Filter::from("since", "createdAt"),
        Filter::to("until", "createdAt"),
        Filter::text("ipAddress"),
        Filter::boolean("spam"),
    ],
};

/// `GET /api/v1/forms/{id}/submissions?since=&until=&ipAddress=&spam=`:
/// the form's submissions, newest first, by cursor.
pub async fn submissions(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let id = ctx.path_id()?;
    find_live(scope, &FORM, id).await?;
    let (docs, next) = records::page(
        &ctx.req,
        scope,
        FORM_SUBMISSIONS,
        &SUBMISSIONS,
        doc! { "formId": id },
        None,
    )
    .await?;
    let data: Vec<Value> = docs.iter().map(render).collect();
    ok(json!({ "data": data, "nextCursor": next }))
}

pub(crate) static LEAD_SUBMISSIONS: ListSpec = ListSpec {
    sort_fields: &["createdAt"],
    default_sort: "-createdAt",
    search_fields: &[],
    filters: &[],
};

/// `GET /api/v1/leads/{id}/submissions`: the form submissions filed under
/// the lead, newest first, by cursor: what was sent, the consent and when,
/// for anyone who reads leads; the submitter's address, user agent and
/// origin only in the form's own list (ADMIN+).
pub async fn lead_submissions(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let id = ctx.path_id()?;
    find_live(scope, &LEAD, id).await?;
    let (docs, next) = records::page(
        &ctx.req,
        scope,
        FORM_SUBMISSIONS,
        &LEAD_SUBMISSIONS,
        doc! { "leadId": id },
        Some(doc! { "ipAddress": 0, "userAgent": 0, "origin": 0 }),
    )
    .await?;
    let data: Vec<Value> = docs.iter().map(render).collect();
    ok(json!({ "data": data, "nextCursor": next }))
}

/// The live, active form of an active organization with `public_id`,
/// with its organization's plan and whether it has webhook endpoints (to
/// announce the lead to); `None` for anything a submitter must not be told
/// apart (unknown, inactive, deleted, organization deactivated).
async fn live_form(
    db: &Unscoped<'_>,
    public_id: &str,
) -> Result<Option<(Document, Plan, bool)>, ApiError> {
    let Some(form) = db
        .collection(FORMS)
        .find_one(doc! { "publicId": public_id, "deletedAt": null, "active": true })
        .await?
    else {
        return Ok(None);
    };
    let org = form.get_object_id("organizationId").ok();
    let org = db
        .collection(collections::ORGANIZATIONS)
        .find_one(doc! { "_id": org, "isActive": true, "deleteScheduledAt": null })
        .await?;
    Ok(org.map(|o| {
        let plan = o
            .get_str("plan")
            .ok()
            .and_then(Plan::parse)
            .unwrap_or(Plan::Free);
        let hooks = shared::db::number(&o, "webhookEndpoints").unwrap_or(0) > 0;
        (form, plan, hooks)
    }))
}

fn origins(form: &Document) -> Vec<String> {
    form.get_array("allowedOrigins")
        .map(|a| {
            a.iter()
                .filter_map(|o| o.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn origin_allowed(form: &Document, origin: &str) -> bool {
    origins(form).iter().any(|o| o.eq_ignore_ascii_case(origin))
}

fn not_found() -> ApiError {
    ApiError::NotFound { resource: "form" }
}

/// `OPTIONS` of the submission route: the CORS preflight, answered from
/// the form's `allowedOrigins` (no credentials).
pub async fn preflight(ctx: Ctx) -> HandlerResult {
    let db = Unscoped::open(&ctx.state, Purpose::PublicForm);
    let (form, _, _) = live_form(&db, ctx.req.param("publicId").unwrap_or(""))
        .await?
        .ok_or_else(not_found)?;
    let origin = ctx.req.header("origin").unwrap_or("");
    if !origin_allowed(&form, origin) {
        return Err(ApiError::forbidden(
            Code::CorsOriginDenied,
            "This form does not accept submissions from this origin",
        ));
    }
    let mut r = ApiResponse::no_content();
    r.set_header("access-control-allow-origin", origin);
    r.set_header("access-control-allow-methods", "POST");
    r.set_header("access-control-allow-headers", "content-type");
    r.set_header("access-control-max-age", "600");
    Ok(r)
}

/// How the submitter sent the form, which decides how it is answered.
#[derive(Clone, Copy, PartialEq)]
enum Via {
    Json,
    HtmlForm,
}

/// The submission's fields as strings (JSON scalars, or the urlencoded
/// pairs), and its consent.
fn payload(req: &ApiRequest) -> Result<(Via, Map<String, Value>), ApiError> {
    match req.mime().as_str() {
        "application/json" => {
            let v: Value = req.json()?;
            match v {
                Value::Object(m) => Ok((Via::Json, m)),
                _ => Err(ApiError::field("body", "must be a JSON object")),
            }
        }
        "application/x-www-form-urlencoded" => {
            let text = std::str::from_utf8(&req.body)
                .map_err(|_| ApiError::field("body", "must be UTF-8"))?;
            let mut m = Map::new();
            for (k, v) in parse_query(text) {
                m.entry(k).or_insert(Value::String(v));
            }
            Ok((Via::HtmlForm, m))
        }
        _ => Err(ApiError::UnsupportedMediaType),
    }
}

fn truthy(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => matches!(s.as_str(), "on" | "true" | "yes" | "1"),
        _ => false,
    }
}

/// The consent the submitter gave: `{consent: {given, text}}` in JSON, or
/// `consent=on` with `consentText` from an HTML form.
fn consent(m: &Map<String, Value>) -> Document {
    match m.get("consent") {
        Some(Value::Object(c)) => doc! {
            "given": truthy(c.get("given")),
            "text": c.get("text").and_then(Value::as_str).map(|t| t.chars().take(2_000).collect::<String>()),
        },
        other => doc! {
            "given": truthy(other),
            "text": m.get("consentText").and_then(Value::as_str).map(|t| t.chars().take(2_000).collect::<String>()),
        },
    }
}

/// The form's fields out of the payload, checked like a lead's: the body
/// of a lead (with a name when the form asks for none) and what was
/// accepted as sent.
fn accepted(form: &Document, m: &Map<String, Value>) -> Result<(Document, Document), ApiError> {
    let mut errors = vec![];
    let mut sent = Map::new();
    for row in form
        .get_array("fields")
        .map(|a| a.iter().filter_map(Bson::as_document).collect::<Vec<_>>())
        .unwrap_or_default()
    {
        let name = row.get_str("field").unwrap_or_default();
        let value = m
            .get(name)
            .map(|v| match v {
                Value::String(s) => s.trim().to_string(),
                Value::Number(n) => n.to_string(),
                _ => String::new(),
            })
            .unwrap_or_default();
        if value.is_empty() {
            if row.get_bool("required").unwrap_or(false) {
                errors.push(FieldError::new(name, "is required"));
            }
            continue;
        }
        sent.insert(name.to_string(), Value::String(value));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation { errors });
    }
    let mut lead = sent.clone();
    // A lead has a name; a form that asks for none gets one from the email.
    let fallback = sent
        .get("email")
        .and_then(Value::as_str)
        .and_then(|e| e.split('@').next())
        .filter(|s| !s.is_empty())
        .unwrap_or("Website visitor")
        .to_string();
    for (k, v) in [("firstName", "Website"), ("lastName", fallback.as_str())] {
        lead.entry(k)
            .or_insert(Value::String(v.chars().take(100).collect()));
    }
    let (lead, _) = shared::fields::parse_create(LEAD.fields, &Value::Object(lead))?;
    let sent = bson::to_document(&sent).internal("the submission as BSON")?;
    Ok((lead, sent))
}

/// Submissions a form takes per day (UTC), by its organization's plan.
fn daily_cap(plan: Plan) -> u64 {
    match plan {
        Plan::Free => 200,
        Plan::Pro => 2_000,
        Plan::Enterprise => 20_000,
    }
}

/// `POST /api/v1/public/forms/{publicId}/submissions`: see the module docs.
pub async fn submit(ctx: Ctx) -> HandlerResult {
    let state = ctx.state.clone();
    let db = Unscoped::open(&state, Purpose::PublicForm);
    let (form, plan, hooks) = live_form(&db, ctx.req.param("publicId").unwrap_or(""))
        .await?
        .ok_or_else(not_found)?;
    let origin = ctx.req.header("origin").map(str::to_string);
    if let Some(o) = &origin {
        if !origin_allowed(&form, o) {
            return Err(ApiError::forbidden(
                Code::CorsOriginDenied,
                "This form does not accept submissions from this origin",
            ));
        }
    }
    let answer = receive(&ctx, &db, &form, plan, hooks).await;
    let Some(o) = origin else {
        return answer;
    };
    // Errors carry the origin too, so the page's script can read them.
    let mut r = answer.unwrap_or_else(|e| e.to_response(&ctx.req.request_id));
    r.set_header("access-control-allow-origin", &o);
    Ok(r)
}

async fn receive(
    ctx: &Ctx,
    db: &Unscoped<'_>,
    form: &Document,
    plan: Plan,
    hooks: bool,
) -> HandlerResult {
    let req = &ctx.req;
    if req.is_oversize() || req.body.len() > MAX_SUBMISSION_BYTES {
        return Err(ApiError::PayloadTooLarge {
            limit: MAX_SUBMISSION_BYTES,
        });
    }
    let meta = ctx.meta();
    let form_id = id_of(form, "form")?;
    let org = form
        .get_object_id("organizationId")
        .map_err(|_| ApiError::internal("form without organization"))?;
    let ip = meta.ip.clone().unwrap_or_else(|| "unknown".into());
    let limit = ctx
        .state
        .config
        .rate_limits
        .limit(LimitedAction::PublicForm, plan);
    // Keyed like every public bucket: an IPv6 client by its /64, an
    // IPv4-mapped address as IPv4.
    let key = format!("{}:{}", form_id.to_hex(), meta.client_key());
    let checked = ratelimit::check(&ctx.state, LimitedAction::PublicForm, &key, limit).await;
    if let Err(ApiError::RateLimited { .. }) = checked {
        tracing::warn!(requestId = %meta.request_id, form = %form_id, ip = %ip,
            "[RATE_LIMIT] form submissions throttled");
    }
    checked?;
    let (via, fields) = payload(req)?;
    let honeypot = form.get_str("honeypotField").unwrap_or(HONEYPOT);
    let spam = fields
        .get(honeypot)
        .is_some_and(|v| !v.as_str().is_some_and(|s| s.trim().is_empty()) && !v.is_null());
    // Real submissions and honeypot catches have a daily cap each, so a bot
    // filling the honeypot cannot use up the form's day for real visitors.
    let today = DateTime::from_millis(DateTime::now().timestamp_millis() / DAY_MS * DAY_MS);
    let submitted_today = db
        .collection(FORM_SUBMISSIONS)
        .count(doc! { "organizationId": org, "formId": form_id, "spam": spam, "createdAt": { "$gte": today } })
        .await?;
    if submitted_today >= daily_cap(plan) {
        if spam {
            // Answered like a success, as every honeypot catch is; not kept.
            return Ok(received(via, form, None));
        }
        return Err(ApiError::RateLimited {
            detail: "This form takes no more submissions today".into(),
            retry_after: DAY_SECS - (DateTime::now().timestamp_millis() % DAY_MS / 1000) as u64,
        });
    }
    if let (false, Ok(secret)) = (spam, form.get_str("turnstileSecret")) {
        let token = fields
            .get(TURNSTILE_FIELD)
            .and_then(Value::as_str)
            .unwrap_or("");
        if let Err(why) = turnstile(ctx, secret, token, &ip).await {
            tracing::warn!(requestId = %meta.request_id, form = %form_id, ip = %ip,
                "[FORM] Turnstile check failed: {why}");
            return match via {
                Via::HtmlForm => Ok(page(
                    StatusCode::FORBIDDEN,
                    "<p>The anti-spam check failed. Please go back, reload the page and send the form again.</p>",
                )),
                Via::Json => Err(ApiError::forbidden(
                    Code::CaptchaFailed,
                    "The anti-spam check (Turnstile) failed: reload the page and send the form again",
                )),
            };
        }
    }
    let consent = consent(&fields);
    let (lead, sent) = if spam {
        (None, Document::new())
    } else {
        match accepted(form, &fields) {
            Ok((lead, sent)) => (Some(lead), sent),
            Err(e) if via == Via::HtmlForm => {
                return Ok(page(StatusCode::UNPROCESSABLE_ENTITY, &problem_list(&e)))
            }
            Err(e) => return Err(e),
        }
    };
    let submission_id = ObjectId::new();
    let lead_id = match lead {
        Some(lead) => Some(file_lead(db, form, org, lead, submission_id, &meta, hooks).await?),
        None => None,
    };
    db.collection(FORM_SUBMISSIONS)
        .insert_one(doc! {
            "_id": submission_id, "organizationId": org, "formId": form_id,
            "payload": sent, "consent": consent, "ipAddress": &ip,
            "userAgent": meta.user_agent.clone(), "leadId": lead_id, "spam": spam,
            "origin": req.header("origin"), "createdAt": DateTime::now(),
        })
        .await?;
    Ok(received(via, form, Some(submission_id)))
}

/// The answer to a received submission (a honeypot catch gets the same).
fn received(via: Via, form: &Document, submission: Option<ObjectId>) -> ApiResponse {
    let submission = submission.unwrap_or_default();
    match via {
        Via::Json => ApiResponse::json(
            StatusCode::CREATED,
            &json!({ "received": true, "submissionId": submission.to_hex() }),
        ),
        Via::HtmlForm => match form.get_str("redirectUrl") {
            Ok(url) => {
                let mut r = ApiResponse::no_content();
                r.status = StatusCode::SEE_OTHER;
                r.set_header("location", url);
                r
            }
            Err(_) => page(
                StatusCode::OK,
                "<p>Thank you! We received your message and will be in touch.</p>",
            ),
        },
    }
}

/// Asks Cloudflare Turnstile's `siteverify` (`TURNSTILE_VERIFY_URL`)
/// whether `token` is a fresh pass for this client; fails closed, so an
/// unreachable verifier refuses the submission too.
async fn turnstile(ctx: &Ctx, secret: &str, token: &str, ip: &str) -> Result<(), String> {
    if token.is_empty() {
        return Err(format!("no {TURNSTILE_FIELD} in the submission"));
    }
    let url = &ctx.state.config.email.turnstile_verify_url;
    let fields = [("secret", secret), ("response", token), ("remoteip", ip)];
    let (status, body) =
        shared::outbound::post_form(url, &fields, std::time::Duration::from_secs(5)).await?;
    let answer: Value = serde_json::from_slice(&body)
        .map_err(|_| format!("siteverify answered {status} with no JSON"))?;
    if answer["success"] == Value::Bool(true) {
        Ok(())
    } else {
        Err(format!("siteverify said no: {}", answer["error-codes"]))
    }
}

/// The lead a submission files under: the live lead with the same email
/// when there is one (left exactly as it is: an anonymous submission only
/// attaches to it, and staff decide what to take from it, see
/// `GET /api/v1/leads/{id}/submissions`), else a new lead, created with
/// its audit entry and new-lead emails in one transaction. Two concurrent
/// first submissions with one email make one lead: a form's lead carries
/// its email as `formEmail`, unique among the organization's live leads,
/// so the second insert fails and that submission attaches to the first.
/// Returns the lead's id.
async fn file_lead(
    db: &Unscoped<'_>,
    form: &Document,
    org: ObjectId,
    lead: Document,
    submission: ObjectId,
    meta: &RequestMeta,
    hooks: bool,
) -> Result<ObjectId, ApiError> {
    let email = lead.get_str("email").ok().map(str::to_lowercase);
    let existing = |email: Option<String>| async move {
        let Some(email) = email else {
            return Ok(None);
        };
        let found = db
            .collection(crate::crm::collections::LEADS)
            .find_one(doc! { "organizationId": org, "deletedAt": null, "$or": [ { "email": &email }, { "formEmail": &email } ] })
            .await?;
        Ok::<_, ApiError>(found.and_then(|l| l.get_object_id("_id").ok()))
    };
    if let Some(id) = existing(email.clone()).await? {
        return Ok(id);
    }
    match new_lead(
        db,
        form,
        (org, hooks),
        &lead,
        email.as_deref(),
        submission,
        meta,
    )
    .await
    {
        Err(ApiError::Conflict {
            code: Code::AlreadyExists,
            ..
        }) if email.is_some() => existing(email)
            .await?
            .ok_or_else(|| ApiError::internal("a form lead's email was taken and is gone")),
        other => other,
    }
}

/// See [`file_lead`]: the new lead, its audit entry and its alerts.
/// `(org, hooks)`: the form's organization, and whether it has webhook
/// endpoints to announce the lead to.
async fn new_lead(
    db: &Unscoped<'_>,
    form: &Document,
    (org, hooks): (ObjectId, bool),
    lead: &Document,
    email: Option<&str>,
    submission: ObjectId,
    meta: &RequestMeta,
) -> Result<ObjectId, ApiError> {
    let now = DateTime::now();
    let form_id = form.get_object_id("_id").ok();
    // A new lead's id is known before its transaction, so its emails are
    // rendered once, outside the (retryable) transaction.
    let id = ObjectId::new();
    let alerts = if form.get_bool("notifyAdmins").unwrap_or(true) {
        new_lead_alerts(db, form, org, id, lead).await?
    } else {
        vec![]
    };
    let alerts = &alerts;
    let queued = db
        .transaction(|tx| {
            Box::pin(async move {
                let mut record = doc! {
                    "_id": id, "organizationId": org, "createdAt": now, "updatedAt": now,
                    "createdBy": null, "version": 1_i64, "deletedAt": null,
                };
                record.extend(lead.clone());
                record.insert("source", form.get_str("source").unwrap_or("FORM"));
                if let Ok(p) = form.get_object_id("productId") {
                    record.insert("productId", p);
                }
                record.extend(doc! { "formId": form_id, "formEmail": email });
                if hooks {
                    let shown = shared::records::render(&record);
                    tx.announce(org, "lead.created", &shown);
                    tx.announce(org, "lead.submitted", &shown);
                }
                tx.insert_one(crate::crm::collections::LEADS, record)
                    .await?;
                tx.audit(
                    AuditEntry::new(Action::Create, "lead")
                        .id(id)
                        .changes(doc! { "formSubmission": submission, "formId": form_id }),
                    Some(org),
                    None,
                    meta,
                )
                .await?;
                let mut queued = vec![];
                for (admin, message) in alerts {
                    queued.push(tx.queue_email(Some(org), Some(*admin), message).await?);
                }
                Ok(queued)
            })
        })
        .await?;
    shared::email::deliver(db.state(), &queued).await;
    Ok(id)
}

/// A new lead's email to each ACTIVE ADMIN and OWNER of the organization
/// (the form's `notifyAdmins`, on by default).
async fn new_lead_alerts(
    db: &Unscoped<'_>,
    form: &Document,
    org: ObjectId,
    lead_id: ObjectId,
    lead: &Document,
) -> Result<Vec<(ObjectId, shared::email::Message)>, ApiError> {
    let admins = db
        .collection(collections::USERS)
        .find_many(
            doc! { "organizationId": org, "status": "ACTIVE", "role": { "$in": ["ADMIN", "OWNER"] } },
            doc! { "_id": 1 },
            50,
            None,
        )
        .await?;
    let text = |k: &str| lead.get_str(k).unwrap_or("");
    let email = text("email");
    let name = format!("{} {}", text("firstName"), text("lastName"))
        .trim()
        .to_string();
    let notice = crate::emails::NewLead {
        form: form.get_str("name").unwrap_or("form"),
        lead_id: &lead_id.to_hex(),
        name: if name.is_empty() { email } else { &name },
        email,
        company: text("company"),
        phone: text("phone"),
    };
    Ok(admins
        .iter()
        .filter_map(|a| Some((a.get_object_id("_id").ok()?, a.get_str("email").ok()?)))
        .map(|(id, to)| (id, crate::emails::new_lead(db.config(), to, &notice)))
        .collect())
}

fn problem_list(e: &ApiError) -> String {
    match e {
        ApiError::Validation { errors } => {
            let items: String = errors
                .iter()
                .map(|f| format!("<li>{}: {}</li>", escape(&f.field), escape(&f.message)))
                .collect();
            format!("<p>Please check your entries:</p><ul>{items}</ul><p><a href=\"javascript:history.back()\">Back</a></p>")
        }
        _ => "<p>Your message could not be sent.</p>".into(),
    }
}

use shared::email::html_escape as escape;

/// A small HTML page for browsers that posted a plain form.
fn page(status: StatusCode, body: &str) -> ApiResponse {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>Thank you</title></head><body style=\"font-family:sans-serif;max-width:32rem;margin:3rem auto\">{body}</body></html>"
    );
    ApiResponse::bytes(status, "text/html; charset=utf-8", html.into_bytes())
}

/// How many of the organization's form submissions came from each client
/// address since `since`, most first (the runbook's "which addresses are
/// flooding our forms").
pub async fn by_ip(
    db: &Unscoped<'_>,
    org: Option<ObjectId>,
    since: DateTime,
) -> Result<Vec<(String, u64, u64)>, ApiError> {
    let mut filter = doc! { "createdAt": { "$gte": since } };
    if let Some(o) = org {
        filter.insert("organizationId", o);
    }
    let rows = db
        .collection(FORM_SUBMISSIONS)
        .find_many(
            filter,
            doc! { "createdAt": -1 },
            100_000,
            Some(doc! { "ipAddress": 1, "spam": 1 }),
        )
        .await?;
    let mut counts: Vec<(String, u64, u64)> = vec![];
    for r in rows {
        let ip = r.get_str("ipAddress").unwrap_or("unknown").to_string();
        let spam = u64::from(r.get_bool("spam").unwrap_or(false));
        match counts.iter_mut().find(|(i, _, _)| *i == ip) {
            Some(c) => {
                c.1 += 1;
                c.2 += spam;
            }
            None => counts.push((ip, 1, spam)),
        }
    }
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    Ok(counts)
}
