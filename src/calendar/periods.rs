//! Calendar buckets: one implementation of "today, yesterday, this week, ..., total" used by
//! the site's counters, the unique-visitor sketches and the article counters.
//!
//! A [`PeriodBuckets<T>`] keeps, for each of day, week, month and year, the current and the
//! previous period's value (each tagged with its period key), plus the total. Recording an event
//! needs only the event's [`PeriodKeys`]; a bucket whose key is older than the event's rolls over.
//! Reading at an instant picks the buckets whose keys match that instant's periods, so a bucket
//! nobody touched since last week simply reads as zero.

use serde::{Deserialize, Serialize};

use crate::calendar::local::PeriodKeys;

/// A reading period.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Period {
    /// The current local day.
    Today,
    /// The previous local day.
    Yesterday,
    /// From the first local day of this week through today.
    ThisWeek,
    /// The whole previous week.
    LastWeek,
    /// From the first of this local month through today.
    ThisMonth,
    /// The whole previous month.
    LastMonth,
    /// From 1 January of this local year through today.
    ThisYear,
    /// Everything ever counted.
    Total,
}

/// Parses a period's [`name`](Period::name).
///
/// ```
/// use visitor_counter::Period;
/// assert_eq!("this_week".parse::<Period>(), Ok(Period::ThisWeek));
/// assert!("week".parse::<Period>().is_err());
/// ```
impl std::str::FromStr for Period {
    type Err = UnknownPeriod;
    fn from_str(s: &str) -> Result<Period, UnknownPeriod> {
        Period::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| UnknownPeriod(s.to_owned()))
    }
}

/// A name that is no [`Period`]'s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownPeriod(String);

impl std::fmt::Display for UnknownPeriod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = Period::ALL.iter().map(|p| p.name()).collect();
        write!(
            f,
            "{:?} is no period: give one of {}",
            self.0,
            names.join(", ")
        )
    }
}

impl std::error::Error for UnknownPeriod {}

impl Period {
    /// The period's name in snake case, as in [`Periods`]' fields: `today`, `yesterday`,
    /// `this_week`, `last_week`, `this_month`, `last_month`, `this_year`, `total`.
    pub const fn name(self) -> &'static str {
        match self {
            Period::Today => "today",
            Period::Yesterday => "yesterday",
            Period::ThisWeek => "this_week",
            Period::LastWeek => "last_week",
            Period::ThisMonth => "this_month",
            Period::LastMonth => "last_month",
            Period::ThisYear => "this_year",
            Period::Total => "total",
        }
    }

    /// Every period, in the order of the fields of [`Periods`].
    pub const ALL: [Period; 8] = [
        Period::Today,
        Period::Yesterday,
        Period::ThisWeek,
        Period::LastWeek,
        Period::ThisMonth,
        Period::LastMonth,
        Period::ThisYear,
        Period::Total,
    ];
}

/// One number per reading period.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Periods {
    /// The current local day.
    pub today: u64,
    /// The previous local day.
    pub yesterday: u64,
    /// This week, its first local day through today.
    pub this_week: u64,
    /// The whole previous week.
    pub last_week: u64,
    /// This month, its first local day through today.
    pub this_month: u64,
    /// The whole previous month.
    pub last_month: u64,
    /// This year, 1 January through today.
    pub this_year: u64,
    /// Everything ever counted.
    pub total: u64,
}

impl Periods {
    /// The number for one period.
    pub const fn get(&self, period: Period) -> u64 {
        match period {
            Period::Today => self.today,
            Period::Yesterday => self.yesterday,
            Period::ThisWeek => self.this_week,
            Period::LastWeek => self.last_week,
            Period::ThisMonth => self.this_month,
            Period::LastMonth => self.last_month,
            Period::ThisYear => self.this_year,
            Period::Total => self.total,
        }
    }
}

impl std::ops::AddAssign for Periods {
    fn add_assign(&mut self, o: Periods) {
        self.today = self.today.saturating_add(o.today);
        self.yesterday = self.yesterday.saturating_add(o.yesterday);
        self.this_week = self.this_week.saturating_add(o.this_week);
        self.last_week = self.last_week.saturating_add(o.last_week);
        self.this_month = self.this_month.saturating_add(o.this_month);
        self.last_month = self.last_month.saturating_add(o.last_month);
        self.this_year = self.this_year.saturating_add(o.this_year);
        self.total = self.total.saturating_add(o.total);
    }
}

/// Folding one bucket value into another (used to merge stripes into one snapshot).
pub(crate) trait Merge {
    /// Adds `other` into `self`.
    fn merge(&mut self, other: &Self);
}

impl Merge for u64 {
    fn merge(&mut self, other: &u64) {
        *self = self.saturating_add(*other);
    }
}

/// Key of an empty slot: older than any real period.
const EMPTY: i32 = i32::MIN;

/// The current and the previous period of one kind, each tagged with its key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Rolling<T> {
    /// `slots[0]` holds the newest key, `slots[1]` an older one.
    slots: [(i32, T); 2],
}

impl<T: Default> Default for Rolling<T> {
    fn default() -> Self {
        Rolling {
            slots: [(EMPTY, T::default()), (EMPTY, T::default())],
        }
    }
}

impl<T: Default> Rolling<T> {
    /// The value for period `key`, rolling the slots over when `key` is newer than both. `None`
    /// when `key` is older than both slots (an event that arrives more than a period late).
    #[inline]
    pub(crate) fn slot_mut(&mut self, key: i32) -> Option<&mut T> {
        let [newest, older] = &mut self.slots;
        if newest.0 == key {
            Some(&mut newest.1)
        } else if key > newest.0 {
            let fresh = (key, T::default());
            *older = std::mem::replace(newest, fresh);
            Some(&mut newest.1)
        } else if older.0 == key {
            Some(&mut older.1)
        } else if key > older.0 {
            *older = (key, T::default());
            Some(&mut older.1)
        } else {
            None
        }
    }

    /// Whether the slots are in order (newest first, distinct keys).
    fn is_well_formed(&self) -> bool {
        let [a, b] = &self.slots;
        b.0 == EMPTY || a.0 > b.0
    }

    /// The value for period `key`, if it is held.
    #[inline]
    pub(crate) fn get(&self, key: i32) -> Option<&T> {
        self.slots.iter().find(|s| s.0 == key).map(|s| &s.1)
    }
}

/// One value per local day for the last [`HISTORY_DAYS`] days, in a ring indexed by day key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub(crate) struct DayRing<T> {
    #[serde(deserialize_with = "crate::common::bounded::vec_max::<_, _, HISTORY_DAYS>")]
    slots: Vec<(i32, T)>,
}

/// Days of history kept: [`Counter::history`](crate::Counter::history) returns at most this many rows.
pub const HISTORY_DAYS: usize = 512;

impl<T: Default + Clone> Default for DayRing<T> {
    fn default() -> Self {
        DayRing {
            slots: vec![(EMPTY, T::default()); HISTORY_DAYS],
        }
    }
}

impl<T: Default> DayRing<T> {
    fn index(day: i32) -> usize {
        day.rem_euclid(HISTORY_DAYS as i32) as usize
    }

    /// The value for `day`, replacing a day [`HISTORY_DAYS`] or more older; `None` for a day
    /// older than what its slot holds.
    #[inline]
    pub(crate) fn slot_mut(&mut self, day: i32) -> Option<&mut T> {
        let slot = self.slots.get_mut(Self::index(day))?;
        if slot.0 < day {
            *slot = (day, T::default());
        }
        (slot.0 == day).then_some(&mut slot.1)
    }

    /// The value for `day`, if held.
    pub(crate) fn get(&self, day: i32) -> Option<&T> {
        self.slots
            .get(Self::index(day))
            .filter(|s| s.0 == day)
            .map(|s| &s.1)
    }
}

impl<T: Default + Merge> Rolling<T> {
    /// Folds `other` in. The two newest keys of either survive, which are all a later reading
    /// or page view can reach.
    fn merge(&mut self, other: &Rolling<T>) {
        for (key, v) in &other.slots {
            if *key != EMPTY {
                if let Some(mine) = self.slot_mut(*key) {
                    mine.merge(v);
                }
            }
        }
    }
}

impl<T: Default + Merge> DayRing<T> {
    /// Folds `other` in: equal days add up, otherwise the newer day wins its slot.
    pub(crate) fn merge(&mut self, other: &DayRing<T>) {
        for (day, v) in &other.slots {
            if *day != EMPTY {
                if let Some(mine) = self.slot_mut(*day) {
                    mine.merge(v);
                }
            }
        }
    }

    /// Whether every held day sits in its own slot (vets restored data).
    pub(crate) fn is_well_formed(&self) -> bool {
        self.slots.len() == HISTORY_DAYS
            && self
                .slots
                .iter()
                .enumerate()
                .all(|(i, s)| s.0 == EMPTY || Self::index(s.0) == i)
    }

    /// The held days and their values.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (i32, &T)> {
        self.slots
            .iter()
            .filter(|s| s.0 != EMPTY)
            .map(|s| (s.0, &s.1))
    }
}

/// Values per day, week, month and year (current and previous of each) and in total.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct PeriodBuckets<T> {
    day: Rolling<T>,
    week: Rolling<T>,
    month: Rolling<T>,
    year: Rolling<T>,
    total: T,
}

impl<T: Default> PeriodBuckets<T> {
    /// Applies `f` to the bucket of every period that `keys` falls in, and to the total.
    #[inline]
    pub(crate) fn record(&mut self, keys: &PeriodKeys, mut f: impl FnMut(&mut T)) {
        for (rolling, key) in [
            (&mut self.day, keys.day),
            (&mut self.week, keys.week),
            (&mut self.month, keys.month),
            (&mut self.year, keys.year),
        ] {
            if let Some(v) = rolling.slot_mut(key) {
                f(v);
            }
        }
        f(&mut self.total);
    }

    /// The reading periods as seen at an instant whose periods are `now`, with `value` turning
    /// a bucket into a number.
    pub(crate) fn read(&self, now: &PeriodKeys, value: impl Fn(&T) -> u64) -> Periods {
        let at = |r: &Rolling<T>, key: i32| r.get(key).map_or(0, &value);
        Periods {
            today: at(&self.day, now.day),
            yesterday: at(&self.day, now.day - 1),
            this_week: at(&self.week, now.week),
            last_week: at(&self.week, now.week - 1),
            this_month: at(&self.month, now.month),
            last_month: at(&self.month, now.month - 1),
            this_year: at(&self.year, now.year),
            total: value(&self.total),
        }
    }

    /// Folds `other` in (see [`Rolling`]'s merge).
    pub(crate) fn merge(&mut self, other: &PeriodBuckets<T>)
    where
        T: Merge,
    {
        self.day.merge(&other.day);
        self.week.merge(&other.week);
        self.month.merge(&other.month);
        self.year.merge(&other.year);
        self.total.merge(&other.total);
    }

    /// Whether every kind's slots are in order (vets restored data).
    pub(crate) fn is_well_formed(&self) -> bool {
        [&self.day, &self.week, &self.month, &self.year]
            .iter()
            .all(|r| r.is_well_formed())
    }

    /// Every held bucket value, for vetting restored data.
    pub(crate) fn values(&self) -> impl Iterator<Item = &T> {
        [&self.day, &self.week, &self.month, &self.year]
            .into_iter()
            .flat_map(|r| r.slots.iter().map(|s| &s.1))
            .chain(std::iter::once(&self.total))
    }

    /// Every held bucket value, mutably (in the order of [`values`](Self::values)).
    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut T> {
        [
            &mut self.day,
            &mut self.week,
            &mut self.month,
            &mut self.year,
        ]
        .into_iter()
        .flat_map(|r| r.slots.iter_mut().map(|s| &mut s.1))
        .chain(std::iter::once(&mut self.total))
    }

    /// Empties the week buckets (after a change of the week's first day).
    pub(crate) fn clear_weeks(&mut self) {
        self.week = Rolling::default();
    }

    /// Adds `v` into week `week` as if recorded then (rebuilding weeks from daily history).
    pub(crate) fn add_to_week(&mut self, week: i32, v: &T)
    where
        T: Merge,
    {
        if let Some(mine) = self.week.slot_mut(week) {
            mine.merge(v);
        }
    }

    /// The bucket a reading of `period` at `now` looks at, if held.
    pub(crate) fn at(&self, period: Period, now: &PeriodKeys) -> Option<&T> {
        match period {
            Period::Today => self.day.get(now.day),
            Period::Yesterday => self.day.get(now.day - 1),
            Period::ThisWeek => self.week.get(now.week),
            Period::LastWeek => self.week.get(now.week - 1),
            Period::ThisMonth => self.month.get(now.month),
            Period::LastMonth => self.month.get(now.month - 1),
            Period::ThisYear => self.year.get(now.year),
            Period::Total => Some(&self.total),
        }
    }

    /// Mirrors the counts of `counts` into these buckets: for every period `keys` falls in (or,
    /// without `keys`, every period `counts` holds), `f` gets this bucket and that count.
    pub(crate) fn update_each(
        &mut self,
        counts: &PeriodBuckets<u64>,
        keys: Option<&PeriodKeys>,
        mut f: impl FnMut(&mut T, u64),
    ) {
        let pairs = [
            (&mut self.day, &counts.day, keys.map(|k| k.day)),
            (&mut self.week, &counts.week, keys.map(|k| k.week)),
            (&mut self.month, &counts.month, keys.map(|k| k.month)),
            (&mut self.year, &counts.year, keys.map(|k| k.year)),
        ];
        for (mine, theirs, key) in pairs {
            for &(k, v) in theirs.slots.iter().rev() {
                if k != EMPTY && key.is_none_or(|key| key == k) {
                    if let Some(slot) = mine.slot_mut(k) {
                        f(slot, v);
                    }
                }
            }
        }
        f(&mut self.total, counts.total);
    }

    /// The bucket of local day `day`, if held.
    pub(crate) fn day(&self, day: i32) -> Option<&T> {
        self.day.get(day)
    }

    /// The total.
    pub(crate) fn total(&self) -> &T {
        &self.total
    }

    /// The bucket of period `key` of `span` (the total's key is ignored), rolling that span's
    /// buckets over as [`record`](Self::record) does; `None` for a period older than both held.
    pub(crate) fn bucket_mut(&mut self, span: Span, key: i32) -> Option<&mut T> {
        match span {
            Span::Day => self.day.slot_mut(key),
            Span::Week => self.week.slot_mut(key),
            Span::Month => self.month.slot_mut(key),
            Span::Year => self.year.slot_mut(key),
            Span::Total => Some(&mut self.total),
        }
    }

    /// The same buckets, each value turned into another by `f`.
    pub(crate) fn map<U>(&self, f: impl Fn(&T) -> U) -> PeriodBuckets<U> {
        let roll = |r: &Rolling<T>| Rolling {
            slots: [
                (r.slots[0].0, f(&r.slots[0].1)),
                (r.slots[1].0, f(&r.slots[1].1)),
            ],
        };
        PeriodBuckets {
            day: roll(&self.day),
            week: roll(&self.week),
            month: roll(&self.month),
            year: roll(&self.year),
            total: f(&self.total),
        }
    }
}

/// The kinds of period a bucket belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Span {
    Day,
    Week,
    Month,
    Year,
    Total,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The periods of local day `day`, with 7-day weeks, 30-day months and 365-day years.
    pub(crate) fn keys(day: i32) -> PeriodKeys {
        PeriodKeys {
            day,
            week: day.div_euclid(7),
            month: day.div_euclid(30),
            year: day.div_euclid(365),
        }
    }

    #[test]
    fn rolling_keeps_current_and_previous() {
        let mut r = Rolling::<u64>::default();
        *r.slot_mut(10).unwrap() += 1;
        *r.slot_mut(11).unwrap() += 2;
        assert_eq!(r.get(10), Some(&1));
        assert_eq!(r.get(11), Some(&2));
        // A late event for the previous period still lands.
        *r.slot_mut(10).unwrap() += 1;
        assert_eq!(r.get(10), Some(&2));
        // Two periods later the oldest is gone; an event older than both is dropped.
        *r.slot_mut(13).unwrap() += 5;
        assert_eq!(r.get(10), None);
        assert_eq!(r.get(11), Some(&2));
        assert!(r.slot_mut(9).is_none());
        // An event between the two held periods replaces the older one.
        *r.slot_mut(12).unwrap() += 7;
        assert_eq!(r.get(12), Some(&7));
        assert_eq!(r.get(13), Some(&5));
    }

    #[test]
    fn reads_zero_for_periods_not_held() {
        let mut b = PeriodBuckets::<u64>::default();
        b.record(&keys(100), |v| *v += 3);
        let same_day = b.read(&keys(100), |v| *v);
        assert_eq!((same_day.today, same_day.total), (3, 3));
        let next_day = b.read(&keys(101), |v| *v);
        assert_eq!((next_day.today, next_day.yesterday), (0, 3));
        let much_later = b.read(&keys(1000), |v| *v);
        assert_eq!(
            much_later,
            Periods {
                total: 3,
                ..Periods::default()
            }
        );
    }
}
