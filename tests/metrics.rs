//! `metrics` (feature `prometheus`): the collector's output, encoded by `prometheus-client` in
//! both of its text formats and read back by a real parser (`prometheus-parse`), holds exactly
//! the counter's readings, with the right types and a bounded set of labels.
//!
//! Every test is a timeline driven by a `ManualClock`; nothing sleeps.

#[path = "common/redis_server.rs"]
mod redis_server;
#[path = "common/timeline.rs"]
mod timeline;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use prometheus_client::encoding::{prometheus_text, text};
use prometheus_client::registry::Registry;
use prometheus_parse::{Scrape, Value};
use redis_server::Server;
use time::macros::{datetime, offset};
use time::OffsetDateTime;
use timeline::{hit_at, v};
use visitor_counter::metrics::{self, Collector};
use visitor_counter::{ArticleId, Counter, Exclusion, ManualClock, Period};

/// Monday 9 March 2026, 21:00 at +07:00: yesterday, as the scrapes of the timeline see it.
const YESTERDAY: OffsetDateTime = datetime!(2026-03-09 21:00 +07:00);
/// Tuesday 10 March 2026, 10:07 at +07:00: when the timeline is read.
const READ_AT: OffsetDateTime = datetime!(2026-03-10 10:07 +07:00);

fn builder(clock: &ManualClock) -> visitor_counter::CounterBuilder {
    Counter::builder()
        .utc_offset(offset!(+7))
        .clock(clock.clone())
        .online_window(Duration::from_secs(5 * 60))
        .session_timeout(Duration::from_secs(30 * 60))
        // Every article view counts, so that one visitor can make an article the most read.
        .article_dedup_window(Duration::ZERO)
}

/// Views `article` `times` times by `visitor`, now.
fn view(c: &Counter, article: u64, visitor: u64, times: u64) {
    for _ in 0..times {
        c.view_article(ArticleId::from(article), v(visitor));
    }
}

/// A day and a bit of traffic, chosen so that no two metrics without labels have the same
/// value (a metric fed the wrong reading shows), read at [`READ_AT`].
fn timeline() -> (Counter, ManualClock) {
    let clock = ManualClock::new(YESTERDAY);
    let c = builder(&clock).initial_total(1_000, 5_000).build().unwrap();

    // Mon 21:00: visitors 1 and 6 read a page; visitor 2 reads article 16 fifty times
    // (yesterday's most read: it must not show in today's top)
    c.hit(v(1));
    c.hit(v(6));
    view(&c, 16, 2, 50);
    // Tue 09:00: visitor 1 is back (a new visit)
    hit_at(&c, &clock, datetime!(2026-03-10 09:00 +07:00), 1);
    // 09:01: visitor 3, two pages
    hit_at(&c, &clock, datetime!(2026-03-10 09:01 +07:00), 3);
    c.hit(v(3));
    // 09:50: visitor 7
    hit_at(&c, &clock, datetime!(2026-03-10 09:50 +07:00), 7);
    // 10:00: visitor 3 again, 59 minutes later: a second visit
    hit_at(&c, &clock, datetime!(2026-03-10 10:00 +07:00), 3);
    // 10:05: visitor 4
    hit_at(&c, &clock, datetime!(2026-03-10 10:05 +07:00), 4);
    // 10:06: visitor 5 reads article k k times, for k = 1..=15
    clock.set(datetime!(2026-03-10 10:06 +07:00));
    for k in 1..=15 {
        view(&c, k, 5, k);
    }
    // Requests not counted: 21 bots, 22 prefetches, 23 other methods, 24 errors, 25 non-pages,
    // 26 past the pace limit
    for (reason, n) in [
        (Exclusion::Bot, 21),
        (Exclusion::Prefetch, 22),
        (Exclusion::Method, 23),
        (Exclusion::Status, 24),
        (Exclusion::NotPage, 25),
        (Exclusion::Pace, 26),
    ] {
        (0..n).for_each(|_| c.exclude(reason));
    }
    // 10:07: read
    clock.set(READ_AT);
    (c, clock)
}

// ---------------------------------------------------------------------------------------------
// Scraping and parsing
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Counter,
    Gauge,
}

/// A sample's name and labels (sorted).
type Key = (String, Vec<(String, String)>);

/// The samples of one scrape: value and type by name and labels.
type Samples = BTreeMap<Key, (Kind, f64)>;

fn key(name: &str, labels: &[(&str, &str)]) -> Key {
    let mut labels: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    labels.sort();
    (name.to_owned(), labels)
}

fn registry_with(collector: Collector) -> Registry {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(collector));
    registry
}

/// The registry in the OpenMetrics text format (`text::encode`).
fn openmetrics(registry: &Registry) -> String {
    let mut out = String::new();
    text::encode(&mut out, registry).unwrap();
    out
}

/// Parses OpenMetrics text with `prometheus-parse`, which reads the Prometheus text format
/// 0.0.4. Two differences need help, and are checked on the way:
/// - OpenMetrics ends with `# EOF` and announces a unit with `# UNIT`: the parser would skip
///   both lines as unknown comments; they are checked and removed here, so that nothing else is
///   skipped silently.
/// - OpenMetrics names a counter family without `_total` (`# TYPE x counter`) and its sample
///   with it (`x_total 5`); the parser finds a sample's type by the sample's exact name, so it
///   would read the counter as untyped. The `TYPE` line is renamed to the sample's name, as the
///   0.0.4 format writes it.
fn parse_openmetrics(text: &str) -> Scrape {
    let body = text
        .strip_suffix("# EOF\n")
        .expect("OpenMetrics text ends with # EOF");
    assert!(!body.contains("# EOF"), "one # EOF, at the end:\n{text}");
    let mut lines = Vec::new();
    for line in body.lines() {
        if let Some(unit) = line.strip_prefix("# UNIT ") {
            let (family, unit) = unit.split_once(' ').unwrap();
            assert!(family.ends_with(&format!("_{unit}")), "{line}");
            continue;
        }
        assert!(
            !line.starts_with("# ") || line.starts_with("# HELP ") || line.starts_with("# TYPE "),
            "unexpected line {line:?}"
        );
        match line
            .strip_prefix("# TYPE ")
            .and_then(|t| t.strip_suffix(" counter"))
        {
            Some(family) => lines.push(format!("# TYPE {family}_total counter")),
            None => lines.push(line.to_owned()),
        }
    }
    Scrape::parse(lines.into_iter().map(Ok)).unwrap()
}

/// Parses text in the Prometheus text format 0.0.4, which `prometheus-parse` reads as it is.
fn parse_prometheus(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap()
}

/// The samples of a parsed scrape; every sample typed, every one HELPed, none twice.
fn samples(scrape: &Scrape, help_name: impl Fn(&str, Kind) -> String) -> Samples {
    let mut out = Samples::new();
    for s in &scrape.samples {
        let (kind, value) = match s.value {
            Value::Counter(v) => (Kind::Counter, v),
            Value::Gauge(v) => (Kind::Gauge, v),
            ref other => panic!("{}: not a counter or a gauge: {other:?}", s.metric),
        };
        let help = help_name(&s.metric, kind);
        assert!(
            scrape.docs.get(&help).is_some_and(|h| !h.trim().is_empty()),
            "{} has no HELP",
            s.metric
        );
        let labels: Vec<(&str, &str)> = s
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let previous = out.insert(key(&s.metric, &labels), (kind, value));
        assert!(previous.is_none(), "{} {labels:?} twice", s.metric);
    }
    out
}

/// One scrape of `registry` in both text formats, each parsed; they must agree, and follow
/// the naming conventions. Returns the samples and the OpenMetrics text.
fn scrape(registry: &Registry) -> (Samples, String) {
    let om_text = openmetrics(registry);
    // OpenMetrics HELPs a counter by its family name, without `_total`.
    let om = samples(&parse_openmetrics(&om_text), |name, kind| match kind {
        Kind::Counter => name.strip_suffix("_total").unwrap().to_owned(),
        Kind::Gauge => name.to_owned(),
    });
    let mut prom_text = String::new();
    prometheus_text::encode(&mut prom_text, registry).unwrap();
    let prom = samples(&parse_prometheus(&prom_text), |name, _| name.to_owned());
    assert_eq!(om, prom, "the two text formats agree");
    for ((name, _), (kind, _)) in &om {
        assert!(name.starts_with("visitors_"), "{name}");
        // promtool check metrics: a name holds no metric type.
        for t in ["counter", "gauge", "histogram", "summary"] {
            assert!(
                !name.contains(&format!("_{t}_")) && !name.ends_with(&format!("_{t}")),
                "{name}"
            );
        }
        assert_eq!(
            name.ends_with("_total"),
            *kind == Kind::Counter,
            "{name}: only counters end with _total"
        );
        assert!(!name.ends_with("_total_total"), "{name}");
    }
    (om, om_text)
}

/// What the scrape should hold: the counter's own readings, taken now, with `top` articles.
fn expected(c: &Counter, top: usize) -> Samples {
    let (s, ex, saves, syncs) = (c.stats(), c.exclusions(), c.save_status(), c.sync_status());
    let g = |v: u64| (Kind::Gauge, v as f64);
    let n = |v: u64| (Kind::Counter, v as f64);
    let mut m = Samples::new();
    let mut put = |name: &str, labels: &[(&str, &str)], value: (Kind, f64)| {
        m.insert(key(name, labels), value);
    };
    put("visitors_online", &[], g(s.online));
    put("visitors_visits_today", &[], g(s.visits.today));
    put("visitors_page_views_today", &[], g(s.page_views.today));
    put("visitors_visitors_today", &[], g(s.visitors.today));
    put("visitors_visits_all_time", &[], g(s.visits.total));
    put("visitors_page_views_all_time", &[], g(s.page_views.total));
    put("visitors_visitors_all_time", &[], g(s.visitors.total));
    if top > 0 {
        for (article, views) in c.top_articles(Period::Today, top) {
            let id = article.as_u64().to_string();
            put(
                "visitors_article_views_today",
                &[("article", &id)],
                g(views),
            );
        }
    }
    for (reason, count) in [
        ("bot", ex.bot),
        ("prefetch", ex.prefetch),
        ("method", ex.method),
        ("status", ex.status),
        ("not_page", ex.not_page),
        ("pace", ex.pace),
    ] {
        put(
            "visitors_excluded_requests_total",
            &[("reason", reason)],
            n(count),
        );
    }
    put(
        "visitors_tracked_sessions",
        &[],
        g(c.tracked_sessions() as u64),
    );
    put(
        "visitors_snapshot_saves_total",
        &[("outcome", "ok")],
        n(saves.saves),
    );
    put(
        "visitors_snapshot_saves_total",
        &[("outcome", "failed")],
        n(saves.failures),
    );
    if let Some(at) = saves.last_saved_at {
        put(
            "visitors_snapshot_last_save_timestamp_seconds",
            &[],
            (Kind::Gauge, unix_seconds(at)),
        );
    }
    put("visitors_syncs_total", &[("outcome", "ok")], n(syncs.syncs));
    put(
        "visitors_syncs_total",
        &[("outcome", "failed")],
        n(syncs.failures),
    );
    put(
        "visitors_sync_pending_page_views",
        &[],
        g(syncs.pending_page_views),
    );
    if let Some(at) = syncs.last_synced_at {
        put(
            "visitors_sync_last_success_timestamp_seconds",
            &[],
            (Kind::Gauge, unix_seconds(at)),
        );
    }
    put("visitors_sync_lost_parts_total", &[], n(syncs.lost_parts));
    if let Some(offset) = syncs.clock_offset {
        put(
            "visitors_sync_clock_offset_seconds",
            &[],
            (Kind::Gauge, offset.as_seconds_f64()),
        );
    }
    m
}

fn unix_seconds(at: OffsetDateTime) -> f64 {
    at.unix_timestamp() as f64 + f64::from(at.nanosecond()) / 1e9
}

/// The value of one sample, if the scrape has it.
fn value(samples: &Samples, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples.get(&key(name, labels)).map(|&(_, v)| v)
}

/// The `ok` and `failed` samples of a family counted by outcome (saves, syncs).
fn outcomes(samples: &Samples, family: &str) -> (Option<f64>, Option<f64>) {
    let of = |outcome| value(samples, family, &[("outcome", outcome)]);
    (of("ok"), of("failed"))
}

/// The `article` label values of `visitors_article_views_today` with their values, in
/// the order of the scrape's text (most read first).
fn articles_in_text(text: &str) -> Vec<(u64, u64)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("visitors_article_views_today{article=\""))
        .map(|rest| {
            let (id, value) = rest.split_once("\"} ").unwrap();
            (id.parse().unwrap(), value.parse().unwrap())
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[test]
fn every_metric_equals_the_counters_readings() {
    let (c, clock) = timeline();
    let mut registry = Registry::default();
    metrics::register(&mut registry, c.clone());

    // 10:07: the readings themselves, by the timeline
    let s = c.stats();
    assert_eq!(s.online, 2, "visitors 4 and 5, within 5 minutes");
    assert_eq!(
        (s.visits.today, s.page_views.today, s.visitors.today),
        (6, 126, 5)
    );
    assert_eq!(
        (s.visits.total, s.page_views.total, s.visitors.total),
        (1_009, 5_178, 7)
    );
    assert_eq!(
        c.tracked_sessions(),
        4,
        "visitors 7, 3, 4 and 5 within 30 minutes"
    );

    let (scraped, text) = scrape(&registry);
    assert_eq!(scraped, expected(&c, 10));
    // ... which, spelled out:
    let one = |name| value(&scraped, name, &[]);
    assert_eq!(one("visitors_online"), Some(2.0));
    assert_eq!(one("visitors_visits_today"), Some(6.0));
    assert_eq!(one("visitors_page_views_today"), Some(126.0));
    assert_eq!(one("visitors_visitors_today"), Some(5.0));
    assert_eq!(one("visitors_visits_all_time"), Some(1_009.0));
    assert_eq!(one("visitors_page_views_all_time"), Some(5_178.0));
    assert_eq!(one("visitors_visitors_all_time"), Some(7.0));
    assert_eq!(one("visitors_tracked_sessions"), Some(4.0));
    assert_eq!(one("visitors_sync_pending_page_views"), Some(0.0));
    for (reason, n) in [
        ("bot", 21.0),
        ("prefetch", 22.0),
        ("method", 23.0),
        ("status", 24.0),
        ("not_page", 25.0),
        ("pace", 26.0),
    ] {
        assert_eq!(
            value(
                &scraped,
                "visitors_excluded_requests_total",
                &[("reason", reason)]
            ),
            Some(n),
            "{reason}"
        );
    }
    for family in ["visitors_snapshot_saves_total", "visitors_syncs_total"] {
        assert_eq!(
            outcomes(&scraped, family),
            (Some(0.0), Some(0.0)),
            "{family}"
        );
    }
    // Nothing saved or synced yet: no timestamps.
    assert!(!text.contains("timestamp"), "{text}");
    // The types as the OpenMetrics text declares them.
    for line in [
        "# TYPE visitors_online gauge",
        "# TYPE visitors_visits_today gauge",
        "# TYPE visitors_visitors_all_time gauge",
        "# TYPE visitors_visits_all_time gauge",
        "# TYPE visitors_page_views_all_time gauge",
        "# TYPE visitors_excluded_requests counter",
        "# TYPE visitors_snapshot_saves counter",
        "# TYPE visitors_syncs counter",
        "# TYPE visitors_article_views_today gauge",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }

    // 10:08: more traffic; the registry reads the counter anew at each scrape
    clock.set(datetime!(2026-03-10 10:08 +07:00));
    c.hit(v(8));
    view(&c, 1, 8, 20);
    c.exclude(Exclusion::Bot);
    let (scraped, _) = scrape(&registry);
    assert_eq!(scraped, expected(&c, 10));
    assert_eq!(value(&scraped, "visitors_online", &[]), Some(3.0));
    assert_eq!(
        value(&scraped, "visitors_page_views_today", &[]),
        Some(147.0)
    );
    assert_eq!(
        value(
            &scraped,
            "visitors_article_views_today",
            &[("article", "1")]
        ),
        Some(21.0)
    );
    assert_eq!(
        value(
            &scraped,
            "visitors_excluded_requests_total",
            &[("reason", "bot")]
        ),
        Some(22.0)
    );
}

#[test]
fn the_top_n_articles_of_today_and_no_more() {
    let (c, _clock) = timeline();

    // 15 articles read today (article k k times), and article 16 yesterday (50 times).
    let (scraped, text) = scrape(&registry_with(Collector::new(c.clone()).top_articles(3)));
    assert_eq!(scraped, expected(&c, 3));
    assert_eq!(articles_in_text(&text), [(15, 15), (14, 14), (13, 13)]);

    // The default: 10, articles 15 down to 6.
    let mut registry = Registry::default();
    metrics::register(&mut registry, c.clone());
    let text = openmetrics(&registry);
    let top: Vec<u64> = articles_in_text(&text).iter().map(|&(id, _)| id).collect();
    assert_eq!(top, (6..=15).rev().collect::<Vec<_>>());

    // More than there are: the 15 read today, not yesterday's article 16.
    let (scraped, text) = scrape(&registry_with(Collector::new(c.clone()).top_articles(50)));
    assert_eq!(scraped, expected(&c, 50));
    assert_eq!(articles_in_text(&text).len(), 15);
    assert!(value(
        &scraped,
        "visitors_article_views_today",
        &[("article", "16")]
    )
    .is_none());

    // None: the family is left out, everything else is there.
    let (scraped, text) = scrape(&registry_with(Collector::new(c.clone()).top_articles(0)));
    assert_eq!(scraped, expected(&c, 0));
    assert!(!text.contains("article_views"), "{text}");
}

#[test]
fn the_article_label_set_is_bounded_by_100() {
    let clock = ManualClock::new(READ_AT);
    let c = builder(&clock).build().unwrap();
    // 10:07: 150 articles, article k read k times (1 + 2 + ... + 150 views)
    for k in 1..=150 {
        view(&c, k, k, k);
    }
    let (scraped, text) = scrape(&registry_with(
        Collector::new(c.clone()).top_articles(1_000),
    ));
    assert_eq!(scraped, expected(&c, 100));
    let listed = articles_in_text(&text);
    assert_eq!(listed.len(), 100);
    assert_eq!(listed.first(), Some(&(150, 150)));
    assert_eq!(listed.last(), Some(&(51, 51)));
}

#[test]
fn saves_show_by_outcome_with_the_last_save_time() {
    let dir = std::env::temp_dir().join(format!("vc-metrics-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path: PathBuf = dir.join("counter.snapshot");
    let clock = ManualClock::new(READ_AT);
    let c = builder(&clock).snapshot_path(&path).build().unwrap();
    let mut registry = Registry::default();
    metrics::register(&mut registry, c.clone());

    // 10:07: nothing saved yet
    c.hit(v(1));
    let (scraped, text) = scrape(&registry);
    assert_eq!(scraped, expected(&c, 10));
    assert!(!text.contains("last_save"), "{text}");

    // 10:07:30.5: saved
    clock.set(datetime!(2026-03-10 10:07:30.5 +07:00));
    c.save().unwrap();
    let (scraped, text) = scrape(&registry);
    assert_eq!(scraped, expected(&c, 10));
    assert_eq!(
        outcomes(&scraped, "visitors_snapshot_saves_total"),
        (Some(1.0), Some(0.0))
    );
    let saved_at = datetime!(2026-03-10 10:07:30 +07:00).unix_timestamp() as f64 + 0.5;
    assert_eq!(
        value(
            &scraped,
            "visitors_snapshot_last_save_timestamp_seconds",
            &[]
        ),
        Some(saved_at)
    );
    assert!(
        text.contains(
            "# TYPE visitors_snapshot_last_save_timestamp_seconds gauge\n\
             # UNIT visitors_snapshot_last_save_timestamp_seconds seconds\n"
        ),
        "{text}"
    );

    // 10:09: the directory is gone; the save fails, the last good one stays
    clock.set(datetime!(2026-03-10 10:09 +07:00));
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(c.save().is_err());
    let (scraped, _) = scrape(&registry);
    assert_eq!(scraped, expected(&c, 10));
    assert_eq!(
        outcomes(&scraped, "visitors_snapshot_saves_total"),
        (Some(1.0), Some(1.0))
    );
    assert_eq!(
        value(
            &scraped,
            "visitors_snapshot_last_save_timestamp_seconds",
            &[]
        ),
        Some(saved_at)
    );
}

#[test]
fn syncs_show_by_outcome_with_the_page_views_waiting() {
    // A counter sharing a site whose Redis is not running yet.
    let mut server = Server::stopped("metrics");
    let clock = ManualClock::new(READ_AT);
    let c = builder(&clock)
        .redis(server.url(), "metrics")
        .sync_every(Duration::ZERO)
        .build()
        .unwrap();
    let mut registry = Registry::default();
    metrics::register(&mut registry, c.clone());

    // 10:07: three page views; the sync fails
    c.hit(v(1));
    c.hit(v(2));
    view(&c, 7, 1, 1);
    assert!(c.sync().is_err());
    let (scraped, text) = scrape(&registry);
    assert_eq!(scraped, expected(&c, 10));
    assert_eq!(
        outcomes(&scraped, "visitors_syncs_total"),
        (Some(0.0), Some(1.0))
    );
    assert_eq!(
        value(&scraped, "visitors_sync_pending_page_views", &[]),
        Some(3.0)
    );
    assert!(!text.contains("sync_last_success"), "{text}");

    if !Server::available() {
        return;
    }
    // 10:08:15.25: Redis is up; the sync sends everything
    server.run();
    clock.set(datetime!(2026-03-10 10:08:15.25 +07:00));
    c.sync().unwrap();
    let (scraped, _) = scrape(&registry);
    assert_eq!(scraped, expected(&c, 10));
    assert_eq!(
        outcomes(&scraped, "visitors_syncs_total"),
        (Some(1.0), Some(1.0))
    );
    assert_eq!(
        value(&scraped, "visitors_sync_pending_page_views", &[]),
        Some(0.0)
    );
    let synced_at = datetime!(2026-03-10 10:08:15 +07:00).unix_timestamp() as f64 + 0.25;
    assert_eq!(
        value(
            &scraped,
            "visitors_sync_last_success_timestamp_seconds",
            &[]
        ),
        Some(synced_at)
    );
    assert_eq!(
        value(&scraped, "visitors_page_views_all_time", &[]),
        Some(3.0)
    );
}
