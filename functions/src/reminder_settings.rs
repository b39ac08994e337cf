//! The organization's service-reminder settings
//! (`settings.serviceReminders`): whether the daily run emails customers,
//! the daily distance assumed for a vehicle whose readings say too little,
//! after how many days declined work is followed up, and whether reminders
//! need the contact's marketing consent. The workshop reads them
//! (`workshop::reminders`); identity checks them when the settings change.
//! Here, between the two, so neither depends on the other.

use serde::Deserialize;
use shared::bson::{doc, Document};
use shared::db::number;
use shared::error::FieldError;
use shared::validate::Errors;

/// The daily distance assumed without enough readings (km).
pub const DEFAULT_DAILY_KM: i64 = 40;
/// Declined work is followed up this many days after the decision.
pub const DEFAULT_FOLLOW_UP_DAYS: i64 = 30;

/// The settings as the reminders use them, defaults filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReminderSettings {
    /// Whether `send-reminders` emails this organization's customers.
    pub enabled: bool,
    pub daily_km: i64,
    pub follow_up_days: i64,
    /// Reminders go only to contacts who gave marketing consent.
    pub require_consent: bool,
}

impl ReminderSettings {
    pub fn of(settings: Option<&Document>) -> ReminderSettings {
        let s = settings.and_then(|s| s.get_document("serviceReminders").ok());
        ReminderSettings {
            enabled: s.and_then(|s| s.get_bool("enabled").ok()).unwrap_or(true),
            daily_km: s
                .and_then(|s| number(s, "defaultDailyDistance"))
                .unwrap_or(DEFAULT_DAILY_KM),
            follow_up_days: s
                .and_then(|s| number(s, "declinedFollowUpDays"))
                .unwrap_or(DEFAULT_FOLLOW_UP_DAYS),
            require_consent: s
                .and_then(|s| s.get_bool("requireMarketingConsent").ok())
                .unwrap_or(false),
        }
    }
}

/// `settings.serviceReminders` as a settings PATCH sends it (the whole
/// object, replaced; an absent key takes its default).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReminderSettingsInput {
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Kilometres a day.
    #[serde(default)]
    pub default_daily_distance: Option<i64>,
    #[serde(default)]
    pub declined_follow_up_days: Option<i64>,
    #[serde(default)]
    pub require_marketing_consent: Option<bool>,
}

/// The stored form of `input`, or `None` with its errors pushed.
pub fn check(errors: &mut Errors, input: &ReminderSettingsInput) -> Option<Document> {
    let before = errors.len();
    let mut out = doc! {
        "enabled": input.enabled.unwrap_or(true),
        "requireMarketingConsent": input.require_marketing_consent.unwrap_or(false),
    };
    for (key, value, default, max) in [
        (
            "defaultDailyDistance",
            input.default_daily_distance,
            DEFAULT_DAILY_KM,
            2_000,
        ),
        (
            "declinedFollowUpDays",
            input.declined_follow_up_days,
            DEFAULT_FOLLOW_UP_DAYS,
            730,
        ),
    ] {
        let v = value.unwrap_or(default);
        if !(1..=max).contains(&v) {
            errors.push(FieldError::new(
                format!("settings.serviceReminders.{key}"),
                format!("must be an integer from 1 to {max}"),
            ));
        }
        out.insert(key, v);
    }
    (errors.len() == before).then_some(out)
}
