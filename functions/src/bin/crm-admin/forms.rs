//! `crm-admin forms ...`: the public forms' traffic.

use std::time::Duration;

use clap::Subcommand;
use functions::maintenance::admin;
use serde_json::Value;
use shared::state::State;

use crate::Outcome;

#[derive(Subcommand)]
pub enum Command {
    /// Public form submissions per client address, most first.
    Submissions {
        /// Count per client address (required: the one view there is).
        #[arg(long, required = true)]
        by_ip: bool,
        /// Only this organization's forms.
        #[arg(long, value_name = "SLUG")]
        org: Option<String>,
        /// How far back: 30m, 24h, 7d.
        #[arg(long, default_value = "24h", value_parser = crate::since)]
        since: Duration,
    },
}

impl Command {
    pub async fn run(self, state: &State) -> Outcome {
        match self {
            Command::Submissions { org, since, .. } => Ok(Value::from(
                admin::form_submissions_by_ip(state, org.as_deref(), since).await?,
            )),
        }
    }
}
