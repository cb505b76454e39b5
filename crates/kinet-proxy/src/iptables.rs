//! The iptables-restore input of upstream's iptables proxier
//! (pkg/proxy/iptables/proxier.go, `syncProxyRules`): tables `filter` and
//! `nat`, the same chains, rules, comments and chain-name hashes, in the same
//! order. A [`Ruleset`] keeps each service port's rules apart so that a
//! partial sync rewrites only the chains of services that changed and
//! deletes the chains that went away.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use crate::model::{Cidr, Endpoint, ProxyState, ServicePortInfo, ServicePortName};
use crate::names::{endpoint_hash, port_proto_hash};
use crate::topology::categorize;

pub const KUBE_SERVICES: &str = "KUBE-SERVICES";
pub const KUBE_EXTERNAL_SERVICES: &str = "KUBE-EXTERNAL-SERVICES";
pub const KUBE_FORWARD: &str = "KUBE-FORWARD";
pub const KUBE_NODEPORTS: &str = "KUBE-NODEPORTS";
pub const KUBE_PROXY_FIREWALL: &str = "KUBE-PROXY-FIREWALL";
pub const KUBE_FIREWALL: &str = "KUBE-FIREWALL";
pub const KUBE_POSTROUTING: &str = "KUBE-POSTROUTING";
pub const KUBE_MARK_MASQ: &str = "KUBE-MARK-MASQ";

/// Prefixes of the per-service chains kube-proxy owns (and may delete).
pub const SERVICE_CHAIN_PREFIXES: [&str; 5] = [
    "KUBE-SVC-",
    "KUBE-SVL-",
    "KUBE-SEP-",
    "KUBE-FW-",
    "KUBE-EXT-",
];

/// Above this many endpoints upstream drops the per-endpoint comments
/// ("large cluster mode").
pub const LARGE_CLUSTER_ENDPOINTS_THRESHOLD: usize = 1000;

/// The node-wide settings of a proxier (upstream's KubeProxyConfiguration
/// and node facts).
#[derive(Clone, Debug)]
pub struct Config {
    pub node_name: String,
    /// The node's primary IP (for loadBalancerSourceRanges that include it).
    pub node_ip: Option<Ipv4Addr>,
    pub node_labels: BTreeMap<String, String>,
    /// The cluster's pod CIDR: traffic from it is "local" (upstream's
    /// LocalTrafficDetector by cluster CIDR). None: no detector.
    pub cluster_cidr: Option<Cidr>,
    pub masquerade_all: bool,
    /// The mark bit for masquerading (upstream default 14: 0x4000).
    pub masquerade_bit: u8,
    /// NodePorts answer on 127.0.0.0/8 too (upstream default true).
    pub localhost_node_ports: bool,
    /// nf_conntrack_tcp_be_liberal is set: no INVALID drop rule.
    pub conntrack_tcp_liberal: bool,
    /// iptables supports `--random-fully`.
    pub random_fully: bool,
    /// Service CIDRs, for nftables' drop of unallocated ClusterIPs.
    pub service_cidrs: Vec<Cidr>,
}

impl Config {
    pub fn new(node_name: &str) -> Config {
        Config {
            node_name: node_name.to_string(),
            node_ip: None,
            node_labels: BTreeMap::new(),
            cluster_cidr: None,
            masquerade_all: false,
            masquerade_bit: 14,
            localhost_node_ports: true,
            conntrack_tcp_liberal: false,
            random_fully: true,
            service_cidrs: Vec::new(),
        }
    }

    /// The masquerade mark, e.g. `0x4000`.
    pub fn masquerade_mark(&self) -> String {
        format!("{:#x}", 1u32 << u32::from(self.masquerade_bit.min(31)))
    }
}

/// A rule kube-proxy keeps in a built-in chain (outside iptables-restore, as
/// upstream's `iptablesJumpChains`): `-I <src_chain> <args>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JumpRule {
    pub table: &'static str,
    pub src_chain: &'static str,
    pub dst_chain: &'static str,
    pub comment: &'static str,
    pub extra_args: &'static [&'static str],
}

const NEW: &[&str] = &["-m", "conntrack", "--ctstate", "NEW"];

/// Upstream's jump rules from the built-in chains to kube-proxy's.
pub const JUMP_RULES: &[JumpRule] = &[
    JumpRule {
        table: "filter",
        src_chain: "INPUT",
        dst_chain: KUBE_EXTERNAL_SERVICES,
        comment: "kubernetes externally-visible service portals",
        extra_args: NEW,
    },
    JumpRule {
        table: "filter",
        src_chain: "FORWARD",
        dst_chain: KUBE_EXTERNAL_SERVICES,
        comment: "kubernetes externally-visible service portals",
        extra_args: NEW,
    },
    JumpRule {
        table: "filter",
        src_chain: "INPUT",
        dst_chain: KUBE_NODEPORTS,
        comment: "kubernetes health check service ports",
        extra_args: &[],
    },
    JumpRule {
        table: "filter",
        src_chain: "FORWARD",
        dst_chain: KUBE_SERVICES,
        comment: "kubernetes service portals",
        extra_args: NEW,
    },
    JumpRule {
        table: "filter",
        src_chain: "OUTPUT",
        dst_chain: KUBE_SERVICES,
        comment: "kubernetes service portals",
        extra_args: NEW,
    },
    JumpRule {
        table: "filter",
        src_chain: "FORWARD",
        dst_chain: KUBE_FORWARD,
        comment: "kubernetes forwarding rules",
        extra_args: &[],
    },
    JumpRule {
        table: "filter",
        src_chain: "INPUT",
        dst_chain: KUBE_PROXY_FIREWALL,
        comment: "kubernetes load balancer firewall",
        extra_args: NEW,
    },
    JumpRule {
        table: "filter",
        src_chain: "OUTPUT",
        dst_chain: KUBE_PROXY_FIREWALL,
        comment: "kubernetes load balancer firewall",
        extra_args: NEW,
    },
    JumpRule {
        table: "filter",
        src_chain: "FORWARD",
        dst_chain: KUBE_PROXY_FIREWALL,
        comment: "kubernetes load balancer firewall",
        extra_args: NEW,
    },
    JumpRule {
        table: "nat",
        src_chain: "OUTPUT",
        dst_chain: KUBE_SERVICES,
        comment: "kubernetes service portals",
        extra_args: &[],
    },
    JumpRule {
        table: "nat",
        src_chain: "PREROUTING",
        dst_chain: KUBE_SERVICES,
        comment: "kubernetes service portals",
        extra_args: &[],
    },
    JumpRule {
        table: "nat",
        src_chain: "POSTROUTING",
        dst_chain: KUBE_POSTROUTING,
        comment: "kubernetes postrouting rules",
        extra_args: &[],
    },
    JumpRule {
        table: "filter",
        src_chain: "INPUT",
        dst_chain: KUBE_FIREWALL,
        comment: "",
        extra_args: &[],
    },
    JumpRule {
        table: "filter",
        src_chain: "OUTPUT",
        dst_chain: KUBE_FIREWALL,
        comment: "",
        extra_args: &[],
    },
];

impl JumpRule {
    /// The rule's arguments after the chain, as `iptables -C/-I` take them
    /// (the comment unquoted: one argument).
    pub fn args(&self) -> Vec<String> {
        let mut args: Vec<String> = self.extra_args.iter().map(|s| s.to_string()).collect();
        if !self.comment.is_empty() {
            args.extend([
                "-m".into(),
                "comment".into(),
                "--comment".into(),
                self.comment.into(),
            ]);
        }
        args.extend(["-j".into(), self.dst_chain.into()]);
        args
    }

    /// The rule as iptables-save prints it (`-A SRC ... -j DST`).
    pub fn save_line(&self) -> String {
        let mut line = format!("-A {}", self.src_chain);
        for a in self.extra_args {
            line.push(' ');
            line.push_str(a);
        }
        if !self.comment.is_empty() {
            let _ = write!(line, " -m comment --comment \"{}\"", self.comment);
        }
        let _ = write!(line, " -j {}", self.dst_chain);
        line
    }
}

/// The rules of one service port.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceBlock {
    /// Rules in the top-level filter chains.
    pub filter_rules: Vec<String>,
    /// Rules in nat KUBE-SERVICES / KUBE-NODEPORTS (always rewritten).
    pub nat_top_rules: Vec<String>,
    /// The service's own nat chains (SVC, SVL, EXT, FW, SEP), in order.
    pub chains: Vec<String>,
    /// The rules of those chains.
    pub chain_rules: Vec<String>,
}

/// What a partial sync must write after [`Ruleset::update`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Delta {
    /// Service ports whose chains are rewritten.
    pub rewritten: BTreeSet<ServicePortName>,
    /// Chains that no longer exist: flushed and deleted.
    pub stale_chains: Vec<String>,
}

/// The desired iptables state of a node.
#[derive(Clone, Debug, Default)]
pub struct Ruleset {
    filter_chains: Vec<&'static str>,
    filter_head_rules: Vec<String>,
    filter_tail_rules: Vec<String>,
    nat_head_rules: Vec<String>,
    nat_tail_rules: Vec<String>,
    /// Per service port, in name order.
    pub services: BTreeMap<ServicePortName, ServiceBlock>,
    large_cluster: bool,
}

const NAT_CHAINS: [&str; 4] = [
    KUBE_SERVICES,
    KUBE_NODEPORTS,
    KUBE_POSTROUTING,
    KUBE_MARK_MASQ,
];

fn chain_line(out: &mut String, chain: &str) {
    out.push(':');
    out.push_str(chain);
    out.push_str(" - [0:0]\n");
}

fn push_lines(out: &mut String, lines: &[String]) {
    for l in lines {
        out.push_str(l);
        out.push('\n');
    }
}

/// Upstream's `computeProbability`: `%0.10f` of 1/n.
pub fn probability(n: usize) -> String {
    format!("{:.10}", 1.0 / n as f64)
}

/// Is `chain` one of kube-proxy's per-service chains?
pub fn is_service_chain(chain: &str) -> bool {
    SERVICE_CHAIN_PREFIXES.iter().any(|p| chain.starts_with(p))
}

/// The chain names of `table` in iptables-save output.
pub fn saved_chains(save: &str, table: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    let header = format!("*{table}");
    for line in save.lines().map(str::trim) {
        if line == header {
            inside = true;
        } else if inside && (line.starts_with("COMMIT") || line.starts_with('*')) {
            break;
        } else if inside
            && line.len() > 1
            && line.starts_with(':')
            && let Some(name) = line[1..].split(' ').next()
        {
            out.push(name.to_string());
        }
    }
    out
}

impl Ruleset {
    /// The whole desired state for `state` on the node of `cfg`.
    pub fn build(state: &ProxyState, cfg: &Config) -> Ruleset {
        let total: usize = state
            .services
            .keys()
            .map(|name| state.endpoints_of(name).len())
            .sum();
        let large_cluster = total > LARGE_CLUSTER_ENDPOINTS_THRESHOLD;
        let mut rs = Ruleset {
            large_cluster,
            ..Ruleset::default()
        };
        rs.build_fixed(cfg);
        let mut probs = Probabilities::default();
        for (name, svc) in &state.services {
            let block = service_block(
                svc,
                state.endpoints_of(name),
                cfg,
                large_cluster,
                &mut probs,
            );
            rs.services.insert(name.clone(), block);
        }
        rs
    }

    /// Rebuilds, in place, only the blocks of the service ports of the
    /// `changed` Services (namespace, name), and says what a partial sync
    /// must write ([`Ruleset::delta_restore`]). When large cluster mode flips
    /// (every comment changes) everything is rebuilt and rewritten.
    pub fn update(
        &mut self,
        state: &ProxyState,
        cfg: &Config,
        changed: &BTreeSet<(String, String)>,
    ) -> Delta {
        let total: usize = state
            .services
            .keys()
            .map(|name| state.endpoints_of(name).len())
            .sum();
        if (total > LARGE_CLUSTER_ENDPOINTS_THRESHOLD) != self.large_cluster {
            let old: Vec<String> = self.service_chains().map(str::to_string).collect();
            *self = Ruleset::build(state, cfg);
            let active: HashSet<&str> = self.service_chains().collect();
            let stale_chains = old
                .into_iter()
                .filter(|c| !active.contains(c.as_str()))
                .collect();
            return Delta {
                rewritten: self.services.keys().cloned().collect(),
                stale_chains,
            };
        }
        self.build_fixed(cfg);
        let mut probs = Probabilities::default();
        let mut delta = Delta::default();
        let mut old_chains: Vec<String> = Vec::new();
        let mut new_chains: HashSet<String> = HashSet::new();
        for key in changed {
            let lo = ServicePortName {
                namespace: key.0.clone(),
                name: key.1.clone(),
                port: String::new(),
                protocol: crate::model::Protocol::Tcp,
            };
            let mut old: BTreeMap<ServicePortName, ServiceBlock> = BTreeMap::new();
            let names: Vec<ServicePortName> = self
                .services
                .range(lo.clone()..)
                .take_while(|(n, _)| n.namespace == key.0 && n.name == key.1)
                .map(|(n, _)| n.clone())
                .collect();
            for n in names {
                if let Some(b) = self.services.remove(&n) {
                    old.insert(n, b);
                }
            }
            for (name, svc) in state.services.range(lo..) {
                if name.namespace != key.0 || name.name != key.1 {
                    break;
                }
                let block = service_block(
                    svc,
                    state.endpoints_of(name),
                    cfg,
                    self.large_cluster,
                    &mut probs,
                );
                let same = old.get(name).is_some_and(|o| {
                    o.chains == block.chains && o.chain_rules == block.chain_rules
                });
                if !same {
                    delta.rewritten.insert(name.clone());
                }
                new_chains.extend(block.chains.iter().cloned());
                self.services.insert(name.clone(), block);
            }
            old_chains.extend(old.into_values().flat_map(|b| b.chains));
        }
        delta.stale_chains = old_chains
            .into_iter()
            .filter(|c| !new_chains.contains(c))
            .collect();
        delta
    }

    /// The input of the partial sync an [`Ruleset::update`] calls for.
    pub fn delta_restore(&self, delta: &Delta) -> String {
        let stale: Vec<&str> = delta.stale_chains.iter().map(String::as_str).collect();
        self.render(|(name, _)| delta.rewritten.contains(*name), &stale)
    }

    fn build_fixed(&mut self, cfg: &Config) {
        let mark = cfg.masquerade_mark();
        self.filter_chains = vec![
            KUBE_SERVICES,
            KUBE_EXTERNAL_SERVICES,
            KUBE_FORWARD,
            KUBE_NODEPORTS,
            KUBE_PROXY_FIREWALL,
        ];
        self.filter_head_rules.clear();
        if cfg.localhost_node_ports {
            self.filter_chains.push(KUBE_FIREWALL);
            self.filter_head_rules.push(format!(
                "-A {KUBE_FIREWALL} -m comment --comment \"block incoming localnet connections\" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP"
            ));
        }
        self.filter_tail_rules.clear();
        if !cfg.conntrack_tcp_liberal {
            self.filter_tail_rules.push(format!(
                "-A {KUBE_FORWARD} -m conntrack --ctstate INVALID -j DROP"
            ));
        }
        self.filter_tail_rules.push(format!(
            "-A {KUBE_FORWARD} -m comment --comment \"kubernetes forwarding rules\" -m mark --mark {mark}/{mark} -j ACCEPT"
        ));
        self.filter_tail_rules.push(format!(
            "-A {KUBE_FORWARD} -m comment --comment \"kubernetes forwarding conntrack rule\" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
        ));
        self.nat_head_rules = vec![
            format!("-A {KUBE_POSTROUTING} -m mark ! --mark {mark}/{mark} -j RETURN"),
            format!("-A {KUBE_POSTROUTING} -j MARK --xor-mark {mark}"),
            format!(
                "-A {KUBE_POSTROUTING} -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE{}",
                if cfg.random_fully {
                    " --random-fully"
                } else {
                    ""
                }
            ),
            format!("-A {KUBE_MARK_MASQ} -j MARK --or-mark {mark}"),
        ];
        let local = if cfg.localhost_node_ports {
            ""
        } else {
            " ! -d 127.0.0.0/8"
        };
        self.nat_tail_rules = vec![format!(
            "-A {KUBE_SERVICES} -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL{local} -j {KUBE_NODEPORTS}"
        )];
    }

    /// Every per-service nat chain of this ruleset.
    pub fn service_chains(&self) -> impl Iterator<Item = &str> {
        self.services
            .values()
            .flat_map(|b| b.chains.iter().map(String::as_str))
    }

    /// The input of a full sync: every chain written. `existing_nat_chains`
    /// (from iptables-save) names chains to delete when they are service
    /// chains no longer in use.
    pub fn full_restore(&self, existing_nat_chains: &[String]) -> String {
        let active: HashSet<&str> = self.service_chains().collect();
        let stale: Vec<&str> = existing_nat_chains
            .iter()
            .map(String::as_str)
            .filter(|c| is_service_chain(c) && !active.contains(c))
            .collect();
        self.render(|_| true, &stale)
    }

    /// The input of a partial sync after `previous` was applied: only the
    /// chains of service ports whose rules changed are written, and the
    /// chains `previous` had and this ruleset has not are deleted.
    pub fn partial_restore(&self, previous: &Ruleset) -> String {
        let active: HashSet<&str> = self.service_chains().collect();
        let stale: Vec<&str> = previous
            .service_chains()
            .filter(|c| !active.contains(c))
            .collect();
        self.render(
            |(name, block)| {
                previous.services.get(*name).is_none_or(|old| {
                    old.chains != block.chains || old.chain_rules != block.chain_rules
                })
            },
            &stale,
        )
    }

    fn render(
        &self,
        write_chains: impl Fn(&(&ServicePortName, &ServiceBlock)) -> bool,
        stale: &[&str],
    ) -> String {
        let mut out = String::with_capacity(256 + self.services.len() * 1200);
        out.push_str("*filter\n");
        for c in &self.filter_chains {
            chain_line(&mut out, c);
        }
        push_lines(&mut out, &self.filter_head_rules);
        for block in self.services.values() {
            push_lines(&mut out, &block.filter_rules);
        }
        push_lines(&mut out, &self.filter_tail_rules);
        out.push_str("COMMIT\n*nat\n");
        for c in NAT_CHAINS {
            chain_line(&mut out, c);
        }
        let written: Vec<bool> = self.services.iter().map(|e| write_chains(&e)).collect();
        for (block, w) in self.services.values().zip(&written) {
            if *w {
                for c in &block.chains {
                    chain_line(&mut out, c);
                }
            }
        }
        for c in stale {
            chain_line(&mut out, c);
        }
        push_lines(&mut out, &self.nat_head_rules);
        for (block, w) in self.services.values().zip(&written) {
            push_lines(&mut out, &block.nat_top_rules);
            if *w {
                push_lines(&mut out, &block.chain_rules);
            }
        }
        for c in stale {
            out.push_str("-X ");
            out.push_str(c);
            out.push('\n');
        }
        push_lines(&mut out, &self.nat_tail_rules);
        out.push_str("COMMIT\n");
        out
    }
}

mod service;
use service::{Probabilities, service_block};

#[cfg(test)]
mod tests;
