//! `/api/v1/members`: list the organization's members (any role), add an
//! ACTIVE member directly (ADMIN+, ADMINs only by an OWNER), and read, change
//! or remove one member (`crate::identity::members` holds the rules).

use crate::identity::members::{self, MemberPatch, NewMember};
use shared::http::ApiResponse;
use shared::runtime::{Ctx, HandlerResult};

/// `GET /api/v1/members`.
pub async fn list(ctx: Ctx) -> HandlerResult {
    Ok(ApiResponse::ok(
        &members::list(ctx.scope()?, &ctx.req).await?,
    ))
}

/// `POST /api/v1/members`.
pub async fn create(ctx: Ctx) -> HandlerResult {
    let input: NewMember = ctx.req.json()?;
    let user = members::create(ctx.scope()?, input).await?;
    let mut r = ApiResponse::created(&user.to_json());
    r.set_header("location", &format!("/api/v1/members/{}", user.id.to_hex()));
    Ok(r)
}

/// `GET /api/v1/members/{id}`.
pub async fn get(ctx: Ctx) -> HandlerResult {
    let member = members::get(ctx.scope()?, ctx.path_id()?).await?;
    Ok(ApiResponse::ok(&member.to_json()))
}

/// `PATCH /api/v1/members/{id}`: role and status.
pub async fn update(ctx: Ctx) -> HandlerResult {
    let input: MemberPatch = ctx.req.json()?;
    let member = members::update(ctx.scope()?, ctx.path_id()?, input).await?;
    Ok(ApiResponse::ok(&member.to_json()))
}

/// `DELETE /api/v1/members/{id}`.
pub async fn remove(ctx: Ctx) -> HandlerResult {
    members::remove(ctx.scope()?, ctx.path_id()?).await?;
    Ok(ApiResponse::no_content())
}
