//! Object metadata on create and update.

use serde_json::json;

use super::*;

#[test]
fn metadata_name_rules() {
    let valid = json!({"containers": [ctr("a", "nginx")]});
    let mut p = pod(valid.clone());
    p["metadata"]["name"] = json!("Bad_Name");
    assert_eq!(
        lines(&validate("Pod", &p)),
        vec![format!(
            "metadata.name: Invalid value: \"Bad_Name\": {SUBDOMAIN_RE}"
        )]
    );
    p["metadata"].as_object_mut().unwrap().remove("name");
    let c = validate("Pod", &p);
    assert_eq!(c[0].reason, "FieldValueRequired");
    assert_eq!(
        lines(&c),
        vec!["metadata.name: Required value: name or generateName is required"]
    );
    p["metadata"]["generateName"] = json!("web-");
    assert!(validate("Pod", &p).is_empty());
    p["metadata"]["generateName"] = json!("Web-");
    assert_eq!(
        lines(&validate("Pod", &p)),
        vec![format!(
            "metadata.generateName: Invalid value: \"Web-\": {SUBDOMAIN_RE}"
        )]
    );
    // A dotted name is fine for a pod, not for a namespace or a service.
    let ok = json!({"metadata": {"name": "a.b"}});
    assert!(validate("ConfigMap", &ok).is_empty());
    assert_eq!(
        lines(&validate("Namespace", &ok)),
        vec!["metadata.name: Invalid value: \"a.b\": must not contain dots"]
    );
    let svc = json!({"metadata": {"name": "1svc"}, "spec": {"ports": [{"port": 80}]}});
    assert_eq!(
        lines(&validate("Service", &svc)),
        vec![
            "metadata.name: Invalid value: \"1svc\": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
        ]
    );
    // Custom resources only get the path-segment rule.
    assert!(validate("Widget", &json!({"metadata": {"name": "Any_Name"}})).is_empty());
    assert_eq!(
        lines(&validate("Widget", &json!({"metadata": {"name": "a/b"}}))),
        vec!["metadata.name: Invalid value: \"a/b\": may not contain '/'"]
    );
    assert_eq!(
        lines(&validate("Widget", &json!({"metadata": {"name": ".."}}))),
        vec!["metadata.name: Invalid value: \"..\": may not be '..'"]
    );
    let bad_ns = json!({"metadata": {"name": "c", "namespace": "Bad"}});
    assert_eq!(
        lines(&validate("ConfigMap", &bad_ns)),
        vec![format!(
            "metadata.namespace: Invalid value: \"Bad\": {LABEL_RE}"
        )]
    );
}

#[test]
fn metadata_labels_annotations_finalizers() {
    let obj = json!({"metadata": {"name": "c", "labels": {"ok": "v", "bad key!": "v", "k": "bad value"}}});
    let c = validate("ConfigMap", &obj);
    assert_eq!(c.len(), 2);
    assert!(
        c.iter()
            .all(|c| c.field == "metadata.labels" && c.reason == "FieldValueInvalid")
    );
    assert!(
        c[0].message
            .starts_with("Invalid value: \"bad key!\": name part must consist of")
    );
    assert!(
        c[1].message
            .starts_with("Invalid value: \"bad value\": a valid label must be an empty string")
    );

    // Annotation keys are checked case-insensitively; values are free-form.
    let obj = json!({"metadata": {"name": "c", "annotations": {"Example.COM/Key": "x y z", "bad key": ""}}});
    let c = validate("ConfigMap", &obj);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].field, "metadata.annotations");
    assert!(
        c[0].message
            .starts_with("Invalid value: \"bad key\": name part must consist")
    );

    let big = "x".repeat(256 * 1024);
    let obj = json!({"metadata": {"name": "c", "annotations": {"a": big}}});
    let c = validate("ConfigMap", &obj);
    assert_eq!(c[0].reason, "FieldValueTooLong");
    assert_eq!(
        c[0].error(),
        "metadata.annotations: Too long: may not be more than 262144 bytes"
    );

    let obj =
        json!({"metadata": {"name": "c", "finalizers": ["example.com/f", "kubernetes", "custom"]}});
    assert_eq!(
        lines(&validate("ConfigMap", &obj)),
        vec![
            "metadata.finalizers[2]: Invalid value: \"custom\": name is neither a standard finalizer name nor is it fully qualified"
        ]
    );
    let obj = json!({"metadata": {"name": "c", "finalizers": ["orphan", "foregroundDeletion"]}});
    assert_eq!(
        lines(&validate("ConfigMap", &obj)),
        vec![
            "metadata.finalizers: Invalid value: []string{\"orphan\", \"foregroundDeletion\"}: finalizer orphan and foregroundDeletion cannot be both set"
        ]
    );
    let obj = json!({"metadata": {"name": "c", "generation": -1, "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs"}]}});
    assert_eq!(
        lines(&validate("ConfigMap", &obj)),
        vec![
            "metadata.generation: Invalid value: -1: must be greater than or equal to 0",
            "metadata.ownerReferences.uid: Invalid value: \"\": must not be empty"
        ]
    );
}

#[test]
fn update_metadata_immutability() {
    let old = json!({"metadata": {"name": "c", "namespace": "default", "uid": "u1", "labels": {"a": "b"}}});
    let mut new = old.clone();
    new["metadata"]["uid"] = json!("u2");
    assert_eq!(
        lines(&validate_update("ConfigMap", &old, &new)),
        vec!["metadata.uid: Invalid value: \"u2\": field is immutable"]
    );
    let mut new = old.clone();
    new["metadata"]["name"] = json!("d");
    assert_eq!(
        lines(&validate_update("ServiceAccount", &old, &new)),
        vec!["metadata.name: Invalid value: \"d\": field is immutable"]
    );
    // Labels are validated by both the update and the create rules.
    let mut new = old.clone();
    new["metadata"]["labels"]["a"] = json!("b c");
    assert_eq!(validate_update("ConfigMap", &old, &new).len(), 2);
    assert_eq!(validate_update("Namespace", &old, &new).len(), 1);

    let mut deleting = old.clone();
    deleting["metadata"]["deletionTimestamp"] = json!("2024-01-01T00:00:00Z");
    deleting["metadata"]["finalizers"] = json!(["example.com/a"]);
    let mut new = deleting.clone();
    new["metadata"]["finalizers"] = json!(["example.com/a", "example.com/b"]);
    assert_eq!(
        lines(&validate_update("ConfigMap", &deleting, &new)),
        vec![
            "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"example.com/b\"}"
        ]
    );
    let mut old_gen = old.clone();
    old_gen["metadata"]["generation"] = json!(3);
    let mut new = old_gen.clone();
    new["metadata"]["generation"] = json!(2);
    assert_eq!(
        lines(&validate_update("Widget", &old_gen, &new)),
        vec!["metadata.generation: Invalid value: 2: must not be decremented"]
    );
}

#[test]
fn generate_name_with_a_wide_character_before_the_dash() {
    let valid = json!({"containers": [ctr("a", "nginx")]});
    let mut p = pod(valid);
    p["metadata"].as_object_mut().unwrap().remove("name");
    p["metadata"]["generateName"] = json!("é-");
    assert_eq!(
        lines(&validate("Pod", &p)),
        vec![format!(
            "metadata.generateName: Invalid value: \"é-\": {SUBDOMAIN_RE}"
        )]
    );
    p["metadata"]["generateName"] = json!("aé-");
    assert_eq!(validate("Pod", &p).len(), 1);
    p["metadata"]["generateName"] = json!("ab-");
    assert!(validate("Pod", &p).is_empty());
}
