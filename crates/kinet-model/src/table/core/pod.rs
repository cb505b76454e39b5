//! The Pod printer: readiness, the STATUS reason kubectl shows, restarts.

use crate::json::{arr_at, at, bool_at, int_at, name, str_at};
use crate::pod;
use crate::table::format::{age_of, first_condition_true, human_duration, is_zero_time, time_at};
use crate::table::{AGE, KindTable, NAME, col, wide};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

pub(super) const POD: KindTable = KindTable {
    kind: "Pod",
    columns: &[
        NAME,
        col(
            "Ready",
            "string",
            "The aggregate readiness state of this pod for accepting traffic.",
        ),
        col(
            "Status",
            "string",
            "The aggregate status of the containers in this pod.",
        ),
        col(
            "Restarts",
            "string",
            "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
        ),
        AGE,
        wide("IP", "string", D_POD_IP),
        wide("Node", "string", D_NODE_NAME),
        wide("Nominated Node", "string", D_NOMINATED),
        wide("Readiness Gates", "string", D_READINESS_GATES),
    ],
    cells: pod_cells,
};

const D_POD_IP: &str = "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.";
const D_NODE_NAME: &str = "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for scheduling by the scheduler defined in schedulerName. Once this field is set, the kubelet for this node becomes responsible for the lifecycle of this pod. This field should not be used to express a desire for the pod to be scheduled on a specific node. https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename";
const D_NOMINATED: &str = "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods. This field does not guarantee that the pod will be scheduled on this node. Scheduler may decide to place the pod elsewhere if other nodes become available sooner. Scheduler may also decide to give the resources on this node to a higher priority pod that is created after preemption. As a result, this field may be different than PodSpec.nodeName when the pod is scheduled.";
const D_READINESS_GATES: &str = "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all its containers are ready AND all conditions specified in the readiness gates have status equal to \"True\" More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates";

/// The Pod STATUS column.
pub fn pod_status_reason(pod: &Value) -> String {
    pod_summary(pod).reason
}

fn pod_cells(pod: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let sum = pod_summary(pod);
    let restarts = match sum.last_restart {
        Some(t) if sum.restarts != 0 && !is_zero_time(t) => {
            format!("{} ({} ago)", sum.restarts, human_duration(now - t))
        }
        _ => sum.restarts.to_string(),
    };
    let or_none = |v: &str| {
        if v.is_empty() {
            "<none>".to_string()
        } else {
            v.to_string()
        }
    };
    // v1 -> internal conversion fills podIPs from podIP.
    let pod_ip = match arr_at(pod, "/status/podIPs").first() {
        Some(p) => str_at(p, "/ip"),
        None => str_at(pod, "/status/podIP"),
    };
    let gates = arr_at(pod, "/spec/readinessGates");
    let readiness = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let conds = arr_at(pod, "/status/conditions");
        let ok = gates
            .iter()
            .filter(|g| first_condition_true(conds, str_at(g, "/conditionType")))
            .count();
        format!("{ok}/{}", gates.len())
    };
    vec![
        json!(name(pod)),
        json!(format!("{}/{}", sum.ready, sum.total)),
        json!(sum.reason),
        json!(restarts),
        json!(age_of(pod, now)),
        json!(or_none(pod_ip)),
        json!(or_none(str_at(pod, "/spec/nodeName"))),
        json!(or_none(str_at(pod, "/status/nominatedNodeName"))),
        json!(readiness),
    ]
}

struct PodSummary {
    ready: usize,
    total: usize,
    reason: String,
    restarts: i64,
    last_restart: Option<DateTime<Utc>>,
}

/// The later of `cur` and the time the container's last run finished.
fn later(cur: Option<DateTime<Utc>>, status: &Value) -> Option<DateTime<Utc>> {
    let t = time_at(status, "/lastState/terminated/finishedAt");
    match (cur, t) {
        (Some(a), Some(b)) if b > a => Some(b),
        (None, Some(b)) => Some(b),
        (a, _) => a,
    }
}

fn terminated_reason(term: &Value, prefix: &str) -> String {
    let reason = str_at(term, "/reason");
    if !reason.is_empty() {
        return format!("{prefix}{reason}");
    }
    let signal = int_at(term, "/signal").unwrap_or(0);
    if signal != 0 {
        format!("{prefix}Signal:{signal}")
    } else {
        format!(
            "{prefix}ExitCode:{}",
            int_at(term, "/exitCode").unwrap_or(0)
        )
    }
}

/// printPod's walk over the container statuses (init containers first).
fn pod_summary(pod: &Value) -> PodSummary {
    let init_specs = arr_at(pod, "/spec/initContainers");
    let status_reason = str_at(pod, "/status/reason");

    let mut restarts: i64 = 0;
    let mut restartable_restarts: i64 = 0;
    let mut total = arr_at(pod, "/spec/containers").len();
    let mut ready = 0usize;
    let mut last_restart: Option<DateTime<Utc>> = None;
    let mut last_restartable: Option<DateTime<Utc>> = None;

    let mut reason = str_at(pod, "/status/phase").to_string();
    if !status_reason.is_empty() {
        reason = status_reason.to_string();
    }
    for c in arr_at(pod, "/status/conditions") {
        if str_at(c, "/type") == "PodScheduled" && str_at(c, "/reason") == "SchedulingGated" {
            reason = "SchedulingGated".to_string();
        }
    }

    let restartable = |name: &str| {
        init_specs
            .iter()
            .any(|c| str_at(c, "/name") == name && str_at(c, "/restartPolicy") == "Always")
    };
    total += init_specs
        .iter()
        .filter(|c| str_at(c, "/restartPolicy") == "Always")
        .count();

    let mut initializing = false;
    for (i, st) in arr_at(pod, "/status/initContainerStatuses")
        .iter()
        .enumerate()
    {
        let restart_count = int_at(st, "/restartCount").unwrap_or(0);
        restarts += restart_count;
        last_restart = later(last_restart, st);
        let is_restartable = restartable(str_at(st, "/name"));
        if is_restartable {
            restartable_restarts += restart_count;
            last_restartable = later(last_restartable, st);
        }
        let terminated = at(st, "/state/terminated");
        let waiting_reason = str_at(st, "/state/waiting/reason");
        if let Some(t) = terminated
            && int_at(t, "/exitCode").unwrap_or(0) == 0
        {
            continue;
        }
        if is_restartable && bool_at(st, "/started") {
            if bool_at(st, "/ready") {
                ready += 1;
            }
            continue;
        }
        if let Some(t) = terminated {
            reason = terminated_reason(t, "Init:");
        } else if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" {
            reason = format!("Init:{waiting_reason}");
        } else {
            reason = format!("Init:{i}/{}", init_specs.len());
        }
        initializing = true;
        break;
    }

    if !initializing || pod::condition_true(pod, "Initialized") {
        restarts = restartable_restarts;
        last_restart = last_restartable;
        let mut has_running = false;
        for st in arr_at(pod, "/status/containerStatuses").iter().rev() {
            restarts += int_at(st, "/restartCount").unwrap_or(0);
            last_restart = later(last_restart, st);
            let waiting_reason = str_at(st, "/state/waiting/reason");
            if !waiting_reason.is_empty() {
                reason = waiting_reason.to_string();
            } else if let Some(t) = at(st, "/state/terminated") {
                reason = terminated_reason(t, "");
            } else if bool_at(st, "/ready") && at(st, "/state/running").is_some() {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = if pod::is_ready(pod) {
                "Running"
            } else {
                "NotReady"
            }
            .to_string();
        }
    }

    if pod::is_terminating(pod) {
        if status_reason == "NodeLost" {
            reason = "Unknown".to_string();
        } else if !pod::is_finished(pod) {
            reason = "Terminating".to_string();
        }
    }

    PodSummary {
        ready,
        total,
        reason,
        restarts,
        last_restart,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::test_util::*;
    use crate::table::{cells, columns};

    #[test]
    fn pod_columns() {
        assert_eq!(
            names("Pod"),
            "Name, Ready, Status, Restarts, Age, +IP, +Node, +Nominated Node, +Readiness Gates"
        );
        assert_eq!(columns("Pod")[3].type_, "string");
    }

    fn running_pod() -> Value {
        json!({
            "metadata": {"name": "web-1", "creationTimestamp": ago(300)},
            "spec": {"nodeName": "node-a", "containers": [{"name": "app", "image": "nginx"}]},
            "status": {
                "phase": "Running",
                "podIP": "10.0.0.5",
                "podIPs": [{"ip": "10.0.0.5"}],
                "conditions": [{"type": "Ready", "status": "True"}, {"type": "Initialized", "status": "True"}],
                "containerStatuses": [{
                    "name": "app", "ready": true, "restartCount": 0,
                    "state": {"running": {"startedAt": ago(290)}}
                }]
            }
        })
    }

    #[test]
    fn pod_running() {
        let c = strs(&cells("Pod", &running_pod(), now()));
        assert_eq!(
            c,
            vec![
                "web-1", "1/1", "Running", "0", "5m", "10.0.0.5", "node-a", "<none>", "<none>"
            ]
        );
    }

    #[test]
    fn pod_ip_falls_back_to_pod_ip() {
        let mut pod = running_pod();
        pod["status"].as_object_mut().unwrap().remove("podIPs");
        pod["status"]["podIP"] = json!("10.1.2.3");
        assert_eq!(strs(&cells("Pod", &pod, now()))[5], "10.1.2.3");
    }

    #[test]
    fn pod_pending_without_status() {
        let pod = json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
            "status": {"phase": "Pending"}
        });
        let c = strs(&cells("Pod", &pod, now()));
        assert_eq!(
            c,
            vec![
                "p",
                "0/2",
                "Pending",
                "0",
                "<unknown>",
                "<none>",
                "<none>",
                "<none>",
                "<none>"
            ]
        );
    }

    #[test]
    fn pod_crash_looping_shows_restarts_ago() {
        let pod = json!({
            "metadata": {"name": "crashy", "creationTimestamp": ago(600)},
            "spec": {"containers": [{"name": "app"}]},
            "status": {
                "phase": "Running",
                "containerStatuses": [{
                    "name": "app", "ready": false, "restartCount": 3,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(120)}}
                }]
            }
        });
        let c = strs(&cells("Pod", &pod, now()));
        assert_eq!(
            c[1..4],
            [
                "0/1".to_string(),
                "CrashLoopBackOff".into(),
                "3 (2m ago)".into()
            ]
        );
        assert_eq!(pod_status_reason(&pod), "CrashLoopBackOff");
    }

    #[test]
    fn pod_terminating() {
        let mut pod = running_pod();
        pod["metadata"]["deletionTimestamp"] = json!(ago(1));
        assert_eq!(pod_status_reason(&pod), "Terminating");
        // A finished pod being deleted keeps its phase.
        pod["status"]["phase"] = json!("Succeeded");
        pod["status"]["containerStatuses"][0]["state"] =
            json!({"terminated": {"exitCode": 0, "reason": "Completed"}});
        assert_eq!(pod_status_reason(&pod), "Completed");
    }

    #[test]
    fn pod_node_lost() {
        let mut pod = running_pod();
        pod["metadata"]["deletionTimestamp"] = json!(ago(1));
        pod["status"]["reason"] = json!("NodeLost");
        assert_eq!(pod_status_reason(&pod), "Unknown");
        pod["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("deletionTimestamp");
        // Without deletion the pod's own reason is the starting point, but a
        // running container does not override it.
        assert_eq!(pod_status_reason(&pod), "NodeLost");
    }

    #[test]
    fn pod_completed() {
        let pod = json!({
            "metadata": {"name": "job-x", "creationTimestamp": ago(100)},
            "spec": {"containers": [{"name": "main"}]},
            "status": {
                "phase": "Succeeded",
                "containerStatuses": [{
                    "name": "main", "ready": false, "restartCount": 0,
                    "state": {"terminated": {"exitCode": 0, "reason": "Completed", "finishedAt": ago(50)}}
                }]
            }
        });
        let c = strs(&cells("Pod", &pod, now()));
        assert_eq!(c[1..4], ["0/1".to_string(), "Completed".into(), "0".into()]);
    }

    #[test]
    fn pod_completed_but_one_still_running() {
        let mut pod = json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
            "status": {
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": "False"}],
                "containerStatuses": [
                    {"name": "a", "ready": false, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                    {"name": "b", "ready": true, "state": {"running": {}}}
                ]
            }
        });
        assert_eq!(pod_status_reason(&pod), "NotReady");
        pod["status"]["conditions"][0]["status"] = json!("True");
        assert_eq!(pod_status_reason(&pod), "Running");
    }

    #[test]
    fn pod_signal_and_exit_code() {
        let mut pod = json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Failed", "containerStatuses": [
                {"name": "a", "state": {"terminated": {"exitCode": 137, "signal": 9}}}
            ]}
        });
        assert_eq!(pod_status_reason(&pod), "Signal:9");
        pod["status"]["containerStatuses"][0]["state"]["terminated"] = json!({"exitCode": 2});
        assert_eq!(pod_status_reason(&pod), "ExitCode:2");
    }

    #[test]
    fn pod_init_containers() {
        let mut pod = json!({
            "metadata": {"name": "p"},
            "spec": {
                "initContainers": [{"name": "i1"}, {"name": "i2"}],
                "containers": [{"name": "a"}]
            },
            "status": {
                "phase": "Pending",
                "conditions": [{"type": "Initialized", "status": "False"}],
                "initContainerStatuses": [
                    {"name": "i1", "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                    {"name": "i2", "restartCount": 0, "state": {"running": {}}}
                ],
                "containerStatuses": [
                    {"name": "a", "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}
                ]
            }
        });
        assert_eq!(pod_status_reason(&pod), "Init:1/2");
        assert_eq!(strs(&cells("Pod", &pod, now()))[1], "0/1");

        pod["status"]["initContainerStatuses"][1] = json!({
            "name": "i2", "restartCount": 4,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(30)}}
        });
        assert_eq!(pod_status_reason(&pod), "Init:CrashLoopBackOff");
        assert_eq!(strs(&cells("Pod", &pod, now()))[3], "4 (30s ago)");

        pod["status"]["initContainerStatuses"][1] =
            json!({"name": "i2", "state": {"terminated": {"exitCode": 3, "reason": "Error"}}});
        assert_eq!(pod_status_reason(&pod), "Init:Error");
        pod["status"]["initContainerStatuses"][1] =
            json!({"name": "i2", "state": {"terminated": {"exitCode": 3}}});
        assert_eq!(pod_status_reason(&pod), "Init:ExitCode:3");
        pod["status"]["initContainerStatuses"][1] =
            json!({"name": "i2", "state": {"terminated": {"exitCode": 3, "signal": 15}}});
        assert_eq!(pod_status_reason(&pod), "Init:Signal:15");
        pod["status"]["initContainerStatuses"][1] =
            json!({"name": "i2", "state": {"waiting": {"reason": "PodInitializing"}}});
        assert_eq!(pod_status_reason(&pod), "Init:1/2");
    }

    #[test]
    fn pod_sidecar_counts_as_container() {
        let pod = json!({
            "metadata": {"name": "p"},
            "spec": {
                "initContainers": [{"name": "side", "restartPolicy": "Always"}],
                "containers": [{"name": "a"}]
            },
            "status": {
                "phase": "Running",
                "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
                "initContainerStatuses": [
                    {"name": "side", "started": true, "ready": true, "restartCount": 2, "state": {"running": {}},
                     "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(200)}}}
                ],
                "containerStatuses": [{"name": "a", "ready": true, "restartCount": 0, "state": {"running": {}}}]
            }
        });
        let c = strs(&cells("Pod", &pod, now()));
        assert_eq!(
            c[1..4],
            ["2/2".to_string(), "Running".into(), "2 (3m20s ago)".into()]
        );
    }

    #[test]
    fn pod_scheduling_gated_and_readiness_gates() {
        let pod = json!({
            "metadata": {"name": "p"},
            "spec": {
                "containers": [{"name": "a"}],
                "readinessGates": [{"conditionType": "example.com/lb"}, {"conditionType": "example.com/x"}]
            },
            "status": {
                "phase": "Pending",
                "nominatedNodeName": "n2",
                "conditions": [
                    {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"},
                    {"type": "example.com/lb", "status": "True"}
                ]
            }
        });
        let c = strs(&cells("Pod", &pod, now()));
        assert_eq!(c[2], "SchedulingGated");
        assert_eq!(c[7], "n2");
        assert_eq!(c[8], "1/2");
    }

    #[test]
    fn pod_reason_from_status_reason() {
        let pod = json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Failed", "reason": "Evicted"}
        });
        assert_eq!(pod_status_reason(&pod), "Evicted");
    }
}
