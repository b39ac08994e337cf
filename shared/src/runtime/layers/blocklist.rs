//! The first layer: a client address an operator blocked (`crm-admin ips
//! block CIDR`) gets 403 before any other work. The list (`ip_blocks`, the
//! unexpired entries) is read at most once per `IP_BLOCKS_REFRESH_SECONDS`
//! (60 at most, the promise to operators) per instance and kept in the
//! state; a request with no known address (a scheduled event) passes. A
//! database that does not answer is the request's 503 here (every later
//! layer would wait for it again); any other failure to read the list lets
//! the request go on (fail open, logged) and is retried within 5 s.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bson::{doc, DateTime};
use futures_util::TryStreamExt;
use ipnet::IpNet;

use crate::error::{ApiError, Code};
use crate::http::ApiRequest;
use crate::state::State;
use crate::store::collections::IP_BLOCKS;

pub async fn check(state: &State, req: &ApiRequest) -> Result<(), ApiError> {
    let Some(ip) = req.client_ip.map(unmapped) else {
        return Ok(());
    };
    let blocks = current(state).await?;
    if blocks.iter().any(|net| net.contains(&ip)) {
        tracing::warn!(requestId = %req.request_id, ip = %ip, "[SECURITY] blocked address refused");
        return Err(ApiError::forbidden(
            Code::AddressBlocked,
            "Requests from this address are blocked",
        ));
    }
    Ok(())
}

/// Reads the list at a cold start, in the round trip that opens the
/// connections (a failure is the first request's to meet again).
pub(crate) async fn preload(state: &State) {
    let _ = tokio::time::timeout(state.config.db_timeout, current(state)).await;
}

async fn current(state: &State) -> Result<Arc<Vec<IpNet>>, ApiError> {
    let refresh = state.config.ip_blocks_refresh;
    if let Some((read, blocks)) = state.ip_blocks.read().await.as_ref() {
        if read.elapsed() < refresh {
            return Ok(blocks.clone());
        }
    }
    let mut slot = state.ip_blocks.write().await;
    if let Some((read, blocks)) = slot.as_ref() {
        if read.elapsed() < refresh {
            return Ok(blocks.clone());
        }
    }
    let blocks = match load(state).await {
        Ok(b) => Arc::new(b),
        Err(e @ ApiError::Unavailable { .. }) => return Err(e),
        Err(e) => {
            tracing::error!(error = %e, "[DATABASE_ERROR] could not read the address blocklist");
            // Try again in a few seconds, keeping what was known.
            let kept = slot.as_ref().map(|(_, b)| b.clone()).unwrap_or_default();
            let retry = Instant::now() - refresh + refresh.min(Duration::from_secs(5));
            *slot = Some((retry, kept.clone()));
            return Ok(kept);
        }
    };
    *slot = Some((Instant::now(), blocks.clone()));
    Ok(blocks)
}

async fn load(state: &State) -> Result<Vec<IpNet>, ApiError> {
    let now = DateTime::now();
    let docs: Vec<bson::Document> = state
        .collection(IP_BLOCKS)
        .find(doc! { "$or": [ { "until": null }, { "until": { "$gt": now } } ] })
        .projection(doc! { "cidr": 1 })
        .await?
        .try_collect()
        .await?;
    // Read through `normalize`, so an entry stored before addresses were
    // normalised (`::ffff:a.b.c.d/128`) still matches its IPv4 client.
    Ok(docs
        .iter()
        .filter_map(|d| normalize(d.get_str("cidr").ok()?)?.parse().ok())
        .collect())
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn unmapped(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, std::net::IpAddr::V4),
        v4 => v4,
    }
}

/// A network as the blocklist stores it, keyed like the rate limits
/// (`shared::ratelimit::client_key`): `203.0.113.0/24` truncated; a single
/// IPv4 address as /32; a single IPv6 address as its /64 (one
/// subscriber's prefix, through which a client rotates at will); an
/// IPv4-mapped address or network as the IPv4 one. None when `s` is
/// neither an address nor a network.
pub fn normalize(s: &str) -> Option<String> {
    let s = s.trim();
    let net: IpNet = match s.parse::<IpNet>() {
        Ok(IpNet::V6(v6)) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => IpNet::V4(ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96).ok()?),
            None => IpNet::V6(v6),
        },
        Ok(net) => net,
        Err(_) => match unmapped(s.parse::<std::net::IpAddr>().ok()?) {
            std::net::IpAddr::V6(v6) => IpNet::V6(ipnet::Ipv6Net::new(v6, 64).ok()?),
            v4 => IpNet::from(v4),
        },
    };
    Some(net.trunc().to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn networks_are_stored_truncated_and_addresses_as_single_hosts() {
        assert_eq!(
            super::normalize("203.0.113.77/24").as_deref(),
            Some("203.0.113.0/24")
        );
        assert_eq!(
            super::normalize(" 198.51.100.7 ").as_deref(),
            Some("198.51.100.7/32")
        );
        assert_eq!(
            super::normalize("2001:db8::1").as_deref(),
            Some("2001:db8::/64")
        );
        assert_eq!(
            super::normalize("2001:db8::1/128").as_deref(),
            Some("2001:db8::1/128")
        );
        assert_eq!(
            super::normalize("::ffff:198.51.100.7").as_deref(),
            Some("198.51.100.7/32")
        );
        assert_eq!(
            super::normalize("::ffff:198.51.100.0/120").as_deref(),
            Some("198.51.100.0/24")
        );
        assert_eq!(super::normalize("not-an-ip"), None);
        assert_eq!(super::normalize("10.0.0.0/33"), None);
    }
}
