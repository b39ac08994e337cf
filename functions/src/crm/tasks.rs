//! Tasks: things to do, optionally assigned and related to a CRM record.

use shared::db::collections;
use shared::fields::{Field, Kind};
use shared::records::{Entity, Filter, ListSpec};

pub static TASK: Entity = Entity {
    collection: collections::TASKS,
    resource: "task",
    list: ListSpec {
        sort_fields: &["createdAt", "updatedAt", "title"],
        default_sort: "-createdAt",
        search_fields: &["title"],
        filters: &[
            Filter::text("status"),
            Filter::id("assignedTo"),
            Filter::overdue("dueAt"),
        ],
    },
    fields: &[
        Field::required("title", Kind::Text { min: 1, max: 200 }),
        Field::optional("description", Kind::Multiline { max: 5_000 }),
        Field::optional("dueAt", Kind::DateTime),
        Field::optional(
            "status",
            Kind::Enum {
                values: &["OPEN", "DONE"],
                default: Some("OPEN"),
            },
        ),
        Field::optional(
            "priority",
            Kind::Enum {
                values: &["LOW", "NORMAL", "HIGH", "URGENT"],
                default: Some("NORMAL"),
            },
        ),
        Field::optional("assignedTo", Kind::Ref(collections::USERS)),
        Field::optional(
            "relatedTo",
            Kind::RelatedTo(&[
                ("account", collections::ACCOUNTS),
                ("contact", collections::CONTACTS),
                ("lead", collections::LEADS),
                ("opportunity", collections::OPPORTUNITIES),
            ]),
        ),
    ],
    ..Entity::DEFAULTS
};
