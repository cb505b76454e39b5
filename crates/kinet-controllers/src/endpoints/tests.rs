//! The pure parts: Endpoints subsets, slice endpoints, the slice reconciler, trigger times.

use super::desired::*;
use super::slices::{Plan, reconcile};
use serde_json::{Value, json};
use std::collections::BTreeMap;

fn svc(ports: Value) -> Value {
    json!({"metadata": {"name": "web", "namespace": "ns", "uid": "s1",
                        "creationTimestamp": "2026-01-01T00:00:00Z", "labels": {"tier": "front"}},
           "spec": {"selector": {"app": "web"}, "clusterIP": "10.152.183.7", "ports": ports}})
}

fn pod(name: &str, ip: &str, ready: bool) -> Value {
    json!({"metadata": {"name": name, "namespace": "ns", "uid": format!("u-{name}"), "labels": {"app": "web"}},
           "spec": {"nodeName": "node1", "containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 8080}]}]},
           "status": {"podIP": ip, "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"},
                                                  "lastTransitionTime": format!("2026-01-01T00:00:0{}Z", ip.len() % 10)}]}})
}

fn http() -> Value {
    json!([{"name": "http", "port": 80, "targetPort": "http"}])
}

#[test]
fn selectors_and_what_is_managed() {
    let s = svc(http());
    assert!(managed(&s));
    let mut none = s.clone();
    none["spec"]["selector"] = json!({});
    assert!(!managed(&none));
    let mut ext = s.clone();
    ext["spec"]["type"] = json!("ExternalName");
    assert!(!managed(&ext));
    let sel = selector(&s).unwrap_or_default();
    let labels: BTreeMap<String, String> = [("app".into(), "web".into()), ("x".into(), "y".into())]
        .into_iter()
        .collect();
    assert!(selects(&sel, &labels));
    assert!(!selects(&sel, &BTreeMap::new()));
}

#[test]
fn named_target_ports_resolve_per_pod() {
    let p = pod("a", "10.1.1.2", true);
    assert_eq!(
        find_port(&p, &json!({"port": 80, "targetPort": "http"})),
        Some(8080)
    );
    assert_eq!(
        find_port(&p, &json!({"port": 80, "targetPort": 9000})),
        Some(9000)
    );
    assert_eq!(find_port(&p, &json!({"port": 80})), Some(80));
    assert_eq!(
        find_port(&p, &json!({"port": 80, "targetPort": "metrics"})),
        None
    );
    // the protocol must match too
    let udp = json!({"port": 80, "targetPort": "http", "protocol": "UDP"});
    assert_eq!(find_port(&p, &udp), None);
}

#[test]
fn subsets_split_ready_and_unready_and_leave_out_pods_without_the_port() {
    let s = svc(json!([{"name": "http", "port": 80, "targetPort": "http"},
                       {"name": "metrics", "port": 9100, "targetPort": "metrics"}]));
    let a = pod("a", "10.1.1.3", true);
    let b = pod("b", "10.1.1.2", false);
    let mut m = pod("m", "10.1.1.4", true);
    m["spec"]["containers"][0]["ports"] = json!([{"name": "http", "containerPort": 8080}, {"name": "metrics", "containerPort": 9100}]);
    let mut gone = pod("gone", "10.1.1.9", true);
    gone["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    let mut no_ip = pod("new", "", false);
    no_ip["status"]["podIP"] = json!("");
    let sub = subsets(&s, &[&a, &b, &m, &gone, &no_ip]);
    assert_eq!(sub.len(), 2, "{sub:#?}");
    // http: a and m ready (by IP), b not ready
    let ips = |s: &Value, k: &str| -> Vec<String> {
        s[k].as_array()
            .map(|a| {
                a.iter()
                    .map(|x| x["ip"].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(ips(&sub[0], "addresses"), ["10.1.1.3", "10.1.1.4"]);
    assert_eq!(ips(&sub[0], "notReadyAddresses"), ["10.1.1.2"]);
    assert_eq!(
        sub[0]["ports"],
        json!([{"name": "http", "port": 8080, "protocol": "TCP"}])
    );
    // metrics: only m
    assert_eq!(ips(&sub[1], "addresses"), ["10.1.1.4"]);
    assert_eq!(sub[1]["ports"][0]["port"], 9100);
    let addr = &sub[0]["addresses"][0];
    assert_eq!(addr["nodeName"], "node1");
    assert_eq!(
        addr["targetRef"],
        json!({"kind": "Pod", "namespace": "ns", "name": "a", "uid": "u-a"})
    );
    // the same addresses for two ports: one subset
    let two = svc(
        json!([{"name": "a", "port": 80, "targetPort": 8080}, {"name": "b", "port": 81, "targetPort": 8081}]),
    );
    let sub = subsets(&two, &[&a]);
    assert_eq!(sub.len(), 1);
    assert_eq!(sub[0]["ports"].as_array().map(Vec::len), Some(2));
    // publishNotReadyAddresses: all ready, even the terminating
    let mut pub_ = two.clone();
    pub_["spec"]["publishNotReadyAddresses"] = json!(true);
    let sub = subsets(&pub_, &[&b, &gone]);
    assert_eq!(ips(&sub[0], "addresses"), ["10.1.1.2", "10.1.1.9"]);
}

#[test]
fn hostnames_when_the_subdomain_is_the_service_and_headless_without_ports() {
    let mut s = svc(json!([]));
    s["spec"]["clusterIP"] = json!("None");
    let mut p = pod("a", "10.1.1.2", true);
    p["spec"]["hostname"] = json!("a");
    p["spec"]["subdomain"] = json!("web");
    let sub = subsets(&s, &[&p]);
    assert_eq!(sub.len(), 1);
    assert_eq!(sub[0]["addresses"][0]["hostname"], "a");
    assert!(sub[0].get("ports").is_none());
    p["spec"]["subdomain"] = json!("other");
    assert!(
        subsets(&s, &[&p])[0]["addresses"][0]
            .get("hostname")
            .is_none()
    );
    // the Endpoints of a headless Service are marked
    let ep = endpoints_object(&s, None, vec![], None).unwrap_or_default();
    assert_eq!(ep["metadata"]["labels"][HEADLESS], "");
}

#[test]
fn endpoints_objects_are_written_only_when_they_change() {
    let s = svc(http());
    let a = pod("a", "10.1.1.2", true);
    let sub = subsets(&s, &[&a]);
    let Some(ep) = endpoints_object(&s, None, sub.clone(), Some("2026-01-01T00:00:00Z")) else {
        panic!("a new Endpoints")
    };
    assert_eq!(ep["metadata"]["name"], "web");
    assert_eq!(ep["metadata"]["labels"], json!({"tier": "front"}));
    assert_eq!(
        ep["metadata"]["annotations"][LAST_CHANGE_TRIGGER_TIME],
        "2026-01-01T00:00:00Z"
    );
    assert_eq!(endpoints_object(&s, Some(&ep), sub.clone(), None), None);
    // a pod's resourceVersion in the stored targetRef does not count
    let mut stored = ep.clone();
    stored["subsets"][0]["addresses"][0]["targetRef"]["resourceVersion"] = json!("7");
    assert_eq!(endpoints_object(&s, Some(&stored), sub.clone(), None), None);
    // new labels do; the trigger time is cleared when there is none
    let mut relabelled = s.clone();
    relabelled["metadata"]["labels"] = json!({"tier": "back"});
    let upd = endpoints_object(&relabelled, Some(&ep), sub, None).unwrap_or_default();
    assert_eq!(upd["metadata"]["labels"], json!({"tier": "back"}));
    assert!(upd["metadata"].get("annotations").is_none());
    // no pods: no subsets
    let empty = endpoints_object(&s, Some(&ep), vec![], None).unwrap_or_default();
    assert!(empty.get("subsets").is_none());
}

#[test]
fn slice_endpoints_say_ready_serving_terminating_and_zone() {
    let s = svc(http());
    let p = pod("a", "10.1.1.2", true);
    let e = slice_endpoint(&p, Some("z1"), &s);
    assert_eq!(
        e,
        json!({"addresses": ["10.1.1.2"], "conditions": {"ready": true, "serving": true, "terminating": false},
               "targetRef": {"kind": "Pod", "namespace": "ns", "name": "a", "uid": "u-a"},
               "nodeName": "node1", "zone": "z1"})
    );
    let mut t = p.clone();
    t["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    let e = slice_endpoint(&t, Some(""), &s);
    assert_eq!(
        e["conditions"],
        json!({"ready": false, "serving": true, "terminating": true})
    );
    assert!(e.get("zone").is_none());
    assert_eq!(
        slice_ports(&s, &p),
        [json!({"name": "http", "port": 8080, "protocol": "TCP"})]
    );
    // pods on unknown nodes are left out; terminating ones are kept
    let nodes: BTreeMap<String, String> = [("node1".to_string(), String::new())].into();
    let mut elsewhere = pod("b", "10.1.2.2", true);
    elsewhere["spec"]["nodeName"] = json!("node9");
    let g = slice_groups(&s, &[&p, &t, &elsewhere], &nodes);
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].1.len(), 2);
}

fn names(v: &[Value]) -> Vec<String> {
    v.iter()
        .map(|s| s["metadata"]["name"].as_str().unwrap_or("").to_string())
        .collect()
}

/// The plan's creations, named as the API would name them.
fn stored(plan: &Plan, existing: &[Value]) -> Vec<Value> {
    let deleted = names(&plan.delete);
    let updated = names(&plan.update);
    let mut out: Vec<Value> = existing
        .iter()
        .filter(|s| {
            let n = s["metadata"]["name"].as_str().unwrap_or("");
            !deleted.iter().any(|d| d == n) && !updated.iter().any(|u| u == n)
        })
        .cloned()
        .collect();
    out.extend(plan.update.iter().cloned());
    for (i, c) in plan.create.iter().enumerate() {
        let mut c = c.clone();
        c["metadata"]["name"] = json!(format!("web-{}{}", existing.len(), i));
        out.push(c);
    }
    out
}

fn endpoints(n: usize, ready: bool) -> Vec<Value> {
    let s = svc(http());
    (0..n)
        .map(|i| {
            slice_endpoint(
                &pod(
                    &format!("p{i}"),
                    &format!("10.1.{}.{}", i / 200, i % 200 + 2),
                    ready,
                ),
                None,
                &s,
            )
        })
        .collect()
}

#[test]
fn slices_are_made_filled_and_updated_in_place() {
    let s = svc(http());
    let ports = vec![json!({"name": "http", "port": 8080, "protocol": "TCP"})];
    // 150 endpoints: two slices
    let plan = reconcile(
        &s,
        &[(ports.clone(), endpoints(150, true))],
        &[],
        Some("t1"),
    );
    assert_eq!(plan.create.len(), 2);
    let first = &plan.create[0];
    assert_eq!(first["metadata"]["generateName"], "web-");
    assert_eq!(first["metadata"]["labels"][SERVICE_NAME], "web");
    assert_eq!(first["metadata"]["labels"][MANAGED_BY], CONTROLLER_NAME);
    assert_eq!(first["metadata"]["labels"]["tier"], "front");
    assert_eq!(
        first["metadata"]["ownerReferences"],
        json!([{"apiVersion": "v1", "kind": "Service", "name": "web", "uid": "s1",
                "controller": true, "blockOwnerDeletion": true}])
    );
    assert_eq!(
        first["metadata"]["annotations"][LAST_CHANGE_TRIGGER_TIME],
        "t1"
    );
    assert_eq!(first["addressType"], "IPv4");
    assert_eq!(first["ports"], json!(ports));
    let sizes: Vec<usize> = plan
        .create
        .iter()
        .map(|c| c["endpoints"].as_array().map_or(0, Vec::len))
        .collect();
    assert_eq!(sizes, [MAX_ENDPOINTS_PER_SLICE, 50]);
    let have = stored(&plan, &[]);
    // the same again: nothing to do
    assert!(reconcile(&s, &[(ports.clone(), endpoints(150, true))], &have, None).is_empty());
    // one more: into the slice with room, updated in place
    let plan = reconcile(&s, &[(ports.clone(), endpoints(151, true))], &have, None);
    assert!(plan.create.is_empty() && plan.delete.is_empty());
    assert_eq!(names(&plan.update), ["web-01"]);
    assert_eq!(
        plan.update[0]["endpoints"].as_array().map(Vec::len),
        Some(51)
    );
    // one pod unready: only its slice changes
    let mut eps = endpoints(150, true);
    eps[0] = endpoints(1, false).remove(0);
    let plan = reconcile(&s, &[(ports.clone(), eps)], &have, None);
    assert_eq!(names(&plan.update), ["web-00"]);
    // scaled down to 10: the second slice goes, the first keeps its 10
    let plan = reconcile(&s, &[(ports.clone(), endpoints(10, true))], &have, None);
    assert_eq!(names(&plan.update), ["web-00"]);
    assert_eq!(names(&plan.delete), ["web-01"]);
}

#[test]
fn a_service_without_endpoints_keeps_one_placeholder() {
    let s = svc(http());
    let plan = reconcile(&s, &[], &[], None);
    assert_eq!(plan.create.len(), 1);
    assert_eq!(plan.create[0]["endpoints"], json!([]));
    assert!(plan.create[0].get("ports").is_none());
    let have = stored(&plan, &[]);
    assert!(reconcile(&s, &[], &have, None).is_empty());
    // endpoints come: the placeholder is reused, not replaced
    let ports = vec![json!({"name": "http", "port": 8080, "protocol": "TCP"})];
    let plan = reconcile(&s, &[(ports.clone(), endpoints(2, true))], &have, None);
    assert!(
        plan.create.is_empty() && plan.delete.is_empty(),
        "{plan:#?}"
    );
    assert_eq!(plan.update[0]["ports"], json!(ports));
    // and they go: back to a placeholder in the same slice
    let have = stored(&plan, &have);
    let plan = reconcile(&s, &[], &have, None);
    assert!(
        plan.create.is_empty() && plan.delete.is_empty(),
        "{plan:#?}"
    );
    assert_eq!(plan.update[0]["endpoints"], json!([]));
    // slices of an older Service of the same name are deleted
    let mut other = svc(http());
    other["metadata"]["uid"] = json!("s0");
    let plan = reconcile(&other, &[(ports, endpoints(1, true))], &have, None);
    assert_eq!(plan.create.len(), 1);
    assert_eq!(names(&plan.delete), names(&have));
}

#[test]
fn trigger_times_are_the_creation_then_the_earliest_change() {
    let s = svc(http());
    let mut t = TriggerTracker::default();
    let a = pod("a", "10.1.1.2", true);
    assert_eq!(
        t.compute(&s, &[&a]).as_deref(),
        Some("2026-01-01T00:00:00Z")
    );
    // nothing changed: none
    assert_eq!(t.compute(&s, &[&a]), None);
    let mut a2 = a.clone();
    a2["status"]["conditions"][0]["lastTransitionTime"] = json!("2026-01-01T00:05:00Z");
    let b = pod("b", "10.1.1.33", true);
    assert_eq!(
        t.compute(&s, &[&a2, &b]).as_deref(),
        Some("2026-01-01T00:00:09Z")
    );
    t.forget("ns", "web");
    assert_eq!(
        t.compute(&s, &[&a2, &b]).as_deref(),
        Some("2026-01-01T00:00:00Z")
    );
}

mod against_a_store {
    use super::super::{Controller, Kind};
    use super::pod;
    use kinet_model::resources::{store_key, store_prefix};
    use kinet_store::Store;
    use serde_json::{Value, json};
    use std::sync::Arc;

    fn put(store: &Store, kind: Kind, ns: Option<&str>, obj: Value) {
        let key = store_key(kind.resource(), ns, kinet_model::json::name(&obj));
        store.create(&key, obj).unwrap();
    }

    fn versions(store: &Store) -> Vec<(String, String)> {
        [Kind::Endpoints, Kind::EndpointSlice]
            .iter()
            .flat_map(|k| store.list(&store_prefix(k.resource(), Some("ns"))).0)
            .map(|o| {
                (
                    kinet_model::json::name(&o).to_string(),
                    kinet_model::json::str_at(&o, "/metadata/resourceVersion").to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn what_the_registry_stores_is_not_written_again_and_goes_with_the_service() {
        let store = Arc::new(Store::open(None).unwrap());
        let ns = kinet_registry::resource("", "namespaces");
        store
            .create(
                &store_key(ns, None, "ns"),
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}, "status": {"phase": "Active"}}),
            )
            .unwrap();
        put(
            &store,
            Kind::Node,
            None,
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node1", "labels": {"topology.kubernetes.io/zone": "z1"}}}),
        );
        for (n, ip, ready) in [("a", "10.1.1.2", true), ("b", "10.1.1.3", false)] {
            let mut p = pod(n, ip, ready);
            p["apiVersion"] = json!("v1");
            p["kind"] = json!("Pod");
            put(&store, Kind::Pod, Some("ns"), p);
        }
        kinet_registry::create(
            &store,
            Kind::Service.resource(),
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "ns"},
                   "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}),
        )
        .unwrap();
        let mut c = Controller::new(store.clone());
        let key = ("ns".to_string(), "web".to_string());
        assert!(c.sync(&key));
        let before = versions(&store);
        assert_eq!(before.len(), 2, "{before:?}");
        let slices = store
            .list(&store_prefix(Kind::EndpointSlice.resource(), Some("ns")))
            .0;
        let eps = slices[0]["endpoints"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(eps.len(), 2);
        assert!(eps.iter().all(|e| e["zone"] == "z1"));
        assert!(c.sync(&key));
        assert_eq!(versions(&store), before);
        // the Service goes: so do its Endpoints and slices
        let svc_key = store_key(Kind::Service.resource(), Some("ns"), "web");
        store.delete(&svc_key, None).unwrap();
        assert!(c.sync(&key));
        assert!(versions(&store).is_empty());
    }
}

#[test]
fn a_ready_flip_within_the_same_second_is_a_change() {
    let s = svc(http());
    let mut t = TriggerTracker::default();
    let mut a = pod("a", "10.1.1.2", false);
    let _ = t.compute(&s, &[&a]);
    a["status"]["conditions"][0]["status"] = json!("True");
    assert_eq!(
        t.compute(&s, &[&a]).as_deref(),
        Some("2026-01-01T00:00:08Z")
    );
}

#[test]
fn endpoints_past_capacity_are_truncated_and_say_so() {
    let s = svc(http());
    let pods: Vec<Value> = (0..1001)
        .map(|i| {
            pod(
                &format!("p{i}"),
                &format!("10.1.{}.{}", i / 200, i % 200 + 2),
                i != 0,
            )
        })
        .collect();
    let refs: Vec<&Value> = pods.iter().collect();
    let ep = endpoints_object(&s, None, subsets(&s, &refs), None).unwrap_or_default();
    assert_eq!(ep["metadata"]["annotations"][OVER_CAPACITY], "truncated");
    let sub = &ep["subsets"][0];
    // the ready ones are kept first
    assert_eq!(sub["addresses"].as_array().map(Vec::len), Some(1000));
    assert!(sub.get("notReadyAddresses").is_none());
    assert_eq!(
        endpoints_object(&s, Some(&ep), subsets(&s, &refs), None),
        None
    );
}
