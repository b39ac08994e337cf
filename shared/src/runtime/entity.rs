//! An entity's routes as handlers: the record engine's operations
//! ([`crate::records`]) given the request's organization scope and path id.
//! Here, not in the engine, so that the engine (a lower layer) never names
//! the runtime that serves it.

use super::{Ctx, HandlerResult};
use crate::records::{self, Entity};

/// `GET /api/v1/<plural>`: one page of the list, or of a delta sync.
pub async fn handle_list(mut ctx: Ctx, e: &'static Entity) -> HandlerResult {
    let page = ctx.take_prefetched_page();
    records::list(&ctx.req, ctx.scope()?, e, page).await
}

/// `POST /api/v1/<plural>`: a new record.
pub async fn handle_create(ctx: Ctx, e: &'static Entity) -> HandlerResult {
    records::create(&ctx.req, ctx.scope()?, e).await
}

/// `GET /api/v1/<plural>/{id}`, its `ETag` the record's version.
pub async fn handle_get(mut ctx: Ctx, e: &'static Entity) -> HandlerResult {
    let before = ctx.take_prefetched();
    records::get(ctx.scope()?, e, ctx.path_id()?, before).await
}

/// `PATCH /api/v1/<plural>/{id}`.
pub async fn handle_update(mut ctx: Ctx, e: &'static Entity) -> HandlerResult {
    let before = ctx.take_prefetched();
    records::update(&ctx.req, ctx.scope()?, e, ctx.path_id()?, before).await
}

/// `DELETE /api/v1/<plural>/{id}`: a soft delete.
pub async fn handle_delete(ctx: Ctx, e: &'static Entity) -> HandlerResult {
    records::delete(ctx.scope()?, e, ctx.path_id()?).await
}

/// `POST /api/v1/<plural>/{id}/restore`.
pub async fn handle_restore(ctx: Ctx, e: &'static Entity) -> HandlerResult {
    records::restore(ctx.scope()?, e, ctx.path_id()?).await
}
