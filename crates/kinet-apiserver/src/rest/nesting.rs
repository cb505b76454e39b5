//! A cheap, linear pre-scan of a request body's nesting depth, so that a
//! document nested hundreds of thousands of levels deep is refused before any
//! parser (libyaml's is quadratic in depth) sees it. The limits are upstream's:
//! goyaml refuses a flow level or an indentation stack (each on its own) past 10000 ("yaml:
//! exceeded max depth of 10000"), Go's encoding/json a nesting past 10000
//! ("exceeded max depth").
//!
//! Both scans over-estimate (a bracket in a plain scalar or a block scalar
//! counts), which only matters for documents no one writes: 10000 unclosed
//! brackets.

/// Upstream's maximum nesting depth, for YAML and JSON alike.
pub(crate) const MAX_DEPTH: usize = 10_000;

/// Where a YAML document passes `limit` levels: the 0-based line, or None.
pub(crate) fn yaml_too_deep(body: &[u8], limit: usize) -> Option<usize> {
    let mut flow = 0usize;
    // the columns of the open block collections, strictly increasing
    let mut indents: Vec<usize> = Vec::new();
    let (mut single, mut double) = (false, false);
    for (line_no, line) in body.split(|&b| b == b'\n').enumerate() {
        let mut i = 0;
        if !single && !double && flow == 0 {
            let col = line.iter().take_while(|&&b| b == b' ').count();
            let rest = &line[col..];
            if rest.is_empty() || rest[0] == b'#' || rest == b"\r" {
                continue;
            }
            while indents.last().is_some_and(|&c| c > col) {
                indents.pop();
            }
            if indents.last() != Some(&col) {
                indents.push(col);
            }
            i = col;
            // compact nested collections on one line: "- - a", "? - b", "- a: "
            while i + 1 < line.len() && matches!(line[i], b'-' | b'?' | b':') && line[i + 1] == b' '
            {
                i += 1;
                while i < line.len() && line[i] == b' ' {
                    i += 1;
                }
                if indents.last().is_none_or(|&c| c < i) {
                    indents.push(i);
                }
                if indents.len() > limit {
                    return Some(line_no);
                }
            }
        }
        if indents.len() > limit {
            return Some(line_no);
        }
        while i < line.len() {
            let b = line[i];
            if double {
                match b {
                    b'\\' => i += 1,
                    b'"' => double = false,
                    _ => {}
                }
            } else if single {
                if b == b'\'' {
                    single = false;
                }
            } else {
                let token_start =
                    i == 0 || matches!(line[i - 1], b' ' | b'\t' | b'[' | b'{' | b',');
                match b {
                    b'#' if i == 0 || matches!(line[i - 1], b' ' | b'\t') => break,
                    b'"' if token_start => double = true,
                    b'\'' if token_start => single = true,
                    b'[' | b'{' => {
                        flow += 1;
                        if flow > limit {
                            return Some(line_no);
                        }
                    }
                    b']' | b'}' => flow = flow.saturating_sub(1),
                    _ => {}
                }
            }
            i += 1;
        }
    }
    None
}

/// Whether a JSON text nests deeper than `limit` arrays and objects.
pub(crate) fn json_too_deep(body: &[u8], limit: usize) -> bool {
    let mut depth = 0usize;
    let (mut in_string, mut escaped) = (false, false);
    for &b in body {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Upstream's `summarizeData(body, 30)`: the start of a body, as text if it
/// looks like a JSON object, in hex otherwise.
pub(crate) fn summarize(body: &[u8]) -> String {
    const MAX: usize = 30;
    let head = &body[..body.len().min(MAX)];
    let more = if body.len() > MAX { " ..." } else { "" };
    match body.first() {
        None => "<empty>".into(),
        Some(b'{') => format!("{}{more}", String::from_utf8_lossy(head)),
        Some(_) => {
            let hex: String = head.iter().map(|b| format!("{b:02x}")).collect();
            format!("{hex}{more}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_depth_is_bounded_in_flow_and_block_styles() {
        let deep = |open: &str, n: usize| open.repeat(n);
        assert_eq!(
            yaml_too_deep(deep("[", 10_001).as_bytes(), MAX_DEPTH),
            Some(0)
        );
        assert_eq!(yaml_too_deep(deep("[", 10_000).as_bytes(), MAX_DEPTH), None);
        let braces = format!("a: b\nx: {}", deep("{", 200_000));
        assert_eq!(yaml_too_deep(braces.as_bytes(), MAX_DEPTH), Some(1));
        let dashes = format!("{}x\n", deep("- ", 200_000));
        assert!(yaml_too_deep(dashes.as_bytes(), MAX_DEPTH).is_some());
        // one key per line, each indented one more column
        let keys: String = (0..10_050)
            .map(|i| format!("{}k:\n", " ".repeat(i)))
            .collect();
        assert!(yaml_too_deep(keys.as_bytes(), MAX_DEPTH).is_some());
        let keys: String = (0..50).map(|i| format!("{}k:\n", " ".repeat(i))).collect();
        assert_eq!(yaml_too_deep(keys.as_bytes(), MAX_DEPTH), None);
        // brackets in quotes and comments do not count; a quote inside a word opens nothing
        let quoted = format!(
            "a: \"{}\"\nb: '{}'\n# {}\nc: it's\nd: {}",
            deep("[", 20_000),
            deep("{", 20_000),
            deep("[", 20_000),
            deep("[", 20_000)
        );
        assert_eq!(yaml_too_deep(quoted.as_bytes(), MAX_DEPTH), Some(4));
        let manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  labels: {a: b}\ndata:\n  k: |\n    [x]\n  l: [1, [2, {c: d}]]\n";
        // deepest: 3 flow levels in `l`, 3 block levels for the block scalar
        assert_eq!(yaml_too_deep(manifest.as_bytes(), 3), None);
        assert!(yaml_too_deep(manifest.as_bytes(), 2).is_some());
    }

    #[test]
    fn json_depth_is_bounded_outside_strings() {
        let deep = format!("{}{}", "[".repeat(10_001), "]".repeat(10_001));
        assert!(json_too_deep(deep.as_bytes(), MAX_DEPTH));
        let ok = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(!json_too_deep(ok.as_bytes(), MAX_DEPTH));
        let s = format!(r#"{{"a":"\"{}"}}"#, "[".repeat(20_000));
        assert!(!json_too_deep(s.as_bytes(), MAX_DEPTH));
    }

    #[test]
    fn summaries_match_upstream() {
        assert_eq!(summarize(b""), "<empty>");
        assert_eq!(summarize(b"{\"a\":1}"), "{\"a\":1}");
        assert_eq!(summarize(&[b'{'; 40]), format!("{} ...", "{".repeat(30)));
        assert_eq!(summarize(b"a: [1]"), "613a205b315d");
        assert_eq!(summarize(&[b'['; 31]), format!("{} ...", "5b".repeat(30)));
    }
}
