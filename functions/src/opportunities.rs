//! Opportunities: deals in the pipeline, with an amount in minor units and its currency.

use shared::db::collections;
use shared::fields::{Field, Kind};
use shared::records::{Entity, Filter, ListSpec};

pub static OPPORTUNITY: Entity = Entity {
    collection: collections::OPPORTUNITIES,
    resource: "opportunity",
    list: ListSpec {
        sort_fields: &["createdAt", "updatedAt", "name"],
        default_sort: "-createdAt",
        search_fields: &["name"],
        filters: &[Filter::text("stage"), Filter::id("accountId")],
    },
    fields: &[
        Field::required("name", Kind::Text { min: 1, max: 200 }),
        Field::optional("accountId", Kind::Ref(collections::ACCOUNTS)),
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
};
