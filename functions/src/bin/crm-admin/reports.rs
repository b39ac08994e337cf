//! `crm-admin reports ...`: the owner's reports.

use clap::Subcommand;
use functions::maintenance::admin;
use shared::state::State;

use crate::Outcome;

#[derive(Subcommand)]
pub enum Command {
    /// Recompute an organization's reports rollup from its invoices and
    /// time entries (after a time zone change, or once for data older than
    /// the rollup).
    Rebuild {
        /// The organization.
        #[arg(long, value_name = "SLUG")]
        org: String,
    },
}

impl Command {
    pub async fn run(self, state: &State) -> Outcome {
        match self {
            Command::Rebuild { org } => Ok(admin::rebuild_reports(state, &org).await?),
        }
    }
}
