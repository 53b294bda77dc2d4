//! What a snapshot holds: the payload of the format version this release writes.
//!
//! The payload is put together from the model's own saved forms: the counters'
//! [`TrafficCounts`] and [`UniqueCounts`], the session table's [`SavedSessions`] (whose byte
//! layout belongs to the session table, see `visitors/saved.rs`), the articles' counters and
//! [`SavedDedup`] entries, and a shared site's sync state.

use serde::{Deserialize, Serialize};

use crate::articles::dedup::SavedDedup;
use crate::calendar::clock::held;
use crate::calendar::periods::PeriodBuckets;
use crate::common::bounded;
use crate::ids::ArticleId;
use crate::sync::engine::SavedSync;
use crate::visitors::saved::SavedSessions;
use crate::visitors::traffic::{Tally, TrafficCounts};
use crate::visitors::unique::UniqueCounts;

/// The payload of format version 5 ([`FORMAT_VERSION`](super::FORMAT_VERSION)).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct State<'a> {
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

impl State<'_> {
    /// Checks everything a restore relies on but the sessions (which the session table checks
    /// as it loads them), so that a decoded state is either refused here or safe to use (no
    /// index out of range, no instant out of range later).
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

/// The calendar the counts were bucketed with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct SavedCalendar {
    /// `UTC+07:00:00` or an IANA name.
    #[serde(deserialize_with = "bounded::string")]
    pub zone: String,
    /// Days from Monday (0 = Monday).
    pub week_start: u8,
}
