//! `pods/exec` over WebSocket (the `v5.channel.k8s.io` and `v4.channel.k8s.io`
//! subprotocols kubectl 1.30+ speaks): channel 0 stdin, 1 stdout, 2 stderr,
//! 3 the final Status, 4 terminal resize, 255 close-a-stream (v5).

use crate::status::ApiError;
use crate::{ApiServer, Body, error, header_str};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http::{Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;

pub type Writer = Box<dyn AsyncWrite + Send + Unpin>;
pub type Reader = Box<dyn AsyncRead + Send + Unpin>;
pub type Resize = Box<dyn Fn(u16, u16) + Send + Sync>;

/// A command started in a container by the node.
pub struct ExecSession {
    pub stdin: Option<Writer>,
    pub stdout: Option<Reader>,
    pub stderr: Option<Reader>,
    /// Sets the terminal size (columns, rows), with a tty.
    pub resize: Option<Resize>,
    /// Resolves to the exit code (128+N for signal N); dropping it kills the process.
    pub exit: Pin<Box<dyn Future<Output = i32> + Send>>,
    /// Kills the process (client gone).
    pub kill: Box<dyn Fn() + Send + Sync>,
}

/// Why an exec did not start.
pub enum ExecFailure {
    /// Refused before the stream opens (shown as `unable to upgrade connection: …`).
    Refused(String),
    /// The runtime could not start the command: message on stderr, exit code 126 (as runc does).
    Runtime(String),
}

const PROTOCOLS: &[&str] = &["v5.channel.k8s.io", "v4.channel.k8s.io"];

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

pub async fn handle(
    api: Arc<ApiServer>,
    mut req: Request<Incoming>,
    ns: &str,
    name: &str,
) -> Response<Body> {
    let q = query_all(&req);
    let flag = |k: &str| {
        q.get(k)
            .and_then(|v| v.first())
            .is_some_and(|v| v == "true" || v == "1")
    };
    let command: Vec<String> = q.get("command").cloned().unwrap_or_default();
    let pods = kinet_model::resources::find("", "v1", "pods").unwrap();
    let Some(pod) = api
        .store
        .get(&kinet_model::resources::store_key(pods, Some(ns), name))
    else {
        return error(&ApiError::not_found("pods", name));
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
    if command.is_empty() {
        return error(&ApiError::bad_request(
            "you must specify at least one command for the container",
        ));
    }
    let upgrade = header_str(&req, header::UPGRADE).to_ascii_lowercase();
    if upgrade != "websocket" {
        return error(&ApiError::bad_request(format!(
            "kinet serves exec over WebSocket (v5.channel.k8s.io, v4.channel.k8s.io); {} is not supported yet: use kubectl 1.30 or later",
            if upgrade.is_empty() {
                "a plain request".to_string()
            } else {
                upgrade
            }
        )));
    }
    let offered = header_str(&req, header::SEC_WEBSOCKET_PROTOCOL);
    let Some(protocol) = PROTOCOLS
        .iter()
        .find(|p| offered.split(',').any(|o| o.trim() == **p))
    else {
        return error(&ApiError::bad_request(format!(
            "no supported subprotocol in {offered:?}: kinet speaks {}",
            PROTOCOLS.join(", ")
        )));
    };
    let key = header_str(&req, header::SEC_WEBSOCKET_KEY);
    let Some(hooks) = api.hooks.clone() else {
        return error(&ApiError::internal("no node agents"));
    };
    let (stdin, stdout, stderr, tty) = (flag("stdin"), flag("stdout"), flag("stderr"), flag("tty"));
    let session = match hooks.exec(&pod, &container, &command, stdin, tty) {
        Ok(s) => Ok(s),
        Err(ExecFailure::Refused(m)) => return error(&ApiError::bad_request(m)),
        Err(ExecFailure::Runtime(m)) => Err(m),
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    let v5 = *protocol == "v5.channel.k8s.io";
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
            TokioIo::new(upgraded),
            Role::Server,
            None,
        )
        .await;
        stream(ws, session, command, stdout, stderr, v5).await;
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::UPGRADE, "websocket")
        .header(header::CONNECTION, "Upgrade")
        .header(
            header::SEC_WEBSOCKET_ACCEPT,
            tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes()),
        )
        .header(header::SEC_WEBSOCKET_PROTOCOL, *protocol)
        .body(crate::full(Bytes::new()))
        .unwrap()
}

/// A close frame with code 1000: Go's websocket client reads anything else as an error.
fn normal_close() -> Message {
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    Message::Close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    }))
}

fn frame(ch: u8, data: &[u8]) -> Message {
    let mut v = Vec::with_capacity(data.len() + 1);
    v.push(ch);
    v.extend_from_slice(data);
    Message::Binary(v.into())
}

async fn stream<S>(
    ws: tokio_tungstenite::WebSocketStream<S>,
    session: Result<ExecSession, String>,
    command: Vec<String>,
    want_out: bool,
    want_err: bool,
    v5: bool,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sink, mut incoming) = ws.split();
    let mut s = match session {
        Ok(s) => s,
        Err(msg) => {
            let _ = sink.send(frame(2, format!("{msg}\r\n").as_bytes())).await;
            let st = serde_json::to_vec(&status_for_exit(126, &command)).unwrap();
            let _ = sink.send(frame(3, &st)).await;
            let _ = sink.send(normal_close()).await;
            return;
        }
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Message>(64);
    let pump = |r: Option<Box<dyn AsyncRead + Send + Unpin>>, ch: u8, want: bool| {
        let tx = tx.clone();
        tokio::spawn(async move {
            let Some(mut r) = r else { return };
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match r.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if want && tx.send(frame(ch, &buf[..n])).await.is_err() {
                            return;
                        }
                    }
                }
            }
        })
    };
    let out = pump(s.stdout.take(), 1, want_out);
    let err = pump(s.stderr.take(), 2, want_err);
    drop(tx);
    let writer = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            if sink.send(m).await.is_err() {
                break;
            }
        }
        sink
    });
    let mut stdin = s.stdin.take();
    let resize = s.resize.take();
    let kill = s.kill;
    let mut exit = s.exit;
    let code = loop {
        tokio::select! {
            code = &mut exit => break code,
            m = incoming.next() => match m {
                Some(Ok(Message::Binary(b))) if !b.is_empty() => match b[0] {
                    0 => {
                        if let Some(w) = stdin.as_mut()
                            && w.write_all(&b[1..]).await.is_err()
                        {
                            stdin = None;
                        }
                    }
                    4 => {
                        if let (Some(r), Ok(v)) = (resize.as_ref(), serde_json::from_slice::<Value>(&b[1..])) {
                            r(v["Width"].as_u64().unwrap_or(80) as u16, v["Height"].as_u64().unwrap_or(24) as u16);
                        }
                    }
                    255 if v5 && b.get(1) == Some(&0) => {
                        if let Some(mut w) = stdin.take() {
                            let _ = w.shutdown().await;
                        }
                    }
                    _ => {}
                },
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    // the client went away: so does the command
                    kill();
                    break (&mut exit).await;
                }
                Some(Ok(_)) => {}
            }
        }
    };
    drop(stdin);
    let _ = out.await;
    let _ = err.await;
    if let Ok(mut sink) = writer.await {
        let st = serde_json::to_vec(&status_for_exit(code, &command)).unwrap();
        let _ = sink.send(frame(3, &st)).await;
        let _ = sink.send(normal_close()).await;
    }
}
