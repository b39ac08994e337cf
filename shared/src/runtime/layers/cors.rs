//! Layer 2 (and on the way out): CORS. A preflight (`OPTIONS`) is answered
//! here and goes no further: 204 with the route's methods for an allowed
//! origin, 403 for another. Every answer gets `Vary: Origin`, and for an
//! allowed origin the allow-origin, credentials and expose headers.

use crate::error::ApiError;
use crate::error::Code;
use crate::http::ApiResponse;
use crate::runtime::{HandlerResult, Route};
use crate::state::State;

fn origin_allowed(state: &State, origin: &str) -> bool {
    state
        .config
        .allowed_origins
        .iter()
        .any(|o| o.eq_ignore_ascii_case(origin))
}

pub fn preflight(state: &State, route: &Route, origin: Option<&str>) -> HandlerResult {
    let mut r = ApiResponse::no_content();
    r.set_header("allow", &route.allow());
    match origin {
        None => Ok(r),
        Some(o) if origin_allowed(state, o) => {
            r.set_header("access-control-allow-methods", &route.allow());
            r.set_header(
                "access-control-allow-headers",
                "authorization, content-type, if-match, if-none-match, idempotency-key, x-request-id",
            );
            r.set_header("access-control-max-age", "600");
            Ok(r)
        }
        Some(_) => Err(ApiError::forbidden(
            Code::CorsOriginDenied,
            "This origin is not allowed to call the API",
        )),
    }
}

pub fn headers(state: &State, origin: Option<&str>, r: &mut ApiResponse) {
    r.append_header("vary", "Origin");
    if let Some(o) = origin.filter(|o| origin_allowed(state, o)) {
        r.set_header("access-control-allow-origin", o);
        r.set_header("access-control-allow-credentials", "true");
        r.set_header(
            "access-control-expose-headers",
            "x-request-id, ratelimit-limit, ratelimit-remaining, ratelimit-reset, retry-after, location, etag",
        );
    }
}
