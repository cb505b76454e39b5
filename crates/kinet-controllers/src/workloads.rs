//! Deployments, ReplicaSets and garbage collection, as kube-controller-manager
//! runs them: pod-template-hash ReplicaSets, rolling updates within maxSurge and
//! maxUnavailable, pods created from templates with owner references, and
//! dependents deleted once their owner is gone.

use crate::events::{self, Source};
use crate::objects::{self, now};
use kinet_model::resources::{self, Resource};
use kinet_model::selector::LabelSelector;
use kinet_store::Store;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

fn s<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or("")
}

fn replicas(v: &Value, p: &str) -> i64 {
    v.pointer(p).and_then(Value::as_i64).unwrap_or(0)
}

/// FNV-1a (32 bit), as Kubernetes hashes pod templates.
pub fn fnv32a(data: &[u8]) -> u32 {
    let mut h: u32 = 0x811c9dc5;
    for b in data {
        h ^= *b as u32;
        h = h.wrapping_mul(0x01000193);
    }
    h
}

/// Upstream's SafeEncodeString: digits mapped to consonants and digits that never spell words.
pub fn safe_encode(s: &str) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    s.bytes()
        .map(|b| ALPHANUMS[b as usize % ALPHANUMS.len()] as char)
        .collect()
}

/// The same value with object keys sorted and nulls dropped, so equal templates
/// hash alike whatever order their fields arrived in.
pub fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            // null is Go's zero value: `creationTimestamp: null` and no creationTimestamp are alike
            Value::Object(
                keys.into_iter()
                    .filter(|k| !m[*k].is_null())
                    .map(|k| (k.clone(), canonical(&m[k])))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// Two pod templates are the same rollout when they differ at most in pod-template-hash.
fn same_template(a: &Value, b: &Value) -> bool {
    let strip = |t: &Value| {
        let mut t = t.clone();
        if let Some(l) = t
            .pointer_mut("/metadata/labels")
            .and_then(Value::as_object_mut)
        {
            l.remove("pod-template-hash");
        }
        canonical(&t)
    };
    strip(a) == strip(b)
}

/// The pod-template-hash label value of a template (and collision count).
pub fn template_hash(template: &Value, collisions: i64) -> String {
    let mut t = template.clone();
    if let Some(l) = t
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        l.remove("pod-template-hash");
    }
    let mut data = serde_json::to_vec(&canonical(&t)).unwrap_or_default();
    if collisions > 0 {
        data.extend_from_slice(collisions.to_string().as_bytes());
    }
    safe_encode(&fnv32a(&data).to_string())
}

/// Resolves an IntOrString (`3` or `"25%"`) against `total`, rounding up or down.
pub fn resolve_int_or_percent(v: Option<&Value>, total: i64, round_up: bool, default: &str) -> i64 {
    let v = v.cloned().unwrap_or_else(|| json!(default));
    match v {
        Value::Number(n) => n.as_i64().unwrap_or(0),
        Value::String(s) => match s.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()) {
            Some(p) => {
                let x = p * total;
                if round_up { (x + 99) / 100 } else { x / 100 }
            }
            None => s.parse().unwrap_or(0),
        },
        _ => 0,
    }
}

fn owner_ref(owner: &Value, kind: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": kind, "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true})
}

fn controlled_by(o: &Value, uid: &str) -> bool {
    o.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|refs| {
            refs.iter()
                .any(|r| r["uid"] == uid && r["controller"] == true)
        })
}

fn is_ready(p: &Value) -> bool {
    p.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

fn active(p: &Value) -> bool {
    p.pointer("/metadata/deletionTimestamp").is_none()
        && !matches!(s(p, "/status/phase"), "Succeeded" | "Failed")
}

/// Marks a pod for graceful deletion (or deletes it if no node runs it).
pub fn delete_pod(store: &Store, pod: &Value) {
    let r = objects::resource("", "pods");
    let key = objects::key_of(r, pod);
    let on_node = !s(pod, "/spec/nodeName").is_empty() && active(pod);
    if on_node {
        let grace = pod
            .pointer("/spec/terminationGracePeriodSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(30);
        let _ = store.update_with(&key, |p| {
            if p.pointer("/metadata/deletionTimestamp").is_some() {
                return false;
            }
            p["metadata"]["deletionTimestamp"] = json!(now());
            p["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
            true
        });
    } else {
        let _ = store.delete(&key, None);
    }
}

pub struct Workloads {
    store: Arc<Store>,
    pods: &'static Resource,
    rs: &'static Resource,
    deploy: &'static Resource,
    sts: &'static Resource,
    ds: &'static Resource,
    /// When each owner last got a FailedCreate event (retries are not all recorded).
    failures: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
}

impl Workloads {
    pub fn new(store: Arc<Store>) -> Self {
        Workloads {
            store,
            failures: Default::default(),
            pods: objects::resource("", "pods"),
            rs: objects::resource("apps", "replicasets"),
            deploy: objects::resource("apps", "deployments"),
            sts: objects::resource("apps", "statefulsets"),
            ds: objects::resource("apps", "daemonsets"),
        }
    }

    /// Runs until the store closes: reconcile everything, then wait for a change.
    pub async fn run(self) {
        loop {
            let rev = self.store.rev();
            self.reconcile_deployments();
            self.reconcile_replicasets();
            self.reconcile_statefulsets();
            self.reconcile_daemonsets();
            self.collect_garbage();
            let Ok(mut w) = self.store.watch("/", Some(rev)) else {
                continue;
            };
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                while let Ok(ev) = w.next().await {
                    if !ev.key.starts_with("/core/events/")
                        && !ev.key.starts_with("/coordination.k8s.io/")
                    {
                        break;
                    }
                }
            })
            .await;
        }
    }

    /// A pod the API refused (ServiceAccount admission): a FailedCreate event on its
    /// owner, at most every 10 s while it keeps failing.
    fn failed_create(
        &self,
        src: &Source,
        owner: &Value,
        e: kinet_registry::ApiError,
        msg: impl Fn(&str) -> String,
    ) {
        let why = e.message;
        let uid = s(owner, "/metadata/uid").to_string();
        let now = std::time::Instant::now();
        {
            let mut f = self.failures.lock().unwrap();
            if f.get(&uid)
                .is_some_and(|t| now.duration_since(*t) < Duration::from_secs(10))
            {
                return;
            }
            f.insert(uid, now);
        }
        events::record(
            &self.store,
            src,
            owner,
            None,
            "Warning",
            "FailedCreate",
            &msg(&why),
        );
    }

    fn list(&self, r: &Resource, ns: Option<&str>) -> Vec<Arc<Value>> {
        self.store.list(&resources::store_prefix(r, ns)).0
    }

    fn reconcile_replicasets(&self) {
        let src = Source::new("replicaset-controller", None);
        for rs in self.list(self.rs, None) {
            if rs.pointer("/metadata/deletionTimestamp").is_some() {
                continue;
            }
            let ns = s(&rs, "/metadata/namespace").to_string();
            let uid = s(&rs, "/metadata/uid").to_string();
            let want = rs
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let pods: Vec<Arc<Value>> = self
                .list(self.pods, Some(&ns))
                .into_iter()
                .filter(|p| controlled_by(p, &uid))
                .collect();
            let live: Vec<&Arc<Value>> = pods.iter().filter(|p| active(p)).collect();
            let have = live.len() as i64;
            if have < want {
                for _ in have..want {
                    let mut meta = rs
                        .pointer("/spec/template/metadata")
                        .cloned()
                        .unwrap_or(json!({}));
                    if !meta.is_object() {
                        meta = json!({});
                    }
                    meta["generateName"] = json!(format!("{}-", s(&rs, "/metadata/name")));
                    let name = format!("{}-{}", s(&rs, "/metadata/name"), crate::random_suffix(5));
                    meta["name"] = json!(name);
                    meta["namespace"] = json!(ns);
                    meta["ownerReferences"] = json!([owner_ref(&rs, "ReplicaSet")]);
                    if let Some(m) = meta.as_object_mut() {
                        m.remove("creationTimestamp");
                    }
                    let pod = json!({"metadata": meta, "spec": rs.pointer("/spec/template/spec").cloned().unwrap_or(json!({}))});
                    match objects::create(&self.store, self.pods, pod) {
                        Ok(_) => events::record(
                            &self.store,
                            &src,
                            &rs,
                            None,
                            "Normal",
                            "SuccessfulCreate",
                            &format!("Created pod: {name}"),
                        ),
                        Err(e) => {
                            self.failed_create(&src, &rs, e, |w| format!("Error creating: {w}"));
                            break;
                        }
                    }
                }
            } else if have > want {
                // delete the least useful first: unscheduled, not ready, newest
                let mut victims: Vec<&Arc<Value>> = live.clone();
                victims.sort_by_key(|p| {
                    (
                        !s(p, "/spec/nodeName").is_empty(),
                        is_ready(p),
                        std::cmp::Reverse(s(p, "/metadata/creationTimestamp").to_string()),
                    )
                });
                for p in victims.into_iter().take((have - want) as usize) {
                    delete_pod(&self.store, p);
                    events::record(
                        &self.store,
                        &src,
                        &rs,
                        None,
                        "Normal",
                        "SuccessfulDelete",
                        &format!("Deleted pod: {}", s(p, "/metadata/name")),
                    );
                }
            }
            let ready = live.iter().filter(|p| is_ready(p)).count() as i64;
            let selector =
                LabelSelector::from_object(rs.pointer("/spec/selector").unwrap_or(&Value::Null))
                    .unwrap_or_default();
            let labeled = live.iter().filter(|p| selector.matches_object(p)).count() as i64;
            let generation = rs
                .pointer("/metadata/generation")
                .cloned()
                .unwrap_or(json!(1));
            let mut st = json!({"replicas": live.len(), "fullyLabeledReplicas": labeled, "observedGeneration": generation});
            if ready > 0 {
                st["readyReplicas"] = json!(ready);
                st["availableReplicas"] = json!(ready);
            }
            self.write_status(self.rs, &rs, st);
        }
    }

    fn reconcile_deployments(&self) {
        let src = Source::new("deployment-controller", None);
        for d in self.list(self.deploy, None) {
            if d.pointer("/metadata/deletionTimestamp").is_some() {
                continue;
            }
            self.reconcile_deployment(&d, &src);
        }
    }

    fn scale_rs(&self, d: &Value, rs: &Value, to: i64, src: &Source) {
        let from = replicas(rs, "/spec/replicas");
        if from == to {
            return;
        }
        let key = objects::key_of(self.rs, rs);
        let want = replicas(d, "/spec/replicas");
        let surge = resolve_int_or_percent(
            d.pointer("/spec/strategy/rollingUpdate/maxSurge"),
            want,
            true,
            "25%",
        );
        if self
            .store
            .update_with(&key, |o| {
                o["spec"]["replicas"] = json!(to);
                o["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] =
                    json!(want.to_string());
                o["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"] =
                    json!((want + surge).to_string());
                true
            })
            .is_ok()
        {
            let verb = if to > from { "up" } else { "down" };
            events::record(
                &self.store,
                src,
                d,
                None,
                "Normal",
                "ScalingReplicaSet",
                &format!(
                    "Scaled {verb} replica set {} from {from} to {to}",
                    s(rs, "/metadata/name")
                ),
            );
        }
    }

    fn reconcile_deployment(&self, d: &Value, src: &Source) {
        let ns = s(d, "/metadata/namespace").to_string();
        let name = s(d, "/metadata/name").to_string();
        let uid = s(d, "/metadata/uid").to_string();
        let want = d
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let template = d.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let collisions = d
            .pointer("/status/collisionCount")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let hash = template_hash(&template, collisions);
        let mut owned: Vec<Arc<Value>> = self
            .list(self.rs, Some(&ns))
            .into_iter()
            .filter(|r| controlled_by(r, &uid))
            .collect();
        owned.sort_by_key(|r| s(r, "/metadata/creationTimestamp").to_string());
        let new_name = format!("{name}-{hash}");
        let max_revision = owned
            .iter()
            .filter_map(|r| {
                r.pointer("/metadata/annotations/deployment.kubernetes.io~1revision")
                    .and_then(Value::as_str)?
                    .parse::<i64>()
                    .ok()
            })
            .max()
            .unwrap_or(0);
        let existing = owned.iter().find(|r| {
            same_template(
                r.pointer("/spec/template").unwrap_or(&Value::Null),
                &template,
            )
        });
        let hash = existing
            .map(|r| s(r, "/metadata/labels/pod-template-hash").to_string())
            .unwrap_or(hash);
        let new_name = existing
            .map(|r| s(r, "/metadata/name").to_string())
            .unwrap_or(new_name);
        let new_rs = match existing {
            Some(r) => r.clone(),
            None => {
                let mut t = template.clone();
                t["metadata"]["labels"]["pod-template-hash"] = json!(hash);
                let mut selector = d.pointer("/spec/selector").cloned().unwrap_or(json!({}));
                selector["matchLabels"]["pod-template-hash"] = json!(hash);
                let initial = if owned.iter().all(|r| replicas(r, "/spec/replicas") == 0)
                    && d.pointer("/spec/strategy/type").and_then(Value::as_str) != Some("Recreate")
                {
                    want
                } else {
                    0
                };
                let surge = resolve_int_or_percent(
                    d.pointer("/spec/strategy/rollingUpdate/maxSurge"),
                    want,
                    true,
                    "25%",
                );
                let rs = json!({
                    "metadata": {
                        "name": new_name, "namespace": ns,
                        "labels": t["metadata"]["labels"],
                        "annotations": {
                            "deployment.kubernetes.io/desired-replicas": want.to_string(),
                            "deployment.kubernetes.io/max-replicas": (want + surge).to_string(),
                            "deployment.kubernetes.io/revision": (max_revision + 1).to_string(),
                        },
                        "ownerReferences": [owner_ref(d, "Deployment")]
                    },
                    "spec": {"replicas": initial, "minReadySeconds": d.pointer("/spec/minReadySeconds").cloned().unwrap_or(json!(0)), "selector": selector, "template": t}
                });
                match objects::create(&self.store, self.rs, rs) {
                    Ok(r) => {
                        if initial > 0 {
                            events::record(
                                &self.store,
                                src,
                                d,
                                None,
                                "Normal",
                                "ScalingReplicaSet",
                                &format!("Scaled up replica set {new_name} from 0 to {initial}"),
                            );
                        }
                        owned.push(r.clone());
                        r
                    }
                    Err(_) => return,
                }
            }
        };
        // a ReplicaSet that becomes current again (rollout undo) takes the next revision
        let rev_of = |r: &Value| {
            r.pointer("/metadata/annotations/deployment.kubernetes.io~1revision")
                .and_then(Value::as_str)
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0)
        };
        let new_rs = if rev_of(&new_rs) < max_revision {
            let key = objects::key_of(self.rs, &new_rs);
            self.store
                .update_with(&key, |o| {
                    o["metadata"]["annotations"]["deployment.kubernetes.io/revision"] =
                        json!((max_revision + 1).to_string());
                    true
                })
                .unwrap_or(new_rs)
        } else {
            new_rs
        };
        let olds: Vec<&Arc<Value>> = owned
            .iter()
            .filter(|r| s(r, "/metadata/uid") != s(&new_rs, "/metadata/uid"))
            .collect();
        let ready = |r: &Value| replicas(r, "/status/readyReplicas");
        if d.pointer("/spec/strategy/type").and_then(Value::as_str) == Some("Recreate") {
            let old_running: i64 = olds
                .iter()
                .map(|r| replicas(r, "/status/replicas") + replicas(r, "/spec/replicas"))
                .sum();
            for r in &olds {
                self.scale_rs(d, r, 0, src);
            }
            if old_running == 0 {
                self.scale_rs(d, &new_rs, want, src);
            }
        } else {
            let surge = resolve_int_or_percent(
                d.pointer("/spec/strategy/rollingUpdate/maxSurge"),
                want,
                true,
                "25%",
            );
            let mut unavailable = resolve_int_or_percent(
                d.pointer("/spec/strategy/rollingUpdate/maxUnavailable"),
                want,
                false,
                "25%",
            );
            if surge == 0 && unavailable == 0 {
                unavailable = 1;
            }
            let total: i64 = owned.iter().map(|r| replicas(r, "/spec/replicas")).sum();
            let new_count = replicas(&new_rs, "/spec/replicas");
            if new_count > want {
                self.scale_rs(d, &new_rs, want, src);
            } else if new_count < want {
                let room = want + surge - total;
                if room > 0 {
                    self.scale_rs(d, &new_rs, (new_count + room).min(want), src);
                }
            }
            // scale old ones down as far as availability allows
            let available: i64 = owned.iter().map(|r| ready(r)).sum();
            let min_available = want - unavailable;
            let mut can_remove = (available - min_available).max(0);
            // old replicas that are not ready can go at once
            for r in &olds {
                let cur = replicas(r, "/spec/replicas");
                if cur == 0 {
                    continue;
                }
                let unhealthy = (cur - ready(r)).max(0);
                let take = (unhealthy + can_remove).min(cur);
                if take > 0 {
                    can_remove -= (take - unhealthy).max(0);
                    self.scale_rs(d, r, cur - take, src);
                }
            }
        }
        // old, empty ReplicaSets beyond the history limit go
        let limit = d
            .pointer("/spec/revisionHistoryLimit")
            .and_then(Value::as_i64)
            .unwrap_or(10);
        let empty_olds: Vec<&&Arc<Value>> = olds
            .iter()
            .filter(|r| replicas(r, "/spec/replicas") == 0 && replicas(r, "/status/replicas") == 0)
            .collect();
        if empty_olds.len() as i64 > limit {
            for r in empty_olds.iter().take(empty_olds.len() - limit as usize) {
                let _ = self.store.delete(&objects::key_of(self.rs, r), None);
            }
        }
        // status from the ReplicaSets as they are now
        let current: Vec<Arc<Value>> = self
            .list(self.rs, Some(&ns))
            .into_iter()
            .filter(|r| controlled_by(r, &uid))
            .collect();
        let new_now = current
            .iter()
            .find(|r| s(r, "/metadata/labels/pod-template-hash") == hash)
            .cloned();
        let sum = |p: &str| current.iter().map(|r| replicas(r, p)).sum::<i64>();
        let (total, ready_all, available) = (
            sum("/status/replicas"),
            sum("/status/readyReplicas"),
            sum("/status/availableReplicas"),
        );
        let updated = new_now
            .as_ref()
            .map(|r| replicas(r, "/status/replicas"))
            .unwrap_or(0);
        let unavailable = resolve_int_or_percent(
            d.pointer("/spec/strategy/rollingUpdate/maxUnavailable"),
            want,
            false,
            "25%",
        );
        let min_ok = available >= want - unavailable;
        let done = updated == want && total == want && available == want;
        let revision = new_now
            .as_ref()
            .and_then(|r| {
                r.pointer("/metadata/annotations/deployment.kubernetes.io~1revision")
                    .and_then(Value::as_str)
                    .map(String::from)
            })
            .unwrap_or_else(|| "1".into());
        let key = objects::key_of(self.deploy, d);
        let new_rs_name = new_name.clone();
        let _ = self.store.update_with(&key, |o| {
            let t = now();
            let prev = o["status"]["conditions"].clone();
            let cond = |typ: &str, status: &str, reason: &str, msg: &str| {
                let since = prev
                    .as_array()
                    .and_then(|a| a.iter().find(|c| c["type"] == typ && c["status"] == status && c["reason"] == reason))
                    .and_then(|c| c.get("lastTransitionTime").cloned())
                    .unwrap_or(json!(t));
                json!({"type": typ, "status": status, "lastUpdateTime": since, "lastTransitionTime": since, "reason": reason, "message": msg})
            };
            let mut st = json!({
                "observedGeneration": o.pointer("/metadata/generation").cloned().unwrap_or(json!(1)),
                "replicas": total,
                "updatedReplicas": updated,
                "conditions": [
                    if min_ok { cond("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.") }
                    else { cond("Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.") },
                    if done { cond("Progressing", "True", "NewReplicaSetAvailable", &format!("ReplicaSet \"{new_rs_name}\" has successfully progressed.")) }
                    else { cond("Progressing", "True", "ReplicaSetUpdated", &format!("ReplicaSet \"{new_rs_name}\" is progressing.")) },
                ]
            });
            if ready_all > 0 {
                st["readyReplicas"] = json!(ready_all);
            }
            if available > 0 {
                st["availableReplicas"] = json!(available);
            }
            if total - available > 0 {
                st["unavailableReplicas"] = json!(total - available);
            }
            let same = o["status"] == st && o.pointer("/metadata/annotations/deployment.kubernetes.io~1revision").and_then(Value::as_str) == Some(revision.as_str());
            if same {
                return false;
            }
            o["status"] = st;
            if !o["metadata"]["annotations"].is_object() {
                o["metadata"]["annotations"] = json!({});
            }
            o["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = json!(revision);
            true
        });
    }

    /// A pod for a StatefulSet or DaemonSet: the template, an owner reference, a revision label.
    fn pod_from(&self, owner: &Value, kind: &str, name: &str, revision: &str) -> Value {
        let mut meta = owner
            .pointer("/spec/template/metadata")
            .cloned()
            .unwrap_or(json!({}));
        if !meta.is_object() {
            meta = json!({});
        }
        if let Some(m) = meta.as_object_mut() {
            m.remove("creationTimestamp");
        }
        meta["name"] = json!(name);
        meta["namespace"] = owner["metadata"]["namespace"].clone();
        meta["ownerReferences"] = json!([owner_ref(owner, kind)]);
        meta["labels"]["controller-revision-hash"] = json!(revision);
        json!({"metadata": meta, "spec": owner.pointer("/spec/template/spec").cloned().unwrap_or(json!({}))})
    }

    fn write_status(&self, r: &Resource, o: &Value, st: Value) {
        let key = objects::key_of(r, o);
        let _ = self.store.update_with(&key, |x| {
            if x["status"] == st {
                return false;
            }
            x["status"] = st;
            true
        });
    }

    /// StatefulSets: pods NAME-0…NAME-(n-1), started in order (each after the previous is
    /// Ready), removed from the highest ordinal, updated from the highest ordinal one at a time.
    fn reconcile_statefulsets(&self) {
        let src = Source::new("statefulset-controller", None);
        for set in self.list(self.sts, None) {
            if set.pointer("/metadata/deletionTimestamp").is_some() {
                continue;
            }
            let ns = s(&set, "/metadata/namespace").to_string();
            let name = s(&set, "/metadata/name").to_string();
            let uid = s(&set, "/metadata/uid").to_string();
            let want = set
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1)
                .max(0);
            let parallel = s(&set, "/spec/podManagementPolicy") == "Parallel";
            let revision = format!(
                "{name}-{}",
                template_hash(set.pointer("/spec/template").unwrap_or(&Value::Null), 0)
            );
            let pods: Vec<Arc<Value>> = self
                .list(self.pods, Some(&ns))
                .into_iter()
                .filter(|p| controlled_by(p, &uid))
                .collect();
            let by_ordinal = |i: i64| {
                pods.iter()
                    .find(|p| s(p, "/metadata/name") == format!("{name}-{i}"))
            };
            let mut blocked = false;
            for i in 0..want {
                match by_ordinal(i) {
                    None if !blocked => {
                        let pname = format!("{name}-{i}");
                        let mut pod = self.pod_from(&set, "StatefulSet", &pname, &revision);
                        pod["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] =
                            json!(pname);
                        pod["metadata"]["labels"]["apps.kubernetes.io/pod-index"] =
                            json!(i.to_string());
                        pod["spec"]["hostname"] = json!(pname);
                        if let Some(svc) = set
                            .pointer("/spec/serviceName")
                            .and_then(Value::as_str)
                            .filter(|x| !x.is_empty())
                        {
                            pod["spec"]["subdomain"] = json!(svc);
                        }
                        match objects::create(&self.store, self.pods, pod) {
                            Ok(_) => events::record(
                                &self.store,
                                &src,
                                &set,
                                None,
                                "Normal",
                                "SuccessfulCreate",
                                &format!("create Pod {pname} in StatefulSet {name} successful"),
                            ),
                            Err(e) => self.failed_create(&src, &set, e, |w| {
                                format!(
                                    "create Pod {pname} in StatefulSet {name} failed error: {w}"
                                )
                            }),
                        }
                        blocked = !parallel;
                    }
                    Some(p) if !active(p) || !is_ready(p) => blocked = !parallel,
                    _ => {}
                }
            }
            let all_ready =
                (0..want).all(|i| by_ordinal(i).is_some_and(|p| active(p) && is_ready(p)));
            // scale down from the highest ordinal, one at a time
            let mut extra: Vec<&Arc<Value>> = pods
                .iter()
                .filter(|p| {
                    active(p)
                        && s(p, "/metadata/name")
                            .rsplit('-')
                            .next()
                            .and_then(|o| o.parse::<i64>().ok())
                            .is_some_and(|o| o >= want)
                })
                .collect();
            extra.sort_by_key(|p| {
                std::cmp::Reverse(
                    s(p, "/metadata/name")
                        .rsplit('-')
                        .next()
                        .and_then(|o| o.parse::<i64>().ok())
                        .unwrap_or(0),
                )
            });
            if let Some(p) = extra.first()
                && (parallel || all_ready)
            {
                delete_pod(&self.store, p);
                events::record(
                    &self.store,
                    &src,
                    &set,
                    None,
                    "Normal",
                    "SuccessfulDelete",
                    &format!(
                        "delete Pod {} in StatefulSet {name} successful",
                        s(p, "/metadata/name")
                    ),
                );
            } else if all_ready && s(&set, "/spec/updateStrategy/type") != "OnDelete" {
                // rolling update: the highest ordinal still on an old revision goes
                if let Some(p) = (0..want)
                    .rev()
                    .filter_map(by_ordinal)
                    .find(|p| s(p, "/metadata/labels/controller-revision-hash") != revision)
                {
                    delete_pod(&self.store, p);
                }
            }
            let live: Vec<&Arc<Value>> = pods.iter().filter(|p| active(p)).collect();
            let ready = live.iter().filter(|p| is_ready(p)).count();
            let updated = live
                .iter()
                .filter(|p| s(p, "/metadata/labels/controller-revision-hash") == revision)
                .count();
            let mut st = json!({
                "observedGeneration": set.pointer("/metadata/generation").cloned().unwrap_or(json!(1)),
                "replicas": live.len(), "currentReplicas": updated, "updatedReplicas": updated,
                "currentRevision": revision, "updateRevision": revision, "collisionCount": 0,
                "availableReplicas": ready,
            });
            if ready > 0 {
                st["readyReplicas"] = json!(ready);
            }
            self.write_status(self.sts, &set, st);
        }
    }

    /// DaemonSets: one pod on every Ready node that matches the template's nodeSelector.
    fn reconcile_daemonsets(&self) {
        let src = Source::new("daemonset-controller", None);
        let nodes = self.list(objects::resource("", "nodes"), None);
        for set in self.list(self.ds, None) {
            if set.pointer("/metadata/deletionTimestamp").is_some() {
                continue;
            }
            let ns = s(&set, "/metadata/namespace").to_string();
            let name = s(&set, "/metadata/name").to_string();
            let uid = s(&set, "/metadata/uid").to_string();
            let revision = template_hash(set.pointer("/spec/template").unwrap_or(&Value::Null), 0);
            let selector: Vec<(String, String)> = set
                .pointer("/spec/template/spec/nodeSelector")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                        .collect()
                })
                .unwrap_or_default();
            let eligible: Vec<String> = nodes
                .iter()
                .filter(|n| {
                    let labels = kinet_model::selector::labels_of(n);
                    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
                })
                .map(|n| s(n, "/metadata/name").to_string())
                .collect();
            let pods: Vec<Arc<Value>> = self
                .list(self.pods, Some(&ns))
                .into_iter()
                .filter(|p| controlled_by(p, &uid) && active(p))
                .collect();
            let mut updating = false;
            for node in &eligible {
                let mine: Vec<&Arc<Value>> = pods
                    .iter()
                    .filter(|p| s(p, "/spec/nodeName") == node)
                    .collect();
                match mine.first() {
                    None => {
                        let pname = format!("{name}-{}", crate::random_suffix(5));
                        let mut pod = self.pod_from(&set, "DaemonSet", &pname, &revision);
                        pod["spec"]["nodeName"] = json!(node);
                        let mut tolerations = pod["spec"]["tolerations"]
                            .as_array()
                            .cloned()
                            .unwrap_or_default();
                        for key in [
                            "node.kubernetes.io/not-ready",
                            "node.kubernetes.io/unreachable",
                            "node.kubernetes.io/disk-pressure",
                            "node.kubernetes.io/memory-pressure",
                            "node.kubernetes.io/pid-pressure",
                            "node.kubernetes.io/unschedulable",
                        ] {
                            let effect = if key.ends_with("ready") || key.ends_with("unreachable") {
                                "NoExecute"
                            } else {
                                "NoSchedule"
                            };
                            tolerations
                                .push(json!({"key": key, "operator": "Exists", "effect": effect}));
                        }
                        pod["spec"]["tolerations"] = json!(tolerations);
                        match objects::create(&self.store, self.pods, pod) {
                            Ok(_) => events::record(
                                &self.store,
                                &src,
                                &set,
                                None,
                                "Normal",
                                "SuccessfulCreate",
                                &format!("Created pod: {pname}"),
                            ),
                            Err(e) => self
                                .failed_create(&src, &set, e, |w| format!("Error creating: {w}")),
                        }
                    }
                    Some(p) => {
                        for dup in mine.iter().skip(1) {
                            delete_pod(&self.store, dup);
                        }
                        // rolling update, one node at a time
                        if !updating
                            && s(p, "/metadata/labels/controller-revision-hash") != revision
                            && s(&set, "/spec/updateStrategy/type") != "OnDelete"
                        {
                            updating = true;
                            delete_pod(&self.store, p);
                        }
                    }
                }
            }
            for p in pods
                .iter()
                .filter(|p| !eligible.iter().any(|n| n == s(p, "/spec/nodeName")))
            {
                delete_pod(&self.store, p);
            }
            let on_eligible: Vec<&Arc<Value>> = pods
                .iter()
                .filter(|p| eligible.iter().any(|n| n == s(p, "/spec/nodeName")))
                .collect();
            let ready = on_eligible.iter().filter(|p| is_ready(p)).count();
            let updated = on_eligible
                .iter()
                .filter(|p| s(p, "/metadata/labels/controller-revision-hash") == revision)
                .count();
            let mut st = json!({
                "observedGeneration": set.pointer("/metadata/generation").cloned().unwrap_or(json!(1)),
                "desiredNumberScheduled": eligible.len(), "currentNumberScheduled": on_eligible.len(),
                "numberMisscheduled": 0, "numberReady": ready, "updatedNumberScheduled": updated,
            });
            if ready > 0 {
                st["numberAvailable"] = json!(ready);
            }
            if eligible.len() > ready {
                st["numberUnavailable"] = json!(eligible.len() - ready);
            }
            self.write_status(self.ds, &set, st);
        }
    }

    /// Deletes objects whose controller owner no longer exists.
    fn collect_garbage(&self) {
        let mut uids: BTreeSet<String> = BTreeSet::new();
        for r in [self.deploy, self.rs] {
            for o in self.list(r, None) {
                uids.insert(s(&o, "/metadata/uid").to_string());
            }
        }
        for kind in ["statefulsets", "daemonsets"] {
            for o in self.list(objects::resource("apps", kind), None) {
                uids.insert(s(&o, "/metadata/uid").to_string());
            }
        }
        for o in self.list(objects::resource("batch", "jobs"), None) {
            uids.insert(s(&o, "/metadata/uid").to_string());
        }
        for (r, is_pod) in [(self.rs, false), (self.pods, true)] {
            // (StatefulSet and DaemonSet pods are collected here too: their owners are in `uids`)
            for o in self.list(r, None) {
                let Some(refs) = o
                    .pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                else {
                    continue;
                };
                let owned_by_workload = refs.iter().filter(|x| {
                    matches!(
                        x["kind"].as_str(),
                        Some("ReplicaSet" | "Deployment" | "StatefulSet" | "DaemonSet" | "Job")
                    )
                });
                let mut any = false;
                let mut alive = false;
                for x in owned_by_workload {
                    any = true;
                    alive |= uids.contains(x["uid"].as_str().unwrap_or(""));
                }
                if any && !alive {
                    if is_pod {
                        delete_pod(&self.store, &o);
                    } else {
                        let _ = self.store.delete(&objects::key_of(r, &o), None);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_stable_and_safe() {
        let t = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}});
        let h = template_hash(&t, 0);
        assert_eq!(h, template_hash(&t, 0));
        assert_ne!(h, template_hash(&t, 1));
        assert!(
            h.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)),
            "{h}"
        );
        let mut t2 = t.clone();
        t2["spec"]["containers"][0]["image"] = json!("nginx:1.27");
        assert_ne!(h, template_hash(&t2, 0));
        // field order does not matter
        let reordered: Value = serde_json::from_str(r#"{"spec": {"containers": [{"image": "nginx", "name": "nginx"}]}, "metadata": {"labels": {"app": "web"}}}"#).unwrap();
        assert_eq!(h, template_hash(&reordered, 0));
        let mut with_null = t.clone();
        with_null["metadata"]["creationTimestamp"] = Value::Null;
        assert_eq!(h, template_hash(&with_null, 0));
        // the label itself does not change the hash
        let mut t3 = t.clone();
        t3["metadata"]["labels"]["pod-template-hash"] = json!(h.clone());
        assert_eq!(h, template_hash(&t3, 0));
    }

    #[test]
    fn surge_rounds_up_unavailable_down() {
        assert_eq!(
            resolve_int_or_percent(Some(&json!("25%")), 3, true, "25%"),
            1
        );
        assert_eq!(
            resolve_int_or_percent(Some(&json!("25%")), 3, false, "25%"),
            0
        );
        assert_eq!(resolve_int_or_percent(Some(&json!(2)), 3, false, "25%"), 2);
        assert_eq!(resolve_int_or_percent(None, 10, true, "25%"), 3);
        assert_eq!(fnv32a(b""), 0x811c9dc5);
    }
}
