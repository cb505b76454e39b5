//! What a Service write does beyond the generic rules (upstream's
//! `pkg/registry/core/service/storage` and the Service strategy): IP families
//! filled in, ClusterIPs and NodePorts allocated from the lab's ranges, fields
//! of the old type dropped on a type change.
//!
//! The allocators ([`kinet_model::alloc`]) are rebuilt from the stored Services on
//! every write, so what is allocated is exactly what the store holds: a delete
//! frees its addresses, a restart finds them again. One lock, held from the
//! allocation to the store write, keeps two concurrent writes from taking the
//! same address.

use crate::errors::ApiError;
use crate::resource;
use kinet_model::alloc::Allocations;
use kinet_model::json as j;
use kinet_model::resources;
use kinet_model::validation::Cause;
use kinet_store::Store;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::{Mutex, MutexGuard};

static LOCK: Mutex<()> = Mutex::new(());

/// The allocation lock: hold it from [`allocate`] until the object is stored.
pub(crate) fn lock() -> MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn ty(svc: &Value) -> &str {
    match j::str_at(svc, "/spec/type") {
        "" => "ClusterIP",
        t => t,
    }
}

fn needs_cluster_ip(svc: &Value) -> bool {
    ty(svc) != "ExternalName"
}

fn needs_node_port(svc: &Value) -> bool {
    matches!(ty(svc), "NodePort" | "LoadBalancer")
}

/// `NeedsHealthCheck`: a LoadBalancer with externalTrafficPolicy Local.
fn needs_hc_node_port(svc: &Value) -> bool {
    ty(svc) == "LoadBalancer" && j::str_at(svc, "/spec/externalTrafficPolicy") == "Local"
}

fn externally_accessible(svc: &Value) -> bool {
    needs_node_port(svc)
        || (ty(svc) == "ClusterIP" && !j::arr_at(svc, "/spec/externalIPs").is_empty())
}

fn spec_mut(svc: &mut Value) -> Option<&mut Map<String, Value>> {
    svc.get_mut("spec").and_then(Value::as_object_mut)
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|s| s.as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn go_strings(list: &[String]) -> String {
    if list.is_empty() {
        return "[]string(nil)".into();
    }
    let q: Vec<String> = list
        .iter()
        .map(|s| kinet_model::quote::go_quote(s))
        .collect();
    format!("[]string{{{}}}", q.join(", "))
}

fn invalid(svc: &Value, field: &str, value: &str, detail: &str) -> ApiError {
    let cause = Cause {
        reason: "FieldValueInvalid",
        field: field.to_string(),
        message: format!("Invalid value: {value}: {detail}"),
    };
    ApiError::invalid("Service", "", j::name(svc), &[cause])
}

/// `NormalizeClusterIPs`: `clusterIPs` follows `clusterIP`.
fn normalize_cluster_ips(old: Option<&Value>, new: &mut Value) {
    let Some(spec) = spec_mut(new) else {
        return;
    };
    let ip = spec
        .get("clusterIP")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if ip.is_empty() {
        spec.remove("clusterIPs");
        return;
    }
    let ips = strings(spec.get("clusterIPs"));
    if ips.is_empty() {
        spec.insert("clusterIPs".into(), json!([ip]));
        return;
    }
    if let Some(old) = old {
        let old_ip = j::str_at(old, "/spec/clusterIP");
        let old_ips = strings(j::at(old, "/spec/clusterIPs"));
        if old_ip != ip && old_ips == ips {
            let mut ips = ips;
            ips[0] = ip;
            spec.insert("clusterIPs".into(), json!(ips));
        }
    }
}

/// The Service strategy's `PrepareForCreate` part: `clusterIPs` mirrors
/// `clusterIP`, and the status is the empty one every new Service shows.
pub fn prepare_for_create(svc: &mut Value) {
    normalize_cluster_ips(None, svc);
    if let Some(o) = svc.as_object_mut() {
        o.insert("status".into(), json!({"loadBalancer": {}}));
    }
}

/// The Service strategy's `PrepareForUpdate` part (pure): values allocated
/// before that the request left out are kept (`patchAllocatedValues`),
/// `clusterIPs` follows `clusterIP`, and what the old type needed and the new one
/// does not is dropped when the request did not change it (`dropTypeDependentFields`).
pub fn prepare_for_update(old: &Value, new: &mut Value) {
    patch_allocated_values(old, new);
    normalize_cluster_ips(Some(old), new);
    drop_type_dependent_fields(old, new);
}

fn node_ports_of(svc: &Value) -> Vec<i64> {
    j::arr_at(svc, "/spec/ports")
        .iter()
        .filter_map(|p| j::int_at(p, "/nodePort"))
        .filter(|&n| n != 0)
        .collect()
}

fn patch_allocated_values(old: &Value, new: &mut Value) {
    let both_ip = needs_cluster_ip(old) && needs_cluster_ip(new);
    let both_np = needs_node_port(old) && needs_node_port(new);
    let both_hc = needs_hc_node_port(old) && needs_hc_node_port(new);
    let used: BTreeSet<i64> = {
        let n: BTreeSet<i64> = node_ports_of(new).into_iter().collect();
        node_ports_of(old)
            .into_iter()
            .filter(|p| n.contains(p))
            .collect()
    };
    let by_name: BTreeMap<String, i64> = j::arr_at(old, "/spec/ports")
        .iter()
        .map(|p| {
            (
                j::str_at(p, "/name").to_string(),
                j::int_at(p, "/nodePort").unwrap_or(0),
            )
        })
        .collect();
    let Some(spec) = spec_mut(new) else {
        return;
    };
    if both_ip {
        if spec
            .get("clusterIP")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
            && let Some(ip) = j::at(old, "/spec/clusterIP")
        {
            spec.insert("clusterIP".into(), ip.clone());
        }
        if strings(spec.get("clusterIPs")).is_empty()
            && let Some(ips) =
                j::at(old, "/spec/clusterIPs").filter(|v| !j::arr_at(v, "").is_empty())
        {
            spec.insert("clusterIPs".into(), ips.clone());
        }
    }
    if both_np && let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            if p.get("nodePort").and_then(Value::as_i64).unwrap_or(0) == 0 {
                let name = p.get("name").and_then(Value::as_str).unwrap_or("");
                if let Some(&np) = by_name.get(name)
                    && np != 0
                    && !used.contains(&np)
                {
                    p.insert("nodePort".into(), json!(np));
                }
            }
        }
    }
    if both_hc
        && spec
            .get("healthCheckNodePort")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            == 0
        && let Some(hc) = j::at(old, "/spec/healthCheckNodePort")
    {
        spec.insert("healthCheckNodePort".into(), hc.clone());
    }
}

fn drop_type_dependent_fields(old: &Value, new: &mut Value) {
    let same = |p: &str, new: &Value| j::at(old, p) == j::at(new, p);
    let drop_ip = needs_cluster_ip(old) && !needs_cluster_ip(new);
    let same_ips = same("/spec/clusterIP", new) && same("/spec/clusterIPs", new);
    let same_families = same("/spec/ipFamilies", new);
    let same_policy = same("/spec/ipFamilyPolicy", new);
    let drop_np = needs_node_port(old) && !needs_node_port(new);
    let same_nps = node_ports_of(old) == node_ports_of(new);
    let drop_hc = needs_hc_node_port(old)
        && !needs_hc_node_port(new)
        && same("/spec/healthCheckNodePort", new);
    let drop_alloc_lb = ty(old) == "LoadBalancer"
        && ty(new) != "LoadBalancer"
        && j::at(old, "/spec/allocateLoadBalancerNodePorts").is_some()
        && same("/spec/allocateLoadBalancerNodePorts", new);
    let drop_lb_class = ty(old) == "LoadBalancer"
        && ty(new) != "LoadBalancer"
        && same("/spec/loadBalancerClass", new);
    let drop_etp = externally_accessible(old)
        && !externally_accessible(new)
        && same("/spec/externalTrafficPolicy", new);
    let not_lb = ty(new) != "LoadBalancer";
    if not_lb && let Some(o) = new.as_object_mut() {
        o.insert("status".into(), json!({"loadBalancer": {}}));
    }
    let Some(spec) = spec_mut(new) else {
        return;
    };
    if drop_ip {
        if same_ips {
            spec.remove("clusterIP");
            spec.remove("clusterIPs");
        }
        if same_families {
            spec.remove("ipFamilies");
        }
        if same_policy {
            spec.remove("ipFamilyPolicy");
        }
    }
    if drop_np
        && same_nps
        && let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut)
    {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            p.remove("nodePort");
        }
    }
    if drop_hc {
        spec.remove("healthCheckNodePort");
    }
    if drop_alloc_lb {
        spec.remove("allocateLoadBalancerNodePorts");
    }
    if drop_lb_class {
        spec.remove("loadBalancerClass");
    }
    if drop_etp {
        spec.remove("externalTrafficPolicy");
    }
}

/// `initIPFamilyFields` on a single-stack IPv4 cluster: the policy (the old
/// one, or SingleStack; RequireDualStack for a headless Service without
/// selector), the families, and the refusals of what this cluster cannot do.
fn init_ip_families(old: Option<&Value>, svc: &mut Value) -> Result<(), ApiError> {
    if !needs_cluster_ip(svc) {
        return Ok(());
    }
    let headless_selectorless = j::str_at(svc, "/spec/clusterIP") == "None"
        && j::obj_at(svc, "/spec/selector").is_none_or(|m| m.is_empty());
    let name = j::name(svc).to_string();
    let old_policy = old.and_then(|o| j::at(o, "/spec/ipFamilyPolicy")).cloned();
    let Some(spec) = spec_mut(svc) else {
        return Ok(());
    };
    if spec.get("ipFamilyPolicy").is_none_or(Value::is_null) {
        let policy = match old_policy.filter(|p| !p.is_null()) {
            Some(p) => p,
            None if headless_selectorless => json!("RequireDualStack"),
            None => json!("SingleStack"),
        };
        spec.insert("ipFamilyPolicy".into(), policy);
    }
    let policy = spec
        .get("ipFamilyPolicy")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let mut families = strings(spec.get("ipFamilies"));
    let ips = strings(spec.get("clusterIPs"));
    let mut causes = Vec::new();
    if policy == "SingleStack" {
        if ips.len() == 2 {
            causes.push(cause(
                "spec.ipFamilyPolicy",
                "\"SingleStack\"",
                "must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified",
            ));
        }
        if families.len() == 2 {
            causes.push(cause(
                "spec.ipFamilyPolicy",
                "\"SingleStack\"",
                "must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified",
            ));
        }
    }
    for (i, ip) in ips.iter().enumerate() {
        if ip == "None" {
            break;
        }
        if i >= families.len() {
            if ip.parse::<std::net::Ipv6Addr>().is_ok() {
                causes.push(cause(
                    &format!("spec.clusterIPs[{i}]"),
                    &go_strings(&ips),
                    "IPv6 is not configured on this cluster",
                ));
            } else {
                families.push("IPv4".into());
            }
        }
    }
    if !causes.is_empty() {
        return Err(ApiError::invalid("Service", "", &name, &causes));
    }
    if headless_selectorless {
        if families.is_empty() {
            families.push("IPv4".into());
        }
        if families.len() < 2 && policy != "SingleStack" {
            let alt = if families[0] == "IPv4" {
                "IPv6"
            } else {
                "IPv4"
            };
            families.push(alt.into());
        }
        spec.insert("ipFamilies".into(), json!(families));
        return Ok(());
    }
    if policy == "RequireDualStack" {
        causes.push(cause(
            "spec.ipFamilyPolicy",
            "\"RequireDualStack\"",
            "this cluster is not configured for dual-stack services",
        ));
    }
    for (i, f) in families.iter().enumerate() {
        if f != "IPv4" {
            causes.push(cause(
                &format!("spec.ipFamilies[{i}]"),
                &kinet_model::quote::go_quote(f),
                "not configured on this cluster",
            ));
        }
    }
    if !causes.is_empty() {
        return Err(ApiError::invalid("Service", "", &name, &causes));
    }
    if families.is_empty() {
        families.push("IPv4".into());
    }
    spec.insert("ipFamilies".into(), json!(families));
    Ok(())
}

fn cause(field: &str, value: &str, detail: &str) -> Cause {
    Cause {
        reason: "FieldValueInvalid",
        field: field.to_string(),
        message: format!("Invalid value: {value}: {detail}"),
    }
}

/// The allocations of every stored Service but the one at `except`.
fn allocations(store: &Store, except: &str) -> Allocations {
    let r = resource("", "services");
    let (list, _) = store.list(&resources::store_prefix(r, None));
    Allocations::from_services(
        list.iter()
            .filter(|s| crate::key_of(r, s) != except)
            .map(|s| s.as_ref()),
    )
}

/// Fills in IP families and allocates the ClusterIP and NodePorts of `svc`
/// (created when `old` is None, else updated from `old`), against every other
/// stored Service. Call with [`lock`] held until the write.
pub(crate) fn allocate(
    store: &Store,
    old: Option<&Value>,
    svc: &mut Value,
) -> Result<(), ApiError> {
    allocate_with(store, old, svc, &mut || rand::random())
}

fn allocate_with(
    store: &Store,
    old: Option<&Value>,
    svc: &mut Value,
    seed: &mut dyn FnMut() -> u32,
) -> Result<(), ApiError> {
    init_ip_families(old, svc)?;
    let key = crate::key_of(resource("", "services"), svc);
    let mut a = allocations(store, &key);
    // the others' addresses only: on an update validation has kept the ClusterIP
    // as it was (this Service's own), and a change from ExternalName gets a new one
    if needs_cluster_ip(svc) {
        let ip = j::str_at(svc, "/spec/clusterIP").to_string();
        match ip.as_str() {
            "None" => {}
            "" => {
                let got = a.ips.allocate_next(seed()).map_err(|e| {
                    ApiError::internal(format!(
                        "failed to allocate a serviceIP: {}",
                        a.ips.message(&e, "")
                    ))
                })?;
                if let Some(spec) = spec_mut(svc) {
                    spec.insert("clusterIP".into(), json!(got.to_string()));
                    spec.insert("clusterIPs".into(), json!([got.to_string()]));
                }
            }
            s => {
                // an ill-formed address is left for validation to name
                if let Ok(addr) = s.parse::<Ipv4Addr>()
                    && let Err(e) = a.ips.allocate(addr)
                {
                    let ips = strings(j::at(svc, "/spec/clusterIPs"));
                    return Err(invalid(
                        svc,
                        "spec.clusterIPs",
                        &go_strings(&ips),
                        &format!("failed to allocate IP {s}: {}", a.ips.message(&e, s)),
                    ));
                }
            }
        }
    }
    if needs_node_port(svc) {
        allocate_node_ports(&mut a, svc, seed)?;
    }
    if needs_hc_node_port(svc) {
        let hc = j::int_at(svc, "/spec/healthCheckNodePort").unwrap_or(0);
        if hc != 0 {
            if let Err(e) = a.ports.allocate(hc) {
                return Err(ApiError::internal(format!(
                    "failed to allocate requested HealthCheck NodePort {hc}: {}",
                    a.ports.message(&e)
                )));
            }
        } else {
            let got = a.ports.allocate_next(seed()).map_err(|e| {
                ApiError::internal(format!(
                    "failed to allocate a HealthCheck NodePort 0: {}",
                    a.ports.message(&e)
                ))
            })?;
            if let Some(spec) = spec_mut(svc) {
                spec.insert("healthCheckNodePort".into(), json!(got));
            }
        }
    }
    Ok(())
}

/// `initNodePorts`: requested ports are taken (a port number's request serves
/// all its protocols), missing ones allocated unless a LoadBalancer says not to.
fn allocate_node_ports(
    a: &mut Allocations,
    svc: &mut Value,
    seed: &mut dyn FnMut() -> u32,
) -> Result<(), ApiError> {
    let allocate_missing = !(ty(svc) == "LoadBalancer"
        && j::at(svc, "/spec/allocateLoadBalancerNodePorts").and_then(Value::as_bool)
            == Some(false));
    let ports: Vec<(i64, i64)> = j::arr_at(svc, "/spec/ports")
        .iter()
        .map(|p| {
            (
                j::int_at(p, "/port").unwrap_or(0),
                j::int_at(p, "/nodePort").unwrap_or(0),
            )
        })
        .collect();
    let mut by_port: BTreeMap<i64, i64> = BTreeMap::new();
    let mut mine: BTreeSet<i64> = BTreeSet::new();
    let mut out: Vec<i64> = ports.iter().map(|p| p.1).collect();
    for (i, &(port, np)) in ports.iter().enumerate() {
        if np == 0 && !allocate_missing {
            continue;
        }
        let want = if np != 0 {
            np
        } else if let Some(&shared) = by_port.get(&port) {
            shared
        } else {
            ports
                .iter()
                .skip(i)
                .find(|(p, n)| *p == port && *n != 0)
                .map_or(0, |(_, n)| *n)
        };
        let got = if want == 0 {
            let n = a.ports.allocate_next(seed()).map_err(|e| {
                ApiError::internal(format!(
                    "failed to allocate a nodePort: {}",
                    a.ports.message(&e)
                ))
            })?;
            mine.insert(n as i64);
            n as i64
        } else {
            if !mine.contains(&want) {
                if let Err(e) = a.ports.allocate(want) {
                    return Err(invalid(
                        svc,
                        &format!("spec.ports[{i}].nodePort"),
                        &want.to_string(),
                        &a.ports.message(&e),
                    ));
                }
                mine.insert(want);
            }
            want
        };
        by_port.entry(port).or_insert(got);
        out[i] = got;
    }
    if let Some(list) = spec_mut(svc)
        .and_then(|s| s.get_mut("ports"))
        .and_then(Value::as_array_mut)
    {
        for (p, np) in list.iter_mut().zip(out) {
            if np != 0
                && let Some(p) = p.as_object_mut()
            {
                p.insert("nodePort".into(), json!(np));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
