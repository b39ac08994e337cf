//! A contact's email consent and its one-click unsubscribe.
//!
//! `emailConsent: {marketing, source?, at}` says whether the person agreed
//! to service and marketing email, how, and when (`at` is the server's
//! time of the write that changed it, whatever the body says). An
//! unsubscribe is the contact's own act: `POST
//! /api/v1/public/unsubscribe/{token}` (RFC 8058 one-click, no sign-in)
//! sets `emailConsent {marketing: false, source: UNSUBSCRIBE}` and
//! `unsubscribedAt`, audited under the link with the address and user
//! agent it came from, and announced (`contact.unsubscribed`). From then
//! on every reminder to the contact is skipped, and a manual send is 409
//! `CONTACT_OPTED_OUT`, until an ADMIN+ records a new consent with
//! `marketing: true` and how it was given (which clears `unsubscribedAt`,
//! audited like any change). Staff never set `source: UNSUBSCRIBE`.
//!
//! The token is a capability link (`shared::auth::links`, purpose
//! UNSUBSCRIBE, on the contact), one per email, valid two years: only its
//! hash is stored, so neither the database nor the outbox opens it.

use bson::oid::ObjectId;
use bson::{doc, DateTime, Document};
use serde_json::json;
use shared::audit::{Action, AuditEntry};
use shared::auth::links::{self, Link};
use shared::config::Config;
use shared::db::Scope;
use shared::error::{ApiError, Code, FieldError};
use shared::fields::{Field, Kind};
use shared::http::ApiResponse;
use shared::rbac::Permission;
use shared::records::{render, Write};
use shared::runtime::{Ctx, HandlerResult};
use shared::time::{shifted, DAY_MS};

use super::collections::CONTACTS;

/// How a contact gave (or withdrew) consent.
pub const SOURCES: &[&str] = &[
    "FORM",
    "IN_PERSON",
    "PHONE",
    "EMAIL",
    "IMPORT",
    "API",
    "UNSUBSCRIBE",
];

/// The link's purpose, on a `contact` record.
pub const PURPOSE: &str = "UNSUBSCRIBE";

/// How long an unsubscribe link works.
const LINK_DAYS: i64 = 730;

/// `emailConsent`.
pub static EMAIL_CONSENT: &[Field] = &[
    Field::required("marketing", Kind::Bool { default: None }),
    Field::optional(
        "source",
        Kind::Enum {
            values: SOURCES,
            default: None,
        },
    ),
    Field::optional("at", Kind::DateTime),
];

/// The contact rules: a consent written by staff (sent again unchanged
/// too: a confirmation) is stamped now (`at`), `API` when it names no
/// source, never `UNSUBSCRIBE` (422); one that gives marketing consent
/// again after an unsubscribe lifts it, by an ADMIN+ (403) naming how
/// (422 on `emailConsent.source` for none or `API`).
pub async fn rules(scope: &Scope, write: Write<'_>, fields: &mut Document) -> Result<(), ApiError> {
    let before = match write {
        Write::Update(before) => before.get_document("emailConsent").ok(),
        _ => None,
    };
    let Ok(consent) = fields.get_document("emailConsent") else {
        return Ok(());
    };
    if before == Some(consent) {
        // Not in the body (a PATCH of other fields).
        return Ok(());
    }
    let mut consent = consent.clone();
    if consent.get_str("source") == Ok("UNSUBSCRIBE") {
        return Err(ApiError::Validation {
            errors: vec![FieldError::new(
                "emailConsent.source",
                "cannot be UNSUBSCRIBE: only the contact's own unsubscribe sets that",
            )],
        });
    }
    let marketing = consent.get_bool("marketing").unwrap_or(false);
    if marketing && fields.get_datetime("unsubscribedAt").is_ok() {
        // Overriding the contact's own unsubscribe: an ADMIN+, saying how
        // the contact agreed again.
        scope.require(Permission::UpdateAnyRecord).await?;
        if matches!(consent.get_str("source"), Err(_) | Ok("API")) {
            return Err(ApiError::field(
                "emailConsent.source",
                "must say how the contact agreed again after unsubscribing (FORM, IN_PERSON, PHONE or EMAIL)",
            ));
        }
        fields.insert("unsubscribedAt", bson::Bson::Null);
    }
    if consent.get_str("source").is_err() {
        consent.insert("source", "API");
    }
    consent.insert("at", DateTime::now());
    fields.insert("emailConsent", consent);
    Ok(())
}

/// Why `contact` gets no reminder, if it does not: it unsubscribed, or
/// (`require_consent`) it never agreed to marketing email.
pub fn refusal(contact: &Document, require_consent: bool) -> Option<&'static str> {
    if contact.get_datetime("unsubscribedAt").is_ok() {
        return Some("OPTED_OUT");
    }
    let agreed = contact
        .get_document("emailConsent")
        .and_then(|c| c.get_bool("marketing"))
        .unwrap_or(false);
    (require_consent && !agreed).then_some("NO_CONSENT")
}

/// The 409 a manual send to a contact that `refusal` names gets.
pub fn opted_out(reason: &str) -> ApiError {
    ApiError::conflict(
        Code::ContactOptedOut,
        if reason == "OPTED_OUT" {
            "The contact unsubscribed from these emails"
        } else {
            "The organization sends reminders only with marketing consent, which the contact has not given"
        },
    )
}

/// A new unsubscribe link for `contact` of `org`: its token and the link
/// document to insert with the email that carries it.
pub fn new_link(org: ObjectId, contact: ObjectId, by: Option<ObjectId>) -> (String, Document) {
    let (token, hash) = links::new_token();
    let now = DateTime::now();
    let expires = shifted(now, LINK_DAYS * DAY_MS);
    let link = doc! {
        "_id": ObjectId::new(), "organizationId": org, "resource": "contact",
        "recordId": contact, "purpose": PURPOSE, "tokenHash": hash,
        "expiresAt": expires, "forgetAt": shifted(expires, 30 * DAY_MS),
        "createdBy": by, "createdAt": now,
    };
    (token, link)
}

/// The one-click address of `token` (`API_URL`).
pub fn url(config: &Config, token: &str) -> String {
    format!("{}/api/v1/public/unsubscribe/{token}", config.email.api_url)
}

/// The unsubscribe link of this request, or 404.
fn link_of(scope: &Scope) -> Result<&Link, ApiError> {
    let link = scope
        .caller()
        .link
        .as_deref()
        .ok_or_else(|| ApiError::internal("an unsubscribe route without its link"))?;
    if link.doc.get_str("resource") != Ok("contact") || link.purpose != PURPOSE {
        return Err(ApiError::NotFound { resource: "link" });
    }
    Ok(link)
}

/// `GET /api/v1/public/unsubscribe/{token}`: a page with one button that
/// posts the unsubscribe (opening the link changes nothing: mail scanners
/// and previews open links).
pub async fn page(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    link_of(scope)?;
    let shop = shared::email::html_escape(&scope.caller().org.name);
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width\"><title>Unsubscribe</title></head><body>\
         <p>Stop service reminders from {shop}?</p><form method=\"post\">\
         <input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
         <button type=\"submit\">Unsubscribe</button></form></body></html>"
    );
    Ok(ApiResponse::bytes(
        http::StatusCode::OK,
        "text/html; charset=utf-8",
        html.into_bytes(),
    ))
}

/// `POST /api/v1/public/unsubscribe/{token}` -> 200 `{unsubscribed: true,
/// at}`: the contact is unsubscribed (again: the first time stands).
pub async fn unsubscribe(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let link = link_of(scope)?;
    let contact = link.record_id;
    let now = DateTime::now();
    let at = scope
        .transaction(|tx| {
            Box::pin(async move {
                let stored = tx
                    .find_one(CONTACTS, doc! { "_id": contact })
                    .await?
                    .ok_or(ApiError::NotFound {
                        resource: "contact",
                    })?;
                if let Ok(at) = stored.get_datetime("unsubscribedAt") {
                    return Ok(*at);
                }
                let consent = doc! { "marketing": false, "source": "UNSUBSCRIBE", "at": now };
                let after = tx
                    .find_one_and_update(
                        CONTACTS,
                        doc! { "_id": contact },
                        doc! {
                            "$set": { "emailConsent": consent.clone(), "unsubscribedAt": now, "updatedAt": now },
                            "$inc": { "version": 1_i64 },
                        },
                    )
                    .await?
                    .ok_or(ApiError::NotFound {
                        resource: "contact",
                    })?;
                tx.audit(
                    AuditEntry::new(Action::Update, "contact")
                        .id(contact)
                        .changes(doc! { "emailConsent": consent, "unsubscribedAt": now }),
                )
                .await?;
                tx.announce("contact.unsubscribed", &render(&after));
                Ok(now)
            })
        })
        .await?;
    Ok(ApiResponse::ok(
        &json!({ "unsubscribed": true, "at": shared::time::rfc3339(at) }),
    ))
}
