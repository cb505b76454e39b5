//! Cluster DNS as users see it: CoreDNS's pods and Service, busybox's nslookup in
//! both of its generations, dig's answers for Services, headless Services, SRV and
//! pod records, the ClusterIP's reverse name, CoreDNS's logs, and breaking DNS the
//! ways the course's runbooks do (scale to zero, disable the addon).

use crate::common::*;

const BACKEND: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: backend
spec:
  replicas: 2
  selector:
    matchLabels: {app: backend}
  template:
    metadata:
      labels: {app: backend}
    spec:
      containers:
      - name: web
        image: nginx
        ports:
        - {containerPort: 80, name: http}
---
apiVersion: v1
kind: Service
metadata:
  name: backend
spec:
  selector: {app: backend}
  ports:
  - {name: http, port: 80, targetPort: http}
---
apiVersion: v1
kind: Service
metadata:
  name: backend-headless
spec:
  clusterIP: None
  selector: {app: backend}
  ports:
  - {name: http, port: 80}
";

fn pod(name: &str, image: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  containers:\n  - name: c\n    image: {image}\n    command: [\"sleep\", \"infinity\"]\n"
    )
}

/// Runs `cmd` in a pod until it succeeds and `want` holds of its output (DNS
/// answers follow the API within a moment: kube-proxy's sync, CoreDNS's watch).
#[track_caller]
fn eventually(lab: &Lab, pod: &str, cmd: &str, want: impl Fn(&str) -> bool) -> String {
    wait_until(secs(30), || {
        let mut argv = vec!["exec".to_string(), pod.to_string(), "--".to_string()];
        argv.extend(args(cmd));
        let o = lab.kubectl(&argv);
        let text = out_err(&o);
        if o.status.success() && want(&text) {
            Ok(text)
        } else {
            Err(format!("{cmd}: {text}"))
        }
    })
}

#[test]
fn cluster_dns_answers_as_the_course_prints() {
    let lab = Lab::up(2);
    // CoreDNS runs as the course's runbooks look for it
    let pods = lab.k(&args("get pods -n kube-system -l k8s-app=kube-dns"));
    assert_contains(&pods, "coredns-");
    assert_contains(&pods, "1/1");
    assert_contains(&pods, "Running");
    let svc = lab.k(&args("get svc -n kube-system kube-dns"));
    assert_contains(&svc, "10.152.183.10");
    assert_contains(&svc, "53/UDP,53/TCP,9153/TCP");
    let cm = lab.k(&args("get cm coredns -n kube-system -o yaml"));
    assert_contains(&cm, "forward . /etc/resolv.conf");

    lab.apply(BACKEND);
    lab.apply(&pod("busybox", "busybox"));
    lab.apply(&pod("old", "busybox:1.28"));
    lab.apply(&pod("netshoot", "nicolaka/netshoot"));
    for p in ["busybox", "old", "netshoot"] {
        lab.wait_ready("default", p);
    }
    assert_eq!(
        lab.k(&args("exec busybox -- cat /etc/resolv.conf")),
        "search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.152.183.10\noptions ndots:5\n"
    );

    // busybox 1.28, the format the course prints
    let o = eventually(&lab, "old", "nslookup kubernetes", |t| {
        t.contains("Name:      kubernetes")
    });
    assert_eq!(
        o.trim(),
        "Server:    10.152.183.10\nAddress 1: 10.152.183.10 kube-dns.kube-system.svc.cluster.local\n\nName:      kubernetes\nAddress 1: 10.152.183.1 kubernetes.default.svc.cluster.local"
    );
    let ip = lab.k(&args("get svc backend -o jsonpath={.spec.clusterIP}"));
    for name in [
        "backend",
        "backend.default",
        "backend.default.svc.cluster.local",
    ] {
        let o = eventually(&lab, "old", &format!("nslookup {name}"), |t| {
            t.contains(&ip)
        });
        assert_contains(
            &o,
            format!("Address 1: {ip} backend.default.svc.cluster.local"),
        );
    }
    let o = lab.kubectl(&args("exec old -- nslookup nothing-here"));
    assert_contains(assert_fails(&o), "nslookup: can't resolve 'nothing-here'");

    // the current busybox asks every search domain and reports each NXDOMAIN
    // (and exits 1), as it does on a real cluster
    let o = wait_until(secs(30), || {
        let t = out_err(&lab.kubectl(&args("exec busybox -- nslookup kubernetes")));
        if t.contains("Address: 10.152.183.1\n") {
            Ok(t)
        } else {
            Err(t)
        }
    });
    assert_contains(
        &o,
        "** server can't find kubernetes.svc.cluster.local: NXDOMAIN",
    );
    assert_contains(&o, "Server:");
    assert_contains(&o, "10.152.183.10");
    assert_contains(&o, "kubernetes.default.svc.cluster.local");

    // dig: the answer section, the TTL and the server
    let o = eventually(
        &lab,
        "netshoot",
        "dig backend.default.svc.cluster.local",
        |t| t.contains("ANSWER SECTION"),
    );
    assert_contains(&o, "status: NOERROR");
    let answer = o
        .lines()
        .find(|l| l.starts_with("backend.default.svc.cluster.local."))
        .unwrap_or_else(|| panic!("no answer line: {o}"));
    let fields: Vec<&str> = answer.split_whitespace().collect();
    assert_eq!(
        [fields[0], fields[2], fields[3], fields[4]],
        ["backend.default.svc.cluster.local.", "IN", "A", ip.as_str()],
        "{o}"
    );
    // the kubernetes plugin's TTL (5 s), counting down in the cache
    let ttl: u32 = fields[1].parse().unwrap();
    assert!((1..=5).contains(&ttl), "{o}");
    assert_contains(&o, "SERVER: 10.152.183.10#53(10.152.183.10)");
    let srv = eventually(
        &lab,
        "netshoot",
        "dig SRV _http._tcp.backend.default.svc.cluster.local +short",
        |t| !t.trim().is_empty(),
    );
    assert_eq!(srv.trim(), "0 100 80 backend.default.svc.cluster.local.");

    // headless: one address per ready pod
    let mut pod_ips: Vec<String> = lab
        .k(&args(
            "get pods -l app=backend -o jsonpath={.items[*].status.podIP}",
        ))
        .split_whitespace()
        .map(String::from)
        .collect();
    pod_ips.sort();
    let o = eventually(
        &lab,
        "netshoot",
        "dig +short backend-headless.default.svc.cluster.local",
        |t| t.lines().count() == 2,
    );
    let mut got: Vec<String> = o.lines().map(String::from).collect();
    got.sort();
    assert_eq!(got, pod_ips);
    // a pod's dashed name, and reverse names
    let dashed = format!("{}.default.pod.cluster.local", pod_ips[0].replace('.', "-"));
    let o = eventually(&lab, "netshoot", &format!("dig +short {dashed}"), |t| {
        !t.trim().is_empty()
    });
    assert_eq!(o.trim(), pod_ips[0]);
    let o = eventually(&lab, "netshoot", &format!("dig +short -x {ip}"), |t| {
        !t.trim().is_empty()
    });
    assert_eq!(o.trim(), "backend.default.svc.cluster.local.");
    // NXDOMAIN inside the zone, with its SOA
    let o = eventually(
        &lab,
        "netshoot",
        "dig nothing.default.svc.cluster.local",
        |t| t.contains("status:"),
    );
    assert_contains(&o, "status: NXDOMAIN");
    assert_contains(&o, "cluster.local.");
    assert_contains(&o, "SOA");
    // over TCP too
    let o = eventually(
        &lab,
        "netshoot",
        "dig +tcp +short kubernetes.default.svc.cluster.local",
        |t| !t.trim().is_empty(),
    );
    assert_eq!(o.trim(), "10.152.183.1");

    // CoreDNS's logs start with its banner
    let logs = lab.k(&args("logs -n kube-system -l k8s-app=kube-dns"));
    assert_contains(&logs, ".:53");
    assert_contains(&logs, "CoreDNS-");

    // no CoreDNS, no answers; scaled back, answers again
    lab.k(&args("scale deploy coredns -n kube-system --replicas=0"));
    wait_until(secs(60), || {
        let o = lab.kubectl(&args(
            "exec netshoot -- dig +time=1 +tries=1 kubernetes.default.svc.cluster.local",
        ));
        let t = out_err(&o);
        if t.contains("timed out") || t.contains("no servers could be reached") {
            Ok(())
        } else {
            Err(t)
        }
    });
    lab.k(&args("scale deploy coredns -n kube-system --replicas=1"));
    let o = wait_until(secs(90), || {
        let o = lab.kubectl(&args(
            "exec netshoot -- dig +time=1 +tries=1 +short kubernetes.default.svc.cluster.local",
        ));
        let t = out(&o).trim().to_string();
        if t == "10.152.183.1" {
            Ok(t)
        } else {
            Err(out_err(&o))
        }
    });
    assert_eq!(o, "10.152.183.1");
}

#[test]
fn the_dns_addon_is_disabled_and_enabled() {
    let lab = Lab::up(1);
    let status = out(&lab.kinet(&args("status")));
    assert_contains(
        &status,
        "addons:\n  enabled:\n    dns                  # (core) CoreDNS\n  disabled:",
    );

    let o = assert_ok(&lab.kinet(&args("disable dns")));
    assert_contains(&o, "Disabling DNS");
    assert_contains(&o, "deployment.apps \"coredns\" deleted");
    assert_contains(&o, "service \"kube-dns\" deleted");
    assert_contains(&o, "DNS is disabled");
    lab.wait_none(
        secs(30),
        "get pods -n kube-system -l k8s-app=kube-dns -o name",
    );
    assert_fails(&lab.kubectl(&args("get svc -n kube-system kube-dns")));
    let status = out(&lab.kinet(&args("status")));
    assert_contains(&status, "  disabled:\n    dns ");
    assert_contains(
        assert_ok(&lab.kinet(&args("disable dns"))),
        "Addon core/dns is already disabled",
    );
    assert_contains(
        assert_fails(&lab.kinet(&args("enable nothing"))),
        "Addon nothing was not found in any repository",
    );

    // kubelet has no cluster DNS now: a new ClusterFirst pod gets the node's
    // resolv.conf, and kubelet says so
    lab.apply(&pod("nodns", "busybox"));
    lab.wait_ready("default", "nodns");
    assert_eq!(
        lab.k(&args("exec nodns -- cat /etc/resolv.conf")),
        "nameserver 192.168.1.1\n"
    );
    let ev = lab.k(&args(
        "get events --field-selector reason=MissingClusterDNS",
    ));
    assert_contains(
        &ev,
        "kubelet does not have ClusterDNS IP configured and cannot create Pod using \"ClusterFirst\" policy. Falling back to \"Default\" policy.",
    );

    // off across a restart, then on again
    lab.crash_daemon();
    assert_ok(&lab.kinet(&args("up --no-kubeconfig")));
    assert_fails(&lab.kubectl(&args("get deploy -n kube-system coredns")));
    let o = assert_ok(&lab.kinet(&args("enable dns")));
    assert_contains(&o, "deployment.apps/coredns created");
    assert_contains(&o, "service/kube-dns created");
    assert_contains(&o, "DNS is enabled");
    assert_eq!(
        lab.k(&args(
            "get svc -n kube-system kube-dns -o jsonpath={.spec.clusterIP}"
        )),
        "10.152.183.10"
    );
    lab.apply(&pod("netshoot", "nicolaka/netshoot"));
    lab.wait_ready("default", "netshoot");
    // refused while the new pod is not ready (no endpoints), then answered
    eventually(
        &lab,
        "netshoot",
        "dig +short kubernetes.default.svc.cluster.local",
        |t| t.trim() == "10.152.183.1",
    );

    // an edited Corefile takes effect without a restart: kubelet refreshes the
    // ConfigMap volume (within a minute), the reload plugin notices (30 s ± 15)
    let corefile = lab.k(&args(
        "get cm coredns -n kube-system -o jsonpath={.data.Corefile}",
    ));
    let edited = corefile.replacen(
        "    kubernetes cluster.local",
        "    hosts {\n      192.0.2.99 reload.example\n      fallthrough\n    }\n    kubernetes cluster.local",
        1,
    );
    assert_ne!(edited, corefile);
    let patch = serde_json::json!({"data": {"Corefile": edited}}).to_string();
    lab.k(&[
        "patch",
        "cm",
        "coredns",
        "-n",
        "kube-system",
        "--type=merge",
        "-p",
        &patch,
    ]);
    let pods_before = lab.k(&args("get pods -n kube-system -l k8s-app=kube-dns -o name"));
    wait_until(secs(150), || {
        let o = lab.kubectl(&args("exec netshoot -- dig +short reload.example"));
        let t = out(&o);
        if t.trim() == "192.0.2.99" {
            Ok(())
        } else {
            Err(out_err(&o))
        }
    });
    // the same pod, not restarted
    assert_eq!(
        lab.k(&args("get pods -n kube-system -l k8s-app=kube-dns -o name")),
        pods_before
    );
    assert_contains(
        lab.k(&args("logs -n kube-system -l k8s-app=kube-dns")),
        "plugin/reload",
    );
}
