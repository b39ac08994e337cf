//! The way out: whatever the layers or the handler answered (an error
//! becomes problem+json), the idempotent answer is recorded, and the
//! response gets its RateLimit headers, `Cache-Control: no-store` unless the
//! handler chose, `X-Content-Type-Options`, CORS, `X-Request-Id`; then one
//! `[REQUEST]` log line.

use std::time::Instant;

use bson::oid::ObjectId;
use http::Method;

use super::cors;
use crate::http::{ApiRequest, ApiResponse};
use crate::idempotency::Pending;
use crate::ratelimit::Decision;
use crate::runtime::HandlerResult;
use crate::state::State;

/// What the layers left for the way out.
#[derive(Default)]
pub struct Trail {
    /// The rate-limit decision, for the RateLimit headers.
    pub decision: Option<Decision>,
    /// The caller (user, organization), for the log line.
    pub caller: Option<(ObjectId, ObjectId)>,
    /// The idempotency reservation to complete.
    pub idempotency: Option<std::sync::Arc<Pending>>,
    /// A capability link's route: every answer, errors too, is readable
    /// from any origin without credentials, never cached nor referred.
    pub public: bool,
}

/// The request as it came in, for the way out.
pub struct Incoming {
    started: Instant,
    request_id: String,
    origin: Option<String>,
    method: Method,
    path: String,
    if_none_match: Option<String>,
}

impl Incoming {
    pub fn of(req: &ApiRequest, started: Instant) -> Self {
        Self {
            started,
            request_id: req.request_id.clone(),
            origin: req.header("origin").map(str::to_string),
            method: req.method.clone(),
            // A capability link's token is a credential: never logged.
            path: crate::auth::links::redacted(&req.path),
            if_none_match: req.header("if-none-match").map(str::to_string),
        }
    }
}

pub async fn finish(
    state: &State,
    result: HandlerResult,
    trail: Trail,
    incoming: Incoming,
) -> ApiResponse {
    let Incoming {
        started,
        request_id: rid,
        origin,
        method,
        path,
        if_none_match,
    } = incoming;
    let mut response = match result {
        Ok(r) => r,
        Err(e) => e.to_response(&rid),
    };
    if let Some(pending) = &trail.idempotency {
        crate::idempotency::complete(state, pending, &response).await;
    }
    if method == Method::GET && response.status == http::StatusCode::OK {
        revalidate(&mut response, if_none_match.as_deref());
    }
    if let Some(d) = trail.decision {
        d.apply_headers(&mut response);
    }
    if response.header("cache-control").is_none() {
        // Answers are a caller's data or a moment's state: no cache keeps them.
        response.set_header("cache-control", "no-store");
    }
    response.set_header("x-content-type-options", "nosniff");
    cors::headers(state, origin.as_deref(), &mut response);
    if trail.public {
        response.headers.remove("access-control-allow-credentials");
        response.set_header("access-control-allow-origin", "*");
        response.set_header(
            "access-control-expose-headers",
            "x-request-id, ratelimit-limit, ratelimit-remaining, ratelimit-reset, retry-after, etag",
        );
        response.set_header("cache-control", "no-store");
        response.set_header("referrer-policy", "no-referrer");
    }
    response.set_header("x-request-id", &rid);
    let (user, org) = trail
        .caller
        .map(|(u, o)| (u.to_hex(), o.to_hex()))
        .unwrap_or_default();
    tracing::info!(
        requestId = %rid, userId = %user, organizationId = %org, method = %method, path = %path,
        status = response.status.as_u16(), durationMs = started.elapsed().as_millis() as u64,
        "[REQUEST] {method} {path} {}", response.status.as_u16()
    );
    response
}

/// Cheap polling: every successful GET carries an `ETag` (a record's
/// version where its handler set one, else a digest of the body, so a list
/// page changes tag exactly when its content does), and a request whose
/// `If-None-Match` names it gets 304 with no body.
fn revalidate(response: &mut ApiResponse, if_none_match: Option<&str>) {
    let tag = match response.header("etag") {
        Some(t) => t.to_string(),
        None => {
            use sha2::{Digest, Sha256};
            let digest = Sha256::digest(&response.body);
            let tag = format!("\"{}\"", &crate::hex::hex(&digest)[..32]);
            response.set_header("etag", &tag);
            tag
        }
    };
    let opaque = |t: &str| t.trim().trim_start_matches("W/").to_string();
    let matches = if_none_match.is_some_and(|header| {
        header
            .split(',')
            .any(|t| t.trim() == "*" || opaque(t) == opaque(&tag))
    });
    if matches {
        response.status = http::StatusCode::NOT_MODIFIED;
        response.body.clear();
    }
}
