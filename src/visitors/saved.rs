//! The session table as a snapshot saves it: the byte layout of every format's sessions,
//! how a save lays the table out, and what a load checks before the table is read in place.
//!
//! This layout belongs to the session table, which reads it in place after a load (see
//! `restored.rs`); the snapshot format embeds it ([`SessionTable`] is format 3's sessions,
//! [`SessionColumn`] those of formats 1 and 2) and never looks inside.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use serde::de::Deserializer;
use serde::{Deserialize, Serialize, Serializer};

use crate::calendar::clock::{held, pack, unpack};
use crate::common::bounded::Bytes;
use crate::common::parallel;
use crate::ids::{session_key, VisitorId};

/// A state's sessions: a format 3 [`SessionTable`], or an older file's sessions as decoded,
/// laid out as a table only when restored (so that decoding an older file allocates no more
/// than decoding a current one). Encodes as a table; decodes as what format 3 holds.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum SavedSessions<'a> {
    Table(SessionTable<'a>),
    Older(SessionColumn<'a>),
}

impl SavedSessions<'_> {
    /// Sessions held.
    pub(crate) fn len(&self) -> usize {
        match self {
            SavedSessions::Table(t) => t.len(),
            SavedSessions::Older(c) => c.iter().count(),
        }
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        match self {
            SavedSessions::Table(t) => t.validate(),
            SavedSessions::Older(c) => c.validate(),
        }
    }
}

impl Serialize for SavedSessions<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            SavedSessions::Table(t) => t.serialize(s),
            SavedSessions::Older(c) => c.to_table().serialize(s),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for SavedSessions<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        SessionTable::deserialize(d).map(SavedSessions::Table)
    }
}

impl Default for SavedSessions<'_> {
    /// No sessions.
    fn default() -> Self {
        SavedSessions::Table(SessionTable {
            records: Bytes(Cow::Borrowed(&[])),
            online: Bytes(Cow::Borrowed(&[])),
            idle: Bytes(Cow::Borrowed(&[])),
        })
    }
}

/// Bytes of one record of a [`SessionTable`] or a format 2 [`SessionColumn`].
pub(crate) const RECORD: usize = 16;
/// Bytes of one index of a [`SessionTable`]'s time orders.
pub(crate) const INDEX: usize = 4;

/// Every tracked session, as format 3 writes them, in three byte strings that decoding borrows
/// from the file:
/// - `records`: 16 bytes per session, its session key ([`session_key`] of the visitor, `u64`
///   little-endian), then its last page view and online flag [`pack`]ed in a `u64`
///   little-endian (bit 63: online; bits 0..63: nanoseconds from 2000-01-01T00:00Z, two's
///   complement); sorted by key, each key once;
/// - `online`, `idle`: the record indices (`u32` little-endian) of the sessions flagged online,
///   and of the others, each sorted by (last page view, key): the order the expiry queues pop
///   them in.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SessionTable<'a> {
    #[serde(borrow)]
    pub records: Bytes<'a>,
    #[serde(borrow)]
    pub online: Bytes<'a>,
    #[serde(borrow)]
    pub idle: Bytes<'a>,
}

/// A record as format 3 lays it out: the session key, then the last page view and online flag
/// [`pack`]ed, both `u64` little-endian.
pub(crate) type Record = [u8; RECORD];

/// The record of session key `key`, its last page view and online flag `packed`.
#[inline]
pub(crate) fn record(key: u64, packed: u64) -> Record {
    let mut r = [0; RECORD];
    r[..8].copy_from_slice(&key.to_le_bytes());
    r[8..].copy_from_slice(&packed.to_le_bytes());
    r
}

/// The two words of a 16-byte record (format 3's, or format 2's with a visitor id first).
#[inline]
fn read_record(r: &[u8]) -> (u64, u64) {
    let word = |at: usize| {
        r.get(at..at + 8)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u64::from_le_bytes)
    };
    (word(0), word(8))
}

#[inline]
fn record_key(r: &Record) -> u64 {
    read_record(r).0
}

#[inline]
fn record_packed(r: &Record) -> u64 {
    read_record(r).1
}

impl SessionTable<'static> {
    /// Lays out session records given in any order (see [`SessionTable::build_in_groups`]).
    pub(crate) fn build(records: Vec<Record>) -> SessionTable<'static> {
        let all = 0..records.len();
        SessionTable::build_in_groups(records, std::slice::from_ref(&all))
    }

    /// Lays out session records given in any order within `groups`: ranges that cover
    /// `records` in order, each group's keys all below the next group's (as the session shards
    /// hand them over), or one range. Of a repeated key, the last copy stays. Each group is
    /// sorted by [`sort_by_radix`] on its own (a shard's share fits in cache), and the time
    /// orders of each half of the records by [`sort_by_radix_in`], then merged; so a save sorts
    /// a million sessions in a few passes rather than with a comparison sort. A large table is
    /// sorted on two threads: half the groups each, then half the records each.
    pub(crate) fn build_in_groups(
        mut records: Vec<Record>,
        groups: &[Range<usize>],
    ) -> SessionTable<'static> {
        sort_groups(&mut records, groups);
        // Of a run of one key, the first place keeps the last copy.
        records.dedup_by(|later, first| {
            let same = record_key(later) == record_key(first);
            if same {
                *first = *later;
            }
            same
        });
        let (n, mid) = (records.len(), records.len() / 2);
        let (upper, lower) = parallel::join(
            "visitor-counter-save-orders",
            n >= SORT_APART,
            || time_orders(&records, mid..n),
            || time_orders(&records, 0..mid),
        );
        let ((lower_online, lower_idle), (upper_online, upper_idle)) =
            (lower.kinds(), upper.kinds());
        let online = merge_indices(lower_online, upper_online);
        let idle = merge_indices(lower_idle, upper_idle);
        SessionTable {
            records: Bytes(Cow::Owned(records.into_flattened())),
            online: Bytes(Cow::Owned(online)),
            idle: Bytes(Cow::Owned(idle)),
        }
    }
}

/// Tables of at least this many records are sorted on two threads.
const SORT_APART: usize = 1 << 16;

/// Sorts each group of `records` by key (see [`SessionTable::build_in_groups`]): the groups
/// that start in the first half on this thread, the others on a second one.
fn sort_groups(records: &mut [Record], groups: &[Range<usize>]) {
    let n = records.len();
    debug_assert!(
        groups
            .iter()
            .try_fold(0, |at, g| (g.start == at && g.start <= g.end)
                .then_some(g.end))
            == Some(n),
        "groups must cover the records in order"
    );
    let split = groups.partition_point(|g| g.start < n / 2);
    let at = groups.get(split).map_or(n, |g| g.start.min(n));
    let (first, second) = records.split_at_mut(at);
    let (first_groups, second_groups) = groups.split_at(split);
    // Each group is the next `len` records of `part` (the groups cover the records in order).
    let sort = |mut part: &mut [Record], groups: &[Range<usize>]| {
        let mut sorted = Vec::new();
        for g in groups {
            let len = g.len().min(part.len());
            let (group, rest) = std::mem::take(&mut part).split_at_mut(len);
            sort_by_radix(group, &mut sorted, record_key, record_key);
            group.copy_from_slice(&sorted);
            part = rest;
        }
    };
    parallel::join(
        "visitor-counter-save-sort",
        n >= SORT_APART && at < n,
        || sort(second, second_groups),
        || sort(first, first_groups),
    );
}

/// A session in a time order being built: its last page view, record index and online flag.
type Timed = (i64, u32, bool);

/// Sessions sorted into time orders: online ones first, then idle ones, each sorted by last
/// page view (ties in index order); and how many are online.
struct TimeOrders(Vec<Timed>, usize);

impl TimeOrders {
    /// The online order and the idle order.
    fn kinds(&self) -> (&[Timed], &[Timed]) {
        self.0.split_at(self.1)
    }
}

/// The time orders of the sessions of `records[range]`. Read straight from the records: no
/// list of them is built before the sort.
fn time_orders(records: &[Record], range: Range<usize>) -> TimeOrders {
    let part = records.get(range.clone()).unwrap_or_default();
    // As `u32`, like the file's indices: a table of 2^32 records would be 64 GiB, and `save`
    // refuses any payload over 4 GiB.
    let timed = || {
        (range.start as u32..).zip(part).map(|(i, r)| {
            let (last_seen, online) = unpack(record_packed(r));
            (last_seen, i, online)
        })
    };
    let mut sorted = Vec::new();
    let [online, _] = sort_by_radix_in(
        timed,
        &mut sorted,
        |&(_, _, online)| usize::from(!online),
        |&(at, _, _)| at as u64 ^ (1 << 63),
        |&(at, _, _)| at,
    );
    TimeOrders(sorted, online)
}

/// The indices of two time-sorted lists merged into one time order, as the table's bytes. On
/// equal times `lower` goes first: its indices are the lower ones, so ties stay in key order.
fn merge_indices(lower: &[Timed], upper: &[Timed]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity((lower.len() + upper.len()) * INDEX);
    let (mut i, mut j) = (0, 0);
    while let (Some(&(a, x, _)), Some(&(b, y, _))) = (lower.get(i), upper.get(j)) {
        // Without a branch on which: the times are in no order the predictor could learn.
        let upper_first = b < a;
        bytes.extend_from_slice(&if upper_first { y } else { x }.to_le_bytes());
        i += usize::from(!upper_first);
        j += usize::from(upper_first);
    }
    let rest = lower.get(i..).unwrap_or_default();
    for &(_, index, _) in rest.iter().chain(upper.get(j..).unwrap_or_default()) {
        bytes.extend_from_slice(&index.to_le_bytes());
    }
    bytes
}

/// The most buckets [`sort_by_radix`] scatters into.
const MAX_BUCKETS: usize = 1 << 16;

/// Writes `items` into `out` sorted by `key`, stably (see [`sort_by_radix_in`]).
fn sort_by_radix<T: Copy + Default, K: Ord>(
    items: &[T],
    out: &mut Vec<T>,
    radix: impl Fn(&T) -> u64,
    key: impl Fn(&T) -> K,
) {
    sort_by_radix_in::<_, _, _, 1>(|| items.iter().copied(), out, |_| 0, radix, key);
}

/// Writes the items that `items()` yields into `out`, sorted by class, then by `key`, stably:
/// a scatter into buckets (about 8 items each) by class and by the top bits of `radix` over
/// the items' range (`radix` must not decrease as `key` grows), then a sort of each bucket.
/// `class` picks one of `C` classes (a larger one counts as the last). Returns the number of
/// items of each class. `items` is called three times and must yield the same items each time.
fn sort_by_radix_in<T: Copy + Default, K: Ord, I: Iterator<Item = T>, const C: usize>(
    items: impl Fn() -> I,
    out: &mut Vec<T>,
    class: impl Fn(&T) -> usize,
    radix: impl Fn(&T) -> u64,
    key: impl Fn(&T) -> K,
) -> [usize; C] {
    let (len, min, max) = items().fold((0usize, u64::MAX, 0), |(len, lo, hi), x| {
        let r = radix(&x);
        (len + 1, lo.min(r), hi.max(r))
    });
    let buckets = (len / 8).next_power_of_two().min(MAX_BUCKETS);
    let bits = u64::BITS - max.saturating_sub(min).leading_zeros();
    let shift = bits.saturating_sub(buckets.trailing_zeros());
    // Below `buckets * C`: the offset from `min` has `bits` bits. With one bucket and offsets
    // of 64 bits, `shift` is 64: every item goes to bucket 0.
    let bucket = |x: &T| {
        let offset = (radix(x) - min).checked_shr(shift).unwrap_or(0);
        class(x).min(C - 1) * buckets + offset as usize
    };
    let mut next = vec![0usize; buckets * C + 1];
    for x in items() {
        next[bucket(&x) + 1] += 1;
    }
    for b in 1..next.len() {
        next[b] += next[b - 1];
    }
    let starts = next.clone();
    out.clear();
    out.resize(len, T::default());
    for x in items() {
        let b = bucket(&x);
        out[next[b]] = x;
        next[b] += 1;
    }
    for b in starts.windows(2) {
        if b[1] - b[0] > 1 {
            out[b[0]..b[1]].sort_by_key(&key);
        }
    }
    std::array::from_fn(|c| starts[(c + 1) * buckets] - starts[c * buckets])
}

impl SessionTable<'_> {
    /// Sessions held.
    pub(crate) fn len(&self) -> usize {
        self.records.len() / RECORD
    }

    /// Checks what reading the table in place relies on (see `restored.rs`, "Trust"): whole
    /// records with keys strictly increasing and instants in range, and time orders of the
    /// lengths the records' flags give (an index per online record in the online order, one
    /// per other record in the idle order). What the orders name is vetted as the expiry
    /// queues' cursors read them (see `restored.rs`): here, it would take a pass over the
    /// orders and a random write per session.
    ///
    /// One pass over the records, which only gathers whether anything is wrong; a table it
    /// finds fault with is read again by [`first_fault`](Self::first_fault), which names the
    /// fault.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if !self.records.len().is_multiple_of(RECORD) {
            return Err(format!(
                "the session records' {} bytes are not whole {RECORD}-byte records",
                self.records.len()
            ));
        }
        let n = self.len();
        if u32::try_from(n).is_err() {
            return Err(format!("{n} sessions, more than a snapshot can index"));
        }
        match self.holds_together() {
            true => Ok(()),
            false => self.first_fault(),
        }
    }

    /// Whether the table passes every check of [`validate`](Self::validate) (whole records
    /// and the count already checked).
    fn holds_together(&self) -> bool {
        let Some(online) = self.online_count() else {
            return false;
        };
        self.online.len() == online * INDEX && self.idle.len() == (self.len() - online) * INDEX
    }

    /// How many records are flagged online, if their keys are strictly increasing and their
    /// instants in range. Checks without a branch per record.
    fn online_count(&self) -> Option<usize> {
        let mut bad = false;
        let mut previous = 0;
        let mut online = 0;
        for (i, r) in self.records.as_chunks::<RECORD>().0.iter().enumerate() {
            let (key, packed) = read_record(r);
            // Strictly increasing from the second record on.
            bad |= (key <= previous) & (i != 0);
            bad |= !held(unpack(packed).0);
            previous = key;
            online += (packed >> 63) as usize;
        }
        (!bad).then_some(online)
    }

    /// The first fault [`holds_together`](Self::holds_together) can find, named; `Ok` if
    /// there is none. Stops at the first fault, with a branch per check.
    fn first_fault(&self) -> Result<(), String> {
        let n = self.len();
        let mut previous = None;
        let mut online = 0;
        for r in self.records.chunks_exact(RECORD) {
            let (key, packed) = read_record(r);
            let (last_seen, is_online) = unpack(packed);
            if previous.is_some_and(|p| p >= key) {
                return Err(format!("session key {key:#x} is out of order or repeated"));
            }
            if !held(last_seen) {
                return Err(format!("session key {key:#x}: instant out of range"));
            }
            previous = Some(key);
            online += usize::from(is_online);
        }
        for (name, order, expected) in [
            ("online", &self.online, online),
            ("idle", &self.idle, n - online),
        ] {
            if order.len() != expected * INDEX {
                return Err(format!(
                    "the {name} order has {} bytes for {expected} sessions",
                    order.len()
                ));
            }
        }
        Ok(())
    }
}

impl fmt::Debug for SessionTable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionTable")
            .field("sessions", &self.len())
            .field("online", &(self.online.len() / INDEX))
            .finish()
    }
}

/// Every tracked session in format 2 (read, no longer written): 16-byte records, the visitor
/// id (`u64` little-endian), then its last page view and online flag [`pack`]ed as in
/// [`SessionTable`], in the saving table's order, in one byte string that decoding borrows. A
/// format 1 file's sessions are kept as decoded and read through the same
/// [`SessionColumn::iter`].
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SessionColumn<'a>(Repr<'a>);

#[derive(Clone, PartialEq, Eq)]
enum Repr<'a> {
    /// Format 2's records.
    Packed(Bytes<'a>),
    /// Format 1's sessions, with instants as ages before `saved_at`.
    Aged {
        saved_at: i64,
        records: Vec<SavedSession>,
    },
}

impl SessionColumn<'static> {
    /// Format 1's sessions, with instants as ages before `saved_at`.
    pub(crate) fn aged(saved_at: i64, records: Vec<SavedSession>) -> SessionColumn<'static> {
        SessionColumn(Repr::Aged { saved_at, records })
    }
}

impl SessionColumn<'_> {
    /// `(visitor, last page view, online)` of each session, in order. An instant that is out
    /// of range (which [`SessionColumn::validate`] refuses) comes out as `i64::MIN`.
    pub(crate) fn iter(&self) -> SessionIter<'_> {
        match &self.0 {
            Repr::Packed(bytes) => SessionIter::Packed(bytes.chunks_exact(RECORD)),
            Repr::Aged { saved_at, records } => SessionIter::Aged(*saved_at, records.iter()),
        }
    }

    /// The sessions laid out as a [`SessionTable`] (a visitor listed twice keeps its last
    /// entry). Allocates about three times the records' size while it sorts.
    pub(crate) fn to_table(&self) -> SessionTable<'static> {
        let records: Vec<Record> = self
            .iter()
            .map(|(v, last_seen, online)| {
                record(session_key(VisitorId::from(v)), pack(last_seen, online))
            })
            .collect();
        SessionTable::build(records)
    }

    fn validate(&self) -> Result<(), String> {
        if let Repr::Packed(bytes) = &self.0 {
            if bytes.len() % RECORD != 0 {
                return Err(format!(
                    "the session column's {} bytes are not whole {RECORD}-byte records",
                    bytes.len()
                ));
            }
        }
        match self.iter().find(|s| !held(s.1)) {
            Some((v, _, _)) => Err(format!(
                "session of visitor {:?}: instant out of range",
                VisitorId::from(v)
            )),
            None => Ok(()),
        }
    }
}

/// The iterator of [`SessionColumn::iter`].
pub(crate) enum SessionIter<'s> {
    Packed(std::slice::ChunksExact<'s, u8>),
    Aged(i64, std::slice::Iter<'s, SavedSession>),
}

impl Iterator for SessionIter<'_> {
    type Item = (u64, i64, bool);

    #[inline]
    fn next(&mut self) -> Option<(u64, i64, bool)> {
        match self {
            SessionIter::Packed(records) => records.next().map(|r| {
                let (visitor, packed) = read_record(r);
                let (last_seen, online) = unpack(packed);
                (visitor, last_seen, online)
            }),
            SessionIter::Aged(saved_at, records) => records.next().map(|s| {
                let last_seen = saved_at.checked_sub(s.age).unwrap_or(i64::MIN);
                (s.visitor.as_u64(), last_seen, s.online)
            }),
        }
    }
}

impl fmt::Debug for SessionColumn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for SessionColumn<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(SessionColumn(Repr::Packed(Bytes::deserialize(d)?)))
    }
}

/// A tracked session in format 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub(crate) struct SavedSession {
    pub visitor: VisitorId,
    /// `saved_at - last_seen`.
    pub age: i64,
    pub online: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::clock::{MAX_NS, MIN_NS};

    fn records(sessions: &[(u64, u64)]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for &(k, p) in sessions {
            bytes.extend_from_slice(&k.to_le_bytes());
            bytes.extend_from_slice(&p.to_le_bytes());
        }
        bytes
    }

    fn indices(order: &[u8]) -> Vec<u32> {
        order
            .chunks_exact(INDEX)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
            .collect()
    }

    #[test]
    fn the_format_2_column_reads_and_refuses_partial_records() {
        let bytes = records(&[(7, pack(MIN_NS, true)), (u64::MAX, pack(MAX_NS, false))]);
        let c = SessionColumn(Repr::Packed(Bytes(Cow::Borrowed(&bytes))));
        assert_eq!(
            c.iter().collect::<Vec<_>>(),
            vec![(7, MIN_NS, true), (u64::MAX, MAX_NS, false)]
        );
        assert!(c.validate().is_ok());
        let short = SessionColumn(Repr::Packed(Bytes(Cow::Borrowed(&bytes[..31]))));
        assert!(short
            .validate()
            .unwrap_err()
            .contains("whole 16-byte records"));
        // The one word that unpacks to an instant out of range.
        let out = records(&[(1, pack(MIN_NS - 1, false))]);
        let out = SessionColumn(Repr::Packed(Bytes(Cow::Borrowed(&out))));
        assert!(out.validate().unwrap_err().contains("out of range"));
        // Format 1's sessions read the same way, ages turned into instants.
        let aged = SessionColumn(Repr::Aged {
            saved_at: 1_000,
            records: vec![SavedSession {
                visitor: VisitorId::from(7),
                age: 400,
                online: true,
            }],
        });
        assert_eq!(aged.iter().collect::<Vec<_>>(), vec![(7, 600, true)]);
        let too_old = SessionColumn(Repr::Aged {
            saved_at: MIN_NS,
            records: vec![SavedSession {
                visitor: VisitorId::from(7),
                age: 1,
                online: false,
            }],
        });
        assert!(too_old.validate().unwrap_err().contains("out of range"));
    }

    /// A reproducible stream of pseudo-random words from `seed` (not zero).
    fn xorshift(mut x: u64) -> impl FnMut() -> u64 {
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    /// `build` against a comparison sort, on random keys, repeated keys and instants with many
    /// ties, spread over a few nanoseconds or the whole range held.
    #[test]
    fn build_sorts_by_key_and_time_like_a_comparison_sort() {
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        for (n, keys, span) in [
            (0, 1, 1),
            (1, 1, 1),
            (500, 300, 5),
            (5_000, u64::MAX, 1_000),
            (5_000, u64::MAX, u64::MAX),
            // Large enough to be sorted and ordered on two threads.
            (SORT_APART as u64 + 1_001, u64::MAX, 1_000),
            (2 * SORT_APART as u64, SORT_APART as u64, 3),
        ] {
            let pairs: Vec<(u64, u64)> = (0..n)
                .map(|_| {
                    let key = crate::ids::mix64(next() % keys);
                    let at = if span == u64::MAX {
                        [MIN_NS, MAX_NS, 0][(next() % 3) as usize]
                    } else {
                        (next() % span) as i64
                    };
                    (key, pack(at, next().is_multiple_of(3)))
                })
                .collect();
            let input: Vec<Record> = pairs.iter().map(|&(k, p)| record(k, p)).collect();
            let table = SessionTable::build(input.clone());
            table.validate().unwrap();
            // The same records handed over in groups by their top 3 bits, as shards do.
            let mut grouped = input;
            grouped.sort_by_key(|r| record_key(r) >> 61);
            let groups: Vec<Range<usize>> = (0..8u64)
                .scan(0, |start, g| {
                    let end = *start
                        + grouped[*start..]
                            .iter()
                            .take_while(|r| record_key(r) >> 61 == g)
                            .count();
                    let range = *start..end;
                    *start = end;
                    Some(range)
                })
                .collect();
            assert_eq!(SessionTable::build_in_groups(grouped, &groups), table);
            // By key, the last of a repeated key kept.
            let expected: Vec<(u64, u64)> = pairs
                .iter()
                .copied()
                .collect::<std::collections::BTreeMap<_, _>>()
                .into_iter()
                .collect();
            assert_eq!(*table.records, records(&expected)[..]);
            for (online, order) in [(true, &table.online), (false, &table.idle)] {
                let mut want: Vec<(i64, u64, u32)> = (0u32..)
                    .zip(&expected)
                    .filter(|(_, e)| unpack(e.1).1 == online)
                    .map(|(i, e)| (unpack(e.1).0, e.0, i))
                    .collect();
                want.sort_unstable();
                let want: Vec<u32> = want.into_iter().map(|w| w.2).collect();
                assert_eq!(indices(order), want, "n {n}, online {online}");
            }
        }
    }

    /// A few records whose keys span half the key space or more (one bucket, shifted by 64),
    /// as a format 1 or 2 file's sessions are laid out in one group when restored.
    #[test]
    fn build_sorts_a_few_keys_spread_over_the_whole_key_space() {
        for n in [2u64, 3, 15, 16, 17] {
            let input: Vec<Record> = (0..n)
                .map(|i| record(u64::MAX - i * (u64::MAX / n), pack(i as i64, i % 2 == 0)))
                .collect();
            let table = SessionTable::build(input);
            table.validate().unwrap();
            let keys: Vec<u64> = table
                .records
                .chunks(RECORD)
                .map(|r| read_record(r).0)
                .collect();
            assert!(keys.windows(2).all(|w| w[0] < w[1]), "n {n}: {keys:?}");
            assert_eq!(keys.len() as u64, n);
        }
    }

    /// Tables with one byte or index changed, or none: the branch-free vetting pass accepts
    /// exactly those the pass that names faults finds none in.
    #[test]
    fn the_fast_vetting_pass_agrees_with_the_one_that_names_faults() {
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        let (mut faults, mut sound) = (0, 0);
        for round in 0..3_000 {
            let n = next() % 200;
            let input = (0..n)
                .map(|_| {
                    record(
                        next() % (5 * n + 1),
                        pack((next() % 50) as i64, next().is_multiple_of(2)),
                    )
                })
                .collect::<Vec<_>>();
            let good = SessionTable::build(input);
            let mut parts = [
                good.records.to_vec(),
                good.online.to_vec(),
                good.idle.to_vec(),
            ];
            // Most rounds: one byte or one index of one part changed, or the orders' lengths;
            // some left as built.
            if round % 8 != 0 && next().is_multiple_of(4) {
                // Bytes moved from one order to the other (the total still whole), cut off, or
                // an order's first index named again at its end.
                let [_, online, idle] = &mut parts;
                let (from, to) = match next() % 2 {
                    0 => (online, idle),
                    _ => (idle, online),
                };
                let cut = from.len().min(1 + (next() % 8) as usize);
                match next() % 3 {
                    0 => to.extend(from.split_off(from.len() - cut)),
                    1 => from.truncate(from.len() - cut),
                    _ => {
                        let first = from.get(..INDEX).unwrap_or_default().to_vec();
                        from.extend(first);
                    }
                }
            } else if round % 8 != 0 {
                let part = &mut parts[(next() % 3) as usize];
                if !part.is_empty() {
                    let at = (next() % part.len() as u64) as usize;
                    match next() % 3 {
                        0 => part[at] ^= 1 << (next() % 8),
                        1 => part[at] = part[at].wrapping_add(1),
                        _ => {
                            // Four bytes copied over the next four: in an order, an index
                            // named twice.
                            let w = at / INDEX * INDEX;
                            if w >= INDEX {
                                part.copy_within(w - INDEX..w, w);
                            }
                        }
                    }
                }
            }
            let [records, online, idle] = parts;
            let table = SessionTable {
                records: Bytes(Cow::Owned(records)),
                online: Bytes(Cow::Owned(online)),
                idle: Bytes(Cow::Owned(idle)),
            };
            let fast = table.holds_together();
            assert_eq!(fast, table.first_fault().is_ok(), "round {round}");
            assert_eq!(fast, table.validate().is_ok(), "round {round}");
            if fast {
                sound += 1;
            } else {
                faults += 1;
            }
        }
        // Both outcomes were reached often.
        assert!(
            faults > 700 && sound > 500,
            "{faults} faults, {sound} sound"
        );
    }

    #[test]
    fn validate_refuses_what_reading_in_place_relies_on() {
        let good = SessionTable::build(vec![record(3, pack(5, true)), record(9, pack(7, false))]);
        good.validate().unwrap();
        let with = |records: Vec<u8>, online: Vec<u8>, idle: Vec<u8>| {
            SessionTable {
                records: Bytes(Cow::Owned(records)),
                online: Bytes(Cow::Owned(online)),
                idle: Bytes(Cow::Owned(idle)),
            }
            .validate()
            .unwrap_err()
        };
        let (on, off) = (good.online.to_vec(), good.idle.to_vec());
        let idx = |i: u32| i.to_le_bytes().to_vec();
        let cases = [
            (
                with(good.records[..20].to_vec(), on.clone(), off.clone()),
                "whole",
            ),
            (
                with(
                    records(&[(9, pack(7, false)), (3, pack(5, true))]),
                    idx(1),
                    idx(0),
                ),
                "out of order",
            ),
            (
                with(
                    records(&[(3, pack(5, true)), (3, pack(7, false))]),
                    on.clone(),
                    off.clone(),
                ),
                "repeated",
            ),
            (
                with(records(&[(3, pack(MIN_NS - 1, true))]), idx(0), vec![]),
                "out of range",
            ),
            (
                with(good.records.to_vec(), vec![], off.clone()),
                "online order has 0 bytes for 1",
            ),
            (
                with(good.records.to_vec(), on.clone(), vec![]),
                "idle order has 0 bytes for 1",
            ),
            (
                with(good.records.to_vec(), on.clone(), vec![0; 3]),
                "idle order has 3 bytes",
            ),
        ];
        for (err, want) in cases {
            assert!(err.contains(want), "{err:?} lacks {want:?}");
        }
        // What the orders name is vetted where it is read (see `restored.rs`): a table whose
        // orders name a record past the table, one record twice, or records of the other kind
        // is accepted here.
        let two_online = records(&[(3, pack(5, true)), (9, pack(7, true))]);
        for (records, online, idle) in [
            (good.records.to_vec(), on.clone(), idx(2)),
            (two_online, [idx(0), idx(0)].concat(), vec![]),
            (good.records.to_vec(), idx(1), idx(0)),
        ] {
            let table = SessionTable {
                records: Bytes(Cow::Owned(records)),
                online: Bytes(Cow::Owned(online)),
                idle: Bytes(Cow::Owned(idle)),
            };
            table.validate().unwrap();
        }
    }
}
