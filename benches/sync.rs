//! Benches of a shared site (feature `redis`) against a local `redis-server` that the bench
//! starts itself (append-only file with `appendfsync everysec`, as a site would run it), on
//! the same two cores as the bench.
//!
//! - `hit_shared`: `hit` of returning visitors on a counter that shares its site while its sync
//!   thread syncs every second, against the same `hit` on a counter that does not;
//! - `sync`: one `sync` of 10,000 distinct visitors end to end (new visitors of the day, the
//!   same visitors returning, and with article views), reported as visitors per second;
//! - after the runs, the longest script call Redis logged (`SLOWLOG`), and Redis's memory per
//!   tracked visitor.
//!
//! Run with `cargo bench --bench sync`; results and targets are in `BENCHMARKS.md`.

#[path = "../tests/common/redis_server.rs"]
mod redis_server;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use redis_server::Server;
use time::macros::datetime;
use visitor_counter::{ArticleId, Counter, ManualClock, VisitorId};

const MINUTE: Duration = Duration::from_secs(60);
const VISITORS: u64 = 10_000;

fn server() -> Server {
    let s = Server::start_with("bench", &["--appendfsync", "everysec"]);
    let mut c = s.connection();
    for (k, v) in [
        ("slowlog-log-slower-than", "2000"),
        ("slowlog-max-len", "100000"),
    ] {
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg(k)
            .arg(v)
            .query(&mut c)
            .unwrap();
    }
    s
}

/// A bijective mixer: distinct indexes, random-looking ids.
fn id(i: u64) -> u64 {
    let mut z = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `hit` of returning visitors, `pool` of them in turn, on a counter that does not share its
/// site, one that does and synced once (the hot path's own cost), and one whose sync thread
/// syncs every second: every visitor of the pool is in every sync, so with 100k the sync thread
/// and Redis keep the machine's other core busy (100k distinct visitors a second), with 10k
/// a tenth of it.
fn hit_shared(c: &mut Criterion, server: &Server, pool: u64) {
    let build = |sync_every: Option<Duration>, site: &str| {
        let b = Counter::builder()
            .online_window(30 * MINUTE)
            .session_timeout(60 * MINUTE);
        let b = match sync_every {
            Some(every) => b.redis(server.url(), site).sync_every(every),
            None => b,
        };
        let counter = b.build().unwrap();
        for i in 0..pool {
            counter.hit(VisitorId::from(id(i)));
        }
        black_box(counter.stats());
        counter
    };
    let plain = build(None, "");
    // Synced once, then never: each visitor's first page view after that sync is logged, and
    // no other; the hot path's own cost, without a sync thread beside it.
    let quiet = build(Some(Duration::ZERO), &format!("quiet{pool}"));
    quiet.sync().unwrap();
    let shared = build(Some(Duration::from_secs(1)), &format!("hit{pool}"));
    shared.sync().unwrap();
    let mut group = c.benchmark_group(format!("hit_shared/returning/{}k", pool / 1_000));
    group.throughput(Throughput::Elements(1));
    for (name, counter) in [
        ("not_shared", &plain),
        ("shared_no_sync_thread", &quiet),
        ("shared_syncing_every_1s", &shared),
    ] {
        let mut i = 0u64;
        group.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) % pool;
                counter.hit(VisitorId::from(id(i)))
            })
        });
    }
    group.finish();
    // Criterion runs the three one after the other, and this machine's speed drifts by tens of
    // percent over a minute: the same hits, alternated in blocks of 200,000, give the ratio.
    let block = |counter: &Counter, start: u64| {
        let t = Instant::now();
        for i in start..start + 200_000 {
            counter.hit(VisitorId::from(id(i % pool)));
        }
        t.elapsed().as_secs_f64()
    };
    let mut ratios: Vec<(f64, f64)> = (0..40u64)
        .map(|r| {
            let base = block(&plain, r * 200_000);
            (
                block(&quiet, r * 200_000) / base,
                block(&shared, r * 200_000) / base,
            )
        })
        .collect();
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut quiet_r: Vec<f64> = ratios.iter().map(|r| r.0).collect();
    let mut shared_r: Vec<f64> = ratios.iter_mut().map(|r| r.1).collect();
    println!(
        "hit_shared/returning/{}k alternated: throughput against not_shared: {:.3}x without a \
         sync thread, {:.3}x with one (medians of 40 pairs of 200,000-hit blocks)",
        pool / 1_000,
        1.0 / median(&mut quiet_r),
        1.0 / median(&mut shared_r)
    );
    let status = shared.sync_status();
    println!(
        "shared counter: {} syncs, {} failures, {} page views pending at the end",
        status.syncs, status.failures, status.pending_page_views
    );
}

/// Visitors a site tracks before the syncs of `sync_10k` are timed.
const SITE: u64 = 100_000;

/// One `sync` of `VISITORS` distinct visitors' page views, recorded beforehand (not timed), on
/// a site that tracks `SITE` visitors: a share of them new of the day (new to the site), the
/// others returning within their session. Each kind runs on a fresh server, filled first, so
/// that what one kind left does not weigh on the next.
fn sync_10k(c: &mut Criterion) {
    let mut group = c.benchmark_group("sync/10k_visitors");
    group.throughput(Throughput::Elements(VISITORS));
    group.sample_size(10);
    // The share of visitors new of the day in each sync: a visitor reading for ten minutes
    // shows in about ten syncs, the first of its day only in one.
    for (kind, new_percent) in [
        ("returning", 0),
        ("20pc_new", 20),
        ("50pc_new", 50),
        ("new", 100),
        ("new_with_article_views", 100),
    ] {
        let server = server();
        let clock = ManualClock::new(datetime!(2026-03-02 08:00 +07:00));
        let counter = Counter::builder()
            .clock(clock.clone())
            .redis(server.url(), "sync")
            .sync_every(Duration::ZERO)
            .build()
            .unwrap();
        for v in 0..SITE {
            clock.advance(Duration::from_micros(500));
            counter.hit(VisitorId::from(id(v)));
            if v % VISITORS == VISITORS - 1 {
                counter.sync().unwrap();
            }
        }
        let mut round = 0u64;
        group.bench_function(kind, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    round += 1;
                    let fresh = VISITORS * new_percent / 100;
                    for i in 0..VISITORS {
                        // Five seconds of traffic: a page view every half millisecond.
                        clock.advance(Duration::from_micros(500));
                        // Fresh visitors are numbered past the site's; returning ones go
                        // round the site's visitors.
                        let v = if i < fresh {
                            SITE + round * VISITORS + i
                        } else {
                            (round * VISITORS + i) % SITE
                        };
                        let visitor = VisitorId::from(id(v));
                        if kind == "new_with_article_views" {
                            counter.view_article(ArticleId::from(v % 500), visitor);
                        } else {
                            counter.hit(visitor);
                        }
                    }
                    let start = Instant::now();
                    counter.sync().unwrap();
                    total += start.elapsed();
                }
                total
            })
        });
        report(&server, kind);
    }
    group.finish();
}

/// The longest script calls Redis logged (over 2 ms), and its append-only file's rewrites.
fn report(server: &Server, what: &str) {
    let mut c = server.connection();
    let log: Vec<redis::Value> = redis::cmd("SLOWLOG")
        .arg("GET")
        .arg(100_000)
        .query(&mut c)
        .unwrap();
    let mut longest = 0i64;
    let mut slow: Vec<(i64, String)> = Vec::new();
    for entry in &log {
        if let redis::Value::Array(fields) = entry {
            if let Some(redis::Value::Int(us)) = fields.get(2) {
                longest = longest.max(*us);
                // The call's seq (0: no part), records asked, and the part's length.
                let args = match fields.get(3) {
                    Some(redis::Value::Array(a)) => [6, 11, 21]
                        .iter()
                        .map(|&i| match a.get(i) {
                            Some(redis::Value::BulkString(b)) if i == 21 => {
                                String::from_utf8_lossy(&b[b.len().saturating_sub(24)..])
                                    .into_owned()
                            }
                            Some(redis::Value::BulkString(b)) => {
                                String::from_utf8_lossy(b).into_owned()
                            }
                            _ => "-".into(),
                        })
                        .collect::<Vec<_>>()
                        .join(" | "),
                    _ => String::new(),
                };
                slow.push((*us, args));
            }
        }
    }
    slow.sort_by_key(|s| std::cmp::Reverse(s.0));
    for (us, args) in slow.iter().take(5) {
        println!("  {:.2} ms: {args}", *us as f64 / 1e3);
    }
    println!(
        "{what}: script calls over 2 ms: {}; longest: {:.2} ms",
        log.len(),
        longest as f64 / 1e3
    );
    let persistence: String = redis::cmd("INFO").arg("persistence").query(&mut c).unwrap();
    let stats: String = redis::cmd("INFO").arg("stats").query(&mut c).unwrap();
    for line in persistence.lines().chain(stats.lines()) {
        if [
            "aof_rewrites:",
            "aof_current_size:",
            "latest_fork_usec:",
            "total_forks:",
        ]
        .iter()
        .any(|k| line.starts_with(k))
        {
            println!("  redis {line}");
        }
    }
}

/// Redis's memory per tracked visitor: 100k visitors of one day on a fresh site, one sync
/// each 10k, with one page view each (and, in a second site, one article view each too).
fn memory() {
    let server = server();
    let mut c = server.connection();
    let used = |c: &mut redis::Connection| -> i64 {
        let info: String = redis::cmd("INFO").arg("memory").query(c).unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap()
    };
    for (site, articles) in [("pages", false), ("articles", true)] {
        let before = used(&mut c);
        let clock = ManualClock::new(datetime!(2026-03-02 08:00 +07:00));
        let counter = Counter::builder()
            .clock(clock.clone())
            .redis(server.url(), site)
            .sync_every(Duration::ZERO)
            .build()
            .unwrap();
        let n = 100_000u64;
        for v in 0..n {
            let visitor = VisitorId::from(id(v));
            if articles {
                counter.view_article(ArticleId::from(v % 1_000), visitor);
            } else {
                counter.hit(visitor);
            }
            if v % 10_000 == 9_999 {
                counter.sync().unwrap();
            }
        }
        let after = used(&mut c);
        println!(
            "Redis memory for {n} tracked visitors ({}): {:.1} MB, {:.0} bytes per visitor",
            if articles {
                "a page view and an article view each"
            } else {
                "a page view each"
            },
            (after - before) as f64 / 1e6,
            (after - before) as f64 / n as f64
        );
    }
}

fn benches(c: &mut Criterion) {
    let server = server();
    hit_shared(c, &server, 100_000);
    hit_shared(c, &server, 10_000);
    report(&server, "hit_shared");
    drop(server);
    sync_10k(c);
    memory();
}

criterion_group!(sync_benches, benches);
criterion_main!(sync_benches);
