//! The caller's own account: name, password, and signed-in sessions (one per
//! refresh-token family).

use bson::oid::ObjectId;
use bson::{doc, DateTime, Document};
use serde::Deserialize;
use serde_json::{json, Value};

use shared::audit::{diff, Action, AuditEntry};
use shared::auth::{password, rfc3339, User};
use shared::db::{collections, Scope};
use shared::error::Code;
use shared::error::{ApiError, FieldError};
use shared::ratelimit::LimitedAction;
use shared::unscoped::{Purpose, Unscoped};
use shared::validate::{text, Errors, Patch};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProfilePatch {
    #[serde(default)]
    pub first_name: Patch<String>,
    #[serde(default)]
    pub last_name: Patch<String>,
}

/// `PATCH /api/v1/auth/me`: the caller's own name.
pub async fn update(scope: &Scope, input: ProfilePatch) -> Result<User, ApiError> {
    let mut errors = Errors::new();
    let mut set = Document::new();
    for (field, value) in [
        ("firstName", &input.first_name),
        ("lastName", &input.last_name),
    ] {
        match value {
            Patch::Absent => {}
            Patch::Null => errors.push(FieldError::new(field, "cannot be cleared")),
            Patch::Value(v) => {
                if let Some(v) = errors.check(text(field, v, 1, 100)) {
                    set.insert(field, v);
                }
            }
        }
    }
    errors.finish()?;
    if set.is_empty() {
        return Err(ApiError::Unprocessable {
            code: Code::NothingToUpdate,
            detail: "Send firstName or lastName".into(),
            errors: vec![],
        });
    }
    let me = &scope.caller().user;
    let before = doc! { "firstName": &me.first_name, "lastName": &me.last_name };
    let mut after = before.clone();
    after.extend(set.clone());
    let changes = diff(&before, &after);
    set.insert("updatedAt", DateTime::now());
    let (set, changes, id) = (&set, &changes, me.id);
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
                    .ok_or_else(|| {
                        ApiError::unauthenticated(
                            Code::InvalidToken,
                            "The account of this token no longer exists",
                        )
                    })?;
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
    shared::db::decode(updated)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

/// `POST /api/v1/auth/password`: needs the current password (wrong guesses
/// count against the email's failed sign-in bucket). Every other session of
/// the caller ends, access tokens included; every access token issued
/// before the change (the caller's own too) is refused from now on, and the
/// caller's own refresh token stays valid to get a new one.
pub async fn change_password(scope: &Scope, input: PasswordChange) -> Result<u64, ApiError> {
    let state = scope.state();
    let me = &scope.caller().user;
    password::check_new("newPassword", &input.new_password)
        .map_err(|e| ApiError::Validation { errors: vec![e] })?;
    // Wrong guesses count in the email's sign-in bucket, which is not the
    // organization's: it spans every sign-in of that email.
    let buckets = Unscoped::open(state, Purpose::SignIn);
    buckets
        .check(LimitedAction::FailedLoginEmail, &me.email)
        .await?;
    if !password::verify(
        input.current_password.clone(),
        me.password_hash().to_string(),
    )
    .await
    {
        return Err(ApiError::Unprocessable {
            code: Code::InvalidCurrentPassword,
            detail: "The current password is incorrect".into(),
            errors: vec![FieldError::new("currentPassword", "is incorrect")],
        });
    }
    buckets
        .undo(LimitedAction::FailedLoginEmail, &me.email)
        .await;
    if input.current_password == input.new_password {
        return Err(ApiError::field(
            "newPassword",
            "must differ from the current password",
        ));
    }
    let hash = password::hash(input.new_password, state.config.bcrypt_cost).await?;
    let (hash, id, current) = (&hash, me.id, scope.caller().session_id);
    let alert = crate::emails::password_changed(
        &state.config,
        &me.email,
        &me.first_name,
        "with the current password",
    );
    let alert = &alert;
    let (revoked, queued) = scope
        .transaction(|tx| {
            Box::pin(async move {
                let now = DateTime::now();
                let updated = tx
                    .find_one_and_update(
                        collections::USERS,
                        doc! { "_id": id },
                        doc! {
                            "$set": { "passwordHash": hash, "updatedAt": now },
                            "$inc": { "version": 1_i64, "sessionEpoch": 1_i64 },
                        },
                    )
                    .await?
                    .ok_or_else(|| ApiError::internal("the caller vanished"))?;
                let epoch = shared::db::number(&updated, "sessionEpoch").unwrap_or(0);
                let revoke =
                    doc! { "$set": { "revokedAt": now, "revokedReason": "PASSWORD_CHANGED" } };
                tx.update_many(
                    collections::SESSIONS,
                    doc! { "userId": id, "revokedAt": null, "_id": { "$ne": current } },
                    revoke.clone(),
                )
                .await?;
                let revoked = tx
                    .update_many(
                        collections::REFRESH_TOKENS,
                        doc! { "userId": id, "revokedAt": null, "familyId": { "$ne": current } },
                        revoke,
                    )
                    .await?;
                // A reset link asked for before the change would undo it.
                tx.update_many(
                    collections::PASSWORD_RESETS,
                    doc! { "userId": id, "usedAt": null },
                    doc! { "$set": { "usedAt": now, "voidedBy": "PASSWORD_CHANGED" } },
                )
                .await?;
                // This session carries on in the new epoch: its refresh token gets
                // the caller a new access token.
                tx.update_many(
                    collections::REFRESH_TOKENS,
                    doc! { "userId": id, "revokedAt": null, "familyId": current },
                    doc! { "$set": { "sessionEpoch": epoch } },
                )
                .await?;
                tx.audit(
                    AuditEntry::new(Action::Update, "user")
                        .id(id)
                        .changes(doc! {
                            "passwordChanged": true, "sessionsRevoked": revoked as i64,
                        }),
                )
                .await?;
                let queued = tx.queue_email(Some(id), alert).await?;
                Ok((revoked, queued))
            })
        })
        .await?;
    shared::email::deliver(state, &[queued]).await;
    Ok(revoked)
}

/// `GET /api/v1/auth/sessions`: the caller's live sessions, newest first.
pub async fn sessions(scope: &Scope) -> Result<Value, ApiError> {
    let me = scope.caller();
    let live = scope
        .collection(collections::REFRESH_TOKENS)
        .find_many(
            doc! { "userId": me.user.id, "revokedAt": null, "expiresAt": { "$gt": DateTime::now() } },
            doc! { "createdAt": -1 },
            200,
            Some(doc! { "tokenHash": 0 }),
        )
        .await?;
    let data: Vec<Value> = live
        .iter()
        .map(|t| {
            let family = t.get_object_id("familyId").ok();
            json!({
                "id": family.map(|f| f.to_hex()),
                "current": family == Some(me.session_id),
                "lastUsedAt": t.get_datetime("createdAt").map(|d| rfc3339(*d)).ok(),
                "expiresAt": t.get_datetime("expiresAt").map(|d| rfc3339(*d)).ok(),
                "ipAddress": t.get_str("ipAddress").ok(),
                "userAgent": t.get_str("userAgent").ok(),
            })
        })
        .collect();
    Ok(json!({ "data": data, "nextCursor": null }))
}

/// `DELETE /api/v1/auth/sessions/{id}`: signs one of the caller's sessions out.
pub async fn end_session(scope: &Scope, family: ObjectId) -> Result<(), ApiError> {
    let me = scope.caller().user.id;
    let revoked = scope
        .transaction(|tx| {
            Box::pin(async move {
                let now = DateTime::now();
                let revoke =
                    doc! { "$set": { "revokedAt": now, "revokedReason": "SESSION_ENDED" } };
                tx.update_many(
                    collections::SESSIONS,
                    doc! { "userId": me, "_id": family, "revokedAt": null },
                    revoke.clone(),
                )
                .await?;
                let revoked = tx
                    .update_many(
                        collections::REFRESH_TOKENS,
                        doc! { "userId": me, "familyId": family, "revokedAt": null },
                        revoke,
                    )
                    .await?;
                if revoked > 0 {
                    tx.audit(AuditEntry::new(Action::Logout, "session").id(family))
                        .await?;
                }
                Ok(revoked)
            })
        })
        .await?;
    if revoked == 0 {
        return Err(ApiError::NotFound {
            resource: "session",
        });
    }
    Ok(())
}
