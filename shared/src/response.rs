//! The response every handler returns, whatever platform carries it: a
//! status, headers and a body. The runtime adds request id, CORS and
//! rate-limit headers; [`crate::error::ApiError`] renders itself into one.

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde::Serialize;

/// A response before the runtime adds request id, CORS and rate-limit headers.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl ApiResponse {
    pub fn json(status: StatusCode, value: &impl Serialize) -> Self {
        Self::json_with_type(status, value, "application/json")
    }

    pub fn json_with_type(status: StatusCode, value: &impl Serialize, content_type: &str) -> Self {
        let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
        Self::bytes(status, content_type, body)
    }

    /// A body of another media type (a page, a file), as it is.
    pub fn bytes(status: StatusCode, content_type: &str, body: Vec<u8>) -> Self {
        let mut r = Self {
            status,
            headers: HeaderMap::new(),
            body,
        };
        r.set_header("content-type", content_type);
        r
    }

    pub fn ok(value: &impl Serialize) -> Self {
        Self::json(StatusCode::OK, value)
    }

    pub fn created(value: &impl Serialize) -> Self {
        Self::json(StatusCode::CREATED, value)
    }

    pub fn no_content() -> Self {
        Self {
            status: StatusCode::NO_CONTENT,
            headers: HeaderMap::new(),
            body: vec![],
        }
    }

    /// Sets a header; a value that is not a valid header value is dropped.
    pub fn set_header(&mut self, name: &str, value: &str) {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            self.headers.insert(n, v);
        }
    }

    pub fn append_header(&mut self, name: &str, value: &str) {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            self.headers.append(n, v);
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}
