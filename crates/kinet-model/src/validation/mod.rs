//! API-server validation with the upstream messages.
//!
//! Rules and wording follow k8s.io/apimachinery (util/validation,
//! api/validation, util/validation/field) and pkg/apis/core/validation,
//! apps/validation and batch/validation of kubernetes/kubernetes. Each
//! [`Cause`] carries the `StatusCause` fields the API server returns:
//! `reason` is the `field.ErrorType`, `field` the field path and `message`
//! what `field.Error.ErrorBody()` renders.
//!
//! Objects are the external (v1) JSON. Fields that API defaulting fills in
//! (restartPolicy, dnsPolicy, protocol, imagePullPolicy,
//! terminationMessagePolicy, terminationGracePeriodSeconds, secret type,
//! service type) are accepted when absent; callers that default before
//! validating get the same answers.

mod core_kinds;
mod field;
mod metadata;
mod names;
mod pod_spec;
mod quantities;
mod strict;
#[cfg(test)]
mod tests;
mod types;
mod update;
mod workloads;

use serde_json::Value;

pub use field::{Cause, status_message};
pub use names::{
    is_config_map_key, is_dns1035_label, is_dns1123_label, is_dns1123_subdomain, is_qualified_name,
    is_valid_label_value, is_valid_port_name, is_valid_port_num,
};
pub use strict::unknown_fields;
pub use types::{check_json, check_unstructured, go_format, go_marshal};
pub use update::validate_ephemeral_update;

use crate::json::{arr_at, at, str_at};
use core_kinds::{validate_config_map, validate_node_taints, validate_secret, validate_service};
use field::{forbidden, required};
use metadata::{validate_finalizer, validate_meta, validate_meta_update};
use names::NameRule;
use pod_spec::validate_pod_spec;
use update::{
    validate_config_map_update, validate_node_update, validate_pod_update, validate_secret_update,
    validate_selector_update, validate_service_update,
};
use workloads::{validate_controller_spec, validate_job_spec};

/// (name rule, namespaced, core-group) for the kinds with upstream validation.
fn kind_rules(kind: &str) -> Option<(NameRule, bool, bool)> {
    Some(match kind {
        "Pod"
        | "ConfigMap"
        | "Secret"
        | "ServiceAccount"
        | "Endpoints"
        | "Event"
        | "PersistentVolumeClaim"
        | "ReplicationController"
        | "PodTemplate"
        | "LimitRange"
        | "ResourceQuota" => (NameRule::Subdomain, true, true),
        "Service" => (NameRule::Dns1035, true, true),
        "Namespace" => (NameRule::Label, false, true),
        "Node" | "PersistentVolume" => (NameRule::Subdomain, false, true),
        "Deployment"
        | "ReplicaSet"
        | "StatefulSet"
        | "DaemonSet"
        | "Job"
        | "CronJob"
        | "Ingress"
        | "NetworkPolicy"
        | "EndpointSlice"
        | "Role"
        | "RoleBinding"
        | "Lease"
        | "ControllerRevision"
        | "HorizontalPodAutoscaler"
        | "PodDisruptionBudget" => (NameRule::Subdomain, true, true),
        "IngressClass"
        | "ClusterRole"
        | "ClusterRoleBinding"
        | "PriorityClass"
        | "StorageClass"
        | "CustomResourceDefinition" => (NameRule::Subdomain, false, true),
        _ => return None,
    })
}

/// Create-time validation of `obj` of `kind`. Unknown kinds get the generic
/// metadata checks (name required, path-segment name, labels, annotations).
pub fn validate(kind: &str, obj: &Value) -> Vec<Cause> {
    let mut errs = Vec::new();
    let (rule, namespaced, kube) =
        kind_rules(kind).unwrap_or((NameRule::PathSegment, false, false));
    validate_meta(obj, rule, namespaced, kube, &mut errs);
    validate_body(kind, obj, &mut errs);
    if kind == "Pod"
        && let Some(spec) = at(obj, "/spec")
        && !arr_at(spec, "/ephemeralContainers").is_empty()
    {
        // ValidatePodCreate: ephemeral containers come through their subresource only.
        errs.push(forbidden(
            "spec.ephemeralContainers",
            "cannot be set on create",
        ));
    }
    errs
}

/// Everything but the metadata checks.
fn validate_body(kind: &str, obj: &Value, errs: &mut Vec<Cause>) {
    let empty = Value::Object(Default::default());
    match kind {
        "Pod" => validate_pod_spec(at(obj, "/spec").unwrap_or(&empty), "spec", true, errs),
        "Namespace" => {
            let spec = at(obj, "/spec").unwrap_or(&empty);
            for f in arr_at(spec, "/finalizers") {
                validate_finalizer(f.as_str().unwrap_or(""), "spec.finalizers", errs);
            }
        }
        "ConfigMap" => validate_config_map(obj, errs),
        "Secret" => validate_secret(obj, errs),
        "Node" => {
            let spec = at(obj, "/spec").unwrap_or(&empty);
            validate_node_taints(arr_at(spec, "/taints"), "metadata.taints", errs);
        }
        "Service" => validate_service(obj, errs),
        "Deployment" | "ReplicaSet" => {
            validate_controller_spec(obj, "deployment", "ReplicaSet", errs)
        }
        "StatefulSet" => validate_controller_spec(obj, "statefulset", "StatefulSet", errs),
        "DaemonSet" => validate_controller_spec(obj, "daemonset", "DaemonSet", errs),
        "Job" => validate_job_spec(at(obj, "/spec"), "spec", errs),
        "CronJob" => {
            let spec = at(obj, "/spec").unwrap_or(&empty);
            if str_at(spec, "/schedule").is_empty() {
                errs.push(required("spec.schedule", ""));
            }
            let jt = at(spec, "/jobTemplate").and_then(|t| at(t, "/spec"));
            validate_job_spec(jt, "spec.jobTemplate.spec", errs);
        }
        _ => {}
    }
}

/// Update-time validation: the create rules on `new` plus the upstream
/// immutability rules against `old`. `new` should carry the defaults `old`
/// has (as the API server defaults a request before validating it).
pub fn validate_update(kind: &str, old: &Value, new: &Value) -> Vec<Cause> {
    let mut errs = Vec::new();
    let (rule, namespaced, kube) =
        kind_rules(kind).unwrap_or((NameRule::PathSegment, false, false));
    validate_meta_update(old, new, kube, &mut errs);
    match kind {
        "Pod" => {
            validate_meta(new, rule, namespaced, kube, &mut errs);
            validate_body(kind, new, &mut errs);
            validate_pod_update(old, new, &mut errs);
        }
        "ConfigMap" => {
            validate_config_map_update(old, new, &mut errs);
            validate_meta(new, rule, namespaced, kube, &mut errs);
            validate_body(kind, new, &mut errs);
        }
        "Secret" => {
            validate_secret_update(old, new, &mut errs);
            validate_meta(new, rule, namespaced, kube, &mut errs);
            validate_body(kind, new, &mut errs);
        }
        "Node" => validate_node_update(old, new, &mut errs),
        "Service" => {
            validate_service_update(old, new, &mut errs);
            validate_meta(new, rule, namespaced, kube, &mut errs);
            validate_body(kind, new, &mut errs);
        }
        "Namespace" => {}
        "ServiceAccount" => {
            validate_meta(new, rule, namespaced, kube, &mut errs);
            validate_body(kind, new, &mut errs);
        }
        "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" => {
            validate_body(kind, new, &mut errs);
            validate_selector_update(old, new, &mut errs);
        }
        _ => validate_body(kind, new, &mut errs),
    }
    errs
}
