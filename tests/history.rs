//! `history(days)`: the last `days` local days, oldest first and today last, a row for each
//! day, zeros where nothing happened.
//!
//! Every test is a timeline driven by a `ManualClock`; nothing sleeps.

use std::time::Duration;
use time::macros::{date, datetime, offset};
use time::{Date, UtcOffset};
use visitor_counter::{Counter, DayCounts, ManualClock};

#[path = "common/timeline.rs"]
mod timeline;
use timeline::{hit_at, v};

fn counter(clock: &ManualClock, offset: UtcOffset) -> Counter {
    Counter::builder()
        .clock(clock.clone())
        .utc_offset(offset)
        .build()
        .expect("valid configuration")
}

/// `(date, visits, page_views, visitors)`
fn day(d: &DayCounts) -> (Date, u64, u64, u64) {
    (d.date, d.visits, d.page_views, d.visitors)
}

fn days(history: &[DayCounts]) -> Vec<(Date, u64, u64, u64)> {
    history.iter().map(day).collect()
}

/// The dates of `history` are consecutive and end with `today`.
#[track_caller]
fn assert_consecutive_ending(history: &[DayCounts], today: Date) {
    assert_eq!(
        history.last().map(|d| d.date),
        Some(today),
        "last row is today"
    );
    for pair in history.windows(2) {
        assert_eq!(
            pair[0].date.next_day(),
            Some(pair[1].date),
            "dates are consecutive"
        );
    }
}

#[test]
fn history_zero_is_empty() {
    let clock = ManualClock::new(datetime!(2024-03-04 10:00 UTC));
    let c = counter(&clock, UtcOffset::UTC);
    assert!(c.history(0).is_empty());
    // 10:00: one view; still nothing to show for zero days
    c.hit(v(1));
    assert!(c.history(0).is_empty());
}

#[test]
fn a_fresh_counter_has_a_row_of_zeros_for_each_day() {
    let clock = ManualClock::new(datetime!(2024-03-01 10:00 UTC));
    let c = counter(&clock, UtcOffset::UTC);

    // Fri 2024-03-01 10:00: three days back crosses the leap day
    assert_eq!(
        days(&c.history(3)),
        [
            (date!(2024 - 02 - 28), 0, 0, 0),
            (date!(2024 - 02 - 29), 0, 0, 0),
            (date!(2024 - 03 - 01), 0, 0, 0),
        ]
    );
}

#[test]
fn history_has_exactly_the_requested_number_of_rows_oldest_first() {
    let clock = ManualClock::new(datetime!(2024-03-04 10:00 UTC));
    let c = counter(&clock, UtcOffset::UTC);

    // Mon 03-04 10:00: one view; Wed 03-06 10:00: one view; read on Thu 03-07 10:00
    hit_at(&c, &clock, datetime!(2024-03-04 10:00 UTC), 1);
    hit_at(&c, &clock, datetime!(2024-03-06 10:00 UTC), 2);
    clock.set(datetime!(2024-03-07 10:00 UTC));

    for n in 1..=40 {
        let h = c.history(n);
        assert_eq!(h.len(), n, "history({n})");
        assert_consecutive_ending(&h, date!(2024 - 03 - 07));
        assert_eq!(
            h[0].date,
            date!(2024 - 03 - 07) - time::Duration::days(n as i64 - 1)
        );
        let views: u64 = h.iter().map(|d| d.page_views).sum();
        let expected = match n {
            1..=1 => 0, // Thu only
            2..=3 => 1, // Wed
            _ => 2,     // Mon and Wed
        };
        assert_eq!(views, expected, "history({n})");
    }
}

#[test]
fn per_day_visits_page_views_and_visitors() {
    let clock = ManualClock::new(datetime!(2024-03-04 09:00 UTC));
    let c = counter(&clock, UtcOffset::UTC);

    // Mon 03-04 09:00: visitor 1 views 3 pages, visitor 2 views 1
    for _ in 0..3 {
        c.hit(v(1));
    }
    c.hit(v(2));
    // Mon 03-04 18:00: visitor 1 again (a second visit)
    hit_at(&c, &clock, datetime!(2024-03-04 18:00 UTC), 1);
    // Tue 03-05: nothing
    // Wed 03-06 12:00: visitors 3, 4, 5 one page each; visitor 3 a second page at 12:10
    for visitor in 3..=5 {
        hit_at(&c, &clock, datetime!(2024-03-06 12:00 UTC), visitor);
    }
    hit_at(&c, &clock, datetime!(2024-03-06 12:10 UTC), 3);
    // Thu 03-07 08:00: read
    clock.set(datetime!(2024-03-07 08:00 UTC));

    assert_eq!(
        days(&c.history(5)),
        [
            (date!(2024 - 03 - 03), 0, 0, 0),
            (date!(2024 - 03 - 04), 3, 5, 2),
            (date!(2024 - 03 - 05), 0, 0, 0),
            (date!(2024 - 03 - 06), 3, 4, 3),
            (date!(2024 - 03 - 07), 0, 0, 0),
        ]
    );
}

#[test]
fn history_agrees_with_stats() {
    let clock = ManualClock::new(datetime!(2024-03-04 09:00 UTC));
    let c = counter(&clock, UtcOffset::UTC);

    // Mon 03-04 .. Sun 03-10: on day d, d+1 visitors view d+1 pages each, one visit each
    for d in 0..7u64 {
        clock.set(datetime!(2024-03-04 09:00 UTC) + time::Duration::days(d as i64));
        for visitor in 0..=d {
            for _ in 0..=d {
                c.hit(v(visitor));
            }
        }
    }
    // Sun 03-10 09:00
    let h = c.history(7);
    let s = c.stats();
    assert_eq!(
        h.iter().map(|d| d.page_views).collect::<Vec<_>>(),
        [1, 4, 9, 16, 25, 36, 49]
    );
    assert_eq!(
        h.iter().map(|d| d.visits).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6, 7]
    );
    assert_eq!(
        h.iter().map(|d| d.visitors).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6, 7]
    );
    assert_eq!(h[6].page_views, s.page_views.today);
    assert_eq!(h[5].page_views, s.page_views.yesterday);
    assert_eq!(
        h.iter().map(|d| d.page_views).sum::<u64>(),
        s.page_views.this_week
    );
    assert_eq!(h.iter().map(|d| d.visits).sum::<u64>(), s.visits.this_week);
    assert_eq!(s.page_views.this_week, 140);
    assert_eq!(s.visits.this_week, 28);
    assert_eq!(s.visitors.this_week, 7);
}

#[test]
fn history_across_a_year_end_in_plus_fourteen() {
    let clock = ManualClock::new(datetime!(2024-12-30 12:00 +14:00));
    let c = counter(&clock, offset!(+14:00));

    // Tue 2024-12-31 23:59:59.999999999 +14:00 (= 2024-12-31 09:59:59.999999999 UTC)
    hit_at(
        &c,
        &clock,
        datetime!(2024-12-31 09:59:59.999_999_999 UTC),
        1,
    );
    // Wed 2025-01-01 00:00 +14:00 (= 2024-12-31 10:00 UTC): a different visitor
    hit_at(&c, &clock, datetime!(2024-12-31 10:00 UTC), 2);
    // Thu 2025-01-02 05:00 +14:00: read
    clock.set(datetime!(2025-01-02 05:00 +14:00));

    assert_eq!(
        days(&c.history(4)),
        [
            (date!(2024 - 12 - 30), 0, 0, 0),
            (date!(2024 - 12 - 31), 1, 1, 1),
            (date!(2025 - 01 - 01), 1, 1, 1),
            (date!(2025 - 01 - 02), 0, 0, 0),
        ]
    );
}

#[test]
fn history_across_a_month_end_in_minus_twelve() {
    let clock = ManualClock::new(datetime!(2024-04-30 12:00 -12:00));
    let c = counter(&clock, offset!(-12:00));

    // 2024-05-01 11:59:59.999999999 UTC = Tue 2024-04-30 23:59:59.999999999 -12:00
    hit_at(
        &c,
        &clock,
        datetime!(2024-05-01 11:59:59.999_999_999 UTC),
        1,
    );
    // 2024-05-01 12:00 UTC = Wed 2024-05-01 00:00 -12:00: visitor 1 again, same visit
    hit_at(&c, &clock, datetime!(2024-05-01 12:00 UTC), 1);

    assert_eq!(
        days(&c.history(2)),
        [
            (date!(2024 - 04 - 30), 1, 1, 1),
            (date!(2024 - 05 - 01), 0, 1, 1)
        ]
    );
}

#[test]
fn history_labels_days_in_the_local_calendar() {
    // The same instant, 2024-03-04 12:00 UTC, is a different local day in each offset
    for (off, local_day) in [
        (offset!(-12:00), date!(2024 - 03 - 04)),
        (offset!(+14:00), date!(2024 - 03 - 05)),
        (offset!(+05:45), date!(2024 - 03 - 04)),
    ] {
        let clock = ManualClock::new(datetime!(2024-03-04 12:00 UTC));
        let c = counter(&clock, off);
        c.hit(v(1));
        assert_eq!(days(&c.history(1)), [(local_day, 1, 1, 1)], "offset {off}");
    }
    // 2024-03-04 11:59:59.999999999 UTC in -12:00 is still Sunday 03-03
    let clock = ManualClock::new(datetime!(2024-03-04 11:59:59.999_999_999 UTC));
    let c = counter(&clock, offset!(-12:00));
    c.hit(v(1));
    assert_eq!(days(&c.history(1)), [(date!(2024 - 03 - 03), 1, 1, 1)]);
}

#[test]
fn history_of_leap_day() {
    let clock = ManualClock::new(datetime!(2024-02-28 23:00 +07:00));
    let c = counter(&clock, offset!(+07:00));

    // Wed 02-28 23:00 +07:00: visitor 1
    c.hit(v(1));
    // Thu 02-29 00:00 .. 23:00 +07:00: visitor 2 once an hour (24 visits, each 1 h apart)
    for hour in 0..24 {
        clock.set(datetime!(2024-02-29 00:00 +07:00) + time::Duration::hours(hour));
        c.hit(v(2));
    }
    // Fri 03-01 00:00 +07:00: visitor 3
    hit_at(&c, &clock, datetime!(2024-03-01 00:00 +07:00), 3);

    assert_eq!(
        days(&c.history(3)),
        [
            (date!(2024 - 02 - 28), 1, 1, 1),
            (date!(2024 - 02 - 29), 24, 24, 1),
            (date!(2024 - 03 - 01), 1, 1, 1),
        ]
    );
}

#[test]
fn a_day_399_days_ago_is_still_in_history_400() {
    let clock = ManualClock::new(datetime!(2023-02-28 10:00 UTC));
    let c = counter(&clock, UtcOffset::UTC);

    // Tue 2023-02-28 10:00: visitors 1 and 2
    c.hit(v(1));
    c.hit(v(2));
    // 2024-04-02 10:00 is 399 days later: visitor 3
    let later = datetime!(2023-02-28 10:00 UTC) + time::Duration::days(399);
    assert_eq!(later.date(), date!(2024 - 04 - 02));
    hit_at(&c, &clock, later, 3);

    let h = c.history(400);
    assert_eq!(h.len(), 400);
    assert_consecutive_ending(&h, date!(2024 - 04 - 02));
    assert_eq!(day(&h[0]), (date!(2023 - 02 - 28), 2, 2, 2));
    assert_eq!(day(&h[399]), (date!(2024 - 04 - 02), 1, 1, 1));
    assert!(h[1..399]
        .iter()
        .all(|d| (d.visits, d.page_views, d.visitors) == (0, 0, 0)));
}

#[test]
fn a_huge_history_request_returns_the_retained_days_without_panicking() {
    let clock = ManualClock::new(datetime!(2023-02-28 10:00 UTC));
    let c = counter(&clock, UtcOffset::UTC);

    // Tue 2023-02-28 10:00: one view; Tue 2024-04-02 10:00 (399 days later): one view
    c.hit(v(1));
    hit_at(&c, &clock, datetime!(2024-04-02 10:00 UTC), 2);

    for huge in [usize::MAX, usize::MAX / 2, 1 << 40, 10_000_000] {
        let h = c.history(huge);
        assert!(h.len() >= 400, "history({huge}) has only {} rows", h.len());
        // at most the retained length: not padded back to the start of the calendar
        assert!(h.len() < 100_000, "history({huge}) has {} rows", h.len());
        assert_consecutive_ending(&h, date!(2024 - 04 - 02));
        // the last 400 rows are history(400)
        assert_eq!(
            days(&h[h.len() - 400..]),
            days(&c.history(400)),
            "history({huge})"
        );
        assert_eq!(
            h.iter().map(|d| d.page_views).sum::<u64>(),
            2,
            "history({huge})"
        );
    }
}

#[test]
fn a_fresh_counter_answers_a_huge_history_request() {
    let clock = ManualClock::new(datetime!(2024-03-04 10:00 UTC));
    let c = counter(&clock, UtcOffset::UTC);
    // Mon 2024-03-04 10:00, nothing recorded yet: still a row for every retained day
    let h = c.history(usize::MAX);
    assert!(
        h.len() >= 400,
        "history(usize::MAX) has only {} rows",
        h.len()
    );
    assert!(
        h.len() < 100_000,
        "history(usize::MAX) has {} rows",
        h.len()
    );
    assert_consecutive_ending(&h, date!(2024 - 03 - 04));
    assert!(h
        .iter()
        .all(|d| (d.visits, d.page_views, d.visitors) == (0, 0, 0)));
}

/// A counter that keeps days in a ring must not show an old day's counts when the ring comes
/// round again. One view on a first day, then a read and a view on days far apart.
#[test]
fn old_days_do_not_reappear_after_long_silences() {
    let first = datetime!(2024-01-01 12:00 UTC);
    let clock = ManualClock::new(first);
    let c = counter(&clock, UtcOffset::UTC);

    // Mon 2024-01-01 12:00: five visitors
    for visitor in 0..5 {
        c.hit(v(visitor));
    }
    let mut views = 5;
    for gap in [
        7, 8, 14, 16, 28, 30, 31, 32, 60, 64, 90, 128, 256, 365, 366, 367, 384, 400, 401, 500, 512,
        731, 800, 1000, 1024, 1100, 2048, 4096,
    ] {
        // `gap` days after 2024-01-01, 12:00: nothing yet today
        clock.set(first + time::Duration::days(gap));
        let today = clock_date(&clock);
        assert_eq!(days(&c.history(1)), [(today, 0, 0, 0)], "{gap} days later");
        assert_eq!(c.stats().page_views.today, 0, "{gap} days later");
        // one view by a new visitor
        c.hit(v(100 + gap as u64));
        views += 1;
        assert_eq!(days(&c.history(1)), [(today, 1, 1, 1)], "{gap} days later");
        assert_eq!(c.stats().page_views.total, views);
    }
}

fn clock_date(clock: &ManualClock) -> Date {
    use visitor_counter::Clock;
    clock.now().date()
}

#[test]
fn history_moves_with_the_clock() {
    let clock = ManualClock::new(datetime!(2024-03-04 23:59:59.999_999_999 UTC));
    let c = counter(&clock, UtcOffset::UTC);

    // Mon 23:59:59.999999999: one view
    c.hit(v(1));
    assert_eq!(days(&c.history(1)), [(date!(2024 - 03 - 04), 1, 1, 1)]);
    // Tue 00:00:00: Monday slides back one row
    clock.advance(Duration::from_nanos(1));
    assert_eq!(
        days(&c.history(2)),
        [
            (date!(2024 - 03 - 04), 1, 1, 1),
            (date!(2024 - 03 - 05), 0, 0, 0)
        ]
    );
}
