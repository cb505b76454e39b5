//! felix's health endpoint: HTTP on 127.0.0.1 (`/readiness`, `/liveness`), 204 when
//! healthy, 503 otherwise, so the pod's probes are `httpGet` on the port.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// felix's health port (calico-node).
pub const FELIX_HEALTH_PORT: u16 = 9099;
/// calico-kube-controllers' port (upstream serves Prometheus metrics there; kinet
/// answers its health on it too, so probes can be httpGet).
pub const KUBE_CONTROLLERS_PORT: u16 = 9094;

#[derive(Clone, Default)]
pub struct Health {
    ready: Arc<AtomicBool>,
    live: Arc<AtomicBool>,
}

impl Health {
    pub fn new() -> Health {
        let h = Health::default();
        h.live.store(true, Ordering::SeqCst);
        h
    }
    pub fn set_ready(&self, v: bool) {
        self.ready.store(v, Ordering::SeqCst);
    }
    pub fn set_live(&self, v: bool) {
        self.live.store(v, Ordering::SeqCst);
    }
    pub fn ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
    pub fn live(&self) -> bool {
        self.live.load(Ordering::SeqCst)
    }
    /// The status line for a request path.
    pub fn answer(&self, path: &str) -> &'static str {
        let ok = match path.split('?').next().unwrap_or("") {
            "/readiness" => self.ready(),
            "/liveness" => self.live(),
            _ => return "404 Not Found",
        };
        if ok {
            "204 No Content"
        } else {
            "503 Service Unavailable"
        }
    }
}

/// Serves `h` on `host:port` until the process ends.
pub async fn serve(h: Health, host: &str, port: u16) -> anyhow::Result<()> {
    let l = TcpListener::bind((host, port)).await?;
    loop {
        let (mut s, _) = l.accept().await?;
        let h = h.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            let n = s.read(&mut buf).await.unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]);
            let path = req.split_whitespace().nth(1).unwrap_or("/");
            let status = h.answer(path);
            let resp =
                format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let _ = s.write_all(resp.as_bytes()).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_follow_the_flags() {
        let h = Health::new();
        assert_eq!(h.answer("/readiness"), "503 Service Unavailable");
        assert_eq!(h.answer("/liveness"), "204 No Content");
        h.set_ready(true);
        assert_eq!(h.answer("/readiness?x=1"), "204 No Content");
        assert_eq!(h.answer("/metrics"), "404 Not Found");
    }
}
