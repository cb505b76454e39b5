//! Namespaces: the built-in ones, each namespace's `default` ServiceAccount and
//! `kube-root-ca.crt` ConfigMap, and deletion (content first, then the namespace).

use kinet_model::json as j;
use kinet_model::resources::{self, RESOURCES};
use kinet_registry::{Registry, create, key_of, resource};
use kinet_store::Store;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

pub const BUILTIN: &[&str] = &["default", "kube-node-lease", "kube-public", "kube-system"];

/// Creates the built-in namespaces if missing, with their `default` ServiceAccounts
/// (at once, so that pods sent right after the daemon starts pass admission).
pub fn ensure_builtin(store: &Store) {
    let ns = resource("", "namespaces");
    for n in BUILTIN {
        // (a new namespace comes with its default ServiceAccount)
        let _ = create(store, ns, json!({"metadata": {"name": n}}));
        Registry::new(store).ensure_default_service_account(n);
    }
}

/// Keeps every active namespace furnished, and finishes deleting terminating ones.
pub async fn run(store: Arc<Store>, ca_pem: String) {
    let ns_r = resource("", "namespaces");
    let cm_r = resource("", "configmaps");
    loop {
        let (all, rev) = store.list(&resources::store_prefix(ns_r, None));
        for ns in &all {
            let name = j::name(ns).to_string();
            if j::at(ns, "/metadata/deletionTimestamp").is_some() {
                if empty_namespace(&store, &name) {
                    let _ = store.delete(&key_of(ns_r, ns), None);
                }
                continue;
            }
            Registry::new(&store).ensure_default_service_account(&name);
            if store
                .get(&resources::store_key(cm_r, Some(&name), "kube-root-ca.crt"))
                .is_none()
            {
                let _ = create(
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
            .any(|n| j::at(n, "/metadata/deletionTimestamp").is_some());
        let wait = if terminating {
            Duration::from_millis(200)
        } else {
            Duration::from_secs(5)
        };
        let _ = tokio::time::timeout(wait, w.next()).await;
    }
}

/// Deletes what is left in a terminating namespace, as a client would (pods on a
/// node gracefully, objects with finalizers once those are done); true once it is empty.
fn empty_namespace(store: &Store, ns: &str) -> bool {
    let registry = Registry::new(store);
    let mut empty = true;
    for r in RESOURCES
        .iter()
        .filter(|r| r.namespaced && r.kind != "Binding")
    {
        let (items, _) = store.list(&resources::store_prefix(r, Some(ns)));
        for o in items {
            empty = false;
            if let Err(e) = registry.delete(r, Some(ns), j::name(&o), None, None, false) {
                tracing::debug!("deleting {} {ns}/{}: {e}", r.plural, j::name(&o));
            }
        }
    }
    empty
}
