//! Sessions restored from a snapshot, read in place from the snapshot's bytes until each
//! visitor comes back or expires.
//!
//! Rebuilding a session table at load would cost one hash-table insert and one heap entry per
//! session: for a million sessions, many times the cost of reading the file. So a snapshot holds
//! its sessions already in the two orders the table needs (see
//! [`SessionTable`](crate::visitors::saved::SessionTable)): the records
//! sorted by session key, to look a visitor up, and the indices of the online and of the idle
//! records sorted by time, to expire them. A restored counter keeps those bytes
//! ([`RestoredColumn`]) and reads them where they are:
//! - each session shard owns the records of its key range ([`RestoredShard`]) and a bitmap of
//!   those it has taken out. A page view by a visitor its table does not hold looks the visitor
//!   up there (an interpolation search: session keys are uniform hashes, so a few probes) and
//!   takes the record into the table, where it continues as if it had never left;
//! - each expiry queue reads its time order through a cursor ([`Ordered`]) merged with its heap,
//!   and upkeep takes each record into the table when its turn comes, as it would a queue entry.
//!
//! Loading costs one sequential pass over the records to vet them; the work the rebuild would
//! have done at once is done per visitor, later, by the page view or upkeep that needs it.
//!
//! # Memory
//! A snapshot decoded in place is kept whole (its sessions are nearly all of it) while it is
//! read. A queue moves the rest of its cursor into its heap once at most a sixteenth of the
//! order is left, when the order turns out not to be sorted, or when upkeep finds the cursor's
//! next entry later than the present (sessions stamped in the future); once both cursors are
//! gone, upkeep takes the shards' last restored sessions into their tables, and the bytes are
//! released. With sessions in the past, that is within `session_timeout` of the load (as time
//! goes on and upkeep runs). Each cursor also keeps a bit per record, to notice a record named
//! twice (see "Trust").
//!
//! # Trust
//! [`SessionTable::validate`](crate::visitors::saved::SessionTable) checks at the load what
//! lookups and the counts rely on: whole records, keys strictly increasing, instants in range,
//! and orders as long as the records of their kind (so the online count, the online order's
//! length, is the number of records flagged online). What each order names is vetted by the
//! cursor that reads it, not by a pass at the load: a cursor passes over an entry that names no
//! record, a record of the other kind or a record named before, and notes the order as faulty.
//! Such an order leaves some record of its kind named by no entry, in no queue: so when a
//! faulty order has been read through (or moved into the heap), the records of its kind that no
//! entry named are queued, whether a page view took them in meanwhile or not (an entry for a
//! session that moved on since is stale, and upkeep passes over it). Nor is each order checked
//! to be sorted by time, which would take a random read per session: a cursor that meets an
//! entry earlier than the one before moves the rest of its order into its heap. So a file
//! crafted with bad orders (and a recomputed checksum) can at worst make restored sessions
//! expire late (those behind an entry that is out of order wait for it, those no entry names
//! wait for their order to be read through) and make eviction over `max_sessions` forget a
//! session out of turn (an entry out of order comes up early, a record no entry names late),
//! never anything panic or a count go wrong.

use std::ops::Range;
use std::sync::Arc;

use std::borrow::Cow;

use crate::common::bounded::Bytes;
use crate::visitors::saved::{SavedSessions, INDEX, RECORD};

/// Bytes shared by everything that reads them, and the range of them that is meant.
#[derive(Clone)]
struct Part {
    bytes: Arc<Vec<u8>>,
    range: Range<usize>,
}

impl Part {
    fn len(&self) -> usize {
        self.range.len()
    }

    /// The `n` bytes at `at` within the range.
    #[inline]
    fn get<const N: usize>(&self, at: usize) -> Option<[u8; N]> {
        let start = self.range.start.checked_add(at)?;
        let end = start.checked_add(N)?;
        if end > self.range.end {
            return None;
        }
        self.bytes.get(start..end)?.try_into().ok()
    }
}

/// A snapshot's session records and time orders, shared by the shards and queues that read
/// them. Cloning shares the bytes.
#[derive(Clone)]
pub(crate) struct RestoredColumn {
    records: Part,
    online: Part,
    idle: Part,
}

impl RestoredColumn {
    /// The vetted sessions of a decoded snapshot. When they are a table whose byte strings lie in
    /// `file` (a format 3 file, decoded in place), the column shares `file`; otherwise it owns
    /// them (an older file's sessions, laid out as a table now).
    pub(crate) fn new(sessions: SavedSessions<'_>, file: &Arc<Vec<u8>>) -> RestoredColumn {
        let table = match sessions {
            SavedSessions::Table(table) => table,
            SavedSessions::Older(column) => column.to_table(),
        };
        let part = |bytes: Bytes<'_>| {
            if let Cow::Borrowed(b) = &bytes.0 {
                let start = (b.as_ptr() as usize).wrapping_sub(file.as_ptr() as usize);
                if start <= file.len() && b.len() <= file.len() - start {
                    return Part {
                        bytes: file.clone(),
                        range: start..start + b.len(),
                    };
                }
            }
            let owned = bytes.0.into_owned();
            Part {
                range: 0..owned.len(),
                bytes: Arc::new(owned),
            }
        };
        RestoredColumn {
            records: part(table.records),
            online: part(table.online),
            idle: part(table.idle),
        }
    }

    /// Records held.
    pub(crate) fn len(&self) -> usize {
        self.records.len() / RECORD
    }

    /// Records flagged online.
    pub(crate) fn online_len(&self) -> usize {
        self.online.len() / INDEX
    }

    /// The session key of record `i`.
    #[inline]
    pub(crate) fn key(&self, i: usize) -> u64 {
        self.records
            .get(i.wrapping_mul(RECORD))
            .map_or(0, u64::from_le_bytes)
    }

    /// The last page view and online flag of record `i`, packed.
    #[inline]
    pub(crate) fn packed(&self, i: usize) -> u64 {
        self.records
            .get(i.wrapping_mul(RECORD).wrapping_add(8))
            .map_or(0, u64::from_le_bytes)
    }

    /// `(last page view, session key)` of record `i`: its entry in an expiry queue.
    #[inline]
    fn queued(&self, i: usize) -> (i64, u64) {
        let (last_seen, _) = crate::calendar::clock::unpack(self.packed(i));
        (last_seen, self.key(i))
    }

    /// The order of `kind`.
    fn order(&self, kind: Kind) -> &Part {
        match kind {
            Kind::Online => &self.online,
            Kind::Idle => &self.idle,
        }
    }

    /// The record index at position `j` of the order of `kind`.
    fn index(&self, kind: Kind, j: usize) -> Option<usize> {
        let b = self.order(kind).get(j.checked_mul(INDEX)?)?;
        Some(u32::from_le_bytes(b) as usize)
    }

    /// The first record whose key is at least `key`.
    pub(crate) fn partition_point(&self, key: u64) -> usize {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.key(mid) < key {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// The record of `key` among records `lo..hi`. Interpolates on the keys (uniform hashes)
    /// for a few steps, then bisects, so it is O(log n) whatever the keys are.
    pub(crate) fn find(&self, key: u64, lo: usize, hi: usize) -> Option<usize> {
        let (mut lo, mut hi) = (lo, hi.min(self.len()));
        let mut guesses = 4;
        while lo < hi {
            let (first, last) = (self.key(lo), self.key(hi - 1));
            if key <= first || key >= last {
                return [(first, lo), (last, hi - 1)]
                    .into_iter()
                    .find(|&(k, _)| k == key)
                    .map(|(_, i)| i);
            }
            // first < key < last, so `mid` falls in lo..hi - 1.
            let mid = if guesses > 0 {
                guesses -= 1;
                let span = u128::from(last - first);
                let offset = u128::from(key - first) * (hi - 1 - lo) as u128;
                lo + (offset / span) as usize
            } else {
                lo + (hi - lo) / 2
            };
            match self.key(mid).cmp(&key) {
                std::cmp::Ordering::Equal => return Some(mid),
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
            }
        }
        None
    }
}

/// One session shard's part of a [`RestoredColumn`]: the records of its key range and which
/// of them it has taken out. Lives under the shard's lock.
pub(crate) struct RestoredShard {
    column: RestoredColumn,
    lo: usize,
    hi: usize,
    /// One bit per record of `lo..hi`: set once taken.
    taken: Vec<u64>,
    left: usize,
}

impl RestoredShard {
    /// Records `lo..hi` of `column`; `None` when there are none.
    pub(crate) fn new(column: RestoredColumn, lo: usize, hi: usize) -> Option<RestoredShard> {
        (lo < hi).then(|| RestoredShard {
            taken: vec![0; (hi - lo).div_ceil(64)],
            left: hi - lo,
            column,
            lo,
            hi,
        })
    }

    /// Takes the record of `key` out: its packed word, unless it is not held or was taken.
    #[inline]
    pub(crate) fn take(&mut self, key: u64) -> Option<u64> {
        let i = self.column.find(key, self.lo, self.hi)?;
        let (word, bit) = ((i - self.lo) / 64, 1u64 << ((i - self.lo) % 64));
        let w = self.taken.get_mut(word)?;
        if *w & bit != 0 {
            return None;
        }
        *w |= bit;
        self.left -= 1;
        Some(self.column.packed(i))
    }

    /// Whether every record has been taken (the shard can drop its part).
    pub(crate) fn is_spent(&self) -> bool {
        self.left == 0
    }

    /// `(key, packed)` of each record not taken yet, in key order.
    pub(crate) fn remaining(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        (self.lo..self.hi)
            .filter(|&i| {
                let i = i - self.lo;
                self.taken
                    .get(i / 64)
                    .is_some_and(|w| w & (1 << (i % 64)) == 0)
            })
            .map(|i| (self.column.key(i), self.column.packed(i)))
    }
}

/// Which time order a cursor reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Online,
    Idle,
}

/// A cursor over one time order of a [`RestoredColumn`]: the restored part of an expiry queue.
///
/// It vets the order as it reads it (see "Trust"): it passes over an entry that names no
/// record, a record of the other kind or a record named before, and notes that the order is
/// faulty.
pub(crate) struct Ordered {
    column: RestoredColumn,
    kind: Kind,
    pos: usize,
    /// Entries in the order.
    len: usize,
    /// One bit per record: set once an entry named it.
    named: Vec<u64>,
    faulty: bool,
}

impl Ordered {
    /// A cursor at the first sound entry of the `kind` order (at its end when there is none).
    pub(crate) fn new(column: RestoredColumn, kind: Kind) -> Ordered {
        let mut cursor = Ordered {
            named: vec![0; column.len().div_ceil(64)],
            len: column.order(kind).len() / INDEX,
            column,
            kind,
            pos: 0,
            faulty: false,
        };
        cursor.settle();
        cursor
    }

    /// `(last page view, session key)` of the record at the cursor; `None` at the end.
    #[inline]
    pub(crate) fn peek(&self) -> Option<(i64, u64)> {
        let i = self.column.index(self.kind, self.pos)?;
        Some(self.column.queued(i))
    }

    /// Whether some entry passed over so far named no record, a record of the other kind or
    /// one named before (so some record may be named by no entry).
    #[cfg(test)]
    fn is_faulty(&self) -> bool {
        self.faulty
    }

    /// Whether an entry passed so far named record `i` (true past the table).
    fn was_named(&self, i: usize) -> bool {
        self.named
            .get(i / 64)
            .is_none_or(|w| w & (1 << (i % 64)) != 0)
    }

    /// Whether record `i` is flagged as the cursor's kind.
    fn of_kind(&self, i: usize) -> bool {
        self.column.packed(i) >> 63 == u64::from(self.kind == Kind::Online)
    }

    /// Notes the record at the cursor as named, and moves to the next sound entry.
    fn step(&mut self) {
        if let Some(i) = self.column.index(self.kind, self.pos) {
            if let Some(w) = self.named.get_mut(i / 64) {
                *w |= 1 << (i % 64);
            }
        }
        self.pos += 1;
        self.settle();
    }

    /// Moves past unsound entries, from the cursor on.
    fn settle(&mut self) {
        while self.pos < self.len {
            let sound = self
                .column
                .index(self.kind, self.pos)
                .is_some_and(|i| i < self.column.len() && self.of_kind(i) && !self.was_named(i));
            if sound {
                return;
            }
            self.faulty = true;
            self.pos += 1;
        }
    }

    /// Moves past the record at the cursor. Returns whether the cursor should go on: false when
    /// the order is through, when at most a sixteenth of it is left, or when the next entry is
    /// earlier than the one passed (the order is not sorted); the caller then moves what is
    /// left ([`Ordered::rest`]) into its heap.
    pub(crate) fn advance(&mut self) -> bool {
        let passed = self.peek();
        self.step();
        let left = self.len.saturating_sub(self.pos);
        left * 16 > self.len && self.peek().is_some_and(|next| Some(next) >= passed)
    }

    /// Once the order is read through, the queue entry of each record of its kind that no
    /// entry named (see "Trust"): none for a sound order, which names them all (so its records
    /// are not even looked at).
    pub(crate) fn unnamed(&self) -> impl Iterator<Item = (i64, u64)> + '_ {
        let records = if self.faulty { self.column.len() } else { 0 };
        (0..records)
            .filter(|&i| self.of_kind(i) && !self.was_named(i))
            .map(|i| self.column.queued(i))
    }

    /// The sound entries from the cursor on, read to the end.
    pub(crate) fn rest(&mut self) -> impl Iterator<Item = (i64, u64)> + '_ {
        std::iter::from_fn(|| {
            let entry = self.peek()?;
            self.step();
            Some(entry)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::clock::pack;
    use crate::visitors::saved::{record, SessionTable};
    use std::borrow::Cow;

    fn column(pairs: Vec<(u64, u64)>) -> RestoredColumn {
        RestoredColumn::new(
            SavedSessions::Table(SessionTable::build(
                pairs.iter().map(|&(k, p)| record(k, p)).collect(),
            )),
            &Arc::new(Vec::new()),
        )
    }

    #[test]
    fn find_locates_every_key_and_nothing_else_whatever_the_spread() {
        let spreads: [&dyn Fn(u64) -> u64; 4] = [
            &|i| crate::ids::mix64(i),
            &|i| i * 3 + 1,
            // Clustered: most keys tiny, a few huge (interpolation guesses badly).
            &|i| if i % 100 == 0 { u64::MAX - i } else { i },
            &|i| 1 << (i % 64) | i << 1,
        ];
        for spread in spreads {
            let mut keys: Vec<u64> = (0..3000).map(spread).collect();
            keys.sort_unstable();
            keys.dedup();
            let c = column(keys.iter().map(|&k| (k, pack(0, false))).collect());
            for (i, &k) in keys.iter().enumerate() {
                assert_eq!(c.find(k, 0, c.len()), Some(i));
                for absent in [k.wrapping_add(1), k.wrapping_sub(1)] {
                    if keys.binary_search(&absent).is_err() {
                        assert_eq!(c.find(absent, 0, c.len()), None);
                    }
                }
            }
            assert_eq!(c.find(0, 0, 0), None);
            assert_eq!(c.partition_point(keys[10]), 10);
        }
    }

    #[test]
    fn a_shard_takes_each_record_once_and_lists_the_rest() {
        let c = column(
            (1..=100)
                .map(|k| (k * 10, pack(k as i64, k % 2 == 0)))
                .collect(),
        );
        let mut s = RestoredShard::new(c.clone(), 10, 20).unwrap();
        assert_eq!(s.take(110), Some(pack(11, false)));
        assert_eq!(s.take(110), None);
        // Outside the shard's range, or not a key at all.
        assert_eq!(s.take(50), None);
        assert_eq!(s.take(115), None);
        let rest: Vec<u64> = s.remaining().map(|(k, _)| k).collect();
        assert_eq!(rest, vec![120, 130, 140, 150, 160, 170, 180, 190, 200]);
        for k in rest {
            assert!(s.take(k).is_some());
        }
        assert!(s.is_spent());
        assert!(RestoredShard::new(c, 5, 5).is_none());
    }

    /// Every entry a cursor gives, stepping with `advance` until it says stop and reading the
    /// rest, and whether it found the order faulty.
    fn read(c: &RestoredColumn, kind: Kind) -> (Vec<(i64, u64)>, bool) {
        let mut o = Ordered::new(c.clone(), kind);
        let mut out = Vec::new();
        while let Some(entry) = o.peek() {
            out.push(entry);
            if !o.advance() {
                break;
            }
        }
        out.extend(o.rest());
        (out, o.is_faulty())
    }

    #[test]
    fn cursors_read_each_kind_in_time_order() {
        let c = column(vec![
            (5, pack(30, true)),
            (1, pack(20, false)),
            (9, pack(10, true)),
            (3, pack(10, true)),
            (7, pack(5, false)),
        ]);
        assert_eq!(
            read(&c, Kind::Online),
            (vec![(10, 3), (10, 9), (30, 5)], false)
        );
        assert_eq!(read(&c, Kind::Idle), (vec![(5, 7), (20, 1)], false));
        assert_eq!(c.online_len(), 3);
    }

    #[test]
    fn a_cursor_passes_over_entries_that_name_no_record_the_wrong_kind_or_a_record_again() {
        // Keys 1 to 6, online when odd, last seen at ten times the key.
        let records: Vec<u8> = (1..=6u64)
            .flat_map(|k| record(k, pack(10 * k as i64, k % 2 == 1)))
            .collect();
        let order = |indices: &[u32]| -> Bytes<'static> {
            Bytes(Cow::Owned(
                indices.iter().flat_map(|i| i.to_le_bytes()).collect(),
            ))
        };
        let with = |online: &[u32], idle: &[u32]| {
            let table = SessionTable {
                records: Bytes(Cow::Owned(records.clone())),
                online: order(online),
                idle: order(idle),
            };
            RestoredColumn::new(SavedSessions::Table(table), &Arc::new(Vec::new()))
        };
        // Sound entries are read in order; each unsound one is passed over.
        let c = with(&[0, 9, 1, 2, 0, 4, u32::MAX], &[1, 7, 3, 3]);
        assert_eq!(
            read(&c, Kind::Online),
            (vec![(10, 1), (30, 3), (50, 5)], true)
        );
        assert_eq!(read(&c, Kind::Idle), (vec![(20, 2), (40, 4)], true));
        // An order of nothing but unsound entries: the cursor starts at its end.
        let c = with(&[1, 3, 7], &[0]);
        let o = Ordered::new(c.clone(), Kind::Online);
        assert!(o.peek().is_none() && o.is_faulty());
        // Sound orders are not faulty, unsorted or not.
        let c = with(&[4, 0, 2], &[5, 3, 1]);
        assert!(!read(&c, Kind::Online).1 && !read(&c, Kind::Idle).1);
    }
}
