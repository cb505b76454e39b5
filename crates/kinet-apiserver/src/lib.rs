//! The Kubernetes REST API, served over TLS from the kinet store, so that the real
//! `kubectl` (and kube-rs clients) drive a lab as they drive a cluster: discovery,
//! CRUD with defaulting and validation, strategic/merge/JSON patches, server-side
//! tables, list+watch with resourceVersions, and Status errors.

#![forbid(unsafe_code)]

pub mod discovery;
pub mod exec;
pub mod objects;
pub mod openapi_v2;
pub mod pki;
pub mod portforward;
pub mod proxy;
pub mod rest;
pub mod spdy;
pub mod status;
pub mod tokens;

use anyhow::Result;
use bytes::Bytes;
use futures::FutureExt;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use kinet_store::Store;
use serde_json::Value;
use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

pub type Body = BoxBody<Bytes, std::io::Error>;

/// Where the node agents keep what the API serves about running pods.
pub trait NodeHooks: Send + Sync {
    /// The log file of a container (`previous` for its last terminated instance).
    fn log_path(
        &self,
        namespace: &str,
        pod: &str,
        uid: &str,
        container: &str,
        previous: bool,
    ) -> Option<PathBuf>;
    /// Starts `command` in `container` of `pod` (pipes, or a terminal with `tty`).
    fn exec(
        &self,
        pod: &Value,
        container: &str,
        command: &[String],
        stdin: bool,
        tty: bool,
    ) -> Result<exec::ExecSession, exec::ExecFailure>;
    /// Attaches to the running process of `container` (a regular or an ephemeral one):
    /// its stdin (when the container has `stdin: true`), its output, its terminal.
    /// `exit` resolves when the container's process ends; `kill` only detaches.
    fn attach(
        &self,
        pod: &Value,
        container: &str,
        stdin: bool,
        tty: bool,
    ) -> Result<exec::ExecSession, exec::ExecFailure>;
    /// Opens a TCP connection to `port` on localhost inside the pod's network
    /// namespace (as kubelet's port-forward does). The error is the text kubelet puts
    /// on the error stream.
    fn port_forward(&self, pod: &Value, port: u16) -> PortForwardFuture;
    /// Opens a TCP connection from the pod's node to the pod's IP and `port` (what the
    /// API server's pod and service proxy does). The error reads like Go's dial error.
    fn dial(&self, pod: &Value, port: u16) -> PortForwardFuture;
}

/// A connection opened by [`NodeHooks::port_forward`].
pub type PortForwardFuture = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<tokio::net::TcpStream, String>> + Send>,
>;

pub struct ApiServer {
    pub store: Arc<Store>,
    pub token: String,
    /// The address clients inside the lab use (discovery's serverAddressByClientCIDRs).
    pub advertise: String,
    pub hooks: Option<Arc<dyn NodeHooks>>,
    /// Signs and checks service-account tokens (bearer credentials besides `token`).
    pub signer: Option<Arc<tokens::Signer>>,
}

impl ApiServer {
    /// Serves HTTPS on `listener` until the task is dropped.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        tls: Arc<rustls::ServerConfig>,
    ) -> Result<()> {
        let acceptor = TlsAcceptor::from(tls);
        loop {
            let (tcp, _) = listener.accept().await?;
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let me = self.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                serve_connection(TokioIo::new(tls), move |req| me.clone().handle(req)).await;
            });
        }
    }

    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<Body> {
        let path = req.uri().path().to_string();
        let public = matches!(
            path.as_str(),
            "/version" | "/healthz" | "/livez" | "/readyz"
        );
        if !public && !self.authorized(&req) {
            return error(&status::ApiError::unauthorized());
        }
        match path.as_str() {
            "/version" | "/version/" => return json(StatusCode::OK, &discovery::version()),
            "/healthz" | "/livez" | "/readyz" => return text(StatusCode::OK, "ok"),
            "/api" | "/api/" | "/apis" | "/apis/" => {
                let core = path.starts_with("/api/") || path == "/api";
                let accept = header_str(&req, header::ACCEPT);
                if accept.contains("g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList") {
                    let mut r = json(StatusCode::OK, &discovery::aggregated(core));
                    r.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static(
                            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
                        ),
                    );
                    return r;
                }
                return if core {
                    json(StatusCode::OK, &discovery::api_versions(&self.advertise))
                } else {
                    json(StatusCode::OK, &discovery::api_group_list())
                };
            }
            "/openapi/v3" | "/openapi/v3/" => {
                return json(StatusCode::OK, &discovery::openapi_index());
            }
            "/openapi/v2" | "/openapi/v2/" => {
                return response(
                    StatusCode::OK,
                    "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
                    full(openapi_v2::document()),
                );
            }
            _ => {}
        }
        if let Some(gv) = path.strip_prefix("/openapi/v3/") {
            let doc = match gv.split('/').collect::<Vec<_>>().as_slice() {
                ["api", v] => discovery::openapi_group_version("", v),
                ["apis", g, v] => discovery::openapi_group_version(g, v),
                _ => None,
            };
            return match doc {
                Some(d) => json(StatusCode::OK, &d),
                None => error(&status::ApiError::no_resource()),
            };
        }
        rest::handle(self, req).await
    }

    fn authorized<B>(&self, req: &Request<B>) -> bool {
        let h = header_str(req, header::AUTHORIZATION);
        let Some(t) = h.strip_prefix("Bearer ").map(str::trim) else {
            return false;
        };
        if t == self.token {
            return true;
        }
        // service-account tokens (no authorization beyond this: MicroK8s' AlwaysAllow)
        self.signer.as_ref().is_some_and(|s| {
            t.len() > 100
                && tokens::authenticate(&self.store, s, t, chrono::Utc::now())
                    .inspect_err(|e| tracing::debug!("service-account token refused: {e:#}"))
                    .is_ok()
        })
    }
}

/// Serves HTTP/1.1 or HTTP/2 (with upgrades) on one connection, each request
/// through [`guarded`].
async fn serve_connection<IO, H, F>(io: IO, handler: H)
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let handler = Arc::new(handler);
    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
        let what = format!("{} {}", req.method(), req.uri().path());
        let fut = handler(req);
        async move { Ok::<_, Infallible>(guarded(what, fut).await) }
    });
    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
        .serve_connection_with_upgrades(io, svc)
        .await;
}

/// Runs one request's handler. A panic in it ends that request with a 500
/// InternalError Status, and nothing else: it is logged, and the connection and
/// the server go on.
async fn guarded<F>(what: String, handler: F) -> Response<Body>
where
    F: Future<Output = Response<Body>>,
{
    match AssertUnwindSafe(handler).catch_unwind().await {
        Ok(r) => r,
        Err(panic) => {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".into());
            tracing::error!("panic while serving {what}: {why}");
            error(&status::ApiError::internal(
                "This request caused apiserver to panic. Look in the logs for details.",
            ))
        }
    }
}

pub(crate) fn header_str<B>(req: &Request<B>, name: header::HeaderName) -> String {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

pub(crate) fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

/// A response with a status, a Content-Type and a body.
pub(crate) fn response(code: StatusCode, content_type: &'static str, body: Body) -> Response<Body> {
    let mut r = Response::new(body);
    *r.status_mut() = code;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

pub(crate) fn json(code: StatusCode, v: &Value) -> Response<Body> {
    let body = serde_json::to_vec(v).unwrap_or_default();
    response(code, "application/json", full(body))
}

pub(crate) fn text(code: StatusCode, s: &str) -> Response<Body> {
    response(code, "text/plain; charset=utf-8", full(s.to_string()))
}

pub(crate) fn error(e: &status::ApiError) -> Response<Body> {
    json(
        StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        &e.to_status(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Empty;

    /// A connection served as the API server serves one, with a handler that
    /// panics on `/boom`, and a client on the other end.
    async fn connection() -> hyper::client::conn::http1::SendRequest<Empty<Bytes>> {
        let (client, server) = tokio::io::duplex(64 * 1024);
        tokio::spawn(serve_connection(
            TokioIo::new(server),
            |req: Request<Incoming>| async move {
                if req.uri().path() == "/boom" {
                    panic!("a handler bug");
                }
                text(StatusCode::OK, "ok")
            },
        ));
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(client))
            .await
            .unwrap();
        tokio::spawn(conn);
        send
    }

    async fn get(
        send: &mut hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
        path: &str,
    ) -> (StatusCode, Bytes) {
        let req = Request::get(path)
            .header(header::HOST, "kinet")
            .body(Empty::new())
            .unwrap();
        let resp = send.send_request(req).await.unwrap();
        let code = resp.status();
        (code, resp.into_body().collect().await.unwrap().to_bytes())
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_500_and_the_connection_goes_on() {
        let mut send = connection().await;
        let (code, body) = get(&mut send, "/boom").await;
        assert_eq!(code, StatusCode::INTERNAL_SERVER_ERROR);
        let status: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(status["kind"], "Status");
        assert_eq!(status["status"], "Failure");
        assert_eq!(status["reason"], "InternalError");
        assert_eq!(status["code"], 500);
        assert_eq!(
            status["message"],
            "Internal error occurred: This request caused apiserver to panic. Look in the logs for details."
        );
        // the same connection serves the next request
        assert_eq!(
            get(&mut send, "/fine").await,
            (StatusCode::OK, Bytes::from_static(b"ok"))
        );
        assert_eq!(
            get(&mut send, "/boom").await.0,
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(get(&mut send, "/fine").await.0, StatusCode::OK);
    }
}
