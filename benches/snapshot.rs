//! Snapshot save and load at 1M sessions plus 10k articles, against writing and reading the
//! same bytes with `std::fs` alone; and `hit` throughput while a save loop runs.
//!
//! Also: the first page view of a restored visitor, which the load left in the snapshot's
//! sorted sessions.
//!
//! Load is measured twice. In this process, iteration after iteration, where the allocator hands
//! back the memory the previous iteration freed; and in fresh processes (this executable started
//! again for each iteration, timing itself), which is what a restart is: every page the load
//! touches is then a new one, for the plain read as for the load.
//!
//! `cargo bench --bench snapshot`

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, BatchSize, Criterion, Throughput};
use time::macros::datetime;
use visitor_counter::{ArticleId, Counter, ManualClock, VisitorId};

const SESSIONS: u64 = 1_000_000;
const ARTICLES: u64 = 10_000;

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("vc-bench-snapshot-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn build(clock: &ManualClock, path: &Path) -> Counter {
    Counter::builder()
        .clock(clock.clone())
        .max_sessions(2 * SESSIONS as usize)
        .session_timeout(Duration::from_secs(3600))
        .snapshot_path(path)
        .build()
        .unwrap()
}

/// A counter holding 1M live sessions and 10k articles with views.
fn filled(clock: &ManualClock, path: &Path) -> Counter {
    let c = build(clock, path);
    for v in 0..SESSIONS {
        if v < ARTICLES * 3 {
            c.view_article(ArticleId::from(v % ARTICLES), VisitorId::from(v));
        } else {
            c.hit(VisitorId::from(v));
        }
        if v % 1000 == 0 {
            clock.advance(Duration::from_millis(1));
        }
    }
    c
}

/// Saves a [`filled`] counter at `path` and drops it; the clock to build it again with.
fn saved_snapshot(path: &Path) -> ManualClock {
    let clock = ManualClock::new(datetime!(2026-11-27 10:00 UTC));
    filled(&clock, path).save().unwrap();
    clock
}

fn save_and_load(cr: &mut Criterion) {
    let d = dir();
    let path = d.join("counter.snapshot");
    let clock = ManualClock::new(datetime!(2026-11-27 10:00 UTC));
    let c = filled(&clock, &path);
    c.save().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    eprintln!(
        "snapshot: {} bytes for {SESSIONS} sessions and {ARTICLES} articles = {:.1} bytes per session",
        bytes.len(),
        bytes.len() as f64 / SESSIONS as f64
    );
    // Written here too, so that the read bench also runs when a filter leaves out the write.
    let plain = d.join("plain.bin");
    std::fs::write(&plain, &bytes).unwrap();

    let mut g = cr.benchmark_group("snapshot_1m_sessions_10k_articles");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("save", |b| b.iter(|| c.save().unwrap()));
    g.bench_function("std_fs_write_and_fsync_same_bytes", |b| {
        b.iter(|| {
            use std::io::Write;
            let mut f = std::fs::File::create(&plain).unwrap();
            f.write_all(&bytes).unwrap();
            f.sync_all().unwrap();
        })
    });
    // Both sides alike: each result is dropped after its iteration, untimed, before the next
    // starts (as a restart has no earlier counter alive). Batched drops (`iter_with_large_drop`)
    // kept several counters alive at once, each holding its 22 MB file, so most loads had to
    // fault in fresh memory that the plain read, dropped at once, never needed.
    g.bench_function("load (build from snapshot)", |b| {
        b.iter_batched(|| (), |()| build(&clock, &path), BatchSize::PerIteration)
    });
    g.bench_function("std_fs_read_same_bytes", |b| {
        b.iter_batched(
            || (),
            |()| std::fs::read(&plain).unwrap(),
            BatchSize::PerIteration,
        )
    });
    g.finish();
    drop(c);
    let _ = std::fs::remove_dir_all(d);
}

/// Returning visitors' hits on this thread, with and without a save loop on another.
fn hit_during_saves(cr: &mut Criterion) {
    let d = dir();
    let path = d.join("during.snapshot");
    let clock = ManualClock::new(datetime!(2026-11-27 10:00 UTC));
    let c = filled(&clock, &path);
    let mut g = cr.benchmark_group("hit_returning_1m_sessions");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(5));
    let run = |iters: u64| {
        let start = Instant::now();
        for i in 0..iters {
            c.hit(VisitorId::from(
                i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % SESSIONS,
            ));
        }
        start.elapsed()
    };
    g.bench_function("without_saves", |b| b.iter_custom(run));
    let stop = Arc::new(AtomicBool::new(false));
    let saver = {
        let (c, stop) = (c.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut saves = 0u64;
            while !stop.load(Ordering::Relaxed) {
                c.save().unwrap();
                saves += 1;
            }
            saves
        })
    };
    g.bench_function("while_a_save_loop_runs", |b| b.iter_custom(run));
    stop.store(true, Ordering::Relaxed);
    eprintln!("saves during the run: {}", saver.join().unwrap());
    g.finish();
    drop(c);
    let _ = std::fs::remove_dir_all(d);
}

/// The first page view of a visitor restored from a snapshot (a search of its shard's restored
/// sessions, which takes the visitor into the table) against a page view by a visitor the table
/// already holds, both at 1M sessions, on one thread.
fn first_view_after_restore(cr: &mut Criterion) {
    let d = dir();
    let path = d.join("restored.snapshot");
    let clock = saved_snapshot(&path);
    // Every restored visitor once, in a scattered order (7,777,777 is prime to 10^6).
    let visitor = |i: u64| VisitorId::from(i * 7_777_777 % SESSIONS);
    let mut g = cr.benchmark_group("hit_1m_sessions_after_restore");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(5));
    let mut c = build(&clock, &path);
    let mut next = 0;
    g.bench_function("restored_visitor_first_view", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                if next == SESSIONS {
                    c = build(&clock, &path);
                    next = 0;
                }
                let n = left.min(SESSIONS - next);
                let start = Instant::now();
                for i in next..next + n {
                    c.hit(visitor(i));
                }
                timed += start.elapsed();
                next += n;
                left -= n;
            }
            timed
        })
    });
    // The same visitors again: now in the table.
    let c = build(&clock, &path);
    for i in 0..SESSIONS {
        c.hit(visitor(i));
    }
    let mut i = 0;
    g.bench_function("taken_in_visitor", |b| {
        b.iter(|| {
            c.hit(visitor(i));
            i = (i + 1) % SESSIONS;
        })
    });
    g.finish();
    let _ = std::fs::remove_dir_all(d);
}

/// Load and plain read of the same snapshot, each in a fresh process.
fn load_in_fresh_processes(cr: &mut Criterion) {
    let d = dir();
    let path = d.join("fresh.snapshot");
    saved_snapshot(&path);
    let len = std::fs::metadata(&path).unwrap().len();
    let mut g = cr.benchmark_group("snapshot_1m_sessions_10k_articles_fresh_process");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Bytes(len));
    for job in ["load", "std_fs_read"] {
        g.bench_function(job, |b| {
            b.iter_custom(|iters| (0..iters).map(|_| in_child(job, &path)).sum())
        });
    }
    g.finish();
    let _ = std::fs::remove_dir_all(d);
}

const CHILD_JOB: &str = "VC_BENCH_CHILD_JOB";
const CHILD_PATH: &str = "VC_BENCH_CHILD_PATH";

/// Runs `job` on `path` in a new process of this executable; the time it measured itself.
fn in_child(job: &str, path: &Path) -> Duration {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .env(CHILD_JOB, job)
        .env(CHILD_PATH, path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let nanos: u64 = String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    Duration::from_nanos(nanos)
}

/// The child's side of [`in_child`]: one job, timed, the nanoseconds printed.
fn child(job: &str, path: &Path) {
    let clock = ManualClock::new(datetime!(2026-11-27 10:00 UTC));
    // Each side is timed up to having its result, not freeing it.
    let start = Instant::now();
    let elapsed = match job {
        "load" => {
            let c = black_box(build(&clock, path));
            let elapsed = start.elapsed();
            drop(c);
            elapsed
        }
        _ => {
            let bytes = black_box(std::fs::read(path).unwrap());
            let elapsed = start.elapsed();
            drop(bytes);
            elapsed
        }
    };
    println!("{}", elapsed.as_nanos());
}

criterion_group!(
    benches,
    save_and_load,
    load_in_fresh_processes,
    hit_during_saves,
    first_view_after_restore
);

fn main() {
    if let (Some(job), Some(path)) = (std::env::var_os(CHILD_JOB), std::env::var_os(CHILD_PATH)) {
        child(&job.to_string_lossy(), Path::new(&path));
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
