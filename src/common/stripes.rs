//! Striping: state that every thread updates is split into a few cache-padded stripes, one
//! picked per thread, so that two threads rarely write the same cache line or wait on the same
//! lock. Readers sum the stripes.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Aligns its content to 128 bytes so neighbouring stripes never share a cache line (two lines on
/// x86_64, whose adjacent-line prefetcher pairs them).
#[derive(Default, Debug)]
#[repr(align(128))]
pub(crate) struct Padded<T>(pub T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.0
    }
}

/// The number of stripes: a power of two, twice the available parallelism, between 2 and 64.
pub(crate) fn stripe_count() -> usize {
    let cores = std::thread::available_parallelism().map_or(4, |n| n.get());
    (cores * 2).next_power_of_two().clamp(2, 64)
}

static NEXT_THREAD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static THREAD_INDEX: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// A small number that stays the same for the calling thread; threads get consecutive numbers
/// in the order they first ask. Callers mask it to their stripe count.
#[inline]
pub(crate) fn thread_index() -> usize {
    THREAD_INDEX.with(|c| {
        let i = c.get();
        if i != usize::MAX {
            i
        } else {
            let i = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
            c.set(i);
            i
        }
    })
}

/// One stripe's buffer of `(instant, key)` pairs.
type Buffer<K> = Padded<parking_lot::Mutex<Vec<(i64, K)>>>;

/// Per-stripe buffers of `(instant, key)` pairs that hot paths push to and upkeep drains into
/// its time-ordered heap. Pushing locks only the calling thread's stripe, and reuses the
/// buffer's capacity once it has been drained.
pub(crate) struct Pending<K> {
    stripes: Box<[Buffer<K>]>,
}

impl<K> Pending<K> {
    pub(crate) fn new() -> Pending<K> {
        Pending {
            stripes: (0..stripe_count())
                .map(|_| Padded(parking_lot::Mutex::new(Vec::new())))
                .collect(),
        }
    }

    /// Adds `(at, key)` to this thread's buffer.
    #[inline]
    pub(crate) fn push(&self, at: i64, key: K) {
        let i = thread_index() & (self.stripes.len() - 1);
        self.stripes[i].lock().push((at, key));
    }

    /// Moves every buffered pair into `heap`, locking one stripe at a time.
    pub(crate) fn drain_into(
        &self,
        heap: &mut std::collections::BinaryHeap<std::cmp::Reverse<(i64, K)>>,
    ) where
        K: Ord,
    {
        for s in self.stripes.iter() {
            heap.extend(s.lock().drain(..).map(std::cmp::Reverse));
        }
    }
}
