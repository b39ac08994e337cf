//! `/api/v1/members`: list the organization's members (any role) and add an
//! ACTIVE member directly (ADMIN+, ADMINs only by an OWNER).

use http::Method;
use shared::http::ApiResponse;
use shared::members::{self, NewMember};
use shared::runtime::{Ctx, HandlerResult};
use shared::ApiError;

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
