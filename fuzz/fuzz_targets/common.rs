//! What the targets share: kinds to aim at, the request's media types, and a
//! fresh in-memory store holding one object of each kind.

use kinet_model::resources::{self, Resource};
use kinet_registry::{FieldValidation, Registry, WriteOpts};
use kinet_store::Store;
use serde_json::{Value, json};
use std::sync::Arc;

/// The kinds the targets write, with an object of each that the API accepts.
pub fn seeds() -> Vec<(&'static Resource, Value)> {
    let r = |g: &str, p: &str| {
        resources::RESOURCES
            .iter()
            .find(|r| r.group == g && r.plural == p)
            .expect("a served resource")
    };
    let meta = |name: &str| json!({"name": name, "namespace": "default", "labels": {"app": "web"}});
    vec![
        (
            r("", "configmaps"),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("cfg"), "data": {"a": "1"}}),
        ),
        (
            r("", "pods"),
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta("web"), "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sleep", "1"], "ports": [{"containerPort": 80}], "env": [{"name": "A", "value": "1"}]}]}}),
        ),
        (
            r("", "services"),
            json!({"apiVersion": "v1", "kind": "Service", "metadata": meta("svc"), "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}}),
        ),
        (
            r("apps", "deployments"),
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("dep"), "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}),
        ),
        (
            r("", "secrets"),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": meta("sec"), "stringData": {"k": "v"}}),
        ),
        (
            r("", "namespaces"),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}}),
        ),
        (
            r("coordination.k8s.io", "leases"),
            json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta("lease"), "spec": {"holderIdentity": "node1"}}),
        ),
        (
            r("", "nodes"),
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node1"}}),
        ),
    ]
}

/// A store with the default namespace and every seed object.
pub fn seeded_store() -> Arc<Store> {
    let store = Arc::new(Store::open(None).expect("an in-memory store"));
    let reg = Registry::new(&store);
    let ns = resources::RESOURCES
        .iter()
        .find(|r| r.plural == "namespaces")
        .expect("namespaces");
    reg.create(
        ns,
        None,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}),
        opts(FieldValidation::Strict),
    )
    .expect("the default namespace");
    for (r, obj) in seeds() {
        let ns = r.namespaced.then_some("default");
        reg.create(r, ns, obj, opts(FieldValidation::Strict))
            .expect("a seed object");
    }
    store
}

pub fn opts(validation: FieldValidation) -> WriteOpts {
    WriteOpts {
        dry_run: false,
        validation,
    }
}

pub fn validation(b: u8) -> FieldValidation {
    match b % 3 {
        0 => FieldValidation::Strict,
        1 => FieldValidation::Warn,
        _ => FieldValidation::Ignore,
    }
}
