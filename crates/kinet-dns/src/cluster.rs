//! What the kubernetes plugin knows of the cluster: Services, EndpointSlices,
//! Namespaces and (with `pods verified`) Pods, kept by kube-rs watchers (relisting after
//! errors with back-off) and published as immutable snapshots, so a query
//! never waits on the API. Tests and other embedders use a fixed view.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Resource};
use tokio::sync::mpsc;

use crate::records::Cluster;

/// One published state of the cluster.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub services: Vec<Service>,
    pub slices: Vec<EndpointSlice>,
    pub pods: Vec<Pod>,
    pub namespaces: Vec<String>,
    /// The SOA serial: the Unix time of the last change (as CoreDNS).
    pub serial: u32,
}

impl Snapshot {
    pub fn cluster(&self) -> Cluster<'_> {
        Cluster {
            services: &self.services,
            slices: &self.slices,
            pods: &self.pods,
            namespaces: &self.namespaces,
        }
    }
}

/// The shared, swappable view.
#[derive(Debug, Default)]
pub struct ClusterView {
    snap: RwLock<Arc<Snapshot>>,
    synced: AtomicBool,
    pods_watched: AtomicBool,
}

fn now_serial() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0)
}

impl ClusterView {
    /// A view that never changes, synced from the start.
    pub fn fixed(services: Vec<Service>, slices: Vec<EndpointSlice>, pods: Vec<Pod>) -> Arc<Self> {
        let v = ClusterView::default();
        v.publish(Snapshot {
            services,
            slices,
            pods,
            namespaces: Vec::new(),
            serial: now_serial(),
        });
        v.synced.store(true, Ordering::SeqCst);
        Arc::new(v)
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snap.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn publish(&self, s: Snapshot) {
        *self.snap.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(s);
    }

    /// Whether every watcher finished its initial list.
    pub fn synced(&self) -> bool {
        self.synced.load(Ordering::SeqCst)
    }
}

enum Update {
    Service(Box<Event<Service>>),
    Slice(Box<Event<EndpointSlice>>),
    Pod(Box<Event<Pod>>),
    Namespace(Box<Event<Namespace>>),
}

/// A kind's objects and the relist in progress.
struct Store<K> {
    objects: BTreeMap<(String, String), K>,
    relist: Option<BTreeMap<(String, String), K>>,
    synced: bool,
}

impl<K> Default for Store<K> {
    fn default() -> Self {
        Store {
            objects: BTreeMap::new(),
            relist: None,
            synced: false,
        }
    }
}

fn key<K: Resource>(o: &K) -> (String, String) {
    (
        o.meta().namespace.clone().unwrap_or_default(),
        o.meta().name.clone().unwrap_or_default(),
    )
}

impl<K: Resource + Clone> Store<K> {
    /// Applies one event; whether the published view changes.
    fn event(&mut self, ev: Event<K>) -> bool {
        match ev {
            Event::Init => {
                self.relist = Some(BTreeMap::new());
                false
            }
            Event::InitApply(o) => {
                self.relist.get_or_insert_default().insert(key(&o), o);
                false
            }
            Event::InitDone => {
                self.objects = self.relist.take().unwrap_or_default();
                self.synced = true;
                true
            }
            Event::Apply(o) => {
                self.objects.insert(key(&o), o);
                true
            }
            Event::Delete(o) => {
                self.objects.remove(&key(&o));
                true
            }
        }
    }

    fn list(&self) -> Vec<K> {
        self.objects.values().cloned().collect()
    }
}

fn pump<K, S>(stream: S, tx: mpsc::UnboundedSender<Update>, wrap: fn(Event<K>) -> Update)
where
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
                Err(e) => eprintln!("[ERROR] plugin/kubernetes: Failed to watch: {e}"),
            }
        }
    });
}

/// Keeps `view` up to date from the API until the process ends. Pods are
/// watched only when `pods` (a `pods verified` plugin) is set.
pub async fn watch(view: Arc<ClusterView>, client: Client, pods: bool) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    pump(
        watcher::watcher(Api::<Service>::all(client.clone()), Default::default()).default_backoff(),
        tx.clone(),
        |e| Update::Service(Box::new(e)),
    );
    pump(
        watcher::watcher(
            Api::<EndpointSlice>::all(client.clone()),
            Default::default(),
        )
        .default_backoff(),
        tx.clone(),
        |e| Update::Slice(Box::new(e)),
    );
    pump(
        watcher::watcher(Api::<Namespace>::all(client.clone()), Default::default())
            .default_backoff(),
        tx.clone(),
        |e| Update::Namespace(Box::new(e)),
    );
    if pods {
        view.pods_watched.store(true, Ordering::SeqCst);
        pump(
            watcher::watcher(Api::<Pod>::all(client), Default::default()).default_backoff(),
            tx.clone(),
            |e| Update::Pod(Box::new(e)),
        );
    }
    drop(tx);
    let mut services: Store<Service> = Store::default();
    let mut slices: Store<EndpointSlice> = Store::default();
    let mut pod_store: Store<Pod> = Store::default();
    let mut namespaces: Store<Namespace> = Store::default();
    pod_store.synced = !pods;
    while let Some(first) = rx.recv().await {
        let mut changed = false;
        let mut next = Some(first);
        // Apply everything queued, then publish once.
        while let Some(u) = next {
            changed |= match u {
                Update::Service(e) => services.event(*e),
                Update::Slice(e) => slices.event(*e),
                Update::Pod(e) => pod_store.event(*e),
                Update::Namespace(e) => namespaces.event(*e),
            };
            next = rx.try_recv().ok();
        }
        if changed {
            view.publish(Snapshot {
                services: services.list(),
                slices: slices.list(),
                pods: pod_store.list(),
                namespaces: namespaces.objects.keys().map(|(_, n)| n.clone()).collect(),
                serial: now_serial(),
            });
        }
        if services.synced && slices.synced && pod_store.synced && namespaces.synced {
            view.synced.store(true, Ordering::SeqCst);
        }
    }
}
