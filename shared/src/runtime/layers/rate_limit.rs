//! Layer 6: counts the request in its bucket and refuses it (429 with
//! `Retry-After`) once the bucket is spent. A signed-in caller spends the
//! organization's API bucket of its plan, counted while the caller is read
//! and taken back unless the caller is an active member (a removed
//! member's old token spends none of it); a
//! throttled public route spends its client address's bucket. The first
//! refusal of a window is audited, once.

use bson::doc;

use crate::audit::{self, Action, AuditEntry};
use crate::auth::{self, Caller};
use crate::error::ApiError;
use crate::http::ApiRequest;
use crate::ratelimit::{self, Decision, LimitedAction};
use crate::state::State;
use crate::store::RequestMeta;

/// Authenticates the caller (layer 5) and counts the request in its
/// organization's API bucket at once: one round trip, not two. The bucket
/// is the token's organization's, known once the signature is verified;
/// its limit comes with the organization read. A request whose caller is
/// then refused (a revoked session, a removed member, a deactivated
/// account) takes its count back, from the window it was counted in, before
/// it answers, so such a token spends none of the bucket. Between the two
/// its count is in the bucket: a burst of such requests, from a token that
/// was valid for this organization at most an access token's lifetime ago,
/// can hold the count up while it lasts (README, "Round trips per
/// request"); blocking its address (`crm-admin ips block`) stops it.
/// An API key with a limit of its own (`rateLimitPerMinute`) also counts in
/// its key's bucket, and its use is recorded ([`auth::apikeys::touch`]),
/// both in the same round trip, and so is the endpoint's record or page
/// (`beside`, read in the caller's own command: [`auth::caller`]), handed
/// back whatever the verdict for the runtime to drop or pass on.
pub(crate) async fn authenticate(
    state: &State,
    token: &auth::Bearer,
    ip: Option<std::net::IpAddr>,
    beside: Option<auth::Beside>,
) -> (Result<(Caller, Decision), ApiError>, auth::BesideRead) {
    let key = token.org_id.to_hex();
    let api_key = token.key();
    // An API key's own limit, and its last use, in the same round trip.
    let key_hit = async {
        match api_key {
            Some(k) if k.rate_limit.is_some() => {
                Some(ratelimit::hit(state, LimitedAction::Api, &format!("key:{}", k.key_id)).await)
            }
            _ => None,
        }
    };
    let touch = async {
        if let Some(k) = api_key {
            auth::apikeys::touch(state, k, ip).await;
        }
    };
    let ((caller, read), hit, key_hit, ()) = tokio::join!(
        auth::caller(state, token, beside),
        ratelimit::hit(state, LimitedAction::Api, &key),
        key_hit,
        touch,
    );
    (judge(state, token, caller, hit, key_hit).await, read)
}

/// The organization's count, and an API key's own, judged once the caller
/// is known (see [`authenticate`]).
async fn judge(
    state: &State,
    token: &auth::Bearer,
    caller: Result<Caller, ApiError>,
    hit: Result<ratelimit::Hit, ApiError>,
    key_hit: Option<Result<ratelimit::Hit, ApiError>>,
) -> Result<(Caller, Decision), ApiError> {
    let key = token.org_id.to_hex();
    let api_key = token.key();
    let caller = match caller {
        Ok(caller) => caller,
        Err(refused) => {
            if let Ok(hit) = &hit {
                ratelimit::undo_at(state, LimitedAction::Api, &key, hit.now).await;
            }
            return Err(refused);
        }
    };
    let limit = caller
        .org
        .limit(&state.config.rate_limits, LimitedAction::Api);
    let org = Decision::new(LimitedAction::Api, limit, hit?);
    if let (Some(hit), Some(limit)) = (key_hit, api_key.and_then(|k| k.rate_limit)) {
        let own = Decision::new(LimitedAction::Api, limit, hit?);
        if !own.allowed() {
            // A key held to its own limit spends none of its organization's.
            ratelimit::undo_at(state, LimitedAction::Api, &key, org.now).await;
            tracing::warn!(organizationId = %caller.org.id, limit = own.limit,
                "[RATE_LIMIT] API key over its own limit");
            return Err(ApiError::RateLimited {
                retry_after: own.reset_secs(),
                detail: "This API key allows no more requests this minute".into(),
            });
        }
    }
    Ok((caller, org))
}

/// Refuses a caller whose organization's bucket is spent.
pub async fn enforce(
    state: &State,
    caller: &Caller,
    meta: &RequestMeta,
    d: Decision,
) -> Result<(), ApiError> {
    if d.allowed() {
        return Ok(());
    }
    tracing::warn!(requestId = %meta.request_id, userId = %caller.user.id, organizationId = %caller.org.id,
        bucket = d.action.name(), limit = d.limit, "[RATE_LIMIT] request refused");
    if d.first_refusal() {
        let entry = AuditEntry::new(Action::RateLimitExceeded, "rate_limit").changes(doc! {
            "bucket": d.action.name(), "limit": d.limit as i64, "windowResetsAt": d.reset_at as i64,
        });
        audit::write_direct(
            &state.db,
            entry.into_document(Some(caller.org.id), Some(caller.user.id), meta),
        )
        .await;
    }
    Err(d.error())
}

/// Counts the request in its client address's bucket (throttled public
/// routes).
pub async fn client(
    state: &State,
    action: LimitedAction,
    req: &ApiRequest,
) -> Result<Decision, ApiError> {
    let limit = ratelimit::platform_limit(state, action);
    ratelimit::count(state, action, &ratelimit::client_key(req.client_ip), limit).await
}

/// Refuses a client whose bucket is spent.
pub fn enforce_client(req: &ApiRequest, d: Decision) -> Result<(), ApiError> {
    if d.allowed() {
        return Ok(());
    }
    tracing::warn!(requestId = %req.request_id, bucket = d.action.name(), limit = d.limit,
        ip = ?req.client_ip, "[RATE_LIMIT] public endpoint throttled");
    Err(d.error())
}
