//! Which reconciles a change asks for, as upstream's controllers map informer
//! events to work-queue keys: a pod → its controller (ReplicaSet, StatefulSet,
//! DaemonSet); a ReplicaSet → itself and its Deployment; a Deployment,
//! StatefulSet or DaemonSet → itself; a node that comes, goes or changes its
//! labels → every DaemonSet; an owner's deletion → the garbage collection of its
//! dependents; a dependent seen for the first time or with new owners → its own
//! garbage collection.
//!
//! `Index` is the cache that mapping needs (each object's uid, owners and, for
//! nodes, labels; owners' dependents), kept from the watch events. It never reads
//! the store: the controllers read the objects themselves when they run.

use kinet_model::json::{self, arr_at, str_at};
use kinet_model::resources::{self, Resource};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The kinds of objects the workload controllers watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Pod,
    ReplicaSet,
    Deployment,
    StatefulSet,
    DaemonSet,
    Job,
    Node,
    ServiceAccount,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::Pod,
        Kind::ReplicaSet,
        Kind::Deployment,
        Kind::StatefulSet,
        Kind::DaemonSet,
        Kind::Job,
        Kind::Node,
        Kind::ServiceAccount,
    ];

    pub fn resource(self) -> &'static Resource {
        match self {
            Kind::Pod => kinet_registry::resource("", "pods"),
            Kind::ReplicaSet => kinet_registry::resource("apps", "replicasets"),
            Kind::Deployment => kinet_registry::resource("apps", "deployments"),
            Kind::StatefulSet => kinet_registry::resource("apps", "statefulsets"),
            Kind::DaemonSet => kinet_registry::resource("apps", "daemonsets"),
            Kind::Job => kinet_registry::resource("batch", "jobs"),
            Kind::Node => kinet_registry::resource("", "nodes"),
            Kind::ServiceAccount => kinet_registry::resource("", "serviceaccounts"),
        }
    }

    /// The store prefix a watcher of this kind follows.
    pub fn prefix(self) -> String {
        resources::store_prefix(self.resource(), None)
    }

    /// The workload kind an owner reference names (the owners garbage collection honours).
    pub fn of_owner(kind: &str) -> Option<Kind> {
        match kind {
            "ReplicaSet" => Some(Kind::ReplicaSet),
            "Deployment" => Some(Kind::Deployment),
            "StatefulSet" => Some(Kind::StatefulSet),
            "DaemonSet" => Some(Kind::DaemonSet),
            "Job" => Some(Kind::Job),
            _ => None,
        }
    }

    /// Objects of this kind own dependents that go with them.
    fn owns(self) -> bool {
        matches!(
            self,
            Kind::ReplicaSet | Kind::Deployment | Kind::StatefulSet | Kind::DaemonSet | Kind::Job
        )
    }

    /// Objects of this kind have a controller that reconciles them.
    fn reconciled(self) -> bool {
        matches!(
            self,
            Kind::ReplicaSet | Kind::Deployment | Kind::StatefulSet | Kind::DaemonSet
        )
    }

    /// Objects of this kind are collected once their workload owners are gone.
    fn collected(self) -> bool {
        matches!(self, Kind::Pod | Kind::ReplicaSet)
    }
}

/// One object, by kind, namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Obj {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
}

impl Obj {
    pub fn new(kind: Kind, namespace: &str, name: &str) -> Obj {
        Obj {
            kind,
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }

    pub fn of(kind: Kind, obj: &Value) -> Obj {
        Obj::new(kind, json::namespace(obj), json::name(obj))
    }

    pub fn store_key(&self) -> String {
        resources::store_key(self.kind.resource(), Some(&self.namespace), &self.name)
    }
}

/// One unit of work.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Key {
    /// Run the controller of this Deployment, ReplicaSet, StatefulSet or DaemonSet.
    Reconcile(Obj),
    /// Garbage-collect this ReplicaSet or pod if no workload owner of it is left.
    Collect(Obj),
}

impl Key {
    pub fn namespace(&self) -> &str {
        match self {
            Key::Reconcile(o) | Key::Collect(o) => &o.namespace,
        }
    }
}

/// An owner reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub kind: String,
    pub name: String,
    pub uid: String,
    pub controller: bool,
}

impl Owner {
    /// The owner references of `obj`.
    pub fn all(obj: &Value) -> Vec<Owner> {
        arr_at(obj, "/metadata/ownerReferences")
            .iter()
            .map(|r| Owner {
                kind: str_at(r, "/kind").to_string(),
                name: str_at(r, "/name").to_string(),
                uid: str_at(r, "/uid").to_string(),
                controller: r["controller"] == true,
            })
            .collect()
    }
}

/// What the index keeps of one object.
#[derive(Debug, Clone, Default, PartialEq)]
struct Meta {
    uid: String,
    owners: Vec<Owner>,
    /// Nodes only: DaemonSets place pods by them.
    labels: BTreeMap<String, String>,
}

impl Meta {
    fn of(kind: Kind, obj: &Value) -> Meta {
        Meta {
            uid: str_at(obj, "/metadata/uid").to_string(),
            owners: Owner::all(obj),
            labels: if kind == Kind::Node {
                kinet_model::selector::labels_of(obj)
            } else {
                BTreeMap::new()
            },
        }
    }

    /// The reconcile of the controller of `o` (a pod or ReplicaSet) that its
    /// changes concern: a ReplicaSet, StatefulSet, DaemonSet or Deployment.
    fn controller_key(&self, o: &Obj) -> Option<Key> {
        if !o.kind.collected() {
            return None;
        }
        let c = self.owners.iter().find(|c| c.controller)?;
        let kind = Kind::of_owner(&c.kind).filter(|k| k.reconciled())?;
        Some(Key::Reconcile(Obj::new(kind, &o.namespace, &c.name)))
    }

    fn has_workload_owner(&self) -> bool {
        self.owners
            .iter()
            .any(|o| Kind::of_owner(&o.kind).is_some())
    }
}

/// The cache behind the event → key mapping.
#[derive(Debug, Default)]
pub struct Index {
    known: BTreeMap<Obj, Meta>,
    /// Owner uid → the dependents that name it.
    dependents: HashMap<String, BTreeSet<Obj>>,
    /// The objects of each kind seen since its watcher's last `Init`.
    relisted: HashMap<Kind, BTreeSet<Obj>>,
}

impl Index {
    /// An object was added or changed: the keys to reconcile.
    pub fn apply(&mut self, kind: Kind, obj: &Value) -> Vec<Key> {
        let o = Obj::of(kind, obj);
        let meta = Meta::of(kind, obj);
        if let Some(seen) = self.relisted.get_mut(&kind) {
            seen.insert(o.clone());
        }
        let old = self.known.insert(o.clone(), meta.clone());
        if let Some(old) = &old {
            self.unlink(&o, old);
        }
        self.link(&o, &meta);
        let mut keys = vec![];
        if kind.reconciled() {
            keys.push(Key::Reconcile(o.clone()));
        }
        keys.extend(meta.controller_key(&o));
        let owners_changed = old.as_ref().is_none_or(|m| m.owners != meta.owners);
        if kind.collected() && owners_changed && meta.has_workload_owner() {
            keys.push(Key::Collect(o.clone()));
        }
        let labels_changed = old.as_ref().is_none_or(|m| m.labels != meta.labels);
        if kind == Kind::Node && labels_changed {
            keys.extend(self.daemonsets());
        }
        keys
    }

    /// An object was deleted: the keys to reconcile.
    pub fn delete(&mut self, kind: Kind, obj: &Value) -> Vec<Key> {
        let o = Obj::of(kind, obj);
        let meta = self
            .known
            .get(&o)
            .cloned()
            .unwrap_or_else(|| Meta::of(kind, obj));
        self.forget(&o, &meta)
    }

    /// A watcher lists again: what follows until `init_done` is the whole set of `kind`.
    pub fn init(&mut self, kind: Kind) {
        self.relisted.insert(kind, BTreeSet::new());
    }

    /// The relist of `kind` is complete: objects not listed again are gone, and
    /// everything of that kind is to be reconciled.
    pub fn init_done(&mut self, kind: Kind) -> Vec<Key> {
        let seen = self.relisted.remove(&kind).unwrap_or_default();
        let gone: Vec<(Obj, Meta)> = self
            .of_kind(kind)
            .filter(|(o, _)| !seen.contains(o))
            .map(|(o, m)| (o.clone(), m.clone()))
            .collect();
        let mut keys = vec![];
        for (o, m) in gone {
            keys.extend(self.forget(&o, &m));
        }
        keys.extend(self.everything(kind));
        keys
    }

    /// Every key the objects of `kind` stand for (the periodic resync).
    pub fn everything(&self, kind: Kind) -> Vec<Key> {
        let mut keys = vec![];
        for (o, meta) in self.of_kind(kind) {
            if kind.reconciled() {
                keys.push(Key::Reconcile(o.clone()));
            }
            // what changed while a watch was behind reaches the controllers too
            keys.extend(meta.controller_key(o));
            if kind.collected() && meta.has_workload_owner() {
                keys.push(Key::Collect(o.clone()));
            }
        }
        if kind == Kind::Node {
            keys.extend(self.daemonsets());
        }
        keys
    }

    fn forget(&mut self, o: &Obj, meta: &Meta) -> Vec<Key> {
        self.known.remove(o);
        self.unlink(o, meta);
        let mut keys = vec![];
        keys.extend(meta.controller_key(o));
        if o.kind.owns() {
            keys.extend(
                self.dependents
                    .get(&meta.uid)
                    .into_iter()
                    .flatten()
                    .map(|d| Key::Collect(d.clone())),
            );
        }
        if o.kind == Kind::Node {
            keys.extend(self.daemonsets());
        }
        keys
    }

    fn of_kind(&self, kind: Kind) -> impl Iterator<Item = (&Obj, &Meta)> {
        self.known
            .range(Obj::new(kind, "", "")..)
            .take_while(move |(o, _)| o.kind == kind)
    }

    fn daemonsets(&self) -> Vec<Key> {
        self.of_kind(Kind::DaemonSet)
            .map(|(o, _)| Key::Reconcile(o.clone()))
            .collect()
    }

    fn link(&mut self, o: &Obj, meta: &Meta) {
        if !o.kind.collected() {
            return;
        }
        for owner in &meta.owners {
            self.dependents
                .entry(owner.uid.clone())
                .or_default()
                .insert(o.clone());
        }
    }

    fn unlink(&mut self, o: &Obj, meta: &Meta) {
        for owner in &meta.owners {
            if let Some(d) = self.dependents.get_mut(&owner.uid) {
                d.remove(o);
                if d.is_empty() {
                    self.dependents.remove(&owner.uid);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(name: &str, uid: &str, owner: Option<(&str, &str, &str)>) -> Value {
        let refs: Vec<Value> = owner
            .into_iter()
            .map(|(kind, name, uid)| json!({"kind": kind, "name": name, "uid": uid, "controller": true}))
            .collect();
        json!({"metadata": {"name": name, "namespace": "ns", "uid": uid, "ownerReferences": refs}})
    }

    fn rec(kind: Kind, name: &str) -> Key {
        Key::Reconcile(Obj::new(kind, "ns", name))
    }

    fn col(kind: Kind, name: &str) -> Key {
        Key::Collect(Obj::new(kind, "ns", name))
    }

    #[test]
    fn a_pod_change_reaches_its_controller_and_its_first_sight_the_collector() {
        let mut ix = Index::default();
        let pod = obj("web-1-a", "p1", Some(("ReplicaSet", "web-1", "r1")));
        assert_eq!(
            ix.apply(Kind::Pod, &pod),
            [rec(Kind::ReplicaSet, "web-1"), col(Kind::Pod, "web-1-a")]
        );
        // a status change: the controller only
        assert_eq!(ix.apply(Kind::Pod, &pod), [rec(Kind::ReplicaSet, "web-1")]);
        assert_eq!(ix.delete(Kind::Pod, &pod), [rec(Kind::ReplicaSet, "web-1")]);
        // a pod of nobody: nothing to do
        assert!(ix.apply(Kind::Pod, &obj("bare", "p2", None)).is_empty());
        // a StatefulSet's and a DaemonSet's pods
        let p = obj("db-0", "p3", Some(("StatefulSet", "db", "s1")));
        assert_eq!(ix.apply(Kind::Pod, &p)[0], rec(Kind::StatefulSet, "db"));
        let p = obj("agent-x", "p4", Some(("DaemonSet", "agent", "d1")));
        assert_eq!(ix.apply(Kind::Pod, &p)[0], rec(Kind::DaemonSet, "agent"));
        // a Job's: collected, not reconciled (no Job controller here)
        let p = obj("job-x", "p5", Some(("Job", "job", "j1")));
        assert_eq!(ix.apply(Kind::Pod, &p), [col(Kind::Pod, "job-x")]);
    }

    #[test]
    fn a_replicaset_change_reaches_itself_and_its_deployment() {
        let mut ix = Index::default();
        let rs = obj("web-1", "r1", Some(("Deployment", "web", "d1")));
        assert_eq!(
            ix.apply(Kind::ReplicaSet, &rs),
            [
                rec(Kind::ReplicaSet, "web-1"),
                rec(Kind::Deployment, "web"),
                col(Kind::ReplicaSet, "web-1")
            ]
        );
        let d = obj("web", "d1", None);
        assert_eq!(
            ix.apply(Kind::Deployment, &d),
            [rec(Kind::Deployment, "web")]
        );
        // an owner's deletion: its dependents' collection
        let pod = obj("web-1-a", "p1", Some(("ReplicaSet", "web-1", "r1")));
        ix.apply(Kind::Pod, &pod);
        assert_eq!(
            ix.delete(Kind::Deployment, &d),
            [col(Kind::ReplicaSet, "web-1")]
        );
        assert_eq!(
            ix.delete(Kind::ReplicaSet, &rs),
            [rec(Kind::Deployment, "web"), col(Kind::Pod, "web-1-a")]
        );
    }

    #[test]
    fn nodes_reach_every_daemonset_when_they_come_go_or_relabel() {
        let mut ix = Index::default();
        for n in ["a", "b"] {
            ix.apply(Kind::DaemonSet, &obj(n, n, None));
        }
        let all = [rec(Kind::DaemonSet, "a"), rec(Kind::DaemonSet, "b")];
        let node = json!({"metadata": {"name": "node1", "uid": "n1"}});
        assert_eq!(ix.apply(Kind::Node, &node), all);
        // a heartbeat: nothing
        let mut beat = node.clone();
        beat["status"] = json!({"conditions": [{"type": "Ready", "status": "True"}]});
        assert!(ix.apply(Kind::Node, &beat).is_empty());
        let mut labelled = node.clone();
        labelled["metadata"]["labels"] = json!({"disk": "ssd"});
        assert_eq!(ix.apply(Kind::Node, &labelled), all);
        assert_eq!(ix.delete(Kind::Node, &labelled), all);
        // ServiceAccounts and Jobs map to no controller key
        assert!(
            ix.apply(Kind::ServiceAccount, &obj("default", "sa", None))
                .is_empty()
        );
    }

    #[test]
    fn a_relist_drops_what_is_gone_and_queues_everything() {
        let mut ix = Index::default();
        let rs = obj("web-1", "r1", Some(("Deployment", "web", "d1")));
        let kept = obj("web-1-a", "p1", Some(("ReplicaSet", "web-1", "r1")));
        let gone = obj("web-1-b", "p2", Some(("ReplicaSet", "web-1", "r1")));
        ix.apply(Kind::ReplicaSet, &rs);
        ix.apply(Kind::Pod, &kept);
        ix.apply(Kind::Pod, &gone);
        ix.init(Kind::Pod);
        ix.apply(Kind::Pod, &kept);
        let keys = ix.init_done(Kind::Pod);
        assert_eq!(
            keys,
            [
                // the pod deleted while the watch was behind: as a deletion
                rec(Kind::ReplicaSet, "web-1"),
                // and everything listed
                rec(Kind::ReplicaSet, "web-1"),
                col(Kind::Pod, "web-1-a"),
            ]
        );
        // the dropped pod is no dependent any more
        assert_eq!(
            ix.delete(Kind::ReplicaSet, &rs),
            [rec(Kind::Deployment, "web"), col(Kind::Pod, "web-1-a")]
        );
        assert_eq!(
            ix.everything(Kind::Pod),
            [rec(Kind::ReplicaSet, "web-1"), col(Kind::Pod, "web-1-a")]
        );
    }
}
