//! Unique visitors per period and per day of history.
//!
//! One [`Distinct`] per period bucket (see [`crate::visitors::distinct`] for what is exact and what is
//! estimated). A visitor is added on its first page view of each local day (the session table
//! tells whether it was already seen today), so a returning visitor does not come here at all.
//!
//! # Locking
//! One mutex, taken by a visitor's first page view of a local day and by readings.

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::calendar::local::PeriodKeys;
use crate::calendar::periods::{DayRing, PeriodBuckets, Periods};
use crate::ids::{mix64, VisitorId};
use crate::visitors::distinct::Distinct;

/// The distinct-visitor state, as kept and as saved.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct UniqueCounts {
    pub periods: PeriodBuckets<Distinct>,
    /// The distinct visitors of each local day, kept after the day's sketch is gone.
    pub days: DayRing<u64>,
}

impl UniqueCounts {
    /// Whether restored data is safe to use.
    pub(crate) fn is_well_formed(&self) -> bool {
        self.periods.is_well_formed()
            && self.periods.values().all(Distinct::is_consistent)
            && self.days.is_well_formed()
    }
}

#[derive(Default)]
pub(crate) struct Unique {
    inner: Mutex<UniqueCounts>,
}

impl Unique {
    /// Adds `visitor` to every period `keys` falls in.
    pub(crate) fn insert(&self, visitor: VisitorId, keys: &PeriodKeys) {
        let h = mix64(visitor.as_u64());
        let mut u = self.inner.lock();
        u.periods.record(keys, |d| d.insert(h));
        let today = u.periods.day(keys.day).map_or(0, Distinct::count);
        if let Some(slot) = u.days.slot_mut(keys.day) {
            *slot = today;
        }
    }

    /// Distinct visitors per reading period at `now`.
    pub(crate) fn periods(&self, now: &PeriodKeys) -> Periods {
        self.inner.lock().periods.read(now, Distinct::count)
    }

    /// A copy of the state (for a snapshot).
    pub(crate) fn snapshot(&self) -> UniqueCounts {
        self.inner.lock().clone()
    }

    /// Takes the state recorded so far, leaving it empty (a shared site's counter hands it to
    /// its next sync).
    pub(crate) fn take(&self) -> UniqueCounts {
        std::mem::take(&mut *self.inner.lock())
    }

    /// Replaces the state with a restored one.
    pub(crate) fn restore(&self, counts: UniqueCounts) {
        *self.inner.lock() = counts;
    }

    /// Distinct visitors of each of `days` (zero outside the history).
    pub(crate) fn days(&self, days: &[i32]) -> Vec<u64> {
        let u = self.inner.lock();
        days.iter()
            .map(|&d| u.days.get(d).copied().unwrap_or(0))
            .collect()
    }
}
