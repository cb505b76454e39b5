//! The model against the layout of upstream's NetworkPolicy e2e suite
//! (test/e2e/network/netpol): namespaces x, y, z, pods a, b, c in each, serving
//! 80 and 81 over TCP and UDP on named ports `serve-80-tcp` …; each scenario's
//! truth table (rows from, columns to, `.` allowed, `X` denied) worked out from
//! the API's rules as the suite's expectations state them.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use k8s_openapi::api::networking::v1::NetworkPolicy;

use super::compile::compile;
use super::verdict::verdict;
use super::*;

const NAMESPACES: [&str; 3] = ["x", "y", "z"];
const PODS: [&str; 3] = ["a", "b", "c"];

fn ip_of(ns: &str, pod: &str) -> Ipv4Addr {
    let n = NAMESPACES.iter().position(|x| *x == ns).unwrap() as u8;
    let p = PODS.iter().position(|x| *x == pod).unwrap() as u8;
    // x/a, y/a, z/a on node1, the b pods on node2, the c pods on node1
    let node = if pod == "b" { 2 } else { 1 };
    Ipv4Addr::new(10, 1, node, 10 + n * 3 + p)
}

fn layout() -> (Vec<PodInfo>, Vec<NsInfo>, BTreeMap<Ipv4Addr, String>) {
    let mut pods = Vec::new();
    for ns in NAMESPACES {
        for pod in PODS {
            let mut ports = Vec::new();
            for port in [80u16, 81] {
                for proto in [Protocol::Tcp, Protocol::Udp, Protocol::Sctp] {
                    let name = format!("serve-{port}-{}", proto.nft());
                    ports.push((name, port, proto));
                }
            }
            pods.push(PodInfo {
                namespace: ns.into(),
                name: pod.into(),
                labels: [("pod".to_string(), pod.to_string())].into(),
                ip: Some(ip_of(ns, pod)),
                node: if pod == "b" { "node2" } else { "node1" }.into(),
                host_network: false,
                ports,
            });
        }
    }
    let namespaces = NAMESPACES
        .iter()
        .map(|ns| NsInfo {
            name: ns.to_string(),
            labels: [
                ("ns".to_string(), ns.to_string()),
                ("kubernetes.io/metadata.name".to_string(), ns.to_string()),
            ]
            .into(),
        })
        .collect();
    let nodes = [
        (Ipv4Addr::new(192, 168, 1, 10), "node1".to_string()),
        (Ipv4Addr::new(192, 168, 1, 20), "node2".to_string()),
    ]
    .into();
    (pods, namespaces, nodes)
}

fn policy(ns: &str, yaml: &str) -> Policy {
    let text = format!(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: p\n  namespace: {ns}\n{yaml}"
    );
    let np: NetworkPolicy = serde_yaml::from_str(&text).unwrap();
    Policy::from_k8s(&np).unwrap()
}

fn named(mut p: Policy, name: &str) -> Policy {
    p.name = name.into();
    p
}

/// The truth table for `port`/`protocol` under `policies`, upstream's format
/// without the header: one line per source, `.` or `X` per destination.
fn table(policies: &[Policy], port: u16, protocol: Protocol) -> String {
    let (pods, namespaces, nodes) = layout();
    let c = compile(&pods, &namespaces, policies, &nodes);
    let mut out = String::new();
    for fns in NAMESPACES {
        for fp in PODS {
            out.push_str(&format!("{fns}/{fp} "));
            for tns in NAMESPACES {
                for tp in PODS {
                    let v = verdict(&c, ip_of(fns, fp), ip_of(tns, tp), port, protocol);
                    out.push(if v.allowed() { '.' } else { 'X' });
                }
            }
            out.push('\n');
        }
    }
    out
}

/// A table from rows of 9 cells (`x/a .........`), whitespace-insensitive.
fn want(rows: &str) -> String {
    rows.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (who, cells) = l.split_once(' ').unwrap();
            format!("{who} {}\n", cells.replace(' ', ""))
        })
        .collect()
}

const ALL: &str = "
    x/a ... ... ...
    x/b ... ... ...
    x/c ... ... ...
    y/a ... ... ...
    y/b ... ... ...
    y/c ... ... ...
    z/a ... ... ...
    z/b ... ... ...
    z/c ... ... ...";

#[test]
fn no_policy_allows_everything() {
    assert_eq!(table(&[], 80, Protocol::Tcp), want(ALL));
}

#[test]
fn default_deny_ingress() {
    let p = policy("x", "spec:\n  podSelector: {}\n  policyTypes: [Ingress]\n");
    let t = want(
        "
        x/a .XX ... ...
        x/b X.X ... ...
        x/c XX. ... ...
        y/a XXX ... ...
        y/b XXX ... ...
        y/c XXX ... ...
        z/a XXX ... ...
        z/b XXX ... ...
        z/c XXX ... ...",
    );
    assert_eq!(table(std::slice::from_ref(&p), 80, Protocol::Tcp), t);
    assert_eq!(table(&[p], 81, Protocol::Udp), t);
}

#[test]
fn default_deny_all() {
    let p = policy(
        "x",
        "spec:\n  podSelector: {}\n  policyTypes: [Ingress, Egress]\n",
    );
    assert_eq!(
        table(&[p], 80, Protocol::Tcp),
        want(
            "
            x/a .XX XXX XXX
            x/b X.X XXX XXX
            x/c XX. XXX XXX
            y/a XXX ... ...
            y/b XXX ... ...
            y/c XXX ... ...
            z/a XXX ... ...
            z/b XXX ... ...
            z/c XXX ... ..."
        )
    );
}

#[test]
fn allow_all_ingress_and_egress_forms() {
    let ingress = policy("x", "spec:\n  podSelector: {}\n  ingress:\n  - {}\n");
    let egress = policy(
        "x",
        "spec:\n  podSelector: {}\n  egress:\n  - {}\n  policyTypes: [Egress]\n",
    );
    assert_eq!(table(&[ingress], 80, Protocol::Tcp), want(ALL));
    assert_eq!(table(&[egress], 81, Protocol::Udp), want(ALL));
}

#[test]
fn pod_selector_within_the_server_namespace() {
    let p = policy(
        "x",
        "spec:\n  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - from:\n    - podSelector: {matchLabels: {pod: b}}\n",
    );
    assert_eq!(
        table(&[p], 80, Protocol::Tcp),
        want(
            "
            x/a ... ... ...
            x/b ... ... ...
            x/c X.. ... ...
            y/a X.. ... ...
            y/b X.. ... ...
            y/c X.. ... ...
            z/a X.. ... ...
            z/b X.. ... ...
            z/c X.. ... ..."
        )
    );
}

#[test]
fn namespace_selector_with_match_expressions() {
    let p = policy(
        "x",
        "spec:\n  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - from:\n    - namespaceSelector:\n        matchExpressions: [{key: ns, operator: In, values: [y]}]\n",
    );
    let t = table(&[p], 80, Protocol::Tcp);
    assert_eq!(
        t,
        want(
            "
            x/a ... ... ...
            x/b X.. ... ...
            x/c X.. ... ...
            y/a ... ... ...
            y/b ... ... ...
            y/c ... ... ...
            z/a X.. ... ...
            z/b X.. ... ...
            z/c X.. ... ..."
        )
    );
    // the default label every namespace carries selects the same
    let q = policy(
        "x",
        "spec:\n  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - from:\n    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}\n",
    );
    assert_eq!(table(&[q], 80, Protocol::Tcp), t);
}

#[test]
fn pod_and_namespace_selectors_and_or() {
    let and = policy(
        "x",
        "spec:\n  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - from:\n    - namespaceSelector: {matchLabels: {ns: y}}\n      podSelector: {matchLabels: {pod: b}}\n",
    );
    assert_eq!(
        table(&[and], 80, Protocol::Tcp),
        want(
            "
            x/a ... ... ...
            x/b X.. ... ...
            x/c X.. ... ...
            y/a X.. ... ...
            y/b ... ... ...
            y/c X.. ... ...
            z/a X.. ... ...
            z/b X.. ... ...
            z/c X.. ... ..."
        )
    );
    let or = policy(
        "x",
        "spec:\n  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - from:\n    - namespaceSelector: {matchLabels: {ns: y}}\n    - podSelector: {matchLabels: {pod: b}}\n",
    );
    assert_eq!(
        table(&[or], 80, Protocol::Tcp),
        want(
            "
            x/a ... ... ...
            x/b ... ... ...
            x/c X.. ... ...
            y/a ... ... ...
            y/b ... ... ...
            y/c ... ... ...
            z/a X.. ... ...
            z/b X.. ... ...
            z/c X.. ... ..."
        )
    );
}

#[test]
fn ports_numbered_named_ranges_and_protocols() {
    let on81 = policy(
        "x",
        "spec:\n  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - from:\n    - namespaceSelector: {matchLabels: {ns: y}}\n    ports:\n    - {port: 81}\n",
    );
    let denied_a = want(
        "
        x/a ... ... ...
        x/b X.. ... ...
        x/c X.. ... ...
        y/a X.. ... ...
        y/b X.. ... ...
        y/c X.. ... ...
        z/a X.. ... ...
        z/b X.. ... ...
        z/c X.. ... ...",
    );
    let from_y = want(
        "
        x/a ... ... ...
        x/b X.. ... ...
        x/c X.. ... ...
        y/a ... ... ...
        y/b ... ... ...
        y/c ... ... ...
        z/a X.. ... ...
        z/b X.. ... ...
        z/c X.. ... ...",
    );
    assert_eq!(
        table(std::slice::from_ref(&on81), 80, Protocol::Tcp),
        denied_a
    );
    assert_eq!(
        table(std::slice::from_ref(&on81), 81, Protocol::Tcp),
        from_y
    );
    // a policy for TCP says nothing for UDP: denied
    assert_eq!(table(&[on81], 81, Protocol::Udp), denied_a);

    let named_port = policy(
        "x",
        "spec:\n  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - from:\n    - namespaceSelector: {matchLabels: {ns: y}}\n    ports:\n    - {port: serve-80-udp, protocol: UDP}\n",
    );
    assert_eq!(
        table(std::slice::from_ref(&named_port), 80, Protocol::Udp),
        from_y
    );
    assert_eq!(
        table(std::slice::from_ref(&named_port), 81, Protocol::Udp),
        denied_a
    );
    assert_eq!(table(&[named_port], 80, Protocol::Tcp), denied_a);

    let range = policy(
        "x",
        "spec:\n  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - from:\n    - namespaceSelector: {matchLabels: {ns: y}}\n    ports:\n    - {port: 80, endPort: 81}\n",
    );
    assert_eq!(
        table(std::slice::from_ref(&range), 80, Protocol::Tcp),
        from_y
    );
    assert_eq!(
        table(std::slice::from_ref(&range), 81, Protocol::Tcp),
        from_y
    );
    assert_eq!(table(&[range], 82, Protocol::Tcp), denied_a);

    // any port of one protocol
    let tcp_only = policy(
        "x",
        "spec:\n  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - ports:\n    - {protocol: TCP}\n",
    );
    assert_eq!(
        table(std::slice::from_ref(&tcp_only), 81, Protocol::Tcp),
        want(ALL)
    );
    assert_eq!(table(&[tcp_only], 80, Protocol::Udp), denied_a);

    // SCTP is not TCP
    let sctp = policy(
        "x",
        "spec:\n  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - ports:\n    - {port: 80, protocol: SCTP}\n",
    );
    assert_eq!(
        table(std::slice::from_ref(&sctp), 80, Protocol::Tcp),
        denied_a
    );
    assert_eq!(table(&[sctp], 80, Protocol::Sctp), want(ALL));
}

#[test]
fn stacked_policies_are_a_union() {
    let from_b = named(
        policy(
            "x",
            "spec:\n  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - from:\n    - podSelector: {matchLabels: {pod: b}}\n",
        ),
        "from-b",
    );
    let from_z = named(
        policy(
            "x",
            "spec:\n  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - from:\n    - namespaceSelector: {matchLabels: {ns: z}}\n",
        ),
        "from-z",
    );
    assert_eq!(
        table(&[from_b, from_z], 80, Protocol::Tcp),
        want(
            "
            x/a ... ... ...
            x/b ... ... ...
            x/c X.. ... ...
            y/a X.. ... ...
            y/b X.. ... ...
            y/c X.. ... ...
            z/a ... ... ...
            z/b ... ... ...
            z/c ... ... ..."
        )
    );
}

#[test]
fn egress_deny_named_port_and_ip_blocks() {
    let deny = policy(
        "x",
        "spec:\n  podSelector: {matchLabels: {pod: a}}\n  policyTypes: [Egress]\n",
    );
    let row_denied = want(
        "
        x/a .XX XXX XXX
        x/b ... ... ...
        x/c ... ... ...
        y/a ... ... ...
        y/b ... ... ...
        y/c ... ... ...
        z/a ... ... ...
        z/b ... ... ...
        z/c ... ... ...",
    );
    assert_eq!(table(&[deny], 80, Protocol::Tcp), row_denied);

    let named_port = policy(
        "x",
        "spec:\n  podSelector: {matchLabels: {pod: a}}\n  policyTypes: [Egress]\n  egress:\n  - ports:\n    - {port: serve-80-tcp}\n",
    );
    assert_eq!(
        table(std::slice::from_ref(&named_port), 80, Protocol::Tcp),
        want(ALL)
    );
    assert_eq!(table(&[named_port], 81, Protocol::Tcp), row_denied);

    let yb = ip_of("y", "b");
    let block = policy(
        "x",
        &format!(
            "spec:\n  podSelector: {{matchLabels: {{pod: a}}}}\n  policyTypes: [Egress]\n  egress:\n  - to:\n    - ipBlock: {{cidr: {yb}/32}}\n"
        ),
    );
    assert_eq!(
        table(&[block], 80, Protocol::Tcp),
        want(
            "
            x/a .XX X.X XXX
            x/b ... ... ...
            x/c ... ... ...
            y/a ... ... ...
            y/b ... ... ...
            y/c ... ... ...
            z/a ... ... ...
            z/b ... ... ...
            z/c ... ... ..."
        )
    );
    let except = policy(
        "x",
        &format!(
            "spec:\n  podSelector: {{matchLabels: {{pod: a}}}}\n  policyTypes: [Egress]\n  egress:\n  - to:\n    - ipBlock: {{cidr: 10.1.0.0/16, except: [{yb}/32]}}\n"
        ),
    );
    let t = want(
        "
        x/a ... .X. ...
        x/b ... ... ...
        x/c ... ... ...
        y/a ... ... ...
        y/b ... ... ...
        y/c ... ... ...
        z/a ... ... ...
        z/b ... ... ...
        z/c ... ... ...",
    );
    assert_eq!(table(std::slice::from_ref(&except), 80, Protocol::Tcp), t);
    // an address in both a cidr's except and another rule's cidr is admitted
    let also = named(
        policy(
            "x",
            &format!(
                "spec:\n  podSelector: {{matchLabels: {{pod: a}}}}\n  policyTypes: [Egress]\n  egress:\n  - to:\n    - ipBlock: {{cidr: {yb}/32}}\n"
            ),
        ),
        "also",
    );
    assert_eq!(table(&[except, also], 80, Protocol::Tcp), want(ALL));
}

#[test]
fn ingress_and_egress_together_and_the_client_side_wins() {
    // x/a may only talk to y/b; y/b admits x/a only: x/a -> y/b passes, x/a -> others not
    let client = named(
        policy(
            "x",
            "spec:\n  podSelector: {matchLabels: {pod: a}}\n  policyTypes: [Egress]\n  egress:\n  - to:\n    - namespaceSelector: {matchLabels: {ns: y}}\n      podSelector: {matchLabels: {pod: b}}\n",
        ),
        "client",
    );
    // the server allows everyone, the client's egress still denies
    let server = named(
        policy("z", "spec:\n  podSelector: {}\n  ingress:\n  - {}\n"),
        "server",
    );
    let t = table(&[client, server], 80, Protocol::Tcp);
    assert_eq!(
        t,
        want(
            "
            x/a .XX X.X XXX
            x/b ... ... ...
            x/c ... ... ...
            y/a ... ... ...
            y/b ... ... ...
            y/c ... ... ...
            z/a ... ... ...
            z/b ... ... ...
            z/c ... ... ..."
        )
    );
}

#[test]
fn a_node_reaches_its_own_pods_and_the_verdict_says_why() {
    let (pods, namespaces, nodes) = layout();
    let deny = named(
        policy("x", "spec:\n  podSelector: {}\n  policyTypes: [Ingress]\n"),
        "deny-all",
    );
    let front = named(
        policy(
            "x",
            "spec:\n  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - from:\n    - podSelector: {matchLabels: {pod: c}}\n",
        ),
        "allow-frontend",
    );
    let c = compile(&pods, &namespaces, &[deny, front], &nodes);
    let node1 = Ipv4Addr::new(192, 168, 1, 10);
    let node2 = Ipv4Addr::new(192, 168, 1, 20);
    // x/a lives on node1: its kubelet's probes pass, node2's traffic does not
    let v = verdict(&c, node1, ip_of("x", "a"), 80, Protocol::Tcp);
    assert!(v.allowed(), "{v}");
    assert_eq!(
        v.to_string(),
        "allowed: node1 (192.168.1.10) is not a pod; node1 (192.168.1.10) comes from node1, the node of x/a"
    );
    let v = verdict(&c, node2, ip_of("x", "a"), 80, Protocol::Tcp);
    assert!(!v.allowed());
    let v = verdict(&c, ip_of("y", "b"), ip_of("x", "a"), 80, Protocol::Tcp);
    assert_eq!(
        v.to_string(),
        "denied: pod x/a is isolated for ingress by x/allow-frontend or x/deny-all; no ingress rule of x/allow-frontend or x/deny-all admits y/b on 80/TCP"
    );
    let v = verdict(&c, ip_of("x", "c"), ip_of("x", "a"), 80, Protocol::Tcp);
    assert_eq!(
        v.to_string(),
        "allowed: egress of x/c is not isolated; ingress to x/a admitted by x/allow-frontend (ingress rule 1)"
    );
    // outside the pod network: only the pod's side counts
    let outside = Ipv4Addr::new(192, 168, 1, 100);
    assert!(!verdict(&c, outside, ip_of("x", "b"), 80, Protocol::Tcp).allowed());
    assert!(verdict(&c, ip_of("x", "b"), outside, 80, Protocol::Tcp).allowed());
}

#[test]
fn policy_types_default_as_the_api_server_does() {
    let ingress_only = policy("x", "spec:\n  podSelector: {}\n");
    assert!(ingress_only.ingress.is_some() && ingress_only.egress.is_none());
    let both = policy(
        "x",
        "spec:\n  podSelector: {}\n  egress:\n  - to:\n    - podSelector: {}\n",
    );
    assert!(both.ingress.is_some() && both.egress.is_some());
    let egress_only = policy("x", "spec:\n  podSelector: {}\n  policyTypes: [Egress]\n");
    assert!(egress_only.ingress.is_none() && egress_only.egress == Some(vec![]));
}
