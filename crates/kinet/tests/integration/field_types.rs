//! Bodies whose field types do not decode into the kind's Go struct are refused
//! as the API server refuses them — 400 for a create or an update, 422 on the
//! patch for a patch's result — and nothing is stored, so kubectl and the node
//! agents never meet an object they cannot read.

use crate::common::*;

/// Writes `text` to a file in `dir` and returns its path.
fn file(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let f = dir.path().join(name);
    std::fs::write(&f, text).unwrap();
    f.to_str().unwrap().to_string()
}

const BAD_DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: \"3\"
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: busybox
";

#[test]
fn wrong_field_types_are_refused_with_upstreams_words_and_not_stored() {
    let lab = Lab::up(1);
    let dir = tempfile::tempdir().unwrap();
    let bad_cm = file(
        &dir,
        "cm.json",
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"bad"},"data":[1,2]}"#,
    );
    let bad_pod = file(
        &dir,
        "pod.json",
        r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"bad"},
            "spec":{"containers":[{"name":"c","image":"busybox","command":"sleep 3600"}]}}"#,
    );
    let bad_deploy = file(&dir, "deploy.yaml", BAD_DEPLOYMENT);
    let bad_replace = file(
        &dir,
        "cfg.json",
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg"},"data":"a=1"}"#,
    );
    lab.k(&["create", "configmap", "cfg", "--from-literal=a=1"]);
    let cfg = || lab.k(&["get", "configmap", "cfg", "-o", "json"]);
    let cfg_before = cfg();
    let holder = || {
        lab.k(&[
            "get",
            "lease",
            "node1",
            "-n",
            "kube-node-lease",
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ])
    };
    assert_eq!(holder(), "node1");

    per_version(lab.kubectls(), |k| {
        // --validate=false: the server decides, not kubectl's own schema check
        let e = assert_fails(&k.run(&["create", "--validate=false", "-f", &bad_cm]));
        assert_contains(&e, "Error from server (BadRequest)");
        assert_contains(
            &e,
            "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: json: cannot unmarshal \
             array into Go struct field ConfigMap.data of type map[string]string",
        );
        let e = assert_fails(&k.run(&["create", "--validate=false", "-f", &bad_pod]));
        assert_contains(
            &e,
            "Pod in version \"v1\" cannot be handled as a Pod: json: cannot unmarshal string into \
             Go struct field Container.spec.containers.command of type []string",
        );
        let e = assert_fails(&k.run(&["apply", "--validate=false", "-f", &bad_deploy]));
        assert_contains(
            &e,
            "Deployment in version \"v1\" cannot be handled as a Deployment: json: cannot \
             unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32",
        );
        for (kind, name) in [("configmap", "bad"), ("pod", "bad"), ("deployment", "web")] {
            let o = k.run(&["get", kind, name]);
            assert_contains(assert_fails(&o), "NotFound");
        }

        let e = assert_fails(&k.run(&[
            "patch",
            "lease",
            "node1",
            "-n",
            "kube-node-lease",
            "--type=merge",
            "-p",
            r#"{"spec":"x"}"#,
        ]));
        assert_contains(&e, "The request is invalid: patch: Invalid value: \"{");
        assert_contains(
            &e,
            "json: cannot unmarshal string into Go struct field Lease.spec of type v1.LeaseSpec",
        );
        let e = assert_fails(&k.run(&[
            "patch",
            "cm",
            "cfg",
            "--type=merge",
            "-p",
            r#"{"metadata":{"labels":{"a":5}}}"#,
        ]));
        assert_contains(
            &e,
            "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string",
        );
        // an update (PUT) is decoded as a create is
        let e = assert_fails(&k.run(&["replace", "--validate=false", "-f", &bad_replace]));
        assert_contains(
            &e,
            "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: json: cannot unmarshal \
             string into Go struct field ConfigMap.data of type map[string]string",
        );
        // a strategic merge patch goes through the unstructured converter
        let e = assert_fails(&k.run(&[
            "patch",
            "cm",
            "cfg",
            "-p",
            r#"{"metadata":{"labels":{"a":5}}}"#,
        ]));
        assert_contains(
            &e,
            "The request is invalid: patch: Invalid value: \"map[metadata:map[labels:map[a:5]]]\": \
             cannot convert int64 to string",
        );
        assert_eq!(
            cfg(),
            cfg_before,
            "kubectl {}: the refused patches changed cfg",
            k.version
        );
    });

    // the node agent kept renewing its lease and everything still reads
    assert_eq!(holder(), "node1");
    let renewed = || {
        lab.k(&[
            "get",
            "lease",
            "node1",
            "-n",
            "kube-node-lease",
            "-o",
            "jsonpath={.spec.renewTime}",
        ])
    };
    let first = renewed();
    wait_until(secs(30), || {
        if renewed() != first {
            Ok(())
        } else {
            Err("the lease is not renewed".to_string())
        }
    });
    lab.k(&["get", "all", "-A"]);
}
