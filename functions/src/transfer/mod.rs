//! `POST /api/v1/exports` and `POST /api/v1/imports` (ADMIN+): whole-entity
//! export as CSV or JSON and CSV import; [`rules`] decides.

pub mod contract;
pub mod routes;
pub mod rules;

use shared::runtime::{Ctx, HandlerResult};

use self::rules as transfer;
use self::rules::{ExportRequest, ImportRequest};

use crate::registry::ENTITIES;

pub async fn export(ctx: Ctx) -> HandlerResult {
    let input: ExportRequest = ctx.req.json()?;
    transfer::export(ctx.scope()?, &ENTITIES, input).await
}

pub async fn import(ctx: Ctx) -> HandlerResult {
    let input: ImportRequest = ctx.req.json()?;
    transfer::import(ctx.scope()?, &ENTITIES, input).await
}
