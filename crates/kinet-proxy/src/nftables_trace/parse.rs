//! The rule statements of `nft -f` that [`crate::nftables`] writes, parsed.

use std::collections::BTreeMap;

use crate::model::Cidr;

/// A packet field a rule looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Field {
    Saddr,
    Daddr,
    L4proto,
    Dport,
}

/// What a match compares its field with.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Values {
    Cidrs(Vec<Cidr>),
    Set(String),
    Word(String),
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum NftVerdict {
    Jump(String),
    Goto(String),
    Return,
    Accept,
    Drop,
    Reject,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Stmt {
    Match {
        field: Field,
        neg: bool,
        values: Values,
    },
    CtStateNew,
    /// `fib saddr|daddr type local`.
    FibLocal {
        daddr: bool,
    },
    /// `mark and M == V` / `!= V`.
    Mark {
        mask: u32,
        value: u32,
        neg: bool,
    },
    MarkOr(u32),
    MarkXor(u32),
    /// `KEY . KEY … vmap @map`.
    Vmap {
        key: Vec<Field>,
        map: String,
    },
    /// `numgen random mod N vmap { 0 : goto X , … }`.
    Numgen(Vec<NftVerdict>),
    /// `update @set { ip saddr }`: no effect on a first packet.
    Update,
    Dnat(String),
    Masquerade,
    Verdict(NftVerdict),
}

pub(super) fn tokenize(line: &str) -> Vec<String> {
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
            ' ' | ',' | ';' if !quoted => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
                if c == ';' {
                    out.push(";".into());
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

pub(super) fn parse_u32(s: &str) -> Result<u32, String> {
    match s.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => s.parse(),
    }
    .map_err(|_| format!("bad number {s}"))
}

pub(super) struct Tokens<'a> {
    pub(super) t: &'a [String],
    pub(super) i: usize,
}

impl<'a> Tokens<'a> {
    pub(super) fn peek(&self) -> Option<&'a str> {
        self.t.get(self.i).map(String::as_str)
    }
    pub(super) fn next(&mut self) -> Result<&'a str, String> {
        let t = self.peek().ok_or("unexpected end of line")?;
        self.i += 1;
        Ok(t)
    }
    pub(super) fn expect(&mut self, want: &str) -> Result<(), String> {
        let got = self.next()?;
        if got == want {
            Ok(())
        } else {
            Err(format!("expected {want}, got {got}"))
        }
    }
    /// The tokens of a `{ … }` group (after its `{`), without the braces.
    pub(super) fn group(&mut self) -> Result<Vec<&'a str>, String> {
        self.expect("{")?;
        let mut out = Vec::new();
        loop {
            match self.next()? {
                "}" => return Ok(out),
                t => out.push(t),
            }
        }
    }
}

pub(super) fn parse_goto(word: &str, t: &mut Tokens<'_>) -> Result<NftVerdict, String> {
    Ok(match word {
        "jump" => NftVerdict::Jump(t.next()?.to_string()),
        "goto" => NftVerdict::Goto(t.next()?.to_string()),
        "return" => NftVerdict::Return,
        "accept" => NftVerdict::Accept,
        "drop" => NftVerdict::Drop,
        "reject" => NftVerdict::Reject,
        other => return Err(format!("unknown verdict {other}")),
    })
}

pub(super) fn parse_goto_text(text: &str) -> Result<NftVerdict, String> {
    let toks = tokenize(text);
    let mut t = Tokens { t: &toks, i: 0 };
    let word = t.next()?;
    let g = parse_goto(word, &mut t)?;
    if t.peek().is_some() {
        return Err(format!("trailing tokens in verdict {text}"));
    }
    Ok(g)
}

pub(super) fn selector(first: &str, t: &mut Tokens<'_>) -> Result<Field, String> {
    let second = t.next()?;
    Ok(match (first, second) {
        ("ip", "saddr") => Field::Saddr,
        ("ip", "daddr") => Field::Daddr,
        ("meta", "l4proto") => Field::L4proto,
        ("th", "dport") => Field::Dport,
        _ => return Err(format!("unknown selector {first} {second}")),
    })
}

pub(super) fn values(field: Field, t: &mut Tokens<'_>) -> Result<Values, String> {
    let addr = matches!(field, Field::Saddr | Field::Daddr);
    let cidr = |s: &str| Cidr::parse_net_or_host(s).ok_or_else(|| format!("bad address {s}"));
    match t.peek() {
        Some("{") => {
            let words = t.group()?;
            if !addr {
                return Err("anonymous sets of addresses only".into());
            }
            Ok(Values::Cidrs(
                words.into_iter().map(cidr).collect::<Result<_, _>>()?,
            ))
        }
        Some(s) if s.starts_with('@') => {
            t.i += 1;
            Ok(Values::Set(s[1..].to_string()))
        }
        _ => {
            let v = t.next()?;
            if addr {
                Ok(Values::Cidrs(vec![cidr(v)?]))
            } else {
                Ok(Values::Word(v.to_string()))
            }
        }
    }
}

pub(super) fn parse_rule(toks: &[String]) -> Result<Vec<Stmt>, String> {
    let mut t = Tokens { t: toks, i: 0 };
    let mut out = Vec::new();
    while let Some(word) = t.peek() {
        t.i += 1;
        let stmt = match word {
            "comment" => {
                t.next()?;
                continue;
            }
            "ct" => {
                t.expect("state")?;
                t.expect("new")?;
                Stmt::CtStateNew
            }
            "ip" | "meta" | "th" => {
                let field = selector(word, &mut t)?;
                if t.peek() == Some(".") {
                    let mut key = vec![field];
                    while t.peek() == Some(".") {
                        t.i += 1;
                        let first = t.next()?;
                        key.push(selector(first, &mut t)?);
                    }
                    t.expect("vmap")?;
                    let map = t.next()?;
                    let map = map.strip_prefix('@').ok_or("only named vmaps")?;
                    Stmt::Vmap {
                        key,
                        map: map.to_string(),
                    }
                } else if t.peek() == Some("vmap") {
                    return Err("single-field vmaps are not emitted".into());
                } else {
                    let neg = t.peek() == Some("!=");
                    if neg {
                        t.i += 1;
                    }
                    Stmt::Match {
                        field,
                        neg,
                        values: values(field, &mut t)?,
                    }
                }
            }
            "tcp" | "udp" | "sctp" => {
                t.expect("dport")?;
                out.push(Stmt::Match {
                    field: Field::L4proto,
                    neg: false,
                    values: Values::Word(word.to_string()),
                });
                Stmt::Match {
                    field: Field::Dport,
                    neg: false,
                    values: Values::Word(t.next()?.to_string()),
                }
            }
            "fib" => {
                let which = t.next()?;
                t.expect("type")?;
                t.expect("local")?;
                match which {
                    "saddr" => Stmt::FibLocal { daddr: false },
                    "daddr" => Stmt::FibLocal { daddr: true },
                    other => return Err(format!("fib {other}")),
                }
            }
            "mark" => match t.next()? {
                "set" => {
                    t.expect("mark")?;
                    let op = t.next()?;
                    let v = parse_u32(t.next()?)?;
                    match op {
                        "or" => Stmt::MarkOr(v),
                        "xor" => Stmt::MarkXor(v),
                        other => return Err(format!("mark set mark {other}")),
                    }
                }
                "and" => {
                    let mask = parse_u32(t.next()?)?;
                    let neg = match t.next()? {
                        "==" => false,
                        "!=" => true,
                        other => return Err(format!("mark and: operator {other}")),
                    };
                    let value = parse_u32(t.next()?)?;
                    Stmt::Mark { mask, value, neg }
                }
                other => return Err(format!("mark {other}")),
            },
            "numgen" => {
                t.expect("random")?;
                t.expect("mod")?;
                let n: usize = t
                    .next()?
                    .parse()
                    .map_err(|_| "bad numgen modulus".to_string())?;
                t.expect("vmap")?;
                let words = t.group()?;
                let mut branches = BTreeMap::new();
                let mut g = Tokens {
                    t: &words.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                    i: 0,
                };
                while g.peek().is_some() {
                    let k: usize = g.next()?.parse().map_err(|_| "bad numgen key")?;
                    g.expect(":")?;
                    let w = g.next()?;
                    branches.insert(k, parse_goto(w, &mut g)?);
                }
                if branches.len() != n || branches.keys().any(|k| *k >= n) {
                    return Err(format!("numgen mod {n} with keys {:?}", branches.keys()));
                }
                Stmt::Numgen(branches.into_values().collect())
            }
            "update" => {
                let set = t.next()?;
                if !set.starts_with('@') {
                    return Err("update needs a set".into());
                }
                let g = t.group()?;
                if g != ["ip", "saddr"] {
                    return Err(format!("update with key {g:?}"));
                }
                Stmt::Update
            }
            "dnat" => {
                t.expect("to")?;
                Stmt::Dnat(t.next()?.to_string())
            }
            "masquerade" => {
                if t.peek() == Some("fully-random") {
                    t.i += 1;
                }
                Stmt::Masquerade
            }
            "jump" | "goto" | "return" | "accept" | "drop" | "reject" => {
                Stmt::Verdict(parse_goto(word, &mut t)?)
            }
            other => return Err(format!("unknown statement {other}")),
        };
        out.push(stmt);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizer_splits_separators_and_keeps_quotes() {
        assert_eq!(
            tokenize(r#"add set ip t s { type ipv4_addr ; comment "a, b" ; }"#),
            [
                "add",
                "set",
                "ip",
                "t",
                "s",
                "{",
                "type",
                "ipv4_addr",
                ";",
                "comment",
                "a, b",
                ";",
                "}"
            ]
        );
    }
}
