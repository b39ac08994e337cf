//! Layer 7: the caller's role against the permission the route declared.
//! A refusal is a 403 naming the permission and roles, with a
//! PERMISSION_DENIED audit entry (shaped as operators query it).

use crate::audit;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::rbac::Permission;
use crate::state::State;
use crate::store::RequestMeta;

pub async fn check(
    state: &State,
    caller: &Caller,
    meta: &RequestMeta,
    permission: Permission,
) -> Result<(), ApiError> {
    if permission.allows(caller.role) {
        Ok(())
    } else {
        Err(audit::denied(
            &state.db,
            caller.org.id,
            caller.user.id,
            caller.role,
            meta,
            permission,
        )
        .await)
    }
}
