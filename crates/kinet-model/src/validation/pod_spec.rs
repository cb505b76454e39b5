//! `ValidatePodSpec` and `ValidatePodTemplateSpec`: volumes, containers (ports,
//! env, mounts, probes, resources), policies and tolerations.

use std::collections::HashSet;

use serde_json::Value;

use super::field::{
    Bad, Cause, bs, child, duplicate, forbidden, index, invalid, non_negative, not_found,
    not_supported, required, required_name,
};
use super::metadata::{validate_annotations, validate_labels};
use super::names::{
    NameRule, inclusive_range_error, is_config_map_key, is_dns1123_label, is_dns1123_subdomain,
    is_qualified_name, is_relaxed_env_var_name, is_valid_label_value, is_valid_port_name,
    is_valid_port_num, name_errors,
};
use super::quantities::validate_resources;
use crate::json::{arr_at, at, int_at, str_at, string_map_at};

const VOLUME_TYPES: &[&str] = &[
    "emptyDir",
    "hostPath",
    "gitRepo",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "flocker",
    "persistentVolumeClaim",
    "rbd",
    "cinder",
    "cephfs",
    "quobyte",
    "downwardAPI",
    "fc",
    "flexVolume",
    "configMap",
    "azureFile",
    "vsphereVolume",
    "photonPersistentDisk",
    "portworxVolume",
    "azureDisk",
    "storageos",
    "projected",
    "scaleIO",
    "csi",
    "ephemeral",
    "image",
];

fn validate_volume_source(vol: &Value, path: &str, errs: &mut Vec<Cause>) {
    let mut n = 0;
    for ty in VOLUME_TYPES {
        let Some(src) = at(vol, &format!("/{ty}")) else {
            continue;
        };
        // Upstream spells the path of a second cephfs source "cephFS".
        let p = child(path, if *ty == "cephfs" { "cephFS" } else { ty });
        if n > 0 {
            errs.push(forbidden(&p, "may not specify more than 1 volume type"));
            continue;
        }
        n += 1;
        let sp = child(path, ty);
        match *ty {
            "hostPath" if str_at(src, "/path").is_empty() => {
                errs.push(required(&child(&sp, "path"), ""))
            }
            "secret" if str_at(src, "/secretName").is_empty() => {
                errs.push(required(&child(&sp, "secretName"), ""))
            }
            "configMap" if str_at(src, "/name").is_empty() => {
                errs.push(required(&child(&sp, "name"), ""))
            }
            "persistentVolumeClaim" if str_at(src, "/claimName").is_empty() => {
                errs.push(required(&child(&sp, "claimName"), ""))
            }
            "nfs" => {
                if str_at(src, "/server").is_empty() {
                    errs.push(required(&child(&sp, "server"), ""));
                }
                let p = str_at(src, "/path");
                if p.is_empty() {
                    errs.push(required(&child(&sp, "path"), ""));
                } else if !p.starts_with('/') {
                    errs.push(invalid(
                        &child(&sp, "path"),
                        bs(p),
                        "must be an absolute path",
                    ));
                }
            }
            _ => {}
        }
    }
    if n == 0 {
        errs.push(required(path, "must specify a volume type"));
    }
}

/// `ValidateVolumes`: returns the names of the valid volumes.
fn validate_volumes(volumes: &[Value], path: &str, errs: &mut Vec<Cause>) -> HashSet<String> {
    let mut names = HashSet::new();
    for (i, vol) in volumes.iter().enumerate() {
        let idx = index(path, i);
        let name_path = child(&idx, "name");
        let mut el = Vec::new();
        validate_volume_source(vol, &idx, &mut el);
        let name = str_at(vol, "/name");
        required_name(name, &name_path, is_dns1123_label, &mut el);
        if names.contains(name) {
            el.push(duplicate(&name_path, bs(name)));
        }
        if el.is_empty() {
            names.insert(name.to_string());
        } else {
            errs.extend(el);
        }
    }
    names
}

fn validate_ports(ports: &[Value], path: &str, errs: &mut Vec<Cause>) {
    let mut names = HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        let idx = index(path, i);
        let name = str_at(p, "/name");
        if !name.is_empty() {
            let msgs = is_valid_port_name(name);
            if !msgs.is_empty() {
                for m in msgs {
                    errs.push(invalid(&child(&idx, "name"), bs(name), &m));
                }
            } else if !names.insert(name.to_string()) {
                errs.push(duplicate(&child(&idx, "name"), bs(name)));
            }
        }
        let cp = int_at(p, "/containerPort").unwrap_or(0);
        if cp == 0 {
            errs.push(required(&child(&idx, "containerPort"), ""));
        } else {
            for m in is_valid_port_num(cp) {
                errs.push(invalid(&child(&idx, "containerPort"), Bad::Int(cp), &m));
            }
        }
        let hp = int_at(p, "/hostPort").unwrap_or(0);
        if hp != 0 {
            for m in is_valid_port_num(hp) {
                errs.push(invalid(&child(&idx, "hostPort"), Bad::Int(hp), &m));
            }
        }
        validate_protocol(p, &child(&idx, "protocol"), errs);
    }
}

pub(super) fn validate_protocol(p: &Value, path: &str, errs: &mut Vec<Cause>) {
    let proto = str_at(p, "/protocol");
    if !proto.is_empty() && !["TCP", "UDP", "SCTP"].contains(&proto) {
        errs.push(not_supported(path, bs(proto), &["SCTP", "TCP", "UDP"]));
    }
}

fn validate_env(env: &[Value], path: &str, errs: &mut Vec<Cause>) {
    for (i, e) in env.iter().enumerate() {
        let idx = index(path, i);
        let name = str_at(e, "/name");
        required_name(name, &child(&idx, "name"), is_relaxed_env_var_name, errs);
        if let Some(from) = at(e, "/valueFrom") {
            let vf = child(&idx, "valueFrom");
            let mut n = 0;
            for (src, name_required) in [
                ("fieldRef", false),
                ("resourceFieldRef", false),
                ("configMapKeyRef", true),
                ("secretKeyRef", true),
            ] {
                let Some(sel) = at(from, &format!("/{src}")) else {
                    continue;
                };
                n += 1;
                let sp = child(&vf, src);
                if name_required {
                    let n = str_at(sel, "/name");
                    for m in is_dns1123_subdomain(n) {
                        errs.push(invalid(&child(&sp, "name"), bs(n), &m));
                    }
                    let k = str_at(sel, "/key");
                    required_name(k, &child(&sp, "key"), is_config_map_key, errs);
                } else if src == "fieldRef" && str_at(sel, "/fieldPath").is_empty() {
                    errs.push(required(&child(&sp, "fieldPath"), ""));
                } else if src == "resourceFieldRef" && str_at(sel, "/resource").is_empty() {
                    errs.push(required(&child(&sp, "resource"), ""));
                }
            }
            if n == 0 {
                errs.push(invalid(
                    &vf,
                    bs(""),
                    "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
                ));
            } else if !str_at(e, "/value").is_empty() {
                errs.push(invalid(
                    &vf,
                    bs(""),
                    "may not be specified when `value` is not empty",
                ));
            } else if n > 1 {
                errs.push(invalid(
                    &vf,
                    bs(""),
                    "may not have more than one field specified at a time",
                ));
            }
        }
    }
}

fn validate_env_from(env_from: &[Value], path: &str, errs: &mut Vec<Cause>) {
    for (i, e) in env_from.iter().enumerate() {
        let idx = index(path, i);
        let prefix = str_at(e, "/prefix");
        if !prefix.is_empty() {
            for m in is_relaxed_env_var_name(prefix) {
                errs.push(invalid(&child(&idx, "prefix"), bs(prefix), &m));
            }
        }
        let mut n = 0;
        for src in ["configMapRef", "secretRef"] {
            let Some(r) = at(e, &format!("/{src}")) else {
                continue;
            };
            n += 1;
            let name = str_at(r, "/name");
            let np = child(&child(&idx, src), "name");
            let check = |n: &str| name_errors(NameRule::Subdomain, n, true);
            required_name(name, &np, check, errs);
        }
        if n == 0 {
            errs.push(invalid(
                path,
                bs(""),
                "must specify one of: `configMapRef` or `secretRef`",
            ));
        } else if n > 1 {
            errs.push(invalid(
                path,
                bs(""),
                "may not have more than one field specified at a time",
            ));
        }
    }
}

fn validate_volume_mounts(
    mounts: &[Value],
    volumes: &HashSet<String>,
    path: &str,
    errs: &mut Vec<Cause>,
) {
    let mut points = HashSet::new();
    for (i, m) in mounts.iter().enumerate() {
        let idx = index(path, i);
        let name = str_at(m, "/name");
        if name.is_empty() {
            errs.push(required(&child(&idx, "name"), ""));
        }
        if !volumes.contains(name) {
            errs.push(not_found(&child(&idx, "name"), bs(name)));
        }
        let mp = str_at(m, "/mountPath");
        if mp.is_empty() {
            errs.push(required(&child(&idx, "mountPath"), ""));
        }
        if !points.insert(mp.to_string()) {
            errs.push(invalid(&child(&idx, "mountPath"), bs(mp), "must be unique"));
        }
        let sub = str_at(m, "/subPath");
        if !sub.is_empty() {
            validate_local_descending_path(sub, &child(path, "subPath"), errs);
        }
        let expr = str_at(m, "/subPathExpr");
        if !expr.is_empty() {
            if !sub.is_empty() {
                errs.push(invalid(
                    &child(&idx, "subPathExpr"),
                    bs(expr),
                    "subPathExpr and subPath are mutually exclusive",
                ));
            }
            validate_local_descending_path(expr, &child(path, "subPathExpr"), errs);
        }
    }
}

fn validate_local_descending_path(p: &str, path: &str, errs: &mut Vec<Cause>) {
    if p.starts_with('/') {
        errs.push(invalid(path, bs(p), "must be a relative path"));
    }
    if p.split('/').any(|seg| seg == "..") {
        errs.push(invalid(path, bs(p), "must not contain '..'"));
    }
}

/// The liveness, readiness and startup probes of the container `c` at `path`.
fn validate_probes(c: &Value, path: &str, errs: &mut Vec<Cause>) {
    for p in ["livenessProbe", "readinessProbe", "startupProbe"] {
        validate_probe(at(c, &format!("/{p}")), &child(path, p), errs);
    }
}

fn validate_probe(probe: Option<&Value>, path: &str, errs: &mut Vec<Cause>) {
    let Some(probe) = probe else { return };
    let success_must_be_one = path.ends_with("livenessProbe") || path.ends_with("startupProbe");
    let mut n = 0;
    for h in ["exec", "httpGet", "tcpSocket", "grpc"] {
        if at(probe, &format!("/{h}")).is_some() {
            if n > 0 {
                errs.push(forbidden(
                    &child(path, h),
                    "may not specify more than 1 handler type",
                ));
            } else {
                n += 1;
            }
        }
    }
    if n == 0 {
        errs.push(required(path, "must specify a handler type"));
    }
    non_negative(
        probe,
        path,
        &[
            "initialDelaySeconds",
            "timeoutSeconds",
            "periodSeconds",
            "successThreshold",
            "failureThreshold",
        ],
        errs,
    );
    if success_must_be_one
        && let Some(v) = int_at(probe, "/successThreshold")
        && v != 1
    {
        errs.push(invalid(
            &child(path, "successThreshold"),
            Bad::Int(v),
            "must be 1",
        ));
    }
}

fn validate_pull_policy(c: &Value, path: &str, errs: &mut Vec<Cause>) {
    let p = str_at(c, "/imagePullPolicy");
    if !p.is_empty() && !["Always", "IfNotPresent", "Never"].contains(&p) {
        errs.push(not_supported(
            path,
            bs(p),
            &["Always", "IfNotPresent", "Never"],
        ));
    }
}

/// `validateContainerCommon`.
fn validate_container_common(
    c: &Value,
    volumes: &HashSet<String>,
    path: &str,
    errs: &mut Vec<Cause>,
) {
    let name = str_at(c, "/name");
    let name_path = child(path, "name");
    required_name(name, &name_path, is_dns1123_label, errs);
    if str_at(c, "/image").is_empty() {
        errs.push(required(&child(path, "image"), ""));
    }
    let tmp = str_at(c, "/terminationMessagePolicy");
    if !tmp.is_empty() && tmp != "File" && tmp != "FallbackToLogsOnError" {
        errs.push(not_supported(
            &child(path, "terminationMessagePolicy"),
            bs(tmp),
            &["File", "FallbackToLogsOnError"],
        ));
    }
    validate_ports(arr_at(c, "/ports"), &child(path, "ports"), errs);
    validate_env(arr_at(c, "/env"), &child(path, "env"), errs);
    validate_env_from(arr_at(c, "/envFrom"), &child(path, "envFrom"), errs);
    validate_volume_mounts(
        arr_at(c, "/volumeMounts"),
        volumes,
        &child(path, "volumeMounts"),
        errs,
    );
    validate_pull_policy(c, &child(path, "imagePullPolicy"), errs);
    if let Some(res) = at(c, "/resources") {
        validate_resources(res, &child(path, "resources"), errs);
    }
}

/// `checkHostPortConflicts` over a set of containers.
fn check_host_ports(containers: &[Value], path: &str, errs: &mut Vec<Cause>) {
    let mut seen = HashSet::new();
    for (ci, c) in containers.iter().enumerate() {
        for (pi, p) in arr_at(c, "/ports").iter().enumerate() {
            let hp = int_at(p, "/hostPort").unwrap_or(0);
            if hp == 0 {
                continue;
            }
            let proto = match str_at(p, "/protocol") {
                "" => "TCP",
                other => other,
            };
            let id = format!("{}/{}/{}", str_at(p, "/hostIP"), proto, hp);
            if !seen.insert(id.clone()) {
                let hp_path = child(&index(&child(&index(path, ci), "ports"), pi), "hostPort");
                errs.push(duplicate(&hp_path, Bad::Str(id)));
            }
        }
    }
}

/// `ValidatePodSpec` at `path`; `is_pod` adds the Pod-only checks.
pub(super) fn validate_pod_spec(spec: &Value, path: &str, is_pod: bool, errs: &mut Vec<Cause>) {
    let volumes = validate_volumes(arr_at(spec, "/volumes"), &child(path, "volumes"), errs);

    let containers = arr_at(spec, "/containers");
    let cpath = child(path, "containers");
    if containers.is_empty() {
        errs.push(required(&cpath, ""));
    } else {
        let mut names = HashSet::new();
        for (i, c) in containers.iter().enumerate() {
            let idx = index(&cpath, i);
            validate_container_common(c, &volumes, &idx, errs);
            let name = str_at(c, "/name");
            if !names.insert(name.to_string()) {
                errs.push(duplicate(&child(&idx, "name"), bs(name)));
            }
            validate_probes(c, &idx, errs);
            if at(c, "/restartPolicy").is_some() {
                errs.push(forbidden(
                    &child(&idx, "restartPolicy"),
                    "may not be set for non-init containers",
                ));
            }
        }
        check_host_ports(containers, &cpath, errs);
    }

    let ipath = child(path, "initContainers");
    let mut all: HashSet<String> = containers
        .iter()
        .map(|c| str_at(c, "/name").to_string())
        .collect();
    for (i, c) in arr_at(spec, "/initContainers").iter().enumerate() {
        let idx = index(&ipath, i);
        validate_container_common(c, &volumes, &idx, errs);
        let restart = str_at(c, "/restartPolicy");
        if at(c, "/restartPolicy").is_some() && restart != "Always" {
            errs.push(not_supported(
                &child(&idx, "restartPolicy"),
                bs(restart),
                &["Always"],
            ));
        }
        let name = str_at(c, "/name");
        if all.contains(name) {
            errs.push(duplicate(&child(&idx, "name"), bs(name)));
        } else if !name.is_empty() {
            all.insert(name.to_string());
        }
        check_host_ports(std::slice::from_ref(c), &ipath, errs);
        if restart == "Always" {
            validate_probes(c, &idx, errs);
        } else {
            for f in [
                "lifecycle",
                "livenessProbe",
                "readinessProbe",
                "startupProbe",
            ] {
                if at(c, &format!("/{f}")).is_some() {
                    errs.push(forbidden(
                        &child(&idx, f),
                        "may not be set for init containers without restartPolicy=Always",
                    ));
                }
            }
        }
    }

    let restart = str_at(spec, "/restartPolicy");
    if !restart.is_empty() && !["Always", "OnFailure", "Never"].contains(&restart) {
        errs.push(not_supported(
            &child(path, "restartPolicy"),
            bs(restart),
            &["Always", "OnFailure", "Never"],
        ));
    }
    let dns = str_at(spec, "/dnsPolicy");
    if !dns.is_empty()
        && !["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"].contains(&dns)
    {
        errs.push(not_supported(
            &child(path, "dnsPolicy"),
            bs(dns),
            &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        ));
    }
    validate_labels(
        &string_map_at(spec, "/nodeSelector"),
        &child(path, "nodeSelector"),
        errs,
    );
    if dns == "None" {
        match at(spec, "/dnsConfig") {
            None => errs.push(required(
                &child(path, "dnsConfig"),
                "must provide `dnsConfig` when `dnsPolicy` is None",
            )),
            Some(cfg) if arr_at(cfg, "/nameservers").is_empty() => errs.push(required(
                &child(&child(path, "dnsConfig"), "nameservers"),
                "must provide at least one DNS nameserver when `dnsPolicy` is None",
            )),
            _ => {}
        }
    }
    for field_name in ["serviceAccountName", "nodeName", "priorityClassName"] {
        let v = str_at(spec, &format!("/{field_name}"));
        if !v.is_empty() {
            for m in is_dns1123_subdomain(v) {
                errs.push(invalid(&child(path, field_name), bs(v), &m));
            }
        }
    }
    if let Some(ads) = int_at(spec, "/activeDeadlineSeconds")
        && !(1..=i32::MAX as i64).contains(&ads)
    {
        errs.push(invalid(
            &child(path, "activeDeadlineSeconds"),
            Bad::Int(ads),
            &inclusive_range_error(1, i32::MAX as i64),
        ));
    }
    for field_name in ["hostname", "subdomain"] {
        let v = str_at(spec, &format!("/{field_name}"));
        if !v.is_empty() {
            for m in is_dns1123_label(v) {
                errs.push(invalid(&child(path, field_name), bs(v), &m));
            }
        }
    }
    validate_tolerations(
        arr_at(spec, "/tolerations"),
        &child(path, "tolerations"),
        errs,
    );

    if is_pod {
        // validateContainersOnlyForPod
        for (list, p) in [
            (containers, cpath.as_str()),
            (arr_at(spec, "/initContainers"), ipath.as_str()),
        ] {
            for (i, c) in list.iter().enumerate() {
                let image = str_at(c, "/image");
                if image.trim() != image {
                    errs.push(invalid(
                        &child(&index(p, i), "image"),
                        bs(image),
                        "must not have leading or trailing whitespace",
                    ));
                }
            }
        }
    }
}

pub(super) fn validate_taint_effect(
    effect: &str,
    allow_empty: bool,
    path: &str,
    errs: &mut Vec<Cause>,
) {
    if effect.is_empty() {
        if !allow_empty {
            errs.push(required(path, ""));
        }
        return;
    }
    if !["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&effect) {
        errs.push(not_supported(
            path,
            bs(effect),
            &["NoSchedule", "PreferNoSchedule", "NoExecute"],
        ));
    }
}

pub(super) fn validate_tolerations(tolerations: &[Value], path: &str, errs: &mut Vec<Cause>) {
    for (i, t) in tolerations.iter().enumerate() {
        let idx = index(path, i);
        let k = str_at(t, "/key");
        let op = str_at(t, "/operator");
        let effect = str_at(t, "/effect");
        if !k.is_empty() {
            for m in is_qualified_name(k) {
                errs.push(invalid(&child(&idx, "key"), bs(k), &m));
            }
        }
        if k.is_empty() && op != "Exists" {
            errs.push(invalid(
                &child(&idx, "operator"),
                bs(op),
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        if at(t, "/tolerationSeconds").is_some() && effect != "NoExecute" {
            errs.push(invalid(
                &child(&idx, "effect"),
                bs(effect),
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        let value = str_at(t, "/value");
        match op {
            "Equal" | "" => {
                let msgs = is_valid_label_value(value);
                if !msgs.is_empty() {
                    errs.push(invalid(
                        &child(&idx, "operator"),
                        bs(value),
                        &msgs.join(";"),
                    ));
                }
            }
            "Exists" => {
                if !value.is_empty() {
                    errs.push(invalid(
                        &child(&idx, "operator"),
                        bs(value),
                        "value must be empty when `operator` is 'Exists'",
                    ));
                }
            }
            other => errs.push(not_supported(
                &child(&idx, "operator"),
                bs(other),
                &["Equal", "Exists"],
            )),
        }
        validate_taint_effect(effect, true, &child(&idx, "effect"), errs);
    }
}

/// `ValidatePodTemplateSpec` at `path` (e.g. `spec.template`).
pub(super) fn validate_pod_template(template: Option<&Value>, path: &str, errs: &mut Vec<Cause>) {
    let empty = Value::Object(Default::default());
    let t = template.unwrap_or(&empty);
    let meta = at(t, "/metadata").unwrap_or(&empty);
    let mp = child(path, "metadata");
    validate_labels(&string_map_at(meta, "/labels"), &child(&mp, "labels"), errs);
    validate_annotations(
        &string_map_at(meta, "/annotations"),
        &child(&mp, "annotations"),
        errs,
    );
    validate_pod_spec(
        at(t, "/spec").unwrap_or(&empty),
        &child(path, "spec"),
        false,
        errs,
    );
}
