//! `/api/v1/invitations`: invite by email (ADMIN+; ADMINs only by an OWNER),
//! list pending invitations, revoke one, and accept one (no sign-in).

use http::Method;
use serde_json::json;
use shared::http::ApiResponse;
use shared::invitations::{self, Acceptance, NewInvitation};
use shared::runtime::{ok, Ctx, HandlerResult};
use shared::ApiError;

/// `GET` and `POST /api/v1/invitations`.
pub async fn collection(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    match ctx.req.method {
        Method::GET => {
            let data: Vec<_> = invitations::list(scope)
                .await?
                .iter()
                .map(invitations::to_json)
                .collect();
            ok(json!({ "data": data, "nextCursor": null }))
        }
        Method::POST => {
            let input: NewInvitation = ctx.req.json()?;
            let (invitation, token) = invitations::create(scope, input).await?;
            let mut body = invitations::to_json(&invitation);
            body["token"] = json!(token);
            let mut r = ApiResponse::created(&body);
            r.set_header("cache-control", "no-store");
            Ok(r)
        }
        _ => Err(ApiError::internal("unrouted method")),
    }
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
    Ok(crate::auth::signed_in(session, http::StatusCode::CREATED))
}
