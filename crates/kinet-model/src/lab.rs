//! The lab's constants, in one place (MicroK8s's defaults, so the course's
//! outputs read true): CIDRs, well-known addresses and ports. Everything that
//! needs one of these values reads it here.

use crate::ipam::Cidr;
use std::net::Ipv4Addr;

/// The pod network; node N gets `10.1.N.0/24` (host-local IPAM).
pub const POD_CIDR: Cidr = Cidr {
    addr: Ipv4Addr::new(10, 1, 0, 0),
    prefix: 16,
};
/// The prefix of each node's pod CIDR.
pub const NODE_POD_PREFIX: u8 = 24;
/// The Service network (ClusterIPs).
pub const SERVICE_CIDR: Cidr = Cidr {
    addr: Ipv4Addr::new(10, 152, 183, 0),
    prefix: 24,
};
/// `default/kubernetes`'s ClusterIP (the service CIDR's first address).
pub const KUBERNETES_SERVICE_IP: Ipv4Addr = Ipv4Addr::new(10, 152, 183, 1);
/// `kube-system/kube-dns`'s ClusterIP, named by every pod's resolv.conf.
pub const CLUSTER_DNS_IP: Ipv4Addr = Ipv4Addr::new(10, 152, 183, 10);
/// The cluster domain.
pub const CLUSTER_DOMAIN: &str = "cluster.local";
/// The lab LAN (the switch every node, the router and the workstation are on).
pub const LAN_CIDR: Cidr = Cidr {
    addr: Ipv4Addr::new(192, 168, 1, 0),
    prefix: 24,
};
/// The router between the LAN and the fake internet.
pub const ROUTER_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);
/// The outside workstation ("your machine").
pub const OUTSIDE_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 100);
/// The API server's port inside the lab (MicroK8s's), on node1's address.
pub const API_PORT: u16 = 16443;
/// The NodePort range, inclusive.
pub const NODE_PORT_RANGE: (u16, u16) = (30000, 32767);
/// The MetalLB address pool for LoadBalancer Services, inclusive.
pub const LOAD_BALANCER_POOL: (Ipv4Addr, Ipv4Addr) = (
    Ipv4Addr::new(192, 168, 1, 240),
    Ipv4Addr::new(192, 168, 1, 250),
);

/// Node N's address on the LAN (`192.168.1.10`, `.20`, …; N from 1).
pub fn node_ip(n: u8) -> Ipv4Addr {
    let [a, b, c, _] = LAN_CIDR.addr.octets();
    Ipv4Addr::new(a, b, c, 10 * n)
}

/// Node N's pod CIDR (`10.1.N.0/24`; N from 1).
pub fn node_pod_cidr(n: u8) -> Cidr {
    let [a, b, _, _] = POD_CIDR.addr.octets();
    Cidr {
        addr: Ipv4Addr::new(a, b, n, 0),
        prefix: NODE_POD_PREFIX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_follow_microk8s() {
        assert_eq!(node_ip(1), Ipv4Addr::new(192, 168, 1, 10));
        assert_eq!(node_ip(3), Ipv4Addr::new(192, 168, 1, 30));
        assert_eq!(node_pod_cidr(2), Cidr::parse("10.1.2.0/24").unwrap());
        assert!(POD_CIDR.contains(node_pod_cidr(9).addr));
        assert!(SERVICE_CIDR.contains(KUBERNETES_SERVICE_IP));
        assert!(SERVICE_CIDR.contains(CLUSTER_DNS_IP));
        assert!(LAN_CIDR.contains(OUTSIDE_IP) && LAN_CIDR.contains(LOAD_BALANCER_POOL.1));
    }
}
