use super::*;
use crate::{Patch, Registry, WriteOpts, create};

fn store() -> Store {
    let s = Store::open(None).unwrap();
    for ns in ["default", "team"] {
        create(
            &s,
            resource("", "namespaces"),
            json!({"metadata": {"name": ns}}),
        )
        .unwrap();
    }
    s
}

fn svcs() -> &'static kinet_model::resources::Resource {
    resource("", "services")
}

fn svc(name: &str, spec: Value) -> Value {
    json!({"metadata": {"name": name, "namespace": "default"}, "spec": spec})
}

fn mk(s: &Store, name: &str, spec: Value) -> Result<Arc<Value>, ApiError> {
    create(s, svcs(), svc(name, spec))
}

fn patch(s: &Store, name: &str, p: Value) -> Result<Arc<Value>, ApiError> {
    Registry::new(s)
        .patch(
            svcs(),
            Some("default"),
            name,
            None,
            &Patch::StrategicMerge(p),
            WriteOpts::IN_PROCESS,
        )
        .map(|w| w.object)
}

use std::sync::Arc;

#[test]
fn a_cluster_ip_service_gets_defaults_families_and_an_address() {
    let s = store();
    let o = mk(
        &s,
        "web",
        json!({"selector": {"app": "web"}, "ports": [{"port": 80}]}),
    )
    .unwrap();
    let spec = &o["spec"];
    assert_eq!(spec["type"], "ClusterIP");
    assert_eq!(spec["ipFamilies"], json!(["IPv4"]));
    assert_eq!(spec["ipFamilyPolicy"], "SingleStack");
    assert_eq!(spec["sessionAffinity"], "None");
    assert_eq!(spec["internalTrafficPolicy"], "Cluster");
    assert_eq!(spec["ports"][0]["targetPort"], 80);
    let ip: Ipv4Addr = j::str_at(&o, "/spec/clusterIP").parse().unwrap();
    assert!(kinet_model::lab::SERVICE_CIDR.contains(ip));
    assert_ne!(ip, kinet_model::lab::CLUSTER_DNS_IP);
    assert_eq!(spec["clusterIPs"], json!([ip.to_string()]));
    assert_eq!(o["status"], json!({"loadBalancer": {}}));
}

#[test]
fn requested_addresses_are_honoured_or_refused_with_upstreams_words() {
    let s = store();
    let dns = kinet_model::lab::CLUSTER_DNS_IP.to_string();
    let o = mk(
        &s,
        "dns",
        json!({"clusterIP": dns, "ports": [{"port": 53}]}),
    )
    .unwrap();
    assert_eq!(o["spec"]["clusterIPs"], json!([dns]));
    let e = mk(
        &s,
        "dns2",
        json!({"clusterIP": dns, "ports": [{"port": 53}]}),
    )
    .unwrap_err();
    assert_eq!(e.code, 422);
    assert_eq!(
        e.message,
        format!(
            "Service \"dns2\" is invalid: spec.clusterIPs: Invalid value: []string{{\"{dns}\"}}: failed to allocate IP {dns}: provided IP is already allocated"
        )
    );
    let e = mk(
        &s,
        "far",
        json!({"clusterIP": "10.0.0.5", "ports": [{"port": 80}]}),
    )
    .unwrap_err();
    assert_eq!(
        e.message,
        "Service \"far\" is invalid: spec.clusterIPs: Invalid value: []string{\"10.0.0.5\"}: failed to allocate IP 10.0.0.5: the provided IP (10.0.0.5) is not in the valid range. The range of valid IPs is 10.152.183.0/24"
    );
    // creating it again is AlreadyExists, not an address conflict
    let e = mk(
        &s,
        "dns",
        json!({"clusterIP": dns, "ports": [{"port": 53}]}),
    )
    .unwrap_err();
    assert_eq!(e.reason, "AlreadyExists");
    // freed on delete
    Registry::new(&s)
        .delete(svcs(), Some("default"), "dns", None, None, false)
        .unwrap();
    mk(
        &s,
        "dns2",
        json!({"clusterIP": dns, "ports": [{"port": 53}]}),
    )
    .unwrap();
}

#[test]
fn headless_and_external_name_get_no_address() {
    let s = store();
    let h = mk(
        &s,
        "h",
        json!({"clusterIP": "None", "selector": {"app": "x"}, "ports": [{"port": 80}]}),
    )
    .unwrap();
    assert_eq!(h["spec"]["clusterIPs"], json!(["None"]));
    assert_eq!(h["spec"]["ipFamilyPolicy"], "SingleStack");
    let h2 = mk(&s, "h2", json!({"clusterIP": "None"})).unwrap();
    assert_eq!(h2["spec"]["ipFamilyPolicy"], "RequireDualStack");
    assert_eq!(h2["spec"]["ipFamilies"], json!(["IPv4", "IPv6"]));
    let en = mk(
        &s,
        "en",
        json!({"type": "ExternalName", "externalName": "example.org"}),
    )
    .unwrap();
    assert!(en["spec"].get("clusterIP").is_none());
    assert!(en["spec"].get("ipFamilies").is_none());
}

#[test]
fn dual_stack_is_refused_prefer_dual_stack_stays_single() {
    let s = store();
    let e = mk(
        &s,
        "d",
        json!({"ipFamilyPolicy": "RequireDualStack", "ports": [{"port": 80}]}),
    )
    .unwrap_err();
    assert_eq!(
        e.message,
        "Service \"d\" is invalid: spec.ipFamilyPolicy: Invalid value: \"RequireDualStack\": this cluster is not configured for dual-stack services"
    );
    let p = mk(
        &s,
        "p",
        json!({"ipFamilyPolicy": "PreferDualStack", "ports": [{"port": 80}]}),
    )
    .unwrap();
    assert_eq!(p["spec"]["ipFamilyPolicy"], "PreferDualStack");
    assert_eq!(p["spec"]["ipFamilies"], json!(["IPv4"]));
}

#[test]
fn node_ports_are_allocated_requested_and_refused() {
    let s = store();
    let o = mk(
        &s,
        "np",
        json!({"type": "NodePort", "ports": [{"name": "a", "port": 80, "nodePort": 30080}, {"name": "b", "port": 81}]}),
    )
    .unwrap();
    assert_eq!(o["spec"]["ports"][0]["nodePort"], 30080);
    let n = j::int_at(&o["spec"]["ports"][1], "/nodePort").unwrap();
    assert!((30000..=32767).contains(&n) && n != 30080);
    assert_eq!(o["spec"]["externalTrafficPolicy"], "Cluster");
    let e = mk(
        &s,
        "np2",
        json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]}),
    )
    .unwrap_err();
    assert_eq!(
        e.message,
        "Service \"np2\" is invalid: spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated"
    );
    let e = mk(
        &s,
        "np3",
        json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 80}]}),
    )
    .unwrap_err();
    assert_eq!(
        e.message,
        "Service \"np3\" is invalid: spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767"
    );
    // one requested port number serves TCP and UDP
    let d = mk(
        &s,
        "dns",
        json!({"type": "NodePort", "ports": [{"name": "u", "port": 53, "protocol": "UDP"}, {"name": "t", "port": 53, "protocol": "TCP", "nodePort": 30053}]}),
    )
    .unwrap();
    assert_eq!(d["spec"]["ports"][0]["nodePort"], 30053);
    assert_eq!(d["spec"]["ports"][1]["nodePort"], 30053);
}

#[test]
fn load_balancers_and_local_traffic_get_a_health_check_port() {
    let s = store();
    let o = mk(
        &s,
        "lb",
        json!({"type": "LoadBalancer", "externalTrafficPolicy": "Local", "ports": [{"port": 80}]}),
    )
    .unwrap();
    assert_eq!(o["spec"]["allocateLoadBalancerNodePorts"], true);
    let hc = j::int_at(&o, "/spec/healthCheckNodePort").unwrap();
    assert!((30000..=32767).contains(&hc));
    assert_ne!(Some(hc), j::int_at(&o["spec"]["ports"][0], "/nodePort"));
    let o = mk(
        &s,
        "lb2",
        json!({"type": "LoadBalancer", "allocateLoadBalancerNodePorts": false, "ports": [{"port": 80}]}),
    )
    .unwrap();
    assert!(o["spec"]["ports"][0].get("nodePort").is_none());
    let e = mk(
        &s,
        "c",
        json!({"externalTrafficPolicy": "Local", "ports": [{"port": 80}]}),
    )
    .unwrap_err();
    assert_eq!(
        e.message,
        "Service \"c\" is invalid: spec.externalTrafficPolicy: Invalid value: \"Local\": may only be set for externally-accessible services"
    );
}

#[test]
fn type_changes_allocate_and_release() {
    let s = store();
    let o = mk(&s, "web", json!({"ports": [{"port": 80}]})).unwrap();
    let ip = j::str_at(&o, "/spec/clusterIP").to_string();
    let o = patch(
        &s,
        "web",
        json!({"spec": {"type": "NodePort", "externalTrafficPolicy": "Local"}}),
    )
    .unwrap();
    assert_eq!(j::str_at(&o, "/spec/clusterIP"), ip);
    let np = j::int_at(&o["spec"]["ports"][0], "/nodePort").unwrap();
    assert_eq!(o["spec"]["externalTrafficPolicy"], "Local");
    assert!(o["spec"].get("healthCheckNodePort").is_none());
    // a patch that does not name the node port keeps it
    let o = patch(&s, "web", json!({"metadata": {"labels": {"a": "b"}}})).unwrap();
    assert_eq!(j::int_at(&o["spec"]["ports"][0], "/nodePort"), Some(np));
    let o = patch(&s, "web", json!({"spec": {"type": "LoadBalancer"}})).unwrap();
    assert!(j::int_at(&o, "/spec/healthCheckNodePort").is_some());
    assert_eq!(j::int_at(&o["spec"]["ports"][0], "/nodePort"), Some(np));
    let o = patch(&s, "web", json!({"spec": {"type": "ClusterIP"}})).unwrap();
    assert!(o["spec"]["ports"][0].get("nodePort").is_none());
    assert!(o["spec"].get("externalTrafficPolicy").is_none());
    assert!(o["spec"].get("healthCheckNodePort").is_none());
    assert!(o["spec"].get("allocateLoadBalancerNodePorts").is_none());
    // the released port is free for another Service
    mk(
        &s,
        "other",
        json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": np}]}),
    )
    .unwrap();
    // to ExternalName and back: the address goes and a new one comes
    let o = patch(
        &s,
        "web",
        json!({"spec": {"type": "ExternalName", "externalName": "example.org"}}),
    )
    .unwrap();
    assert!(o["spec"].get("clusterIP").is_none());
    assert!(o["spec"].get("ipFamilies").is_none());
    let o = patch(
        &s,
        "web",
        json!({"spec": {"type": "ClusterIP", "externalName": null}}),
    )
    .unwrap();
    assert!(!j::str_at(&o, "/spec/clusterIP").is_empty());
}

#[test]
fn the_cluster_ip_may_not_change() {
    let s = store();
    mk(&s, "web", json!({"ports": [{"port": 80}]})).unwrap();
    let e = patch(&s, "web", json!({"spec": {"clusterIP": "10.152.183.99"}})).unwrap_err();
    assert_eq!(
        e.message,
        "Service \"web\" is invalid: spec.clusterIPs[0]: Invalid value: []string{\"10.152.183.99\"}: may not change once set"
    );
}

#[test]
fn allocation_is_derived_from_the_store_and_never_shared() {
    let s = Arc::new(store());
    let mut ips = BTreeSet::new();
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                (0..10)
                    .map(|i| {
                        let o = mk(
                            &s,
                            &format!("s{t}-{i}"),
                            json!({"type": "NodePort", "ports": [{"port": 80}]}),
                        )
                        .unwrap();
                        (
                            j::str_at(&o, "/spec/clusterIP").to_string(),
                            j::int_at(&o["spec"]["ports"][0], "/nodePort").unwrap(),
                        )
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut ports = BTreeSet::new();
    for h in handles {
        for (ip, port) in h.join().unwrap() {
            assert!(ips.insert(ip), "an address handed out twice");
            assert!(ports.insert(port), "a node port handed out twice");
        }
    }
    // a fresh allocator rebuilt from the store sees all of them (a restart)
    let r = svcs();
    let (list, _) = s.list(&resources::store_prefix(r, None));
    let a = Allocations::from_services(list.iter().map(|v| v.as_ref()));
    assert_eq!(a.ips.used(), 40);
    for ip in &ips {
        assert!(a.ips.has(ip.parse().unwrap()));
    }
}
