//! What a snapshot holds: the payload of each format version.
//!
//! Format 2 ([`StateV2`]) is what this release writes. Its sessions are one byte column of
//! fixed 16-byte records ([`SessionColumn`]), decoded in place from the file's bytes, because a
//! site's sessions are nearly all of a snapshot. Format 1 ([`StateV1`]) held them as a list of
//! structs; it is still read and converted.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, Error, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::clock::{held, pack, unpack};
use crate::ids::{ArticleId, VisitorId};
use crate::periods::PeriodBuckets;
use crate::traffic::{Tally, TrafficCounts};
use crate::unique::UniqueCounts;

/// Format version 2: format 1 with the sessions in a [`SessionColumn`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct StateV2<'a> {
    /// The instant the snapshot was taken (nanoseconds since the Unix epoch).
    pub saved_at: i64,
    pub calendar: SavedCalendar,
    /// The builder's `initial_total` when the counter was first created.
    pub initial: Tally,
    pub traffic: TrafficCounts,
    pub unique: UniqueCounts,
    #[serde(borrow)]
    pub sessions: SessionColumn<'a>,
    #[serde(deserialize_with = "super::bounded::vec")]
    pub articles: Vec<(ArticleId, PeriodBuckets<u64>)>,
    #[serde(deserialize_with = "super::bounded::vec")]
    pub article_dedup: Vec<SavedDedup>,
}

impl StateV2<'_> {
    /// Checks everything a restore relies on, so that a decoded state is either refused here or
    /// safe to use (no index out of range, no instant out of range later).
    pub(crate) fn validate(&self) -> Result<(), String> {
        let in_range = |t: Option<i64>| t.is_some_and(held);
        if !in_range(Some(self.saved_at)) {
            return Err("the save instant is out of range".into());
        }
        if !(self.traffic.periods.is_well_formed() && self.traffic.days.is_well_formed()) {
            return Err("malformed visit and page view counters".into());
        }
        if !self.unique.is_well_formed() {
            return Err("malformed unique-visitor sketches".into());
        }
        if self.calendar.week_start > 6 {
            return Err(format!(
                "week start day {} is not 0 to 6",
                self.calendar.week_start
            ));
        }
        self.sessions.validate()?;
        if let Some((id, _)) = self.articles.iter().find(|(_, b)| !b.is_well_formed()) {
            return Err(format!("article {id}: malformed counters"));
        }
        if let Some(d) = self
            .article_dedup
            .iter()
            .find(|d| !in_range(self.saved_at.checked_sub(d.age)))
        {
            return Err(format!("article {} view: instant out of range", d.article));
        }
        Ok(())
    }
}

/// Every tracked session. Format 2 writes them as 16-byte records: the visitor id (`u64`
/// little-endian), then its last page view and online flag [`pack`]ed in a `u64` little-endian
/// (bit 63: online; bits 0..63: nanoseconds from 2000-01-01T00:00Z, two's complement), all in
/// one byte string (its length, then the bytes), so decoding borrows the records from the file
/// and allocates nothing. A format 1 file's sessions are kept as decoded and read through the
/// same [`SessionColumn::iter`].
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SessionColumn<'a>(Repr<'a>);

#[derive(Clone, PartialEq, Eq)]
enum Repr<'a> {
    /// Format 2's records.
    Packed(Cow<'a, [u8]>),
    /// Format 1's sessions, with instants as ages before `saved_at`.
    Aged {
        saved_at: i64,
        records: Vec<SavedSession>,
    },
}

const RECORD: usize = 16;

impl SessionColumn<'static> {
    pub(crate) fn with_capacity(sessions: usize) -> Self {
        SessionColumn(Repr::Packed(Cow::Owned(Vec::with_capacity(
            sessions.saturating_mul(RECORD),
        ))))
    }

    /// Appends a session whose last page view and online flag are already [`pack`]ed.
    #[inline]
    pub(crate) fn push_packed(&mut self, visitor: u64, packed: u64) {
        if let Repr::Packed(bytes) = &mut self.0 {
            let bytes = bytes.to_mut();
            bytes.extend_from_slice(&visitor.to_le_bytes());
            bytes.extend_from_slice(&packed.to_le_bytes());
        }
    }
}

impl SessionColumn<'_> {
    /// Sessions held.
    pub(crate) fn len(&self) -> usize {
        match &self.0 {
            Repr::Packed(bytes) => bytes.len() / RECORD,
            Repr::Aged { records, .. } => records.len(),
        }
    }

    /// `(visitor, last page view, online)` of each session, in order. An instant that is out
    /// of range (which [`StateV2::validate`] refuses) comes out as `i64::MIN`.
    pub(crate) fn iter(&self) -> SessionIter<'_> {
        match &self.0 {
            Repr::Packed(bytes) => SessionIter::Packed(bytes.chunks_exact(RECORD)),
            Repr::Aged { saved_at, records } => SessionIter::Aged(*saved_at, records.iter()),
        }
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
#[derive(Clone)]
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
                let word =
                    |i: usize| u64::from_le_bytes(r[i..i + 8].try_into().unwrap_or_default());
                let (last_seen, online) = unpack(word(8));
                (word(0), last_seen, online)
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

impl Serialize for SessionColumn<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Repr::Packed(bytes) => s.serialize_bytes(bytes),
            Repr::Aged { .. } => {
                let mut packed = SessionColumn::with_capacity(self.len());
                for (v, last_seen, online) in self.iter() {
                    packed.push_packed(v, pack(last_seen, online));
                }
                packed.serialize(s)
            }
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for SessionColumn<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Cow<'de, [u8]>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte string of session records")
            }
            fn visit_borrowed_bytes<E: Error>(self, v: &'de [u8]) -> Result<Self::Value, E> {
                Ok(Cow::Borrowed(v))
            }
            // A decoder that cannot lend its input hands over bytes it has read: copying them
            // allocates no more than what was actually there.
            fn visit_bytes<E: Error>(self, v: &[u8]) -> Result<Self::Value, E> {
                Ok(Cow::Owned(v.to_vec()))
            }
        }
        Ok(SessionColumn(Repr::Packed(d.deserialize_bytes(V)?)))
    }
}

/// Format version 1: sessions as a list of [`SavedSession`]s (17 bytes each).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub(crate) struct StateV1 {
    pub saved_at: i64,
    pub calendar: SavedCalendar,
    pub initial: Tally,
    pub traffic: TrafficCounts,
    pub unique: UniqueCounts,
    #[serde(deserialize_with = "super::bounded::vec")]
    pub sessions: Vec<SavedSession>,
    #[serde(deserialize_with = "super::bounded::vec")]
    pub articles: Vec<(ArticleId, PeriodBuckets<u64>)>,
    #[serde(deserialize_with = "super::bounded::vec")]
    pub article_dedup: Vec<SavedDedup>,
}

impl From<StateV1> for StateV2<'static> {
    /// Format 1 as format 2; the sessions stay as decoded (see [`SessionColumn`]).
    fn from(v1: StateV1) -> Self {
        StateV2 {
            saved_at: v1.saved_at,
            calendar: v1.calendar,
            initial: v1.initial,
            traffic: v1.traffic,
            unique: v1.unique,
            sessions: SessionColumn(Repr::Aged {
                saved_at: v1.saved_at,
                records: v1.sessions,
            }),
            articles: v1.articles,
            article_dedup: v1.article_dedup,
        }
    }
}

/// The calendar the counts were bucketed with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct SavedCalendar {
    /// `UTC+07:00:00` or an IANA name.
    #[serde(deserialize_with = "super::bounded::string")]
    pub zone: String,
    /// Days from Monday (0 = Monday).
    pub week_start: u8,
}

/// A tracked session in format 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub(crate) struct SavedSession {
    pub visitor: VisitorId,
    /// `saved_at - last_seen`.
    pub age: i64,
    pub online: bool,
}

/// When a visitor's view of an article was last counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SavedDedup {
    pub article: ArticleId,
    pub visitor: VisitorId,
    /// `saved_at - counted_at`.
    pub age: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{MAX_NS, MIN_NS};

    #[test]
    fn the_session_column_round_trips_and_refuses_partial_records() {
        let mut c = SessionColumn::with_capacity(2);
        c.push_packed(7, pack(MIN_NS, true));
        c.push_packed(u64::MAX, pack(MAX_NS, false));
        assert_eq!(
            c.iter().collect::<Vec<_>>(),
            vec![(7, MIN_NS, true), (u64::MAX, MAX_NS, false)]
        );
        assert_eq!(c.len(), 2);
        assert!(c.validate().is_ok());
        let Repr::Packed(bytes) = &c.0 else {
            unreachable!()
        };
        let short = SessionColumn(Repr::Packed(Cow::Borrowed(&bytes[..bytes.len() - 1])));
        assert!(short
            .validate()
            .unwrap_err()
            .contains("whole 16-byte records"));
        // The one word that unpacks to an instant out of range.
        let mut out = SessionColumn::with_capacity(1);
        out.push_packed(1, pack(MIN_NS - 1, false));
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
}
