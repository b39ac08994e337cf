//! Accounts, the first CRM entity: a declaration over `shared::records`,
//! which supplies list, get, create, update, soft delete and restore.
//!
//! Fields: `name` (required, 1-200 characters), `industry`, `website`,
//! `email`, `phone`, `address {street, city, postalCode, country}`, `notes`.
//! An empty string clears an optional field, like `null`.

use serde::Deserialize;
use shared::bson::{doc, Bson, Document};
use shared::error::FieldError;
use shared::records::{Changes, Entity, ListSpec};
use shared::validate::{self, Email, Errors, Patch};
use shared::ApiError;

pub struct Account;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AccountInput {
    name: String,
    industry: Option<String>,
    website: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    address: Option<AddressInput>,
    notes: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AddressInput {
    street: Option<String>,
    city: Option<String>,
    postal_code: Option<String>,
    country: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AccountPatch {
    #[serde(default)]
    name: Patch<String>,
    #[serde(default)]
    industry: Patch<String>,
    #[serde(default)]
    website: Patch<String>,
    #[serde(default)]
    email: Patch<String>,
    #[serde(default)]
    phone: Patch<String>,
    #[serde(default)]
    address: Patch<AddressInput>,
    #[serde(default)]
    notes: Patch<String>,
}

/// One optional field's validation: `None` for an empty value.
type Rule = fn(&str, &str) -> Result<String, FieldError>;

fn industry(f: &str, v: &str) -> Result<String, FieldError> {
    validate::text(f, v, 0, 100)
}
fn email(f: &str, v: &str) -> Result<String, FieldError> {
    Email::parse(f, v).map(Email::into_inner)
}
fn notes(f: &str, v: &str) -> Result<String, FieldError> {
    validate::multiline(f, v, 10_000)
}
fn address_line(f: &str, v: &str) -> Result<String, FieldError> {
    validate::text(f, v, 0, 200)
}

const OPTIONAL: [(&str, Rule); 4] = [
    ("industry", industry),
    ("website", validate::url),
    ("email", email),
    ("phone", validate::phone),
];

fn address(errors: &mut Errors, a: &AddressInput) -> Option<Document> {
    let mut out = Document::new();
    for (key, value) in [
        ("street", &a.street),
        ("city", &a.city),
        ("postalCode", &a.postal_code),
        ("country", &a.country),
    ] {
        if let Some(v) = value.as_deref().filter(|v| !v.trim().is_empty()) {
            if let Some(clean) = errors.check(address_line(&format!("address.{key}"), v)) {
                out.insert(key, clean);
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

fn name(errors: &mut Errors, v: &str) -> Option<String> {
    errors.check(validate::text("name", v, 1, 200))
}

impl Entity for Account {
    const COLLECTION: &'static str = "accounts";
    const RESOURCE: &'static str = "account";
    const LIST: ListSpec = ListSpec {
        sort_fields: &["createdAt", "updatedAt", "name"],
        default_sort: "-createdAt",
        search_fields: &["name"],
        filters: &["industry"],
    };
    type Create = AccountInput;
    type Patch = AccountPatch;

    fn create(input: AccountInput) -> Result<Document, ApiError> {
        let mut errors = Errors::new();
        let mut fields = Document::new();
        if let Some(n) = name(&mut errors, &input.name) {
            fields.insert("name", n);
        }
        let values = [&input.industry, &input.website, &input.email, &input.phone];
        for ((field, rule), value) in OPTIONAL.iter().zip(values) {
            if let Some(v) = value.as_deref().filter(|v| !v.trim().is_empty()) {
                if let Some(clean) = errors.check(rule(field, v)) {
                    fields.insert(*field, clean);
                }
            }
        }
        if let Some(a) = input.address.as_ref().and_then(|a| address(&mut errors, a)) {
            fields.insert("address", a);
        }
        if let Some(v) = input.notes.as_deref().filter(|v| !v.trim().is_empty()) {
            if let Some(clean) = errors.check(notes("notes", v)) {
                fields.insert("notes", clean);
            }
        }
        errors.finish()?;
        Ok(fields)
    }

    fn patch(input: AccountPatch) -> Result<Changes, ApiError> {
        let mut errors = Errors::new();
        let mut changes = Changes::default();
        match &input.name {
            Patch::Absent => {}
            Patch::Null => errors.push(FieldError::new("name", "cannot be cleared")),
            Patch::Value(v) => {
                if let Some(n) = name(&mut errors, v) {
                    changes.set.insert("name", n);
                }
            }
        }
        let values = [&input.industry, &input.website, &input.email, &input.phone];
        let optional = OPTIONAL
            .iter()
            .zip(values)
            .map(|((f, rule), v)| (*f, *rule, v))
            .chain([("notes", notes as Rule, &input.notes)]);
        for (field, rule, value) in optional {
            match value {
                Patch::Absent => {}
                Patch::Value(v) if !v.trim().is_empty() => {
                    if let Some(clean) = errors.check(rule(field, v)) {
                        changes.set.insert(field, clean);
                    }
                }
                _ => changes.unset.push(field.into()),
            }
        }
        match &input.address {
            Patch::Absent => {}
            Patch::Value(a) => match address(&mut errors, a) {
                Some(d) => {
                    changes.set.insert("address", Bson::Document(d));
                }
                None => changes.unset.push("address".into()),
            },
            Patch::Null => changes.unset.push("address".into()),
        }
        errors.finish()?;
        Ok(changes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(json: &str) -> Result<Document, ApiError> {
        Account::create(serde_json::from_str(json).unwrap())
    }

    #[test]
    fn an_account_needs_a_name_of_1_to_200_characters() {
        assert!(create(r#"{"name": " "}"#).is_err());
        assert!(create(&format!(r#"{{"name": "{}"}}"#, "a".repeat(201))).is_err());
        assert_eq!(
            create(r#"{"name": " Garage "}"#).unwrap(),
            doc! { "name": "Garage" }
        );
    }

    #[test]
    fn every_invalid_field_is_reported_at_once() {
        let err = create(
            r#"{"name": "", "email": "nope", "website": "ftp://x", "address": {"city": "\u0000"}}"#,
        )
        .unwrap_err();
        let ApiError::Validation { errors } = err else {
            panic!("not a validation error")
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "website", "email", "address.city"]);
    }

    #[test]
    fn a_patch_with_null_or_empty_clears_an_optional_field() {
        let p: AccountPatch =
            serde_json::from_str(r#"{"industry": null, "phone": "", "notes": "x"}"#).unwrap();
        let c = Account::patch(p).unwrap();
        assert_eq!(c.unset, vec!["industry", "phone"]);
        assert_eq!(c.set, doc! { "notes": "x" });
    }

    #[test]
    fn a_patch_cannot_clear_the_name() {
        let p: AccountPatch = serde_json::from_str(r#"{"name": null}"#).unwrap();
        assert!(Account::patch(p).is_err());
    }
}
