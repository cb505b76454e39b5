//! 000 "Test de connectivité interne" (../shared/seeds/000_75941e190b5ea137.txt):
//! "Les outils essentiels", Tests 1 to 4, 15 and 23, and "Tester les Services".

use super::*;

#[test]
fn connectivity_chapter_commands() {
    let c = Course { lab: Lab::up(2) };
    c.lab.apply(BACKEND);

    // Les outils essentiels: the three debug pods
    c.ok("run busybox --image=busybox --restart=Never -- sleep 3600");
    c.ok("run netshoot --image=nicolaka/netshoot --restart=Never -- sleep 3600");
    c.ok("run alpine --image=alpine:latest --restart=Never -- sleep 3600");
    for p in ["backend", "busybox", "netshoot", "alpine"] {
        c.lab.wait_ready("default", p);
    }
    let pods = c.ok("get pods");
    for p in ["backend", "busybox", "netshoot", "alpine"] {
        assert!(
            pods.lines()
                .any(|l| l.starts_with(p) && l.contains("1/1") && l.contains("Running")),
            "{pods}"
        );
    }
    assert_contains(
        c.ok("get svc"),
        "kubernetes   ClusterIP   10.152.183.1   <none>        443/TCP",
    );
    assert_contains(c.ok("get endpoints"), "192.168.1.10:16443");
    let d = c.ok("describe pod backend");
    assert_contains(&d, "Status:           Running");
    assert_contains(&d, "Started container backend");
    assert_eq!(c.ok("exec busybox -- hostname"), "busybox\n");
    assert_contains(
        c.ok("exec alpine -- apk add --no-cache curl bind-tools"),
        "Installing bind-tools",
    );
    // what apk "installed" runs (dig -v prints its version on stderr)
    let o = c.k("exec alpine -- dig -v");
    assert_ok(&o);
    assert_contains(err(&o), "DiG ");

    // Ephemeral Containers: `kubectl debug POD -it --image=busybox --target=CONTAINER`,
    // with a terminal (`script`), typing into the debug shell
    let mut debug = Command::new("script")
        .args([
            "-qec",
            &format!(
                "{} --name {} kubectl debug backend -it --image=busybox --target=backend",
                kinet_bin(),
                c.lab.name
            ),
            "/dev/null",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        debug.stdin.as_mut().unwrap(),
        b"echo debugging-in-$(hostname); exit\n",
    )
    .unwrap();
    let o = debug.wait_with_output().unwrap();
    assert_contains(out(&o), "debugging-in-backend");
    assert_contains(out(&o), "Defaulting debug container name to debugger-");

    // Test 1: the pods, wide, and kube-system
    let wide = c.ok("get pods -o wide");
    let header = wide.lines().next().unwrap_or_default();
    for col in ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"] {
        assert_contains(header, col);
    }
    let target_ip = c.ok("get pod backend -o jsonpath={.status.podIP}");
    assert!(target_ip.starts_with("10.1."), "{target_ip}");
    let row = wide
        .lines()
        .find(|l| l.starts_with("backend"))
        .unwrap_or_else(|| panic!("no backend in:\n{wide}"));
    assert_contains(row, &target_ip);
    assert_contains(row, "node");
    c.ok("get pods -n kube-system");

    // Test 3: ping between pods
    let ping = c.ok(&format!("exec busybox -- ping -c 3 {target_ip}"));
    assert_contains(
        &ping,
        format!("PING {target_ip} ({target_ip}): 56 data bytes"),
    );
    assert_contains(
        &ping,
        "3 packets transmitted, 3 packets received, 0% packet loss",
    );

    // Test 4: a port, with nc, telnet, wget and curl
    let o = c.k(&format!("exec busybox -- nc -zv {target_ip} 8080"));
    assert_ok(&o);
    assert_contains(err(&o), format!("{target_ip} ({target_ip}:8080) open"));
    let o = c.k(&format!("exec busybox -- nc -zv {target_ip} 8081"));
    assert_contains(
        assert_fails(&o),
        format!("{target_ip} ({target_ip}:8081): Connection refused"),
    );
    let o = c.k(&format!("exec netshoot -- telnet {target_ip} 8080"));
    assert_contains(out(&o), format!("Trying {target_ip}..."));
    assert_contains(out(&o), format!("Connected to {target_ip}."));
    let o = c.k(&format!(
        "exec busybox -- wget -O- http://{target_ip}:8080/hostname"
    ));
    assert_eq!(out(&o), "backend", "{}", err(&o));
    let o = c.k(&format!(
        "exec netshoot -- curl -v http://{target_ip}:8080/hostname"
    ));
    assert_ok(&o);
    assert_contains(err(&o), "< HTTP/1.1 200 OK");

    // Test 15: logs, --tail, -c, --previous, -f. The app crashes once (an emptyDir
    // remembers), so its second run is the current one while the test reads logs.
    c.lab.apply(CHATTY);
    c.lab.wait_pod(
        "default",
        "chatty",
        "{.status.containerStatuses[?(@.name==\"app\")].restartCount}",
        "1",
    );
    let o = c.k("logs chatty");
    assert_contains(err(&o), "Defaulted container \"app\" out of: app, sidecar");
    assert_contains(out(&o), "line 100\n");
    let tail = c.ok("logs --tail=50 chatty -c app");
    assert_eq!(tail.lines().count(), 50, "{tail}");
    assert!(tail.ends_with("Listening on port 8080\n"), "{tail}");
    assert_eq!(c.ok("logs chatty -c sidecar"), "sidecar up\n");
    let prev = c.ok("logs chatty -c app --previous");
    assert!(prev.starts_with("line 1\n"), "{prev}");
    let mut follow = c
        .spawn("logs -f chatty -c sidecar")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(follow.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first, "sidecar up\n");
    let _ = follow.kill();
    let _ = follow.wait();

    // Test 23: port-forward, then curl on 127.0.0.1
    let mut pf = c
        .spawn("port-forward pod/backend :8080")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    // keep reading kubectl's stdout open: it writes a second line for [::1]
    let mut pf_out = BufReader::new(pf.stdout.take().unwrap());
    pf_out.read_line(&mut line).unwrap();
    // "Forwarding from 127.0.0.1:PORT -> 8080"
    let port = line
        .strip_prefix("Forwarding from 127.0.0.1:")
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("{line}"))
        .to_string();
    assert!(line.trim_end().ends_with("-> 8080"), "{line}");
    let curl = run(&args(&format!(
        "curl -sS --max-time 5 http://localhost:{port}/hostname"
    )));
    let _ = pf.kill();
    let _ = pf.wait();
    drop(pf_out);
    assert_eq!(out(&curl), "backend", "{}", err(&curl));

    // Test 24: kubectl proxy, then a pod through the API server's proxy
    let mut proxy = c
        .spawn("proxy --port=0")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut proxy_out = BufReader::new(proxy.stdout.take().unwrap());
    let mut line = String::new();
    proxy_out.read_line(&mut line).unwrap();
    // "Starting to serve on 127.0.0.1:PORT"
    let addr = line
        .trim()
        .strip_prefix("Starting to serve on ")
        .unwrap_or_else(|| panic!("{line}"))
        .to_string();
    let get = |path: &str| run(&args(&format!("curl -sS --max-time 5 http://{addr}{path}")));
    let o = get("/api/v1/namespaces/default/pods/backend:8080/proxy/hostname");
    let o2 = get("/api/v1/namespaces/default/pods/backend:8081/proxy/");
    let _ = proxy.kill();
    let _ = proxy.wait();
    drop(proxy_out);
    assert_eq!(out(&o), "backend", "{}", err(&o));
    assert_contains(
        out(&o2),
        format!(
            "error trying to reach service: dial tcp {target_ip}:8081: connect: connection refused"
        ),
    );

    // the Services chapter's nginx Deployment, with a readiness probe: 3/3 Ready
    c.lab.apply(NGINX);
    let t0 = Instant::now();
    c.ok("rollout status deployment/nginx --timeout=60s");
    assert!(t0.elapsed() < secs(60));
    let deploy = c.ok("get deployment nginx");
    assert!(
        deploy
            .lines()
            .any(|l| l.starts_with("nginx") && l.contains("3/3     3            3")),
        "{deploy}"
    );
}

/// 000's backend for "Tester les Services": three pods serving their hostname
/// on 8080 (http) and 9090 (metrics), and the Service of Test 9's describe.
pub(super) const BACKEND_000: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: backend
spec:
  replicas: 3
  selector:
    matchLabels:
      app: backend
  template:
    metadata:
      labels:
        app: backend
    spec:
      containers:
      - name: backend
        image: registry.k8s.io/e2e-test-images/agnhost:2.53
        args: ["netexec", "--http-port=8080"]
        ports:
        - containerPort: 8080
        readinessProbe:
          httpGet:
            path: /healthz
            port: 8080
          periodSeconds: 1
      - name: metrics
        image: registry.k8s.io/e2e-test-images/agnhost:2.53
        args: ["serve-hostname", "--http=true", "--port=9090"]
        ports:
        - containerPort: 9090
---
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
    targetPort: 8080
  - name: metrics
    port: 9090
    targetPort: 9090
"#;

/// 000 "Tester les Services" (../shared/seeds/000_75941e190b5ea137.txt): Tests 9,
/// 10, 11, 12, 14 and 19, then the Services steps of "Méthodologie de debugging :
/// checklist complète" (Étapes 1–3, 5–8 and 10), as written, with the Service's
/// ClusterIP where the course writes its name. Left out: the names
/// (`http://backend:80`, `backend.default.svc.cluster.local`, Étape 4's
/// `nslookup`) need cluster DNS (issue 9); Étape 9 (`get networkpolicies`,
/// `describe networkpolicy`) is NetworkPolicy's (issue 10); Test 14's `ufw`
/// lines concern a real machine's firewall.
#[test]
fn services_tests_9_to_19_and_the_checklist() {
    let c = Course { lab: Lab::up(2) };
    let (_dir, f) = c.manifest("backend.yaml", BACKEND_000);
    c.ok(&format!("create -f {f}"));
    c.ok("run busybox --image=busybox --restart=Never -- sleep 3600");
    c.ok("rollout status deploy/backend --timeout=60s");
    c.lab.wait_ready("default", "busybox");
    let ip = c.ok("get svc backend -o jsonpath={.spec.clusterIP}");
    let pods: BTreeSet<String> = c
        .ok("get pods -l app=backend -o jsonpath={.items[*].status.podIP}")
        .split_whitespace()
        .map(String::from)
        .collect();
    assert_eq!(pods.len(), 3, "{pods:?}");

    // Test 9: the Service exists, and describe reads as the course's example
    let svcs = c.ok("get svc");
    assert_contains(&svcs, "backend");
    assert_contains(&svcs, "80/TCP,9090/TCP");
    let d = wait_until(secs(30), || {
        let d = c.ok("describe svc backend");
        if pods.iter().all(|p| d.contains(&format!("{p}:8080"))) {
            Ok(d)
        } else {
            Err(format!("describe lists not every pod yet:\n{d}"))
        }
    });
    let flat = d.split_whitespace().collect::<Vec<_>>().join(" ");
    for line in [
        "Name: backend".to_string(),
        "Namespace: default".to_string(),
        "Labels: app=backend".to_string(),
        "Annotations: <none>".to_string(),
        "Selector: app=backend".to_string(),
        "Type: ClusterIP".to_string(),
        "IP Family Policy: SingleStack".to_string(),
        "IP Families: IPv4".to_string(),
        format!("IP: {ip}"),
        format!("IPs: {ip}"),
        "Port: http 80/TCP".to_string(),
        "TargetPort: 8080/TCP".to_string(),
        "Session Affinity: None".to_string(),
        "Events: <none>".to_string(),
    ] {
        assert_contains(&flat, &line);
    }
    let eps = c.ok("get endpoints backend");
    for p in &pods {
        assert_contains(&eps, p);
    }
    assert_eq!(
        c.ok("get pods -l app=backend --no-headers").lines().count(),
        3
    );

    // Test 10: from the busybox pod, by the Service's IP
    let got = c.until(&format!("exec busybox -- wget -O- http://{ip}:80"));
    assert_contains(&got, format!("Connecting to {ip}:80 ({ip}:80)"));
    assert_contains(&got, "written to stdout");
    assert_contains(&got, "backend-");

    // Test 11: ten requests see several pods
    // (kube-proxy may still be programming the last endpoints: a batch that
    // sees one pod is tried again, as a user would look again)
    let seen = wait_until(secs(30), || {
        let seen: BTreeSet<String> = (0..10)
            .map(|_| {
                c.ok(&format!(
                    "exec busybox -- wget -qO- http://{ip}:80/hostname"
                ))
                .trim()
                .to_string()
            })
            .collect();
        if seen.len() >= 2 {
            Ok(seen)
        } else {
            Err(format!("ten requests reached {seen:?}"))
        }
    });
    assert!(
        seen.iter().all(|h| h.starts_with("backend-")),
        "ten requests reached {seen:?}"
    );

    // Test 12: both ports
    assert_contains(
        c.ok(&format!("exec busybox -- wget -O- http://{ip}:80")),
        "backend-",
    );
    assert_contains(
        c.ok(&format!(
            "exec busybox -- wget -O- http://{ip}:9090/metrics"
        )),
        "backend-",
    );

    // Test 19: the node's NAT table sends the ClusterIP to the pods
    let nat = c.ssh("node1", "sudo iptables -t nat -L -n -v");
    let grep: Vec<&str> = nat.lines().filter(|l| l.contains(&ip)).collect();
    assert!(
        grep.iter()
            .any(|l| l.contains("KUBE-SVC-") && l.contains("tcp dpt:80")),
        "grep {ip}: {grep:?}"
    );
    assert_contains(&nat, "DNAT");
    for p in &pods {
        assert_contains(&nat, format!("to:{p}:8080"));
    }

    // Test 14: exposed as NodePort 30080, from "your machine" (the outside host)
    c.ok(r#"patch svc backend --type=json -p '[{"op":"replace","path":"/spec/type","value":"NodePort"},{"op":"add","path":"/spec/ports/0/nodePort","value":30080}]'"#);
    let row = c.ok("get svc backend");
    assert_contains(&row, "NodePort");
    assert_contains(&row, "80:30080/TCP");
    let node_ip = c.ok(
        r#"get nodes -o jsonpath='{.items[0].status.addresses[?(@.type=="InternalIP")].address}'"#,
    );
    assert_eq!(node_ip, kinet_model::lab::node_ip(1).to_string());
    let page = c.ssh_until(
        "outside",
        &format!("curl -s --max-time 3 http://{node_ip}:30080"),
    );
    assert_contains(&page, "backend-");

    // the checklist: Étapes 1–3 (the Service, its Endpoints, its pods)
    c.ok("get svc backend");
    assert_contains(c.ok("get endpoints backend"), ":8080");
    let running = c.ok("get pods -l app=backend");
    assert_eq!(
        running
            .lines()
            .filter(|l| l.contains("2/2") && l.contains("Running"))
            .count(),
        3,
        "{running}"
    );
    // Étape 5: through the Service, from a `test` pod
    c.ok("run test --image=busybox --restart=Never -- sleep 3600");
    c.lab.wait_ready("default", "test");
    assert_contains(
        c.until(&format!("exec test -- wget -O- http://{ip}:80")),
        "backend-",
    );
    // Étape 6: straight to a pod
    let name = c.ok("get pods -l app=backend -o jsonpath={.items[0].metadata.name}");
    let pod_ip = c.ok(&format!("get pod {name} -o jsonpath={{.status.podIP}}"));
    assert_contains(
        c.ok(&format!("exec test -- wget -O- http://{pod_ip}:8080")),
        name.as_str(),
    );
    // Étape 7: its logs; Étape 8: its conditions (`| grep -A 5 Conditions`)
    assert_contains(
        c.ok(&format!("logs {name}")),
        "Started HTTP server on port 8080",
    );
    let d = c.ok(&format!("describe pod {name}"));
    let at = d.find("Conditions").unwrap_or_else(|| panic!("{d}"));
    let conditions: Vec<&str> = d[at..].lines().take(6).collect();
    assert!(
        conditions
            .iter()
            .any(|l| l.trim_start().starts_with("Ready") && l.trim_end().ends_with("True")),
        "{conditions:?}"
    );
    // Étape 10: the recent events
    let events = c.ok("get events --sort-by=.lastTimestamp");
    assert!(events.lines().count() > 1, "{events}");
}
