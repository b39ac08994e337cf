//! The one error type of the API and its `application/problem+json` form
//! (RFC 9457).
//!
//! Handlers return `Result<ApiResponse, ApiError>`; the runtime renders the
//! error once, adding the request id. Internal errors are logged with the
//! request id and shown to the client as a bare 500. Storage errors are
//! translated here, in [`ApiError::from_db`], and nowhere else.

use http::StatusCode;
use serde::Serialize;
use serde_json::json;

pub use crate::codes::Code;
use crate::rbac::{Permission, Role};
use crate::response::ApiResponse;

/// A validation failure pinned to one input field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug)]
pub enum ApiError {
    /// 400: the request cannot be read (malformed JSON, bad id, forged cursor, unknown query parameter).
    BadRequest {
        code: Code,
        detail: String,
        errors: Vec<FieldError>,
    },
    /// 401: no valid credentials.
    Unauthenticated { code: Code, detail: String },
    /// 403: the caller's role is below what the action needs.
    PermissionDenied {
        permission: Permission,
        required: Role,
        actual: Role,
    },
    /// 403: refused for a reason other than role (inactive user or organization).
    Forbidden { code: Code, detail: String },
    /// 404: absent, deleted, or another organization's: indistinguishable on purpose.
    NotFound { resource: &'static str },
    /// 405, with the methods the route does accept.
    MethodNotAllowed { allow: String },
    /// 409.
    Conflict {
        code: Code,
        detail: String,
        errors: Vec<FieldError>,
    },
    /// 412: `If-Match` named a version that is no longer current.
    PreconditionFailed { current_version: i64 },
    /// 428: the action needs `If-Match` (what the client last saw).
    PreconditionRequired { detail: String },
    /// 413.
    PayloadTooLarge { limit: usize },
    /// 415.
    UnsupportedMediaType,
    /// 422: the request was read but its content is invalid.
    Validation { errors: Vec<FieldError> },
    /// 422 with a specific code (a business rule rather than a field format).
    Unprocessable {
        code: Code,
        detail: String,
        errors: Vec<FieldError>,
    },
    /// 429.
    RateLimited { retry_after: u64, detail: String },
    /// 410: what the client holds is too old to continue from.
    Gone { code: Code, detail: String },
    /// 503: a dependency (the database) is unreachable.
    Unavailable { code: Code, detail: String },
    /// 500: logged in full, with the chain of its causes, shown as nothing.
    Internal {
        context: String,
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl ApiError {
    pub fn bad_request(code: Code, detail: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            detail: detail.into(),
            errors: vec![],
        }
    }

    pub fn bad_field(code: Code, field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::BadRequest {
            code,
            detail: format!("{field}: {message}"),
            errors: vec![FieldError::new(field, message)],
        }
    }

    pub fn unauthenticated(code: Code, detail: impl Into<String>) -> Self {
        Self::Unauthenticated {
            code,
            detail: detail.into(),
        }
    }

    pub fn forbidden(code: Code, detail: impl Into<String>) -> Self {
        Self::Forbidden {
            code,
            detail: detail.into(),
        }
    }

    pub fn conflict(code: Code, detail: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            detail: detail.into(),
            errors: vec![],
        }
    }

    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Validation {
            errors: vec![FieldError::new(field, message)],
        }
    }

    pub fn internal(context: impl Into<String>) -> Self {
        Self::Internal {
            context: context.into(),
            source: None,
        }
    }

    /// A 500 for what `context` was doing when `source` failed; the log
    /// line shows `source` and its own causes.
    pub fn internal_from(
        context: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Internal {
            context: context.into(),
            source: Some(Box::new(source)),
        }
    }

    /// An internal error's context and the chain of its causes (what its
    /// log line and its `Display` show); `None` for any other error.
    fn internal_what(&self) -> Option<String> {
        let Self::Internal { context, source } = self else {
            return None;
        };
        Some(match source.as_deref() {
            Some(cause) => format!("{context}: {}", chain(cause)),
            None => context.clone(),
        })
    }

    /// Whether the error names `field` among its field errors.
    pub fn fields_include(&self, field: &str) -> bool {
        match self {
            Self::BadRequest { errors, .. }
            | Self::Conflict { errors, .. }
            | Self::Validation { errors }
            | Self::Unprocessable { errors, .. } => errors.iter().any(|e| e.field == field),
            _ => false,
        }
    }

    /// 503 `DATABASE_UNAVAILABLE`: the database did not answer in time.
    pub fn database_unavailable() -> Self {
        Self::Unavailable {
            code: Code::DatabaseUnavailable,
            detail: "The database is unavailable; retry shortly".into(),
        }
    }

    /// The database could not be reached (tried again only within the
    /// database timeout).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Self::Unavailable {
                code: Code::DatabaseUnavailable,
                ..
            }
        )
    }

    /// True for a transaction that lost a write conflict: running it again
    /// from the start is safe and is what MongoDB's drivers advise.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Conflict {
                code: Code::WriteConflict,
                ..
            }
        )
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthenticated { .. } => StatusCode::UNAUTHORIZED,
            Self::PermissionDenied { .. } | Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            Self::PreconditionRequired { .. } => StatusCode::PRECONDITION_REQUIRED,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation { .. } | Self::Unprocessable { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Gone { .. } => StatusCode::GONE,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable, machine-readable code clients branch on.
    pub fn code(&self) -> Code {
        match self {
            Self::BadRequest { code, .. }
            | Self::Unauthenticated { code, .. }
            | Self::Forbidden { code, .. }
            | Self::Conflict { code, .. }
            | Self::Unprocessable { code, .. }
            | Self::Gone { code, .. }
            | Self::Unavailable { code, .. } => *code,
            Self::PermissionDenied { .. } => Code::PermissionDenied,
            Self::NotFound { .. } => Code::NotFound,
            Self::MethodNotAllowed { .. } => Code::MethodNotAllowed,
            Self::PreconditionFailed { .. } => Code::VersionMismatch,
            Self::PreconditionRequired { .. } => Code::PreconditionRequired,
            Self::PayloadTooLarge { .. } => Code::PayloadTooLarge,
            Self::UnsupportedMediaType => Code::UnsupportedMediaType,
            Self::Validation { .. } => Code::ValidationFailed,
            Self::RateLimited { .. } => Code::RateLimitExceeded,
            Self::Internal { .. } => Code::InternalError,
        }
    }

    fn detail(&self) -> String {
        match self {
            Self::BadRequest { detail, .. }
            | Self::Unauthenticated { detail, .. }
            | Self::Forbidden { detail, .. }
            | Self::Conflict { detail, .. }
            | Self::Unprocessable { detail, .. }
            | Self::RateLimited { detail, .. }
            | Self::Gone { detail, .. }
            | Self::PreconditionRequired { detail }
            | Self::Unavailable { detail, .. } => detail.clone(),
            Self::PermissionDenied {
                required, actual, ..
            } => format!("This action needs the {required} role or higher; you have {actual}"),
            Self::NotFound { resource } => format!("No such {resource}"),
            Self::MethodNotAllowed { allow } => format!("Allowed methods: {allow}"),
            Self::PreconditionFailed { current_version } => format!(
                "The record has changed: the current version is {current_version}; reload it and retry"
            ),
            Self::PayloadTooLarge { limit } => {
                format!("The request body is larger than {limit} bytes")
            }
            Self::UnsupportedMediaType => "Send the body as application/json".into(),
            Self::Validation { errors } => match errors.as_slice() {
                [one] => format!("{}: {}", one.field, one.message),
                _ => format!("{} fields are invalid", errors.len()),
            },
            Self::Internal { .. } => "Something went wrong on our side".into(),
        }
    }

    fn errors(&self) -> &[FieldError] {
        match self {
            Self::BadRequest { errors, .. }
            | Self::Conflict { errors, .. }
            | Self::Validation { errors }
            | Self::Unprocessable { errors, .. } => errors,
            _ => &[],
        }
    }

    /// Renders the problem document. Internal details never leave this function.
    pub fn to_response(&self, request_id: &str) -> ApiResponse {
        let status = self.status();
        if let Some(what) = self.internal_what() {
            tracing::error!(requestId = request_id, error = %what, "[INTERNAL_ERROR] request failed");
        }
        let mut body = json!({
            "type": format!("https://errors.workshop-crm.dev/{}", self.code().as_str().to_lowercase().replace('_', "-")),
            "title": status.canonical_reason().unwrap_or("Error"),
            "status": status.as_u16(),
            "detail": self.detail(),
            "code": self.code(),
            "requestId": request_id,
        });
        if !self.errors().is_empty() {
            body["errors"] = json!(self.errors());
        }
        if let Self::PermissionDenied {
            required, actual, ..
        } = self
        {
            body["requiredRole"] = json!(required);
            body["actualRole"] = json!(actual);
        }
        if let Self::PreconditionFailed { current_version } = self {
            body["currentVersion"] = json!(current_version);
        }
        let mut response = ApiResponse::json_with_type(status, &body, "application/problem+json");
        match self {
            Self::RateLimited { retry_after, .. } => {
                response.set_header("retry-after", &retry_after.to_string());
            }
            Self::MethodNotAllowed { allow } => response.set_header("allow", allow),
            Self::Unauthenticated { .. } => response.set_header("www-authenticate", "Bearer"),
            _ => {}
        }
        response
    }

    /// Translates a MongoDB driver error, once for the whole code base:
    /// duplicate keys become 409 naming the field, an unreachable server 503,
    /// a transaction write conflict 409 (safe to retry), anything else 500.
    pub fn from_db(err: mongodb::error::Error) -> Self {
        use mongodb::error::ErrorKind;
        if let Some(field) = duplicate_key_field(&err) {
            return Self::Conflict {
                code: Code::AlreadyExists,
                detail: format!("A record with this {field} already exists"),
                errors: vec![FieldError::new(field.clone(), "is already in use")],
            };
        }
        // Unreachable first: a transaction's network error also carries the
        // transient label, but it is an outage, retried only until the
        // database timeout (`crate::transaction::Retry`), not a conflict.
        // A server shutting down (ShutdownInProgress, InterruptedAtShutdown)
        // is an outage too.
        let shutting_down =
            matches!(&*err.kind, ErrorKind::Command(c) if c.code == 91 || c.code == 11600);
        if shutting_down
            || matches!(
                *err.kind,
                ErrorKind::ServerSelection { .. }
                    | ErrorKind::Io(_)
                    | ErrorKind::ConnectionPoolCleared { .. }
            )
        {
            tracing::error!(error = %err, "[DATABASE_ERROR] database unreachable");
            return Self::database_unavailable();
        }
        if err.contains_label(mongodb::error::TRANSIENT_TRANSACTION_ERROR) {
            return Self::conflict(
                Code::WriteConflict,
                "The record was changed by another request at the same time; retry",
            );
        }
        Self::internal(format!("[DATABASE_ERROR] {err}"))
    }
}

/// A configuration that cannot work: start-up stops with this message,
/// which names the variable.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// For command-line tools; clients only ever see [`ApiError::to_response`].
impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Internal { .. } => {
                write!(
                    f,
                    "{}: {}",
                    self.code(),
                    self.internal_what().unwrap_or_default()
                )
            }
            _ => write!(f, "{}: {}", self.code(), self.detail()),
        }
    }
}

impl std::error::Error for ApiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Internal {
                source: Some(source),
                ..
            } => Some(source.as_ref()),
            _ => None,
        }
    }
}

/// `err` and each of its causes, joined by `: ` (what an internal error's
/// log line shows).
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut next = err.source();
    while let Some(cause) = next {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        next = cause.source();
    }
    out
}

/// `.internal("presigning a PUT")?`: a failure of something the request
/// needed becomes a 500 that keeps it as its cause.
pub trait OrInternal<T> {
    fn internal(self, context: &str) -> Result<T, ApiError>;
}

impl<T, E: std::error::Error + Send + Sync + 'static> OrInternal<T> for Result<T, E> {
    fn internal(self, context: &str) -> Result<T, ApiError> {
        self.map_err(|e| ApiError::internal_from(context, e))
    }
}

/// The `_id` of a stored document (a 500 naming `what` when it has none,
/// which only a corrupt document does).
pub fn id_of(doc: &bson::Document, what: &str) -> Result<bson::oid::ObjectId, ApiError> {
    doc.get_object_id("_id")
        .map_err(|e| ApiError::internal_from(format!("{what} without _id"), e))
}

impl From<mongodb::error::Error> for ApiError {
    fn from(err: mongodb::error::Error) -> Self {
        Self::from_db(err)
    }
}

/// The field named by an E11000 error, taken from its index name
/// (`email_1`, `organizationId_1_sku_1` -> `sku`).
fn duplicate_key_field(err: &mongodb::error::Error) -> Option<String> {
    use mongodb::error::{ErrorKind, WriteFailure};
    let (code, message) = match &*err.kind {
        ErrorKind::Write(WriteFailure::WriteError(e)) => (e.code, e.message.clone()),
        ErrorKind::Command(e) => (e.code, e.message.clone()),
        ErrorKind::InsertMany(e) => {
            let first = e.write_errors.as_ref()?.first()?;
            (first.code, first.message.clone())
        }
        _ => return None,
    };
    if code != 11000 {
        return None;
    }
    Some(index_field(&message).unwrap_or_else(|| "value".into()))
}

fn index_field(message: &str) -> Option<String> {
    let name = message.split("index: ").nth(1)?.split_whitespace().next()?;
    let words: Vec<&str> = name.split('_').collect();
    // Index names alternate field and direction; the last field is the one
    // that is unique within the organization.
    words
        .chunks(2)
        .map(|c| c[0])
        .rfind(|f| *f != "organizationId" && *f != "deletedAt")
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_internal_error_keeps_its_cause_in_its_message_and_its_source() {
        let io = std::io::Error::other("disk full");
        let e = Err::<(), _>(io)
            .internal("writing the archive")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "INTERNAL_ERROR: writing the archive: disk full"
        );
        let source = std::error::Error::source(&e).map(|s| s.to_string());
        assert_eq!(source.as_deref(), Some("disk full"));
        // The client sees none of it.
        let body = String::from_utf8(e.to_response("r1").body.to_vec()).unwrap();
        assert!(
            !body.contains("disk full") && !body.contains("archive"),
            "{body}"
        );
    }

    #[test]
    fn the_field_of_a_duplicate_key_comes_from_the_index_name() {
        let m = "E11000 duplicate key error collection: db.users index: email_1 dup key: { email: \"a\" }";
        assert_eq!(index_field(m).as_deref(), Some("email"));
        let m = "E11000 duplicate key error collection: db.p index: organizationId_1_sku_1 dup key";
        assert_eq!(index_field(m).as_deref(), Some("sku"));
    }

    #[test]
    fn an_internal_error_shows_nothing_internal() {
        let r = ApiError::internal("connection string mongodb://user:pw@host").to_response("r1");
        let body = String::from_utf8(r.body.clone()).unwrap();
        assert!(!body.contains("pw@host"));
        assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn a_validation_error_lists_its_fields_as_problem_json() {
        let r = ApiError::field("name", "is required").to_response("r1");
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["status"], 422);
        assert_eq!(body["code"], "VALIDATION_FAILED");
        assert_eq!(body["errors"][0]["field"], "name");
        assert_eq!(body["requestId"], "r1");
        assert_eq!(r.header("content-type"), Some("application/problem+json"));
    }
}
