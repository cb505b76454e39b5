//! The course's commands, as written (../shared/seeds/), with `kinet kubectl`
//! in place of `microk8s kubectl`, `kinet ssh node1` for "on the node" and
//! `kinet ssh outside` for "from your machine": one module per chapter, the
//! shared `Course` harness and manifests here.

use crate::common::*;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

mod c000;
mod c000_dns;
mod c001;
mod c002;
mod c003;

struct Course {
    lab: Lab,
}

impl Course {
    /// `kinet kubectl LINE`, the line split as a shell would.
    fn k(&self, line: &str) -> Output {
        let mut argv = vec!["kubectl".to_string()];
        argv.extend(args(line));
        self.lab.kinet(&argv)
    }

    /// `kinet kubectl LINE`, which must succeed: its stdout.
    #[track_caller]
    fn ok(&self, line: &str) -> String {
        let o = self.k(line);
        assert!(o.status.success(), "kinet kubectl {line}: {}", out_err(&o));
        out(&o)
    }

    /// A `kinet --name LAB kubectl LINE` to spawn.
    fn spawn(&self, line: &str) -> Command {
        let mut c = Command::new(kinet_bin());
        c.args(["--name", &self.lab.name, "kubectl"])
            .args(args(line));
        c
    }
}

const BACKEND: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: backend
  labels:
    app: backend
spec:
  containers:
  - name: backend
    image: registry.k8s.io/e2e-test-images/agnhost:2.53
    args: ["netexec", "--http-port=8080"]
    ports:
    - containerPort: 8080
"#;

const CHATTY: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: chatty
spec:
  containers:
  - name: app
    image: busybox
    command: ["sh", "-c", "for i in $(seq 1 100); do echo line $i; done; echo Listening on port 8080; test -e /state/crashed && exec sleep 3600; touch /state/crashed; sleep 1; exit 1"]
    volumeMounts:
    - {name: state, mountPath: /state}
  - name: sidecar
    image: busybox
    command: ["sh", "-c", "echo sidecar up; sleep 3600"]
  volumes:
  - {name: state, emptyDir: {}}
"#;

const NGINX: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx
spec:
  replicas: 3
  selector:
    matchLabels:
      app: nginx
  template:
    metadata:
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: nginx:alpine
        ports:
        - containerPort: 80
        readinessProbe:
          httpGet:
            path: /
            port: 80
          periodSeconds: 1
"#;

impl Course {
    /// Writes `yaml` to a file named `name` in a fresh directory, as the course
    /// saves its manifests before `kubectl apply -f`; returns the directory and
    /// the file's path.
    fn manifest(&self, name: &str, yaml: &str) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join(name);
        std::fs::write(&f, yaml).unwrap();
        let path = f.to_str().unwrap().to_string();
        (dir, path)
    }

    /// `kinet ssh HOST -- CMD`, which must succeed: its stdout.
    #[track_caller]
    fn ssh(&self, host: &str, cmd: &str) -> String {
        let mut argv = vec!["ssh".to_string(), host.to_string(), "--".to_string()];
        argv.extend(args(cmd));
        assert_ok(&self.lab.kinet(&argv))
    }

    /// `kinet ssh HOST -- CMD` until it succeeds: its stdout.
    #[track_caller]
    fn ssh_until(&self, host: &str, cmd: &str) -> String {
        let mut argv = vec!["ssh".to_string(), host.to_string(), "--".to_string()];
        argv.extend(args(cmd));
        wait_until(secs(30), || {
            let o = self.lab.kinet(&argv);
            if o.status.success() {
                Ok(out(&o))
            } else {
                Err(format!("kinet ssh {host} -- {cmd}: {}", out_err(&o)))
            }
        })
    }

    /// `kinet kubectl LINE` until it succeeds: its stdout and stderr.
    #[track_caller]
    fn until(&self, line: &str) -> String {
        wait_until(secs(30), || {
            let o = self.k(line);
            if o.status.success() {
                Ok(out_err(&o))
            } else {
                Err(format!("kinet kubectl {line}: {}", out_err(&o)))
            }
        })
    }
}
