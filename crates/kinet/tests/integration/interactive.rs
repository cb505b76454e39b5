//! Interactive pods with the real kubectl: `kubectl run -i/-it --rm`, `kubectl
//! attach` and `kubectl debug` (ephemeral containers), over every transport the
//! machine's kubectl versions speak.

use crate::common::*;
use std::io::Write;
use std::process::{Command, Output, Stdio};

/// Runs kubectl with `input` on its stdin (a pipe, so no terminal).
fn kubectl_input<S: AsRef<str>>(k: &Kubectl, argv: &[S], input: &str) -> Output {
    let mut child = k
        .command()
        .args(argv.iter().map(AsRef::as_ref))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kubectl");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Versions to try: the oldest (SPDY), 1.30 (first WebSocket) and the newest.
fn sample(lab: &Lab) -> Vec<Kubectl<'_>> {
    let mut all = lab.kubectls();
    let newest = all.pop().expect("kubectls");
    let mut v: Vec<Kubectl> = all
        .into_iter()
        .filter(|k| k.version == "1.27" || k.version == "1.30")
        .collect();
    v.push(newest);
    v
}

#[test]
fn run_interactive_then_removed() {
    let lab = Lab::up(1);
    let mut i = 0;
    per_version(sample(&lab), |k| {
        let name = format!("debug{i}");
        i += 1;
        // `kubectl run -i --rm`: the shell reads what we type, the pod is gone after
        let o = kubectl_input(
            k,
            &[
                "run",
                "-i",
                "--rm",
                &name,
                "--image=busybox",
                "--restart=Never",
                "--",
                "sh",
            ],
            "echo hello-$((40+2)) from $(hostname)\n",
        );
        let stdout = assert_ok(&o);
        assert_contains(&stdout, format!("hello-42 from {name}"));
        assert_contains(&stdout, format!("pod \"{name}\" deleted"));
        // the pod should be gone
        assert_contains(
            assert_fails(&lab.kubectl(&["get", "pod", &name])),
            "NotFound",
        );
    });
    // the container's exit code comes back through kubectl run
    let o = kubectl_input(
        &lab.path_kubectl(),
        &args("run -i --rm fails --image=busybox --restart=Never -- sh"),
        "exit 3\n",
    );
    assert_eq!(o.status.code(), Some(3), "{}", out_err(&o));
    assert_contains(err(&o), "pod default/fails terminated (Error)");
}

#[test]
fn run_with_a_terminal() {
    let lab = Lab::up(1);
    // `script` gives kubectl a terminal, as a user's shell would
    let cmd = "kubectl run -it --rm tty --image=busybox --restart=Never -- sh";
    let mut child = Command::new("script")
        .args(["-qec", cmd, "/dev/null"])
        .env("KUBECONFIG", &lab.kubeconfig)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // typed before the attach: the terminal buffers it until kubectl reads it
    stdin
        .write_all(b"tty -s && echo on-a-tty-$((6*7)); exit\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    drop(stdin);
    assert_contains(out(&o), "on-a-tty-42");
    assert_contains(out(&o), "pod \"tty\" deleted");
}

#[test]
fn attach_and_debug() {
    let lab = Lab::up(1);
    // a container with stdin open: `kubectl attach -i` types into it (one pod per
    // kubectl, since the container ends after one line and so does the attach)
    let mut i = 0;
    per_version(sample(&lab), |k| {
        let pod = format!("reader{i}");
        i += 1;
        lab.apply(&format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {pod}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: main\n    image: busybox\n    stdin: true\n    command: [\"sh\", \"-c\", \"echo ready; read line; echo got-$line\"]\n",
        ));
        lab.wait_pod("default", &pod, "{.status.phase}", "Running");
        let ver = &k.version;
        let o = kubectl_input(k, &["attach", "-i", &pod], &format!("v{ver}\n"));
        assert_contains(out(&o), format!("got-v{ver}"));
        lab.wait_pod("default", &pod, "{.status.phase}", "Succeeded");
        assert_eq!(lab.k(&["logs", &pod]), format!("ready\ngot-v{ver}\n"));
    });

    // kubectl debug: an ephemeral container in the same pod (same hostname, same IP)
    lab.apply(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - name: nginx\n    image: nginx\n",
    );
    lab.wait_ready("default", "web");
    let mut n = 0;
    per_version(sample(&lab), |k| {
        let i = n;
        n += 1;
        let o = kubectl_input(
            k,
            &[
                "debug",
                "web",
                "-i",
                "--image=busybox",
                "--target=nginx",
                &format!("-cdbg{i}"),
                "--",
                "sh",
            ],
            "hostname; wget -qO- http://127.0.0.1/ | grep -o 'Welcome to nginx!' | head -1; exit\n",
        );
        assert_contains(out(&o), "web\n");
        assert_contains(out(&o), "Welcome to nginx!");
        lab.wait_pod(
            "default",
            "web",
            &format!("{{.status.ephemeralContainerStatuses[{i}].state.terminated.reason}}"),
            "Completed",
        );
    });
    let d = lab.k(&args("describe pod web"));
    assert_contains(&d, "Ephemeral Containers:");
    assert_contains(&d, "Started container dbg0");
    // the ephemeral container's output is in its log
    let logs = lab.k(&args("logs web -c dbg0"));
    assert!(logs.starts_with("web\n"), "{logs}");
    // ephemeral containers cannot be removed or reuse a name
    let o = lab.kubectl(&args("debug web --image=busybox -c nginx -- true"));
    assert_contains(
        err(&o),
        format!(
            "The Pod \"web\" is invalid: spec.ephemeralContainers[{n}].name: Duplicate value: \"nginx\""
        ),
    );
    let o = lab.kubectl(&args(
        r#"patch pod web --subresource=ephemeralcontainers --type=json -p '[{"op":"remove","path":"/spec/ephemeralContainers/0"}]'"#,
    ));
    assert_contains(
        err(&o),
        "existing ephemeral containers \"dbg0\" may not be removed",
    );

    // exec and attach need a running container: an exited sibling is refused as
    // kubelet refuses it, with every transport
    lab.apply(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: pair\nspec:\n  restartPolicy: Never\n  containers:\n  - name: a\n    image: busybox\n    command: [\"sleep\", \"3600\"]\n  - name: b\n    image: busybox\n    command: [\"true\"]\n",
    );
    lab.wait_pod(
        "default",
        "pair",
        "{.status.containerStatuses[?(@.name==\"b\")].state.terminated.reason}",
        "Completed",
    );
    per_version(sample(&lab), |k| {
        for line in ["exec pair -c b -- true", "attach pair -c b"] {
            assert_contains(
                assert_fails(&k.run(&args(line))),
                "unable to upgrade connection: container not found (\"b\")",
            );
        }
    });
    assert_eq!(lab.k(&args("exec pair -c a -- echo ok")), "ok\n");
}
