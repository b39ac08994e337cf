//! An organization's calendar settings, which the organization's settings
//! accept and the workshop's appointments keep to: its time zone, its
//! opening hours per weekday and its bays.

use bson::{Bson, Document};
use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde_json::Value;
use shared::error::FieldError;
use shared::validate::Errors;

const DAYS: [(&str, Weekday); 7] = [
    ("mon", Weekday::Monday),
    ("tue", Weekday::Tuesday),
    ("wed", Weekday::Wednesday),
    ("thu", Weekday::Thursday),
    ("fri", Weekday::Friday),
    ("sat", Weekday::Saturday),
    ("sun", Weekday::Sunday),
];

fn parse_hhmm(s: &str) -> Option<Time> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (i8, i8) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) => Some(Time::MAX),
        _ => Time::new(h, m, 0, 0).ok(),
    }
}

/// Checks `settings.timezone` (an IANA name the bundled time zone database
/// knows).
pub fn check_timezone(errors: &mut Errors, tz: &str) -> bool {
    let ok = tz.len() <= 64 && TimeZone::get(tz).is_ok();
    if !ok {
        errors.push(FieldError::new(
            "settings.timezone",
            "must be an IANA time zone such as Europe/Berlin",
        ));
    }
    ok
}

/// Checks `settings.workingHours`: `{"mon": ["08:00", "18:00"], ...,
/// "sun": null}` (a day left out or null is closed; opening before
/// closing, "24:00" for midnight). Returns what to store.
pub fn working_hours(errors: &mut Errors, v: &Value) -> Option<Document> {
    let field = "settings.workingHours";
    let Some(days) = v.as_object() else {
        errors.push(FieldError::new(
            field,
            "must be an object of weekdays (mon..sun)",
        ));
        return None;
    };
    let mut out = Document::new();
    for (day, hours) in days {
        let name = format!("{field}.{day}");
        if !DAYS.iter().any(|(d, _)| d == day) {
            errors.push(FieldError::new(
                name,
                "is not a weekday (mon, tue, wed, thu, fri, sat, sun)",
            ));
            continue;
        }
        if hours.is_null() {
            out.insert(day, Bson::Null);
            continue;
        }
        let pair: Option<Vec<&str>> = hours
            .as_array()
            .filter(|a| a.len() == 2)
            .and_then(|a| a.iter().map(|t| t.as_str()).collect());
        let times = pair.and_then(|p| Some((p[0], p[1], parse_hhmm(p[0])?, parse_hhmm(p[1])?)));
        match times {
            Some((open, close, o, c)) if o < c => {
                out.insert(day, vec![open, close]);
            }
            _ => errors.push(FieldError::new(
                name,
                "must be [\"HH:MM\", \"HH:MM\"] with the opening before the closing, or null",
            )),
        }
    }
    Some(out)
}

/// Checks `settings.bays`: 1 to 50 distinct names of 1 to 50 characters.
pub fn bays(errors: &mut Errors, v: &[String]) -> Option<Vec<String>> {
    let names: Vec<String> = v.iter().map(|b| b.trim().to_string()).collect();
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    let ok = !names.is_empty()
        && names.len() <= 50
        && unique.len() == names.len()
        && names.iter().all(|n| (1..=50).contains(&n.chars().count()));
    if !ok {
        errors.push(FieldError::new(
            "settings.bays",
            "must be 1 to 50 distinct names of 1 to 50 characters",
        ));
        return None;
    }
    Some(names)
}

/// The organization's calendar: its time zone (UTC when unset), opening
/// hours (open around the clock when unset) and bays.
pub struct Calendar {
    pub tz: TimeZone,
    pub tz_name: String,
    pub hours: Option<Document>,
    pub bays: Vec<String>,
}

impl Calendar {
    pub fn of(settings: Option<&Document>) -> Calendar {
        let tz_name = settings
            .and_then(|s| s.get_str("timezone").ok())
            .unwrap_or("UTC")
            .to_string();
        Calendar {
            tz: TimeZone::get(&tz_name).unwrap_or(TimeZone::UTC),
            tz_name,
            hours: settings.and_then(|s| s.get_document("workingHours").ok().cloned()),
            bays: settings
                .and_then(|s| s.get_array("bays").ok())
                .map(|a| {
                    a.iter()
                        .filter_map(|b| b.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// The opening hours of local `date` as instants (ms), `None` when
    /// closed. Around the clock when no working hours are set.
    pub fn open(&self, date: Date) -> Option<(i64, i64)> {
        let at = |t: Time| -> Option<i64> {
            let local = if t == Time::MAX {
                date.tomorrow().ok()?.to_datetime(Time::MIN)
            } else {
                date.to_datetime(t)
            };
            Some(
                local
                    .to_zoned_datetime(self.tz.clone())
                    .ok()?
                    .timestamp()
                    .as_millisecond(),
            )
        };
        let Some(hours) = &self.hours else {
            return Some((at(Time::MIN)?, at(Time::MAX)?));
        };
        let day = DAYS.iter().find(|(_, w)| *w == date.weekday())?.0;
        let pair = hours.get_array(day).ok()?;
        let time = |i: usize| pair.get(i).and_then(|t| t.as_str()).and_then(parse_hhmm);
        Some((at(time(0)?)?, at(time(1)?)?))
    }

    /// The local midnight starting `date`, as an instant (ms).
    pub fn midnight(&self, date: Date) -> Option<i64> {
        Some(
            date.to_datetime(Time::MIN)
                .to_zoned_datetime(self.tz.clone())
                .ok()?
                .timestamp()
                .as_millisecond(),
        )
    }

    pub fn local_date(&self, ms: i64) -> Option<Date> {
        let ts = Timestamp::from_millisecond(ms).ok()?;
        Some(ts.to_zoned_datetime(self.tz.clone()).date())
    }
}
