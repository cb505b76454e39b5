//! What a pod can touch of the machine it runs on (issue 11, item 8). Containers are
//! host processes, but each sees the host's filesystem read-only outside its volumes
//! and a writable layer of its own (`/tmp`, `/run` …, not shared with the pod's other
//! containers nor seen by the host); a hostPath of the machine's is read-only, `/`
//! included; paths the machine does not have are the node's own.

use crate::common::*;
use std::path::{Path, PathBuf};

/// A file of the machine's that the pods must not be able to remove; removed on drop.
struct HostFile(PathBuf);

impl Drop for HostFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn pods(lab: &Lab) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: p}}
spec:
  containers:
  - name: a
    image: busybox:1.36
    command: [sleep, infinity]
    volumeMounts: [{{name: shared, mountPath: /shared}}]
  - name: b
    image: nicolaka/netshoot
    command: [sleep, infinity]
    volumeMounts: [{{name: shared, mountPath: /shared}}]
  volumes:
  - {{name: shared, emptyDir: {{}}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: root}}
spec:
  containers:
  - name: c
    image: busybox:1.36
    command: [sleep, infinity]
    volumeMounts:
    - {{name: host, mountPath: /host}}
    - {{name: own, mountPath: /own}}
    - {{name: lock, mountPath: /lock}}
  - name: ro
    image: busybox:1.36
    command: [sleep, infinity]
    securityContext: {{readOnlyRootFilesystem: true}}
  volumes:
  - {{name: host, hostPath: {{path: /}}}}
  - {{name: own, hostPath: {{path: /kinet-hostfs-{name}, type: DirectoryOrCreate}}}}
  - {{name: lock, hostPath: {{path: /run/kinet-hostfs-{name}/x.lock, type: FileOrCreate}}}}
"#,
        name = lab.name
    )
}

#[test]
fn pods_see_the_host_read_only_and_write_only_their_own_layer() {
    let lab = Lab::up(1);
    let host = HostFile(PathBuf::from(format!("/var/kinet-hostfs-{}", lab.name)));
    std::fs::write(&host.0, "host\n").unwrap();
    let hf = host.0.display().to_string();
    lab.apply(&pods(&lab));
    lab.wait_ready("default", "p");
    lab.wait_ready("default", "root");
    let sh = |c: &str, script: &str| lab.kubectl(&["exec", "p", "-c", c, "--", "sh", "-c", script]);

    // the host's files: read-only, whoever asks
    let e = assert_fails(&lab.kubectl(&args("exec p -c a -- touch /etc/kinet-x")));
    assert_contains(&e, "Read-only file system");
    assert!(!Path::new("/etc/kinet-x").exists());
    let e = assert_fails(&lab.kubectl(&["exec", "p", "-c", "b", "--", "rm", "-f", &hf]));
    assert_contains(&e, "Read-only file system");
    assert_eq!(std::fs::read_to_string(&host.0).unwrap(), "host\n");
    assert_eq!(assert_ok(&sh("a", &format!("cat {hf}"))), "host\n");

    // /tmp is the container's own: not the host's, not the other container's
    let tmp = format!("/tmp/kinet-hostfs-{}", lab.name);
    assert_ok(&sh("a", &format!("echo mine > {tmp} && cat {tmp}")));
    assert_eq!(assert_ok(&sh("a", &format!("cat {tmp}"))), "mine\n");
    assert!(
        !Path::new(&tmp).exists(),
        "the host sees a container's /tmp"
    );
    assert_fails(&sh("b", &format!("cat {tmp}")));
    // so are /run (the host's files visible, writes private) and /root
    assert_ok(&sh(
        "a",
        "echo r > /run/kinet-hostfs && echo h > /root/.kinet-hostfs",
    ));
    assert!(!Path::new("/run/kinet-hostfs").exists());
    assert!(!Path::new("/root/.kinet-hostfs").exists());
    // the pod's shared volume stays shared and writable
    assert_ok(&sh("a", "echo both > /shared/f"));
    assert_eq!(assert_ok(&sh("b", "cat /shared/f")), "both\n");
    // a private /dev that works as a runtime's does
    assert_ok(&sh(
        "a",
        "echo x > /dev/null && head -c 4 /dev/urandom | wc -c && ls /dev/pts >/dev/null && echo e >/dev/stderr && echo s > /dev/shm/s",
    ));
    assert_fails(&sh("a", "ls /dev/vda /dev/sda 2>/dev/null"));
    // kubectl cp into /tmp
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("in.txt");
    std::fs::write(&src, "copied\n").unwrap();
    lab.k(&["cp", "-c", "a", src.to_str().unwrap(), "p:/tmp/in.txt"]);
    assert_eq!(assert_ok(&sh("a", "cat /tmp/in.txt")), "copied\n");
    // tcpdump -w /tmp in a netshoot container
    let o = sh(
        "b",
        "timeout 10 tcpdump -i lo -c 1 -w /tmp/x.pcap 2>/dev/null & sleep 1; ping -c 3 -i 0.2 127.0.0.1 >/dev/null; wait; test -s /tmp/x.pcap && echo captured",
    );
    assert_eq!(assert_ok(&o), "captured\n");

    // hostPath /: the machine's files, read-only
    let root = |script: &str| lab.kubectl(&["exec", "root", "-c", "c", "--", "sh", "-c", script]);
    assert_eq!(assert_ok(&root(&format!("cat /host{hf}"))), "host\n");
    let e = assert_fails(&root(&format!("rm /host{hf}")));
    assert_contains(&e, "Read-only file system");
    assert_fails(&root("touch /host/etc/kinet-y"));
    assert!(!Path::new("/etc/kinet-y").exists());
    assert_eq!(std::fs::read_to_string(&host.0).unwrap(), "host\n");
    // a hostPath the machine does not have: the node's own directory, writable
    assert_ok(&root("echo node > /own/f"));
    let own = format!("/kinet-hostfs-{}", lab.name);
    assert!(!Path::new(&own).exists(), "made on the machine");
    let node_own = format!("/var/lib/kinet/{}/nodes/node1/root{own}/f", lab.name);
    assert_eq!(std::fs::read_to_string(&node_own).unwrap(), "node\n");
    // a FileOrCreate too, with the parents the node would have
    assert_ok(&root("echo lock > /lock"));
    assert!(!Path::new(&format!("/run/kinet-hostfs-{}", lab.name)).exists());
    let lock = format!(
        "/var/lib/kinet/{}/nodes/node1/root/run/kinet-hostfs-{}/x.lock",
        lab.name, lab.name
    );
    assert_eq!(std::fs::read_to_string(&lock).unwrap(), "lock\n");
    // readOnlyRootFilesystem: no writable layer at all
    let e = assert_fails(&lab.kubectl(&args("exec root -c ro -- touch /tmp/f")));
    assert_contains(&e, "Read-only file system");
}
