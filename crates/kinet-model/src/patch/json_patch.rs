//! JSON patch, RFC 6902 (`application/json-patch+json`), with JSON pointers
//! per RFC 6901. Error texts follow the ones the Kubernetes API server
//! (evanphx/json-patch) returns, so kubectl users see familiar messages; like
//! it, the whole document can be replaced only by an object or an array, not
//! added or removed, and (as the API server then decodes the result into an
//! object) a patch whose result is not an object fails.

use serde_json::{Map, Value};

use super::{PatchError, json_eq, not_an_object};

/// Applies a list of RFC 6902 operations. The operations run against a copy
/// of `target`; if any of them fails, the error is returned and nothing of
/// the earlier operations is kept.
pub fn json_patch(target: &Value, ops: &Value) -> Result<Value, PatchError> {
    let Value::Array(ops) = ops else {
        return Err(PatchError::new(format!(
            "json patch must be a JSON array of operations, got: {ops}"
        )));
    };
    let mut doc = target.clone();
    for op in ops {
        apply(&mut doc, op)?;
    }
    if !doc.is_object() {
        return Err(PatchError::new(not_an_object(&doc)));
    }
    Ok(doc)
}

fn apply(doc: &mut Value, op: &Value) -> Result<(), PatchError> {
    let Value::Object(fields) = op else {
        return Err(PatchError::new(format!(
            "json patch operation must be a JSON object, got: {op}"
        )));
    };
    let kind = match fields.get("op") {
        Some(Value::String(s)) => s.as_str(),
        Some(other) => {
            return Err(PatchError::new(format!(
                "json patch operation has an invalid \"op\": {other}"
            )));
        }
        None => {
            return Err(PatchError::new(format!(
                "json patch operation is missing \"op\": {op}"
            )));
        }
    };
    if !matches!(
        kind,
        "add" | "remove" | "replace" | "move" | "copy" | "test"
    ) {
        return Err(PatchError::new(format!(
            "Unexpected kind: {kind}: unknown object type"
        )));
    }
    let path = string_field(fields, "path", kind)?;
    let tokens = parse_pointer(path)?;
    match kind {
        "add" => add(doc, &tokens, path, value_field(fields, kind)?.clone()),
        "remove" => remove(doc, &tokens, path, kind).map(|_| ()),
        "replace" => {
            let value = value_field(fields, kind)?.clone();
            if tokens.is_empty() && !(value.is_object() || value.is_array()) {
                return Err(PatchError::new(
                    "replace operation value must be object or array",
                ));
            }
            match get_mut(doc, &tokens)? {
                Some(slot) => {
                    *slot = value;
                    Ok(())
                }
                None => Err(PatchError::new(format!(
                    "replace operation does not apply: doc is missing key: {path}: missing value"
                ))),
            }
        }
        "move" => {
            let from = string_field(fields, "from", kind)?;
            let from_tokens = parse_pointer(from)?;
            if from_tokens == tokens {
                return match get_mut(doc, &from_tokens)? {
                    Some(_) => Ok(()),
                    None => Err(missing_from(kind, from)),
                };
            }
            if tokens.len() > from_tokens.len() && tokens.starts_with(&from_tokens) {
                return Err(PatchError::new(format!(
                    "move operation does not apply: cannot move {from} into its own child {path}"
                )));
            }
            let value = remove(doc, &from_tokens, from, kind)?;
            add(doc, &tokens, path, value)
        }
        "copy" => {
            let from = string_field(fields, "from", kind)?;
            let from_tokens = parse_pointer(from)?;
            let value = get_mut(doc, &from_tokens)?
                .cloned()
                .ok_or_else(|| missing_from(kind, from))?;
            add(doc, &tokens, path, value)
        }
        "test" => {
            let want = value_field(fields, kind)?;
            // Like the API server, a test for null passes when the member is absent.
            let passed = match get_mut(doc, &tokens)? {
                Some(actual) => json_eq(actual, want),
                None => want.is_null(),
            };
            if passed {
                Ok(())
            } else {
                Err(PatchError::new(format!(
                    "testing value {path} failed: test failed"
                )))
            }
        }
        _ => unreachable!("operation kinds are checked above"),
    }
}

fn string_field<'a>(
    fields: &'a Map<String, Value>,
    name: &str,
    kind: &str,
) -> Result<&'a str, PatchError> {
    match fields.get(name) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(PatchError::new(format!(
            "{kind} operation has an invalid \"{name}\": {other}, expected a JSON pointer string"
        ))),
        None => Err(PatchError::new(format!(
            "{kind} operation is missing \"{name}\""
        ))),
    }
}

fn value_field<'a>(fields: &'a Map<String, Value>, kind: &str) -> Result<&'a Value, PatchError> {
    fields
        .get("value")
        .ok_or_else(|| PatchError::new(format!("{kind} operation is missing \"value\"")))
}

fn missing_from(kind: &str, from: &str) -> PatchError {
    PatchError::new(format!(
        "{kind} operation does not apply: doc is missing from path: {from}: missing value"
    ))
}

/// Splits an RFC 6901 pointer into unescaped reference tokens.
fn parse_pointer(pointer: &str) -> Result<Vec<String>, PatchError> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(PatchError::new(format!(
            "invalid JSON pointer {pointer:?}: it must be empty or start with \"/\""
        )));
    };
    rest.split('/')
        .map(|token| {
            let mut out = String::with_capacity(token.len());
            let mut chars = token.chars();
            while let Some(c) = chars.next() {
                if c != '~' {
                    out.push(c);
                    continue;
                }
                match chars.next() {
                    Some('0') => out.push('~'),
                    Some('1') => out.push('/'),
                    _ => {
                        return Err(PatchError::new(format!(
                            "invalid JSON pointer {pointer:?}: \"~\" must be followed by \"0\" or \"1\""
                        )));
                    }
                }
            }
            Ok(out)
        })
        .collect()
}

/// Parses an array index token: a non-negative decimal without leading zeros.
fn parse_index(token: &str) -> Option<usize> {
    let valid = !token.is_empty()
        && token.bytes().all(|b| b.is_ascii_digit())
        && (token == "0" || !token.starts_with('0'));
    if valid { token.parse().ok() } else { None }
}

fn invalid_index(token: &str) -> PatchError {
    PatchError::new(format!(
        "Unable to access invalid index: {token}: invalid index referenced"
    ))
}

/// The value a pointer refers to; `Ok(None)` when it does not exist. Reads
/// take it through the same walk as writes (the document is mutable here).
fn get_mut<'a>(doc: &'a mut Value, tokens: &[String]) -> Result<Option<&'a mut Value>, PatchError> {
    let mut cur = doc;
    for token in tokens {
        cur = match cur {
            Value::Object(map) => match map.get_mut(token) {
                Some(v) => v,
                None => return Ok(None),
            },
            Value::Array(items) => {
                let idx = parse_index(token).ok_or_else(|| invalid_index(token))?;
                match items.get_mut(idx) {
                    Some(v) => v,
                    None => return Ok(None),
                }
            }
            _ => return Ok(None),
        };
    }
    Ok(Some(cur))
}

fn add(doc: &mut Value, tokens: &[String], path: &str, value: Value) -> Result<(), PatchError> {
    let missing = || {
        PatchError::new(format!(
            "add operation does not apply: doc is missing path: \"{path}\": missing value"
        ))
    };
    // json-patch finds no parent for the whole document
    let Some((last, parent_tokens)) = tokens.split_last() else {
        return Err(missing());
    };
    match get_mut(doc, parent_tokens)?.ok_or_else(missing)? {
        Value::Object(map) => {
            map.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(items) => {
            if last == "-" {
                items.push(value);
                return Ok(());
            }
            let idx = parse_index(last).ok_or_else(|| invalid_index(last))?;
            if idx > items.len() {
                return Err(invalid_index(last));
            }
            items.insert(idx, value);
            Ok(())
        }
        _ => Err(missing()),
    }
}

fn remove(doc: &mut Value, tokens: &[String], path: &str, kind: &str) -> Result<Value, PatchError> {
    let missing = || {
        if kind == "move" {
            missing_from(kind, path)
        } else {
            PatchError::new(format!(
                "remove operation does not apply: doc is missing path: \"{path}\": missing value"
            ))
        }
    };
    let Some((last, parent_tokens)) = tokens.split_last() else {
        return Err(missing());
    };
    match get_mut(doc, parent_tokens)?.ok_or_else(missing)? {
        Value::Object(map) => map.shift_remove(last).ok_or_else(missing),
        Value::Array(items) => {
            let idx = parse_index(last).ok_or_else(|| invalid_index(last))?;
            if idx >= items.len() {
                return Err(missing());
            }
            Ok(items.remove(idx))
        }
        _ => Err(missing()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(target: Value, ops: Value) -> Value {
        json_patch(&target, &ops).unwrap_or_else(|e| panic!("patch failed: {e}"))
    }

    fn err(target: Value, ops: Value) -> String {
        match json_patch(&target, &ops) {
            Ok(v) => panic!("patch unexpectedly succeeded: {v}"),
            Err(e) => e.0,
        }
    }

    #[test]
    fn kubectl_replace_replicas() {
        let out = ok(
            json!({"spec": {"replicas": 1, "paused": false}}),
            json!([{"op": "replace", "path": "/spec/replicas", "value": 3}]),
        );
        assert_eq!(out, json!({"spec": {"replicas": 3, "paused": false}}));
    }

    #[test]
    fn add_object_member_and_overwrite_existing() {
        let out = ok(
            json!({"metadata": {"labels": {"a": "1"}}}),
            json!([
                {"op": "add", "path": "/metadata/labels/b", "value": "2"},
                {"op": "add", "path": "/metadata/labels/a", "value": "x"}
            ]),
        );
        assert_eq!(out, json!({"metadata": {"labels": {"a": "x", "b": "2"}}}));
    }

    #[test]
    fn add_into_array_inserts_and_dash_appends() {
        let out = ok(
            json!({"l": ["a", "c"]}),
            json!([
                {"op": "add", "path": "/l/1", "value": "b"},
                {"op": "add", "path": "/l/-", "value": "d"},
                {"op": "add", "path": "/l/4", "value": "e"},
                {"op": "add", "path": "/l/0", "value": "_"}
            ]),
        );
        assert_eq!(out, json!({"l": ["_", "a", "b", "c", "d", "e"]}));
    }

    #[test]
    fn the_whole_document_is_replaced_only_by_an_object() {
        // as json-patch: no parent to add to or remove from
        assert_eq!(
            err(
                json!({"a": 1}),
                json!([{"op": "add", "path": "", "value": {"b": 1}}])
            ),
            "add operation does not apply: doc is missing path: \"\": missing value"
        );
        assert_eq!(
            err(json!({"a": 1}), json!([{"op": "remove", "path": ""}])),
            "remove operation does not apply: doc is missing path: \"\": missing value"
        );
        assert_eq!(
            err(
                json!({"a": 1}),
                json!([{"op": "replace", "path": "", "value": "x"}])
            ),
            "replace operation value must be object or array"
        );
        // an array replaces it, but the API server cannot read an object from that
        assert_eq!(
            err(
                json!({"a": 1}),
                json!([{"op": "replace", "path": "", "value": [1]}])
            ),
            " \"\" is invalid: patch: Invalid value: \"[1]\": couldn't get version/kind; json parse error: json: cannot unmarshal array into Go value of type struct { APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }"
        );
    }

    #[test]
    fn add_with_missing_parent_fails() {
        let e = err(
            json!({"metadata": {}}),
            json!([{"op": "add", "path": "/metadata/labels/a", "value": "b"}]),
        );
        assert_eq!(
            e,
            "add operation does not apply: doc is missing path: \"/metadata/labels/a\": missing value"
        );
    }

    #[test]
    fn add_past_end_of_array_fails() {
        let e = err(
            json!({"l": [1]}),
            json!([{"op": "add", "path": "/l/2", "value": 3}]),
        );
        assert!(e.contains("invalid index"), "{e}");
    }

    #[test]
    fn remove_member_and_array_element() {
        let out = ok(
            json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "l": [1, 2, 3]}),
            json!([
                {"op": "remove", "path": "/metadata/labels/a"},
                {"op": "remove", "path": "/l/1"}
            ]),
        );
        assert_eq!(
            out,
            json!({"metadata": {"labels": {"b": "2"}}, "l": [1, 3]})
        );
    }

    #[test]
    fn remove_keeps_member_order() {
        let out = ok(
            json!({"a": 1, "b": 2, "c": 3}),
            json!([{"op": "remove", "path": "/a"}]),
        );
        let keys: Vec<&String> = out.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["b", "c"]);
    }

    #[test]
    fn remove_missing_path_fails() {
        let e = err(
            json!({"metadata": {}}),
            json!([{"op": "remove", "path": "/metadata/labels"}]),
        );
        assert_eq!(
            e,
            "remove operation does not apply: doc is missing path: \"/metadata/labels\": missing value"
        );
        let e = err(json!({"l": [1]}), json!([{"op": "remove", "path": "/l/1"}]));
        assert!(e.contains("missing path"), "{e}");
    }

    #[test]
    fn replace_missing_member_fails_and_root_replace_works() {
        let e = err(
            json!({"spec": {}}),
            json!([{"op": "replace", "path": "/spec/replicas", "value": 2}]),
        );
        assert_eq!(
            e,
            "replace operation does not apply: doc is missing key: /spec/replicas: missing value"
        );
        assert_eq!(
            ok(
                json!({"a": 1}),
                json!([{"op": "replace", "path": "", "value": {"b": 2}}])
            ),
            json!({"b": 2})
        );
    }

    #[test]
    fn move_and_copy() {
        let out = ok(
            json!({"a": {"x": 1}, "b": {}, "l": [1, 2, 3]}),
            json!([
                {"op": "move", "from": "/a/x", "path": "/b/y"},
                {"op": "copy", "from": "/b", "path": "/c"},
                {"op": "move", "from": "/l/0", "path": "/l/-"}
            ]),
        );
        assert_eq!(
            out,
            json!({"a": {}, "b": {"y": 1}, "l": [2, 3, 1], "c": {"y": 1}})
        );
    }

    #[test]
    fn move_into_own_child_fails() {
        let e = err(
            json!({"a": {"b": {}}}),
            json!([{"op": "move", "from": "/a", "path": "/a/b/c"}]),
        );
        assert!(e.contains("own child"), "{e}");
    }

    #[test]
    fn move_and_copy_from_missing_path_fail() {
        let e = err(
            json!({}),
            json!([{"op": "move", "from": "/x", "path": "/y"}]),
        );
        assert_eq!(
            e,
            "move operation does not apply: doc is missing from path: /x: missing value"
        );
        let e = err(
            json!({}),
            json!([{"op": "copy", "from": "/x", "path": "/y"}]),
        );
        assert_eq!(
            e,
            "copy operation does not apply: doc is missing from path: /x: missing value"
        );
    }

    #[test]
    fn test_op_passes_and_fails() {
        let doc = json!({"metadata": {"resourceVersion": "7"}, "spec": {"replicas": 2}});
        let out = ok(
            doc.clone(),
            json!([
                {"op": "test", "path": "/metadata/resourceVersion", "value": "7"},
                {"op": "test", "path": "/spec/replicas", "value": 2.0},
                {"op": "replace", "path": "/spec/replicas", "value": 5}
            ]),
        );
        assert_eq!(out["spec"]["replicas"], json!(5));
        let e = err(
            doc,
            json!([{"op": "test", "path": "/metadata/resourceVersion", "value": "8"}]),
        );
        assert_eq!(
            e,
            "testing value /metadata/resourceVersion failed: test failed"
        );
    }

    #[test]
    fn test_null_passes_for_absent_member_like_the_api_server() {
        ok(
            json!({}),
            json!([{"op": "test", "path": "/a", "value": null}]),
        );
        let e = err(json!({}), json!([{"op": "test", "path": "/a", "value": 1}]));
        assert!(e.starts_with("testing value /a failed"), "{e}");
    }

    #[test]
    fn pointer_escapes() {
        let out = ok(
            json!({"metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "a~b": "1"}}}),
            json!([
                {"op": "remove", "path": "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration"},
                {"op": "replace", "path": "/metadata/annotations/a~0b", "value": "2"},
                {"op": "add", "path": "/metadata/annotations/~01", "value": "3"}
            ]),
        );
        assert_eq!(
            out,
            json!({"metadata": {"annotations": {"a~b": "2", "~1": "3"}}})
        );
    }

    #[test]
    fn invalid_pointers_and_indexes_are_rejected() {
        let e = err(json!({}), json!([{"op": "add", "path": "a", "value": 1}]));
        assert!(e.contains("must be empty or start with"), "{e}");
        let e = err(
            json!({}),
            json!([{"op": "add", "path": "/a~2", "value": 1}]),
        );
        assert!(e.contains("\"~\" must be followed"), "{e}");
        let e = err(
            json!({"l": [1, 2]}),
            json!([{"op": "replace", "path": "/l/01", "value": 1}]),
        );
        assert!(e.contains("invalid index"), "{e}");
        let e = err(
            json!({"l": [1, 2]}),
            json!([{"op": "remove", "path": "/l/-"}]),
        );
        assert!(e.contains("invalid index"), "{e}");
    }

    #[test]
    fn malformed_operations_are_rejected() {
        assert!(err(json!({}), json!({"op": "add"})).contains("JSON array"));
        assert!(
            err(json!({}), json!([{"op": "frob", "path": "/a"}])).contains("Unexpected kind: frob")
        );
        assert!(err(json!({}), json!([{"path": "/a"}])).contains("missing \"op\""));
        assert!(err(json!({}), json!([{"op": "add", "value": 1}])).contains("missing \"path\""));
        assert!(err(json!({}), json!([{"op": "add", "path": "/a"}])).contains("missing \"value\""));
        assert!(err(json!({}), json!([{"op": "move", "path": "/a"}])).contains("missing \"from\""));
    }

    #[test]
    fn explicit_null_value_is_a_value() {
        assert_eq!(
            ok(
                json!({}),
                json!([{"op": "add", "path": "/a", "value": null}])
            ),
            json!({"a": null})
        );
    }

    #[test]
    fn a_failing_operation_fails_the_whole_patch() {
        let e = err(
            json!({"spec": {"replicas": 1}}),
            json!([
                {"op": "replace", "path": "/spec/replicas", "value": 9},
                {"op": "test", "path": "/spec/replicas", "value": 9},
                {"op": "remove", "path": "/spec/missing"}
            ]),
        );
        assert_eq!(
            e,
            "remove operation does not apply: doc is missing path: \"/spec/missing\": missing value"
        );
    }

    #[test]
    fn empty_operation_list_is_identity() {
        assert_eq!(ok(json!({"a": [1]}), json!([])), json!({"a": [1]}));
    }
}
