//! What calico-node wants a node to look like, computed from the Node objects:
//! BIRD's routes to the other nodes' pod CIDRs, felix's NAT-outgoing rules and
//! the sysctls. Pure: objects in, desired state out; `run.rs` applies it.

use base64::Engine;
use k8s_openapi::api::core::v1::Node;
use kinet_model::ipam::Cidr;
use sha2::{Digest, Sha224};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// `proto bird`: the routes BIRD (calico-node's BGP daemon) programs, as `ip route` shows them.
pub const RTPROT_BIRD: u8 = 12;
/// The node's LAN link (`kinet_node::plan` wires every lab host's LAN side as `eth0`).
pub const LAN_LINK: &str = "eth0";
/// felix's rule-hash length in its `cali:<hash>` comments.
pub const HASH_LENGTH: usize = 16;
/// felix's chains in the nat table.
pub const CHAIN_POSTROUTING: &str = "cali-POSTROUTING";
pub const CHAIN_NAT_OUTGOING: &str = "cali-nat-outgoing";
/// The sysctls calico-node needs on a node.
pub const SYSCTLS: &[(&str, &str)] = &[("net/ipv4/ip_forward", "1")];

/// What calico-node reads from a Node object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    pub name: String,
    pub pod_cidr: Option<Cidr>,
    pub internal_ip: Option<Ipv4Addr>,
}

impl NodeInfo {
    /// `spec.podCIDR` and the first IPv4 `InternalIP` of `status.addresses`; anything
    /// missing or unparsable is None (such a node gets no route).
    pub fn from_node(n: &Node) -> NodeInfo {
        let pod_cidr = n
            .spec
            .as_ref()
            .and_then(|s| s.pod_cidr.as_deref())
            .and_then(|c| Cidr::parse(c).ok());
        let internal_ip = n
            .status
            .as_ref()
            .and_then(|s| s.addresses.as_ref())
            .and_then(|a| {
                a.iter()
                    .filter(|a| a.type_ == "InternalIP")
                    .find_map(|a| a.address.parse::<Ipv4Addr>().ok())
            });
        NodeInfo {
            name: n.metadata.name.clone().unwrap_or_default(),
            pod_cidr,
            internal_ip,
        }
    }
}

/// One route calico-node owns: `<dst> via <via> dev eth0 proto bird`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct NodeRoute {
    pub dst: Cidr,
    pub via: Ipv4Addr,
}

impl std::fmt::Display for NodeRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} via {} dev {LAN_LINK} proto bird", self.dst, self.via)
    }
}

/// The routes node `me` wants: one per other node that has a pod CIDR and an
/// InternalIP, sorted by destination. A node whose pod CIDR overlaps ours is skipped.
pub fn routes(nodes: &BTreeMap<String, NodeInfo>, me: &str) -> Vec<NodeRoute> {
    let mine = nodes.get(me).and_then(|n| n.pod_cidr);
    let mut out: Vec<NodeRoute> = nodes
        .values()
        .filter(|n| n.name != me)
        .filter_map(|n| Some((n.pod_cidr?, n.internal_ip?)))
        .filter(|(dst, _)| mine != Some(*dst))
        .map(|(dst, via)| NodeRoute { dst, via })
        .collect();
    out.sort();
    out.dedup_by_key(|r| r.dst);
    out
}

/// What to change so the routing table holds exactly `want` among the routes we own
/// (`proto bird` on the LAN link): routes to replace, and owned routes to delete.
pub fn route_diff(want: &[NodeRoute], owned: &[NodeRoute]) -> (Vec<NodeRoute>, Vec<NodeRoute>) {
    let replace = want
        .iter()
        .filter(|r| !owned.contains(r))
        .copied()
        .collect();
    let delete = owned
        .iter()
        .filter(|o| !want.iter().any(|w| w.dst == o.dst))
        .copied()
        .collect();
    (replace, delete)
}

/// One rule of a chain, without its `-A CHAIN` and comment: `-s … -j MASQUERADE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub chain: &'static str,
    pub body: String,
}

/// felix's rule hashes: SHA-224 over the chain name, then for each rule the previous
/// hash and the rule as rendered, URL-safe base64 without padding, first 16 characters.
/// A rule's hash depends on its chain, its position and the rules before it.
pub fn rule_hashes(chain: &str, bodies: &[String]) -> Vec<String> {
    let mut s = Sha224::new();
    s.update(chain.as_bytes());
    let mut hash: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    for body in bodies {
        s.update(&hash);
        s.update(format!("-A {chain} {body}").as_bytes());
        hash = s.clone().finalize().to_vec();
        let enc = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&hash);
        out.push(enc[..HASH_LENGTH].to_string());
    }
    out
}

/// The nat-table rules felix programs for NAT outgoing (pools with `natOutgoing: true`;
/// kinet's one pool is the lab's pod CIDR): POSTROUTING jumps to cali-POSTROUTING,
/// which jumps to cali-nat-outgoing, which masquerades pod traffic leaving the pool.
pub struct NatRules {
    /// The jump inserted at the top of POSTROUTING, with its comment.
    pub postrouting_jump: String,
    /// `-A cali-… …` lines of felix's own chains, with comments.
    pub chains: Vec<(String, Vec<String>)>,
}

fn with_hashes(chain: &str, bodies: &[String]) -> Vec<String> {
    rule_hashes(chain, bodies)
        .into_iter()
        .zip(bodies)
        .map(|(h, b)| {
            // iptables-save's order: addresses, then matches (the comment), then the target
            let (addrs, target) = b.split_once("-j ").unwrap_or(("", b));
            let addrs = addrs.trim_end();
            let sep = if addrs.is_empty() { "" } else { " " };
            format!("{addrs}{sep}-m comment --comment \"cali:{h}\" -j {target}")
        })
        .collect()
}

pub fn nat_rules(pool: Cidr) -> NatRules {
    let jump = with_hashes("POSTROUTING", &[format!("-j {CHAIN_POSTROUTING}")]);
    let post = with_hashes(CHAIN_POSTROUTING, &[format!("-j {CHAIN_NAT_OUTGOING}")]);
    let out = with_hashes(
        CHAIN_NAT_OUTGOING,
        &[format!(
            "-s {pool} ! -d {pool} -j MASQUERADE --random-fully"
        )],
    );
    NatRules {
        postrouting_jump: jump.into_iter().next().unwrap_or_default(),
        chains: vec![
            (CHAIN_POSTROUTING.to_string(), post),
            (CHAIN_NAT_OUTGOING.to_string(), out),
        ],
    }
}

/// The `iptables-restore --noflush` input that brings the nat table to felix's rules,
/// given the current `iptables-save -t nat` text: felix's chains are declared (so
/// flushed) and rewritten whole; the POSTROUTING jump is inserted only when missing,
/// so applying twice changes nothing.
pub fn nat_restore(pool: Cidr, current_save: &str) -> String {
    let r = nat_rules(pool);
    let mut s = String::from("*nat\n");
    for (chain, _) in &r.chains {
        s.push_str(&format!(":{chain} - [0:0]\n"));
    }
    let has_jump = current_save
        .lines()
        .any(|l| l.trim_end() == format!("-A POSTROUTING {}", r.postrouting_jump));
    if !has_jump {
        s.push_str(&format!("-I POSTROUTING 1 {}\n", r.postrouting_jump));
    }
    for (chain, rules) in &r.chains {
        for rule in rules {
            s.push_str(&format!("-A {chain} {rule}\n"));
        }
    }
    s.push_str("COMMIT\n");
    s
}

/// The lines of `iptables-save -t nat` felix's rules should produce (for checks).
pub fn nat_expected_lines(pool: Cidr) -> Vec<String> {
    let r = nat_rules(pool);
    let mut v = vec![format!("-A POSTROUTING {}", r.postrouting_jump)];
    for (chain, rules) in &r.chains {
        for rule in rules {
            v.push(format!("-A {chain} {rule}"));
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use kinet_model::lab;

    fn node(name: &str, n: u8) -> NodeInfo {
        NodeInfo {
            name: name.into(),
            pod_cidr: Some(lab::node_pod_cidr(n)),
            internal_ip: Some(lab::node_ip(n)),
        }
    }

    fn nodes(v: Vec<NodeInfo>) -> BTreeMap<String, NodeInfo> {
        v.into_iter().map(|n| (n.name.clone(), n)).collect()
    }

    #[test]
    fn routes_go_to_the_other_nodes() {
        let ns = nodes(vec![node("node1", 1), node("node2", 2), node("node3", 3)]);
        let r = routes(&ns, "node1");
        let text: Vec<String> = r.iter().map(|r| r.to_string()).collect();
        assert_eq!(
            text,
            vec![
                "10.1.2.0/24 via 192.168.1.20 dev eth0 proto bird",
                "10.1.3.0/24 via 192.168.1.30 dev eth0 proto bird",
            ]
        );
        assert!(
            routes(&ns, "node2")
                .iter()
                .all(|r| r.via != lab::node_ip(2))
        );
    }

    #[test]
    fn nodes_without_cidr_or_address_get_no_route() {
        let mut n2 = node("node2", 2);
        n2.pod_cidr = None;
        let mut n3 = node("node3", 3);
        n3.internal_ip = None;
        let ns = nodes(vec![node("node1", 1), n2, n3]);
        assert!(routes(&ns, "node1").is_empty());
    }

    #[test]
    fn node_info_reads_spec_and_status() {
        let n: Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "node2"},
            "spec": {"podCIDR": "10.1.2.0/24"},
            "status": {"addresses": [
                {"type": "Hostname", "address": "node2"},
                {"type": "InternalIP", "address": "192.168.1.20"}
            ]}
        }))
        .unwrap();
        assert_eq!(NodeInfo::from_node(&n), node("node2", 2));
        let bare: Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "x"}, "spec": {"podCIDR": "garbage"}
        }))
        .unwrap();
        let i = NodeInfo::from_node(&bare);
        assert_eq!((i.pod_cidr, i.internal_ip), (None, None));
    }

    #[test]
    fn diff_replaces_missing_and_deletes_stale_owned_routes() {
        let ns = nodes(vec![node("node1", 1), node("node2", 2)]);
        let want = routes(&ns, "node1");
        let stale = NodeRoute {
            dst: lab::node_pod_cidr(3),
            via: lab::node_ip(3),
        };
        let (rep, del) = route_diff(&want, &[stale]);
        assert_eq!(rep, want);
        assert_eq!(del, vec![stale]);
        let (rep, del) = route_diff(&want, &want);
        assert!(rep.is_empty() && del.is_empty());
        // a moved next hop is replaced, not deleted
        let moved = NodeRoute {
            via: lab::node_ip(4),
            ..want[0]
        };
        let (rep, del) = route_diff(&want, &[moved]);
        assert_eq!((rep, del), (want.clone(), vec![]));
    }

    #[test]
    fn hashes_are_felix_shaped_and_positional() {
        let a = rule_hashes("cali-x", &["-j A".into(), "-j B".into()]);
        assert_eq!(a.len(), 2);
        assert!(a.iter().all(|h| {
            h.len() == HASH_LENGTH
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        }));
        assert_ne!(a[0], a[1]);
        assert_eq!(a, rule_hashes("cali-x", &["-j A".into(), "-j B".into()]));
        assert_ne!(a[0], rule_hashes("cali-y", &["-j A".into()])[0]);
        assert_ne!(
            a[1],
            rule_hashes("cali-x", &["-j C".into(), "-j B".into()])[1]
        );
    }

    #[test]
    fn nat_restore_masquerades_pod_traffic_leaving_the_pool() {
        let text = nat_restore(lab::POD_CIDR, "");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "*nat");
        assert_eq!(lines[1], ":cali-POSTROUTING - [0:0]");
        assert_eq!(lines[2], ":cali-nat-outgoing - [0:0]");
        assert!(lines[3].starts_with("-I POSTROUTING 1 -m comment --comment \"cali:"));
        assert!(lines[3].ends_with("\" -j cali-POSTROUTING"));
        assert!(lines[4].starts_with("-A cali-POSTROUTING -m comment"));
        assert!(lines[4].ends_with("-j cali-nat-outgoing"));
        assert!(lines[5].starts_with(
            "-A cali-nat-outgoing -s 10.1.0.0/16 ! -d 10.1.0.0/16 -m comment --comment \"cali:"
        ));
        assert!(lines[5].ends_with("\" -j MASQUERADE --random-fully"));
        assert_eq!(lines[6], "COMMIT");
        // once the jump is there it is not inserted again
        let save = nat_expected_lines(lab::POD_CIDR).join("\n");
        let again = nat_restore(lab::POD_CIDR, &save);
        assert!(!again.contains("POSTROUTING 1"));
        assert_eq!(again.lines().count(), 6);
    }
}
