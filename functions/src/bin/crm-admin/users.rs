//! `crm-admin users ...`: one user by email.

use clap::Subcommand;
use functions::maintenance::admin::{self, LimitSubject};
use shared::state::State;

use crate::Outcome;

#[derive(Subcommand)]
pub enum Command {
    /// Status, role, organization, last sign-in, failed attempts, bucket, sessions.
    Show { email: String },
    /// Sign the user out everywhere.
    RevokeSessions { email: String },
    /// Sign out, refuse sign-in, print a one-time reset token.
    ForcePasswordReset { email: String },
    /// PENDING, ACTIVE or INACTIVE.
    SetStatus { email: String, status: String },
    /// Clear the email's failed sign-in bucket (audited).
    Unlock { email: String },
}

impl Command {
    pub async fn run(self, state: &State) -> Outcome {
        Ok(match self {
            Command::Show { email } => admin::show_user(state, &email).await?,
            Command::RevokeSessions { email } => admin::revoke_sessions(state, &email).await?,
            Command::ForcePasswordReset { email } => {
                admin::force_password_reset(state, &email).await?
            }
            Command::SetStatus { email, status } => {
                admin::set_user_status(state, &email, &status).await?
            }
            Command::Unlock { email } => {
                admin::rate_limit_reset(state, LimitSubject::Email(&email), None).await?
            }
        })
    }
}
