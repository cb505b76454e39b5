//! `ValidateObjectMeta` and `ValidateObjectMetaUpdate`: names, namespace,
//! labels, annotations, owner references and finalizers.

use std::collections::HashSet;

use serde_json::Value;

use super::field::{
    Bad, Cause, bs, child, forbidden, index, invalid, non_negative, required, too_long,
};
use super::names::{NameRule, is_qualified_name, is_valid_label_value, name_errors};
use crate::json::{arr_at, at, bool_at, int_at, str_at, string_map_at};
use crate::quote::{go_quote, go_strings};

pub(super) fn validate_labels(labels: &[(String, String)], path: &str, errs: &mut Vec<Cause>) {
    for (k, v) in labels {
        for msg in is_qualified_name(k) {
            errs.push(invalid(path, bs(k), &msg));
        }
        for msg in is_valid_label_value(v) {
            errs.push(invalid(path, bs(v), &msg));
        }
    }
}

const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

pub(super) fn validate_annotations(
    annotations: &[(String, String)],
    path: &str,
    errs: &mut Vec<Cause>,
) {
    let mut total = 0usize;
    for (k, v) in annotations {
        for msg in is_qualified_name(&k.to_lowercase()) {
            errs.push(invalid(path, bs(k), &msg));
        }
        total += k.len() + v.len();
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.push(too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT));
    }
}

const STANDARD_FINALIZERS: &[&str] = &["kubernetes", "orphan", "foregroundDeletion"];

/// The core rule for finalizer names (`validateKubeFinalizerName`).
pub(super) fn validate_finalizer(name: &str, path: &str, errs: &mut Vec<Cause>) {
    for msg in is_qualified_name(name) {
        errs.push(invalid(path, bs(name), &msg));
    }
    if !name.contains('/') && !STANDARD_FINALIZERS.contains(&name) {
        errs.push(invalid(
            path,
            bs(name),
            "name is neither a standard finalizer name nor is it fully qualified",
        ));
    }
}

/// The parts of ObjectMeta validation shared by create and update.
fn validate_meta_common(meta: &Value, path: &str, namespaced: bool, errs: &mut Vec<Cause>) {
    if namespaced {
        let ns = str_at(meta, "/namespace");
        if !ns.is_empty() {
            for msg in name_errors(NameRule::Label, ns, false) {
                errs.push(invalid(&child(path, "namespace"), bs(ns), &msg));
            }
        }
    }
    non_negative(meta, path, &["generation"], errs);
    validate_labels(
        &string_map_at(meta, "/labels"),
        &child(path, "labels"),
        errs,
    );
    validate_annotations(
        &string_map_at(meta, "/annotations"),
        &child(path, "annotations"),
        errs,
    );
    let owners_path = child(path, "ownerReferences");
    let mut controller: Option<String> = None;
    for owner in arr_at(meta, "/ownerReferences") {
        let api_version = str_at(owner, "/apiVersion");
        let version = api_version.rsplit('/').next().unwrap_or("");
        if version.is_empty() {
            errs.push(invalid(
                &child(&owners_path, "apiVersion"),
                bs(api_version),
                "version must not be empty",
            ));
        }
        for f in ["kind", "name", "uid"] {
            if str_at(owner, &format!("/{f}")).is_empty() {
                errs.push(invalid(
                    &child(&owners_path, f),
                    bs(""),
                    "must not be empty",
                ));
            }
        }
        if bool_at(owner, "/controller") {
            let cur = format!("{}/{}", str_at(owner, "/kind"), str_at(owner, "/name"));
            match &controller {
                Some(first) => errs.push(invalid(
                    &owners_path,
                    Bad::Raw("[]v1.OwnerReference{...}".into()),
                    &format!(
                        "Only one reference can have Controller set to true. Found \"true\" in references for {first} and {cur}"
                    ),
                )),
                None => controller = Some(cur),
            }
        }
    }
    let fin_path = child(path, "finalizers");
    let finalizers: Vec<&str> = arr_at(meta, "/finalizers")
        .iter()
        .map(|f| f.as_str().unwrap_or(""))
        .collect();
    for f in &finalizers {
        for msg in is_qualified_name(f) {
            errs.push(invalid(&fin_path, bs(f), &msg));
        }
    }
    if finalizers.contains(&"orphan") && finalizers.contains(&"foregroundDeletion") {
        errs.push(invalid(
            &fin_path,
            Bad::Raw(go_strings(arr_at(meta, "/finalizers"))),
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
}

/// The core kinds' extra finalizer rule, per index.
fn validate_kube_finalizers(meta: &Value, path: &str, errs: &mut Vec<Cause>) {
    for (i, f) in arr_at(meta, "/finalizers").iter().enumerate() {
        let name = f.as_str().unwrap_or("");
        if !name.contains('/') && !STANDARD_FINALIZERS.contains(&name) {
            errs.push(invalid(
                &index(&child(path, "finalizers"), i),
                bs(name),
                "name is neither a standard finalizer name nor is it fully qualified",
            ));
        }
    }
}

/// `ValidateObjectMeta` on create.
pub(super) fn validate_meta(
    obj: &Value,
    rule: NameRule,
    namespaced: bool,
    kube: bool,
    errs: &mut Vec<Cause>,
) {
    let empty = Value::Object(Default::default());
    let meta = at(obj, "/metadata").unwrap_or(&empty);
    let path = "metadata";
    let generate = str_at(meta, "/generateName");
    let name = str_at(meta, "/name");
    if !generate.is_empty() {
        for msg in name_errors(rule, generate, true) {
            errs.push(invalid("metadata.generateName", bs(generate), &msg));
        }
    }
    if name.is_empty() {
        if generate.is_empty() {
            errs.push(required(
                "metadata.name",
                "name or generateName is required",
            ));
        }
    } else {
        for msg in name_errors(rule, name, false) {
            errs.push(invalid("metadata.name", bs(name), &msg));
        }
    }
    validate_meta_common(meta, path, namespaced, errs);
    if kube {
        validate_kube_finalizers(meta, path, errs);
    }
}

/// `ValidateObjectMetaUpdate`.
pub(super) fn validate_meta_update(old: &Value, new: &Value, kube: bool, errs: &mut Vec<Cause>) {
    let empty = Value::Object(Default::default());
    let om = at(old, "/metadata").unwrap_or(&empty);
    let nm = at(new, "/metadata").unwrap_or(&empty);
    if at(om, "/deletionTimestamp").is_some() {
        let old_f: HashSet<&str> = arr_at(om, "/finalizers")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let mut extra: Vec<&str> = arr_at(nm, "/finalizers")
            .iter()
            .filter_map(Value::as_str)
            .filter(|f| !old_f.contains(f))
            .collect();
        extra.sort();
        extra.dedup();
        if !extra.is_empty() {
            let list: Vec<String> = extra.iter().map(|f| go_quote(f)).collect();
            errs.push(forbidden(
                "metadata.finalizers",
                &format!(
                    "no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
                    list.join(", ")
                ),
            ));
        }
    }
    let (og, ng) = (
        int_at(om, "/generation").unwrap_or(0),
        int_at(nm, "/generation").unwrap_or(0),
    );
    if ng < og && at(nm, "/generation").is_some() {
        errs.push(invalid(
            "metadata.generation",
            Bad::Int(ng),
            "must not be decremented",
        ));
    }
    for f in ["name", "namespace"] {
        if str_at(nm, &format!("/{f}")) != str_at(om, &format!("/{f}")) {
            errs.push(invalid(
                &format!("metadata.{f}"),
                bs(str_at(nm, &format!("/{f}"))),
                "field is immutable",
            ));
        }
    }
    // BeforeUpdate copies uid and creationTimestamp when the request leaves them out.
    let uid = str_at(nm, "/uid");
    if !uid.is_empty() && uid != str_at(om, "/uid") {
        errs.push(invalid("metadata.uid", bs(uid), "field is immutable"));
    }
    validate_labels(&string_map_at(nm, "/labels"), "metadata.labels", errs);
    validate_annotations(
        &string_map_at(nm, "/annotations"),
        "metadata.annotations",
        errs,
    );
    let fin_path = "metadata.finalizers";
    for f in arr_at(nm, "/finalizers").iter().filter_map(Value::as_str) {
        for msg in is_qualified_name(f) {
            errs.push(invalid(fin_path, bs(f), &msg));
        }
    }
    if kube {
        validate_kube_finalizers(nm, "metadata", errs);
    }
}
