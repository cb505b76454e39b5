//! Lab lifecycle and the pod network, with real namespaces and real packets.

use crate::common::*;
use serde_json::Value;

/// Processes of a lab: its daemon, those carrying its marker (`KINET_LAB=LAB`)
/// and its pods' holders (`kinet pause --lab LAB …`), as "PID CMDLINE".
fn lab_processes(lab: &str) -> Vec<String> {
    let marker = format!("KINET_LAB={lab}");
    let holder = format!("--lab {lab} ");
    let daemon = format!("--name {lab} daemon");
    let me = std::process::id();
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(
            &std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default(),
        )
        .replace('\0', " ");
        if env.split(|b| *b == 0).any(|kv| kv == marker.as_bytes())
            || cmd.contains(&holder)
            || cmd.contains(&daemon)
        {
            found.push(format!("{pid} {cmd}"));
        }
    }
    found
}

#[test]
fn up_status_down_leaves_nothing() {
    let lab = Lab::up(2);
    let nodes = lab.k(&args("get nodes -o wide"));
    for want in ["node1", "192.168.1.10", "node2", "192.168.1.20"] {
        assert_contains(&nodes, want);
    }
    assert_eq!(
        lab.k(&args("get node node2 -o jsonpath={.spec.podCIDR}")),
        "10.1.2.0/24"
    );
    let st = assert_ok(&lab.kinet(&["status"]));
    assert_contains(&st, "node1");
    assert_contains(&st, "Ready");
    // a closed output ends the command quietly (issue 11, item 7)
    let piped = run(&[
        "sh",
        "-c",
        &format!("{} --name {} status | head -1", kinet_bin(), lab.name),
    ]);
    assert_eq!(err(&piped), "", "kinet status | head -1 complained");
    assert_contains(out(&piped), "Lab:");
    // kinet kubectl runs the machine's kubectl against the lab
    let o = lab.kinet(&args("kubectl get ns kube-system -o name"));
    assert_eq!(assert_ok(&o).trim(), "namespace/kube-system");
    lab.apply(&busybox_pod("a", "node1"));
    lab.wait_ready("default", "a");
    let name = lab.name.clone();
    // what down must remove is there
    assert!(!lab_processes(&name).is_empty(), "the lab has no processes");
    assert!(std::path::Path::new(&format!("/run/netns/kinet-{name}-node1")).exists());
    drop(lab);
    let left: Vec<String> = std::fs::read_dir("/run/netns")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&format!("kinet-{name}-")))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "namespaces left behind: {left:?}");
    assert!(!std::path::Path::new(&format!("/var/lib/kinet/{name}")).exists());
    let procs = lab_processes(&name);
    assert!(procs.is_empty(), "processes left: {procs:#?}");
}

/// A two-node lab with busybox pods `a` on node1 and `b` on node2, both ready.
fn two_pods_on_two_nodes() -> Lab {
    let lab = Lab::up(2);
    lab.apply(&format!(
        "{}---\n{}",
        busybox_pod("a", "node1"),
        busybox_pod("b", "node2")
    ));
    lab.wait_ready("default", "a");
    lab.wait_ready("default", "b");
    lab
}

#[test]
fn pods_reach_each_other_across_nodes() {
    let lab = two_pods_on_two_nodes();
    let ip_a = lab.pod_ip("default", "a");
    let ip_b = lab.pod_ip("default", "b");
    assert!(ip_a.starts_with("10.1.1."), "{ip_a}");
    assert!(ip_b.starts_with("10.1.2."), "{ip_b}");
    let ping = assert_ok(&lab.exec("default", "a", &args(&format!("ping -c 2 -W 2 {ip_b}"))));
    assert_contains(ping, "2 packets received");
    // the path is routed: node1, node2, then the pod
    let o = lab.exec(
        "default",
        "a",
        &args(&format!("traceroute -n -q 1 -w 1 {ip_b}")),
    );
    assert_contains(out(&o), "192.168.1.10");
    assert_contains(out(&o), "192.168.1.20");
    // the pod's own view: hostname, its address on eth0, the Calico route
    assert_eq!(
        assert_ok(&lab.exec("default", "a", &["hostname"])).trim(),
        "a"
    );
    assert_contains(
        assert_ok(&lab.exec("default", "a", &args("ip -4 addr show eth0"))),
        format!("{ip_a}/32"),
    );
    assert_contains(
        assert_ok(&lab.exec("default", "a", &args("ip route"))),
        "default via 169.254.1.1 dev eth0",
    );
    assert_contains(
        assert_ok(&lab.exec("default", "a", &args("cat /etc/hosts"))),
        format!("{ip_a}\ta"),
    );
    // a web server pod answers with nginx's page
    lab.apply("apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  nodeSelector:\n    kubernetes.io/hostname: node2\n  containers:\n  - name: nginx\n    image: nginx\n    ports:\n    - containerPort: 80\n");
    lab.wait_ready("default", "web");
    let web = lab.pod_ip("default", "web");
    let o = lab.exec("default", "a", &args(&format!("wget -qO- http://{web}/")));
    assert_contains(out(&o), "Welcome to nginx!");
    let o = lab.exec(
        "default",
        "a",
        &args(&format!("wget -qO- http://{web}/hostname")),
    );
    assert_eq!(out(&o), "web");
    // the course's port test: busybox nc -zv
    let o = lab.exec("default", "a", &args(&format!("nc -zv -w 2 {web} 80")));
    assert_ok(&o);
    assert_contains(err(&o), format!("{web} ({web}:80) open"));
    let o = lab.exec("default", "a", &args(&format!("nc -zv -w 2 {web} 81")));
    assert_contains(
        assert_fails(&o),
        format!("nc: {web} ({web}:81): Connection refused"),
    );
    let logs = lab.k(&args("logs web"));
    assert_contains(&logs, format!("{ip_a} - - ["));
    assert_contains(&logs, "\"GET /hostname HTTP/1.1\" 200");
}

/// `ip -j ARGS` (JSON out), which must succeed.
fn ip_json(argv: &[&str]) -> Value {
    let o = run(&[&["ip", "-j"], argv].concat());
    serde_json::from_str(&assert_ok(&o)).unwrap_or_else(|e| panic!("ip {argv:?}: {e}"))
}

/// The host namespace's links: "NAME KIND".
fn host_links() -> Vec<String> {
    let mut v: Vec<String> = ip_json(&["-d", "link"])
        .as_array()
        .expect("a list of links")
        .iter()
        .map(|l| {
            format!(
                "{} {}",
                l["ifname"].as_str().unwrap_or("?"),
                l["linkinfo"]["info_kind"].as_str().unwrap_or("-")
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn the_lab_is_sealed() {
    let before = host_links();
    assert!(
        before.iter().any(|l| l.starts_with("lo ")),
        "the host has a loopback: {before:?}"
    );
    let lab = Lab::up(1);
    // a pod, so that the node has a pod's veth too
    lab.apply(&busybox_pod("a", "node1"));
    lab.wait_ready("default", "a");
    assert_eq!(
        host_links(),
        before,
        "the lab added or took links of the host namespace"
    );
    let hosts = ["lan", "router", "node1", "outside", "internet"];
    let lab_ns: Vec<String> = hosts.iter().map(|h| lab.netns(h)).collect();
    for host in hosts {
        let ns = lab.netns(host);
        // the namespaces a link may lead to: only the lab's own, by their nsid here
        let ids = ip_json(&["-n", &ns, "netns", "list-id"]);
        let named = |id: &Value| -> Option<String> {
            ids.as_array()?
                .iter()
                .find(|e| &e["nsid"] == id)?
                .get("name")?
                .as_str()
                .map(String::from)
        };
        let links = ip_json(&["-n", &ns, "-d", "link"]);
        let links = links.as_array().expect("a list of links");
        let mut names: Vec<&str> = Vec::new();
        for l in links {
            let name = l["ifname"].as_str().unwrap_or("?");
            names.push(name);
            match (name, l["linkinfo"]["info_kind"].as_str()) {
                ("lo", None) => {}
                ("br0", Some("bridge")) if host == "lan" => {}
                (_, Some("veth")) => {
                    // the other end is in a namespace of the lab: a lab-level one
                    // (named), or a pod's (a node's cali… link)
                    let peer = &l["link_netnsid"];
                    assert!(!peer.is_null(), "{host}: {name} leads to its own namespace");
                    match named(peer) {
                        Some(n) => assert!(lab_ns.contains(&n), "{host}: {name} leads to {n}"),
                        None => assert!(
                            host.starts_with("node") && name.starts_with("cali"),
                            "{host}: {name} leads to an unnamed namespace"
                        ),
                    }
                }
                _ => panic!("{host}: an unexpected link {l}"),
            }
        }
        names.sort();
        let want: &[&str] = match host {
            "lan" => &["br0", "lo", "node1", "outside", "router"],
            "node1" => &["cali", "eth0", "lo"],
            // the router's uplink to the fake internet
            "router" => &["eth0", "lo", "wan0"],
            _ => &["eth0", "lo"],
        };
        // one cali… veth per pod of the node (the test's and calico-kube-controllers')
        let mut got: Vec<&str> = names
            .iter()
            .map(|n| if n.starts_with("cali") { "cali" } else { n })
            .collect();
        got.dedup();
        assert_eq!(got, want, "{host}'s links");
    }
    // the routes: nodes and the workstation go through the router, whose default
    // route is the fake internet, which has none: nothing goes further (route
    // lookups only: no packet is sent)
    let got = ip_json(&["-n", &lab.netns("router"), "route", "get", "203.0.113.7"]);
    assert_eq!(
        (got[0]["gateway"].as_str(), got[0]["dev"].as_str()),
        (Some("198.51.100.1"), Some("wan0")),
        "router: {got}"
    );
    let dsts = |host: &str| -> Vec<String> {
        ip_json(&["-n", &lab.netns(host), "route"])
            .as_array()
            .expect("a list of routes")
            .iter()
            .filter_map(|r| r["dst"].as_str().map(String::from))
            .collect()
    };
    assert_eq!(
        dsts("router"),
        [
            "default",
            "10.1.1.0/24",
            "192.168.1.0/24",
            "198.51.100.0/24"
        ],
        "the router routes to the pods, the LAN and the internet only"
    );
    assert_eq!(
        dsts("internet"),
        ["192.168.1.0/24", "198.51.100.0/24"],
        "the internet routes back to the LAN only, with no default route"
    );
    for dst in ["100.64.0.1", "142.250.1.1", "10.0.0.1"] {
        let o = run(&args(&format!(
            "ip -n {} route get {dst}",
            lab.netns("internet")
        )));
        assert_contains(assert_fails(&o), "Network is unreachable");
    }
    // the internet holds documentation addresses and the public resolvers' only
    let addrs = ip_json(&["-n", &lab.netns("internet"), "-4", "addr"]);
    let mut held: Vec<String> = addrs
        .as_array()
        .expect("a list of links")
        .iter()
        .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| Some(format!("{}/{}", a["local"].as_str()?, a["prefixlen"])))
        .collect();
    held.sort();
    assert_eq!(
        held,
        [
            "1.1.1.1/32",
            "127.0.0.1/8",
            "192.0.2.1/24",
            "198.51.100.1/24",
            "203.0.113.1/24",
            "8.8.4.4/32",
            "8.8.8.8/32"
        ],
        "the internet's addresses"
    );
    for host in ["node1", "outside"] {
        let got = ip_json(&["-n", &lab.netns(host), "route", "get", "203.0.113.7"]);
        assert_eq!(
            (got[0]["gateway"].as_str(), got[0]["dev"].as_str()),
            (Some("192.168.1.1"), Some("eth0")),
            "{host}: {got}"
        );
    }
}

/// Issue 11, item 5: two `kinet up` of one lab at once both succeed with one
/// daemon, and a daemon started by hand beside it is refused; `down` ends them all.
#[test]
fn concurrent_ups_share_one_daemon() {
    let lab = Lab::up(1);
    let name = lab.name.clone();
    let ups: Vec<_> = (0..2)
        .map(|_| {
            std::process::Command::new(kinet_bin())
                .args(["--name", &name, "up", "--no-kubeconfig"])
                .output()
        })
        .collect();
    for o in ups {
        assert_ok(&o.expect("run kinet up"));
    }
    let second = lab.kinet(&["daemon", "--nodes", "1"]);
    assert_contains(
        assert_fails(&second),
        format!("lab {name:?} already has a running daemon"),
    );
    let daemons = || {
        let o = run(&["pgrep", "-f", &format!("kinet --name {name} daemon")]);
        out(&o).lines().count()
    };
    assert_eq!(daemons(), 1, "one daemon for the lab");
    drop(lab);
    assert_eq!(daemons(), 0, "down ended the lab's daemon");
}

#[test]
fn state_survives_a_daemon_crash() {
    let lab = two_pods_on_two_nodes();
    lab.k(&args("label pod a kept=yes"));
    let ip_b = lab.pod_ip("default", "b");
    lab.crash_daemon();
    // resume: objects come back from the store and the network is rebuilt
    assert_ok(&lab.kinet(&args("up --no-kubeconfig")));
    assert_eq!(
        lab.k(&args("get pod a -o jsonpath={.metadata.labels.kept}")),
        "yes"
    );
    lab.wait_ready("default", "b");
    assert_eq!(
        lab.pod_ip("default", "b"),
        ip_b,
        "the pod keeps its address"
    );
    lab.wait_ready("default", "a");
    assert_ok(&lab.exec("default", "a", &args(&format!("ping -c 1 -W 2 {ip_b}"))));
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
        wait_until(secs(5), || {
            let o = lab.exec(
                "default",
                "client",
                &args(&format!("curl -sS --max-time 3 {url}")),
            );
            if o.status.success() {
                Ok(out(&o))
            } else {
                Err(format!("curl {url} from client failed: {}", err(&o)))
            }
        })
    };
    let netexec = lab.pod_ip("default", "netexec");
    assert_eq!(get(&format!("http://{netexec}:8080/hostname")), "netexec");
    assert_eq!(
        get(&format!("http://{netexec}:8080/echo?msg=bonjour")),
        "bonjour"
    );
    let client_ip = lab.pod_ip("default", "client");
    let seen = get(&format!("http://{netexec}:8080/clientip"));
    assert!(seen.starts_with(&format!("{client_ip}:")), "{seen}");
    let hn = lab.pod_ip("default", "hostnames");
    assert_eq!(get(&format!("http://{hn}:9376/")), "hostnames");
    let custom = lab.pod_ip("default", "custom");
    assert_eq!(get(&format!("http://{custom}:8443/")), "custom\n");
    let ev = lab.k(&args(
        "get events --field-selector involvedObject.name=custom,reason=Emulated -o jsonpath={.items[0].message}",
    ));
    assert_contains(ev, "mycorp/orders-api");
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
    let kinet = |line: &str| {
        let mut argv = vec![kinet_bin().to_string()];
        argv.extend(args(line));
        run(&argv)
    };
    assert_contains(
        assert_fails(&kinet("--name Bad_Name status")),
        "invalid lab name \"Bad_Name\"",
    );
    assert_contains(
        assert_fails(&kinet("--name kterr up --nodes 12")),
        "--nodes must be between 1 and 9, got 12",
    );
    assert_contains(
        assert_fails(&kinet("--name kterr up -f /nonexistent/x.yaml")),
        "/nonexistent/x.yaml",
    );
    assert!(
        !std::path::Path::new("/var/lib/kinet/kterr").exists(),
        "a refused up must start nothing"
    );
    let lab = Lab::up(1);
    assert_contains(
        assert_fails(&lab.exec("default", "missing", &["true"])),
        "pods \"missing\" not found",
    );
    assert_contains(
        assert_fails(&lab.kinet(&args("kubectl get pod missing"))),
        "Error from server (NotFound): pods \"missing\" not found",
    );
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
    let table = lab.k(&args("get pods --no-headers"));
    assert_eq!(
        table
            .lines()
            .filter(|l| l.contains("1/1") && l.contains("Running"))
            .count(),
        2,
        "{table}"
    );
    assert_contains(lab.k(&args("get ns extra -o name")), "namespace/extra");
    // the demo
    let o = lab.kinet(&args("up --no-kubeconfig --demo"));
    assert_contains(assert_ok(&o), "pod/client created");
    let pods = lab.k(&args("get pods -n demo --no-headers"));
    assert_eq!(pods.lines().count(), 3, "{pods}");
}
