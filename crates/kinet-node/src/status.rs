//! Pod status from container states, as kubelet computes it. Pure.

use kinet_model::json::str_at;
use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terminated {
    pub exit_code: i32,
    pub signal: Option<i32>,
    pub reason: String,
    pub message: Option<String>,
    pub started_at: String,
    pub finished_at: String,
    pub container_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Waiting {
        reason: String,
        message: Option<String>,
    },
    Running {
        started_at: String,
    },
    Terminated(Terminated),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerState {
    pub name: String,
    pub image: String,
    pub state: State,
    pub last: Option<Terminated>,
    pub restart_count: u32,
    pub container_id: String,
    /// Will it run again (restart policy) once terminated?
    pub will_restart: bool,
    /// The readiness probe's verdict (None: no probe, ready when running).
    pub ready: Option<bool>,
    /// The startup probe's verdict (None: no probe, started when running).
    pub started: Option<bool>,
}

impl ContainerState {
    /// The container `spec` before it first starts (Waiting: ContainerCreating), not
    /// restarting and without probe verdicts.
    pub fn creating(spec: &Value) -> ContainerState {
        ContainerState {
            name: str_at(spec, "/name").into(),
            image: str_at(spec, "/image").into(),
            state: State::Waiting {
                reason: "ContainerCreating".into(),
                message: None,
            },
            last: None,
            restart_count: 0,
            container_id: String::new(),
            will_restart: false,
            ready: None,
            started: None,
        }
    }

    /// Ready as the READY column counts it: running and passing its readiness probe.
    pub fn is_ready(&self) -> bool {
        matches!(self.state, State::Running { .. })
            && self.ready.unwrap_or(true)
            && self.started.unwrap_or(true)
    }
}

/// `busybox` -> `docker.io/library/busybox:latest`, as containerd reports images.
pub fn full_image(image: &str) -> String {
    let (name, tagged) = match image.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n.to_string(), format!(":{t}")),
        _ => (image.to_string(), ":latest".to_string()),
    };
    let tagged = if image.contains('@') {
        String::new()
    } else {
        tagged
    };
    let first = name.split('/').next().unwrap_or("");
    let has_registry =
        name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    if has_registry {
        format!("{name}{tagged}")
    } else if name.contains('/') {
        format!("docker.io/{name}{tagged}")
    } else {
        format!("docker.io/library/{name}{tagged}")
    }
}

fn term_json(t: &Terminated) -> Value {
    let mut v = json!({"exitCode": t.exit_code, "reason": t.reason, "startedAt": t.started_at, "finishedAt": t.finished_at, "containerID": t.container_id});
    if let Some(s) = t.signal {
        v["signal"] = json!(s);
    }
    if let Some(m) = &t.message {
        v["message"] = json!(m);
    }
    v
}

pub fn container_status(c: &ContainerState) -> Value {
    let state = match &c.state {
        State::Waiting { reason, message } => {
            let mut w = json!({"reason": reason});
            if let Some(m) = message {
                w["message"] = json!(m);
            }
            json!({"waiting": w})
        }
        State::Running { started_at } => json!({"running": {"startedAt": started_at}}),
        State::Terminated(t) => json!({"terminated": term_json(t)}),
    };
    let running = matches!(c.state, State::Running { .. });
    let full = full_image(&c.image);
    let repo = full
        .rsplit_once(':')
        .map(|(r, _)| r.to_string())
        .unwrap_or(full.clone());
    let digest = {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(full.as_bytes()))
    };
    let mut v = json!({
        "name": c.name,
        "state": state,
        "lastState": c.last.as_ref().map(|t| json!({"terminated": term_json(t)})).unwrap_or(json!({})),
        "ready": c.is_ready(),
        "restartCount": c.restart_count,
        "image": full,
        "imageID": format!("{repo}@sha256:{digest}"),
        "started": running && c.started.unwrap_or(true),
    });
    if !c.container_id.is_empty() {
        v["containerID"] = json!(c.container_id);
    }
    v
}

/// The pod phase from its containers (kubelet's getPhase, simplified to the cases kinet produces).
pub fn phase(init_done: bool, containers: &[ContainerState], init_failed: bool) -> &'static str {
    if init_failed {
        return "Failed";
    }
    if !init_done {
        return "Pending";
    }
    let (mut running, mut waiting, mut succeeded, mut failed, mut unstarted) = (0, 0, 0, 0, 0);
    for c in containers {
        match &c.state {
            State::Running { .. } => running += 1,
            State::Terminated(t) if c.will_restart => {
                let _ = t;
                running += 1
            }
            State::Terminated(t) if t.exit_code == 0 => succeeded += 1,
            State::Terminated(_) => failed += 1,
            State::Waiting { .. } if c.last.is_some() => running += 1,
            State::Waiting { .. } => {
                waiting += 1;
                unstarted += 1
            }
        }
    }
    if unstarted > 0 && running == 0 || waiting > 0 && running == 0 && succeeded + failed == 0 {
        "Pending"
    } else if running > 0 {
        "Running"
    } else if failed > 0 {
        "Failed"
    } else {
        "Succeeded"
    }
}

/// The status of a pod whose volumes are not ready yet, as kubelet reports it: no
/// sandbox and no IP, containers waiting in ContainerCreating (PodInitializing while
/// init containers have not run).
pub fn mounting(pod: &mut Value, host_ip: &str, now: &str) {
    let inits: Vec<Value> = pod
        .pointer("/spec/initContainers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mains: Vec<Value> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let waiting = |c: &Value, reason: &str| {
        json!({
            "name": c["name"], "image": c["image"], "imageID": "", "lastState": {},
            "ready": false, "restartCount": 0, "started": false,
            "state": {"waiting": {"reason": reason}}
        })
    };
    let main_reason = if inits.is_empty() {
        "ContainerCreating"
    } else {
        "PodInitializing"
    };
    let prev = pod["status"]["conditions"].clone();
    let mut conditions = vec![
        condition(Some(&prev), "PodReadyToStartContainers", false, None, now),
        condition(
            Some(&prev),
            "Initialized",
            inits.is_empty(),
            (!inits.is_empty()).then_some("ContainersNotInitialized"),
            now,
        ),
        condition(Some(&prev), "Ready", false, Some("ContainersNotReady"), now),
        condition(
            Some(&prev),
            "ContainersReady",
            false,
            Some("ContainersNotReady"),
            now,
        ),
        condition(Some(&prev), "PodScheduled", true, None, now),
    ];
    conditions.retain(|c| c.is_object());
    if !pod.get("status").is_some_and(Value::is_object) {
        pod["status"] = json!({});
    }
    let st = &mut pod["status"];
    st["phase"] = json!("Pending");
    st["hostIP"] = json!(host_ip);
    st["hostIPs"] = json!([{"ip": host_ip}]);
    if st.get("startTime").is_none() {
        st["startTime"] = json!(now);
    }
    st["conditions"] = json!(conditions);
    st["containerStatuses"] = json!(
        mains
            .iter()
            .map(|c| waiting(c, main_reason))
            .collect::<Vec<_>>()
    );
    if !inits.is_empty() {
        st["initContainerStatuses"] = json!(
            inits
                .iter()
                .map(|c| waiting(c, "PodInitializing"))
                .collect::<Vec<_>>()
        );
    }
}

/// One pod condition, keeping the previous transition time when the status is unchanged.
pub fn condition(
    prev: Option<&Value>,
    typ: &str,
    ok: bool,
    reason: Option<&str>,
    now: &str,
) -> Value {
    let status = if ok { "True" } else { "False" };
    let since = prev
        .and_then(|p| p.as_array())
        .and_then(|a| a.iter().find(|c| c["type"] == typ))
        .filter(|c| c["status"] == status)
        .and_then(|c| c.get("lastTransitionTime").cloned())
        .unwrap_or(json!(now));
    let mut c =
        json!({"type": typ, "status": status, "lastProbeTime": null, "lastTransitionTime": since});
    if let Some(r) = reason {
        c["reason"] = json!(r);
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(state: State, will_restart: bool) -> ContainerState {
        ContainerState {
            name: "c".into(),
            image: "busybox".into(),
            state,
            last: None,
            restart_count: 0,
            container_id: String::new(),
            will_restart,
            ready: None,
            started: None,
        }
    }

    fn term(code: i32) -> State {
        State::Terminated(Terminated {
            exit_code: code,
            signal: None,
            reason: if code == 0 {
                "Completed".into()
            } else {
                "Error".into()
            },
            message: None,
            started_at: "a".into(),
            finished_at: "b".into(),
            container_id: "x".into(),
        })
    }

    #[test]
    fn pods_waiting_for_volumes_show_container_creating() {
        let mut p = json!({"spec": {"containers": [{"name": "c", "image": "busybox"}]}, "status": {"phase": "Pending"}});
        mounting(&mut p, "192.168.1.10", "2026-01-01T00:00:00Z");
        let st = &p["status"];
        assert_eq!(st["phase"], "Pending");
        assert_eq!(st["hostIP"], "192.168.1.10");
        assert!(st.get("podIP").is_none());
        assert_eq!(
            st["containerStatuses"][0]["state"]["waiting"]["reason"],
            "ContainerCreating"
        );
        assert_eq!(st["containerStatuses"][0]["image"], "busybox");
        assert_eq!(st["conditions"][0]["type"], "PodReadyToStartContainers");
        assert_eq!(st["conditions"][0]["status"], "False");
        let mut q = json!({"spec": {"initContainers": [{"name": "i", "image": "busybox"}], "containers": [{"name": "c", "image": "busybox"}]}});
        mounting(&mut q, "192.168.1.10", "2026-01-01T00:00:00Z");
        assert_eq!(
            q["status"]["initContainerStatuses"][0]["state"]["waiting"]["reason"],
            "PodInitializing"
        );
        assert_eq!(
            q["status"]["containerStatuses"][0]["state"]["waiting"]["reason"],
            "PodInitializing"
        );
    }

    #[test]
    fn images_are_fully_qualified() {
        assert_eq!(full_image("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(full_image("nginx:1.25"), "docker.io/library/nginx:1.25");
        assert_eq!(
            full_image("nicolaka/netshoot"),
            "docker.io/nicolaka/netshoot:latest"
        );
        assert_eq!(
            full_image("registry.k8s.io/e2e-test-images/agnhost:2.45"),
            "registry.k8s.io/e2e-test-images/agnhost:2.45"
        );
    }

    #[test]
    fn phases() {
        assert_eq!(
            phase(
                true,
                &[c(
                    State::Running {
                        started_at: "t".into()
                    },
                    true
                )],
                false
            ),
            "Running"
        );
        assert_eq!(phase(true, &[c(term(0), false)], false), "Succeeded");
        assert_eq!(phase(true, &[c(term(1), false)], false), "Failed");
        assert_eq!(phase(true, &[c(term(1), true)], false), "Running");
        assert_eq!(
            phase(
                true,
                &[c(
                    State::Waiting {
                        reason: "ContainerCreating".into(),
                        message: None
                    },
                    true
                )],
                false
            ),
            "Pending"
        );
        assert_eq!(phase(false, &[], false), "Pending");
        assert_eq!(
            phase(
                true,
                &[
                    c(term(0), false),
                    c(
                        State::Running {
                            started_at: "t".into()
                        },
                        true
                    )
                ],
                false
            ),
            "Running"
        );
    }

    #[test]
    fn readiness_probes_decide_ready() {
        let mut s = c(
            State::Running {
                started_at: "t".into(),
            },
            true,
        );
        assert!(s.is_ready());
        s.ready = Some(false);
        assert!(!s.is_ready());
        assert_eq!(container_status(&s)["ready"], false);
        assert_eq!(container_status(&s)["started"], true);
        s.ready = Some(true);
        s.started = Some(false);
        assert!(!s.is_ready());
        assert_eq!(container_status(&s)["started"], false);
    }

    #[test]
    fn conditions_keep_transition_times() {
        let prev = json!([{"type": "Ready", "status": "True", "lastTransitionTime": "old"}]);
        assert_eq!(
            condition(Some(&prev), "Ready", true, None, "new")["lastTransitionTime"],
            "old"
        );
        assert_eq!(
            condition(Some(&prev), "Ready", false, None, "new")["lastTransitionTime"],
            "new"
        );
    }

    #[test]
    fn container_status_json() {
        let mut s = c(
            State::Running {
                started_at: "t".into(),
            },
            true,
        );
        s.container_id = "containerd://abc".into();
        let v = container_status(&s);
        assert_eq!(v["ready"], true);
        assert_eq!(v["state"]["running"]["startedAt"], "t");
        assert_eq!(v["containerID"], "containerd://abc");
        assert!(
            v["imageID"]
                .as_str()
                .unwrap()
                .starts_with("docker.io/library/busybox@sha256:")
        );
    }
}
