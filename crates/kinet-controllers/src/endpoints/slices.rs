//! The EndpointSlice reconciler, as upstream's
//! `staging/src/k8s.io/endpointslice/reconciler.go`: given a Service, the
//! endpoints it should have (grouped by the ports they resolve) and the slices it
//! has, which slices to create, update and delete — with as little churn as it can:
//! slices are updated in place, filled before new ones are made, and one slice
//! with no endpoints stands for a Service that has none (the placeholder).

use super::desired::{
    CONTROLLER_NAME, HEADLESS, LAST_CHANGE_TRIGGER_TIME, MANAGED_BY, MAX_ENDPOINTS_PER_SLICE,
    SERVICE_NAME, ip_set,
};
use kinet_model::json::{arr_at, obj_at, str_at};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// What to write.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    pub create: Vec<Value>,
    pub update: Vec<Value>,
    /// The slices to delete (as read).
    pub delete: Vec<Value>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.update.is_empty() && self.delete.is_empty()
    }
}

/// The slice is this Service's (its controller owner reference has its uid).
pub fn owned_by(slice: &Value, svc: &Value) -> bool {
    let uid = str_at(svc, "/metadata/uid");
    arr_at(slice, "/metadata/ownerReferences")
        .iter()
        .any(|o| o["controller"] == true && o["kind"] == "Service" && str_at(o, "/uid") == uid)
}

/// The slice is managed by this controller for the Service named `svc`.
pub fn managed_for(slice: &Value, svc: &str) -> bool {
    let l = obj_at(slice, "/metadata/labels");
    let get = |k: &str| l.and_then(|m| m.get(k)).and_then(Value::as_str);
    get(SERVICE_NAME) == Some(svc) && get(MANAGED_BY) == Some(CONTROLLER_NAME)
}

/// `setEndpointSliceLabels`: the Service's labels (but the reserved ones), its
/// name, the manager, and the headless mark when it has no cluster IP.
fn slice_labels(svc: &Value) -> Map<String, Value> {
    let mut l: Map<String, Value> = obj_at(svc, "/metadata/labels")
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.as_str() != SERVICE_NAME && k.as_str() != MANAGED_BY)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    l.insert(SERVICE_NAME.into(), json!(str_at(svc, "/metadata/name")));
    l.insert(MANAGED_BY.into(), json!(CONTROLLER_NAME));
    if ip_set(svc) {
        l.remove(HEADLESS);
    } else {
        l.insert(HEADLESS.into(), json!(""));
    }
    l
}

/// `getEndpointSlicePrefix`: `<service>-`, shortened to leave room for the suffix.
fn prefix(svc: &Value) -> String {
    let name = str_at(svc, "/metadata/name");
    let cut: String = name.chars().take(57).collect();
    format!("{cut}-")
}

fn new_slice(svc: &Value, ports: &[Value]) -> Value {
    let mut s = json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "generateName": prefix(svc),
            "namespace": str_at(svc, "/metadata/namespace"),
            "labels": slice_labels(svc),
            "ownerReferences": [{
                "apiVersion": "v1", "kind": "Service",
                "name": str_at(svc, "/metadata/name"), "uid": str_at(svc, "/metadata/uid"),
                "controller": true, "blockOwnerDeletion": true,
            }],
        },
        "addressType": "IPv4",
        "endpoints": [],
    });
    if !ports.is_empty() {
        s["ports"] = Value::Array(ports.to_vec());
    }
    s
}

/// The identity of an endpoint across syncs: its pod, else its address.
fn endpoint_key(e: &Value) -> String {
    let pod = str_at(e, "/targetRef/uid");
    if pod.is_empty() {
        arr_at(e, "/addresses")
            .first()
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    } else {
        pod.to_string()
    }
}

fn endpoints_of(slice: &Value) -> Vec<Value> {
    arr_at(slice, "/endpoints").to_vec()
}

/// Sets the trigger-time annotation (or clears it), as `addTriggerTimeAnnotation`.
fn annotate(slice: &mut Value, trigger: Option<&str>) {
    let meta = &mut slice["metadata"];
    let mut a: Map<String, Value> = obj_at(meta, "/annotations").cloned().unwrap_or_default();
    match trigger {
        Some(t) => a.insert(LAST_CHANGE_TRIGGER_TIME.into(), json!(t)),
        None => a.remove(LAST_CHANGE_TRIGGER_TIME),
    };
    if let Value::Object(m) = meta {
        if a.is_empty() {
            m.remove("annotations");
        } else {
            m.insert("annotations".into(), Value::Object(a));
        }
    }
}

fn ports_key(ports: &[Value]) -> String {
    serde_json::to_string(ports).unwrap_or_default()
}

/// The plan for `svc`, whose pods give `desired` (each set of resolved ports with
/// its endpoints), over `existing` (the slices labelled as this controller's for
/// the Service's name).
pub fn reconcile(
    svc: &Value,
    desired: &[(Vec<Value>, Vec<Value>)],
    existing: &[Value],
    trigger: Option<&str>,
) -> Plan {
    let mut plan = Plan::default();
    // slices of another Service of the same name, or not IPv4: gone
    let mut by_ports: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for s in existing {
        if owned_by(s, svc) && str_at(s, "/addressType") == "IPv4" {
            by_ports
                .entry(ports_key(arr_at(s, "/ports")))
                .or_default()
                .push(s);
        } else {
            plan.delete.push(s.clone());
        }
    }
    let labels = slice_labels(svc);
    let mut kept_untouched: Vec<&Value> = vec![];
    for (ports, eps) in desired {
        let slices = by_ports.remove(&ports_key(ports)).unwrap_or_default();
        by_ports_reconcile(
            svc,
            ports,
            eps,
            slices,
            &labels,
            &mut plan,
            &mut kept_untouched,
        );
    }
    for slices in by_ports.values() {
        for s in slices {
            plan.delete.push((*s).clone());
        }
    }
    // no endpoints at all: one placeholder slice, kept if there is one
    let all_deleted = plan.create.is_empty()
        && plan.update.is_empty()
        && kept_untouched.is_empty()
        && plan.delete.len() == existing.len();
    if all_deleted {
        let placeholder = existing.iter().find(|s| {
            owned_by(s, svc)
                && str_at(s, "/addressType") == "IPv4"
                && arr_at(s, "/endpoints").is_empty()
                && arr_at(s, "/ports").is_empty()
        });
        match placeholder {
            Some(p) => {
                let name = str_at(p, "/metadata/name");
                plan.delete.retain(|d| str_at(d, "/metadata/name") != name);
                if obj_at(p, "/metadata/labels") != Some(&labels) {
                    let mut p = p.clone();
                    p["metadata"]["labels"] = Value::Object(labels);
                    plan.update.push(p);
                }
            }
            None => plan.create.push(new_slice(svc, &[])),
        }
    }
    reuse_deleted(svc, &mut plan);
    for s in plan.create.iter_mut().chain(plan.update.iter_mut()) {
        annotate(s, trigger);
    }
    plan
}

/// `reconcileByPortMapping`: one set of ports, its endpoints and its slices.
fn by_ports_reconcile<'a>(
    svc: &Value,
    ports: &[Value],
    eps: &[Value],
    slices: Vec<&'a Value>,
    labels: &Map<String, Value>,
    plan: &mut Plan,
    kept_untouched: &mut Vec<&'a Value>,
) {
    // desired, by identity (ordered by address for the new ones)
    let mut wanted: BTreeMap<String, &Value> = eps.iter().map(|e| (endpoint_key(e), e)).collect();
    let mut to_update: Vec<Value> = vec![];
    let mut unchanged: Vec<&Value> = vec![];
    // 1. existing slices: keep the endpoints still wanted (refreshed), drop the rest
    for s in slices {
        let mut changed = obj_at(s, "/metadata/labels") != Some(labels);
        let mut kept = vec![];
        for e in endpoints_of(s) {
            match wanted.remove(&endpoint_key(&e)) {
                Some(w) => {
                    if *w != e {
                        changed = true;
                    }
                    kept.push(w.clone());
                }
                None => changed = true,
            }
        }
        if !changed {
            unchanged.push(s);
        } else if kept.is_empty() {
            plan.delete.push(s.clone());
        } else {
            let mut s = s.clone();
            s["endpoints"] = Value::Array(kept);
            s["metadata"]["labels"] = Value::Object(labels.clone());
            to_update.push(s);
        }
    }
    let mut remaining: Vec<Value> = {
        let mut r: Vec<&Value> = wanted.into_values().collect();
        r.sort_by_key(|e| {
            let ip = arr_at(e, "/addresses")
                .first()
                .and_then(Value::as_str)
                .unwrap_or_default();
            (ip.parse::<std::net::Ipv4Addr>().ok(), ip.to_string())
        });
        r.into_iter().rev().cloned().collect()
    };
    // 2. fill the slices being updated, fullest first
    to_update.sort_by_key(|s| std::cmp::Reverse(arr_at(s, "/endpoints").len()));
    for s in &mut to_update {
        fill(s, &mut remaining);
    }
    // 3. the rest: into the one untouched slice they fit in best, else new slices
    while !remaining.is_empty() {
        let mut slice = None;
        if remaining.len() < MAX_ENDPOINTS_PER_SLICE {
            let fit = unchanged
                .iter()
                .enumerate()
                .filter(|(_, s)| {
                    arr_at(s, "/endpoints").len() + remaining.len() <= MAX_ENDPOINTS_PER_SLICE
                })
                .max_by_key(|(_, s)| arr_at(s, "/endpoints").len())
                .map(|(i, _)| i);
            if let Some(i) = fit {
                slice = Some(unchanged.remove(i).clone());
            }
        }
        let existing = slice.is_some();
        let mut slice = slice.unwrap_or_else(|| new_slice(svc, ports));
        fill(&mut slice, &mut remaining);
        if existing {
            to_update.push(slice);
        } else {
            plan.create.push(slice);
        }
    }
    plan.update.extend(to_update);
    kept_untouched.extend(unchanged);
}

/// Moves endpoints from the end of `remaining` into `slice` up to its capacity.
fn fill(slice: &mut Value, remaining: &mut Vec<Value>) {
    let mut list = endpoints_of(slice);
    while list.len() < MAX_ENDPOINTS_PER_SLICE {
        let Some(e) = remaining.pop() else { break };
        list.push(e);
    }
    slice["endpoints"] = Value::Array(list);
}

/// Slices to create replace slices to delete (of this Service) as updates of
/// them, as upstream's `finalize` does: fewer slices come and go.
fn reuse_deleted(svc: &Value, plan: &mut Plan) {
    let mut i = 0;
    while i < plan.delete.len() {
        let Some(new) = plan.create.last() else { break };
        let old = &plan.delete[i];
        if owned_by(old, svc) && str_at(old, "/addressType") == str_at(new, "/addressType") {
            let mut upd = old.clone();
            upd["endpoints"] = new["endpoints"].clone();
            match new.get("ports") {
                Some(p) => upd["ports"] = p.clone(),
                None => {
                    if let Value::Object(o) = &mut upd {
                        o.remove("ports");
                    }
                }
            }
            upd["metadata"]["labels"] = new["metadata"]["labels"].clone();
            plan.create.pop();
            plan.delete.remove(i);
            plan.update.push(upd);
        } else {
            i += 1;
        }
    }
}
