//! The Event printer: first and last seen (old-style timestamps or a
//! series), the object it is about, its source.

use crate::json::{at, int_at, name, str_at};
use crate::table::format::{human_duration, is_zero_time, since_at, time_at};
use crate::table::{Column, KindTable, NAME, col, wide};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

pub(super) const EVENT: KindTable = KindTable {
    kind: "Event",
    columns: &[
        col("Last Seen", "string", D_EV_LAST),
        col("Type", "string", D_EV_TYPE),
        col("Reason", "string", D_EV_REASON),
        col("Object", "string", D_EV_OBJECT),
        wide("Subobject", "string", D_EV_SUBOBJECT),
        wide("Source", "string", D_EV_SOURCE),
        col("Message", "string", D_EV_MESSAGE),
        wide("First Seen", "string", D_EV_FIRST),
        wide("Count", "string", D_EV_COUNT),
        Column {
            priority: 1,
            ..NAME
        },
    ],
    cells: event_cells,
};

const D_EV_LAST: &str = "The time at which the most recent occurrence of this event was recorded.";
const D_EV_TYPE: &str =
    "Type of this event (Normal, Warning), new types could be added in the future";
const D_EV_REASON: &str = "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.";
const D_EV_OBJECT: &str = "The object that this event is about.";
const D_EV_SUBOBJECT: &str = "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2]. For example, if the object reference is to a container within a pod, this would take on a value like: \"spec.containers{name}\" (where \"name\" refers to the name of the container that triggered the event) or if no container name is specified \"spec.containers[2]\" (container with index 2 in this pod). This syntax is chosen only to have some well-defined way of referencing a part of an object.";
const D_EV_SOURCE: &str =
    "The component reporting this event. Should be a short machine understandable string.";
const D_EV_MESSAGE: &str = "A human-readable description of the status of this operation.";
const D_EV_FIRST: &str =
    "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)";
const D_EV_COUNT: &str = "The number of times this event has occurred.";

fn event_cells(ev: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let first = match time_at(ev, "/firstTimestamp") {
        Some(t) if !is_zero_time(t) => human_duration(now - t),
        _ => since_at(ev, "/eventTime", now),
    };
    let mut last = match time_at(ev, "/lastTimestamp") {
        Some(t) if !is_zero_time(t) => human_duration(now - t),
        _ => first.clone(),
    };
    let mut count = int_at(ev, "/count").unwrap_or(0);
    if let Some(series) = at(ev, "/series") {
        last = since_at(series, "/lastObservedTime", now);
        count = int_at(series, "/count").unwrap_or(0);
    } else if count == 0 {
        count = 1;
    }
    let kind = str_at(ev, "/involvedObject/kind").to_lowercase();
    let target = match str_at(ev, "/involvedObject/name") {
        "" => kind,
        n => format!("{kind}/{n}"),
    };
    let first_non_empty = |a: &str, b: &str| {
        if a.is_empty() {
            b.to_string()
        } else {
            a.to_string()
        }
    };
    let component = first_non_empty(
        str_at(ev, "/source/component"),
        str_at(ev, "/reportingComponent"),
    );
    let instance = first_non_empty(str_at(ev, "/source/host"), str_at(ev, "/reportingInstance"));
    let source = if instance.is_empty() {
        component
    } else {
        format!("{component}, {instance}")
    };
    vec![
        json!(last),
        json!(str_at(ev, "/type")),
        json!(str_at(ev, "/reason")),
        json!(target),
        json!(str_at(ev, "/involvedObject/fieldPath")),
        json!(source),
        json!(str_at(ev, "/message").trim()),
        json!(first),
        json!(count),
        json!(name(ev)),
    ]
}

#[cfg(test)]
mod tests {
    use crate::table::cells;
    use crate::table::test_util::*;
    use serde_json::json;

    #[test]
    fn event_columns_and_cells() {
        assert_eq!(
            names("Event"),
            "Last Seen, Type, Reason, Object, +Subobject, +Source, Message, +First Seen, +Count, +Name"
        );
        let ev = json!({
            "metadata": {"name": "web.17a", "creationTimestamp": ago(100)},
            "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{app}"},
            "reason": "Pulled", "type": "Normal", "message": "Successfully pulled image\n",
            "source": {"component": "kubelet", "host": "node-a"},
            "firstTimestamp": ago(100), "lastTimestamp": ago(40), "count": 3
        });
        let c = strs(&cells("Event", &ev, now()));
        assert_eq!(
            c,
            vec![
                "40s",
                "Normal",
                "Pulled",
                "pod/web",
                "spec.containers{app}",
                "kubelet, node-a",
                "Successfully pulled image",
                "100s",
                "3",
                "web.17a"
            ]
        );
        assert!(cells("Event", &ev, now())[8].is_i64());

        // New-style event: eventTime, series, reportingComponent.
        let ev2 = json!({
            "metadata": {"name": "n1"},
            "involvedObject": {"kind": "Node"},
            "reason": "Starting", "type": "Normal", "message": "m",
            "eventTime": "2024-05-01T11:59:00.000000Z",
            "reportingComponent": "kube-proxy",
            "series": {"count": 7, "lastObservedTime": "2024-05-01T11:59:50.000000Z"}
        });
        let c = strs(&cells("Event", &ev2, now()));
        assert_eq!(c[0], "10s");
        assert_eq!(c[3], "node");
        assert_eq!(c[5], "kube-proxy");
        assert_eq!(c[7], "60s");
        assert_eq!(c[8], "7");
        let ev3 = json!({"metadata": {"name": "x"}, "involvedObject": {"kind": "Pod", "name": "p"},
                         "firstTimestamp": ago(5)});
        let c = strs(&cells("Event", &ev3, now()));
        assert_eq!((c[0].as_str(), c[8].as_str()), ("5s", "1"));
    }
}
