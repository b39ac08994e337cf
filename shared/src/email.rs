//! Transactional email through an outbox.
//!
//! An action that causes an email writes a [`Message`] to `email_outbox` in
//! its own transaction ([`crate::db::Tx::queue_email`],
//! [`crate::unscoped::UnscopedTx::queue_email`]), so the email exists
//! exactly when the action committed. The handler then calls [`deliver`]
//! right after the commit, which waits for the sends at most
//! `EMAIL_INLINE_BUDGET_MS` (all of the request's emails together): no
//! request waits on the mail relay past that, so a slow or hung relay
//! neither stalls a request nor tells, by its timing, whether an address
//! is known. The sends go on in a task of their own past the budget
//! (where the platform keeps the process running); whatever could not be
//! sent (no SMTP server, an outage, a crash, a frozen function) is retried
//! by the scheduled `send-emails` function ([`send_due`]) with exponential
//! backoff, and given up after `EMAIL_MAX_ATTEMPTS` with an `[EMAIL]` error
//! log.
//!
//! Never twice: a sender first claims an entry with one conditional update
//! (`PENDING` and due, or a `SENDING` whose lease ran out, to `SENDING`
//! with a fresh lease), so of any number of concurrent senders exactly one
//! gets it. A whole SMTP conversation is cut off at [`SEND_DEADLINE`] and
//! the lease is longer than that, so a claimed entry is only taken again
//! when its sender died mid-send; and the outcome is recorded only under
//! the lease the sender claimed, so a sender that overran its lease never
//! marks another's claim. The message keeps its `Message-ID` (`<outbox
//! id@host>`), so a copy that did leave is recognisable as the same
//! message. A sent or abandoned entry drops its bodies (they may hold
//! one-time links) and expires after 30 days.
//!
//! SMTP is `lettre` over `SMTP_URL` (`smtp://` with `?tls=required` for
//! STARTTLS, `smtps://` for implicit TLS, plain `smtp://` only to a
//! loopback relay; user and password in the URL), which is what SES,
//! Postmark, SendGrid and Mailgun offer.
//! Only the functions that send link it.

use std::time::Duration;

use bson::oid::ObjectId;
use bson::{doc, DateTime, Document};
use futures_util::TryStreamExt;

use crate::error::{id_of, ApiError};
use crate::jobs::{Budget, Report};
use crate::state::State;
use crate::store::collections::EMAIL_OUTBOX;
use crate::time::shifted;
use crate::time::DAY_MS;

/// One email, as the domain renders it.
#[derive(Clone, Debug)]
pub struct Message {
    /// What it is (`invitation`, `password-reset`...), for logs and counts.
    pub kind: &'static str,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// Where a one-click unsubscribe is posted (RFC 8058): sent as the
    /// `List-Unsubscribe` and `List-Unsubscribe-Post` headers. Only bulk
    /// mail (reminders) has one.
    pub unsubscribe: Option<String>,
}

pub const PENDING: &str = "PENDING";
pub const SENDING: &str = "SENDING";
pub const SENT: &str = "SENT";
pub const FAILED: &str = "FAILED";

/// How long a sent or abandoned entry is kept.
const KEEP_DAYS: i64 = 30;
/// At most this long per SMTP command.
const SMTP_TIMEOUT: Duration = Duration::from_secs(10);
/// At most this long per SMTP conversation, whatever the relay does.
pub const SEND_DEADLINE: Duration = Duration::from_secs(20);
/// How long a claim holds: past the deadline of any send.
const LEASE: Duration = Duration::from_secs(2 * 20 + 5);
/// The longest wait between two attempts.
const MAX_BACKOFF_SECS: i64 = 6 * 3600;

/// The key an outbox entry's bodies are sealed with: one per entry,
/// derived from the server's secret.
fn body_key(secret: &str, id: ObjectId) -> [u8; 32] {
    crate::seal::derive(secret, "email-outbox-body", &[&id.to_hex()])
}

/// The outbox document for `message`, due now. Its bodies (which may hold
/// a one-time link: a password reset, an invitation) are sealed
/// ([`crate::seal`]) under a key derived from `JWT_SECRET` and the entry's
/// id, so the database alone, a backup or a tenant archive never shows a
/// live link; the sender opens them (with `JWT_SECRET_PREVIOUS` too, after
/// a rotation) and they are dropped once the entry is sent or given up.
pub fn outbox_document(
    config: &crate::config::Config,
    org: Option<ObjectId>,
    user: Option<ObjectId>,
    message: &Message,
) -> Document {
    let now = DateTime::now();
    let id = ObjectId::new();
    // The unsubscribe address is a credential too: sealed with the bodies.
    let mut plain = vec![&message.text, &message.html];
    if let Some(url) = &message.unsubscribe {
        plain.push(url);
    }
    let bodies = serde_json::to_vec(&plain).unwrap_or_default();
    let sealed = crate::seal::seal(&body_key(config.jwt_secret.expose(), id), &bodies)
        .map(|bytes| {
            bson::Bson::Binary(bson::Binary {
                subtype: bson::spec::BinarySubtype::Generic,
                bytes,
            })
        })
        .unwrap_or(bson::Bson::Null);
    doc! {
        "_id": id,
        "organizationId": org,
        "userId": user,
        "kind": message.kind,
        "to": &message.to,
        "subject": &message.subject,
        "text": null,
        "html": null,
        "sealed": sealed,
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

/// Sends the entries `ids` (just committed) in a task of its own and
/// waits for it at most the inline budget (`EMAIL_INLINE_BUDGET_MS`);
/// what is not sent by then goes on in that task, and what fails stays for
/// the scheduled run. Never fails the request that queued them.
pub async fn deliver(state: &State, ids: &[ObjectId]) {
    if ids.is_empty() {
        return;
    }
    let sender = Sender::of(state);
    let budget = state.config.email.inline_budget;
    let ids = ids.to_vec();
    let sends = tokio::spawn(async move {
        for id in ids {
            match sender.claim(doc! { "_id": id, "status": PENDING }).await {
                Ok(Some(entry)) => {
                    sender.send_claimed(entry).await;
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(outboxId = %id, error = %e, "[EMAIL] not sent now; send-emails will");
                }
            }
        }
    });
    if tokio::time::timeout(budget, sends).await.is_err() {
        tracing::info!(
            budgetMs = budget.as_millis() as u64,
            "[EMAIL] not sent within the request's budget: sending on, send-emails retries"
        );
    }
}

/// An entry's text and HTML bodies, and its unsubscribe address.
type Bodies = (String, String, Option<String>);

/// What sending needs, owned, so a send can outlive the request.
struct Sender {
    outbox: mongodb::Collection<Document>,
    config: crate::config::EmailConfig,
    /// The secrets entries' bodies may be sealed with: the current one,
    /// and the one before a rotation.
    secrets: Vec<crate::config::Secret>,
}

impl Sender {
    fn of(state: &State) -> Sender {
        let c = &state.config;
        Sender {
            outbox: state.collection(EMAIL_OUTBOX),
            config: c.email.clone(),
            secrets: std::iter::once(c.jwt_secret.clone())
                .chain(c.jwt_secret_previous.clone())
                .collect(),
        }
    }

    /// An entry's text and HTML bodies and its unsubscribe address, opened.
    fn bodies(&self, entry: &Document) -> Result<Bodies, String> {
        let id = entry
            .get_object_id("_id")
            .map_err(|_| "an outbox entry without an id".to_string())?;
        let Ok(sealed) = entry.get_binary_generic("sealed") else {
            // Queued before bodies were sealed.
            let field = |k: &str| entry.get_str(k).unwrap_or_default().to_string();
            return Ok((field("text"), field("html"), None));
        };
        let opened = self
            .secrets
            .iter()
            .find_map(|s| crate::seal::open(&body_key(s.expose(), id), sealed))
            .ok_or("the bodies do not open with JWT_SECRET or JWT_SECRET_PREVIOUS")?;
        let mut texts: Vec<String> =
            serde_json::from_slice(&opened).map_err(|e| format!("sealed bodies: {e}"))?;
        if texts.len() < 2 {
            return Err("sealed bodies: fewer than a text and an HTML body".into());
        }
        let unsubscribe = (texts.len() > 2).then(|| texts.remove(2));
        let html = texts.remove(1);
        let text = texts.remove(0);
        Ok((text, html, unsubscribe))
    }
}

/// The scheduled run: sends every due entry (oldest first) until the
/// budget runs out. `scanned` counts attempts, `deleted` sent messages.
pub async fn send_due(state: &State, mut budget: Budget) -> Result<Report, ApiError> {
    let mut report = Report::default();
    let sender = Sender::of(state);
    while !budget.exhausted() {
        let now = DateTime::now();
        let due = doc! { "$or": [
            { "status": PENDING, "nextAttemptAt": { "$lte": now } },
            { "status": SENDING, "leaseUntil": { "$lt": now } },
        ] };
        let Some(entry) = sender.claim(due).await? else {
            break;
        };
        report.scanned += 1;
        if sender.send_claimed(entry).await {
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

impl Sender {
    /// Takes the oldest entry matching `filter` for this sender, or none.
    async fn claim(&self, filter: Document) -> Result<Option<Document>, ApiError> {
        let coll = &self.outbox;
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
            let id = id_of(&candidate, "outbox entry")?;
            let mut guard = filter.clone();
            guard.insert("_id", id);
            let now = DateTime::now();
            let lease = shifted(now, LEASE.as_millis() as i64);
            let taken = coll
                .find_one_and_update(
                    guard,
                    doc! { "$set": { "status": SENDING, "leaseUntil": lease }, "$inc": { "attempts": 1 } },
                )
                .return_document(mongodb::options::ReturnDocument::After)
                .await?;
            if taken.is_some() {
                return Ok(taken);
            }
        }
        Ok(None)
    }

    /// Sends a claimed entry and records the outcome, under the lease it
    /// was claimed with; true when it was sent.
    async fn send_claimed(&self, entry: Document) -> bool {
        let Ok(id) = entry.get_object_id("_id") else {
            return false;
        };
        let attempts = entry.get_i32("attempts").unwrap_or(1);
        let kind = entry.get_str("kind").unwrap_or("email").to_string();
        let coll = &self.outbox;
        // Ours only while the lease we set is the one on the entry.
        let mine =
            doc! { "_id": id, "status": SENDING, "leaseUntil": entry.get("leaseUntil").cloned() };
        let sent = match self.bodies(&entry) {
            Ok(bodies) => {
                tokio::time::timeout(SEND_DEADLINE, smtp::send(&self.config, id, &entry, bodies))
                    .await
                    .unwrap_or_else(|_| {
                        Err(format!("no answer within {}s", SEND_DEADLINE.as_secs()))
                    })
            }
            Err(e) => Err(e),
        };
        let now = DateTime::now();
        match sent {
            Ok(()) => {
                let done = doc! { "$set": {
                    "status": SENT, "sentAt": now, "leaseUntil": null, "lastError": null,
                    "text": null, "html": null, "sealed": null,
                    "expiresAt": shifted(now, KEEP_DAYS * DAY_MS),
                } };
                match coll.update_one(mine, done).await {
                    Ok(r) if r.matched_count == 0 => {
                        tracing::error!(outboxId = %id, "[EMAIL] sent after its lease ran out: another sender may send it again");
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::error!(outboxId = %id, error = %e, "[EMAIL] sent, but could not be marked sent");
                    }
                }
                tracing::info!(outboxId = %id, kind, attempts, "[EMAIL] sent");
                true
            }
            Err(error) => {
                let update = if attempts >= self.config.max_attempts as i32 {
                    tracing::error!(outboxId = %id, kind, attempts, error = %error,
                        "[EMAIL] given up after {attempts} attempts");
                    doc! { "$set": {
                        "status": FAILED, "leaseUntil": null, "lastError": &error,
                        "text": null, "html": null, "sealed": null,
                        "expiresAt": shifted(now, KEEP_DAYS * DAY_MS),
                    } }
                } else {
                    let base = self.config.retry_base.as_secs() as i64;
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
}

/// The SMTP side, apart so the rest reads without lettre's types.
mod smtp {
    use bson::oid::ObjectId;
    use bson::Document;
    use lettre::message::header::{ContentType, HeaderName, HeaderValue};
    use lettre::message::{Mailbox, MultiPart, SinglePart};
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

    use super::SMTP_TIMEOUT;
    use crate::config::EmailConfig;

    pub(super) async fn send(
        config: &EmailConfig,
        id: ObjectId,
        entry: &Document,
        (text, html, unsubscribe): super::Bodies,
    ) -> Result<(), String> {
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
        let field = |key: &str| entry.get_str(key).unwrap_or_default().to_string();
        let host = from.email.domain().to_string();
        let mut builder = Message::builder()
            .from(from)
            .to(to)
            .subject(field("subject"))
            .message_id(Some(format!("<{id}@{host}>")));
        if let Some(url) = unsubscribe {
            // RFC 8058: one POST of `List-Unsubscribe=One-Click` to the URL.
            builder = builder
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe"),
                    format!("<{url}>"),
                ))
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                    "List-Unsubscribe=One-Click".into(),
                ));
        }
        let message = builder
            .multipart(
                MultiPart::alternative()
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_PLAIN)
                            .body(text),
                    )
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_HTML)
                            .body(html),
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
