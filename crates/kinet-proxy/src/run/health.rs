//! kube-proxy's health server (pkg/proxy/healthcheck/proxy_health.go):
//! `/healthz` and `/livez` on healthzBindAddress answer 200 with upstream's
//! JSON once the rules were synced recently, 503 before or when a sync is
//! overdue; and a small `/metrics` on metricsBindAddress.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::klog;

#[derive(Debug, Default)]
struct Inner {
    last_updated: Option<(Instant, SystemTime)>,
    /// When a change was first queued and not yet synced.
    oldest_pending: Option<Instant>,
    syncs: u64,
    sync_seconds_total: f64,
    last_sync_seconds: f64,
    failures: u64,
}

/// Shared between the sync loop and the servers.
#[derive(Clone, Debug)]
pub struct Health {
    inner: Arc<Mutex<Inner>>,
    timeout: Duration,
}

impl Health {
    /// Unhealthy when an update stays pending longer than `timeout` (upstream: 2 × syncPeriod).
    pub fn new(timeout: Duration) -> Health {
        Health {
            inner: Arc::default(),
            timeout,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A change arrived that a sync must apply.
    pub fn queued(&self) {
        let mut i = self.lock();
        i.oldest_pending.get_or_insert_with(Instant::now);
    }

    /// A sync applied everything pending.
    pub fn updated(&self, elapsed: Duration) {
        let mut i = self.lock();
        i.last_updated = Some((Instant::now(), SystemTime::now()));
        i.oldest_pending = None;
        i.syncs += 1;
        i.last_sync_seconds = elapsed.as_secs_f64();
        i.sync_seconds_total += elapsed.as_secs_f64();
    }

    pub fn failed(&self) {
        self.lock().failures += 1;
    }

    /// (HTTP status, body) of `/healthz`.
    pub fn healthz(&self) -> (u16, String) {
        let i = self.lock();
        let now = Instant::now();
        let healthy = i.last_updated.is_some()
            && i.oldest_pending
                .is_none_or(|t| now.duration_since(t) <= self.timeout);
        let last = i
            .last_updated
            .map(|(_, t)| klog::go_time(t))
            .unwrap_or_else(|| "0001-01-01 00:00:00 +0000 UTC".into());
        let body = format!(
            "{{\"lastUpdated\": {last:?},\"currentTime\": {:?}, \"nodeEligible\": true}}",
            klog::go_time(SystemTime::now())
        );
        (if healthy { 200 } else { 503 }, body)
    }

    fn metrics(&self) -> String {
        let i = self.lock();
        format!(
            "# HELP kubeproxy_sync_proxy_rules_duration_seconds SyncProxyRules latency in seconds\n\
             # TYPE kubeproxy_sync_proxy_rules_duration_seconds summary\n\
             kubeproxy_sync_proxy_rules_duration_seconds_sum {}\n\
             kubeproxy_sync_proxy_rules_duration_seconds_count {}\n\
             # HELP kubeproxy_sync_proxy_rules_last_duration_seconds The last SyncProxyRules latency in seconds\n\
             # TYPE kubeproxy_sync_proxy_rules_last_duration_seconds gauge\n\
             kubeproxy_sync_proxy_rules_last_duration_seconds {}\n\
             # HELP kubeproxy_sync_proxy_rules_iptables_restore_failures_total Cumulative proxy iptables restore failures\n\
             # TYPE kubeproxy_sync_proxy_rules_iptables_restore_failures_total counter\n\
             kubeproxy_sync_proxy_rules_iptables_restore_failures_total {}\n",
            i.sync_seconds_total, i.syncs, i.last_sync_seconds, i.failures
        )
    }

    /// The answer to one request path.
    pub fn answer(&self, path: &str, metrics: bool) -> (u16, &'static str, String) {
        let path = path.split('?').next().unwrap_or("");
        match path {
            "/healthz" | "/livez" if !metrics => {
                let (code, body) = self.healthz();
                (code, "application/json", body)
            }
            "/metrics" if metrics => (200, "text/plain; version=0.0.4", self.metrics()),
            "/healthz" if metrics => (200, "text/plain", "ok".into()),
            _ => (404, "text/plain", "404 page not found\n".into()),
        }
    }
}

/// Serves `health` on `listener` (`/healthz`, `/livez`; or `/metrics` when `metrics`).
pub async fn serve(listener: TcpListener, health: Health, metrics: bool) {
    loop {
        let Ok((mut conn, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let health = health.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let mut len = 0;
            while len < buf.len() {
                let read =
                    tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf[len..])).await;
                match read {
                    Ok(Ok(0)) | Err(_) | Ok(Err(_)) => break,
                    Ok(Ok(n)) => len += n,
                }
                if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            let head = String::from_utf8_lossy(&buf[..len]);
            let path = head.split_whitespace().nth(1).unwrap_or("/");
            let (code, ctype, body) = health.answer(path, metrics);
            let reason = match code {
                200 => "OK",
                503 => "Service Unavailable",
                _ => "Not Found",
            };
            let resp = format!(
                "HTTP/1.1 {code} {reason}\r\nContent-Type: {ctype}\r\nX-Content-Type-Options: nosniff\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.write_all(resp.as_bytes()).await;
            let _ = conn.shutdown().await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unhealthy_until_synced_then_healthy() {
        let h = Health::new(Duration::from_secs(60));
        assert_eq!(h.healthz().0, 503);
        h.queued();
        h.updated(Duration::from_millis(3));
        let (code, body) = h.healthz();
        assert_eq!(code, 200);
        assert!(body.starts_with("{\"lastUpdated\": \""), "{body}");
        assert!(body.ends_with("\"nodeEligible\": true}"), "{body}");
        assert_eq!(h.answer("/livez", false).0, 200);
        assert_eq!(h.answer("/nope", false).0, 404);
        assert!(h.answer("/metrics", true).2.contains("_count 1"));
        let stale = Health::new(Duration::ZERO);
        stale.updated(Duration::ZERO);
        stale.queued();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(stale.healthz().0, 503);
    }
}
