//! The shared harness of the integration tests: real labs (named uniquely,
//! removed even on failure), the machine's kubectl binaries and a runner over
//! them, one poller, assertions that print what they saw, and argument lists
//! written as the course writes commands.

mod args;
mod check;
mod kubectl;
mod lab;

pub use args::args;
pub use check::{assert_contains, assert_fails, assert_not_contains, assert_ok, wait_until};
pub use kubectl::{Kubectl, per_version};
pub use lab::{Lab, busybox_pod, kinet_bin};

use std::process::{Command, Output};
use std::time::Duration;

/// A command's stdout, as text.
pub fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A command's stderr, as text.
pub fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// stdout then stderr, for messages.
pub fn out_err(o: &Output) -> String {
    format!("{}{}", out(o), err(o))
}

/// Runs a program of the host (`argv[0]`) to its end; panics if it cannot start.
pub fn run<S: AsRef<str>>(argv: &[S]) -> Output {
    let (prog, rest) = argv.split_first().expect("a program to run");
    Command::new(prog.as_ref())
        .args(rest.iter().map(AsRef::as_ref))
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", prog.as_ref()))
}

/// `n` seconds.
pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}
