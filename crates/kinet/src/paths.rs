//! Where a lab keeps its things. Every path carries the lab's name, so labs can run side by side.

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

impl Paths {
    pub fn new(lab: &str) -> Paths {
        Paths {
            lab: lab.to_string(),
            state: root("KINET_STATE_DIR", "/var/lib/kinet").join(lab),
            run: root("KINET_RUN_DIR", "/run/kinet").join(lab),
            logs: root("KINET_LOG_DIR", "/var/log/kinet").join(lab),
        }
    }
    pub fn store(&self) -> PathBuf {
        self.state.join("store.db")
    }
    pub fn config(&self) -> PathBuf {
        self.state.join("config.json")
    }
    pub fn token(&self) -> PathBuf {
        self.state.join("token")
    }
    pub fn pki(&self) -> PathBuf {
        self.state.join("pki")
    }
    pub fn kubeconfig(&self) -> PathBuf {
        self.state.join("kubeconfig")
    }
    pub fn daemon_log(&self) -> PathBuf {
        self.state.join("daemon.log")
    }
    pub fn pid_file(&self) -> PathBuf {
        self.run.join("daemon.pid")
    }
    pub fn ready_file(&self) -> PathBuf {
        self.run.join("ready")
    }
    pub fn busybox_dir(&self) -> PathBuf {
        self.run.join("busybox")
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
