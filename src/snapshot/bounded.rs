//! Decoding lists from untrusted bytes without trusting their length prefixes.
//!
//! serde's own `Vec` visitor preallocates up to 1 MiB per list from the claimed length; this one
//! preallocates at most [`PREALLOC`] elements and grows as elements actually arrive, so a file can
//! make the decoder allocate little more than twice what it really contains.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, SeqAccess, Visitor};

/// Elements reserved up front, whatever length the input claims.
const PREALLOC: usize = 64;

/// `#[serde(deserialize_with = "crate::snapshot::bounded::vec")]` for `Vec` fields.
pub(crate) fn vec<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct V<T>(PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(PREALLOC));
            while let Some(x) = seq.next_element()? {
                out.push(x);
            }
            Ok(out)
        }
    }
    d.deserialize_seq(V(PhantomData))
}
