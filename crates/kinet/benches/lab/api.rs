//! The API server's throughput and the daemon's restart:
//! - `api`: small GETs (one namespace, as JSON) over 8 kept-alive HTTP/1.1
//!   TLS connections for a fixed time, requests per second (median of runs);
//! - `restart`: `kinet up` right after a `kill -9` of the daemon, 50 times, each
//!   timed (the lab's state kept; every one should take under a second).

use super::kinet;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const CONNECTIONS: usize = 8;
const RUN: Duration = Duration::from_secs(10);
const RUNS: usize = 3;
const RESTARTS: usize = 50;

/// The server, CA and token of a lab's kubeconfig.
fn kubeconfig(lab: &str) -> (String, Vec<u8>, String) {
    use base64::Engine;
    let kc = std::fs::read_to_string(format!("/var/lib/kinet/{lab}/kubeconfig")).unwrap();
    let field = |key: &str| {
        kc.lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .map(|v| v.trim().to_string())
            .unwrap()
    };
    let ca = base64::engine::general_purpose::STANDARD
        .decode(field("certificate-authority-data:"))
        .unwrap();
    (field("server:"), ca, field("token:"))
}

/// Requests per second of `CONNECTIONS` clients GETting `path` for `RUN`.
async fn load(server: &str, ca: &[u8], token: &str, path: &str) -> f64 {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut &ca[..]) {
        roots.add(cert.unwrap()).unwrap();
    }
    let tls = Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    );
    let addr = server.trim_start_matches("https://").to_string();
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let (tls, addr, done) = (tls.clone(), addr.clone(), done.clone());
        let (path, auth) = (path.to_string(), format!("Bearer {token}"));
        tasks.push(tokio::spawn(async move {
            let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
            tcp.set_nodelay(true).unwrap();
            let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
            let stream = tokio_rustls::TlsConnector::from(tls)
                .connect(name, tcp)
                .await
                .unwrap();
            let (mut send, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                    .await
                    .unwrap();
            tokio::spawn(conn);
            while start.elapsed() < RUN {
                let req = http::Request::get(&path)
                    .header("host", &addr)
                    .header("authorization", &auth)
                    .header("accept", "application/json")
                    .body(Empty::<Bytes>::new())
                    .unwrap();
                let resp = send.send_request(req).await.unwrap();
                assert!(resp.status().is_success(), "{}", resp.status());
                resp.into_body().collect().await.unwrap();
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

pub fn api() {
    let lab = format!("bencha{}", std::process::id());
    let o = kinet(&lab, &["up", "--no-kubeconfig", "--nodes", "1"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (server, ca, token) = kubeconfig(&lab);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut rates: Vec<f64> = (0..RUNS)
        .map(|_| rt.block_on(load(&server, &ca, &token, "/api/v1/namespaces/default")))
        .collect();
    rates.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "api: GET /api/v1/namespaces/default over {CONNECTIONS} connections: median {:.0} requests/s (min {:.0}, max {:.0}; {RUNS} runs of {}s; load average before the last: {})",
        rates[RUNS / 2],
        rates[0],
        rates[RUNS - 1],
        RUN.as_secs(),
        load_average()
    );
    kinet(&lab, &["down"]);
}

pub fn restart() {
    let lab = format!("benchr{}", std::process::id());
    let up = ["up", "--no-kubeconfig", "--nodes", "1"];
    let o = kinet(&lab, &up);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut times = Vec::new();
    let mut failed = 0;
    for i in 0..RESTARTS {
        let pid = std::fs::read_to_string(format!("/run/kinet/{lab}/daemon.pid")).unwrap();
        let pid = pid.trim().to_string();
        let k = std::process::Command::new("kill")
            .args(["-9", &pid])
            .status()
            .unwrap();
        assert!(k.success());
        // gone (or a zombie nobody reaped yet)
        while std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            s.rsplit_once(") ")
                .is_some_and(|(_, r)| !r.starts_with('Z'))
        }) {
            std::thread::sleep(Duration::from_millis(5));
        }
        let t = Instant::now();
        let o = kinet(&lab, &up);
        let took = t.elapsed().as_secs_f64();
        if !o.status.success() {
            // counted and shown, not fatal: the lab must still come down
            let err = String::from_utf8_lossy(&o.stderr);
            println!(
                "restart: up {i} after kill -9 failed after {took:.1}s: {}",
                err.lines().next().unwrap_or("")
            );
            failed += 1;
            let again = kinet(&lab, &up);
            if !again.status.success() {
                println!("restart: and up again failed too; stopping");
                break;
            }
        }
        times.push(took);
    }
    if times.is_empty() {
        kinet(&lab, &["down"]);
        return;
    }
    let runs = times.len();
    let over = times.iter().filter(|t| **t >= 1.0).count();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "restart: kinet up after kill -9 of the daemon, {runs} tries: median {:.3}s, min {:.3}s, max {:.3}s, {over} at or over 1 s, {failed} failed (load average {})",
        sorted[runs / 2],
        sorted[0],
        sorted[runs - 1],
        load_average()
    );
    println!(
        "restart: each: {}",
        times
            .iter()
            .map(|t| format!("{t:.3}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    kinet(&lab, &["down"]);
}
