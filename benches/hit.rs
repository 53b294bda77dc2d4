//! Benches of the hot path (`Counter::hit`) and of `Counter::stats`, with the references a
//! `hit` should be judged against: a bare `DashMap::insert` of the same keys (the floor) and the
//! `Mutex<HashMap>` counter users write by hand.
//!
//! Run with `cargo bench --bench hit`; results and targets are in `BENCHMARKS.md`.
//!
//! Every counter uses the default `SystemClock` (the clock read is part of each `hit`) and an
//! online window and session timeout long enough (30 and 60 minutes) that prefilled sessions stay
//! live and online for the whole run, so a returning visitor's `hit` is the steady-state path:
//! no new visit, no unique-visitor insert, no online-queue push. Each bench prefills its counter
//! once, before measuring.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use dashmap::DashMap;
use visitor_counter::{Counter, VisitorId};

const MINUTE: Duration = Duration::from_secs(60);
/// Comfortably above every table size used here, so returning-visitor benches never evict.
const NO_EVICTION: usize = 4_000_000;
/// Threads of the contended benches (the machine has 2 cores).
const THREADS: usize = 2;

/// A bijective 64-bit mixer (the SplitMix64 finaliser over `i * gamma`): distinct indexes give
/// distinct, random-looking ids, like `VisitorId::from_key` of cookie values.
fn id(i: u64) -> u64 {
    let mut z = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `n` visitor ids in a shuffled order (a fixed Fisher-Yates shuffle), so consecutive hits land
/// on unrelated parts of the table as real traffic does.
fn pool(n: usize) -> Vec<u64> {
    let mut keys: Vec<u64> = (0..n as u64).map(id).collect();
    let mut state = 0x5eed_u64;
    for i in (1..keys.len()).rev() {
        state = id(state.wrapping_add(1));
        keys.swap(i, (state % (i as u64 + 1)) as usize);
    }
    keys
}

/// Index of the first id that `new_visitor` benches use: no pool ever reaches it.
const FRESH_BASE: u64 = 1 << 40;

fn counter(max_sessions: usize) -> Counter {
    Counter::builder()
        .online_window(30 * MINUTE)
        .session_timeout(60 * MINUTE)
        .max_sessions(max_sessions)
        .build()
        .expect("valid bench configuration")
}

/// A counter holding one live, online session for each of `keys`.
fn prefilled(keys: &[u64], max_sessions: usize) -> Counter {
    let c = counter(max_sessions);
    for &k in keys {
        c.hit(VisitorId::from(k));
    }
    // Drain the online queues once, outside any measurement.
    black_box(c.stats());
    assert_eq!(c.tracked_sessions(), keys.len());
    c
}

fn label(n: usize) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

fn configure<M: criterion::measurement::Measurement>(g: &mut BenchmarkGroup<'_, M>) {
    g.sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(1));
}

/// Single thread, returning visitors: every key is already a live session.
fn hit_returning(c: &mut Criterion) {
    let mut g = c.benchmark_group("hit/returning");
    configure(&mut g);
    for n in [100_000, 1_000_000] {
        let keys = pool(n);
        let counter = prefilled(&keys, NO_EVICTION);
        let mut i = 0;
        g.bench_function(label(n), |b| {
            b.iter(|| {
                let k = keys[i];
                i += 1;
                if i == keys.len() {
                    i = 0;
                }
                counter.hit(black_box(VisitorId::from(k)));
            })
        });
        drop(counter);
    }
    g.finish();
}

/// Single thread, new visitors (ids never seen) against a table full at `max_sessions` = 1M: every
/// hit inserts a session, starts a visit, adds the visitor to the distinct-visitor sketches, and
/// pushes the table over its bound, so upkeep evicts the least recently seen session on every hit.
fn hit_new(c: &mut Criterion) {
    let mut g = c.benchmark_group("hit/new_visitor");
    configure(&mut g);
    let n = 1_000_000;
    let counter = prefilled(&pool(n), n);
    let mut next = FRESH_BASE;
    g.bench_function(format!("evicting_at_{}", label(n)), |b| {
        b.iter(|| {
            let k = id(next);
            next += 1;
            counter.hit(black_box(VisitorId::from(k)));
        })
    });
    assert!(counter.tracked_sessions() <= n);
    drop(counter);
    g.finish();
}

/// Runs `op` over `keys` from [`THREADS`] threads, `iters` calls in all; each thread cycles over
/// its own contiguous slice of `keys`. Returns the wall time from the common start (a barrier) to
/// the last thread's end.
fn contended<F>(iters: u64, keys: &[u64], op: &F) -> Duration
where
    F: Fn(u64) + Sync,
{
    let barrier = Barrier::new(THREADS);
    let per_slice = keys.len() / THREADS;
    thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let barrier = &barrier;
                let slice = &keys[t * per_slice..(t + 1) * per_slice];
                // Split `iters` exactly: the first threads take the remainder.
                let mine = iters / THREADS as u64 + u64::from((t as u64) < iters % THREADS as u64);
                s.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    let mut i = 0;
                    for _ in 0..mine {
                        op(black_box(slice[i]));
                        i += 1;
                        if i == slice.len() {
                            i = 0;
                        }
                    }
                    start.elapsed()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("bench worker panicked"))
            .max()
            .unwrap_or_default()
    })
}

/// Two threads, returning visitors at 100k live sessions, with the two references over the same
/// keys in the same shape.
fn hit_two_threads(c: &mut Criterion) {
    let mut g = c.benchmark_group("hit_2_threads/returning");
    configure(&mut g);
    let n = 100_000;
    let keys = pool(n);

    let counter = prefilled(&keys, NO_EVICTION);
    g.bench_function(format!("counter_hit/{}", label(n)), |b| {
        b.iter_custom(|iters| contended(iters, &keys, &|k| counter.hit(VisitorId::from(k))))
    });
    drop(counter);

    // The floor: one sharded-map write per hit (default hasher, as users would write it).
    let map: DashMap<u64, u64> = DashMap::new();
    for &k in &keys {
        map.insert(k, 0);
    }
    g.bench_function(format!("dashmap_insert/{}", label(n)), |b| {
        b.iter_custom(|iters| {
            contended(iters, &keys, &|k| {
                black_box(map.insert(k, k));
            })
        })
    });
    drop(map);

    // The hand-written counter: one global lock.
    let map: Mutex<HashMap<u64, u64>> = Mutex::new(keys.iter().map(|&k| (k, 0)).collect());
    g.bench_function(format!("mutex_hashmap/{}", label(n)), |b| {
        b.iter_custom(|iters| {
            contended(iters, &keys, &|k| {
                let mut m = map.lock().expect("not poisoned");
                *m.entry(k).or_insert(0) += 1;
            })
        })
    });
    drop(map);
    g.finish();
}

/// What the default clock costs on its own: every `hit` reads `unix_nanos` once (`now`, which
/// builds a calendar date, is what a custom clock without `unix_nanos` would cost).
fn clock(c: &mut Criterion) {
    use visitor_counter::{Clock, SystemClock};
    let mut g = c.benchmark_group("reference");
    configure(&mut g);
    g.bench_function("system_clock_unix_nanos", |b| {
        b.iter(|| black_box(SystemClock.unix_nanos()))
    });
    g.bench_function("system_clock_now", |b| {
        b.iter(|| black_box(SystemClock.now()))
    });
    g.finish();
}

/// `stats()` with 1k, 100k and 1M live sessions.
fn stats(c: &mut Criterion) {
    let mut g = c.benchmark_group("stats");
    configure(&mut g);
    for n in [1_000, 100_000, 1_000_000] {
        let counter = prefilled(&pool(n), NO_EVICTION);
        g.bench_function(label(n), |b| b.iter(|| black_box(counter.stats())));
        drop(counter);
    }
    g.finish();
}

criterion_group!(
    benches,
    hit_returning,
    hit_new,
    hit_two_threads,
    stats,
    clock
);
criterion_main!(benches);
