//! `crm-admin cleanup JOB`: one run of a scheduled cleanup, now.

use clap::ValueEnum;
use functions::maintenance::cleanup;
use shared::state::State;

use crate::{progress, Outcome};

#[derive(clap::Args)]
pub struct Args {
    job: Job,
}

#[derive(Clone, Copy, ValueEnum)]
enum Job {
    Organizations,
    AuditLogs,
    Sessions,
}

impl Args {
    pub fn needs_storage(&self) -> bool {
        matches!(self.job, Job::Organizations | Job::Sessions)
    }

    pub async fn run(self, state: &State, quiet: bool) -> Outcome {
        let now = shared::bson::DateTime::now();
        let name = self
            .job
            .to_possible_value()
            .map(|v| v.get_name().to_string())
            .unwrap_or_default();
        let bar = progress::spinner(quiet, &format!("cleanup {name}"));
        let report = match self.job {
            Job::Organizations => cleanup::organizations(state, now).await,
            Job::AuditLogs => cleanup::audit_logs(state, now).await,
            Job::Sessions => cleanup::sessions(state, now).await,
        };
        bar.finish_and_clear();
        Ok(report?.to_json())
    }
}
