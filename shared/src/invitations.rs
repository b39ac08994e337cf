//! Invitations: an ADMIN (or, for ADMINs, an OWNER) invites an email with a
//! role; the invitee accepts with the one-time token and becomes an ACTIVE
//! member. Tokens are random, stored as SHA-256, valid 7 days, and consumed
//! atomically with the creation of the member.

use bson::oid::ObjectId;
use bson::{doc, DateTime, Document};
use mongodb::options::ReturnDocument;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::audit::{Action, AuditEntry};
use crate::auth::tokens::{self, hash_token};
use crate::auth::{password, rfc3339, User};
use crate::db::{collections, retry_transient, RequestMeta, Scope};
use crate::error::{ApiError, FieldError};
use crate::identity::flows::Session;
use crate::model::{InvitationStatus, UserStatus};
use crate::rbac::{Permission, Role};
use crate::state::State;
use crate::validate::{text, Email, Errors};

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

/// `POST /api/v1/invitations`: returns the invitation and its one-time token
/// (shown this once). Inviting an email again replaces its pending invitation.
pub async fn create(scope: &Scope, input: NewInvitation) -> Result<(Document, String), ApiError> {
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
    let users = scope.state().db.collection::<Document>(collections::USERS);
    if users
        .find_one(doc! { "email": email.as_str() })
        .await?
        .is_some()
    {
        return Err(ApiError::Conflict {
            code: "ALREADY_EXISTS",
            detail: "This email already belongs to an account".into(),
            errors: vec![FieldError::new("email", "is already in use")],
        });
    }
    let token = tokens::new_token();
    let now = DateTime::now();
    let invitation = doc! {
        "_id": ObjectId::new(),
        "email": email.as_str(),
        "role": role.as_str(),
        "status": InvitationStatus::Pending.as_str(),
        "tokenHash": hash_token(&token),
        "invitedBy": scope.caller().user.id,
        "createdAt": now,
        "expiresAt": DateTime::from_millis(now.timestamp_millis() + VALID_DAYS * 86_400_000),
    };
    let invitation_ref = &invitation;
    let id = invitation
        .get_object_id("_id")
        .map_err(|_| ApiError::internal("no id"))?;
    scope.transaction(|tx| Box::pin(async move {
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
        Ok(())
    }))
    .await?;
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
    let invitations = state.db.collection::<Document>(collections::INVITATIONS);
    let found = invitations
        .find_one(doc! { "tokenHash": &hash })
        .await?
        .ok_or_else(|| {
            ApiError::bad_field("INVALID_INVITATION", "token", "is not a valid invitation")
        })?;
    let status = found
        .get("status")
        .cloned()
        .and_then(|s| bson::from_bson::<InvitationStatus>(s).ok());
    match status {
        Some(InvitationStatus::Pending) => {}
        Some(InvitationStatus::Accepted) => {
            return Err(ApiError::conflict(
                "INVITATION_USED",
                "This invitation has already been used",
            ))
        }
        _ => {
            return Err(ApiError::conflict(
                "INVITATION_REVOKED",
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
            "INVITATION_EXPIRED",
            "This invitation has expired; ask for a new one",
        ));
    }
    let org_id = found
        .get_object_id("organizationId")
        .map_err(|_| ApiError::internal("invitation without organization"))?;
    let org = crate::identity::flows::find_org(state, org_id).await?;
    if !org.is_active {
        return Err(ApiError::forbidden(
            "ORGANIZATION_INACTIVE",
            "This organization is deactivated",
        ));
    }
    let password_hash = password::hash(input.password, state.config.bcrypt_cost).await?;
    let now = DateTime::now();
    let user_id = ObjectId::new();
    let user_doc = doc! {
        "_id": user_id, "organizationId": org_id, "email": found.get_str("email").unwrap_or_default(),
        "passwordHash": password_hash, "firstName": first.unwrap_or_default(), "lastName": last.unwrap_or_default(),
        "role": found.get_str("role").unwrap_or(Role::Viewer.as_str()), "status": UserStatus::Active.as_str(), "createdAt": now, "updatedAt": now,
        "createdBy": found.get_object_id("invitedBy").ok(), "lastLoginAt": null, "version": 1_i64,
    };
    let (user_doc_ref, hash_ref) = (&user_doc, &hash);
    let audit = AuditEntry::new(Action::Create, "user")
        .id(user_id)
        .changes(doc! { "email": user_doc.get_str("email").unwrap_or_default(), "role": user_doc.get_str("role").unwrap_or_default(), "via": "invitation" })
        .into_document(Some(org_id), Some(user_id), meta);
    let audit = &audit;
    retry_transient(|| async move {
        let mut session = state.client.start_session().await?;
        session.start_transaction().await?;
        let claimed = state
            .db
            .collection::<Document>(collections::INVITATIONS)
            .find_one_and_update(
                doc! { "tokenHash": hash_ref, "status": InvitationStatus::Pending.as_str(), "expiresAt": { "$gt": DateTime::now() } },
                doc! { "$set": { "status": InvitationStatus::Accepted.as_str(), "acceptedAt": DateTime::now(), "userId": user_id } },
            )
            .return_document(ReturnDocument::After)
            .session(&mut session)
            .await?;
        if claimed.is_none() {
            return Err(ApiError::conflict("INVITATION_USED", "This invitation has already been used"));
        }
        state.db.collection::<Document>(collections::USERS).insert_one(user_doc_ref.clone()).session(&mut session).await?;
        state.db.collection::<Document>(collections::AUDIT_LOG).insert_one(audit.clone()).session(&mut session).await?;
        crate::transaction::commit(&mut session).await
    })
    .await?;
    let user: User = crate::db::decode(user_doc)?;
    let tokens = tokens::issue(state, &user, meta).await?;
    Ok(Session { user, org, tokens })
}
