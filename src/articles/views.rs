//! Article view counters, refresh dedup and "most read" rankings.
//!
//! Each article has its own [`PeriodBuckets`] (the same calendar buckets as the site's
//! counters) in a `DashMap`, with the [`Rankings`] that `top_articles` reads: an
//! [`ArticleCounts`]. [`Dedup`] decides whether a view counts. A counter that shares its site
//! keeps the site's article counts in an [`ArticleCounts`] of their own (see `sync/site.rs`).
//!
//! # Locking
//! A counted view write-locks the article's shard of the counter table, then (after releasing
//! it) its ranking shard; the dedup table is locked as [`Dedup`] says. Resetting an article
//! locks its ranking shard and reads every article of that shard. A restore has the tables to
//! itself (`&mut self`): it fills the counter table while the rankings are rebuilt from the
//! same decoded list, on a second thread for a large restore, holding every ranking shard's lock.
//!
//! The counts and the rankings are exact (see [`Rankings`]); the dedup table is bounded as
//! [`Dedup`] says.

use dashmap::DashMap;

use crate::articles::dedup::{Dedup, SavedDedup};
use crate::articles::rankings::{Rankings, TOP};
use crate::calendar::local::PeriodKeys;
use crate::calendar::periods::{Period, PeriodBuckets, Periods};
use crate::ids::{ArticleId, IdBuildHasher};

/// From this many articles, a restore ranks them on a second thread: below, ranking inline
/// (about 0.1 µs an article) costs less than starting a thread.
const THREADED_RANKING_MIN: usize = 2_048;

/// Every article's counted views per period, and the rankings over them.
pub(crate) struct ArticleCounts {
    counts: DashMap<ArticleId, PeriodBuckets<u64>, IdBuildHasher>,
    rankings: Rankings,
    /// Whether views update the rankings. A counter sharing its site ranks the site's counts,
    /// not its own since the last sync.
    ranked: bool,
}

impl ArticleCounts {
    pub(crate) fn new() -> ArticleCounts {
        ArticleCounts {
            counts: DashMap::with_hasher(IdBuildHasher::default()),
            rankings: Rankings::new(),
            ranked: true,
        }
    }

    /// Whether views update the rankings (see `ranked`).
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn rank(&mut self, ranked: bool) {
        self.ranked = ranked;
    }

    /// Counts one view of `article` at `keys`.
    pub(crate) fn count(&self, article: ArticleId, keys: &PeriodKeys) {
        let after = {
            let mut views = self.counts.entry(article).or_default();
            views.record(keys, |c| *c = c.saturating_add(1));
            self.ranked.then(|| views.clone())
        };
        if let Some(after) = after {
            self.rankings.update(article, Some(keys), &after);
        }
    }

    /// Replaces one article's counts with `views`, which for every period are at least what
    /// it held (a shared site's counts, which only grow).
    pub(crate) fn set(&self, article: ArticleId, views: PeriodBuckets<u64>) {
        if self.ranked {
            self.rankings.update(article, None, &views);
        }
        self.counts.insert(article, views);
    }

    /// Takes every article's counts, leaving none (the rankings are not kept: see `ranked`).
    pub(crate) fn take_all(&self) -> Vec<(ArticleId, PeriodBuckets<u64>)> {
        let mut all = Vec::new();
        self.counts.retain(|id, views| {
            all.push((*id, std::mem::take(views)));
            false
        });
        all
    }

    /// Views of one article per reading period (zeros for an unseen article).
    pub(crate) fn stats(&self, article: ArticleId, now: &PeriodKeys) -> Periods {
        self.counts
            .get(&article)
            .map(|b| b.read(now, |c| *c))
            .unwrap_or_default()
    }

    /// The `n` articles with the most views in `period`, most first, ties by smaller id. Reads
    /// the maintained rankings for `n` up to 100, scans every article beyond.
    pub(crate) fn top(&self, period: Period, n: usize, now: &PeriodKeys) -> Vec<(ArticleId, u64)> {
        if n <= TOP {
            return self.rankings.top(period, n, now);
        }
        let mut all: Vec<(ArticleId, u64)> = self
            .counts
            .iter()
            .map(|e| (*e.key(), e.value().at(period, now).copied().unwrap_or(0)))
            .filter(|&(_, views)| views > 0)
            .collect();
        let order = |a: &(ArticleId, u64), b: &(ArticleId, u64)| b.1.cmp(&a.1).then(a.0.cmp(&b.0));
        if all.len() > n {
            all.select_nth_unstable_by(n - 1, order);
            all.truncate(n);
        }
        all.sort_unstable_by(order);
        all
    }

    /// Forgets one article's counts.
    pub(crate) fn reset(&self, article: ArticleId) {
        self.counts.remove(&article);
        // Rebuilt from the remaining articles: one of them may move up into the lists.
        self.rankings.rebuild_shard(article, &self.all());
    }

    /// A copy of every article's counters, taken one shard at a time.
    pub(crate) fn all(&self) -> Vec<(ArticleId, PeriodBuckets<u64>)> {
        self.counts
            .iter()
            .map(|e| (*e.key(), e.value().clone()))
            .collect()
    }

    /// Restores vetted counters into this empty table while nothing else can see it (hence
    /// `&mut self`).
    ///
    /// The rankings are rebuilt from `counts` while the counter table fills: for a large restore
    /// on a second thread (inline if none can be started).
    pub(crate) fn restore(&mut self, counts: Vec<(ArticleId, PeriodBuckets<u64>)>) {
        debug_assert!(self.counts.is_empty());
        let table = DashMap::with_capacity_and_hasher(counts.len(), IdBuildHasher::default());
        // `fill` returns whether an article is repeated.
        let fill = || {
            let mut repeated = false;
            for (id, buckets) in &counts {
                repeated |= table.insert(*id, buckets.clone()).is_some();
            }
            repeated
        };
        let rank = || self.rankings.rebuild(&counts);
        let large = counts.len() >= THREADED_RANKING_MIN;
        let ((), repeated) =
            crate::common::parallel::join("visitor-counter-restore", large, rank, fill);
        self.counts = table;
        if repeated {
            // A rebuild offers each article once: rank the copy of a repeated article that the
            // table kept (the last), alone.
            self.rankings.rebuild(&self.all());
        }
    }

    /// Empties every article's week buckets (after a change of the week's first day).
    pub(crate) fn clear_weeks(&self) {
        for mut e in self.counts.iter_mut() {
            e.value_mut().clear_weeks();
        }
        self.rankings.rebuild(&self.all());
    }
}

/// The article side of a counter: counts and rankings, and the refresh dedup.
pub(crate) struct ArticleViews {
    pub(crate) counts: ArticleCounts,
    pub(crate) dedup: Dedup,
}

impl ArticleViews {
    pub(crate) fn new(dedup_window: i64, max_dedup_entries: usize) -> ArticleViews {
        ArticleViews {
            counts: ArticleCounts::new(),
            dedup: Dedup::new(dedup_window, max_dedup_entries),
        }
    }

    /// Views of one article per reading period (zeros for an unseen article).
    pub(crate) fn stats(&self, article: ArticleId, now: &PeriodKeys) -> Periods {
        self.counts.stats(article, now)
    }

    /// The `n` articles with the most views in `period` (see [`ArticleCounts::top`]).
    pub(crate) fn top(&self, period: Period, n: usize, now: &PeriodKeys) -> Vec<(ArticleId, u64)> {
        self.counts.top(period, n, now)
    }

    /// Forgets one article's counts and dedup state.
    pub(crate) fn reset(&self, article: ArticleId) {
        self.counts.reset(article);
        self.dedup.forget_article(article);
    }

    /// Counters and dedup state (for a snapshot), instants as ages before `saved_at`.
    pub(crate) fn records(
        &self,
        saved_at: i64,
    ) -> (Vec<(ArticleId, PeriodBuckets<u64>)>, Vec<SavedDedup>) {
        (self.counts.all(), self.dedup.records(saved_at))
    }

    /// Restores vetted counters and dedup state (see `Inner::restore`) into these empty tables
    /// while nothing else can see them (hence `&mut self`).
    pub(crate) fn restore(
        &mut self,
        saved_at: i64,
        counts: Vec<(ArticleId, PeriodBuckets<u64>)>,
        dedup: &[SavedDedup],
    ) {
        self.counts.restore(counts);
        // Restored after the counts were freed, so that the dedup tables can reuse their memory.
        self.dedup.restore(saved_at, dedup);
    }

    /// Empties every article's week buckets (after a change of the week's first day).
    pub(crate) fn clear_weeks(&self) {
        self.counts.clear_weeks();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::local::PeriodKeys;
    use crate::ids::mix64;

    const KEYS: PeriodKeys = PeriodKeys {
        day: 10,
        week: 1,
        month: 0,
        year: 0,
    };

    fn buckets(views: u64) -> PeriodBuckets<u64> {
        let mut b = PeriodBuckets::<u64>::default();
        for _ in 0..views {
            b.record(&KEYS, |c| *c += 1);
        }
        b
    }

    #[test]
    fn a_repeated_article_in_a_snapshot_is_ranked_once_with_the_count_kept() {
        let a = ArticleId::from(7);
        let mut v = ArticleViews::new(0, 100);
        v.restore(0, vec![(a, buckets(9)), (a, buckets(5))], &[]);
        assert_eq!(v.stats(a, &KEYS).total, 5);
        assert_eq!(v.top(Period::Total, 10, &KEYS), vec![(a, 5)]);
    }

    #[test]
    fn a_large_restore_ranks_on_a_second_thread_with_the_counts_kept() {
        let n = THREADED_RANKING_MIN as u64 + 100;
        let views = |i: u64| if i == 5 { 2 } else { 1 + mix64(i) % 5 };
        let mut counts: Vec<_> = (0..n)
            .map(|i| (ArticleId::from(i), buckets(views(i))))
            .collect();
        // Article 5 is repeated: its first copy would rank first, its last (kept) copy does not.
        counts[5].1 = buckets(50);
        counts.push((ArticleId::from(5), buckets(views(5))));
        let mut v = ArticleViews::new(0, 100);
        v.restore(0, counts, &[]);
        let mut expected: Vec<_> = (0..n).map(|i| (ArticleId::from(i), views(i))).collect();
        expected.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        expected.truncate(TOP);
        assert_eq!(v.stats(ArticleId::from(5), &KEYS).total, 2);
        assert_eq!(v.top(Period::Total, TOP, &KEYS), expected);
        assert_eq!(v.top(Period::Today, TOP, &KEYS), expected);
    }
}
