//! NetworkPolicy's semantics as one pure model, shared by enforcement (the
//! ruleset calico-node programs is rendered from [`compile::Compiled`]), by
//! `kinet matrix` and, later, the doctor: objects in, per-pod rules out, and a
//! verdict with its reasons for any connection.
//!
//! ```text
//! Policy::from_k8s(&NetworkPolicy)   PodInfo::from_pod(&Pod)   NsInfo::from_namespace(&Namespace)
//! compile::compile(&pods, &namespaces, &policies, &nodes) -> Compiled   // per pod: isolation, rules as IPs and ports
//! verdict::verdict(&compiled, from, to, port, protocol) -> Verdict       // allowed or denied, and why
//! ```
//!
//! The API's rules, as networking.k8s.io/v1 gives them: a pod is isolated for a
//! direction once any policy of its namespace selects it with that policy type;
//! then only what some rule of those policies admits passes (a union); a rule
//! admits a peer (podSelector within the policy's namespace, namespaceSelector,
//! both ANDed, or an ipBlock minus its excepts) on a port (numbered, named — resolved
//! on the destination pod — or a range with endPort). Traffic from a node to its
//! own pods is always allowed (kubelet's probes), as Calico allows it.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort};
use kinet_model::ipam::Cidr;
use kinet_model::selector::LabelSelector;

pub mod compile;
pub mod nft;
pub mod run;
pub mod verdict;

#[cfg(test)]
mod tests;

/// A policy's namespace and name.
pub type PolicyId = (String, String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    pub fn parse(s: &str) -> Option<Protocol> {
        match s {
            "TCP" => Some(Protocol::Tcp),
            "UDP" => Some(Protocol::Udp),
            "SCTP" => Some(Protocol::Sctp),
            _ => None,
        }
    }

    /// The API's spelling (`TCP`).
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }

    /// nftables' spelling (`tcp`).
    pub fn nft(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortRef {
    Number(u16),
    Name(String),
}

/// One entry of a rule's `ports`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    pub protocol: Protocol,
    /// None: every port of the protocol.
    pub port: Option<PortRef>,
    pub end_port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    /// podSelector (in the policy's namespace unless a namespaceSelector is given),
    /// namespaceSelector, or both ANDed.
    Pods {
        namespaces: Option<LabelSelector>,
        pods: Option<LabelSelector>,
    },
    Block {
        cidr: Cidr,
        except: Vec<Cidr>,
    },
    /// A peer that can match nothing here (an IPv6 ipBlock in this IPv4 lab).
    Nothing,
}

/// One ingress or egress rule: peers (none = everyone) and ports (none = all).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rule {
    pub peers: Option<Vec<Peer>>,
    pub ports: Vec<PortSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub namespace: String,
    pub name: String,
    pub pod_selector: LabelSelector,
    /// None when the policy is not of type Ingress.
    pub ingress: Option<Vec<Rule>>,
    pub egress: Option<Vec<Rule>>,
}

/// A pod as the model needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodInfo {
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// None until it has one; host-network pods have their node's.
    pub ip: Option<Ipv4Addr>,
    pub node: String,
    pub host_network: bool,
    /// Named container ports: (name, number, protocol).
    pub ports: Vec<(String, u16, Protocol)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NsInfo {
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

fn selector(
    sel: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
) -> Result<LabelSelector, String> {
    let v = serde_json::to_value(sel).map_err(|e| e.to_string())?;
    LabelSelector::from_object(&v)
}

fn peer(p: &NetworkPolicyPeer) -> Result<Peer, String> {
    if let Some(b) = &p.ip_block {
        if b.cidr.contains(':') {
            return Ok(Peer::Nothing);
        }
        let cidr = Cidr::parse(&b.cidr)?;
        let except = b
            .except
            .iter()
            .flatten()
            .filter(|e| !e.contains(':'))
            .map(|e| Cidr::parse(e))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Peer::Block { cidr, except });
    }
    let namespaces = p.namespace_selector.as_ref().map(selector).transpose()?;
    let pods = p.pod_selector.as_ref().map(selector).transpose()?;
    if namespaces.is_none() && pods.is_none() {
        return Ok(Peer::Nothing);
    }
    Ok(Peer::Pods { namespaces, pods })
}

fn port(p: &NetworkPolicyPort) -> Result<PortSpec, String> {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    let proto = p.protocol.as_deref().unwrap_or("TCP");
    let protocol =
        Protocol::parse(proto).ok_or_else(|| format!("unsupported protocol {proto:?}"))?;
    let port = match &p.port {
        None => None,
        Some(IntOrString::Int(n)) => Some(PortRef::Number(
            u16::try_from(*n).map_err(|_| format!("invalid port {n}"))?,
        )),
        Some(IntOrString::String(s)) => Some(match s.parse::<u16>() {
            Ok(n) => PortRef::Number(n),
            Err(_) => PortRef::Name(s.clone()),
        }),
    };
    let end_port = p
        .end_port
        .map(|n| u16::try_from(n).map_err(|_| format!("invalid endPort {n}")))
        .transpose()?;
    Ok(PortSpec {
        protocol,
        port,
        end_port,
    })
}

fn rules<'a>(
    list: impl Iterator<
        Item = (
            Option<&'a Vec<NetworkPolicyPeer>>,
            Option<&'a Vec<NetworkPolicyPort>>,
        ),
    >,
) -> Result<Vec<Rule>, String> {
    list.map(|(peers, ports)| {
        Ok(Rule {
            peers: match peers {
                Some(v) if !v.is_empty() => Some(v.iter().map(peer).collect::<Result<_, _>>()?),
                _ => None,
            },
            ports: ports
                .into_iter()
                .flatten()
                .map(port)
                .collect::<Result<_, _>>()?,
        })
    })
    .collect()
}

impl Policy {
    /// The model of a stored policy; `policyTypes` defaulted as the API server
    /// does (Ingress always, Egress when there are egress rules).
    pub fn from_k8s(np: &NetworkPolicy) -> Result<Policy, String> {
        let spec = np.spec.clone().unwrap_or_default();
        let types: Vec<String> = match &spec.policy_types {
            Some(t) if !t.is_empty() => t.clone(),
            _ => {
                let mut t = vec!["Ingress".to_string()];
                if spec.egress.as_ref().is_some_and(|e| !e.is_empty()) {
                    t.push("Egress".into());
                }
                t
            }
        };
        let has = |t: &str| types.iter().any(|x| x == t);
        let ingress = if has("Ingress") {
            Some(rules(
                spec.ingress
                    .iter()
                    .flatten()
                    .map(|r| (r.from.as_ref(), r.ports.as_ref())),
            )?)
        } else {
            None
        };
        let egress = if has("Egress") {
            Some(rules(
                spec.egress
                    .iter()
                    .flatten()
                    .map(|r| (r.to.as_ref(), r.ports.as_ref())),
            )?)
        } else {
            None
        };
        Ok(Policy {
            namespace: np.metadata.namespace.clone().unwrap_or_default(),
            name: np.metadata.name.clone().unwrap_or_default(),
            pod_selector: spec
                .pod_selector
                .as_ref()
                .map(selector)
                .transpose()?
                .unwrap_or_default(),
            ingress,
            egress,
        })
    }

    pub fn id(&self) -> PolicyId {
        (self.namespace.clone(), self.name.clone())
    }
}

impl PodInfo {
    pub fn from_pod(p: &Pod) -> PodInfo {
        let spec = p.spec.clone().unwrap_or_default();
        let ports = spec
            .containers
            .iter()
            .flat_map(|c| c.ports.iter().flatten())
            .filter_map(|cp| {
                let name = cp.name.clone()?;
                let proto = Protocol::parse(cp.protocol.as_deref().unwrap_or("TCP"))?;
                Some((name, u16::try_from(cp.container_port).ok()?, proto))
            })
            .collect();
        PodInfo {
            namespace: p.metadata.namespace.clone().unwrap_or_default(),
            name: p.metadata.name.clone().unwrap_or_default(),
            labels: p.metadata.labels.clone().unwrap_or_default(),
            ip: p
                .status
                .as_ref()
                .and_then(|s| s.pod_ip.as_deref())
                .and_then(|ip| ip.parse().ok()),
            node: spec.node_name.clone().unwrap_or_default(),
            host_network: spec.host_network.unwrap_or(false),
            ports,
        }
    }

    /// `namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

impl NsInfo {
    pub fn from_namespace(n: &Namespace) -> NsInfo {
        NsInfo {
            name: n.metadata.name.clone().unwrap_or_default(),
            labels: n.metadata.labels.clone().unwrap_or_default(),
        }
    }
}
