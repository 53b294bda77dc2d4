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

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use time::macros::datetime;
use visitor_counter::{Counter, ManualClock, VisitorId};

/// Counts the bytes the program holds. A `realloc` counts only its net change in size (the
/// system may move the block, but a large one is remapped rather than copied).
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Ordering::Relaxed).wrapping_add(by);
    PEAK.fetch_max(now, Ordering::Relaxed);
}

fn shrank(by: usize) {
    LIVE.fetch_sub(by, Ordering::Relaxed);
}

// SAFETY: every call is forwarded unchanged to `System`; the bookkeeping only reads the layouts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which `System` shares.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` (through this allocator) with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`, and the caller upholds `realloc`'s size requirements.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                shrank(layout.size() - new_size);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Held by each test for its whole run: the allocator's counters are process-wide.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    // A test that failed while holding the lock poisons it; the counters are still fine.
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

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
