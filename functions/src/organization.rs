//! `/api/v1/organization` and its actions: read (any role), name and
//! settings (ADMIN+), plan, soft delete and ownership transfer (OWNER).

use http::Method;
use shared::http::ApiResponse;
use shared::organization::{self, DeleteInput, OrganizationPatch, PlanInput, TransferInput};
use shared::runtime::{ok, Ctx, HandlerResult};
use shared::ApiError;

/// `GET`, `PATCH` and `DELETE /api/v1/organization`.
pub async fn handle(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    match ctx.req.method {
        Method::GET => ok(scope.caller().org.to_json()),
        Method::PATCH => {
            let input: OrganizationPatch = ctx.req.json()?;
            ok(organization::update(scope, input).await?.to_json())
        }
        Method::DELETE => {
            let input: DeleteInput = ctx.req.json_or_empty()?;
            organization::delete(scope, input).await?;
            Ok(ApiResponse::no_content())
        }
        _ => Err(ApiError::internal("unrouted method")),
    }
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
