//! Lab benchmarks (run as root: `cargo bench -p kinet --bench lab`):
//! - `kinet up --demo` until every pod is Ready (the time `up` itself waits for);
//! - 100 pods applied with kubectl until `kubectl wait` sees them all Ready;
//! - memory per pod (PSS of the lab's processes, and the daemon's growth);
//! - Services, in kube-proxy's iptables and nftables modes: the round trip of
//!   short HTTP requests (one connection each) from a pod on node1 to an
//!   agnhost netexec pod on node2, through its ClusterIP against its pod IP;
//!   and the time from `kubectl create` of a Service (its endpoint already
//!   Ready) to the first connection through its ClusterIP from a pod.
//!
//! - churn: 10 cycles of creating 200 pods and deleting them, each cycle's time
//!   (all Ready, then all gone), the last over the first, and the daemon's RSS/PSS:
//!   nothing a cycle leaves behind (events, watch history, logs) may slow the next.
//!
//! - api: requests per second of small GETs over 8 connections (lab/api.rs);
//! - restart: `kinet up` after `kill -9` of the daemon, 50 times (lab/api.rs).
//!
//! `cargo bench -p kinet --bench lab -- services` (or `-- pods`, `-- churn`,
//! `-- api`, `-- restart`) runs one group. Prints numbers; asserts nothing about time.

#[path = "lab/api.rs"]
mod api;

use std::process::Command;
use std::time::Instant;

fn kinet(lab: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kinet"))
        .arg("--name")
        .arg(lab)
        .args(args)
        .output()
        .unwrap()
}

fn pss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Pss:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// PSS of every process carrying the lab's marker or holding one of its pods.
fn lab_pss(lab: &str) -> (u64, usize) {
    let marker = format!("KINET_LAB={lab}");
    let (mut total, mut n) = (0, 0);
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(
            &std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default(),
        )
        .replace('\0', " ");
        let ours = env.split(|b| *b == 0).any(|kv| kv == marker.as_bytes())
            || cmd.contains(&format!("pause --lab {lab} "));
        if ours && !cmd.contains(" daemon ") {
            total += pss_kb(pid);
            n += 1;
        }
    }
    (total, n)
}

fn daemon_pss(lab: &str) -> u64 {
    let pid: u32 = std::fs::read_to_string(format!("/run/kinet/{lab}/daemon.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    pss_kb(pid)
}

fn main() {
    let groups: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wants = |g: &str| groups.is_empty() || groups.iter().any(|a| a == g);
    if wants("pods") {
        pods();
    }
    if wants("services") {
        services::run();
    }
    if wants("churn") {
        churn();
    }
    if wants("api") {
        api::api();
    }
    if wants("restart") {
        api::restart();
    }
}

fn pods() {
    let lab = format!("bench{}", std::process::id());
    let runs = 5;
    let mut ups = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let o = kinet(&lab, &["up", "--demo", "--no-kubeconfig"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        ups.push(t.elapsed().as_secs_f64());
        kinet(&lab, &["down"]);
    }
    ups.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "kinet up --demo until every pod Ready: median {:.3}s (min {:.3}s, max {:.3}s, {runs} runs)",
        ups[runs / 2],
        ups[0],
        ups[runs - 1]
    );

    let o = kinet(&lab, &["up", "--no-kubeconfig", "--nodes", "2"]);
    assert!(o.status.success());
    let kubeconfig = format!("/var/lib/kinet/{lab}/kubeconfig");
    let daemon_before = daemon_pss(&lab);
    let mut yaml = String::new();
    for i in 0..100 {
        yaml.push_str(&format!(
            "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p{i}\n  labels: {{bench: \"1\"}}\nspec:\n  containers:\n  - name: c\n    image: busybox\n    command: [\"sleep\", \"infinity\"]\n"
        ));
    }
    let f = std::env::temp_dir().join(format!("{lab}.yaml"));
    std::fs::write(&f, yaml).unwrap();
    let t = Instant::now();
    let o = Command::new("kubectl")
        .args(["apply", "-f", f.to_str().unwrap()])
        .env("KUBECONFIG", &kubeconfig)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let applied = t.elapsed().as_secs_f64();
    // poll the list (kubectl wait checks pods one by one, ~0.2 s each, and would measure itself)
    let jp =
        r#"jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}"#;
    loop {
        let o = Command::new("kubectl")
            .args(["get", "pods", "-l", "bench=1", "-o", jp])
            .env("KUBECONFIG", &kubeconfig)
            .output()
            .unwrap();
        let ready = String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| *l == "True")
            .count();
        if ready == 100 {
            break;
        }
        assert!(
            t.elapsed().as_secs() < 120,
            "only {ready}/100 pods Ready after 120 s"
        );
    }
    let ready = t.elapsed().as_secs_f64();
    println!("100 pods: kubectl apply returned after {applied:.3}s, all Ready after {ready:.3}s");
    let (pss, procs) = lab_pss(&lab);
    let daemon_after = daemon_pss(&lab);
    println!(
        "memory: {procs} pod processes, {:.0} KiB PSS per pod (holder + container), daemon grew {:.0} KiB ({:.1} KiB per pod)",
        pss as f64 / 100.0,
        daemon_after.saturating_sub(daemon_before) as f64,
        daemon_after.saturating_sub(daemon_before) as f64 / 100.0
    );
    kinet(&lab, &["down"]);
    let _ = std::fs::remove_file(f);
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn churn() {
    const PODS: usize = 200;
    const CYCLES: usize = 10;
    let lab = format!("benchc{}", std::process::id());
    let o = kinet(&lab, &["up", "--no-kubeconfig", "--nodes", "2"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let kubeconfig = format!("/var/lib/kinet/{lab}/kubeconfig");
    let pid: u32 = std::fs::read_to_string(format!("/run/kinet/{lab}/daemon.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let kubectl = |args: &[&str]| {
        let o = Command::new("kubectl")
            .args(args)
            .env("KUBECONFIG", &kubeconfig)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let mut yaml = String::new();
    for i in 0..PODS {
        yaml.push_str(&format!(
            "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: c{i}\n  labels: {{churn: \"1\"}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: c\n    image: busybox\n    command: [\"sleep\", \"infinity\"]\n"
        ));
    }
    let f = std::env::temp_dir().join(format!("{lab}.yaml"));
    std::fs::write(&f, yaml).unwrap();
    let jp =
        r#"jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}"#;
    println!(
        "churn: daemon before: RSS {} KiB, PSS {} KiB",
        rss_kb(pid),
        pss_kb(pid)
    );
    let mut times = Vec::new();
    for cycle in 1..=CYCLES {
        let t = Instant::now();
        kubectl(&["apply", "-f", f.to_str().unwrap()]);
        loop {
            let out = kubectl(&["get", "pods", "-l", "churn=1", "-o", jp]);
            if out.lines().filter(|l| *l == "True").count() == PODS {
                break;
            }
            assert!(t.elapsed().as_secs() < 300, "cycle {cycle}: pods not Ready");
        }
        let ready = t.elapsed().as_secs_f64();
        kubectl(&["delete", "pods", "-l", "churn=1", "--wait=false"]);
        loop {
            if kubectl(&["get", "pods", "-l", "churn=1", "-o", "name"])
                .trim()
                .is_empty()
            {
                break;
            }
            assert!(t.elapsed().as_secs() < 600, "cycle {cycle}: pods not gone");
        }
        let total = t.elapsed().as_secs_f64();
        times.push(total);
        println!(
            "churn cycle {cycle}: {PODS} pods Ready after {ready:.2}s, all gone after {total:.2}s; daemon RSS {} KiB, PSS {} KiB",
            rss_kb(pid),
            pss_kb(pid)
        );
    }
    println!(
        "churn: {CYCLES} cycles of {PODS} pods: first {:.2}s, last {:.2}s, last/first {:.2}",
        times[0],
        times[CYCLES - 1],
        times[CYCLES - 1] / times[0]
    );
    kinet(&lab, &["down"]);
    let _ = std::fs::remove_file(f);
}

mod services {
    use std::process::{Command, Output, Stdio};
    use std::time::{Duration, Instant};

    use kinet_model::lab::SERVICE_CIDR;

    use super::kinet;

    /// Requests per round, and rounds (pod IP and ClusterIP alternate).
    const REQUESTS: usize = 200;
    const ROUNDS: usize = 5;
    /// Services created one after another for the create-to-connect time.
    const CREATES: usize = 7;

    struct Lab {
        name: String,
        kubeconfig: String,
    }

    impl Lab {
        fn k(&self, args: &[&str]) -> Output {
            Command::new("kubectl")
                .args(args)
                .env("KUBECONFIG", &self.kubeconfig)
                .output()
                .unwrap()
        }

        fn ok(&self, args: &[&str]) -> String {
            let o = self.k(args);
            assert!(
                o.status.success(),
                "kubectl {args:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            String::from_utf8_lossy(&o.stdout).trim().to_string()
        }

        fn apply(&self, yaml: &str) {
            self.pipe("apply", yaml);
        }

        /// `kubectl VERB -f -` with `yaml` on its input.
        fn pipe(&self, verb: &str, yaml: &str) {
            let mut child = Command::new("kubectl")
                .args([verb, "-f", "-"])
                .env("KUBECONFIG", &self.kubeconfig)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .spawn()
                .unwrap();
            use std::io::Write as _;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(yaml.as_bytes())
                .unwrap();
            assert!(child.wait().unwrap().success(), "kubectl {verb}:\n{yaml}");
        }

        fn exec(&self, cmd: &str) -> Output {
            self.k(&["exec", "client", "--", "sh", "-c", cmd])
        }

        /// Until `curl URL` answers from the client pod.
        fn wait_http(&self, url: &str) {
            let t = Instant::now();
            loop {
                let o = self.exec(&format!("curl -sf --max-time 2 -o /dev/null {url}"));
                if o.status.success() {
                    return;
                }
                assert!(
                    t.elapsed() < Duration::from_secs(60),
                    "{url} never answered"
                );
                std::thread::sleep(Duration::from_millis(200));
            }
        }

        fn switch_mode(&self, from: &str, to: &str) {
            let cm = self.ok(&["get", "cm", "kube-proxy", "-n", "kube-system", "-o", "json"]);
            let mut cm: serde_json::Value = serde_json::from_str(&cm).unwrap();
            let conf = cm["data"]["config.conf"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let old = format!("mode: {from}");
            assert!(conf.contains(&old), "config.conf has no {old:?}");
            cm["data"]["config.conf"] = conf.replace(&old, &format!("mode: {to}")).into();
            self.pipe("replace", &cm.to_string());
            self.ok(&[
                "rollout",
                "restart",
                "daemonset/kube-proxy",
                "-n",
                "kube-system",
            ]);
            self.ok(&[
                "rollout",
                "status",
                "daemonset/kube-proxy",
                "-n",
                "kube-system",
                "--timeout=90s",
            ]);
        }

        /// Seconds per request of `REQUESTS` short requests to `url`, each on
        /// its own connection, timed by curl in the pod.
        fn round(&self, url: &str) -> Vec<f64> {
            // -o names one URL's output: one per URL.
            let urls = vec![format!("-o /dev/null {url}"); REQUESTS].join(" ");
            let o = self.exec(&format!(
                "curl -sf -H 'Connection: close' -w '%{{time_total}}\\n' {urls}"
            ));
            assert!(
                o.status.success(),
                "curl round to {url}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter_map(|l| l.trim().replace(',', ".").parse().ok())
                .collect()
        }
    }

    fn median(mut v: Vec<f64>) -> f64 {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    }

    const PODS: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: netexec
  labels:
    app: netexec
spec:
  nodeSelector:
    kubernetes.io/hostname: node2
  containers:
  - name: agnhost
    image: registry.k8s.io/e2e-test-images/agnhost:2.53
    args: ["netexec", "--http-port=8080"]
    readinessProbe:
      httpGet:
        path: /healthz
        port: 8080
      periodSeconds: 1
---
apiVersion: v1
kind: Pod
metadata:
  name: client
spec:
  nodeSelector:
    kubernetes.io/hostname: node1
  containers:
  - name: c
    image: nicolaka/netshoot
    command: ["sleep", "infinity"]
---
apiVersion: v1
kind: Service
metadata:
  name: netexec
spec:
  selector:
    app: netexec
  ports:
  - port: 80
    targetPort: 8080
"#;

    fn service(name: &str, ip: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  clusterIP: {ip}\n  selector:\n    app: netexec\n  ports:\n  - port: 80\n    targetPort: 8080\n"
        )
    }

    /// Seconds from `kubectl create` of a Service to the first answer through
    /// its ClusterIP from the client pod, which polls from before the create.
    fn create_to_connect(lab: &Lab, mode: &str, i: usize) -> f64 {
        let n = u32::try_from(200 + i).unwrap_or(200) + if mode == "nftables" { 20 } else { 0 };
        let ip = SERVICE_CIDR.nth(n).to_string();
        let name = format!("bench-{mode}-{i}");
        // Polls every ~10 ms; a dropped SYN costs its 50 ms connect timeout.
        let mut poll = Command::new("kubectl")
            .args([
                "exec",
                "client",
                "--",
                "sh",
                "-c",
                &format!(
                    "touch /tmp/polling; until curl -sf --connect-timeout 0.05 --max-time 1 -o /dev/null http://{ip}/hostname; do sleep 0.01; done"
                ),
            ])
            .env("KUBECONFIG", &lab.kubeconfig)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Give the poller time to start.
        let start = Instant::now();
        while !lab.exec("test -e /tmp/polling").status.success() {
            assert!(start.elapsed() < Duration::from_secs(10));
        }
        std::thread::sleep(Duration::from_millis(300));
        let yaml = service(&name, &ip);
        let mut create = Command::new("kubectl")
            .args(["create", "-f", "-"])
            .env("KUBECONFIG", &lab.kubeconfig)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let t = Instant::now();
        {
            use std::io::Write as _;
            create
                .stdin
                .take()
                .unwrap()
                .write_all(yaml.as_bytes())
                .unwrap();
        }
        assert!(create.wait().unwrap().success(), "kubectl create {name}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if poll.try_wait().unwrap().is_some() {
                break;
            }
            if Instant::now() > deadline {
                let _ = poll.kill();
                panic!("{name} ({ip}) never answered");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let secs = t.elapsed().as_secs_f64();
        lab.exec("rm -f /tmp/polling");
        lab.ok(&["delete", "svc", &name, "--wait=false"]);
        secs
    }

    pub fn run() {
        let name = format!("benchsvc{}", std::process::id());
        let o = kinet(&name, &["up", "--no-kubeconfig", "--nodes", "2"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let lab = Lab {
            kubeconfig: format!("/var/lib/kinet/{name}/kubeconfig"),
            name,
        };
        lab.apply(PODS);
        lab.ok(&[
            "wait",
            "--for=condition=Ready",
            "pod/netexec",
            "pod/client",
            "--timeout=120s",
        ]);
        let pod_ip = lab.ok(&["get", "pod", "netexec", "-o", "jsonpath={.status.podIP}"]);
        let cip = lab.ok(&["get", "svc", "netexec", "-o", "jsonpath={.spec.clusterIP}"]);
        let direct = format!("http://{pod_ip}:8080/hostname");
        let through = format!("http://{cip}:80/hostname");
        let mut mode = "iptables";
        for next in ["iptables", "nftables"] {
            if next != mode {
                lab.switch_mode(mode, next);
                mode = next;
            }
            lab.wait_http(&direct);
            lab.wait_http(&through);
            let (mut a, mut b) = (Vec::new(), Vec::new());
            for _ in 0..ROUNDS {
                a.extend(lab.round(&direct));
                b.extend(lab.round(&through));
            }
            let (n_a, n_b) = (a.len(), b.len());
            let (ma, mb) = (median(a), median(b));
            println!(
                "{mode}: HTTP request on a new connection, node1 pod -> node2 netexec: pod IP median {:.0} us ({n_a}), ClusterIP median {:.0} us ({n_b}), ratio {:.3}",
                ma * 1e6,
                mb * 1e6,
                mb / ma
            );
            let times: Vec<f64> = (0..CREATES)
                .map(|i| create_to_connect(&lab, mode, i))
                .collect();
            let (lo, hi) = times
                .iter()
                .fold((f64::MAX, 0f64), |(lo, hi), t| (lo.min(*t), hi.max(*t)));
            println!(
                "{mode}: kubectl create Service -> first connection through its ClusterIP: median {:.3}s (min {lo:.3}s, max {hi:.3}s, {CREATES} runs)",
                median(times)
            );
        }
        kinet(&lab.name, &["down"]);
    }
}
