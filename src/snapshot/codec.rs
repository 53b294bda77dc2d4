//! The payload codec: bincode 2.0.1 through serde, in one fixed configuration.
//!
//! This is the only module that names bincode, so the codec can be swapped (bincode is
//! unmaintained; 3.0.0 is an empty release) by adding a file format version that uses another
//! one. The codec's settings are: little-endian, fixed-width integers (so a list's claimed length can be
//! checked against the bytes left and the in-memory size of what is decoded stays close to the
//! file's size), with a decode limit, and the whole payload must be consumed.

use serde::{Deserialize, Serialize};

/// Bytes a payload may claim while decoding (matches [`super::format::MAX_PAYLOAD`]).
const LIMIT: usize = 1 << 32;

fn config() -> impl bincode::config::Config {
    bincode::config::standard()
        .with_little_endian()
        .with_fixed_int_encoding()
        .with_limit::<LIMIT>()
}

/// The size of a value's encoding (a pass that writes nothing).
pub(crate) fn size<T: Serialize>(value: &T) -> Result<u64, String> {
    struct Count<'a>(&'a mut u64);
    impl bincode::enc::write::Writer for Count<'_> {
        fn write(&mut self, bytes: &[u8]) -> Result<(), bincode::error::EncodeError> {
            *self.0 += bytes.len() as u64;
            Ok(())
        }
    }
    let mut size = 0;
    bincode::serde::encode_into_writer(value, Count(&mut size), config())
        .map_err(|e| e.to_string())?;
    Ok(size)
}

/// Encodes a value into `out`.
pub(crate) fn encode_into<T: Serialize>(
    value: &T,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    let mut out = out;
    bincode::serde::encode_into_std_write(value, &mut out, config())
        .map(|_| ())
        .map_err(|e| match e {
            bincode::error::EncodeError::Io { inner, .. } => inner,
            e => std::io::Error::other(e.to_string()),
        })
}

/// Decodes a value that must fill `bytes` exactly. Byte strings in it may borrow from `bytes`.
pub(crate) fn decode<'de, T: Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, String> {
    let (value, used) = crate::common::bounded::with_budget(bytes.len(), || {
        bincode::serde::borrow_decode_from_slice(bytes, config()).map_err(|e| e.to_string())
    })?;
    if used != bytes.len() {
        return Err(format!(
            "{} bytes left over after the payload",
            bytes.len() - used
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use super::{decode, encode_into};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct AsList(Vec<u8>, u32);

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct AsBytes(
        #[serde(
            serialize_with = "crate::common::bounded::as_bytes",
            deserialize_with = "crate::common::bounded::bytes_max::<_, 300>"
        )]
        Vec<u8>,
        u32,
    );

    fn encode<T: Serialize>(value: &T) -> Vec<u8> {
        let mut out = Vec::new();
        encode_into(value, &mut out).unwrap();
        out
    }

    /// Sketch registers were written as lists of bytes before they were written as byte
    /// strings: both encodings must be the same bytes.
    #[test]
    fn a_list_of_bytes_and_a_byte_string_encode_alike() {
        for n in [0, 1, 255, 300] {
            let v: Vec<u8> = (0..n).map(|i| (i * 7) as u8).collect();
            let list = encode(&AsList(v.clone(), 7));
            assert_eq!(list, encode(&AsBytes(v.clone(), 7)));
            assert_eq!(decode::<AsBytes>(&list).unwrap(), AsBytes(v, 7));
        }
        let long = encode(&AsList(vec![1; 301], 7));
        let err = decode::<AsBytes>(&long).unwrap_err();
        assert!(
            err.contains("claims 301 elements, more than the 300"),
            "{err}"
        );
    }
}
