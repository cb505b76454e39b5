//! 000 "Tester le DNS" and "Tester la connectivité externe"
//! (../shared/seeds/000_75941e190b5ea137.txt): Tests 5 to 8 and 13, and the
//! checklist's Étape 4, as written.

use super::*;

const HEADLESS: &str = r#"
apiVersion: v1
kind: Service
metadata:
  name: database-headless
spec:
  clusterIP: None
  selector:
    app: backend
  ports:
  - name: http
    port: 8080
"#;

/// `kinet kubectl LINE` until its output (stdout and stderr) satisfies `want`,
/// whatever its exit status (current busybox's nslookup exits 1 after printing
/// an answer when a search domain had none).
#[track_caller]
fn until_output(c: &Course, line: &str, want: impl Fn(&str) -> bool) -> String {
    wait_until(secs(30), || {
        let t = out_err(&c.k(line));
        if want(&t) {
            Ok(t)
        } else {
            Err(format!("kinet kubectl {line}: {t}"))
        }
    })
}

/// dig's lines with their columns' tabs and spaces as single spaces.
fn words(text: &str) -> String {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn dns_tests_5_to_8_and_13() {
    let c = Course { lab: Lab::up(2) };
    let (_dir, f) = c.manifest("backend.yaml", super::c000::BACKEND_000);
    c.ok(&format!("create -f {f}"));
    let (_dir2, h) = c.manifest("headless.yaml", HEADLESS);
    c.ok(&format!("apply -f {h}"));

    // Test 5
    c.ok("run busybox --image=busybox --restart=Never -- sleep 3600");
    c.ok("run netshoot --image=nicolaka/netshoot --restart=Never -- sleep 3600");
    c.ok("rollout status deploy/backend --timeout=60s");
    c.lab.wait_ready("default", "busybox");
    c.lab.wait_ready("default", "netshoot");
    let o = until_output(&c, "exec busybox -- nslookup kubernetes", |t| {
        t.contains("Address: 10.152.183.1\n")
    });
    assert_contains(&o, "Server:\t\t10.152.183.10");
    let o = until_output(&c, "exec busybox -- nslookup google.com", |t| {
        t.contains("Name:\tgoogle.com")
    });
    // the fake internet answers from the documentation ranges
    let addr = o
        .lines()
        .skip_while(|l| !l.starts_with("Name:\tgoogle.com"))
        .find_map(|l| l.strip_prefix("Address: "))
        .unwrap_or_else(|| panic!("no address: {o}"));
    assert!(
        ["192.0.2.", "198.51.100.", "203.0.113."]
            .iter()
            .any(|p| addr.starts_with(p)),
        "{o}"
    );
    // Si nslookup échoue complètement
    assert_contains(
        c.ok("get pods -n kube-system -l k8s-app=kube-dns"),
        "Running",
    );
    assert_contains(c.ok("get svc -n kube-system kube-dns"), "10.152.183.10");
    assert_eq!(
        c.ok("exec busybox -- cat /etc/resolv.conf"),
        "search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.152.183.10\noptions ndots:5\n"
    );

    // Test 6: short, namespaced and full names of the Service. The current
    // busybox searches only names without a dot, so `backend.default` is
    // NXDOMAIN there, as on a real cluster today; busybox 1.28 (the output the
    // course prints) walks the whole search path.
    let ip = c.ok("get svc backend -o jsonpath={.spec.clusterIP}");
    for name in ["backend", "backend.default.svc.cluster.local"] {
        until_output(&c, &format!("exec busybox -- nslookup {name}"), |t| {
            t.contains(&format!("Address: {ip}\n"))
        });
    }
    let o = until_output(&c, "exec busybox -- nslookup backend.default", |t| {
        t.contains("NXDOMAIN")
    });
    assert_contains(&o, "** server can't find backend.default: NXDOMAIN");
    c.ok("run busybox128 --image=busybox:1.28 --restart=Never -- sleep 3600");
    c.lab.wait_ready("default", "busybox128");
    for name in [
        "backend",
        "backend.default",
        "backend.default.svc.cluster.local",
    ] {
        let o = until_output(&c, &format!("exec busybox128 -- nslookup {name}"), |t| {
            t.contains(&ip)
        });
        assert_eq!(
            o.trim(),
            format!(
                "Server:    10.152.183.10\nAddress 1: 10.152.183.10 kube-dns.kube-system.svc.cluster.local\n\nName:      {name}\nAddress 1: {ip} backend.default.svc.cluster.local"
            )
        );
    }

    // Test 7: dig, A and SRV
    let o = until_output(
        &c,
        "exec netshoot -- dig backend.default.svc.cluster.local",
        |t| t.contains("ANSWER SECTION"),
    );
    assert_contains(words(&o), format!("IN A {ip}"));
    assert_contains(&o, "SERVER: 10.152.183.10#53(10.152.183.10)");
    let o = until_output(
        &c,
        "exec netshoot -- dig SRV _http._tcp.backend.default.svc.cluster.local",
        |t| t.contains("ANSWER SECTION"),
    );
    assert_contains(
        words(&o),
        "IN SRV 0 100 80 backend.default.svc.cluster.local.",
    );

    // Test 8: the headless Service answers the pods' addresses
    let pods: BTreeSet<String> = c
        .ok("get pods -l app=backend -o jsonpath={.items[*].status.podIP}")
        .split_whitespace()
        .map(String::from)
        .collect();
    let o = until_output(&c, "exec netshoot -- nslookup database-headless", |t| {
        pods.iter().all(|p| t.contains(p.as_str()))
    });
    assert_contains(&o, "Name:\tdatabase-headless.default.svc.cluster.local");

    // Étape 4 of the checklist: the name from the pod
    until_output(&c, "exec busybox -- nslookup backend", |t| t.contains(&ip));

    // Test 13: the internet from a pod, by name
    // (busybox's own TLS fails the handshake with the fake internet's
    // certificates: the course's `wget -O- https://…` is left out, plain HTTP shown)
    let o = until_output(&c, "exec busybox -- wget -O- http://www.google.com", |t| {
        t.contains("www.google.com")
    });
    assert_not_contains(&o, "bad address");
    let o = c.ok("exec netshoot -- curl -I https://www.google.com");
    assert!(o.starts_with("HTTP/"), "{o}");
    assert_contains(&o, " 200");
    assert_contains(
        c.ok("get cm coredns -n kube-system -o yaml"),
        "forward . /etc/resolv.conf",
    );
}
