//! Strict field validation (`fieldValidation=Strict`): the fields an object
//! has that its kind's schema does not.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::field::{child, index};

fn roundtrip<T: DeserializeOwned + Serialize>(v: &Value) -> Option<Value> {
    let typed: T = serde_json::from_value(v.clone()).ok()?;
    serde_json::to_value(&typed).ok()
}

fn collect_unknown(input: &Value, typed: &Value, path: &str, out: &mut Vec<String>) {
    match (input, typed) {
        (Value::Object(im), Value::Object(tm)) => {
            for (k, v) in im {
                if v.is_null() {
                    continue;
                }
                match tm.get(k) {
                    None => out.push(child(path, k)),
                    Some(tv) => collect_unknown(v, tv, &child(path, k), out),
                }
            }
        }
        (Value::Array(ia), Value::Array(ta)) => {
            for (i, (iv, tv)) in ia.iter().zip(ta).enumerate() {
                collect_unknown(iv, tv, &index(path, i), out);
            }
        }
        _ => {}
    }
}

/// The fields of `obj` that the `kind`'s schema does not have, as paths like
/// `spec.containers[0].imagee` (for `fieldValidation=Strict`). Unknown kinds
/// and objects that do not decode into the typed struct give no report.
pub fn unknown_fields(kind: &str, obj: &Value) -> Vec<String> {
    use k8s_openapi::api::{apps::v1 as apps, batch::v1 as batch, core::v1 as core};
    use k8s_openapi::api::{discovery::v1 as discovery, networking::v1 as net, rbac::v1 as rbac};
    let typed = match kind {
        "Pod" => roundtrip::<core::Pod>(obj),
        "Namespace" => roundtrip::<core::Namespace>(obj),
        "Node" => roundtrip::<core::Node>(obj),
        "ConfigMap" => roundtrip::<core::ConfigMap>(obj),
        "Secret" => roundtrip::<core::Secret>(obj),
        "ServiceAccount" => roundtrip::<core::ServiceAccount>(obj),
        "Event" => roundtrip::<core::Event>(obj),
        "Service" => roundtrip::<core::Service>(obj),
        "Endpoints" => roundtrip::<core::Endpoints>(obj),
        "PersistentVolumeClaim" => roundtrip::<core::PersistentVolumeClaim>(obj),
        "Deployment" => roundtrip::<apps::Deployment>(obj),
        "ReplicaSet" => roundtrip::<apps::ReplicaSet>(obj),
        "StatefulSet" => roundtrip::<apps::StatefulSet>(obj),
        "DaemonSet" => roundtrip::<apps::DaemonSet>(obj),
        "Job" => roundtrip::<batch::Job>(obj),
        "CronJob" => roundtrip::<batch::CronJob>(obj),
        "Ingress" => roundtrip::<net::Ingress>(obj),
        "IngressClass" => roundtrip::<net::IngressClass>(obj),
        "NetworkPolicy" => roundtrip::<net::NetworkPolicy>(obj),
        "EndpointSlice" => roundtrip::<discovery::EndpointSlice>(obj),
        "Role" => roundtrip::<rbac::Role>(obj),
        "ClusterRole" => roundtrip::<rbac::ClusterRole>(obj),
        "RoleBinding" => roundtrip::<rbac::RoleBinding>(obj),
        "ClusterRoleBinding" => roundtrip::<rbac::ClusterRoleBinding>(obj),
        _ => None,
    };
    let mut out = Vec::new();
    if let Some(typed) = typed {
        collect_unknown(obj, &typed, "", &mut out);
    }
    out
}
