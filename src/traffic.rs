//! The site's visits and page views: per period (through [`PeriodBuckets`]) and per day of
//! history, striped by thread.
//!
//! # Locking
//! A page view locks its thread's stripe (one of [`stripe_count`]); threads share a stripe only
//! when there are more threads than stripes, so the lock is nearly always uncontended. Readings
//! lock each stripe in turn, briefly, and add them up.

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::calendar::{Calendar, DayInfo, PeriodKeys};
use crate::periods::{DayRing, PeriodBuckets, Periods};
use crate::sessions::UPKEEP_EVERY;
use crate::stripes::{stripe_count, thread_index, Padded};

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

impl crate::periods::Merge for Tally {
    fn merge(&mut self, other: &Tally) {
        self.add(other);
    }
}

/// The counts of one stripe, or of all stripes merged (as in a snapshot).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct TrafficCounts {
    pub periods: PeriodBuckets<Tally>,
    pub days: DayRing<Tally>,
}

#[derive(Default)]
struct Stripe {
    counts: TrafficCounts,
    /// The local day of the stripe's last page view, so most page views skip the calendar.
    day: Option<DayInfo>,
    /// Page views since upkeep last ran from this stripe.
    since_upkeep: u32,
}

pub(crate) struct Traffic {
    stripes: Box<[Padded<Mutex<Stripe>>]>,
}

/// What recording a page view found out.
pub(crate) struct Recorded {
    pub day: DayInfo,
    pub upkeep_due: bool,
}

impl Traffic {
    pub(crate) fn new() -> Traffic {
        Traffic {
            stripes: (0..stripe_count()).map(|_| Padded::default()).collect(),
        }
    }

    /// Counts a page view at `now`, and a visit when `new_visit`.
    #[inline]
    pub(crate) fn record(&self, calendar: &Calendar, now: i64, new_visit: bool) -> Recorded {
        let i = thread_index() & (self.stripes.len() - 1);
        let mut s = self.stripes[i].lock();
        let day = match s.day {
            Some(d) if d.contains(now) => d,
            _ => {
                let d = calendar.day(now);
                s.day = Some(d);
                d
            }
        };
        let add = Tally {
            visits: u64::from(new_visit),
            page_views: 1,
        };
        s.counts.periods.record(&day.keys, |t| t.add(&add));
        if let Some(t) = s.counts.days.slot_mut(day.keys.day) {
            t.add(&add);
        }
        s.since_upkeep += 1;
        let upkeep_due = s.since_upkeep >= UPKEEP_EVERY;
        if upkeep_due {
            s.since_upkeep = 0;
        }
        Recorded { day, upkeep_due }
    }

    /// Visits and page views per reading period at `now`.
    pub(crate) fn periods(&self, now: &PeriodKeys) -> (Periods, Periods) {
        let mut visits = Periods::default();
        let mut page_views = Periods::default();
        for s in self.stripes.iter() {
            let s = s.lock();
            visits += s.counts.periods.read(now, |t| t.visits);
            page_views += s.counts.periods.read(now, |t| t.page_views);
        }
        (visits, page_views)
    }

    /// All stripes folded into one (for a snapshot). Locks each stripe in turn.
    pub(crate) fn merged(&self) -> TrafficCounts {
        let mut all = TrafficCounts::default();
        for s in self.stripes.iter() {
            let s = s.lock();
            all.periods.merge(&s.counts.periods);
            all.days.merge(&s.counts.days);
        }
        all
    }

    /// Replaces the counts with restored ones (into the first stripe).
    pub(crate) fn restore(&self, counts: TrafficCounts) {
        for s in self.stripes.iter() {
            *s.lock() = Stripe::default();
        }
        self.stripes[0].lock().counts = counts;
    }

    /// Visits and page views for each of `days` (one lock per stripe for the whole list).
    pub(crate) fn days(&self, days: &[i32]) -> Vec<Tally> {
        let mut sums = vec![Tally::default(); days.len()];
        for s in self.stripes.iter() {
            let s = s.lock();
            for (sum, &d) in sums.iter_mut().zip(days) {
                if let Some(t) = s.counts.days.get(d) {
                    sum.add(t);
                }
            }
        }
        sums
    }
}
