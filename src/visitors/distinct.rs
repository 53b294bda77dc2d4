//! Distinct counting of visitors: exact for small sets, a HyperLogLog sketch beyond.
//!
//! A [`Distinct`] holds the (bijectively mixed) ids themselves while there are at most
//! [`EXACT_LIMIT`] of them, so counts up to that size are exact. Past it, the ids are folded into
//! a HyperLogLog sketch of 2^16 one-byte registers (64 KiB), read with Otmar Ertl's *improved
//! raw estimator* ("New cardinality estimation algorithms for HyperLogLog sketches", 2017). That
//! estimator has no bias-correction tables and a relative standard error of about
//! 1.04 / sqrt(2^16) = 0.41 % over the whole range, so the 2 % bound of the contract sits at about
//! five standard errors.
//!
//! The sketch keeps a histogram of register values next to the registers, so an estimate costs a
//! loop over 50 histogram entries rather than over 65,536 registers, and the last estimate is
//! cached until the next change.
//!
//! Why not a crate: `cardinality-estimator` (Cloudflare) was the first choice, but it reads with
//! the raw HyperLogLog++ estimator without bias correction, whose error in the intermediate range
//! is not documented to stay within 2 %, and its serialized form is its own; we need both an
//! error bound we can state and a stable layout under our versioned snapshot format. The code
//! here is small and is tested against exact counts below.

use std::cell::Cell;
use std::collections::HashSet;
use std::hash::BuildHasherDefault;

use serde::{Deserialize, Serialize};

/// Sets up to this many ids are counted exactly.
pub(crate) const EXACT_LIMIT: usize = 4096;
/// log2 of the register count.
const P: u32 = 16;
/// Number of registers.
const M: usize = 1 << P;
/// Bits of the hash left after the register index.
const Q: usize = 64 - P as usize;
/// Histogram entries: register values `0..=Q + 1`.
pub(crate) const HISTOGRAM: usize = Q + 2;

/// A hasher for values that are already uniformly mixed 64-bit hashes.
#[derive(Default, Clone, Copy)]
pub(crate) struct PassHasher(u64);

impl std::hash::Hasher for PassHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type HashSetU64 = HashSet<u64, BuildHasherDefault<PassHasher>>;

/// A distinct count of 64-bit hashes: exact up to [`EXACT_LIMIT`], estimated beyond.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Distinct {
    repr: Repr,
    #[serde(skip)]
    cached: Cell<Option<u64>>,
}

impl PartialEq for Distinct {
    fn eq(&self, other: &Self) -> bool {
        self.repr == other.repr
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum Repr {
    Exact(#[serde(with = "exact_set")] HashSetU64),
    Sketch(Sketch),
}

impl Default for Repr {
    fn default() -> Self {
        Repr::Exact(HashSetU64::default())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Sketch {
    #[serde(
        serialize_with = "crate::common::bounded::as_bytes",
        deserialize_with = "crate::common::bounded::bytes_max::<_, M>"
    )]
    registers: Vec<u8>,
    /// `histogram[k]` = number of registers holding `k`, for `k` in `0..=Q + 1`.
    #[serde(deserialize_with = "crate::common::bounded::vec_max::<_, _, HISTOGRAM>")]
    histogram: Vec<u32>,
}

/// The exact set is saved as a sorted list (stable bytes for equal sets) and read back through
/// the bounded decoder.
mod exact_set {
    use super::{HashSetU64, EXACT_LIMIT};
    use serde::{Deserializer, Serialize, Serializer};

    pub(super) fn serialize<S: Serializer>(set: &HashSetU64, s: S) -> Result<S::Ok, S::Error> {
        let mut v: Vec<u64> = set.iter().copied().collect();
        v.sort_unstable();
        v.serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<HashSetU64, D::Error> {
        let v: Vec<u64> = crate::common::bounded::vec_max::<_, _, EXACT_LIMIT>(d)?;
        Ok(v.into_iter().collect())
    }
}

impl Sketch {
    fn new() -> Sketch {
        let mut histogram = vec![0; Q + 2];
        histogram[0] = M as u32;
        Sketch {
            registers: vec![0; M],
            histogram,
        }
    }

    /// Folds a hash in; true when a register changed.
    fn insert(&mut self, h: u64) -> bool {
        let index = (h >> (64 - P)) as usize;
        let rest = h << P;
        let rank = if rest == 0 {
            Q as u8 + 1
        } else {
            rest.leading_zeros() as u8 + 1
        };
        let old = self.registers[index];
        if rank > old {
            self.registers[index] = rank;
            self.histogram[old as usize] -= 1;
            self.histogram[rank as usize] += 1;
            true
        } else {
            false
        }
    }

    /// Whether the registers and histogram agree (vets restored data).
    fn is_consistent(&self) -> bool {
        if self.registers.len() != M || self.histogram.len() != Q + 2 {
            return false;
        }
        let mut h = vec![0u32; Q + 2];
        for &r in &self.registers {
            match h.get_mut(usize::from(r)) {
                Some(slot) => *slot += 1,
                None => return false,
            }
        }
        h == self.histogram
    }

    /// Ertl's improved raw estimate (his Algorithm 6).
    fn estimate(&self) -> f64 {
        estimate(&self.histogram)
    }
}

/// Ertl's improved raw estimate (his Algorithm 6) of a sketch whose register histogram is
/// `histogram` (`histogram[k]` registers hold `k`; missing entries count as zero). Also reads
/// the sketches a shared site keeps in Redis, which are built the same way.
pub(crate) fn estimate(histogram: &[u32]) -> f64 {
    let m = M as f64;
    let c = |k: usize| f64::from(histogram.get(k).copied().unwrap_or(0));
    let mut z = m * tau(1.0 - c(Q + 1) / m);
    for k in (1..=Q).rev() {
        z = 0.5 * (z + c(k));
    }
    z += m * sigma(c(0) / m);
    let alpha_inf = 0.5 / std::f64::consts::LN_2;
    alpha_inf * m * m / z
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let previous = z;
        z += x * y;
        y += y;
        if previous == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let previous = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
        if previous == z {
            return z / 3.0;
        }
    }
}

impl Distinct {
    /// Adds a uniformly mixed hash (see [`crate::ids::mix64`]).
    pub(crate) fn insert(&mut self, h: u64) {
        let changed = match &mut self.repr {
            Repr::Exact(set) => {
                let new = set.insert(h);
                if set.len() > EXACT_LIMIT {
                    let mut sketch = Sketch::new();
                    for &x in set.iter() {
                        sketch.insert(x);
                    }
                    self.repr = Repr::Sketch(sketch);
                }
                new
            }
            Repr::Sketch(s) => s.insert(h),
        };
        if changed {
            self.cached.set(None);
        }
    }

    /// Whether restored data is well formed, so that later inserts cannot index out of range.
    pub(crate) fn is_consistent(&self) -> bool {
        match &self.repr {
            Repr::Exact(set) => set.len() <= EXACT_LIMIT,
            Repr::Sketch(s) => s.is_consistent(),
        }
    }

    /// The number of distinct hashes added: exact up to [`EXACT_LIMIT`], an estimate beyond.
    /// The estimate is cached until the next change.
    pub(crate) fn count(&self) -> u64 {
        if let Some(c) = self.cached.get() {
            return c;
        }
        let c = match &self.repr {
            Repr::Exact(set) => set.len() as u64,
            Repr::Sketch(s) => s.estimate().round() as u64,
        };
        self.cached.set(Some(c));
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::mix64;

    fn count_of(n: u64, offset: u64) -> u64 {
        let mut d = Distinct::default();
        for i in 0..n {
            d.insert(mix64(i + offset));
            d.insert(mix64(i + offset)); // duplicates change nothing
        }
        d.count()
    }

    #[test]
    fn exact_up_to_the_limit() {
        for n in [0, 1, 2, 99, 100, 101, 1000, EXACT_LIMIT as u64] {
            assert_eq!(count_of(n, 7), n);
        }
    }

    #[test]
    fn within_two_percent_beyond() {
        for (n, offset) in [
            (EXACT_LIMIT as u64 + 1, 0),
            (10_000, 1 << 40),
            (50_000, 2 << 40),
            (150_000, 3 << 40),
            (400_000, 4 << 40),
            (1_000_000, 5 << 40),
        ] {
            let c = count_of(n, offset) as f64;
            let err = (c - n as f64).abs() / n as f64;
            assert!(err < 0.02, "n={n} estimate={c} error={err}");
        }
    }

    #[test]
    fn a_sketch_with_a_wrong_histogram_is_rejected() {
        let mut d = Distinct::default();
        for i in 0..(EXACT_LIMIT as u64 + 10) {
            d.insert(mix64(i));
        }
        assert!(d.is_consistent());
        if let Repr::Sketch(s) = &mut d.repr {
            s.histogram[0] += 1;
        }
        assert!(!d.is_consistent());
    }

    #[test]
    fn cache_is_invalidated_by_a_change() {
        let mut d = Distinct::default();
        for i in 0..10_000 {
            d.insert(mix64(i));
        }
        let before = d.count();
        for i in 10_000..20_000 {
            d.insert(mix64(i));
        }
        assert!(d.count() > before + 9_000);
    }
}
