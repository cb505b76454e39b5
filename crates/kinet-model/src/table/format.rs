//! The formatting the printers of several kinds share: durations and ages,
//! label maps and selectors, container lists, load-balancer addresses and
//! condition lookups, each as upstream's printers write them.

use crate::json::{arr_at, at, obj_at, str_at};
use crate::selector::LabelSelector;
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

/// `k8s.io/apimachinery/pkg/util/duration.HumanDuration`.
pub fn human_duration(d: Duration) -> String {
    let seconds = d.num_seconds();
    if seconds < -1 {
        return "<invalid>".to_string();
    } else if seconds < 0 {
        return "0s".to_string();
    } else if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = d.num_minutes();
    if minutes < 10 {
        let s = seconds % 60;
        if s == 0 {
            return format!("{minutes}m");
        }
        return format!("{minutes}m{s}s");
    } else if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = d.num_hours();
    if hours < 8 {
        let m = minutes % 60;
        if m == 0 {
            return format!("{hours}h");
        }
        return format!("{hours}h{m}m");
    } else if hours < 48 {
        return format!("{hours}h");
    } else if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 {
            return format!("{}d", hours / 24);
        }
        return format!("{}d{}h", hours / 24, h);
    } else if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    } else if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        if dy == 0 {
            return format!("{}y", hours / 24 / 365);
        }
        return format!("{}y{}d", hours / 24 / 365, dy);
    }
    format!("{}y", hours / 24 / 365)
}

fn parse_time(t: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The RFC 3339 time at `path`, None when missing, not a string or unparsable.
pub(super) fn time_at(v: &Value, path: &str) -> Option<DateTime<Utc>> {
    at(v, path).and_then(Value::as_str).and_then(parse_time)
}

/// The zero `metav1.Time` (0001-01-01T00:00:00Z) or earlier.
pub(super) fn is_zero_time(t: DateTime<Utc>) -> bool {
    t.timestamp() <= -62135596800
}

/// translateTimestampSince: `<unknown>` for a zero or unparsable time.
pub(super) fn since(t: &str, now: DateTime<Utc>) -> String {
    match parse_time(t) {
        Some(t) if !is_zero_time(t) => human_duration(now - t),
        _ => "<unknown>".to_string(),
    }
}

/// translateTimestampSince of the time at `path`: `<unknown>` when absent too.
pub(super) fn since_at(v: &Value, path: &str, now: DateTime<Utc>) -> String {
    match at(v, path).and_then(Value::as_str) {
        Some(t) => since(t, now),
        None => "<unknown>".to_string(),
    }
}

/// The Age cell: time since `metadata.creationTimestamp`.
pub(super) fn age_of(obj: &Value, now: DateTime<Utc>) -> String {
    since_at(obj, "/metadata/creationTimestamp", now)
}

/// The condition of type `ty` that comes first in `conds` has status `True`
/// (upstream's lookups that stop at the first match).
pub(super) fn first_condition_true(conds: &[Value], ty: &str) -> bool {
    conds
        .iter()
        .find(|c| str_at(c, "/type") == ty)
        .is_some_and(|c| str_at(c, "/status") == "True")
}

/// labels.FormatLabels of the string map at `path`: sorted `k=v` pairs,
/// `<none>` when empty.
pub(super) fn format_labels(v: &Value, path: &str) -> String {
    let mut pairs: Vec<String> = obj_at(v, path)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    pairs.sort();
    if pairs.is_empty() {
        "<none>".to_string()
    } else {
        pairs.join(",")
    }
}

/// labels.Selector.String() of metav1.LabelSelectorAsSelector; `None` when the
/// selector is invalid.
pub(super) fn selector_string(sel: &Value) -> Option<String> {
    LabelSelector::from_object(sel).ok().map(|s| s.to_string())
}

/// metav1.FormatLabelSelector.
pub(super) fn format_label_selector(sel: Option<&Value>) -> String {
    match sel {
        None => "<none>".to_string(),
        Some(sel) => match selector_string(sel) {
            None => "<error>".to_string(),
            Some(s) if s.is_empty() => "<none>".to_string(),
            Some(s) => s,
        },
    }
}

/// The Containers and Images cells of a pod template's containers at `path`.
pub(super) fn layout_containers(obj: &Value, path: &str) -> (String, String) {
    let containers = arr_at(obj, path);
    let names: Vec<&str> = containers.iter().map(|c| str_at(c, "/name")).collect();
    let images: Vec<&str> = containers.iter().map(|c| str_at(c, "/image")).collect();
    (names.join(","), images.join(","))
}

/// The addresses of a load balancer's `ingress` list: IPs or host names,
/// sorted and deduplicated.
pub(super) fn load_balancer_string(ingress: &[Value]) -> String {
    let mut set: Vec<String> = Vec::new();
    for i in ingress {
        let ip = str_at(i, "/ip");
        let host = str_at(i, "/hostname");
        if !ip.is_empty() {
            set.push(ip.to_string());
        } else if !host.is_empty() {
            set.push(host.to_string());
        }
    }
    set.sort();
    set.dedup();
    // The server prints wide, so the 16-byte clipping never applies.
    set.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_duration_matches_upstream() {
        let cases: &[(i64, &str)] = &[
            (-5, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (45, "45s"),
            (119, "119s"),
            (120, "2m"),
            (123, "2m3s"),
            (599, "9m59s"),
            (600, "10m"),
            (3 * 3600 - 1, "179m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 15 * 60, "3h15m"),
            (8 * 3600, "8h"),
            (47 * 3600 + 59 * 60, "47h"),
            (48 * 3600, "2d"),
            (2 * 86400 + 5 * 3600, "2d5h"),
            (7 * 86400 + 23 * 3600, "7d23h"),
            (8 * 86400, "8d"),
            (5 * 86400, "5d"),
            (729 * 86400, "729d"),
            (730 * 86400, "2y"),
            ((730 + 45) * 86400, "2y45d"),
            (8 * 365 * 86400 + 86400, "8y"),
        ];
        for (secs, want) in cases {
            assert_eq!(human_duration(Duration::seconds(*secs)), *want, "{secs}s");
        }
        assert_eq!(human_duration(Duration::milliseconds(-1500)), "0s");
    }
}
