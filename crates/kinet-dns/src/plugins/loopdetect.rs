//! loop: sends `<random>.<random>.<zone> HINFO` to its own server at
//! startup; seeing that query come back through the chain more than twice
//! means a forwarding loop, and CoreDNS exits with its fatal message.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RecordType};

use crate::chain::{Next, Outcome, Plugin};
use crate::config::in_zone;
use crate::server::{self, Proto, Request};

/// `<random 62-bit int>.<random 62-bit int>.<zone>`.
pub fn probe_name(zone: &str) -> String {
    let a: u64 = rand::random::<u64>() >> 2;
    let b: u64 = rand::random::<u64>() >> 2;
    if zone == "." {
        format!("{a}.{b}.")
    } else {
        format!("{a}.{b}.{zone}")
    }
}

/// CoreDNS's fatal message.
pub fn loop_message(remote: &str, local: &str, zone: &str, qname: &str) -> String {
    format!(
        "plugin/loop: Loop ({remote} -> {local}) detected for zone \"{zone}\", see https://coredns.io/plugins/loop#troubleshooting. Query: \"HINFO {qname}\""
    )
}

pub struct Loop {
    zone: String,
    pub qname: String,
    addr: SocketAddr,
    seen: Arc<AtomicU32>,
    off: Arc<AtomicBool>,
    started: AtomicBool,
}

impl Loop {
    pub fn new(zone: &str, addr: SocketAddr) -> Self {
        Loop {
            zone: zone.to_string(),
            qname: probe_name(zone),
            addr,
            seen: Arc::default(),
            off: Arc::default(),
            started: AtomicBool::new(false),
        }
    }

    /// Sends the probe until one exchange succeeds (for at most 30 s),
    /// then stops looking 2 s later.
    pub fn start_probe(&self) {
        if self.started.swap(true, Ordering::SeqCst) {
            return;
        }
        let mut target = self.addr;
        if target.ip().is_unspecified() {
            target.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        let (qname, seen, off) = (self.qname.clone(), self.seen.clone(), self.off.clone());
        tokio::spawn(async move {
            let Ok(name) = Name::from_ascii(&qname) else {
                return;
            };
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            while tokio::time::Instant::now() < deadline {
                let mut q = Message::new();
                q.set_id(rand::random()).set_recursion_desired(true);
                q.add_query(Query::query(name.clone(), RecordType::HINFO));
                if server::exchange(target, &q, Proto::Udp, Duration::from_secs(2))
                    .await
                    .is_err()
                {
                    seen.store(0, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
                break;
            }
            off.store(true, Ordering::SeqCst);
        });
    }
}

impl Plugin for Loop {
    fn name(&self) -> &'static str {
        "loop"
    }

    fn on_startup(&self) {
        self.start_probe();
    }

    fn serve<'a>(&'a self, req: Arc<Request>, next: Next) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            if req.qtype() == RecordType::HINFO && !self.off.load(Ordering::SeqCst) {
                let name = req.name();
                if in_zone(&name, &self.zone) {
                    if name == self.qname {
                        self.seen.fetch_add(1, Ordering::SeqCst);
                    }
                    if self.seen.load(Ordering::SeqCst) > 2 {
                        let mut local = self.addr.to_string();
                        if self.addr.ip().is_unspecified() {
                            local = format!(":{}", self.addr.port());
                        }
                        crate::log::fatal(&loop_message(
                            &req.peer.to_string(),
                            &local,
                            &self.zone,
                            &self.qname,
                        ));
                    }
                }
            }
            next.serve(req).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_names_are_two_random_ints_under_the_zone() {
        let n = probe_name(".");
        let labels: Vec<&str> = n.trim_end_matches('.').split('.').collect();
        assert_eq!(labels.len(), 2);
        assert!(
            labels
                .iter()
                .all(|l| l.parse::<u64>().is_ok_and(|v| v < 1 << 62))
        );
        assert_ne!(probe_name("."), n);
        assert!(probe_name("cluster.local.").ends_with(".cluster.local."));
        assert_eq!(
            loop_message("127.0.0.1:55123", ":53", ".", "1.2."),
            "plugin/loop: Loop (127.0.0.1:55123 -> :53) detected for zone \".\", see https://coredns.io/plugins/loop#troubleshooting. Query: \"HINFO 1.2.\""
        );
    }
}
