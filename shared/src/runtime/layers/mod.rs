//! The request pipeline, one module per layer, in the order a request
//! walks them (see [`crate::runtime::handle`]):
//!
//! 1. [`request_id`]: the request's id; then [`blocklist`]: a blocked
//!    client address gets 403.
//! 2. [`cors`]: a preflight is answered here.
//! 3. [`body_limit`]: 413 over the limit.
//! 4. [`method`]: the route's endpoint for the method, or 405 with `Allow`.
//! 5. Authentication: the bearer token becomes a caller (`crate::auth`'s
//!    `verify` and `caller`, on routes that declare a permission), or
//!    [`cron`] checks the scheduler's secret.
//! 6. [`rate_limit`]: the organization's API bucket, counted in the same
//!    round trip as the caller's read ([`rate_limit::authenticate`]), or
//!    the client address's bucket on a throttled public route.
//! 7. Authorization: the caller's role against the route's permission
//!    (`crate::auth::require`, the one denial path, which audits).
//! 8. Idempotency: a replay is answered here, a new key reserved
//!    (`crate::idempotency::start`).
//! 9. The handler.
//!
//! The steps that are one call to another layer's module (7, 8) are
//! that call in `crate::runtime::walk`, not a module of their own.
//!
//! On the way out, [`respond`] records the idempotent answer, adds the
//! RateLimit, security, CORS and request-id headers, and writes the one
//! log line. No layer calls back into an earlier one.

pub mod blocklist;
pub mod body_limit;
pub mod cors;
pub mod cron;
pub mod method;
pub mod rate_limit;
pub mod request_id;
pub mod respond;
