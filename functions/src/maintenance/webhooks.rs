//! The scheduled `send-webhooks` run (every minute): the platform sends
//! what no request finished (`shared::webhook::send_due`: events not fanned
//! out, first attempts cut short, retries due), then the domain disables
//! endpoints failing too long and tells their owners and admins
//! (`crate::identity::webhooks::watch`).

use std::sync::Arc;
use std::time::Instant;

use bson::DateTime;
use shared::error::ApiError;
use shared::jobs::{Budget, Report};
use shared::runtime::BoxFuture;
use shared::state::State;
use shared::unscoped::{Purpose, Unscoped};

pub fn run(state: Arc<State>) -> BoxFuture<Result<Report, ApiError>> {
    Box::pin(async move { run_at(&state, DateTime::now()).await })
}

/// The run as if at `now` (tests move the clock).
pub async fn run_at(state: &State, now: DateTime) -> Result<Report, ApiError> {
    let started = Instant::now();
    // Sends are bounded by time only: one run may send thousands.
    let budget = Budget::new(u64::MAX, state.config.cleanup.max_seconds);
    let mut report = shared::webhook::send_due(state, budget, now).await?;
    let db = Unscoped::open(state, Purpose::Scheduled);
    report.scanned += crate::identity::webhooks::watch(&db, now).await?;
    Ok(report.finish("send-webhooks", started))
}
