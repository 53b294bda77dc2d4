//! The pace limit: how many page views each visitor had in its current minute.
//!
//! A visitor's minute starts at its first page view after the previous minute ended; within it,
//! page views past the limit are refused. So no visitor has more than the limit counted in any
//! of its minutes (a burst that straddles the end of one minute and the start of the next may
//! get the limit in each). The table holds the visitors with a page view in the last minute, in
//! a [`Windows`] table bounded by `max_sessions`: past the bound the oldest minutes are
//! forgotten first, and a forgotten visitor's minute starts afresh (the approximation under a
//! flood of new ids). It is not saved in snapshots: after a restart every visitor starts a new
//! minute.

use crate::calendar::clock::NS_PER_SEC;
use crate::common::windows::Windows;
use crate::ids::{IdBuildHasher, VisitorId};

/// The length of a visitor's pace window.
pub(crate) const MINUTE: i64 = 60 * NS_PER_SEC;

/// Page views per visitor in its current minute.
pub(crate) struct Pace {
    minutes: Windows<u64, u32, IdBuildHasher>,
}

impl Pace {
    pub(crate) fn new(max_entries: usize) -> Pace {
        Pace {
            minutes: Windows::new(MINUTE, max_entries),
        }
    }

    /// Whether a page view by `visitor` at `now` stays within `per_minute` page views in its
    /// minute; if so, it is counted against the minute. Locks the visitor's shard of the table.
    #[inline]
    pub(crate) fn admit(&self, visitor: VisitorId, now: i64, per_minute: u32) -> bool {
        let admitted = self.minutes.admit(
            visitor.as_u64(),
            now,
            |seen| {
                let under = *seen < per_minute;
                *seen += u32::from(under);
                under
            },
            1,
        );
        if self.minutes.over_bound() {
            self.minutes.try_upkeep(now);
        }
        admitted
    }

    /// Drops ended minutes (and past the bound, the oldest). Never blocks.
    pub(crate) fn try_upkeep(&self, now: i64) {
        self.minutes.try_upkeep(now);
    }

    /// Visitors with a minute going on (at most `max_sessions` after upkeep).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn len(&self) -> usize {
        self.minutes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_the_limit_in_a_minute_then_a_new_minute() {
        let pace = Pace::new(100);
        let v = VisitorId::from(7);
        let admitted = (0..300)
            .filter(|i| pace.admit(v, i * 100_000_000, 60))
            .count();
        // 300 page views in 30 s: the first 60 count.
        assert_eq!(admitted, 60);
        // The minute began at 0: at 60 s a new one begins.
        assert!(!pace.admit(v, MINUTE - 1, 60));
        assert!(pace.admit(v, MINUTE, 60));
        // Another visitor has a minute of its own.
        assert!(pace.admit(VisitorId::from(8), MINUTE, 60));
        pace.try_upkeep(2 * MINUTE);
        assert_eq!(pace.len(), 0);
    }

    #[test]
    fn a_limit_of_one() {
        let pace = Pace::new(100);
        let v = VisitorId::from(1);
        assert!(pace.admit(v, 0, 1));
        assert!(!pace.admit(v, 1, 1));
        assert!(pace.admit(v, MINUTE, 1));
    }
}
