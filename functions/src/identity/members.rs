//! Members of an organization (the `users` collection seen through a
//! [`Scope`]): listing, direct creation, role and status changes, removal.
//!
//! The rules: ADMINs manage VIEWERs and MEMBERs; anything that involves an
//! ADMIN or an OWNER is an OWNER's; nobody changes their own role or status
//! or removes themselves; an organization always keeps an ACTIVE OWNER.

use serde::Deserialize;
use serde_json::{json, Value};
use shared::bson::oid::ObjectId;
use shared::bson::{doc, DateTime, Document};

use shared::audit::{Action, AuditEntry};
use shared::auth::tokens::Ending;
use shared::auth::{password, User, UserStatus};
use shared::db::{collections, Scope};
use shared::error::Code;
use shared::error::{ApiError, FieldError};
use shared::http::ApiRequest;
use shared::ratelimit::LimitedAction;
use shared::rbac::{Permission, Role};
use shared::records::{self, Filter, ListSpec};
use shared::validate::{text, Email, Errors};

pub const LIST: ListSpec = ListSpec {
    sort_fields: &["createdAt", "email", "lastName"],
    default_sort: "createdAt",
    search_fields: &["email", "firstName", "lastName"],
    filters: &[Filter::text("role"), Filter::text("status")],
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
        .map(|d| shared::db::decode::<User>(d).map(|u| u.to_json()))
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
///
/// The address is the member's only once they prove it: the account is
/// emailed a verification link (queued in the creating transaction) and
/// cannot sign in until the link is followed (403 `EMAIL_NOT_VERIFIED`);
/// until then it does not hold the address, so its real owner can still
/// register or accept an invitation with it, which releases this account.
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
    // Its verification link is an email to someone else's address, like
    // an invitation's: the same cap per address, so creating and removing
    // a member in a loop floods no mailbox. (A workshop adding its staff
    // is not held to the day's invitation budget.)
    scope
        .spend_on(LimitedAction::InvitationEmail, email.as_str())
        .await?;
    let hash = password::hash(input.password, scope.config().bcrypt_cost).await?;
    let now = DateTime::now();
    let mut member = doc! {
        "email": email.as_str(), "passwordHash": hash, "firstName": &first, "lastName": &last,
        "role": role.as_str(), "status": UserStatus::Active.as_str(), "createdAt": now, "updatedAt": now,
        "createdBy": scope.caller().user.id, "lastLoginAt": null, "version": 1_i64,
        "emailVerified": false, "emailProofRequired": true,
    };
    let id = shared::bson::oid::ObjectId::new();
    member.insert("_id", id);
    let (verification, message) =
        super::flows::verification(scope.state(), id, scope.org_id(), email.as_str(), &first);
    let (member, email, role) = (&member, &email, role);
    let (verification, message) = (&verification, &message);
    let queued = scope
        .transaction(|tx| {
            Box::pin(async move {
                tx.insert_one(collections::USERS, member.clone()).await?;
                tx.insert_one(collections::EMAIL_VERIFICATIONS, verification.clone())
                    .await?;
                tx.audit(AuditEntry::new(Action::Create, "user").id(id).changes(
                    doc! { "email": email.as_str(), "role": role.as_str(), "status": UserStatus::Active.as_str(), "emailProofRequired": true },
                ))
                .await?;
                tx.queue_email(Some(id), message).await
            })
        })
        .await?;
    shared::email::deliver(scope.state(), &[queued]).await;
    let mut created = member.clone();
    created.insert("organizationId", scope.org_id());
    shared::db::decode(created)
}

fn parse_user(d: Document) -> Result<User, ApiError> {
    shared::db::decode(d)
}

async fn find_member(scope: &Scope, id: ObjectId) -> Result<User, ApiError> {
    let d = scope
        .collection(collections::USERS)
        .find_one(doc! { "_id": id })
        .await?
        .ok_or(ApiError::NotFound { resource: "member" })?;
    parse_user(d)
}

/// `GET /api/v1/members/{id}`.
pub async fn get(scope: &Scope, id: ObjectId) -> Result<User, ApiError> {
    find_member(scope, id).await
}

fn self_change() -> ApiError {
    ApiError::Unprocessable {
        code: Code::SelfChange,
        detail: "Nobody changes their own role or status, or removes themselves; ask another administrator".into(),
        errors: vec![],
    }
}

/// Who may manage `target` (and give it `new_role`): an ADMIN for roles up
/// to MEMBER, an OWNER when ADMINs or OWNERs are involved.
async fn require_manager_of(
    scope: &Scope,
    target: Role,
    new_role: Option<Role>,
) -> Result<(), ApiError> {
    let top = new_role.map_or(target, |r| r.max(target));
    let permission = if top >= Role::Admin {
        Permission::ManageOrganization
    } else {
        Permission::ManageMembers
    };
    scope.require(permission).await
}

/// Refuses a change that would leave the organization without an ACTIVE
/// OWNER (when `target` is one and would stop being one).
async fn keep_an_owner(scope: &Scope, target: &User) -> Result<(), ApiError> {
    if target.role != Role::Owner || target.status != UserStatus::Active {
        return Ok(());
    }
    let others = scope
        .collection(collections::USERS)
        .count(doc! { "role": Role::Owner.as_str(), "status": UserStatus::Active.as_str(), "_id": { "$ne": target.id } })
        .await?;
    if others == 0 {
        return Err(ApiError::conflict(
            Code::LastOwner,
            "This is the organization's last OWNER; transfer ownership first",
        ));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberPatch {
    pub role: Option<String>,
    pub status: Option<String>,
}

/// `PATCH /api/v1/members/{id}` `{role}` and/or `{status}`: change a role,
/// approve a PENDING member, deactivate or reactivate. Deactivation revokes
/// the member's refresh tokens; every change applies on their next request.
pub async fn update(scope: &Scope, id: ObjectId, input: MemberPatch) -> Result<User, ApiError> {
    // Another organization's member is a 404 whatever the body says.
    let target = find_member(scope, id).await?;
    let mut errors = Errors::new();
    let role = match input.role.as_deref().map(|r| (r, Role::parse(r))) {
        None => None,
        Some((_, Some(Role::Owner))) => {
            errors.push(FieldError::new(
                "role",
                "OWNER is given by transferring ownership",
            ));
            None
        }
        Some((_, Some(r))) => Some(r),
        Some(_) => {
            errors.push(FieldError::new(
                "role",
                "must be one of VIEWER, MEMBER, ADMIN",
            ));
            None
        }
    };
    let status = match input.status.as_deref().map(UserStatus::parse) {
        None => None,
        Some(Some(s)) if s != UserStatus::Pending => Some(s),
        Some(_) => {
            errors.push(FieldError::new("status", "must be ACTIVE or INACTIVE"));
            None
        }
    };
    errors.finish()?;
    if role.is_none() && status.is_none() {
        return Err(ApiError::Unprocessable {
            code: Code::NothingToUpdate,
            detail: "Send role or status".into(),
            errors: vec![],
        });
    }
    if target.id == scope.caller().user.id {
        return Err(self_change());
    }
    require_manager_of(scope, target.role, role).await?;
    let demoted = role.is_some_and(|r| r != Role::Owner);
    let deactivated = status == Some(UserStatus::Inactive);
    if demoted || deactivated {
        keep_an_owner(scope, &target).await?;
    }
    let now = DateTime::now();
    let mut set = doc! { "updatedAt": now };
    let mut changes = Document::new();
    if let Some(r) = role.filter(|r| *r != target.role) {
        set.insert("role", r.as_str());
        changes.insert(
            "role",
            doc! { "from": target.role.as_str(), "to": r.as_str() },
        );
    }
    if let Some(s) = status.filter(|s| *s != target.status) {
        set.insert("status", s.as_str());
        changes.insert(
            "status",
            doc! { "from": target.status.as_str(), "to": s.as_str() },
        );
    }
    if changes.is_empty() {
        return Ok(target);
    }
    let (set, changes) = (&set, &changes);
    let updated = scope
        .transaction(|tx| {
            Box::pin(async move {
                let updated = tx
                    .find_one_and_update(
                        collections::USERS,
                        doc! { "_id": id },
                        doc! { "$set": set.clone(), "$inc": { "version": 1_i64 } },
                    )
                    .await?
                    .ok_or(ApiError::NotFound { resource: "member" })?;
                if deactivated {
                    revoke_sessions(tx, id, now).await?;
                }
                tx.audit(
                    AuditEntry::new(Action::Update, "user")
                        .id(id)
                        .changes(changes.clone()),
                )
                .await?;
                Ok(updated)
            })
        })
        .await?;
    parse_user(updated)
}

/// Ends every session of the member, access tokens included, in `tx`.
async fn revoke_sessions(
    tx: &mut shared::db::Tx<'_>,
    user: ObjectId,
    now: DateTime,
) -> Result<u64, ApiError> {
    tx.end_all_sessions(Ending::User(user), "MEMBER_CHANGED", now)
        .await
}

/// `DELETE /api/v1/members/{id}`: removes the member and their sessions;
/// records they created stay, attributed to their id (the audit entry keeps
/// their email).
pub async fn remove(scope: &Scope, id: ObjectId) -> Result<(), ApiError> {
    let target = find_member(scope, id).await?;
    if target.id == scope.caller().user.id {
        return Err(self_change());
    }
    require_manager_of(scope, target.role, None).await?;
    keep_an_owner(scope, &target).await?;
    let target = &target;
    scope
        .transaction(|tx| {
            Box::pin(async move {
                let now = DateTime::now();
                if !tx
                    .delete_one(collections::USERS, doc! { "_id": id })
                    .await?
                {
                    return Err(ApiError::NotFound { resource: "member" });
                }
                revoke_sessions(tx, id, now).await?;
                tx.audit(AuditEntry::new(Action::Delete, "user").id(id).changes(doc! {
            "email": &target.email, "role": target.role.as_str(), "status": target.status.as_str(),
        }))
        .await?;
                Ok(())
            })
        })
        .await
}
