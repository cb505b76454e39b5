//! Workload selectors, templates and Job specs.

use serde_json::json;

use super::*;

#[test]
fn workload_selector_rules() {
    assert!(
        validate(
            "Deployment",
            &deployment(
                json!({"matchLabels": {"app": "web"}}),
                json!({"app": "web", "x": "y"})
            )
        )
        .is_empty()
    );
    assert_eq!(
        lines(&validate(
            "Deployment",
            &deployment(
                json!({"matchLabels": {"app": "web"}}),
                json!({"app": "api", "tier": "fe"})
            )
        )),
        vec![
            "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"api\", \"tier\":\"fe\"}: `selector` does not match template `labels`"
        ]
    );
    assert_eq!(
        lines(&validate(
            "Deployment",
            &deployment(json!({}), json!({"app": "web"}))
        )),
        vec![
            "spec.selector: Invalid value: &LabelSelector{MatchLabels:map[string]string{},MatchExpressions:[]LabelSelectorRequirement{},}: empty selector is invalid for deployment"
        ]
    );
    let mut no_sel = deployment(json!({}), json!({"app": "web"}));
    no_sel["spec"].as_object_mut().unwrap().remove("selector");
    assert_eq!(
        lines(&validate("Deployment", &no_sel)),
        vec![
            "spec.selector: Required value",
            "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\"}: `selector` does not match template `labels`"
        ]
    );
    assert_eq!(lines(&validate("DaemonSet", &no_sel)).len(), 1);
    let expr = deployment(
        json!({"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "api"]},
                                                       {"key": "x", "operator": "Has"}]}),
        json!({"app": "web"}),
    );
    assert_eq!(
        lines(&validate("ReplicaSet", &expr)),
        vec![
            "spec.selector.matchExpressions[1].operator: Invalid value: \"Has\": not a valid selector operator",
            "spec.selector: Invalid value: &LabelSelector{MatchLabels:map[string]string{},MatchExpressions:[]LabelSelectorRequirement{LabelSelectorRequirement{Key:app,Operator:In,Values:[web api],},LabelSelectorRequirement{Key:x,Operator:Has,Values:[],},},}: invalid label selector"
        ]
    );
    let nomatch = deployment(
        json!({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]},
                                                          {"key": "v", "operator": "In", "values": ["bad value"]}]}),
        json!({"app": "web"}),
    );
    let got = lines(&validate("ReplicaSet", &nomatch));
    assert_eq!(got.len(), 2);
    assert!(
        got[0].starts_with(
            "spec.selector.matchExpressions[1].values[0]: Invalid value: \"bad value\""
        )
    );
    assert!(got[1].starts_with("spec.template.metadata.labels: Invalid value"));
    let mut bad_tpl = deployment(
        json!({"matchLabels": {"app": "web"}}),
        json!({"app": "web"}),
    );
    bad_tpl["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
    bad_tpl["spec"]["template"]["spec"]["containers"][0]["image"] = json!("");
    bad_tpl["spec"]["replicas"] = json!(-1);
    assert_eq!(
        lines(&validate("StatefulSet", &bad_tpl)),
        vec![
            "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
            "spec.template.spec.containers[0].image: Required value",
            "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\""
        ]
    );
}

#[test]
fn job_and_cronjob_rules() {
    let job = json!({"metadata": {"name": "pi"}, "spec": {"template": {"spec": {"containers": [ctr("pi", "perl")]}}}});
    assert_eq!(
        lines(&validate("Job", &job)),
        vec![
            "spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\""
        ]
    );
    let mut ok = job.clone();
    ok["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
    assert!(validate("Job", &ok).is_empty());
    let cj = json!({"metadata": {"name": "c"}, "spec": {"jobTemplate": {"spec": {"template": {"spec": {
        "restartPolicy": "OnFailure", "containers": [ctr("c", "")]}}}}}});
    assert_eq!(
        lines(&validate("CronJob", &cj)),
        vec![
            "spec.schedule: Required value",
            "spec.jobTemplate.spec.template.spec.containers[0].image: Required value"
        ]
    );
}
