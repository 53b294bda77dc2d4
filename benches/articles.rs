//! Article views and "most read" lists.
//!
//! `cargo bench --bench articles`

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use time::macros::datetime;
use visitor_counter::articles::{Article, Catalog};
use visitor_counter::{ArticleId, Counter, Period, VisitorId};

const VISITORS: u64 = 100_000;

fn counter() -> Counter {
    Counter::builder()
        .max_sessions(1_000_000)
        .session_timeout(Duration::from_secs(3600))
        .online_window(Duration::from_secs(3600))
        .build()
        .unwrap()
}

/// Spreads `iters` calls of `f(thread, i)` over `threads` threads; returns the wall time.
fn on_threads(threads: u64, iters: u64, f: impl Fn(u64, u64) + Send + Sync + 'static) -> Duration {
    let f = Arc::new(f);
    let barrier = Arc::new(Barrier::new(threads as usize + 1));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (f, barrier) = (f.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                for i in 0..iters / threads {
                    f(t, i);
                }
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    for h in handles {
        h.join().unwrap();
    }
    start.elapsed()
}

fn key(t: u64, i: u64) -> u64 {
    (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ t.wrapping_mul(0xD6E8_FEB8_6659_FD93)) % VISITORS
}

/// `view_article` against `hit`, both from 2 threads over 100k returning visitors.
fn view_vs_hit(cr: &mut Criterion) {
    let mut g = cr.benchmark_group("two_threads_100k_visitors");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(4));
    let c = counter();
    for v in 0..VISITORS {
        c.view_article(ArticleId::from(v % 1000), VisitorId::from(v));
    }
    {
        let c = c.clone();
        g.bench_function("hit", move |b| {
            b.iter_custom(|iters| {
                let c = c.clone();
                on_threads(2, iters, move |t, i| c.hit(VisitorId::from(key(t, i))))
            })
        });
    }
    g.bench_function("view_article (1,000 articles, 30 min dedup)", move |b| {
        b.iter_custom(|iters| {
            let c = c.clone();
            on_threads(2, iters, move |t, i| {
                let v = key(t, i);
                c.view_article(ArticleId::from((v >> 3) % 1000), VisitorId::from(v))
            })
        })
    });
    g.finish();
}

fn top_articles(cr: &mut Criterion) {
    let mut g = cr.benchmark_group("top_articles_today_10");
    for articles in [1_000u64, 100_000] {
        let c = Counter::builder()
            .article_dedup_window(Duration::ZERO)
            .build()
            .unwrap();
        for i in 0..articles * 3 {
            // Skewed: low ids are read more.
            let a = (i * i) % articles;
            c.view_article(ArticleId::from(a), VisitorId::from(i % 5000));
        }
        g.bench_with_input(BenchmarkId::from_parameter(articles), &c, |b, c| {
            b.iter(|| black_box(c.top_articles(Period::Today, 10)))
        });
    }
    g.finish();
}

fn catalog_lookup(cr: &mut Criterion) {
    let cat = Catalog::new();
    for i in 0..100_000u64 {
        cat.insert(Article::new(
            ArticleId::from(i),
            format!("tin-tuc-so-{i}"),
            format!("Tin tức số {i}"),
            ["thoi-su", "van-hoa", "the-thao", "kinh-te"][(i % 4) as usize],
            datetime!(2026-01-01 00:00 +07:00) + Duration::from_secs(i * 600),
        ))
        .unwrap();
    }
    let slugs: Vec<String> = (0..1024u64)
        .map(|i| format!("tin-tuc-so-{}", (i * 7919) % 100_000))
        .collect();
    let mut g = cr.benchmark_group("catalog_100k_articles");
    g.throughput(Throughput::Elements(1));
    let mut i = 0;
    g.bench_function("get_by_slug", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            black_box(cat.get_by_slug(&slugs[i]))
        })
    });
    g.bench_function("section newest 20", |b| {
        b.iter(|| black_box(cat.section("van-hoa", 20)))
    });
    g.finish();
}

criterion_group!(benches, view_vs_hit, top_articles, catalog_lookup);
criterion_main!(benches);
