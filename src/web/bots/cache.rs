//! The verdict cache: User-Agent hash → verdict, four-way set-associative, lock-free.

use std::sync::atomic::{AtomicU64, Ordering};

/// Buckets of a cache (a power of two), of [`WAYS`] slots each: 4096 slots, 32 KiB.
const BUCKETS: usize = 1024;
const WAYS: usize = 4;

/// Four slots on one half of a cache line. A slot is 0 (empty) or a tag (bit 0 clear, bit 1
/// set) with the verdict in bit 0.
#[repr(align(32))]
struct Bucket([AtomicU64; WAYS]);

/// See [`Detector::is_bot_bytes`](super::Detector::is_bot_bytes) for what it holds and costs.
pub(super) struct VerdictCache {
    seed: u64,
    buckets: Box<[Bucket]>,
    /// Misses that found their bucket full (touched on misses only, which run the automaton).
    misses: AtomicU64,
}

impl VerdictCache {
    pub(super) fn new() -> VerdictCache {
        VerdictCache {
            seed: crate::ids::random_u64(),
            buckets: (0..BUCKETS)
                .map(|_| Bucket(std::array::from_fn(|_| AtomicU64::new(0))))
                .collect(),
            misses: AtomicU64::new(0),
        }
    }

    /// The cached verdict for `user_agent`, or `decide`'s, which is then cached.
    #[inline]
    pub(super) fn get_or(&self, user_agent: &[u8], decide: impl FnOnce() -> bool) -> bool {
        // The hash with bit 0 cleared (room for the verdict) and bit 1 set (a tag is never 0,
        // the empty slot); its top bits pick the bucket.
        let tag = (xxhash_rust::xxh3::xxh3_64_with_seed(user_agent, self.seed) | 2) & !1;
        let bucket = &self.buckets[(tag >> 54) as usize & (BUCKETS - 1)].0;
        for slot in bucket {
            let entry = slot.load(Ordering::Relaxed);
            if entry & !1 == tag {
                return entry & 1 == 1;
            }
        }
        let verdict = decide();
        // An empty slot, else the next in turn (a counter of misses, so that two agents
        // sharing a bucket do not keep evicting each other from one slot: a pick that depends
        // only on the agents and the bucket's contents can cycle between them).
        let way = bucket
            .iter()
            .position(|s| s.load(Ordering::Relaxed) == 0)
            .unwrap_or_else(|| self.misses.fetch_add(1, Ordering::Relaxed) as usize % WAYS);
        bucket[way].store(tag | u64::from(verdict), Ordering::Relaxed);
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cached_verdict_is_the_one_decided_and_is_not_decided_again() {
        let cache = VerdictCache::new();
        // The buckets are picked by a hash with a random seed: at half the slots, few buckets
        // overflow in any run (at 3,000 agents the test failed now and then).
        let agents: Vec<String> = (0..2_000).map(|i| format!("agent {i}")).collect();
        for (i, a) in agents.iter().enumerate() {
            assert_eq!(cache.get_or(a.as_bytes(), || i % 3 == 0), i % 3 == 0);
        }
        let mut decided = 0;
        for (i, a) in agents.iter().enumerate() {
            let v = cache.get_or(a.as_bytes(), || {
                decided += 1;
                i % 3 == 0
            });
            assert_eq!(v, i % 3 == 0);
        }
        // 2,000 agents in 4,096 slots: most are still cached.
        assert!(decided < 400, "{decided} decided again");
    }
}
