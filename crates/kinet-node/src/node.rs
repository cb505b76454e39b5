//! The node's own objects: its Node (capacity from the host, kubelet's conditions
//! and node info) and its Lease in `kube-node-lease`, renewed as kubelet does.

use crate::plan::NodePlan;
use chrono::{SecondsFormat, Utc};
use kinet_model::resources;
use kinet_registry::events::{self, Source};
use kinet_registry::now;
use kinet_store::Store;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// The Node object of `n`, with this host's kernel, memory and CPUs.
pub fn object(n: &NodePlan) -> Value {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string();
    let mem_kb: u64 = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|s| s.parse().ok())
        })
        .unwrap_or(0);
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let t = now();
    let cond = |typ: &str, status: &str, reason: &str, msg: &str| json!({"type": typ, "status": status, "lastHeartbeatTime": t, "lastTransitionTime": t, "reason": reason, "message": msg});
    let capacity = json!({"cpu": cpus.to_string(), "ephemeral-storage": "10Gi", "memory": format!("{mem_kb}Ki"), "pods": "110"});
    json!({
        "metadata": {
            "name": n.name,
            "labels": {
                "beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": n.name, "kubernetes.io/os": "linux",
                "node.kubernetes.io/microk8s-controlplane": "microk8s-controlplane"
            },
            "annotations": {"node.alpha.kubernetes.io/ttl": "0", "volumes.kubernetes.io/controller-managed-attach-detach": "true"}
        },
        "spec": {"podCIDR": n.pod_cidr.to_string(), "podCIDRs": [n.pod_cidr.to_string()]},
        "status": {
            "addresses": [{"type": "InternalIP", "address": n.ip.to_string()}, {"type": "Hostname", "address": n.name}],
            "allocatable": capacity, "capacity": capacity,
            "conditions": [
                cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "architecture": "amd64", "bootID": uuid_like(&format!("{}-boot", n.name)), "containerRuntimeVersion": "kinet://0.1.0",
                "kernelVersion": kernel, "kubeProxyVersion": "", "kubeletVersion": "v1.33.0",
                "machineID": uuid_like(&n.name).replace('-', ""), "operatingSystem": "linux",
                "osImage": "kinet lab node", "systemUUID": uuid_like(&format!("{}-sys", n.name))
            }
        }
    })
}

/// Stores the Node `obj`: a stale one of the same name gets its status; a new one
/// gets kubelet's Starting and NodeReady events.
pub fn register(store: &Store, src: &Source, obj: Value) {
    let nodes = kinet_registry::resource("", "nodes");
    let name = kinet_model::json::name(&obj).to_string();
    let key = resources::store_key(nodes, None, &name);
    if store.get(&key).is_some() {
        let status = obj["status"].clone();
        let _ = store.update_with(&key, |n| {
            n["status"] = status;
            true
        });
    } else if let Ok(n) = kinet_registry::create(store, nodes, obj) {
        let ready = format!("Node {name} status is now: NodeReady");
        for (reason, message) in [("Starting", "Starting kubelet."), ("NodeReady", &ready)] {
            events::record(store, src, &n, None, "Normal", reason, message);
        }
    }
}

/// Keeps the node's Lease in kube-node-lease fresh, as kubelet does every 10 s.
pub async fn renew_lease(store: Arc<Store>, name: String) {
    let leases = kinet_registry::resource("coordination.k8s.io", "leases");
    let key = resources::store_key(leases, Some("kube-node-lease"), &name);
    loop {
        let t = Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true);
        if store.get(&key).is_some() {
            let _ = store.update_with(&key, |l| {
                kinet_model::json::object_mut(l, &["spec"]).insert("renewTime".into(), json!(t));
                true
            });
        } else {
            let _ = kinet_registry::create(
                &store,
                leases,
                json!({
                    "metadata": {"name": name, "namespace": "kube-node-lease"},
                    "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": t}
                }),
            );
        }
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
}

/// A stable UUID-shaped id from `seed` (boot, machine and system ids).
fn uuid_like(seed: &str) -> String {
    use sha2::{Digest, Sha256};
    let h = hex::encode(Sha256::digest(seed.as_bytes()));
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_node_object() {
        let n = NodePlan {
            name: "node2".into(),
            ip: "192.168.1.20".parse().unwrap(),
            pod_cidr: kinet_model::ipam::Cidr::parse("10.1.2.0/24").unwrap(),
        };
        let o = object(&n);
        assert_eq!(o["metadata"]["name"], "node2");
        assert_eq!(o["spec"]["podCIDR"], "10.1.2.0/24");
        assert_eq!(o["status"]["addresses"][0]["address"], "192.168.1.20");
        assert_eq!(o["status"]["conditions"][3]["type"], "Ready");
        let id = o["status"]["nodeInfo"]["systemUUID"].as_str().unwrap();
        assert_eq!(id.len(), 36);
        assert_eq!(id, uuid_like("node2-sys"), "stable");
    }
}
