//! Where the API may send requests of its own (webhook deliveries): never
//! to this machine, its private network or the cloud's metadata service,
//! however the address is written.
//!
//! [`forbidden`] classifies an address: loopback, unspecified, private
//! (RFC 1918), link-local (which holds the metadata service at
//! 169.254.169.254), CGNAT (100.64.0.0/10), "this network" (0.0.0.0/8),
//! reserved and broadcast (240.0.0.0/4), benchmarking (198.18.0.0/15),
//! IPv6 unique-local (fc00::/7), link-local (fe80::/10), site-local and
//! multicast, and the IPv4 inside IPv4-mapped (::ffff:0:0/96), IPv4-
//! compatible, NAT64 (64:ff9b::/96) and 6to4 (2002::/16) addresses is
//! judged as IPv4; NAT64's local-use prefix (64:ff9b:1::/48, whose IPv4
//! address may sit at several offsets) and IPv4-translated addresses
//! (::ffff:0:0:0/96) are refused whole. [`host_address`] reads a URL's host as the
//! address a resolver would make of it, in every notation one accepts
//! (`2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1`, `[::ffff:a9fe:a9fe]`),
//! so a literal cannot slip past as a name. The networks an operator
//! allows (`WEBHOOKS_ALLOW_NETWORKS`, for a receiver in development) are
//! the only exception.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// Whether a request of ours must never go to `ip`.
pub fn forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => forbidden_v4(v4),
            None => forbidden_v6(v6),
        },
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0
        || a >= 240
        || (a == 100 && (64..128).contains(&b))
        || (a == 198 && (b == 18 || b == 19))
        || (a == 192 && b == 0 && ip.octets()[2] == 0)
}

fn forbidden_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let first = s[0];
    // NAT64's local-use prefix (64:ff9b:1::/48, RFC 8215) may embed an IPv4
    // address at any of RFC 6052's offsets, and IPv4-translated addresses
    // (::ffff:0:a.b.c.d): refused whole rather than decoded.
    (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1)
        || (s[..4] == [0; 4] && s[4] == 0xffff && s[5] == 0)
        || ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first & 0xffc0) == 0xfec0
}

/// The IPv4 address an IPv6 one carries by a standard mapping, if any.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    // IPv4-compatible (::a.b.c.d, deprecated but still routed by some stacks).
    if s[..6] == [0; 6] && !(s[6] == 0 && s[7] <= 1) {
        return Some(low());
    }
    // NAT64's well-known prefix (/96: the IPv4 address is the last 32 bits).
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(low());
    }
    // 6to4 carries the IPv4 address in its second and third segments.
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    None
}

/// The address a URL's host is, when it is an address rather than a name:
/// a bracketed IPv6 literal, or an IPv4 one in any notation `inet_aton`
/// reads (one to four dot-separated numbers, each decimal, octal with a leading 0 or hex
/// with 0x). `None` for a name.
pub fn host_address(host: &str) -> Option<IpAddr> {
    let host = host.trim_end_matches('.');
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(ip);
    }
    inet_aton(host).map(IpAddr::V4)
}

fn inet_aton(s: &str) -> Option<Ipv4Addr> {
    let pieces: Vec<u64> = s
        .split('.')
        .map(|p| {
            let lower = p.to_ascii_lowercase();
            if let Some(hex) = lower.strip_prefix("0x") {
                if hex.is_empty() {
                    Some(0)
                } else {
                    u64::from_str_radix(hex, 16).ok()
                }
            } else if p.len() > 1 && p.starts_with('0') {
                u64::from_str_radix(&p[1..], 8).ok()
            } else if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) {
                p.parse().ok()
            } else {
                None
            }
        })
        .collect::<Option<_>>()?;
    let n = match pieces.as_slice() {
        [a] => *a,
        [a, b] if *a < 256 && *b < 1 << 24 => a << 24 | b,
        [a, b, c] if *a < 256 && *b < 256 && *c < 1 << 16 => a << 24 | b << 16 | c,
        [a, b, c, d] if [a, b, c, d].iter().all(|x| **x < 256) => a << 24 | b << 16 | c << 8 | d,
        _ => return None,
    };
    u32::try_from(n).ok().map(Ipv4Addr::from)
}

/// Whether `ip` may be reached: not [`forbidden`], or inside a network the
/// operator allows.
pub fn reachable(ip: IpAddr, allowed: &[IpNet]) -> bool {
    in_allowed(ip, allowed) || !forbidden(ip)
}

/// Whether `ip` (an IPv4-mapped one as IPv4) is inside one of `allowed`.
pub fn in_allowed(ip: IpAddr, allowed: &[IpNet]) -> bool {
    let plain = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    allowed.iter().any(|n| n.contains(&plain))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn every_internal_range_is_forbidden_in_v4_v6_and_their_mappings() {
        for blocked in [
            "127.0.0.1",
            "10.0.0.5",
            "172.16.3.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "198.18.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "::ffff:169.254.169.254",
            "::ffff:127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::a00:5",
            "64:ff9b:1:a00:5::",
            "64:ff9b:1:5d00:d822::",
            "::ffff:0:a00:5",
            "2002:7f00:1::1",
            "::127.0.0.1",
            "fec0::1",
        ] {
            assert!(forbidden(ip(blocked)), "{blocked}");
        }
        for open in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "100.128.0.1",
            "172.32.0.1",
        ] {
            assert!(!forbidden(ip(open)), "{open}");
        }
    }

    #[test]
    fn an_address_is_read_in_every_notation_a_resolver_takes() {
        for (host, want) in [
            ("127.0.0.1", "127.0.0.1"),
            ("2130706433", "127.0.0.1"),
            ("0x7f.1", "127.0.0.1"),
            ("0x7f000001", "127.0.0.1"),
            ("0177.0.0.1", "127.0.0.1"),
            ("127.1", "127.0.0.1"),
            ("10.0.5", "10.0.0.5"),
            ("169.254.169.254.", "169.254.169.254"),
            ("[::1]", "::1"),
            ("[::ffff:169.254.169.254]", "::ffff:169.254.169.254"),
        ] {
            assert_eq!(host_address(host), Some(ip(want)), "{host}");
            assert!(forbidden(ip(want)), "{host}");
        }
        for name in [
            "example.com",
            "hooks.example.com.",
            "1.2.3.4.example",
            "256.1.1.1.1",
        ] {
            assert!(host_address(name).is_none(), "{name}");
        }
        assert_eq!(host_address("4294967296"), None);
    }

    #[test]
    fn an_allowed_network_opens_only_itself() {
        let allowed: Vec<IpNet> = vec!["127.0.0.1/32".parse().unwrap()];
        assert!(reachable(ip("127.0.0.1"), &allowed));
        assert!(reachable(ip("::ffff:127.0.0.1"), &allowed));
        assert!(!reachable(ip("127.0.0.2"), &allowed));
        assert!(!reachable(ip("10.0.0.1"), &allowed));
        assert!(reachable(ip("93.184.216.34"), &[]));
    }
}
