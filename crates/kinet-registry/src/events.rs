//! The event recorder: core/v1 Events about objects, aggregated like client-go's
//! recorder (same object, field, reason and message as a recorded event: count + 1).
//! New events go through the registry's create path like any other object.
//!
//! Finding the event to aggregate with does not scan the store: an index of
//! (namespace, object uid, field path, reason, message) → event key, kept with the
//! store and built from it on first use, plays the part of client-go's
//! EventCorrelator cache. Events live for the API server's `--event-ttl` (1 h):
//! [`expire`] deletes those not updated since, as etcd's lease would.

use crate::{create, key_of, now, resource, strategy};
use kinet_model::json as j;
use kinet_model::resources;
use kinet_store::{Store, StoreError};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// The API server's default `--event-ttl`.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);

/// Past this many entries the index is dropped and rebuilt from the store (entries
/// of events deleted by hand are otherwise only dropped when met).
const MAX_INDEX: usize = 100_000;

/// What makes two events the same one, counted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Identity {
    namespace: String,
    uid: String,
    field_path: Option<String>,
    reason: String,
    message: String,
}

impl Identity {
    fn of_event(e: &Value) -> Identity {
        Identity {
            namespace: j::namespace(e).to_string(),
            uid: j::str_at(e, "/involvedObject/uid").to_string(),
            field_path: j::at(e, "/involvedObject/fieldPath")
                .and_then(Value::as_str)
                .map(String::from),
            reason: j::str_at(e, "/reason").to_string(),
            message: j::str_at(e, "/message").to_string(),
        }
    }
}

/// The recorder's index, kept with the store ([`Store::extension`]); `None` until
/// built from the store's events.
#[derive(Default)]
struct Index(Mutex<Option<HashMap<Identity, String>>>);

impl Index {
    fn of(store: &Store) -> std::sync::Arc<Index> {
        store.extension::<Index>()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<HashMap<Identity, String>>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn build_index(store: &Store) -> HashMap<Identity, String> {
    let r = resource("", "events");
    let (all, _) = store.list(&resources::store_prefix(r, None));
    all.iter()
        .map(|e| (Identity::of_event(e), key_of(r, e)))
        .collect()
}

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
    let id = Identity {
        namespace: ns.to_string(),
        uid: uid.to_string(),
        field_path: field_path.map(String::from),
        reason: reason.to_string(),
        message: message.to_string(),
    };
    // held until the event is written, so that two recorders of one event count it twice
    let index = Index::of(store);
    let mut index = index.lock();
    let map = index.get_or_insert_with(|| build_index(store));
    // aggregate with the event recorded before, if it is still there
    if let Some(key) = map.get(&id) {
        let updated = store.update_with(key, |ev| {
            let ev = strategy::as_object(ev);
            let c = ev.get("count").and_then(Value::as_i64).unwrap_or(1);
            ev.insert("count".into(), json!(c + 1));
            ev.insert("lastTimestamp".into(), json!(ts));
            true
        });
        match updated {
            Err(StoreError::NotFound) => {
                map.remove(&id);
            }
            Err(e) => {
                tracing::debug!("event not recorded: {e}");
                return;
            }
            Ok(_) => return,
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
    match create(store, r, ev) {
        Ok(e) => {
            if map.len() >= MAX_INDEX {
                map.clear();
                *map = build_index(store);
            }
            map.insert(id, key_of(r, &e));
        }
        Err(e) => tracing::debug!("event not recorded: {e}"),
    }
}

/// The event TTL: `KINET_EVENT_TTL` (seconds) if set and valid, else one hour.
pub fn ttl_from_env() -> Duration {
    std::env::var("KINET_EVENT_TTL")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .filter(|&s| s > 0)
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TTL)
}

/// How often [`expire`] should run for `ttl`: a tenth of it, between 1 s and a minute.
pub fn sweep_period(ttl: Duration) -> Duration {
    (ttl / 10).clamp(Duration::from_secs(1), Duration::from_secs(60))
}

/// When an event was last written: `lastTimestamp`, else `eventTime`, else creation.
fn last_write(e: &Value) -> Option<chrono::DateTime<chrono::Utc>> {
    [
        "/lastTimestamp",
        "/eventTime",
        "/metadata/creationTimestamp",
    ]
    .iter()
    .filter_map(|p| j::at(e, p).and_then(Value::as_str))
    .find_map(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
    .map(|t| t.with_timezone(&chrono::Utc))
}

/// Deletes the events (core/v1, any namespace) not written for `ttl`, each with a
/// DELETED watch event, as the expiry of their etcd lease does; returns how many.
/// An event updated meanwhile (its resourceVersion moved) is kept.
pub fn expire(store: &Store, ttl: Duration) -> usize {
    expire_at(store, ttl, chrono::Utc::now())
}

fn expire_at(store: &Store, ttl: Duration, at: chrono::DateTime<chrono::Utc>) -> usize {
    let r = resource("", "events");
    let Ok(ttl) = chrono::Duration::from_std(ttl) else {
        return 0;
    };
    let (all, _) = store.list(&resources::store_prefix(r, None));
    let mut gone = Vec::new();
    for e in all {
        if last_write(&e).is_some_and(|t| t + ttl <= at) {
            let key = key_of(r, &e);
            let rv = kinet_store::resource_version(&e);
            if store.delete(&key, Some(rv)).is_ok() {
                gone.push(e);
            }
        }
    }
    if !gone.is_empty() {
        let index = Index::of(store);
        let mut index = index.lock();
        if let Some(map) = index.as_mut() {
            for e in &gone {
                let id = Identity::of_event(e);
                if map.get(&id).is_some_and(|k| *k == key_of(r, e)) {
                    map.remove(&id);
                }
            }
        }
    }
    gone.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;

    fn pod(name: &str, uid: &str) -> Value {
        json!({"kind": "Pod", "apiVersion": "v1",
               "metadata": {"name": name, "namespace": "team", "uid": uid}})
    }

    fn store() -> Store {
        let s = Store::open(None).unwrap();
        let ns = json!({"metadata": {"name": "team"}});
        create(&s, resource("", "namespaces"), ns).unwrap();
        s
    }

    fn events(store: &Store) -> Vec<std::sync::Arc<Value>> {
        store
            .list(&resources::store_prefix(resource("", "events"), None))
            .0
    }

    #[test]
    fn the_index_counts_repeats_and_keeps_others_apart() {
        let s = store();
        let src = Source::new("kubelet", Some("node1"));
        let (a, b) = (pod("a", "u-a"), pod("b", "u-b"));
        for _ in 0..3 {
            record(&s, &src, &a, None, "Normal", "Pulled", "pulled");
        }
        record(
            &s,
            &src,
            &a,
            Some("spec.containers{c}"),
            "Normal",
            "Pulled",
            "pulled",
        );
        record(&s, &src, &a, None, "Normal", "Started", "pulled");
        record(&s, &src, &a, None, "Normal", "Pulled", "other");
        record(&s, &src, &b, None, "Normal", "Pulled", "pulled");
        let evs = events(&s);
        assert_eq!(evs.len(), 5);
        let counts: Vec<i64> = evs.iter().filter_map(|e| e["count"].as_i64()).collect();
        assert_eq!(counts.iter().sum::<i64>(), 7);
        assert_eq!(Index::of(&s).lock().as_ref().map(HashMap::len), Some(5));
    }

    #[test]
    fn the_index_is_built_from_the_store_and_survives_deletions() {
        let s = store();
        let src = Source::new("kubelet", None);
        let a = pod("a", "u-a");
        record(&s, &src, &a, None, "Normal", "Pulled", "pulled");
        // a new process (an empty index) finds the stored event
        *Index::of(&s).lock() = None;
        record(&s, &src, &a, None, "Normal", "Pulled", "pulled");
        let evs = events(&s);
        assert_eq!((evs.len(), evs[0]["count"].as_i64()), (1, Some(2)));
        // deleted by hand: the next one is new
        let key = key_of(resource("", "events"), &evs[0]);
        s.delete(&key, None).unwrap();
        record(&s, &src, &a, None, "Normal", "Pulled", "pulled");
        let evs = events(&s);
        assert_eq!((evs.len(), evs[0]["count"].as_i64()), (1, Some(1)));
    }

    #[test]
    fn events_expire_after_the_ttl() {
        let s = store();
        let src = Source::new("kubelet", None);
        record(
            &s,
            &src,
            &pod("a", "u-a"),
            None,
            "Normal",
            "Pulled",
            "pulled",
        );
        record(
            &s,
            &src,
            &pod("b", "u-b"),
            None,
            "Normal",
            "Pulled",
            "pulled",
        );
        let ttl = Duration::from_secs(60);
        let now = chrono::Utc::now();
        assert_eq!(expire_at(&s, ttl, now), 0);
        let mut w = s.watch("/", None).unwrap();
        assert_eq!(expire_at(&s, ttl, now + chrono::Duration::seconds(61)), 2);
        assert!(events(&s).is_empty());
        assert_eq!(Index::of(&s).lock().as_ref().map(HashMap::len), Some(0));
        // the watch sees them go (ready at once: polled with a no-op waker)
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let next = std::pin::pin!(w.next());
        match next.poll(&mut cx) {
            std::task::Poll::Ready(Ok(e)) => assert_eq!(e.kind, kinet_store::EventType::Deleted),
            _ => panic!("no DELETED watch event"),
        }
        // recorded again: a new event
        record(
            &s,
            &src,
            &pod("a", "u-a"),
            None,
            "Normal",
            "Pulled",
            "pulled",
        );
        assert_eq!(events(&s)[0]["count"], 1);
    }

    #[test]
    fn ttl_and_period() {
        assert_eq!(sweep_period(DEFAULT_TTL), Duration::from_secs(60));
        assert_eq!(sweep_period(Duration::from_secs(3)), Duration::from_secs(1));
    }
}
