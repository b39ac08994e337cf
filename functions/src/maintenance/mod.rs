//! The maintenance context: the scheduled cleanups ([`cleanup`]), email
//! retries ([`emails`]), webhook sends ([`webhooks`]) and service
//! reminders ([`reminders`]), the
//! operator tasks behind `crm-admin` ([`admin`], and tenant export and
//! import in [`backup`]) and the local demo data
//! ([`seed`]). None has a caller, so each reaches the database through
//! `shared::unscoped::Unscoped`, opened for `Purpose::Scheduled` or
//! `Purpose::Operator`.

pub mod admin;
pub mod backup;
pub mod cleanup;
pub mod emails;
pub mod reminders;
pub mod routes;
pub mod seed;
pub mod webhooks;
