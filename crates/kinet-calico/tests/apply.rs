//! calico-node's plan applied for real in a throwaway network namespace
//! (`/run/kltest<pid>calico/node`, removed on drop). Run as root.

use kinet_calico::apply::Target;
use kinet_calico::plan::{self, NodeInfo, RTPROT_BIRD};
use kinet_linux::{Netlink, Route, netns, sysctl_get};
use kinet_model::lab;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

struct Ns(PathBuf);

impl Ns {
    fn new(tag: &str) -> Ns {
        let p = PathBuf::from(format!("/run/kltest{}calico{tag}/node", std::process::id()));
        netns::create(&p).unwrap_or_else(|e| panic!("create {}: {e}", p.display()));
        Ns(p)
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = netns::delete(&self.0);
        if let Some(d) = self.0.parent() {
            let _ = std::fs::remove_dir(d);
        }
    }
}

fn nodes(n: u8) -> BTreeMap<String, NodeInfo> {
    (1..=n)
        .map(|i| {
            let info = NodeInfo {
                name: format!("node{i}"),
                pod_cidr: Some(lab::node_pod_cidr(i)),
                internal_ip: Some(lab::node_ip(i)),
            };
            (info.name.clone(), info)
        })
        .collect()
}

fn lan_node(tag: &str) -> Ns {
    assert!(
        nix_is_root(),
        "kinet-calico's apply test must run as root (it creates a namespace)"
    );
    let ns = Ns::new(tag);
    let mut nl = Netlink::open(Some(&ns.0)).unwrap();
    nl.link_set_up("lo").unwrap();
    // the LAN link, as kinet_node::lab names it (a veth: no dummy module needed)
    nl.veth_add("eth0", "lanpeer", None).unwrap();
    nl.link_set_up("lanpeer").unwrap();
    nl.link_set_up("eth0").unwrap();
    nl.addr_add("eth0", IpAddr::V4(lab::node_ip(1)), 24)
        .unwrap();
    ns
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

fn bird_routes(ns: &Ns) -> Vec<String> {
    let mut nl = Netlink::open(Some(&ns.0)).unwrap();
    let mut v: Vec<String> = nl
        .routes_with_protocol()
        .unwrap()
        .into_iter()
        .filter(|(_, p)| *p == RTPROT_BIRD)
        .map(|(r, _)| r.to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn routes_are_programmed_idempotently_and_follow_the_nodes() {
    let ns = lan_node("r");
    let t = Target::in_netns(&ns.0);
    // the lab's static route to node2 is taken over
    let mut nl = Netlink::open(Some(&ns.0)).unwrap();
    let c2 = lab::node_pod_cidr(2);
    nl.route_replace(
        &Route::new(c2.addr, c2.prefix)
            .via(lab::node_ip(2))
            .dev("eth0"),
    )
    .unwrap();
    let want = plan::routes(&nodes(3), "node1");
    let ch = t.routes(&want).unwrap();
    assert_eq!(ch.replaced.len(), 2);
    assert_eq!(
        bird_routes(&ns),
        vec![
            "10.1.2.0/24 via 192.168.1.20 dev eth0",
            "10.1.3.0/24 via 192.168.1.30 dev eth0"
        ]
    );
    // no static duplicate left behind
    let all = nl.routes().unwrap();
    assert_eq!(
        all.iter()
            .filter(|r| r.dst == c2.addr && r.prefix == 24)
            .count(),
        1
    );
    // again: nothing to do
    let ch = t.routes(&want).unwrap();
    assert!(ch.replaced.is_empty() && ch.deleted.is_empty());
    // node3 deleted: its route goes, node2's stays
    let ch = t.routes(&plan::routes(&nodes(2), "node1")).unwrap();
    assert_eq!(ch.deleted.len(), 1);
    assert_eq!(
        bird_routes(&ns),
        vec!["10.1.2.0/24 via 192.168.1.20 dev eth0"]
    );
    // a route we do not own is never touched
    nl.route_replace(
        &Route::new("10.9.0.0".parse().unwrap(), 16)
            .via(lab::ROUTER_IP)
            .dev("eth0"),
    )
    .unwrap();
    t.routes(&[]).unwrap();
    assert!(bird_routes(&ns).is_empty());
    assert!(nl.routes().unwrap().iter().any(|r| r.prefix == 16));
}

#[test]
fn nat_outgoing_and_sysctls_are_applied_once() {
    let ns = lan_node("n");
    let t = Target::in_netns(&ns.0);
    t.sysctls().unwrap();
    assert_eq!(sysctl_get(&ns.0, "net/ipv4/ip_forward").unwrap(), "1");
    t.nat(lab::POD_CIDR).unwrap();
    t.nat(lab::POD_CIDR).unwrap();
    let save = t.nat_save().unwrap();
    for want in plan::nat_expected_lines(lab::POD_CIDR) {
        let n = save.lines().filter(|l| l.trim_end() == want).count();
        assert_eq!(n, 1, "{want:?} once in:\n{save}");
    }
    assert!(save.contains("-s 10.1.0.0/16 ! -d 10.1.0.0/16"), "{save}");
    assert!(save.contains("-j MASQUERADE --random-fully"), "{save}");
}
