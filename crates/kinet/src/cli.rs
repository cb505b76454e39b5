//! The user-facing commands: up, down, status, kubeconfig, kubectl, exec.

use crate::client::{Client, parse_manifests};
use crate::paths::{LabConfig, Paths};
use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use kinet_model::json as j;
use kinet_model::pod::condition_true;
use serde_json::Value;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

const DEMO: &str = include_str!("../demo/demo.yaml");

fn spinner(msg: &str) -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    pb.set_style(ProgressStyle::with_template("{spinner} {msg} ({elapsed})").unwrap());
    pb.enable_steady_tick(Duration::from_millis(100));
    pb.set_message(msg.to_string());
    pb
}

fn require_root() -> Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!("kinet builds network namespaces and needs root: run it with sudo");
    }
    Ok(())
}

/// Reads manifests from files and directories (.yaml, .yml, .json), in name order.
pub fn read_manifests(paths: &[PathBuf]) -> Result<Vec<(String, Value)>> {
    let mut out = Vec::new();
    for p in paths {
        let files: Vec<PathBuf> = if p.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("reading {}", p.display()))?
                .flatten()
                .map(|e| e.path())
                .filter(|f| {
                    f.extension()
                        .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
                })
                .collect();
            v.sort();
            v
        } else {
            vec![p.clone()]
        };
        for f in files {
            let text = std::fs::read_to_string(&f).with_context(|| {
                format!("the path {:?} does not exist", f.display().to_string())
            })?;
            for o in
                parse_manifests(&text).with_context(|| format!("error parsing {}", f.display()))?
            {
                out.push((f.display().to_string(), o));
            }
        }
    }
    Ok(out)
}

pub fn up(
    lab: &str,
    nodes: usize,
    files: &[PathBuf],
    demo: bool,
    merge_kubeconfig: bool,
) -> Result<()> {
    kinet_node::plan::lab(lab, nodes).map_err(anyhow::Error::msg)?;
    // read manifests before starting anything, so a typo costs nothing
    let mut manifests = read_manifests(files)?;
    if demo {
        manifests.splice(
            0..0,
            parse_manifests(DEMO)?
                .into_iter()
                .map(|o| ("demo".to_string(), o)),
        );
    }
    require_root()?;
    let t0 = Instant::now();
    let p = Paths::new(lab);
    // one `up` of a lab at a time: a second one waits, then finds the daemon running
    let _up = crate::paths::lock(&p.up_lock(), true)?;
    let running = live_daemon(&p);
    if let (Some(_), Some(cfg)) = (running, LabConfig::load(&p))
        && cfg.nodes != nodes
    {
        eprintln!(
            "note: lab {lab:?} is already running with {} nodes; --nodes {nodes} ignored (kinet down first to change it)",
            cfg.nodes
        );
    }
    if running.is_none() {
        let pb = spinner(&format!("Starting lab {lab:?} ({nodes} nodes)"));
        let mut daemon = start_daemon(&p, nodes)?;
        wait_ready(&p, &pb, &mut daemon)?;
        pb.finish_and_clear();
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let client = Client::for_lab(&p)?;
        let want = LabConfig::load(&p).map(|c| c.nodes).unwrap_or(nodes);
        let pb = spinner("Waiting for nodes to be Ready");
        wait_for(&pb, Duration::from_secs(60), || async {
            nodes_ready(&client, want).await
        })
        .await?;
        pb.set_message("Waiting for the system components to be Ready");
        wait_for(&pb, Duration::from_secs(90), || async {
            system_ready(&client, want).await
        })
        .await?;
        pb.finish_and_clear();
        for (src, obj) in &manifests {
            match client.apply(obj).await {
                Ok(msg) => println!("{msg}"),
                Err(e) => bail!("error when applying {src}: {e:#}"),
            }
        }
        let pb = spinner("Waiting for pods to be Ready");
        wait_for(&pb, Duration::from_secs(120), || async {
            let (ready, total, waiting) = pods_ready(&client).await?;
            let mut msg = format!("Waiting for pods to be Ready: {ready}/{total}");
            if !waiting.is_empty() {
                msg.push_str(&format!(" (waiting: {})", waiting.join("; ")));
            }
            Ok((ready == total, msg))
        })
        .await?;
        pb.finish_and_clear();
        anyhow::Ok(())
    })?;
    let cfg = LabConfig::load(&p).context("lab configuration missing")?;
    let where_ = if merge_kubeconfig {
        let path = crate::kubeconfig::merge_into_user(&p)?;
        format!("context {:?} in {} (current)", p.context(), path.display())
    } else {
        format!("{}", p.kubeconfig().display())
    };
    println!(
        "Lab {lab:?} is ready in {:.2}s: {} nodes, API server https://127.0.0.1:{}",
        t0.elapsed().as_secs_f64(),
        cfg.nodes,
        cfg.port
    );
    println!("Kubeconfig: {where_}");
    println!();
    println!("Try:");
    let n = if lab == "lab" {
        String::new()
    } else {
        format!(" --name {lab}")
    };
    println!("  kinet{n} kubectl get nodes -o wide");
    println!("  kinet{n} kubectl get pods -A -o wide");
    if demo {
        println!(
            "  kinet{n} exec -n demo client -- ping -c 3 $(kinet{n} kubectl get pod web-2 -n demo -o jsonpath='{{.status.podIP}}')"
        );
        println!(
            "  kinet{n} kubectl exec -n demo client -- wget -qO- http://$(kinet{n} kubectl get pod web-1 -n demo -o jsonpath='{{.status.podIP}}')"
        );
    } else {
        println!("  kinet{n} kubectl run busybox --image=busybox -- sleep infinity");
    }
    println!("  kinet{n} down");
    Ok(())
}

/// The lab's daemon if it is alive: one killed a moment ago may still show in
/// /proc while it exits, so a daemon whose API does not answer is watched for
/// up to 2 s, and taken as gone if it goes.
fn live_daemon(p: &Paths) -> Option<u32> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let pid = p.daemon_pid()?;
        let answers = LabConfig::load(p).is_some_and(|c| {
            std::net::TcpStream::connect_timeout(
                &std::net::SocketAddr::from(([127, 0, 0, 1], c.port)),
                Duration::from_millis(200),
            )
            .is_ok()
        });
        if answers || Instant::now() > deadline {
            return Some(pid);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn start_daemon(p: &Paths, nodes: usize) -> Result<std::process::Child> {
    std::fs::create_dir_all(&p.state)?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(p.daemon_log())?;
    let exe = std::env::current_exe()?;
    let mut cmd = Command::new(exe);
    cmd.args(["--name", &p.lab, "daemon", "--nodes", &nodes.to_string()])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0);
    // SAFETY-free: setsid through process_group keeps the daemon out of the terminal's signals
    cmd.spawn().context("starting the lab daemon")
}

/// Waits for the daemon we started to be ready; says why at once if it exits
/// first (whether or not it got as far as writing its pid file).
fn wait_ready(p: &Paths, pb: &ProgressBar, daemon: &mut std::process::Child) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen_pid = false;
    loop {
        if p.ready_file().exists() && p.daemon_pid().is_some() {
            return Ok(());
        }
        seen_pid |= p.daemon_pid().is_some();
        let log_tail = || {
            let log = std::fs::read_to_string(p.daemon_log()).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            lines[lines.len().saturating_sub(15)..].join("\n")
        };
        if Instant::now() > deadline {
            pb.finish_and_clear();
            bail!(
                "the lab did not become ready within 60s; daemon log ({}):\n{}",
                p.daemon_log().display(),
                log_tail()
            );
        }
        let exited = daemon.try_wait().ok().flatten();
        if exited.is_some() || (seen_pid && p.daemon_pid().is_none()) {
            pb.finish_and_clear();
            bail!(
                "the lab daemon stopped while starting; daemon log ({}):\n{}",
                p.daemon_log().display(),
                log_tail()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

async fn wait_for<F, Fut>(pb: &ProgressBar, limit: Duration, mut f: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(bool, String)>>,
{
    let deadline = Instant::now() + limit;
    loop {
        let (done, msg) = f().await?;
        if done {
            return Ok(());
        }
        pb.set_message(msg.clone());
        if Instant::now() > deadline {
            bail!("timed out: {msg}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn nodes_ready(c: &Client, want: usize) -> Result<(bool, String)> {
    let nodes = c.get("/api/v1/nodes").await?;
    let items = nodes["items"].as_array().cloned().unwrap_or_default();
    let ready = items.iter().filter(|n| condition_true(n, "Ready")).count();
    Ok((
        ready >= want,
        format!("Waiting for nodes to be Ready: {ready}/{want}"),
    ))
}

/// The system components (kube-system's DaemonSets and Deployments) have
/// every pod they want Ready.
async fn system_ready(c: &Client, nodes: usize) -> Result<(bool, String)> {
    let mut waiting = Vec::new();
    let ds = c
        .get("/apis/apps/v1/namespaces/kube-system/daemonsets")
        .await?;
    for d in ds["items"].as_array().into_iter().flatten() {
        let desired = j::int_at(d, "/status/desiredNumberScheduled").unwrap_or(0);
        let ready = j::int_at(d, "/status/numberReady").unwrap_or(0);
        // a DaemonSet without a node selector wants a pod on every node
        if desired < nodes as i64 || ready < desired {
            waiting.push(format!("daemonset/{} {ready}/{desired}", j::name(d)));
        }
    }
    let deploys = c
        .get("/apis/apps/v1/namespaces/kube-system/deployments")
        .await?;
    for d in deploys["items"].as_array().into_iter().flatten() {
        let want = j::int_at(d, "/spec/replicas").unwrap_or(1);
        let ready = j::int_at(d, "/status/readyReplicas").unwrap_or(0);
        if ready < want {
            waiting.push(format!("deployment/{} {ready}/{want}", j::name(d)));
        }
    }
    let msg = format!(
        "Waiting for the system components to be Ready: {}",
        waiting.join(", ")
    );
    Ok((waiting.is_empty(), msg))
}

/// (ready or finished pods, all pods, what the others wait for) across namespaces.
async fn pods_ready(c: &Client) -> Result<(usize, usize, Vec<String>)> {
    let pods = c.get("/api/v1/pods").await?;
    let items = pods["items"].as_array().cloned().unwrap_or_default();
    let mut waiting = Vec::new();
    for p in &items {
        let done = condition_true(p, "Ready") || j::str_at(p, "/status/phase") == "Succeeded";
        if !done {
            let (ns, name) = (j::namespace(p), j::name(p));
            let why = p
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .and_then(|c| {
                    c.iter()
                        .find(|c| c["status"] == "False" && c.get("message").is_some())
                })
                .and_then(|c| c["message"].as_str())
                .or_else(|| p.pointer("/status/phase").and_then(Value::as_str))
                .unwrap_or("Pending");
            waiting.push(format!("{ns}/{name}: {why}"));
        }
    }
    Ok((items.len() - waiting.len(), items.len(), waiting))
}

pub fn down(lab: &str, keep_state: bool) -> Result<()> {
    require_root()?;
    let p = Paths::new(lab);
    let pb = spinner(&format!("Removing lab {lab:?}"));
    // the daemon, and any other daemon of this lab (one whose start went wrong):
    // SIGTERM, then SIGKILL if it has not gone within 15 s
    let mut daemons = crate::paths::daemons_of(lab);
    if let Some(pid) = p.daemon_pid()
        && !daemons.contains(&pid)
    {
        daemons.push(pid);
    }
    std::thread::scope(|s| {
        for pid in daemons {
            s.spawn(move || kinet_linux::sandbox::terminate(pid, Duration::from_secs(15)));
        }
    });
    // whatever the daemon left (or a crashed one)
    kinet_node::lab::remove_leftovers(lab)?;
    let _ = std::fs::remove_dir_all(&p.run);
    let _ = std::fs::remove_dir_all(&p.logs);
    if !keep_state {
        let _ = crate::kubeconfig::remove_from_user(&p);
        let _ = std::fs::remove_dir_all(&p.state);
    }
    pb.finish_and_clear();
    println!(
        "Lab {lab:?} removed{}",
        if keep_state { " (state kept)" } else { "" }
    );
    Ok(())
}

pub fn status(lab: &str) -> Result<()> {
    let p = Paths::new(lab);
    let Some(pid) = p.daemon_pid() else {
        if p.state.exists() {
            println!(
                "Lab {lab:?}: stopped (state in {}; kinet up resumes it)",
                p.state.display()
            );
        } else {
            println!("Lab {lab:?}: not found (kinet up creates it)");
        }
        std::process::exit(3);
    };
    let cfg = LabConfig::load(&p).context("lab configuration missing")?;
    println!("Lab:        {lab} (daemon pid {pid})");
    println!(
        "API server: https://127.0.0.1:{} (inside the lab: https://{}:{})",
        cfg.port,
        kinet_model::lab::node_ip(1),
        kinet_model::lab::API_PORT
    );
    println!(
        "Kubeconfig: {} (context {})",
        p.kubeconfig().display(),
        p.context()
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let c = Client::for_lab(&p)?;
        let nodes = c.get("/api/v1/nodes").await?;
        println!();
        println!(
            "{:<8} {:<10} {:<15} {:<14} PODS",
            "NODE", "STATUS", "IP", "POD CIDR"
        );
        let pods = c.get("/api/v1/pods").await?;
        let pods = pods["items"].as_array().cloned().unwrap_or_default();
        for n in nodes["items"].as_array().cloned().unwrap_or_default() {
            let name = j::name(&n);
            let ip = n
                .pointer("/status/addresses")
                .and_then(Value::as_array)
                .and_then(|a| a.iter().find(|x| x["type"] == "InternalIP"))
                .and_then(|x| x["address"].as_str())
                .unwrap_or("");
            let count = pods
                .iter()
                .filter(|p| p.pointer("/spec/nodeName").and_then(Value::as_str) == Some(name))
                .count();
            println!(
                "{:<8} {:<10} {:<15} {:<14} {}",
                name,
                if condition_true(&n, "Ready") {
                    "Ready"
                } else {
                    "NotReady"
                },
                ip,
                j::str_at(&n, "/spec/podCIDR"),
                count
            );
        }
        let mut phases: std::collections::BTreeMap<String, usize> = Default::default();
        for p in &pods {
            *phases
                .entry(
                    p.pointer("/status/phase")
                        .and_then(Value::as_str)
                        .unwrap_or("Unknown")
                        .to_string(),
                )
                .or_default() += 1;
        }
        let summary: Vec<String> = phases.iter().map(|(k, v)| format!("{v} {k}")).collect();
        println!();
        println!(
            "Pods: {} ({})",
            pods.len(),
            if summary.is_empty() {
                "none".into()
            } else {
                summary.join(", ")
            }
        );
        println!();
        for l in crate::addons::status_lines(&p) {
            println!("{l}");
        }
        anyhow::Ok(())
    })
}

pub fn kubeconfig(lab: &str) -> Result<()> {
    let p = Paths::new(lab);
    let text = std::fs::read_to_string(p.kubeconfig())
        .with_context(|| format!("lab {lab:?} has no kubeconfig; is it up? (kinet up)"))?;
    print!("{text}");
    Ok(())
}

pub fn kubectl(lab: &str, args: &[String]) -> ExitCode {
    let p = Paths::new(lab);
    if !p.kubeconfig().exists() {
        eprintln!("error: lab {lab:?} is not up (kinet up creates it)");
        return ExitCode::FAILURE;
    }
    let kubectl = std::env::var("KINET_KUBECTL").unwrap_or_else(|_| "kubectl".into());
    let err = Command::new(&kubectl)
        .args(args)
        .env("KUBECONFIG", p.kubeconfig())
        .exec();
    eprintln!("error: cannot run {kubectl}: {err}");
    ExitCode::from(127)
}

pub fn exec(
    lab: &str,
    ns: &str,
    pod: &str,
    container: Option<&str>,
    command: &[String],
) -> ExitCode {
    match exec_inner(lab, ns, pod, container, command) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn exec_inner(
    lab: &str,
    ns: &str,
    pod: &str,
    container: Option<&str>,
    command: &[String],
) -> Result<u8> {
    require_root()?;
    let p = Paths::new(lab);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let obj = rt.block_on(async {
        let c = Client::for_lab(&p)?;
        let (code, v) = c
            .request(
                "GET",
                &format!("/api/v1/namespaces/{ns}/pods/{pod}"),
                "application/json",
                None,
            )
            .await?;
        if code != 200 {
            bail!("{}", v["message"].as_str().unwrap_or("pod not found"));
        }
        Ok(v)
    })?;
    let holder = kinet_node::exec::holder_pid(&p.run, &obj)
        .map_err(|e| anyhow::anyhow!("pod {ns}/{pod}: {e}"))?;
    let containers = obj
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let c = match container {
        Some(name) => containers
            .iter()
            .find(|c| c["name"] == name)
            .with_context(|| format!("container {name} is not valid for pod {pod}"))?,
        None => containers.first().context("the pod has no containers")?,
    };
    let busybox = p.busybox_dir();
    let path = kinet_node::exec::container_path(c["image"].as_str().unwrap_or(""), Some(&busybox));
    let prog = &command[0];
    let resolved = kinet_node::exec::resolve(prog, &path)
        .with_context(|| format!("exec: {prog:?}: executable file not found in $PATH"))?;
    let mut cmd = Command::new(resolved);
    cmd.arg0(prog)
        .args(&command[1..])
        .env("PATH", &path)
        .env("HOSTNAME", pod)
        .env(kinet_node::lab::LAB_ENV, lab);
    // the container's process, when it runs, has the container's volume mounts
    let name = c["name"].as_str().unwrap_or("");
    let target = kinet_node::exec::container_pid(&p.run, &obj, name).unwrap_or(holder);
    kinet_linux::sandbox::join_std(&mut cmd, target, Some(Path::new("/")))?;
    let status = cmd.status().context("running the command in the pod")?;
    use std::os::unix::process::ExitStatusExt;
    Ok(status
        .code()
        .map(|c| c as u8)
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0) as u8))
}
