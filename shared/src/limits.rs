//! Rate-limit arithmetic, free of storage: the configured limit of each
//! action and plan, a counted hit judged against it (and rendered as
//! `RateLimit-*` headers or a 429), and the key of a client address. The
//! counting itself, in MongoDB, is [`crate::ratelimit`]'s.

use std::collections::HashMap;

use crate::error::{ApiError, ConfigError};
pub use crate::model::{LimitedAction, Plan};
use crate::response::ApiResponse;

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
    /// When the hit was counted (seconds since the epoch).
    pub now: u64,
}

/// A hit judged against a limit.
#[derive(Clone, Copy, Debug)]
pub struct Decision {
    pub action: LimitedAction,
    pub limit: u64,
    pub count: u64,
    pub reset_at: u64,
    /// When the hit was counted, by the clock that chose its window.
    pub now: u64,
}

impl Decision {
    pub fn new(action: LimitedAction, limit: u64, hit: Hit) -> Self {
        Self {
            action,
            limit,
            count: hit.count,
            reset_at: hit.reset_at,
            now: hit.now,
        }
    }

    pub fn allowed(&self) -> bool {
        self.count <= self.limit
    }

    /// The decision when it allows the request, else its 429.
    pub fn enforce(self) -> Result<Self, ApiError> {
        if self.allowed() {
            Ok(self)
        } else {
            Err(self.error())
        }
    }

    /// True for exactly one request per key and window: the first refused.
    pub fn first_refusal(&self) -> bool {
        self.count == self.limit + 1
    }

    pub fn remaining(&self) -> u64 {
        self.limit.saturating_sub(self.count)
    }

    pub fn reset_secs(&self) -> u64 {
        self.reset_at.saturating_sub(self.now).max(1)
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
        let d = |count| {
            Decision::new(
                LimitedAction::Api,
                100,
                Hit {
                    count,
                    reset_at: 0,
                    now: 0,
                },
            )
        };
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
