//! The course's commands, as written in "7.5 Test de connectivité interne"
//! (../shared/seeds/000_75941e190b5ea137.txt), with `kinet kubectl` in place of
//! `microk8s kubectl`: "Les outils essentiels", Tests 1 to 4, 15 and 23, and the
//! nginx Deployment of the Services chapter.

use crate::common::*;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

struct Course {
    lab: Lab,
}

impl Course {
    /// `kinet kubectl LINE`, the line split as a shell would.
    fn k(&self, line: &str) -> Output {
        let mut argv = vec!["kubectl".to_string()];
        argv.extend(args(line));
        self.lab.kinet(&argv)
    }

    /// `kinet kubectl LINE`, which must succeed: its stdout.
    #[track_caller]
    fn ok(&self, line: &str) -> String {
        let o = self.k(line);
        assert!(o.status.success(), "kinet kubectl {line}: {}", out_err(&o));
        out(&o)
    }

    /// A `kinet --name LAB kubectl LINE` to spawn.
    fn spawn(&self, line: &str) -> Command {
        let mut c = Command::new(kinet_bin());
        c.args(["--name", &self.lab.name, "kubectl"])
            .args(args(line));
        c
    }
}

const BACKEND: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: backend
  labels:
    app: backend
spec:
  containers:
  - name: backend
    image: registry.k8s.io/e2e-test-images/agnhost:2.53
    args: ["netexec", "--http-port=8080"]
    ports:
    - containerPort: 8080
"#;

const CHATTY: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: chatty
spec:
  containers:
  - name: app
    image: busybox
    command: ["sh", "-c", "for i in $(seq 1 100); do echo line $i; done; echo Listening on port 8080; test -e /state/crashed && exec sleep 3600; touch /state/crashed; sleep 1; exit 1"]
    volumeMounts:
    - {name: state, mountPath: /state}
  - name: sidecar
    image: busybox
    command: ["sh", "-c", "echo sidecar up; sleep 3600"]
  volumes:
  - {name: state, emptyDir: {}}
"#;

const NGINX: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx
spec:
  replicas: 3
  selector:
    matchLabels:
      app: nginx
  template:
    metadata:
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: nginx:alpine
        ports:
        - containerPort: 80
        readinessProbe:
          httpGet:
            path: /
            port: 80
          periodSeconds: 1
"#;

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

/// "Kubernetes réseau" (../shared/seeds/003_75932b0d12027b59.txt) §1–3, §8.1,
/// §8.3 and §9.1 and the mini-lab's steps 1 and 4, as written (the DNS steps
/// are the DNS issue's), with `kinet kubectl` and `kinet ssh outside`.
#[test]
fn services_chapter_mini_lab() {
    let c = Course { lab: Lab::up(2) };
    // Étape 1 — Déployer l'app et le Service
    c.ok("create ns demo");
    c.ok("config set-context --current --namespace=demo");
    c.ok("create deploy web --image=nginx:1.27 --replicas=2");
    c.ok("expose deploy web --name=web-svc --port=80 --target-port=80");
    c.ok("rollout status deploy/web --timeout=60s");
    let wide = c.ok("get svc web-svc -o wide");
    let ip = c.ok("get svc web-svc -o jsonpath={.spec.clusterIP}");
    assert!(ip.starts_with("10.152.183."), "ClusterIP {ip:?}");
    let row = wide.lines().nth(1).unwrap_or_default().to_string();
    for cell in [
        "web-svc",
        "ClusterIP",
        ip.as_str(),
        "<none>",
        "80/TCP",
        "app=web",
    ] {
        assert_contains(&row, cell);
    }
    let pods: BTreeSet<String> = c
        .ok("get pods -l app=web -o jsonpath={.items[*].status.podIP}")
        .split_whitespace()
        .map(String::from)
        .collect();
    assert_eq!(pods.len(), 2);
    // §3: the Endpoints and EndpointSlices list the two ready pods
    let eps = wait_until(secs(30), || {
        let got: BTreeSet<String> = c
            .ok(r#"get endpoints web-svc -n demo -o jsonpath='{.subsets[*].addresses[*].ip}{"\n"}'"#)
            .split_whitespace()
            .map(String::from)
            .collect();
        if got == pods {
            Ok(got)
        } else {
            Err(format!("endpoints {got:?}, pods {pods:?}"))
        }
    });
    let yaml = c.ok("get endpoints web-svc -o yaml");
    assert_contains(&yaml, "kind: Endpoints");
    assert_contains(&yaml, "targetRef:");
    let slices = c.ok(
        r#"get endpointslices -n demo -l kubernetes.io/service-name=web-svc -o jsonpath='{range .items[*].endpoints[*]}{.addresses[*]}{"\n"}{end}'"#,
    );
    let from_slices: BTreeSet<String> = slices.split_whitespace().map(String::from).collect();
    assert_eq!(from_slices, eps);
    let slice_yaml =
        c.ok("get endpointslices -n demo -l kubernetes.io/service-name=web-svc -o yaml");
    assert_contains(&slice_yaml, "ready: true");
    assert_contains(&slice_yaml, "addressType: IPv4");
    // describe as in 000 Test 9 (kubectl's column width varies by version)
    let d = c.ok("describe svc web-svc -n demo");
    let flat = d.split_whitespace().collect::<Vec<_>>().join(" ");
    for line in [
        "Name: web-svc".to_string(),
        "Selector: app=web".to_string(),
        "Type: ClusterIP".to_string(),
        "IP Family Policy: SingleStack".to_string(),
        "IP Families: IPv4".to_string(),
        format!("IP: {ip}"),
        format!("IPs: {ip}"),
        "TargetPort: 80/TCP".to_string(),
        "Session Affinity: None".to_string(),
    ] {
        assert_contains(&flat, &line);
    }
    for p in &pods {
        assert_contains(&d, format!("{p}:80"));
    }
    // a pod reaches the ClusterIP
    c.lab.apply(
        &busybox_pod("client", "node2").replace("name: client", "name: client\n  namespace: demo"),
    );
    c.lab.wait_ready("demo", "client");
    let page = wait_until(secs(30), || {
        let o = c.lab.exec(
            "demo",
            "client",
            &["wget", "-qO-", &format!("http://{ip}/")],
        );
        if o.status.success() {
            Ok(out(&o))
        } else {
            Err(out_err(&o))
        }
    });
    assert_contains(&page, "Welcome to nginx!");

    // §8.1: a selector that matches nothing gives an empty Endpoints
    c.ok("create service clusterip lonely --tcp=80:8080");
    let d = c.ok("describe svc lonely -n demo");
    assert_contains(&d, "Endpoints:");
    let lonely = c.ok("get endpoints lonely -o jsonpath={.subsets}");
    assert_eq!(lonely.trim(), "");
    c.ok("get pods -n demo --show-labels");
    c.ok("get events -n demo --sort-by=.lastTimestamp");

    // Étape 4 — NodePort + ExternalTrafficPolicy (and §8.3)
    c.ok(r#"patch svc web-svc -p '{"spec":{"type":"NodePort","externalTrafficPolicy":"Local"}}'"#);
    let node_port = c.ok("get svc web-svc -o jsonpath={.spec.ports[0].nodePort}");
    let np: u16 = node_port
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("nodePort {node_port:?}"));
    assert!((30000..=32767).contains(&np));
    let wide = c.ok("get svc web-svc -o wide");
    assert_contains(&wide, format!("80:{np}/TCP"));
    assert_contains(&wide, "NodePort");
    // a node with a Ready web pod answers, keeping the client's address
    let node = c.ok("get pods -l app=web -o jsonpath={.items[0].status.hostIP}");
    let got = wait_until(secs(30), || {
        let o = c.lab.kinet(&[
            "ssh",
            "outside",
            "--",
            "curl",
            "-sI",
            "--max-time",
            "3",
            &format!("http://{node}:{np}/"),
        ]);
        if o.status.success() {
            Ok(out(&o))
        } else {
            Err(out_err(&o))
        }
    });
    assert_contains(&got, "HTTP/1.1 200 OK");
    c.ok("config set-context --current --namespace=default");
}

/// "Résolution des problèmes réseau" (../shared/seeds/001_7ab8835c2b6cf221.txt):
/// Problème 1 (Calico restarted, the network keeps working), Problème 3
/// (a Service with no endpoints, then fixed by a label) and Problème 5 (ip
/// forwarding and NAT outgoing on the node), as written; the DNS lines are
/// the DNS issue's.
#[test]
fn troubleshooting_calico_services_and_nat() {
    let c = Course { lab: Lab::up(2) };
    c.lab.apply(&busybox_pod("a", "node1"));
    c.lab.apply(&busybox_pod("b", "node2"));
    c.lab.wait_ready("default", "a");
    c.lab.wait_ready("default", "b");
    let a_ip = c.lab.pod_ip("default", "a");

    // Problème 1: Calico runs, is restarted, and pods still reach each other
    let calico = c.ok("get pods -n kube-system");
    assert!(
        calico
            .lines()
            .filter(|l| l.starts_with("calico-node-") && l.contains("Running"))
            .count()
            == 2,
        "{calico}"
    );
    let before = c.ok("get pods -n kube-system -l k8s-app=calico-node -o name");
    c.ok("delete pods -n kube-system -l k8s-app=calico-node");
    wait_until(secs(60), || {
        let now = c.ok(r#"get pods -n kube-system -l k8s-app=calico-node -o jsonpath='{range .items[*]}{.metadata.name} {.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}'"#);
        let fresh = now
            .lines()
            .filter(|l| l.ends_with(" True") && !before.contains(l.split(' ').next().unwrap_or("")))
            .count();
        if fresh == 2 {
            Ok(())
        } else {
            Err(format!("calico-node pods: {now}"))
        }
    });
    let o = c
        .lab
        .exec("default", "b", &["ping", "-c", "2", "-W", "2", &a_ip]);
    assert_contains(out(&o), "2 packets received");
    let logs = c.ok("logs -n kube-system -l k8s-app=calico-node");
    assert!(!logs.trim().is_empty(), "calico-node logged nothing");

    // Problème 3: the Service has no endpoints until a pod carries its selector
    c.ok("create deploy api --image=nginx:1.27");
    c.ok("rollout status deploy/api --timeout=60s");
    c.ok("create service clusterip api-svc --tcp=80:80");
    let sel = c.ok("get service api-svc -o jsonpath={.spec.selector}");
    assert_eq!(sel, r#"{"app":"api-svc"}"#);
    c.ok("get services -o wide");
    c.ok("get endpoints");
    let ip = c.ok("get svc api-svc -o jsonpath={.spec.clusterIP}");
    let refused = c
        .lab
        .exec("default", "a", &["wget", "-qO-", &format!("http://{ip}/")]);
    assert_contains(
        out_err(&refused),
        format!("wget: can't connect to remote host ({ip}): Connection refused"),
    );
    // the course's fix: recreate the Service with `expose`
    c.ok("delete service api-svc");
    c.ok("expose deployment api --name=api-svc --port=80 --target-port=80");
    let ip = c.ok("get svc api-svc -o jsonpath={.spec.clusterIP}");
    let page = wait_until(secs(30), || {
        let o = c
            .lab
            .exec("default", "a", &["wget", "-qO-", &format!("http://{ip}/")]);
        if o.status.success() {
            Ok(out(&o))
        } else {
            Err(out_err(&o))
        }
    });
    assert_contains(&page, "Welcome to nginx!");
    let o = c.lab.kinet(&[
        "ssh", "node1", "--", "sudo", "iptables", "-t", "nat", "-L", "-n",
    ]);
    assert_contains(assert_ok(&o), &ip);

    // Problème 5: forwarding on, and pod traffic leaving the pod CIDR masqueraded
    let o = c
        .lab
        .kinet(&["ssh", "node1", "--", "cat", "/proc/sys/net/ipv4/ip_forward"]);
    assert_eq!(assert_ok(&o).trim(), "1");
    let o = c.lab.kinet(&[
        "ssh",
        "node1",
        "--",
        "sudo",
        "iptables",
        "-t",
        "nat",
        "-L",
        "POSTROUTING",
        "-n",
        "-v",
    ]);
    let post = assert_ok(&o);
    assert_contains(&post, "cali-POSTROUTING");
    let save = assert_ok(
        &c.lab
            .kinet(&["ssh", "node1", "--", "iptables-save", "-t", "nat"]),
    );
    assert_contains(&save, "-j MASQUERADE");
    assert_contains(&save, format!("-s {}", kinet_model::lab::POD_CIDR));
    // the outside workstation sees pod a's traffic from node1's address
    let mut listen = std::process::Command::new(kinet_bin());
    listen.args([
        "--name",
        &c.lab.name,
        "ssh",
        "outside",
        "--",
        "timeout",
        "20",
        "socat",
        "-d",
        "-d",
        "TCP-LISTEN:9000",
        "STDOUT",
    ]);
    let listener = listen
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let outside = kinet_model::lab::OUTSIDE_IP.to_string();
    wait_until(secs(15), || {
        let o = c.lab.exec(
            "default",
            "a",
            &["sh", "-c", &format!("echo hi | nc -w 1 {outside} 9000")],
        );
        if o.status.success() {
            Ok(())
        } else {
            Err(out_err(&o))
        }
    });
    let got = listener.wait_with_output().unwrap();
    assert_contains(
        out_err(&got),
        format!(
            "accepting connection from AF=2 {}:",
            kinet_model::lab::node_ip(1)
        ),
    );
}

impl Course {
    /// Writes `yaml` to a file named `name` in a fresh directory, as the course
    /// saves its manifests before `kubectl apply -f`; returns the directory and
    /// the file's path.
    fn manifest(&self, name: &str, yaml: &str) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join(name);
        std::fs::write(&f, yaml).unwrap();
        let path = f.to_str().unwrap().to_string();
        (dir, path)
    }

    /// `kinet ssh HOST -- CMD`, which must succeed: its stdout.
    #[track_caller]
    fn ssh(&self, host: &str, cmd: &str) -> String {
        let mut argv = vec!["ssh".to_string(), host.to_string(), "--".to_string()];
        argv.extend(args(cmd));
        assert_ok(&self.lab.kinet(&argv))
    }

    /// `kinet ssh HOST -- CMD` until it succeeds: its stdout.
    #[track_caller]
    fn ssh_until(&self, host: &str, cmd: &str) -> String {
        let mut argv = vec!["ssh".to_string(), host.to_string(), "--".to_string()];
        argv.extend(args(cmd));
        wait_until(secs(30), || {
            let o = self.lab.kinet(&argv);
            if o.status.success() {
                Ok(out(&o))
            } else {
                Err(format!("kinet ssh {host} -- {cmd}: {}", out_err(&o)))
            }
        })
    }

    /// `kinet kubectl LINE` until it succeeds: its stdout and stderr.
    #[track_caller]
    fn until(&self, line: &str) -> String {
        wait_until(secs(30), || {
            let o = self.k(line);
            if o.status.success() {
                Ok(out_err(&o))
            } else {
                Err(format!("kinet kubectl {line}: {}", out_err(&o)))
            }
        })
    }
}

/// 000's backend for "Tester les Services": three pods serving their hostname
/// on 8080 (http) and 9090 (metrics), and the Service of Test 9's describe.
const BACKEND_000: &str = r#"
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
    let seen: BTreeSet<String> = (0..10)
        .map(|_| {
            c.ok(&format!(
                "exec busybox -- wget -qO- http://{ip}:80/hostname"
            ))
            .trim()
            .to_string()
        })
        .collect();
    assert!(
        seen.len() >= 2 && seen.iter().all(|h| h.starts_with("backend-")),
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

/// 002's service-clusterip.yaml, as written.
const SERVICE_CLUSTERIP_002: &str = r#"# service-clusterip.yaml
apiVersion: v1
kind: Service
metadata:
  name: nginx-service
spec:
  type: ClusterIP
  selector:
    app: nginx  # Sélectionne les Pods avec ce label
  ports:
  - port: 80        # Port du Service
    targetPort: 80  # Port du Pod
    protocol: TCP
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx
spec:
  replicas: 3
  selector:
    matchLabels:
      app: nginx
  template:
    metadata:
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: nginx:alpine
        ports:
        - containerPort: 80
"#;

const SERVICE_NODEPORT_002: &str = r#"apiVersion: v1
kind: Service
metadata:
  name: nginx-nodeport
spec:
  type: NodePort
  selector:
    app: nginx
  ports:
  - port: 80
    targetPort: 80
    nodePort: 30080  # Port sur chaque nœud (30000-32767)
    protocol: TCP
"#;

const SERVICE_LOADBALANCER_002: &str = r#"apiVersion: v1
kind: Service
metadata:
  name: nginx-lb
spec:
  type: LoadBalancer
  selector:
    app: nginx
  ports:
  - port: 80
    targetPort: 80
"#;

const SERVICE_EXTERNALNAME_002: &str = r#"apiVersion: v1
kind: Service
metadata:
  name: external-database
spec:
  type: ExternalName
  externalName: mysql.example.com  # DNS externe
"#;

/// The headless Service of 002's full example (`clusterIP: None  # Headless
/// service (pour StatefulSet)`), over the nginx pods.
const SERVICE_HEADLESS_002: &str = r#"apiVersion: v1
kind: Service
metadata:
  name: nginx-headless
spec:
  selector:
    app: nginx
  ports:
  - port: 80
    targetPort: 80
  clusterIP: None  # Headless service (pour StatefulSet)
"#;

/// 002 "Services Kubernetes" (../shared/seeds/002_f84c37f558a8f29f.txt): its
/// ClusterIP, NodePort, LoadBalancer and ExternalName manifests and commands as
/// written, a headless Service, the kube-proxy explanation's `iptables-save |
/// grep nginx-service`, then "Debugging réseau Kubernetes": the tools and
/// "Problème 1 : Pod ne peut pas atteindre un Service", with the Service's IP
/// where the course writes its name. Left out: `wget -O- http://nginx-service`,
/// `nslookup nginx-service` and step 4 (`nslookup <service-name>`) need cluster
/// DNS (issue 9), as does ExternalName's pymysql example; step 6 (NetworkPolicies)
/// is issue 10's; LoadBalancer stays `<pending>` until the MetalLB issue; the
/// diagnostic script's `wget --timeout=5` is left out (busybox 1.35's `-T` crashes).
#[test]
fn services_kubernetes_and_debugging_002() {
    let c = Course { lab: Lab::up(2) };
    // 1. ClusterIP
    let (_d1, f) = c.manifest("service-clusterip.yaml", SERVICE_CLUSTERIP_002);
    c.ok(&format!("apply -f {f}"));
    c.ok("rollout status deploy/nginx --timeout=60s");
    let ip = c.ok("get svc nginx-service -o jsonpath={.spec.clusterIP}");
    let get = c.ok("get svc nginx-service");
    let row = get.lines().nth(1).unwrap_or_default().to_string();
    for cell in [
        "nginx-service",
        "ClusterIP",
        ip.as_str(),
        "<none>",
        "80/TCP",
    ] {
        assert_contains(&row, cell);
    }
    // `kubectl run -it --rm test --image=busybox --restart=Never -- sh`, typing
    // into its shell (with a terminal, `script`), by the Service's IP
    wait_until(secs(30), || {
        let eps = c.ok("get endpoints nginx-service -o jsonpath={.subsets[*].addresses[*].ip}");
        if eps.split_whitespace().count() == 3 {
            Ok(())
        } else {
            Err(format!("endpoints {eps:?}"))
        }
    });
    let mut shell = Command::new("script")
        .args([
            "-qec",
            &format!(
                "{} --name {} kubectl run -it --rm test --image=busybox --restart=Never -- sh",
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
        shell.stdin.as_mut().unwrap(),
        format!("wget -O- http://{ip}; exit\n").as_bytes(),
    )
    .unwrap();
    let o = shell.wait_with_output().unwrap();
    assert_contains(out(&o), "Welcome to nginx!");
    c.lab.wait_none(secs(30), "get pod test --ignore-not-found");

    // "Voir les règles iptables créées": one chain per Service, random probabilities
    let save = c.ssh("node1", "sudo iptables-save");
    let grep: Vec<&str> = save
        .lines()
        .filter(|l| l.contains("nginx-service"))
        .collect();
    let has = |needle: &str| grep.iter().any(|l| l.contains(needle));
    assert!(
        has(&format!("-A KUBE-SERVICES -d {ip}/32 -p tcp")) && has("-j KUBE-SVC-"),
        "{grep:#?}"
    );
    assert!(
        has("-m statistic --mode random --probability 0.33333333349")
            && has("-m statistic --mode random --probability 0.50000000000"),
        "{grep:#?}"
    );
    assert_eq!(
        grep.iter()
            .filter(|l| l.starts_with("-A KUBE-SVC-") && l.contains("-j KUBE-SEP-"))
            .count(),
        3,
        "{grep:#?}"
    );

    // 2. NodePort: any node's port 30080, from outside the cluster
    let (_d2, f) = c.manifest("service-nodeport.yaml", SERVICE_NODEPORT_002);
    c.ok(&format!("apply -f {f}"));
    let get = c.ok("get svc nginx-nodeport");
    assert_contains(&get, "NodePort");
    assert_contains(&get, "80:30080/TCP");
    for n in 1..=2 {
        let page = c.ssh_until(
            "outside",
            &format!(
                "curl -s --max-time 3 http://{}:30080",
                kinet_model::lab::node_ip(n)
            ),
        );
        assert_contains(&page, "Welcome to nginx!");
    }

    // 3. LoadBalancer: no cloud provider here, the address stays pending
    let (_d3, f) = c.manifest("service-loadbalancer.yaml", SERVICE_LOADBALANCER_002);
    c.ok(&format!("apply -f {f}"));
    let get = c.ok("get svc nginx-lb");
    assert_contains(&get, "LoadBalancer");
    assert_contains(&get, "<pending>");

    // 4. ExternalName: an alias, no ClusterIP, no rules
    let (_d4, f) = c.manifest("service-externalname.yaml", SERVICE_EXTERNALNAME_002);
    c.ok(&format!("apply -f {f}"));
    let get = c.ok("get svc external-database");
    assert_contains(&get, "ExternalName");
    assert_contains(&get, "mysql.example.com");
    assert_eq!(
        c.ok("get svc external-database -o jsonpath={.spec.clusterIP}"),
        ""
    );

    // headless: no ClusterIP, the Endpoints list the pods, kube-proxy leaves it alone
    let (_d5, f) = c.manifest("service-headless.yaml", SERVICE_HEADLESS_002);
    c.ok(&format!("apply -f {f}"));
    let get = c.ok("get svc nginx-headless");
    assert_contains(&get, "None");
    wait_until(secs(30), || {
        let eps = c.ok("get endpoints nginx-headless -o jsonpath={.subsets[*].addresses[*].ip}");
        if eps.split_whitespace().count() == 3 {
            Ok(())
        } else {
            Err(format!("headless endpoints {eps:?}"))
        }
    });
    let save = c.ssh("node2", "sudo iptables-save");
    assert_not_contains(&save, "default/nginx-headless");
    assert_not_contains(&save, "default/external-database");

    // Debugging: the tools
    c.ok("run netshoot --image=nicolaka/netshoot --restart=Never -- sleep 3600");
    c.lab.wait_ready("default", "netshoot");
    // Problème 1 : Pod ne peut pas atteindre un Service
    assert_contains(c.ok("get pod netshoot"), "Running");
    assert_contains(c.ok("get svc nginx-service"), &ip);
    let eps = c.ok("get endpoints nginx-service");
    assert_contains(&eps, ":80");
    let page = c.until(&format!("exec netshoot -- curl http://{ip}:80"));
    assert_contains(&page, "Welcome to nginx!");
    let logs = c.ok("logs -n kube-system -l k8s-app=calico-node");
    assert!(!logs.trim().is_empty(), "calico-node logged nothing");
    // the diagnostic script's kubectl calls: the Service and its Endpoints as JSON
    let svc: serde_json::Value =
        serde_json::from_str(&c.ok("get svc nginx-service -n default -o json")).unwrap();
    assert_eq!(svc["spec"]["type"], "ClusterIP");
    assert_eq!(svc["spec"]["clusterIP"], ip.as_str());
    assert_eq!(svc["spec"]["ports"][0]["port"], 80);
    let ep: serde_json::Value =
        serde_json::from_str(&c.ok("get endpoints nginx-service -n default -o json")).unwrap();
    let addrs: Vec<&serde_json::Value> = ep["subsets"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["addresses"].as_array().into_iter().flatten())
        .collect();
    assert_eq!(addrs.len(), 3, "{ep}");
    assert!(
        addrs.iter().all(|a| a["targetRef"]["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("nginx-"))),
        "{ep}"
    );
    c.ok("run debug-test-dns --image=busybox --restart=Never -n default -- sleep 3600");
    c.lab.wait_ready("default", "debug-test-dns");
    assert_contains(
        c.until(&format!(
            "exec debug-test-dns -n default -- wget -O- http://{ip}:80"
        )),
        "Welcome to nginx!",
    );
    c.ok("delete pod debug-test-dns -n default");
}
