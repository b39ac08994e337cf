//! `crm-admin db ...`: indexes, sizes and query plans.

use clap::Subcommand;
use functions::maintenance::admin;
use serde_json::{json, Value};
use shared::state::State;

use crate::{Failure, Outcome};

#[derive(Subcommand)]
pub enum Command {
    /// Every expected index present, none extra (exit 1 otherwise).
    Indexes,
    /// Collections by size (documents, data, index bytes); server connections; pool per instance.
    Stats,
    /// The plan of each list query of ENTITY (e.g. work-orders); exit 1 on a collection scan.
    Explain { entity: String },
}

impl Command {
    pub async fn run(self, state: &State) -> Outcome {
        match self {
            Command::Indexes => {
                let (missing, extra) = state.check_indexes(&functions::indexes::all()).await?;
                if missing.is_empty() && extra.is_empty() {
                    return Ok(json!({ "missing": missing, "extra": extra }));
                }
                Err(Failure::Said(format!(
                    "indexes differ from the declarations (run `crm-admin migrate` for the missing ones)\nmissing: {}\nextra: {}",
                    missing.join("; "),
                    extra.join("; ")
                )))
            }
            Command::Stats => Ok(admin::db_stats(state).await?),
            Command::Explain { entity } => match admin::db_explain(state, &entity).await? {
                (rows, false) => Ok(Value::from(rows)),
                (rows, true) => Err(Failure::Said(format!(
                    "a list query of {entity} scans the collection: {}",
                    Value::from(rows)
                ))),
            },
        }
    }
}
