//! The fake internet's zone: the well-known names the course reaches, with
//! addresses from the documentation ranges, as a pure table and a pure lookup.
//! The resolver answers as a recursive resolver does (recursion available, not
//! authoritative): A records for known names, PTR records for their addresses,
//! NODATA for other types of a known name and NXDOMAIN for the rest, both with
//! the SOA of the closest known zone (the root's when there is none).

use std::net::Ipv4Addr;

/// TTL of the zone's answers.
pub const TTL: u32 = 300;

/// (name, address) of every well-known host. Names are lowercase, without the final dot.
pub const HOSTS: &[(&str, Ipv4Addr)] = &[
    // the public resolvers the course uses literally (on the internet's loopback)
    ("dns.google", Ipv4Addr::new(8, 8, 8, 8)),
    ("dns.google", Ipv4Addr::new(8, 8, 4, 4)),
    ("one.one.one.one", Ipv4Addr::new(1, 1, 1, 1)),
    // 192.0.2.0/24 (TEST-NET-1)
    ("google.com", Ipv4Addr::new(192, 0, 2, 10)),
    ("www.google.com", Ipv4Addr::new(192, 0, 2, 11)),
    ("example.com", Ipv4Addr::new(192, 0, 2, 20)),
    ("www.example.com", Ipv4Addr::new(192, 0, 2, 21)),
    ("example.org", Ipv4Addr::new(192, 0, 2, 22)),
    ("example.net", Ipv4Addr::new(192, 0, 2, 23)),
    ("github.com", Ipv4Addr::new(192, 0, 2, 30)),
    ("www.github.com", Ipv4Addr::new(192, 0, 2, 31)),
    ("api.github.com", Ipv4Addr::new(192, 0, 2, 32)),
    ("raw.githubusercontent.com", Ipv4Addr::new(192, 0, 2, 33)),
    ("ghcr.io", Ipv4Addr::new(192, 0, 2, 34)),
    ("kubernetes.io", Ipv4Addr::new(192, 0, 2, 40)),
    ("www.kubernetes.io", Ipv4Addr::new(192, 0, 2, 41)),
    ("k8s.io", Ipv4Addr::new(192, 0, 2, 42)),
    ("registry.k8s.io", Ipv4Addr::new(192, 0, 2, 43)),
    ("dl.k8s.io", Ipv4Addr::new(192, 0, 2, 44)),
    ("microk8s.io", Ipv4Addr::new(192, 0, 2, 45)),
    ("coredns.io", Ipv4Addr::new(192, 0, 2, 50)),
    ("docs.projectcalico.org", Ipv4Addr::new(192, 0, 2, 51)),
    ("metallb.io", Ipv4Addr::new(192, 0, 2, 52)),
    ("cert-manager.io", Ipv4Addr::new(192, 0, 2, 53)),
    ("helm.sh", Ipv4Addr::new(192, 0, 2, 54)),
    // 203.0.113.0/24 (TEST-NET-3)
    ("docker.io", Ipv4Addr::new(203, 0, 113, 10)),
    ("registry-1.docker.io", Ipv4Addr::new(203, 0, 113, 11)),
    ("hub.docker.com", Ipv4Addr::new(203, 0, 113, 12)),
    ("quay.io", Ipv4Addr::new(203, 0, 113, 13)),
    ("ubuntu.com", Ipv4Addr::new(203, 0, 113, 20)),
    ("archive.ubuntu.com", Ipv4Addr::new(203, 0, 113, 21)),
    ("debian.org", Ipv4Addr::new(203, 0, 113, 22)),
    ("deb.debian.org", Ipv4Addr::new(203, 0, 113, 23)),
    ("dl-cdn.alpinelinux.org", Ipv4Addr::new(203, 0, 113, 24)),
    ("pypi.org", Ipv4Addr::new(203, 0, 113, 25)),
    ("registry.npmjs.org", Ipv4Addr::new(203, 0, 113, 26)),
    ("wikipedia.org", Ipv4Addr::new(203, 0, 113, 30)),
    ("www.wikipedia.org", Ipv4Addr::new(203, 0, 113, 31)),
    ("cloudflare.com", Ipv4Addr::new(203, 0, 113, 32)),
    ("httpbin.org", Ipv4Addr::new(203, 0, 113, 33)),
    ("ifconfig.me", Ipv4Addr::new(203, 0, 113, 34)),
    ("icanhazip.com", Ipv4Addr::new(203, 0, 113, 35)),
];

/// The zones (apexes) the table's names live in; a name under one gets its SOA.
pub const ZONES: &[&str] = &[
    "dns.google",
    "one.one.one.one",
    "google.com",
    "example.com",
    "example.org",
    "example.net",
    "github.com",
    "githubusercontent.com",
    "ghcr.io",
    "kubernetes.io",
    "k8s.io",
    "microk8s.io",
    "coredns.io",
    "projectcalico.org",
    "metallb.io",
    "cert-manager.io",
    "helm.sh",
    "docker.io",
    "docker.com",
    "quay.io",
    "ubuntu.com",
    "debian.org",
    "alpinelinux.org",
    "pypi.org",
    "npmjs.org",
    "wikipedia.org",
    "cloudflare.com",
    "httpbin.org",
    "ifconfig.me",
    "icanhazip.com",
];

/// Query types the zone knows by number (RFC 1035 and later).
pub mod qtype {
    pub const A: u16 = 1;
    pub const NS: u16 = 2;
    pub const SOA: u16 = 6;
    pub const PTR: u16 = 12;
    pub const AAAA: u16 = 28;
    pub const ANY: u16 = 255;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Soa {
    /// The zone's apex ("" for the root).
    pub zone: String,
    pub mname: String,
    pub rname: String,
    pub serial: u32,
    pub refresh: u32,
    pub retry: u32,
    pub expire: u32,
    pub minimum: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data {
    A(Ipv4Addr),
    /// The target name, without the final dot.
    Ptr(String),
    Soa(Soa),
}

/// One record: owner name (as asked, case kept, no final dot), TTL, data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rr {
    pub name: String,
    pub ttl: u32,
    pub data: Data,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rcode {
    NoError,
    NxDomain,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub rcode: Rcode,
    pub answers: Vec<Rr>,
    pub authority: Vec<Rr>,
}

fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// The SOA of `zone` ("" is the root, as the root servers publish it).
pub fn soa(zone: &str) -> Soa {
    if zone.is_empty() {
        return Soa {
            zone: String::new(),
            mname: "a.root-servers.net".into(),
            rname: "nstld.verisign-grs.com".into(),
            serial: 2026120100,
            refresh: 1800,
            retry: 900,
            expire: 604800,
            minimum: 86400,
        };
    }
    Soa {
        zone: zone.to_string(),
        mname: format!("ns1.{zone}"),
        rname: format!("dns-admin.{zone}"),
        serial: 2026120101,
        refresh: 900,
        retry: 900,
        expire: 1800,
        minimum: 60,
    }
}

/// The closest known zone holding `name` (lowercase, no final dot), or the root ("").
fn zone_of(name: &str) -> &'static str {
    ZONES
        .iter()
        .filter(|z| name == **z || name.ends_with(&format!(".{z}")))
        .max_by_key(|z| z.len())
        .copied()
        .unwrap_or("")
}

/// True for a name above a known one (`com`, `io`): it exists, with no records.
fn is_ancestor(name: &str) -> bool {
    let below = format!(".{name}");
    ZONES.iter().any(|z| z.ends_with(&below))
}

/// The address behind an `in-addr.arpa` name (`4.3.2.1.in-addr.arpa` → 1.2.3.4).
fn reverse_addr(name: &str) -> Option<Ipv4Addr> {
    let labels = name.strip_suffix(".in-addr.arpa")?;
    let mut parts: Vec<u8> = labels
        .split('.')
        .map(|l| l.parse::<u8>().ok())
        .collect::<Option<_>>()?;
    if parts.len() != 4 {
        return None;
    }
    parts.reverse();
    Some(Ipv4Addr::new(parts[0], parts[1], parts[2], parts[3]))
}

/// The addresses of a well-known name (lowercase or not, final dot or not).
pub fn addresses(name: &str) -> Vec<Ipv4Addr> {
    let n = normalize(name);
    HOSTS
        .iter()
        .filter(|(h, _)| *h == n)
        .map(|(_, ip)| *ip)
        .collect()
}

/// The zone's answer to one question (name as asked, type by number).
pub fn lookup(qname: &str, qtype: u16) -> Answer {
    let name = normalize(qname);
    let asked = qname.trim_end_matches('.').to_string();
    let rr = |data: Data| Rr {
        name: asked.clone(),
        ttl: TTL,
        data,
    };
    if let Some(ip) = reverse_addr(&name) {
        let names: Vec<&str> = HOSTS
            .iter()
            .filter(|(_, a)| *a == ip)
            .map(|(h, _)| *h)
            .collect();
        if let Some(first) = names.first() {
            let answers = if matches!(qtype, qtype::PTR | qtype::ANY) {
                vec![rr(Data::Ptr(first.to_string()))]
            } else {
                vec![]
            };
            let authority = if answers.is_empty() {
                vec![soa_rr("in-addr.arpa")]
            } else {
                vec![]
            };
            return Answer {
                rcode: Rcode::NoError,
                answers,
                authority,
            };
        }
        return nxdomain("in-addr.arpa");
    }
    let zone = zone_of(&name);
    let addrs = addresses(&name);
    let is_apex = name == zone;
    if addrs.is_empty() && !is_apex && !is_ancestor(&name) {
        return nxdomain(zone);
    }
    let mut answers: Vec<Rr> = Vec::new();
    if matches!(qtype, qtype::A | qtype::ANY) {
        answers.extend(addrs.iter().map(|ip| rr(Data::A(*ip))));
    }
    if is_apex && matches!(qtype, qtype::SOA | qtype::ANY) {
        answers.push(rr(Data::Soa(soa(zone))));
    }
    let authority = if answers.is_empty() {
        vec![soa_rr(zone)]
    } else {
        vec![]
    };
    Answer {
        rcode: Rcode::NoError,
        answers,
        authority,
    }
}

fn soa_rr(zone: &str) -> Rr {
    let s = soa(zone);
    Rr {
        name: zone.to_string(),
        ttl: s.minimum,
        data: Data::Soa(s),
    }
}

fn nxdomain(zone: &str) -> Answer {
    Answer {
        rcode: Rcode::NxDomain,
        answers: vec![],
        authority: vec![soa_rr(zone)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(ip: [u8; 4]) -> Data {
        Data::A(Ipv4Addr::from(ip))
    }

    #[test]
    fn well_known_names_have_documentation_addresses() {
        let r = lookup("google.com.", qtype::A);
        assert_eq!(r.rcode, Rcode::NoError);
        assert_eq!(r.answers.len(), 1);
        assert_eq!(r.answers[0].data, a([192, 0, 2, 10]));
        assert_eq!(r.answers[0].ttl, TTL);
        assert!(r.authority.is_empty());
        // case is kept as asked, matching is not case sensitive
        let r = lookup("WWW.Example.COM", qtype::A);
        assert_eq!(r.answers[0].name, "WWW.Example.COM");
        assert_eq!(r.answers[0].data, a([192, 0, 2, 21]));
        assert_eq!(lookup("dns.google", qtype::A).answers.len(), 2);
    }

    #[test]
    fn every_address_is_documentation_or_a_public_resolver() {
        let public = [[8, 8, 8, 8], [8, 8, 4, 4], [1, 1, 1, 1]].map(Ipv4Addr::from);
        for (name, ip) in HOSTS {
            let o = ip.octets();
            let doc = matches!(o, [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _]);
            assert!(doc || public.contains(ip), "{name} {ip}");
            assert_eq!(*name, name.to_ascii_lowercase());
            assert!(!zone_of(name).is_empty(), "{name} is in no zone");
        }
        // one address per web name, so the server can tell the host by address
        for (i, (n1, ip1)) in HOSTS.iter().enumerate() {
            for (n2, ip2) in &HOSTS[i + 1..] {
                assert!(ip1 != ip2 || n1 == n2, "{n1} and {n2} share {ip1}");
            }
        }
    }

    #[test]
    fn other_types_of_known_names_are_nodata_with_the_zones_soa() {
        let r = lookup("www.google.com", qtype::AAAA);
        assert_eq!(r.rcode, Rcode::NoError);
        assert!(r.answers.is_empty());
        assert_eq!(r.authority.len(), 1);
        assert_eq!(r.authority[0].name, "google.com");
        let Data::Soa(s) = &r.authority[0].data else {
            panic!("{r:?}")
        };
        assert_eq!(s.mname, "ns1.google.com");
        assert_eq!(r.authority[0].ttl, s.minimum);
        // the apex answers its SOA
        let r = lookup("google.com", qtype::SOA);
        assert!(matches!(r.answers[0].data, Data::Soa(_)));
        // an apex without an address (githubusercontent.com) exists: NODATA
        let r = lookup("githubusercontent.com", qtype::A);
        assert_eq!((r.rcode, r.answers.len()), (Rcode::NoError, 0));
    }

    #[test]
    fn unknown_names_are_nxdomain_with_an_soa() {
        let r = lookup("nonexistent.google.com", qtype::A);
        assert_eq!(r.rcode, Rcode::NxDomain);
        assert_eq!(r.authority[0].name, "google.com");
        let r = lookup("no-such-host.invalid.", qtype::A);
        assert_eq!(r.rcode, Rcode::NxDomain);
        assert!(r.answers.is_empty());
        let Data::Soa(s) = &r.authority[0].data else {
            panic!("{r:?}")
        };
        assert_eq!(
            (s.zone.as_str(), s.mname.as_str()),
            ("", "a.root-servers.net")
        );
        // a name is not a zone by suffix alone
        assert_eq!(lookup("notgoogle.com", qtype::A).rcode, Rcode::NxDomain);
        assert_eq!(lookup("nosuchtld", qtype::A).rcode, Rcode::NxDomain);
    }

    #[test]
    fn the_root_and_the_names_above_known_ones_exist() {
        // the root answers its SOA (CoreDNS's forward health check asks `. NS`)
        let r = lookup(".", qtype::SOA);
        assert_eq!(r.rcode, Rcode::NoError);
        assert!(matches!(&r.answers[0].data, Data::Soa(s) if s.mname == "a.root-servers.net"));
        assert_eq!(lookup(".", qtype::NS).rcode, Rcode::NoError);
        for tld in ["com", "io.", "ORG"] {
            let r = lookup(tld, qtype::A);
            assert_eq!((r.rcode, r.answers.len()), (Rcode::NoError, 0), "{tld}");
        }
    }

    #[test]
    fn addresses_have_reverse_names() {
        let r = lookup("8.8.8.8.in-addr.arpa.", qtype::PTR);
        assert_eq!(r.answers[0].data, Data::Ptr("dns.google".into()));
        let r = lookup("10.2.0.192.in-addr.arpa", qtype::PTR);
        assert_eq!(r.answers[0].data, Data::Ptr("google.com".into()));
        assert!(
            lookup("10.2.0.192.in-addr.arpa", qtype::A)
                .answers
                .is_empty()
        );
        for q in [
            "9.9.9.9.in-addr.arpa",
            "1.2.3.in-addr.arpa",
            "x.1.2.3.in-addr.arpa",
        ] {
            assert_eq!(lookup(q, qtype::PTR).rcode, Rcode::NxDomain, "{q}");
        }
    }
}
