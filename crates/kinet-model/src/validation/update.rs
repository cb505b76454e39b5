//! Update-time rules (`ValidateUpdate`): what may not change between the stored
//! object and the new one.

use std::collections::{BTreeMap, HashSet};

use serde_json::Value;

use super::core_kinds::{go_strings, is_headless, strings_at, validate_node_taints};
use super::field::{
    Bad, Cause, bs, child, duplicate, forbidden, index, invalid, not_found, required, required_name,
};
use super::names::{inclusive_range_error, is_dns1123_label};
use super::pod_spec::validate_tolerations;
use super::workloads::label_selector_string;
use crate::json::{arr_at, at, bool_at, int_at, str_at, string_map_at};
use crate::quote::go_quote;

/// Strip what semantic equality ignores: nulls, empty lists and empty maps.
fn normalize(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = serde_json::Map::new();
            for (k, v) in m {
                let n = normalize(v);
                let drop = match &n {
                    Value::Null => true,
                    Value::Array(a) => a.is_empty(),
                    Value::Object(o) => o.is_empty(),
                    _ => false,
                };
                if !drop {
                    out.insert(k.clone(), n);
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(normalize).collect()),
        other => other.clone(),
    }
}

const FIELD_IMMUTABLE_WHEN_SET: &str = "field is immutable when `immutable` is set";

const UPDATABLE_POD_SPEC_FIELDS: &str = "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

pub(super) fn validate_pod_update(old: &Value, new: &Value, errs: &mut Vec<Cause>) {
    let empty = Value::Object(Default::default());
    let os = at(old, "/spec").unwrap_or(&empty);
    let ns = at(new, "/spec").unwrap_or(&empty);
    for list in ["containers", "initContainers"] {
        let (oc, nc) = (
            arr_at(os, &format!("/{list}")),
            arr_at(ns, &format!("/{list}")),
        );
        let p = child("spec", list);
        if oc.len() != nc.len() {
            errs.push(forbidden(
                &p,
                "pod updates may not add or remove containers",
            ));
            return;
        }
        for (i, c) in nc.iter().enumerate() {
            let image = str_at(c, "/image");
            if image.is_empty() {
                errs.push(required(&child(&index(&p, i), "image"), ""));
            }
            if image.trim() != image {
                errs.push(invalid(
                    &child(&index(&p, i), "image"),
                    bs(image),
                    "must not have leading or trailing whitespace",
                ));
            }
        }
    }
    let ads_path = "spec.activeDeadlineSeconds";
    match (
        int_at(os, "/activeDeadlineSeconds"),
        int_at(ns, "/activeDeadlineSeconds"),
    ) {
        (_, Some(n)) if !(0..=i32::MAX as i64).contains(&n) => {
            errs.push(invalid(
                ads_path,
                Bad::Int(n),
                &inclusive_range_error(0, i32::MAX as i64),
            ));
            return;
        }
        (Some(o), Some(n)) if o < n => {
            errs.push(invalid(
                ads_path,
                Bad::Int(n),
                "must be less than or equal to previous value",
            ));
            return;
        }
        (Some(_), None) => errs.push(invalid(
            ads_path,
            Bad::Null,
            "must not update from a positive integer to nil value",
        )),
        _ => {}
    }
    // Only additions to tolerations (tolerationSeconds may change).
    let strip = |t: &Value| {
        let mut t = normalize(t);
        if let Some(m) = t.as_object_mut() {
            m.remove("tolerationSeconds");
        }
        t
    };
    let new_tols: Vec<Value> = arr_at(ns, "/tolerations").iter().map(strip).collect();
    if arr_at(os, "/tolerations")
        .iter()
        .any(|o| !new_tols.contains(&strip(o)))
    {
        errs.push(forbidden(
            "spec.tolerations",
            "existing toleration can not be modified except its tolerationSeconds",
        ));
    } else {
        validate_tolerations(arr_at(ns, "/tolerations"), "spec.tolerations", errs);
    }
    // Only deletions of scheduling gates.
    let old_gates: HashSet<&str> = arr_at(os, "/schedulingGates")
        .iter()
        .map(|g| str_at(g, "/name"))
        .collect();
    for (i, g) in arr_at(ns, "/schedulingGates").iter().enumerate() {
        let name = str_at(g, "/name");
        if !old_gates.contains(name) {
            errs.push(forbidden(
                &child(&index("spec.schedulingGates", i), "name"),
                &format!("only deletion is allowed, but found new scheduling gate '{name}'"),
            ));
        }
    }
    let mut munged = ns.clone();
    if let Some(m) = munged.as_object_mut() {
        for list in ["containers", "initContainers"] {
            if let Some(Value::Array(cs)) = m.get_mut(list) {
                for (i, c) in cs.iter_mut().enumerate() {
                    let old_image = arr_at(os, &format!("/{list}"))
                        .get(i)
                        .and_then(|o| at(o, "/image"))
                        .cloned();
                    if let Some(cm) = c.as_object_mut() {
                        match old_image {
                            Some(img) => cm.insert("image".into(), img),
                            None => cm.remove("image"),
                        };
                    }
                }
            }
        }
        for f in ["activeDeadlineSeconds", "schedulingGates", "tolerations"] {
            match at(os, &format!("/{f}")) {
                Some(v) => m.insert(f.into(), v.clone()),
                None => m.remove(f),
            };
        }
        let ogp = int_at(os, "/terminationGracePeriodSeconds");
        if ogp.is_some_and(|g| g < 0) && int_at(ns, "/terminationGracePeriodSeconds") == Some(1) {
            m.insert(
                "terminationGracePeriodSeconds".into(),
                at(os, "/terminationGracePeriodSeconds")
                    .cloned()
                    .unwrap_or(Value::Null),
            );
        }
        if !arr_at(os, "/schedulingGates").is_empty() {
            // Gated pods may add to nodeSelector.
            let on = string_map_at(os, "/nodeSelector");
            let nn = string_map_at(ns, "/nodeSelector");
            if on.iter().all(|kv| nn.contains(kv)) {
                match at(os, "/nodeSelector") {
                    Some(v) => m.insert("nodeSelector".into(), v.clone()),
                    None => m.remove("nodeSelector"),
                };
            }
        }
    }
    if normalize(&munged) != normalize(os) {
        errs.push(forbidden(
            "spec",
            &format!("pod updates may not change fields other than {UPDATABLE_POD_SPEC_FIELDS}"),
        ));
    }
}

/// Immutable selectors of the apps controllers.
pub(super) fn validate_selector_update(old: &Value, new: &Value, errs: &mut Vec<Cause>) {
    let sel = |v: &Value| at(v, "/spec").and_then(|s| at(s, "/selector")).cloned();
    let (o, n) = (sel(old), sel(new));
    if o.as_ref().map(normalize) != n.as_ref().map(normalize) {
        let bad = match &n {
            Some(n) => Bad::Raw(label_selector_string(n)),
            None => Bad::Null,
        };
        errs.push(invalid("spec.selector", bad, "field is immutable"));
    }
}

/// An update through `pods/NAME/ephemeralcontainers` (what `kubectl debug` sends):
/// only `spec.ephemeralContainers` may change, and only by additions.
pub fn validate_ephemeral_update(old: &Value, new: &Value) -> Vec<Cause> {
    let mut errs = Vec::new();
    let empty = Value::Object(Default::default());
    let os = at(old, "/spec").unwrap_or(&empty);
    let ns = at(new, "/spec").unwrap_or(&empty);
    let path = "spec.ephemeralContainers";
    let (oe, ne) = (
        arr_at(os, "/ephemeralContainers"),
        arr_at(ns, "/ephemeralContainers"),
    );
    for o in oe {
        let name = str_at(o, "/name");
        match ne.iter().position(|n| str_at(n, "/name") == name) {
            None => errs.push(forbidden(
                path,
                &format!(
                    "existing ephemeral containers {} may not be removed",
                    go_quote(name)
                ),
            )),
            Some(i) if normalize(&ne[i]) != normalize(o) => errs.push(forbidden(
                &index(path, i),
                &format!(
                    "existing ephemeral containers {} may not be changed",
                    go_quote(name)
                ),
            )),
            _ => {}
        }
    }
    let mut names: HashSet<String> = ["containers", "initContainers"]
        .iter()
        .flat_map(|l| arr_at(os, &format!("/{l}")))
        .map(|c| str_at(c, "/name").to_string())
        .collect();
    let regular: HashSet<String> = arr_at(os, "/containers")
        .iter()
        .chain(arr_at(os, "/initContainers"))
        .map(|c| str_at(c, "/name").to_string())
        .collect();
    for (i, c) in ne.iter().enumerate() {
        let p = index(path, i);
        let name = str_at(c, "/name");
        required_name(name, &child(&p, "name"), is_dns1123_label, &mut errs);
        if !name.is_empty() && !names.insert(name.to_string()) {
            errs.push(duplicate(&child(&p, "name"), bs(name)));
        }
        if str_at(c, "/image").is_empty() {
            errs.push(required(&child(&p, "image"), ""));
        }
        let target = str_at(c, "/targetContainerName");
        if !target.is_empty() && !regular.contains(target) {
            errs.push(not_found(&child(&p, "targetContainerName"), bs(target)));
        }
        for f in [
            "ports",
            "livenessProbe",
            "readinessProbe",
            "startupProbe",
            "lifecycle",
            "resources",
        ] {
            let set = match at(c, &format!("/{f}")) {
                None | Some(Value::Null) => false,
                Some(Value::Array(a)) => !a.is_empty(),
                Some(Value::Object(o)) => !o.is_empty(),
                Some(_) => true,
            };
            if set {
                errs.push(forbidden(
                    &child(&p, f),
                    "cannot be set for an Ephemeral Container",
                ));
            }
        }
    }
    let mut rest_old = os.clone();
    let mut rest_new = ns.clone();
    for v in [&mut rest_old, &mut rest_new] {
        if let Some(m) = v.as_object_mut() {
            m.remove("ephemeralContainers");
        }
    }
    if normalize(&rest_old) != normalize(&rest_new) {
        errs.push(forbidden(
            "spec",
            "pod updates may only change ephemeralContainers through this subresource",
        ));
    }
    errs
}

/// A ConfigMap marked `immutable` keeps its data and the mark.
pub(super) fn validate_config_map_update(old: &Value, new: &Value, errs: &mut Vec<Cause>) {
    if bool_at(old, "/immutable") {
        if !bool_at(new, "/immutable") {
            errs.push(forbidden("immutable", FIELD_IMMUTABLE_WHEN_SET));
        }
        for f in ["data", "binaryData"] {
            if normalize(&at(old, &format!("/{f}")).cloned().unwrap_or(Value::Null))
                != normalize(&at(new, &format!("/{f}")).cloned().unwrap_or(Value::Null))
            {
                errs.push(forbidden(f, FIELD_IMMUTABLE_WHEN_SET));
            }
        }
    }
}

/// A Secret keeps its type; one marked `immutable` keeps its data and the mark.
pub(super) fn validate_secret_update(old: &Value, new: &Value, errs: &mut Vec<Cause>) {
    let ty = |v: &Value| match str_at(v, "/type") {
        "" => "Opaque".to_string(),
        t => t.to_string(),
    };
    if ty(old) != ty(new) {
        errs.push(invalid("type", Bad::Str(ty(new)), "field is immutable"));
    }
    if bool_at(old, "/immutable") {
        if !bool_at(new, "/immutable") {
            errs.push(forbidden("immutable", FIELD_IMMUTABLE_WHEN_SET));
        }
        let od: BTreeMap<String, String> = string_map_at(old, "/data").into_iter().collect();
        if od != crate::secret::stored_data(new) {
            errs.push(forbidden("data", FIELD_IMMUTABLE_WHEN_SET));
        }
    }
}

/// `ValidateNodeUpdate`: podCIDRs and providerID are set once; taints are checked.
pub(super) fn validate_node_update(old: &Value, new: &Value, errs: &mut Vec<Cause>) {
    let empty = Value::Object(Default::default());
    let os = at(old, "/spec").unwrap_or(&empty);
    let ns = at(new, "/spec").unwrap_or(&empty);
    let (oc, nc) = (arr_at(os, "/podCIDRs"), arr_at(ns, "/podCIDRs"));
    let cidr_msg = "node updates may not change podCIDR except from \"\" to valid";
    if !oc.is_empty() {
        if oc.len() != nc.len() {
            errs.push(forbidden("spec.podCIDRs", cidr_msg));
        } else {
            for (o, n) in oc.iter().zip(nc) {
                if o != n {
                    errs.push(forbidden("spec.podCIDRs", cidr_msg));
                }
            }
        }
    }
    let op = str_at(os, "/providerID");
    if !op.is_empty() && op != str_at(ns, "/providerID") {
        errs.push(forbidden(
            "spec.providerID",
            "node updates may not change providerID except from \"\" to valid",
        ));
    }
    validate_node_taints(arr_at(ns, "/taints"), "metadata.taints", errs);
}

/// `ValidateServiceUpdate`'s own rules (ValidateService runs on `new` too): the
/// primary ClusterIP and IP family may not change, except to, from or on
/// ExternalName; nor a LoadBalancer's class.
pub(super) fn validate_service_update(old: &Value, new: &Value, errs: &mut Vec<Cause>) {
    let empty = Value::Object(Default::default());
    let os = at(old, "/spec").unwrap_or(&empty);
    let ns = at(new, "/spec").unwrap_or(&empty);
    let external_name = |s: &Value| str_at(s, "/type") == "ExternalName";
    if external_name(os) || external_name(ns) {
        return;
    }
    let (oh, nh) = (is_headless(os), is_headless(ns));
    let (oips, nips) = (strings_at(os, "/clusterIPs"), strings_at(ns, "/clusterIPs"));
    if !(oh && nh) {
        let changed = "may not change once set";
        if oips.len() == nips.len() {
            for (i, ip) in oips.iter().enumerate() {
                if *ip != nips[i] {
                    errs.push(invalid(
                        &index("spec.clusterIPs", i),
                        go_strings(&nips),
                        changed,
                    ));
                }
            }
        } else if oips.len() > nips.len() {
            if nips.is_empty() {
                errs.push(invalid(
                    "spec.clusterIPs[0]",
                    go_strings(&nips),
                    "primary clusterIP can not be unset",
                ));
            } else if oips[0] != nips[0] {
                errs.push(invalid("spec.clusterIPs[0]", go_strings(&nips), changed));
            }
        } else if !oips.is_empty() && oips[0] != nips[0] {
            errs.push(invalid("spec.clusterIPs[0]", go_strings(&nips), changed));
        }
    }
    if oh == nh && !nh {
        let (of, nf) = (strings_at(os, "/ipFamilies"), strings_at(ns, "/ipFamilies"));
        if of.len() == nf.len() && of != nf {
            let bad = Bad::Raw(format!(
                "[]core.IPFamily{{{}}}",
                nf.iter()
                    .map(|f| go_quote(f))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            errs.push(invalid(
                "spec.ipFamilies[0]",
                bad,
                "may not change once set",
            ));
        }
    }
    let lb = |s: &Value| str_at(s, "/type") == "LoadBalancer";
    if lb(os) && lb(ns) && at(os, "/loadBalancerClass") != at(ns, "/loadBalancerClass") {
        let bad = match str_at(ns, "/loadBalancerClass") {
            "" => Bad::Null,
            c => bs(c),
        };
        errs.push(invalid(
            "spec.loadBalancerClass",
            bad,
            "may not change once set",
        ));
    }
}
