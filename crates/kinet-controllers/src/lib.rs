//! Reconcile loops that run inside the daemon: the scheduler, namespaces
//! (defaults, service accounts, root CA, deletion), and the event recorder that
//! node agents share.

#![forbid(unsafe_code)]

pub mod events;
pub mod namespaces;
pub mod objects;
pub mod scheduler;
pub mod workloads;

use kinet_store::{Event, Store};
use std::sync::Arc;

/// Runs `f` on every change under `prefix`, starting with the current objects
/// (as Added events); re-lists when the watch falls behind.
pub async fn for_each_change<F>(store: Arc<Store>, prefix: &str, mut f: F)
where
    F: FnMut(&Event),
{
    loop {
        let (items, rev) = store.list(prefix);
        for o in items {
            f(&Event {
                rev,
                kind: kinet_store::EventType::Added,
                key: String::new(),
                object: o,
                prev: None,
            });
        }
        let Ok(mut w) = store.watch(prefix, Some(rev)) else {
            continue;
        };
        loop {
            match w.next().await {
                Ok(ev) => f(&ev),
                Err(kinet_store::StoreError::Gone { .. }) => break,
                Err(_) => return,
            }
        }
    }
}

/// The 5-character suffix of generated names.
pub fn random_suffix(n: usize) -> String {
    kinet_model::names::suffix(rand::random(), n)
}
