//! Kernel tests of containers' own mount namespaces (volume mounts). Run as root.
//!
//! Everything a test makes on the host carries the prefix `kltestm<pid>_<n>` and is
//! removed by a Drop guard; every test also checks that the host's mounts and
//! filesystem are as they were (containers' mounts live in their own namespaces).

use std::path::{Path, PathBuf};
use std::time::Duration;

use kinet_linux::mounts::{Bind, ContainerMounts, Layer};
use kinet_linux::sandbox::{self, HolderSpec, JoinOptions, Signal};

mod common;

fn unique() -> String {
    common::unique("kltestm")
}

/// A pod (holder) with a directory of its own; removed on drop.
struct Pod {
    dir: PathBuf,
    pid: u32,
    host_mounts: String,
}

/// The host's mount points, without those that labs and kernel tests running
/// meanwhile may add (namespace handles).
fn host_mounts() -> String {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mut v: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| {
            !(m.starts_with("/run/netns/") || m.starts_with("/run/kinet/") || m.contains("kltest"))
        })
        .collect();
    v.sort();
    v.join("\n")
}

impl Pod {
    fn new(memory: bool) -> Pod {
        Pod::with(memory, false)
    }

    /// A pod whose view of the host is read-only (as kinet makes them).
    fn with(memory: bool, read_only: bool) -> Pod {
        assert!(nix::unistd::geteuid().is_root(), "run as root");
        let host_mounts = host_mounts();
        let dir = PathBuf::from("/run").join(unique());
        for d in ["vol/empty", "vol/mem", "vol/cm", "scratch1", "scratch2"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        std::fs::write(dir.join("vol/cm/key"), "value-1").unwrap();
        std::fs::write(dir.join("hosts"), "10.1.1.9\tpod\n").unwrap();
        let pid = sandbox::spawn_holder(&HolderSpec {
            hostname: "kltestm".into(),
            binds: vec![(dir.join("hosts"), PathBuf::from("/etc/hosts"))],
            argv: vec!["sleep".into(), "infinity".into()],
            netns: None,
            tmpfs: if memory {
                vec![dir.join("vol/mem")]
            } else {
                vec![]
            },
            read_only,
        })
        .expect("spawn holder");
        Pod {
            dir,
            pid,
            host_mounts,
        }
    }

    fn mounts(&self, scratch: &str, binds: &[(&Path, &str, bool)]) -> ContainerMounts {
        ContainerMounts {
            binds: binds
                .iter()
                .map(|(s, t, ro)| Bind {
                    source: s.to_path_buf(),
                    target: PathBuf::from(t),
                    read_only: *ro,
                })
                .collect(),
            scratch: self.dir.join(scratch),
            layer: None,
        }
    }

    /// Starts `sh -c script` as a container with `mounts`; returns the child.
    fn container(&self, mounts: ContainerMounts, script: &str) -> tokio::process::Child {
        let mut cmd = tokio::process::Command::new("/bin/sh");
        cmd.args(["-c", script])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let report = sandbox::join_container(
            &mut cmd,
            self.pid,
            &JoinOptions {
                workdir: None,
                setsid: true,
                mounts: Some(mounts),
            },
        )
        .expect("plan the container's mounts");
        cmd.spawn()
            .map_err(|e| report.explain(e))
            .expect("spawn the container")
    }

    /// Runs `script` inside the namespaces of `pid` (as kubectl exec does).
    fn exec(&self, pid: u32, script: &str) -> String {
        common::joined_output(pid, &["/bin/sh", "-c", script], None)
    }
}

impl Drop for Pod {
    fn drop(&mut self) {
        let _ = sandbox::kill(self.pid, Signal::Kill);
        std::thread::sleep(Duration::from_millis(20));
        let _ = std::fs::remove_dir_all(&self.dir);
        if !std::thread::panicking() {
            assert_eq!(host_mounts(), self.host_mounts, "the host's mounts changed");
        }
    }
}

async fn output(child: tokio::process::Child) -> String {
    let out = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .expect("container finished")
        .unwrap();
    assert!(
        out.status.success(),
        "container failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn volumes_appear_only_inside_the_container() {
    let pod = Pod::new(false);
    let top = format!("/{}", unique());
    let etc = format!("/etc/{}", unique());
    let run = unique();
    let sa = format!("/var/run/{run}/kubernetes.io/serviceaccount");
    let vol = pod.dir.join("vol");
    let mounts = pod.mounts(
        "scratch1",
        &[
            (&vol.join("empty"), &top, false),
            (&vol.join("cm"), &format!("{etc}/config"), true),
            (&vol.join("cm"), &sa, true),
            (&vol.join("cm/key"), &format!("{top}/sub/app.conf"), true),
        ],
    );
    let script = format!(
        "set -e
        cat {etc}/config/key; echo
        cat {sa}/key; echo
        cat {top}/sub/app.conf; echo
        echo written > {top}/out
        if echo x > {etc}/config/new 2>/dev/null; then echo WRITABLE; fi
        grep -c pod /etc/hosts
        test -r /proc/self/status && echo proc
        test -c /dev/null && echo dev
        test -x /bin/sh && echo bin
        echo $$ > {top}/pid
        exec sleep 30"
    );
    let child = pod.container(mounts, &script);
    let pid = child.id().unwrap();
    // wait for the container to get going, then exec into its namespaces
    let mut seen = String::new();
    for _ in 0..200 {
        seen = std::fs::read_to_string(vol.join("empty/pid")).unwrap_or_default();
        if !seen.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(seen.trim(), pid.to_string(), "the container wrote its pid");
    // kubectl exec: setns into the container's namespaces sees the same mounts
    assert_eq!(pod.exec(pid, &format!("cat {etc}/config/key")), "value-1");
    assert_eq!(pod.exec(pid, &format!("cat {top}/out")), "written\n");
    // the pod's own namespace (and the host) do not have them
    assert!(
        !Path::new(&top).exists(),
        "{top} must not exist on the host"
    );
    assert!(
        !Path::new(&etc).exists(),
        "{etc} must not exist on the host"
    );
    assert!(!Path::new(&format!("/run/{run}")).exists());
    assert!(
        pod.exec(pod.pid, &format!("test -e {top} || echo absent"))
            .contains("absent")
    );
    // what the container wrote to its emptyDir is in the volume's directory
    assert_eq!(
        std::fs::read_to_string(vol.join("empty/out")).unwrap(),
        "written\n"
    );
    sandbox::kill(pid, Signal::Term).unwrap();
    let out = child.wait_with_output().await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text,
        "value-1\nvalue-1\nvalue-1\n1\nproc\ndev\nbin\n",
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("WRITABLE"), "read-only mounts are read-only");
}

#[tokio::test]
async fn containers_share_an_empty_dir_and_a_memory_volume() {
    let pod = Pod::new(true);
    let data = format!("/{}", unique());
    let vol = pod.dir.join("vol");
    let writer = pod.container(
        pod.mounts(
            "scratch1",
            &[
                (&vol.join("empty"), &data, false),
                (&vol.join("mem"), "/tmp", false),
            ],
        ),
        &format!("echo hello > {data}/shared; echo in-memory > /tmp/kltestm-mem"),
    );
    output(writer).await;
    let reader = pod.container(
        pod.mounts(
            "scratch2",
            &[
                (&vol.join("empty"), &format!("{data}/again"), false),
                (&vol.join("mem"), "/tmp", false),
            ],
        ),
        &format!("cat {data}/again/shared /tmp/kltestm-mem"),
    );
    assert_eq!(output(reader).await, "hello\nin-memory\n");
    // the memory volume lives in the pod's namespace, not on the host
    assert!(!vol.join("mem/kltestm-mem").exists());
    assert!(!Path::new("/tmp/kltestm-mem").exists());
    assert!(!Path::new(&data).exists());
}

#[tokio::test]
async fn mount_failures_say_which_step_failed() {
    let pod = Pod::new(false);
    let vol = pod.dir.join("vol");
    // a mount point inside /proc cannot be made: the overlay on /proc fails
    let mut cmd = tokio::process::Command::new("/bin/true");
    let report = sandbox::join_container(
        &mut cmd,
        pod.pid,
        &JoinOptions {
            workdir: None,
            setsid: false,
            mounts: Some(pod.mounts("scratch1", &[(&vol.join("cm"), "/proc/kltestm/x", true)])),
        },
    )
    .unwrap();
    let e = report.explain(cmd.spawn().unwrap_err());
    eprintln!("{e:#}");
    assert!(e.to_string().contains("mount overlay"), "{e:#}");
    assert!(e.to_string().contains("on /proc"), "{e:#}");
    // a missing source is refused before anything runs
    let e = sandbox::join_container(
        &mut tokio::process::Command::new("/bin/true"),
        pod.pid,
        &JoinOptions {
            mounts: Some(pod.mounts("scratch1", &[(&vol.join("nosuch"), "/tmp", true)])),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("does not exist"), "{e:#}");
}

#[tokio::test]
async fn a_layered_container_sees_the_host_read_only_but_its_own_tmp_and_dev() {
    let pod = Pod::with(true, true);
    // a file of the host's own filesystem (not under the writable /run overlay)
    let host_file = PathBuf::from("/var").join(pod.dir.file_name().unwrap());
    std::fs::write(&host_file, "host\n").unwrap();
    struct Remove(PathBuf);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let _remove = Remove(host_file.clone());
    let mut m = pod.mounts(
        "scratch1",
        &[
            (&pod.dir.join("vol/empty"), "/data/empty", false),
            (&pod.dir.join("vol/mem"), "/tmp/mem", false),
            (&pod.dir.join("vol/cm"), "/etc/kltest-config", true),
        ],
    );
    m.layer = Some(Layer {
        tmpfs: vec!["/tmp".into(), "/root".into()],
        overlays: vec!["/run".into()],
        private_dev: true,
        privileged: false,
    });
    let hf = host_file.display();
    let script = format!(
        "set -e
        ! touch /etc/kltest-x 2>/tmp/err; grep -q 'Read-only file system' /tmp/err
        ! rm {hf} 2>/dev/null
        ! sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward' 2>/dev/null
        echo private > /tmp/f; cat /tmp/f
        echo run > /run/kltest-f; cat /run/kltest-f
        cat {hf}
        echo vol > /data/empty/v; echo mem > /tmp/mem/m
        ! touch /etc/kltest-config/x 2>/dev/null
        cat /etc/kltest-config/key; echo
        echo > /dev/null; ls /dev/pts >/dev/null; echo shm > /dev/shm/s
        echo err > /dev/stderr
        ! touch /data/x 2>/dev/null
        echo ok"
    );
    let out = output(pod.container(m, &script)).await;
    assert_eq!(out, "private\nrun\nhost\nvalue-1\nok\n");
    assert_eq!(std::fs::read_to_string(&host_file).unwrap(), "host\n");
    assert!(
        !Path::new("/tmp/f").exists() || std::fs::read_to_string("/tmp/f").unwrap() != "private\n"
    );
    assert!(
        !Path::new("/run/kltest-f").exists(),
        "the /run overlay is private"
    );
    assert!(!Path::new("/etc/kltest-x").exists());
    assert_eq!(
        std::fs::read_to_string(pod.dir.join("vol/empty/v")).unwrap(),
        "vol\n",
        "volumes stay writable"
    );
    // the holder's own view is read-only as well (kubectl exec into a pod whose
    // container is not running lands there)
    let out = pod.exec(
        pod.pid,
        "touch /etc/kltest-y 2>&1; echo > /tmp/kltest-z 2>&1; true",
    );
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(!Path::new("/tmp/kltest-z").exists());
}

#[tokio::test]
async fn a_writable_volume_through_a_symbolic_link_is_refused() {
    let pod = Pod::with(false, true);
    let vol = pod.dir.join("vol");
    std::os::unix::fs::symlink(vol.join("empty"), vol.join("link")).unwrap();
    let layer = Layer {
        tmpfs: vec!["/tmp".into()],
        ..Default::default()
    };
    let mut m = pod.mounts("scratch1", &[(&vol.join("link"), "/tmp/v", false)]);
    m.layer = Some(layer.clone());
    let mut cmd = tokio::process::Command::new("/bin/true");
    let report = sandbox::join_container(
        &mut cmd,
        pod.pid,
        &JoinOptions {
            mounts: Some(m),
            ..Default::default()
        },
    )
    .unwrap();
    let e = report.explain(cmd.spawn().unwrap_err());
    assert!(e.to_string().contains("open_tree"), "{e:#}");
    assert!(e.to_string().contains("symbolic links"), "{e:#}");
    // read-only, a link is followed as before
    let mut m = pod.mounts("scratch1", &[(&vol.join("link"), "/tmp/v", true)]);
    m.layer = Some(layer);
    assert_eq!(output(pod.container(m, "ls /tmp/v; echo ok")).await, "ok\n");
}
