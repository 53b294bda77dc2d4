//! Stress: four threads record page views while a fifth moves the shared clock across local
//! midnight in small steps and a sixth keeps reading.
//!
//! Run with `cargo test --release --test stress -- --ignored`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;
use time::macros::{date, datetime, offset};
use visitor_counter::{Counter, ManualClock, VisitorId};

const THREADS: u64 = 4;
const PER_THREAD: u64 = 1_000_000;
const TOTAL: u64 = THREADS * PER_THREAD;
/// Returning visitors, shared by all threads.
const POOL: u64 = 5_000;
/// Every fourth page view is by a new visitor, the rest by one from the pool.
const NEW_PER_THREAD: u64 = PER_THREAD / 4;
/// How often a hitting thread reports its progress to the clock thread.
const REPORT_EVERY: u64 = 1_000;

fn visitor(thread: u64, i: u64) -> VisitorId {
    if i.is_multiple_of(4) {
        // a new visitor, never seen before or again
        VisitorId::from((1 << 40) | (thread << 32) | i)
    } else {
        // a returning visitor from the pool (7919 is coprime with 5000: every one comes back)
        VisitorId::from((i * 7_919 + thread) % POOL)
    }
}

#[test]
#[ignore = "stress test; run with --release -- --ignored"]
fn four_threads_hit_while_the_clock_crosses_local_midnight() {
    // Mon 2024-03-04 23:59:58 +05:45: two seconds to local midnight. The clock thread keeps
    // the clock at start + 1 µs per page view recorded so far, so local midnight falls
    // halfway through the run and the last page view lands at about Tue 00:00:02.
    let start = datetime!(2024-03-04 23:59:58 +05:45);
    let clock = ManualClock::new(start);
    let counter = Counter::builder()
        .clock(clock.clone())
        .utc_offset(offset!(+05:45))
        // room for every visitor, so that no session is forgotten and visits are exact
        .max_sessions(2_000_000)
        .build()
        .expect("valid configuration");

    let progress = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let barrier = Arc::new(Barrier::new(THREADS as usize + 2));

    // The clock: small forward steps that follow the hitting threads' progress
    let clock_thread = {
        let (clock, progress, done, barrier) = (
            clock.clone(),
            progress.clone(),
            done.clone(),
            barrier.clone(),
        );
        thread::spawn(move || {
            barrier.wait();
            let mut moved = 0u64; // µs moved so far
            let mut steps = 0u64;
            loop {
                let finished = done.load(Ordering::Acquire);
                let target = progress.load(Ordering::Acquire);
                if target > moved {
                    clock.advance(Duration::from_micros(target - moved));
                    moved = target;
                    steps += 1;
                }
                if finished {
                    return (moved, steps);
                }
                thread::yield_now();
            }
        })
    };

    // A reader: totals never go backwards while the writers run
    let reader_thread = {
        let (counter, done, barrier) = (counter.clone(), done.clone(), barrier.clone());
        thread::spawn(move || {
            barrier.wait();
            let mut last = 0u64;
            let mut reads = 0u64;
            while !done.load(Ordering::Acquire) {
                let s = counter.stats();
                assert!(
                    s.page_views.total >= last,
                    "total page views went back from {last} to {}",
                    s.page_views.total
                );
                assert!(s.page_views.total <= TOTAL);
                last = s.page_views.total;
                if reads.is_multiple_of(16) {
                    assert!(counter.history(3).len() == 3);
                }
                reads += 1;
                thread::yield_now();
            }
            reads
        })
    };

    // The writers
    let writers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (counter, progress, barrier) = (counter.clone(), progress.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                for i in 0..PER_THREAD {
                    counter.hit(visitor(t, i));
                    if (i + 1).is_multiple_of(REPORT_EVERY) {
                        progress.fetch_add(REPORT_EVERY, Ordering::AcqRel);
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer panicked");
    }
    done.store(true, Ordering::Release);
    let (moved, steps) = clock_thread.join().expect("clock thread panicked");
    let reads = reader_thread.join().expect("reader panicked");
    assert_eq!(moved, TOTAL, "the clock followed every reported page view");
    assert!(steps > 10, "the clock moved in small steps ({steps})");
    assert!(reads > 0);

    // Tue 2024-03-05 00:00:02 +05:45: everything is recorded
    assert_eq!(
        clock_now(&clock),
        datetime!(2024-03-05 00:00:02 +05:45),
        "start + 4 s"
    );
    let s = counter.stats();
    let h = counter.history(2);
    assert_eq!(h[0].date, date!(2024 - 03 - 04));
    assert_eq!(h[1].date, date!(2024 - 03 - 05));

    // Page views are exact and split by local midnight, with some on each side
    assert_eq!(s.page_views.today + s.page_views.yesterday, TOTAL);
    assert_eq!(s.page_views.total, TOTAL);
    assert_eq!(s.page_views.this_week, TOTAL);
    assert!(s.page_views.today > 0, "no page view after midnight: {s:?}");
    assert!(
        s.page_views.yesterday > 0,
        "no page view before midnight: {s:?}"
    );

    // History sums to the totals
    assert_eq!(h.iter().map(|d| d.page_views).sum::<u64>(), TOTAL);
    assert_eq!(h[0].page_views, s.page_views.yesterday);
    assert_eq!(h[1].page_views, s.page_views.today);
    assert_eq!(h.iter().map(|d| d.visits).sum::<u64>(), s.visits.total);
    assert_eq!(s.visits.today + s.visits.yesterday, s.visits.total);

    // Each new visitor starts exactly one visit, and each pool visitor exactly one: the run
    // lasts 4 s of clock time, far less than the 30 min session timeout, and nobody is forgotten
    assert!(s.visits.total <= s.page_views.total);
    assert_eq!(s.visits.total, THREADS * NEW_PER_THREAD + POOL);

    // Distinct visitors, estimated within 2%
    let distinct = THREADS * NEW_PER_THREAD + POOL;
    let error = (s.visitors.total as f64 - distinct as f64).abs() / distinct as f64;
    assert!(
        error <= 0.02,
        "visitors.total {} vs {distinct}",
        s.visitors.total
    );
}

fn clock_now(clock: &ManualClock) -> time::OffsetDateTime {
    use visitor_counter::Clock;
    clock.now()
}
