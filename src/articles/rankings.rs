//! Maintained "most read" rankings, so `top_articles` never sorts every article.
//!
//! Articles are split over [`SHARDS`] shards by id. Each shard keeps, for the current and the
//! previous day, week, month and year and for the total, its [`TOP`] articles with the most views
//! (ties: smaller id first), updated on every counted view under the shard's own mutex. Because a
//! period's counts only grow, this top list is exact: an article outside it has no more views than
//! the list's last entry, and it enters as soon as it passes it. The union of the shards' lists
//! holds the overall top [`TOP`], so a query merges at most `SHARDS * TOP` entries.
//!
//! A rebuild (after a restore, a reset or a change of the week's first day) offers every article
//! of a shard once to fresh lists, each of which keeps its [`TOP`] best by selection (see
//! [`TopList::collect`]): the same lists as offering the articles one by one, in time linear in
//! the articles.

use std::cmp::Ordering;

use parking_lot::Mutex;

use crate::calendar::local::PeriodKeys;
use crate::calendar::periods::{Period, PeriodBuckets};
use crate::common::stripes::Padded;
use crate::ids::{mix64, ArticleId};

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

/// The ranking order as an [`Ordering`]: `a` first if it ranks above `b`.
fn rank_order(a: &(u64, u64), b: &(u64, u64)) -> Ordering {
    b.1.cmp(&a.1).then(a.0.cmp(&b.0))
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

    /// Offers article `id`, known not to be in the list, with `views`, during a rebuild: a
    /// rebuild offers every article of the shard this way, then calls [`finish`](Self::finish).
    ///
    /// Once the list holds [`TOP`] entries, an article that does not rank above its lowest is
    /// turned away at once, as [`TOP`] articles rank above it. The others are appended, and at
    /// `2 * TOP` entries the list is cut back to its best [`TOP`] by selection, so an article
    /// costs constant time on average. ([`offer`](Self::offer) scans the list for the new lowest
    /// whenever an article enters, which on a restore where most articles tie is nearly always.)
    #[inline]
    fn collect(&mut self, id: u64, views: u64) {
        if self.ids.len() >= TOP && !above((id, views), self.entry(self.lowest)) {
            return;
        }
        self.ids.push(id);
        self.views.push(views);
        if self.ids.len() == TOP {
            self.find_lowest();
        } else if self.ids.len() == 2 * TOP {
            self.keep_top();
        }
    }

    /// Ends a rebuild: the list holds the best [`TOP`] of the articles offered to
    /// [`collect`](Self::collect), as if each had been offered one by one.
    fn finish(&mut self) {
        self.keep_top();
        self.ids.shrink_to_fit();
        self.views.shrink_to_fit();
    }

    /// Cuts the list back to its best [`TOP`] entries, `lowest` naming the lowest of them.
    fn keep_top(&mut self) {
        if self.ids.len() <= TOP {
            return;
        }
        let mut all: Vec<(u64, u64)> = self.entries().collect();
        // Puts the best `TOP` first, the lowest of them at `TOP - 1`.
        all.select_nth_unstable_by(TOP - 1, rank_order);
        all.truncate(TOP);
        self.ids.clear();
        self.ids.extend(all.iter().map(|e| e.0));
        self.views.clear();
        self.views.extend(all.iter().map(|e| e.1));
        self.lowest = TOP - 1;
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

impl Shard {
    /// Offers an article, during a rebuild, to the list of every bucket `views` holds (see
    /// [`TopList::collect`]).
    fn collect(&mut self, id: ArticleId, views: &PeriodBuckets<u64>) {
        self.lists
            .update_each(views, None, |list, v| list.collect(id.as_u64(), v));
    }

    /// Ends a rebuild (see [`TopList::finish`]).
    fn finish(&mut self) {
        self.lists.values_mut().for_each(TopList::finish);
    }
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

    /// Records an article's views after a counted view at `keys` (or, without `keys`, after
    /// views in any of the periods `views` holds); `views` is the article's buckets after them.
    pub(crate) fn update(
        &self,
        id: ArticleId,
        keys: Option<&PeriodKeys>,
        views: &PeriodBuckets<u64>,
    ) {
        let mut shard = self.shards[shard_of(id)].lock();
        shard
            .lists
            .update_each(views, keys, |list, v| list.update(id.as_u64(), v));
    }

    /// The top `n` (at most [`TOP`]) articles of `period` at `now`, most views first.
    pub(crate) fn top(&self, period: Period, n: usize, now: &PeriodKeys) -> Vec<(ArticleId, u64)> {
        let mut all: Vec<(u64, u64)> = Vec::with_capacity(SHARDS * TOP);
        for s in self.shards.iter() {
            if let Some(list) = s.lock().lists.at(period, now) {
                all.extend(list.entries().filter(|e| e.1 > 0));
            }
        }
        all.sort_unstable_by(rank_order);
        all.truncate(n.min(TOP));
        all.into_iter()
            .map(|(id, v)| (ArticleId::from(id), v))
            .collect()
    }

    /// Rebuilds the shard of `id` from every article in it (after an article's counts were
    /// reset, when an outsider may have to move up). `articles` holds each article once.
    pub(crate) fn rebuild_shard(
        &self,
        id: ArticleId,
        articles: &[(ArticleId, PeriodBuckets<u64>)],
    ) {
        let i = shard_of(id);
        let mut shard = self.shards[i].lock();
        shard.lists = PeriodBuckets::default();
        for (a, views) in articles.iter().filter(|(a, _)| shard_of(*a) == i) {
            shard.collect(*a, views);
        }
        shard.finish();
    }

    /// Rebuilds everything from every article (after a restore or a change of the week's first
    /// day). `articles` holds each article once. Holds every shard's lock throughout.
    pub(crate) fn rebuild(&self, articles: &[(ArticleId, PeriodBuckets<u64>)]) {
        let mut shards: Vec<_> = self.shards.iter().map(|s| s.lock()).collect();
        for s in shards.iter_mut() {
            s.lists = PeriodBuckets::default();
        }
        for (a, views) in articles {
            shards[shard_of(*a)].collect(*a, views);
        }
        for s in shards.iter_mut() {
            s.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::calendar::periods::tests::keys;

    /// Deterministic draws, so that a failure replays.
    struct Draws(u64);

    impl Draws {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            mix64(self.0) % n
        }
    }

    /// `n` articles with distinct ids and up to three views each (so most tie), on days 85 to
    /// 102: three weeks, two months, one year.
    fn articles(draws: &mut Draws, n: usize) -> Vec<(ArticleId, PeriodBuckets<u64>)> {
        let mut ids = HashSet::new();
        (0..n)
            .map(|_| {
                let id = loop {
                    let id = draws.below(4 * n as u64);
                    if ids.insert(id) {
                        break id;
                    }
                };
                let mut views = PeriodBuckets::<u64>::default();
                for _ in 0..draws.below(4) {
                    views.record(&keys(85 + draws.below(18) as i32), |c| *c += 1);
                }
                (ArticleId::from(id), views)
            })
            .collect()
    }

    /// Each shard's lists as built by offering the articles one by one.
    fn offered_one_by_one(articles: &[(ArticleId, PeriodBuckets<u64>)]) -> Vec<Shard> {
        let mut shards: Vec<Shard> = (0..SHARDS).map(|_| Shard::default()).collect();
        for (a, views) in articles {
            shards[shard_of(*a)]
                .lists
                .update_each(views, None, |list, v| list.offer(a.as_u64(), v));
        }
        shards
    }

    fn sorted(list: &TopList) -> Vec<(u64, u64)> {
        let mut entries: Vec<_> = list.entries().collect();
        entries.sort_unstable_by(rank_order);
        entries
    }

    /// The top `TOP` of `period` at `now` by sorting every article.
    fn brute_force(
        articles: &[(ArticleId, PeriodBuckets<u64>)],
        period: Period,
        now: &PeriodKeys,
    ) -> Vec<(ArticleId, u64)> {
        let mut all: Vec<(u64, u64)> = articles
            .iter()
            .map(|(a, views)| (a.as_u64(), views.at(period, now).copied().unwrap_or(0)))
            .filter(|e| e.1 > 0)
            .collect();
        all.sort_unstable_by(rank_order);
        all.truncate(TOP);
        all.into_iter()
            .map(|(a, v)| (ArticleId::from(a), v))
            .collect()
    }

    #[test]
    fn a_rebuild_gives_the_lists_of_offering_articles_one_by_one() {
        let mut draws = Draws(7);
        let rankings = Rankings::new();
        // Up to well past `2 * TOP` articles per shard and list, in draw order, by ascending views
        // (each article enters) and by descending id (each tie enters).
        for (round, n) in [0, 1, 40, 1_700, 6_000, 6_000, 6_000]
            .into_iter()
            .enumerate()
        {
            let mut articles = articles(&mut draws, n);
            match round % 3 {
                1 => articles.sort_by_key(|(_, v)| *v.at(Period::Total, &keys(0)).unwrap()),
                2 => articles.sort_by_key(|(a, _)| std::cmp::Reverse(*a)),
                _ => {}
            }
            rankings.rebuild(&articles);
            let expected = offered_one_by_one(&articles);
            for (shard, expected) in rankings.shards.iter().zip(&expected) {
                let shard = shard.lock();
                for (list, expected) in shard.lists.values().zip(expected.lists.values()) {
                    assert_eq!(sorted(list), sorted(expected), "n = {n}");
                    if list.ids.len() == TOP {
                        let lowest = list.entry(list.lowest);
                        assert!(list.entries().all(|e| e == lowest || above(e, lowest)));
                    }
                }
            }
            for now in [keys(102), keys(103)] {
                for period in Period::ALL {
                    assert_eq!(
                        rankings.top(period, TOP, &now),
                        brute_force(&articles, period, &now),
                        "n = {n}, {period:?} at {now:?}"
                    );
                }
            }
        }
    }
}
