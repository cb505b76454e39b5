//! nftables inside a network namespace, through the `nft` binary.
//!
//! `nft -f -` applies a whole ruleset file as one atomic transaction. The child process
//! `setns()`s into the target network namespace before exec. (A netlink nftables
//! implementation may replace this later; the signatures will stay.)

use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, anyhow};

use crate::netns;

/// True if an `nft` binary is on `PATH`.
pub fn nft_available() -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|d| d.join("nft").is_file())
}

/// Apply `ruleset` atomically inside the network namespace `ns` (`nft -f -`).
/// On failure the error carries nft's stderr (which names the bad line).
pub fn nft_apply(ns: &Path, ruleset: &str) -> anyhow::Result<()> {
    nft_run(ns, &["-f", "-"], Some(ruleset)).map(|_| ())
}

/// Run `nft ARGS…` inside the network namespace `ns`, with `stdin` as its input, and
/// return its stdout (e.g. `nft_run(ns, &["list", "ruleset"], None)`).
pub fn nft_run(ns: &Path, args: &[&str], stdin: Option<&str>) -> anyhow::Result<String> {
    let fd = OwnedFd::from(netns::open_ns(ns)?);
    let mut cmd = Command::new("nft");
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: the closure only calls setns(2), which is async-signal-safe, on a
    // descriptor it owns.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let what = || format!("nft {} in {}", args.join(" "), ns.display());
    let mut child = cmd.spawn().with_context(|| format!("{}: spawn", what()))?;
    // Feed stdin from a thread so a chatty nft cannot deadlock us on a full pipe.
    let writer = match (stdin, child.stdin.take()) {
        (Some(input), Some(mut pipe)) => {
            let input = input.to_string();
            Some(std::thread::spawn(move || pipe.write_all(input.as_bytes())))
        }
        _ => None,
    };
    let out = child
        .wait_with_output()
        .with_context(|| format!("{}: wait", what()))?;
    if let Some(w) = writer {
        // A write error (EPIPE) only matters if nft also failed; its stderr says why.
        let _ = w.join();
    }
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(anyhow!(
            "{} failed ({}): {}",
            what(),
            out.status,
            stderr.trim_end()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
