//! A real lab, named uniquely and removed even on failure, and the commands
//! that drive it.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::check::{assert_ok, wait_until};
use super::{err, out};

static N: AtomicUsize = AtomicUsize::new(0);

pub fn kinet_bin() -> &'static str {
    env!("CARGO_BIN_EXE_kinet")
}

pub struct Lab {
    pub name: String,
    pub kubeconfig: PathBuf,
}

impl Lab {
    /// Starts a lab with a unique name; `kinet down` runs when it is dropped.
    pub fn up(nodes: usize) -> Lab {
        Self::up_with(nodes, &[])
    }

    pub fn up_with(nodes: usize, extra: &[&str]) -> Lab {
        let name = format!(
            "kt{}x{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let lab = Lab {
            kubeconfig: PathBuf::from(format!("/var/lib/kinet/{name}/kubeconfig")),
            name,
        };
        let o = lab.kinet(
            &[
                &["up", "--no-kubeconfig", "--nodes", &nodes.to_string()],
                extra,
            ]
            .concat(),
        );
        if !o.status.success() {
            // what the system components were doing, for a failure far away (CI)
            let show = |argv: &[&str]| {
                let o = lab.kinet(argv);
                format!("$ kinet {}\n{}{}", argv.join(" "), out(&o), err(&o))
            };
            let diag = [
                show(&["kubectl", "get", "pods", "-A", "-o", "wide"]),
                show(&["kubectl", "get", "events", "-n", "kube-system"]),
                show(&[
                    "kubectl",
                    "logs",
                    "-n",
                    "kube-system",
                    "-l",
                    "k8s-app=kube-proxy",
                    "--tail=30",
                    "--prefix",
                ]),
            ]
            .join("\n");
            let log = std::fs::read_to_string(format!("/var/lib/kinet/{}/daemon.log", lab.name))
                .unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            panic!(
                "kinet up failed: {}{}\n{diag}\ndaemon log (tail):\n{}",
                out(&o),
                err(&o),
                tail.join("\n")
            );
        }
        lab
    }

    /// `kinet --name LAB ARGS`.
    pub fn kinet<S: AsRef<str>>(&self, args: &[S]) -> Output {
        Command::new(kinet_bin())
            .arg("--name")
            .arg(&self.name)
            .args(args.iter().map(AsRef::as_ref))
            .output()
            .expect("run kinet")
    }

    /// The name of a lab-level host's network namespace ("node1", "router", …),
    /// for `ip -n`.
    pub fn netns(&self, host: &str) -> String {
        format!("kinet-{}-{host}", self.name)
    }

    pub fn apply(&self, yaml: &str) {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("m.yaml");
        std::fs::write(&f, yaml).unwrap();
        self.k(&["apply", "-f", f.to_str().unwrap()]);
    }

    /// Waits until `jsonpath` of a pod reads `want`.
    #[track_caller]
    pub fn wait_pod(&self, ns: &str, pod: &str, jsonpath: &str, want: &str) {
        let jsonpath_arg = format!("jsonpath={jsonpath}");
        wait_until(Duration::from_secs(30), || {
            let o = self.kubectl(&["get", "pod", pod, "-n", ns, "-o", &jsonpath_arg]);
            let got = out(&o);
            if got == want {
                Ok(())
            } else {
                Err(format!(
                    "pod {ns}/{pod}: {jsonpath} is {got:?}, want {want:?} ({})",
                    err(&o)
                ))
            }
        })
    }

    #[track_caller]
    pub fn wait_ready(&self, ns: &str, pod: &str) {
        self.wait_pod(
            ns,
            pod,
            "{.status.conditions[?(@.type==\"Ready\")].status}",
            "True",
        );
    }

    pub fn pod_ip(&self, ns: &str, pod: &str) -> String {
        self.k(&[
            "get",
            "pod",
            pod,
            "-n",
            ns,
            "-o",
            "jsonpath={.status.podIP}",
        ])
    }

    /// `kinet exec` in a pod.
    pub fn exec<S: AsRef<str>>(&self, ns: &str, pod: &str, cmd: &[S]) -> Output {
        let mut argv = vec!["exec", "-n", ns, pod, "--"];
        argv.extend(cmd.iter().map(AsRef::as_ref));
        self.kinet(&argv)
    }

    /// Kills the daemon with SIGKILL, as a crash would, and waits until it is gone
    /// (or a zombie, if nobody reaps it).
    pub fn crash_daemon(&self) {
        let pid: i32 = std::fs::read_to_string(format!("/run/kinet/{}/daemon.pid", self.name))
            .expect("the daemon's pid file")
            .trim()
            .parse()
            .expect("a pid");
        assert_ok(&super::run(&["kill", "-9", &pid.to_string()]));
        wait_until(Duration::from_secs(5), || {
            // /proc/PID/stat: "PID (COMM) STATE …"
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            match stat.rsplit_once(") ") {
                Some((_, rest)) if !rest.starts_with('Z') => {
                    Err(format!("the daemon (pid {pid}) is still running"))
                }
                _ => Ok(()),
            }
        });
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.kinet(&["down"]);
    }
}

/// A pod manifest pinned to a node.
pub fn busybox_pod(name: &str, node: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels:\n    app: {name}\nspec:\n  nodeSelector:\n    kubernetes.io/hostname: {node}\n  containers:\n  - name: c\n    image: busybox:1.36\n    command: [\"sleep\", \"infinity\"]\n"
    )
}
