//! Upstream's `CategorizeEndpoints` (pkg/proxy/topology.go): which endpoints
//! "Cluster" and "Local" traffic policy use, ready endpoints first, falling
//! back to serving-terminating ones when no ready ones exist, and zone hints
//! when every ready endpoint carries them.

use std::collections::BTreeMap;

use crate::model::{Endpoint, ServicePortInfo, ZONE_LABEL};

/// The endpoints a service port's rules use.
#[derive(Debug, Default)]
pub struct Categorized<'a> {
    /// Endpoints for "Cluster" traffic policy.
    pub cluster: Vec<&'a Endpoint>,
    /// Endpoints for "Local" traffic policy (on this node).
    pub local: Vec<&'a Endpoint>,
    /// Every endpoint some rule may send traffic to (one chain each).
    pub all_reachable: Vec<&'a Endpoint>,
    /// The service has usable endpoints somewhere.
    pub has_any: bool,
}

impl Categorized<'_> {
    /// The chain a traffic policy sends to (`local_chain` for "Local", else
    /// `cluster_chain`) and whether it has endpoints to send to.
    pub fn policy_chain<'c>(
        &self,
        policy_local: bool,
        cluster_chain: &'c str,
        local_chain: &'c str,
    ) -> (&'c str, bool) {
        if policy_local {
            (local_chain, self.has_any && !self.local.is_empty())
        } else {
            (cluster_chain, self.has_any)
        }
    }
}

/// Splits `endpoints` (sorted by `ip:port`) for `svc` on a node with `node_labels`.
pub fn categorize<'a>(
    endpoints: &'a [Endpoint],
    svc: &ServicePortInfo,
    node_labels: &BTreeMap<String, String>,
) -> Categorized<'a> {
    let mut out = Categorized::default();
    let mut use_topology = false;
    if svc.uses_cluster_endpoints() {
        let zone = node_labels.get(ZONE_LABEL).map(String::as_str);
        use_topology = can_use_topology(endpoints, zone);
        out.cluster = endpoints
            .iter()
            .filter(|ep| {
                ep.ready && (!use_topology || zone.is_some_and(|z| ep.zone_hints.contains(z)))
            })
            .collect();
        if out.cluster.is_empty() {
            out.cluster = endpoints
                .iter()
                .filter(|ep| ep.serving && ep.terminating)
                .collect();
        }
        out.has_any = !out.cluster.is_empty();
    }
    if !svc.uses_local_endpoints() {
        out.all_reachable = out.cluster.clone();
        return out;
    }
    // Pre-scan: which kind of endpoint Local policy uses, and whether the
    // service has usable endpoints anywhere in the cluster.
    let (mut local_ready, mut local_serving_terminating) = (false, false);
    for ep in endpoints {
        if ep.ready {
            out.has_any = true;
            local_ready |= ep.is_local;
        } else if ep.serving && ep.terminating {
            out.has_any = true;
            local_serving_terminating |= ep.is_local;
        }
    }
    let mut serving_terminating = false;
    if local_ready {
        out.local = endpoints
            .iter()
            .filter(|ep| ep.is_local && ep.ready)
            .collect();
    } else if local_serving_terminating {
        serving_terminating = true;
        out.local = endpoints
            .iter()
            .filter(|ep| ep.is_local && ep.serving && ep.terminating)
            .collect();
    }
    if !svc.uses_cluster_endpoints() {
        out.all_reachable = out.local.clone();
        return out;
    }
    if !use_topology && !serving_terminating {
        // Every local ready endpoint is already a cluster endpoint.
        out.all_reachable = out.cluster.clone();
        return out;
    }
    let mut merged: BTreeMap<String, &Endpoint> = BTreeMap::new();
    for ep in out.cluster.iter().chain(out.local.iter()) {
        merged.insert(ep.addr(), ep);
    }
    out.all_reachable = merged.into_values().collect();
    out
}

/// Zone hints are used only when every ready endpoint has some and one is
/// for this node's zone.
fn can_use_topology(endpoints: &[Endpoint], zone: Option<&str>) -> bool {
    let Some(zone) = zone else {
        return false;
    };
    let mut has_for_zone = false;
    for ep in endpoints.iter().filter(|ep| ep.ready) {
        if ep.zone_hints.is_empty() {
            return false;
        }
        if ep.zone_hints.contains(zone) {
            has_for_zone = true;
        }
    }
    has_for_zone
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::*;
    use crate::model::ProxyState;

    fn state(
        svc_tweak: impl Fn(&mut k8s_openapi::api::core::v1::ServiceSpec),
        eps: &[k8s_openapi::api::discovery::v1::Endpoint],
    ) -> ProxyState {
        let mut svc = service("ns", "s", "10.152.183.9", &[("p", 80, "TCP")]);
        svc_tweak(svc.spec.as_mut().unwrap());
        let sl = slice("ns", "s", "s-1", &[("p", 80, "TCP")], eps);
        ProxyState::from_objects("node1", &[svc], &[sl])
    }

    fn addrs(eps: &[&Endpoint]) -> Vec<String> {
        eps.iter().map(|e| e.addr()).collect()
    }

    #[test]
    fn cluster_policy_uses_ready_endpoints() {
        let st = state(
            |_| {},
            &[
                ep("10.1.0.1", "node1", true),
                ep("10.1.0.2", "node2", false),
            ],
        );
        let (name, svc) = st.services.iter().next().unwrap();
        let c = categorize(st.endpoints_of(name), svc, &BTreeMap::new());
        assert_eq!(addrs(&c.cluster), ["10.1.0.1:80"]);
        assert!(c.local.is_empty());
        assert!(c.has_any);
    }

    #[test]
    fn falls_back_to_serving_terminating() {
        let st = state(
            |_| {},
            &[
                terminating_ep("10.1.0.1", "node1", true),
                terminating_ep("10.1.0.2", "node2", false),
            ],
        );
        let (name, svc) = st.services.iter().next().unwrap();
        let c = categorize(st.endpoints_of(name), svc, &BTreeMap::new());
        assert_eq!(addrs(&c.cluster), ["10.1.0.1:80"]);
    }

    #[test]
    fn internal_local_uses_only_local() {
        let st = state(
            |s| s.internal_traffic_policy = Some("Local".into()),
            &[ep("10.1.0.1", "node1", true), ep("10.1.0.2", "node2", true)],
        );
        let (name, svc) = st.services.iter().next().unwrap();
        let c = categorize(st.endpoints_of(name), svc, &BTreeMap::new());
        assert!(c.cluster.is_empty());
        assert_eq!(addrs(&c.local), ["10.1.0.1:80"]);
        assert_eq!(addrs(&c.all_reachable), ["10.1.0.1:80"]);
    }

    #[test]
    fn external_local_merges_local_terminating() {
        let st = state(
            |s| {
                s.type_ = Some("NodePort".into());
                s.ports.as_mut().unwrap()[0].node_port = Some(30001);
                s.external_traffic_policy = Some("Local".into());
            },
            &[
                terminating_ep("10.1.0.1", "node1", true),
                ep("10.1.0.2", "node2", true),
            ],
        );
        let (name, svc) = st.services.iter().next().unwrap();
        let c = categorize(st.endpoints_of(name), svc, &BTreeMap::new());
        assert_eq!(addrs(&c.cluster), ["10.1.0.2:80"]);
        assert_eq!(addrs(&c.local), ["10.1.0.1:80"]);
        assert_eq!(addrs(&c.all_reachable), ["10.1.0.1:80", "10.1.0.2:80"]);
    }
}
