//! Save, drop, rebuild at random moments of random workloads: after every step, every reading
//! of the rebuilt counter equals the uninterrupted counter's.
//!
//! Two counters with one random configuration (UTC offset, week start, a small `max_sessions`,
//! online window, session timeout, article dedup window, initial totals) share one
//! `ManualClock`. Both get the same page views; one of them is saved, dropped and rebuilt from
//! its snapshot at every save step (at once, or after the clock ran on). After every step, `stats()`, `history(30)`,
//! `top_articles(p, 5)` for every period and `article_stats(a)` for every article in the pool
//! must be identical. Time moves only through the clock (1 ns to 40 days per step); nothing
//! sleeps. An occasional flood of 4,200 new visitors takes the unique-visitor counts past their
//! exact limit, so the sketches go through snapshots too.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use proptest::prelude::*;
use time::{OffsetDateTime, UtcOffset, Weekday};
use visitor_counter::{
    ArticleId, ArticleStats, Clock, Counter, DayCounts, ManualClock, Period, Stats, VisitorId,
};

/// Visitors are drawn from `0..VISITORS`, articles from `0..ARTICLES`: small pools, so visitors
/// come back, sessions are evicted past `max_sessions`, and dedup windows matter.
const VISITORS: u64 = 12;
const ARTICLES: u64 = 4;

const SECOND: u64 = 1_000_000_000;
const DAY: u64 = 86_400 * SECOND;

#[derive(Clone, Debug)]
struct Config {
    start: OffsetDateTime,
    offset: UtcOffset,
    week_start: Weekday,
    max_sessions: usize,
    online_window: Duration,
    session_timeout: Duration,
    article_dedup_window: Duration,
    initial: (u64, u64),
}

#[derive(Clone, Debug)]
enum Op {
    Hit(u64),
    ViewArticle(u64, u64),
    Advance(Duration),
    /// Save, drop, let the clock run on by the gap (if any), rebuild.
    SaveAndRebuild(Option<Duration>),
    /// One page view by each of `FLOOD` new visitors (ids from `1000 + seed * FLOOD` on):
    /// pushes the unique-visitor sets past their exact limit into sketches.
    Flood(u64),
}

/// Visitors in one flood: more than the 4,096 counted exactly.
const FLOOD: u64 = 4_200;

/// A duration of 1 ns to `max_ns`, spread over the scales that matter (nanoseconds, seconds,
/// hours, days).
fn duration_up_to(max_ns: u64) -> impl Strategy<Value = Duration> {
    prop_oneof![
        1..=SECOND.min(max_ns),
        SECOND.min(max_ns)..=(3600 * SECOND).min(max_ns),
        1..=max_ns,
    ]
    .prop_map(Duration::from_nanos)
}

fn config() -> impl Strategy<Value = Config> {
    (
        // 2000-01-01 to about 2060, to the nanosecond.
        946_684_800i64..2_840_000_000,
        0..SECOND as i64,
        -50_000i32..=50_000,
        0u8..7,
        1usize..=8,
        duration_up_to(3 * DAY),
        0u32..=100,
        prop_oneof![Just(Duration::ZERO), duration_up_to(3 * DAY)],
        (0u64..1000, 0u64..1000),
    )
        .prop_map(
            |(secs, nanos, offset, week, max_sessions, timeout, online_pct, dedup, initial)| {
                let start = OffsetDateTime::from_unix_timestamp(secs).unwrap()
                    + time::Duration::nanoseconds(nanos);
                let online_ns = (timeout.as_nanos() * u128::from(online_pct) / 100).max(1);
                Config {
                    start,
                    offset: UtcOffset::from_whole_seconds(offset).unwrap(),
                    week_start: Weekday::Monday.nth_next(week),
                    max_sessions,
                    online_window: Duration::from_nanos(online_ns as u64),
                    session_timeout: timeout,
                    article_dedup_window: dedup,
                    initial,
                }
            },
        )
}

/// A step; floods (slow in debug builds) only with `floods`.
fn op(floods: bool) -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0..VISITORS).prop_map(Op::Hit),
        5 => (0..ARTICLES, 0..VISITORS).prop_map(|(a, v)| Op::ViewArticle(a, v)),
        4 => duration_up_to(40 * DAY).prop_map(Op::Advance),
        3 => prop_oneof![Just(None), duration_up_to(40 * DAY).prop_map(Some)]
            .prop_map(Op::SaveAndRebuild),
        u32::from(floods) * 2 => (0u64..1000).prop_map(Op::Flood),
    ]
}

fn build(cfg: &Config, clock: &ManualClock, snapshot: Option<&Path>) -> Counter {
    let mut b = Counter::builder()
        .utc_offset(cfg.offset)
        .week_start(cfg.week_start)
        .max_sessions(cfg.max_sessions)
        .online_window(cfg.online_window)
        .session_timeout(cfg.session_timeout)
        .article_dedup_window(cfg.article_dedup_window)
        .initial_total(cfg.initial.0, cfg.initial.1)
        .clock(clock.clone());
    if let Some(path) = snapshot {
        b = b.snapshot_path(path);
    }
    b.build().unwrap()
}

/// Every reading the API has.
#[derive(Debug, PartialEq)]
struct Readings {
    stats: Stats,
    history: Vec<DayCounts>,
    top: Vec<(Period, Vec<(ArticleId, u64)>)>,
    articles: Vec<ArticleStats>,
}

fn readings(c: &Counter) -> Readings {
    Readings {
        stats: c.stats(),
        history: c.history(30),
        top: Period::ALL
            .iter()
            .map(|&p| (p, c.top_articles(p, 5)))
            .collect(),
        articles: (0..ARTICLES)
            .map(|a| c.article_stats(ArticleId::from(a)))
            .collect(),
    }
}

fn temp_dir() -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let d = std::env::temp_dir().join(format!(
        "vc-props-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(cfg: &Config, ops: &[Op]) -> Result<(), TestCaseError> {
    let dir = temp_dir();
    let result = steps(cfg, ops, &dir.join("counter.snapshot"));
    let _ = std::fs::remove_dir_all(dir);
    result
}

fn steps(cfg: &Config, ops: &[Op], path: &Path) -> Result<(), TestCaseError> {
    let clock = ManualClock::new(cfg.start);
    let uninterrupted = build(cfg, &clock, None);
    let mut rebuilt = build(cfg, &clock, Some(path));
    let mut saves = 0;
    for (i, op) in ops.iter().enumerate() {
        match *op {
            Op::Hit(v) => {
                uninterrupted.hit(VisitorId::from(v));
                rebuilt.hit(VisitorId::from(v));
            }
            Op::ViewArticle(a, v) => {
                uninterrupted.view_article(ArticleId::from(a), VisitorId::from(v));
                rebuilt.view_article(ArticleId::from(a), VisitorId::from(v));
            }
            Op::Advance(d) => clock.advance(d),
            Op::Flood(seed) => {
                for v in 1000 + seed * FLOOD..1000 + (seed + 1) * FLOOD {
                    uninterrupted.hit(VisitorId::from(v));
                    rebuilt.hit(VisitorId::from(v));
                }
            }
            Op::SaveAndRebuild(gap) => {
                rebuilt.save().unwrap();
                saves += 1;
                drop(rebuilt);
                if let Some(gap) = gap {
                    clock.advance(gap);
                }
                rebuilt = build(cfg, &clock, Some(path));
            }
        }
        prop_assert_eq!(
            readings(&rebuilt),
            readings(&uninterrupted),
            "after step {} ({:?}) at {}, {} saves so far",
            i,
            op,
            clock.now(),
            saves
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        ..ProptestConfig::default()
    })]

    #[test]
    fn a_counter_rebuilt_from_its_snapshot_reads_as_the_uninterrupted_one(
        cfg in config(),
        ops in prop::collection::vec(op(false), 1..60),
    ) {
        run(&cfg, &ops)?;
    }
}

proptest! {
    // Each flood is about 0.15 s in a debug build, and each save after one another 0.15 s.
    #![proptest_config(ProptestConfig {
        cases: 24,
        ..ProptestConfig::default()
    })]

    #[test]
    fn sketches_survive_a_rebuild_too(
        cfg in config(),
        ops in prop::collection::vec(op(true), 1..24),
    ) {
        run(&cfg, &ops)?;
    }
}
