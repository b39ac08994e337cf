//! The scheduled `send-reminders` run (hourly): each organization's
//! service reminders recomputed when due, then the due ones emailed within
//! its working hours (`crate::workshop::reminders::send_due`).

use std::sync::Arc;
use std::time::Instant;

use shared::bson::DateTime;
use shared::error::ApiError;
use shared::jobs::Report;
use shared::runtime::BoxFuture;
use shared::state::State;
use shared::unscoped::{Purpose, Unscoped};

pub fn run(state: Arc<State>) -> BoxFuture<Result<Report, ApiError>> {
    Box::pin(async move {
        let started = Instant::now();
        let db = Unscoped::open(&state, Purpose::Scheduled);
        let (looked, sent) = crate::workshop::reminders::send_due(&db, DateTime::now()).await?;
        let report = Report {
            scanned: looked,
            deleted: sent,
            ..Report::default()
        };
        Ok(report.finish("send-reminders", started))
    })
}
