//! The REST layer: the router (resource paths and verbs → handlers) over one
//! room per job: [`request`] (query, representation, bodies, with [`nesting`]'s
//! depth limits), [`params`] (list
//! and watch parameters), [`list`], [`watch`], [`object`] (the verbs on one
//! object, with its status and ephemeral containers), [`logs`], [`scale`],
//! [`binding`], [`finalize`], [`token`], and [`patch_body`] (bodies a PATCH
//! refuses). Exec, attach, port-forward and the proxy have their own modules.

mod binding;
mod continue_token;
mod finalize;
mod list;
mod logs;
mod nesting;
mod object;
mod params;
mod patch_body;
mod request;
mod scale;
mod token;
mod watch;

pub use binding::bind;
pub use logs::{cri_line, pick_container};

/// The request-body steps of the REST layer as plain functions, for the fuzz
/// targets in `fuzz/` (not an API: the server calls them through its handlers).
#[doc(hidden)]
pub mod fuzzing {
    use super::request;
    use crate::objects::FieldValidation;
    use crate::status::ApiError;
    use bytes::Bytes;
    use serde_json::Value;

    /// A create or update body of Content-Type `ct` as the handler decodes it:
    /// the depth limits first, then JSON, YAML or protobuf. `kind` names the
    /// kind in upstream's refusals (None for a subresource).
    pub fn decode_body(ct: &str, body: &[u8], kind: Option<&str>) -> Result<Value, ApiError> {
        request::decode_for_fuzzing(ct, body, kind)
    }

    /// A PATCH body once the handler admits it (its shape checked per patch type).
    pub fn admit_patch(
        ct: &str,
        body: &[u8],
        validation: FieldValidation,
    ) -> Result<Bytes, ApiError> {
        super::patch_body::admit(ct, &Bytes::copy_from_slice(body), validation)
    }
}

use crate::objects::Objects;
use crate::status::ApiError;
use crate::{ApiServer, Body, error, json};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use kinet_model::resources::{self, Resource};
use request::{query_map, read_body, repr, truthy};
use std::sync::Arc;

/// A parsed resource path.
#[derive(Debug, Clone)]
pub struct Target {
    pub res: &'static Resource,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub sub: Option<String>,
}

/// Parses `/api/v1/...` and `/apis/G/V/...` resource paths.
pub fn parse_path(path: &str) -> Result<Option<Target>, ApiError> {
    let segs: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let (group, version, rest) = match segs.first().map(String::as_str) {
        Some("api") if segs.len() >= 2 => ("", segs[1].as_str(), &segs[2..]),
        Some("apis") if segs.len() >= 3 => (segs[1].as_str(), segs[2].as_str(), &segs[3..]),
        _ => return Ok(None),
    };
    if rest.is_empty() {
        return Ok(None);
    }
    let find =
        |plural: &str| resources::find(group, version, plural).ok_or_else(ApiError::no_resource);
    let t = |res, ns: Option<&String>, name: Option<&String>, sub: Option<&String>| Target {
        res,
        namespace: ns.cloned(),
        name: name.cloned(),
        sub: sub.cloned(),
    };
    let target = match rest {
        [ns_kw, ns, plural, tail @ ..]
            if ns_kw == "namespaces" && !(plural == "status" || plural == "finalize") =>
        {
            let r = find(plural)?;
            if !r.namespaced {
                return Err(ApiError::no_resource());
            }
            match tail {
                [] => t(r, Some(ns), None, None),
                [name] => t(r, Some(ns), Some(name), None),
                [name, sub] if r.subresources.contains(&sub.as_str()) => {
                    t(r, Some(ns), Some(name), Some(sub))
                }
                // pods/NAME/proxy/PATH…: the path goes to the pod
                [name, sub, ..] if sub == "proxy" && r.subresources.contains(&"proxy") => {
                    t(r, Some(ns), Some(name), Some(sub))
                }
                _ => return Err(ApiError::no_resource()),
            }
        }
        [plural, tail @ ..] => {
            let r = find(plural)?;
            match tail {
                [] => t(r, None, None, None),
                [name] if !r.namespaced => t(r, None, Some(name), None),
                [name, sub] if !r.namespaced && r.subresources.contains(&sub.as_str()) => {
                    t(r, None, Some(name), Some(sub))
                }
                _ => return Err(ApiError::no_resource()),
            }
        }
        _ => return Err(ApiError::no_resource()),
    };
    Ok(Some(target))
}

pub async fn handle(api: Arc<ApiServer>, req: Request<Incoming>) -> Response<Body> {
    match dispatch(api, req).await {
        Ok(r) => r,
        Err(e) => error(&e),
    }
}

async fn dispatch(api: Arc<ApiServer>, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let Some(t) = parse_path(req.uri().path())? else {
        // group or version documents
        let segs: Vec<&str> = req.uri().path().trim_matches('/').split('/').collect();
        let doc = match segs.as_slice() {
            ["api", v] => crate::discovery::resource_list("", v),
            ["apis", g] => crate::discovery::api_group(g),
            ["apis", g, v] => crate::discovery::resource_list(g, v),
            _ => None,
        };
        return doc
            .map(|d| json(StatusCode::OK, &d))
            .ok_or_else(ApiError::no_resource);
    };
    if matches!(t.sub.as_deref(), Some("exec" | "attach" | "portforward"))
        && t.res.plural == "pods"
        && t.name.is_some()
        && matches!(*req.method(), Method::GET | Method::POST)
    {
        let ns = t.namespace.clone().unwrap_or_else(|| "default".into());
        let name = t.name.clone().unwrap_or_default();
        return Ok(match t.sub.as_deref() {
            Some("exec") => crate::exec::handle(api, req, &ns, &name).await,
            Some("attach") => crate::exec::handle_attach(api, req, &ns, &name).await,
            _ => crate::portforward::handle(api, req, &ns, &name).await,
        });
    }
    if t.sub.as_deref() == Some("proxy")
        && matches!(t.res.plural, "pods" | "services")
        && let (Some(ns), Some(name)) = (t.namespace.clone(), t.name.clone())
    {
        // the name as sent (it may carry a port: `web:8080`)
        let raw = req
            .uri()
            .path()
            .split('/')
            .skip_while(|s| *s != t.res.plural)
            .nth(1)
            .unwrap_or(&name)
            .to_string();
        return crate::proxy::handle(api, req, t.res.plural, &ns, &raw).await;
    }
    let q = query_map(&req);
    let objects = Objects::new(api.store.clone());
    let r = t.res;
    let ns = t.namespace.as_deref();
    let method = req.method().clone();
    match (&method, t.name.as_deref(), t.sub.as_deref()) {
        (&Method::GET, None, None) => {
            let rp = repr(&req, &q);
            if truthy(&q, "watch") {
                watch::watch(api, &t, &q, rp)
            } else {
                list::list(&api, r, ns, &q, rp).await
            }
        }
        (&Method::GET, Some(name), None | Some("status") | Some("ephemeralcontainers")) => {
            object::get(&api, &objects, r, ns, name, &q, repr(&req, &q)).await
        }
        (&Method::GET, Some(name), Some("log")) => {
            logs::logs(&api, &objects, r, ns.unwrap_or("default"), name, &q).await
        }
        (&Method::POST, None, None) => object::create(&objects, r, ns, &q, req).await,
        (&Method::POST, Some(name), Some("token")) if r.plural == "serviceaccounts" => {
            token::post(&api, ns.unwrap_or("default"), name, req).await
        }
        (&Method::POST, Some(name), Some("binding")) => {
            binding::post(&objects, r, ns.unwrap_or("default"), name, req).await
        }
        (
            &Method::PUT,
            Some(name),
            sub @ (None | Some("status") | Some("finalize") | Some("ephemeralcontainers")),
        ) => object::write(&objects, r, ns, name, sub, &q, req).await,
        (
            &Method::PATCH,
            Some(name),
            sub @ (None | Some("status") | Some("ephemeralcontainers")),
        ) => object::write(&objects, r, ns, name, sub, &q, req).await,
        (&Method::DELETE, Some(name), None) => object::delete(&objects, r, ns, name, &q, req).await,
        (&Method::DELETE, None, None) => list::delete_collection(&api, &objects, r, ns, &q).await,
        (&Method::GET | &Method::PUT | &Method::PATCH, Some(name), Some("scale")) => {
            let (parts, body) = read_body(req).await?;
            scale::scale(&objects, r, ns, name, &method, &parts, &body)
        }
        (_, Some(_), Some("exec" | "attach" | "portforward")) => {
            Err(ApiError::new(400, "BadRequest", "Upgrade request required"))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_resource_paths() {
        let t = parse_path("/api/v1/namespaces/default/pods/web/log")
            .unwrap()
            .unwrap();
        assert_eq!(
            (
                t.res.plural,
                t.namespace.as_deref(),
                t.name.as_deref(),
                t.sub.as_deref()
            ),
            ("pods", Some("default"), Some("web"), Some("log"))
        );
        let t = parse_path("/api/v1/pods").unwrap().unwrap();
        assert!(t.namespace.is_none() && t.name.is_none());
        let t = parse_path("/api/v1/namespaces/kube-system")
            .unwrap()
            .unwrap();
        assert_eq!(
            (t.res.plural, t.name.as_deref()),
            ("namespaces", Some("kube-system"))
        );
        let t = parse_path("/api/v1/namespaces/x/finalize")
            .unwrap()
            .unwrap();
        assert_eq!(t.sub.as_deref(), Some("finalize"));
        let t = parse_path("/apis/apps/v1/namespaces/d/deployments/web/scale")
            .unwrap()
            .unwrap();
        assert_eq!(t.sub.as_deref(), Some("scale"));
        assert!(parse_path("/api/v1/nosuch").is_err());
        assert!(parse_path("/api/v1/namespaces/d/pods/x/nosuch").is_err());
        assert!(parse_path("/api/v1").unwrap().is_none());
    }
}
