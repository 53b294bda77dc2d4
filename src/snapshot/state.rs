//! What a snapshot holds: format version 1's payload.
//!
//! Instants are stored relative to `saved_at` (nanoseconds before it), which keeps varint
//! encoding short: a session costs about 16 bytes.

use serde::{Deserialize, Serialize};

use crate::ids::{ArticleId, VisitorId};
use crate::periods::PeriodBuckets;
use crate::traffic::{Tally, TrafficCounts};
use crate::unique::UniqueCounts;

/// Format version 1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct StateV1 {
    /// The instant the snapshot was taken (nanoseconds since the Unix epoch).
    pub saved_at: i64,
    pub calendar: SavedCalendar,
    /// The builder's `initial_total` when the counter was first created.
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

/// The calendar the counts were bucketed with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct SavedCalendar {
    /// `UTC+07:00:00` or an IANA name.
    pub zone: String,
    /// Days from Monday (0 = Monday).
    pub week_start: u8,
}

/// A tracked session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
