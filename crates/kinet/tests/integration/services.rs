//! Services with real packets: kube-proxy (the DaemonSet kube-system/kube-proxy,
//! `kinet proxy`) programs each node, and busybox wget/nc and curl reach
//! ClusterIPs from pods on both nodes, NodePorts from the outside workstation,
//! in iptables mode and then in nftables mode.

use crate::common::*;
use std::collections::BTreeSet;

/// agnhost netexec behind a Deployment: `/hostname` names the pod that answered,
/// `/clientip` the address it saw, and UDP port 8081 answers `hostname`.
fn backend(name: &str, replicas: usize, node: Option<&str>) -> String {
    let pin = node
        .map(|n| format!("      nodeSelector:\n        kubernetes.io/hostname: {n}\n"))
        .unwrap_or_default();
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
{pin}      containers:
      - name: netexec
        image: registry.k8s.io/e2e-test-images/agnhost:2.53
        args: ["netexec", "--http-port=8080", "--udp-port=8081"]
        ports:
        - name: http
          containerPort: 8080
        - name: udp
          containerPort: 8081
          protocol: UDP
        readinessProbe:
          httpGet:
            path: /healthz
            port: 8080
          periodSeconds: 1
"#
    )
}

fn cluster_ip(lab: &Lab, svc: &str) -> String {
    lab.k(&["get", "svc", svc, "-o", "jsonpath={.spec.clusterIP}"])
}

/// Waits until the Service's Endpoints list `n` ready addresses.
fn wait_endpoints(lab: &Lab, svc: &str, n: usize) {
    wait_until(secs(60), || {
        let ips = lab.k(&[
            "get",
            "endpoints",
            svc,
            "-o",
            "jsonpath={.subsets[*].addresses[*].ip}",
        ]);
        let got = ips.split_whitespace().count();
        if got == n {
            Ok(())
        } else {
            Err(format!(
                "endpoints {svc}: {got} ready addresses ({ips:?}), want {n}"
            ))
        }
    })
}

/// `wget -qO- URL` from a pod, until it answers (kube-proxy syncs within a second).
fn wget_until(lab: &Lab, pod: &str, url: &str) -> String {
    wait_until(secs(30), || {
        let o = lab.exec("default", pod, &["wget", "-qO-", url]);
        if o.status.success() {
            Ok(out(&o))
        } else {
            Err(format!("wget {url} from {pod}: {}", out_err(&o)))
        }
    })
}

/// The pods that answered ten requests to `url` from `pod`.
fn answers(lab: &Lab, pod: &str, url: &str) -> BTreeSet<String> {
    (0..10)
        .map(|_| {
            let o = lab.exec("default", pod, &["wget", "-qO-", url]);
            assert!(o.status.success(), "wget {url}: {}", out_err(&o));
            out(&o).trim().to_string()
        })
        .collect()
}

/// `kinet ssh HOST -- CMD…`.
fn ssh(lab: &Lab, host: &str, cmd: &[&str]) -> std::process::Output {
    let mut argv = vec!["ssh", host, "--"];
    argv.extend(cmd);
    lab.kinet(&argv)
}

/// Switches kube-proxy's mode in its ConfigMap and restarts the DaemonSet,
/// as an operator would.
fn switch_mode(lab: &Lab, from: &str, to: &str) {
    set_mode(lab, from, to);
    lab.k(&args(
        "rollout status daemonset/kube-proxy -n kube-system --timeout=60s",
    ));
}

/// Rewrites `mode: FROM` to `mode: TO` in kube-proxy's ConfigMap and restarts
/// the DaemonSet, without waiting for the rollout.
fn set_mode(lab: &Lab, from: &str, to: &str) {
    let cm = lab.k(&["get", "cm", "kube-proxy", "-n", "kube-system", "-o", "json"]);
    let mut cm: serde_json::Value = serde_json::from_str(&cm).unwrap();
    let conf = cm["data"]["config.conf"].as_str().unwrap().to_string();
    let old = format!("mode: {from}");
    assert!(conf.contains(&old), "config.conf has no {old:?}: {conf}");
    cm["data"]["config.conf"] = conf.replace(&old, &format!("mode: {to}")).into();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("cm.json");
    std::fs::write(&f, cm.to_string()).unwrap();
    lab.k(&["replace", "-f", f.to_str().unwrap()]);
    lab.k(&args("rollout restart daemonset/kube-proxy -n kube-system"));
}

/// Waits until `wget URL` from `pod` is refused as kube-proxy's REJECT makes
/// it (`Connection refused`); before kube-proxy has programmed a new Service,
/// the packet would go to the router (`Network is unreachable`).
fn wait_refused(lab: &Lab, pod: &str, url: &str, ip: &str) {
    let want = format!("wget: can't connect to remote host ({ip}): Connection refused");
    wait_until(secs(30), || {
        let o = lab.exec("default", pod, &["timeout", "3", "wget", "-qO-", url]);
        let got = out_err(&o);
        if got.contains(&want) {
            Ok(())
        } else {
            Err(format!("wget {url} from {pod}: {got}"))
        }
    });
}

/// The checks both modes must pass: load balancing over every ready endpoint
/// from pods on both nodes (000 Test 11), a second named port (Test 12), UDP,
/// no endpoints → refused at once, and a ClusterIP from a node.
fn check_cluster_ips(lab: &Lab, mode: &str) {
    let ip = cluster_ip(lab, "backend");
    for client in ["client1", "client2"] {
        wget_until(lab, client, &format!("http://{ip}:80/hostname"));
        // kube-proxy may still be programming the last endpoints (its sync
        // period): a batch of ten that sees one pod is tried again
        let seen = wait_until(secs(30), || {
            let seen = answers(lab, client, &format!("http://{ip}:80/hostname"));
            if seen.len() >= 2 {
                Ok(seen)
            } else {
                Err(format!(
                    "{mode}: ten requests from {client} to {ip}:80 reached {seen:?}"
                ))
            }
        });
        assert!(
            seen.iter().all(|h| h.starts_with("backend-")),
            "{mode}: ten requests from {client} to {ip}:80 reached {seen:?}"
        );
        let metrics = wget_until(lab, client, &format!("http://{ip}:9090/hostname"));
        assert!(
            metrics.starts_with("backend-"),
            "{mode}: port 9090 answered {metrics:?}"
        );
        // UDP through the ClusterIP
        let udp = wait_until(secs(20), || {
            let o = lab.exec(
                "default",
                client,
                &["sh", "-c", &format!("echo hostname | nc -u -w 2 {ip} 8081")],
            );
            let got = out(&o);
            if got.starts_with("backend-") {
                Ok(got)
            } else {
                Err(format!(
                    "{mode}: udp {ip}:8081 from {client}: {}",
                    out_err(&o)
                ))
            }
        });
        assert!(udp.starts_with("backend-"));
    }
    // a Service without endpoints refuses at once (REJECT), as the course prints it
    let empty = cluster_ip(lab, "empty");
    wait_refused(lab, "client1", &format!("http://{empty}:80/"), &empty);
    // from a node, through its own rules
    let o = wait_until(secs(20), || {
        let o = ssh(
            lab,
            "node2",
            &[
                "curl",
                "-s",
                "--max-time",
                "3",
                &format!("http://{ip}/hostname"),
            ],
        );
        if o.status.success() {
            Ok(out(&o))
        } else {
            Err(format!("{mode}: curl {ip} from node2: {}", out_err(&o)))
        }
    });
    assert!(o.starts_with("backend-"), "{mode}: node2 got {o:?}");
}

#[test]
fn cluster_ips_in_iptables_mode_then_nftables_mode() {
    let lab = Lab::up(2);
    lab.apply(&backend("backend", 3, None));
    lab.apply(&busybox_pod("client1", "node1"));
    lab.apply(&busybox_pod("client2", "node2"));
    lab.apply(
        r#"
apiVersion: v1
kind: Service
metadata:
  name: backend
  labels:
    app: backend
spec:
  selector:
    app: backend
  ports:
  - name: http
    port: 80
    targetPort: http
  - name: metrics
    port: 9090
    targetPort: 8080
  - name: udp
    port: 8081
    protocol: UDP
    targetPort: udp
---
apiVersion: v1
kind: Service
metadata:
  name: empty
spec:
  selector:
    app: nothing-has-this-label
  ports:
  - port: 80
"#,
    );
    lab.wait_ready("default", "client1");
    lab.wait_ready("default", "client2");
    wait_endpoints(&lab, "backend", 3);

    check_cluster_ips(&lab, "iptables");
    let ip = cluster_ip(&lab, "backend");
    // 000 Test 19: the node's NAT table names the Service
    let save = assert_ok(&ssh(&lab, "node1", &["iptables-save", "-t", "nat"]));
    assert_contains(
        &save,
        "-m comment --comment \"default/backend:http cluster IP\"",
    );
    assert_contains(&save, format!("-d {ip}/32 -p tcp"));
    let listed = assert_ok(&ssh(
        &lab,
        "node1",
        &["sudo", "iptables", "-t", "nat", "-L", "-n"],
    ));
    assert_contains(&listed, &ip);
    assert_contains(&listed, "KUBE-SERVICES");

    switch_mode(&lab, "iptables", "nftables");
    wait_until(secs(30), || {
        let save = out(&ssh(&lab, "node1", &["iptables-save", "-t", "nat"]));
        let nft = out(&ssh(
            &lab,
            "node1",
            &["nft", "list", "table", "ip", "kube-proxy"],
        ));
        if save.contains("KUBE-SVC-") || !nft.contains(&ip) {
            Err(format!("after the switch: iptables {save}\nnft {nft}"))
        } else {
            Ok(())
        }
    });
    check_cluster_ips(&lab, "nftables");

    // and back: no nftables table left behind
    switch_mode(&lab, "nftables", "iptables");
    wait_until(secs(30), || {
        let nft = ssh(&lab, "node2", &["nft", "list", "table", "ip", "kube-proxy"]);
        if nft.status.success() {
            Err(format!("table ip kube-proxy still there: {}", out(&nft)))
        } else {
            Ok(())
        }
    });
    wget_until(&lab, "client2", &format!("http://{ip}:80/hostname"));
}

#[test]
fn node_ports_traffic_policies_affinity_and_hairpin() {
    let lab = Lab::up(2);
    lab.apply(&backend("web", 1, Some("node1")));
    lab.apply(&backend("many", 3, None));
    lab.apply(&busybox_pod("client1", "node1"));
    lab.apply(
        r#"
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  type: NodePort
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 8080
    nodePort: 30080
---
apiVersion: v1
kind: Service
metadata:
  name: sticky
spec:
  selector:
    app: many
  sessionAffinity: ClientIP
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: v1
kind: Pod
metadata:
  name: self
  labels:
    app: self
spec:
  containers:
  - name: netexec
    image: registry.k8s.io/e2e-test-images/agnhost:2.53
    args: ["netexec", "--http-port=8080"]
  - name: shell
    image: busybox:1.36
    command: ["sleep", "infinity"]
---
apiVersion: v1
kind: Service
metadata:
  name: self
spec:
  selector:
    app: self
  ports:
  - port: 80
    targetPort: 8080
"#,
    );
    lab.wait_ready("default", "client1");
    lab.wait_ready("default", "self");
    wait_endpoints(&lab, "web", 1);
    wait_endpoints(&lab, "sticky", 3);

    check_node_ports(&lab, "iptables");
    switch_mode(&lab, "iptables", "nftables");
    check_node_ports(&lab, "nftables");
}

/// NodePorts from the outside workstation with both traffic policies, session
/// affinity and hairpin, in kube-proxy's current `mode`.
fn check_node_ports(lab: &Lab, mode: &str) {
    // each round starts from the default policy
    lab.k(&args(
        r#"patch svc web -p '{"spec":{"externalTrafficPolicy":"Cluster"}}'"#,
    ));
    // 000 Test 14: the NodePort on every node, from the outside workstation
    let curl = |node_ip: &str, path: &str, max: &str| {
        ssh(
            lab,
            "outside",
            &[
                "curl",
                "-s",
                "--max-time",
                max,
                &format!("http://{node_ip}:30080{path}"),
            ],
        )
    };
    let node1 = kinet_model::lab::node_ip(1).to_string();
    let node2 = kinet_model::lab::node_ip(2).to_string();
    let outside = kinet_model::lab::OUTSIDE_IP.to_string();
    for ip in [&node1, &node2] {
        let got = wait_until(secs(30), || {
            let o = curl(ip, "/hostname", "3");
            if o.status.success() {
                Ok(out(&o))
            } else {
                Err(format!("curl {ip}:30080 from outside: {}", out_err(&o)))
            }
        });
        assert!(
            got.starts_with("web-"),
            "{mode}: {ip}:30080 answered {got:?}"
        );
    }
    // Cluster: through node2 the source is NATed to node2's address
    let seen = out(&curl(&node2, "/clientip", "3"));
    assert!(
        !seen.starts_with(&outside),
        "{mode}: externalTrafficPolicy Cluster kept the client IP: {seen}"
    );
    // Local: the client IP is kept, and a node without a local endpoint drops
    lab.k(&args(
        r#"patch svc web -p '{"spec":{"externalTrafficPolicy":"Local"}}'"#,
    ));
    wait_until(secs(30), || {
        let seen = out(&curl(&node1, "/clientip", "3"));
        if seen.starts_with(&format!("{outside}:")) {
            Ok(())
        } else {
            Err(format!("externalTrafficPolicy Local: node1 saw {seen:?}"))
        }
    });
    let o = curl(&node2, "/hostname", "2");
    assert!(
        !o.status.success(),
        "{mode}: node2 has no local endpoint but answered {}",
        out(&o)
    );

    // sessionAffinity ClientIP: one client, one pod
    let ip = cluster_ip(lab, "sticky");
    wget_until(lab, "client1", &format!("http://{ip}/hostname"));
    let seen = answers(lab, "client1", &format!("http://{ip}/hostname"));
    assert_eq!(
        seen.len(),
        1,
        "{mode}: sessionAffinity ClientIP spread requests over {seen:?}"
    );

    // hairpin: a pod reaches itself through its own Service
    let ip = cluster_ip(lab, "self");
    let got = wait_until(secs(30), || {
        let o = lab.kinet(&[
            "kubectl",
            "exec",
            "self",
            "-c",
            "shell",
            "--",
            "wget",
            "-qO-",
            &format!("http://{ip}/hostname"),
        ]);
        if o.status.success() {
            Ok(out(&o))
        } else {
            Err(format!("hairpin to {ip}: {}", out_err(&o)))
        }
    });
    assert_eq!(got.trim(), "self", "{mode}: hairpin");
}

/// `timeout 3 wget -qO- URL` from a pod, once.
fn wget_once(lab: &Lab, pod: &str, url: &str) -> std::process::Output {
    lab.exec("default", pod, &["timeout", "3", "wget", "-qO-", url])
}

/// `echo hostname | nc -u -p 40000 IP 8081` from a pod: the same source port
/// every time, so a stale conntrack entry would keep it on a gone endpoint.
fn udp_hostname(lab: &Lab, pod: &str, ip: &str) -> String {
    let o = lab.exec(
        "default",
        pod,
        &[
            "sh",
            "-c",
            &format!("echo hostname | nc -u -w 1 -p 40000 {ip} 8081"),
        ],
    );
    out(&o).trim().to_string()
}

/// A pod that serves `/hostname` with busybox httpd and ignores SIGTERM, so a
/// deletion with a grace period leaves it running (and Ready) while terminating.
fn slow_pod(name: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels:
    app: term
spec:
  terminationGracePeriodSeconds: 120
  containers:
  - name: httpd
    image: busybox:1.36
    command: ["sh", "-c", "trap '' TERM; mkdir -p /tmp/www; hostname > /tmp/www/hostname; httpd -p 8080 -h /tmp/www; while true; do sleep 1; done"]
    readinessProbe:
      httpGet:
        path: /hostname
        port: 8080
      periodSeconds: 1
"#
    )
}

#[test]
fn internal_policy_terminating_udp_conntrack_and_kube_proxy_operations() {
    let lab = Lab::up(2);
    // a Service created before its pods
    lab.apply(
        r#"
apiVersion: v1
kind: Service
metadata:
  name: early
spec:
  selector:
    app: early
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: local
spec:
  selector:
    app: local
  internalTrafficPolicy: Local
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: term
spec:
  selector:
    app: term
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: echo
spec:
  selector:
    app: echo
  ports:
  - port: 8081
    protocol: UDP
    targetPort: 8081
"#,
    );
    lab.apply(&busybox_pod("client1", "node1"));
    lab.apply(&busybox_pod("client2", "node2"));
    lab.wait_ready("default", "client1");
    lab.wait_ready("default", "client2");
    let early = cluster_ip(&lab, "early");
    wait_refused(&lab, "client1", &format!("http://{early}/hostname"), &early);
    lab.apply(&backend("early", 2, None));
    lab.apply(&backend("local", 1, Some("node1")));
    lab.apply(&backend("term", 1, None));
    lab.apply(&backend("echo", 1, Some("node2")));
    wait_endpoints(&lab, "early", 2);
    let got = wget_until(&lab, "client2", &format!("http://{early}/hostname"));
    assert!(got.starts_with("early-"), "early answered {got:?}");

    check_local_terminating_udp(&lab, "iptables");

    // kube-proxy's own view: its logs, its DaemonSet, its rules on the node
    let logs = lab.k(&args("-n kube-system logs ds/kube-proxy"));
    assert_contains(&logs, "Successfully retrieved node IP(s)");
    assert_contains(&logs, "\"SyncProxyRules complete\"");
    let first_line = logs.lines().next().unwrap_or_default();
    let b = first_line.as_bytes();
    assert!(
        b.len() > 22
            && b[0] == b'I'
            && b[1..5].iter().all(u8::is_ascii_digit)
            && b[5] == b' '
            && b[8] == b':'
            && b[14] == b'.',
        "not a klog line: {first_line:?}"
    );
    let wide = lab.k(&args("get ds kube-proxy -n kube-system -o wide"));
    let row = wide.lines().nth(1).unwrap_or_default();
    for cell in [
        "kube-proxy",
        "kubernetes.io/os=linux",
        "registry.k8s.io/kube-proxy",
        "k8s-app=kube-proxy",
    ] {
        assert_contains(row, cell);
    }
    assert!(
        row.split_whitespace().nth(1) == Some("2") && row.split_whitespace().nth(3) == Some("2"),
        "DESIRED and READY should be 2: {wide}"
    );
    let filter = assert_ok(&ssh(&lab, "node1", &["sudo", "iptables", "-S"]));
    let kube: Vec<&str> = filter.lines().filter(|l| l.contains("KUBE-")).collect();
    assert!(
        !kube.is_empty(),
        "no KUBE- rules in the filter table:\n{filter}"
    );
    let nat = assert_ok(&ssh(
        &lab,
        "node1",
        &["sudo", "iptables", "-t", "nat", "-L", "-n"],
    ));
    let svc_lines: Vec<&str> = nat.lines().filter(|l| l.contains("KUBE-SVC")).collect();
    assert!(
        svc_lines.iter().any(|l| l.contains(&early)),
        "no KUBE-SVC line for {early}:\n{nat}"
    );

    // the same behaviours in nftables mode
    switch_mode(&lab, "iptables", "nftables");
    wait_until(secs(30), || {
        let nft = out(&ssh(
            &lab,
            "node1",
            &["nft", "list", "table", "ip", "kube-proxy"],
        ));
        if nft.contains(&early) {
            Ok(())
        } else {
            Err(format!("nftables mode: no {early} in {nft}"))
        }
    });
    check_local_terminating_udp(&lab, "nftables");

    // mode ipvs: this kernel has no ip_vs, the pods crash-loop and say why
    set_mode(&lab, "nftables", "ipvs");
    wait_until(secs(90), || {
        let logs =
            out_err(&lab.kubectl(&args("-n kube-system logs -l k8s-app=kube-proxy --tail=20")));
        let prev = out_err(&lab.kubectl(&args(
            "-n kube-system logs -l k8s-app=kube-proxy --previous --tail=20",
        )));
        let pods = lab.k(&args("get pods -n kube-system -l k8s-app=kube-proxy"));
        let said = format!("{logs}{prev}").contains("the kernel has no ip_vs support");
        if said && (pods.contains("CrashLoopBackOff") || pods.contains("Error")) {
            Ok(())
        } else {
            Err(format!("pods:\n{pods}\nlogs:\n{logs}\nprevious:\n{prev}"))
        }
    });
    // and back to iptables: it recovers
    set_mode(&lab, "ipvs", "iptables");
    lab.k(&args(
        "rollout status daemonset/kube-proxy -n kube-system --timeout=120s",
    ));
    wget_until(&lab, "client2", &format!("http://{early}/hostname"));
    wait_until(secs(30), || {
        let nft = ssh(&lab, "node1", &["nft", "list", "table", "ip", "kube-proxy"]);
        if nft.status.success() {
            Err(format!("nftables mode's table left behind: {}", out(&nft)))
        } else {
            Ok(())
        }
    });

    // deleting a Service removes its rules
    lab.k(&args("delete svc early"));
    wait_until(secs(30), || {
        let save = out(&ssh(&lab, "node1", &["iptables-save", "-t", "nat"]));
        if save.contains(&early) || save.contains("default/early") {
            Err(format!("rules of the deleted Service remain:\n{save}"))
        } else {
            Ok(())
        }
    });
}

/// internalTrafficPolicy Local, a terminating endpoint and a UDP endpoint that
/// goes away, in the current `mode`.
fn check_local_terminating_udp(lab: &Lab, mode: &str) {
    let slow = format!("slow-{mode}");
    // internalTrafficPolicy Local: only a client on node1 (where the endpoint is) gets an answer
    wait_endpoints(lab, "local", 1);
    let local = cluster_ip(lab, "local");
    let got = wget_until(lab, "client1", &format!("http://{local}/hostname"));
    assert!(got.starts_with("local-"), "local answered {got:?}");
    for _ in 0..3 {
        let o = wget_once(lab, "client2", &format!("http://{local}/hostname"));
        assert!(
            !o.status.success(),
            "{mode}: internalTrafficPolicy Local: client2 on node2 has no local endpoint but got {}",
            out(&o)
        );
    }

    // terminating endpoints: out of the rotation at once, serving while they terminate
    wait_endpoints(lab, "term", 1);
    lab.apply(&slow_pod(&slow));
    lab.wait_ready("default", &slow);
    let slow_ip = lab.pod_ip("default", &slow);
    let term = cluster_ip(lab, "term");
    wait_until(secs(30), || {
        let seen = answers(lab, "client1", &format!("http://{term}/hostname"));
        if seen.contains(&slow) {
            Ok(())
        } else {
            Err(format!("slow never answered through {term}: {seen:?}"))
        }
    });
    lab.k(&args(&format!(
        "delete pod {slow} --grace-period=120 --wait=false"
    )));
    wait_until(secs(20), || {
        let slices = lab.k(&args(
            "get endpointslices -l kubernetes.io/service-name=term -o json",
        ));
        let slices: serde_json::Value = serde_json::from_str(&slices).unwrap_or_default();
        let v = slices["items"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|s| s["endpoints"].as_array().into_iter().flatten())
            .find(|e| e["addresses"][0] == slow_ip.as_str())
            .map(|e| e["conditions"].clone())
            .unwrap_or_default();
        let conds = v.to_string();
        if v == serde_json::json!({"ready": false, "serving": true, "terminating": true}) {
            Ok(())
        } else {
            Err(format!("slow's conditions in the slice: {conds:?}"))
        }
    });
    let seen = answers(lab, "client1", &format!("http://{term}/hostname"));
    assert!(
        seen.iter().all(|h| h.starts_with("term-")),
        "{mode}: a terminating endpoint stayed in the rotation: {seen:?}"
    );
    let direct = lab.exec(
        "default",
        "client1",
        &["wget", "-qO-", &format!("http://{slow_ip}:8080/hostname")],
    );
    assert_eq!(assert_ok(&direct).trim(), slow);
    lab.k(&args(&format!(
        "delete pod {slow} --grace-period=0 --force --wait=false"
    )));

    // UDP: the stale conntrack entry of a gone endpoint is flushed
    wait_endpoints(lab, "echo", 1);
    let echo = cluster_ip(lab, "echo");
    let first = wait_until(secs(30), || {
        let got = udp_hostname(lab, "client1", &echo);
        if got.starts_with("echo-") {
            Ok(got)
        } else {
            Err(format!("udp {echo}:8081 answered {got:?}"))
        }
    });
    lab.k(&args(&format!("delete pod {first} --grace-period=1")));
    let second = wait_until(secs(60), || {
        let got = udp_hostname(lab, "client1", &echo);
        if got.starts_with("echo-") && got != first {
            Ok(got)
        } else {
            Err(format!(
                "{mode}: udp {echo}:8081 from the same source port answered {got:?} (first {first})"
            ))
        }
    });
    assert_ne!(second, first);
}
