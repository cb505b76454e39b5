//! `kinet ssh HOST [-- CMD...]`: the lab's hosts as machines one logs into.

use crate::common::*;
use std::io::Write;
use std::process::{Command, Stdio};

fn ssh(lab: &Lab, line: &str) -> std::process::Output {
    lab.kinet(&args(&format!("ssh {line}")))
}

#[test]
fn ssh_into_the_lab_hosts() {
    let lab = Lab::up(2);

    // a node: its routes, its name, its tools through sudo
    let routes = assert_ok(&ssh(&lab, "node1 -- ip route"));
    assert_contains(&routes, "default via 192.168.1.1 dev eth0");
    assert_contains(&routes, "10.1.2.0/24 via 192.168.1.20 dev eth0");
    assert_contains(&routes, "src 192.168.1.10");
    assert_eq!(assert_ok(&ssh(&lab, "node1 -- hostname")).trim(), "node1");
    assert_eq!(assert_ok(&ssh(&lab, "node2 -- hostname")).trim(), "node2");
    let o = ssh(&lab, "node1 -- sudo iptables -t nat -L -n");
    let nat = assert_ok(&o);
    assert_contains(&nat, "Chain POSTROUTING");
    assert_not_contains(String::from_utf8_lossy(&o.stderr), "unable to resolve host");
    assert_eq!(
        assert_ok(&ssh(&lab, "router -- cat /proc/sys/net/ipv4/ip_forward")).trim(),
        "1"
    );
    // the host's own address, not the machine's
    assert_contains(
        assert_ok(&ssh(&lab, "outside -- ip -4 addr show eth0")),
        "192.168.1.100/24",
    );

    // the command's exit status is kinet's
    assert_eq!(ssh(&lab, "node1 -- sh -c 'exit 7'").status.code(), Some(7));
    assert_eq!(ssh(&lab, "node1 -- true").status.code(), Some(0));
    let o = ssh(&lab, "node1 -- no-such-command");
    assert_eq!(o.status.code(), Some(127));
    assert_contains(String::from_utf8_lossy(&o.stderr), "no-such-command");

    // no command: a login shell, reading the session from stdin
    let mut child = Command::new(kinet_bin())
        .args(["--name", &lab.name, "ssh", "node2"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"hostname\nexit 3\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_contains(String::from_utf8_lossy(&o.stdout), "node2");

    // outside's /etc/hosts is its own, and an edit survives the session
    let machine_hosts = std::fs::read_to_string("/etc/hosts").unwrap();
    let before = assert_ok(&ssh(&lab, "outside -- cat /etc/hosts"));
    assert_contains(&before, "127.0.0.1\tlocalhost");
    assert_contains(&before, "outside");
    assert_ok(&ssh(
        &lab,
        "outside -- sh -c 'echo \"192.168.1.10 web.kinet.test\" >> /etc/hosts'",
    ));
    assert_contains(
        assert_ok(&ssh(&lab, "outside -- getent hosts web.kinet.test")),
        "192.168.1.10",
    );
    assert_contains(
        std::fs::read_to_string(format!(
            "/var/lib/kinet/{}/hosts/outside/etc-hosts",
            lab.name
        ))
        .unwrap(),
        "web.kinet.test",
    );
    // neither the machine nor the other hosts see it
    assert_eq!(
        std::fs::read_to_string("/etc/hosts").unwrap(),
        machine_hosts
    );
    assert_not_contains(
        assert_ok(&ssh(&lab, "node1 -- cat /etc/hosts")),
        "web.kinet.test",
    );

    // an unknown host names the ones that exist
    let o = ssh(&lab, "node3 -- true");
    let err = assert_fails(&o);
    assert_contains(&err, "unknown host \"node3\"");
    assert_contains(&err, "router, node1, node2, outside");
}

#[test]
fn ssh_into_a_lab_that_is_not_running() {
    let o = Command::new(kinet_bin())
        .args(["--name", "kt-no-such-lab", "ssh", "node1", "--", "true"])
        .output()
        .unwrap();
    let err = assert_fails(&o);
    assert_contains(&err, "lab \"kt-no-such-lab\" is not running");
}
