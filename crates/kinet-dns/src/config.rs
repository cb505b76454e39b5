//! The typed configuration of the plugins in CoreDNS's, MicroK8s's and
//! kubeadm's default Corefiles, built from parsed [`ServerBlock`]s. Setup
//! errors use CoreDNS's wording: `plugin/forward: …`.

use std::time::Duration;

use crate::corefile::{self, BlockLine, Directive, Key, ServerBlock};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PodsMode {
    #[default]
    Disabled,
    Insecure,
    Verified,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kubernetes {
    /// Fully qualified, lower case (`cluster.local.`, `in-addr.arpa.`).
    pub zones: Vec<String>,
    pub ttl: u32,
    pub pods: PodsMode,
    /// `None`: no fallthrough; `Some(empty)`: every zone.
    pub fallthrough: Option<Vec<String>>,
    pub endpoint_pod_names: bool,
    /// Empty: every namespace.
    pub namespaces: Vec<String>,
}

impl Default for Kubernetes {
    fn default() -> Self {
        Kubernetes {
            zones: Vec::new(),
            ttl: 5,
            pods: PodsMode::Disabled,
            fallthrough: None,
            endpoint_pod_names: false,
            namespaces: Vec::new(),
        }
    }
}

impl Kubernetes {
    /// Whether an NXDOMAIN for `qname` passes to the next plugin.
    pub fn falls_through(&self, qname: &str) -> bool {
        match &self.fallthrough {
            None => false,
            Some(z) if z.is_empty() => true,
            Some(z) => {
                let q = fqdn(qname);
                z.iter().any(|zone| in_zone(&q, zone))
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    #[default]
    Random,
    RoundRobin,
    Sequential,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    pub from: String,
    /// `host:port` or a resolv.conf path as written (`/etc/resolv.conf`).
    pub to: Vec<String>,
    pub except: Vec<String>,
    pub policy: Policy,
    pub health_check: Duration,
    pub max_fails: u32,
    pub max_concurrent: Option<u32>,
    pub force_tcp: bool,
    pub prefer_udp: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cache {
    pub ttl: u32,
    pub zones: Vec<String>,
    /// (capacity, max TTL, min TTL)
    pub success: (usize, u32, u32),
    pub denial: (usize, u32, u32),
    /// (amount, duration, percentage)
    pub prefetch: Option<(u32, Duration, u32)>,
    /// (max stale duration, verify)
    pub serve_stale: Option<(Duration, bool)>,
    /// `disable success ZONES…`: names whose successes are not cached.
    pub disable_success: Vec<String>,
    /// `disable denial ZONES…`.
    pub disable_denial: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogClass {
    All,
    Success,
    Denial,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Log {
    pub names: Vec<String>,
    pub format: Option<String>,
    pub classes: Vec<LogClass>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hosts {
    pub file: String,
    pub zones: Vec<String>,
    /// Inline `IP name…` entries.
    pub entries: Vec<(String, Vec<String>)>,
    pub ttl: u32,
    pub fallthrough: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RewriteMatch {
    Exact,
    Prefix,
    Suffix,
    Substring,
    Regex,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    pub stop: bool,
    pub kind: RewriteMatch,
    pub from: String,
    pub to: String,
    pub answer_auto: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plugin {
    Kubernetes(Kubernetes),
    Forward(Forward),
    Cache(Cache),
    Log(Log),
    Errors,
    Health {
        addr: String,
        lameduck: Option<Duration>,
    },
    Ready {
        addr: String,
    },
    Reload {
        interval: Duration,
        jitter: Duration,
    },
    Loop,
    LoadBalance,
    Hosts(Hosts),
    Rewrite(Rewrite),
    Prometheus {
        addr: String,
    },
    /// Any other known plugin, kept as written.
    Other(Directive),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub keys: Vec<Key>,
    pub plugins: Vec<Plugin>,
}

/// A plugin setup error: `plugin/NAME: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupError {
    pub plugin: String,
    pub message: String,
}

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "plugin/{}: {}", self.plugin, self.message)
    }
}

impl std::error::Error for SetupError {}

/// Either a parse or a setup error, as CoreDNS prints it before exiting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    Parse(corefile::Error),
    Setup(SetupError),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Parse(e) => e.fmt(f),
            Error::Setup(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {}

/// Parses a Corefile and sets every plugin up.
pub fn load(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Vec<Server>, Error> {
    let blocks = corefile::parse("Corefile", text, env).map_err(Error::Parse)?;
    blocks
        .iter()
        .map(|b| setup_block(b).map_err(Error::Setup))
        .collect()
}

pub fn setup_block(b: &ServerBlock) -> Result<Server, SetupError> {
    let keys_zones: Vec<String> = b.keys.iter().map(|k| k.zone.clone()).collect();
    let plugins = b
        .directives
        .iter()
        .map(|d| setup(d, &keys_zones))
        .collect::<Result<_, _>>()?;
    Ok(Server {
        keys: b.keys.clone(),
        plugins,
    })
}

fn fqdn(s: &str) -> String {
    let mut s = s.to_ascii_lowercase();
    if !s.ends_with('.') {
        s.push('.');
    }
    s
}

/// Whether fully qualified `name` is `zone` or below it.
pub fn in_zone(name: &str, zone: &str) -> bool {
    zone == "." || name == zone || name.ends_with(&format!(".{zone}"))
}

/// CoreDNS's parse.HostPortOrFile: `IP[:port]`, `dns://`/`tls://` upstreams
/// or a resolv.conf-style file path.
fn host_port_or_file(to: &str) -> bool {
    let addr = to
        .strip_prefix("dns://")
        .or_else(|| to.strip_prefix("tls://"))
        .unwrap_or(to);
    addr.parse::<std::net::IpAddr>().is_ok()
        || addr.parse::<std::net::SocketAddr>().is_ok()
        || addr.rsplit_once(':').is_some_and(|(h, p)| {
            h.parse::<std::net::Ipv4Addr>().is_ok() && p.parse::<u16>().is_ok()
        })
        || to.starts_with('/')
}

fn err(plugin: &str, message: impl Into<String>) -> SetupError {
    SetupError {
        plugin: plugin.to_string(),
        message: message.into(),
    }
}

fn arg_err(plugin: &str, line: usize) -> SetupError {
    err(
        plugin,
        format!(
            "Corefile:{line} - Error during parsing: Wrong argument count or unexpected line ending after '{plugin}'"
        ),
    )
}

fn prop_err(plugin: &str, l: &BlockLine) -> SetupError {
    err(
        plugin,
        format!(
            "Corefile:{} - Error during parsing: unknown property '{}'",
            l.line, l.name
        ),
    )
}

fn num<T: std::str::FromStr>(plugin: &str, s: &str) -> Result<T, SetupError> {
    s.parse::<T>()
        .map_err(|_| err(plugin, format!("invalid number '{s}'")))
}

/// Go's time.ParseDuration for the forms Corefiles use (`5s`, `1m30s`, `500ms`).
pub fn duration(s: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    if rest == "0" {
        return Some(total);
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let v: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let secs = match &rest[..u] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += Duration::from_secs_f64(v * secs);
        rest = &rest[u..];
    }
    Some(total)
}

fn dur(plugin: &str, s: &str) -> Result<Duration, SetupError> {
    duration(s).ok_or_else(|| err(plugin, format!("time: invalid duration \"{s}\"")))
}

fn zones_or(args: &[String], default: &[String]) -> Vec<String> {
    if args.is_empty() {
        default.to_vec()
    } else {
        args.iter().map(|a| fqdn(a)).collect()
    }
}

fn setup(d: &Directive, key_zones: &[String]) -> Result<Plugin, SetupError> {
    let n = d.name.as_str();
    Ok(match n {
        "kubernetes" => {
            let mut k = Kubernetes {
                zones: zones_or(&d.args, key_zones),
                ..Default::default()
            };
            for l in &d.block {
                match l.name.as_str() {
                    "pods" => {
                        k.pods = match l.args.first().map(String::as_str) {
                            Some("disabled") => PodsMode::Disabled,
                            Some("insecure") => PodsMode::Insecure,
                            Some("verified") => PodsMode::Verified,
                            Some(o) => {
                                return Err(err(
                                    n,
                                    format!(
                                        "invalid value for pods: '{o}', must be one of: disabled, verified, insecure"
                                    ),
                                ));
                            }
                            None => return Err(arg_err(n, l.line)),
                        }
                    }
                    "ttl" => {
                        let [t] = l.args.as_slice() else {
                            return Err(arg_err(n, l.line));
                        };
                        let t: u32 = num(n, t)?;
                        if t > 3600 {
                            return Err(err(n, "ttl must be in range [0, 3600]: 3601"));
                        }
                        k.ttl = t;
                    }
                    "fallthrough" => k.fallthrough = Some(l.args.iter().map(|a| fqdn(a)).collect()),
                    "endpoint_pod_names" => k.endpoint_pod_names = true,
                    "namespaces" => k.namespaces = l.args.clone(),
                    "endpoint"
                    | "tls"
                    | "kubeconfig"
                    | "labels"
                    | "namespace_labels"
                    | "noendpoints"
                    | "ignore"
                    | "multicluster"
                    | "startup_timeout"
                    | "apiserver_qps"
                    | "apiserver_burst"
                    | "apiserver_max_inflight" => {}
                    _ => return Err(prop_err(n, l)),
                }
            }
            Plugin::Kubernetes(k)
        }
        "forward" => {
            if d.args.len() < 2 {
                return Err(arg_err(n, d.line));
            }
            let mut f = Forward {
                from: fqdn(&d.args[0]),
                to: d.args[1..].to_vec(),
                except: Vec::new(),
                policy: Policy::Random,
                health_check: Duration::from_millis(500),
                max_fails: 2,
                max_concurrent: None,
                force_tcp: false,
                prefer_udp: false,
            };
            for to in &f.to {
                if !host_port_or_file(to) {
                    return Err(err(n, format!("not an IP address or file: \"{to}\"")));
                }
            }
            if f.to.len() > 15 {
                return Err(err(n, "more than 15 TOs configured: 16"));
            }
            for l in &d.block {
                match l.name.as_str() {
                    "policy" => {
                        f.policy = match l.args.first().map(String::as_str) {
                            Some("random") => Policy::Random,
                            Some("round_robin") => Policy::RoundRobin,
                            Some("sequential") => Policy::Sequential,
                            Some(o) => return Err(err(n, format!("unknown policy '{o}'"))),
                            None => return Err(arg_err(n, l.line)),
                        }
                    }
                    "health_check" => {
                        let Some(a) = l.args.first() else {
                            return Err(arg_err(n, l.line));
                        };
                        f.health_check = dur(n, a)?;
                    }
                    "max_fails" => {
                        let [a] = l.args.as_slice() else {
                            return Err(arg_err(n, l.line));
                        };
                        f.max_fails = num(n, a)?;
                    }
                    "max_concurrent" => {
                        let [a] = l.args.as_slice() else {
                            return Err(arg_err(n, l.line));
                        };
                        f.max_concurrent = Some(num(n, a)?);
                    }
                    "except" => f.except = l.args.iter().map(|a| fqdn(a)).collect(),
                    "force_tcp" => f.force_tcp = true,
                    "prefer_udp" => f.prefer_udp = true,
                    "expire"
                    | "tls"
                    | "tls_servername"
                    | "next"
                    | "failfast_all_unhealthy_upstreams" => {}
                    _ => return Err(prop_err(n, l)),
                }
            }
            if f.force_tcp && f.prefer_udp {
                return Err(err(n, "force_tcp and prefer_udp are mutually exclusive"));
            }
            Plugin::Forward(f)
        }
        "cache" => {
            let mut c = Cache {
                ttl: 3600,
                zones: key_zones.to_vec(),
                success: (9984, 3600, 5),
                denial: (9984, 1800, 5),
                prefetch: None,
                serve_stale: None,
                disable_success: Vec::new(),
                disable_denial: Vec::new(),
            };
            if let Some((first, rest)) = d.args.split_first() {
                match first.parse::<u32>() {
                    Ok(t) => {
                        c.ttl = t;
                        c.success.1 = t;
                        c.denial.1 = t;
                        if !rest.is_empty() {
                            c.zones = zones_or(rest, key_zones);
                        }
                    }
                    Err(_) => c.zones = zones_or(&d.args, key_zones),
                }
            }
            for l in &d.block {
                let cap_ttl =
                    |l: &BlockLine, t: &mut (usize, u32, u32)| -> Result<(), SetupError> {
                        let Some(cap) = l.args.first() else {
                            return Err(arg_err(n, l.line));
                        };
                        t.0 = num(n, cap)?;
                        if let Some(a) = l.args.get(1) {
                            t.1 = num(n, a)?;
                        }
                        if let Some(a) = l.args.get(2) {
                            t.2 = num(n, a)?;
                        }
                        Ok(())
                    };
                match l.name.as_str() {
                    "success" => cap_ttl(l, &mut c.success)?,
                    "denial" => cap_ttl(l, &mut c.denial)?,
                    "prefetch" => {
                        let Some(a) = l.args.first() else {
                            return Err(arg_err(n, l.line));
                        };
                        let amount = num(n, a)?;
                        let d = match l.args.get(1) {
                            Some(s) => dur(n, s)?,
                            None => Duration::from_secs(60),
                        };
                        let pct = match l.args.get(2) {
                            Some(s) => num(n, s.trim_end_matches('%'))?,
                            None => 10,
                        };
                        c.prefetch = Some((amount, d, pct));
                    }
                    "serve_stale" => {
                        let d = match l.args.first() {
                            Some(s) => dur(n, s)?,
                            None => Duration::from_secs(3600),
                        };
                        let verify = match l.args.get(1).map(String::as_str) {
                            None | Some("immediate") => false,
                            Some("verify") => true,
                            Some(o) => {
                                return Err(err(
                                    n,
                                    format!("invalid value for serve_stale refresh mode: {o}"),
                                ));
                            }
                        };
                        c.serve_stale = Some((d, verify));
                    }
                    "disable" => {
                        let Some((which, zones)) = l.args.split_first() else {
                            return Err(arg_err(n, l.line));
                        };
                        let zones = zones_or(zones, key_zones);
                        match which.as_str() {
                            "success" => c.disable_success.extend(zones),
                            "denial" => c.disable_denial.extend(zones),
                            o => {
                                return Err(err(
                                    n,
                                    format!(
                                        "cache type for disable must be \"success\" or \"denial\": {o}"
                                    ),
                                ));
                            }
                        }
                    }
                    "keepttl" | "servfail" => {}
                    _ => return Err(prop_err(n, l)),
                }
            }
            Plugin::Cache(c)
        }
        "log" => {
            let mut log = Log {
                names: Vec::new(),
                format: None,
                classes: Vec::new(),
            };
            log.names = d.args.first().map(|a| vec![fqdn(a)]).unwrap_or_default();
            log.format = d.args.get(1).cloned();
            for l in &d.block {
                match l.name.as_str() {
                    "class" => {
                        for a in &l.args {
                            log.classes.push(match a.as_str() {
                                "all" => LogClass::All,
                                "success" => LogClass::Success,
                                "denial" => LogClass::Denial,
                                "error" => LogClass::Error,
                                o => return Err(err(n, format!("invalid class '{o}'"))),
                            });
                        }
                    }
                    _ => return Err(prop_err(n, l)),
                }
            }
            if log.classes.is_empty() {
                log.classes.push(LogClass::All);
            }
            Plugin::Log(log)
        }
        "errors" => Plugin::Errors,
        "health" => {
            let addr = d.args.first().cloned().unwrap_or_else(|| ":8080".into());
            let mut lameduck = None;
            for l in &d.block {
                match l.name.as_str() {
                    "lameduck" => {
                        let Some(a) = l.args.first() else {
                            return Err(arg_err(n, l.line));
                        };
                        lameduck = Some(dur(n, a)?);
                    }
                    _ => return Err(prop_err(n, l)),
                }
            }
            Plugin::Health { addr, lameduck }
        }
        "ready" => Plugin::Ready {
            addr: d.args.first().cloned().unwrap_or_else(|| ":8181".into()),
        },
        "prometheus" => Plugin::Prometheus {
            addr: d
                .args
                .first()
                .cloned()
                .unwrap_or_else(|| "localhost:9153".into()),
        },
        "reload" => {
            let interval = match d.args.first() {
                Some(a) => dur(n, a)?,
                None => Duration::from_secs(30),
            };
            let jitter = match d.args.get(1) {
                Some(a) => dur(n, a)?,
                None => Duration::from_secs(15),
            };
            if interval < Duration::from_secs(2) {
                return Err(err(n, "interval value must be greater or equal to 2s"));
            }
            Plugin::Reload { interval, jitter }
        }
        "loop" => {
            if !d.args.is_empty() {
                return Err(arg_err(n, d.line));
            }
            Plugin::Loop
        }
        "loadbalance" => Plugin::LoadBalance,
        "hosts" => {
            let mut h = Hosts {
                file: d
                    .args
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "/etc/hosts".into()),
                zones: zones_or(d.args.get(1..).unwrap_or_default(), key_zones),
                entries: Vec::new(),
                ttl: 3600,
                fallthrough: None,
            };
            for l in &d.block {
                match l.name.as_str() {
                    "fallthrough" => h.fallthrough = Some(l.args.iter().map(|a| fqdn(a)).collect()),
                    "ttl" => {
                        let [a] = l.args.as_slice() else {
                            return Err(arg_err(n, l.line));
                        };
                        h.ttl = num(n, a)?;
                    }
                    "no_reverse" | "reload" => {}
                    ip if ip.parse::<std::net::IpAddr>().is_ok() => {
                        h.entries.push((ip.to_string(), l.args.clone()))
                    }
                    _ => return Err(prop_err(n, l)),
                }
            }
            Plugin::Hosts(h)
        }
        "rewrite" => {
            let mut a = d.args.as_slice();
            let stop = match a.first().map(String::as_str) {
                Some("stop") => {
                    a = &a[1..];
                    true
                }
                Some("continue") => {
                    a = &a[1..];
                    false
                }
                _ => true,
            };
            if a.first().map(String::as_str) != Some("name") {
                // Other rewrite rules (type, class, edns0, ttl) are kept as written.
                return Ok(Plugin::Other(d.clone()));
            }
            let a = &a[1..];
            let (kind, from, to) = match a {
                [from, to] => (RewriteMatch::Exact, from, to),
                [k, from, to, ..] => (
                    match k.as_str() {
                        "exact" => RewriteMatch::Exact,
                        "prefix" => RewriteMatch::Prefix,
                        "suffix" => RewriteMatch::Suffix,
                        "substring" => RewriteMatch::Substring,
                        "regex" => RewriteMatch::Regex,
                        o => {
                            return Err(err(
                                n,
                                format!(
                                    "name rule supports only exact, prefix, suffix, substring, and regex name matching, received: {o}"
                                ),
                            ));
                        }
                    },
                    from,
                    to,
                ),
                _ => return Err(err(n, "too few arguments for a name rule")),
            };
            let answer_auto = a.windows(2).any(|w| w[0] == "answer" && w[1] == "auto");
            Plugin::Rewrite(Rewrite {
                stop,
                kind,
                from: from.clone(),
                to: to.clone(),
                answer_auto,
            })
        }
        _ => Plugin::Other(d.clone()),
    })
}

#[cfg(test)]
mod tests;
