//! The fake internet's services, run by the lab daemon on its runtime with
//! sockets bound inside the lab's namespaces (as the in-lab API listener is):
//! the resolver (kinet-node's `internet` zone) on 8.8.8.8, 8.8.4.4 and 1.1.1.1
//! in the internet namespace and on the router's LAN address, and a web server
//! on every address of the internet (HTTP 80, HTTPS 443 with a certificate from
//! the lab's CA made for the SNI name, or for the address without SNI) whose
//! small page names the host. They end with the daemon; `kinet down` removes the
//! namespaces, so nothing stays.

use anyhow::{Context, Result};
use kinet_apiserver::pki::Pki;
use kinet_node::internet::{self, zone};
use kinet_node::plan::LabPlan;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Starts the resolvers and the web server (tasks on the current runtime).
pub fn start(plan: &LabPlan, pki: &Pki) -> Result<()> {
    let router = plan
        .hosts
        .iter()
        .find(|h| h.name == "router")
        .context("the plan has no router")?;
    internet::spawn_resolver(&plan.internet_netns, &internet::PUBLIC_RESOLVERS)?;
    internet::spawn_resolver(&router.netns, &[router.ip])?;
    let ns = plan.internet_netns.clone();
    let (http, https) = kinet_linux::netns::run_in(&ns, || {
        let bind = |port: u16| -> Result<std::net::TcpListener> {
            let l = std::net::TcpListener::bind((Ipv4Addr::UNSPECIFIED, port))
                .with_context(|| format!("the web server on port {port}"))?;
            l.set_nonblocking(true)?;
            Ok(l)
        };
        Ok((bind(80)?, bind(443)?))
    })?;
    let certs = Arc::new(Certs {
        pki: Pki {
            ca_pem: pki.ca_pem.clone(),
            ca_key_pem: pki.ca_key_pem.clone(),
            cert_pem: String::new(),
            key_pem: String::new(),
        },
        made: Mutex::new(HashMap::new()),
    });
    tokio::spawn(serve_http(tokio::net::TcpListener::from_std(http)?));
    tokio::spawn(serve_https(
        tokio::net::TcpListener::from_std(https)?,
        certs,
    ));
    Ok(())
}

/// The TLS configurations made so far, one per SNI name (or address).
struct Certs {
    pki: Pki,
    made: Mutex<HashMap<String, Arc<rustls::ServerConfig>>>,
}

impl Certs {
    fn config(&self, name: &str) -> Result<Arc<rustls::ServerConfig>> {
        let key = name.to_ascii_lowercase();
        if let Some(c) = self
            .made
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return Ok(c.clone());
        }
        let (cert_pem, key_pem) = match key.parse::<IpAddr>() {
            Ok(ip) => self.pki.issue(&[], &[ip])?,
            Err(_) => self.pki.issue(std::slice::from_ref(&key), &[])?,
        };
        let certs = rustls_pemfile::certs(&mut cert_pem.as_bytes())
            .chain(rustls_pemfile::certs(&mut self.pki.ca_pem.as_bytes()))
            .collect::<Result<Vec<_>, _>>()?;
        let pk = rustls_pemfile::private_key(&mut key_pem.as_bytes())?.context("no key")?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(certs, pk)?;
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        let cfg = Arc::new(cfg);
        self.made
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, cfg.clone());
        Ok(cfg)
    }
}

async fn serve_http(l: tokio::net::TcpListener) {
    loop {
        let Ok((s, _)) = l.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        };
        let local = s.local_addr().ok();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(
                std::time::Duration::from_secs(30),
                http_exchange(s, local, "http"),
            )
            .await;
        });
    }
}

async fn serve_https(l: tokio::net::TcpListener, certs: Arc<Certs>) {
    loop {
        let Ok((s, _)) = l.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        };
        let certs = certs.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(30), async move {
                let local = s.local_addr().ok();
                let acceptor =
                    tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), s);
                let Ok(start) = acceptor.await else { return };
                let name = start
                    .client_hello()
                    .server_name()
                    .map(str::to_string)
                    .or_else(|| local.map(|a| a.ip().to_string()))
                    .unwrap_or_default();
                let Ok(cfg) = certs.config(&name) else {
                    return;
                };
                let Ok(tls) = start.into_stream(cfg).await else {
                    return;
                };
                http_exchange(tls, local, "https").await;
            })
            .await;
        });
    }
}

/// The well-known name of a local address, else the address.
fn host_of(local: Option<SocketAddr>) -> String {
    let Some(SocketAddr::V4(a)) = local else {
        return String::new();
    };
    zone::HOSTS
        .iter()
        .find(|(_, ip)| ip == a.ip())
        .map(|(n, _)| n.to_string())
        .unwrap_or_else(|| a.ip().to_string())
}

/// Strips a `:port` from a Host header's value.
fn without_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    }
}

/// A Host header naming an address rather than a site (`192.0.2.11`, `8.8.8.8:80`).
fn is_address(host: &str) -> bool {
    without_port(host).parse::<Ipv4Addr>().is_ok()
}

/// The page and response head for one request (`method`, Host header or the
/// address's name): 200 with a small page naming the host.
pub fn page(method: &str, host: &str, path: &str, scheme: &str) -> (String, String) {
    let host = without_port(host);
    let body = format!(
        "<!doctype html>\n<html>\n<head><title>{host}</title></head>\n<body>\n<h1>{host}</h1>\n<p>This is {host} on the kinet lab's fake internet ({scheme}://{host}{path}).</p>\n</body>\n</html>\n"
    );
    let (status, body) = match method {
        "GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "OPTIONS" | "PATCH" => ("200 OK", body),
        _ => ("405 Method Not Allowed", String::new()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nServer: kinet-internet\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    (
        head,
        if method == "HEAD" {
            String::new()
        } else {
            body
        },
    )
}

/// Reads one request head (up to 16 KiB) and answers it; the connection closes.
async fn http_exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    local: Option<SocketAddr>,
    scheme: &str,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 2048];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && !buf.windows(2).any(|w| w == b"\n\n") {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if buf.len() > 16 * 1024 {
            let _ = s
                .write_all(b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .await;
            return;
        }
    }
    let text = String::from_utf8_lossy(&buf);
    let mut lines = text.lines();
    let mut first = lines.next().unwrap_or("").split_whitespace();
    let (method, path) = (first.next().unwrap_or(""), first.next().unwrap_or("/"));
    let host = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("host"))
        .map(|(_, v)| v.trim().to_string())
        // a site asked by address is the site of that address
        .filter(|h| !h.is_empty() && !is_address(h))
        .unwrap_or_else(|| host_of(local));
    let (head, body) = page(method, &host, path, scheme);
    let _ = s.write_all(head.as_bytes()).await;
    let _ = s.write_all(body.as_bytes()).await;
    let _ = s.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_the_host() {
        let (head, body) = page("GET", "www.google.com", "/", "https");
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(head.contains(&format!("Content-Length: {}\r\n", body.len())));
        assert!(body.contains("<h1>www.google.com</h1>"));
        let (_, body) = page("GET", "example.com:8080", "/x", "http");
        assert!(body.contains("<title>example.com</title>"));
        let (head, body) = page("HEAD", "example.com", "/", "http");
        assert!(head.contains("Content-Length: ") && body.is_empty());
        assert!(page("BREW", "x", "/", "http").0.starts_with("HTTP/1.1 405"));
    }

    #[test]
    fn addresses_name_their_host() {
        let a = |ip: [u8; 4]| Some(SocketAddr::from((Ipv4Addr::from(ip), 80)));
        assert_eq!(host_of(a([192, 0, 2, 10])), "google.com");
        assert_eq!(host_of(a([8, 8, 8, 8])), "dns.google");
        assert_eq!(host_of(a([203, 0, 113, 99])), "203.0.113.99");
        assert!(is_address("192.0.2.11") && is_address("8.8.8.8:80"));
        assert!(!is_address("example.com") && !is_address("example.com:8080"));
    }

    #[test]
    fn certificates_are_made_per_name_by_the_labs_ca() {
        let pki = Pki::generate(&[]).unwrap();
        let certs = Certs {
            pki,
            made: Mutex::new(HashMap::new()),
        };
        let a = certs.config("Example.com").unwrap();
        assert!(Arc::ptr_eq(&a, &certs.config("example.com").unwrap()));
        assert!(certs.config("8.8.8.8").is_ok());
    }
}
