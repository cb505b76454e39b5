//! Namespaces: the built-in ones, each namespace's `default` ServiceAccount and
//! `kube-root-ca.crt` ConfigMap, and deletion (content first, then the namespace).

use crate::objects;
use kinet_model::resources::{self, RESOURCES};
use kinet_store::Store;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

pub const BUILTIN: &[&str] = &["default", "kube-node-lease", "kube-public", "kube-system"];

/// Creates the built-in namespaces if missing, with their `default` ServiceAccounts
/// (at once, so that pods sent right after the daemon starts pass admission).
pub fn ensure_builtin(store: &Store) {
    let ns = objects::resource("", "namespaces");
    let sa = objects::resource("", "serviceaccounts");
    for n in BUILTIN {
        let _ = objects::create(store, ns, json!({"metadata": {"name": n}}));
        if store
            .get(&resources::store_key(sa, Some(n), "default"))
            .is_none()
        {
            let _ = objects::create(
                store,
                sa,
                json!({"metadata": {"name": "default", "namespace": n}}),
            );
        }
    }
}

/// Keeps every active namespace furnished, and finishes deleting terminating ones.
pub async fn run(store: Arc<Store>, ca_pem: String) {
    let ns_r = objects::resource("", "namespaces");
    let sa_r = objects::resource("", "serviceaccounts");
    let cm_r = objects::resource("", "configmaps");
    loop {
        let (all, rev) = store.list(&resources::store_prefix(ns_r, None));
        for ns in &all {
            let name = ns["metadata"]["name"].as_str().unwrap_or("").to_string();
            if ns.pointer("/metadata/deletionTimestamp").is_some() {
                if empty_namespace(&store, &name) {
                    let _ = store.delete(&objects::key_of(ns_r, ns), None);
                }
                continue;
            }
            if store
                .get(&resources::store_key(sa_r, Some(&name), "default"))
                .is_none()
            {
                let _ = objects::create(
                    &store,
                    sa_r,
                    json!({"metadata": {"name": "default", "namespace": name}}),
                );
            }
            if store
                .get(&resources::store_key(cm_r, Some(&name), "kube-root-ca.crt"))
                .is_none()
            {
                let _ = objects::create(
                    &store,
                    cm_r,
                    json!({"metadata": {"name": "kube-root-ca.crt", "namespace": name,
                        "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}},
                        "data": {"ca.crt": ca_pem}}),
                );
            }
        }
        let Ok(mut w) = store.watch("/core/namespaces/", Some(rev)) else {
            continue;
        };
        let terminating = all
            .iter()
            .any(|n| n.pointer("/metadata/deletionTimestamp").is_some());
        let wait = if terminating {
            Duration::from_millis(200)
        } else {
            Duration::from_secs(5)
        };
        let _ = tokio::time::timeout(wait, w.next()).await;
    }
}

/// Deletes what is left in a terminating namespace; true once it is empty.
fn empty_namespace(store: &Store, ns: &str) -> bool {
    let mut empty = true;
    for r in RESOURCES
        .iter()
        .filter(|r| r.namespaced && r.kind != "Binding")
    {
        let (items, _) = store.list(&resources::store_prefix(r, Some(ns)));
        for o in items {
            empty = false;
            let key = objects::key_of(r, &o);
            let on_node = r.kind == "Pod"
                && o.pointer("/spec/nodeName")
                    .and_then(Value::as_str)
                    .is_some_and(|n| !n.is_empty())
                && !matches!(
                    o.pointer("/status/phase").and_then(Value::as_str),
                    Some("Succeeded" | "Failed")
                );
            if on_node {
                if o.pointer("/metadata/deletionTimestamp").is_none() {
                    let grace = o
                        .pointer("/spec/terminationGracePeriodSeconds")
                        .and_then(Value::as_i64)
                        .unwrap_or(30);
                    let _ = store.update_with(&key, |p| {
                        p["metadata"]["deletionTimestamp"] = json!(objects::now());
                        p["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
                        true
                    });
                }
            } else {
                let _ = store.delete(&key, None);
            }
        }
    }
    empty
}
