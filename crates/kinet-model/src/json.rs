//! The one set of JSON accessors for objects kept as `serde_json::Value`.
//!
//! Paths are JSON pointers (`/spec/nodeName`). Every accessor treats a missing
//! field, a `null` and a value of another type alike: it answers the type's
//! empty value, never panics.

use serde_json::{Map, Value};

/// The value at `path`, None when missing or null.
pub fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    v.pointer(path).filter(|v| !v.is_null())
}

/// The string at `path`, `""` when missing or not a string.
pub fn str_at<'a>(v: &'a Value, path: &str) -> &'a str {
    at(v, path).and_then(Value::as_str).unwrap_or("")
}

/// The array at `path`, empty when missing or not an array.
pub fn arr_at<'a>(v: &'a Value, path: &str) -> &'a [Value] {
    at(v, path)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The object at `path`, None when missing or not an object.
pub fn obj_at<'a>(v: &'a Value, path: &str) -> Option<&'a Map<String, Value>> {
    at(v, path).and_then(Value::as_object)
}

/// The integer at `path`, None when missing or not an integer.
pub fn int_at(v: &Value, path: &str) -> Option<i64> {
    at(v, path).and_then(Value::as_i64)
}

/// The boolean at `path`, false when missing or not a boolean.
pub fn bool_at(v: &Value, path: &str) -> bool {
    at(v, path).and_then(Value::as_bool).unwrap_or(false)
}

/// A `map[string]string` at `path` (labels, annotations, data) as pairs in the
/// object's order; non-string values are rendered as JSON, null as `""`.
pub fn string_map_at(v: &Value, path: &str) -> Vec<(String, String)> {
    obj_at(v, path)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) => s.clone(),
                        Value::Null => String::new(),
                        other => other.to_string(),
                    };
                    (k.clone(), v)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `metadata.name`.
pub fn name(obj: &Value) -> &str {
    str_at(obj, "/metadata/name")
}

/// `metadata.namespace` (`""` for cluster-scoped objects).
pub fn namespace(obj: &Value) -> &str {
    str_at(obj, "/metadata/namespace")
}

/// The object at `path` below `v`, made an object on the way: a missing or
/// non-object value becomes `{}`. For writes into stored objects, where
/// `v["spec"]["x"] = …` would panic on a `spec` of another shape.
pub fn object_mut<'a>(v: &'a mut Value, path: &[&str]) -> &'a mut Map<String, Value> {
    fn ensure(v: &mut Value) -> &mut Map<String, Value> {
        if !v.is_object() {
            *v = Value::Object(Map::new());
        }
        match v {
            Value::Object(m) => m,
            _ => unreachable!("made an object above"),
        }
    }
    let mut cur = v;
    for key in path {
        cur = ensure(cur).entry(*key).or_insert(Value::Null);
    }
    ensure(cur)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accessors_answer_empty_values_for_missing_null_and_wrong_types() {
        let v = json!({"a": {"s": "x", "n": 3, "b": true, "l": [1, 2], "z": null,
                             "m": {"k": "v", "i": 5, "nil": null}}});
        assert_eq!(str_at(&v, "/a/s"), "x");
        assert_eq!(str_at(&v, "/a/n"), "");
        assert_eq!(str_at(&v, "/a/missing"), "");
        assert_eq!(int_at(&v, "/a/n"), Some(3));
        assert_eq!(int_at(&v, "/a/s"), None);
        assert!(bool_at(&v, "/a/b"));
        assert!(!bool_at(&v, "/a/z"));
        assert_eq!(arr_at(&v, "/a/l").len(), 2);
        assert!(arr_at(&v, "/a/s").is_empty());
        assert!(at(&v, "/a/z").is_none());
        assert!(obj_at(&v, "/a/m").is_some());
        assert_eq!(
            string_map_at(&v, "/a/m"),
            vec![
                ("k".into(), "v".into()),
                ("i".into(), "5".into()),
                ("nil".into(), String::new())
            ]
        );
    }

    #[test]
    fn metadata_shortcuts() {
        let v = json!({"metadata": {"name": "web", "namespace": "demo"}});
        assert_eq!(name(&v), "web");
        assert_eq!(namespace(&v), "demo");
        assert_eq!(namespace(&json!({})), "");
    }

    #[test]
    fn object_mut_makes_objects_of_any_shape() {
        let mut v = json!({"spec": "x", "metadata": {"labels": [1]}});
        object_mut(&mut v, &["spec"]).insert("renewTime".into(), json!("t"));
        object_mut(&mut v, &["metadata", "labels"]).insert("a".into(), json!("b"));
        object_mut(&mut v, &["status", "x"]).insert("y".into(), json!(1));
        assert_eq!(
            v,
            json!({"spec": {"renewTime": "t"}, "metadata": {"labels": {"a": "b"}}, "status": {"x": {"y": 1}}})
        );
        let mut s = json!("scalar");
        assert!(object_mut(&mut s, &[]).is_empty());
    }
}
