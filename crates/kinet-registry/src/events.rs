//! The event recorder: core/v1 Events about objects, aggregated like client-go's
//! recorder (same object, reason and message within ten minutes: count + 1).
//! New events go through the registry's create path like any other object.

use crate::{create, key_of, now, resource, strategy};
use kinet_model::json as j;
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
    let r = resource("", "events");
    let ns = match j::namespace(obj) {
        "" => "default",
        n => n,
    };
    let name = j::name(obj);
    let uid = j::str_at(obj, "/metadata/uid");
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
            let key = key_of(r, &e);
            let _ = store.update_with(&key, |ev| {
                let ev = strategy::as_object(ev);
                let c = ev.get("count").and_then(Value::as_i64).unwrap_or(1);
                ev.insert("count".into(), json!(c + 1));
                ev.insert("lastTimestamp".into(), json!(ts));
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
    if let Err(e) = create(store, r, ev) {
        tracing::debug!("event not recorded: {e}");
    }
}
