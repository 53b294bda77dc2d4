//! The page-view log: what a counter that shares its site records for the next sync.
//!
//! Each session shard keeps its own log, written under the shard lock the page view already
//! holds: one 32-byte entry pushed on a vector whose capacity is kept from one sync to the
//! next, so a page view allocates nothing for it once the log has grown to a sync interval's
//! traffic. A sync takes every shard's log (swapping in an empty vector of the same capacity)
//! and builds its batch from them on the sync thread (see `batch.rs`).

use serde::{Deserialize, Serialize};

/// A page view as the log holds it (and a snapshot, for page views not cut into a batch yet).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Entry {
    /// The visitor's session key (see `ids::session_key`).
    pub key: u64,
    /// When (nanoseconds since the Unix epoch).
    pub at: i64,
    /// The article, when [`ARTICLE`] is set.
    pub article: u64,
    /// What this counter decided alone: [`ARTICLE`], [`COUNTED`], [`NEW_VISIT`], [`NEW_DAY`].
    pub flags: u8,
}

/// The page view is a view of an article.
pub(crate) const ARTICLE: u8 = 1;
/// This counter's refresh dedup counted the article view.
pub(crate) const COUNTED: u8 = 2;
/// The page view started a visit on this counter.
pub(crate) const NEW_VISIT: u8 = 4;
/// The visitor's first page view of the local day on this counter.
pub(crate) const NEW_DAY: u8 = 8;

/// One shard's log. Disabled (records nothing) unless the counter shares its site.
#[derive(Default)]
pub(crate) struct Log {
    enabled: bool,
    entries: Vec<Entry>,
    /// Visitors that came online on this shard since the log was last taken.
    came_online: u64,
}

impl Log {
    /// Starts recording.
    pub(crate) fn enable(&mut self) {
        self.enabled = true;
    }

    /// Records a page view, if enabled.
    #[inline]
    pub(crate) fn push(&mut self, entry: Entry, came_online: bool) {
        if self.enabled {
            self.entries.push(entry);
            self.came_online += u64::from(came_online);
        }
    }

    /// Page views recorded since the log was last taken.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Those page views.
    pub(crate) fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Visitors that came online since the log was last taken.
    pub(crate) fn came_online(&self) -> u64 {
        self.came_online
    }

    /// Puts back page views a snapshot held (logged, not cut yet), whether or not logging is
    /// enabled: the next cut takes them.
    pub(crate) fn put_back(&mut self, entries: Vec<Entry>) {
        self.entries.extend(entries);
    }

    /// Takes the entries recorded so far, leaving `spare` (emptied) to record into, and the
    /// count of visitors that came online.
    pub(crate) fn take(&mut self, mut spare: Vec<Entry>) -> (Vec<Entry>, u64) {
        spare.clear();
        let entries = std::mem::replace(&mut self.entries, spare);
        (entries, std::mem::take(&mut self.came_online))
    }
}
