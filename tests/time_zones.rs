//! Local calendars with daylight saving (feature `tz`): days of 23 and 25 hours, and weeks and
//! months that span a change, all still exact.
#![cfg(feature = "tz")]

use std::time::Duration;

use time::macros::{date, datetime};
use time::OffsetDateTime;
use visitor_counter::{BuildError, Counter, ManualClock, VisitorId};

const NS: Duration = Duration::from_nanos(1);

fn counter(zone: &str, start: OffsetDateTime) -> (Counter, ManualClock) {
    let clock = ManualClock::new(start);
    let c = Counter::builder()
        .time_zone(zone)
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
    let (c, clock) = counter(
        "America/Havana",
        datetime!(2024-03-10 04:59:59.999_999_999 UTC),
    );
    c.hit(VisitorId::from(1));
    clock.advance(NS);
    c.hit(VisitorId::from(1));
    assert_eq!(
        page_views(&c, 2),
        vec![(date!(2024 - 03 - 09), 1), (date!(2024 - 03 - 10), 1)]
    );
}
