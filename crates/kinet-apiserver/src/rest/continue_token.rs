//! List continue tokens as the API server reads them (k8s.io/apiserver's
//! `storage.DecodeContinue`): unpadded URL-safe base64 of
//! `{"v":"meta.k8s.io/v1","rv":N,"start":"KEY"}`, with upstream's error texts —
//! Go's base64 and encoding/json messages included, since they reach the client.

use kinet_model::quote::go_quote;
use serde_json::Value;

const INVALID: &str = "continue key is not valid";

/// The key a list continues from (`prefix` + the token's start key) and the
/// token's resourceVersion; the error is the text after `invalid continue token: `.
pub fn decode(token: &str, prefix: &str) -> Result<(String, i64), String> {
    let data = base64_raw_url(token.as_bytes())
        .map_err(|at| format!("{INVALID}: illegal base64 data at input byte {at}"))?;
    let c = unmarshal_token(&data).map_err(|e| format!("{INVALID}: {e}"))?;
    match c.version.as_str() {
        "meta.k8s.io/v1" => {
            if c.rv == 0 {
                return Err(format!(
                    "{INVALID}: incorrect encoded start resourceVersion (version meta.k8s.io/v1)"
                ));
            }
            if c.start.is_empty() {
                return Err(format!(
                    "{INVALID}: encoded start key empty (version meta.k8s.io/v1)"
                ));
            }
            // no climbing out of the listed collection
            let key = if c.start.starts_with('/') {
                c.start.clone()
            } else {
                format!("/{}", c.start)
            };
            if clean(&key) != key {
                return Err(format!("{INVALID}: {}", c.start));
            }
            Ok((format!("{prefix}{}", &key[1..]), c.rv))
        }
        v => Err(format!(
            "{INVALID}: server does not recognize this encoded version {v}"
        )),
    }
}

/// `storage.EncodeContinue`: the token of a list continuing at `key` (under
/// `prefix`) at revision `rv` (-1: the latest); None if `key` is not under `prefix`.
pub fn encode(key: &str, prefix: &str, rv: i64) -> Option<String> {
    use base64::Engine;
    let start = key.strip_prefix(prefix)?;
    let json = serde_json::json!({"v": "meta.k8s.io/v1", "rv": rv, "start": start});
    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json.to_string()))
}

struct Token {
    version: String,
    rv: i64,
    start: String,
}

/// Go's `base64.RawURLEncoding.DecodeString` (lenient trailing bits, no padding,
/// CR and LF skipped); the error is the offending offset.
fn base64_raw_url(s: &[u8]) -> Result<Vec<u8>, usize> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    use base64::{DecodeError, Engine, alphabet};
    const RAW_URL: GeneralPurpose = GeneralPurpose::new(
        &alphabet::URL_SAFE,
        GeneralPurposeConfig::new()
            .with_encode_padding(false)
            .with_decode_padding_mode(DecodePaddingMode::RequireNone)
            .with_decode_allow_trailing_bits(true),
    );
    let text: Vec<u8> = s
        .iter()
        .copied()
        .filter(|c| !matches!(c, b'\r' | b'\n'))
        .collect();
    RAW_URL.decode(&text).map_err(|e| match e {
        DecodeError::InvalidByte(at, _) | DecodeError::InvalidLastSymbol(at, _) => at,
        DecodeError::InvalidPadding => text.iter().position(|&c| c == b'=').unwrap_or(0),
        DecodeError::InvalidLength(_) => text.len().saturating_sub(1),
    })
}

/// `json.Unmarshal(data, &continueToken{})`, with Go's messages.
fn unmarshal_token(data: &[u8]) -> Result<Token, String> {
    go_json_syntax(data)?;
    let v: Value = serde_json::from_slice(data)
        .or_else(|_| serde_json::from_str(&String::from_utf8_lossy(data)))
        .map_err(|e| e.to_string())?;
    let mut t = Token {
        version: String::new(),
        rv: 0,
        start: String::new(),
    };
    let fields = match &v {
        Value::Object(m) => m,
        Value::Null => return Ok(t),
        other => {
            return Err(format!(
                "json: cannot unmarshal {} into Go value of type storage.continueToken",
                kinet_model::quote::go_json_kind(other)
            ));
        }
    };
    let type_err = |v: &Value, field: &str, ty: &str| {
        // Go names the number only when it does not fit an integer field
        let what = match v {
            Value::Number(n) if ty == "int64" => format!("number {n}"),
            other => kinet_model::quote::go_json_kind(other).to_string(),
        };
        format!(
            "json: cannot unmarshal {what} into Go struct field continueToken.{field} of type {ty}"
        )
    };
    // Go matches field names case-insensitively; a later duplicate wins
    for (k, val) in fields {
        match k.to_ascii_lowercase().as_str() {
            "v" | "start" if val.is_null() => {}
            "v" | "start" => {
                let s = val
                    .as_str()
                    .ok_or_else(|| type_err(val, &k.to_ascii_lowercase(), "string"))?;
                if k.eq_ignore_ascii_case("v") {
                    t.version = s.to_string();
                } else {
                    t.start = s.to_string();
                }
            }
            "rv" if val.is_null() => {}
            "rv" => t.rv = val.as_i64().ok_or_else(|| type_err(val, "rv", "int64"))?,
            _ => {}
        }
    }
    Ok(t)
}

/// Go's `path.Clean` of an absolute path.
fn clean(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Checks `data` as Go's encoding/json scanner does, with its error texts
/// (`invalid character 'x' looking for beginning of value`, `unexpected end of
/// JSON input`).
fn go_json_syntax(data: &[u8]) -> Result<(), String> {
    let mut p = Scan { data, at: 0 };
    p.value()?;
    p.space();
    match p.peek() {
        None => Ok(()),
        Some(c) => Err(invalid(c, "after top-level value")),
    }
}

fn invalid(c: u8, context: &str) -> String {
    let q = match c {
        b'\'' => "'\\''".to_string(),
        b'"' => "'\"'".to_string(),
        c => {
            let s = go_quote(&char::from(c).to_string());
            format!("'{}'", &s[1..s.len() - 1])
        }
    };
    format!("invalid character {q} {context}")
}

const EOF: &str = "unexpected end of JSON input";

struct Scan<'a> {
    data: &'a [u8],
    at: usize,
}

impl Scan<'_> {
    fn peek(&self) -> Option<u8> {
        self.data.get(self.at).copied()
    }

    fn next(&mut self) -> Result<u8, String> {
        let c = self.peek().ok_or_else(|| EOF.to_string())?;
        self.at += 1;
        Ok(c)
    }

    fn space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.at += 1;
        }
    }

    fn value(&mut self) -> Result<(), String> {
        self.space();
        match self.next()? {
            b'{' => self.object(),
            b'[' => self.array(),
            b'"' => self.string(),
            b't' => self.literal(b"rue", "true"),
            b'f' => self.literal(b"alse", "false"),
            b'n' => self.literal(b"ull", "null"),
            c @ (b'-' | b'0'..=b'9') => self.number(c),
            c => Err(invalid(c, "looking for beginning of value")),
        }
    }

    fn object(&mut self) -> Result<(), String> {
        self.space();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(());
        }
        loop {
            self.space();
            match self.next()? {
                b'"' => self.string()?,
                c => return Err(invalid(c, "looking for beginning of object key string")),
            }
            self.space();
            match self.next()? {
                b':' => {}
                c => return Err(invalid(c, "after object key")),
            }
            self.value()?;
            self.space();
            match self.next()? {
                b',' => {}
                b'}' => return Ok(()),
                c => return Err(invalid(c, "after object key:value pair")),
            }
        }
    }

    fn array(&mut self) -> Result<(), String> {
        self.space();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(());
        }
        loop {
            self.value()?;
            self.space();
            match self.next()? {
                b',' => {}
                b']' => return Ok(()),
                c => return Err(invalid(c, "after array element")),
            }
        }
    }

    fn string(&mut self) -> Result<(), String> {
        loop {
            match self.next()? {
                b'"' => return Ok(()),
                b'\\' => match self.next()? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                    b'u' => {
                        for _ in 0..4 {
                            let c = self.next()?;
                            if !c.is_ascii_hexdigit() {
                                return Err(invalid(c, "in \\u hexadecimal character escape"));
                            }
                        }
                    }
                    c => return Err(invalid(c, "in string escape code")),
                },
                c if c < 0x20 => return Err(invalid(c, "in string literal")),
                _ => {}
            }
        }
    }

    fn literal(&mut self, rest: &[u8], word: &str) -> Result<(), String> {
        for &want in rest {
            let c = self.next()?;
            if c != want {
                return Err(invalid(
                    c,
                    &format!("in literal {word} (expecting {})", invalid_quote(want)),
                ));
            }
        }
        Ok(())
    }

    fn number(&mut self, first: u8) -> Result<(), String> {
        let digits = |s: &mut Self| {
            while matches!(s.peek(), Some(b'0'..=b'9')) {
                s.at += 1;
            }
        };
        let mut c = first;
        if c == b'-' {
            c = self.next()?;
            if !c.is_ascii_digit() {
                return Err(invalid(c, "in numeric literal"));
            }
        }
        if c != b'0' {
            digits(self);
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            let c = self.next()?;
            if !c.is_ascii_digit() {
                return Err(invalid(c, "after decimal point in numeric literal"));
            }
            digits(self);
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            let mut c = self.next()?;
            if c == b'+' || c == b'-' {
                c = self.next()?;
            }
            if !c.is_ascii_digit() {
                return Err(invalid(c, "in exponent of numeric literal"));
            }
            digits(self);
        }
        Ok(())
    }
}

fn invalid_quote(c: u8) -> String {
    format!("'{}'", char::from(c))
}

#[cfg(test)]
mod tests {
    #[test]
    fn encoded_tokens_decode_to_their_key() {
        let t = super::encode("/core/pods/default/web", "/core/pods/", -1).unwrap();
        assert_eq!(
            super::decode(&t, "/core/pods/").unwrap(),
            ("/core/pods/default/web".to_string(), -1)
        );
        assert_eq!(super::encode("/other/x", "/core/pods/", 1), None);
    }

    use super::*;

    fn token(json: &str) -> String {
        base64_encode(json.as_bytes())
    }

    fn base64_encode(b: &[u8]) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in b.chunks(3) {
            let n = chunk.iter().fold(0u32, |a, &c| (a << 8) | c as u32) << (8 * (3 - chunk.len()));
            for i in 0..=chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    }

    #[test]
    fn junk_reads_as_upstream_reads_it() {
        // "junk" is valid base64 for the bytes 8e e9 e4, which are not JSON
        assert_eq!(
            decode("junk", "/core/pods/"),
            Err(
                "continue key is not valid: invalid character '\\u008e' looking for beginning of value"
                    .into()
            )
        );
        assert_eq!(
            decode("abc!", "/p/"),
            Err("continue key is not valid: illegal base64 data at input byte 3".into())
        );
        assert_eq!(
            decode("abcde", "/p/"),
            Err("continue key is not valid: illegal base64 data at input byte 4".into())
        );
        assert_eq!(
            decode("", "/p/"),
            Err("continue key is not valid: unexpected end of JSON input".into())
        );
    }

    #[test]
    fn tokens_upstream_makes_decode() {
        let t = token(r#"{"v":"meta.k8s.io/v1","rv":42,"start":"default/web\u0000"}"#);
        assert_eq!(
            decode(&t, "/core/pods/"),
            Ok(("/core/pods/default/web\0".into(), 42))
        );
    }

    #[test]
    fn bad_tokens_get_upstream_messages() {
        let cases = [
            (
                r#"{"v":"meta.k8s.io/v1","rv":0,"start":"a"}"#,
                "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
            ),
            (
                r#"{"v":"meta.k8s.io/v1","rv":3}"#,
                "continue key is not valid: encoded start key empty (version meta.k8s.io/v1)",
            ),
            (
                r#"{"v":"meta.k8s.io/v1","rv":3,"start":"../secrets/x"}"#,
                "continue key is not valid: ../secrets/x",
            ),
            (
                r#"{"v":"v2","rv":3,"start":"a"}"#,
                "continue key is not valid: server does not recognize this encoded version v2",
            ),
            (
                r#"{"v":"meta.k8s.io/v1","rv":"3","start":"a"}"#,
                "continue key is not valid: json: cannot unmarshal string into Go struct field continueToken.rv of type int64",
            ),
            (
                r#"[1]"#,
                "continue key is not valid: json: cannot unmarshal array into Go value of type storage.continueToken",
            ),
            (
                r#"{"v":1"#,
                "continue key is not valid: unexpected end of JSON input",
            ),
            (
                r#"{"v" 1}"#,
                "continue key is not valid: invalid character '1' after object key",
            ),
            (
                r#"{"v":tru}"#,
                "continue key is not valid: invalid character '}' in literal true (expecting 'e')",
            ),
            (
                r#"{} x"#,
                "continue key is not valid: invalid character 'x' after top-level value",
            ),
        ];
        for (json, want) in cases {
            assert_eq!(decode(&token(json), "/p/"), Err(want.to_string()), "{json}");
        }
        // field names match case-insensitively, as Go's decoder does
        let t = token(r#"{"V":"meta.k8s.io/v1","RV":7,"Start":"a"}"#);
        assert_eq!(decode(&t, "/p/"), Ok(("/p/a".into(), 7)));
    }

    #[test]
    fn syntax_check_accepts_json() {
        for ok in [
            "null",
            " {\"a\": [1, -2.5e+3, true, false, null, \"x\\u00e9\\n\"]} ",
            "0",
        ] {
            assert_eq!(go_json_syntax(ok.as_bytes()), Ok(()), "{ok}");
        }
        assert_eq!(
            go_json_syntax(b"01"),
            Err("invalid character '1' after top-level value".into())
        );
    }
}
