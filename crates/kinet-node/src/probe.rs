//! Container probes as kubelet runs them: startup, readiness and liveness, with
//! httpGet, tcpSocket and exec actions, their timings and thresholds. HTTP and
//! TCP probes connect from the node's network namespace to the pod's IP, so
//! they cross the pod's veth like kubelet's do.

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Startup,
    Readiness,
    Liveness,
}

impl Kind {
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Startup => "Startup",
            Kind::Readiness => "Readiness",
            Kind::Liveness => "Liveness",
        }
    }
}

/// What a running probe reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The probe's verdict changed (readiness, startup passed).
    Verdict(Kind, bool),
    /// One failed attempt, with kubelet's message.
    Failed(Kind, String),
    /// Liveness or startup failed too often: restart the container.
    Restart(Kind),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Http {
        scheme: String,
        host: Option<String>,
        port: u16,
        path: String,
        headers: Vec<(String, String)>,
    },
    Tcp {
        host: Option<String>,
        port: u16,
    },
    Exec {
        command: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub action: Action,
    pub initial_delay: Duration,
    pub period: Duration,
    pub timeout: Duration,
    pub success_threshold: u32,
    pub failure_threshold: u32,
}

/// Where probes run.
#[derive(Debug, Clone)]
pub struct Context {
    /// The node's network namespace (None: the caller's own, for tests).
    pub node_netns: Option<PathBuf>,
    /// The pod's holder process, for exec probes.
    pub holder: u32,
    pub pod_ip: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Probes {
    pub startup: Option<Probe>,
    pub readiness: Option<Probe>,
    pub liveness: Option<Probe>,
}

fn port_of(v: &Value, container: &Value) -> Option<u16> {
    match v {
        Value::Number(n) => n.as_u64().map(|p| p as u16),
        Value::String(s) => s.parse().ok().or_else(|| {
            container["ports"]
                .as_array()?
                .iter()
                .find(|p| p["name"] == *s)?["containerPort"]
                .as_u64()
                .map(|p| p as u16)
        }),
        _ => None,
    }
}

/// Parses one probe of a container spec.
pub fn parse(p: &Value, container: &Value) -> Option<Probe> {
    let secs = |k: &str, d: u64| Duration::from_secs(p.get(k).and_then(Value::as_u64).unwrap_or(d));
    let action = if let Some(h) = p.get("httpGet") {
        Action::Http {
            scheme: h["scheme"].as_str().unwrap_or("HTTP").to_string(),
            host: h["host"]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(String::from),
            port: port_of(&h["port"], container)?,
            path: h["path"]
                .as_str()
                .filter(|s| !s.is_empty())
                .unwrap_or("/")
                .to_string(),
            headers: h["httpHeaders"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|x| {
                            (
                                x["name"].as_str().unwrap_or("").to_string(),
                                x["value"].as_str().unwrap_or("").to_string(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
        }
    } else if let Some(t) = p.get("tcpSocket") {
        Action::Tcp {
            host: t["host"]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(String::from),
            port: port_of(&t["port"], container)?,
        }
    } else if let Some(e) = p.get("exec") {
        Action::Exec {
            command: e["command"]
                .as_array()?
                .iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect(),
        }
    } else {
        return None;
    };
    Some(Probe {
        action,
        initial_delay: secs("initialDelaySeconds", 0),
        period: secs("periodSeconds", 10).max(Duration::from_secs(1)),
        timeout: secs("timeoutSeconds", 1).max(Duration::from_secs(1)),
        success_threshold: p
            .get("successThreshold")
            .and_then(Value::as_u64)
            .unwrap_or(1)
            .max(1) as u32,
        failure_threshold: p
            .get("failureThreshold")
            .and_then(Value::as_u64)
            .unwrap_or(3)
            .max(1) as u32,
    })
}

/// Reads an HTTP status line (`HTTP/1.1 200 OK`): the code.
pub fn status_code(head: &str) -> Option<u16> {
    let mut w = head.split_whitespace();
    w.next().filter(|v| v.starts_with("HTTP/"))?;
    w.next()?.parse().ok()
}

fn http_once(
    addr: SocketAddr,
    url: &str,
    host: &str,
    path: &str,
    headers: &[(String, String)],
    timeout: Duration,
) -> Result<(), String> {
    let mut s = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| format!("Get \"{url}\": dial tcp {addr}: connect: {}", io_words(&e)))?;
    s.set_read_timeout(Some(timeout)).ok();
    s.set_write_timeout(Some(timeout)).ok();
    let mut req = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: kube-probe/1.33\r\nAccept: */*\r\nConnection: close\r\n"
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())
        .map_err(|e| format!("Get \"{url}\": {e}"))?;
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf).map_err(|_| format!("Get \"{url}\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"))?;
    let head = String::from_utf8_lossy(&buf[..n]);
    match status_code(head.lines().next().unwrap_or("")) {
        Some(c) if (200..400).contains(&c) => Ok(()),
        Some(c) => Err(format!("HTTP probe failed with statuscode: {c}")),
        None => Err(format!("Get \"{url}\": malformed HTTP response")),
    }
}

/// An I/O error as Go's net package words it ("connection refused", "i/o timeout").
pub fn io_words(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => "i/o timeout".into(),
        _ => e.to_string(),
    }
}

impl Probe {
    /// One attempt: Ok, or kubelet's failure message.
    pub async fn check(&self, ctx: &Context) -> Result<(), String> {
        let net = |host: &Option<String>, port: u16| -> Result<SocketAddr, String> {
            let h = host.clone().unwrap_or_else(|| ctx.pod_ip.clone());
            // kubelet resolves the probe's host; the one name probes use is localhost
            let h = if h == "localhost" {
                "127.0.0.1".to_string()
            } else {
                h
            };
            format!("{h}:{port}")
                .parse()
                .map_err(|_| format!("invalid probe address {h}:{port}"))
        };
        let timeout = self.timeout;
        let work: Box<dyn FnOnce() -> anyhow::Result<Result<(), String>> + Send> =
            match &self.action {
                Action::Http {
                    scheme,
                    host,
                    port,
                    path,
                    headers,
                } => {
                    let addr = net(host, *port)?;
                    let url = format!("{}://{addr}{path}", scheme.to_lowercase());
                    let (path, headers, host) = (path.clone(), headers.clone(), addr.to_string());
                    Box::new(move || Ok(http_once(addr, &url, &host, &path, &headers, timeout)))
                }
                Action::Tcp { host, port } => {
                    let addr = net(host, *port)?;
                    Box::new(move || {
                        Ok(TcpStream::connect_timeout(&addr, timeout)
                            .map(|_| ())
                            .map_err(|e| format!("dial tcp {addr}: connect: {}", io_words(&e))))
                    })
                }
                Action::Exec { command } => return self.exec(ctx, command).await,
            };
        let res = match &ctx.node_netns {
            Some(ns) => {
                let ns = ns.clone();
                tokio::task::spawn_blocking(move || kinet_linux::netns::run_in(&ns, work)).await
            }
            None => tokio::task::spawn_blocking(work).await,
        };
        match res {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => Err(format!("{e:#}")),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn exec(&self, ctx: &Context, command: &[String]) -> Result<(), String> {
        let Some(prog) = command.first() else {
            return Err("no command".into());
        };
        let path = crate::exec::DEFAULT_PATH;
        let exe = crate::exec::resolve(prog, path)
            .ok_or_else(|| format!("exec: {prog:?}: executable file not found in $PATH"))?;
        let mut cmd = tokio::process::Command::new(exe);
        cmd.args(&command[1..])
            .env_clear()
            .env("PATH", path)
            .kill_on_drop(true);
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        if ctx.holder > 0 {
            kinet_linux::sandbox::join(&mut cmd, ctx.holder, None).map_err(|e| format!("{e:#}"))?;
        }
        match tokio::time::timeout(self.timeout, cmd.output()).await {
            Err(_) => Err(format!(
                "command timed out: \"{}\" timed out after {}s",
                command.join(" "),
                self.timeout.as_secs()
            )),
            Ok(Err(e)) => Err(e.to_string()),
            Ok(Ok(o)) if o.status.success() => Ok(()),
            Ok(Ok(o)) => {
                let text = format!(
                    "{}{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                );
                Err(text.trim_end().to_string())
            }
        }
    }
}

impl Probes {
    /// The probes of a container spec; None when it has none.
    pub fn from_container(c: &Value) -> Option<Probes> {
        let get = |k: &str| c.get(k).and_then(|p| parse(p, c));
        let p = Probes {
            startup: get("startupProbe"),
            readiness: get("readinessProbe"),
            liveness: get("livenessProbe"),
        };
        (p != Probes::default()).then_some(p)
    }

    /// Runs the probes of one container run until aborted (or until a restart is due).
    pub async fn run<F: Fn(Event) + Send + Sync + 'static>(self, ctx: Context, emit: F) {
        let emit = std::sync::Arc::new(emit);
        if let Some(p) = &self.startup
            && until_restart(p, Kind::Startup, &ctx, &*emit).await
        {
            return;
        }
        // the readiness loop runs beside liveness; it must end with this task (abort-on-drop),
        // or it would outlive the container and keep its pod's channel open
        let readiness = self.readiness.clone().map(|p| {
            let (ctx, emit) = (ctx.clone(), emit.clone());
            AbortOnDrop(tokio::spawn(async move {
                tokio::time::sleep(p.initial_delay).await;
                let (mut ok_run, mut bad_run, mut ready) = (0, 0, false);
                loop {
                    match p.check(&ctx).await {
                        Ok(()) => {
                            ok_run += 1;
                            bad_run = 0;
                            if !ready && ok_run >= p.success_threshold {
                                ready = true;
                                emit(Event::Verdict(Kind::Readiness, true));
                            }
                        }
                        Err(m) => {
                            bad_run += 1;
                            ok_run = 0;
                            emit(Event::Failed(Kind::Readiness, m));
                            if ready && bad_run >= p.failure_threshold {
                                ready = false;
                                emit(Event::Verdict(Kind::Readiness, false));
                            }
                        }
                    }
                    tokio::time::sleep(p.period).await;
                }
            }))
        });
        if let Some(p) = &self.liveness {
            until_restart(p, Kind::Liveness, &ctx, &*emit).await;
        }
        if let Some(mut r) = readiness
            && self.liveness.is_none()
        {
            let _ = (&mut r.0).await;
        }
    }
}

/// Runs a startup or liveness probe `p`: true (after emitting Restart) once it failed
/// `failure_threshold` times in a row; false when a startup probe passes (emitting its
/// verdict). A liveness probe only ends by a restart.
async fn until_restart(p: &Probe, kind: Kind, ctx: &Context, emit: &impl Fn(Event)) -> bool {
    tokio::time::sleep(p.initial_delay).await;
    let mut failures = 0;
    loop {
        match p.check(ctx).await {
            Ok(()) if kind == Kind::Startup => {
                emit(Event::Verdict(Kind::Startup, true));
                return false;
            }
            Ok(()) => failures = 0,
            Err(m) => {
                failures += 1;
                emit(Event::Failed(kind, m));
                if failures >= p.failure_threshold {
                    emit(Event::Restart(kind));
                    return true;
                }
            }
        }
        tokio::time::sleep(p.period).await;
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_probes_with_defaults_and_named_ports() {
        let c = json!({"ports": [{"name": "http", "containerPort": 8080}],
            "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 2},
            "livenessProbe": {"tcpSocket": {"port": 8080}, "initialDelaySeconds": 5, "failureThreshold": 1},
            "startupProbe": {"exec": {"command": ["cat", "/tmp/ok"]}}});
        let p = Probes::from_container(&c).unwrap();
        let r = p.readiness.unwrap();
        assert_eq!(
            r.action,
            Action::Http {
                scheme: "HTTP".into(),
                host: None,
                port: 8080,
                path: "/ready".into(),
                headers: vec![]
            }
        );
        assert_eq!(
            (r.period, r.timeout, r.failure_threshold),
            (Duration::from_secs(2), Duration::from_secs(1), 3)
        );
        let l = p.liveness.unwrap();
        assert_eq!(
            l.action,
            Action::Tcp {
                host: None,
                port: 8080
            }
        );
        assert_eq!(
            (l.initial_delay, l.failure_threshold),
            (Duration::from_secs(5), 1)
        );
        assert_eq!(
            p.startup.unwrap().action,
            Action::Exec {
                command: vec!["cat".into(), "/tmp/ok".into()]
            }
        );
        assert!(Probes::from_container(&json!({"name": "c"})).is_none());
    }

    #[tokio::test]
    async fn aborting_the_probes_stops_every_loop() {
        let c = json!({"readinessProbe": {"tcpSocket": {"port": 1}, "periodSeconds": 1}});
        let p = Probes::from_container(&c).unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let ctx = Context {
            node_netns: None,
            holder: 0,
            pod_ip: "127.0.0.1".into(),
        };
        let h = tokio::spawn(p.run(ctx, move |e| {
            let _ = tx.send(e);
        }));
        assert!(matches!(
            rx.recv().await,
            Some(Event::Failed(Kind::Readiness, _))
        ));
        h.abort();
        // every sender is gone once the task is: the channel closes
        tokio::time::timeout(Duration::from_secs(5), async {
            while rx.recv().await.is_some() {}
        })
        .await
        .expect("a probe loop outlived its task");
    }

    #[test]
    fn status_lines() {
        assert_eq!(status_code("HTTP/1.1 200 OK"), Some(200));
        assert_eq!(status_code("HTTP/1.0 404 Not Found"), Some(404));
        assert_eq!(status_code("garbage"), None);
    }

    #[tokio::test]
    async fn http_and_tcp_probes_against_real_sockets() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for (i, s) in l.incoming().enumerate() {
                let mut s = s.unwrap();
                let mut buf = [0u8; 512];
                let _ = s.read(&mut buf);
                let reply = if i == 0 {
                    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
                } else {
                    "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"
                };
                let _ = s.write_all(reply.as_bytes());
            }
        });
        let ctx = Context {
            node_netns: None,
            holder: 0,
            pod_ip: "127.0.0.1".into(),
        };
        let http = |path: &str| Probe {
            action: Action::Http {
                scheme: "HTTP".into(),
                host: None,
                port,
                path: path.into(),
                headers: vec![],
            },
            initial_delay: Duration::ZERO,
            period: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            success_threshold: 1,
            failure_threshold: 1,
        };
        assert_eq!(http("/").check(&ctx).await, Ok(()));
        assert_eq!(
            http("/").check(&ctx).await,
            Err("HTTP probe failed with statuscode: 503".into())
        );
        let tcp = Probe {
            action: Action::Tcp { host: None, port },
            ..http("/")
        };
        assert_eq!(tcp.check(&ctx).await, Ok(()));
        // a closed port: refused
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let refused = Probe {
            action: Action::Tcp {
                host: None,
                port: closed,
            },
            ..http("/")
        };
        let e = refused.check(&ctx).await.unwrap_err();
        assert!(e.ends_with("connect: connection refused"), "{e}");
    }
}
