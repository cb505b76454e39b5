//! The scheduler: binds each pending pod to a node, as `default-scheduler` does,
//! and explains why when no node fits.

use kinet_model::json as j;
use kinet_model::selector::labels_of;
use kinet_registry::events::{self, Source};
use kinet_registry::{key_of, now, resource};
use kinet_store::Store;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Picks a node for `pod` among `nodes` given how many pods each runs: nodeSelector,
/// readiness and cordons honoured, least loaded first, then by name.
/// Err is the FailedScheduling message.
pub fn pick_node(
    pod: &Value,
    nodes: &[Arc<Value>],
    load: &BTreeMap<String, usize>,
) -> Result<String, String> {
    if nodes.is_empty() {
        return Err("no nodes available to schedule pods".into());
    }
    let selector: BTreeMap<String, String> = pod
        .pointer("/spec/nodeSelector")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").into()))
                .collect()
        })
        .unwrap_or_default();
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    let mut fit: Vec<(usize, String)> = Vec::new();
    for n in nodes {
        let name = n
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let ready = n
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            });
        let labels = labels_of(n);
        if !ready {
            *reasons
                .entry("node(s) had untolerated taint {node.kubernetes.io/not-ready: }")
                .or_default() += 1;
        } else if n.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
            *reasons.entry("node(s) were unschedulable").or_default() += 1;
        } else if !selector.iter().all(|(k, v)| labels.get(k) == Some(v)) {
            *reasons
                .entry("node(s) didn't match Pod's node affinity/selector")
                .or_default() += 1;
        } else {
            fit.push((load.get(&name).copied().unwrap_or(0), name));
        }
    }
    fit.sort();
    match fit.first() {
        Some((_, n)) => Ok(n.clone()),
        None => {
            let parts: Vec<String> = reasons.iter().map(|(r, c)| format!("{c} {r}")).collect();
            Err(format!(
                "0/{} nodes are available: {}. preemption: 0/{} nodes are available: {} Preemption is not helpful for scheduling.",
                nodes.len(),
                parts.join(", "),
                nodes.len(),
                nodes.len()
            ))
        }
    }
}

fn pending(p: &Value) -> bool {
    p.pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
        && p.pointer("/metadata/deletionTimestamp").is_none()
        && p.pointer("/spec/schedulerName")
            .and_then(Value::as_str)
            .unwrap_or("default-scheduler")
            == "default-scheduler"
}

/// Runs the scheduler until the store closes.
pub async fn run(store: Arc<Store>) {
    let pods = resource("", "pods");
    let nodes_r = resource("", "nodes");
    let src = Source::new("default-scheduler", None);
    let mut failed: BTreeMap<String, String> = BTreeMap::new();
    loop {
        let (all, rev) = store.list(&kinet_model::resources::store_prefix(pods, None));
        let (nodes, _) = store.list(&kinet_model::resources::store_prefix(nodes_r, None));
        let mut load: BTreeMap<String, usize> = BTreeMap::new();
        for p in &all {
            if let Some(n) = p.pointer("/spec/nodeName").and_then(Value::as_str) {
                *load.entry(n.to_string()).or_default() += 1;
            }
        }
        for p in all.iter().filter(|p| pending(p)) {
            let key = key_of(pods, p);
            match pick_node(p, &nodes, &load) {
                Ok(node) => {
                    let bound = store.update_with(&key, |o| {
                        if !pending(o) {
                            return false;
                        }
                        j::object_mut(o, &["spec"]).insert("nodeName".into(), json!(node));
                        set_scheduled(o, "True", None, None);
                        true
                    });
                    if let Ok(o) = bound {
                        *load.entry(node.clone()).or_default() += 1;
                        failed.remove(&key);
                        let (ns, name) = (j::namespace(&o), j::name(&o));
                        events::record(
                            &store,
                            &src,
                            &o,
                            None,
                            "Normal",
                            "Scheduled",
                            &format!("Successfully assigned {ns}/{name} to {node}"),
                        );
                    }
                }
                Err(msg) => {
                    if failed.get(&key) != Some(&msg) {
                        failed.insert(key.clone(), msg.clone());
                        if let Ok(o) = store.update_with(&key, |o| {
                            set_scheduled(o, "False", Some("Unschedulable"), Some(&msg));
                            true
                        }) {
                            events::record(
                                &store,
                                &src,
                                &o,
                                None,
                                "Warning",
                                "FailedScheduling",
                                &msg,
                            );
                        }
                    }
                }
            }
        }
        // wait for a change to pods or nodes (or retry unschedulable pods every second)
        let Ok(mut wp) = store.watch("/core/", Some(rev)) else {
            continue;
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while let Ok(ev) = wp.next().await {
                if ev.key.starts_with("/core/pods/") || ev.key.starts_with("/core/nodes/") {
                    break;
                }
            }
        })
        .await;
    }
}

fn set_scheduled(o: &mut Value, status: &str, reason: Option<&str>, message: Option<&str>) {
    let mut cond = json!({"type": "PodScheduled", "status": status, "lastProbeTime": null, "lastTransitionTime": now()});
    if let Some(r) = reason {
        cond["reason"] = json!(r);
    }
    if let Some(m) = message {
        cond["message"] = json!(m);
    }
    if !o["status"].is_object() {
        o["status"] = json!({"phase": "Pending"});
    }
    if let Some(st) = o["status"].as_object_mut()
        && let Some(a) = st
            .entry("conditions")
            .or_insert_with(|| json!([]))
            .as_array_mut()
    {
        a.retain(|c| c["type"] != "PodScheduled");
        a.push(cond);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, ready: bool, labels: Value) -> Arc<Value> {
        Arc::new(json!({"metadata": {"name": name, "labels": labels},
            "status": {"conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}}))
    }

    #[test]
    fn least_loaded_ready_node_wins() {
        let nodes = vec![
            node("node1", true, json!({})),
            node("node2", true, json!({})),
            node("node3", false, json!({})),
        ];
        let load: BTreeMap<String, usize> =
            [("node1".to_string(), 2), ("node2".to_string(), 1)].into();
        assert_eq!(
            pick_node(&json!({"spec": {}}), &nodes, &load).unwrap(),
            "node2"
        );
        assert_eq!(
            pick_node(&json!({"spec": {}}), &nodes, &BTreeMap::new()).unwrap(),
            "node1"
        );
    }

    #[test]
    fn node_selector_and_explanations() {
        let nodes = vec![
            node("node1", true, json!({"disk": "hdd"})),
            node("node2", true, json!({"disk": "ssd"})),
        ];
        let pod = json!({"spec": {"nodeSelector": {"disk": "ssd"}}});
        assert_eq!(pick_node(&pod, &nodes, &BTreeMap::new()).unwrap(), "node2");
        let pod = json!({"spec": {"nodeSelector": {"disk": "nvme"}}});
        let err = pick_node(&pod, &nodes, &BTreeMap::new()).unwrap_err();
        assert!(
            err.starts_with(
                "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector."
            ),
            "{err}"
        );
    }
}
