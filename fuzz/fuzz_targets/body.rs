//! Create and update bodies as the API server decodes and admits them: the
//! depth limits, JSON/YAML/protobuf decoding, then the registry's type checks,
//! unknown-field handling, defaults, admission and validation, into a store.
//! Input: [kind, media type, options, body...].

#![no_main]

use kinet_apiserver::objects::Objects;
use kinet_apiserver::rest::fuzzing::decode_body;
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

const MEDIA: [&str; 4] = [
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
    "application/json; charset=utf-8",
];

fuzz_target!(|data: &[u8]| {
    let [k, m, o, body @ ..] = data else { return };
    let seeds = common::seeds();
    let (r, seed) = &seeds[*k as usize % seeds.len()];
    let ct = MEDIA[*m as usize % MEDIA.len()];
    let update = o & 0x10 != 0;
    let status = o & 0x20 != 0;
    let Ok(obj) = decode_body(ct, body, (!status).then_some(r.kind)) else {
        return;
    };
    let store = common::seeded_store();
    let objects = Objects::new(store.clone());
    let ns = r.namespaced.then_some("default");
    let opts = common::opts(common::validation(*o));
    let name = kinet_model::json::name(seed).to_string();
    let written = if update {
        objects.update(r, ns, &name, status.then_some("status"), obj, opts)
    } else {
        objects.registry().create(r, ns, obj, opts)
    };
    if let Ok(w) = written {
        // what was stored reads back and serializes
        let _ = serde_json::to_vec(&*w.object).expect("a stored object serializes");
        let _ = kinet_model::table::cells(r.kind, &w.object, chrono_now());
    }
});

fn chrono_now() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default()
}
