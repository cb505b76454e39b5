//! The real kubectl (every version on the machine) against a lab: the commands
//! of the course, their output and their errors.

use crate::common::*;

const POD: &str = "apiVersion: v1
kind: Pod
metadata:
  name: NAME
  labels:
    app: web
spec:
  containers:
  - name: c
    image: busybox:1.36
    command: [\"sleep\", \"infinity\"]
";

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn every_kubectl_version_drives_pods() {
    let lab = Lab::up(1);
    let dir = tempfile::tempdir().unwrap();
    for (ver, bin) in kubectls() {
        let name = format!("p{}", ver.replace('.', "-"));
        let f = write(&dir, &format!("{name}.yaml"), &POD.replace("NAME", &name));
        let k = |args: &[&str]| {
            let o = lab.kubectl_with(&bin, args);
            assert!(
                o.status.success(),
                "kubectl {ver} {args:?}: {}{}",
                out(&o),
                err(&o)
            );
            out(&o)
        };
        assert_eq!(
            k(&["apply", "-f", &f]).trim(),
            format!("pod/{name} created"),
            "kubectl {ver}"
        );
        assert_eq!(
            k(&["apply", "-f", &f]).trim(),
            format!("pod/{name} unchanged"),
            "kubectl {ver}"
        );
        lab.wait_ready("default", &name);
        let table = k(&["get", "pod", &name]);
        let mut lines = table.lines();
        let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
        assert_eq!(
            header,
            ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
            "kubectl {ver}"
        );
        let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
        assert_eq!(
            &row[..4],
            [name.as_str(), "1/1", "Running", "0"],
            "kubectl {ver}"
        );
        let wide = k(&["get", "pod", &name, "-o", "wide"]);
        assert!(
            wide.contains("NOMINATED NODE") && wide.contains("10.1.1.") && wide.contains("node1"),
            "{wide}"
        );
        let json: serde_json::Value =
            serde_json::from_str(&k(&["get", "pod", &name, "-o", "json"])).unwrap();
        assert_eq!(json["kind"], "Pod");
        assert_eq!(json["spec"]["restartPolicy"], "Always");
        assert_eq!(json["status"]["phase"], "Running");
        assert!(k(&["get", "pod", &name, "-o", "yaml"]).contains("podIP: 10.1.1."));
        k(&["label", "pod", &name, "tier=front"]);
        k(&["annotate", "pod", &name, "note=hello"]);
        k(&[
            "patch",
            "pod",
            &name,
            "-p",
            r#"{"metadata":{"labels":{"s":"1"}}}"#,
        ]);
        k(&[
            "patch",
            "pod",
            &name,
            "--type=merge",
            "-p",
            r#"{"metadata":{"labels":{"m":"1"}}}"#,
        ]);
        k(&[
            "patch",
            "pod",
            &name,
            "--type=json",
            "-p",
            r#"[{"op":"add","path":"/metadata/labels/j","value":"1"}]"#,
        ]);
        k(&["label", "pod", &name, "tier-"]);
        let labels = k(&["get", "pod", &name, "--show-labels"]);
        assert!(
            labels.contains("app=web,j=1,m=1,s=1"),
            "kubectl {ver}: {labels}"
        );
        assert_eq!(
            k(&[
                "get",
                "pod",
                &name,
                "-o",
                "jsonpath={.metadata.annotations.note}"
            ]),
            "hello"
        );
        assert!(k(&["get", "pods", "-l", "m=1", "-o", "name"]).contains(&format!("pod/{name}")));
        let d = k(&["describe", "pod", &name]);
        assert!(
            d.contains(&format!("Successfully assigned default/{name} to node1")),
            "kubectl {ver}: {d}"
        );
        assert!(d.contains("Started container c"), "kubectl {ver}: {d}");
        assert!(
            d.lines()
                .any(|l| l.starts_with("IP:") && l.contains("10.1.1.")),
            "kubectl {ver}: {d}"
        );
        assert_eq!(
            k(&["delete", "pod", &name]).trim(),
            format!("pod \"{name}\" deleted")
        );
        // delete waited: the pod is gone
        let o = lab.kubectl_with(&bin, &["get", "pod", &name]);
        assert!(!o.status.success());
        assert_eq!(
            err(&o).trim(),
            format!("Error from server (NotFound): pods \"{name}\" not found"),
            "kubectl {ver}"
        );
    }
}

#[test]
fn bad_input_gets_the_api_servers_errors() {
    let lab = Lab::up(1);
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "unknown.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  containers:\n  - name: c\n    image: busybox\n    imagee: typo\n",
    );
    let o = lab.kubectl(&["apply", "-f", &f]);
    assert!(!o.status.success());
    assert!(
        err(&o).contains("strict decoding error: unknown field \"spec.containers[0].imagee\""),
        "{}",
        err(&o)
    );
    let f = write(
        &dir,
        "invalid.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: Bad_Name\nspec:\n  containers:\n  - name: c\n",
    );
    let o = lab.kubectl(&["apply", "-f", &f, "--validate=false"]);
    assert!(!o.status.success());
    let e = err(&o);
    assert!(e.contains("The Pod \"Bad_Name\" is invalid:"), "{e}");
    assert!(
        e.contains("metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"),
        "{e}"
    );
    assert!(
        e.contains("spec.containers[0].image: Required value"),
        "{e}"
    );
    // nothing partial was stored
    assert_eq!(lab.k(&["get", "pods", "-o", "name"]).trim(), "");
    let o = lab.kubectl(&["get", "foos"]);
    assert!(
        err(&o).contains("the server doesn't have a resource type \"foos\""),
        "{}",
        err(&o)
    );
    let o = lab.kubectl(&["get", "pod", "nope", "-n", "nowhere"]);
    // kubectl looks the namespace up when a get fails, as against a real cluster
    assert!(
        err(&o).contains("namespaces \"nowhere\" not found"),
        "{}",
        err(&o)
    );
    let f = write(
        &dir,
        "nons.yaml",
        &POD.replace("NAME", "p")
            .replace("  labels:", "  namespace: nowhere\n  labels:"),
    );
    let o = lab.kubectl(&["apply", "-f", &f]);
    assert!(
        err(&o).contains("namespaces \"nowhere\" not found"),
        "{}",
        err(&o)
    );
    let o = lab.kubectl(&["delete", "namespace", "default"]);
    assert!(
        err(&o).contains("namespaces \"default\" is forbidden: this namespace may not be deleted"),
        "{}",
        err(&o)
    );
}

#[test]
fn lists_watches_and_namespaces() {
    let lab = Lab::up(2);
    lab.k(&["create", "namespace", "team-a"]);
    let dir = tempfile::tempdir().unwrap();
    let cm = write(
        &dir,
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  namespace: team-a\ndata:\n  a: \"1\"\n  b: \"2\"\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: team-a\nstringData:\n  p: x\n",
    );
    lab.k(&["create", "-f", &cm]);
    for n in ["b-pod", "a-pod"] {
        lab.apply(
            &POD.replace("NAME", n)
                .replace("  labels:", "  namespace: team-a\n  labels:"),
        );
    }
    lab.wait_ready("team-a", "a-pod");
    lab.wait_ready("team-a", "b-pod");
    let cms = lab.k(&["get", "cm", "-n", "team-a"]);
    assert!(
        cms.lines()
            .any(|l| l.starts_with("cfg") && l.split_whitespace().nth(1) == Some("2")),
        "{cms}"
    );
    assert!(cms.contains("kube-root-ca.crt"), "{cms}");
    let sa = lab.k(&["get", "sa", "-n", "team-a", "-o", "name"]);
    assert_eq!(sa.trim(), "serviceaccount/default");
    let sorted = lab.k(&[
        "get",
        "pods",
        "-n",
        "team-a",
        "--sort-by=.metadata.name",
        "-o",
        "name",
    ]);
    assert_eq!(sorted.trim(), "pod/a-pod\npod/b-pod");
    let all = lab.k(&["get", "pods", "-A"]);
    assert!(all.starts_with("NAMESPACE"), "{all}");
    // a watch sees a new pod go from Pending to Running
    let mut w = std::process::Command::new("kubectl")
        .args(["get", "pods", "-n", "team-a", "-w", "--request-timeout=4s"])
        .env("KUBECONFIG", &lab.kubeconfig)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    lab.apply(
        &POD.replace("NAME", "c-pod")
            .replace("  labels:", "  namespace: team-a\n  labels:"),
    );
    lab.wait_ready("team-a", "c-pod");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let _ = w.kill();
    let o = w.wait_with_output().unwrap();
    let text = out(&o);
    assert!(
        text.lines()
            .any(|l| l.starts_with("c-pod") && l.contains("Running")),
        "{text}"
    );
    // deleting the namespace deletes its content, then the namespace
    let o = lab.kubectl(&["delete", "namespace", "team-a", "--timeout=60s"]);
    assert!(o.status.success(), "{}", err(&o));
    let o = lab.kubectl(&["get", "namespace", "team-a"]);
    assert!(!o.status.success());
    assert_eq!(
        lab.k(&["get", "pods", "-n", "team-a", "-o", "name"]).trim(),
        ""
    );
    let events = lab.k(&["get", "events", "-A", "--sort-by=.lastTimestamp"]);
    // node events remain; the namespace's events went with it
    assert!(events.contains("Starting kubelet."), "{events}");
    assert!(!events.lines().any(|l| l.starts_with("team-a")), "{events}");
}

#[test]
fn restart_policies_and_exit_codes() {
    let lab = Lab::up(1);
    let pod = |name: &str, policy: &str, script: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  restartPolicy: {policy}\n  containers:\n  - name: c\n    image: busybox\n    command: [\"sh\", \"-c\", \"{script}\"]\n"
        )
    };
    lab.apply(&pod("done", "Never", "echo finished; exit 0"));
    lab.apply(&pod("fails", "Never", "exit 3"));
    lab.apply(&pod("crash", "Always", "echo crashing; exit 1"));
    lab.wait_pod("default", "done", "{.status.phase}", "Succeeded");
    lab.wait_pod("default", "fails", "{.status.phase}", "Failed");
    lab.wait_pod(
        "default",
        "fails",
        "{.status.containerStatuses[0].state.terminated.exitCode}",
        "3",
    );
    assert_eq!(lab.k(&["logs", "done"]), "finished\n");
    // restarted at once, then back-off
    lab.wait_pod(
        "default",
        "crash",
        "{.status.containerStatuses[0].state.waiting.reason}",
        "CrashLoopBackOff",
    );
    let table = lab.k(&["get", "pods"]);
    let status = |n: &str| {
        table
            .lines()
            .find(|l| l.starts_with(n))
            .unwrap()
            .split_whitespace()
            .nth(2)
            .unwrap()
            .to_string()
    };
    assert_eq!(status("done"), "Completed", "{table}");
    assert_eq!(status("fails"), "Error", "{table}");
    assert_eq!(status("crash"), "CrashLoopBackOff", "{table}");
    assert_eq!(lab.k(&["logs", "crash", "--previous"]), "crashing\n");
    let d = lab.k(&["describe", "pod", "crash"]);
    assert!(d.contains("Back-off restarting failed container"), "{d}");
    // graceful deletion: SIGTERM reaches the process, which exits at once
    lab.apply("apiVersion: v1\nkind: Pod\nmetadata:\n  name: trap\nspec:\n  containers:\n  - name: c\n    image: busybox\n    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 0.1; done\"]\n");
    lab.wait_ready("default", "trap");
    let t = std::time::Instant::now();
    lab.k(&["delete", "pod", "trap"]);
    assert!(
        t.elapsed() < std::time::Duration::from_secs(20),
        "SIGTERM was not delivered (took {:?})",
        t.elapsed()
    );
    // a process that ignores SIGTERM is killed when the grace period ends
    lab.apply("apiVersion: v1\nkind: Pod\nmetadata:\n  name: stubborn\nspec:\n  terminationGracePeriodSeconds: 2\n  containers:\n  - name: c\n    image: busybox\n    command: [\"sh\", \"-c\", \"trap '' TERM; while true; do sleep 0.1; done\"]\n");
    lab.wait_ready("default", "stubborn");
    let t = std::time::Instant::now();
    lab.k(&["delete", "pod", "stubborn"]);
    let took = t.elapsed();
    assert!(
        took >= std::time::Duration::from_millis(1500),
        "deleted before the grace period ended ({took:?})"
    );
    assert!(
        took < std::time::Duration::from_secs(15),
        "SIGKILL did not follow the grace period ({took:?})"
    );
}

#[test]
fn typed_create_commands_of_every_kubectl() {
    // kubectl 1.32+ sends these bodies as protobuf, older versions as JSON
    let lab = Lab::up(1);
    for (ver, bin) in kubectls() {
        let ns = format!("n{}", ver.replace('.', "-"));
        let k = |args: &[&str]| {
            let o = lab.kubectl_with(&bin, args);
            assert!(
                o.status.success(),
                "kubectl {ver} {args:?}: {}{}",
                out(&o),
                err(&o)
            );
            out(&o)
        };
        assert_eq!(
            k(&["create", "namespace", &ns]).trim(),
            format!("namespace/{ns} created")
        );
        k(&[
            "create",
            "configmap",
            "cfg",
            "--from-literal=a=1",
            "--from-literal=b=2",
            "-n",
            &ns,
        ]);
        k(&[
            "create",
            "secret",
            "generic",
            "pw",
            "--from-literal=p=s3cret",
            "-n",
            &ns,
        ]);
        k(&["create", "serviceaccount", "robot", "-n", &ns]);
        k(&[
            "run",
            "r",
            "--image=busybox",
            "--labels=app=r",
            "-n",
            &ns,
            "--",
            "sleep",
            "infinity",
        ]);
        assert_eq!(
            k(&["get", "cm", "cfg", "-n", &ns, "-o", "jsonpath={.data.b}"]),
            "2"
        );
        assert_eq!(
            k(&["get", "secret", "pw", "-n", &ns, "-o", "jsonpath={.data.p}"]),
            "czNjcmV0"
        );
        assert_eq!(
            k(&["get", "secret", "pw", "-n", &ns, "-o", "jsonpath={.type}"]),
            "Opaque"
        );
        assert!(k(&["get", "sa", "-n", &ns]).contains("robot"));
        lab.wait_ready(&ns, "r");
        assert_eq!(
            k(&[
                "get",
                "pod",
                "r",
                "-n",
                &ns,
                "-o",
                "jsonpath={.metadata.labels.app}"
            ]),
            "r"
        );
        let args = k(&[
            "get",
            "pod",
            "r",
            "-n",
            &ns,
            "-o",
            "jsonpath={.spec.containers[0].args}",
        ]);
        assert_eq!(args, r#"["sleep","infinity"]"#, "kubectl {ver}");
    }
}

#[test]
fn exec_and_logs() {
    let lab = Lab::up(1);
    lab.apply(&POD.replace("NAME", "box"));
    lab.apply("apiVersion: v1\nkind: Pod\nmetadata:\n  name: talker\nspec:\n  containers:\n  - name: a\n    image: busybox\n    command: [\"sh\", \"-c\", \"for i in 1 2 3 4 5; do echo line $i; done; sleep infinity\"]\n  - name: b\n    image: busybox\n    command: [\"sh\", \"-c\", \"echo from-b; sleep infinity\"]\n");
    lab.wait_ready("default", "box");
    lab.wait_ready("default", "talker");
    // exec over WebSocket: kubectl 1.30 and later
    for (ver, bin) in kubectls()
        .into_iter()
        .filter(|(v, _)| v.as_str() >= "1.30" || v == "default")
    {
        let o = lab.kubectl_with(
            &bin,
            &[
                "exec",
                "box",
                "--",
                "sh",
                "-c",
                "hostname; echo oops >&2; exit 3",
            ],
        );
        assert_eq!(out(&o), "box\n", "kubectl {ver}");
        assert!(
            err(&o).contains("oops") && err(&o).contains("command terminated with exit code 3"),
            "kubectl {ver}: {}",
            err(&o)
        );
        assert_eq!(o.status.code(), Some(3), "kubectl {ver}");
    }
    // stdin, and the pod's own network view
    let mut child = std::process::Command::new("kubectl")
        .args([
            "exec",
            "-i",
            "box",
            "--",
            "sh",
            "-c",
            "cat; ip -4 -o addr show eth0",
        ])
        .env("KUBECONFIG", &lab.kubeconfig)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"through stdin\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    let text = out(&o);
    assert!(
        text.starts_with("through stdin\n") && text.contains("inet 10.1.1."),
        "{text}"
    );
    // errors as a cluster gives them
    let o = lab.kubectl(&["exec", "box", "--", "no-such-tool"]);
    assert!(
        err(&o).contains("exec: \"no-such-tool\": executable file not found in $PATH"),
        "{}",
        err(&o)
    );
    assert_eq!(o.status.code(), Some(126));
    let o = lab.kubectl(&["exec", "box", "-c", "nope", "--", "true"]);
    assert!(
        err(&o).contains("container nope is not valid for pod box"),
        "{}",
        err(&o)
    );
    let o = lab.kubectl(&["exec", "ghost", "--", "true"]);
    assert!(err(&o).contains("pods \"ghost\" not found"), "{}", err(&o));
    // logs: container choice, tail, timestamps, follow
    assert_eq!(lab.k(&["logs", "talker", "-c", "b"]), "from-b\n");
    assert_eq!(
        lab.k(&["logs", "talker", "-c", "a", "--tail=2"]),
        "line 4\nline 5\n"
    );
    let ts = lab.k(&["logs", "talker", "-c", "a", "--timestamps", "--tail=1"]);
    assert!(ts.ends_with("Z line 5\n") && ts.starts_with("20"), "{ts}");
    // kubectl picks the first container, and says so
    let o = lab.kubectl(&["logs", "talker"]);
    assert!(
        err(&o).contains("Defaulted container \"a\" out of: a, b"),
        "{}",
        err(&o)
    );
    assert!(out(&o).starts_with("line 1\n"));
    let all = lab.k(&["logs", "talker", "--all-containers"]);
    assert!(all.contains("line 1") && all.contains("from-b"), "{all}");
    let o = std::process::Command::new("timeout")
        .args(["2", "kubectl", "logs", "-f", "talker", "-c", "a"])
        .env("KUBECONFIG", &lab.kubeconfig)
        .output()
        .unwrap();
    assert!(out(&o).contains("line 5"), "{}", out(&o));
    // kubectl cp: tar over exec, both ways (pods see the host's filesystem: a unique name)
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("in.txt");
    std::fs::write(&src, "copied\n").unwrap();
    let remote = format!("/tmp/kinet-cp-{}.txt", lab.name);
    lab.k(&["cp", src.to_str().unwrap(), &format!("box:{remote}")]);
    assert_eq!(
        out(&lab.exec("default", "box", &["cat", &remote])),
        "copied\n"
    );
    let back = dir.path().join("back.txt");
    lab.k(&["cp", &format!("box:{remote}"), back.to_str().unwrap()]);
    let _ = std::fs::remove_file(&remote);
    assert_eq!(std::fs::read_to_string(back).unwrap(), "copied\n");
}

#[test]
fn deployments_roll_out_scale_and_go() {
    let lab = Lab::up(2);
    // the course's Deployment: nginx, 3 replicas
    lab.apply(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
        ports:
        - containerPort: 80
",
    );
    lab.k(&["rollout", "status", "deploy/web", "--timeout=60s"]);
    let d = lab.k(&["get", "deploy", "web"]);
    let row: Vec<&str> = d.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(&row[..4], ["web", "3/3", "3", "3"], "{d}");
    let pods = lab.k(&[
        "get",
        "pods",
        "-l",
        "app=web",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name} {.spec.nodeName}{\"\\n\"}{end}",
    ]);
    let rs = lab.k(&[
        "get",
        "rs",
        "-l",
        "app=web",
        "-o",
        "jsonpath={.items[0].metadata.name}",
    ]);
    assert!(
        pods.lines().all(|l| l.starts_with(&format!("{rs}-"))),
        "{pods}"
    );
    assert!(
        pods.contains("node1") && pods.contains("node2"),
        "spread over both nodes: {pods}"
    );
    // scale through the scale subresource
    lab.k(&["scale", "deploy/web", "--replicas=5"]);
    lab.k(&["rollout", "status", "deploy/web", "--timeout=60s"]);
    assert_eq!(
        lab.k(&["get", "pods", "-l", "app=web", "--no-headers"])
            .lines()
            .count(),
        5
    );
    // a rolling update to a new ReplicaSet, then back
    lab.k(&["set", "image", "deploy/web", "nginx=nginx:1.27"]);
    lab.k(&["rollout", "status", "deploy/web", "--timeout=60s"]);
    let images = lab.k(&[
        "get",
        "pods",
        "-l",
        "app=web",
        "-o",
        "jsonpath={.items[*].spec.containers[0].image}",
    ]);
    assert!(
        images.split_whitespace().all(|i| i == "nginx:1.27"),
        "{images}"
    );
    lab.k(&["rollout", "undo", "deploy/web"]);
    lab.k(&["rollout", "status", "deploy/web", "--timeout=60s"]);
    assert_eq!(
        lab.k(&["get", "rs", "-l", "app=web", "--no-headers"])
            .lines()
            .count(),
        2,
        "undo reuses the first ReplicaSet"
    );
    let history = lab.k(&["rollout", "history", "deploy/web"]);
    assert!(
        history.contains("2 ") && history.contains("3 "),
        "{history}"
    );
    let events = lab.k(&[
        "get",
        "events",
        "--field-selector",
        "reason=ScalingReplicaSet",
        "-o",
        "jsonpath={.items[*].message}",
    ]);
    assert!(
        events.contains(&format!("Scaled up replica set {rs} from 0 to 3")),
        "{events}"
    );
    // deleting the Deployment deletes its ReplicaSets and pods
    lab.k(&["delete", "deploy", "web"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let left = lab.k(&["get", "rs,pods", "-l", "app=web", "-o", "name"]);
        if left.trim().is_empty() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "left behind: {left}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn probes_drive_readiness_and_restarts() {
    let lab = Lab::up(1);
    lab.apply(
        "apiVersion: v1
kind: Pod
metadata:
  name: good
spec:
  containers:
  - name: nginx
    image: nginx
    ports:
    - name: http
      containerPort: 80
    readinessProbe:
      httpGet: {path: /, port: http}
      periodSeconds: 1
---
apiVersion: v1
kind: Pod
metadata:
  name: unready
spec:
  containers:
  - name: nginx
    image: nginx
    readinessProbe:
      httpGet: {path: /nope, port: 80}
      periodSeconds: 1
---
apiVersion: v1
kind: Pod
metadata:
  name: dying
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: [\"sleep\", \"infinity\"]
    livenessProbe:
      tcpSocket: {port: 9999}
      periodSeconds: 1
      failureThreshold: 2
",
    );
    lab.wait_ready("default", "good");
    lab.wait_pod(
        "default",
        "dying",
        "{.status.containerStatuses[0].restartCount}",
        "1",
    );
    let table = lab.k(&["get", "pods", "unready", "--no-headers"]);
    assert!(
        table.contains("0/1") && table.contains("Running"),
        "{table}"
    );
    let events = lab.k(&[
        "get",
        "events",
        "--field-selector",
        "reason=Unhealthy",
        "-o",
        "jsonpath={range .items[*]}{.involvedObject.name}: {.message}{\"\\n\"}{end}",
    ]);
    assert!(
        events.contains("unready: Readiness probe failed: HTTP probe failed with statuscode: 404"),
        "{events}"
    );
    assert!(
        events.contains("dying: Liveness probe failed: dial tcp 10.1.1."),
        "{events}"
    );
    assert!(
        events.contains(":9999: connect: connection refused"),
        "{events}"
    );
    let killing = lab.k(&[
        "get",
        "events",
        "--field-selector",
        "reason=Killing,involvedObject.name=dying",
        "-o",
        "jsonpath={.items[*].message}",
    ]);
    assert!(
        killing.contains("Container c failed liveness probe, will be restarted"),
        "{killing}"
    );
    let cond = lab.k(&[
        "get",
        "pod",
        "unready",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Ready\")].reason}",
    ]);
    assert_eq!(cond, "ContainersNotReady");
}

#[test]
fn statefulsets_and_daemonsets() {
    let lab = Lab::up(2);
    lab.apply(
        "apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  serviceName: db
  replicas: 3
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      containers:
      - name: c
        image: busybox
        command: [\"sleep\", \"infinity\"]
        readinessProbe:
          exec: {command: [\"true\"]}
          periodSeconds: 1
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:
      containers:
      - name: c
        image: busybox
        command: [\"sleep\", \"infinity\"]
",
    );
    lab.k(&["rollout", "status", "sts/db", "--timeout=60s"]);
    lab.k(&["rollout", "status", "ds/agent", "--timeout=60s"]);
    // ordinal names, stable hostnames under the governing service, started in order
    let pods = lab.k(&[
        "get",
        "pods",
        "-l",
        "app=db",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name} {.metadata.creationTimestamp}{\"\\n\"}{end}",
    ]);
    let names: Vec<&str> = pods.lines().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(names, ["db-0", "db-1", "db-2"], "{pods}");
    assert_eq!(
        out(&lab.exec("default", "db-1", &["hostname"])).trim(),
        "db-1"
    );
    let hosts = out(&lab.exec("default", "db-1", &["cat", "/etc/hosts"]));
    assert!(
        hosts.contains("db-1.db.default.svc.cluster.local\tdb-1"),
        "{hosts}"
    );
    let order = lab.k(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=db,reason=SuccessfulCreate",
        "--sort-by=.metadata.creationTimestamp",
        "-o",
        "jsonpath={.items[*].message}",
    ]);
    assert!(
        order.find("db-0").unwrap() < order.find("db-1").unwrap()
            && order.find("db-1").unwrap() < order.find("db-2").unwrap(),
        "{order}"
    );
    // one DaemonSet pod per node
    let ds = lab.k(&[
        "get",
        "pods",
        "-l",
        "app=agent",
        "-o",
        "jsonpath={.items[*].spec.nodeName}",
    ]);
    let mut nodes: Vec<&str> = ds.split_whitespace().collect();
    nodes.sort();
    assert_eq!(nodes, ["node1", "node2"]);
    // scale down from the highest ordinal
    lab.k(&["scale", "sts", "db", "--replicas=1"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while lab.k(&["get", "pods", "-l", "app=db", "-o", "name"]).trim() != "pod/db-0" {
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            lab.k(&["get", "pods", "-l", "app=db"])
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    lab.k(&["delete", "ds", "agent"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !lab
        .k(&["get", "pods", "-l", "app=agent", "-o", "name"])
        .trim()
        .is_empty()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "DaemonSet pods left behind"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn pods_get_their_environment() {
    let lab = Lab::up(1);
    lab.apply(
        "apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  MODE: fast
  LEVEL: \"3\"
---
apiVersion: v1
kind: Secret
metadata:
  name: creds
stringData:
  PASSWORD: s3cret
---
apiVersion: v1
kind: Pod
metadata:
  name: envy
  labels:
    tier: back
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox
    command: [\"sh\", \"-c\", \"env | sort\"]
    envFrom:
    - configMapRef: {name: settings}
      prefix: CFG_
    env:
    - name: GREETING
      value: hello
    - name: MESSAGE
      value: $(GREETING) world
    - name: POD_NAME
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    - name: POD_NS
      valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
    - name: NODE
      valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
    - name: TIER
      valueFrom: {fieldRef: {fieldPath: \"metadata.labels['tier']\"}}
    - name: MODE
      valueFrom: {configMapKeyRef: {name: settings, key: MODE}}
    - name: PASSWORD
      valueFrom: {secretKeyRef: {name: creds, key: PASSWORD}}
",
    );
    lab.wait_pod("default", "envy", "{.status.phase}", "Succeeded");
    let env = lab.k(&["logs", "envy"]);
    for want in [
        "CFG_LEVEL=3",
        "CFG_MODE=fast",
        "MESSAGE=hello world",
        "POD_NAME=envy",
        "POD_NS=default",
        "NODE=node1",
        "TIER=back",
        "MODE=fast",
        "PASSWORD=s3cret",
        "HOSTNAME=envy",
        "KUBERNETES_SERVICE_HOST=10.152.183.1",
    ] {
        assert!(
            env.lines().any(|l| l == want),
            "{want} missing from:\n{env}"
        );
    }
}
