//! The `nft -f` transaction of upstream's nftables proxier
//! (pkg/proxy/nftables/proxier.go): table `ip kube-proxy`, its base and
//! helper chains, the `service-ips` / `service-nodeports` verdict maps, the
//! `cluster-ips` set, the `no-endpoint-*` maps, `numgen random mod N vmap`
//! load balancing and per-endpoint affinity sets with timeouts. A full sync
//! writes everything in one transaction; an incremental one touches only
//! the elements, chains and sets of the Services that changed.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Write as _;

use crate::iptables::Config;
use crate::model::{Endpoint, ProxyState, ServiceKey, ServicePortInfo, ServicePortName};
use crate::names::hash_prefix;
use crate::topology::categorize;

pub const TABLE: &str = "ip kube-proxy";

pub const SERVICES_CHAIN: &str = "services";
pub const SERVICE_IPS_MAP: &str = "service-ips";
pub const SERVICE_NODEPORTS_MAP: &str = "service-nodeports";
pub const NODEPORT_IPS_SET: &str = "nodeport-ips";
pub const CLUSTER_IPS_SET: &str = "cluster-ips";
pub const SERVICE_ENDPOINTS_CHECK_CHAIN: &str = "service-endpoints-check";
pub const NODEPORT_ENDPOINTS_CHECK_CHAIN: &str = "nodeport-endpoints-check";
pub const NO_ENDPOINT_SERVICES_MAP: &str = "no-endpoint-services";
pub const NO_ENDPOINT_NODEPORTS_MAP: &str = "no-endpoint-nodeports";
pub const REJECT_CHAIN: &str = "reject-chain";
pub const CLUSTER_IPS_CHECK_CHAIN: &str = "cluster-ips-check";
pub const FIREWALL_IPS_MAP: &str = "firewall-ips";
pub const FIREWALL_CHECK_CHAIN: &str = "firewall-check";
pub const MARK_MASQ_CHAIN: &str = "mark-for-masquerade";
pub const MASQUERADING_CHAIN: &str = "masquerading";

/// Base chains: (name, type, hook, numeric priority: dstnat-10 = -110 …).
pub const BASE_CHAINS: [(&str, &str, &str, i32); 8] = [
    ("filter-prerouting", "filter", "prerouting", -110),
    ("filter-input", "filter", "input", -110),
    ("filter-forward", "filter", "forward", -110),
    ("filter-output", "filter", "output", -110),
    ("filter-output-post-dnat", "filter", "output", -90),
    ("nat-prerouting", "nat", "prerouting", -100),
    ("nat-output", "nat", "output", -100),
    ("nat-postrouting", "nat", "postrouting", 100),
];

/// Jumps from base chains: (destination, source, extra match).
pub const JUMP_CHAINS: [(&str, &str, &str); 11] = [
    (
        NODEPORT_ENDPOINTS_CHECK_CHAIN,
        "filter-input",
        "ct state new",
    ),
    (
        SERVICE_ENDPOINTS_CHECK_CHAIN,
        "filter-input",
        "ct state new",
    ),
    (
        SERVICE_ENDPOINTS_CHECK_CHAIN,
        "filter-forward",
        "ct state new",
    ),
    (
        SERVICE_ENDPOINTS_CHECK_CHAIN,
        "filter-output",
        "ct state new",
    ),
    (FIREWALL_CHECK_CHAIN, "filter-prerouting", "ct state new"),
    (FIREWALL_CHECK_CHAIN, "filter-output", "ct state new"),
    (SERVICES_CHAIN, "nat-output", ""),
    (SERVICES_CHAIN, "nat-prerouting", ""),
    (MASQUERADING_CHAIN, "nat-postrouting", ""),
    (CLUSTER_IPS_CHECK_CHAIN, "filter-forward", "ct state new"),
    (
        CLUSTER_IPS_CHECK_CHAIN,
        "filter-output-post-dnat",
        "ct state new",
    ),
];

/// The sets and maps whose elements kube-proxy keeps per Service.
const CONTAINERS: [(&str, bool); 6] = [
    (CLUSTER_IPS_SET, true),
    (SERVICE_IPS_MAP, false),
    (FIREWALL_IPS_MAP, false),
    (NO_ENDPOINT_SERVICES_MAP, false),
    (NO_ENDPOINT_NODEPORTS_MAP, false),
    (SERVICE_NODEPORTS_MAP, false),
];

/// Chain and set names with a hash prefix, truncated to nft's limit.
fn hash_and_truncate(name: &str) -> String {
    const MAX: usize = 128 - 16;
    let mut out = format!("{}-{name}", hash_prefix(name, 8));
    if out.len() > MAX {
        out.truncate(MAX - 3);
        out.push_str("...");
    }
    out
}

/// Upstream's `servicePortChainNameBase`, e.g. `ULMVA6XW-ns1/svc1/tcp/p80`.
pub fn service_chain_base(name: &ServicePortName) -> String {
    hash_and_truncate(&format!(
        "{}/{}/{}/{}",
        name.namespace,
        name.name,
        name.protocol.lower(),
        name.port
    ))
}

/// Upstream's `servicePortEndpointChainNameBase`, e.g.
/// `5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80`.
pub fn endpoint_chain_base(name: &ServicePortName, ep: &Endpoint) -> String {
    hash_and_truncate(&format!(
        "{}/{}/{}/{}__{}/{}",
        name.namespace,
        name.name,
        name.protocol.lower(),
        name.port,
        ep.ip,
        ep.port
    ))
}

/// Service chains are the only ones with a `/` in their name.
pub fn is_service_chain(name: &str) -> bool {
    name.contains('/')
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Element {
    container: &'static str,
    key: String,
    value: String,
    comment: Option<String>,
}

/// The nftables objects of one service port.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NftServiceBlock {
    chains: Vec<String>,
    elements: Vec<Element>,
    /// (chain, rule, comment)
    rules: Vec<(String, String, Option<String>)>,
    affinity_sets: Vec<(String, u32)>,
}

/// The desired nftables state of a node.
#[derive(Clone, Debug, Default)]
pub struct NftRuleset {
    pub services: BTreeMap<ServicePortName, NftServiceBlock>,
    setup: String,
}

/// A transaction to run with `nft -f`, and the chains it left empty that a
/// later transaction ([`cleanup_transaction`]) deletes once the kernel no
/// longer sees them referenced (upstream waits a second).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NftSync {
    pub transaction: String,
    pub stale_chains: Vec<String>,
}

fn add_chain(out: &mut String, chain: &str) {
    let _ = writeln!(out, "add chain {TABLE} {chain}");
    let _ = writeln!(out, "flush chain {TABLE} {chain}");
}

fn add_rule(out: &mut String, chain: &str, rule: &str, comment: Option<&str>) {
    let _ = write!(out, "add rule {TABLE} {chain} {rule}");
    if let Some(c) = comment {
        let _ = write!(out, " comment \"{c}\"");
    }
    out.push('\n');
}

fn element_body(e: &Element, with_value: bool) -> String {
    let mut s = format!("{{ {}", e.key);
    if with_value {
        if let Some(c) = &e.comment {
            let _ = write!(s, " comment \"{c}\"");
        }
        if !e.value.is_empty() {
            let _ = write!(s, " : {}", e.value);
        }
    }
    s.push_str(" }");
    s
}

fn add_element(out: &mut String, e: &Element) {
    let _ = writeln!(
        out,
        "add element {TABLE} {} {}",
        e.container,
        element_body(e, true)
    );
}

fn delete_element(out: &mut String, e: &Element) {
    let _ = writeln!(
        out,
        "delete element {TABLE} {} {}",
        e.container,
        element_body(e, false)
    );
}

fn add_affinity_set(out: &mut String, name: &str, timeout: u32) {
    let _ = writeln!(
        out,
        "add set {TABLE} {name} {{ type ipv4_addr ; flags dynamic,timeout ; timeout {timeout}s ; }}"
    );
}

fn setup(cfg: &Config, first: bool) -> String {
    let mut out = String::new();
    let mark = cfg.masquerade_mark();
    let _ = writeln!(
        out,
        "add table {TABLE} {{ comment \"rules for kube-proxy\" ; }}"
    );
    if first {
        for (name, ..) in BASE_CHAINS {
            let _ = writeln!(out, "add chain {TABLE} {name}");
            let _ = writeln!(out, "delete chain {TABLE} {name}");
        }
    }
    for (name, type_, hook, prio) in BASE_CHAINS {
        let _ = writeln!(
            out,
            "add chain {TABLE} {name} {{ type {type_} hook {hook} priority {prio} ; }}"
        );
        let _ = writeln!(out, "flush chain {TABLE} {name}");
    }
    let mut created: HashSet<&str> = HashSet::new();
    for (dst, src, extra) in JUMP_CHAINS {
        if created.insert(dst) {
            add_chain(&mut out, dst);
        }
        let rule = if extra.is_empty() {
            format!("jump {dst}")
        } else {
            format!("{extra} jump {dst}")
        };
        add_rule(&mut out, src, &rule, None);
    }
    for chain in [
        SERVICES_CHAIN,
        CLUSTER_IPS_CHECK_CHAIN,
        MASQUERADING_CHAIN,
        MARK_MASQ_CHAIN,
    ] {
        if created.insert(chain) {
            add_chain(&mut out, chain);
        }
    }
    add_rule(
        &mut out,
        MARK_MASQ_CHAIN,
        &format!("mark set mark or {mark}"),
        None,
    );
    add_rule(
        &mut out,
        MASQUERADING_CHAIN,
        &format!("mark and {mark} == 0 return"),
        None,
    );
    add_rule(
        &mut out,
        MASQUERADING_CHAIN,
        &format!("mark set mark xor {mark}"),
        None,
    );
    add_rule(
        &mut out,
        MASQUERADING_CHAIN,
        "masquerade fully-random",
        None,
    );
    let _ = writeln!(
        out,
        "add set {TABLE} {CLUSTER_IPS_SET} {{ type ipv4_addr ; comment \"Active ClusterIPs\" ; }}"
    );
    add_rule(
        &mut out,
        CLUSTER_IPS_CHECK_CHAIN,
        &format!("ip daddr @{CLUSTER_IPS_SET} reject"),
        Some("Reject traffic to invalid ports of ClusterIPs"),
    );
    if !cfg.service_cidrs.is_empty() {
        let cidrs: Vec<String> = cfg.service_cidrs.iter().map(ToString::to_string).collect();
        add_rule(
            &mut out,
            CLUSTER_IPS_CHECK_CHAIN,
            &format!("ip daddr {{ {} }} drop", cidrs.join(", ")),
            Some("Drop traffic to unallocated ClusterIPs"),
        );
    }
    // Every local address takes NodePorts (nodePortAddresses unset).
    let _ = writeln!(
        out,
        "add set {TABLE} {NODEPORT_IPS_SET} {{ type ipv4_addr ; comment \"IPs that accept NodePort traffic\" ; }}"
    );
    let _ = writeln!(out, "delete set {TABLE} {NODEPORT_IPS_SET}");
    let _ = writeln!(
        out,
        "add map {TABLE} {NO_ENDPOINT_SERVICES_MAP} {{ type ipv4_addr . inet_proto . inet_service : verdict ; comment \"vmap to drop or reject packets to services with no endpoints\" ; }}"
    );
    let _ = writeln!(
        out,
        "add map {TABLE} {NO_ENDPOINT_NODEPORTS_MAP} {{ type inet_proto . inet_service : verdict ; comment \"vmap to drop or reject packets to service nodeports with no endpoints\" ; }}"
    );
    let _ = writeln!(
        out,
        "add chain {TABLE} {REJECT_CHAIN} {{ comment \"helper for @no-endpoint-services / @no-endpoint-nodeports\" ; }}"
    );
    let _ = writeln!(out, "flush chain {TABLE} {REJECT_CHAIN}");
    add_rule(&mut out, REJECT_CHAIN, "reject", None);
    add_rule(
        &mut out,
        SERVICE_ENDPOINTS_CHECK_CHAIN,
        &format!("ip daddr . meta l4proto . th dport vmap @{NO_ENDPOINT_SERVICES_MAP}"),
        None,
    );
    add_rule(
        &mut out,
        NODEPORT_ENDPOINTS_CHECK_CHAIN,
        &format!(
            "ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @{NO_ENDPOINT_NODEPORTS_MAP}"
        ),
        None,
    );
    let _ = writeln!(
        out,
        "add map {TABLE} {FIREWALL_IPS_MAP} {{ type ipv4_addr . inet_proto . inet_service : verdict ; comment \"destinations that are subject to LoadBalancerSourceRanges\" ; }}"
    );
    if created.insert(FIREWALL_CHECK_CHAIN) {
        add_chain(&mut out, FIREWALL_CHECK_CHAIN);
    }
    add_rule(
        &mut out,
        FIREWALL_CHECK_CHAIN,
        &format!("ip daddr . meta l4proto . th dport vmap @{FIREWALL_IPS_MAP}"),
        None,
    );
    let _ = writeln!(
        out,
        "add map {TABLE} {SERVICE_IPS_MAP} {{ type ipv4_addr . inet_proto . inet_service : verdict ; comment \"ClusterIP, ExternalIP and LoadBalancer IP traffic\" ; }}"
    );
    let _ = writeln!(
        out,
        "add map {TABLE} {SERVICE_NODEPORTS_MAP} {{ type inet_proto . inet_service : verdict ; comment \"NodePort traffic\" ; }}"
    );
    add_rule(
        &mut out,
        SERVICES_CHAIN,
        &format!("ip daddr . meta l4proto . th dport vmap @{SERVICE_IPS_MAP}"),
        None,
    );
    add_rule(
        &mut out,
        SERVICES_CHAIN,
        &format!(
            "fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @{SERVICE_NODEPORTS_MAP}"
        ),
        None,
    );
    for (name, is_set) in CONTAINERS {
        let kind = if is_set { "set" } else { "map" };
        let _ = writeln!(out, "flush {kind} {TABLE} {name}");
    }
    out
}

mod service;
use service::service_block;

fn write_block(out: &mut String, b: &NftServiceBlock) {
    for c in &b.chains {
        add_chain(out, c);
    }
    for (name, timeout) in &b.affinity_sets {
        add_affinity_set(out, name, *timeout);
    }
    for (chain, rule, comment) in &b.rules {
        add_rule(out, chain, rule, comment.as_deref());
    }
}

impl NftRuleset {
    /// The whole desired state for `state` on the node of `cfg`.
    pub fn build(state: &ProxyState, cfg: &Config) -> NftRuleset {
        let mut rs = NftRuleset::default();
        for (name, svc) in &state.services {
            rs.services.insert(
                name.clone(),
                service_block(svc, state.endpoints_of(name), cfg),
            );
        }
        rs.setup = setup(cfg, false);
        rs
    }

    /// Every service chain of this ruleset.
    pub fn service_chains(&self) -> impl Iterator<Item = &str> {
        self.services
            .values()
            .flat_map(|b| b.chains.iter().map(String::as_str))
    }

    fn affinity_sets(&self) -> impl Iterator<Item = &str> {
        self.services
            .values()
            .flat_map(|b| b.affinity_sets.iter().map(|(n, _)| n.as_str()))
    }

    /// A full sync: the table set up (its base chains recreated when `first`),
    /// every container flushed and refilled, every service chain rewritten;
    /// `existing_chains` / `existing_sets` (from `nft list chains|sets`) name
    /// leftovers to flush or delete.
    pub fn full_transaction(
        &self,
        cfg: &Config,
        first: bool,
        existing_chains: &[String],
        existing_sets: &[String],
    ) -> NftSync {
        let mut out = if first {
            setup(cfg, true)
        } else {
            self.setup.clone()
        };
        out.reserve(self.services.len() * 1500);
        for b in self.services.values() {
            for c in &b.chains {
                add_chain(&mut out, c);
            }
            for e in &b.elements {
                add_element(&mut out, e);
            }
            for (name, timeout) in &b.affinity_sets {
                add_affinity_set(&mut out, name, *timeout);
            }
            for (chain, rule, comment) in &b.rules {
                add_rule(&mut out, chain, rule, comment.as_deref());
            }
        }
        let active: HashSet<&str> = self.service_chains().collect();
        let mut stale_chains = Vec::new();
        for c in existing_chains {
            if is_service_chain(c) && !active.contains(c.as_str()) {
                let _ = writeln!(out, "flush chain {TABLE} {c}");
                stale_chains.push(c.clone());
            }
        }
        let sets: HashSet<&str> = self.affinity_sets().collect();
        for s in existing_sets {
            if s.starts_with("affinity-") && !sets.contains(s.as_str()) {
                let _ = writeln!(out, "delete set {TABLE} {s}");
            }
        }
        NftSync {
            transaction: out,
            stale_chains,
        }
    }

    /// Rebuilds, in place, the blocks of the `changed` Services and returns
    /// the incremental transaction: only their elements (added, replaced,
    /// deleted), their chains (rewritten, or flushed when gone) and their
    /// affinity sets.
    pub fn update(
        &mut self,
        state: &ProxyState,
        cfg: &Config,
        changed: &BTreeSet<ServiceKey>,
    ) -> NftSync {
        let mut out = String::new();
        let mut stale_chains = Vec::new();
        for key in changed {
            let lo = ServicePortName {
                namespace: key.0.clone(),
                name: key.1.clone(),
                port: String::new(),
                protocol: crate::model::Protocol::Tcp,
            };
            let names: Vec<ServicePortName> = self
                .services
                .range(lo.clone()..)
                .take_while(|(n, _)| n.namespace == key.0 && n.name == key.1)
                .map(|(n, _)| n.clone())
                .collect();
            let mut old: BTreeMap<ServicePortName, NftServiceBlock> = BTreeMap::new();
            for n in names {
                if let Some(b) = self.services.remove(&n) {
                    old.insert(n, b);
                }
            }
            let mut new: BTreeMap<ServicePortName, NftServiceBlock> = BTreeMap::new();
            for (name, svc) in state.services.range(lo..) {
                if name.namespace != key.0 || name.name != key.1 {
                    break;
                }
                new.insert(
                    name.clone(),
                    service_block(svc, state.endpoints_of(name), cfg),
                );
            }
            // Elements, by container and key, across the Service's ports.
            let index = |blocks: &BTreeMap<ServicePortName, NftServiceBlock>| {
                let mut m: BTreeMap<(&'static str, String), Element> = BTreeMap::new();
                for b in blocks.values() {
                    for e in &b.elements {
                        m.insert((e.container, e.key.clone()), e.clone());
                    }
                }
                m
            };
            let (old_el, new_el) = (index(&old), index(&new));
            let new_chains: HashSet<&str> = new
                .values()
                .flat_map(|b| b.chains.iter().map(String::as_str))
                .collect();
            let new_sets: HashSet<&str> = new
                .values()
                .flat_map(|b| b.affinity_sets.iter().map(|(n, _)| n.as_str()))
                .collect();
            for (name, b) in &new {
                if old.get(name) == Some(b) {
                    continue;
                }
                write_block(&mut out, b);
            }
            for (k, e) in &new_el {
                match old_el.get(k) {
                    Some(o) if o == e => {}
                    Some(o) => {
                        delete_element(&mut out, o);
                        add_element(&mut out, e);
                    }
                    None => add_element(&mut out, e),
                }
            }
            for (k, o) in &old_el {
                if !new_el.contains_key(k) {
                    delete_element(&mut out, o);
                }
            }
            for b in old.values() {
                for c in &b.chains {
                    if !new_chains.contains(c.as_str()) {
                        let _ = writeln!(out, "flush chain {TABLE} {c}");
                        stale_chains.push(c.clone());
                    }
                }
                for (s, _) in &b.affinity_sets {
                    if !new_sets.contains(s.as_str()) {
                        let _ = writeln!(out, "delete set {TABLE} {s}");
                    }
                }
            }
            self.services.extend(new);
        }
        self.setup = setup(cfg, false);
        NftSync {
            transaction: out,
            stale_chains,
        }
    }
}

/// Deletes chains a previous sync left empty.
pub fn cleanup_transaction(stale_chains: &[String]) -> String {
    let mut out = String::new();
    for c in stale_chains {
        let _ = writeln!(out, "delete chain {TABLE} {c}");
    }
    out
}

#[cfg(test)]
mod tests;
