//! Products: the services, parts, labor and courses a workshop sells; `sku` is unique per organization.

use shared::fields::{Field, Kind};
use shared::records::{Entity, Filter, ListSpec};

pub static PRODUCT: Entity = Entity {
    collection: crate::crm::collections::PRODUCTS,
    resource: "product",
    list: ListSpec {
        sort_fields: &["createdAt", "updatedAt", "name"],
        default_sort: "-createdAt",
        search_fields: &["name", "sku"],
        filters: &[Filter::text("type"), Filter::boolean("active")],
    },
    fields: &[
        Field::required("name", Kind::Text { min: 1, max: 200 }),
        Field::required(
            "type",
            Kind::Enum {
                values: &["SERVICE", "PART", "LABOR", "COURSE"],
                default: None,
            },
        ),
        Field::optional("sku", Kind::Text { min: 1, max: 64 }),
        Field::optional("price", Kind::Money),
        Field::optional("currency", Kind::Currency),
        Field::optional(
            "active",
            Kind::Bool {
                default: Some(true),
            },
        ),
    ],
    unique: &["sku"],
    importable: true,
    ..Entity::DEFAULTS
};
