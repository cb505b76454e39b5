//! SPDY inside a WebSocket, as kubectl 1.31+ tunnels port-forward
//! (`SPDY/3.1+portforward.k8s.io`).

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// A byte stream over a WebSocket: each binary message carries the next bytes
/// (what kubectl 1.31+ does to tunnel SPDY through `SPDY/3.1+portforward.k8s.io`).
/// Returns the end to hand to [`super::serve`]; the bridge ends with a normal close.
pub fn websocket_bridge<S>(ws: tokio_tungstenite::WebSocketStream<S>) -> tokio::io::DuplexStream
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let (ours, theirs) = tokio::io::duplex(256 * 1024);
    let (mut rd, mut wr) = tokio::io::split(ours);
    let (mut sink, mut incoming) = ws.split();
    let up = tokio::spawn(async move {
        while let Some(Ok(m)) = incoming.next().await {
            match m {
                Message::Binary(b) if wr.write_all(&b).await.is_err() => break,
                Message::Close(_) => break,
                _ => {}
            }
        }
        let _ = wr.shutdown().await;
    });
    tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if sink
                        .send(Message::Binary(Bytes::copy_from_slice(&buf[..n])))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
        let _ = sink.send(crate::exec::normal_close()).await;
        let _ = sink.close().await;
        up.abort();
    });
    theirs
}
