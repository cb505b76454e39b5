//! Watch streams: the current state as ADDED events (unless the client gives a
//! revision to start after), then every change as ADDED/MODIFIED/DELETED, seen
//! through the request's selectors, with bookmarks when allowed, an ERROR event
//! with 410 Expired when the revision is gone, and an end at the timeout.

use super::Target;
use super::list::make_table;
use super::params::ListParams;
use super::request::{Query, Repr, stream_response, tokio_stream_from};
use crate::status::ApiError;
use crate::{ApiServer, Body};
use bytes::Bytes;
use http::Response;
use hyper::body::Frame;
use kinet_model::resources::{self, Resource};
use kinet_store::{EventType, StoreError};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// GET of a collection with `watch=true` (or of one object by name, through
/// `fieldSelector=metadata.name=…`, or a named watch).
pub(crate) fn watch(
    api: Arc<ApiServer>,
    t: &Target,
    q: &Query,
    rp: Repr,
) -> Result<Response<Body>, ApiError> {
    let r = t.res;
    let p = ListParams::parse(r, q)?;
    p.validate(true)?;
    let from = p.watch_from()?;
    let prefix = resources::store_prefix(r, t.namespace.as_deref());
    let bookmarks = p.allow_bookmarks;
    let timeout = p.watch_seconds();
    let (ls, fs) = (p.label, p.field);
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
            let line = too_old(requested, oldest);
            return Ok(stream_response(futures::stream::iter(vec![Ok::<
                _,
                std::io::Error,
            >(
                Frame::data(line),
            )])));
        }
        Err(e) => return Err(ApiError::internal(e.to_string())),
    };
    let name_filter = t.name.clone();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(64);
    let kind = r.kind;
    let api_version = r.api_version();
    let res: &'static Resource = r;
    tokio::spawn(async move {
        let mut first = true;
        let encode = |typ: &str, obj: &Arc<Value>, first: &mut bool| -> Bytes {
            let object = match rp {
                Repr::Table(inc) => {
                    let rev = kinet_store::resource_version(obj);
                    let tbl = make_table(res, std::slice::from_ref(obj), inc, *first, rev);
                    *first = false;
                    tbl
                }
                Repr::Object => (**obj).clone(),
            };
            line(&json!({"type": typ, "object": object}))
        };
        let matches = |o: &Value| {
            ls.matches_object(o)
                && fs.matches(o)
                && name_filter
                    .as_deref()
                    .is_none_or(|n| kinet_model::json::name(o) == n)
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
                    if tx.send(Ok(Frame::data(line(&bm)))).await.is_err() { return; }
                }
                _ = tx.closed() => return,
                _ = tick.tick(), if bookmarks => {
                    let bm = json!({"type": "BOOKMARK", "object": {"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": last_rev.to_string()}}});
                    if tx.send(Ok(Frame::data(line(&bm)))).await.is_err() { return; }
                }
                ev = w.next() => {
                    let ev = match ev {
                        Ok(ev) => ev,
                        Err(StoreError::Gone { requested, oldest }) => {
                            let _ = tx.send(Ok(Frame::data(too_old(requested, oldest)))).await;
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

/// One event of the stream: its JSON and a newline.
fn line(event: &Value) -> Bytes {
    let mut line = serde_json::to_vec(event).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

/// The ERROR event of a watch whose revision has been compacted away (410 Expired).
fn too_old(requested: u64, oldest: u64) -> Bytes {
    let e = ApiError::gone(format!("too old resource version: {requested} ({oldest})"));
    line(&json!({"type": "ERROR", "object": e.to_status()}))
}
