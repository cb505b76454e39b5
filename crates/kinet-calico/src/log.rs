//! Calico's log lines: `2026-12-01 12:00:00.000 [INFO][1] startup/startup.go 432: message`.

use chrono::{DateTime, Utc};

/// One log line as calico-node and calico-kube-controllers print them (local time
/// in the container is UTC), without the trailing newline.
pub fn line(at: DateTime<Utc>, level: &str, pid: u32, file: &str, msg: &str) -> String {
    format!(
        "{} [{level}][{pid}] {file}: {msg}",
        at.format("%Y-%m-%d %H:%M:%S%.3f")
    )
}

/// Prints a line to stdout now (the container log).
pub fn emit(level: &str, pid: u32, file: &str, msg: &str) {
    println!("{}", line(Utc::now(), level, pid, file, msg));
}

/// `info!(pid, "startup/startup.go 432", "Early log level set to {}", lvl)`.
#[macro_export]
macro_rules! info {
    ($pid:expr, $file:expr, $($arg:tt)*) => {
        $crate::log::emit("INFO", $pid, $file, &format!($($arg)*))
    };
}

#[macro_export]
macro_rules! warning {
    ($pid:expr, $file:expr, $($arg:tt)*) => {
        $crate::log::emit("WARNING", $pid, $file, &format!($($arg)*))
    };
}

#[macro_export]
macro_rules! error {
    ($pid:expr, $file:expr, $($arg:tt)*) => {
        $crate::log::emit("ERROR", $pid, $file, &format!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn lines_look_like_calico() {
        let at = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
        assert_eq!(
            line(
                at,
                "INFO",
                1,
                "main.go 99",
                "Starting Calico kube-controllers"
            ),
            "2026-12-01 12:00:00.000 [INFO][1] main.go 99: Starting Calico kube-controllers"
        );
    }
}
