//! The project's main demo: a small news portal in the spirit of a Vietnamese provincial portal
//! ("Cổng thông tin điện tử"), served with axum 0.8 and counted by
//! [`CountLayer`](visitor_counter::web::CountLayer).
//!
//! ```text
//! cargo run --release --example server                  # http://127.0.0.1:8080/
//! cargo run --release --example server -- --addr 0.0.0.0:8080 --utc-offset +07:00
//! cargo run --release --example server -- --help        # every flag and environment variable
//! VC_ADMIN_TOKEN=secret cargo run --release --example server   # enables POST /admin/save
//! ```
//!
//! What it shows:
//! - one [`Counter`] built with a snapshot file (`./data/counter.snapshot` by default), an
//!   autosave every minute, a corrupt snapshot moved aside instead of stopping the site, and a
//!   final save on Ctrl-C or SIGTERM after a graceful shutdown;
//! - the `CountLayer` (cookie `vc_id`) in front of every route: pages are counted, JSON, SVG,
//!   metrics, errors, bots, prefetches and a visitor's page views past 60 a minute are not (see
//!   `/metrics` for the excluded requests);
//! - `--count beacon`, for a site behind a page cache: the pages carry the beacon script and
//!   `Cache-Control: public, max-age=60` and set no cookie, and the layer counts the beacon
//!   each page sends once it is shown;
//! - twenty sample articles in an [`articles::Catalog`](visitor_counter::articles::Catalog);
//!   an article handler returns `(Extension(ArticleId), Markup)`, so the layer counts an
//!   article view for it, and the "Tin đọc nhiều" box joins the rankings with the catalog;
//! - the "Thống kê truy cập" box, refreshed in the page by fetching `/api/stats`, and a chart
//!   of the last 30 days drawn as SVG;
//! - the crates such an app is built with: flags by `clap` (`cli.rs`), pages and the chart by
//!   `maud`, which escapes what it inserts (`pages.rs`, `chart.rs`), the admin token compared in
//!   constant time by `subtle` (`routes.rs`), and `/metrics` by `prometheus-client` with the
//!   collector of [`visitor_counter::metrics`].
//!
//! Routes (pages in Vietnamese; add `?lang=en` for English, links keep it):
//!
//! | route | what |
//! |---|---|
//! | `GET /` | the news list, the most-read box, the statistics box and chart (`?refresh=MS`, default 5000) |
//! | `POST /_vc/beacon?p=PATH&a=ID` | with `--count beacon`: the page's beacon, answered (204) and counted by the layer |
//! | `GET /articles/{id}` | an article page, counted as a view of that article; 404 page for unknown ids |
//! | `GET /api/stats` | [`Stats`](visitor_counter::Stats) as JSON |
//! | `GET /api/articles/{id}` | [`ArticleStats`](visitor_counter::ArticleStats) as JSON (404 JSON if unknown) |
//! | `GET /api/top?period=today&n=10` | most read: `[{id, slug, title, views}]`, `n` capped at 100 |
//! | `GET /api/history?days=30` | [`DayCounts`](visitor_counter::DayCounts) per day, `days` capped at [`HISTORY_DAYS`](visitor_counter::HISTORY_DAYS) |
//! | `GET /chart.svg?days=30` | visits and page views per day as an SVG chart |
//! | `GET /api/sync` | how syncing with the shared site goes (`--redis`): syncs, failures, last error, page views waiting |
//! | `GET /metrics` | the Prometheus text format from `prometheus-client`, or OpenMetrics when `Accept` asks for it |
//! | `POST /admin/save`, `GET /admin/status` | only with `VC_ADMIN_TOKEN` set, and `Authorization: Bearer <token>` |
//!
//! Bad query parameters of the API and the chart get `400` with `{"error": "..."}`.
//!
//! Flags (`--help` lists them, see `cli.rs`): `--addr HOST:PORT` (or `VC_ADDR`, default
//! `127.0.0.1:8080`), `--snapshot PATH`, `--utc-offset +07:00`, `--initial-total VISITS`,
//! `--count server|beacon` (where page views are counted, default `server`), `--pace-limit N`
//! (page views of a visitor counted in a minute, default 60, 0: no limit), `--no-count` (the
//! same app without the `CountLayer`, to measure its overhead), `--redis URL` (or `VC_REDIS`)
//! and `--site NAME`: count the site together with every instance started with the same Redis
//! and site name.
//!
//! # Numbers that include the request showing them
//!
//! A page is rendered before it is counted (the `CountLayer` counts the response the handler
//! returns; in beacon mode the page's script counts it later, and a cache may serve the same
//! page to many readers). So a page holds the numbers as they were when it was rendered, and
//! the statistics box's script (`stats.js`) reads the live ones from `/api/stats` (and the
//! article's from `/api/articles/{id}`) as soon as the page is shown, again when the beacon
//! has been counted (its `vc:counted` event), and every few seconds after: the reader sees
//! numbers that include the page in front of them, and nothing buffers or rewrites pages.

mod api;
mod catalog;
mod chart;
mod cli;
mod i18n;
mod pages;
mod routes;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use clap::Parser;
use prometheus_client::registry::Registry;
use visitor_counter::articles::Catalog;
use visitor_counter::web::Beacon;
use visitor_counter::Counter;

/// What every handler shares.
struct App {
    counter: Counter,
    catalog: Arc<Catalog>,
    /// In beacon mode (`--count beacon`): the beacon the pages carry.
    beacon: Option<Beacon>,
    snapshot: PathBuf,
    /// The `/metrics` registry, with the counter's collector.
    metrics: Registry,
}

type AppState = State<Arc<App>>;

/// The query string as it came: the handlers check what they read themselves, to answer bad
/// values with their own messages.
type Params = Query<HashMap<String, String>>;

#[tokio::main]
async fn main() -> ExitCode {
    // Bad flags: a message and exit status 2, by clap.
    let mut cli = cli::Cli::parse();
    // An empty VC_REDIS means not shared (clap would take it as the URL "").
    cli.redis.take_if(|url| url.is_empty());
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("server: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: cli::Cli) -> Result<(), String> {
    let counter = build_counter(&cli)?;
    let mut metrics = Registry::default();
    visitor_counter::metrics::register(&mut metrics, counter.clone());
    let admin_token = std::env::var("VC_ADMIN_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
        .map(Arc::<str>::from);
    let admin = admin_token.is_some();
    let catalog = Arc::new(catalog::sample_catalog());
    let beacon = (cli.count == cli::Counting::Beacon).then(|| {
        // Only the catalog's articles count as article views: a forged beacon adds none.
        let known = Arc::clone(&catalog);
        Beacon::default().articles(move |id| known.get(id).is_some())
    });
    let app = Arc::new(App {
        counter,
        catalog,
        beacon,
        snapshot: cli.snapshot.clone(),
        metrics,
    });
    let listener = tokio::net::TcpListener::bind(cli.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", cli.addr))?;
    let local = listener.local_addr().unwrap_or(cli.addr);
    println!(
        "visitor-counter demo portal: http://{local}/ (counting {}, snapshot {}, admin routes {}, {})",
        match (cli.no_count, cli.count) {
            (true, _) => "off: --no-count",
            (false, cli::Counting::Server) => "pages served",
            (false, cli::Counting::Beacon) => "beacons: pages cacheable",
        },
        cli.snapshot.display(),
        if admin { "on" } else { "off" },
        match &cli.redis {
            Some(url) => format!("site {:?} shared through {url}", cli.site),
            None => "not shared".into(),
        },
    );
    let counting = (!cli.no_count).then_some(cli.pace_limit);
    let service = routes::router(app.clone(), counting, admin_token)
        .into_make_service_with_connect_info::<SocketAddr>();
    if let Err(e) = axum::serve(listener, service)
        .with_graceful_shutdown(shutdown_signal())
        .await
    {
        eprintln!("server: {e}");
    }
    // Every connection is closed: save once more and say how it went. (Dropping the last clone
    // of the counter would also save, silently.)
    app.counter
        .save()
        .map_err(|e| format!("final save failed: {e}"))?;
    let s = app.counter.stats();
    println!(
        "saved {} ({} visits, {} page views in total)",
        app.snapshot.display(),
        s.visits.total,
        s.page_views.total
    );
    Ok(())
}

/// The counter with its snapshot, autosave and (with `--redis`) the shared site.
fn build_counter(cli: &cli::Cli) -> Result<Counter, String> {
    let snapshot = &cli.snapshot;
    if let Some(dir) = snapshot.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let had_snapshot = snapshot.exists();
    let mut builder = Counter::builder()
        .utc_offset(cli.utc_offset)
        .snapshot_path(snapshot)
        .autosave(Duration::from_secs(60))
        .move_corrupt_snapshot_aside(true)
        .initial_total(cli.initial_total, cli.initial_total);
    if let Some(url) = &cli.redis {
        builder = builder.redis(url.clone(), cli.site.clone());
    }
    let counter = builder.build().map_err(|e| e.to_string())?;
    if had_snapshot && !snapshot.exists() {
        eprintln!(
            "server: warning: {0} could not be read; it was renamed to {0}.corrupt-<unix time> \
             and counting starts from zero",
            snapshot.display()
        );
    }
    Ok(counter)
}

/// Resolves on Ctrl-C or (on Unix) SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    eprintln!("server: shutting down: finishing open requests, then saving");
}
