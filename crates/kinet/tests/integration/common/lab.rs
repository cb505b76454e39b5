//! A real lab, named uniquely and removed even on failure, and the commands
//! that drive it.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static N: AtomicUsize = AtomicUsize::new(0);

pub fn kinet_bin() -> &'static str {
    env!("CARGO_BIN_EXE_kinet")
}

pub struct Lab {
    pub name: String,
    pub kubeconfig: PathBuf,
}

pub fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
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
        assert!(
            o.status.success(),
            "kinet up failed: {}{}",
            out(&o),
            err(&o)
        );
        lab
    }

    pub fn kinet(&self, args: &[&str]) -> Output {
        Command::new(kinet_bin())
            .arg("--name")
            .arg(&self.name)
            .args(args)
            .output()
            .expect("run kinet")
    }

    /// Runs a kubectl binary (`kubectl` or a path) against the lab.
    pub fn kubectl_with(&self, bin: &str, args: &[&str]) -> Output {
        Command::new(bin)
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .output()
            .expect("run kubectl")
    }

    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_with("kubectl", args)
    }

    /// kubectl that must succeed; returns stdout.
    pub fn k(&self, args: &[&str]) -> String {
        let o = self.kubectl(args);
        assert!(
            o.status.success(),
            "kubectl {args:?} failed: {}{}",
            out(&o),
            err(&o)
        );
        out(&o)
    }

    pub fn apply(&self, yaml: &str) {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("m.yaml");
        std::fs::write(&f, yaml).unwrap();
        self.k(&["apply", "-f", f.to_str().unwrap()]);
    }

    /// Waits until `jsonpath` of a pod reads `want`.
    pub fn wait_pod(&self, ns: &str, pod: &str, jsonpath: &str, want: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let o = self.kubectl(&[
                "get",
                "pod",
                pod,
                "-n",
                ns,
                "-o",
                &format!("jsonpath={jsonpath}"),
            ]);
            let got = out(&o);
            if got == want {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "pod {ns}/{pod}: {jsonpath} is {got:?}, want {want:?} ({})",
                err(&o)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

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
    pub fn exec(&self, ns: &str, pod: &str, cmd: &[&str]) -> Output {
        self.kinet(&[&["exec", "-n", ns, pod, "--"], cmd].concat())
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.kinet(&["down"]);
    }
}

/// The kubectl binaries of the machine, newest last: (version, path).
pub fn kubectls() -> Vec<(String, String)> {
    let mut v = Vec::new();
    for minor in 27..=40 {
        let p = format!("/usr/lib/google-cloud-sdk/bin/kubectl.1.{minor}");
        if std::path::Path::new(&p).exists() {
            v.push((format!("1.{minor}"), p));
        }
    }
    if v.is_empty() {
        v.push(("default".into(), "kubectl".into()));
    }
    v
}

/// A pod manifest pinned to a node.
pub fn busybox_pod(name: &str, node: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels:\n    app: {name}\nspec:\n  nodeSelector:\n    kubernetes.io/hostname: {node}\n  containers:\n  - name: c\n    image: busybox:1.36\n    command: [\"sleep\", \"infinity\"]\n"
    )
}
