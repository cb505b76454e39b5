//! Log lines in klog's text format on stderr, as upstream kube-proxy prints
//! them (`kubectl logs` shows these):
//! `I1201 12:00:00.123456       1 proxier.go:812] "SyncProxyRules complete" elapsed="1.2ms"`.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

static VERBOSITY: AtomicU8 = AtomicU8::new(0);

pub fn set_verbosity(v: u8) {
    VERBOSITY.store(v, Ordering::Relaxed);
}

/// Is `--v` at least `level`?
pub fn v(level: u8) -> bool {
    VERBOSITY.load(Ordering::Relaxed) >= level
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Info,
    Warning,
    Error,
}

/// (year, month, day, hour, minute, second, microsecond) in UTC.
pub fn civil(t: SystemTime) -> (i64, u32, u32, u32, u32, u32, u32) {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = d.as_secs() as i64;
    let days = secs.div_euclid(86400);
    let sod = secs.rem_euclid(86400) as u32;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        month,
        day,
        sod / 3600,
        sod / 60 % 60,
        sod % 60,
        d.subsec_micros(),
    )
}

/// Go's `time.Time.String()` in UTC: `2026-12-01 12:00:00.123456789 +0000 UTC`.
pub fn go_time(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s, _) = civil(t);
    let nanos = t
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .subsec_nanos();
    let frac = if nanos == 0 {
        String::new()
    } else {
        format!(".{nanos:09}").trim_end_matches('0').to_string()
    };
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}{frac} +0000 UTC")
}

/// Go's `Duration.String()`: `1.234567ms`, `2.5s`, `1m0s`.
pub fn go_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    let trim = |v: f64, prec: usize| {
        let s = format!("{v:.prec$}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.to_string()
    };
    if ns < 1_000 {
        format!("{ns}ns")
    } else if ns < 1_000_000 {
        format!("{}µs", trim(ns as f64 / 1e3, 3))
    } else if ns < 1_000_000_000 {
        format!("{}ms", trim(ns as f64 / 1e6, 6))
    } else if ns < 60_000_000_000 {
        format!("{}s", trim(ns as f64 / 1e9, 9))
    } else {
        let total = d.as_secs();
        let (h, m) = (total / 3600, total / 60 % 60);
        let s = trim(d.as_secs_f64() % 60.0, 9);
        let s = if s.is_empty() { "0".into() } else { s };
        if h > 0 {
            format!("{h}h{m}m{s}s")
        } else {
            format!("{m}m{s}s")
        }
    }
}

/// One klog line, without the newline.
pub fn format(
    sev: Severity,
    at: SystemTime,
    pid: u32,
    source: &str,
    msg: &str,
    kvs: &[(&str, &dyn std::fmt::Display)],
) -> String {
    let (_, mo, d, h, mi, s, us) = civil(at);
    let letter = match sev {
        Severity::Info => 'I',
        Severity::Warning => 'W',
        Severity::Error => 'E',
    };
    let mut line =
        format!("{letter}{mo:02}{d:02} {h:02}:{mi:02}:{s:02}.{us:06} {pid:>7} {source}] {msg:?}");
    for (k, v) in kvs {
        let _ = write!(line, " {k}={:?}", v.to_string());
    }
    line
}

fn emit(sev: Severity, source: &str, msg: &str, kvs: &[(&str, &dyn std::fmt::Display)]) {
    let line = format(sev, SystemTime::now(), std::process::id(), source, msg, kvs);
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

pub fn info(source: &str, msg: &str, kvs: &[(&str, &dyn std::fmt::Display)]) {
    emit(Severity::Info, source, msg, kvs);
}

/// An info line shown at `--v=level` and above.
pub fn info_v(level: u8, source: &str, msg: &str, kvs: &[(&str, &dyn std::fmt::Display)]) {
    if v(level) {
        emit(Severity::Info, source, msg, kvs);
    }
}

pub fn warning(source: &str, msg: &str, kvs: &[(&str, &dyn std::fmt::Display)]) {
    emit(Severity::Warning, source, msg, kvs);
}

pub fn error(source: &str, msg: &str, kvs: &[(&str, &dyn std::fmt::Display)]) {
    emit(Severity::Error, source, msg, kvs);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_look_like_klog() {
        // 2026-12-01 12:00:00.123456 UTC
        let t = UNIX_EPOCH + Duration::from_micros(1_796_126_400_123_456);
        assert_eq!(civil(t), (2026, 12, 1, 12, 0, 0, 123_456));
        let line = format(
            Severity::Info,
            t,
            1,
            "proxier.go:812",
            "SyncProxyRules complete",
            &[("elapsed", &"1.2ms")],
        );
        assert_eq!(
            line,
            "I1201 12:00:00.123456       1 proxier.go:812] \"SyncProxyRules complete\" elapsed=\"1.2ms\""
        );
        assert_eq!(go_time(t), "2026-12-01 12:00:00.123456 +0000 UTC");
    }

    #[test]
    fn durations_print_as_go() {
        assert_eq!(go_duration(Duration::from_micros(1234)), "1.234ms");
        assert_eq!(go_duration(Duration::from_millis(2500)), "2.5s");
        assert_eq!(go_duration(Duration::from_secs(60)), "1m0s");
        assert_eq!(go_duration(Duration::from_nanos(500)), "500ns");
    }
}
