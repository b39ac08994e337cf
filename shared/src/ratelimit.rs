//! Plan rate limits, kept in MongoDB because serverless instances share no
//! memory.
//!
//! Fixed windows: one document per action, key and window
//! (`{_id: "api:<org>:<windowStart>", count, expiresAt}`), bumped with one
//! atomic upsert (`$inc`), so concurrent requests on any number of instances
//! are counted exactly. A TTL index on `expiresAt` removes finished windows.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use bson::{doc, Document};
use mongodb::options::ReturnDocument;
use mongodb::Database;
use serde::{Deserialize, Serialize};

use crate::config::ConfigError;
use crate::db::collections;
use crate::error::ApiError;
use crate::http::ApiResponse;

/// Ordered by what it allows: `Free < Pro < Enterprise` (an OWNER may move
/// down through the API; moving up is the operator's or billing's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Plan {
    Free,
    Pro,
    Enterprise,
}

impl Plan {
    pub const ALL: [Plan; 3] = [Plan::Free, Plan::Pro, Plan::Enterprise];

    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Free => "FREE",
            Plan::Pro => "PRO",
            Plan::Enterprise => "ENTERPRISE",
        }
    }

    pub fn parse(s: &str) -> Option<Plan> {
        Plan::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// Every limited action, with its window and its per-plan defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LimitedAction {
    /// API requests per organization per minute.
    Api,
    /// Uploads per organization per hour.
    Uploads,
    /// Exports per organization per hour.
    Exports,
    /// Failed logins per email per 15 minutes.
    FailedLoginEmail,
    /// Failed logins per client IP per 15 minutes.
    FailedLoginIp,
    /// Public form posts per form and IP per hour.
    PublicForm,
    /// Sign-ups (new organizations) per client address per hour.
    SignUp,
    /// Join requests per client address per hour.
    Join,
    /// Password resets per client address per hour.
    PasswordReset,
    /// Invitation acceptances per client address per hour.
    InvitationAccept,
    /// Refresh-token rotations per client address per minute.
    Refresh,
}

impl LimitedAction {
    pub const ALL: [LimitedAction; 11] = [
        LimitedAction::Api,
        LimitedAction::Uploads,
        LimitedAction::Exports,
        LimitedAction::FailedLoginEmail,
        LimitedAction::FailedLoginIp,
        LimitedAction::PublicForm,
        LimitedAction::SignUp,
        LimitedAction::Join,
        LimitedAction::PasswordReset,
        LimitedAction::InvitationAccept,
        LimitedAction::Refresh,
    ];

    pub fn name(self) -> &'static str {
        match self {
            LimitedAction::Api => "api",
            LimitedAction::Uploads => "uploads",
            LimitedAction::Exports => "exports",
            LimitedAction::FailedLoginEmail => "login_email",
            LimitedAction::FailedLoginIp => "login_ip",
            LimitedAction::PublicForm => "public_form",
            LimitedAction::SignUp => "signup",
            LimitedAction::Join => "join",
            LimitedAction::PasswordReset => "password_reset",
            LimitedAction::InvitationAccept => "invitation_accept",
            LimitedAction::Refresh => "refresh",
        }
    }

    pub fn window_secs(self) -> u64 {
        match self {
            LimitedAction::Api | LimitedAction::Refresh => 60,
            LimitedAction::FailedLoginEmail | LimitedAction::FailedLoginIp => 15 * 60,
            LimitedAction::Uploads
            | LimitedAction::Exports
            | LimitedAction::PublicForm
            | LimitedAction::SignUp
            | LimitedAction::Join
            | LimitedAction::PasswordReset
            | LimitedAction::InvitationAccept => 3600,
        }
    }

    pub fn default_limit(self, plan: Plan) -> u64 {
        let [free, pro, enterprise] = match self {
            LimitedAction::Api => [100, 1_000, 10_000],
            LimitedAction::Uploads => [100, 1_000, 10_000],
            LimitedAction::Exports => [5, 50, 500],
            LimitedAction::FailedLoginEmail => [10, 10, 10],
            LimitedAction::FailedLoginIp => [100, 100, 100],
            LimitedAction::PublicForm => [20, 20, 20],
            LimitedAction::SignUp | LimitedAction::Join => [20, 20, 20],
            LimitedAction::PasswordReset | LimitedAction::InvitationAccept => [30, 30, 30],
            LimitedAction::Refresh => [120, 120, 120],
        };
        match plan {
            Plan::Free => free,
            Plan::Pro => pro,
            Plan::Enterprise => enterprise,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            LimitedAction::Api => {
                "Your organization's plan allows no more API requests this minute"
            }
            LimitedAction::Uploads => "Your organization's plan allows no more uploads this hour",
            LimitedAction::Exports => "Your organization's plan allows no more exports this hour",
            LimitedAction::FailedLoginEmail | LimitedAction::FailedLoginIp => {
                "Too many failed sign-in attempts; try again later"
            }
            LimitedAction::PublicForm => "Too many submissions of this form; try again later",
            LimitedAction::SignUp => "Too many sign-ups from this address; try again later",
            LimitedAction::Join => "Too many join requests from this address; try again later",
            LimitedAction::PasswordReset => {
                "Too many password resets from this address; try again later"
            }
            LimitedAction::InvitationAccept => {
                "Too many invitation acceptances from this address; try again later"
            }
            LimitedAction::Refresh => {
                "Too many session refreshes from this address; try again later"
            }
        }
    }

    /// Keyed by client address rather than by organization: the same limit
    /// on every plan, set by `RATE_LIMIT_<ACTION>` alone.
    pub fn per_client(self) -> bool {
        !matches!(
            self,
            LimitedAction::Api | LimitedAction::Uploads | LimitedAction::Exports
        )
    }
}

/// The bucket key of a client address: an IPv4 address as it is, an IPv6
/// address by its /64 (one subscriber's prefix: a client rotating through
/// its own /64 stays one key), an IPv4-mapped IPv6 address as IPv4.
pub fn client_key(ip: Option<std::net::IpAddr>) -> String {
    use std::net::IpAddr;
    match ip {
        None => "unknown".into(),
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                let prefix = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{prefix}/64")
            }
        },
    }
}

/// Limits that differ from the defaults, from `RATE_LIMIT_<ACTION>_<PLAN>`
/// (for example `RATE_LIMIT_API_FREE=200`).
#[derive(Clone, Debug, Default)]
pub struct LimitOverrides(HashMap<(LimitedAction, Plan), u64>);

impl LimitOverrides {
    pub(crate) fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut map = HashMap::new();
        for action in LimitedAction::ALL.into_iter().filter(|a| a.per_client()) {
            let name = format!("RATE_LIMIT_{}", action.name().to_uppercase());
            if let Some(v) = get(&name) {
                let n = v.trim().parse().map_err(|_| {
                    ConfigError(format!("{name} must be a whole number, got {v:?}"))
                })?;
                for plan in Plan::ALL {
                    map.insert((action, plan), n);
                }
            }
        }
        for action in LimitedAction::ALL {
            for plan in Plan::ALL {
                let name = format!(
                    "RATE_LIMIT_{}_{}",
                    action.name().to_uppercase(),
                    plan.as_str()
                );
                if let Some(v) = get(&name) {
                    let n = v.trim().parse().map_err(|_| {
                        ConfigError(format!("{name} must be a whole number, got {v:?}"))
                    })?;
                    map.insert((action, plan), n);
                }
            }
        }
        Ok(Self(map))
    }

    pub fn limit(&self, action: LimitedAction, plan: Plan) -> u64 {
        self.0
            .get(&(action, plan))
            .copied()
            .unwrap_or_else(|| action.default_limit(plan))
    }
}

/// One counted request: the bucket's count including it, and when the window ends.
#[derive(Clone, Copy, Debug)]
pub struct Hit {
    pub count: u64,
    pub reset_at: u64,
}

/// A hit judged against a limit.
#[derive(Clone, Copy, Debug)]
pub struct Decision {
    pub action: LimitedAction,
    pub limit: u64,
    pub count: u64,
    pub reset_at: u64,
}

impl Decision {
    pub fn new(action: LimitedAction, limit: u64, hit: Hit) -> Self {
        Self {
            action,
            limit,
            count: hit.count,
            reset_at: hit.reset_at,
        }
    }

    pub fn allowed(&self) -> bool {
        self.count <= self.limit
    }

    /// True for exactly one request per key and window: the first refused.
    pub fn first_refusal(&self) -> bool {
        self.count == self.limit + 1
    }

    pub fn remaining(&self) -> u64 {
        self.limit.saturating_sub(self.count)
    }

    pub fn reset_secs(&self) -> u64 {
        self.reset_at.saturating_sub(now_secs()).max(1)
    }

    pub fn apply_headers(&self, response: &mut ApiResponse) {
        response.set_header("ratelimit-limit", &self.limit.to_string());
        response.set_header("ratelimit-remaining", &self.remaining().to_string());
        response.set_header("ratelimit-reset", &self.reset_secs().to_string());
    }

    pub fn error(&self) -> ApiError {
        ApiError::RateLimited {
            retry_after: self.reset_secs(),
            detail: self.action.message().into(),
        }
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn bucket_id(action: LimitedAction, key: &str) -> (String, u64) {
    let window = action.window_secs();
    let start = now_secs() / window * window;
    (format!("{}:{key}:{start}", action.name()), start + window)
}

/// Counts one request in the current window of `action` for `key`.
///
/// The bucket is bumped with a plain `$inc` (no upsert); when the window's
/// bucket does not exist yet it is inserted with a count of 0 (a concurrent
/// insert of the same bucket is a harmless duplicate) and the bump retried.
/// This keeps counting exact where concurrent upserts are not: some
/// MongoDB-compatible servers answer a racing upsert with no document even
/// though they applied it.
pub(crate) async fn hit(db: &Database, action: LimitedAction, key: &str) -> Result<Hit, ApiError> {
    let (id, reset_at) = bucket_id(action, key);
    let coll = db.collection::<Document>(collections::RATE_LIMITS);
    let expires = bson::DateTime::from_millis((reset_at as i64) * 1000);
    for _ in 0..3 {
        let bumped = coll
            .find_one_and_update(doc! { "_id": &id }, doc! { "$inc": { "count": 1_i64 } })
            .return_document(ReturnDocument::After)
            .await?;
        if let Some(d) = bumped {
            let count = crate::db::number(&d, "count").unwrap_or(1) as u64;
            return Ok(Hit { count, reset_at });
        }
        let bucket = doc! { "_id": &id, "action": action.name(), "key": key, "count": 0_i64, "expiresAt": expires };
        if let Err(e) = coll.insert_one(bucket).await {
            if !is_duplicate(&e) {
                return Err(e.into());
            }
        }
    }
    Err(ApiError::internal(format!(
        "rate-limit bucket {id} could not be created"
    )))
}

/// Counts one request of a per-client-address bucket (see [`client_key`])
/// and judges it against the bucket's limit.
pub(crate) async fn hit_client(
    state: &crate::state::State,
    action: LimitedAction,
    ip: Option<std::net::IpAddr>,
) -> Result<Decision, ApiError> {
    let hit = hit(&state.db, action, &client_key(ip)).await?;
    Ok(Decision::new(
        action,
        state.config.rate_limits.limit(action, Plan::Free),
        hit,
    ))
}

/// Takes back one counted request (a sign-in that turned out to succeed).
pub(crate) async fn undo(db: &Database, action: LimitedAction, key: &str) {
    let (id, _) = bucket_id(action, key);
    let _ = db
        .collection::<Document>(collections::RATE_LIMITS)
        .update_one(
            doc! { "_id": id, "count": { "$gt": 0_i64 } },
            doc! { "$inc": { "count": -1_i64 } },
        )
        .await;
}

fn is_duplicate(e: &mongodb::error::Error) -> bool {
    matches!(
        ApiError::from_db(e.clone()),
        ApiError::Conflict {
            code: "ALREADY_EXISTS",
            ..
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_free_organization_gets_100_api_requests_a_minute() {
        assert_eq!(LimitedAction::Api.default_limit(Plan::Free), 100);
        assert_eq!(LimitedAction::Api.window_secs(), 60);
    }

    #[test]
    fn the_first_request_over_the_limit_is_the_only_first_refusal() {
        let d = |count| Decision::new(LimitedAction::Api, 100, Hit { count, reset_at: 0 });
        assert!(d(100).allowed());
        assert!(!d(101).allowed());
        assert!(d(101).first_refusal());
        assert!(!d(102).first_refusal());
        assert_eq!(d(100).remaining(), 0);
    }

    #[test]
    fn ipv6_clients_share_a_bucket_per_64_and_mapped_ipv4_is_ipv4() {
        let key = |s: &str| client_key(Some(s.parse().unwrap()));
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:ffff:1:2:3"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("2001:db8:1:2::1"), "2001:db8:1:2::/64");
        assert_eq!(key("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(key("203.0.113.7"), "203.0.113.7");
        assert_eq!(client_key(None), "unknown");
    }

    #[test]
    fn a_per_client_bucket_is_overridden_for_every_plan_at_once() {
        let o = LimitOverrides::from_lookup(&|k| (k == "RATE_LIMIT_SIGNUP").then(|| "3".into()))
            .unwrap();
        for plan in Plan::ALL {
            assert_eq!(o.limit(LimitedAction::SignUp, plan), 3);
        }
        assert_eq!(o.limit(LimitedAction::Refresh, Plan::Free), 120);
    }

    #[test]
    fn plans_are_ordered_by_what_they_allow() {
        assert!(Plan::Free < Plan::Pro && Plan::Pro < Plan::Enterprise);
        assert_eq!(Plan::parse("PRO"), Some(Plan::Pro));
        assert_eq!(Plan::parse("pro"), None);
    }

    #[test]
    fn an_override_replaces_the_plan_default() {
        let o = LimitOverrides::from_lookup(&|k| (k == "RATE_LIMIT_API_FREE").then(|| "7".into()))
            .unwrap();
        assert_eq!(o.limit(LimitedAction::Api, Plan::Free), 7);
        assert_eq!(o.limit(LimitedAction::Api, Plan::Pro), 1_000);
    }
}
