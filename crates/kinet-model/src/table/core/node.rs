//! The Node printer: readiness and cordoning, roles, addresses, node info.

use crate::json::{arr_at, bool_at, name, obj_at, str_at};
use crate::table::format::age_of;
use crate::table::{AGE, KindTable, NAME, col, wide};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

pub(super) const NODE: KindTable = KindTable {
    kind: "Node",
    columns: &[
        NAME,
        col("Status", "string", "The status of the node"),
        col("Roles", "string", "The roles of the node"),
        AGE,
        col("Version", "string", D_KUBELET_VERSION),
        wide("Internal-IP", "string", D_NODE_ADDRESSES),
        wide("External-IP", "string", D_NODE_ADDRESSES),
        wide("OS-Image", "string", D_OS_IMAGE),
        wide("Kernel-Version", "string", D_KERNEL),
        wide("Container-Runtime", "string", D_CRI),
    ],
    cells: node_cells,
};

const D_KUBELET_VERSION: &str = "Kubelet Version reported by the node.";
const D_NODE_ADDRESSES: &str = "List of addresses reachable to the node. Queried from cloud provider, if available. More info: https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This field is declared as mergeable, but the merge key is not sufficiently unique, which can cause data corruption when it is merged. Callers should instead use a full-replacement patch. See https://pr.k8s.io/79391 for an example. Consumers should assume that addresses can change during the lifetime of a Node. However, there are some exceptions where this may not be possible, such as Pods that inherit a Node's address in its own status or consumers of the downward API (status.hostIP).";
const D_OS_IMAGE: &str =
    "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).";
const D_KERNEL: &str =
    "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).";
const D_CRI: &str = "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).";

fn node_cells(node: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut status: Vec<String> = Vec::new();
    // Last condition of a type wins, as in the upstream map.
    if let Some(c) = arr_at(node, "/status/conditions")
        .iter()
        .rev()
        .find(|c| str_at(c, "/type") == "Ready")
    {
        status.push(if str_at(c, "/status") == "True" {
            "Ready".into()
        } else {
            "NotReady".into()
        });
    }
    if status.is_empty() {
        status.push("Unknown".into());
    }
    if bool_at(node, "/spec/unschedulable") {
        status.push("SchedulingDisabled".into());
    }
    let mut roles: Vec<String> = Vec::new();
    if let Some(labels) = obj_at(node, "/metadata/labels") {
        for (k, v) in labels {
            if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
                if !role.is_empty() {
                    roles.push(role.to_string());
                }
            } else if k == "kubernetes.io/role"
                && let Some(role) = v.as_str().filter(|v| !v.is_empty())
            {
                roles.push(role.to_string());
            }
        }
    }
    roles.sort();
    roles.dedup();
    let roles = if roles.is_empty() {
        "<none>".to_string()
    } else {
        roles.join(",")
    };
    let addr = |ty: &str| {
        arr_at(node, "/status/addresses")
            .iter()
            .find(|a| str_at(a, "/type") == ty)
            .map(|a| str_at(a, "/address").to_string())
            .unwrap_or_else(|| "<none>".to_string())
    };
    let info = |k: &str| {
        let v = str_at(node, &format!("/status/nodeInfo/{k}"));
        if v.is_empty() {
            "<unknown>".to_string()
        } else {
            v.to_string()
        }
    };
    vec![
        json!(name(node)),
        json!(status.join(",")),
        json!(roles),
        json!(age_of(node, now)),
        json!(str_at(node, "/status/nodeInfo/kubeletVersion")),
        json!(addr("InternalIP")),
        json!(addr("ExternalIP")),
        json!(info("osImage")),
        json!(info("kernelVersion")),
        json!(info("containerRuntimeVersion")),
    ]
}

#[cfg(test)]
mod tests {
    use crate::table::cells;
    use crate::table::test_util::*;
    use serde_json::json;

    #[test]
    fn node_columns_and_cells() {
        assert_eq!(
            names("Node"),
            "Name, Status, Roles, Age, Version, +Internal-IP, +External-IP, +OS-Image, +Kernel-Version, +Container-Runtime"
        );
        let node = json!({
            "metadata": {"name": "cp", "creationTimestamp": ago(5 * 86400),
                "labels": {"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/": "",
                           "kubernetes.io/role": "master"}},
            "spec": {},
            "status": {
                "conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}],
                "addresses": [{"type": "InternalIP", "address": "192.168.1.10"}, {"type": "Hostname", "address": "cp"}],
                "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "Debian GNU/Linux 12 (bookworm)",
                             "kernelVersion": "6.1.0", "containerRuntimeVersion": "containerd://1.7.0"}
            }
        });
        let c = strs(&cells("Node", &node, now()));
        assert_eq!(
            c,
            vec![
                "cp",
                "Ready",
                "control-plane,master",
                "5d",
                "v1.32.0",
                "192.168.1.10",
                "<none>",
                "Debian GNU/Linux 12 (bookworm)",
                "6.1.0",
                "containerd://1.7.0"
            ]
        );
    }

    #[test]
    fn node_not_ready_and_cordoned() {
        let node = json!({
            "metadata": {"name": "w1"},
            "spec": {"unschedulable": true},
            "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}
        });
        let c = strs(&cells("Node", &node, now()));
        assert_eq!(c[1], "NotReady,SchedulingDisabled");
        assert_eq!(c[2], "<none>");
        assert_eq!(
            c[7..],
            [
                "<unknown>".to_string(),
                "<unknown>".into(),
                "<unknown>".into()
            ]
        );
        let cordoned =
            json!({"metadata": {"name": "w2"}, "spec": {"unschedulable": true}, "status": {}});
        assert_eq!(
            strs(&cells("Node", &cordoned, now()))[1],
            "Unknown,SchedulingDisabled"
        );
    }
}
