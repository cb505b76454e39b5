//! Deployments, ReplicaSets, StatefulSets, DaemonSets and garbage collection, as
//! kube-controller-manager runs them: one module per controller, sharing the
//! store, owner references and pods made from templates (`common`).

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

use common::{Ctx, Next};
use keys::{Key, Kind, Obj};
use kinet_store::Store;
use std::sync::Arc;
use std::time::Duration;

pub struct Workloads {
    ctx: Ctx,
}

impl Workloads {
    pub fn new(store: Arc<Store>) -> Self {
        Workloads {
            ctx: Ctx::new(store),
        }
    }

    /// Runs until the store closes: reconcile everything, then wait for a change.
    pub async fn run(self) {
        loop {
            let rev = self.ctx.store.rev();
            self.pass();
            let Ok(mut w) = self.ctx.store.watch("/", Some(rev)) else {
                continue;
            };
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                while let Ok(ev) = w.next().await {
                    if !ev.key.starts_with("/core/events/")
                        && !ev.key.starts_with("/coordination.k8s.io/")
                    {
                        break;
                    }
                }
            })
            .await;
        }
    }

    fn pass(&self) {
        for kind in [
            Kind::Deployment,
            Kind::ReplicaSet,
            Kind::StatefulSet,
            Kind::DaemonSet,
        ] {
            for o in self.ctx.list(kind, None) {
                let _ = self.reconcile(&Key::Reconcile(Obj::of(kind, &o)));
            }
        }
        for kind in [Kind::ReplicaSet, Kind::Pod] {
            for o in self.ctx.list(kind, None) {
                let _ = self.reconcile(&Key::Collect(Obj::of(kind, &o)));
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
