//! Members of an organization (the `users` collection seen through a
//! [`Scope`]): listing and direct creation by ADMINs and OWNERs.

use bson::{doc, DateTime};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::audit::{Action, AuditEntry};
use crate::auth::{password, User};
use crate::db::{collections, retry_transient, Scope};
use crate::error::{ApiError, FieldError};
use crate::http::ApiRequest;
use crate::rbac::{Permission, Role};
use crate::records::{self, ListSpec};
use crate::validate::{text, Email, Errors};

pub const LIST: ListSpec = ListSpec {
    sort_fields: &["createdAt", "email", "lastName"],
    default_sort: "createdAt",
    search_fields: &["email", "firstName", "lastName"],
    filters: &["role", "status"],
};

/// One page of the organization's members, without password hashes.
pub async fn list(scope: &Scope, req: &ApiRequest) -> Result<Value, ApiError> {
    let (docs, next) = records::page(
        req,
        scope,
        collections::USERS,
        &LIST,
        doc! {},
        Some(doc! { "passwordHash": 0 }),
    )
    .await?;
    let data = docs
        .into_iter()
        .map(|d| {
            bson::from_document::<User>(d)
                .map(|u| u.to_json())
                .map_err(|e| ApiError::internal(format!("user document: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json!({ "data": data, "nextCursor": next }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewMember {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub role: String,
    pub password: String,
}

/// Creates an ACTIVE member. ADMINs add VIEWERs and MEMBERs; only an OWNER
/// adds an ADMIN; OWNERs are made by transferring ownership, not here.
pub async fn create(scope: &Scope, input: NewMember) -> Result<User, ApiError> {
    let mut errors = Errors::new();
    let email = errors.check(Email::parse("email", &input.email));
    let first = errors.check(text("firstName", &input.first_name, 1, 100));
    let last = errors.check(text("lastName", &input.last_name, 1, 100));
    errors.check(password::check_new("password", &input.password));
    let role = match Role::parse(&input.role) {
        Some(Role::Owner) => {
            errors.push(FieldError::new(
                "role",
                "an OWNER cannot be added; transfer ownership instead",
            ));
            None
        }
        Some(r) => Some(r),
        None => {
            errors.push(FieldError::new(
                "role",
                "must be one of VIEWER, MEMBER, ADMIN",
            ));
            None
        }
    };
    errors.finish()?;
    let (Some(email), Some(first), Some(last), Some(role)) = (email, first, last, role) else {
        return Err(ApiError::internal("validated member input incomplete"));
    };
    if role == Role::Admin {
        scope.require(Permission::ManageOrganization).await?;
    }
    let hash = password::hash(input.password, scope.state().config.bcrypt_cost).await?;
    let now = DateTime::now();
    let mut member = doc! {
        "email": email.as_str(), "passwordHash": hash, "firstName": &first, "lastName": &last,
        "role": role.as_str(), "status": "ACTIVE", "createdAt": now, "updatedAt": now,
        "createdBy": scope.caller().user.id, "lastLoginAt": null, "version": 1_i64,
    };
    let id = bson::oid::ObjectId::new();
    member.insert("_id", id);
    let (member, email, role) = (&member, &email, role);
    retry_transient(|| async move {
        let mut tx = scope.begin().await?;
        tx.insert_one(collections::USERS, member.clone()).await?;
        tx.audit(
            AuditEntry::new(Action::Create, "user").id(id).changes(
                doc! { "email": email.as_str(), "role": role.as_str(), "status": "ACTIVE" },
            ),
        )
        .await?;
        tx.commit().await
    })
    .await?;
    let mut created = member.clone();
    created.insert("organizationId", scope.org_id());
    bson::from_document(created).map_err(|e| ApiError::internal(format!("user document: {e}")))
}
