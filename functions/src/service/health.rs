//! `GET /api/v1/health`: 200 when the database answers a ping, 503
//! problem+json within the configured database timeout when it does not.

use serde_json::json;
use shared::runtime::{ok, Ctx, HandlerResult};

pub async fn handle(ctx: Ctx) -> HandlerResult {
    ctx.state.ping().await?;
    ok(json!({ "status": "ok", "database": "ok" }))
}
