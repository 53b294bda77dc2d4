//! Several counters sharing one site through a real `redis-server` (feature `redis`), against
//! one plain counter fed the same page views.
//!
//! Every counter reads one `ManualClock`; nothing sleeps to make time pass. Each test starts its
//! own server (see `common/redis_server.rs`).

#[path = "common/redis_server.rs"]
mod redis_server;

use std::time::Duration;

use redis_server::Server;
use time::macros::{datetime, offset};
use time::OffsetDateTime;
use visitor_counter::{
    ArticleId, ArticleStats, Counter, DayCounts, ManualClock, Period, Stats, VisitorId,
};

/// Thursday 29 January 2026, 20:00 at +07:00: the runs cross midnights, the end of a week
/// (Sunday 1 February) and of a month.
const START: OffsetDateTime = datetime!(2026-01-29 20:00 +07:00);

fn shared(server: &Server, site: &str, clock: &ManualClock) -> Counter {
    Counter::builder()
        .utc_offset(offset!(+7))
        .clock(clock.clone())
        .redis(server.url(), site)
        .sync_every(Duration::ZERO)
        .build()
        .unwrap()
}

fn plain(clock: &ManualClock) -> Counter {
    Counter::builder()
        .utc_offset(offset!(+7))
        .clock(clock.clone())
        .build()
        .unwrap()
}

/// Every reading a counter gives, for comparing two counters.
#[derive(Debug, PartialEq)]
struct Readings {
    stats: Stats,
    history: Vec<DayCounts>,
    articles: Vec<ArticleStats>,
    top: Vec<Vec<(ArticleId, u64)>>,
}

fn readings(c: &Counter, articles: u64) -> Readings {
    Readings {
        stats: c.stats(),
        history: c.history(14),
        articles: (0..articles)
            .map(|a| c.article_stats(ArticleId::from(a)))
            .collect(),
        top: Period::ALL
            .iter()
            .flat_map(|&p| [c.top_articles(p, 3), c.top_articles(p, 200)])
            .collect(),
    }
}

/// A reproducible stream of numbers below a bound.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn sync_all(counters: &[Counter]) {
    for c in counters {
        c.sync().unwrap();
    }
}

/// Three counters, visitors moving between them only once their page views were synced, syncs
/// in random order: after every counter synced twice, each reads exactly as the plain counter.
#[test]
fn three_counters_read_as_one_counter_of_every_page_view() {
    let server = Server::start("three");
    let clock = ManualClock::new(START);
    let counters: Vec<Counter> = (0..3).map(|_| shared(&server, "three", &clock)).collect();
    let one = plain(&clock);
    let (visitors, articles) = (150usize, 12u64);
    let mut home = vec![0usize; visitors];
    // Whether a visitor has page views its counter has not synced.
    let mut unsynced = vec![false; visitors];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for step in 0..3_000 {
        if rng.below(20) == 0 {
            let c = rng.below(3) as usize;
            counters[c].sync().unwrap();
            for v in 0..visitors {
                if home[v] == c {
                    unsynced[v] = false;
                }
            }
        } else {
            let v = rng.below(visitors as u64) as usize;
            if !unsynced[v] && rng.below(3) == 0 {
                home[v] = rng.below(3) as usize;
            }
            let id = VisitorId::from(v as u64);
            if rng.below(5) < 2 {
                let a = ArticleId::from(rng.below(articles));
                counters[home[v]].view_article(a, id);
                one.view_article(a, id);
            } else {
                counters[home[v]].hit(id);
                one.hit(id);
            }
            unsynced[v] = true;
        }
        // Mostly a minute or two, now and then hours: about five days in all.
        let step_secs = if rng.below(100) == 0 {
            3 * 3600
        } else {
            rng.below(150)
        };
        clock.advance(Duration::from_secs(step_secs));
        if step % 500 == 499 {
            sync_all(&counters);
            sync_all(&counters);
            unsynced.iter_mut().for_each(|u| *u = false);
            let want = readings(&one, articles);
            for (i, c) in counters.iter().enumerate() {
                assert_eq!(readings(c, articles), want, "counter {i} at step {step}");
            }
        }
    }
    let s = one.stats();
    assert!(s.page_views.total > 2_500 && s.visits.total > 150, "{s:?}");
    assert!(
        s.visitors.this_month > 0 && s.visitors.last_month > 0,
        "{s:?}"
    );
    assert!(s.page_views.last_week > 0, "{s:?}");
}

/// More distinct visitors in a day than the site keeps exactly: the site's sketch is built
/// from the same hashes as a plain counter's, so the estimates are the same.
#[test]
fn past_4096_visitors_a_day_the_estimates_agree_too() {
    let server = Server::start("many");
    let clock = ManualClock::new(START);
    let counters: Vec<Counter> = (0..2).map(|_| shared(&server, "many", &clock)).collect();
    let one = plain(&clock);
    for v in 0..6_000u64 {
        counters[(v % 2) as usize].hit(VisitorId::from(v));
        one.hit(VisitorId::from(v));
        if v % 1_000 == 999 {
            clock.advance(Duration::from_secs(1));
            sync_all(&counters);
        }
    }
    sync_all(&counters);
    sync_all(&counters);
    let want = one.stats();
    assert!(want.visitors.today > 5_800, "{want:?}");
    for c in &counters {
        assert_eq!(c.stats(), want);
        assert_eq!(c.history(3), one.history(3));
    }
}

/// Visitors hopping to another counter on every page view, with no sync in between: the site
/// sees their page views out of order. Page views, online and distinct visitors stay exact;
/// visits are at least one per visitor and at most one per page view.
#[test]
fn hopping_visitors_keep_page_views_online_and_visitors_exact() {
    let server = Server::start("hop");
    let clock = ManualClock::new(START);
    let counters: Vec<Counter> = (0..3).map(|_| shared(&server, "hop", &clock)).collect();
    let one = plain(&clock);
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for step in 0..2_000u64 {
        let v = VisitorId::from(rng.below(80));
        counters[(step % 3) as usize].hit(v);
        one.hit(v);
        clock.advance(Duration::from_secs(rng.below(240)));
        if rng.below(15) == 0 {
            counters[rng.below(3) as usize].sync().unwrap();
        }
    }
    sync_all(&counters);
    sync_all(&counters);
    let want = one.stats();
    for c in &counters {
        let got = c.stats();
        assert_eq!(got.page_views, want.page_views);
        assert_eq!(got.online, want.online);
        assert_eq!(got.visitors, want.visitors);
        assert!(got.visits.total >= got.visitors.total, "{got:?}");
        assert!(got.visits.total <= got.page_views.total, "{got:?}");
        let (h, w) = (c.history(5), one.history(5));
        for (a, b) in h.iter().zip(&w) {
            assert_eq!((a.page_views, a.visitors), (b.page_views, b.visitors));
        }
    }
}

/// A counter that is not shared has nothing to sync.
#[test]
fn a_counter_that_shares_no_site_cannot_sync() {
    let c = plain(&ManualClock::new(START));
    let err = c.sync().unwrap_err();
    assert!(err.to_string().contains("redis"), "{err}");
    assert_eq!(c.sync_status(), Default::default());
}
