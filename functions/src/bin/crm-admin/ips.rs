//! `crm-admin ips ...`: networks every function answers 403.

use clap::Subcommand;
use functions::maintenance::admin;
use shared::state::State;

use crate::Outcome;

#[derive(Subcommand)]
pub enum Command {
    /// Every function answers the network 403 (within 60 s).
    Block {
        cidr: String,
        #[arg(long, value_name = "TEXT")]
        reason: String,
        /// The last day of the block.
        #[arg(long, value_name = "DATE")]
        until: Option<String>,
    },
    /// Lift a block.
    Unblock { cidr: String },
    /// The blocks in force.
    List,
}

impl Command {
    pub async fn run(self, state: &State) -> Outcome {
        Ok(match self {
            Command::Block {
                cidr,
                reason,
                until,
            } => admin::ips_block(state, &cidr, &reason, until.as_deref()).await?,
            Command::Unblock { cidr } => admin::ips_unblock(state, &cidr).await?,
            Command::List => admin::ips_list(state).await?,
        })
    }
}
