//! The audit log: a typed entry, written in the same transaction as the change
//! it records (see [`crate::db::Tx::audit`]), or directly for events that
//! change nothing (denials, rate limits, sign-ins).
//!
//! Document shape (`audit_log`): `organizationId, userId, action, resource,
//! resourceId, changes, ipAddress, userAgent, requestId, createdAt`, and for
//! a request made with an API key `actorType: "API_KEY"` and `apiKeyId`
//! (then `userId` is the key's id too), through a capability link
//! `actorType: "LINK"` and `linkId` (`userId` the link's id).

use bson::oid::ObjectId;
use bson::{doc, Bson, Document};
use mongodb::Database;

use crate::error::ApiError;
use crate::store::{collections, RequestMeta};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    Delete,
    Restore,
    Export,
    Import,
    /// A download URL was handed out for a stored file.
    Download,
    Login,
    LoginFailed,
    Logout,
    TokenRefresh,
    TokenReuseDetected,
    PermissionDenied,
    RateLimitExceeded,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "CREATE",
            Action::Update => "UPDATE",
            Action::Delete => "DELETE",
            Action::Restore => "RESTORE",
            Action::Export => "EXPORT",
            Action::Import => "IMPORT",
            Action::Download => "DOWNLOAD",
            Action::Login => "LOGIN",
            Action::LoginFailed => "LOGIN_FAILED",
            Action::Logout => "LOGOUT",
            Action::TokenRefresh => "TOKEN_REFRESH",
            Action::TokenReuseDetected => "TOKEN_REUSE_DETECTED",
            Action::PermissionDenied => "PERMISSION_DENIED",
            Action::RateLimitExceeded => "RATE_LIMIT_EXCEEDED",
        }
    }
}

/// One audit entry, built with `AuditEntry::new(action, resource).id(..).changes(..)`.
#[derive(Clone, Debug)]
pub struct AuditEntry {
    action: Action,
    resource: &'static str,
    resource_id: Option<Bson>,
    changes: Option<Document>,
}

impl AuditEntry {
    pub fn new(action: Action, resource: &'static str) -> Self {
        Self {
            action,
            resource,
            resource_id: None,
            changes: None,
        }
    }

    pub fn id(mut self, id: impl Into<Bson>) -> Self {
        self.resource_id = Some(id.into());
        self
    }

    /// What changed; the values of secret fields
    /// ([`crate::fields::is_secret`]) are recorded as `[REDACTED]`.
    pub fn changes(mut self, mut changes: Document) -> Self {
        for (k, v) in changes.iter_mut() {
            if crate::fields::is_secret(k) && *v != Bson::Null {
                *v = match v {
                    Bson::Document(d) if d.contains_key("to") => {
                        let set = |x: Option<&Bson>| match x {
                            None | Some(Bson::Null) => Bson::Null,
                            Some(_) => Bson::String("[REDACTED]".into()),
                        };
                        Bson::Document(doc! { "from": set(d.get("from")), "to": set(d.get("to")) })
                    }
                    _ => Bson::String("[REDACTED]".into()),
                };
            }
        }
        self.changes = Some(changes);
        self
    }

    pub fn into_document(
        self,
        org: Option<ObjectId>,
        user: Option<ObjectId>,
        meta: &RequestMeta,
    ) -> Document {
        let mut entry = doc! {
            "organizationId": org,
            "userId": user,
            "action": self.action.as_str(),
            "resource": self.resource,
            "resourceId": self.resource_id,
            "changes": self.changes,
            "ipAddress": meta.ip.clone(),
            "userAgent": meta.user_agent.clone(),
            "requestId": meta.request_id.clone(),
            "createdAt": bson::DateTime::now(),
        };
        if let Some(key) = meta.api_key {
            entry.insert("actorType", "API_KEY");
            entry.insert("apiKeyId", key);
        }
        if let Some(link) = meta.link {
            entry.insert("actorType", "LINK");
            entry.insert("linkId", link);
        }
        entry
    }
}

/// Writes an entry outside a transaction. A failure is logged, not raised:
/// the request it describes has already been decided.
pub(crate) async fn write_direct(db: &Database, entry: Document) {
    if let Err(e) = db
        .collection::<Document>(collections::AUDIT_LOG)
        .insert_one(entry)
        .await
    {
        tracing::error!(error = %e, "[AUDIT_LOG_ERROR] could not write audit entry");
    }
}

/// Refuses an action: logs it, writes the PERMISSION_DENIED audit entry
/// (resource `api_endpoint`, the path as its id, as operators query it) and
/// returns the 403 to send. Only [`crate::auth::require`] calls it.
pub(crate) async fn denied(
    db: &Database,
    org: ObjectId,
    user: ObjectId,
    role: crate::rbac::Role,
    meta: &RequestMeta,
    permission: crate::rbac::Permission,
) -> ApiError {
    let required = permission.min_role();
    tracing::warn!(
        requestId = %meta.request_id,
        userId = %user,
        organizationId = %org,
        permission = permission.as_str(),
        "[PERMISSION_DENIED] {} needs {required}, caller is {role}",
        permission.as_str(),
    );
    let entry = AuditEntry::new(Action::PermissionDenied, "api_endpoint")
        .id(meta.path.clone())
        .changes(doc! {
            "method": meta.method.clone(),
            "requiredPermission": permission.as_str(),
            "requiredRole": required.as_str(),
            "actualRole": role.as_str(),
        });
    write_direct(db, entry.into_document(Some(org), Some(user), meta)).await;
    ApiError::PermissionDenied {
        permission,
        required,
        actual: role,
    }
}

/// Refuses an API key a route method (its scope missing, or a person's
/// route): logs it, writes the PERMISSION_DENIED entry as [`denied`] does
/// (with `requiredScope`, null for a person's route) and returns the 403.
/// Only [`crate::auth::require_scope`] calls it.
pub(crate) async fn key_denied(
    db: &Database,
    org: ObjectId,
    key: &crate::apikey::KeyRecord,
    meta: &RequestMeta,
    needed: crate::rbac::KeyScope,
) -> ApiError {
    let scope = needed.name();
    tracing::warn!(requestId = %meta.request_id, organizationId = %org, keyId = %key.key_id,
        scope = ?scope, "[PERMISSION_DENIED] API key refused");
    let entry = AuditEntry::new(Action::PermissionDenied, "api_endpoint")
        .id(meta.path.clone())
        .changes(doc! { "method": meta.method.clone(), "requiredScope": scope.clone() });
    write_direct(db, entry.into_document(Some(org), Some(key.id), meta)).await;
    match scope {
        Some(scope) => ApiError::forbidden(
            crate::codes::Code::InsufficientScope,
            format!("This API key lacks the scope {scope}"),
        ),
        None => ApiError::forbidden(
            crate::codes::Code::ApiKeyNotAllowed,
            "This route is for signed-in people: API keys cannot call it",
        ),
    }
}

/// The before/after of every field an update changed, for an UPDATE entry:
/// `{field: {from, to}}`. Bookkeeping fields are left out.
pub fn diff(before: &Document, after: &Document) -> Document {
    const SKIP: [&str; 4] = ["updatedAt", "version", "_id", "organizationId"];
    let mut changes = Document::new();
    let keys = before
        .keys()
        .chain(after.keys())
        .filter(|k| !SKIP.contains(&k.as_str()));
    for key in keys {
        if changes.contains_key(key) {
            continue;
        }
        let (a, b) = (before.get(key), after.get(key));
        if a != b {
            changes.insert(
                key.clone(),
                doc! { "from": a.cloned().unwrap_or(Bson::Null), "to": b.cloned().unwrap_or(Bson::Null) },
            );
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_diff_names_only_the_changed_fields_with_before_and_after() {
        let before = doc! { "name": "A", "industry": "x", "version": 1, "notes": "n" };
        let after = doc! { "name": "B", "industry": "x", "version": 2, "website": "w" };
        let d = diff(&before, &after);
        assert_eq!(
            d.get_document("name").unwrap(),
            &doc! { "from": "A", "to": "B" }
        );
        assert_eq!(
            d.get_document("notes").unwrap(),
            &doc! { "from": "n", "to": Bson::Null }
        );
        assert_eq!(
            d.get_document("website").unwrap(),
            &doc! { "from": Bson::Null, "to": "w" }
        );
        assert!(!d.contains_key("industry"));
        assert!(!d.contains_key("version"));
    }
}
