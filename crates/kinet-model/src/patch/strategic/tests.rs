use super::*;
use serde_json::json;

fn smp(kind: &str, target: Value, patch: Value) -> Value {
    strategic_merge_patch(&target, &patch, kind).unwrap_or_else(|e| panic!("patch failed: {e}"))
}

fn smp_err(kind: &str, target: Value, patch: Value) -> String {
    match strategic_merge_patch(&target, &patch, kind) {
        Ok(v) => panic!("patch unexpectedly succeeded: {v}"),
        Err(e) => e.0,
    }
}

fn names(list: &Value, key: &str) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|v| match &v[key] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

fn keys(obj: &Value) -> Vec<&str> {
    obj.as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

fn pod(containers: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "x", "namespace": "default", "labels": {"run": "x"}},
        "spec": {"containers": containers, "restartPolicy": "Always"},
        "status": {"phase": "Running"}
    })
}

fn deployment(containers: Value) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": containers}
            }
        },
        "status": {"conditions": [
            {"type": "Available", "status": "True"},
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}
        ]}
    })
}

// ---- kubectl label / annotate / rollout restart -------------------------

#[test]
fn kubectl_label_adds_a_label() {
    let out = smp(
        "Pod",
        pod(json!([{"name": "x", "image": "nginx"}])),
        json!({"metadata": {"labels": {"a": "b"}}}),
    );
    assert_eq!(out["metadata"]["labels"], json!({"run": "x", "a": "b"}));
    assert_eq!(
        out["spec"],
        pod(json!([{"name": "x", "image": "nginx"}]))["spec"]
    );
}

#[test]
fn kubectl_label_minus_removes_a_label() {
    let mut target = pod(json!([{"name": "x"}]));
    target["metadata"]["labels"]["a"] = json!("b");
    let out = smp("Pod", target, json!({"metadata": {"labels": {"a": null}}}));
    assert_eq!(out["metadata"]["labels"], json!({"run": "x"}));
}

#[test]
fn null_for_absent_members_stores_no_null() {
    let target = json!({"metadata": {"name": "x"}});
    let out = smp(
        "Pod",
        target,
        json!({"metadata": {"annotations": {"a": null, "b": "1"}, "labels": {"gone": null}}}),
    );
    assert_eq!(
        out,
        json!({"metadata": {"name": "x", "annotations": {"b": "1"}, "labels": {}}})
    );
}

#[test]
fn kubectl_annotate_keeps_member_order_and_appends_new_members() {
    let target = json!({"metadata": {"name": "x", "labels": {"a": "1"}}, "spec": {}});
    let out = smp(
        "ConfigMap",
        target,
        json!({"metadata": {"annotations": {"note": "hi"}, "labels": {"a": "2"}}}),
    );
    assert_eq!(keys(&out["metadata"]), ["name", "labels", "annotations"]);
    assert_eq!(out["metadata"]["labels"], json!({"a": "2"}));
}

#[test]
fn kubectl_rollout_restart_annotates_the_template() {
    let out = smp(
        "Deployment",
        deployment(json!([{"name": "app", "image": "nginx"}])),
        json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2024-05-01T10:00:00Z"}}}}}),
    );
    assert_eq!(
        out["spec"]["template"]["metadata"],
        json!({"labels": {"app": "web"}, "annotations": {"kubectl.kubernetes.io/restartedAt": "2024-05-01T10:00:00Z"}})
    );
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"],
        json!([{"name": "app", "image": "nginx"}])
    );
}

// ---- kubectl apply ------------------------------------------------------

#[test]
fn kubectl_apply_changes_a_container_image() {
    let target = pod(json!([{
        "name": "a",
        "image": "busybox:1.35",
        "command": ["sleep", "3600"],
        "ports": [{"containerPort": 80, "protocol": "TCP"}],
        "terminationMessagePath": "/dev/termination-log"
    }]));
    let last_applied = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"annotations":{},"name":"x","namespace":"default"},"spec":{"containers":[{"image":"busybox:1.36","name":"a"}]}}
"#;
    let patch = json!({
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": last_applied}},
        "spec": {
            "$setElementOrder/containers": [{"name": "a"}],
            "containers": [{"name": "a", "image": "busybox:1.36"}]
        }
    });
    let out = smp("Pod", target, patch);
    let mut want = pod(json!([{
        "name": "a",
        "image": "busybox:1.36",
        "command": ["sleep", "3600"],
        "ports": [{"containerPort": 80, "protocol": "TCP"}],
        "terminationMessagePath": "/dev/termination-log"
    }]));
    want["metadata"]["annotations"] =
        json!({"kubectl.kubernetes.io/last-applied-configuration": last_applied});
    assert_eq!(out, want);
}

#[test]
fn kubectl_apply_adds_a_container_in_the_requested_order() {
    // "istio" was injected by the server and is not in the applied config.
    let target = pod(json!([{"name": "a"}, {"name": "b"}, {"name": "istio"}]));
    let patch = json!({"spec": {
        "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}],
        "containers": [{"name": "c", "image": "redis"}]
    }});
    let out = smp("Pod", target, patch);
    assert_eq!(
        names(&out["spec"]["containers"], "name"),
        ["a", "b", "c", "istio"]
    );
    assert_eq!(
        out["spec"]["containers"][2],
        json!({"name": "c", "image": "redis"})
    );
    assert!(out["spec"].get("$setElementOrder/containers").is_none());
}

#[test]
fn kubectl_apply_deletes_a_container() {
    let target = pod(json!([{"name": "a"}, {"name": "b", "image": "old"}]));
    let patch = json!({"spec": {
        "$setElementOrder/containers": [{"name": "a"}],
        "containers": [{"$patch": "delete", "name": "b"}]
    }});
    let out = smp("Pod", target, patch);
    assert_eq!(out["spec"]["containers"], json!([{"name": "a"}]));
}

#[test]
fn set_element_order_alone_reorders() {
    let target = pod(json!([{"name": "a", "image": "1"}, {"name": "b", "image": "2"}]));
    let out = smp(
        "Pod",
        target,
        json!({"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}}),
    );
    assert_eq!(
        out["spec"]["containers"],
        json!([{"name": "b", "image": "2"}, {"name": "a", "image": "1"}])
    );
}

#[test]
fn kubectl_apply_switches_deployment_strategy_with_retain_keys() {
    let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": null, "type": "Recreate"}}});
    let out = smp("Deployment", deployment(json!([{"name": "app"}])), patch);
    assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
    assert_eq!(out["spec"]["replicas"], json!(1));
}

#[test]
fn retain_keys_in_volume_elements_switches_the_volume_source() {
    let mut target = pod(json!([{"name": "a"}]));
    target["spec"]["volumes"] = json!([
        {"name": "data", "emptyDir": {}},
        {"name": "other", "hostPath": {"path": "/tmp"}}
    ]);
    let patch = json!({"spec": {
        "$setElementOrder/volumes": [{"name": "data"}, {"name": "other"}],
        "volumes": [{"$retainKeys": ["configMap", "name"], "configMap": {"name": "cfg"}, "name": "data"}]
    }});
    let out = smp("Pod", target, patch);
    assert_eq!(
        out["spec"]["volumes"],
        json!([
            {"name": "data", "configMap": {"name": "cfg"}},
            {"name": "other", "hostPath": {"path": "/tmp"}}
        ])
    );
}

#[test]
fn retain_keys_must_name_every_patched_member() {
    let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": {"maxSurge": 1}}}});
    let e = smp_err("Deployment", deployment(json!([])), patch);
    assert_eq!(e, "invalid patch format of retainKeys");
    let e = smp_err(
        "Deployment",
        deployment(json!([])),
        json!({"spec": {"strategy": {"$retainKeys": "type"}}}),
    );
    assert_eq!(e, "invalid patch format of retainKeys");
}

// ---- kubectl patch / set / edit -----------------------------------------

#[test]
fn kubectl_patch_adding_a_container_puts_it_first_like_upstream() {
    let target = pod(json!([{"name": "patch-demo-ctr", "image": "nginx"}]));
    let patch = json!({"spec": {"containers": [{"name": "patch-demo-ctr-2", "image": "redis"}]}});
    let out = smp("Pod", target, patch);
    assert_eq!(
        names(&out["spec"]["containers"], "name"),
        ["patch-demo-ctr-2", "patch-demo-ctr"]
    );
}

#[test]
fn kubectl_set_image_merges_by_container_name() {
    let target = deployment(json!([
        {"name": "nginx", "image": "nginx:1.7", "ports": [{"containerPort": 80}]},
        {"name": "side", "image": "busybox"}
    ]));
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "side", "image": "busybox:1.36"}]}}}});
    let out = smp("Deployment", target, patch);
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"],
        json!([
            {"name": "nginx", "image": "nginx:1.7", "ports": [{"containerPort": 80}]},
            {"name": "side", "image": "busybox:1.36"}
        ])
    );
    assert_eq!(out["status"], deployment(json!([]))["status"]);
}

/// A deployment whose one container `app` has the env vars A=1 and B=2.
fn app_with_env_a_b() -> Value {
    deployment(
        json!([{"name": "app", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}]),
    )
}

#[test]
fn kubectl_set_env_adds_with_element_order() {
    let target = app_with_env_a_b();
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "app"}],
        "containers": [{
            "$setElementOrder/env": [{"name": "A"}, {"name": "B"}, {"name": "C"}],
            "env": [{"name": "C", "value": "x"}],
            "name": "app"
        }]
    }}}});
    let out = smp("Deployment", target, patch);
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"],
        json!([{"name": "app", "env": [
            {"name": "A", "value": "1"}, {"name": "B", "value": "2"}, {"name": "C", "value": "x"}
        ]}])
    );
}

#[test]
fn env_changes_merge_in_place() {
    let target = app_with_env_a_b();
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "env": [{"name": "B", "value": "3"}]}]}}}});
    let out = smp("Deployment", target, patch);
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"][0]["env"],
        json!([{"name": "A", "value": "1"}, {"name": "B", "value": "3"}])
    );
}

#[test]
fn kubectl_edit_deletes_an_env_var() {
    let target = app_with_env_a_b();
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "app"}],
        "containers": [{"$setElementOrder/env": [{"name": "A"}], "env": [{"$patch": "delete", "name": "B"}], "name": "app"}]
    }}}});
    let out = smp("Deployment", target, patch);
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"],
        json!([{"name": "app", "env": [{"name": "A", "value": "1"}]}])
    );
}

#[test]
fn cronjob_containers_merge_through_the_job_template() {
    let target = json!({"spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {
        "containers": [{"name": "a", "image": "busybox", "args": ["date"]}, {"name": "b", "image": "x"}],
        "restartPolicy": "OnFailure"
    }}}}}});
    let patch = json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "busybox:1.36"}]}}}}}});
    let out = smp("CronJob", target, patch);
    assert_eq!(
        out["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"],
        json!([{"name": "a", "image": "busybox:1.36", "args": ["date"]}, {"name": "b", "image": "x"}])
    );
}

#[test]
fn container_ports_merge_by_numeric_container_port() {
    let target = pod(json!([{"name": "a", "ports": [
        {"containerPort": 80, "protocol": "TCP"},
        {"containerPort": 443, "protocol": "TCP"}
    ]}]));
    let patch = json!({"spec": {"containers": [{"name": "a", "ports": [{"containerPort": 80.0, "name": "http"}]}]}});
    let out = smp("Pod", target, patch);
    let ports = &out["spec"]["containers"][0]["ports"];
    assert_eq!(ports.as_array().unwrap().len(), 2, "{ports}");
    assert_eq!(ports[0]["name"], json!("http"));
    assert_eq!(ports[0]["protocol"], json!("TCP"));
    assert_eq!(ports[1], json!({"containerPort": 443, "protocol": "TCP"}));
}

#[test]
fn volume_mounts_merge_by_mount_path() {
    let target = pod(json!([{"name": "a", "volumeMounts": [
        {"name": "data", "mountPath": "/data"},
        {"name": "cfg", "mountPath": "/etc/cfg"}
    ]}]));
    let patch = json!({"spec": {"containers": [{"name": "a", "volumeMounts": [{"mountPath": "/data", "readOnly": true}]}]}});
    let out = smp("Pod", target, patch);
    assert_eq!(
        out["spec"]["containers"][0]["volumeMounts"],
        json!([{"name": "data", "mountPath": "/data", "readOnly": true}, {"name": "cfg", "mountPath": "/etc/cfg"}])
    );
}

#[test]
fn init_and_ephemeral_containers_merge_by_name() {
    let mut target = pod(json!([{"name": "a"}]));
    target["spec"]["initContainers"] =
        json!([{"name": "init", "image": "busybox"}, {"name": "init2", "image": "x"}]);
    target["spec"]["ephemeralContainers"] = json!([{"name": "debug", "image": "busybox"}]);
    let patch = json!({"spec": {
        "initContainers": [{"name": "init", "image": "busybox:1.36"}],
        "ephemeralContainers": [{"name": "debug", "tty": true}]
    }});
    let out = smp("Pod", target, patch);
    assert_eq!(
        out["spec"]["initContainers"],
        json!([{"name": "init", "image": "busybox:1.36"}, {"name": "init2", "image": "x"}])
    );
    assert_eq!(
        out["spec"]["ephemeralContainers"],
        json!([{"name": "debug", "image": "busybox", "tty": true}])
    );
}

#[test]
fn host_aliases_and_image_pull_secrets_merge() {
    let mut target = pod(json!([{"name": "a"}]));
    target["spec"]["hostAliases"] = json!([{"ip": "10.0.0.1", "hostnames": ["a"]}]);
    target["spec"]["imagePullSecrets"] = json!([{"name": "reg1"}]);
    let patch = json!({"spec": {
        "hostAliases": [{"ip": "10.0.0.1", "hostnames": ["b"]}],
        "imagePullSecrets": [{"name": "reg2"}]
    }});
    let out = smp("Pod", target, patch);
    assert_eq!(
        out["spec"]["hostAliases"],
        json!([{"ip": "10.0.0.1", "hostnames": ["b"]}])
    );
    assert_eq!(
        names(&out["spec"]["imagePullSecrets"], "name"),
        ["reg2", "reg1"]
    );
}

#[test]
fn tolerations_are_replaced() {
    let mut target = pod(json!([{"name": "a"}]));
    target["spec"]["tolerations"] = json!([
        {"key": "a", "operator": "Exists"},
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
    ]);
    let out = smp(
        "Pod",
        target,
        json!({"spec": {"tolerations": [{"key": "b", "operator": "Exists"}]}}),
    );
    assert_eq!(
        out["spec"]["tolerations"],
        json!([{"key": "b", "operator": "Exists"}])
    );
}

#[test]
fn replaced_lists_drop_directive_elements() {
    let mut target = pod(json!([{"name": "a"}]));
    target["spec"]["tolerations"] = json!([{"key": "a"}]);
    let patch = json!({"spec": {"tolerations": [{"$patch": "delete", "key": "a"}, {"key": "b"}]}});
    let out = smp("Pod", target, patch);
    assert_eq!(out["spec"]["tolerations"], json!([{"key": "b"}]));
}

#[test]
fn node_taints_are_replaced_and_addresses_merge_by_type() {
    let target = json!({
        "metadata": {"name": "n1"},
        "spec": {"taints": [{"key": "k1", "effect": "NoSchedule"}]},
        "status": {"addresses": [
            {"type": "InternalIP", "address": "10.0.0.1"},
            {"type": "Hostname", "address": "n1"}
        ], "conditions": [{"type": "Ready", "status": "True"}]}
    });
    let patch = json!({
        "spec": {"taints": [{"key": "k2", "effect": "NoExecute"}]},
        "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.2"}],
                   "conditions": [{"type": "Ready", "status": "False"}]}
    });
    let out = smp("Node", target, patch);
    assert_eq!(
        out["spec"]["taints"],
        json!([{"key": "k2", "effect": "NoExecute"}])
    );
    assert_eq!(
        out["status"]["addresses"],
        json!([{"type": "InternalIP", "address": "10.0.0.2"}, {"type": "Hostname", "address": "n1"}])
    );
    assert_eq!(
        out["status"]["conditions"],
        json!([{"type": "Ready", "status": "False"}])
    );
}

#[test]
fn service_ports_merge_by_port() {
    let target = json!({"spec": {"ports": [
        {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
        {"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP"}
    ], "selector": {"app": "a"}}});
    let patch = json!({"spec": {"ports": [{"port": 443, "targetPort": 9443}]}});
    let out = smp("Service", target, patch);
    assert_eq!(
        out["spec"]["ports"],
        json!([
            {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
            {"name": "https", "port": 443, "targetPort": 9443, "protocol": "TCP"}
        ])
    );
}

#[test]
fn pod_status_conditions_merge_by_type() {
    let mut target = pod(json!([{"name": "a"}]));
    target["status"]["conditions"] = json!([
        {"type": "Initialized", "status": "True"},
        {"type": "Ready", "status": "False"},
        {"type": "PodScheduled", "status": "True"}
    ]);
    let patch = json!({"status": {
        "$setElementOrder/conditions": [{"type": "Initialized"}, {"type": "Ready"}, {"type": "PodScheduled"}],
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2024-01-01T00:00:00Z"}]
    }});
    let out = smp("Pod", target, patch);
    assert_eq!(
        out["status"]["conditions"],
        json!([
            {"type": "Initialized", "status": "True"},
            {"type": "Ready", "status": "True", "lastTransitionTime": "2024-01-01T00:00:00Z"},
            {"type": "PodScheduled", "status": "True"}
        ])
    );
    assert_eq!(out["status"]["phase"], json!("Running"));
}

#[test]
fn workload_status_conditions_merge_by_type() {
    let patch = json!({"status": {"conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]}});
    let out = smp("Deployment", deployment(json!([])), patch);
    assert_eq!(
        out["status"]["conditions"],
        json!([
            {"type": "Available", "status": "True"},
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
        ])
    );
}

#[test]
fn service_account_secrets_merge_by_name() {
    let target = json!({"metadata": {"name": "default"}, "secrets": [{"name": "a"}], "imagePullSecrets": [{"name": "p"}]});
    let out = smp(
        "ServiceAccount",
        target,
        json!({"secrets": [{"name": "b"}], "imagePullSecrets": [{"name": "q"}]}),
    );
    assert_eq!(names(&out["secrets"], "name"), ["b", "a"]);
    assert_eq!(out["imagePullSecrets"], json!([{"name": "q"}]));
}

// ---- metadata lists ------------------------------------------------------

#[test]
fn finalizers_merge_as_a_set() {
    let target = json!({"metadata": {"name": "x", "finalizers": ["a", "b"]}});
    let out = smp(
        "ConfigMap",
        target.clone(),
        json!({"metadata": {"finalizers": ["c", "a"]}}),
    );
    assert_eq!(out["metadata"]["finalizers"], json!(["c", "a", "b"]));
    let out = smp(
        "ConfigMap",
        target,
        json!({"metadata": {"finalizers": ["b"]}}),
    );
    assert_eq!(out["metadata"]["finalizers"], json!(["a", "b"]));
    let dup = json!({"metadata": {"finalizers": ["a", "a", "b"]}});
    let out = smp("ConfigMap", dup, json!({"metadata": {"finalizers": ["c"]}}));
    assert_eq!(out["metadata"]["finalizers"], json!(["c", "a", "b"]));
}

#[test]
fn delete_from_primitive_list_removes_finalizers() {
    let target = json!({"metadata": {"finalizers": ["a", "b", "c"]}});
    let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"], "$setElementOrder/finalizers": ["a", "c"]}});
    let out = smp("Pod", target, patch);
    assert_eq!(out, json!({"metadata": {"finalizers": ["a", "c"]}}));
}

#[test]
fn delete_from_primitive_list_for_absent_field_is_a_no_op() {
    let out = smp(
        "Pod",
        json!({"metadata": {"name": "x"}}),
        json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}}),
    );
    assert_eq!(out, json!({"metadata": {"name": "x"}}));
}

#[test]
fn set_element_order_reorders_primitive_lists() {
    let target = json!({"metadata": {"finalizers": ["a", "b", "c"]}});
    let out = smp(
        "Pod",
        target,
        json!({"metadata": {"$setElementOrder/finalizers": ["c", "a", "b"]}}),
    );
    assert_eq!(out["metadata"]["finalizers"], json!(["c", "a", "b"]));
}

#[test]
fn owner_references_merge_by_uid() {
    let target = json!({"metadata": {"ownerReferences": [{"uid": "u1", "kind": "ReplicaSet", "name": "rs1"}]}});
    let out = smp(
        "Pod",
        target.clone(),
        json!({"metadata": {"ownerReferences": [{"uid": "u1", "controller": true}]}}),
    );
    assert_eq!(
        out["metadata"]["ownerReferences"],
        json!([{"uid": "u1", "kind": "ReplicaSet", "name": "rs1", "controller": true}])
    );
    let out = smp(
        "Pod",
        target,
        json!({"metadata": {"ownerReferences": [{"uid": "u2", "kind": "ReplicaSet", "name": "rs2"}]}}),
    );
    assert_eq!(
        names(&out["metadata"]["ownerReferences"], "uid"),
        ["u2", "u1"]
    );
}

// ---- $patch directives ---------------------------------------------------

#[test]
fn patch_replace_on_a_map() {
    let out = smp(
        "Deployment",
        deployment(json!([])),
        json!({"spec": {"selector": {"$patch": "replace", "matchLabels": {"app": "new"}}}}),
    );
    assert_eq!(
        out["spec"]["selector"],
        json!({"matchLabels": {"app": "new"}})
    );
    assert_eq!(out["spec"]["replicas"], json!(1));
}

#[test]
fn patch_delete_on_a_map_empties_it() {
    let mut target = pod(json!([{"name": "a"}]));
    target["spec"]["affinity"] = json!({"nodeAffinity": {"x": 1}});
    let out = smp(
        "Pod",
        target,
        json!({"spec": {"affinity": {"$patch": "delete"}, "nodeName": "n1"}}),
    );
    assert_eq!(out["spec"]["affinity"], json!({}));
    assert_eq!(out["spec"]["nodeName"], json!("n1"));
}

#[test]
fn patch_delete_for_an_absent_map_adds_nothing() {
    let out = smp(
        "Pod",
        json!({"spec": {}}),
        json!({"spec": {"affinity": {"$patch": "delete"}}}),
    );
    assert_eq!(out, json!({"spec": {}}));
}

#[test]
fn patch_delete_or_replace_at_the_top_level() {
    assert_eq!(
        smp("Pod", pod(json!([])), json!({"$patch": "delete"})),
        json!({})
    );
    assert_eq!(
        smp(
            "Pod",
            pod(json!([])),
            json!({"$patch": "replace", "metadata": {"name": "y"}})
        ),
        json!({"metadata": {"name": "y"}})
    );
}

#[test]
fn patch_replace_element_replaces_a_merge_list() {
    let target = pod(json!([{"name": "a"}, {"name": "b"}]));
    let patch =
        json!({"spec": {"containers": [{"name": "z", "image": "i"}, {"$patch": "replace"}]}});
    let out = smp("Pod", target, patch);
    assert_eq!(
        out["spec"]["containers"],
        json!([{"name": "z", "image": "i"}])
    );
}

#[test]
fn patch_merge_is_accepted_on_maps_and_lists() {
    let target = pod(json!([{"name": "a", "image": "old"}, {"name": "b"}]));
    let patch = json!({
        "metadata": {"labels": {"$patch": "merge", "extra": "1"}},
        "spec": {"containers": [{"$patch": "merge"}, {"name": "a", "image": "new"}]}
    });
    let out = smp("Pod", target, patch);
    assert_eq!(out["metadata"]["labels"], json!({"run": "x", "extra": "1"}));
    assert_eq!(
        out["spec"]["containers"],
        json!([{"name": "a", "image": "new"}, {"name": "b"}])
    );
}

#[test]
fn unknown_patch_directive_is_rejected() {
    let e = smp_err(
        "Pod",
        pod(json!([])),
        json!({"metadata": {"labels": {"$patch": "frobnicate"}}}),
    );
    assert!(
        e.starts_with("unknown patch type: frobnicate in map: "),
        "{e}"
    );
    let e = smp_err(
        "Pod",
        pod(json!([{"name": "a"}])),
        json!({"spec": {"containers": [{"$patch": "nope", "name": "a"}]}}),
    );
    assert!(e.starts_with("unknown patch type: nope in map: "), "{e}");
}

#[test]
fn deleting_an_absent_element_is_a_no_op() {
    let target = pod(json!([{"name": "a"}]));
    let out = smp(
        "Pod",
        target,
        json!({"spec": {"containers": [{"$patch": "delete", "name": "zzz"}]}}),
    );
    assert_eq!(out["spec"]["containers"], json!([{"name": "a"}]));
}

// ---- new members, unknown kinds, errors ------------------------------------

#[test]
fn new_members_have_their_directives_applied() {
    let target = json!({"metadata": {"name": "web"}, "spec": {}});
    let patch = json!({"spec": {
        "template": {"spec": {
            "$setElementOrder/containers": [{"name": "a"}],
            "containers": [{"name": "a", "image": "x", "env": [{"name": "E", "value": "1"}], "tty": null}]
        }},
        "strategy": {"$retainKeys": ["type"], "type": "Recreate"}
    }});
    let out = smp("Deployment", target, patch);
    assert_eq!(
        out,
        json!({"metadata": {"name": "web"}, "spec": {
            "template": {"spec": {"containers": [{"name": "a", "image": "x", "env": [{"name": "E", "value": "1"}]}]}},
            "strategy": {"type": "Recreate"}
        }})
    );
}

#[test]
fn new_merge_list_gets_clean_elements() {
    let target = pod(json!([{"name": "a"}]));
    let patch = json!({"spec": {"volumes": [{"$retainKeys": ["emptyDir", "name"], "name": "v", "emptyDir": {}}]}});
    let out = smp("Pod", target, patch);
    assert_eq!(
        out["spec"]["volumes"],
        json!([{"name": "v", "emptyDir": {}}])
    );
}

#[test]
fn unknown_kinds_merge_maps_and_replace_lists() {
    let target = json!({"data": {"k": "v", "gone": "x"}, "spec": {"items": [1, 2], "things": [{"name": "a"}]}});
    let patch = json!({"data": {"k": "v2", "gone": null}, "spec": {"items": [3], "things": [{"name": "b"}]}});
    let out = smp("Widget", target, patch);
    assert_eq!(
        out,
        json!({"data": {"k": "v2"}, "spec": {"items": [3], "things": [{"name": "b"}]}})
    );
}

#[test]
fn set_element_order_makes_an_unknown_list_merge() {
    let target =
        json!({"spec": {"things": [{"id": "a", "v": 1}, {"id": "b", "v": 1}], "tags": ["x", "y"]}});
    let patch = json!({"spec": {
        "$setElementOrder/things": [{"id": "a"}, {"id": "b"}],
        "things": [{"id": "b", "v": 2}],
        "$setElementOrder/tags": ["y", "x", "z"],
        "tags": ["z"]
    }});
    let out = smp("Widget", target, patch);
    assert_eq!(
        out["spec"]["things"],
        json!([{"id": "a", "v": 1}, {"id": "b", "v": 2}])
    );
    assert_eq!(out["spec"]["tags"], json!(["y", "x", "z"]));
}

#[test]
fn type_changes_replace_the_value() {
    let target = json!({"spec": {"a": "text", "b": {"x": 1}, "c": [1]}});
    let patch = json!({"spec": {"a": {"now": "object"}, "b": [1], "c": "scalar"}});
    let out = smp("Widget", target, patch);
    assert_eq!(
        out,
        json!({"spec": {"a": {"now": "object"}, "b": [1], "c": "scalar"}})
    );
}

#[test]
fn non_object_target_is_treated_as_empty() {
    assert_eq!(
        smp("Pod", Value::Null, json!({"metadata": {"name": "x"}})),
        json!({"metadata": {"name": "x"}})
    );
}

#[test]
fn patch_must_be_an_object() {
    let e = smp_err("Pod", pod(json!([])), json!([{"op": "add"}]));
    assert!(e.contains("must be a JSON object"), "{e}");
}

#[test]
fn merge_list_elements_need_the_merge_key() {
    let e = smp_err(
        "Pod",
        pod(json!([{"name": "a"}])),
        json!({"spec": {"containers": [{"image": "x"}]}}),
    );
    assert_eq!(
        e,
        r#"map: {"image":"x"} does not contain declared merge key: name"#
    );
    let e = smp_err(
        "Pod",
        pod(json!([{"name": "a"}])),
        json!({"spec": {"containers": [{"$patch": "delete", "image": "x"}]}}),
    );
    assert!(
        e.contains("does not contain declared merge key: name"),
        "{e}"
    );
}

#[test]
fn patch_list_must_follow_set_element_order() {
    let target = pod(json!([{"name": "a"}, {"name": "b"}]));
    let patch = json!({"spec": {
        "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
        "containers": [{"name": "b", "image": "1"}, {"name": "a", "image": "2"}]
    }});
    let e = smp_err("Pod", target, patch);
    assert!(e.starts_with("the order in patch list:"), "{e}");
    assert!(e.contains("doesn't match $setElementOrder list:"), "{e}");
}

#[test]
fn malformed_directive_keys_are_rejected() {
    let t = || json!({"metadata": {"finalizers": ["a"]}});
    assert_eq!(
        smp_err(
            "Pod",
            t(),
            json!({"metadata": {"$deleteFromPrimitiveList": ["a"]}})
        ),
        "invalid patch format of primitive list"
    );
    assert_eq!(
        smp_err(
            "Pod",
            t(),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}})
        ),
        "invalid patch format of primitive list"
    );
    assert_eq!(
        smp_err(
            "Pod",
            t(),
            json!({"metadata": {"$setElementOrder/finalizers": "a"}})
        ),
        "invalid patch format of setElementOrder list"
    );
    assert_eq!(
        smp_err(
            "Pod",
            t(),
            json!({"metadata": {"$setElementOrderX/finalizers": ["a"]}})
        ),
        "invalid patch format of setElementOrder list"
    );
}

#[test]
fn mixed_element_types_in_a_merge_list_are_rejected() {
    let e = smp_err(
        "Pod",
        json!({"metadata": {"finalizers": ["a"]}}),
        json!({"metadata": {"finalizers": [{"x": 1}]}}),
    );
    assert!(e.starts_with("list element types are not identical"), "{e}");
}
