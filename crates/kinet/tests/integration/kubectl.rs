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
    per_version(lab.kubectls(), |k| {
        let name = format!("p{}", k.version.replace('.', "-"));
        let f = write(&dir, &format!("{name}.yaml"), &POD.replace("NAME", &name));
        assert_eq!(
            k.ok(&["apply", "-f", &f]).trim(),
            format!("pod/{name} created")
        );
        assert_eq!(
            k.ok(&["apply", "-f", &f]).trim(),
            format!("pod/{name} unchanged")
        );
        lab.wait_ready("default", &name);
        let table = k.ok(&["get", "pod", &name]);
        let mut lines = table.lines();
        let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
        assert_eq!(header, ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
        let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
        assert_eq!(&row[..4], [name.as_str(), "1/1", "Running", "0"]);
        let wide = k.ok(&["get", "pod", &name, "-o", "wide"]);
        for want in ["NOMINATED NODE", "10.1.1.", "node1"] {
            assert_contains(&wide, want);
        }
        let json: serde_json::Value =
            serde_json::from_str(&k.ok(&["get", "pod", &name, "-o", "json"])).unwrap();
        assert_eq!(json["kind"], "Pod");
        assert_eq!(json["spec"]["restartPolicy"], "Always");
        assert_eq!(json["status"]["phase"], "Running");
        assert_contains(k.ok(&["get", "pod", &name, "-o", "yaml"]), "podIP: 10.1.1.");
        k.ok(&["label", "pod", &name, "tier=front"]);
        k.ok(&["annotate", "pod", &name, "note=hello"]);
        k.ok(&[
            "patch",
            "pod",
            &name,
            "-p",
            r#"{"metadata":{"labels":{"s":"1"}}}"#,
        ]);
        k.ok(&[
            "patch",
            "pod",
            &name,
            "--type=merge",
            "-p",
            r#"{"metadata":{"labels":{"m":"1"}}}"#,
        ]);
        k.ok(&[
            "patch",
            "pod",
            &name,
            "--type=json",
            "-p",
            r#"[{"op":"add","path":"/metadata/labels/j","value":"1"}]"#,
        ]);
        k.ok(&["label", "pod", &name, "tier-"]);
        assert_contains(
            k.ok(&["get", "pod", &name, "--show-labels"]),
            "app=web,j=1,m=1,s=1",
        );
        assert_eq!(
            k.ok(&[
                "get",
                "pod",
                &name,
                "-o",
                "jsonpath={.metadata.annotations.note}"
            ]),
            "hello"
        );
        assert_contains(
            k.ok(&["get", "pods", "-l", "m=1", "-o", "name"]),
            format!("pod/{name}"),
        );
        let d = k.ok(&["describe", "pod", &name]);
        assert_contains(&d, format!("Successfully assigned default/{name} to node1"));
        assert_contains(&d, "Started container c");
        assert!(
            d.lines()
                .any(|l| l.starts_with("IP:") && l.contains("10.1.1.")),
            "{d}"
        );
        assert_eq!(
            k.ok(&["delete", "pod", &name]).trim(),
            format!("pod \"{name}\" deleted")
        );
        // delete waited: the pod is gone
        let e = assert_fails(&k.run(&["get", "pod", &name]));
        assert_eq!(
            e.trim(),
            format!("Error from server (NotFound): pods \"{name}\" not found")
        );
    });
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
    assert_contains(
        assert_fails(&lab.kubectl(&["apply", "-f", &f])),
        "strict decoding error: unknown field \"spec.containers[0].imagee\"",
    );
    let f = write(
        &dir,
        "invalid.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: Bad_Name\nspec:\n  containers:\n  - name: c\n",
    );
    let e = assert_fails(&lab.kubectl(&["apply", "-f", &f, "--validate=false"]));
    assert_contains(&e, "The Pod \"Bad_Name\" is invalid:");
    assert_contains(
        &e,
        "metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain",
    );
    assert_contains(&e, "spec.containers[0].image: Required value");
    // nothing partial was stored
    assert_eq!(lab.k(&args("get pods -o name")).trim(), "");
    assert_contains(
        assert_fails(&lab.kubectl(&args("get foos"))),
        "the server doesn't have a resource type \"foos\"",
    );
    // kubectl looks the namespace up when a get fails, as against a real cluster
    assert_contains(
        assert_fails(&lab.kubectl(&args("get pod nope -n nowhere"))),
        "namespaces \"nowhere\" not found",
    );
    let f = write(
        &dir,
        "nons.yaml",
        &POD.replace("NAME", "p")
            .replace("  labels:", "  namespace: nowhere\n  labels:"),
    );
    assert_contains(
        assert_fails(&lab.kubectl(&["apply", "-f", &f])),
        "namespaces \"nowhere\" not found",
    );
    assert_contains(
        assert_fails(&lab.kubectl(&args("delete namespace default"))),
        "namespaces \"default\" is forbidden: this namespace may not be deleted",
    );
}

#[test]
fn lists_watches_and_namespaces() {
    let lab = Lab::up(2);
    lab.k(&args("create namespace team-a"));
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
    let cms = lab.k(&args("get cm -n team-a"));
    assert!(
        cms.lines()
            .any(|l| l.starts_with("cfg") && l.split_whitespace().nth(1) == Some("2")),
        "{cms}"
    );
    assert_contains(&cms, "kube-root-ca.crt");
    let sa = lab.k(&args("get sa -n team-a -o name"));
    assert_eq!(sa.trim(), "serviceaccount/default");
    let sorted = lab.k(&args("get pods -n team-a --sort-by=.metadata.name -o name"));
    assert_eq!(sorted.trim(), "pod/a-pod\npod/b-pod");
    let all = lab.k(&args("get pods -A"));
    assert!(all.starts_with("NAMESPACE"), "{all}");
    // a watch sees a new pod go from Pending to Running
    let mut w = lab
        .path_kubectl()
        .command()
        .args(args("get pods -n team-a -w --request-timeout=4s"))
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
    let text = out(&w.wait_with_output().unwrap());
    assert!(
        text.lines()
            .any(|l| l.starts_with("c-pod") && l.contains("Running")),
        "{text}"
    );
    // deleting the namespace deletes its content, then the namespace
    assert_ok(&lab.kubectl(&args("delete namespace team-a --timeout=60s")));
    assert_contains(
        assert_fails(&lab.kubectl(&args("get namespace team-a"))),
        "Error from server (NotFound): namespaces \"team-a\" not found",
    );
    assert_eq!(lab.k(&args("get pods -n team-a -o name")).trim(), "");
    let events = lab.k(&args("get events -A --sort-by=.lastTimestamp"));
    // node events remain; the namespace's events went with it
    assert_contains(&events, "Starting kubelet.");
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
    assert_eq!(lab.k(&args("logs done")), "finished\n");
    // restarted at once, then back-off
    lab.wait_pod(
        "default",
        "crash",
        "{.status.containerStatuses[0].state.waiting.reason}",
        "CrashLoopBackOff",
    );
    let table = lab.k(&args("get pods"));
    let status = |n: &str| {
        table
            .lines()
            .find(|l| l.starts_with(n))
            .unwrap_or_else(|| panic!("no {n} in:\n{table}"))
            .split_whitespace()
            .nth(2)
            .unwrap()
            .to_string()
    };
    assert_eq!(status("done"), "Completed", "{table}");
    assert_eq!(status("fails"), "Error", "{table}");
    assert_eq!(status("crash"), "CrashLoopBackOff", "{table}");
    assert_eq!(lab.k(&args("logs crash --previous")), "crashing\n");
    assert_contains(
        lab.k(&args("describe pod crash")),
        "Back-off restarting failed container",
    );
    // graceful deletion: SIGTERM reaches the process, which exits at once
    lab.apply("apiVersion: v1\nkind: Pod\nmetadata:\n  name: trap\nspec:\n  containers:\n  - name: c\n    image: busybox\n    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 0.1; done\"]\n");
    lab.wait_ready("default", "trap");
    let t = std::time::Instant::now();
    lab.k(&args("delete pod trap"));
    assert!(
        t.elapsed() < secs(20),
        "SIGTERM was not delivered (took {:?})",
        t.elapsed()
    );
    // a process that ignores SIGTERM is killed when the grace period ends
    lab.apply("apiVersion: v1\nkind: Pod\nmetadata:\n  name: stubborn\nspec:\n  terminationGracePeriodSeconds: 2\n  containers:\n  - name: c\n    image: busybox\n    command: [\"sh\", \"-c\", \"trap '' TERM; while true; do sleep 0.1; done\"]\n");
    lab.wait_ready("default", "stubborn");
    let t = std::time::Instant::now();
    lab.k(&args("delete pod stubborn"));
    let took = t.elapsed();
    assert!(
        took >= std::time::Duration::from_millis(1500),
        "deleted before the grace period ended ({took:?})"
    );
    assert!(
        took < secs(15),
        "SIGKILL did not follow the grace period ({took:?})"
    );
}

#[test]
fn typed_create_commands_of_every_kubectl() {
    // kubectl 1.32+ sends these bodies as protobuf, older versions as JSON
    let lab = Lab::up(1);
    per_version(lab.kubectls(), |k| {
        let ns = format!("n{}", k.version.replace('.', "-"));
        let k_ns = |line: &str| k.ok(&args(&format!("{line} -n {ns}")));
        assert_eq!(
            k.ok(&["create", "namespace", &ns]).trim(),
            format!("namespace/{ns} created")
        );
        k_ns("create configmap cfg --from-literal=a=1 --from-literal=b=2");
        k_ns("create secret generic pw --from-literal=p=s3cret");
        k_ns("create serviceaccount robot");
        k.ok(&[
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
        assert_eq!(k_ns("get cm cfg -o jsonpath={.data.b}"), "2");
        assert_eq!(k_ns("get secret pw -o jsonpath={.data.p}"), "czNjcmV0");
        assert_eq!(k_ns("get secret pw -o jsonpath={.type}"), "Opaque");
        assert_contains(k_ns("get sa"), "robot");
        lab.wait_ready(&ns, "r");
        assert_eq!(k_ns("get pod r -o jsonpath={.metadata.labels.app}"), "r");
        assert_eq!(
            k_ns("get pod r -o jsonpath={.spec.containers[0].args}"),
            r#"["sleep","infinity"]"#
        );
    });
}

#[test]
fn exec_and_logs() {
    let lab = Lab::up(1);
    lab.apply(&POD.replace("NAME", "box"));
    lab.apply("apiVersion: v1\nkind: Pod\nmetadata:\n  name: talker\nspec:\n  containers:\n  - name: a\n    image: busybox\n    command: [\"sh\", \"-c\", \"for i in 1 2 3 4 5; do echo line $i; done; sleep infinity\"]\n  - name: b\n    image: busybox\n    command: [\"sh\", \"-c\", \"echo from-b; sleep infinity\"]\n");
    lab.wait_ready("default", "box");
    lab.wait_ready("default", "talker");
    // exec over WebSocket: kubectl 1.30 and later
    let websocket = lab
        .kubectls()
        .into_iter()
        .filter(|k| k.version.as_str() >= "1.30")
        .collect();
    per_version(websocket, |k| {
        let o = k.run(&args("exec box -- sh -c 'hostname; echo oops >&2; exit 3'"));
        assert_eq!(out(&o), "box\n");
        assert_contains(err(&o), "oops");
        assert_contains(err(&o), "command terminated with exit code 3");
        assert_eq!(o.status.code(), Some(3));
    });
    // stdin, and the pod's own network view
    let mut child = lab
        .path_kubectl()
        .command()
        .args(args("exec -i box -- sh -c 'cat; ip -4 -o addr show eth0'"))
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
    let text = out(&child.wait_with_output().unwrap());
    assert!(text.starts_with("through stdin\n"), "{text}");
    assert_contains(&text, "inet 10.1.1.");
    // errors as a cluster gives them
    let o = lab.kubectl(&args("exec box -- no-such-tool"));
    assert_contains(
        err(&o),
        "exec: \"no-such-tool\": executable file not found in $PATH",
    );
    assert_eq!(o.status.code(), Some(126));
    assert_contains(
        assert_fails(&lab.kubectl(&args("exec box -c nope -- true"))),
        "container nope is not valid for pod box",
    );
    assert_contains(
        assert_fails(&lab.kubectl(&args("exec ghost -- true"))),
        "pods \"ghost\" not found",
    );
    // logs: container choice, tail, timestamps, follow
    assert_eq!(lab.k(&args("logs talker -c b")), "from-b\n");
    assert_eq!(
        lab.k(&args("logs talker -c a --tail=2")),
        "line 4\nline 5\n"
    );
    let ts = lab.k(&args("logs talker -c a --timestamps --tail=1"));
    assert!(ts.ends_with("Z line 5\n") && ts.starts_with("20"), "{ts}");
    // kubectl picks the first container, and says so
    let o = lab.kubectl(&args("logs talker"));
    assert_contains(err(&o), "Defaulted container \"a\" out of: a, b");
    assert!(out(&o).starts_with("line 1\n"), "{}", out_err(&o));
    let all = lab.k(&args("logs talker --all-containers"));
    assert_contains(&all, "line 1");
    assert_contains(&all, "from-b");
    let o = std::process::Command::new("timeout")
        .args(args("2 kubectl logs -f talker -c a"))
        .env("KUBECONFIG", &lab.kubeconfig)
        .output()
        .unwrap();
    assert_contains(out(&o), "line 5");
    // kubectl cp: tar over exec, both ways (pods see the host's filesystem: a unique name)
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("in.txt");
    std::fs::write(&src, "copied\n").unwrap();
    let remote = format!("/tmp/kinet-cp-{}.txt", lab.name);
    lab.k(&["cp", src.to_str().unwrap(), &format!("box:{remote}")]);
    assert_eq!(
        assert_ok(&lab.exec("default", "box", &["cat", &remote])),
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
    lab.k(&args("rollout status deploy/web --timeout=60s"));
    let d = lab.k(&args("get deploy web"));
    let row: Vec<&str> = d.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(&row[..4], ["web", "3/3", "3", "3"], "{d}");
    let pods = lab.k(&args(
        r#"get pods -l app=web -o 'jsonpath={range .items[*]}{.metadata.name} {.spec.nodeName}{"\n"}{end}'"#,
    ));
    let rs = lab.k(&args(
        "get rs -l app=web -o jsonpath={.items[0].metadata.name}",
    ));
    assert!(!rs.is_empty() && pods.lines().count() == 3, "{rs}: {pods}");
    assert!(
        pods.lines().all(|l| l.starts_with(&format!("{rs}-"))),
        "{pods}"
    );
    // spread over both nodes
    assert_contains(&pods, "node1");
    assert_contains(&pods, "node2");
    // scale through the scale subresource
    lab.k(&args("scale deploy/web --replicas=5"));
    lab.k(&args("rollout status deploy/web --timeout=60s"));
    assert_eq!(
        lab.k(&args("get pods -l app=web --no-headers"))
            .lines()
            .count(),
        5
    );
    // a rolling update to a new ReplicaSet, then back
    lab.k(&args("set image deploy/web nginx=nginx:1.27"));
    lab.k(&args("rollout status deploy/web --timeout=60s"));
    let images = lab.k(&args(
        "get pods -l app=web -o jsonpath={.items[*].spec.containers[0].image}",
    ));
    assert!(
        !images.is_empty() && images.split_whitespace().all(|i| i == "nginx:1.27"),
        "{images}"
    );
    lab.k(&args("rollout undo deploy/web"));
    lab.k(&args("rollout status deploy/web --timeout=60s"));
    assert_eq!(
        lab.k(&args("get rs -l app=web --no-headers"))
            .lines()
            .count(),
        2,
        "undo reuses the first ReplicaSet"
    );
    let history = lab.k(&args("rollout history deploy/web"));
    assert_contains(&history, "2 ");
    assert_contains(&history, "3 ");
    let events = lab.k(&args(
        "get events --field-selector reason=ScalingReplicaSet -o jsonpath={.items[*].message}",
    ));
    assert_contains(&events, format!("Scaled up replica set {rs} from 0 to 3"));
    // deleting the Deployment deletes its ReplicaSets and pods
    lab.k(&args("delete deploy web"));
    lab.wait_none(secs(60), "get rs,pods -l app=web -o name");
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
    // restarted by its liveness probe (every 2 s or so: a slow poll may see more)
    wait_until(secs(30), || {
        let n = lab.k(&args(
            "get pod dying -o jsonpath={.status.containerStatuses[0].restartCount}",
        ));
        match n.parse::<u32>() {
            Ok(n) if n >= 1 => Ok(()),
            _ => Err(format!("dying has restarted {n:?} times")),
        }
    });
    let table = lab.k(&args("get pods unready --no-headers"));
    assert_contains(&table, "0/1");
    assert_contains(&table, "Running");
    let events = lab.k(&args(
        r#"get events --field-selector reason=Unhealthy -o 'jsonpath={range .items[*]}{.involvedObject.name}: {.message}{"\n"}{end}'"#,
    ));
    assert_contains(
        &events,
        "unready: Readiness probe failed: HTTP probe failed with statuscode: 404",
    );
    assert_contains(&events, "dying: Liveness probe failed: dial tcp 10.1.1.");
    assert_contains(&events, ":9999: connect: connection refused");
    let killing = lab.k(&args(
        "get events --field-selector reason=Killing,involvedObject.name=dying -o jsonpath={.items[*].message}",
    ));
    assert_contains(
        &killing,
        "Container c failed liveness probe, will be restarted",
    );
    let cond = lab.k(&args(
        r#"get pod unready -o 'jsonpath={.status.conditions[?(@.type=="Ready")].reason}'"#,
    ));
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
    lab.k(&args("rollout status sts/db --timeout=60s"));
    lab.k(&args("rollout status ds/agent --timeout=60s"));
    // ordinal names, stable hostnames under the governing service, started in order
    let pods = lab.k(&args(
        r#"get pods -l app=db -o 'jsonpath={range .items[*]}{.metadata.name} {.metadata.creationTimestamp}{"\n"}{end}'"#,
    ));
    let names: Vec<&str> = pods.lines().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(names, ["db-0", "db-1", "db-2"], "{pods}");
    assert_eq!(
        assert_ok(&lab.exec("default", "db-1", &["hostname"])).trim(),
        "db-1"
    );
    assert_contains(
        assert_ok(&lab.exec("default", "db-1", &args("cat /etc/hosts"))),
        "db-1.db.default.svc.cluster.local\tdb-1",
    );
    let order = lab.k(&args(
        "get events --field-selector involvedObject.name=db,reason=SuccessfulCreate --sort-by=.metadata.creationTimestamp -o jsonpath={.items[*].message}",
    ));
    let at = |pod: &str| {
        order
            .find(pod)
            .unwrap_or_else(|| panic!("no event for {pod}: {order}"))
    };
    assert!(
        at("db-0") < at("db-1") && at("db-1") < at("db-2"),
        "{order}"
    );
    // one DaemonSet pod per node
    let ds = lab.k(&args(
        "get pods -l app=agent -o jsonpath={.items[*].spec.nodeName}",
    ));
    let mut nodes: Vec<&str> = ds.split_whitespace().collect();
    nodes.sort();
    assert_eq!(nodes, ["node1", "node2"]);
    // scale down from the highest ordinal
    lab.k(&args("scale sts db --replicas=1"));
    wait_until(secs(30), || {
        let left = lab.k(&args("get pods -l app=db -o name"));
        if left.trim() == "pod/db-0" {
            Ok(())
        } else {
            Err(lab.k(&args("get pods -l app=db")))
        }
    });
    lab.k(&args("delete ds agent"));
    lab.wait_none(secs(30), "get pods -l app=agent -o name");
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
    let env = lab.k(&args("logs envy"));
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
