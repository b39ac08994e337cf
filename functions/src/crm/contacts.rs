//! Contacts: the people at an account (or on their own), with their email
//! consent (`crate::crm::consent`).

use shared::fields::{Field, Kind};
use shared::records::{Entity, Filter, ListSpec};

pub static CONTACT: Entity = Entity {
    collection: crate::crm::collections::CONTACTS,
    resource: "contact",
    list: ListSpec {
        sort_fields: &["createdAt", "updatedAt", "lastName"],
        default_sort: "-createdAt",
        search_fields: &["firstName", "lastName", "email"],
        filters: &[
            Filter::id("accountId"),
            Filter::element("tag", "tags"),
            Filter::text("type"),
        ],
    },
    fields: &[
        Field::required("firstName", Kind::Text { min: 1, max: 100 }),
        Field::required("lastName", Kind::Text { min: 1, max: 100 }),
        Field::optional("email", Kind::Email),
        Field::optional("phone", Kind::Phone),
        Field::optional("mobile", Kind::Phone),
        Field::optional("position", Kind::Text { min: 0, max: 100 }),
        Field::optional("accountId", Kind::Ref(crate::crm::collections::ACCOUNTS)),
        Field::optional("tags", Kind::Tags),
        Field::optional(
            "type",
            Kind::Enum {
                values: &["CUSTOMER", "PARTNER", "VENDOR", "PROSPECT"],
                default: None,
            },
        ),
        Field::optional(
            "emailConsent",
            Kind::Object(crate::crm::consent::EMAIL_CONSENT),
        ),
    ],
    importable: true,
    prepare: Some(|scope, write, fields| {
        Box::pin(crate::crm::consent::rules(scope, write, fields))
    }),
    ..Entity::DEFAULTS
};
