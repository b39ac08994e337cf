//! The scheduled `send-emails` run: sends what the outbox still holds
//! (emails whose send right after their commit failed or never happened),
//! within the same batch and time budget as the cleanups. The outbox
//! itself is the platform's (`shared::email`).

use std::sync::Arc;
use std::time::Instant;

use shared::error::ApiError;
use shared::jobs::{Budget, Report};
use shared::runtime::BoxFuture;
use shared::state::State;

pub fn run(state: Arc<State>) -> BoxFuture<Result<Report, ApiError>> {
    Box::pin(async move {
        let started = Instant::now();
        let cfg = &state.config.cleanup;
        let report =
            shared::email::send_due(&state, Budget::new(cfg.max_batches, cfg.max_seconds)).await?;
        Ok(report.finish("send-emails", started))
    })
}
