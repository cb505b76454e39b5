//! The fake internet behind the router (issue 9): its resolver on 8.8.8.8, 8.8.4.4,
//! 1.1.1.1 and the router, its web sites over HTTP and HTTPS (the lab's CA, trusted
//! through the CA bundle), reached from pods (masqueraded by calico-node), from the
//! nodes and from the outside workstation, inside the sealed lab.

use crate::common::*;

fn netshoot_pod(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  containers:\n  - name: c\n    image: nicolaka/netshoot\n    command: [\"sleep\", \"infinity\"]\n"
    )
}

fn ssh(lab: &Lab, line: &str) -> std::process::Output {
    lab.kinet(&args(&format!("ssh {line}")))
}

#[test]
fn the_fake_internet_answers_pods_nodes_and_outside() {
    let lab = Lab::up(1);
    lab.apply(&busybox_pod("bb", "node1"));
    lab.apply(&netshoot_pod("tools"));
    lab.wait_ready("default", "bb");
    lab.wait_ready("default", "tools");
    let sh = |pod: &str, cmd: &str| lab.exec("default", pod, &args(cmd));

    // from a pod, by address (no cluster DNS here): the public resolvers answer the
    // zone, over UDP and TCP, as a recursive resolver (ra), with NXDOMAIN for the rest;
    // the first packets may wait for calico-node's masquerade rule
    wait_until(secs(60), || {
        let o = sh("tools", "dig +short +time=2 +tries=1 @8.8.8.8 google.com");
        if o.status.success() && out(&o).trim() == "192.0.2.10" {
            Ok(())
        } else {
            Err(out_err(&o))
        }
    });
    let d = assert_ok(&sh("tools", "dig +time=2 @8.8.4.4 github.com"));
    assert_contains(&d, "status: NOERROR");
    assert_contains(&d, "flags: qr rd ra;");
    assert_contains(&d, "300\tIN\tA\t192.0.2.30");
    assert_contains(&d, "SERVER: 8.8.4.4#53(8.8.4.4)");
    let d = assert_ok(&sh(
        "tools",
        "dig +tcp +time=2 @1.1.1.1 no-such-name.example",
    ));
    assert_contains(&d, "status: NXDOMAIN");
    assert_contains(&d, "AUTHORITY SECTION");
    assert_contains(&d, "a.root-servers.net.");
    let d = assert_ok(&sh("tools", "dig +time=2 @8.8.8.8 AAAA www.google.com"));
    assert_contains(&d, "status: NOERROR");
    assert_contains(&d, "ANSWER: 0,");
    assert_contains(
        assert_ok(&sh("tools", "dig +short +time=2 @8.8.8.8 -x 8.8.8.8")),
        "dns.google.",
    );
    // busybox's nslookup against a named server
    let ns = assert_ok(&sh("bb", "nslookup google.com 8.8.8.8"));
    assert_contains(&ns, "Address: 192.0.2.10");
    let ns = sh("bb", "nslookup no-such-host.invalid 8.8.8.8");
    assert_contains(out_err(&ns), "NXDOMAIN");
    // ping and traceroute to the public resolver
    assert_ok(&sh("bb", "ping -c 1 -W 2 8.8.8.8"));
    let tr = assert_ok(&sh("tools", "traceroute -n -q 1 -w 2 -m 6 8.8.8.8"));
    assert_contains(&tr, "192.168.1.1");
    assert_contains(&tr, "8.8.8.8");
    // the web: HTTP and HTTPS verified against the pod's CA bundle (no -k)
    let page = assert_ok(&sh(
        "tools",
        "curl -sS --max-time 10 --resolve example.com:443:192.0.2.20 https://example.com/",
    ));
    assert_contains(&page, "<h1>example.com</h1>");
    let head = assert_ok(&sh(
        "tools",
        "curl -sSI --max-time 10 --resolve www.google.com:443:192.0.2.11 https://www.google.com",
    ));
    assert_contains(&head, "HTTP/1.1 200 OK");
    assert_contains(
        assert_ok(&sh("bb", "wget -qO- http://192.0.2.11/")),
        "<h1>www.google.com</h1>",
    );

    // a node resolves through the router named in its /etc/resolv.conf
    assert_eq!(
        assert_ok(&ssh(&lab, "node1 -- cat /etc/resolv.conf")),
        "nameserver 192.168.1.1\n"
    );
    assert_eq!(
        assert_ok(&ssh(&lab, "node1 -- dig +short +time=2 google.com")).trim(),
        "192.0.2.10"
    );
    let d = assert_ok(&ssh(&lab, "node1 -- dig +time=2 nonexistent.google.com"));
    assert_contains(&d, "status: NXDOMAIN");
    assert_contains(&d, "SERVER: 192.168.1.1#53(192.168.1.1)");
    assert_ok(&ssh(&lab, "node1 -- ping -c 1 -W 2 1.1.1.1"));

    // the workstation: names through the router, https verified
    assert_contains(
        assert_ok(&ssh(
            &lab,
            "outside -- curl -sS --max-time 10 https://www.google.com",
        )),
        "<h1>www.google.com</h1>",
    );
    assert_contains(
        assert_ok(&ssh(
            &lab,
            "outside -- curl -sS --max-time 10 http://example.com/x",
        )),
        "http://example.com/x",
    );
    let d = assert_ok(&ssh(&lab, "outside -- dig +tcp +time=2 @192.168.1.1 . NS"));
    assert_contains(&d, "status: NOERROR");
    // the internet itself, as a host: its addresses, and no way further
    let lo = assert_ok(&ssh(&lab, "internet -- ip -4 addr show lo"));
    for a in [
        "8.8.8.8/32",
        "8.8.4.4/32",
        "1.1.1.1/32",
        "192.0.2.1/24",
        "203.0.113.1/24",
    ] {
        assert_contains(&lo, a);
    }
    assert_contains(
        assert_fails(&ssh(&lab, "internet -- ping -c 1 -W 1 100.64.0.1")),
        "Network is unreachable",
    );
    // an unknown site does not resolve
    let o = ssh(
        &lab,
        "outside -- curl -sS --max-time 10 https://no-such-site.example",
    );
    assert_contains(assert_fails(&o), "Could not resolve host");
}
