//! What the API does to objects, apart from HTTP: create with metadata, defaults
//! and validation; update and patch with preconditions and immutable fields;
//! graceful deletion and finalizers. Used by the REST layer and the daemon.

use crate::status::ApiError;
use chrono::{SecondsFormat, Utc};
use kinet_model::resources::{self, Resource};
use kinet_model::{defaults, patch, validation};
use kinet_store::{Store, StoreError};
use serde_json::{Value, json};
use std::sync::Arc;

pub fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The 5-character suffix of generated names.
pub fn random_suffix(n: usize) -> String {
    kinet_model::names::suffix(rand::random(), n)
}

pub fn name_of(obj: &Value) -> &str {
    obj.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn store_err(r: &Resource, name: &str, e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::not_found(&r.group_resource(), name),
        StoreError::AlreadyExists => ApiError::already_exists(&r.group_resource(), name),
        StoreError::Conflict => ApiError::conflict(&r.group_resource(), name),
        StoreError::Gone { requested, oldest } => {
            ApiError::gone(format!("too old resource version: {requested} ({oldest})"))
        }
        StoreError::Db(m) => ApiError::internal(m),
    }
}

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

pub struct Objects {
    pub store: Arc<Store>,
}

/// Options common to writes.
#[derive(Debug, Clone, Copy)]
pub struct WriteOpts {
    pub dry_run: bool,
    pub validation: FieldValidation,
}

impl Default for WriteOpts {
    fn default() -> Self {
        WriteOpts {
            dry_run: false,
            validation: FieldValidation::Strict,
        }
    }
}

/// The result of a write: the object and warnings for the client.
pub struct Written {
    pub object: Arc<Value>,
    pub warnings: Vec<String>,
}

impl Objects {
    pub fn new(store: Arc<Store>) -> Self {
        Objects { store }
    }

    fn check_unknown(
        &self,
        r: &Resource,
        obj: &Value,
        opts: &WriteOpts,
        warnings: &mut Vec<String>,
    ) -> Result<(), ApiError> {
        if opts.validation == FieldValidation::Ignore {
            return Ok(());
        }
        let unknown = validation::unknown_fields(r.kind, obj);
        if unknown.is_empty() {
            return Ok(());
        }
        if opts.validation == FieldValidation::Strict {
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

    fn check_type(&self, r: &Resource, obj: &Value) -> Result<(), ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request must be a JSON object",
            ));
        }
        let av = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
        if (!av.is_empty() && av != r.api_version()) || (!kind.is_empty() && kind != r.kind) {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({})",
                r.api_version()
            )));
        }
        Ok(())
    }

    /// Checks that the namespace exists and accepts new objects.
    fn check_namespace(&self, r: &Resource, ns: &str, name: &str) -> Result<(), ApiError> {
        let nsr = resources::find("", "v1", "namespaces").unwrap();
        match self.store.get(&resources::store_key(nsr, None, ns)) {
            None => Err(ApiError::not_found("namespaces", ns)),
            Some(n) if n.pointer("/metadata/deletionTimestamp").is_some() => {
                Err(ApiError::forbidden(
                    &r.group_resource(),
                    name,
                    &format!(
                        "unable to create new content in namespace {ns} because it is being terminated"
                    ),
                ))
            }
            Some(_) => Ok(()),
        }
    }

    pub fn create(
        &self,
        r: &'static Resource,
        ns: Option<&str>,
        mut obj: Value,
        opts: WriteOpts,
    ) -> Result<Written, ApiError> {
        self.check_type(r, &obj)?;
        let mut warnings = Vec::new();
        self.check_unknown(r, &obj, &opts, &mut warnings)?;
        obj["apiVersion"] = json!(r.api_version());
        obj["kind"] = json!(r.kind);
        if !obj.get("metadata").is_some_and(Value::is_object) {
            obj["metadata"] = json!({});
        }
        let meta = &mut obj["metadata"];
        if r.namespaced {
            let ns = ns.unwrap_or("default");
            match meta.get("namespace").and_then(Value::as_str) {
                Some(n) if !n.is_empty() && n != ns => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                _ => meta["namespace"] = json!(ns),
            }
        } else if let Some(m) = meta.as_object_mut() {
            m.remove("namespace");
        }
        let name = meta
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let generated = name.is_empty();
        if name.is_empty()
            && let Some(g) = meta
                .get("generateName")
                .and_then(Value::as_str)
                .filter(|g| !g.is_empty())
        {
            let generated = format!("{g}{}", random_suffix(5));
            meta["name"] = json!(generated);
        }
        if let Some(m) = meta.as_object_mut() {
            for k in [
                "uid",
                "resourceVersion",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "selfLink",
                "managedFields",
            ] {
                m.remove(k);
            }
            m.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
            m.insert("creationTimestamp".into(), json!(now_rfc3339()));
            if has_generation(r) {
                m.insert("generation".into(), json!(1));
            } else {
                m.remove("generation");
            }
        }
        if r.kind != "Namespace"
            && let Some(s) = obj.get_mut("status")
            && has_status_subresource(r)
        {
            // status is not the client's to set on create (except for kinds without a status subresource)
            *s = json!({});
            obj.as_object_mut().unwrap().remove("status");
        }
        defaults::apply(r.kind, &mut obj);
        let name = name_of(&obj).to_string();
        if r.kind == "Pod" {
            // admission runs before names are generated: errors show generateName
            let shown = obj
                .pointer("/metadata/generateName")
                .and_then(Value::as_str)
                .filter(|g| !g.is_empty() && generated)
                .map(String::from)
                .unwrap_or_else(|| name.clone());
            self.admit_pod(r, &mut obj, &shown)?;
        }
        let causes = validation::validate(r.kind, &obj);
        if !causes.is_empty() {
            return Err(ApiError::invalid(r.kind, r.group, &name, &causes));
        }
        let ns_name = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .map(String::from);
        if let Some(ns) = &ns_name {
            self.check_namespace(r, ns, &name)?;
        }
        let key = resources::store_key(r, ns_name.as_deref(), &name);
        if opts.dry_run {
            if self.store.get(&key).is_some() {
                return Err(ApiError::already_exists(&r.group_resource(), &name));
            }
            return Ok(Written {
                object: Arc::new(obj),
                warnings,
            });
        }
        let object = self
            .store
            .create(&key, obj)
            .map_err(|e| store_err(r, &name, e))?;
        if r.kind == "Namespace" {
            // the default ServiceAccount comes with the namespace, so that pods created
            // right after it pass ServiceAccount admission (upstream's controller makes it
            // a moment later and admission waits for it)
            self.ensure_default_service_account(&name);
        }
        Ok(Written { object, warnings })
    }

    /// ServiceAccount admission (after the namespace's existence, as NamespaceLifecycle
    /// comes first): the service account must exist; its token volume is added.
    fn admit_pod(&self, r: &Resource, pod: &mut Value, name: &str) -> Result<(), ApiError> {
        let ns = pod
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default")
            .to_string();
        self.check_namespace(r, &ns, name)?;
        let sar = resources::find("", "v1", "serviceaccounts").unwrap();
        let sa_name = kinet_model::admission::service_account_name(pod).to_string();
        let sa = self
            .store
            .get(&resources::store_key(sar, Some(&ns), &sa_name));
        kinet_model::admission::service_account(pod, &ns, sa.as_deref(), &random_suffix(5))
            .map_err(|why| ApiError::forbidden(&r.group_resource(), name, &why))
    }

    /// Creates `default` in a namespace if it is not there.
    pub fn ensure_default_service_account(&self, ns: &str) {
        let sar = resources::find("", "v1", "serviceaccounts").unwrap();
        let key = resources::store_key(sar, Some(ns), "default");
        if self.store.get(&key).is_none() {
            let _ = self.store.create(
                &key,
                json!({
                    "apiVersion": "v1",
                    "kind": "ServiceAccount",
                    "metadata": {
                        "name": "default",
                        "namespace": ns,
                        "uid": uuid::Uuid::new_v4().to_string(),
                        "creationTimestamp": now_rfc3339(),
                    }
                }),
            );
        }
    }

    pub fn get(&self, r: &Resource, ns: Option<&str>, name: &str) -> Result<Arc<Value>, ApiError> {
        self.store
            .get(&resources::store_key(r, ns, name))
            .ok_or_else(|| ApiError::not_found(&r.group_resource(), name))
    }

    /// Replaces an object (PUT), or only its status when `subresource` is "status".
    pub fn update(
        &self,
        r: &'static Resource,
        ns: Option<&str>,
        name: &str,
        subresource: Option<&str>,
        new: Value,
        opts: WriteOpts,
    ) -> Result<Written, ApiError> {
        self.check_type(r, &new)?;
        let mut warnings = Vec::new();
        self.check_unknown(r, &new, &opts, &mut warnings)?;
        let body_name = name_of(&new);
        if !body_name.is_empty() && body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        let key = resources::store_key(r, ns, name);
        let cur = self.get(r, ns, name)?;
        let precondition = new
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<u64>()
                    .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {s:?}")))
            })
            .transpose()?;
        let merged = self.merge_update(r, &cur, new, subresource)?;
        self.finish_update(
            r,
            &key,
            name,
            &cur,
            merged,
            precondition,
            opts,
            warnings,
            subresource,
        )
    }

    /// The object an update leads to: immutable metadata kept, status or spec kept as the subresource says.
    fn merge_update(
        &self,
        r: &Resource,
        cur: &Value,
        mut new: Value,
        subresource: Option<&str>,
    ) -> Result<Value, ApiError> {
        if subresource == Some("status") {
            let mut out = cur.clone();
            out["status"] = new.get("status").cloned().unwrap_or(json!({}));
            return Ok(out);
        }
        if subresource == Some("ephemeralcontainers") {
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
            out["spec"]["ephemeralContainers"] = list;
            return Ok(out);
        }
        new["apiVersion"] = json!(r.api_version());
        new["kind"] = json!(r.kind);
        if !new.get("metadata").is_some_and(Value::is_object) {
            new["metadata"] = json!({});
        }
        for k in [
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ] {
            match cur["metadata"].get(k) {
                Some(v) => new["metadata"][k] = v.clone(),
                None => {
                    if let Some(m) = new["metadata"].as_object_mut() {
                        m.remove(k);
                    }
                }
            }
        }
        if has_status_subresource(r) {
            match cur.get("status") {
                Some(s) => new["status"] = s.clone(),
                None => {
                    new.as_object_mut().unwrap().remove("status");
                }
            }
        }
        if r.kind == "Namespace" {
            new["spec"] = cur.get("spec").cloned().unwrap_or(json!({}));
            if let Some(l) = new["metadata"]
                .get_mut("labels")
                .and_then(Value::as_object_mut)
            {
                l.insert("kubernetes.io/metadata.name".into(), json!(name_of(cur)));
            } else {
                new["metadata"]["labels"] = json!({"kubernetes.io/metadata.name": name_of(cur)});
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
            match status {
                Some(s) => new["status"] = s,
                None => {
                    new.as_object_mut().unwrap().remove("status");
                }
            }
        }
        if has_generation(r) && spec_changed(cur, &new) {
            let g = cur
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            new["metadata"]["generation"] = json!(g + 1);
        }
        Ok(new)
    }

    #[allow(clippy::too_many_arguments)]
    fn finish_update(
        &self,
        r: &Resource,
        key: &str,
        name: &str,
        cur: &Value,
        new: Value,
        precondition: Option<u64>,
        opts: WriteOpts,
        warnings: Vec<String>,
        subresource: Option<&str>,
    ) -> Result<Written, ApiError> {
        let causes = if subresource == Some("ephemeralcontainers") {
            validation::validate_ephemeral_update(cur, &new)
        } else {
            validation::validate_update(r.kind, cur, &new)
        };
        if !causes.is_empty() {
            return Err(ApiError::invalid(r.kind, r.group, name, &causes));
        }
        if opts.dry_run {
            return Ok(Written {
                object: Arc::new(new),
                warnings,
            });
        }
        // the last finalizer gone from an object being deleted: it goes
        let deleting = new.pointer("/metadata/deletionTimestamp").is_some();
        let finalizers = new
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty());
        let object = if deleting && !finalizers && r.kind != "Pod" && r.kind != "Namespace" {
            self.store
                .delete(key, precondition)
                .map_err(|e| store_err(r, name, e))?
        } else {
            self.store
                .update(key, new, precondition)
                .map_err(|e| store_err(r, name, e))?
        };
        Ok(Written { object, warnings })
    }

    /// Applies a patch of the given content type.
    #[allow(clippy::too_many_arguments)]
    pub fn patch(
        &self,
        r: &'static Resource,
        ns: Option<&str>,
        name: &str,
        subresource: Option<&str>,
        content_type: &str,
        body: &[u8],
        opts: WriteOpts,
    ) -> Result<Written, ApiError> {
        let ct = content_type.split(';').next().unwrap_or("").trim();
        let p: Value = match ct {
            "application/apply-patch+yaml" => serde_yaml::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?,
            "application/json-patch+json"
            | "application/merge-patch+json"
            | "application/strategic-merge-patch+json" => serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?,
            other => return Err(ApiError::unsupported_media(other)),
        };
        let key = resources::store_key(r, ns, name);
        for _ in 0..5 {
            let cur = match self.store.get(&key) {
                Some(c) => c,
                None if ct == "application/apply-patch+yaml" => {
                    return self.create(r, ns, p, opts);
                }
                None => return Err(ApiError::not_found(&r.group_resource(), name)),
            };
            let patched = match ct {
                "application/json-patch+json" => patch::json_patch(&cur, &p),
                "application/merge-patch+json" => Ok(patch::json_merge_patch(&cur, &p)),
                _ => patch::strategic_merge_patch(&cur, &p, r.kind),
            }
            .map_err(|e| ApiError::new(422, "Invalid", e.to_string()))?;
            let mut warnings = Vec::new();
            self.check_unknown(r, &patched, &opts, &mut warnings)?;
            let precondition = p
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<u64>().ok());
            let merged = self.merge_update(r, &cur, patched, subresource)?;
            let precondition = precondition.or(Some(kinet_store::resource_version(&cur)));
            match self.finish_update(
                r,
                &key,
                name,
                &cur,
                merged,
                precondition,
                opts,
                warnings,
                subresource,
            ) {
                Err(e)
                    if e.reason == "Conflict"
                        && p.pointer("/metadata/resourceVersion").is_none() =>
                {
                    continue;
                }
                other => return other,
            }
        }
        Err(ApiError::conflict(&r.group_resource(), name))
    }

    /// Deletes an object, gracefully for pods on a node, through finalizers for others.
    /// Returns the object (still present when the deletion is in progress).
    pub fn delete(
        &self,
        r: &Resource,
        ns: Option<&str>,
        name: &str,
        grace: Option<i64>,
        precondition_uid: Option<&str>,
        dry_run: bool,
    ) -> Result<(Arc<Value>, bool), ApiError> {
        let key = resources::store_key(r, ns, name);
        let cur = self.get(r, ns, name)?;
        if let Some(uid) = precondition_uid
            && cur.pointer("/metadata/uid").and_then(Value::as_str) != Some(uid)
        {
            return Err(ApiError::conflict(&r.group_resource(), name));
        }
        if r.kind == "Namespace" && matches!(name, "default" | "kube-system" | "kube-public") {
            return Err(ApiError::forbidden(
                "namespaces",
                name,
                "this namespace may not be deleted",
            ));
        }
        if dry_run {
            return Ok((cur, false));
        }
        let already = cur.pointer("/metadata/deletionTimestamp").is_some();
        let finalizers = cur
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty());
        let on_node = r.kind == "Pod"
            && cur
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .is_some_and(|n| !n.is_empty())
            && !matches!(
                cur.pointer("/status/phase").and_then(Value::as_str),
                Some("Succeeded") | Some("Failed")
            );
        let graceful = match r.kind {
            "Namespace" => true,
            "Pod" => on_node && grace != Some(0),
            _ => finalizers,
        };
        if !(graceful || r.kind == "Pod" && finalizers) {
            let gone = self
                .store
                .delete(&key, None)
                .map_err(|e| store_err(r, name, e))?;
            return Ok((gone, true));
        }
        let grace = match r.kind {
            "Pod" if graceful => grace.unwrap_or_else(|| {
                cur.pointer("/spec/terminationGracePeriodSeconds")
                    .and_then(Value::as_i64)
                    .unwrap_or(30)
            }),
            _ => 0,
        };
        let obj = self
            .store
            .update_with(&key, |o| {
                if r.kind == "Namespace" {
                    o["status"]["phase"] = json!("Terminating");
                }
                // a second delete may shorten the grace period, never lengthen it
                let cur_grace = o
                    .pointer("/metadata/deletionGracePeriodSeconds")
                    .and_then(Value::as_i64);
                if already && cur_grace.is_some_and(|g| g <= grace) {
                    return r.kind == "Namespace";
                }
                if !already {
                    o["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
                }
                if r.kind == "Pod" || grace > 0 {
                    o["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
                }
                true
            })
            .map_err(|e| store_err(r, name, e))?;
        Ok((obj, false))
    }
}

/// Kinds whose `metadata.generation` follows spec changes.
fn has_generation(r: &Resource) -> bool {
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
fn has_status_subresource(r: &Resource) -> bool {
    r.subresources.contains(&"status")
}

fn spec_changed(old: &Value, new: &Value) -> bool {
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
