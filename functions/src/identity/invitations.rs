//! Invitations: an ADMIN (or, for ADMINs, an OWNER) invites an email with a
//! role; the invitee accepts with the one-time token and becomes an ACTIVE
//! member. Tokens are random, stored as SHA-256, valid 7 days, and consumed
//! atomically with the creation of the member.

use bson::oid::ObjectId;
use bson::{doc, DateTime, Document};
use serde::Deserialize;
use serde_json::{json, Value};

use shared::audit::{Action, AuditEntry};
use shared::auth::tokens::{self, hash_token};
use shared::auth::{password, rfc3339, User};
use shared::db::{collections, RequestMeta, Scope};
use shared::error::{id_of, ApiError, FieldError};
use shared::model::{InvitationStatus, UserStatus};
use shared::ratelimit::LimitedAction;
use shared::rbac::{Permission, Role};
use shared::state::State;
use shared::unscoped::{Purpose, Unscoped};
use shared::validate::{text, Email, Errors};

use super::flows::Session;
use shared::error::Code;
use shared::time::DAY_MS;

pub const VALID_DAYS: i64 = 7;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewInvitation {
    pub email: String,
    pub role: String,
}

/// An invitation as the API shows it (never its token hash).
pub fn to_json(d: &Document) -> Value {
    json!({
        "id": d.get_object_id("_id").map(|i| i.to_hex()).unwrap_or_default(),
        "email": d.get_str("email").unwrap_or_default(),
        "role": d.get_str("role").unwrap_or_default(),
        "status": d.get_str("status").unwrap_or_default(),
        "invitedBy": d.get_object_id("invitedBy").map(|i| i.to_hex()).ok(),
        "createdAt": d.get_datetime("createdAt").map(|t| rfc3339(*t)).ok(),
        "expiresAt": d.get_datetime("expiresAt").map(|t| rfc3339(*t)).ok(),
    })
}

/// `POST /api/v1/invitations`: emails the invitee a link with the one-time
/// token (queued in the invitation's transaction) and returns the
/// invitation and the token, which the handler shows only to an OWNER who
/// asks. Inviting an email again replaces its pending invitation.
pub async fn create(
    scope: &Scope,
    input: NewInvitation,
    token_returned: bool,
) -> Result<(Document, String), ApiError> {
    let mut errors = Errors::new();
    let email = errors.check(Email::parse("email", &input.email));
    let role = match Role::parse(&input.role) {
        Some(Role::Owner) => {
            errors.push(FieldError::new(
                "role",
                "OWNER is given by transferring ownership",
            ));
            None
        }
        None => {
            errors.push(FieldError::new(
                "role",
                "must be one of VIEWER, MEMBER, ADMIN",
            ));
            None
        }
        r => r,
    };
    errors.finish()?;
    let (Some(email), Some(role)) = (email, role) else {
        return Err(ApiError::internal("validated invitation incomplete"));
    };
    if role == Role::Admin {
        scope.require(Permission::ManageOrganization).await?;
    }
    // Emails are unique across organizations, so this looks beyond the
    // caller's own. An account that never proved its address holds nothing
    // (accepting releases it).
    let users = Unscoped::open(scope.state(), Purpose::Invitation).collection(collections::USERS);
    let held = doc! { "email": email.as_str(), "$nor": [super::flows::unproven()] };
    if users.find_one(held).await?.is_some() {
        return Err(ApiError::Conflict {
            code: Code::AlreadyExists,
            detail: "This email already belongs to an account".into(),
            errors: vec![FieldError::new("email", "is already in use")],
        });
    }
    // Nobody's mailbox is flooded: an organization's invitations per day by
    // plan, and 3 a day per address from every organization together.
    scope.spend(LimitedAction::Invitations).await?;
    scope
        .spend_on(LimitedAction::InvitationEmail, email.as_str())
        .await?;
    let token = tokens::new_token();
    let now = DateTime::now();
    let invitation = doc! {
        "_id": ObjectId::new(),
        "email": email.as_str(),
        "role": role.as_str(),
        "status": InvitationStatus::Pending.as_str(),
        "tokenHash": hash_token(&token),
        "invitedBy": scope.caller().user.id,
        // Handed to the OWNER, so its acceptance proves nothing of the
        // address (see `accept`).
        "tokenReturned": token_returned,
        "createdAt": now,
        "expiresAt": DateTime::from_millis(now.timestamp_millis() + VALID_DAYS * DAY_MS),
    };
    let invitation_ref = &invitation;
    let id = id_of(&invitation, "invitation")?;
    let caller = scope.caller();
    let message = crate::emails::invitation(
        &scope.state().config,
        email.as_str(),
        &format!("{} {}", caller.user.first_name, caller.user.last_name),
        &caller.org.name,
        role.as_str(),
        &token,
        invitation.get_datetime("expiresAt").copied().unwrap_or(now),
    );
    let message = &message;
    let queued = scope.transaction(|tx| Box::pin(async move {
        tx.update_many(
            collections::INVITATIONS,
            doc! { "email": invitation_ref.get_str("email").unwrap_or_default(), "status": InvitationStatus::Pending.as_str() },
            doc! { "$set": { "status": InvitationStatus::Revoked.as_str(), "revokedAt": DateTime::now() } },
        )
        .await?;
        tx.insert_one(collections::INVITATIONS, invitation_ref.clone()).await?;
        tx.audit(AuditEntry::new(Action::Create, "invitation").id(id).changes(doc! {
            "email": invitation_ref.get_str("email").unwrap_or_default(), "role": invitation_ref.get_str("role").unwrap_or_default(),
        }))
        .await?;
        tx.queue_email(None, message).await
    }))
    .await?;
    shared::email::deliver(scope.state(), &[queued]).await;
    Ok((invitation, token))
}

/// `GET /api/v1/invitations`: the pending, unexpired invitations, newest first.
pub async fn list(scope: &Scope) -> Result<Vec<Document>, ApiError> {
    scope
        .collection(collections::INVITATIONS)
        .find_many(
            doc! { "status": InvitationStatus::Pending.as_str(), "expiresAt": { "$gt": DateTime::now() } },
            doc! { "createdAt": -1 },
            500,
            Some(doc! { "tokenHash": 0 }),
        )
        .await
}

/// `DELETE /api/v1/invitations/{id}`: revokes a pending invitation.
pub async fn revoke(scope: &Scope, id: ObjectId) -> Result<(), ApiError> {
    let revoked = scope
        .transaction(|tx| {
            Box::pin(async move {
                let found = tx
                    .find_one_and_update(
                        collections::INVITATIONS,
                        doc! { "_id": id, "status": InvitationStatus::Pending.as_str() },
                        doc! { "$set": { "status": InvitationStatus::Revoked.as_str(), "revokedAt": DateTime::now() } },
                    )
                    .await?;
                if found.is_some() {
                    tx.audit(AuditEntry::new(Action::Delete, "invitation").id(id))
                        .await?;
                }
                Ok(found.is_some())
            })
        })
        .await?;
    if revoked {
        Ok(())
    } else {
        Err(ApiError::NotFound {
            resource: "invitation",
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Acceptance {
    pub token: String,
    pub password: String,
    pub first_name: String,
    pub last_name: String,
}

/// `POST /api/v1/invitations/accept` (no sign-in): consumes the token and
/// creates the ACTIVE member in one transaction, then signs them in. A used,
/// revoked, expired or unknown token creates nothing.
pub async fn accept(
    state: &State,
    input: Acceptance,
    meta: &RequestMeta,
) -> Result<Session, ApiError> {
    let mut errors = Errors::new();
    let first = errors.check(text("firstName", &input.first_name, 1, 100));
    let last = errors.check(text("lastName", &input.last_name, 1, 100));
    errors.check(password::check_new("password", &input.password));
    errors.finish()?;
    let hash = hash_token(input.token.trim());
    let db = Unscoped::open(state, Purpose::Invitation);
    let found = db
        .collection(collections::INVITATIONS)
        .find_one(doc! { "tokenHash": &hash })
        .await?
        .ok_or_else(|| {
            ApiError::bad_field(
                Code::InvalidInvitation,
                "token",
                "is not a valid invitation",
            )
        })?;
    let status = found
        .get("status")
        .cloned()
        .and_then(|s| bson::from_bson::<InvitationStatus>(s).ok());
    match status {
        Some(InvitationStatus::Pending) => {}
        Some(InvitationStatus::Accepted) => {
            return Err(ApiError::conflict(
                Code::InvitationUsed,
                "This invitation has already been used",
            ))
        }
        _ => {
            return Err(ApiError::conflict(
                Code::InvitationRevoked,
                "This invitation was revoked",
            ))
        }
    }
    if found
        .get_datetime("expiresAt")
        .map(|t| *t <= DateTime::now())
        .unwrap_or(true)
    {
        return Err(ApiError::conflict(
            Code::InvitationExpired,
            "This invitation has expired; ask for a new one",
        ));
    }
    let org_id = found
        .get_object_id("organizationId")
        .map_err(|_| ApiError::internal("invitation without organization"))?;
    let org = super::flows::find_org(&db, org_id).await?;
    if !org.is_active {
        return Err(ApiError::forbidden(
            Code::OrganizationInactive,
            "This organization is deactivated",
        ));
    }
    let password_hash = password::hash(input.password, state.config.bcrypt_cost).await?;
    let now = DateTime::now();
    let user_id = ObjectId::new();
    // A link that went only to the address proves it; a token the OWNER
    // was handed does not.
    let proves_nothing = found.get_bool("tokenReturned").unwrap_or(false);
    let user_doc = doc! {
        "_id": user_id, "organizationId": org_id, "email": found.get_str("email").unwrap_or_default(),
        "passwordHash": password_hash, "firstName": first.unwrap_or_default(), "lastName": last.unwrap_or_default(),
        "role": found.get_str("role").unwrap_or(Role::Viewer.as_str()), "status": UserStatus::Active.as_str(), "createdAt": now, "updatedAt": now,
        "createdBy": found.get_object_id("invitedBy").ok(), "lastLoginAt": null, "version": 1_i64,
        "emailVerified": !proves_nothing,
    };
    let (user_doc_ref, hash_ref) = (&user_doc, &hash);
    let audit = AuditEntry::new(Action::Create, "user")
        .id(user_id)
        .changes(doc! { "email": user_doc.get_str("email").unwrap_or_default(), "role": user_doc.get_str("role").unwrap_or_default(), "via": "invitation" })
        .into_document(Some(org_id), Some(user_id), meta);
    let audit = &audit;
    db.transaction(|tx| Box::pin(async move {
        let claimed = tx
            .find_one_and_update(
                collections::INVITATIONS,
                doc! { "tokenHash": hash_ref, "status": InvitationStatus::Pending.as_str(), "expiresAt": { "$gt": DateTime::now() } },
                doc! { "$set": { "status": InvitationStatus::Accepted.as_str(), "acceptedAt": DateTime::now(), "userId": user_id } },
            )
            .await?;
        if claimed.is_none() {
            return Err(ApiError::conflict(Code::InvitationUsed, "This invitation has already been used"));
        }
        // The emailed link proved the address: an account that never did
        // gives it up.
        if !proves_nothing {
            super::flows::release_unproven(tx, user_doc_ref.get_str("email").unwrap_or_default(), meta).await?;
        }
        tx.insert_one(collections::USERS, user_doc_ref.clone()).await?;
        tx.insert_one(collections::AUDIT_LOG, audit.clone()).await
    }))
    .await?;
    let user: User = shared::db::decode(user_doc)?;
    let tokens = tokens::issue(state, &user, meta).await?;
    Ok(Session { user, org, tokens })
}
