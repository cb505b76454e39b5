//! forward: sends queries to upstream resolvers (listed, or the
//! nameservers of a resolv.conf) with CoreDNS's policies (random,
//! round_robin, sequential), max_fails and health checks (a failed
//! upstream is probed with `. IN NS` every health_check until it answers),
//! force_tcp / prefer_udp, and a TCP retry when a UDP answer comes back
//! truncated for a TCP client.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};

use crate::chain::{Failure, Next, Outcome, Plugin};
use crate::config::{self, Policy, in_zone};
use crate::metrics;
use crate::server::{self, Proto, Request};

/// CoreDNS's forward defaultTimeout: the whole exchange, over every upstream.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// One upstream's read timeout.
pub const READ_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub struct Upstream {
    pub addr: SocketAddr,
    fails: AtomicU32,
    checking: AtomicBool,
}

impl Upstream {
    pub fn new(addr: SocketAddr) -> Arc<Upstream> {
        Arc::new(Upstream {
            addr,
            fails: AtomicU32::new(0),
            checking: AtomicBool::new(false),
        })
    }

    /// Down after more than `max_fails` failures (0: never).
    pub fn down(&self, max_fails: u32) -> bool {
        max_fails != 0 && self.fails.load(Ordering::SeqCst) > max_fails
    }

    pub fn fails(&self) -> u32 {
        self.fails.load(Ordering::SeqCst)
    }
}

/// The nameservers of a resolv.conf, on port 53.
pub fn resolv_conf(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("nameserver"))
                .then(|| w.next())
                .flatten()
                .and_then(|a| a.parse::<std::net::IpAddr>().ok())
                .map(|ip| SocketAddr::new(ip, 53))
        })
        .collect()
}

/// `IP`, `IP:port`, `dns://IP[:port]`, `[v6]:port` or a resolv.conf path.
pub fn upstreams(to: &[String]) -> Result<Vec<SocketAddr>, String> {
    let mut out = Vec::new();
    for t in to {
        if t.starts_with('/') {
            let text = std::fs::read_to_string(t).map_err(|e| format!("open {t}: {e}"))?;
            let ns = resolv_conf(&text);
            if ns.is_empty() {
                return Err(format!("no nameservers found in {t}"));
            }
            out.extend(ns);
            continue;
        }
        let a = t.strip_prefix("dns://").unwrap_or(t);
        if let Ok(ip) = a.parse::<std::net::IpAddr>() {
            out.push(SocketAddr::new(ip, 53));
        } else if let Ok(sa) = a.parse::<SocketAddr>() {
            out.push(sa);
        } else {
            return Err(format!("not an IP address or file: \"{t}\""));
        }
    }
    Ok(out)
}

/// The order a query tries the upstreams in.
pub fn order(policy: Policy, n: usize, rr: &AtomicUsize) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).collect();
    match policy {
        Policy::Sequential => {}
        Policy::RoundRobin => {
            if n > 0 {
                let start = rr.fetch_add(1, Ordering::SeqCst) % n;
                v.rotate_left(start);
            }
        }
        Policy::Random => {
            use rand::seq::SliceRandom;
            v.shuffle(&mut rand::rng());
        }
    }
    v
}

pub struct Forward {
    cfg: config::Forward,
    pub upstreams: Vec<Arc<Upstream>>,
    rr: AtomicUsize,
    inflight: AtomicU32,
}

impl Forward {
    pub fn new(cfg: config::Forward) -> Result<Self, String> {
        let addrs = upstreams(&cfg.to).map_err(|e| format!("plugin/forward: {e}"))?;
        Ok(Forward {
            upstreams: addrs.into_iter().map(Upstream::new).collect(),
            cfg,
            rr: AtomicUsize::new(0),
            inflight: AtomicU32::new(0),
        })
    }

    fn matches(&self, name: &str) -> bool {
        in_zone(name, &self.cfg.from) && !self.cfg.except.iter().any(|z| in_zone(name, z))
    }

    /// Starts probing `u` until it answers (one checker per upstream).
    fn health_check(&self, u: &Arc<Upstream>) {
        if u.checking.swap(true, Ordering::SeqCst) {
            return;
        }
        let weak: Weak<Upstream> = Arc::downgrade(u);
        let every = self.cfg.health_check.max(Duration::from_millis(100));
        let proto = if self.cfg.force_tcp {
            Proto::Tcp
        } else {
            Proto::Udp
        };
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(u) = weak.upgrade() else { return };
                let mut q = Message::new();
                q.set_id(rand::random());
                q.add_query(Query::query(Name::root(), RecordType::NS));
                if server::exchange(u.addr, &q, proto, READ_TIMEOUT)
                    .await
                    .is_ok()
                {
                    u.fails.store(0, Ordering::SeqCst);
                    u.checking.store(false, Ordering::SeqCst);
                    return;
                }
                let to = u.addr.to_string();
                metrics::global().inc(
                    "coredns_proxy_healthcheck_failures_total",
                    "Counter of the number of failed healthchecks.",
                    &[("proxy_name", "forward"), ("to", &to)],
                );
                u.fails.fetch_add(1, Ordering::SeqCst);
            }
        });
    }

    async fn exchange(&self, u: &Upstream, req: &Request) -> std::io::Result<Message> {
        let proto = if self.cfg.force_tcp {
            Proto::Tcp
        } else if self.cfg.prefer_udp {
            Proto::Udp
        } else {
            req.proto
        };
        let m = server::exchange(u.addr, &req.msg, proto, READ_TIMEOUT).await?;
        if m.truncated() && proto == Proto::Udp && req.proto == Proto::Tcp {
            return server::exchange(u.addr, &req.msg, Proto::Tcp, READ_TIMEOUT).await;
        }
        Ok(m)
    }
}

struct Inflight<'a>(&'a AtomicU32);

impl Drop for Inflight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Plugin for Forward {
    fn name(&self) -> &'static str {
        "forward"
    }

    fn serve<'a>(&'a self, req: Arc<Request>, next: Next) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            if !self.matches(&req.name()) {
                return next.serve(req).await;
            }
            let n = self.inflight.fetch_add(1, Ordering::SeqCst) + 1;
            let _guard = Inflight(&self.inflight);
            if let Some(max) = self.cfg.max_concurrent
                && n > max
            {
                metrics::global().inc(
                    "coredns_forward_max_concurrent_rejects_total",
                    "Counter of the number of queries rejected because the concurrent queries were at maximum.",
                    &[],
                );
                return Err(Failure::new(
                    ResponseCode::Refused,
                    format!("concurrent queries exceeded maximum {max}"),
                ));
            }
            let deadline = Instant::now() + TIMEOUT;
            let list = order(self.cfg.policy, self.upstreams.len(), &self.rr);
            let mut last_err: Option<String> = None;
            let mut fails = 0;
            let mut i = 0;
            while Instant::now() < deadline && !list.is_empty() {
                let mut u = &self.upstreams[list[i % list.len()]];
                i += 1;
                if u.down(self.cfg.max_fails) {
                    fails += 1;
                    if fails < self.upstreams.len() {
                        continue;
                    }
                    // Every upstream is down: the health checks may be
                    // broken, try a random one anyway.
                    let r = rand::random_range(0..self.upstreams.len());
                    u = &self.upstreams[r];
                    metrics::global().inc(
                        "coredns_forward_healthcheck_broken_total",
                        "Counter of the number of complete failures of the healthchecks.",
                        &[],
                    );
                }
                let to = u.addr.to_string();
                let start = Instant::now();
                metrics::global().inc(
                    "coredns_forward_requests_total",
                    "Counter of requests made per upstream.",
                    &[("to", &to)],
                );
                match self.exchange(u, &req).await {
                    Ok(mut m) => {
                        let rc = super::rcode_str(m.response_code());
                        let secs = start.elapsed().as_secs_f64();
                        let r = metrics::global();
                        r.inc(
                            "coredns_forward_responses_total",
                            "Counter of responses received per upstream.",
                            &[("rcode", &rc), ("to", &to)],
                        );
                        r.observe(
                            "coredns_proxy_request_duration_seconds",
                            "Histogram of the time each request took.",
                            metrics::TIME_BUCKETS,
                            &[("proxy_name", "forward"), ("rcode", &rc), ("to", &to)],
                            secs,
                        );
                        if m.queries().first().map(|q| q.name().to_lowercase())
                            != req.msg.queries().first().map(|q| q.name().to_lowercase())
                        {
                            // A wrong reply: FORMERR, nothing logged.
                            return Err(Failure {
                                rcode: ResponseCode::FormErr,
                                error: None,
                            });
                        }
                        m.set_id(req.msg.id());
                        let _ = req.answered_by.set("forward");
                        return Ok(m);
                    }
                    Err(e) => {
                        u.fails.fetch_add(1, Ordering::SeqCst);
                        if let Some(arc) = self.upstreams.iter().find(|x| Arc::ptr_eq(x, u)) {
                            self.health_check(arc);
                        }
                        last_err = Some(e.to_string());
                        if i >= list.len() {
                            break;
                        }
                    }
                }
            }
            Err(Failure::new(
                ResponseCode::ServFail,
                last_err.unwrap_or_else(|| "no healthy proxies".into()),
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_keeps_order_round_robin_rotates_random_permutes() {
        let rr = AtomicUsize::new(0);
        assert_eq!(order(Policy::Sequential, 3, &rr), [0, 1, 2]);
        assert_eq!(order(Policy::RoundRobin, 3, &rr), [0, 1, 2]);
        assert_eq!(order(Policy::RoundRobin, 3, &rr), [1, 2, 0]);
        assert_eq!(order(Policy::RoundRobin, 3, &rr), [2, 0, 1]);
        assert_eq!(order(Policy::RoundRobin, 3, &rr), [0, 1, 2]);
        let mut r = order(Policy::Random, 5, &rr);
        r.sort();
        assert_eq!(r, [0, 1, 2, 3, 4]);
        assert!(order(Policy::Random, 0, &rr).is_empty());
    }

    #[test]
    fn resolv_conf_nameservers_and_upstream_forms() {
        let ns = resolv_conf(
            "# x\nsearch lan\nnameserver 10.0.0.1\nnameserver fd00::1\noptions ndots:5\n",
        );
        assert_eq!(
            ns,
            [
                "10.0.0.1:53".parse().unwrap(),
                "[fd00::1]:53".parse().unwrap()
            ]
        );
        let u = upstreams(&[
            "8.8.8.8".into(),
            "127.0.0.1:5353".into(),
            "dns://1.1.1.1".into(),
        ])
        .unwrap();
        assert_eq!(u[0].port(), 53);
        assert_eq!(u[1].port(), 5353);
        assert_eq!(u[2].to_string(), "1.1.1.1:53");
        assert!(upstreams(&["nope".into()]).is_err());
    }

    #[test]
    fn max_fails_marks_down() {
        let u = Upstream::new("127.0.0.1:53".parse().unwrap());
        u.fails.store(2, Ordering::SeqCst);
        assert!(!u.down(2));
        u.fails.store(3, Ordering::SeqCst);
        assert!(u.down(2));
        assert!(!u.down(0));
    }
}
