//! Host-local IP address management: a node's pod CIDR, handed out in order,
//! skipping addresses in use, network, gateway-style .0/.1 and broadcast.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

/// An IPv4 network `addr/prefix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (a, p) = s
            .split_once('/')
            .ok_or_else(|| format!("invalid CIDR address: {s}"))?;
        let addr: Ipv4Addr = a
            .parse()
            .map_err(|_| format!("invalid CIDR address: {s}"))?;
        let prefix: u8 = p
            .parse()
            .map_err(|_| format!("invalid CIDR address: {s}"))?;
        if prefix > 32 {
            return Err(format!("invalid CIDR address: {s}"));
        }
        Ok(Cidr {
            addr: Ipv4Addr::from(u32::from(addr) & mask(prefix)),
            prefix,
        })
    }

    /// `a.b.c.d/n`, or a bare address as its /32 (as iptables and nft accept
    /// them, and Services' source ranges hold them); None when neither parses.
    pub fn parse_net_or_host(s: &str) -> Option<Cidr> {
        let s = s.trim();
        if s.contains('/') {
            Cidr::parse(s).ok()
        } else {
            Some(Cidr {
                addr: s.parse().ok()?,
                prefix: 32,
            })
        }
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == u32::from(self.addr)
    }

    pub fn size(&self) -> u64 {
        1u64 << (32 - self.prefix as u32)
    }

    /// The n-th address of the network.
    pub fn nth(&self, n: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr).wrapping_add(n))
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix as u32)
    }
}

/// Picks the first free address of `cidr` after `.1` (kept for the node), or None when full.
pub fn allocate(cidr: &Cidr, used: &BTreeSet<Ipv4Addr>) -> Option<Ipv4Addr> {
    let last = cidr.size().saturating_sub(1) as u32;
    (2..last).map(|n| cidr.nth(n)).find(|ip| !used.contains(ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nets_or_hosts() {
        assert_eq!(
            Cidr::parse_net_or_host("10.1.2.3"),
            Cidr::parse("10.1.2.3/32").ok()
        );
        assert_eq!(
            Cidr::parse_net_or_host(" 10.1.0.0/16 "),
            Cidr::parse("10.1.0.0/16").ok()
        );
        assert_eq!(Cidr::parse_net_or_host("10.1.0.0/33"), None);
        assert_eq!(Cidr::parse_net_or_host("x"), None);
    }

    #[test]
    fn allocates_in_order_and_skips_used() {
        let c = Cidr::parse("10.1.1.0/24").unwrap();
        let mut used = BTreeSet::new();
        let a = allocate(&c, &used).unwrap();
        assert_eq!(a, Ipv4Addr::new(10, 1, 1, 2));
        used.insert(a);
        assert_eq!(allocate(&c, &used).unwrap(), Ipv4Addr::new(10, 1, 1, 3));
        assert!(c.contains(a));
        assert!(!c.contains(Ipv4Addr::new(10, 1, 2, 2)));
    }

    #[test]
    fn full_network_gives_none() {
        let c = Cidr::parse("10.1.1.0/30").unwrap();
        let used: BTreeSet<_> = [Ipv4Addr::new(10, 1, 1, 2)].into();
        assert_eq!(allocate(&c, &used), None);
        assert!(Cidr::parse("10.1.1.0/33").is_err());
        assert_eq!(
            Cidr::parse("10.1.1.7/24").unwrap().to_string(),
            "10.1.1.0/24"
        );
    }
}
