//! SPDY/3.1, the stream multiplexing that kubectl's `exec`, `attach`, `cp` and
//! `port-forward` speak before WebSockets (moby/spdystream on the client, and
//! k8s.io/apimachinery's `httpstream/spdy` upgrade): the frame codec (pure, with its
//! unit tests) and a server session over any byte stream.
//!
//! Frames: an 8-byte header (control bit, version 3 and type, or a 31-bit stream
//! id; 8 bits of flags; a 24-bit length), then the payload. Name/value header
//! blocks are zlib-compressed with the SPDY/3 dictionary, one zlib stream per
//! direction for the whole connection, each block ending on a sync flush.
//!
//! The session accepts the client's streams (answering each with SYN_REPLY), reads
//! and writes their data, half-closes (FIN) and resets them, answers PINGs, and
//! keeps to the peer's flow-control windows once the peer shows it uses them
//! (spdystream never sends WINDOW_UPDATE, so with it windows are not enforced).

use bytes::{Buf, BufMut, Bytes, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Notify, mpsc, watch};

pub const VERSION: u16 = 3;
const FLAG_FIN: u8 = 0x01;
const FLAG_UNIDIRECTIONAL: u8 = 0x02;

const TYPE_SYN_STREAM: u16 = 1;
const TYPE_SYN_REPLY: u16 = 2;
const TYPE_RST_STREAM: u16 = 3;
const TYPE_SETTINGS: u16 = 4;
const TYPE_PING: u16 = 6;
const TYPE_GOAWAY: u16 = 7;
const TYPE_HEADERS: u16 = 8;
const TYPE_WINDOW_UPDATE: u16 = 9;

/// SETTINGS id of the initial per-stream window.
pub const SETTINGS_INITIAL_WINDOW_SIZE: u32 = 7;
/// The window every stream (and, in 3.1, the session) starts with.
pub const DEFAULT_WINDOW: i64 = 64 * 1024;

/// RST_STREAM status codes.
pub mod status {
    pub const PROTOCOL_ERROR: u32 = 1;
    pub const INVALID_STREAM: u32 = 2;
    pub const REFUSED_STREAM: u32 = 3;
    pub const CANCEL: u32 = 5;
    pub const INTERNAL_ERROR: u32 = 6;
}

/// Largest header block accepted after decompression.
const MAX_HEADER_BLOCK: usize = 1 << 20;
/// Largest DATA payload this side sends in one frame.
const MAX_DATA_FRAME: usize = 32 * 1024;

/// Header names (lower case) and values (several values joined by NUL).
pub type Headers = Vec<(String, String)>;

/// One entry of a SETTINGS frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    pub flags: u8,
    pub id: u32,
    pub value: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    SynStream {
        stream: u32,
        associated: u32,
        priority: u8,
        fin: bool,
        unidirectional: bool,
        headers: Headers,
    },
    SynReply {
        stream: u32,
        fin: bool,
        headers: Headers,
    },
    RstStream {
        stream: u32,
        status: u32,
    },
    Settings {
        clear: bool,
        entries: Vec<Setting>,
    },
    Ping {
        id: u32,
    },
    GoAway {
        last_good: u32,
        status: u32,
    },
    Headers {
        stream: u32,
        fin: bool,
        headers: Headers,
    },
    WindowUpdate {
        stream: u32,
        delta: u32,
    },
    Data {
        stream: u32,
        fin: bool,
        data: Bytes,
    },
    /// A control frame of a type this server has no use for (NOOP, CREDENTIAL …).
    Other {
        kind: u16,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A control frame of another SPDY version.
    Version(u16),
    /// A frame whose payload does not match its type.
    Malformed(&'static str),
    /// The header block did not decompress.
    Compression(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Version(v) => write!(f, "unsupported SPDY version {v}"),
            Error::Malformed(m) => write!(f, "malformed SPDY frame: {m}"),
            Error::Compression(m) => write!(f, "SPDY header block: {m}"),
        }
    }
}

impl std::error::Error for Error {}

/// The SPDY/3 header compression dictionary (draft 3, section 2.6.10.1): common
/// header names, each with a 32-bit big-endian length, then a run of common values.
pub fn dictionary() -> &'static [u8] {
    static DICT: LazyLock<Vec<u8>> = LazyLock::new(|| {
        const WORDS: &[&str] = &[
            "options",
            "head",
            "post",
            "put",
            "delete",
            "trace",
            "accept",
            "accept-charset",
            "accept-encoding",
            "accept-language",
            "accept-ranges",
            "age",
            "allow",
            "authorization",
            "cache-control",
            "connection",
            "content-base",
            "content-encoding",
            "content-language",
            "content-length",
            "content-location",
            "content-md5",
            "content-range",
            "content-type",
            "date",
            "etag",
            "expect",
            "expires",
            "from",
            "host",
            "if-match",
            "if-modified-since",
            "if-none-match",
            "if-range",
            "if-unmodified-since",
            "last-modified",
            "location",
            "max-forwards",
            "pragma",
            "proxy-authenticate",
            "proxy-authorization",
            "range",
            "referer",
            "retry-after",
            "server",
            "te",
            "trailer",
            "transfer-encoding",
            "upgrade",
            "user-agent",
            "vary",
            "via",
            "warning",
            "www-authenticate",
            "method",
            "get",
            "status",
            "200 OK",
            "version",
            "HTTP/1.1",
            "url",
            "public",
            "set-cookie",
            "keep-alive",
            "origin",
        ];
        const TAIL: &str = concat!(
            "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505",
            "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request",
            "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented",
            "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 ",
            "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,",
            "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=",
            "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.",
        );
        let mut d = Vec::with_capacity(1424);
        for w in WORDS {
            d.extend_from_slice(&(w.len() as u32).to_be_bytes());
            d.extend_from_slice(w.as_bytes());
        }
        d.extend_from_slice(TAIL.as_bytes());
        d
    });
    &DICT
}

/// Compresses header blocks: one zlib stream for the whole connection.
pub struct HeaderCompressor {
    z: Compress,
}

impl Default for HeaderCompressor {
    fn default() -> Self {
        Self::new()
    }
}

impl HeaderCompressor {
    pub fn new() -> Self {
        let mut z = Compress::new(Compression::default(), true);
        z.set_dictionary(dictionary())
            .expect("a fresh deflate stream takes a dictionary");
        HeaderCompressor { z }
    }

    /// The compressed block for `headers`, ending on a sync flush.
    pub fn compress(&mut self, headers: &Headers) -> Vec<u8> {
        // names must be unique: repeated ones travel as one NUL-separated value
        let mut merged: Vec<(String, String)> = Vec::new();
        for (k, v) in headers {
            let k = k.to_ascii_lowercase();
            match merged.iter_mut().find(|(n, _)| *n == k) {
                Some((_, old)) => {
                    old.push('\0');
                    old.push_str(v);
                }
                None => merged.push((k, v.clone())),
            }
        }
        let mut raw = Vec::new();
        raw.put_u32(merged.len() as u32);
        for (k, v) in &merged {
            raw.put_u32(k.len() as u32);
            raw.extend_from_slice(k.as_bytes());
            raw.put_u32(v.len() as u32);
            raw.extend_from_slice(v.as_bytes());
        }
        let mut out = Vec::with_capacity(raw.len() + 64);
        let mut input = &raw[..];
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(256));
            }
            let before = self.z.total_in();
            self.z
                .compress_vec(input, &mut out, FlushCompress::Sync)
                .expect("deflate into memory");
            input = &input[(self.z.total_in() - before) as usize..];
            // done once all input is taken and the flush left spare room
            if input.is_empty() && out.len() < out.capacity() {
                return out;
            }
        }
    }
}

/// Decompresses header blocks: one zlib stream for the whole connection.
pub struct HeaderDecompressor {
    z: Decompress,
}

impl Default for HeaderDecompressor {
    fn default() -> Self {
        Self::new()
    }
}

impl HeaderDecompressor {
    pub fn new() -> Self {
        HeaderDecompressor {
            z: Decompress::new(true),
        }
    }

    pub fn decompress(&mut self, block: &[u8]) -> Result<Headers, Error> {
        let mut out: Vec<u8> = Vec::with_capacity(block.len() * 4 + 64);
        let mut input = block;
        loop {
            if out.capacity() - out.len() < 64 {
                if out.len() >= MAX_HEADER_BLOCK {
                    return Err(Error::Compression("header block too large".into()));
                }
                out.reserve(out.capacity().max(256));
            }
            let before = self.z.total_in();
            let res = self
                .z
                .decompress_vec(input, &mut out, FlushDecompress::Sync);
            input = &input[(self.z.total_in() - before) as usize..];
            match res {
                Ok(_) => {}
                Err(e) if e.needs_dictionary().is_some() => {
                    self.z
                        .set_dictionary(dictionary())
                        .map_err(|e| Error::Compression(e.to_string()))?;
                    continue;
                }
                Err(e) => return Err(Error::Compression(e.to_string())),
            }
            if input.is_empty() && out.len() < out.capacity() {
                break;
            }
        }
        parse_header_block(&out)
    }
}

fn parse_header_block(mut b: &[u8]) -> Result<Headers, Error> {
    let bad = Error::Malformed("header block");
    if b.len() < 4 {
        return Err(bad);
    }
    let n = b.get_u32() as usize;
    let mut h = Vec::with_capacity(n.min(64));
    let field = |b: &mut &[u8]| -> Result<String, Error> {
        if b.len() < 4 {
            return Err(Error::Malformed("header block"));
        }
        let len = b.get_u32() as usize;
        if b.len() < len {
            return Err(Error::Malformed("header block"));
        }
        let s = String::from_utf8_lossy(&b[..len]).into_owned();
        b.advance(len);
        Ok(s)
    };
    for _ in 0..n {
        let k = field(&mut b)?;
        let v = field(&mut b)?;
        h.push((k.to_ascii_lowercase(), v));
    }
    Ok(h)
}

/// Frame serialiser: control frames and data frames, header blocks compressed.
#[derive(Default)]
pub struct Encoder {
    headers: HeaderCompressor,
}

fn control(out: &mut BytesMut, kind: u16, flags: u8, payload: &[u8]) {
    out.put_u16(0x8000 | VERSION);
    out.put_u16(kind);
    out.put_u32((flags as u32) << 24 | payload.len() as u32);
    out.extend_from_slice(payload);
}

impl Encoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn encode(&mut self, f: &Frame, out: &mut BytesMut) {
        let fin = |b: bool| if b { FLAG_FIN } else { 0 };
        match f {
            Frame::SynStream {
                stream,
                associated,
                priority,
                fin: f,
                unidirectional,
                headers,
            } => {
                let mut p = Vec::new();
                p.put_u32(stream & 0x7fff_ffff);
                p.put_u32(associated & 0x7fff_ffff);
                p.put_u8((priority & 0x7) << 5);
                p.put_u8(0);
                p.extend_from_slice(&self.headers.compress(headers));
                let flags = fin(*f)
                    | if *unidirectional {
                        FLAG_UNIDIRECTIONAL
                    } else {
                        0
                    };
                control(out, TYPE_SYN_STREAM, flags, &p);
            }
            Frame::SynReply {
                stream,
                fin: f,
                headers,
            } => {
                let mut p = Vec::new();
                p.put_u32(stream & 0x7fff_ffff);
                p.extend_from_slice(&self.headers.compress(headers));
                control(out, TYPE_SYN_REPLY, fin(*f), &p);
            }
            Frame::Headers {
                stream,
                fin: f,
                headers,
            } => {
                let mut p = Vec::new();
                p.put_u32(stream & 0x7fff_ffff);
                p.extend_from_slice(&self.headers.compress(headers));
                control(out, TYPE_HEADERS, fin(*f), &p);
            }
            Frame::RstStream { stream, status } => {
                let mut p = Vec::new();
                p.put_u32(stream & 0x7fff_ffff);
                p.put_u32(*status);
                control(out, TYPE_RST_STREAM, 0, &p);
            }
            Frame::Settings { clear, entries } => {
                let mut p = Vec::new();
                p.put_u32(entries.len() as u32);
                for e in entries {
                    p.put_u32((e.flags as u32) << 24 | (e.id & 0x00ff_ffff));
                    p.put_u32(e.value);
                }
                control(out, TYPE_SETTINGS, if *clear { 1 } else { 0 }, &p);
            }
            Frame::Ping { id } => control(out, TYPE_PING, 0, &id.to_be_bytes()),
            Frame::GoAway { last_good, status } => {
                let mut p = Vec::new();
                p.put_u32(last_good & 0x7fff_ffff);
                p.put_u32(*status);
                control(out, TYPE_GOAWAY, 0, &p);
            }
            Frame::WindowUpdate { stream, delta } => {
                let mut p = Vec::new();
                p.put_u32(stream & 0x7fff_ffff);
                p.put_u32(delta & 0x7fff_ffff);
                control(out, TYPE_WINDOW_UPDATE, 0, &p);
            }
            Frame::Data {
                stream,
                fin: f,
                data,
            } => {
                out.put_u32(stream & 0x7fff_ffff);
                out.put_u32((fin(*f) as u32) << 24 | data.len() as u32);
                out.extend_from_slice(data);
            }
            Frame::Other { kind } => control(out, *kind, 0, &[]),
        }
    }
}

/// Frame parser: takes whole frames off the front of a buffer, whatever the reads
/// that filled it.
#[derive(Default)]
pub struct Decoder {
    headers: HeaderDecompressor,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next frame in `buf`, or `None` until a whole one is there.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, Error> {
        if buf.len() < 8 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([0, buf[5], buf[6], buf[7]]) as usize;
        if buf.len() < 8 + len {
            buf.reserve(8 + len - buf.len());
            return Ok(None);
        }
        let mut head = buf.split_to(8);
        let mut p = buf.split_to(len).freeze();
        let first = head.get_u32();
        let flags = head.get_u8();
        if first & 0x8000_0000 == 0 {
            return Ok(Some(Frame::Data {
                stream: first & 0x7fff_ffff,
                fin: flags & FLAG_FIN != 0,
                data: p,
            }));
        }
        let version = ((first >> 16) & 0x7fff) as u16;
        if version != VERSION {
            return Err(Error::Version(version));
        }
        let kind = (first & 0xffff) as u16;
        let fin = flags & FLAG_FIN != 0;
        let need = |p: &Bytes, n: usize, what: &'static str| {
            if p.len() < n {
                Err(Error::Malformed(what))
            } else {
                Ok(())
            }
        };
        let f = match kind {
            TYPE_SYN_STREAM => {
                need(&p, 10, "SYN_STREAM")?;
                let stream = p.get_u32() & 0x7fff_ffff;
                let associated = p.get_u32() & 0x7fff_ffff;
                let priority = p.get_u8() >> 5;
                p.advance(1);
                Frame::SynStream {
                    stream,
                    associated,
                    priority,
                    fin,
                    unidirectional: flags & FLAG_UNIDIRECTIONAL != 0,
                    headers: self.headers.decompress(&p)?,
                }
            }
            TYPE_SYN_REPLY | TYPE_HEADERS => {
                need(&p, 4, "SYN_REPLY/HEADERS")?;
                let stream = p.get_u32() & 0x7fff_ffff;
                let headers = self.headers.decompress(&p)?;
                if kind == TYPE_SYN_REPLY {
                    Frame::SynReply {
                        stream,
                        fin,
                        headers,
                    }
                } else {
                    Frame::Headers {
                        stream,
                        fin,
                        headers,
                    }
                }
            }
            TYPE_RST_STREAM => {
                need(&p, 8, "RST_STREAM")?;
                Frame::RstStream {
                    stream: p.get_u32() & 0x7fff_ffff,
                    status: p.get_u32(),
                }
            }
            TYPE_SETTINGS => {
                need(&p, 4, "SETTINGS")?;
                let n = p.get_u32() as usize;
                need(&p, n.saturating_mul(8), "SETTINGS")?;
                let entries = (0..n)
                    .map(|_| {
                        let fi = p.get_u32();
                        Setting {
                            flags: (fi >> 24) as u8,
                            id: fi & 0x00ff_ffff,
                            value: p.get_u32(),
                        }
                    })
                    .collect();
                Frame::Settings {
                    clear: flags & 1 != 0,
                    entries,
                }
            }
            TYPE_PING => {
                need(&p, 4, "PING")?;
                Frame::Ping { id: p.get_u32() }
            }
            TYPE_GOAWAY => {
                need(&p, 4, "GOAWAY")?;
                let last_good = p.get_u32() & 0x7fff_ffff;
                // SPDY/2 GOAWAY had no status
                let status = if p.len() >= 4 { p.get_u32() } else { 0 };
                Frame::GoAway { last_good, status }
            }
            TYPE_WINDOW_UPDATE => {
                need(&p, 8, "WINDOW_UPDATE")?;
                Frame::WindowUpdate {
                    stream: p.get_u32() & 0x7fff_ffff,
                    delta: p.get_u32() & 0x7fff_ffff,
                }
            }
            other => Frame::Other { kind: other },
        };
        Ok(Some(f))
    }
}

/// The value of header `name` (lower case) in `h`.
pub fn header<'a>(h: &'a Headers, name: &str) -> Option<&'a str> {
    h.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.split('\0').next().unwrap_or(""))
}

// ---------------------------------------------------------------------------
// The server session

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

/// A byte stream over a WebSocket: each binary message carries the next bytes
/// (what kubectl 1.31+ does to tunnel SPDY through `SPDY/3.1+portforward.k8s.io`).
/// Returns the end to hand to [`serve`]; the bridge ends with a normal close.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Headers {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn dictionary_is_the_spdy3_one() {
        let d = dictionary();
        assert_eq!(d.len(), 1423);
        assert_eq!(&d[..11], b"\0\0\0\x07options");
        assert!(d.ends_with(b",*,enq=0."));
    }

    #[test]
    fn frames_round_trip() {
        let frames = vec![
            Frame::SynStream {
                stream: 1,
                associated: 0,
                priority: 3,
                fin: false,
                unidirectional: false,
                headers: h(&[("streamtype", "error"), ("port", "80"), ("requestid", "0")]),
            },
            Frame::SynReply {
                stream: 1,
                fin: false,
                headers: vec![],
            },
            Frame::SynStream {
                stream: 3,
                associated: 0,
                priority: 0,
                fin: true,
                unidirectional: false,
                headers: h(&[("streamtype", "data")]),
            },
            Frame::Data {
                stream: 3,
                fin: false,
                data: Bytes::from_static(b"GET / HTTP/1.1\r\n\r\n"),
            },
            Frame::Data {
                stream: 3,
                fin: true,
                data: Bytes::new(),
            },
            Frame::RstStream {
                stream: 5,
                status: status::CANCEL,
            },
            Frame::Settings {
                clear: false,
                entries: vec![Setting {
                    flags: 0,
                    id: SETTINGS_INITIAL_WINDOW_SIZE,
                    value: 1 << 20,
                }],
            },
            Frame::Ping { id: 7 },
            Frame::GoAway {
                last_good: 9,
                status: 0,
            },
            Frame::Headers {
                stream: 1,
                fin: true,
                headers: h(&[("x", "y")]),
            },
            Frame::WindowUpdate {
                stream: 0,
                delta: 4096,
            },
        ];
        let mut enc = Encoder::new();
        let mut wire = BytesMut::new();
        for f in &frames {
            enc.encode(f, &mut wire);
        }
        let mut dec = Decoder::new();
        let mut got = Vec::new();
        while let Some(f) = dec.decode(&mut wire).unwrap() {
            got.push(f);
        }
        assert_eq!(got, frames);
        assert!(wire.is_empty());
    }

    #[test]
    fn split_reads_yield_whole_frames() {
        let mut enc = Encoder::new();
        let mut wire = BytesMut::new();
        let a = Frame::SynStream {
            stream: 1,
            associated: 0,
            priority: 0,
            fin: false,
            unidirectional: false,
            headers: h(&[("streamtype", "stdout")]),
        };
        let b = Frame::Data {
            stream: 1,
            fin: false,
            data: Bytes::from(vec![7u8; 70_000]),
        };
        enc.encode(&a, &mut wire);
        enc.encode(&b, &mut wire);
        let all = wire.freeze();
        let mut dec = Decoder::new();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        // one byte at a time, then in odd-sized chunks
        for chunk in all[..40].chunks(1).chain(all[40..].chunks(997)) {
            buf.extend_from_slice(chunk);
            while let Some(f) = dec.decode(&mut buf).unwrap() {
                got.push(f);
            }
        }
        assert_eq!(got, vec![a, b]);
    }

    #[test]
    fn header_blocks_share_one_zlib_stream_with_the_dictionary() {
        let mut c = HeaderCompressor::new();
        let first = c.compress(&h(&[("streamtype", "stdin")]));
        // zlib header with FDICT set, then the dictionary's Adler-32
        assert_eq!(first[0] & 0x0f, 8, "deflate");
        assert!(first[1] & 0x20 != 0, "FDICT");
        let second = c.compress(&h(&[("streamtype", "stdin")]));
        // the second block refers back to the first: much shorter, and no zlib header
        assert!(second.len() < first.len(), "{second:?} vs {first:?}");
        let mut d = HeaderDecompressor::new();
        assert_eq!(d.decompress(&first).unwrap(), h(&[("streamtype", "stdin")]));
        assert_eq!(
            d.decompress(&second).unwrap(),
            h(&[("streamtype", "stdin")])
        );
        // a fresh decompressor cannot read the second block alone
        assert!(HeaderDecompressor::new().decompress(&second).is_err());
    }

    #[test]
    fn a_block_made_by_plain_zlib_with_the_dictionary_decodes() {
        // what Go's compress/zlib writes: its own stream, dictionary set, sync flush
        let mut raw = Vec::new();
        raw.put_u32(2);
        for s in ["port", "8080", "streamtype", "data"] {
            raw.put_u32(s.len() as u32);
            raw.extend_from_slice(s.as_bytes());
        }
        let mut z = Compress::new(Compression::best(), true);
        z.set_dictionary(dictionary()).unwrap();
        let mut out = Vec::with_capacity(1024);
        z.compress_vec(&raw, &mut out, FlushCompress::Sync).unwrap();
        let got = HeaderDecompressor::new().decompress(&out).unwrap();
        assert_eq!(got, h(&[("port", "8080"), ("streamtype", "data")]));
        assert_eq!(header(&got, "Port"), Some("8080"));
    }

    #[test]
    fn repeated_header_names_travel_as_one_value() {
        let mut c = HeaderCompressor::new();
        let block = c.compress(&h(&[("a", "1"), ("A", "2")]));
        let got = HeaderDecompressor::new().decompress(&block).unwrap();
        assert_eq!(got, h(&[("a", "1\u{0}2")]));
        assert_eq!(header(&got, "a"), Some("1"));
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let mut dec = Decoder::new();
        // SPDY/2 control frame
        let mut b = BytesMut::from(&[0x80, 2, 0, 1, 0, 0, 0, 0][..]);
        assert_eq!(dec.decode(&mut b), Err(Error::Version(2)));
        // PING too short
        let mut b = BytesMut::from(&[0x80, 3, 0, 6, 0, 0, 0, 2, 0, 0][..]);
        assert!(matches!(dec.decode(&mut b), Err(Error::Malformed(_))));
        // a header block that is not zlib
        let mut b = BytesMut::from(&[0x80, 3, 0, 2, 0, 0, 0, 8, 0, 0, 0, 1, 1, 2, 3, 4][..]);
        assert!(matches!(dec.decode(&mut b), Err(Error::Compression(_))));
        // unknown control types are skipped
        let mut b = BytesMut::from(&[0x80, 3, 0, 5, 0, 0, 0, 0][..]);
        assert_eq!(dec.decode(&mut b), Ok(Some(Frame::Other { kind: 5 })));
    }

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
