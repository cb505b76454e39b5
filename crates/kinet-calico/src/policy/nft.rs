//! The nftables ruleset of one node, rendered from [`Compiled`] alone: table
//! `ip calico`, whose `forward` and `input` chains send each local pod's traffic
//! through its egress chain (`fw-…`, when isolated for egress) and its ingress
//! chain (`tw-…`, when isolated for ingress). A rule that admits returns; the
//! chain's last rule drops (Calico drops, it does not reject: a denied TCP
//! connection times out). Replies of accepted connections pass first (`ct state
//! established,related accept`), so connections made before a policy keep
//! going, as Calico keeps them; new ones follow the new rules at once. Traffic
//! a node sends to its own pods leaves through `output`, which has no policy
//! (kubelet's probes pass). Each rule carries its policy and rule in a comment
//! and a counter. The text is one `nft -f` transaction: the whole table is
//! replaced at once, so a node never holds half a ruleset.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use sha2::{Digest, Sha256};

use super::compile::{Compiled, CompiledRule, Net, Peers, PodRules, PortMatch, Ports, Side};
use super::{PolicyId, Protocol};

pub const TABLE: &str = "calico";

/// The chain of a pod's direction: `tw-` (to the workload: ingress) or `fw-`
/// (from the workload: egress) and a hash of `namespace/name`.
pub fn chain_name(prefix: &str, pod: &PodRules) -> String {
    let h = Sha256::digest(pod.key().as_bytes());
    let hex: String = h.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("{prefix}-{hex}")
}

fn ids(list: &[PolicyId]) -> String {
    list.iter()
        .map(|(ns, n)| format!("{ns}/{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// nft's comments hold at most 128 bytes.
fn comment(text: &str) -> String {
    let mut t: String = text.replace('"', "'");
    while t.len() > 127 {
        t.pop();
    }
    format!("comment \"{t}\"")
}

/// A network as nft lists it: a /32 as its address.
fn cidr_text(c: &kinet_model::ipam::Cidr) -> String {
    if c.prefix == 32 {
        c.addr.to_string()
    } else {
        c.to_string()
    }
}

fn net_set(nets: &[&Net]) -> String {
    let items: Vec<String> = nets.iter().map(|n| cidr_text(&n.cidr)).collect();
    if items.len() == 1 {
        items[0].clone()
    } else {
        format!("{{ {} }}", items.join(", "))
    }
}

/// The peer matches of a rule: one per group (nets without exceptions share a set).
fn peer_matches(peers: &Peers, field: &str) -> Vec<String> {
    match peers {
        Peers::Any => vec![String::new()],
        Peers::Nets(nets) => {
            let plain: Vec<&Net> = nets.iter().filter(|n| n.except.is_empty()).collect();
            let mut out = Vec::new();
            if !plain.is_empty() {
                out.push(format!("ip {field} {} ", net_set(&plain)));
            }
            for n in nets.iter().filter(|n| !n.except.is_empty()) {
                let ex: Vec<String> = n.except.iter().map(cidr_text).collect();
                out.push(format!(
                    "ip {field} {} ip {field} != {{ {} }} ",
                    cidr_text(&n.cidr),
                    ex.join(", ")
                ));
            }
            out
        }
    }
}

fn port_text(m: &PortMatch) -> String {
    if m.lo == m.hi {
        m.lo.to_string()
    } else {
        format!("{}-{}", m.lo, m.hi)
    }
}

/// The port matches of a rule: one per (protocol, destination) group.
fn port_matches(ports: &Ports) -> Vec<String> {
    match ports {
        Ports::Any => vec![String::new()],
        Ports::List(list) => {
            let mut groups: BTreeMap<(Protocol, Option<Ipv4Addr>), Vec<&PortMatch>> =
                BTreeMap::new();
            for m in list {
                groups.entry((m.protocol, m.dst)).or_default().push(m);
            }
            groups
                .into_iter()
                .map(|((proto, dst), ms)| {
                    let dst = dst.map(|d| format!("ip daddr {d} ")).unwrap_or_default();
                    let all = ms.iter().any(|m| m.lo == 0 && m.hi == u16::MAX);
                    if all {
                        return format!("{dst}meta l4proto {} ", proto.nft());
                    }
                    let mut items: Vec<String> = ms.iter().map(|m| port_text(m)).collect();
                    items.dedup();
                    let set = if items.len() == 1 {
                        items[0].clone()
                    } else {
                        format!("{{ {} }}", items.join(", "))
                    };
                    format!("{dst}meta l4proto {} th dport {set} ", proto.nft())
                })
                .collect()
        }
    }
}

fn rule_lines(out: &mut String, r: &CompiledRule, field: &str, dir: &str) {
    let what = format!("{}/{} {dir} rule {}", r.policy.0, r.policy.1, r.index + 1);
    for peer in peer_matches(&r.peers, field) {
        for port in port_matches(&r.ports) {
            let _ = writeln!(out, "\t\t{peer}{port}counter return {}", comment(&what));
        }
    }
}

fn side_chain(out: &mut String, name: &str, pod: &PodRules, side: &Side, ingress: bool) {
    let (field, dir) = if ingress {
        ("saddr", "ingress")
    } else {
        ("daddr", "egress")
    };
    let _ = writeln!(out, "\tchain {name} {{");
    let _ = writeln!(out, "\t\t{};", comment(&format!("{dir} of {}", pod.key())));
    for r in &side.rules {
        rule_lines(out, r, field, dir);
    }
    let _ = writeln!(
        out,
        "\t\tcounter drop {}",
        comment(&format!(
            "{} isolated for {dir} by {}",
            pod.key(),
            ids(&side.policies)
        ))
    );
    let _ = writeln!(out, "\t}}");
}

fn vmap(entries: &[(Ipv4Addr, String)]) -> String {
    let items: Vec<String> = entries
        .iter()
        .map(|(ip, chain)| format!("{ip} : jump {chain}"))
        .collect();
    format!("{{ {} }}", items.join(", "))
}

/// The pods of `node` that some policy isolates.
fn local<'a>(c: &'a Compiled, node: &str) -> Vec<&'a PodRules> {
    c.pods
        .values()
        .filter(|p| p.node == node && (p.ingress.is_some() || p.egress.is_some()))
        .collect()
}

/// The `nft -f` transaction that makes table `ip calico` hold `node`'s rules.
pub fn transaction(c: &Compiled, node: &str) -> String {
    let pods = local(c, node);
    let mut chains = String::new();
    let mut to_wl = Vec::new();
    let mut from_wl = Vec::new();
    for pod in &pods {
        if let Some(s) = &pod.egress {
            let name = chain_name("fw", pod);
            side_chain(&mut chains, &name, pod, s, false);
            from_wl.push((pod.ip, name));
        }
        if let Some(s) = &pod.ingress {
            let name = chain_name("tw", pod);
            side_chain(&mut chains, &name, pod, s, true);
            to_wl.push((pod.ip, name));
        }
    }
    let mut out = String::new();
    let _ = writeln!(out, "add table ip {TABLE}");
    let _ = writeln!(out, "delete table ip {TABLE}");
    let _ = writeln!(out, "table ip {TABLE} {{");
    let hook = |out: &mut String, hook: &str, egress_only: bool| {
        let _ = writeln!(out, "\tchain {hook} {{");
        let _ = writeln!(
            out,
            "\t\ttype filter hook {hook} priority filter; policy accept;"
        );
        let _ = writeln!(out, "\t\tct state established,related accept");
        if !from_wl.is_empty() {
            let _ = writeln!(
                out,
                "\t\tiifname \"cali*\" ip saddr vmap {}",
                vmap(&from_wl)
            );
        }
        if !egress_only && !to_wl.is_empty() {
            let _ = writeln!(out, "\t\toifname \"cali*\" ip daddr vmap {}", vmap(&to_wl));
        }
        let _ = writeln!(out, "\t}}");
    };
    hook(&mut out, "forward", false);
    // a pod's traffic to its own node: its egress rules apply
    hook(&mut out, "input", true);
    out.push_str(&chains);
    out.push_str("}\n");
    out
}

/// Removes the table (calico-node's cleanup when no policy is left is the
/// empty table, so this is for tests and `kinet down`).
pub fn cleanup() -> String {
    format!("add table ip {TABLE}\ndelete table ip {TABLE}\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::compile::compile;
    use crate::policy::{NsInfo, PodInfo, Policy};
    use std::process::{Command, Stdio};

    fn pod(ns: &str, name: &str, ip: [u8; 4], node: &str, app: &str) -> PodInfo {
        PodInfo {
            namespace: ns.into(),
            name: name.into(),
            labels: [("app".to_string(), app.to_string())].into(),
            ip: Some(Ipv4Addr::from(ip)),
            node: node.into(),
            host_network: false,
            ports: vec![("http".into(), 8080, Protocol::Tcp)],
        }
    }

    fn policy(yaml: &str) -> Policy {
        let np = serde_yaml::from_str(yaml).unwrap();
        Policy::from_k8s(&np).unwrap()
    }

    fn compiled() -> Compiled {
        let pods = vec![
            pod("x", "api", [10, 1, 1, 5], "node1", "api"),
            pod("x", "front", [10, 1, 2, 6], "node2", "frontend"),
            pod("x", "other", [10, 1, 1, 7], "node1", "other"),
        ];
        let ns = vec![NsInfo {
            name: "x".into(),
            labels: Default::default(),
        }];
        let policies = vec![policy(
            "metadata: {name: api-policy, namespace: x}\nspec:\n  podSelector: {matchLabels: {app: api}}\n  policyTypes: [Ingress, Egress]\n  ingress:\n  - from:\n    - podSelector: {matchLabels: {app: frontend}}\n    ports:\n    - {port: http}\n  egress:\n  - to:\n    - ipBlock: {cidr: 10.0.0.0/8, except: [10.1.2.0/24]}\n  - ports:\n    - {port: 53, protocol: UDP}\n",
        )];
        compile(&pods, &ns, &policies, &Default::default())
    }

    #[test]
    fn a_node_gets_chains_for_its_isolated_pods_only() {
        let c = compiled();
        let t = transaction(&c, "node1");
        let api = &c.pods[&Ipv4Addr::new(10, 1, 1, 5)];
        let (tw, fw) = (chain_name("tw", api), chain_name("fw", api));
        assert!(
            t.starts_with("add table ip calico\ndelete table ip calico\ntable ip calico {\n"),
            "{t}"
        );
        assert!(
            t.contains(&format!(
                "oifname \"cali*\" ip daddr vmap {{ 10.1.1.5 : jump {tw} }}"
            )),
            "{t}"
        );
        assert!(
            t.contains(&format!(
                "iifname \"cali*\" ip saddr vmap {{ 10.1.1.5 : jump {fw} }}"
            )),
            "{t}"
        );
        // the named port resolved on the pod, the peer as its address
        assert!(t.contains("ip saddr 10.1.2.6 meta l4proto tcp th dport 8080 counter return comment \"x/api-policy ingress rule 1\""), "{t}");
        assert!(t.contains("ip daddr 10.0.0.0/8 ip daddr != { 10.1.2.0/24 } counter return comment \"x/api-policy egress rule 1\""), "{t}");
        assert!(
            t.contains(
                "meta l4proto udp th dport 53 counter return comment \"x/api-policy egress rule 2\""
            ),
            "{t}"
        );
        assert!(
            t.contains("counter drop comment \"x/api isolated for ingress by x/api-policy\""),
            "{t}"
        );
        // x/other is not isolated; node2 holds no isolated pod
        assert_eq!(t.matches("\tchain ").count(), 4, "{t}");
        let t2 = transaction(&c, "node2");
        assert!(!t2.contains("vmap"), "{t2}");
    }

    fn is_root() -> bool {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("Uid:"))
                    .map(|l| l.split_whitespace().nth(1) == Some("0"))
            })
            .unwrap_or(false)
    }

    /// `nft -c` (check only, nothing applied) accepts the ruleset.
    #[test]
    fn nft_accepts_the_ruleset() {
        if !is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let t = transaction(&compiled(), "node1");
        let mut child = Command::new("nft")
            .args(["-c", "-f", "-"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(t.as_bytes()).unwrap();
        let o = child.wait_with_output().unwrap();
        assert!(
            o.status.success(),
            "{}\n{t}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}
