//! Applying PATCH request bodies to stored objects, as the Kubernetes API
//! server does for the three content types kubectl sends:
//!
//! * `application/merge-patch+json` — [`json_merge_patch`] (RFC 7386),
//! * `application/json-patch+json` — [`json_patch`] (RFC 6902),
//! * `application/strategic-merge-patch+json` — [`strategic_merge_patch`],
//!   driven by the patch metadata table in [`merge_meta`].
//!
//! All functions are pure: they take the stored object and the patch by
//! reference and return a new value, so a failed patch never leaves a
//! half-applied object behind. [`check_body`] says, before any of them runs,
//! whether the API server accepts a body of that shape at all.

use std::fmt;

use serde_json::Value;

mod body;
mod json_patch;
mod merge_patch;
mod meta;
mod strategic;

pub use body::{BodyError, PatchType, check_body, not_an_object};
pub use json_patch::json_patch;
pub use merge_patch::json_merge_patch;
pub use meta::{ListMeta, merge_meta};
pub use strategic::strategic_merge_patch;

/// Why a patch could not be applied. The message is meant to be shown to
/// the kubectl user as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchError(pub String);

impl PatchError {
    pub(crate) fn new(msg: impl Into<String>) -> Self {
        PatchError(msg.into())
    }
}

impl fmt::Display for PatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PatchError {}

/// JSON equality where numbers compare by value (`1 == 1.0`), like the Go
/// API server, which decodes every JSON number to a float64. Object key
/// order does not matter.
pub(crate) fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
                x == y
            } else if let (Some(x), Some(y)) = (x.as_u64(), y.as_u64()) {
                x == y
            } else {
                x.as_f64() == y.as_f64()
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_eq_compares_numbers_by_value() {
        assert!(json_eq(&json!(1), &json!(1.0)));
        assert!(json_eq(&json!([1, {"a": 2}]), &json!([1.0, {"a": 2.0}])));
        assert!(!json_eq(&json!(1), &json!(2)));
        assert!(!json_eq(&json!(1), &json!("1")));
    }

    #[test]
    fn json_eq_ignores_key_order_but_not_array_order() {
        assert!(json_eq(&json!({"a": 1, "b": 2}), &json!({"b": 2, "a": 1})));
        assert!(!json_eq(&json!({"a": 1}), &json!({"a": 1, "b": null})));
        assert!(!json_eq(&json!([1, 2]), &json!([2, 1])));
    }

    #[test]
    fn patch_error_displays_its_message() {
        let e = PatchError::new("testing value /a failed: test failed");
        assert_eq!(e.to_string(), "testing value /a failed: test failed");
        let boxed: Box<dyn std::error::Error> = Box::new(e);
        assert_eq!(boxed.to_string(), "testing value /a failed: test failed");
    }
}
