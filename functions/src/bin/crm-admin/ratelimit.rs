//! `crm-admin ratelimit ...`: the rate-limit buckets.

use clap::Subcommand;
use functions::maintenance::admin::{self, LimitSubject};
use serde_json::Value;
use shared::state::State;

use crate::{Failure, Outcome};

/// Whose buckets: exactly one of `--org`, `--email`, `--ip`.
#[derive(clap::Args)]
#[group(id = "subject", required = true, multiple = false)]
pub struct Subject {
    /// The organization's buckets (API, UPLOADS, EXPORTS, INVITATIONS).
    #[arg(long, value_name = "SLUG")]
    org: Option<String>,
    /// The failed-sign-in bucket of an email.
    #[arg(long, value_name = "EMAIL")]
    email: Option<String>,
    /// The failed-sign-in bucket of a client address.
    #[arg(long, value_name = "IP")]
    ip: Option<String>,
}

impl Subject {
    fn of(&self) -> Result<LimitSubject<'_>, Failure> {
        match (&self.org, &self.email, &self.ip) {
            (Some(o), _, _) => Ok(LimitSubject::Organization(o)),
            (_, Some(e), _) => Ok(LimitSubject::Email(e)),
            (_, _, Some(i)) => Ok(LimitSubject::Ip(i)),
            _ => Err(Failure::Said("name one of --org, --email, --ip".into())),
        }
    }
}

#[derive(Subcommand)]
pub enum Command {
    /// Each bucket's limit, used, remaining, reset (counts nothing).
    Status {
        #[command(flatten)]
        subject: Subject,
    },
    /// Empty the current window (audited).
    Reset {
        #[command(flatten)]
        subject: Subject,
        /// Only this bucket (e.g. API).
        #[arg(long)]
        bucket: Option<String>,
    },
    /// A limit above (or below) the plan's until the end of that day.
    Override {
        /// The organization.
        #[arg(long, value_name = "SLUG")]
        org: String,
        /// The bucket (e.g. UPLOADS).
        #[arg(long)]
        bucket: String,
        /// Requests per window.
        #[arg(long)]
        limit: String,
        /// The last day it holds (YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        until: String,
    },
}

impl Command {
    pub async fn run(self, state: &State) -> Outcome {
        Ok(match self {
            Command::Status { subject } => {
                Value::from(admin::rate_limit_status(state, subject.of()?).await?)
            }
            Command::Reset { subject, bucket } => {
                admin::rate_limit_reset(state, subject.of()?, bucket.as_deref()).await?
            }
            Command::Override {
                org,
                bucket,
                limit,
                until,
            } => admin::rate_limit_override(state, &org, &bucket, &limit, &until).await?,
        })
    }
}
