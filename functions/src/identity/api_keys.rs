//! API keys for integrations (ADMIN+, and never with a key): an
//! organization-level principal that survives staff changes, with scopes
//! (`<resource>:read|write`, `*:read`, `*:write`), an expiry, optional
//! allowed networks and a rate limit of its own.
//!
//! The key is answered once, by create and rotate; only its keyed hash is
//! stored (`shared::apikey`). A create or rotate retried with its
//! Idempotency-Key replays the answer without the key: the secret is kept
//! nowhere, not even sealed. A key acts with the role its creator had, so
//! it never does what its creator could not.

use bson::oid::ObjectId;
use bson::{doc, Bson, DateTime, Document};
use serde::Deserialize;
use serde_json::{json, Value};
use shared::apikey;
use shared::audit::{Action, AuditEntry};
use shared::db::{collections::API_KEYS, Scope};
use shared::error::{ApiError, Code, FieldError};
use shared::http::ApiResponse;
use shared::rbac::{parse_scope, within};
use shared::runtime::{ok, Ctx, HandlerResult};
use shared::time::{rfc3339, DAY_MS};
use shared::validate::{text, Errors};

const MAX_KEYS: usize = 200;
const HOUR_MS: i64 = 3_600_000;

/// How a key is shown: never its hash.
fn render(d: &Document, now: DateTime) -> Value {
    let time = |k: &str| d.get_datetime(k).ok().map(|t| rfc3339(*t));
    let revoked = d.get_datetime("revokedAt").ok().is_some_and(|t| *t <= now);
    let expired = d.get_datetime("expiresAt").ok().is_some_and(|t| *t <= now);
    let id = |k: &str| d.get_object_id(k).ok().map(|i| i.to_hex());
    json!({
        "id": id("_id"),
        "name": d.get_str("name").unwrap_or(""),
        "display": apikey::display(d.get_str("keyId").unwrap_or(""), d.get_str("keyTail").unwrap_or("")),
        "scopes": apikey::strings(d, "scopes"),
        "allowedIps": apikey::strings(d, "allowedIps"),
        "rateLimitPerMinute": shared::db::number(d, "rateLimitPerMinute"),
        "status": if revoked { "REVOKED" } else if expired { "EXPIRED" } else { "ACTIVE" },
        "createdBy": id("createdBy"),
        "createdAt": time("createdAt"),
        "expiresAt": time("expiresAt"),
        "revokedAt": time("revokedAt"),
        "lastUsedAt": time("lastUsedAt"),
        "lastUsedIp": d.get_str("lastUsedIp").ok(),
        "rotatedTo": id("rotatedTo"),
        "rotatedFrom": id("rotatedFrom"),
        "version": shared::db::number(d, "version"),
    })
}

fn scopes(errors: &mut Errors, field: &str, given: &[String]) -> Vec<String> {
    if given.is_empty() || given.len() > 100 {
        errors.push(FieldError::new(field, "must name 1 to 100 scopes"));
        return vec![];
    }
    let mut out: Vec<String> = vec![];
    for s in given {
        if parse_scope(s).is_none() {
            errors.push(FieldError::new(
                field,
                format!("{s:?} is not a scope: use <resource>:read, <resource>:write, *:read or *:write"),
            ));
        } else if !out.contains(s) {
            out.push(s.clone());
        }
    }
    out
}

fn networks(errors: &mut Errors, given: &[String]) -> Vec<String> {
    if given.len() > 50 {
        errors.push(FieldError::new("allowedIps", "at most 50 networks"));
    }
    given
        .iter()
        .filter_map(|s| match apikey::network(s) {
            Some(net) => Some(net.to_string()),
            None => {
                errors.push(FieldError::new(
                    "allowedIps",
                    format!("{s:?} is not an IPv4 or IPv6 address or CIDR network"),
                ));
                None
            }
        })
        .collect()
}

fn rate_limit(errors: &mut Errors, given: Option<i64>) -> Option<i64> {
    match given {
        Some(n) if !(1..=100_000).contains(&n) => {
            errors.push(FieldError::new(
                "rateLimitPerMinute",
                "must be 1 to 100000 (or null: the plan's limit only)",
            ));
            None
        }
        n => n,
    }
}

pub(crate) fn int_in(
    errors: &mut Errors,
    field: &str,
    v: Option<i64>,
    min: i64,
    max: i64,
    default: i64,
) -> i64 {
    match v {
        None => default,
        Some(n) if (min..=max).contains(&n) => n,
        Some(_) => {
            errors.push(FieldError::new(field, format!("must be {min} to {max}")));
            default
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NewKey {
    name: String,
    scopes: Vec<String>,
    expires_in_days: Option<i64>,
    #[serde(default)]
    allowed_ips: Vec<String>,
    rate_limit_per_minute: Option<i64>,
}

/// The answer of create and rotate: the key's view and, once, the key.
/// An idempotent replay gets it without the key (`key: null`).
async fn issue(
    scope: &Scope,
    mut record: Document,
    old: Option<(&Document, DateTime)>,
) -> HandlerResult {
    let new = apikey::generate();
    let id = ObjectId::new();
    let now = DateTime::now();
    record.insert("_id", id);
    record.insert("keyId", &new.id);
    record.insert("keyTail", &new.key[new.key.len() - 3..]);
    record.insert(
        "hash",
        apikey::hash(scope.config().api_key_pepper.expose(), &new.key),
    );
    record.insert("createdBy", scope.caller().user.id);
    record.insert("createdAt", now);
    record.insert("updatedAt", now);
    record.insert("version", 1_i64);
    let mut shown = render(&record, now);
    shown["key"] = Value::Null;
    let replay = ApiResponse::json(http::StatusCode::CREATED, &shown);
    shown["key"] = Value::String(new.key.clone());
    let (record, replay) = (&record, &replay);
    scope
        .transaction(|tx| {
            Box::pin(async move {
                let mut changes = doc! {
                    "name": record.get("name").cloned().unwrap_or(Bson::Null),
                    "scopes": record.get("scopes").cloned().unwrap_or(Bson::Null),
                    "expiresAt": record.get("expiresAt").cloned().unwrap_or(Bson::Null),
                    "keyId": record.get("keyId").cloned().unwrap_or(Bson::Null),
                };
                if let Some((old, until)) = old {
                    // As read: a change since (a narrowing) makes this a 409,
                    // never a successor with what the key no longer holds.
                    let version = shared::db::number(old, "version").unwrap_or(1);
                    let old = old.get_object_id("_id").map_err(|_| ApiError::internal("stored API key without its id"))?;
                    let rotated = tx
                        .update_by_id(
                            API_KEYS,
                            doc! { "_id": old, "version": version, "rotatedTo": null, "expiresAt": { "$gt": DateTime::now() },
                                   "$or": [{ "revokedAt": null }, { "revokedAt": { "$gt": DateTime::now() } }] },
                            doc! { "$set": { "revokedAt": until, "rotatedTo": id, "updatedAt": DateTime::now() },
                                   "$inc": { "version": 1_i64 } },
                        )
                        .await?;
                    if rotated.is_none() {
                        return Err(ApiError::conflict(
                            Code::ApiKeyRevoked,
                            "Only a live key that was not rotated yet can be rotated (or it changed meanwhile: read it again)",
                        ));
                    }
                    changes.insert("rotatedFrom", old);
                    changes.insert("predecessorRevokedAt", until);
                }
                tx.insert_one(API_KEYS, record.clone()).await?;
                tx.audit(AuditEntry::new(Action::Create, "api_key").id(id).changes(changes))
                    .await?;
                tx.respond(replay)
            })
        })
        .await?;
    if let Some((old, _)) = old {
        forget(scope, old);
    }
    Ok(ApiResponse::json(http::StatusCode::CREATED, &shown))
}

/// Drops this instance's copy of the stored key `d` (after a change to it).
fn forget(scope: &Scope, d: &Document) {
    if let Ok(key_id) = d.get_str("keyId") {
        shared::auth::apikeys::forget(scope.state(), key_id);
    }
}

/// `POST /api/v1/api-keys {name, scopes, expiresInDays?, allowedIps?,
/// rateLimitPerMinute?}` -> 201 with the key, shown this once.
pub async fn create(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let input: NewKey = ctx.req.json()?;
    let mut errors = Errors::new();
    let name = errors.check(text("name", &input.name, 1, 100));
    let granted = scopes(&mut errors, "scopes", &input.scopes);
    let days = int_in(
        &mut errors,
        "expiresInDays",
        input.expires_in_days,
        1,
        366,
        90,
    );
    let allowed = networks(&mut errors, &input.allowed_ips);
    let limit = rate_limit(&mut errors, input.rate_limit_per_minute);
    errors.finish()?;
    let name = name.ok_or_else(|| ApiError::internal("validated key input incomplete"))?;
    let held = scope
        .collection(API_KEYS)
        .count(live(DateTime::now()))
        .await?;
    if held as usize >= MAX_KEYS {
        return Err(ApiError::conflict(
            Code::AlreadyExists,
            format!("An organization holds at most {MAX_KEYS} live API keys: revoke one first"),
        ));
    }
    let now = DateTime::now().timestamp_millis();
    let record = doc! {
        "name": name,
        "scopes": &granted,
        "role": scope.caller().role.as_str(),
        "expiresAt": DateTime::from_millis(now + days * DAY_MS),
        "allowedIps": &allowed,
        "rateLimitPerMinute": limit,
        "revokedAt": null,
        "rotatedTo": null,
        "lastUsedAt": null,
    };
    issue(scope, record, None).await
}

/// `GET /api/v1/api-keys`: the organization's keys, newest first, in one
/// page: every live key (at most [`MAX_KEYS`] exist) and the latest
/// [`MAX_KEYS`] revoked or expired ones; never a key or its hash.
pub async fn list(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let now = DateTime::now();
    let keys = scope.collection(API_KEYS);
    let newest = || doc! { "createdAt": -1, "_id": -1 };
    let (current, past) =
        tokio::try_join!(
        keys.find_many(live(now), newest(), MAX_KEYS as i64 * 2, Some(doc! { "hash": 0 })),
        keys.find_many(
            doc! { "$or": [{ "expiresAt": { "$lte": now } }, { "revokedAt": { "$lte": now } }] },
            newest(),
            MAX_KEYS as i64,
            Some(doc! { "hash": 0 }),
        ),
    )?;
    let mut docs: Vec<Document> = current.into_iter().chain(past).collect();
    let created = |d: &Document| {
        (
            d.get_datetime("createdAt").ok().copied(),
            d.get_object_id("_id").ok(),
        )
    };
    docs.sort_by_key(|d| std::cmp::Reverse(created(d)));
    let data: Vec<Value> = docs.iter().map(|d| render(d, now)).collect();
    ok(json!({ "data": data, "nextCursor": null }))
}

/// The keys that work at `now` (those in a rotation's grace too).
fn live(now: DateTime) -> Document {
    doc! { "expiresAt": { "$gt": now }, "$or": [{ "revokedAt": null }, { "revokedAt": { "$gt": now } }] }
}

async fn find(scope: &Scope, id: ObjectId) -> Result<Document, ApiError> {
    scope
        .collection(API_KEYS)
        .find_one(doc! { "_id": id })
        .await?
        .ok_or(ApiError::NotFound {
            resource: "api key",
        })
}

/// `GET /api/v1/api-keys/{id}`.
pub async fn get(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    ok(render(&find(scope, ctx.path_id()?).await?, DateTime::now()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct KeyPatch {
    name: Option<String>,
    scopes: Option<Vec<String>>,
    allowed_ips: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    rate_limit_per_minute: Option<Option<i64>>,
}

/// A field that may be set to null: absent is `None`, null `Some(None)`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    Option::<i64>::deserialize(d).map(Some)
}

/// `PATCH /api/v1/api-keys/{id} {name?, scopes?, allowedIps?,
/// rateLimitPerMinute?}`: scopes only narrow (a scope the key does not
/// hold is 422); the change applies on this instance at once and on the
/// others within `API_KEY_CACHE_SECONDS`.
pub async fn update(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let id = ctx.path_id()?;
    let input: KeyPatch = ctx.req.json()?;
    let before = find(scope, id).await?;
    let held = apikey::strings(&before, "scopes");
    let mut errors = Errors::new();
    let mut set = Document::new();
    if let Some(name) = &input.name {
        if let Some(name) = errors.check(text("name", name, 1, 100)) {
            set.insert("name", name);
        }
    }
    if let Some(given) = &input.scopes {
        let narrowed = scopes(&mut errors, "scopes", given);
        for s in &narrowed {
            if !within(s, &held) {
                errors.push(FieldError::new(
                    "scopes",
                    format!("{s} is not held by this key: scopes can only be narrowed"),
                ));
            }
        }
        set.insert("scopes", narrowed);
    }
    if let Some(given) = &input.allowed_ips {
        set.insert("allowedIps", networks(&mut errors, given));
    }
    if let Some(limit) = input.rate_limit_per_minute {
        set.insert("rateLimitPerMinute", rate_limit(&mut errors, limit));
    }
    errors.finish()?;
    if set.is_empty() {
        return Err(ApiError::bad_request(
            Code::NothingToUpdate,
            "Name at least one of name, scopes, allowedIps, rateLimitPerMinute",
        ));
    }
    set.insert("updatedAt", DateTime::now());
    let version = shared::db::number(&before, "version").unwrap_or(1);
    let (set, before) = (&set, &before);
    let after = scope
        .transaction(|tx| {
            Box::pin(async move {
                let after = tx
                    .find_one_and_update(
                        API_KEYS,
                        doc! { "_id": id, "version": version },
                        doc! { "$set": set.clone(), "$inc": { "version": 1_i64 } },
                    )
                    .await?
                    .ok_or_else(|| {
                        ApiError::conflict(
                            Code::VersionMismatch,
                            "The key changed meanwhile: read it again",
                        )
                    })?;
                tx.audit(
                    AuditEntry::new(Action::Update, "api_key")
                        .id(id)
                        .changes(shared::audit::diff(&settings(before), &settings(&after))),
                )
                .await?;
                Ok(after)
            })
        })
        .await?;
    forget(scope, &after);
    ok(render(&after, DateTime::now()))
}

/// A key's document without what its use writes (`lastUsedAt`,
/// `lastUsedIp`, unversioned): an update's audit diff names only what the
/// update changed.
fn settings(d: &Document) -> Document {
    let mut d = d.clone();
    d.remove("lastUsedAt");
    d.remove("lastUsedIp");
    d
}

/// `DELETE /api/v1/api-keys/{id}` -> 204: revoked now (a key in a
/// rotation's grace too); revoking a revoked key changes nothing.
pub async fn revoke(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let id = ctx.path_id()?;
    let key = find(scope, id).await?;
    let now = DateTime::now();
    scope
        .transaction(|tx| {
            Box::pin(async move {
                let revoked = tx
                    .update_by_id(
                        API_KEYS,
                        doc! { "_id": id, "$or": [{ "revokedAt": null }, { "revokedAt": { "$gt": now } }] },
                        doc! { "$set": { "revokedAt": now, "updatedAt": now }, "$inc": { "version": 1_i64 } },
                    )
                    .await?;
                if revoked.is_some() {
                    tx.audit(AuditEntry::new(Action::Delete, "api_key").id(id).changes(doc! { "revokedAt": now }))
                        .await?;
                }
                Ok(())
            })
        })
        .await?;
    forget(scope, &key);
    Ok(ApiResponse::no_content())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Rotation {
    grace_period_hours: Option<i64>,
}

/// `POST /api/v1/api-keys/{id}/rotate {gracePeriodHours: 0-168, default
/// 24}` -> 201 with the successor's key, shown this once: same name,
/// scopes, networks and limit, a lifetime as long as the original's; the
/// original works until the grace ends.
pub async fn rotate(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let id = ctx.path_id()?;
    let input: Rotation = ctx.req.json_or_empty()?;
    let mut errors = Errors::new();
    let grace = int_in(
        &mut errors,
        "gracePeriodHours",
        input.grace_period_hours,
        0,
        168,
        24,
    );
    errors.finish()?;
    let old = find(scope, id).await?;
    let (Ok(created), Ok(expires)) = (old.get_datetime("createdAt"), old.get_datetime("expiresAt"))
    else {
        return Err(ApiError::internal("stored API key without its times"));
    };
    // As long as the original's (within what a create may ask for).
    let lifetime = expires
        .timestamp_millis()
        .saturating_sub(created.timestamp_millis())
        .clamp(DAY_MS, 366 * DAY_MS);
    let now = DateTime::now().timestamp_millis();
    // Never more than the role of whoever rotates it.
    let role = match old.get_str("role").ok().and_then(shared::rbac::Role::parse) {
        Some(r) if r <= scope.caller().role => r,
        _ => scope.caller().role,
    };
    let mut record = doc! {
        "name": old.get("name").cloned().unwrap_or(Bson::Null),
        "scopes": old.get("scopes").cloned().unwrap_or(Bson::Null),
        "role": role.as_str(),
        "expiresAt": DateTime::from_millis(now + lifetime),
        "allowedIps": old.get("allowedIps").cloned().unwrap_or(Bson::Array(vec![])),
        "rateLimitPerMinute": old.get("rateLimitPerMinute").cloned().unwrap_or(Bson::Null),
        "revokedAt": null,
        "rotatedTo": null,
        "lastUsedAt": null,
    };
    record.insert("rotatedFrom", id);
    issue(
        scope,
        record,
        Some((&old, DateTime::from_millis(now + grace * HOUR_MS))),
    )
    .await
}

/// The notices before a key expires: its stage's flag, the window it is
/// sent in (expiry up to this far ahead), and how the email says it.
const NOTICES: [(&str, i64, &str); 2] = [
    ("noticeOneDayAt", DAY_MS, "within a day"),
    ("noticeFourteenDaysAt", 14 * DAY_MS, "in 14 days or less"),
];

/// Part of `cleanup-sessions` (hourly): emails the owners of each
/// organization whose live, unrotated keys expire within 14 days, once,
/// and again within a day, once (a key made for a day gets only the
/// second). Each notice is claimed by a conditional update in the
/// transaction that queues its emails, so a second run, or one running
/// beside it, sends nothing again.
///
/// Returns how many keys were looked at; the emails go out with the outbox
/// (`send-emails`).
pub async fn expiry_notices(
    db: &shared::unscoped::Unscoped<'_>,
    now: DateTime,
) -> Result<u64, ApiError> {
    let mut scanned = 0;
    let at = now.timestamp_millis();
    for (flag, ahead, within) in NOTICES {
        let due = doc! {
            "expiresAt": { "$gt": now, "$lte": DateTime::from_millis(at.saturating_add(ahead)) },
            "revokedAt": null, "rotatedTo": null, flag: null,
        };
        let keys = db
            .collection(API_KEYS)
            .find_many(
                due.clone(),
                doc! { "expiresAt": 1 },
                MAX_KEYS as i64,
                Some(doc! { "hash": 0 }),
            )
            .await?;
        scanned += keys.len() as u64;
        for key in &keys {
            let (Ok(id), Ok(org)) = (
                key.get_object_id("_id"),
                key.get_object_id("organizationId"),
            ) else {
                continue;
            };
            let (orgs, users) = (
                db.collection(shared::db::collections::ORGANIZATIONS),
                db.collection(shared::db::collections::USERS),
            );
            let (organization, owners) = tokio::try_join!(
                orgs.find_one(doc! { "_id": org }),
                users.find_many(
                    doc! { "organizationId": org, "role": "OWNER", "status": "ACTIVE" },
                    doc! { "_id": 1 },
                    20,
                    Some(doc! { "email": 1, "firstName": 1 }),
                ),
            )?;
            let organization = organization
                .as_ref()
                .and_then(|o| o.get_str("name").ok())
                .unwrap_or("your organization")
                .to_string();
            let display = apikey::display(
                key.get_str("keyId").unwrap_or(""),
                key.get_str("keyTail").unwrap_or(""),
            );
            let notice = crate::emails::ExpiringKey {
                organization: &organization,
                name: key.get_str("name").unwrap_or(""),
                display: &display,
                expires_at: key.get_datetime("expiresAt").copied().unwrap_or(now),
                within,
            };
            let messages: Vec<_> = owners
                .iter()
                .filter_map(|o| {
                    let to = o.get_str("email").ok()?;
                    let name = o.get_str("firstName").unwrap_or("");
                    Some((
                        o.get_object_id("_id").ok(),
                        crate::emails::api_key_expiring(db.config(), to, name, &notice),
                    ))
                })
                .collect();
            let (due, messages) = (&due, &messages);
            db.transaction(|tx| {
                Box::pin(async move {
                    let mut claim = due.clone();
                    claim.insert("_id", id);
                    // The one-day notice also stands for the fourteen-day one.
                    let mut set = doc! { flag: now };
                    if flag == NOTICES[0].0 {
                        set.insert(NOTICES[1].0, now);
                    }
                    if tx.update_one(API_KEYS, claim, doc! { "$set": set }).await? == 0 {
                        return Ok(());
                    }
                    for (user, message) in messages {
                        tx.queue_email(Some(org), *user, message).await?;
                    }
                    Ok(())
                })
            })
            .await?;
        }
    }
    Ok(scanned)
}
