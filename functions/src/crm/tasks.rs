//! Tasks: things to do, optionally assigned and related to a CRM record.

use bson::{doc, DateTime, Document};
use shared::db::collections;
use shared::error::{ApiError, Code};
use shared::fields::{Field, Kind};
use shared::records::{Entity, Filter, ListSpec};

pub static TASK: Entity = Entity {
    collection: crate::crm::collections::TASKS,
    resource: "task",
    list: ListSpec {
        sort_fields: &["createdAt", "updatedAt", "title"],
        default_sort: "-createdAt",
        search_fields: &["title"],
        filters: &[
            Filter::text("status"),
            Filter::id("assignedTo"),
            Filter::custom_flag("overdue", "dueAt", overdue, "Still open with dueAt past."),
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
                ("account", crate::crm::collections::ACCOUNTS),
                ("contact", crate::crm::collections::CONTACTS),
                ("lead", crate::crm::collections::LEADS),
                ("opportunity", crate::crm::collections::OPPORTUNITIES),
            ]),
        ),
    ],
    ..Entity::DEFAULTS
};

/// `overdue=true`: due before now and still OPEN.
fn overdue(value: &str) -> Result<Document, ApiError> {
    if value != "true" {
        return Err(ApiError::bad_field(
            Code::InvalidParameter,
            "overdue",
            "only overdue=true is supported",
        ));
    }
    Ok(doc! { "dueAt": { "$lt": DateTime::now() }, "status": "OPEN" })
}
