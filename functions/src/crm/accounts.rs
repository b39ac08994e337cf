//! Accounts: the customers (companies or people) a workshop works with.
//! A customer may be exempt from tax (`taxExempt`, with the reason the
//! shop keeps on record, e.g. a resale certificate): the work orders opened
//! for it carry that exemption and bill no tax.

use shared::bson::Document;
use shared::db::Scope;
use shared::error::ApiError;
use shared::fields::{Field, Kind};
use shared::records::{Entity, Filter, ListSpec, Write};

const ADDRESS: &[Field] = &[
    Field::optional("street", Kind::Text { min: 0, max: 200 }),
    Field::optional("city", Kind::Text { min: 0, max: 200 }),
    Field::optional("postalCode", Kind::Text { min: 0, max: 200 }),
    Field::optional("country", Kind::Text { min: 0, max: 200 }),
];

pub static ACCOUNT: Entity = Entity {
    collection: crate::crm::collections::ACCOUNTS,
    resource: "account",
    list: ListSpec {
        sort_fields: &["createdAt", "updatedAt", "name"],
        default_sort: "-createdAt",
        search_fields: &["name"],
        filters: &[Filter::text("industry")],
    },
    fields: &[
        Field::required("name", Kind::Text { min: 1, max: 200 }),
        Field::optional("industry", Kind::Text { min: 0, max: 100 }),
        Field::optional("website", Kind::Url),
        Field::optional("email", Kind::Email),
        Field::optional("phone", Kind::Phone),
        Field::optional("address", Kind::Object(ADDRESS)),
        Field::optional("notes", Kind::Multiline { max: 10_000 }),
        Field::optional("taxExempt", Kind::Bool { default: None }),
        Field::optional("taxExemptReason", Kind::Text { min: 1, max: 500 }),
        // Whom the workshop's reminders are addressed to.
        Field::optional(
            "primaryContactId",
            Kind::Ref(crate::crm::collections::CONTACTS),
        ),
    ],
    importable: true,
    prepare: Some(|scope, write, fields| Box::pin(exemption_reason(scope, write, fields))),
    ..Entity::DEFAULTS
};

/// A tax-exempt account names why (422 on `taxExemptReason`), and only
/// ADMIN+ make or change an exemption (it takes the tax off every work
/// order opened for the account), on create, import and PATCH alike (the
/// rules read the record as the write leaves it).
async fn exemption_reason(
    scope: &Scope,
    write: Write<'_>,
    fields: &mut Document,
) -> Result<(), ApiError> {
    let changes = match write {
        Write::Create => {
            fields.get_bool("taxExempt").unwrap_or(false) || fields.contains_key("taxExemptReason")
        }
        Write::Update(before) => ["taxExempt", "taxExemptReason"]
            .iter()
            .any(|f| before.get(*f) != fields.get(*f)),
        Write::Restore | Write::Delete => false,
    };
    if changes {
        scope
            .require(shared::rbac::Permission::UpdateAnyRecord)
            .await?;
    }
    let exempt = fields.get_bool("taxExempt").unwrap_or(false);
    let reason = fields
        .get_str("taxExemptReason")
        .is_ok_and(|r| !r.is_empty());
    if exempt && !reason {
        return Err(ApiError::field(
            "taxExemptReason",
            "is required when taxExempt is true",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use shared::bson::doc;
    use shared::fields::{parse_create, parse_patch};
    use shared::ApiError;

    #[test]
    fn an_account_needs_a_name_of_1_to_200_characters() {
        assert!(parse_create(ACCOUNT.fields, &json!({ "name": " " })).is_err());
        assert!(parse_create(ACCOUNT.fields, &json!({ "name": "a".repeat(201) })).is_err());
        let (d, _) = parse_create(ACCOUNT.fields, &json!({ "name": " Garage " })).unwrap();
        assert_eq!(d, doc! { "name": "Garage" });
    }

    #[test]
    fn every_invalid_field_is_reported_at_once() {
        let body = json!({ "name": "", "email": "nope", "website": "ftp://x", "address": { "city": "\u{0}" } });
        let Err(ApiError::Validation { errors }) = parse_create(ACCOUNT.fields, &body) else {
            panic!("not a validation error")
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "website", "email", "address.city"]);
    }

    #[test]
    fn a_patch_with_null_or_empty_clears_an_optional_field() {
        let (c, _) = parse_patch(
            ACCOUNT.fields,
            &json!({ "industry": null, "phone": "", "notes": "x" }),
        )
        .unwrap();
        assert_eq!(c.unset, vec!["industry", "phone"]);
        assert_eq!(c.set, doc! { "notes": "x" });
    }

    #[test]
    fn a_patch_cannot_clear_the_name() {
        assert!(parse_patch(ACCOUNT.fields, &json!({ "name": null })).is_err());
    }
}
