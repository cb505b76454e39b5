//! The patch engines on random documents: JSON merge patch (RFC 7386), JSON
//! patch (RFC 6902) and strategic merge patch by kind, plus the body checks
//! that run before them. Input: [kind, target JSON, 0, patch JSON].

#![no_main]

use kinet_model::patch::{
    PatchType, check_body, json_merge_patch, json_patch, strategic_merge_patch,
};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const KINDS: [&str; 8] = [
    "Pod",
    "Deployment",
    "Service",
    "ConfigMap",
    "Node",
    "DaemonSet",
    "Namespace",
    "Unknown",
];

fuzz_target!(|data: &[u8]| {
    let [k, rest @ ..] = data else { return };
    let kind = KINDS[*k as usize % KINDS.len()];
    let (target, patch) = match rest.iter().position(|&b| b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (&rest[..0], rest),
    };
    let target: Value =
        serde_json::from_slice(target).unwrap_or_else(|_| serde_json::json!({"kind": kind}));
    let Ok(patch) = serde_json::from_slice::<Value>(patch) else {
        return;
    };
    for t in [
        PatchType::Json,
        PatchType::Merge,
        PatchType::Strategic,
        PatchType::Apply,
    ] {
        let _ = check_body(t, &patch, true);
        let _ = check_body(t, &patch, false);
    }
    let merged = json_merge_patch(&target, &patch);
    // RFC 7386: applying the same merge patch again changes nothing
    assert_eq!(
        json_merge_patch(&merged, &patch),
        merged,
        "merge patch is idempotent"
    );
    let _ = json_patch(&target, &patch);
    if let Ok(v) = strategic_merge_patch(&target, &patch, kind) {
        let _ = serde_json::to_vec(&v).expect("serializes");
    }
});
