//! Crawler detection by User-Agent.
//!
//! The patterns are the isbot list (348 regular expressions for crawlers, preview fetchers,
//! monitoring tools and HTTP libraries, maintained as the `isbot` crate) plus the few it lacks
//! (the JDK's `Java-http-client`), compiled once into a single regular expression, so a check is one automaton pass over the User-Agent, not one
//! scan per pattern; verdicts are then cached per User-Agent
//! ([`is_bot_bytes`] says how), so a page view from a User-Agent seen before costs a hash,
//! not a regex pass. An empty or missing User-Agent counts as a bot: browsers always send one.
//!
//! ```
//! use visitor_counter::bots::is_bot;
//! assert!(is_bot("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"));
//! assert!(is_bot("curl/8.5.0"));
//! assert!(is_bot(""));
//! assert!(!is_bot("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"));
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;

/// Patterns the isbot 0.1 list lacks (found by our tests).
const EXTRA_PATTERNS: &[&str] = &["^java-http-client/"];

static BOTS: LazyLock<isbot::Bots> = LazyLock::new(|| {
    let mut bots = isbot::Bots::default();
    bots.append(EXTRA_PATTERNS);
    bots
});

/// Whether a User-Agent is a crawler, a preview fetcher, a monitor or a bare HTTP library.
/// The pattern set is compiled on the first call (a few milliseconds) and shared afterwards.
///
/// # Cost
/// Verdicts are cached by User-Agent (see [`is_bot_bytes`]): a User-Agent seen before costs a
/// hash of its bytes and one atomic load; the regular expression runs only on a miss.
pub fn is_bot(user_agent: &str) -> bool {
    is_bot_bytes(user_agent.as_bytes())
}

/// [`is_bot`] for a User-Agent as raw header bytes. Bytes that are not UTF-8 (some browsers
/// put raw device names in their User-Agent) are replaced with U+FFFD before matching, as
/// [`String::from_utf8_lossy`] does; a valid User-Agent gets exactly the verdict of [`is_bot`].
///
/// # Cost and locking
/// Never locks. Verdicts are kept in a direct-mapped cache of 4096 slots (32 KiB, allocated on
/// the first call), each one `AtomicU64` holding 62 bits of an XXH3 hash of the User-Agent
/// (seeded at random once per process, so nobody can aim collisions) and the verdict. A check hashes the
/// bytes and does one relaxed atomic load; a miss (a new User-Agent, or one whose slot another
/// took since) runs the regular expression and stores the verdict with one relaxed atomic
/// store. Two User-Agents sharing a slot evict each other (a miss, never a wrong verdict); two
/// whose tags (62 bits of the hash) are equal would share a verdict, a chance of about 2^-62
/// per pair.
pub fn is_bot_bytes(user_agent: &[u8]) -> bool {
    let cache = &*VERDICTS;
    let tag = cache.tag(user_agent);
    let slot = &cache.slots[(tag >> 52) as usize & (CACHE_SLOTS - 1)];
    let entry = slot.load(Ordering::Relaxed);
    if entry & !1 == tag {
        return entry & 1 == 1;
    }
    let verdict = uncached(&String::from_utf8_lossy(user_agent));
    slot.store(tag | u64::from(verdict), Ordering::Relaxed);
    verdict
}

fn uncached(user_agent: &str) -> bool {
    user_agent.trim().is_empty() || BOTS.is_bot(user_agent)
}

/// Slots of the verdict cache (a power of two).
const CACHE_SLOTS: usize = 4096;

/// User-Agent hash → verdict, direct-mapped; see [`is_bot_bytes`].
struct VerdictCache {
    seed: u64,
    /// 0: empty; else the tag (bit 0 clear, bit 1 set) with the verdict in bit 0.
    slots: Box<[AtomicU64]>,
}

impl VerdictCache {
    /// The User-Agent's hash with bit 0 cleared (room for the verdict) and bit 1 set (so a tag
    /// is never 0, the empty slot).
    #[inline]
    fn tag(&self, user_agent: &[u8]) -> u64 {
        (xxhash_rust::xxh3::xxh3_64_with_seed(user_agent, self.seed) | 2) & !1
    }
}

static VERDICTS: LazyLock<VerdictCache> = LazyLock::new(|| {
    use std::hash::BuildHasher;
    VerdictCache {
        seed: std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64),
        slots: (0..CACHE_SLOTS).map(|_| AtomicU64::new(0)).collect(),
    }
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_verdicts_match_uncached_ones() {
        let uas = [
            "",
            "   ",
            "curl/8.5.0",
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/126.0 Safari/537.36",
        ];
        for _ in 0..3 {
            for ua in uas {
                assert_eq!(is_bot(ua), uncached(ua), "{ua:?}");
            }
        }
    }

    #[test]
    fn invalid_utf8_is_matched_lossily() {
        let raw =
            b"Mozilla/5.0 (Linux; Android 14; \xff\xfe) AppleWebKit/537.36 Chrome/126.0 Mobile";
        let lossy = String::from_utf8_lossy(raw);
        for _ in 0..2 {
            assert_eq!(is_bot_bytes(raw), uncached(&lossy));
        }
        assert!(!is_bot_bytes(raw));
    }
}
