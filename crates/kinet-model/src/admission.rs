//! ServiceAccount admission, as kube-apiserver's plugin applies it to a new pod:
//! the service account defaults to `default` and must exist, and, unless
//! `automountServiceAccountToken` is false (on the pod, else on the service
//! account), every container and init container mounts the projected
//! `kube-api-access-XXXXX` volume (a bound token, the cluster's CA and the
//! namespace) read-only at /var/run/secrets/kubernetes.io/serviceaccount — except
//! containers that already mount something there. Ephemeral containers never do.

use serde_json::{Map, Value, json};

pub const DEFAULT_SERVICE_ACCOUNT: &str = "default";
pub const TOKEN_MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// Names of the token volume start with this (then five random characters).
pub const TOKEN_VOLUME_PREFIX: &str = "kube-api-access-";
/// The expiration admission asks for: an hour and 7 s, which the API server turns into
/// a year-long token with a `warnafter` at the hour.
pub const TOKEN_EXPIRATION_SECONDS: i64 = 3607;

/// The service account a pod runs as (`default` when unset).
pub fn service_account_name(pod: &Value) -> &str {
    pod.pointer("/spec/serviceAccountName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or(DEFAULT_SERVICE_ACCOUNT)
}

/// The projected volume of a pod's service-account credentials.
pub fn token_volume(name: &str) -> Value {
    json!({
        "name": name,
        "projected": {
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": TOKEN_EXPIRATION_SECONDS, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}, "path": "namespace"}]}}
            ]
        }
    })
}

/// Admits a new pod in namespace `ns`. `sa` is the pod's service account as stored
/// (None: it does not exist); `suffix` names a new token volume. The error is
/// the reason upstream gives (the caller makes it `pods "x" is forbidden: …`).
pub fn service_account(
    pod: &mut Value,
    ns: &str,
    sa: Option<&Value>,
    suffix: &str,
) -> Result<(), String> {
    let name = service_account_name(pod).to_string();
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    spec.insert("serviceAccountName".into(), json!(name));
    spec.insert("serviceAccount".into(), json!(name));
    let Some(sa) = sa else {
        return Err(format!(
            "error looking up service account {ns}/{name}: serviceaccount \"{name}\" not found"
        ));
    };
    let automount = spec
        .get("automountServiceAccountToken")
        .and_then(Value::as_bool)
        .or_else(|| {
            sa.get("automountServiceAccountToken")
                .and_then(Value::as_bool)
        })
        .unwrap_or(true);
    if !automount {
        return Ok(());
    }
    let existing = spec
        .get("volumes")
        .and_then(Value::as_array)
        .and_then(|vs| {
            vs.iter()
                .filter_map(|v| v.get("name").and_then(Value::as_str))
                .find(|n| n.starts_with(TOKEN_VOLUME_PREFIX))
                .map(String::from)
        });
    let volume = existing
        .clone()
        .unwrap_or_else(|| format!("{TOKEN_VOLUME_PREFIX}{suffix}"));
    let mount = json!({"mountPath": TOKEN_MOUNT_PATH, "name": volume, "readOnly": true});
    let mut needed = false;
    for key in ["initContainers", "containers"] {
        let Some(cs) = spec.get_mut(key).and_then(Value::as_array_mut) else {
            continue;
        };
        for c in cs {
            let Some(c) = c.as_object_mut() else { continue };
            needed |= push_unless(c, "volumeMounts", &mount, |m| {
                m.get("mountPath").and_then(Value::as_str) == Some(TOKEN_MOUNT_PATH)
            });
        }
    }
    if needed && existing.is_none() {
        push_unless(spec, "volumes", &token_volume(&volume), |_| false);
    }
    Ok(())
}

/// Appends `item` to the list at `key` of `m` (made a list when missing or not
/// one) unless an entry satisfies `taken`; whether it appended.
fn push_unless(
    m: &mut Map<String, Value>,
    key: &str,
    item: &Value,
    taken: impl Fn(&Value) -> bool,
) -> bool {
    let list = m.entry(key).or_insert_with(|| json!([]));
    if !list.is_array() {
        *list = json!([]);
    }
    let Some(list) = list.as_array_mut() else {
        return false;
    };
    if list.iter().any(taken) {
        return false;
    }
    list.push(item.clone());
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(spec: Value) -> Value {
        json!({"metadata": {"name": "p", "namespace": "web"}, "spec": spec})
    }

    #[test]
    fn every_container_mounts_the_token_volume_as_on_a_real_cluster() {
        let mut p = pod(json!({
            "initContainers": [{"name": "i", "image": "busybox"}],
            "containers": [
                {"name": "a", "image": "nginx", "volumeMounts": [{"name": "data", "mountPath": "/data"}]},
                {"name": "b", "image": "busybox"}
            ],
            "ephemeralContainers": [{"name": "e", "image": "busybox"}],
            "volumes": [{"name": "data", "emptyDir": {}}]
        }));
        service_account(&mut p, "web", Some(&json!({})), "x7k2q").unwrap();
        let s = &p["spec"];
        assert_eq!(s["serviceAccountName"], "default");
        assert_eq!(s["serviceAccount"], "default");
        assert_eq!(s["volumes"][1], token_volume("kube-api-access-x7k2q"));
        assert_eq!(
            s["volumes"][1]["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"],
            3607
        );
        let m = json!({"mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "name": "kube-api-access-x7k2q", "readOnly": true});
        assert_eq!(s["containers"][0]["volumeMounts"][1], m);
        assert_eq!(s["containers"][1]["volumeMounts"][0], m);
        assert_eq!(s["initContainers"][0]["volumeMounts"][0], m);
        assert!(s["ephemeralContainers"][0].get("volumeMounts").is_none());
    }

    #[test]
    fn automount_can_be_turned_off_on_the_pod_or_the_service_account() {
        let mut p =
            pod(json!({"automountServiceAccountToken": false, "containers": [{"name": "a"}]}));
        service_account(&mut p, "web", Some(&json!({})), "abcde").unwrap();
        assert!(p["spec"].get("volumes").is_none());
        assert!(p["spec"]["containers"][0].get("volumeMounts").is_none());
        let sa_off = json!({"automountServiceAccountToken": false});
        let mut p = pod(json!({"containers": [{"name": "a"}]}));
        service_account(&mut p, "web", Some(&sa_off), "abcde").unwrap();
        assert!(p["spec"].get("volumes").is_none());
        // the pod's own setting wins over the service account's
        let mut p =
            pod(json!({"automountServiceAccountToken": true, "containers": [{"name": "a"}]}));
        service_account(&mut p, "web", Some(&sa_off), "abcde").unwrap();
        assert_eq!(p["spec"]["volumes"][0]["name"], "kube-api-access-abcde");
    }

    #[test]
    fn a_container_that_mounts_the_path_itself_keeps_its_mount() {
        let mut p = pod(json!({"containers": [
            {"name": "a", "volumeMounts": [{"name": "mine", "mountPath": TOKEN_MOUNT_PATH}]}
        ], "volumes": [{"name": "mine", "secret": {"secretName": "s"}}]}));
        service_account(&mut p, "web", Some(&json!({})), "abcde").unwrap();
        assert_eq!(p["spec"]["volumes"].as_array().unwrap().len(), 1);
        assert_eq!(
            p["spec"]["containers"][0]["volumeMounts"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn wrong_types_do_not_panic() {
        for mut p in [
            json!("x"),
            json!(null),
            json!({"spec": "x"}),
            json!({"spec": [1]}),
        ] {
            let before = p.clone();
            assert!(service_account(&mut p, "web", Some(&json!({})), "abcde").is_ok());
            assert_eq!(p, before);
        }
        let mut p = pod(json!({"containers": 5, "initContainers": [5, "x"]}));
        service_account(&mut p, "web", Some(&json!({})), "abcde").unwrap();
        assert_eq!(p["spec"]["containers"], 5);
        assert!(p["spec"].get("volumes").is_none());
        // Lists of the wrong type are replaced, as before.
        let mut p = pod(json!({"containers": [{"name": "a", "volumeMounts": "x"}], "volumes": 7}));
        service_account(&mut p, "web", Some(&json!({})), "abcde").unwrap();
        assert_eq!(
            p["spec"]["containers"][0]["volumeMounts"][0]["mountPath"],
            TOKEN_MOUNT_PATH
        );
        assert_eq!(p["spec"]["volumes"][0]["name"], "kube-api-access-abcde");
        let mut p =
            pod(json!({"automountServiceAccountToken": "no", "containers": [{"name": "a"}]}));
        service_account(
            &mut p,
            "web",
            Some(&json!({"automountServiceAccountToken": 1})),
            "abcde",
        )
        .unwrap();
        assert_eq!(p["spec"]["volumes"][0]["name"], "kube-api-access-abcde");
    }

    #[test]
    fn a_missing_service_account_is_refused_with_upstream_words() {
        let mut p = pod(json!({"serviceAccountName": "robot", "containers": [{"name": "a"}]}));
        let e = service_account(&mut p, "web", None, "abcde").unwrap_err();
        assert_eq!(
            e,
            "error looking up service account web/robot: serviceaccount \"robot\" not found"
        );
        // the deprecated field alone names the account too (defaulting copies it over)
        let mut p = pod(json!({"serviceAccount": "old", "containers": [{"name": "a"}]}));
        crate::defaults::apply("Pod", &mut p);
        assert_eq!(service_account_name(&p), "old");
    }
}
