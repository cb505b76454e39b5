//! The two Calico processes, as kinet runs them in pods:
//! `kinet calico node` (calico-node, DaemonSet kube-system/calico-node, hostNetwork)
//! and `kinet calico controllers` (calico-kube-controllers, a Deployment). Both talk
//! to the API through kube-rs only (in-cluster config: KUBERNETES_SERVICE_HOST/PORT
//! and the service-account token at the standard path).

use crate::apply::Target;
use crate::cni;
use crate::health::{self, Health};
use crate::plan::{self, NodeInfo, NodeRoute};
use crate::{error, info, warning};
use anyhow::{Context, Result};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

/// How often calico-node re-applies everything even without a change.
pub const RESYNC: Duration = Duration::from_secs(30);
/// The pid calico's log lines show (the process is its container's first).
const PID: u32 = 1;

/// Options of `kinet calico node`.
#[derive(Debug, Clone, Default)]
pub struct NodeOptions {
    /// This node's name (default: $NODENAME, then the hostname).
    pub node_name: Option<String>,
    /// Apply in this network namespace instead of our own (tests).
    pub netns: Option<PathBuf>,
    /// Health address (default 127.0.0.1, felix's FELIX_HEALTHHOST=localhost).
    pub health_host: Option<String>,
    pub health_port: Option<u16>,
}

/// Options of `kinet calico controllers`.
#[derive(Debug, Clone, Default)]
pub struct ControllersOptions {
    pub health_host: Option<String>,
    pub health_port: Option<u16>,
}

/// Runs `fut` on a fresh multi-threaded runtime (for the CLI).
pub fn block_on<F: std::future::Future<Output = Result<()>>>(fut: F) -> Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(fut)
}

async fn client() -> Result<Client> {
    let config = if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() {
        kube::Config::incluster().context("reading the in-cluster configuration")?
    } else {
        kube::Config::infer()
            .await
            .context("no in-cluster configuration and no kubeconfig")?
    };
    Client::try_from(config).context("building the API client")
}

fn node_name(opt: Option<String>) -> (String, &'static str) {
    if let Some(n) = opt.filter(|n| !n.is_empty()) {
        return (n, "command line");
    }
    if let Some(n) = std::env::var("NODENAME").ok().filter(|n| !n.is_empty()) {
        return (n, "NODENAME environment");
    }
    let h = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    (h, "hostname")
}

/// calico-node: after the initial list of Nodes, programs routes to the other nodes'
/// pod CIDRs, NAT outgoing and ip_forward; then again on every change and every 30 s.
pub async fn node(opts: NodeOptions) -> Result<()> {
    info!(PID, "startup/startup.go 432", "Early log level set to info");
    let (name, source) = node_name(opts.node_name);
    info!(
        PID,
        "startup/startup.go 376", "Using {source} for node name {name}"
    );
    info!(
        PID,
        "startup/startup.go 388", "Determined node name: {name}"
    );
    if name.is_empty() {
        anyhow::bail!("cannot determine this node's name: set NODENAME");
    }
    let target = Target {
        netns: opts.netns.clone(),
    };
    install_cni(&target, &name);
    let client = client().await?;
    info!(
        PID,
        "startup/startup.go 113", "Checking datastore connection"
    );
    let nodes_api: Api<Node> = Api::all(client.clone());
    info!(
        PID,
        "startup/startup.go 137", "Datastore connection verified"
    );
    tokio::spawn(crate::policy::run::enforce(
        client,
        name.clone(),
        target.clone(),
        RESYNC,
    ));
    let health = Health::new();
    let host = opts.health_host.unwrap_or_else(|| "127.0.0.1".into());
    let port = opts.health_port.unwrap_or(health::FELIX_HEALTH_PORT);
    let h = health.clone();
    tokio::spawn(async move {
        if let Err(e) = health::serve(h, &host, port).await {
            error!(
                PID,
                "felix/health.go 390",
                "Health endpoint failed, trying to restart it... error={e:#}"
            );
        }
    });
    info!(
        PID,
        "felix/daemon.go 1146", "Started health server on {}:{port}", "127.0.0.1"
    );

    let mut stream = watcher::watcher(nodes_api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut nodes: BTreeMap<String, NodeInfo> = BTreeMap::new();
    let mut listing: Option<BTreeMap<String, NodeInfo>> = None;
    let mut synced = false;
    let mut last: Option<Vec<NodeRoute>> = None;
    let mut tick = tokio::time::interval(RESYNC);
    tick.tick().await;
    loop {
        let mut dirty = false;
        tokio::select! {
            ev = stream.next() => match ev {
                Some(Ok(Event::Init)) => listing = Some(BTreeMap::new()),
                Some(Ok(Event::InitApply(n))) => {
                    let i = NodeInfo::from_node(&n);
                    listing.get_or_insert_with(BTreeMap::new).insert(i.name.clone(), i);
                }
                Some(Ok(Event::InitDone)) => {
                    nodes = listing.take().unwrap_or_default();
                    if !synced {
                        info!(PID, "felix/calc_graph.go 503", "Datastore now in sync.");
                    }
                    synced = true;
                    dirty = true;
                }
                Some(Ok(Event::Apply(n))) => {
                    let i = NodeInfo::from_node(&n);
                    dirty = nodes.get(&i.name) != Some(&i);
                    nodes.insert(i.name.clone(), i);
                }
                Some(Ok(Event::Delete(n))) => {
                    let name = n.metadata.name.clone().unwrap_or_default();
                    dirty = nodes.remove(&name).is_some();
                }
                Some(Err(e)) => {
                    warning!(PID, "felix/watchercache.go 125", "Failed to watch Nodes, retrying error={e}");
                }
                None => anyhow::bail!("the Node watch ended"),
            },
            _ = tick.tick() => dirty = true,
        }
        if !(dirty && synced) {
            continue;
        }
        let want = plan::routes(&nodes, &name);
        let t = target.clone();
        let w = want.clone();
        let result = tokio::task::spawn_blocking(move || sync(&t, &w)).await?;
        match result {
            Ok(changes) => {
                for r in &changes.replaced {
                    info!(PID, "felix/route_table.go 1093", "Programmed route {r}");
                }
                for r in &changes.deleted {
                    info!(
                        PID,
                        "felix/route_table.go 1120", "Removed route {r} (node gone)"
                    );
                }
                if last.is_none() {
                    info!(
                        PID,
                        "felix/table.go 1263",
                        "Programmed nat table chains cali-POSTROUTING, cali-nat-outgoing (natOutgoing for pool {})",
                        kinet_model::lab::POD_CIDR
                    );
                    info!(
                        PID,
                        "startup/startup.go 110", "Calico node started successfully"
                    );
                }
                if !health.ready() {
                    health.set_ready(true);
                    info!(
                        PID,
                        "felix/health.go 336",
                        "Overall health status changed: live=true ready=true"
                    );
                }
                last = Some(want);
            }
            Err(e) => {
                error!(
                    PID,
                    "felix/int_dataplane.go 1946",
                    "Failed to apply dataplane update, will retry error={e:#}"
                );
                if health.ready() {
                    health.set_ready(false);
                    info!(
                        PID,
                        "felix/health.go 336",
                        "Overall health status changed: live=true ready=false"
                    );
                }
            }
        }
    }
}

/// install-cni, as calico-node's init step: writes the node's CNI network config with
/// the veth MTU from `CNI_MTU` (calico-config's `veth_mtu`) into the node's
/// `/etc/cni/net.d`, mounted at `/host` + `CNI_NET_DIR`. Without that mount (the
/// directory is missing) nothing is written: the host's own directory is never made.
/// A bad MTU is logged and the config left as it was (new pods keep the old one).
fn install_cni(target: &Target, node: &str) {
    let net_dir = std::env::var("CNI_NET_DIR")
        .ok()
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "/etc/cni/net.d".into());
    let dir = PathBuf::from(format!("/host{net_dir}"));
    let setting = std::env::var("CNI_MTU").unwrap_or_default();
    let lan = target.lan_mtu().ok().flatten();
    let mtu = match cni::veth_mtu(&setting, lan) {
        Ok(m) => m,
        Err(e) => {
            error!(
                PID,
                "cni-installer/install.go 301", "Unable to determine MTU: {e}"
            );
            return;
        }
    };
    if setting.trim().is_empty() || setting.trim() == "0" {
        info!(
            PID,
            "cni-installer/install.go 279",
            "MTU auto-detected from the host's {} (encapsulation overhead {}): {mtu}",
            plan::LAN_LINK,
            cni::ENCAP_OVERHEAD
        );
    }
    if !dir.is_dir() {
        warning!(
            PID,
            "cni-installer/install.go 195",
            "{} is not mounted, not installing the CNI network config",
            dir.display()
        );
        return;
    }
    match cni::install(&dir, &cni::conflist(node, mtu)) {
        Ok(p) => {
            info!(
                PID,
                "cni-installer/install.go 476",
                "Created {} (mtu {mtu})",
                p.display()
            );
            info!(
                PID,
                "cni-installer/install.go 480", "Wrote Calico CNI config"
            );
        }
        Err(e) => error!(
            PID,
            "cni-installer/install.go 470",
            "Failed to write {}: {e}",
            dir.join(cni::CONFLIST_NAME).display()
        ),
    }
}

/// One full application: sysctls, routes, NAT.
pub fn sync(t: &Target, want: &[NodeRoute]) -> Result<crate::apply::RouteChanges> {
    t.sysctls().context("setting sysctls")?;
    let changes = t.routes(want)?;
    t.nat(kinet_model::lab::POD_CIDR)
        .context("programming NAT outgoing")?;
    Ok(changes)
}

/// calico-kube-controllers: watches Nodes and Pods; logs as upstream's node and
/// IPAM controllers do (a deleted node's IPAM is cleaned up).
pub async fn controllers(opts: ControllersOptions) -> Result<()> {
    info!(PID, "main.go 99", "Loaded configuration from environment");
    let client = client().await?;
    info!(
        PID,
        "main.go 138", "Ensuring Calico datastore is initialized"
    );
    info!(PID, "main.go 152", "Calico datastore is initialized");
    let health = Health::new();
    let host = opts.health_host.unwrap_or_else(|| "0.0.0.0".into());
    let port = opts.health_port.unwrap_or(health::KUBE_CONTROLLERS_PORT);
    info!(PID, "main.go 206", "Starting status report routine");
    info!(
        PID,
        "main.go 215", "Starting Prometheus metrics server on port {port}"
    );
    let h = health.clone();
    tokio::spawn(async move {
        if let Err(e) = health::serve(h, &host, port).await {
            error!(PID, "main.go 217", "Failed to serve health: {e:#}");
        }
    });
    let nodes_api: Api<Node> = Api::all(client.clone());
    let pods_api: Api<Pod> = Api::all(client);
    info!(
        PID,
        "main.go 494", "Starting controller ControllerType=\"Node\""
    );
    info!(PID, "controller.go 193", "Starting Node controller");
    let mut node_stream = watcher::watcher(nodes_api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut pod_stream = watcher::watcher(pods_api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut nodes: BTreeSet<String> = BTreeSet::new();
    let mut listing: BTreeSet<String> = BTreeSet::new();
    let mut pods_with_ip: BTreeMap<String, String> = BTreeMap::new();
    let (mut nodes_synced, mut pods_synced) = (false, false);
    loop {
        tokio::select! {
            ev = node_stream.next() => match ev {
                Some(Ok(Event::Init)) => listing.clear(),
                Some(Ok(Event::InitApply(n))) => {
                    listing.insert(n.metadata.name.unwrap_or_default());
                }
                Some(Ok(Event::InitDone)) => {
                    for gone in nodes.difference(&listing) {
                        info!(PID, "ipam.go 1018", "Cleaning up IPAM resources for deleted node node=\"{gone}\"");
                    }
                    nodes = std::mem::take(&mut listing);
                    if !nodes_synced {
                        info!(PID, "node_syncer.go 65", "Node controller syncer status updated: in-sync");
                        info!(PID, "controller.go 209", "Node controller is now running");
                    }
                    nodes_synced = true;
                }
                Some(Ok(Event::Apply(n))) => {
                    nodes.insert(n.metadata.name.unwrap_or_default());
                }
                Some(Ok(Event::Delete(n))) => {
                    let name = n.metadata.name.unwrap_or_default();
                    if nodes.remove(&name) {
                        info!(PID, "ipam.go 1018", "Cleaning up IPAM resources for deleted node node=\"{name}\"");
                    }
                }
                Some(Err(e)) => warning!(PID, "watchercache.go 125", "Failed to watch Nodes, retrying error={e}"),
                None => anyhow::bail!("the Node watch ended"),
            },
            ev = pod_stream.next() => match ev {
                Some(Ok(Event::Init)) => pods_with_ip.clear(),
                Some(Ok(Event::InitApply(p))) | Some(Ok(Event::Apply(p))) => {
                    track_pod(&mut pods_with_ip, &p);
                }
                Some(Ok(Event::InitDone)) => {
                    if !pods_synced {
                        info!(PID, "ipam.go 69", "Synchronizing IPAM data");
                        info!(PID, "ipam.go 78", "IPAM sync completed (allocations={})", pods_with_ip.len());
                    }
                    pods_synced = true;
                }
                Some(Ok(Event::Delete(p))) => {
                    pods_with_ip.remove(&pod_key(&p));
                }
                Some(Err(e)) => warning!(PID, "watchercache.go 125", "Failed to watch Pods, retrying error={e}"),
                None => anyhow::bail!("the Pod watch ended"),
            },
        }
        if nodes_synced && pods_synced && !health.ready() {
            health.set_ready(true);
        }
    }
}

fn pod_key(p: &Pod) -> String {
    format!(
        "{}/{}",
        p.metadata.namespace.as_deref().unwrap_or(""),
        p.metadata.name.as_deref().unwrap_or("")
    )
}

fn track_pod(m: &mut BTreeMap<String, String>, p: &Pod) {
    let host_network = p
        .spec
        .as_ref()
        .and_then(|s| s.host_network)
        .unwrap_or(false);
    let ip = p.status.as_ref().and_then(|s| s.pod_ip.clone());
    match ip {
        Some(ip) if !host_network => {
            m.insert(pod_key(p), ip);
        }
        _ => {
            m.remove(&pod_key(p));
        }
    }
}
