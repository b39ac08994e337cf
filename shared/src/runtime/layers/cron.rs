//! The access check of scheduled routes: a cron request carries the
//! deployment's `CRON_SECRET`.

use crate::error::ApiError;
use crate::error::Code;
use crate::http::ApiRequest;
use crate::state::State;

/// A cron request carries `Authorization: Bearer $CRON_SECRET` (Vercel sends
/// exactly that); anything else, or no secret configured, is a 401.
pub fn check(state: &State, req: &ApiRequest) -> Result<(), ApiError> {
    let given = req
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let ok = match &state.config.cron_secret {
        Some(secret) => constant_time_eq(given.as_bytes(), secret.expose().as_bytes()),
        None => {
            tracing::error!("[CONFIG] CRON_SECRET is not set: cron requests are refused");
            false
        }
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::unauthenticated(
            Code::CronUnauthorized,
            "This endpoint is for the scheduler: send Authorization: Bearer $CRON_SECRET",
        ))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
