//! Time as the API shows it and as the platform computes with it: RFC 3339
//! strings with milliseconds, and shifts of a BSON time by milliseconds.

use bson::DateTime;

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

pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 24 * HOUR_MS;
