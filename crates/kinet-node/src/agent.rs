//! The node agent: registers its Node, runs the pods bound to it, reports their
//! status and terminates them gracefully.

use crate::catalog::{self, Program};
use crate::files;
use crate::plan::{self, NodePlan};
use crate::status::{self, ContainerState, State, Terminated};
use anyhow::{Context, Result};
use chrono::{SecondsFormat, Utc};
use kinet_controllers::events::{self, Source};
use kinet_controllers::objects;
use kinet_linux::{Netlink, Route, sandbox, sysctl_set_many};
use kinet_model::{ipam, resources};
use kinet_store::{EventType, Store};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, watch};

pub struct Config {
    pub lab: String,
    pub node: NodePlan,
    pub netns: PathBuf,
    /// The kinet binary, for holders and built-in servers.
    pub self_exe: PathBuf,
    /// Per-pod files: `<run_dir>/pods/<uid>/`.
    pub run_dir: PathBuf,
    /// Container logs: `<log_dir>/pods/<ns>_<name>_<uid>/<container>/<n>.log`.
    pub log_dir: PathBuf,
    /// A directory of busybox applet links (put first on PATH for busybox images).
    pub busybox_dir: Option<PathBuf>,
    /// Pod volumes: `<state_dir>/pods/<uid>/volumes/<plugin>/<name>` (the lab's state dir).
    pub state_dir: PathBuf,
    /// Issues service-account tokens for projected volumes (the API's TokenRequest).
    pub tokens: Option<crate::podvolumes::TokenIssuer>,
}

pub struct Agent {
    cfg: Config,
    store: Arc<Store>,
    src: Source,
    used_ips: Mutex<BTreeSet<Ipv4Addr>>,
    /// Running containers that clients can attach to.
    pub attach: crate::attach::Registry,
}

enum PodMsg {
    Updated(Arc<Value>),
    Deleted,
}

pub fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn now_nanos() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true)
}

fn str_at<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or("")
}

/// Where a container's log of run `n` lives.
pub fn log_path(
    log_dir: &Path,
    ns: &str,
    pod: &str,
    uid: &str,
    container: &str,
    n: u32,
) -> PathBuf {
    log_dir
        .join("pods")
        .join(format!("{ns}_{pod}_{uid}"))
        .join(container)
        .join(format!("{n}.log"))
}

impl Agent {
    pub fn new(cfg: Config, store: Arc<Store>) -> Arc<Agent> {
        let src = Source::new("kubelet", Some(&cfg.node.name));
        Arc::new(Agent {
            cfg,
            store,
            src,
            used_ips: Mutex::new(BTreeSet::new()),
            attach: Default::default(),
        })
    }

    /// The node's network namespace.
    pub fn netns(&self) -> &Path {
        &self.cfg.netns
    }

    pub fn node_name(&self) -> &str {
        &self.cfg.node.name
    }

    /// The Node object this agent reports.
    pub fn node_object(&self) -> Value {
        let n = &self.cfg.node;
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_string();
        let mem_kb: u64 = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .next()
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|s| s.parse().ok())
            })
            .unwrap_or(0);
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let t = now();
        let cond = |typ: &str, status: &str, reason: &str, msg: &str| json!({"type": typ, "status": status, "lastHeartbeatTime": t, "lastTransitionTime": t, "reason": reason, "message": msg});
        let capacity = json!({"cpu": cpus.to_string(), "ephemeral-storage": "10Gi", "memory": format!("{mem_kb}Ki"), "pods": "110"});
        json!({
            "metadata": {
                "name": n.name,
                "labels": {
                    "beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": n.name, "kubernetes.io/os": "linux",
                    "node.kubernetes.io/microk8s-controlplane": "microk8s-controlplane"
                },
                "annotations": {"node.alpha.kubernetes.io/ttl": "0", "volumes.kubernetes.io/controller-managed-attach-detach": "true"}
            },
            "spec": {"podCIDR": n.pod_cidr.to_string(), "podCIDRs": [n.pod_cidr.to_string()]},
            "status": {
                "addresses": [{"type": "InternalIP", "address": n.ip.to_string()}, {"type": "Hostname", "address": n.name}],
                "allocatable": capacity, "capacity": capacity,
                "conditions": [
                    cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                    cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                    cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                    cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
                ],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                "nodeInfo": {
                    "architecture": "amd64", "bootID": uuid_like(&format!("{}-boot", n.name)), "containerRuntimeVersion": "kinet://0.1.0",
                    "kernelVersion": kernel, "kubeProxyVersion": "", "kubeletVersion": "v1.33.0",
                    "machineID": uuid_like(&n.name).replace('-', ""), "operatingSystem": "linux",
                    "osImage": "kinet lab node", "systemUUID": uuid_like(&format!("{}-sys", n.name))
                }
            }
        })
    }

    /// Registers the Node (replacing a stale one) and runs pods until the store closes.
    pub async fn run(self: Arc<Self>) {
        let nodes = objects::resource("", "nodes");
        let key = resources::store_key(nodes, None, &self.cfg.node.name);
        let obj = self.node_object();
        if self.store.get(&key).is_some() {
            let status = obj["status"].clone();
            let _ = self.store.update_with(&key, |n| {
                n["status"] = status;
                true
            });
        } else if let Ok(n) = objects::create(&self.store, nodes, obj) {
            events::record(
                &self.store,
                &self.src,
                &n,
                None,
                "Normal",
                "Starting",
                "Starting kubelet.",
            );
            events::record(
                &self.store,
                &self.src,
                &n,
                None,
                "Normal",
                "NodeReady",
                &format!("Node {} status is now: NodeReady", self.cfg.node.name),
            );
        }
        tokio::spawn(self.clone().renew_lease());
        let pods = objects::resource("", "pods");
        let mut workers: HashMap<String, mpsc::UnboundedSender<PodMsg>> = HashMap::new();
        let me = self.cfg.node.name.clone();
        let agent = self.clone();
        kinet_controllers::for_each_change(
            self.store.clone(),
            &resources::store_prefix(pods, None),
            move |ev| {
                let o = &ev.object;
                if str_at(o, "/spec/nodeName") != me {
                    return;
                }
                let uid = str_at(o, "/metadata/uid").to_string();
                workers.retain(|_, tx| !tx.is_closed());
                if ev.kind == EventType::Deleted {
                    if let Some(tx) = workers.remove(&uid) {
                        let _ = tx.send(PodMsg::Deleted);
                    }
                    return;
                }
                match workers.get(&uid) {
                    Some(tx) => {
                        let _ = tx.send(PodMsg::Updated(o.clone()));
                    }
                    None => {
                        let (tx, rx) = mpsc::unbounded_channel();
                        workers.insert(uid, tx);
                        let a = agent.clone();
                        let pod = o.clone();
                        tokio::spawn(async move { a.pod_worker(pod, rx).await });
                    }
                }
            },
        )
        .await;
    }

    /// Keeps the node's Lease in kube-node-lease fresh, as kubelet does every 10 s.
    async fn renew_lease(self: Arc<Self>) {
        let leases = objects::resource("coordination.k8s.io", "leases");
        let name = self.cfg.node.name.clone();
        let key = resources::store_key(leases, Some("kube-node-lease"), &name);
        loop {
            let t = Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true);
            if self.store.get(&key).is_some() {
                let _ = self.store.update_with(&key, |l| {
                    l["spec"]["renewTime"] = json!(t);
                    true
                });
            } else {
                let _ = objects::create(
                    &self.store,
                    leases,
                    json!({
                        "metadata": {"name": name, "namespace": "kube-node-lease"},
                        "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": t}
                    }),
                );
            }
            tokio::time::sleep(Duration::from_secs(10)).await;
        }
    }

    /// Records an event about a pod (its latest state, or `fallback` once it is gone).
    fn pod_event(
        &self,
        key: &str,
        fallback: &Arc<Value>,
        field_path: Option<&str>,
        typ: &str,
        reason: &str,
        msg: &str,
    ) {
        let cur = self.store.get(key).unwrap_or_else(|| fallback.clone());
        events::record(&self.store, &self.src, &cur, field_path, typ, reason, msg);
    }

    fn pod_dir(&self, uid: &str) -> PathBuf {
        self.cfg.run_dir.join("pods").join(uid)
    }

    /// Where a pod's volumes live (`…/pods/<uid>/volumes`).
    fn pod_state_dir(&self, uid: &str) -> PathBuf {
        self.cfg.state_dir.join("pods").join(uid)
    }

    /// Makes the pod's volumes, retrying until they all are ready (false: the pod went
    /// meanwhile). While one is missing the pod waits in ContainerCreating, with
    /// kubelet's FailedMount events (backing off from 0.5 s to 2 min).
    async fn wait_for_volumes(
        &self,
        pod: &Arc<Value>,
        key: &str,
        vols: &Arc<crate::podvolumes::PodVolumes>,
        rx: &mut mpsc::UnboundedReceiver<PodMsg>,
    ) -> bool {
        let uid = str_at(pod, "/metadata/uid").to_string();
        let mut backoff = Duration::from_millis(500);
        let mut next_event = Instant::now();
        let mut waiting = false;
        loop {
            let cur = self.store.get(key).unwrap_or_else(|| pod.clone());
            let v = vols.clone();
            let failed = tokio::task::spawn_blocking(move || v.sync(&cur))
                .await
                .unwrap_or_default();
            if failed.is_empty() {
                return true;
            }
            if !waiting {
                waiting = true;
                self.write_status(key, &uid, |p| {
                    status::mounting(p, &self.cfg.node.ip.to_string(), &now())
                });
            }
            if Instant::now() >= next_event {
                for (name, e) in &failed {
                    self.pod_event(
                        key,
                        pod,
                        None,
                        "Warning",
                        "FailedMount",
                        &format!("MountVolume.SetUp failed for volume {name:?} : {e}"),
                    );
                }
                next_event = Instant::now() + backoff;
                backoff = (backoff * 2).min(Duration::from_secs(122));
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                m = rx.recv() => match m {
                    Some(PodMsg::Updated(p)) if p.pointer("/metadata/deletionTimestamp").is_none() => {}
                    _ => {
                        // nothing ran: the pod goes at once
                        let _ = self.store.delete(key, None);
                        return false;
                    }
                }
            }
        }
    }

    fn allocate_ip(&self, pod: &Value) -> Result<Ipv4Addr> {
        let cidr = self.cfg.node.pod_cidr;
        let mut used = self.used_ips.lock().unwrap();
        // keep the address a pod had before a restart of the daemon
        if let Ok(prev) = str_at(pod, "/status/podIP").parse::<Ipv4Addr>()
            && cidr.contains(prev)
            && !used.contains(&prev)
            && prev != cidr.nth(0)
            && prev != cidr.nth(1)
        {
            used.insert(prev);
            return Ok(prev);
        }
        let ip = ipam::allocate(&cidr, &used)
            .with_context(|| format!("no IP addresses available in range set: {cidr}"))?;
        used.insert(ip);
        Ok(ip)
    }

    fn release_ip(&self, ip: Ipv4Addr) {
        self.used_ips.lock().unwrap().remove(&ip);
    }

    /// Creates the pod's sandbox: files, holder process, network. Returns (holder pid, pod IP).
    fn create_sandbox(&self, pod: &Value) -> Result<(u32, Ipv4Addr)> {
        let uid = str_at(pod, "/metadata/uid");
        let name = str_at(pod, "/metadata/name");
        let ns = str_at(pod, "/metadata/namespace");
        let host_network = pod
            .pointer("/spec/hostNetwork")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let ip = if host_network {
            self.cfg.node.ip
        } else {
            self.allocate_ip(pod)?
        };
        let dir = self.pod_dir(uid);
        std::fs::create_dir_all(&dir)?;
        let hostname = if host_network {
            self.cfg.node.name.clone()
        } else {
            let h = str_at(pod, "/spec/hostname");
            if h.is_empty() {
                name.chars().take(63).collect()
            } else {
                h.to_string()
            }
        };
        let host_resolv = "nameserver 192.168.1.1\n";
        std::fs::write(dir.join("hosts"), files::hosts(pod, &ip.to_string()))?;
        std::fs::write(
            dir.join("resolv.conf"),
            files::resolv_conf(pod, host_resolv),
        )?;
        std::fs::write(dir.join("hostname"), format!("{hostname}\n"))?;
        let spec = sandbox::HolderSpec {
            hostname,
            binds: vec![
                (dir.join("hosts"), PathBuf::from("/etc/hosts")),
                (dir.join("resolv.conf"), PathBuf::from("/etc/resolv.conf")),
                (dir.join("hostname"), PathBuf::from("/etc/hostname")),
            ],
            argv: vec![
                self.cfg.self_exe.display().to_string(),
                "pause".into(),
                "--lab".into(),
                self.cfg.lab.clone(),
                "--pod".into(),
                format!("{ns}/{name}"),
            ],
            netns: host_network.then(|| self.cfg.netns.clone()),
            tmpfs: crate::volumes::memory_dirs(pod, &self.pod_state_dir(uid).join("volumes")),
        };
        let pid = sandbox::spawn_holder(&spec)?;
        std::fs::write(dir.join("holder.pid"), pid.to_string())?;
        if !host_network && let Err(e) = self.wire(pid, ns, name, ip) {
            let _ = sandbox::kill(pid, sandbox::Signal::Kill);
            self.release_ip(ip);
            return Err(e);
        }
        Ok((pid, ip))
    }

    /// Calico-style wiring: pod eth0 with IP/32 and a default route via 169.254.1.1
    /// (onlink); node end `cali…` with proxy ARP and a /32 route.
    fn wire(&self, pid: u32, ns: &str, name: &str, ip: Ipv4Addr) -> Result<()> {
        let pod_ns = PathBuf::from(format!("/proc/{pid}/ns/net"));
        let veth = plan::veth_name(ns, name);
        let mut node = Netlink::open(Some(&self.cfg.netns))?;
        // a leftover from an earlier pod of the same name
        let _ = node.link_del(&veth);
        node.veth_add(&veth, "eth0", Some(&pod_ns))
            .context("creating the pod's veth")?;
        node.link_set_mac(&veth, [0xee, 0xee, 0xee, 0xee, 0xee, 0xee])?;
        sysctl_set_many(
            &self.cfg.netns,
            &[
                (&format!("net/ipv4/conf/{veth}/proxy_arp"), "1"),
                (&format!("net/ipv4/neigh/{veth}/proxy_delay"), "0"),
                (&format!("net/ipv4/conf/{veth}/forwarding"), "1"),
            ],
        )?;
        node.link_set_up(&veth)?;
        node.route_replace(&Route::new(ip, 32).dev(&veth).scope_link())?;
        let mut p = Netlink::open(Some(&pod_ns))?;
        p.link_set_up("lo")?;
        p.addr_add("eth0", IpAddr::V4(ip), 32)?;
        p.link_set_up("eth0")?;
        p.route_replace(&Route::new(plan::POD_GATEWAY, 32).dev("eth0").scope_link())?;
        p.route_replace(&Route::default_via(plan::POD_GATEWAY).dev("eth0").onlink())?;
        Ok(())
    }

    fn write_status(&self, key: &str, uid: &str, f: impl FnOnce(&mut Value)) -> Option<Arc<Value>> {
        let mut f = Some(f);
        self.store
            .update_with(key, |p| {
                if str_at(p, "/metadata/uid") != uid {
                    return false;
                }
                if let Some(f) = f.take() {
                    f(p);
                }
                true
            })
            .ok()
    }

    async fn pod_worker(self: Arc<Self>, pod: Arc<Value>, mut rx: mpsc::UnboundedReceiver<PodMsg>) {
        let pods = objects::resource("", "pods");
        let key = objects::key_of(pods, &pod);
        let uid = str_at(&pod, "/metadata/uid").to_string();
        let ns = str_at(&pod, "/metadata/namespace").to_string();
        let name = str_at(&pod, "/metadata/name").to_string();
        let terminal = matches!(str_at(&pod, "/status/phase"), "Succeeded" | "Failed");
        if terminal {
            // finished before the daemon restarted: nothing runs again
            loop {
                match rx.recv().await {
                    None | Some(PodMsg::Deleted) => return,
                    Some(PodMsg::Updated(p))
                        if p.pointer("/metadata/deletionTimestamp").is_some() =>
                    {
                        let _ = self.store.delete(&key, None);
                        return;
                    }
                    _ => {}
                }
            }
        }
        if pod.pointer("/metadata/deletionTimestamp").is_some() {
            let _ = self.store.delete(&key, None);
            return;
        }
        // volumes first: kubelet starts nothing until they are mounted
        let vols = Arc::new(crate::podvolumes::PodVolumes::new(
            self.pod_state_dir(&uid).join("volumes"),
            self.store.clone(),
            self.cfg.tokens.clone(),
        ));
        if !self.wait_for_volumes(&pod, &key, &vols, &mut rx).await {
            let _ = std::fs::remove_dir_all(self.pod_state_dir(&uid));
            return;
        }
        let a = self.clone();
        let p = pod.clone();
        let sandbox = tokio::task::spawn_blocking(move || a.create_sandbox(&p)).await;
        let (holder, ip) = match sandbox {
            Ok(Ok(x)) => x,
            Ok(Err(e)) => {
                let msg = format!("Failed to create pod sandbox: {e:#}");
                tracing::warn!(pod = %format!("{ns}/{name}"), "{msg}");
                events::record(
                    &self.store,
                    &self.src,
                    &pod,
                    None,
                    "Warning",
                    "FailedCreatePodSandBox",
                    &msg,
                );
                // wait for deletion
                while let Some(m) = rx.recv().await {
                    if matches!(m, PodMsg::Deleted)
                        || matches!(&m, PodMsg::Updated(p) if p.pointer("/metadata/deletionTimestamp").is_some())
                    {
                        let _ = self.store.delete(&key, None);
                        return;
                    }
                }
                return;
            }
            Err(e) => {
                tracing::error!("sandbox task failed: {e}");
                return;
            }
        };
        let host_ip = self.cfg.node.ip.to_string();
        let start = now();
        self.write_status(&key, &uid, |p| {
            let prev = p["status"]["conditions"].clone();
            let init = has_init(p);
            let st = &mut p["status"];
            st["hostIP"] = json!(host_ip);
            st["hostIPs"] = json!([{"ip": host_ip}]);
            st["podIP"] = json!(ip.to_string());
            st["podIPs"] = json!([{"ip": ip.to_string()}]);
            st["startTime"] = json!(start);
            let t = now();
            st["conditions"] = json!([
                status::condition(Some(&prev), "PodReadyToStartContainers", true, None, &t),
                status::condition(Some(&prev), "Initialized", !init, None, &t),
                status::condition(Some(&prev), "Ready", false, Some("ContainersNotReady"), &t),
                status::condition(
                    Some(&prev),
                    "ContainersReady",
                    false,
                    Some("ContainersNotReady"),
                    &t
                ),
                status::condition(Some(&prev), "PodScheduled", true, None, &t),
            ]);
        });
        let run = PodRun {
            agent: self.clone(),
            key: key.clone(),
            uid: uid.clone(),
            ns: ns.clone(),
            name: name.clone(),
            holder,
            pod: pod.clone(),
        };
        let refresher = tokio::spawn(crate::podvolumes::refresh(
            vols,
            self.store.clone(),
            key.clone(),
            uid.clone(),
        ));
        let outcome = run.run(&mut rx).await;
        refresher.abort();
        // teardown
        let holder_pid = holder;
        let _ = tokio::task::spawn_blocking(move || {
            sandbox::terminate(holder_pid, Duration::from_millis(200))
        })
        .await;
        if !pod
            .pointer("/spec/hostNetwork")
            .and_then(Value::as_bool)
            .unwrap_or(false)
        {
            self.release_ip(ip);
        }
        let _ = std::fs::remove_dir_all(self.pod_dir(&uid));
        let _ = std::fs::remove_dir_all(self.pod_state_dir(&uid));
        if outcome == Outcome::DeleteRequested {
            let cur = self.store.get(&key);
            if cur
                .as_ref()
                .is_some_and(|c| str_at(c, "/metadata/uid") == uid)
            {
                let _ = self.store.delete(&key, None);
            }
        }
    }
}

fn has_init(p: &Value) -> bool {
    p.pointer("/spec/initContainers")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
}

fn uuid_like(seed: &str) -> String {
    use sha2::{Digest, Sha256};
    let h = hex::encode(Sha256::digest(seed.as_bytes()));
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// The pod was marked for deletion: remove it from the store once stopped.
    DeleteRequested,
    /// The pod object is gone (force deletion).
    Gone,
    /// All containers finished for good.
    Finished,
}

/// Messages from container runners to their pod.
#[allow(clippy::large_enum_variant)] // a few messages per container run
enum CMsg {
    State(usize, State, u32, String, Option<Terminated>, bool),
    /// A probe verdict changed: (container, readiness or startup, passing).
    Probe(usize, crate::probe::Kind, bool),
}

struct PodRun {
    agent: Arc<Agent>,
    key: String,
    uid: String,
    ns: String,
    name: String,
    holder: u32,
    pod: Arc<Value>,
}

impl PodRun {
    fn containers(&self, field: &str) -> Vec<Value> {
        self.pod
            .pointer(&format!("/spec/{field}"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    }

    fn restart_policy(&self) -> String {
        let p = str_at(&self.pod, "/spec/restartPolicy");
        if p.is_empty() {
            "Always".into()
        } else {
            p.into()
        }
    }

    fn event(&self, field_path: Option<&str>, typ: &str, reason: &str, msg: &str) {
        self.agent
            .pod_event(&self.key, &self.pod, field_path, typ, reason, msg);
    }

    async fn run(&self, rx: &mut mpsc::UnboundedReceiver<PodMsg>) -> Outcome {
        let (stop_tx, stop_rx) = watch::channel::<Option<i64>>(None);
        // init containers, one after the other
        let inits = self.containers("initContainers");
        for (i, c) in inits.iter().enumerate() {
            let (ctx, mut crx) = mpsc::unbounded_channel();
            let spec = self.runner_spec(c, i, Kind::Init);
            let h = tokio::spawn(run_container(spec, ctx, stop_rx.clone()));
            let mut ok = false;
            let mut h = Box::pin(h);
            loop {
                tokio::select! {
                    m = rx.recv() => match m {
                        Some(PodMsg::Updated(p)) if p.pointer("/metadata/deletionTimestamp").is_some() => {
                            let _ = stop_tx.send(Some(grace_of(&p)));
                            let _ = (&mut h).await;
                            return Outcome::DeleteRequested;
                        }
                        Some(PodMsg::Updated(_)) => {}
                        None | Some(PodMsg::Deleted) => {
                            let _ = stop_tx.send(Some(0));
                            let _ = (&mut h).await;
                            return Outcome::Gone;
                        }
                    },
                    m = crx.recv() => match m {
                        Some(CMsg::Probe(..)) => {}
                        Some(CMsg::State(_, st, restarts, cid, last, will_restart)) => {
                            let init_state = ContainerState { name: c["name"].as_str().unwrap_or("").into(), image: c["image"].as_str().unwrap_or("").into(), state: st.clone(), last, restart_count: restarts, container_id: cid, will_restart, ready: None, started: None };
                            self.write_init_status(i, &init_state, inits.len());
                            if let State::Terminated(t) = &st {
                                if t.exit_code == 0 { ok = true; }
                                if !will_restart && t.exit_code != 0 {
                                    self.finish_failed_init();
                                }
                            }
                        }
                        None => break,
                    }
                }
            }
            if !ok {
                // failed for good (restartPolicy Never)
                return self.wait_deletion(rx).await;
            }
        }
        // main containers
        let specs = self.containers("containers");
        let (ctx, mut crx) = mpsc::unbounded_channel();
        let mut states: Vec<ContainerState> = specs
            .iter()
            .map(|c| ContainerState {
                name: c["name"].as_str().unwrap_or("").into(),
                image: c["image"].as_str().unwrap_or("").into(),
                state: State::Waiting {
                    reason: "ContainerCreating".into(),
                    message: None,
                },
                last: None,
                restart_count: 0,
                container_id: String::new(),
                will_restart: true,
                ready: c.get("readinessProbe").map(|_| false),
                started: c.get("startupProbe").map(|_| false),
            })
            .collect();
        let mut handles = Vec::new();
        for (i, c) in specs.iter().enumerate() {
            let spec = self.runner_spec(c, i, Kind::Main);
            handles.push(tokio::spawn(run_container(
                spec,
                ctx.clone(),
                stop_rx.clone(),
            )));
        }
        drop(ctx);
        // ephemeral containers (`kubectl debug`), started as they are added to the spec
        let (etx, mut erx) = mpsc::unbounded_channel();
        let mut ephemeral: Vec<ContainerState> = Vec::new();
        self.start_ephemeral(&self.pod, &mut ephemeral, &etx, &stop_rx, &mut handles);
        let mut outcome = None;
        loop {
            tokio::select! {
                m = rx.recv(), if outcome.is_none() => match m {
                    Some(PodMsg::Updated(p)) if p.pointer("/metadata/deletionTimestamp").is_some() => {
                        let grace = grace_of(&p);
                        for s in &states {
                            if matches!(s.state, State::Running { .. }) {
                                self.event(Some(&format!("spec.containers{{{}}}", s.name)), "Normal", "Killing", &format!("Stopping container {}", s.name));
                            }
                        }
                        let _ = stop_tx.send(Some(grace));
                        outcome = Some(Outcome::DeleteRequested);
                    }
                    Some(PodMsg::Updated(p)) => {
                        self.start_ephemeral(&p, &mut ephemeral, &etx, &stop_rx, &mut handles);
                    }
                    None | Some(PodMsg::Deleted) => {
                        let _ = stop_tx.send(Some(0));
                        outcome = Some(Outcome::Gone);
                    }
                },
                Some(m) = erx.recv() => {
                    if let CMsg::State(i, st, restarts, cid, last, _) = m {
                        ephemeral[i].state = st;
                        ephemeral[i].restart_count = restarts;
                        ephemeral[i].container_id = cid;
                        ephemeral[i].last = last;
                        ephemeral[i].will_restart = false;
                        if outcome != Some(Outcome::Gone) {
                            let statuses: Vec<Value> = ephemeral.iter().map(status::container_status).collect();
                            self.agent.write_status(&self.key, &self.uid, |p| {
                                p["status"]["ephemeralContainerStatuses"] = json!(statuses);
                            });
                        }
                    }
                },
                m = crx.recv() => match m {
                    Some(CMsg::Probe(i, kind, ok)) => {
                        match kind {
                            crate::probe::Kind::Readiness => states[i].ready = Some(ok),
                            crate::probe::Kind::Startup => states[i].started = Some(ok),
                            crate::probe::Kind::Liveness => {}
                        }
                        if outcome.is_none() {
                            self.write_main_status(&states, false);
                        }
                    }
                    Some(CMsg::State(i, st, restarts, cid, last, will_restart)) => {
                        if !matches!(st, State::Running { .. }) {
                            // a new run starts unready and unstarted again
                            if states[i].ready.is_some() { states[i].ready = Some(false); }
                            if states[i].started.is_some() { states[i].started = Some(false); }
                        }
                        states[i].state = st;
                        states[i].restart_count = restarts;
                        states[i].container_id = cid;
                        states[i].last = last;
                        states[i].will_restart = will_restart && outcome.is_none();
                        if outcome != Some(Outcome::Gone) {
                            self.write_main_status(&states, outcome.is_some());
                        }
                    }
                    None => break,
                }
            }
        }
        if outcome.is_none() {
            // the pod is done: ephemeral containers go with it
            let _ = stop_tx.send(Some(0));
        }
        for h in handles {
            let _ = h.await;
        }
        match outcome {
            Some(o) => o,
            None => {
                // every container finished for good
                self.wait_deletion(rx).await
            }
        }
    }

    /// Starts the ephemeral containers of `pod`'s spec that do not run yet.
    fn start_ephemeral(
        &self,
        pod: &Value,
        started: &mut Vec<ContainerState>,
        tx: &mpsc::UnboundedSender<CMsg>,
        stop: &watch::Receiver<Option<i64>>,
        handles: &mut Vec<tokio::task::JoinHandle<()>>,
    ) {
        let Some(list) = pod
            .pointer("/spec/ephemeralContainers")
            .and_then(Value::as_array)
        else {
            return;
        };
        for c in list {
            let name = c["name"].as_str().unwrap_or("");
            if name.is_empty() || started.iter().any(|s| s.name == name) {
                continue;
            }
            started.push(ContainerState {
                name: name.into(),
                image: c["image"].as_str().unwrap_or("").into(),
                state: State::Waiting {
                    reason: "ContainerCreating".into(),
                    message: None,
                },
                last: None,
                restart_count: 0,
                container_id: String::new(),
                will_restart: false,
                ready: None,
                started: None,
            });
            // the spec the runner sees is the pod as it is now
            let run = PodRun {
                pod: Arc::new(pod.clone()),
                agent: self.agent.clone(),
                key: self.key.clone(),
                uid: self.uid.clone(),
                ns: self.ns.clone(),
                name: self.name.clone(),
                holder: self.holder,
            };
            let spec = run.runner_spec(c, started.len() - 1, Kind::Ephemeral);
            handles.push(tokio::spawn(run_container(spec, tx.clone(), stop.clone())));
        }
    }

    async fn wait_deletion(&self, rx: &mut mpsc::UnboundedReceiver<PodMsg>) -> Outcome {
        // the sandbox goes away now; the pod object stays until deleted
        let _ = sandbox::kill(self.holder, sandbox::Signal::Kill);
        loop {
            match rx.recv().await {
                Some(PodMsg::Updated(p)) if p.pointer("/metadata/deletionTimestamp").is_some() => {
                    return Outcome::DeleteRequested;
                }
                Some(PodMsg::Updated(_)) => {}
                None | Some(PodMsg::Deleted) => return Outcome::Finished,
            }
        }
    }

    fn runner_spec(&self, c: &Value, index: usize, kind: Kind) -> RunnerSpec {
        let name = c["name"].as_str().unwrap_or("").to_string();
        let strs = |k: &str| -> Vec<String> {
            c[k].as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        let ports: Vec<u16> = c["ports"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| p["containerPort"].as_u64().map(|x| x as u16))
                    .collect()
            })
            .unwrap_or_default();
        let image = c["image"].as_str().unwrap_or("").to_string();
        let program = catalog::program(&image, &strs("command"), &strs("args"), &ports);
        let mut env: Vec<(String, String)> = vec![
            ("HOSTNAME".into(), self.hostname()),
            ("HOME".into(), "/root".into()),
            ("KUBERNETES_SERVICE_HOST".into(), "10.152.183.1".into()),
            ("KUBERNETES_SERVICE_PORT".into(), "443".into()),
            ("KUBERNETES_SERVICE_PORT_HTTPS".into(), "443".into()),
            ("KUBERNETES_PORT".into(), "tcp://10.152.183.1:443".into()),
            (
                "KUBERNETES_PORT_443_TCP".into(),
                "tcp://10.152.183.1:443".into(),
            ),
            ("KUBERNETES_PORT_443_TCP_PROTO".into(), "tcp".into()),
            ("KUBERNETES_PORT_443_TCP_PORT".into(), "443".into()),
            ("KUBERNETES_PORT_443_TCP_ADDR".into(), "10.152.183.1".into()),
        ];
        // envFrom first: explicit env entries win over it, as in kubelet
        if let Some(list) = c["envFrom"].as_array() {
            for src in list {
                let prefix = src["prefix"].as_str().unwrap_or("");
                for (kind, plural) in [("configMapRef", "configmaps"), ("secretRef", "secrets")] {
                    let Some(r) = src.get(kind) else { continue };
                    let res = objects::resource("", plural);
                    let name = r["name"].as_str().unwrap_or("");
                    let Some(obj) =
                        self.agent
                            .store
                            .get(&resources::store_key(res, Some(&self.ns), name))
                    else {
                        continue;
                    };
                    if let Some(data) = obj.get("data").and_then(Value::as_object) {
                        for (k, v) in data {
                            let v = v.as_str().unwrap_or("");
                            let v = if plural == "secrets" {
                                decode_b64(v)
                            } else {
                                v.to_string()
                            };
                            let key = format!("{prefix}{k}");
                            env.retain(|(x, _)| *x != key);
                            env.push((key, v));
                        }
                    }
                }
            }
        }
        if let Some(list) = c["env"].as_array() {
            for e in list {
                let k = e["name"].as_str().unwrap_or("").to_string();
                let v = match e.get("value").and_then(Value::as_str) {
                    Some(v) => expand_env(v, &env),
                    None => self.env_from(e.get("valueFrom")).unwrap_or_default(),
                };
                env.retain(|(x, _)| *x != k);
                env.push((k, v));
            }
        }
        let policy = self.restart_policy();
        RunnerSpec {
            agent: self.agent.clone(),
            index,
            name: name.clone(),
            image,
            program,
            env,
            workdir: c["workingDir"].as_str().map(PathBuf::from),
            holder: self.holder,
            restart: match (kind, policy.as_str()) {
                (Kind::Ephemeral, _) => Restart::Never,
                (Kind::Init, "Never") => Restart::Never,
                (Kind::Init, _) => Restart::OnFailure,
                (Kind::Main, "Never") => Restart::Never,
                (Kind::Main, "OnFailure") => Restart::OnFailure,
                _ => Restart::Always,
            },
            log_base: log_path(
                &self.agent.cfg.log_dir,
                &self.ns,
                &self.name,
                &self.uid,
                &name,
                0,
            ),
            pod_label: format!("{}_{}({})", self.name, self.ns, self.uid),
            key: self.key.clone(),
            field_path: format!("spec.{}{{{name}}}", kind.field()),
            pod: self.pod.clone(),
            container: if kind == Kind::Main {
                c.clone()
            } else {
                json!({})
            },
            uid: self.uid.clone(),
            stdin: c["stdin"].as_bool().unwrap_or(false),
            stdin_once: c["stdinOnce"].as_bool().unwrap_or(false),
            tty: c["tty"].as_bool().unwrap_or(false),
            mounts: crate::volumes::container_binds(
                &self.pod,
                c,
                &self.agent.pod_state_dir(&self.uid).join("volumes"),
                &crate::exec::container_dir(&self.agent.cfg.run_dir, &self.uid, &name).join("mnt"),
            ),
            own_dir: crate::exec::container_dir(&self.agent.cfg.run_dir, &self.uid, &name),
        }
    }

    fn hostname(&self) -> String {
        if self
            .pod
            .pointer("/spec/hostNetwork")
            .and_then(Value::as_bool)
            .unwrap_or(false)
        {
            return self.agent.cfg.node.name.clone();
        }
        let h = str_at(&self.pod, "/spec/hostname");
        if h.is_empty() {
            self.name.clone()
        } else {
            h.to_string()
        }
    }

    fn env_from(&self, from: Option<&Value>) -> Option<String> {
        let from = from?;
        if let Some(f) = from.pointer("/fieldRef/fieldPath").and_then(Value::as_str) {
            let cur = self
                .agent
                .store
                .get(&self.key)
                .unwrap_or_else(|| self.pod.clone());
            return Some(match f {
                "metadata.name" => self.name.clone(),
                "metadata.namespace" => self.ns.clone(),
                "metadata.uid" => self.uid.clone(),
                "spec.nodeName" => self.agent.cfg.node.name.clone(),
                "spec.serviceAccountName" => str_at(&cur, "/spec/serviceAccountName").into(),
                "status.podIP" => str_at(&cur, "/status/podIP").into(),
                "status.hostIP" => self.agent.cfg.node.ip.to_string(),
                other => {
                    if let Some(l) = other
                        .strip_prefix("metadata.labels['")
                        .and_then(|s| s.strip_suffix("']"))
                    {
                        cur.pointer("/metadata/labels")
                            .and_then(|m| m.get(l))
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .into()
                    } else {
                        String::new()
                    }
                }
            });
        }
        for (kind, plural) in [
            ("configMapKeyRef", "configmaps"),
            ("secretKeyRef", "secrets"),
        ] {
            if let Some(r) = from.get(kind) {
                let res = objects::resource("", plural);
                let obj = self.agent.store.get(&resources::store_key(
                    res,
                    Some(&self.ns),
                    r["name"].as_str().unwrap_or(""),
                ))?;
                let k = r["key"].as_str().unwrap_or("");
                let v = obj
                    .get("data")
                    .and_then(|d| d.get(k))
                    .and_then(Value::as_str)?;
                return Some(if plural == "secrets" {
                    decode_b64(v)
                } else {
                    v.to_string()
                });
            }
        }
        None
    }

    fn write_init_status(&self, i: usize, st: &ContainerState, total: usize) {
        let done = matches!(&st.state, State::Terminated(t) if t.exit_code == 0) && i + 1 == total;
        let cs = status::container_status(st);
        self.agent.write_status(&self.key, &self.uid, |p| {
            let arr = p["status"]
                .as_object_mut()
                .unwrap()
                .entry("initContainerStatuses")
                .or_insert_with(|| json!([]));
            if let Some(a) = arr.as_array_mut() {
                if a.len() <= i {
                    a.resize(i + 1, json!({}));
                }
                a[i] = cs;
            }
            if done {
                let t = now();
                if let Some(c) = p["status"]["conditions"].as_array_mut() {
                    for c in c.iter_mut().filter(|c| c["type"] == "Initialized") {
                        c["status"] = json!("True");
                        c["lastTransitionTime"] = json!(t);
                    }
                }
            }
        });
    }

    fn finish_failed_init(&self) {
        self.agent.write_status(&self.key, &self.uid, |p| {
            p["status"]["phase"] = json!("Failed");
        });
    }

    fn write_main_status(&self, states: &[ContainerState], stopping: bool) {
        let statuses: Vec<Value> = states.iter().map(status::container_status).collect();
        let all_ready = states.iter().all(ContainerState::is_ready);
        let phase = status::phase(true, states, false);
        let t = now();
        self.agent.write_status(&self.key, &self.uid, |p| {
            let prev = p["status"]["conditions"].clone();
            let ready_reason = if all_ready {
                None
            } else {
                Some("ContainersNotReady")
            };
            let done = matches!(phase, "Succeeded" | "Failed");
            let reason = if done {
                Some("PodCompleted")
            } else {
                ready_reason
            };
            let ready = all_ready && !stopping;
            p["status"]["conditions"] = json!([
                status::condition(Some(&prev), "PodReadyToStartContainers", !done, None, &t),
                status::condition(
                    Some(&prev),
                    "Initialized",
                    true,
                    if done && !has_init(p) {
                        Some("PodCompleted")
                    } else {
                        None
                    },
                    &t
                ),
                status::condition(
                    Some(&prev),
                    "Ready",
                    ready,
                    if ready { None } else { reason },
                    &t
                ),
                status::condition(
                    Some(&prev),
                    "ContainersReady",
                    ready,
                    if ready { None } else { reason },
                    &t
                ),
                status::condition(Some(&prev), "PodScheduled", true, None, &t),
            ]);
            if let Some(c) = p["status"]["conditions"].as_array_mut() {
                for c in c.iter_mut().filter(|c| c.get("reason").is_none()) {
                    c.as_object_mut().unwrap().remove("reason");
                }
            }
            p["status"]["containerStatuses"] = json!(statuses);
            p["status"]["phase"] = json!(phase);
        });
    }
}

fn grace_of(p: &Value) -> i64 {
    p.pointer("/metadata/deletionGracePeriodSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(30)
}

fn decode_b64(s: &str) -> String {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// `$(VAR)` references to earlier variables, as kubelet expands them (`$$` escapes).
pub fn expand_env(v: &str, env: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = v;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(t) = tail.strip_prefix("$$") {
            out.push('$');
            rest = t;
        } else if let Some(t) = tail.strip_prefix("$(")
            && let Some(end) = t.find(')')
        {
            let name = &t[..end];
            match env.iter().rev().find(|(k, _)| k == name) {
                Some((_, val)) => out.push_str(val),
                None => out.push_str(&tail[..end + 3]),
            }
            rest = &t[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

/// Which list of the pod spec a container comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Init,
    Main,
    Ephemeral,
}

impl Kind {
    fn field(self) -> &'static str {
        match self {
            Kind::Init => "initContainers",
            Kind::Main => "containers",
            Kind::Ephemeral => "ephemeralContainers",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Restart {
    Always,
    OnFailure,
    Never,
}

struct RunnerSpec {
    agent: Arc<Agent>,
    index: usize,
    name: String,
    image: String,
    program: Program,
    env: Vec<(String, String)>,
    workdir: Option<PathBuf>,
    holder: u32,
    restart: Restart,
    log_base: PathBuf,
    pod_label: String,
    key: String,
    field_path: String,
    pod: Arc<Value>,
    /// The container's spec (probes, ports).
    container: Value,
    uid: String,
    /// `stdin`, `stdinOnce` and `tty` of the container's spec.
    stdin: bool,
    stdin_once: bool,
    tty: bool,
    /// The container's volume mounts (its own mount namespace), or why they are wrong.
    mounts: Result<kinet_linux::mounts::ContainerMounts, String>,
    /// `<run_dir>/pods/<uid>/containers/<name>`: the pid file and the mount scratch dir.
    own_dir: PathBuf,
}

impl RunnerSpec {
    /// Makes `cmd` enter the pod, in a mount namespace of its own with the container's
    /// volume mounts. The report explains a failed spawn (which mount step failed).
    fn join(
        &self,
        cmd: &mut tokio::process::Command,
    ) -> (anyhow::Result<()>, Option<kinet_linux::mounts::Report>) {
        let workdir = self.workdir.clone().unwrap_or_else(|| PathBuf::from("/"));
        let _ = std::fs::create_dir_all(&self.own_dir);
        let mounts = match &self.mounts {
            Ok(m) if !m.binds.is_empty() => m.clone(),
            Ok(_) => return (sandbox::join(cmd, self.holder, Some(&workdir)), None),
            Err(e) => return (Err(anyhow::anyhow!("{e}")), None),
        };
        if let Err(e) = std::fs::create_dir_all(&mounts.scratch) {
            return (Err(e.into()), None);
        }
        let opts = sandbox::JoinOptions {
            workdir: Some(workdir),
            setsid: false,
            mounts: Some(mounts),
        };
        match sandbox::join_container(cmd, self.holder, &opts) {
            Ok(r) => (Ok(()), Some(r)),
            Err(e) => (Err(e), None),
        }
    }

    fn event(&self, typ: &str, reason: &str, msg: &str) {
        self.agent.pod_event(
            &self.key,
            &self.pod,
            Some(&self.field_path),
            typ,
            reason,
            msg,
        );
    }

    fn command(&self) -> tokio::process::Command {
        let (prog, args): (String, Vec<String>) = match &self.program {
            Program::Exec { argv, .. } => (
                argv.first().cloned().unwrap_or_default(),
                argv[1.min(argv.len())..].to_vec(),
            ),
            Program::Builtin { args } | Program::Emulated { args } => {
                (self.agent.cfg.self_exe.display().to_string(), args.clone())
            }
        };
        let path = match self.program {
            Program::Exec { busybox: true, .. } => {
                crate::exec::container_path(&self.image, self.agent.cfg.busybox_dir.as_deref())
            }
            _ => crate::exec::DEFAULT_PATH.to_string(),
        };
        // resolve the program on the container's PATH (busybox applets first)
        let resolved = if prog.contains('/') {
            prog.clone()
        } else {
            path.split(':')
                .map(|d| Path::new(d).join(&prog))
                .find(|p| p.exists())
                .map(|p| p.display().to_string())
                .unwrap_or(prog.clone())
        };
        let mut cmd = tokio::process::Command::new(&resolved);
        cmd.arg0(&prog);
        cmd.args(&args);
        cmd.env_clear();
        cmd.env("PATH", &path);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.env(crate::lab::LAB_ENV, &self.agent.cfg.lab);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd.kill_on_drop(false);
        cmd
    }
}

/// The id of a pod's sandbox (as `crictl pods` shows it): 64 hex digits from the pod UID.
pub fn sandbox_id(uid: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(format!("sandbox/{uid}").as_bytes()))
}

fn container_id(seed: &str) -> String {
    use sha2::{Digest, Sha256};
    format!(
        "containerd://{}",
        hex::encode(Sha256::digest(seed.as_bytes()))
    )
}

/// Copies a container's output to its CRI log (one entry per line) and to the
/// clients attached to it (as it comes).
async fn pump<R: AsyncRead + Unpin>(
    mut r: R,
    stream: &'static str,
    file: Arc<tokio::sync::Mutex<tokio::fs::File>>,
    out: tokio::sync::broadcast::Sender<crate::attach::Chunk>,
) {
    let ch = if stream == "stderr" { 2 } else { 1 };
    let mut buf = vec![0u8; 32 * 1024];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let _ = out.send((ch, bytes::Bytes::copy_from_slice(&buf[..n])));
        pending.extend_from_slice(&buf[..n]);
        let mut entries = String::new();
        while let Some(i) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=i).collect();
            let text = String::from_utf8_lossy(&line[..line.len() - 1]);
            entries.push_str(&format!("{} {stream} F {text}\n", now_nanos()));
        }
        if !entries.is_empty() {
            let mut f = file.lock().await;
            let _ = f.write_all(entries.as_bytes()).await;
        }
    }
    if !pending.is_empty() {
        let text = String::from_utf8_lossy(&pending);
        let entry = format!("{} {stream} F {text}\n", now_nanos());
        let mut f = file.lock().await;
        let _ = f.write_all(entry.as_bytes()).await;
    }
}

/// Runs one container with its restart policy until it stops for good or is told to stop.
async fn run_container(
    spec: RunnerSpec,
    tx: mpsc::UnboundedSender<CMsg>,
    mut stop: watch::Receiver<Option<i64>>,
) {
    let mut restarts: u32 = 0;
    let mut last: Option<Terminated> = None;
    let mut backoff = Duration::from_secs(10);
    if matches!(spec.program, Program::Emulated { .. }) {
        spec.event("Normal", "Emulated", &format!("Image {:?} is not in kinet's catalog: a generic server answers on its container ports", spec.image));
    }
    loop {
        if stop.borrow().is_some() {
            return;
        }
        let pulled_before = restarts > 0;
        if !pulled_before {
            let policy = kinet_model::defaults::image_pull_policy(&spec.image);
            if policy == "Always" {
                spec.event(
                    "Normal",
                    "Pulling",
                    &format!("Pulling image {:?}", spec.image),
                );
                spec.event("Normal", "Pulled", &format!("Successfully pulled image {:?} in 0s (0s including waiting). Image size: 0 bytes.", spec.image));
            } else {
                spec.event(
                    "Normal",
                    "Pulled",
                    &format!(
                        "Container image {:?} already present on machine",
                        spec.image
                    ),
                );
            }
        }
        let log = spec.log_base.with_file_name(format!("{restarts}.log"));
        if let Some(d) = log.parent() {
            let _ = tokio::fs::create_dir_all(d).await;
        }
        let file = match tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .await
        {
            Ok(f) => Arc::new(tokio::sync::Mutex::new(f)),
            Err(e) => {
                tracing::error!("cannot open log {}: {e}", log.display());
                return;
            }
        };
        let cid = container_id(&format!("{}-{}-{restarts}", spec.pod_label, spec.name));
        let mut cmd = spec.command();
        let (joined, report) = spec.join(&mut cmd);
        // stdin and tty: a terminal the agent keeps the master side of, or a stdin pipe
        let mut master = None;
        let joined = joined.and_then(|()| {
            if spec.tty {
                master = Some(crate::exec::with_terminal(&mut cmd)?);
            } else if spec.stdin {
                cmd.stdin(Stdio::piped());
            }
            Ok(())
        });
        let started = now();
        let child = match joined {
            Ok(()) => cmd.spawn().map_err(|e| match &report {
                Some(r) => r.explain(e),
                None => anyhow::Error::from(e),
            }),
            Err(e) => Err(e),
        };
        // the terminal's slave side now belongs to the container alone
        drop(cmd);
        spec.event(
            "Normal",
            "Created",
            &format!("Created container: {}", spec.name),
        );
        let (term, ran_for) = match child {
            Err(e) => {
                let msg = match &spec.program {
                    Program::Exec { argv, .. }
                        if e.downcast_ref::<std::io::Error>()
                            .is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound) =>
                    {
                        format!(
                            "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: error during container init: exec: {:?}: executable file not found in $PATH: unknown",
                            argv.first().cloned().unwrap_or_default()
                        )
                    }
                    _ => format!("failed to start container: {e:#}"),
                };
                spec.event("Warning", "Failed", &format!("Error: {msg}"));
                (
                    Terminated {
                        exit_code: 128,
                        signal: None,
                        reason: "StartError".into(),
                        message: Some(msg),
                        started_at: "1970-01-01T00:00:00Z".into(),
                        finished_at: now(),
                        container_id: cid.clone(),
                    },
                    Duration::ZERO,
                )
            }
            Ok(mut child) => {
                // the pid before the container shows Running: exec enters its process
                let pid_file = spec.own_dir.join("pid");
                let _ = std::fs::write(&pid_file, child.id().unwrap_or(0).to_string());
                spec.event(
                    "Normal",
                    "Started",
                    &format!("Started container {}", spec.name),
                );
                let t0 = Instant::now();
                let _ = tx.send(CMsg::State(
                    spec.index,
                    State::Running {
                        started_at: started.clone(),
                    },
                    restarts,
                    cid.clone(),
                    last.clone(),
                    true,
                ));
                let pty_fd = |m: &Option<std::os::fd::OwnedFd>| {
                    m.as_ref()
                        .and_then(|m| m.try_clone().ok())
                        .map(|fd| tokio::fs::File::from_std(std::fs::File::from(fd)))
                };
                let (point, feed) = crate::attach::AttachPoint::new(
                    spec.stdin,
                    spec.stdin_once,
                    spec.tty,
                    master.as_ref().and_then(|m| m.try_clone().ok()),
                );
                let point = Arc::new(point);
                spec.agent
                    .attach
                    .insert(&spec.uid, &spec.name, point.clone());
                let out = match pty_fd(&master) {
                    Some(m) => Some(tokio::spawn(pump(
                        m,
                        "stdout",
                        file.clone(),
                        feed.out.clone(),
                    ))),
                    None => child
                        .stdout
                        .take()
                        .map(|o| tokio::spawn(pump(o, "stdout", file.clone(), feed.out.clone()))),
                };
                let err = child
                    .stderr
                    .take()
                    .map(|e| tokio::spawn(pump(e, "stderr", file.clone(), feed.out.clone())));
                let input = feed.stdin.map(|mut rx| {
                    let tty = master.is_some();
                    let mut w: Option<Box<dyn tokio::io::AsyncWrite + Send + Unpin>> =
                        match pty_fd(&master) {
                            Some(m) => Some(Box::new(m)),
                            None => child.stdin.take().map(|s| Box::new(s) as _),
                        };
                    tokio::spawn(async move {
                        while let Some(m) = rx.recv().await {
                            let Some(wr) = w.as_mut() else { continue };
                            let res = match m {
                                crate::attach::Input::Data(d) => wr.write_all(&d).await,
                                // end of input: ^D on a terminal, a closed pipe otherwise
                                crate::attach::Input::Close if tty => wr.write_all(&[4]).await,
                                crate::attach::Input::Close => {
                                    w = None;
                                    Ok(())
                                }
                            };
                            if res.is_err() {
                                w = None;
                            }
                        }
                    })
                });
                drop(master);
                let pid = child.id().unwrap_or(0);
                let (kill_tx, mut kill_rx) = mpsc::unbounded_channel::<String>();
                let probes = crate::probe::Probes::from_container(&spec.container).map(|p| {
                    let ctx = crate::probe::Context {
                        node_netns: Some(spec.agent.cfg.netns.clone()),
                        // exec probes see what the container sees (its mounts)
                        holder: if pid > 0 { pid } else { spec.holder },
                        pod_ip: spec
                            .agent
                            .store
                            .get(&spec.key)
                            .map(|p| str_at(&p, "/status/podIP").to_string())
                            .unwrap_or_default(),
                    };
                    let tx = tx.clone();
                    let index = spec.index;
                    let (agent, key, pod, fp, name) = (
                        spec.agent.clone(),
                        spec.key.clone(),
                        spec.pod.clone(),
                        spec.field_path.clone(),
                        spec.name.clone(),
                    );
                    tokio::spawn(p.run(ctx, move |ev| match ev {
                        crate::probe::Event::Verdict(kind, ok) => {
                            let _ = tx.send(CMsg::Probe(index, kind, ok));
                        }
                        crate::probe::Event::Failed(kind, msg) => {
                            agent.pod_event(
                                &key,
                                &pod,
                                Some(&fp),
                                "Warning",
                                "Unhealthy",
                                &format!("{} probe failed: {msg}", kind.name()),
                            );
                            if kind == crate::probe::Kind::Liveness
                                || kind == crate::probe::Kind::Startup
                            {
                                agent.pod_event(
                                    &key,
                                    &pod,
                                    Some(&fp),
                                    "Normal",
                                    "Killing",
                                    &format!(
                                        "Container {name} failed {} probe, will be restarted",
                                        kind.name().to_lowercase()
                                    ),
                                );
                            }
                        }
                        crate::probe::Event::Restart(kind) => {
                            let _ = kill_tx.send(kind.name().to_string());
                        }
                    }))
                });
                let grace_default = spec
                    .pod
                    .pointer("/spec/terminationGracePeriodSeconds")
                    .and_then(Value::as_i64)
                    .unwrap_or(30)
                    .max(0) as u64;
                let status = tokio::select! {
                    s = child.wait() => s,
                    Some(_) = kill_rx.recv() => {
                        if pid > 0 {
                            let _ = sandbox::kill(pid, sandbox::Signal::Term);
                        }
                        match tokio::time::timeout(Duration::from_secs(grace_default), child.wait()).await {
                            Ok(s) => s,
                            Err(_) => {
                                let _ = child.start_kill();
                                child.wait().await
                            }
                        }
                    }
                    _ = stop.changed() => {
                        let grace = stop.borrow().unwrap_or(30).max(0) as u64;
                        if pid > 0 {
                            let _ = sandbox::kill(pid, if grace == 0 { sandbox::Signal::Kill } else { sandbox::Signal::Term });
                        }
                        match tokio::time::timeout(Duration::from_secs(grace), child.wait()).await {
                            Ok(s) => s,
                            Err(_) => {
                                let _ = child.start_kill();
                                child.wait().await
                            }
                        }
                    }
                };
                if let Some(p) = probes {
                    p.abort();
                }
                for h in [out, err].into_iter().flatten() {
                    let _ = tokio::time::timeout(Duration::from_millis(500), h).await;
                }
                if let Some(i) = input {
                    i.abort();
                }
                let (code, signal) = match status {
                    Ok(s) => {
                        use std::os::unix::process::ExitStatusExt;
                        match (s.code(), s.signal()) {
                            (Some(c), _) => (c, None),
                            (None, Some(sig)) => (128 + sig, Some(sig)),
                            _ => (1, None),
                        }
                    }
                    Err(_) => (1, None),
                };
                let reason = if code == 0 { "Completed" } else { "Error" };
                let _ = feed.exit.send(Some(code));
                spec.agent.attach.remove(&spec.uid, &spec.name, &point);
                let _ = std::fs::remove_file(&pid_file);
                (
                    Terminated {
                        exit_code: code,
                        signal,
                        reason: reason.into(),
                        message: None,
                        started_at: started.clone(),
                        finished_at: now(),
                        container_id: cid.clone(),
                    },
                    t0.elapsed(),
                )
            }
        };
        let stopping = stop.borrow().is_some();
        let again = !stopping
            && match spec.restart {
                Restart::Always => true,
                Restart::OnFailure => term.exit_code != 0,
                Restart::Never => false,
            };
        let _ = tx.send(CMsg::State(
            spec.index,
            State::Terminated(term.clone()),
            restarts,
            cid.clone(),
            last.clone(),
            again,
        ));
        if !again {
            return;
        }
        if ran_for > Duration::from_secs(600) {
            backoff = Duration::from_secs(10);
        }
        // kubelet restarts at once the first time, then backs off
        let wait = if restarts == 0 {
            Duration::ZERO
        } else {
            backoff
        };
        if restarts > 0 {
            backoff = (backoff * 2).min(Duration::from_secs(300));
        }
        last = Some(term);
        if !wait.is_zero() {
            let msg = format!(
                "back-off {}s restarting failed container={} pod={}",
                wait.as_secs(),
                spec.name,
                spec.pod_label
            );
            spec.event(
                "Warning",
                "BackOff",
                &format!(
                    "Back-off restarting failed container {} in pod {}",
                    spec.name, spec.pod_label
                ),
            );
            let _ = tx.send(CMsg::State(
                spec.index,
                State::Waiting {
                    reason: "CrashLoopBackOff".into(),
                    message: Some(msg),
                },
                restarts + 1,
                cid.clone(),
                last.clone(),
                true,
            ));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => {}
            }
        }
        restarts += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_expansion() {
        let env = vec![("A".to_string(), "x".to_string())];
        assert_eq!(expand_env("$(A)-$(B)-$$(A)", &env), "x-$(B)-$(A)");
        assert_eq!(expand_env("plain $ sign", &env), "plain $ sign");
    }

    #[test]
    fn base64_values() {
        assert_eq!(decode_b64("aGVsbG8="), "hello");
    }

    #[test]
    fn log_paths() {
        let p = log_path(
            Path::new("/var/log/kinet/lab"),
            "default",
            "web",
            "u1",
            "nginx",
            2,
        );
        assert_eq!(
            p,
            PathBuf::from("/var/log/kinet/lab/pods/default_web_u1/nginx/2.log")
        );
    }
}
