//! `pods/exec` and `pods/attach`, over both streaming transports kubectl speaks:
//!
//! - WebSocket (`v5.channel.k8s.io`, `v4.channel.k8s.io`; kubectl 1.30+): channel 0
//!   stdin, 1 stdout, 2 stderr, 3 the final Status, 4 terminal resize, 255
//!   close-a-stream (v5);
//! - SPDY/3.1 (`v4.channel.k8s.io` … `channel.k8s.io` in X-Stream-Protocol-Version;
//!   kubectl before 1.30, and 1.30+ when the WebSocket upgrade fails): one stream
//!   per `streamType` (error, stdin, stdout, stderr, resize), as kubelet serves it.
//!
//! Both drive the same [`ExecSession`] through [`run_session`]. Failures the node
//! reports before the stream opens come back as kubelet sends them (a plain-text
//! body), so kubectl prints `unable to upgrade connection: …` either way.

use crate::spdy;
use crate::status::ApiError;
use crate::{ApiServer, Body, error, header_str};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;

pub type Writer = Box<dyn AsyncWrite + Send + Unpin>;
pub type Reader = Box<dyn AsyncRead + Send + Unpin>;
pub type Resize = Box<dyn Fn(u16, u16) + Send + Sync>;

/// A command started in a container by the node (or an attachment to its process).
pub struct ExecSession {
    pub stdin: Option<Writer>,
    pub stdout: Option<Reader>,
    pub stderr: Option<Reader>,
    /// Sets the terminal size (columns, rows), with a tty.
    pub resize: Option<Resize>,
    /// Resolves to the exit code (128+N for signal N); dropping it kills the process.
    pub exit: Pin<Box<dyn Future<Output = i32> + Send>>,
    /// Kills the process (client gone); for attach, only detaches.
    pub kill: Box<dyn Fn() + Send + Sync>,
}

/// Why an exec did not start.
pub enum ExecFailure {
    /// Refused before the stream opens (shown as `unable to upgrade connection: …`).
    Refused(String),
    /// The runtime could not start the command: message on stderr, exit code 126 (as runc does).
    Runtime(String),
}

const WS_PROTOCOLS: &[&str] = &["v5.channel.k8s.io", "v4.channel.k8s.io"];
/// What kubelet's remotecommand server negotiates over SPDY, newest first.
const SPDY_PROTOCOLS: &[&str] = &[
    "v4.channel.k8s.io",
    "v3.channel.k8s.io",
    "v2.channel.k8s.io",
    "channel.k8s.io",
];
/// How long the client has to open its streams after the upgrade (kubelet's default).
const STREAM_CREATION_TIMEOUT: Duration = Duration::from_secs(30);

fn status_for_exit(code: i32, command: &[String]) -> Value {
    if code == 0 {
        return json!({"metadata": {}, "status": "Success"});
    }
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!("command terminated with non-zero exit code: error executing command [{}], exit code {code}", command.join(" ")),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]}
    })
}

pub fn query_all(req: &Request<Incoming>) -> HashMap<String, Vec<String>> {
    let mut m: HashMap<String, Vec<String>> = HashMap::new();
    for kv in req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|s| !s.is_empty())
    {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        let dec = |s: &str| {
            percent_encoding::percent_decode_str(&s.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        };
        m.entry(dec(k)).or_default().push(dec(v));
    }
    m
}

// ---------------------------------------------------------------------------
// Upgrades shared by exec, attach and port-forward

/// The streaming transport a request asked for.
pub(crate) enum Upgrade {
    WebSocket {
        protocol: Option<String>,
        key: String,
    },
    Spdy {
        protocol: Option<String>,
    },
}

impl Upgrade {
    /// The `101 Switching Protocols` answer.
    pub(crate) fn response(&self) -> Response<Body> {
        let mut r = Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header(header::CONNECTION, "Upgrade");
        match self {
            Upgrade::WebSocket { protocol, key } => {
                r = r.header(header::UPGRADE, "websocket").header(
                    header::SEC_WEBSOCKET_ACCEPT,
                    tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes()),
                );
                if let Some(p) = protocol {
                    r = r.header(header::SEC_WEBSOCKET_PROTOCOL, p.as_str());
                }
            }
            Upgrade::Spdy { protocol } => {
                r = r.header(header::UPGRADE, "SPDY/3.1");
                if let Some(p) = protocol {
                    r = r.header("X-Stream-Protocol-Version", p.as_str());
                }
            }
        }
        r.body(crate::full(Bytes::new()))
            .unwrap_or_else(|e| error(&ApiError::internal(e.to_string())))
    }
}

/// The protocols a client offers, in its order of preference.
fn offered(req: &Request<Incoming>, name: &str) -> Vec<String> {
    req.headers()
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// Picks the transport and subprotocol: the client's first choice that the server
/// speaks (as apimachinery's `httpstream.Handshake` does). `ws` and `spdy` list
/// the server's protocols; an empty name in `ws` accepts a client that offers none.
pub(crate) fn negotiate(
    req: &Request<Incoming>,
    ws: &[&str],
    spdy: &[&str],
) -> Result<Upgrade, Box<Response<Body>>> {
    let upgrade = header_str(req, header::UPGRADE).to_ascii_lowercase();
    if upgrade == "websocket" {
        let client = offered(req, "sec-websocket-protocol");
        let protocol = if client.is_empty() && ws.contains(&"") {
            None
        } else {
            match client.iter().find(|c| ws.contains(&c.as_str())) {
                Some(p) => Some(p.clone()),
                None => {
                    return Err(Box::new(error(&ApiError::bad_request(format!(
                        "unable to upgrade: no supported WebSocket subprotocol in {client:?}: the server speaks {}",
                        ws.iter()
                            .filter(|p| !p.is_empty())
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    )))));
                }
            }
        };
        return Ok(Upgrade::WebSocket {
            protocol,
            key: header_str(req, header::SEC_WEBSOCKET_KEY),
        });
    }
    if upgrade.starts_with("spdy/3.1") {
        let client = offered(req, "x-stream-protocol-version");
        if client.is_empty() {
            // old clients negotiate nothing: the oldest protocol
            return Ok(Upgrade::Spdy { protocol: None });
        }
        return match client.iter().find(|c| spdy.contains(&c.as_str())) {
            Some(p) => Ok(Upgrade::Spdy {
                protocol: Some(p.clone()),
            }),
            None => {
                let mut r = crate::text(
                    StatusCode::FORBIDDEN,
                    &format!(
                        "unable to upgrade: unable to negotiate protocol: client supports {client:?}, server accepts {spdy:?}\n"
                    ),
                );
                r.headers_mut().insert(
                    "X-Accepted-Stream-Protocol-Versions",
                    HeaderValue::from_str(&spdy.join(", ")).unwrap(),
                );
                Err(Box::new(r))
            }
        };
    }
    Err(Box::new(error(&ApiError::new(
        400,
        "BadRequest",
        "Upgrade request required",
    ))))
}

/// A failure the node (kubelet) reports before the upgrade: a plain-text 500, which
/// kubectl prints as `unable to upgrade connection: <text>`.
pub(crate) fn kubelet_error(msg: &str) -> Response<Body> {
    crate::text(StatusCode::INTERNAL_SERVER_ERROR, msg)
}

/// A close frame with code 1000: Go's websocket client reads anything else as an error.
pub(crate) fn normal_close() -> Message {
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    Message::Close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    }))
}

pub(crate) fn frame(ch: u8, data: &[u8]) -> Message {
    let mut v = Vec::with_capacity(data.len() + 1);
    v.push(ch);
    v.extend_from_slice(data);
    Message::Binary(v.into())
}

// ---------------------------------------------------------------------------
// The request

#[derive(Clone, Copy)]
struct Want {
    stdin: bool,
    stdout: bool,
    stderr: bool,
    tty: bool,
}

/// `pods/exec`.
pub async fn handle(
    api: Arc<ApiServer>,
    req: Request<Incoming>,
    ns: &str,
    name: &str,
) -> Response<Body> {
    serve(api, req, ns, name, false).await
}

/// `pods/attach`.
pub async fn handle_attach(
    api: Arc<ApiServer>,
    req: Request<Incoming>,
    ns: &str,
    name: &str,
) -> Response<Body> {
    serve(api, req, ns, name, true).await
}

/// How many bytes the next read from `r` put in `buf`; None at the end or on an error.
pub(crate) async fn next_chunk<R: AsyncRead + Unpin>(r: &mut R, buf: &mut [u8]) -> Option<usize> {
    match r.read(buf).await {
        Ok(0) | Err(_) => None,
        Ok(n) => Some(n),
    }
}

/// The store key of pod `ns/name`.
pub(crate) fn pod_key(ns: &str, name: &str) -> String {
    let pods = kinet_model::resources::find("", "v1", "pods").unwrap();
    kinet_model::resources::store_key(pods, Some(ns), name)
}

/// The pod `ns/name`, or Not Found.
pub(crate) fn stored_pod(api: &ApiServer, ns: &str, name: &str) -> Result<Arc<Value>, ApiError> {
    api.store
        .get(&pod_key(ns, name))
        .ok_or_else(|| ApiError::not_found("pods", name))
}

/// Bad Request unless the pod is on a node: exec, attach and port-forward need one.
pub(crate) fn check_scheduled(pod: &Value, name: &str) -> Result<(), ApiError> {
    if kinet_model::json::str_at(pod, "/spec/nodeName").is_empty() {
        return Err(ApiError::bad_request(format!(
            "pod {name} does not have a host assigned"
        )));
    }
    Ok(())
}

async fn serve(
    api: Arc<ApiServer>,
    mut req: Request<Incoming>,
    ns: &str,
    name: &str,
    attach: bool,
) -> Response<Body> {
    let q = query_all(&req);
    let flag = |k: &str| {
        q.get(k)
            .and_then(|v| v.first())
            .is_some_and(|v| v == "true" || v == "1")
    };
    let command: Vec<String> = q.get("command").cloned().unwrap_or_default();
    let pod = match stored_pod(&api, ns, name) {
        Ok(p) => p,
        Err(e) => return error(&e),
    };
    let container = match crate::rest::pick_container(
        &pod,
        q.get("container")
            .and_then(|v| v.first())
            .map(String::as_str),
    ) {
        Ok(c) => c,
        Err(e) => return error(&e),
    };
    if let Err(e) = check_scheduled(&pod, name) {
        return error(&e);
    }
    if !attach && command.is_empty() {
        return error(&ApiError::bad_request(
            "you must specify at least one command for the container",
        ));
    }
    let tty = flag("tty");
    let want = Want {
        stdin: flag("stdin"),
        stdout: flag("stdout"),
        // a terminal has one output stream
        stderr: flag("stderr") && !tty,
        tty,
    };
    if !want.stdin && !want.stdout && !want.stderr {
        return error(&ApiError::bad_request(
            "you must specify at least 1 of stdin, stdout, stderr",
        ));
    }
    let upgrade = match negotiate(&req, WS_PROTOCOLS, SPDY_PROTOCOLS) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    let Some(hooks) = api.hooks.clone() else {
        return error(&ApiError::internal("no node agents"));
    };
    let started = if attach {
        hooks.attach(&pod, &container, want.stdin, want.tty)
    } else {
        hooks.exec(&pod, &container, &command, want.stdin, want.tty)
    };
    let session = match started {
        Ok(s) => Ok(s),
        Err(ExecFailure::Refused(m)) => return kubelet_error(&m),
        Err(ExecFailure::Runtime(m)) => Err(m),
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    let status = move |code: i32| {
        if attach {
            // kubelet reports success when the attached process ends, whatever its code
            status_for_exit(0, &[])
        } else {
            status_for_exit(code, &command)
        }
    };
    let resp = upgrade.response();
    match upgrade {
        Upgrade::WebSocket { protocol, .. } => {
            let v5 = protocol.as_deref() == Some("v5.channel.k8s.io");
            tokio::spawn(async move {
                let Ok(upgraded) = on_upgrade.await else {
                    if let Ok(s) = session {
                        (s.kill)();
                    }
                    return;
                };
                let ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    Role::Server,
                    None,
                )
                .await;
                ws_session(ws, session, want, attach, v5, status).await;
            });
        }
        Upgrade::Spdy { protocol } => {
            let protocol = protocol.unwrap_or_else(|| "channel.k8s.io".to_string());
            tokio::spawn(async move {
                let Ok(upgraded) = on_upgrade.await else {
                    if let Ok(s) = session {
                        (s.kill)();
                    }
                    return;
                };
                spdy_session(
                    TokioIo::new(upgraded),
                    &protocol,
                    session,
                    want,
                    attach,
                    status,
                )
                .await;
            });
        }
    }
    resp
}

// ---------------------------------------------------------------------------
// The session, whatever carries it

/// What the client sends.
pub(crate) enum Input {
    Stdin(Bytes),
    /// The client closed its stdin.
    StdinEnd,
    /// Columns, rows.
    Resize(u16, u16),
    /// The client went away.
    Gone,
}

/// What goes to the client.
pub(crate) enum Output {
    Stdout(Bytes),
    Stderr(Bytes),
}

/// Runs a session to its end. Returns the exit code once the command has ended and
/// all its output is in `output` (which is dropped), or `None` when the client left
/// an attach (which only detaches).
async fn run_session(
    session: Result<ExecSession, String>,
    mut input: mpsc::Receiver<Input>,
    output: mpsc::Sender<Output>,
    want: Want,
    attach: bool,
) -> Option<i32> {
    let mut s = match session {
        Ok(s) => s,
        Err(msg) => {
            let line = Bytes::from(format!("{msg}\r\n"));
            let _ = output
                .send(if want.stderr {
                    Output::Stderr(line)
                } else {
                    Output::Stdout(line)
                })
                .await;
            return Some(126);
        }
    };
    let pump = |r: Option<Reader>, err: bool, wanted: bool| {
        let tx = output.clone();
        tokio::spawn(async move {
            let Some(mut r) = r else { return };
            let mut buf = vec![0u8; 32 * 1024];
            while let Some(n) = next_chunk(&mut r, &mut buf).await {
                let b = Bytes::copy_from_slice(&buf[..n]);
                let o = if err {
                    Output::Stderr(b)
                } else {
                    Output::Stdout(b)
                };
                // unwanted output is drained, so the process never blocks on it
                if wanted && tx.send(o).await.is_err() {
                    return;
                }
            }
        })
    };
    let out = pump(s.stdout.take(), false, want.stdout);
    let err = pump(s.stderr.take(), true, want.stderr);
    drop(output);
    let mut stdin = s.stdin.take();
    let resize = s.resize.take();
    let kill = s.kill;
    let mut exit = s.exit;
    let mut open = true;
    let code = loop {
        tokio::select! {
            code = &mut exit => break code,
            m = input.recv(), if open => match m {
                None => open = false,
                Some(Input::Stdin(b)) => {
                    if let Some(w) = stdin.as_mut()
                        && (w.write_all(&b).await.is_err() || w.flush().await.is_err())
                    {
                        stdin = None;
                    }
                }
                Some(Input::StdinEnd) => {
                    if let Some(mut w) = stdin.take() {
                        let _ = w.shutdown().await;
                    }
                }
                Some(Input::Resize(c, r)) => {
                    if let Some(f) = resize.as_ref() {
                        f(c, r);
                    }
                }
                Some(Input::Gone) => {
                    // the client went away: so does the command (attach only detaches)
                    kill();
                    if attach {
                        out.abort();
                        err.abort();
                        return None;
                    }
                    break (&mut exit).await;
                }
            }
        }
    };
    drop(stdin);
    let _ = out.await;
    let _ = err.await;
    Some(code)
}

/// Terminal sizes as the client sends them: `{"Width":80,"Height":24}` objects.
fn parse_size(v: &Value) -> Option<(u16, u16)> {
    Some((v["Width"].as_u64()? as u16, v["Height"].as_u64()? as u16))
}

async fn ws_session<S>(
    ws: tokio_tungstenite::WebSocketStream<S>,
    session: Result<ExecSession, String>,
    want: Want,
    attach: bool,
    v5: bool,
    status: impl Fn(i32) -> Value,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sink, mut incoming) = ws.split();
    let (itx, irx) = mpsc::channel::<Input>(16);
    let (otx, mut orx) = mpsc::channel::<Output>(64);
    let (stop_tx, mut stop) = tokio::sync::oneshot::channel::<()>();
    // hands the incoming half back at the end, for the closing handshake
    let reader = tokio::spawn(async move {
        loop {
            let m = tokio::select! {
                _ = &mut stop => return Some(incoming),
                m = incoming.next() => m,
            };
            let ev = match m {
                Some(Ok(Message::Binary(b))) if !b.is_empty() => match b[0] {
                    0 => Input::Stdin(b.slice(1..)),
                    4 => match serde_json::from_slice::<Value>(&b[1..])
                        .ok()
                        .as_ref()
                        .and_then(parse_size)
                    {
                        Some((c, r)) => Input::Resize(c, r),
                        None => continue,
                    },
                    255 if v5 && b.get(1) == Some(&0) => Input::StdinEnd,
                    _ => continue,
                },
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    let _ = itx.send(Input::Gone).await;
                    return None;
                }
                Some(Ok(_)) => continue,
            };
            if itx.send(ev).await.is_err() {
                return Some(incoming);
            }
        }
    });
    let writer = tokio::spawn(async move {
        while let Some(o) = orx.recv().await {
            let m = match o {
                Output::Stdout(b) => frame(1, &b),
                Output::Stderr(b) => frame(2, &b),
            };
            if sink.send(m).await.is_err() {
                return None;
            }
        }
        Some(sink)
    });
    let code = run_session(session, irx, otx, want, attach).await;
    let _ = stop_tx.send(());
    let incoming = reader.await.ok().flatten();
    if let Ok(Some(mut sink)) = writer.await {
        if let Some(code) = code {
            let st = serde_json::to_vec(&status(code)).unwrap_or_default();
            let _ = sink.send(frame(3, &st)).await;
        }
        let _ = sink.send(normal_close()).await;
        // the closing handshake: the client answers the close, then the connection goes
        if let Some(mut incoming) = incoming {
            let _ = tokio::time::timeout(Duration::from_secs(5), async {
                while let Some(Ok(m)) = incoming.next().await {
                    if m.is_close() {
                        break;
                    }
                }
            })
            .await;
        }
    }
}

async fn spdy_session<IO>(
    io: IO,
    protocol: &str,
    session: Result<ExecSession, String>,
    want: Want,
    attach: bool,
    status: impl Fn(i32) -> Value,
) where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    let (conn, mut accept) = spdy::serve(io);
    let v4 = protocol == "v4.channel.k8s.io";
    let resizable = want.tty && matches!(protocol, "v4.channel.k8s.io" | "v3.channel.k8s.io");
    let expected =
        1 + want.stdin as usize + want.stdout as usize + want.stderr as usize + resizable as usize;
    // the client opens its streams first (kubelet waits for them the same way)
    let mut streams: HashMap<String, spdy::Stream> = HashMap::new();
    let collected = tokio::time::timeout(STREAM_CREATION_TIMEOUT, async {
        while streams.len() < expected {
            let s = accept.recv().await?;
            match s.header("streamtype") {
                Some(t @ ("error" | "stdin" | "stdout" | "stderr" | "resize")) => {
                    streams.insert(t.to_string(), s);
                }
                other => {
                    tracing::debug!(stream = ?other, "unexpected exec stream type");
                    s.writer.reset(spdy::status::REFUSED_STREAM).await;
                }
            }
        }
        Some(())
    })
    .await;
    if !matches!(collected, Ok(Some(()))) {
        tracing::debug!("exec: the client did not open its streams");
        if let Ok(s) = session {
            (s.kill)();
        }
        conn.shutdown().await;
        return;
    }
    drop(accept);
    let error = streams.remove("error");
    let stdout = streams.remove("stdout").map(|s| s.writer);
    let stderr = streams.remove("stderr").map(|s| s.writer);
    let (itx, irx) = mpsc::channel::<Input>(16);
    let mut tasks = Vec::new();
    let mut leftovers = Vec::new();
    if let Some(s) = streams.remove("stdin") {
        let mut r = s.reader;
        leftovers.push(s.writer);
        let tx = itx.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(b) = r.read().await {
                if tx.send(Input::Stdin(b)).await.is_err() {
                    return;
                }
            }
            let _ = tx.send(Input::StdinEnd).await;
        }));
    }
    if let Some(s) = streams.remove("resize") {
        let mut r = s.reader;
        leftovers.push(s.writer);
        let tx = itx.clone();
        tasks.push(tokio::spawn(async move {
            let mut buf: Vec<u8> = Vec::new();
            while let Some(b) = r.read().await {
                buf.extend_from_slice(&b);
                let mut used = 0;
                let mut it = serde_json::Deserializer::from_slice(&buf).into_iter::<Value>();
                while let Some(Ok(v)) = it.next() {
                    used = it.byte_offset();
                    if let Some((c, rows)) = parse_size(&v)
                        && tx.send(Input::Resize(c, rows)).await.is_err()
                    {
                        return;
                    }
                }
                buf.drain(..used);
            }
        }));
    }
    {
        let conn = conn.clone();
        let tx = itx.clone();
        tasks.push(tokio::spawn(async move {
            conn.closed().await;
            let _ = tx.send(Input::Gone).await;
        }));
    }
    drop(itx);
    let (otx, mut orx) = mpsc::channel::<Output>(64);
    let (out_w, err_w) = (stdout.clone(), stderr.clone());
    let writer = tokio::spawn(async move {
        while let Some(o) = orx.recv().await {
            let (w, b) = match o {
                Output::Stdout(b) => (out_w.as_ref(), b),
                Output::Stderr(b) => (err_w.as_ref().or(out_w.as_ref()), b),
            };
            if let Some(w) = w
                && w.write(&b).await.is_err()
            {
                // keep draining: the command must not block on a gone client
                continue;
            }
        }
    });
    let code = run_session(session, irx, otx, want, attach).await;
    for t in &tasks {
        t.abort();
    }
    let _ = writer.await;
    for w in stdout.iter().chain(stderr.iter()) {
        w.finish().await;
    }
    if let Some(e) = error {
        if let Some(code) = code {
            let st = status(code);
            if v4 {
                let _ = e
                    .writer
                    .write(&serde_json::to_vec(&st).unwrap_or_default())
                    .await;
            } else if st["status"] != "Success" {
                // the older protocols carry only the message of a failure
                let _ = e
                    .writer
                    .write(st["message"].as_str().unwrap_or("").as_bytes())
                    .await;
            }
        }
        e.writer.finish().await;
    }
    // the client reads the status and hangs up; kubelet resets what is left
    if !conn.wait_closed(Duration::from_secs(5)).await {
        for w in &leftovers {
            w.reset(spdy::status::CANCEL).await;
        }
        conn.shutdown().await;
    }
}
