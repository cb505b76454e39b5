//! A container's environment, as kubelet makes it (`makeEnvironmentVariables`).
//! Pure: the cluster is read through [`Objects`].
//!
//! In order, later entries replacing earlier ones of the same name:
//! 1. `HOSTNAME`, `HOME=/root` and the `default/kubernetes` Service's variables
//!    (`KUBERNETES_SERVICE_HOST` …);
//! 2. `envFrom`: every key of a ConfigMap (`configMapRef`) or Secret (`secretRef`,
//!    decoded), with the source's `prefix`; a missing source is skipped;
//! 3. `env`: a `value` with `$(VAR)` references to the variables above expanded
//!    (`$$` escapes, unknown references stay as written), or a `valueFrom`:
//!    `fieldRef` (see [`crate::fieldpath`]), `resourceFieldRef` (the container's
//!    own unless `containerName` says otherwise), `configMapKeyRef`, `secretKeyRef`
//!    (decoded). A missing object or key leaves the variable out when the ref is
//!    `optional`, and empty otherwise (kubelet refuses to start the container).

use crate::fieldpath;
use crate::sources::Objects;
use kinet_model::json::{arr_at, bool_at, obj_at, str_at};
use serde_json::Value;

/// The ClusterIP of `default/kubernetes`, the first of the service CIDR.
const KUBERNETES_SERVICE_HOST: std::net::Ipv4Addr = kinet_model::lab::KUBERNETES_SERVICE_IP;

/// The variables every container starts with: its hostname, HOME, and those of
/// the `kubernetes` Service.
pub fn base(hostname: &str) -> Vec<(String, String)> {
    let host = KUBERNETES_SERVICE_HOST;
    let tcp = format!("tcp://{host}:443");
    [
        ("HOSTNAME", hostname.to_string()),
        ("HOME", "/root".into()),
        ("KUBERNETES_SERVICE_HOST", host.to_string()),
        ("KUBERNETES_SERVICE_PORT", "443".into()),
        ("KUBERNETES_SERVICE_PORT_HTTPS", "443".into()),
        ("KUBERNETES_PORT", tcp.clone()),
        ("KUBERNETES_PORT_443_TCP", tcp),
        ("KUBERNETES_PORT_443_TCP_PROTO", "tcp".into()),
        ("KUBERNETES_PORT_443_TCP_PORT", "443".into()),
        ("KUBERNETES_PORT_443_TCP_ADDR", host.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// The environment of `container` in `pod` (the pod as it is now: fieldRefs read
/// its status), whose hostname is `hostname`.
pub fn container_env(
    pod: &Value,
    container: &Value,
    hostname: &str,
    objects: &dyn Objects,
) -> Vec<(String, String)> {
    let mut env = base(hostname);
    // envFrom first: explicit env entries win over it, as in kubelet
    for src in arr_at(container, "/envFrom") {
        let prefix = str_at(src, "/prefix");
        for (kind, secret) in [("configMapRef", false), ("secretRef", true)] {
            if src.get(kind).is_none() {
                continue;
            }
            let name = str_at(src, &format!("/{kind}/name"));
            let obj = if secret {
                objects.secret(name)
            } else {
                objects.config_map(name)
            };
            let Some(obj) = obj else { continue };
            for (k, v) in obj_at(&obj, "/data").into_iter().flatten() {
                let v = v.as_str().unwrap_or("");
                let v = if secret { decode_b64(v) } else { v.to_string() };
                set(&mut env, format!("{prefix}{k}"), v);
            }
        }
    }
    for e in arr_at(container, "/env") {
        let k = str_at(e, "/name").to_string();
        let v = match e.get("value").and_then(Value::as_str) {
            Some(v) => Some(expand(v, &env)),
            None => value_from(pod, container, e.get("valueFrom"), objects),
        };
        // None: an optional ref to something missing, the variable is not set
        if let Some(v) = v {
            set(&mut env, k, v);
        }
    }
    env
}

/// Sets `k`, replacing an earlier value (the new one goes last).
fn set(env: &mut Vec<(String, String)>, k: String, v: String) {
    env.retain(|(x, _)| *x != k);
    env.push((k, v));
}

/// A `valueFrom`'s value; None: leave the variable out (an optional ref to a missing
/// object or key).
fn value_from(
    pod: &Value,
    container: &Value,
    from: Option<&Value>,
    objects: &dyn Objects,
) -> Option<String> {
    let Some(from) = from else {
        return Some(String::new());
    };
    if let Some(f) = from.pointer("/fieldRef/fieldPath").and_then(Value::as_str) {
        return Some(fieldpath::field_value(pod, f).unwrap_or_default());
    }
    if let Some(r) = from.get("resourceFieldRef") {
        let node = objects.node();
        let own = str_at(container, "/name");
        return Some(
            crate::volumes::resource_value(pod, r, node.as_ref(), Some(own)).unwrap_or_default(),
        );
    }
    for (kind, secret) in [("configMapKeyRef", false), ("secretKeyRef", true)] {
        let Some(r) = from.get(kind) else { continue };
        let name = str_at(r, "/name");
        let obj = if secret {
            objects.secret(name)
        } else {
            objects.config_map(name)
        };
        let key = str_at(r, "/key");
        let v = obj
            .as_ref()
            .and_then(|o| o.get("data"))
            .and_then(|d| d.get(key))
            .and_then(Value::as_str);
        return match v {
            Some(v) if secret => Some(decode_b64(v)),
            Some(v) => Some(v.to_string()),
            None if bool_at(r, "/optional") => None,
            None => Some(String::new()),
        };
    }
    Some(String::new())
}

fn decode_b64(s: &str) -> String {
    String::from_utf8_lossy(&kinet_model::secret::decode(s)).into_owned()
}

/// `$(VAR)` references to earlier variables, as kubelet expands them (`$$` escapes).
pub fn expand(v: &str, env: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = v;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(t) = tail.strip_prefix("$$") {
            out.push('$');
            rest = t;
        } else if let Some(t) = tail.strip_prefix("$(")
            && let Some(end) = t.find(')')
        {
            let name = &t[..end];
            match env.iter().rev().find(|(k, _)| k == name) {
                Some((_, val)) => out.push_str(val),
                None => out.push_str(&tail[..end + 3]),
            }
            rest = &t[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::sources::fake::Fake;

    fn fake() -> Fake {
        Fake {
            cms: [(
                "settings".to_string(),
                json!({"data": {"MODE": "fast", "LEVEL": "3"}}),
            )]
            .into(),
            secrets: [(
                "creds".to_string(),
                json!({"data": {"PASSWORD": "czNjcmV0"}}),
            )]
            .into(),
            tokens: 0,
        }
    }

    fn pod(container: Value) -> Value {
        json!({
            "metadata": {"name": "envy", "namespace": "default", "uid": "u-1", "labels": {"tier": "back"}},
            "spec": {"nodeName": "node1", "serviceAccountName": "default", "containers": [container]},
            "status": {"podIP": "10.1.1.5", "podIPs": [{"ip": "10.1.1.5"}], "hostIP": "192.168.1.10"}
        })
    }

    /// The variables a container gets beyond the base ones.
    fn own(c: Value) -> Vec<(String, String)> {
        let p = pod(c.clone());
        let env = container_env(&p, &c, "envy", &fake());
        env[base("envy").len()..].to_vec()
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn get(env: &[(String, String)], k: &str) -> Option<String> {
        env.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn every_container_has_its_hostname_and_the_kubernetes_service() {
        let c = json!({"name": "c"});
        let env = container_env(&pod(c.clone()), &c, "web-0", &fake());
        assert_eq!(get(&env, "HOSTNAME").as_deref(), Some("web-0"));
        assert_eq!(get(&env, "HOME").as_deref(), Some("/root"));
        assert_eq!(
            get(&env, "KUBERNETES_SERVICE_HOST").as_deref(),
            Some("10.152.183.1")
        );
        assert_eq!(
            get(&env, "KUBERNETES_PORT_443_TCP").as_deref(),
            Some("tcp://10.152.183.1:443")
        );
        assert_eq!(env.len(), 10);
    }

    #[test]
    fn plain_values_in_order_the_last_one_wins() {
        let env = own(json!({"name": "c", "env": [
            {"name": "A", "value": "1"}, {"name": "B", "value": "2"}, {"name": "A", "value": "3"}
        ]}));
        assert_eq!(env, pairs(&[("B", "2"), ("A", "3")]));
    }

    #[test]
    fn expansion() {
        let env = vec![("A".to_string(), "x".to_string())];
        assert_eq!(expand("$(A)-$(B)-$$(A)", &env), "x-$(B)-$(A)");
        assert_eq!(expand("plain $ sign", &env), "plain $ sign");
        assert_eq!(expand("$(A", &env), "$(A");
        let env = own(json!({"name": "c", "env": [
            {"name": "GREETING", "value": "hello"},
            {"name": "MESSAGE", "value": "$(GREETING) world on $(HOSTNAME), $(LATER)"},
            {"name": "LATER", "value": "late"}
        ]}));
        assert_eq!(
            get(&env, "MESSAGE").as_deref(),
            Some("hello world on envy, $(LATER)"),
            "only earlier variables expand"
        );
    }

    #[test]
    fn field_refs() {
        let env = own(json!({"name": "c", "env": [
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "POD_NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
            {"name": "TIER", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['tier']"}}},
            {"name": "BAD", "valueFrom": {"fieldRef": {"fieldPath": "spec.nosuch"}}}
        ]}));
        assert_eq!(
            env,
            pairs(&[
                ("POD_NAME", "envy"),
                ("POD_NS", "default"),
                ("NODE", "node1"),
                ("IP", "10.1.1.5"),
                ("HOST_IP", "192.168.1.10"),
                ("TIER", "back"),
                ("BAD", ""),
            ])
        );
    }

    #[test]
    fn resource_field_refs() {
        let env = own(json!({"name": "c",
        "resources": {"requests": {"cpu": "250m"}, "limits": {"memory": "128Mi"}},
        "env": [
            {"name": "CPU_REQ", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu", "divisor": "1m"}}},
            {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
            {"name": "CPU_LIMIT", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
            {"name": "OTHER", "valueFrom": {"resourceFieldRef": {"containerName": "nosuch", "resource": "limits.cpu"}}}
        ]}));
        assert_eq!(
            env,
            pairs(&[
                ("CPU_REQ", "250"),
                ("MEM", "128"),
                ("CPU_LIMIT", "2"),
                ("OTHER", "")
            ]),
            "an unset limit is the node's allocatable"
        );
    }

    #[test]
    fn config_map_and_secret_key_refs() {
        let env = own(json!({"name": "c", "env": [
            {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "MODE"}}},
            {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "PASSWORD"}}}
        ]}));
        assert_eq!(env, pairs(&[("MODE", "fast"), ("PASSWORD", "s3cret")]));
    }

    #[test]
    fn missing_refs_are_empty_unless_optional() {
        let env = own(json!({"name": "c", "env": [
            {"name": "NO_CM", "valueFrom": {"configMapKeyRef": {"name": "nosuch", "key": "MODE"}}},
            {"name": "NO_KEY", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "nosuch"}}},
            {"name": "OPT_CM", "valueFrom": {"configMapKeyRef": {"name": "nosuch", "key": "MODE", "optional": true}}},
            {"name": "OPT_KEY", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "nosuch", "optional": true}}},
            {"name": "NOTHING"}
        ]}));
        assert_eq!(
            env,
            pairs(&[("NO_CM", ""), ("NO_KEY", ""), ("NOTHING", "")])
        );
    }

    #[test]
    fn env_from_with_prefixes_under_explicit_env() {
        let env = own(json!({"name": "c",
            "envFrom": [
                {"configMapRef": {"name": "settings"}, "prefix": "CFG_"},
                {"secretRef": {"name": "creds"}},
                {"configMapRef": {"name": "nosuch"}},
                {"configMapRef": {"name": "settings", "optional": true}}
            ],
            "env": [{"name": "CFG_MODE", "value": "mine"}]}));
        assert_eq!(
            env,
            pairs(&[
                ("CFG_LEVEL", "3"),
                ("PASSWORD", "s3cret"),
                ("MODE", "fast"),
                ("LEVEL", "3"),
                ("CFG_MODE", "mine"),
            ])
        );
    }

    #[test]
    fn env_from_replaces_base_variables() {
        let mut f = fake();
        f.cms
            .insert("h".into(), json!({"data": {"HOSTNAME": "other"}}));
        let c = json!({"name": "c", "envFrom": [{"configMapRef": {"name": "h"}}]});
        let env = container_env(&pod(c.clone()), &c, "envy", &f);
        assert_eq!(get(&env, "HOSTNAME").as_deref(), Some("other"));
        assert_eq!(env.last().map(|(k, _)| k.as_str()), Some("HOSTNAME"));
    }
}
