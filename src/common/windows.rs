//! A table of entries that each live for one window after their stamp: refresh dedup (an
//! (article, visitor) pair is live while its counted view is recent) and the pace limit (a
//! visitor's page views in its current minute) are both one.
//!
//! An entry older than the window means the same as no entry, so upkeep drops it: each stamp is
//! queued with its key, and upkeep pops the queue up to `now - window`, removing the entries
//! whose stamp is still the queued one. Past `max_entries`, upkeep drops the oldest stamps
//! first (the caller documents what that approximates).
//!
//! # Locking
//! [`Windows::admit`] write-locks the key's shard of the `DashMap` and, when it stamps the entry,
//! this thread's stripe of the queue buffer; [`Windows::is_live`] only read-locks the shard.
//! Upkeep holds the queue mutex (the hot paths only `try_lock` it) and locks one shard per
//! entry it removes.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicUsize, Ordering};

use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use parking_lot::Mutex;

use crate::common::stripes::{Padded, Pending};

/// Entries of `V` by key `K`, each stamped with the instant its window began.
pub(crate) struct Windows<K, V, S> {
    entries: DashMap<K, (i64, V), S>,
    len: Padded<AtomicUsize>,
    pending: Pending<K>,
    queue: Mutex<BinaryHeap<Reverse<(i64, K)>>>,
    window: i64,
    max_entries: usize,
}

impl<K, V, S> Windows<K, V, S>
where
    K: Hash + Eq + Ord + Copy,
    S: BuildHasher + Clone + Default,
{
    /// An empty table whose entries live `window` nanoseconds after their stamp.
    pub(crate) fn new(window: i64, max_entries: usize) -> Self {
        Windows {
            entries: DashMap::with_hasher(S::default()),
            len: Padded(AtomicUsize::new(0)),
            pending: Pending::new(),
            queue: Mutex::new(BinaryHeap::new()),
            window,
            max_entries,
        }
    }

    /// The window, in nanoseconds.
    pub(crate) fn window(&self) -> i64 {
        self.window
    }

    /// Whether `key` has an entry stamped less than a window before `now`. A shared read lock.
    #[inline]
    pub(crate) fn is_live(&self, key: &K, now: i64) -> bool {
        self.entries
            .get(key)
            .is_some_and(|e| now.saturating_sub(e.0) < self.window)
    }

    /// Answers `live(&mut value)` when `key`'s entry is live at `now`; otherwise stamps the entry
    /// `now` with the value `fresh` and answers true.
    #[inline]
    pub(crate) fn admit(
        &self,
        key: K,
        now: i64,
        live: impl FnOnce(&mut V) -> bool,
        fresh: V,
    ) -> bool {
        match self.entries.entry(key) {
            Entry::Occupied(mut e) => {
                let (stamp, value) = e.get_mut();
                if now.saturating_sub(*stamp) < self.window {
                    return live(value);
                }
                *e.get_mut() = (now, fresh);
            }
            Entry::Vacant(e) => {
                e.insert((now, fresh));
                self.len.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.pending.push(now, key);
        true
    }

    /// Whether more than `max_entries` entries are held.
    #[inline]
    pub(crate) fn over_bound(&self) -> bool {
        self.len.load(Ordering::Relaxed) > self.max_entries
    }

    /// Drops the entries whose window is over and, past the bound, the oldest. Never blocks.
    pub(crate) fn try_upkeep(&self, now: i64) {
        if let Some(mut q) = self.queue.try_lock() {
            self.upkeep_locked(&mut q, now);
        }
    }

    fn upkeep_locked(&self, q: &mut BinaryHeap<Reverse<(i64, K)>>, now: i64) {
        self.pending.drain_into(q);
        let edge = now.saturating_sub(self.window);
        while let Some(&Reverse((at, key))) = q.peek() {
            if at > edge && !self.over_bound() {
                break;
            }
            q.pop();
            if self.entries.remove_if(&key, |_, e| e.0 == at).is_some() {
                self.len.fetch_sub(1, Ordering::Relaxed);
            }
        }
        if q.capacity() > 4 * q.len() + 4096 {
            q.shrink_to(2 * q.len());
        }
    }

    /// Entries held.
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Every entry live at `now`, as `(key, stamp, value)`.
    pub(crate) fn live(&self, now: i64) -> impl Iterator<Item = (K, i64, V)> + '_
    where
        V: Copy,
    {
        self.entries
            .iter()
            .filter(move |e| now.saturating_sub(e.value().0) < self.window)
            .map(|e| (*e.key(), e.value().0, e.value().1))
    }

    /// Fills this empty table while nothing else can see it (hence `&mut self`: no locks; the
    /// queue is heapified once).
    pub(crate) fn restore(&mut self, entries: impl ExactSizeIterator<Item = (K, i64, V)>) {
        let table = DashMap::with_capacity_and_hasher(entries.len(), S::default());
        let mut queue = Vec::with_capacity(entries.len());
        for (key, stamp, value) in entries {
            table.insert(key, (stamp, value));
            queue.push(Reverse((stamp, key)));
        }
        debug_assert!(self.entries.is_empty());
        *self.len.0.get_mut() = table.len();
        self.entries = table;
        *self.queue.get_mut() = BinaryHeap::from(queue);
    }

    /// Forgets every entry whose key `forget` names. Scans the table.
    pub(crate) fn forget(&self, mut forget: impl FnMut(&K) -> bool) {
        let before = self.entries.len();
        self.entries.retain(|k, _| !forget(k));
        let removed = before.saturating_sub(self.entries.len());
        self.len.fetch_sub(removed, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::hash::RandomState;

    use super::*;

    const MIN: i64 = 60_000_000_000;

    type Counts = Windows<u64, u32, RandomState>;

    fn count(t: &Counts, key: u64, now: i64) -> bool {
        t.admit(
            key,
            now,
            |n| {
                *n += 1;
                *n <= 3
            },
            1,
        )
    }

    #[test]
    fn an_entry_lives_one_window_from_its_stamp() {
        let t = Counts::new(MIN, 100);
        assert!(count(&t, 1, 0));
        assert!(count(&t, 1, 10));
        assert!(count(&t, 1, MIN - 1));
        // The fourth within the window is refused; the window does not move with it.
        assert!(!count(&t, 1, MIN - 1));
        assert!(t.is_live(&1, MIN - 1));
        assert!(!t.is_live(&1, MIN));
        assert!(count(&t, 1, MIN));
        assert!(count(&t, 2, MIN));
        assert_eq!(t.live(MIN).count(), 2);
    }

    #[test]
    fn upkeep_drops_ended_windows_and_keeps_the_bound() {
        let t = Counts::new(MIN, 10);
        for key in 0..25u64 {
            count(&t, key, key as i64);
            if t.over_bound() {
                t.try_upkeep(key as i64);
            }
        }
        assert_eq!(t.len(), 10);
        // The ten most recent stay: key 24's window goes on, key 0's starts afresh.
        assert!(t.is_live(&24, 100));
        assert!(!t.is_live(&0, 100));
        // A window restamped since it was queued is not dropped by its old queue entry.
        t.try_upkeep(MIN + 14);
        assert_eq!(t.len(), 10);
        assert!(count(&t, 24, MIN + 24));
        t.try_upkeep(MIN + 30);
        assert_eq!(t.len(), 1);
        assert!(t.is_live(&24, MIN + 30));
        t.forget(|k| *k == 24);
        assert_eq!(t.len(), 0);
    }
}
