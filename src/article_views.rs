//! Article view counters and refresh dedup.
//!
//! Each article has its own [`PeriodBuckets`] (the same calendar buckets as the site's
//! counters) in a `DashMap`; a view write-locks only that article's shard. The dedup table
//! remembers, per (article, visitor), when a view was last counted.

use dashmap::DashMap;

use crate::calendar::PeriodKeys;
use crate::ids::{ArticleId, IdBuildHasher, VisitorId};
use crate::periods::{Period, PeriodBuckets, Periods};
use crate::snapshot::state::SavedDedup;

pub(crate) struct ArticleViews {
    counts: DashMap<ArticleId, PeriodBuckets<u64>, IdBuildHasher>,
    /// When a view of (article, visitor) was last counted.
    counted: DashMap<(ArticleId, VisitorId), i64>,
    dedup_window: i64,
}

impl ArticleViews {
    pub(crate) fn new(dedup_window: i64) -> ArticleViews {
        ArticleViews {
            counts: DashMap::with_hasher(IdBuildHasher::default()),
            counted: DashMap::new(),
            dedup_window,
        }
    }

    /// Counts a view of `article` by `visitor` at `now`, unless that visitor had a view of it
    /// counted less than the dedup window ago. Returns whether it was counted.
    pub(crate) fn view(
        &self,
        article: ArticleId,
        visitor: VisitorId,
        now: i64,
        keys: &PeriodKeys,
    ) -> bool {
        if self.dedup_window > 0 {
            let mut last = self.counted.entry((article, visitor)).or_insert(i64::MIN);
            if now.saturating_sub(*last) < self.dedup_window {
                return false;
            }
            *last = now;
        }
        self.counts
            .entry(article)
            .or_default()
            .record(keys, |c| *c = c.saturating_add(1));
        true
    }

    /// Counters and dedup state (for a snapshot), instants as ages before `saved_at`.
    pub(crate) fn records(
        &self,
        saved_at: i64,
    ) -> (Vec<(ArticleId, PeriodBuckets<u64>)>, Vec<SavedDedup>) {
        let counts = self
            .counts
            .iter()
            .map(|e| (*e.key(), e.value().clone()))
            .collect();
        let dedup = self
            .counted
            .iter()
            .map(|e| SavedDedup {
                article: e.key().0,
                visitor: e.key().1,
                age: saved_at.saturating_sub(*e.value()),
            })
            .collect();
        (counts, dedup)
    }

    /// Restores saved counters and dedup state; `Err` for malformed data.
    pub(crate) fn restore(
        &self,
        saved_at: i64,
        counts: Vec<(ArticleId, PeriodBuckets<u64>)>,
        dedup: &[SavedDedup],
    ) -> Result<(), String> {
        for (id, buckets) in counts {
            if !buckets.is_well_formed() {
                return Err(format!("article {id}: malformed counters"));
            }
            self.counts.insert(id, buckets);
        }
        for d in dedup {
            let at = saved_at
                .checked_sub(d.age)
                .ok_or("an article view instant is out of range")?;
            self.counted.insert((d.article, d.visitor), at);
        }
        Ok(())
    }

    /// Empties every article's week buckets (after a change of the week's first day).
    pub(crate) fn clear_weeks(&self) {
        for mut e in self.counts.iter_mut() {
            e.value_mut().clear_weeks();
        }
    }

    /// Views of one article per reading period (zeros for an unseen article).
    pub(crate) fn stats(&self, article: ArticleId, now: &PeriodKeys) -> Periods {
        self.counts
            .get(&article)
            .map(|b| b.read(now, |c| *c))
            .unwrap_or_default()
    }

    /// The `n` articles with the most views in `period`, most first, ties by smaller id.
    pub(crate) fn top(&self, period: Period, n: usize, now: &PeriodKeys) -> Vec<(ArticleId, u64)> {
        if n == 0 {
            return Vec::new();
        }
        let mut all: Vec<(ArticleId, u64)> = self
            .counts
            .iter()
            .map(|e| (*e.key(), e.value().read(now, |c| *c).get(period)))
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
}
