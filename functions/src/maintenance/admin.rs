//! Operator tasks behind the `crm-admin` command: tenants, users, audit and
//! sign-in history, straight on the database (no HTTP, no caller). Every
//! change is written to the audit log with `changes.actor = "crm-admin"`,
//! except the purge, which removes the tenant's audit log with the rest and
//! logs a `[TENANT]` line instead.

use std::time::Duration;

use bson::oid::ObjectId;
use bson::{doc, DateTime, Document};
use serde_json::{json, Value};

use shared::audit::{Action, AuditEntry};
use shared::auth::{rfc3339, tokens, UserStatus};
use shared::db::{collections, shifted, RequestMeta, DAY_MS};
use shared::error::Code;
use shared::error::{id_of, ApiError};
use shared::ratelimit::{self, LimitedAction, Plan};
use shared::state::State;
use shared::time::{DAY_SECS, HOUR_MS};
use shared::unscoped::{Purpose, Unscoped};

/// How long an operator-issued password reset token stays valid.
pub const RESET_VALID_HOURS: i64 = 24;

/// The one way operator tasks reach the database.
fn db(state: &State) -> Unscoped<'_> {
    Unscoped::open(state, Purpose::Operator)
}

fn meta() -> RequestMeta {
    RequestMeta::system("crm-admin", "CLI")
}

async fn operator_audit(
    state: &State,
    org: ObjectId,
    action: Action,
    resource: &'static str,
    id: ObjectId,
    mut changes: Document,
) {
    changes.insert("actor", "crm-admin");
    let entry = AuditEntry::new(action, resource).id(id).changes(changes);
    db(state).audit(entry, Some(org), None, &meta()).await;
}

/// [`operator_audit`] for a change that concerns no one organization
/// (every tenant, a client address).
async fn operator_audit_global(
    state: &State,
    action: Action,
    resource: &'static str,
    mut changes: Document,
) {
    changes.insert("actor", "crm-admin");
    let entry = AuditEntry::new(action, resource).changes(changes);
    db(state).audit(entry, None, None, &meta()).await;
}

async fn org_by_slug(state: &State, slug: &str) -> Result<Document, ApiError> {
    db(state)
        .collection(collections::ORGANIZATIONS)
        .find_one(doc! { "slug": slug })
        .await?
        .ok_or(ApiError::NotFound {
            resource: "organization",
        })
}

async fn user_by_email(state: &State, email: &str) -> Result<Document, ApiError> {
    db(state)
        .collection(collections::USERS)
        .find_one(doc! { "email": email.trim().to_lowercase() })
        .await?
        .ok_or(ApiError::NotFound { resource: "user" })
}

fn time(d: &Document, key: &str) -> Value {
    d.get_datetime(key)
        .map(|t| json!(rfc3339(*t)))
        .unwrap_or(Value::Null)
}

/// Every organization with its user, account and record counts (records:
/// every CRM document, deleted ones included).
pub async fn tenants(state: &State) -> Result<Vec<Value>, ApiError> {
    let orgs = db(state)
        .collection(collections::ORGANIZATIONS)
        .find_many(doc! {}, doc! { "createdAt": 1 }, 0, None)
        .await?;
    let mut out = vec![];
    for org in orgs {
        let id = id_of(&org, "organization")?;
        let users = db(state)
            .collection(collections::USERS)
            .count(doc! { "organizationId": id })
            .await?;
        let accounts = db(state)
            .collection(crate::crm::collections::ACCOUNTS)
            .count(doc! { "organizationId": id })
            .await?;
        let mut records = 0;
        for name in crate::crm::collections::ALL {
            records += db(state)
                .collection(name)
                .count(doc! { "organizationId": id })
                .await?;
        }
        out.push(json!({
            "slug": org.get_str("slug").unwrap_or_default(),
            "name": org.get_str("name").unwrap_or_default(),
            "plan": org.get_str("plan").unwrap_or_default(),
            "isActive": org.get_bool("isActive").unwrap_or(false),
            "deleteScheduledAt": time(&org, "deleteScheduledAt"),
            "createdAt": time(&org, "createdAt"),
            "users": users,
            "accounts": accounts,
            "records": records,
        }));
    }
    Ok(out)
}

/// Deactivates (signing every member out) or reactivates an organization.
/// Reactivating also cancels a scheduled purge, unless the purge is already
/// due (its data may be half gone): then it is a conflict.
pub async fn set_tenant_active(state: &State, slug: &str, active: bool) -> Result<Value, ApiError> {
    let org = org_by_slug(state, slug).await?;
    let id = id_of(&org, "organization")?;
    let now = DateTime::now();
    let mut set = doc! { "isActive": active, "updatedAt": now };
    let mut filter = doc! { "_id": id };
    if active {
        set.insert("deleteScheduledAt", bson::Bson::Null);
        let due = shifted(now, -shared::jobs::PURGE_AFTER_DAYS * DAY_MS);
        filter.insert(
            "$or",
            vec![
                doc! { "deleteScheduledAt": null },
                doc! { "deleteScheduledAt": { "$gte": due } },
            ],
        );
    }
    let matched = db(state)
        .collection(collections::ORGANIZATIONS)
        .update_one(filter, doc! { "$set": set })
        .await?;
    if matched == 0 {
        return Err(ApiError::conflict(
            Code::PurgeInProgress,
            "This organization was deleted more than 30 days ago and is being purged; it cannot be reactivated",
        ));
    }
    let mut revoked = 0;
    if !active {
        revoked = tokens::end_all(
            state,
            tokens::Ending::Organization(id),
            "TENANT_DEACTIVATED",
        )
        .await?;
    }
    let changes = doc! { "isActive": { "from": org.get_bool("isActive").unwrap_or(false), "to": active }, "sessionsRevoked": revoked as i64 };
    operator_audit(state, id, Action::Update, "organization", id, changes).await;
    tracing::warn!(organizationId = %id, slug, active, "[TENANT] organization {}", if active { "reactivated" } else { "deactivated" });
    Ok(json!({ "slug": slug, "isActive": active, "sessionsRevoked": revoked }))
}

/// Sets an organization's plan (the operator's path to an upgrade; through
/// the API an OWNER can only move down). Its limits apply on the members'
/// next request.
pub async fn set_plan(state: &State, slug: &str, plan: &str) -> Result<Value, ApiError> {
    let plan = Plan::parse(plan).ok_or_else(|| {
        ApiError::field(
            "plan",
            format!("must be FREE, PRO or ENTERPRISE, not {plan}"),
        )
    })?;
    let org = org_by_slug(state, slug).await?;
    let id = id_of(&org, "organization")?;
    let from = org.get_str("plan").unwrap_or_default().to_string();
    db(state)
        .collection(collections::ORGANIZATIONS)
        .update_one(
            doc! { "_id": id },
            doc! { "$set": { "plan": plan.as_str(), "updatedAt": DateTime::now() } },
        )
        .await?;
    operator_audit(
        state,
        id,
        Action::Update,
        "organization",
        id,
        doc! { "plan": { "from": &from, "to": plan.as_str() } },
    )
    .await;
    tracing::warn!(organizationId = %id, slug, from = %from, to = plan.as_str(), "[TENANT] plan changed");
    Ok(json!({ "slug": slug, "plan": plan.as_str(), "previousPlan": from }))
}

/// Deletes every stored file of the organization, every document of it in
/// every organization-scoped collection, then the organization. Irreversible. Safe to run again after
/// an interruption: it deletes what is left.
pub async fn purge_tenant(state: &State, slug: &str) -> Result<Value, ApiError> {
    let org = org_by_slug(state, slug).await?;
    let id = id_of(&org, "organization")?;
    let purge = super::cleanup::purge_organization(
        &db(state),
        id,
        &mut super::cleanup::Budget::unlimited(),
        doc! {},
    )
    .await?;
    let deleted = json!(purge.deleted);
    tracing::warn!(organizationId = %id, slug, deleted = %deleted, "[TENANT] organization purged");
    Ok(json!({ "slug": slug, "organizationId": id.to_hex(), "deleted": deleted }))
}

/// Recomputes the organization's reports rollup from its invoices and time
/// entries, in spans of months, in its current time zone (after a time
/// zone change, or for an organization whose rollup predates it).
pub async fn rebuild_reports(state: &State, slug: &str) -> Result<Value, ApiError> {
    let org = org_by_slug(state, slug).await?;
    let id = id_of(&org, "organization")?;
    let cal = crate::calendar::Calendar::of(org.get_document("settings").ok());
    let cal = &cal;
    let (invoices, entries, rows) = crate::workshop::reports::rebuild(&db(state), id, cal).await?;
    tracing::info!(organizationId = %id, slug, invoices, entries, rows, "[REPORTS] rollup rebuilt");
    Ok(json!({
        "slug": slug, "organizationId": id.to_hex(), "timezone": cal.tz_name,
        "invoices": invoices, "timeEntries": entries, "rows": rows,
    }))
}

/// Signs a user out everywhere (every refresh token revoked).
pub async fn revoke_sessions(state: &State, email: &str) -> Result<Value, ApiError> {
    let user = user_by_email(state, email).await?;
    let (id, org) = (
        id_of(&user, "user")?,
        user.get_object_id("organizationId")
            .map_err(|_| ApiError::internal("user without organization"))?,
    );
    let revoked = tokens::end_all(state, tokens::Ending::User(id), "OPERATOR").await?;
    operator_audit(
        state,
        org,
        Action::Logout,
        "session",
        id,
        doc! { "allSessions": true, "revoked": revoked as i64 },
    )
    .await;
    Ok(json!({ "email": email, "sessionsRevoked": revoked }))
}

/// Revokes the user's sessions, refuses their sign-ins and requests until
/// they set a new password with the returned one-time token (valid 24 hours).
pub async fn force_password_reset(state: &State, email: &str) -> Result<Value, ApiError> {
    let user = user_by_email(state, email).await?;
    let (id, org) = (
        id_of(&user, "user")?,
        user.get_object_id("organizationId")
            .map_err(|_| ApiError::internal("user without organization"))?,
    );
    let token = tokens::new_token();
    let now = DateTime::now();
    let expires = DateTime::from_millis(now.timestamp_millis() + RESET_VALID_HOURS * HOUR_MS);
    db(state)
        .collection(collections::PASSWORD_RESETS)
        .update_many(
            doc! { "userId": id, "usedAt": null },
            doc! { "$set": { "usedAt": now, "supersededAt": now } },
        )
        .await?;
    db(state)
        .collection(collections::PASSWORD_RESETS)
        .insert_one(doc! {
            "tokenHash": tokens::hash_token(&token), "userId": id, "organizationId": org,
            "createdAt": now, "expiresAt": expires, "usedAt": null,
        })
        .await?;
    db(state)
        .collection(collections::USERS)
        .update_one(
            doc! { "_id": id },
            doc! { "$set": { "passwordResetRequired": true, "updatedAt": now } },
        )
        .await?;
    let revoked =
        tokens::end_all(state, tokens::Ending::User(id), "PASSWORD_RESET_REQUIRED").await?;
    operator_audit(
        state,
        org,
        Action::Update,
        "user",
        id,
        doc! { "passwordResetRequired": true, "sessionsRevoked": revoked as i64 },
    )
    .await;
    Ok(
        json!({ "email": email, "resetToken": token, "expiresAt": rfc3339(expires), "sessionsRevoked": revoked }),
    )
}

/// Sets a user's status (PENDING, ACTIVE, INACTIVE); INACTIVE revokes their sessions.
pub async fn set_user_status(state: &State, email: &str, status: &str) -> Result<Value, ApiError> {
    let Some(status) = UserStatus::parse(status) else {
        return Err(ApiError::field(
            "status",
            format!("must be PENDING, ACTIVE or INACTIVE, not {status}"),
        ));
    };
    let user = user_by_email(state, email).await?;
    let (id, org) = (
        id_of(&user, "user")?,
        user.get_object_id("organizationId")
            .map_err(|_| ApiError::internal("user without organization"))?,
    );
    db(state).collection(collections::USERS)
        .update_one(doc! { "_id": id }, doc! { "$set": { "status": status.as_str(), "updatedAt": DateTime::now() }, "$inc": { "version": 1_i64 } })
        .await?;
    let revoked = if status == UserStatus::Inactive {
        tokens::end_all(state, tokens::Ending::User(id), "USER_DEACTIVATED").await?
    } else {
        0
    };
    let from = user.get_str("status").unwrap_or_default();
    operator_audit(
        state,
        org,
        Action::Update,
        "user",
        id,
        doc! { "status": { "from": from, "to": status.as_str() } },
    )
    .await;
    Ok(
        json!({ "email": email, "status": status.as_str(), "previousStatus": from, "sessionsRevoked": revoked }),
    )
}

/// Parses `30m`, `24h`, `7d` (and a bare number of hours).
pub fn parse_since(text: &str) -> Option<Duration> {
    let (n, unit) = text.trim().split_at(
        text.trim()
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.trim().len()),
    );
    let n: u64 = n.parse().ok()?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" | "" => n * 3600,
        "d" => n * DAY_SECS,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

fn since_filter(since: Duration) -> DateTime {
    DateTime::from_millis(DateTime::now().timestamp_millis() - since.as_millis() as i64)
}

/// Who the audit query is about.
pub enum AuditSubject<'a> {
    User(&'a str),
    Organization(&'a str),
}

/// Audit entries of a user or an organization, newest first (at most 500).
pub async fn audit(
    state: &State,
    subject: AuditSubject<'_>,
    action: Option<&str>,
    since: Duration,
) -> Result<Vec<Value>, ApiError> {
    let mut filter = doc! { "createdAt": { "$gte": since_filter(since) } };
    match subject {
        AuditSubject::User(email) => {
            filter.insert(
                "userId",
                id_of(&user_by_email(state, email).await?, "user")?,
            );
        }
        AuditSubject::Organization(slug) => {
            filter.insert(
                "organizationId",
                id_of(&org_by_slug(state, slug).await?, "organization")?,
            );
        }
    }
    if let Some(a) = action {
        filter.insert("action", a);
    }
    newest(state, collections::AUDIT_LOG, filter, 500).await
}

/// The newest `limit` documents of `collection` matching `filter`, rendered.
async fn newest(
    state: &State,
    collection: &str,
    filter: Document,
    limit: i64,
) -> Result<Vec<Value>, ApiError> {
    let docs = db(state)
        .collection(collection)
        .find_many(filter, doc! { "createdAt": -1 }, limit, None)
        .await?;
    Ok(docs.iter().map(shared::records::render).collect())
}

/// Who the sign-in query is about.
pub enum LoginSubject<'a> {
    Email(&'a str),
    Ip(&'a str),
}

/// Recent sign-in attempts for an email or a client address, newest first (at most 200).
pub async fn logins(
    state: &State,
    subject: LoginSubject<'_>,
    since: Duration,
) -> Result<Vec<Value>, ApiError> {
    let mut filter = doc! { "createdAt": { "$gte": since_filter(since) } };
    match subject {
        LoginSubject::Email(e) => filter.insert("email", e.trim().to_lowercase()),
        LoginSubject::Ip(ip) => filter.insert("ipAddress", ip),
    };
    newest(state, collections::LOGIN_ATTEMPTS, filter, 200).await
}

/// `forms submissions --by-ip [--org SLUG] [--since 1h]`: form submissions
/// per client address since then, most first, with how many were spam
/// (the runbook's "which addresses are flooding our forms").
pub async fn form_submissions_by_ip(
    state: &State,
    slug: Option<&str>,
    since: Duration,
) -> Result<Vec<Value>, ApiError> {
    let org = match slug {
        Some(s) => Some(id_of(&org_by_slug(state, s).await?, "organization")?),
        None => None,
    };
    let rows = crate::crm::forms::by_ip(&db(state), org, since_filter(since)).await?;
    Ok(rows
        .into_iter()
        .map(|(ip, n, spam)| json!({ "ipAddress": ip, "submissions": n, "spam": spam }))
        .collect())
}

/// Whose rate-limit buckets an operator looks at or resets.
pub enum LimitSubject<'a> {
    /// The organization's buckets (API, UPLOADS, EXPORTS).
    Organization(&'a str),
    /// The failed-sign-in bucket of an email.
    Email(&'a str),
    /// The failed-sign-in bucket of a client address.
    Ip(&'a str),
}

/// The buckets of `subject`: (action, key, limit, organization).
async fn buckets(
    state: &State,
    subject: &LimitSubject<'_>,
) -> Result<(Vec<(LimitedAction, String, u64)>, Option<ObjectId>), ApiError> {
    let limits = &state.config.rate_limits;
    Ok(match subject {
        LimitSubject::Organization(slug) => {
            let org: shared::auth::Organization =
                shared::db::decode(org_by_slug(state, slug).await?)?;
            let rows = LimitedAction::ALL
                .into_iter()
                .filter(|a| !a.per_client())
                .map(|a| (a, org.id.to_hex(), org.limit(limits, a)))
                .collect();
            (rows, Some(org.id))
        }
        LimitSubject::Email(email) => {
            let key = email.trim().to_lowercase();
            let a = LimitedAction::FailedLoginEmail;
            (vec![(a, key, limits.limit(a, Plan::Free))], None)
        }
        LimitSubject::Ip(ip) => {
            // Keyed as the server keys it: an IPv6 client by its /64, an
            // IPv4-mapped address as IPv4.
            let addr: std::net::IpAddr = ip
                .trim()
                .parse()
                .map_err(|_| ApiError::field("ip", "must be an IPv4 or IPv6 address"))?;
            let a = LimitedAction::FailedLoginIp;
            let key = ratelimit::client_key(Some(addr));
            (vec![(a, key, limits.limit(a, Plan::Free))], None)
        }
    })
}

/// `ratelimit status`: each bucket's limit, used, remaining and reset
/// time (the runbook's `getRateLimitStatus`), counting nothing.
pub async fn rate_limit_status(
    state: &State,
    subject: LimitSubject<'_>,
) -> Result<Vec<Value>, ApiError> {
    let (rows, _) = buckets(state, &subject).await?;
    let mut out = vec![];
    for (action, key, limit) in rows {
        let (used, reset_at) = ratelimit::peek(state, action, &key).await?;
        out.push(json!({
            "bucket": action.name().to_uppercase(),
            "limit": limit,
            "used": used,
            "remaining": limit.saturating_sub(used),
            "resetAt": rfc3339(DateTime::from_millis(reset_at as i64 * 1000)),
        }));
    }
    Ok(out)
}

/// `ratelimit reset`: empties the current window of the subject's buckets
/// (or only `bucket`), audited (the runbook's `resetRateLimit`).
pub async fn rate_limit_reset(
    state: &State,
    subject: LimitSubject<'_>,
    bucket: Option<&str>,
) -> Result<Value, ApiError> {
    let (rows, org) = buckets(state, &subject).await?;
    let mut reset = vec![];
    for (action, key, _) in rows {
        if bucket.is_some_and(|b| !b.eq_ignore_ascii_case(action.name())) {
            continue;
        }
        if ratelimit::reset(state, action, &key).await? {
            reset.push(action.name().to_uppercase());
        }
        let changes = doc! { "rateLimitReset": action.name().to_uppercase(), "key": &key };
        match org {
            Some(o) => operator_audit(state, o, Action::Update, "organization", o, changes).await,
            None => operator_audit_global(state, Action::Update, "rate_limit", changes).await,
        }
    }
    Ok(json!({ "reset": reset }))
}

/// `ratelimit override --org SLUG --bucket B --limit N --until DATE`: the
/// organization's limit for that bucket is N until the end of DATE (UTC),
/// whatever its plan; then the plan's applies again. Audited.
pub async fn rate_limit_override(
    state: &State,
    slug: &str,
    bucket: &str,
    limit: &str,
    until: &str,
) -> Result<Value, ApiError> {
    let action = LimitedAction::ALL
        .into_iter()
        .filter(|a| !a.per_client())
        .find(|a| a.name().eq_ignore_ascii_case(bucket))
        .ok_or_else(|| {
            ApiError::field(
                "bucket",
                "must be API, UPLOADS, EXPORTS, INVITATIONS or WEBHOOK_SENDS",
            )
        })?;
    let limit: i64 = limit
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::field("limit", "must be a whole number above 0"))?;
    let until = DateTime::parse_rfc3339_str(format!("{until}T00:00:00Z"))
        .map(|d| DateTime::from_millis(d.timestamp_millis() + DAY_MS))
        .or_else(|_| DateTime::parse_rfc3339_str(until))
        .map_err(|_| ApiError::field("until", "must be a date such as 2026-12-31"))?;
    let org = org_by_slug(state, slug).await?;
    let id = id_of(&org, "organization")?;
    let name = action.name().to_uppercase();
    db(state)
        .collection(collections::ORGANIZATIONS)
        .update_one(
            doc! { "_id": id },
            doc! { "$set": { format!("rateLimitOverrides.{name}"): { "limit": limit, "until": until, "setAt": DateTime::now() } } },
        )
        .await?;
    operator_audit(
        state,
        id,
        Action::Update,
        "organization",
        id,
        doc! { "rateLimitOverride": { "bucket": &name, "limit": limit, "until": until } },
    )
    .await;
    Ok(json!({ "slug": slug, "bucket": name, "limit": limit, "until": rfc3339(until) }))
}

/// `tenants stats`: per organization, its users, live records per entity,
/// uploaded documents and their bytes, and its last activity (the newest
/// audit entry): the runbook's tenant statistics.
pub async fn tenant_stats(state: &State) -> Result<Vec<Value>, ApiError> {
    let orgs = db(state)
        .collection(collections::ORGANIZATIONS)
        .find_many(doc! {}, doc! { "createdAt": 1 }, 0, None)
        .await?;
    let mut out = vec![];
    for org in orgs {
        let id = id_of(&org, "organization")?;
        let users = db(state)
            .collection(collections::USERS)
            .count(doc! { "organizationId": id })
            .await?;
        let mut records = serde_json::Map::new();
        for (plural, entity) in crate::registry::ENTITY_PATHS.iter() {
            let n = db(state)
                .collection(entity.collection)
                .count(doc! { "organizationId": id, "deletedAt": null })
                .await?;
            records.insert(plural.to_string(), n.into());
        }
        let documents = db(state)
            .collection(collections::DOCUMENTS)
            .find_many(
                doc! { "organizationId": id, "status": "UPLOADED", "deletedAt": null },
                doc! { "_id": 1 },
                0,
                Some(doc! { "size": 1 }),
            )
            .await?;
        let bytes: i64 = documents
            .iter()
            .filter_map(|d| shared::db::number(d, "size"))
            .sum();
        let last = db(state)
            .collection(collections::AUDIT_LOG)
            .find_many(
                doc! { "organizationId": id },
                doc! { "createdAt": -1 },
                1,
                Some(doc! { "createdAt": 1 }),
            )
            .await?;
        out.push(json!({
            "slug": org.get_str("slug").unwrap_or_default(),
            "plan": org.get_str("plan").unwrap_or_default(),
            "isActive": org.get_bool("isActive").unwrap_or(false),
            "users": users,
            "records": records,
            "documents": documents.len(),
            "storedBytes": bytes,
            "lastActivityAt": last.first().map(|d| time(d, "createdAt")).unwrap_or(Value::Null),
        }));
    }
    Ok(out)
}

/// `users show EMAIL`: what the "user cannot sign in" scenario asks first:
/// status, role, organization (and whether it is active), last sign-in,
/// failed attempts in the last 24 hours, the sign-in bucket of the email,
/// and the sessions still open.
pub async fn show_user(state: &State, email: &str) -> Result<Value, ApiError> {
    let user = user_by_email(state, email).await?;
    let id = id_of(&user, "user")?;
    let org = db(state)
        .collection(collections::ORGANIZATIONS)
        .find_one(doc! { "_id": user.get_object_id("organizationId").ok() })
        .await?
        .unwrap_or_default();
    let email = user.get_str("email").unwrap_or_default().to_string();
    let failed = db(state)
        .collection(collections::LOGIN_ATTEMPTS)
        .count(doc! {
            "email": &email, "success": false,
            "createdAt": { "$gte": since_filter(Duration::from_secs(DAY_SECS)) },
        })
        .await?;
    let sessions = db(state)
        .collection(collections::REFRESH_TOKENS)
        .count(doc! { "userId": id, "revokedAt": null, "expiresAt": { "$gt": DateTime::now() } })
        .await?;
    let bucket = rate_limit_status(state, LimitSubject::Email(&email)).await?;
    Ok(json!({
        "email": email,
        "status": user.get_str("status").unwrap_or_default(),
        "role": user.get_str("role").unwrap_or_default(),
        "organization": org.get_str("slug").ok(),
        "organizationActive": org.get_bool("isActive").unwrap_or(false),
        "lastLoginAt": time(&user, "lastLoginAt"),
        "failedSignInsLast24h": failed,
        "signInBucket": bucket.into_iter().next(),
        "openSessions": sessions,
    }))
}

/// `sessions revoke-all [--org SLUG]`: signs out every user of the
/// organization, or of every organization (an incident), access tokens
/// included; audited.
pub async fn revoke_all_sessions(state: &State, slug: Option<&str>) -> Result<Value, ApiError> {
    let (whose, org) = match slug {
        Some(s) => {
            let id = id_of(&org_by_slug(state, s).await?, "organization")?;
            (tokens::Ending::Organization(id), Some(id))
        }
        None => (tokens::Ending::Everyone, None),
    };
    let revoked = tokens::end_all(state, whose, "OPERATOR_INCIDENT").await?;
    let changes = doc! { "allSessions": true, "scope": slug.unwrap_or("everyone"), "revoked": revoked as i64 };
    match org {
        Some(o) => operator_audit(state, o, Action::Logout, "session", o, changes).await,
        None => operator_audit_global(state, Action::Logout, "session", changes).await,
    }
    tracing::warn!(
        scope = slug.unwrap_or("everyone"),
        revoked,
        "[SECURITY] every session revoked"
    );
    Ok(json!({ "scope": slug.unwrap_or("everyone"), "sessionsRevoked": revoked }))
}

/// The stages of a query plan, outermost first (`FETCH > IXSCAN`).
fn stages(plan: &Document, out: &mut Vec<String>) {
    if let Ok(stage) = plan.get_str("stage") {
        out.push(stage.to_string());
    }
    for key in ["inputStage", "queryPlan"] {
        if let Ok(inner) = plan.get_document(key) {
            stages(inner, out);
        }
    }
    if let Ok(inputs) = plan.get_array("inputStages") {
        for i in inputs.iter().filter_map(bson::Bson::as_document) {
            stages(i, out);
        }
    }
}

/// `db explain ENTITY`: the winning plan of each list query the entity
/// offers (its default order, each allowed sort, each filter), as the
/// server plans it for one organization. Returns the rows and whether any
/// scans the collection.
pub async fn db_explain(state: &State, plural: &str) -> Result<(Vec<Value>, bool), ApiError> {
    use shared::records::FilterKind;
    let (_, entity) = crate::registry::ENTITY_PATHS
        .iter()
        .find(|(p, _)| *p == plural)
        .ok_or(ApiError::NotFound { resource: "entity" })?;
    let base = doc! { "organizationId": ObjectId::new(), "deletedAt": null };
    let order = |field: &str| {
        let dir = if matches!(field, "createdAt" | "updatedAt") {
            -1
        } else {
            1
        };
        doc! { field: dir, "_id": dir }
    };
    let default = entity.list.default_sort.trim_start_matches('-');
    let mut queries: Vec<(String, Document, Document)> = vec![(
        format!("default order ({})", entity.list.default_sort),
        base.clone(),
        order(default),
    )];
    for field in entity.list.sort_fields {
        queries.push((format!("sort={field}"), base.clone(), order(field)));
    }
    for f in entity.list.filters {
        let sample = match f.kind {
            FilterKind::Id => ObjectId::new().to_hex(),
            FilterKind::Bool | FilterKind::Custom { .. } => "true".into(),
            FilterKind::Integer => "1".into(),
            FilterKind::From | FilterKind::To => "2026-01-01T00:00:00Z".into(),
            _ => "x".into(),
        };
        let mut filter = base.clone();
        f.apply(&sample, &mut filter)?;
        queries.push((format!("{}={sample}", f.param), filter, order(default)));
    }
    let mut rows = vec![];
    let mut scans = false;
    for (query, filter, sort) in queries {
        let plan = state.explain_find(entity.collection, filter, sort).await?;
        let mut names = vec![];
        stages(&plan, &mut names);
        let collscan = names.iter().any(|s| s == "COLLSCAN");
        scans |= collscan;
        rows.push(json!({ "query": query, "plan": names.join(" > "), "collectionScan": collscan }));
    }
    Ok((rows, scans))
}

/// `cidr` as the blocklist stores it, or a field error.
fn network(cidr: &str) -> Result<String, ApiError> {
    shared::runtime::ip_network(cidr).ok_or_else(|| {
        ApiError::field(
            "cidr",
            "must be an address or a network such as 203.0.113.0/24",
        )
    })
}

/// `ips block CIDR --reason TEXT [--until DATE]`: every function refuses the
/// network with 403 (within a minute: each instance rereads the list at
/// least that often). Blocking a network again replaces its entry. Audited.
pub async fn ips_block(
    state: &State,
    cidr: &str,
    reason: &str,
    until: Option<&str>,
) -> Result<Value, ApiError> {
    let net = network(cidr)?;
    if reason.trim().is_empty() {
        return Err(ApiError::field(
            "reason",
            "say why (it is kept with the block)",
        ));
    }
    let until = match until {
        None => None,
        Some(u) => Some(
            DateTime::parse_rfc3339_str(format!("{u}T00:00:00Z"))
                .or_else(|_| DateTime::parse_rfc3339_str(u))
                .map_err(|_| {
                    ApiError::field("until", "must be a date (2026-12-31) or an RFC 3339 time")
                })?,
        ),
    };
    let now = DateTime::now();
    db(state)
        .collection(collections::IP_BLOCKS)
        .upsert_one(
            doc! { "cidr": &net },
            doc! { "$set": { "cidr": &net, "reason": reason.trim(), "until": until, "createdAt": now, "createdBy": "crm-admin" } },
        )
        .await?;
    operator_audit_global(
        state,
        Action::Create,
        "ip_block",
        doc! { "cidr": &net, "reason": reason.trim(), "until": until },
    )
    .await;
    Ok(json!({ "cidr": net, "reason": reason.trim(), "until": until.map(rfc3339) }))
}

/// `ips unblock CIDR`: lifts a block (404 when there is none). Audited.
pub async fn ips_unblock(state: &State, cidr: &str) -> Result<Value, ApiError> {
    let net = network(cidr)?;
    if !db(state)
        .collection(collections::IP_BLOCKS)
        .delete_one(doc! { "cidr": &net })
        .await?
    {
        return Err(ApiError::NotFound {
            resource: "ip block",
        });
    }
    operator_audit_global(state, Action::Delete, "ip_block", doc! { "cidr": &net }).await;
    Ok(json!({ "cidr": net, "unblocked": true }))
}

/// `ips list`: the blocks in force, newest first.
pub async fn ips_list(state: &State) -> Result<Value, ApiError> {
    let now = DateTime::now();
    let found = db(state)
        .collection(collections::IP_BLOCKS)
        .find_many(
            doc! { "$or": [ { "until": null }, { "until": { "$gt": now } } ] },
            doc! { "createdAt": -1 },
            10_000,
            None,
        )
        .await?;
    Ok(Value::from(
        found
            .iter()
            .map(|d| {
                json!({
                    "cidr": d.get_str("cidr").unwrap_or_default(),
                    "reason": d.get_str("reason").unwrap_or_default(),
                    "until": d.get_datetime("until").ok().map(|t| rfc3339(*t)),
                    "createdAt": d.get_datetime("createdAt").ok().map(|t| rfc3339(*t)),
                })
            })
            .collect::<Vec<_>>(),
    ))
}

/// `db stats`: each collection's documents, data and index bytes, largest
/// first, and the connections: the server's count (the runbook's pool
/// alert) and this configuration's pool per instance.
pub async fn db_stats(state: &State) -> Result<Value, ApiError> {
    let mut rows = vec![];
    for name in state.list_collections().await? {
        let s = state.collection_stats(&name).await?;
        let n = |k: &str| shared::db::number(&s, k).unwrap_or(0);
        rows.push(json!({
            "collection": name, "documents": n("count"), "dataBytes": n("size"),
            "storageBytes": n("storageSize"), "indexBytes": n("totalIndexSize"),
            "indexes": n("nindexes"),
        }));
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r["dataBytes"].as_i64().unwrap_or(0)));
    let server = state.server_connections().await?.map(|c| {
        json!({
            "current": shared::db::number(&c, "current"),
            "available": shared::db::number(&c, "available"),
            "totalCreated": shared::db::number(&c, "totalCreated"),
        })
    });
    let (max, min) = state.config.mongodb_pool;
    Ok(json!({
        "database": state.database_name(),
        "collections": rows,
        "connections": server,
        "poolPerInstance": { "max": max, "min": min },
    }))
}
