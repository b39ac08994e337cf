//! Layer 5: the bearer token becomes a [`Caller`], re-reading the user and
//! the organization (see [`crate::auth`]); 401 or 403 otherwise.

use crate::auth::{self, Caller};
use crate::error::ApiError;
use crate::http::ApiRequest;
use crate::state::State;

pub async fn caller(state: &State, req: &ApiRequest) -> Result<Caller, ApiError> {
    auth::authenticate(state, req).await
}
