//! The lab's network, computed: which namespaces exist, their links, addresses
//! and routes (MicroK8s defaults, Calico-style pod wiring). Pure; `lab.rs` and
//! `sandbox.rs` apply it.

use kinet_model::ipam::Cidr;
use sha2::{Digest, Sha256};
use std::net::Ipv4Addr;
use std::path::PathBuf;

pub const LAN_PREFIX: u8 = 24;
pub use kinet_model::lab::{OUTSIDE_IP, ROUTER_IP};
/// The link-local next hop every pod routes through (answered by proxy ARP).
pub const POD_GATEWAY: Ipv4Addr = kinet_linux::cni::POD_GATEWAY;
pub const MAX_NODES: usize = 9;
/// The fake internet's host name (`kinet-<lab>-internet`).
pub const INTERNET: &str = "internet";

/// One lab node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePlan {
    pub name: String,
    pub ip: Ipv4Addr,
    pub pod_cidr: Cidr,
}

/// A lab-level host on the LAN (node, router, outside workstation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// Short name, also the LAN-side link name.
    pub name: String,
    pub netns: PathBuf,
    pub ip: Ipv4Addr,
    pub gateway: Option<Ipv4Addr>,
    pub forwarding: bool,
    /// Extra routes: (destination, via).
    pub routes: Vec<(Cidr, Ipv4Addr)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabPlan {
    pub lab: String,
    pub lan_netns: PathBuf,
    pub nodes: Vec<NodePlan>,
    pub hosts: Vec<Host>,
    /// The fake internet behind the router ([`crate::internet`]), not on the LAN.
    pub internet_netns: PathBuf,
}

/// The named network namespace of a lab-level host: `/run/netns/kinet-<lab>-<name>`,
/// so `ip netns exec kinet-<lab>-node1 …` works.
pub fn netns_path(lab: &str, name: &str) -> PathBuf {
    PathBuf::from(format!("/run/netns/kinet-{lab}-{name}"))
}

/// Lab names become parts of file and namespace names.
pub fn check_lab_name(lab: &str) -> Result<(), String> {
    let ok = !lab.is_empty()
        && lab.len() <= 24
        && lab
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !lab.starts_with('-')
        && !lab.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid lab name {lab:?}: use 1 to 24 lowercase letters, digits or '-', starting and ending with a letter or digit"
        ))
    }
}

pub fn node_name(i: usize) -> String {
    format!("node{i}")
}

/// Plans a lab of `n` nodes (1..=9).
pub fn lab(lab: &str, n: usize) -> Result<LabPlan, String> {
    check_lab_name(lab)?;
    if n == 0 || n > MAX_NODES {
        return Err(format!(
            "--nodes must be between 1 and {MAX_NODES}, got {n}"
        ));
    }
    let nodes: Vec<NodePlan> = (1..=n)
        .map(|i| NodePlan {
            name: node_name(i),
            ip: kinet_model::lab::node_ip(i as u8),
            pod_cidr: kinet_model::lab::node_pod_cidr(i as u8),
        })
        .collect();
    let mut hosts = vec![Host {
        name: "router".into(),
        netns: netns_path(lab, "router"),
        ip: ROUTER_IP,
        gateway: None,
        forwarding: true,
        routes: nodes.iter().map(|o| (o.pod_cidr, o.ip)).collect(),
    }];
    for node in &nodes {
        hosts.push(Host {
            name: node.name.clone(),
            netns: netns_path(lab, &node.name),
            ip: node.ip,
            gateway: Some(ROUTER_IP),
            forwarding: true,
            // the routes to the other nodes' pod CIDRs are calico-node's (kinet-calico)
            routes: vec![],
        });
    }
    hosts.push(Host {
        name: "outside".into(),
        netns: netns_path(lab, "outside"),
        ip: OUTSIDE_IP,
        gateway: Some(ROUTER_IP),
        forwarding: false,
        routes: vec![],
    });
    Ok(LabPlan {
        lab: lab.to_string(),
        lan_netns: netns_path(lab, "lan"),
        nodes,
        hosts,
        internet_netns: netns_path(lab, INTERNET),
    })
}

/// The node end of a pod's veth: `cali` + 11 hex digits of a hash of `namespace.name`, as Calico names it.
pub fn veth_name(namespace: &str, pod: &str) -> String {
    let h = Sha256::digest(format!("{namespace}.{pod}").as_bytes());
    format!("cali{}", &hex::encode(h)[..11])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_node_lab_follows_the_address_plan() {
        let p = lab("demo", 2).unwrap();
        assert_eq!(p.nodes[0].ip, Ipv4Addr::new(192, 168, 1, 10));
        assert_eq!(p.nodes[1].ip, Ipv4Addr::new(192, 168, 1, 20));
        assert_eq!(p.nodes[1].pod_cidr.to_string(), "10.1.2.0/24");
        let node1 = p.hosts.iter().find(|h| h.name == "node1").unwrap();
        // calico-node programs the routes between nodes; the router knows every pod CIDR
        assert!(node1.routes.is_empty());
        let router = p.hosts.iter().find(|h| h.name == "router").unwrap();
        assert_eq!(router.routes.len(), 2);
        assert_eq!(node1.netns, PathBuf::from("/run/netns/kinet-demo-node1"));
        assert!(
            p.hosts
                .iter()
                .any(|h| h.name == "outside" && h.ip == OUTSIDE_IP)
        );
        assert_eq!(
            p.internet_netns,
            PathBuf::from("/run/netns/kinet-demo-internet")
        );
        // every LAN-side link name fits IFNAMSIZ
        assert!(p.hosts.iter().all(|h| h.name.len() <= 15));
    }

    #[test]
    fn bad_sizes_and_names_are_refused() {
        assert!(lab("demo", 0).is_err());
        assert!(lab("demo", 10).is_err());
        assert!(lab("Demo", 1).is_err());
        assert!(lab("a/b", 1).is_err());
        assert!(lab("-x", 1).is_err());
    }

    #[test]
    fn veth_names_are_stable_and_short() {
        let a = veth_name("default", "web");
        assert_eq!(a, veth_name("default", "web"));
        assert_ne!(a, veth_name("other", "web"));
        assert_eq!(a.len(), 15);
        assert!(a.starts_with("cali"));
    }
}
