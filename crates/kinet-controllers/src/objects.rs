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
    let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
    let ns = obj["metadata"]["namespace"].as_str().map(String::from);
    store.create(&resources::store_key(r, ns.as_deref(), &name), obj)
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
