//! Time as the API shows it and as the platform computes with it: RFC 3339
//! strings with milliseconds, and shifts of a BSON time by milliseconds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bson::DateTime;

/// The clock rate-limit windows are counted by: the system's, or a stopped
/// one that only moves when told (tests: a burst of requests lands in one
/// window whatever the wall clock does, and a window ends when the test
/// says so, with no sleeping).
#[derive(Clone, Debug, Default)]
pub struct Clock {
    stopped: Option<Arc<AtomicU64>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock stopped at `secs` since the epoch.
    pub fn stopped_at(secs: u64) -> Self {
        Self {
            stopped: Some(Arc::new(AtomicU64::new(secs))),
        }
    }

    /// Seconds since the epoch.
    pub fn now_secs(&self) -> u64 {
        match &self.stopped {
            Some(t) => t.load(Ordering::SeqCst),
            None => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        }
    }

    /// Moves a stopped clock on by `secs` (the system clock moves itself).
    pub fn advance(&self, secs: u64) {
        if let Some(t) = &self.stopped {
            t.fetch_add(secs, Ordering::SeqCst);
        }
    }
}

/// RFC 3339 in UTC with exactly three fractional digits, e.g.
/// `2026-11-21T13:22:43.150Z`, so clients can compare times as strings.
pub fn rfc3339(d: DateTime) -> String {
    let s = d.try_to_rfc3339_string().unwrap_or_default();
    let Some(body) = s.strip_suffix('Z') else {
        return s;
    };
    match body.split_once('.') {
        Some((whole, frac)) => format!("{whole}.{:0<3.3}Z", frac),
        None => format!("{body}.000Z"),
    }
}

/// `t` moved by `ms` milliseconds (negative: earlier).
pub fn shifted(t: bson::DateTime, ms: i64) -> bson::DateTime {
    bson::DateTime::from_millis(t.timestamp_millis() + ms)
}

/// Named durations, so no arithmetic hides a day in `86_400_000`.
pub const MINUTE_MS: i64 = 60_000;
pub const HOUR_MS: i64 = 60 * MINUTE_MS;
pub const DAY_MS: i64 = 24 * HOUR_MS;
pub const DAY_SECS: u64 = 86_400;
