use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

fn p(text: &str) -> Result<Vec<ServerBlock>, Error> {
    parse("Corefile", text, &no_env)
}

fn perr(text: &str) -> String {
    match p(text) {
        Ok(b) => panic!("parsed: {b:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn lexes_quotes_comments_and_lines() {
    let t = lex("a \"b c\" # comment {\n\"x\\\"y\" {\n}");
    let texts: Vec<(&str, usize)> = t.iter().map(|t| (t.text.as_str(), t.line)).collect();
    assert_eq!(
        texts,
        [("a", 1), ("b c", 1), ("x\"y", 2), ("{", 2), ("}", 3)]
    );
    assert!(t[1].quoted && !t[3].quoted);
    assert_eq!(lex("\"\"")[0].text, "");
}

#[test]
fn keys_zones_and_ports() {
    let b = p("cluster.local:1053 example.org, dns://.:53 {\n whoami\n}\n").unwrap();
    let k: Vec<(&str, u16)> = b[0]
        .keys
        .iter()
        .map(|k| (k.zone.as_str(), k.port))
        .collect();
    assert_eq!(
        k,
        [("cluster.local.", 1053), ("example.org.", 53), (".", 53)]
    );
    assert_eq!(parse_key("tls://Example.ORG").unwrap().port, 853);
    assert_eq!(parse_key("tls://Example.ORG").unwrap().zone, "example.org.");
    assert!(parse_key(".:abc").is_err());
}

#[test]
fn several_blocks_and_nested_blocks() {
    let b = p("# top\n.:53 {\n  forward . 8.8.8.8 1.1.1.1 {\n    policy sequential\n  }\n}\ncluster.local:53 {\n  kubernetes { pods insecure }\n  cache 30\n}\n").unwrap();
    assert_eq!(b.len(), 2);
    let f = &b[0].directives[0];
    assert_eq!((f.name.as_str(), f.line), ("forward", 3));
    assert_eq!(f.args, [".", "8.8.8.8", "1.1.1.1"]);
    assert_eq!(f.block[0].name, "policy");
    assert_eq!(f.block[0].args, ["sequential"]);
    assert_eq!(b[1].directives[0].block[0].args, ["insecure"]);
    assert_eq!(b[1].directive("cache").unwrap().args, ["30"]);
}

#[test]
fn unbraced_single_block() {
    let b = p(".:53\nwhoami\nlog\n").unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].directives.len(), 2);
}

#[test]
fn env_substitution() {
    let env = |v: &str| (v == "PORT").then(|| "1053".to_string());
    let b = parse(
        "Corefile",
        ".:{$PORT} {\n forward . {%UNSET%}x {$PORT}\n}",
        &env,
    )
    .unwrap();
    assert_eq!(b[0].keys[0].port, 1053);
    assert_eq!(b[0].directives[0].args, [".", "x", "1053"]);
    assert_eq!(replace_env("{a} {$", &env), "{a} {$");
}

#[test]
fn errors_with_coredns_wording() {
    assert_eq!(
        perr(".:53 {\n  errors\n  foo bar\n}"),
        "Corefile:3 - Error during parsing: Unknown directive 'foo'"
    );
    assert_eq!(
        perr(".:53 {\n  errors\n"),
        "Corefile:2 - Error during parsing: Unexpected EOF"
    );
    assert_eq!(
        perr(".:53 {\n  cache {\n    success 10\n"),
        "Corefile:3 - Error during parsing: Unexpected EOF"
    );
    assert_eq!(
        perr(".:53\n errors\n}\n"),
        "Corefile:3 - Error during parsing: Unexpected '}' because no matching opening brace"
    );
}

#[test]
fn default_corefiles_parse() {
    for text in [crate::MICROK8S_COREFILE, crate::KUBEADM_COREFILE] {
        let b = p(text).unwrap();
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].keys[0].zone, ".");
        let names: Vec<&str> = b[0].directives.iter().map(|d| d.name.as_str()).collect();
        assert!(names.contains(&"kubernetes") && names.contains(&"loadbalance"));
    }
}

#[test]
fn line_numbers_count_comments_and_quoted_newlines() {
    assert_eq!(
        perr("# a\n\n.:53 {\n  # b\n  log \"x\ny\"\n  nope\n}"),
        "Corefile:7 - Error during parsing: Unknown directive 'nope'"
    );
    assert_eq!(
        perr(".:53 {\n}\n}\n"),
        "Corefile:3 - Error during parsing: Unexpected '}' because no matching opening brace"
    );
}
