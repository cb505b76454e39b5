//! The Corefile, parsed as CoreDNS parses it (caddy's caddyfile lexer and
//! parser): server blocks with one or more keys (`.:53`, `cluster.local:53`,
//! `dns://.:53`), each holding plugin directives with arguments and nested
//! `{ … }` blocks; `#` comments, quoted tokens, `{$VAR}` / `{%VAR%}`
//! environment substitution. Errors carry caddy's wording and line numbers
//! (`Corefile:3 - Error during parsing: Unknown directive 'foo'`).

use std::fmt;

/// The plugins CoreDNS is built with (its plugin.cfg), in execution order.
pub const DIRECTIVES: &[&str] = &[
    "root",
    "metadata",
    "geoip",
    "cancel",
    "tls",
    "timeouts",
    "multisocket",
    "reload",
    "nsid",
    "bufsize",
    "bind",
    "debug",
    "trace",
    "ready",
    "health",
    "pprof",
    "prometheus",
    "errors",
    "log",
    "dnstap",
    "local",
    "dns64",
    "acl",
    "any",
    "chaos",
    "loadbalance",
    "tsig",
    "cache",
    "rewrite",
    "header",
    "dnssec",
    "autopath",
    "minimal",
    "template",
    "transfer",
    "hosts",
    "route53",
    "azure",
    "clouddns",
    "k8s_external",
    "kubernetes",
    "file",
    "auto",
    "secondary",
    "etcd",
    "loop",
    "forward",
    "grpc",
    "erratic",
    "whoami",
    "on",
    "sign",
    "view",
];

/// A token with the line it started on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub text: String,
    pub line: usize,
    /// Quoted tokens are never `{`, `}` or comments.
    pub quoted: bool,
}

/// A parse error, displayed as CoreDNS prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{} - Error during parsing: {}",
            self.file, self.line, self.message
        )
    }
}

impl std::error::Error for Error {}

/// A server block key: `[scheme://]zone[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// As written (after env substitution).
    pub original: String,
    /// `dns`, `tls`, `grpc`, `https`.
    pub scheme: String,
    /// Lower-case, fully qualified (`.`, `cluster.local.`).
    pub zone: String,
    pub port: u16,
}

/// One plugin directive and everything up to the end of its line or block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub name: String,
    pub line: usize,
    pub args: Vec<String>,
    /// Lines inside the directive's `{ … }` block.
    pub block: Vec<BlockLine>,
}

/// One line inside a directive's block: a property and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockLine {
    pub line: usize,
    pub name: String,
    pub args: Vec<String>,
    pub block: Vec<BlockLine>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerBlock {
    pub keys: Vec<Key>,
    pub directives: Vec<Directive>,
}

impl ServerBlock {
    pub fn directive(&self, name: &str) -> Option<&Directive> {
        self.directives.iter().find(|d| d.name == name)
    }
}

/// Splits text into tokens as caddy's lexer does.
pub fn lex(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut line = 1;
    let mut chars = text.chars().peekable();
    let mut cur = String::new();
    let mut start = 1;
    let mut quoted = false;
    let mut in_quotes = false;
    let mut comment = false;
    while let Some(c) = chars.next() {
        if in_quotes {
            if c == '\\' && chars.peek() == Some(&'"') {
                cur.push('"');
                chars.next();
                continue;
            }
            if c == '"' {
                in_quotes = false;
                continue;
            }
            if c == '\n' {
                line += 1;
            }
            cur.push(c);
            continue;
        }
        if comment {
            if c == '\n' {
                comment = false;
                line += 1;
            }
            continue;
        }
        if c.is_whitespace() {
            if !cur.is_empty() || quoted {
                tokens.push(Token {
                    text: std::mem::take(&mut cur),
                    line: start,
                    quoted,
                });
                quoted = false;
            }
            if c == '\n' {
                line += 1;
            }
            continue;
        }
        if c == '#' && cur.is_empty() && !quoted {
            comment = true;
            continue;
        }
        if c == '"' && cur.is_empty() && !quoted {
            in_quotes = true;
            quoted = true;
            start = line;
            continue;
        }
        if cur.is_empty() {
            start = line;
        }
        cur.push(c);
    }
    if !cur.is_empty() || quoted {
        tokens.push(Token {
            text: cur,
            line: start,
            quoted,
        });
    }
    tokens
}

/// Replaces `{$VAR}` and `{%VAR%}` with the variable's value (empty when unset).
pub fn replace_env(s: &str, env: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('{') {
        let after = &rest[i + 1..];
        let (open, close) = if after.starts_with('$') {
            ("$", "}")
        } else if after.starts_with('%') {
            ("%", "%}")
        } else {
            out.push_str(&rest[..=i]);
            rest = after;
            continue;
        };
        match after[1..].find(close) {
            Some(j) if !after[open.len()..open.len() + j].is_empty() => {
                out.push_str(&rest[..i]);
                let var = &after[open.len()..open.len() + j];
                out.push_str(&env(var).unwrap_or_default());
                rest = &after[open.len() + j + close.len()..];
            }
            _ => {
                out.push_str(&rest[..=i]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The process environment, for [`parse`].
pub fn process_env(var: &str) -> Option<String> {
    std::env::var(var).ok()
}

struct Parser<'a> {
    file: &'a str,
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser<'_> {
    fn err(&self, line: usize, message: impl Into<String>) -> Error {
        Error {
            file: self.file.to_string(),
            line,
            message: message.into(),
        }
    }
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }
    fn is_open(t: &Token) -> bool {
        !t.quoted && t.text == "{"
    }
    fn is_close(t: &Token) -> bool {
        !t.quoted && t.text == "}"
    }
    fn last_line(&self) -> usize {
        self.tokens.last().map(|t| t.line).unwrap_or(1)
    }

    fn server_block(&mut self) -> Result<ServerBlock, Error> {
        // Keys: tokens up to `{`, a comma-separated or space-separated list on
        // the first line(s).
        let mut keys = Vec::new();
        let first_line = self.peek().map(|t| t.line).unwrap_or(1);
        let mut line = first_line;
        let mut braced = false;
        let mut expect_more = false;
        while let Some(t) = self.peek().cloned() {
            if Self::is_open(&t) {
                self.pos += 1;
                braced = true;
                break;
            }
            if t.line != line && !expect_more {
                break;
            }
            if Self::is_close(&t) {
                return Err(self.err(t.line, "Unexpected '}' because no matching opening brace"));
            }
            self.pos += 1;
            line = t.line;
            let mut text = t.text.clone();
            expect_more = text.ends_with(',');
            if expect_more {
                text.pop();
            }
            for part in text.split(',').filter(|p| !p.is_empty()) {
                keys.push(parse_key(part).map_err(|m| self.err(t.line, m))?);
            }
        }
        if keys.is_empty() {
            return Err(self.err(first_line, "Expected server block key"));
        }
        let mut directives = Vec::new();
        loop {
            let Some(t) = self.peek().cloned() else {
                if braced {
                    return Err(self.err(self.last_line(), "Unexpected EOF"));
                }
                break;
            };
            if Self::is_close(&t) {
                self.pos += 1;
                if !braced {
                    return Err(
                        self.err(t.line, "Unexpected '}' because no matching opening brace")
                    );
                }
                break;
            }
            if Self::is_open(&t) {
                return Err(self.err(t.line, "Unexpected '{'"));
            }
            let name = t.text.clone();
            if !DIRECTIVES.contains(&name.as_str()) {
                return Err(self.err(t.line, format!("Unknown directive '{name}'")));
            }
            self.pos += 1;
            let (args, block) = self.rest_of(t.line)?;
            directives.push(Directive {
                name,
                line: t.line,
                args,
                block,
            });
        }
        Ok(ServerBlock { keys, directives })
    }

    /// Arguments on `line`, then an optional `{ … }` block of lines.
    fn rest_of(&mut self, line: usize) -> Result<(Vec<String>, Vec<BlockLine>), Error> {
        let mut args = Vec::new();
        let mut block = Vec::new();
        while let Some(t) = self.peek().cloned() {
            if t.line != line {
                break;
            }
            if Self::is_close(&t) {
                break;
            }
            self.pos += 1;
            if Self::is_open(&t) {
                block = self.block_lines()?;
                break;
            }
            args.push(t.text);
        }
        Ok((args, block))
    }

    fn block_lines(&mut self) -> Result<Vec<BlockLine>, Error> {
        let mut lines = Vec::new();
        loop {
            let Some(t) = self.peek().cloned() else {
                return Err(self.err(self.last_line(), "Unexpected EOF"));
            };
            self.pos += 1;
            if Self::is_close(&t) {
                return Ok(lines);
            }
            if Self::is_open(&t) {
                let inner = self.block_lines()?;
                lines.push(BlockLine {
                    line: t.line,
                    name: String::new(),
                    args: Vec::new(),
                    block: inner,
                });
                continue;
            }
            let (args, block) = self.rest_of(t.line)?;
            lines.push(BlockLine {
                line: t.line,
                name: t.text,
                args,
                block,
            });
        }
    }
}

/// Parses `[scheme://]zone[:port]` into a [`Key`].
pub fn parse_key(s: &str) -> Result<Key, String> {
    let (scheme, rest) = match s.split_once("://") {
        Some((sc, r)) => (sc.to_ascii_lowercase(), r),
        None => ("dns".to_string(), s),
    };
    let default_port = match scheme.as_str() {
        "dns" => 53,
        "tls" => 853,
        "grpc" => 443,
        "https" => 443,
        other => return Err(format!("unsupported scheme '{other}'")),
    };
    let (zone, port) = match rest.rsplit_once(':') {
        Some((z, p)) => {
            let port = p
                .parse::<u16>()
                .map_err(|_| format!("invalid port '{p}'"))?;
            (z, port)
        }
        None => (rest, default_port),
    };
    let zone = if zone.is_empty() { "." } else { zone };
    let mut zone = zone.to_ascii_lowercase();
    if !zone.ends_with('.') {
        zone.push('.');
    }
    Ok(Key {
        original: s.to_string(),
        scheme,
        zone,
        port,
    })
}

/// Parses a Corefile named `file` (CoreDNS names it `Corefile` in errors).
pub fn parse(
    file: &str,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<ServerBlock>, Error> {
    let mut tokens = lex(text);
    for t in &mut tokens {
        t.text = replace_env(&t.text, env);
    }
    let mut p = Parser {
        file,
        tokens,
        pos: 0,
    };
    // A server block without braces runs to the end of the file.
    let mut blocks = Vec::new();
    while p.peek().is_some() {
        blocks.push(p.server_block()?);
    }
    Ok(blocks)
}

#[cfg(test)]
mod tests;
