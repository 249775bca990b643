//! Where a request comes from: the peer address, or, when the peer is a
//! configured proxy, the nearest untrusted address it forwarded for.
//! `X-Forwarded-For` from anyone else is ignored, or a caller could pick
//! its own address and escape every per-source limit.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use actix_web::HttpRequest;

/// Addresses and networks (`10.0.0.0/8`, `::1`) whose `X-Forwarded-For`
/// is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

impl FromStr for TrustedProxies {
    type Err = String;

    /// A comma-separated list; empty trusts nobody.
    fn from_str(s: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (ip, len) = match item.split_once('/') {
                Some((ip, len)) => (ip, Some(len)),
                None => (item, None),
            };
            let ip: IpAddr = ip
                .parse()
                .map_err(|_| format!("{item:?} is not an IP address or network"))?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let len = match len {
                None => max,
                Some(l) => l
                    .parse::<u8>()
                    .ok()
                    .filter(|l| *l <= max)
                    .ok_or_else(|| format!("{item:?} has no valid prefix length"))?,
            };
            nets.push((ip, len));
        }
        Ok(Self(nets))
    }
}

impl TrustedProxies {
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|(net, len)| same_prefix(*net, ip, *len))
    }
}

fn same_prefix(a: IpAddr, b: IpAddr, len: u8) -> bool {
    let (a, b, bits) = match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(a) as u128, u32::from(b) as u128, 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
        _ => return false,
    };
    let shift = bits - u32::from(len);
    shift >= bits || (a >> shift) == (b >> shift)
}

/// A request's source for rate limits and throttles. IPv6 callers are
/// grouped by /64, the block one subscriber usually holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Source(IpAddr);

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(ip) => write!(f, "{ip}"),
            IpAddr::V6(ip) => {
                let prefix = u128::from(ip) & !((1u128 << 64) - 1);
                write!(f, "{}/64", std::net::Ipv6Addr::from(prefix))
            }
        }
    }
}

impl Source {
    pub fn of(req: &HttpRequest, proxies: &TrustedProxies) -> Self {
        let peer = req
            .peer_addr()
            .map_or(IpAddr::from([0, 0, 0, 0]), |a| a.ip());
        Self(forwarded_for(req, peer, proxies))
    }
}

/// Walks `X-Forwarded-For` from the nearest hop while the hop that added
/// an entry is trusted.
fn forwarded_for(req: &HttpRequest, peer: IpAddr, proxies: &TrustedProxies) -> IpAddr {
    let mut source = peer;
    if !proxies.contains(peer) {
        return source;
    }
    let hops: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    for hop in hops.into_iter().rev() {
        let Ok(ip) = hop.parse::<IpAddr>() else {
            break;
        };
        source = ip;
        if !proxies.contains(ip) {
            break;
        }
    }
    source
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn source(peer: &str, xff: Option<&str>, trusted: &str) -> String {
        let mut req = TestRequest::default().peer_addr(peer.parse().unwrap());
        if let Some(xff) = xff {
            req = req.insert_header(("x-forwarded-for", xff));
        }
        Source::of(&req.to_http_request(), &trusted.parse().unwrap()).to_string()
    }

    #[test]
    fn forwarded_for_counts_only_from_a_trusted_proxy() {
        assert_eq!(
            source("198.51.100.7:5000", Some("203.0.113.9"), ""),
            "198.51.100.7"
        );
        assert_eq!(
            source("10.0.0.2:5000", Some("203.0.113.9"), "10.0.0.0/8"),
            "203.0.113.9"
        );
        // The nearest untrusted hop wins: what a client wrote in front is ignored.
        assert_eq!(
            source(
                "10.0.0.2:5000",
                Some("1.2.3.4, 203.0.113.9, 10.0.0.3"),
                "10.0.0.0/8"
            ),
            "203.0.113.9"
        );
        assert_eq!(
            source("10.0.0.2:5000", Some("garbage"), "10.0.0.0/8"),
            "10.0.0.2"
        );
    }

    #[test]
    fn ipv6_sources_are_grouped_by_64() {
        assert_eq!(
            source("[2001:db8:1:2:3:4:5:6]:5000", None, ""),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            source("[2001:db8:1:2:ffff::1]:5000", None, ""),
            "2001:db8:1:2::/64"
        );
    }

    #[test]
    fn proxy_lists_parse_addresses_and_networks() {
        let p: TrustedProxies = "127.0.0.1, 10.0.0.0/8, ::1, fd00::/8".parse().unwrap();
        assert!(p.contains("10.9.8.7".parse().unwrap()) && p.contains("::1".parse().unwrap()));
        assert!(p.contains("fd12::1".parse().unwrap()));
        assert!(!p.contains("11.0.0.1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<TrustedProxies>().is_err());
        assert!("nope".parse::<TrustedProxies>().is_err());
        assert_eq!(
            "".parse::<TrustedProxies>().unwrap(),
            TrustedProxies::default()
        );
        let all: TrustedProxies = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
    }
}
