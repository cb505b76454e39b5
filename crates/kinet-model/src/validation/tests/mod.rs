//! Unit tests of validation, one file per job, through the public entry points.

mod core_kinds;
mod field;
mod metadata;
mod names;
mod pod_spec;
mod quantities;
mod strict;
mod update;
mod workloads;

use serde_json::{Value, json};

use super::*;

/// `field: message` lines, as kubectl prints causes.
fn lines(c: &[Cause]) -> Vec<String> {
    c.iter().map(Cause::error).collect()
}

fn pod(spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x", "namespace": "default"}, "spec": spec})
}

fn ctr(name: &str, image: &str) -> Value {
    json!({"name": name, "image": image})
}

fn pod_errs(spec: Value) -> Vec<String> {
    lines(&validate("Pod", &pod(spec)))
}

const LABEL_RE: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

const SUBDOMAIN_RE: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

fn label_msg() -> String {
    LABEL_RE.to_string()
}

fn running(spec: Value) -> Value {
    let mut p = pod(spec);
    p["metadata"]["uid"] = json!("u1");
    p["metadata"]["resourceVersion"] = json!("5");
    p
}

fn deployment(selector: Value, labels: Value) -> Value {
    json!({"metadata": {"name": "web"}, "spec": {"replicas": 2, "selector": selector,
        "template": {"metadata": {"labels": labels}, "spec": {"containers": [ctr("nginx", "nginx")]}}}})
}
