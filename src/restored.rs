//! Sessions restored from a snapshot, read in place from the snapshot's bytes until each
//! visitor comes back or expires.
//!
//! Rebuilding a session table at load would cost one hash-table insert and one heap entry per
//! session: for a million sessions, many times the cost of reading the file. So a snapshot holds
//! its sessions already in the two orders the table needs (see
//! [`SessionTable`](crate::snapshot::state::SessionTable)): the records
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
//! Loading costs a few sequential passes over the bytes to vet them; the work the rebuild would
//! have done at once is done per visitor, later, by the page view or upkeep that needs it.
//!
//! # Memory
//! A snapshot decoded in place is kept whole (its sessions are nearly all of it) while it is
//! read. A queue moves the rest of its cursor into its heap once at most a sixteenth of the
//! order is left, when the order turns out not to be sorted, or when upkeep finds the cursor's
//! next entry later than the present (sessions stamped in the future); once both cursors are
//! gone, upkeep takes the shards' last restored sessions into their tables, and the bytes are
//! released. With sessions in the past, that is within `session_timeout` of the load (as time
//! goes on and upkeep runs).
//!
//! # Trust
//! [`SessionTable::validate`](crate::snapshot::state::SessionTable) checks what lookups and the
//! counts rely on: whole records, keys strictly increasing, instants in range, and orders that
//! name every record once, each in the order of its kind. It does not check that each order is
//! sorted by time, which would take a random read per session: a cursor that meets an entry
//! earlier than the one before moves the rest of its order into its heap, so a file crafted
//! with unsorted orders (and a recomputed checksum) can at worst make restored sessions expire
//! late (those behind an entry that is out of order wait for it), never anything panic or a
//! count go below zero.

use std::ops::Range;
use std::sync::Arc;

use std::borrow::Cow;

use crate::snapshot::state::{Bytes, SavedSessions, INDEX, RECORD};

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
pub(crate) struct Ordered {
    column: RestoredColumn,
    kind: Kind,
    pos: usize,
}

impl Ordered {
    /// A cursor at the start of the `kind` order; `None` when that order is empty.
    pub(crate) fn new(column: RestoredColumn, kind: Kind) -> Option<Ordered> {
        let cursor = Ordered {
            column,
            kind,
            pos: 0,
        };
        cursor.peek().is_some().then_some(cursor)
    }

    /// `(last page view, session key)` of the record at the cursor.
    #[inline]
    pub(crate) fn peek(&self) -> Option<(i64, u64)> {
        self.at(self.pos)
    }

    fn at(&self, j: usize) -> Option<(i64, u64)> {
        let i = self.column.index(self.kind, j)?;
        let (last_seen, _) = crate::clock::unpack(self.column.packed(i));
        Some((last_seen, self.column.key(i)))
    }

    /// Moves past the record at the cursor. Returns whether the cursor should go on: false when
    /// the order is through, when at most a sixteenth of it is left, or when the next entry is
    /// earlier than the one passed (the order is not sorted); the caller then moves what is
    /// left ([`Ordered::rest`]) into its heap.
    pub(crate) fn advance(&mut self) -> bool {
        let passed = self.peek();
        self.pos += 1;
        let len = self.column.order(self.kind).len() / INDEX;
        let left = len.saturating_sub(self.pos);
        left * 16 > len && self.peek().is_some_and(|next| Some(next) >= passed)
    }

    /// The entries from the cursor on.
    pub(crate) fn rest(&self) -> impl Iterator<Item = (i64, u64)> + '_ {
        (self.pos..).map_while(|j| self.at(j))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::pack;
    use crate::snapshot::state::{record, SessionTable};

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

    #[test]
    fn cursors_read_each_kind_in_time_order() {
        let c = column(vec![
            (5, pack(30, true)),
            (1, pack(20, false)),
            (9, pack(10, true)),
            (3, pack(10, true)),
            (7, pack(5, false)),
        ]);
        let read = |kind| {
            let mut out = Vec::new();
            if let Some(mut o) = Ordered::new(c.clone(), kind) {
                loop {
                    out.push(o.peek().unwrap());
                    if !o.advance() {
                        break;
                    }
                }
            }
            out
        };
        assert_eq!(read(Kind::Online), vec![(10, 3), (10, 9), (30, 5)]);
        assert_eq!(read(Kind::Idle), vec![(5, 7), (20, 1)]);
        assert_eq!(c.online_len(), 3);
    }
}
