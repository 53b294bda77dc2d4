//! Decoding lists and strings from untrusted bytes without trusting their length prefixes.
//!
//! serde's own `Vec` visitor preallocates up to 1 MiB per list from the claimed length, and
//! bincode allocates a whole string's claimed length before reading it. These visitors reserve a
//! claimed length only while all reservations fit in twice the payload's size (see
//! [`with_budget`]), otherwise they start small and grow only as elements actually arrive; lists
//! whose size the format knows (the history ring, exact visitor sets) are refused as soon as
//! they claim more. Byte strings (session tables, sketch registers) are borrowed from the
//! payload, which checks their length against the bytes left before anything is allocated;
//! this relies on the codec decoding from a slice (`snapshot/codec.rs`), as it always does.
//!
//! The model's saved forms name these helpers in their serde attributes, and the snapshot codec
//! sets the budget: so they live here, below both, and know neither.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, Error, SeqAccess, Visitor};
use serde::{Serialize, Serializer};

/// Elements reserved up front when a claimed length does not fit the budget.
const PREALLOC: usize = 64;

thread_local! {
    /// Bytes the lists being decoded may still reserve up front: twice the payload's size.
    static BUDGET: Cell<usize> = const { Cell::new(0) };
}

/// Runs a decode of `payload_len` bytes: lists may reserve their claimed length up front while
/// the reservations add up to at most twice the payload (an honest file's lists then never
/// reallocate); beyond that they start small and grow as elements actually arrive.
pub(crate) fn with_budget<R>(payload_len: usize, decode: impl FnOnce() -> R) -> R {
    let before = BUDGET.with(|b| b.replace(payload_len.saturating_mul(2)));
    let r = decode();
    BUDGET.with(|b| b.set(before));
    r
}

/// How many elements of `elem_size` bytes to reserve for a list claiming `claimed`.
fn reservation(claimed: usize, elem_size: usize) -> usize {
    let bytes = claimed.saturating_mul(elem_size.max(1));
    BUDGET.with(|b| {
        if bytes <= b.get() {
            b.set(b.get() - bytes);
            claimed
        } else {
            claimed.min(PREALLOC)
        }
    })
}

/// `#[serde(deserialize_with = "crate::common::bounded::vec")]` for `Vec` fields.
pub(crate) fn vec<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    vec_max::<D, T, { usize::MAX }>(d)
}

/// The error for a list that claims more elements than it can hold.
fn claims_too_many<E: Error>(claimed: usize, max: usize) -> E {
    E::custom(format_args!(
        "a list claims {claimed} elements, more than the {max} it can hold"
    ))
}

/// Like [`vec`], refusing lists of more than `MAX` elements before reading them.
pub(crate) fn vec_max<'de, D, T, const MAX: usize>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct V<T, const MAX: usize>(PhantomData<T>);
    impl<'de, T: Deserialize<'de>, const MAX: usize> Visitor<'de> for V<T, MAX> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a list of at most {MAX} elements")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let claimed = seq.size_hint().unwrap_or(0);
            if claimed > MAX {
                return Err(claims_too_many(claimed, MAX));
            }
            let mut out = Vec::with_capacity(reservation(claimed, std::mem::size_of::<T>()));
            while let Some(x) = seq.next_element()? {
                if out.len() == MAX {
                    return Err(A::Error::custom(format_args!(
                        "a list holds more than {MAX} elements"
                    )));
                }
                out.push(x);
            }
            Ok(out)
        }
    }
    d.deserialize_seq(V::<T, MAX>(PhantomData))
}

/// Like [`vec_max`] for a list of bytes, read as one byte string: bincode writes both alike
/// (the length, then the bytes), and a byte string is borrowed from the payload (its length
/// checked against the bytes left first) and copied once, instead of visited byte by byte.
/// Refuses more than `MAX` bytes once they are found in the payload. Goes with [`as_bytes`].
pub(crate) fn bytes_max<'de, D, const MAX: usize>(d: D) -> Result<Vec<u8>, D::Error>
where
    D: Deserializer<'de>,
{
    let bytes = Bytes::deserialize(d)?;
    if bytes.len() > MAX {
        return Err(claims_too_many(bytes.len(), MAX));
    }
    Ok(bytes.0.into_owned())
}

/// `#[serde(serialize_with = "crate::common::bounded::as_bytes")]`: a list of bytes written
/// as one byte string, which is the same encoding, without a call per byte.
pub(crate) fn as_bytes<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bytes(bytes)
}

/// A UTF-8 string read byte by byte (bincode writes a string as its length and its bytes,
/// which is exactly a list of `u8`), so a huge claimed length allocates nothing.
pub(crate) fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let bytes: Vec<u8> = vec_max::<D, u8, 4096>(d)?;
    String::from_utf8(bytes).map_err(D::Error::custom)
}

/// An optional [`string`].
pub(crate) fn option_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an optional string")
        }
        fn visit_none<E: Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            string(d).map(Some)
        }
    }
    d.deserialize_option(V)
}

/// A byte string that decoding borrows from the file when it can.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Bytes<'a>(pub Cow<'a, [u8]>);

impl std::ops::Deref for Bytes<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl Serialize for Bytes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Bytes<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Cow<'de, [u8]>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_borrowed_bytes<E: Error>(self, v: &'de [u8]) -> Result<Self::Value, E> {
                Ok(Cow::Borrowed(v))
            }
            // For a decoder that cannot lend its input. The codec always decodes from a slice,
            // which lends; bincode's decoders that read from elsewhere allocate a byte
            // string's claimed length before reading it, so none is used (see the module docs).
            fn visit_bytes<E: Error>(self, v: &[u8]) -> Result<Self::Value, E> {
                Ok(Cow::Owned(v.to_vec()))
            }
        }
        Ok(Bytes(d.deserialize_bytes(V)?))
    }
}
