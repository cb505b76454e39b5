//! The core kinds without a pod spec: Service, ConfigMap, Secret and Node.

use std::collections::HashSet;

use serde_json::Value;

use super::field::{
    Bad, Cause, bs, child, duplicate, index, invalid, key, not_supported, required, required_name,
    too_long,
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

pub(super) fn validate_service(svc: &Value, errs: &mut Vec<Cause>) {
    let empty = Value::Object(Default::default());
    let spec = at(svc, "/spec").unwrap_or(&empty);
    let ty = match str_at(spec, "/type") {
        "" => "ClusterIP",
        t => t,
    };
    let headless = str_at(spec, "/clusterIP") == "None";
    let ports = arr_at(spec, "/ports");
    if ports.is_empty() && !headless && ty != "ExternalName" {
        errs.push(required("spec.ports", ""));
    }
    if ty == "ExternalName" {
        let cname = str_at(spec, "/externalName").trim_end_matches('.');
        required_name(cname, "spec.externalName", is_dns1123_subdomain, errs);
    }
    let mut names = HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        let idx = index("spec.ports", i);
        let name = str_at(p, "/name");
        if ports.len() > 1 && name.is_empty() {
            errs.push(required(&child(&idx, "name"), ""));
        } else if !name.is_empty() {
            for m in is_dns1123_label(name) {
                errs.push(invalid(&child(&idx, "name"), bs(name), &m));
            }
            if !names.insert(name.to_string()) {
                errs.push(duplicate(&child(&idx, "name"), bs(name)));
            }
        }
        let port = int_at(p, "/port").unwrap_or(0);
        for m in is_valid_port_num(port) {
            errs.push(invalid(&child(&idx, "port"), Bad::Int(port), &m));
        }
        validate_protocol(p, &child(&idx, "protocol"), errs);
        match at(p, "/targetPort") {
            Some(Value::Number(n)) => {
                let n = n.as_i64().unwrap_or(0);
                for m in is_valid_port_num(n) {
                    errs.push(invalid(&child(&idx, "targetPort"), Bad::Int(n), &m));
                }
            }
            Some(Value::String(s)) => {
                for m in is_valid_port_name(s) {
                    errs.push(invalid(&child(&idx, "targetPort"), bs(s), &m));
                }
            }
            _ => {}
        }
    }
    validate_labels(&string_map_at(spec, "/selector"), "spec.selector", errs);
    if !["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"].contains(&ty) {
        errs.push(not_supported(
            "spec.type",
            bs(ty),
            &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
        ));
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
