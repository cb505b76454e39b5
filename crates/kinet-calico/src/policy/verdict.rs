//! The verdict for one connection, with its reasons: egress from the source
//! (if it is a pod), then ingress to the destination (if it is a pod); a
//! connection passes when both sides let it.

use std::fmt;
use std::net::Ipv4Addr;

use super::compile::{Compiled, PodRules, Side};
use super::{PolicyId, Protocol};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SideVerdict {
    /// The end is not a pod on the pod network (an address outside, a node).
    NotAPod,
    /// A pod talking to itself: its traffic never leaves it, and no policy
    /// applies (upstream's e2e suite allows loopback).
    Loopback,
    /// No policy selects the pod for this direction.
    NotIsolated,
    /// Traffic from a node to its own pods always passes.
    FromOwnNode(String),
    /// Admitted by these rules (policy, index of the rule).
    Admitted(Vec<(PolicyId, usize)>),
    /// Isolated by these policies, and no rule of theirs admits the connection.
    Denied(Vec<PolicyId>),
}

impl SideVerdict {
    pub fn allows(&self) -> bool {
        !matches!(self, SideVerdict::Denied(_))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub from: String,
    pub to: String,
    pub port: u16,
    pub protocol: Protocol,
    pub egress: SideVerdict,
    pub ingress: SideVerdict,
}

impl Verdict {
    pub fn allowed(&self) -> bool {
        self.egress.allows() && self.ingress.allows()
    }
}

fn name(c: &Compiled, ip: Ipv4Addr) -> String {
    match c.pods.get(&ip) {
        Some(p) => p.key(),
        None => match c.nodes.get(&ip) {
            Some(n) => format!("{n} ({ip})"),
            None => ip.to_string(),
        },
    }
}

fn side(rules: &Side, peer: Ipv4Addr, dst: Ipv4Addr, port: u16, proto: Protocol) -> SideVerdict {
    let by: Vec<(PolicyId, usize)> = rules
        .rules
        .iter()
        .filter(|r| r.admits(peer, dst, port, proto))
        .map(|r| (r.policy.clone(), r.index))
        .collect();
    if by.is_empty() {
        SideVerdict::Denied(rules.policies.clone())
    } else {
        SideVerdict::Admitted(by)
    }
}

/// The verdict for a connection from `from` to `to` on `port`/`protocol`, as
/// enforcement judges it: after any Service's DNAT, on the real pod address.
pub fn verdict(
    c: &Compiled,
    from: Ipv4Addr,
    to: Ipv4Addr,
    port: u16,
    protocol: Protocol,
) -> Verdict {
    if from == to && c.pods.contains_key(&from) {
        return Verdict {
            from: name(c, from),
            to: name(c, to),
            port,
            protocol,
            egress: SideVerdict::Loopback,
            ingress: SideVerdict::Loopback,
        };
    }
    let egress = match c.pods.get(&from) {
        None => SideVerdict::NotAPod,
        Some(PodRules { egress: None, .. }) => SideVerdict::NotIsolated,
        Some(PodRules {
            egress: Some(s), ..
        }) => side(s, to, to, port, protocol),
    };
    let ingress = match c.pods.get(&to) {
        None => SideVerdict::NotAPod,
        Some(p) if c.nodes.get(&from) == Some(&p.node) => SideVerdict::FromOwnNode(p.node.clone()),
        Some(PodRules { ingress: None, .. }) => SideVerdict::NotIsolated,
        Some(PodRules {
            ingress: Some(s), ..
        }) => side(s, from, to, port, protocol),
    };
    Verdict {
        from: name(c, from),
        to: name(c, to),
        port,
        protocol,
        egress,
        ingress,
    }
}

fn ids(list: &[PolicyId]) -> String {
    let names: Vec<String> = list.iter().map(|(ns, n)| format!("{ns}/{n}")).collect();
    match names.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

fn rules(list: &[(PolicyId, usize)], dir: &str) -> String {
    list.iter()
        .map(|((ns, n), i)| format!("{ns}/{n} ({dir} rule {})", i + 1))
        .collect::<Vec<_>>()
        .join(", ")
}

/// "denied: pod y/b is isolated for ingress by y/deny-all; no ingress rule of
/// y/deny-all admits x/a on 80/TCP", or "allowed: …".
impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = format!("{} on {}/{}", self.from, self.port, self.protocol.as_str());
        let mut denials = Vec::new();
        if let SideVerdict::Denied(p) = &self.egress {
            denials.push(format!(
                "pod {} is isolated for egress by {}; no egress rule of {} admits {} on {}/{}",
                self.from,
                ids(p),
                ids(p),
                self.to,
                self.port,
                self.protocol.as_str()
            ));
        }
        if let SideVerdict::Denied(p) = &self.ingress {
            denials.push(format!(
                "pod {} is isolated for ingress by {}; no ingress rule of {} admits {what}",
                self.to,
                ids(p),
                ids(p)
            ));
        }
        if !denials.is_empty() {
            return write!(f, "denied: {}", denials.join("; "));
        }
        let egress = match &self.egress {
            SideVerdict::NotAPod => format!("{} is not a pod", self.from),
            SideVerdict::NotIsolated => format!("egress of {} is not isolated", self.from),
            SideVerdict::Admitted(by) => format!(
                "egress of {} admitted by {}",
                self.from,
                rules(by, "egress")
            ),
            SideVerdict::Loopback => format!("{} talks to itself", self.from),
            SideVerdict::FromOwnNode(_) | SideVerdict::Denied(_) => String::new(),
        };
        let ingress = match &self.ingress {
            SideVerdict::NotAPod => format!("{} is not a pod", self.to),
            SideVerdict::NotIsolated => format!("ingress to {} is not isolated", self.to),
            SideVerdict::FromOwnNode(n) => {
                format!("{} comes from {n}, the node of {}", self.from, self.to)
            }
            SideVerdict::Admitted(by) => format!(
                "ingress to {} admitted by {}",
                self.to,
                rules(by, "ingress")
            ),
            SideVerdict::Loopback => "loopback is never policed".to_string(),
            SideVerdict::Denied(_) => String::new(),
        };
        write!(f, "allowed: {egress}; {ingress}")
    }
}
