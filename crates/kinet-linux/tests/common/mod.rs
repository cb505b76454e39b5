//! Helpers shared by the kernel test binaries.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use kinet_linux::sandbox;

/// Runs `argv` inside the namespaces of `pid` (as kubectl exec does), in `workdir`
/// (default "/"), and returns its standard output; panics with its stderr if it fails.
pub fn joined_output(pid: u32, argv: &[&str], workdir: Option<&Path>) -> String {
    let mut cmd = std::process::Command::new(argv[0]);
    cmd.args(&argv[1..]);
    sandbox::join_std(&mut cmd, pid, workdir).unwrap();
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{argv:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name no other test (of this or another run) uses: `prefix`, the pid and a counter.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}
