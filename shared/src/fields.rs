//! Declarative record fields: an entity lists its fields with their kind,
//! and one implementation turns a JSON body into validated values (create)
//! or sets and clears (patch), reporting every invalid field at once.
//!
//! Rules shared by every entity: the body is a JSON object; unknown fields
//! are errors; an empty string clears an optional field like `null`; a
//! required field is never cleared; references to other records are
//! returned for the caller to check within the organization.

use bson::oid::ObjectId;
use bson::{Bson, DateTime, Document};
use serde_json::{Map, Value};

use crate::error::{ApiError, FieldError};
use crate::validate::{self, Email, Errors};

/// What a field holds and how it is checked.
pub enum Kind {
    /// Trimmed text of `min..=max` characters, one line.
    Text {
        min: usize,
        max: usize,
    },
    /// Text that may span lines, up to `max` characters.
    Multiline {
        max: usize,
    },
    Email,
    Url,
    Phone,
    /// One of `values`; `default` fills it on create when absent.
    Enum {
        values: &'static [&'static str],
        default: Option<&'static str>,
    },
    Integer {
        min: i64,
        max: i64,
    },
    /// Money in integer minor units (cents), 0 to 10^15.
    Money,
    /// ISO 4217 code, e.g. `EUR`.
    Currency,
    /// An RFC 3339 time, stored as a BSON date.
    DateTime,
    Bool {
        default: Option<bool>,
    },
    /// The id of a live record of `collection` in the same organization.
    Ref(&'static str),
    /// Up to 20 distinct tags of 1 to 50 characters.
    Tags,
    /// A nested object of optional fields.
    Object(&'static [Field]),
    /// `{type, id}` pointing at a record; `targets` maps each type to its collection.
    RelatedTo(&'static [(&'static str, &'static str)]),
    /// A kind a context declares for its own words (an identifier with a
    /// check digit, a registration): its check, sample and schemas.
    Custom(&'static Custom),
    /// A list of up to `max` objects, each of the fields `of` (like
    /// [`Kind::Object`], required fields enforced), e.g. a form's fields.
    Rows {
        of: &'static [Field],
        max: usize,
    },
    /// Up to 20 web origins (`https://example.com`, a port allowed, no
    /// path), stored lower-cased, e.g. where a form may be posted from.
    Origins,
}

/// A field kind declared outside the platform (see [`Kind::Custom`]).
pub struct Custom {
    /// Checks a request value: what to store, or the field's error (the
    /// field's name is the first argument).
    pub parse: fn(&str, &Value) -> Result<Bson, FieldError>,
    /// A valid value (the fixtures of the entity tests).
    pub sample: fn() -> Value,
    /// The JSON Schema of a request value (the OpenAPI document).
    pub schema: fn() -> Value,
    /// The JSON type a stored value renders as: `"string"` or `"integer"`.
    pub json_type: &'static str,
}

pub struct Field {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
    /// Values only the entity's own flow sets (a lead's CONVERTED): no
    /// create or patch body may send them, and a record holding one keeps
    /// this field as it is.
    pub reserved: &'static [&'static str],
}

impl Field {
    pub const fn required(name: &'static str, kind: Kind) -> Self {
        Self {
            name,
            kind,
            required: true,
            reserved: &[],
        }
    }

    pub const fn optional(name: &'static str, kind: Kind) -> Self {
        Self {
            name,
            kind,
            required: false,
            reserved: &[],
        }
    }

    /// Marks `values` as set by the entity's own flow only.
    pub const fn reserved(mut self, values: &'static [&'static str]) -> Self {
        self.reserved = values;
        self
    }

    fn refuse_reserved(&self, name: &str, value: &Bson) -> Result<(), FieldError> {
        match value {
            Bson::String(s) if self.reserved.contains(&s.as_str()) => Err(FieldError::new(
                name,
                format!("cannot be set to {s}: only its own action sets that"),
            )),
            _ => Ok(()),
        }
    }

    /// Refuses a change to this field of a record that holds a reserved value.
    pub fn check_locked(&self, before: &Document, changes: &Changes) -> Result<(), FieldError> {
        let touched =
            changes.set.contains_key(self.name) || changes.unset.iter().any(|u| u == self.name);
        match before.get_str(self.name) {
            Ok(current) if touched && self.reserved.contains(&current) => Err(FieldError::new(
                self.name,
                format!("cannot change: the record is {current}"),
            )),
            _ => Ok(()),
        }
    }
}

/// A reference found in a body: the field it came from, the collection it
/// must exist in, and the id.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    pub field: String,
    pub collection: &'static str,
    pub id: ObjectId,
}

/// Fields a PATCH sets and clears.
#[derive(Default, Debug)]
pub struct Changes {
    pub set: Document,
    pub unset: Vec<String>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.unset.is_empty()
    }
}

fn object(body: &Value) -> Result<&Map<String, Value>, ApiError> {
    body.as_object()
        .ok_or_else(|| ApiError::field("body", "must be a JSON object"))
}

fn check_unknown(path: &str, fields: &[Field], obj: &Map<String, Value>, errors: &mut Errors) {
    for key in obj.keys() {
        if !fields.iter().any(|f| f.name == key) {
            errors.push(FieldError::new(join(path, key), "is not a known field"));
        }
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

fn is_blank(v: &Value) -> bool {
    v.is_null() || v.as_str().is_some_and(|s| s.trim().is_empty())
}

/// Validates a create body: every required field present, defaults filled.
/// Whether a field holds a secret (its name ends in `Secret`, such as a
/// form's `turnstileSecret`): written by clients, never shown back (a
/// record shows `<name>Set: true|false`) and `[REDACTED]` in the audit log.
/// A JSON number that is a whole number: `12`, and `12.0` too (JSON has
/// one number type; a client's serializer may write either), up to 2^53
/// when written with a fraction part, where a double is still exact.
pub fn whole(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| {
        v.as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0)
            .map(|f| f as i64)
    })
}

pub fn is_secret(name: &str) -> bool {
    name.ends_with("Secret")
}

pub fn parse_create(
    fields: &[Field],
    body: &Value,
) -> Result<(Document, Vec<Reference>), ApiError> {
    let obj = object(body)?;
    let mut errors = Errors::new();
    let mut refs = vec![];
    let out = parse_object("", fields, obj, &mut errors, &mut refs, true);
    errors.finish()?;
    Ok((out, refs))
}

fn parse_object(
    path: &str,
    fields: &[Field],
    obj: &Map<String, Value>,
    errors: &mut Errors,
    refs: &mut Vec<Reference>,
    create: bool,
) -> Document {
    check_unknown(path, fields, obj, errors);
    let mut out = Document::new();
    for field in fields {
        let name = join(path, field.name);
        match obj.get(field.name).filter(|v| !is_blank(v)) {
            Some(v) => match errors.check(
                parse_value(&name, &field.kind, v, refs)
                    .and_then(|value| field.refuse_reserved(&name, &value).map(|()| value)),
            ) {
                // An object whose fields are all blank is as absent as a blank field.
                Some(Bson::Document(d)) if d.is_empty() => {}
                Some(value) => {
                    out.insert(field.name, value);
                }
                None => {}
            },
            None if field.required && create => errors.push(FieldError::new(name, "is required")),
            None if create => {
                if let Some(d) = default_of(&field.kind) {
                    out.insert(field.name, d);
                }
            }
            None => {}
        }
    }
    out
}

fn default_of(kind: &Kind) -> Option<Bson> {
    match kind {
        Kind::Enum {
            default: Some(d), ..
        } => Some(Bson::String(d.to_string())),
        Kind::Bool { default: Some(b) } => Some(Bson::Boolean(*b)),
        _ => None,
    }
}

/// Validates a patch body: absent fields stay, `null` or `""` clears an
/// optional field, a required field cannot be cleared.
pub fn parse_patch(fields: &[Field], body: &Value) -> Result<(Changes, Vec<Reference>), ApiError> {
    let obj = object(body)?;
    let mut errors = Errors::new();
    let mut refs = vec![];
    let mut changes = Changes::default();
    check_unknown("", fields, obj, &mut errors);
    for field in fields {
        match obj.get(field.name) {
            None => {}
            Some(v) if is_blank(v) => {
                if field.required {
                    errors.push(FieldError::new(field.name, "cannot be cleared"));
                } else {
                    changes.unset.push(field.name.to_string());
                }
            }
            Some(v) => {
                if let Some(value) =
                    errors.check(parse_value(field.name, &field.kind, v, &mut refs).and_then(
                        |value| field.refuse_reserved(field.name, &value).map(|()| value),
                    ))
                {
                    match value {
                        Bson::Document(d) if d.is_empty() => {
                            changes.unset.push(field.name.to_string())
                        }
                        value => {
                            changes.set.insert(field.name, value);
                        }
                    }
                }
            }
        }
    }
    errors.finish()?;
    Ok((changes, refs))
}

/// `v` as a string, else the field's error (for [`Custom`] kinds too).
pub fn string<'a>(name: &str, v: &'a Value) -> Result<&'a str, FieldError> {
    v.as_str()
        .ok_or_else(|| FieldError::new(name, "must be a string"))
}

fn parse_value(
    name: &str,
    kind: &Kind,
    v: &Value,
    refs: &mut Vec<Reference>,
) -> Result<Bson, FieldError> {
    Ok(match kind {
        Kind::Text { min, max } => {
            Bson::String(validate::text(name, string(name, v)?, *min, *max)?)
        }
        Kind::Multiline { max } => Bson::String(validate::multiline(name, string(name, v)?, *max)?),
        Kind::Email => Bson::String(Email::parse(name, string(name, v)?)?.into_inner()),
        Kind::Url => Bson::String(validate::url(name, string(name, v)?)?),
        Kind::Phone => Bson::String(validate::phone(name, string(name, v)?)?),
        Kind::Enum { values, .. } => {
            let s = string(name, v)?;
            if !values.contains(&s) {
                return Err(FieldError::new(
                    name,
                    format!("must be one of {}", values.join(", ")),
                ));
            }
            Bson::String(s.to_string())
        }
        Kind::Integer { min, max } => {
            let n = whole(v).filter(|n| (*min..=*max).contains(n));
            Bson::Int64(n.ok_or_else(|| {
                FieldError::new(name, format!("must be a whole number from {min} to {max}"))
            })?)
        }
        Kind::Money => {
            let n = whole(v).filter(|n| (0..=1_000_000_000_000_000).contains(n));
            Bson::Int64(n.ok_or_else(|| {
                FieldError::new(
                    name,
                    "must be a whole number of minor units (cents), 0 or more",
                )
            })?)
        }
        Kind::Currency => {
            let s = string(name, v)?;
            if s.len() != 3 || !s.chars().all(|c| c.is_ascii_uppercase()) {
                return Err(FieldError::new(
                    name,
                    "must be an ISO 4217 code such as EUR",
                ));
            }
            Bson::String(s.to_string())
        }
        Kind::DateTime => {
            let s = string(name, v)?;
            let d = DateTime::parse_rfc3339_str(s).map_err(|_| {
                FieldError::new(
                    name,
                    "must be an RFC 3339 time such as 2026-11-21T09:00:00Z",
                )
            })?;
            Bson::DateTime(d)
        }
        Kind::Bool { .. } => Bson::Boolean(
            v.as_bool()
                .ok_or_else(|| FieldError::new(name, "must be true or false"))?,
        ),
        Kind::Ref(collection) => {
            let id = parse_id(name, v)?;
            refs.push(Reference {
                field: name.to_string(),
                collection,
                id,
            });
            Bson::ObjectId(id)
        }
        Kind::Custom(custom) => (custom.parse)(name, v)?,
        Kind::Tags => {
            let items = v
                .as_array()
                .ok_or_else(|| FieldError::new(name, "must be an array of strings"))?;
            if items.len() > 20 {
                return Err(FieldError::new(name, "must have at most 20 tags"));
            }
            let mut tags: Vec<Bson> = vec![];
            for item in items {
                let t = validate::text(name, string(name, item)?, 1, 50)?.to_lowercase();
                if !tags.contains(&Bson::String(t.clone())) {
                    tags.push(Bson::String(t));
                }
            }
            Bson::Array(tags)
        }
        Kind::Rows { of, max } => {
            let items = v
                .as_array()
                .ok_or_else(|| FieldError::new(name, "must be an array of objects"))?;
            if items.len() > *max {
                return Err(FieldError::new(
                    name,
                    format!("must have at most {max} items"),
                ));
            }
            let mut rows = vec![];
            for (i, item) in items.iter().enumerate() {
                let path = format!("{name}[{i}]");
                let obj = item
                    .as_object()
                    .ok_or_else(|| FieldError::new(&path, "must be an object"))?;
                let mut errors = Errors::new();
                let d = parse_object(&path, of, obj, &mut errors, refs, true);
                if let Err(ApiError::Validation { errors }) = errors.finish() {
                    return Err(errors
                        .into_iter()
                        .next()
                        .unwrap_or_else(|| FieldError::new(&path, "is invalid")));
                }
                rows.push(Bson::Document(d));
            }
            Bson::Array(rows)
        }
        Kind::Origins => {
            let items = v
                .as_array()
                .ok_or_else(|| FieldError::new(name, "must be an array of origins"))?;
            if items.len() > 20 {
                return Err(FieldError::new(name, "must have at most 20 origins"));
            }
            let mut out: Vec<Bson> = vec![];
            for item in items {
                let o = validate::origin(name, string(name, item)?)?;
                if !out.contains(&Bson::String(o.clone())) {
                    out.push(Bson::String(o));
                }
            }
            Bson::Array(out)
        }
        Kind::Object(fields) => {
            let obj = v
                .as_object()
                .ok_or_else(|| FieldError::new(name, "must be an object"))?;
            let mut errors = Errors::new();
            let d = parse_object(name, fields, obj, &mut errors, refs, true);
            if let Err(ApiError::Validation { errors }) = errors.finish() {
                // Report the first nested problem at its own path.
                return Err(errors
                    .into_iter()
                    .next()
                    .unwrap_or_else(|| FieldError::new(name, "is invalid")));
            }
            Bson::Document(d)
        }
        Kind::RelatedTo(targets) => {
            let obj = v
                .as_object()
                .ok_or_else(|| FieldError::new(name, "must be an object {type, id}"))?;
            if let Some(k) = obj.keys().find(|k| *k != "type" && *k != "id") {
                return Err(FieldError::new(
                    format!("{name}.{k}"),
                    "is not a known field",
                ));
            }
            let ty = obj.get("type").and_then(Value::as_str).unwrap_or("");
            let collection = targets
                .iter()
                .find(|(t, _)| *t == ty)
                .map(|(_, c)| *c)
                .ok_or_else(|| {
                    let names: Vec<&str> = targets.iter().map(|(t, _)| *t).collect();
                    FieldError::new(
                        format!("{name}.type"),
                        format!("must be one of {}", names.join(", ")),
                    )
                })?;
            let id_name = format!("{name}.id");
            let id = parse_id(&id_name, obj.get("id").unwrap_or(&Value::Null))?;
            refs.push(Reference {
                field: id_name,
                collection,
                id,
            });
            Bson::Document(bson::doc! { "type": ty, "id": id })
        }
    })
}

/// A valid create body holding only the required fields, each with a
/// plain value of its kind: fixtures for tests and examples for clients. A
/// required reference has no such value (it must name a live record), so a
/// declaration with one has no sample.
pub fn sample(fields: &[Field]) -> Option<Value> {
    samples(fields.iter().filter(|f| f.required))
}

/// The sample values of `fields`; the n-th time is n hours after the
/// first, so a range (`startAt`, `endAt`) is a valid one.
fn samples<'f>(fields: impl Iterator<Item = &'f Field>) -> Option<Value> {
    let mut out = Map::new();
    let mut hour = 9;
    for f in fields {
        let value = match f.kind {
            Kind::DateTime => {
                hour += 1;
                Value::from(format!("2030-01-01T{:02}:00:00Z", hour - 1))
            }
            _ => sample_value(f)?,
        };
        out.insert(f.name.to_string(), value);
    }
    Some(Value::Object(out))
}

/// The required references of a declaration: (field, collection). With
/// one live record of each, [`sample_without_references`] plus their ids
/// is a valid create body.
pub fn required_references(fields: &[Field]) -> Vec<(&'static str, &'static str)> {
    fields
        .iter()
        .filter(|f| f.required)
        .filter_map(|f| match f.kind {
            Kind::Ref(collection) => Some((f.name, collection)),
            _ => None,
        })
        .collect()
}

/// [`sample`] without the required references (see [`required_references`]).
pub fn sample_without_references(fields: &[Field]) -> Option<Value> {
    samples(
        fields
            .iter()
            .filter(|f| f.required && !matches!(f.kind, Kind::Ref(_))),
    )
}

fn sample_value(f: &Field) -> Option<Value> {
    Some(match &f.kind {
        Kind::Text { min, max } => {
            let text = format!("Sample {}", f.name);
            let padded = format!("{text:x<width$}", width = *min);
            Value::from(padded.chars().take((*max).max(1)).collect::<String>())
        }
        Kind::Multiline { .. } => Value::from(format!("Sample {}", f.name)),
        Kind::Email => Value::from("sample@example.test"),
        Kind::Url => Value::from("https://example.test/"),
        Kind::Phone => Value::from("+49 30 1234567"),
        Kind::Enum { values, default } => {
            let allowed = |v: &&str| !f.reserved.contains(v);
            let chosen = default
                .filter(allowed)
                .or_else(|| values.iter().copied().find(allowed))?;
            Value::from(chosen)
        }
        Kind::Integer { min, max } => Value::from((1).clamp(*min, *max)),
        Kind::Money => Value::from(1000),
        Kind::Currency => Value::from("EUR"),
        Kind::DateTime => Value::from("2030-01-01T09:00:00Z"),
        Kind::Bool { .. } => Value::from(true),
        Kind::Tags => Value::from(vec!["sample"]),
        Kind::Custom(custom) => (custom.sample)(),
        Kind::Rows { of, .. } => Value::from(vec![sample(of)?]),
        Kind::Origins => Value::from(vec!["https://www.example.com"]),
        Kind::Object(sub) => sample(sub)?,
        Kind::Ref(_) | Kind::RelatedTo(_) => return None,
    })
}

fn parse_id(name: &str, v: &Value) -> Result<ObjectId, FieldError> {
    v.as_str()
        .filter(|s| s.len() == 24)
        .and_then(|s| ObjectId::parse_str(s).ok())
        .ok_or_else(|| FieldError::new(name, "must be a 24-character hex id"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ADDRESS: &[Field] = &[Field::optional("city", Kind::Text { min: 0, max: 100 })];
    const FIELDS: &[Field] = &[
        Field::required("name", Kind::Text { min: 1, max: 10 }),
        Field::optional(
            "status",
            Kind::Enum {
                values: &["OPEN", "DONE"],
                default: Some("OPEN"),
            },
        ),
        Field::optional("amount", Kind::Money),
        Field::optional("accountId", Kind::Ref("accounts")),
        Field::optional("address", Kind::Object(ADDRESS)),
        Field::optional("relatedTo", Kind::RelatedTo(&[("account", "accounts")])),
        Field::optional("tags", Kind::Tags),
        Field::optional("dueAt", Kind::DateTime),
    ];

    fn fields_of(r: Result<impl std::fmt::Debug, ApiError>) -> Vec<String> {
        match r {
            Err(ApiError::Validation { errors }) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn a_whole_number_may_be_written_with_a_zero_fraction() {
        assert_eq!(whole(&serde_json::json!(12)), Some(12));
        assert_eq!(whole(&serde_json::json!(12.0)), Some(12));
        assert_eq!(whole(&serde_json::json!(12.5)), None);
        assert_eq!(whole(&serde_json::json!(1e300)), None);
        assert_eq!(whole(&serde_json::json!("12")), None);
    }

    #[test]
    fn a_create_fills_defaults_and_collects_references() {
        let id = ObjectId::new();
        let (d, refs) = parse_create(
            FIELDS,
            &json!({ "name": " A ", "accountId": id.to_hex(), "tags": ["VIP", "vip", "x"] }),
        )
        .unwrap();
        assert_eq!(d.get_str("name").unwrap(), "A");
        assert_eq!(d.get_str("status").unwrap(), "OPEN");
        assert_eq!(d.get_array("tags").unwrap().len(), 2);
        assert_eq!(
            refs,
            vec![Reference {
                field: "accountId".into(),
                collection: "accounts",
                id
            }]
        );
    }

    #[test]
    fn every_bad_field_is_named_in_declaration_order() {
        let body = json!({ "status": "MAYBE", "amount": -1, "accountId": "x", "address": { "town": "y" }, "extra": 1 });
        assert_eq!(
            fields_of(parse_create(FIELDS, &body)),
            [
                "extra",
                "name",
                "status",
                "amount",
                "accountId",
                "address.town"
            ]
        );
    }

    #[test]
    fn an_operator_object_is_a_wrong_type_not_a_query() {
        assert_eq!(
            fields_of(parse_create(FIELDS, &json!({ "name": { "$gt": "" } }))),
            ["name"]
        );
    }

    #[test]
    fn related_to_needs_a_known_type_and_an_id() {
        let body = json!({ "name": "A", "relatedTo": { "type": "planet", "id": ObjectId::new().to_hex() } });
        assert_eq!(fields_of(parse_create(FIELDS, &body)), ["relatedTo.type"]);
        let body = json!({ "name": "A", "relatedTo": { "type": "account", "id": "nope" } });
        assert_eq!(fields_of(parse_create(FIELDS, &body)), ["relatedTo.id"]);
    }

    #[test]
    fn a_time_must_be_rfc_3339() {
        assert_eq!(
            fields_of(parse_create(
                FIELDS,
                &json!({ "name": "A", "dueAt": "tomorrow" })
            )),
            ["dueAt"]
        );
        assert!(parse_create(
            FIELDS,
            &json!({ "name": "A", "dueAt": "2026-11-21T09:00:00Z" })
        )
        .is_ok());
    }

    #[test]
    fn a_patch_sets_clears_and_refuses_to_clear_required_fields() {
        let (c, _) = parse_patch(
            FIELDS,
            &json!({ "status": "DONE", "amount": null, "tags": "" }),
        )
        .unwrap();
        assert_eq!(c.set, bson::doc! { "status": "DONE" });
        assert_eq!(c.unset, vec!["amount", "tags"]);
        assert_eq!(
            fields_of(parse_patch(FIELDS, &json!({ "name": null }))),
            ["name"]
        );
        assert!(parse_patch(FIELDS, &json!({})).unwrap().0.is_empty());
    }

    #[test]
    fn a_sample_body_passes_its_own_rules() {
        const SAMPLED: &[Field] = &[
            Field::required("name", Kind::Text { min: 12, max: 20 }),
            Field::required(
                "status",
                Kind::Enum {
                    values: &["CLOSED", "OPEN"],
                    default: None,
                },
            )
            .reserved(&["CLOSED"]),
            Field::required("count", Kind::Integer { min: 5, max: 9 }),
            Field::required("email", Kind::Email),
            Field::required("dueAt", Kind::DateTime),
            Field::optional("accountId", Kind::Ref("accounts")),
        ];
        let body = sample(SAMPLED).unwrap();
        assert!(parse_create(SAMPLED, &body).is_ok(), "{body}");
        assert_eq!(body["status"], "OPEN");
        assert!(sample(&[Field::required("accountId", Kind::Ref("accounts"))]).is_none());
    }

    #[test]
    fn a_body_that_is_not_an_object_is_refused() {
        assert_eq!(fields_of(parse_create(FIELDS, &json!(["name"]))), ["body"]);
    }
}
