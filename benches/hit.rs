//! Benches of the hot path (`Counter::hit`) and of `Counter::stats`, with the references a
//! `hit` should be judged against: a bare `DashMap::insert` of the same keys (the floor) and the
//! `Mutex<HashMap>` counter users write by hand. Also a returning visitor's page view through
//! `web::Rules` with the pace limit on and off (issue 21; the tower layer's page view and
//! beacon are in `benches/web.rs`).
//!
//! Run with `cargo bench --bench hit`; results and targets are in `BENCHMARKS.md`. With
//! `VC_BENCH_OPS=<case>` (and `VC_BENCH_N`, default 100,000) the executable runs that many
//! operations of one case instead, for `valgrind --tool=callgrind` (see [`count_ops`]); with
//! `VC_BENCH_ALTERNATE=1` it compares pace limit on and off in alternated blocks (see
//! [`alternated`]).
//!
//! Every counter but those of `rules/new_minute` (a manual clock, stepped) uses the default
//! `SystemClock` (the clock read is part of each `hit`), and an online window and session
//! timeout long enough (30 and 60 minutes) that prefilled sessions stay live and online for the
//! whole run, so a returning visitor's `hit` is the steady-state path: no new visit, no
//! unique-visitor insert, no online-queue push. Each bench prefills its counter once, before
//! measuring.

use std::collections::HashMap;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, BenchmarkGroup, Criterion, Throughput};
use dashmap::DashMap;
use time::macros::datetime;
use visitor_counter::web::{Outcome, Rules};
use visitor_counter::{Counter, Exclusions, ManualClock, VisitorId};

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

/// Two threads, new visitors (ids never seen, from one shared sequence) against 1M prefilled
/// sessions: below the cap (`max_sessions` far above what the run reaches, so the table only
/// grows) and at it (`max_sessions` = 1M: each new visitor makes the table forget the least
/// recently seen, all of them online, as in a flood of new ids). Issue 23's target: at the cap
/// at most 1.5x below it.
fn hit_new_two_threads(c: &mut Criterion) {
    let mut g = c.benchmark_group("hit_2_threads/new_visitor");
    configure(&mut g);
    let n = 1_000_000;
    let keys = pool(n);
    for (name, max) in [("below_cap", 1 << 40), ("at_cap", n)] {
        let counter = prefilled(&keys, max);
        let next = std::sync::atomic::AtomicU64::new(FRESH_BASE);
        let op = |_: u64| {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            counter.hit(VisitorId::from(id(i)));
        };
        g.bench_function(format!("{name}/{}", label(n)), |b| {
            b.iter_custom(|iters| contended(iters, &keys, &op))
        });
        if max == n {
            assert!(counter.tracked_sessions() <= n + THREADS);
        }
        drop(counter);
    }
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

/// A desktop browser's User-Agent: not a bot (the verdict is cached after the first request).
const BROWSER: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                       (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7));

/// A request's headers as `Rules` reads them from any framework.
type Request = [(&'static str, String); 2];

/// Each of `keys`' requests: the browser's User-Agent and a plain `vc_id` cookie (32 hex
/// digits: a returning visitor's own id).
fn requests(keys: &[u64]) -> Vec<Request> {
    keys.iter()
        .map(|&k| {
            [
                ("user-agent", BROWSER.to_owned()),
                ("cookie", format!("vc_id={k:016x}{:016x}", id(k))),
            ]
        })
        .collect()
}

/// A GET answered 200 with a page, through the rules as an adapter calls them.
#[inline]
fn page_view(rules: &Rules, req: &Request) -> Outcome {
    let verdict = rules.before("GET", &req[..], Some(PEER));
    rules.after(verdict, 200, || true, None).outcome
}

/// Rules with the pace limit on and off. On: `u32::MAX`, not the default 60, because these
/// benches view each of 100k visitors dozens of times a second, so at 60 nearly every view
/// would be the excluded one; a view under any limit runs the same code (one compare and
/// one add in the visitor's entry). The `new_minute` benches keep the default 60.
const PACE: [(&str, u32); 2] = [("pace_off", 0), ("pace_on", u32::MAX)];

/// Rules on `counter` with `pace` (`None`: the default limit) whose counter has seen one page
/// view of each of `reqs`, through them; `step` is run after each.
fn prefilled_rules(
    counter: Counter,
    pace: Option<u32>,
    reqs: &[Request],
    step: impl Fn(),
) -> Rules {
    let rules = Rules::new(counter);
    let rules = match pace {
        Some(limit) => rules.pace_limit(limit),
        None => rules,
    };
    for req in reqs {
        assert_eq!(page_view(&rules, req), Outcome::PageView);
        step();
    }
    black_box(rules.counter().stats());
    assert_eq!(rules.counter().tracked_sessions(), reqs.len());
    rules
}

/// Nothing was excluded (the pace limit included): every view measured was a counted one.
fn assert_all_counted(rules: &Rules) {
    assert_eq!(rules.counter().exclusions(), Exclusions::default());
}

/// Single thread, returning visitors, at 100k live sessions: a page view through `web::Rules`
/// (cookie parsed, bot verdict cached, `Counter::hit`), with the pace limit off and on. Each
/// visitor is viewed many times a minute: the pace check finds its entry in the current minute.
fn rules_returning(c: &mut Criterion) {
    let mut g = c.benchmark_group("rules/returning");
    configure(&mut g);
    let n = 100_000;
    let reqs = requests(&pool(n));
    for (name, limit) in PACE {
        let rules = prefilled_rules(counter(NO_EVICTION), Some(limit), &reqs, || ());
        let mut i = 0;
        g.bench_function(format!("{name}/{}", label(n)), |b| {
            b.iter(|| {
                let outcome = page_view(&rules, black_box(&reqs[i]));
                i += 1;
                if i == reqs.len() {
                    i = 0;
                }
                outcome
            })
        });
        assert_all_counted(&rules);
    }
    g.finish();
}

/// The time between two views of one visitor in the `new_minute` benches: just over the pace
/// window, so every view starts the visitor's minute afresh.
const REVISIT: Duration = Duration::from_secs(61);

/// A counter on a manual clock at 00:05 (the benches advance it by at most a few hours).
fn counter_on(clock: &ManualClock) -> Counter {
    Counter::builder()
        .online_window(30 * MINUTE)
        .session_timeout(60 * MINUTE)
        .max_sessions(NO_EVICTION)
        .clock(clock.clone())
        .build()
        .expect("valid bench configuration")
}

fn manual_clock() -> ManualClock {
    ManualClock::new(datetime!(2026-12-07 00:05 UTC))
}

/// Single thread, returning visitors, each viewed once a minute as a reader would be: the clock
/// advances [`REVISIT`] / 100k at each view, so each pace check starts a new minute (a fresh
/// entry, queued for upkeep, which drops it once the minute is over). Pace limit off and at its
/// default, 60 (which nobody reaches here).
fn rules_new_minute(c: &mut Criterion) {
    let mut g = c.benchmark_group("rules/new_minute");
    configure(&mut g);
    let n = 100_000;
    let reqs = requests(&pool(n));
    let step = REVISIT / n as u32;
    for (name, limit) in [("pace_off", Some(0)), ("pace_default", None)] {
        let clock = manual_clock();
        let rules = prefilled_rules(counter_on(&clock), limit, &reqs, || clock.advance(step));
        let mut i = 0;
        g.bench_function(format!("{name}/{}", label(n)), |b| {
            b.iter(|| {
                clock.advance(step);
                let outcome = page_view(&rules, black_box(&reqs[i]));
                i += 1;
                if i == reqs.len() {
                    i = 0;
                }
                outcome
            })
        });
        assert_all_counted(&rules);
    }
    g.finish();
}

/// Two threads, returning visitors at 100k live sessions, through `web::Rules`, pace limit off
/// and on (as in [`rules_returning`]).
fn rules_two_threads(c: &mut Criterion) {
    let mut g = c.benchmark_group("rules_2_threads/returning");
    configure(&mut g);
    let n = 100_000;
    let reqs = requests(&pool(n));
    // `contended` hands out keys: here, indexes into `reqs`.
    let indexes: Vec<u64> = (0..n as u64).collect();
    for (name, limit) in PACE {
        let rules = prefilled_rules(counter(NO_EVICTION), Some(limit), &reqs, || ());
        g.bench_function(format!("{name}/{}", label(n)), |b| {
            b.iter_custom(|iters| {
                contended(iters, &indexes, &|i| {
                    black_box(page_view(&rules, &reqs[i as usize]));
                })
            })
        });
        assert_all_counted(&rules);
    }
    g.finish();
}

/// Pace limit on against off, as in `rules/returning` and `rules/new_minute`, in alternated
/// blocks of 200,000 page views (40 rounds, the order reversed every other round): prints
/// each variant's median time per view and the median over rounds of its difference from
/// pace off. On a machine that other work keeps busy, criterion's figures, measured one
/// after the other, move by tens of percent between runs; these pairs move far less.
fn alternated() {
    let n = 100_000;
    let reqs = requests(&pool(n));
    let within: Vec<_> = PACE
        .into_iter()
        .map(|(name, limit)| {
            let rules = prefilled_rules(counter(NO_EVICTION), Some(limit), &reqs, || ());
            (name, rules, None)
        })
        .collect();
    alternate("rules/returning", &reqs, &within);
    drop(within);
    let step = REVISIT / n as u32;
    let new_minute: Vec<_> = [("pace_off", Some(0)), ("pace_default", None)]
        .into_iter()
        .map(|(name, limit)| {
            let clock = manual_clock();
            let rules = prefilled_rules(counter_on(&clock), limit, &reqs, || clock.advance(step));
            (name, rules, Some(clock))
        })
        .collect();
    alternate("rules/new_minute", &reqs, &new_minute);
}

/// The rounds of [`alternated`] for one group of variants; each variant goes on through
/// `reqs` from where its last block stopped (advancing its clock, if it has one, by
/// [`REVISIT`] over the whole of `reqs`).
fn alternate(group: &str, reqs: &[Request], variants: &[(&str, Rules, Option<ManualClock>)]) {
    const ROUNDS: usize = 40;
    const BLOCK: u32 = 200_000;
    let step = REVISIT / reqs.len() as u32;
    let mut ns = vec![Vec::with_capacity(ROUNDS); variants.len()];
    let mut next = vec![0; variants.len()];
    for round in 0..ROUNDS {
        for k in 0..variants.len() {
            let k = if round % 2 == 0 {
                k
            } else {
                variants.len() - 1 - k
            };
            let (_, rules, clock) = &variants[k];
            let i = &mut next[k];
            let start = Instant::now();
            for _ in 0..BLOCK {
                if let Some(clock) = clock {
                    clock.advance(step);
                }
                black_box(page_view(rules, &reqs[*i]));
                *i += 1;
                if *i == reqs.len() {
                    *i = 0;
                }
            }
            ns[k].push(start.elapsed().as_nanos() as f64 / f64::from(BLOCK));
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let base = variants[0].0;
    for (k, (name, rules, _)) in variants.iter().enumerate() {
        assert_all_counted(rules);
        let diff: Vec<f64> = ns[k].iter().zip(&ns[0]).map(|(a, b)| a - b).collect();
        eprintln!(
            "{group}/{name}: median {:.1} ns a view; minus {base}, median of {ROUNDS} round \
             pairs: {:+.1} ns",
            median(ns[k].clone()),
            median(diff),
        );
    }
}

/// Runs `n` operations of a case, to count their instructions with callgrind:
///
/// ```sh
/// VC_BENCH_OPS=rules_pace_on valgrind --tool=callgrind --callgrind-out-file=/dev/null \
///     --collect-atstart=no --toggle-collect='*measured_ops*' target/release/deps/hit-<hash>
/// ```
///
/// Only [`measured_ops`] is counted (not the prefill); divide the "Collected" total by `n`.
/// Cases: `hit` (`Counter::hit`, returning, 100k), `rules_pace_off` and `rules_pace_on` (as
/// `rules/returning`), `new_minute_pace_off` and `new_minute_pace_default` (as
/// `rules/new_minute`), `new_below_cap` and `new_at_cap` (new visitors against the 100,000
/// prefilled, with no cap or a cap of 100,000).
fn count_ops(case: &str, n: u64) {
    let visitors = 100_000;
    let keys = pool(visitors);
    let reqs = requests(&keys);
    let mut i = 0;
    let mut next = || {
        let j = i;
        i = (i + 1) % visitors;
        j
    };
    let (rules, clock) = match case {
        "hit" => {
            let counter = prefilled(&keys, NO_EVICTION);
            measured_ops(n, &mut || {
                counter.hit(black_box(VisitorId::from(keys[next()])))
            });
            return;
        }
        "new_below_cap" | "new_at_cap" => {
            let max = if case == "new_at_cap" {
                visitors
            } else {
                1 << 40
            };
            let counter = prefilled(&keys, max);
            let mut fresh = FRESH_BASE;
            measured_ops(n, &mut || {
                fresh += 1;
                counter.hit(black_box(VisitorId::from(id(fresh))))
            });
            return;
        }
        "rules_pace_off" | "rules_pace_on" => {
            let limit = if case == "rules_pace_on" { u32::MAX } else { 0 };
            let rules = prefilled_rules(counter(NO_EVICTION), Some(limit), &reqs, || ());
            (rules, None)
        }
        "new_minute_pace_off" | "new_minute_pace_default" => {
            let limit = (case == "new_minute_pace_off").then_some(0);
            let clock = manual_clock();
            let step = || clock.advance(REVISIT / visitors as u32);
            let rules = prefilled_rules(counter_on(&clock), limit, &reqs, step);
            (rules, Some(clock))
        }
        _ => panic!("VC_BENCH_OPS: unknown case {case}"),
    };
    let step = REVISIT / visitors as u32;
    measured_ops(n, &mut || {
        if let Some(clock) = &clock {
            clock.advance(step);
        }
        black_box(page_view(&rules, &reqs[next()]));
    });
    assert_all_counted(&rules);
}

/// The operations callgrind counts (`--toggle-collect='*measured_ops*'`).
#[inline(never)]
fn measured_ops(n: u64, op: &mut dyn FnMut()) {
    for _ in 0..n {
        op();
    }
}

criterion_group!(
    benches,
    hit_returning,
    hit_new,
    hit_two_threads,
    hit_new_two_threads,
    rules_returning,
    rules_new_minute,
    rules_two_threads,
    stats,
    clock
);

fn main() {
    if std::env::var_os("VC_BENCH_ALTERNATE").is_some() {
        alternated();
        return;
    }
    if let Ok(case) = std::env::var("VC_BENCH_OPS") {
        let n = std::env::var("VC_BENCH_N").map_or(100_000, |n| n.parse().expect("VC_BENCH_N"));
        count_ops(&case, n);
        eprintln!("{case}: {n} operations");
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
