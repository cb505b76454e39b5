//! Facts about a pod read from its object, in one place: whatever needs to know
//! whether a pod is ready or done asks here.

use crate::json::{arr_at, at, str_at};
use serde_json::Value;

/// The pod's condition `ctype` is `True` (`Ready`, `PodScheduled`, …).
pub fn condition_true(pod: &Value, ctype: &str) -> bool {
    arr_at(pod, "/status/conditions")
        .iter()
        .any(|c| c["type"] == ctype && c["status"] == "True")
}

/// Ready as Kubernetes counts it: the `Ready` condition is `True`
/// (`podutil.IsPodReady`).
pub fn is_ready(pod: &Value) -> bool {
    condition_true(pod, "Ready")
}

/// Being deleted: `metadata.deletionTimestamp` is set.
pub fn is_terminating(pod: &Value) -> bool {
    at(pod, "/metadata/deletionTimestamp").is_some()
}

/// Finished for good: phase `Succeeded` or `Failed`.
pub fn is_finished(pod: &Value) -> bool {
    matches!(str_at(pod, "/status/phase"), "Succeeded" | "Failed")
}

/// Active as controllers count it (`controller.IsPodActive`): not finished and
/// not being deleted.
pub fn is_active(pod: &Value) -> bool {
    !is_terminating(pod) && !is_finished(pod)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn readiness_reads_the_ready_condition() {
        let ready = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        let unready = json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}});
        assert!(is_ready(&ready));
        assert!(!is_ready(&unready));
        assert!(!is_ready(&json!({})));
        assert!(condition_true(&ready, "Ready"));
        assert!(!condition_true(&ready, "PodScheduled"));
    }

    #[test]
    fn activity() {
        assert!(is_active(&json!({"status": {"phase": "Running"}})));
        assert!(!is_active(&json!({"status": {"phase": "Succeeded"}})));
        assert!(!is_active(
            &json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}})
        ));
    }
}
