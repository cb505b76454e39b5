//! API errors over HTTP. The error type and its `Status` object are the registry's
//! (every writer shares them); what only the API server sends lives here.

use serde_json::{Value, json};

pub use kinet_registry::ApiError;

/// The `Status` of a successful delete of an object that has no body to return.
pub fn success(kind_plural: &str, name: &str, uid: &str) -> Value {
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
        "details": {"name": name, "kind": kind_plural, "uid": uid}
    })
}
