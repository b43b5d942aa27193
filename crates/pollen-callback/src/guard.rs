//! The SSRF guard: which addresses a callback may connect to.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use crate::error::{Error, Result};

/// An IP network in CIDR notation (`10.0.0.0/8`, `fd00::/8`, or one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// The network of `addr` with `prefix` leading bits (host bits are cleared).
    ///
    /// Fails when `prefix` is longer than the address (32 for IPv4, 128 for IPv6).
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Cidr> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(Error::config(format!(
                "prefix /{prefix} is longer than the {max} bits of {addr}"
            )));
        }
        let network = match addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask32(prefix))),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask128(prefix))),
        };
        Ok(Cidr { network, prefix })
    }

    /// Whether `addr` lies in this network (an IPv4 network never holds an IPv6 address).
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.network, addr) {
            (IpAddr::V4(net), IpAddr::V4(a)) => {
                u32::from(a) & mask32(self.prefix) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                u128::from(a) & mask128(self.prefix) == u128::from(net)
            }
            _ => false,
        }
    }
}

const fn mask32(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix as u32)
    }
}

const fn mask128(prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix as u32)
    }
}

impl FromStr for Cidr {
    type Err = Error;

    fn from_str(text: &str) -> Result<Cidr> {
        let bad = |why: &str| Error::config(format!("`{text}` is not a CIDR ({why})"));
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| bad("expected an IP address before the `/`"))?;
        let prefix = match prefix {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .map_err(|_| bad("expected a prefix length after the `/`"))?,
            None if addr.is_ipv4() => 32,
            None => 128,
        };
        Cidr::new(addr, prefix).map_err(|e| bad(e.message()))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// The blocked ranges, each with the name the delivery log gives it.
const BLOCKED_V4: &[([u8; 4], u8, &str)] = &[
    ([0, 0, 0, 0], 8, "\"this network\" (0.0.0.0/8)"),
    ([10, 0, 0, 0], 8, "private (10.0.0.0/8)"),
    ([100, 64, 0, 0], 10, "carrier-grade NAT (100.64.0.0/10)"),
    ([127, 0, 0, 0], 8, "loopback (127.0.0.0/8)"),
    (
        [168, 63, 129, 16],
        32,
        "Azure host endpoint (168.63.129.16)",
    ),
    ([169, 254, 169, 254], 32, "cloud metadata (169.254.169.254)"),
    ([169, 254, 0, 0], 16, "link-local (169.254.0.0/16)"),
    ([172, 16, 0, 0], 12, "private (172.16.0.0/12)"),
    ([192, 168, 0, 0], 16, "private (192.168.0.0/16)"),
    ([198, 18, 0, 0], 15, "benchmarking (198.18.0.0/15)"),
    ([224, 0, 0, 0], 4, "multicast (224.0.0.0/4)"),
    ([240, 0, 0, 0], 4, "reserved (240.0.0.0/4)"),
];

const BLOCKED_V6: &[(u128, u8, &str)] = &[
    (0, 128, "unspecified (::)"),
    (1, 128, "loopback (::1)"),
    (0, 96, "IPv4-compatible (::/96)"),
    (0x0064_ff9b << 96, 96, "NAT64 (64:ff9b::/96)"),
    (0x0064_ff9b_0001 << 80, 48, "local NAT64 (64:ff9b:1::/48)"),
    (0x2002 << 112, 16, "6to4 (2002::/16)"),
    (0xfc00 << 112, 7, "unique local (fc00::/7)"),
    (0xfe80 << 112, 10, "link-local (fe80::/10)"),
    (0xff00 << 112, 8, "multicast (ff00::/8)"),
];

/// Why an address is refused: the blocked range it falls in.
pub(crate) fn blocked_range(addr: IpAddr) -> Option<&'static str> {
    match addr {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            BLOCKED_V4
                .iter()
                .find(|(net, prefix, _)| bits & mask32(*prefix) == u32::from_be_bytes(*net))
                .map(|(_, _, name)| *name)
        }
        IpAddr::V6(a) => {
            // `::ffff:a.b.c.d` reaches the IPv4 address a.b.c.d: judge it as that.
            if let Some(v4) = a.to_ipv4_mapped() {
                return blocked_range(IpAddr::V4(v4));
            }
            let bits = u128::from(a);
            BLOCKED_V6
                .iter()
                .find(|(net, prefix, _)| bits & mask128(*prefix) == *net)
                .map(|(_, _, name)| *name)
        }
    }
}

/// Which callback addresses the sender may connect to.
///
/// By default every public address is allowed and the internal ranges are refused: loopback,
/// RFC 1918, link-local, carrier-grade NAT, `0.0.0.0/8`, `198.18.0.0/15`, multicast,
/// `240.0.0.0/4`, the cloud metadata addresses `169.254.169.254` and `168.63.129.16`, and in
/// IPv6 `::1`, `::`, `fc00::/7`, `fe80::/10`, `64:ff9b::/96`, `2002::/16`, multicast and the
/// IPv4-mapped (`::ffff:10.0.0.1`) and IPv4-compatible forms. The check applies to the
/// address actually connected to, after DNS resolution.
///
/// [`AddressPolicy::allow`] opens networks one by one; [`AddressPolicy::allow_private`]
/// (the binary's `--allow-private-callbacks`) opens everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    allow_private: bool,
    allowed: Vec<Cidr>,
}

impl AddressPolicy {
    /// The default policy: internal ranges refused.
    pub fn new() -> Self {
        AddressPolicy::default()
    }

    /// A policy that allows every address (local use and tests).
    pub fn allow_private() -> Self {
        AddressPolicy {
            allow_private: true,
            allowed: Vec::new(),
        }
    }

    /// Also allows the addresses in `network`, blocked range or not.
    pub fn allow(mut self, network: Cidr) -> Self {
        self.allowed.push(network);
        self
    }

    /// Whether everything is allowed.
    pub fn allows_private(&self) -> bool {
        self.allow_private
    }

    /// The allow-list.
    pub fn allowed(&self) -> &[Cidr] {
        &self.allowed
    }

    /// Checks one address: `Err` names the blocked range it is in.
    pub fn check(&self, addr: IpAddr) -> Result<(), BlockedAddress> {
        if self.allow_private {
            return Ok(());
        }
        let Some(range) = blocked_range(addr) else {
            return Ok(());
        };
        let canonical = match addr {
            IpAddr::V6(a) => a.to_ipv4_mapped().map_or(addr, IpAddr::V4),
            IpAddr::V4(_) => addr,
        };
        if self
            .allowed
            .iter()
            .any(|net| net.contains(addr) || net.contains(canonical))
        {
            return Ok(());
        }
        Err(BlockedAddress { addr, range })
    }
}

/// A callback address the [`AddressPolicy`] refused; its message is what the delivery log
/// shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "refused to connect to {addr}: {range} addresses are blocked for callbacks (allow the \
     network in the callback allow-list, or use --allow-private-callbacks)"
)]
pub struct BlockedAddress {
    /// The refused address.
    pub addr: IpAddr,
    /// The blocked range it falls in.
    pub range: &'static str,
}

/// A DNS resolver for reqwest that drops the addresses the policy refuses, so the connection
/// can only go to an allowed address — whatever the name resolves to at connect time.
#[derive(Debug)]
pub(crate) struct GuardedResolver {
    pub(crate) policy: Arc<AddressPolicy>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut first_refusal = None;
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|sa| match policy.check(sa.ip()) {
                    Ok(()) => true,
                    Err(blocked) => {
                        first_refusal.get_or_insert(blocked);
                        false
                    }
                })
                .collect();
            match (allowed.is_empty(), first_refusal) {
                (true, Some(blocked)) => Err(Box::new(blocked) as Box<_>),
                _ => Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_parses_and_contains() {
        let net: Cidr = "10.1.2.3/8".parse().unwrap();
        assert_eq!(net.to_string(), "10.0.0.0/8");
        assert!(net.contains("10.255.0.1".parse().unwrap()));
        assert!(!net.contains("11.0.0.1".parse().unwrap()));
        let one: Cidr = "::1".parse().unwrap();
        assert_eq!(one.to_string(), "::1/128");
        let err = "10.0.0.0/33".parse::<Cidr>().unwrap_err();
        assert_eq!(
            err.message(),
            "`10.0.0.0/33` is not a CIDR (prefix /33 is longer than the 32 bits of 10.0.0.0)"
        );
    }
}
