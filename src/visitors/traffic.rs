//! The site's visits and page views: per period (through [`PeriodBuckets`]) and per day of
//! history, each session shard holding its share ([`ShardTraffic`]).
//!
//! # Locking
//! A page view updates its visitor's shard's share under the shard's lock, which it holds
//! already. Readings lock each shard in turn, briefly, and add the shares up.

use serde::{Deserialize, Serialize};

use crate::calendar::local::{Calendar, DayInfo, PeriodKeys};
use crate::calendar::periods::{DayRing, PeriodBuckets, Periods};

/// Visits and page views.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Tally {
    pub visits: u64,
    pub page_views: u64,
}

impl Tally {
    fn add(&mut self, o: &Tally) {
        self.visits = self.visits.saturating_add(o.visits);
        self.page_views = self.page_views.saturating_add(o.page_views);
    }
}

impl crate::calendar::periods::Merge for Tally {
    fn merge(&mut self, other: &Tally) {
        self.add(other);
    }
}

/// The counts of one shard, or of all shards merged (as in a snapshot).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct TrafficCounts {
    pub periods: PeriodBuckets<Tally>,
    pub days: DayRing<Tally>,
}

/// One shard's share of the counts, with the local day of its last page view cached so most
/// page views skip the calendar. Lives in the session table's shard, under the same lock.
#[derive(Default)]
pub(crate) struct ShardTraffic {
    counts: TrafficCounts,
    day: Option<DayInfo>,
}

impl ShardTraffic {
    /// Counts a page view at `now`, and a visit when `new_visit`.
    #[inline]
    /// Answers the page view's local day.
    pub(crate) fn record(&mut self, calendar: &Calendar, now: i64, new_visit: bool) -> DayInfo {
        let day = match self.day {
            Some(d) if d.contains(now) => d,
            _ => {
                let d = calendar.day(now);
                self.day = Some(d);
                d
            }
        };
        let add = Tally {
            visits: u64::from(new_visit),
            page_views: 1,
        };
        self.counts.periods.record(&day.keys, |t| t.add(&add));
        if let Some(t) = self.counts.days.slot_mut(day.keys.day) {
            t.add(&add);
        }
        day
    }

    /// Adds this shard's visits and page views per reading period at `now`.
    pub(crate) fn add_periods(
        &self,
        now: &PeriodKeys,
        visits: &mut Periods,
        page_views: &mut Periods,
    ) {
        *visits += self.counts.periods.read(now, |t| t.visits);
        *page_views += self.counts.periods.read(now, |t| t.page_views);
    }

    /// Adds this shard's visits and page views on each of `days` into `sums`.
    pub(crate) fn add_days(&self, days: &[i32], sums: &mut [Tally]) {
        for (sum, &d) in sums.iter_mut().zip(days) {
            if let Some(t) = self.counts.days.get(d) {
                sum.add(t);
            }
        }
    }

    /// Folds this shard's counts into `all` (for a snapshot).
    pub(crate) fn merge_into(&self, all: &mut TrafficCounts) {
        all.periods.merge(&self.counts.periods);
        all.days.merge(&self.counts.days);
    }

    /// Takes the counts recorded so far, leaving zeros (a shared site's counter hands them to
    /// its next sync).
    pub(crate) fn take_counts(&mut self) -> TrafficCounts {
        std::mem::take(&mut self.counts)
    }

    /// Replaces the counts (restoring a snapshot into one shard, clearing the others).
    pub(crate) fn replace(&mut self, counts: TrafficCounts) {
        *self = ShardTraffic {
            counts,
            ..ShardTraffic::default()
        };
    }
}
