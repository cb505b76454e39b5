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

/// The client side, for exec probes (`calico-node -felix-ready` style): true when
/// `GET http://host:port/path` answers 2xx within two seconds.
pub fn check(host: &str, port: u16, path: &str) -> bool {
    use std::io::{Read, Write};
    use std::net::{TcpStream, ToSocketAddrs};
    use std::time::Duration;
    let t = Duration::from_secs(2);
    let Some(addr) = (host, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
    else {
        return false;
    };
    let Ok(mut s) = TcpStream::connect_timeout(&addr, t) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(t));
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).unwrap_or(0);
    let head = String::from_utf8_lossy(&buf[..n]);
    head.split_whitespace()
        .nth(1)
        .is_some_and(|code| code.starts_with('2'))
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

    #[test]
    fn check_asks_the_server() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let h = Health::new();
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let h2 = h.clone();
        std::thread::spawn(move || rt.block_on(serve(h2, "127.0.0.1", port)));
        let up = (0..100).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(20));
            check("127.0.0.1", port, "/liveness")
        });
        assert!(up);
        assert!(!check("127.0.0.1", port, "/readiness"));
        h.set_ready(true);
        assert!(check("127.0.0.1", port, "/readiness"));
    }
}
