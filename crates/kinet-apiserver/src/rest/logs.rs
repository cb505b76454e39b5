//! `pods/NAME/log`: a container's log as `kubectl logs` reads it, from the CRI log
//! file the node agent writes (tail, since, timestamps, limitBytes, previous),
//! followed while the pod lives when `follow=true`.

use super::request::{Query, tokio_stream_from, truthy};
use crate::objects::Objects;
use crate::status::ApiError;
use crate::{ApiServer, Body};
use bytes::Bytes;
use chrono::Utc;
use http::{Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use kinet_model::resources::{self, Resource};
use serde_json::Value;
use std::time::Duration;

pub(crate) async fn logs(
    api: &ApiServer,
    objects: &Objects,
    r: &Resource,
    ns: &str,
    name: &str,
    q: &Query,
) -> Result<Response<Body>, ApiError> {
    let pod = objects.registry().get(r, Some(ns), name)?;
    let container = pick_container(&pod, q.get("container").map(String::as_str))?;
    let uid = pod
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("");
    let previous = truthy(q, "previous");
    let path_of = |previous: bool| {
        api.hooks
            .as_ref()
            .and_then(|h| h.log_path(ns, name, uid, &container, previous))
            .filter(|p| p.exists())
    };
    // between restarts (CrashLoopBackOff) the next run has no log yet: as the
    // kubelet does, the log of the run that ended is the container's log
    let path = path_of(previous)
        .or_else(|| (!previous && waiting_after_a_run(&pod, &container)).then(|| path_of(true))?);
    let Some(path) = path else {
        let waiting = pod.pointer("/status/phase").and_then(Value::as_str) == Some("Pending");
        return Err(ApiError::bad_request(if waiting {
            format!(
                "container \"{container}\" in pod \"{name}\" is waiting to start: ContainerCreating"
            )
        } else if previous {
            format!("previous terminated container \"{container}\" in pod \"{name}\" not found")
        } else {
            format!("container \"{container}\" in pod \"{name}\" is not available")
        }));
    };
    let data = tokio::fs::read(&path)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let timestamps = truthy(q, "timestamps");
    let tail: Option<usize> = q.get("tailLines").and_then(|s| s.parse().ok());
    let since = q
        .get("sinceSeconds")
        .and_then(|s| s.parse::<i64>().ok())
        .map(|s| Utc::now() - chrono::Duration::seconds(s))
        .or_else(|| {
            q.get("sinceTime")
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                .map(|t| t.with_timezone(&Utc))
        });
    let text = String::from_utf8_lossy(&data);
    let mut lines: Vec<String> = text
        .lines()
        .filter_map(|l| cri_line(l, timestamps, since))
        .collect();
    if let Some(n) = tail {
        let skip = lines.len().saturating_sub(n);
        lines.drain(..skip);
    }
    let mut out = lines.join("");
    let limit: Option<usize> = q.get("limitBytes").and_then(|s| s.parse().ok());
    if let Some(l) = limit {
        out.truncate(l);
    }
    if !truthy(q, "follow") {
        return Ok(crate::response(
            StatusCode::OK,
            "text/plain",
            crate::full(out),
        ));
    }
    // follow: poll the file for growth until the client goes away or the pod is gone
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(16);
    let store = api.store.clone();
    let key = resources::store_key(r, Some(ns), name);
    let uid = uid.to_string();
    tokio::spawn(async move {
        if !out.is_empty() && tx.send(Ok(Frame::data(Bytes::from(out)))).await.is_err() {
            return;
        }
        let mut offset = data.len();
        let mut partial = String::new();
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if tx.is_closed() {
                return;
            }
            if let Ok(d) = tokio::fs::read(&path).await
                && d.len() > offset
            {
                partial.push_str(&String::from_utf8_lossy(&d[offset..]));
                offset = d.len();
                let mut chunk = String::new();
                while let Some(nl) = partial.find('\n') {
                    let line: String = partial.drain(..=nl).collect();
                    if let Some(l) = cri_line(line.trim_end_matches('\n'), timestamps, None) {
                        chunk.push_str(&l);
                    }
                }
                if !chunk.is_empty() && tx.send(Ok(Frame::data(Bytes::from(chunk)))).await.is_err()
                {
                    return;
                }
            }
            let alive = store.get(&key).is_some_and(|p| {
                p.pointer("/metadata/uid").and_then(Value::as_str) == Some(uid.as_str())
                    && !matches!(
                        p.pointer("/status/phase").and_then(Value::as_str),
                        Some("Succeeded" | "Failed")
                    )
            });
            if !alive {
                return;
            }
        }
    });
    Ok(crate::response(
        StatusCode::OK,
        "text/plain",
        BodyExt::boxed(StreamBody::new(tokio_stream_from(rx))),
    ))
}

/// The container waits to start again after a run that ended.
fn waiting_after_a_run(pod: &Value, container: &str) -> bool {
    ["containerStatuses", "initContainerStatuses"]
        .iter()
        .filter_map(|list| pod.pointer(&format!("/status/{list}"))?.as_array())
        .flatten()
        .find(|c| c.get("name").and_then(Value::as_str) == Some(container))
        .is_some_and(|c| {
            c.pointer("/state/waiting").is_some() && c.pointer("/lastState/terminated").is_some()
        })
}

/// One line of a CRI log file (`<RFC3339Nano> <stream> <P|F> <text>`), as `kubectl logs` prints it.
pub fn cri_line(
    line: &str,
    timestamps: bool,
    since: Option<chrono::DateTime<Utc>>,
) -> Option<String> {
    let mut parts = line.splitn(4, ' ');
    let ts = parts.next()?;
    let _stream = parts.next()?;
    let tag = parts.next()?;
    let text = parts.next().unwrap_or("");
    if let Some(s) = since {
        let t = chrono::DateTime::parse_from_rfc3339(ts)
            .ok()?
            .with_timezone(&Utc);
        if t < s {
            return None;
        }
    }
    let nl = if tag == "P" { "" } else { "\n" };
    Some(if timestamps {
        format!("{ts} {text}{nl}")
    } else {
        format!("{text}{nl}")
    })
}

/// The container a log or exec request is for: the one named, or the only one.
pub fn pick_container(pod: &Value, requested: Option<&str>) -> Result<String, ApiError> {
    let name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let names = |list: &str| -> Vec<String> {
        pod.pointer(&format!("/spec/{list}"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|c| c["name"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (containers, init, ephemeral) = (
        names("containers"),
        names("initContainers"),
        names("ephemeralContainers"),
    );
    match requested {
        Some(c)
            if ![&containers, &init, &ephemeral]
                .iter()
                .any(|l| l.iter().any(|x| x == c)) =>
        {
            Err(ApiError::bad_request(format!(
                "container {c} is not valid for pod {name}"
            )))
        }
        Some(c) => Ok(c.to_string()),
        None if containers.len() == 1 => Ok(containers[0].clone()),
        None => {
            let mut msg = format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            );
            if !init.is_empty() {
                msg.push_str(&format!(
                    " or one of the init containers: [{}]",
                    init.join(" ")
                ));
            }
            if !ephemeral.is_empty() {
                msg.push_str(&format!(
                    " or one of the ephemeral containers: [{}]",
                    ephemeral.join(" ")
                ));
            }
            Err(ApiError::bad_request(msg))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_container_in_back_off_shows_its_last_run() {
        let pod = serde_json::json!({"status": {"containerStatuses": [
            {"name": "app", "state": {"waiting": {"reason": "CrashLoopBackOff"}},
             "lastState": {"terminated": {"exitCode": 1}}},
            {"name": "new", "state": {"waiting": {"reason": "ContainerCreating"}}, "lastState": {}},
            {"name": "up", "state": {"running": {}}, "lastState": {"terminated": {}}}
        ]}});
        assert!(waiting_after_a_run(&pod, "app"));
        assert!(!waiting_after_a_run(&pod, "new"));
        assert!(!waiting_after_a_run(&pod, "up"));
        assert!(!waiting_after_a_run(&pod, "nosuch"));
    }

    #[test]
    fn cri_lines() {
        let l = "2026-01-01T00:00:00.000000001Z stdout F hello";
        assert_eq!(cri_line(l, false, None).unwrap(), "hello\n");
        assert_eq!(
            cri_line(l, true, None).unwrap(),
            "2026-01-01T00:00:00.000000001Z hello\n"
        );
        let since = chrono::DateTime::parse_from_rfc3339("2026-06-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert!(cri_line(l, false, Some(since)).is_none());
    }
}
