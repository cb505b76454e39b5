//! Namespace, ConfigMap, Secret, ServiceAccount, Node and Service.

use serde_json::json;

use super::*;

#[test]
fn namespace_rules() {
    assert!(
        validate(
            "Namespace",
            &json!({"metadata": {"name": "team-a"}, "spec": {"finalizers": ["kubernetes"]}})
        )
        .is_empty()
    );
    assert_eq!(
        lines(&validate(
            "Namespace",
            &json!({"metadata": {"name": "Team"}})
        )),
        vec![format!(
            "metadata.name: Invalid value: \"Team\": {LABEL_RE}"
        )]
    );
    assert_eq!(
        lines(&validate(
            "Namespace",
            &json!({"metadata": {"name": "a"}, "spec": {"finalizers": ["foo"]}})
        )),
        vec![
            "spec.finalizers: Invalid value: \"foo\": name is neither a standard finalizer name nor is it fully qualified"
        ]
    );
    assert_eq!(
        lines(&validate(
            "Namespace",
            &json!({"metadata": {"name": &"n".repeat(64)}})
        )),
        vec![format!(
            "metadata.name: Invalid value: \"{}\": must be no more than 63 characters",
            "n".repeat(64)
        )]
    );
}

#[test]
fn config_map_rules() {
    let cm = json!({"metadata": {"name": "c"}, "data": {"good.key": "v", "bad key": "v", "dup": "x"},
                    "binaryData": {"dup": "AAAA", "bad/bin": "AAAA"}});
    let key_re = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";
    assert_eq!(
        lines(&validate("ConfigMap", &cm)),
        vec![
            format!("data[bad key]: Invalid value: \"bad key\": {key_re}"),
            "data[dup]: Invalid value: \"dup\": duplicate of key present in binaryData".to_string(),
            format!("binaryData[bad/bin]: Invalid value: \"bad/bin\": {key_re}"),
        ]
    );
    let big = json!({"metadata": {"name": "c"}, "data": {"a": "x".repeat(1024 * 1024 + 1)}});
    let c = validate("ConfigMap", &big);
    assert_eq!(c[0].reason, "FieldValueTooLong");
    assert_eq!(
        c[0].error(),
        ": Too long: may not be more than 1048576 bytes"
    );
}

#[test]
fn secret_rules() {
    let s = json!({"metadata": {"name": "s"}, "type": "Opaque", "data": {"a": "dmFsdWU="}, "stringData": {"bad key": "x"}});
    let c = validate("Secret", &s);
    assert_eq!(c.len(), 1);
    assert!(
        c[0].error()
            .starts_with("data[bad key]: Invalid value: \"bad key\": a valid config key")
    );
    let tls = json!({"metadata": {"name": "s"}, "type": "kubernetes.io/tls", "data": {"tls.crt": "eA=="}});
    assert_eq!(
        lines(&validate("Secret", &tls)),
        vec!["data[tls.key]: Required value"]
    );
    let basic = json!({"metadata": {"name": "s"}, "type": "kubernetes.io/basic-auth"});
    assert_eq!(
        lines(&validate("Secret", &basic)),
        vec![
            "data[username]: Required value",
            "data[password]: Required value"
        ]
    );
    let sa = json!({"metadata": {"name": "s"}, "type": "kubernetes.io/service-account-token"});
    assert_eq!(
        lines(&validate("Secret", &sa)),
        vec!["metadata.annotations[kubernetes.io/service-account.name]: Required value"]
    );
    let docker =
        json!({"metadata": {"name": "s"}, "type": "kubernetes.io/dockerconfigjson", "data": {}});
    assert_eq!(
        lines(&validate("Secret", &docker)),
        vec!["data[.dockerconfigjson]: Required value"]
    );
    let ssh = json!({"metadata": {"name": "s"}, "type": "kubernetes.io/ssh-auth", "data": {"ssh-privatekey": ""}});
    assert_eq!(
        lines(&validate("Secret", &ssh)),
        vec!["data[ssh-privatekey]: Required value"]
    );
    let big = json!({"metadata": {"name": "s"}, "stringData": {"a": "x".repeat(1024 * 1024 + 1)}});
    assert_eq!(
        lines(&validate("Secret", &big)),
        vec!["data: Too long: may not be more than 1048576 bytes"]
    );
}

#[test]
fn service_account_rules() {
    assert!(validate("ServiceAccount", &json!({"metadata": {"name": "builder"}})).is_empty());
    assert_eq!(
        lines(&validate(
            "ServiceAccount",
            &json!({"metadata": {"name": "Builder"}})
        )),
        vec![format!(
            "metadata.name: Invalid value: \"Builder\": {SUBDOMAIN_RE}"
        )]
    );
}

#[test]
fn node_rules() {
    let node = json!({"metadata": {"name": "node-1"}, "spec": {"taints": [
        {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
        {"key": "dedicated", "value": "other", "effect": "NoSchedule"},
        {"key": "k", "effect": "Sometimes"},
        {"key": "k2"}
    ]}});
    assert_eq!(
        lines(&validate("Node", &node)),
        vec![
            "metadata.taints[1]: Duplicate value: core.Taint{Key:\"dedicated\", Value:\"other\", Effect:\"NoSchedule\", TimeAdded:<nil>}: taints must be unique by key and effect pair",
            "metadata.taints[2].effect: Unsupported value: \"Sometimes\": supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\"",
            "metadata.taints[3].effect: Required value",
        ]
    );
    assert_eq!(
        lines(&validate("Node", &json!({"metadata": {"name": "Node_1"}}))),
        vec![format!(
            "metadata.name: Invalid value: \"Node_1\": {SUBDOMAIN_RE}"
        )]
    );
    let old = json!({"metadata": {"name": "n"}, "spec": {"podCIDR": "10.0.0.0/24", "podCIDRs": ["10.0.0.0/24"], "providerID": "kinet://n"}});
    let mut new = old.clone();
    new["spec"]["podCIDRs"] = json!(["10.0.1.0/24"]);
    new["spec"]["providerID"] = json!("kinet://m");
    new["spec"]["unschedulable"] = json!(true);
    assert_eq!(
        lines(&validate_update("Node", &old, &new)),
        vec![
            "spec.podCIDRs: Forbidden: node updates may not change podCIDR except from \"\" to valid",
            "spec.providerID: Forbidden: node updates may not change providerID except from \"\" to valid"
        ]
    );
    let fresh = json!({"metadata": {"name": "n"}, "spec": {}});
    let mut assigned = fresh.clone();
    assigned["spec"]["podCIDRs"] = json!(["10.0.0.0/24"]);
    assert!(validate_update("Node", &fresh, &assigned).is_empty());
}

#[test]
fn service_rules() {
    let ok = json!({"metadata": {"name": "web"}, "spec": {"type": "ClusterIP", "selector": {"app": "web"},
        "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}});
    assert!(validate("Service", &ok).is_empty());
    let bad = json!({"metadata": {"name": "web"}, "spec": {"type": "Internal", "ports": [
        {"port": 0, "targetPort": "HTTP"}, {"name": "a", "port": 81, "protocol": "ICMP"}, {"name": "a", "port": 82}]}});
    assert_eq!(
        lines(&validate("Service", &bad)),
        vec![
            "spec.ports[0].name: Required value",
            "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
            "spec.ports[0].targetPort: Invalid value: \"HTTP\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
            "spec.ports[0].targetPort: Invalid value: \"HTTP\": must contain at least one letter (a-z)",
            "spec.ports[1].protocol: Unsupported value: \"ICMP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
            "spec.ports[2].name: Duplicate value: \"a\"",
            "spec.type: Unsupported value: \"Internal\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"",
        ]
    );
    assert_eq!(
        lines(&validate(
            "Service",
            &json!({"metadata": {"name": "s"}, "spec": {}})
        )),
        vec!["spec.ports: Required value"]
    );
    assert!(
        validate(
            "Service",
            &json!({"metadata": {"name": "s"}, "spec": {"clusterIP": "None"}})
        )
        .is_empty()
    );
    assert_eq!(
        lines(&validate(
            "Service",
            &json!({"metadata": {"name": "s"}, "spec": {"type": "ExternalName"}})
        )),
        vec!["spec.externalName: Required value"]
    );
}

#[test]
fn service_rules_of_types_affinity_addresses_and_policies() {
    let v = |spec: serde_json::Value| {
        lines(&validate(
            "Service",
            &json!({"metadata": {"name": "s"}, "spec": spec}),
        ))
    };
    assert_eq!(
        v(
            json!({"type": "NodePort", "clusterIP": "None", "clusterIPs": ["None"], "ports": [{"port": 80}]})
        ),
        vec![
            "spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for NodePort services"
        ]
    );
    assert_eq!(
        v(
            json!({"type": "ExternalName", "externalName": "example.org", "clusterIP": "10.152.183.5", "ipFamilies": ["IPv4"]})
        ),
        vec![
            "spec.clusterIPs: Forbidden: may not be set for ExternalName services",
            "spec.ipFamilies: Forbidden: may not be set for ExternalName services",
        ]
    );
    assert_eq!(
        v(
            json!({"sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 0}}, "ports": [{"port": 80}]})
        ),
        vec![
            "spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 0: must be greater than 0 and less than 86400"
        ]
    );
    assert_eq!(
        v(json!({"sessionAffinity": "Sticky", "ports": [{"port": 80}]})),
        vec![
            "spec.sessionAffinity: Unsupported value: \"Sticky\": supported values: \"ClientIP\", \"None\""
        ]
    );
    assert_eq!(
        v(json!({"sessionAffinity": "None", "sessionAffinityConfig": {}, "ports": [{"port": 80}]})),
        vec![
            "spec.sessionAffinityConfig: Forbidden: must not be set when session affinity is None"
        ]
    );
    assert_eq!(
        v(
            json!({"clusterIP": "10.152.183.300", "clusterIPs": ["10.152.183.300"], "ports": [{"port": 80}]})
        ),
        vec![
            "spec.clusterIPs[0]: Invalid value: \"10.152.183.300\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
        ]
    );
    assert_eq!(
        v(
            json!({"clusterIP": "10.152.183.5", "clusterIPs": ["10.152.183.6"], "ports": [{"port": 80}]})
        ),
        vec![
            "spec.clusterIPs: Invalid value: []string{\"10.152.183.6\"}: first value must match `clusterIP`"
        ]
    );
    assert_eq!(
        v(json!({"ports": [{"port": 80, "nodePort": 30080}]})),
        vec!["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]
    );
    assert_eq!(
        v(
            json!({"type": "NodePort", "ports": [{"name": "a", "port": 80}, {"name": "b", "port": 80}]})
        ),
        vec![
            "spec.ports[1]: Duplicate value: core.ServicePort{Name:\"\", Protocol:\"TCP\", AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}, NodePort:0}"
        ]
    );
    assert_eq!(
        v(
            json!({"type": "NodePort", "ports": [{"name": "a", "port": 80, "nodePort": 30001}, {"name": "b", "port": 81, "nodePort": 30001}]})
        ),
        vec!["spec.ports[1].nodePort: Duplicate value: 30001"]
    );
    assert_eq!(
        v(json!({"externalTrafficPolicy": "Local", "ports": [{"port": 80}]})),
        vec![
            "spec.externalTrafficPolicy: Invalid value: \"Local\": may only be set for externally-accessible services"
        ]
    );
    assert_eq!(
        v(
            json!({"type": "NodePort", "externalTrafficPolicy": "Cluster", "healthCheckNodePort": 30000, "ports": [{"port": 80}]})
        ),
        vec![
            "spec.healthCheckNodePort: Invalid value: 30000: may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"
        ]
    );
    assert_eq!(
        v(json!({"allocateLoadBalancerNodePorts": true, "ports": [{"port": 80}]})),
        vec![
            "spec.allocateLoadBalancerNodePorts: Forbidden: may only be used when `type` is 'LoadBalancer'"
        ]
    );
    assert_eq!(
        v(json!({"ipFamilyPolicy": "Dual", "ports": [{"port": 80}]})),
        vec![
            "spec.ipFamilyPolicy: Unsupported value: \"Dual\": supported values: \"PreferDualStack\", \"RequireDualStack\", \"SingleStack\""
        ]
    );
}

#[test]
fn service_updates_keep_the_cluster_ip() {
    let old = json!({"metadata": {"name": "s", "resourceVersion": "1"}, "spec": {"type": "ClusterIP",
        "clusterIP": "10.152.183.5", "clusterIPs": ["10.152.183.5"], "ipFamilies": ["IPv4"], "ports": [{"port": 80}]}});
    let mut new = old.clone();
    new["spec"]["clusterIP"] = json!("10.152.183.6");
    new["spec"]["clusterIPs"] = json!(["10.152.183.6"]);
    assert_eq!(
        lines(&validate_update("Service", &old, &new)),
        vec![
            "spec.clusterIPs[0]: Invalid value: []string{\"10.152.183.6\"}: may not change once set"
        ]
    );
    // to ExternalName the address may go
    let mut en = old.clone();
    en["spec"] = json!({"type": "ExternalName", "externalName": "example.org"});
    assert!(validate_update("Service", &old, &en).is_empty());
    assert!(validate_update("Service", &old, &old).is_empty());
}
