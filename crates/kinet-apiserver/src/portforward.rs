//! `pods/portforward`, in the three shapes clients use:
//!
//! - SPDY/3.1 with `portforward.k8s.io` (kubectl up to 1.30, and later ones as a
//!   fallback): per forwarded connection the client opens an `error` and a `data`
//!   stream carrying `port` and `requestID` headers; kinet pairs them, connects to
//!   the port inside the pod, copies both ways, and writes kubelet's error text on
//!   the error stream when the connection fails;
//! - the same SPDY session tunnelled through a WebSocket
//!   (`SPDY/3.1+portforward.k8s.io`, kubectl 1.31+);
//! - the channel protocol over WebSocket (`v4.channel.k8s.io`, with `ports=` in the
//!   query; kube-rs and other client libraries): data and error channels per port,
//!   each opening with the port number (2 bytes, little endian).
//!
//! The forward ends when the pod goes away (its key is gone or its uid changed): the
//! connection closes, and kubectl says it lost the connection to the pod.

use crate::exec::{
    Upgrade, check_scheduled, frame, negotiate, next_chunk, normal_close, pod_key, query_all,
    stored_pod,
};
use crate::spdy;
use crate::status::ApiError;
use crate::{ApiServer, Body, NodeHooks, error};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use kinet_store::Store;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;

const SPDY_PROTOCOLS: &[&str] = &["portforward.k8s.io"];
/// kubectl 1.31+: SPDY frames inside WebSocket binary messages.
const TUNNEL: &str = "SPDY/3.1+portforward.k8s.io";
/// The WebSocket subprotocols served; "" stands for a client that offers none.
const WS_PROTOCOLS: &[&str] = &[TUNNEL, "v4.channel.k8s.io", "portforward.k8s.io", ""];

/// How often the forward looks whether its pod is still there.
const POD_CHECK: Duration = Duration::from_millis(500);

/// Watches that the pod a forward is for still exists.
#[derive(Clone)]
struct PodWatch {
    store: Arc<Store>,
    key: String,
    uid: String,
}

impl PodWatch {
    /// Resolves once the pod is deleted or replaced by one of the same name.
    async fn gone(&self) {
        loop {
            tokio::time::sleep(POD_CHECK).await;
            match self.store.get(&self.key) {
                None => return,
                Some(p)
                    if p.pointer("/metadata/uid").and_then(Value::as_str) != Some(&self.uid) =>
                {
                    return;
                }
                Some(_) => {}
            }
        }
    }
}

/// The ports of a WebSocket forward: `ports=80,8080` (or repeated, or `port=`).
fn ports_of(q: &HashMap<String, Vec<String>>) -> Result<Vec<u16>, String> {
    let mut ports = Vec::new();
    for key in ["ports", "port"] {
        for v in q.get(key).into_iter().flatten() {
            for p in v.split(',').map(str::trim) {
                match p.parse::<u16>() {
                    Ok(n) if n > 0 => ports.push(n),
                    Ok(_) => return Err(format!("port {p:?} must be > 0")),
                    Err(e) => return Err(format!("unable to parse {p:?} as a port: {e}")),
                }
            }
        }
    }
    if ports.is_empty() {
        return Err("query parameter \"port\" is required".into());
    }
    Ok(ports)
}

pub async fn handle(
    api: Arc<ApiServer>,
    mut req: Request<Incoming>,
    ns: &str,
    name: &str,
) -> Response<Body> {
    let pod = match stored_pod(&api, ns, name).and_then(|p| check_scheduled(&p, name).map(|()| p)) {
        Ok(p) => p,
        Err(e) => return error(&e),
    };
    let upgrade = match negotiate(&req, WS_PROTOCOLS, SPDY_PROTOCOLS) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    let Some(hooks) = api.hooks.clone() else {
        return error(&ApiError::internal("no node agents"));
    };
    let plain_ws = matches!(&upgrade, Upgrade::WebSocket { protocol, .. } if protocol.as_deref() != Some(TUNNEL));
    let ports = if plain_ws {
        match ports_of(&query_all(&req)) {
            Ok(p) => p,
            Err(m) => return crate::text(http::StatusCode::BAD_REQUEST, &m),
        }
    } else {
        Vec::new()
    };
    let watch = PodWatch {
        store: api.store.clone(),
        key: pod_key(ns, name),
        uid: pod
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    let resp = upgrade.response();
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let io = TokioIo::new(upgraded);
        match upgrade {
            Upgrade::Spdy { .. } => spdy_forward(io, hooks, pod, watch).await,
            Upgrade::WebSocket { .. } => {
                let ws =
                    tokio_tungstenite::WebSocketStream::from_raw_socket(io, Role::Server, None)
                        .await;
                if plain_ws {
                    ws_forward(ws, &ports, hooks, pod, watch).await;
                } else {
                    spdy_forward(spdy::websocket_bridge(ws), hooks, pod, watch).await;
                }
            }
        }
    });
    resp
}

/// The two streams of one forwarded connection.
#[derive(Default)]
struct Pair {
    error: Option<spdy::Stream>,
    data: Option<spdy::Stream>,
}

async fn spdy_forward<IO>(io: IO, hooks: Arc<dyn NodeHooks>, pod: Arc<Value>, watch: PodWatch)
where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    let (conn, mut accept) = spdy::serve(io);
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    let mut forwards = JoinSet::new();
    let gone = watch.gone();
    tokio::pin!(gone);
    loop {
        tokio::select! {
            s = accept.recv() => {
                // None: the client hung up
                let Some(s) = s else { break };
                let port = s
                    .header("port")
                    .and_then(|p| p.parse::<u16>().ok())
                    .filter(|p| *p > 0);
                let kind = s.header("streamtype").map(str::to_string);
                let (Some(port), Some(kind @ ("error" | "data"))) = (port, kind.as_deref()) else {
                    // kubelet refuses streams without a valid port and type
                    s.writer.reset(spdy::status::REFUSED_STREAM).await;
                    continue;
                };
                // clients that send no request id: consecutive stream ids (kubelet's guess)
                let request = s.header("requestid").map(str::to_string).unwrap_or_else(|| {
                    if kind == "error" { s.id.to_string() } else { s.id.saturating_sub(2).to_string() }
                });
                let p = pairs.entry(request.clone()).or_default();
                let slot = if kind == "error" { &mut p.error } else { &mut p.data };
                if slot.is_some() {
                    s.writer.reset(spdy::status::PROTOCOL_ERROR).await;
                    continue;
                }
                *slot = Some(s);
                if p.error.is_some()
                    && p.data.is_some()
                    && let Some(Pair {
                        error: Some(error),
                        data: Some(data),
                    }) = pairs.remove(&request)
                {
                    forwards.spawn(forward(hooks.clone(), pod.clone(), port, error, data));
                }
            }
            _ = &mut gone => {
                tracing::debug!(pod = %watch.key, "pod gone: closing its port-forward");
                conn.shutdown().await;
                break;
            }
            Some(_) = forwards.join_next(), if !forwards.is_empty() => {}
        }
    }
    // dropping the set ends the forwards still running
    drop(forwards);
}

/// One forwarded connection: to `port` on localhost inside the pod.
async fn forward(
    hooks: Arc<dyn NodeHooks>,
    pod: Arc<Value>,
    port: u16,
    error: spdy::Stream,
    data: spdy::Stream,
) {
    let spdy::Stream {
        reader: mut from_client,
        writer: to_client,
        ..
    } = data;
    match hooks.port_forward(&pod, port).await {
        Err(msg) => {
            let _ = error.writer.write(msg.as_bytes()).await;
        }
        Ok(tcp) => {
            // each direction ends on its own (a half-close is passed on); the client
            // resetting the stream ends both
            let (mut from_pod, mut to_pod) = tcp.into_split();
            let reset_check = to_client.clone();
            let up = async move {
                while let Some(b) = from_client.read().await {
                    if to_pod.write_all(&b).await.is_err() {
                        break;
                    }
                }
                let _ = to_pod.shutdown().await;
                reset_check.is_reset()
            };
            let down = async {
                let mut buf = vec![0u8; 32 * 1024];
                while let Some(n) = next_chunk(&mut from_pod, &mut buf).await {
                    if to_client.write(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            };
            tokio::pin!(up, down);
            let half_closed = tokio::select! {
                reset = &mut up => !reset,
                _ = &mut down => {
                    // the pod closed. kubectl waits for the error stream to end
                    // before it lets go of the local connection, so that ends now;
                    // what the client still sends gets a second (as containerd
                    // gives it) before the pod's socket closes
                    to_client.finish().await;
                    error.writer.finish().await;
                    let _ = tokio::time::timeout(Duration::from_secs(1), &mut up).await;
                    false
                }
            };
            if half_closed {
                // the client half-closed: the answer may still come
                down.await;
            }
        }
    }
    to_client.finish().await;
    error.writer.finish().await;
}

/// The channel protocol: one connection per port for the life of the WebSocket.
async fn ws_forward<S>(
    ws: tokio_tungstenite::WebSocketStream<S>,
    ports: &[u16],
    hooks: Arc<dyn NodeHooks>,
    pod: Arc<Value>,
    watch: PodWatch,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sink, mut incoming) = ws.split();
    let (otx, mut orx) = mpsc::channel::<Message>(64);
    let writer = tokio::spawn(async move {
        while let Some(m) = orx.recv().await {
            if sink.send(m).await.is_err() {
                return;
            }
        }
        let _ = sink.send(normal_close()).await;
        let _ = sink.close().await;
    });
    let mut to_ports = Vec::new();
    let mut forwards = JoinSet::new();
    for (i, port) in ports.iter().copied().enumerate() {
        let (data_ch, err_ch) = ((2 * i) as u8, (2 * i + 1) as u8);
        let _ = otx.send(frame(data_ch, &port.to_le_bytes())).await;
        let _ = otx.send(frame(err_ch, &port.to_le_bytes())).await;
        let (tx, mut rx) = mpsc::channel::<Bytes>(16);
        to_ports.push(tx);
        let (hooks, pod, out) = (hooks.clone(), pod.clone(), otx.clone());
        forwards.spawn(async move {
            let tcp = match hooks.port_forward(&pod, port).await {
                Ok(t) => t,
                Err(msg) => {
                    let _ = out.send(frame(err_ch, msg.as_bytes())).await;
                    return;
                }
            };
            let (mut from_pod, mut to_pod) = tcp.into_split();
            let up = async move {
                while let Some(b) = rx.recv().await {
                    if to_pod.write_all(&b).await.is_err() {
                        break;
                    }
                }
                let _ = to_pod.shutdown().await;
                std::future::pending::<()>().await
            };
            let down = async {
                let mut buf = vec![0u8; 32 * 1024];
                while let Some(n) = next_chunk(&mut from_pod, &mut buf).await {
                    if out.send(frame(data_ch, &buf[..n])).await.is_err() {
                        break;
                    }
                }
            };
            tokio::select! {
                _ = up => {}
                _ = down => {}
            }
        });
    }
    let gone = watch.gone();
    tokio::pin!(gone);
    let mut client_closed = false;
    loop {
        tokio::select! {
            m = incoming.next() => match m {
                Some(Ok(Message::Binary(b))) if b.len() > 1 => {
                    let ch = b[0] as usize;
                    // data for a port; the first frame of a channel may repeat the port
                    if ch.is_multiple_of(2) && let Some(tx) = to_ports.get(ch / 2) {
                        let _ = tx.send(b.slice(1..)).await;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    client_closed = true;
                    break;
                }
                Some(Ok(_)) => {}
            },
            r = forwards.join_next() => {
                // every port's connection has ended: so does the WebSocket
                if r.is_none() { break }
            }
            _ = &mut gone => break,
        }
    }
    drop(forwards);
    drop(to_ports);
    drop(otx);
    let _ = writer.await;
    if !client_closed {
        // the closing handshake: wait for the client's answer to our close
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

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, Vec<String>> {
        let mut m: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in pairs {
            m.entry(k.to_string()).or_default().push(v.to_string());
        }
        m
    }

    #[test]
    fn websocket_ports_from_the_query() {
        assert_eq!(ports_of(&q(&[("ports", "80,8080")])), Ok(vec![80, 8080]));
        assert_eq!(
            ports_of(&q(&[("ports", "80"), ("ports", "81")])),
            Ok(vec![80, 81])
        );
        assert_eq!(ports_of(&q(&[("port", "5432")])), Ok(vec![5432]));
        assert_eq!(
            ports_of(&q(&[])),
            Err("query parameter \"port\" is required".into())
        );
        assert!(ports_of(&q(&[("ports", "x")])).is_err());
        assert!(ports_of(&q(&[("ports", "0")])).is_err());
    }
}
