//! Running a command in a pod's container (what `kubectl exec` and `kinet exec`
//! do): the container's PATH and environment, inside the pod's namespaces, with
//! pipes or a terminal.

use crate::catalog::{self, Program};
use serde_json::Value;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;

pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Why an exec could not start, in the words a container runtime uses.
#[derive(Debug)]
pub enum ExecError {
    /// The pod has no running sandbox (not started, finished, or deleted).
    NotRunning(String),
    /// No such container in the pod.
    NoContainer(String),
    /// The executable is not on the container's PATH.
    NotFound(String),
    Other(String),
}

impl std::fmt::Display for ExecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExecError::NotRunning(m) | ExecError::NoContainer(m) | ExecError::Other(m) => {
                f.write_str(m)
            }
            ExecError::NotFound(prog) => write!(
                f,
                "OCI runtime exec failed: exec failed: unable to start container process: exec: {prog:?}: executable file not found in $PATH: unknown"
            ),
        }
    }
}

/// A started command.
pub struct Session {
    pub child: tokio::process::Child,
    /// The terminal's master side, with `tty`.
    pub pty: Option<OwnedFd>,
}

/// The PATH of a container. The busybox image has busybox's applets and nothing
/// else (no curl, no dig, as the course says); alpine puts them first, before the
/// host's tools (what `apk add` would have installed).
pub fn container_path(image: &str, busybox_dir: Option<&Path>) -> String {
    let busybox = matches!(
        catalog::program(image, &[], &[], &[]),
        Program::Exec { busybox: true, .. }
    );
    match busybox_dir {
        // busybox 1.28's nslookup first (the daemon's `old/` holds it, then the applets)
        Some(d) if busybox && catalog::old_busybox(image) => {
            format!("{}:{}", d.join("old").display(), d.display())
        }
        Some(d) if busybox && catalog::short_name(image) == "busybox" => d.display().to_string(),
        Some(d) if busybox => format!("{}:{DEFAULT_PATH}", d.display()),
        _ => DEFAULT_PATH.to_string(),
    }
}

/// Gives `cmd` a new terminal as stdin, stdout, stderr and controlling tty (with
/// `TERM=xterm`, as container runtimes set it); returns the master side. Add after
/// the namespace join. The slave side closes in the parent when `cmd` is dropped.
pub fn with_terminal(cmd: &mut tokio::process::Command) -> anyhow::Result<OwnedFd> {
    let (master, slave) = kinet_linux::pty::open()?;
    cmd.stdin(Stdio::from(slave.try_clone()?))
        .stdout(Stdio::from(slave.try_clone()?))
        .stderr(Stdio::from(slave));
    cmd.env("TERM", "xterm");
    kinet_linux::pty::set_controlling_tty(cmd);
    Ok(master)
}

/// Finds `prog` on `path` (or takes it as is when it has a slash).
pub fn resolve(prog: &str, path: &str) -> Option<PathBuf> {
    if prog.contains('/') {
        return Some(PathBuf::from(prog));
    }
    path.split(':')
        .map(|d| Path::new(d).join(prog))
        .find(|p| p.is_file())
}

/// A container's own directory under the run dir: its `pid` file (while its process
/// runs) and `mnt`, the scratch directory of its mount namespace.
pub fn container_dir(run_dir: &Path, uid: &str, container: &str) -> PathBuf {
    run_dir
        .join("pods")
        .join(uid)
        .join("containers")
        .join(container)
}

/// The pid of a container's running process, if it runs.
pub fn container_pid(run_dir: &Path, pod: &Value, container: &str) -> Option<u32> {
    let uid = pod
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("");
    std::fs::read_to_string(container_dir(run_dir, uid, container).join("pid"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .filter(|pid| kinet_linux::sandbox::is_alive(*pid))
}

/// The holder pid of a running pod's sandbox.
pub fn holder_pid(run_dir: &Path, pod: &Value) -> Result<u32, ExecError> {
    let uid = pod
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("");
    std::fs::read_to_string(run_dir.join("pods").join(uid).join("holder.pid"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .filter(|pid| kinet_linux::sandbox::is_alive(*pid))
        .ok_or_else(|| {
            let phase = pod
                .pointer("/status/phase")
                .and_then(Value::as_str)
                .unwrap_or("Unknown");
            ExecError::NotRunning(format!(
                "cannot exec in a container of a pod that is not running (phase {phase})"
            ))
        })
}

/// Starts `command` in `container` of `pod`. `lab` marks the process for cleanup.
#[allow(clippy::too_many_arguments)]
pub fn spawn(
    lab: &str,
    run_dir: &Path,
    busybox_dir: Option<&Path>,
    pod: &Value,
    container: &str,
    command: &[String],
    stdin: bool,
    tty: bool,
) -> Result<Session, ExecError> {
    let containers: Vec<Value> = ["containers", "initContainers", "ephemeralContainers"]
        .iter()
        .filter_map(|l| pod.pointer(&format!("/spec/{l}"))?.as_array())
        .flatten()
        .cloned()
        .collect();
    let c = containers
        .iter()
        .find(|c| c["name"] == container)
        .ok_or_else(|| ExecError::NoContainer(format!("container not found ({container:?})")))?;
    let holder = holder_pid(run_dir, pod)?;
    let prog = command.first().ok_or_else(|| {
        ExecError::Other("you must specify at least one command for the container".into())
    })?;
    let path = container_path(c["image"].as_str().unwrap_or(""), busybox_dir);
    let exe = resolve(prog, &path).ok_or_else(|| ExecError::NotFound(prog.clone()))?;
    let name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut cmd = tokio::process::Command::new(exe);
    cmd.arg0(prog)
        .args(&command[1..])
        .env_clear()
        .env("PATH", &path)
        .env("HOSTNAME", name)
        .env("HOME", "/root");
    if let Some(env) = c["env"].as_array() {
        for e in env {
            if let (Some(k), Some(v)) = (e["name"].as_str(), e["value"].as_str()) {
                cmd.env(k, v);
            }
        }
    }
    cmd.env(crate::lab::LAB_ENV, lab);
    // the container's own process when it runs: its mount namespace has its volumes
    let target = container_pid(run_dir, pod, container).unwrap_or(holder);
    kinet_linux::sandbox::join(
        &mut cmd,
        target,
        Some(Path::new(c["workingDir"].as_str().unwrap_or("/"))),
    )
    .map_err(|e| ExecError::Other(format!("{e:#}")))?;
    let pty = if tty {
        Some(with_terminal(&mut cmd).map_err(|e| ExecError::Other(format!("{e:#}")))?)
    } else {
        cmd.stdin(if stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        None
    };
    let child = cmd.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            ExecError::NotFound(prog.clone())
        } else {
            ExecError::Other(format!("failed to start {prog:?}: {e}"))
        }
    })?;
    Ok(Session { child, pty })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busybox_images_get_applets_first() {
        let p = container_path("busybox:1.36", Some(Path::new("/run/kinet/x/busybox")));
        assert_eq!(p, "/run/kinet/x/busybox");
        let p = container_path("alpine", Some(Path::new("/run/kinet/x/busybox")));
        assert!(p.starts_with("/run/kinet/x/busybox:"));
        assert_eq!(
            container_path("nicolaka/netshoot", Some(Path::new("/b"))),
            DEFAULT_PATH
        );
        assert_eq!(resolve("/bin/sh", "").unwrap(), PathBuf::from("/bin/sh"));
        assert!(resolve("definitely-not-a-program", DEFAULT_PATH).is_none());
    }

    #[test]
    fn runtime_wording() {
        let e = ExecError::NotFound("foo".into());
        assert!(
            e.to_string()
                .contains("exec: \"foo\": executable file not found in $PATH")
        );
    }
}
