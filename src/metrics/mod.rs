//! Prometheus metrics (feature `prometheus`): a collector for the official client,
//! [`prometheus-client`](prometheus_client).
//!
//! [`register`] adds a [`Collector`] for a [`Counter`] to a
//! [`Registry`]; every scrape then reads the counter at that moment (nothing is copied between
//! scrapes). Encode the registry as usual: [`prometheus_client::encoding::text::encode`]
//! (OpenMetrics, content type `application/openmetrics-text; version=1.0.0; charset=utf-8`)
//! or [`prometheus_client::encoding::prometheus_text::encode`] (the Prometheus text format
//! 0.0.4, [`CONTENT_TYPE`](prometheus_client::encoding::prometheus_text::CONTENT_TYPE)).
//!
//! ```
//! use prometheus_client::encoding::text::encode;
//! use prometheus_client::registry::Registry;
//! use visitor_counter::{Counter, Exclusion, VisitorId};
//!
//! let counter = Counter::builder().build()?;
//! counter.hit(VisitorId::from(1));
//! counter.hit(VisitorId::from(1));
//! counter.exclude(Exclusion::Bot);
//!
//! let mut registry = Registry::default();
//! visitor_counter::metrics::register(&mut registry, counter.clone());
//!
//! // At scrape time (in the `/metrics` handler):
//! let mut text = String::new();
//! encode(&mut text, &registry)?;
//! assert!(text.contains("\nvisitors_online 1\n"));
//! assert!(text.contains("\nvisitors_page_views_all_time 2\n"));
//! assert!(text.contains("\nvisitors_excluded_requests_total{reason=\"bot\"} 1\n"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Metrics
//!
//! Names as exposed (the encoder adds `_total` to a counter's family name, and `_seconds`
//! from the unit to the timestamps'). "Today" is the site's local day (its offset or time
//! zone), as in [`Stats`](crate::Stats).
//!
//! Every name starts with `visitors_`, a fixed namespace, so that dashboards and alerts work
//! for every app that uses the crate (the crate's own name would not do: `promtool check
//! metrics` flags a name that holds a metric type such as `counter`). An app that wants its
//! own prefix registers the collector in `registry.sub_registry_with_prefix("myapp")`, which
//! exposes `myapp_visitors_online` and so on. The names pass `promtool check metrics`
//! (Prometheus 2.42) in the Prometheus text format, the only one promtool reads.
//!
//! | name | type | labels | what |
//! |---|---|---|---|
//! | `visitors_online` | gauge | | visitors whose last page view was less than the online window ago; exact |
//! | `visitors_visits_today` | gauge | | visits started today; exact |
//! | `visitors_page_views_today` | gauge | | page views today; exact |
//! | `visitors_visitors_today` | gauge | | distinct visitors today; exact up to 4,096, within 2 % beyond |
//! | `visitors_visits_all_time` | gauge | | visits ever counted, the initial total included (the footer's "Tổng lượt truy cập"); exact |
//! | `visitors_page_views_all_time` | gauge | | page views ever counted, the initial total included; exact |
//! | `visitors_visitors_all_time` | gauge | | distinct visitors ever; exact up to 4,096, within 2 % beyond |
//! | `visitors_article_views_today` | gauge | `article` | counted views today of each of the top n articles of today; exact |
//! | `visitors_excluded_requests_total` | counter | `reason` | requests not counted, by [`Exclusion`]: `bot`, `prefetch`, `method`, `status`, `not_page`, `pace` ([`Exclusion::name`]) |
//! | `visitors_tracked_sessions` | gauge | | visitors held in the session table (memory use) |
//! | `visitors_snapshot_saves_total` | counter | `outcome` | snapshot saves, `ok` or `failed` |
//! | `visitors_snapshot_last_save_timestamp_seconds` | gauge | | when the last successful save was taken (Unix time, counter's clock); absent before the first |
//! | `visitors_syncs_total` | counter | `outcome` | syncs with the shared site (feature `redis`), `ok` or `failed` |
//! | `visitors_sync_pending_page_views` | gauge | | page views recorded here and not yet in the shared site |
//! | `visitors_sync_last_success_timestamp_seconds` | gauge | | when the last successful sync was (Unix time, counter's clock); absent before the first |
//! | `visitors_sync_lost_parts_total` | counter | | parts the shared site acknowledged, then lost, that this counter no longer held to send again |
//! | `visitors_sync_clock_offset_seconds` | gauge | | this counter's clock minus the Redis server's at the last sync; absent before it |
//!
//! Every label has a bounded set of values: `reason` 6, `outcome` 2, `article` at most
//! n (the [`Collector::top_articles`] option: 10 by default, at most 100, 0 for none). The
//! article label is the [`ArticleId`](crate::ArticleId)'s number; an article that drops out of
//! the top n drops out of the scrape. A family with nothing to show (no article viewed today,
//! no save yet) is left out. The sync families are there whether the counter shares a site or
//! not (zeros if it does not).
//!
//! The totals ever (`*_all_time`) are gauges, not counters. They are the numbers the footer
//! box shows, carried across restarts by snapshots, and they can go down: a restart after a
//! crash restores the last snapshot, without what was counted after it, and distinct visitors
//! beyond 4,096 are an estimate (see the [crate docs](crate#what-is-exact-what-is-approximate))
//! that may come out a little lower on a later scrape. Prometheus reads any decrease of a
//! counter as a reset and would count the whole restored total as new in `increase()` and
//! `rate()`. For rates, use the gauges with `deriv()` or `delta()`, or `page_views_today`
//! within a day. Excluded requests, saves and syncs are counters: they count from the
//! counter's build (they are not in snapshots), so a restart resets them to zero, which
//! `rate()` and `increase()` handle.
//!
//! With several instances sharing a site (feature `redis`), every instance reports the
//! site's readings (online, visits, page views, visitors, article views): aggregate those
//! with `max()` across instances, not `sum()`. Excluded requests, tracked sessions, saves,
//! syncs and pending page views are each instance's own: `sum()` them.
//!
//! # Cost and locking
//!
//! A scrape makes one [`Counter::stats`] (session upkeep first, then each session shard's counts and
//! the unique-visitor lock in turn: see its docs), one [`Counter::top_articles`] for today
//! (from the rankings: read-locks each ranking shard in turn), and the cheap status reads: a
//! few atomic loads (exclusions, tracked sessions) and the save-status and sync-status locks
//! for a copy. A counter sharing its site (feature `redis`) also takes the shared view's read
//! lock (which waits while a sync takes or applies counts, never while it waits for Redis),
//! reads the articles viewed since its last sync, and locks each session shard briefly to
//! count its unsent page views. A scrape never scans the session table or the article table,
//! and page views on other threads keep flowing.
//!
//! Readings are taken one after the other, not as one atomic snapshot: a page view recorded
//! meanwhile may show in one metric and not yet in another.

use std::fmt;

use prometheus_client::collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeGaugeValue, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};
use time::OffsetDateTime;

use crate::{Counter, Exclusion, Period};

/// The default number of articles in `visitors_article_views_today`.
const DEFAULT_TOP_ARTICLES: usize = 10;

/// The most articles `visitors_article_views_today` may list: the counter keeps rankings
/// of this many, beyond which a top list scans every article.
const MAX_TOP_ARTICLES: usize = 100;

/// Registers a [`Collector`] for `counter` with the default options (the 10 most read
/// articles of today) in `registry`.
///
/// To change the options, build the collector and register it yourself:
///
/// ```
/// use prometheus_client::registry::Registry;
/// use visitor_counter::{metrics::Collector, Counter};
///
/// let counter = Counter::builder().build()?;
/// let mut registry = Registry::default();
/// registry.register_collector(Box::new(Collector::new(counter).top_articles(5)));
/// # Ok::<(), visitor_counter::BuildError>(())
/// ```
pub fn register(registry: &mut Registry, counter: Counter) {
    registry.register_collector(Box::new(Collector::new(counter)));
}

/// The counter's metrics, read at each scrape: a
/// [`prometheus_client::collector::Collector`] to register with
/// [`Registry::register_collector`]. See the [module docs](self) for the metrics and what a
/// scrape costs.
#[derive(Clone, Debug)]
pub struct Collector {
    counter: Counter,
    top_articles: usize,
}

impl Collector {
    /// A collector of `counter`'s metrics, with the 10 most read articles of today.
    pub fn new(counter: Counter) -> Collector {
        Collector {
            counter,
            top_articles: DEFAULT_TOP_ARTICLES,
        }
    }

    /// Lists today's views of the `n` most read articles of today (default 10); 0 leaves the
    /// family out. At most 100: a larger `n` is taken as 100, which keeps a scrape from
    /// scanning every article and the label set small.
    #[must_use]
    pub fn top_articles(mut self, n: usize) -> Collector {
        self.top_articles = n.min(MAX_TOP_ARTICLES);
        self
    }
}

impl collector::Collector for Collector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let c = &self.counter;
        let stats = c.stats();
        let top = match self.top_articles {
            0 => Vec::new(),
            n => c.top_articles(Period::Today, n),
        };
        let excluded = c.exclusions();
        let saves = c.save_status();
        let syncs = c.sync_status();
        let e = &mut encoder;

        gauge(
            e,
            "visitors_online",
            "Visitors whose last page view was less than the online window ago.",
            stats.online,
        )?;
        gauge(
            e,
            "visitors_visits_today",
            "Visits started today (the site's local day).",
            stats.visits.today,
        )?;
        gauge(
            e,
            "visitors_page_views_today",
            "Page views today (the site's local day).",
            stats.page_views.today,
        )?;
        gauge(
            e,
            "visitors_visitors_today",
            "Distinct visitors today (the site's local day): exact up to 4096, within 2% beyond.",
            stats.visitors.today,
        )?;
        gauge(
            e,
            "visitors_visits_all_time",
            "Visits ever counted, the initial total included (restored from snapshots, so a gauge).",
            stats.visits.total,
        )?;
        gauge(
            e,
            "visitors_page_views_all_time",
            "Page views ever counted, the initial total included (restored from snapshots, so a gauge).",
            stats.page_views.total,
        )?;
        gauge(
            e,
            "visitors_visitors_all_time",
            "Distinct visitors ever: exact up to 4096, within 2% beyond (an estimate, so a gauge).",
            stats.visitors.total,
        )?;
        if !top.is_empty() {
            let mut family = e.encode_descriptor(
                "visitors_article_views_today",
                "Counted views today of the most read articles of today, by article id.",
                None,
                MetricType::Gauge,
            )?;
            for (article, views) in top {
                let labels = [("article", article.as_u64())];
                ConstGauge::new(views).encode(family.encode_family(&labels)?)?;
            }
        }
        counters(
            e,
            "visitors_excluded_requests",
            "Requests not counted as page views since start, by reason.",
            "reason",
            &Exclusion::ALL.map(|reason| (reason.name(), excluded.get(reason))),
        )?;
        gauge(
            e,
            "visitors_tracked_sessions",
            "Visitors held in the session table.",
            c.tracked_sessions(),
        )?;
        counters(
            e,
            "visitors_snapshot_saves",
            "Snapshot saves since start, by outcome.",
            "outcome",
            &[("ok", saves.saves), ("failed", saves.failures)],
        )?;
        timestamp(
            e,
            "visitors_snapshot_last_save_timestamp",
            "When the last successful snapshot save was taken, as a Unix time.",
            saves.last_saved_at,
        )?;
        counters(
            e,
            "visitors_syncs",
            "Syncs with the shared site since start, by outcome.",
            "outcome",
            &[("ok", syncs.syncs), ("failed", syncs.failures)],
        )?;
        gauge(
            e,
            "visitors_sync_pending_page_views",
            "Page views recorded here and not yet in the shared site.",
            syncs.pending_page_views,
        )?;
        timestamp(
            e,
            "visitors_sync_last_success_timestamp",
            "When the last successful sync with the shared site was, as a Unix time.",
            syncs.last_synced_at,
        )?;
        let lost = ConstCounter::new(syncs.lost_parts);
        lost.encode(e.encode_descriptor(
            "visitors_sync_lost_parts",
            "Parts the shared site acknowledged, then lost, that this counter could not send again.",
            None,
            lost.metric_type(),
        )?)?;
        if let Some(offset) = syncs.clock_offset {
            let seconds = Unit::Seconds;
            let gauge = ConstGauge::new(offset.as_seconds_f64());
            gauge.encode(e.encode_descriptor(
                "visitors_sync_clock_offset",
                "This counter's clock minus the Redis server's, at the last sync.",
                Some(&seconds),
                gauge.metric_type(),
            )?)?;
        }
        Ok(())
    }
}

/// One gauge without labels.
fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &'static str,
    help: &str,
    value: impl EncodeGaugeValue,
) -> fmt::Result {
    let gauge = ConstGauge::new(value);
    gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)
}

/// One counter family with one label: a sample per `(label value, count)`. `name` is without
/// `_total`, which the encoder adds.
fn counters(
    encoder: &mut DescriptorEncoder,
    name: &'static str,
    help: &str,
    label: &'static str,
    samples: &[(&'static str, u64)],
) -> fmt::Result {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for &(value, count) in samples {
        ConstCounter::new(count).encode(family.encode_family(&[(label, value)])?)?;
    }
    Ok(())
}

/// A gauge of an instant in seconds since the Unix epoch (`name` without `_seconds`, which the
/// encoder adds from the unit), left out when there is none.
fn timestamp(
    encoder: &mut DescriptorEncoder,
    name: &'static str,
    help: &str,
    at: Option<OffsetDateTime>,
) -> fmt::Result {
    let Some(at) = at else {
        return Ok(());
    };
    let seconds = Unit::Seconds;
    // Whole seconds and the fraction apart: nanoseconds since 1970 as one `f64` would round
    // (10:08:15.25 would read 10:08:15.2499998).
    let gauge = ConstGauge::new(at.unix_timestamp() as f64 + f64::from(at.nanosecond()) / 1e9);
    gauge.encode(encoder.encode_descriptor(name, help, Some(&seconds), gauge.metric_type())?)
}
