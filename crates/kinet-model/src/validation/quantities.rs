//! `ValidateContainerResourceRequirements`: resource names, quantity values and
//! requests against limits.

use serde_json::Value;

use super::field::{Bad, Cause, bs, child, invalid, key, required};
use super::names::is_qualified_name;
use crate::json::at;
use crate::quantity::Quantity;

fn is_native_resource(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

fn is_hugepages(name: &str) -> bool {
    name.starts_with("hugepages-")
}

fn overcommit_allowed(name: &str) -> bool {
    is_native_resource(name) && !is_hugepages(name)
}

fn validate_resource_name(name: &str, path: &str, errs: &mut Vec<Cause>) {
    for msg in is_qualified_name(name) {
        errs.push(invalid(path, bs(name), &msg));
    }
    if !name.contains('/') {
        if !matches!(name, "cpu" | "memory" | "ephemeral-storage") && !is_hugepages(name) {
            errs.push(invalid(
                path,
                bs(name),
                "must be a standard resource for containers",
            ));
        }
    } else if !is_native_resource(name) && name.starts_with("requests.") {
        errs.push(invalid(
            path,
            bs(name),
            "doesn't follow extended resource name standard",
        ));
    }
}

fn validate_quantity_value(name: &str, q: &Quantity, path: &str, errs: &mut Vec<Cause>) {
    if q.nanos() < 0 {
        errs.push(invalid(
            path,
            Bad::Str(q.canonical()),
            "must be greater than or equal to 0",
        ));
    }
    if !is_native_resource(name) && !q.is_integer() {
        errs.push(invalid(path, Bad::Raw(q.canonical()), "must be an integer"));
    }
}

/// `ValidateContainerResourceRequirements` (names, quantities, requests <= limits).
pub(super) fn validate_resources(res: &Value, path: &str, errs: &mut Vec<Cause>) {
    let lim_path = child(path, "limits");
    let req_path = child(path, "requests");
    let limits: Vec<(String, Value)> = at(res, "/limits")
        .and_then(Value::as_object)
        .map(|m| m.clone().into_iter().collect())
        .unwrap_or_default();
    let requests: Vec<(String, Value)> = at(res, "/requests")
        .and_then(Value::as_object)
        .map(|m| m.clone().into_iter().collect())
        .unwrap_or_default();
    for (name, v) in &limits {
        let p = key(&lim_path, name);
        validate_resource_name(name, &p, errs);
        if let Some(q) = Quantity::from_json(v) {
            validate_quantity_value(name, &q, &p, errs);
        }
    }
    for (name, v) in &requests {
        let p = key(&req_path, name);
        validate_resource_name(name, &p, errs);
        let Some(q) = Quantity::from_json(v) else {
            continue;
        };
        validate_quantity_value(name, &q, &p, errs);
        match limits
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, l)| Quantity::from_json(l))
        {
            Some(l) => {
                if q.nanos() != l.nanos() && !overcommit_allowed(name) {
                    errs.push(invalid(
                        &req_path,
                        Bad::Str(q.canonical()),
                        &format!("must be equal to {name} limit of {}", l.canonical()),
                    ));
                } else if q.nanos() > l.nanos() {
                    errs.push(invalid(
                        &req_path,
                        Bad::Str(q.canonical()),
                        &format!(
                            "must be less than or equal to {name} limit of {}",
                            l.canonical()
                        ),
                    ));
                }
            }
            None => {
                if !overcommit_allowed(name) && !limits.iter().any(|(n, _)| n == name) {
                    errs.push(required(
                        &lim_path,
                        "Limit must be set for non overcommitable resources",
                    ));
                }
            }
        }
    }
}
