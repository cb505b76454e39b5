use super::*;
use crate::{create, events, resource};

fn store() -> Store {
    let s = Store::open(None).unwrap();
    for ns in ["default", "team"] {
        create(
            &s,
            resource("", "namespaces"),
            json!({"metadata": {"name": ns}}),
        )
        .unwrap();
    }
    s
}

fn pod(meta: Value) -> Value {
    json!({"metadata": meta, "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
}

#[test]
fn a_namespace_comes_with_its_default_service_account() {
    let s = store();
    let sa = s
        .get(&resources::store_key(
            resource("", "serviceaccounts"),
            Some("team"),
            "default",
        ))
        .unwrap();
    assert!(!j::str_at(&sa, "/metadata/uid").is_empty());
    assert_eq!(sa["kind"], "ServiceAccount");
}

#[test]
fn in_process_creates_pass_admission_and_validation() {
    let s = store();
    let pods = resource("", "pods");
    let p = create(&s, pods, pod(json!({"name": "web-1", "namespace": "team"}))).unwrap();
    assert_eq!(p["spec"]["serviceAccountName"], "default");
    assert!(
        j::arr_at(&p, "/spec/volumes")
            .iter()
            .any(|v| j::str_at(v, "/name").starts_with("kube-api-access-"))
    );
    assert_eq!(p["metadata"]["generation"], 1);

    // a refusal is a typed error with the API's words
    let mut bad = pod(json!({"name": "web-2", "namespace": "team"}));
    bad["spec"]["serviceAccountName"] = json!("nobody");
    let e = create(&s, pods, bad).unwrap_err();
    assert_eq!((e.code, e.reason), (403, "Forbidden"));
    assert_eq!(
        e.to_string(),
        "pods \"web-2\" is forbidden: error looking up service account team/nobody: serviceaccount \"nobody\" not found"
    );
    let invalid = json!({"metadata": {"name": "web-3", "namespace": "team"},
        "spec": {"containers": [{"name": "c"}]}});
    let e = create(&s, pods, invalid).unwrap_err();
    assert_eq!(e.code, 422);
    assert!(e.message.starts_with("Pod \"web-3\" is invalid: "), "{e}");
    let e = create(&s, pods, pod(json!({"name": "web-1", "namespace": "team"}))).unwrap_err();
    assert_eq!(e.reason, "AlreadyExists");
}

#[test]
fn admission_errors_show_generate_name_before_a_name_is_made() {
    let s = store();
    let mut p = pod(json!({"generateName": "web-7d4b9c8f5-"}));
    p["spec"]["serviceAccountName"] = json!("nobody");
    let e = Registry::new(&s)
        .create(resource("", "pods"), Some("team"), p, WriteOpts::default())
        .err()
        .unwrap();
    assert!(
        e.message
            .starts_with("pods \"web-7d4b9c8f5-\" is forbidden: "),
        "{e}"
    );
}

#[test]
fn nothing_new_in_a_missing_or_terminating_namespace() {
    let s = store();
    let cms = resource("", "configmaps");
    let e = create(
        &s,
        cms,
        json!({"metadata": {"name": "a", "namespace": "nope"}}),
    )
    .unwrap_err();
    assert_eq!(e.message, "namespaces \"nope\" not found");
    let reg = Registry::new(&s);
    let d = reg
        .delete(resource("", "namespaces"), None, "team", None, None, false)
        .unwrap();
    assert!(!d.gone);
    assert_eq!(d.object["status"]["phase"], "Terminating");
    let e = create(
        &s,
        cms,
        json!({"metadata": {"name": "a", "namespace": "team"}}),
    )
    .unwrap_err();
    assert_eq!(
        e.message,
        "configmaps \"a\" is forbidden: unable to create new content in namespace team because it is being terminated"
    );
}

#[test]
fn the_systems_own_objects_are_valid() {
    let s = store();
    for ns in ["kube-node-lease", "kube-system"] {
        create(
            &s,
            resource("", "namespaces"),
            json!({"metadata": {"name": ns}}),
        )
        .unwrap();
    }
    let node = create(
        &s,
        resource("", "nodes"),
        json!({"metadata": {"name": "node1", "labels": {"kubernetes.io/hostname": "node1"}},
               "spec": {"podCIDR": "10.1.1.0/24", "podCIDRs": ["10.1.1.0/24"]},
               "status": {"conditions": [{"type": "Ready", "status": "True"}],
                          "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}}),
    )
    .unwrap();
    assert_eq!(node["status"]["conditions"][0]["type"], "Ready");
    create(
        &s,
        resource("coordination.k8s.io", "leases"),
        json!({"metadata": {"name": "node1", "namespace": "kube-node-lease"},
               "spec": {"holderIdentity": "node1", "leaseDurationSeconds": 40,
                        "renewTime": "2024-01-01T00:00:00.000000Z"}}),
    )
    .unwrap();
    create(
        &s,
        resource("", "configmaps"),
        json!({"metadata": {"name": "kube-root-ca.crt", "namespace": "team"},
               "data": {"ca.crt": "-----BEGIN CERTIFICATE-----\n"}}),
    )
    .unwrap();
    create(
        &s,
        resource("", "services"),
        json!({"metadata": {"name": "kubernetes", "namespace": "default"},
               "spec": {"type": "ClusterIP", "clusterIP": "10.152.183.1", "clusterIPs": ["10.152.183.1"],
                        "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 16443}]}}),
    )
    .unwrap();
    create(
        &s,
        resource("", "endpoints"),
        json!({"metadata": {"name": "kubernetes", "namespace": "default"},
               "subsets": [{"addresses": [{"ip": "192.168.1.10"}],
                            "ports": [{"name": "https", "port": 16443, "protocol": "TCP"}]}]}),
    )
    .unwrap();
    let src = events::Source::new("kubelet", Some("node1"));
    for _ in 0..2 {
        events::record(
            &s,
            &src,
            &node,
            None,
            "Normal",
            "Starting",
            "Starting kubelet.",
        );
    }
    let (evs, _) = s.list(&resources::store_prefix(
        resource("", "events"),
        Some("default"),
    ));
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0]["count"], 2);
    assert_eq!(evs[0]["involvedObject"]["kind"], "Node");
}

#[test]
fn api_creates_check_fields_and_drop_status() {
    let s = store();
    let reg = Registry::new(&s);
    let deploy = resource("apps", "deployments");
    let d = json!({"metadata": {"name": "web"}, "spec": {"replicas": 1, "bogus": 1,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}},
                     "spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
        "status": {"replicas": 7}});
    let e = reg
        .create(deploy, Some("team"), d.clone(), WriteOpts::default())
        .err()
        .unwrap();
    assert_eq!(e.code, 400);
    assert!(e.message.contains("unknown field \"spec.bogus\""), "{e}");
    let warn = WriteOpts {
        dry_run: false,
        validation: FieldValidation::Warn,
    };
    let w = reg.create(deploy, Some("team"), d, warn).unwrap();
    assert_eq!(w.warnings, ["unknown field \"spec.bogus\""]);
    assert!(w.object.get("status").is_none());
    assert_eq!(w.object["metadata"]["generation"], 1);

    // a spec change counts a generation; a status write does not
    let p = Patch::Merge(json!({"spec": {"replicas": 3}}));
    let w = reg
        .patch(deploy, Some("team"), "web", None, &p, warn)
        .unwrap();
    assert_eq!(w.object["metadata"]["generation"], 2);
    let st = Patch::Merge(json!({"status": {"replicas": 3}}));
    let w = reg
        .patch(
            deploy,
            Some("team"),
            "web",
            Some(Subresource::Status),
            &st,
            warn,
        )
        .unwrap();
    assert_eq!(w.object["metadata"]["generation"], 2);
    assert_eq!(w.object["status"]["replicas"], 3);
    // a JSON patch that makes the object something else is refused, not a panic
    let odd = Patch::Json(json!([{"op": "replace", "path": "", "value": 5}]));
    assert!(
        reg.patch(deploy, Some("team"), "web", None, &odd, warn)
            .is_err()
    );
}

#[test]
fn apply_creates_and_pinned_patches_conflict() {
    let s = store();
    let reg = Registry::new(&s);
    let cms = resource("", "configmaps");
    let apply = Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "cfg"}, "data": {"a": "1"}}));
    let w = reg
        .patch(cms, Some("team"), "cfg", None, &apply, WriteOpts::default())
        .unwrap();
    assert_eq!(w.object["data"]["a"], "1");
    let stale = Patch::Merge(json!({"metadata": {"resourceVersion": "1"}, "data": {"a": "2"}}));
    let e = reg
        .patch(cms, Some("team"), "cfg", None, &stale, WriteOpts::default())
        .err()
        .unwrap();
    assert!(e.is_conflict(), "{e}");
}

#[test]
fn pods_on_a_node_go_gracefully() {
    let s = store();
    let reg = Registry::new(&s);
    let pods = resource("", "pods");
    let mut p = pod(json!({"name": "p", "namespace": "team"}));
    p["spec"]["nodeName"] = json!("node1");
    create(&s, pods, p).unwrap();
    let d = reg
        .delete(pods, Some("team"), "p", None, None, false)
        .unwrap();
    assert!(!d.gone);
    assert_eq!(d.object["metadata"]["deletionGracePeriodSeconds"], 30);
    // a second delete may shorten the grace period, never lengthen it
    let d = reg
        .delete(pods, Some("team"), "p", Some(60), None, false)
        .unwrap();
    assert_eq!(d.object["metadata"]["deletionGracePeriodSeconds"], 30);
    let d = reg
        .delete(pods, Some("team"), "p", Some(0), None, false)
        .unwrap();
    assert!(d.gone);
    let e = reg
        .delete(
            resource("", "namespaces"),
            None,
            "default",
            None,
            None,
            false,
        )
        .err()
        .unwrap();
    assert_eq!(e.code, 403);
}

#[test]
fn store_errors_keep_their_kind() {
    let r = resource("apps", "deployments");
    let e = store_error(r, "web", StoreError::Conflict);
    assert!(e.is_conflict());
    assert_eq!(
        store_error(r, "web", StoreError::NotFound).message,
        "deployments.apps \"web\" not found"
    );
    let e = store_error(r, "web", StoreError::Closed);
    assert_eq!((e.code, e.reason), (500, "InternalError"));
}

#[test]
fn bodies_that_do_not_decode_are_refused_and_not_stored() {
    let s = store();
    let reg = Registry::new(&s);
    let cms = resource("", "configmaps");
    let opts = WriteOpts::default();
    let e = reg
        .create(
            cms,
            Some("team"),
            json!({"kind": "ConfigMap", "metadata": {"name": "bad"}, "data": [1, 2]}),
            opts,
        )
        .err()
        .unwrap();
    assert_eq!((e.code, e.reason), (400, "BadRequest"));
    assert_eq!(
        e.message,
        "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: json: cannot unmarshal array into Go struct field ConfigMap.data of type map[string]string"
    );
    assert!(reg.get(cms, Some("team"), "bad").is_err());

    let deploys = resource("apps", "deployments");
    let e = reg
        .create(
            deploys,
            Some("team"),
            json!({"metadata": {"name": "d"}, "spec": {"replicas": "3"}}),
            opts,
        )
        .err()
        .unwrap();
    assert_eq!(
        e.message,
        "Deployment in version \"v1\" cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"
    );

    reg.create(
        cms,
        Some("team"),
        json!({"metadata": {"name": "cfg"}, "data": {"a": "b"}}),
        opts,
    )
    .unwrap();
    let before = reg.get(cms, Some("team"), "cfg").unwrap();
    let e = reg
        .update(
            cms,
            Some("team"),
            "cfg",
            None,
            json!({"metadata": {"name": "cfg"}, "data": "x"}),
            opts,
        )
        .err()
        .unwrap();
    assert_eq!(e.code, 400);

    let merge = Patch::Merge(json!({"metadata": {"labels": {"a": 5}}}));
    let e = reg
        .patch(cms, Some("team"), "cfg", None, &merge, opts)
        .err()
        .unwrap();
    assert_eq!((e.code, e.reason), (422, "Invalid"));
    assert!(
        e.message
            .starts_with(" \"\" is invalid: patch: Invalid value: \"{"),
        "{}",
        e.message
    );
    assert!(
        e.message.ends_with("\": json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string"),
        "{}",
        e.message
    );
    let json_patch = Patch::Json(json!([{"op": "add", "path": "/data", "value": 7}]));
    let e = reg
        .patch(cms, Some("team"), "cfg", None, &json_patch, opts)
        .err()
        .unwrap();
    assert!(
        e.message
            .contains("ConfigMap.data of type map[string]string"),
        "{}",
        e.message
    );
    let smp = Patch::StrategicMerge(json!({"metadata": {"labels": {"a": 5}}}));
    let e = reg
        .patch(cms, Some("team"), "cfg", None, &smp, opts)
        .err()
        .unwrap();
    assert_eq!(
        e.message,
        " \"\" is invalid: patch: Invalid value: \"map[metadata:map[labels:map[a:5]]]\": cannot convert int64 to string"
    );
    assert_eq!(reg.get(cms, Some("team"), "cfg").unwrap(), before);

    let e = reg
        .create(
            cms,
            Some("team"),
            json!({"kind": 5, "metadata": {"name": "k"}}),
            opts,
        )
        .err()
        .unwrap();
    assert_eq!(
        e.message,
        "the object provided is unrecognized (must be of type ConfigMap): couldn't get version/kind; \
         json parse error: json: cannot unmarshal number into Go struct field .kind of type string \
         ({\"kind\":5,\"metadata\":{\"name\":\" ...)"
    );
}
