//! What every REST handler reads from a request and writes into a response:
//! the query, the representation asked for (objects or server-side tables), the
//! body (JSON, YAML or protobuf), write options, warnings, streamed bodies.

use super::nesting;
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

/// A boolean query parameter as the API server's parameter codec reads it
/// (`Convert_Slice_string_To_bool`): absent, "0" and "false" (any case) are
/// false; any other value, the empty one included, is true.
pub(crate) fn truthy(q: &Query, k: &str) -> bool {
    q.get(k)
        .is_some_and(|v| v != "0" && !v.eq_ignore_ascii_case("false"))
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

/// Upstream's `maxRequestBodyBytes`.
const MAX_BODY: usize = 3 * 1024 * 1024;

/// How much of a too large body is read and dropped before answering.
const DRAIN_MAX: usize = 4 * MAX_BODY;

/// Bodies above this size are checked and decoded on a blocking thread, so one
/// large request never holds an executor thread.
const INLINE_BODY: usize = 64 * 1024;

/// A body decoded by [`read_body`] as JSON or YAML: the object, or the Status to answer.
#[derive(Clone)]
struct Decoded(Result<Value, ApiError>);

fn too_large() -> ApiError {
    ApiError::new(
        413,
        "RequestEntityTooLarge",
        format!("Request entity too large: limit is {MAX_BODY}"),
    )
}

fn content_type(parts: &http::request::Parts) -> &str {
    parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
}

/// Reads a request's body, at most upstream's 3 MiB, and refuses a JSON or YAML
/// body nested deeper than upstream's decoders allow before any parser sees it.
/// Large bodies are checked and decoded off the async executor; the decoded
/// object is kept for [`decode_object`].
pub(crate) async fn read_body(
    req: Request<Incoming>,
) -> Result<(http::request::Parts, Bytes), ApiError> {
    let (mut parts, mut body) = req.into_parts();
    let mut buf = bytes::BytesMut::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame
            .map_err(|e| ApiError::bad_request(format!("unable to read the request body: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen += data.len();
        if seen <= MAX_BODY {
            buf.extend_from_slice(&data);
        } else if seen > DRAIN_MAX {
            break;
        }
    }
    if seen > MAX_BODY {
        // read to its end (up to a bound) so the client hears the answer
        // rather than a reset stream, as Go's server does
        return Err(too_large());
    }
    let bytes = buf.freeze();
    if bytes.is_empty() {
        return Ok((parts, bytes));
    }
    let ct = content_type(&parts).to_owned();
    let kind = created_kind(&parts);
    let decoded = if bytes.len() <= INLINE_BODY {
        check_and_decode(&ct, &bytes, kind)
    } else {
        let b = bytes.clone();
        tokio::task::spawn_blocking(move || check_and_decode(&ct, &b, kind))
            .await
            .map_err(|e| ApiError::internal(format!("decoding the request body: {e}")))?
    };
    match decoded {
        Some(Decoded(Err(e))) if is_depth_error(&e) => return Err(e),
        Some(d) => {
            parts.extensions.insert(d);
        }
        None => {}
    }
    Ok((parts, bytes))
}

/// The kind a create or update of a whole object decodes its body into, as
/// upstream names it when the body does not decode.
fn created_kind(parts: &http::request::Parts) -> Option<&'static str> {
    if parts.method != http::Method::POST && parts.method != http::Method::PUT {
        return None;
    }
    match super::parse_path(parts.uri.path()) {
        Ok(Some(t)) if t.sub.is_none() => Some(t.res.kind),
        _ => None,
    }
}

const DEPTH_ERROR: &str = "exceeded max depth";

fn is_depth_error(e: &ApiError) -> bool {
    e.code == 400 && e.message.contains(DEPTH_ERROR)
}

/// The depth check, then the decoding of a JSON or YAML body (None for the
/// others: protobuf, or a JSON patch's operations).
fn check_and_decode(ct: &str, body: &[u8], kind: Option<&str>) -> Option<Decoded> {
    let yaml = ct.contains("yaml");
    let refuse = |err: String| {
        let message = match kind {
            Some(kind) => format!(
                "the object provided is unrecognized (must be of type {kind}): {err} ({})",
                nesting::summarize(body)
            ),
            None => err,
        };
        Some(Decoded(Err(ApiError::bad_request(message))))
    };
    if yaml {
        if let Some(line) = nesting::yaml_too_deep(body, nesting::MAX_DEPTH) {
            let at = if line == 0 {
                String::new()
            } else {
                format!("line {}: ", line + 1)
            };
            return refuse(format!("yaml: {at}{DEPTH_ERROR} of {}", nesting::MAX_DEPTH));
        }
    } else if nesting::json_too_deep(body, nesting::MAX_DEPTH) {
        return refuse(format!(
            "couldn't get version/kind; json parse error: {DEPTH_ERROR}"
        ));
    }
    if kinet_model::proto::is_protobuf(ct) {
        return None;
    }
    Some(Decoded(parse(ct, body)))
}

fn parse(ct: &str, body: &[u8]) -> Result<Value, ApiError> {
    if ct.contains("yaml") {
        serde_yaml::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))
    } else {
        serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!(
                "Object 'Kind' is missing in '{}': {e}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ))
        })
    }
}

/// [`check_and_decode`] then [`decode_object`]'s fallback, without a request.
pub(super) fn decode_for_fuzzing(
    ct: &str,
    body: &[u8],
    kind: Option<&str>,
) -> Result<Value, ApiError> {
    match check_and_decode(ct, body, kind) {
        Some(Decoded(d)) => d,
        None => kinet_model::proto::decode(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding protobuf: {e}"))),
    }
}

pub(crate) fn decode_object(parts: &http::request::Parts, body: &[u8]) -> Result<Value, ApiError> {
    if let Some(Decoded(d)) = parts.extensions.get::<Decoded>() {
        return d.clone();
    }
    let ct = content_type(parts);
    if kinet_model::proto::is_protobuf(ct) {
        kinet_model::proto::decode(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding protobuf: {e}")))
    } else {
        parse(ct, body)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(ct: &str, body: &str, kind: Option<&str>) -> String {
        match check_and_decode(ct, body.as_bytes(), kind) {
            Some(Decoded(Err(e))) if is_depth_error(&e) => e.message,
            _ => panic!("{ct} {body:.40} not refused for its depth"),
        }
    }

    #[test]
    fn too_deep_bodies_get_upstream_wording() {
        let deep = "[".repeat(10_001);
        assert_eq!(
            refusal("application/yaml", &deep, Some("ConfigMap")),
            format!(
                "the object provided is unrecognized (must be of type ConfigMap): yaml: exceeded max depth of 10000 ({} ...)",
                "5b".repeat(30)
            )
        );
        assert_eq!(
            refusal("application/yaml", &format!("---\n{deep}"), None),
            "yaml: line 2: exceeded max depth of 10000"
        );
        assert_eq!(
            refusal("application/json", &format!("{{\"a\":{deep}"), Some("Pod")),
            format!(
                "the object provided is unrecognized (must be of type Pod): couldn't get version/kind; json parse error: exceeded max depth ({{\"a\":{} ...)",
                "[".repeat(25)
            )
        );
        // within the limit: decoded (or refused by the decoder's own words)
        let ok = check_and_decode("application/yaml", b"a: [[1]]", None);
        assert!(matches!(ok, Some(Decoded(Ok(v))) if v["a"][0][0] == 1));
        assert!(check_and_decode("application/vnd.kubernetes.protobuf", b"k8s", None).is_none());
    }
}
