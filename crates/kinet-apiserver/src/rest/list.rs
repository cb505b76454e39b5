//! Collections: list (objects or a server-side Table) and delete-collection.

use super::continue_token;
use super::params::{ListParams, ListRead, Read};
use super::request::{Include, Query, Repr};
use crate::objects::Objects;
use crate::status::ApiError;
use crate::{ApiServer, Body, json};
use chrono::Utc;
use futures::FutureExt;
use http::{Response, StatusCode};
use kinet_model::json::name;
use kinet_model::resources::{self, Resource};
use kinet_model::table;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// `metadata.namespace`, None for cluster-scoped objects.
fn ns_of(o: &Value) -> Option<&str> {
    o.pointer("/metadata/namespace").and_then(Value::as_str)
}

/// How long a read waits for the store to reach a version it asks for
/// (the watch cache's `blockTimeout`).
const FRESH_WAIT: Duration = Duration::from_secs(3);

/// Waits until the store's revision reaches `rv` (at most [`FRESH_WAIT`]); the
/// watch cache's 504 "Too large resource version" if it does not.
pub(crate) async fn wait_fresh(api: &ApiServer, rv: u64) -> Result<(), ApiError> {
    let deadline = tokio::time::Instant::now() + FRESH_WAIT;
    loop {
        let current = api.store.rev();
        if current >= rv {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            let mut e = ApiError::new(
                504,
                "Timeout",
                format!("Timeout: Too large resource version: {rv}, current: {current}"),
            );
            e.details = Some(json!({
                "causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
                "retryAfterSeconds": 1,
            }));
            return Err(e);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Why a list is not served: an error, or a 410 whose Status carries a renewed
/// continue token (`metadata.continue`), as etcd's compaction answers a page.
pub(crate) enum Refusal {
    Error(ApiError),
    Expired(Value),
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        Refusal::Error(e)
    }
}

impl Refusal {
    fn response(self) -> Response<Body> {
        match self {
            Refusal::Error(e) => crate::error(&e),
            Refusal::Expired(status) => json(StatusCode::GONE, &status),
        }
    }
}

const EXPIRED: &str = "The resourceVersion for the provided list is too old.";
const INCONSISTENT_CONTINUE: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";
const CONTINUE_EXPIRED: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.";

/// The objects of `r` in `ns` (all namespaces when None) that the parameters
/// select, in key order from the continue token's key, and the revision read at.
/// The store keeps only the latest state: a read at an exact older revision is
/// served when nothing under the prefix changed since, and is otherwise answered
/// as etcd answers one whose revision was compacted (410 Expired).
async fn select(
    api: &ApiServer,
    r: &Resource,
    ns: Option<&str>,
    p: &ListParams,
) -> Result<(Vec<Arc<Value>>, u64), Refusal> {
    let prefix = resources::store_prefix(r, ns);
    let ListRead { read, start } = p.list_read(&prefix)?;
    if let Read::NotOlderThan(rv) = read {
        wait_fresh(api, rv).await?;
    }
    let (items, mut rev) = api.store.list(&prefix);
    if let Read::Exact(rv) = read {
        if rv > rev {
            return Err(ApiError::new(
                500,
                "",
                "etcdserver: mvcc: required revision is a future revision",
            )
            .into());
        }
        let changed = match api.store.watch(&prefix, Some(rv)) {
            Err(_) => true,
            Ok(mut w) => matches!(w.next().now_or_never(), Some(Ok(ev)) if ev.rev <= rev),
        };
        if changed {
            let Some(key) = &start else {
                return Err(ApiError::gone(EXPIRED).into());
            };
            let mut status = match continue_token::encode(key, &prefix, -1) {
                Some(token) => {
                    let mut s = ApiError::gone(INCONSISTENT_CONTINUE).to_status();
                    s["metadata"] = json!({"continue": token});
                    s
                }
                None => ApiError::gone(CONTINUE_EXPIRED).to_status(),
            };
            if let Some(m) = status.as_object_mut() {
                m.remove("details");
            }
            return Err(Refusal::Expired(status));
        }
        rev = rv;
    }
    let items = items
        .into_iter()
        .filter(|o| {
            start
                .as_deref()
                .is_none_or(|s| resources::store_key(r, ns_of(o), name(o)).as_str() >= s)
        })
        .filter(|o| p.label.matches_object(o) && p.field.matches(o))
        .collect();
    Ok((items, rev))
}

/// GET of a collection.
pub(crate) async fn list(
    api: &ApiServer,
    r: &Resource,
    ns: Option<&str>,
    q: &Query,
    rp: Repr,
) -> Result<Response<Body>, ApiError> {
    let p = ListParams::parse(r, q)?;
    p.validate(false)?;
    let (items, rev) = match select(api, r, ns, &p).await {
        Ok(selected) => selected,
        Err(refusal) => return Ok(refusal.response()),
    };
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

/// DELETE of a collection: deletes what a list with the same parameters selects.
pub(crate) async fn delete_collection(
    api: &ApiServer,
    objects: &Objects,
    r: &Resource,
    ns: Option<&str>,
    q: &Query,
) -> Result<Response<Body>, ApiError> {
    let p = ListParams::parse(r, q)?;
    p.validate(false)?;
    let items = match select(api, r, ns, &p).await {
        Ok((items, _)) => items,
        Err(refusal) => return Ok(refusal.response()),
    };
    let mut deleted = Vec::new();
    for o in &items {
        if let Ok(d) = objects
            .registry()
            .delete(r, ns_of(o), name(o), None, None, false)
        {
            deleted.push((*d.object).clone());
        }
    }
    Ok(json(
        StatusCode::OK,
        &json!({"kind": format!("{}List", r.kind), "apiVersion": r.api_version(), "metadata": {}, "items": deleted}),
    ))
}

/// A server-side Table of objects, with column definitions unless `headers` is false.
pub(crate) fn make_table(
    r: &Resource,
    items: &[Arc<Value>],
    inc: Include,
    headers: bool,
    rev: u64,
) -> Value {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn api() -> ApiServer {
        let store = Arc::new(kinet_store::Store::open(None).unwrap());
        let ns = resources::find("", "v1", "namespaces").unwrap();
        kinet_registry::create(
            &store,
            ns,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}),
        )
        .unwrap();
        ApiServer {
            store,
            token: String::new(),
            advertise: String::new(),
            hooks: None,
            signer: None,
        }
    }

    fn configmaps() -> &'static Resource {
        resources::find("", "v1", "configmaps").unwrap()
    }

    fn create(api: &ApiServer, name: &str) -> u64 {
        let o = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}});
        kinet_registry::create(&api.store, configmaps(), o).unwrap();
        api.store.rev()
    }

    async fn read(api: &ApiServer, q: &[(&str, &str)]) -> Result<(Vec<String>, u64), Refusal> {
        let q: Query = q
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let p = ListParams::parse(configmaps(), &q).unwrap();
        let (items, rev) = select(api, configmaps(), Some("default"), &p).await?;
        Ok((items.iter().map(|o| name(o).to_string()).collect(), rev))
    }

    fn expired(r: Result<(Vec<String>, u64), Refusal>) -> Value {
        match r {
            Err(Refusal::Expired(status)) => status,
            Err(Refusal::Error(e)) => e.to_status(),
            Ok(ok) => panic!("served: {ok:?}"),
        }
    }

    #[tokio::test]
    async fn exact_reads_are_served_until_the_collection_changes() {
        let api = api();
        let at = create(&api, "a");
        let exact = at.to_string();
        let q = [
            ("resourceVersion", exact.as_str()),
            ("resourceVersionMatch", "Exact"),
        ];
        assert_eq!(read(&api, &q).await.ok().unwrap(), (vec!["a".into()], at));
        // a change elsewhere does not count
        kinet_registry::create(
            &api.store,
            resources::find("", "v1", "namespaces").unwrap(),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}}),
        )
        .unwrap();
        assert_eq!(read(&api, &q).await.ok().unwrap(), (vec!["a".into()], at));
        create(&api, "b");
        let s = expired(read(&api, &q).await);
        assert_eq!(
            (s["code"].as_u64(), s["reason"].as_str()),
            (Some(410), Some("Expired"))
        );
        assert_eq!(s["message"], EXPIRED);
        // the legacy form, and a version ahead of the store
        let q = [("resourceVersion", exact.as_str()), ("limit", "1")];
        assert_eq!(expired(read(&api, &q).await)["code"], 410);
        let ahead = (api.store.rev() + 5).to_string();
        let q = [
            ("resourceVersion", ahead.as_str()),
            ("resourceVersionMatch", "Exact"),
        ];
        let s = expired(read(&api, &q).await);
        assert_eq!(s["code"], 500);
        assert_eq!(
            s["message"],
            "etcdserver: mvcc: required revision is a future revision"
        );
    }

    #[tokio::test]
    async fn a_continue_token_past_its_snapshot_is_renewed() {
        let api = api();
        let at = create(&api, "a");
        create(&api, "b");
        let prefix = resources::store_prefix(configmaps(), Some("default"));
        let old = continue_token::encode(&format!("{prefix}b"), &prefix, at as i64).unwrap();
        let s = expired(read(&api, &[("continue", &old)]).await);
        assert_eq!(
            (s["code"].as_u64(), s["message"].as_str()),
            (Some(410), Some(INCONSISTENT_CONTINUE))
        );
        let renewed = s["metadata"]["continue"].as_str().unwrap().to_string();
        assert_eq!(
            continue_token::decode(&renewed, &prefix).unwrap(),
            (format!("{prefix}b"), -1)
        );
        let (names, rev) = read(&api, &[("continue", &renewed)]).await.ok().unwrap();
        assert_eq!((names, rev), (vec!["b".to_string()], api.store.rev()));
        // a token of the current snapshot reads from its key at that revision
        let now =
            continue_token::encode(&format!("{prefix}b"), &prefix, api.store.rev() as i64).unwrap();
        assert_eq!(
            read(&api, &[("continue", &now)]).await.ok().unwrap().0,
            vec!["b".to_string()]
        );
    }
}
