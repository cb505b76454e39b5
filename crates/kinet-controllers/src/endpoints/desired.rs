//! What a Service's endpoints should be, from the Service and its pods (and their
//! nodes' zones): pure functions, as upstream's endpoints controller
//! (`pkg/controller/endpoint`) and `staging/src/k8s.io/endpointslice/utils.go`
//! compute them.

use kinet_model::json::{arr_at, at, int_at, obj_at, str_at};
use kinet_model::pod::{is_finished, is_ready, is_terminating};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

pub const LAST_CHANGE_TRIGGER_TIME: &str = "endpoints.kubernetes.io/last-change-trigger-time";
pub const OVER_CAPACITY: &str = "endpoints.kubernetes.io/over-capacity";
pub const HEADLESS: &str = "service.kubernetes.io/headless";
pub const SERVICE_NAME: &str = "kubernetes.io/service-name";
pub const MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
pub const CONTROLLER_NAME: &str = "endpointslice-controller.k8s.io";
pub const SKIP_MIRROR: &str = "endpointslice.kubernetes.io/skip-mirror";
pub const ZONE: &str = "topology.kubernetes.io/zone";
/// Upstream's `--max-endpoints-per-slice` default.
pub const MAX_ENDPOINTS_PER_SLICE: usize = 100;
/// Addresses an Endpoints object keeps at most (then it is truncated).
pub const MAX_ENDPOINTS: usize = 1000;

/// A Service's selector; None when it has none (its endpoints are the user's).
pub fn selector(svc: &Value) -> Option<BTreeMap<String, String>> {
    let m = obj_at(svc, "/spec/selector")?;
    if m.is_empty() {
        return None;
    }
    Some(
        m.iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect(),
    )
}

/// Every pair of `sel` is among `labels` (`labels.Set(selector).AsSelector()`).
pub fn selects(sel: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    sel.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The controllers make this Service's endpoints: it has a selector and is no ExternalName.
pub fn managed(svc: &Value) -> bool {
    str_at(svc, "/spec/type") != "ExternalName" && selector(svc).is_some()
}

/// The Service has a cluster IP (`helper.IsServiceIPSet`): not headless.
pub fn ip_set(svc: &Value) -> bool {
    !matches!(str_at(svc, "/spec/clusterIP"), "" | "None")
}

/// The pod's (IPv4) address.
pub fn pod_ip(pod: &Value) -> &str {
    let ip = str_at(pod, "/status/podIP");
    if !ip.is_empty() {
        return ip;
    }
    arr_at(pod, "/status/podIPs")
        .first()
        .map(|p| str_at(p, "/ip"))
        .unwrap_or_default()
}

/// `ShouldPodBeInEndpoints`: not finished, has an IP, and not being deleted unless
/// `include_terminating`.
pub fn should_be_in_endpoints(pod: &Value, include_terminating: bool) -> bool {
    !is_finished(pod) && !pod_ip(pod).is_empty() && (include_terminating || !is_terminating(pod))
}

fn protocol(port: &Value) -> &str {
    match str_at(port, "/protocol") {
        "" => "TCP",
        p => p,
    }
}

/// `podutil.FindPort`: the pod's port a Service port's targetPort names (a number
/// as it is; a name looked up among the containers' ports of the same protocol,
/// sidecar init containers included). None when the pod has no such port.
pub fn find_port(pod: &Value, svc_port: &Value) -> Option<i64> {
    match at(svc_port, "/targetPort") {
        Some(Value::String(name)) => {
            let sidecars = arr_at(pod, "/spec/initContainers")
                .iter()
                .filter(|c| str_at(c, "/restartPolicy") == "Always");
            arr_at(pod, "/spec/containers")
                .iter()
                .chain(sidecars)
                .flat_map(|c| arr_at(c, "/ports"))
                .find(|p| str_at(p, "/name") == name && protocol(p) == protocol(svc_port))
                .and_then(|p| int_at(p, "/containerPort"))
        }
        Some(Value::Number(n)) => n.as_i64(),
        // defaulted to the port itself
        _ => int_at(svc_port, "/port"),
    }
}

fn target_ref(pod: &Value) -> Value {
    json!({"kind": "Pod", "namespace": str_at(pod, "/metadata/namespace"),
           "name": str_at(pod, "/metadata/name"), "uid": str_at(pod, "/metadata/uid")})
}

/// `ShouldSetHostname`: the pod's hostname, when its subdomain is the Service.
fn hostname<'a>(pod: &'a Value, svc: &Value) -> Option<&'a str> {
    let h = str_at(pod, "/spec/hostname");
    (!h.is_empty()
        && str_at(pod, "/spec/subdomain") == str_at(svc, "/metadata/name")
        && str_at(pod, "/metadata/namespace") == str_at(svc, "/metadata/namespace"))
    .then_some(h)
}

fn ip_order(ip: &str) -> (Option<Ipv4Addr>, &str) {
    (ip.parse().ok(), ip)
}

/// An Endpoints port for a Service port and the pod's resolved number.
fn endpoints_port(svc_port: &Value, number: i64) -> Value {
    let mut p = Map::new();
    let name = str_at(svc_port, "/name");
    if !name.is_empty() {
        p.insert("name".into(), json!(name));
    }
    p.insert("port".into(), json!(number));
    p.insert("protocol".into(), json!(protocol(svc_port)));
    if let Some(a) = at(svc_port, "/appProtocol") {
        p.insert("appProtocol".into(), a.clone());
    }
    Value::Object(p)
}

/// The Endpoints address of a pod.
fn endpoints_address(pod: &Value, svc: &Value) -> Value {
    let mut a = Map::new();
    a.insert("ip".into(), json!(pod_ip(pod)));
    if let Some(h) = hostname(pod, svc) {
        a.insert("hostname".into(), json!(h));
    }
    let node = str_at(pod, "/spec/nodeName");
    if !node.is_empty() {
        a.insert("nodeName".into(), json!(node));
    }
    a.insert("targetRef".into(), target_ref(pod));
    Value::Object(a)
}

/// Addresses by (IP, pod uid), each with whether it is ready.
type AddressSet = BTreeMap<(Option<Ipv4Addr>, String, String), (Value, bool)>;
/// One subset in the making: its addresses' key, ready ones, not-ready ones, ports.
type Group = (String, Vec<Value>, Vec<Value>, Vec<Value>);

/// The Endpoints subsets of a Service over the pods its selector picked, repacked
/// as `endpoints.RepackSubsets` does: the ports that the same addresses offer share
/// one subset; an address ready for a port is not also listed not-ready for it.
/// Addresses are sorted by IP; ports keep the Service's order.
pub fn subsets(svc: &Value, pods: &[&Value]) -> Vec<Value> {
    let tolerate_unready = at(svc, "/spec/publishNotReadyAddresses") == Some(&json!(true));
    let svc_ports = arr_at(svc, "/spec/ports");
    // each port (in order of first sight) → address key → (address, ready)
    let mut ports: Vec<(Option<Value>, AddressSet)> = vec![];
    let mut add = |port: Option<Value>, addr: &Value, ready: bool| {
        let i = match ports.iter().position(|(p, _)| *p == port) {
            Some(i) => i,
            None => {
                ports.push((port, BTreeMap::new()));
                ports.len() - 1
            }
        };
        let ip = str_at(addr, "/ip");
        let key = (
            ip_order(ip).0,
            ip.to_string(),
            str_at(addr, "/targetRef/uid").to_string(),
        );
        let e = ports[i].1.entry(key).or_insert((addr.clone(), ready));
        e.1 |= ready;
    };
    for pod in pods {
        if !should_be_in_endpoints(pod, tolerate_unready) {
            continue;
        }
        let addr = endpoints_address(pod, svc);
        let ready = tolerate_unready || is_ready(pod);
        if svc_ports.is_empty() {
            // headless without ports: the addresses alone
            if str_at(svc, "/spec/clusterIP") == "None" {
                add(None, &addr, ready);
            }
            continue;
        }
        for sp in svc_ports {
            if let Some(n) = find_port(pod, sp) {
                add(Some(endpoints_port(sp, n)), &addr, ready);
            }
        }
    }
    // the same addresses (and readiness): one subset with all their ports
    let mut groups: Vec<Group> = vec![];
    for (port, addrs) in ports {
        let key = addrs
            .iter()
            .map(|((_, ip, uid), (_, r))| format!("{ip}/{uid}/{r}"))
            .collect::<Vec<_>>()
            .join(",");
        let i = match groups.iter().position(|g| g.0 == key) {
            Some(i) => i,
            None => {
                let ready = addrs
                    .values()
                    .filter(|a| a.1)
                    .map(|a| a.0.clone())
                    .collect();
                let unready = addrs
                    .values()
                    .filter(|a| !a.1)
                    .map(|a| a.0.clone())
                    .collect();
                groups.push((key, ready, unready, vec![]));
                groups.len() - 1
            }
        };
        groups[i].3.extend(port);
    }
    groups
        .into_iter()
        .map(|(_, ready, unready, ports)| {
            let mut s = Map::new();
            if !ready.is_empty() {
                s.insert("addresses".into(), Value::Array(ready));
            }
            if !unready.is_empty() {
                s.insert("notReadyAddresses".into(), Value::Array(unready));
            }
            if !ports.is_empty() {
                s.insert("ports".into(), Value::Array(ports));
            }
            Value::Object(s)
        })
        .collect()
}

/// Subsets as compared: targetRefs' resourceVersions do not count.
fn comparable(subsets: &[Value]) -> Vec<Value> {
    let mut s = subsets.to_vec();
    for sub in &mut s {
        for list in ["addresses", "notReadyAddresses"] {
            if let Some(Value::Array(addrs)) = sub.get_mut(list) {
                for a in addrs {
                    if let Some(Value::Object(t)) = a.get_mut("targetRef") {
                        t.remove("resourceVersion");
                    }
                }
            }
        }
    }
    s
}

fn labels(obj: &Value) -> BTreeMap<String, String> {
    kinet_model::selector::labels_of(obj)
}

/// Truncates the subsets to [`MAX_ENDPOINTS`] addresses, ready ones first, as
/// upstream's `truncateEndpoints`; true if any were dropped.
fn truncate(subsets: &mut [Value]) -> bool {
    let count = |s: &Value, k: &str| arr_at(s, &format!("/{k}")).len();
    let total: usize = subsets
        .iter()
        .map(|s| count(s, "addresses") + count(s, "notReadyAddresses"))
        .sum();
    if total <= MAX_ENDPOINTS {
        return false;
    }
    let ready: usize = subsets.iter().map(|s| count(s, "addresses")).sum();
    let (mut keep_ready, mut keep_unready) = if ready >= MAX_ENDPOINTS {
        (MAX_ENDPOINTS, 0)
    } else {
        (ready, MAX_ENDPOINTS - ready)
    };
    for s in subsets.iter_mut() {
        for (k, budget) in [
            ("addresses", &mut keep_ready),
            ("notReadyAddresses", &mut keep_unready),
        ] {
            if let Some(Value::Array(a)) = s.get_mut(k) {
                let n = a.len().min(*budget);
                a.truncate(n);
                *budget -= n;
            }
            if arr_at(s, &format!("/{k}")).is_empty()
                && let Value::Object(o) = s
            {
                o.remove(k);
            }
        }
    }
    true
}

/// The Endpoints object to write for `svc` (its current one, or a new one), or
/// None when the current one is already right. `trigger` is the
/// last-change-trigger-time (none clears it).
pub fn endpoints_object(
    svc: &Value,
    current: Option<&Value>,
    subsets: Vec<Value>,
    trigger: Option<&str>,
) -> Option<Value> {
    let mut subsets = subsets;
    let truncated = truncate(&mut subsets);
    let svc_labels = labels(svc);
    if let Some(cur) = current {
        let mut cur_labels = labels(cur);
        cur_labels.remove(HEADLESS);
        let over = obj_at(cur, "/metadata/annotations").and_then(|a| a.get(OVER_CAPACITY));
        let capacity_right = (over == Some(&json!("truncated"))) == truncated;
        if comparable(arr_at(cur, "/subsets")) == comparable(&subsets)
            && cur_labels == svc_labels
            && capacity_right
        {
            return None;
        }
    }
    let mut ep = match current {
        Some(c) => c.clone(),
        None => json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {
            "name": str_at(svc, "/metadata/name"), "namespace": str_at(svc, "/metadata/namespace")}}),
    };
    let mut annotations: Map<String, Value> = obj_at(&ep, "/metadata/annotations")
        .cloned()
        .unwrap_or_default();
    match trigger {
        Some(t) => annotations.insert(LAST_CHANGE_TRIGGER_TIME.into(), json!(t)),
        None => annotations.remove(LAST_CHANGE_TRIGGER_TIME),
    };
    if truncated {
        annotations.insert(OVER_CAPACITY.into(), json!("truncated"));
    } else {
        annotations.remove(OVER_CAPACITY);
    }
    let mut l: Map<String, Value> = svc_labels.into_iter().map(|(k, v)| (k, json!(v))).collect();
    if !ip_set(svc) {
        l.insert(HEADLESS.into(), json!(""));
    }
    let meta = &mut ep["metadata"];
    set_or_remove(meta, "labels", l);
    set_or_remove(meta, "annotations", annotations);
    if subsets.is_empty() {
        if let Value::Object(o) = &mut ep {
            o.remove("subsets");
        }
    } else {
        ep["subsets"] = Value::Array(subsets);
    }
    Some(ep)
}

fn set_or_remove(meta: &mut Value, key: &str, m: Map<String, Value>) {
    if let Value::Object(o) = meta {
        if m.is_empty() {
            o.remove(key);
        } else {
            o.insert(key.into(), Value::Object(m));
        }
    }
}

/// The EndpointSlice ports of a Service for one pod (those it resolves), as
/// `getEndpointPorts`: each with its name (`""` when unnamed), port and protocol.
pub fn slice_ports(svc: &Value, pod: &Value) -> Vec<Value> {
    arr_at(svc, "/spec/ports")
        .iter()
        .filter_map(|sp| {
            let n = find_port(pod, sp)?;
            let mut p = Map::new();
            p.insert("name".into(), json!(str_at(sp, "/name")));
            p.insert("port".into(), json!(n));
            p.insert("protocol".into(), json!(protocol(sp)));
            if let Some(a) = at(sp, "/appProtocol") {
                p.insert("appProtocol".into(), a.clone());
            }
            Some(Value::Object(p))
        })
        .collect()
}

/// The EndpointSlice endpoint of a pod (`podToEndpoint`): ready only when serving
/// and not terminating (or publishNotReadyAddresses), the node's zone if it has one.
pub fn slice_endpoint(pod: &Value, zone: Option<&str>, svc: &Value) -> Value {
    let serving = is_ready(pod);
    let terminating = is_terminating(pod);
    let ready = at(svc, "/spec/publishNotReadyAddresses") == Some(&json!(true))
        || (serving && !terminating);
    let mut e = Map::new();
    e.insert("addresses".into(), json!([pod_ip(pod)]));
    e.insert(
        "conditions".into(),
        json!({"ready": ready, "serving": serving, "terminating": terminating}),
    );
    if let Some(h) = hostname(pod, svc) {
        e.insert("hostname".into(), json!(h));
    }
    e.insert("targetRef".into(), target_ref(pod));
    let node = str_at(pod, "/spec/nodeName");
    if !node.is_empty() {
        e.insert("nodeName".into(), json!(node));
    }
    if let Some(z) = zone.filter(|z| !z.is_empty()) {
        e.insert("zone".into(), json!(z));
    }
    Value::Object(e)
}

/// Upstream's `TriggerTimeTracker`: the time of the earliest change a sync
/// reflects: the Service's creation the first time, then the least Ready
/// transition among pods whose transition is newer than at the last sync (none
/// for a sync nothing triggered). Times have seconds only: a Ready condition
/// that flips within the second it was set counts as a change too (upstream
/// compares the times alone, and would miss it).
#[derive(Debug, Default)]
pub struct TriggerTracker {
    services: HashMap<(String, String), ServiceState>,
}

#[derive(Debug, Default)]
struct ServiceState {
    pods: HashMap<String, String>,
    created: String,
}

impl TriggerTracker {
    pub fn compute(&mut self, svc: &Value, pods: &[&Value]) -> Option<String> {
        let key = (
            str_at(svc, "/metadata/namespace").to_string(),
            str_at(svc, "/metadata/name").to_string(),
        );
        let created = str_at(svc, "/metadata/creationTimestamp").to_string();
        let mut now = ServiceState {
            pods: HashMap::new(),
            created: created.clone(),
        };
        let old = self.services.remove(&key);
        let mut min: Option<String> = None;
        let mut changed = |t: &str| {
            if min.as_deref().is_none_or(|m| t < m) {
                min = Some(t.to_string());
            }
        };
        for pod in pods {
            let ready = arr_at(pod, "/status/conditions")
                .iter()
                .find(|c| c["type"] == "Ready");
            let t = ready
                .map(|c| str_at(c, "/lastTransitionTime"))
                .unwrap_or_default();
            if t.is_empty() {
                continue;
            }
            let status = ready.map(|c| str_at(c, "/status")).unwrap_or_default();
            let name = str_at(pod, "/metadata/name").to_string();
            let seen = format!("{t} {status}");
            let before = old.as_ref().and_then(|o| o.pods.get(&name));
            if before.is_none_or(|b| *b != seen) {
                changed(t);
            }
            now.pods.insert(name, seen);
        }
        if old.as_ref().is_some_and(|o| created > o.created) {
            changed(&created);
        }
        let known = old.is_some();
        self.services.insert(key, now);
        if !known {
            return (!created.is_empty()).then_some(created);
        }
        min
    }

    pub fn forget(&mut self, ns: &str, name: &str) {
        self.services.remove(&(ns.to_string(), name.to_string()));
    }
}

/// The endpoints a Service's pods give its slices, grouped by the ports each pod
/// resolves (in order of first sight). `nodes` holds each existing node's zone
/// (`""` for none): pods on a node not there are left out, as upstream does.
pub fn slice_groups(
    svc: &Value,
    pods: &[&Value],
    nodes: &BTreeMap<String, String>,
) -> Vec<(Vec<Value>, Vec<Value>)> {
    let mut groups: Vec<(Vec<Value>, Vec<Value>)> = vec![];
    for pod in pods {
        if !should_be_in_endpoints(pod, true) {
            continue;
        }
        let node = str_at(pod, "/spec/nodeName");
        let Some(zone) = nodes.get(node) else {
            continue;
        };
        let ports = slice_ports(svc, pod);
        let e = slice_endpoint(pod, Some(zone), svc);
        match groups.iter_mut().find(|g| g.0 == ports) {
            Some(g) => g.1.push(e),
            None => groups.push((ports, vec![e])),
        }
    }
    groups
}
