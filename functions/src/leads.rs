//! Leads: prospective customers, from the website, referrals, the phone or the counter.

use shared::db::collections;
use shared::fields::{Field, Kind};
use shared::records::{Entity, Filter, ListSpec};

pub static LEAD: Entity = Entity {
    collection: collections::LEADS,
    resource: "lead",
    list: ListSpec {
        sort_fields: &["createdAt", "updatedAt", "lastName"],
        default_sort: "-createdAt",
        search_fields: &["firstName", "lastName", "company", "email"],
        filters: &[
            Filter::text("status"),
            Filter::text("source"),
            Filter::id("assignedTo"),
            Filter::id("productId"),
        ],
    },
    fields: &[
        Field::required("firstName", Kind::Text { min: 1, max: 100 }),
        Field::required("lastName", Kind::Text { min: 1, max: 100 }),
        Field::optional("company", Kind::Text { min: 0, max: 200 }),
        Field::optional("email", Kind::Email),
        Field::optional("phone", Kind::Phone),
        Field::optional(
            "source",
            Kind::Enum {
                values: &["WEBSITE", "REFERRAL", "PHONE", "WALK_IN", "FORM", "OTHER"],
                default: None,
            },
        ),
        Field::optional(
            "status",
            Kind::Enum {
                values: &["NEW", "CONTACTED", "QUALIFIED", "LOST", "CONVERTED"],
                default: Some("NEW"),
            },
        ),
        Field::optional("productId", Kind::Ref(collections::PRODUCTS)),
        Field::optional("assignedTo", Kind::Ref(collections::USERS)),
    ],
};
