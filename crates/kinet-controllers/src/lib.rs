//! Reconcile loops that run inside the daemon: the scheduler, namespaces
//! (defaults, service accounts, root CA, deletion) and workloads. They write
//! through `kinet_registry`, as every writer does.

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
///
/// Superseded by `kinet_store::watcher` (which says when a relist replaces what
/// the consumer knew); kept only until the node agent is switched to it.
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

/// Now `kinet_registry::random_suffix`; kept for workloads until it is switched.
pub use kinet_registry::random_suffix;
