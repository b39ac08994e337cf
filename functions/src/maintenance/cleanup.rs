//! The scheduled cleanups that keep tenants' data within its promises.
//!
//! - [`organizations`] (daily): organizations deleted more than
//!   [`PURGE_AFTER_DAYS`] ago lose every object under their key prefix,
//!   every document carrying their `organizationId` in any collection of
//!   the database (listed from the database, not from code), then the
//!   organization itself.
//! - [`audit_logs`] (daily): audit entries older than their organization's
//!   plan retention (90 days; ENTERPRISE 365).
//! - [`sessions`] (hourly): expired or long-revoked refresh tokens, login
//!   attempts, idempotency keys, invitations, password resets and rate-limit
//!   windows that TTL has not removed yet, and abandoned or long-deleted
//!   document files.
//!
//! Every run works in batches (`CLEANUP_BATCH_SIZE`) and stops after
//! `CLEANUP_MAX_BATCHES`, deletes by `_id` what it found, and deletes an
//! organization only after everything it owned, so a run killed at any point
//! leaves a state the next run finishes. Each reports `{scanned, deleted,
//! remaining, durationMs}` and logs it as one `[CLEANUP]` line.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use bson::oid::ObjectId;
use bson::{doc, Bson, DateTime, Document};

use shared::db::collections::*;
use shared::error::{id_of, ApiError};
use shared::ratelimit::Plan;
use shared::runtime::BoxFuture;
use shared::state::State;
use shared::time::{shifted, DAY_MS};
use shared::unscoped::{Purpose, Unscoped};

pub use shared::jobs::{Budget, Report, PURGE_AFTER_DAYS};

/// Revoked refresh tokens are kept this long, so a stolen one used again
/// still revokes its family, then swept.
pub const REVOKED_TOKEN_DAYS: i64 = 7;

fn budget(db: &Unscoped<'_>) -> Budget {
    let cfg = &db.config().cleanup;
    Budget::new(cfg.max_batches, cfg.max_seconds)
}

fn ago(now: DateTime, days: i64) -> DateTime {
    shifted(now, -days * DAY_MS)
}

/// Every collection a tenant purge searches for the organization's
/// documents: all of the database's, but the organizations themselves and
/// the server's own. Listed from the database rather than from code, so a
/// collection added by a later feature cannot be missed.
pub async fn tenant_collections(db: &Unscoped<'_>) -> Result<Vec<String>, ApiError> {
    let mut names = db.collection_names().await?;
    names.retain(|n| n != ORGANIZATIONS);
    Ok(names)
}

/// Deletes documents matching `filter`, `batch` at a time by `_id`, while the
/// budget lasts. Returns (found, deleted).
async fn delete_batches(
    db: &Unscoped<'_>,
    collection: &str,
    filter: &Document,
    budget: &mut Budget,
) -> Result<(u64, u64), ApiError> {
    let batch = db.config().cleanup.batch_size;
    let c = db.collection(collection);
    let (mut found, mut deleted) = (0, 0);
    while !budget.exhausted() {
        let ids: Vec<Bson> = ids_of(
            c.find_many(
                filter.clone(),
                doc! { "_id": 1 },
                batch,
                Some(doc! { "_id": 1 }),
            )
            .await?,
        );
        if ids.is_empty() {
            break;
        }
        budget.spend();
        found += ids.len() as u64;
        let mut only = filter.clone();
        only.insert("_id", doc! { "$in": &ids });
        deleted += c.delete_many(only).await?;
        if (ids.len() as i64) < batch {
            break;
        }
    }
    Ok((found, deleted))
}

fn ids_of(docs: Vec<Document>) -> Vec<Bson> {
    docs.into_iter()
        .filter_map(|d| d.get("_id").cloned())
        .collect()
}

/// What purging one organization deleted so far.
pub struct Purge {
    /// Everything is gone, the organization too.
    pub finished: bool,
    /// Deleted per collection, and `objects` for stored files.
    pub deleted: BTreeMap<String, u64>,
}

/// Purges one organization within `budget`: its objects, then its documents
/// collection by collection, then the organization. Safe to run again.
pub async fn purge_organization(
    db: &Unscoped<'_>,
    org: ObjectId,
    budget: &mut Budget,
    still_due: Document,
) -> Result<Purge, ApiError> {
    let mut deleted = BTreeMap::new();
    let storage = db.storage()?;
    let prefix = storage.organization_prefix(org);
    let mut objects = 0;
    while !budget.exhausted() {
        let n = storage
            .delete_batch(&prefix, db.config().cleanup.batch_size.min(1000) as i32)
            .await?;
        if n == 0 {
            break;
        }
        budget.spend();
        objects += n;
    }
    deleted.insert("objects".to_string(), objects);
    let filter = doc! { "organizationId": org };
    let names = tenant_collections(db).await?;
    for name in &names {
        let (_, n) = delete_batches(db, name, &filter, budget).await?;
        deleted.insert(name.to_string(), n);
    }
    if budget.exhausted() {
        // Maybe more left: check before removing the organization.
        let mut left = 0;
        for name in &names {
            left += db.collection(name).count(filter.clone()).await?;
        }
        if left > 0 || storage.has_objects(&prefix).await? {
            return Ok(Purge {
                finished: false,
                deleted,
            });
        }
    }
    // Only if it is still due: an organization reactivated meanwhile stays.
    let mut filter = still_due;
    filter.insert("_id", org);
    let gone = db.collection(ORGANIZATIONS).delete_one(filter).await?;
    Ok(Purge {
        finished: gone,
        deleted,
    })
}

/// `cleanup-organizations`: purges organizations deleted more than 30 days
/// ago, at most `CLEANUP_MAX_ORGANIZATIONS` per run.
pub async fn organizations(state: &State, now: DateTime) -> Result<Report, ApiError> {
    let started = Instant::now();
    let db = Unscoped::open(state, Purpose::Scheduled);
    let cfg = &db.config().cleanup;
    let due = doc! { "deleteScheduledAt": { "$lt": ago(now, PURGE_AFTER_DAYS) } };
    let orgs = db
        .collection(ORGANIZATIONS)
        .find_many(
            due.clone(),
            doc! { "deleteScheduledAt": 1 },
            cfg.max_organizations as i64,
            None,
        )
        .await?;
    let mut report = Report::default();
    let mut budget = budget(&db);
    for org in &orgs {
        let id = id_of(org, "organization")?;
        report.scanned += 1;
        // One organization that cannot be purged (a storage error, say) must
        // not hold up the others; it stays due and is tried again next run.
        let purge = match purge_organization(&db, id, &mut budget, due.clone()).await {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(organizationId = %id, error = %e, "[TENANT] purge failed; retried next run");
                continue;
            }
        };
        let counts = serde_json::to_string(&purge.deleted).unwrap_or_default();
        if purge.finished {
            report.deleted += 1;
            tracing::warn!(organizationId = %id, slug = org.get_str("slug").unwrap_or(""),
                deleted = %counts, "[TENANT] organization purged {PURGE_AFTER_DAYS} days after its deletion");
        } else {
            tracing::warn!(organizationId = %id, deleted = %counts,
                "[TENANT] organization purge continues next run");
        }
        if budget.exhausted() {
            break;
        }
    }
    report.remaining = db.collection(ORGANIZATIONS).count(due).await?;
    Ok(report.finish("cleanup-organizations", started))
}

/// `cleanup-audit-logs`: deletes audit entries older than the retention of
/// their organization's plan. Entries of organizations on plans with a
/// longer retention are spared by each shorter cutoff; entries without an
/// organization follow the shortest.
pub async fn audit_logs(state: &State, now: DateTime) -> Result<Report, ApiError> {
    let started = Instant::now();
    let db = Unscoped::open(state, Purpose::Scheduled);
    let days = db.config().cleanup.audit_retention_days;
    let mut retentions: Vec<u64> = days.to_vec();
    retentions.sort_unstable();
    retentions.dedup();
    let mut report = Report::default();
    let mut budget = budget(&db);
    let mut filters = vec![];
    for r in retentions {
        let longer: Vec<&str> = Plan::ALL
            .iter()
            .zip(days)
            .filter(|(_, d)| *d > r)
            .map(|(p, _)| p.as_str())
            .collect();
        let spared: Vec<Bson> = if longer.is_empty() {
            vec![]
        } else {
            ids_of(
                db.collection(ORGANIZATIONS)
                    .find_many(
                        doc! { "plan": { "$in": &longer } },
                        doc! { "_id": 1 },
                        0,
                        Some(doc! { "_id": 1 }),
                    )
                    .await?,
            )
        };
        let filter = doc! {
            "createdAt": { "$lt": ago(now, r as i64) },
            "organizationId": { "$nin": spared },
        };
        let (found, deleted) = delete_batches(&db, AUDIT_LOG, &filter, &mut budget).await?;
        report.scanned += found;
        report.deleted += deleted;
        filters.push(filter);
    }
    for filter in filters {
        report.remaining += db.collection(AUDIT_LOG).count(filter).await?;
    }
    Ok(report.finish("cleanup-audit-logs", started))
}

/// `cleanup-sessions`: what expired and TTL has not removed yet, records
/// deleted more than [`shared::records::TOMBSTONE_DAYS`] ago, the
/// document files sweep ([`crate::files::documents::sweep`]), and the
/// notices of API keys about to expire
/// ([`crate::identity::api_keys::expiry_notices`]), and time entries left
/// open past their working day ([`crate::workshop::time_clock::auto_close`]).
pub async fn sessions(state: &State, now: DateTime) -> Result<Report, ApiError> {
    let started = Instant::now();
    let db = Unscoped::open(state, Purpose::Scheduled);
    let expired = doc! { "expiresAt": { "$lt": now } };
    let targets = [
        (
            REFRESH_TOKENS,
            doc! { "$or": [
                { "expiresAt": { "$lt": now } },
                { "revokedAt": { "$lt": ago(now, REVOKED_TOKEN_DAYS) } },
            ] },
        ),
        (SESSIONS, expired.clone()),
        (LOGIN_ATTEMPTS, expired.clone()),
        (IDEMPOTENCY_KEYS, expired.clone()),
        (INVITATIONS, expired.clone()),
        (PASSWORD_RESETS, expired.clone()),
        (RATE_LIMITS, expired),
    ];
    // Deleted records leave the trash after the tombstone retention, which
    // is also how far back a delta sync reaches (files: the sweep below).
    let trash = doc! { "deletedAt": { "$lt": ago(now, shared::records::TOMBSTONE_DAYS) } };
    let mut targets: Vec<(&str, Document)> = targets.into_iter().collect();
    targets.extend(
        crate::registry::ENTITIES
            .iter()
            .filter(|e| e.collection != DOCUMENTS)
            .map(|e| (e.collection, trash.clone())),
    );
    let mut report = Report::default();
    let mut budget = budget(&db);
    for (name, filter) in &targets {
        let (found, deleted) = delete_batches(&db, name, filter, &mut budget).await?;
        report.scanned += found;
        report.deleted += deleted;
    }
    for (name, filter) in targets {
        report.remaining += db.collection(name).count(filter).await?;
    }
    let files = crate::files::documents::sweep(state, now, db.config().cleanup.batch_size).await?;
    report.add(files);
    report.scanned += crate::identity::api_keys::expiry_notices(&db, now).await?;
    let (looked, closed) =
        crate::workshop::time_clock::auto_close(&db, now, db.config().cleanup.batch_size).await?;
    report.scanned += looked;
    report.deleted += closed;
    Ok(report.finish("cleanup-sessions", started))
}

/// The jobs as the route table schedules them.
pub fn run_organizations(state: Arc<State>) -> BoxFuture<Result<Report, ApiError>> {
    Box::pin(async move { organizations(&state, DateTime::now()).await })
}

pub fn run_audit_logs(state: Arc<State>) -> BoxFuture<Result<Report, ApiError>> {
    Box::pin(async move { audit_logs(&state, DateTime::now()).await })
}

pub fn run_sessions(state: Arc<State>) -> BoxFuture<Result<Report, ApiError>> {
    Box::pin(async move { sessions(&state, DateTime::now()).await })
}
