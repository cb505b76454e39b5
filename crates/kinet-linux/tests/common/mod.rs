//! Helpers shared by the kernel test binaries.

use std::path::Path;

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
