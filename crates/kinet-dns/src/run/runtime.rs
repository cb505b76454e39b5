//! The running server: the Corefile turned into listeners and chains, the
//! health/ready/metrics endpoints, the cluster watchers, and reload (the
//! Corefile's checksum polled every interval ± jitter; a valid new config
//! replaces the old without a restart, an invalid one is logged and the old
//! one kept).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures::future::BoxFuture;
use hickory_proto::op::Message;
use sha2::{Digest, Sha512};
use tokio::task::JoinHandle;

use crate::chain::{Dispatch, Zone};
use crate::cluster::ClusterView;
use crate::config::{self, Plugin as P, PodsMode};
use crate::corefile;
use crate::http;
use crate::log;
use crate::plugins::{self, Context};
use crate::server::{self, Handler, Request};

#[derive(Clone)]
pub struct Options {
    pub conf: PathBuf,
    /// `-dns.port`: the port of keys that name none.
    pub port: Option<u16>,
    /// Where DNS listeners bind (0.0.0.0; tests use 127.0.0.1).
    pub listen_ip: IpAddr,
    /// A fixed cluster view instead of the API's (tests, embedders).
    pub view: Option<Arc<ClusterView>>,
    pub quiet: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            conf: PathBuf::from("Corefile"),
            port: None,
            listen_ip: Ipv4Addr::UNSPECIFIED.into(),
            view: None,
            quiet: false,
        }
    }
}

/// A configuration ready to swap in.
struct Prepared {
    text: String,
    banner: Vec<String>,
    dispatch: BTreeMap<SocketAddr, Arc<Dispatch>>,
    health: Vec<SocketAddr>,
    ready: Vec<SocketAddr>,
    metrics: Vec<SocketAddr>,
    reload: Option<(Duration, Duration)>,
    lameduck: Option<Duration>,
    kubernetes: bool,
    pods: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Endpoint {
    Health,
    Ready,
    Metrics,
}

/// Configured address → (bound address, its UDP and TCP tasks).
type Listeners = BTreeMap<SocketAddr, (SocketAddr, Vec<JoinHandle<()>>)>;

pub struct Runtime {
    opts: Options,
    view: Arc<ClusterView>,
    watching: AtomicBool,
    dispatch: RwLock<BTreeMap<SocketAddr, Arc<Dispatch>>>,
    dns_tasks: Mutex<Listeners>,
    http_tasks: Mutex<BTreeMap<(Endpoint, SocketAddr), JoinHandle<()>>>,
    lameduck: Mutex<Option<Duration>>,
    reload: Mutex<Option<(Duration, Duration)>>,
    checksum: Mutex<String>,
    shutting_down: AtomicBool,
}

/// The handler of one listening address: the current config's dispatch.
struct PortHandler {
    rt: Arc<Runtime>,
    addr: SocketAddr,
}

impl Handler for PortHandler {
    fn handle(&self, req: Request) -> BoxFuture<'_, Option<Message>> {
        Box::pin(async move {
            let d = self.rt.dispatch_for(self.addr)?;
            d.serve(req).await
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub fn sha512_hex(text: &str) -> String {
    let d = Sha512::digest(text.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether a key named its port (`.:53`) rather than taking the default.
fn explicit_port(k: &corefile::Key) -> bool {
    let rest = k
        .original
        .split_once("://")
        .map(|(_, r)| r)
        .unwrap_or(&k.original);
    rest.rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
}

impl Runtime {
    fn dispatch_for(&self, addr: SocketAddr) -> Option<Arc<Dispatch>> {
        self.dispatch
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&addr)
            .cloned()
    }

    /// The address a configured listener really bound (port 0 picks one).
    pub fn bound(&self, port: u16) -> Option<SocketAddr> {
        lock(&self.dns_tasks)
            .iter()
            .find(|(k, _)| k.port() == port)
            .map(|(_, (b, _))| *b)
    }

    fn prepare(&self, text: &str) -> Result<Prepared, String> {
        let servers = config::load(text, &corefile::process_env).map_err(|e| e.to_string())?;
        let mut zones: BTreeMap<SocketAddr, Vec<Zone>> = BTreeMap::new();
        let mut p = Prepared {
            text: text.to_string(),
            banner: Vec::new(),
            dispatch: BTreeMap::new(),
            health: Vec::new(),
            ready: Vec::new(),
            metrics: Vec::new(),
            reload: None,
            lameduck: None,
            kubernetes: false,
            pods: false,
        };
        let push = |v: &mut Vec<SocketAddr>, a: &str, plugin: &str| -> Result<(), String> {
            let addr = http::addr(a)
                .ok_or_else(|| format!("plugin/{plugin}: invalid address: \"{a}\""))?;
            if !v.contains(&addr) {
                v.push(addr);
            }
            Ok(())
        };
        for s in &servers {
            for pl in &s.plugins {
                match pl {
                    P::Health { addr, lameduck } => {
                        push(&mut p.health, addr, "health")?;
                        if lameduck.is_some() {
                            p.lameduck = *lameduck;
                        }
                    }
                    P::Ready { addr } => push(&mut p.ready, addr, "ready")?,
                    P::Prometheus { addr } => push(&mut p.metrics, addr, "prometheus")?,
                    P::Reload { interval, jitter } => p.reload = Some((*interval, *jitter)),
                    P::Kubernetes(k) => {
                        p.kubernetes = true;
                        p.pods |= k.pods == PodsMode::Verified;
                    }
                    P::Other(d) if !self.opts.quiet => log::warning(&format!(
                        "plugin/{}: not implemented by kinet dns, skipped: {} {}",
                        d.name,
                        d.name,
                        d.args.join(" ")
                    )),
                    _ => {}
                }
            }
            for k in &s.keys {
                let port = match self.opts.port {
                    Some(port) if !explicit_port(k) => port,
                    _ => k.port,
                };
                let listen = SocketAddr::new(self.opts.listen_ip, port);
                // CoreDNS labels metrics with the listen address (`dns://:53`).
                let server_name = format!("{}://:{port}", k.scheme);
                let ctx = Context {
                    view: self.view.clone(),
                    server: server_name.clone(),
                    zone: k.zone.clone(),
                    listen,
                };
                let chain = plugins::build(s, &ctx)?;
                for pl in &s.plugins {
                    crate::metrics::global().set(
                        "coredns_plugin_enabled",
                        "A metric that indicates whether a plugin is enabled on per server and zone basis.",
                        &[
                            ("name", crate::chain::plugin_name(pl)),
                            ("server", &server_name),
                            ("view", ""),
                            ("zone", &k.zone),
                        ],
                        1.0,
                    );
                }
                p.banner.push(format!("{}:{port}", k.zone));
                zones.entry(listen).or_default().push(Zone {
                    zone: k.zone.clone(),
                    server: server_name,
                    chain: chain.into(),
                });
            }
        }
        for (addr, zs) in zones {
            let mut seen = std::collections::BTreeSet::new();
            for z in &zs {
                if !seen.insert(z.zone.clone()) {
                    return Err(format!(
                        "cannot serve {}:{} - it is already defined",
                        z.zone,
                        addr.port()
                    ));
                }
            }
            p.dispatch
                .insert(addr, Arc::new(Dispatch { addr, zones: zs }));
        }
        Ok(p)
    }

    /// Swaps a prepared configuration in: new listeners bound first (an
    /// error keeps the old configuration), old ones stopped after.
    async fn apply(self: &Arc<Self>, p: Prepared) -> Result<(), String> {
        // The API client first: without it nothing changes.
        let client =
            if p.kubernetes && self.opts.view.is_none() && !self.watching.load(Ordering::SeqCst) {
                Some(
                    kube::Client::try_default()
                        .await
                        .map_err(|e| format!("plugin/kubernetes: {e}"))?,
                )
            } else {
                None
            };
        let mut started: Vec<(SocketAddr, SocketAddr, Vec<JoinHandle<()>>)> = Vec::new();
        let existing: Vec<SocketAddr> = lock(&self.dns_tasks).keys().copied().collect();
        for addr in p.dispatch.keys() {
            if existing.contains(addr) {
                continue;
            }
            let h: Arc<dyn Handler> = Arc::new(PortHandler {
                rt: self.clone(),
                addr: *addr,
            });
            match server::listen(*addr, h).await {
                Ok((bound, tasks)) => started.push((*addr, bound, tasks)),
                Err(e) => {
                    for (_, _, tasks) in started {
                        tasks.iter().for_each(JoinHandle::abort);
                    }
                    return Err(format!("listen tcp {addr}: bind: {e}"));
                }
            }
        }
        // HTTP endpoints.
        let want: Vec<(Endpoint, SocketAddr)> = p
            .health
            .iter()
            .map(|a| (Endpoint::Health, *a))
            .chain(p.ready.iter().map(|a| (Endpoint::Ready, *a)))
            .chain(p.metrics.iter().map(|a| (Endpoint::Metrics, *a)))
            .collect();
        let mut new_http = Vec::new();
        {
            let have: Vec<(Endpoint, SocketAddr)> =
                lock(&self.http_tasks).keys().copied().collect();
            for w in &want {
                if have.contains(w) {
                    continue;
                }
                match tokio::net::TcpListener::bind(w.1).await {
                    Ok(l) => {
                        let route = self.route(w.0);
                        new_http.push((*w, tokio::spawn(http::serve(l, route))));
                    }
                    Err(e) => {
                        for (_, _, tasks) in started {
                            tasks.iter().for_each(JoinHandle::abort);
                        }
                        for (_, t) in new_http {
                            t.abort();
                        }
                        return Err(format!("listen tcp {}: bind: {e}", w.1));
                    }
                }
            }
        }
        let chains: Vec<Arc<Dispatch>> = p.dispatch.values().cloned().collect();
        *self.dispatch.write().unwrap_or_else(|e| e.into_inner()) = p.dispatch;
        {
            let mut tasks = lock(&self.dns_tasks);
            for (addr, bound, t) in started {
                tasks.insert(addr, (bound, t));
            }
            let keep: Vec<SocketAddr> = chains.iter().map(|d| d.addr).collect();
            tasks.retain(|addr, (_, t)| {
                let k = keep.contains(addr);
                if !k {
                    t.iter().for_each(JoinHandle::abort);
                }
                k
            });
        }
        {
            let mut http_tasks = lock(&self.http_tasks);
            for (k, t) in new_http {
                http_tasks.insert(k, t);
            }
            http_tasks.retain(|k, t| {
                let keep = want.contains(k);
                if !keep {
                    t.abort();
                }
                keep
            });
        }
        *lock(&self.lameduck) = p.lameduck;
        *lock(&self.reload) = p.reload;
        *lock(&self.checksum) = sha512_hex(&p.text);
        if let Some(client) = client {
            self.watching.store(true, Ordering::SeqCst);
            tokio::spawn(crate::cluster::watch(self.view.clone(), client, p.pods));
        }
        for d in &chains {
            for z in &d.zones {
                for pl in z.chain.iter() {
                    pl.on_startup();
                }
            }
        }
        Ok(())
    }

    fn route(self: &Arc<Self>, e: Endpoint) -> http::Route {
        let rt = Arc::downgrade(self);
        Arc::new(move |path: &str| {
            let Some(rt) = rt.upgrade() else {
                return (503, "text/plain; charset=utf-8", "Shutting down".into());
            };
            match (e, path) {
                (Endpoint::Health, "/health") => (200, "text/plain; charset=utf-8", "OK".into()),
                (Endpoint::Ready, "/ready") => {
                    if rt.shutting_down.load(Ordering::SeqCst) {
                        return (503, "text/plain; charset=utf-8", "Shutting down".into());
                    }
                    let mut not: Vec<&str> = Vec::new();
                    for d in rt
                        .dispatch
                        .read()
                        .unwrap_or_else(|p| p.into_inner())
                        .values()
                    {
                        for n in d.not_ready() {
                            if !not.contains(&n) {
                                not.push(n);
                            }
                        }
                    }
                    if not.is_empty() {
                        (200, "text/plain; charset=utf-8", "OK".into())
                    } else {
                        (503, "text/plain; charset=utf-8", not.join(","))
                    }
                }
                (Endpoint::Metrics, "/metrics") => (
                    200,
                    "text/plain; version=0.0.4; charset=utf-8",
                    crate::metrics::global().render(),
                ),
                _ => (
                    404,
                    "text/plain; charset=utf-8",
                    "404 page not found\n".into(),
                ),
            }
        })
    }

    /// Reads the Corefile, listens, prints the banner; `Err` holds the
    /// message CoreDNS exits with.
    pub async fn start(opts: Options) -> Result<Arc<Runtime>, String> {
        let text = std::fs::read_to_string(&opts.conf)
            .map_err(|e| format!("open {}: {}", opts.conf.display(), io_reason(&e)))?;
        let view = opts.view.clone().unwrap_or_default();
        let rt = Arc::new(Runtime {
            opts,
            view,
            watching: AtomicBool::new(false),
            dispatch: RwLock::default(),
            dns_tasks: Mutex::default(),
            http_tasks: Mutex::default(),
            lameduck: Mutex::default(),
            reload: Mutex::default(),
            checksum: Mutex::default(),
            shutting_down: AtomicBool::new(false),
        });
        let p = rt.prepare(&text)?;
        let banner = p.banner.clone();
        let kubernetes = p.kubernetes;
        let reload = p.reload.is_some();
        plugins::record_build_info();
        rt.apply(p).await?;
        if kubernetes && !rt.view.synced() {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            let mut said = false;
            while !rt.view.synced() && tokio::time::Instant::now() < deadline {
                if !said && !rt.opts.quiet {
                    log::info(
                        "plugin/kubernetes: waiting for Kubernetes API before starting server",
                    );
                    said = true;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            if !rt.view.synced() {
                log::warning("plugin/kubernetes: starting server with unsynced Kubernetes API");
            }
        }
        if !rt.opts.quiet {
            for b in &banner {
                println!("{b}");
            }
            if reload {
                log::info(&format!(
                    "plugin/reload: Running configuration SHA512 = {}",
                    lock(&rt.checksum)
                ));
            }
            print!("{}", super::version_lines());
        }
        if reload {
            tokio::spawn(reload_loop(Arc::downgrade(&rt)));
        }
        Ok(rt)
    }

    /// Checks the Corefile once: applies it when its checksum changed.
    /// `Ok(true)`: a new configuration runs.
    pub async fn reload_once(self: &Arc<Self>) -> Result<bool, String> {
        let Ok(text) = std::fs::read_to_string(&self.opts.conf) else {
            return Ok(false);
        };
        let sum = sha512_hex(&text);
        {
            let mut cur = lock(&self.checksum);
            if *cur == sum {
                return Ok(false);
            }
            // Not retried with the same file, even though it is wrong.
            *cur = sum.clone();
        }
        let r = match self.prepare(&text) {
            Ok(p) => {
                log::info("Reloading");
                self.apply(p).await
            }
            Err(e) => Err(e),
        };
        match r {
            Ok(()) => {
                log::info(&format!(
                    "plugin/reload: Running configuration SHA512 = {sum}"
                ));
                log::info("Reloading complete");
                Ok(true)
            }
            Err(e) => {
                log::error(&format!(
                    "plugin/reload: Corefile changed but reload failed: {e}"
                ));
                crate::metrics::global().inc(
                    "coredns_reload_failed_total",
                    "Counter of the number of failed reload attempts.",
                    &[],
                );
                Err(e)
            }
        }
    }

    /// Until SIGTERM or SIGINT; then health's lameduck and exit.
    pub async fn wait_for_signal(self: &Arc<Self>) {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            std::future::pending::<()>().await;
            return;
        };
        let which = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        log::info(&format!("{which}: Shutting down servers then terminating"));
        self.shutting_down.store(true, Ordering::SeqCst);
        let lameduck = *lock(&self.lameduck);
        if let Some(d) = lameduck {
            log::info(&format!(
                "plugin/health: Going into lameduck mode for {}",
                go_duration(d)
            ));
            tokio::time::sleep(d).await;
        }
    }
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// Go's Duration.String for whole seconds and milliseconds (`5s`, `500ms`).
pub fn go_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 && d.as_secs() > 0 {
        let s = d.as_secs();
        if s >= 60 {
            let (m, s) = (s / 60, s % 60);
            return if m >= 60 {
                format!("{}h{}m{s}s", m / 60, m % 60)
            } else {
                format!("{m}m{s}s")
            };
        }
        return format!("{s}s");
    }
    if d.as_secs() == 0 {
        return format!("{}ms", d.as_millis());
    }
    format!("{}s", d.as_secs_f64())
}

async fn reload_loop(rt: std::sync::Weak<Runtime>) {
    loop {
        let Some(every) = rt.upgrade().and_then(|r| *lock(&r.reload)) else {
            return;
        };
        let (interval, jitter) = every;
        let j = jitter.as_millis() as i64;
        let offset = if j > 0 {
            rand::random_range(-j / 2..=j / 2)
        } else {
            0
        };
        let wait = (interval.as_millis() as i64 + offset).max(500) as u64;
        tokio::time::sleep(Duration::from_millis(wait)).await;
        let Some(r) = rt.upgrade() else { return };
        let _ = r.reload_once().await;
    }
}
