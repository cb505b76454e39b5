//! The server half of a SPDY/3.1 session over any byte stream (after the HTTP
//! upgrade). It accepts the client's streams (answering each with SYN_REPLY),
//! reads and writes their data, half-closes (FIN) and resets them, answers PINGs,
//! sends GOAWAY at shutdown, and keeps to the peer's flow-control windows once
//! the peer shows it uses them (spdystream never sends WINDOW_UPDATE, so with it
//! windows are not enforced).

use super::frame::{
    DEFAULT_WINDOW, Decoder, Encoder, Error, Frame, SETTINGS_INITIAL_WINDOW_SIZE, status,
};
use super::headers::{Headers, header};
use bytes::{Bytes, BytesMut};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Notify, mpsc, watch};

/// Largest DATA payload this side sends in one frame.
const MAX_DATA_FRAME: usize = 32 * 1024;

enum Out {
    Frame(Frame),
    /// GOAWAY, then close the writing side.
    Shutdown,
}

#[derive(Default)]
struct StreamState {
    /// Where the reader task puts the stream's data; dropped at FIN or reset.
    tx: Option<mpsc::Sender<Bytes>>,
    send_window: i64,
    local_fin: bool,
    remote_fin: bool,
    reset: bool,
    /// Bytes the application consumed and this side has not yet re-opened the window for.
    unacked: u32,
}

struct State {
    streams: HashMap<u32, StreamState>,
    /// The peer sent WINDOW_UPDATE or an initial window: it does flow control.
    stream_flow: bool,
    session_flow: bool,
    initial_window: i64,
    session_window: i64,
    session_unacked: u32,
    last_stream: u32,
}

struct Shared {
    out: mpsc::Sender<Out>,
    state: Mutex<State>,
    window: Notify,
    /// true once the peer's side of the connection has ended.
    gone: watch::Receiver<bool>,
}

impl Shared {
    fn is_gone(&self) -> bool {
        *self.gone.borrow()
    }

    async fn send(&self, f: Frame) -> std::io::Result<()> {
        self.out
            .send(Out::Frame(f))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "connection closed"))
    }

    /// Forget a stream once both sides are done with it.
    fn maybe_forget(st: &mut State, id: u32) {
        if let Some(s) = st.streams.get(&id)
            && (s.reset || (s.local_fin && s.remote_fin))
        {
            st.streams.remove(&id);
        }
    }
}

/// The connection as the application sees it.
#[derive(Clone)]
pub struct Conn {
    shared: Arc<Shared>,
    writer_done: watch::Receiver<bool>,
}

impl Conn {
    /// Resolves when the peer's side of the connection has ended (EOF, error, or
    /// a protocol violation).
    pub async fn closed(&self) {
        let mut g = self.shared.gone.clone();
        let _ = g.wait_for(|v| *v).await;
    }

    /// Waits up to `grace` for the peer to close the connection first.
    pub async fn wait_closed(&self, grace: std::time::Duration) -> bool {
        tokio::time::timeout(grace, self.closed()).await.is_ok()
    }

    /// Sends GOAWAY and closes this side of the connection (after everything
    /// queued before it has been written).
    pub async fn shutdown(&self) {
        let _ = self.shared.out.send(Out::Shutdown).await;
        let mut w = self.writer_done.clone();
        let _ = w.wait_for(|v| *v).await;
    }
}

/// A stream the client opened.
pub struct Stream {
    pub id: u32,
    pub headers: Headers,
    pub reader: StreamReader,
    pub writer: StreamWriter,
}

impl Stream {
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

/// The incoming half of a stream.
pub struct StreamReader {
    id: u32,
    rx: mpsc::Receiver<Bytes>,
    shared: Arc<Shared>,
}

impl StreamReader {
    /// The next chunk of data, or `None` at FIN, reset or connection end.
    pub async fn read(&mut self) -> Option<Bytes> {
        let b = self.rx.recv().await?;
        self.consumed(b.len() as u32).await;
        Some(b)
    }

    /// Re-opens the peer's window for consumed data (only with peers that do flow control).
    async fn consumed(&self, n: u32) {
        let mut updates = Vec::new();
        {
            let mut st = self.shared.state.lock().unwrap();
            if st.stream_flow
                && let Some(s) = st.streams.get_mut(&self.id)
            {
                s.unacked += n;
                if s.unacked as i64 >= DEFAULT_WINDOW / 2 && !s.remote_fin {
                    updates.push(Frame::WindowUpdate {
                        stream: self.id,
                        delta: s.unacked,
                    });
                    s.unacked = 0;
                }
            }
            if st.session_flow {
                st.session_unacked += n;
                if st.session_unacked as i64 >= DEFAULT_WINDOW / 2 {
                    updates.push(Frame::WindowUpdate {
                        stream: 0,
                        delta: st.session_unacked,
                    });
                    st.session_unacked = 0;
                }
            }
        }
        for f in updates {
            let _ = self.shared.send(f).await;
        }
    }
}

/// The outgoing half of a stream.
#[derive(Clone)]
pub struct StreamWriter {
    id: u32,
    shared: Arc<Shared>,
}

fn closed_err(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::BrokenPipe, what.to_string())
}

impl StreamWriter {
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The stream was reset (or the connection ended) before this side finished it.
    pub fn is_reset(&self) -> bool {
        if self.shared.is_gone() {
            return true;
        }
        let st = self.shared.state.lock().unwrap();
        st.streams.get(&self.id).is_none_or(|s| s.reset)
    }

    /// Sends `data`, in frames the peer's windows allow.
    pub async fn write(&self, mut data: &[u8]) -> std::io::Result<()> {
        while !data.is_empty() {
            let n = self.reserve(data.len().min(MAX_DATA_FRAME)).await?;
            self.shared
                .send(Frame::Data {
                    stream: self.id,
                    fin: false,
                    data: Bytes::copy_from_slice(&data[..n]),
                })
                .await?;
            data = &data[n..];
        }
        Ok(())
    }

    /// Waits until up to `want` bytes may be sent; takes them off the windows.
    async fn reserve(&self, want: usize) -> std::io::Result<usize> {
        loop {
            let notified = self.shared.window.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = self.shared.state.lock().unwrap();
                if self.shared.is_gone() {
                    return Err(closed_err("connection closed"));
                }
                let (stream_flow, session_flow, session_window) =
                    (st.stream_flow, st.session_flow, st.session_window);
                let Some(s) = st.streams.get_mut(&self.id) else {
                    return Err(closed_err("stream closed"));
                };
                if s.reset {
                    return Err(closed_err("stream reset"));
                }
                if s.local_fin {
                    return Err(closed_err("write after close"));
                }
                let mut avail = want as i64;
                if stream_flow {
                    avail = avail.min(s.send_window);
                }
                if session_flow {
                    avail = avail.min(session_window);
                }
                if avail > 0 {
                    s.send_window -= avail;
                    st.session_window -= avail;
                    return Ok(avail as usize);
                }
            }
            notified.await;
        }
    }

    /// Half-closes the stream: FIN, no more data from this side.
    pub async fn finish(&self) {
        {
            let mut st = self.shared.state.lock().unwrap();
            match st.streams.get_mut(&self.id) {
                Some(s) if !s.local_fin && !s.reset => s.local_fin = true,
                _ => return,
            }
            Shared::maybe_forget(&mut st, self.id);
        }
        let _ = self
            .shared
            .send(Frame::Data {
                stream: self.id,
                fin: true,
                data: Bytes::new(),
            })
            .await;
    }

    /// Resets the stream (both directions).
    pub async fn reset(&self, status: u32) {
        {
            let mut st = self.shared.state.lock().unwrap();
            match st.streams.get_mut(&self.id) {
                Some(s) if !s.reset => {
                    s.reset = true;
                    s.tx = None;
                }
                _ => return,
            }
            Shared::maybe_forget(&mut st, self.id);
        }
        self.shared.window.notify_waiters();
        let _ = self
            .shared
            .send(Frame::RstStream {
                stream: self.id,
                status,
            })
            .await;
    }
}

/// Serves a SPDY/3.1 session on `io` (after the HTTP upgrade). Streams the client
/// opens arrive on the receiver, already answered with SYN_REPLY.
pub fn serve<IO>(io: IO) -> (Conn, mpsc::UnboundedReceiver<Stream>)
where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    let (rd, wr) = tokio::io::split(io);
    let (out_tx, out_rx) = mpsc::channel::<Out>(64);
    let (gone_tx, gone_rx) = watch::channel(false);
    let (done_tx, done_rx) = watch::channel(false);
    let shared = Arc::new(Shared {
        out: out_tx,
        state: Mutex::new(State {
            streams: HashMap::new(),
            stream_flow: false,
            session_flow: false,
            initial_window: DEFAULT_WINDOW,
            session_window: DEFAULT_WINDOW,
            session_unacked: 0,
            last_stream: 0,
        }),
        window: Notify::new(),
        gone: gone_rx,
    });
    let (accept_tx, accept_rx) = mpsc::unbounded_channel();
    tokio::spawn(write_loop(wr, out_rx, shared.clone(), done_tx));
    let reader_shared = shared.clone();
    tokio::spawn(async move {
        let _ = read_loop(rd, &reader_shared, accept_tx).await;
        // the peer is gone: every stream's reader ends, writers fail
        let _ = gone_tx.send(true);
        let mut st = reader_shared.state.lock().unwrap();
        for s in st.streams.values_mut() {
            s.tx = None;
        }
        drop(st);
        reader_shared.window.notify_waiters();
    });
    (
        Conn {
            shared,
            writer_done: done_rx,
        },
        accept_rx,
    )
}

async fn write_loop<W: AsyncWrite>(
    wr: W,
    mut rx: mpsc::Receiver<Out>,
    shared: Arc<Shared>,
    done: watch::Sender<bool>,
) {
    // the loop holds no strong reference: the channel closes when the application
    // and the reader let go of the session
    let weak = Arc::downgrade(&shared);
    drop(shared);
    tokio::pin!(wr);
    let mut enc = Encoder::new();
    let mut buf = BytesMut::with_capacity(64 * 1024);
    'outer: while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        let mut shutdown = false;
        while let Some(o) = next.take() {
            match o {
                Out::Frame(f) => enc.encode(&f, &mut buf),
                Out::Shutdown => {
                    let last_good = weak
                        .upgrade()
                        .map(|s| s.state.lock().unwrap().last_stream)
                        .unwrap_or(0);
                    enc.encode(
                        &Frame::GoAway {
                            last_good,
                            status: 0,
                        },
                        &mut buf,
                    );
                    shutdown = true;
                    break;
                }
            }
            if buf.len() < 256 * 1024 {
                next = rx.try_recv().ok();
            }
        }
        if wr.write_all(&buf).await.is_err() || wr.flush().await.is_err() {
            break 'outer;
        }
        buf.clear();
        if shutdown {
            break;
        }
    }
    let _ = wr.shutdown().await;
    let _ = done.send(true);
    // later frames have nowhere to go
    rx.close();
}

async fn read_loop<R: AsyncRead>(
    rd: R,
    shared: &Arc<Shared>,
    accept: mpsc::UnboundedSender<Stream>,
) -> Result<(), Error> {
    tokio::pin!(rd);
    let mut dec = Decoder::new();
    let mut buf = BytesMut::with_capacity(64 * 1024);
    loop {
        while let Some(f) = dec.decode(&mut buf)? {
            on_frame(shared, f, &accept).await;
        }
        if buf.capacity() - buf.len() < 16 * 1024 {
            buf.reserve(64 * 1024);
        }
        match rd.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return Ok(()),
            Ok(_) => {}
        }
    }
}

async fn on_frame(shared: &Arc<Shared>, f: Frame, accept: &mpsc::UnboundedSender<Stream>) {
    match f {
        Frame::SynStream {
            stream: id,
            fin,
            unidirectional,
            headers,
            ..
        } => {
            let (tx, rx) = mpsc::channel(16);
            let fresh = {
                let mut st = shared.state.lock().unwrap();
                if id == 0 || st.streams.contains_key(&id) || id <= st.last_stream {
                    false
                } else {
                    st.last_stream = id;
                    let window = st.initial_window;
                    st.streams.insert(
                        id,
                        StreamState {
                            tx: (!fin).then_some(tx),
                            send_window: window,
                            remote_fin: fin,
                            local_fin: unidirectional,
                            ..Default::default()
                        },
                    );
                    true
                }
            };
            if !fresh {
                let _ = shared
                    .send(Frame::RstStream {
                        stream: id,
                        status: status::PROTOCOL_ERROR,
                    })
                    .await;
                return;
            }
            if !unidirectional {
                let _ = shared
                    .send(Frame::SynReply {
                        stream: id,
                        fin: false,
                        headers: Vec::new(),
                    })
                    .await;
            }
            let s = Stream {
                id,
                headers,
                reader: StreamReader {
                    id,
                    rx,
                    shared: shared.clone(),
                },
                writer: StreamWriter {
                    id,
                    shared: shared.clone(),
                },
            };
            if accept.send(s).is_err() {
                // nobody takes new streams any more
                StreamWriter {
                    id,
                    shared: shared.clone(),
                }
                .reset(status::REFUSED_STREAM)
                .await;
            }
        }
        Frame::Data {
            stream: id,
            fin,
            data,
        } => {
            let tx = {
                let mut st = shared.state.lock().unwrap();
                let Some(s) = st.streams.get_mut(&id) else {
                    return;
                };
                let tx = s.tx.clone();
                if fin {
                    s.tx = None;
                    s.remote_fin = true;
                }
                tx
            };
            if let Some(tx) = tx
                && !data.is_empty()
            {
                // back-pressure: a slow consumer holds up the connection, as with spdystream
                let _ = tx.send(data).await;
            }
            if fin {
                let mut st = shared.state.lock().unwrap();
                Shared::maybe_forget(&mut st, id);
            }
        }
        Frame::Headers {
            stream: id,
            fin: true,
            ..
        } => {
            let mut st = shared.state.lock().unwrap();
            if let Some(s) = st.streams.get_mut(&id) {
                s.tx = None;
                s.remote_fin = true;
            }
            Shared::maybe_forget(&mut st, id);
        }
        Frame::RstStream { stream: id, .. } => {
            {
                let mut st = shared.state.lock().unwrap();
                if let Some(s) = st.streams.get_mut(&id) {
                    s.reset = true;
                    s.tx = None;
                }
                Shared::maybe_forget(&mut st, id);
            }
            shared.window.notify_waiters();
        }
        Frame::Settings { entries, .. } => {
            {
                let mut st = shared.state.lock().unwrap();
                for e in entries {
                    if e.id == SETTINGS_INITIAL_WINDOW_SIZE {
                        let delta = e.value as i64 - st.initial_window;
                        st.initial_window = e.value as i64;
                        st.stream_flow = true;
                        for s in st.streams.values_mut() {
                            s.send_window += delta;
                        }
                    }
                }
            }
            shared.window.notify_waiters();
        }
        Frame::WindowUpdate { stream: id, delta } => {
            {
                let mut st = shared.state.lock().unwrap();
                if id == 0 {
                    st.session_flow = true;
                    st.session_window += delta as i64;
                } else {
                    st.stream_flow = true;
                    if let Some(s) = st.streams.get_mut(&id) {
                        s.send_window += delta as i64;
                    }
                }
            }
            shared.window.notify_waiters();
        }
        Frame::Ping { id } => {
            // the client's pings are odd; an even one would be the answer to ours
            if id % 2 == 1 {
                let _ = shared.send(Frame::Ping { id }).await;
            }
        }
        Frame::GoAway { .. }
        | Frame::SynReply { .. }
        | Frame::Headers { .. }
        | Frame::Other { .. } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spdy::frame::Setting;
    use crate::spdy::headers::h;

    /// A client for the session tests: frames in, frames out over a duplex pipe.
    struct Client {
        io: tokio::io::DuplexStream,
        enc: Encoder,
        dec: Decoder,
        buf: BytesMut,
    }

    impl Client {
        async fn send(&mut self, f: Frame) {
            let mut b = BytesMut::new();
            self.enc.encode(&f, &mut b);
            self.io.write_all(&b).await.unwrap();
        }
        async fn recv(&mut self) -> Option<Frame> {
            loop {
                if let Some(f) = self.dec.decode(&mut self.buf).unwrap() {
                    return Some(f);
                }
                if self.io.read_buf(&mut self.buf).await.unwrap() == 0 {
                    return None;
                }
            }
        }
    }

    fn pair() -> (Client, Conn, mpsc::UnboundedReceiver<Stream>) {
        let (a, b) = tokio::io::duplex(1 << 20);
        let (conn, accept) = serve(b);
        (
            Client {
                io: a,
                enc: Encoder::new(),
                dec: Decoder::new(),
                buf: BytesMut::new(),
            },
            conn,
            accept,
        )
    }

    fn syn(stream: u32, kind: &str) -> Frame {
        Frame::SynStream {
            stream,
            associated: 0,
            priority: 0,
            fin: false,
            unidirectional: false,
            headers: h(&[("streamtype", kind)]),
        }
    }

    #[tokio::test]
    async fn session_accepts_streams_echoes_pings_and_half_closes() {
        let (mut c, conn, mut accept) = pair();
        c.send(syn(1, "stdin")).await;
        assert_eq!(
            c.recv().await,
            Some(Frame::SynReply {
                stream: 1,
                fin: false,
                headers: vec![]
            })
        );
        let mut s = accept.recv().await.unwrap();
        assert_eq!(s.header("streamtype"), Some("stdin"));
        c.send(Frame::Ping { id: 1 }).await;
        assert_eq!(c.recv().await, Some(Frame::Ping { id: 1 }));
        c.send(Frame::Data {
            stream: 1,
            fin: true,
            data: Bytes::from_static(b"hi"),
        })
        .await;
        assert_eq!(s.reader.read().await.as_deref(), Some(&b"hi"[..]));
        assert_eq!(s.reader.read().await, None);
        s.writer.write(b"back").await.unwrap();
        s.writer.finish().await;
        assert_eq!(
            c.recv().await,
            Some(Frame::Data {
                stream: 1,
                fin: false,
                data: Bytes::from_static(b"back")
            })
        );
        assert_eq!(
            c.recv().await,
            Some(Frame::Data {
                stream: 1,
                fin: true,
                data: Bytes::new()
            })
        );
        // reusing a stream id is refused
        c.send(syn(1, "stdout")).await;
        assert!(matches!(
            c.recv().await,
            Some(Frame::RstStream { stream: 1, .. })
        ));
        conn.shutdown().await;
        assert!(matches!(c.recv().await, Some(Frame::GoAway { .. })));
        assert_eq!(c.recv().await, None);
    }

    #[tokio::test]
    async fn writes_wait_for_window_updates_once_the_peer_uses_them() {
        let (mut c, _conn, mut accept) = pair();
        c.send(syn(1, "data")).await;
        c.recv().await.unwrap();
        let s = accept.recv().await.unwrap();
        // the peer announces flow control with a small window
        c.send(Frame::Settings {
            clear: false,
            entries: vec![Setting {
                flags: 0,
                id: SETTINGS_INITIAL_WINDOW_SIZE,
                value: 1000,
            }],
        })
        .await;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let w = s.writer.clone();
        let sender = tokio::spawn(async move { w.write(&[1u8; 2500]).await });
        let mut got = 0;
        while got < 1000 {
            match c.recv().await.unwrap() {
                Frame::Data { data, .. } => got += data.len(),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(got, 1000);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!sender.is_finished(), "the window is spent");
        c.send(Frame::WindowUpdate {
            stream: 1,
            delta: 5000,
        })
        .await;
        while got < 2500 {
            match c.recv().await.unwrap() {
                Frame::Data { data, .. } => got += data.len(),
                other => panic!("{other:?}"),
            }
        }
        sender.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn without_flow_control_large_writes_just_go() {
        let (mut c, _conn, mut accept) = pair();
        c.send(syn(1, "stdout")).await;
        c.recv().await.unwrap();
        let s = accept.recv().await.unwrap();
        let w = s.writer.clone();
        let sender = tokio::spawn(async move { w.write(&vec![9u8; 3 << 20]).await });
        let mut got = 0;
        while got < 3 << 20 {
            if let Frame::Data { data, .. } = c.recv().await.unwrap() {
                got += data.len();
            }
        }
        sender.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn reset_and_connection_end_stop_writers_and_readers() {
        let (mut c, conn, mut accept) = pair();
        c.send(syn(1, "data")).await;
        c.send(syn(3, "error")).await;
        c.recv().await.unwrap();
        c.recv().await.unwrap();
        let s1 = accept.recv().await.unwrap();
        let mut s3 = accept.recv().await.unwrap();
        c.send(Frame::RstStream {
            stream: 1,
            status: status::CANCEL,
        })
        .await;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(s1.writer.write(b"x").await.is_err());
        drop(c);
        conn.closed().await;
        assert_eq!(s3.reader.read().await, None);
        assert!(s3.writer.write(b"x").await.is_err());
    }
}
