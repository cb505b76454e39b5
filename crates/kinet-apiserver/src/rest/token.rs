//! `serviceaccounts/NAME/token`: TokenRequest, a signed service-account token.

use super::request::{decode_object, read_body};
use crate::status::ApiError;
use crate::{ApiServer, Body, json};
use chrono::Utc;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::json;

/// POST serviceaccounts/NAME/token.
pub(crate) async fn post(
    api: &ApiServer,
    ns: &str,
    name: &str,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
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
    let tr = crate::tokens::token_request(&api.store, signer, ns, name, &b, Utc::now())?;
    Ok(json(StatusCode::CREATED, &tr))
}
