//! calico-node's policy loop: NetworkPolicies, Pods, Namespaces and Nodes
//! watched through kube-rs; once every watch has its initial list, the model is
//! compiled, this node's ruleset rendered and applied in one `nft` transaction
//! whenever its text changes (and again every resync, in case someone flushed it).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Resource, ResourceExt};

use super::compile::{Compiled, compile};
use super::{NsInfo, PodInfo, Policy, nft};
use crate::apply::Target;
use crate::{error, info, warning};

const PID: u32 = 1;

/// One kind's objects, as a watcher's events leave them (kube-runtime's
/// Init/InitApply/InitDone relist semantics).
struct Cache<K> {
    items: BTreeMap<String, K>,
    listing: Option<BTreeMap<String, K>>,
    synced: bool,
}

impl<K: Resource + Clone> Cache<K> {
    fn new() -> Self {
        Cache {
            items: BTreeMap::new(),
            listing: None,
            synced: false,
        }
    }

    fn key(k: &K) -> String {
        format!("{}/{}", k.namespace().unwrap_or_default(), k.name_any())
    }

    /// Applies one event; true when the set changed.
    fn apply(&mut self, ev: Event<K>) -> bool {
        match ev {
            Event::Init => {
                self.listing = Some(BTreeMap::new());
                false
            }
            Event::InitApply(k) => {
                self.listing
                    .get_or_insert_with(BTreeMap::new)
                    .insert(Self::key(&k), k);
                false
            }
            Event::InitDone => {
                self.items = self.listing.take().unwrap_or_default();
                self.synced = true;
                true
            }
            Event::Apply(k) => {
                self.items.insert(Self::key(&k), k);
                true
            }
            Event::Delete(k) => self.items.remove(&Self::key(&k)).is_some(),
        }
    }
}

fn node_ip(n: &Node) -> Option<Ipv4Addr> {
    n.status
        .as_ref()?
        .addresses
        .as_ref()?
        .iter()
        .find(|a| a.type_ == "InternalIP")?
        .address
        .parse()
        .ok()
}

/// The model of everything watched; policies that do not parse are logged and left out.
fn model(
    policies: &Cache<NetworkPolicy>,
    pods: &Cache<Pod>,
    namespaces: &Cache<Namespace>,
    nodes: &Cache<Node>,
    bad: &mut BTreeMap<String, String>,
) -> (Compiled, usize) {
    let mut parsed = Vec::new();
    for (key, np) in &policies.items {
        match Policy::from_k8s(np) {
            Ok(p) => {
                bad.remove(key);
                parsed.push(p);
            }
            Err(e) => {
                if bad.get(key) != Some(&e) {
                    warning!(
                        PID,
                        "felix/calc_graph.go 412",
                        "Skipping NetworkPolicy {key} that cannot be rendered: {e}"
                    );
                    bad.insert(key.clone(), e);
                }
            }
        }
    }
    let pods: Vec<PodInfo> = pods.items.values().map(PodInfo::from_pod).collect();
    let ns: Vec<NsInfo> = namespaces
        .items
        .values()
        .map(NsInfo::from_namespace)
        .collect();
    let node_ips: BTreeMap<Ipv4Addr, String> = nodes
        .items
        .values()
        .filter_map(|n| Some((node_ip(n)?, n.name_any())))
        .collect();
    (compile(&pods, &ns, &parsed, &node_ips), parsed.len())
}

/// Runs the policy loop for `node` until a watch ends for good.
pub async fn enforce(client: Client, node: String, target: Target, resync: Duration) {
    let cfg = watcher::Config::default;
    let mut policies_w = watcher::watcher(Api::<NetworkPolicy>::all(client.clone()), cfg())
        .default_backoff()
        .boxed();
    let mut pods_w = watcher::watcher(Api::<Pod>::all(client.clone()), cfg())
        .default_backoff()
        .boxed();
    let mut ns_w = watcher::watcher(Api::<Namespace>::all(client.clone()), cfg())
        .default_backoff()
        .boxed();
    let mut nodes_w = watcher::watcher(Api::<Node>::all(client), cfg())
        .default_backoff()
        .boxed();
    let (mut policies, mut pods, mut namespaces, mut nodes) =
        (Cache::new(), Cache::new(), Cache::new(), Cache::new());
    let mut bad = BTreeMap::new();
    let mut last: Option<String> = None;
    let mut tick = tokio::time::interval(resync);
    tick.tick().await;
    let failed = |what: &str, e: &dyn std::fmt::Display| {
        warning!(
            PID,
            "felix/watchercache.go 125",
            "Failed to watch {what}, retrying error={e}"
        );
    };
    loop {
        let mut force = false;
        let dirty = tokio::select! {
            ev = policies_w.next() => match ev {
                Some(Ok(ev)) => policies.apply(ev),
                Some(Err(e)) => { failed("NetworkPolicies", &e); false }
                None => return,
            },
            ev = pods_w.next() => match ev {
                Some(Ok(ev)) => pods.apply(ev),
                Some(Err(e)) => { failed("Pods", &e); false }
                None => return,
            },
            ev = ns_w.next() => match ev {
                Some(Ok(ev)) => namespaces.apply(ev),
                Some(Err(e)) => { failed("Namespaces", &e); false }
                None => return,
            },
            ev = nodes_w.next() => match ev {
                Some(Ok(ev)) => nodes.apply(ev),
                Some(Err(e)) => { failed("Nodes", &e); false }
                None => return,
            },
            _ = tick.tick() => { force = true; true }
        };
        let synced = policies.synced && pods.synced && namespaces.synced && nodes.synced;
        if !dirty || !synced {
            continue;
        }
        let (compiled, count) = model(&policies, &pods, &namespaces, &nodes, &mut bad);
        let text = nft::transaction(&compiled, &node);
        if !force && last.as_deref() == Some(text.as_str()) {
            continue;
        }
        let t = target.clone();
        let applied = text.clone();
        let result = tokio::task::spawn_blocking(move || t.nft(&applied)).await;
        match result {
            Ok(Ok(())) => {
                if last.as_deref() != Some(text.as_str()) {
                    let isolated: Vec<String> = compiled
                        .pods
                        .values()
                        .filter(|p| p.node == node && (p.ingress.is_some() || p.egress.is_some()))
                        .map(|p| p.key())
                        .collect();
                    info!(
                        PID,
                        "felix/int_dataplane.go 1820",
                        "Programmed NetworkPolicy: {count} policies, {} isolated pods on this node{}",
                        isolated.len(),
                        if isolated.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", isolated.join(", "))
                        }
                    );
                }
                last = Some(text);
            }
            Ok(Err(e)) => error!(
                PID,
                "felix/int_dataplane.go 1946",
                "Failed to apply the policy ruleset, will retry error={e:#}"
            ),
            Err(e) => error!(PID, "felix/int_dataplane.go 1946", "{e}"),
        }
    }
}
