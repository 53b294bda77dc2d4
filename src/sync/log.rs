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
//!
//! A log holds at most its share of the bound (`max_sessions` over the shards) of starts and
//! views between two cuts; past it, a start is kept as counts of its day (the visit and the
//! visitor this counter saw) and a counted view as a count of its article and day, as the
//! batch does past the bound (see `batch.rs`, "Bound").

use std::collections::BTreeMap;

use crate::sync::batch::{DayCounts, View};

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
    /// Past the log's bound: visits and visitors per day, as this counter saw them.
    pub counts: BTreeMap<i32, DayCounts>,
    /// Past the log's bound: views counted by this counter, per (article, day).
    pub alone_views: BTreeMap<(u64, i32), u64>,
}

/// One shard's log (a shard has one only when the counter shares its site).
pub(crate) struct Log {
    /// The instant of the last cut, read under the shard's lock: every page view logged before
    /// it is at or before it.
    cut_at: i64,
    /// Starts and views held at most.
    cap: usize,
    taken: Taken,
    page_views: u64,
    /// Visitors that came online on this shard since the log was last taken.
    came_online: u64,
}

/// What a counter that shares its site adds to each session shard: the shard's log for the next
/// sync; nothing for one that shares no site (which reads one word of it per page view).
#[derive(Default)]
pub(crate) struct ShardLog(Option<Box<Log>>);

impl ShardLog {
    /// The log of a counter that shares its site, holding at most `cap` starts and views.
    pub(crate) fn sharing(cap: usize) -> ShardLog {
        ShardLog(Some(Box::new(Log {
            cut_at: i64::MAX,
            cap,
            taken: Taken::default(),
            page_views: 0,
            came_online: 0,
        })))
    }

    /// Records the page view `make` describes, if the counter shares its site.
    #[inline]
    pub(crate) fn record(&mut self, make: impl FnOnce() -> PageView, came_online: bool) {
        if let Some(log) = self.0.as_deref_mut() {
            log.push(make(), came_online);
        }
    }

    /// Page views recorded since the log was last taken.
    pub(crate) fn len(&self) -> u64 {
        self.0.as_ref().map_or(0, |l| l.page_views)
    }

    /// Visitors that came online since the log was last taken.
    pub(crate) fn came_online(&self) -> u64 {
        self.0.as_ref().map_or(0, |l| l.came_online)
    }

    /// Takes what was recorded at the cut instant `now` (read under the shard's lock), leaving
    /// `spare` (emptied) to record into, and the count of visitors that came online; `None`
    /// for a counter that shares no site.
    pub(crate) fn take(&mut self, spare: Taken, now: i64) -> Option<(Taken, u64)> {
        self.0.as_deref_mut().map(|log| log.take(spare, now))
    }
}

impl Log {
    /// Records a page view. Until the first cut every page view is logged as a start (a
    /// session restored from a snapshot has a page view before the first cut that the site may
    /// not hold). Kept out of line, so that the page view of a counter that does not share its
    /// site stays as small as it was.
    #[inline(never)]
    fn push(&mut self, pv: PageView, came_online: bool) {
        let t = &mut self.taken;
        let full = t.starts.len() + t.views.len() >= self.cap;
        // A prior page view after the cut is in this log's interval: its start is logged.
        if pv.prior.is_none_or(|p| p <= self.cut_at) || pv.new_visit || pv.new_day {
            if full {
                let c = t.counts.entry(pv.day).or_default();
                c.visits += u64::from(pv.new_visit);
                c.visitors += u64::from(pv.new_day);
            } else {
                t.starts.push(Start {
                    key: pv.key,
                    at: pv.at,
                    prior: pv.prior.unwrap_or(i64::MIN),
                    day: pv.day,
                    new_visit: pv.new_visit,
                    new_day: pv.new_day,
                });
            }
        }
        if let Some((article, counted)) = pv.article {
            if !full {
                t.views.push(View {
                    article,
                    key: pv.key,
                    at: pv.at,
                    day: pv.day,
                    counted,
                });
            } else if counted {
                *t.alone_views.entry((article, pv.day)).or_default() += 1;
            }
        }
        self.page_views += 1;
        self.came_online += u64::from(came_online);
    }

    fn take(&mut self, mut spare: Taken, now: i64) -> (Taken, u64) {
        spare.starts.clear();
        spare.views.clear();
        spare.counts.clear();
        spare.alone_views.clear();
        self.cut_at = now;
        self.page_views = 0;
        let taken = std::mem::replace(&mut self.taken, spare);
        (taken, std::mem::take(&mut self.came_online))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page_view(key: u64, article: Option<u64>) -> PageView {
        PageView {
            key,
            at: 1_000,
            day: 7,
            prior: None,
            article: article.map(|a| (a, true)),
            new_visit: true,
            new_day: true,
        }
    }

    #[test]
    fn past_its_bound_a_log_keeps_counts() {
        let mut log = ShardLog::sharing(2);
        log.record(|| page_view(1, None), true);
        log.record(|| page_view(2, Some(9)), true);
        // Two starts and a view: past the bound of two from here on.
        log.record(|| page_view(3, Some(9)), false);
        log.record(|| page_view(4, None), false);
        assert_eq!((log.len(), log.came_online()), (4, 2));
        let (taken, online) = log.take(Taken::default(), 2_000).unwrap();
        assert_eq!(online, 2);
        assert_eq!(taken.starts.len(), 2);
        assert_eq!(taken.views.len(), 1);
        let c = taken.counts[&7];
        assert_eq!((c.visits, c.visitors), (2, 2));
        assert_eq!(taken.alone_views.get(&(9, 7)), Some(&1));
        assert_eq!(
            ShardLog::default().take(Taken::default(), 0).map(|_| ()),
            None
        );
    }
}
