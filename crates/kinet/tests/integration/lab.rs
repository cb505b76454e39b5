//! Lab lifecycle and the pod network, with real namespaces and real packets.

use crate::common::*;

#[test]
fn up_status_down_leaves_nothing() {
    let lab = Lab::up(2);
    let nodes = lab.k(&["get", "nodes", "-o", "wide"]);
    assert!(
        nodes.contains("node1") && nodes.contains("192.168.1.10"),
        "{nodes}"
    );
    assert!(
        nodes.contains("node2") && nodes.contains("192.168.1.20"),
        "{nodes}"
    );
    assert_eq!(
        lab.k(&["get", "node", "node2", "-o", "jsonpath={.spec.podCIDR}"]),
        "10.1.2.0/24"
    );
    let st = lab.kinet(&["status"]);
    assert!(st.status.success());
    assert!(
        out(&st).contains("node1") && out(&st).contains("Ready"),
        "{}",
        out(&st)
    );
    // kinet kubectl runs the machine's kubectl against the lab
    let o = lab.kinet(&["kubectl", "get", "ns", "kube-system", "-o", "name"]);
    assert_eq!(out(&o).trim(), "namespace/kube-system");
    let name = lab.name.clone();
    drop(lab);
    let netns = std::fs::read_dir("/run/netns")
        .map(|d| {
            d.flatten()
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with(&format!("kinet-{name}-"))
                })
                .count()
        })
        .unwrap_or(0);
    assert_eq!(netns, 0, "namespaces left behind");
    assert!(!std::path::Path::new(&format!("/var/lib/kinet/{name}")).exists());
    let procs = std::process::Command::new("pgrep")
        .args(["-f", &format!("--lab {name} ")])
        .output()
        .unwrap();
    assert!(
        out(&procs).trim().is_empty(),
        "processes left: {}",
        out(&procs)
    );
}

#[test]
fn pods_reach_each_other_across_nodes() {
    let lab = Lab::up(2);
    lab.apply(&format!(
        "{}---\n{}",
        busybox_pod("a", "node1"),
        busybox_pod("b", "node2")
    ));
    lab.wait_ready("default", "a");
    lab.wait_ready("default", "b");
    let ip_a = lab.pod_ip("default", "a");
    let ip_b = lab.pod_ip("default", "b");
    assert!(ip_a.starts_with("10.1.1."), "{ip_a}");
    assert!(ip_b.starts_with("10.1.2."), "{ip_b}");
    let o = lab.exec("default", "a", &["ping", "-c", "2", "-W", "2", &ip_b]);
    assert!(o.status.success(), "ping failed: {}{}", out(&o), err(&o));
    assert!(out(&o).contains("2 packets received"), "{}", out(&o));
    // the path is routed: node1, node2, then the pod
    let o = lab.exec(
        "default",
        "a",
        &["traceroute", "-n", "-q", "1", "-w", "1", &ip_b],
    );
    let t = out(&o);
    assert!(
        t.contains("192.168.1.10") && t.contains("192.168.1.20"),
        "{t}{}",
        err(&o)
    );
    // the pod's own view: hostname, its address on eth0, the Calico route
    assert_eq!(out(&lab.exec("default", "a", &["hostname"])).trim(), "a");
    let addr = out(&lab.exec("default", "a", &["ip", "-4", "addr", "show", "eth0"]));
    assert!(addr.contains(&format!("{ip_a}/32")), "{addr}");
    let routes = out(&lab.exec("default", "a", &["ip", "route"]));
    assert!(
        routes.contains("default via 169.254.1.1 dev eth0"),
        "{routes}"
    );
    let hosts = out(&lab.exec("default", "a", &["cat", "/etc/hosts"]));
    assert!(hosts.contains(&format!("{ip_a}\ta")), "{hosts}");
    // a web server pod answers with nginx's page
    lab.apply("apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  nodeSelector:\n    kubernetes.io/hostname: node2\n  containers:\n  - name: nginx\n    image: nginx\n    ports:\n    - containerPort: 80\n");
    lab.wait_ready("default", "web");
    let web = lab.pod_ip("default", "web");
    let o = lab.exec("default", "a", &["wget", "-qO-", &format!("http://{web}/")]);
    assert!(
        out(&o).contains("Welcome to nginx!"),
        "{}{}",
        out(&o),
        err(&o)
    );
    let o = lab.exec(
        "default",
        "a",
        &["wget", "-qO-", &format!("http://{web}/hostname")],
    );
    assert_eq!(out(&o), "web");
    // the course's port test: busybox nc -zv
    let o = lab.exec("default", "a", &["nc", "-zv", "-w", "2", &web, "80"]);
    assert!(
        o.status.success() && err(&o).contains(&format!("{web} ({web}:80) open")),
        "{}",
        err(&o)
    );
    let o = lab.exec("default", "a", &["nc", "-zv", "-w", "2", &web, "81"]);
    assert!(
        !o.status.success()
            && err(&o).contains(&format!("nc: {web} ({web}:81): Connection refused")),
        "{}",
        err(&o)
    );
    let logs = lab.k(&["logs", "web"]);
    assert!(
        logs.contains(&format!("{ip_a} - - [")) && logs.contains("\"GET /hostname HTTP/1.1\" 200"),
        "{logs}"
    );
}

#[test]
fn the_lab_is_sealed() {
    let before = std::process::Command::new("ip")
        .args(["-o", "link"])
        .output()
        .unwrap();
    let lab = Lab::up(1);
    let after = std::process::Command::new("ip")
        .args(["-o", "link"])
        .output()
        .unwrap();
    assert_eq!(
        out(&before).lines().count(),
        out(&after).lines().count(),
        "the lab added links to the host namespace"
    );
    // route lookups only (no packet is sent): nothing in the lab leads out
    for host in ["router", "node1", "outside"] {
        let ns = format!("kinet-{}-{host}", lab.name);
        let o = std::process::Command::new("ip")
            .args(["-n", &ns, "route", "get", "203.0.113.7"])
            .output()
            .unwrap();
        let text = format!("{}{}", out(&o), err(&o));
        let unreachable = !o.status.success() || text.contains("unreachable");
        // nodes and the workstation route via the router, which has nowhere to go
        if host == "router" {
            assert!(unreachable, "router has a route out: {text}");
        } else {
            assert!(
                text.contains("via 192.168.1.1") || unreachable,
                "{host}: {text}"
            );
        }
    }
    let o = std::process::Command::new("ip")
        .args(["-n", &format!("kinet-{}-router", lab.name), "route"])
        .output()
        .unwrap();
    assert!(
        !out(&o).contains("default"),
        "the router must have no default route: {}",
        out(&o)
    );
}

#[test]
fn state_survives_a_daemon_crash() {
    let lab = Lab::up(2);
    lab.apply(&format!(
        "{}---\n{}",
        busybox_pod("a", "node1"),
        busybox_pod("b", "node2")
    ));
    lab.wait_ready("default", "a");
    lab.wait_ready("default", "b");
    lab.k(&["label", "pod", "a", "kept=yes"]);
    let ip_b = lab.pod_ip("default", "b");
    let pid: i32 = std::fs::read_to_string(format!("/run/kinet/{}/daemon.pid", lab.name))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    nix_kill(pid);
    // resume: objects come back from the store and the network is rebuilt
    let o = lab.kinet(&["up", "--no-kubeconfig"]);
    assert!(o.status.success(), "{}{}", out(&o), err(&o));
    assert_eq!(
        lab.k(&["get", "pod", "a", "-o", "jsonpath={.metadata.labels.kept}"]),
        "yes"
    );
    lab.wait_ready("default", "b");
    assert_eq!(
        lab.pod_ip("default", "b"),
        ip_b,
        "the pod keeps its address"
    );
    lab.wait_ready("default", "a");
    let o = lab.exec("default", "a", &["ping", "-c", "1", "-W", "2", &ip_b]);
    assert!(o.status.success(), "{}{}", out(&o), err(&o));
}

fn nix_kill(pid: i32) {
    let st = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::path::Path::new(&format!("/proc/{pid}")).exists()
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn the_image_catalog_runs_what_images_do() {
    let lab = Lab::up(1);
    lab.apply(
        "apiVersion: v1
kind: Pod
metadata:
  name: netexec
spec:
  containers:
  - name: agnhost
    image: registry.k8s.io/e2e-test-images/agnhost:2.45
    args: [\"netexec\", \"--http-port=8080\", \"--udp-port=8081\"]
---
apiVersion: v1
kind: Pod
metadata:
  name: hostnames
spec:
  containers:
  - name: agnhost
    image: registry.k8s.io/e2e-test-images/agnhost:2.45
    args: [\"serve-hostname\"]
---
apiVersion: v1
kind: Pod
metadata:
  name: custom
spec:
  containers:
  - name: api
    image: mycorp/orders-api:3.1
    ports:
    - containerPort: 8443
---
apiVersion: v1
kind: Pod
metadata:
  name: client
spec:
  containers:
  - name: c
    image: nicolaka/netshoot
    command: [\"sleep\", \"infinity\"]
",
    );
    for p in ["netexec", "hostnames", "custom", "client"] {
        lab.wait_ready("default", p);
    }
    // Ready means started (no readiness probes here): give a server a moment to listen
    let get = |url: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let o = lab.exec(
                "default",
                "client",
                &["curl", "-sS", "--max-time", "3", url],
            );
            if o.status.success() {
                return out(&o);
            }
            assert!(
                std::time::Instant::now() < deadline,
                "wget {url} from client failed: {}",
                err(&o)
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    let netexec = lab.pod_ip("default", "netexec");
    assert_eq!(get(&format!("http://{netexec}:8080/hostname")), "netexec");
    assert_eq!(
        get(&format!("http://{netexec}:8080/echo?msg=bonjour")),
        "bonjour"
    );
    let client_ip = lab.pod_ip("default", "client");
    assert!(get(&format!("http://{netexec}:8080/clientip")).starts_with(&format!("{client_ip}:")));
    let hn = lab.pod_ip("default", "hostnames");
    assert_eq!(get(&format!("http://{hn}:9376/")), "hostnames");
    let custom = lab.pod_ip("default", "custom");
    assert_eq!(get(&format!("http://{custom}:8443/")), "custom\n");
    let ev = lab.k(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=custom,reason=Emulated",
        "-o",
        "jsonpath={.items[0].message}",
    ]);
    assert!(ev.contains("mycorp/orders-api"), "{ev}");
    // UDP through agnhost netexec
    let o = lab.exec(
        "default",
        "client",
        &[
            "sh",
            "-c",
            &format!("echo hostname | nc -u -w 1 {netexec} 8081"),
        ],
    );
    assert_eq!(out(&o).trim(), "netexec", "{}", err(&o));
}

#[test]
fn bad_cli_input_is_refused_clearly() {
    let run = |args: &[&str]| {
        std::process::Command::new(kinet_bin())
            .args(args)
            .output()
            .unwrap()
    };
    let o = run(&["--name", "Bad_Name", "status"]);
    assert!(!o.status.success());
    assert!(
        err(&o).contains("invalid lab name \"Bad_Name\""),
        "{}",
        err(&o)
    );
    let o = run(&["--name", "kterr", "up", "--nodes", "12"]);
    assert!(!o.status.success());
    assert!(
        err(&o).contains("--nodes must be between 1 and 9, got 12"),
        "{}",
        err(&o)
    );
    let o = run(&["--name", "kterr", "up", "-f", "/nonexistent/x.yaml"]);
    assert!(!o.status.success());
    assert!(err(&o).contains("/nonexistent/x.yaml"), "{}", err(&o));
    assert!(
        !std::path::Path::new("/var/lib/kinet/kterr").exists(),
        "a refused up must start nothing"
    );
    let lab = Lab::up(1);
    let o = lab.exec("default", "missing", &["true"]);
    assert!(!o.status.success());
    assert!(
        err(&o).contains("pods \"missing\" not found"),
        "{}",
        err(&o)
    );
    let o = lab.kinet(&["kubectl", "get", "pod", "missing"]);
    assert!(!o.status.success());
    assert!(err(&o).contains("Error from server (NotFound): pods \"missing\" not found"));
}

#[test]
fn up_applies_manifests_and_waits_for_them() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.yaml"), busybox_pod("first", "node1")).unwrap();
    std::fs::write(
        dir.path().join("b.yml"),
        format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: extra\n---\n{}",
            busybox_pod("second", "node1")
        ),
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a manifest").unwrap();
    let lab = Lab::up_with(1, &["-f", dir.path().to_str().unwrap()]);
    // up returned: the pods are Ready already
    let table = lab.k(&["get", "pods", "--no-headers"]);
    assert_eq!(
        table
            .lines()
            .filter(|l| l.contains("1/1") && l.contains("Running"))
            .count(),
        2,
        "{table}"
    );
    assert!(
        lab.k(&["get", "ns", "extra", "-o", "name"])
            .contains("namespace/extra")
    );
    // the demo
    let o = lab.kinet(&["up", "--no-kubeconfig", "--demo"]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(out(&o).contains("pod/client created"), "{}", out(&o));
    let pods = lab.k(&["get", "pods", "-n", "demo", "--no-headers"]);
    assert_eq!(pods.lines().count(), 3, "{pods}");
}
