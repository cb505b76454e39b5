//! A de-duplicating FIFO work queue, as client-go's workqueue: a key added while
//! it already waits is not added twice; a key added while it is being worked on
//! (after `pop`) waits again.

use std::collections::{HashSet, VecDeque};
use std::hash::Hash;

#[derive(Debug)]
pub struct WorkQueue<K> {
    order: VecDeque<K>,
    waiting: HashSet<K>,
}

impl<K> Default for WorkQueue<K> {
    fn default() -> Self {
        WorkQueue {
            order: VecDeque::new(),
            waiting: HashSet::new(),
        }
    }
}

impl<K: Clone + Eq + Hash> WorkQueue<K> {
    /// Adds `k` unless it already waits; true if added.
    pub fn push(&mut self, k: K) -> bool {
        if !self.waiting.insert(k.clone()) {
            return false;
        }
        self.order.push_back(k);
        true
    }

    pub fn pop(&mut self) -> Option<K> {
        let k = self.order.pop_front()?;
        self.waiting.remove(&k);
        Some(k)
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_wait_once_in_order() {
        let mut q = WorkQueue::default();
        assert!(q.push("a"));
        assert!(q.push("b"));
        assert!(!q.push("a"));
        assert_eq!(q.len(), 2);
        assert_eq!(q.pop(), Some("a"));
        // being worked on: may wait again
        assert!(q.push("a"));
        assert_eq!(q.pop(), Some("b"));
        assert_eq!(q.pop(), Some("a"));
        assert_eq!(q.pop(), None);
        assert!(q.is_empty());
    }
}
