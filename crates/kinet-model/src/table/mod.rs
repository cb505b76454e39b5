//! Server-side printing: the column definitions and row cells that the API
//! server returns when a client asks for
//! `application/json;as=Table;v=v1;g=meta.k8s.io` (what `kubectl get` shows).
//!
//! Column sets, value formats and the `<none>`/`<unknown>`/`<pending>`
//! placeholders follow the upstream server-side printers
//! (pkg/printers/internalversion in kubernetes/kubernetes). The server always
//! prints the wide (`priority: 1`) cells too; kubectl hides them unless it
//! runs with `-o wide`.
//!
//! Objects are taken as their external (v1) JSON with defaults applied.
//!
//! Each printed kind is one [`KindTable`] entry, its columns and cells side by
//! side, in the file of its area: `core/` (pods, nodes, events, services,
//! endpoints, namespaces, config), `apps`, `batch`, `networking` and `other`.
//! The formatting they share (ages, labels, selectors, container lists) is in
//! `format`.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

mod apps;
mod batch;
mod core;
mod format;
mod networking;
mod other;
#[cfg(test)]
mod test_util;

pub use self::core::pod::pod_status_reason;
pub use format::human_duration;

/// One `TableColumnDefinition`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub type_: &'static str,
    pub format: &'static str,
    pub description: &'static str,
    pub priority: i32,
}

impl Column {
    /// The column as the JSON object of a `Table`'s `columnDefinitions`.
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.type_,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }
}

/// The printer of one kind: its columns and the cells of one object's row,
/// written once, side by side. `cells` answers one value per column (wide
/// ones included), with ages measured against the time it is given.
struct KindTable {
    kind: &'static str,
    columns: &'static [Column],
    cells: fn(&Value, DateTime<Utc>) -> Vec<Value>,
}

/// Every kind with a printer, area by area.
const AREAS: &[&[KindTable]] = &[
    self::core::TABLES,
    apps::TABLES,
    batch::TABLES,
    networking::TABLES,
    other::TABLES,
];

fn table_of(kind: &str) -> Option<&'static KindTable> {
    AREAS.iter().flat_map(|a| a.iter()).find(|t| t.kind == kind)
}

/// The apiserver's default table, for kinds without a printer.
const DEFAULT_COLUMNS: &[Column] = &[NAME, col("Created At", "date", D_AGE)];

/// The column definitions upstream registers for `kind`. Kinds without a
/// printer get the apiserver's default table (`Name`, `Created At`).
pub fn columns(kind: &str) -> &'static [Column] {
    table_of(kind).map_or(DEFAULT_COLUMNS, |t| t.columns)
}

/// The row cells for `obj` (all columns of [`columns`], wide ones included),
/// with ages measured against `now`.
pub fn cells(kind: &str, obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    match table_of(kind) {
        Some(t) => (t.cells)(obj, now),
        None => {
            let created = format::time_at(obj, "/metadata/creationTimestamp")
                .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                .unwrap_or_else(|| "0001-01-01T00:00:00Z".to_string());
            vec![json!(crate::json::name(obj)), json!(created)]
        }
    }
}

/// The `PartialObjectMetadata` form of an object that kubectl requests with
/// `includeObject=Metadata` (its default for tables).
pub fn partial_object_metadata(item: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": item.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

// ---------------------------------------------------------------------------
// Column builders and the descriptions several kinds share. Descriptions are
// the swagger docs upstream refers to (ObjectMeta, PodSpec, ...).

const fn col(name: &'static str, type_: &'static str, description: &'static str) -> Column {
    Column {
        name,
        type_,
        format: "",
        description,
        priority: 0,
    }
}

const fn wide(name: &'static str, type_: &'static str, description: &'static str) -> Column {
    Column {
        name,
        type_,
        format: "",
        description,
        priority: 1,
    }
}

const NAME: Column = Column {
    name: "Name",
    type_: "string",
    format: "name",
    description: D_NAME,
    priority: 0,
};
const AGE: Column = col("Age", "string", D_AGE);
/// The wide Containers and Images columns of the kinds with a pod template.
const CONTAINERS: Column = wide("Containers", "string", D_CONTAINERS);
const IMAGES: Column = wide("Images", "string", D_IMAGES);

const D_NAME: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const D_AGE: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
const D_CONTAINERS: &str = "Names of each container in the template.";
const D_IMAGES: &str = "Images referenced by each container in the template.";

#[cfg(test)]
mod tests {
    use super::test_util::*;
    use super::*;

    #[test]
    fn every_kind_has_matching_cell_count() {
        let obj = json!({"metadata": {"name": "x", "creationTimestamp": ago(10)}});
        for kind in [
            "Pod",
            "Node",
            "Namespace",
            "ConfigMap",
            "Secret",
            "ServiceAccount",
            "Event",
            "Service",
            "Endpoints",
            "EndpointSlice",
            "Deployment",
            "ReplicaSet",
            "StatefulSet",
            "DaemonSet",
            "Job",
            "CronJob",
            "Ingress",
            "IngressClass",
            "NetworkPolicy",
            "RoleBinding",
            "ClusterRoleBinding",
            "Lease",
            "Widget",
        ] {
            assert_eq!(
                columns(kind).len(),
                cells(kind, &obj, now()).len(),
                "{kind}"
            );
        }
    }

    #[test]
    fn registry_holds_each_kind_once() {
        let kinds: Vec<&str> = AREAS
            .iter()
            .flat_map(|a| a.iter())
            .map(|t| t.kind)
            .collect();
        assert_eq!(kinds.len(), 22);
        for k in &kinds {
            assert_eq!(kinds.iter().filter(|o| *o == k).count(), 1, "{k}");
            assert_eq!(columns(k).len(), cells(k, &json!({}), now()).len(), "{k}");
        }
    }

    #[test]
    fn default_table_for_unknown_kinds() {
        let cols = columns("ClusterRole");
        assert_eq!(cols[0].name, "Name");
        assert_eq!(cols[0].format, "name");
        assert_eq!(cols[1].name, "Created At");
        assert_eq!(cols[1].type_, "date");
        let obj =
            json!({"metadata": {"name": "admin", "creationTimestamp": "2024-01-02T03:04:05Z"}});
        assert_eq!(
            cells("ClusterRole", &obj, now()),
            vec![json!("admin"), json!("2024-01-02T03:04:05Z")]
        );
    }
}
