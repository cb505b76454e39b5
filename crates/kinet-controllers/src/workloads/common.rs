//! What the workload controllers share: the store and its read counter, owner
//! references, pods made from templates, graceful pod deletion, status writes and
//! the rate-limited FailedCreate event.

use super::keys::{Kind, Obj};
use kinet_model::json::{at, int_at, object_mut, str_at};
use kinet_model::pod::{is_active, is_terminating};
use kinet_model::resources::{self, Resource};
use kinet_registry::events::{self, Source};
use kinet_registry::now;
use kinet_store::Store;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a reconcile pass asks of the work queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Next {
    /// The object is as wanted, or waits for a change that will bring it back.
    Done,
    /// Something it must make was refused (a ServiceAccount missing, a name taken):
    /// try again after a while, or when a ServiceAccount appears in its namespace.
    Retry,
}

/// The store as the controllers see it.
pub struct Ctx {
    pub store: Arc<Store>,
    /// Objects read from the store by the controllers (their work, measured).
    reads: AtomicU64,
    /// When each owner last got a FailedCreate event (retries are not all recorded).
    failures: Mutex<HashMap<String, Instant>>,
}

impl Ctx {
    pub fn new(store: Arc<Store>) -> Ctx {
        Ctx {
            store,
            reads: AtomicU64::new(0),
            failures: Mutex::default(),
        }
    }

    /// How many objects the controllers have read so far.
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// The object `o` names, as stored now.
    pub fn get(&self, o: &Obj) -> Option<Arc<Value>> {
        let v = self.store.get(&o.store_key());
        if v.is_some() {
            self.reads.fetch_add(1, Ordering::Relaxed);
        }
        v
    }

    /// The object behind `o` unless it is gone or being deleted (then there is
    /// nothing to reconcile).
    pub fn live(&self, o: &Obj) -> Option<Arc<Value>> {
        self.get(o).filter(|v| !is_terminating(v))
    }

    /// Every object of `kind` (in `ns`, or everywhere).
    pub fn list(&self, kind: Kind, ns: Option<&str>) -> Vec<Arc<Value>> {
        let items = self
            .store
            .list(&resources::store_prefix(kind.resource(), ns))
            .0;
        self.reads.fetch_add(items.len() as u64, Ordering::Relaxed);
        items
    }

    /// The objects of `kind` in `ns` whose controller is the object with `uid`.
    pub fn controlled(&self, kind: Kind, ns: &str, uid: &str) -> Vec<Arc<Value>> {
        self.list(kind, Some(ns))
            .into_iter()
            .filter(|o| controlled_by(o, uid))
            .collect()
    }

    /// Replaces the status of `o` unless it already is `st`.
    pub fn write_status(&self, r: &Resource, o: &Value, st: Value) {
        let key = kinet_registry::key_of(r, o);
        let _ = self.store.update_with(&key, |x| {
            if x["status"] == st {
                return false;
            }
            x["status"] = st;
            true
        });
    }

    /// A Normal event on `obj`.
    pub fn normal(&self, src: &Source, obj: &Value, reason: &str, message: &str) {
        events::record(&self.store, src, obj, None, "Normal", reason, message);
    }

    /// Creates `pod` for `owner`: a SuccessfulCreate event saying `created`, or, when
    /// the API refuses it, a FailedCreate saying `failed(why)` ([`Ctx::failed_create`]).
    /// False when refused.
    pub fn create_pod(
        &self,
        src: &Source,
        owner: &Value,
        pod: Value,
        created: &str,
        failed: impl Fn(&str) -> String,
    ) -> bool {
        match kinet_registry::create(&self.store, Kind::Pod.resource(), pod) {
            Ok(_) => {
                self.normal(src, owner, "SuccessfulCreate", created);
                true
            }
            Err(e) => {
                self.failed_create(src, owner, e, failed);
                false
            }
        }
    }

    /// A pod the API refused (validation, admission): a FailedCreate event on its
    /// owner, at most every 10 s while it keeps failing.
    pub fn failed_create(
        &self,
        src: &Source,
        owner: &Value,
        e: kinet_registry::ApiError,
        msg: impl Fn(&str) -> String,
    ) {
        let why = e.message;
        let uid = str_at(owner, "/metadata/uid").to_string();
        let now = Instant::now();
        {
            let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
            if f.get(&uid)
                .is_some_and(|t| now.duration_since(*t) < Duration::from_secs(10))
            {
                return;
            }
            f.insert(uid, now);
        }
        events::record(
            &self.store,
            src,
            owner,
            None,
            "Warning",
            "FailedCreate",
            &msg(&why),
        );
    }
}

/// `spec.replicas` and the like: the integer at `path`, 0 when missing.
pub fn count(v: &Value, path: &str) -> i64 {
    int_at(v, path).unwrap_or(0)
}

/// The owner reference a controller puts on what it makes.
pub fn owner_ref(owner: &Value, kind: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": kind, "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true})
}

/// `o` has a controller owner reference to the object with `uid`.
pub fn controlled_by(o: &Value, uid: &str) -> bool {
    kinet_model::json::arr_at(o, "/metadata/ownerReferences")
        .iter()
        .any(|r| r["uid"] == uid && r["controller"] == true)
}

/// A pod from `owner`'s template: its metadata (without creationTimestamp), the
/// name, the owner's namespace and a controller reference to it; its spec.
pub fn pod_from_template(owner: &Value, kind: &str, name: &str) -> Value {
    let mut meta = at(owner, "/spec/template/metadata")
        .filter(|m| m.is_object())
        .cloned()
        .unwrap_or(json!({}));
    if let Some(m) = meta.as_object_mut() {
        m.remove("creationTimestamp");
    }
    meta["name"] = json!(name);
    meta["namespace"] = owner["metadata"]["namespace"].clone();
    meta["ownerReferences"] = json!([owner_ref(owner, kind)]);
    let spec = at(owner, "/spec/template/spec")
        .cloned()
        .unwrap_or(json!({}));
    json!({"metadata": meta, "spec": spec})
}

/// A pod for a StatefulSet or DaemonSet: the template, an owner reference, a revision label.
pub fn revision_pod(owner: &Value, kind: &str, name: &str, revision: &str) -> Value {
    let mut pod = pod_from_template(owner, kind, name);
    object_mut(&mut pod, &["metadata", "labels"])
        .insert("controller-revision-hash".into(), json!(revision));
    pod
}

/// Marks a pod for graceful deletion (or deletes it if no node runs it).
pub fn delete_pod(store: &Store, pod: &Value) {
    let key = kinet_registry::key_of(Kind::Pod.resource(), pod);
    let on_node = !str_at(pod, "/spec/nodeName").is_empty() && is_active(pod);
    if on_node {
        let grace = int_at(pod, "/spec/terminationGracePeriodSeconds").unwrap_or(30);
        let _ = store.update_with(&key, |p| {
            if at(p, "/metadata/deletionTimestamp").is_some() {
                return false;
            }
            object_mut(p, &["metadata"]).insert("deletionTimestamp".into(), json!(now()));
            object_mut(p, &["metadata"]).insert("deletionGracePeriodSeconds".into(), json!(grace));
            true
        });
    } else {
        let _ = store.delete(&key, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_from_templates_carry_their_owner() {
        let rs = json!({"metadata": {"name": "web-abc", "namespace": "demo", "uid": "u1"},
            "spec": {"template": {"metadata": {"labels": {"app": "web"}, "creationTimestamp": null},
                                  "spec": {"containers": [{"name": "c"}]}}}});
        let pod = pod_from_template(&rs, "ReplicaSet", "web-abc-x");
        assert_eq!(pod["metadata"]["name"], "web-abc-x");
        assert_eq!(pod["metadata"]["namespace"], "demo");
        assert_eq!(pod["metadata"]["labels"]["app"], "web");
        assert!(pod["metadata"].get("creationTimestamp").is_none());
        assert!(controlled_by(&pod, "u1"));
        assert!(!controlled_by(&pod, "u2"));
        assert_eq!(pod["spec"]["containers"][0]["name"], "c");
        let pod = revision_pod(
            &json!({"metadata": {"name": "db"}}),
            "StatefulSet",
            "db-0",
            "db-1",
        );
        assert_eq!(
            pod["metadata"]["labels"]["controller-revision-hash"],
            "db-1"
        );
        assert_eq!(pod["spec"], json!({}));
    }
}
