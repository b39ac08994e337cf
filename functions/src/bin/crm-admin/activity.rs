//! `crm-admin audit ...` and `crm-admin logins ...`: what happened.

use std::time::Duration;

use functions::maintenance::admin::{self, AuditSubject, LoginSubject};
use serde_json::Value;
use shared::state::State;

use crate::{Failure, Outcome};

/// Whose audit entries: a user's or an organization's.
#[derive(clap::Args)]
#[group(required = true, multiple = false)]
pub struct AuditOf {
    /// The user's email.
    email: Option<String>,
    /// The organization's slug.
    #[arg(long, value_name = "SLUG")]
    org: Option<String>,
}

/// `audit EMAIL|--org SLUG [--action A] [--since 24h]`.
#[derive(clap::Args)]
pub struct Audit {
    #[command(flatten)]
    of: AuditOf,
    /// Only entries of this action (e.g. PERMISSION_DENIED).
    #[arg(long, value_name = "A")]
    action: Option<String>,
    /// How far back: 30m, 24h, 7d.
    #[arg(long, default_value = "24h", value_parser = crate::since)]
    since: Duration,
}

impl Audit {
    pub async fn run(self, state: &State) -> Outcome {
        let subject = match (&self.of.email, &self.of.org) {
            (Some(email), _) => AuditSubject::User(email),
            (None, Some(slug)) => AuditSubject::Organization(slug),
            (None, None) => return Err(Failure::Said("name an email or --org".into())),
        };
        let rows = admin::audit(state, subject, self.action.as_deref(), self.since).await?;
        Ok(Value::from(rows))
    }
}

/// Whose sign-ins: an email's or a client address's.
#[derive(clap::Args)]
#[group(required = true, multiple = false)]
pub struct LoginsOf {
    /// The email signed in with.
    email: Option<String>,
    /// The client address.
    #[arg(long, value_name = "IP")]
    ip: Option<String>,
}

/// `logins EMAIL|--ip IP [--since 24h]`.
#[derive(clap::Args)]
pub struct Logins {
    #[command(flatten)]
    of: LoginsOf,
    /// How far back: 30m, 24h, 7d.
    #[arg(long, default_value = "24h", value_parser = crate::since)]
    since: Duration,
}

impl Logins {
    pub async fn run(self, state: &State) -> Outcome {
        let subject = match (&self.of.email, &self.of.ip) {
            (Some(email), _) => LoginSubject::Email(email),
            (None, Some(ip)) => LoginSubject::Ip(ip),
            (None, None) => return Err(Failure::Said("name an email or --ip".into())),
        };
        Ok(Value::from(
            admin::logins(state, subject, self.since).await?,
        ))
    }
}
