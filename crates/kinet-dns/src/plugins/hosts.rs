//! hosts: answers A, AAAA and PTR from a hosts file (re-read when it
//! changes, checked every 5 s) and inline entries.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use futures::future::BoxFuture;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::chain::{Failure, Next, Outcome, Plugin};
use crate::config::{self, in_zone};
use crate::records::parse_reverse;
use crate::server::Request;

/// name (lower case, fully qualified) → addresses, and address → names.
#[derive(Debug, Default, Clone)]
pub struct Table {
    pub by_name: BTreeMap<String, Vec<IpAddr>>,
    pub by_addr: BTreeMap<IpAddr, Vec<String>>,
}

impl Table {
    pub fn add(&mut self, ip: IpAddr, names: &[String]) {
        for n in names {
            let mut n = n.to_ascii_lowercase();
            if !n.ends_with('.') {
                n.push('.');
            }
            let v = self.by_name.entry(n.clone()).or_default();
            if !v.contains(&ip) {
                v.push(ip);
            }
            let v = self.by_addr.entry(ip).or_default();
            if !v.contains(&n) {
                v.push(n);
            }
        }
    }

    /// Parses hosts-file text.
    pub fn parse(&mut self, text: &str) {
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or_default();
            let mut w = line.split_whitespace();
            let Some(ip) = w
                .next()
                .and_then(|a| a.split('%').next()?.parse::<IpAddr>().ok())
            else {
                continue;
            };
            let names: Vec<String> = w.map(String::from).collect();
            self.add(ip, &names);
        }
    }
}

struct Loaded {
    table: Table,
    checked: Instant,
    mtime: Option<SystemTime>,
}

pub struct Hosts {
    cfg: config::Hosts,
    loaded: Mutex<Loaded>,
}

fn mtime(path: &str) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl Hosts {
    pub fn new(cfg: config::Hosts) -> Self {
        let h = Hosts {
            loaded: Mutex::new(Loaded {
                table: Table::default(),
                checked: Instant::now(),
                mtime: None,
            }),
            cfg,
        };
        h.reload(true);
        h
    }

    fn reload(&self, force: bool) {
        let mut l = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        if !force && l.checked.elapsed() < Duration::from_secs(5) {
            return;
        }
        l.checked = Instant::now();
        let m = mtime(&self.cfg.file);
        if !force && m == l.mtime {
            return;
        }
        let mut t = Table::default();
        if let Ok(text) = std::fs::read_to_string(&self.cfg.file) {
            t.parse(&text);
        }
        for (ip, names) in &self.cfg.entries {
            if let Ok(ip) = ip.parse() {
                t.add(ip, names);
            }
        }
        l.table = t;
        l.mtime = m;
    }

    fn table(&self) -> Table {
        self.reload(false);
        self.loaded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .table
            .clone()
    }
}

impl Plugin for Hosts {
    fn name(&self) -> &'static str {
        "hosts"
    }

    fn serve<'a>(&'a self, req: Arc<Request>, next: Next) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let name = req.name();
            // PTR names need not be in the plugin's zones.
            if req.qtype() != RecordType::PTR && !self.cfg.zones.iter().any(|z| in_zone(&name, z)) {
                return next.serve(req).await;
            }
            let t = self.table();
            let owner = Name::from_ascii(req.qname()).unwrap_or_else(|_| Name::root());
            let ttl = self.cfg.ttl;
            let mut answers = Vec::new();
            let known;
            if req.qtype() == RecordType::PTR {
                let names = parse_reverse(&name)
                    .and_then(|ip| t.by_addr.get(&ip).cloned())
                    .unwrap_or_default();
                if names.is_empty() {
                    // Unknown addresses go on, fallthrough or not.
                    return next.serve(req).await;
                }
                known = true;
                for n in names {
                    if let Ok(n) = Name::from_ascii(&n) {
                        answers.push(Record::from_rdata(owner.clone(), ttl, RData::PTR(PTR(n))));
                    }
                }
            } else {
                let ips = t.by_name.get(&name).cloned().unwrap_or_default();
                known = !ips.is_empty();
                for ip in ips {
                    match (req.qtype(), ip) {
                        (RecordType::A, IpAddr::V4(v)) => {
                            answers.push(Record::from_rdata(owner.clone(), ttl, RData::A(A(v))))
                        }
                        (RecordType::AAAA, IpAddr::V6(v)) => answers.push(Record::from_rdata(
                            owner.clone(),
                            ttl,
                            RData::AAAA(AAAA(v)),
                        )),
                        _ => {}
                    }
                }
            }
            if answers.is_empty() && !known {
                let falls = match &self.cfg.fallthrough {
                    None => false,
                    Some(z) => z.is_empty() || z.iter().any(|z| in_zone(&name, z)),
                };
                if falls {
                    return next.serve(req).await;
                }
                // No SOA to send an NXDOMAIN with: CoreDNS answers SERVFAIL.
                return Err(Failure {
                    rcode: ResponseCode::ServFail,
                    error: None,
                });
            }
            let mut m = req.reply();
            m.set_authoritative(true);
            m.add_answers(answers);
            let _ = req.answered_by.set("hosts");
            Ok(m)
        })
    }
}
