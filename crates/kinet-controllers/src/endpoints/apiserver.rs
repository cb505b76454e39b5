//! The API server's endpoint reconciler for `default/kubernetes` (upstream's
//! `pkg/controlplane/reconcilers` with its `EndpointsAdapter`): the Endpoints
//! object, marked not to be mirrored, and the EndpointSlice `kubernetes` (no
//! generated name, no managed-by label), both naming the API server's address.

use super::desired::{SERVICE_NAME, SKIP_MIRROR};
use kinet_model::json::obj_at;
use kinet_registry::{Registry, WriteOpts, create, resource};
use kinet_store::Store;
use serde_json::{Value, json};
use std::net::Ipv4Addr;

/// Makes `default/kubernetes`'s Endpoints and EndpointSlice say the API server
/// listens on `ip:port` (created, or rewritten if they say something else).
pub fn ensure_apiserver_endpoints(store: &Store, ip: Ipv4Addr, port: u16) {
    let ports = json!([{"name": "https", "port": port, "protocol": "TCP"}]);
    let ep = json!({
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": "kubernetes", "namespace": "default", "labels": {SKIP_MIRROR: "true"}},
        "subsets": [{"addresses": [{"ip": ip.to_string()}], "ports": ports}]
    });
    ensure(store, resource("", "endpoints"), ep, &["subsets"]);
    let slice = json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "kubernetes", "namespace": "default", "labels": {SERVICE_NAME: "kubernetes"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [ip.to_string()], "conditions": {"ready": true}}],
        "ports": ports
    });
    ensure(
        store,
        resource("discovery.k8s.io", "endpointslices"),
        slice,
        &["addressType", "endpoints", "ports"],
    );
}

/// Creates `want`, or updates the stored object whose `fields` or labels differ.
fn ensure(store: &Store, r: &kinet_model::resources::Resource, want: Value, fields: &[&str]) {
    let reg = Registry::new(store);
    let Ok(cur) = reg.get(r, Some("default"), "kubernetes") else {
        if let Err(e) = create(store, r, want) {
            tracing::warn!("default/kubernetes {} not created: {e}", r.plural);
        }
        return;
    };
    let same = fields.iter().all(|f| cur.get(*f) == want.get(*f))
        && obj_at(&cur, "/metadata/labels") == obj_at(&want, "/metadata/labels");
    if same {
        return;
    }
    let mut upd = cur.as_ref().clone();
    for f in fields {
        upd[*f] = want[*f].clone();
    }
    upd["metadata"]["labels"] = want["metadata"]["labels"].clone();
    if let Err(e) = reg.update(
        r,
        Some("default"),
        "kubernetes",
        None,
        upd,
        WriteOpts::IN_PROCESS,
    ) {
        tracing::warn!("default/kubernetes {} not updated: {e}", r.plural);
    }
}
