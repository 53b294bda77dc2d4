//! The session table as a snapshot saves it: one flat byte string of 16-byte records.
//!
//! The layout belongs to the session table, which writes it ([`Sessions::saved`]) and reads
//! it back ([`Sessions::load`]); the snapshot format embeds it and never looks inside.
//!
//! [`Sessions::saved`]: crate::visitors::sessions::Sessions::saved
//! [`Sessions::load`]: crate::visitors::sessions::Sessions::load

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::calendar::clock::{held, unpack};
use crate::common::bounded::Bytes;

/// Bytes of one record.
pub(crate) const RECORD: usize = 16;

/// Every tracked session, 16 bytes each, in no particular order: its session key (`u64`
/// little-endian), then its last page view and online flag [`pack`]ed in a `u64` little-endian
/// (bit 63: online; bits 0..63: nanoseconds from 2000-01-01T00:00Z, two's complement).
/// Decoding borrows the bytes from the file. Nothing in them is trusted: the load checks each
/// record as it takes it in.
///
/// [`pack`]: crate::calendar::clock::pack
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SavedSessions<'a> {
    #[serde(borrow)]
    records: Bytes<'a>,
}

impl SavedSessions<'static> {
    /// The sessions of `(session key, packed)` records.
    #[cfg(test)]
    pub(crate) fn from_records(records: impl IntoIterator<Item = (u64, u64)>) -> Self {
        let mut saved = SavedSessions::with_capacity(0);
        saved.extend(records);
        saved
    }

    /// No sessions yet, with room for `n` records.
    pub(crate) fn with_capacity(n: usize) -> Self {
        SavedSessions {
            records: Bytes(Cow::Owned(Vec::with_capacity(n * RECORD))),
        }
    }

    /// Appends `(session key, packed)` records.
    pub(crate) fn extend(&mut self, records: impl IntoIterator<Item = (u64, u64)>) {
        let bytes = self.records.0.to_mut();
        for (key, packed) in records {
            bytes.extend_from_slice(&key.to_le_bytes());
            bytes.extend_from_slice(&packed.to_le_bytes());
        }
    }
}

impl SavedSessions<'_> {
    /// Sessions held (whole records).
    pub(crate) fn len(&self) -> usize {
        self.records.len() / RECORD
    }

    /// The `(session key, packed)` records, or why the bytes are not whole records.
    pub(crate) fn records(&self) -> Result<impl Iterator<Item = (u64, u64)> + '_, String> {
        if !self.records.len().is_multiple_of(RECORD) {
            return Err(format!(
                "the session records' {} bytes are not whole {RECORD}-byte records",
                self.records.len()
            ));
        }
        Ok(self.records.as_chunks::<RECORD>().0.iter().map(|r| {
            let (key, packed) = r.split_at(8);
            let word = |b: &[u8]| b.try_into().map_or(0, u64::from_le_bytes);
            (word(key), word(packed))
        }))
    }
}

/// The last page view and online flag of `packed`, the record of session key `key`, or why no
/// session table can hold it: an instant out of the range held.
pub(crate) fn check_record(key: u64, packed: u64) -> Result<(i64, bool), String> {
    let (last_seen, online) = unpack(packed);
    match held(last_seen) {
        true => Ok((last_seen, online)),
        false => Err(format!("session key {key:#x}: instant out of range")),
    }
}

impl SavedSessions<'_> {
    /// Checks every record as a load does ([`check_record`], no key twice) without building a
    /// table: for `snapshot::inspect`. Sorts a copy of the keys (8 bytes per record).
    pub(crate) fn check(&self) -> Result<(), String> {
        let mut keys = Vec::with_capacity(self.len());
        for (key, packed) in self.records()? {
            check_record(key, packed)?;
            keys.push(key);
        }
        keys.sort_unstable();
        match keys.windows(2).find(|w| w[0] == w[1]) {
            Some(w) => Err(twice(w[0])),
            None => Ok(()),
        }
    }
}

/// The error of a session key saved twice.
pub(crate) fn twice(key: u64) -> String {
    format!("session key {key:#x} is saved twice")
}

impl fmt::Debug for SavedSessions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SavedSessions")
            .field("sessions", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_partial_records_are_refused() {
        let saved = SavedSessions::from_records([(1, 2), (u64::MAX, 1 << 63)]);
        assert_eq!(saved.len(), 2);
        let back: Vec<_> = saved.records().unwrap().collect();
        assert_eq!(back, [(1, 2), (u64::MAX, 1 << 63)]);
        let mut bytes = saved.records.0.to_vec();
        bytes.push(0);
        let partial = SavedSessions {
            records: Bytes(Cow::Owned(bytes)),
        };
        assert!(partial.records().is_err());
    }
}
