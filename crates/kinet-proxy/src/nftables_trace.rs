//! A packet tracer over `nft -f` transactions, the nftables twin of
//! [`crate::iptables_trace`] (upstream's nftables proxier tests trace packets
//! through a fake knftables the same way). It keeps the `ip kube-proxy`
//! table the way the kernel would across transactions (each one atomic: an
//! error leaves the table as it was), parses the subset of statements
//! [`crate::nftables`] emits (anything else is an error), and answers where
//! a new connection goes, following every `numgen` branch: DNAT to which
//! endpoints, reject, drop or accept, and whether it is masqueraded. Same
//! [`Packet`], [`Verdict`] and [`Trace`] as the iptables tracer, so one test
//! can state a behaviour once for both modes.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use crate::iptables_trace::{Origin, Packet, ParseError, Trace, Verdict};

mod parse;
use parse::{Field, NftVerdict, Stmt, Tokens, Values, parse_goto_text, parse_rule, tokenize};

#[derive(Clone, Debug, PartialEq)]
struct Rule {
    raw: String,
    stmts: Vec<Stmt>,
}

#[derive(Clone, Debug, Default, PartialEq)]
struct Chain {
    /// (type, hook, priority) of a base chain.
    base: Option<(String, String, i32)>,
    rules: Vec<Rule>,
}

/// The `ip kube-proxy` table: chains, and sets/maps of elements
/// (key parts → verdict text, empty for sets).
#[derive(Clone, Debug, Default, PartialEq)]
struct Table {
    chains: BTreeMap<String, Chain>,
    sets: BTreeMap<String, BTreeMap<Vec<String>, String>>,
}

/// The kernel's view of the table, transaction after transaction.
#[derive(Clone, Debug, Default)]
pub struct NftTracer {
    table: Table,
    node_ips: Vec<Ipv4Addr>,
}

/// One path through the hooks.
#[derive(Clone, Debug)]
struct Path {
    dst: Ipv4Addr,
    dport: u16,
    mark: u32,
    dnat: Option<String>,
    masquerade: bool,
    matched: Vec<String>,
}

/// How a chain run ends for a path.
#[derive(Clone, Debug, PartialEq)]
enum End {
    /// Fell off the chain's end or `return`ed.
    Return,
    Accept,
    Drop,
    Reject,
    /// A NAT statement: terminal in its chain, the packet goes on.
    Nat,
}

impl Table {
    fn apply_command(&mut self, toks: &[String]) -> Result<(), String> {
        let mut t = Tokens { t: toks, i: 0 };
        let verb = t.next()?;
        let kind = t.next()?;
        let family = t.next()?;
        let table = t.next()?;
        if (family, table) != ("ip", "kube-proxy") {
            return Err(format!("table {family} {table}"));
        }
        if kind == "table" {
            return match verb {
                "add" => Ok(()),
                "delete" => {
                    *self = Table::default();
                    Ok(())
                }
                other => Err(format!("{other} table")),
            };
        }
        let name = t.next()?.to_string();
        match (verb, kind) {
            ("add", "chain") => {
                let chain = self.chains.entry(name).or_default();
                if t.peek() == Some("{") {
                    let g = t.group()?;
                    if g.first() == Some(&"type") {
                        let (Some(ty), Some(&"hook"), Some(hook), Some(&"priority"), Some(prio)) =
                            (g.get(1), g.get(2), g.get(3), g.get(4), g.get(5))
                        else {
                            return Err(format!("base chain {g:?}"));
                        };
                        let prio = prio.parse().map_err(|_| format!("priority {prio}"))?;
                        chain.base = Some((ty.to_string(), hook.to_string(), prio));
                    }
                }
                Ok(())
            }
            ("flush", "chain") => {
                self.chains
                    .get_mut(&name)
                    .ok_or_else(|| format!("flush of missing chain {name}"))?
                    .rules
                    .clear();
                Ok(())
            }
            ("delete", "chain") => {
                if !self.chains.contains_key(&name) {
                    return Err(format!("delete of missing chain {name}"));
                }
                // Its rules go with it; jumps to it must be gone.
                if let Some(by) = self.referrer(&name) {
                    return Err(format!("delete of chain {name} still used by {by}"));
                }
                self.chains.remove(&name);
                Ok(())
            }
            ("add", "rule") => {
                let rest = &toks[t.i..];
                let stmts = parse_rule(rest)?;
                for s in &stmts {
                    self.check_refs(s)?;
                }
                let rule = Rule {
                    raw: rest.join(" "),
                    stmts,
                };
                self.chains
                    .get_mut(&name)
                    .ok_or_else(|| format!("rule in missing chain {name}"))?
                    .rules
                    .push(rule);
                Ok(())
            }
            ("add", "set" | "map") => {
                self.sets.entry(name).or_default();
                Ok(())
            }
            ("flush", "set" | "map") => {
                self.sets
                    .get_mut(&name)
                    .ok_or_else(|| format!("flush of missing set {name}"))?
                    .clear();
                Ok(())
            }
            ("delete", "set" | "map") => {
                self.sets
                    .remove(&name)
                    .ok_or_else(|| format!("delete of missing set {name}"))?;
                Ok(())
            }
            ("add" | "delete", "element") => {
                let g = t.group()?;
                let mut key = Vec::new();
                let mut i = 0;
                while i < g.len() && g[i] != ":" && g[i] != "comment" {
                    if g[i] != "." {
                        key.push(g[i].to_string());
                    }
                    i += 1;
                }
                if g.get(i) == Some(&"comment") {
                    i += 2;
                }
                let value = if g.get(i) == Some(&":") {
                    g[i + 1..].join(" ")
                } else {
                    String::new()
                };
                let set = self
                    .sets
                    .get_mut(&name)
                    .ok_or_else(|| format!("element of missing set {name}"))?;
                if verb == "delete" {
                    set.remove(&key)
                        .ok_or_else(|| format!("delete of missing element {key:?} in {name}"))?;
                    return Ok(());
                }
                if !value.is_empty() {
                    let g = parse_goto_text(&value)?;
                    if let NftVerdict::Jump(c) | NftVerdict::Goto(c) = &g
                        && !self.chains.contains_key(c)
                    {
                        return Err(format!("element verdict to missing chain {c}"));
                    }
                }
                if set.get(&key).is_some_and(|v| *v != value) {
                    return Err(format!(
                        "element {key:?} of {name} exists with another value"
                    ));
                }
                set.insert(key, value);
                Ok(())
            }
            (verb, kind) => Err(format!("unknown command {verb} {kind}")),
        }
    }

    fn check_refs(&self, s: &Stmt) -> Result<(), String> {
        let chain_ok = |g: &NftVerdict| match g {
            NftVerdict::Jump(c) | NftVerdict::Goto(c) if !self.chains.contains_key(c) => {
                Err(format!("jump to missing chain {c}"))
            }
            _ => Ok(()),
        };
        match s {
            Stmt::Verdict(g) => chain_ok(g),
            Stmt::Numgen(gs) => gs.iter().try_for_each(chain_ok),
            Stmt::Vmap { map: set, .. }
            | Stmt::Match {
                values: Values::Set(set),
                ..
            } if !self.sets.contains_key(set) => Err(format!("missing set {set}")),
            _ => Ok(()),
        }
    }

    /// A rule or element that still sends packets to `chain`.
    fn referrer(&self, chain: &str) -> Option<String> {
        let hits =
            |g: &NftVerdict| matches!(g, NftVerdict::Jump(c) | NftVerdict::Goto(c) if c == chain);
        for (name, c) in &self.chains {
            for r in &c.rules {
                for s in &r.stmts {
                    let used = match s {
                        Stmt::Verdict(g) => hits(g),
                        Stmt::Numgen(gs) => gs.iter().any(hits),
                        _ => false,
                    };
                    if used {
                        return Some(format!("chain {name}"));
                    }
                }
            }
        }
        for (name, set) in &self.sets {
            if set
                .values()
                .any(|v| parse_goto_text(v).is_ok_and(|g| hits(&g)))
            {
                return Some(format!("map {name}"));
            }
        }
        None
    }
}

/// `nft -f` comments and statement separators aside, one command a line.
fn commands(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(n, l)| (n + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

impl NftTracer {
    /// A tracer of a node with `node_ips` (what `fib … type local` matches,
    /// besides 127.0.0.0/8), after the transaction `nft` (usually a full sync).
    pub fn new(nft: &str, node_ips: &[Ipv4Addr]) -> Result<NftTracer, ParseError> {
        let mut t = NftTracer {
            table: Table::default(),
            node_ips: node_ips.to_vec(),
        };
        t.apply(nft)?;
        Ok(t)
    }

    /// Runs one more transaction; on an error (which `nft -f` would report)
    /// nothing of it is applied.
    pub fn apply(&mut self, nft: &str) -> Result<(), ParseError> {
        let mut next = self.table.clone();
        for (line, text) in commands(nft) {
            let toks = tokenize(text);
            next.apply_command(&toks).map_err(|reason| ParseError {
                line,
                text: text.to_string(),
                reason,
            })?;
        }
        self.table = next;
        Ok(())
    }

    /// Every chain, with its rules as written (after the chain name).
    pub fn chains(&self) -> BTreeMap<String, Vec<String>> {
        self.table
            .chains
            .iter()
            .map(|(n, c)| (n.clone(), c.rules.iter().map(|r| r.raw.clone()).collect()))
            .collect()
    }

    /// Every set and map, with its elements as `key` or `key : verdict`.
    pub fn sets(&self) -> BTreeMap<String, BTreeSet<String>> {
        self.table
            .sets
            .iter()
            .map(|(n, s)| {
                let els = s
                    .iter()
                    .map(|(k, v)| {
                        let k = k.join(" . ");
                        if v.is_empty() {
                            k
                        } else {
                            format!("{k} : {v}")
                        }
                    })
                    .collect();
                (n.clone(), els)
            })
            .collect()
    }

    fn is_local(&self, ip: Ipv4Addr) -> bool {
        ip.is_loopback() || self.node_ips.contains(&ip)
    }

    fn field(&self, pkt: &Packet, path: &Path, f: Field) -> String {
        match f {
            Field::Saddr => pkt.src.to_string(),
            Field::Daddr => path.dst.to_string(),
            Field::L4proto => pkt.protocol.lower().to_string(),
            Field::Dport => path.dport.to_string(),
        }
    }

    fn matches(&self, s: &Stmt, pkt: &Packet, path: &Path) -> bool {
        match s {
            Stmt::Match { field, neg, values } => {
                let hit =
                    match values {
                        Values::Cidrs(cidrs) => {
                            let ip = if *field == Field::Saddr {
                                pkt.src
                            } else {
                                path.dst
                            };
                            cidrs.iter().any(|c| c.contains(ip))
                        }
                        Values::Set(name) => self.table.sets.get(name).is_some_and(|set| {
                            set.contains_key(&vec![self.field(pkt, path, *field)])
                        }),
                        Values::Word(w) => *w == self.field(pkt, path, *field),
                    };
                hit != *neg
            }
            Stmt::CtStateNew => true,
            Stmt::FibLocal { daddr } => self.is_local(if *daddr { path.dst } else { pkt.src }),
            Stmt::Mark { mask, value, neg } => ((path.mark & mask) == *value) != *neg,
            _ => true,
        }
    }

    fn run_chain(&self, chain: &str, pkt: &Packet, path: Path, depth: usize) -> Vec<(Path, End)> {
        self.run_from(chain, 0, pkt, path, depth)
    }

    /// Follows `g` from a rule of `chain` (index `idx`).
    fn follow(
        &self,
        g: &NftVerdict,
        (chain, idx): (&str, usize),
        pkt: &Packet,
        path: Path,
        depth: usize,
    ) -> Vec<(Path, End)> {
        match g {
            NftVerdict::Return => vec![(path, End::Return)],
            NftVerdict::Accept => vec![(path, End::Accept)],
            NftVerdict::Drop => vec![(path, End::Drop)],
            NftVerdict::Reject => vec![(path, End::Reject)],
            // A goto's return is the current chain's.
            NftVerdict::Goto(c) => self.run_chain(c, pkt, path, depth + 1),
            NftVerdict::Jump(c) => {
                let mut out = Vec::new();
                for (p, end) in self.run_chain(c, pkt, path, depth + 1) {
                    if end == End::Return {
                        out.extend(self.run_from(chain, idx + 1, pkt, p, depth));
                    } else {
                        out.push((p, end));
                    }
                }
                out
            }
        }
    }

    fn run_from(
        &self,
        chain: &str,
        start: usize,
        pkt: &Packet,
        mut path: Path,
        depth: usize,
    ) -> Vec<(Path, End)> {
        let Some(c) = self.table.chains.get(chain) else {
            return vec![(path, End::Return)];
        };
        if depth > 64 {
            return vec![(path, End::Drop)];
        }
        'rules: for (idx, rule) in c.rules.iter().enumerate().skip(start) {
            let saved = path.mark;
            for s in &rule.stmts {
                if !self.matches(s, pkt, &path) {
                    path.mark = saved;
                    continue 'rules;
                }
                match s {
                    Stmt::MarkOr(v) => path.mark |= v,
                    Stmt::MarkXor(v) => path.mark ^= v,
                    Stmt::Vmap { key, map } => {
                        let k: Vec<String> =
                            key.iter().map(|f| self.field(pkt, &path, *f)).collect();
                        let Some(v) = self.table.sets.get(map).and_then(|m| m.get(&k)) else {
                            path.mark = saved;
                            continue 'rules;
                        };
                        let Ok(g) = parse_goto_text(v) else {
                            return vec![(path, End::Drop)];
                        };
                        path.matched
                            .push(format!("{chain}: {} [{}]", rule.raw, k.join(" . ")));
                        return self.follow(&g, (chain, idx), pkt, path, depth);
                    }
                    Stmt::Numgen(branches) => {
                        path.matched.push(format!("{chain}: {}", rule.raw));
                        return branches
                            .iter()
                            .flat_map(|g| self.follow(g, (chain, idx), pkt, path.clone(), depth))
                            .collect();
                    }
                    Stmt::Dnat(to) => {
                        path.matched.push(format!("{chain}: {}", rule.raw));
                        let (ip, port) = to.split_once(':').unwrap_or((to, ""));
                        if let Ok(ip) = ip.parse() {
                            path.dst = ip;
                        }
                        if let Ok(port) = port.parse() {
                            path.dport = port;
                        }
                        path.dnat = Some(to.clone());
                        return vec![(path, End::Nat)];
                    }
                    Stmt::Masquerade => {
                        path.matched.push(format!("{chain}: {}", rule.raw));
                        path.masquerade = true;
                        return vec![(path, End::Nat)];
                    }
                    Stmt::Verdict(g) => {
                        path.matched.push(format!("{chain}: {}", rule.raw));
                        return self.follow(g, (chain, idx), pkt, path, depth);
                    }
                    _ => {}
                }
            }
            path.matched.push(format!("{chain}: {}", rule.raw));
        }
        vec![(path, End::Return)]
    }

    /// Runs every base chain of `hook` (by priority) on each path; the
    /// paths that survive, and those dropped or rejected.
    fn run_hook(
        &self,
        hook: &str,
        pkt: &Packet,
        paths: Vec<Path>,
        dead: &mut Vec<(Path, Verdict)>,
    ) -> Vec<Path> {
        let mut bases: Vec<(&String, i32, &str)> = self
            .table
            .chains
            .iter()
            .filter_map(|(n, c)| {
                c.base
                    .as_ref()
                    .filter(|(_, h, _)| h == hook)
                    .map(|(ty, _, p)| (n, *p, ty.as_str()))
            })
            .collect();
        bases.sort_by_key(|(n, p, _)| (*p, (*n).clone()));
        let mut live = paths;
        for (name, _, ty) in bases {
            let mut next = Vec::new();
            for p in live {
                // NAT chains see a connection's first packet only once.
                if ty == "nat" && hook != "postrouting" && p.dnat.is_some() {
                    next.push(p);
                    continue;
                }
                for (p, end) in self.run_chain(name, pkt, p, 0) {
                    match end {
                        End::Drop => dead.push((p, Verdict::Drop)),
                        End::Reject => dead.push((p, Verdict::Reject)),
                        End::Return | End::Accept | End::Nat => next.push(p),
                    }
                }
            }
            live = next;
        }
        live
    }

    /// Where `pkt` goes, over every load-balancing choice.
    pub fn trace(&self, pkt: &Packet) -> Trace {
        let start = Path {
            dst: pkt.dst,
            dport: pkt.dport,
            mark: 0,
            dnat: None,
            masquerade: false,
            matched: Vec::new(),
        };
        let mut dead = Vec::new();
        let first = if pkt.origin == Origin::Node {
            "output"
        } else {
            "prerouting"
        };
        let after_first = self.run_hook(first, pkt, vec![start], &mut dead);
        let mut routed = Vec::new();
        for p in after_first {
            if self.is_local(p.dst) {
                routed.extend(self.run_hook("input", pkt, vec![p], &mut dead));
            } else if pkt.origin != Origin::Node {
                routed.extend(self.run_hook("forward", pkt, vec![p], &mut dead));
            } else {
                routed.push(p);
            }
        }
        let done = self.run_hook("postrouting", pkt, routed, &mut dead);
        let mut matched = Vec::new();
        for p in done
            .iter()
            .map(|p| &p.matched)
            .chain(dead.iter().map(|(p, _)| &p.matched))
        {
            for m in p {
                if !matched.contains(m) {
                    matched.push(m.clone());
                }
            }
        }
        let mut dnats: Vec<String> = Vec::new();
        let mut masqueraded_to = Vec::new();
        let mut masquerade = false;
        for p in &done {
            if let Some(d) = &p.dnat {
                if !dnats.contains(d) {
                    dnats.push(d.clone());
                }
                if p.masquerade && !masqueraded_to.contains(d) {
                    masqueraded_to.push(d.clone());
                }
            }
            masquerade |= p.masquerade;
        }
        let verdict = if !dnats.is_empty() {
            Verdict::Dnat(dnats)
        } else if done.is_empty() {
            dead.first()
                .map(|(_, v)| v.clone())
                .unwrap_or(Verdict::Drop)
        } else {
            Verdict::Accept
        };
        Trace {
            verdict,
            masquerade,
            masqueraded_to,
            matched,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_statements_are_errors_and_transactions_atomic() {
        let ok =
            "add table ip kube-proxy\nadd chain ip kube-proxy x\nadd rule ip kube-proxy x drop\n";
        let mut t = NftTracer::new(ok, &[]).unwrap();
        let err = t
            .apply("flush chain ip kube-proxy x\nadd rule ip kube-proxy x frobnicate\n")
            .unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.reason.contains("frobnicate"), "{err}");
        assert_eq!(
            t.chains()["x"],
            ["drop"],
            "the failed transaction left nothing"
        );
        let err = t
            .apply("add rule ip kube-proxy x jump nowhere\n")
            .unwrap_err();
        assert!(err.reason.contains("missing chain"), "{err}");
        t.apply("add chain ip kube-proxy y\nadd rule ip kube-proxy x jump y\n")
            .unwrap();
        let err = t.apply("delete chain ip kube-proxy y\n").unwrap_err();
        assert!(err.reason.contains("still used"), "{err}");
        t.apply("flush chain ip kube-proxy x\ndelete chain ip kube-proxy y\n")
            .unwrap();
    }
}
