//! Memory bounds, measured with a counting global allocator.
//!
//! - A flood of distinct visitors against a small `max_sessions` keeps the heap bounded while
//!   page views stay exact.
//! - A million live sessions cost at most 64 bytes each.
//!
//! The allocator wraps [`System`] and keeps the live heap bytes and their high-water mark in
//! atomics. Every test in this binary shares those counters, so each test holds [`SERIAL`] for
//! its whole run and measurements never mix. Everything goes through the public API with a
//! `ManualClock`; nothing sleeps.
//!
//! Both tests are slow in debug builds, so they are ignored by default; run them with
//! `cargo test --release --test memory -- --ignored --nocapture`.

use std::sync::atomic::Ordering;
use std::time::Duration;

use time::macros::datetime;
use visitor_counter::{Counter, ManualClock, VisitorId};

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::{serial, LIVE, PEAK};

/// Live heap bytes now.
fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Restarts the high-water mark at the current live bytes and returns them.
fn reset_peak() -> usize {
    let now = live();
    PEAK.store(now, Ordering::Relaxed);
    now
}

/// The high-water mark of live bytes since the last [`reset_peak`].
fn peak() -> usize {
    PEAK.load(Ordering::Relaxed)
}

const MIB: usize = 1 << 20;

fn mib(bytes: usize) -> f64 {
    bytes as f64 / MIB as f64
}

/// A counter on a manual clock standing mid-morning, far from any day, week or month boundary
/// for the few minutes the tests cover.
fn counter(max_sessions: usize) -> (Counter, ManualClock) {
    let clock = ManualClock::new(datetime!(2024-06-12 10:00:00 UTC));
    let counter = Counter::builder()
        .max_sessions(max_sessions)
        .clock(clock.clone())
        .build()
        .expect("valid configuration");
    (counter, clock)
}

#[test]
#[ignore = "slow in debug builds; run with `cargo test --release --test memory -- --ignored`"]
fn flood_of_distinct_visitors_stays_bounded() {
    const VISITORS: u64 = 3_000_000;
    const MAX_SESSIONS: usize = 20_000;
    const BOUND: usize = 16 * MIB;
    // 3M page views 100 µs apart span 5 minutes: every visitor is still online and in a live
    // session when the flood ends, so only the `max_sessions` bound can forget them.
    const STEP: Duration = Duration::from_micros(100);
    const SAMPLE_EVERY: u64 = 100_000;

    let _serial = serial();
    let (counter, clock) = counter(MAX_SESSIONS);
    let before = reset_peak();
    let mut sampled_peak = before;

    for i in 0..VISITORS {
        counter.hit(VisitorId::from(i));
        clock.advance(STEP);
        if (i + 1).is_multiple_of(SAMPLE_EVERY) {
            let now = live();
            sampled_peak = sampled_peak.max(now);
            assert!(
                now.saturating_sub(before) < BOUND,
                "after {} visitors the heap grew by {:.2} MiB",
                i + 1,
                mib(now.saturating_sub(before))
            );
        }
    }

    let stats = counter.stats();
    let after = live();
    let growth = after.saturating_sub(before);
    let peak_growth = peak() - before;
    let sampled_growth = sampled_peak - before;
    println!(
        "flood of {VISITORS} distinct visitors, max_sessions {MAX_SESSIONS}: \
         growth {:.3} MiB, peak {:.3} MiB (sampled every {SAMPLE_EVERY} hits: {:.3} MiB), \
         {} sessions tracked",
        mib(growth),
        mib(peak_growth),
        mib(sampled_growth),
        counter.tracked_sessions()
    );

    assert_eq!(stats.page_views.today, VISITORS);
    assert_eq!(stats.page_views.total, VISITORS);
    assert_eq!(stats.visits.today, VISITORS);
    assert!(
        counter.tracked_sessions() <= MAX_SESSIONS,
        "{} sessions tracked, bound {MAX_SESSIONS}",
        counter.tracked_sessions()
    );
    assert!(growth < BOUND, "the heap grew by {:.2} MiB", mib(growth));
    assert!(
        sampled_growth < BOUND,
        "sampled peak growth {:.2} MiB",
        mib(sampled_growth)
    );
    assert!(
        peak_growth < BOUND,
        "peak growth {:.2} MiB",
        mib(peak_growth)
    );
}

#[test]
#[ignore = "slow in debug builds; run with `cargo test --release --test memory -- --ignored`"]
fn bytes_per_session_at_one_million() {
    const VISITORS: u64 = 1_000_000;
    const BOUND_PER_SESSION: f64 = 64.0;
    // 1M page views 100 µs apart span 100 s: every session is live (and online) at the end.
    const STEP: Duration = Duration::from_micros(100);

    let _serial = serial();
    let (counter, clock) = counter(2_000_000);
    let before = reset_peak();

    for i in 0..VISITORS {
        counter.hit(VisitorId::from(i));
        clock.advance(STEP);
    }

    let stats = counter.stats();
    let after = live();
    let growth = after.saturating_sub(before);
    let per_session = growth as f64 / VISITORS as f64;
    let peak_per_session = (peak() - before) as f64 / VISITORS as f64;
    println!(
        "{VISITORS} live sessions: {per_session:.1} bytes each ({:.2} MiB in all), \
         peak {peak_per_session:.1} bytes each",
        mib(growth)
    );

    assert_eq!(stats.page_views.total, VISITORS);
    assert_eq!(counter.tracked_sessions(), VISITORS as usize);
    assert!(
        per_session <= BOUND_PER_SESSION,
        "{per_session:.1} bytes per session, bound {BOUND_PER_SESSION}"
    );
}
