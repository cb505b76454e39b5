//! The system components' manifests, applied when the lab starts (as MicroK8s
//! applies its addons): kube-proxy and Calico today. Each object is created
//! when missing and left alone when present, so a user's edits (a ConfigMap's
//! `mode`, a scaled Deployment) survive a restart.

use anyhow::{Context, Result};
use kinet_model::lab;
use kinet_registry::create;
use kinet_store::Store;
use serde::Deserialize;
use serde_json::Value;

/// The manifests, in the order they are applied.
const MANIFESTS: &[(&str, &str)] = &[
    ("kube-proxy", include_str!("system/kube-proxy.yaml")),
    ("calico", include_str!("system/calico.yaml")),
];

/// The lab's constants the manifests name as `${NAME}`.
fn substitute(text: &str, node1: std::net::Ipv4Addr) -> String {
    text.replace("${POD_CIDR}", &lab::POD_CIDR.to_string())
        .replace("${API_HOST}", &node1.to_string())
        .replace("${API_PORT}", &lab::API_PORT.to_string())
}

/// Every object of the system manifests, with the lab's constants in place.
pub fn objects(node1: std::net::Ipv4Addr) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for (name, text) in MANIFESTS {
        for doc in serde_yaml::Deserializer::from_str(&substitute(text, node1)) {
            let v = Value::deserialize(doc).with_context(|| format!("system manifest {name}"))?;
            if v.is_object() {
                out.push(v);
            }
        }
    }
    Ok(out)
}

/// Creates the system objects that are missing.
pub fn ensure(store: &Store, node1: std::net::Ipv4Addr) -> Result<()> {
    for obj in objects(node1)? {
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
        let objs = objects(lab::node_ip(1)).unwrap();
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
        ] {
            assert!(kinds.iter().any(|k| k == want), "{want} missing: {kinds:?}");
        }
        let text = serde_json::to_string(&objs).unwrap();
        assert!(!text.contains("${"), "an unreplaced placeholder: {text}");
        assert!(text.contains(&format!("clusterCIDR: {}", lab::POD_CIDR)));
    }
}
