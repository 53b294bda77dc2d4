//! What a snapshot holds: format version 1's payload.
//!
//! Instants are stored relative to `saved_at` (nanoseconds before it), which keeps varint
//! encoding short: a session costs about 16 bytes.

use serde::{Deserialize, Serialize};

use crate::clock::{MAX_NS, MIN_NS};
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

impl StateV1 {
    /// Checks everything a restore relies on, so that a decoded state is either refused here or
    /// safe to use (no index out of range, no instant out of range later).
    pub(crate) fn validate(&self) -> Result<(), String> {
        let in_range = |t: Option<i64>| t.is_some_and(|t| (MIN_NS..=MAX_NS).contains(&t));
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
        if let Some(s) = self
            .sessions
            .iter()
            .find(|s| !in_range(self.saved_at.checked_sub(s.age)))
        {
            return Err(format!(
                "session of visitor {:?}: instant out of range",
                s.visitor
            ));
        }
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

/// The calendar the counts were bucketed with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct SavedCalendar {
    /// `UTC+07:00:00` or an IANA name.
    #[serde(deserialize_with = "super::bounded::string")]
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
