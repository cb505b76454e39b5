//! What the API server accepts as a PATCH body before it applies it
//! (k8s.io/apiserver's patch handler): the shape each patch type must have, with
//! the errors upstream answers — Go's decoding messages included — so that a
//! body that is not an object never reaches the merge functions.

use serde_json::{Map, Value};

/// The patch types of the PATCH verb.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/json-patch+json` (RFC 6902)
    Json,
    /// `application/merge-patch+json` (RFC 7386)
    Merge,
    /// `application/strategic-merge-patch+json`
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply)
    Apply,
}

impl PatchType {
    /// The patch type of a Content-Type (parameters after `;` ignored).
    pub fn from_content_type(ct: &str) -> Option<Self> {
        match ct.split(';').next().unwrap_or("").trim() {
            "application/json-patch+json" => Some(Self::Json),
            "application/merge-patch+json" => Some(Self::Merge),
            "application/strategic-merge-patch+json" => Some(Self::Strategic),
            "application/apply-patch+yaml" => Some(Self::Apply),
            _ => None,
        }
    }
}

/// Why the API server refuses a patch body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// 400 BadRequest
    BadRequest(String),
    /// 422 Invalid: the patched result would not be an object
    Invalid(String),
}

/// Checks a decoded PATCH body as upstream does before applying it. `strict` is
/// field validation Warn or Strict (Warn is the default), under which upstream
/// decodes the body strictly first. Returns the body to apply instead when
/// upstream reads this one as another (`null` is "no change" for a strategic
/// merge patch and for a JSON patch).
pub fn check_body(t: PatchType, patch: &Value, strict: bool) -> Result<Option<Value>, BodyError> {
    let bad = |m: String| Err(BodyError::BadRequest(m));
    let into_map = |v: &Value| {
        format!(
            "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            crate::quote::go_json_kind(v)
        )
    };
    match (t, patch) {
        (_, Value::Object(_)) if t != PatchType::Json => Ok(None),
        (PatchType::Merge, Value::Null) => bad("Invalid JSON Patch".into()),
        (PatchType::Merge, other) if strict => {
            bad(format!("error decoding patch: {}", into_map(other)))
        }
        // without strict decoding an array is the patched result, which is no object
        (PatchType::Merge, Value::Array(items)) => Err(BodyError::Invalid(not_an_object(
            &Value::Array(items.iter().map(prune_nulls).collect()),
        ))),
        (PatchType::Merge, _) => bad("Invalid JSON Patch".into()),
        (PatchType::Strategic, Value::Null) => Ok(Some(Value::Object(Map::new()))),
        (PatchType::Strategic, other) => bad(into_map(other)),
        (PatchType::Apply, Value::Null) => Ok(None),
        (PatchType::Apply, other) => bad(format!(
            "error decoding patch: error unmarshaling JSON: {}",
            into_map(other)
        )),
        (PatchType::Json, Value::Null) => Ok(Some(Value::Array(Vec::new()))),
        (PatchType::Json, Value::Array(ops)) => {
            for op in ops {
                check_operation(op, strict)?;
            }
            Ok(None)
        }
        (PatchType::Json, other) if strict => bad(format!(
            "error decoding patch: json: cannot unmarshal {} into Go value of type []handlers.jsonPatchOp",
            crate::quote::go_json_kind(other)
        )),
        (PatchType::Json, other) => bad(format!(
            "json: cannot unmarshal {} into Go value of type jsonpatch.Patch",
            crate::quote::go_json_kind(other)
        )),
    }
}

/// One JSON patch operation as upstream's decoders read it.
fn check_operation(op: &Value, strict: bool) -> Result<(), BodyError> {
    let fields = match op {
        Value::Object(f) => f,
        Value::Null => return Ok(()),
        other if strict => {
            return Err(BodyError::BadRequest(format!(
                "error decoding patch: json: cannot unmarshal {} into Go value of type handlers.jsonPatchOp",
                crate::quote::go_json_kind(other)
            )));
        }
        other => {
            return Err(BodyError::BadRequest(format!(
                "json: cannot unmarshal {} into Go value of type jsonpatch.Operation",
                crate::quote::go_json_kind(other)
            )));
        }
    };
    if strict {
        for name in ["op", "path", "from"] {
            if let Some(v) = fields.get(name)
                && !(v.is_string() || v.is_null())
            {
                return Err(BodyError::BadRequest(format!(
                    "error decoding patch: json: cannot unmarshal {} into Go struct field jsonPatchOp.{name} of type string",
                    crate::quote::go_json_kind(v)
                )));
            }
        }
    }
    Ok(())
}

/// The message of upstream's 422 when a patch leaves something other than an
/// object: the API server cannot read a kind from it.
pub fn not_an_object(result: &Value) -> String {
    let json = serde_json::to_string(result).unwrap_or_default();
    format!(
        " \"\" is invalid: patch: Invalid value: {}: couldn't get version/kind; json parse error: json: cannot unmarshal {} into Go value of type struct {{ APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }}",
        crate::quote::go_quote(&json),
        crate::quote::go_json_kind(result)
    )
}

/// Drops null members of the objects inside `v` (json-patch's `pruneNulls`);
/// null array elements stay.
fn prune_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), prune_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(prune_nulls).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bad(m: &str) -> Result<Option<Value>, BodyError> {
        Err(BodyError::BadRequest(m.to_string()))
    }

    #[test]
    fn content_types() {
        assert_eq!(
            PatchType::from_content_type("application/merge-patch+json; charset=utf-8"),
            Some(PatchType::Merge)
        );
        assert_eq!(PatchType::from_content_type("application/json"), None);
    }

    #[test]
    fn objects_pass_for_the_merge_patches() {
        for t in [PatchType::Merge, PatchType::Strategic, PatchType::Apply] {
            assert_eq!(check_body(t, &json!({"a": 1}), true), Ok(None));
            assert_eq!(check_body(t, &json!({}), false), Ok(None));
        }
    }

    #[test]
    fn a_merge_patch_that_is_not_an_object() {
        // the default (Warn) and Strict decode the body into a map first
        assert_eq!(
            check_body(PatchType::Merge, &json!(["a"]), true),
            bad(
                "error decoding patch: json: cannot unmarshal array into Go value of type map[string]interface {}"
            )
        );
        assert_eq!(
            check_body(PatchType::Merge, &json!(5), true),
            bad(
                "error decoding patch: json: cannot unmarshal number into Go value of type map[string]interface {}"
            )
        );
        assert_eq!(
            check_body(PatchType::Merge, &json!("x"), true),
            bad(
                "error decoding patch: json: cannot unmarshal string into Go value of type map[string]interface {}"
            )
        );
        assert_eq!(
            check_body(PatchType::Merge, &json!(null), true),
            bad("Invalid JSON Patch")
        );
        // Ignore: json-patch's MergePatch decides
        assert_eq!(
            check_body(PatchType::Merge, &json!(5), false),
            bad("Invalid JSON Patch")
        );
        assert_eq!(
            check_body(PatchType::Merge, &json!(null), false),
            bad("Invalid JSON Patch")
        );
        assert_eq!(
            check_body(PatchType::Merge, &json!(["a", {"b": null, "c": 1}]), false),
            Err(BodyError::Invalid(
                " \"\" is invalid: patch: Invalid value: \"[\\\"a\\\",{\\\"c\\\":1}]\": couldn't get version/kind; json parse error: json: cannot unmarshal array into Go value of type struct { APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }".into()
            ))
        );
    }

    #[test]
    fn a_strategic_or_apply_patch_that_is_not_an_object() {
        for strict in [true, false] {
            assert_eq!(
                check_body(PatchType::Strategic, &json!([1]), strict),
                bad("json: cannot unmarshal array into Go value of type map[string]interface {}")
            );
            assert_eq!(
                check_body(PatchType::Strategic, &json!(null), strict),
                Ok(Some(json!({})))
            );
        }
        assert_eq!(
            check_body(PatchType::Apply, &json!(true), true),
            bad(
                "error decoding patch: error unmarshaling JSON: json: cannot unmarshal bool into Go value of type map[string]interface {}"
            )
        );
    }

    #[test]
    fn a_json_patch_that_is_not_a_list_of_operations() {
        assert_eq!(
            check_body(PatchType::Json, &json!({"op": "add"}), true),
            bad(
                "error decoding patch: json: cannot unmarshal object into Go value of type []handlers.jsonPatchOp"
            )
        );
        assert_eq!(
            check_body(PatchType::Json, &json!({"op": "add"}), false),
            bad("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
        );
        assert_eq!(
            check_body(PatchType::Json, &json!([5]), true),
            bad(
                "error decoding patch: json: cannot unmarshal number into Go value of type handlers.jsonPatchOp"
            )
        );
        assert_eq!(
            check_body(PatchType::Json, &json!([5]), false),
            bad("json: cannot unmarshal number into Go value of type jsonpatch.Operation")
        );
        assert_eq!(
            check_body(PatchType::Json, &json!([{"op": 1, "path": "/a"}]), true),
            bad(
                "error decoding patch: json: cannot unmarshal number into Go struct field jsonPatchOp.op of type string"
            )
        );
        assert_eq!(
            check_body(PatchType::Json, &json!(null), true),
            Ok(Some(json!([])))
        );
        assert_eq!(
            check_body(
                PatchType::Json,
                &json!([{"op": "add", "path": "/a", "value": 1}]),
                true
            ),
            Ok(None)
        );
    }
}
