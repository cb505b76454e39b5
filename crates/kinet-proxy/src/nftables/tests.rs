use super::*;
use crate::fixtures::*;
use crate::model::{Cidr, Protocol};

fn cfg() -> Config {
    let mut c = Config::new("node1");
    c.cluster_cidr = Cidr::parse_net_or_host("10.1.0.0/16");
    c.service_cidrs = vec![Cidr::parse_net_or_host("10.152.183.0/24").unwrap()];
    c
}

#[test]
fn chain_names_match_upstream() {
    let name = ServicePortName {
        namespace: "ns1".into(),
        name: "svc1".into(),
        port: "p80".into(),
        protocol: Protocol::Tcp,
    };
    assert_eq!(service_chain_base(&name), "ULMVA6XW-ns1/svc1/tcp/p80");
    let ep = Endpoint {
        ip: "10.180.0.1".parse().unwrap(),
        port: 80,
        ready: true,
        serving: true,
        terminating: false,
        is_local: false,
        node_name: None,
        zone: None,
        zone_hints: Default::default(),
    };
    assert_eq!(
        endpoint_chain_base(&name, &ep),
        "5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80"
    );
    assert!(is_service_chain("service-ULMVA6XW-ns1/svc1/tcp/p80"));
    assert!(!is_service_chain("services"));
}

fn backend_state() -> ProxyState {
    let svc = service(
        "default",
        "backend",
        "10.152.183.50",
        &[("http", 80, "TCP")],
    );
    let sl = slice(
        "default",
        "backend",
        "backend-1",
        &[("http", 8080, "TCP")],
        &[ep("10.1.1.5", "node1", true), ep("10.1.2.6", "node2", true)],
    );
    ProxyState::from_objects("node1", &[svc], &[sl])
}

#[test]
fn full_transaction_has_table_maps_and_numgen() {
    let state = backend_state();
    let rs = NftRuleset::build(&state, &cfg());
    let sync = rs.full_transaction(&cfg(), true, &[], &[]);
    let tx = &sync.transaction;
    let base = service_chain_base(state.services.keys().next().unwrap());
    let ep1 = "endpoint-".to_string()
        + &endpoint_chain_base(
            state.services.keys().next().unwrap(),
            &state.endpoints.values().next().unwrap()[0],
        );
    let ep2 = "endpoint-".to_string()
        + &endpoint_chain_base(
            state.services.keys().next().unwrap(),
            &state.endpoints.values().next().unwrap()[1],
        );
    for line in [
        "add table ip kube-proxy { comment \"rules for kube-proxy\" ; }".to_string(),
        "add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }".to_string(),
        "add rule ip kube-proxy nat-prerouting jump services".to_string(),
        "add rule ip kube-proxy filter-input ct state new jump service-endpoints-check".to_string(),
        "add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips".to_string(),
        "add rule ip kube-proxy services fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports".to_string(),
        "add rule ip kube-proxy masquerading mark and 0x4000 == 0 return".to_string(),
        "add rule ip kube-proxy masquerading masquerade fully-random".to_string(),
        "add rule ip kube-proxy cluster-ips-check ip daddr { 10.152.183.0/24 } drop comment \"Drop traffic to unallocated ClusterIPs\"".to_string(),
        "add element ip kube-proxy cluster-ips { 10.152.183.50 }".to_string(),
        format!("add element ip kube-proxy service-ips {{ 10.152.183.50 . tcp . 80 : goto service-{base} }}"),
        format!("add rule ip kube-proxy service-{base} ip daddr 10.152.183.50 tcp dport 80 ip saddr != 10.1.0.0/16 jump mark-for-masquerade"),
        format!("add rule ip kube-proxy service-{base} numgen random mod 2 vmap {{ 0 : goto {ep1} , 1 : goto {ep2} }}"),
        format!("add rule ip kube-proxy {ep1} ip saddr 10.1.1.5 jump mark-for-masquerade"),
        format!("add rule ip kube-proxy {ep1} meta l4proto tcp dnat to 10.1.1.5:8080"),
    ] {
        assert!(tx.lines().any(|l| l == line), "missing {line}\nin:\n{tx}");
    }
    assert!(sync.stale_chains.is_empty());
}

#[test]
fn no_endpoints_and_affinity() {
    let mut svc = service("default", "empty", "10.152.183.70", &[("", 80, "TCP")]);
    let state = ProxyState::from_objects("node1", std::slice::from_ref(&svc), &[]);
    let tx = NftRuleset::build(&state, &cfg())
        .full_transaction(&cfg(), false, &[], &[])
        .transaction;
    assert!(tx.contains("add element ip kube-proxy no-endpoint-services { 10.152.183.70 . tcp . 80 comment \"default/empty\" : goto reject-chain }"), "{tx}");

    svc.spec.as_mut().unwrap().session_affinity = Some("ClientIP".into());
    let sl = slice(
        "default",
        "empty",
        "e-1",
        &[("", 80, "TCP")],
        &[ep("10.1.1.5", "node1", true)],
    );
    let state = ProxyState::from_objects("node1", &[svc], &[sl]);
    let tx = NftRuleset::build(&state, &cfg())
        .full_transaction(&cfg(), false, &[], &[])
        .transaction;
    let name = state.services.keys().next().unwrap();
    let base = endpoint_chain_base(name, &state.endpoints_of(name)[0]);
    for line in [
        format!(
            "add set ip kube-proxy affinity-{base} {{ type ipv4_addr ; flags dynamic,timeout ; timeout 10800s ; }}"
        ),
        format!(
            "add rule ip kube-proxy service-{} ip saddr @affinity-{base} goto endpoint-{base}",
            service_chain_base(name)
        ),
        format!("add rule ip kube-proxy endpoint-{base} update @affinity-{base} {{ ip saddr }}"),
    ] {
        assert!(tx.lines().any(|l| l == line), "missing {line}\nin:\n{tx}");
    }
}

#[test]
fn adding_one_service_touches_only_its_objects() {
    let mut services = Vec::new();
    let mut slices = Vec::new();
    for i in 0..50 {
        let n = format!("s{i}");
        services.push(service(
            "ns",
            &n,
            &format!("10.152.183.{}", i + 1),
            &[("", 80, "TCP")],
        ));
        slices.push(slice(
            "ns",
            &n,
            &format!("{n}-1"),
            &[("", 80, "TCP")],
            &[ep(&format!("10.1.1.{}", i + 1), "node1", true)],
        ));
    }
    let mut state = ProxyState::from_objects("node1", &services, &slices);
    let c = cfg();
    let mut rs = NftRuleset::build(&state, &c);
    let key = state.apply_service(&service("ns", "new", "10.152.183.200", &[("", 80, "TCP")]));
    state.apply_slice(&slice(
        "ns",
        "new",
        "new-1",
        &[("", 80, "TCP")],
        &[ep("10.1.2.9", "node2", true)],
    ));
    let sync = rs.update(&state, &c, &BTreeSet::from([key.clone()]));
    let tx = &sync.transaction;
    assert!(
        tx.lines()
            .all(|l| l.contains("ns/new") || l.contains("10.152.183.200")),
        "{tx}"
    );
    assert!(tx.contains(
        "add element ip kube-proxy service-ips { 10.152.183.200 . tcp . 80 : goto service-"
    ));
    assert_eq!(
        tx.lines().filter(|l| l.starts_with("add element")).count(),
        2
    );

    // Removing it deletes its elements and flushes its chains for later deletion.
    state.delete_service("ns", "new");
    let sync = rs.update(&state, &c, &BTreeSet::from([key]));
    assert!(
        sync.transaction
            .contains("delete element ip kube-proxy service-ips { 10.152.183.200 . tcp . 80 }")
    );
    assert!(
        sync.transaction
            .contains("delete element ip kube-proxy cluster-ips { 10.152.183.200 }")
    );
    assert_eq!(sync.stale_chains.len(), 2);
    let cleanup = cleanup_transaction(&sync.stale_chains);
    assert!(
        cleanup
            .lines()
            .all(|l| l.starts_with("delete chain ip kube-proxy "))
    );
    // The in-place ruleset equals a fresh build.
    let fresh = NftRuleset::build(&state, &c);
    assert_eq!(rs.services, fresh.services);
}

#[test]
fn full_sync_flushes_leftover_chains_and_deletes_leftover_sets() {
    let state = backend_state();
    let rs = NftRuleset::build(&state, &cfg());
    let sync = rs.full_transaction(
        &cfg(),
        false,
        &["services".into(), "service-OLD-ns/x/tcp/p".into()],
        &[
            "affinity-OLD-ns/x/tcp/p__1.2.3.4/80".into(),
            "cluster-ips".into(),
        ],
    );
    assert_eq!(sync.stale_chains, ["service-OLD-ns/x/tcp/p"]);
    assert!(
        sync.transaction
            .contains("flush chain ip kube-proxy service-OLD-ns/x/tcp/p\n")
    );
    assert!(
        sync.transaction
            .contains("delete set ip kube-proxy affinity-OLD-ns/x/tcp/p__1.2.3.4/80\n")
    );
    assert!(
        !sync
            .transaction
            .contains("delete set ip kube-proxy cluster-ips")
    );
}
