//! `crm-admin tenants ...`: the organizations.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use clap::Subcommand;
use functions::maintenance::{admin, backup};
use serde_json::Value;
use shared::state::State;

use crate::{progress, Failure, Outcome};

#[derive(Subcommand)]
pub enum Command {
    /// Organizations with user, account and record counts.
    List,
    /// Per organization: users, records per entity, documents, bytes, last activity.
    Stats,
    /// Refuse every member; sign them all out.
    Deactivate { slug: String },
    /// Undo a deactivation or a scheduled deletion.
    Reactivate { slug: String },
    /// FREE, PRO or ENTERPRISE (upgrades are the operator's or billing's).
    SetPlan { slug: String, plan: String },
    /// Purge the organization and all its data (asks for the slug again).
    Delete {
        slug: String,
        /// Purge at once (required: there is no later).
        #[arg(long, required = true)]
        now: bool,
    },
    /// Every document of the organization and a manifest of its files, as a tar archive.
    Export {
        slug: String,
        /// The archive to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Restore an export into an organization that does not exist.
    Import {
        file: PathBuf,
        /// Restore under this slug, with new ids.
        #[arg(long = "as", value_name = "NEW_SLUG")]
        as_slug: Option<String>,
    },
}

fn confirm(slug: &str) -> bool {
    eprint!("This deletes organization {slug} and all its data for good. Type the slug again to confirm: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).is_ok() && line.trim() == slug
}

impl Command {
    pub fn needs_storage(&self) -> bool {
        matches!(self, Command::Delete { .. } | Command::Export { .. })
    }

    pub async fn run(self, state: &State, quiet: bool) -> Outcome {
        Ok(match self {
            Command::List => Value::from(admin::tenants(state).await?),
            Command::Stats => Value::from(admin::tenant_stats(state).await?),
            Command::Deactivate { slug } => admin::set_tenant_active(state, &slug, false).await?,
            Command::Reactivate { slug } => admin::set_tenant_active(state, &slug, true).await?,
            Command::SetPlan { slug, plan } => admin::set_plan(state, &slug, &plan).await?,
            Command::Delete { slug, .. } => {
                if !confirm(&slug) {
                    return Err(Failure::Said("not confirmed; nothing was deleted".into()));
                }
                admin::purge_tenant(state, &slug).await?
            }
            Command::Export { slug, out } => {
                backup::export(state, &slug, &out, &*progress::bar(quiet)).await?
            }
            Command::Import { file, as_slug } => {
                backup::import(state, &file, as_slug.as_deref(), &*progress::bar(quiet)).await?
            }
        })
    }
}
