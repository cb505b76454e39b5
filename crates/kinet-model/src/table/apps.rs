//! Printers of the `apps` kinds: Deployment, ReplicaSet, StatefulSet, DaemonSet.

use super::format::{
    age_of, format_label_selector, format_labels, layout_containers, selector_string,
};
use super::{AGE, CONTAINERS, IMAGES, KindTable, NAME, col, wide};
use crate::json::{at, int_at, name};
use serde_json::{Value, json};

pub(super) const TABLES: &[KindTable] = &[DEPLOYMENT, REPLICA_SET, STATEFUL_SET, DAEMON_SET];

const TEMPLATE_CONTAINERS: &str = "/spec/template/spec/containers";

/// `spec.replicas`, which defaults to 1.
fn replicas(obj: &Value) -> i64 {
    int_at(obj, "/spec/replicas").unwrap_or(1)
}

/// A status counter; absent is 0.
fn status(obj: &Value, field: &str) -> i64 {
    int_at(obj, &format!("/status/{field}")).unwrap_or(0)
}

const DEPLOYMENT: KindTable = KindTable {
    kind: "Deployment",
    columns: &[
        NAME,
        col("Ready", "string", "Number of the pod with ready state"),
        col("Up-to-date", "string", D_DEP_UPDATED),
        col("Available", "string", D_DEP_AVAILABLE),
        AGE,
        CONTAINERS,
        IMAGES,
        wide("Selector", "string", D_DEP_SELECTOR),
    ],
    cells: |d, now| {
        let (names, images) = layout_containers(d, TEMPLATE_CONTAINERS);
        // printDeployment formats the selector itself: "" when absent.
        let selector = match at(d, "/spec/selector") {
            None => String::new(),
            Some(sel) => selector_string(sel).unwrap_or_else(|| "<invalid>".to_string()),
        };
        vec![
            json!(name(d)),
            json!(format!("{}/{}", status(d, "readyReplicas"), replicas(d))),
            json!(status(d, "updatedReplicas")),
            json!(status(d, "availableReplicas")),
            json!(age_of(d, now)),
            json!(names),
            json!(images),
            json!(selector),
        ]
    },
};

const D_DEP_UPDATED: &str = "Total number of non-terminating pods targeted by this deployment that have the desired template spec.";
const D_DEP_AVAILABLE: &str = "Total number of available non-terminating pods (ready for at least minReadySeconds) targeted by this deployment.";
const D_DEP_SELECTOR: &str = "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment. It must match the pod template's labels.";

const REPLICA_SET: KindTable = KindTable {
    kind: "ReplicaSet",
    columns: &[
        NAME,
        col("Desired", "integer", D_RS_SPEC_REPLICAS),
        col("Current", "integer", D_RS_STATUS_REPLICAS),
        col("Ready", "integer", D_RS_READY),
        AGE,
        CONTAINERS,
        IMAGES,
        wide("Selector", "string", D_RS_SELECTOR),
    ],
    cells: |rs, now| {
        let (names, images) = layout_containers(rs, TEMPLATE_CONTAINERS);
        vec![
            json!(name(rs)),
            json!(replicas(rs)),
            json!(status(rs, "replicas")),
            json!(status(rs, "readyReplicas")),
            json!(age_of(rs, now)),
            json!(names),
            json!(images),
            json!(format_label_selector(at(rs, "/spec/selector"))),
        ]
    },
};

const D_RS_SPEC_REPLICAS: &str = "Replicas is the number of desired pods. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicaset";
const D_RS_STATUS_REPLICAS: &str = "Replicas is the most recently observed number of non-terminating pods. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicaset";
const D_RS_READY: &str =
    "The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition.";
const D_RS_SELECTOR: &str = "Selector is a label query over pods that should match the replica count. Label keys and values that must match in order to be controlled by this replica set. It must match the pod template's labels. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors";

const STATEFUL_SET: KindTable = KindTable {
    kind: "StatefulSet",
    columns: &[
        NAME,
        col("Ready", "string", "Number of the pod with ready state"),
        AGE,
        CONTAINERS,
        IMAGES,
    ],
    cells: |ss, now| {
        let (names, images) = layout_containers(ss, TEMPLATE_CONTAINERS);
        vec![
            json!(name(ss)),
            json!(format!("{}/{}", status(ss, "readyReplicas"), replicas(ss))),
            json!(age_of(ss, now)),
            json!(names),
            json!(images),
        ]
    },
};

const DAEMON_SET: KindTable = KindTable {
    kind: "DaemonSet",
    columns: &[
        NAME,
        col("Desired", "integer", D_DS_DESIRED),
        col("Current", "integer", D_DS_CURRENT),
        col("Ready", "integer", D_DS_READY),
        col("Up-to-date", "integer", D_DS_UPDATED),
        col("Available", "integer", D_DS_AVAILABLE),
        col("Node Selector", "string", D_NODE_SELECTOR),
        AGE,
        CONTAINERS,
        IMAGES,
        wide("Selector", "string", D_DS_SELECTOR),
    ],
    cells: |ds, now| {
        let (names, images) = layout_containers(ds, TEMPLATE_CONTAINERS);
        vec![
            json!(name(ds)),
            json!(status(ds, "desiredNumberScheduled")),
            json!(status(ds, "currentNumberScheduled")),
            json!(status(ds, "numberReady")),
            json!(status(ds, "updatedNumberScheduled")),
            json!(status(ds, "numberAvailable")),
            json!(format_labels(ds, "/spec/template/spec/nodeSelector")),
            json!(age_of(ds, now)),
            json!(names),
            json!(images),
            json!(format_label_selector(at(ds, "/spec/selector"))),
        ]
    },
};

const D_DS_DESIRED: &str = "The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod). More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/";
const D_DS_CURRENT: &str = "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod. More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/";
const D_DS_READY: &str = "numberReady is the number of nodes that should be running the daemon pod and have one or more of the daemon pod running with a Ready Condition.";
const D_DS_UPDATED: &str = "The total number of nodes that are running updated daemon pod";
const D_DS_AVAILABLE: &str = "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)";
const D_NODE_SELECTOR: &str = "NodeSelector is a selector which must be true for the pod to fit on a node. Selector which must match a node's labels for the pod to be scheduled on that node. More info: https://kubernetes.io/docs/concepts/configuration/assign-pod-node/";
const D_DS_SELECTOR: &str = "A label query over pods that are managed by the daemon set. Must match in order to be controlled. It must match the pod template's labels. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors";

#[cfg(test)]
mod tests {
    use crate::table::test_util::*;
    use crate::table::{cells, columns};
    use serde_json::json;

    #[test]
    fn deployment_cells() {
        assert_eq!(
            names("Deployment"),
            "Name, Ready, Up-to-date, Available, Age, +Containers, +Images, +Selector"
        );
        let d = json!({
            "metadata": {"name": "web", "creationTimestamp": ago(30)},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"},
                      "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]}]},
                     "template": template(json!([{"name": "nginx", "image": "nginx:1.25"}, {"name": "side", "image": "busybox"}]))},
            "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}
        });
        assert_eq!(
            cells("Deployment", &d, now()),
            vec![
                json!("web"),
                json!("2/3"),
                json!(3),
                json!(2),
                json!("30s"),
                json!("nginx,side"),
                json!("nginx:1.25,busybox"),
                json!("app=web,env in (dev,prod)")
            ]
        );
        let fresh = json!({"metadata": {"name": "x"}, "spec": {"template": template(json!([]))}});
        let c = cells("Deployment", &fresh, now());
        assert_eq!(
            (c[1].clone(), c[2].clone(), c[7].clone()),
            (json!("0/1"), json!(0), json!(""))
        );
    }

    #[test]
    fn replicaset_statefulset_daemonset() {
        assert_eq!(columns("ReplicaSet")[1].type_, "integer");
        let rs = json!({"metadata": {"name": "web-7d"}, "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                        "template": template(json!([{"name": "n", "image": "nginx"}]))},
                        "status": {"replicas": 2, "readyReplicas": 1}});
        let c = cells("ReplicaSet", &rs, now());
        assert_eq!(c[1..4], [json!(2), json!(2), json!(1)]);
        assert_eq!(c[7], json!("app=web"));

        assert_eq!(
            names("StatefulSet"),
            "Name, Ready, Age, +Containers, +Images"
        );
        let ss = json!({"metadata": {"name": "db"}, "spec": {"replicas": 3, "template": template(json!([{"name": "pg", "image": "postgres"}]))},
                        "status": {"readyReplicas": 3}});
        assert_eq!(
            strs(&cells("StatefulSet", &ss, now())),
            vec!["db", "3/3", "<unknown>", "pg", "postgres"]
        );

        assert_eq!(columns("DaemonSet").len(), 11);
        let ds = json!({"metadata": {"name": "proxy"}, "spec": {"selector": {"matchLabels": {"k": "v"}},
                        "template": {"spec": {"nodeSelector": {"kubernetes.io/os": "linux"}, "containers": [{"name": "p", "image": "kp"}]}}},
                        "status": {"desiredNumberScheduled": 2, "currentNumberScheduled": 2, "numberReady": 1,
                                   "updatedNumberScheduled": 2, "numberAvailable": 1}});
        let c = cells("DaemonSet", &ds, now());
        assert_eq!(
            c[1..7],
            [
                json!(2),
                json!(2),
                json!(1),
                json!(2),
                json!(1),
                json!("kubernetes.io/os=linux")
            ]
        );
        assert_eq!(c[10], json!("k=v"));
        let no_sel = json!({"metadata": {"name": "x"}, "spec": {"template": {"spec": {}}}});
        assert_eq!(cells("DaemonSet", &no_sel, now())[6], json!("<none>"));
    }
}
