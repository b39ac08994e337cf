//! S3-compatible object storage (AWS S3, Cloudflare R2, DigitalOcean Spaces,
//! MinIO, s3s-fs) through aws-sdk-s3.
//!
//! The client is built once per cold start, and only by the functions whose
//! route says it handles files. Credentials come from the environment
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, which
//! Lambda sets from the function's role), never from instance-metadata
//! probing, so a cold start off AWS does not wait for a metadata endpoint.
//!
//! Object keys are generated here and only here: `<prefix>org/<organizationId>/…`.
//! Storage failures become `503 STORAGE_UNAVAILABLE`, with the cause logged.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use bson::oid::ObjectId;

use crate::config::StorageConfig;
use crate::error::Code;
use crate::error::{ApiError, OrInternal};

/// What a function may do in the bucket: declared per route, turned into
/// the function's IAM policy in `template.yaml`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum S3Permission {
    /// Presigned downloads and HEAD checks.
    GetObject,
    /// Presigned uploads.
    PutObject,
    DeleteObject,
    /// Listing a prefix (to delete everything under it).
    ListBucket,
}

impl S3Permission {
    /// The IAM action.
    pub fn action(self) -> &'static str {
        match self {
            S3Permission::GetObject => "s3:GetObject",
            S3Permission::PutObject => "s3:PutObject",
            S3Permission::DeleteObject => "s3:DeleteObject",
            S3Permission::ListBucket => "s3:ListBucket",
        }
    }
}

/// The storage handle kept in the function's state: where keys start, and
/// the backend that talks to the bucket. The backend is a trait object made
/// only by [`Storage::s3`], which only the routes that handle files name
/// (see `runtime::Deploy::storage`): every other function binary links no
/// S3 SDK at all.
pub struct Storage {
    backend: Box<dyn Backend>,
    prefix: String,
}

/// Builds a function's [`Storage`] from its configuration at cold start.
pub type Opener = fn(&StorageConfig) -> Storage;

type Fut<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, ApiError>> + Send + 'a>>;

/// What the platform asks of a bucket.
trait Backend: Send + Sync {
    fn presign_put<'a>(
        &'a self,
        key: &'a str,
        content_type: &'a str,
        size: u64,
        ttl: Duration,
    ) -> Fut<'a, Presigned>;
    fn presign_get<'a>(
        &'a self,
        key: &'a str,
        file_name: &'a str,
        content_type: &'a str,
        ttl: Duration,
    ) -> Fut<'a, String>;
    fn head<'a>(&'a self, key: &'a str) -> Fut<'a, Option<ObjectInfo>>;
    fn get<'a>(&'a self, key: &'a str, max: u64) -> Fut<'a, Option<Vec<u8>>>;
    fn delete<'a>(&'a self, key: &'a str) -> Fut<'a, ()>;
    fn put<'a>(&'a self, key: &'a str, content_type: &'a str, body: Vec<u8>) -> Fut<'a, ()>;
    fn delete_batch<'a>(&'a self, prefix: &'a str, limit: i32) -> Fut<'a, u64>;
    fn has_objects<'a>(&'a self, prefix: &'a str) -> Fut<'a, bool>;
}

/// The S3 API through aws-sdk-s3.
struct S3 {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl Backend for S3 {
    fn presign_put<'a>(
        &'a self,
        key: &'a str,
        content_type: &'a str,
        size: u64,
        ttl: Duration,
    ) -> Fut<'a, Presigned> {
        Box::pin(self.presign_put(key, content_type, size, ttl))
    }
    fn presign_get<'a>(
        &'a self,
        key: &'a str,
        file_name: &'a str,
        content_type: &'a str,
        ttl: Duration,
    ) -> Fut<'a, String> {
        Box::pin(self.presign_get(key, file_name, content_type, ttl))
    }
    fn head<'a>(&'a self, key: &'a str) -> Fut<'a, Option<ObjectInfo>> {
        Box::pin(self.head(key))
    }
    fn get<'a>(&'a self, key: &'a str, max: u64) -> Fut<'a, Option<Vec<u8>>> {
        Box::pin(self.get(key, max))
    }
    fn delete<'a>(&'a self, key: &'a str) -> Fut<'a, ()> {
        Box::pin(self.delete(key))
    }
    fn put<'a>(&'a self, key: &'a str, content_type: &'a str, body: Vec<u8>) -> Fut<'a, ()> {
        Box::pin(self.put(key, content_type, body))
    }
    fn delete_batch<'a>(&'a self, prefix: &'a str, limit: i32) -> Fut<'a, u64> {
        Box::pin(self.delete_batch(prefix, limit))
    }
    fn has_objects<'a>(&'a self, prefix: &'a str) -> Fut<'a, bool> {
        Box::pin(self.has_objects(prefix))
    }
}

/// A presigned request for the client to make itself.
#[derive(Debug)]
pub struct Presigned {
    pub url: String,
    pub method: String,
    /// Headers the client must send exactly (they are part of the signature).
    pub headers: Vec<(String, String)>,
}

/// What a HEAD says about a stored object.
#[derive(Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    pub size: u64,
    pub content_type: Option<String>,
}

impl Storage {
    /// Storage on an S3-compatible bucket: the [`Opener`] of the routes that
    /// handle files.
    pub fn s3(config: &StorageConfig) -> Self {
        let credentials = Credentials::new(
            config.access_key_id.expose(),
            config.secret_access_key.expose(),
            config
                .session_token
                .as_ref()
                .map(|t| t.expose().to_string()),
            None,
            "environment",
        );
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let mut builder = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(config.region.clone()))
            .credentials_provider(credentials)
            .http_client(http)
            .force_path_style(config.force_path_style)
            // Checksums only where S3 requires them: several S3-compatible
            // servers reject the newer default checksum headers.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .timeout_config(
                aws_sdk_s3::config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(2))
                    .operation_attempt_timeout(Duration::from_secs(5))
                    .operation_timeout(Duration::from_secs(10))
                    .build(),
            )
            .retry_config(aws_sdk_s3::config::retry::RetryConfig::standard().with_max_attempts(2));
        if let Some(endpoint) = &config.endpoint {
            builder = builder.endpoint_url(endpoint);
        }
        Self {
            backend: Box::new(S3 {
                client: aws_sdk_s3::Client::from_conf(builder.build()),
                bucket: config.bucket.clone(),
            }),
            prefix: config.key_prefix.clone(),
        }
    }

    /// Every object of an organization lives under this prefix.
    pub fn organization_prefix(&self, org: ObjectId) -> String {
        format!("{}org/{}/", self.prefix, org.to_hex())
    }

    /// The one key a document's file is stored under.
    pub fn document_key(&self, org: ObjectId, document: ObjectId) -> String {
        format!(
            "{}documents/{}",
            self.organization_prefix(org),
            document.to_hex()
        )
    }

    /// A PUT of exactly `size` bytes of `content_type` to `key`, valid `ttl`.
    pub async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
        ttl: Duration,
    ) -> Result<Presigned, ApiError> {
        self.backend.presign_put(key, content_type, size, ttl).await
    }

    /// A GET of `key`, valid `ttl`, that downloads as `file_name` with
    /// `content_type` (empty: the type the object was stored with).
    pub async fn presign_get(
        &self,
        key: &str,
        file_name: &str,
        content_type: &str,
        ttl: Duration,
    ) -> Result<String, ApiError> {
        self.backend
            .presign_get(key, file_name, content_type, ttl)
            .await
    }

    /// Stores `body` at `key` as `content_type`: for what the server writes
    /// itself (the demo seed's photos); clients upload with presigned PUTs.
    pub async fn put(&self, key: &str, content_type: &str, body: Vec<u8>) -> Result<(), ApiError> {
        self.backend.put(key, content_type, body).await
    }

    /// The object's size and type, or `None` if there is no such object.
    pub async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, ApiError> {
        self.backend.head(key).await
    }

    /// The object's bytes, or `None` if there is no such object or it is
    /// larger than `max` bytes (then nothing past its headers is read):
    /// for the server's own reads of small files (a logo to print).
    pub async fn get(&self, key: &str, max: u64) -> Result<Option<Vec<u8>>, ApiError> {
        self.backend.get(key, max).await
    }

    /// Deletes one object; deleting a missing object is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), ApiError> {
        self.backend.delete(key).await
    }

    /// Deletes up to `limit` objects under `prefix` (one listing page at
    /// most); returns how many it deleted. Call again until it returns 0.
    pub async fn delete_batch(&self, prefix: &str, limit: i32) -> Result<u64, ApiError> {
        self.backend.delete_batch(prefix, limit).await
    }

    /// Whether any object is stored under `prefix`.
    pub async fn has_objects(&self, prefix: &str) -> Result<bool, ApiError> {
        self.backend.has_objects(prefix).await
    }
}

impl S3 {
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
        ttl: Duration,
    ) -> Result<Presigned, ApiError> {
        let size = i64::try_from(size).map_err(|_| ApiError::internal("upload size overflow"))?;
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .content_length(size)
            .presigned(presigning(ttl)?)
            .await
            .internal("[STORAGE] presigning a PUT")?;
        let mut headers: Vec<(String, String)> = request
            .headers()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
            .collect();
        for (name, value) in [
            ("content-type", content_type.to_string()),
            ("content-length", size.to_string()),
        ] {
            if !headers.iter().any(|(k, _)| k == name) {
                headers.push((name.to_string(), value));
            }
        }
        headers.sort();
        Ok(Presigned {
            url: request.uri().to_string(),
            method: request.method().to_string(),
            headers,
        })
    }

    /// A GET of `key`, valid `ttl`, that downloads as `file_name`.
    async fn presign_get(
        &self,
        key: &str,
        file_name: &str,
        content_type: &str,
        ttl: Duration,
    ) -> Result<String, ApiError> {
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .response_content_disposition(content_disposition(file_name))
            .set_response_content_type((!content_type.is_empty()).then(|| content_type.to_string()))
            .presigned(presigning(ttl)?)
            .await
            .internal("[STORAGE] presigning a GET")?;
        Ok(request.uri().to_string())
    }

    /// The object's size and type, or `None` if there is no such object.
    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, ApiError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => Ok(Some(ObjectInfo {
                size: out.content_length().unwrap_or(0).max(0) as u64,
                content_type: out.content_type().map(str::to_string),
            })),
            Err(SdkError::ServiceError(e)) if e.err().is_not_found() => Ok(None),
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(unavailable("HEAD", e)),
        }
    }

    async fn get(&self, key: &str, max: u64) -> Result<Option<Vec<u8>>, ApiError> {
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(SdkError::ServiceError(e)) if e.err().is_no_such_key() => return Ok(None),
            Err(e) if status_of(&e) == Some(404) => return Ok(None),
            Err(e) => return Err(unavailable("GET", e)),
        };
        if out.content_length().unwrap_or(i64::MAX).max(0) as u64 > max {
            return Ok(None);
        }
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "[STORAGE] reading an object's body failed");
                ApiError::Unavailable {
                    code: Code::StorageUnavailable,
                    detail: "The file store is unavailable; retry shortly".into(),
                }
            })?
            .into_bytes();
        Ok((bytes.len() as u64 <= max).then(|| bytes.to_vec()))
    }

    /// Stores `body` at `key` (the server's own writes: the demo seed).
    async fn put(&self, key: &str, content_type: &str, body: Vec<u8>) -> Result<(), ApiError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(body.into())
            .send()
            .await
            .map_err(|e| unavailable("PUT", e))?;
        Ok(())
    }

    /// Deletes one object; deleting a missing object is not an error.
    async fn delete(&self, key: &str) -> Result<(), ApiError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| unavailable("DELETE", e))?;
        Ok(())
    }

    /// Deletes up to `limit` objects under `prefix` (one listing page at
    /// most); returns how many it deleted. Call again until it returns 0.
    async fn delete_batch(&self, prefix: &str, limit: i32) -> Result<u64, ApiError> {
        let keys: Vec<ObjectIdentifier> = self
            .list(prefix, limit.clamp(1, 1000))
            .await?
            .iter()
            .filter_map(|k| ObjectIdentifier::builder().key(k).build().ok())
            .collect();
        if keys.is_empty() {
            return Ok(0);
        }
        let n = keys.len() as u64;
        let delete = Delete::builder()
            .set_objects(Some(keys))
            .quiet(true)
            .build()
            .internal("[STORAGE] delete request")?;
        let out = self
            .client
            .delete_objects()
            .bucket(&self.bucket)
            .delete(delete)
            .send()
            .await
            .map_err(|e| unavailable("DELETE", e))?;
        if let Some(e) = out.errors().first() {
            return Err(ApiError::Unavailable {
                code: Code::StorageUnavailable,
                detail: format!(
                    "The file store refused to delete a file ({}); retry shortly",
                    e.code().unwrap_or("unknown")
                ),
            });
        }
        Ok(n)
    }

    /// Whether any object is stored under `prefix`.
    async fn has_objects(&self, prefix: &str) -> Result<bool, ApiError> {
        Ok(!self.list(prefix, 1).await?.is_empty())
    }

    /// Up to `max` keys under `prefix` (one listing page).
    async fn list(&self, prefix: &str, max: i32) -> Result<Vec<String>, ApiError> {
        let listed = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .max_keys(max)
            .send()
            .await
            .map_err(|e| unavailable("LIST", e))?;
        Ok(listed
            .contents()
            .iter()
            .filter_map(|o| o.key())
            .filter(|k| k.starts_with(prefix))
            .map(str::to_string)
            .collect())
    }
}

fn presigning(ttl: Duration) -> Result<PresigningConfig, ApiError> {
    PresigningConfig::builder()
        .start_time(SystemTime::now())
        .expires_in(ttl)
        .build()
        .internal("[STORAGE] presigning config")
}

fn status_of<E>(e: &SdkError<E>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

fn unavailable<E: ProvideErrorMetadata + std::error::Error + 'static>(
    operation: &str,
    e: SdkError<E>,
) -> ApiError {
    let code = e.code().unwrap_or("none").to_string();
    tracing::error!(operation, code = %code, error = %aws_sdk_s3::error::DisplayErrorContext(&e), "[STORAGE_ERROR] file store call failed");
    ApiError::Unavailable {
        code: Code::StorageUnavailable,
        detail: "The file store is unavailable; retry shortly".into(),
    }
}

/// `attachment` with the original name: an ASCII fallback (quotes,
/// backslashes, control and non-ASCII characters replaced) and the exact
/// name as RFC 5987 `filename*`, so no name can break out of the header.
pub fn content_disposition(file_name: &str) -> String {
    let fallback: String = file_name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in file_name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_name_cannot_break_out_of_the_disposition_header() {
        let d = content_disposition("a\"b\r\nX-Evil: 1.pdf");
        assert!(!d.contains('\r') && !d.contains('\n'));
        assert!(d.starts_with("attachment; filename=\"a_b__X-Evil: 1.pdf\"; "));
        assert!(d.ends_with("filename*=UTF-8''a%22b%0D%0AX-Evil%3A%201.pdf"));
    }

    #[test]
    fn a_unicode_name_is_kept_exactly_in_the_extended_parameter() {
        let d = content_disposition("Kostenvoranschlag Müller.pdf");
        assert!(d.contains("filename=\"Kostenvoranschlag M_ller.pdf\""));
        assert!(d.contains("filename*=UTF-8''Kostenvoranschlag%20M%C3%BCller.pdf"));
    }
}
