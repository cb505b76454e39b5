//! The verbs on one object: get, create, update, patch and delete, and the
//! subresources that are a part of the object itself (`status`,
//! `ephemeralcontainers`), whose semantics live in [`crate::objects`].

use super::list::make_table;
use super::patch_body;
use super::request::{Query, Repr, decode_object, read_body, with_warnings, write_opts};
use crate::objects::Objects;
use crate::status::ApiError;
use crate::{ApiServer, Body, json};
use http::{Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use kinet_model::resources::Resource;
use serde_json::{Value, json};

/// GET of an object (or of its status or ephemeralcontainers: the whole pod).
/// A `resourceVersion` asks for a state at least that recent, as the watch
/// cache serves it: a bad one is its 500, one the store has not reached yet is
/// awaited, then its 504.
pub(crate) async fn get(
    api: &ApiServer,
    objects: &Objects,
    r: &Resource,
    ns: Option<&str>,
    name: &str,
    q: &Query,
    rp: Repr,
) -> Result<Response<Body>, ApiError> {
    if let Some(v) = q.get("resourceVersion").filter(|v| !v.is_empty()) {
        let rv = super::params::object_resource_version(v)?;
        super::list::wait_fresh(api, rv).await?;
    }
    let obj = objects.registry().get(r, ns, name)?;
    Ok(match rp {
        Repr::Table(inc) => json(
            StatusCode::OK,
            &make_table(r, &[obj], inc, true, api.store.rev()),
        ),
        Repr::Object => json(StatusCode::OK, &obj),
    })
}

/// POST of a collection.
pub(crate) async fn create(
    objects: &Objects,
    r: &'static Resource,
    ns: Option<&str>,
    q: &Query,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let opts = write_opts(q)?;
    let (parts, body) = read_body(req).await?;
    let obj = decode_object(&parts, &body)?;
    let w = objects.registry().create(r, ns, obj, opts)?;
    Ok(with_warnings(
        json(StatusCode::CREATED, &w.object),
        &w.warnings,
    ))
}

/// PUT of an object, its status, its ephemeral containers, or a namespace's
/// finalizers; PATCH of an object, its status or its ephemeral containers.
pub(crate) async fn write(
    objects: &Objects,
    r: &'static Resource,
    ns: Option<&str>,
    name: &str,
    sub: Option<&str>,
    q: &Query,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let opts = write_opts(q)?;
    let (parts, body) = read_body(req).await?;
    let w = if parts.method == Method::PATCH {
        let ct = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = patch_body::admit(&ct, &body, opts.validation)?;
        let sub = match sub {
            Some(s @ ("status" | "ephemeralcontainers")) if r.kind == "Pod" || s == "status" => {
                Some(s)
            }
            _ => None,
        };
        objects.patch(r, ns, name, sub, &ct, &body, opts)?
    } else {
        let obj = decode_object(&parts, &body)?;
        if sub == Some("finalize") {
            super::finalize::finalize_namespace(objects, r, name, obj)?
        } else {
            objects.update(r, ns, name, sub, obj, opts)?
        }
    };
    Ok(with_warnings(json(StatusCode::OK, &w.object), &w.warnings))
}

/// DELETE of an object, with DeleteOptions from the query or the body.
pub(crate) async fn delete(
    objects: &Objects,
    r: &Resource,
    ns: Option<&str>,
    name: &str,
    q: &Query,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
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
    check_preconditions(objects, r, ns, name, &opts)?;
    let dry = q.get("dryRun").is_some_and(|v| v == "All")
        || opts
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|v| v == "All"));
    let kinet_registry::Deleted { object: obj, gone } =
        objects.registry().delete(r, ns, name, grace, uid, dry)?;
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

/// A delete's `preconditions` (uid, resourceVersion) against the stored object,
/// refused as upstream's storage refuses them: a 409 Conflict naming the
/// storage key and both values.
fn check_preconditions(
    objects: &Objects,
    r: &Resource,
    ns: Option<&str>,
    name: &str,
    opts: &Value,
) -> Result<(), ApiError> {
    let Some(pre) = opts.get("preconditions").filter(|p| p.is_object()) else {
        return Ok(());
    };
    let cur = objects.registry().get(r, ns, name)?;
    let meta = |f: &str| {
        cur.pointer(&format!("/metadata/{f}"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let failed = [("uid", "UID"), ("resourceVersion", "ResourceVersion")]
        .into_iter()
        .find_map(|(field, what)| {
            let want = pre.get(field).and_then(Value::as_str)?;
            let have = meta(field);
            (want != have).then(|| {
                format!("Precondition failed: {what} in precondition: {want}, {what} in object meta: {have}")
            })
        });
    let Some(why) = failed else {
        return Ok(());
    };
    let key = match (r.plural, ns) {
        ("services", Some(ns)) => format!("/registry/services/specs/{ns}/{name}"),
        (plural, Some(ns)) => format!("/registry/{plural}/{ns}/{name}"),
        (plural, None) => format!("/registry/{plural}/{name}"),
    };
    let mut e = ApiError::conflict(&r.group_resource(), name);
    e.message = format!(
        "Operation cannot be fulfilled on {} {}: StorageError: invalid object, Code: 4, Key: {key}, ResourceVersion: 0, AdditionalErrorMsg: {why}",
        r.group_resource(),
        kinet_model::quote::go_quote(name)
    );
    Err(e)
}
