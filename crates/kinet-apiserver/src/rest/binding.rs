//! `pods/NAME/binding`: the scheduler's (or anyone's) assignment of a pod to a node.

use super::request::{decode_object, read_body};
use crate::objects::Objects;
use crate::status::ApiError;
use crate::{Body, json};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use kinet_model::resources::{self, Resource};
use serde_json::{Value, json};

/// POST pods/NAME/binding.
pub(crate) async fn post(
    objects: &Objects,
    r: &Resource,
    ns: &str,
    name: &str,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let (parts, body) = read_body(req).await?;
    let b = decode_object(&parts, &body)?;
    let node = b
        .pointer("/target/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    bind(objects, r, ns, name, &node)?;
    Ok(json(
        StatusCode::CREATED,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
    ))
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
