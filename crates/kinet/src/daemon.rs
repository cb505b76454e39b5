//! The lab daemon: store, API server, controllers and one node agent per node,
//! over a network built from the lab plan. Started in the background by `kinet up`.

use crate::paths::{LabConfig, Paths};
use anyhow::{Context, Result};
use kinet_apiserver::exec::{ExecFailure, ExecSession, Reader, Resize, Writer};
use kinet_apiserver::{ApiServer, NodeHooks, PortForwardFuture, pki::Pki};
use kinet_controllers::{namespaces, scheduler};
use kinet_node::{agent, lab, plan};
use kinet_store::Store;
use serde_json::json;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Arc;

/// The API server's port inside the lab (MicroK8s' 16443), on node1's address.
pub const LAB_API_PORT: u16 = kinet_model::lab::API_PORT;

/// What the API server asks of the node agents: log files and exec.
struct Bridge {
    lab: String,
    dir: PathBuf,
    run: PathBuf,
    busybox: Option<PathBuf>,
    store: Arc<Store>,
    agents: Vec<Arc<agent::Agent>>,
}

impl NodeHooks for Bridge {
    fn log_path(
        &self,
        ns: &str,
        pod: &str,
        uid: &str,
        container: &str,
        previous: bool,
    ) -> Option<PathBuf> {
        // the current run is the container's restartCount; the previous one is before it
        let r = kinet_model::resources::find("", "v1", "pods")?;
        let p = self
            .store
            .get(&kinet_model::resources::store_key(r, Some(ns), pod))?;
        let restarts = p
            .pointer("/status/containerStatuses")
            .and_then(|a| a.as_array())
            .and_then(|a| a.iter().find(|c| c["name"] == container))
            .and_then(|c| c["restartCount"].as_u64())
            .unwrap_or(0) as u32;
        let n = if previous {
            restarts.checked_sub(1)?
        } else {
            restarts
        };
        Some(agent::log_path(&self.dir, ns, pod, uid, container, n))
    }

    fn exec(
        &self,
        pod: &serde_json::Value,
        container: &str,
        command: &[String],
        stdin: bool,
        tty: bool,
    ) -> Result<ExecSession, ExecFailure> {
        use kinet_node::exec::{ExecError, spawn};
        // kubelet execs only in running containers
        self.running(pod, container)?;
        let mut s = spawn(
            &self.lab,
            &self.run,
            self.busybox.as_deref(),
            pod,
            container,
            command,
            stdin,
            tty,
        )
        .map_err(|e| match e {
            ExecError::NotFound(_) => ExecFailure::Runtime(e.to_string()),
            other => ExecFailure::Refused(other.to_string()),
        })?;
        let pid = s.child.id().unwrap_or(0);
        let (stdin_w, stdout_r, stderr_r, resize): (
            Option<Writer>,
            Option<Reader>,
            Option<Reader>,
            Option<Resize>,
        ) = match s.pty.take() {
            Some(master) => {
                let reader = master
                    .try_clone()
                    .map_err(|e| ExecFailure::Refused(e.to_string()))?;
                let sizer = master
                    .try_clone()
                    .map_err(|e| ExecFailure::Refused(e.to_string()))?;
                (
                    Some(Box::new(tokio::fs::File::from_std(std::fs::File::from(
                        master,
                    )))),
                    Some(Box::new(tokio::fs::File::from_std(std::fs::File::from(
                        reader,
                    )))),
                    None,
                    Some(Box::new(move |c, r| {
                        let _ = kinet_linux::pty::set_size(&sizer, c, r);
                    })),
                )
            }
            None => (
                s.child.stdin.take().map(|w| Box::new(w) as _),
                s.child.stdout.take().map(|r| Box::new(r) as _),
                s.child.stderr.take().map(|r| Box::new(r) as _),
                None,
            ),
        };
        let mut child = s.child;
        Ok(ExecSession {
            stdin: stdin_w,
            stdout: stdout_r,
            stderr: stderr_r,
            resize,
            exit: Box::pin(async move {
                use std::os::unix::process::ExitStatusExt;
                match child.wait().await {
                    Ok(st) => st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0)),
                    Err(_) => 1,
                }
            }),
            kill: Box::new(move || {
                if pid > 0 {
                    let _ = kinet_linux::sandbox::kill(pid, kinet_linux::sandbox::Signal::Kill);
                }
            }),
        })
    }

    fn attach(
        &self,
        pod: &serde_json::Value,
        container: &str,
        stdin: bool,
        tty: bool,
    ) -> Result<ExecSession, ExecFailure> {
        let a = self.running(pod, container)?.attach(stdin, true, !tty);
        let resize: Option<Resize> = a.tty.map(|fd| {
            Box::new(move |c, r| {
                let _ = kinet_linux::pty::set_size(&*fd, c, r);
            }) as Resize
        });
        let mut exit = a.exit;
        Ok(ExecSession {
            stdin: a.stdin.map(|w| Box::new(w) as Writer),
            stdout: a.stdout.map(|r| Box::new(r) as Reader),
            stderr: a.stderr.map(|r| Box::new(r) as Reader),
            resize,
            // attach ends with the container; how it ended is the pod status's to tell
            exit: Box::pin(async move {
                let _ = exit.wait_for(Option::is_some).await;
                0
            }),
            // a client leaving detaches, the container runs on
            kill: Box::new(|| {}),
        })
    }

    fn port_forward(&self, pod: &serde_json::Value, port: u16) -> PortForwardFuture {
        self.port_forward_impl(pod, port)
    }

    fn dial(&self, pod: &serde_json::Value, port: u16) -> PortForwardFuture {
        let at = |p: &str| pod.pointer(p).and_then(|v| v.as_str()).unwrap_or("");
        let ip: Option<Ipv4Addr> = at("/status/podIP").parse().ok();
        let netns = self
            .agents
            .iter()
            .find(|a| a.node_name() == at("/spec/nodeName"))
            .map(|a| a.netns().to_path_buf());
        Box::pin(async move {
            let (Some(ip), Some(netns)) = (ip, netns) else {
                return Err("the pod has no address on a lab node".to_string());
            };
            connect_in(netns, (ip, port).into())
                .await
                .map_err(|e| match e {
                    Dial::Namespace(m) => m,
                    Dial::Connect(why) => format!("dial tcp {ip}:{port}: connect: {why}"),
                })
        })
    }
}

impl Bridge {
    /// The running instance of a container, or kubelet's refusal for one that is
    /// not declared or not running.
    fn running(
        &self,
        pod: &serde_json::Value,
        container: &str,
    ) -> Result<Arc<kinet_node::attach::AttachPoint>, ExecFailure> {
        let at = |p: &str| pod.pointer(p).and_then(|v| v.as_str()).unwrap_or("");
        self.agents
            .iter()
            .find(|a| a.node_name() == at("/spec/nodeName"))
            .and_then(|a| a.attach.get(at("/metadata/uid"), container))
            .filter(|p| !p.exited())
            .ok_or_else(|| ExecFailure::Refused(format!("container not found ({container:?})")))
    }

    fn port_forward_impl(&self, pod: &serde_json::Value, port: u16) -> PortForwardFuture {
        let holder = kinet_node::exec::holder_pid(&self.run, pod);
        let uid = pod
            .pointer("/metadata/uid")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string();
        let sandbox = kinet_node::agent::sandbox_id(&uid);
        Box::pin(async move {
            let holder = holder.map_err(|e| e.to_string())?;
            let ns = PathBuf::from(format!("/proc/{holder}/ns/net"));
            let prefix = format!(
                "error forwarding port {port} to pod {sandbox}, uid : failed to execute portforward in network namespace \"{}\": failed to connect to localhost:{port} inside namespace \"{sandbox}\"",
                ns.display()
            );
            connect_in(ns, (Ipv4Addr::LOCALHOST, port).into())
                .await
                .map_err(|e| match e {
                    Dial::Namespace(m) => format!("{prefix}: {m}"),
                    Dial::Connect(why) => format!(
                        "{prefix}, IPv4: dial tcp4 127.0.0.1:{port}: connect: {why} IPv6 dial tcp6: address localhost: no suitable address"
                    ),
                })
        })
    }
}

/// The node agents' TokenRequests (projected service-account tokens, bound to the
/// pod), answered by the API server's token code.
fn token_issuer(
    store: Arc<Store>,
    signer: Arc<kinet_apiserver::tokens::Signer>,
) -> kinet_node::podvolumes::TokenIssuer {
    Arc::new(move |r: &kinet_node::podvolumes::TokenRequest| {
        let body = json!({"spec": {
            "audiences": r.audiences,
            "expirationSeconds": r.expiration_seconds,
            "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": r.pod_name, "uid": r.pod_uid}
        }});
        let tr = kinet_apiserver::tokens::token_request(
            &store,
            &signer,
            &r.namespace,
            &r.service_account,
            &body,
            chrono::Utc::now(),
        )
        .map_err(|e| e.message)?;
        let token = tr
            .pointer("/status/token")
            .and_then(|t| t.as_str())
            .unwrap_or("")
            .to_string();
        let expires = tr
            .pointer("/status/expirationTimestamp")
            .and_then(|t| t.as_str())
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or_else(chrono::Utc::now);
        Ok(kinet_node::podvolumes::Token { token, expires })
    })
}

/// Why a connection made inside a network namespace failed.
enum Dial {
    /// Entering the namespace (or the worker thread) failed.
    Namespace(String),
    /// The connect itself, in Go's words ("connection refused").
    Connect(String),
}

/// A TCP connection to `addr` made from inside the network namespace `ns`.
async fn connect_in(
    ns: PathBuf,
    addr: std::net::SocketAddr,
) -> Result<tokio::net::TcpStream, Dial> {
    let res = tokio::task::spawn_blocking(move || {
        kinet_linux::netns::run_in(&ns, move || {
            Ok(std::net::TcpStream::connect_timeout(
                &addr,
                std::time::Duration::from_secs(5),
            ))
        })
    })
    .await
    .map_err(|e| Dial::Namespace(e.to_string()))?
    .map_err(|e| Dial::Namespace(format!("{e:#}")))?;
    let stream = res.map_err(|e| Dial::Connect(kinet_node::probe::io_words(&e)))?;
    let _ = stream.set_nodelay(true);
    stream
        .set_nonblocking(true)
        .map_err(|e| Dial::Namespace(e.to_string()))?;
    tokio::net::TcpStream::from_std(stream).map_err(|e| Dial::Namespace(e.to_string()))
}

pub fn random_token() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..32)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect()
}

/// Builds the directory of busybox applet links used for busybox/alpine images.
fn busybox_dir(p: &Paths) -> Option<PathBuf> {
    let bb = ["/usr/bin/busybox", "/bin/busybox"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())?;
    let dir = p.busybox_dir();
    std::fs::create_dir_all(&dir).ok()?;
    let out = std::process::Command::new(&bb)
        .arg("--list")
        .output()
        .ok()?;
    // busybox images ship an nc with -z/-v/-u/-w; Debian's busybox has none of them;
    // alpine images have apk
    let exe = std::env::current_exe().ok()?;
    for tool in ["nc", "apk"] {
        let f = dir.join(tool);
        let _ = std::fs::remove_file(&f);
        std::fs::write(
            &f,
            format!("#!/bin/sh\nexec {} {tool} \"$@\"\n", exe.display()),
        )
        .ok()?;
        std::fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o755)).ok()?;
    }
    // busybox 1.28 and older: their own nslookup (kinet-node exec::container_path)
    let old = dir.join("old");
    std::fs::create_dir_all(&old).ok()?;
    let f = old.join("nslookup");
    std::fs::write(
        &f,
        format!("#!/bin/sh\nexec {} nslookup \"$@\"\n", exe.display()),
    )
    .ok()?;
    std::fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o755)).ok()?;
    for applet in String::from_utf8_lossy(&out.stdout).lines() {
        let link = dir.join(applet);
        if !link.exists() {
            let _ = std::os::unix::fs::symlink(&bb, &link);
        }
    }
    Some(dir)
}

pub fn run(lab_name: &str, nodes: usize) -> Result<()> {
    let p = Paths::new(lab_name);
    let plan = plan::lab(lab_name, nodes).map_err(anyhow::Error::msg)?;
    std::fs::create_dir_all(&p.state)?;
    std::fs::create_dir_all(&p.run)?;
    std::fs::create_dir_all(&p.logs)?;
    // one daemon per lab: a second one (two `kinet up` at once) goes. A daemon
    // killed a moment ago may leave the lock to a child it was forking (held
    // until that child execs), so wait for it briefly.
    let mut lock = crate::paths::lock(&p.daemon_lock(), false)?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while lock.is_none() && p.daemon_pid().is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
        lock = crate::paths::lock(&p.daemon_lock(), false)?;
    }
    let Some(_daemon_lock) = lock else {
        anyhow::bail!(
            "lab {lab_name:?} already has a running daemon{}",
            p.daemon_pid()
                .map(|pid| format!(" (pid {pid})"))
                .unwrap_or_default()
        );
    };
    let _ = std::fs::remove_file(p.ready_file());
    std::fs::write(p.pid_file(), std::process::id().to_string())?;

    // settings: keep the port so kubeconfigs stay valid across restarts
    let listener = match LabConfig::load(&p) {
        Some(c) => std::net::TcpListener::bind(("127.0.0.1", c.port))
            .with_context(|| format!("port {} of this lab is taken", c.port))?,
        None => std::net::TcpListener::bind(("127.0.0.1", 0))?,
    };
    let port = listener.local_addr()?.port();
    LabConfig { nodes, port }.save(&p)?;
    let token = match std::fs::read_to_string(p.token()) {
        Ok(t) if !t.trim().is_empty() => t.trim().to_string(),
        _ => {
            let t = random_token();
            std::fs::write(p.token(), &t)?;
            t
        }
    };
    let node1_ip = plan.nodes[0].ip;
    let pki = Pki::load_or_create(
        &p.pki(),
        &[
            IpAddr::V4(node1_ip),
            IpAddr::V4(kinet_model::lab::KUBERNETES_SERVICE_IP),
        ],
    )?;
    // service-account tokens are signed with the lab's own key (pki/sa.key)
    let signer = Arc::new(kinet_apiserver::tokens::Signer::load_or_create(&p.pki())?);
    std::fs::write(
        p.kubeconfig(),
        crate::kubeconfig::standalone(&p, port, &pki.ca_pem, &token),
    )?;

    // the network, rebuilt from scratch (leftovers of a crash first)
    lab::remove_leftovers(lab_name)?;
    let _ = std::fs::remove_dir_all(p.run.join("pods"));
    lab::build(&plan).context("building the lab network")?;
    kinet_node::internet::write_ca_bundle(&p.state, &pki.ca_pem)?;
    let bb = busybox_dir(&p);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = rt.block_on(async {
        let store = Arc::new(Store::open(Some(&p.store()))?);
        // volumes of pods that went while the daemon was down
        let live: std::collections::HashSet<String> = store
            .list(&kinet_model::resources::store_prefix(
                kinet_registry::resource("", "pods"),
                None,
            ))
            .0
            .iter()
            .filter_map(|p| {
                p.pointer("/metadata/uid")
                    .and_then(|u| u.as_str())
                    .map(String::from)
            })
            .collect();
        kinet_node::podvolumes::remove_stale(&p.state, &live);
        namespaces::ensure_builtin(&store);
        ensure_kubernetes_service(&store, node1_ip);
        crate::system::ensure(&store, node1_ip, &crate::system::enabled(&p))?;
        crate::internet::start(&plan, &pki).context("starting the fake internet")?;
        let tls = pki.server_config()?;
        let self_exe = std::env::current_exe()?;
        let mut agents = Vec::new();
        for n in &plan.nodes {
            let host = plan.hosts.iter().find(|h| h.name == n.name).unwrap();
            agents.push(agent::Agent::new(
                agent::Config {
                    lab: lab_name.to_string(),
                    node: n.clone(),
                    netns: host.netns.clone(),
                    self_exe: self_exe.clone(),
                    run_dir: p.run.clone(),
                    log_dir: p.logs.clone(),
                    busybox_dir: bb.clone(),
                    state_dir: p.state.clone(),
                    tokens: Some(token_issuer(store.clone(), signer.clone())),
                    // as MicroK8s's kubelet: --cluster-dns only while the dns addon is on
                    cluster_dns: Some({
                        let p = p.clone();
                        Arc::new(move || crate::system::enabled(&p).contains("dns"))
                    }),
                },
                store.clone(),
            ));
        }
        let api = Arc::new(ApiServer {
            store: store.clone(),
            token: token.clone(),
            advertise: format!("{node1_ip}:{LAB_API_PORT}"),
            hooks: Some(Arc::new(Bridge {
                lab: lab_name.to_string(),
                dir: p.logs.clone(),
                run: p.run.clone(),
                busybox: bb.clone(),
                store: store.clone(),
                agents: agents.clone(),
            })),
            signer: Some(signer.clone()),
        });
        listener.set_nonblocking(true)?;
        let outside = tokio::net::TcpListener::from_std(listener)?;
        tokio::spawn(api.clone().serve(outside, tls.clone()));
        // the same API inside the lab, on node1:16443
        let node1_ns = plan
            .hosts
            .iter()
            .find(|h| h.name == plan.nodes[0].name)
            .unwrap()
            .netns
            .clone();
        let inside = kinet_linux::netns::run_in(&node1_ns, move || {
            let l = std::net::TcpListener::bind((node1_ip, LAB_API_PORT))?;
            l.set_nonblocking(true)?;
            Ok(l)
        })?;
        tokio::spawn(
            api.clone()
                .serve(tokio::net::TcpListener::from_std(inside)?, tls),
        );
        tokio::spawn(scheduler::run(store.clone()));
        tokio::spawn(namespaces::run(store.clone(), pki.ca_pem.clone()));
        tokio::spawn(kinet_controllers::workloads::Workloads::new(store.clone()).run());
        tokio::spawn(kinet_controllers::endpoints::run(store.clone()));
        // --event-ttl: events not updated for an hour (KINET_EVENT_TTL seconds) go
        let (ttl, events_store) = (kinet_registry::events::ttl_from_env(), store.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(kinet_registry::events::sweep_period(ttl));
            loop {
                tick.tick().await;
                kinet_registry::events::expire(&events_store, ttl);
            }
        });
        for a in agents {
            tokio::spawn(a.run());
        }
        std::fs::write(p.ready_file(), format!("{port}\n"))?;
        tracing::info!(lab = lab_name, port, "lab ready");
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!("stopping");
        anyhow::Ok(())
    });
    rt.shutdown_timeout(std::time::Duration::from_millis(500));
    // processes and namespaces go; the store stays for the next start
    let down = lab::teardown(&plan);
    let _ = lab::remove_leftovers(lab_name);
    let _ = std::fs::remove_dir_all(&p.run);
    result.and(down)
}

/// `default/kubernetes`: the Service in front of the API server, as every cluster has it.
fn ensure_kubernetes_service(store: &Store, node1: Ipv4Addr) {
    use kinet_registry::{Registry, Subresource, WriteOpts, create, resource};
    let svc = resource("", "services");
    let ip = kinet_model::lab::KUBERNETES_SERVICE_IP.to_string();
    let created = create(
        store,
        svc,
        json!({
            "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"type": "ClusterIP", "clusterIP": ip, "clusterIPs": [ip],
                     "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "internalTrafficPolicy": "Cluster",
                     "sessionAffinity": "None",
                     "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": LAB_API_PORT}]}
        }),
    );
    match created {
        // a create does not take a Service's status: it is the status subresource's
        Ok(_) => {
            let status = json!({"status": {"loadBalancer": {}}});
            if let Err(e) = Registry::new(store).update(
                svc,
                Some("default"),
                "kubernetes",
                Some(Subresource::Status),
                status,
                WriteOpts::IN_PROCESS,
            ) {
                tracing::warn!("default/kubernetes service status not written: {e}");
            }
        }
        Err(e) if e.reason == "AlreadyExists" => {}
        Err(e) => tracing::warn!("default/kubernetes service not created: {e}"),
    }
    kinet_controllers::endpoints::ensure_apiserver_endpoints(store, node1, LAB_API_PORT);
}
