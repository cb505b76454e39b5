//! Policies compiled per pod: for each pod with an address, whether it is
//! isolated for ingress and egress, by which policies, and each admitting rule
//! with its peers resolved to networks and its ports to numbers. Both the
//! verdict and the nftables ruleset read this and nothing else, so they cannot
//! disagree.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use kinet_model::ipam::Cidr;

use super::{NsInfo, Peer, PodInfo, Policy, PolicyId, PortRef, PortSpec, Protocol, Rule};

/// A network a rule admits, minus its exceptions; `pod` names it when it is a pod's /32.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Net {
    pub cidr: Cidr,
    pub except: Vec<Cidr>,
    pub pod: Option<String>,
}

impl Net {
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        self.cidr.contains(ip) && !self.except.iter().any(|e| e.contains(ip))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peers {
    /// The rule names no peers: everyone.
    Any,
    /// Only these (none at all: the rule admits nothing).
    Nets(Vec<Net>),
}

/// A port (range) a rule admits; `dst` restricts it to one destination address
/// (an egress rule's named port, which each destination pod resolves for itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortMatch {
    pub protocol: Protocol,
    pub lo: u16,
    pub hi: u16,
    pub dst: Option<Ipv4Addr>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ports {
    /// The rule names no ports: every port of every protocol.
    Any,
    /// Only these (none at all: every named port failed to resolve).
    List(Vec<PortMatch>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledRule {
    pub policy: PolicyId,
    /// The rule's index in the policy's `ingress` or `egress` list.
    pub index: usize,
    pub peers: Peers,
    pub ports: Ports,
}

impl CompiledRule {
    /// Whether the rule admits a connection whose other end is `peer`, to `dst`
    /// (the destination address) on `port`/`protocol`.
    pub fn admits(&self, peer: Ipv4Addr, dst: Ipv4Addr, port: u16, protocol: Protocol) -> bool {
        let peer_ok = match &self.peers {
            Peers::Any => true,
            Peers::Nets(nets) => nets.iter().any(|n| n.contains(peer)),
        };
        let port_ok = match &self.ports {
            Ports::Any => true,
            Ports::List(list) => list.iter().any(|m| {
                m.protocol == protocol
                    && (m.lo..=m.hi).contains(&port)
                    && m.dst.is_none_or(|d| d == dst)
            }),
        };
        peer_ok && port_ok
    }
}

/// One direction of one pod: the policies isolating it, and the rules admitting.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Side {
    pub policies: Vec<PolicyId>,
    pub rules: Vec<CompiledRule>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRules {
    pub namespace: String,
    pub name: String,
    pub ip: Ipv4Addr,
    pub node: String,
    /// None: not isolated for ingress.
    pub ingress: Option<Side>,
    pub egress: Option<Side>,
}

impl PodRules {
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Compiled {
    /// Pods on the pod network with an address, by address.
    pub pods: BTreeMap<Ipv4Addr, PodRules>,
    /// Node names by node address (traffic from a node to its own pods passes).
    pub nodes: BTreeMap<Ipv4Addr, String>,
}

fn port_range(spec: &PortSpec, n: u16) -> (u16, u16) {
    (n, spec.end_port.filter(|e| *e >= n).unwrap_or(n))
}

/// Ports of a rule; named ports resolve on `dst_pods` (the pod itself for
/// ingress, every possible destination for egress).
fn ports(rule: &Rule, dst_pods: &[&PodInfo], ingress: bool) -> Ports {
    if rule.ports.is_empty() {
        return Ports::Any;
    }
    let mut out = Vec::new();
    for spec in &rule.ports {
        match &spec.port {
            None => out.push(PortMatch {
                protocol: spec.protocol,
                lo: 0,
                hi: u16::MAX,
                dst: None,
            }),
            Some(PortRef::Number(n)) => {
                let (lo, hi) = port_range(spec, *n);
                out.push(PortMatch {
                    protocol: spec.protocol,
                    lo,
                    hi,
                    dst: None,
                });
            }
            Some(PortRef::Name(name)) => {
                for pod in dst_pods {
                    let Some(ip) = pod.ip else { continue };
                    for (pname, num, proto) in &pod.ports {
                        if pname == name && *proto == spec.protocol {
                            out.push(PortMatch {
                                protocol: spec.protocol,
                                lo: *num,
                                hi: *num,
                                dst: (!ingress).then_some(ip),
                            });
                        }
                    }
                }
            }
        }
    }
    Ports::List(out)
}

fn on_pod_network(p: &PodInfo) -> bool {
    p.ip.is_some() && !p.host_network
}

/// The networks `peer` of a policy in namespace `ns` stands for.
fn nets(peer: &Peer, ns: &str, pods: &[PodInfo], namespaces: &[NsInfo]) -> Vec<Net> {
    match peer {
        Peer::Nothing => Vec::new(),
        Peer::Block { cidr, except } => vec![Net {
            cidr: *cidr,
            except: except.clone(),
            pod: None,
        }],
        Peer::Pods {
            namespaces: ns_sel,
            pods: pod_sel,
        } => {
            let ns_ok = |pod_ns: &str| match ns_sel {
                None => pod_ns == ns,
                Some(sel) => namespaces
                    .iter()
                    .find(|n| n.name == pod_ns)
                    .is_some_and(|n| sel.matches(&n.labels)),
            };
            pods.iter()
                .filter(|p| on_pod_network(p))
                .filter(|p| ns_ok(&p.namespace))
                .filter(|p| pod_sel.as_ref().is_none_or(|s| s.matches(&p.labels)))
                .filter_map(|p| {
                    Some(Net {
                        cidr: Cidr {
                            addr: p.ip?,
                            prefix: 32,
                        },
                        except: Vec::new(),
                        pod: Some(p.key()),
                    })
                })
                .collect()
        }
    }
}

fn peers(rule: &Rule, ns: &str, pods: &[PodInfo], namespaces: &[NsInfo]) -> Peers {
    match &rule.peers {
        None => Peers::Any,
        Some(list) => Peers::Nets(
            list.iter()
                .flat_map(|p| nets(p, ns, pods, namespaces))
                .collect(),
        ),
    }
}

/// Compiles every policy for every pod on the pod network. `nodes` maps node
/// addresses to node names.
pub fn compile(
    pods: &[PodInfo],
    namespaces: &[NsInfo],
    policies: &[Policy],
    nodes: &BTreeMap<Ipv4Addr, String>,
) -> Compiled {
    let destinations: Vec<&PodInfo> = pods.iter().filter(|p| on_pod_network(p)).collect();
    let mut out = Compiled {
        pods: BTreeMap::new(),
        nodes: nodes.clone(),
    };
    // policies sorted by id, so rule order (and the ruleset) is stable
    let mut policies: Vec<&Policy> = policies.iter().collect();
    policies.sort_by_key(|p| p.id());
    for pod in &destinations {
        let Some(ip) = pod.ip else { continue };
        let mut ingress: Option<Side> = None;
        let mut egress: Option<Side> = None;
        for pol in policies
            .iter()
            .filter(|p| p.namespace == pod.namespace && p.pod_selector.matches(&pod.labels))
        {
            // ingress ports resolve on the pod itself, egress ones on each destination
            let sides = [
                (&pol.ingress, &mut ingress, std::slice::from_ref(pod), true),
                (&pol.egress, &mut egress, destinations.as_slice(), false),
            ];
            for (rules, side, dst_pods, is_ingress) in sides {
                let Some(rules) = rules else { continue };
                let side = side.get_or_insert_with(Side::default);
                side.policies.push(pol.id());
                for (index, r) in rules.iter().enumerate() {
                    side.rules.push(CompiledRule {
                        policy: pol.id(),
                        index,
                        peers: peers(r, &pol.namespace, pods, namespaces),
                        ports: ports(r, dst_pods, is_ingress),
                    });
                }
            }
        }
        out.pods.insert(
            ip,
            PodRules {
                namespace: pod.namespace.clone(),
                name: pod.name.clone(),
                ip,
                node: pod.node.clone(),
                ingress,
                egress,
            },
        );
    }
    out
}
