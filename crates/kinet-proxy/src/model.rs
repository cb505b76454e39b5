//! From `Service` and `EndpointSlice` objects to what kube-proxy programs:
//! one [`ServicePortInfo`] per service port and its [`Endpoint`]s, as
//! upstream's servicechangetracker.go / endpointslicecache.go build them
//! (IPv4 single stack, like the lab).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

/// The label joining an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// The node label naming its zone.
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
/// Upstream's default ClientIP affinity timeout (3 hours).
pub const DEFAULT_AFFINITY_TIMEOUT_SECONDS: u32 = 10800;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    /// `TCP`, `UDP`, `SCTP` as in the API; anything else is not proxied.
    pub fn parse(api: &str) -> Option<Protocol> {
        match api {
            "TCP" => Some(Protocol::Tcp),
            "UDP" => Some(Protocol::Udp),
            "SCTP" => Some(Protocol::Sctp),
            _ => None,
        }
    }

    /// Lower case, as iptables and nft spell it.
    pub fn lower(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

/// An IPv4 prefix such as `10.1.0.0/16`: the model's one CIDR type.
pub use kinet_model::ipam::Cidr;

/// Upstream's `proxy.ServicePortName`: namespace/name:port plus protocol.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServicePortName {
    pub namespace: String,
    pub name: String,
    pub port: String,
    pub protocol: Protocol,
}

impl fmt::Display for ServicePortName {
    /// `ns/name:port`, or `ns/name` when the port has no name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)?;
        if !self.port.is_empty() {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

/// One port of one Service, as the proxier sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicePortInfo {
    pub name: ServicePortName,
    pub cluster_ip: Ipv4Addr,
    pub port: u16,
    /// 0 when the Service has no node port.
    pub node_port: u16,
    pub external_ips: Vec<Ipv4Addr>,
    pub load_balancer_vips: Vec<Ipv4Addr>,
    pub load_balancer_source_ranges: Vec<Cidr>,
    /// 0 unless LoadBalancer with externalTrafficPolicy Local.
    pub health_check_node_port: u16,
    /// `Some(timeout)` for sessionAffinity ClientIP.
    pub affinity_timeout: Option<u32>,
    pub external_policy_local: bool,
    pub internal_policy_local: bool,
}

impl ServicePortInfo {
    pub fn protocol(&self) -> Protocol {
        self.name.protocol
    }

    /// Reachable from outside: node port, LoadBalancer IPs or external IPs.
    pub fn externally_accessible(&self) -> bool {
        self.node_port != 0 || !self.load_balancer_vips.is_empty() || !self.external_ips.is_empty()
    }

    /// Some traffic goes to endpoints by "Cluster" policy.
    pub fn uses_cluster_endpoints(&self) -> bool {
        !self.internal_policy_local || (self.externally_accessible() && !self.external_policy_local)
    }

    /// Some traffic goes to endpoints by "Local" policy.
    pub fn uses_local_endpoints(&self) -> bool {
        self.internal_policy_local || (self.externally_accessible() && self.external_policy_local)
    }
}

/// One endpoint of one service port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub ip: Ipv4Addr,
    pub port: u16,
    pub ready: bool,
    pub serving: bool,
    pub terminating: bool,
    /// On this proxier's node.
    pub is_local: bool,
    pub node_name: Option<String>,
    pub zone: Option<String>,
    pub zone_hints: BTreeSet<String>,
}

impl Endpoint {
    /// `ip:port`, upstream's `Endpoint.String()`.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }
}

/// The namespace and name of a Service.
pub type ServiceKey = (String, String);

/// The ports of a Service, or none when kube-proxy skips it (no ClusterIP,
/// headless, ExternalName, not IPv4).
pub fn service_ports(svc: &Service) -> Vec<ServicePortInfo> {
    let Some(spec) = svc.spec.as_ref() else {
        return Vec::new();
    };
    if spec.type_.as_deref() == Some("ExternalName") {
        return Vec::new();
    }
    let Some(cluster_ip) = spec
        .cluster_ip
        .as_deref()
        .filter(|ip| !ip.is_empty() && *ip != "None")
        .and_then(|ip| ip.parse::<Ipv4Addr>().ok())
    else {
        return Vec::new();
    };
    let namespace = svc.metadata.namespace.clone().unwrap_or_default();
    let name = svc.metadata.name.clone().unwrap_or_default();
    let type_ = spec.type_.as_deref().unwrap_or("ClusterIP");
    let is_lb = type_ == "LoadBalancer";
    let external_ips: Vec<Ipv4Addr> = spec
        .external_ips
        .iter()
        .flatten()
        .filter_map(|ip| ip.parse().ok())
        .collect();
    let externally_accessible =
        is_lb || type_ == "NodePort" || (type_ == "ClusterIP" && !external_ips.is_empty());
    let external_policy_local =
        externally_accessible && spec.external_traffic_policy.as_deref() == Some("Local");
    let internal_policy_local = spec.internal_traffic_policy.as_deref() == Some("Local");
    let affinity_timeout = (spec.session_affinity.as_deref() == Some("ClientIP")).then(|| {
        spec.session_affinity_config
            .as_ref()
            .and_then(|c| c.client_ip.as_ref())
            .and_then(|c| c.timeout_seconds)
            .and_then(|t| u32::try_from(t).ok())
            .unwrap_or(DEFAULT_AFFINITY_TIMEOUT_SECONDS)
    });
    let mut load_balancer_vips = Vec::new();
    let mut load_balancer_source_ranges = Vec::new();
    if is_lb {
        let ingress = svc
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref());
        for ing in ingress.into_iter().flatten() {
            if ing.ip_mode.as_deref().is_some_and(|m| m != "VIP") {
                continue;
            }
            if let Some(ip) = ing.ip.as_deref().and_then(|ip| ip.parse().ok()) {
                load_balancer_vips.push(ip);
            }
        }
        load_balancer_source_ranges = spec
            .load_balancer_source_ranges
            .iter()
            .flatten()
            .filter_map(|r| Cidr::parse_net_or_host(r))
            .collect();
    }
    let health_check_node_port = if is_lb && external_policy_local {
        spec.health_check_node_port
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(0)
    } else {
        0
    };
    let mut out = Vec::new();
    for port in spec.ports.iter().flatten() {
        let Some(protocol) = Protocol::parse(port.protocol.as_deref().unwrap_or("TCP")) else {
            continue;
        };
        let Ok(number) = u16::try_from(port.port) else {
            continue;
        };
        out.push(ServicePortInfo {
            name: ServicePortName {
                namespace: namespace.clone(),
                name: name.clone(),
                port: port.name.clone().unwrap_or_default(),
                protocol,
            },
            cluster_ip,
            port: number,
            node_port: port
                .node_port
                .and_then(|p| u16::try_from(p).ok())
                .unwrap_or(0),
            external_ips: external_ips.clone(),
            load_balancer_vips: load_balancer_vips.clone(),
            load_balancer_source_ranges: load_balancer_source_ranges.clone(),
            health_check_node_port,
            affinity_timeout,
            external_policy_local,
            internal_policy_local,
        });
    }
    out
}

/// The Service an EndpointSlice belongs to, by its `kubernetes.io/service-name` label.
pub fn slice_service(slice: &EndpointSlice) -> Option<ServiceKey> {
    let service = slice.metadata.labels.as_ref()?.get(SERVICE_NAME_LABEL)?;
    Some((
        slice.metadata.namespace.clone().unwrap_or_default(),
        service.clone(),
    ))
}

/// The endpoints one slice contributes, per service port, for a proxier on `node_name`.
pub fn slice_endpoints(slice: &EndpointSlice, node_name: &str) -> Vec<(ServicePortName, Endpoint)> {
    let Some((namespace, service)) = slice_service(slice) else {
        return Vec::new();
    };
    if slice.address_type != "IPv4" {
        return Vec::new();
    }
    let mut out = Vec::new();
    for port in slice.ports.iter().flatten() {
        let (Some(number), Some(protocol)) = (port.port, port.protocol.as_deref()) else {
            continue;
        };
        let (Ok(number), Some(protocol)) = (u16::try_from(number), Protocol::parse(protocol))
        else {
            continue;
        };
        let spn = ServicePortName {
            namespace: namespace.clone(),
            name: service.clone(),
            port: port.name.clone().unwrap_or_default(),
            protocol,
        };
        for ep in slice.endpoints.iter().flatten() {
            let Some(ip) = ep
                .addresses
                .first()
                .and_then(|a| a.parse::<Ipv4Addr>().ok())
            else {
                continue;
            };
            let cond = ep.conditions.as_ref();
            let ready = cond.and_then(|c| c.ready).unwrap_or(true);
            let serving = cond.and_then(|c| c.serving).unwrap_or(ready);
            let terminating = cond.and_then(|c| c.terminating).unwrap_or(false);
            let zone_hints = ep
                .hints
                .as_ref()
                .and_then(|h| h.for_zones.as_ref())
                .map(|z| z.iter().map(|z| z.name.clone()).collect())
                .unwrap_or_default();
            out.push((
                spn.clone(),
                Endpoint {
                    ip,
                    port: number,
                    ready,
                    serving,
                    terminating,
                    is_local: ep.node_name.as_deref() == Some(node_name),
                    node_name: ep.node_name.clone(),
                    zone: ep.zone.clone(),
                    zone_hints,
                },
            ));
        }
    }
    out
}

/// Everything a proxier knows, kept up to date object by object so that a
/// change to one Service touches only that Service's entries.
#[derive(Clone, Debug, Default)]
pub struct ProxyState {
    node_name: String,
    /// Service ports by name, in name order (deterministic output).
    pub services: BTreeMap<ServicePortName, ServicePortInfo>,
    /// Endpoints by service port, sorted by `ip:port` as upstream does.
    pub endpoints: BTreeMap<ServicePortName, Vec<Endpoint>>,
    ports_of: BTreeMap<ServiceKey, Vec<ServicePortName>>,
    slices: BTreeMap<ServiceKey, BTreeMap<String, Vec<(ServicePortName, Endpoint)>>>,
    endpoint_ports_of: BTreeMap<ServiceKey, Vec<ServicePortName>>,
}

impl ProxyState {
    pub fn new(node_name: &str) -> ProxyState {
        ProxyState {
            node_name: node_name.to_string(),
            ..ProxyState::default()
        }
    }

    /// A state from full lists of Services and EndpointSlices.
    pub fn from_objects(
        node_name: &str,
        services: &[Service],
        slices: &[EndpointSlice],
    ) -> ProxyState {
        let mut state = ProxyState::new(node_name);
        for svc in services {
            state.apply_service(svc);
        }
        for slice in slices {
            state.apply_slice(slice);
        }
        state
    }

    pub fn node_name(&self) -> &str {
        &self.node_name
    }

    /// Adds or replaces a Service; returns its key.
    pub fn apply_service(&mut self, svc: &Service) -> ServiceKey {
        let key = (
            svc.metadata.namespace.clone().unwrap_or_default(),
            svc.metadata.name.clone().unwrap_or_default(),
        );
        self.remove_service_ports(&key);
        let ports = service_ports(svc);
        let names = ports.iter().map(|p| p.name.clone()).collect();
        for port in ports {
            self.services.insert(port.name.clone(), port);
        }
        self.ports_of.insert(key.clone(), names);
        key
    }

    /// Forgets a Service (its slices stay until they are deleted, as upstream).
    pub fn delete_service(&mut self, namespace: &str, name: &str) -> ServiceKey {
        let key = (namespace.to_string(), name.to_string());
        self.remove_service_ports(&key);
        key
    }

    fn remove_service_ports(&mut self, key: &ServiceKey) {
        for name in self.ports_of.remove(key).unwrap_or_default() {
            self.services.remove(&name);
        }
    }

    /// Adds or replaces an EndpointSlice; returns the Service it belongs to.
    pub fn apply_slice(&mut self, slice: &EndpointSlice) -> Option<ServiceKey> {
        let key = slice_service(slice)?;
        let entries = slice_endpoints(slice, &self.node_name);
        let slice_name = slice.metadata.name.clone().unwrap_or_default();
        self.slices
            .entry(key.clone())
            .or_default()
            .insert(slice_name, entries);
        self.rebuild_endpoints(&key);
        Some(key)
    }

    /// Forgets an EndpointSlice; returns the Service it belonged to.
    pub fn delete_slice(&mut self, slice: &EndpointSlice) -> Option<ServiceKey> {
        let key = slice_service(slice)?;
        let slice_name = slice.metadata.name.clone().unwrap_or_default();
        if let Some(slices) = self.slices.get_mut(&key) {
            slices.remove(&slice_name);
            if slices.is_empty() {
                self.slices.remove(&key);
            }
        }
        self.rebuild_endpoints(&key);
        Some(key)
    }

    fn rebuild_endpoints(&mut self, key: &ServiceKey) {
        for name in self.endpoint_ports_of.remove(key).unwrap_or_default() {
            self.endpoints.remove(&name);
        }
        let Some(slices) = self.slices.get(key) else {
            return;
        };
        // Deduplicate by ip:port; a local copy wins, as upstream.
        let mut merged: BTreeMap<ServicePortName, BTreeMap<String, Endpoint>> = BTreeMap::new();
        for entries in slices.values() {
            for (spn, ep) in entries {
                let set = merged.entry(spn.clone()).or_default();
                let addr = ep.addr();
                if ep.is_local || !set.contains_key(&addr) {
                    set.insert(addr, ep.clone());
                }
            }
        }
        let mut names = Vec::new();
        for (spn, set) in merged {
            names.push(spn.clone());
            // BTreeMap by "ip:port" string: upstream's byEndpoint order.
            self.endpoints.insert(spn, set.into_values().collect());
        }
        self.endpoint_ports_of.insert(key.clone(), names);
    }

    /// The endpoints of one service port (empty when none).
    pub fn endpoints_of(&self, name: &ServicePortName) -> &[Endpoint] {
        self.endpoints.get(name).map(Vec::as_slice).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::*;

    #[test]
    fn service_port_name_prints_as_upstream() {
        let mut spn = ServicePortName {
            namespace: "default".into(),
            name: "backend".into(),
            port: "http".into(),
            protocol: Protocol::Tcp,
        };
        assert_eq!(spn.to_string(), "default/backend:http");
        spn.port.clear();
        assert_eq!(spn.to_string(), "default/backend");
    }

    #[test]
    fn headless_and_external_name_services_are_skipped() {
        let mut headless = service("default", "h", "None", &[("", 80, "TCP")]);
        assert!(service_ports(&headless).is_empty());
        headless.spec.as_mut().unwrap().cluster_ip = None;
        assert!(service_ports(&headless).is_empty());
        let mut ext = service("default", "e", "", &[]);
        ext.spec.as_mut().unwrap().type_ = Some("ExternalName".into());
        assert!(service_ports(&ext).is_empty());
    }

    #[test]
    fn service_fields_are_read() {
        let mut svc = service("default", "web", "10.152.183.20", &[("http", 80, "TCP")]);
        {
            let spec = svc.spec.as_mut().unwrap();
            spec.type_ = Some("NodePort".into());
            spec.ports.as_mut().unwrap()[0].node_port = Some(30080);
            spec.external_traffic_policy = Some("Local".into());
            spec.session_affinity = Some("ClientIP".into());
        }
        let ports = service_ports(&svc);
        assert_eq!(ports.len(), 1);
        let p = &ports[0];
        assert_eq!(p.node_port, 30080);
        assert!(p.external_policy_local);
        assert!(!p.internal_policy_local);
        assert_eq!(p.affinity_timeout, Some(10800));
        assert!(p.uses_local_endpoints());
        assert!(p.uses_cluster_endpoints());
    }

    #[test]
    fn slices_join_by_label_resolve_ports_and_sort() {
        let svc = service("default", "backend", "10.152.183.5", &[("http", 80, "TCP")]);
        let a = slice(
            "default",
            "backend",
            "backend-a",
            &[("http", 8080, "TCP")],
            &[ep("10.1.1.6", "node2", true), ep("10.1.1.5", "node1", true)],
        );
        let b = slice(
            "default",
            "backend",
            "backend-b",
            &[("http", 8080, "TCP")],
            &[ep("10.1.1.10", "node1", false)],
        );
        let state = ProxyState::from_objects("node1", &[svc], &[a, b.clone()]);
        let spn = state.services.keys().next().unwrap().clone();
        let eps = state.endpoints_of(&spn);
        let addrs: Vec<String> = eps.iter().map(Endpoint::addr).collect();
        assert_eq!(addrs, ["10.1.1.10:8080", "10.1.1.5:8080", "10.1.1.6:8080"]);
        assert!(!eps[0].ready && eps[0].is_local);
        assert!(eps[1].is_local && !eps[2].is_local);

        let mut state = state;
        state.delete_slice(&b);
        assert_eq!(state.endpoints_of(&spn).len(), 2);
    }
}
