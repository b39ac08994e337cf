//! What a scheduled job is to the platform: one bounded run ([`Budget`])
//! that reports what it did ([`Report`]). The jobs themselves are the
//! domain's; the runtime only schedules them and returns their report.

use std::time::Instant;

use serde_json::{json, Value};

/// An organization is purged this long after its owner deleted it.
pub const PURGE_AFTER_DAYS: i64 = 30;
/// What one run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// Items looked at (organizations, entries, tokens...).
    pub scanned: u64,
    /// Items deleted.
    pub deleted: u64,
    /// Items still due after this run (the next run takes them).
    pub remaining: u64,
    pub duration_ms: u64,
}

impl Report {
    pub fn to_json(self) -> Value {
        json!({ "scanned": self.scanned, "deleted": self.deleted,
                "remaining": self.remaining, "durationMs": self.duration_ms })
    }

    pub fn add(&mut self, other: Report) {
        self.scanned += other.scanned;
        self.deleted += other.deleted;
        self.remaining += other.remaining;
    }

    pub fn finish(mut self, job: &str, started: Instant) -> Report {
        self.duration_ms = started.elapsed().as_millis() as u64;
        tracing::info!(
            job,
            scanned = self.scanned,
            deleted = self.deleted,
            remaining = self.remaining,
            durationMs = self.duration_ms,
            "[CLEANUP] {job}: {} deleted, {} remaining",
            self.deleted,
            self.remaining
        );
        self
    }
}

/// How many more batches this run may delete, and until when.
pub struct Budget {
    batches: u64,
    deadline: Option<Instant>,
}

impl Budget {
    /// `batches` at most, and none started after `seconds`.
    pub fn new(batches: u64, seconds: u64) -> Self {
        Self {
            batches,
            deadline: Some(Instant::now() + std::time::Duration::from_secs(seconds)),
        }
    }

    /// No limit (an operator's purge from `crm-admin`).
    pub fn unlimited() -> Self {
        Self {
            batches: u64::MAX,
            deadline: None,
        }
    }

    /// Counts one batch that deleted something (an empty look costs nothing,
    /// so a run always gets past what earlier runs finished).
    pub fn spend(&mut self) {
        self.batches = self.batches.saturating_sub(1);
    }

    pub fn exhausted(&self) -> bool {
        self.batches == 0 || self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}
