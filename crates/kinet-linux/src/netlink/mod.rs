//! A small synchronous rtnetlink client: links, addresses and IPv4 routes.
//!
//! One [`Netlink`] owns one `NETLINK_ROUTE` socket bound to one network namespace (the
//! socket is created inside it). Each call sends one request and waits for the kernel's
//! ACK (or the end of a dump), so calls are cheap (tens of microseconds) and ordered.

use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::path::Path;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_EXCL, NLM_F_REQUEST, NetlinkHeader,
    NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage, AddressScope};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo as NlLinkInfo, LinkMessage,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

use crate::error::{Error, Result};
use crate::netns;

mod route;
pub use route::Route;

/// Receive buffer size; larger than the kernel's biggest dump datagram (32 KiB).
const RECV_BUF: usize = 64 * 1024;
/// `NLM_F_CAPPED` in an error message: only the request's header was echoed.
const NLM_F_CAPPED: u16 = 0x100;
/// `NLM_F_ACK_TLVS` in an error message: extended-ack attributes follow.
const NLM_F_ACK_TLVS: u16 = 0x200;
/// `NLMSGERR_ATTR_MSG`: the extended-ack text.
const NLMSGERR_ATTR_MSG: u16 = 1;
/// Kernel interface name limit, without the trailing NUL.
const IFNAMSIZ_MAX: usize = 15;

/// A network interface, as listed by [`Netlink::links`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    pub name: String,
    pub index: u32,
    /// Link kind from IFLA_INFO_KIND: "veth", "bridge", "dummy" … (None for `lo` and
    /// physical devices).
    pub kind: Option<String>,
    /// Administratively up (IFF_UP).
    pub up: bool,
    /// Carrier/running (IFF_LOWER_UP): for a veth, the peer is up too.
    pub lower_up: bool,
    pub mac: Option<[u8; 6]>,
    pub mtu: Option<u32>,
    /// Index of the bridge this link is enslaved to (IFLA_MASTER).
    pub master: Option<u32>,
    /// IFLA_LINK: for a veth, the peer's index (in the peer's namespace).
    pub link: Option<u32>,
}

/// An address, as listed by [`Netlink::addrs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrInfo {
    /// Interface index.
    pub index: u32,
    pub addr: IpAddr,
    pub prefix: u8,
}

/// Synchronous rtnetlink socket bound to one network namespace.
pub struct Netlink {
    sock: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl std::fmt::Debug for Netlink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Netlink")
            .field("fd", &self.sock.as_raw_fd())
            .finish()
    }
}

fn new_socket() -> Result<Socket> {
    let mut sock = Socket::new(NETLINK_ROUTE).map_err(|e| Error::io("socket(NETLINK_ROUTE)", e))?;
    sock.bind_auto()
        .map_err(|e| Error::io("bind netlink socket", e))?;
    sock.connect(&SocketAddr::new(0, 0))
        .map_err(|e| Error::io("connect netlink socket", e))?;
    // Both are optional niceties (error text from the kernel, short error echoes).
    let _ = sock.set_ext_ack(true);
    let _ = sock.set_cap_ack(true);
    set_recv_timeout(&sock, 30)?;
    Ok(sock)
}

fn set_recv_timeout(sock: &Socket, secs: libc::time_t) -> Result<()> {
    let tv = libc::timeval {
        tv_sec: secs,
        tv_usec: 0,
    };
    // SAFETY: `tv` is a valid timeval that outlives the call, and the length matches it.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(Error::io(
            "setsockopt(SO_RCVTIMEO)",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

fn check_ifname(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > IFNAMSIZ_MAX
        || name == "."
        || name == ".."
        || name
            .bytes()
            .any(|b| b == b'/' || b == 0 || b.is_ascii_whitespace() || b == b':')
    {
        return Err(Error::Invalid(format!(
            "invalid interface name {name:?} (1-15 bytes, no '/', ':' or spaces)"
        )));
    }
    Ok(())
}

fn link_by_name(name: &str) -> LinkMessage {
    let mut m = LinkMessage::default();
    m.attributes.push(LinkAttribute::IfName(name.to_string()));
    m
}

/// Extract the extended-ack message from an error payload (after the errno).
fn extack_message(flags: u16, echoed: &[u8]) -> Option<String> {
    if flags & NLM_F_ACK_TLVS == 0 || echoed.len() < 16 {
        return None;
    }
    let orig_len = u32::from_ne_bytes(echoed[0..4].try_into().ok()?) as usize;
    let skip = if flags & NLM_F_CAPPED != 0 {
        16
    } else {
        (orig_len + 3) & !3
    };
    let mut tlvs = echoed.get(skip..)?;
    while tlvs.len() >= 4 {
        let len = u16::from_ne_bytes([tlvs[0], tlvs[1]]) as usize;
        let kind = u16::from_ne_bytes([tlvs[2], tlvs[3]]) & 0x3fff;
        if len < 4 || len > tlvs.len() {
            break;
        }
        if kind == NLMSGERR_ATTR_MSG {
            let v = &tlvs[4..len];
            let v = v.split(|b| *b == 0).next().unwrap_or(v);
            return Some(String::from_utf8_lossy(v).into_owned());
        }
        tlvs = tlvs.get((len + 3) & !3..).unwrap_or(&[]);
    }
    None
}

impl Netlink {
    /// Open an rtnetlink socket in the namespace at `ns` (a bound file or
    /// `/proc/PID/ns/net`), or in the calling thread's namespace for `None`.
    pub fn open(ns: Option<&Path>) -> Result<Netlink> {
        let sock = match ns {
            None => new_socket()?,
            Some(ns) => netns::with_netns(ns, new_socket)??,
        };
        Ok(Netlink {
            sock,
            seq: 0,
            buf: Vec::with_capacity(RECV_BUF),
        })
    }

    /// Send one request and collect the replies until the ACK (or the end of a dump).
    fn request(
        &mut self,
        op: &str,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>> {
        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        // A dump interrupted by a concurrent change is retried (the kernel flags it).
        for _ in 0..5 {
            match self.request_once(op, msg.clone(), flags)? {
                (replies, false) => return Ok(replies),
                (_, true) if dump => continue,
                (replies, true) => return Ok(replies),
            }
        }
        Err(Error::Protocol {
            op: op.to_string(),
            detail: "dump interrupted 5 times in a row".into(),
        })
    }

    fn request_once(
        &mut self,
        op: &str,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<(Vec<RouteNetlinkMessage>, bool)> {
        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags | if dump { 0 } else { NLM_F_ACK };
        header.sequence_number = seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        packet.finalize();
        let mut out = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut out);
        self.sock
            .send(&out, 0)
            .map_err(|e| Error::io(format!("netlink {op}: send"), e))?;

        let mut replies = Vec::new();
        let mut interrupted = false;
        loop {
            self.buf.clear();
            let n = loop {
                match self.sock.recv(&mut self.buf, libc::MSG_TRUNC) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(Error::io(format!("netlink {op}: recv"), e)),
                }
            };
            if n > self.buf.len() {
                return Err(Error::Protocol {
                    op: op.into(),
                    detail: format!("reply of {n} bytes truncated"),
                });
            }
            let mut off = 0;
            while off + 16 <= n {
                let b = &self.buf[off..n];
                let len = u32::from_ne_bytes(b[0..4].try_into().unwrap()) as usize;
                let mflags = u16::from_ne_bytes(b[6..8].try_into().unwrap());
                let mseq = u32::from_ne_bytes(b[8..12].try_into().unwrap());
                if len < 16 || len > b.len() {
                    return Err(Error::Protocol {
                        op: op.into(),
                        detail: format!("bad message length {len}"),
                    });
                }
                off += (len + 3) & !3;
                if mseq != seq {
                    // A late answer to an earlier request (e.g. after a timeout).
                    continue;
                }
                if mflags & NLM_F_DUMP_INTR != 0 {
                    interrupted = true;
                }
                let parsed = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&b[..len]);
                let parsed = match parsed {
                    Ok(p) => p,
                    Err(e) if dump => {
                        tracing::warn!(op, error = %e, "skipping undecodable netlink message");
                        continue;
                    }
                    Err(e) => {
                        return Err(Error::Protocol {
                            op: op.into(),
                            detail: e.to_string(),
                        });
                    }
                };
                match parsed.payload {
                    NetlinkPayload::Error(err) => {
                        return match err.code {
                            None => Ok((replies, interrupted)),
                            Some(code) => Err(Error::Netlink {
                                op: op.into(),
                                errno: code.get().abs(),
                                message: extack_message(mflags, &err.header),
                            }),
                        };
                    }
                    NetlinkPayload::Done(done) => {
                        if done.code != 0 {
                            return Err(Error::Netlink {
                                op: op.into(),
                                errno: done.code.abs(),
                                message: None,
                            });
                        }
                        return Ok((replies, interrupted));
                    }
                    NetlinkPayload::InnerMessage(m) => replies.push(m),
                    _ => {}
                }
            }
        }
    }

    fn ack(&mut self, op: &str, msg: RouteNetlinkMessage, flags: u16) -> Result<()> {
        self.request(op, msg, flags).map(|_| ())
    }

    /// Create a veth pair `name` (here) <-> `peer`. With `peer_ns`, the peer is created
    /// directly in that namespace (IFLA_NET_NS_FD in the peer's info), so it never
    /// appears here. Both ends start down.
    pub fn veth_add(&mut self, name: &str, peer: &str, peer_ns: Option<&Path>) -> Result<()> {
        check_ifname(name)?;
        check_ifname(peer)?;
        let ns_file = peer_ns.map(netns::open_ns).transpose()?;
        let mut peer_msg = link_by_name(peer);
        if let Some(f) = &ns_file {
            peer_msg
                .attributes
                .push(LinkAttribute::NetNsFd(f.as_raw_fd()));
        }
        let mut m = link_by_name(name);
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            NlLinkInfo::Kind(InfoKind::Veth),
            NlLinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_msg))),
        ]));
        let op = format!("veth_add {name}/{peer}");
        let r = self.ack(
            &op,
            RouteNetlinkMessage::NewLink(m),
            NLM_F_CREATE | NLM_F_EXCL,
        );
        drop(ns_file);
        r
    }

    /// Create a bridge device (down). Fails with EEXIST if `name` exists.
    pub fn bridge_add(&mut self, name: &str) -> Result<()> {
        self.kind_add(name, InfoKind::Bridge)
    }

    /// Create a dummy device (down). Fails with EEXIST if `name` exists.
    pub fn dummy_add(&mut self, name: &str) -> Result<()> {
        self.kind_add(name, InfoKind::Dummy)
    }

    fn kind_add(&mut self, name: &str, kind: InfoKind) -> Result<()> {
        check_ifname(name)?;
        let op = format!("add {kind} {name}");
        let mut m = link_by_name(name);
        m.attributes
            .push(LinkAttribute::LinkInfo(vec![NlLinkInfo::Kind(kind)]));
        self.ack(
            &op,
            RouteNetlinkMessage::NewLink(m),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// Interface index of `name`, or None if there is no such link.
    pub fn link_index(&mut self, name: &str) -> Result<Option<u32>> {
        check_ifname(name)?;
        let op = format!("link_index {name}");
        match self.request(&op, RouteNetlinkMessage::GetLink(link_by_name(name)), 0) {
            Ok(replies) => Ok(replies.into_iter().find_map(|r| match r {
                RouteNetlinkMessage::NewLink(l) => Some(l.header.index),
                _ => None,
            })),
            Err(e) if e.errno() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn require_index(&mut self, name: &str) -> Result<u32> {
        self.link_index(name)?.ok_or_else(|| Error::Netlink {
            op: format!("find link {name}"),
            errno: libc::ENODEV,
            message: None,
        })
    }

    /// Modify link `name` (looked up by name by the kernel).
    fn link_modify(
        &mut self,
        op: &str,
        name: &str,
        f: impl FnOnce(&mut LinkMessage),
    ) -> Result<()> {
        check_ifname(name)?;
        let mut m = link_by_name(name);
        f(&mut m);
        self.ack(op, RouteNetlinkMessage::NewLink(m), 0)
    }

    /// `ip link set NAME up`.
    pub fn link_set_up(&mut self, name: &str) -> Result<()> {
        self.link_modify(&format!("link_set_up {name}"), name, |m| {
            m.header.flags = LinkFlags::Up;
            m.header.change_mask = LinkFlags::Up;
        })
    }

    /// `ip link set NAME down`.
    pub fn link_set_down(&mut self, name: &str) -> Result<()> {
        self.link_modify(&format!("link_set_down {name}"), name, |m| {
            m.header.flags = LinkFlags::empty();
            m.header.change_mask = LinkFlags::Up;
        })
    }

    /// `ip link set NAME master MASTER` (enslave to a bridge).
    pub fn link_set_master(&mut self, name: &str, master: &str) -> Result<()> {
        check_ifname(master)?;
        let idx = self.require_index(master)?;
        self.link_modify(&format!("link_set_master {name} {master}"), name, |m| {
            m.attributes.push(LinkAttribute::Controller(idx))
        })
    }

    /// `ip link set NAME nomaster`.
    pub fn link_set_nomaster(&mut self, name: &str) -> Result<()> {
        self.link_modify(&format!("link_set_nomaster {name}"), name, |m| {
            m.attributes.push(LinkAttribute::Controller(0))
        })
    }

    /// Move link `name` into the namespace at `ns` (it goes down there).
    pub fn link_set_netns(&mut self, name: &str, ns: &Path) -> Result<()> {
        let f = netns::open_ns(ns)?;
        let op = format!("link_set_netns {name} {}", ns.display());
        let r = self.link_modify(&op, name, |m| {
            m.attributes.push(LinkAttribute::NetNsFd(f.as_raw_fd()))
        });
        drop(f);
        r
    }

    /// `ip link set NAME address MAC`.
    pub fn link_set_mac(&mut self, name: &str, mac: [u8; 6]) -> Result<()> {
        self.link_modify(&format!("link_set_mac {name}"), name, |m| {
            m.attributes.push(LinkAttribute::Address(mac.to_vec()))
        })
    }

    /// `ip link set NAME mtu MTU`.
    pub fn link_set_mtu(&mut self, name: &str, mtu: u32) -> Result<()> {
        self.link_modify(&format!("link_set_mtu {name}"), name, |m| {
            m.attributes.push(LinkAttribute::Mtu(mtu))
        })
    }

    /// `ip link set NAME name NEW` (the link must be down, as in the kernel).
    pub fn link_rename(&mut self, name: &str, new: &str) -> Result<()> {
        check_ifname(new)?;
        let idx = self.require_index(name)?;
        let mut m = LinkMessage::default();
        m.header.index = idx;
        m.attributes.push(LinkAttribute::IfName(new.to_string()));
        self.ack(
            &format!("link_rename {name} {new}"),
            RouteNetlinkMessage::NewLink(m),
            0,
        )
    }

    /// Delete link `name` (for a veth, both ends go). Returns false if it did not exist.
    pub fn link_del(&mut self, name: &str) -> Result<bool> {
        check_ifname(name)?;
        match self.ack(
            &format!("link_del {name}"),
            RouteNetlinkMessage::DelLink(link_by_name(name)),
            0,
        ) {
            Ok(()) => Ok(true),
            Err(e) if e.errno() == Some(libc::ENODEV) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// All links in this namespace.
    pub fn links(&mut self) -> Result<Vec<LinkInfo>> {
        let replies = self.request(
            "links",
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            NLM_F_DUMP,
        )?;
        Ok(replies
            .into_iter()
            .filter_map(|r| match r {
                RouteNetlinkMessage::NewLink(l) => Some(link_info(l)),
                _ => None,
            })
            .collect())
    }

    /// Add `addr/prefix` to `dev`. Idempotent: an existing identical address is Ok.
    pub fn addr_add(&mut self, dev: &str, addr: IpAddr, prefix: u8) -> Result<()> {
        let op = format!("addr_add {addr}/{prefix} dev {dev}");
        let m = self.addr_msg(dev, addr, prefix)?;
        match self.ack(
            &op,
            RouteNetlinkMessage::NewAddress(m),
            NLM_F_CREATE | NLM_F_EXCL,
        ) {
            Err(e) if e.is_exists() => Ok(()),
            r => r,
        }
    }

    /// Remove `addr/prefix` from `dev`. Returns false if it was not there.
    pub fn addr_del(&mut self, dev: &str, addr: IpAddr, prefix: u8) -> Result<bool> {
        let op = format!("addr_del {addr}/{prefix} dev {dev}");
        let m = self.addr_msg(dev, addr, prefix)?;
        match self.ack(&op, RouteNetlinkMessage::DelAddress(m), 0) {
            Ok(()) => Ok(true),
            Err(e) if e.errno() == Some(libc::EADDRNOTAVAIL) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn addr_msg(&mut self, dev: &str, addr: IpAddr, prefix: u8) -> Result<AddressMessage> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(Error::Invalid(format!(
                "prefix /{prefix} too long for {addr}"
            )));
        }
        let index = self.require_index(dev)?;
        let mut m = AddressMessage::default();
        m.header.family = if addr.is_ipv4() {
            AddressFamily::Inet
        } else {
            AddressFamily::Inet6
        };
        m.header.prefix_len = prefix;
        m.header.scope = if addr.is_loopback() {
            AddressScope::Host
        } else {
            AddressScope::Universe
        };
        m.header.index = index;
        m.attributes.push(AddressAttribute::Local(addr));
        m.attributes.push(AddressAttribute::Address(addr));
        Ok(m)
    }

    /// All addresses (IPv4 and IPv6) in this namespace.
    pub fn addrs(&mut self) -> Result<Vec<AddrInfo>> {
        let replies = self.request(
            "addrs",
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
            NLM_F_DUMP,
        )?;
        let mut out = Vec::new();
        for r in replies {
            let RouteNetlinkMessage::NewAddress(a) = r else {
                continue;
            };
            // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer on
            // point-to-point links, and the only one for IPv6.
            let local = a.attributes.iter().find_map(|x| match x {
                AddressAttribute::Local(ip) => Some(*ip),
                _ => None,
            });
            let address = a.attributes.iter().find_map(|x| match x {
                AddressAttribute::Address(ip) => Some(*ip),
                _ => None,
            });
            if let Some(addr) = local.or(address) {
                out.push(AddrInfo {
                    index: a.header.index,
                    addr,
                    prefix: a.header.prefix_len,
                });
            }
        }
        Ok(out)
    }
}

fn link_info(l: LinkMessage) -> LinkInfo {
    let mut info = LinkInfo {
        name: String::new(),
        index: l.header.index,
        kind: None,
        up: l.header.flags.contains(LinkFlags::Up),
        lower_up: l.header.flags.contains(LinkFlags::LowerUp),
        mac: None,
        mtu: None,
        master: None,
        link: None,
    };
    for a in l.attributes {
        match a {
            LinkAttribute::IfName(n) => info.name = n,
            LinkAttribute::Address(mac) => info.mac = mac.as_slice().try_into().ok(),
            LinkAttribute::Mtu(m) => info.mtu = Some(m),
            LinkAttribute::Controller(m) => info.master = Some(m),
            LinkAttribute::Link(i) => info.link = Some(i),
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    if let NlLinkInfo::Kind(k) = i {
                        info.kind = Some(k.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    info
}

#[cfg(test)]
mod unit {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn netlink_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<Netlink>();
    }

    #[test]
    fn ifname_rules() {
        assert!(check_ifname("eth0").is_ok());
        assert!(check_ifname("cali0123456789a").is_ok());
        assert!(check_ifname("cali0123456789ab").is_err());
        assert!(check_ifname("").is_err());
        assert!(check_ifname("a/b").is_err());
        assert!(check_ifname("a b").is_err());
    }

    #[test]
    fn route_display() {
        let r = Route::default_via(Ipv4Addr::new(169, 254, 1, 1))
            .dev("eth0")
            .onlink();
        assert_eq!(r.to_string(), "default via 169.254.1.1 dev eth0 onlink");
        let r = Route::new(Ipv4Addr::new(10, 1, 1, 5), 32)
            .dev("cali1")
            .scope_link();
        assert_eq!(r.to_string(), "10.1.1.5 dev cali1 scope link");
    }

    #[test]
    fn extack_parsing() {
        // Capped echo: 16-byte header, then one TLV of type 1 with "boom\0".
        let mut echoed = vec![0u8; 16];
        echoed[0..4].copy_from_slice(&40u32.to_ne_bytes());
        let text = b"boom\0";
        let len = (4 + text.len()) as u16;
        echoed.extend_from_slice(&len.to_ne_bytes());
        echoed.extend_from_slice(&1u16.to_ne_bytes());
        echoed.extend_from_slice(text);
        assert_eq!(
            extack_message(NLM_F_CAPPED | NLM_F_ACK_TLVS, &echoed).as_deref(),
            Some("boom")
        );
        assert_eq!(extack_message(NLM_F_CAPPED, &echoed), None);
    }
}
