//! The component boundary (DESIGN.md): system components (kube-proxy today;
//! DNS, calico-node, ingress, MetalLB, doctor later) talk to the control plane
//! only through the Kubernetes API, so their crates never depend on the
//! daemon's internals. kinet-registry is the control plane's write path (the
//! API server's registry, shared with the in-daemon controllers and node
//! agents), not a component: it sits between the store and its writers.

use std::collections::BTreeMap;
use std::process::Command;

/// Crates that are the control plane or the daemon: no component may use them.
const DAEMON_INTERNALS: &[&str] = &[
    "kinet-store",
    "kinet-registry",
    "kinet-apiserver",
    "kinet-controllers",
    "kinet-node",
];

/// What the workspace's crates depend on (normal dependencies), by name.
fn workspace_deps() -> BTreeMap<String, Vec<String>> {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata is JSON");
    let mut deps = BTreeMap::new();
    for p in meta["packages"].as_array().expect("packages") {
        let names = p["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d["kind"].is_null())
            .filter_map(|d| d["name"].as_str().map(String::from))
            .collect();
        deps.insert(p["name"].as_str().unwrap_or("").to_string(), names);
    }
    deps
}

#[test]
fn components_depend_on_the_api_not_on_the_daemon() {
    let deps = workspace_deps();
    let components = ["kinet-proxy", "kinet-calico", "kinet-dns"];
    for c in components {
        let of = deps
            .get(c)
            .unwrap_or_else(|| panic!("component crate {c} is missing from the workspace"));
        let bad: Vec<&String> = of
            .iter()
            .filter(|d| DAEMON_INTERNALS.contains(&d.as_str()))
            .collect();
        assert!(bad.is_empty(), "{c} depends on daemon internals {bad:?}");
    }
    // the node agents write through the registry, not through the controllers
    let node = &deps["kinet-node"];
    assert!(
        !node.iter().any(|d| d == "kinet-controllers"),
        "kinet-node depends on kinet-controllers: {node:?}"
    );
    // one direction: model ← store ← registry ← apiserver / controllers / node
    for (lower, higher) in [
        ("kinet-model", "kinet-store"),
        ("kinet-store", "kinet-registry"),
        ("kinet-registry", "kinet-apiserver"),
    ] {
        assert!(
            !deps[lower].iter().any(|d| d == higher),
            "{lower} depends on {higher}"
        );
    }
}
