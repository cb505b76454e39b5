//! NetworkPolicy enforced by calico-node with real packets: isolation per
//! direction, peers by pod and namespace, ports, drops that time out, DNS
//! egress as just another rule, probes from the node, the ruleset readable on
//! the node, and the model's verdicts matching the kernel's.

use crate::common::*;

const PODS: &str = r#"apiVersion: v1
kind: Namespace
metadata:
  name: x
---
apiVersion: v1
kind: Namespace
metadata:
  name: "y"
---
apiVersion: v1
kind: Pod
metadata:
  name: api
  namespace: x
  labels: {app: api}
spec:
  nodeSelector: {kubernetes.io/hostname: node1}
  containers:
  - name: web
    image: nginx
    ports:
    - {containerPort: 80, name: http}
    readinessProbe:
      httpGet: {path: /, port: 80}
      periodSeconds: 1
---
apiVersion: v1
kind: Pod
metadata:
  name: frontend
  namespace: x
  labels: {app: frontend}
spec:
  nodeSelector: {kubernetes.io/hostname: node2}
  containers:
  - {name: c, image: busybox, command: [sleep, infinity]}
---
apiVersion: v1
kind: Pod
metadata:
  name: other
  namespace: x
  labels: {app: other}
spec:
  nodeSelector: {kubernetes.io/hostname: node1}
  containers:
  - {name: c, image: busybox, command: [sleep, infinity]}
---
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: "y"
spec:
  containers:
  - {name: web, image: nginx}
---
apiVersion: v1
kind: Pod
metadata:
  name: client
  namespace: "y"
  labels: {app: frontend}
spec:
  nodeSelector: {kubernetes.io/hostname: node2}
  containers:
  - {name: c, image: busybox, command: [sleep, infinity]}
"#;

const DENY_INGRESS: &str = "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: deny-all
  namespace: x
spec:
  podSelector: {}
  policyTypes: [Ingress]
";

const ALLOW_FRONTEND: &str = "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: allow-frontend
  namespace: x
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
  - from:
    - podSelector: {matchLabels: {app: frontend}}
    ports:
    - {port: http}
";

const DENY_EGRESS_BUT_DNS: &str = "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: egress-dns-only
  namespace: x
spec:
  podSelector: {matchLabels: {app: other}}
  policyTypes: [Egress]
  egress:
  - to:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}
      podSelector: {matchLabels: {k8s-app: kube-dns}}
    ports:
    - {port: 53, protocol: UDP}
    - {port: 53, protocol: TCP}
";

/// `nc -z -w 2 IP 80` from a pod: Ok(()) when it connects, Err(output) otherwise.
fn connect(lab: &Lab, ns: &str, pod: &str, ip: &str) -> Result<(), String> {
    let o = lab.exec(ns, pod, &["nc", "-z", "-w", "2", ip, "80"]);
    if o.status.success() {
        Ok(())
    } else {
        Err(out_err(&o))
    }
}

/// Waits until `from` reaches (or no longer reaches) `ip`: calico-node programs
/// a change within a moment of the API's.
#[track_caller]
fn wait_reach(lab: &Lab, ns: &str, from: &str, ip: &str, reach: bool) -> String {
    wait_until(secs(30), || match (connect(lab, ns, from, ip), reach) {
        (Ok(()), true) => Ok(String::new()),
        (Err(e), false) => Ok(e),
        (Ok(()), false) => Err(format!("{ns}/{from} still reaches {ip}")),
        (Err(e), true) => Err(format!("{ns}/{from} does not reach {ip}: {e}")),
    })
}

#[test]
fn policies_are_enforced_with_real_packets() {
    let lab = Lab::up(2);
    lab.apply(PODS);
    for (ns, p) in [
        ("x", "api"),
        ("x", "frontend"),
        ("x", "other"),
        ("y", "client"),
        ("y", "web"),
    ] {
        lab.wait_ready(ns, p);
    }
    let api = lab.pod_ip("x", "api");
    for (ns, p) in [("x", "frontend"), ("x", "other"), ("y", "client")] {
        wait_reach(&lab, ns, p, &api, true);
    }

    // default deny: dropped, so a connection times out (no refusal)
    lab.apply(DENY_INGRESS);
    let e = wait_reach(&lab, "x", "other", &api, false);
    assert_contains(&e, "timed out");
    wait_reach(&lab, "x", "frontend", &api, false);
    wait_reach(&lab, "y", "client", &api, false);
    // node1's kubelet still probes the pod: it stays Ready
    std::thread::sleep(secs(3));
    lab.wait_ready("x", "api");

    // frontend pods of x on the named port; y's frontend is another namespace's
    lab.apply(ALLOW_FRONTEND);
    wait_reach(&lab, "x", "frontend", &api, true);
    wait_reach(&lab, "x", "other", &api, false);
    wait_reach(&lab, "y", "client", &api, false);

    // the node's ruleset reads as the policies
    let nft = assert_ok(&lab.kinet(&args("ssh node1 -- nft list table ip calico")));
    assert_contains(&nft, "x/allow-frontend ingress rule 1");
    assert_contains(
        &nft,
        "x/api isolated for ingress by x/allow-frontend, x/deny-all",
    );
    let logs = lab.k(&args(
        "logs -n kube-system -l k8s-app=calico-node --tail=-1",
    ));
    assert_contains(&logs, "Programmed NetworkPolicy");

    // egress: only DNS to kube-dns's pods; the cluster DNS answers, nothing else passes
    let web = lab.pod_ip("y", "web");
    wait_reach(&lab, "x", "other", &web, true);
    lab.apply(DENY_EGRESS_BUT_DNS);
    let e = wait_reach(&lab, "x", "other", &web, false);
    assert_contains(&e, "timed out");
    wait_until(secs(30), || {
        let o = lab.exec(
            "x",
            "other",
            &["nslookup", "kubernetes.default.svc.cluster.local"],
        );
        let t = out_err(&o);
        if t.contains("10.152.183.1") {
            Ok(())
        } else {
            Err(t)
        }
    });

    // deleted policies stop being enforced
    lab.k(&args("delete networkpolicy -n x --all"));
    wait_reach(&lab, "y", "client", &api, true);
    wait_reach(&lab, "x", "other", &web, true);
}

/// The layout of upstream's netpol e2e suite: namespaces x, y, z with pods a,
/// b, c serving TCP 80 and 81 (b on node2, the others on node1).
fn e2e_layout() -> String {
    let mut y = String::new();
    for ns in ["x", "y", "z"] {
        y.push_str(&format!(
            "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: \"{ns}\"\n  labels: {{ns: \"{ns}\"}}\n"
        ));
        for pod in ["a", "b", "c"] {
            let node = if pod == "b" { "node2" } else { "node1" };
            y.push_str(&format!(
                "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: {pod}\n  namespace: \"{ns}\"\n  labels: {{pod: {pod}}}\nspec:\n  nodeSelector: {{kubernetes.io/hostname: {node}}}\n  containers:\n  - name: cont-80-tcp\n    image: registry.k8s.io/e2e-test-images/agnhost:2.53\n    args: [netexec, --http-port=80, --udp-port=80]\n    ports: [{{containerPort: 80, name: serve-80-tcp}}]\n  - name: cont-81-tcp\n    image: registry.k8s.io/e2e-test-images/agnhost:2.53\n    args: [netexec, --http-port=81, --udp-port=81]\n    ports: [{{containerPort: 81, name: serve-81-tcp}}]\n"
            ));
        }
    }
    y
}

/// Probes every pair on `port` (TCP), in parallel by source: the truth table,
/// one line per source (`x/a .X.XXX...`).
fn probe_table(lab: &Lab, ips: &[(String, String)], port: u16) -> String {
    std::thread::scope(|s| {
        let rows: Vec<_> = ips
            .iter()
            .map(|(from, _)| {
                s.spawn(move || {
                    let (ns, pod) = from.split_once('/').unwrap();
                    let cells: String = ips
                        .iter()
                        .map(|(_, ip)| {
                            let o =
                                lab.exec(ns, pod, &["nc", "-z", "-w", "1", ip, &port.to_string()]);
                            if o.status.success() { '.' } else { 'X' }
                        })
                        .collect();
                    format!(
                        "{from} {}/{}/{}\n",
                        &cells[0..3],
                        &cells[3..6],
                        &cells[6..9]
                    )
                })
            })
            .collect();
        rows.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn the_e2e_layout_gives_upstreams_truth_tables() {
    // (a pod always reaches itself: loopback is never policed, as upstream's
    // suite allows it)
    let lab = Lab::up(2);
    lab.apply(&e2e_layout());
    let mut ips = Vec::new();
    for ns in ["x", "y", "z"] {
        for pod in ["a", "b", "c"] {
            lab.wait_ready(ns, pod);
            ips.push((format!("{ns}/{pod}"), lab.pod_ip(ns, pod)));
        }
    }
    let all = "x/a .../.../...\nx/b .../.../...\nx/c .../.../...\ny/a .../.../...\ny/b .../.../...\ny/c .../.../...\nz/a .../.../...\nz/b .../.../...\nz/c .../.../...\n";
    wait_until(secs(30), || {
        let t = probe_table(&lab, &ips, 80);
        if t == all { Ok(()) } else { Err(t) }
    });

    // should support a 'default-deny-ingress' policy
    lab.apply(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: deny-ingress\n  namespace: x\nspec:\n  podSelector: {}\n  policyTypes: [Ingress]\n",
    );
    let deny = "x/a .XX/.../...\nx/b X.X/.../...\nx/c XX./.../...\ny/a XXX/.../...\ny/b XXX/.../...\ny/c XXX/.../...\nz/a XXX/.../...\nz/b XXX/.../...\nz/c XXX/.../...\n";
    wait_until(secs(30), || {
        let t = probe_table(&lab, &ips, 80);
        if t == deny { Ok(()) } else { Err(t) }
    });

    // should enforce policy based on Ports: x/a from namespace y on 81 only
    lab.apply(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: allow-81-from-y\n  namespace: x\nspec:\n  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - from:\n    - namespaceSelector: {matchLabels: {ns: \"y\"}}\n    ports:\n    - {port: serve-81-tcp}\n",
    );
    let on81 = "x/a .XX/.../...\nx/b X.X/.../...\nx/c XX./.../...\ny/a .XX/.../...\ny/b .XX/.../...\ny/c .XX/.../...\nz/a XXX/.../...\nz/b XXX/.../...\nz/c XXX/.../...\n";
    wait_until(secs(30), || {
        let t = probe_table(&lab, &ips, 81);
        if t == on81 { Ok(()) } else { Err(t) }
    });
    assert_eq!(probe_table(&lab, &ips, 80), deny);
}
