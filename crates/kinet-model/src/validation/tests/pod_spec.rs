//! Pod specs.

use serde_json::json;

use super::*;

#[test]
fn pod_valid() {
    let spec = json!({
        "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "terminationGracePeriodSeconds": 30,
        "volumes": [{"name": "data", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "c"}}],
        "initContainers": [{"name": "init", "image": "busybox", "command": ["true"]}],
        "containers": [{
            "name": "app", "image": "nginx:1.25", "imagePullPolicy": "IfNotPresent",
            "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}],
            "env": [{"name": "A", "value": "1"}, {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
            "volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": "cfg", "mountPath": "/etc/cfg"}],
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "128Mi"}},
            "livenessProbe": {"httpGet": {"path": "/", "port": 80}}
        }]
    });
    assert_eq!(pod_errs(spec), Vec::<String>::new());
}

#[test]
fn pod_containers_required_and_image_required() {
    let c = validate("Pod", &pod(json!({})));
    assert_eq!(lines(&c), vec!["spec.containers: Required value"]);
    assert_eq!(
        pod_errs(json!({"containers": [{"name": "a"}]})),
        vec!["spec.containers[0].image: Required value"]
    );
    assert_eq!(
        pod_errs(json!({"containers": [ctr("a", " nginx")]})),
        vec![
            "spec.containers[0].image: Invalid value: \" nginx\": must not have leading or trailing whitespace"
        ]
    );
}

#[test]
fn pod_container_names() {
    assert_eq!(
        pod_errs(json!({"containers": [ctr("Web", "nginx")]})),
        vec![format!(
            "spec.containers[0].name: Invalid value: \"Web\": {LABEL_RE}"
        )]
    );
    assert_eq!(
        pod_errs(json!({"containers": [{"image": "nginx"}]})),
        vec!["spec.containers[0].name: Required value"]
    );
    let c = validate(
        "Pod",
        &pod(json!({"containers": [ctr("a", "x"), ctr("a", "y")]})),
    );
    assert_eq!(c[0].reason, "FieldValueDuplicate");
    assert_eq!(
        lines(&c),
        vec!["spec.containers[1].name: Duplicate value: \"a\""]
    );
    assert_eq!(
        pod_errs(
            json!({"containers": [ctr("a", "x")], "initContainers": [ctr("b", "x"), ctr("a", "y"), ctr("b", "z")]})
        ),
        vec![
            "spec.initContainers[1].name: Duplicate value: \"a\"",
            "spec.initContainers[2].name: Duplicate value: \"b\""
        ]
    );
}

#[test]
fn pod_ports() {
    let spec = json!({"containers": [{"name": "a", "image": "x", "ports": [
        {"containerPort": 0},
        {"containerPort": 70000, "hostPort": -1},
        {"name": "metrics-endpoint-x", "containerPort": 9000},
        {"name": "web", "containerPort": 80, "protocol": "HTTP"},
        {"name": "web", "containerPort": 81}
    ]}]});
    assert_eq!(
        pod_errs(spec),
        vec![
            "spec.containers[0].ports[0].containerPort: Required value",
            "spec.containers[0].ports[1].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
            "spec.containers[0].ports[1].hostPort: Invalid value: -1: must be between 1 and 65535, inclusive",
            "spec.containers[0].ports[2].name: Invalid value: \"metrics-endpoint-x\": must be no more than 15 characters",
            "spec.containers[0].ports[3].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
            "spec.containers[0].ports[4].name: Duplicate value: \"web\"",
        ]
    );
    let c = validate(
        "Pod",
        &pod(
            json!({"containers": [{"name": "a", "image": "x", "ports": [{"containerPort": 80, "protocol": "QUIC"}]}]}),
        ),
    );
    assert_eq!(c[0].reason, "FieldValueNotSupported");
}

#[test]
fn pod_host_port_conflicts() {
    let spec = json!({"containers": [
        {"name": "a", "image": "x", "ports": [{"containerPort": 80, "hostPort": 8080}]},
        {"name": "b", "image": "x", "ports": [{"containerPort": 81, "hostPort": 8080, "protocol": "TCP"}]}
    ]});
    assert_eq!(
        pod_errs(spec),
        vec!["spec.containers[1].ports[0].hostPort: Duplicate value: \"/TCP/8080\""]
    );
}

#[test]
fn pod_restart_and_dns_policy() {
    assert_eq!(
        pod_errs(json!({"restartPolicy": "Sometimes", "containers": [ctr("a", "x")]})),
        vec![
            "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\""
        ]
    );
    assert_eq!(
        pod_errs(json!({"dnsPolicy": "Cluster", "containers": [ctr("a", "x")]})),
        vec![
            "spec.dnsPolicy: Unsupported value: \"Cluster\": supported values: \"ClusterFirstWithHostNet\", \"ClusterFirst\", \"Default\", \"None\""
        ]
    );
    assert_eq!(
        pod_errs(json!({"dnsPolicy": "None", "containers": [ctr("a", "x")]})),
        vec!["spec.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is None"]
    );
    assert_eq!(
        pod_errs(
            json!({"containers": [{"name": "a", "image": "x", "imagePullPolicy": "Sometimes",
                        "terminationMessagePolicy": "Foo"}]})
        ),
        vec![
            "spec.containers[0].terminationMessagePolicy: Unsupported value: \"Foo\": supported values: \"File\", \"FallbackToLogsOnError\"",
            "spec.containers[0].imagePullPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"IfNotPresent\", \"Never\"",
        ]
    );
}

#[test]
fn pod_env() {
    let spec = json!({"containers": [{"name": "a", "image": "x", "env": [
        {"value": "x"},
        {"name": "A=B"},
        {"name": "ok.name-1"},
        {"name": "C", "valueFrom": {}},
        {"name": "D", "value": "v", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
        {"name": "E", "valueFrom": {"configMapKeyRef": {"name": "c"}}}
    ]}]});
    assert_eq!(
        pod_errs(spec),
        vec![
            "spec.containers[0].env[0].name: Required value",
            "spec.containers[0].env[1].name: Invalid value: \"A=B\": a valid environment variable name must consist only of printable ASCII characters other than '='",
            "spec.containers[0].env[3].valueFrom: Invalid value: \"\": must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
            "spec.containers[0].env[4].valueFrom: Invalid value: \"\": may not be specified when `value` is not empty",
            "spec.containers[0].env[5].valueFrom.configMapKeyRef.key: Required value",
        ]
    );
    let spec = json!({"containers": [{"name": "a", "image": "x", "envFrom": [{"prefix": "P_"}, {"configMapRef": {"name": "c"}}]}]});
    assert_eq!(
        pod_errs(spec),
        vec![
            "spec.containers[0].envFrom: Invalid value: \"\": must specify one of: `configMapRef` or `secretRef`"
        ]
    );
}

#[test]
fn pod_volumes_and_mounts() {
    let spec = json!({
        "volumes": [
            {"name": "data", "emptyDir": {}},
            {"name": "data", "emptyDir": {}},
            {"name": "Bad", "emptyDir": {}},
            {"name": "none"},
            {"name": "two", "emptyDir": {}, "hostPath": {"path": "/x"}},
            {"name": "hp", "hostPath": {}}
        ],
        "containers": [{"name": "a", "image": "x", "volumeMounts": [
            {"name": "data", "mountPath": "/d"},
            {"name": "missing", "mountPath": "/d"},
            {"name": "data", "mountPath": "/e", "subPath": "../x"}
        ]}]
    });
    assert_eq!(
        pod_errs(spec),
        vec![
            "spec.volumes[1].name: Duplicate value: \"data\"".to_string(),
            format!("spec.volumes[2].name: Invalid value: \"Bad\": {LABEL_RE}"),
            "spec.volumes[3]: Required value: must specify a volume type".to_string(),
            "spec.volumes[4].hostPath: Forbidden: may not specify more than 1 volume type".to_string(),
            "spec.volumes[5].hostPath.path: Required value".to_string(),
            "spec.containers[0].volumeMounts[1].name: Not found: \"missing\"".to_string(),
            "spec.containers[0].volumeMounts[1].mountPath: Invalid value: \"/d\": must be unique".to_string(),
            "spec.containers[0].volumeMounts.subPath: Invalid value: \"../x\": must not contain '..'".to_string(),
        ]
    );
    let c = validate(
        "Pod",
        &pod(json!({"containers": [{"name": "a", "image": "x", "volumeMounts": [{"name": "v"}]}]})),
    );
    assert_eq!(c[0].reason, "FieldValueNotFound");
    assert_eq!(
        lines(&c),
        vec![
            "spec.containers[0].volumeMounts[0].name: Not found: \"v\"",
            "spec.containers[0].volumeMounts[0].mountPath: Required value"
        ]
    );
    let spec = json!({"volumes": [{"name": "s", "secret": {}}, {"name": "p", "persistentVolumeClaim": {}}, {"name": "c", "configMap": {}}],
                      "containers": [ctr("a", "x")]});
    assert_eq!(
        pod_errs(spec),
        vec![
            "spec.volumes[0].secret.secretName: Required value",
            "spec.volumes[1].persistentVolumeClaim.claimName: Required value",
            "spec.volumes[2].configMap.name: Required value"
        ]
    );
}

#[test]
fn pod_probes_and_init_restrictions() {
    let spec = json!({"containers": [{"name": "a", "image": "x",
        "livenessProbe": {"successThreshold": 2, "exec": {"command": ["true"]}},
        "readinessProbe": {"periodSeconds": -1},
        "startupProbe": {"exec": {}, "tcpSocket": {"port": 1}}}],
        "initContainers": [{"name": "i", "image": "x", "readinessProbe": {"exec": {}}},
                           {"name": "s", "image": "x", "restartPolicy": "Never"}]});
    assert_eq!(
        pod_errs(spec),
        vec![
            "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
            "spec.containers[0].readinessProbe: Required value: must specify a handler type",
            "spec.containers[0].readinessProbe.periodSeconds: Invalid value: -1: must be greater than or equal to 0",
            "spec.containers[0].startupProbe.tcpSocket: Forbidden: may not specify more than 1 handler type",
            "spec.initContainers[0].readinessProbe: Forbidden: may not be set for init containers without restartPolicy=Always",
            "spec.initContainers[1].restartPolicy: Unsupported value: \"Never\": supported values: \"Always\"",
        ]
    );
    assert_eq!(
        pod_errs(json!({"containers": [{"name": "a", "image": "x", "restartPolicy": "Always"}]})),
        vec!["spec.containers[0].restartPolicy: Forbidden: may not be set for non-init containers"]
    );
}

#[test]
fn pod_misc_spec_fields() {
    let spec = json!({"containers": [ctr("a", "x")], "nodeName": "Node_1", "hostname": "a.b",
        "activeDeadlineSeconds": 0, "nodeSelector": {"disk": "fast ssd"},
        "tolerations": [{"operator": "Equal", "value": "x"}, {"key": "k", "operator": "Exists", "value": "v"},
                        {"key": "k", "tolerationSeconds": 5, "effect": "NoSchedule"}, {"key": "k", "effect": "Never"}]});
    let got = pod_errs(spec);
    assert_eq!(got.len(), 8, "{got:#?}");
    assert!(got[0].starts_with("spec.nodeSelector: Invalid value: \"fast ssd\": a valid label"));
    assert!(
        got[1].starts_with(
            "spec.nodeName: Invalid value: \"Node_1\": a lowercase RFC 1123 subdomain"
        )
    );
    assert_eq!(
        got[2],
        "spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive"
    );
    assert_eq!(
        got[3],
        "spec.hostname: Invalid value: \"a.b\": must not contain dots"
    );
    assert_eq!(
        got[4],
        "spec.tolerations[0].operator: Invalid value: \"Equal\": operator must be Exists when `key` is empty, which means \"match all values and all keys\""
    );
    assert_eq!(
        got[5],
        "spec.tolerations[1].operator: Invalid value: \"v\": value must be empty when `operator` is 'Exists'"
    );
    assert_eq!(
        got[6],
        "spec.tolerations[2].effect: Invalid value: \"NoSchedule\": effect must be 'NoExecute' when `tolerationSeconds` is set"
    );
    assert_eq!(
        got[7],
        "spec.tolerations[3].effect: Unsupported value: \"Never\": supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\""
    );
}

#[test]
fn pod_ephemeral_containers_forbidden_on_create() {
    let spec = json!({"containers": [ctr("a", "x")], "ephemeralContainers": [{"name": "debug", "image": "busybox"}]});
    assert_eq!(
        pod_errs(spec),
        vec!["spec.ephemeralContainers: Forbidden: cannot be set on create"]
    );
}
