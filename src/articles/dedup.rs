//! Refresh dedup: when each (article, visitor) pair last had a view counted.
//!
//! An entry older than the dedup window means the same as no entry, so upkeep drops it: each
//! counted view is queued with its instant, and upkeep pops the queue up to `now - window`.
//! Past `max_entries`, upkeep drops the oldest entries first; a dropped pair's next view counts
//! again (the documented approximation under a flood).
//!
//! # Locking
//! A view write-locks the pair's shard of the `DashMap` and, when counted, this thread's stripe
//! of the queue buffer; upkeep holds the queue mutex (views only `try_lock` it).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicUsize, Ordering};

use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::common::stripes::{Padded, Pending};
use crate::ids::{ArticleId, IdBuildHasher, VisitorId};

type Pair = (u64, u64);

pub(crate) struct Dedup {
    counted: DashMap<Pair, i64, IdBuildHasher>,
    len: Padded<AtomicUsize>,
    pending: Pending<Pair>,
    queue: Mutex<BinaryHeap<Reverse<(i64, Pair)>>>,
    window: i64,
    max_entries: usize,
}

impl Dedup {
    pub(crate) fn new(window: i64, max_entries: usize) -> Dedup {
        Dedup {
            counted: DashMap::with_hasher(IdBuildHasher::default()),
            len: Padded(AtomicUsize::new(0)),
            pending: Pending::new(),
            queue: Mutex::new(BinaryHeap::new()),
            window,
            max_entries,
        }
    }

    /// Whether a view of `article` by `visitor` at `now` counts; if so, remembers it.
    #[inline]
    pub(crate) fn admit(&self, article: ArticleId, visitor: VisitorId, now: i64) -> bool {
        if self.window == 0 {
            return true;
        }
        let pair = (article.as_u64(), visitor.as_u64());
        // A refresh within the window is the common case: answer it under a shared read lock.
        if self
            .counted
            .get(&pair)
            .is_some_and(|t| now.saturating_sub(*t) < self.window)
        {
            return false;
        }
        match self.counted.entry(pair) {
            Entry::Occupied(mut e) => {
                if now.saturating_sub(*e.get()) < self.window {
                    return false;
                }
                *e.get_mut() = now;
            }
            Entry::Vacant(e) => {
                e.insert(now);
                self.len.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.pending.push(now, pair);
        true
    }

    /// Whether more than `max_entries` pairs are held.
    #[inline]
    pub(crate) fn over_bound(&self) -> bool {
        self.len.load(Ordering::Relaxed) > self.max_entries
    }

    /// Drops expired entries and, past the bound, the oldest. Never blocks.
    pub(crate) fn try_upkeep(&self, now: i64) {
        if let Some(mut q) = self.queue.try_lock() {
            self.upkeep_locked(&mut q, now);
        }
    }

    fn upkeep_locked(&self, q: &mut BinaryHeap<Reverse<(i64, Pair)>>, now: i64) {
        self.pending.drain_into(q);
        let edge = now.saturating_sub(self.window);
        while let Some(&Reverse((at, pair))) = q.peek() {
            if at > edge && !self.over_bound() {
                break;
            }
            q.pop();
            if self.counted.remove_if(&pair, |_, t| *t == at).is_some() {
                self.len.fetch_sub(1, Ordering::Relaxed);
            }
        }
        if q.capacity() > 4 * q.len() + 4096 {
            q.shrink_to(2 * q.len());
        }
    }

    /// Pairs held.
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Every live entry (for a snapshot), instants as ages before `saved_at`.
    pub(crate) fn records(&self, saved_at: i64) -> Vec<SavedDedup> {
        self.counted
            .iter()
            .filter(|e| saved_at.saturating_sub(*e.value()) < self.window)
            .map(|e| SavedDedup {
                article: ArticleId::from(e.key().0),
                visitor: VisitorId::from(e.key().1),
                age: saved_at.saturating_sub(*e.value()),
            })
            .collect()
    }

    /// Restores vetted entries (instants in range) into this empty table while nothing else can
    /// see it (hence `&mut self`: no locks; the queue is heapified once).
    pub(crate) fn restore(&mut self, saved_at: i64, saved: &[SavedDedup]) {
        let counted = DashMap::with_capacity_and_hasher(saved.len(), IdBuildHasher::default());
        let mut queue = Vec::with_capacity(saved.len());
        for d in saved {
            let at = saved_at.saturating_sub(d.age);
            let pair = (d.article.as_u64(), d.visitor.as_u64());
            counted.insert(pair, at);
            queue.push(Reverse((at, pair)));
        }
        debug_assert!(self.counted.is_empty());
        *self.len.0.get_mut() = counted.len();
        self.counted = counted;
        *self.queue.get_mut() = BinaryHeap::from(queue);
    }

    /// Forgets every pair of `article` (when its counts are reset). Scans the table.
    pub(crate) fn forget_article(&self, article: ArticleId) {
        let a = article.as_u64();
        let before = self.counted.len();
        self.counted.retain(|k, _| k.0 != a);
        let removed = before.saturating_sub(self.counted.len());
        self.len.fetch_sub(removed, Ordering::Relaxed);
    }
}

/// When a visitor's view of an article was last counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SavedDedup {
    pub article: ArticleId,
    pub visitor: VisitorId,
    /// `saved_at - counted_at`.
    pub age: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000_000_000;

    #[test]
    fn a_view_counts_once_per_window() {
        let d = Dedup::new(30 * MIN, 100);
        let (a, v) = (ArticleId::from(1), VisitorId::from(2));
        assert!(d.admit(a, v, 0));
        assert!(!d.admit(a, v, 30 * MIN - 1));
        assert!(d.admit(a, v, 30 * MIN));
        assert!(d.admit(ArticleId::from(3), v, 30 * MIN));
    }

    #[test]
    fn expired_entries_are_dropped_and_the_bound_holds() {
        let d = Dedup::new(30 * MIN, 10);
        for v in 0..25u64 {
            d.admit(ArticleId::from(1), VisitorId::from(v), v as i64);
            if d.over_bound() {
                d.try_upkeep(v as i64);
            }
        }
        assert_eq!(d.len(), 10);
        // The ten most recent are kept: visitor 24 is still deduplicated, visitor 0 is not.
        assert!(!d.admit(ArticleId::from(1), VisitorId::from(24), 100));
        assert!(d.admit(ArticleId::from(1), VisitorId::from(0), 100));
        d.try_upkeep(30 * MIN + 100);
        assert_eq!(d.len(), 0);
    }
}
