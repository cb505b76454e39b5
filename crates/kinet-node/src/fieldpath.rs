//! A pod's field by its `fieldPath`, the one resolver for downward API volumes and
//! env `fieldRef`s (kubelet's `podFieldSelectorRuntimeValue` over
//! `fieldpath.ExtractFieldPathAsString`). Pure.
//!
//! Paths: `metadata.name`, `metadata.namespace`, `metadata.uid`, `metadata.labels`
//! and `metadata.annotations` (whole, as `key="value"` lines), `metadata.labels['k']`
//! and `metadata.annotations['k']`, `spec.nodeName`, `spec.serviceAccountName`,
//! `status.podIP`, `status.podIPs`, `status.hostIP`, `status.hostIPs` (the lists
//! comma-joined). Anything else is `unsupported fieldPath: …`.

use kinet_model::json::{arr_at, obj_at, str_at};
use kinet_model::quote::go_quote;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Labels or annotations as the downward API writes them: `key="value"` lines,
/// sorted by key, without a final newline (`fieldpath.FormatMap`).
pub fn format_map(m: Option<&Map<String, Value>>) -> String {
    let sorted: BTreeMap<&String, &str> = m
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k, v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    sorted
        .iter()
        .map(|(k, v)| format!("{k}={}", go_quote(v)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The key of a subscripted path (`metadata.labels['k']`; also `[k]` and `["k"]`).
fn subscript(path: &str, prefix: &str) -> Option<String> {
    path.strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('['))
        .and_then(|r| r.strip_suffix(']'))
        .map(|k| k.trim_matches(|c| c == '\'' || c == '"').to_string())
}

/// A list of `{ip}` objects (`status.podIPs`), comma-joined; the single field
/// when the list is missing.
fn ips(pod: &Value, list: &str, single: &str) -> String {
    let all: Vec<&str> = arr_at(pod, list)
        .iter()
        .map(|i| str_at(i, "/ip"))
        .filter(|ip| !ip.is_empty())
        .collect();
    if all.is_empty() {
        str_at(pod, single).to_string()
    } else {
        all.join(",")
    }
}

/// The value of `path` in `pod` (see the module docs); the error is kubelet's.
pub fn field_value(pod: &Value, path: &str) -> Result<String, String> {
    let map_key = |field: &str, key: &str| {
        obj_at(pod, &format!("/metadata/{field}"))
            .and_then(|m| m.get(key))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    Ok(match path {
        "metadata.name" => str_at(pod, "/metadata/name").to_string(),
        "metadata.namespace" => str_at(pod, "/metadata/namespace").to_string(),
        "metadata.uid" => str_at(pod, "/metadata/uid").to_string(),
        "metadata.labels" => format_map(obj_at(pod, "/metadata/labels")),
        "metadata.annotations" => format_map(obj_at(pod, "/metadata/annotations")),
        "spec.nodeName" => str_at(pod, "/spec/nodeName").to_string(),
        "spec.serviceAccountName" => str_at(pod, "/spec/serviceAccountName").to_string(),
        "status.podIP" => str_at(pod, "/status/podIP").to_string(),
        "status.podIPs" => ips(pod, "/status/podIPs", "/status/podIP"),
        "status.hostIP" => str_at(pod, "/status/hostIP").to_string(),
        "status.hostIPs" => ips(pod, "/status/hostIPs", "/status/hostIP"),
        _ => {
            if let Some(k) = subscript(path, "metadata.labels") {
                map_key("labels", &k)
            } else if let Some(k) = subscript(path, "metadata.annotations") {
                map_key("annotations", &k)
            } else {
                return Err(format!("unsupported fieldPath: {path}"));
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Value {
        json!({
            "metadata": {"name": "web", "namespace": "shop", "uid": "u-1",
                "labels": {"tier": "front", "app": "web"},
                "annotations": {"note": "say \"hi\"\nbye"}},
            "spec": {"nodeName": "node1", "serviceAccountName": "builder"},
            "status": {"podIP": "10.1.1.5", "podIPs": [{"ip": "10.1.1.5"}],
                "hostIP": "192.168.1.10", "hostIPs": [{"ip": "192.168.1.10"}, {"ip": "fd00::10"}]}
        })
    }

    #[test]
    fn metadata() {
        let p = pod();
        assert_eq!(field_value(&p, "metadata.name").unwrap(), "web");
        assert_eq!(field_value(&p, "metadata.namespace").unwrap(), "shop");
        assert_eq!(field_value(&p, "metadata.uid").unwrap(), "u-1");
        assert_eq!(
            field_value(&p, "metadata.labels").unwrap(),
            "app=\"web\"\ntier=\"front\"",
            "sorted, quoted as Go does"
        );
        assert_eq!(
            field_value(&p, "metadata.annotations").unwrap(),
            "note=\"say \\\"hi\\\"\\nbye\""
        );
    }

    #[test]
    fn subscripts() {
        let p = pod();
        assert_eq!(field_value(&p, "metadata.labels['tier']").unwrap(), "front");
        assert_eq!(field_value(&p, "metadata.labels[\"app\"]").unwrap(), "web");
        assert_eq!(field_value(&p, "metadata.labels['none']").unwrap(), "");
        assert_eq!(
            field_value(&p, "metadata.annotations['note']").unwrap(),
            "say \"hi\"\nbye"
        );
    }

    #[test]
    fn spec_and_status() {
        let p = pod();
        assert_eq!(field_value(&p, "spec.nodeName").unwrap(), "node1");
        assert_eq!(
            field_value(&p, "spec.serviceAccountName").unwrap(),
            "builder"
        );
        assert_eq!(field_value(&p, "status.podIP").unwrap(), "10.1.1.5");
        assert_eq!(field_value(&p, "status.podIPs").unwrap(), "10.1.1.5");
        assert_eq!(field_value(&p, "status.hostIP").unwrap(), "192.168.1.10");
        assert_eq!(
            field_value(&p, "status.hostIPs").unwrap(),
            "192.168.1.10,fd00::10"
        );
        let only = json!({"status": {"podIP": "10.1.1.6"}});
        assert_eq!(field_value(&only, "status.podIPs").unwrap(), "10.1.1.6");
        assert_eq!(field_value(&json!({}), "status.podIP").unwrap(), "");
    }

    #[test]
    fn unknown_paths_are_errors() {
        assert_eq!(
            field_value(&pod(), "spec.nosuch").unwrap_err(),
            "unsupported fieldPath: spec.nosuch"
        );
        assert_eq!(
            field_value(&pod(), "spec.nodeName['x']").unwrap_err(),
            "unsupported fieldPath: spec.nodeName['x']"
        );
    }
}
