//! Refresh dedup: when each (article, visitor) pair last had a view counted.
//!
//! The pairs are a [`Windows`] table (see `common/windows.rs` for its upkeep and locking): an
//! entry older than the dedup window means the same as no entry. Past `max_entries`, upkeep
//! drops the oldest entries first; a dropped pair's next view counts again (the documented
//! approximation under a flood).

use serde::{Deserialize, Serialize};

use crate::common::windows::Windows;
use crate::ids::{ArticleId, IdBuildHasher, VisitorId};

type Pair = (u64, u64);

/// When each (article, visitor) pair last had a view counted, for one dedup window.
pub(crate) struct Dedup {
    counted: Windows<Pair, (), IdBuildHasher>,
}

impl Dedup {
    pub(crate) fn new(window: i64, max_entries: usize) -> Dedup {
        Dedup {
            counted: Windows::new(window, max_entries),
        }
    }

    /// Whether a view of `article` by `visitor` at `now` counts; if so, remembers it.
    #[inline]
    pub(crate) fn admit(&self, article: ArticleId, visitor: VisitorId, now: i64) -> bool {
        if self.counted.window() == 0 {
            return true;
        }
        let pair = (article.as_u64(), visitor.as_u64());
        // A refresh within the window is the common case: answer it under a shared read lock.
        if self.counted.is_live(&pair, now) {
            return false;
        }
        self.counted.admit(pair, now, |()| false, ())
    }

    /// Whether more than `max_entries` pairs are held.
    #[inline]
    pub(crate) fn over_bound(&self) -> bool {
        self.counted.over_bound()
    }

    /// Drops expired entries and, past the bound, the oldest. Never blocks.
    pub(crate) fn try_upkeep(&self, now: i64) {
        self.counted.try_upkeep(now);
    }

    /// Pairs held.
    pub(crate) fn len(&self) -> usize {
        self.counted.len()
    }

    /// Every live entry (for a snapshot), instants as ages before `saved_at`.
    pub(crate) fn records(&self, saved_at: i64) -> Vec<SavedDedup> {
        self.counted
            .live(saved_at)
            .map(|((article, visitor), at, ())| SavedDedup {
                article: ArticleId::from(article),
                visitor: VisitorId::from(visitor),
                age: saved_at.saturating_sub(at),
            })
            .collect()
    }

    /// Restores vetted entries (instants in range) into this empty table while nothing else can
    /// see it.
    pub(crate) fn restore(&mut self, saved_at: i64, saved: &[SavedDedup]) {
        self.counted.restore(saved.iter().map(|d| {
            let pair = (d.article.as_u64(), d.visitor.as_u64());
            (pair, saved_at.saturating_sub(d.age), ())
        }));
    }

    /// Forgets every pair of `article` (when its counts are reset). Scans the table.
    pub(crate) fn forget_article(&self, article: ArticleId) {
        let a = article.as_u64();
        self.counted.forget(|k| k.0 == a);
    }
}

/// When a visitor's view of an article was last counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SavedDedup {
    pub article: ArticleId,
    pub visitor: VisitorId,
    /// `saved_at - counted_at`.
    pub age: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000_000_000;

    #[test]
    fn a_view_counts_once_per_window() {
        let d = Dedup::new(30 * MIN, 100);
        let (a, v) = (ArticleId::from(1), VisitorId::from(2));
        assert!(d.admit(a, v, 0));
        assert!(!d.admit(a, v, 30 * MIN - 1));
        assert!(d.admit(a, v, 30 * MIN));
        assert!(d.admit(ArticleId::from(3), v, 30 * MIN));
    }

    #[test]
    fn expired_entries_are_dropped_and_the_bound_holds() {
        let d = Dedup::new(30 * MIN, 10);
        for v in 0..25u64 {
            d.admit(ArticleId::from(1), VisitorId::from(v), v as i64);
            if d.over_bound() {
                d.try_upkeep(v as i64);
            }
        }
        assert_eq!(d.len(), 10);
        // The ten most recent are kept: visitor 24 is still deduplicated, visitor 0 is not.
        assert!(!d.admit(ArticleId::from(1), VisitorId::from(24), 100));
        assert!(d.admit(ArticleId::from(1), VisitorId::from(0), 100));
        d.try_upkeep(30 * MIN + 100);
        assert_eq!(d.len(), 0);
    }
}
