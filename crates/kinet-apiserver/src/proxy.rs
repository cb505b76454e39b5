//! `pods/NAME/proxy/PATH` and `services/NAME/proxy/PATH`: the API server relays
//! an HTTP request to a pod (what `kubectl proxy` users reach through
//! `http://localhost:8001/api/v1/namespaces/NS/pods/NAME/proxy/`). Names take the
//! forms `NAME`, `NAME:PORT` and `SCHEME:NAME:PORT`; the port may be a number or
//! a port name.

use crate::status::ApiError;
use crate::{ApiServer, Body};
use http::{Request, Response, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use kinet_model::resources;
use serde_json::Value;
use std::sync::Arc;

/// `[scheme:]name[:port]` split into its parts.
pub fn split_name(s: &str) -> (Option<&str>, &str, Option<&str>) {
    let parts: Vec<&str> = s.split(':').collect();
    match parts.as_slice() {
        [name] => (None, name, None),
        [name, port] => (None, name, Some(*port).filter(|p| !p.is_empty())),
        [scheme, name, port] => (
            Some(*scheme).filter(|s| !s.is_empty()),
            name,
            Some(*port).filter(|p| !p.is_empty()),
        ),
        _ => (None, s, None),
    }
}

/// The part of a request path after `/NAME/proxy`, kept as sent (at least "/").
pub fn rest_of_path<'a>(path: &'a str, raw_name: &str) -> &'a str {
    let marker = format!("/{raw_name}/proxy");
    match path.find(&marker) {
        Some(i) => {
            let rest = &path[i + marker.len()..];
            if rest.is_empty() { "/" } else { rest }
        }
        None => "/",
    }
}

/// A container port of `pod` by number or name (numbers need not be declared).
pub fn pod_port(pod: &Value, port: Option<&str>) -> Result<u16, String> {
    let Some(p) = port else { return Ok(80) };
    if let Ok(n) = p.parse::<u16>() {
        return Ok(n);
    }
    pod.pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
        .find(|cp| cp["name"] == p)
        .and_then(|cp| cp["containerPort"].as_u64())
        .map(|n| n as u16)
        .ok_or_else(|| format!("no such port: {p}"))
}

/// The pod and target port behind a Service port (by number or name): the
/// first ready pod its selector picks.
pub fn service_backend(
    svc: &Value,
    pods: &[Arc<Value>],
    port: Option<&str>,
) -> Result<(Arc<Value>, u16), String> {
    let name = kinet_model::json::name(svc);
    let ports = kinet_model::json::arr_at(svc, "/spec/ports").to_vec();
    let sp = match port {
        None if ports.len() == 1 => ports[0].clone(),
        None => {
            return Err(format!(
                "no endpoints available for service \"{name}\" (a port name or number is needed)"
            ));
        }
        Some(p) => ports
            .iter()
            .find(|sp| {
                sp["name"] == p || sp["port"].as_u64().map(|n| n.to_string()) == Some(p.to_string())
            })
            .cloned()
            .ok_or_else(|| format!("no endpoints available for service \"{name}\""))?,
    };
    let selector = svc
        .pointer("/spec/selector")
        .filter(|s| s.as_object().is_some_and(|m| !m.is_empty()))
        .and_then(|m| {
            kinet_model::selector::LabelSelector::from_object(
                &serde_json::json!({"matchLabels": m}),
            )
            .ok()
        })
        .ok_or_else(|| format!("no endpoints available for service \"{name}\""))?;
    let ready = |p: &Value| kinet_model::pod::is_ready(p) && !kinet_model::pod::is_terminating(p);
    let pod = pods
        .iter()
        .find(|p| selector.matches_object(p) && ready(p))
        .cloned()
        .ok_or_else(|| format!("no endpoints available for service \"{name}\""))?;
    let target = match &sp["targetPort"] {
        Value::Number(n) => n.as_u64().unwrap_or(0) as u16,
        Value::String(s) => pod_port(&pod, Some(s))?,
        _ => sp["port"].as_u64().unwrap_or(0) as u16,
    };
    Ok((pod, target))
}

pub async fn handle(
    api: Arc<ApiServer>,
    req: Request<Incoming>,
    plural: &str,
    ns: &str,
    raw_name: &str,
) -> Result<Response<Body>, ApiError> {
    let (scheme, name, port) = split_name(raw_name);
    if scheme.is_some_and(|s| s != "http") {
        return Err(ApiError::new(
            503,
            "ServiceUnavailable",
            "error trying to reach service: kinet's proxy speaks plain http to pods",
        ));
    }
    let pods_r = resources::find("", "v1", "pods").unwrap();
    let (pod, target) = if plural == "services" {
        let svc_r = resources::find("", "v1", "services").unwrap();
        let svc = api
            .store
            .get(&resources::store_key(svc_r, Some(ns), name))
            .ok_or_else(|| ApiError::not_found("services", name))?;
        let (pods, _) = api.store.list(&resources::store_prefix(pods_r, Some(ns)));
        service_backend(&svc, &pods, port)
            .map_err(|m| ApiError::new(503, "ServiceUnavailable", m))?
    } else {
        let pod = api
            .store
            .get(&resources::store_key(pods_r, Some(ns), name))
            .ok_or_else(|| ApiError::not_found("pods", name))?;
        let p = pod_port(&pod, port).map_err(|m| ApiError::new(503, "ServiceUnavailable", m))?;
        (pod, p)
    };
    let ip = pod
        .pointer("/status/podIP")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if ip.is_empty() {
        return Err(ApiError::new(
            503,
            "ServiceUnavailable",
            format!("pod {name} does not have an IP address"),
        ));
    }
    let hooks = api
        .hooks
        .clone()
        .ok_or_else(|| ApiError::internal("no node agents"))?;
    let unreachable = |m: String| {
        ApiError::new(
            503,
            "ServiceUnavailable",
            format!("error trying to reach service: {m}"),
        )
    };
    let tcp = hooks.dial(&pod, target).await.map_err(unreachable)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    tokio::spawn(conn);
    let path = rest_of_path(req.uri().path(), raw_name).to_string();
    let pq = match req.uri().query() {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    let (mut parts, body) = req.into_parts();
    parts.uri = pq.parse().map_err(|_| ApiError::bad_request("bad path"))?;
    parts.headers.remove(header::AUTHORIZATION);
    parts.headers.insert(
        header::HOST,
        format!("{ip}:{target}")
            .parse()
            .map_err(|_| ApiError::internal("bad host"))?,
    );
    let resp = sender
        .send_request(Request::from_parts(parts, body))
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    let (parts, body) = resp.into_parts();
    Ok(Response::from_parts(
        parts,
        body.map_err(std::io::Error::other).boxed(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_paths_and_ports() {
        assert_eq!(split_name("web"), (None, "web", None));
        assert_eq!(split_name("web:8080"), (None, "web", Some("8080")));
        assert_eq!(
            split_name("https:web:443"),
            (Some("https"), "web", Some("443"))
        );
        assert_eq!(
            rest_of_path("/api/v1/namespaces/d/pods/web:80/proxy/a/b", "web:80"),
            "/a/b"
        );
        assert_eq!(
            rest_of_path("/api/v1/namespaces/d/pods/web/proxy", "web"),
            "/"
        );
        let pod =
            json!({"spec": {"containers": [{"ports": [{"name": "http", "containerPort": 8080}]}]}});
        assert_eq!(pod_port(&pod, None), Ok(80));
        assert_eq!(pod_port(&pod, Some("http")), Ok(8080));
        assert_eq!(pod_port(&pod, Some("9000")), Ok(9000));
        assert!(pod_port(&pod, Some("grpc")).is_err());
    }

    #[test]
    fn services_pick_a_ready_pod_and_its_target_port() {
        let svc = json!({"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}});
        let pod = |name: &str, ready: &str| {
            Arc::new(json!({
                "metadata": {"name": name, "labels": {"app": "web"}},
                "spec": {"containers": [{"ports": [{"name": "http", "containerPort": 8080}]}]},
                "status": {"conditions": [{"type": "Ready", "status": ready}]}
            }))
        };
        let pods = vec![pod("a", "False"), pod("b", "True")];
        let (p, port) = service_backend(&svc, &pods, None).unwrap();
        assert_eq!(p["metadata"]["name"], "b");
        assert_eq!(port, 8080);
        assert_eq!(service_backend(&svc, &pods, Some("http")).unwrap().1, 8080);
        assert!(
            service_backend(&svc, &[pod("a", "False")], None)
                .unwrap_err()
                .contains("no endpoints available for service \"web\"")
        );
    }
}
