//! The site's local calendar: which local day, week, month and year an instant falls in.
//!
//! Everything here is a pure function of an instant (nanoseconds since the Unix epoch) and the
//! configuration, so it is unit- and property-tested against a plain day-by-day reference.
//!
//! - A moment's **local day** is the date of that moment shifted by the zone's offset at that
//!   moment (a fixed [`UtcOffset`], or with the `tz` feature an IANA zone with daylight saving,
//!   whose days last 23 or 25 hours at the changes).
//! - Periods are identified by integer keys that increase by one from one period to the next:
//!   the day key is the Julian day number, the week key counts weeks that begin on the configured
//!   weekday, the month key is `year * 12 + month - 1`, the year key is the year.
//!
//! # A day's first and last instant
//! A local day starts at the earliest instant whose local date it is: its local midnight when
//! that exists once; when a change skips midnight (clocks jump from 23:59:59 to 01:00), the
//! first instant after the gap; when a change repeats midnight (clocks fall back from 01:00 to
//! 00:00, as Cuba's do), the first of the two midnights. A day ends where the next day starts,
//! found the same way, never at its start plus 24 hours: so days of 23 or 25 hours, of 23.5
//! hours (Lord Howe Island), days around a zone's change of its standard offset, and days a zone
//! skips altogether (Samoa's 30 December 2011, of zero length) all come out exact. The local
//! date of an instant, and the first instant of a date, come from the bundled tz database
//! (`jiff`), whose rules this follows wherever they are surprising.
//!
//! One case needs a rule of its own: clocks that fall back across midnight, into the day
//! before (Goose Bay on 29 October 2000 went from 00:01 back to 23:01 on the 28th). The
//! minute that read the 29th before the change counts on the 28th, and the 29th starts at its
//! midnight after the change: a day starts at the first instant from which every later instant
//! reads its date or a later one, so that days follow each other without overlapping.

use time::{Date, UtcOffset, Weekday};

use crate::calendar::clock::{NS_PER_DAY, NS_PER_SEC};

/// Julian day number of 1970-01-01.
const UNIX_EPOCH_JULIAN_DAY: i64 = 2_440_588;

/// The keys of the periods an instant falls in. Consecutive periods have consecutive keys, so
/// "the previous week" is `week - 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct PeriodKeys {
    /// Julian day number of the local date.
    pub day: i32,
    /// Week number: weeks begin at local midnight of the configured weekday.
    pub week: i32,
    /// `year * 12 + (month - 1)`.
    pub month: i32,
    /// The local year.
    pub year: i32,
}

/// The period keys of a local date when weeks begin on `week_start`.
pub(crate) fn period_keys(date: Date, week_start: Weekday) -> PeriodKeys {
    let day = date.to_julian_day();
    // Julian day 0 is a Monday, so a day whose number is `k (mod 7)` is `k` days after Monday.
    let anchor = i32::from(week_start.number_days_from_monday());
    PeriodKeys {
        day,
        week: (day - anchor).div_euclid(7),
        month: date.year() * 12 + i32::from(u8::from(date.month())) - 1,
        year: date.year(),
    }
}

/// Where local days come from.
#[derive(Clone, Debug)]
pub(crate) enum Zone {
    /// A fixed offset from UTC.
    Fixed(UtcOffset),
    /// An IANA time zone with its daylight-saving rules.
    #[cfg(feature = "tz")]
    Named(jiff::tz::TimeZone),
}

impl Zone {
    /// Looks up an IANA zone name such as `"Europe/Berlin"` in the bundled database.
    #[cfg(feature = "tz")]
    pub(crate) fn named(name: &str) -> Option<Zone> {
        jiff::tz::db().get(name).ok().map(Zone::Named)
    }

    /// A short description for messages and snapshots.
    pub(crate) fn describe(&self) -> String {
        match self {
            Zone::Fixed(o) => format!("UTC{o}"),
            #[cfg(feature = "tz")]
            Zone::Named(tz) => tz.iana_name().unwrap_or("unnamed zone").to_string(),
        }
    }

    /// The local date an instant counts on: the zone's date, but for a minute that clocks
    /// falling back across midnight give back to the day before (see "A day's first and last
    /// instant").
    pub(crate) fn local_date(&self, ns: i64) -> Date {
        self.local_day(ns).0
    }

    /// [`Zone::local_date`], with the first instants of that date and of the next one where
    /// finding the date worked them out already (a named zone's), so that
    /// [`Calendar::day`] does not look them up again.
    fn local_day(&self, ns: i64) -> (Date, Option<i64>, Option<i64>) {
        match self {
            Zone::Fixed(o) => {
                let local = ns.saturating_add(i64::from(o.whole_seconds()) * NS_PER_SEC);
                (
                    date_from_epoch_day(local.div_euclid(NS_PER_DAY)),
                    None,
                    None,
                )
            }
            #[cfg(feature = "tz")]
            Zone::Named(tz) => {
                let date = named::database_date(tz, ns);
                let start = named::day_start(tz, date);
                // A minute of a date before the clocks fell back into the day before (see
                // "A day's first and last instant") counts on that day, which ends where the
                // date starts.
                match date.previous_day() {
                    Some(before) if ns < start => (before, None, Some(start)),
                    _ => (date, Some(start), None),
                }
            }
        }
    }

    /// The first instant of a local date (local midnight, or the end of a gap that swallows it;
    /// see "A day's first and last instant").
    pub(crate) fn day_start(&self, date: Date) -> i64 {
        match self {
            Zone::Fixed(o) => {
                let epoch_day = i64::from(date.to_julian_day()) - UNIX_EPOCH_JULIAN_DAY;
                epoch_day
                    .saturating_mul(NS_PER_DAY)
                    .saturating_sub(i64::from(o.whole_seconds()) * NS_PER_SEC)
            }
            #[cfg(feature = "tz")]
            Zone::Named(tz) => named::day_start(tz, date),
        }
    }
}

/// Local dates and the first instants of dates in an IANA zone, from the bundled database.
#[cfg(feature = "tz")]
mod named {
    use jiff::tz::TimeZone;
    use jiff::{SignedDuration, Timestamp};
    use time::Date;

    /// Nanoseconds as a timestamp (clamped to what jiff holds, which is wider than an `i64`).
    fn timestamp(ns: i64) -> Timestamp {
        Timestamp::from_nanosecond(i128::from(ns)).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn nanos(ts: Timestamp) -> i64 {
        ts.as_nanosecond()
            .clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }

    fn civil(date: Date) -> Option<jiff::civil::Date> {
        jiff::civil::Date::new(
            date.year() as i16,
            u8::from(date.month()) as i8,
            date.day() as i8,
        )
        .ok()
    }

    fn from_civil(d: jiff::civil::Date) -> Date {
        time::Month::try_from(d.month() as u8)
            .ok()
            .and_then(|m| Date::from_calendar_date(i32::from(d.year()), m, d.day() as u8).ok())
            .unwrap_or(Date::MIN)
    }

    /// The date the database gives an instant.
    pub(super) fn database_date(tz: &TimeZone, ns: i64) -> Date {
        from_civil(tz.to_datetime(timestamp(ns)).date())
    }

    /// The first instant from which every instant's date is `date` or later: the earliest
    /// instant of `date` (its local midnight, or the end of a gap that swallows it), unless the
    /// clocks fall back into the day before after it, within the next two days; then the
    /// instant `date` begins again after that (its midnight in the new offset, or the end of a
    /// later gap).
    pub(super) fn day_start(tz: &TimeZone, date: Date) -> i64 {
        let Some(day) = civil(date) else {
            return i64::MIN;
        };
        let Some(mut start) = day
            .to_zoned_datetime(tz.clone())
            .ok()
            .and_then(|z| z.start_of_day().ok())
            .map(|z| z.timestamp())
        else {
            return i64::MIN;
        };
        let horizon = start
            .saturating_add(SignedDuration::from_hours(48))
            .unwrap_or(start);
        'again: loop {
            for change in tz.following(start).take_while(|c| c.timestamp() < horizon) {
                let after = change.offset().to_datetime(change.timestamp()).date();
                if after < day {
                    start = again_from(tz, day, change.timestamp());
                    continue 'again;
                }
            }
            return nanos(start);
        }
    }

    /// The first instant at or after `from` whose date is `day` or later.
    fn again_from(tz: &TimeZone, day: jiff::civil::Date, from: Timestamp) -> Timestamp {
        let mut at = from;
        loop {
            let offset = tz.to_offset(at);
            if offset.to_datetime(at).date() >= day {
                return at;
            }
            // Midnight of `day` in this offset, unless the offset changes before.
            let Ok(midnight) = offset.to_timestamp(day.to_datetime(jiff::civil::Time::midnight()))
            else {
                return at;
            };
            match tz.following(at).next() {
                Some(change) if change.timestamp() <= midnight => at = change.timestamp(),
                _ => return midnight,
            }
        }
    }
}

fn date_from_epoch_day(epoch_day: i64) -> Date {
    let jd = (epoch_day + UNIX_EPOCH_JULIAN_DAY).clamp(
        i64::from(Date::MIN.to_julian_day()),
        i64::from(Date::MAX.to_julian_day()),
    );
    Date::from_julian_day(jd as i32).unwrap_or(Date::MIN)
}

/// The site's calendar: a zone and the weekday weeks begin on.
#[derive(Clone, Debug)]
pub(crate) struct Calendar {
    pub zone: Zone,
    pub week_start: Weekday,
}

/// One local day: its date, the instants it spans and its period keys. Cached by the hot path,
/// which only calls back into the calendar when an instant falls outside `start..end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DayInfo {
    pub date: Date,
    /// First instant of the day (inclusive).
    pub start: i64,
    /// First instant of the next day (exclusive).
    pub end: i64,
    pub keys: PeriodKeys,
}

impl DayInfo {
    /// Whether `ns` falls in this day.
    #[inline]
    pub fn contains(&self, ns: i64) -> bool {
        self.start <= ns && ns < self.end
    }
}

impl Calendar {
    /// The local day of an instant.
    pub(crate) fn day(&self, ns: i64) -> DayInfo {
        let (date, start, end) = self.zone.local_day(ns);
        self.day_with(date, start, end)
    }

    /// The local date of an instant (without its day's first and last instants).
    pub(crate) fn date(&self, ns: i64) -> Date {
        self.zone.local_date(ns)
    }

    /// The period keys of an instant's local date.
    pub(crate) fn keys(&self, ns: i64) -> PeriodKeys {
        period_keys(self.date(ns), self.week_start)
    }

    /// The local day of a date.
    #[cfg(test)]
    fn day_of_date(&self, date: Date) -> DayInfo {
        self.day_with(date, None, None)
    }

    /// The local day of a date whose first instant, or the next date's, may be known.
    fn day_with(&self, date: Date, start: Option<i64>, end: Option<i64>) -> DayInfo {
        let start = start.unwrap_or_else(|| self.zone.day_start(date));
        let end = end.unwrap_or_else(|| match date.next_day() {
            Some(next) => self.zone.day_start(next),
            None => i64::MAX,
        });
        DayInfo {
            date,
            start,
            end,
            keys: period_keys(date, self.week_start),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::{date, offset};

    fn fixed(o: UtcOffset) -> Calendar {
        Calendar {
            zone: Zone::Fixed(o),
            week_start: Weekday::Monday,
        }
    }

    fn ns(t: time::OffsetDateTime) -> i64 {
        crate::calendar::clock::to_nanos(t)
    }

    #[test]
    fn local_date_shifts_by_offset() {
        let c = fixed(offset!(+7));
        // 16:59:59.999999999 UTC is 23:59:59.999999999 in Hanoi; one nanosecond later is tomorrow.
        let t = ns(time::macros::datetime!(2024-02-29 16:59:59.999_999_999 UTC));
        assert_eq!(c.day(t).date, date!(2024 - 02 - 29));
        assert_eq!(c.day(t + 1).date, date!(2024 - 03 - 01));
        let d = c.day(t);
        assert_eq!(d.end, t + 1);
        assert_eq!(d.end - d.start, NS_PER_DAY);
    }

    #[test]
    fn julian_day_zero_is_monday() {
        // The week anchor in `period_keys` relies on this.
        assert_eq!(date!(2024 - 01 - 01).weekday(), Weekday::Monday);
        assert_eq!(date!(2024 - 01 - 01).to_julian_day().rem_euclid(7), 0);
    }

    #[cfg(feature = "tz")]
    #[test]
    fn berlin_days_of_23_and_25_hours() {
        let c = Calendar {
            zone: Zone::named("Europe/Berlin").unwrap(),
            week_start: Weekday::Monday,
        };
        let spring = c.day_of_date(date!(2024 - 03 - 31));
        assert_eq!(spring.end - spring.start, 23 * 3600 * NS_PER_SEC);
        let autumn = c.day_of_date(date!(2024 - 10 - 27));
        assert_eq!(autumn.end - autumn.start, 25 * 3600 * NS_PER_SEC);
        assert_eq!(c.day(autumn.end - 1).date, date!(2024 - 10 - 27));
        assert_eq!(c.day(autumn.end).date, date!(2024 - 10 - 28));
    }

    /// Every zone of the bundled database, and instants from 2000 to 2040 in each: the local
    /// date is the database's, and each day starts at the earliest instant of its date and ends
    /// where the next date starts.
    #[cfg(feature = "tz")]
    mod every_zone {
        use super::*;

        fn zones() -> Vec<String> {
            let mut names: Vec<String> =
                jiff::tz::db().available().map(|n| n.to_string()).collect();
            names.sort();
            names
        }

        fn jiff_date(tz: &jiff::tz::TimeZone, ns: i64) -> Date {
            let d = tz
                .to_datetime(jiff::Timestamp::from_nanosecond(i128::from(ns)).unwrap())
                .date();
            Date::from_calendar_date(
                i32::from(d.year()),
                time::Month::try_from(d.month() as u8).unwrap(),
                d.day() as u8,
            )
            .unwrap()
        }

        /// The date an instant counts on: the database's date, or, when the clocks fall back
        /// into an earlier date within the next two days, the earliest such date (a minute of
        /// 00:00 before the clocks go back to 23:00 counts on the day before).
        fn counted_date(tz: &jiff::tz::TimeZone, t: i64) -> Date {
            let at = jiff::Timestamp::from_nanosecond(i128::from(t)).unwrap();
            let horizon = at + jiff::SignedDuration::from_hours(48);
            tz.following(at)
                .take_while(|c| c.timestamp() < horizon)
                .map(|c| jiff_date(tz, c.timestamp().as_nanosecond() as i64))
                .fold(jiff_date(tz, t), Date::min)
        }

        /// The day of instant `t` in zone `name`: the date it counts on, the earliest instant
        /// counted on that date as its start, and the next date's first instant as its end.
        fn check(name: &str, tz: &jiff::tz::TimeZone, t: i64) -> Result<(), String> {
            let c = Calendar {
                zone: Zone::Named(tz.clone()),
                week_start: Weekday::Monday,
            };
            let day = c.day(t);
            let fault = |what: &str| Err(format!("{name} at {t}: {what}: {day:?}"));
            let date = |t| counted_date(tz, t);
            if day.date != date(t) {
                return fault("another date than the one it counts on");
            }
            if !day.contains(t) {
                return fault("a day that does not hold its instant");
            }
            if date(day.start) != day.date || date(day.start - 1) >= day.date {
                return fault("a start that is not the earliest instant of the date");
            }
            if date(day.end - 1) != day.date || date(day.end) <= day.date {
                return fault("an end that is not where the next date starts");
            }
            if c.day(day.end).start != day.end {
                return fault("a next day that does not start where this one ends");
            }
            Ok(())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2_000))]
            #[test]
            fn days_match_the_database_in_every_zone(
                zone in 0usize..10_000,
                secs in 946_684_800i64..2_240_524_800,
                nanos in 0i64..1_000_000_000,
            ) {
                let names = zones();
                let name = &names[zone % names.len()];
                let tz = jiff::tz::db().get(name).unwrap();
                let t = secs * NS_PER_SEC + nanos;
                prop_assert_eq!(check(name, &tz, t), Ok(()));
            }
        }

        /// Every change of offset of every zone from 2000 to 2040, and the nanoseconds around
        /// it and around the local midnights next to it: where the random instants above
        /// rarely land.
        #[test]
        fn days_around_every_change_of_every_zone_match_the_database() {
            let from: jiff::Timestamp = "2000-01-01T00:00:00Z".parse().unwrap();
            let to: jiff::Timestamp = "2040-01-01T00:00:00Z".parse().unwrap();
            let mut changes = 0;
            for name in zones() {
                let tz = jiff::tz::db().get(&name).unwrap();
                for change in tz.following(from).take_while(|c| c.timestamp() < to) {
                    changes += 1;
                    let at = change.timestamp().as_nanosecond() as i64;
                    for t in [
                        at - 1,
                        at,
                        at + 1,
                        at - 3_600 * NS_PER_SEC,
                        at + 3_600 * NS_PER_SEC,
                    ] {
                        check(&name, &tz, t).unwrap();
                        let c = Calendar {
                            zone: Zone::Named(tz.clone()),
                            week_start: Weekday::Monday,
                        };
                        let day = c.day(t);
                        for edge in [day.start, day.start - 1, day.end, day.end - 1] {
                            check(&name, &tz, edge).unwrap();
                        }
                    }
                }
            }
            // The database holds tens of thousands of changes in these forty years.
            assert!(changes > 10_000, "{changes} changes");
        }

        #[test]
        fn the_zones_the_calendar_is_known_to_be_hard_for_are_in_the_database() {
            let names = zones();
            for z in [
                "America/Havana",
                "Australia/Lord_Howe",
                "Asia/Kathmandu",
                "Pacific/Chatham",
                "Pacific/Apia",
                "America/Santiago",
                "Asia/Beirut",
                "Africa/Cairo",
                "Europe/Volgograd",
            ] {
                assert!(names.iter().any(|n| n == z), "{z}");
            }
        }
    }

    fn weekday_strategy() -> impl Strategy<Value = Weekday> {
        (0u8..7).prop_map(|n| Weekday::Monday.nth_next(n))
    }

    fn date_strategy() -> impl Strategy<Value = Date> {
        // 1900-01-01 ..= 2100-12-31
        (2_415_021i32..=2_488_434).prop_map(|jd| Date::from_julian_day(jd).unwrap())
    }

    /// The reference: walk back one day at a time to the week's first day.
    fn reference_week_start(mut d: Date, ws: Weekday) -> Date {
        while d.weekday() != ws {
            d = d.previous_day().unwrap();
        }
        d
    }

    proptest! {
        #[test]
        fn week_keys_match_day_by_day_reference(d in date_strategy(), ws in weekday_strategy(), gap in 0i64..60) {
            let e = d + time::Duration::days(gap);
            let same_week = reference_week_start(d, ws) == reference_week_start(e, ws);
            prop_assert_eq!(period_keys(d, ws).week == period_keys(e, ws).week, same_week);
            // Consecutive weeks have consecutive keys.
            let next_week = reference_week_start(d, ws) + time::Duration::days(7);
            prop_assert_eq!(period_keys(next_week, ws).week, period_keys(d, ws).week + 1);
        }

        #[test]
        fn month_and_year_keys_match_reference(d in date_strategy(), ws in weekday_strategy()) {
            let k = period_keys(d, ws);
            let next = d.next_day().unwrap();
            let kn = period_keys(next, ws);
            // Day keys step by one; month keys step exactly when the month changes.
            prop_assert_eq!(kn.day, k.day + 1);
            prop_assert_eq!(kn.month - k.month, i32::from(next.month() != d.month()));
            prop_assert_eq!(kn.year - k.year, i32::from(next.year() != d.year()));
        }

        #[test]
        fn fixed_offset_days_match_reference(secs in -2_000_000_000i64..4_000_000_000, off in -43_200i32..=50_400) {
            let o = UtcOffset::from_whole_seconds(off).unwrap();
            let c = fixed(o);
            let t = secs * NS_PER_SEC + 123;
            let reference = time::OffsetDateTime::from_unix_timestamp(secs).unwrap().to_offset(o).date();
            let day = c.day(t);
            prop_assert_eq!(day.date, reference);
            prop_assert!(day.contains(t));
            prop_assert!(!day.contains(day.end));
            prop_assert_eq!(c.day(day.end).date, reference.next_day().unwrap());
            prop_assert_eq!(c.day(day.start - 1).date, reference.previous_day().unwrap());
        }
    }
}
