//! Local-calendar bucketing of `stats()`: days, weeks, months and years are local ones,
//! shifted by the configured UTC offset, and weeks begin at local midnight of `week_start`.
//!
//! Every test is a timeline driven by a `ManualClock`; nothing sleeps. Unless a test says
//! otherwise each page view comes from a new visitor, so visits == page views == visitors.

use time::macros::{datetime, offset};
use time::{PrimitiveDateTime, UtcOffset, Weekday};
use visitor_counter::{Counter, ManualClock, VisitorId};

#[path = "common/timeline.rs"]
mod timeline;
use timeline::{hit_at, row};

/// A counter on `clock` in the given local calendar, other options at their defaults.
fn counter(clock: &ManualClock, offset: UtcOffset, week_start: Weekday) -> Counter {
    Counter::builder()
        .clock(clock.clone())
        .utc_offset(offset)
        .week_start(week_start)
        .build()
        .expect("valid configuration")
}

/// Asserts that visits, page views and visitors all have the same eight periods
/// (the case when every page view comes from a new visitor).
#[track_caller]
fn assert_all(counter: &Counter, expected: [u64; 8]) {
    let s = counter.stats();
    assert_eq!(row(&s.page_views), expected, "page_views");
    assert_eq!(row(&s.visits), expected, "visits");
    assert_eq!(row(&s.visitors), expected, "visitors");
}

// ---------------------------------------------------------------------------------------------
// Weeks
// ---------------------------------------------------------------------------------------------

#[test]
fn week_starting_monday_splits_sunday_night_from_monday_morning() {
    let clock = ManualClock::new(datetime!(2024-03-03 12:00 UTC));
    let c = counter(&clock, UtcOffset::UTC, Weekday::Monday);

    // Sun 2024-03-03 23:59:59.999999999: last page view of the week
    hit_at(
        &c,
        &clock,
        datetime!(2024-03-03 23:59:59.999_999_999 UTC),
        1,
    );
    //                td yd tw lw tm lm ty total
    assert_all(&c, [1, 0, 1, 0, 1, 0, 1, 1]);

    // Mon 2024-03-04 00:00:00: first page view of the new week
    hit_at(&c, &clock, datetime!(2024-03-04 00:00 UTC), 2);
    //                td yd tw lw tm lm ty total
    assert_all(&c, [1, 1, 1, 1, 2, 0, 2, 2]);

    // Sun 2024-03-10 23:59:59.999999999: still the same week, Monday's view is still this week
    clock.set(datetime!(2024-03-10 23:59:59.999_999_999 UTC));
    //                td yd tw lw tm lm ty total
    assert_all(&c, [0, 0, 1, 1, 2, 0, 2, 2]);

    // Mon 2024-03-11 00:00:00: Monday's view moves to last week, Sunday's drops out
    clock.set(datetime!(2024-03-11 00:00 UTC));
    //                td yd tw lw tm lm ty total
    assert_all(&c, [0, 0, 0, 1, 2, 0, 2, 2]);
}

#[test]
fn week_starting_sunday_splits_saturday_night_from_sunday_morning() {
    let clock = ManualClock::new(datetime!(2024-03-02 12:00 UTC));
    let c = counter(&clock, UtcOffset::UTC, Weekday::Sunday);

    // Sat 2024-03-02 23:59:59.999999999: last moment of the week Sun 02-25 .. Sat 03-02
    hit_at(
        &c,
        &clock,
        datetime!(2024-03-02 23:59:59.999_999_999 UTC),
        1,
    );
    // Sun 2024-03-03 00:00:00: first moment of the week Sun 03-03 .. Sat 03-09
    hit_at(&c, &clock, datetime!(2024-03-03 00:00 UTC), 2);
    // Mon 2024-03-04 09:00: a Monday is mid-week when weeks start on Sunday
    hit_at(&c, &clock, datetime!(2024-03-04 09:00 UTC), 3);
    //                td yd tw lw tm lm ty total
    assert_all(&c, [1, 1, 2, 1, 3, 0, 3, 3]);

    // Sat 2024-03-09 23:59:59.999999999: one more view on the last moment of this week
    hit_at(
        &c,
        &clock,
        datetime!(2024-03-09 23:59:59.999_999_999 UTC),
        4,
    );
    //                td yd tw lw tm lm ty total
    assert_all(&c, [1, 0, 3, 1, 4, 0, 4, 4]);

    // Sun 2024-03-10 00:00:00: the three views of 03-03 .. 03-09 are now last week
    clock.set(datetime!(2024-03-10 00:00 UTC));
    //                td yd tw lw tm lm ty total
    assert_all(&c, [0, 1, 0, 3, 4, 0, 4, 4]);
}

#[test]
fn week_starting_saturday_splits_friday_night_from_saturday_morning() {
    let clock = ManualClock::new(datetime!(2024-03-08 12:00 UTC));
    let c = counter(&clock, UtcOffset::UTC, Weekday::Saturday);

    // Fri 2024-03-08 23:59:59.999999999: last moment of the week Sat 03-02 .. Fri 03-08
    hit_at(
        &c,
        &clock,
        datetime!(2024-03-08 23:59:59.999_999_999 UTC),
        1,
    );
    //                td yd tw lw tm lm ty total
    assert_all(&c, [1, 0, 1, 0, 1, 0, 1, 1]);

    // Sat 2024-03-09 00:00:00: a new week begins
    hit_at(&c, &clock, datetime!(2024-03-09 00:00 UTC), 2);
    //                td yd tw lw tm lm ty total
    assert_all(&c, [1, 1, 1, 1, 2, 0, 2, 2]);

    // Sun 2024-03-10 and Fri 2024-03-15 are in the same week as Sat 03-09
    hit_at(&c, &clock, datetime!(2024-03-10 08:00 UTC), 3);
    hit_at(&c, &clock, datetime!(2024-03-15 23:00 UTC), 4);
    //                td yd tw lw tm lm ty total
    assert_all(&c, [1, 0, 3, 1, 4, 0, 4, 4]);

    // Sat 2024-03-16 00:00: Sat 03-09 .. Fri 03-15 is last week; Fri 03-08 is two weeks ago
    clock.set(datetime!(2024-03-16 00:00 UTC));
    //                td yd tw lw tm lm ty total
    assert_all(&c, [0, 1, 0, 3, 4, 0, 4, 4]);
}

/// For every possible `week_start`: one page view at noon on each of 21 days from
/// Mon 2024-01-01, checking `this_week` and `last_week` after each one.
#[test]
fn this_week_and_last_week_for_every_week_start() {
    let weekdays = [
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
        Weekday::Saturday,
        Weekday::Sunday,
    ];
    for week_start in weekdays {
        let first = datetime!(2024-01-01 12:00 UTC); // a Monday
        let clock = ManualClock::new(first);
        let c = counter(&clock, UtcOffset::UTC, week_start);
        for day in 0..21i64 {
            // day `day` at 12:00: one page view by a new visitor
            let now = first + time::Duration::days(day);
            hit_at(&c, &clock, now, day as u64);

            // Days since this week began (0 on the week_start day itself).
            let into_week = (now.weekday().number_days_from_monday() + 7
                - week_start.number_days_from_monday()) as i64
                % 7;
            let week_began = day - into_week; // index of this week's first day (may be < 0)
            let this_week = day - week_began.max(0) + 1;
            let last_week = week_began.max(0) - (week_began - 7).max(0);
            let s = c.stats();
            assert_eq!(
                (s.page_views.this_week, s.page_views.last_week),
                (this_week as u64, last_week as u64),
                "week_start {week_start}, {now}"
            );
            assert_eq!(s.page_views.today, 1, "week_start {week_start}, {now}");
            assert_eq!(
                s.page_views.yesterday,
                u64::from(day > 0),
                "week_start {week_start}, {now}"
            );
        }
    }
}

#[test]
fn one_visitor_on_sunday_and_monday_is_one_visitor_in_each_week_and_in_the_month() {
    let clock = ManualClock::new(datetime!(2024-03-03 10:00 UTC));
    let c = counter(&clock, UtcOffset::UTC, Weekday::Monday);

    // Sun 2024-03-03 10:00: visitor 7 reads a page
    hit_at(&c, &clock, datetime!(2024-03-03 10:00 UTC), 7);
    // Mon 2024-03-04 10:00: visitor 7 comes back a day later (a new visit)
    hit_at(&c, &clock, datetime!(2024-03-04 10:00 UTC), 7);
    // Mon 2024-03-04 10:05: and reads a second page in the same visit
    hit_at(&c, &clock, datetime!(2024-03-04 10:05 UTC), 7);

    let s = c.stats();
    //                                 td yd tw lw tm lm ty total
    assert_eq!(row(&s.page_views), [2, 1, 2, 1, 3, 0, 3, 3]);
    assert_eq!(row(&s.visits), [1, 1, 1, 1, 2, 0, 2, 2]);
    assert_eq!(row(&s.visitors), [1, 1, 1, 1, 1, 0, 1, 1]);
}

// ---------------------------------------------------------------------------------------------
// UTC offsets
// ---------------------------------------------------------------------------------------------

#[test]
fn offset_plus_seven_moves_local_midnight_to_17_00_utc() {
    let clock = ManualClock::new(datetime!(2024-03-03 00:00 UTC));
    let c = counter(&clock, offset!(+07:00), Weekday::Monday);

    // 2024-03-03 16:59:59.999999999 UTC = Sun 23:59:59.999999999 +07:00: last view of Sunday
    hit_at(
        &c,
        &clock,
        datetime!(2024-03-03 16:59:59.999_999_999 UTC),
        1,
    );
    //                td yd tw lw tm lm ty total
    assert_all(&c, [1, 0, 1, 0, 1, 0, 1, 1]);

    // 2024-03-03 17:00:00 UTC = Mon 2024-03-04 00:00 +07:00: a new local day and week
    hit_at(&c, &clock, datetime!(2024-03-03 17:00 UTC), 2);
    //                td yd tw lw tm lm ty total
    assert_all(&c, [1, 1, 1, 1, 2, 0, 2, 2]);
}

#[test]
fn the_offset_of_the_clock_reading_does_not_matter_only_the_instant() {
    // The clock reports instants in +07:00, the counter counts in -05:00.
    let clock = ManualClock::new(datetime!(2024-03-04 00:00 +07:00));
    let c = counter(&clock, offset!(-05:00), Weekday::Monday);

    // 2024-03-04 11:59:59.999999999 +07:00 = Sun 2024-03-03 23:59:59.999999999 -05:00
    hit_at(
        &c,
        &clock,
        datetime!(2024-03-04 11:59:59.999_999_999 +07:00),
        1,
    );
    // 2024-03-04 12:00 +07:00 = Mon 2024-03-04 00:00 -05:00
    hit_at(&c, &clock, datetime!(2024-03-04 12:00 +07:00), 2);
    //                td yd tw lw tm lm ty total
    assert_all(&c, [1, 1, 1, 1, 2, 0, 2, 2]);

    let history = c.history(2);
    assert_eq!(history[0].date, time::macros::date!(2024 - 03 - 03));
    assert_eq!(history[1].date, time::macros::date!(2024 - 03 - 04));
}

/// For each offset: a view on the last nanosecond of local Sunday 2024-03-03 and one at local
/// midnight of Monday 2024-03-04, with the clock reading UTC.
#[test]
fn local_midnight_in_every_offset() {
    for off in [
        offset!(+07:00),
        offset!(-05:00),
        offset!(+05:45),
        offset!(+14:00),
        offset!(-12:00),
        UtcOffset::UTC,
    ] {
        let local = |dt: PrimitiveDateTime| dt.assume_offset(off).to_offset(UtcOffset::UTC);
        let clock = ManualClock::new(local(datetime!(2024-03-03 12:00)));
        let c = counter(&clock, off, Weekday::Monday);

        // Sun 23:59:59.999999999 local: last view of the day
        hit_at(
            &c,
            &clock,
            local(datetime!(2024-03-03 23:59:59.999_999_999)),
            1,
        );
        let s = c.stats();
        assert_eq!(row(&s.page_views), [1, 0, 1, 0, 1, 0, 1, 1], "offset {off}");

        // Mon 00:00:00 local: first view of the next day and week
        hit_at(&c, &clock, local(datetime!(2024-03-04 00:00)), 2);
        let s = c.stats();
        assert_eq!(row(&s.page_views), [1, 1, 1, 1, 2, 0, 2, 2], "offset {off}");
        assert_eq!(row(&s.visits), [1, 1, 1, 1, 2, 0, 2, 2], "offset {off}");

        // Mon 23:59:59.999999999 local: still Monday
        clock.set(local(datetime!(2024-03-04 23:59:59.999_999_999)));
        assert_eq!(c.stats().page_views.today, 1, "offset {off}");
        // Tue 00:00 local: Monday is yesterday, Sunday has left both days
        clock.set(local(datetime!(2024-03-05 00:00)));
        let s = c.stats();
        assert_eq!(row(&s.page_views), [0, 1, 1, 1, 2, 0, 2, 2], "offset {off}");
    }
}

#[test]
fn offset_plus_five_forty_five_month_end() {
    let clock = ManualClock::new(datetime!(2024-04-30 18:00 UTC));
    let c = counter(&clock, offset!(+05:45), Weekday::Monday);

    // 2024-04-30 18:14:59.999999999 UTC = Tue 2024-04-30 23:59:59.999999999 +05:45
    hit_at(
        &c,
        &clock,
        datetime!(2024-04-30 18:14:59.999_999_999 UTC),
        1,
    );
    // 2024-04-30 18:15 UTC = Wed 2024-05-01 00:00 +05:45: May begins mid-week
    hit_at(&c, &clock, datetime!(2024-04-30 18:15 UTC), 2);
    //                td yd tw lw tm lm ty total
    assert_all(&c, [1, 1, 2, 0, 1, 1, 2, 2]);
}

#[test]
fn offset_plus_fourteen_is_a_day_ahead_of_utc() {
    let clock = ManualClock::new(datetime!(2024-01-31 00:00 UTC));
    let c = counter(&clock, offset!(+14:00), Weekday::Monday);

    // 2024-01-31 09:59:59.999999999 UTC = Wed 2024-01-31 23:59:59.999999999 +14:00
    hit_at(
        &c,
        &clock,
        datetime!(2024-01-31 09:59:59.999_999_999 UTC),
        1,
    );
    // 2024-01-31 10:00 UTC = Thu 2024-02-01 00:00 +14:00: already February locally
    hit_at(&c, &clock, datetime!(2024-01-31 10:00 UTC), 2);
    //                td yd tw lw tm lm ty total
    assert_all(&c, [1, 1, 2, 0, 1, 1, 2, 2]);

    // 2024-12-31 10:00 UTC = 2025-01-01 00:00 +14:00: a new local year while UTC is in 2024
    hit_at(&c, &clock, datetime!(2024-12-31 10:00 UTC), 3);
    //                td yd tw lw tm lm ty total
    assert_all(&c, [1, 0, 1, 0, 1, 0, 1, 3]);
}

#[test]
fn offset_minus_twelve_is_a_day_behind_utc() {
    let clock = ManualClock::new(datetime!(2025-01-01 00:00 UTC));
    let c = counter(&clock, offset!(-12:00), Weekday::Monday);

    // 2025-01-01 11:59:59.999999999 UTC = Tue 2024-12-31 23:59:59.999999999 -12:00:
    // still 2024 locally
    hit_at(
        &c,
        &clock,
        datetime!(2025-01-01 11:59:59.999_999_999 UTC),
        1,
    );
    //                td yd tw lw tm lm ty total
    assert_all(&c, [1, 0, 1, 0, 1, 0, 1, 1]);

    // 2025-01-01 12:00 UTC = Wed 2025-01-01 00:00 -12:00: new local year, same week
    hit_at(&c, &clock, datetime!(2025-01-01 12:00 UTC), 2);
    //                td yd tw lw tm lm ty total
    assert_all(&c, [1, 1, 2, 0, 1, 1, 1, 2]);
}

// ---------------------------------------------------------------------------------------------
// Months and years
// ---------------------------------------------------------------------------------------------

#[test]
fn month_end_moves_views_to_last_month_and_then_out_of_it() {
    let clock = ManualClock::new(datetime!(2024-01-31 12:00 UTC));
    let c = counter(&clock, UtcOffset::UTC, Weekday::Monday);

    // Wed 2024-01-31 23:59:59.999999999: last view of January
    hit_at(
        &c,
        &clock,
        datetime!(2024-01-31 23:59:59.999_999_999 UTC),
        1,
    );
    // Thu 2024-02-01 00:00: first view of February
    hit_at(&c, &clock, datetime!(2024-02-01 00:00 UTC), 2);
    //                td yd tw lw tm lm ty total
    assert_all(&c, [1, 1, 2, 0, 1, 1, 2, 2]);

    // Fri 2024-03-01 00:00: February is last month, January is out of it
    clock.set(datetime!(2024-03-01 00:00 UTC));
    //                td yd tw lw tm lm ty total
    assert_all(&c, [0, 0, 0, 0, 0, 1, 2, 2]);

    // Mon 2024-04-01 00:00: March was empty
    clock.set(datetime!(2024-04-01 00:00 UTC));
    //                td yd tw lw tm lm ty total
    assert_all(&c, [0, 0, 0, 0, 0, 0, 2, 2]);
}

#[test]
fn thirty_day_month_end() {
    let clock = ManualClock::new(datetime!(2024-06-30 12:00 UTC));
    let c = counter(&clock, UtcOffset::UTC, Weekday::Monday);

    // Sun 2024-06-30 23:59:59.999999999: last view of June (and of the week)
    hit_at(
        &c,
        &clock,
        datetime!(2024-06-30 23:59:59.999_999_999 UTC),
        1,
    );
    // Mon 2024-07-01 00:00: first view of July and of a new week
    hit_at(&c, &clock, datetime!(2024-07-01 00:00 UTC), 2);
    //                td yd tw lw tm lm ty total
    assert_all(&c, [1, 1, 1, 1, 1, 1, 2, 2]);
}

#[test]
fn leap_day_2024() {
    let clock = ManualClock::new(datetime!(2024-02-28 12:00 UTC));
    let c = counter(&clock, UtcOffset::UTC, Weekday::Monday);

    // Wed 2024-02-28 12:00: one view
    hit_at(&c, &clock, datetime!(2024-02-28 12:00 UTC), 1);
    // Thu 2024-02-29 00:00 and 23:59:59.999999999: two views on the leap day
    hit_at(&c, &clock, datetime!(2024-02-29 00:00 UTC), 2);
    hit_at(
        &c,
        &clock,
        datetime!(2024-02-29 23:59:59.999_999_999 UTC),
        3,
    );
    //                td yd tw lw tm lm ty total
    assert_all(&c, [2, 1, 3, 0, 3, 0, 3, 3]);

    // Fri 2024-03-01 00:00: one view; the leap day is yesterday, February is last month
    hit_at(&c, &clock, datetime!(2024-03-01 00:00 UTC), 4);
    //                td yd tw lw tm lm ty total
    assert_all(&c, [1, 2, 4, 0, 1, 3, 4, 4]);
}

#[test]
fn leap_day_with_offset_minus_five() {
    let clock = ManualClock::new(datetime!(2024-02-29 12:00 UTC));
    let c = counter(&clock, offset!(-05:00), Weekday::Monday);

    // 2024-03-01 04:59:59.999999999 UTC = Thu 2024-02-29 23:59:59.999999999 -05:00
    hit_at(
        &c,
        &clock,
        datetime!(2024-03-01 04:59:59.999_999_999 UTC),
        1,
    );
    //                td yd tw lw tm lm ty total
    assert_all(&c, [1, 0, 1, 0, 1, 0, 1, 1]);
    // 2024-03-01 05:00 UTC = Fri 2024-03-01 00:00 -05:00
    hit_at(&c, &clock, datetime!(2024-03-01 05:00 UTC), 2);
    //                td yd tw lw tm lm ty total
    assert_all(&c, [1, 1, 2, 0, 1, 1, 2, 2]);
}

#[test]
fn year_end_with_a_week_that_spans_two_years() {
    let clock = ManualClock::new(datetime!(2024-12-01 12:00 UTC));
    let c = counter(&clock, UtcOffset::UTC, Weekday::Monday);

    // Sun 2024-12-01 12:00: one view early in December
    hit_at(&c, &clock, datetime!(2024-12-01 12:00 UTC), 1);
    // Sun 2024-12-29 23:00: the last view of the previous week
    hit_at(&c, &clock, datetime!(2024-12-29 23:00 UTC), 2);
    // Mon 2024-12-30 08:00: the week Mon 2024-12-30 .. Sun 2025-01-05 begins
    hit_at(&c, &clock, datetime!(2024-12-30 08:00 UTC), 3);
    // Tue 2024-12-31 23:59:59.999999999: the last view of 2024
    hit_at(
        &c,
        &clock,
        datetime!(2024-12-31 23:59:59.999_999_999 UTC),
        4,
    );
    //                td yd tw lw tm lm ty total
    assert_all(&c, [1, 1, 2, 1, 4, 0, 4, 4]);

    // Wed 2025-01-01 00:00: the first view of 2025; this week still holds Dec 30 and 31
    hit_at(&c, &clock, datetime!(2025-01-01 00:00 UTC), 5);
    //                td yd tw lw tm lm ty total
    assert_all(&c, [1, 1, 3, 1, 1, 4, 1, 5]);

    // Mon 2025-01-06 00:00: Dec 30 .. Jan 5 is last week
    clock.set(datetime!(2025-01-06 00:00 UTC));
    //                td yd tw lw tm lm ty total
    assert_all(&c, [0, 0, 0, 3, 1, 4, 1, 5]);

    // Sat 2025-02-01 00:00: January is last month, December is forgotten by the periods
    clock.set(datetime!(2025-02-01 00:00 UTC));
    //                td yd tw lw tm lm ty total
    assert_all(&c, [0, 0, 0, 0, 0, 1, 1, 5]);
}

#[test]
fn this_year_starts_empty_on_new_years_day_and_total_keeps_everything() {
    let clock = ManualClock::new(datetime!(2023-06-15 12:00 UTC));
    let c = counter(&clock, offset!(+07:00), Weekday::Monday);

    // 2023-06-15 12:00 UTC and 2024-06-15 12:00 UTC: one view in each year
    hit_at(&c, &clock, datetime!(2023-06-15 12:00 UTC), 1);
    hit_at(&c, &clock, datetime!(2024-06-15 12:00 UTC), 2);
    //                td yd tw lw tm lm ty total
    assert_all(&c, [1, 0, 1, 0, 1, 0, 1, 2]);

    // 2025-01-01 00:00 +07:00: a new year with nothing in it yet
    clock.set(datetime!(2025-01-01 00:00 +07:00));
    //                td yd tw lw tm lm ty total
    assert_all(&c, [0, 0, 0, 0, 0, 0, 0, 2]);
}

// ---------------------------------------------------------------------------------------------
// Gaps: periods that have passed must not keep stale counts
// ---------------------------------------------------------------------------------------------

#[test]
fn weeks_of_silence_empty_every_period_but_the_ones_that_still_cover_the_view() {
    let clock = ManualClock::new(datetime!(2024-03-04 12:00 UTC));
    let c = counter(&clock, UtcOffset::UTC, Weekday::Monday);

    // Mon 2024-03-04 12:00: one view
    hit_at(&c, &clock, datetime!(2024-03-04 12:00 UTC), 1);

    // Wed 2024-03-06 12:00: two days later, neither today nor yesterday
    clock.set(datetime!(2024-03-06 12:00 UTC));
    //                td yd tw lw tm lm ty total
    assert_all(&c, [0, 0, 1, 0, 1, 0, 1, 1]);

    // Mon 2024-03-11 12:00: same weekday one week later: last week only
    clock.set(datetime!(2024-03-11 12:00 UTC));
    //                td yd tw lw tm lm ty total
    assert_all(&c, [0, 0, 0, 1, 1, 0, 1, 1]);

    // Mon 2024-03-25 12:00: three weeks of silence: neither this nor last week
    clock.set(datetime!(2024-03-25 12:00 UTC));
    //                td yd tw lw tm lm ty total
    assert_all(&c, [0, 0, 0, 0, 1, 0, 1, 1]);

    // Mon 2024-03-25 12:00: a view after the silence counts alone
    hit_at(&c, &clock, datetime!(2024-03-25 12:00 UTC), 2);
    //                td yd tw lw tm lm ty total
    assert_all(&c, [1, 0, 1, 0, 2, 0, 2, 2]);
}

#[test]
fn a_view_exactly_one_week_later_is_not_added_to_the_old_day_or_week() {
    let clock = ManualClock::new(datetime!(2024-03-04 09:00 UTC));
    let c = counter(&clock, UtcOffset::UTC, Weekday::Monday);

    // Mon 2024-03-04 09:00: three views
    for v in 1..=3 {
        hit_at(&c, &clock, datetime!(2024-03-04 09:00 UTC), v);
    }
    // Mon 2024-03-11 09:00, same weekday and time a week later: one view
    hit_at(&c, &clock, datetime!(2024-03-11 09:00 UTC), 4);
    //                td yd tw lw tm lm ty total
    assert_all(&c, [1, 0, 1, 3, 4, 0, 4, 4]);

    // Mon 2024-03-18 09:00, two weeks later: one view
    hit_at(&c, &clock, datetime!(2024-03-18 09:00 UTC), 5);
    //                td yd tw lw tm lm ty total
    assert_all(&c, [1, 0, 1, 1, 5, 0, 5, 5]);
}

#[test]
fn same_month_a_year_later_does_not_reuse_the_old_month() {
    let clock = ManualClock::new(datetime!(2024-03-15 12:00 UTC));
    let c = counter(&clock, UtcOffset::UTC, Weekday::Monday);

    // Fri 2024-03-15 12:00: two views
    hit_at(&c, &clock, datetime!(2024-03-15 12:00 UTC), 1);
    hit_at(&c, &clock, datetime!(2024-03-15 12:00 UTC), 2);

    // Sat 2025-03-15 12:00, a year later to the day: nothing in any period but total
    clock.set(datetime!(2025-03-15 12:00 UTC));
    //                td yd tw lw tm lm ty total
    assert_all(&c, [0, 0, 0, 0, 0, 0, 0, 2]);

    // Sat 2025-03-15 12:00: one view
    hit_at(&c, &clock, datetime!(2025-03-15 12:00 UTC), 3);
    //                td yd tw lw tm lm ty total
    assert_all(&c, [1, 0, 1, 0, 1, 0, 1, 3]);

    // Tue 2025-04-15 12:00: last month is March 2025 only
    clock.set(datetime!(2025-04-15 12:00 UTC));
    //                td yd tw lw tm lm ty total
    assert_all(&c, [0, 0, 0, 0, 0, 1, 1, 3]);
}

#[test]
fn last_month_is_zero_after_a_silent_month() {
    let clock = ManualClock::new(datetime!(2024-01-15 12:00 UTC));
    let c = counter(&clock, UtcOffset::UTC, Weekday::Monday);

    // Mon 2024-01-15 12:00: one view
    hit_at(&c, &clock, datetime!(2024-01-15 12:00 UTC), 1);
    // Fri 2024-03-15 12:00: February passed in silence
    clock.set(datetime!(2024-03-15 12:00 UTC));
    //                td yd tw lw tm lm ty total
    assert_all(&c, [0, 0, 0, 0, 0, 0, 1, 1]);
}

#[test]
fn yesterday_is_only_the_previous_local_day() {
    let clock = ManualClock::new(datetime!(2024-03-05 12:00 UTC));
    let c = counter(&clock, UtcOffset::UTC, Weekday::Monday);

    // Tue 2024-03-05 12:00: one view
    hit_at(&c, &clock, datetime!(2024-03-05 12:00 UTC), 1);
    // Wed 2024-03-06 00:00: it is yesterday's
    clock.set(datetime!(2024-03-06 00:00 UTC));
    assert_eq!(c.stats().page_views.yesterday, 1);
    // Wed 2024-03-06 23:59:59.999999999: still yesterday's
    clock.set(datetime!(2024-03-06 23:59:59.999_999_999 UTC));
    assert_eq!(c.stats().page_views.yesterday, 1);
    // Thu 2024-03-07 00:00: the day before yesterday
    clock.set(datetime!(2024-03-07 00:00 UTC));
    //                td yd tw lw tm lm ty total
    assert_all(&c, [0, 0, 1, 0, 1, 0, 1, 1]);
}

// ---------------------------------------------------------------------------------------------
// initial_total
// ---------------------------------------------------------------------------------------------

/// Totals stop at `u64::MAX` instead of overflowing (found by fuzzing the snapshot decoder:
/// a file's initial totals can be anything, and so can the builder's).
#[test]
fn an_initial_total_near_the_maximum_saturates() {
    let clock = ManualClock::new(datetime!(2024-03-04 12:00 UTC));
    let c = Counter::builder()
        .clock(clock)
        .initial_total(u64::MAX - 1, u64::MAX)
        .build()
        .expect("valid configuration");
    for v in 1..=3 {
        c.hit(VisitorId::from(v));
    }
    let s = c.stats();
    assert_eq!((s.visits.today, s.visits.total), (3, u64::MAX));
    assert_eq!((s.page_views.today, s.page_views.total), (3, u64::MAX));
}

#[test]
fn initial_total_adds_to_total_only() {
    let clock = ManualClock::new(datetime!(2024-03-04 12:00 UTC));
    let c = Counter::builder()
        .clock(clock.clone())
        .initial_total(1_000, 5_000)
        .build()
        .expect("valid configuration");

    // Mon 2024-03-04 12:00, before any page view: only the totals carry the initial numbers
    let s = c.stats();
    //                                 td yd tw lw tm lm ty total
    assert_eq!(row(&s.visits), [0, 0, 0, 0, 0, 0, 0, 1_000]);
    assert_eq!(row(&s.page_views), [0, 0, 0, 0, 0, 0, 0, 5_000]);
    assert_eq!(row(&s.visitors), [0, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(s.online, 0);
    assert!(c
        .history(3)
        .iter()
        .all(|d| d.visits == 0 && d.page_views == 0));

    // Mon 2024-03-04 12:00: one visitor, two page views
    c.hit(VisitorId::from(1));
    clock.advance(std::time::Duration::from_secs(60));
    c.hit(VisitorId::from(1));
    let s = c.stats();
    //                                 td yd tw lw tm lm ty total
    assert_eq!(row(&s.visits), [1, 0, 1, 0, 1, 0, 1, 1_001]);
    assert_eq!(row(&s.page_views), [2, 0, 2, 0, 2, 0, 2, 5_002]);
    assert_eq!(row(&s.visitors), [1, 0, 1, 0, 1, 0, 1, 1]);

    // Thu 2025-01-02 12:00: the initial numbers stay in total, nowhere else
    clock.set(datetime!(2025-01-02 12:00 UTC));
    let s = c.stats();
    assert_eq!(row(&s.visits), [0, 0, 0, 0, 0, 0, 0, 1_001]);
    assert_eq!(row(&s.page_views), [0, 0, 0, 0, 0, 0, 0, 5_002]);
}

#[test]
fn total_counts_every_page_view_ever() {
    let clock = ManualClock::new(datetime!(2020-01-01 00:00 UTC));
    let c = counter(&clock, offset!(+05:45), Weekday::Sunday);

    // One view on the first of every month from January 2020 to December 2024
    let mut views = 0;
    for year in 2020..=2024 {
        for month in 1..=12u8 {
            let month = time::Month::try_from(month).unwrap();
            let day = time::Date::from_calendar_date(year, month, 1).unwrap();
            hit_at(
                &c,
                &clock,
                day.midnight().assume_offset(offset!(+05:45)),
                views,
            );
            views += 1;
        }
    }
    // Tue 2024-12-31 23:59:59.999999999 +05:45
    clock.set(datetime!(2024-12-31 23:59:59.999_999_999 +05:45));
    //                td yd tw lw tm lm ty total
    assert_all(&c, [0, 0, 0, 0, 1, 1, 12, 60]);
}
