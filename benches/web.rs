//! Benches of the tower layer (issue 21): a page view it counts against a beacon it answers and
//! counts itself (beacon mode), on an axum `Router` with one `/` route returning `Html`,
//! driven with `tower::ServiceExt::oneshot` in a current-thread tokio runtime. No sockets: what
//! the router and the layer cost, not the network. The pace check's own cost is in
//! `benches/hit.rs` (`rules/...`).
//!
//! Every request comes from a returning visitor (a plain `vc_id` cookie from a pool of 100k,
//! each already counted once) with a desktop browser's User-Agent, to a counter on the default
//! `SystemClock`. The layers' pace limit is `u32::MAX`, not the default 60: these benches view
//! each visitor several times a second, and a view under any limit runs the same code.
//!
//! Before criterion runs, a counting global allocator prints the allocations per request of
//! each case, and checks that a returning visitor's paced page view through `web::Rules`
//! allocates nothing once the tables are warm. The allocator counts only while those checks
//! run (a load and a branch per allocation otherwise).
//!
//! `cargo bench --bench web`; results in `BENCHMARKS.md`. With `VC_BENCH_OPS=<case>` (and
//! `VC_BENCH_N`, default 20,000) the executable runs that many requests of one case instead,
//! for `valgrind --tool=callgrind` (see [`count_ops`]); with `VC_BENCH_ALTERNATE=1` it compares
//! the cases in alternated blocks (see [`alternated`]).

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::header::{COOKIE, USER_AGENT};
use axum::http::{HeaderValue, Method, Request, Response, StatusCode};
use axum::response::Html;
use axum::routing::get;
use axum::Router;
use criterion::{criterion_group, BatchSize, BenchmarkGroup, Criterion, Throughput};
use time::macros::datetime;
use tokio::runtime::Runtime;
use tower::util::MapRequestLayer;
use tower::ServiceExt;
use visitor_counter::web::{Beacon, CountLayer, Outcome, Rules};
use visitor_counter::{Counter, Exclusions, ManualClock};

/// Counts allocations (and reallocations) while [`COUNTING`] is set.
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

fn counted() {
    if COUNTING.load(Ordering::Relaxed) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to `System`; the bookkeeping touches no memory
// it is given.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        counted();
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which `System` shares.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        counted();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` (through this allocator) with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        counted();
        // SAFETY: as for `dealloc`, and the caller upholds `realloc`'s size requirements.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The allocations `f` makes (on any thread).
fn allocations(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    COUNTING.store(true, Ordering::Relaxed);
    f();
    COUNTING.store(false, Ordering::Relaxed);
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

const VISITORS: usize = 100_000;
const BROWSER: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                       (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7));
/// The beacon of a page view of `/`, as `Beacon::script` sends it.
const BEACON: &str = "/_vc/beacon?p=%2F";

/// A bijective 64-bit mixer (SplitMix64's finaliser), as in `benches/hit.rs`.
fn id(i: u64) -> u64 {
    let mut z = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The `Cookie` header of each of [`VISITORS`] returning visitors: a plain `vc_id` of 32 hex
/// digits, in a shuffled order (as `pool()` in `benches/hit.rs`).
fn cookies() -> Vec<HeaderValue> {
    let mut keys: Vec<u64> = (0..VISITORS as u64).map(id).collect();
    let mut state = 0x5eed_u64;
    for i in (1..keys.len()).rev() {
        state = id(state.wrapping_add(1));
        keys.swap(i, (state % (i as u64 + 1)) as usize);
    }
    keys.iter()
        .map(|&k| {
            HeaderValue::try_from(format!("vc_id={k:016x}{:016x}", id(k))).expect("ASCII cookie")
        })
        .collect()
}

/// What the benches send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Case {
    /// `GET /` on the router alone.
    PageNoLayer,
    /// `GET /` through a layer that does nothing (`MapRequestLayer` of the identity): what
    /// axum's `Router::layer` costs by itself.
    PageNoopLayer,
    /// `GET /` counted by the layer.
    PageCounted,
    /// `GET /` through the layer in beacon mode: not counted.
    PageBeaconMode,
    /// `POST /_vc/beacon?p=%2F`, answered (204) and counted by the layer in beacon mode.
    Beacon,
}

const CASES: [Case; 5] = [
    Case::PageNoLayer,
    Case::PageNoopLayer,
    Case::PageCounted,
    Case::PageBeaconMode,
    Case::Beacon,
];

impl Case {
    fn name(self) -> &'static str {
        match self {
            Case::PageNoLayer => "page_no_layer",
            Case::PageNoopLayer => "page_noop_layer",
            Case::PageCounted => "page_counted",
            Case::PageBeaconMode => "page_beacon_mode",
            Case::Beacon => "beacon",
        }
    }

    fn request(self, cookie: &HeaderValue) -> Request<Body> {
        let (method, uri) = match self {
            Case::Beacon => (Method::POST, BEACON),
            _ => (Method::GET, "/"),
        };
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header(USER_AGENT, BROWSER)
            .header(COOKIE, cookie.clone())
            .body(Body::empty())
            .expect("valid request");
        // As `into_make_service_with_connect_info` adds it.
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::new(PEER, 50_000)));
        req
    }

    fn status(self) -> StatusCode {
        match self {
            Case::Beacon => StatusCode::NO_CONTENT,
            _ => StatusCode::OK,
        }
    }
}

async fn home() -> Html<&'static str> {
    Html("<h1>Trang chủ</h1>")
}

/// The app of `case`, and its counter (none without the layer).
fn app(case: Case) -> (Router, Option<Counter>) {
    let (router, counter) = layered(case);
    // As `axum::serve` does (`into_make_service`): the routes are made once, not per request.
    (router.with_state(()), counter)
}

fn layered(case: Case) -> (Router, Option<Counter>) {
    let router = Router::new().route("/", get(home));
    let counter = Counter::builder()
        .online_window(Duration::from_secs(30 * 60))
        .session_timeout(Duration::from_secs(60 * 60))
        .build()
        .expect("valid bench configuration");
    let layer = CountLayer::new(counter.clone()).pace_limit(u32::MAX);
    match case {
        Case::PageNoLayer => (router, None),
        Case::PageNoopLayer => {
            let noop = MapRequestLayer::new(|req: Request<Body>| req);
            (router.layer(noop), None)
        }
        Case::PageCounted => (router.layer(layer), Some(counter)),
        Case::PageBeaconMode | Case::Beacon => {
            (router.layer(layer.beacon(Beacon::default())), Some(counter))
        }
    }
}

fn serve(rt: &Runtime, app: &Router, req: Request<Body>) -> Response<Body> {
    rt.block_on(app.clone().oneshot(req))
        .expect("the router is infallible")
}

/// The app of `case` once every visitor has been counted (by a page view, or by a beacon in
/// beacon mode).
fn warm_app(rt: &Runtime, case: Case, cookies: &[HeaderValue]) -> (Router, Option<Counter>) {
    let (app, counter) = app(case);
    let counting = match case {
        Case::PageBeaconMode => Case::Beacon,
        other => other,
    };
    for cookie in cookies {
        let res = serve(rt, &app, counting.request(cookie));
        assert_eq!(res.status(), counting.status());
    }
    if let Some(counter) = &counter {
        assert_eq!(counter.stats().page_views.today, cookies.len() as u64);
    }
    (app, counter)
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime")
}

fn configure<M: criterion::measurement::Measurement>(g: &mut BenchmarkGroup<'_, M>) {
    g.sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(1));
}

/// Each case, one request per iteration; building the request and dropping the response are
/// outside the timing (`iter_batched`).
fn layer(c: &mut Criterion) {
    let rt = runtime();
    let cookies = cookies();
    let mut g = c.benchmark_group("layer/returning_100k");
    configure(&mut g);
    for case in CASES {
        let (app, counter) = warm_app(&rt, case, &cookies);
        let mut i = 0;
        g.bench_function(case.name(), |b| {
            b.iter_batched(
                || {
                    i = (i + 1) % cookies.len();
                    case.request(&cookies[i])
                },
                |req| serve(&rt, &app, req),
                BatchSize::SmallInput,
            )
        });
        if let Some(counter) = counter {
            assert_eq!(counter.exclusions(), Exclusions::default());
        }
    }
    g.finish();
}

/// Allocations per request of each case, and none for a returning visitor's paced page view
/// through `web::Rules` in steady state. Printed to stderr before the benches.
fn allocation_checks() {
    let rt = runtime();
    let cookies = cookies();
    let n = 20_000;
    for case in CASES {
        let (app, _counter) = warm_app(&rt, case, &cookies);
        let reqs: Vec<_> = (0..n).map(|i| case.request(&cookies[i])).collect();
        let mut out = Vec::with_capacity(n);
        let allocs = allocations(|| {
            for req in reqs {
                out.push(serve(&rt, &app, req));
            }
        });
        eprintln!(
            "allocations per request, {}: {:.2}",
            case.name(),
            allocs as f64 / n as f64
        );
    }

    // The rules alone, as in `benches/hit.rs`: pace limit on, every visitor viewed again.
    let headers: Vec<_> = cookies
        .iter()
        .map(|c| [("user-agent", BROWSER.as_bytes()), ("cookie", c.as_bytes())])
        .collect();
    let view = |rules: &Rules, h: &[(&str, &[u8]); 2]| {
        let verdict = rules.before("GET", &h[..], Some(PEER));
        assert_eq!(
            rules.after(verdict, 200, || true, None).outcome,
            Outcome::PageView
        );
    };
    let within_minute = Rules::new(Counter::builder().build().expect("valid")).pace_limit(u32::MAX);
    for round in 0..3 {
        let allocs = allocations(|| headers.iter().for_each(|h| view(&within_minute, h)));
        eprintln!(
            "allocations, 100k returning page views through Rules, pace limit on, within the \
             visitor's minute, round {round}: {allocs}"
        );
        if round == 2 {
            assert_eq!(allocs, 0, "a warm returning page view allocates nothing");
        }
    }
    // Each view 61 s after the visitor's previous one (a new minute each time: the pace entry
    // is queued, and dropped by upkeep), default limit.
    let clock = ManualClock::new(datetime!(2026-12-07 00:05 UTC));
    let counter = Counter::builder()
        .session_timeout(Duration::from_secs(60 * 60))
        .clock(clock.clone())
        .build()
        .expect("valid");
    let new_minute = Rules::new(counter);
    let step = Duration::from_secs(61) / VISITORS as u32;
    for round in 0..6 {
        let allocs = allocations(|| {
            for h in &headers {
                clock.advance(step);
                view(&new_minute, h);
            }
        });
        eprintln!(
            "allocations, 100k returning page views through Rules, default pace limit, a new \
             minute each, round {round}: {allocs}"
        );
        if round == 5 {
            assert_eq!(allocs, 0, "a warm returning page view allocates nothing");
        }
    }
}

/// The cases in alternated blocks of 20,000 requests (30 rounds, the order reversed every
/// other round; each block's requests built before and its responses dropped after its
/// timing): prints each case's median time per request and the median over rounds of its
/// difference from `page_counted`. Criterion's figures, measured one after the other, move by
/// tens of percent between runs on a busy machine; these pairs move far less.
fn alternated() {
    const ROUNDS: usize = 30;
    const BLOCK: usize = 20_000;
    let rt = runtime();
    let cookies = cookies();
    let order = [
        Case::PageCounted,
        Case::Beacon,
        Case::PageBeaconMode,
        Case::PageNoopLayer,
        Case::PageNoLayer,
    ];
    let apps: Vec<_> = order.iter().map(|&c| warm_app(&rt, c, &cookies)).collect();
    let mut ns = vec![Vec::with_capacity(ROUNDS); order.len()];
    let mut next = 0;
    for round in 0..ROUNDS {
        for k in 0..order.len() {
            let k = if round % 2 == 0 {
                k
            } else {
                order.len() - 1 - k
            };
            let reqs: Vec<_> = (0..BLOCK)
                .map(|i| order[k].request(&cookies[(next + i) % cookies.len()]))
                .collect();
            let mut out = Vec::with_capacity(BLOCK);
            let start = Instant::now();
            for req in reqs {
                out.push(serve(&rt, &apps[k].0, req));
            }
            ns[k].push(start.elapsed().as_nanos() as f64 / BLOCK as f64);
            drop(out);
        }
        next = (next + BLOCK) % cookies.len();
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    for (k, case) in order.iter().enumerate() {
        let diff: Vec<f64> = ns[k].iter().zip(&ns[0]).map(|(a, b)| a - b).collect();
        eprintln!(
            "layer/returning_100k/{}: median {:.0} ns a request; minus page_counted, median of \
             {ROUNDS} round pairs: {:+.0} ns",
            case.name(),
            median(ns[k].clone()),
            median(diff),
        );
    }
}

/// Runs `n` requests of one case (`page_no_layer`, `page_noop_layer`, `page_counted`,
/// `page_beacon_mode`, `beacon`) to count their instructions with callgrind, as in `benches/hit.rs`:
///
/// ```sh
/// VC_BENCH_OPS=beacon valgrind --tool=callgrind --callgrind-out-file=/dev/null \
///     --collect-atstart=no --toggle-collect='*measured_ops*' target/release/deps/web-<hash>
/// ```
///
/// The requests are built before and the responses dropped after [`measured_ops`], so only
/// the service call (router and layer, in `block_on`) is counted; divide by `n`.
fn count_ops(name: &str, n: usize) {
    let case = CASES
        .into_iter()
        .find(|c| c.name() == name)
        .unwrap_or_else(|| panic!("VC_BENCH_OPS: unknown case {name}"));
    let rt = runtime();
    let cookies = cookies();
    let (app, _counter) = warm_app(&rt, case, &cookies);
    let reqs: Vec<_> = (0..n)
        .map(|i| case.request(&cookies[i % cookies.len()]))
        .collect();
    let mut reqs = reqs.into_iter();
    let mut out = Vec::with_capacity(n);
    measured_ops(n, &mut || {
        let req = reqs.next().expect("n requests");
        out.push(serve(&rt, &app, req));
    });
    assert!(out.iter().all(|r| r.status() == case.status()));
    black_box(out);
}

/// The operations callgrind counts (`--toggle-collect='*measured_ops*'`).
#[inline(never)]
fn measured_ops(n: usize, op: &mut dyn FnMut()) {
    for _ in 0..n {
        op();
    }
}

criterion_group!(benches, layer);

fn main() {
    if let Ok(case) = std::env::var("VC_BENCH_OPS") {
        let n = std::env::var("VC_BENCH_N").map_or(20_000, |n| n.parse().expect("VC_BENCH_N"));
        count_ops(&case, n);
        eprintln!("{case}: {n} requests");
        return;
    }
    if std::env::var_os("VC_BENCH_ALTERNATE").is_some() {
        alternated();
        return;
    }
    allocation_checks();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
