//! Helpers of the timeline tests: visitors by number, page views at a given instant, and the
//! readings of one period set as an array.
//!
//! Included with `#[path = "common/timeline.rs"] mod timeline;`; a test binary may use only
//! some of them.
#![allow(dead_code)]

use time::OffsetDateTime;
use visitor_counter::{Counter, ManualClock, Periods, VisitorId};

/// Visitor number `n`.
pub fn v(n: u64) -> VisitorId {
    VisitorId::from(n)
}

/// Sets the clock to `at` and records one page view by `visitor`.
pub fn hit_at(counter: &Counter, clock: &ManualClock, at: OffsetDateTime, visitor: u64) {
    clock.set(at);
    counter.hit(v(visitor));
}

/// `[today, yesterday, this_week, last_week, this_month, last_month, this_year, total]`
pub fn row(p: &Periods) -> [u64; 8] {
    [
        p.today,
        p.yesterday,
        p.this_week,
        p.last_week,
        p.this_month,
        p.last_month,
        p.this_year,
        p.total,
    ]
}
