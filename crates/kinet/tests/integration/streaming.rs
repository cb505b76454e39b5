//! The streaming subresources with the real kubectl of every version on the
//! machine: `exec` (SPDY before 1.30, WebSocket after), `cp`, and `port-forward`
//! (SPDY, and SPDY tunnelled through a WebSocket from 1.31) to pods, deployments
//! and services; and kube-rs's WebSocket port-forward.

use crate::common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BOX: &str = "apiVersion: v1
kind: Pod
metadata:
  name: box
spec:
  containers:
  - name: c
    image: busybox:1.36
    command: [\"sleep\", \"infinity\"]
";

/// nginx on 80 and 8080, behind a Deployment and a Service (80 -> 80, 8081 -> 8080).
const WEB: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx
        ports:
        - containerPort: 80
        - containerPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - name: http
    port: 80
    targetPort: 80
  - name: alt
    port: 8081
    targetPort: 8080
";

/// A running `kubectl port-forward`, killed on drop.
struct Forward {
    child: Child,
    /// (local, remote) for each forwarded port, from kubectl's own output.
    ports: Vec<(u16, u16)>,
    stderr: Arc<Mutex<String>>,
}

impl Forward {
    fn start(k: &Kubectl, args: &[&str]) -> Forward {
        let bin = &k.bin;
        let mut child = k
            .command()
            .arg("port-forward")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run kubectl port-forward");
        let stderr = Arc::new(Mutex::new(String::new()));
        let e = stderr.clone();
        let mut err_pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                e.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let want = args.iter().filter(|a| a.contains(':')).count();
        let mut ports = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while ports.len() < want {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    // Forwarding from 127.0.0.1:40123 -> 80
                    if let Some(rest) = line.strip_prefix("Forwarding from 127.0.0.1:")
                        && let Some((l, r)) = rest.split_once(" -> ")
                    {
                        ports.push((l.trim().parse().unwrap(), r.trim().parse().unwrap()));
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!(
                        "{bin} port-forward {args:?} did not start: {}",
                        stderr.lock().unwrap()
                    );
                }
            }
        }
        // keep draining stdout ("Handling connection for …")
        std::thread::spawn(move || while rx.recv().is_ok() {});
        Forward {
            child,
            ports,
            stderr,
        }
    }

    fn local(&self, remote: u16) -> u16 {
        self.ports
            .iter()
            .find(|(_, r)| *r == remote)
            .unwrap_or_else(|| panic!("no forward to {remote} in {:?}", self.ports))
            .0
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits for kubectl to exit by itself.
    #[track_caller]
    fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let st = wait_until(timeout, || match self.child.try_wait() {
            Ok(Some(st)) => Ok(st),
            Ok(None) => Err(format!("kubectl is still forwarding: {}", self.stderr())),
            Err(e) => panic!("wait for kubectl: {e}"),
        });
        // let the stderr reader catch up
        std::thread::sleep(Duration::from_millis(100));
        st
    }
}

impl Drop for Forward {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP/1.0 GET through 127.0.0.1:`port`: (status line, body).
fn http_get(port: u16, path: &str) -> (String, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the forward");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).expect("read the answer");
    let split = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP answer: {:?}", String::from_utf8_lossy(&resp)));
    let head = String::from_utf8_lossy(&resp[..split]).into_owned();
    (
        head.lines().next().unwrap_or("").to_string(),
        resp[split + 4..].to_vec(),
    )
}

fn web_pod(lab: &Lab) -> String {
    let name = wait_until(secs(30), || {
        let name = lab.k(&args(
            "get pods -l app=web -o jsonpath={.items[0].metadata.name}",
        ));
        if name.is_empty() {
            Err("no web pod".into())
        } else {
            Ok(name)
        }
    });
    lab.wait_ready("default", &name);
    name
}

/// The SHA-256 of a file, as sha256sum prints it (64 hex digits).
fn sha256(path: &std::path::Path) -> String {
    let o = Command::new("sha256sum").arg(path).output().unwrap();
    let sum = assert_ok(&o)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string();
    assert!(
        sum.len() == 64 && sum.bytes().all(|b| b.is_ascii_hexdigit()),
        "sha256sum {}: {sum:?}",
        path.display()
    );
    sum
}

/// A file of `mib` MiB of random bytes.
fn random_file(path: &std::path::Path, mib: usize) {
    let o = Command::new("head")
        .args(["-c", &format!("{}", mib << 20), "/dev/urandom"])
        .output()
        .unwrap();
    assert_ok(&o);
    assert_eq!(o.stdout.len(), mib << 20, "head -c from /dev/urandom");
    std::fs::write(path, o.stdout).unwrap();
}

#[test]
fn exec_with_every_kubectl() {
    let lab = Lab::up(1);
    lab.apply(BOX);
    lab.wait_ready("default", "box");
    per_version(lab.kubectls(), |k| {
        // stdout, stderr and the exit code, whatever the transport
        let o = k.run(&args("exec box -- sh -c 'hostname; echo oops >&2; exit 3'"));
        assert_eq!(out(&o), "box\n", "{}", err(&o));
        assert_contains(err(&o), "oops");
        assert_contains(err(&o), "command terminated with exit code 3");
        assert_eq!(o.status.code(), Some(3));
        let o = k.run(&args("exec box -- true"));
        assert_ok(&o);
        assert_eq!(err(&o), "");
        // stdin, closed by the client at its end
        let mut child = k
            .command()
            .args(args("exec -i box -- sh -c 'wc -c; echo end'"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        let feeder = std::thread::spawn(move || input.write_all(&vec![b'x'; 300_000]));
        let o = child.wait_with_output().unwrap();
        feeder.join().unwrap().unwrap();
        assert_eq!(out(&o).trim(), "300000\nend", "{}", err(&o));
        // a command that is not there: the runtime's message and 126
        let o = k.run(&args("exec box -- no-such-tool"));
        assert_contains(
            err(&o),
            "exec: \"no-such-tool\": executable file not found in $PATH",
        );
        assert_eq!(o.status.code(), Some(126));
    });
    // a terminal: kubectl opens a resize stream too (SPDY) or sends sizes (WebSocket);
    // the container's terminal gets the size of kubectl's (soon after it starts, as
    // in a cluster: the size arrives on its own stream)
    per_version(lab.kubectls_of(&["1.27", "1.33"]), |k| {
        let o = Command::new("script")
            .args([
                "-qec",
                &format!(
                    "stty rows 40 cols 100; {} exec -it box -- sh -c '{}'",
                    k.bin,
                    "tty; for i in $(seq 50); do s=$(stty size 2>/dev/null); [ -n \"$s\" ] && [ \"$s\" != \"0 0\" ] && break; sleep 0.1; done; echo rows=$s"
                ),
                "/dev/null",
            ])
            .env("KUBECONFIG", &lab.kubeconfig)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = out(&o);
        assert_contains(&text, "/dev/pts/");
        assert_contains(&text, "rows=40 100");
    });
    // the node's refusals come back as kubelet sends them, the same whatever the
    // transport (kubectl 1.30+ falls back from WebSocket to SPDY on a failed upgrade)
    lab.apply("apiVersion: v1\nkind: Pod\nmetadata:\n  name: half\nspec:\n  restartPolicy: Never\n  containers:\n  - name: a\n    image: busybox\n    command: [\"sleep\", \"infinity\"]\n  - name: b\n    image: busybox\n    command: [\"true\"]\n");
    lab.wait_pod(
        "default",
        "half",
        "{.status.containerStatuses[?(@.name==\"b\")].state.terminated.reason}",
        "Completed",
    );
    let refusals: Vec<(String, String, Option<i32>)> = lab
        .kubectls_of(&["1.27", "1.30", "1.33"])
        .into_iter()
        .map(|k| {
            let o = k.run(&args("attach half -c b"));
            (k.version, err(&o), o.status.code())
        })
        .collect();
    assert_contains(
        &refusals[0].1,
        "unable to upgrade connection: container not found (\"b\")",
    );
    for (ver, e, code) in &refusals {
        assert_eq!(*code, Some(1), "kubectl {ver}: {e}");
        assert_eq!(e, &refusals[0].1, "kubectl {ver} and {}", refusals[0].0);
    }
    // the API server's refusals, before any upgrade
    lab.apply("apiVersion: v1\nkind: Pod\nmetadata:\n  name: lost\nspec:\n  nodeSelector: {nowhere: \"true\"}\n  containers:\n  - name: c\n    image: busybox\n    command: [\"sleep\", \"infinity\"]\n");
    per_version(lab.kubectls_of(&["1.27", "1.33"]), |k| {
        assert_contains(
            assert_fails(&k.run(&args("exec lost -- true"))),
            "pod lost does not have a host assigned",
        );
        assert_contains(
            assert_fails(&k.run(&args("exec box -c nope -- true"))),
            "container nope is not valid for pod box",
        );
    });
}

#[test]
fn kubectl_cp_moves_megabytes_over_spdy_and_websocket() {
    let lab = Lab::up(1);
    lab.apply(BOX);
    lab.wait_ready("default", "box");
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("blob.bin");
    random_file(&src, 6);
    let want = sha256(&src);
    per_version(lab.kubectls_of(&["1.27", "1.33"]), |k| {
        let ver = &k.version;
        // pods see the host's filesystem: a name of its own
        let remote = format!("/tmp/kinet-cp-{}-{ver}.bin", lab.name);
        let t = Instant::now();
        k.ok(&["cp", src.to_str().unwrap(), &format!("box:{remote}")]);
        let up = t.elapsed();
        let back = dir.path().join(format!("back-{ver}.bin"));
        let t = Instant::now();
        let o = k.run(&["cp", &format!("box:{remote}"), back.to_str().unwrap()]);
        let down = t.elapsed();
        let _ = std::fs::remove_file(&remote);
        assert_ok(&o);
        assert_eq!(sha256(&back), want, "the copy came back changed");
        eprintln!("kubectl {ver} cp 6 MiB: up {up:.2?}, down {down:.2?}");
    });
}

#[test]
fn port_forward_to_pods_deployments_and_services() {
    let lab = Lab::up(1);
    lab.apply(WEB);
    let pod = web_pod(&lab);
    let pod_target = format!("pod/{pod}");
    per_version(lab.kubectls_of(&["1.27", "1.30", "1.33"]), |k| {
        for (target, ports) in [
            (pod_target.as_str(), [80, 8080]),
            ("deploy/web", [80, 8080]),
            ("svc/web", [80, 8081]),
        ] {
            let argv = [target, &format!(":{}", ports[0]), &format!(":{}", ports[1])];
            let f = Forward::start(k, &argv);
            // kubectl resolves the service's ports to the pod's: 8081 -> 8080
            assert_eq!(f.ports.len(), 2, "{target}: {:?}", f.ports);
            let (status, body) = http_get(f.local(ports[0]), "/hostname");
            assert_contains(&status, " 200 ");
            assert_eq!(String::from_utf8_lossy(&body), pod, "{target}");
            let second = f.ports[1].0;
            let (status, body) = http_get(second, "/");
            assert_contains(&status, " 200 ");
            assert_contains(String::from_utf8_lossy(&body), "Welcome to nginx!");
            // several connections at once over the one session
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    let p = f.ports[0].0;
                    std::thread::spawn(move || http_get(p, "/hostname").1)
                })
                .collect();
            for h in handles {
                assert_eq!(String::from_utf8_lossy(&h.join().unwrap()), pod);
            }
            assert_not_contains(f.stderr(), "error");
        }
    });
}

#[test]
fn port_forward_moves_megabytes_both_ways() {
    let lab = Lab::up(1);
    // busybox httpd serves a directory of the host (a hostPath volume: pods see the
    // host read-only, with a /tmp of their own); a CGI script digests what is posted
    let dir = std::path::PathBuf::from(format!("/tmp/kinet-pf-{}", lab.name));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("cgi-bin")).unwrap();
    let big = dir.join("big.bin");
    random_file(&big, 8);
    let want = sha256(&big);
    let cgi = dir.join("cgi-bin/digest");
    std::fs::write(
        &cgi,
        "#!/bin/sh\necho 'Content-Type: text/plain'\necho\nhead -c \"$CONTENT_LENGTH\" | sha256sum\n",
    )
    .unwrap();
    std::fs::set_permissions(&cgi, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    lab.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: files\nspec:\n  containers:\n  - name: httpd\n    image: busybox\n    command: [\"httpd\", \"-f\", \"-p\", \"9000\", \"-h\", \"/www\"]\n    volumeMounts: [{{name: www, mountPath: /www}}]\n  volumes: [{{name: www, hostPath: {{path: \"{}\"}}}}]\n",
        dir.display()
    ));
    lab.wait_ready("default", "files");
    per_version(lab.kubectls_of(&["1.27", "1.33"]), |k| {
        let ver = &k.version;
        let f = Forward::start(k, &["pod/files", ":9000"]);
        let url = format!("http://127.0.0.1:{}", f.local(9000));
        let got = dir.join(format!("got-{ver}.bin"));
        let t = Instant::now();
        assert_ok(&run(&[
            "curl",
            "-sS",
            "--max-time",
            "60",
            "-o",
            got.to_str().unwrap(),
            &format!("{url}/big.bin"),
        ]));
        let down = t.elapsed();
        assert_eq!(sha256(&got), want, "download changed");
        let t = Instant::now();
        let o = run(&[
            "curl",
            "-sS",
            "--max-time",
            "60",
            "-H",
            "Expect:",
            "--data-binary",
            &format!("@{}", big.display()),
            &format!("{url}/cgi-bin/digest"),
        ]);
        let up = t.elapsed();
        let digest = assert_ok(&o);
        assert!(
            digest.starts_with(&want),
            "upload digest {digest:?}, want {want}"
        );
        eprintln!(
            "kubectl {ver} port-forward 8 MiB: download {down:.2?} ({:.1} MiB/s), upload {up:.2?} ({:.1} MiB/s)",
            8.0 / down.as_secs_f64(),
            8.0 / up.as_secs_f64()
        );
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn port_forward_errors_and_the_end_of_the_pod() {
    let lab = Lab::up(1);
    lab.apply(WEB);
    let pod = web_pod(&lab);
    per_version(lab.kubectls_of(&["1.27", "1.33"]), |k| {
        // no such pod
        let o = k.run(&args("port-forward pod/ghost 18080:80"));
        assert_contains(
            err(&o),
            "Error from server (NotFound): pods \"ghost\" not found",
        );
        assert_eq!(o.status.code(), Some(1));
        // nothing listens on the port: kubelet's message for that connection, and
        // kubectl (1.23+) gives up the session after an error
        let mut f = Forward::start(k, &[&format!("pod/{pod}"), ":9999"]);
        let local = f.local(9999);
        let mut s = TcpStream::connect(("127.0.0.1", local)).unwrap();
        s.set_read_timeout(Some(secs(20))).unwrap();
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        assert!(buf.is_empty(), "{buf:?}");
        f.wait_exit(secs(20));
        let e = f.stderr();
        assert_contains(
            &e,
            format!(
                "an error occurred forwarding {local} -> 9999: error forwarding port 9999 to pod"
            ),
        );
        assert_contains(&e, "connect: connection refused");
        assert_contains(&e, "lost connection to pod");
    });
    // a pod that is not running (kubectl looks before it forwards)
    lab.apply("apiVersion: v1\nkind: Pod\nmetadata:\n  name: lost\nspec:\n  nodeSelector: {nowhere: \"true\"}\n  containers:\n  - name: c\n    image: nginx\n");
    assert_contains(
        assert_fails(&lab.kubectl(&args("port-forward pod/lost 18080:80"))),
        "unable to forward port because pod is not running. Current status=Pending",
    );
    // the pod goes away: the forwards end, as kubectl says
    let mut forwards: Vec<(String, Forward)> = lab
        .kubectls_of(&["1.27", "1.33"])
        .into_iter()
        .map(|k| {
            let f = Forward::start(&k, &[&format!("pod/{pod}"), ":80"]);
            (k.version, f)
        })
        .collect();
    for (ver, f) in &forwards {
        let (_, body) = http_get(f.local(80), "/hostname");
        assert_eq!(String::from_utf8_lossy(&body), pod, "kubectl {ver}");
    }
    lab.k(&["delete", "pod", &pod, "--wait=false"]);
    for (ver, f) in &mut forwards {
        let st = f.wait_exit(secs(60));
        assert!(!st.success(), "kubectl {ver}: {st}: {}", f.stderr());
        assert_contains(f.stderr(), "lost connection to pod");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_port_forward() {
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::Api;
    use kube::config::{KubeConfigOptions, Kubeconfig};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let lab = tokio::task::spawn_blocking(|| {
        let lab = Lab::up(1);
        lab.apply(WEB);
        lab
    })
    .await
    .unwrap();
    let lab = Arc::new(lab);
    let l2 = lab.clone();
    let pod = tokio::task::spawn_blocking(move || web_pod(&l2))
        .await
        .unwrap();
    let kc = Kubeconfig::read_from(&lab.kubeconfig).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    let client = kube::Client::try_from(cfg).unwrap();
    let pods: Api<Pod> = Api::default_namespaced(client);
    let mut pf = pods.portforward(&pod, &[80, 8080]).await.unwrap();
    for (port, path, want) in [
        (80, "/hostname", pod.as_str()),
        (8080, "/", "Welcome to nginx!"),
    ] {
        let mut s = pf.take_stream(port).unwrap();
        s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .unwrap();
        // the channel protocol has no per-port end: read until the answer is there
        let mut resp = Vec::new();
        let mut buf = [0u8; 4096];
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while !String::from_utf8_lossy(&resp).contains(want) {
            let n = tokio::time::timeout_at(deadline, s.read(&mut buf))
                .await
                .unwrap_or_else(|_| panic!("port {port}: {:?}", String::from_utf8_lossy(&resp)))
                .unwrap();
            if n == 0 {
                break;
            }
            resp.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&resp);
        assert!(
            text.starts_with("HTTP/1.") && text.contains(want),
            "port {port}: {text}"
        );
    }
    // the error channel of a port nobody listens on carries kubelet's message
    let mut pf2 = pods.portforward(&pod, &[9999]).await.unwrap();
    let e = tokio::time::timeout(Duration::from_secs(20), pf2.take_error(9999).unwrap())
        .await
        .expect("an error in time");
    let e = e.unwrap_or_default();
    assert_contains(&e, "error forwarding port 9999 to pod");
    assert_contains(&e, "connection refused");
    drop(pf);
    drop(pf2);
    tokio::task::spawn_blocking(move || drop(lab))
        .await
        .unwrap();
}
