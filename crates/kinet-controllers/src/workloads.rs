//! Deployments, ReplicaSets, StatefulSets, DaemonSets and garbage collection, as
//! kube-controller-manager runs them: one module per controller, sharing the
//! store, owner references and pods made from templates (`common`).
//!
//! One watcher per kind feeds an `Index` that maps each change to the keys it
//! concerns (`keys`), in a de-duplicating work queue (`crate::queue`); each key is one
//! controller's pass over one object, reading what it needs from the store. A
//! full resync every 30 s is the safety net, and keys whose pods the API refused
//! are tried again every 2 s or as soon as a ServiceAccount appears in their
//! namespace.

mod common;
mod daemonset;
mod deployment;
mod garbagecollector;
mod keys;
mod replicaset;
mod statefulset;
mod template;

pub use common::delete_pod;
pub use deployment::resolve_int_or_percent;
pub use template::{canonical, fnv32a, safe_encode, template_hash};

use crate::queue::WorkQueue;
use common::{Ctx, Next};
use keys::{Index, Key, Kind};
use kinet_store::{Store, WatcherEvent};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// How often everything is reconciled whatever changed.
const RESYNC: Duration = Duration::from_secs(30);
/// How soon a key whose creations were refused is tried again.
const RETRY: Duration = Duration::from_secs(2);

pub struct Workloads {
    ctx: Ctx,
    index: Index,
    queue: WorkQueue<Key>,
    /// Keys whose last pass could not create what it wanted.
    retry: BTreeSet<Key>,
}

impl Workloads {
    pub fn new(store: Arc<Store>) -> Self {
        Workloads {
            ctx: Ctx::new(store),
            index: Index::default(),
            queue: WorkQueue::default(),
            retry: BTreeSet::new(),
        }
    }

    /// Runs until the store closes: follow every watched kind, reconcile the keys
    /// each change concerns.
    pub async fn run(mut self) {
        let kinds = Kind::ALL.map(|k| (k, k.prefix()));
        let mut rx = crate::feed::watch_all(&self.ctx.store, kinds);
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
                _ = resync.tick() => self.resync(),
                _ = retry.tick() => self.retry(None),
            }
            if !self.queue.is_empty() {
                self.drain();
            }
        }
    }

    /// One watch event: the index follows it, the keys it concerns are queued.
    fn observe(&mut self, kind: Kind, ev: WatcherEvent) {
        let keys = match ev {
            WatcherEvent::Init => {
                self.index.init(kind);
                return;
            }
            WatcherEvent::InitApply(o) => {
                // what the relist holds is queued whole at InitDone
                let _ = self.index.apply(kind, &o);
                return;
            }
            WatcherEvent::InitDone => self.index.init_done(kind),
            WatcherEvent::Apply(o) => {
                if kind == Kind::ServiceAccount {
                    self.retry(Some(kinet_model::json::namespace(&o)));
                }
                self.index.apply(kind, &o)
            }
            WatcherEvent::Delete(o) => self.index.delete(kind, &o),
        };
        for k in keys {
            self.queue.push(k);
        }
    }

    /// Everything known, queued again.
    fn resync(&mut self) {
        for kind in Kind::ALL {
            for k in self.index.everything(kind) {
                self.queue.push(k);
            }
        }
        tracing::debug!(
            keys = self.queue.len(),
            objects_read = self.ctx.reads(),
            "workloads resync"
        );
    }

    /// The keys waiting to retry (those of one namespace, or all), queued.
    fn retry(&mut self, namespace: Option<&str>) {
        let due: Vec<Key> = self
            .retry
            .iter()
            .filter(|k| namespace.is_none_or(|ns| k.namespace() == ns))
            .cloned()
            .collect();
        for k in due {
            self.retry.remove(&k);
            self.queue.push(k);
        }
    }

    /// Works the queue until it is empty.
    fn drain(&mut self) {
        while let Some(key) = self.queue.pop() {
            match self.reconcile(&key) {
                Next::Done => {
                    self.retry.remove(&key);
                }
                Next::Retry => {
                    self.retry.insert(key);
                }
            }
        }
    }

    fn reconcile(&self, key: &Key) -> Next {
        match key {
            Key::Reconcile(o) => match o.kind {
                Kind::Deployment => deployment::reconcile(&self.ctx, o),
                Kind::ReplicaSet => replicaset::reconcile(&self.ctx, o),
                Kind::StatefulSet => statefulset::reconcile(&self.ctx, o),
                Kind::DaemonSet => daemonset::reconcile(&self.ctx, o),
                _ => Next::Done,
            },
            Key::Collect(o) => garbagecollector::collect(&self.ctx, o),
        }
    }
}

#[cfg(test)]
mod tests;
