//! What a controller loop is fed: the watch events of several kinds merged
//! into one channel (as an informer factory shares its informers), and the
//! periodic ticks of its resync and retry.

use kinet_store::{Store, Watcher, WatcherEvent};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// One store watcher per `(kind, prefix)`, their events tagged with the kind,
/// in one channel; it closes when every watcher has ended (the store closed).
pub(crate) fn watch_all<K: Copy + Send + 'static>(
    store: &Arc<Store>,
    kinds: impl IntoIterator<Item = (K, String)>,
) -> mpsc::UnboundedReceiver<(K, WatcherEvent)> {
    let (tx, rx) = mpsc::unbounded_channel();
    for (kind, prefix) in kinds {
        let (tx, store) = (tx.clone(), store.clone());
        tokio::spawn(async move {
            let mut w = Watcher::new(store, &prefix);
            while let Some(ev) = w.next().await {
                if tx.send((kind, ev)).is_err() {
                    return;
                }
            }
        });
    }
    rx
}

/// A tick every `period`, the first one a period from now; ticks missed while
/// the loop was busy are not made up in a burst.
pub(crate) fn ticker(period: Duration) -> tokio::time::Interval {
    let mut t = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    t
}
