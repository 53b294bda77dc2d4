//! The session table's expiry queues: min-queues of `(instant, session key)` that cost O(1)
//! amortised per entry, where a binary heap costs O(log n) cache misses per pop.
//!
//! Entries are kept in buckets of 2^30 ns of time each (about a second), in time order.
//! A bucket's entries stay unsorted until it comes to the front; then it is sorted once, and
//! pops take its entries from the end of the sorted vector. An entry pushed at or before the
//! sorted front bucket's time (rare: a visitor requeued at a page view just past the expiry
//! edge) goes into a small heap beside it, and a pop takes the earlier of the two. So entries
//! come out in exact `(instant, key)` order, with one sort per bucket instead of a heap's
//! sift-down per entry.
//!
//! Pushes mostly land in the last bucket (the current second); a push into an earlier second
//! finds its bucket by bisection over the buckets, of which there is at most one per second of
//! the window the queue spans (for the idle queue, the session timeout).
//!
//! # Memory
//! A bucket holds its entries in 12 bytes each (the instant as an offset into the bucket's
//! second, and the key), and grows by a quarter at a time rather than doubling, so that a
//! million queued entries take about 13.5 bytes each, against a binary heap's 16 to 32. That
//! holds where each second has many entries; a bucket of a few entries costs its own allocation
//! and about 40 bytes of bookkeeping, so a queue of entries each alone in its second (a crafted
//! snapshot's, say) costs up to about 90 bytes per entry.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};

/// (instant, session key): when a visitor was queued, and who.
pub(crate) type Queued = (i64, u64);

/// Log2 of a bucket's span in nanoseconds: 2^30 ns, about 1.07 s.
const GRANULE_BITS: u32 = 30;

/// A bucket's span in nanoseconds.
#[cfg(test)]
const GRANULE: i64 = 1 << GRANULE_BITS;

#[inline]
fn granule(at: i64) -> i64 {
    at >> GRANULE_BITS
}

/// An entry of a bucket: its instant as nanoseconds into the bucket's granule, then its key;
/// ordered as `(instant, key)` within the granule. 12 bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(C, packed(4))]
struct Slot {
    offset: u32,
    key: u64,
}

/// The entries of one granule.
struct Bucket {
    granule: i64,
    /// Unsorted, or sorted in descending order once `sorted` (the next entry last).
    entries: Vec<Slot>,
    sorted: bool,
}

impl Bucket {
    fn new(granule: i64) -> Bucket {
        Bucket {
            granule,
            entries: Vec::new(),
            sorted: false,
        }
    }

    /// Adds `e`, which is in this bucket's granule, growing by a quarter when full.
    #[inline]
    fn add(&mut self, e: Queued) {
        if self.entries.len() == self.entries.capacity() {
            self.entries.reserve_exact((self.entries.len() / 4).max(4));
        }
        self.entries.push(Slot {
            offset: (e.0 - (self.granule << GRANULE_BITS)) as u32,
            key: e.1,
        });
    }

    #[inline]
    fn entry(&self, s: Slot) -> Queued {
        ((self.granule << GRANULE_BITS) + i64::from(s.offset), s.key)
    }
}

/// Buckets smaller than this are sorted by comparison; larger ones by radix.
const RADIX_FROM: usize = 512;

/// Sorts slots in descending `(offset, key)` order. A large bucket is sorted by its 30-bit
/// offsets in three stable counting passes of 10 bits (O(1) per slot, where a comparison sort
/// costs O(log n)), then each run of equal offsets (slots of the same nanosecond, rare) by key.
fn sort_descending(slots: &mut Vec<Slot>) {
    if slots.len() < RADIX_FROM {
        slots.sort_unstable_by(|a, b| b.cmp(a));
        return;
    }
    let mut out = vec![Slot { offset: 0, key: 0 }; slots.len()];
    for shift in [0, 10, 20] {
        // Digits reversed, so that the largest offsets come first.
        let digit = |s: &Slot| 1023 - ((s.offset >> shift) & 1023) as usize;
        let mut starts = [0usize; 1025];
        for s in slots.iter() {
            starts[digit(s) + 1] += 1;
        }
        for d in 0..1024 {
            starts[d + 1] += starts[d];
        }
        for s in slots.iter() {
            let d = digit(s);
            out[starts[d]] = *s;
            starts[d] += 1;
        }
        std::mem::swap(slots, &mut out);
    }
    for run in slots.chunk_by_mut(|a, b| a.offset == b.offset) {
        if run.len() > 1 {
            run.sort_unstable_by(|a, b| b.cmp(a));
        }
    }
}

/// A min-queue of [`Queued`] entries (see the module docs).
#[derive(Default)]
pub(crate) struct Queue {
    /// Buckets by increasing granule, none empty but the front.
    buckets: VecDeque<Bucket>,
    /// Entries pushed at or before the front bucket's granule after it was sorted.
    late: BinaryHeap<Reverse<Queued>>,
}

impl Queue {
    /// A queue of `entries`, given in any order: grouped by granule in one pass, the groups
    /// then ordered (one sort of the granules, not of the entries).
    pub(crate) fn from_unsorted(entries: impl IntoIterator<Item = Queued>) -> Queue {
        let mut groups: HashMap<i64, Bucket> = HashMap::new();
        for e in entries {
            let g = granule(e.0);
            groups.entry(g).or_insert_with(|| Bucket::new(g)).add(e);
        }
        let mut buckets: Vec<Bucket> = groups.into_values().collect();
        buckets.sort_unstable_by_key(|b| b.granule);
        Queue {
            buckets: buckets.into(),
            late: BinaryHeap::new(),
        }
    }

    /// The earliest entry, without taking it out.
    #[inline]
    pub(crate) fn peek(&mut self) -> Option<Queued> {
        let front = self.sorted_front();
        let late = self.late.peek().map(|r| r.0);
        match (front, late) {
            (Some(f), Some(l)) => Some(f.min(l)),
            (f, l) => f.or(l),
        }
    }

    /// Takes the earliest entry out.
    pub(crate) fn pop(&mut self) -> Option<Queued> {
        let front = self.sorted_front();
        match (front, self.late.peek()) {
            (Some(f), Some(&Reverse(l))) if l < f => self.late.pop().map(|r| r.0),
            (Some(_), _) => {
                let bucket = self.buckets.front_mut()?;
                let e = bucket.entries.pop().map(|s| bucket.entry(s));
                if bucket.entries.is_empty() {
                    self.buckets.pop_front();
                }
                e
            }
            (None, _) => self.late.pop().map(|r| r.0),
        }
    }

    /// The front bucket's earliest entry, sorting the front bucket first if it is not.
    #[inline]
    fn sorted_front(&mut self) -> Option<Queued> {
        let bucket = self.buckets.front_mut()?;
        if !bucket.sorted {
            sort_descending(&mut bucket.entries);
            bucket.sorted = true;
        }
        let last = *bucket.entries.last()?;
        Some(bucket.entry(last))
    }

    pub(crate) fn push(&mut self, e: Queued) {
        let g = granule(e.0);
        if let Some(front) = self.buckets.front() {
            if front.sorted && g <= front.granule {
                self.late.push(Reverse(e));
                return;
            }
        }
        let at = match self.buckets.back() {
            Some(back) if back.granule == g => self.buckets.len() - 1,
            Some(back) if back.granule > g => {
                let at = self.buckets.partition_point(|b| b.granule < g);
                if self.buckets[at].granule != g {
                    self.buckets.insert(at, Bucket::new(g));
                }
                at
            }
            _ => {
                self.buckets.push_back(Bucket::new(g));
                self.buckets.len() - 1
            }
        };
        self.buckets[at].add(e);
    }

    /// Entries held, stale ones included.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.late.len() + self.buckets.iter().map(|b| b.entries.len()).sum::<usize>()
    }

    /// Gives back the spare capacity of the late heap after a crowd has gone.
    pub(crate) fn trim(&mut self) {
        if self.late.capacity() > 4 * self.late.len() + 4096 {
            self.late.shrink_to(2 * self.late.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::visitors::sessions::tests::below;

    /// Against a binary heap, through random pushes (in and out of order, at bucket edges,
    /// negative instants, repeats) and pops: every pop and peek gives the same entry.
    #[test]
    fn pops_in_the_order_a_heap_does() {
        let mut next = below(0x2545_f491_4f6c_dd1d);
        for round in 0..200 {
            let base = [0, -5 * GRANULE, 1 << 40][round % 3];
            let mut q = if round % 4 == 0 {
                let start: Vec<Queued> = (0..next(50))
                    .map(|k| (base + next(20) as i64 * GRANULE / 3, k))
                    .collect();
                Queue::from_unsorted(start)
            } else {
                Queue::default()
            };
            let mut heap: BinaryHeap<Reverse<Queued>> = BinaryHeap::new();
            let mut drained = q.len();
            while drained > 0 {
                heap.push(Reverse(q.pop().unwrap()));
                drained -= 1;
            }
            for e in &heap {
                q.push(e.0);
            }
            let mut now = base;
            for step in 0..500 {
                match next(6) {
                    0..=2 => {
                        let at = match next(4) {
                            0 => now,
                            1 => now - next(3 * GRANULE as u64) as i64,
                            2 => now - now.rem_euclid(GRANULE),
                            _ => now - now.rem_euclid(GRANULE) - 1,
                        };
                        let e = (at, next(8));
                        q.push(e);
                        heap.push(Reverse(e));
                    }
                    3 => now += next(GRANULE as u64 / 2) as i64,
                    _ => {
                        assert_eq!(
                            q.peek(),
                            heap.peek().map(|r| r.0),
                            "round {round} step {step}"
                        );
                        assert_eq!(
                            q.pop(),
                            heap.pop().map(|r| r.0),
                            "round {round} step {step}"
                        );
                    }
                }
                assert_eq!(q.len(), heap.len());
            }
            while let Some(Reverse(e)) = heap.pop() {
                assert_eq!(q.pop(), Some(e));
            }
            assert_eq!(q.pop(), None);
        }
    }

    /// Large buckets (radix sorted) and small ones, with repeated instants.
    #[test]
    fn a_queue_built_from_unsorted_entries_pops_them_sorted() {
        let mut next = below(7);
        let mut entries: Vec<Queued> = (0..10_000)
            .map(|k| (next(1 << 40) as i64 - (1 << 39), k))
            .collect();
        for _ in 0..20_000 {
            entries.push((GRANULE * 3 + next(5000) as i64, next(100)));
        }
        let mut sorted = entries.clone();
        sorted.sort_unstable();
        let mut q = Queue::from_unsorted(entries);
        let popped: Vec<Queued> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(popped, sorted);
    }
}
