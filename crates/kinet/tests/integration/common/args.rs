//! Argument lists written as a shell command line, so tests read like the course.

/// Splits `line` into words as a POSIX shell does, without expansions: blanks
/// separate words; `'…'` keeps everything literally; `"…"` keeps everything but
/// `\"`, `\\`, `\$` and `` \` ``, which stand for the character after the
/// backslash; outside quotes a backslash takes the next character literally.
/// `''` is an empty word. Panics on an unclosed quote or a trailing backslash
/// (a mistake in the test).
pub fn args(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if let Some(w) = word.take() {
                    words.push(w);
                }
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => panic!("unclosed ' in {line:?}"),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => w.push(c),
                            Some(c) => {
                                w.push('\\');
                                w.push(c);
                            }
                            None => panic!("unclosed \" in {line:?}"),
                        },
                        Some(c) => w.push(c),
                        None => panic!("unclosed \" in {line:?}"),
                    }
                }
            }
            '\\' => match chars.next() {
                Some(c) => word.get_or_insert_with(String::new).push(c),
                None => panic!("trailing \\ in {line:?}"),
            },
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

#[cfg(test)]
mod tests {
    use super::args;

    #[test]
    fn args_split_like_a_shell() {
        assert_eq!(
            args("  get pods -o wide\t-n demo "),
            ["get", "pods", "-o", "wide", "-n", "demo"]
        );
        assert_eq!(
            args(r#"exec box -- sh -c 'echo "$HOME"; exit 3'"#),
            ["exec", "box", "--", "sh", "-c", r#"echo "$HOME"; exit 3"#]
        );
        assert_eq!(
            args(r#"-p "{\"a\": \"b\\c\"}" x\ y '' a'b'"c""#),
            ["-p", r#"{"a": "b\c"}"#, "x y", "", "abc"]
        );
        assert_eq!(args(r#""\n\$""#), [r"\n$"]);
        assert!(args("").is_empty());
        assert!(std::panic::catch_unwind(|| args("echo 'oops")).is_err());
        assert!(std::panic::catch_unwind(|| args("echo \"oops")).is_err());
    }
}
