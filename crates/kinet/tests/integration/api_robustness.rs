//! Requests the API server must refuse the way upstream does, without falling
//! over: patch bodies of the wrong shape, list parameters that do not parse. After
//! each refusal the object is as it was and the server answers the next request.

use crate::common::*;

/// kubectl that must fail; returns stderr.
fn refused(lab: &Lab, args: &[&str]) -> String {
    assert_fails(&lab.kubectl(args))
}

#[test]
fn bad_patches_and_list_parameters_get_upstream_errors() {
    let lab = Lab::up(1);
    lab.k(&["create", "configmap", "cfg", "--from-literal=a=1"]);
    let cfg = || lab.k(&["get", "configmap", "cfg", "-o", "jsonpath={.data}"]);
    let before = cfg();

    // a merge patch that is not an object: 400, as the API server's strict decoding says
    for (body, what) in [("[\"a\"]", "array"), ("5", "number"), ("\"x\"", "string")] {
        let e = refused(
            &lab,
            &["patch", "configmap", "cfg", "--type", "merge", "-p", body],
        );
        assert!(
            e.contains(&format!(
                "Error from server (BadRequest): error decoding patch: json: cannot unmarshal {what} into Go value of type map[string]interface {{}}"
            )),
            "{body}: {e}"
        );
    }
    let e = refused(
        &lab,
        &["patch", "configmap", "cfg", "--type", "merge", "-p", "null"],
    );
    assert_contains(&e, "Invalid JSON Patch");
    // a strategic merge patch that is not an object
    let e = refused(&lab, &["patch", "configmap", "cfg", "-p", "[1]"]);
    assert_contains(
        &e,
        "json: cannot unmarshal array into Go value of type map[string]interface {}",
    );
    // a JSON patch replacing the whole object with a string, or adding to its root
    for (body, want) in [
        (
            r#"[{"op":"replace","path":"","value":"x"}]"#,
            "replace operation value must be object or array",
        ),
        (
            r#"[{"op":"replace","path":"","value":[1]}]"#,
            "couldn't get version/kind",
        ),
        (r#"{"op":"add"}"#, "BadRequest"),
    ] {
        let e = refused(
            &lab,
            &["patch", "configmap", "cfg", "--type", "json", "-p", body],
        );
        assert_contains(&e, want);
    }
    assert_eq!(cfg(), before, "the refused patches changed nothing");

    // the server still serves, and a good patch works
    lab.k(&[
        "patch",
        "configmap",
        "cfg",
        "--type",
        "merge",
        "-p",
        r#"{"data":{"b":"2"}}"#,
    ]);
    assert_eq!(
        lab.k(&["get", "configmap", "cfg", "-o", "jsonpath={.data.b}"]),
        "2"
    );

    // the scale subresource refuses them too (it once read a list as zero replicas)
    lab.k(&[
        "create",
        "deployment",
        "web",
        "--image=busybox:1.36",
        "--replicas=1",
        "--",
        "sleep",
        "infinity",
    ]);
    let e = refused(
        &lab,
        &[
            "patch",
            "deployment",
            "web",
            "--subresource=scale",
            "--type",
            "merge",
            "-p",
            "[\"a\"]",
        ],
    );
    assert_contains(&e, "error decoding patch");
    assert_eq!(
        lab.k(&[
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.spec.replicas}"
        ]),
        "1"
    );

    // list parameters, checked as the API server's storage checks them
    let e = refused(
        &lab,
        &[
            "get",
            "--raw",
            "/api/v1/namespaces/default/configmaps?resourceVersion=abc",
        ],
    );
    assert_contains(
        &e,
        r#"Error from server (BadRequest): invalid resource version: resourceVersion: Invalid value: "abc": strconv.ParseUint: parsing "abc": invalid syntax"#,
    );
    let e = refused(
        &lab,
        &["get", "--raw", "/api/v1/configmaps?limit=10&continue=junk"],
    );
    assert_contains(
        &e,
        r"Error from server (BadRequest): invalid continue token: continue key is not valid: invalid character '\u008e' looking for beginning of value",
    );
    let e = refused(&lab, &["get", "--raw", "/api/v1/configmaps?limit=ten"]);
    assert_contains(&e, r#"strconv.ParseInt: parsing "ten": invalid syntax"#);
    // good versions still list
    let list = lab.k(&[
        "get",
        "--raw",
        "/api/v1/namespaces/default/configmaps?resourceVersion=0&limit=500",
    ]);
    assert!(list.contains("\"cfg\""), "{list}");
    assert!(lab.k(&["get", "configmap", "cfg"]).contains("cfg"));
}

/// The lab's API address and bearer token, read from its kubeconfig.
fn api_and_token(lab: &Lab) -> (String, String) {
    let kc = std::fs::read_to_string(&lab.kubeconfig).expect("the lab's kubeconfig");
    let field = |key: &str| {
        kc.lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("no {key} in {kc}"))
    };
    (field("server:"), field("token:"))
}

/// POSTs `body` with `content_type` to `path` with curl; returns (HTTP code, body).
fn post(api: &(String, String), path: &str, content_type: &str, body: &[u8]) -> (String, String) {
    let dir = std::env::temp_dir().join(format!("kinet-robust-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let f = dir.join(format!(
        "body-{}",
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    ));
    std::fs::write(&f, body).unwrap();
    let o = run(&[
        "curl",
        "-sS",
        "-k",
        "--max-time",
        "120",
        "-w",
        "\n%{http_code}",
        "-H",
        &format!("Authorization: Bearer {}", api.1),
        "-H",
        &format!("Content-Type: {content_type}"),
        "-H",
        "Expect:",
        "--data-binary",
        &format!("@{}", f.display()),
        &format!("{}{path}", api.0),
    ]);
    let _ = std::fs::remove_file(&f);
    let text = format!("{}{}", err(&o), out(&o));
    let (resp, code) = text.rsplit_once('\n').unwrap_or((&text, ""));
    (code.to_string(), resp.to_string())
}

#[test]
fn deep_or_huge_bodies_are_refused_without_stalling_the_api() {
    let lab = Lab::up(1);
    let api = api_and_token(&lab);
    let path = "/api/v1/namespaces/default/configmaps";
    let deep = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000));
    let summary = format!("{} ...", "5b".repeat(30));
    let yaml_err = format!(
        "the object provided is unrecognized (must be of type ConfigMap): yaml: exceeded max depth of 10000 ({summary})"
    );
    let json_err = format!(
        "the object provided is unrecognized (must be of type ConfigMap): couldn't get version/kind; json parse error: exceeded max depth ({summary})"
    );

    // deep bodies sent over and over by more clients than the executor has
    // threads, while kubectl keeps listing namespaces: every list answers within
    // kubectl's request timeout (a parse on the executor held them for seconds)
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let bad: Vec<_> = (0..8)
        .map(|i| {
            let (api, deep, done) = (api.clone(), deep.clone(), done.clone());
            let ct = if i % 4 != 3 {
                "application/yaml"
            } else {
                "application/json"
            };
            std::thread::spawn(move || {
                let mut answers = vec![post(&api, path, ct, deep.as_bytes())];
                while !done.load(std::sync::atomic::Ordering::SeqCst) {
                    answers.push(post(&api, path, ct, deep.as_bytes()));
                }
                (ct, answers)
            })
        })
        .collect();
    for _ in 0..5 {
        let t = std::time::Instant::now();
        let ns = lab.k(&["get", "ns", "--request-timeout=5s", "-o", "name"]);
        eprintln!("get ns under deep bodies: {:?}", t.elapsed());
        assert_contains(&ns, "namespace/default");
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    for t in bad {
        let (ct, answers) = t.join().unwrap();
        for (code, body) in answers {
            assert_eq!(code, "400", "{ct}: {body}");
            let want = if ct.contains("yaml") {
                &yaml_err
            } else {
                &json_err
            };
            assert_contains(&body, want);
            assert_contains(&body, r#""reason":"BadRequest""#);
        }
    }

    // kubectl prints upstream's Status for a deep JSON body
    let file = std::env::temp_dir().join(format!("kinet-deep-{}.json", std::process::id()));
    std::fs::write(&file, &deep).unwrap();
    let e = assert_fails(&lab.kubectl(&["create", "--raw", path, "-f", file.to_str().unwrap()]));
    let _ = std::fs::remove_file(&file);
    eprintln!("kubectl create --raw of a deep body: {e}");
    assert_contains(&e, "exceeded max depth");

    // a body past upstream's 3 MiB: 413
    let huge = format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"huge"}},"data":{{"a":"{}"}}}}"#,
        "x".repeat(3 * 1024 * 1024)
    );
    let (code, body) = post(&api, path, "application/json", huge.as_bytes());
    assert_eq!(code, "413", "{body}");
    assert_contains(&body, "Request entity too large: limit is 3145728");
    assert_contains(&body, r#""reason":"RequestEntityTooLarge""#);
    let file = std::env::temp_dir().join(format!("kinet-huge-{}.json", std::process::id()));
    std::fs::write(&file, &huge).unwrap();
    let e = assert_fails(&lab.kubectl(&["create", "-f", file.to_str().unwrap()]));
    let _ = std::fs::remove_file(&file);
    assert_contains(
        &e,
        "Error from server (RequestEntityTooLarge): error when creating",
    );
    assert_contains(&e, "Request entity too large: limit is 3145728");

    // a legitimately nested (depth 50), large (past the inline size) object still works
    let mut nested = String::from("x");
    for i in 0..50 {
        nested = format!("l{i}:\n{}", indent(&nested));
    }
    let yaml = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: nested\n  annotations:\n    big: {}\ndata:\n  a: b\nextra:\n{}\n",
        "y".repeat(100_000),
        indent(&nested)
    );
    let (code, body) = post(&api, path, "application/yaml", yaml.as_bytes());
    assert_eq!(code, "201", "{body}");
    assert_eq!(
        lab.k(&["get", "configmap", "nested", "-o", "jsonpath={.data.a}"]),
        "b"
    );
    let json = format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"nested-json"}},"data":{{"a":"c"}},"extra":{}{}}}"#,
        r#"{"l":"#.repeat(50) + "1",
        "}".repeat(50)
    );
    let (code, body) = post(&api, path, "application/json", json.as_bytes());
    assert_eq!(code, "201", "{body}");
    assert_eq!(
        lab.k(&[
            "get",
            "configmap",
            "nested-json",
            "-o",
            "jsonpath={.data.a}"
        ]),
        "c"
    );
}

fn indent(s: &str) -> String {
    s.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
