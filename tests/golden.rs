//! Golden snapshot files: every format version this release reads, decoded.
//!
//! Formats 1 to 4 were written only by builds before the first release and are no longer read
//! (see the README's "Snapshot format"); from the first release on, a golden file is added for
//! each new format and never removed.
//!
//! `tests/golden/v<N>.snapshot` was written by format version N from the workload in
//! [`workload`]. A release that adds a format version writes its file with
//! `VC_WRITE_GOLDEN=1 cargo test --test golden -- --ignored` (which never overwrites one) and
//! adds it to [`GOLDEN`]; old golden files never change, and every one must decode to the same
//! readings.

use std::path::{Path, PathBuf};
use std::time::Duration;

use time::macros::{datetime, offset};
use time::OffsetDateTime;
use visitor_counter::{ArticleId, Counter, ManualClock, Period, VisitorId};

const SAVED_AT: OffsetDateTime = datetime!(2026-11-27 12:00 +07:00);

fn counter(clock: &ManualClock, path: &Path) -> Counter {
    Counter::builder()
        .utc_offset(offset!(+7))
        .initial_total(1_090_533, 2_000_000)
        .clock(clock.clone())
        .snapshot_path(path)
        .build()
        .unwrap()
}

/// Two days of traffic ending at `SAVED_AT`.
fn workload(c: &Counter, clock: &ManualClock) {
    for i in 0..30u64 {
        c.hit(VisitorId::from(i % 7));
        clock.advance(Duration::from_secs(3000));
    }
    for i in 0..12u64 {
        c.view_article(
            ArticleId::from(i % 4),
            VisitorId::from_key(&format!("reader-{i}")),
        );
        clock.advance(Duration::from_secs(60));
    }
}

/// Every golden file: each format version this release reads.
const GOLDEN: [(u32, &str); 1] = [(5, "v5.snapshot")];

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

#[test]
#[ignore = "writes the golden file of a new format version"]
fn write_golden_file_of_the_current_version() {
    if std::env::var_os("VC_WRITE_GOLDEN").is_none() {
        return;
    }
    let version = visitor_counter::snapshot::FORMAT_VERSION;
    let path = golden(&format!("v{version}.snapshot"));
    assert!(
        !path.exists(),
        "{} exists: golden files never change",
        path.display()
    );
    let start = SAVED_AT - Duration::from_secs(30 * 3000 + 12 * 60);
    let clock = ManualClock::new(start);
    let c = counter(&clock, &path);
    workload(&c, &clock);
    c.save().unwrap();
}

#[test]
fn the_current_format_has_a_golden_file() {
    let current = visitor_counter::snapshot::FORMAT_VERSION;
    assert!(
        GOLDEN.iter().any(|&(v, _)| v == current),
        "no golden file of format {current}"
    );
}

#[test]
fn every_golden_file_decodes_to_the_same_readings() {
    for (version, name) in GOLDEN {
        golden_file_decodes_to_the_same_readings(version, name);
    }
}

fn golden_file_decodes_to_the_same_readings(version: u32, name: &str) {
    let dir = std::env::temp_dir().join(format!("vc-golden-{}-{version}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::copy(golden(name), &path).unwrap();
    let info = visitor_counter::snapshot::inspect(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(info.format_version, version);
    assert_eq!(info.saved_at, SAVED_AT);

    let clock = ManualClock::new(SAVED_AT);
    let c = counter(&clock, &path);
    let s = c.stats();
    // 42 page views from 7 + 12 visitors over 26 and a half hours; initial totals carried.
    assert_eq!(s.page_views.total, 2_000_000 + 42);
    assert_eq!(s.visits.total, 1_090_533 + 42);
    assert_eq!(s.visitors.total, 19);
    assert_eq!(s.online, 4); // the readers of the last five minutes
    assert_eq!(
        c.top_articles(Period::Today, 10),
        vec![
            (ArticleId::from(0), 3),
            (ArticleId::from(1), 3),
            (ArticleId::from(2), 3),
            (ArticleId::from(3), 3)
        ]
    );
    let days: u64 = c.history(3).iter().map(|d| d.page_views).sum();
    assert_eq!(days, 42);
    // The restored counter goes on counting from the saved state: reader-11 is still in session
    // and within the dedup window.
    c.view_article(ArticleId::from(3), VisitorId::from_key("reader-11"));
    let s2 = c.stats();
    assert_eq!(s2.visits.total, s.visits.total);
    assert_eq!(c.article_stats(ArticleId::from(3)).views.today, 3);
    std::fs::remove_dir_all(dir).unwrap();
}
