//! JSON log lines via tracing: `timestamp, level, message` plus the fields a
//! call site adds (`requestId`, `userId`, `organizationId`). Messages start with
//! a tag such as `[AUTH_SESSION]` or `[RATE_LIMIT]` that operators grep for.

use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber once; later calls are no-ops (tests call it per app).
pub fn init() {
    let filter = EnvFilter::try_from_env("LOG_LEVEL").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
