//! `crm-admin sessions ...`.

use clap::Subcommand;
use functions::maintenance::admin;
use shared::state::State;

use crate::Outcome;

#[derive(Subcommand)]
pub enum Command {
    /// Sign out every user (of one organization, or of all), access tokens included.
    RevokeAll {
        /// Only this organization's.
        #[arg(long, value_name = "SLUG")]
        org: Option<String>,
    },
}

impl Command {
    pub async fn run(self, state: &State) -> Outcome {
        match self {
            Command::RevokeAll { org } => {
                Ok(admin::revoke_all_sessions(state, org.as_deref()).await?)
            }
        }
    }
}
