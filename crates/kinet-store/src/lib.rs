//! The versioned object store: every object is JSON under a key, every write gets
//! the next revision (the object's `metadata.resourceVersion`), and watchers see
//! the ordered stream of changes from any recent revision. Writes land in an
//! SQLite append-only log (like k3s's kine) before they return, so a restart loses
//! nothing; reads are served from memory.

#![forbid(unsafe_code)]

use rusqlite::{Connection, params};
use serde_json::Value;
use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

pub mod watcher;
pub use watcher::{Watcher, WatcherEvent};

/// How many past events are kept for watches that start from an older revision.
const HISTORY: usize = 20_000;
/// And at most this many bytes of them (their objects as JSON), as etcd compacts
/// its history: a watch from further back is answered 410 Gone.
const HISTORY_BYTES: usize = 64 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(&self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as watchers receive it.
#[derive(Debug, Clone)]
pub struct Event {
    pub rev: u64,
    pub kind: EventType,
    pub key: String,
    /// The new object; for deletions, the last state stamped with the deletion's revision.
    pub object: Arc<Value>,
    pub prev: Option<Arc<Value>>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("already exists")]
    AlreadyExists,
    #[error(
        "the object has been modified; please apply your changes to the latest version and try again"
    )]
    Conflict,
    /// The requested revision is older than the history kept.
    #[error("too old resource version: {requested} ({oldest})")]
    Gone { requested: u64, oldest: u64 },
    /// SQLite refused to open, read or write the log.
    #[error("storage error: {0}")]
    Db(#[from] rusqlite::Error),
    /// An object could not be encoded, or a stored row decoded, as JSON.
    #[error("storage error: invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The store went away while a watch waited on it.
    #[error("storage error: store closed")]
    Closed,
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// A past change as the history keeps it: its objects as the JSON text written to
/// the log, a quarter of what the parsed form holds, parsed again only for a
/// watch that replays it. Live watchers get the parsed [`Event`] at once.
struct Past {
    rev: u64,
    kind: EventType,
    key: String,
    object: Arc<str>,
    /// The previous state's text (shared with the previous change of the key).
    prev: Option<Arc<str>>,
}

impl Past {
    fn event(&self) -> Option<Arc<Event>> {
        let parse = |t: &str| serde_json::from_str::<Value>(t).ok().map(Arc::new);
        Some(Arc::new(Event {
            rev: self.rev,
            kind: self.kind,
            key: self.key.clone(),
            object: parse(&self.object)?,
            prev: match &self.prev {
                Some(t) => Some(parse(t)?),
                None => None,
            },
        }))
    }
}

struct Inner {
    db: Connection,
    rev: u64,
    objects: BTreeMap<String, Arc<Value>>,
    /// The live objects' JSON text, as the log holds it (the `prev` of their next change).
    texts: HashMap<String, Arc<str>>,
    /// Recent changes, in revision order, each with its size in bytes.
    history: VecDeque<(Past, usize)>,
    /// The sum of the sizes in `history`.
    history_bytes: usize,
    /// The byte bound of `history` (HISTORY_BYTES; smaller in tests).
    max_history_bytes: usize,
    /// Oldest revision a watch may start from.
    oldest: u64,
}

type Extensions = HashMap<TypeId, Arc<dyn Any + Send + Sync>>;

pub struct Store {
    inner: Mutex<Inner>,
    tx: broadcast::Sender<Arc<Event>>,
    /// `Inner::oldest`, for watchers reading the channel behind the window.
    oldest: Arc<AtomicU64>,
    /// State other crates keep per store (caches rebuilt from it), by type.
    extensions: Mutex<Extensions>,
}

/// The `metadata.resourceVersion` of an object as a number (0 if missing).
pub fn resource_version(obj: &Value) -> u64 {
    obj.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn stamp(obj: &mut Value, rev: u64) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), Value::String(rev.to_string()));
    }
}

impl Store {
    /// Opens (or creates) the store at `path`; `None` keeps it in memory only.
    pub fn open(path: Option<&Path>) -> Result<Store> {
        let db = match path {
            Some(p) => Connection::open(p)?,
            None => Connection::open_in_memory()?,
        };
        db.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=NORMAL;
             CREATE TABLE IF NOT EXISTS log (
                 rev INTEGER PRIMARY KEY,
                 key TEXT NOT NULL,
                 deleted INTEGER NOT NULL,
                 value TEXT NOT NULL
             );
             CREATE INDEX IF NOT EXISTS log_key ON log(key);",
        )?;
        // Compact: keep only the newest row of each key.
        db.execute(
            "DELETE FROM log WHERE rev NOT IN (SELECT MAX(rev) FROM log GROUP BY key)",
            [],
        )?;
        let rev: u64 = db.query_row("SELECT COALESCE(MAX(rev), 0) FROM log", [], |r| {
            r.get::<_, i64>(0)
        })? as u64;
        let mut objects = BTreeMap::new();
        let mut texts = HashMap::new();
        {
            let mut stmt = db.prepare("SELECT key, value FROM log WHERE deleted = 0")?;
            let rows =
                stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
            for row in rows {
                let (key, value) = row?;
                let v: Value = serde_json::from_str(&value)?;
                objects.insert(key.clone(), Arc::new(v));
                texts.insert(key, Arc::from(value));
            }
        }
        let (tx, _) = broadcast::channel(HISTORY);
        Ok(Store {
            inner: Mutex::new(Inner {
                db,
                rev,
                objects,
                texts,
                history: VecDeque::new(),
                history_bytes: 0,
                max_history_bytes: HISTORY_BYTES,
                oldest: rev,
            }),
            tx,
            oldest: Arc::new(AtomicU64::new(rev)),
            extensions: Mutex::new(HashMap::new()),
        })
    }

    /// The value of type `T` kept with this store (created with `Default` on first
    /// use): a place for caches derived from the store, dropped with it.
    pub fn extension<T: Default + Send + Sync + 'static>(&self) -> Arc<T> {
        let mut ext = self
            .extensions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let v = ext
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Arc::new(T::default()))
            .clone();
        match v.downcast::<T>() {
            Ok(t) => t,
            // unreachable: the entry of TypeId T holds a T
            Err(_) => Arc::new(T::default()),
        }
    }

    /// The current revision.
    pub fn rev(&self) -> u64 {
        self.lock().rev
    }

    pub fn get(&self, key: &str) -> Option<Arc<Value>> {
        self.lock().objects.get(key).cloned()
    }

    /// All objects whose key starts with `prefix`, in key order, and the revision they were read at.
    pub fn list(&self, prefix: &str) -> (Vec<Arc<Value>>, u64) {
        let inner = self.lock();
        let items = inner
            .objects
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v.clone())
            .collect();
        (items, inner.rev)
    }

    pub fn create(&self, key: &str, obj: Value) -> Result<Arc<Value>> {
        let mut inner = self.lock();
        if inner.objects.contains_key(key) {
            return Err(StoreError::AlreadyExists);
        }
        self.commit(&mut inner, key, obj, EventType::Added)
    }

    /// Replaces the object at `key`. With `precondition`, fails with Conflict unless the
    /// stored resourceVersion is that one.
    pub fn update(&self, key: &str, obj: Value, precondition: Option<u64>) -> Result<Arc<Value>> {
        let mut inner = self.lock();
        let cur = inner.objects.get(key).ok_or(StoreError::NotFound)?;
        if let Some(rv) = precondition
            && resource_version(cur) != rv
        {
            return Err(StoreError::Conflict);
        }
        if **cur == obj_with_rv(&obj, resource_version(cur)) {
            // nothing changed: no new revision, like the API server's no-op updates
            return Ok(cur.clone());
        }
        self.commit(&mut inner, key, obj, EventType::Modified)
    }

    /// The store's state. A panic while the lock was held (a caller's
    /// `update_with` closure) cannot have left it half-changed — closures work
    /// on a copy and `commit` does not panic — so a poisoned lock is taken as is:
    /// one failed request must not fail every later one.
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Read-modify-write under the store lock. `f` returns false to leave the object as is.
    pub fn update_with<F>(&self, key: &str, f: F) -> Result<Arc<Value>>
    where
        F: FnOnce(&mut Value) -> bool,
    {
        let mut inner = self.lock();
        let cur = inner.objects.get(key).ok_or(StoreError::NotFound)?.clone();
        let mut obj = (*cur).clone();
        if !f(&mut obj) || obj == *cur {
            return Ok(cur);
        }
        self.commit(&mut inner, key, obj, EventType::Modified)
    }

    /// Removes the object at `key`, returning its last state.
    pub fn delete(&self, key: &str, precondition: Option<u64>) -> Result<Arc<Value>> {
        let mut inner = self.lock();
        let cur = inner.objects.get(key).ok_or(StoreError::NotFound)?;
        if let Some(rv) = precondition
            && resource_version(cur) != rv
        {
            return Err(StoreError::Conflict);
        }
        let obj = (**cur).clone();
        self.commit(&mut inner, key, obj, EventType::Deleted)
    }

    fn commit(
        &self,
        inner: &mut Inner,
        key: &str,
        mut obj: Value,
        kind: EventType,
    ) -> Result<Arc<Value>> {
        let rev = inner.rev + 1;
        stamp(&mut obj, rev);
        let text = serde_json::to_string(&obj)?;
        inner.db.execute(
            "INSERT INTO log (rev, key, deleted, value) VALUES (?1, ?2, ?3, ?4)",
            params![rev as i64, key, (kind == EventType::Deleted) as i64, text],
        )?;
        if kind != EventType::Added {
            // the log keeps one row a key; history lives in memory for watches
            inner.db.execute(
                "DELETE FROM log WHERE key = ?1 AND rev < ?2",
                params![key, rev as i64],
            )?;
        }
        inner.rev = rev;
        let obj = Arc::new(obj);
        let text: Arc<str> = Arc::from(text);
        let (prev, prev_text) = if kind == EventType::Deleted {
            (inner.objects.remove(key), inner.texts.remove(key))
        } else {
            (
                inner.objects.insert(key.to_string(), obj.clone()),
                inner.texts.insert(key.to_string(), text.clone()),
            )
        };
        let ev = Arc::new(Event {
            rev,
            kind,
            key: key.to_string(),
            object: obj.clone(),
            prev,
        });
        let size = text.len() + key.len();
        let past = Past {
            rev,
            kind,
            key: key.to_string(),
            object: text,
            prev: prev_text,
        };
        inner.history.push_back((past, size));
        inner.history_bytes += size;
        while inner.history.len() > HISTORY
            || (inner.history_bytes > inner.max_history_bytes && inner.history.len() > 1)
        {
            let Some((old, size)) = inner.history.pop_front() else {
                break;
            };
            inner.history_bytes -= size;
            inner.oldest = old.rev;
        }
        self.oldest.store(inner.oldest, Ordering::Relaxed);
        let _ = self.tx.send(ev);
        Ok(obj)
    }

    /// Watches keys under `prefix` for changes after revision `from` (the current one if None).
    pub fn watch(&self, prefix: &str, from: Option<u64>) -> Result<Watch> {
        let inner = self.lock();
        let rx = self.tx.subscribe();
        let from = from.unwrap_or(inner.rev);
        if from < inner.oldest {
            return Err(StoreError::Gone {
                requested: from,
                oldest: inner.oldest + 1,
            });
        }
        // the history is in revision order: skip what the watcher has seen
        let start = inner.history.partition_point(|(e, _)| e.rev <= from);
        let backlog: VecDeque<Arc<Event>> = inner
            .history
            .range(start..)
            .map(|(e, _)| e)
            .filter(|e| e.key.starts_with(prefix))
            .filter_map(Past::event)
            .collect();
        Ok(Watch {
            rx,
            oldest: self.oldest.clone(),
            prefix: prefix.to_string(),
            last: inner.rev.max(from),
            backlog,
        })
    }
}

fn obj_with_rv(obj: &Value, rv: u64) -> Value {
    let mut o = obj.clone();
    stamp(&mut o, rv);
    o
}

/// A stream of changes under one prefix, in revision order.
pub struct Watch {
    rx: broadcast::Receiver<Arc<Event>>,
    oldest: Arc<AtomicU64>,
    prefix: String,
    last: u64,
    backlog: VecDeque<Arc<Event>>,
}

impl Watch {
    /// The next change; `Err(Gone)` if this watcher fell too far behind (the client must re-list).
    pub async fn next(&mut self) -> Result<Arc<Event>> {
        if let Some(e) = self.backlog.pop_front() {
            return Ok(e);
        }
        loop {
            // More unread changes than the history keeps: gone, as a watch from that
            // far back would be (the channel itself holds up to the next power of two).
            if self.rx.len() > HISTORY {
                return Err(StoreError::Gone {
                    requested: self.last,
                    oldest: self.last + 1,
                });
            }
            match self.rx.recv().await {
                // the window has moved past this change: this watcher is too far behind
                Ok(e) if e.rev <= self.oldest.load(Ordering::Relaxed) => {
                    return Err(StoreError::Gone {
                        requested: e.rev - 1,
                        oldest: self.oldest.load(Ordering::Relaxed) + 1,
                    });
                }
                Ok(e) if e.rev > self.last && e.key.starts_with(&self.prefix) => return Ok(e),
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    return Err(StoreError::Gone {
                        requested: self.last,
                        oldest: self.last + 1,
                    });
                }
                Err(broadcast::error::RecvError::Closed) => {
                    return Err(StoreError::Closed);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(name: &str, v: i64) -> Value {
        json!({"metadata": {"name": name}, "v": v})
    }

    #[test]
    fn a_panicking_update_leaves_the_store_working() {
        let s = Store::open(None).unwrap();
        s.create("/core/leases/x/a", obj("a", 1)).unwrap();
        // a reader that indexes a stored string as an object panics inside the lock
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            s.update_with("/core/leases/x/a", |o| {
                o["v"]["nested"] = json!(1);
                true
            })
        }));
        assert!(r.is_err(), "serde_json's IndexMut on a number panics");
        // the object is untouched and every later request is served
        assert_eq!(s.get("/core/leases/x/a").unwrap()["v"], 1);
        s.update_with("/core/leases/x/a", |o| {
            o["v"] = json!(2);
            true
        })
        .unwrap();
        assert_eq!(s.get("/core/leases/x/a").unwrap()["v"], 2);
        assert_eq!(s.list("/core/leases/").0.len(), 1);
    }

    #[test]
    fn revisions_and_conflicts() {
        let s = Store::open(None).unwrap();
        let a = s.create("/core/pods/default/a", obj("a", 1)).unwrap();
        assert_eq!(resource_version(&a), 1);
        assert!(matches!(
            s.create("/core/pods/default/a", obj("a", 1)),
            Err(StoreError::AlreadyExists)
        ));
        let b = s
            .update("/core/pods/default/a", obj("a", 2), Some(1))
            .unwrap();
        assert_eq!(resource_version(&b), 2);
        assert!(matches!(
            s.update("/core/pods/default/a", obj("a", 3), Some(1)),
            Err(StoreError::Conflict)
        ));
        // a no-op update keeps the revision
        let c = s.update("/core/pods/default/a", obj("a", 2), None).unwrap();
        assert_eq!(resource_version(&c), 2);
        s.create("/core/pods/default2/b", obj("b", 1)).unwrap();
        let (items, rev) = s.list("/core/pods/default/");
        assert_eq!(items.len(), 1);
        assert_eq!(rev, 3);
        s.delete("/core/pods/default/a", None).unwrap();
        assert!(s.get("/core/pods/default/a").is_none());
        assert!(matches!(
            s.delete("/core/pods/default/a", None),
            Err(StoreError::NotFound)
        ));
    }

    #[test]
    fn errors_keep_their_source() {
        let Err(e) = Store::open(Some(Path::new("/nonexistent-kinet-dir/store.db"))) else {
            panic!("opened a store in a missing directory");
        };
        assert!(matches!(e, StoreError::Db(_)), "{e}");
        assert!(std::error::Error::source(&e).is_some());
    }

    #[test]
    fn survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        {
            let s = Store::open(Some(&path)).unwrap();
            s.create("/k/a", obj("a", 1)).unwrap();
            s.create("/k/b", obj("b", 1)).unwrap();
            s.update("/k/a", obj("a", 2), None).unwrap();
            s.delete("/k/b", None).unwrap();
        }
        let s = Store::open(Some(&path)).unwrap();
        assert_eq!(s.rev(), 4);
        assert_eq!(s.get("/k/a").unwrap()["v"], 2);
        assert!(s.get("/k/b").is_none());
        let c = s.create("/k/c", obj("c", 1)).unwrap();
        assert_eq!(resource_version(&c), 5);
    }

    #[tokio::test]
    async fn watch_replays_then_follows() {
        let s = Store::open(None).unwrap();
        s.create("/p/a", obj("a", 1)).unwrap();
        s.create("/q/x", obj("x", 1)).unwrap();
        s.update("/p/a", obj("a", 2), None).unwrap();
        let mut w = s.watch("/p/", Some(0)).unwrap();
        let e = w.next().await.unwrap();
        assert_eq!((e.kind, e.rev), (EventType::Added, 1));
        let e = w.next().await.unwrap();
        assert_eq!((e.kind, e.rev), (EventType::Modified, 3));
        s.delete("/p/a", None).unwrap();
        let e = w.next().await.unwrap();
        assert_eq!((e.kind, e.rev), (EventType::Deleted, 4));
        assert_eq!(resource_version(&e.object), 4);
        // from "now": only later changes
        let mut w2 = s.watch("/p/", None).unwrap();
        s.create("/p/b", obj("b", 1)).unwrap();
        assert_eq!(w2.next().await.unwrap().key, "/p/b");
    }

    #[test]
    fn too_old_revisions_are_gone() {
        let s = Store::open(None).unwrap();
        for i in 0..(HISTORY + 5) {
            s.create(&format!("/k/{i}"), obj("x", 1)).unwrap();
        }
        match s.watch("/k/", Some(1)) {
            Err(StoreError::Gone { .. }) => {}
            other => panic!("expected Gone, got {:?}", other.map(|_| ())),
        }
        assert!(s.watch("/k/", Some(s.rev() - 3)).is_ok());
    }

    #[tokio::test]
    async fn a_replayed_change_carries_its_previous_state() {
        let s = Store::open(None).unwrap();
        s.create("/k/a", obj("a", 1)).unwrap();
        let from = s.rev();
        s.update("/k/a", obj("a", 2), None).unwrap();
        s.delete("/k/a", None).unwrap();
        let mut w = s.watch("/k/", Some(from)).unwrap();
        let m = w.next().await.unwrap();
        assert_eq!(
            (m.kind, m.object["v"].as_i64()),
            (EventType::Modified, Some(2))
        );
        assert_eq!(m.prev.as_ref().unwrap()["v"], 1);
        let d = w.next().await.unwrap();
        assert_eq!(d.kind, EventType::Deleted);
        assert_eq!(d.prev.as_ref().unwrap()["v"], 2);
        assert_eq!(d.object["metadata"]["resourceVersion"], s.rev().to_string());
    }

    #[tokio::test]
    async fn the_history_is_bounded_in_bytes() {
        let s = Store::open(None).unwrap();
        s.lock().max_history_bytes = 10_000;
        let big = "x".repeat(1000);
        let mut w = s.watch("/k/", Some(0)).unwrap();
        for i in 0..50 {
            s.create(
                &format!("/k/{i}"),
                json!({"metadata": {"name": "x"}, "v": big}),
            )
            .unwrap();
        }
        {
            let inner = s.lock();
            assert!(inner.history_bytes <= 10_000, "{}", inner.history_bytes);
            assert!(inner.history.len() < 11, "{}", inner.history.len());
            assert_eq!(
                inner.history_bytes,
                inner.history.iter().map(|(_, n)| n).sum::<usize>()
            );
        }
        // a watch from before the window is gone, one inside it replays
        match s.watch("/k/", Some(10)) {
            Err(StoreError::Gone { .. }) => {}
            other => panic!("expected Gone, got {:?}", other.map(|_| ())),
        }
        let mut recent = s.watch("/k/", Some(s.rev() - 3)).unwrap();
        assert_eq!(recent.next().await.unwrap().rev, s.rev() - 2);
        // a watcher that read nothing while the window moved on is told to re-list
        match w.next().await {
            Err(StoreError::Gone { .. }) => {}
            other => panic!("expected Gone, got {:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn extensions_are_kept_per_store_and_type() {
        #[derive(Default)]
        struct Counter(AtomicU64);
        let s = Store::open(None).unwrap();
        s.extension::<Counter>().0.fetch_add(1, Ordering::Relaxed);
        assert_eq!(s.extension::<Counter>().0.load(Ordering::Relaxed), 1);
        let t = Store::open(None).unwrap();
        assert_eq!(t.extension::<Counter>().0.load(Ordering::Relaxed), 0);
    }
}
