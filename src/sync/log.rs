//! The page-view log: what a counter that shares its site records for the next sync.
//!
//! The site needs, of each visitor, the page views that may start a visit or a day (see
//! `batch.rs`) and the last one. Each session shard keeps its own log, written under the shard
//! lock the page view already holds, of **starts**: a visitor's first page view since the last
//! sync (its page view before that one is at or before the sync's cut), and any page view that
//! starts a visit or a local day here. Every other page view of a visitor continues what the log
//! already holds and writes nothing: a comparison with the shard's cut instant. The last page
//! view of each visitor is read from the session table when the sync cuts the log. Views of
//! articles are logged one by one. So the log grows with the visitors of the interval, not with
//! their page views, and a page view allocates nothing once the log's vectors have grown to an
//! interval's visitors (a sync swaps in emptied ones of the same capacity).

use crate::sync::batch::View;

/// A page view as the hot path hands it to the log.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PageView {
    /// The visitor's session key (see `ids::session_key`).
    pub key: u64,
    pub at: i64,
    /// The local day's key.
    pub day: i32,
    /// The visitor's page view before this one, on this counter.
    pub prior: Option<i64>,
    /// The article viewed, and whether this counter's refresh dedup counted the view.
    pub article: Option<(u64, bool)>,
    /// This counter saw the page view start a visit.
    pub new_visit: bool,
    /// This counter saw the visitor's first page view of the day.
    pub new_day: bool,
}

/// A logged page view that may start a visit or a day at the site (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Start {
    pub key: u64,
    pub at: i64,
    /// The visitor's page view before this one on this counter (`i64::MIN`: none).
    pub prior: i64,
    pub day: i32,
    pub new_visit: bool,
    pub new_day: bool,
}

/// What a sync takes from a log.
#[derive(Debug, Default)]
pub(crate) struct Taken {
    pub starts: Vec<Start>,
    pub views: Vec<View>,
}

/// One shard's log (a shard has one only when the counter shares its site).
pub(crate) struct Log {
    /// The instant of the last cut, read under the shard's lock: every page view logged before
    /// it is at or before it.
    cut_at: i64,
    starts: Vec<Start>,
    views: Vec<View>,
    page_views: u64,
    /// Visitors that came online on this shard since the log was last taken.
    came_online: u64,
}

impl Log {
    /// An empty log. Until the first cut every page view is logged as a start (a session
    /// restored from a snapshot has a page view before the first cut that the site may not
    /// hold).
    pub(crate) fn new() -> Log {
        Log {
            cut_at: i64::MAX,
            starts: Vec::new(),
            views: Vec::new(),
            page_views: 0,
            came_online: 0,
        }
    }

    /// Records a page view.
    #[inline]
    pub(crate) fn push(&mut self, pv: PageView, came_online: bool) {
        // A prior page view after the cut is in this log's interval: its start is logged.
        if pv.prior.is_none_or(|p| p <= self.cut_at) || pv.new_visit || pv.new_day {
            self.starts.push(Start {
                key: pv.key,
                at: pv.at,
                prior: pv.prior.unwrap_or(i64::MIN),
                day: pv.day,
                new_visit: pv.new_visit,
                new_day: pv.new_day,
            });
        }
        if let Some((article, counted)) = pv.article {
            self.views.push(View {
                article,
                key: pv.key,
                at: pv.at,
                day: pv.day,
                counted,
            });
        }
        self.page_views += 1;
        self.came_online += u64::from(came_online);
    }

    /// Page views recorded since the log was last taken.
    pub(crate) fn len(&self) -> u64 {
        self.page_views
    }

    /// Visitors that came online since the log was last taken.
    pub(crate) fn came_online(&self) -> u64 {
        self.came_online
    }

    /// Takes what was recorded at the cut instant `now` (read under the shard's lock), leaving
    /// `spare` (emptied) to record into, and the count of visitors that came online.
    pub(crate) fn take(&mut self, mut spare: Taken, now: i64) -> (Taken, u64) {
        spare.starts.clear();
        spare.views.clear();
        self.cut_at = now;
        self.page_views = 0;
        let taken = Taken {
            starts: std::mem::replace(&mut self.starts, spare.starts),
            views: std::mem::replace(&mut self.views, spare.views),
        };
        (taken, std::mem::take(&mut self.came_online))
    }
}
