//! What a snapshot holds: the payload of each format version.
//!
//! Each version's payload is put together from the model's own saved forms: the counters'
//! [`TrafficCounts`] and [`UniqueCounts`], the session table's [`SavedSessions`] (whose byte
//! layout belongs to the session table, see `visitors/saved.rs`), the articles' counters and
//! [`SavedDedup`] entries, and a shared site's sync state. Format 4 ([`StateV4`]) is what this
//! release writes. Format 3 ([`StateV3`]) lacked the sync state, format 2 ([`StateV2`]) held the
//! sessions as one byte column in table order, format 1 ([`StateV1`]) as a list of structs; all
//! are still read and converted.

use serde::{Deserialize, Serialize};

use crate::articles::dedup::SavedDedup;
use crate::calendar::clock::held;
use crate::calendar::periods::PeriodBuckets;
use crate::common::bounded;
use crate::ids::ArticleId;
use crate::sync::engine::SavedSync;
use crate::visitors::saved::{SavedSession, SavedSessions, SessionColumn};
use crate::visitors::traffic::{Tally, TrafficCounts};
use crate::visitors::unique::UniqueCounts;

/// Format version 4: format 3 and, for a counter that shares its site, its sync state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct StateV4<'a> {
    /// The instant the snapshot was taken (nanoseconds since the Unix epoch).
    pub saved_at: i64,
    pub calendar: SavedCalendar,
    /// The builder's `initial_total` when the counter was first created.
    pub initial: Tally,
    pub traffic: TrafficCounts,
    pub unique: UniqueCounts,
    #[serde(borrow)]
    pub sessions: SavedSessions<'a>,
    #[serde(deserialize_with = "bounded::vec")]
    pub articles: Vec<(ArticleId, PeriodBuckets<u64>)>,
    #[serde(deserialize_with = "bounded::vec")]
    pub article_dedup: Vec<SavedDedup>,
    /// What a counter that shares its site has not sent yet and has read of the site (see
    /// `sync/engine.rs`); `None` for a counter that does not.
    pub sync: Option<SavedSync>,
}

/// Format version 3: format 4 without the sync state, with the sessions in a [`SessionTable`]
/// (read, no longer written).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub(crate) struct StateV3<'a> {
    pub saved_at: i64,
    pub calendar: SavedCalendar,
    pub initial: Tally,
    pub traffic: TrafficCounts,
    pub unique: UniqueCounts,
    #[serde(borrow)]
    pub sessions: SavedSessions<'a>,
    #[serde(deserialize_with = "bounded::vec")]
    pub articles: Vec<(ArticleId, PeriodBuckets<u64>)>,
    #[serde(deserialize_with = "bounded::vec")]
    pub article_dedup: Vec<SavedDedup>,
}

impl<'a> From<StateV3<'a>> for StateV4<'a> {
    /// Format 3 as format 4: no sync state.
    fn from(v3: StateV3<'a>) -> Self {
        StateV4 {
            saved_at: v3.saved_at,
            calendar: v3.calendar,
            initial: v3.initial,
            traffic: v3.traffic,
            unique: v3.unique,
            sessions: v3.sessions,
            articles: v3.articles,
            article_dedup: v3.article_dedup,
            sync: None,
        }
    }
}

impl StateV4<'_> {
    /// Checks everything a restore relies on but the sessions (which
    /// [`SavedSessions::validate`] checks), so that a decoded state is either refused here or
    /// safe to use (no index out of range, no instant out of range later).
    pub(crate) fn validate_all_but_sessions(&self) -> Result<(), String> {
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
        if let Some((id, _)) = self.articles.iter().find(|(_, b)| !b.is_well_formed()) {
            return Err(format!("article {id}: malformed counters"));
        }
        if let Some(sync) = &self.sync {
            sync.validate()?;
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

/// Format version 2: format 3 with the sessions in a [`SessionColumn`] (read, no longer
/// written).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub(crate) struct StateV2<'a> {
    pub saved_at: i64,
    pub calendar: SavedCalendar,
    pub initial: Tally,
    pub traffic: TrafficCounts,
    pub unique: UniqueCounts,
    #[serde(borrow)]
    pub sessions: SessionColumn<'a>,
    #[serde(deserialize_with = "bounded::vec")]
    pub articles: Vec<(ArticleId, PeriodBuckets<u64>)>,
    #[serde(deserialize_with = "bounded::vec")]
    pub article_dedup: Vec<SavedDedup>,
}

impl<'a> From<StateV2<'a>> for StateV3<'a> {
    /// Format 2 as format 3, the sessions as decoded (see [`SavedSessions`]).
    fn from(v2: StateV2<'a>) -> Self {
        StateV3 {
            saved_at: v2.saved_at,
            calendar: v2.calendar,
            initial: v2.initial,
            traffic: v2.traffic,
            unique: v2.unique,
            sessions: SavedSessions::Older(v2.sessions),
            articles: v2.articles,
            article_dedup: v2.article_dedup,
        }
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
    #[serde(deserialize_with = "bounded::vec")]
    pub sessions: Vec<SavedSession>,
    #[serde(deserialize_with = "bounded::vec")]
    pub articles: Vec<(ArticleId, PeriodBuckets<u64>)>,
    #[serde(deserialize_with = "bounded::vec")]
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
            sessions: SessionColumn::aged(v1.saved_at, v1.sessions),
            articles: v1.articles,
            article_dedup: v1.article_dedup,
        }
    }
}

/// The calendar the counts were bucketed with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct SavedCalendar {
    /// `UTC+07:00:00` or an IANA name.
    #[serde(deserialize_with = "bounded::string")]
    pub zone: String,
    /// Days from Monday (0 = Monday).
    pub week_start: u8,
}
