//! The lab's fake internet: one namespace (`kinet-<lab>-internet`) behind the
//! router, holding the documentation ranges and the public resolvers' addresses
//! on its loopback, a resolver for a built-in zone of well-known names
//! ([`zone`], [`wire`], served by [`serve_udp`] / [`serve_tcp`]) and, from the
//! `kinet` binary, a web server. Its addresses come only from 192.0.2.0/24,
//! 198.51.100.0/24 and 203.0.113.0/24, plus 8.8.8.8, 8.8.4.4 and 1.1.1.1; it has
//! no default route, so nothing it receives goes further: the lab stays sealed.
//!
//! The router, as a home router does, also answers DNS on its LAN address (the
//! nameserver of the nodes', the hostNetwork pods' and `kinet ssh` sessions'
//! /etc/resolv.conf), from the same zone.

pub mod wire;
pub mod zone;

use anyhow::{Context, Result};
use kinet_linux::{Netlink, Route, sysctl_set_many};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The ISP's end of the router's uplink (TEST-NET-2), the router's default gateway.
pub const ISP_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
/// The router's WAN address.
pub const ROUTER_WAN_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
pub const WAN_PREFIX: u8 = 24;
/// The router's uplink (a veth whose other end is the internet's `eth0`).
pub const ROUTER_WAN_LINK: &str = "wan0";
/// Held whole on the internet's loopback: every address in them is a host there.
pub const LOOPBACK_NETS: [(Ipv4Addr, u8); 2] = [
    (Ipv4Addr::new(192, 0, 2, 1), 24),
    (Ipv4Addr::new(203, 0, 113, 1), 24),
];
/// The public resolvers the course names, on the internet's loopback.
pub const PUBLIC_RESOLVERS: [Ipv4Addr; 3] = [
    Ipv4Addr::new(8, 8, 8, 8),
    Ipv4Addr::new(8, 8, 4, 4),
    Ipv4Addr::new(1, 1, 1, 1),
];
/// The machine's CA bundle, which the lab's bundle extends.
pub const HOST_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The only addresses the fake internet may hold.
pub fn is_allowed(ip: Ipv4Addr) -> bool {
    matches!(
        ip.octets(),
        [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _]
    ) || PUBLIC_RESOLVERS.contains(&ip)
}

/// The /etc/resolv.conf of the lab's hosts (and of pods with dnsPolicy Default
/// or hostNetwork): the router, as a home network's DHCP hands it out.
pub fn host_resolv_conf() -> String {
    format!("nameserver {}\n", crate::plan::ROUTER_IP)
}

/// The lab's CA bundle (the machine's bundle and the lab's CA), bind-mounted over
/// [`HOST_CA_BUNDLE`] in pods and `kinet ssh` sessions: `state/ca-certificates.crt`.
pub fn ca_bundle_path(state_dir: &Path) -> PathBuf {
    state_dir.join("ca-certificates.crt")
}

/// Writes [`ca_bundle_path`]: the machine's bundle (when it has one), then `ca_pem`.
pub fn write_ca_bundle(state_dir: &Path, ca_pem: &str) -> Result<PathBuf> {
    let mut text = std::fs::read_to_string(HOST_CA_BUNDLE).unwrap_or_default();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str("# kinet lab CA\n");
    text.push_str(ca_pem);
    let f = ca_bundle_path(state_dir);
    let tmp = f.with_extension("tmp");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &f).with_context(|| format!("writing {}", f.display()))?;
    Ok(f)
}

/// Creates the internet namespace and links it to the router (which must exist).
pub fn build(router_ns: &Path, internet_ns: &Path) -> Result<()> {
    kinet_linux::netns::create(internet_ns)
        .with_context(|| format!("creating {}", internet_ns.display()))?;
    let mut router = Netlink::open(Some(router_ns))?;
    router.veth_add(ROUTER_WAN_LINK, "eth0", Some(internet_ns))?;
    router.addr_add(ROUTER_WAN_LINK, IpAddr::V4(ROUTER_WAN_IP), WAN_PREFIX)?;
    router.link_set_up(ROUTER_WAN_LINK)?;
    router.route_replace(&Route::default_via(ISP_IP).dev(ROUTER_WAN_LINK))?;
    let mut inet = Netlink::open(Some(internet_ns))?;
    inet.link_set_up("lo")?;
    for (ip, prefix) in LOOPBACK_NETS {
        inet.addr_add("lo", IpAddr::V4(ip), prefix)?;
    }
    for ip in PUBLIC_RESOLVERS {
        inet.addr_add("lo", IpAddr::V4(ip), 32)?;
    }
    inet.addr_add("eth0", IpAddr::V4(ISP_IP), WAN_PREFIX)?;
    inet.link_set_up("eth0")?;
    // the lab LAN is behind the router (pods arrive masqueraded as their node)
    let lan = kinet_model::lab::LAN_CIDR;
    inet.route_replace(
        &Route::new(lan.addr, lan.prefix)
            .via(ROUTER_WAN_IP)
            .dev("eth0"),
    )?;
    sysctl_set_many(
        internet_ns,
        &[
            ("net/ipv4/ip_forward", "0"),
            ("net/ipv4/conf/all/rp_filter", "0"),
        ],
    )?;
    Ok(())
}

/// A UDP socket and a TCP listener on `addr`, made inside the namespace `ns`.
pub fn bind_dns(
    ns: &Path,
    addr: SocketAddr,
) -> Result<(std::net::UdpSocket, std::net::TcpListener)> {
    kinet_linux::netns::run_in(ns, move || {
        let u = std::net::UdpSocket::bind(addr).with_context(|| format!("udp {addr}"))?;
        u.set_nonblocking(true)?;
        let t = std::net::TcpListener::bind(addr).with_context(|| format!("tcp {addr}"))?;
        t.set_nonblocking(true)?;
        Ok((u, t))
    })
}

/// Answers DNS over UDP on `sock` until the task is dropped.
pub async fn serve_udp(sock: std::net::UdpSocket) -> Result<()> {
    let sock = Arc::new(tokio::net::UdpSocket::from_std(sock)?);
    let mut buf = vec![0u8; 65535];
    loop {
        let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
            continue;
        };
        if let Some(out) = wire::respond(&buf[..n], false) {
            let _ = sock.send_to(&out, peer).await;
        }
    }
}

/// Answers DNS over TCP (two-byte length prefixes, several queries per
/// connection, idle connections closed after 10 s) until the task is dropped.
pub async fn serve_tcp(l: std::net::TcpListener) -> Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::from_std(l)?;
    loop {
        let Ok((mut s, _)) = l.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        };
        tokio::spawn(async move {
            let idle = std::time::Duration::from_secs(10);
            loop {
                let mut len = [0u8; 2];
                match tokio::time::timeout(idle, s.read_exact(&mut len)).await {
                    Ok(Ok(_)) => {}
                    _ => return,
                }
                let mut q = vec![0u8; usize::from(u16::from_be_bytes(len))];
                match tokio::time::timeout(idle, s.read_exact(&mut q)).await {
                    Ok(Ok(_)) => {}
                    _ => return,
                }
                let Some(out) = wire::respond(&q, true) else {
                    return;
                };
                let Ok(n) = u16::try_from(out.len()) else {
                    return;
                };
                let mut msg = n.to_be_bytes().to_vec();
                msg.extend_from_slice(&out);
                if s.write_all(&msg).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// Serves the zone on UDP and TCP port 53 of `addrs` inside `ns` (bound now, served
/// by tasks on the current tokio runtime).
pub fn spawn_resolver(ns: &Path, addrs: &[Ipv4Addr]) -> Result<()> {
    for ip in addrs {
        let (u, t) = bind_dns(ns, SocketAddr::from((*ip, 53)))
            .with_context(|| format!("the resolver on {ip} in {}", ns.display()))?;
        tokio::spawn(serve_udp(u));
        tokio::spawn(serve_tcp(t));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_documentation_and_public_resolver_addresses() {
        for ip in [ISP_IP, ROUTER_WAN_IP]
            .into_iter()
            .chain(LOOPBACK_NETS.map(|(ip, _)| ip))
            .chain(PUBLIC_RESOLVERS)
        {
            assert!(is_allowed(ip), "{ip}");
        }
        assert!(!is_allowed(Ipv4Addr::new(142, 250, 1, 1)));
        assert!(!is_allowed(Ipv4Addr::new(192, 168, 1, 1)));
        assert!(LOOPBACK_NETS.iter().all(|(_, p)| *p == 24));
        for (_, ip) in zone::HOSTS {
            assert!(
                PUBLIC_RESOLVERS.contains(ip)
                    || LOOPBACK_NETS
                        .iter()
                        .any(|(n, _)| n.octets()[..3] == ip.octets()[..3]),
                "{ip} is not held by the internet"
            );
        }
    }

    #[test]
    fn hosts_resolve_through_the_router() {
        assert_eq!(host_resolv_conf(), "nameserver 192.168.1.1\n");
    }

    #[test]
    fn the_bundle_ends_with_the_labs_ca() {
        let d = std::env::temp_dir().join(format!("kinet-bundle-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let f = write_ca_bundle(
            &d,
            "-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(text.ends_with(
            "# kinet lab CA\n-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n"
        ));
        std::fs::remove_dir_all(&d).unwrap();
    }
}
