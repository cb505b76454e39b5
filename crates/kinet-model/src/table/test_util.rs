//! Fixtures the table tests of every area share.

use super::columns;
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Value, json};

pub(super) fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap()
}

pub(super) fn ago(secs: i64) -> String {
    (now() - Duration::seconds(secs))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// The column names of `kind`, comma-separated, the wide (priority 1) ones
/// marked with a leading `+`.
pub(super) fn names(kind: &str) -> String {
    let names: Vec<String> = columns(kind)
        .iter()
        .map(|c| match c.priority {
            0 => c.name.to_string(),
            1 => format!("+{}", c.name),
            p => format!("{}({p})", c.name),
        })
        .collect();
    names.join(", ")
}

/// Cells as strings (numbers and booleans in their JSON form).
pub(super) fn strs(v: &[Value]) -> Vec<String> {
    v.iter()
        .map(|c| match c {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

/// A pod template with `app=web` labels and `containers`.
pub(super) fn template(containers: Value) -> Value {
    json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": containers}})
}
