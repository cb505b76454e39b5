//! A packet tracer over iptables-restore input, as upstream's proxier tests
//! trace packets through a fake iptables: it parses the subset of matches
//! and targets [`crate::iptables`] emits (anything else is an error), keeps
//! tables the way `iptables-restore --noflush` would (so partial syncs can
//! be applied on top of a full one), and answers where a new connection
//! goes: DNAT to which endpoints, REJECT, DROP or ACCEPT, and whether it is
//! masqueraded.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::Ipv4Addr;

use crate::iptables::JUMP_RULES;
use crate::model::{Cidr, Protocol};

/// Where a packet comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A pod (forwarded by the node).
    Pod,
    /// A process on the node itself (its source is a node IP).
    Node,
    /// A machine outside the cluster (forwarded or to a node IP).
    External,
}

/// A new connection's first packet.
#[derive(Clone, Debug)]
pub struct Packet {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub dport: u16,
    pub protocol: Protocol,
    pub origin: Origin,
}

impl Packet {
    pub fn new(origin: Origin, src: &str, dst: &str, dport: u16, protocol: Protocol) -> Packet {
        Packet {
            src: src.parse().unwrap_or(Ipv4Addr::UNSPECIFIED),
            dst: dst.parse().unwrap_or(Ipv4Addr::UNSPECIFIED),
            dport,
            protocol,
            origin,
        }
    }
}

/// What happens to a packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// DNATed to one of these `ip:port` (every possible choice, in rule order).
    Dnat(Vec<String>),
    Accept,
    Drop,
    Reject,
}

/// A traced packet.
#[derive(Clone, Debug)]
pub struct Trace {
    pub verdict: Verdict,
    /// Masqueraded on some path.
    pub masquerade: bool,
    /// The DNAT destinations whose path masquerades.
    pub masqueraded_to: Vec<String>,
    /// Every rule that matched, as `table/chain: rule`.
    pub matched: Vec<String>,
}

/// As a sentence: "DNATs to one of 10.1.1.5:8080, 10.1.2.6:8080; masquerades".
impl fmt::Display for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.verdict {
            Verdict::Dnat(to) if to.len() == 1 => write!(f, "DNATs to {}", to[0])?,
            Verdict::Dnat(to) => write!(f, "DNATs to one of {}", to.join(", "))?,
            Verdict::Accept => write!(f, "accepted")?,
            Verdict::Drop => write!(f, "dropped")?,
            Verdict::Reject => write!(f, "rejected")?,
        }
        if self.masquerade {
            write!(f, "; masquerades")?;
            if let Verdict::Dnat(to) = &self.verdict
                && to.len() > 1
                && self.masqueraded_to.len() < to.len()
            {
                write!(f, " to {}", self.masqueraded_to.join(", "))?;
            }
        }
        Ok(())
    }
}

/// A line the tracer does not understand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub text: String,
    pub reason: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}: {}", self.line, self.reason, self.text)
    }
}

impl std::error::Error for ParseError {}

#[derive(Clone, Debug, Default, PartialEq)]
struct Rule {
    raw: String,
    protocol: Option<String>,
    src: Option<(bool, Cidr)>,
    dst: Option<(bool, Cidr)>,
    dport: Option<u16>,
    src_local: Option<bool>,
    dst_local: Option<bool>,
    ctstate: Option<(bool, Vec<String>)>,
    mark: Option<(bool, u32, u32)>,
    probability: Option<f64>,
    recent_check: bool,
    jump: Option<String>,
    to_destination: Option<String>,
    or_mark: Option<u32>,
    xor_mark: Option<u32>,
}

/// Tables of chains of rules.
#[derive(Clone, Debug, Default)]
pub struct Tracer {
    tables: BTreeMap<String, BTreeMap<String, Vec<Rule>>>,
    node_ips: Vec<Ipv4Addr>,
}

fn tokenize(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            ' ' if !quoted => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            _ => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

fn parse_u32(s: &str) -> Option<u32> {
    match s.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

fn parse_rule(tokens: &[String]) -> Result<(String, Rule), String> {
    let mut rule = Rule::default();
    let mut chain = None;
    let mut i = 0;
    let mut negate = false;
    let next = |i: &mut usize| -> Result<&str, String> {
        *i += 1;
        tokens
            .get(*i)
            .map(String::as_str)
            .ok_or_else(|| "missing argument".to_string())
    };
    while i < tokens.len() {
        let t = tokens[i].as_str();
        match t {
            "!" => {
                negate = true;
                i += 1;
                continue;
            }
            "-A" => chain = Some(next(&mut i)?.to_string()),
            "-m" => {
                let m = next(&mut i)?;
                if !matches!(
                    m,
                    "comment"
                        | "tcp"
                        | "udp"
                        | "sctp"
                        | "addrtype"
                        | "conntrack"
                        | "mark"
                        | "statistic"
                        | "recent"
                ) {
                    return Err(format!("unknown match -m {m}"));
                }
            }
            "--comment" => {
                next(&mut i)?;
            }
            "-p" => rule.protocol = Some(next(&mut i)?.to_string()),
            "-s" | "-d" => {
                let v = next(&mut i)?;
                let cidr = Cidr::parse_net_or_host(v).ok_or_else(|| format!("bad address {v}"))?;
                if t == "-s" {
                    rule.src = Some((negate, cidr));
                } else {
                    rule.dst = Some((negate, cidr));
                }
            }
            "--dport" => {
                let v = next(&mut i)?;
                rule.dport = Some(v.parse().map_err(|_| format!("bad port {v}"))?);
            }
            "--src-type" | "--dst-type" => {
                if next(&mut i)? != "LOCAL" {
                    return Err("only LOCAL address types".into());
                }
                if t == "--src-type" {
                    rule.src_local = Some(!negate);
                } else {
                    rule.dst_local = Some(!negate);
                }
            }
            "--ctstate" => {
                let v = next(&mut i)?;
                rule.ctstate = Some((negate, v.split(',').map(str::to_string).collect()));
            }
            "--mark" => {
                let v = next(&mut i)?;
                let (value, mask) = v.split_once('/').unwrap_or((v, "0xffffffff"));
                let (Some(value), Some(mask)) = (parse_u32(value), parse_u32(mask)) else {
                    return Err(format!("bad mark {v}"));
                };
                rule.mark = Some((negate, value, mask));
            }
            "--mode" => {
                if next(&mut i)? != "random" {
                    return Err("only random statistic mode".into());
                }
            }
            "--probability" => {
                let v = next(&mut i)?;
                rule.probability = Some(v.parse().map_err(|_| format!("bad probability {v}"))?);
            }
            "--name" => {
                next(&mut i)?;
            }
            "--rcheck" => rule.recent_check = true,
            "--seconds" => {
                next(&mut i)?;
            }
            "--reap" | "--set" | "--random-fully" => {}
            "-j" => rule.jump = Some(next(&mut i)?.to_string()),
            "--to-destination" => rule.to_destination = Some(next(&mut i)?.to_string()),
            "--or-mark" | "--xor-mark" => {
                let v = next(&mut i)?;
                let v = parse_u32(v).ok_or_else(|| format!("bad mark {v}"))?;
                if t == "--or-mark" {
                    rule.or_mark = Some(v);
                } else {
                    rule.xor_mark = Some(v);
                }
            }
            other => return Err(format!("unknown option {other}")),
        }
        negate = false;
        i += 1;
    }
    let chain = chain.ok_or("rule without -A")?;
    Ok((chain, rule))
}

struct Ctx<'a> {
    pkt: &'a Packet,
    dst: Ipv4Addr,
    dnat: bool,
    mark: u32,
    matched: Vec<String>,
}

enum Outcome {
    Continue,
    Return,
    Terminal,
}

struct NatResult {
    /// DNAT destinations with the mark their path had.
    dnats: Vec<(String, u32)>,
    masquerade: bool,
    verdict: Option<Verdict>,
}

impl Tracer {
    /// A tracer over `restore` (an iptables-restore input) on a node with
    /// `node_ips` (what `addrtype LOCAL` matches, besides 127.0.0.0/8).
    pub fn new(restore: &str, node_ips: &[Ipv4Addr]) -> Result<Tracer, ParseError> {
        let mut tracer = Tracer {
            tables: BTreeMap::new(),
            node_ips: node_ips.to_vec(),
        };
        for j in JUMP_RULES {
            let tokens = tokenize(&j.save_line());
            if let Ok((chain, rule)) = parse_rule(&tokens) {
                tracer
                    .tables
                    .entry(j.table.to_string())
                    .or_default()
                    .entry(chain)
                    .or_default()
                    .push(Rule {
                        raw: j.save_line(),
                        ..rule
                    });
            }
        }
        tracer.apply(restore)?;
        Ok(tracer)
    }

    /// Applies more iptables-restore input, as `iptables-restore --noflush`:
    /// a `:CHAIN` line creates or flushes the chain, `-A` appends, `-X` deletes.
    pub fn apply(&mut self, restore: &str) -> Result<(), ParseError> {
        let mut table: Option<String> = None;
        let mut pending: BTreeMap<String, BTreeMap<String, Vec<Rule>>> = BTreeMap::new();
        for (n, line) in restore.lines().enumerate() {
            let err = |reason: String| ParseError {
                line: n + 1,
                text: line.to_string(),
                reason,
            };
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(t) = line.strip_prefix('*') {
                table = Some(t.to_string());
                continue;
            }
            let Some(t) = table.clone() else {
                return Err(err("outside a table".into()));
            };
            if line == "COMMIT" {
                let chains = pending.remove(&t).unwrap_or_default();
                let tbl = self.tables.entry(t).or_default();
                for (c, rules) in chains {
                    tbl.insert(c, rules);
                }
                table = None;
                continue;
            }
            let tbl = pending.entry(t.clone()).or_default();
            if let Some(rest) = line.strip_prefix(':') {
                let name = rest.split(' ').next().unwrap_or_default().to_string();
                tbl.insert(name, Vec::new());
                continue;
            }
            let tokens = tokenize(line);
            if tokens.first().map(String::as_str) == Some("-X") {
                let Some(name) = tokens.get(1) else {
                    return Err(err("-X without a chain".into()));
                };
                tbl.remove(name);
                if let Some(live) = self.tables.get_mut(&t) {
                    live.remove(name);
                }
                continue;
            }
            let (chain, mut rule) = parse_rule(&tokens).map_err(err)?;
            rule.raw = line.to_string();
            match tbl.get_mut(&chain) {
                Some(rules) => rules.push(rule),
                None => {
                    // Appending to a chain not flushed by this input.
                    let live = self
                        .tables
                        .get(&t)
                        .and_then(|c| c.get(&chain))
                        .cloned()
                        .ok_or_else(|| err(format!("no chain {chain}")))?;
                    let mut rules = live;
                    rules.push(rule);
                    tbl.insert(chain, rules);
                }
            }
        }
        if table.is_some() {
            return Err(ParseError {
                line: restore.lines().count(),
                text: String::new(),
                reason: "missing COMMIT".into(),
            });
        }
        Ok(())
    }

    /// The chains of `table`, each with its rules as written.
    pub fn chains(&self, table: &str) -> BTreeMap<String, Vec<String>> {
        self.tables
            .get(table)
            .map(|t| {
                t.iter()
                    .map(|(c, rules)| (c.clone(), rules.iter().map(|r| r.raw.clone()).collect()))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn is_local(&self, ip: Ipv4Addr) -> bool {
        ip.is_loopback() || self.node_ips.contains(&ip)
    }

    fn matches(&self, rule: &Rule, ctx: &Ctx<'_>) -> bool {
        let pkt = ctx.pkt;
        if let Some(p) = &rule.protocol
            && p != pkt.protocol.lower()
        {
            return false;
        }
        if let Some((neg, cidr)) = rule.src
            && cidr.contains(pkt.src) == neg
        {
            return false;
        }
        if let Some((neg, cidr)) = rule.dst
            && cidr.contains(ctx.dst) == neg
        {
            return false;
        }
        if rule.dport.is_some_and(|p| p != pkt.dport) {
            return false;
        }
        if rule
            .src_local
            .is_some_and(|want| self.is_local(pkt.src) != want)
        {
            return false;
        }
        if rule
            .dst_local
            .is_some_and(|want| self.is_local(ctx.dst) != want)
        {
            return false;
        }
        if let Some((neg, states)) = &rule.ctstate {
            let mut have = BTreeSet::from(["NEW"]);
            if ctx.dnat {
                have.insert("DNAT");
            }
            let any = states.iter().any(|s| have.contains(s.as_str()));
            if any == *neg {
                return false;
            }
        }
        if let Some((neg, value, mask)) = rule.mark
            && ((ctx.mark & mask) == value) == neg
        {
            return false;
        }
        // No client has affinity yet: a fresh connection.
        !rule.recent_check
    }

    fn run_chain(
        &self,
        table: &str,
        chain: &str,
        ctx: &mut Ctx<'_>,
        out: &mut NatResult,
        depth: usize,
    ) -> Outcome {
        let Some(rules) = self.tables.get(table).and_then(|t| t.get(chain)) else {
            return Outcome::Continue;
        };
        if depth > 32 {
            return Outcome::Terminal;
        }
        for rule in rules {
            if !self.matches(rule, ctx) {
                continue;
            }
            ctx.matched.push(format!("{table}/{chain}: {}", rule.raw));
            if let Some(v) = rule.or_mark {
                ctx.mark |= v;
            }
            if let Some(v) = rule.xor_mark {
                ctx.mark ^= v;
            }
            let Some(jump) = rule.jump.as_deref() else {
                continue;
            };
            match jump {
                "MARK" => continue,
                "RETURN" => return Outcome::Return,
                "MASQUERADE" => {
                    out.masquerade = true;
                    return Outcome::Terminal;
                }
                "ACCEPT" => {
                    out.verdict = Some(Verdict::Accept);
                    return Outcome::Terminal;
                }
                "DROP" => {
                    out.verdict = Some(Verdict::Drop);
                    return Outcome::Terminal;
                }
                "REJECT" => {
                    out.verdict = Some(Verdict::Reject);
                    return Outcome::Terminal;
                }
                "DNAT" => {
                    let to = rule.to_destination.clone().unwrap_or_default();
                    out.dnats.push((to, ctx.mark));
                    return Outcome::Terminal;
                }
                sub => {
                    let saved = ctx.mark;
                    let result = self.run_chain(table, sub, ctx, out, depth + 1);
                    if rule.probability.is_some() {
                        // Another choice may be taken instead: keep looking,
                        // as if this branch had not been.
                        if matches!(result, Outcome::Terminal) {
                            ctx.mark = saved;
                        }
                        continue;
                    }
                    if matches!(result, Outcome::Terminal) {
                        return Outcome::Terminal;
                    }
                }
            }
        }
        Outcome::Continue
    }

    /// Where `pkt` goes.
    pub fn trace(&self, pkt: &Packet) -> Trace {
        let mut ctx = Ctx {
            pkt,
            dst: pkt.dst,
            dnat: false,
            mark: 0,
            matched: Vec::new(),
        };
        // nat: PREROUTING for arriving packets, OUTPUT for the node's own.
        let mut nat = NatResult {
            dnats: Vec::new(),
            masquerade: false,
            verdict: None,
        };
        let hook = if pkt.origin == Origin::Node {
            "OUTPUT"
        } else {
            "PREROUTING"
        };
        self.run_chain("nat", hook, &mut ctx, &mut nat, 0);
        let marks_without_dnat = ctx.mark;
        if let Some((first, _)) = nat.dnats.first() {
            let ip = first.split(':').next().unwrap_or_default();
            if let Ok(ip) = ip.parse() {
                ctx.dst = ip;
                ctx.dnat = true;
            }
        }
        // filter, by where the (translated) packet goes.
        let mut hooks = Vec::new();
        if pkt.origin == Origin::Node {
            hooks.push("OUTPUT");
        }
        if self.is_local(ctx.dst) {
            hooks.push("INPUT");
        } else if pkt.origin != Origin::Node {
            hooks.push("FORWARD");
        }
        let mut filter = NatResult {
            dnats: Vec::new(),
            masquerade: false,
            verdict: None,
        };
        for hook in hooks {
            let mark = nat
                .dnats
                .first()
                .map(|(_, m)| *m)
                .unwrap_or(marks_without_dnat);
            ctx.mark = mark;
            self.run_chain("filter", hook, &mut ctx, &mut filter, 0);
            if matches!(filter.verdict, Some(Verdict::Drop | Verdict::Reject)) {
                break;
            }
            filter.verdict = None;
        }
        if let Some(v @ (Verdict::Drop | Verdict::Reject)) = filter.verdict {
            return Trace {
                verdict: v,
                masquerade: false,
                masqueraded_to: Vec::new(),
                matched: ctx.matched,
            };
        }
        if let Some(v) = nat.verdict.clone() {
            return Trace {
                verdict: v,
                masquerade: false,
                masqueraded_to: Vec::new(),
                matched: ctx.matched,
            };
        }
        // nat POSTROUTING, per path.
        let paths: Vec<(Option<String>, u32)> = if nat.dnats.is_empty() {
            vec![(None, marks_without_dnat)]
        } else {
            nat.dnats
                .iter()
                .map(|(d, m)| (Some(d.clone()), *m))
                .collect()
        };
        let mut masqueraded_to = Vec::new();
        let mut masquerade = false;
        for (dest, mark) in &paths {
            ctx.mark = *mark;
            let mut post = NatResult {
                dnats: Vec::new(),
                masquerade: false,
                verdict: None,
            };
            self.run_chain("nat", "POSTROUTING", &mut ctx, &mut post, 0);
            if post.masquerade {
                masquerade = true;
                if let Some(d) = dest {
                    masqueraded_to.push(d.clone());
                }
            }
        }
        let verdict = if nat.dnats.is_empty() {
            Verdict::Accept
        } else {
            Verdict::Dnat(nat.dnats.into_iter().map(|(d, _)| d).collect())
        };
        Trace {
            verdict,
            masquerade,
            masqueraded_to,
            matched: ctx.matched,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizer_keeps_quoted_comments() {
        assert_eq!(
            tokenize(r#"-A X -m comment --comment "a b" -j Y"#),
            ["-A", "X", "-m", "comment", "--comment", "a b", "-j", "Y"]
        );
    }

    #[test]
    fn unknown_options_are_errors() {
        let err = Tracer::new(
            "*nat\n:X - [0:0]\n-A X --frobnicate -j ACCEPT\nCOMMIT\n",
            &[],
        )
        .unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.reason.contains("--frobnicate"));
    }
}
