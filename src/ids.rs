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
/// bits, and a snapshot's sessions, sorted by key, are found by interpolation).
#[inline]
pub(crate) const fn session_key(visitor: VisitorId) -> u64 {
    mix64(visitor.0)
}

/// A `Hasher` for keys that are already 64-bit ids: [`mix64`] of each word written, no SipHash.
#[derive(Default, Clone, Copy)]
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

/// `BuildHasher` for maps keyed by ids.
pub(crate) type IdBuildHasher = std::hash::BuildHasherDefault<IdHasher>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_key_is_xxh3_seed_0() {
        // Pinned value: changing the hash would split every site's visitors in two.
        assert_eq!(VisitorId::from_key("").as_u64(), 0x2d06_8005_38d3_94c2);
    }

    #[test]
    fn mix64_is_a_bijection_on_samples() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..10_000u64 {
            assert!(seen.insert(mix64(i)));
        }
    }
}
