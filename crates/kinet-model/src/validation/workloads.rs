//! The workload kinds (apps and batch): label selectors, ReplicaSet-like
//! controllers (Deployment, ReplicaSet, StatefulSet, DaemonSet), Job and CronJob.

use serde_json::Value;

use super::field::{
    Bad, Cause, bs, child, forbidden, index, invalid, non_negative, not_supported, required,
};
use super::metadata::validate_labels;
use super::names::{is_qualified_name, is_valid_label_value};
use super::pod_spec::validate_pod_template;
use crate::json::{arr_at, at, str_at, string_map_at};
use crate::quote::go_map;
use crate::selector::{LabelSelector, labels_of};

// ---------------------------------------------------------------------------
// Label selectors

fn validate_label_selector(sel: &Value, path: &str, errs: &mut Vec<Cause>) {
    let ep = child(path, "matchExpressions");
    for (i, e) in arr_at(sel, "/matchExpressions").iter().enumerate() {
        let idx = index(&ep, i);
        let op = str_at(e, "/operator");
        let values = arr_at(e, "/values");
        match op {
            "In" | "NotIn" => {
                if values.is_empty() {
                    errs.push(required(
                        &child(&idx, "values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    errs.push(forbidden(
                        &child(&idx, "values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
            other => errs.push(invalid(
                &child(&idx, "operator"),
                bs(other),
                "not a valid selector operator",
            )),
        }
        let k = str_at(e, "/key");
        for m in is_qualified_name(k) {
            errs.push(invalid(&child(&idx, "key"), bs(k), &m));
        }
        for (vi, v) in values.iter().enumerate() {
            let v = v.as_str().unwrap_or("");
            for m in is_valid_label_value(v) {
                errs.push(invalid(&index(&child(&idx, "values"), vi), bs(v), &m));
            }
        }
    }
    validate_labels(
        &string_map_at(sel, "/matchLabels"),
        &child(path, "matchLabels"),
        errs,
    );
}

/// protobuf `(*LabelSelector).String()`, which the error body uses.
pub(super) fn label_selector_string(sel: &Value) -> String {
    let mut labels = string_map_at(sel, "/matchLabels");
    labels.sort();
    let ml: String = labels.iter().map(|(k, v)| format!("{k}: {v},")).collect();
    let exprs: String = arr_at(sel, "/matchExpressions")
        .iter()
        .map(|e| {
            let vals: Vec<&str> = arr_at(e, "/values")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            format!(
                "LabelSelectorRequirement{{Key:{},Operator:{},Values:[{}],}},",
                str_at(e, "/key"),
                str_at(e, "/operator"),
                vals.join(" ")
            )
        })
        .collect();
    format!(
        "&LabelSelector{{MatchLabels:map[string]string{{{ml}}},MatchExpressions:[]LabelSelectorRequirement{{{exprs}}},}}"
    )
}

/// Selector and template checks of ReplicaSet-like controllers.
pub(super) fn validate_controller_spec(
    obj: &Value,
    kind_word: &str,
    template_path_spec: &str,
    errs: &mut Vec<Cause>,
) {
    let empty = Value::Object(Default::default());
    let spec = at(obj, "/spec").unwrap_or(&empty);
    non_negative(spec, "spec", &["replicas"], errs);
    let template = at(spec, "/template");
    let selector = at(spec, "/selector");
    if selector.is_none() && kind_word != "daemonset" {
        errs.push(required("spec.selector", ""));
    }
    // metav1.LabelSelectorAsSelector; a selector that does not parse is not empty.
    let parsed = selector.map(LabelSelector::from_object_checked);
    if let Some(sel) = selector {
        validate_label_selector(sel, "spec.selector", errs);
        if parsed
            .as_ref()
            .is_some_and(|p| p.as_ref().is_ok_and(LabelSelector::is_empty))
        {
            errs.push(invalid(
                "spec.selector",
                Bad::Raw(label_selector_string(sel)),
                &format!("empty selector is invalid for {kind_word}"),
            ));
        }
    }
    match (selector, &parsed) {
        (Some(sel), Some(Err(_))) => {
            // The template is not checked against a selector that does not parse.
            match kind_word {
                "daemonset" => {}
                "statefulset" => {
                    errs.push(invalid(
                        "spec.selector",
                        Bad::Raw(label_selector_string(sel)),
                        "",
                    ));
                    return;
                }
                _ => {
                    errs.push(invalid(
                        "spec.selector",
                        Bad::Raw(label_selector_string(sel)),
                        "invalid label selector",
                    ));
                    return;
                }
            }
        }
        (_, Some(Ok(s)))
            if s.is_empty() || s.matches(&template.map(labels_of).unwrap_or_default()) => {}
        _ => {
            // A nil selector selects nothing, so it never matches the template.
            let raw = go_map(at(spec, "/template/metadata/labels"));
            errs.push(invalid(
                "spec.template.metadata.labels",
                Bad::Raw(raw),
                "`selector` does not match template `labels`",
            ));
        }
    }
    validate_pod_template(template, "spec.template", errs);
    if let Some(t) = template {
        let tspec = at(t, "/spec").unwrap_or(&empty);
        let rp = str_at(tspec, "/restartPolicy");
        if !rp.is_empty() && rp != "Always" {
            errs.push(not_supported(
                "spec.template.spec.restartPolicy",
                bs(rp),
                &["Always"],
            ));
        }
        if at(tspec, "/activeDeadlineSeconds").is_some() {
            errs.push(forbidden(
                "spec.template.spec.activeDeadlineSeconds",
                &format!("activeDeadlineSeconds in {template_path_spec} is not Supported"),
            ));
        }
    }
}

/// The Job template rules at `path` (`spec` or `spec.jobTemplate.spec`).
pub(super) fn validate_job_spec(spec: Option<&Value>, path: &str, errs: &mut Vec<Cause>) {
    let empty = Value::Object(Default::default());
    let spec = spec.unwrap_or(&empty);
    non_negative(
        spec,
        path,
        &[
            "parallelism",
            "completions",
            "activeDeadlineSeconds",
            "backoffLimit",
        ],
        errs,
    );
    let tpath = child(path, "template");
    validate_pod_template(at(spec, "/template"), &tpath, errs);
    let tspec = at(spec, "/template")
        .and_then(|t| at(t, "/spec"))
        .unwrap_or(&empty);
    let rp = str_at(tspec, "/restartPolicy");
    let rp_path = child(&child(&tpath, "spec"), "restartPolicy");
    if rp.is_empty() || rp == "Always" {
        errs.push(required(&rp_path, "valid values: \"OnFailure\", \"Never\""));
    } else if rp != "OnFailure" && rp != "Never" {
        errs.push(not_supported(&rp_path, bs(rp), &["OnFailure", "Never"]));
    }
}
