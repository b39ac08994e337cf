//! `/api/v1/invitations`: invite by email (ADMIN+; ADMINs only by an OWNER),
//! list pending invitations, revoke one, and accept one (no sign-in).

use crate::identity::invitations::{self, Acceptance, NewInvitation};
use serde_json::json;
use shared::error::Code;
use shared::http::ApiResponse;
use shared::rbac::Role;
use shared::runtime::{ok, Ctx, HandlerResult};
use shared::ApiError;

/// `GET /api/v1/invitations`: the pending ones.
pub async fn list(ctx: Ctx) -> HandlerResult {
    let data: Vec<_> = invitations::list(ctx.scope()?)
        .await?
        .iter()
        .map(invitations::to_json)
        .collect();
    ok(json!({ "data": data, "nextCursor": null }))
}

/// `POST /api/v1/invitations`: the invitee gets the link by email. The
/// one-time token is in the answer only for an OWNER who asks with
/// `?returnToken=true` (to hand it over another way); anyone else asking is
/// refused before anything is created.
pub async fn create(ctx: Ctx) -> HandlerResult {
    let input: NewInvitation = ctx.req.json()?;
    let scope = ctx.scope()?;
    let return_token = ctx
        .req
        .query
        .iter()
        .any(|(k, v)| k == "returnToken" && v == "true");
    if return_token && scope.caller().role != Role::Owner {
        return Err(ApiError::forbidden(
            Code::PermissionDenied,
            "Only an OWNER may ask for the invitation token (returnToken=true); the invitee gets it by email",
        ));
    }
    let (invitation, token) = invitations::create(scope, input, return_token).await?;
    let mut body = invitations::to_json(&invitation);
    if return_token {
        body["token"] = json!(token);
    }
    let mut r = ApiResponse::created(&body);
    r.set_header("cache-control", "no-store");
    Ok(r)
}

/// `DELETE /api/v1/invitations/{id}`: revokes a pending invitation.
pub async fn item(ctx: Ctx) -> HandlerResult {
    invitations::revoke(ctx.scope()?, ctx.path_id()?).await?;
    Ok(ApiResponse::no_content())
}

/// `POST /api/v1/invitations/accept` `{token, password, firstName, lastName}`.
pub async fn accept(ctx: Ctx) -> HandlerResult {
    let input: Acceptance = ctx.req.json()?;
    let session = invitations::accept(&ctx.state, input, &ctx.meta()).await?;
    Ok(super::auth::signed_in(session, http::StatusCode::CREATED))
}
