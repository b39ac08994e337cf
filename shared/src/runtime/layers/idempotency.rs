//! Layer 8: a POST with an `Idempotency-Key` answers a replay with the
//! stored response; a new key is reserved, and on the way out
//! ([`finish`]) the answer is stored under it (see [`crate::idempotency`]).

use crate::auth::Caller;
use crate::error::ApiError;
use crate::http::{ApiRequest, ApiResponse};
use crate::idempotency::{self, Begin, Pending};
use crate::state::State;

/// What the layer decided: answer with a replay, or run (holding the
/// reservation, if there was a key).
pub enum Start {
    Replay(ApiResponse),
    Run(Option<Pending>),
}

pub async fn start(state: &State, caller: &Caller, req: &ApiRequest) -> Result<Start, ApiError> {
    if req.method != http::Method::POST {
        return Ok(Start::Run(None));
    }
    let Some(key) = idempotency::key_of(req)? else {
        return Ok(Start::Run(None));
    };
    Ok(match idempotency::begin(state, caller, &key, req).await? {
        Begin::Replay(r) => Start::Replay(r),
        Begin::Run(p) => Start::Run(Some(p)),
    })
}

/// Stores the answer under the reserved key.
pub async fn finish(state: &State, pending: &Pending, response: &ApiResponse) {
    idempotency::complete(state, pending, response).await;
}
