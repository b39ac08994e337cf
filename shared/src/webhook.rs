//! Webhook delivery: from the events a change announced in its own
//! transaction ([`crate::db::Tx::announce`]) to signed POSTs, retried on a
//! schedule, each attempt logged.
//!
//! **Fan-out.** An event becomes one message per endpoint of its
//! organization that selects its type and existed when it happened
//! (`webhook_messages`, unique per endpoint and event, so two fan-outs of
//! one event make one message each). Right after the commit the request
//! fans its events out and makes the first attempts itself ([`deliver`]),
//! waiting for them at most the budget emails use
//! (`EMAIL_INLINE_BUDGET_MS`); what it did not finish, the scheduled
//! `send-webhooks` run ([`send_due`]) does: events still not fanned out
//! ten seconds after their commit, and messages due.
//!
//! **Attempts.** A message is sent by whoever claims it (`PENDING` and due,
//! or a `SENDING` whose lease ran out, to `SENDING` with a lease longer than
//! any attempt), and its outcome is recorded only under that lease. Per
//! Standard Webhooks ([`crate::signature`]): `webhook-id` (`msg_` + the
//! message id, the same on every retry and replay), `webhook-timestamp` (the
//! attempt's), `webhook-signature` (one per secret while a rotation's grace
//! lasts). 2xx is delivered; anything else is a failure, 3xx included
//! (never followed); 410 disables the endpoint; `Retry-After` (seconds) on
//! 429 or 503 is waited out. After a failure the next attempt comes after
//! [`SCHEDULE_SECS`] (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h),
//! each moved earlier by up to 10% at random; after the last the message is
//! `FAILED`, and counted on its endpoint. A disabled endpoint's messages
//! are kept as `SKIPPED`, for a recovery. The scheduled run shares its
//! senders between organizations (the least busy first, 6 of 8 at most):
//! one whose endpoints hang (15 s each) cannot hold them all while
//! another's messages wait.
//!
//! **Where to.** The URL's host is resolved when a message is sent, every
//! address is checked ([`crate::netguard`]: loopback, private, link-local,
//! CGNAT, unique-local, multicast, mapped), and the connection goes to the
//! checked address (so a second lookup cannot rebind it), with TLS checked
//! against the name. The whole attempt is cut off after 15 s. A response
//! body is kept (its first KiB, for the delivery log) only from a public
//! address.
//!
//! What an endpoint's owners are told, and when a failing endpoint is
//! disabled, is the domain's: this module keeps the counts it needs
//! (`failingSince`, `failedMessages`).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bson::oid::ObjectId;
use bson::{doc, Bson, DateTime, Document};
use futures_util::TryStreamExt;
use mongodb::Collection;

use crate::error::ApiError;
use crate::jobs::{Budget, Report};
use crate::state::State;
use crate::store::collections::{WEBHOOK_ENDPOINTS, WEBHOOK_EVENTS, WEBHOOK_MESSAGES};
use crate::time::{rfc3339, shifted};

pub const PENDING: &str = "PENDING";
pub const SENDING: &str = "SENDING";
pub const DELIVERED: &str = "DELIVERED";
pub const FAILED: &str = "FAILED";
pub const SKIPPED: &str = "SKIPPED";

/// An endpoint's states.
pub const ENABLED: &str = "ENABLED";
pub const DISABLED: &str = "DISABLED";

/// The waits after the 1st, 2nd... failed attempt; after the last one the
/// message has failed.
pub const SCHEDULE_SECS: [i64; 9] = [
    5,
    5 * 60,
    30 * 60,
    2 * 3600,
    5 * 3600,
    10 * 3600,
    14 * 3600,
    20 * 3600,
    24 * 3600,
];
/// One attempt, from the name lookup to the response's first KiB.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a claim holds: past any attempt.
const LEASE_MS: i64 = 40_000;
/// The attempts a message's log keeps (the latest).
const LOG_KEEP: i32 = 30;
/// The part of a failure's response body kept in the log.
const EXCERPT: usize = 1024;
/// The longest `Retry-After` waited out.
const MAX_RETRY_AFTER_SECS: i64 = 24 * 3600;
/// Events are fanned out by the scheduled run once this old (the request
/// that committed them does it first).
const FAN_OUT_AFTER_MS: i64 = 10_000;
/// Messages sent at once.
const PARALLEL: usize = 8;
/// The most events a request fans out itself; more are the scheduled
/// run's.
const INLINE_EVENTS: usize = 20;
/// The most senders of a scheduled run one organization holds: one whose
/// endpoints hang leaves the others at least two.
const MAX_SHARE: usize = PARALLEL - 2;

/// What a scheduled sender does next.
enum Next {
    Message(Document),
    /// Messages are due, but only of organizations at [`MAX_SHARE`].
    Busy,
    /// Nothing is due.
    Empty,
}
/// How long an announced event is kept (for deliveries, retries and
/// recovery).
pub const EVENT_DAYS: i64 = 30;
/// A payload's `data` larger than this is sent as its id and version only.
pub const MAX_PAYLOAD: usize = 64 * 1024;

/// The key endpoint `id`'s signing secret is sealed under, derived from
/// the server's secret ([`crate::seal`]).
pub fn secret_key(server_secret: &str, id: ObjectId) -> [u8; 32] {
    crate::seal::derive(server_secret, "webhook-secret", &[&id.to_hex()])
}

/// Seals an endpoint's signing secret for storage.
pub fn seal_secret(config: &crate::config::Config, id: ObjectId, secret: &str) -> Option<Bson> {
    let sealed = crate::seal::seal(
        &secret_key(config.jwt_secret.expose(), id),
        secret.as_bytes(),
    )?;
    Some(Bson::Binary(bson::Binary {
        subtype: bson::spec::BinarySubtype::Generic,
        bytes: sealed,
    }))
}

/// Whether an endpoint's `selectors` (`*`, a type, `<record>.*`) take
/// events of type `kind`.
pub fn selected(selectors: &[String], kind: &str) -> bool {
    let prefix = kind.split_once('.').map(|(p, _)| p);
    selectors.iter().any(|s| {
        s == "*" || s == kind || (s.strip_suffix(".*").is_some() && s.strip_suffix(".*") == prefix)
    })
}

/// The wait before the next attempt after `failed` failed attempts, moved
/// earlier by `jitter` (0 to 1) times 10%; `None` once the schedule is
/// spent.
pub fn retry_delay_ms(failed: i32, jitter: f64) -> Option<i64> {
    let step = usize::try_from(failed).ok()?.checked_sub(1)?;
    let base = SCHEDULE_SECS.get(step)? * 1000;
    Some(base - (base as f64 * 0.1 * jitter.clamp(0.0, 1.0)) as i64)
}

/// An event's `data` as announced: the record, or, past [`MAX_PAYLOAD`],
/// only its id and version (the receiver fetches the rest).
pub fn event_data(data: &serde_json::Value) -> serde_json::Value {
    let size = serde_json::to_vec(data).map(|v| v.len()).unwrap_or(0);
    if size <= MAX_PAYLOAD {
        return data.clone();
    }
    serde_json::json!({ "id": data.get("id"), "version": data.get("version"), "truncated": true })
}

/// The outbox document of an event of organization `org`: written in the
/// transaction of the change it announces, fanned out after its commit.
pub fn event(org: ObjectId, kind: &str, data: &serde_json::Value) -> Document {
    let now = DateTime::now();
    doc! {
        "_id": ObjectId::new(),
        "organizationId": org,
        "type": kind,
        "data": bson::to_bson(&event_data(data)).unwrap_or(Bson::Null),
        "createdAt": now,
        "expiresAt": shifted(now, EVENT_DAYS * crate::time::DAY_MS),
        "fannedOut": false,
    }
}

/// The body every attempt of a message sends: `{type, timestamp, data}`.
pub fn payload(event: &Document) -> Vec<u8> {
    let data = event
        .get("data")
        .cloned()
        .unwrap_or(Bson::Null)
        .into_relaxed_extjson();
    let timestamp = event.get_datetime("createdAt").ok().map(|t| rfc3339(*t));
    serde_json::to_vec(&serde_json::json!({
        "type": event.get_str("type").unwrap_or_default(),
        "timestamp": timestamp,
        "data": data,
    }))
    .unwrap_or_default()
}

/// What one attempt came to.
#[derive(Debug, Default, Clone)]
pub struct Attempt {
    pub status: Option<u16>,
    /// Why there is no status: `timeout`, `dns`, `tls`, `connect`,
    /// `blocked`, or `internal` (the message could not be signed).
    pub error: Option<&'static str>,
    pub detail: Option<String>,
    /// The first KiB of a failure's text body, from a public address only.
    pub body: Option<String>,
    /// Seconds the receiver asked to wait (429 and 503).
    pub retry_after: Option<i64>,
    pub duration_ms: i64,
}

impl Attempt {
    pub fn delivered(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    fn failed(error: &'static str, detail: impl Into<String>) -> Self {
        Attempt {
            error: Some(error),
            detail: Some(detail.into()),
            ..Attempt::default()
        }
    }

    fn log_entry(&self, at: DateTime) -> Document {
        doc! {
            "at": at,
            "durationMs": self.duration_ms,
            "statusCode": self.status.map(i32::from),
            "error": self.error,
            "detail": self.detail.as_deref(),
            "responseBody": self.body.as_deref(),
        }
    }
}

/// Queues the test message of endpoint `endpoint` (its own event, for it
/// alone) and attempts it within the inline budget; returns the message's
/// id.
pub async fn send_test(
    state: &State,
    org: ObjectId,
    endpoint: &Document,
) -> Result<ObjectId, ApiError> {
    let endpoint_id = crate::error::id_of(endpoint, "webhook endpoint")?;
    let mut event = event(
        org,
        "webhook.test",
        &serde_json::json!({ "endpointId": endpoint_id.to_hex(), "message": "A test message, sent on request." }),
    );
    event.insert("fannedOut", true);
    let courier = Courier::of(state);
    courier.events.insert_one(&event).await?;
    let message = courier.message(&event, endpoint, DateTime::now(), true);
    let id = crate::error::id_of(&message, "webhook message")?;
    courier.messages.insert_one(&message).await?;
    let sends = vec![(message, endpoint.clone(), event)];
    courier.within_budget(state, sends).await;
    Ok(id)
}

/// Attempts message `id` (just queued again by a retry) within the inline
/// budget, if it is still due.
pub async fn send_now(state: &State, id: ObjectId) {
    let courier = Courier::of(state);
    let budget = state.config.email.inline_budget;
    let task = tokio::spawn(async move {
        if let Ok(Some(message)) = courier
            .claim(doc! { "_id": id, "status": PENDING }, 0)
            .await
        {
            courier.send_claimed(message, 0).await;
        }
    });
    let _ = tokio::time::timeout(budget, task).await;
}

/// Fans out the events a request just committed and makes their first
/// attempts, waiting at most the inline budget; the sends go on past it in
/// a task of their own (a message whose sender is frozen or gone is taken
/// again by the scheduled run once its lease is over: at least once, never
/// lost), and what is left is the scheduled run's. Never fails the request.
pub async fn deliver(state: &State, events: Vec<Document>) {
    // A bulk change (an import) is left whole to the scheduled run, which
    // fans out 200 events at a time: a request never holds a million
    // messages in memory after its commit.
    if events.is_empty() || events.len() > INLINE_EVENTS {
        return;
    }
    let courier = Courier::of(state);
    let budget = state.config.email.inline_budget;
    let task = tokio::spawn(async move {
        match courier.fan_out(&events, DateTime::now(), true).await {
            Ok(made) => {
                // Marking the events is off the sends' path.
                let (marked, _) =
                    tokio::join!(courier.fanned_out(&events), courier.send_all(made, 0));
                if let Err(e) = marked {
                    tracing::warn!(error = %e, "[WEBHOOK] events not marked fanned out; send-webhooks will (no message twice)");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "[WEBHOOK] not fanned out now; send-webhooks will");
            }
        }
    });
    if tokio::time::timeout(budget, task).await.is_err() {
        tracing::info!(
            budgetMs = budget.as_millis() as u64,
            "[WEBHOOK] not sent within the request's budget: sending on, send-webhooks retries"
        );
    }
}

/// The scheduler's clock: the real one moved by `offset` milliseconds
/// (0 but in tests, which run the schedule ahead).
fn clock(offset: i64) -> DateTime {
    shifted(DateTime::now(), offset)
}

/// The scheduled run as if at `now` (tests move the clock; the run keeps
/// that offset from the real clock while it lasts): fans out the events
/// no request did, then sends every due message, [`PARALLEL`] at once,
/// until the budget's time is up; each free sender goes to the
/// organization with the fewest sends in flight that has a message due,
/// and one holds [`MAX_SHARE`] at most (in this run). `scanned` counts attempts, `deleted`
/// deliveries, `remaining` messages still to send.
pub async fn send_due(state: &State, budget: Budget, now: DateTime) -> Result<Report, ApiError> {
    let offset = now.timestamp_millis() - DateTime::now().timestamp_millis();
    let mut report = Report::default();
    let courier = Courier::of(state);
    loop {
        let late = shifted(clock(offset), -FAN_OUT_AFTER_MS);
        let events: Vec<Document> = courier
            .events
            .find(doc! { "fannedOut": false, "createdAt": { "$lte": late } })
            .sort(doc! { "createdAt": 1 })
            .limit(200)
            .await?
            .try_collect()
            .await?;
        if events.is_empty() || budget.exhausted() {
            break;
        }
        courier.fan_out(&events, clock(offset), false).await?;
        courier.fanned_out(&events).await?;
    }
    let budget = std::sync::Mutex::new(budget);
    // Who is being sent to by this run, per organization: claims take
    // turns (one command each, short beside a send) so each sees the
    // others' before it chooses.
    let busy = tokio::sync::Mutex::new(std::collections::HashMap::<ObjectId, usize>::new());
    let worker = || async {
        let mut done = Report::default();
        loop {
            if budget.lock().map(|b| b.exhausted()).unwrap_or(true) {
                break;
            }
            let mut sending = busy.lock().await;
            // Checked again now that it is this sender's turn.
            if budget.lock().map(|b| b.exhausted()).unwrap_or(true) {
                break;
            }
            let message = match courier.claim_fairly(&sending, offset).await? {
                Next::Message(m) => m,
                Next::Empty => break,
                Next::Busy => {
                    // What is due belongs to organizations at their most:
                    // wait for one of their sends to end.
                    drop(sending);
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    continue;
                }
            };
            let org = message.get_object_id("organizationId").ok();
            if let Some(org) = org {
                *sending.entry(org).or_default() += 1;
            }
            drop(sending);
            done.scanned += 1;
            if courier.send_claimed(message, offset).await {
                done.deleted += 1;
            }
            if let Some(org) = org {
                if let Some(n) = busy.lock().await.get_mut(&org) {
                    *n = n.saturating_sub(1);
                }
            }
        }
        Ok::<Report, ApiError>(done)
    };
    let done = futures_util::future::join_all((0..PARALLEL).map(|_| worker())).await;
    for d in done {
        report.add(d?);
    }
    report.remaining = courier
        .messages
        .count_documents(doc! { "status": { "$in": [PENDING, SENDING] } })
        .await?;
    Ok(report)
}

/// A message with its endpoint and event, as a sender holds them.
type Outgoing = (Document, Document, Document);

/// What sending needs, owned, so a send can outlive its request.
#[derive(Clone)]
struct Courier {
    events: Collection<Document>,
    messages: Collection<Document>,
    endpoints: Collection<Document>,
    allowed: Arc<Vec<ipnet::IpNet>>,
    /// The server's secrets endpoints' secrets may be sealed under: the
    /// current one, and the one before a rotation.
    secrets: Arc<Vec<crate::config::Secret>>,
}

impl Courier {
    fn of(state: &State) -> Courier {
        let c = &state.config;
        Courier {
            events: state.collection(WEBHOOK_EVENTS),
            messages: state.collection(WEBHOOK_MESSAGES),
            endpoints: state.collection(WEBHOOK_ENDPOINTS),
            allowed: Arc::new(c.webhooks_allow_networks.clone()),
            secrets: Arc::new(
                std::iter::once(c.jwt_secret.clone())
                    .chain(c.jwt_secret_previous.clone())
                    .collect(),
            ),
        }
    }

    /// A new message of `event` for `endpoint`, due at `now`: claimed by
    /// its maker (`SENDING`, under a lease) when it is sent at once,
    /// skipped for a disabled endpoint.
    fn message(
        &self,
        event: &Document,
        endpoint: &Document,
        now: DateTime,
        claimed: bool,
    ) -> Document {
        let enabled = endpoint.get_str("status").unwrap_or(ENABLED) == ENABLED;
        let status = match (enabled, claimed) {
            (false, _) => SKIPPED,
            (true, true) => SENDING,
            (true, false) => PENDING,
        };
        doc! {
            "_id": ObjectId::new(),
            "organizationId": event.get("organizationId").cloned(),
            "endpointId": endpoint.get("_id").cloned(),
            "eventId": event.get("_id").cloned(),
            "type": event.get_str("type").unwrap_or_default(),
            "status": status,
            "tries": if status == SENDING { 1_i32 } else { 0_i32 },
            "nextAttemptAt": now,
            "leaseUntil": if status == SENDING { Bson::DateTime(shifted(now, LEASE_MS)) } else { Bson::Null },
            "attempts": [],
            "createdAt": event.get("createdAt").cloned(),
            "expiresAt": event.get("expiresAt").cloned(),
        }
    }

    /// One message per endpoint that selects each event and existed when
    /// it happened. With `inline`, returns them (with their endpoint and
    /// event) to be sent at once: the first [`PARALLEL`] made claimed (no
    /// command more than their outcome), the rest claimed as their turn
    /// comes, so no lease runs out in the queue.
    async fn fan_out(
        &self,
        events: &[Document],
        now: DateTime,
        inline: bool,
    ) -> Result<Vec<Outgoing>, ApiError> {
        let mut orgs: Vec<ObjectId> = events
            .iter()
            .filter_map(|e| e.get_object_id("organizationId").ok())
            .collect();
        orgs.sort();
        orgs.dedup();
        let endpoints: Vec<Document> = self
            .endpoints
            .find(doc! { "organizationId": { "$in": &orgs } })
            .await?
            .try_collect()
            .await?;
        let mut made: Vec<Outgoing> = vec![];
        for event in events {
            let org = event.get_object_id("organizationId").ok();
            let kind = event.get_str("type").unwrap_or_default();
            let at = event.get_datetime("createdAt").ok().copied();
            for endpoint in &endpoints {
                let selectors = crate::apikey::strings(endpoint, "events");
                let existed = endpoint.get_datetime("createdAt").ok().copied() <= at;
                if endpoint.get_object_id("organizationId").ok() == org
                    && existed
                    && selected(&selectors, kind)
                {
                    // The first PARALLEL are sent at once, so made claimed;
                    // the rest wait their turn unclaimed (a lease that had to
                    // cover the queue would hold them from the scheduled run
                    // long after a frozen sender).
                    let claim = inline && made.len() < PARALLEL;
                    made.push((
                        self.message(event, endpoint, now, claim),
                        endpoint.clone(),
                        event.clone(),
                    ));
                }
            }
        }
        let mut refused = std::collections::HashSet::new();
        if !made.is_empty() {
            let docs = made.iter().map(|(m, _, _)| m);
            if let Err(e) = self.messages.insert_many(docs).ordered(false).await {
                // Another fan-out of the same event made those: theirs.
                match *e.kind {
                    mongodb::error::ErrorKind::InsertMany(ref failure)
                        if failure.write_concern_error.is_none()
                            && failure
                                .write_errors
                                .iter()
                                .flatten()
                                .all(|w| w.code == 11000) =>
                    {
                        refused.extend(failure.write_errors.iter().flatten().map(|w| w.index));
                    }
                    _ => return Err(ApiError::from_db(e)),
                }
            }
        }
        if !inline {
            return Ok(vec![]);
        }
        Ok(made
            .into_iter()
            .enumerate()
            .filter(|(i, (m, _, _))| !refused.contains(i) && m.get_str("status") != Ok(SKIPPED))
            .map(|(_, m)| m)
            .collect())
    }

    /// Marks `events` fanned out (their messages exist).
    async fn fanned_out(&self, events: &[Document]) -> Result<(), ApiError> {
        let ids: Vec<Bson> = events
            .iter()
            .filter_map(|e| e.get("_id").cloned())
            .collect();
        self.events
            .update_many(
                doc! { "_id": { "$in": ids } },
                doc! { "$set": { "fannedOut": true } },
            )
            .await?;
        Ok(())
    }

    /// Sends messages just made, [`PARALLEL`] at once, each claimed when
    /// its turn comes unless it was made claimed (one the scheduled run took
    /// meanwhile is its); returns how many were delivered.
    async fn send_all(&self, made: Vec<Outgoing>, offset: i64) -> u64 {
        use futures_util::StreamExt;
        futures_util::stream::iter(made)
            .map(|(message, endpoint, event)| async move {
                let message = if message.get_str("status") == Ok(SENDING) {
                    message
                } else {
                    let mine = doc! { "_id": message.get("_id").cloned(), "status": PENDING };
                    match self.claim(mine, offset).await {
                        Ok(Some(claimed)) => claimed,
                        _ => return false,
                    }
                };
                self.attempt(message, endpoint, Some(event), offset).await
            })
            .buffer_unordered(PARALLEL)
            .filter(|delivered| std::future::ready(*delivered))
            .count()
            .await as u64
    }

    /// [`Courier::send_all`] within the inline budget.
    async fn within_budget(&self, state: &State, made: Vec<Outgoing>) {
        let courier = self.clone();
        let task = tokio::spawn(async move { courier.send_all(made, 0).await });
        let _ = tokio::time::timeout(state.config.email.inline_budget, task).await;
    }

    /// The next message for a scheduled sender, given how many senders
    /// each organization has in this run: the oldest due message of the
    /// organization with the fewest sends in flight (each under
    /// [`MAX_SHARE`]), found by organization on an index that starts with
    /// it; else one whose sender is gone. [`Next::Busy`] when messages are
    /// due but every organization that has them is at its most.
    async fn claim_fairly(
        &self,
        sending: &std::collections::HashMap<ObjectId, usize>,
        offset: i64,
    ) -> Result<Next, ApiError> {
        let now = clock(offset);
        let due = doc! { "status": PENDING, "nextAttemptAt": { "$lte": now } };
        let mut orgs: Vec<(usize, ObjectId)> = self
            .messages
            .distinct("organizationId", due.clone())
            .await?
            .into_iter()
            .filter_map(|o| o.as_object_id())
            .map(|o| (sending.get(&o).copied().unwrap_or(0), o))
            .collect();
        let any_due = !orgs.is_empty();
        orgs.retain(|(n, _)| *n < MAX_SHARE);
        orgs.sort();
        for (_, org) in orgs {
            let mut mine = due.clone();
            mine.insert("organizationId", org);
            if let Some(m) = self.claim(mine, offset).await? {
                return Ok(Next::Message(m));
            }
        }
        let full: Vec<ObjectId> = sending
            .iter()
            .filter(|(_, n)| **n >= MAX_SHARE)
            .map(|(o, _)| *o)
            .collect();
        let abandoned = doc! { "status": SENDING, "leaseUntil": { "$lt": now },
        "organizationId": { "$nin": full } };
        Ok(match self.claim(abandoned, offset).await? {
            Some(m) => Next::Message(m),
            None if any_due => Next::Busy,
            None => Next::Empty,
        })
    }

    /// Takes the message matching `filter` that has waited longest, in
    /// one atomic command (concurrent senders never take the same one),
    /// under a lease from the scheduler's clock; or none.
    async fn claim(&self, filter: Document, offset: i64) -> Result<Option<Document>, ApiError> {
        let lease = shifted(clock(offset), LEASE_MS);
        // One message by its id needs no order.
        let sort = if filter.contains_key("_id") {
            None
        } else if filter.contains_key("leaseUntil") {
            Some(doc! { "leaseUntil": 1 })
        } else {
            Some(doc! { "nextAttemptAt": 1, "_id": 1 })
        };
        Ok(self
            .messages
            .find_one_and_update(
                filter,
                doc! { "$set": { "status": SENDING, "leaseUntil": lease }, "$inc": { "tries": 1_i32 } },
            )
            .with_options(
                mongodb::options::FindOneAndUpdateOptions::builder()
                    .sort(sort)
                    .return_document(mongodb::options::ReturnDocument::After)
                    .build(),
            )
            .await?)
    }

    /// Sends a claimed message, its endpoint and event read first; true
    /// when it was delivered.
    async fn send_claimed(&self, message: Document, offset: i64) -> bool {
        let (endpoint, event) = tokio::join!(
            self.endpoints
                .find_one(doc! { "_id": message.get("endpointId").cloned() }),
            self.events
                .find_one(doc! { "_id": message.get("eventId").cloned() }),
        );
        let event = match event {
            Ok(event) => event,
            Err(e) => {
                // Not "gone": a passing fault; the lease runs out and the
                // next run tries again.
                tracing::warn!(error = %e, "[WEBHOOK] event unreadable; retried after the lease");
                return false;
            }
        };
        match endpoint {
            Ok(Some(endpoint)) => self.attempt(message, endpoint, event, offset).await,
            Ok(None) => {
                // The endpoint was deleted: its messages go with it.
                let _ = self
                    .messages
                    .delete_one(doc! { "_id": message.get("_id").cloned() })
                    .await;
                false
            }
            Err(e) => {
                tracing::warn!(error = %e, "[WEBHOOK] endpoint unreadable; retried after the lease");
                false
            }
        }
    }

    /// The endpoint's secrets to sign with: its current one, and the one it
    /// replaced while that one's grace lasts.
    fn signing_secrets(&self, endpoint: &Document) -> Vec<String> {
        let Ok(id) = endpoint.get_object_id("_id") else {
            return vec![];
        };
        let open = |field: &str| {
            let sealed = endpoint.get_binary_generic(field).ok()?;
            let opened = self
                .secrets
                .iter()
                .find_map(|s| crate::seal::open(&secret_key(s.expose(), id), sealed))?;
            String::from_utf8(opened).ok()
        };
        let mut out: Vec<String> = open("secret").into_iter().collect();
        let grace = endpoint.get_datetime("previousSecretUntil").ok().copied();
        if grace.is_some_and(|until| until > DateTime::now()) {
            out.extend(open("previousSecret"));
        }
        out
    }

    /// Makes one attempt of a claimed message and records it under the
    /// claim's lease; true when delivered. The endpoint's failure state
    /// is changed by conditional updates of its own (never from the copy
    /// read before a send that may take 15 s), and only for an outcome
    /// that was recorded; a fault of ours (the event expired, the secret
    /// does not open) fails the message without counting against the
    /// endpoint.
    async fn attempt(
        &self,
        message: Document,
        endpoint: Document,
        event: Option<Document>,
        offset: i64,
    ) -> bool {
        let Ok(id) = message.get_object_id("_id") else {
            return false;
        };
        let mine =
            doc! { "_id": id, "status": SENDING, "leaseUntil": message.get("leaseUntil").cloned() };
        if endpoint.get_str("status").unwrap_or(ENABLED) != ENABLED {
            let _ = self
                .messages
                .update_one(
                    mine,
                    doc! { "$set": { "status": SKIPPED, "leaseUntil": null } },
                )
                .await;
            return false;
        }
        let started = Instant::now();
        let mut attempt = match event {
            None => Attempt::failed("internal", "the event is no longer kept"),
            Some(event) => {
                let body = payload(&event);
                let secrets = self.signing_secrets(&endpoint);
                let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
                let webhook_id = format!("msg_{id}");
                let timestamp = DateTime::now().timestamp_millis() / 1000;
                match crate::signature::sign(&refs, &webhook_id, timestamp, &body) {
                    None => Attempt::failed("internal", "the endpoint's secret does not open"),
                    Some(signature) => {
                        let headers = [
                            ("webhook-id", webhook_id),
                            ("webhook-timestamp", timestamp.to_string()),
                            ("webhook-signature", signature),
                        ];
                        let url = endpoint.get_str("url").unwrap_or_default();
                        post::send(url, &self.allowed, &headers, body).await
                    }
                }
            }
        };
        attempt.duration_ms = started.elapsed().as_millis() as i64;
        let at = clock(offset);
        let tries = message.get_i32("tries").unwrap_or(1);
        let log = doc! { "$each": [attempt.log_entry(at)], "$slice": -LOG_KEEP };
        let endpoint_id = endpoint.get("_id").cloned();
        if attempt.delivered() {
            let done = doc! { "$set": { "status": DELIVERED, "leaseUntil": null, "deliveredAt": at },
            "$push": { "attempts": log } };
            let recovered = doc! { "$set": { "failingSince": null, "failedMessages": 0_i64,
            "noticeExhaustedAt": null, "noticeWarningAt": null } };
            // Only for an endpoint read as failing: one that a concurrent
            // failure marked after this read is cleared by its next
            // delivery, so no command is spent on every healthy one.
            let failing = endpoint.get_datetime("failingSince").is_ok();
            let (recorded, _) = tokio::join!(self.messages.update_one(mine, done), async {
                if failing {
                    let filter = doc! { "_id": endpoint_id, "failingSince": { "$ne": null } };
                    let _ = self.endpoints.update_one(filter, recovered).await;
                }
            });
            if !recorded.is_ok_and(|r| r.modified_count == 1) {
                tracing::warn!(messageId = %id, "[WEBHOOK] delivered after its lease ran out: it may be sent again (same webhook-id)");
            }
            return true;
        }
        let ours = attempt.error == Some("internal");
        let gone = attempt.status == Some(410);
        let wait = if gone || ours {
            None
        } else {
            retry_delay_ms(tries, rand::random::<f64>()).map(|ms| {
                let asked = attempt.retry_after.unwrap_or(0).min(MAX_RETRY_AFTER_SECS) * 1000;
                ms.max(asked)
            })
        };
        tracing::warn!(messageId = %id, status = ?attempt.status, error = ?attempt.error,
            detail = ?attempt.detail, tries, "[WEBHOOK] not delivered");
        let set = match wait {
            Some(ms) => {
                doc! { "status": PENDING, "leaseUntil": null, "nextAttemptAt": shifted(at, ms) }
            }
            None => doc! { "status": FAILED, "leaseUntil": null },
        };
        let recorded = self
            .messages
            .update_one(mine, doc! { "$set": set, "$push": { "attempts": log } })
            .await
            .is_ok_and(|r| r.modified_count == 1);
        if !recorded || ours {
            return false;
        }
        // Always (failures are the rare path): a delivery may have cleared
        // the flag since the endpoint was read.
        let failing = self.endpoints.update_one(
            doc! { "_id": endpoint_id.clone(), "failingSince": null },
            doc! { "$set": { "failingSince": at } },
        );
        let counted = async {
            if gone {
                self.endpoints
                    .update_one(
                        doc! { "_id": endpoint_id.clone(), "status": ENABLED },
                        doc! { "$set": { "status": DISABLED, "disabledAt": at, "disabledReason": "GONE" },
                               "$inc": { "failedMessages": 1_i64 } },
                    )
                    .await
                    .map(|_| ())
            } else if wait.is_none() {
                self.endpoints
                    .update_one(
                        doc! { "_id": endpoint_id.clone() },
                        doc! { "$inc": { "failedMessages": 1_i64 } },
                    )
                    .await
                    .map(|_| ())
            } else {
                Ok(())
            }
        };
        let _ = tokio::join!(failing, counted);
        false
    }
}

/// The POST itself, to the address that was checked.
mod post {
    use super::*;
    use http_body_util::{BodyExt, Full};
    use hyper::body::Bytes;
    use hyper_util::rt::TokioIo;
    use tokio::io::{AsyncRead, AsyncWrite};
    use tokio_rustls::rustls;

    /// Sends `body` with `headers` to `url`; never fails, it reports.
    pub(super) async fn send(
        url: &str,
        allowed: &[ipnet::IpNet],
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Attempt {
        match tokio::time::timeout(ATTEMPT_TIMEOUT, exchange(url, allowed, headers, body)).await {
            Ok(attempt) => attempt,
            Err(_) => Attempt::failed(
                "timeout",
                format!("no answer within {}s", ATTEMPT_TIMEOUT.as_secs()),
            ),
        }
    }

    /// Where `host` may be reached, or why it may not: every address it
    /// resolves to must be reachable (`allowed` lets internal ones through,
    /// for development), and plain http only goes to an allowed network.
    pub(super) fn checked(
        addresses: &[IpAddr],
        https: bool,
        allowed: &[ipnet::IpNet],
    ) -> Result<IpAddr, Attempt> {
        let first = *addresses
            .first()
            .ok_or_else(|| Attempt::failed("dns", "the name has no address"))?;
        if let Some(bad) = addresses
            .iter()
            .find(|ip| !crate::netguard::reachable(**ip, allowed))
        {
            return Err(Attempt::failed(
                "blocked",
                format!("{bad} is an internal address"),
            ));
        }
        if !https
            && !addresses
                .iter()
                .all(|ip| crate::netguard::in_allowed(*ip, allowed))
        {
            return Err(Attempt::failed("blocked", "plain http to a public address"));
        }
        Ok(first)
    }

    async fn exchange(
        url: &str,
        allowed: &[ipnet::IpNet],
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Attempt {
        let Ok(uri) = url.parse::<http::Uri>() else {
            return Attempt::failed("blocked", "not a URL");
        };
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Attempt::failed("blocked", "neither https nor http"),
        };
        let Some(authority) = uri.authority().cloned() else {
            return Attempt::failed("blocked", "no host");
        };
        if authority.as_str().contains('@') {
            return Attempt::failed("blocked", "credentials in the URL");
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        let addresses: Vec<IpAddr> = match crate::netguard::host_address(authority.host()) {
            Some(ip) => vec![ip],
            None => match tokio::net::lookup_host((host.as_str(), port)).await {
                Ok(found) => found.map(|a| a.ip()).collect(),
                Err(e) => return Attempt::failed("dns", e.to_string()),
            },
        };
        let ip = match checked(&addresses, https, allowed) {
            Ok(ip) => ip,
            Err(refused) => return refused,
        };
        let tcp = match tokio::net::TcpStream::connect(SocketAddr::new(ip, port)).await {
            Ok(tcp) => tcp,
            Err(e) => return Attempt::failed("connect", e.to_string()),
        };
        let _ = tcp.set_nodelay(true);
        let public = !crate::netguard::forbidden(ip);
        let path = uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        let request = http::Request::post(path)
            .header(http::header::HOST, authority.as_str())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::USER_AGENT, "workshop-crm-webhooks/1");
        let request = headers
            .iter()
            .fold(request, |r, (k, v)| r.header(*k, v.as_str()))
            .body(Full::new(Bytes::from(body)));
        let Ok(request) = request else {
            return Attempt::failed("internal", "the request could not be built");
        };
        if !https {
            return over(tcp, request, public).await;
        }
        let config = match tls_config() {
            Ok(c) => c,
            Err(e) => return Attempt::failed("tls", e),
        };
        let Ok(name) = rustls::pki_types::ServerName::try_from(host) else {
            return Attempt::failed("tls", "the host is no TLS server name");
        };
        match tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
        {
            Ok(tls) => over(tls, request, public).await,
            Err(e) => Attempt::failed("tls", e.to_string()),
        }
    }

    /// The TLS client configuration: the system's root certificates, read
    /// once per process.
    fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
        static CONFIG: std::sync::OnceLock<Result<Arc<rustls::ClientConfig>, String>> =
            std::sync::OnceLock::new();
        CONFIG
            .get_or_init(|| {
                use hyper_rustls::ConfigBuilderExt;
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let config = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map_err(|e| e.to_string())?
                    .with_native_roots()
                    .map_err(|e| format!("no root certificates: {e}"))?
                    .with_no_client_auth();
                Ok(Arc::new(config))
            })
            .clone()
    }

    /// The HTTP/1.1 exchange over a connected stream.
    async fn over<S>(io: S, request: http::Request<Full<Bytes>>, public: bool) -> Attempt
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sender, connection) =
            match hyper::client::conn::http1::handshake(TokioIo::new(io)).await {
                Ok(pair) => pair,
                Err(e) => return Attempt::failed("connect", e.to_string()),
            };
        let driver = tokio::spawn(async move {
            let _ = connection.await;
        });
        let response = match sender.send_request(request).await {
            Ok(r) => r,
            Err(e) => {
                driver.abort();
                return Attempt::failed("connect", e.to_string());
            }
        };
        let status = response.status().as_u16();
        let retry_after = match status {
            429 | 503 => response
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(retry_after_secs),
            _ => None,
        };
        let text = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|t| t.starts_with("text/") || t.contains("json") || t.contains("xml"));
        let mut excerpt = Vec::new();
        if !(200..300).contains(&status) && public && text {
            let mut body = response.into_body();
            while excerpt.len() < EXCERPT {
                match body.frame().await {
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            excerpt.extend_from_slice(&data);
                        }
                    }
                    _ => break,
                }
            }
            excerpt.truncate(EXCERPT);
        }
        driver.abort();
        Attempt {
            status: Some(status),
            body: (!excerpt.is_empty()).then(|| String::from_utf8_lossy(&excerpt).into_owned()),
            retry_after,
            ..Attempt::default()
        }
    }
}

/// A `Retry-After` value as seconds from now: a number of seconds, or an
/// HTTP date (RFC 9110); `None` for anything else.
fn retry_after_secs(value: &str) -> Option<i64> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<i64>() {
        return (secs >= 0).then_some(secs);
    }
    let when = httpdate::parse_http_date(value).ok()?;
    let secs = when
        .duration_since(std::time::SystemTime::now())
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    Some(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_seconds_or_an_http_date() {
        assert_eq!(retry_after_secs("120"), Some(120));
        assert_eq!(retry_after_secs("-1"), None);
        assert_eq!(retry_after_secs("soon"), None);
        let later = std::time::SystemTime::now() + Duration::from_secs(3600);
        let secs = retry_after_secs(&httpdate::fmt_http_date(later)).unwrap();
        assert!((3590..=3600).contains(&secs), "{secs}");
        assert_eq!(retry_after_secs("Sun, 06 Nov 1994 08:49:37 GMT"), Some(0));
    }

    #[test]
    fn the_schedule_moves_each_retry_earlier_by_at_most_a_tenth() {
        assert_eq!(retry_delay_ms(0, 0.0), None);
        assert_eq!(retry_delay_ms(1, 0.0), Some(5_000));
        assert_eq!(retry_delay_ms(1, 1.0), Some(4_500));
        assert_eq!(retry_delay_ms(2, 0.5), Some(285_000));
        assert_eq!(retry_delay_ms(9, 0.0), Some(86_400_000));
        assert_eq!(retry_delay_ms(9, 1.0), Some(77_760_000));
        assert_eq!(retry_delay_ms(10, 0.0), None, "ten attempts, then FAILED");
    }

    #[test]
    fn selectors_take_a_type_its_record_wildcard_or_everything() {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(selected(&s(&["*"]), "account.created"));
        assert!(selected(&s(&["account.*"]), "account.updated"));
        assert!(!selected(&s(&["account.*"]), "accounting.updated"));
        assert!(!selected(&s(&["account.*"]), "ticket.created"));
        assert!(selected(
            &s(&["ticket.status_changed"]),
            "ticket.status_changed"
        ));
        assert!(!selected(&s(&["ticket.status_changed"]), "ticket.created"));
        assert!(!selected(&[], "account.created"));
    }

    #[test]
    fn every_resolved_address_is_checked_and_the_first_one_is_used() {
        let none: Vec<ipnet::IpNet> = vec![];
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // A name resolving to a private address, or to a public and a
        // private one (a rebinding attempt), is refused.
        for set in [
            vec![ip("10.0.0.5")],
            vec![ip("93.184.215.14"), ip("10.0.0.5")],
            vec![ip("169.254.169.254")],
            vec![ip("::ffff:169.254.169.254")],
            vec![ip("::1")],
            vec![ip("127.0.0.1")],
        ] {
            let refused = post::checked(&set, true, &none).unwrap_err();
            assert_eq!(refused.error, Some("blocked"), "{set:?}");
        }
        assert_eq!(
            post::checked(&[], true, &none).unwrap_err().error,
            Some("dns")
        );
        assert_eq!(
            post::checked(&[ip("93.184.215.14")], true, &none).unwrap(),
            ip("93.184.215.14")
        );
        // Plain http only to an allowed (development) network.
        assert_eq!(
            post::checked(&[ip("93.184.215.14")], false, &none)
                .unwrap_err()
                .error,
            Some("blocked")
        );
        let local: Vec<ipnet::IpNet> = vec!["127.0.0.0/8".parse().unwrap()];
        assert_eq!(
            post::checked(&[ip("127.0.0.1")], false, &local).unwrap(),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn a_payload_too_large_is_sent_as_its_id_and_version() {
        let big = serde_json::json!({ "id": "x", "version": 3, "notes": "n".repeat(MAX_PAYLOAD) });
        assert_eq!(
            event_data(&big),
            serde_json::json!({ "id": "x", "version": 3, "truncated": true })
        );
        let small = serde_json::json!({ "id": "x", "version": 3 });
        assert_eq!(event_data(&small), small);
    }
}
