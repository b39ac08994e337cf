//! Opportunities: deals in the pipeline, with an amount in minor units and its currency.

use shared::fields::{Field, Kind};
use shared::records::{Entity, Filter, ListSpec};

pub static OPPORTUNITY: Entity = Entity {
    collection: crate::crm::collections::OPPORTUNITIES,
    resource: "opportunity",
    list: ListSpec {
        sort_fields: &["createdAt", "updatedAt", "name"],
        default_sort: "-createdAt",
        search_fields: &["name"],
        filters: &[Filter::text("stage"), Filter::id("accountId")],
    },
    fields: &[
        Field::required("name", Kind::Text { min: 1, max: 200 }),
        Field::optional("accountId", Kind::Ref(crate::crm::collections::ACCOUNTS)),
        Field::optional(
            "stage",
            Kind::Enum {
                values: &[
                    "PROSPECTING",
                    "QUALIFICATION",
                    "PROPOSAL",
                    "NEGOTIATION",
                    "WON",
                    "LOST",
                ],
                default: Some("PROSPECTING"),
            },
        ),
        Field::optional("amount", Kind::Money),
        Field::optional("currency", Kind::Currency),
        Field::optional("closeDate", Kind::DateTime),
        Field::optional("probability", Kind::Integer { min: 0, max: 100 }),
    ],
    ..Entity::DEFAULTS
};

/// `GET /api/v1/opportunities/summary`: count and amount per stage and
/// currency, over the organization's live opportunities (an aggregation
/// pipeline; the scope adds the organization stage in front).
pub async fn summary(ctx: shared::runtime::Ctx) -> shared::runtime::HandlerResult {
    use shared::bson::doc;
    let rows = ctx
        .scope()?
        .collection(crate::crm::collections::OPPORTUNITIES)
        .aggregate(vec![
            doc! { "$match": { "deletedAt": null } },
            doc! { "$group": {
                "_id": { "stage": "$stage", "currency": "$currency" },
                "count": { "$sum": 1 },
                "amount": { "$sum": { "$ifNull": ["$amount", 0] } },
            } },
            doc! { "$sort": { "_id.stage": 1, "_id.currency": 1 } },
        ])
        .await?;
    let data: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            let key = r.get_document("_id").cloned().unwrap_or_default();
            serde_json::json!({
                "stage": key.get_str("stage").ok(),
                "currency": key.get_str("currency").ok(),
                "count": shared::db::number(r, "count").unwrap_or(0),
                "amount": shared::db::number(r, "amount").unwrap_or(0),
            })
        })
        .collect();
    shared::runtime::ok(serde_json::json!({ "data": data }))
}
