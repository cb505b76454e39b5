//! The endpoints and EndpointSlice controllers of kube-controller-manager, in one
//! loop: for each Service with a selector, the Endpoints object of its name and
//! its EndpointSlices (`discovery.k8s.io/v1`) follow the pods it selects.
//!
//! Watchers on Services, pods, nodes, Endpoints and EndpointSlices map each change
//! to the Services it concerns (a pod → the Services whose selector matches its
//! labels, old or new; a node that comes, goes or changes zone → every Service; an
//! Endpoints object deleted, or a managed slice changed → its Service), queued in a
//! de-duplicating work queue. A pass over one Service reads the Service, its pods
//! and the nodes from the store and computes what it wants (`desired`, `slices`,
//! pure), then writes the difference through `kinet_registry`. A Service gone
//! takes its Endpoints and slices with it. Everything is queued again every 30 s;
//! a pass whose writes were refused is tried again after 2 s.
//!
//! `ensure_apiserver_endpoints` is the API server's own endpoint reconciler for
//! `default/kubernetes`, which has no selector.

mod apiserver;
pub mod desired;
pub mod slices;
#[cfg(test)]
mod tests;

pub use apiserver::ensure_apiserver_endpoints;

use crate::queue::WorkQueue;
use desired::{TriggerTracker, ZONE, managed, selector, selects};
use kinet_model::json::{name, namespace, obj_at};
use kinet_model::resources::{self, Resource};
use kinet_model::selector::labels_of;
use kinet_registry::{Registry, WriteOpts, create, resource};
use kinet_store::{Store, WatcherEvent};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// How often every Service is synced whatever changed.
const RESYNC: Duration = Duration::from_secs(30);
/// How soon a Service whose writes were refused is tried again.
const RETRY: Duration = Duration::from_secs(2);

/// What the controllers watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Service,
    Pod,
    Node,
    Endpoints,
    EndpointSlice,
}

impl Kind {
    const ALL: [Kind; 5] = [
        Kind::Service,
        Kind::Pod,
        Kind::Node,
        Kind::Endpoints,
        Kind::EndpointSlice,
    ];

    fn resource(self) -> &'static Resource {
        match self {
            Kind::Service => resource("", "services"),
            Kind::Pod => resource("", "pods"),
            Kind::Node => resource("", "nodes"),
            Kind::Endpoints => resource("", "endpoints"),
            Kind::EndpointSlice => resource("discovery.k8s.io", "endpointslices"),
        }
    }
}

/// A Service, by namespace and name.
type SvcKey = (String, String);

fn key_of(o: &Value) -> SvcKey {
    (namespace(o).to_string(), name(o).to_string())
}

/// A node's `topology.kubernetes.io/zone` (`""` if none).
fn zone_of(node: &Value) -> &str {
    obj_at(node, "/metadata/labels")
        .and_then(|l| l.get(ZONE))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Runs the endpoints and EndpointSlice controllers until the store closes.
pub async fn run(store: Arc<Store>) {
    Controller::new(store).run().await
}

struct Controller {
    store: Arc<Store>,
    queue: WorkQueue<SvcKey>,
    retry: BTreeSet<SvcKey>,
    /// Each known Service's selector (None: it has none).
    services: BTreeMap<SvcKey, Option<BTreeMap<String, String>>>,
    /// Each known pod's labels.
    pods: HashMap<SvcKey, BTreeMap<String, String>>,
    /// Each known node's zone (`""`: none).
    zones: HashMap<String, String>,
    endpoints_triggers: TriggerTracker,
    slice_triggers: TriggerTracker,
}

impl Controller {
    fn new(store: Arc<Store>) -> Controller {
        Controller {
            store,
            queue: WorkQueue::default(),
            retry: BTreeSet::new(),
            services: BTreeMap::new(),
            pods: HashMap::new(),
            zones: HashMap::new(),
            endpoints_triggers: TriggerTracker::default(),
            slice_triggers: TriggerTracker::default(),
        }
    }

    async fn run(mut self) {
        let kinds = Kind::ALL.map(|k| (k, resources::store_prefix(k.resource(), None)));
        let mut rx = crate::feed::watch_all(&self.store, kinds);
        let mut resync = crate::feed::ticker(RESYNC);
        let mut retry = crate::feed::ticker(RETRY);
        loop {
            tokio::select! {
                msg = rx.recv() => {
                    let Some((kind, ev)) = msg else { return };
                    self.observe(kind, ev);
                    while let Ok((kind, ev)) = rx.try_recv() {
                        self.observe(kind, ev);
                    }
                }
                _ = resync.tick() => self.queue_all(),
                _ = retry.tick() => {
                    for k in std::mem::take(&mut self.retry) {
                        self.queue.push(k);
                    }
                }
            }
            while let Some(k) = self.queue.pop() {
                if self.sync(&k) {
                    self.retry.remove(&k);
                } else {
                    self.retry.insert(k);
                }
            }
        }
    }

    fn queue_all(&mut self) {
        for k in self.services.keys() {
            self.queue.push(k.clone());
        }
    }

    /// The Services of `ns` whose selector matches any of `labels`, queued.
    fn queue_selecting(&mut self, ns: &str, labels: &[&BTreeMap<String, String>]) {
        let lo = (ns.to_string(), String::new());
        for ((sns, sname), sel) in self.services.range(lo..) {
            if sns != ns {
                break;
            }
            if let Some(sel) = sel
                && labels.iter().any(|l| selects(sel, l))
            {
                self.queue.push((sns.clone(), sname.clone()));
            }
        }
    }

    fn observe(&mut self, kind: Kind, ev: WatcherEvent) {
        match ev {
            WatcherEvent::Init => {}
            WatcherEvent::InitApply(o) => self.apply(kind, &o, true),
            WatcherEvent::Apply(o) => self.apply(kind, &o, false),
            // whatever changed while a watch was behind: everything again
            WatcherEvent::InitDone => self.queue_all(),
            WatcherEvent::Delete(o) => self.delete(kind, &o),
        }
    }

    fn apply(&mut self, kind: Kind, o: &Value, listing: bool) {
        match kind {
            Kind::Service => {
                self.services.insert(key_of(o), selector(o));
                self.queue.push(key_of(o));
            }
            Kind::Pod => {
                let labels = labels_of(o);
                let old = self.pods.insert(key_of(o), labels.clone());
                let mut all = vec![&labels];
                all.extend(old.as_ref());
                self.queue_selecting(namespace(o), &all);
            }
            Kind::Node => {
                let zone = zone_of(o).to_string();
                if self.zones.insert(name(o).to_string(), zone.clone()) != Some(zone) {
                    self.queue_all();
                }
            }
            // leftovers, when the controller starts: Endpoints of Services gone
            Kind::Endpoints if listing => {
                self.queue.push(key_of(o));
            }
            Kind::Endpoints => {}
            // a managed slice changed (by anyone: a pass over what is right writes nothing)
            Kind::EndpointSlice => self.queue_slice_service(o),
        }
    }

    fn delete(&mut self, kind: Kind, o: &Value) {
        match kind {
            Kind::Service => {
                self.services.remove(&key_of(o));
                self.queue.push(key_of(o));
            }
            Kind::Pod => {
                let labels = self.pods.remove(&key_of(o)).unwrap_or_else(|| labels_of(o));
                self.queue_selecting(namespace(o), &[&labels]);
            }
            Kind::Node => {
                self.zones.remove(name(o));
                self.queue_all();
            }
            Kind::Endpoints => {
                self.queue.push(key_of(o));
            }
            Kind::EndpointSlice => self.queue_slice_service(o),
        }
    }

    /// The Service a managed slice is for, queued.
    fn queue_slice_service(&mut self, slice: &Value) {
        let svc = obj_at(slice, "/metadata/labels")
            .and_then(|l| l.get(desired::SERVICE_NAME))
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !svc.is_empty() && slices::managed_for(slice, svc) {
            self.queue
                .push((namespace(slice).to_string(), svc.to_string()));
        }
    }

    /// One pass over one Service; false if a write was refused.
    fn sync(&mut self, (ns, svc_name): &SvcKey) -> bool {
        let svc_key = resources::store_key(Kind::Service.resource(), Some(ns), svc_name);
        let Some(svc) = self.store.get(&svc_key) else {
            self.endpoints_triggers.forget(ns, svc_name);
            self.slice_triggers.forget(ns, svc_name);
            return self.remove_all(ns, svc_name);
        };
        if !managed(&svc) {
            // user-managed endpoints, or an ExternalName: none of ours
            return true;
        }
        let sel = selector(&svc).unwrap_or_default();
        let pods: Vec<Arc<Value>> = self
            .store
            .list(&resources::store_prefix(Kind::Pod.resource(), Some(ns)))
            .0
            .into_iter()
            .filter(|p| selects(&sel, &labels_of(p)))
            .collect();
        let pods: Vec<&Value> = pods.iter().map(|p| p.as_ref()).collect();
        let a = self.sync_endpoints(&svc, &pods);
        let b = self.sync_slices(&svc, &pods);
        a && b
    }

    fn registry(&self) -> Registry<'_> {
        Registry::new(&self.store)
    }

    fn sync_endpoints(&mut self, svc: &Value, pods: &[&Value]) -> bool {
        let (ns, n) = (namespace(svc), name(svc));
        let trigger = self.endpoints_triggers.compute(svc, pods);
        let r = Kind::Endpoints.resource();
        let current = self.store.get(&resources::store_key(r, Some(ns), n));
        let subsets = desired::subsets(svc, pods);
        let Some(ep) =
            desired::endpoints_object(svc, current.as_deref(), subsets, trigger.as_deref())
        else {
            return true;
        };
        let res = match current {
            Some(_) => self
                .registry()
                .update(r, Some(ns), n, None, ep, WriteOpts::IN_PROCESS)
                .map(drop),
            None => create(&self.store, r, ep).map(drop),
        };
        res.map_err(|e| tracing::debug!("endpoints {ns}/{n} not written: {e}"))
            .is_ok()
    }

    fn sync_slices(&mut self, svc: &Value, pods: &[&Value]) -> bool {
        let (ns, n) = (namespace(svc), name(svc));
        let trigger = self.slice_triggers.compute(svc, pods);
        let nodes: BTreeMap<String, String> = self
            .store
            .list(&resources::store_prefix(Kind::Node.resource(), None))
            .0
            .iter()
            .map(|node| (name(node).to_string(), zone_of(node).to_string()))
            .collect();
        let groups = desired::slice_groups(svc, pods, &nodes);
        let existing = self.managed_slices(ns, n);
        let plan = slices::reconcile(svc, &groups, &existing, trigger.as_deref());
        self.apply_plan(ns, plan)
    }

    /// The slices labelled as this controller's for the Service `ns/svc`.
    fn managed_slices(&self, ns: &str, svc: &str) -> Vec<Value> {
        self.store
            .list(&resources::store_prefix(
                Kind::EndpointSlice.resource(),
                Some(ns),
            ))
            .0
            .iter()
            .filter(|s| slices::managed_for(s, svc))
            .map(|s| s.as_ref().clone())
            .collect()
    }

    fn apply_plan(&self, ns: &str, plan: slices::Plan) -> bool {
        let r = Kind::EndpointSlice.resource();
        let mut ok = true;
        for s in plan.delete {
            ok &= self.remove(r, ns, name(&s));
        }
        for s in plan.update {
            let n = name(&s).to_string();
            if let Err(e) = self
                .registry()
                .update(r, Some(ns), &n, None, s, WriteOpts::IN_PROCESS)
            {
                tracing::debug!("endpointslice {ns}/{n} not updated: {e}");
                ok = false;
            }
        }
        for s in plan.create {
            if let Err(e) = create(&self.store, r, s) {
                tracing::debug!("endpointslice in {ns} not created: {e}");
                ok = false;
            }
        }
        ok
    }

    fn remove(&self, r: &Resource, ns: &str, n: &str) -> bool {
        match self.registry().delete(r, Some(ns), n, None, None, false) {
            Ok(_) => true,
            Err(e) if e.reason == "NotFound" => true,
            Err(e) => {
                tracing::debug!("{} {ns}/{n} not deleted: {e}", r.plural);
                false
            }
        }
    }

    /// The Service is gone: its Endpoints and its slices go too (the slices as
    /// the garbage collector takes dependents).
    fn remove_all(&self, ns: &str, svc: &str) -> bool {
        let r = Kind::Endpoints.resource();
        let mut ok = true;
        if self
            .store
            .get(&resources::store_key(r, Some(ns), svc))
            .is_some()
        {
            ok &= self.remove(r, ns, svc);
        }
        for s in self.managed_slices(ns, svc) {
            ok &= self.remove(Kind::EndpointSlice.resource(), ns, name(&s));
        }
        ok
    }
}
