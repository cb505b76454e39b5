//! The system components' manifests, applied when the lab starts (as MicroK8s
//! applies its addons): kube-proxy and Calico always, and the addons that are
//! enabled (dns by default; `kinet enable|disable ADDON`). Each object is created
//! when missing and left alone when present, so a user's edits (a ConfigMap's
//! `mode`, a scaled Deployment) survive a restart.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use anyhow::{Context, Result};
use kinet_model::lab;
use kinet_registry::create;
use kinet_store::Store;
use serde::Deserialize;
use serde_json::Value;

use crate::paths::Paths;

/// The core manifests, in the order they are applied.
const CORE: &[(&str, &str)] = &[
    ("kube-proxy", include_str!("system/kube-proxy.yaml")),
    ("calico", include_str!("system/calico.yaml")),
];

/// An addon, as `microk8s enable|disable|status` know them.
pub struct Addon {
    pub name: &'static str,
    /// How `enable`/`disable` name it ("Enabling DNS").
    pub title: &'static str,
    /// The line `kinet status` prints beside it.
    pub description: &'static str,
    /// On in a new lab.
    pub default: bool,
    manifest: &'static str,
}

pub const ADDONS: &[Addon] = &[Addon {
    name: "dns",
    title: "DNS",
    description: "CoreDNS",
    default: true,
    manifest: include_str!("system/coredns.yaml"),
}];

pub fn addon(name: &str) -> Option<&'static Addon> {
    ADDONS.iter().find(|a| a.name == name)
}

/// The addons enabled in the lab: its `addons.json`, or the defaults.
pub fn enabled(p: &Paths) -> BTreeSet<String> {
    std::fs::read(p.addons())
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_else(|| {
            ADDONS
                .iter()
                .filter(|a| a.default)
                .map(|a| a.name.to_string())
                .collect()
        })
}

pub fn save_enabled(p: &Paths, set: &BTreeSet<String>) -> std::io::Result<()> {
    std::fs::create_dir_all(&p.state)?;
    std::fs::write(p.addons(), serde_json::to_vec(set)?)
}

/// The lab's constants the manifests name as `${NAME}`.
fn substitute(text: &str, node1: Ipv4Addr) -> String {
    let corefile: String = kinet_dns::MICROK8S_COREFILE
        .lines()
        .map(|l| format!("    {l}\n"))
        .collect();
    text.replace("${POD_CIDR}", &lab::POD_CIDR.to_string())
        .replace("${API_HOST}", &node1.to_string())
        .replace("${API_PORT}", &lab::API_PORT.to_string())
        .replace("${CLUSTER_DNS_IP}", &lab::CLUSTER_DNS_IP.to_string())
        .replace("${COREFILE}\n", &corefile)
}

fn parse(name: &str, text: &str, node1: Ipv4Addr) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(&substitute(text, node1)) {
        let v = Value::deserialize(doc).with_context(|| format!("system manifest {name}"))?;
        if v.is_object() {
            out.push(v);
        }
    }
    Ok(out)
}

/// The objects of one addon, in the order they are applied.
pub fn addon_objects(a: &Addon, node1: Ipv4Addr) -> Result<Vec<Value>> {
    parse(a.name, a.manifest, node1)
}

/// Every object of the core manifests and of the `addons` named, with the
/// lab's constants in place.
pub fn objects(node1: Ipv4Addr, addons: &BTreeSet<String>) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for (name, text) in CORE {
        out.extend(parse(name, text, node1)?);
    }
    for a in ADDONS.iter().filter(|a| addons.contains(a.name)) {
        out.extend(addon_objects(a, node1)?);
    }
    Ok(out)
}

/// Creates the system objects that are missing.
pub fn ensure(store: &Store, node1: Ipv4Addr, addons: &BTreeSet<String>) -> Result<()> {
    for obj in objects(node1, addons)? {
        let api_version = kinet_model::json::str_at(&obj, "/apiVersion");
        let kind = kinet_model::json::str_at(&obj, "/kind").to_string();
        let r = kinet_model::resources::for_kind(api_version, &kind)
            .with_context(|| format!("system manifest names unknown kind {kind}"))?;
        let name = kinet_model::json::name(&obj).to_string();
        match create(store, r, obj) {
            Ok(_) => tracing::info!(kind, name, "system object created"),
            Err(e) if e.reason == "AlreadyExists" => {}
            Err(e) => anyhow::bail!("system object {kind} {name}: {e}"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_parse_and_name_the_lab_constants() {
        let all: BTreeSet<String> = ADDONS.iter().map(|a| a.name.to_string()).collect();
        let objs = objects(lab::node_ip(1), &all).unwrap();
        let kinds: Vec<String> = objs
            .iter()
            .map(|o| {
                format!(
                    "{}/{}",
                    kinet_model::json::str_at(o, "/kind"),
                    kinet_model::json::name(o)
                )
            })
            .collect();
        for want in [
            "DaemonSet/kube-proxy",
            "ConfigMap/kube-proxy",
            "DaemonSet/calico-node",
            "Deployment/calico-kube-controllers",
            "ConfigMap/calico-config",
            "Deployment/coredns",
            "Service/kube-dns",
            "ConfigMap/coredns",
        ] {
            assert!(kinds.iter().any(|k| k == want), "{want} missing: {kinds:?}");
        }
        let text = serde_json::to_string(&objs).unwrap();
        assert!(!text.contains("${"), "an unreplaced placeholder: {text}");
        assert!(text.contains(&format!("clusterCIDR: {}", lab::POD_CIDR)));
        let cm = objs
            .iter()
            .find(|o| kinet_model::json::name(o) == "coredns" && o["kind"] == "ConfigMap")
            .unwrap();
        assert_eq!(cm["data"]["Corefile"], kinet_dns::MICROK8S_COREFILE);
        let svc = objs.iter().find(|o| o["kind"] == "Service").unwrap();
        assert_eq!(svc["spec"]["clusterIP"], lab::CLUSTER_DNS_IP.to_string());
        // a lab without dns has none of its objects
        let none = objects(lab::node_ip(1), &BTreeSet::new()).unwrap();
        assert!(!none.iter().any(|o| kinet_model::json::name(o) == "coredns"));
    }
}
