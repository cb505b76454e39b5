//! Update-time immutability rules.

use serde_json::json;

use super::*;

#[test]
fn pod_update_image_change_allowed() {
    let old = running(
        json!({"containers": [ctr("a", "nginx:1")], "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 10}]}),
    );
    let mut new = old.clone();
    new["spec"]["containers"][0]["image"] = json!("nginx:2");
    new["spec"]["tolerations"][0]["tolerationSeconds"] = json!(5);
    new["spec"]["tolerations"]
        .as_array_mut()
        .unwrap()
        .push(json!({"key": "x", "operator": "Exists"}));
    new["spec"]["activeDeadlineSeconds"] = json!(100);
    new["metadata"]["labels"] = json!({"new": "label"});
    assert_eq!(
        lines(&validate_update("Pod", &old, &new)),
        Vec::<String>::new()
    );
}

#[test]
fn pod_update_forbidden_changes() {
    let old = running(
        json!({"containers": [{"name": "a", "image": "x", "ports": [{"containerPort": 80}]}]}),
    );
    let mut new = old.clone();
    new["spec"]["containers"][0]["ports"][0]["containerPort"] = json!(8080);
    let c = validate_update("Pod", &old, &new);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].reason, "FieldValueForbidden");
    assert_eq!(
        c[0].error(),
        "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"
    );

    let mut new = old.clone();
    new["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(ctr("b", "y"));
    assert_eq!(
        lines(&validate_update("Pod", &old, &new)),
        vec!["spec.containers: Forbidden: pod updates may not add or remove containers"]
    );

    let mut new = old.clone();
    new["spec"]["containers"][0]["image"] = json!("");
    assert_eq!(
        lines(&validate_update("Pod", &old, &new)),
        vec![
            "spec.containers[0].image: Required value",
            "spec.containers[0].image: Required value"
        ]
    );
}

#[test]
fn pod_update_deadline_tolerations_gates_grace() {
    let old = running(json!({"containers": [ctr("a", "x")], "activeDeadlineSeconds": 10}));
    let mut new = old.clone();
    new["spec"]["activeDeadlineSeconds"] = json!(20);
    assert_eq!(
        lines(&validate_update("Pod", &old, &new)),
        vec![
            "spec.activeDeadlineSeconds: Invalid value: 20: must be less than or equal to previous value"
        ]
    );
    new["spec"]
        .as_object_mut()
        .unwrap()
        .remove("activeDeadlineSeconds");
    assert_eq!(
        lines(&validate_update("Pod", &old, &new)),
        vec![
            "spec.activeDeadlineSeconds: Invalid value: null: must not update from a positive integer to nil value"
        ]
    );

    let old = running(
        json!({"containers": [ctr("a", "x")], "tolerations": [{"key": "k", "operator": "Exists"}]}),
    );
    let mut new = old.clone();
    new["spec"]["tolerations"][0]["key"] = json!("other");
    assert_eq!(
        lines(&validate_update("Pod", &old, &new)),
        vec![
            "spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds"
        ]
    );

    let old = running(
        json!({"containers": [ctr("a", "x")], "schedulingGates": [{"name": "g1"}], "nodeSelector": {"a": "b"}}),
    );
    let mut new = old.clone();
    new["spec"]["schedulingGates"] = json!([{"name": "g1"}, {"name": "g2"}]);
    assert_eq!(
        lines(&validate_update("Pod", &old, &new)),
        vec![
            "spec.schedulingGates[1].name: Forbidden: only deletion is allowed, but found new scheduling gate 'g2'"
        ]
    );
    let mut new = old.clone();
    new["spec"]["schedulingGates"] = json!([]);
    new["spec"]["nodeSelector"]["c"] = json!("d");
    assert!(validate_update("Pod", &old, &new).is_empty());

    let old = running(json!({"containers": [ctr("a", "x")], "terminationGracePeriodSeconds": -1}));
    let mut new = old.clone();
    new["spec"]["terminationGracePeriodSeconds"] = json!(1);
    assert!(validate_update("Pod", &old, &new).is_empty());
    new["spec"]["terminationGracePeriodSeconds"] = json!(2);
    assert_eq!(validate_update("Pod", &old, &new)[0].field, "spec");
}

#[test]
fn config_map_immutable_update() {
    let old = json!({"metadata": {"name": "c"}, "immutable": true, "data": {"a": "1"}});
    let mut new = old.clone();
    new["data"]["a"] = json!("2");
    new["immutable"] = json!(false);
    assert_eq!(
        lines(&validate_update("ConfigMap", &old, &new)),
        vec![
            "immutable: Forbidden: field is immutable when `immutable` is set",
            "data: Forbidden: field is immutable when `immutable` is set"
        ]
    );
    let mutable = json!({"metadata": {"name": "c"}, "data": {"a": "1"}});
    let mut new = mutable.clone();
    new["data"]["a"] = json!("2");
    assert!(validate_update("ConfigMap", &mutable, &new).is_empty());
}

#[test]
fn secret_update_rules() {
    let old = json!({"metadata": {"name": "s"}, "type": "Opaque", "immutable": true, "data": {"a": "eA=="}});
    let mut new = old.clone();
    new["type"] = json!("example.com/custom");
    assert_eq!(
        lines(&validate_update("Secret", &old, &new)),
        vec!["type: Invalid value: \"example.com/custom\": field is immutable"]
    );
    let mut new = old.clone();
    new["stringData"] = json!({"a": "y"});
    assert_eq!(
        lines(&validate_update("Secret", &old, &new)),
        vec!["data: Forbidden: field is immutable when `immutable` is set"]
    );
    let mut same = old.clone();
    same["stringData"] = json!({"a": "x"});
    assert!(validate_update("Secret", &old, &same).is_empty());
    let untyped = json!({"metadata": {"name": "s"}, "data": {}});
    assert!(
        validate_update(
            "Secret",
            &untyped,
            &json!({"metadata": {"name": "s"}, "type": "Opaque"})
        )
        .is_empty()
    );
}

#[test]
fn workload_selector_immutable() {
    let old = deployment(
        json!({"matchLabels": {"app": "web"}}),
        json!({"app": "web"}),
    );
    let mut new = old.clone();
    new["spec"]["replicas"] = json!(5);
    new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:2");
    assert!(validate_update("Deployment", &old, &new).is_empty());
    new["spec"]["selector"] = json!({"matchLabels": {"app": "web2"}});
    new["spec"]["template"]["metadata"]["labels"] = json!({"app": "web2"});
    assert_eq!(
        lines(&validate_update("Deployment", &old, &new)),
        vec![
            "spec.selector: Invalid value: &LabelSelector{MatchLabels:map[string]string{app: web2,},MatchExpressions:[]LabelSelectorRequirement{},}: field is immutable"
        ]
    );
    assert_eq!(validate_update("StatefulSet", &old, &new).len(), 1);
}
