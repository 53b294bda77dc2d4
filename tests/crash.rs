//! Crash safety of snapshots: a child process records page views in batches and saves after
//! each batch, acknowledging every finished save on stdout; the parent kills it with SIGKILL at
//! pseudo-random moments (while it starts, loads, records, writes or renames) and checks that
//! the snapshot left behind always loads, holds whole batches only, and holds every
//! acknowledged save. Then a new child continues from that snapshot.
//!
//! Run with `cargo test --release --all-features --test crash -- --ignored --nocapture`.
//! Set `VC_CRASH_SEED` to replay a run (the seed is printed).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use time::macros::datetime;
use time::OffsetDateTime;
use visitor_counter::{ArticleId, Counter, ManualClock, VisitorId};

/// Page views per batch; a save follows every batch.
const K: u64 = 100;
/// Kills the parent makes.
const KILLS: u32 = 400;
/// The child's environment variable: the directory of the snapshot.
const CHILD_DIR_VAR: &str = "VC_CRASH_CHILD_DIR";
/// The child test's name, for `--exact`.
const CHILD_TEST: &str = "crash_child";
const SNAPSHOT: &str = "counter.snapshot";
/// The counter's time at page view number 0; page view `n` happens `n` seconds later.
const BASE: OffsetDateTime = datetime!(2024-03-30 22:00 UTC);

fn clock_at(total: u64) -> ManualClock {
    ManualClock::new(BASE + Duration::from_secs(total))
}

fn build(dir: &Path, clock: &ManualClock) -> Counter {
    Counter::builder()
        .clock(clock.clone())
        .max_sessions(1_000)
        .snapshot_path(dir.join(SNAPSHOT))
        .build()
        .unwrap_or_else(|e| panic!("the snapshot in {} does not load: {e}", dir.display()))
}

/// The child: continues from the snapshot, then records batches of `K` page views forever,
/// saving after each and printing `acked <total page views>` once the save returned.
#[test]
#[ignore = "the child process of the crash test; does nothing on its own"]
fn crash_child() {
    let Some(dir) = std::env::var_os(CHILD_DIR_VAR) else {
        return;
    };
    let dir = PathBuf::from(dir);
    // Where the counter's time would be if it had never stopped: one second per page view.
    let loaded = {
        let probe = build(&dir, &clock_at(0));
        probe.stats().page_views.total
    };
    let clock = clock_at(loaded);
    let counter = build(&dir, &clock);
    let mut total = counter.stats().page_views.total;
    assert_eq!(total, loaded);
    let mut out = std::io::stdout().lock();
    writeln!(out, "start {total}").unwrap();
    out.flush().unwrap();
    // A safety net: never outlive a parent that forgot us by much.
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        for i in 0..K {
            let n = total + i;
            // 37 visitors, some returning within the session timeout, some not
            let visitor = VisitorId::from((n * 7) % 37 + (n / 5_000) * 37);
            if n.is_multiple_of(3) {
                counter.view_article(ArticleId::from(n % 5), visitor);
            } else {
                counter.hit(visitor);
            }
            clock.advance(Duration::from_secs(1));
        }
        counter.save().expect("save");
        total += K;
        // A write error (the parent is gone) ends the child.
        if writeln!(out, "acked {total}")
            .and_then(|()| out.flush())
            .is_err()
        {
            return;
        }
    }
}

/// A small deterministic generator (xorshift64*), seeded per run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Kills the child when dropped, so that a failing parent leaves no process behind.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A running child with threads collecting its output.
struct Running {
    child: KillOnDrop,
    lines: mpsc::Receiver<String>,
    stdout: thread::JoinHandle<Vec<String>>,
    stderr: thread::JoinHandle<String>,
}

fn spawn(dir: &Path) -> Running {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", CHILD_TEST, "--ignored", "--nocapture"])
        .env(CHILD_DIR_VAR, dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the child");
    let out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let (tx, lines) = mpsc::channel();
    let stdout = thread::spawn(move || {
        let mut all = Vec::new();
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line.clone());
            all.push(line);
        }
        all
    });
    let stderr = thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    Running {
        child: KillOnDrop(child),
        lines,
        stdout,
        stderr,
    }
}

impl Running {
    /// The next line of ours (`start ...` or `acked ...`); `None` when the child has ended.
    fn next_line(&self) -> Option<String> {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(20)) {
                Ok(l) if l.starts_with("start ") || l.starts_with("acked ") => return Some(l),
                Ok(_) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => return None,
                Err(mpsc::RecvTimeoutError::Timeout) => panic!("the child is silent for 20 s"),
            }
        }
    }

    /// Kills the child and returns everything it printed, and its stderr.
    fn kill(mut self) -> (Vec<String>, String) {
        self.child.0.kill().expect("SIGKILL the child");
        let status = self.child.0.wait().expect("wait for the child");
        let lines = self.stdout.join().unwrap();
        let err = self.stderr.join().unwrap();
        // If it ended by itself before the kill, it failed (it never stops on its own).
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(
                status.signal(),
                Some(9),
                "the child ended by itself ({status}): {err}\n{lines:?}"
            );
        }
        #[cfg(not(unix))]
        let _ = status;
        (lines, err)
    }
}

fn value(line: &str, prefix: &str) -> Option<u64> {
    line.strip_prefix(prefix).map(|v| v.parse().unwrap())
}

#[test]
#[ignore = "kills child processes hundreds of times; run with --release -- --ignored"]
fn sigkill_during_saves_never_loses_an_acknowledged_save() {
    let started = Instant::now();
    let seed = std::env::var("VC_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap();
            t.as_nanos() as u64 ^ u64::from(std::process::id())
        })
        | 1;
    println!("VC_CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let dir = std::env::temp_dir().join(format!("vc-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    // What the parent knows for sure: the snapshot's total after the last check.
    let mut verified = 0u64;
    let mut leftovers_seen = 0usize;
    let mut kills_with_unacked_save = 0u32;
    let mut kills_before_start = 0u32;
    for kill in 0..KILLS {
        let running = spawn(&dir);
        let mut start = None;
        match rng.below(3) {
            // right after starting: while the process starts up, cleans and loads
            0 => thread::sleep(Duration::from_micros(rng.below(30_000))),
            // after a random number of acknowledged saves
            1 => {
                let acks = rng.below(12);
                let mut seen = 0;
                while seen <= acks {
                    let Some(l) = running.next_line() else { break };
                    if let Some(s) = value(&l, "start ") {
                        start = Some(s);
                    }
                    seen += 1;
                }
            }
            // at a random moment 0-30 ms after it has loaded the snapshot
            _ => {
                if let Some(l) = running.next_line() {
                    start = value(&l, "start ");
                }
                thread::sleep(Duration::from_micros(rng.below(30_000)));
            }
        }
        let (lines, err) = running.kill();

        // Everything the child acknowledged, including lines printed after we decided to kill.
        let mut last_acked = None;
        for l in &lines {
            if let Some(s) = value(l, "start ") {
                assert_eq!(
                    s, verified,
                    "kill {kill}: the child started from {s}: {err}"
                );
                start = Some(s);
            }
            if let Some(a) = value(l, "acked ") {
                last_acked = Some(a);
            }
        }
        if start.is_none() {
            kills_before_start += 1;
        }
        let acked = last_acked.unwrap_or(verified);

        leftovers_seen += std::fs::read_dir(&dir)
            .unwrap()
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                name.to_str().unwrap().starts_with("counter.snapshot.tmp-")
            })
            .count();
        let counter = build(&dir, &clock_at(0));
        let total = counter.stats().page_views.total;
        drop(counter);
        assert!(
            total.is_multiple_of(K),
            "kill {kill}: the snapshot holds {total} page views, not whole batches of {K}"
        );
        assert!(
            total >= acked,
            "kill {kill}: save of {acked} page views was acknowledged, the snapshot holds {total}"
        );
        // At most one save can have finished without its acknowledgement being printed.
        assert!(
            total <= acked + K,
            "kill {kill}: the snapshot holds {total}, more than one batch beyond {acked}"
        );
        if total > acked {
            kills_with_unacked_save += 1;
        }
        verified = total;

        // build() cleaned any temporary file a killed save left behind.
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        let expected: &[&str] = if total == 0 && !dir.join(SNAPSHOT).exists() {
            &[]
        } else {
            &[SNAPSHOT]
        };
        assert_eq!(names, expected, "kill {kill}: files left in the directory");
    }
    assert!(
        verified >= u64::from(KILLS) * K / 4,
        "too little progress: {verified} page views over {KILLS} kills"
    );

    let elapsed = started.elapsed();
    println!(
        "{KILLS} kills in {elapsed:.1?}: {verified} page views survived; {kills_before_start} \
         kills before the child had loaded, {kills_with_unacked_save} right after an \
         unacknowledged save; {leftovers_seen} temporary files left by killed saves were cleaned"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
