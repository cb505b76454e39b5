//! Where a lab keeps its things. Every path carries the lab's name, so labs can run side by side.

use nix::fcntl::{Flock, FlockArg};
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct Paths {
    pub lab: String,
    /// /var/lib/kinet/<lab>: store, PKI, token, kubeconfig, daemon log.
    pub state: PathBuf,
    /// /run/kinet/<lab>: pid and ready files, per-pod files.
    pub run: PathBuf,
    /// /var/log/kinet/<lab>: container logs.
    pub logs: PathBuf,
}

fn root(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

/// The lab's files as methods: `name: dir / "file"` is `fn name(&self)`, the lab's
/// `dir` joined with `file`.
macro_rules! lab_files {
    ($($name:ident: $dir:ident / $file:literal),* $(,)?) => {
        $(
            pub fn $name(&self) -> PathBuf {
                self.$dir.join($file)
            }
        )*
    };
}

impl Paths {
    pub fn new(lab: &str) -> Paths {
        Paths {
            lab: lab.to_string(),
            state: root("KINET_STATE_DIR", "/var/lib/kinet").join(lab),
            run: root("KINET_RUN_DIR", "/run/kinet").join(lab),
            logs: root("KINET_LOG_DIR", "/var/log/kinet").join(lab),
        }
    }
    lab_files! {
        store: state / "store.db",
        config: state / "config.json",
        addons: state / "addons.json",
        token: state / "token",
        pki: state / "pki",
        kubeconfig: state / "kubeconfig",
        daemon_log: state / "daemon.log",
        pid_file: run / "daemon.pid",
        ready_file: run / "ready",
        busybox_dir: run / "busybox",
        daemon_lock: state / "daemon.lock",
        up_lock: state / "up.lock",
    }
    pub fn context(&self) -> String {
        format!("kinet-{}", self.lab)
    }

    /// The pid of this lab's running daemon, if any.
    pub fn daemon_pid(&self) -> Option<u32> {
        let pid: u32 = std::fs::read_to_string(self.pid_file())
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let ours = args.contains(&b"daemon".as_slice()) && args.contains(&self.lab.as_bytes());
        ours.then_some(pid)
    }
}

/// An exclusive `flock` on `path` (created as needed), held until the value is
/// dropped (or the process ends, however it ends). With `wait` false, None
/// when another process holds it.
pub fn lock(path: &std::path::Path, wait: bool) -> std::io::Result<Option<Flock<std::fs::File>>> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    let arg = if wait {
        FlockArg::LockExclusive
    } else {
        FlockArg::LockExclusiveNonblock
    };
    match Flock::lock(f, arg) {
        Ok(l) => Ok(Some(l)),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, e)) => Err(e.into()),
    }
}

/// The pids of every daemon process of `lab` (`kinet --name LAB daemon …`),
/// whether or not the pid file names them.
pub fn daemons_of(lab: &str) -> Vec<u32> {
    let me = std::process::id();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            args.windows(3)
                .any(|w| w[0] == b"--name" && w[1] == lab.as_bytes() && w[2] == b"daemon")
        })
        .collect()
}

/// The lab's settings, kept across restarts.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LabConfig {
    pub nodes: usize,
    pub port: u16,
}

impl LabConfig {
    pub fn load(p: &Paths) -> Option<LabConfig> {
        serde_json::from_slice(&std::fs::read(p.config()).ok()?).ok()
    }
    pub fn save(&self, p: &Paths) -> std::io::Result<()> {
        std::fs::write(p.config(), serde_json::to_vec_pretty(self).unwrap())
    }
}
