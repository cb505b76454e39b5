//! `namespaces/NAME/finalize`: PUT sets the namespace's `spec.finalizers`, the
//! last step of deleting a namespace.

use crate::objects::{Objects, Written};
use crate::status::ApiError;
use kinet_model::resources::{self, Resource};
use serde_json::{Value, json};

pub(crate) fn finalize_namespace(
    objects: &Objects,
    r: &Resource,
    name: &str,
    obj: Value,
) -> Result<Written, ApiError> {
    let key = resources::store_key(r, None, name);
    let finalizers = obj
        .pointer("/spec/finalizers")
        .cloned()
        .unwrap_or(json!([]));
    let o = objects
        .store
        .update_with(&key, |n| {
            n["spec"]["finalizers"] = finalizers.clone();
            true
        })
        .map_err(|_| ApiError::not_found("namespaces", name))?;
    Ok(Written {
        object: o,
        warnings: vec![],
    })
}
