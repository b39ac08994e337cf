//! `/api/v1/organization` and its actions: read (any role), name and
//! settings (ADMIN+), plan, soft delete and ownership transfer (OWNER).

use crate::identity::organization::{
    self, DeleteInput, OrganizationPatch, PlanInput, TransferInput,
};
use shared::http::ApiResponse;
use shared::runtime::{ok, Ctx, HandlerResult};

/// `GET /api/v1/organization`.
pub async fn get(ctx: Ctx) -> HandlerResult {
    ok(ctx.scope()?.caller().org.to_json())
}

/// `PATCH /api/v1/organization`: name and settings.
pub async fn update(ctx: Ctx) -> HandlerResult {
    let input: OrganizationPatch = ctx.req.json()?;
    ok(organization::update(ctx.scope()?, input).await?.to_json())
}

/// `DELETE /api/v1/organization` `{confirm}`: deactivates and schedules the purge.
pub async fn delete(ctx: Ctx) -> HandlerResult {
    let input: DeleteInput = ctx.req.json_or_empty()?;
    organization::delete(ctx.scope()?, input).await?;
    Ok(ApiResponse::no_content())
}

/// `PUT /api/v1/organization/plan` `{plan}`.
pub async fn plan(ctx: Ctx) -> HandlerResult {
    let input: PlanInput = ctx.req.json()?;
    ok(organization::set_plan(ctx.scope()?, input).await?.to_json())
}

/// `POST /api/v1/organization/transfer-ownership` `{memberId}`.
pub async fn transfer_ownership(ctx: Ctx) -> HandlerResult {
    let input: TransferInput = ctx.req.json()?;
    ok(organization::transfer_ownership(ctx.scope()?, input)
        .await?
        .to_json())
}
