//! `/api/v1/members`: list the organization's members (any role), add an
//! ACTIVE member directly (ADMIN+, ADMINs only by an OWNER), and read, change
//! or remove one member (`shared::members` holds the rules).

use http::Method;
use shared::http::ApiResponse;
use shared::members::{self, MemberPatch, NewMember};
use shared::runtime::{Ctx, HandlerResult};
use shared::ApiError;

/// `GET` and `POST /api/v1/members`.
pub async fn handle(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    match ctx.req.method {
        Method::GET => Ok(ApiResponse::ok(&members::list(scope, &ctx.req).await?)),
        Method::POST => {
            let input: NewMember = ctx.req.json()?;
            let user = members::create(scope, input).await?;
            let mut r = ApiResponse::created(&user.to_json());
            r.set_header("location", &format!("/api/v1/members/{}", user.id.to_hex()));
            Ok(r)
        }
        _ => Err(ApiError::internal("unrouted method")),
    }
}

/// `GET`, `PATCH` and `DELETE /api/v1/members/{id}`.
pub async fn item(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let id = ctx.path_id()?;
    match ctx.req.method {
        Method::GET => Ok(ApiResponse::ok(&members::get(scope, id).await?.to_json())),
        Method::PATCH => {
            let input: MemberPatch = ctx.req.json()?;
            Ok(ApiResponse::ok(
                &members::update(scope, id, input).await?.to_json(),
            ))
        }
        Method::DELETE => {
            members::remove(scope, id).await?;
            Ok(ApiResponse::no_content())
        }
        _ => Err(ApiError::internal("unrouted method")),
    }
}
