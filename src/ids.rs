//! Identities of visitors and articles.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Who made a page view: an opaque 64-bit id.
///
/// Build one from a number you already have (`VisitorId::from(42)`), or from a string key such as
/// a cookie value with [`VisitorId::from_key`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VisitorId(u64);

impl VisitorId {
    /// The id of a string key: the same key gives the same id in every process and every
    /// release.
    ///
    /// The hash is fixed and documented: **XXH3-64 with seed 0** over the key's UTF-8 bytes
    /// (`xxhash_rust::xxh3::xxh3_64`). It is not a secret: do not feed it a key an attacker
    /// chooses if collisions would matter to you (the web layer's cookie ids are random).
    ///
    /// ```
    /// use visitor_counter::VisitorId;
    /// assert_eq!(VisitorId::from_key("abc"), VisitorId::from_key("abc"));
    /// assert_ne!(VisitorId::from_key("abc"), VisitorId::from_key("abd"));
    /// ```
    pub fn from_key(key: &str) -> VisitorId {
        VisitorId(xxhash_rust::xxh3::xxh3_64(key.as_bytes()))
    }

    /// The raw 64-bit value.
    pub const fn as_u64(self) -> u64 {
        self.0
    }
}

impl From<u64> for VisitorId {
    fn from(id: u64) -> Self {
        VisitorId(id)
    }
}

/// A news article's id. `Display` writes the plain number; `Ord` orders by it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ArticleId(u64);

impl ArticleId {
    /// The raw 64-bit value.
    pub const fn as_u64(self) -> u64 {
        self.0
    }
}

impl From<u64> for ArticleId {
    fn from(id: u64) -> Self {
        ArticleId(id)
    }
}

impl fmt::Display for ArticleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A fixed, bijective 64-bit mixer (the MurmurHash3 finaliser): spreads sequential ids over
/// all bits so they hash well and feed the distinct-visitor sketches.
#[inline]
pub(crate) const fn mix64(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^= x >> 33;
    x
}

/// The key the session table files a visitor under: [`mix64`] of its id, a bijection, so every
/// visitor keeps its own key and keys are spread uniformly (the session shard is the key's top
/// bits).
#[inline]
pub(crate) const fn session_key(visitor: VisitorId) -> u64 {
    mix64(visitor.0)
}

/// A `Hasher` for keys that are already 64-bit ids: [`mix64`] of each word written, no SipHash,
/// from the seed its [`IdBuildHasher`] gives it.
#[derive(Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = mix64(self.0 ^ u64::from(b));
        }
    }
    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 = mix64(self.0 ^ n);
    }
}

/// `BuildHasher` for maps keyed by ids: each map's [`IdHasher`]s start from a seed of its own,
/// drawn from std's `RandomState` when the map is made. Without it, keys chosen to share a hash
/// (in a crafted snapshot, whose session keys a load puts into the table) would all land on
/// one probe chain, and loading them would take quadratic time; with it they collide only by
/// chance. Costs one `xor` per hash.
#[derive(Clone, Copy)]
pub(crate) struct IdBuildHasher(u64);

impl Default for IdBuildHasher {
    fn default() -> Self {
        IdBuildHasher(random_u64())
    }
}

/// A random 64-bit number, different from call to call and from process to process (from std's
/// `RandomState`, whose keys come from the OS): seeds of hashes that keys chosen from outside
/// must not predict, and ids.
pub(crate) fn random_u64() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64)
}

impl std::hash::BuildHasher for IdBuildHasher {
    type Hasher = IdHasher;
    #[inline]
    fn build_hasher(&self) -> IdHasher {
        IdHasher(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_key_is_xxh3_seed_0() {
        // Pinned value: changing the hash would split every site's visitors in two.
        assert_eq!(VisitorId::from_key("").as_u64(), 0x2d06_8005_38d3_94c2);
    }

    /// Keys crafted so that an unseeded [`IdHasher`] gives them all the same low 24 bits (one
    /// probe chain in a hash table) are spread by a seeded one.
    #[test]
    fn crafted_keys_do_not_collide_under_a_seeded_hasher() {
        use std::hash::BuildHasher;
        // The inverse of `mix64`: each xor-shift by 33 is its own inverse, and each odd
        // multiplier has an inverse modulo 2^64 (Newton's iteration).
        let inverse = |c: u64| {
            let mut inv = c;
            for _ in 0..6 {
                inv = inv.wrapping_mul(2u64.wrapping_sub(c.wrapping_mul(inv)));
            }
            inv
        };
        let unmix = |mut x: u64| {
            x ^= x >> 33;
            x = x.wrapping_mul(inverse(0xc4ce_b9fe_1a85_ec53));
            x ^= x >> 33;
            x = x.wrapping_mul(inverse(0xff51_afd7_ed55_8ccd));
            x ^ (x >> 33)
        };
        let keys: Vec<u64> = (1..=1000u64).map(|i| unmix(i << 24)).collect();
        let low = |h: u64| h & ((1 << 24) - 1);
        assert!(
            keys.iter().all(|&k| low(mix64(k)) == 0),
            "the keys collide unseeded"
        );
        let seeded = IdBuildHasher::default();
        let spread: std::collections::HashSet<u64> =
            keys.iter().map(|&k| low(seeded.hash_one(k))).collect();
        assert!(spread.len() > 990, "{} distinct", spread.len());
        assert_ne!(
            IdBuildHasher::default().hash_one(1u64),
            IdBuildHasher::default().hash_one(1u64),
            "each map draws its own seed"
        );
    }

    #[test]
    fn mix64_is_a_bijection_on_samples() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..10_000u64 {
            assert!(seen.insert(mix64(i)));
        }
    }
}
