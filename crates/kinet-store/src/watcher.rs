//! A watcher with kube-runtime's semantics over the store: a consumer first gets
//! the whole current list (`Init`, one `InitApply` per object, `InitDone`), then
//! each change (`Apply`, `Delete`). When the watch falls behind (410 Gone) the
//! watcher lists again and says so with a new `Init`: the consumer replaces what it
//! knew with the objects up to the next `InitDone`, so an object deleted in the
//! gap is never kept by mistake.

use crate::{EventType, Store, StoreError, Watch};
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::Arc;

/// One step of a watcher's stream (kube-runtime's `watcher::Event`).
#[derive(Debug, Clone)]
pub enum WatcherEvent {
    /// A (re)list starts: what follows until `InitDone` is the whole current set.
    Init,
    /// An object of the current set, during a (re)list.
    InitApply(Arc<Value>),
    /// The (re)list is complete: objects not seen since `Init` are gone.
    InitDone,
    /// An object was added or modified.
    Apply(Arc<Value>),
    /// An object was deleted (its last state).
    Delete(Arc<Value>),
}

/// The stream of `WatcherEvent`s for the keys under one prefix.
pub struct Watcher {
    store: Arc<Store>,
    prefix: String,
    pending: VecDeque<WatcherEvent>,
    watch: Option<Watch>,
}

impl Watcher {
    pub fn new(store: Arc<Store>, prefix: &str) -> Watcher {
        Watcher {
            store,
            prefix: prefix.to_string(),
            pending: VecDeque::new(),
            watch: None,
        }
    }

    /// The next event; None once the store is closed.
    pub async fn next(&mut self) -> Option<WatcherEvent> {
        loop {
            if let Some(ev) = self.pending.pop_front() {
                return Some(ev);
            }
            match &mut self.watch {
                None => self.relist(),
                Some(w) => match w.next().await {
                    Ok(ev) => {
                        return Some(match ev.kind {
                            EventType::Deleted => WatcherEvent::Delete(ev.object.clone()),
                            _ => WatcherEvent::Apply(ev.object.clone()),
                        });
                    }
                    Err(StoreError::Gone { .. }) => self.watch = None,
                    Err(_) => return None,
                },
            }
        }
    }

    fn relist(&mut self) {
        let (items, rev) = self.store.list(&self.prefix);
        self.pending.push_back(WatcherEvent::Init);
        self.pending
            .extend(items.into_iter().map(WatcherEvent::InitApply));
        self.pending.push_back(WatcherEvent::InitDone);
        // A watch from the listed revision cannot be Gone unless the history moved
        // on between the two calls; then the next poll lists again.
        self.watch = self.store.watch(&self.prefix, Some(rev)).ok();
    }
}

/// Runs `f` on every event of a watcher under `prefix` until the store closes.
pub async fn for_each_event<F>(store: Arc<Store>, prefix: &str, mut f: F)
where
    F: FnMut(WatcherEvent),
{
    let mut w = Watcher::new(store, prefix);
    while let Some(ev) = w.next().await {
        f(ev);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn name(v: &Value) -> String {
        v["metadata"]["name"].as_str().unwrap_or("").to_string()
    }

    fn show(ev: &WatcherEvent) -> String {
        match ev {
            WatcherEvent::Init => "init".into(),
            WatcherEvent::InitApply(o) => format!("init-apply {}", name(o)),
            WatcherEvent::InitDone => "init-done".into(),
            WatcherEvent::Apply(o) => format!("apply {}", name(o)),
            WatcherEvent::Delete(o) => format!("delete {}", name(o)),
        }
    }

    #[tokio::test]
    async fn lists_then_follows_changes() {
        let store = Arc::new(Store::open(None).unwrap());
        store
            .create("/p/a", json!({"metadata": {"name": "a"}}))
            .unwrap();
        let mut w = Watcher::new(store.clone(), "/p/");
        let mut seen = vec![];
        for _ in 0..3 {
            seen.push(show(&w.next().await.unwrap()));
        }
        store
            .create("/p/b", json!({"metadata": {"name": "b"}}))
            .unwrap();
        store.delete("/p/a", None).unwrap();
        store
            .create("/q/c", json!({"metadata": {"name": "c"}}))
            .unwrap();
        for _ in 0..2 {
            seen.push(show(&w.next().await.unwrap()));
        }
        assert_eq!(
            seen,
            ["init", "init-apply a", "init-done", "apply b", "delete a"]
        );
    }

    #[tokio::test]
    async fn a_watch_that_falls_behind_relists_without_the_deleted_objects() {
        let store = Arc::new(Store::open(None).unwrap());
        store
            .create("/p/gone", json!({"metadata": {"name": "gone"}}))
            .unwrap();
        let mut w = Watcher::new(store.clone(), "/p/");
        for _ in 0..3 {
            w.next().await.unwrap();
        }
        // Deleted while the watcher is not polled, then enough writes to lag it.
        store.delete("/p/gone", None).unwrap();
        store
            .create("/p/kept", json!({"metadata": {"name": "kept"}}))
            .unwrap();
        // The change channel holds HISTORY events rounded up to a power of two.
        for i in 0..(crate::HISTORY.next_power_of_two() + 5) {
            store
                .update_with("/p/kept", |o| {
                    o["v"] = json!(i);
                    true
                })
                .unwrap();
        }
        // The backlog of the first watch replays what it still holds; once lagged,
        // the watcher lists again and the deleted object is not in the new set.
        let mut after_init = None;
        for _ in 0..(crate::HISTORY.next_power_of_two() * 2 + 10) {
            match w.next().await.unwrap() {
                WatcherEvent::Init => after_init = Some(vec![]),
                WatcherEvent::InitDone => break,
                ev => {
                    if let Some(v) = after_init.as_mut() {
                        v.push(show(&ev));
                    }
                }
            }
        }
        assert_eq!(after_init, Some(vec!["init-apply kept".to_string()]));
    }
}
