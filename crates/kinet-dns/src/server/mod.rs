//! The DNS wire: UDP and TCP listeners serving any [`Handler`] (the plugin
//! chains of `kinet dns`, or another resolver such as the lab's fake
//! internet). UDP answers larger than the client's buffer (512 bytes, or its
//! EDNS0 UDP size) are truncated with TC set; TCP uses the 2-byte length
//! framing and serves several queries per connection. Malformed messages get
//! FORMERR when their header can be read, and are dropped otherwise; other
//! opcodes get NOTIMP, never a panic or a stuck socket.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

#[cfg(test)]
mod tests;

/// The transport a query came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Udp,
    Tcp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Udp => "udp",
            Proto::Tcp => "tcp",
        }
    }
}

/// One query as the server received it.
#[derive(Debug, Clone)]
pub struct Request {
    pub msg: Message,
    /// The query's size on the wire.
    pub size: usize,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub proto: Proto,
    /// The plugin that wrote the response (the `plugin` label of
    /// `coredns_dns_responses_total`).
    pub answered_by: std::sync::OnceLock<&'static str>,
}

/// The smallest UDP payload every client accepts.
pub const MIN_UDP_SIZE: u16 = 512;

impl Request {
    /// The question's name, lower case, fully qualified (CoreDNS's `state.Name()`).
    pub fn name(&self) -> String {
        self.msg
            .queries()
            .first()
            .map(|q| {
                let mut n = q.name().to_ascii().to_ascii_lowercase();
                if !n.ends_with('.') {
                    n.push('.');
                }
                n
            })
            .unwrap_or_else(|| ".".into())
    }

    /// The question's name as asked (case preserved).
    pub fn qname(&self) -> String {
        self.msg
            .queries()
            .first()
            .map(|q| q.name().to_ascii())
            .unwrap_or_else(|| ".".into())
    }

    pub fn qtype(&self) -> hickory_proto::rr::RecordType {
        self.msg
            .queries()
            .first()
            .map(|q| q.query_type())
            .unwrap_or(hickory_proto::rr::RecordType::A)
    }

    pub fn qclass(&self) -> hickory_proto::rr::DNSClass {
        self.msg
            .queries()
            .first()
            .map(|q| q.query_class())
            .unwrap_or(hickory_proto::rr::DNSClass::IN)
    }

    /// The EDNS0 DO bit.
    pub fn do_bit(&self) -> bool {
        self.msg
            .extensions()
            .as_ref()
            .is_some_and(|e| e.flags().dnssec_ok)
    }

    /// The largest answer the client takes (CoreDNS's `state.Size()`).
    pub fn bufsize(&self) -> u16 {
        match self.proto {
            Proto::Tcp => u16::MAX,
            Proto::Udp => self
                .msg
                .extensions()
                .as_ref()
                .map(|e| e.max_payload().max(MIN_UDP_SIZE))
                .unwrap_or(MIN_UDP_SIZE),
        }
    }

    /// An empty reply to this query: the id, opcode, RD and question copied.
    pub fn reply(&self) -> Message {
        reply_to(&self.msg)
    }
}

/// An empty reply to `q`, as miekg's `SetReply`.
pub fn reply_to(q: &Message) -> Message {
    let mut m = Message::new();
    m.set_id(q.id())
        .set_message_type(MessageType::Response)
        .set_op_code(q.op_code())
        .set_recursion_desired(q.recursion_desired())
        .set_checking_disabled(q.checking_disabled());
    if let Some(first) = q.queries().first() {
        m.add_query(first.clone());
    }
    m
}

/// Answers one query; `None` sends nothing.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, req: Request) -> BoxFuture<'_, Option<Message>>;
}

/// Reads a query off the wire: `Err(Some(reply))` for a malformed or
/// unsupported message whose header was readable, `Err(None)` to drop it.
pub fn decode(buf: &[u8]) -> Result<Message, Option<Box<Message>>> {
    if buf.len() < 12 {
        return Err(None);
    }
    let id = u16::from_be_bytes([buf[0], buf[1]]);
    let flags = buf[2];
    if flags & 0x80 != 0 {
        // A response: never answer one (it is how reflection loops start).
        return Err(None);
    }
    let opcode = OpCode::from_u8((flags >> 3) & 0x0f);
    let err = |rcode: ResponseCode| {
        let mut m = Message::new();
        m.set_id(id)
            .set_message_type(MessageType::Response)
            .set_op_code(opcode)
            .set_recursion_desired(flags & 0x01 != 0)
            .set_response_code(rcode);
        Some(Box::new(m))
    };
    if opcode != OpCode::Query {
        return Err(err(ResponseCode::NotImp));
    }
    let qdcount = u16::from_be_bytes([buf[4], buf[5]]);
    if qdcount != 1 {
        return Err(err(ResponseCode::FormErr));
    }
    match Message::from_vec(buf) {
        Ok(m) => {
            if let Some(e) = m.extensions()
                && e.version() > 0
            {
                let mut r = reply_to(&m);
                r.set_response_code(ResponseCode::BADVERS);
                let mut opt = Edns::new();
                opt.set_max_payload(e.max_payload().max(MIN_UDP_SIZE));
                r.set_edns(opt);
                return Err(Some(Box::new(r)));
            }
            Ok(m)
        }
        Err(_) => Err(err(ResponseCode::FormErr)),
    }
}

/// The response as the client gets it (CoreDNS's `SizeAndDo` + `Scrub`):
/// an OPT record when the query had one (the client's size and DO bit), and
/// records dropped from the end — additional, then authority, then answer —
/// with TC set when an answer or authority record had to go.
pub fn encode(req: &Message, bufsize: u16, resp: &mut Message) -> Vec<u8> {
    match req.extensions() {
        Some(e) => {
            let mut opt = Edns::new();
            opt.set_max_payload(e.max_payload().max(MIN_UDP_SIZE));
            opt.set_dnssec_ok(e.flags().dnssec_ok);
            resp.set_edns(opt);
        }
        None => {
            *resp.extensions_mut() = None;
        }
    }
    let max = usize::from(bufsize);
    let wire = |m: &Message| m.to_vec().unwrap_or_default();
    let mut out = wire(resp);
    if out.len() <= max || out.is_empty() {
        return out;
    }
    while out.len() > max && !resp.additionals().is_empty() {
        resp.additionals_mut().pop();
        out = wire(resp);
    }
    while out.len() > max && !resp.name_servers().is_empty() {
        resp.name_servers_mut().pop();
        resp.set_truncated(true);
        out = wire(resp);
    }
    while out.len() > max && !resp.answers().is_empty() {
        resp.answers_mut().pop();
        resp.set_truncated(true);
        out = wire(resp);
    }
    out
}

/// The reply to a request the handler made: encoded for its transport.
fn respond(req: &Request, mut resp: Message) -> Vec<u8> {
    encode(&req.msg, req.bufsize(), &mut resp)
}

/// Serves queries on a UDP socket until the task is dropped.
pub async fn serve_udp(sock: UdpSocket, handler: Arc<dyn Handler>) {
    let sock = Arc::new(sock);
    let local = sock
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let mut buf = vec![0u8; 65535];
    loop {
        let (n, peer) = match sock.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(_) => {
                // ICMP errors from earlier sends show up here; keep serving.
                tokio::task::yield_now().await;
                continue;
            }
        };
        let msg = match decode(&buf[..n]) {
            Ok(m) => m,
            Err(Some(r)) => {
                let bytes = r.to_vec().unwrap_or_default();
                let _ = sock.send_to(&bytes, peer).await;
                continue;
            }
            Err(None) => continue,
        };
        let req = Request {
            msg,
            size: n,
            peer,
            local,
            proto: Proto::Udp,
            answered_by: Default::default(),
        };
        let sock = sock.clone();
        let handler = handler.clone();
        tokio::spawn(async move {
            let q = req.clone();
            if let Some(resp) = handler.handle(req).await {
                let bytes = respond(&q, resp);
                let _ = sock.send_to(&bytes, q.peer).await;
            }
        });
    }
}

/// How long an idle TCP connection stays open (CoreDNS's read timeout).
pub const TCP_IDLE: Duration = Duration::from_secs(10);

/// Serves DNS over TCP until the task is dropped.
pub async fn serve_tcp(listener: TcpListener, handler: Arc<dyn Handler>) {
    loop {
        let Ok((conn, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let handler = handler.clone();
        tokio::spawn(async move {
            let _ = serve_conn(conn, peer, handler).await;
        });
    }
}

async fn serve_conn(
    mut conn: TcpStream,
    peer: SocketAddr,
    handler: Arc<dyn Handler>,
) -> std::io::Result<()> {
    let local = conn.local_addr()?;
    loop {
        let mut len = [0u8; 2];
        match tokio::time::timeout(TCP_IDLE, conn.read_exact(&mut len)).await {
            Ok(Ok(_)) => {}
            _ => return Ok(()),
        }
        let n = usize::from(u16::from_be_bytes(len));
        let mut buf = vec![0u8; n];
        match tokio::time::timeout(TCP_IDLE, conn.read_exact(&mut buf)).await {
            Ok(Ok(_)) => {}
            _ => return Ok(()),
        }
        let bytes = match decode(&buf) {
            Ok(msg) => {
                let req = Request {
                    msg,
                    size: n,
                    peer,
                    local,
                    proto: Proto::Tcp,
                    answered_by: Default::default(),
                };
                let q = req.clone();
                match handler.handle(req).await {
                    Some(resp) => respond(&q, resp),
                    None => continue,
                }
            }
            Err(Some(r)) => r.to_vec().unwrap_or_default(),
            Err(None) => return Ok(()),
        };
        let Ok(l) = u16::try_from(bytes.len()) else {
            return Ok(());
        };
        let mut framed = Vec::with_capacity(bytes.len() + 2);
        framed.extend_from_slice(&l.to_be_bytes());
        framed.extend_from_slice(&bytes);
        conn.write_all(&framed).await?;
    }
}

/// Binds UDP and TCP on `addr` and serves `handler` on both; the returned
/// tasks stop serving when aborted.
pub async fn listen(
    addr: SocketAddr,
    handler: Arc<dyn Handler>,
) -> std::io::Result<(SocketAddr, Vec<tokio::task::JoinHandle<()>>)> {
    let udp = UdpSocket::bind(addr).await?;
    let bound = udp.local_addr()?;
    let tcp = TcpListener::bind(bound).await?;
    Ok((
        bound,
        vec![
            tokio::spawn(serve_udp(udp, handler.clone())),
            tokio::spawn(serve_tcp(tcp, handler)),
        ],
    ))
}

/// An I/O error worded as Go's net package words it
/// (`read udp 10.1.0.5:41234->10.0.0.1:53: read: connection refused`).
fn go_err(op: &str, e: std::io::Error) -> std::io::Error {
    let what = match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
        std::io::ErrorKind::ConnectionReset => "connection reset by peer".to_string(),
        std::io::ErrorKind::NetworkUnreachable => "network is unreachable".to_string(),
        std::io::ErrorKind::HostUnreachable => "no route to host".to_string(),
        _ => e.to_string(),
    };
    std::io::Error::new(e.kind(), format!("{op}: {what}"))
}

/// Sends `query` to `addr` and returns the reply (the forward plugin's
/// exchange, also handy for tests): UDP waits for the reply with the same id,
/// TCP uses the 2-byte framing.
pub async fn exchange(
    addr: SocketAddr,
    query: &Message,
    proto: Proto,
    timeout: Duration,
) -> std::io::Result<Message> {
    let bytes = query
        .to_vec()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
    let timed_out = |local: String| {
        std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("read {} {local}->{addr}: i/o timeout", proto.as_str()),
        )
    };
    let bad = |e: hickory_proto::ProtoError| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
    };
    match proto {
        Proto::Udp => {
            let bind: SocketAddr = if addr.is_ipv4() {
                ([0, 0, 0, 0], 0).into()
            } else {
                (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
            };
            let sock = UdpSocket::bind(bind).await?;
            sock.connect(addr).await?;
            let local = sock.local_addr().map(|a| a.to_string()).unwrap_or_default();
            sock.send(&bytes)
                .await
                .map_err(|e| go_err(&format!("write udp {local}->{addr}: write"), e))?;
            let mut buf = vec![0u8; 65535];
            let deadline = tokio::time::Instant::now() + timeout;
            loop {
                let n = match tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
                    Ok(r) => {
                        r.map_err(|e| go_err(&format!("read udp {local}->{addr}: read"), e))?
                    }
                    Err(_) => return Err(timed_out(local)),
                };
                let Ok(m) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                if m.id() == query.id() {
                    return Ok(m);
                }
            }
        }
        Proto::Tcp => {
            let fut = async {
                let mut conn = TcpStream::connect(addr)
                    .await
                    .map_err(|e| go_err(&format!("dial tcp {addr}: connect"), e))?;
                let local = conn.local_addr().map(|a| a.to_string()).unwrap_or_default();
                let l = u16::try_from(bytes.len()).map_err(|_| {
                    std::io::Error::new(std::io::ErrorKind::InvalidInput, "message too large")
                })?;
                let mut framed = l.to_be_bytes().to_vec();
                framed.extend_from_slice(&bytes);
                conn.write_all(&framed).await?;
                let mut len = [0u8; 2];
                conn.read_exact(&mut len).await?;
                let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
                conn.read_exact(&mut buf).await?;
                let _ = local;
                Message::from_vec(&buf).map_err(bad)
            };
            match tokio::time::timeout(timeout, fut).await {
                Ok(r) => r,
                Err(_) => Err(timed_out(String::new())),
            }
        }
    }
}
