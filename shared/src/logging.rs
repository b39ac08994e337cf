//! JSON log lines via tracing: `timestamp, level, message` plus the fields a
//! call site adds (`requestId`, `userId`, `organizationId`). Messages start with
//! a tag such as `[AUTH_SESSION]` or `[RATE_LIMIT]` that operators grep for.

//!
//! `LOG_LEVEL` is one level (`error`, `warn`, `info`, `debug`, `trace` or
//! `off`; default `info`) for every crate: per-target directives would need
//! tracing-subscriber's `env-filter`, whose regular-expression engine every
//! function binary would then carry.

use tracing_subscriber::filter::LevelFilter;

/// The level `LOG_LEVEL` names; anything else is `info`.
fn level(value: Option<&str>) -> LevelFilter {
    value
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(LevelFilter::INFO)
}

/// Installs the JSON subscriber once; later calls are no-ops (tests call it per app).
pub fn init() {
    let filter = level(std::env::var("LOG_LEVEL").ok().as_deref());
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_max_level(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_level_takes_a_level_name_and_defaults_to_info() {
        assert_eq!(level(Some("warn")), LevelFilter::WARN);
        assert_eq!(level(Some("OFF")), LevelFilter::OFF);
        assert_eq!(level(Some("chatty")), LevelFilter::INFO);
        assert_eq!(level(None), LevelFilter::INFO);
    }
}
