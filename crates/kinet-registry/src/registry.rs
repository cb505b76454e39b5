//! What a write does to objects, for every writer (API requests, controllers,
//! node agents): create with metadata, defaults, admission and validation; update
//! and patch with preconditions, immutable fields and subresources; graceful
//! deletion and finalizers.

use crate::errors::ApiError;
use crate::strategy::{self, FieldValidation, Subresource};
use crate::{admission, now, random_suffix, resource, services};
use kinet_model::json as j;
use kinet_model::quote::go_quote;
use kinet_model::resources::{self, Resource};
use kinet_model::{patch, validation};
use kinet_store::{Store, StoreError};
use serde_json::{Value, json};
use std::sync::Arc;

/// The API error of a store error about object `name` of `r`.
pub fn store_error(r: &Resource, name: &str, e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::not_found(&r.group_resource(), name),
        StoreError::AlreadyExists => ApiError::already_exists(&r.group_resource(), name),
        StoreError::Conflict => ApiError::conflict(&r.group_resource(), name),
        StoreError::Gone { requested, oldest } => {
            ApiError::gone(format!("too old resource version: {requested} ({oldest})"))
        }
        e @ (StoreError::Db(_) | StoreError::Json(_) | StoreError::Closed) => {
            ApiError::internal(e.to_string())
        }
    }
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

impl WriteOpts {
    /// The writes of in-process components (controllers, node agents, the daemon):
    /// their objects are built in code, so unknown fields are not looked for.
    pub const IN_PROCESS: WriteOpts = WriteOpts {
        dry_run: false,
        validation: FieldValidation::Ignore,
    };
}

/// The result of a write: the object and warnings for the client.
pub struct Written {
    pub object: Arc<Value>,
    pub warnings: Vec<String>,
}

/// The result of a delete: the object's last state, and whether it is gone
/// (false while a graceful deletion or finalizers hold it).
pub struct Deleted {
    pub object: Arc<Value>,
    pub gone: bool,
}

/// A patch, by the kind of its body.
#[derive(Debug, Clone)]
pub enum Patch {
    /// RFC 6902 JSON patch.
    Json(Value),
    /// RFC 7386 JSON merge patch.
    Merge(Value),
    /// Strategic merge patch (merge keys by kind).
    StrategicMerge(Value),
    /// Server-side apply: merged like a strategic merge patch; creates a missing object.
    Apply(Value),
}

impl Patch {
    fn body(&self) -> &Value {
        match self {
            Patch::Json(v) | Patch::Merge(v) | Patch::StrategicMerge(v) | Patch::Apply(v) => v,
        }
    }

    fn apply_to(&self, cur: &Value, kind: &str) -> Result<Value, ApiError> {
        match self {
            Patch::Json(p) => patch::json_patch(cur, p),
            Patch::Merge(p) => Ok(patch::json_merge_patch(cur, p)),
            Patch::StrategicMerge(p) | Patch::Apply(p) => {
                patch::strategic_merge_patch(cur, p, kind)
            }
        }
        .map_err(|e| ApiError::new(422, "Invalid", e.to_string()))
    }

    /// The patched object must decode into the kind's Go struct, as upstream's
    /// patchers decode it (encoding/json for JSON and merge patches, the unstructured
    /// converter for strategic ones): else 422 Invalid on the field `patch`, showing
    /// the patched JSON or the strategic patch as Go prints them.
    fn check_result(&self, r: &Resource, patched: &Value) -> Result<(), ApiError> {
        let av = r.api_version();
        match self {
            Patch::Json(_) | Patch::Merge(_) => validation::check_json(&av, r.kind, patched)
                .map_err(|e| (e, validation::go_marshal(patched))),
            Patch::StrategicMerge(b) | Patch::Apply(b) => {
                validation::check_unstructured(&av, r.kind, patched)
                    .map_err(|e| (e, validation::go_format(b)))
            }
        }
        .map_err(|(e, shown)| {
            // errors.NewInvalid(schema.GroupKind{}, "", …): no kind or name in the
            // details, so kubectl says "The request is invalid"
            let message = format!("Invalid value: {}: {e}", go_quote(&shown));
            let mut err = ApiError::new(
                422,
                "Invalid",
                format!(" \"\" is invalid: patch: {message}"),
            );
            err.details = Some(json!({
                "causes": [{"reason": "FieldValueInvalid", "message": message, "field": "patch"}]
            }));
            err
        })
    }
}

/// A create or update body must decode into the kind's Go struct (upstream's
/// transformDecodeError: 400 BadRequest).
fn check_decodes(r: &Resource, obj: &Value) -> Result<(), ApiError> {
    // the serializer reads apiVersion and kind into a struct of two strings first
    let type_meta = obj.as_object().and_then(|m| {
        m.iter().find(|(k, v)| {
            matches!(k.as_str(), "apiVersion" | "kind") && !(v.is_string() || v.is_null())
        })
    });
    if let Some((field, v)) = type_meta {
        let body = obj.to_string();
        let summary = if body.len() > 30 {
            format!("{} ...", String::from_utf8_lossy(&body.as_bytes()[..30]))
        } else {
            body
        };
        return Err(ApiError::bad_request(format!(
            "the object provided is unrecognized (must be of type {}): couldn't get version/kind; \
             json parse error: json: cannot unmarshal {} into Go struct field .{field} of type \
             string ({summary})",
            r.kind,
            kinet_model::quote::go_json_kind(v)
        )));
    }
    validation::check_json(&r.api_version(), r.kind, obj).map_err(|e| {
        ApiError::bad_request(format!(
            "{kind} in version {} cannot be handled as a {kind}: {e}",
            go_quote(r.version),
            kind = r.kind
        ))
    })
}

/// Writes to one store with the registry's rules.
#[derive(Clone, Copy)]
pub struct Registry<'a> {
    pub store: &'a Store,
}

impl<'a> Registry<'a> {
    pub fn new(store: &'a Store) -> Self {
        Registry { store }
    }

    pub fn get(&self, r: &Resource, ns: Option<&str>, name: &str) -> Result<Arc<Value>, ApiError> {
        self.store
            .get(&resources::store_key(r, ns, name))
            .ok_or_else(|| ApiError::not_found(&r.group_resource(), name))
    }

    /// Creates an object in namespace `ns` (the request's; "default" when None).
    pub fn create(
        &self,
        r: &Resource,
        ns: Option<&str>,
        obj: Value,
        opts: WriteOpts,
    ) -> Result<Written, ApiError> {
        strategy::check_type(r, &obj)?;
        check_decodes(r, &obj)?;
        let mut warnings = Vec::new();
        strategy::check_unknown(r, &obj, opts.validation, &mut warnings)?;
        let uid = uuid::Uuid::new_v4().to_string();
        let prepared = strategy::prepare_for_create(r, ns, obj, &now(), &uid, &random_suffix(5))?;
        let mut obj = prepared.object;
        let name = j::name(&obj).to_string();
        if r.kind == "Pod" {
            // admission runs before names are generated: errors show generateName
            let generate_name = j::str_at(&obj, "/metadata/generateName");
            let shown = if prepared.generated && !generate_name.is_empty() {
                generate_name.to_string()
            } else {
                name.clone()
            };
            admission::service_account(self.store, r, &mut obj, &shown)?;
        }
        // a Service's addresses are taken before validation (upstream's BeginCreate),
        // under the lock that keeps them until the write
        let _services = (r.kind == "Service").then(services::lock);
        if r.kind == "Service" {
            if self.store.get(&crate::key_of(r, &obj)).is_some() {
                return Err(ApiError::already_exists(&r.group_resource(), &name));
            }
            services::allocate(self.store, None, &mut obj)?;
        }
        let causes = validation::validate(r.kind, &obj);
        if !causes.is_empty() {
            return Err(ApiError::invalid(r.kind, r.group, &name, &causes));
        }
        let ns_name = j::at(&obj, "/metadata/namespace")
            .and_then(Value::as_str)
            .map(String::from);
        if let Some(ns) = &ns_name {
            admission::namespace_lifecycle(self.store, r, ns, &name)?;
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
            .map_err(|e| store_error(r, &name, e))?;
        if r.kind == "Namespace" {
            // the default ServiceAccount comes with the namespace, so that pods created
            // right after it pass ServiceAccount admission (upstream's controller makes it
            // a moment later and admission waits for it)
            self.ensure_default_service_account(&name);
        }
        Ok(Written { object, warnings })
    }

    /// Creates `default` in a namespace if it is not there.
    pub fn ensure_default_service_account(&self, ns: &str) {
        let sar = resource("", "serviceaccounts");
        if self
            .store
            .get(&resources::store_key(sar, Some(ns), "default"))
            .is_none()
        {
            let sa = json!({"metadata": {"name": "default", "namespace": ns}});
            if let Err(e) = self.create(sar, Some(ns), sa, WriteOpts::IN_PROCESS) {
                tracing::debug!("default service account of {ns} not created: {e}");
            }
        }
    }

    /// Replaces an object (PUT), or only a subresource's part of it.
    pub fn update(
        &self,
        r: &Resource,
        ns: Option<&str>,
        name: &str,
        subresource: Option<Subresource>,
        new: Value,
        opts: WriteOpts,
    ) -> Result<Written, ApiError> {
        strategy::check_type(r, &new)?;
        check_decodes(r, &new)?;
        let mut warnings = Vec::new();
        strategy::check_unknown(r, &new, opts.validation, &mut warnings)?;
        let body_name = j::name(&new);
        if !body_name.is_empty() && body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        let key = resources::store_key(r, ns, name);
        let cur = self.get(r, ns, name)?;
        let precondition = j::at(&new, "/metadata/resourceVersion")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<u64>()
                    .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {s:?}")))
            })
            .transpose()?;
        let merged = strategy::prepare_for_update(r, &cur, new, subresource)?;
        self.finish_update(
            r,
            &key,
            &cur,
            merged,
            precondition,
            opts,
            warnings,
            subresource,
        )
    }

    /// Validates and stores an update; the last finalizer gone from an object being
    /// deleted deletes it.
    #[allow(clippy::too_many_arguments)]
    fn finish_update(
        &self,
        r: &Resource,
        key: &str,
        cur: &Value,
        new: Value,
        precondition: Option<u64>,
        opts: WriteOpts,
        warnings: Vec<String>,
        subresource: Option<Subresource>,
    ) -> Result<Written, ApiError> {
        let name = j::name(cur);
        let causes = if subresource == Some(Subresource::EphemeralContainers) {
            validation::validate_ephemeral_update(cur, &new)
        } else {
            validation::validate_update(r.kind, cur, &new)
        };
        if !causes.is_empty() {
            return Err(ApiError::invalid(r.kind, r.group, name, &causes));
        }
        let mut new = new;
        let _services = (r.kind == "Service" && subresource.is_none()).then(services::lock);
        if _services.is_some() {
            services::allocate(self.store, Some(cur), &mut new)?;
        }
        if opts.dry_run {
            return Ok(Written {
                object: Arc::new(new),
                warnings,
            });
        }
        let deleting = j::at(&new, "/metadata/deletionTimestamp").is_some();
        let finalizers = !j::arr_at(&new, "/metadata/finalizers").is_empty();
        let object = if deleting && !finalizers && r.kind != "Pod" && r.kind != "Namespace" {
            self.store
                .delete(key, precondition)
                .map_err(|e| store_error(r, name, e))?
        } else {
            self.store
                .update(key, new, precondition)
                .map_err(|e| store_error(r, name, e))?
        };
        Ok(Written { object, warnings })
    }

    /// Applies a patch; a conflict with a concurrent write is retried unless the
    /// patch names the resourceVersion it is for.
    pub fn patch(
        &self,
        r: &Resource,
        ns: Option<&str>,
        name: &str,
        subresource: Option<Subresource>,
        p: &Patch,
        opts: WriteOpts,
    ) -> Result<Written, ApiError> {
        let key = resources::store_key(r, ns, name);
        let body = p.body();
        let pinned = body.pointer("/metadata/resourceVersion");
        for _ in 0..5 {
            let cur = match self.store.get(&key) {
                Some(c) => c,
                None if matches!(p, Patch::Apply(_)) => {
                    return self.create(r, ns, body.clone(), opts);
                }
                None => return Err(ApiError::not_found(&r.group_resource(), name)),
            };
            let patched = p.apply_to(&cur, r.kind)?;
            p.check_result(r, &patched)?;
            let mut warnings = Vec::new();
            strategy::check_unknown(r, &patched, opts.validation, &mut warnings)?;
            let precondition = pinned
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<u64>().ok())
                .or(Some(kinet_store::resource_version(&cur)));
            let merged = strategy::prepare_for_update(r, &cur, patched, subresource)?;
            match self.finish_update(
                r,
                &key,
                &cur,
                merged,
                precondition,
                opts,
                warnings,
                subresource,
            ) {
                Err(e) if e.is_conflict() && pinned.is_none() => continue,
                other => return other,
            }
        }
        Err(ApiError::conflict(&r.group_resource(), name))
    }

    /// Deletes an object, gracefully for pods on a node, through finalizers for others.
    pub fn delete(
        &self,
        r: &Resource,
        ns: Option<&str>,
        name: &str,
        grace: Option<i64>,
        precondition_uid: Option<&str>,
        dry_run: bool,
    ) -> Result<Deleted, ApiError> {
        let key = resources::store_key(r, ns, name);
        let cur = self.get(r, ns, name)?;
        if let Some(uid) = precondition_uid
            && j::str_at(&cur, "/metadata/uid") != uid
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
            return Ok(Deleted {
                object: cur,
                gone: false,
            });
        }
        let already = j::at(&cur, "/metadata/deletionTimestamp").is_some();
        let finalizers = !j::arr_at(&cur, "/metadata/finalizers").is_empty();
        let on_node = r.kind == "Pod"
            && !j::str_at(&cur, "/spec/nodeName").is_empty()
            && !matches!(j::str_at(&cur, "/status/phase"), "Succeeded" | "Failed");
        let graceful = match r.kind {
            "Namespace" => true,
            "Pod" => on_node && grace != Some(0),
            _ => finalizers,
        };
        if !(graceful || r.kind == "Pod" && finalizers) {
            let gone = self
                .store
                .delete(&key, None)
                .map_err(|e| store_error(r, name, e))?;
            return Ok(Deleted {
                object: gone,
                gone: true,
            });
        }
        let grace = match r.kind {
            "Pod" if graceful => grace.unwrap_or_else(|| {
                j::int_at(&cur, "/spec/terminationGracePeriodSeconds").unwrap_or(30)
            }),
            _ => 0,
        };
        let obj = self
            .store
            .update_with(&key, |o| {
                let o = strategy::as_object(o);
                if r.kind == "Namespace" {
                    strategy::object_at(o, "status").insert("phase".into(), json!("Terminating"));
                }
                let meta = strategy::object_at(o, "metadata");
                // a second delete may shorten the grace period, never lengthen it
                let cur_grace = meta
                    .get("deletionGracePeriodSeconds")
                    .and_then(Value::as_i64);
                if already && cur_grace.is_some_and(|g| g <= grace) {
                    return r.kind == "Namespace";
                }
                if !already {
                    meta.insert("deletionTimestamp".into(), json!(now()));
                }
                if r.kind == "Pod" || grace > 0 {
                    meta.insert("deletionGracePeriodSeconds".into(), json!(grace));
                }
                true
            })
            .map_err(|e| store_error(r, name, e))?;
        Ok(Deleted {
            object: obj,
            gone: false,
        })
    }
}

#[cfg(test)]
mod tests;
