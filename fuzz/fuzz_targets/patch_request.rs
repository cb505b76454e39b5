//! PATCH requests as the API server takes them: the body admitted per patch
//! type, decoded, applied (JSON patch, merge, strategic merge, apply) to a
//! stored object, and the result type-checked, validated and stored.
//! Input: [kind, patch type, options, body...].

#![no_main]

use kinet_apiserver::objects::Objects;
use kinet_apiserver::rest::fuzzing::admit_patch;
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

const MEDIA: [&str; 4] = [
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
];

fuzz_target!(|data: &[u8]| {
    let [k, m, o, body @ ..] = data else { return };
    let seeds = common::seeds();
    let (r, seed) = &seeds[*k as usize % seeds.len()];
    let ct = MEDIA[*m as usize % MEDIA.len()];
    let validation = common::validation(*o);
    let Ok(body) = admit_patch(ct, body, validation) else {
        return;
    };
    let store = common::seeded_store();
    let objects = Objects::new(store.clone());
    let ns = r.namespaced.then_some("default");
    let sub = (o & 0x10 != 0).then_some("status");
    let name = kinet_model::json::name(seed).to_string();
    if let Ok(w) = objects.patch(r, ns, &name, sub, ct, &body, common::opts(validation)) {
        let _ = serde_json::to_vec(&*w.object).expect("a stored object serializes");
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let _ = kinet_model::table::cells(r.kind, &w.object, now);
        // the store still answers: no lock poisoned, the object readable
        let _ = objects
            .registry()
            .get(r, ns, &name)
            .expect("the patched object reads back");
    }
});
