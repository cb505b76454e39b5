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
