//! List, watch, get and delete parameters refused as the API server refuses
//! them, over raw HTTP (the codes and Status reasons a client sees) and with
//! kubectl where a user meets them: bad versions and continue tokens, the
//! resourceVersionMatch rules, versions the store has not reached, exact reads
//! of a collection that changed since, and delete preconditions.

use crate::common::*;
use serde_json::Value;

/// The lab's API address and bearer token, read from its kubeconfig.
fn api_of(lab: &Lab) -> (String, String) {
    let kc = std::fs::read_to_string(&lab.kubeconfig).expect("the lab's kubeconfig");
    let field = |key: &str| {
        kc.lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("no {key} in {kc}"))
    };
    (field("server:"), field("token:"))
}

/// One request with curl: (HTTP code, the body as JSON).
fn call(api: &(String, String), method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let auth = format!("Authorization: Bearer {}", api.1);
    let url = format!("{}{path}", api.0);
    let mut argv = vec![
        "curl",
        "-sS",
        "-k",
        "--max-time",
        "30",
        "-X",
        method,
        "-w",
        "\n%{http_code}",
        "-H",
        &auth,
    ];
    if let Some(b) = body {
        argv.extend(["-H", "Content-Type: application/json", "--data-binary", b]);
    }
    argv.push(&url);
    let o = run(&argv);
    let text = out(&o);
    let (resp, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    let code = code
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{method} {path}: {}", out_err(&o)));
    let json = serde_json::from_str(resp).unwrap_or(Value::String(resp.to_string()));
    (code, json)
}

fn get(api: &(String, String), path: &str) -> (u16, Value) {
    call(api, "GET", path, None)
}

/// Asserts a refusal: the code, the Status reason (None: no reason, as Go
/// omits an unknown one) and the exact message.
fn refused(api: &(String, String), path: &str, code: u16, reason: Option<&str>, message: &str) {
    let (got, status) = get(api, path);
    assert_eq!(got, code, "{path}: {status}");
    assert_eq!(status["kind"], "Status", "{path}: {status}");
    assert_eq!(status["reason"].as_str(), reason, "{path}: {status}");
    assert_eq!(status["message"], message, "{path}: {status}");
}

fn list_rv(api: &(String, String), path: &str) -> u64 {
    let (code, list) = get(api, path);
    assert_eq!(code, 200, "{list}");
    list["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no resourceVersion in {list}"))
}

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|o| o["metadata"]["name"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn list_watch_get_and_delete_parameters_are_refused_as_upstream_refuses_them() {
    let lab = Lab::up(1);
    let api = api_of(&lab);
    let cms = "/api/v1/namespaces/default/configmaps";
    lab.k(&["create", "configmap", "a", "--from-literal=k=1"]);
    lab.k(&["create", "configmap", "b", "--from-literal=k=2"]);

    // what the handler decodes: 400 BadRequest
    let bad_rv = r#"invalid resource version: resourceVersion: Invalid value: "abc": strconv.ParseUint: parsing "abc": invalid syntax"#;
    refused(
        &api,
        &format!("{cms}?resourceVersion=abc"),
        400,
        Some("BadRequest"),
        bad_rv,
    );
    refused(
        &api,
        &format!("{cms}?continue=junk"),
        400,
        Some("BadRequest"),
        r"invalid continue token: continue key is not valid: invalid character '\u008e' looking for beginning of value",
    );
    refused(
        &api,
        &format!("{cms}?limit=abc"),
        400,
        Some("BadRequest"),
        r#"strconv.ParseInt: parsing "abc": invalid syntax"#,
    );
    refused(
        &api,
        &format!("{cms}?watch=true&timeoutSeconds=abc"),
        400,
        Some("BadRequest"),
        r#"strconv.ParseInt: parsing "abc": invalid syntax"#,
    );
    // a negative limit is no limit
    let (code, list) = get(&api, &format!("{cms}?limit=-1"));
    assert_eq!(code, 200, "{list}");
    assert!(names(&list).contains(&"b".to_string()), "{list}");

    // what ValidateListOptions forbids: 422 Invalid ListOptions
    let invalid = |q: &str, causes: &str| {
        refused(
            &api,
            &format!("{cms}?{q}"),
            422,
            Some("Invalid"),
            &format!(r#"ListOptions.meta.k8s.io "" is invalid: {causes}"#),
        )
    };
    invalid(
        "resourceVersionMatch=Exact",
        "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided",
    );
    invalid(
        "resourceVersion=1&resourceVersionMatch=Newest",
        r#"resourceVersionMatch: Unsupported value: "Newest": supported values: "Exact", "NotOlderThan", """#,
    );
    invalid(
        "resourceVersion=0&resourceVersionMatch=Exact",
        r#"resourceVersionMatch: Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0""#,
    );
    invalid(
        "sendInitialEvents=true",
        "sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list",
    );
    invalid(
        "watch=true&resourceVersionMatch=NotOlderThan",
        "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
    );

    // versions the watch cache parses: a 500 without a reason
    let versioner = r#"resourceVersion: Invalid value: "abc": strconv.ParseUint: parsing "abc": invalid syntax"#;
    refused(
        &api,
        &format!("{cms}?watch=true&resourceVersion=abc"),
        500,
        None,
        versioner,
    );
    refused(
        &api,
        &format!("{cms}/a?resourceVersion=abc"),
        500,
        None,
        versioner,
    );

    // a version the store has not reached: awaited, then 504 Timeout
    let rv = list_rv(&api, cms);
    let ahead = rv + 1_000_000;
    for path in [
        format!("{cms}?resourceVersion={ahead}"),
        format!("{cms}/a?resourceVersion={ahead}"),
    ] {
        let t = std::time::Instant::now();
        let (code, status) = get(&api, &path);
        assert_eq!(code, 504, "{path}: {status}");
        assert_eq!(status["reason"], "Timeout");
        assert_contains(
            status["message"].as_str().unwrap_or(""),
            format!("Timeout: Too large resource version: {ahead}, current: "),
        );
        assert_eq!(
            status["details"]["causes"][0]["reason"],
            "ResourceVersionTooLarge"
        );
        assert!(
            t.elapsed() >= secs(2),
            "answered without waiting: {:?}",
            t.elapsed()
        );
    }
    // versions it has reached are served
    let (code, obj) = get(&api, &format!("{cms}/a?resourceVersion={rv}"));
    assert_eq!((code, obj["metadata"]["name"].as_str()), (200, Some("a")));
    let (code, _) = get(
        &api,
        &format!("{cms}?resourceVersion={rv}&resourceVersionMatch=NotOlderThan"),
    );
    assert_eq!(code, 200);

    // an exact read: served while the collection is as it was, 410 once it changed
    let at = list_rv(&api, cms);
    let (code, list) = get(
        &api,
        &format!("{cms}?resourceVersion={at}&resourceVersionMatch=Exact"),
    );
    assert_eq!(code, 200, "{list}");
    assert_eq!(list["metadata"]["resourceVersion"], at.to_string());
    lab.k(&["create", "configmap", "c", "--from-literal=k=3"]);
    refused(
        &api,
        &format!("{cms}?resourceVersion={at}&resourceVersionMatch=Exact"),
        410,
        Some("Expired"),
        "The resourceVersion for the provided list is too old.",
    );
    // the legacy form (a limit with a version) reads exactly too
    refused(
        &api,
        &format!("{cms}?resourceVersion={at}&limit=500"),
        410,
        Some("Expired"),
        "The resourceVersion for the provided list is too old.",
    );
    let (code, _) = get(
        &api,
        &format!("{cms}?resourceVersion={}&limit=500", list_rv(&api, cms)),
    );
    assert_eq!(code, 200);

    // a continue token whose snapshot is gone: 410 with a token for the rest
    let token = |rv: i64, start: &str| {
        use base64::Engine;
        let t = serde_json::json!({"v": "meta.k8s.io/v1", "rv": rv, "start": start}).to_string();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(t)
    };
    let (code, status) = get(
        &api,
        &format!("{cms}?limit=1&continue={}", token(at as i64, "b")),
    );
    assert_eq!(code, 410, "{status}");
    assert_eq!(status["reason"], "Expired");
    assert_contains(
        status["message"].as_str().unwrap_or(""),
        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results.",
    );
    let renewed = status["metadata"]["continue"]
        .as_str()
        .expect("a renewed continue token");
    let (code, rest) = get(&api, &format!("{cms}?limit=1&continue={renewed}"));
    assert_eq!(code, 200, "{rest}");
    let rest = names(&rest);
    assert!(
        rest.contains(&"b".into()) && rest.contains(&"c".into()) && !rest.contains(&"a".into()),
        "{rest:?}"
    );
    refused(
        &api,
        &format!("{cms}?continue={}&resourceVersion=5", token(-1, "b")),
        400,
        Some("BadRequest"),
        "specifying resource version is not allowed when using continue",
    );

    // kubectl: chunked lists get everything, refusals print as upstream's
    let all = lab.k(&["get", "configmaps", "--chunk-size=1", "-o", "name"]);
    for cm in ["configmap/a", "configmap/b", "configmap/c"] {
        assert_contains(&all, cm);
    }
    let e =
        assert_fails(&lab.kubectl(&["get", "--raw", &format!("{cms}?resourceVersionMatch=Exact")]));
    assert_contains(
        &e,
        // kubectl words an Invalid status from its details
        r#"The ListOptions "" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided"#,
    );
    let e = assert_fails(&lab.kubectl(&["get", "--raw", &format!("{cms}?resourceVersion=abc")]));
    assert_contains(&e, format!("Error from server (BadRequest): {bad_rv}"));

    // delete preconditions: storage's Conflict, and nothing deleted
    let uid = lab.k(&["get", "configmap", "a", "-o", "jsonpath={.metadata.uid}"]);
    let cur = lab.k(&[
        "get",
        "configmap",
        "a",
        "-o",
        "jsonpath={.metadata.resourceVersion}",
    ]);
    for (pre, what, want) in [
        (r#"{"resourceVersion":"abc"}"#, "ResourceVersion", "abc"),
        (r#"{"uid":"nope"}"#, "UID", "nope"),
    ] {
        let body = format!(r#"{{"kind":"DeleteOptions","apiVersion":"v1","preconditions":{pre}}}"#);
        let (code, status) = call(&api, "DELETE", &format!("{cms}/a"), Some(&body));
        assert_eq!(code, 409, "{status}");
        assert_eq!(status["reason"], "Conflict");
        let have = if what == "UID" { &uid } else { &cur };
        assert_eq!(
            status["message"],
            format!(
                r#"Operation cannot be fulfilled on configmaps "a": StorageError: invalid object, Code: 4, Key: /registry/configmaps/default/a, ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: {what} in precondition: {want}, {what} in object meta: {have}"#
            ),
            "{status}"
        );
    }
    assert_eq!(
        lab.k(&["get", "configmap", "a", "-o", "name"]).trim(),
        "configmap/a"
    );
    let body = format!(r#"{{"preconditions":{{"resourceVersion":"{cur}","uid":"{uid}"}}}}"#);
    let (code, status) = call(&api, "DELETE", &format!("{cms}/a"), Some(&body));
    assert_eq!(code, 200, "{status}");
    assert_not_contains(lab.k(&["get", "configmaps", "-o", "name"]), "configmap/a");
}
