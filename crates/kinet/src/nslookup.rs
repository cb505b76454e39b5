//! `nslookup` as busybox 1.28 and older had it (the tag of Kubernetes' DNS
//! debugging guide, and the output the course prints): the name goes through the
//! whole search path of /etc/resolv.conf as the C library's resolver walks it,
//! every address is printed with its reverse name, and the server line names the
//! server by its PTR record:
//!
//! ```text
//! Server:    10.152.183.10
//! Address 1: 10.152.183.10 kube-dns.kube-system.svc.cluster.local
//!
//! Name:      kubernetes
//! Address 1: 10.152.183.1 kubernetes.default.svc.cluster.local
//! ```
//!
//! Newer busybox (the host's) appends only the first search domain, and prints
//! another format; busybox images of those tags run the host's applet.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

const USAGE: &str = "BusyBox v1.28.4 (2018-05-22 17:00:17 UTC) multi-call binary.

Usage: nslookup [HOST] [SERVER]

Query the nameserver for the IP address of the given HOST
optionally using a specified DNS server
";

/// What /etc/resolv.conf says, as the resolver reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvConf {
    pub nameservers: Vec<IpAddr>,
    pub search: Vec<String>,
    pub ndots: usize,
    pub timeout: Duration,
    pub attempts: u32,
}

impl ResolvConf {
    pub fn parse(text: &str) -> ResolvConf {
        let mut rc = ResolvConf {
            nameservers: Vec::new(),
            search: Vec::new(),
            ndots: 1,
            timeout: Duration::from_secs(5),
            attempts: 2,
        };
        for line in text.lines() {
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => {
                    if let Some(ip) = words.next().and_then(|w| w.parse().ok()) {
                        rc.nameservers.push(ip);
                    }
                }
                // the last search (or domain) line wins
                Some("search") => rc.search = words.map(str::to_string).collect(),
                Some("domain") => rc.search = words.take(1).map(str::to_string).collect(),
                Some("options") => {
                    for o in words {
                        let num = |p: &str| o.strip_prefix(p).and_then(|v| v.parse::<u64>().ok());
                        if let Some(n) = num("ndots:") {
                            rc.ndots = n.min(15) as usize;
                        } else if let Some(n) = num("timeout:") {
                            rc.timeout = Duration::from_secs(n.clamp(1, 30));
                        } else if let Some(n) = num("attempts:") {
                            rc.attempts = n.clamp(1, 5) as u32;
                        }
                    }
                }
                _ => {}
            }
        }
        rc
    }

    /// The names the resolver tries for `name`, in order: with fewer dots than
    /// `ndots`, the search domains first and the name as is last; otherwise the
    /// other way round. A trailing dot means the name is absolute.
    pub fn candidates(&self, name: &str) -> Vec<String> {
        if let Some(abs) = name.strip_suffix('.') {
            return vec![abs.to_string()];
        }
        let searched = self.search.iter().map(|d| format!("{name}.{d}"));
        if name.matches('.').count() >= self.ndots {
            std::iter::once(name.to_string()).chain(searched).collect()
        } else {
            searched.chain(std::iter::once(name.to_string())).collect()
        }
    }
}

/// An /etc/hosts entry for `name` (case-insensitive), or the name of `ip`.
fn hosts_lookup(hosts: &str, name: Option<&str>, ip: Option<IpAddr>) -> Vec<(IpAddr, String)> {
    let mut out = Vec::new();
    for line in hosts.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_whitespace();
        let Some(addr) = words.next().and_then(|w| w.parse::<IpAddr>().ok()) else {
            continue;
        };
        let names: Vec<&str> = words.collect();
        let Some(first) = names.first() else { continue };
        if name.is_some_and(|n| names.iter().any(|h| h.eq_ignore_ascii_case(n))) || ip == Some(addr)
        {
            out.push((addr, first.to_string()));
        }
    }
    out
}

enum Outcome {
    Found(Vec<RData>),
    /// NXDOMAIN or no records of the type.
    None,
    /// No server answered.
    Unreachable,
}

struct Resolver {
    server: SocketAddr,
    timeout: Duration,
    attempts: u32,
}

impl Resolver {
    fn query(&self, name: &str, typ: RecordType) -> Outcome {
        let Ok(qname) = Name::from_ascii(format!("{name}.")) else {
            return Outcome::None;
        };
        let mut msg = Message::new();
        msg.set_id(rand::random())
            .set_recursion_desired(true)
            .add_query(Query::query(qname, typ));
        let Ok(wire) = msg.to_vec() else {
            return Outcome::None;
        };
        let bind = if self.server.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        };
        let Ok(sock) = UdpSocket::bind(bind) else {
            return Outcome::Unreachable;
        };
        let _ = sock.set_read_timeout(Some(self.timeout));
        let mut buf = [0u8; 4096];
        for _ in 0..self.attempts {
            if sock.send_to(&wire, self.server).is_err() {
                return Outcome::Unreachable;
            }
            while let Ok((n, from)) = sock.recv_from(&mut buf) {
                let Ok(resp) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                if from != self.server || resp.id() != msg.id() {
                    continue;
                }
                if resp.response_code() != ResponseCode::NoError {
                    return Outcome::None;
                }
                let data: Vec<RData> = resp
                    .answers()
                    .iter()
                    .filter(|r| r.record_type() == typ)
                    .map(|r| r.data().clone())
                    .collect();
                return if data.is_empty() {
                    Outcome::None
                } else {
                    Outcome::Found(data)
                };
            }
        }
        Outcome::Unreachable
    }

    /// The addresses of `name` (A, then AAAA), walking the search path; None when no
    /// candidate has any.
    fn addresses(&self, rc: &ResolvConf, name: &str) -> Option<Vec<IpAddr>> {
        for cand in rc.candidates(name) {
            let mut ips = Vec::new();
            let mut unreachable = true;
            for typ in [RecordType::A, RecordType::AAAA] {
                match self.query(&cand, typ) {
                    Outcome::Found(data) => {
                        unreachable = false;
                        ips.extend(data.iter().filter_map(|d| match d {
                            RData::A(a) => Some(IpAddr::V4(a.0)),
                            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                            _ => None,
                        }));
                    }
                    Outcome::None => unreachable = false,
                    Outcome::Unreachable => {}
                }
            }
            if !ips.is_empty() {
                return Some(ips);
            }
            // a resolver that no server answers gives up at once
            if unreachable {
                return None;
            }
        }
        None
    }

    /// The PTR name of `ip`, without the trailing dot.
    fn reverse(&self, ip: IpAddr) -> Option<String> {
        let name = match ip {
            IpAddr::V4(v4) => {
                let o = v4.octets();
                format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
            }
            IpAddr::V6(v6) => {
                let hex: String = v6.octets().iter().map(|b| format!("{b:02x}")).collect();
                let nibbles: Vec<String> = hex.chars().rev().map(|c| c.to_string()).collect();
                format!("{}.ip6.arpa", nibbles.join("."))
            }
        };
        match self.query(&name, RecordType::PTR) {
            Outcome::Found(data) => data.iter().find_map(|d| match d {
                RData::PTR(p) => Some(p.0.to_ascii().trim_end_matches('.').to_string()),
                _ => None,
            }),
            _ => None,
        }
    }
}

/// The lines `print_host` writes for a header and its addresses.
fn host_lines(header: &str, name: &str, addrs: &[(IpAddr, Option<String>)]) -> String {
    let mut out = format!("{header:<10} {name}\n");
    for (i, (ip, rev)) in addrs.iter().enumerate() {
        match rev {
            Some(r) => out.push_str(&format!("Address {}: {ip} {r}\n", i + 1)),
            None => out.push_str(&format!("Address {}: {ip}\n", i + 1)),
        }
    }
    out
}

pub fn run(args: &[String]) -> i32 {
    let (host, server) = match args {
        [h] if !h.starts_with('-') => (h.as_str(), None),
        [h, s] if !h.starts_with('-') => (h.as_str(), Some(s.as_str())),
        _ => {
            eprint!("{USAGE}");
            return 1;
        }
    };
    let rc = ResolvConf::parse(&std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default());
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    let server_ip = match server {
        None => rc
            .nameservers
            .first()
            .copied()
            .unwrap_or(IpAddr::from([127, 0, 0, 1])),
        Some(s) => match s.parse::<IpAddr>() {
            Ok(ip) => ip,
            Err(_) => match hosts_lookup(&hosts, Some(s), None).first() {
                Some((ip, _)) => *ip,
                None => {
                    eprintln!("nslookup: can't resolve '{s}'");
                    return 1;
                }
            },
        },
    };
    let r = Resolver {
        server: SocketAddr::new(server_ip, 53),
        timeout: rc.timeout,
        attempts: rc.attempts,
    };
    let reverse = |ip: IpAddr| {
        hosts_lookup(&hosts, None, Some(ip))
            .into_iter()
            .next()
            .map(|(_, n)| n)
            .or_else(|| r.reverse(ip))
    };
    let server_text = server_ip.to_string();
    println!(
        "{}",
        host_lines("Server:", &server_text, &[(server_ip, reverse(server_ip))])
    );
    let addrs: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => {
            let local: Vec<IpAddr> = hosts_lookup(&hosts, Some(host), None)
                .into_iter()
                .map(|(ip, _)| ip)
                .collect();
            if local.is_empty() {
                r.addresses(&rc, host).unwrap_or_default()
            } else {
                local
            }
        }
    };
    if addrs.is_empty() {
        eprintln!("nslookup: can't resolve '{host}'");
        return 1;
    }
    let named: Vec<(IpAddr, Option<String>)> = addrs.iter().map(|ip| (*ip, reverse(*ip))).collect();
    print!("{}", host_lines("Name:", host, &named));
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    const POD: &str = "search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.152.183.10\noptions ndots:5\n";

    #[test]
    fn resolv_conf_and_the_search_path() {
        let rc = ResolvConf::parse(POD);
        assert_eq!(
            rc.nameservers,
            vec!["10.152.183.10".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(rc.ndots, 5);
        assert_eq!(
            rc.candidates("kubernetes.default"),
            [
                "kubernetes.default.default.svc.cluster.local",
                "kubernetes.default.svc.cluster.local",
                "kubernetes.default.cluster.local",
                "kubernetes.default",
            ]
        );
        assert_eq!(rc.candidates("google.com.")[..], ["google.com"]);
        let host = ResolvConf::parse("nameserver 192.168.1.1\n");
        assert_eq!(host.ndots, 1);
        assert_eq!(host.candidates("google.com")[..], ["google.com"]);
    }

    #[test]
    fn the_output_of_busybox_1_28() {
        let server: IpAddr = "10.152.183.10".parse().unwrap();
        assert_eq!(
            host_lines(
                "Server:",
                "10.152.183.10",
                &[(
                    server,
                    Some("kube-dns.kube-system.svc.cluster.local".into())
                )]
            ),
            "Server:    10.152.183.10\nAddress 1: 10.152.183.10 kube-dns.kube-system.svc.cluster.local\n"
        );
        let a: IpAddr = "10.1.1.10".parse().unwrap();
        let b: IpAddr = "10.1.1.11".parse().unwrap();
        assert_eq!(
            host_lines("Name:", "db", &[(a, None), (b, None)]),
            "Name:      db\nAddress 1: 10.1.1.10\nAddress 2: 10.1.1.11\n"
        );
    }

    #[test]
    fn etc_hosts_first() {
        let hosts = "127.0.0.1 localhost\n10.1.1.5\tbusybox  # the pod\n";
        assert_eq!(
            hosts_lookup(hosts, Some("BusyBox"), None),
            [("10.1.1.5".parse().unwrap(), "busybox".to_string())]
        );
        assert_eq!(
            hosts_lookup(hosts, None, Some("127.0.0.1".parse().unwrap()))[0].1,
            "localhost"
        );
    }
}
