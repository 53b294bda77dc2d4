//! Visits, page views, online and distinct visitors.
//!
//! - A visitor's session is live while less than `session_timeout` has passed since that
//!   visitor's last page view; a page view with no live session starts a visit, counted on the
//!   local day it starts.
//! - Online: visitors whose last page view was less than `online_window` ago.
//! - `max_sessions`: beyond it the least recently seen visitors are forgotten; page views stay
//!   exact and a forgotten visitor's next page view starts a new visit.
//! - Visitors: distinct visitors per period, exact up to 100, within 2% beyond.
//!
//! Every test is a timeline driven by a `ManualClock`; nothing sleeps.

use std::time::Duration;
use time::macros::{date, datetime, offset};
use time::UtcOffset;
use visitor_counter::{Counter, ManualClock, VisitorId};

#[path = "common/timeline.rs"]
mod timeline;
use timeline::{hit_at, row, v};

const NS: Duration = Duration::from_nanos(1);
const MIN: Duration = Duration::from_secs(60);

fn counter(clock: &ManualClock) -> Counter {
    Counter::builder()
        .clock(clock.clone())
        .build()
        .expect("valid configuration")
}

/// Asserts `actual` is within 2% of `expected`.
#[track_caller]
fn assert_within_2_percent(actual: u64, expected: u64, what: &str) {
    let error = (actual as f64 - expected as f64).abs() / expected as f64;
    assert!(
        error <= 0.02,
        "{what}: estimate {actual} vs exact {expected} is {:.2}% off",
        error * 100.0
    );
}

// ---------------------------------------------------------------------------------------------
// session_timeout
// ---------------------------------------------------------------------------------------------

#[test]
fn a_page_view_one_nanosecond_before_the_default_timeout_continues_the_visit() {
    let clock = ManualClock::new(datetime!(2024-03-04 10:00 UTC));
    let c = counter(&clock);

    // 10:00: visitor 1 arrives
    c.hit(v(1));
    // 10:29:59.999999999: 30 min (the default timeout) less 1 ns later: same visit
    clock.advance(30 * MIN - NS);
    c.hit(v(1));
    let s = c.stats();
    assert_eq!((s.visits.today, s.page_views.today), (1, 2));

    // 10:59:59.999999998: again 1 ns short of the timeout since the *last* view: same visit
    clock.advance(30 * MIN - NS);
    c.hit(v(1));
    let s = c.stats();
    assert_eq!((s.visits.today, s.page_views.today), (1, 3));

    // 11:29:59.999999998: exactly 30 min after the last view: the session has expired
    clock.advance(30 * MIN);
    c.hit(v(1));
    let s = c.stats();
    assert_eq!((s.visits.today, s.page_views.today), (2, 4));
    assert_eq!(s.visitors.today, 1);
}

#[test]
fn a_page_view_exactly_at_the_timeout_starts_a_new_visit() {
    let clock = ManualClock::new(datetime!(2024-03-04 10:00 UTC));
    let c = counter(&clock);

    // 10:00:00: visitor 1 arrives
    c.hit(v(1));
    // 10:30:00: exactly the default 30 min later
    clock.advance(30 * MIN);
    c.hit(v(1));
    let s = c.stats();
    assert_eq!(
        (s.visits.today, s.page_views.today, s.visitors.today),
        (2, 2, 1)
    );
}

#[test]
fn custom_session_timeout_edges() {
    let clock = ManualClock::new(datetime!(2024-03-04 10:00 UTC));
    let c = Counter::builder()
        .clock(clock.clone())
        .online_window(Duration::from_secs(60))
        .session_timeout(Duration::from_secs(90))
        .build()
        .expect("valid configuration");

    // 10:00:00: visitors 1 and 2 arrive
    c.hit(v(1));
    c.hit(v(2));
    // 10:01:29.999999999: visitor 1 again, 90 s less 1 ns later: same visit
    clock.advance(Duration::from_secs(90) - NS);
    c.hit(v(1));
    assert_eq!(c.stats().visits.today, 2);
    // 10:01:30: visitor 2 again, exactly 90 s later: new visit
    clock.advance(NS);
    c.hit(v(2));
    assert_eq!(c.stats().visits.today, 3);
    // 10:02:59.999999998: visitor 1, 90 s less 1 ns after its last view: same visit
    clock.set(datetime!(2024-03-04 10:02:59.999_999_998 UTC));
    c.hit(v(1));
    // 10:03:00: visitor 2, exactly 90 s after its last view: new visit
    clock.set(datetime!(2024-03-04 10:03:00 UTC));
    c.hit(v(2));
    let s = c.stats();
    assert_eq!(
        (s.visits.today, s.page_views.today, s.visitors.today),
        (4, 6, 2)
    );
}

#[test]
fn a_session_kept_alive_for_hours_is_one_visit() {
    let clock = ManualClock::new(datetime!(2024-03-04 08:00 UTC));
    let c = counter(&clock);

    // 08:00 .. ~12:30: visitor 1 views a page every 29:59.999999999, ten times in a row
    for _ in 0..10 {
        c.hit(v(1));
        clock.advance(30 * MIN - NS);
    }
    let s = c.stats();
    assert_eq!((s.visits.today, s.page_views.today), (1, 10));
}

#[test]
fn each_visitor_has_its_own_session() {
    let clock = ManualClock::new(datetime!(2024-03-04 10:00 UTC));
    let c = counter(&clock);

    // 10:00: visitor 1
    c.hit(v(1));
    // 10:20: visitor 2 (does not extend visitor 1's session)
    clock.advance(20 * MIN);
    c.hit(v(2));
    // 10:30: visitor 1 again, 30 min after its own last view: new visit
    clock.advance(10 * MIN);
    c.hit(v(1));
    // 10:49:59.999999999: visitor 2 again, 1 ns short of its timeout: same visit
    clock.advance(20 * MIN - NS);
    c.hit(v(2));
    let s = c.stats();
    assert_eq!(
        (s.visits.today, s.page_views.today, s.visitors.today),
        (3, 4, 2)
    );
}

// ---------------------------------------------------------------------------------------------
// A visit is counted on the local day it starts
// ---------------------------------------------------------------------------------------------

#[test]
fn a_visit_spanning_local_midnight_is_counted_once_on_the_day_it_starts() {
    let clock = ManualClock::new(datetime!(2024-03-04 23:50 UTC));
    let c = counter(&clock);

    // Mon 23:50: visitor 1 starts a visit
    c.hit(v(1));
    // Mon 23:59:59.999999999: another page in the same visit
    clock.set(datetime!(2024-03-04 23:59:59.999_999_999 UTC));
    c.hit(v(1));
    // Tue 00:10 and 00:30: the visit goes on after midnight
    hit_at(&c, &clock, datetime!(2024-03-05 00:10 UTC), 1);
    hit_at(&c, &clock, datetime!(2024-03-05 00:30 UTC), 1);

    let s = c.stats();
    //                                 td yd tw lw tm lm ty total
    assert_eq!(row(&s.visits), [0, 1, 1, 0, 1, 0, 1, 1]);
    assert_eq!(row(&s.page_views), [2, 2, 4, 0, 4, 0, 4, 4]);
    assert_eq!(row(&s.visitors), [1, 1, 1, 0, 1, 0, 1, 1]);

    let h = c.history(2);
    assert_eq!(h[0].date, date!(2024 - 03 - 04));
    assert_eq!((h[0].visits, h[0].page_views, h[0].visitors), (1, 2, 1));
    assert_eq!(h[1].date, date!(2024 - 03 - 05));
    assert_eq!((h[1].visits, h[1].page_views, h[1].visitors), (0, 2, 1));
}

#[test]
fn a_visit_spanning_new_year_belongs_to_the_old_year_week_and_month() {
    let clock = ManualClock::new(datetime!(2023-12-31 23:45 +05:45));
    let c = Counter::builder()
        .clock(clock.clone())
        .utc_offset(offset!(+05:45))
        .build()
        .expect("valid configuration");

    // Sun 2023-12-31 23:45 +05:45: visitor 1 starts a visit (last day of a Mon..Sun week)
    c.hit(v(1));
    // Mon 2024-01-01 00:14:59.999999999 +05:45: the visit continues into the new year
    clock.set(datetime!(2024-01-01 00:14:59.999_999_999 +05:45));
    c.hit(v(1));

    let s = c.stats();
    //                                 td yd tw lw tm lm ty total
    assert_eq!(row(&s.visits), [0, 1, 0, 1, 0, 1, 0, 1]);
    assert_eq!(row(&s.page_views), [1, 1, 1, 1, 1, 1, 1, 2]);
    assert_eq!(row(&s.visitors), [1, 1, 1, 1, 1, 1, 1, 1]);
}

#[test]
fn a_session_that_timed_out_before_midnight_starts_a_visit_on_the_new_day() {
    let clock = ManualClock::new(datetime!(2024-03-04 23:00 -05:00));
    let c = Counter::builder()
        .clock(clock.clone())
        .utc_offset(offset!(-05:00))
        .build()
        .expect("valid configuration");

    // Mon 23:00 -05:00: visitor 1 visits
    c.hit(v(1));
    // Tue 00:10 -05:00: 70 min later: a new visit, counted on Tuesday
    clock.set(datetime!(2024-03-05 00:10 -05:00));
    c.hit(v(1));
    let s = c.stats();
    assert_eq!(
        (s.visits.today, s.visits.yesterday, s.visits.this_week),
        (1, 1, 2)
    );
}

// ---------------------------------------------------------------------------------------------
// online_window
// ---------------------------------------------------------------------------------------------

#[test]
fn online_until_one_nanosecond_before_the_default_window_ends() {
    let clock = ManualClock::new(datetime!(2024-03-04 10:00 UTC));
    let c = counter(&clock);

    // 10:00: nobody yet
    assert_eq!(c.stats().online, 0);
    // 10:00: visitor 1 views a page
    c.hit(v(1));
    assert_eq!(c.stats().online, 1);
    // 10:04:59.999999999: 5 min (the default window) less 1 ns later: still online
    clock.advance(5 * MIN - NS);
    assert_eq!(c.stats().online, 1);
    // 10:05:00: exactly 5 min later: no longer online
    clock.advance(NS);
    assert_eq!(c.stats().online, 0);
}

#[test]
fn a_page_view_keeps_a_visitor_online_for_another_window() {
    let clock = ManualClock::new(datetime!(2024-03-04 10:00 UTC));
    let c = counter(&clock);

    // 10:00: visitor 1; 10:04: visitor 1 again
    c.hit(v(1));
    clock.advance(4 * MIN);
    c.hit(v(1));
    // 10:08:59.999999999: 5 min less 1 ns after the last view: online
    clock.advance(5 * MIN - NS);
    assert_eq!(c.stats().online, 1);
    // 10:09:00: exactly 5 min after the last view: offline
    clock.advance(NS);
    assert_eq!(c.stats().online, 0);
}

#[test]
fn online_counts_distinct_visitors() {
    let clock = ManualClock::new(datetime!(2024-03-04 10:00 UTC));
    let c = counter(&clock);

    // 10:00: visitor 1 views five pages, visitor 2 one
    for _ in 0..5 {
        c.hit(v(1));
    }
    c.hit(v(2));
    assert_eq!(c.stats().online, 2);
    // 10:02: visitor 3 arrives, visitor 1 views another page
    clock.advance(2 * MIN);
    c.hit(v(3));
    c.hit(v(1));
    assert_eq!(c.stats().online, 3);
    // 10:05:00: visitor 2 (last seen 10:00) has left; 1 and 3 (10:02) are online
    clock.advance(3 * MIN);
    assert_eq!(c.stats().online, 2);
    // 10:06:59.999999999: still 1 and 3
    clock.advance(2 * MIN - NS);
    assert_eq!(c.stats().online, 2);
    // 10:07:00: nobody
    clock.advance(NS);
    assert_eq!(c.stats().online, 0);
}

#[test]
fn custom_online_window_edges() {
    let clock = ManualClock::new(datetime!(2024-03-04 10:00 UTC));
    let c = Counter::builder()
        .clock(clock.clone())
        .online_window(Duration::from_secs(1))
        .build()
        .expect("valid configuration");

    // 10:00:00: 50 distinct visitors
    for i in 0..50 {
        c.hit(v(i));
    }
    assert_eq!(c.stats().online, 50);
    // 10:00:00.5: 10 of them again
    clock.advance(Duration::from_millis(500));
    for i in 0..10 {
        c.hit(v(i));
    }
    assert_eq!(c.stats().online, 50);
    // 10:00:00.999999999: all 50 still within 1 s
    clock.set(datetime!(2024-03-04 10:00:00.999_999_999 UTC));
    assert_eq!(c.stats().online, 50);
    // 10:00:01: the 40 last seen at 10:00:00 have left
    clock.advance(NS);
    assert_eq!(c.stats().online, 10);
    // 10:00:01.5: everyone has left
    clock.advance(Duration::from_millis(500));
    assert_eq!(c.stats().online, 0);
}

#[test]
fn online_across_local_midnight() {
    let clock = ManualClock::new(datetime!(2024-03-04 23:58 +07:00));
    let c = Counter::builder()
        .clock(clock.clone())
        .utc_offset(offset!(+07:00))
        .build()
        .expect("valid configuration");

    // 23:58 local: visitors 1 and 2
    c.hit(v(1));
    c.hit(v(2));
    // 00:02:59.999999999 local, the next day: both still online
    clock.set(datetime!(2024-03-05 00:02:59.999_999_999 +07:00));
    assert_eq!(c.stats().online, 2);
    // 00:03:00 local: both gone
    clock.advance(NS);
    assert_eq!(c.stats().online, 0);
}

// ---------------------------------------------------------------------------------------------
// max_sessions
// ---------------------------------------------------------------------------------------------

#[test]
fn beyond_max_sessions_the_least_recently_seen_visitor_is_forgotten() {
    let clock = ManualClock::new(datetime!(2024-03-04 10:00 UTC));
    let c = Counter::builder()
        .clock(clock.clone())
        .max_sessions(3)
        .build()
        .expect("valid configuration");

    // 10:00, 10:01, 10:02, 10:03: visitors A=1, B=2, C=3, D=4; four visits, A is forgotten
    for visitor in 1..=4 {
        c.hit(v(visitor));
        clock.advance(MIN);
    }
    assert_eq!(c.stats().visits.today, 4);
    // 10:04: D (the most recently seen) again: same visit
    c.hit(v(4));
    // 10:05: C again: same visit
    clock.advance(MIN);
    c.hit(v(3));
    let s = c.stats();
    assert_eq!((s.visits.today, s.page_views.today), (4, 6));
    // 10:06: A again, well within 30 min, but forgotten: a new visit
    clock.advance(MIN);
    c.hit(v(1));
    let s = c.stats();
    assert_eq!((s.visits.today, s.page_views.today), (5, 7));
    // Forgetting a session does not change how many distinct visitors there were
    assert_eq!(s.visitors.today, 4);
}

#[test]
fn max_sessions_forgets_by_last_page_view_not_by_first() {
    let clock = ManualClock::new(datetime!(2024-03-04 10:00 UTC));
    let c = Counter::builder()
        .clock(clock.clone())
        .max_sessions(3)
        .build()
        .expect("valid configuration");

    // 10:00, 10:01, 10:02: visitors A=1, B=2, C=3
    for visitor in 1..=3 {
        c.hit(v(visitor));
        clock.advance(MIN);
    }
    // 10:03: A again, so B is now the least recently seen
    c.hit(v(1));
    // 10:04: D=4 arrives: B is forgotten, not A
    clock.advance(MIN);
    c.hit(v(4));
    assert_eq!(c.stats().visits.today, 4);
    // 10:05: A again: same visit
    clock.advance(MIN);
    c.hit(v(1));
    assert_eq!(c.stats().visits.today, 4);
    // 10:06: B again: forgotten, new visit
    clock.advance(MIN);
    c.hit(v(2));
    let s = c.stats();
    assert_eq!(
        (s.visits.today, s.page_views.today, s.visitors.today),
        (5, 7, 4)
    );
}

#[test]
fn at_max_sessions_exactly_nobody_is_forgotten() {
    let clock = ManualClock::new(datetime!(2024-03-04 10:00 UTC));
    let c = Counter::builder()
        .clock(clock.clone())
        .max_sessions(100)
        .build()
        .expect("valid configuration");

    // 10:00: 100 visitors, one page each
    for i in 0..100 {
        c.hit(v(i));
    }
    // 10:10: the same 100 again, all within their sessions
    clock.advance(10 * MIN);
    for i in 0..100 {
        c.hit(v(i));
    }
    let s = c.stats();
    assert_eq!(
        (s.visits.today, s.page_views.today, s.visitors.today),
        (100, 200, 100)
    );
}

#[test]
fn with_far_more_visitors_than_max_sessions_page_views_stay_exact() {
    let clock = ManualClock::new(datetime!(2024-03-04 10:00 UTC));
    let c = Counter::builder()
        .clock(clock.clone())
        .max_sessions(10)
        .build()
        .expect("valid configuration");

    // 10:00:00 .. 10:00:01: 1000 visitors one after another, 1 ms apart
    for i in 0..1_000 {
        c.hit(v(i));
        clock.advance(Duration::from_millis(1));
    }
    // 10:00:01: the most recently seen visitor (999) comes back: same visit
    c.hit(v(999));
    let s = c.stats();
    assert_eq!((s.visits.today, s.page_views.today), (1_000, 1_001));
    // 10:00:01: the first visitor (0), long since forgotten, comes back: a new visit
    c.hit(v(0));
    let s = c.stats();
    assert_eq!((s.visits.today, s.page_views.today), (1_001, 1_002));

    // 10:00:01.001 .. 10:00:02: a second round of all 1000 in the same order; visitor 0 was
    // just seen (same visit), every other one was forgotten long ago (a new visit each)
    for i in 0..1_000 {
        clock.advance(Duration::from_millis(1));
        c.hit(v(i));
    }
    let s = c.stats();
    assert_eq!(s.page_views.today, 2_002);
    assert_eq!(s.visits.today, 2_000);
}

// ---------------------------------------------------------------------------------------------
// Distinct visitors
// ---------------------------------------------------------------------------------------------

#[test]
fn one_visitor_on_monday_and_tuesday_is_one_visitor_this_week() {
    let clock = ManualClock::new(datetime!(2024-03-04 09:00 UTC));
    let c = counter(&clock);

    // Mon 2024-03-04 09:00 and 15:00: visitor 1, two visits
    c.hit(v(1));
    hit_at(&c, &clock, datetime!(2024-03-04 15:00 UTC), 1);
    // Tue 2024-03-05 09:00: visitor 1 again
    hit_at(&c, &clock, datetime!(2024-03-05 09:00 UTC), 1);

    let s = c.stats();
    //                                 td yd tw lw tm lm ty total
    assert_eq!(row(&s.visitors), [1, 1, 1, 0, 1, 0, 1, 1]);
    assert_eq!(row(&s.visits), [1, 2, 3, 0, 3, 0, 3, 3]);
    assert_eq!(row(&s.page_views), [1, 2, 3, 0, 3, 0, 3, 3]);
}

#[test]
fn distinct_visitors_are_exact_for_every_count_up_to_100() {
    for (name, id) in [
        (
            "from_u64",
            (|i: u64| VisitorId::from(i)) as fn(u64) -> VisitorId,
        ),
        ("from_key", |i: u64| {
            VisitorId::from_key(&format!("visitor-{i}"))
        }),
    ] {
        let clock = ManualClock::new(datetime!(2024-03-04 10:00 UTC));
        let c = counter(&clock);
        // 10:00 onwards: visitor n arrives, then every visitor so far views one more page;
        // after each arrival the count is exactly n in every period
        for n in 1..=100u64 {
            c.hit(id(n));
            for seen in 1..=n {
                c.hit(id(seen));
            }
            let s = c.stats();
            assert_eq!(
                row(&s.visitors),
                [n, 0, n, 0, n, 0, n, n],
                "{name}: n = {n}"
            );
            clock.advance(Duration::from_secs(1));
        }
    }
}

#[test]
fn distinct_visitors_are_exact_in_every_period_with_up_to_100() {
    let clock = ManualClock::new(datetime!(2024-02-21 12:00 UTC));
    let c = counter(&clock);

    // 2024-02-21 .. 2024-02-26 noon: visitors 1000 .. 1005, one a day, two pages each
    for day in 0..6u64 {
        clock.set(datetime!(2024-02-21 12:00 UTC) + time::Duration::days(day as i64));
        c.hit(v(1_000 + day));
        c.hit(v(1_000 + day));
    }
    // 2024-03-01 .. 2024-03-31 noon: three new visitors a day, plus visitor 0 every day
    for day in 0..31u64 {
        clock.set(datetime!(2024-03-01 12:00 UTC) + time::Duration::days(day as i64));
        for k in 1..=3 {
            c.hit(v(day * 3 + k));
        }
        c.hit(v(0));
    }
    // Sun 2024-03-31 12:00
    let s = c.stats();
    // today 3+1; yesterday 3+1; this week Mon 03-25..Sun 03-31: 21+1; last week 21+1;
    // March 93+1; February 6; this year and total 94+6
    //                                 td yd  tw  lw  tm  lm ty   total
    assert_eq!(row(&s.visitors), [4, 4, 22, 22, 94, 6, 100, 100]);
    assert_eq!(row(&s.page_views), [4, 4, 28, 28, 124, 12, 136, 136]);
}

#[test]
fn a_hundred_thousand_distinct_visitors_are_estimated_within_2_percent() {
    let clock = ManualClock::new(datetime!(2024-03-04 08:00 UTC));
    let c = counter(&clock);

    // Mon 2024-03-04 08:00: visitors 0 .. 100_000, one page each
    for i in 0..100_000 {
        c.hit(v(i));
    }
    let s = c.stats();
    assert_eq!((s.visits.today, s.page_views.today), (100_000, 100_000));
    assert_within_2_percent(s.visitors.today, 100_000, "today");
    assert_within_2_percent(s.visitors.this_week, 100_000, "this_week");
    assert_within_2_percent(s.visitors.this_month, 100_000, "this_month");
    assert_within_2_percent(s.visitors.this_year, 100_000, "this_year");
    assert_within_2_percent(s.visitors.total, 100_000, "total");
}

#[test]
fn overlapping_crowds_on_two_days_are_estimated_within_2_percent() {
    let clock = ManualClock::new(datetime!(2024-03-04 08:00 UTC));
    let c = counter(&clock);

    // Mon 2024-03-04 08:00: keys visitor-0 .. visitor-59999
    for i in 0..60_000 {
        c.hit(VisitorId::from_key(&format!("visitor-{i}")));
    }
    // Tue 2024-03-05 08:00: keys visitor-30000 .. visitor-89999 (half of them returning)
    clock.set(datetime!(2024-03-05 08:00 UTC));
    for i in 30_000..90_000 {
        c.hit(VisitorId::from_key(&format!("visitor-{i}")));
    }
    let s = c.stats();
    assert_eq!(
        row(&s.page_views),
        [60_000, 60_000, 120_000, 0, 120_000, 0, 120_000, 120_000]
    );
    assert_eq!(
        row(&s.visits),
        [60_000, 60_000, 120_000, 0, 120_000, 0, 120_000, 120_000]
    );
    assert_within_2_percent(s.visitors.today, 60_000, "today");
    assert_within_2_percent(s.visitors.yesterday, 60_000, "yesterday");
    assert_within_2_percent(
        s.visitors.this_week,
        90_000,
        "this_week (union of both days)",
    );
    assert_within_2_percent(s.visitors.this_month, 90_000, "this_month");
    assert_within_2_percent(s.visitors.total, 90_000, "total");
    assert_eq!(s.visitors.last_week, 0);
    assert_eq!(s.visitors.last_month, 0);
}

#[test]
fn visitors_of_a_utc_day_are_split_by_local_midnight() {
    let clock = ManualClock::new(datetime!(2024-03-04 16:00 UTC));
    let c = Counter::builder()
        .clock(clock.clone())
        .utc_offset(UtcOffset::from_hms(7, 0, 0).unwrap())
        .build()
        .expect("valid configuration");

    // 2024-03-04 16:59:59.999999999 UTC = Mon 23:59:59.999999999 +07:00: visitors 0..10
    clock.set(datetime!(2024-03-04 16:59:59.999_999_999 UTC));
    for i in 0..10 {
        c.hit(v(i));
    }
    // 2024-03-04 17:00 UTC = Tue 00:00 +07:00: visitors 5..20
    clock.set(datetime!(2024-03-04 17:00 UTC));
    for i in 5..20 {
        c.hit(v(i));
    }
    let s = c.stats();
    assert_eq!(
        (s.visitors.today, s.visitors.yesterday, s.visitors.this_week),
        (15, 10, 20)
    );
    // Visitors 5..10 were mid-session at midnight: their visits stay on Monday
    assert_eq!((s.visits.today, s.visits.yesterday), (10, 10));
}
