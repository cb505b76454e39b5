//! cache: CoreDNS's two caches (success and denial) with their capacities
//! and TTL bounds, TTLs counting down from when an answer was stored,
//! prefetch of popular names about to expire, and serve_stale.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, Record, RecordType};

use super::{RespType, typify};
use crate::chain::{Next, Outcome, Plugin};
use crate::config::{self, in_zone};
use crate::metrics;
use crate::server::Request;

/// dnsutil.MinimalDefaultTTL: a response without records is cached this long.
pub const MINIMAL_DEFAULT_TTL: u32 = 5;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
    pub do_bit: bool,
    pub cd: bool,
}

impl Key {
    pub fn of(req: &Request) -> Key {
        Key {
            name: req.name(),
            qtype: u16::from(req.qtype()),
            qclass: u16::from(req.qclass()),
            do_bit: req.do_bit(),
            cd: req.msg.checking_disabled(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Item {
    pub rcode: ResponseCode,
    pub ra: bool,
    pub ad: bool,
    pub answer: Vec<Record>,
    pub ns: Vec<Record>,
    pub extra: Vec<Record>,
    pub orig_ttl: u32,
    pub stored: Instant,
    /// Hits in the current prefetch window (start, count).
    pub freq: (Instant, u32),
}

impl Item {
    /// Seconds left (negative once expired).
    pub fn ttl(&self, now: Instant) -> i64 {
        i64::from(self.orig_ttl) - now.saturating_duration_since(self.stored).as_secs() as i64
    }

    /// The cached answer to `req`, every record's TTL set to `ttl`.
    pub fn to_msg(&self, req: &Request, ttl: u32) -> Message {
        let mut m = req.reply();
        m.set_authoritative(true)
            .set_recursion_available(self.ra)
            .set_authentic_data(self.ad && req.do_bit())
            .set_response_code(self.rcode);
        // Owner names equal to the question take the asker's case (0x20).
        let asked = req.msg.queries().first().map(|q| q.name().clone());
        let with_ttl = |rs: &[Record]| -> Vec<Record> {
            rs.iter()
                .map(|r| {
                    let mut r = r.clone();
                    r.set_ttl(ttl);
                    if let Some(a) = &asked
                        && r.name() == a
                    {
                        r.set_name(a.clone());
                    }
                    r
                })
                .collect()
        };
        m.add_answers(with_ttl(&self.answer));
        m.add_name_servers(with_ttl(&self.ns));
        m.add_additionals(with_ttl(&self.extra));
        m
    }
}

/// dnsutil.MinimalTTL: the smallest TTL of the answer, authority and
/// additional records (a denial's SOA counts with min(TTL, MINIMUM)).
pub fn minimal_ttl(m: &Message, t: RespType) -> u32 {
    let mut min: Option<u32> = None;
    let mut take = |v: u32| min = Some(min.map_or(v, |m: u32| m.min(v)));
    if matches!(t, RespType::NameError | RespType::NoData) {
        for r in m.name_servers() {
            if let RData::SOA(soa) = r.data() {
                take(r.ttl().min(soa.minimum()));
            }
        }
        return min.unwrap_or(MINIMAL_DEFAULT_TTL);
    }
    for r in m
        .answers()
        .iter()
        .chain(m.name_servers())
        .chain(m.additionals())
    {
        if r.record_type() == RecordType::OPT {
            continue;
        }
        take(r.ttl());
    }
    min.unwrap_or(MINIMAL_DEFAULT_TTL)
}

/// How long a response is cached, and in which cache (`true`: success),
/// or `None` when it is not cached.
pub fn cache_ttl(cfg: &config::Cache, m: &Message) -> Option<(u32, bool)> {
    if m.truncated() {
        return None;
    }
    if !matches!(
        m.response_code(),
        ResponseCode::NoError | ResponseCode::NXDomain
    ) {
        return None;
    }
    let t = typify(m);
    let (success, (_, max, min)) = match t {
        RespType::NoError | RespType::Delegation => (true, cfg.success),
        RespType::NameError | RespType::NoData => (false, cfg.denial),
        _ => return None,
    };
    let ttl = minimal_ttl(m, t).max(min).min(max);
    (ttl > 0).then_some((ttl, success))
}

#[derive(Default)]
struct Store {
    success: HashMap<Key, Item>,
    denial: HashMap<Key, Item>,
}

pub struct Cache {
    cfg: config::Cache,
    store: Arc<Mutex<Store>>,
    server: String,
    zones_label: String,
}

fn lock(s: &Mutex<Store>) -> std::sync::MutexGuard<'_, Store> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

impl Cache {
    pub fn new(cfg: config::Cache, server: &str) -> Self {
        Cache {
            zones_label: cfg.zones.join(","),
            cfg,
            store: Arc::default(),
            server: server.to_string(),
        }
    }

    fn labels(&self) -> [(&str, &str); 3] {
        [
            ("server", self.server.as_str()),
            ("view", ""),
            ("zones", self.zones_label.as_str()),
        ]
    }

    fn count(&self, name: &'static str, help: &'static str) {
        metrics::global().inc(name, help, &self.labels());
    }

    /// Stores a response from the next plugins.
    fn insert(
        cfg: &config::Cache,
        store: &Mutex<Store>,
        key: Key,
        m: &Message,
        labels: [(&str, &str); 3],
    ) {
        let Some((ttl, success)) = cache_ttl(cfg, m) else {
            return;
        };
        let disabled = if success {
            &cfg.disable_success
        } else {
            &cfg.disable_denial
        };
        if disabled.iter().any(|z| in_zone(&key.name, z)) {
            return;
        }
        let now = Instant::now();
        let item = Item {
            rcode: m.response_code(),
            ra: m.recursion_available(),
            ad: m.authentic_data(),
            answer: m.answers().to_vec(),
            ns: m.name_servers().to_vec(),
            extra: m
                .additionals()
                .iter()
                .filter(|r| r.record_type() != RecordType::OPT)
                .cloned()
                .collect(),
            orig_ttl: ttl,
            stored: now,
            freq: (now, 0),
        };
        let mut s = lock(store);
        let (map, cap, kind) = if success {
            (&mut s.success, cfg.success.0, "success")
        } else {
            (&mut s.denial, cfg.denial.0, "denial")
        };
        if !map.contains_key(&key) && map.len() >= cap.max(1) {
            // Evict an arbitrary entry, as CoreDNS's sharded cache does.
            if let Some(k) = map.keys().next().cloned() {
                map.remove(&k);
                let [a, b, c] = labels;
                metrics::global().inc(
                    "coredns_cache_evictions_total",
                    "The count of cache evictions.",
                    &[a, ("type", kind), b, c],
                );
            }
        }
        map.insert(key, item);
        let n = map.len() as f64;
        let [a, b, c] = labels;
        metrics::global().set(
            "coredns_cache_entries",
            "The number of elements in the cache.",
            &[a, ("type", kind), b, c],
            n,
        );
    }

    /// Fetches `req` again in the background and stores the answer.
    fn refresh(&self, req: Arc<Request>, next: Next, key: Key) {
        let store = self.store.clone();
        let cfg = self.cfg.clone();
        let server = self.server.clone();
        let zones = self.zones_label.clone();
        tokio::spawn(async move {
            if let Ok(m) = next.serve(req).await {
                Cache::insert(
                    &cfg,
                    &store,
                    key,
                    &m,
                    [("server", &server), ("view", ""), ("zones", &zones)],
                );
            }
        });
    }
}

impl Plugin for Cache {
    fn name(&self) -> &'static str {
        "cache"
    }

    fn serve<'a>(&'a self, req: Arc<Request>, next: Next) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let name = req.name();
            if !self.cfg.zones.iter().any(|z| in_zone(&name, z)) {
                return next.serve(req).await;
            }
            self.count(
                "coredns_cache_requests_total",
                "The count of cache requests.",
            );
            let key = Key::of(&req);
            let now = Instant::now();
            let found = {
                let mut s = lock(&self.store);
                let Store { success, denial } = &mut *s;
                let (hit, kind) = match success.get_mut(&key) {
                    Some(i) => (Some(i), "success"),
                    None => (denial.get_mut(&key), "denial"),
                };
                hit.map(|i| {
                    // Prefetch counts hits within the configured window.
                    if let Some((_, window, _)) = self.cfg.prefetch {
                        if now.saturating_duration_since(i.freq.0) > window {
                            i.freq = (now, 0);
                        }
                        i.freq.1 += 1;
                    }
                    (i.clone(), kind)
                })
            };
            if let Some((item, kind)) = found {
                let left = item.ttl(now);
                if left > 0 {
                    let [a, b, c] = self.labels();
                    metrics::global().inc(
                        "coredns_cache_hits_total",
                        "The count of cache hits.",
                        &[a, ("type", kind), b, c],
                    );
                    if let Some((amount, _, pct)) = self.cfg.prefetch
                        && item.freq.1 >= amount
                        && (left as u64) * 100 <= u64::from(item.orig_ttl) * u64::from(pct)
                    {
                        self.count(
                            "coredns_cache_prefetch_total",
                            "The number of times the cache has prefetched a cached item.",
                        );
                        self.refresh(req.clone(), next.clone(), key.clone());
                    }
                    let _ = req.answered_by.set("cache");
                    return Ok(item.to_msg(&req, left as u32));
                }
                if let Some((max_stale, verify)) = self.cfg.serve_stale
                    && now.saturating_duration_since(item.stored)
                        <= Duration::from_secs(u64::from(item.orig_ttl)) + max_stale
                {
                    if verify {
                        if let Ok(m) = next.clone().serve(req.clone()).await
                            && m.response_code() != ResponseCode::ServFail
                        {
                            Cache::insert(&self.cfg, &self.store, key, &m, self.labels());
                            return Ok(m);
                        }
                    } else {
                        self.refresh(req.clone(), next.clone(), key.clone());
                    }
                    self.count(
                        "coredns_cache_served_stale_total",
                        "The number of requests served from stale cache entries.",
                    );
                    let _ = req.answered_by.set("cache");
                    return Ok(item.to_msg(&req, 0));
                }
            }
            self.count("coredns_cache_misses_total", "The count of cache misses.");
            let m = next.serve(req).await?;
            Cache::insert(&self.cfg, &self.store, key, &m, self.labels());
            Ok(m)
        })
    }
}
