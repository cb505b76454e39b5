//! The rulesets against the real kernel: each test makes a throwaway network
//! namespace `kltest<pid>-<name>`, applies a full sync then a partial one with
//! the real `iptables-restore` / `nft -f`, and reads them back. Needs root
//! (skipped otherwise).

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};

use k8s_openapi::api::core::v1::{LoadBalancerIngress, LoadBalancerStatus, Service, ServiceStatus};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kinet_proxy::fixtures::{ep, service, slice};
use kinet_proxy::iptables::{JUMP_RULES, saved_chains};
use kinet_proxy::model::Cidr;
use kinet_proxy::nftables::{NftRuleset, cleanup_transaction};
use kinet_proxy::run::apply;
use kinet_proxy::{Config, ProxyState, Ruleset};

struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Option<Netns> {
        if !is_root() {
            eprintln!("skipped: needs root");
            return None;
        }
        let name = format!("kltest{}-{tag}", std::process::id());
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "ip netns add {name}");
        let ns = Netns(name);
        ns.run("ip", &["link", "set", "lo", "up"], None).unwrap();
        Some(ns)
    }

    /// Runs `cmd args` inside the namespace with `stdin`; its stdout, or its stderr as the error.
    fn run(&self, cmd: &str, args: &[&str], stdin: Option<&str>) -> Result<String, String> {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.0, cmd])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        if let Some(mut w) = child.stdin.take() {
            w.write_all(stdin.unwrap_or("").as_bytes())
                .map_err(|e| e.to_string())?;
        }
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "{cmd} {args:?}: {}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
    })
}

fn cfg() -> Config {
    let mut c = Config::new("node1");
    c.cluster_cidr = Cidr::parse_net_or_host("10.1.0.0/16");
    c.service_cidrs = vec![Cidr::parse_net_or_host("10.152.183.0/24").unwrap()];
    c.node_ip = "192.168.1.11".parse().ok();
    c
}

/// Every kind of service port the proxiers program.
fn objects() -> (Vec<Service>, Vec<EndpointSlice>) {
    let backend = service("default", "backend", "10.152.183.5", &[("http", 80, "TCP")]);
    let backend_eps = slice(
        "default",
        "backend",
        "backend-1",
        &[("http", 8080, "TCP")],
        &[ep("10.1.1.5", "node1", true), ep("10.1.2.6", "node2", true)],
    );
    let mut web = service("default", "web", "10.152.183.20", &[("", 80, "TCP")]);
    {
        let spec = web.spec.as_mut().unwrap();
        spec.type_ = Some("LoadBalancer".into());
        spec.ports.as_mut().unwrap()[0].node_port = Some(30080);
        spec.external_traffic_policy = Some("Local".into());
        spec.health_check_node_port = Some(31000);
        spec.session_affinity = Some("ClientIP".into());
        spec.external_ips = Some(vec!["192.168.1.200".into()]);
        spec.load_balancer_source_ranges = Some(vec!["192.168.1.0/24".into()]);
    }
    web.status = Some(ServiceStatus {
        load_balancer: Some(LoadBalancerStatus {
            ingress: Some(vec![LoadBalancerIngress {
                ip: Some("192.168.1.240".into()),
                ..Default::default()
            }]),
        }),
        ..Default::default()
    });
    let web_eps = slice(
        "default",
        "web",
        "web-1",
        &[("", 80, "TCP")],
        &[ep("10.1.1.7", "node1", true), ep("10.1.2.8", "node2", true)],
    );
    let dns = service(
        "kube-system",
        "kube-dns",
        "10.152.183.10",
        &[("dns", 53, "UDP"), ("dns-tcp", 53, "TCP")],
    );
    let dns_eps = slice(
        "kube-system",
        "kube-dns",
        "kube-dns-1",
        &[("dns", 53, "UDP"), ("dns-tcp", 53, "TCP")],
        &[ep("10.1.1.9", "node1", true)],
    );
    let mut empty = service("default", "empty", "10.152.183.30", &[("", 80, "TCP")]);
    {
        let spec = empty.spec.as_mut().unwrap();
        spec.type_ = Some("NodePort".into());
        spec.ports.as_mut().unwrap()[0].node_port = Some(30090);
    }
    (
        vec![backend, web, dns, empty],
        vec![backend_eps, web_eps, dns_eps],
    )
}

fn changed(keys: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    keys.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn iptables_full_then_partial_sync_apply_for_real() {
    let Some(ns) = Netns::new("ipt") else { return };
    let cfg = cfg();
    let (services, slices) = objects();
    let state = ProxyState::from_objects("node1", &services, &slices);
    let mut rs = Ruleset::build(&state, &cfg);
    let full = rs.full_restore(&[]);
    ns.run("iptables-restore", &["--noflush"], Some(&full))
        .unwrap_or_else(|e| panic!("{e}\n--- input ---\n{full}"));
    for j in JUMP_RULES {
        let mut args: Vec<String> = vec![
            "-w".into(),
            "-t".into(),
            j.table.into(),
            "-I".into(),
            j.src_chain.into(),
        ];
        args.extend(j.args());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ns.run("iptables", &args, None).unwrap();
    }
    let save = ns.run("iptables-save", &[], None).unwrap();
    let nat = saved_chains(&save, "nat");
    let before: Vec<String> = rs.service_chains().map(str::to_string).collect();
    for c in &before {
        assert!(nat.contains(c), "{c} missing from\n{save}");
    }
    for j in JUMP_RULES {
        assert!(
            save.contains(&j.save_line()),
            "{} missing from\n{save}",
            j.save_line()
        );
    }

    // The backend loses an endpoint, web goes away: a partial sync.
    let mut state = state;
    state.apply_slice(&slice(
        "default",
        "backend",
        "backend-1",
        &[("http", 8080, "TCP")],
        &[ep("10.1.1.5", "node1", true)],
    ));
    state.delete_service("default", "web");
    let delta = rs.update(
        &state,
        &cfg,
        &changed(&[("default", "backend"), ("default", "web")]),
    );
    let partial = rs.delta_restore(&delta);
    ns.run("iptables-restore", &["--noflush"], Some(&partial))
        .unwrap_or_else(|e| panic!("{e}\n--- input ---\n{partial}"));
    let save = ns.run("iptables-save", &[], None).unwrap();
    let nat = saved_chains(&save, "nat");
    for c in rs.service_chains() {
        assert!(nat.iter().any(|n| n == c), "{c} missing from\n{save}");
    }
    for c in &delta.stale_chains {
        assert!(!nat.contains(c), "{c} still in\n{save}");
    }
    assert!(!delta.stale_chains.is_empty());
    assert!(!save.contains("default/web"), "{save}");
    assert!(
        save.contains("-A KUBE-SERVICES -d 10.152.183.5/32 -p tcp"),
        "{save}"
    );

    // A full resync over what is there deletes nothing it still needs.
    let full = rs.full_restore(&nat);
    ns.run("iptables-restore", &["--noflush"], Some(&full))
        .unwrap_or_else(|e| panic!("{e}\n--- input ---\n{full}"));

    // Switching to nftables: every KUBE-* chain and jump goes, others stay.
    ns.run("iptables", &["-t", "nat", "-N", "cali-nat"], None)
        .unwrap();
    ns.run(
        "iptables",
        &["-t", "nat", "-A", "PREROUTING", "-j", "cali-nat"],
        None,
    )
    .unwrap();
    let save = ns.run("iptables-save", &[], None).unwrap();
    let cleanup = apply::iptables_cleanup_restore(&save).unwrap();
    ns.run("iptables-restore", &["--noflush"], Some(&cleanup))
        .unwrap_or_else(|e| panic!("{e}\n--- input ---\n{cleanup}"));
    let save = ns.run("iptables-save", &[], None).unwrap();
    assert!(!save.contains("KUBE-"), "{save}");
    assert!(save.contains("-A PREROUTING -j cali-nat"), "{save}");
    assert!(apply::iptables_cleanup_restore(&save).is_none());
}

fn nft_names(ns: &Netns, what: &str) -> Vec<String> {
    let out = ns
        .run("nft", &["-j", "list", what, "ip"], None)
        .unwrap_or_default();
    apply::nft_names(&out, what.trim_end_matches('s'))
}

#[test]
fn nftables_full_then_partial_sync_apply_for_real() {
    let Some(ns) = Netns::new("nft") else { return };
    let cfg = cfg();
    let (services, slices) = objects();
    let state = ProxyState::from_objects("node1", &services, &slices);
    let mut rs = NftRuleset::build(&state, &cfg);
    let full = rs.full_transaction(&cfg, true, &[], &[]);
    ns.run("nft", &["-f", "-"], Some(&full.transaction))
        .unwrap_or_else(|e| panic!("{e}\n--- input ---\n{}", full.transaction));
    let listed = ns.run("nft", &["list", "ruleset"], None).unwrap();
    let chains = nft_names(&ns, "chains");
    for c in rs.service_chains() {
        assert!(chains.iter().any(|n| n == c), "{c} missing from\n{listed}");
    }
    assert!(listed.contains("service-ips"), "{listed}");
    // Again, as a resync (not first).
    let sets = nft_names(&ns, "sets");
    let again = rs.full_transaction(&cfg, false, &chains, &sets);
    ns.run("nft", &["-f", "-"], Some(&again.transaction))
        .unwrap_or_else(|e| panic!("{e}\n--- input ---\n{}", again.transaction));

    let mut state = state;
    state.apply_slice(&slice(
        "default",
        "backend",
        "backend-1",
        &[("http", 8080, "TCP")],
        &[ep("10.1.1.5", "node1", true)],
    ));
    state.delete_service("default", "web");
    let sync = rs.update(
        &state,
        &cfg,
        &changed(&[("default", "backend"), ("default", "web")]),
    );
    ns.run("nft", &["-f", "-"], Some(&sync.transaction))
        .unwrap_or_else(|e| panic!("{e}\n--- input ---\n{}", sync.transaction));
    assert!(!sync.stale_chains.is_empty());
    let cleanup = cleanup_transaction(&sync.stale_chains);
    ns.run("nft", &["-f", "-"], Some(&cleanup))
        .unwrap_or_else(|e| panic!("{e}\n--- input ---\n{cleanup}"));
    let listed = ns.run("nft", &["list", "ruleset"], None).unwrap();
    let chains = nft_names(&ns, "chains");
    for c in &sync.stale_chains {
        assert!(!chains.contains(c), "{c} still in\n{listed}");
    }
    for c in rs.service_chains() {
        assert!(chains.iter().any(|n| n == c), "{c} missing from\n{listed}");
    }
    assert!(!listed.contains("10.152.183.20"), "{listed}");
    assert!(listed.contains("10.152.183.5"), "{listed}");

    // Switching to iptables: the table goes.
    ns.run("nft", &["-f", "-"], Some("delete table ip kube-proxy\n"))
        .unwrap();
    assert!(nft_names(&ns, "chains").is_empty());
}

/// A listener in a netns, killed when dropped.
struct Listener(Vec<std::process::Child>);

impl Drop for Listener {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn has(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A node netns wired by a veth to a pod netns (10.1.1.5) serving its name on :8080.
fn node_and_pod(tag: &str) -> Option<(Netns, Netns, Listener)> {
    if !has("socat") {
        eprintln!("skipped: needs socat");
        return None;
    }
    let node = Netns::new(&format!("{tag}n"))?;
    let pod = Netns::new(&format!("{tag}p"))?;
    let (a, b) = (
        format!("kt{}{tag}a", std::process::id() % 100000),
        format!("kt{}{tag}b", std::process::id() % 100000),
    );
    node.run(
        "ip",
        &[
            "link", "add", &a, "type", "veth", "peer", "name", &b, "netns", &pod.0,
        ],
        None,
    )
    .unwrap();
    node.run("ip", &["addr", "add", "10.1.1.1/24", "dev", &a], None)
        .unwrap();
    node.run("ip", &["link", "set", &a, "up"], None).unwrap();
    node.run("ip", &["route", "add", "default", "dev", &a], None)
        .unwrap();
    pod.run("ip", &["addr", "add", "10.1.1.5/24", "dev", &b], None)
        .unwrap();
    pod.run("ip", &["link", "set", &b, "up"], None).unwrap();
    let child = Command::new("ip")
        .args([
            "netns",
            "exec",
            &pod.0,
            "socat",
            "TCP-LISTEN:8080,reuseaddr,fork",
            "SYSTEM:echo pod-10.1.1.5",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let udp = Command::new("ip")
        .args([
            "netns",
            "exec",
            &pod.0,
            "socat",
            "UDP-LISTEN:5353,reuseaddr,fork",
            "SYSTEM:echo udp-10.1.1.5",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let listener = Listener(vec![child, udp]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    Some((node, pod, listener))
}

fn packet_objects() -> (Vec<Service>, Vec<EndpointSlice>) {
    let mut backend = service(
        "default",
        "backend",
        "10.152.183.5",
        &[("http", 80, "TCP"), ("dns", 53, "UDP")],
    );
    {
        let spec = backend.spec.as_mut().unwrap();
        spec.type_ = Some("NodePort".into());
        spec.ports.as_mut().unwrap()[0].node_port = Some(30080);
    }
    let backend_eps = slice(
        "default",
        "backend",
        "backend-1",
        &[("http", 8080, "TCP"), ("dns", 5353, "UDP")],
        &[ep("10.1.1.5", "node2", true)],
    );
    let empty = service("default", "empty", "10.152.183.30", &[("", 80, "TCP")]);
    (vec![backend, empty], vec![backend_eps])
}

fn connect(node: &Netns, target: &str) -> Result<String, String> {
    node.run(
        "socat",
        &["-T", "2", "-", &format!("TCP:{target},connect-timeout=2")],
        Some(""),
    )
}

#[test]
fn iptables_cluster_ip_reaches_the_pod_and_no_endpoints_rejects() {
    let Some((node, _pod, _l)) = node_and_pod("pi") else {
        return;
    };
    assert!(
        connect(&node, "10.1.1.5:8080")
            .unwrap()
            .contains("pod-10.1.1.5")
    );
    let (services, slices) = packet_objects();
    let state = ProxyState::from_objects("node1", &services, &slices);
    let full = Ruleset::build(&state, &cfg()).full_restore(&[]);
    node.run("iptables-restore", &["--noflush"], Some(&full))
        .unwrap();
    for j in JUMP_RULES {
        let mut args: Vec<String> = vec![
            "-w".into(),
            "-t".into(),
            j.table.into(),
            "-I".into(),
            j.src_chain.into(),
        ];
        args.extend(j.args());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        node.run("iptables", &args, None).unwrap();
    }
    let got = connect(&node, "10.152.183.5:80").unwrap();
    assert!(got.contains("pod-10.1.1.5"), "{got}");
    let got = connect(&node, "10.1.1.1:30080").unwrap();
    assert!(got.contains("pod-10.1.1.5"), "node port: {got}");
    let refused = connect(&node, "10.152.183.30:80").unwrap_err();
    assert!(refused.contains("refused"), "{refused}");
    udp_flow_is_cleared_when_its_endpoint_goes(&node, &state);
}

#[test]
fn nftables_cluster_ip_reaches_the_pod_and_no_endpoints_rejects() {
    let Some((node, _pod, _l)) = node_and_pod("pn") else {
        return;
    };
    let (services, slices) = packet_objects();
    let state = ProxyState::from_objects("node1", &services, &slices);
    let sync = NftRuleset::build(&state, &cfg()).full_transaction(&cfg(), true, &[], &[]);
    node.run("nft", &["-f", "-"], Some(&sync.transaction))
        .unwrap();
    let got = connect(&node, "10.152.183.5:80").unwrap();
    assert!(got.contains("pod-10.1.1.5"), "{got}");
    let got = connect(&node, "10.1.1.1:30080").unwrap();
    assert!(got.contains("pod-10.1.1.5"), "node port: {got}");
    let refused = connect(&node, "10.152.183.30:80").unwrap_err();
    assert!(refused.contains("refused"), "{refused}");
    udp_flow_is_cleared_when_its_endpoint_goes(&node, &state);
    // An unallocated ClusterIP is dropped: a timeout, not a refusal.
    let dropped = connect(&node, "10.152.183.99:80").unwrap_err();
    assert!(!dropped.contains("refused"), "{dropped}");
}

/// A UDP flow through the ClusterIP, then the conntrack cleanup of its
/// endpoint's removal, with the real `conntrack`.
fn udp_flow_is_cleared_when_its_endpoint_goes(node: &Netns, state: &ProxyState) {
    if !has("conntrack") {
        return;
    }
    let got = node
        .run(
            "socat",
            &["-T", "2", "-", "UDP:10.152.183.5:53"],
            Some("hello\n"),
        )
        .unwrap();
    assert!(got.contains("udp-10.1.1.5"), "{got}");
    let flows = node.run("conntrack", &["-L", "-p", "udp"], None).unwrap();
    assert!(flows.contains("dst=10.152.183.5"), "{flows}");
    let before = apply::UdpSnapshot::of(state);
    let mut gone = state.clone();
    gone.apply_slice(&slice(
        "default",
        "backend",
        "backend-1",
        &[("http", 8080, "TCP"), ("dns", 5353, "UDP")],
        &[],
    ));
    let cmds = before.cleanup(&apply::UdpSnapshot::of(&gone));
    assert!(!cmds.is_empty());
    for args in cmds {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        if let Err(e) = node.run("conntrack", &args, None) {
            assert!(e.contains("0 flow entries"), "{e}");
        }
    }
    let flows = node.run("conntrack", &["-L", "-p", "udp"], None).unwrap();
    assert!(!flows.contains("dst=10.152.183.5"), "{flows}");
}
