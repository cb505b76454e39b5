//! The registry: what a write does to objects, whoever writes (upstream's
//! `apiserver/pkg/registry`). Every writer — the API server for requests, the
//! controllers, the node agents, the daemon — creates, updates, patches and deletes
//! through it, so every object gets the same defaults, admission (NamespaceLifecycle,
//! ServiceAccount), validation, generation and status-subresource rules, and a
//! refusal is the same typed [`ApiError`] with the API server's words.
//! No HTTP here: the API server decodes requests and renders the errors.
//!
//! Also the pieces every writer shares: the event recorder, the RFC 3339 clock,
//! generated-name suffixes, resource lookup and store keys.

#![forbid(unsafe_code)]

pub mod admission;
pub mod errors;
pub mod events;
mod registry;
mod services;
pub mod strategy;

pub use errors::ApiError;
pub use registry::{Deleted, Patch, Registry, WriteOpts, Written, store_error};
pub use strategy::{FieldValidation, Subresource};

use chrono::{SecondsFormat, Utc};
use kinet_model::resources::{self, Resource};
use kinet_store::Store;
use serde_json::Value;
use std::sync::Arc;

/// Now, as the API writes timestamps (RFC 3339, seconds, `Z`).
pub fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A random suffix of `n` characters for generated names (5 for `generateName`).
pub fn random_suffix(n: usize) -> String {
    kinet_model::names::suffix(rand::random(), n)
}

/// A built-in resource of version v1, by group and plural. The names are the
/// caller's constants; an unknown one is a bug, so this panics on it.
pub fn resource(group: &str, plural: &str) -> &'static Resource {
    match resources::find(group, "v1", plural) {
        Some(r) => r,
        None => panic!("no resource {plural} in group {group:?}"),
    }
}

/// The store key of an object of `r` (read from the store or about to be written).
pub fn key_of(r: &Resource, obj: &Value) -> String {
    let ns = kinet_model::json::at(obj, "/metadata/namespace").and_then(Value::as_str);
    resources::store_key(r, ns, kinet_model::json::name(obj))
}

/// `metadata.name` (`""` when missing).
pub fn name_of(obj: &Value) -> &str {
    kinet_model::json::name(obj)
}

/// Creates an object as an in-process writer does (a controller, a node agent, the
/// daemon): the API's create path, in the object's own namespace.
pub fn create(store: &Store, r: &Resource, obj: Value) -> Result<Arc<Value>, ApiError> {
    let ns = kinet_model::json::namespace(&obj).to_string();
    let ns = (!ns.is_empty()).then_some(ns.as_str());
    Registry::new(store)
        .create(r, ns, obj, WriteOpts::IN_PROCESS)
        .map(|w| w.object)
}
