//! Save, drop, rebuild: every reading is the same as the uninterrupted counter's, before and
//! after further page views, however much time passed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use time::macros::{datetime, offset};
use time::Weekday;
use visitor_counter::{
    ArticleId, BuildError, Counter, ManualClock, Period, SnapshotError, VisitorId,
};

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vc-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn build(clock: &ManualClock, path: &Path) -> Counter {
    Counter::builder()
        .utc_offset(offset!(+7))
        .clock(clock.clone())
        .max_sessions(50)
        .snapshot_path(path)
        .build()
        .unwrap()
}

/// Every reading the API has, for comparison.
fn readings(c: &Counter) -> String {
    let mut out = format!("{:?}\n{:?}\n", c.stats(), c.history(40));
    for p in Period::ALL {
        out += &format!("{p:?} {:?}\n", c.top_articles(p, 5));
    }
    for a in 0..6 {
        out += &format!("{a}: {:?}\n", c.article_stats(ArticleId::from(a)));
    }
    out
}

/// A day of traffic: 80 visitors (more than max_sessions), refreshes, article views.
fn traffic(c: &Counter, clock: &ManualClock, seed: u64) {
    for i in 0..400u64 {
        let v = VisitorId::from((i * 7 + seed) % 80);
        if i % 3 == 0 {
            c.view_article(ArticleId::from(i % 6), v);
        } else {
            c.hit(v);
        }
        clock.advance(Duration::from_secs(37 + i % 11));
    }
}

#[test]
fn a_rebuilt_counter_answers_exactly_as_the_uninterrupted_one() {
    let dir = temp_dir("roundtrip");
    let start = datetime!(2024-02-28 20:00 +07:00);
    let (clock_a, clock_b) = (ManualClock::new(start), ManualClock::new(start));
    let uninterrupted = build(&clock_a, &dir.join("a.snapshot"));
    let saved = build(&clock_b, &dir.join("b.snapshot"));
    for c in [(&uninterrupted, &clock_a), (&saved, &clock_b)] {
        traffic(c.0, c.1, 1);
    }
    saved.save().unwrap();
    drop(saved);
    for gap in [
        Duration::ZERO,
        Duration::from_secs(59),
        Duration::from_secs(3600 * 5),
        Duration::from_secs(86_400 * 3),
        Duration::from_secs(86_400 * 40),
        Duration::from_secs(86_400 * 800),
    ] {
        clock_a.advance(gap);
        clock_b.advance(gap);
        let rebuilt = build(&clock_b, &dir.join("b.snapshot"));
        assert_eq!(
            readings(&rebuilt),
            readings(&uninterrupted),
            "after a gap of {gap:?}"
        );
        for c in [(&uninterrupted, &clock_a), (&rebuilt, &clock_b)] {
            traffic(c.0, c.1, gap.as_secs());
        }
        assert_eq!(
            readings(&rebuilt),
            readings(&uninterrupted),
            "page views after {gap:?}"
        );
        rebuilt.save().unwrap();
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn save_without_a_path_is_an_error() {
    let c = Counter::builder().build().unwrap();
    assert!(matches!(c.save(), Err(SnapshotError::NoSnapshotPath)));
}

#[test]
fn an_unreadable_snapshot_fails_build_and_is_left_as_it_was() {
    let dir = temp_dir("corrupt");
    let path = dir.join("counter.snapshot");
    std::fs::write(&path, b"VCSNAP\r\n garbage").unwrap();
    let err = Counter::builder().snapshot_path(&path).build().unwrap_err();
    assert!(matches!(err, BuildError::Snapshot(_)));
    let msg = err.to_string();
    assert!(msg.contains("counter.snapshot"), "{msg}");
    assert!(msg.contains("truncated"), "{msg}");
    assert_eq!(std::fs::read(&path).unwrap(), b"VCSNAP\r\n garbage");

    // Opt in: the file is moved aside and the counter starts fresh.
    let clock = ManualClock::new(datetime!(2026-11-27 12:00 UTC));
    let c = Counter::builder()
        .clock(clock.clone())
        .snapshot_path(&path)
        .move_corrupt_snapshot_aside(true)
        .build()
        .unwrap();
    assert_eq!(c.stats().page_views.total, 0);
    assert!(!path.exists());
    let aside = dir.join(format!(
        "counter.snapshot.corrupt-{}",
        datetime!(2026-11-27 12:00 UTC).unix_timestamp()
    ));
    assert_eq!(std::fs::read(aside).unwrap(), b"VCSNAP\r\n garbage");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn dropping_the_last_clone_makes_a_final_save() {
    let dir = temp_dir("final-save");
    let path = dir.join("counter.snapshot");
    let clock = ManualClock::new(datetime!(2026-11-27 12:00 UTC));
    let c = Counter::builder()
        .clock(clock.clone())
        .snapshot_path(&path)
        .autosave(Duration::from_secs(3600))
        .build()
        .unwrap();
    let clone = c.clone();
    c.hit(VisitorId::from(1));
    drop(c);
    assert!(!path.exists(), "a clone is still alive: no final save yet");
    clone.hit(VisitorId::from(2));
    drop(clone);
    let back = Counter::builder()
        .clock(clock.clone())
        .snapshot_path(&path)
        .build()
        .unwrap();
    assert_eq!(back.stats().page_views.today, 2);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_changed_week_start_rebuilds_weeks_from_history() {
    let dir = temp_dir("week-start");
    let path = dir.join("counter.snapshot");
    // Saturday 2024-03-02 and Sunday 2024-03-03.
    let clock = ManualClock::new(datetime!(2024-03-02 10:00 UTC));
    let c = Counter::builder()
        .clock(clock.clone())
        .snapshot_path(&path)
        .build()
        .unwrap();
    c.hit(VisitorId::from(1));
    clock.advance(Duration::from_secs(86_400));
    c.hit(VisitorId::from(1));
    c.save().unwrap();
    drop(c);
    // Weeks from Sunday: Saturday was last week, Sunday is this week.
    let c = Counter::builder()
        .clock(clock.clone())
        .week_start(Weekday::Sunday)
        .snapshot_path(&path)
        .build()
        .unwrap();
    let s = c.stats();
    assert_eq!((s.page_views.this_week, s.page_views.last_week), (1, 1));
    assert_eq!(s.page_views.total, 2);
    std::fs::remove_dir_all(dir).unwrap();
}
