//! JSON merge patch, RFC 7386 (`application/merge-patch+json`).

use serde_json::{Map, Value};

/// Applies an RFC 7386 merge patch: objects merge recursively, `null`
/// removes a member, anything else (arrays included) replaces the target.
/// Existing members keep their position; new members are appended in patch
/// order.
pub fn json_merge_patch(target: &Value, patch: &Value) -> Value {
    let Value::Object(patch) = patch else {
        return patch.clone();
    };
    let mut out = match target {
        Value::Object(t) => t.clone(),
        _ => Map::new(),
    };
    for (key, value) in patch {
        if value.is_null() {
            out.shift_remove(key);
            continue;
        }
        let merged = match out.get(key) {
            Some(current) => json_merge_patch(current, value),
            None => json_merge_patch(&Value::Null, value),
        };
        out.insert(key.clone(), merged);
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Every example of RFC 7386 appendix A.
    #[test]
    fn rfc7386_appendix_a() {
        let cases = [
            (json!({"a":"b"}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"b"}), json!({"b":"c"}), json!({"a":"b","b":"c"})),
            (json!({"a":"b"}), json!({"a":null}), json!({})),
            (
                json!({"a":"b","b":"c"}),
                json!({"a":null}),
                json!({"b":"c"}),
            ),
            (json!({"a":["b"]}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"c"}), json!({"a":["b"]}), json!({"a":["b"]})),
            (
                json!({"a":{"b":"c"}}),
                json!({"a":{"b":"d","c":null}}),
                json!({"a":{"b":"d"}}),
            ),
            (json!({"a":[{"b":"c"}]}), json!({"a":[1]}), json!({"a":[1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a":"b"}), json!(["c"]), json!(["c"])),
            (json!({"a":"foo"}), json!(null), json!(null)),
            (json!({"a":"foo"}), json!("bar"), json!("bar")),
            (json!({"e":null}), json!({"a":1}), json!({"e":null,"a":1})),
            (json!([1, 2]), json!({"a":"b","c":null}), json!({"a":"b"})),
            (
                json!({}),
                json!({"a":{"bb":{"ccc":null}}}),
                json!({"a":{"bb":{}}}),
            ),
        ];
        for (target, patch, want) in cases {
            assert_eq!(
                json_merge_patch(&target, &patch),
                want,
                "target {target} patch {patch}"
            );
        }
    }

    #[test]
    fn scale_patch_changes_replicas_only() {
        let deploy = json!({
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}}
        });
        let out = json_merge_patch(&deploy, &json!({"spec": {"replicas": 3}}));
        assert_eq!(
            out,
            json!({
                "metadata": {"name": "web", "labels": {"app": "web"}},
                "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}}
            })
        );
    }

    #[test]
    fn lists_are_replaced_not_merged() {
        let pod = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        let out = json_merge_patch(
            &pod,
            &json!({"spec": {"containers": [{"name": "b", "image": "x"}]}}),
        );
        assert_eq!(
            out,
            json!({"spec": {"containers": [{"name": "b", "image": "x"}]}})
        );
    }

    #[test]
    fn member_order_is_kept_and_new_members_are_appended() {
        let target = json!({"a": 1, "b": 2, "c": 3});
        let out = json_merge_patch(&target, &json!({"d": 4, "b": null, "a": 5}));
        let keys: Vec<&String> = out.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["a", "c", "d"]);
        assert_eq!(out, json!({"a": 5, "c": 3, "d": 4}));
    }

    #[test]
    fn null_for_missing_member_is_a_no_op() {
        let target = json!({"metadata": {"labels": {"x": "y"}}});
        let out = json_merge_patch(&target, &json!({"metadata": {"labels": {"gone": null}}}));
        assert_eq!(out, target);
    }
}
