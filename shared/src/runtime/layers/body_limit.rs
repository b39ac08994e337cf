//! Layer 3: a body over [`MAX_BODY_BYTES`] is a 413 before any work (the
//! adapters stop reading at the limit and mark the request oversize).

use crate::error::ApiError;
use crate::http::{ApiRequest, MAX_BODY_BYTES};

pub fn check(req: &ApiRequest) -> Result<(), ApiError> {
    if req.oversize || req.body.len() > MAX_BODY_BYTES {
        Err(ApiError::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        })
    } else {
        Ok(())
    }
}
