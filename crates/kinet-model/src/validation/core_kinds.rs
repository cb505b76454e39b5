//! The core kinds without a pod spec: Service, ConfigMap, Secret and Node.

use std::collections::HashSet;

use serde_json::Value;

use super::field::{
    Bad, Cause, bs, child, duplicate, forbidden, index, invalid, key, not_supported, required,
    required_name, too_long,
};
use super::metadata::validate_labels;
use super::names::{
    is_config_map_key, is_dns1123_label, is_dns1123_subdomain, is_qualified_name,
    is_valid_label_value, is_valid_port_name, is_valid_port_num,
};
use super::pod_spec::{validate_protocol, validate_taint_effect};
use crate::json::{arr_at, at, int_at, str_at, string_map_at};
use crate::quote::go_quote;

// ---------------------------------------------------------------------------
// Service

/// `ValidateService` (pkg/apis/core/validation). Fields the API defaults
/// (type, sessionAffinity, protocol, traffic policies) are accepted when absent.
pub(super) fn validate_service(svc: &Value, errs: &mut Vec<Cause>) {
    let empty = Value::Object(Default::default());
    let spec = at(svc, "/spec").unwrap_or(&empty);
    let ty = match str_at(spec, "/type") {
        "" => "ClusterIP",
        t => t,
    };
    let cluster_ips = strings_at(spec, "/clusterIPs");
    let headless = is_headless(spec);
    let ports = arr_at(spec, "/ports");
    if ports.is_empty() && !headless && ty != "ExternalName" {
        errs.push(required("spec.ports", ""));
    }
    match ty {
        "LoadBalancer" | "NodePort" if headless => {
            errs.push(invalid(
                "spec.clusterIPs[0]",
                bs("None"),
                &format!("may not be set to 'None' for {ty} services"),
            ));
        }
        "ExternalName" => {
            if !cluster_ips.is_empty() || !str_at(spec, "/clusterIP").is_empty() {
                errs.push(forbidden(
                    "spec.clusterIPs",
                    "may not be set for ExternalName services",
                ));
            }
            if !arr_at(spec, "/ipFamilies").is_empty() {
                errs.push(forbidden(
                    "spec.ipFamilies",
                    "may not be set for ExternalName services",
                ));
            }
            if at(spec, "/ipFamilyPolicy").is_some_and(|v| !v.is_null()) {
                errs.push(forbidden(
                    "spec.ipFamilyPolicy",
                    "may not be set for ExternalName services",
                ));
            }
            let cname = str_at(spec, "/externalName").trim_end_matches('.');
            required_name(cname, "spec.externalName", is_dns1123_subdomain, errs);
        }
        _ => {}
    }
    let mut names = HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        validate_service_port(
            p,
            ports.len() > 1,
            &mut names,
            &index("spec.ports", i),
            errs,
        );
    }
    validate_labels(&string_map_at(spec, "/selector"), "spec.selector", errs);
    validate_session_affinity(spec, errs);
    validate_cluster_ips(spec, ty, errs);
    for (i, ip) in arr_at(spec, "/externalIPs").iter().enumerate() {
        let ip = ip.as_str().unwrap_or("");
        if ip.parse::<std::net::IpAddr>().is_err() {
            errs.push(invalid(&index("spec.externalIPs", i), bs(ip), IP_MSG));
        }
    }
    if !["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"].contains(&ty) {
        errs.push(not_supported(
            "spec.type",
            bs(ty),
            &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
        ));
    }
    if ty == "ClusterIP" {
        for (i, p) in ports.iter().enumerate() {
            if int_at(p, "/nodePort").unwrap_or(0) != 0 {
                errs.push(forbidden(
                    &child(&index("spec.ports", i), "nodePort"),
                    "may not be used when `type` is 'ClusterIP'",
                ));
            }
        }
    }
    let proto = |p: &Value| match str_at(p, "/protocol") {
        "" => "TCP".to_string(),
        s => s.to_string(),
    };
    let mut node_ports = HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        let np = int_at(p, "/nodePort").unwrap_or(0);
        if np != 0 && !node_ports.insert((proto(p), np)) {
            errs.push(duplicate(
                &child(&index("spec.ports", i), "nodePort"),
                Bad::Int(np),
            ));
        }
    }
    let mut seen = HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        let port = int_at(p, "/port").unwrap_or(0);
        let pr = proto(p);
        if !seen.insert((pr.clone(), port)) {
            let raw = format!(
                "core.ServicePort{{Name:\"\", Protocol:{}, AppProtocol:(*string)(nil), Port:{port}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:\"\"}}, NodePort:0}}",
                go_quote(&pr)
            );
            errs.push(duplicate(&index("spec.ports", i), Bad::Raw(raw)));
        }
    }
    validate_traffic_policies(spec, ty, errs);
    let alloc_lb = at(spec, "/allocateLoadBalancerNodePorts").filter(|v| !v.is_null());
    if ty != "LoadBalancer" && alloc_lb.is_some() {
        errs.push(forbidden(
            "spec.allocateLoadBalancerNodePorts",
            "may only be used when `type` is 'LoadBalancer'",
        ));
    }
    let lb_class = at(spec, "/loadBalancerClass").filter(|v| !v.is_null());
    match lb_class {
        Some(c) if ty == "LoadBalancer" => {
            let c = c.as_str().unwrap_or("");
            for m in is_qualified_name(c) {
                errs.push(invalid("spec.loadBalancerClass", bs(c), &m));
            }
        }
        Some(_) => errs.push(forbidden(
            "spec.loadBalancerClass",
            "may only be used when `type` is 'LoadBalancer'",
        )),
        None => {}
    }
}

const IP_MSG: &str = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)";

/// The strings of the list at `path` (non-strings as "").
pub(super) fn strings_at(v: &Value, path: &str) -> Vec<String> {
    arr_at(v, path)
        .iter()
        .map(|s| s.as_str().unwrap_or("").to_string())
        .collect()
}

/// Go's `%#v` of a `[]string`.
pub(super) fn go_strings(list: &[String]) -> Bad {
    if list.is_empty() {
        return Bad::Raw("[]string(nil)".into());
    }
    let q: Vec<String> = list.iter().map(|s| go_quote(s)).collect();
    Bad::Raw(format!("[]string{{{}}}", q.join(", ")))
}

/// `clusterIP: None` (or `clusterIPs: [None]`).
pub(super) fn is_headless(spec: &Value) -> bool {
    str_at(spec, "/clusterIP") == "None"
        || arr_at(spec, "/clusterIPs").first().and_then(Value::as_str) == Some("None")
}

fn validate_service_port(
    p: &Value,
    require_name: bool,
    names: &mut HashSet<String>,
    idx: &str,
    errs: &mut Vec<Cause>,
) {
    let name = str_at(p, "/name");
    if require_name && name.is_empty() {
        errs.push(required(&child(idx, "name"), ""));
    } else if !name.is_empty() {
        for m in is_dns1123_label(name) {
            errs.push(invalid(&child(idx, "name"), bs(name), &m));
        }
        if !names.insert(name.to_string()) {
            errs.push(duplicate(&child(idx, "name"), bs(name)));
        }
    }
    let port = int_at(p, "/port").unwrap_or(0);
    for m in is_valid_port_num(port) {
        errs.push(invalid(&child(idx, "port"), Bad::Int(port), &m));
    }
    validate_protocol(p, &child(idx, "protocol"), errs);
    match at(p, "/targetPort") {
        Some(Value::Number(n)) => {
            let n = n.as_i64().unwrap_or(0);
            for m in is_valid_port_num(n) {
                errs.push(invalid(&child(idx, "targetPort"), Bad::Int(n), &m));
            }
        }
        Some(Value::String(s)) => {
            for m in is_valid_port_name(s) {
                errs.push(invalid(&child(idx, "targetPort"), bs(s), &m));
            }
        }
        _ => {}
    }
    if let Some(np) = int_at(p, "/nodePort")
        && np != 0
    {
        for m in is_valid_port_num(np) {
            errs.push(invalid(&child(idx, "nodePort"), Bad::Int(np), &m));
        }
    }
}

fn validate_session_affinity(spec: &Value, errs: &mut Vec<Cause>) {
    let affinity = str_at(spec, "/sessionAffinity");
    let cfg = at(spec, "/sessionAffinityConfig").filter(|v| !v.is_null());
    match affinity {
        "" | "None" => {
            if cfg.is_some() {
                errs.push(forbidden(
                    "spec.sessionAffinityConfig",
                    "must not be set when session affinity is None",
                ));
            }
        }
        "ClientIP" => {
            let when = "when session affinity type is ClientIP";
            let Some(cfg) = cfg else {
                errs.push(required("spec.sessionAffinityConfig", when));
                return;
            };
            let Some(client) = at(cfg, "/clientIP").filter(|v| !v.is_null()) else {
                errs.push(required("spec.sessionAffinityConfig.clientIP", when));
                return;
            };
            let path = "spec.sessionAffinityConfig.clientIP.timeoutSeconds";
            match int_at(client, "/timeoutSeconds") {
                None => errs.push(required(path, when)),
                Some(t) if t <= 0 || t > MAX_CLIENT_IP_AFFINITY_SECONDS => errs.push(invalid(
                    path,
                    Bad::Int(t),
                    &format!(
                        "must be greater than 0 and less than {MAX_CLIENT_IP_AFFINITY_SECONDS}"
                    ),
                )),
                Some(_) => {}
            }
        }
        other => errs.push(not_supported(
            "spec.sessionAffinity",
            bs(other),
            &["ClientIP", "None"],
        )),
    }
}

const MAX_CLIENT_IP_AFFINITY_SECONDS: i64 = 86400;

/// `ValidateServiceClusterIPsRelatedFields`.
fn validate_cluster_ips(spec: &Value, ty: &str, errs: &mut Vec<Cause>) {
    if ty == "ExternalName" {
        return;
    }
    let cluster_ip = str_at(spec, "/clusterIP");
    let ips = strings_at(spec, "/clusterIPs");
    // `clusterIPs` left out follows `clusterIP` (the strategy's NormalizeClusterIPs)
    if !cluster_ip.is_empty() {
        if !ips.is_empty() && ips[0] != cluster_ip {
            errs.push(invalid(
                "spec.clusterIPs",
                go_strings(&ips),
                "first value must match `clusterIP`",
            ));
        }
    } else if !ips.is_empty() {
        errs.push(invalid(
            "spec.clusterIPs",
            go_strings(&ips),
            "must be empty when `clusterIP` is not specified",
        ));
    }
    let mut seen = HashSet::new();
    for (i, f) in strings_at(spec, "/ipFamilies").iter().enumerate() {
        if f != "IPv4" && f != "IPv6" {
            errs.push(not_supported(
                &index("spec.ipFamilies", i),
                bs(f),
                &["IPv4", "IPv6"],
            ));
        }
        if !seen.insert(f.clone()) {
            errs.push(duplicate(&index("spec.ipFamilies", i), bs(f)));
        }
    }
    if let Some(p) = at(spec, "/ipFamilyPolicy").filter(|v| !v.is_null()) {
        let p = p.as_str().unwrap_or("");
        if !["SingleStack", "PreferDualStack", "RequireDualStack"].contains(&p) {
            errs.push(not_supported(
                "spec.ipFamilyPolicy",
                bs(p),
                &["PreferDualStack", "RequireDualStack", "SingleStack"],
            ));
        }
    }
    let mut bad_ips = false;
    for (i, ip) in ips.iter().enumerate() {
        if i == 0 && ip == "None" {
            if ips.len() > 1 {
                bad_ips = true;
                errs.push(invalid(
                    "spec.clusterIPs",
                    go_strings(&ips),
                    "'None' must be the first and only value",
                ));
            }
            continue;
        }
        if ip.parse::<std::net::IpAddr>().is_err() {
            bad_ips = true;
            errs.push(invalid(&index("spec.clusterIPs", i), bs(ip), IP_MSG));
        }
    }
    if ips.len() > 2 {
        errs.push(invalid(
            "spec.clusterIPs",
            go_strings(&ips),
            "may only hold up to 2 values",
        ));
    }
    if bad_ips {
        return;
    }
    if ips.len() > 1 {
        let v6 = ips.iter().filter(|ip| ip.contains(':')).count();
        if v6 != 1 || ips.len() != 2 {
            errs.push(invalid(
                "spec.clusterIPs",
                go_strings(&ips),
                "may specify no more than one IP for each IP family",
            ));
        }
    }
    if ips.first().is_some_and(|ip| ip != "None") {
        let families = strings_at(spec, "/ipFamilies");
        for (i, (ip, fam)) in ips.iter().zip(families.iter()).enumerate() {
            let is_v6 = ip.contains(':');
            let want = match (fam.as_str(), is_v6) {
                ("IPv4", true) => Some("IPv4"),
                ("IPv6", false) => Some("IPv6"),
                _ => None,
            };
            if let Some(want) = want {
                errs.push(invalid(
                    &index("spec.clusterIPs", i),
                    bs(ip),
                    &format!("expected an {want} value as indicated by `ipFamilies[{i}]`"),
                ));
            }
        }
    }
}

/// External and internal traffic policies and the health check node port.
fn validate_traffic_policies(spec: &Value, ty: &str, errs: &mut Vec<Cause>) {
    let external = matches!(ty, "NodePort" | "LoadBalancer")
        || (ty == "ClusterIP" && !arr_at(spec, "/externalIPs").is_empty());
    let etp = str_at(spec, "/externalTrafficPolicy");
    if !external {
        if !etp.is_empty() {
            errs.push(invalid(
                "spec.externalTrafficPolicy",
                bs(etp),
                "may only be set for externally-accessible services",
            ));
        }
    } else if !etp.is_empty() && etp != "Cluster" && etp != "Local" {
        errs.push(not_supported(
            "spec.externalTrafficPolicy",
            bs(etp),
            &["Cluster", "Local"],
        ));
    }
    let itp = str_at(spec, "/internalTrafficPolicy");
    if !itp.is_empty() && itp != "Cluster" && itp != "Local" {
        errs.push(not_supported(
            "spec.internalTrafficPolicy",
            bs(itp),
            &["Cluster", "Local"],
        ));
    }
    let hc = int_at(spec, "/healthCheckNodePort").unwrap_or(0);
    let needs_hc = ty == "LoadBalancer" && etp == "Local";
    if !needs_hc {
        if hc != 0 {
            errs.push(invalid(
                "spec.healthCheckNodePort",
                Bad::Int(hc),
                "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
            ));
        }
    } else if hc != 0 {
        for m in is_valid_port_num(hc) {
            errs.push(invalid("spec.healthCheckNodePort", Bad::Int(hc), &m));
        }
    }
}

// ---------------------------------------------------------------------------
// ConfigMap / Secret / Node

const MAX_SECRET_SIZE: usize = 1024 * 1024;

pub(super) fn validate_config_map(cm: &Value, errs: &mut Vec<Cause>) {
    let mut total = 0usize;
    let binary = string_map_at(cm, "/binaryData");
    for (k, v) in string_map_at(cm, "/data") {
        for m in is_config_map_key(&k) {
            errs.push(invalid(&key("data", &k), bs(&k), &m));
        }
        if binary.iter().any(|(bk, _)| *bk == k) {
            errs.push(invalid(
                &key("data", &k),
                bs(&k),
                "duplicate of key present in binaryData",
            ));
        }
        total += v.len();
    }
    for (k, v) in &binary {
        for m in is_config_map_key(k) {
            errs.push(invalid(&key("binaryData", k), bs(k), &m));
        }
        total += crate::secret::decoded_len(v);
    }
    if total > MAX_SECRET_SIZE {
        errs.push(too_long("", MAX_SECRET_SIZE));
    }
}

pub(super) fn validate_secret(secret: &Value, errs: &mut Vec<Cause>) {
    let data = crate::secret::sizes(secret);
    let mut total = 0usize;
    for (k, len) in &data {
        for m in is_config_map_key(k) {
            errs.push(invalid(&key("data", k), bs(k), &m));
        }
        total += len;
    }
    if total > MAX_SECRET_SIZE {
        errs.push(too_long("data", MAX_SECRET_SIZE));
    }
    let has = |k: &str| data.iter().any(|(dk, _)| dk == k);
    let non_empty = |k: &str| data.iter().any(|(dk, l)| dk == k && *l > 0);
    match str_at(secret, "/type") {
        "kubernetes.io/service-account-token" => {
            let anns = at(secret, "/metadata")
                .map(|m| string_map_at(m, "/annotations"))
                .unwrap_or_default();
            if !anns
                .iter()
                .any(|(k, v)| k == "kubernetes.io/service-account.name" && !v.is_empty())
            {
                errs.push(required(
                    "metadata.annotations[kubernetes.io/service-account.name]",
                    "",
                ));
            }
        }
        "kubernetes.io/dockercfg" if !has(".dockercfg") => {
            errs.push(required("data[.dockercfg]", ""))
        }
        "kubernetes.io/dockerconfigjson" if !has(".dockerconfigjson") => {
            errs.push(required("data[.dockerconfigjson]", ""))
        }
        "kubernetes.io/basic-auth" if !has("username") && !has("password") => {
            errs.push(required("data[username]", ""));
            errs.push(required("data[password]", ""));
        }
        "kubernetes.io/ssh-auth" if !non_empty("ssh-privatekey") => {
            errs.push(required("data[ssh-privatekey]", ""))
        }
        "kubernetes.io/tls" => {
            if !has("tls.crt") {
                errs.push(required("data[tls.crt]", ""));
            }
            if !has("tls.key") {
                errs.push(required("data[tls.key]", ""));
            }
        }
        _ => {}
    }
}

pub(super) fn validate_node_taints(taints: &[Value], path: &str, errs: &mut Vec<Cause>) {
    let mut seen: HashSet<(String, String)> = HashSet::new();
    for (i, t) in taints.iter().enumerate() {
        let idx = index(path, i);
        let k = str_at(t, "/key");
        for m in is_qualified_name(k) {
            errs.push(invalid(&child(&idx, "key"), bs(k), &m));
        }
        let v = str_at(t, "/value");
        let msgs = is_valid_label_value(v);
        if !msgs.is_empty() {
            errs.push(invalid(&child(&idx, "value"), bs(v), &msgs.join(";")));
        }
        let effect = str_at(t, "/effect");
        validate_taint_effect(effect, false, &child(&idx, "effect"), errs);
        if !seen.insert((effect.to_string(), k.to_string())) {
            let time = match str_at(t, "/timeAdded") {
                "" => "<nil>".to_string(),
                ts => ts.to_string(),
            };
            let raw = format!(
                "core.Taint{{Key:{}, Value:{}, Effect:{}, TimeAdded:{}}}",
                go_quote(k),
                go_quote(v),
                go_quote(effect),
                time
            );
            let mut c = duplicate(&idx, Bad::Raw(raw));
            c.message
                .push_str(": taints must be unique by key and effect pair");
            errs.push(c);
        }
    }
}
