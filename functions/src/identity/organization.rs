//! The caller's own organization: settings, plan, soft delete and ownership
//! transfer. Every change is one transaction with its audit entry.

use serde::Deserialize;
use shared::bson::oid::ObjectId;
use shared::bson::{doc, DateTime, Document};

use shared::audit::{diff, Action, AuditEntry};
use shared::auth::tokens::Ending;
use shared::auth::{Organization, User, UserStatus};
use shared::db::{collections, Scope};
use shared::error::Code;
use shared::error::{ApiError, FieldError, OrInternal};
use shared::ratelimit::Plan;
use shared::rbac::Role;
use shared::validate::{self, Errors, Patch};

use crate::calendar;
use crate::files::documents::MAX_LOGO_BYTES;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OrganizationPatch {
    #[serde(default)]
    pub name: Patch<String>,
    #[serde(default)]
    pub settings: Patch<SettingsInput>,
}

/// Organization-wide preferences: display (`currency`, `locale`) and the
/// workshop's calendar (`timezone`, `workingHours`, `bays`). A PATCH
/// changes the keys it sends and keeps the others; a key sent as null is
/// cleared.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SettingsInput {
    /// IANA time zone, e.g. `Europe/Berlin`.
    #[serde(default)]
    pub timezone: Patch<String>,
    /// ISO 4217 code, e.g. `EUR`.
    #[serde(default)]
    pub currency: Patch<String>,
    /// BCP 47 language tag, e.g. `de-DE`.
    #[serde(default)]
    pub locale: Patch<String>,
    /// `{"mon": ["08:00", "18:00"], ..., "sun": null}`.
    #[serde(default)]
    pub working_hours: Patch<serde_json::Value>,
    /// The names of the workshop's bays.
    #[serde(default)]
    pub bays: Patch<Vec<String>>,
    /// The shop's postal address, as customers see it on shared documents.
    #[serde(default)]
    pub address: Patch<String>,
    /// The shop's phone number, as customers see it.
    #[serde(default)]
    pub phone: Patch<String>,
    /// An https URL of the shop's logo (for the page the SaaS team hosts).
    #[serde(default)]
    pub logo_url: Patch<String>,
    /// The id of an uploaded document, a PNG or JPEG of at most 1 MiB,
    /// printed on estimates and invoices (read from the organization's own
    /// bucket: a PDF never waits on a third party's server).
    #[serde(default)]
    pub logo_document_id: Patch<String>,
    /// Where a share link points, `{token}` replaced by its token (the
    /// SaaS team hosts the page): e.g. `https://shop.example/approve/{token}`.
    #[serde(default)]
    pub share_url_template: Patch<String>,
    /// What estimates and invoices print: `{taxId?, footer?, legalText?}`.
    #[serde(default)]
    pub documents: Patch<DocumentSettings>,
    /// The time clock: `{autoStartShift}` (work clocked without an open
    /// shift opens one with it instead of a 409).
    #[serde(default)]
    pub time_clock: Patch<TimeClockSettings>,
    /// Fee rules the server adds as FEE lines to open work orders (see
    /// [`crate::fees`]): the whole list, replaced.
    #[serde(default)]
    pub fees: Patch<Vec<crate::fees::FeeRuleInput>>,
    /// Service reminders (see [`crate::reminder_settings`]): `{enabled?,
    /// defaultDailyDistance?, declinedFollowUpDays?,
    /// requireMarketingConsent?}`, replaced as a whole.
    #[serde(default)]
    pub service_reminders: Patch<crate::reminder_settings::ReminderSettingsInput>,
}

/// `settings.timeClock`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TimeClockSettings {
    pub auto_start_shift: bool,
}

/// `settings.documents`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DocumentSettings {
    pub tax_id: Option<String>,
    pub footer: Option<String>,
    pub legal_text: Option<String>,
}

/// Whether `url` is plain http to this machine itself (its host exactly
/// `localhost` or `127.0.0.1`, a port allowed).
fn local_http(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once(':').map_or(authority, |(h, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            authority
        }
    });
    matches!(host, "localhost" | "127.0.0.1")
}

/// The `$set` and `$unset` of a settings PATCH.
fn settings(errors: &mut Errors, s: &SettingsInput) -> (Document, Document) {
    let (mut set, mut unset) = (Document::new(), Document::new());
    let mut put = |key: &str, value: Option<shared::bson::Bson>| {
        if let Some(v) = value {
            set.insert(format!("settings.{key}"), v);
        }
    };
    if let Patch::Value(tz) = &s.timezone {
        put(
            "timezone",
            calendar::check_timezone(errors, tz).then(|| tz.into()),
        );
    }
    if let Patch::Value(c) = &s.currency {
        let ok = c.len() == 3 && c.chars().all(|c| c.is_ascii_uppercase());
        if !ok {
            errors.push(FieldError::new(
                "settings.currency",
                "must be an ISO 4217 code such as EUR",
            ));
        }
        put("currency", ok.then(|| c.into()));
    }
    if let Patch::Value(l) = &s.locale {
        let ok =
            (2..=35).contains(&l.len()) && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !ok {
            errors.push(FieldError::new(
                "settings.locale",
                "must be a language tag such as de-DE",
            ));
        }
        put("locale", ok.then(|| l.into()));
    }
    if let Patch::Value(h) = &s.working_hours {
        put(
            "workingHours",
            calendar::working_hours(errors, h).map(Into::into),
        );
    }
    if let Patch::Value(b) = &s.bays {
        put("bays", calendar::bays(errors, b).map(Into::into));
    }
    if let Patch::Value(a) = &s.address {
        put(
            "address",
            errors
                .check(validate::multiline("settings.address", a, 500))
                .map(Into::into),
        );
    }
    if let Patch::Value(p) = &s.phone {
        put(
            "phone",
            errors
                .check(validate::phone("settings.phone", p))
                .map(Into::into),
        );
    }
    if let Patch::Value(u) = &s.logo_url {
        let ok = errors
            .check(validate::url("settings.logoUrl", u))
            .filter(|u| {
                let https = u.starts_with("https://");
                if !https {
                    errors.push(FieldError::new("settings.logoUrl", "must be an https URL"));
                }
                https
            });
        put("logoUrl", ok.map(Into::into));
    }
    if let Patch::Value(id) = &s.logo_document_id {
        let id = ObjectId::parse_str(id).ok();
        if id.is_none() {
            errors.push(FieldError::new(
                "settings.logoDocumentId",
                "must be a document id",
            ));
        }
        put("logoDocumentId", id.map(|id| id.to_hex().into()));
    }
    if let Patch::Value(t) = &s.time_clock {
        put(
            "timeClock",
            Some(doc! { "autoStartShift": t.auto_start_shift }.into()),
        );
    }
    if let Patch::Value(f) = &s.fees {
        put("fees", crate::fees::check(errors, f).map(Into::into));
    }
    if let Patch::Value(r) = &s.service_reminders {
        put(
            "serviceReminders",
            crate::reminder_settings::check(errors, r).map(Into::into),
        );
    }
    if let Patch::Value(d) = &s.documents {
        let mut out = Document::new();
        for (key, value, max) in [
            ("taxId", &d.tax_id, 50),
            ("footer", &d.footer, 500),
            ("legalText", &d.legal_text, 1_000),
        ] {
            if let Some(v) = value {
                if let Some(v) = errors.check(validate::multiline(
                    &format!("settings.documents.{key}"),
                    v,
                    max,
                )) {
                    out.insert(key, v);
                }
            }
        }
        put("documents", Some(out.into()));
    }
    if let Patch::Value(t) = &s.share_url_template {
        let ok = errors
            .check(validate::url(
                "settings.shareUrlTemplate",
                &t.replace("{token}", "t"),
            ))
            .is_some()
            && t.matches("{token}").count() == 1
            // A token is a credential: over TLS, but on this machine.
            && (t.starts_with("https://") || local_http(t));
        if !ok {
            errors.push(FieldError::new(
                "settings.shareUrlTemplate",
                "must be an https URL with {token} once, e.g. https://shop.example/approve/{token}",
            ));
        }
        put("shareUrlTemplate", ok.then(|| t.as_str().into()));
    }
    for (key, patch) in [
        ("timezone", matches!(s.timezone, Patch::Null)),
        ("currency", matches!(s.currency, Patch::Null)),
        ("locale", matches!(s.locale, Patch::Null)),
        ("workingHours", matches!(s.working_hours, Patch::Null)),
        ("bays", matches!(s.bays, Patch::Null)),
        ("address", matches!(s.address, Patch::Null)),
        ("phone", matches!(s.phone, Patch::Null)),
        ("logoUrl", matches!(s.logo_url, Patch::Null)),
        ("logoDocumentId", matches!(s.logo_document_id, Patch::Null)),
        (
            "shareUrlTemplate",
            matches!(s.share_url_template, Patch::Null),
        ),
        ("documents", matches!(s.documents, Patch::Null)),
        ("timeClock", matches!(s.time_clock, Patch::Null)),
        ("fees", matches!(s.fees, Patch::Null)),
        (
            "serviceReminders",
            matches!(s.service_reminders, Patch::Null),
        ),
    ] {
        if patch {
            unset.insert(format!("settings.{key}"), "");
        }
    }
    (set, unset)
}

fn parse_org(d: Document) -> Result<Organization, ApiError> {
    shared::db::decode(d)
}

/// Applies `update` to the caller's organization with an UPDATE audit entry
/// listing what changed.
async fn update_org(scope: &Scope, update: Document) -> Result<Organization, ApiError> {
    let before =
        shared::bson::to_document(&scope.caller().org.to_json()).internal("organization view")?;
    let (update, before) = (&update, &before);
    let after = scope
        .transaction(|tx| {
            Box::pin(async move {
                let after = tx
                    .update_organization(update.clone())
                    .await?
                    .ok_or_else(|| ApiError::internal("caller's organization vanished"))?;
                let org = parse_org(after)?;
                let now = shared::bson::to_document(&org.to_json())
                    .internal("the organization as BSON")?;
                tx.audit(
                    AuditEntry::new(Action::Update, "organization")
                        .id(org.id)
                        .changes(diff(before, &now)),
                )
                .await?;
                Ok(org)
            })
        })
        .await?;
    Ok(after)
}

/// A logo must be one of the organization's uploaded documents, a PNG or
/// JPEG of at most [`MAX_LOGO_BYTES`]; else 422 on `settings.logoDocumentId`.
async fn check_logo(scope: &Scope, id: ObjectId) -> Result<(), ApiError> {
    let found = scope
        .collection(collections::DOCUMENTS)
        .find_one(doc! {
            "_id": id,
            "deletedAt": null,
            "status": "UPLOADED",
            "contentType": { "$in": ["image/png", "image/jpeg"] },
            "size": { "$lte": MAX_LOGO_BYTES },
        })
        .await?;
    if found.is_none() {
        return Err(ApiError::Unprocessable {
            code: Code::ValidationFailed,
            detail: "The logo must be an uploaded PNG or JPEG document of at most 1 MiB".into(),
            errors: vec![FieldError::new(
                "settings.logoDocumentId",
                "must name an uploaded PNG or JPEG document of at most 1 MiB",
            )],
        });
    }
    Ok(())
}

/// `PATCH /api/v1/organization`: name and settings (ADMIN+).
pub async fn update(scope: &Scope, input: OrganizationPatch) -> Result<Organization, ApiError> {
    let mut errors = Errors::new();
    let mut set = doc! {};
    match &input.name {
        Patch::Absent => {}
        Patch::Null => errors.push(FieldError::new("name", "cannot be cleared")),
        Patch::Value(n) => {
            if let Some(n) = errors.check(validate::text("name", n, 1, 100)) {
                set.insert("name", n);
            }
        }
    }
    let mut unset = Document::new();
    match &input.settings {
        Patch::Absent => {}
        Patch::Null => {
            set.insert("settings", Document::new());
        }
        Patch::Value(s) => {
            let (s, u) = settings(&mut errors, s);
            set.extend(s);
            unset = u;
        }
    }
    errors.finish()?;
    // When the time zone changes, figures kept by local day in the old one
    // (the reports' rollup) no longer apply: say when.
    let zone = |s: Option<&Document>| {
        s.and_then(|s| s.get_str("timezone").ok())
            .unwrap_or("UTC")
            .to_string()
    };
    let before = zone(scope.caller().org.settings.as_ref());
    let after = match &input.settings {
        Patch::Absent => before.clone(),
        Patch::Null => "UTC".to_string(),
        Patch::Value(s) => match &s.timezone {
            Patch::Absent => before.clone(),
            Patch::Null => "UTC".to_string(),
            Patch::Value(tz) => tz.clone(),
        },
    };
    if before != after {
        // Read back by the reports (RFC 3339, as the API shows times).
        let now = shared::time::rfc3339(DateTime::now());
        match set.get_document_mut("settings") {
            Ok(cleared) => {
                cleared.insert("timezoneChangedAt", now);
            }
            Err(_) => {
                set.insert("settings.timezoneChangedAt", now);
            }
        }
    }
    if let Some(logo) = set
        .get_str("settings.logoDocumentId")
        .ok()
        .and_then(|id| ObjectId::parse_str(id).ok())
    {
        check_logo(scope, logo).await?;
    }
    if set.is_empty() && unset.is_empty() {
        return Err(ApiError::Unprocessable {
            code: Code::NothingToUpdate,
            detail: "Send name or settings".into(),
            errors: vec![],
        });
    }
    set.insert("updatedAt", DateTime::now());
    let mut update = doc! { "$set": set };
    if !unset.is_empty() {
        update.insert("$unset", unset);
    }
    update_org(scope, update).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanInput {
    pub plan: Plan,
}

/// `PUT /api/v1/organization/plan` (OWNER): a move down only (or to the
/// plan it has, which changes nothing); a move up is a 403
/// `PLAN_CHANGE_REQUIRES_BILLING` and changes nothing, since upgrades come
/// from the operator (`crm-admin tenants set-plan`) or billing. The new
/// plan's limits apply on the next request, since every request re-reads the
/// organization.
pub async fn set_plan(scope: &Scope, input: PlanInput) -> Result<Organization, ApiError> {
    let org = &scope.caller().org;
    if input.plan > org.plan {
        return Err(ApiError::forbidden(
            Code::PlanChangeRequiresBilling,
            format!(
                "Moving from {} up to {} goes through billing; an OWNER can only move to a smaller plan here",
                org.plan.as_str(),
                input.plan.as_str()
            ),
        ));
    }
    if input.plan == org.plan {
        return Ok(org.clone());
    }
    update_org(
        scope,
        doc! { "$set": { "plan": input.plan.as_str(), "updatedAt": DateTime::now() } },
    )
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteInput {
    pub confirm: Option<String>,
}

/// `DELETE /api/v1/organization` `{confirm: "<slug>"}` (OWNER): deactivates the
/// organization, schedules its purge, and revokes every member's refresh
/// tokens; every member's next request is refused.
pub async fn delete(scope: &Scope, input: DeleteInput) -> Result<(), ApiError> {
    let slug = &scope.caller().org.slug;
    if input.confirm.as_deref() != Some(slug.as_str()) {
        return Err(ApiError::field(
            "confirm",
            format!("must be the organization's slug, {slug}"),
        ));
    }
    scope
        .transaction(|tx| {
            Box::pin(async move {
                let now = DateTime::now();
                tx.update_organization(
            doc! { "$set": { "isActive": false, "deleteScheduledAt": now, "updatedAt": now } },
        )
        .await?;
                // Every member's sessions end, access tokens included.
                let revoked = tx
                    .end_all_sessions(
                        Ending::Organization(scope.org_id()),
                        "ORGANIZATION_DELETED",
                        now,
                    )
                    .await?;
                tx.audit(
                    AuditEntry::new(Action::Delete, "organization")
                        .id(scope.org_id())
                        .changes(doc! { "slug": slug.as_str(), "sessionsRevoked": revoked as i64 }),
                )
                .await?;
                Ok(())
            })
        })
        .await?;
    tracing::warn!(requestId = %scope.meta().request_id, organizationId = %scope.org_id(),
        userId = %scope.caller().user.id, "[TENANT] organization deleted; purge scheduled");
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TransferInput {
    pub member_id: String,
}

/// `POST /api/v1/organization/transfer-ownership` (OWNER): the target, an
/// ACTIVE member, becomes OWNER and the caller ADMIN, in one transaction.
pub async fn transfer_ownership(scope: &Scope, input: TransferInput) -> Result<User, ApiError> {
    let target: ObjectId = ObjectId::parse_str(&input.member_id)
        .map_err(|_| ApiError::field("memberId", "must be a 24-character hex id"))?;
    let me = scope.caller().user.id;
    if target == me {
        return Err(ApiError::field("memberId", "is you; choose another member"));
    }
    let member = scope
        .collection(collections::USERS)
        .find_one(doc! { "_id": target })
        .await?
        .ok_or(ApiError::NotFound { resource: "member" })?;
    if member.get_str("status") != Ok(UserStatus::Active.as_str()) {
        return Err(ApiError::Unprocessable {
            code: Code::MemberNotActive,
            detail: "Ownership can only go to an ACTIVE member".into(),
            errors: vec![FieldError::new("memberId", "is not an ACTIVE member")],
        });
    }
    let from_role = member.get_str("role").unwrap_or("").to_string();
    let from_role = &from_role;
    let updated = scope.transaction(|tx| Box::pin(async move {
        let now = DateTime::now();
        let promoted = tx
            .find_one_and_update(
                collections::USERS,
                doc! { "_id": target, "status": UserStatus::Active.as_str() },
                doc! { "$set": { "role": Role::Owner.as_str(), "updatedAt": now }, "$inc": { "version": 1_i64 } },
            )
            .await?
            .ok_or(ApiError::NotFound { resource: "member" })?;
        tx.find_one_and_update(
            collections::USERS,
            doc! { "_id": me, "role": Role::Owner.as_str() },
            doc! { "$set": { "role": Role::Admin.as_str(), "updatedAt": now }, "$inc": { "version": 1_i64 } },
        )
        .await?
        .ok_or_else(|| ApiError::conflict(Code::NotOwner, "You are no longer an OWNER"))?;
        tx.audit(AuditEntry::new(Action::Update, "user").id(target).changes(doc! {
            "role": { "from": from_role.as_str(), "to": Role::Owner.as_str() }, "reason": "OWNERSHIP_TRANSFER",
        }))
        .await?;
        tx.audit(AuditEntry::new(Action::Update, "user").id(me).changes(doc! {
            "role": { "from": Role::Owner.as_str(), "to": Role::Admin.as_str() }, "reason": "OWNERSHIP_TRANSFER",
        }))
        .await?;
        Ok(promoted)
    }))
    .await?;
    shared::db::decode(updated)
}
