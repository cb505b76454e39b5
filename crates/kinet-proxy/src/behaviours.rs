//! The Services behaviours, stated once as verdicts and checked in both
//! kube-proxy modes: each case builds a node's rules with
//! [`crate::iptables`] and [`crate::nftables`], traces the same packet
//! through [`crate::iptables_trace`] and [`crate::nftables_trace`], and
//! expects the same outcome (or says why the modes differ).

// Tests pass fixtures by value-copies for readability.
#![allow(clippy::cloned_ref_to_slice_refs)]

use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::{
    ClientIPConfig, LoadBalancerIngress, LoadBalancerStatus, Service, ServiceStatus,
    SessionAffinityConfig,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;

use crate::fixtures::*;
use crate::iptables::{Config, Ruleset};
use crate::iptables_trace::{Origin, Packet, Trace, Tracer, Verdict};
use crate::model::{Cidr, Protocol, ProxyState};
use crate::nftables::NftRuleset;
use crate::nftables_trace::NftTracer;

const NODE1_IP: &str = "192.168.100.11";
const NODE2_IP: &str = "192.168.100.12";
const OUTSIDE: &str = "192.168.100.1";
const CIP: &str = "10.152.183.50";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Iptables,
    Nftables,
}

const MODES: [Mode; 2] = [Mode::Iptables, Mode::Nftables];

fn node_ip(node: &str) -> &'static str {
    if node == "node1" { NODE1_IP } else { NODE2_IP }
}

fn cfg(node: &str) -> Config {
    let mut c = Config::new(node);
    c.cluster_cidr = Cidr::parse_net_or_host("10.1.0.0/16");
    c.service_cidrs = Cidr::parse_net_or_host("10.152.183.0/24")
        .into_iter()
        .collect();
    c.node_ip = node_ip(node).parse().ok();
    c
}

fn trace(
    mode: Mode,
    node: &str,
    services: &[Service],
    slices: &[EndpointSlice],
    pkt: &Packet,
) -> Trace {
    let state = ProxyState::from_objects(node, services, slices);
    let c = cfg(node);
    let ips: Vec<Ipv4Addr> = node_ip(node).parse().into_iter().collect();
    match mode {
        Mode::Iptables => {
            let text = Ruleset::build(&state, &c).full_restore(&[]);
            Tracer::new(&text, &ips)
                .unwrap_or_else(|e| panic!("{e}\n{text}"))
                .trace(pkt)
        }
        Mode::Nftables => {
            let text = NftRuleset::build(&state, &c)
                .full_transaction(&c, true, &[], &[])
                .transaction;
            NftTracer::new(&text, &ips)
                .unwrap_or_else(|e| panic!("{e}\n{text}"))
                .trace(pkt)
        }
    }
}

fn pkt(origin: Origin, src: &str, dst: &str, dport: u16) -> Packet {
    Packet::new(origin, src, dst, dport, Protocol::Tcp)
}

fn dnat(list: &[&str]) -> Verdict {
    Verdict::Dnat(list.iter().map(|s| s.to_string()).collect())
}

fn backend() -> (Service, EndpointSlice) {
    (
        service("default", "backend", CIP, &[("http", 80, "TCP")]),
        slice(
            "default",
            "backend",
            "backend-abcde",
            &[("http", 8080, "TCP")],
            &[ep("10.1.1.5", "node1", true), ep("10.1.2.6", "node2", true)],
        ),
    )
}

fn with_endpoints(
    mut sl: EndpointSlice,
    eps: &[k8s_openapi::api::discovery::v1::Endpoint],
) -> EndpointSlice {
    sl.endpoints = Some(eps.to_vec());
    sl
}

fn node_port(mut svc: Service, port: i32, local: bool) -> Service {
    if let Some(spec) = svc.spec.as_mut() {
        spec.type_ = Some("NodePort".into());
        if let Some(p) = spec.ports.as_mut().and_then(|p| p.first_mut()) {
            p.node_port = Some(port);
        }
        spec.external_traffic_policy = Some(if local { "Local" } else { "Cluster" }.into());
    }
    svc
}

fn load_balancer(svc: Service, vip: &str, ranges: &[&str]) -> Service {
    let mut svc = node_port(svc, 30090, false);
    if let Some(spec) = svc.spec.as_mut() {
        spec.type_ = Some("LoadBalancer".into());
        spec.load_balancer_source_ranges =
            (!ranges.is_empty()).then(|| ranges.iter().map(|r| r.to_string()).collect());
    }
    svc.status = Some(ServiceStatus {
        load_balancer: Some(LoadBalancerStatus {
            ingress: Some(vec![LoadBalancerIngress {
                ip: Some(vip.into()),
                ..LoadBalancerIngress::default()
            }]),
        }),
        ..ServiceStatus::default()
    });
    svc
}

/// One behaviour: a node's Services, a packet, and what each mode does.
struct Case {
    name: &'static str,
    node: &'static str,
    services: Vec<Service>,
    slices: Vec<EndpointSlice>,
    pkt: Packet,
    verdict: Verdict,
    /// When nftables differs from iptables (upstream's modes do too).
    nft_verdict: Option<Verdict>,
    masquerade: bool,
    /// The DNAT destinations whose path masquerades, when it matters.
    masqueraded_to: Option<Vec<&'static str>>,
}

fn case(
    name: &'static str,
    node: &'static str,
    objs: (Vec<Service>, Vec<EndpointSlice>),
    pkt: Packet,
) -> Case {
    Case {
        name,
        node,
        services: objs.0,
        slices: objs.1,
        pkt,
        verdict: Verdict::Accept,
        nft_verdict: None,
        masquerade: false,
        masqueraded_to: None,
    }
}

impl Case {
    fn want(mut self, v: Verdict, masquerade: bool) -> Case {
        self.verdict = v;
        self.masquerade = masquerade;
        self
    }
    fn nft(mut self, v: Verdict) -> Case {
        self.nft_verdict = Some(v);
        self
    }
    fn masq_to(mut self, to: &[&'static str]) -> Case {
        self.masqueraded_to = Some(to.to_vec());
        self
    }
}

fn objs(svc: Service, sl: EndpointSlice) -> (Vec<Service>, Vec<EndpointSlice>) {
    (vec![svc], vec![sl])
}

fn cases() -> Vec<Case> {
    use Origin::{External, Node, Pod};
    let (svc, sl) = backend();
    let both = dnat(&["10.1.1.5:8080", "10.1.2.6:8080"]);
    let empty = slice(
        "default",
        "backend",
        "backend-abcde",
        &[("http", 8080, "TCP")],
        &[],
    );
    let np = node_port(svc.clone(), 30080, false);
    let np_local = node_port(svc.clone(), 30080, true);
    let only_node1 = with_endpoints(sl.clone(), &[ep("10.1.1.5", "node1", true)]);
    let only_node2 = with_endpoints(sl.clone(), &[ep("10.1.2.6", "node2", true)]);
    let mut itp_local = svc.clone();
    if let Some(spec) = itp_local.spec.as_mut() {
        spec.internal_traffic_policy = Some("Local".into());
    }
    let mut affinity = svc.clone();
    if let Some(spec) = affinity.spec.as_mut() {
        spec.session_affinity = Some("ClientIP".into());
        spec.session_affinity_config = Some(SessionAffinityConfig {
            client_ip: Some(ClientIPConfig {
                timeout_seconds: Some(60),
            }),
        });
    }
    let mut external_ip = svc.clone();
    if let Some(spec) = external_ip.spec.as_mut() {
        spec.external_ips = Some(vec!["192.168.100.200".into()]);
    }
    let lb = load_balancer(svc.clone(), "192.168.100.240", &[]);
    let lb_fw = load_balancer(svc.clone(), "192.168.100.240", &["192.168.100.0/28"]);
    let dns = (
        vec![service(
            "kube-system",
            "dns",
            "10.152.183.10",
            &[("dns", 53, "UDP")],
        )],
        vec![slice(
            "kube-system",
            "dns",
            "dns-1",
            &[("dns", 53, "UDP")],
            &[ep("10.1.1.3", "node1", true)],
        )],
    );
    vec![
        case(
            "cluster IP from a pod",
            "node1",
            objs(svc.clone(), sl.clone()),
            pkt(Pod, "10.1.1.9", CIP, 80),
        )
        .want(both.clone(), false),
        case(
            "cluster IP from the node",
            "node1",
            objs(svc.clone(), sl.clone()),
            pkt(Node, NODE1_IP, CIP, 80),
        )
        .want(both.clone(), true),
        // nftables mode rejects other ports of a ClusterIP (cluster-ips-check).
        case(
            "cluster IP, another port",
            "node1",
            objs(svc.clone(), sl.clone()),
            pkt(Pod, "10.1.1.9", CIP, 81),
        )
        .want(Verdict::Accept, false)
        .nft(Verdict::Reject),
        // nftables mode drops unallocated ClusterIPs of the service CIDR.
        case(
            "unallocated cluster IP",
            "node1",
            objs(svc.clone(), sl.clone()),
            pkt(Pod, "10.152.183.99", "10.152.183.99", 80),
        )
        .want(Verdict::Accept, false)
        .nft(Verdict::Drop),
        case(
            "a pod IP directly",
            "node1",
            objs(svc.clone(), sl.clone()),
            pkt(Pod, "10.1.1.9", "10.1.2.6", 8080),
        )
        .want(Verdict::Accept, false),
        case(
            "hairpin",
            "node1",
            objs(svc.clone(), sl.clone()),
            pkt(Pod, "10.1.1.5", CIP, 80),
        )
        .want(both.clone(), true)
        .masq_to(&["10.1.1.5:8080"]),
        case(
            "no endpoints, from a pod",
            "node1",
            objs(svc.clone(), empty.clone()),
            pkt(Pod, "10.1.1.9", CIP, 80),
        )
        .want(Verdict::Reject, false),
        case(
            "no endpoints, from the node",
            "node1",
            objs(svc.clone(), empty.clone()),
            pkt(Node, NODE1_IP, CIP, 80),
        )
        .want(Verdict::Reject, false),
        case(
            "no endpoints, node port",
            "node1",
            objs(np.clone(), empty.clone()),
            pkt(External, OUTSIDE, NODE1_IP, 30080),
        )
        .want(Verdict::Reject, false),
        case(
            "node port on node1",
            "node1",
            objs(np.clone(), sl.clone()),
            pkt(External, OUTSIDE, NODE1_IP, 30080),
        )
        .want(both.clone(), true),
        case(
            "node port on node2",
            "node2",
            objs(np.clone(), sl.clone()),
            pkt(External, OUTSIDE, NODE2_IP, 30080),
        )
        .want(both.clone(), true),
        case(
            "node port on another address",
            "node1",
            objs(np.clone(), sl.clone()),
            pkt(External, OUTSIDE, "192.168.100.99", 30080),
        )
        .want(Verdict::Accept, false),
        case(
            "node port from the node to itself",
            "node1",
            objs(np.clone(), sl.clone()),
            pkt(Node, NODE1_IP, NODE1_IP, 30080),
        )
        .want(both.clone(), true),
        case(
            "etp Local, local endpoint",
            "node1",
            objs(np_local.clone(), only_node1.clone()),
            pkt(External, OUTSIDE, NODE1_IP, 30080),
        )
        .want(dnat(&["10.1.1.5:8080"]), false),
        case(
            "etp Local, no local endpoint",
            "node2",
            objs(np_local.clone(), only_node1.clone()),
            pkt(External, OUTSIDE, NODE2_IP, 30080),
        )
        .want(Verdict::Drop, false),
        case(
            "etp Local, from a pod",
            "node2",
            objs(np_local.clone(), only_node1.clone()),
            pkt(Pod, "10.1.2.9", NODE2_IP, 30080),
        )
        .want(dnat(&["10.1.1.5:8080"]), false),
        case(
            "etp Local, from the node",
            "node2",
            objs(np_local.clone(), only_node1.clone()),
            pkt(Node, NODE2_IP, NODE2_IP, 30080),
        )
        .want(dnat(&["10.1.1.5:8080"]), true),
        case(
            "etp Local, cluster IP still cluster-wide",
            "node2",
            objs(np_local.clone(), only_node1.clone()),
            pkt(Pod, "10.1.2.9", CIP, 80),
        )
        .want(dnat(&["10.1.1.5:8080"]), false),
        case(
            "itp Local, local endpoint",
            "node1",
            objs(itp_local.clone(), sl.clone()),
            pkt(Pod, "10.1.1.9", CIP, 80),
        )
        .want(dnat(&["10.1.1.5:8080"]), false),
        case(
            "itp Local, no local endpoint",
            "node1",
            objs(itp_local.clone(), only_node2.clone()),
            pkt(Pod, "10.1.1.9", CIP, 80),
        )
        .want(Verdict::Drop, false),
        case(
            "session affinity, first connection",
            "node1",
            objs(affinity.clone(), sl.clone()),
            pkt(Pod, "10.1.1.9", CIP, 80),
        )
        .want(both.clone(), false),
        case(
            "terminating endpoints only as a fallback",
            "node1",
            objs(
                svc.clone(),
                with_endpoints(
                    sl.clone(),
                    &[
                        ep("10.1.1.5", "node1", true),
                        terminating_ep("10.1.2.6", "node2", true),
                    ],
                ),
            ),
            pkt(Pod, "10.1.1.9", CIP, 80),
        )
        .want(dnat(&["10.1.1.5:8080"]), false),
        case(
            "serving terminating endpoints",
            "node1",
            objs(
                svc.clone(),
                with_endpoints(
                    sl.clone(),
                    &[
                        terminating_ep("10.1.1.5", "node1", false),
                        terminating_ep("10.1.2.6", "node2", true),
                    ],
                ),
            ),
            pkt(Pod, "10.1.1.9", CIP, 80),
        )
        .want(dnat(&["10.1.2.6:8080"]), false),
        case(
            "UDP",
            "node1",
            dns.clone(),
            Packet::new(Pod, "10.1.2.2", "10.152.183.10", 53, Protocol::Udp),
        )
        .want(dnat(&["10.1.1.3:53"]), false),
        case(
            "UDP service, TCP packet",
            "node1",
            dns.clone(),
            pkt(Pod, "10.1.2.2", "10.152.183.10", 53),
        )
        .want(Verdict::Accept, false)
        .nft(Verdict::Reject),
        case(
            "external IP from outside",
            "node1",
            objs(external_ip.clone(), sl.clone()),
            pkt(External, OUTSIDE, "192.168.100.200", 80),
        )
        .want(both.clone(), true),
        case(
            "external IP, no endpoints",
            "node1",
            objs(external_ip.clone(), empty.clone()),
            pkt(External, OUTSIDE, "192.168.100.200", 80),
        )
        .want(Verdict::Reject, false),
        case(
            "load balancer IP",
            "node1",
            objs(lb.clone(), sl.clone()),
            pkt(External, OUTSIDE, "192.168.100.240", 80),
        )
        .want(both.clone(), true),
        case(
            "load balancer, allowed source",
            "node1",
            objs(lb_fw.clone(), sl.clone()),
            pkt(External, OUTSIDE, "192.168.100.240", 80),
        )
        .want(both.clone(), true),
        case(
            "load balancer, other source",
            "node1",
            objs(lb_fw.clone(), sl.clone()),
            pkt(External, "192.168.100.77", "192.168.100.240", 80),
        )
        .want(Verdict::Drop, false),
        case(
            "load balancer, no endpoints",
            "node1",
            objs(lb.clone(), empty.clone()),
            pkt(External, OUTSIDE, "192.168.100.240", 80),
        )
        .want(Verdict::Reject, false),
    ]
}

#[test]
fn traces_read_as_sentences() {
    let (svc, sl) = backend();
    let hairpin = pkt(Origin::Pod, "10.1.1.5", CIP, 80);
    for mode in MODES {
        let t = trace(mode, "node1", &[svc.clone()], &[sl.clone()], &hairpin);
        assert_eq!(
            t.to_string(),
            "DNATs to one of 10.1.1.5:8080, 10.1.2.6:8080; masquerades to 10.1.1.5:8080",
            "{mode:?}"
        );
    }
}

#[test]
fn every_behaviour_in_both_modes() {
    let mut failures = Vec::new();
    for c in cases() {
        for mode in MODES {
            let got = trace(mode, c.node, &c.services, &c.slices, &c.pkt);
            let want = match (mode, &c.nft_verdict) {
                (Mode::Nftables, Some(v)) => v,
                _ => &c.verdict,
            };
            let masq_ok = got.masquerade == c.masquerade
                && c.masqueraded_to
                    .as_ref()
                    .is_none_or(|to| got.masqueraded_to == *to);
            if got.verdict != *want || !masq_ok {
                failures.push(format!(
                    "{} [{mode:?}]: {} -> {}:{} want {want:?} masquerade={} {:?}, got: {got}\n  {}",
                    c.name,
                    c.pkt.src,
                    c.pkt.dst,
                    c.pkt.dport,
                    c.masquerade,
                    c.masqueraded_to,
                    got.matched.join("\n  ")
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn nft_full(state: &ProxyState, c: &Config) -> String {
    NftRuleset::build(state, c)
        .full_transaction(c, true, &[], &[])
        .transaction
}

#[test]
fn nft_incremental_syncs_reach_the_state_of_a_fresh_full_sync() {
    use std::collections::BTreeSet;
    let c = cfg("node1");
    let ips = [NODE1_IP.parse().unwrap_or(Ipv4Addr::UNSPECIFIED)];
    let (svc, sl) = backend();
    let mut affinity = service("default", "sticky", "10.152.183.51", &[("http", 80, "TCP")]);
    if let Some(spec) = affinity.spec.as_mut() {
        spec.session_affinity = Some("ClientIP".into());
    }
    let sticky = slice(
        "default",
        "sticky",
        "sticky-1",
        &[("http", 8080, "TCP")],
        &[ep("10.1.1.7", "node1", true), ep("10.1.2.8", "node2", true)],
    );
    let gone = node_port(
        service("default", "gone", "10.152.183.52", &[("http", 80, "TCP")]),
        30052,
        false,
    );
    let gone_sl = slice(
        "default",
        "gone",
        "gone-1",
        &[("http", 8080, "TCP")],
        &[ep("10.1.1.9", "node1", true)],
    );
    let mut state = ProxyState::from_objects(
        "node1",
        &[svc.clone(), affinity.clone(), gone.clone()],
        &[sl.clone(), sticky.clone(), gone_sl.clone()],
    );
    let mut rs = NftRuleset::build(&state, &c);
    let mut live = NftTracer::new(&rs.full_transaction(&c, true, &[], &[]).transaction, &ips)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut changed = BTreeSet::new();
    // backend loses an endpoint, sticky loses all of them, gone is deleted,
    // fresh appears.
    changed.insert(state.apply_slice(&with_endpoints(
        sl.clone(),
        &[ep("10.1.2.6", "node2", true)],
    )));
    changed.insert(state.apply_slice(&with_endpoints(sticky.clone(), &[])));
    changed.insert(Some(state.delete_service("default", "gone")));
    changed.insert(state.delete_slice(&gone_sl));
    let fresh = service("default", "fresh", "10.152.183.53", &[("http", 80, "TCP")]);
    changed.insert(Some(state.apply_service(&fresh)));
    changed.insert(state.apply_slice(&slice(
        "default",
        "fresh",
        "fresh-1",
        &[("http", 8080, "TCP")],
        &[ep("10.1.1.10", "node1", true)],
    )));
    let changed: BTreeSet<_> = changed.into_iter().flatten().collect();
    let sync = rs.update(&state, &c, &changed);
    live.apply(&sync.transaction)
        .unwrap_or_else(|e| panic!("{e}\n{}", sync.transaction));
    live.apply(&crate::nftables::cleanup_transaction(&sync.stale_chains))
        .unwrap_or_else(|e| panic!("cleanup: {e}"));
    let want = NftTracer::new(&nft_full(&state, &c), &ips).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(live.sets(), want.sets());
    assert_eq!(live.chains(), want.chains());
    for (dst, verdict) in [
        (CIP, dnat(&["10.1.2.6:8080"])),
        ("10.152.183.51", Verdict::Reject),
        ("10.152.183.52", Verdict::Drop),
        ("10.152.183.53", dnat(&["10.1.1.10:8080"])),
    ] {
        let p = pkt(Origin::Pod, "10.1.1.1", dst, 80);
        assert_eq!(live.trace(&p).verdict, verdict, "{dst}");
    }
    // A second full sync over the live table (not the first: base chains
    // kept) converges too.
    let chains: Vec<String> = live.chains().into_keys().collect();
    let sets: Vec<String> = live.sets().into_keys().collect();
    let again = NftRuleset::build(&state, &c).full_transaction(&c, false, &chains, &sets);
    live.apply(&again.transaction)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(live.sets(), want.sets());
}
