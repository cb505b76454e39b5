//! The REST layer: resource paths and verbs, query parameters, content
//! negotiation (JSON, YAML bodies, server-side tables) and watch streams.

use crate::objects::{FieldValidation, Objects, WriteOpts};
use crate::status::ApiError;
use crate::{ApiServer, Body, error, header_str, json};
use bytes::Bytes;
use chrono::Utc;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use kinet_model::resources::{self, Resource};
use kinet_model::selector::{FieldSelector, LabelSelector};
use kinet_model::table;
use kinet_store::{EventType, StoreError};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

const MAX_BODY: usize = 3 * 1024 * 1024;

/// A parsed resource path.
#[derive(Debug, Clone)]
pub struct Target {
    pub res: &'static Resource,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub sub: Option<String>,
}

/// Parses `/api/v1/...` and `/apis/G/V/...` resource paths.
pub fn parse_path(path: &str) -> Result<Option<Target>, ApiError> {
    let segs: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let (group, version, rest) = match segs.first().map(String::as_str) {
        Some("api") if segs.len() >= 2 => ("", segs[1].as_str(), &segs[2..]),
        Some("apis") if segs.len() >= 3 => (segs[1].as_str(), segs[2].as_str(), &segs[3..]),
        _ => return Ok(None),
    };
    if rest.is_empty() {
        return Ok(None);
    }
    let find =
        |plural: &str| resources::find(group, version, plural).ok_or_else(ApiError::no_resource);
    let t = |res, ns: Option<&String>, name: Option<&String>, sub: Option<&String>| Target {
        res,
        namespace: ns.cloned(),
        name: name.cloned(),
        sub: sub.cloned(),
    };
    let target = match rest {
        [ns_kw, ns, plural, tail @ ..]
            if ns_kw == "namespaces" && !(plural == "status" || plural == "finalize") =>
        {
            let r = find(plural)?;
            if !r.namespaced {
                return Err(ApiError::no_resource());
            }
            match tail {
                [] => t(r, Some(ns), None, None),
                [name] => t(r, Some(ns), Some(name), None),
                [name, sub] if r.subresources.contains(&sub.as_str()) => {
                    t(r, Some(ns), Some(name), Some(sub))
                }
                // pods/NAME/proxy/PATH…: the path goes to the pod
                [name, sub, ..] if sub == "proxy" && r.subresources.contains(&"proxy") => {
                    t(r, Some(ns), Some(name), Some(sub))
                }
                _ => return Err(ApiError::no_resource()),
            }
        }
        [plural, tail @ ..] => {
            let r = find(plural)?;
            match tail {
                [] => t(r, None, None, None),
                [name] if !r.namespaced => t(r, None, Some(name), None),
                [name, sub] if !r.namespaced && r.subresources.contains(&sub.as_str()) => {
                    t(r, None, Some(name), Some(sub))
                }
                _ => return Err(ApiError::no_resource()),
            }
        }
        _ => return Err(ApiError::no_resource()),
    };
    Ok(Some(target))
}

fn query_map(req: &Request<Incoming>) -> HashMap<String, String> {
    req.uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            let dec = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (dec(k), dec(v))
        })
        .collect()
}

fn truthy(q: &HashMap<String, String>, k: &str) -> bool {
    q.get(k).is_some_and(|v| v == "true" || v == "1")
}

/// What representation the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Repr {
    Object,
    /// A meta.k8s.io/v1 Table; `include` is None, Metadata or Object.
    Table(Include),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Include {
    None,
    Metadata,
    Object,
}

fn repr(req: &Request<Incoming>, q: &HashMap<String, String>) -> Repr {
    let accept = header_str(req, header::ACCEPT);
    if accept.contains("as=Table") && accept.contains("g=meta.k8s.io") {
        let include = match q.get("includeObject").map(String::as_str) {
            Some("None") => Include::None,
            Some("Object") => Include::Object,
            _ => Include::Metadata,
        };
        Repr::Table(include)
    } else {
        Repr::Object
    }
}

async fn read_body(req: Request<Incoming>) -> Result<(http::request::Parts, Bytes), ApiError> {
    let (parts, body) = req.into_parts();
    let bytes = http_body_util::Limited::new(body, MAX_BODY)
        .collect()
        .await
        .map_err(|e| {
            ApiError::new(
                413,
                "RequestEntityTooLarge",
                format!("request body too large or unreadable: {e}"),
            )
        })?
        .to_bytes();
    Ok((parts, bytes))
}

fn decode_object(parts: &http::request::Parts, body: &[u8]) -> Result<Value, ApiError> {
    let ct = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    if ct.contains("yaml") {
        serde_yaml::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))
    } else if kinet_model::proto::is_protobuf(ct) {
        kinet_model::proto::decode(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding protobuf: {e}")))
    } else {
        serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!(
                "Object 'Kind' is missing in '{}': {e}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ))
        })
    }
}

fn write_opts(q: &HashMap<String, String>) -> Result<WriteOpts, ApiError> {
    Ok(WriteOpts {
        dry_run: q.get("dryRun").is_some_and(|v| v == "All"),
        validation: FieldValidation::parse(q.get("fieldValidation").map(String::as_str))?,
    })
}

fn with_warnings(mut resp: Response<Body>, warnings: &[String]) -> Response<Body> {
    for w in warnings {
        if let Ok(v) = format!("299 - \"{}\"", w.replace('"', "\\\"")).parse() {
            resp.headers_mut().append(header::WARNING, v);
        }
    }
    resp
}

pub async fn handle(api: Arc<ApiServer>, req: Request<Incoming>) -> Response<Body> {
    match dispatch(api, req).await {
        Ok(r) => r,
        Err(e) => error(&e),
    }
}

async fn dispatch(api: Arc<ApiServer>, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let Some(t) = parse_path(req.uri().path())? else {
        // group or version documents
        let segs: Vec<&str> = req.uri().path().trim_matches('/').split('/').collect();
        let doc = match segs.as_slice() {
            ["api", v] => crate::discovery::resource_list("", v),
            ["apis", g] => crate::discovery::api_group(g),
            ["apis", g, v] => crate::discovery::resource_list(g, v),
            _ => None,
        };
        return doc
            .map(|d| json(StatusCode::OK, &d))
            .ok_or_else(ApiError::no_resource);
    };
    if matches!(t.sub.as_deref(), Some("exec" | "attach" | "portforward"))
        && t.res.plural == "pods"
        && t.name.is_some()
        && matches!(*req.method(), Method::GET | Method::POST)
    {
        let ns = t.namespace.clone().unwrap_or_else(|| "default".into());
        let name = t.name.clone().unwrap_or_default();
        return Ok(match t.sub.as_deref() {
            Some("exec") => crate::exec::handle(api, req, &ns, &name).await,
            Some("attach") => crate::exec::handle_attach(api, req, &ns, &name).await,
            _ => crate::portforward::handle(api, req, &ns, &name).await,
        });
    }
    if t.sub.as_deref() == Some("proxy")
        && matches!(t.res.plural, "pods" | "services")
        && let (Some(ns), Some(name)) = (t.namespace.clone(), t.name.clone())
    {
        // the name as sent (it may carry a port: `web:8080`)
        let raw = req
            .uri()
            .path()
            .split('/')
            .skip_while(|s| *s != t.res.plural)
            .nth(1)
            .unwrap_or(&name)
            .to_string();
        return crate::proxy::handle(api, req, t.res.plural, &ns, &raw).await;
    }
    let q = query_map(&req);
    let objects = Objects::new(api.store.clone());
    let r = t.res;
    let ns = t.namespace.as_deref();
    let method = req.method().clone();
    match (&method, t.name.as_deref(), t.sub.as_deref()) {
        (&Method::GET, None, None) => {
            let rp = repr(&req, &q);
            if truthy(&q, "watch") {
                watch(api, &t, &q, rp)
            } else {
                list(&api, &t, &q, rp)
            }
        }
        (&Method::GET, Some(name), None | Some("status") | Some("ephemeralcontainers")) => {
            let obj = objects.get(r, ns, name)?;
            Ok(match repr(&req, &q) {
                Repr::Table(inc) => json(
                    StatusCode::OK,
                    &make_table(r, &[obj], inc, true, api.store.rev()),
                ),
                Repr::Object => json(StatusCode::OK, &obj),
            })
        }
        (&Method::GET, Some(name), Some("log")) => {
            logs(&api, &objects, r, ns.unwrap_or("default"), name, &q).await
        }
        (&Method::POST, None, None) => {
            let opts = write_opts(&q)?;
            let (parts, body) = read_body(req).await?;
            let obj = decode_object(&parts, &body)?;
            let w = objects.create(r, ns, obj, opts)?;
            Ok(with_warnings(
                json(StatusCode::CREATED, &w.object),
                &w.warnings,
            ))
        }
        (&Method::POST, Some(name), Some("token")) if r.plural == "serviceaccounts" => {
            let (parts, body) = read_body(req).await?;
            let b = if body.is_empty() {
                json!({})
            } else {
                decode_object(&parts, &body)?
            };
            let signer = api
                .signer
                .as_ref()
                .ok_or_else(|| ApiError::internal("no service-account signing key"))?;
            let tr = crate::tokens::token_request(
                &api.store,
                signer,
                ns.unwrap_or("default"),
                name,
                &b,
                Utc::now(),
            )?;
            Ok(json(StatusCode::CREATED, &tr))
        }
        (&Method::POST, Some(name), Some("binding")) => {
            let (parts, body) = read_body(req).await?;
            let b = decode_object(&parts, &body)?;
            let node = b
                .pointer("/target/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            bind(&objects, r, ns.unwrap_or("default"), name, &node)?;
            Ok(json(
                StatusCode::CREATED,
                &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
            ))
        }
        (
            &Method::PUT,
            Some(name),
            sub @ (None | Some("status") | Some("finalize") | Some("ephemeralcontainers")),
        ) => {
            let opts = write_opts(&q)?;
            let (parts, body) = read_body(req).await?;
            let obj = decode_object(&parts, &body)?;
            let w = if sub == Some("finalize") {
                finalize_namespace(&objects, r, name, obj)?
            } else {
                objects.update(r, ns, name, sub, obj, opts)?
            };
            Ok(with_warnings(json(StatusCode::OK, &w.object), &w.warnings))
        }
        (
            &Method::PATCH,
            Some(name),
            sub @ (None | Some("status") | Some("ephemeralcontainers")),
        ) => {
            let opts = write_opts(&q)?;
            let (parts, body) = read_body(req).await?;
            let ct = parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let sub = match sub {
                Some(s @ ("status" | "ephemeralcontainers"))
                    if r.kind == "Pod" || s == "status" =>
                {
                    Some(s)
                }
                _ => None,
            };
            let w = objects.patch(r, ns, name, sub, &ct, &body, opts)?;
            Ok(with_warnings(json(StatusCode::OK, &w.object), &w.warnings))
        }
        (&Method::DELETE, Some(name), None) => {
            let (parts, body) = read_body(req).await?;
            let opts: Value = if body.is_empty() {
                json!({})
            } else {
                decode_object(&parts, &body)?
            };
            let grace = q
                .get("gracePeriodSeconds")
                .and_then(|g| g.parse().ok())
                .or_else(|| opts.get("gracePeriodSeconds").and_then(Value::as_i64));
            let uid = opts.pointer("/preconditions/uid").and_then(Value::as_str);
            let dry = q.get("dryRun").is_some_and(|v| v == "All")
                || opts
                    .get("dryRun")
                    .and_then(Value::as_array)
                    .is_some_and(|a| a.iter().any(|v| v == "All"));
            let (obj, gone) = objects.delete(r, ns, name, grace, uid, dry)?;
            let code = if gone || dry {
                StatusCode::OK
            } else {
                StatusCode::ACCEPTED
            };
            Ok(json(
                if r.kind == "Pod" || r.kind == "Namespace" {
                    StatusCode::OK
                } else {
                    code
                },
                &obj,
            ))
        }
        (&Method::DELETE, None, None) => {
            let ls = label_selector(&q)?;
            let fs = field_selector(r, &q)?;
            let prefix = resources::store_prefix(r, ns);
            let (items, _) = api.store.list(&prefix);
            let mut deleted = Vec::new();
            for o in items
                .iter()
                .filter(|o| ls.matches_object(o) && fs.matches(o))
            {
                let name = crate::objects::name_of(o);
                let ons = o.pointer("/metadata/namespace").and_then(Value::as_str);
                if let Ok((obj, _)) = objects.delete(r, ons, name, None, None, false) {
                    deleted.push((*obj).clone());
                }
            }
            Ok(json(
                StatusCode::OK,
                &json!({"kind": format!("{}List", r.kind), "apiVersion": r.api_version(), "metadata": {}, "items": deleted}),
            ))
        }
        (&Method::GET | &Method::PUT | &Method::PATCH, Some(name), Some("scale")) => {
            let method = method.clone();
            let (parts, body) = read_body(req).await?;
            scale(&objects, r, ns, name, &method, &parts, &body)
        }
        (_, Some(_), Some("exec" | "attach" | "portforward")) => {
            Err(ApiError::new(400, "BadRequest", "Upgrade request required"))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn label_selector(q: &HashMap<String, String>) -> Result<LabelSelector, ApiError> {
    LabelSelector::parse(q.get("labelSelector").map(String::as_str).unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))
}

fn field_selector(r: &Resource, q: &HashMap<String, String>) -> Result<FieldSelector, ApiError> {
    let fs = FieldSelector::parse(q.get("fieldSelector").map(String::as_str).unwrap_or(""))
        .map_err(ApiError::bad_request)?;
    fs.check(r.kind).map_err(ApiError::bad_request)?;
    Ok(fs)
}

fn list(
    api: &ApiServer,
    t: &Target,
    q: &HashMap<String, String>,
    rp: Repr,
) -> Result<Response<Body>, ApiError> {
    let r = t.res;
    let ls = label_selector(q)?;
    let fs = field_selector(r, q)?;
    let (items, rev) = api
        .store
        .list(&resources::store_prefix(r, t.namespace.as_deref()));
    let items: Vec<Arc<Value>> = items
        .into_iter()
        .filter(|o| ls.matches_object(o) && fs.matches(o))
        .collect();
    Ok(match rp {
        Repr::Table(inc) => json(StatusCode::OK, &make_table(r, &items, inc, true, rev)),
        Repr::Object => json(
            StatusCode::OK,
            &json!({
                "kind": format!("{}List", r.kind),
                "apiVersion": r.api_version(),
                "metadata": {"resourceVersion": rev.to_string()},
                "items": items.iter().map(|o| o.as_ref()).collect::<Vec<_>>(),
            }),
        ),
    })
}

/// A server-side Table of objects, with column definitions unless `headers` is false.
fn make_table(r: &Resource, items: &[Arc<Value>], inc: Include, headers: bool, rev: u64) -> Value {
    let now = Utc::now();
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            let mut row = json!({"cells": table::cells(r.kind, o, now)});
            match inc {
                Include::None => {}
                Include::Object => row["object"] = (**o).clone(),
                Include::Metadata => row["object"] = table::partial_object_metadata(o),
            }
            row
        })
        .collect();
    let cols: Vec<Value> = if headers {
        table::columns(r.kind)
            .iter()
            .map(table::Column::to_json)
            .collect()
    } else {
        Vec::new()
    };
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": rev.to_string()},
        "columnDefinitions": cols,
        "rows": rows,
    })
}

fn watch(
    api: Arc<ApiServer>,
    t: &Target,
    q: &HashMap<String, String>,
    rp: Repr,
) -> Result<Response<Body>, ApiError> {
    let r = t.res;
    let ls = label_selector(q)?;
    let fs = field_selector(r, q)?;
    let from: Option<u64> = match q.get("resourceVersion").map(String::as_str) {
        None | Some("") => None,
        Some("0") => Some(0),
        Some(s) => Some(
            s.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version {s:?}")))?,
        ),
    };
    let prefix = resources::store_prefix(r, t.namespace.as_deref());
    let bookmarks = truthy(q, "allowWatchBookmarks");
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(1800);
    // "0" or no version: start with the current state as ADDED events
    let initial: Vec<Arc<Value>> = if from.is_none() || from == Some(0) {
        let (items, _) = api.store.list(&prefix);
        items
    } else {
        Vec::new()
    };
    let start = if from == Some(0) { None } else { from };
    let mut w = match api.store.watch(&prefix, start) {
        Ok(w) => w,
        Err(StoreError::Gone { requested, oldest }) => {
            // as the API server does: a 200 stream with one ERROR event
            let e = ApiError::gone(format!("too old resource version: {requested} ({oldest})"));
            let line =
                serde_json::to_vec(&json!({"type": "ERROR", "object": e.to_status()})).unwrap();
            return Ok(stream_response(futures::stream::iter(vec![Ok::<
                _,
                std::io::Error,
            >(
                Frame::data(Bytes::from([line, b"\n".to_vec()].concat())),
            )])));
        }
        Err(e) => return Err(ApiError::internal(e.to_string())),
    };
    let name_filter = t.name.clone();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(64);
    let kind = r.kind;
    let api_version = r.api_version();
    tokio::spawn(async move {
        let mut first = true;
        let encode = |typ: &str, obj: &Arc<Value>, first: &mut bool| -> Bytes {
            let object = match rp {
                Repr::Table(inc) => {
                    let res = resources::for_kind(&api_version, kind).unwrap();
                    let rev = kinet_store::resource_version(obj);
                    let tbl = make_table(res, std::slice::from_ref(obj), inc, *first, rev);
                    *first = false;
                    tbl
                }
                Repr::Object => (**obj).clone(),
            };
            let mut line = serde_json::to_vec(&json!({"type": typ, "object": object})).unwrap();
            line.push(b'\n');
            Bytes::from(line)
        };
        let matches = |o: &Value| {
            ls.matches_object(o)
                && fs.matches(o)
                && name_filter
                    .as_deref()
                    .is_none_or(|n| crate::objects::name_of(o) == n)
        };
        for o in &initial {
            if matches(o)
                && tx
                    .send(Ok(Frame::data(encode("ADDED", o, &mut first))))
                    .await
                    .is_err()
            {
                return;
            }
        }
        // like the API server, a watch that allows bookmarks gets one just before it times out
        let deadline = tokio::time::sleep(Duration::from_secs(timeout));
        tokio::pin!(deadline);
        let last_call =
            tokio::time::sleep(Duration::from_millis((timeout * 1000).saturating_sub(500)));
        tokio::pin!(last_call);
        let mut last_called = false;
        let mut tick = tokio::time::interval(Duration::from_secs(30));
        tick.tick().await;
        let mut last_rev = api.store.rev();
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = &mut last_call, if bookmarks && !last_called => {
                    last_called = true;
                    let bm = json!({"type": "BOOKMARK", "object": {"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": last_rev.to_string(), "annotations": {"k8s.io/initial-events-end": "false"}}}});
                    let mut line = serde_json::to_vec(&bm).unwrap();
                    line.push(b'\n');
                    if tx.send(Ok(Frame::data(Bytes::from(line)))).await.is_err() { return; }
                }
                _ = tx.closed() => return,
                _ = tick.tick(), if bookmarks => {
                    let bm = json!({"type": "BOOKMARK", "object": {"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": last_rev.to_string()}}});
                    let mut line = serde_json::to_vec(&bm).unwrap();
                    line.push(b'\n');
                    if tx.send(Ok(Frame::data(Bytes::from(line)))).await.is_err() { return; }
                }
                ev = w.next() => {
                    let ev = match ev {
                        Ok(ev) => ev,
                        Err(StoreError::Gone { requested, oldest }) => {
                            let e = ApiError::gone(format!("too old resource version: {requested} ({oldest})"));
                            let line = serde_json::to_vec(&json!({"type": "ERROR", "object": e.to_status()})).unwrap();
                            let _ = tx.send(Ok(Frame::data(Bytes::from([line, b"\n".to_vec()].concat())))).await;
                            return;
                        }
                        Err(_) => return,
                    };
                    last_rev = ev.rev;
                    let now = matches(&ev.object);
                    let before = ev.prev.as_ref().is_some_and(|p| matches(p));
                    let typ = match (ev.kind, before, now) {
                        (EventType::Deleted, true, _) | (EventType::Deleted, _, true) => "DELETED",
                        (EventType::Added, _, true) => "ADDED",
                        (EventType::Modified, true, true) => "MODIFIED",
                        (EventType::Modified, false, true) => "ADDED",
                        (EventType::Modified, true, false) => "DELETED",
                        _ => continue,
                    };
                    if tx.send(Ok(Frame::data(encode(typ, &ev.object, &mut first)))).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    Ok(stream_response(tokio_stream_from(rx)))
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Frame<Bytes>, std::io::Error>>,
) -> impl futures::Stream<Item = Result<Frame<Bytes>, std::io::Error>> + Send + 'static {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

fn stream_response<S>(s: S) -> Response<Body>
where
    S: futures::Stream<Item = Result<Frame<Bytes>, std::io::Error>> + Send + Sync + 'static,
{
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-cache, private")
        .body(BodyExt::boxed(StreamBody::new(s)))
        .unwrap()
}

/// POST pods/NAME/binding: assigns the pod to a node.
pub fn bind(
    objects: &Objects,
    r: &Resource,
    ns: &str,
    name: &str,
    node: &str,
) -> Result<(), ApiError> {
    let key = resources::store_key(r, Some(ns), name);
    let mut already = false;
    objects
        .store
        .update_with(&key, |p| {
            if p.pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .is_some_and(|n| !n.is_empty())
            {
                already = true;
                return false;
            }
            p["spec"]["nodeName"] = json!(node);
            true
        })
        .map_err(|_| ApiError::not_found("pods", name))?;
    if already {
        return Err(ApiError::conflict("pods", name));
    }
    Ok(())
}

fn finalize_namespace(
    objects: &Objects,
    r: &Resource,
    name: &str,
    obj: Value,
) -> Result<crate::objects::Written, ApiError> {
    let key = resources::store_key(r, None, name);
    let finalizers = obj
        .pointer("/spec/finalizers")
        .cloned()
        .unwrap_or(json!([]));
    let o = objects
        .store
        .update_with(&key, |n| {
            n["spec"]["finalizers"] = finalizers.clone();
            true
        })
        .map_err(|_| ApiError::not_found("namespaces", name))?;
    Ok(crate::objects::Written {
        object: o,
        warnings: vec![],
    })
}

async fn logs(
    api: &ApiServer,
    objects: &Objects,
    r: &Resource,
    ns: &str,
    name: &str,
    q: &HashMap<String, String>,
) -> Result<Response<Body>, ApiError> {
    let pod = objects.get(r, Some(ns), name)?;
    let container = pick_container(&pod, q.get("container").map(String::as_str))?;
    let uid = pod
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("");
    let previous = truthy(q, "previous");
    let path = api
        .hooks
        .as_ref()
        .and_then(|h| h.log_path(ns, name, uid, &container, previous));
    let Some(path) = path.filter(|p| p.exists()) else {
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
        .filter_map(|l| crate::rest::cri_line(l, timestamps, since))
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
        return Ok(Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "text/plain")
            .body(crate::full(out))
            .unwrap());
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
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/plain")
        .body(BodyExt::boxed(StreamBody::new(tokio_stream_from(rx))))
        .unwrap())
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

/// The autoscaling/v1 Scale of a workload.
fn scale_of(obj: &Value) -> Value {
    let selector = obj
        .pointer("/spec/selector")
        .map(|sel| {
            let mut parts: Vec<String> = sel
                .get("matchLabels")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                        .collect()
                })
                .unwrap_or_default();
            parts.sort();
            parts.join(",")
        })
        .unwrap_or_default();
    let meta = &obj["metadata"];
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"], "creationTimestamp": meta["creationTimestamp"]
        },
        "spec": {"replicas": obj.pointer("/spec/replicas").cloned().unwrap_or(json!(1))},
        "status": {"replicas": obj.pointer("/status/replicas").cloned().unwrap_or(json!(0)), "selector": selector}
    })
}

/// GET, PUT and PATCH of `…/scale`: reads and sets `spec.replicas`.
fn scale(
    objects: &Objects,
    r: &'static Resource,
    ns: Option<&str>,
    name: &str,
    method: &Method,
    parts: &http::request::Parts,
    body: &[u8],
) -> Result<Response<Body>, ApiError> {
    let cur = objects.get(r, ns, name)?;
    let current = scale_of(&cur);
    let wanted = match *method {
        Method::GET => return Ok(json(StatusCode::OK, &current)),
        Method::PUT => decode_object(parts, body)?,
        _ => {
            let ct = parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let p: Value = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
            match ct.split(';').next().unwrap_or("") {
                "application/json-patch+json" => kinet_model::patch::json_patch(&current, &p)
                    .map_err(|e| ApiError::new(422, "Invalid", e.to_string()))?,
                "application/strategic-merge-patch+json" => {
                    kinet_model::patch::strategic_merge_patch(&current, &p, "Scale")
                        .map_err(|e| ApiError::new(422, "Invalid", e.to_string()))?
                }
                _ => kinet_model::patch::json_merge_patch(&current, &p),
            }
        }
    };
    let replicas = wanted
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if replicas < 0 {
        let c = kinet_model::validation::Cause {
            reason: "FieldValueInvalid",
            field: "spec.replicas".into(),
            message: format!("Invalid value: {replicas}: must be greater than or equal to 0"),
        };
        return Err(ApiError::invalid("Scale", "autoscaling", name, &[c]));
    }
    let patch = json!({"spec": {"replicas": replicas}});
    let w = objects.patch(
        r,
        ns,
        name,
        None,
        "application/merge-patch+json",
        &serde_json::to_vec(&patch).unwrap(),
        WriteOpts::default(),
    )?;
    Ok(json(StatusCode::OK, &scale_of(&w.object)))
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
    fn parses_resource_paths() {
        let t = parse_path("/api/v1/namespaces/default/pods/web/log")
            .unwrap()
            .unwrap();
        assert_eq!(
            (
                t.res.plural,
                t.namespace.as_deref(),
                t.name.as_deref(),
                t.sub.as_deref()
            ),
            ("pods", Some("default"), Some("web"), Some("log"))
        );
        let t = parse_path("/api/v1/pods").unwrap().unwrap();
        assert!(t.namespace.is_none() && t.name.is_none());
        let t = parse_path("/api/v1/namespaces/kube-system")
            .unwrap()
            .unwrap();
        assert_eq!(
            (t.res.plural, t.name.as_deref()),
            ("namespaces", Some("kube-system"))
        );
        let t = parse_path("/api/v1/namespaces/x/finalize")
            .unwrap()
            .unwrap();
        assert_eq!(t.sub.as_deref(), Some("finalize"));
        let t = parse_path("/apis/apps/v1/namespaces/d/deployments/web/scale")
            .unwrap()
            .unwrap();
        assert_eq!(t.sub.as_deref(), Some("scale"));
        assert!(parse_path("/api/v1/nosuch").is_err());
        assert!(parse_path("/api/v1/namespaces/d/pods/x/nosuch").is_err());
        assert!(parse_path("/api/v1").unwrap().is_none());
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
