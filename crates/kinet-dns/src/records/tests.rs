use super::*;
use crate::config::Kubernetes;
use serde_json::json;

fn svc(ns: &str, name: &str, spec: serde_json::Value) -> Service {
    serde_json::from_value(json!({"metadata": {"name": name, "namespace": ns}, "spec": spec}))
        .unwrap()
}

fn slice(ns: &str, svc: &str, eps: serde_json::Value) -> EndpointSlice {
    serde_json::from_value(json!({
        "metadata": {"name": format!("{svc}-abc"), "namespace": ns,
                     "labels": {"kubernetes.io/service-name": svc}},
        "addressType": "IPv4", "endpoints": eps
    }))
    .unwrap()
}

fn pod(ns: &str, name: &str, ip: &str) -> Pod {
    serde_json::from_value(
        json!({"metadata": {"name": name, "namespace": ns}, "status": {"podIP": ip}}),
    )
    .unwrap()
}

struct World {
    services: Vec<Service>,
    slices: Vec<EndpointSlice>,
    pods: Vec<Pod>,
}

fn world() -> World {
    World {
        services: vec![
            svc(
                "default",
                "kubernetes",
                json!({"clusterIP": "10.152.183.1", "ports": [{"name": "https", "port": 443}]}),
            ),
            svc(
                "default",
                "backend",
                json!({"clusterIP": "10.152.183.20", "ports": [
                {"name": "http", "port": 80}, {"name": "dns", "port": 53, "protocol": "UDP"}]}),
            ),
            svc(
                "default",
                "nginx",
                json!({"clusterIP": "None", "ports": [{"name": "web", "port": 80}]}),
            ),
            svc("default", "empty", json!({"clusterIP": "None"})),
            svc(
                "default",
                "notready",
                json!({"clusterIP": "None", "publishNotReadyAddresses": true}),
            ),
            svc(
                "default",
                "ext",
                json!({"type": "ExternalName", "externalName": "example.com"}),
            ),
            svc(
                "default",
                "alias",
                json!({"type": "ExternalName", "externalName": "backend.default.svc.cluster.local"}),
            ),
            svc(
                "kube-system",
                "kube-dns",
                json!({"clusterIP": "10.152.183.10", "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}]}),
            ),
        ],
        slices: vec![
            slice(
                "default",
                "backend",
                json!([{"addresses": ["10.1.1.5"], "conditions": {"ready": true}}]),
            ),
            slice(
                "default",
                "nginx",
                json!([
                {"addresses": ["10.1.1.7"], "hostname": "web-0", "conditions": {"ready": true},
                 "targetRef": {"kind": "Pod", "name": "web-0"}},
                {"addresses": ["10.1.2.8"], "conditions": {"ready": true},
                 "targetRef": {"kind": "Pod", "name": "web-1x"}},
                {"addresses": ["10.1.2.9"], "conditions": {"ready": false}}]),
            ),
            slice(
                "default",
                "empty",
                json!([{"addresses": ["10.1.3.3"], "conditions": {"ready": false}}]),
            ),
            slice(
                "default",
                "notready",
                json!([{"addresses": ["10.1.3.4"], "conditions": {"ready": false}}]),
            ),
        ],
        pods: vec![pod("default", "test", "10.1.1.9")],
    }
}

fn cfg() -> Kubernetes {
    Kubernetes {
        zones: vec![
            "cluster.local.".into(),
            "in-addr.arpa.".into(),
            "ip6.arpa.".into(),
        ],
        pods: PodsMode::Insecure,
        ..Default::default()
    }
}

fn ask_with(k: &Kubernetes, name: &str, t: RecordType) -> Answer {
    let w = world();
    let c = Cluster {
        services: &w.services,
        slices: &w.slices,
        pods: &w.pods,
        namespaces: &[],
    };
    resolve(&c, k, name, t, 12345).unwrap()
}

fn ask(name: &str, t: RecordType) -> Answer {
    ask_with(&cfg(), name, t)
}

/// Answer section as "name ttl TYPE data" lines.
fn lines(a: &Answer) -> Vec<String> {
    a.answer.iter().map(show).collect()
}

fn show(r: &Record) -> String {
    let d = match &r.data {
        RData::A(v) => format!("A {v}"),
        RData::Aaaa(v) => format!("AAAA {v}"),
        RData::Cname(t) => format!("CNAME {t}"),
        RData::Srv {
            priority,
            weight,
            port,
            target,
        } => format!("SRV {priority} {weight} {port} {target}"),
        RData::Ptr(t) => format!("PTR {t}"),
        RData::Txt(t) => format!("TXT {t}"),
        RData::Ns(t) => format!("NS {t}"),
        RData::Soa(s) => format!(
            "SOA {} {} {} {} {} {} {}",
            s.mname, s.rname, s.serial, s.refresh, s.retry, s.expire, s.minimum
        ),
    };
    format!("{} {} {d}", r.name, r.ttl)
}

fn assert_nx(a: &Answer) {
    assert_eq!(a.rcode, Rcode::NxDomain, "{a:?}");
    assert!(a.answer.is_empty());
    assert_eq!(a.authority.len(), 1);
    assert_eq!(a.authority[0].data.record_type(), RecordType::SOA);
}

fn assert_nodata(a: &Answer) {
    assert!(a.is_nodata(), "{a:?}");
    assert_eq!(a.authority.len(), 1);
    assert_eq!(a.authority[0].data.record_type(), RecordType::SOA);
}

use RecordType::{A, AAAA, CNAME, NS, PTR, SOA, SRV, TXT};

#[test]
fn cluster_ip_services() {
    let table = [
        (
            "kubernetes.default.svc.cluster.local.",
            "kubernetes.default.svc.cluster.local. 5 A 10.152.183.1",
        ),
        (
            "backend.default.svc.cluster.local",
            "backend.default.svc.cluster.local. 5 A 10.152.183.20",
        ),
        (
            "kube-dns.kube-system.svc.cluster.local.",
            "kube-dns.kube-system.svc.cluster.local. 5 A 10.152.183.10",
        ),
        // Case preserved in the answer.
        (
            "Backend.DEFAULT.svc.Cluster.Local.",
            "Backend.DEFAULT.svc.Cluster.Local. 5 A 10.152.183.20",
        ),
    ];
    for (q, want) in table {
        assert_eq!(lines(&ask(q, A)), [want], "{q}");
    }
    assert_nodata(&ask("backend.default.svc.cluster.local.", AAAA));
    assert_nodata(&ask("backend.default.svc.cluster.local.", TXT));
    assert_nx(&ask("missing.default.svc.cluster.local.", A));
    assert_nx(&ask("backend.other.svc.cluster.local.", A));
}

#[test]
fn ttl_from_config() {
    let k = Kubernetes { ttl: 30, ..cfg() };
    let a = ask_with(&k, "backend.default.svc.cluster.local.", A);
    assert_eq!(a.answer[0].ttl, 30);
    let nx = ask_with(&k, "nope.default.svc.cluster.local.", A);
    let RData::Soa(s) = &nx.authority[0].data else {
        panic!()
    };
    assert_eq!((nx.authority[0].ttl, s.minimum), (30, 30));
}

#[test]
fn soa_and_apex() {
    let a = ask("nope.default.svc.cluster.local.", A);
    assert_eq!(
        show(&a.authority[0]),
        "cluster.local. 5 SOA ns.dns.cluster.local. hostmaster.cluster.local. 12345 7200 1800 86400 5"
    );
    assert_eq!(lines(&ask("cluster.local.", SOA)).len(), 1);
    assert_eq!(
        lines(&ask("cluster.local.", NS)),
        ["cluster.local. 5 NS ns.dns.cluster.local."]
    );
    assert_nodata(&ask("cluster.local.", A));
    assert_nodata(&ask("svc.cluster.local.", A));
    assert_nodata(&ask("default.svc.cluster.local.", A));
    assert_nx(&ask("nonamespace.svc.cluster.local.", A));
    assert_nx(&ask("a.b.c.d.e.f.svc.cluster.local.", A));
    assert_nx(&ask("foo.cluster.local.", A));
}

#[test]
fn outside_the_zones() {
    let w = world();
    let c = Cluster {
        services: &w.services,
        slices: &w.slices,
        pods: &w.pods,
        namespaces: &[],
    };
    assert!(resolve(&c, &cfg(), "google.com.", A, 1).is_none());
}

#[test]
fn headless_services() {
    assert_eq!(
        lines(&ask("nginx.default.svc.cluster.local.", A)),
        [
            "nginx.default.svc.cluster.local. 5 A 10.1.1.7",
            "nginx.default.svc.cluster.local. 5 A 10.1.2.8"
        ]
    );
    // No ready endpoint: NXDOMAIN.
    assert_nx(&ask("empty.default.svc.cluster.local.", A));
    // publishNotReadyAddresses.
    assert_eq!(
        lines(&ask("notready.default.svc.cluster.local.", A)),
        ["notready.default.svc.cluster.local. 5 A 10.1.3.4"]
    );
}

#[test]
fn endpoint_names() {
    assert_eq!(
        lines(&ask("web-0.nginx.default.svc.cluster.local.", A)),
        ["web-0.nginx.default.svc.cluster.local. 5 A 10.1.1.7"]
    );
    assert_eq!(
        lines(&ask("10-1-2-8.nginx.default.svc.cluster.local.", A)),
        ["10-1-2-8.nginx.default.svc.cluster.local. 5 A 10.1.2.8"]
    );
    assert_eq!(
        lines(&ask("10-1-1-5.backend.default.svc.cluster.local.", A)),
        ["10-1-1-5.backend.default.svc.cluster.local. 5 A 10.1.1.5"]
    );
    assert_nx(&ask("10-1-2-9.nginx.default.svc.cluster.local.", A));
    assert_nx(&ask("web-1x.nginx.default.svc.cluster.local.", A));
    let k = Kubernetes {
        endpoint_pod_names: true,
        ..cfg()
    };
    assert_eq!(
        lines(&ask_with(&k, "web-1x.nginx.default.svc.cluster.local.", A)).len(),
        1
    );
}

#[test]
fn srv_records() {
    assert_eq!(
        lines(&ask("_http._tcp.backend.default.svc.cluster.local.", SRV)),
        [
            "_http._tcp.backend.default.svc.cluster.local. 5 SRV 0 100 80 backend.default.svc.cluster.local."
        ]
    );
    let a = ask("_dns._udp.backend.default.svc.cluster.local.", SRV);
    assert_eq!(
        lines(&a),
        [
            "_dns._udp.backend.default.svc.cluster.local. 5 SRV 0 100 53 backend.default.svc.cluster.local."
        ]
    );
    assert_eq!(
        show(&a.additional[0]),
        "backend.default.svc.cluster.local. 5 A 10.152.183.20"
    );
    assert_nx(&ask("_http._udp.backend.default.svc.cluster.local.", SRV));
    assert_nodata(&ask("_http._tcp.backend.default.svc.cluster.local.", A));
    // All ports on the plain name.
    assert_eq!(
        lines(&ask("backend.default.svc.cluster.local.", SRV)).len(),
        2
    );
    // Headless: one per endpoint, target the endpoint's name.
    let a = ask("_web._tcp.nginx.default.svc.cluster.local.", SRV);
    assert_eq!(
        lines(&a),
        [
            "_web._tcp.nginx.default.svc.cluster.local. 5 SRV 0 50 80 web-0.nginx.default.svc.cluster.local.",
            "_web._tcp.nginx.default.svc.cluster.local. 5 SRV 0 50 80 10-1-2-8.nginx.default.svc.cluster.local."
        ]
    );
    assert_eq!(
        show(&a.additional[0]),
        "web-0.nginx.default.svc.cluster.local. 5 A 10.1.1.7"
    );
}

#[test]
fn external_name() {
    assert_eq!(
        lines(&ask("ext.default.svc.cluster.local.", A)),
        ["ext.default.svc.cluster.local. 5 CNAME example.com."]
    );
    assert_eq!(
        lines(&ask("ext.default.svc.cluster.local.", CNAME)),
        ["ext.default.svc.cluster.local. 5 CNAME example.com."]
    );
    // Followed inside the cluster.
    assert_eq!(
        lines(&ask("alias.default.svc.cluster.local.", A)),
        [
            "alias.default.svc.cluster.local. 5 CNAME backend.default.svc.cluster.local.",
            "backend.default.svc.cluster.local. 5 A 10.152.183.20"
        ]
    );
}

#[test]
fn external_name_cycle_ends() {
    let services = vec![
        svc(
            "default",
            "a",
            json!({"type": "ExternalName", "externalName": "b.default.svc.cluster.local"}),
        ),
        svc(
            "default",
            "b",
            json!({"type": "ExternalName", "externalName": "a.default.svc.cluster.local"}),
        ),
    ];
    let c = Cluster {
        services: &services,
        slices: &[],
        pods: &[],
        namespaces: &[],
    };
    let a = resolve(&c, &cfg(), "a.default.svc.cluster.local.", A, 1).unwrap();
    assert!(a.answer.len() <= MAX_CNAME_CHAIN + 2, "{}", a.answer.len());
    assert!(a.answer.iter().all(|r| r.data.record_type() == CNAME));
}

#[test]
fn ptr_records() {
    assert_eq!(
        lines(&ask("1.183.152.10.in-addr.arpa.", PTR)),
        ["1.183.152.10.in-addr.arpa. 5 PTR kubernetes.default.svc.cluster.local."]
    );
    assert_eq!(
        lines(&ask("7.1.1.10.in-addr.arpa.", PTR)),
        ["7.1.1.10.in-addr.arpa. 5 PTR web-0.nginx.default.svc.cluster.local."]
    );
    assert_eq!(
        lines(&ask("5.1.1.10.in-addr.arpa.", PTR)),
        ["5.1.1.10.in-addr.arpa. 5 PTR 10-1-1-5.backend.default.svc.cluster.local."]
    );
    let nx = ask("9.9.9.10.in-addr.arpa.", PTR);
    assert_nx(&nx);
    assert_eq!(nx.authority[0].name, "in-addr.arpa.");
    assert_nodata(&ask("1.183.152.10.in-addr.arpa.", A));
    assert_eq!(
        parse_reverse(&reverse_name("fd00::1".parse().unwrap())),
        Some("fd00::1".parse().unwrap())
    );
    assert_eq!(parse_reverse("1.2.3.in-addr.arpa."), None);
}

#[test]
fn dns_version() {
    assert_eq!(
        lines(&ask("dns-version.cluster.local.", TXT)),
        ["dns-version.cluster.local. 5 TXT 1.1.0"]
    );
    assert_nodata(&ask("dns-version.cluster.local.", A));
}

#[test]
fn pods() {
    assert_eq!(
        lines(&ask("10-1-1-9.default.pod.cluster.local.", A)),
        ["10-1-1-9.default.pod.cluster.local. 5 A 10.1.1.9"]
    );
    // insecure: any address answers.
    assert_eq!(
        lines(&ask("10-9-9-9.default.pod.cluster.local.", A)).len(),
        1
    );
    assert_nodata(&ask("10-1-1-9.default.pod.cluster.local.", AAAA));
    assert_nx(&ask("not-an-ip.default.pod.cluster.local.", A));
    let verified = Kubernetes {
        pods: PodsMode::Verified,
        ..cfg()
    };
    assert_eq!(
        lines(&ask_with(
            &verified,
            "10-1-1-9.default.pod.cluster.local.",
            A
        ))
        .len(),
        1
    );
    assert_nx(&ask_with(
        &verified,
        "10-9-9-9.default.pod.cluster.local.",
        A,
    ));
    assert_nx(&ask_with(&verified, "10-1-1-9.other.pod.cluster.local.", A));
    let disabled = Kubernetes {
        pods: PodsMode::Disabled,
        ..cfg()
    };
    assert_nx(&ask_with(
        &disabled,
        "10-1-1-9.default.pod.cluster.local.",
        A,
    ));
}

#[test]
fn namespaces_option() {
    let k = Kubernetes {
        namespaces: vec!["kube-system".into()],
        ..cfg()
    };
    assert_nx(&ask_with(&k, "backend.default.svc.cluster.local.", A));
    assert_eq!(
        lines(&ask_with(&k, "kube-dns.kube-system.svc.cluster.local.", A)).len(),
        1
    );
}
