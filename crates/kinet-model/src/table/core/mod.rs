//! Printers of the core (`v1`) kinds: pods and nodes, events, services and
//! endpoints in their own files; namespaces, config maps, secrets and service
//! accounts here.

use super::format::age_of;
use super::{AGE, KindTable, NAME, col};
use crate::json::{arr_at, name, obj_at, str_at};
use serde_json::{Value, json};

mod event;
mod node;
pub(super) mod pod;
mod service;

pub(super) const TABLES: &[KindTable] = &[
    pod::POD,
    node::NODE,
    NAMESPACE,
    CONFIG_MAP,
    SECRET,
    SERVICE_ACCOUNT,
    event::EVENT,
    service::SERVICE,
    service::ENDPOINTS,
];

/// The number of keys of the map at `path`.
fn map_len(obj: &Value, path: &str) -> i64 {
    obj_at(obj, path).map_or(0, |m| m.len() as i64)
}

const NAMESPACE: KindTable = KindTable {
    kind: "Namespace",
    columns: &[
        NAME,
        col("Status", "string", "The status of the namespace"),
        AGE,
    ],
    cells: |ns, now| {
        vec![
            json!(name(ns)),
            json!(str_at(ns, "/status/phase")),
            json!(age_of(ns, now)),
        ]
    },
};

const CONFIG_MAP: KindTable = KindTable {
    kind: "ConfigMap",
    columns: &[NAME, col("Data", "string", D_CM_DATA), AGE],
    cells: |cm, now| {
        let n = map_len(cm, "/data") + map_len(cm, "/binaryData");
        vec![json!(name(cm)), json!(n), json!(age_of(cm, now))]
    },
};

const D_CM_DATA: &str = "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not overlap with the keys in the BinaryData field, this is enforced during validation process.";

const SECRET: KindTable = KindTable {
    kind: "Secret",
    columns: &[
        NAME,
        col("Type", "string", D_SECRET_TYPE),
        col("Data", "string", D_SECRET_DATA),
        AGE,
    ],
    cells: |secret, now| {
        vec![
            json!(name(secret)),
            json!(str_at(secret, "/type")),
            json!(map_len(secret, "/data")),
            json!(age_of(secret, now)),
        ]
    },
};

const D_SECRET_TYPE: &str = "Used to facilitate programmatic handling of secret data. More info: https://kubernetes.io/docs/concepts/configuration/secret/#secret-types";
const D_SECRET_DATA: &str = "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded string, representing the arbitrary (possibly non-string) data value here. Described in https://tools.ietf.org/html/rfc4648#section-4";

const SERVICE_ACCOUNT: KindTable = KindTable {
    kind: "ServiceAccount",
    columns: &[NAME, col("Secrets", "string", D_SA_SECRETS), AGE],
    cells: |sa, now| {
        vec![
            json!(name(sa)),
            json!(arr_at(sa, "/secrets").len() as i64),
            json!(age_of(sa, now)),
        ]
    },
};

const D_SA_SECRETS: &str = "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use. Pods are only limited to this list if this service account has a \"kubernetes.io/enforce-mountable-secrets\" annotation set to \"true\". The \"kubernetes.io/enforce-mountable-secrets\" annotation is deprecated since v1.32. Prefer separate namespaces to isolate access to mounted secrets. This field should not be used to find auto-generated service account token secrets for use outside of pods. Instead, tokens can be requested directly using the TokenRequest API, or service account token secrets can be manually created. More info: https://kubernetes.io/docs/concepts/configuration/secret";

#[cfg(test)]
mod tests {
    use crate::table::cells;
    use crate::table::test_util::*;
    use serde_json::json;

    #[test]
    fn namespace_configmap_secret_serviceaccount() {
        assert_eq!(names("Namespace"), "Name, Status, Age");
        let ns = json!({"metadata": {"name": "default", "creationTimestamp": ago(7200)}, "status": {"phase": "Active"}});
        assert_eq!(
            cells("Namespace", &ns, now()),
            vec![json!("default"), json!("Active"), json!("120m")]
        );

        assert_eq!(names("ConfigMap"), "Name, Data, Age");
        let cm = json!({"metadata": {"name": "c", "creationTimestamp": ago(1)}, "data": {"a": "1", "b": "2"},
                        "binaryData": {"c": "AA=="}});
        assert_eq!(
            cells("ConfigMap", &cm, now()),
            vec![json!("c"), json!(3), json!("1s")]
        );
        let empty = json!({"metadata": {"name": "e", "creationTimestamp": ago(1)}});
        assert_eq!(cells("ConfigMap", &empty, now())[1], json!(0));

        assert_eq!(names("Secret"), "Name, Type, Data, Age");
        let sec = json!({"metadata": {"name": "s", "creationTimestamp": ago(61)}, "type": "Opaque",
                         "data": {"k": "dg=="}});
        assert_eq!(
            cells("Secret", &sec, now()),
            vec![json!("s"), json!("Opaque"), json!(1), json!("61s")]
        );

        assert_eq!(names("ServiceAccount"), "Name, Secrets, Age");
        let sa = json!({"metadata": {"name": "default", "creationTimestamp": ago(3)}});
        assert_eq!(
            cells("ServiceAccount", &sa, now()),
            vec![json!("default"), json!(0), json!("3s")]
        );
    }
}
