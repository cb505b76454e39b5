//! The Kubernetes DNS-Based Service Discovery specification (schema 1.1.0)
//! as CoreDNS's kubernetes plugin answers it: a pure function from the
//! cluster's Services, EndpointSlices and Pods and a question to the answer,
//! authority and additional sections, NXDOMAIN or NODATA with the zone's SOA.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::rr::RecordType;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;

use crate::config::{Kubernetes, PodsMode, in_zone};

/// The schema version `dns-version.<zone>` answers.
pub const SCHEMA_VERSION: &str = "1.1.0";

/// What the kubernetes plugin sees of the cluster.
#[derive(Debug, Clone, Copy)]
pub struct Cluster<'a> {
    pub services: &'a [Service],
    pub slices: &'a [EndpointSlice],
    pub pods: &'a [Pod],
    /// The names of the cluster's Namespaces (as the Namespace watch lists
    /// them); empty: known only through Services and Pods.
    pub namespaces: &'a [String],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Soa {
    pub mname: String,
    pub rname: String,
    pub serial: u32,
    pub refresh: u32,
    pub retry: u32,
    pub expire: u32,
    pub minimum: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RData {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Cname(String),
    Srv {
        priority: u16,
        weight: u16,
        port: u16,
        target: String,
    },
    Ptr(String),
    Txt(String),
    Ns(String),
    Soa(Soa),
}

impl RData {
    pub fn record_type(&self) -> RecordType {
        match self {
            RData::A(_) => RecordType::A,
            RData::Aaaa(_) => RecordType::AAAA,
            RData::Cname(_) => RecordType::CNAME,
            RData::Srv { .. } => RecordType::SRV,
            RData::Ptr(_) => RecordType::PTR,
            RData::Txt(_) => RecordType::TXT,
            RData::Ns(_) => RecordType::NS,
            RData::Soa(_) => RecordType::SOA,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Fully qualified; the question's own case for answers to it.
    pub name: String,
    pub ttl: u32,
    pub data: RData,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rcode {
    NoError,
    NxDomain,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub rcode: Rcode,
    /// The zone (lower case, fully qualified) that answered.
    pub zone: String,
    pub answer: Vec<Record>,
    pub authority: Vec<Record>,
    pub additional: Vec<Record>,
}

impl Answer {
    /// NOERROR with no answer: the name exists, not with this type.
    pub fn is_nodata(&self) -> bool {
        self.rcode == Rcode::NoError && self.answer.is_empty()
    }
}

/// The zone's SOA record as CoreDNS makes it.
pub fn soa(zone: &str, ttl: u32, serial: u32) -> Record {
    Record {
        name: zone.to_string(),
        ttl,
        data: RData::Soa(Soa {
            mname: format!("ns.dns.{zone}"),
            rname: format!("hostmaster.{zone}"),
            serial,
            refresh: 7200,
            retry: 1800,
            expire: 86400,
            minimum: ttl,
        }),
    }
}

/// Dashed form of an address (`10-1-2-3`, `fd00--1`), as endpoint and pod names use it.
pub fn dashed(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v) => v.to_string().replace('.', "-"),
        IpAddr::V6(v) => v.to_string().replace(':', "-"),
    }
}

/// The reverse name of an address (`4.3.2.1.in-addr.arpa.`).
pub fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v) => {
            let o = v.octets();
            format!("{}.{}.{}.{}.in-addr.arpa.", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v) => {
            let mut s = String::new();
            for b in v.octets().iter().rev() {
                s.push_str(&format!("{:x}.{:x}.", b & 0xf, b >> 4));
            }
            s + "ip6.arpa."
        }
    }
}

/// The address a reverse name stands for.
pub fn parse_reverse(name: &str) -> Option<IpAddr> {
    let n = name.to_ascii_lowercase();
    let n = n.trim_end_matches('.');
    if let Some(rest) = n.strip_suffix(".in-addr.arpa") {
        let labels: Vec<&str> = rest.split('.').collect();
        if labels.len() != 4 {
            return None;
        }
        let mut o = [0u8; 4];
        for (i, l) in labels.iter().rev().enumerate() {
            o[i] = l.parse().ok()?;
        }
        return Some(IpAddr::V4(Ipv4Addr::from(o)));
    }
    if let Some(rest) = n.strip_suffix(".ip6.arpa") {
        let labels: Vec<&str> = rest.split('.').collect();
        if labels.len() != 32 {
            return None;
        }
        let mut o = [0u8; 16];
        for (i, l) in labels.iter().rev().enumerate() {
            let d = u8::from_str_radix(l, 16).ok().filter(|_| l.len() == 1)?;
            o[i / 2] |= if i % 2 == 0 { d << 4 } else { d };
        }
        return Some(IpAddr::V6(Ipv6Addr::from(o)));
    }
    None
}

fn undash(label: &str) -> Option<IpAddr> {
    if label.contains('.') || label.contains(':') {
        return None;
    }
    if let Ok(v) = label.replace('-', ".").parse::<Ipv4Addr>() {
        return Some(IpAddr::V4(v));
    }
    label
        .replace('-', ":")
        .parse::<Ipv6Addr>()
        .ok()
        .map(IpAddr::V6)
}

fn fqdn(s: &str) -> String {
    if s.ends_with('.') {
        s.to_string()
    } else {
        format!("{s}.")
    }
}

fn ns_of(s: &Service) -> &str {
    s.metadata.namespace.as_deref().unwrap_or("default")
}

fn name_of(s: &Service) -> &str {
    s.metadata.name.as_deref().unwrap_or_default()
}

fn cluster_ips(s: &Service) -> Vec<IpAddr> {
    let Some(spec) = &s.spec else {
        return Vec::new();
    };
    let ips: Vec<&String> = match &spec.cluster_ips {
        Some(v) if !v.is_empty() => v.iter().collect(),
        _ => spec.cluster_ip.iter().collect(),
    };
    ips.iter().filter_map(|i| i.parse().ok()).collect()
}

fn is_external_name(s: &Service) -> Option<&str> {
    let spec = s.spec.as_ref()?;
    (spec.type_.as_deref() == Some("ExternalName"))
        .then_some(spec.external_name.as_deref())
        .flatten()
}

fn is_headless(s: &Service) -> bool {
    is_external_name(s).is_none()
        && s.spec
            .as_ref()
            .is_some_and(|sp| sp.cluster_ip.as_deref() == Some("None"))
}

/// A ready (or published not-ready) endpoint address of a Service.
#[derive(Debug, Clone)]
struct Endpoint {
    ip: IpAddr,
    hostname: String,
}

fn endpoints(c: &Cluster, s: &Service, pod_names: bool) -> Vec<Endpoint> {
    let publish = s
        .spec
        .as_ref()
        .and_then(|sp| sp.publish_not_ready_addresses)
        .unwrap_or(false);
    let mut out: Vec<Endpoint> = Vec::new();
    for sl in c.slices {
        if sl.metadata.namespace.as_deref().unwrap_or("default") != ns_of(s) {
            continue;
        }
        let owner = sl
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("kubernetes.io/service-name"));
        if owner.map(String::as_str) != Some(name_of(s)) {
            continue;
        }
        for e in sl.endpoints.iter().flatten() {
            let ready = e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true);
            if !ready && !publish {
                continue;
            }
            for a in &e.addresses {
                let Ok(ip) = a.parse::<IpAddr>() else {
                    continue;
                };
                if out.iter().any(|o| o.ip == ip) {
                    continue;
                }
                let pod = e
                    .target_ref
                    .as_ref()
                    .filter(|t| t.kind.as_deref() == Some("Pod"))
                    .and_then(|t| t.name.clone());
                let hostname = match (&e.hostname, pod) {
                    (Some(h), _) if !h.is_empty() => h.clone(),
                    (_, Some(p)) if pod_names => p,
                    _ => dashed(ip),
                };
                out.push(Endpoint { ip, hostname });
            }
        }
    }
    out
}

fn addr_record(name: &str, ttl: u32, ip: IpAddr) -> Record {
    Record {
        name: name.to_string(),
        ttl,
        data: match ip {
            IpAddr::V4(v) => RData::A(v),
            IpAddr::V6(v) => RData::Aaaa(v),
        },
    }
}

fn wants(qtype: RecordType, ip: IpAddr) -> bool {
    matches!(
        (qtype, ip),
        (RecordType::A, IpAddr::V4(_)) | (RecordType::AAAA, IpAddr::V6(_))
    )
}

/// Answers `qname`/`qtype` from the kubernetes plugin's zones, or `None` when
/// `qname` is in none of them (the next plugin's business). An NXDOMAIN that
/// `cfg.falls_through(qname)` should go to the next plugin instead.
pub fn resolve(
    c: &Cluster,
    cfg: &Kubernetes,
    qname: &str,
    qtype: RecordType,
    serial: u32,
) -> Option<Answer> {
    resolve_at(c, cfg, qname, qtype, serial, 0)
}

/// How many in-cluster CNAMEs are followed (a cycle of ExternalNames ends here).
const MAX_CNAME_CHAIN: usize = 8;

fn resolve_at(
    c: &Cluster,
    cfg: &Kubernetes,
    qname: &str,
    qtype: RecordType,
    serial: u32,
    depth: usize,
) -> Option<Answer> {
    let asked = fqdn(qname);
    let lower = asked.to_ascii_lowercase();
    let zone = cfg
        .zones
        .iter()
        .filter(|z| in_zone(&lower, z))
        .max_by_key(|z| z.len())?
        .clone();
    let ttl = cfg.ttl;
    let mut a = Answer {
        rcode: Rcode::NoError,
        zone: zone.clone(),
        answer: Vec::new(),
        authority: Vec::new(),
        additional: Vec::new(),
    };
    let nx = |mut a: Answer| {
        a.rcode = Rcode::NxDomain;
        a.answer.clear();
        a.additional.clear();
        a.authority = vec![soa(&a.zone, ttl, serial)];
        Some(a)
    };
    let nodata = |mut a: Answer| {
        a.answer.clear();
        a.additional.clear();
        a.authority = vec![soa(&a.zone, ttl, serial)];
        Some(a)
    };
    let done = |a: Answer| {
        if a.answer.is_empty() {
            nodata(a)
        } else {
            Some(a)
        }
    };
    // The zone apex.
    if lower == zone {
        match qtype {
            RecordType::SOA => a.answer.push(soa(&asked, ttl, serial)),
            RecordType::NS => a.answer.push(Record {
                name: asked.clone(),
                ttl,
                data: RData::Ns(format!("ns.dns.{zone}")),
            }),
            _ => {}
        }
        return done(a);
    }
    // Reverse zones: PTR for ClusterIPs and endpoint addresses.
    if zone.ends_with("in-addr.arpa.") || zone.ends_with("ip6.arpa.") {
        let Some(ip) = parse_reverse(&lower) else {
            return nx(a);
        };
        let Some(fwd) = cfg.zones.iter().find(|z| !z.ends_with(".arpa.")) else {
            return nx(a);
        };
        let mut targets = Vec::new();
        // Only the Services whose slices hold the address are expanded, so a
        // PTR query costs one pass over Services and one over slices.
        let ip_text = ip.to_string();
        let holders: Vec<(&str, &str)> = c
            .slices
            .iter()
            .filter(|sl| {
                sl.endpoints.iter().flatten().any(|e| {
                    e.addresses
                        .iter()
                        .any(|a| a.parse::<IpAddr>().ok() == Some(ip) || *a == ip_text)
                })
            })
            .filter_map(|sl| {
                let svc = sl
                    .metadata
                    .labels
                    .as_ref()?
                    .get("kubernetes.io/service-name")?;
                Some((
                    sl.metadata.namespace.as_deref().unwrap_or("default"),
                    svc.as_str(),
                ))
            })
            .collect();
        for s in c.services {
            if !namespace_exposed(cfg, ns_of(s)) {
                continue;
            }
            if cluster_ips(s).contains(&ip) {
                targets.push(format!("{}.{}.svc.{fwd}", name_of(s), ns_of(s)));
            }
            if !holders.contains(&(ns_of(s), name_of(s))) {
                continue;
            }
            for e in endpoints(c, s, cfg.endpoint_pod_names) {
                if e.ip == ip {
                    targets.push(format!(
                        "{}.{}.{}.svc.{fwd}",
                        e.hostname,
                        name_of(s),
                        ns_of(s)
                    ));
                }
            }
        }
        if targets.is_empty() {
            return nx(a);
        }
        if qtype == RecordType::PTR {
            for t in targets {
                a.answer.push(Record {
                    name: asked.clone(),
                    ttl,
                    data: RData::Ptr(t),
                });
            }
        }
        return done(a);
    }
    let rest = &lower[..lower.len() - zone.len() - 1];
    let labels: Vec<&str> = rest.split('.').collect();
    match labels.as_slice() {
        ["dns-version"] => {
            if qtype == RecordType::TXT {
                a.answer.push(Record {
                    name: asked.clone(),
                    ttl,
                    data: RData::Txt(SCHEMA_VERSION.into()),
                });
            }
            done(a)
        }
        ["svc"] | ["pod"] => nodata(a),
        [ns, "svc"] | [ns, "pod"] => {
            if namespace_exists(c, ns) && namespace_exposed(cfg, ns) {
                nodata(a)
            } else {
                nx(a)
            }
        }
        [pod, ns, "pod"] => {
            let Some(ip) = undash(pod) else { return nx(a) };
            let ok = match cfg.pods {
                PodsMode::Disabled => false,
                PodsMode::Insecure => namespace_exposed(cfg, ns),
                PodsMode::Verified => namespace_exposed(cfg, ns) && pod_exists(c, ns, ip),
            };
            if !ok {
                return nx(a);
            }
            if wants(qtype, ip) {
                a.answer.push(addr_record(&asked, ttl, ip));
            }
            done(a)
        }
        [svc, ns, "svc"] => service(c, cfg, &asked, svc, ns, None, None, qtype, a, serial, depth),
        [ep, svc, ns, "svc"] => service(
            c,
            cfg,
            &asked,
            svc,
            ns,
            Some(ep),
            None,
            qtype,
            a,
            serial,
            depth,
        ),
        [port, proto, svc, ns, "svc"] => {
            let (Some(port), Some(proto)) = (port.strip_prefix('_'), proto.strip_prefix('_'))
            else {
                return nx(a);
            };
            service(
                c,
                cfg,
                &asked,
                svc,
                ns,
                None,
                Some((port, proto)),
                qtype,
                a,
                serial,
                depth,
            )
        }
        _ => nx(a),
    }
}

fn namespace_exposed(cfg: &Kubernetes, ns: &str) -> bool {
    cfg.namespaces.is_empty() || cfg.namespaces.iter().any(|n| n == ns)
}

fn namespace_exists(c: &Cluster, ns: &str) -> bool {
    c.namespaces.iter().any(|n| n == ns)
        || c.services.iter().any(|s| ns_of(s) == ns)
        || c.pods
            .iter()
            .any(|p| p.metadata.namespace.as_deref().unwrap_or("default") == ns)
}

fn pod_exists(c: &Cluster, ns: &str, ip: IpAddr) -> bool {
    c.pods.iter().any(|p| {
        p.metadata.namespace.as_deref().unwrap_or("default") == ns
            && p.status.as_ref().is_some_and(|st| {
                st.pod_ip.as_deref().and_then(|i| i.parse().ok()) == Some(ip)
                    || st
                        .pod_ips
                        .iter()
                        .flatten()
                        .any(|i| i.ip.parse().ok() == Some(ip))
            })
    })
}

#[allow(clippy::too_many_arguments)]
fn service(
    c: &Cluster,
    cfg: &Kubernetes,
    asked: &str,
    svc: &str,
    ns: &str,
    ep: Option<&str>,
    port: Option<(&str, &str)>,
    qtype: RecordType,
    mut a: Answer,
    serial: u32,
    depth: usize,
) -> Option<Answer> {
    let ttl = cfg.ttl;
    let nx = |mut a: Answer| {
        a.rcode = Rcode::NxDomain;
        a.answer.clear();
        a.additional.clear();
        a.authority = vec![soa(&a.zone, ttl, serial)];
        Some(a)
    };
    if !namespace_exposed(cfg, ns) {
        return nx(a);
    }
    let Some(s) = c
        .services
        .iter()
        .find(|s| name_of(s) == svc && ns_of(s) == ns)
    else {
        return nx(a);
    };
    let zone = a.zone.clone();
    let svc_name = format!("{}.{}.svc.{zone}", name_of(s), ns_of(s));
    // ExternalName: a CNAME to the target, for every type but on the service name only.
    if let Some(target) = is_external_name(s) {
        if ep.is_some() || port.is_some() && qtype != RecordType::SRV {
            return nx(a);
        }
        let target = fqdn(target);
        if qtype == RecordType::SRV {
            for p in ports(s, port) {
                a.answer.push(Record {
                    name: asked.into(),
                    ttl,
                    data: RData::Srv {
                        priority: 0,
                        weight: 100,
                        port: p.1,
                        target: target.clone(),
                    },
                });
            }
        } else {
            a.answer.push(Record {
                name: asked.into(),
                ttl,
                data: RData::Cname(target.clone()),
            });
            // Followed when the target is in the cluster.
            if qtype != RecordType::CNAME
                && !target.eq_ignore_ascii_case(asked)
                && let Some(more) = resolve_in(c, cfg, &target, qtype, serial, depth + 1)
            {
                a.answer.extend(more.answer);
            }
        }
        return finish(a, ttl, serial);
    }
    let headless = is_headless(s);
    let eps = endpoints(c, s, cfg.endpoint_pod_names);
    if let Some(ep) = ep {
        let matching: Vec<&Endpoint> = eps.iter().filter(|e| e.hostname == ep).collect();
        if matching.is_empty() {
            return nx(a);
        }
        for e in matching {
            if wants(qtype, e.ip) {
                a.answer.push(addr_record(asked, ttl, e.ip));
            }
        }
        return finish(a, ttl, serial);
    }
    let want_ports = ports(s, port);
    if port.is_some() && want_ports.is_empty() {
        return nx(a);
    }
    if headless {
        if eps.is_empty() {
            return nx(a);
        }
        match qtype {
            RecordType::SRV => {
                let n = (eps.len() * want_ports.len()).max(1);
                let weight = (100 / n) as u16;
                for e in &eps {
                    let target = format!("{}.{svc_name}", e.hostname);
                    for p in &want_ports {
                        a.answer.push(Record {
                            name: asked.into(),
                            ttl,
                            data: RData::Srv {
                                priority: 0,
                                weight,
                                port: p.1,
                                target: target.clone(),
                            },
                        });
                    }
                    if !want_ports.is_empty() {
                        a.additional.push(addr_record(&target, ttl, e.ip));
                    }
                }
            }
            _ if port.is_none() => {
                for e in &eps {
                    if wants(qtype, e.ip) {
                        a.answer.push(addr_record(asked, ttl, e.ip));
                    }
                }
            }
            _ => {}
        }
        return finish(a, ttl, serial);
    }
    match qtype {
        RecordType::SRV => {
            let weight = (100 / want_ports.len().max(1)) as u16;
            for p in &want_ports {
                a.answer.push(Record {
                    name: asked.into(),
                    ttl,
                    data: RData::Srv {
                        priority: 0,
                        weight,
                        port: p.1,
                        target: svc_name.clone(),
                    },
                });
            }
            if !want_ports.is_empty() {
                for ip in cluster_ips(s) {
                    a.additional.push(addr_record(&svc_name, ttl, ip));
                }
            }
        }
        _ if port.is_none() => {
            for ip in cluster_ips(s) {
                if wants(qtype, ip) {
                    a.answer.push(addr_record(asked, ttl, ip));
                }
            }
        }
        _ => {}
    }
    finish(a, ttl, serial)
}

fn resolve_in(
    c: &Cluster,
    cfg: &Kubernetes,
    name: &str,
    qtype: RecordType,
    serial: u32,
    depth: usize,
) -> Option<Answer> {
    if depth > MAX_CNAME_CHAIN {
        return None;
    }
    let r = resolve_at(c, cfg, name, qtype, serial, depth)?;
    (r.rcode == Rcode::NoError && !r.answer.is_empty()).then_some(r)
}

fn finish(mut a: Answer, ttl: u32, serial: u32) -> Option<Answer> {
    if a.answer.is_empty() {
        a.additional.clear();
        a.authority = vec![soa(&a.zone, ttl, serial)];
    }
    Some(a)
}

/// The Service's (name, port) pairs matching `_port._proto` (all named and
/// unnamed ports when not asked for one).
fn ports(s: &Service, want: Option<(&str, &str)>) -> Vec<(String, u16)> {
    let Some(spec) = &s.spec else {
        return Vec::new();
    };
    spec.ports
        .iter()
        .flatten()
        .filter(|p| match want {
            None => true,
            Some((name, proto)) => {
                let pn = p.name.as_deref().unwrap_or_default();
                let pp = p.protocol.as_deref().unwrap_or("TCP");
                (name == "*" || pn.eq_ignore_ascii_case(name))
                    && (proto == "*" || pp.eq_ignore_ascii_case(proto))
            }
        })
        .filter_map(|p| {
            Some((
                p.name.clone().unwrap_or_default(),
                u16::try_from(p.port).ok()?,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests;
