//! Assertions that print what they saw, and the one poller.

use std::process::Output;
use std::time::{Duration, Instant};

use super::{err, out, out_err};

/// How often [`wait_until`] asks again.
const POLL_EVERY: Duration = Duration::from_millis(50);

/// Asks `f` every 50 ms until it returns `Ok`, for at most `timeout` (`f` runs at
/// least once, and once more at the deadline). `Err` says why not yet: past the
/// deadline, the last one is the panic message.
#[track_caller]
pub fn wait_until<T>(timeout: Duration, mut f: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match f() {
            Ok(v) => return v,
            Err(why) if Instant::now() >= deadline => {
                panic!("still not so after {timeout:?}: {why}")
            }
            Err(_) => std::thread::sleep(POLL_EVERY),
        }
    }
}

/// Panics, showing `text`, unless it contains `needle`.
#[track_caller]
pub fn assert_contains(text: impl AsRef<str>, needle: impl AsRef<str>) {
    let (text, needle) = (text.as_ref(), needle.as_ref());
    assert!(text.contains(needle), "{needle:?} is missing from:\n{text}");
}

/// Panics, showing `text`, if it contains `needle`.
#[track_caller]
pub fn assert_not_contains(text: impl AsRef<str>, needle: impl AsRef<str>) {
    let (text, needle) = (text.as_ref(), needle.as_ref());
    assert!(
        !text.contains(needle),
        "{needle:?} should not be in:\n{text}"
    );
}

/// Panics, showing its output, unless the command succeeded; returns its stdout.
#[track_caller]
pub fn assert_ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "the command failed ({}):\n{}",
        o.status,
        out_err(o)
    );
    out(o)
}

/// Panics, showing its output, unless the command failed; returns its stderr.
#[track_caller]
pub fn assert_fails(o: &Output) -> String {
    assert!(
        !o.status.success(),
        "the command should have failed:\n{}",
        out_err(o)
    );
    err(o)
}
