//! The built-in servers that stand in for container images: web servers
//! (nginx, httpd, unknown images on their ports) and agnhost's subcommands.
//! They run as processes inside a pod's namespaces.

use anyhow::{Result, bail};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

const NGINX_PAGE: &str = "<!DOCTYPE html>\n<html>\n<head>\n<title>Welcome to nginx!</title>\n<style>\nhtml { color-scheme: light dark; }\nbody { width: 35em; margin: 0 auto;\nfont-family: Tahoma, Verdana, Arial, sans-serif; }\n</style>\n</head>\n<body>\n<h1>Welcome to nginx!</h1>\n<p>If you see this page, the nginx web server is successfully installed and\nworking. Further configuration is required.</p>\n\n<p>For online documentation and support please refer to\n<a href=\"http://nginx.org/\">nginx.org</a>.<br/>\nCommercial support is available at\n<a href=\"http://nginx.com/\">nginx.com</a>.</p>\n\n<p><em>Thank you for using nginx.</em></p>\n</body>\n</html>\n";
const HTTPD_PAGE: &str = "<html><body><h1>It works!</h1></body></html>\n";

pub fn hostname() -> String {
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[derive(Clone)]
struct Web {
    image: String,
    text: Option<String>,
    hostname: String,
}

impl Web {
    fn answer(
        &self,
        req: &Request<Incoming>,
        peer: SocketAddr,
    ) -> (StatusCode, String, &'static str) {
        let path = req.uri().path();
        match path {
            "/hostname" => (StatusCode::OK, self.hostname.clone(), "text/plain"),
            "/healthz" | "/readyz" | "/livez" => (StatusCode::OK, "ok".into(), "text/plain"),
            "/clientip" => (StatusCode::OK, peer.to_string(), "text/plain"),
            "/" | "/index.html" => match self.image.as_str() {
                "nginx" | "nginx-unprivileged" => (StatusCode::OK, NGINX_PAGE.into(), "text/html"),
                "httpd" => (StatusCode::OK, HTTPD_PAGE.into(), "text/html"),
                "http-echo" => (StatusCode::OK, format!("{}\n", self.text.clone().unwrap_or_default()), "text/plain"),
                "whoami" => (StatusCode::OK, format!("Hostname: {}\nRemoteAddr: {peer}\nGET / HTTP/1.1\n", self.hostname), "text/plain"),
                _ => (StatusCode::OK, format!("{}\n", self.hostname), "text/plain"),
            },
            _ if self.image.starts_with("nginx") => (StatusCode::NOT_FOUND, "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n".into(), "text/html"),
            // an emulated application answers every path (its health endpoints included)
            _ if !matches!(self.image.as_str(), "httpd" | "whoami" | "http-echo") => (StatusCode::OK, format!("{}\n", self.hostname), "text/plain"),
            _ => (StatusCode::NOT_FOUND, "404 page not found\n".into(), "text/plain"),
        }
    }
}

fn access_log(peer: SocketAddr, req: &Request<Incoming>, code: StatusCode, len: usize) {
    let ua = req
        .headers()
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    let t = chrono::Utc::now().format("%d/%b/%Y:%H:%M:%S +0000");
    println!(
        "{} - - [{t}] \"{} {} {:?}\" {} {len} \"-\" \"{ua}\" \"-\"",
        peer.ip(),
        req.method(),
        req.uri(),
        req.version(),
        code.as_u16()
    );
}

async fn serve_http<F>(port: u16, f: F) -> Result<()>
where
    F: Fn(&Request<Incoming>, SocketAddr) -> (StatusCode, String, &'static str)
        + Send
        + Sync
        + 'static,
{
    let l = tokio::net::TcpListener::bind(("0.0.0.0", port)).await?;
    let f = Arc::new(f);
    loop {
        let (tcp, peer) = l.accept().await?;
        let f = f.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let (code, body, ct) = f(&req, peer);
                access_log(peer, &req, code, body.len());
                let resp = Response::builder()
                    .status(code)
                    .header("content-type", ct)
                    .header("server", "kinet")
                    .body(Full::new(Bytes::from(body)))
                    .unwrap();
                async move { Ok::<_, Infallible>(resp) }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tcp), svc)
                .await;
        });
    }
}

/// `kinet serve --image NAME --port P…`: answers HTTP on every port.
pub fn serve(image: &str, ports: &[u16], text: Option<String>) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let web = Web {
            image: image.to_string(),
            text,
            hostname: hostname(),
        };
        if image.starts_with("nginx") {
            println!("/docker-entrypoint.sh: Configuration complete; ready for start up");
        }
        let mut tasks = Vec::new();
        for &port in ports {
            let w = web.clone();
            tasks.push(tokio::spawn(serve_http(port, move |req, peer| {
                w.answer(req, peer)
            })));
        }
        if tasks.is_empty() {
            // nothing declared: stay up like a server without ports
            std::future::pending::<()>().await;
        }
        for t in tasks {
            t.await??;
        }
        Ok(())
    })
}

fn flag(args: &[String], name: &str) -> Option<String> {
    let long = format!("--{name}");
    let eq = format!("--{name}=");
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if let Some(v) = a.strip_prefix(&eq) {
            return Some(v.to_string());
        }
        if *a == long {
            return it.next().cloned();
        }
    }
    None
}

/// `kinet agnhost SUBCOMMAND [FLAGS]`: the agnhost test image's network subcommands.
pub fn agnhost(args: &[String]) -> Result<()> {
    let sub = args.first().map(String::as_str).unwrap_or("pause");
    let rest = &args[1.min(args.len())..];
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match sub {
        "pause" => {
            println!("Paused");
            rt.block_on(std::future::pending::<()>());
            Ok(())
        }
        "serve-hostname" => {
            let port: u16 = flag(rest, "port")
                .and_then(|p| p.parse().ok())
                .unwrap_or(9376);
            let h = hostname();
            println!("Serving on port {port}.");
            rt.block_on(serve_http(port, move |_, _| {
                (StatusCode::OK, h.clone(), "text/plain")
            }))
        }
        "netexec" => {
            let http: u16 = flag(rest, "http-port")
                .and_then(|p| p.parse().ok())
                .unwrap_or(8080);
            let udp: u16 = flag(rest, "udp-port")
                .and_then(|p| p.parse().ok())
                .unwrap_or(8081);
            rt.block_on(async move {
                let h = hostname();
                let hu = h.clone();
                tokio::spawn(async move {
                    if let Ok(sock) = tokio::net::UdpSocket::bind(("0.0.0.0", udp)).await {
                        let mut buf = [0u8; 2048];
                        while let Ok((n, peer)) = sock.recv_from(&mut buf).await {
                            let msg = String::from_utf8_lossy(&buf[..n]).trim().to_string();
                            let reply = match msg.split_once(' ') {
                                Some(("echo", m)) => m.to_string(),
                                _ if msg == "hostname" => hu.clone(),
                                _ if msg == "clientip" => peer.to_string(),
                                _ => String::new(),
                            };
                            let _ = sock.send_to(reply.as_bytes(), peer).await;
                        }
                    }
                });
                println!("Started HTTP server on port {http}");
                println!("Started UDP server on port {udp}");
                serve_http(http, move |req, peer| {
                    let q: std::collections::HashMap<String, String> = req
                        .uri()
                        .query()
                        .unwrap_or("")
                        .split('&')
                        .filter_map(|kv| kv.split_once('='))
                        .map(|(k, v)| {
                            (
                                k.to_string(),
                                percent_encoding::percent_decode_str(v)
                                    .decode_utf8_lossy()
                                    .into_owned(),
                            )
                        })
                        .collect();
                    match req.uri().path() {
                        "/" | "/hostname" | "/hostName" => {
                            (StatusCode::OK, h.clone(), "text/plain")
                        }
                        "/echo" => (
                            StatusCode::OK,
                            q.get("msg").cloned().unwrap_or_default(),
                            "text/plain",
                        ),
                        "/clientip" => (StatusCode::OK, peer.to_string(), "text/plain"),
                        "/healthz" => (StatusCode::OK, "".into(), "text/plain"),
                        "/exit" => {
                            let code: i32 = q.get("code").and_then(|c| c.parse().ok()).unwrap_or(0);
                            std::process::exit(code)
                        }
                        _ => (
                            StatusCode::NOT_FOUND,
                            "404 page not found\n".into(),
                            "text/plain",
                        ),
                    }
                })
                .await
            })
        }
        other => bail!(
            "unknown command \"{other}\" for \"agnhost\" (kinet implements: netexec, serve-hostname, pause)"
        ),
    }
}

/// `kinet pause`: the process that holds a pod's namespaces.
pub fn pause() -> ! {
    loop {
        nix::unistd::pause();
    }
}
