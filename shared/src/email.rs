//! Transactional email through an outbox.
//!
//! An action that causes an email writes a [`Message`] to `email_outbox` in
//! its own transaction ([`crate::db::Tx::queue_email`],
//! [`crate::unscoped::UnscopedTx::queue_email`]), so the email exists
//! exactly when the action committed. The handler then calls [`deliver`]
//! right after the commit; whatever could not be sent then (no SMTP server,
//! an outage, a crash) is retried by the scheduled `send-emails` function
//! ([`send_due`]) with exponential backoff, and given up after
//! `EMAIL_MAX_ATTEMPTS` with an `[EMAIL]` error log.
//!
//! Never twice: a sender first claims an entry with one conditional update
//! (`PENDING` and due, or a `SENDING` whose lease ran out, to `SENDING`
//! with a fresh lease), so of any number of concurrent senders exactly one
//! gets it. The lease (two SMTP timeouts) outlasts any send, so a claimed
//! entry is only taken again when its sender died mid-send; the message
//! keeps its `Message-ID` (`<outbox id@host>`), so a copy that did leave is
//! recognisable as the same message. A sent entry drops its bodies (they
//! may hold one-time links) and expires after 30 days.
//!
//! SMTP is `lettre` over `SMTP_URL` (`smtp://` with `?tls=required` or
//! opportunistic STARTTLS, `smtps://` for implicit TLS; user and password
//! in the URL), which is what SES, Postmark, SendGrid and Mailgun offer.
//! Only the functions that send link it.

use std::time::Duration;

use bson::oid::ObjectId;
use bson::{doc, DateTime, Document};
use futures_util::TryStreamExt;

use crate::error::ApiError;
use crate::jobs::{Budget, Report};
use crate::state::State;
use crate::store::collections::EMAIL_OUTBOX;
use crate::time::shifted;

/// One email, as the domain renders it.
#[derive(Clone, Debug)]
pub struct Message {
    /// What it is (`invitation`, `password-reset`...), for logs and counts.
    pub kind: &'static str,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub const PENDING: &str = "PENDING";
pub const SENDING: &str = "SENDING";
pub const SENT: &str = "SENT";
pub const FAILED: &str = "FAILED";

/// How long a sent or abandoned entry is kept.
const KEEP_DAYS: i64 = 30;
/// At most this long per SMTP conversation.
const SMTP_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest wait between two attempts.
const MAX_BACKOFF_SECS: i64 = 6 * 3600;

/// The outbox document for `message`, due now.
pub fn outbox_document(
    org: Option<ObjectId>,
    user: Option<ObjectId>,
    message: &Message,
) -> Document {
    let now = DateTime::now();
    doc! {
        "_id": ObjectId::new(),
        "organizationId": org,
        "userId": user,
        "kind": message.kind,
        "to": &message.to,
        "subject": &message.subject,
        "text": &message.text,
        "html": &message.html,
        "status": PENDING,
        "attempts": 0_i32,
        "nextAttemptAt": now,
        "leaseUntil": null,
        "lastError": null,
        "createdAt": now,
        "sentAt": null,
        "expiresAt": null,
    }
}

/// Sends the entries `ids` (just committed) now; what fails stays for the
/// scheduled run. Never fails the request that queued them.
pub async fn deliver(state: &State, ids: &[ObjectId]) {
    for id in ids {
        match claim(state, doc! { "_id": id, "status": PENDING }).await {
            Ok(Some(entry)) => {
                send_claimed(state, entry).await;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(outboxId = %id, error = %e, "[EMAIL] not sent now; send-emails will");
            }
        }
    }
}

/// The scheduled run: sends every due entry (oldest first) until the
/// budget runs out. `scanned` counts attempts, `deleted` sent messages.
pub async fn send_due(state: &State, mut budget: Budget) -> Result<Report, ApiError> {
    let mut report = Report::default();
    while !budget.exhausted() {
        let now = DateTime::now();
        let due = doc! { "$or": [
            { "status": PENDING, "nextAttemptAt": { "$lte": now } },
            { "status": SENDING, "leaseUntil": { "$lt": now } },
        ] };
        let Some(entry) = claim(state, due).await? else {
            break;
        };
        report.scanned += 1;
        if send_claimed(state, entry).await {
            report.deleted += 1;
        }
        budget.spend();
    }
    report.remaining = state
        .collection(EMAIL_OUTBOX)
        .count_documents(doc! { "status": { "$in": [PENDING, SENDING] } })
        .await?;
    Ok(report)
}

/// Takes the oldest entry matching `filter` for this sender, or none.
async fn claim(state: &State, filter: Document) -> Result<Option<Document>, ApiError> {
    let coll = state.collection(EMAIL_OUTBOX);
    // A candidate first, then the conditional update that makes it ours:
    // two senders may see the same candidate, only one update matches.
    for _ in 0..5 {
        let Some(candidate) = coll
            .find(filter.clone())
            .sort(doc! { "nextAttemptAt": 1, "_id": 1 })
            .limit(1)
            .await?
            .try_next()
            .await?
        else {
            return Ok(None);
        };
        let id = candidate
            .get_object_id("_id")
            .map_err(|_| ApiError::internal("outbox entry without _id"))?;
        let mut guard = filter.clone();
        guard.insert("_id", id);
        let now = DateTime::now();
        let lease = shifted(now, 2 * SMTP_TIMEOUT.as_millis() as i64 + 5_000);
        let taken = coll
            .update_one(
                guard,
                doc! { "$set": { "status": SENDING, "leaseUntil": lease }, "$inc": { "attempts": 1 } },
            )
            .await?;
        if taken.modified_count == 1 {
            return Ok(coll.find_one(doc! { "_id": id }).await?);
        }
    }
    Ok(None)
}

/// Sends a claimed entry and records the outcome; true when it was sent.
async fn send_claimed(state: &State, entry: Document) -> bool {
    let Ok(id) = entry.get_object_id("_id") else {
        return false;
    };
    let attempts = entry.get_i32("attempts").unwrap_or(1);
    let kind = entry.get_str("kind").unwrap_or("email").to_string();
    let coll = state.collection(EMAIL_OUTBOX);
    let now = DateTime::now();
    let mine = doc! { "_id": id, "status": SENDING };
    match smtp::send(state, id, &entry).await {
        Ok(()) => {
            let done = doc! { "$set": {
                "status": SENT, "sentAt": now, "leaseUntil": null, "lastError": null,
                "text": null, "html": null, "expiresAt": shifted(now, KEEP_DAYS * 86_400_000),
            } };
            if let Err(e) = coll.update_one(mine, done).await {
                tracing::error!(outboxId = %id, error = %e, "[EMAIL] sent, but could not be marked sent");
            }
            tracing::info!(outboxId = %id, kind, attempts, "[EMAIL] sent");
            true
        }
        Err(error) => {
            let config = &state.config.email;
            let update = if attempts >= config.max_attempts as i32 {
                tracing::error!(outboxId = %id, kind, attempts, error = %error,
                    "[EMAIL] given up after {attempts} attempts");
                doc! { "$set": {
                    "status": FAILED, "leaseUntil": null, "lastError": &error,
                    "expiresAt": shifted(now, KEEP_DAYS * 86_400_000),
                } }
            } else {
                let base = config.retry_base.as_secs() as i64;
                let wait = base.saturating_mul(1 << (attempts - 1).clamp(0, 20));
                tracing::warn!(outboxId = %id, kind, attempts, error = %error,
                    "[EMAIL] not sent; retrying in {}s", wait.min(MAX_BACKOFF_SECS));
                doc! { "$set": {
                    "status": PENDING, "leaseUntil": null, "lastError": &error,
                    "nextAttemptAt": shifted(now, wait.min(MAX_BACKOFF_SECS) * 1000),
                } }
            };
            if let Err(e) = coll.update_one(mine, update).await {
                tracing::error!(outboxId = %id, error = %e, "[EMAIL] could not record a failed attempt");
            }
            false
        }
    }
}

/// The SMTP side, apart so the rest reads without lettre's types.
mod smtp {
    use bson::oid::ObjectId;
    use bson::Document;
    use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

    use super::SMTP_TIMEOUT;
    use crate::state::State;

    pub(super) async fn send(state: &State, id: ObjectId, entry: &Document) -> Result<(), String> {
        let config = &state.config.email;
        let url = config
            .smtp_url
            .as_ref()
            .ok_or("SMTP_URL is not set: no email can be sent")?;
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| format!("EMAIL_FROM is not a mailbox: {e}"))?;
        let to: Mailbox = entry
            .get_str("to")
            .unwrap_or_default()
            .parse()
            .map_err(|e| format!("not a deliverable address: {e}"))?;
        let part = |key: &str| entry.get_str(key).unwrap_or_default().to_string();
        let host = from.email.domain().to_string();
        let message = Message::builder()
            .from(from)
            .to(to)
            .subject(part("subject"))
            .message_id(Some(format!("<{id}@{host}>")))
            .multipart(
                MultiPart::alternative()
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_PLAIN)
                            .body(part("text")),
                    )
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_HTML)
                            .body(part("html")),
                    ),
            )
            .map_err(|e| format!("could not build the message: {e}"))?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
            .map_err(|e| format!("SMTP_URL: {e}"))?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// Fills `{{name}}` in a template from `values`; in HTML (`escape`) the
/// values are escaped, so a name cannot inject markup.
pub fn render(template: &str, values: &[(&str, &str)], escape: bool) -> String {
    let mut out = template.to_string();
    for (name, value) in values {
        let value = if escape {
            html_escape(value)
        } else {
            value.to_string()
        };
        out = out.replace(&format!("{{{{{name}}}}}"), &value);
    }
    out
}

/// Escapes text for HTML element content and quoted attributes.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_escape_values_in_html_only() {
        let t = "<p>Hi {{name}}</p> {{name}}";
        assert_eq!(
            render(t, &[("name", "<b>&")], true),
            "<p>Hi &lt;b&gt;&amp;</p> &lt;b&gt;&amp;"
        );
        assert_eq!(render(t, &[("name", "<b>")], false), "<p>Hi <b></p> <b>");
    }
}
