// Tests pass fixtures by value-copies for readability.
#![allow(clippy::cloned_ref_to_slice_refs)]

use super::*;
use crate::fixtures::*;
use crate::iptables_trace::{Origin, Packet, Tracer, Verdict};
use crate::model::Protocol;
use k8s_openapi::api::core::v1::{ClientIPConfig, Service, SessionAffinityConfig};
use k8s_openapi::api::discovery::v1::EndpointSlice;

const NODE1_IP: &str = "192.168.100.11";
const NODE2_IP: &str = "192.168.100.12";

fn cfg(node: &str) -> Config {
    let mut c = Config::new(node);
    c.cluster_cidr = Cidr::parse_net_or_host("10.1.0.0/16");
    c.node_ip = Some(
        if node == "node1" { NODE1_IP } else { NODE2_IP }
            .parse()
            .unwrap(),
    );
    c
}

fn rules(node: &str, services: &[Service], slices: &[EndpointSlice]) -> String {
    let state = ProxyState::from_objects(node, services, slices);
    Ruleset::build(&state, &cfg(node)).full_restore(&[])
}

fn tracer(node: &str, services: &[Service], slices: &[EndpointSlice]) -> Tracer {
    let ip = if node == "node1" { NODE1_IP } else { NODE2_IP };
    Tracer::new(&rules(node, services, slices), &[ip.parse().unwrap()]).unwrap()
}

fn pod(src: &str, dst: &str, port: u16) -> Packet {
    Packet::new(Origin::Pod, src, dst, port, Protocol::Tcp)
}

fn dnat(list: &[&str]) -> Verdict {
    Verdict::Dnat(list.iter().map(|s| s.to_string()).collect())
}

fn backend() -> (Service, EndpointSlice) {
    (
        service(
            "default",
            "backend",
            "10.152.183.50",
            &[("http", 80, "TCP")],
        ),
        slice(
            "default",
            "backend",
            "backend-abcde",
            &[("http", 8080, "TCP")],
            &[ep("10.1.1.5", "node1", true), ep("10.1.2.6", "node2", true)],
        ),
    )
}

fn node_port(mut svc: Service, port: i32, local: bool) -> Service {
    let spec = svc.spec.as_mut().unwrap();
    spec.type_ = Some("NodePort".into());
    spec.ports.as_mut().unwrap()[0].node_port = Some(port);
    spec.external_traffic_policy = Some(if local { "Local" } else { "Cluster" }.into());
    svc
}

#[test]
fn golden_cluster_ip_with_two_endpoints() {
    let (svc, sl) = backend();
    let got = rules("node1", &[svc], &[sl]);
    let want = r#"*filter
:KUBE-SERVICES - [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
:KUBE-FIREWALL - [0:0]
-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
*nat
:KUBE-SERVICES - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-SVC-POOGYJBNEVT3HFAO - [0:0]
:KUBE-SEP-BECQMALQQ3TBOZNT - [0:0]
:KUBE-SEP-XVGTUGMW4K66V37T - [0:0]
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-SERVICES -m comment --comment "default/backend:http cluster IP" -m tcp -p tcp -d 10.152.183.50 --dport 80 -j KUBE-SVC-POOGYJBNEVT3HFAO
-A KUBE-SVC-POOGYJBNEVT3HFAO -m comment --comment "default/backend:http cluster IP" -m tcp -p tcp -d 10.152.183.50 --dport 80 ! -s 10.1.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-POOGYJBNEVT3HFAO -m comment --comment "default/backend:http -> 10.1.1.5:8080" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-BECQMALQQ3TBOZNT
-A KUBE-SVC-POOGYJBNEVT3HFAO -m comment --comment "default/backend:http -> 10.1.2.6:8080" -j KUBE-SEP-XVGTUGMW4K66V37T
-A KUBE-SEP-BECQMALQQ3TBOZNT -m comment --comment default/backend:http -s 10.1.1.5 -j KUBE-MARK-MASQ
-A KUBE-SEP-BECQMALQQ3TBOZNT -m comment --comment default/backend:http -m tcp -p tcp -j DNAT --to-destination 10.1.1.5:8080
-A KUBE-SEP-XVGTUGMW4K66V37T -m comment --comment default/backend:http -s 10.1.2.6 -j KUBE-MARK-MASQ
-A KUBE-SEP-XVGTUGMW4K66V37T -m comment --comment default/backend:http -m tcp -p tcp -j DNAT --to-destination 10.1.2.6:8080
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
COMMIT
"#;
    assert_eq!(got, want, "got:\n{got}");
}

#[test]
fn chain_names_and_lines_match_upstream_fixtures() {
    // pkg/proxy/iptables/proxier_test.go: ns1/svc1:p80 with externalTrafficPolicy
    // Local, one endpoint elsewhere and one on this node, cluster CIDR 10.0.0.0/8.
    let svc = node_port(
        service("ns1", "svc1", "172.30.0.41", &[("p80", 80, "TCP")]),
        3001,
        true,
    );
    let sl = slice(
        "ns1",
        "svc1",
        "svc1-1",
        &[("p80", 80, "TCP")],
        &[
            ep("10.180.0.1", "host2", true),
            ep("10.180.2.1", "node1", true),
        ],
    );
    let state = ProxyState::from_objects("node1", &[svc], &[sl]);
    let mut c = cfg("node1");
    c.cluster_cidr = Cidr::parse_net_or_host("10.0.0.0/8");
    let got = Ruleset::build(&state, &c).full_restore(&[]);
    for line in [
        r#"-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O"#,
        r#"-A KUBE-EXT-XPGD46QRK7WJZT7O -m comment --comment "pod traffic for ns1/svc1:p80 external destinations" -s 10.0.0.0/8 -j KUBE-SVC-XPGD46QRK7WJZT7O"#,
        r#"-A KUBE-EXT-XPGD46QRK7WJZT7O -m comment --comment "masquerade LOCAL traffic for ns1/svc1:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ"#,
        r#"-A KUBE-EXT-XPGD46QRK7WJZT7O -m comment --comment "route LOCAL traffic for ns1/svc1:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-SVC-XPGD46QRK7WJZT7O"#,
        "-A KUBE-EXT-XPGD46QRK7WJZT7O -j KUBE-SVL-XPGD46QRK7WJZT7O",
        "-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ",
        "-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80",
        "-A KUBE-SEP-ZX7GRIZKSNUQ3LAJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.2.1:80",
        r#"-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ"#,
        r#"-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-SXIVWICOYRO3J4NJ"#,
        r#"-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.2.1:80" -j KUBE-SEP-ZX7GRIZKSNUQ3LAJ"#,
        r#"-A KUBE-SVL-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.2.1:80" -j KUBE-SEP-ZX7GRIZKSNUQ3LAJ"#,
        "-A KUBE-NODEPORTS -m comment --comment ns1/svc1:p80 -m tcp -p tcp --dport 3001 -j KUBE-EXT-XPGD46QRK7WJZT7O",
    ] {
        assert!(got.lines().any(|l| l == line), "missing {line}\nin:\n{got}");
    }
}

#[test]
fn probabilities_are_formatted_as_upstream() {
    assert_eq!(probability(2), "0.5000000000");
    assert_eq!(probability(3), "0.3333333333");
    assert_eq!(probability(6), "0.1666666667");
}

#[test]
fn trace_cluster_ip_balances_over_ready_endpoints() {
    let (svc, sl) = backend();
    let t = tracer("node1", &[svc], &[sl]);
    let tr = t.trace(&pod("10.1.1.9", "10.152.183.50", 80));
    assert_eq!(tr.verdict, dnat(&["10.1.1.5:8080", "10.1.2.6:8080"]));
    assert!(!tr.masquerade, "pod traffic keeps its source");
    // From the node itself (not the cluster CIDR): masqueraded.
    let tr = t.trace(&Packet::new(
        Origin::Node,
        NODE1_IP,
        "10.152.183.50",
        80,
        Protocol::Tcp,
    ));
    assert_eq!(tr.verdict, dnat(&["10.1.1.5:8080", "10.1.2.6:8080"]));
    assert!(tr.masquerade);
    // Other ports of the ClusterIP are not proxied.
    assert_eq!(
        t.trace(&pod("10.1.1.9", "10.152.183.50", 81)).verdict,
        Verdict::Accept
    );
    // Pod IPs directly are untouched.
    assert_eq!(
        t.trace(&pod("10.1.1.9", "10.1.2.6", 8080)).verdict,
        Verdict::Accept
    );
}

#[test]
fn trace_hairpin_masquerades_only_the_path_back_to_itself() {
    let (svc, sl) = backend();
    let t = tracer("node1", &[svc], &[sl]);
    let tr = t.trace(&pod("10.1.1.5", "10.152.183.50", 80));
    assert_eq!(tr.verdict, dnat(&["10.1.1.5:8080", "10.1.2.6:8080"]));
    assert_eq!(tr.masqueraded_to, ["10.1.1.5:8080"]);
}

#[test]
fn multi_port_service_resolves_named_target_ports() {
    let svc = service(
        "default",
        "web",
        "10.152.183.60",
        &[("http", 80, "TCP"), ("metrics", 9090, "TCP")],
    );
    let sl = slice(
        "default",
        "web",
        "web-1",
        &[("http", 8080, "TCP"), ("metrics", 9100, "TCP")],
        &[ep("10.1.1.7", "node1", true)],
    );
    let text = rules("node1", &[svc.clone()], &[sl.clone()]);
    assert!(text.contains(r#"--comment "default/web:http cluster IP""#));
    assert!(text.contains(r#"--comment "default/web:metrics cluster IP""#));
    let t = tracer("node1", &[svc], &[sl]);
    assert_eq!(
        t.trace(&pod("10.1.2.2", "10.152.183.60", 80)).verdict,
        dnat(&["10.1.1.7:8080"])
    );
    assert_eq!(
        t.trace(&pod("10.1.2.2", "10.152.183.60", 9090)).verdict,
        dnat(&["10.1.1.7:9100"])
    );
}

#[test]
fn no_endpoints_rejects_at_once() {
    let svc = node_port(
        service("default", "empty", "10.152.183.70", &[("", 80, "TCP")]),
        30070,
        false,
    );
    let sl = slice("default", "empty", "empty-1", &[("", 80, "TCP")], &[]);
    let text = rules("node1", &[svc.clone()], &[sl.clone()]);
    assert!(text.contains(
        r#"-A KUBE-SERVICES -m comment --comment "default/empty has no endpoints" -m tcp -p tcp -d 10.152.183.70 --dport 80 -j REJECT"#
    ), "{text}");
    assert!(text.contains(
        r#"-A KUBE-EXTERNAL-SERVICES -m comment --comment "default/empty has no endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 30070 -j REJECT"#
    ), "{text}");
    assert!(
        !text.contains("KUBE-SVC-"),
        "no nat chains without endpoints"
    );
    let t = tracer("node1", &[svc], &[sl]);
    assert_eq!(
        t.trace(&pod("10.1.1.9", "10.152.183.70", 80)).verdict,
        Verdict::Reject
    );
    assert_eq!(
        t.trace(&Packet::new(
            Origin::Node,
            NODE1_IP,
            "10.152.183.70",
            80,
            Protocol::Tcp
        ))
        .verdict,
        Verdict::Reject
    );
    assert_eq!(
        t.trace(&Packet::new(
            Origin::External,
            "192.168.100.1",
            NODE1_IP,
            30070,
            Protocol::Tcp
        ))
        .verdict,
        Verdict::Reject
    );
}

#[test]
fn node_port_cluster_policy_masquerades_and_reaches_every_endpoint() {
    let (svc, sl) = backend();
    let svc = node_port(svc, 30080, false);
    for node in ["node1", "node2"] {
        let ip = if node == "node1" { NODE1_IP } else { NODE2_IP };
        let t = tracer(node, &[svc.clone()], &[sl.clone()]);
        let tr = t.trace(&Packet::new(
            Origin::External,
            "192.168.100.1",
            ip,
            30080,
            Protocol::Tcp,
        ));
        assert_eq!(
            tr.verdict,
            dnat(&["10.1.1.5:8080", "10.1.2.6:8080"]),
            "{node}"
        );
        assert!(tr.masquerade, "{node}: source NATed");
        // Not on another address.
        let tr = t.trace(&Packet::new(
            Origin::External,
            "192.168.100.1",
            "192.168.100.99",
            30080,
            Protocol::Tcp,
        ));
        assert_eq!(tr.verdict, Verdict::Accept);
    }
}

#[test]
fn node_port_local_policy_keeps_client_ip_and_drops_without_local_endpoint() {
    let (svc, sl) = backend();
    let mut sl = sl;
    sl.endpoints = Some(vec![ep("10.1.1.5", "node1", true)]);
    let svc = node_port(svc, 30080, true);
    let outside =
        |ip: &str| Packet::new(Origin::External, "192.168.100.1", ip, 30080, Protocol::Tcp);

    let t1 = tracer("node1", &[svc.clone()], &[sl.clone()]);
    let tr = t1.trace(&outside(NODE1_IP));
    assert_eq!(tr.verdict, dnat(&["10.1.1.5:8080"]));
    assert!(!tr.masquerade, "client IP preserved");

    let t2 = tracer("node2", &[svc.clone()], &[sl.clone()]);
    let text = rules("node2", &[svc], &[sl]);
    assert!(text.contains(r#"--comment "default/backend:http has no local endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 30080 -j DROP"#), "{text}");
    assert_eq!(t2.trace(&outside(NODE2_IP)).verdict, Verdict::Drop);
    // Pods and the node itself are short-circuited to the cluster-wide chain.
    let tr = t2.trace(&pod("10.1.2.9", NODE2_IP, 30080));
    assert_eq!(tr.verdict, dnat(&["10.1.1.5:8080"]));
    assert!(!tr.masquerade);
    let tr = t2.trace(&Packet::new(
        Origin::Node,
        NODE2_IP,
        NODE2_IP,
        30080,
        Protocol::Tcp,
    ));
    assert_eq!(tr.verdict, dnat(&["10.1.1.5:8080"]));
    assert!(tr.masquerade);
    // The ClusterIP still works from node2.
    assert_eq!(
        t2.trace(&pod("10.1.2.9", "10.152.183.50", 80)).verdict,
        dnat(&["10.1.1.5:8080"])
    );
}

#[test]
fn internal_traffic_policy_local() {
    let (mut svc, sl) = backend();
    svc.spec.as_mut().unwrap().internal_traffic_policy = Some("Local".into());
    let t1 = tracer("node1", &[svc.clone()], &[sl.clone()]);
    assert_eq!(
        t1.trace(&pod("10.1.1.9", "10.152.183.50", 80)).verdict,
        dnat(&["10.1.1.5:8080"])
    );
    let mut only_remote = sl.clone();
    only_remote.endpoints = Some(vec![ep("10.1.2.6", "node2", true)]);
    let text = rules("node1", &[svc.clone()], &[only_remote.clone()]);
    assert!(text.contains(
        r#"-A KUBE-SERVICES -m comment --comment "default/backend:http has no local endpoints" -m tcp -p tcp -d 10.152.183.50 --dport 80 -j DROP"#
    ), "{text}");
    let t = tracer("node1", &[svc], &[only_remote]);
    assert_eq!(
        t.trace(&pod("10.1.1.9", "10.152.183.50", 80)).verdict,
        Verdict::Drop
    );
}

#[test]
fn session_affinity_client_ip_uses_recent() {
    let (mut svc, sl) = backend();
    {
        let spec = svc.spec.as_mut().unwrap();
        spec.session_affinity = Some("ClientIP".into());
        spec.session_affinity_config = Some(SessionAffinityConfig {
            client_ip: Some(ClientIPConfig {
                timeout_seconds: Some(60),
            }),
        });
    }
    let text = rules("node1", &[svc.clone()], &[sl.clone()]);
    for line in [
        r#"-A KUBE-SVC-POOGYJBNEVT3HFAO -m comment --comment "default/backend:http -> 10.1.1.5:8080" -m recent --name KUBE-SEP-BECQMALQQ3TBOZNT --rcheck --seconds 60 --reap -j KUBE-SEP-BECQMALQQ3TBOZNT"#,
        r#"-A KUBE-SVC-POOGYJBNEVT3HFAO -m comment --comment "default/backend:http -> 10.1.2.6:8080" -m recent --name KUBE-SEP-XVGTUGMW4K66V37T --rcheck --seconds 60 --reap -j KUBE-SEP-XVGTUGMW4K66V37T"#,
        "-A KUBE-SEP-BECQMALQQ3TBOZNT -m comment --comment default/backend:http -m recent --name KUBE-SEP-BECQMALQQ3TBOZNT --set -m tcp -p tcp -j DNAT --to-destination 10.1.1.5:8080",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line}\nin:\n{text}"
        );
    }
    // The default timeout is 10800 s.
    svc.spec.as_mut().unwrap().session_affinity_config = None;
    assert!(
        rules("node1", &[svc.clone()], &[sl.clone()]).contains("--rcheck --seconds 10800 --reap")
    );
    let t = tracer("node1", &[svc], &[sl]);
    assert_eq!(
        t.trace(&pod("10.1.1.9", "10.152.183.50", 80)).verdict,
        dnat(&["10.1.1.5:8080", "10.1.2.6:8080"])
    );
}

#[test]
fn terminating_endpoints_only_when_no_ready_ones() {
    let (svc, mut sl) = backend();
    sl.endpoints = Some(vec![
        ep("10.1.1.5", "node1", true),
        terminating_ep("10.1.2.6", "node2", true),
    ]);
    let t = tracer("node1", &[svc.clone()], &[sl.clone()]);
    assert_eq!(
        t.trace(&pod("10.1.1.9", "10.152.183.50", 80)).verdict,
        dnat(&["10.1.1.5:8080"])
    );
    sl.endpoints = Some(vec![
        terminating_ep("10.1.1.5", "node1", false),
        terminating_ep("10.1.2.6", "node2", true),
    ]);
    let t = tracer("node1", &[svc.clone()], &[sl.clone()]);
    assert_eq!(
        t.trace(&pod("10.1.1.9", "10.152.183.50", 80)).verdict,
        dnat(&["10.1.2.6:8080"])
    );
    sl.endpoints = Some(vec![terminating_ep("10.1.1.5", "node1", false)]);
    let t = tracer("node1", &[svc], &[sl]);
    assert_eq!(
        t.trace(&pod("10.1.1.9", "10.152.183.50", 80)).verdict,
        Verdict::Reject
    );
}

#[test]
fn udp_services() {
    let svc = service("kube-system", "dns", "10.152.183.10", &[("dns", 53, "UDP")]);
    let sl = slice(
        "kube-system",
        "dns",
        "dns-1",
        &[("dns", 53, "UDP")],
        &[ep("10.1.1.3", "node1", true)],
    );
    let text = rules("node1", &[svc.clone()], &[sl.clone()]);
    assert!(text.contains(r#"-m comment --comment "kube-system/dns:dns cluster IP" -m udp -p udp -d 10.152.183.10 --dport 53"#));
    assert!(text.contains("-m udp -p udp -j DNAT --to-destination 10.1.1.3:53"));
    let t = tracer("node1", &[svc], &[sl]);
    assert_eq!(
        t.trace(&Packet::new(
            Origin::Pod,
            "10.1.2.2",
            "10.152.183.10",
            53,
            Protocol::Udp
        ))
        .verdict,
        dnat(&["10.1.1.3:53"])
    );
    assert_eq!(
        t.trace(&pod("10.1.2.2", "10.152.183.10", 53)).verdict,
        Verdict::Accept
    );
}

#[test]
fn large_clusters_drop_endpoint_comments() {
    let mut services = Vec::new();
    let mut slices = Vec::new();
    for i in 0..600 {
        let name = format!("s{i}");
        services.push(service(
            "ns",
            &name,
            &format!("10.152.{}.{}", i / 250, i % 250 + 1),
            &[("", 80, "TCP")],
        ));
        slices.push(slice(
            "ns",
            &name,
            &format!("{name}-1"),
            &[("", 80, "TCP")],
            &[
                ep(&format!("10.1.{}.{}", i / 250, i % 250 + 1), "node1", true),
                ep(
                    &format!("10.1.{}.{}", i / 250 + 10, i % 250 + 1),
                    "node2",
                    true,
                ),
            ],
        ));
    }
    let text = rules("node1", &services, &slices);
    assert!(
        !text.contains(" -> "),
        "no per-endpoint comments above 1000 endpoints"
    );
    assert!(text.contains(r#"--comment "ns/s0 cluster IP""#));
    let t = Tracer::new(&text, &[NODE1_IP.parse().unwrap()]).unwrap();
    assert_eq!(
        t.trace(&pod("10.1.9.9", "10.152.0.1", 80)).verdict,
        dnat(&["10.1.0.1:80", "10.1.10.1:80"])
    );
}

#[test]
fn jump_rules_print_as_iptables_save() {
    assert_eq!(
        JUMP_RULES[0].save_line(),
        r#"-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES"#
    );
    assert_eq!(JUMP_RULES[12].args(), ["-j", "KUBE-FIREWALL"]);
}

fn three_services() -> (Vec<Service>, Vec<EndpointSlice>) {
    let mut services = Vec::new();
    let mut slices = Vec::new();
    for (i, name) in ["a", "b", "c"].iter().enumerate() {
        services.push(service(
            "default",
            name,
            &format!("10.152.183.{}", 100 + i),
            &[("http", 80, "TCP")],
        ));
        slices.push(slice(
            "default",
            name,
            &format!("{name}-1"),
            &[("http", 8080, "TCP")],
            &[ep(&format!("10.1.1.{}", 10 + i), "node1", true)],
        ));
    }
    (services, slices)
}

#[test]
fn partial_sync_rewrites_only_changed_chains_and_deletes_stale_ones() {
    let (services, mut slices) = three_services();
    let c = cfg("node1");
    let mut state = ProxyState::from_objects("node1", &services, &slices);
    let before = Ruleset::build(&state, &c);
    let full = before.full_restore(&[]);
    let mut live = Tracer::new(&full, &[NODE1_IP.parse().unwrap()]).unwrap();

    // b's endpoint moves: b's SEP chain is replaced.
    slices[1].endpoints = Some(vec![ep("10.1.2.20", "node2", true)]);
    let key = state.apply_slice(&slices[1]).unwrap();
    let mut after = before.clone();
    let delta = after.update(&state, &c, &BTreeSet::from([key]));
    let partial = after.delta_restore(&delta);
    assert_eq!(
        partial,
        after.partial_restore(&before),
        "both ways to a partial sync agree"
    );
    assert!(!partial.contains(":KUBE-SVC-") || partial.matches(":KUBE-SVC-").count() == 1);
    assert!(partial.contains("10.1.2.20:8080"));
    assert!(
        !partial.contains("10.1.1.10:8080"),
        "a's chains are not rewritten:\n{partial}"
    );
    let old_sep = format!(
        "KUBE-SEP-{}",
        endpoint_hash("default/b:http", "tcp", "10.1.1.11:8080")
    );
    assert!(partial.contains(&format!("-X {old_sep}\n")), "{partial}");
    // Top-level chains are complete: a and c's ClusterIP rules are there.
    assert!(partial.contains(r#""default/a:http cluster IP" -m tcp -p tcp -d 10.152.183.100"#));

    live.apply(&partial).unwrap();
    let fresh = Tracer::new(&after.full_restore(&[]), &[NODE1_IP.parse().unwrap()]).unwrap();
    assert_eq!(live.chains("nat"), fresh.chains("nat"));
    assert_eq!(live.chains("filter"), fresh.chains("filter"));
    assert_eq!(
        Ruleset::build(&state, &c).full_restore(&[]),
        after.full_restore(&[])
    );

    // c goes away: its chains are deleted.
    state.delete_service("default", "c");
    let mut gone = after.clone();
    let delta = gone.update(
        &state,
        &c,
        &BTreeSet::from([("default".to_string(), "c".to_string())]),
    );
    assert!(delta.rewritten.is_empty());
    let partial = gone.delta_restore(&delta);
    let c_svc = format!("KUBE-SVC-{}", port_proto_hash("default/c:http", "tcp"));
    assert!(
        partial.contains(&format!(":{c_svc} - [0:0]\n"))
            && partial.contains(&format!("-X {c_svc}\n"))
    );
    live.apply(&partial).unwrap();
    let fresh = Tracer::new(&gone.full_restore(&[]), &[NODE1_IP.parse().unwrap()]).unwrap();
    assert_eq!(live.chains("nat"), fresh.chains("nat"));
    assert_eq!(
        live.trace(&pod("10.1.1.1", "10.152.183.102", 80)).verdict,
        Verdict::Accept
    );
}

#[test]
fn full_sync_deletes_leftover_service_chains_only() {
    let (services, slices) = three_services();
    let state = ProxyState::from_objects("node1", &services, &slices);
    let rs = Ruleset::build(&state, &cfg("node1"));
    let existing = vec![
        "KUBE-SERVICES".to_string(),
        "KUBE-SEP-OLDOLDOLDOLDOLDO".to_string(),
        "CALICO-CHAIN".to_string(),
    ];
    let text = rs.full_restore(&existing);
    assert!(text.contains(":KUBE-SEP-OLDOLDOLDOLDOLDO - [0:0]\n"));
    assert!(text.contains("-X KUBE-SEP-OLDOLDOLDOLDOLDO\n"));
    assert!(!text.contains("CALICO"));
    let save = "*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SEP-X - [0:0]\nCOMMIT\n";
    assert_eq!(saved_chains(save, "nat"), ["PREROUTING", "KUBE-SEP-X"]);
}
