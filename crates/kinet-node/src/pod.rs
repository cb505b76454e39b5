//! One pod's lifecycle on its node, as kubelet's pod worker runs it: volumes first
//! (ContainerCreating with FailedMount while one is missing), the sandbox, init
//! containers one after the other, then the main containers together, ephemeral
//! containers as the spec gains them; the pod's status as they change; graceful
//! termination on deletion; and the teardown.

use crate::agent::{Agent, PodMsg};
use crate::podvolumes::PodVolumes;
use crate::runner::{Kind, RunnerSpec, run_container};
use crate::status::{self, ContainerState, State, Terminated};
use kinet_linux::sandbox;
use kinet_model::json::{arr_at, bool_at, int_at, object_mut, str_at};
use kinet_model::pod::{is_finished, is_terminating};
use kinet_registry::events;
use kinet_registry::now;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// How a pod's run ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The pod was marked for deletion: remove it from the store once stopped.
    DeleteRequested,
    /// The pod object is gone (force deletion).
    Gone,
    /// All containers finished for good.
    Finished,
}

/// A container run's new state, from its runner to its pod.
#[derive(Debug)]
pub(crate) struct Update {
    /// The container's place in its list.
    pub index: usize,
    pub state: State,
    pub restarts: u32,
    pub container_id: String,
    /// The previous run's end.
    pub last: Option<Terminated>,
    /// Will it run again once terminated?
    pub will_restart: bool,
}

/// Messages from container runners to their pod.
#[allow(clippy::large_enum_variant)] // a few messages per container run
pub(crate) enum CMsg {
    State(Update),
    /// A probe verdict changed: (container, readiness or startup, passing).
    Probe(usize, crate::probe::Kind, bool),
}

/// The pod has init containers.
fn has_init(p: &Value) -> bool {
    !arr_at(p, "/spec/initContainers").is_empty()
}

/// The grace period a deletion gave the pod.
fn grace_of(p: &Value) -> i64 {
    int_at(p, "/metadata/deletionGracePeriodSeconds").unwrap_or(30)
}

impl Agent {
    /// Makes the pod's volumes, retrying until they all are ready (false: the pod went
    /// meanwhile). While one is missing the pod waits in ContainerCreating, with
    /// kubelet's FailedMount events (backing off from 0.5 s to 2 min).
    async fn wait_for_volumes(
        &self,
        pod: &Arc<Value>,
        key: &str,
        vols: &Arc<PodVolumes>,
        rx: &mut mpsc::UnboundedReceiver<PodMsg>,
    ) -> bool {
        let uid = str_at(pod, "/metadata/uid").to_string();
        let mut backoff = Duration::from_millis(500);
        let mut next_event = Instant::now();
        let mut waiting = false;
        loop {
            let cur = self.store.get(key).unwrap_or_else(|| pod.clone());
            let v = vols.clone();
            let failed = tokio::task::spawn_blocking(move || v.sync(&cur))
                .await
                .unwrap_or_default();
            if failed.is_empty() {
                return true;
            }
            if !waiting {
                waiting = true;
                self.write_status(key, &uid, |p| {
                    status::mounting(p, &self.cfg.node.ip.to_string(), &now())
                });
            }
            if Instant::now() >= next_event {
                for (name, e) in &failed {
                    self.pod_event(
                        key,
                        pod,
                        None,
                        "Warning",
                        "FailedMount",
                        &format!("MountVolume.SetUp failed for volume {name:?} : {e}"),
                    );
                }
                next_event = Instant::now() + backoff;
                backoff = (backoff * 2).min(Duration::from_secs(122));
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                m = rx.recv() => match m {
                    Some(PodMsg::Updated(p)) if !is_terminating(&p) => {}
                    _ => {
                        // nothing ran: the pod goes at once
                        let _ = self.store.delete(key, None);
                        return false;
                    }
                }
            }
        }
    }

    /// Runs one pod from its first sight to its teardown.
    pub(crate) async fn pod_worker(
        self: Arc<Self>,
        pod: Arc<Value>,
        mut rx: mpsc::UnboundedReceiver<PodMsg>,
    ) {
        let pods = kinet_registry::resource("", "pods");
        let key = kinet_registry::key_of(pods, &pod);
        let uid = str_at(&pod, "/metadata/uid").to_string();
        let ns = str_at(&pod, "/metadata/namespace").to_string();
        let name = str_at(&pod, "/metadata/name").to_string();
        if is_finished(&pod) {
            // finished before the daemon restarted: nothing runs again
            loop {
                match rx.recv().await {
                    None | Some(PodMsg::Deleted) => return,
                    Some(PodMsg::Updated(p)) if is_terminating(&p) => {
                        let _ = self.store.delete(&key, None);
                        return;
                    }
                    _ => {}
                }
            }
        }
        if is_terminating(&pod) {
            let _ = self.store.delete(&key, None);
            return;
        }
        // volumes first: kubelet starts nothing until they are mounted
        let vols = Arc::new(PodVolumes::new(
            self.pod_state_dir(&uid).join("volumes"),
            self.node_root(),
            self.store.clone(),
            self.cfg.tokens.clone(),
        ));
        if !self.wait_for_volumes(&pod, &key, &vols, &mut rx).await {
            let _ = std::fs::remove_dir_all(self.pod_state_dir(&uid));
            return;
        }
        if !self.has_cluster_dns() && crate::files::wants_cluster_dns(&pod) {
            events::record(
                &self.store,
                &self.src,
                &pod,
                None,
                "Warning",
                "MissingClusterDNS",
                &crate::files::missing_cluster_dns(&pod),
            );
        }
        let a = self.clone();
        let p = pod.clone();
        let sandbox = tokio::task::spawn_blocking(move || a.create_sandbox(&p)).await;
        let (holder, ip) = match sandbox {
            Ok(Ok(x)) => x,
            Ok(Err(e)) => {
                let msg = format!("Failed to create pod sandbox: {e:#}");
                tracing::warn!(pod = %format!("{ns}/{name}"), "{msg}");
                events::record(
                    &self.store,
                    &self.src,
                    &pod,
                    None,
                    "Warning",
                    "FailedCreatePodSandBox",
                    &msg,
                );
                // wait for deletion
                while let Some(m) = rx.recv().await {
                    if matches!(m, PodMsg::Deleted)
                        || matches!(&m, PodMsg::Updated(p) if is_terminating(p))
                    {
                        let _ = self.store.delete(&key, None);
                        return;
                    }
                }
                return;
            }
            Err(e) => {
                tracing::error!("sandbox task failed: {e}");
                return;
            }
        };
        let host_ip = self.cfg.node.ip.to_string();
        let start = now();
        self.write_status(&key, &uid, |p| {
            let prev = p["status"]["conditions"].clone();
            let init = has_init(p);
            let st = &mut p["status"];
            st["hostIP"] = json!(host_ip);
            st["hostIPs"] = json!([{"ip": host_ip}]);
            st["podIP"] = json!(ip.to_string());
            st["podIPs"] = json!([{"ip": ip.to_string()}]);
            st["startTime"] = json!(start);
            let t = now();
            st["conditions"] = json!([
                status::condition(Some(&prev), "PodReadyToStartContainers", true, None, &t),
                status::condition(Some(&prev), "Initialized", !init, None, &t),
                status::condition(Some(&prev), "Ready", false, Some("ContainersNotReady"), &t),
                status::condition(
                    Some(&prev),
                    "ContainersReady",
                    false,
                    Some("ContainersNotReady"),
                    &t
                ),
                status::condition(Some(&prev), "PodScheduled", true, None, &t),
            ]);
        });
        let run = PodRun {
            agent: self.clone(),
            key: key.clone(),
            uid: uid.clone(),
            ns: ns.clone(),
            name: name.clone(),
            holder,
            pod: pod.clone(),
        };
        let refresher = tokio::spawn(crate::podvolumes::refresh(
            vols,
            self.store.clone(),
            key.clone(),
            uid.clone(),
        ));
        let outcome = run.run(&mut rx).await;
        refresher.abort();
        // teardown
        let holder_pid = holder;
        let _ = tokio::task::spawn_blocking(move || {
            sandbox::terminate(holder_pid, Duration::from_millis(200))
        })
        .await;
        if !bool_at(&pod, "/spec/hostNetwork") {
            self.ipam.release(ip);
        }
        let _ = std::fs::remove_dir_all(self.pod_dir(&uid));
        let _ = std::fs::remove_dir_all(self.pod_state_dir(&uid));
        if outcome == Outcome::Gone {
            // force-deleted while it ran: the watch removed the logs before it stopped
            let _ = std::fs::remove_dir_all(self.pod_log_dir(&pod));
        }
        if outcome == Outcome::DeleteRequested {
            let cur = self.store.get(&key);
            if cur
                .as_ref()
                .is_some_and(|c| str_at(c, "/metadata/uid") == uid)
            {
                let _ = self.store.delete(&key, None);
            }
        }
    }
}

/// A pod whose sandbox is up: its containers run and its status is written here.
pub(crate) struct PodRun {
    pub agent: Arc<Agent>,
    pub key: String,
    pub uid: String,
    pub ns: String,
    pub name: String,
    /// The sandbox's holder process.
    pub holder: u32,
    /// The pod as its containers were started from.
    pub pod: Arc<Value>,
}

impl PodRun {
    fn containers(&self, field: &str) -> Vec<Value> {
        arr_at(&self.pod, &format!("/spec/{field}")).to_vec()
    }

    /// `spec.restartPolicy`, Always when unset.
    pub fn restart_policy(&self) -> String {
        let p = str_at(&self.pod, "/spec/restartPolicy");
        if p.is_empty() {
            "Always".into()
        } else {
            p.into()
        }
    }

    fn event(&self, field_path: Option<&str>, typ: &str, reason: &str, msg: &str) {
        self.agent
            .pod_event(&self.key, &self.pod, field_path, typ, reason, msg);
    }

    async fn run(&self, rx: &mut mpsc::UnboundedReceiver<PodMsg>) -> Outcome {
        let (stop_tx, stop_rx) = watch::channel::<Option<i64>>(None);
        // init containers, one after the other
        let inits = self.containers("initContainers");
        for (i, c) in inits.iter().enumerate() {
            let (ctx, mut crx) = mpsc::unbounded_channel();
            let spec = RunnerSpec::new(self, c, i, Kind::Init);
            let h = tokio::spawn(run_container(spec, ctx, stop_rx.clone()));
            let mut ok = false;
            let mut h = Box::pin(h);
            loop {
                tokio::select! {
                    m = rx.recv() => match m {
                        Some(PodMsg::Updated(p)) if is_terminating(&p) => {
                            let _ = stop_tx.send(Some(grace_of(&p)));
                            let _ = (&mut h).await;
                            return Outcome::DeleteRequested;
                        }
                        Some(PodMsg::Updated(_)) => {}
                        None | Some(PodMsg::Deleted) => {
                            let _ = stop_tx.send(Some(0));
                            let _ = (&mut h).await;
                            return Outcome::Gone;
                        }
                    },
                    m = crx.recv() => match m {
                        Some(CMsg::Probe(..)) => {}
                        Some(CMsg::State(u)) => {
                            let init_state = ContainerState {
                                name: str_at(c, "/name").into(),
                                image: str_at(c, "/image").into(),
                                state: u.state.clone(),
                                last: u.last,
                                restart_count: u.restarts,
                                container_id: u.container_id,
                                will_restart: u.will_restart,
                                ready: None,
                                started: None,
                            };
                            self.write_init_status(i, &init_state, inits.len());
                            if let State::Terminated(t) = &u.state {
                                if t.exit_code == 0 { ok = true; }
                                if !u.will_restart && t.exit_code != 0 {
                                    self.finish_failed_init();
                                }
                            }
                        }
                        None => break,
                    }
                }
            }
            if !ok {
                // failed for good (restartPolicy Never)
                return self.wait_deletion(rx).await;
            }
        }
        // main containers
        let specs = self.containers("containers");
        let (ctx, mut crx) = mpsc::unbounded_channel();
        let mut states: Vec<ContainerState> = specs
            .iter()
            .map(|c| ContainerState {
                will_restart: true,
                ready: c.get("readinessProbe").map(|_| false),
                started: c.get("startupProbe").map(|_| false),
                ..ContainerState::creating(c)
            })
            .collect();
        let mut handles = Vec::new();
        for (i, c) in specs.iter().enumerate() {
            let spec = RunnerSpec::new(self, c, i, Kind::Main);
            handles.push(tokio::spawn(run_container(
                spec,
                ctx.clone(),
                stop_rx.clone(),
            )));
        }
        drop(ctx);
        // ephemeral containers (`kubectl debug`), started as they are added to the spec
        let (etx, mut erx) = mpsc::unbounded_channel();
        let mut ephemeral: Vec<ContainerState> = Vec::new();
        self.start_ephemeral(&self.pod, &mut ephemeral, &etx, &stop_rx, &mut handles);
        let mut outcome = None;
        loop {
            tokio::select! {
                m = rx.recv(), if outcome.is_none() => match m {
                    Some(PodMsg::Updated(p)) if is_terminating(&p) => {
                        let grace = grace_of(&p);
                        for s in &states {
                            if matches!(s.state, State::Running { .. }) {
                                self.event(Some(&format!("spec.containers{{{}}}", s.name)), "Normal", "Killing", &format!("Stopping container {}", s.name));
                            }
                        }
                        let _ = stop_tx.send(Some(grace));
                        outcome = Some(Outcome::DeleteRequested);
                    }
                    Some(PodMsg::Updated(p)) => {
                        self.start_ephemeral(&p, &mut ephemeral, &etx, &stop_rx, &mut handles);
                    }
                    None | Some(PodMsg::Deleted) => {
                        let _ = stop_tx.send(Some(0));
                        outcome = Some(Outcome::Gone);
                    }
                },
                Some(m) = erx.recv() => {
                    if let CMsg::State(u) = m {
                        let e = &mut ephemeral[u.index];
                        e.state = u.state;
                        e.restart_count = u.restarts;
                        e.container_id = u.container_id;
                        e.last = u.last;
                        e.will_restart = false;
                        if outcome != Some(Outcome::Gone) {
                            let statuses: Vec<Value> = ephemeral.iter().map(status::container_status).collect();
                            self.agent.write_status(&self.key, &self.uid, |p| {
                                object_mut(p, &["status"]).insert("ephemeralContainerStatuses".into(), json!(statuses));
                            });
                        }
                    }
                },
                m = crx.recv() => match m {
                    Some(CMsg::Probe(i, kind, ok)) => {
                        match kind {
                            crate::probe::Kind::Readiness => states[i].ready = Some(ok),
                            crate::probe::Kind::Startup => states[i].started = Some(ok),
                            crate::probe::Kind::Liveness => {}
                        }
                        if outcome.is_none() {
                            self.write_main_status(&states, false);
                        }
                    }
                    Some(CMsg::State(u)) => {
                        let s = &mut states[u.index];
                        if !matches!(u.state, State::Running { .. }) {
                            // a new run starts unready and unstarted again
                            if s.ready.is_some() { s.ready = Some(false); }
                            if s.started.is_some() { s.started = Some(false); }
                        }
                        s.state = u.state;
                        s.restart_count = u.restarts;
                        s.container_id = u.container_id;
                        s.last = u.last;
                        s.will_restart = u.will_restart && outcome.is_none();
                        if outcome != Some(Outcome::Gone) {
                            self.write_main_status(&states, outcome.is_some());
                        }
                    }
                    None => break,
                }
            }
        }
        if outcome.is_none() {
            // the pod is done: ephemeral containers go with it
            let _ = stop_tx.send(Some(0));
        }
        for h in handles {
            let _ = h.await;
        }
        match outcome {
            Some(o) => o,
            None => {
                // every container finished for good
                self.wait_deletion(rx).await
            }
        }
    }

    /// Starts the ephemeral containers of `pod`'s spec that do not run yet.
    fn start_ephemeral(
        &self,
        pod: &Value,
        started: &mut Vec<ContainerState>,
        tx: &mpsc::UnboundedSender<CMsg>,
        stop: &watch::Receiver<Option<i64>>,
        handles: &mut Vec<tokio::task::JoinHandle<()>>,
    ) {
        for c in arr_at(pod, "/spec/ephemeralContainers") {
            let name = str_at(c, "/name");
            if name.is_empty() || started.iter().any(|s| s.name == name) {
                continue;
            }
            started.push(ContainerState::creating(c));
            // the spec the runner sees is the pod as it is now
            let run = PodRun {
                pod: Arc::new(pod.clone()),
                agent: self.agent.clone(),
                key: self.key.clone(),
                uid: self.uid.clone(),
                ns: self.ns.clone(),
                name: self.name.clone(),
                holder: self.holder,
            };
            let spec = RunnerSpec::new(&run, c, started.len() - 1, Kind::Ephemeral);
            handles.push(tokio::spawn(run_container(spec, tx.clone(), stop.clone())));
        }
    }

    async fn wait_deletion(&self, rx: &mut mpsc::UnboundedReceiver<PodMsg>) -> Outcome {
        // the sandbox goes away now; the pod object stays until deleted
        let _ = sandbox::kill(self.holder, sandbox::Signal::Kill);
        loop {
            match rx.recv().await {
                Some(PodMsg::Updated(p)) if is_terminating(&p) => {
                    return Outcome::DeleteRequested;
                }
                Some(PodMsg::Updated(_)) => {}
                None | Some(PodMsg::Deleted) => return Outcome::Finished,
            }
        }
    }

    fn write_init_status(&self, i: usize, st: &ContainerState, total: usize) {
        let done = matches!(&st.state, State::Terminated(t) if t.exit_code == 0) && i + 1 == total;
        let cs = status::container_status(st);
        self.agent.write_status(&self.key, &self.uid, |p| {
            if !p["status"].is_object() {
                p["status"] = json!({});
            }
            let arr = &mut p["status"]["initContainerStatuses"];
            if !arr.is_array() {
                *arr = json!([]);
            }
            if let Some(a) = arr.as_array_mut() {
                if a.len() <= i {
                    a.resize(i + 1, json!({}));
                }
                a[i] = cs;
            }
            if done {
                let t = now();
                if let Some(c) = p["status"]["conditions"].as_array_mut() {
                    for c in c.iter_mut().filter(|c| c["type"] == "Initialized") {
                        c["status"] = json!("True");
                        c["lastTransitionTime"] = json!(t);
                    }
                }
            }
        });
    }

    fn finish_failed_init(&self) {
        self.agent.write_status(&self.key, &self.uid, |p| {
            object_mut(p, &["status"]).insert("phase".into(), json!("Failed"));
        });
    }

    fn write_main_status(&self, states: &[ContainerState], stopping: bool) {
        let statuses: Vec<Value> = states.iter().map(status::container_status).collect();
        let all_ready = states.iter().all(ContainerState::is_ready);
        let phase = status::phase(true, states, false);
        let t = now();
        self.agent.write_status(&self.key, &self.uid, |p| {
            let prev = p["status"]["conditions"].clone();
            let ready_reason = if all_ready {
                None
            } else {
                Some("ContainersNotReady")
            };
            let done = matches!(phase, "Succeeded" | "Failed");
            let reason = if done {
                Some("PodCompleted")
            } else {
                ready_reason
            };
            let ready = all_ready && !stopping;
            let init_done = if done && !has_init(p) {
                Some("PodCompleted")
            } else {
                None
            };
            object_mut(p, &["status"]).insert(
                "conditions".into(),
                json!([
                    status::condition(Some(&prev), "PodReadyToStartContainers", !done, None, &t),
                    status::condition(Some(&prev), "Initialized", true, init_done, &t),
                    status::condition(
                        Some(&prev),
                        "Ready",
                        ready,
                        if ready { None } else { reason },
                        &t
                    ),
                    status::condition(
                        Some(&prev),
                        "ContainersReady",
                        ready,
                        if ready { None } else { reason },
                        &t
                    ),
                    status::condition(Some(&prev), "PodScheduled", true, None, &t),
                ]),
            );
            if let Some(c) = p["status"]["conditions"].as_array_mut() {
                for c in c.iter_mut().filter(|c| c.get("reason").is_none()) {
                    if let Some(o) = c.as_object_mut() {
                        o.remove("reason");
                    }
                }
            }
            object_mut(p, &["status"]).insert("containerStatuses".into(), json!(statuses));
            object_mut(p, &["status"]).insert("phase".into(), json!(phase));
        });
    }
}
