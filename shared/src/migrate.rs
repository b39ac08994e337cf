//! The idempotent migration step: creates every index, and records each
//! applied migration in `schema_migrations`. Run by the local stack, by the
//! tests for each fresh database, and on deploy by the `migrate` function.
//!
//! Indexes that serve tenant queries lead with `organizationId`; TTL indexes
//! (`expireAfterSeconds: 0` on `expiresAt`) remove tokens, attempts and
//! rate-limit windows when they expire.

use std::time::{Duration, Instant};

use bson::{doc, Document};
use mongodb::options::IndexOptions;
use mongodb::{Database, IndexModel};

use crate::error::ApiError;
use crate::store::collections::*;
use crate::time::DAY_SECS;

/// One index: its collection, keys and options.
#[derive(Clone)]
pub struct Index {
    collection: &'static str,
    keys: Document,
    unique: bool,
    /// A TTL index: documents go this long after the indexed time.
    expire_after: Option<Duration>,
    /// Only documents matching this are indexed (unique among those only).
    partial: Option<Document>,
}

impl Index {
    /// A plain index of `collection` on `keys`.
    pub fn on(collection: &'static str, keys: Document) -> Index {
        index(collection, keys)
    }

    /// A unique index among the documents matching `partial`.
    pub fn unique_where(collection: &'static str, keys: Document, partial: Document) -> Index {
        unique_partial(collection, keys, partial)
    }

    pub fn collection(&self) -> &'static str {
        self.collection
    }

    pub fn keys(&self) -> &Document {
        &self.keys
    }
}

fn index(collection: &'static str, keys: Document) -> Index {
    Index {
        collection,
        keys,
        unique: false,
        expire_after: None,
        partial: None,
    }
}

fn unique(collection: &'static str, keys: Document) -> Index {
    Index {
        collection,
        keys,
        unique: true,
        expire_after: None,
        partial: None,
    }
}

fn unique_partial(collection: &'static str, keys: Document, partial: Document) -> Index {
    Index {
        collection,
        keys,
        unique: true,
        expire_after: None,
        partial: Some(partial),
    }
}

fn ttl(collection: &'static str) -> Index {
    Index {
        collection,
        keys: doc! { "expiresAt": 1 },
        unique: false,
        expire_after: Some(Duration::ZERO),
        partial: None,
    }
}

struct Migration {
    id: &'static str,
    indexes: fn() -> Vec<Index>,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        id: "0001_initial",
        indexes: initial,
    },
    Migration {
        id: "0002_members",
        indexes: members,
    },
    Migration {
        id: "0003_crm",
        indexes: crm,
    },
    Migration {
        id: "0004_documents",
        indexes: documents,
    },
    Migration {
        id: "0005_cleanup",
        indexes: cleanup,
    },
    Migration {
        id: "0006_sessions",
        indexes: sessions,
    },
    Migration {
        id: "0007_email",
        indexes: email,
    },
    Migration {
        id: "0008_ip_blocks",
        indexes: || vec![unique(IP_BLOCKS, doc! { "cidr": 1 })],
    },
    Migration {
        id: "0009_api_keys",
        indexes: || {
            vec![
                unique(API_KEYS, doc! { "keyId": 1 }),
                index(API_KEYS, doc! { "organizationId": 1, "createdAt": -1 }),
                index(API_KEYS, doc! { "expiresAt": 1 }),
            ]
        },
    },
    Migration {
        id: "0010_webhook_events",
        indexes: || {
            vec![
                index(
                    WEBHOOK_EVENTS,
                    doc! { "organizationId": 1, "createdAt": 1, "_id": 1 },
                ),
                ttl(WEBHOOK_EVENTS),
            ]
        },
    },
    Migration {
        id: "0011_webhook_messages",
        indexes: || {
            vec![
                index(WEBHOOK_EVENTS, doc! { "fannedOut": 1, "createdAt": 1 }),
                unique(WEBHOOK_MESSAGES, doc! { "endpointId": 1, "eventId": 1 }),
                index(
                    WEBHOOK_MESSAGES,
                    doc! { "status": 1, "nextAttemptAt": 1, "_id": 1 },
                ),
                index(WEBHOOK_MESSAGES, doc! { "status": 1, "leaseUntil": 1 }),
                index(
                    WEBHOOK_MESSAGES,
                    doc! { "organizationId": 1, "endpointId": 1, "createdAt": -1, "_id": -1 },
                ),
                ttl(WEBHOOK_MESSAGES),
                index(WEBHOOK_ENDPOINTS, doc! { "failingSince": 1 }),
                index(WEBHOOK_ENDPOINTS, doc! { "disabledAt": 1 }),
            ]
        },
    },
    Migration {
        id: "0012_webhook_claims_by_organization",
        indexes: || {
            vec![index(
                WEBHOOK_MESSAGES,
                doc! { "status": 1, "organizationId": 1, "nextAttemptAt": 1, "_id": 1 },
            )]
        },
    },
    Migration {
        id: "0013_links",
        indexes: || {
            vec![
                unique(LINKS, doc! { "tokenHash": 1 }),
                index(
                    LINKS,
                    doc! { "organizationId": 1, "recordId": 1, "createdAt": -1 },
                ),
                // Kept past their expiry (a late visitor is told it expired),
                // then forgotten.
                Index {
                    collection: LINKS,
                    keys: doc! { "forgetAt": 1 },
                    unique: false,
                    expire_after: Some(Duration::ZERO),
                    partial: None,
                },
            ]
        },
    },
];

/// The email outbox (claimed by status and due time; kept 30 days once
/// sent or given up) and email verification tokens.
fn email() -> Vec<Index> {
    vec![
        index(
            EMAIL_OUTBOX,
            doc! { "status": 1, "nextAttemptAt": 1, "_id": 1 },
        ),
        index(EMAIL_OUTBOX, doc! { "status": 1, "leaseUntil": 1 }),
        index(EMAIL_OUTBOX, doc! { "organizationId": 1, "createdAt": -1 }),
        ttl(EMAIL_OUTBOX),
        unique(EMAIL_VERIFICATIONS, doc! { "tokenHash": 1 }),
        index(EMAIL_VERIFICATIONS, doc! { "userId": 1 }),
        ttl(EMAIL_VERIFICATIONS),
    ]
}

/// Sign-in sessions (refresh-token families): ended per user or per
/// organization, removed by TTL at their absolute expiry.
fn sessions() -> Vec<Index> {
    vec![
        index(SESSIONS, doc! { "userId": 1, "revokedAt": 1 }),
        index(SESSIONS, doc! { "organizationId": 1, "revokedAt": 1 }),
        ttl(SESSIONS),
    ]
}

/// A backstop only: the cleanup-audit-logs job applies each plan's
/// retention; this TTL catches what it never reached.
pub const AUDIT_LOG_BACKSTOP_DAYS: u64 = crate::config::MAX_AUDIT_RETENTION_DAYS;

/// What the scheduled cleanups query across organizations.
fn cleanup() -> Vec<Index> {
    vec![
        Index {
            collection: AUDIT_LOG,
            keys: doc! { "createdAt": 1 },
            unique: false,
            expire_after: Some(Duration::from_secs(AUDIT_LOG_BACKSTOP_DAYS * DAY_SECS)),
            partial: None,
        },
        index(ORGANIZATIONS, doc! { "deleteScheduledAt": 1 }),
        index(ORGANIZATIONS, doc! { "plan": 1 }),
        index(REFRESH_TOKENS, doc! { "revokedAt": 1 }),
    ]
}

fn documents() -> Vec<Index> {
    let mut out = list_indexes(
        DOCUMENTS,
        "fileName",
        &["relatedTo.type", "contentType", "status"],
    );
    out.push(index(
        DOCUMENTS,
        doc! { "organizationId": 1, "deletedAt": 1, "relatedTo.id": 1, "createdAt": -1, "_id": -1 },
    ));
    // The cleanup's sweeps across organizations.
    out.push(index(DOCUMENTS, doc! { "status": 1, "createdAt": 1 }));
    out.push(index(DOCUMENTS, doc! { "deletedAt": 1 }));
    out
}

fn members() -> Vec<Index> {
    vec![
        unique(INVITATIONS, doc! { "tokenHash": 1 }),
        index(
            INVITATIONS,
            doc! { "organizationId": 1, "status": 1, "createdAt": -1 },
        ),
        index(
            INVITATIONS,
            doc! { "organizationId": 1, "email": 1, "status": 1 },
        ),
        index(INVITATIONS, doc! { "expiresAt": 1 }),
        unique(PASSWORD_RESETS, doc! { "tokenHash": 1 }),
        ttl(PASSWORD_RESETS),
        index(REFRESH_TOKENS, doc! { "organizationId": 1, "revokedAt": 1 }),
        index(USERS, doc! { "organizationId": 1, "role": 1, "status": 1 }),
        index(LOGIN_ATTEMPTS, doc! { "organizationId": 1 }),
        index(AUDIT_LOG, doc! { "userId": 1, "createdAt": -1 }),
    ]
}

/// The list indexes of a collection: default and allow-listed sorts, then
/// one per filter. Each leads with the equality fields every list query has
/// (`organizationId`, `deletedAt: null`), then the filter, then the sort
/// with `_id`, the tie-breaker the cursor uses. (The entities' own come
/// from their declarations: `records::Entity::indexes`.)
fn list_indexes(collection: &'static str, sort_by: &str, filters: &[&str]) -> Vec<Index> {
    let live = doc! { "organizationId": 1, "deletedAt": 1 };
    let with = |more: Document| {
        let mut keys = live.clone();
        keys.extend(more);
        index(collection, keys)
    };
    let mut out = vec![
        with(doc! { "createdAt": -1, "_id": -1 }),
        with(doc! { "updatedAt": -1, "_id": -1 }),
        with(doc! { sort_by: 1, "_id": 1 }),
    ];
    for f in filters {
        out.push(with(doc! { *f: 1, "createdAt": -1, "_id": -1 }));
    }
    out
}

/// The CRM's platform part; the entities' list and unique indexes are
/// derived from their declarations and ensured on every run.
fn crm() -> Vec<Index> {
    vec![ttl(IDEMPOTENCY_KEYS)]
}

fn initial() -> Vec<Index> {
    vec![
        unique(ORGANIZATIONS, doc! { "slug": 1 }),
        unique(USERS, doc! { "email": 1 }),
        index(
            USERS,
            doc! { "organizationId": 1, "createdAt": 1, "_id": 1 },
        ),
        index(USERS, doc! { "organizationId": 1, "email": 1, "_id": 1 }),
        index(USERS, doc! { "organizationId": 1, "lastName": 1, "_id": 1 }),
        unique(REFRESH_TOKENS, doc! { "tokenHash": 1 }),
        index(REFRESH_TOKENS, doc! { "familyId": 1 }),
        index(REFRESH_TOKENS, doc! { "userId": 1, "revokedAt": 1 }),
        ttl(REFRESH_TOKENS),
        index(LOGIN_ATTEMPTS, doc! { "email": 1, "createdAt": -1 }),
        index(LOGIN_ATTEMPTS, doc! { "ipAddress": 1, "createdAt": -1 }),
        ttl(LOGIN_ATTEMPTS),
        ttl(RATE_LIMITS),
        index(AUDIT_LOG, doc! { "organizationId": 1, "createdAt": -1 }),
        index(
            AUDIT_LOG,
            doc! { "organizationId": 1, "action": 1, "createdAt": -1 },
        ),
        index(
            AUDIT_LOG,
            doc! { "organizationId": 1, "userId": 1, "createdAt": -1 },
        ),
        index(AUDIT_LOG, doc! { "organizationId": 1, "resourceId": 1 }),
    ]
}

/// Applies every migration not yet recorded, then ensures `derived` (the
/// indexes the entity declarations call for: creating an index that exists
/// is a no-op, so a new entity's indexes appear on the next run); returns
/// the ids of the migrations it applied.
pub async fn run(db: &Database, derived: &[Index]) -> Result<Vec<&'static str>, ApiError> {
    let log = db.collection::<Document>(SCHEMA_MIGRATIONS);
    let mut applied = vec![];
    for m in MIGRATIONS {
        if log.find_one(doc! { "_id": m.id }).await?.is_some() {
            continue;
        }
        let started = Instant::now();
        create_all(db, &(m.indexes)()).await?;
        let record = doc! {
            "_id": m.id,
            "appliedAt": bson::DateTime::now(),
            "durationMs": started.elapsed().as_millis() as i64,
        };
        // Two instances migrating at once both create the (idempotent)
        // indexes; the second record is a duplicate and is ignored.
        if let Err(e) = log.insert_one(record).await {
            if !matches!(ApiError::from_db(e.clone()), ApiError::Conflict { .. }) {
                return Err(e.into());
            }
        }
        tracing::info!(migration = m.id, "[MIGRATION] applied");
        applied.push(m.id);
    }
    create_all(db, derived).await?;
    Ok(applied)
}

/// An index's keys as text (`collection {field: 1, ...}`), numbers as
/// whole numbers, in key order (what makes two indexes the same).
fn describe(collection: &str, keys: &Document) -> String {
    let fields: Vec<String> = keys
        .iter()
        .map(|(k, v)| {
            let v = match v {
                bson::Bson::Int32(n) => n.to_string(),
                bson::Bson::Int64(n) => n.to_string(),
                bson::Bson::Double(n) => (*n as i64).to_string(),
                other => other.to_string(),
            };
            format!("{k}: {v}")
        })
        .collect();
    format!("{collection} {{{}}}", fields.join(", "))
}

/// Compares the indexes every migration and `derived` call for with those
/// the database has, in the collections they name: (missing, extra), each
/// described by [`describe`]. `_id` indexes are the server's own.
pub async fn check(
    db: &Database,
    derived: &[Index],
) -> Result<(Vec<String>, Vec<String>), ApiError> {
    let mut expected: Vec<Index> = MIGRATIONS.iter().flat_map(|m| (m.indexes)()).collect();
    expected.extend(derived.iter().cloned());
    let mut want: Vec<String> = expected
        .iter()
        .map(|i| describe(i.collection, &i.keys))
        .collect();
    want.sort();
    want.dedup();
    let mut collections: Vec<&'static str> = expected.iter().map(|i| i.collection).collect();
    collections.sort();
    collections.dedup();
    let mut have = vec![];
    for c in collections {
        let mut cursor = db.collection::<Document>(c).list_indexes().await?;
        while let Some(model) = futures_util::TryStreamExt::try_next(&mut cursor).await? {
            if model.keys.keys().eq(["_id"]) {
                continue;
            }
            have.push(describe(c, &model.keys));
        }
    }
    have.sort();
    have.dedup();
    let missing = want.iter().filter(|w| !have.contains(w)).cloned().collect();
    let extra = have.iter().filter(|h| !want.contains(h)).cloned().collect();
    Ok((missing, extra))
}

/// Creates `indexes` with one `createIndexes` command per collection (a
/// fresh database, a preview's or a test's, gets its few hundred indexes
/// in a few dozen round trips).
async fn create_all(db: &Database, indexes: &[Index]) -> Result<(), ApiError> {
    let mut by_collection: Vec<(&'static str, Vec<IndexModel>)> = vec![];
    for ix in indexes {
        let mut opts = IndexOptions::builder().unique(ix.unique).build();
        opts.expire_after = ix.expire_after;
        opts.partial_filter_expression = ix.partial.clone();
        let model = IndexModel::builder()
            .keys(ix.keys.clone())
            .options(opts)
            .build();
        let models = match by_collection.iter_mut().find(|(c, _)| *c == ix.collection) {
            Some((_, models)) => models,
            None => {
                by_collection.push((ix.collection, vec![]));
                &mut by_collection.last_mut().expect("just pushed").1
            }
        };
        // The same keys twice (two declarations calling for one index)
        // would make the server refuse the whole command.
        if !models.iter().any(|m| m.keys == model.keys) {
            models.push(model);
        }
    }
    for (collection, models) in by_collection {
        db.collection::<Document>(collection)
            .create_indexes(models)
            .await?;
    }
    Ok(())
}
