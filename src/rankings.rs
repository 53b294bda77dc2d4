//! Maintained "most read" rankings, so `top_articles` never sorts every article.
//!
//! Articles are split over [`SHARDS`] shards by id. Each shard keeps, for the current and the
//! previous day, week, month and year and for the total, its [`TOP`] articles with the most views
//! (ties: smaller id first), updated on every counted view under the shard's own mutex. Because a
//! period's counts only grow, this top list is exact: an article outside it has no more views than
//! the list's last entry, and it enters as soon as it passes it. The union of the shards' lists
//! holds the overall top [`TOP`], so a query merges at most `SHARDS * TOP` entries.

use parking_lot::Mutex;

use crate::calendar::PeriodKeys;
use crate::ids::{mix64, ArticleId};
use crate::periods::{Period, PeriodBuckets};
use crate::stripes::Padded;

/// Rankings are kept this deep; `top_articles` with a larger `n` scans every article.
pub(crate) const TOP: usize = 100;
/// Number of ranking shards.
const SHARDS: usize = 16;

/// One period's top list of one shard, unordered.
#[derive(Clone, Debug, Default)]
struct TopList {
    ids: Vec<u64>,
    views: Vec<u64>,
    /// Once the list is full: the index of its lowest-ranked entry, so that an article that
    /// does not enter costs one comparison.
    lowest: usize,
}

/// `a` ranks above `b`: more views, or as many and a smaller id.
#[inline]
fn above(a: (u64, u64), b: (u64, u64)) -> bool {
    a.1 > b.1 || (a.1 == b.1 && a.0 < b.0)
}

impl TopList {
    /// Records that article `id` now has `views` in this period.
    #[inline]
    fn update(&mut self, id: u64, views: u64) {
        if let Some(i) = self.ids.iter().position(|&x| x == id) {
            // Two views of one article may arrive here out of order: keep the larger count.
            self.views[i] = self.views[i].max(views);
            if i == self.lowest && self.ids.len() == TOP {
                self.find_lowest();
            }
        } else {
            self.offer(id, views);
        }
    }

    /// Records article `id`, known not to be in the list, with `views`.
    #[inline]
    fn offer(&mut self, id: u64, views: u64) {
        if self.ids.len() < TOP {
            self.ids.push(id);
            self.views.push(views);
            if self.ids.len() == TOP {
                self.find_lowest();
            }
        } else if above((id, views), self.entry(self.lowest)) {
            self.ids[self.lowest] = id;
            self.views[self.lowest] = views;
            self.find_lowest();
        }
    }

    fn entry(&self, i: usize) -> (u64, u64) {
        (self.ids[i], self.views[i])
    }

    fn find_lowest(&mut self) {
        self.lowest = (1..self.ids.len()).fold(0, |low, i| {
            if above(self.entry(low), self.entry(i)) {
                i
            } else {
                low
            }
        });
    }

    fn entries(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.ids.iter().copied().zip(self.views.iter().copied())
    }
}

#[derive(Default)]
struct Shard {
    lists: PeriodBuckets<TopList>,
}

pub(crate) struct Rankings {
    shards: Box<[Padded<Mutex<Shard>>]>,
}

fn shard_of(id: ArticleId) -> usize {
    (mix64(id.as_u64()) >> 60) as usize % SHARDS
}

impl Rankings {
    pub(crate) fn new() -> Rankings {
        Rankings {
            shards: (0..SHARDS).map(|_| Padded::default()).collect(),
        }
    }

    /// Records an article's views after a counted view at `keys`; `views` is the article's
    /// buckets after the view.
    pub(crate) fn update(&self, id: ArticleId, keys: &PeriodKeys, views: &PeriodBuckets<u64>) {
        let mut shard = self.shards[shard_of(id)].lock();
        Self::update_locked(&mut shard, id, views, Some(keys));
    }

    /// With `keys`, updates the buckets those keys fall in; without, every bucket `views` holds
    /// (rebuilding from empty lists, where each article is offered once).
    fn update_locked(
        shard: &mut Shard,
        id: ArticleId,
        views: &PeriodBuckets<u64>,
        keys: Option<&PeriodKeys>,
    ) {
        shard.lists.update_each(views, keys, |list, v| match keys {
            Some(_) => list.update(id.as_u64(), v),
            None => list.offer(id.as_u64(), v),
        });
    }

    /// The top `n` (at most [`TOP`]) articles of `period` at `now`, most views first.
    pub(crate) fn top(&self, period: Period, n: usize, now: &PeriodKeys) -> Vec<(ArticleId, u64)> {
        let mut all: Vec<(u64, u64)> = Vec::with_capacity(SHARDS * TOP);
        for s in self.shards.iter() {
            if let Some(list) = s.lock().lists.at(period, now) {
                all.extend(list.entries().filter(|e| e.1 > 0));
            }
        }
        all.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        all.truncate(n.min(TOP));
        all.into_iter()
            .map(|(id, v)| (ArticleId::from(id), v))
            .collect()
    }

    /// Rebuilds the shard of `id` from every article in it (after an article's counts were
    /// reset, when an outsider may have to move up).
    pub(crate) fn rebuild_shard(
        &self,
        id: ArticleId,
        articles: &[(ArticleId, PeriodBuckets<u64>)],
    ) {
        let i = shard_of(id);
        let mut shard = self.shards[i].lock();
        shard.lists = PeriodBuckets::default();
        for (a, views) in articles.iter().filter(|(a, _)| shard_of(*a) == i) {
            Self::update_locked(&mut shard, *a, views, None);
        }
    }

    /// Rebuilds everything from every article (after a restore).
    pub(crate) fn rebuild(&self, articles: &[(ArticleId, PeriodBuckets<u64>)]) {
        let mut shards: Vec<_> = self.shards.iter().map(|s| s.lock()).collect();
        for s in shards.iter_mut() {
            s.lists = PeriodBuckets::default();
        }
        for (a, views) in articles {
            Self::update_locked(&mut shards[shard_of(*a)], *a, views, None);
        }
    }
}
