//! The plugins of a chain, built from the typed configuration, and the
//! small ones: errors, log, loadbalance, prometheus.

pub mod cache;
pub mod forward;
pub mod hosts;
pub mod kubernetes;
pub mod loopdetect;
pub mod rewrite;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use futures::future::BoxFuture;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{DNSClass, RecordType};

use crate::chain::{self, Next, Outcome, Plugin};
use crate::cluster::ClusterView;
use crate::config::{self, LogClass, in_zone};
use crate::metrics;
use crate::server::{self, Request};

/// What building a chain needs besides the configuration.
#[derive(Clone)]
pub struct Context {
    pub view: Arc<ClusterView>,
    /// `dns://:PORT`, the `server` label.
    pub server: String,
    /// The server block's first zone.
    pub zone: String,
    /// Where the server listens (the loop plugin's probe target).
    pub listen: SocketAddr,
}

/// The chain of one server block, in CoreDNS's order. Plugins that are
/// not handlers (health, ready, reload) or that kinet does not implement
/// are left out.
pub fn build(server: &config::Server, ctx: &Context) -> Result<Vec<Box<dyn Plugin>>, String> {
    use config::Plugin as P;
    let mut out: Vec<Box<dyn Plugin>> = Vec::new();
    let mut rewrite_added = false;
    for p in chain::sorted(&server.plugins) {
        match p {
            P::Prometheus { .. } => out.push(Box::new(Prometheus {
                server: ctx.server.clone(),
                zone: ctx.zone.clone(),
            })),
            P::Errors => out.push(Box::new(Errors)),
            P::Log(l) => out.push(Box::new(Log { cfg: l.clone() })),
            P::LoadBalance => out.push(Box::new(LoadBalance)),
            P::Cache(c) => out.push(Box::new(cache::Cache::new(c.clone(), &ctx.server))),
            P::Rewrite(_) => {
                // One plugin for every rewrite line, at the first one's place.
                if !rewrite_added {
                    rewrite_added = true;
                    let rules = server
                        .plugins
                        .iter()
                        .filter_map(|p| match p {
                            P::Rewrite(r) => Some(r.clone()),
                            _ => None,
                        })
                        .collect();
                    out.push(Box::new(rewrite::Rewrite::new(rules)));
                }
            }
            P::Hosts(h) => out.push(Box::new(hosts::Hosts::new(h.clone()))),
            P::Kubernetes(k) => out.push(Box::new(kubernetes::Kubernetes::new(
                k.clone(),
                ctx.view.clone(),
            ))),
            P::Loop => out.push(Box::new(loopdetect::Loop::new(&ctx.zone, ctx.listen))),
            P::Forward(f) => out.push(Box::new(forward::Forward::new(f.clone())?)),
            P::Health { .. } | P::Ready { .. } | P::Reload { .. } | P::Other(_) => {}
        }
    }
    Ok(out)
}

/// miekg's RcodeToString.
pub fn rcode_str(r: ResponseCode) -> String {
    match u16::from(r) {
        0 => "NOERROR".into(),
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        6 => "YXDOMAIN".into(),
        7 => "YXRRSET".into(),
        8 => "NXRRSET".into(),
        9 => "NOTAUTH".into(),
        10 => "NOTZONE".into(),
        16 => "BADSIG".into(),
        n => n.to_string(),
    }
}

/// miekg's type names (`TYPE65280` for unknown ones).
pub fn type_str(t: RecordType) -> String {
    match t {
        RecordType::Unknown(n) => format!("TYPE{n}"),
        t => t.to_string(),
    }
}

pub fn class_str(c: DNSClass) -> String {
    match c {
        DNSClass::IN => "IN".into(),
        DNSClass::CH => "CH".into(),
        DNSClass::HS => "HS".into(),
        DNSClass::NONE => "NONE".into(),
        DNSClass::ANY => "ANY".into(),
        c => format!("CLASS{}", u16::from(c)),
    }
}

/// CoreDNS's response.Typify, for the classes log and cache use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RespType {
    NoError,
    NameError,
    ServerError,
    NoData,
    Delegation,
    OtherError,
}

pub fn typify(m: &Message) -> RespType {
    let ok = m.response_code() == ResponseCode::NoError;
    let nx = m.response_code() == ResponseCode::NXDomain;
    if !m.answers().is_empty() {
        return if ok {
            RespType::NoError
        } else if nx {
            RespType::OtherError
        } else if matches!(
            m.response_code(),
            ResponseCode::ServFail | ResponseCode::NotImp
        ) {
            RespType::ServerError
        } else {
            RespType::OtherError
        };
    }
    let soa = m
        .name_servers()
        .iter()
        .any(|r| r.record_type() == RecordType::SOA);
    let ns = m
        .name_servers()
        .iter()
        .filter(|r| r.record_type() == RecordType::NS)
        .count();
    if soa && ok {
        return RespType::NoData;
    }
    if nx {
        return RespType::NameError;
    }
    if matches!(
        m.response_code(),
        ResponseCode::ServFail | ResponseCode::NotImp
    ) {
        return RespType::ServerError;
    }
    if ns > 0 && ok {
        return RespType::Delegation;
    }
    if ok {
        return RespType::NoError;
    }
    RespType::OtherError
}

/// response.Classify.
pub fn classify(t: RespType) -> LogClass {
    match t {
        RespType::NoError | RespType::Delegation => LogClass::Success,
        RespType::NameError | RespType::NoData => LogClass::Denial,
        _ => LogClass::Error,
    }
}

/// The errors plugin: logs the error a later plugin returned.
pub struct Errors;

impl Plugin for Errors {
    fn name(&self) -> &'static str {
        "errors"
    }
    fn serve<'a>(&'a self, req: Arc<Request>, next: Next) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let out = next.serve(req.clone()).await;
            if let Err(f) = &out
                && let Some(e) = &f.error
            {
                crate::log::error(&format!(
                    "plugin/errors: {} {} {}: {e}",
                    u16::from(f.rcode),
                    req.name(),
                    type_str(req.qtype())
                ));
            }
            out
        })
    }
}

/// CoreDNS's CommonLogFormat.
pub const COMMON_LOG_FORMAT: &str = "{remote}:{port} - {>id} \"{type} {class} {name} {proto} {size} {>do} {>bufsize}\" {rcode} {>rflags} {rsize} {duration}";

/// The header flags as the log prints them (`qr,aa,rd`).
pub fn flags(m: &Message) -> String {
    let mut f = Vec::new();
    if m.message_type() == hickory_proto::op::MessageType::Response {
        f.push("qr");
    }
    if m.authoritative() {
        f.push("aa");
    }
    if m.truncated() {
        f.push("tc");
    }
    if m.recursion_desired() {
        f.push("rd");
    }
    if m.recursion_available() {
        f.push("ra");
    }
    if m.authentic_data() {
        f.push("ad");
    }
    if m.checking_disabled() {
        f.push("cd");
    }
    f.join(",")
}

/// Go's strconv.FormatFloat(secs, 'f', -1, 64) + "s".
pub fn go_seconds(secs: f64) -> String {
    format!("{secs}s")
}

/// One log line (without the `[INFO] ` prefix) in `format`.
pub fn log_line(format: &str, req: &Request, resp: &Message, rsize: usize, secs: f64) -> String {
    let format = match format {
        "{common}" => COMMON_LOG_FORMAT.to_string(),
        "{combined}" => format!("{COMMON_LOG_FORMAT} \"{{>opcode}}\""),
        f => f.to_string(),
    };
    let ip = req.peer.ip();
    let remote = if ip.is_ipv6() {
        format!("[{ip}]")
    } else {
        ip.to_string()
    };
    let mut out = String::new();
    let mut rest = format.as_str();
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let Some(j) = rest[i..].find('}') else {
            out.push_str(&rest[i..]);
            rest = "";
            break;
        };
        let label = &rest[i..i + j + 1];
        let v = match label {
            "{remote}" => remote.clone(),
            "{port}" => req.peer.port().to_string(),
            "{local}" => req.local.ip().to_string(),
            "{>id}" => req.msg.id().to_string(),
            "{type}" => type_str(req.qtype()),
            "{class}" => class_str(req.qclass()),
            "{name}" => req.name(),
            "{proto}" => req.proto.as_str().into(),
            "{size}" => req.size.to_string(),
            "{>do}" => req.do_bit().to_string(),
            "{>bufsize}" => req.bufsize().to_string(),
            "{>opcode}" => u8::from(req.msg.op_code()).to_string(),
            "{rcode}" => rcode_str(resp.response_code()),
            "{>rflags}" => flags(resp),
            "{rsize}" => rsize.to_string(),
            "{duration}" => go_seconds(secs),
            other => other.to_string(),
        };
        out.push_str(&v);
        rest = &rest[i + j + 1..];
    }
    out.push_str(rest);
    out
}

/// The log plugin: one line per query of the configured classes.
pub struct Log {
    pub cfg: config::Log,
}

impl Plugin for Log {
    fn name(&self) -> &'static str {
        "log"
    }
    fn serve<'a>(&'a self, req: Arc<Request>, next: Next) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let name = req.name();
            if !self.cfg.names.is_empty() && !self.cfg.names.iter().any(|z| in_zone(&name, z)) {
                return next.serve(req).await;
            }
            let start = Instant::now();
            let out = next.serve(req.clone()).await;
            let mut resp = match &out {
                Ok(m) => m.clone(),
                Err(f) => f.reply(&req),
            };
            let class = classify(typify(&resp));
            if self
                .cfg
                .classes
                .iter()
                .any(|c| *c == LogClass::All || *c == class)
            {
                let rsize = server::encode(&req.msg, req.bufsize(), &mut resp).len();
                let format = self.cfg.format.as_deref().unwrap_or(COMMON_LOG_FORMAT);
                crate::log::info(&log_line(
                    format,
                    &req,
                    &resp,
                    rsize,
                    start.elapsed().as_secs_f64(),
                ));
            }
            out
        })
    }
}

/// loadbalance: shuffles the A and AAAA records of an answer (round_robin).
pub struct LoadBalance;

pub fn shuffle_addresses(m: &mut Message) {
    use rand::seq::SliceRandom;
    let answers = m.take_answers();
    let (mut addrs, rest): (Vec<_>, Vec<_>) = answers
        .into_iter()
        .partition(|r| matches!(r.record_type(), RecordType::A | RecordType::AAAA));
    let (cnames, others): (Vec<_>, Vec<_>) = rest
        .into_iter()
        .partition(|r| r.record_type() == RecordType::CNAME);
    addrs.shuffle(&mut rand::rng());
    m.add_answers(cnames);
    m.add_answers(addrs);
    m.add_answers(others);
}

impl Plugin for LoadBalance {
    fn name(&self) -> &'static str {
        "loadbalance"
    }
    fn serve<'a>(&'a self, req: Arc<Request>, next: Next) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let mut m = next.serve(req).await?;
            shuffle_addresses(&mut m);
            Ok(m)
        })
    }
}

/// prometheus: CoreDNS's per-server request, response and duration metrics.
pub struct Prometheus {
    pub server: String,
    pub zone: String,
}

pub fn record_build_info() {
    metrics::global().set(
        "coredns_build_info",
        "A metric with a constant '1' value labeled by version, revision, and goversion from which CoreDNS was built.",
        &[
            ("goversion", crate::run::GO_VERSION),
            ("revision", crate::run::REVISION),
            ("version", crate::run::VERSION),
        ],
        1.0,
    );
}

impl Plugin for Prometheus {
    fn name(&self) -> &'static str {
        "prometheus"
    }
    fn serve<'a>(&'a self, req: Arc<Request>, next: Next) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let start = Instant::now();
            let out = next.serve(req.clone()).await;
            let mut resp = match &out {
                Ok(m) => m.clone(),
                Err(f) => f.reply(&req),
            };
            let zone = self.zone.clone();
            let family = if req.peer.is_ipv6() { "2" } else { "1" };
            let qtype = type_str(req.qtype());
            let r = metrics::global();
            let srv = self.server.as_str();
            r.inc(
                "coredns_dns_requests_total",
                "Counter of DNS requests made per zone, protocol and family.",
                &[
                    ("server", srv),
                    ("zone", &zone),
                    ("view", ""),
                    ("proto", req.proto.as_str()),
                    ("family", family),
                    ("type", &qtype),
                ],
            );
            if req.do_bit() {
                r.inc(
                    "coredns_dns_do_requests_total",
                    "Counter of DNS requests with DO bit set per zone.",
                    &[("server", srv), ("zone", &zone), ("view", "")],
                );
            }
            let plugin = req.answered_by.get().copied().unwrap_or("");
            r.inc(
                "coredns_dns_responses_total",
                "Counter of response status codes.",
                &[
                    ("server", srv),
                    ("zone", &zone),
                    ("view", ""),
                    ("rcode", &rcode_str(resp.response_code())),
                    ("plugin", plugin),
                ],
            );
            r.observe(
                "coredns_dns_request_duration_seconds",
                "Histogram of the time (in seconds) each request took per zone.",
                metrics::TIME_BUCKETS,
                &[
                    ("server", srv),
                    ("zone", &zone),
                    ("view", ""),
                    ("type", &qtype),
                ],
                start.elapsed().as_secs_f64(),
            );
            r.observe(
                "coredns_dns_request_size_bytes",
                "Size of the EDNS0 UDP buffer in bytes (64K for TCP) per zone and protocol.",
                metrics::SIZE_BUCKETS,
                &[
                    ("server", srv),
                    ("zone", &zone),
                    ("view", ""),
                    ("proto", req.proto.as_str()),
                ],
                req.size as f64,
            );
            let rsize = server::encode(&req.msg, req.bufsize(), &mut resp).len();
            r.observe(
                "coredns_dns_response_size_bytes",
                "Size of the returned response in bytes.",
                metrics::SIZE_BUCKETS,
                &[
                    ("server", srv),
                    ("zone", &zone),
                    ("view", ""),
                    ("proto", req.proto.as_str()),
                ],
                rsize as f64,
            );
            out
        })
    }
}
