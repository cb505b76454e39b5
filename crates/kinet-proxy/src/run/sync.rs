//! The watchers and the sync loop (upstream's pkg/proxy/config and the
//! proxiers' `syncRunner`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Resource, ResourceExt};
use tokio::sync::mpsc;

use super::apply::{self, UdpSnapshot};
use super::config::{Mode, ProxyConfig, bind_address};
use super::health::{self, Health};
use super::klog;
use super::proxier::Proxier;
use crate::iptables::Config;
use crate::model::{ProxyState, ServiceKey};

/// Syncs allowed back to back before minSyncPeriod applies (upstream's `burstSyncs`).
const BURST_SYNCS: usize = 2;

enum Update {
    Service(Box<Event<Service>>),
    Slice(Box<Event<EndpointSlice>>),
    Node(Box<Event<Node>>),
}

/// A kind's objects as last seen, and the relist in progress.
struct Cache<K> {
    objects: BTreeMap<(String, String), K>,
    relist: Option<BTreeMap<(String, String), K>>,
    synced: bool,
}

impl<K> Default for Cache<K> {
    fn default() -> Self {
        Cache {
            objects: BTreeMap::new(),
            relist: None,
            synced: false,
        }
    }
}

enum Change<K> {
    Apply(K),
    Delete(K),
}

fn key<K: Resource>(o: &K) -> (String, String) {
    (
        o.meta().namespace.clone().unwrap_or_default(),
        o.meta().name.clone().unwrap_or_default(),
    )
}

impl<K: Resource + Clone + PartialEq> Cache<K> {
    /// The changes one watcher event makes; a relist (Init … InitDone)
    /// deletes what it no longer lists.
    fn event(&mut self, ev: Event<K>) -> Vec<Change<K>> {
        match ev {
            Event::Init => {
                self.relist = Some(BTreeMap::new());
                Vec::new()
            }
            Event::InitApply(o) => {
                self.relist.get_or_insert_default().insert(key(&o), o);
                Vec::new()
            }
            Event::InitDone => {
                let listed = self.relist.take().unwrap_or_default();
                let mut out = Vec::new();
                for (k, old) in &self.objects {
                    if !listed.contains_key(k) {
                        out.push(Change::Delete(old.clone()));
                    }
                }
                for (k, o) in &listed {
                    if self.objects.get(k) != Some(o) {
                        out.push(Change::Apply(o.clone()));
                    }
                }
                self.objects = listed;
                self.synced = true;
                out
            }
            Event::Apply(o) => {
                let k = key(&o);
                if self.objects.get(&k) == Some(&o) {
                    return Vec::new();
                }
                self.objects.insert(k, o.clone());
                vec![Change::Apply(o)]
            }
            Event::Delete(o) => {
                self.objects.remove(&key(&o));
                vec![Change::Delete(o)]
            }
        }
    }
}

fn forward<K, S>(
    what: &'static str,
    stream: S,
    tx: mpsc::UnboundedSender<Update>,
    wrap: fn(Event<K>) -> Update,
) where
    K: Send + 'static,
    S: Stream<Item = Result<Event<K>, watcher::Error>> + Send + 'static,
{
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(item) = stream.next().await {
            match item {
                Ok(ev) => {
                    if tx.send(wrap(ev)).is_err() {
                        return;
                    }
                }
                Err(e) => klog::warning(
                    "reflector.go:561",
                    "Failed to watch",
                    &[("kind", &what), ("err", &e)],
                ),
            }
        }
    });
}

/// What the proxier knows of its Node.
#[derive(Clone, Debug, Default, PartialEq)]
struct NodeInfo {
    ip: Option<Ipv4Addr>,
    labels: BTreeMap<String, String>,
}

fn node_info(node: &Node) -> NodeInfo {
    let ip = node
        .status
        .as_ref()
        .and_then(|s| s.addresses.as_ref())
        .and_then(|a| {
            a.iter()
                .filter(|a| a.type_ == "InternalIP")
                .chain(a.iter().filter(|a| a.type_ == "ExternalIP"))
                .find_map(|a| a.address.parse().ok())
        });
    NodeInfo {
        ip,
        labels: node.labels().clone(),
    }
}

fn log_synced(kind: &str) {
    klog::info(
        "shared_informer.go:320",
        &format!("Caches are synced for {kind} config"),
        &[],
    );
}

pub async fn run(cfg: ProxyConfig) -> Result<()> {
    klog::info(
        "server_linux.go:66",
        "No iptables support for family",
        &[("ipFamily", &"IPv6")],
    );
    let client = Client::try_default()
        .await
        .context("unable to create a client for the API server (in-cluster configuration)")?;
    let hostname = match &cfg.hostname_override {
        Some(h) => h.clone(),
        None => std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_lowercase())
            .unwrap_or_default(),
    };
    let nodes: Api<Node> = Api::all(client.clone());
    let mut node = NodeInfo::default();
    for attempt in 0..10 {
        match nodes.get_opt(&hostname).await {
            Ok(Some(n)) => {
                node = node_info(&n);
                if node.ip.is_some() {
                    break;
                }
            }
            Ok(None) => {}
            Err(e) if attempt == 9 => {
                klog::warning(
                    "server.go:903",
                    "Failed to retrieve node info",
                    &[("err", &e)],
                );
            }
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    match node.ip {
        Some(ip) => klog::info(
            "server.go:695",
            "Successfully retrieved node IP(s)",
            &[("IPs", &format!("[{ip}]"))],
        ),
        None => klog::error(
            "server.go:880",
            "Can't determine this node's IP, assuming loopback; if this is incorrect, please set the --bind-address flag",
            &[],
        ),
    }
    klog::info(
        "server.go:243",
        "kube-proxy running in single-stack mode",
        &[("ipFamily", &"IPv4")],
    );
    match cfg.mode {
        Mode::Nftables => klog::info("server_linux.go:170", "Using nftables Proxier", &[]),
        _ => klog::info("server_linux.go:155", "Using iptables Proxier", &[]),
    }
    if cfg.cluster_cidr.is_some() {
        klog::info("server.go:262", "Detect-local-mode set to ClusterCIDR", &[]);
    }
    // Switching modes: remove the other proxier's rules.
    let cleaned = match cfg.mode {
        Mode::Nftables => apply::cleanup_iptables(),
        _ => apply::cleanup_nftables(),
    };
    match cleaned {
        Ok(true) => klog::info(
            "server_linux.go:197",
            "Cleaned up the rules of the other proxy mode",
            &[],
        ),
        Ok(false) => {}
        Err(e) => klog::error(
            "server_linux.go:199",
            "Failed to clean up the rules of the other proxy mode",
            &[("err", &e)],
        ),
    }
    if cfg.mode == Mode::Iptables {
        // NodePorts on 127.0.0.1 (localhostNodePorts) need route_localnet.
        if let Err(e) = std::fs::write("/proc/sys/net/ipv4/conf/all/route_localnet", "1") {
            klog::warning(
                "proxier.go:246",
                "Failed to set sysctl",
                &[("sysctl", &"net/ipv4/conf/all/route_localnet"), ("err", &e)],
            );
        }
    }
    klog::info(
        "server.go:483",
        "Version info",
        &[(
            "version",
            &concat!("v", env!("CARGO_PKG_VERSION"), "+kinet"),
        )],
    );

    let health = Health::new(2 * cfg.sync_period);
    match bind_address(&cfg.healthz_bind_address, 10256) {
        Some(addr) => match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => {
                tokio::spawn(health::serve(l, health.clone(), false));
            }
            Err(e) => klog::error(
                "server.go:517",
                "Failed to start healthz server",
                &[("address", &addr), ("err", &e)],
            ),
        },
        None => klog::error(
            "server.go:517",
            "Invalid healthz bind address",
            &[("address", &cfg.healthz_bind_address)],
        ),
    }
    if let Some(addr) = bind_address(&cfg.metrics_bind_address, 10249)
        && let Ok(l) = tokio::net::TcpListener::bind(addr).await
    {
        tokio::spawn(health::serve(l, health.clone(), true));
    }

    let mut pcfg = Config::new(&hostname);
    pcfg.cluster_cidr = cfg.cluster_cidr;
    pcfg.masquerade_all = cfg.masquerade_all;
    pcfg.masquerade_bit = cfg.masquerade_bit;
    pcfg.conntrack_tcp_liberal = cfg.conntrack_tcp_be_liberal;
    pcfg.service_cidrs = vec![kinet_model::lab::SERVICE_CIDR];
    pcfg.node_ip = node.ip;
    pcfg.node_labels = node.labels.clone();
    if cfg.cluster_cidr.is_none() {
        klog::warning(
            "server.go:267",
            "Detect-local-mode set to ClusterCIDR, but no cluster CIDR defined",
            &[],
        );
    }

    let (tx, mut rx) = mpsc::unbounded_channel();
    klog::info("config.go:188", "Starting service config controller", &[]);
    klog::info(
        "shared_informer.go:313",
        "Waiting for caches to sync for service config",
        &[],
    );
    forward(
        "*v1.Service",
        watcher::watcher(
            Api::<Service>::all(client.clone()),
            watcher::Config::default().labels(
                "!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless",
            ),
        )
        .default_backoff(),
        tx.clone(),
        |ev| Update::Service(Box::new(ev)),
    );
    klog::info(
        "config.go:105",
        "Starting endpoint slice config controller",
        &[],
    );
    klog::info(
        "shared_informer.go:313",
        "Waiting for caches to sync for endpoint slice config",
        &[],
    );
    forward(
        "*v1.EndpointSlice",
        watcher::watcher(
            Api::<EndpointSlice>::all(client.clone()),
            watcher::Config::default().labels("!service.kubernetes.io/headless"),
        )
        .default_backoff(),
        tx.clone(),
        |ev| Update::Slice(Box::new(ev)),
    );
    klog::info("config.go:329", "Starting node config controller", &[]);
    klog::info(
        "shared_informer.go:313",
        "Waiting for caches to sync for node config",
        &[],
    );
    forward(
        "*v1.Node",
        watcher::watcher(
            nodes,
            watcher::Config::default().fields(&format!("metadata.name={hostname}")),
        )
        .default_backoff(),
        tx,
        |ev| Update::Node(Box::new(ev)),
    );

    let mut proxier = Proxier {
        mode: cfg.mode,
        cfg: pcfg,
        ipt: None,
        nft: None,
        nft_first: true,
        nft_stale: Vec::new(),
        udp: UdpSnapshot::default(),
    };
    let mut state = ProxyState::new(&hostname);
    let mut services: Cache<Service> = Cache::default();
    let mut slices: Cache<EndpointSlice> = Cache::default();
    let mut node_cache: Cache<Node> = Cache::default();
    let mut changed: BTreeSet<ServiceKey> = BTreeSet::new();
    let mut need_full = true;
    let mut dirty = false;
    let mut first = true;
    // upstream's BoundedFrequencyRunner: at most BURST_SYNCS syncs within any
    // minSyncPeriod, so a Service and its EndpointSlice, arriving a few ms
    // apart, are both programmed at once rather than a period later
    let mut recent_syncs: std::collections::VecDeque<Instant> = Default::default();
    let mut next_full = Instant::now() + cfg.sync_period;
    let mut cleanup_at: Option<Instant> = None;
    let mut announced = false;

    loop {
        let all_synced = services.synced && slices.synced;
        let now = Instant::now();
        let mut deadline = next_full;
        if all_synced && (dirty || need_full) {
            let earliest = match recent_syncs.front() {
                Some(t) if recent_syncs.len() >= BURST_SYNCS => *t + cfg.min_sync_period,
                _ => now,
            };
            deadline = deadline.min(earliest.max(now));
        }
        if let Some(t) = cleanup_at {
            deadline = deadline.min(t);
        }
        tokio::select! {
            update = rx.recv() => {
                let Some(update) = update else { anyhow::bail!("the watchers stopped") };
                match update {
                    Update::Service(ev) => {
                        let was = services.synced;
                        for c in services.event(*ev) {
                            match c {
                                Change::Apply(s) => changed.insert(state.apply_service(&s)),
                                Change::Delete(s) => {
                                    let (ns, name) = key(&s);
                                    changed.insert(state.delete_service(&ns, &name))
                                }
                            };
                            dirty = true;
                        }
                        if !was && services.synced {
                            log_synced("service");
                        }
                    }
                    Update::Slice(ev) => {
                        let was = slices.synced;
                        for c in slices.event(*ev) {
                            let k = match c {
                                Change::Apply(s) => state.apply_slice(&s),
                                Change::Delete(s) => state.delete_slice(&s),
                            };
                            if let Some(k) = k {
                                changed.insert(k);
                                dirty = true;
                            }
                        }
                        if !was && slices.synced {
                            log_synced("endpoint slice");
                        }
                    }
                    Update::Node(ev) => {
                        let was = node_cache.synced;
                        for c in node_cache.event(*ev) {
                            if let Change::Apply(n) = c {
                                let info = node_info(&n);
                                if info.ip != proxier.cfg.node_ip || info.labels != proxier.cfg.node_labels {
                                    proxier.cfg.node_ip = info.ip.or(proxier.cfg.node_ip);
                                    proxier.cfg.node_labels = info.labels;
                                    need_full = true;
                                }
                            }
                        }
                        if !was && node_cache.synced {
                            log_synced("node");
                        }
                    }
                }
                if dirty {
                    health.queued();
                }
                continue;
            }
            _ = tokio::time::sleep_until(deadline.into()) => {}
        }
        let now = Instant::now();
        if cleanup_at.is_some_and(|t| t <= now) {
            cleanup_at = None;
            tokio::task::block_in_place(|| proxier.cleanup_nft());
        }
        if !all_synced {
            if now >= next_full {
                next_full = now + cfg.sync_period;
            }
            continue;
        }
        if !announced {
            announced = true;
            klog::info_v(2, "proxier.go:790", "Caches are synced", &[]);
        }
        let full = need_full || now >= next_full;
        if !full && !dirty {
            continue;
        }
        let start = Instant::now();
        let result = tokio::task::block_in_place(|| proxier.sync(&state, &changed, full));
        let elapsed = start.elapsed();
        recent_syncs.push_back(Instant::now());
        while recent_syncs.len() > BURST_SYNCS {
            recent_syncs.pop_front();
        }
        match result {
            Ok(()) => {
                changed.clear();
                dirty = false;
                need_full = false;
                if full {
                    next_full = Instant::now() + cfg.sync_period;
                }
                health.updated(elapsed);
                let level = if first { 0 } else { 2 };
                klog::info_v(
                    level,
                    "proxier.go:820",
                    "SyncProxyRules complete",
                    &[("elapsed", &klog::go_duration(elapsed))],
                );
                first = false;
                if !proxier.nft_stale.is_empty() && cleanup_at.is_none() {
                    cleanup_at = Some(Instant::now() + Duration::from_secs(1));
                }
            }
            Err(e) => {
                health.failed();
                klog::error(
                    "proxier.go:1526",
                    "Sync failed, retrying with a full sync",
                    &[("err", &format!("{e:#}"))],
                );
                need_full = true;
                changed.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::service;

    fn names(changes: &[Change<Service>]) -> Vec<String> {
        changes
            .iter()
            .map(|c| match c {
                Change::Apply(s) => format!("+{}", s.name_any()),
                Change::Delete(s) => format!("-{}", s.name_any()),
            })
            .collect()
    }

    #[test]
    fn a_relist_applies_what_changed_and_deletes_what_vanished() {
        let a = service("default", "a", "10.152.183.2", &[("", 80, "TCP")]);
        let b = service("default", "b", "10.152.183.3", &[("", 80, "TCP")]);
        let mut cache: Cache<Service> = Cache::default();
        assert!(cache.event(Event::Init).is_empty());
        assert!(cache.event(Event::InitApply(a.clone())).is_empty());
        assert!(cache.event(Event::InitApply(b.clone())).is_empty());
        assert!(!cache.synced);
        assert_eq!(names(&cache.event(Event::InitDone)), ["+a", "+b"]);
        assert!(cache.synced);
        // The same object again is no change.
        assert!(cache.event(Event::Apply(a.clone())).is_empty());
        // After a watch error (410 Gone) the watcher relists: b vanished
        // meanwhile, a is unchanged.
        cache.event(Event::Init);
        cache.event(Event::InitApply(a.clone()));
        assert_eq!(names(&cache.event(Event::InitDone)), ["-b"]);
        assert_eq!(names(&cache.event(Event::Delete(a))), ["-a"]);
        assert!(cache.objects.is_empty());
    }

    #[test]
    fn node_ip_is_the_internal_address() {
        let node: Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "node1", "labels": {"topology.kubernetes.io/zone": "z1"}},
            "status": {"addresses": [
                {"type": "Hostname", "address": "node1"},
                {"type": "InternalIP", "address": "192.168.1.11"}
            ]}
        }))
        .unwrap();
        let info = node_info(&node);
        assert_eq!(info.ip, "192.168.1.11".parse().ok());
        assert_eq!(
            info.labels
                .get("topology.kubernetes.io/zone")
                .map(String::as_str),
            Some("z1")
        );
    }
}
