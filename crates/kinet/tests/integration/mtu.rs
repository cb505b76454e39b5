//! The pods' MTU, Calico's way (issue 8, course 001 "Problème 6"): calico-node's
//! install-cni writes the node's /etc/cni/net.d/10-calico.conflist with the
//! `veth_mtu` of ConfigMap calico-config; a new pod's veth gets it on both ends,
//! an old pod keeps its own; `rollout restart daemonset/calico-node` applies a change.

use crate::common::*;

fn kk(lab: &Lab, line: &str) -> std::process::Output {
    lab.kinet(&args(&format!("kubectl {line}")))
}

/// A netshoot pod (iputils' ping) on the lab's one node.
fn netshoot(lab: &Lab, name: &str) {
    assert_ok(&kk(
        lab,
        &format!("run {name} --image=nicolaka/netshoot --restart=Never -- sleep 3600"),
    ));
    lab.wait_ready("default", name);
}

fn eth0(lab: &Lab, pod: &str) -> String {
    assert_ok(&lab.exec("default", pod, &["ip", "link", "show", "eth0"]))
}

/// The node end of a pod's veth, as `ip link` on the node shows it: the line of the
/// cali… link whose index is the pod's eth0 peer (`eth0@ifN`).
fn node_veth(lab: &Lab, pod: &str) -> String {
    let e = eth0(lab, pod);
    let peer = e
        .split("eth0@if")
        .nth(1)
        .and_then(|r| r.split(':').next())
        .unwrap_or_else(|| panic!("no peer index in {e}"))
        .to_string();
    let links = assert_ok(&lab.kinet(&args("ssh node1 -- ip -o link")));
    links
        .lines()
        .find(|l| l.starts_with(&format!("{peer}: cali")))
        .unwrap_or_else(|| panic!("no cali link {peer} in:\n{links}"))
        .to_string()
}

#[test]
fn veth_mtu_from_calico_config() {
    let lab = Lab::up(1);

    // the default: auto, the LAN link's 1500 (no encapsulation in this routed lab)
    netshoot(&lab, "old");
    assert_contains(eth0(&lab, "old"), "mtu 1500");
    assert_contains(node_veth(&lab, "old"), "mtu 1500");
    let logs = assert_ok(&kk(
        &lab,
        "-n kube-system logs -l k8s-app=calico-node --tail=-1",
    ));
    assert_contains(&logs, "Wrote Calico CNI config");
    let conflist = std::fs::read_to_string(format!(
        "/var/lib/kinet/{}/nodes/node1/root/etc/cni/net.d/10-calico.conflist",
        lab.name
    ))
    .unwrap();
    assert_contains(&conflist, "\"mtu\": 1500");

    // the course's fix: veth_mtu 1450, then restart calico-node
    assert_ok(&lab.kinet(&[
        "kubectl",
        "-n",
        "kube-system",
        "patch",
        "cm",
        "calico-config",
        "-p",
        r#"{"data":{"veth_mtu":"1450"}}"#,
    ]));
    assert_ok(&kk(
        &lab,
        "-n kube-system rollout restart daemonset/calico-node",
    ));
    assert_ok(&kk(
        &lab,
        "-n kube-system rollout status daemonset/calico-node --timeout=60s",
    ));
    wait_until(secs(30), || {
        let c = std::fs::read_to_string(format!(
            "/var/lib/kinet/{}/nodes/node1/root/etc/cni/net.d/10-calico.conflist",
            lab.name
        ))
        .unwrap_or_default();
        if c.contains("\"mtu\": 1450") {
            Ok(())
        } else {
            Err(format!("the conflist still says:\n{c}"))
        }
    });

    // new pods get 1450 on both ends; the old one keeps 1500
    netshoot(&lab, "new1");
    netshoot(&lab, "new2");
    assert_contains(eth0(&lab, "new1"), "mtu 1450");
    assert_contains(node_veth(&lab, "new1"), "mtu 1450");
    assert_contains(eth0(&lab, "old"), "mtu 1500");
    assert_contains(node_veth(&lab, "old"), "mtu 1500");

    // ping -M do: 1422 + 28 fits in 1450, 1472 + 28 does not
    let ip2 = lab.pod_ip("default", "new2");
    assert_ok(&lab.exec(
        "default",
        "new1",
        &["ping", "-M", "do", "-c", "1", "-W", "2", "-s", "1422", &ip2],
    ));
    let o = lab.exec(
        "default",
        "new1",
        &["ping", "-M", "do", "-c", "1", "-W", "2", "-s", "1472", &ip2],
    );
    assert!(!o.status.success(), "{}", out_err(&o));
    let said = out_err(&o).to_lowercase();
    assert!(
        said.contains("message too long") || said.contains("frag needed"),
        "{said}"
    );
}
