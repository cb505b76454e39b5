//! One container of a pod, run after run until it stops for good: what it runs
//! (its [`RunnerSpec`], made from the pod), then for each run the steps kubelet
//! and the runtime take — spawn it inside the pod (its own mount namespace),
//! pump its output to its CRI log and attached clients, hand its probes their
//! context, wait for it (or terminate it: probe restart, pod stopping), report
//! its end — and the restart policy with kubelet's crash-loop back-off.

use crate::agent::Agent;
use crate::catalog::{self, Program};
use crate::pod::{CMsg, PodRun, Update};
use crate::sources::StoreObjects;
use crate::status::{State, Terminated};
use crate::stdio::{Io, Log};
use kinet_linux::sandbox;
use kinet_model::json::{arr_at, int_at, str_at};
use kinet_registry::now;
use serde_json::{Value, json};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::process::Child;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Which list of the pod spec a container comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Init,
    Main,
    Ephemeral,
}

impl Kind {
    fn field(self) -> &'static str {
        match self {
            Kind::Init => "initContainers",
            Kind::Main => "containers",
            Kind::Ephemeral => "ephemeralContainers",
        }
    }
}

/// When a container runs again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Restart {
    Always,
    OnFailure,
    Never,
}

impl Restart {
    /// A container's policy from its kind and the pod's `restartPolicy`: init
    /// containers run until they succeed (unless Never), ephemeral ones once.
    fn of(kind: Kind, policy: &str) -> Restart {
        match (kind, policy) {
            (Kind::Ephemeral, _) => Restart::Never,
            (Kind::Init, "Never") => Restart::Never,
            (Kind::Init, _) => Restart::OnFailure,
            (Kind::Main, "Never") => Restart::Never,
            (Kind::Main, "OnFailure") => Restart::OnFailure,
            _ => Restart::Always,
        }
    }

    /// Runs again after exiting with `exit_code`.
    fn again(self, exit_code: i32) -> bool {
        match self {
            Restart::Always => true,
            Restart::OnFailure => exit_code != 0,
            Restart::Never => false,
        }
    }
}

/// kubelet's crash-loop back-off: the first restart at once, then 10 s doubling
/// to 5 min; back to 10 s after a run of more than 10 min.
#[derive(Debug)]
struct Backoff(Duration);

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff(Duration::from_secs(10))
    }
}

impl Backoff {
    /// The wait before restart number `restarts + 1`, after a run of `ran_for`.
    fn next(&mut self, restarts: u32, ran_for: Duration) -> Duration {
        if ran_for > Duration::from_secs(600) {
            self.0 = Duration::from_secs(10);
        }
        if restarts == 0 {
            return Duration::ZERO;
        }
        let wait = self.0;
        self.0 = (self.0 * 2).min(Duration::from_secs(300));
        wait
    }
}

/// Everything a container's runner needs, taken from the pod when it starts.
pub(crate) struct RunnerSpec {
    pub(crate) agent: Arc<Agent>,
    index: usize,
    pub(crate) name: String,
    image: String,
    program: Program,
    env: Vec<(String, String)>,
    workdir: Option<PathBuf>,
    holder: u32,
    restart: Restart,
    log_base: PathBuf,
    pod_label: String,
    key: String,
    field_path: String,
    pod: Arc<Value>,
    /// The container's spec (probes, ports).
    container: Value,
    pub(crate) uid: String,
    /// `stdin`, `stdinOnce` and `tty` of the container's spec.
    pub(crate) stdin: bool,
    pub(crate) stdin_once: bool,
    pub(crate) tty: bool,
    /// The container's volume mounts (its own mount namespace), or why they are wrong.
    mounts: Result<kinet_linux::mounts::ContainerMounts, String>,
    /// `<run_dir>/pods/<uid>/containers/<name>`: the pid file and the mount scratch dir.
    own_dir: PathBuf,
}

impl RunnerSpec {
    /// The runner of container `c` (number `index` of its `kind`'s list) of `run`'s pod.
    pub fn new(run: &PodRun, c: &Value, index: usize, kind: Kind) -> RunnerSpec {
        let agent = &run.agent;
        let name = str_at(c, "/name").to_string();
        let strs = |k: &str| -> Vec<String> {
            arr_at(c, &format!("/{k}"))
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        };
        let ports: Vec<u16> = arr_at(c, "/ports")
            .iter()
            .filter_map(|p| p["containerPort"].as_u64().map(|x| x as u16))
            .collect();
        let image = str_at(c, "/image").to_string();
        // fieldRefs read the pod as it is now (its IPs are in its status)
        let cur = agent.store.get(&run.key).unwrap_or_else(|| run.pod.clone());
        let hostname = crate::files::hostname(&run.pod, &agent.cfg.node.name);
        let objects = StoreObjects::for_pod(&agent.store, &run.pod);
        let env = crate::env::container_env(&cur, c, &hostname, &objects);
        // kubelet expands `$(VAR)` in command and args with the container's environment
        let expanded = |k: &str| -> Vec<String> {
            strs(k)
                .iter()
                .map(|a| crate::env::expand(a, &env))
                .collect()
        };
        let program = catalog::program(&image, &expanded("command"), &expanded("args"), &ports);
        let own_dir = crate::exec::container_dir(&agent.cfg.run_dir, &run.uid, &name);
        RunnerSpec {
            agent: agent.clone(),
            index,
            name: name.clone(),
            image,
            program,
            env,
            workdir: c["workingDir"].as_str().map(PathBuf::from),
            holder: run.holder,
            restart: Restart::of(kind, &run.restart_policy()),
            log_base: crate::agent::log_path(
                &agent.cfg.log_dir,
                &run.ns,
                &run.name,
                &run.uid,
                &name,
                0,
            ),
            pod_label: format!("{}_{}({})", run.name, run.ns, run.uid),
            key: run.key.clone(),
            field_path: format!("spec.{}{{{name}}}", kind.field()),
            pod: run.pod.clone(),
            container: if kind == Kind::Main {
                c.clone()
            } else {
                json!({})
            },
            uid: run.uid.clone(),
            stdin: c["stdin"].as_bool().unwrap_or(false),
            stdin_once: c["stdinOnce"].as_bool().unwrap_or(false),
            tty: c["tty"].as_bool().unwrap_or(false),
            mounts: crate::volumes::container_binds(
                &run.pod,
                c,
                &agent.pod_state_dir(&run.uid).join("volumes"),
                &agent.node_root(),
                &own_dir.join("mnt"),
                Some(crate::volumes::container_layer(c)),
            )
            .map(|mut m| {
                m.binds.extend(crate::volumes::self_exe_bind(
                    &agent.cfg.self_exe,
                    m.layer.as_ref(),
                ));
                m
            }),
            own_dir,
        }
    }

    /// Makes `cmd` enter the pod, in a mount namespace of its own with the container's
    /// volume mounts. The report explains a failed spawn (which mount step failed).
    fn join(
        &self,
        cmd: &mut tokio::process::Command,
    ) -> (anyhow::Result<()>, Option<kinet_linux::mounts::Report>) {
        let workdir = self.workdir.clone().unwrap_or_else(|| PathBuf::from("/"));
        let _ = std::fs::create_dir_all(&self.own_dir);
        // every container has a mount namespace of its own: its writable layer
        let mut mounts = match &self.mounts {
            Ok(m) => m.clone(),
            Err(e) => return (Err(anyhow::anyhow!("{e}")), None),
        };
        let volumes = self.agent.pod_state_dir(&self.uid).join("volumes");
        guard_writable_binds(&mut mounts, &[volumes, self.agent.node_root()]);
        if let Err(e) = std::fs::create_dir_all(&mounts.scratch) {
            return (Err(e.into()), None);
        }
        let opts = sandbox::JoinOptions {
            workdir: Some(workdir),
            setsid: false,
            mounts: Some(mounts),
        };
        match sandbox::join_container(cmd, self.holder, &opts) {
            Ok(r) => (Ok(()), Some(r)),
            Err(e) => (Err(e), None),
        }
    }

    fn event(&self, typ: &str, reason: &str, msg: &str) {
        self.agent.pod_event(
            &self.key,
            &self.pod,
            Some(&self.field_path),
            typ,
            reason,
            msg,
        );
    }

    /// The container's process: its program resolved on its PATH (busybox applets
    /// first), its environment and nothing else, stdout and stderr piped.
    fn command(&self) -> tokio::process::Command {
        let (prog, args): (String, Vec<String>) = match &self.program {
            Program::Exec { argv, .. } => (
                argv.first().cloned().unwrap_or_default(),
                argv[1.min(argv.len())..].to_vec(),
            ),
            Program::Builtin { args } | Program::Emulated { args } => {
                (self.agent.cfg.self_exe.display().to_string(), args.clone())
            }
        };
        let path = match self.program {
            Program::Exec { busybox: true, .. } => {
                crate::exec::container_path(&self.image, self.agent.cfg.busybox_dir.as_deref())
            }
            _ => crate::exec::DEFAULT_PATH.to_string(),
        };
        // resolve the program on the container's PATH (busybox applets first)
        let resolved = if prog.contains('/') {
            prog.clone()
        } else {
            path.split(':')
                .map(|d| Path::new(d).join(&prog))
                .find(|p| p.exists())
                .map(|p| p.display().to_string())
                .unwrap_or(prog.clone())
        };
        let mut cmd = tokio::process::Command::new(&resolved);
        cmd.arg0(&prog);
        cmd.args(&args);
        cmd.env_clear();
        cmd.env("PATH", &path);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.env(crate::lab::LAB_ENV, &self.agent.cfg.lab);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd.kill_on_drop(false);
        cmd
    }

    /// The image events of a container's first run (there is nothing to pull).
    fn pull_events(&self) {
        let policy = kinet_model::defaults::image_pull_policy(&self.image);
        if policy == "Always" {
            self.event(
                "Normal",
                "Pulling",
                &format!("Pulling image {:?}", self.image),
            );
            self.event("Normal", "Pulled", &format!("Successfully pulled image {:?} in 0s (0s including waiting). Image size: 0 bytes.", self.image));
        } else {
            self.event(
                "Normal",
                "Pulled",
                &format!(
                    "Container image {:?} already present on machine",
                    self.image
                ),
            );
        }
    }

    /// The terminationGracePeriodSeconds of the pod (30 when unset).
    fn grace_period(&self) -> u64 {
        int_at(&self.pod, "/spec/terminationGracePeriodSeconds")
            .unwrap_or(30)
            .max(0) as u64
    }
}

/// A writable volume mount whose source leaves the volumes it may come from (a
/// `subPath` through a symlink a container made) is mounted read-only: pods never
/// write the machine's files.
fn guard_writable_binds(m: &mut kinet_linux::mounts::ContainerMounts, allowed: &[PathBuf]) {
    let allowed: Vec<PathBuf> = allowed
        .iter()
        .filter_map(|a| std::fs::canonicalize(a).ok())
        .collect();
    for b in m.binds.iter_mut().filter(|b| !b.read_only) {
        match std::fs::canonicalize(&b.source) {
            // taken by this path, with no symbolic link on the way (see
            // kinet_linux::mounts: a link swapped in meanwhile fails the mount)
            Ok(c) if allowed.iter().any(|a| c.starts_with(a)) => b.source = c,
            _ => b.read_only = true,
        }
    }
}

fn container_id(seed: &str) -> String {
    use sha2::{Digest, Sha256};
    format!(
        "containerd://{}",
        hex::encode(Sha256::digest(seed.as_bytes()))
    )
}

/// Runs one container with its restart policy until it stops for good or is told to stop.
pub(crate) async fn run_container(
    spec: RunnerSpec,
    tx: mpsc::UnboundedSender<CMsg>,
    mut stop: watch::Receiver<Option<i64>>,
) {
    let mut restarts: u32 = 0;
    let mut last: Option<Terminated> = None;
    let mut backoff = Backoff::default();
    if matches!(spec.program, Program::Emulated { .. }) {
        spec.event("Normal", "Emulated", &format!("Image {:?} is not in kinet's catalog: a generic server answers on its container ports", spec.image));
    }
    loop {
        if stop.borrow().is_some() {
            return;
        }
        if restarts == 0 {
            spec.pull_events();
        }
        let Some(log) = open_log(&spec, restarts).await else {
            return;
        };
        let cid = container_id(&format!("{}-{}-{restarts}", spec.pod_label, spec.name));
        let run = Run {
            spec: &spec,
            tx: &tx,
            restarts,
            cid: &cid,
            last: &last,
        };
        let (term, ran_for) = run.once(&mut stop, log).await;
        let stopping = stop.borrow().is_some();
        let again = !stopping && spec.restart.again(term.exit_code);
        run.send(State::Terminated(term.clone()), again);
        if !again {
            return;
        }
        let wait = backoff.next(restarts, ran_for);
        last = Some(term);
        if !wait.is_zero() {
            let next = Run {
                spec: &spec,
                tx: &tx,
                restarts: restarts + 1,
                cid: &cid,
                last: &last,
            };
            next.crash_loop(&mut stop, wait).await;
        }
        restarts += 1;
    }
}

/// Opens the log of run `restarts` (None: it cannot be written, the container does not run).
async fn open_log(spec: &RunnerSpec, restarts: u32) -> Option<Log> {
    let log = spec.log_base.with_file_name(format!("{restarts}.log"));
    if let Some(d) = log.parent() {
        let _ = tokio::fs::create_dir_all(d).await;
    }
    match tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .await
    {
        Ok(f) => Some(Arc::new(tokio::sync::Mutex::new(f))),
        Err(e) => {
            tracing::error!("cannot open log {}: {e}", log.display());
            None
        }
    }
}

/// A spawned container process (or why it did not start).
struct Spawned {
    child: anyhow::Result<Child>,
    /// The terminal's master side, with `tty`.
    master: Option<OwnedFd>,
    /// When it started.
    started: String,
}

/// Starts the container's process inside the pod.
fn spawn(spec: &RunnerSpec) -> Spawned {
    let mut cmd = spec.command();
    let (joined, report) = spec.join(&mut cmd);
    // stdin and tty: a terminal the agent keeps the master side of, or a stdin pipe
    let mut master = None;
    let joined = joined.and_then(|()| {
        if spec.tty {
            master = Some(crate::exec::with_terminal(&mut cmd)?);
        } else if spec.stdin {
            cmd.stdin(Stdio::piped());
        }
        Ok(())
    });
    let started = now();
    let child = match joined {
        Ok(()) => cmd.spawn().map_err(|e| match &report {
            Some(r) => r.explain(e),
            None => anyhow::Error::from(e),
        }),
        Err(e) => Err(e),
    };
    // the terminal's slave side now belongs to the container alone (cmd goes here)
    Spawned {
        child,
        master,
        started,
    }
}

/// The message of a container that could not start, in containerd's words when
/// its program is not found.
fn start_error_message(program: &Program, e: &anyhow::Error) -> String {
    match program {
        Program::Exec { argv, .. }
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound) =>
        {
            format!(
                "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: error during container init: exec: {:?}: executable file not found in $PATH: unknown",
                argv.first().cloned().unwrap_or_default()
            )
        }
        _ => format!("failed to start container: {e:#}"),
    }
}

/// An exit status as the container's state shows it: (exit code, signal), a
/// signal counting as 128 + its number.
fn exit_code(status: &std::io::Result<ExitStatus>) -> (i32, Option<i32>) {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Ok(s) => match (s.code(), s.signal()) {
            (Some(c), _) => (c, None),
            (None, Some(sig)) => (128 + sig, Some(sig)),
            _ => (1, None),
        },
        Err(_) => (1, None),
    }
}

/// One run of a container.
struct Run<'a> {
    spec: &'a RunnerSpec,
    tx: &'a mpsc::UnboundedSender<CMsg>,
    /// How many runs came before.
    restarts: u32,
    cid: &'a str,
    /// The previous run's end.
    last: &'a Option<Terminated>,
}

impl Run<'_> {
    /// Tells the pod this run's state.
    fn send(&self, state: State, will_restart: bool) {
        let _ = self.tx.send(CMsg::State(Update {
            index: self.spec.index,
            state,
            restarts: self.restarts,
            container_id: self.cid.to_string(),
            last: self.last.clone(),
            will_restart,
        }));
    }

    /// Spawns the container and sees it to its end.
    async fn once(
        &self,
        stop: &mut watch::Receiver<Option<i64>>,
        log: Log,
    ) -> (Terminated, Duration) {
        let spec = self.spec;
        let spawned = spawn(spec);
        spec.event(
            "Normal",
            "Created",
            &format!("Created container: {}", spec.name),
        );
        match spawned.child {
            Err(e) => (self.start_error(&e), Duration::ZERO),
            Ok(child) => {
                self.started(stop, child, spawned.master, log, spawned.started)
                    .await
            }
        }
    }

    /// The end of a run that did not start.
    fn start_error(&self, e: &anyhow::Error) -> Terminated {
        let msg = start_error_message(&self.spec.program, e);
        self.spec
            .event("Warning", "Failed", &format!("Error: {msg}"));
        Terminated {
            exit_code: 128,
            signal: None,
            reason: "StartError".into(),
            message: Some(msg),
            started_at: "1970-01-01T00:00:00Z".into(),
            finished_at: now(),
            container_id: self.cid.to_string(),
        }
    }

    /// A started run: Running, its output and input connected, its probes, until it ends.
    async fn started(
        &self,
        stop: &mut watch::Receiver<Option<i64>>,
        mut child: Child,
        master: Option<OwnedFd>,
        log: Log,
        started: String,
    ) -> (Terminated, Duration) {
        let spec = self.spec;
        // the pid before the container shows Running: exec enters its process
        let pid_file = spec.own_dir.join("pid");
        let _ = std::fs::write(&pid_file, child.id().unwrap_or(0).to_string());
        spec.event(
            "Normal",
            "Started",
            &format!("Started container {}", spec.name),
        );
        let t0 = Instant::now();
        self.send(
            State::Running {
                started_at: started.clone(),
            },
            true,
        );
        let io = Io::connect(spec, &mut child, master, log);
        let pid = child.id().unwrap_or(0);
        let (kill_tx, kill_rx) = mpsc::unbounded_channel::<String>();
        let probes = self.start_probes(pid, kill_tx);
        let status = wait(&mut child, pid, kill_rx, stop, spec.grace_period()).await;
        if let Some(p) = probes {
            p.abort();
        }
        let (code, signal) = exit_code(&status);
        io.finish(spec, code).await;
        let _ = std::fs::remove_file(&pid_file);
        let reason = if code == 0 { "Completed" } else { "Error" };
        (
            Terminated {
                exit_code: code,
                signal,
                reason: reason.into(),
                message: None,
                started_at: started,
                finished_at: now(),
                container_id: self.cid.to_string(),
            },
            t0.elapsed(),
        )
    }

    /// Runs the container's probes (main containers only) from the node, with exec
    /// probes inside the container (`pid`); verdicts go to the pod, failures become
    /// events, and a restart verdict to `kill`.
    fn start_probes(
        &self,
        pid: u32,
        kill: mpsc::UnboundedSender<String>,
    ) -> Option<JoinHandle<()>> {
        let spec = self.spec;
        let probes = crate::probe::Probes::from_container(&spec.container)?;
        let ctx = crate::probe::Context {
            node_netns: Some(spec.agent.cfg.netns.clone()),
            // exec probes see what the container sees (its mounts)
            holder: if pid > 0 { pid } else { spec.holder },
            pod_ip: spec
                .agent
                .store
                .get(&spec.key)
                .map(|p| str_at(&p, "/status/podIP").to_string())
                .unwrap_or_default(),
        };
        let tx = self.tx.clone();
        let index = spec.index;
        let (agent, key, pod, fp, name) = (
            spec.agent.clone(),
            spec.key.clone(),
            spec.pod.clone(),
            spec.field_path.clone(),
            spec.name.clone(),
        );
        Some(tokio::spawn(probes.run(ctx, move |ev| match ev {
            crate::probe::Event::Verdict(kind, ok) => {
                let _ = tx.send(CMsg::Probe(index, kind, ok));
            }
            crate::probe::Event::Failed(kind, msg) => {
                agent.pod_event(
                    &key,
                    &pod,
                    Some(&fp),
                    "Warning",
                    "Unhealthy",
                    &format!("{} probe failed: {msg}", kind.name()),
                );
                if kind == crate::probe::Kind::Liveness || kind == crate::probe::Kind::Startup {
                    agent.pod_event(
                        &key,
                        &pod,
                        Some(&fp),
                        "Normal",
                        "Killing",
                        &format!(
                            "Container {name} failed {} probe, will be restarted",
                            kind.name().to_lowercase()
                        ),
                    );
                }
            }
            crate::probe::Event::Restart(kind) => {
                let _ = kill.send(kind.name().to_string());
            }
        })))
    }

    /// CrashLoopBackOff for `wait` (or until the pod stops), as the run after this one.
    async fn crash_loop(&self, stop: &mut watch::Receiver<Option<i64>>, wait: Duration) {
        let spec = self.spec;
        let msg = format!(
            "back-off {}s restarting failed container={} pod={}",
            wait.as_secs(),
            spec.name,
            spec.pod_label
        );
        spec.event(
            "Warning",
            "BackOff",
            &format!(
                "Back-off restarting failed container {} in pod {}",
                spec.name, spec.pod_label
            ),
        );
        self.send(
            State::Waiting {
                reason: "CrashLoopBackOff".into(),
                message: Some(msg),
            },
            true,
        );
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Waits for a run to end: by itself; on a probe's restart (`kill`: TERM, KILL
/// after the pod's grace period `grace`); or when the pod stops (`stop` holds the
/// deletion's grace period: TERM then KILL, or KILL at once for 0).
async fn wait(
    child: &mut Child,
    pid: u32,
    mut kill: mpsc::UnboundedReceiver<String>,
    stop: &mut watch::Receiver<Option<i64>>,
    grace: u64,
) -> std::io::Result<ExitStatus> {
    tokio::select! {
        s = child.wait() => s,
        Some(_) = kill.recv() => terminate(child, pid, sandbox::Signal::Term, grace).await,
        _ = stop.changed() => {
            let grace = stop.borrow().unwrap_or(30).max(0) as u64;
            let sig = if grace == 0 { sandbox::Signal::Kill } else { sandbox::Signal::Term };
            terminate(child, pid, sig, grace).await
        }
    }
}

/// Sends `sig` to the container, then KILL when it still runs after `grace` seconds.
async fn terminate(
    child: &mut Child,
    pid: u32,
    sig: sandbox::Signal,
    grace: u64,
) -> std::io::Result<ExitStatus> {
    if pid > 0 {
        let _ = sandbox::kill(pid, sig);
    }
    match tokio::time::timeout(Duration::from_secs(grace), child.wait()).await {
        Ok(s) => s,
        Err(_) => {
            let _ = child.start_kill();
            child.wait().await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn restart_policies() {
        assert_eq!(Restart::of(Kind::Main, "Always"), Restart::Always);
        assert_eq!(Restart::of(Kind::Main, ""), Restart::Always);
        assert_eq!(Restart::of(Kind::Main, "OnFailure"), Restart::OnFailure);
        assert_eq!(Restart::of(Kind::Main, "Never"), Restart::Never);
        assert_eq!(Restart::of(Kind::Init, "Always"), Restart::OnFailure);
        assert_eq!(Restart::of(Kind::Init, "Never"), Restart::Never);
        assert_eq!(Restart::of(Kind::Ephemeral, "Always"), Restart::Never);
        assert!(Restart::Always.again(0));
        assert!(Restart::OnFailure.again(1));
        assert!(!Restart::OnFailure.again(0));
        assert!(!Restart::Never.again(1));
    }

    #[test]
    fn crash_loop_back_off() {
        let mut b = Backoff::default();
        let short = Duration::from_secs(1);
        let waits: Vec<u64> = (0..8).map(|r| b.next(r, short).as_secs()).collect();
        assert_eq!(waits, [0, 10, 20, 40, 80, 160, 300, 300]);
        // a run of more than ten minutes starts the back-off over
        assert_eq!(b.next(8, Duration::from_secs(601)).as_secs(), 10);
        assert_eq!(b.next(9, short).as_secs(), 20);
    }

    #[test]
    fn exit_codes() {
        assert_eq!(exit_code(&Ok(ExitStatus::from_raw(0))), (0, None));
        assert_eq!(exit_code(&Ok(ExitStatus::from_raw(3 << 8))), (3, None));
        assert_eq!(exit_code(&Ok(ExitStatus::from_raw(9))), (137, Some(9)));
        assert_eq!(exit_code(&Ok(ExitStatus::from_raw(15))), (143, Some(15)));
        assert_eq!(exit_code(&Err(std::io::Error::other("gone"))), (1, None));
    }

    #[test]
    fn start_errors() {
        let exec = Program::Exec {
            argv: vec!["nosuch".into()],
            busybox: false,
        };
        let not_found = anyhow::Error::from(std::io::Error::from(std::io::ErrorKind::NotFound));
        assert!(
            start_error_message(&exec, &not_found)
                .ends_with("exec: \"nosuch\": executable file not found in $PATH: unknown")
        );
        let other = anyhow::anyhow!("volume \"v\" not found in pod");
        assert_eq!(
            start_error_message(&exec, &other),
            "failed to start container: volume \"v\" not found in pod"
        );
    }

    #[test]
    fn container_ids() {
        let id = container_id("web_default(u1)-c-0");
        assert!(id.starts_with("containerd://"));
        assert_eq!(id.len(), "containerd://".len() + 64);
        assert_ne!(id, container_id("web_default(u1)-c-1"));
    }
}
