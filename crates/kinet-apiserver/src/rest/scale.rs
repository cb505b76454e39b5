//! `…/scale` of Deployments, ReplicaSets, StatefulSets (and ReplicationControllers):
//! an autoscaling/v1 Scale read from and written to `spec.replicas`.

use super::patch_body;
use super::request::decode_object;
use crate::objects::{FieldValidation, Objects, WriteOpts};
use crate::status::ApiError;
use crate::{Body, json};
use http::{Method, Response, StatusCode, header};
use kinet_model::patch::{self, PatchType};
use kinet_model::resources::Resource;
use serde_json::{Value, json};

/// The autoscaling/v1 Scale of a workload (`status.selector` as
/// metav1.FormatLabelSelector renders it).
fn scale_of(obj: &Value) -> Value {
    let selector = obj
        .pointer("/spec/selector")
        .and_then(|sel| kinet_model::selector::LabelSelector::from_object(sel).ok())
        .map(|sel| sel.to_string())
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
pub(crate) fn scale(
    objects: &Objects,
    r: &'static Resource,
    ns: Option<&str>,
    name: &str,
    method: &Method,
    parts: &http::request::Parts,
    body: &[u8],
) -> Result<Response<Body>, ApiError> {
    let cur = objects.registry().get(r, ns, name)?;
    let current = scale_of(&cur);
    let wanted = match *method {
        Method::GET => return Ok(json(StatusCode::OK, &current)),
        Method::PUT => {
            let s = decode_object(parts, body)?;
            if !s.is_object() {
                return Err(ApiError::bad_request(
                    "the body of the request must be a JSON object",
                ));
            }
            s
        }
        _ => {
            let ct = parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let p: Value = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
            let t = match PatchType::from_content_type(ct) {
                Some(t @ (PatchType::Json | PatchType::Strategic)) => t,
                _ => PatchType::Merge,
            };
            let p = patch_body::check(t, &p, FieldValidation::Warn)?.unwrap_or(p);
            match t {
                PatchType::Json => patch::json_patch(&current, &p)
                    .map_err(|e| ApiError::new(422, "Invalid", e.to_string()))?,
                PatchType::Strategic => patch::strategic_merge_patch(&current, &p, "Scale")
                    .map_err(|e| ApiError::new(422, "Invalid", e.to_string()))?,
                _ => patch::json_merge_patch(&current, &p),
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
        patch.to_string().as_bytes(),
        WriteOpts::default(),
    )?;
    Ok(json(StatusCode::OK, &scale_of(&w.object)))
}
