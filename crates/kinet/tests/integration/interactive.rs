//! Interactive pods with the real kubectl: `kubectl run -i/-it --rm`, `kubectl
//! attach` and `kubectl debug` (ephemeral containers), over every transport the
//! machine's kubectl versions speak.

use crate::common::{Lab, err, kubectls, out};
use std::io::Write;
use std::process::{Command, Output, Stdio};

/// Runs kubectl with `input` on its stdin (a pipe, so no terminal).
fn kubectl_input(lab: &Lab, bin: &str, args: &[&str], input: &str) -> Output {
    let mut child = Command::new(bin)
        .args(args)
        .env("KUBECONFIG", &lab.kubeconfig)
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
fn sample_kubectls() -> Vec<(String, String)> {
    let all = kubectls();
    let mut v: Vec<(String, String)> = all
        .iter()
        .filter(|(ver, _)| ver == "1.27" || ver == "1.30")
        .cloned()
        .collect();
    if let Some(last) = all.last()
        && !v.contains(last)
    {
        v.push(last.clone());
    }
    v
}

#[test]
fn run_interactive_then_removed() {
    let lab = Lab::up(1);
    for (i, (ver, bin)) in sample_kubectls().iter().enumerate() {
        let name = format!("debug{i}");
        // `kubectl run -i --rm`: the shell reads what we type, the pod is gone after
        let o = kubectl_input(
            &lab,
            bin,
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
        let stdout = out(&o);
        assert!(
            o.status.success(),
            "kubectl {ver} run -i --rm: {stdout}{}",
            err(&o)
        );
        assert!(
            stdout.contains(&format!("hello-42 from {name}")),
            "kubectl {ver}: {stdout}{}",
            err(&o)
        );
        assert!(
            stdout.contains(&format!("pod \"{name}\" deleted")),
            "kubectl {ver}: {stdout}"
        );
        let o = lab.kubectl(&["get", "pod", &name]);
        assert!(
            err(&o).contains("NotFound"),
            "kubectl {ver}: the pod should be gone: {}{}",
            out(&o),
            err(&o)
        );
    }
    // the container's exit code comes back through kubectl run
    let o = kubectl_input(
        &lab,
        "kubectl",
        &[
            "run",
            "-i",
            "--rm",
            "fails",
            "--image=busybox",
            "--restart=Never",
            "--",
            "sh",
        ],
        "exit 3\n",
    );
    assert_eq!(o.status.code(), Some(3), "{}{}", out(&o), err(&o));
    assert!(
        err(&o).contains("pod default/fails terminated (Error)"),
        "{}",
        err(&o)
    );
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
    let stdout = out(&o);
    assert!(stdout.contains("on-a-tty-42"), "{stdout}{}", err(&o));
    assert!(stdout.contains("pod \"tty\" deleted"), "{stdout}");
}

#[test]
fn attach_and_debug() {
    let lab = Lab::up(1);
    // a container with stdin open: `kubectl attach -i` types into it (one pod per
    // kubectl, since the container ends after one line and so does the attach)
    for (i, (ver, bin)) in sample_kubectls().iter().enumerate() {
        let pod = format!("reader{i}");
        lab.apply(&format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {pod}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: main\n    image: busybox\n    stdin: true\n    command: [\"sh\", \"-c\", \"echo ready; read line; echo got-$line\"]\n",
        ));
        lab.wait_pod("default", &pod, "{.status.phase}", "Running");
        let o = kubectl_input(&lab, bin, &["attach", "-i", &pod], &format!("v{ver}\n"));
        assert!(
            out(&o).contains(&format!("got-v{ver}")),
            "kubectl {ver} attach: {}{}",
            out(&o),
            err(&o)
        );
        lab.wait_pod("default", &pod, "{.status.phase}", "Succeeded");
        let logs = lab.k(&["logs", &pod]);
        assert_eq!(logs, format!("ready\ngot-v{ver}\n"));
    }

    // kubectl debug: an ephemeral container in the same pod (same hostname, same IP)
    lab.apply(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - name: nginx\n    image: nginx\n",
    );
    lab.wait_ready("default", "web");
    for (i, (ver, bin)) in sample_kubectls().iter().enumerate() {
        let o = kubectl_input(
            &lab,
            bin,
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
        let stdout = out(&o);
        assert!(
            stdout.contains("web\n") && stdout.contains("Welcome to nginx!"),
            "kubectl {ver} debug: {stdout}{}",
            err(&o)
        );
        lab.wait_pod(
            "default",
            "web",
            &format!("{{.status.ephemeralContainerStatuses[{i}].state.terminated.reason}}"),
            "Completed",
        );
    }
    let d = lab.k(&["describe", "pod", "web"]);
    assert!(d.contains("Ephemeral Containers:"), "{d}");
    assert!(d.contains("Started container dbg0"), "{d}");
    // the ephemeral container's output is in its log
    let logs = lab.k(&["logs", "web", "-c", "dbg0"]);
    assert!(logs.starts_with("web\n"), "{logs}");
    // ephemeral containers cannot be removed or reuse a name
    let o = lab.kubectl(&[
        "debug",
        "web",
        "--image=busybox",
        "-c",
        "nginx",
        "--",
        "true",
    ]);
    let n = sample_kubectls().len();
    assert!(
        err(&o).contains(&format!(
            "The Pod \"web\" is invalid: spec.ephemeralContainers[{n}].name: Duplicate value: \"nginx\""
        )),
        "{}",
        err(&o)
    );
    let o = lab.kubectl(&[
        "patch",
        "pod",
        "web",
        "--subresource=ephemeralcontainers",
        "--type=json",
        "-p",
        "[{\"op\":\"remove\",\"path\":\"/spec/ephemeralContainers/0\"}]",
    ]);
    assert!(
        err(&o).contains("existing ephemeral containers \"dbg0\" may not be removed"),
        "{}",
        err(&o)
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
    for (ver, bin) in sample_kubectls() {
        for args in [
            &["exec", "pair", "-c", "b", "--", "true"][..],
            &["attach", "pair", "-c", "b"][..],
        ] {
            let o = lab.kubectl_with(&bin, args);
            assert!(
                !o.status.success()
                    && err(&o)
                        .contains("unable to upgrade connection: container not found (\"b\")"),
                "kubectl {ver} {args:?}: {}{}",
                out(&o),
                err(&o)
            );
        }
    }
    assert_eq!(
        lab.k(&["exec", "pair", "-c", "a", "--", "echo", "ok"]),
        "ok\n"
    );
}
