//! `POST /api/v1/exports` and `POST /api/v1/imports` (ADMIN+): whole-entity
//! export as CSV or JSON and CSV import; [`rules`] decides.

pub mod contract;
pub mod routes;
pub mod rules;

use shared::db::Scope;
use shared::error::ApiError;
use shared::rbac::KeyScope;
use shared::runtime::{Ctx, HandlerResult};

use self::rules as transfer;
use self::rules::{ExportRequest, ImportRequest};

use crate::registry::{ENTITIES, ENTITY_PATHS};

pub async fn export(ctx: Ctx) -> HandlerResult {
    let input: ExportRequest = ctx.req.json()?;
    let scope = ctx.scope()?;
    entity_scope(scope, &input.entity, false).await?;
    transfer::export(scope, &ENTITIES, input).await
}

pub async fn import(ctx: Ctx) -> HandlerResult {
    let input: ImportRequest = ctx.req.json()?;
    let scope = ctx.scope()?;
    entity_scope(scope, &input.entity, true).await?;
    transfer::import(scope, &ENTITIES, input).await
}

/// An API key exports only what it may read and imports only what it may
/// write: beside the route's `exports:write` or `imports:write`, the
/// entity's own scope. (An unknown entity is the rules' 422.)
async fn entity_scope(scope: &Scope, collection: &str, write: bool) -> Result<(), ApiError> {
    let Some((plural, _)) = ENTITY_PATHS
        .iter()
        .find(|(_, e)| e.collection == collection)
    else {
        return Ok(());
    };
    scope
        .require_scope(if write {
            KeyScope::Write(plural)
        } else {
            KeyScope::Read(plural)
        })
        .await
}
