//! Defaulting, as the API server's defaulters and admission plugins apply it on
//! create, so `kubectl get -o yaml` shows the fields a real cluster shows.

use serde_json::{Map, Value, json};

/// Applies the kind's defaults to a new object in place.
///
/// Parts of the object of the wrong JSON type (a `spec` that is a string, a
/// `containers` that is a number) are left as they are, for validation to
/// report; nothing here panics on what a request holds.
pub fn apply(kind: &str, obj: &mut Value) {
    if !obj.is_object() {
        return;
    }
    match kind {
        "Pod" => pod(obj),
        "Namespace" => namespace(obj),
        "Secret" => secret(obj),
        "Service" => service(obj),
        "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" | "Job" => workload(kind, obj),
        _ => {}
    }
}

/// Secrets: `type` defaults to Opaque, and `stringData` is merged into `data`
/// (base64) and dropped, as the API server does on every write.
fn secret(obj: &mut Value) {
    let Some(m) = obj.as_object_mut() else {
        return;
    };
    set_default(m, "type", json!("Opaque"));
    let Some(string_data) = m.remove("stringData") else {
        return;
    };
    let Some(sd) = string_data.as_object() else {
        return;
    };
    let data = m.entry("data").or_insert_with(|| json!({}));
    if !data.is_object() {
        *data = json!({});
    }
    if let Some(data) = data.as_object_mut() {
        for (k, v) in sd {
            let encoded = crate::secret::encode(v.as_str().unwrap_or("").as_bytes());
            data.insert(k.clone(), json!(encoded));
        }
    }
}

/// Services (`SetDefaults_Service`): type, session affinity, port protocols and
/// target ports, traffic policies, and LoadBalancer node ports. IP families and
/// ClusterIPs are the allocator's (the registry's create path).
fn service(obj: &mut Value) {
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    set_default(spec, "type", json!("ClusterIP"));
    set_default(spec, "sessionAffinity", json!("None"));
    match spec.get("sessionAffinity").and_then(Value::as_str) {
        Some("None") => {
            spec.remove("sessionAffinityConfig");
        }
        Some("ClientIP") => {
            // a config without a timeout is replaced by the default one
            let cfg = spec.get("sessionAffinityConfig");
            let timeout = cfg
                .and_then(|c| c.get("clientIP"))
                .and_then(|c| c.get("timeoutSeconds"))
                .is_some_and(|t| !t.is_null());
            let odd = cfg.is_some_and(|c| !c.is_null() && !c.is_object());
            if !timeout && !odd {
                spec.insert(
                    "sessionAffinityConfig".into(),
                    json!({"clientIP": {"timeoutSeconds": 10800}}),
                );
            }
        }
        _ => {}
    }
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            set_default(p, "protocol", json!("TCP"));
            let unset = match p.get("targetPort") {
                None | Some(Value::Null) => true,
                Some(Value::Number(n)) => n.as_i64() == Some(0),
                Some(Value::String(s)) => s.is_empty(),
                _ => false,
            };
            if unset && let Some(port) = p.get("port").cloned() {
                p.insert("targetPort".into(), port);
            }
        }
    }
    let ty = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if matches!(ty.as_str(), "NodePort" | "LoadBalancer") {
        set_default(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    if matches!(ty.as_str(), "ClusterIP" | "NodePort" | "LoadBalancer") {
        set_default(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    if ty == "LoadBalancer" {
        set_default(spec, "allocateLoadBalancerNodePorts", json!(true));
    }
}

fn set_default(m: &mut Map<String, Value>, key: &str, v: Value) {
    if m.get(key).is_none_or(Value::is_null) {
        m.insert(key.to_string(), v);
    }
}

fn namespace(obj: &mut Value) {
    let name = crate::json::name(obj).to_string();
    let Some(m) = obj.as_object_mut() else {
        return;
    };
    if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
        let labels = meta.entry("labels").or_insert_with(|| json!({}));
        if labels.is_null() {
            *labels = json!({});
        }
        if let Some(labels) = labels.as_object_mut() {
            labels.insert("kubernetes.io/metadata.name".into(), json!(name));
        }
    }
    let spec = m.entry("spec").or_insert_with(|| json!({}));
    if let Some(s) = spec.as_object_mut() {
        set_default(s, "finalizers", json!(["kubernetes"]));
    }
    m.insert("status".into(), json!({"phase": "Active"}));
}

/// Defaults of a PodSpec (also used inside workload templates).
pub fn pod_spec(spec: &mut Value) {
    let Some(s) = spec.as_object_mut() else {
        return;
    };
    set_default(s, "restartPolicy", json!("Always"));
    set_default(s, "terminationGracePeriodSeconds", json!(30));
    set_default(s, "dnsPolicy", json!("ClusterFirst"));
    set_default(s, "securityContext", json!({}));
    set_default(s, "schedulerName", json!("default-scheduler"));
    set_default(s, "enableServiceLinks", json!(true));
    if !s.contains_key("serviceAccountName")
        && let Some(sa) = s.get("serviceAccount").cloned()
    {
        s.insert("serviceAccountName".into(), sa);
    }
    for key in ["initContainers", "containers", "ephemeralContainers"] {
        if let Some(cs) = s.get_mut(key).and_then(Value::as_array_mut) {
            for c in cs {
                container(c, key == "ephemeralContainers");
            }
        }
    }
    if let Some(vols) = s.get_mut("volumes").and_then(Value::as_array_mut) {
        for v in vols {
            for (src, field) in [
                ("configMap", "defaultMode"),
                ("secret", "defaultMode"),
                ("downwardAPI", "defaultMode"),
                ("projected", "defaultMode"),
            ] {
                if let Some(o) = v.get_mut(src).and_then(Value::as_object_mut) {
                    set_default(o, field, json!(420));
                }
            }
            volume_source(v);
        }
    }
}

/// Defaults inside a volume source: fieldRef apiVersion, hostPath type, token
/// expiration, resourceFieldRef divisor.
fn volume_source(v: &mut Value) {
    let items = |v: &mut Value| {
        if let Some(items) = v.get_mut("items").and_then(Value::as_array_mut) {
            for it in items {
                if let Some(f) = it.get_mut("fieldRef").and_then(Value::as_object_mut) {
                    set_default(f, "apiVersion", json!("v1"));
                }
                if let Some(r) = it
                    .get_mut("resourceFieldRef")
                    .and_then(Value::as_object_mut)
                {
                    set_default(r, "divisor", json!("0"));
                }
            }
        }
    };
    if let Some(d) = v.get_mut("downwardAPI") {
        items(d);
    }
    if let Some(h) = v.get_mut("hostPath").and_then(Value::as_object_mut) {
        set_default(h, "type", json!(""));
    }
    if let Some(sources) = v
        .pointer_mut("/projected/sources")
        .and_then(Value::as_array_mut)
    {
        for src in sources {
            if let Some(d) = src.get_mut("downwardAPI") {
                items(d);
            }
            if let Some(t) = src
                .get_mut("serviceAccountToken")
                .and_then(Value::as_object_mut)
            {
                set_default(t, "expirationSeconds", json!(3600));
            }
        }
    }
}

/// The defaults of an ephemeral container (`kubectl debug`).
pub fn ephemeral_container(c: &mut Value) {
    container(c, true);
}

fn container(c: &mut Value, ephemeral: bool) {
    let image = c
        .get("image")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let Some(m) = c.as_object_mut() else { return };
    set_default(m, "imagePullPolicy", json!(image_pull_policy(&image)));
    set_default(m, "terminationMessagePath", json!("/dev/termination-log"));
    set_default(m, "terminationMessagePolicy", json!("File"));
    if !ephemeral {
        set_default(m, "resources", json!({}));
    }
    if let Some(ports) = m.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports {
            if let Some(p) = p.as_object_mut() {
                set_default(p, "protocol", json!("TCP"));
            }
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = m.get_mut(probe).and_then(Value::as_object_mut) {
            set_default(p, "timeoutSeconds", json!(1));
            set_default(p, "periodSeconds", json!(10));
            set_default(p, "successThreshold", json!(1));
            set_default(p, "failureThreshold", json!(3));
            if let Some(h) = p.get_mut("httpGet").and_then(Value::as_object_mut) {
                set_default(h, "path", json!("/"));
                set_default(h, "scheme", json!("HTTP"));
            }
        }
    }
}

/// `Always` for `:latest` or untagged images, else `IfNotPresent`.
pub fn image_pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, "latest")) | None => "Always",
        Some(_) => "IfNotPresent",
    }
}

fn pod(obj: &mut Value) {
    if let Some(spec) = obj.get_mut("spec") {
        pod_spec(spec);
        let Some(s) = spec.as_object_mut() else {
            return;
        };
        // ServiceAccount admission
        set_default(s, "serviceAccountName", json!("default"));
        let sa = s.get("serviceAccountName").cloned().unwrap_or(Value::Null);
        s.insert("serviceAccount".into(), sa);
        set_default(s, "priority", json!(0));
        set_default(s, "preemptionPolicy", json!("PreemptLowerPriority"));
        // DefaultTolerationSeconds admission
        let tolerations = s.entry("tolerations").or_insert_with(|| json!([]));
        if let Some(t) = tolerations.as_array_mut() {
            for key in [
                "node.kubernetes.io/not-ready",
                "node.kubernetes.io/unreachable",
            ] {
                if !t
                    .iter()
                    .any(|x| x.get("key").and_then(Value::as_str) == Some(key))
                {
                    t.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
                }
            }
        }
    }
    let qos = qos_class(obj);
    let Some(m) = obj.as_object_mut() else {
        return;
    };
    let status = m.entry("status").or_insert_with(|| json!({}));
    if let Some(st) = status.as_object_mut() {
        set_default(st, "phase", json!("Pending"));
        set_default(st, "qosClass", json!(qos));
    }
}

/// The pod's QoS class from its containers' requests and limits.
pub fn qos_class(pod: &Value) -> &'static str {
    let cs: Vec<&Value> = ["initContainers", "containers"]
        .iter()
        .filter_map(|k| pod.pointer(&format!("/spec/{k}")).and_then(Value::as_array))
        .flatten()
        .collect();
    let mut any = false;
    let mut guaranteed = true;
    for c in &cs {
        let req = c.pointer("/resources/requests").and_then(Value::as_object);
        let lim = c.pointer("/resources/limits").and_then(Value::as_object);
        if req.is_some_and(|r| !r.is_empty()) || lim.is_some_and(|l| !l.is_empty()) {
            any = true;
        }
        for res in ["cpu", "memory"] {
            let l = lim.and_then(|l| l.get(res));
            let r = req.and_then(|r| r.get(res)).or(l);
            if l.is_none() || r != l {
                guaranteed = false;
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

fn workload(kind: &str, obj: &mut Value) {
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if kind != "DaemonSet" && kind != "Job" {
        set_default(spec, "replicas", json!(1));
    }
    set_default(spec, "revisionHistoryLimit", json!(10));
    match kind {
        "Deployment" => {
            set_default(spec, "progressDeadlineSeconds", json!(600));
            // an empty strategy (kubectl create deployment sends `strategy: {}`) is a rolling update
            let strategy = spec.entry("strategy").or_insert_with(|| json!({}));
            if !strategy.is_object() {
                *strategy = json!({});
            }
            if let Some(strategy) = strategy.as_object_mut() {
                set_default(strategy, "type", json!("RollingUpdate"));
                if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
                    let ru = strategy.entry("rollingUpdate").or_insert_with(|| json!({}));
                    if let Some(ru) = ru.as_object_mut() {
                        set_default(ru, "maxSurge", json!("25%"));
                        set_default(ru, "maxUnavailable", json!("25%"));
                    }
                }
            }
        }
        "StatefulSet" => {
            set_default(spec, "podManagementPolicy", json!("OrderedReady"));
            set_default(
                spec,
                "updateStrategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
            );
            set_default(
                spec,
                "persistentVolumeClaimRetentionPolicy",
                json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
            );
        }
        "DaemonSet" => {
            set_default(
                spec,
                "updateStrategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}),
            );
        }
        "Job" => {
            spec.remove("revisionHistoryLimit");
            set_default(spec, "backoffLimit", json!(6));
            set_default(spec, "completions", json!(1));
            set_default(spec, "parallelism", json!(1));
        }
        _ => {}
    }
    if let Some(t) = spec.get_mut("template").and_then(|t| t.get_mut("spec")) {
        if kind == "Job" && t.get("restartPolicy").is_none() {
            // validation requires Never or OnFailure; leave missing so it is reported
        } else {
            pod_spec(t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_defaults_match_a_real_cluster() {
        let mut p = json!({"metadata": {"name": "a"}, "spec": {"containers": [
            {"name": "c", "image": "busybox", "ports": [{"containerPort": 80}]},
            {"name": "d", "image": "nginx:1.25"}]}});
        apply("Pod", &mut p);
        assert_eq!(p["spec"]["restartPolicy"], "Always");
        assert_eq!(p["spec"]["dnsPolicy"], "ClusterFirst");
        assert_eq!(p["spec"]["serviceAccountName"], "default");
        assert_eq!(p["spec"]["containers"][0]["imagePullPolicy"], "Always");
        assert_eq!(
            p["spec"]["containers"][1]["imagePullPolicy"],
            "IfNotPresent"
        );
        assert_eq!(p["spec"]["containers"][0]["ports"][0]["protocol"], "TCP");
        assert_eq!(p["spec"]["tolerations"].as_array().unwrap().len(), 2);
        assert_eq!(p["status"]["phase"], "Pending");
        assert_eq!(p["status"]["qosClass"], "BestEffort");
    }

    #[test]
    fn user_values_win() {
        let mut p = json!({"metadata": {"name": "a"}, "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x", "imagePullPolicy": "Never"}]}});
        apply("Pod", &mut p);
        assert_eq!(p["spec"]["restartPolicy"], "Never");
        assert_eq!(p["spec"]["containers"][0]["imagePullPolicy"], "Never");
    }

    #[test]
    fn wrong_types_are_left_for_validation_not_panicked_on() {
        for kind in [
            "Pod",
            "Namespace",
            "Secret",
            "Deployment",
            "StatefulSet",
            "DaemonSet",
            "Job",
        ] {
            for body in [
                json!("x"),
                json!(null),
                json!([1, 2]),
                json!({"spec": "x"}),
                json!({"spec": {"containers": 5}}),
                json!({"spec": {"containers": [5, "c"], "volumes": [1], "initContainers": {}}}),
                json!({"metadata": "x", "spec": {"template": "x", "strategy": 3}}),
                json!({"metadata": {"name": 5, "labels": "x"}, "stringData": 3, "data": 4}),
            ] {
                let mut obj = body.clone();
                apply(kind, &mut obj);
                if !body.is_object() {
                    assert_eq!(obj, body, "{kind} {body}");
                }
            }
        }
        // The parts of the right type still get their defaults.
        let mut p = json!({"spec": {"containers": 5}});
        apply("Pod", &mut p);
        assert_eq!(p["spec"]["containers"], 5);
        assert_eq!(p["spec"]["restartPolicy"], "Always");
        assert_eq!(p["status"]["qosClass"], "BestEffort");
        let mut p = json!({"spec": "x"});
        apply("Pod", &mut p);
        assert_eq!(p, json!({"spec": "x"}));
    }

    #[test]
    fn a_namespace_without_metadata_or_with_odd_labels_does_not_panic() {
        let mut ns = json!({"spec": "x"});
        apply("Namespace", &mut ns);
        assert_eq!(ns["spec"], "x");
        assert_eq!(ns["status"]["phase"], "Active");
        assert!(ns.get("metadata").is_none());
        let mut ns = json!({"metadata": {"name": "a", "labels": 5}});
        apply("Namespace", &mut ns);
        assert_eq!(ns["metadata"]["labels"], 5);
        let mut ns = json!({"metadata": {"name": "a", "labels": null}});
        apply("Namespace", &mut ns);
        assert_eq!(ns["metadata"]["labels"]["kubernetes.io/metadata.name"], "a");
    }

    #[test]
    fn odd_secret_data_and_deployment_strategies_do_not_panic() {
        let mut s = json!({"data": "x", "stringData": {"a": "b", "n": 5}});
        apply("Secret", &mut s);
        assert_eq!(s["data"], json!({"a": "Yg==", "n": ""}));
        let mut s = json!({"data": {"a": "eA=="}, "stringData": "x"});
        apply("Secret", &mut s);
        assert_eq!(s["data"], json!({"a": "eA=="}));
        assert!(s.get("stringData").is_none());
        let mut d = json!({"spec": {"strategy": {"type": 5}}});
        apply("Deployment", &mut d);
        assert_eq!(d["spec"]["strategy"], json!({"type": 5}));
        let mut d = json!({"spec": {"strategy": {"type": "Recreate"}}});
        apply("Deployment", &mut d);
        assert_eq!(d["spec"]["strategy"], json!({"type": "Recreate"}));
    }

    #[test]
    fn secrets_fold_string_data_into_data() {
        let mut s = json!({"metadata": {"name": "s"}, "data": {"a": "eA=="}, "stringData": {"p": "s3cret", "e": ""}});
        apply("Secret", &mut s);
        assert_eq!(s["type"], "Opaque");
        assert_eq!(s["data"]["p"], "czNjcmV0");
        assert_eq!(s["data"]["a"], "eA==");
        assert_eq!(s["data"]["e"], "");
        assert!(s.get("stringData").is_none());
    }

    #[test]
    fn volume_defaults_match_a_real_cluster() {
        let mut p = json!({"metadata": {"name": "a"}, "spec": {"containers": [], "volumes": [
            {"name": "d", "downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
            {"name": "h", "hostPath": {"path": "/var/log"}},
            {"name": "p", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}}
        ]}});
        apply("Pod", &mut p);
        let v = &p["spec"]["volumes"];
        assert_eq!(v[0]["downwardAPI"]["defaultMode"], 420);
        assert_eq!(
            v[0]["downwardAPI"]["items"][0]["fieldRef"]["apiVersion"],
            "v1"
        );
        assert_eq!(v[1]["hostPath"]["type"], "");
        assert_eq!(
            v[2]["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"],
            3600
        );
    }

    #[test]
    fn qos_classes() {
        let g = json!({"spec": {"containers": [{"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}});
        assert_eq!(qos_class(&g), "Guaranteed");
        let b = json!({"spec": {"containers": [{"resources": {"requests": {"cpu": "1"}}}]}});
        assert_eq!(qos_class(&b), "Burstable");
    }

    #[test]
    fn namespace_and_deployment_defaults() {
        let mut ns = json!({"metadata": {"name": "web"}});
        apply("Namespace", &mut ns);
        assert_eq!(
            ns["metadata"]["labels"]["kubernetes.io/metadata.name"],
            "web"
        );
        assert_eq!(ns["spec"]["finalizers"][0], "kubernetes");
        assert_eq!(ns["status"]["phase"], "Active");
        let mut d = json!({"metadata": {"name": "web"}, "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx"}]}}}});
        apply("Deployment", &mut d);
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
        let mut e = json!({"metadata": {"name": "web"}, "spec": {"strategy": {}, "template": {"spec": {"containers": []}}}});
        apply("Deployment", &mut e);
        assert_eq!(e["spec"]["strategy"]["type"], "RollingUpdate");
        assert_eq!(
            e["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"],
            "25%"
        );
        assert_eq!(d["spec"]["template"]["spec"]["restartPolicy"], "Always");
    }

    #[test]
    fn service_defaults_match_a_real_cluster() {
        let mut s = json!({"spec": {"sessionAffinityConfig": {}, "ports": [{"port": 80}, {"port": 53, "protocol": "UDP", "targetPort": "dns"}]}});
        apply("Service", &mut s);
        assert!(s["spec"].get("sessionAffinityConfig").is_none());
        assert_eq!(s["spec"]["type"], "ClusterIP");
        assert_eq!(s["spec"]["sessionAffinity"], "None");
        assert_eq!(s["spec"]["internalTrafficPolicy"], "Cluster");
        assert!(s["spec"].get("externalTrafficPolicy").is_none());
        assert_eq!(
            s["spec"]["ports"][0],
            json!({"port": 80, "protocol": "TCP", "targetPort": 80})
        );
        assert_eq!(s["spec"]["ports"][1]["targetPort"], "dns");
        let mut lb = json!({"spec": {"type": "LoadBalancer", "sessionAffinity": "ClientIP", "ports": [{"port": 80, "targetPort": 0}]}});
        apply("Service", &mut lb);
        assert_eq!(lb["spec"]["externalTrafficPolicy"], "Cluster");
        assert_eq!(lb["spec"]["allocateLoadBalancerNodePorts"], true);
        assert_eq!(
            lb["spec"]["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"],
            10800
        );
        assert_eq!(lb["spec"]["ports"][0]["targetPort"], 80);
        let mut en = json!({"spec": {"type": "ExternalName", "externalName": "x.org"}});
        apply("Service", &mut en);
        assert!(en["spec"].get("internalTrafficPolicy").is_none());
        let mut odd = json!({"spec": {"ports": "x", "sessionAffinity": "ClientIP", "sessionAffinityConfig": 3}});
        apply("Service", &mut odd);
        assert_eq!(odd["spec"]["sessionAffinityConfig"], 3);
    }
}
