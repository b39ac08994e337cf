//! Layer 3: a body over [`MAX_BODY_BYTES`] is a 413 before any work (the
//! adapters stop reading at the limit and mark the request oversize); a
//! body of another type than the endpoint declares is a 415 before any
//! work ([`media_type`]).

use crate::error::ApiError;
use crate::http::{ApiRequest, MAX_BODY_BYTES};
use crate::runtime::openapi::{Body, Doc};
use crate::runtime::route::Endpoint;

/// A request with a body says what it is: `Content-Type:
/// application/json` (or a `+json` type), or the other type its endpoint
/// declares (a public form's `application/x-www-form-urlencoded`). Any
/// other, or none, is 415: a body is never guessed at.
pub fn media_type(req: &ApiRequest, endpoint: &Endpoint) -> Result<(), ApiError> {
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let mime = req.mime();
    if mime == "application/json" || (mime.ends_with("+json") && mime.contains('/')) {
        return Ok(());
    }
    let declared = match endpoint.doc {
        Doc::Op(op) => match op.body {
            Body::JsonOrForm(_) => Some("application/x-www-form-urlencoded"),
            Body::Raw(media) => Some(media),
            _ => None,
        },
        _ => None,
    };
    if declared.is_some_and(|d| d == mime) {
        return Ok(());
    }
    Err(ApiError::UnsupportedMediaType)
}

pub fn check(req: &ApiRequest) -> Result<(), ApiError> {
    if req.oversize || req.body.len() > MAX_BODY_BYTES {
        Err(ApiError::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        })
    } else {
        Ok(())
    }
}
