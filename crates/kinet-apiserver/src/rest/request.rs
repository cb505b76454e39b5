//! What every REST handler reads from a request and writes into a response:
//! the query, the representation asked for (objects or server-side tables), the
//! body (JSON, YAML or protobuf), write options, warnings, streamed bodies.

use crate::Body;
use crate::header_str;
use crate::objects::{FieldValidation, WriteOpts};
use crate::status::ApiError;
use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use serde_json::Value;
use std::collections::HashMap;

const MAX_BODY: usize = 3 * 1024 * 1024;

/// The decoded query parameters (the last value of a repeated one wins).
pub(crate) type Query = HashMap<String, String>;

pub(crate) fn query_map(req: &Request<Incoming>) -> Query {
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

pub(crate) fn truthy(q: &Query, k: &str) -> bool {
    q.get(k).is_some_and(|v| v == "true" || v == "1")
}

/// What representation the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Repr {
    Object,
    /// A meta.k8s.io/v1 Table; `include` is None, Metadata or Object.
    Table(Include),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Include {
    None,
    Metadata,
    Object,
}

pub(crate) fn repr(req: &Request<Incoming>, q: &Query) -> Repr {
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

pub(crate) async fn read_body(
    req: Request<Incoming>,
) -> Result<(http::request::Parts, Bytes), ApiError> {
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

pub(crate) fn decode_object(parts: &http::request::Parts, body: &[u8]) -> Result<Value, ApiError> {
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

pub(crate) fn write_opts(q: &Query) -> Result<WriteOpts, ApiError> {
    Ok(WriteOpts {
        dry_run: q.get("dryRun").is_some_and(|v| v == "All"),
        validation: FieldValidation::parse(q.get("fieldValidation").map(String::as_str))?,
    })
}

pub(crate) fn with_warnings(mut resp: Response<Body>, warnings: &[String]) -> Response<Body> {
    for w in warnings {
        if let Ok(v) = format!("299 - \"{}\"", w.replace('"', "\\\"")).parse() {
            resp.headers_mut().append(header::WARNING, v);
        }
    }
    resp
}

/// A body fed by a channel: each message is the next chunk.
pub(crate) fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Frame<Bytes>, std::io::Error>>,
) -> impl futures::Stream<Item = Result<Frame<Bytes>, std::io::Error>> + Send + 'static {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

pub(crate) fn stream_response<S>(s: S) -> Response<Body>
where
    S: futures::Stream<Item = Result<Frame<Bytes>, std::io::Error>> + Send + Sync + 'static,
{
    let mut r = crate::response(
        StatusCode::OK,
        "application/json",
        BodyExt::boxed(StreamBody::new(s)),
    );
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-cache, private"),
    );
    r
}
