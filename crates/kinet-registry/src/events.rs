//! The event recorder: core/v1 Events about objects, aggregated like client-go's
//! recorder (same object, reason and message within ten minutes: count + 1).

use crate::objects::{self, now};
use kinet_model::resources;
use kinet_store::Store;
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct Source {
    pub component: String,
    pub host: Option<String>,
}

impl Source {
    pub fn new(component: &str, host: Option<&str>) -> Self {
        Source {
            component: component.into(),
            host: host.map(String::from),
        }
    }
}

/// Records an event about `obj` (`kind` is "Normal" or "Warning").
pub fn record(
    store: &Store,
    src: &Source,
    obj: &Value,
    field_path: Option<&str>,
    typ: &str,
    reason: &str,
    message: &str,
) {
    let r = objects::resource("", "events");
    let ns = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default");
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let uid = obj
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("");
    let ts = now();
    // aggregate with an identical recent event
    let (existing, _) = store.list(&resources::store_prefix(r, Some(ns)));
    for e in existing {
        if e.pointer("/involvedObject/uid").and_then(Value::as_str) == Some(uid)
            && e["reason"] == reason
            && e["message"] == message
            && e.pointer("/involvedObject/fieldPath")
                .and_then(Value::as_str)
                == field_path
        {
            let key = objects::key_of(r, &e);
            let _ = store.update_with(&key, |ev| {
                let c = ev["count"].as_i64().unwrap_or(1);
                ev["count"] = json!(c + 1);
                ev["lastTimestamp"] = json!(ts);
                true
            });
            return;
        }
    }
    let mut involved = json!({
        "kind": obj["kind"],
        "namespace": obj.pointer("/metadata/namespace"),
        "name": name,
        "uid": uid,
        "apiVersion": obj["apiVersion"],
        "resourceVersion": obj.pointer("/metadata/resourceVersion"),
    });
    if let Some(fp) = field_path {
        involved["fieldPath"] = json!(fp);
    }
    if let Some(m) = involved.as_object_mut() {
        m.retain(|_, v| !v.is_null());
    }
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
    let mut source = json!({"component": src.component});
    if let Some(h) = &src.host {
        source["host"] = json!(h);
    }
    let ev = json!({
        "metadata": {"name": format!("{name}.{nanos:x}"), "namespace": ns},
        "involvedObject": involved,
        "reason": reason,
        "message": message,
        "source": source,
        "firstTimestamp": ts,
        "lastTimestamp": ts,
        "count": 1,
        "type": typ,
        "eventTime": null,
        "reportingComponent": src.component,
        "reportingInstance": src.host.clone().unwrap_or_default(),
    });
    if let Err(e) = objects::create(store, r, ev) {
        tracing::debug!("event not recorded: {e}");
    }
}
