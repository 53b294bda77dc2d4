//! Snapshot save and load at 1M sessions plus 10k articles, against writing and reading the
//! same bytes with `std::fs` alone; and `hit` throughput while a save loop runs.
//!
//! Load is measured twice. In this process, iteration after iteration, where the allocator hands
//! back the memory the previous iteration freed; and in fresh processes (this executable started
//! again for each iteration, timing itself), which is what a restart is: every page the load
//! touches is then a new one, for the plain read as for the load.
//!
//! The budgets of issue 23 are in CPU time (`CLOCK_PROCESS_CPUTIME_ID`, every thread of the
//! process): before the criterion groups, [`cpu_budgets`] prints the CPU time of 10 saves and of
//! 10 loads in fresh processes, each on its own.
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

/// CPU time of this process so far (all its threads).
fn cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the call to write.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Prints the CPU time of a save (in this process) and of a load in a fresh process (the
/// child's own CPU time up to having its counter), 10 of each, against the budgets:
/// save within 100 ms, load within 150 ms.
fn cpu_budgets() {
    let d = dir();
    let path = d.join("budget.snapshot");
    let clock = ManualClock::new(datetime!(2026-11-27 10:00 UTC));
    let c = filled(&clock, &path);
    let mut saves = Vec::new();
    for _ in 0..10 {
        let (cpu, wall) = (cpu_time(), Instant::now());
        c.save().unwrap();
        saves.push((cpu_time() - cpu, wall.elapsed()));
    }
    drop(c);
    let loads: Vec<(Duration, Duration)> = (0..10).map(|_| in_child("load", &path)).collect();
    for (name, runs, budget) in [("save", saves, 100), ("load (fresh process)", loads, 150)] {
        let mut cpu: Vec<f64> = runs.iter().map(|r| r.0.as_secs_f64() * 1e3).collect();
        let mut wall: Vec<f64> = runs.iter().map(|r| r.1.as_secs_f64() * 1e3).collect();
        cpu.sort_by(f64::total_cmp);
        wall.sort_by(f64::total_cmp);
        eprintln!(
            "{name} of 1M sessions: CPU median {:.1} ms (min {:.1}, max {:.1}; budget {budget} ms), wall median {:.1} ms",
            cpu[5], cpu[0], cpu[9], wall[5]
        );
    }
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
            b.iter_custom(|iters| (0..iters).map(|_| in_child(job, &path).1).sum())
        });
    }
    g.finish();
    let _ = std::fs::remove_dir_all(d);
}

const CHILD_JOB: &str = "VC_BENCH_CHILD_JOB";
const CHILD_PATH: &str = "VC_BENCH_CHILD_PATH";

/// Runs `job` on `path` in a new process of this executable; the CPU and wall time it
/// measured itself.
fn in_child(job: &str, path: &Path) -> (Duration, Duration) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .env(CHILD_JOB, job)
        .env(CHILD_PATH, path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let nanos: Vec<u64> = text
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    (
        Duration::from_nanos(nanos[0]),
        Duration::from_nanos(nanos[1]),
    )
}

/// The child's side of [`in_child`]: one job, timed, the CPU and wall nanoseconds printed.
fn child(job: &str, path: &Path) {
    let clock = ManualClock::new(datetime!(2026-11-27 10:00 UTC));
    // Each side is timed up to having its result, not freeing it.
    let (cpu, start) = (cpu_time(), Instant::now());
    let elapsed = match job {
        "load" => {
            let c = black_box(build(&clock, path));
            let elapsed = (cpu_time() - cpu, start.elapsed());
            drop(c);
            elapsed
        }
        _ => {
            let bytes = black_box(std::fs::read(path).unwrap());
            let elapsed = (cpu_time() - cpu, start.elapsed());
            drop(bytes);
            elapsed
        }
    };
    println!("{} {}", elapsed.0.as_nanos(), elapsed.1.as_nanos());
}

criterion_group!(
    benches,
    save_and_load,
    load_in_fresh_processes,
    hit_during_saves
);

fn main() {
    if let (Some(job), Some(path)) = (std::env::var_os(CHILD_JOB), std::env::var_os(CHILD_PATH)) {
        child(&job.to_string_lossy(), Path::new(&path));
        return;
    }
    if std::env::args().any(|a| a == "--bench") {
        cpu_budgets();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
