//! Strict field validation.

use serde_json::json;

use super::*;

#[test]
fn unknown_fields_reports_paths() {
    let p = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "x", "labels": {"anything": "goes"}, "annotations": {"a/b": "c"}, "bogus": 1},
        "spec": {"containers": [{"name": "a", "image": "x", "imagee": "typo", "ports": [{"containerPort": 80, "hostport": 1}]}],
                 "nodeSelector": {"free": "form"}, "restartPolicy": null, "unknownSpec": {"deep": true}},
        "status": {}
    });
    assert_eq!(
        unknown_fields("Pod", &p),
        vec![
            "metadata.bogus",
            "spec.containers[0].imagee",
            "spec.containers[0].ports[0].hostport",
            "spec.unknownSpec"
        ]
    );
    let clean = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "creationTimestamp": null},
                       "data": {"k": "v"}, "binaryData": {"b": "AAAA"}, "immutable": false});
    assert!(unknown_fields("ConfigMap", &clean).is_empty());
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "dg=="},
                        "stringData": {"x": "y"}, "typ": "Opaque"});
    assert_eq!(unknown_fields("Secret", &secret), vec!["typ"]);
    let dep = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"replica": 3, "selector": {"matchLabels": {"a": "b"}},
                 "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "n", "image": "i", "resources": {"limits": {"cpu": "1"}}, "Env": []}]}}}});
    assert_eq!(
        unknown_fields("Deployment", &dep),
        vec!["spec.replica", "spec.template.spec.containers[0].Env"]
    );
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
                     "spec": {"ports": [{"port": 80, "targetPort": "http", "nodeport": 1}]}});
    assert_eq!(
        unknown_fields("Service", &svc),
        vec!["spec.ports[0].nodeport"]
    );
    for kind in [
        "Namespace",
        "Node",
        "ServiceAccount",
        "Event",
        "Endpoints",
        "ReplicaSet",
        "StatefulSet",
        "DaemonSet",
        "Job",
        "Ingress",
        "NetworkPolicy",
    ] {
        let obj = json!({"metadata": {"name": "x"}, "extraTopLevel": 1});
        assert_eq!(unknown_fields(kind, &obj), vec!["extraTopLevel"], "{kind}");
    }
    assert!(unknown_fields("Widget", &json!({"foo": 1})).is_empty());
    // Undecodable input (wrong types) gives no report.
    assert!(unknown_fields("Pod", &json!({"spec": {"containers": "nope"}, "x": 1})).is_empty());
}
