//! Layer 4: the route's endpoint for the request's method; another method
//! is a 405 naming the ones the route has (`Allow`).

use http::Method;

use crate::error::ApiError;
use crate::runtime::{Endpoint, Route};

pub fn endpoint(route: &'static Route, method: &Method) -> Result<&'static Endpoint, ApiError> {
    route
        .endpoint(method)
        .ok_or_else(|| ApiError::MethodNotAllowed {
            allow: route.allow(),
        })
}
