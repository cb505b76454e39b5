//! Calico's pod wiring, the one routine that does it: a veth whose node end
//! (`cali<hash>`) answers ARP for everything (proxy ARP, no delay), forwards, and
//! carries a /32 route to the pod; whose pod end `eth0` holds the pod's IP/32 with
//! the link-local gateway 169.254.1.1 on-link and the default route through it.
//! Both ends get the MTU of the node's CNI network config (Calico's `"mtu"`, which
//! calico-node's install-cni step writes from ConfigMap calico-config's `veth_mtu`);
//! the caller reads it, [`DEFAULT_MTU`] when there is none.
//!
//! [`PodWiring`] is the pure plan (what is set, in which namespace); [`wire_pod`]
//! applies it over rtnetlink and sysctls.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use crate::error::Error;
use crate::netlink::{Netlink, Route};
use crate::sysctl::sysctl_set_many;

/// The link-local next hop every pod routes through (answered by proxy ARP).
pub const POD_GATEWAY: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);
/// The pod end of the veth.
pub const POD_IFNAME: &str = "eth0";
/// The MAC of every node end, as Calico sets it.
pub const NODE_VETH_MAC: [u8; 6] = [0xee; 6];
/// The veth MTU when the node has no CNI network config yet (calico-node not
/// started). Calico's plugin would fail with "no network config found"; kinet
/// wires the pod with the kernel's Ethernet default instead, which is what the
/// routed lab's auto MTU gives anyway.
pub const DEFAULT_MTU: u32 = 1500;
/// The smallest MTU an IPv4 link may have (RFC 791), the largest a veth takes.
pub const MTU_RANGE: std::ops::RangeInclusive<u32> = 68..=65535;

/// What wiring one pod sets: `veth` is the node end's name, `ip` the pod's address,
/// `mtu` both ends' MTU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodWiring {
    pub veth: String,
    pub ip: Ipv4Addr,
    pub mtu: u32,
}

impl PodWiring {
    /// The wiring with [`DEFAULT_MTU`].
    pub fn new(veth: &str, ip: Ipv4Addr) -> PodWiring {
        PodWiring {
            veth: veth.to_string(),
            ip,
            mtu: DEFAULT_MTU,
        }
    }

    pub fn with_mtu(mut self, mtu: u32) -> PodWiring {
        self.mtu = mtu;
        self
    }

    /// The node's sysctls for the veth's node end.
    pub fn node_sysctls(&self) -> Vec<(String, &'static str)> {
        let v = &self.veth;
        vec![
            (format!("net/ipv4/conf/{v}/proxy_arp"), "1"),
            (format!("net/ipv4/neigh/{v}/proxy_delay"), "0"),
            (format!("net/ipv4/conf/{v}/forwarding"), "1"),
        ]
    }

    /// The node's route to the pod: `IP/32 dev cali… scope link`.
    pub fn node_route(&self) -> Route {
        Route::new(self.ip, 32).dev(&self.veth).scope_link()
    }

    /// The pod's routes, in order: the gateway on-link, then the default through it.
    pub fn pod_routes(&self) -> [Route; 2] {
        [
            Route::new(POD_GATEWAY, 32).dev(POD_IFNAME).scope_link(),
            Route::default_via(POD_GATEWAY).dev(POD_IFNAME).onlink(),
        ]
    }
}

/// Why wiring a pod failed.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The veth pair could not be made.
    #[error("creating the pod's veth")]
    Veth(#[source] Error),
    /// Another step failed (its error names the operation).
    #[error(transparent)]
    Kernel(#[from] Error),
}

impl WireError {
    /// The kernel's error behind this one.
    pub fn kernel(&self) -> &Error {
        match self {
            WireError::Veth(e) | WireError::Kernel(e) => e,
        }
    }
}

/// Wires the pod namespace `pod_ns` into the node namespace `node_ns` the Calico
/// way (see the module docs), with `veth` as the node end's name and
/// [`DEFAULT_MTU`]. A leftover link of that name (an earlier pod of the same name)
/// is removed first. Idempotent otherwise: addresses and routes are replaced.
pub fn wire_pod(node_ns: &Path, pod_ns: &Path, veth: &str, ip: Ipv4Addr) -> Result<(), WireError> {
    wire(node_ns, pod_ns, &PodWiring::new(veth, ip))
}

/// [`wire_pod`] with the plan's MTU on both ends of the veth.
pub fn wire(node_ns: &Path, pod_ns: &Path, plan: &PodWiring) -> Result<(), WireError> {
    if !MTU_RANGE.contains(&plan.mtu) {
        return Err(Error::Invalid(format!("invalid MTU {}", plan.mtu)).into());
    }
    let veth = plan.veth.as_str();
    let ip = plan.ip;
    let mut node = Netlink::open(Some(node_ns))?;
    // a leftover from an earlier pod of the same name
    let _ = node.link_del(veth);
    node.veth_add(veth, POD_IFNAME, Some(pod_ns))
        .map_err(WireError::Veth)?;
    node.link_set_mac(veth, NODE_VETH_MAC)?;
    if plan.mtu != DEFAULT_MTU {
        node.link_set_mtu(veth, plan.mtu)?;
    }
    let sysctls = plan.node_sysctls();
    let pairs: Vec<(&str, &str)> = sysctls.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    sysctl_set_many(node_ns, &pairs)?;
    node.link_set_up(veth)?;
    node.route_replace(&plan.node_route())?;
    let mut pod = Netlink::open(Some(pod_ns))?;
    pod.link_set_up("lo")?;
    if plan.mtu != DEFAULT_MTU {
        pod.link_set_mtu(POD_IFNAME, plan.mtu)?;
    }
    pod.addr_add(POD_IFNAME, IpAddr::V4(ip), 32)?;
    pod.link_set_up(POD_IFNAME)?;
    for r in plan.pod_routes() {
        pod.route_replace(&r)?;
    }
    Ok(())
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn the_plan_is_calicos() {
        let w = PodWiring::new("cali0123456789a", Ipv4Addr::new(10, 1, 1, 5));
        assert_eq!(
            w.node_sysctls(),
            vec![
                ("net/ipv4/conf/cali0123456789a/proxy_arp".to_string(), "1"),
                (
                    "net/ipv4/neigh/cali0123456789a/proxy_delay".to_string(),
                    "0"
                ),
                ("net/ipv4/conf/cali0123456789a/forwarding".to_string(), "1"),
            ]
        );
        assert_eq!(
            w.node_route().to_string(),
            "10.1.1.5 dev cali0123456789a scope link"
        );
        let [gw, default] = w.pod_routes();
        assert_eq!(gw.to_string(), "169.254.1.1 dev eth0 scope link");
        assert_eq!(
            default.to_string(),
            "default via 169.254.1.1 dev eth0 onlink"
        );
    }

    #[test]
    fn the_mtu_defaults_to_ethernets() {
        let w = PodWiring::new("cali0", Ipv4Addr::new(10, 1, 1, 5));
        assert_eq!(w.mtu, 1500);
        assert_eq!(w.with_mtu(1450).mtu, 1450);
        assert!(MTU_RANGE.contains(&68) && !MTU_RANGE.contains(&67));
    }

    #[test]
    fn veth_errors_say_so() {
        let e = WireError::Veth(Error::Invalid("bad".into()));
        assert_eq!(e.to_string(), "creating the pod's veth");
        assert_eq!(e.kernel().to_string(), "bad");
        let e = WireError::from(Error::Invalid("other".into()));
        assert_eq!(e.to_string(), "other");
    }
}
