//! `/api/v1/organization` and its actions: read (any role), name and
//! settings and rate-limit status (ADMIN+), plan, soft delete and
//! ownership transfer (OWNER).

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

/// `GET /api/v1/organization/rate-limits` (ADMIN+): each of the
/// organization's buckets with its limit, used, remaining and reset time.
pub async fn rate_limits(ctx: Ctx) -> HandlerResult {
    let data = ctx.scope()?.rate_limits().await?;
    ok(serde_json::json!({ "data": data }))
}

/// `GET /api/v1/organization/usage` (OWNER): members, live records per
/// entity, stored documents and their bytes, and API requests in the
/// current window.
pub async fn usage(ctx: Ctx) -> HandlerResult {
    use shared::bson::doc;
    use shared::db::collections;
    let scope = ctx.scope()?;
    let members = scope
        .collection(collections::USERS)
        .count(doc! { "status": { "$ne": "REMOVED" } })
        .await?;
    let mut records = serde_json::Map::new();
    for (plural, entity) in crate::registry::ENTITY_PATHS.iter() {
        let n = scope
            .collection(entity.collection)
            .count(doc! { "deletedAt": null })
            .await?;
        records.insert(plural.to_string(), n.into());
    }
    let stored = scope
        .collection(collections::DOCUMENTS)
        .aggregate(vec![
            doc! { "$match": { "status": "UPLOADED", "deletedAt": null } },
            doc! { "$group": { "_id": null, "documents": { "$sum": 1 }, "bytes": { "$sum": "$size" } } },
        ])
        .await?;
    let total = |k: &str| {
        stored
            .first()
            .and_then(|d| shared::db::number(d, k))
            .unwrap_or(0)
    };
    let api = scope
        .rate_limit(shared::ratelimit::LimitedAction::Api)
        .await?;
    ok(serde_json::json!({
        "members": members,
        "records": records,
        "documents": total("documents"),
        "storedBytes": total("bytes"),
        "requestsThisWindow": api["used"],
        "requestLimit": api["limit"],
    }))
}
