//! Benches of a shared site (feature `redis`, schema 3) against local `redis-server`s that the
//! bench starts itself (append-only file with `appendfsync everysec`, as a site would run it),
//! on the same cores as the bench.
//!
//! - `hit`: `hit_shared`, `hit` of returning visitors on a counter that shares its site while
//!   its sync thread syncs every second, against the same `hit` on a counter that does not;
//!   then the longest script calls Redis logged meanwhile (`SLOWLOG`);
//! - `sync`: `sync/10k_visitors`, one `sync` of 10,000 distinct visitors end to end (returning
//!   visitors, new visitors of the day, with article views), reported as visitors per second,
//!   then per kind the Redis time of a sync (`INFO commandstats`: the script, and the commands
//!   it called) and the longest script calls;
//! - `tls`: `sync_transport/10k_visitors`, the same syncs over plain TCP and over TLS
//!   (`rediss://`) to one server that listens on both, also alternated inside one run for their
//!   ratio. The library checks the server's certificate against `SSL_CERT_FILE`, which must be
//!   set before the process starts: the bench starts the server, then runs itself again with
//!   `SSL_CERT_FILE` pointing at the CA made for it (and `VC_BENCH_TLS_URL`, `VC_BENCH_TCP_URL`
//!   at the server), and that child measures;
//! - `memory`: Redis's memory per tracked visitor, and what holds it.
//!
//! Run with `cargo bench --bench sync`; `VC_BENCH_PARTS=sync,tls` (a comma-separated list of
//! `hit`, `sync`, `tls`, `memory`) runs only those parts. Results and targets are in
//! `BENCHMARKS.md`.

#[path = "../tests/common/redis_server.rs"]
mod redis_server;

use std::collections::BTreeMap;
use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{BenchmarkGroup, Criterion, Throughput};
use redis_server::Server;
use time::macros::datetime;
use visitor_counter::{ArticleId, Counter, ManualClock, VisitorId};

const MINUTE: Duration = Duration::from_secs(60);
const VISITORS: u64 = 10_000;
/// Visitors a site tracks before the syncs of 10k are timed.
const SITE: u64 = 100_000;
/// Set in the child process that measures TLS: the server's URLs with TLS and without.
const TLS_URL: &str = "VC_BENCH_TLS_URL";
const TCP_URL: &str = "VC_BENCH_TCP_URL";

fn server() -> Server {
    let s = Server::start_with("bench", &["--appendfsync", "everysec"]);
    configure(&mut s.connection());
    s
}

/// The bench's settings of a server: commands over 1 ms logged in the slow log, as many as
/// there are (for [`report`]; the commands a script calls are logged too), `appendfsync everysec` (a TLS server from the test helper starts with
/// `always`); then those of `VC_BENCH_REDIS_CONFIG`, as `name=value,name=value`
/// (`auto-aof-rewrite-percentage=0`, say).
fn configure(c: &mut redis::Connection) {
    let more = std::env::var("VC_BENCH_REDIS_CONFIG").unwrap_or_default();
    let more = more.split(',').filter_map(|kv| kv.split_once('='));
    let settings = [
        ("slowlog-log-slower-than", "1000"),
        ("slowlog-max-len", "100000"),
        ("appendfsync", "everysec"),
    ];
    for (k, v) in settings.into_iter().chain(more) {
        redis::cmd("CONFIG")
            .arg("SET")
            .arg(k)
            .arg(v)
            .exec(c)
            .unwrap();
    }
}

/// Forgets the slow calls and command statistics so far.
fn reset(c: &mut redis::Connection) {
    redis::cmd("SLOWLOG").arg("RESET").exec(c).unwrap();
    redis::cmd("CONFIG").arg("RESETSTAT").exec(c).unwrap();
}

/// A connection to `url` (with TLS: trusting what `SSL_CERT_FILE` names).
fn connect(url: &str) -> redis::Connection {
    redis::Client::open(url)
        .unwrap()
        .get_connection_with_timeout(Duration::from_secs(5))
        .unwrap()
}

/// A bijective mixer: distinct indexes, random-looking ids.
fn id(i: u64) -> u64 {
    let mut z = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `hit` of returning visitors, `pool` of them in turn, on a counter that does not share its
/// site, one that does and synced once (the hot path's own cost), and one whose sync thread
/// syncs every second: every visitor of the pool is in every sync, so with 100k the sync thread
/// and Redis keep the machine's other core busy (100k distinct visitors a second offered; after
/// a sync that took over a second the next starts within 0.1 s, and the bench prints how many
/// visitors a second the thread sent), with 10k a tenth of it.
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
    // Redis's statistics from here on: the sync thread's calls (see `main`).
    reset(&mut server.connection());
    let started = Instant::now();
    let syncs_before = shared.sync_status().syncs;
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
    let (quiet_r, shared_r): (Vec<f64>, Vec<f64>) = (0..40u64)
        .map(|r| {
            let base = block(&plain, r * 200_000);
            (
                base / block(&quiet, r * 200_000),
                base / block(&shared, r * 200_000),
            )
        })
        .unzip();
    println!(
        "hit_shared/returning/{}k alternated: throughput against not_shared: {:.3}x without a \
         sync thread, {:.3}x with one (medians of 40 pairs of 200,000-hit blocks)",
        pool / 1_000,
        median(quiet_r),
        median(shared_r)
    );
    let status = shared.sync_status();
    let syncs = status.syncs - syncs_before;
    println!(
        "shared counter: {syncs} syncs of {pool} visitors in {:.1} s ({:.0} visitors/s synced), \
         {} failures, {} page views pending at the end",
        started.elapsed().as_secs_f64(),
        (syncs * pool) as f64 / started.elapsed().as_secs_f64(),
        status.failures,
        status.pending_page_views
    );
}

/// Each kind of sync of `sync/10k_visitors`: its name, and the share of its visitors new of the
/// day (new to the site), the others returning within their session.
const KINDS: [(&str, u64); 5] = [
    ("returning", 0),
    ("20pc_new", 20),
    ("50pc_new", 50),
    ("new", 100),
    ("new_with_article_views", 100),
];

/// CPU time a thread has run (`/proc/<task>/schedstat`, in nanoseconds): `thread-self` for the
/// calling thread, `<pid>/task/<pid>` for a process's main thread (Redis runs commands there).
fn cpu(task: &str) -> Duration {
    std::fs::read_to_string(format!("/proc/{task}/schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

/// What syncs cost: wall time, the CPU time of the thread that synced (the counter's cut and
/// parts, the client, TLS), and that of Redis's main thread meanwhile (the script, the
/// transport, TLS).
#[derive(Clone, Copy, Default)]
struct Cost {
    syncs: u64,
    wall: Duration,
    client: Duration,
    server: Duration,
}

impl std::ops::AddAssign for Cost {
    fn add_assign(&mut self, o: Cost) {
        self.syncs += o.syncs;
        self.wall += o.wall;
        self.client += o.client;
        self.server += o.server;
    }
}

impl Cost {
    /// Milliseconds per sync: wall, client CPU, server CPU.
    fn per_sync(&self) -> [f64; 3] {
        let n = self.syncs.max(1) as f64;
        [self.wall, self.client, self.server].map(|d| d.as_secs_f64() * 1e3 / n)
    }
}

/// A counter of a site of `SITE` visitors at `url`, filled (one page view each, synced in tens
/// of thousands), to time syncs of 10k visitors on: [`Site::record`] then `sync`.
struct Site {
    clock: ManualClock,
    counter: Counter,
    round: u64,
    /// Redis's main thread, for [`cpu`].
    server_task: String,
}

impl Site {
    fn new(url: &str, name: &str) -> Site {
        let clock = ManualClock::new(datetime!(2026-03-02 08:00 +07:00));
        let counter = Counter::builder()
            .clock(clock.clone())
            .redis(url, name)
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
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query(&mut connect(url))
            .unwrap();
        let pid = info
            .lines()
            .find_map(|l| l.strip_prefix("process_id:"))
            .unwrap()
            .trim()
            .to_owned();
        Site {
            clock,
            counter,
            round: 0,
            server_task: format!("{pid}/task/{pid}"),
        }
    }

    /// Records (not timed) a page view by each of `VISITORS` distinct visitors, `new_percent`
    /// of them new to the site, over five seconds of the counter's clock; with an article view
    /// each if `articles`.
    fn record(&mut self, new_percent: u64, articles: bool) {
        self.round += 1;
        let fresh = VISITORS * new_percent / 100;
        for i in 0..VISITORS {
            // Five seconds of traffic: a page view every half millisecond.
            self.clock.advance(Duration::from_micros(500));
            // Fresh visitors are numbered past the site's; returning ones go round the site's
            // visitors.
            let v = if i < fresh {
                SITE + self.round * VISITORS + i
            } else {
                (self.round * VISITORS + i) % SITE
            };
            let visitor = VisitorId::from(id(v));
            if articles {
                self.counter.view_article(ArticleId::from(v % 500), visitor);
            } else {
                self.counter.hit(visitor);
            }
        }
    }

    /// Records, then syncs: what the sync cost.
    fn sync(&mut self, new_percent: u64, articles: bool) -> Cost {
        self.record(new_percent, articles);
        let (client, server) = (cpu("thread-self"), cpu(&self.server_task));
        let start = Instant::now();
        self.counter.sync().unwrap();
        Cost {
            syncs: 1,
            wall: start.elapsed(),
            client: cpu("thread-self") - client,
            server: cpu(&self.server_task) - server,
        }
    }
}

/// Benches `site`'s syncs of `kind` as `name` in `group`; answers what all of them cost
/// (criterion's warm-up too, as Redis's statistics count them).
fn bench_syncs(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    site: &mut Site,
    (new_percent, articles): (u64, bool),
) -> Cost {
    let mut all = Cost::default();
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let cost = site.sync(new_percent, articles);
                total += cost.wall;
                all += cost;
            }
            total
        })
    });
    all
}

/// One `sync` of `VISITORS` distinct visitors' page views, recorded beforehand (not timed), on
/// a site that tracks `SITE` visitors. Each kind runs on a fresh server, filled first, so that
/// what one kind left does not weigh on the next.
fn sync_10k(c: &mut Criterion) {
    let mut group = c.benchmark_group("sync/10k_visitors");
    group.throughput(Throughput::Elements(VISITORS));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(8));
    for (kind, new_percent) in KINDS {
        let server = server();
        let mut site = Site::new(&server.url(), "sync");
        let mut c = server.connection();
        reset(&mut c);
        let articles = kind == "new_with_article_views";
        let cost = bench_syncs(&mut group, kind, &mut site, (new_percent, articles));
        redis_time(&mut c, kind, &cost);
        report(&mut c, kind);
    }
    group.finish();
}

/// `INFO commandstats`: command -> (calls, microseconds).
fn command_stats(c: &mut redis::Connection) -> BTreeMap<String, (u64, u64)> {
    let info: String = redis::cmd("INFO").arg("commandstats").query(c).unwrap();
    let mut out = BTreeMap::new();
    for line in info.lines() {
        let Some((name, fields)) = line
            .strip_prefix("cmdstat_")
            .and_then(|l| l.split_once(':'))
        else {
            continue;
        };
        let field = |f: &str| -> u64 {
            fields
                .split(',')
                .find_map(|kv| kv.strip_prefix(f)?.strip_prefix('='))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        out.insert(name.to_owned(), (field("calls"), field("usec")));
    }
    out
}

/// Prints where a sync's time went: its wall time and CPU times (see [`Cost`]); Redis's time in
/// the script (from `INFO commandstats`, since the last [`reset`]) per sync and per visitor,
/// and the commands the script called (their own time; the rest of the script's is Lua's and
/// the calls' overhead).
fn redis_time(c: &mut redis::Connection, what: &str, cost: &Cost) {
    let stats = command_stats(c);
    let (calls, usec) = stats.get("evalsha").copied().unwrap_or_default();
    let syncs = cost.syncs.max(1) as f64;
    let [wall, client, server] = cost.per_sync();
    let script = usec as f64 / 1e3 / syncs;
    println!(
        "{what}: {} syncs, each {wall:.1} ms wall, CPU {client:.1} ms here and {server:.1} ms \
         in Redis, of which the script {script:.1} ms ({:.2} us a visitor; {calls} calls, {:.0} \
         us a call)",
        cost.syncs,
        script * 1e3 / VISITORS as f64,
        usec as f64 / calls.max(1) as f64,
    );
    let mut inner: Vec<(&String, &(u64, u64))> = stats
        .iter()
        .filter(|(name, _)| {
            !["evalsha", "eval", "info", "config", "slowlog"].contains(&name.as_str())
        })
        .collect();
    inner.sort_by_key(|(_, (_, us))| std::cmp::Reverse(*us));
    let inner_ms: f64 = inner
        .iter()
        .map(|(_, (_, us))| *us as f64 / 1e3)
        .sum::<f64>()
        / syncs;
    let listed: Vec<String> = inner
        .iter()
        .take(8)
        .map(|(name, (n, us))| {
            format!(
                "{name} {:.1} ms ({:.0} calls)",
                *us as f64 / 1e3 / syncs,
                *n as f64 / syncs
            )
        })
        .collect();
    println!(
        "  a sync's commands in the script: {inner_ms:.1} ms ({}); Lua and the calls' \
         overhead: {:.1} ms",
        listed.join(", "),
        script - inner_ms
    );
}

/// The script calls Redis logged since the last [`reset`] (those over 1 ms: see
/// [`configure`]): the percentiles of all calls' durations (of those `INFO commandstats`
/// counted) that are over 1 ms, the longest, and how many took over 10 ms; and the
/// append-only file's rewrites (a rewrite's child process competes for the two cores).
fn report(c: &mut redis::Connection, what: &str) {
    let log: Vec<redis::Value> = redis::cmd("SLOWLOG").arg("GET").arg(-1).query(c).unwrap();
    let mut calls: Vec<(i64, String)> = Vec::new();
    for entry in &log {
        let redis::Value::Array(fields) = entry else {
            continue;
        };
        let (Some(redis::Value::Int(us)), Some(redis::Value::Array(args))) =
            (fields.get(2), fields.get(3))
        else {
            continue;
        };
        let text = |i: usize| match args.get(i) {
            Some(redis::Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
            _ => String::new(),
        };
        if !text(0).eq_ignore_ascii_case("evalsha") {
            continue;
        }
        // Keys: the site's 6 and the counter's (a call without a part); then each visitor's
        // entry, 3 per period named, and each article.
        let keys: usize = text(2).parse().unwrap_or(0);
        let call = if keys <= 7 {
            "a read (no part)".to_owned()
        } else {
            format!("a part, {keys} keys")
        };
        calls.push((*us, call));
    }
    calls.sort_by_key(|s| std::cmp::Reverse(s.0));
    let (all, usec) = command_stats(c).get("evalsha").copied().unwrap_or_default();
    let at = |q: f64| match calls.get((all as f64 * (1.0 - q)) as usize) {
        Some(call) => format!("{:.2} ms", call.0 as f64 / 1e3),
        None => "under 1 ms".into(),
    };
    println!(
        "{what}: {all} script calls: mean {:.2} ms, median {}, 99th percentile {}, 99.9th {}, \
         longest {}; {} over 10 ms",
        usec as f64 / 1e3 / all.max(1) as f64,
        at(0.5),
        at(0.99),
        at(0.999),
        at(1.0),
        calls.iter().filter(|c| c.0 > 10_000).count()
    );
    for (us, call) in calls.iter().take(3) {
        println!("  {:.2} ms: {call}", *us as f64 / 1e3);
    }
    let persistence: String = redis::cmd("INFO").arg("persistence").query(c).unwrap();
    let rewrites: Vec<&str> = persistence
        .lines()
        .filter(|l| {
            ["aof_rewrites:", "latest_fork_usec:"]
                .iter()
                .any(|k| l.starts_with(k))
        })
        .collect();
    println!("  redis {}", rewrites.join(", "));
}

/// The kinds `sync_transport` compares plain TCP and TLS on.
const TRANSPORT_KINDS: [(&str, u64); 2] = [("returning", 0), ("new", 100)];
/// Pairs of syncs `sync_transport` alternates.
const ROUNDS: usize = 40;

/// Starts a TLS server, opens a plain TCP port on it too (the same server, so that the two
/// transports' syncs find the same state), and runs this bench again with `SSL_CERT_FILE`
/// pointing at its CA (see the top of this file), where [`transport_child`] measures.
fn transport() {
    if !Server::tls_available() {
        println!("sync_transport: openssl or redis-server missing, not measured");
        return;
    }
    let tls = Server::start_tls("bench-tls");
    let mut c = tls.connection();
    configure(&mut c);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("port")
        .arg(port)
        .exec(&mut c)
        .unwrap();
    let status = Command::new(std::env::current_exe().unwrap())
        .args(std::env::args_os().skip(1))
        .env(TLS_URL, tls.url())
        .env(TCP_URL, format!("redis://127.0.0.1:{port}/"))
        .env("SSL_CERT_FILE", tls.ca_file())
        .status()
        .unwrap();
    assert!(status.success(), "the TLS bench's child process failed");
}

/// In the child process (`SSL_CERT_FILE` set): syncs of 10k visitors over plain TCP and over
/// TLS to one server, each transport a site of its own, by criterion, then alternated.
fn transport_child(c: &mut Criterion, tls_url: &str) {
    let tcp_url = std::env::var(TCP_URL).unwrap();
    let urls = [("tcp", tcp_url), ("tls", tls_url.to_owned())];
    let mut group = c.benchmark_group("sync_transport/10k_visitors");
    group.throughput(Throughput::Elements(VISITORS));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(8));
    for (kind, new_percent) in TRANSPORT_KINDS {
        let mut sites: Vec<(&str, Site, redis::Connection)> = urls
            .iter()
            .map(|(transport, url)| {
                let mut c = connect(url);
                configure(&mut c);
                let site = Site::new(url, &format!("{kind}-{transport}"));
                (*transport, site, c)
            })
            .collect();
        for (transport, site, c) in &mut sites {
            let name = format!("{kind}/{transport}");
            reset(c);
            let cost = bench_syncs(&mut group, &name, site, (new_percent, false));
            redis_time(c, &name, &cost);
        }
        // The two one after the other move with the machine: alternated, the order reversed
        // every other round; the medians of the pairs' ratios (wall time, and the CPU time of
        // this thread and Redis's main thread) and of their differences.
        let mut totals = [Cost::default(); 2];
        let pairs: Vec<[Cost; 2]> = (0..ROUNDS)
            .map(|round| {
                let mut pair = [Cost::default(); 2];
                for i in 0..2 {
                    let i = if round % 2 == 0 { i } else { 1 - i };
                    pair[i] = sites[i].1.sync(new_percent, false);
                    totals[i] += pair[i];
                }
                pair
            })
            .collect();
        let [tcp, tls] = totals.map(|t| t.per_sync());
        println!(
            "sync_transport/10k_visitors/{kind} alternated ({ROUNDS} pairs), means, TCP then \
             TLS: wall {:.1} / {:.1} ms, CPU here {:.1} / {:.1} ms, CPU in Redis {:.1} / {:.1} ms",
            tcp[0], tls[0], tcp[1], tls[1], tcp[2], tls[2]
        );
        let wall = |c: &Cost| c.wall.as_secs_f64() * 1e3;
        let cpu = |c: &Cost| (c.client + c.server).as_secs_f64() * 1e3;
        let of = |f: &dyn Fn(&[Cost; 2]) -> f64| median(pairs.iter().map(f).collect());
        println!(
            "  TLS / TCP, medians of the pairs: wall {:.3}x ({:+.1} ms), CPU here and in Redis \
             {:.3}x ({:+.1} ms)",
            of(&|p| wall(&p[1]) / wall(&p[0])),
            of(&|p| wall(&p[1]) - wall(&p[0])),
            of(&|p| cpu(&p[1]) / cpu(&p[0])),
            of(&|p| cpu(&p[1]) - cpu(&p[0])),
        );
    }
    group.finish();
}

/// Redis's memory per tracked visitor: 100k visitors of one day on a fresh site, one sync
/// each 10k, with one page view each (and, in a second site, one article view each too); then
/// what holds it: `MEMORY USAGE` of the online set, of the visitors' entries (a sample of
/// 1,000) and of the rest of the site's keys.
fn memory() {
    let server = server();
    let mut c = server.connection();
    // The slow log's entries would count in the memory measured.
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("slowlog-log-slower-than")
        .arg(-1)
        .exec(&mut c)
        .unwrap();
    reset(&mut c);
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
        // What holds it, by kind of key (`MEMORY USAGE`: a key's value, name and entry in the
        // key space; not its entry in the expiry table, the tables' bucket arrays or the
        // allocator's slack, which `used_memory` also counts).
        let prefix = format!("vc:{{{site}}}:");
        let mut by_kind: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        let mut cursor = 0u64;
        let mut sampled_entries = 0u64;
        loop {
            let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{prefix}*"))
                .arg("COUNT")
                .arg(1_000)
                .query(&mut c)
                .unwrap();
            for key in keys {
                let rest = &key[prefix.len()..];
                let kind = match rest.iter().position(|&b| b == b':') {
                    Some(i) if rest.starts_with(b"v:") => {
                        if sampled_entries >= 1_000 {
                            by_kind.entry("v".into()).or_default().0 += 1;
                            continue;
                        }
                        sampled_entries += 1;
                        String::from_utf8_lossy(&rest[..i]).into_owned()
                    }
                    Some(i) => String::from_utf8_lossy(&rest[..i]).into_owned(),
                    None => String::from_utf8_lossy(rest).into_owned(),
                };
                let bytes: u64 = redis::cmd("MEMORY")
                    .arg("USAGE")
                    .arg(&key)
                    .arg("SAMPLES")
                    .arg(0)
                    .query(&mut c)
                    .unwrap_or(0);
                let e = by_kind.entry(kind).or_default();
                e.0 += 1;
                e.1 += bytes;
            }
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        let mut counted = 0.0;
        let parts: Vec<String> = by_kind
            .iter()
            .map(|(kind, &(keys, bytes))| {
                let bytes = if kind == "v" {
                    // A sample of the entries: scaled to all of them.
                    bytes as f64 * keys as f64 / sampled_entries.max(1) as f64
                } else {
                    bytes as f64
                };
                counted += bytes;
                format!("{kind}: {keys} keys, {:.0} B a visitor", bytes / n as f64)
            })
            .filter(|p| !p.ends_with(" 0 B a visitor"))
            .collect();
        println!(
            "  by key (MEMORY USAGE): {}; the rest (expiry entries, hash tables' buckets, \
             allocator slack): {:.0} B a visitor",
            parts.join("; "),
            ((after - before) as f64 - counted) / n as f64
        );
    }
}

/// Which parts of the bench run (`VC_BENCH_PARTS`, default all).
fn runs(part: &str) -> bool {
    std::env::var("VC_BENCH_PARTS").map_or(true, |parts| parts.split(',').any(|p| p == part))
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    if let Ok(url) = std::env::var(TLS_URL) {
        transport_child(&mut c, &url);
        c.final_summary();
        return;
    }
    if runs("hit") {
        let server = server();
        let mut conn = server.connection();
        for pool in [100_000, 10_000] {
            hit_shared(&mut c, &server, pool);
            report(&mut conn, &format!("hit_shared {}k", pool / 1_000));
        }
    }
    if runs("sync") {
        sync_10k(&mut c);
    }
    if runs("tls") {
        transport();
    }
    if runs("memory") {
        memory();
    }
    c.final_summary();
}
