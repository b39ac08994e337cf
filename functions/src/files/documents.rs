//! Files attached to records, stored in object storage.
//!
//! The browser uploads and downloads directly with presigned URLs; the API
//! only signs and keeps the `documents` records:
//!
//! 1. `POST /uploads` checks type, plan size limit and relation, signs a PUT
//!    for one server-made key (type and length bound into the signature) and
//!    creates the document `PENDING`.
//! 2. `POST /documents/{id}/complete` checks the object (HEAD) and marks the
//!    document `UPLOADED`; a missing or different object leaves it `PENDING`.
//! 3. `GET /documents/{id}` adds a short-lived presigned GET (audited as
//!    DOWNLOAD: who was handed which file).
//!
//! [`sweep`] removes uploads never completed within a day and the files of
//! documents deleted more than [`PURGE_AFTER_DAYS`] ago (the same delay as
//! a tenant purge).

use std::time::{Duration, Instant};

use bson::oid::ObjectId;
use bson::{doc, DateTime, Document};
use http::StatusCode;
use serde_json::{json, Map, Value};

use shared::audit::{diff, Action, AuditEntry};
use shared::db::{collections, shifted, RequestMeta, Scope, DAY_MS, HOUR_MS};
use shared::error::Code;
use shared::error::{id_of, ApiError, FieldError};
use shared::fields::{self, Field};
use shared::http::{ApiRequest, ApiResponse};
use shared::jobs::{Report, PURGE_AFTER_DAYS};
use shared::ratelimit::{LimitedAction, Plan};
use shared::rbac::Permission;
use shared::records::{self, check_references, find_live, mutate_one, new_record, render, Entity};
use shared::state::State;
use shared::unscoped::{Purpose, Unscoped};

/// Where a document is in its upload: created `PENDING` with its presigned
/// PUT, `UPLOADED` once the stored object was checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Pending,
    Uploaded,
}

impl Status {
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "PENDING",
            Status::Uploaded => "UPLOADED",
        }
    }

    fn of(d: &Document) -> Option<Status> {
        match d.get_str("status").ok()? {
            "PENDING" => Some(Status::Pending),
            "UPLOADED" => Some(Status::Uploaded),
            _ => None,
        }
    }
}

/// The largest document an organization may name as its logo
/// (`settings.logoDocumentId`), read whole when a PDF is made.
pub const MAX_LOGO_BYTES: i64 = 1024 * 1024;

/// The organization's logo (`settings.logoDocumentId`) while it is a live,
/// uploaded document: its record (with `storageKey`), else `None`.
pub async fn logo(scope: &Scope) -> Result<Option<Document>, ApiError> {
    let Some(id) = scope
        .caller()
        .org
        .settings
        .as_ref()
        .and_then(|s| s.get_str("logoDocumentId").ok())
        .and_then(|id| ObjectId::parse_str(id).ok())
    else {
        return Ok(None);
    };
    scope
        .collection(collections::DOCUMENTS)
        .find_one(doc! { "_id": id, "deletedAt": null, "status": Status::Uploaded.as_str() })
        .await
}

/// A PENDING document older than this is an abandoned upload.
pub const PENDING_EXPIRY_HOURS: i64 = 24;

fn millis_from_now(d: Duration) -> DateTime {
    shifted(DateTime::now(), d.as_millis() as i64)
}

fn text<'a>(d: &'a Document, key: &str) -> &'a str {
    d.get_str(key).unwrap_or("")
}

/// `POST /api/v1/uploads`: validates the declared file against the upload
/// policy, creates the PENDING document and returns the presigned PUT.
pub async fn request_upload(
    req: &ApiRequest,
    scope: &Scope,
    e: &Entity,
    upload_fields: &[Field],
) -> Result<ApiResponse, ApiError> {
    let body: Value = req.json()?;
    let (input, refs) = fields::parse_create(upload_fields, &body)?;
    let policy = &scope.config().uploads;
    let plan = scope.caller().org.plan;
    let max = policy.max_bytes[Plan::ALL.iter().position(|p| *p == plan).unwrap_or(0)];
    let accepted: Vec<(&str, u64)> = policy
        .allowed_types
        .iter()
        .map(|t| (t.as_str(), max))
        .collect();
    check_references(scope, &refs).await?;
    sign_upload(scope, e, input, &accepted).await
}

/// Checks the declared `contentType` and `size` of `input` against
/// `accepted` (type, largest size), creates the PENDING document and
/// returns the presigned PUT, whose signature binds that type and length
/// (the store refuses any other).
pub async fn sign_upload(
    scope: &Scope,
    e: &Entity,
    mut input: Document,
    accepted: &[(&str, u64)],
) -> Result<ApiResponse, ApiError> {
    let content_type = text(&input, "contentType").to_ascii_lowercase();
    let Some(max) = accepted
        .iter()
        .find(|(t, _)| *t == content_type)
        .map(|(_, max)| *max)
    else {
        let names: Vec<&str> = accepted.iter().map(|(t, _)| *t).collect();
        return Err(ApiError::Unprocessable {
            code: Code::UnsupportedFileType,
            detail: format!(
                "Files of type {content_type:?} are not accepted; accepted types: {}",
                names.join(", ")
            ),
            errors: vec![FieldError::new(
                "contentType",
                "is not an accepted file type",
            )],
        });
    };
    input.insert("contentType", &content_type);
    let size = shared::db::number(&input, "size").unwrap_or(0).max(0) as u64;
    if size > max {
        return Err(ApiError::Unprocessable {
            code: Code::FileTooLarge,
            detail: format!("Files of type {content_type} may be at most {max} bytes here"),
            errors: vec![FieldError::new(
                "size",
                format!("must be at most {max} bytes"),
            )],
        });
    }
    let storage = scope.storage()?;
    scope.spend(LimitedAction::Uploads).await?;

    let mut record = new_record(scope, &input);
    let id = id_of(&record, "record")?;
    let key = storage.document_key(scope.org_id(), id);
    let ttl = scope.config().uploads.upload_url_ttl;
    let presigned = storage.presign_put(&key, &content_type, size, ttl).await?;
    let expires_at = millis_from_now(ttl);
    record.insert("status", Status::Pending.as_str());
    record.insert("storageKey", key);
    records::insert_with_audit(scope, e, &record, &input).await?;
    let headers: Map<String, Value> = presigned
        .headers
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    let mut r = ApiResponse::json(
        StatusCode::CREATED,
        &json!({
            "documentId": id.to_hex(),
            "uploadUrl": presigned.url,
            "method": presigned.method,
            "headers": headers,
            "expiresAt": shared::time::rfc3339(expires_at),
            "document": render(&record),
        }),
    );
    r.set_header("location", &format!("/api/v1/documents/{}", id.to_hex()));
    Ok(r)
}

/// `POST /api/v1/documents/{id}/complete`.
pub async fn complete(scope: &Scope, e: &Entity, id: ObjectId) -> Result<ApiResponse, ApiError> {
    let before = find_live(scope, e, id).await?;
    e.require_own_or(scope, &before, Permission::UpdateAnyRecord)
        .await?;
    if Status::of(&before) == Some(Status::Uploaded) {
        return Ok(ApiResponse::ok(&render(&before)));
    }
    // Past this age the sweep removes the upload; it can no longer complete.
    let expiry = shifted(DateTime::now(), -PENDING_EXPIRY_HOURS * HOUR_MS);
    if before
        .get_datetime("createdAt")
        .is_ok_and(|created| *created < expiry)
    {
        return Err(ApiError::conflict(
            Code::UploadExpired,
            format!("Uploads must be completed within {PENDING_EXPIRY_HOURS} hours; request a new upload"),
        ));
    }
    let storage = scope.storage()?;
    let declared_size = shared::db::number(&before, "size").unwrap_or(-1);
    let declared_type = text(&before, "contentType");
    let stored = storage.head(text(&before, "storageKey")).await?;
    let Some(stored) = stored else {
        return Err(ApiError::conflict(
            Code::UploadNotFound,
            "No file has been uploaded for this document yet; PUT it to the upload URL, then complete",
        ));
    };
    let stored_type = stored.content_type.as_deref().map(|t| {
        t.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    });
    if stored.size as i64 != declared_size || stored_type.as_deref() != Some(declared_type) {
        return Err(ApiError::conflict(
            Code::UploadMismatch,
            format!(
                "The stored file ({} bytes, {}) is not the one declared ({declared_size} bytes, {declared_type})",
                stored.size,
                stored_type.as_deref().unwrap_or("no type")
            ),
        ));
    }
    let after = mutate_one(
        scope,
        e.collection,
        doc! { "_id": id, "deletedAt": null, "status": Status::Pending.as_str(), "createdAt": { "$gte": expiry } },
        || {
            let now = DateTime::now();
            doc! { "$set": { "status": Status::Uploaded.as_str(), "uploadedAt": now, "updatedAt": now }, "$inc": { "version": 1_i64 } }
        },
        |after| AuditEntry::new(Action::Update, e.resource).id(id).changes(diff(&before, after)),
    )
    .await?;
    match after {
        Some(after) => Ok(ApiResponse::ok(&render(&after))),
        // Completed (or deleted) by a concurrent request: answer with what is there.
        None => Ok(ApiResponse::ok(&render(&find_live(scope, e, id).await?))),
    }
}

/// `GET /api/v1/documents/{id}`: the record, with a short-lived download
/// URL (and a DOWNLOAD audit entry) once the file is uploaded.
pub async fn get(scope: &Scope, e: &Entity, id: ObjectId) -> Result<ApiResponse, ApiError> {
    let doc = find_live(scope, e, id).await?;
    let mut out = render(&doc);
    if Status::of(&doc) == Some(Status::Uploaded) {
        let storage = scope.storage()?;
        let ttl = scope.config().uploads.download_url_ttl;
        let url = storage
            .presign_get(
                text(&doc, "storageKey"),
                text(&doc, "fileName"),
                text(&doc, "contentType"),
                ttl,
            )
            .await?;
        scope
            .audit(AuditEntry::new(Action::Download, e.resource).id(id))
            .await;
        out["downloadUrl"] = json!(url);
        out["downloadExpiresAt"] = json!(shared::time::rfc3339(millis_from_now(ttl)));
    }
    Ok(ApiResponse::ok(&out))
}

/// `DELETE /api/v1/documents/{id}`: a soft delete, by its uploader (a
/// MEMBER) or an ADMIN+; the file is swept 30 days later.
pub async fn delete(scope: &Scope, e: &Entity, id: ObjectId) -> Result<ApiResponse, ApiError> {
    let doc = find_live(scope, e, id).await?;
    e.require_own_or(scope, &doc, Permission::DeleteRecords)
        .await?;
    records::delete(scope, e, id).await
}

/// Removes, across organizations, up to `batch` documents whose upload was
/// never completed within [`PENDING_EXPIRY_HOURS`] and up to `batch` deleted
/// more than [`PURGE_AFTER_DAYS`] ago: the object first, then the record, so
/// a run stopped half way leaves work the next run finds again.
pub async fn sweep(state: &State, now: DateTime, batch: i64) -> Result<Report, ApiError> {
    let started = Instant::now();
    let db = Unscoped::open(state, Purpose::Scheduled);
    let storage = db.storage()?;
    let coll = db.collection(collections::DOCUMENTS);
    let stale = [
        (
            doc! { "status": Status::Pending.as_str(), "createdAt": { "$lt": shifted(now, -PENDING_EXPIRY_HOURS * HOUR_MS) } },
            "upload not completed within 24 hours",
        ),
        (
            doc! { "deletedAt": { "$lt": shifted(now, -PURGE_AFTER_DAYS * DAY_MS) } },
            "deleted more than 30 days ago",
        ),
    ];
    let mut report = Report::default();
    for (filter, reason) in stale {
        let docs = coll
            .find_many(filter.clone(), doc! { "_id": 1 }, batch, None)
            .await?;
        report.scanned += docs.len() as u64;
        for d in docs {
            let id = id_of(&d, "document")?;
            let org = d.get_object_id("organizationId").ok();
            // One file that cannot be deleted must not hold up the others.
            if let Err(e) = storage.delete(text(&d, "storageKey")).await {
                tracing::error!(documentId = %id, error = %e, "[CLEANUP] file not deleted; retried next run");
                continue;
            }
            let mut only_if_still = filter.clone();
            only_if_still.insert("_id", id);
            if coll.delete_one(only_if_still).await? {
                report.deleted += 1;
                let entry = AuditEntry::new(Action::Delete, "document")
                    .id(id)
                    .changes(doc! { "purged": true, "reason": reason, "actor": "cleanup" });
                db.audit(
                    entry,
                    org,
                    None,
                    &RequestMeta::system("cleanup", "SCHEDULE"),
                )
                .await;
            }
        }
        report.remaining += coll.count(filter).await?;
    }
    report.duration_ms = started.elapsed().as_millis() as u64;
    tracing::info!(
        scanned = report.scanned,
        deleted = report.deleted,
        remaining = report.remaining,
        durationMs = report.duration_ms,
        "[CLEANUP] documents swept"
    );
    Ok(report)
}
