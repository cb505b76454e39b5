//! PATCH bodies the API server refuses before applying them (a merge patch that
//! is not an object, a JSON patch that is not a list of operations …), checked
//! by [`kinet_model::patch::check_body`] and answered with upstream's statuses.

use crate::objects::FieldValidation;
use crate::status::ApiError;
use bytes::Bytes;
use kinet_model::patch::{BodyError, PatchType, check_body};
use serde_json::Value;

/// Checks a decoded patch of type `t`; returns the patch to apply instead, if any.
pub(crate) fn check(
    t: PatchType,
    patch: &Value,
    validation: FieldValidation,
) -> Result<Option<Value>, ApiError> {
    check_body(t, patch, validation != FieldValidation::Ignore).map_err(|e| match e {
        BodyError::BadRequest(m) => ApiError::bad_request(m),
        BodyError::Invalid(m) => ApiError::new(422, "Invalid", m),
    })
}

/// The body of a PATCH request with Content-Type `ct`, once the API server would
/// take it. A body that does not decode is left for the patch itself to report.
pub(crate) fn admit(
    ct: &str,
    body: &Bytes,
    validation: FieldValidation,
) -> Result<Bytes, ApiError> {
    let Some(t) = PatchType::from_content_type(ct) else {
        return Ok(body.clone());
    };
    let decoded: Option<Value> = match t {
        PatchType::Apply => serde_yaml::from_slice(body).ok(),
        _ => serde_json::from_slice(body).ok(),
    };
    let Some(patch) = decoded else {
        return Ok(body.clone());
    };
    Ok(match check(t, &patch, validation)? {
        Some(instead) => Bytes::from(serde_json::to_vec(&instead).unwrap_or_default()),
        None => body.clone(),
    })
}
