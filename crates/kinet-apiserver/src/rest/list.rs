//! Collections: list (objects or a server-side Table) and delete-collection.

use super::params::ListParams;
use super::request::{Include, Query, Repr};
use crate::objects::Objects;
use crate::status::ApiError;
use crate::{ApiServer, Body, json};
use chrono::Utc;
use http::{Response, StatusCode};
use kinet_model::json::name;
use kinet_model::resources::{self, Resource};
use kinet_model::table;
use serde_json::{Value, json};
use std::sync::Arc;

/// `metadata.namespace`, None for cluster-scoped objects.
fn ns_of(o: &Value) -> Option<&str> {
    o.pointer("/metadata/namespace").and_then(Value::as_str)
}

/// The objects of `r` in `ns` (all namespaces when None) that the parameters
/// select, in key order from the continue token's key, and the revision read at.
fn select(
    api: &ApiServer,
    r: &Resource,
    ns: Option<&str>,
    p: &ListParams,
) -> Result<(Vec<Arc<Value>>, u64), ApiError> {
    let prefix = resources::store_prefix(r, ns);
    let start = p.list_start(&prefix)?;
    let (items, rev) = api.store.list(&prefix);
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
pub(crate) fn list(
    api: &ApiServer,
    r: &Resource,
    ns: Option<&str>,
    q: &Query,
    rp: Repr,
) -> Result<Response<Body>, ApiError> {
    let p = ListParams::parse(r, q)?;
    let (items, rev) = select(api, r, ns, &p)?;
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
pub(crate) fn delete_collection(
    api: &ApiServer,
    objects: &Objects,
    r: &Resource,
    ns: Option<&str>,
    q: &Query,
) -> Result<Response<Body>, ApiError> {
    let p = ListParams::parse(r, q)?;
    let (items, _) = select(api, r, ns, &p)?;
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
