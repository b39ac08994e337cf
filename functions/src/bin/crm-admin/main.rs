//! `crm-admin`: the on-call command line. Works on the database named by
//! `MONGODB_URI` / `MONGODB_DB` directly (no HTTP). Exit codes: 0 done,
//! 1 failed (not found, not confirmed, database error), 2 usage error.
//! `--json` prints machine-readable output.
//!
//! The command line is declared with clap, one module per command group
//! ([`tenants`], [`users`], [`db`], [`ips`], [`ratelimit`], [`activity`]
//! for audit entries and sign-ins, [`sessions`], [`cleanup`], [`forms`]);
//! the work is `functions::maintenance`'s.

mod activity;
mod cleanup;
mod db;
mod forms;
mod ips;
mod progress;
mod ratelimit;
mod reports;
mod sessions;
mod tenants;
mod users;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde_json::Value;
use shared::state::State;

/// The on-call command line of the workshop CRM: tenants, users, rate
/// limits, blocked networks, indexes and cleanups, straight on the
/// database of `MONGODB_URI`.
#[derive(Parser)]
#[command(name = "crm-admin", version, arg_required_else_help = true)]
struct Cli {
    /// Print machine-readable JSON.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create every index (idempotent).
    Migrate,
    /// Organizations: list, stats, deactivate, reactivate, plan, delete,
    /// export, import.
    #[command(subcommand)]
    Tenants(tenants::Command),
    /// Indexes, collection sizes and query plans.
    #[command(subcommand)]
    Db(db::Command),
    /// One run of a scheduled cleanup, now.
    Cleanup(cleanup::Args),
    /// Sign everyone out.
    #[command(subcommand)]
    Sessions(sessions::Command),
    /// One user: show, sign out, force a password reset, status, unlock.
    #[command(subcommand)]
    Users(users::Command),
    /// Networks every function refuses.
    #[command(subcommand)]
    Ips(ips::Command),
    /// Audit entries of a user or an organization, newest first.
    Audit(activity::Audit),
    /// Sign-in attempts of an email or a client address, newest first.
    Logins(activity::Logins),
    /// Rate-limit buckets: status, reset, override.
    #[command(subcommand)]
    Ratelimit(ratelimit::Command),
    /// Public form submissions.
    #[command(subcommand)]
    Forms(forms::Command),
    /// The owner's reports: rebuild the daily rollup.
    #[command(subcommand)]
    Reports(reports::Command),
}

/// Why a command did not do its work (exit 1; usage errors are clap's,
/// exit 2).
pub enum Failure {
    /// The operation refused or failed.
    Api(shared::ApiError),
    /// Said here (not confirmed, a collection scan, indexes that differ).
    Said(String),
}

impl From<shared::ApiError> for Failure {
    fn from(e: shared::ApiError) -> Self {
        Failure::Api(e)
    }
}

impl From<functions::maintenance::backup::BackupError> for Failure {
    fn from(e: functions::maintenance::backup::BackupError) -> Self {
        Failure::Said(e.to_string())
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Api(e) => write!(f, "{e}"),
            Failure::Said(s) => f.write_str(s),
        }
    }
}

pub type Outcome = Result<Value, Failure>;

impl Command {
    /// Only the commands that touch files build the storage client.
    fn needs_storage(&self) -> bool {
        match self {
            Command::Tenants(c) => c.needs_storage(),
            Command::Cleanup(a) => a.needs_storage(),
            _ => false,
        }
    }

    async fn run(self, state: &State, quiet: bool) -> Outcome {
        match self {
            Command::Migrate => {
                let bar = progress::spinner(quiet, "migrating");
                let applied = state.migrate(&functions::indexes::all()).await;
                bar.finish_and_clear();
                Ok(serde_json::json!({ "database": state.database_name(), "applied": applied? }))
            }
            Command::Tenants(c) => c.run(state, quiet).await,
            Command::Db(c) => c.run(state).await,
            Command::Cleanup(a) => a.run(state, quiet).await,
            Command::Sessions(c) => c.run(state).await,
            Command::Users(c) => c.run(state).await,
            Command::Ips(c) => c.run(state).await,
            Command::Audit(a) => a.run(state).await,
            Command::Logins(a) => a.run(state).await,
            Command::Ratelimit(c) => c.run(state).await,
            Command::Forms(c) => c.run(state).await,
            Command::Reports(c) => c.run(state).await,
        }
    }
}

/// Parses `--since`: `30m`, `24h`, `7d` (and a bare number of hours).
pub fn since(text: &str) -> Result<std::time::Duration, String> {
    functions::maintenance::admin::parse_since(text)
        .ok_or_else(|| "takes a duration such as 30m, 24h or 7d".to_string())
}

/// Human output: one line per item of a list, `key: value` lines for an object.
fn print_human(value: &Value) {
    match value {
        Value::Array(items) if items.is_empty() => println!("(none)"),
        Value::Array(items) => {
            for item in items {
                let line: Vec<String> = item
                    .as_object()
                    .map(|o| {
                        o.iter()
                            .filter(|(_, v)| !v.is_null())
                            .map(|(k, v)| format!("{k}={}", plain(v)))
                            .collect()
                    })
                    .unwrap_or_else(|| vec![plain(item)]);
                println!("{}", line.join("  "));
            }
        }
        Value::Object(o) => {
            for (k, v) in o {
                println!("{k}: {}", plain(v));
            }
        }
        other => println!("{}", plain(other)),
    }
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    let state = shared::runtime::init_or_exit(
        cli.command
            .needs_storage()
            .then_some(shared::storage::Storage::s3 as _),
        functions::indexes::all,
    )
    .await;
    match cli.command.run(&state, json).await {
        Ok(value) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&value).unwrap_or_default()
                );
            } else {
                print_human(&value);
            }
            ExitCode::SUCCESS
        }
        Err(failure) => {
            let message = failure.to_string();
            if json {
                println!("{}", serde_json::json!({ "error": message }));
            }
            eprintln!("crm-admin: {message}");
            ExitCode::from(1)
        }
    }
}
