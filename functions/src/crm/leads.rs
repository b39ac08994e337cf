//! Leads: prospective customers, from the website, referrals, the phone or the counter.

use shared::db::collections;
use shared::fields::{Field, Kind};
use shared::records::{Entity, Filter, ListSpec};

shared::words! {
    /// Where a lead stands; only its conversion makes it CONVERTED.
    pub enum Status {
        New = "NEW",
        Contacted = "CONTACTED",
        Qualified = "QUALIFIED",
        Lost = "LOST",
        Converted = "CONVERTED",
    }
}

pub static LEAD: Entity = Entity {
    collection: crate::crm::collections::LEADS,
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
                values: Status::NAMES,
                default: Some(Status::New.as_str()),
            },
        )
        // Only the conversion sets CONVERTED, and a converted lead stays so.
        .reserved(&[Status::Converted.as_str()]),
        Field::optional("productId", Kind::Ref(crate::crm::collections::PRODUCTS)),
        Field::optional("assignedTo", Kind::Ref(collections::USERS)),
    ],
    importable: true,
    ..Entity::DEFAULTS
};

pub mod convert {
    //! `POST /api/v1/leads/{id}/convert`: turns a lead into an account, a
    //! contact and, when asked, an opportunity, and marks the lead CONVERTED,
    //! all in one transaction. Converting twice is a 409.

    use serde_json::{json, Value};
    use shared::audit::{Action, AuditEntry};
    use shared::bson::{doc, DateTime, Document};
    use shared::error::{id_of, Code, FieldError};
    use shared::fields::parse_create;
    use shared::rbac::Permission;
    use shared::records::{check_references, find_live, new_record, render};
    use shared::runtime::{ok, Ctx, HandlerResult};
    use shared::validate::{self, Errors};
    use shared::ApiError;

    use crate::crm::accounts::ACCOUNT;
    use crate::crm::opportunities::OPPORTUNITY;

    use super::Status;

    pub async fn handle(ctx: Ctx) -> HandlerResult {
        let scope = ctx.scope()?;
        let id = ctx.path_id()?;
        let body: Value = ctx.req.json_or_empty()?;
        let lead = find_live(scope, &super::LEAD, id).await?;
        super::LEAD
            .require_own_or(scope, &lead, Permission::UpdateAnyRecord)
            .await?;
        if Status::in_field(&lead, "status") == Some(Status::Converted) {
            return Err(ApiError::conflict(
                Code::AlreadyConverted,
                "This lead has already been converted",
            ));
        }
        let obj = body
            .as_object()
            .ok_or_else(|| ApiError::field("body", "must be a JSON object"))?;
        let mut errors = Errors::new();
        for key in obj
            .keys()
            .filter(|k| *k != "accountName" && *k != "opportunity")
        {
            errors.push(FieldError::new(key.clone(), "is not a known field"));
        }
        let text = |k: &str| {
            lead.get_str(k)
                .ok()
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let person = format!(
            "{} {}",
            text("firstName").unwrap_or_default(),
            text("lastName").unwrap_or_default()
        );
        let account_name = match obj.get("accountName") {
            Some(Value::String(n)) => errors.check(validate::text("accountName", n, 1, 200)),
            Some(Value::Null) | None => {
                Some(text("company").unwrap_or_else(|| person.trim().to_string()))
            }
            Some(_) => {
                errors.push(FieldError::new("accountName", "must be a string"));
                None
            }
        };
        errors.finish()?;
        let opportunity = match obj.get("opportunity") {
            None | Some(Value::Null) => None,
            Some(v) => {
                let (mut fields, refs) =
                    parse_create(OPPORTUNITY.fields, v).map_err(nest("opportunity"))?;
                check_references(scope, &refs).await?;
                fields.remove("accountId");
                Some(fields)
            }
        };

        let mut account_fields = doc! { "name": account_name.unwrap_or_default() };
        for k in ["email", "phone"] {
            if let Some(v) = text(k) {
                account_fields.insert(k, v);
            }
        }
        let account = new_record(scope, &account_fields);
        let account_id = id_of(&account, "account")?;
        let mut contact_fields = doc! { "firstName": text("firstName").unwrap_or_default(), "lastName": text("lastName").unwrap_or_default(), "accountId": account_id };
        for k in ["email", "phone"] {
            if let Some(v) = text(k) {
                contact_fields.insert(k, v);
            }
        }
        let contact = new_record(scope, &contact_fields);
        let opportunity = opportunity.map(|mut f| {
            f.insert("accountId", account_id);
            new_record(scope, &f)
        });
        let created: Vec<(&'static str, &'static str, &Document)> = [
            Some((
                crate::crm::collections::ACCOUNTS,
                ACCOUNT.resource,
                &account,
            )),
            Some((crate::crm::collections::CONTACTS, "contact", &contact)),
            opportunity.as_ref().map(|o| {
                (
                    crate::crm::collections::OPPORTUNITIES,
                    OPPORTUNITY.resource,
                    o,
                )
            }),
        ]
        .into_iter()
        .flatten()
        .collect();
        let ids: Vec<_> = created
            .iter()
            .filter_map(|(_, _, d)| d.get_object_id("_id").ok())
            .collect();
        let (Some(account_ref), Some(contact_ref)) = (ids.first(), ids.get(1)) else {
            return Err(ApiError::internal("conversion records without ids"));
        };
        let mut converted = doc! {
            "status": Status::Converted, "convertedAt": DateTime::now(), "updatedAt": DateTime::now(),
            "convertedAccountId": account_ref, "convertedContactId": contact_ref,
        };
        if let Some(o) = ids.get(2) {
            converted.insert("convertedOpportunityId", *o);
        }
        let (created, converted) = (&created, &converted);
        let lead = scope
            .transaction(|tx| {
                Box::pin(async move {
                    for (collection, _, record) in created {
                        tx.insert_one(collection, (*record).clone()).await?;
                    }
                    for (_, resource, record) in created {
                        tx.announce(&format!("{resource}.created"), &render(record));
                        let id = id_of(record, "record")?;
                        tx.audit(
                            AuditEntry::new(Action::Create, resource)
                                .id(id)
                                .changes(doc! { "via": "lead-conversion" }),
                        )
                        .await?;
                    }
                    let lead = tx
                        .find_one_and_update(
                            crate::crm::collections::LEADS,
                            doc! { "_id": id, "deletedAt": null, "status": { "$ne": Status::Converted } },
                            doc! { "$set": converted.clone(), "$inc": { "version": 1_i64 } },
                        )
                        .await?
                        .ok_or_else(|| {
                            ApiError::conflict(
                                Code::AlreadyConverted,
                                "This lead has already been converted",
                            )
                        })?;
                    tx.audit(
                        AuditEntry::new(Action::Update, "lead")
                            .id(id)
                            .changes(doc! { "status": { "to": Status::Converted } }),
                    )
                    .await?;
                    tx.announce("lead.updated", &render(&lead));
                    Ok(lead)
                })
            })
            .await?;
        ok(json!({
            "lead": render(&lead),
            "account": render(&account),
            "contact": render(&contact),
            "opportunity": opportunity.as_ref().map(render),
        }))
    }

    /// Prefixes the field names of a nested body's validation errors.
    fn nest(prefix: &'static str) -> impl Fn(ApiError) -> ApiError {
        move |e| match e {
            ApiError::Validation { errors } => ApiError::Validation {
                errors: errors
                    .into_iter()
                    .map(|f| FieldError::new(format!("{prefix}.{}", f.field), f.message))
                    .collect(),
            },
            other => other,
        }
    }
}
