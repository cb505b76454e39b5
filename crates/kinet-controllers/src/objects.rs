//! Creating objects from inside the daemon with the metadata the API server would give them.

use chrono::{SecondsFormat, Utc};
use kinet_model::resources::{self, Resource};
use kinet_store::{Store, StoreError};
use serde_json::{Value, json};
use std::sync::Arc;

pub fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub fn resource(group: &str, plural: &str) -> &'static Resource {
    let version = "v1";
    resources::find(group, version, plural).expect("known resource")
}

/// Creates `obj` (apiVersion, kind and uid filled in, defaults applied); AlreadyExists passes through.
pub fn create(store: &Store, r: &Resource, mut obj: Value) -> Result<Arc<Value>, StoreError> {
    obj["apiVersion"] = json!(r.api_version());
    obj["kind"] = json!(r.kind);
    obj["metadata"]["uid"] = json!(uuid::Uuid::new_v4().to_string());
    obj["metadata"]["creationTimestamp"] = json!(now());
    kinet_model::defaults::apply(r.kind, &mut obj);
    if r.kind == "Pod" {
        admit_pod(store, &mut obj).map_err(StoreError::Db)?;
    }
    let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
    let ns = obj["metadata"]["namespace"].as_str().map(String::from);
    store.create(&resources::store_key(r, ns.as_deref(), &name), obj)
}

/// ServiceAccount admission for the pods controllers make (as the API server applies
/// it): the error is the API's message, `pods "web-7d4b9c8f5-" is forbidden: …`.
pub fn admit_pod(store: &Store, pod: &mut Value) -> Result<(), String> {
    let ns = pod
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default")
        .to_string();
    let shown = ["/metadata/generateName", "/metadata/name"]
        .iter()
        .filter_map(|p| pod.pointer(p).and_then(Value::as_str))
        .find(|n| !n.is_empty())
        .unwrap_or("")
        .to_string();
    let sa_name = kinet_model::admission::service_account_name(pod).to_string();
    let sa = store.get(&resources::store_key(
        resource("", "serviceaccounts"),
        Some(&ns),
        &sa_name,
    ));
    kinet_model::admission::service_account(pod, &ns, sa.as_deref(), &crate::random_suffix(5))
        .map_err(|why| format!("pods \"{shown}\" is forbidden: {why}"))
}

/// The key of an object read from the store.
pub fn key_of(r: &Resource, obj: &Value) -> String {
    let ns = obj.pointer("/metadata/namespace").and_then(Value::as_str);
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    resources::store_key(r, ns, name)
}
