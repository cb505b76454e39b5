//! 001 "Résolution des problèmes réseau" (../shared/seeds/001_7ab8835c2b6cf221.txt).

use super::*;

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
    // refused once kube-proxy has programmed the new Service (within its sync period)
    let want = format!("wget: can't connect to remote host ({ip}): Connection refused");
    wait_until(secs(30), || {
        let o = c
            .lab
            .exec("default", "a", &["wget", "-qO-", &format!("http://{ip}/")]);
        if out_err(&o).contains(&want) {
            Ok(())
        } else {
            Err(out_err(&o))
        }
    });
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
