use super::*;
use serde_json::json;

fn json_err(av: &str, kind: &str, obj: Value) -> String {
    check_json(av, kind, &obj).expect_err("a type error")
}

fn un_err(av: &str, kind: &str, obj: Value) -> String {
    check_unstructured(av, kind, &obj).expect_err("a conversion error")
}

#[test]
fn well_typed_objects_pass() {
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "labels": {"a": "b"}, "creationTimestamp": null,
                     "managedFields": [{"fieldsV1": {"f:x": {}}, "time": "2024-01-02T03:04:05Z"}]},
        "spec": {"containers": [{"name": "c", "image": "i", "command": ["sh"],
            "ports": [{"containerPort": 80}],
            "resources": {"limits": {"cpu": "100m", "memory": 5}},
            "livenessProbe": {"httpGet": {"port": "http", "path": "/"}}}],
            "terminationGracePeriodSeconds": 30, "unknownField": [1]},
        "status": {"startTime": "2024-01-02T03:04:05Z"}
    });
    assert_eq!(check_json("v1", "Pod", &pod), Ok(()));
    assert_eq!(check_unstructured("v1", "Pod", &pod), Ok(()));
    let deploy = json!({"spec": {"replicas": 3, "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
        "template": {"spec": {"containers": [{"name": "c"}]}}}});
    assert_eq!(check_json("apps/v1", "Deployment", &deploy), Ok(()));
    // kinds the table lacks pass
    assert_eq!(
        check_json("example.com/v1", "Widget", &json!({"spec": 1})),
        Ok(())
    );
}

#[test]
fn json_messages_name_the_innermost_struct_and_the_dotted_path() {
    assert_eq!(
        json_err(
            "v1",
            "ConfigMap",
            json!({"kind": "ConfigMap", "data": [1, 2]})
        ),
        "json: cannot unmarshal array into Go struct field ConfigMap.data of type map[string]string"
    );
    assert_eq!(
        json_err(
            "v1",
            "Pod",
            json!({"spec": {"containers": [{"name": "c", "command": "sleep 1"}]}})
        ),
        "json: cannot unmarshal string into Go struct field Container.spec.containers.command of type []string"
    );
    assert_eq!(
        json_err("coordination.k8s.io/v1", "Lease", json!({"spec": "x"})),
        "json: cannot unmarshal string into Go struct field Lease.spec of type v1.LeaseSpec"
    );
    assert_eq!(
        json_err("v1", "ConfigMap", json!({"metadata": {"labels": {"a": 5}}})),
        "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string"
    );
    assert_eq!(
        json_err("apps/v1", "Deployment", json!({"spec": {"replicas": "3"}})),
        "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"
    );
    assert_eq!(
        json_err("v1", "Pod", json!({"spec": {"containers": {"name": "c"}}})),
        "json: cannot unmarshal object into Go struct field PodSpec.spec.containers of type []v1.Container"
    );
    assert_eq!(
        json_err(
            "v1",
            "Pod",
            json!({"spec": {"containers": [{"command": [1]}]}})
        ),
        "json: cannot unmarshal number into Go struct field Container.spec.containers.command of type string"
    );
    assert_eq!(
        json_err("v1", "Pod", json!({"spec": {"hostNetwork": "yes"}})),
        "json: cannot unmarshal string into Go struct field PodSpec.spec.hostNetwork of type bool"
    );
    assert_eq!(
        json_err("v1", "Secret", json!({"data": {"k": 1}})),
        "json: cannot unmarshal number into Go struct field Secret.data of type []uint8"
    );
    assert_eq!(
        json_err("v1", "Namespace", json!({"status": "x"})),
        "json: cannot unmarshal string into Go struct field Namespace.status of type v1.NamespaceStatus"
    );
    assert_eq!(
        json_err("v1", "ConfigMap", json!({"metadata": "x"})),
        "json: cannot unmarshal string into Go struct field ConfigMap.metadata of type v1.ObjectMeta"
    );
}

#[test]
fn json_integers_refuse_fractions_and_overflow() {
    assert_eq!(
        json_err("apps/v1", "Deployment", json!({"spec": {"replicas": 1.5}})),
        "json: cannot unmarshal number 1.5 into Go struct field DeploymentSpec.spec.replicas of type int32"
    );
    assert_eq!(
        json_err(
            "apps/v1",
            "Deployment",
            json!({"spec": {"replicas": 3_000_000_000u64}})
        ),
        "json: cannot unmarshal number 3000000000 into Go struct field DeploymentSpec.spec.replicas of type int32"
    );
    assert_eq!(
        json_err(
            "v1",
            "Pod",
            json!({"spec": {"activeDeadlineSeconds": true}})
        ),
        "json: cannot unmarshal bool into Go struct field PodSpec.spec.activeDeadlineSeconds of type int64"
    );
}

#[test]
fn the_first_type_error_wins_but_a_self_decoding_type_ends_decoding() {
    assert_eq!(
        json_err(
            "v1",
            "ConfigMap",
            json!({"data": 1, "metadata": {"labels": 2}})
        ),
        "json: cannot unmarshal number into Go struct field ConfigMap.data of type map[string]string"
    );
    // Time's UnmarshalJSON fails: its error is returned even after a saved one
    assert_eq!(
        json_err(
            "v1",
            "ConfigMap",
            json!({"data": 1, "metadata": {"creationTimestamp": 5}})
        ),
        "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.creationTimestamp of type string"
    );
    assert_eq!(
        json_err(
            "v1",
            "ConfigMap",
            json!({"metadata": {"creationTimestamp": "yesterday"}})
        ),
        "parsing time \"yesterday\" as \"2006-01-02T15:04:05Z07:00\": cannot parse \"yesterday\" as \"2006\""
    );
    assert_eq!(
        json_err(
            "v1",
            "Service",
            json!({"spec": {"ports": [{"port": 80, "targetPort": [8080]}]}})
        ),
        "json: cannot unmarshal array into Go struct field ServicePort.spec.ports.targetPort of type int32"
    );
    assert_eq!(
        json_err(
            "v1",
            "Service",
            json!({"spec": {"ports": [{"targetPort": 1.5}]}})
        ),
        "json: cannot unmarshal number 1.5 into Go struct field ServicePort.spec.ports.targetPort of type int32"
    );
    assert_eq!(
        json_err(
            "v1",
            "Pod",
            json!({"spec": {"containers": [{"resources": {"limits": {"cpu": true}}}]}})
        ),
        QUANTITY_FORMAT
    );
    assert_eq!(
        json_err(
            "v1",
            "Pod",
            json!({"spec": {"containers": [{"resources": {"requests": {"cpu": "lots"}}}]}})
        ),
        QUANTITY_FORMAT
    );
}

#[test]
fn nulls_unknown_fields_and_raw_extensions_pass() {
    let ok = |av: &str, kind: &str, v: Value| assert_eq!(check_json(av, kind, &v), Ok(()), "{v}");
    ok(
        "v1",
        "ConfigMap",
        json!({"data": null, "metadata": {"labels": {"a": null}}}),
    );
    ok("v1", "ConfigMap", json!({"whatever": [1, {"x": 2}]}));
    ok(
        "apps/v1",
        "ControllerRevision",
        json!({"data": [1, "x"], "revision": 2}),
    );
    ok(
        "v1",
        "Service",
        json!({"spec": {"ports": [{"targetPort": "http"}, {"targetPort": 8080}]}}),
    );
    ok(
        "rbac.authorization.k8s.io/v1",
        "Role",
        json!({"rules": [{"verbs": ["get"], "resources": ["pods"]}]}),
    );
}

#[test]
fn inline_fields_belong_to_the_outer_struct() {
    // Go reports fields of an inlined embedded struct under the struct being decoded
    let any_inline = Schema::get()
        .message("core.v1.Container")
        .map(|m| m.fields.iter().any(|f| f.inline))
        .unwrap_or(false);
    assert!(!any_inline);
    let e = json_err(
        "v1",
        "Pod",
        json!({"spec": {"containers": [{"livenessProbe": {"httpGet": {"path": 1}}}]}}),
    );
    assert_eq!(
        e,
        "json: cannot unmarshal number into Go struct field HTTPGetAction.spec.containers.livenessProbe.httpGet.path of type string"
    );
}

#[test]
fn unstructured_converter_messages() {
    assert_eq!(
        un_err("coordination.k8s.io/v1", "Lease", json!({"spec": "x"})),
        "cannot restore struct from: string"
    );
    assert_eq!(
        un_err("v1", "ConfigMap", json!({"metadata": {"labels": {"a": 5}}})),
        "cannot convert int64 to string"
    );
    assert_eq!(
        un_err("v1", "ConfigMap", json!({"data": [1, 2]})),
        "cannot restore map from slice"
    );
    assert_eq!(
        un_err(
            "v1",
            "Pod",
            json!({"spec": {"containers": [{"command": "sleep"}]}})
        ),
        "cannot restore slice from string"
    );
    assert_eq!(
        un_err("apps/v1", "Deployment", json!({"spec": {"replicas": "3"}})),
        "unrecognized type: int32"
    );
    assert_eq!(
        un_err("apps/v1", "Deployment", json!({"spec": {"replicas": 1.5}})),
        "cannot convert float64 to int32"
    );
    assert_eq!(
        un_err(
            "v1",
            "ConfigMap",
            json!({"metadata": {"creationTimestamp": 5}})
        ),
        "json: cannot unmarshal number into Go value of type string"
    );
    assert_eq!(
        check_unstructured("apps/v1", "Deployment", &json!({"spec": {"replicas": 2.0}})),
        Ok(())
    );
}

#[test]
fn go_renderings() {
    let v = json!({"metadata": {"labels": {"b": 5, "a": "x"}}, "l": [1, 1.5, true, null]});
    assert_eq!(
        go_format(&v),
        "map[l:[1 1.5 true <nil>] metadata:map[labels:map[a:x b:5]]]"
    );
    assert_eq!(
        go_marshal(&json!({"b": "<&>", "a": 1})),
        r#"{"a":1,"b":"\u003c\u0026\u003e"}"#
    );
    assert_eq!(go_float(1e21), "1e+21");
    assert_eq!(go_float(0.00001), "1e-05");
    assert_eq!(go_float(2.5), "2.5");
}

#[test]
fn durations() {
    assert_eq!(parse_duration("1h2m3.5s"), Ok(()));
    assert_eq!(parse_duration("0"), Ok(()));
    assert_eq!(
        parse_duration("x"),
        Err("time: invalid duration \"x\"".into())
    );
    assert_eq!(
        parse_duration("5"),
        Err("time: missing unit in duration \"5\"".into())
    );
}
