//! Per-resource write rules, as upstream's registry strategies hold them
//! (`PrepareForCreate`, `PrepareForUpdate`): what a create resets and fills in,
//! which kinds count generations, which keep their status behind the status
//! subresource, and how fields the type does not know are treated. Pure.

use crate::errors::ApiError;
use kinet_model::resources::Resource;
use kinet_model::{defaults, json as j, validation};
use serde_json::{Map, Value, json};

/// How to treat fields the type does not know (`?fieldValidation=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    Ignore,
    Warn,
    Strict,
}

impl FieldValidation {
    pub fn parse(s: Option<&str>) -> Result<Self, ApiError> {
        match s {
            None | Some("") | Some("Warn") => Ok(Self::Warn),
            Some("Strict") => Ok(Self::Strict),
            Some("Ignore") => Ok(Self::Ignore),
            Some(o) => Err(ApiError::bad_request(format!(
                "fieldValidation must be one of \"Ignore\", \"Warn\", or \"Strict\", got {o:?}"
            ))),
        }
    }
}

/// The part of an object a write is for (the REST subresource).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subresource {
    /// `…/status`: only `status` changes.
    Status,
    /// `pods/…/ephemeralcontainers`: only `spec.ephemeralContainers` changes.
    EphemeralContainers,
}

impl Subresource {
    /// The subresource named in a request path; None for the object itself (and for
    /// subresources whose writes replace the object, which have no rule of their own).
    pub fn parse(s: Option<&str>) -> Option<Self> {
        match s {
            Some("status") => Some(Self::Status),
            Some("ephemeralcontainers") => Some(Self::EphemeralContainers),
            _ => None,
        }
    }
}

/// Kinds whose `metadata.generation` follows spec changes.
pub fn has_generation(r: &Resource) -> bool {
    !matches!(
        r.kind,
        "Namespace"
            | "Node"
            | "ConfigMap"
            | "Secret"
            | "ServiceAccount"
            | "Event"
            | "Endpoints"
            | "Lease"
            | "Binding"
            | "Service"
    )
}

/// Kinds whose status is written only through the status subresource.
pub fn has_status_subresource(r: &Resource) -> bool {
    r.subresources.contains(&"status")
}

/// Kinds whose status a create does not take from the writer. A Node keeps the
/// status its kubelet registers it with; a Namespace's is set by its defaults.
pub fn resets_status_on_create(r: &Resource) -> bool {
    has_status_subresource(r) && !matches!(r.kind, "Namespace" | "Node")
}

/// True when anything but metadata and status differs.
pub fn spec_changed(old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.as_object_mut() {
            m.remove("metadata");
            m.remove("status");
        }
        v
    };
    strip(old) != strip(new)
}

/// The body is an object of this resource's kind (apiVersion and kind may be left out).
pub fn check_type(r: &Resource, obj: &Value) -> Result<(), ApiError> {
    if !obj.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ));
    }
    let av = j::str_at(obj, "/apiVersion");
    let kind = j::str_at(obj, "/kind");
    if (!av.is_empty() && av != r.api_version()) || (!kind.is_empty() && kind != r.kind) {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({av}) does not match the expected API version ({})",
            r.api_version()
        )));
    }
    Ok(())
}

/// Fields the kind does not know: an error (Strict), warnings (Warn) or nothing (Ignore).
pub fn check_unknown(
    r: &Resource,
    obj: &Value,
    mode: FieldValidation,
    warnings: &mut Vec<String>,
) -> Result<(), ApiError> {
    if mode == FieldValidation::Ignore {
        return Ok(());
    }
    let unknown = validation::unknown_fields(r.kind, obj);
    if unknown.is_empty() {
        return Ok(());
    }
    if mode == FieldValidation::Strict {
        let list: Vec<String> = unknown
            .iter()
            .map(|f| format!("unknown field \"{f}\""))
            .collect();
        return Err(ApiError::bad_request(format!(
            "{} in version \"{}\" cannot be handled as a {}: strict decoding error: {}",
            r.kind,
            r.version,
            r.kind,
            list.join(", ")
        )));
    }
    warnings.extend(unknown.iter().map(|f| format!("unknown field \"{f}\"")));
    Ok(())
}

/// `obj[key]` as an object: a missing or non-object value becomes `{}`.
pub(crate) fn object_at<'a>(
    obj: &'a mut Map<String, Value>,
    key: &str,
) -> &'a mut Map<String, Value> {
    let v = obj.entry(key).or_insert_with(|| json!({}));
    if !v.is_object() {
        *v = json!({});
    }
    match v {
        Value::Object(m) => m,
        _ => unreachable!("made an object above"),
    }
}

/// `v` as an object: anything else becomes `{}`.
pub(crate) fn as_object(v: &mut Value) -> &mut Map<String, Value> {
    if !v.is_object() {
        *v = json!({});
    }
    match v {
        Value::Object(m) => m,
        _ => unreachable!("made an object above"),
    }
}

/// A new object as a create stores it (before admission and validation).
#[derive(Debug)]
pub struct Prepared {
    pub object: Value,
    /// The name was generated from `metadata.generateName`.
    pub generated: bool,
}

/// `PrepareForCreate`: type and metadata filled in, server-owned metadata reset,
/// the name generated, status dropped where the writer may not set it, defaults.
/// `ns` is the request's namespace; `suffix` is the generated name's suffix.
pub fn prepare_for_create(
    r: &Resource,
    ns: Option<&str>,
    mut obj: Value,
    now: &str,
    uid: &str,
    suffix: &str,
) -> Result<Prepared, ApiError> {
    check_type(r, &obj)?;
    let o = as_object(&mut obj);
    o.insert("apiVersion".into(), json!(r.api_version()));
    o.insert("kind".into(), json!(r.kind));
    let meta = object_at(o, "metadata");
    if r.namespaced {
        let ns = ns.unwrap_or("default");
        match meta.get("namespace").and_then(Value::as_str) {
            Some(n) if !n.is_empty() && n != ns => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            _ => {
                meta.insert("namespace".into(), json!(ns));
            }
        }
    } else {
        meta.remove("namespace");
    }
    let generated = meta
        .get("name")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty);
    if generated
        && let Some(g) = meta
            .get("generateName")
            .and_then(Value::as_str)
            .filter(|g| !g.is_empty())
    {
        let name = format!("{g}{suffix}");
        meta.insert("name".into(), json!(name));
    }
    for k in [
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
        "managedFields",
    ] {
        meta.remove(k);
    }
    meta.insert("uid".into(), json!(uid));
    meta.insert("creationTimestamp".into(), json!(now));
    if has_generation(r) {
        meta.insert("generation".into(), json!(1));
    } else {
        meta.remove("generation");
    }
    if resets_status_on_create(r) {
        // status is not the writer's to set on create
        o.remove("status");
    }
    defaults::apply(r.kind, &mut obj);
    if r.kind == "Service" {
        crate::services::prepare_for_create(&mut obj);
    }
    Ok(Prepared {
        object: obj,
        generated,
    })
}

/// `PrepareForUpdate`: the object an update of `cur` to `new` stores. Immutable
/// metadata is kept; a status write changes only the status, an ephemeral
/// containers write only those; otherwise the status is kept where a subresource
/// owns it, defaults apply again and the generation follows the spec.
pub fn prepare_for_update(
    r: &Resource,
    cur: &Value,
    mut new: Value,
    subresource: Option<Subresource>,
) -> Result<Value, ApiError> {
    if !new.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ));
    }
    match subresource {
        Some(Subresource::Status) => {
            let mut out = cur.clone();
            as_object(&mut out).insert(
                "status".into(),
                new.get("status").cloned().unwrap_or(json!({})),
            );
            return Ok(out);
        }
        Some(Subresource::EphemeralContainers) => {
            let mut out = cur.clone();
            let mut list = new
                .pointer("/spec/ephemeralContainers")
                .cloned()
                .unwrap_or(json!([]));
            if let Some(a) = list.as_array_mut() {
                for c in a.iter_mut() {
                    defaults::ephemeral_container(c);
                }
            }
            object_at(as_object(&mut out), "spec").insert("ephemeralContainers".into(), list);
            return Ok(out);
        }
        None => {}
    }
    let name = j::name(cur).to_string();
    let o = as_object(&mut new);
    o.insert("apiVersion".into(), json!(r.api_version()));
    o.insert("kind".into(), json!(r.kind));
    let meta = object_at(o, "metadata");
    for k in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
    ] {
        match cur.get("metadata").and_then(|m| m.get(k)) {
            Some(v) => {
                meta.insert(k.into(), v.clone());
            }
            None => {
                meta.remove(k);
            }
        }
    }
    if r.kind == "Namespace" {
        object_at(meta, "labels").insert("kubernetes.io/metadata.name".into(), json!(name));
        o.insert("spec".into(), cur.get("spec").cloned().unwrap_or(json!({})));
    }
    if has_status_subresource(r) {
        match cur.get("status") {
            Some(s) => {
                o.insert("status".into(), s.clone());
            }
            None => {
                o.remove("status");
            }
        }
    }
    // defaults apply to updates too (a patch may drop a defaulted field)
    if r.kind == "Pod" {
        if let Some(spec) = new.get_mut("spec") {
            defaults::pod_spec(spec);
        }
    } else if r.kind != "Namespace" {
        let status = new.get("status").cloned();
        defaults::apply(r.kind, &mut new);
        let o = as_object(&mut new);
        match status {
            Some(s) => {
                o.insert("status".into(), s);
            }
            None => {
                o.remove("status");
            }
        }
    }
    if r.kind == "Service" {
        crate::services::prepare_for_update(cur, &mut new);
    }
    if has_generation(r) && spec_changed(cur, &new) {
        let g = j::int_at(cur, "/metadata/generation").unwrap_or(1);
        object_at(as_object(&mut new), "metadata").insert("generation".into(), json!(g + 1));
    }
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kinet_model::resources::find;

    fn res(group: &str, plural: &str) -> &'static Resource {
        find(group, "v1", plural).unwrap()
    }

    #[test]
    fn create_resets_server_fields_and_generates_names() {
        let r = res("apps", "deployments");
        let p = prepare_for_create(
            r,
            Some("team"),
            json!({"metadata": {"generateName": "web-", "uid": "x", "resourceVersion": "9"},
                   "spec": {}, "status": {"replicas": 3}}),
            "2024-01-01T00:00:00Z",
            "u1",
            "abcde",
        )
        .unwrap();
        let o = p.object;
        assert!(p.generated);
        assert_eq!(j::name(&o), "web-abcde");
        assert_eq!(j::namespace(&o), "team");
        assert_eq!(o["metadata"]["uid"], "u1");
        assert_eq!(o["metadata"]["generation"], 1);
        assert!(o["metadata"].get("resourceVersion").is_none());
        assert!(o.get("status").is_none());
        assert_eq!(o["apiVersion"], "apps/v1");
    }

    #[test]
    fn a_node_keeps_the_status_it_registers_with() {
        let p = prepare_for_create(
            res("", "nodes"),
            None,
            json!({"metadata": {"name": "node1", "namespace": "x"}, "status": {"conditions": []}}),
            "t",
            "u",
            "s",
        )
        .unwrap();
        assert!(!p.generated);
        assert_eq!(p.object["status"], json!({"conditions": []}));
        assert!(p.object["metadata"].get("namespace").is_none());
        assert!(p.object["metadata"].get("generation").is_none());
    }

    #[test]
    fn bodies_that_are_not_objects_are_refused() {
        let r = res("", "pods");
        assert_eq!(
            prepare_for_create(r, None, json!([1]), "t", "u", "s")
                .err()
                .map(|e| e.code),
            Some(400)
        );
        let cur = json!({"metadata": {"name": "p"}, "spec": {}});
        assert!(prepare_for_update(r, &cur, json!(5), None).is_err());
        let e = prepare_for_create(
            r,
            Some("a"),
            json!({"metadata": {"namespace": "b"}}),
            "t",
            "u",
            "s",
        )
        .unwrap_err();
        assert_eq!(e.code, 400);
    }

    #[test]
    fn updates_keep_immutable_metadata_and_count_generations() {
        let r = res("apps", "deployments");
        let cur = json!({"metadata": {"name": "web", "uid": "u", "generation": 2},
                         "spec": {"replicas": 1}, "status": {"replicas": 1}});
        let new = json!({"metadata": {"name": "other", "uid": "v"}, "spec": {"replicas": 2}, "status": {}});
        let out = prepare_for_update(r, &cur, new, None).unwrap();
        assert_eq!(out["metadata"]["uid"], "u");
        assert_eq!(out["metadata"]["name"], "web");
        assert_eq!(out["metadata"]["generation"], 3);
        assert_eq!(out["status"], json!({"replicas": 1}));
        let st = prepare_for_update(
            r,
            &cur,
            json!({"spec": {"replicas": 9}, "status": {"replicas": 4}}),
            Some(Subresource::Status),
        )
        .unwrap();
        assert_eq!(st["spec"]["replicas"], 1);
        assert_eq!(st["status"]["replicas"], 4);
    }

    #[test]
    fn a_stored_object_of_odd_shape_does_not_panic() {
        let r = res("", "pods");
        let cur = json!({"metadata": {"name": "p"}, "spec": "odd"});
        let out = prepare_for_update(
            r,
            &cur,
            json!({"spec": {"ephemeralContainers": [{"name": "d", "image": "busybox"}]}}),
            Some(Subresource::EphemeralContainers),
        )
        .unwrap();
        assert_eq!(out["spec"]["ephemeralContainers"][0]["name"], "d");
        let out = prepare_for_update(r, &cur, json!({"metadata": 3}), None).unwrap();
        assert_eq!(out["metadata"]["name"], "p");
    }
}
