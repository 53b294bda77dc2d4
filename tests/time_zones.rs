//! Local calendars with daylight saving (feature `tz`): days of 23 and 25 hours, and weeks and
//! months that span a change, all still exact.
#![cfg(feature = "tz")]

use std::time::Duration;

use time::macros::{date, datetime};
use time::OffsetDateTime;
use visitor_counter::{BuildError, Counter, ManualClock, VisitorId};

const NS: Duration = Duration::from_nanos(1);

fn counter(zone: &str, start: OffsetDateTime) -> (Counter, ManualClock) {
    counter_weeks_from(zone, start, time::Weekday::Monday)
}

fn counter_weeks_from(
    zone: &str,
    start: OffsetDateTime,
    week_start: time::Weekday,
) -> (Counter, ManualClock) {
    let clock = ManualClock::new(start);
    let c = Counter::builder()
        .time_zone(zone)
        .week_start(week_start)
        .clock(clock.clone())
        .build()
        .unwrap();
    (c, clock)
}

/// Page views on each of the last `n` days, oldest first, with their dates.
fn page_views(c: &Counter, n: usize) -> Vec<(time::Date, u64)> {
    c.history(n)
        .into_iter()
        .map(|d| (d.date, d.page_views))
        .collect()
}

#[test]
fn unknown_zone_is_a_build_error() {
    let err = Counter::builder()
        .time_zone("Mars/Olympus_Mons")
        .build()
        .unwrap_err();
    assert!(matches!(err, BuildError::UnknownTimeZone { .. }));
    assert!(err.to_string().contains("Mars/Olympus_Mons"));
}

#[test]
fn berlin_spring_forward_day_has_23_hours() {
    // 2024-03-31 00:00 CET (+01:00) is 2024-03-30 23:00 UTC: first instant of the short day.
    let (c, clock) = counter("Europe/Berlin", datetime!(2024-03-30 23:00 UTC));
    c.hit(VisitorId::from(1));
    // 2024-03-31 23:59:59.999999999 CEST (+02:00): last instant of the day, 23 hours later.
    clock.set(datetime!(2024-03-31 21:59:59.999_999_999 UTC));
    c.hit(VisitorId::from(1));
    assert_eq!(c.stats().page_views.today, 2);
    // One nanosecond later it is Monday 1 April: a new day and a new week.
    clock.advance(NS);
    c.hit(VisitorId::from(1));
    let s = c.stats();
    assert_eq!(s.page_views.today, 1);
    assert_eq!(s.page_views.yesterday, 2);
    assert_eq!(s.page_views.this_week, 1);
    assert_eq!(s.page_views.last_week, 2);
    assert_eq!(s.page_views.this_month, 1);
    assert_eq!(s.page_views.last_month, 2);
    assert_eq!(
        page_views(&c, 3),
        vec![
            (date!(2024 - 03 - 30), 0),
            (date!(2024 - 03 - 31), 2),
            (date!(2024 - 04 - 01), 1)
        ]
    );
}

#[test]
fn berlin_fall_back_day_has_25_hours() {
    // 2024-10-27 00:00 CEST (+02:00) = 2024-10-26 22:00 UTC.
    let (c, clock) = counter(
        "Europe/Berlin",
        datetime!(2024-10-26 21:59:59.999_999_999 UTC),
    );
    c.hit(VisitorId::from(1)); // Saturday 26th, last instant
    clock.advance(NS);
    c.hit(VisitorId::from(2)); // Sunday 27th, first instant
                               // 02:30 happens twice on the 27th; both are the same day.
    clock.set(datetime!(2024-10-27 00:30 UTC)); // 02:30 CEST
    c.hit(VisitorId::from(3));
    clock.set(datetime!(2024-10-27 01:30 UTC)); // 02:30 CET
    c.hit(VisitorId::from(4));
    // 23:59:59.999999999 CET (+01:00) = 22:59:59.999999999 UTC: 25 hours after midnight.
    clock.set(datetime!(2024-10-27 22:59:59.999_999_999 UTC));
    c.hit(VisitorId::from(5));
    let s = c.stats();
    assert_eq!(s.page_views.today, 4);
    assert_eq!(s.visitors.today, 4);
    assert_eq!(s.page_views.yesterday, 1);
    // The week from Monday 21st runs through Sunday 27th, across the change.
    assert_eq!(s.page_views.this_week, 5);
    clock.advance(NS);
    c.hit(VisitorId::from(6));
    let s = c.stats();
    assert_eq!((s.page_views.today, s.page_views.yesterday), (1, 4));
    assert_eq!((s.page_views.this_week, s.page_views.last_week), (1, 5));
    assert_eq!(s.page_views.this_month, 6);
}

#[test]
fn new_york_spring_forward_and_fall_back() {
    // 2024-03-10 00:00 EST (-05:00) = 05:00 UTC; the day ends at 2024-03-11 00:00 EDT = 04:00 UTC.
    let (c, clock) = counter(
        "America/New_York",
        datetime!(2024-03-10 04:59:59.999_999_999 UTC),
    );
    c.hit(VisitorId::from(1)); // Saturday 9th
    clock.advance(NS);
    c.hit(VisitorId::from(1)); // Sunday 10th 00:00 EST
    clock.set(datetime!(2024-03-11 03:59:59.999_999_999 UTC)); // 23:59:59.999999999 EDT
    c.hit(VisitorId::from(1));
    assert_eq!(
        page_views(&c, 2),
        vec![(date!(2024 - 03 - 09), 1), (date!(2024 - 03 - 10), 2)]
    );
    clock.advance(NS);
    c.hit(VisitorId::from(1));
    assert_eq!(c.history(1)[0].date, date!(2024 - 03 - 11));

    // 2024-11-03 00:00 EDT = 04:00 UTC; the day ends at 2024-11-04 00:00 EST = 05:00 UTC.
    clock.set(datetime!(2024-11-03 04:00 UTC));
    c.hit(VisitorId::from(2));
    clock.set(datetime!(2024-11-04 04:59:59.999_999_999 UTC));
    c.hit(VisitorId::from(2));
    assert_eq!(page_views(&c, 1), vec![(date!(2024 - 11 - 03), 2)]);
    clock.advance(NS);
    c.hit(VisitorId::from(2));
    let s = c.stats();
    assert_eq!((s.page_views.today, s.page_views.yesterday), (1, 2));
    // Two visits on the 3rd (25 hours apart, both local 3 November); the second continues past
    // midnight, so no new visit on the 4th.
    assert_eq!((s.visits.today, s.visits.yesterday), (0, 2));
}

#[test]
fn a_month_spanning_the_change_is_exact() {
    // March 2024 in Berlin: 2024-02-29 23:00 UTC to 2024-03-31 22:00 UTC (one 23-hour day).
    let (c, clock) = counter(
        "Europe/Berlin",
        datetime!(2024-02-29 22:59:59.999_999_999 UTC),
    );
    c.hit(VisitorId::from(1)); // 29 February, last instant
    clock.advance(NS);
    for day in 0..31 {
        c.hit(VisitorId::from(100 + day));
        clock.advance(
            Duration::from_secs(86_400) - Duration::from_secs(3600) * u32::from(day == 30),
        );
    }
    // 31 days of page views, stepping 24 h (23 h over the change): the clock is now exactly
    // at 2024-04-01 00:00 CEST.
    assert_eq!(clock_now(&clock), datetime!(2024-03-31 22:00 UTC));
    c.hit(VisitorId::from(1));
    let s = c.stats();
    assert_eq!(s.page_views.last_month, 31);
    assert_eq!(s.page_views.this_month, 1);
    assert_eq!(s.visitors.last_month, 31);
}

fn clock_now(clock: &ManualClock) -> OffsetDateTime {
    use visitor_counter::Clock;
    clock.now()
}

#[test]
fn a_day_whose_midnight_is_skipped_starts_after_the_gap() {
    // Havana springs forward at midnight: 2024-03-10 00:00 CST (-05:00) never happens, the
    // clocks go to 01:00 CDT (-04:00). The 10th starts at 05:00 UTC, where the 9th ends.
    days_meet(
        "America/Havana",
        datetime!(2024-03-10 04:59:59.999_999_999 UTC),
        date!(2024 - 03 - 09),
    );
}

/// A page view at `last`, the last nanosecond of `day` in `zone`, counts on `day`, and one a
/// nanosecond later on the day after.
fn days_meet(zone: &str, last: OffsetDateTime, day: time::Date) {
    let (c, clock) = counter(zone, last);
    c.hit(VisitorId::from(1));
    clock.advance(NS);
    c.hit(VisitorId::from(1));
    assert_eq!(
        page_views(&c, 2),
        vec![(day, 1), (day.next_day().unwrap(), 1)]
    );
}

#[test]
fn a_day_whose_midnight_happens_twice_lasts_25_hours_in_days_weeks_and_months() {
    // Havana falls back at 01:00 CDT (-04:00) to 00:00 CST (-05:00) on the first Sunday of
    // November: on Sunday 1 November 2037 midnight happens at 04:00 UTC and again at 05:00 UTC.
    // The 1st starts at the first midnight and ends at the 2nd's midnight, 05:00 UTC on the
    // 2nd: 25 hours. It is the first day of a month and, with weeks from Sunday, of a week.
    let (c, clock) = counter_weeks_from(
        "America/Havana",
        datetime!(2037-11-01 03:59:59.999_999_999 UTC),
        time::Weekday::Sunday,
    );
    c.hit(VisitorId::from(1)); // Saturday 31 October, its last nanosecond
    clock.advance(NS);
    c.hit(VisitorId::from(2)); // the 1st's first nanosecond (the first midnight)
    let s = c.stats();
    assert_eq!((s.page_views.today, s.page_views.yesterday), (1, 1));
    assert_eq!((s.page_views.this_week, s.page_views.last_week), (1, 1));
    assert_eq!((s.page_views.this_month, s.page_views.last_month), (1, 1));
    clock.set(datetime!(2037-11-01 05:00 UTC)); // midnight again: still the 1st
    c.hit(VisitorId::from(3));
    // The last hour of the 1st: 23:30 CST.
    clock.set(datetime!(2037-11-02 04:30 UTC));
    c.hit(VisitorId::from(4));
    assert_eq!(c.history(1)[0].date, date!(2037 - 11 - 01));
    clock.set(datetime!(2037-11-02 04:59:59.999_999_999 UTC)); // its last nanosecond
    c.hit(VisitorId::from(5));
    let s = c.stats();
    assert_eq!((s.page_views.today, s.page_views.yesterday), (4, 1));
    assert_eq!((s.page_views.this_week, s.page_views.this_month), (4, 4));
    clock.advance(NS); // Monday 2 November, 00:00 CST
    c.hit(VisitorId::from(6));
    let s = c.stats();
    assert_eq!((s.page_views.today, s.page_views.yesterday), (1, 4));
    assert_eq!((s.page_views.this_week, s.page_views.this_month), (5, 5));
    assert_eq!(
        page_views(&c, 3),
        vec![
            (date!(2037 - 10 - 31), 1),
            (date!(2037 - 11 - 01), 4),
            (date!(2037 - 11 - 02), 1)
        ]
    );
    // With weeks from Monday, the week of the 1st ends with it.
    let (c, clock) = counter_weeks_from(
        "America/Havana",
        datetime!(2037-11-02 04:59:59.999_999_999 UTC),
        time::Weekday::Monday,
    );
    c.hit(VisitorId::from(1));
    clock.advance(NS);
    c.hit(VisitorId::from(1));
    let s = c.stats();
    assert_eq!((s.page_views.this_week, s.page_views.last_week), (1, 1));
}

#[test]
fn the_bundled_database_decides_which_years_havana_falls_back() {
    // 2 November 2025 had two midnights, as above.
    days_meet(
        "America/Havana",
        datetime!(2025-11-03 04:59:59.999_999_999 UTC),
        date!(2025 - 11 - 02),
    );
    // The bundled database keeps Havana at -04:00 from March 2026 to November 2027: no second
    // midnight on 1 November 2026, so 04:30 UTC on the 2nd is 00:30 on the 2nd there.
    let (c, _) = counter("America/Havana", datetime!(2026-11-02 04:30 UTC));
    c.hit(VisitorId::from(1));
    assert_eq!(c.history(1)[0].date, date!(2026 - 11 - 02));
}

#[test]
fn a_minute_of_a_date_before_the_clocks_fall_back_into_the_day_before_counts_on_that_day() {
    // Goose Bay ended daylight saving at 00:01 local on 29 October 2000: at 03:01 UTC the clocks
    // went from 00:01 ADT (-03:00) back to 23:01 AST (-04:00) on the 28th. The minute from
    // 03:00 UTC reads 29 October, the hour after it 28 October again: the minute counts on the
    // 28th, which ends where the 29th begins for good, at its midnight AST (04:00 UTC).
    let (c, clock) = counter("America/Goose_Bay", datetime!(2000-10-29 02:59 UTC));
    c.hit(VisitorId::from(1)); // 23:59 ADT on the 28th
    clock.set(datetime!(2000-10-29 03:00:30 UTC)); // 00:00:30 ADT on the 29th
    c.hit(VisitorId::from(2));
    clock.set(datetime!(2000-10-29 03:30 UTC)); // 23:30 AST on the 28th
    c.hit(VisitorId::from(3));
    clock.set(datetime!(2000-10-29 03:59:59.999_999_999 UTC));
    c.hit(VisitorId::from(4));
    assert_eq!(c.stats().page_views.today, 4);
    clock.advance(NS); // 00:00 AST on the 29th
    c.hit(VisitorId::from(5));
    assert_eq!(
        page_views(&c, 2),
        vec![(date!(2000 - 10 - 28), 4), (date!(2000 - 10 - 29), 1)]
    );
}
