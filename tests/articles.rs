//! Article views: refresh dedup, periods, "most read" rankings, the catalog.

use std::time::Duration;

use time::macros::{datetime, offset};
use time::OffsetDateTime;
use visitor_counter::articles::{Article, Catalog, CatalogError};
use visitor_counter::{ArticleId, Counter, ManualClock, Period};

#[path = "common/timeline.rs"]
mod timeline;
use timeline::v;

const NS: Duration = Duration::from_nanos(1);
const MIN: Duration = Duration::from_secs(60);

fn counter(start: OffsetDateTime, dedup: Duration) -> (Counter, ManualClock) {
    let clock = ManualClock::new(start);
    let c = Counter::builder()
        .utc_offset(offset!(+7))
        .article_dedup_window(dedup)
        .clock(clock.clone())
        .build()
        .unwrap();
    (c, clock)
}

fn a(n: u64) -> ArticleId {
    ArticleId::from(n)
}

#[test]
fn a_refresh_storm_counts_once_per_window() {
    let (c, clock) = counter(datetime!(2026-11-27 09:00 +07:00), 30 * MIN);
    // 09:00: first view counts.
    c.view_article(a(1), v(1));
    // 09:00 .. 09:29:59.999999999: 100 refreshes, none counted.
    for _ in 0..99 {
        clock.advance(18 * Duration::from_secs(1));
        c.view_article(a(1), v(1));
    }
    clock.set(datetime!(2026-11-27 09:29:59.999_999_999 +07:00));
    c.view_article(a(1), v(1));
    assert_eq!(c.article_stats(a(1)).views.today, 1);
    // 09:30:00 sharp: the window has passed, the next view counts.
    clock.advance(NS);
    c.view_article(a(1), v(1));
    assert_eq!(c.article_stats(a(1)).views.today, 2);
    // Another visitor, or another article, is not deduplicated against this one.
    c.view_article(a(1), v(2));
    c.view_article(a(2), v(1));
    assert_eq!(c.article_stats(a(1)).views.today, 3);
    assert_eq!(c.article_stats(a(2)).views.today, 1);
    // Every one of the 104 calls was a page view.
    assert_eq!(c.stats().page_views.today, 104);
}

#[test]
fn a_zero_window_counts_every_view() {
    let (c, _clock) = counter(datetime!(2026-11-27 09:00 +07:00), Duration::ZERO);
    for _ in 0..5 {
        c.view_article(a(1), v(1));
    }
    assert_eq!(c.article_stats(a(1)).views.today, 5);
    assert_eq!(c.stats().page_views.today, 5);
    assert_eq!(c.stats().visits.today, 1);
}

#[test]
fn unseen_articles_read_zero_and_rank_nowhere() {
    let (c, _clock) = counter(datetime!(2026-11-27 09:00 +07:00), 30 * MIN);
    assert_eq!(c.article_stats(a(9)).views, Default::default());
    assert!(c.top_articles(Period::Today, 10).is_empty());
    c.view_article(a(1), v(1));
    assert!(c.top_articles(Period::Today, 0).is_empty());
}

#[test]
fn article_periods_follow_the_site_calendar() {
    // Sunday 2024-03-31 23:59:59.999999999 +07:00, the last instant of a week, month and quarter.
    let (c, clock) = counter(
        datetime!(2024-03-31 23:59:59.999_999_999 +07:00),
        Duration::ZERO,
    );
    c.view_article(a(1), v(1));
    clock.advance(NS); // Monday 1 April, 00:00 local
    c.view_article(a(1), v(1));
    c.view_article(a(1), v(1));
    let views = c.article_stats(a(1)).views;
    let site = c.stats().page_views;
    assert_eq!((views.today, views.yesterday), (2, 1));
    assert_eq!((views.this_week, views.last_week), (2, 1));
    assert_eq!((views.this_month, views.last_month), (2, 1));
    assert_eq!((views.this_year, views.total), (3, 3));
    assert_eq!(
        views, site,
        "one view per page view here, so the periods must agree"
    );
}

#[test]
fn ties_are_ordered_by_smaller_id() {
    let (c, _clock) = counter(datetime!(2026-11-27 09:00 +07:00), Duration::ZERO);
    for id in [5, 3, 9, 1] {
        c.view_article(a(id), v(id));
    }
    c.view_article(a(9), v(1));
    assert_eq!(
        c.top_articles(Period::Today, 10),
        vec![(a(9), 2), (a(1), 1), (a(3), 1), (a(5), 1)]
    );
    assert_eq!(c.top_articles(Period::Today, 2), vec![(a(9), 2), (a(1), 1)]);
    // Yesterday's list is kept when the day rolls over; today's starts empty.
    assert!(c.top_articles(Period::Yesterday, 10).is_empty());
}

/// A deterministic stream of pseudo-random numbers.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[test]
fn maintained_rankings_match_a_full_sort_for_every_period() {
    let (c, clock) = counter(datetime!(2026-11-20 08:00 +07:00), Duration::ZERO);
    let mut rng = Rng(7);
    // 4,000 articles (about 250 per ranking shard, so shard lists overflow and evict), skewed
    // views over ten days and a month boundary; the popular set moves every 10,000 views, so
    // late risers have to displace articles already ranked.
    for step in 0..60_000u64 {
        let r = rng.next();
        let hot = 3000 - 400 * (step / 10_000) + (r >> 20) % 150;
        let article = if r.is_multiple_of(3) { r % 4000 } else { hot };
        c.view_article(a(article), v(r >> 40));
        if step.is_multiple_of(500) {
            clock.advance(Duration::from_secs(3600 * 3));
        }
        if step.is_multiple_of(7_500) || step == 59_999 {
            for p in Period::ALL {
                let full = c.top_articles(p, 1_000_000); // n > 100: a full scan
                for n in [1, 10, 100] {
                    let expected: Vec<_> = full.iter().take(n).copied().collect();
                    assert_eq!(c.top_articles(p, n), expected, "{p:?} n={n} step={step}");
                }
            }
        }
    }
}

#[test]
fn resetting_an_article_clears_its_counts_and_lets_the_next_one_rank() {
    let (c, clock) = counter(datetime!(2026-11-27 09:00 +07:00), 30 * MIN);
    // 120 articles in ranking order: article i has 120 - i views.
    for i in 0..120u64 {
        for k in 0..(120 - i) {
            c.view_article(a(i), v(k));
        }
    }
    assert_eq!(c.top_articles(Period::Today, 100)[99], (a(99), 21));
    c.reset_article(a(0));
    assert_eq!(c.article_stats(a(0)).views, Default::default());
    let top = c.top_articles(Period::Today, 100);
    assert_eq!(top[0], (a(1), 119));
    assert_eq!(top[99], (a(100), 20));
    // Its dedup state went too: visitor 0 counts again at once.
    c.view_article(a(0), v(0));
    assert_eq!(c.article_stats(a(0)).views.today, 1);
    clock.advance(MIN);
    c.view_article(a(0), v(0));
    assert_eq!(c.article_stats(a(0)).views.today, 1);
}

#[test]
fn the_dedup_table_is_bounded_under_a_flood() {
    let clock = ManualClock::new(datetime!(2026-11-27 09:00 +07:00));
    let c = Counter::builder()
        .clock(clock.clone())
        .max_dedup_entries(1_000)
        .build()
        .unwrap();
    for i in 0..20_000u64 {
        c.view_article(a(i % 50), v(i));
    }
    c.stats();
    assert!(
        c.tracked_article_views() <= 1_000,
        "{}",
        c.tracked_article_views()
    );
    let total: u64 = (0..50).map(|i| c.article_stats(a(i)).views.today).sum();
    assert_eq!(total, 20_000);
    // Expired entries go too: after the window nothing needs remembering.
    clock.advance(Duration::from_secs(31 * 60));
    c.view_article(a(0), v(0));
    c.stats();
    for _ in 0..5000 {
        c.hit(v(1));
    }
    assert!(
        c.tracked_article_views() <= 2,
        "{}",
        c.tracked_article_views()
    );
}

fn article(id: u64, slug: &str, section: &str, day: u8) -> Article {
    Article::new(
        a(id),
        slug,
        format!("Tin số {id}"),
        section,
        datetime!(2026-11-01 08:00 +07:00) + Duration::from_secs(86_400 * u64::from(day)),
    )
}

#[test]
fn the_catalog_indexes_by_id_slug_and_section() {
    let cat = Catalog::new();
    cat.insert(article(1, "mot", "thoi-su", 1)).unwrap();
    cat.insert(article(2, "hai", "thoi-su", 3)).unwrap();
    cat.insert(article(3, "ba", "van-hoa", 2)).unwrap();
    assert_eq!(
        cat.insert(article(1, "khac", "x", 1)),
        Err(CatalogError::DuplicateId(a(1)))
    );
    assert!(matches!(
        cat.insert(article(4, "mot", "x", 1)),
        Err(CatalogError::SlugTaken { by, .. }) if by == a(1)
    ));
    assert_eq!(cat.get_by_slug("hai").unwrap().id, a(2));
    let ids = |v: Vec<Article>| v.into_iter().map(|x| x.id).collect::<Vec<_>>();
    assert_eq!(ids(cat.section("thoi-su", 10)), vec![a(2), a(1)]);
    assert_eq!(ids(cat.latest(2)), vec![a(2), a(3)]);
    // Update moves the article between slug and section indexes.
    let old = cat.update(article(2, "hai-moi", "van-hoa", 3)).unwrap();
    assert_eq!(old.slug, "hai");
    assert!(cat.get_by_slug("hai").is_none());
    assert_eq!(ids(cat.section("van-hoa", 10)), vec![a(2), a(3)]);
    assert_eq!(ids(cat.section("thoi-su", 10)), vec![a(1)]);
    assert_eq!(
        cat.update(article(9, "chin", "x", 1)),
        Err(CatalogError::NotFound(a(9)))
    );
    assert_eq!(cat.remove(a(1)).unwrap().slug, "mot");
    assert!(cat.section("thoi-su", 10).is_empty());
    assert_eq!(cat.len(), 2);
}

#[test]
fn top_joins_with_the_catalog_and_removal_keeps_counts() {
    let (c, _clock) = counter(datetime!(2026-11-27 09:00 +07:00), Duration::ZERO);
    let cat = Catalog::new();
    for i in 1..=5 {
        cat.insert(article(i, &format!("tin-{i}"), "thoi-su", i as u8))
            .unwrap();
        for _ in 0..i {
            c.view_article(a(i), v(i));
        }
    }
    let titles = |v: Vec<(Article, u64)>| v.into_iter().map(|(x, n)| (x.id, n)).collect::<Vec<_>>();
    assert_eq!(
        titles(cat.top(&c, Period::Today, 2)),
        vec![(a(5), 5), (a(4), 4)]
    );
    cat.remove(a(5));
    // The removed article keeps its counts, but the joined list skips it and fills up.
    assert_eq!(c.article_stats(a(5)).views.today, 5);
    assert_eq!(
        titles(cat.top(&c, Period::Today, 2)),
        vec![(a(4), 4), (a(3), 3)]
    );
}
