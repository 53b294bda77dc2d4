//! The project's main demo: a small news portal in the spirit of a Vietnamese provincial portal
//! ("Cổng thông tin điện tử"), served with axum 0.8 and counted by
//! [`CountLayer`](visitor_counter::web::CountLayer).
//!
//! ```text
//! cargo run --release --example server                  # http://127.0.0.1:8080/
//! cargo run --release --example server -- --addr 0.0.0.0:8080 --utc-offset +07:00
//! VC_ADMIN_TOKEN=secret cargo run --release --example server   # enables POST /admin/save
//! ```
//!
//! What it shows:
//! - one [`Counter`] built with a snapshot file (`./data/counter.snapshot` by default), an
//!   autosave every minute, a corrupt snapshot moved aside instead of stopping the site, and a
//!   final save on Ctrl-C or SIGTERM after a graceful shutdown;
//! - the `CountLayer` (cookie `vc_id`) in front of every route: pages are counted, JSON, SVG,
//!   metrics, errors, bots and prefetches are not (see `/metrics` for the excluded requests);
//! - twenty sample articles in an [`articles::Catalog`](visitor_counter::articles::Catalog);
//!   an article handler returns `(Extension(ArticleId), Html(..))`, so the layer counts an
//!   article view for it, and the "Tin đọc nhiều" box joins the rankings with the catalog;
//! - the "Thống kê truy cập" box, refreshed in the page by fetching `/api/stats`, and a chart
//!   of the last 30 days drawn as plain SVG.
//!
//! Routes (pages in Vietnamese; add `?lang=en` for English, links keep it):
//!
//! | route | what |
//! |---|---|
//! | `GET /` | the news list, the most-read box, the statistics box and chart (`?refresh=MS`, default 5000) |
//! | `GET /articles/{id}` | an article page, counted as a view of that article; 404 page for unknown ids |
//! | `GET /api/stats` | [`Stats`] as JSON |
//! | `GET /api/articles/{id}` | [`ArticleStats`](visitor_counter::ArticleStats) as JSON (404 JSON if unknown) |
//! | `GET /api/top?period=today&n=10` | most read: `[{id, slug, title, views}]`, `n` capped at 100 |
//! | `GET /api/history?days=30` | [`DayCounts`] per day, `days` capped at [`HISTORY_DAYS`] |
//! | `GET /chart.svg?days=30` | visits and page views per day as an SVG chart |
//! | `GET /api/sync` | how syncing with the shared site goes (`--redis`): syncs, failures, last error, page views waiting |
//! | `GET /metrics` | Prometheus text format |
//! | `POST /admin/save`, `GET /admin/status` | only with `VC_ADMIN_TOKEN` set, and `Authorization: Bearer <token>` |
//!
//! Bad query parameters of the API and the chart get `400` with `{"error": "..."}`.
//!
//! Flags: `--addr HOST:PORT` (or `VC_ADDR`, default `127.0.0.1:8080`; port 0 picks a free one),
//! `--snapshot PATH`, `--utc-offset +07:00` (default; also `-05:45`, `+7`), `--initial-total
//! VISITS` (visits and page views carried over from an older counter, used only while there is no
//! snapshot yet), `--no-count` (the same app without the `CountLayer`, to measure its overhead),
//! `--redis URL` (or `VC_REDIS`) and `--site NAME` (default `portal`): count the site together
//! with every instance started with the same Redis and site name.
//!
//! # Numbers that include the request showing them
//!
//! The `CountLayer` counts a page after the handler has returned it, so a handler reading the
//! counter sees the numbers *before* its own page view. The pages here want "Hôm nay" and the
//! article's view count to include the page being shown (a new reader's first page should not
//! say 0 visits today). So the handler leaves markers such as `<!--late:vc-today-->`, and the
//! outermost middleware, [`fill_late_numbers`], which runs after the `CountLayer` has counted,
//! replaces them with the counter's numbers at that moment. The article's views are exact this
//! way, refresh dedup included, without the page having to guess whether this view counts.
//! Everything else on a page (the lists, the most-read box) is read in the handler.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, WWW_AUTHENTICATE,
};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Serialize;
use serde_json::json;
use time::macros::datetime;
use time::{OffsetDateTime, UtcOffset};
use visitor_counter::articles::{Article, Catalog};
use visitor_counter::web::CountLayer;
use visitor_counter::{ArticleId, Counter, DayCounts, Period, HISTORY_DAYS};

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

const USAGE: &str = "\
usage: server [--addr HOST:PORT] [--snapshot PATH] [--utc-offset +07:00]
              [--initial-total VISITS] [--no-count] [--redis URL [--site NAME]]

  --addr HOST:PORT        where to listen (env VC_ADDR; default 127.0.0.1:8080; port 0: any free port)
  --snapshot PATH         the counter's snapshot file (default ./data/counter.snapshot)
  --utc-offset OFFSET     the site's offset from UTC: +07:00, -05:45, +7 (default +07:00)
  --initial-total VISITS  visits (and page views) carried over from an older counter
  --no-count              serve the same app without the CountLayer (to measure its cost)
  --redis URL             count the site together with every instance on this Redis
                          (env VC_REDIS), e.g. redis://127.0.0.1:6379/0
  --site NAME             the site's name in that Redis (default portal)

env VC_ADMIN_TOKEN: when set, enables POST /admin/save and GET /admin/status for
`Authorization: Bearer <token>`.";

struct Config {
    addr: SocketAddr,
    snapshot: PathBuf,
    offset: UtcOffset,
    initial_total: u64,
    count: bool,
    /// The Redis URL and site name, when instances share the site.
    redis: Option<String>,
    site: String,
}

/// Parses the command line; `Ok(None)` for `--help`. Errors are messages for the user.
fn parse_args(
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> Result<Option<Config>, String> {
    let addr_env = match std::env::var("VC_ADDR") {
        Ok(v) if !v.is_empty() => Some(v),
        Ok(_) | Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(_)) => return Err("VC_ADDR is not valid UTF-8".into()),
    };
    let mut addr = addr_env.unwrap_or_else(|| "127.0.0.1:8080".into());
    let redis_env = std::env::var("VC_REDIS").ok().filter(|v| !v.is_empty());
    let mut cfg = Config {
        addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
        snapshot: PathBuf::from("./data/counter.snapshot"),
        offset: UtcOffset::from_hms(7, 0, 0).map_err(|e| e.to_string())?,
        initial_total: 0,
        count: true,
        redis: redis_env,
        site: "portal".into(),
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let arg = arg
            .into_string()
            .map_err(|a| format!("argument {a:?} is not valid UTF-8"))?;
        // `--flag value` or `--flag=value`.
        let (flag, mut inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg, None),
        };
        let mut value = || -> Result<String, String> {
            if let Some(v) = inline.take() {
                return Ok(v);
            }
            match args.next().map(|v| v.into_string()) {
                Some(Ok(v)) if !v.starts_with("--") => Ok(v),
                Some(Ok(v)) => Err(format!("{flag} needs a value, got the flag {v}")),
                Some(Err(v)) => Err(format!("{flag} {v:?}: not valid UTF-8")),
                None => Err(format!("{flag} needs a value")),
            }
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--addr" => addr = value()?,
            "--snapshot" => {
                let v = value()?;
                if v.is_empty() {
                    return Err("--snapshot needs a file path".into());
                }
                cfg.snapshot = PathBuf::from(v);
            }
            "--utc-offset" => {
                let v = value()?;
                cfg.offset = parse_offset(&v).ok_or(format!(
                    "--utc-offset {v:?}: expected an offset from UTC such as +07:00, -05:45 or +7 \
                     (at most 14 hours)"
                ))?;
            }
            "--initial-total" => {
                let v = value()?;
                cfg.initial_total = v.parse().map_err(|_| {
                    format!("--initial-total {v:?}: expected a whole number of visits")
                })?;
            }
            "--redis" => cfg.redis = Some(value()?),
            "--site" => {
                cfg.site = value()?;
                if cfg.site.is_empty() {
                    return Err("--site needs a name".into());
                }
            }
            "--no-count" => {
                if inline.is_some() {
                    return Err("--no-count takes no value".into());
                }
                cfg.count = false;
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    cfg.addr = addr
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or(format!(
            "address {addr:?} (--addr or VC_ADDR): expected HOST:PORT such as 127.0.0.1:8080"
        ))?;
    Ok(Some(cfg))
}

/// `+07:00`, `-05:45`, `+0700` or `+7` (also `0`, `Z`, `UTC`), at most 14 hours either way.
fn parse_offset(s: &str) -> Option<UtcOffset> {
    if s == "0" || s.eq_ignore_ascii_case("z") || s.eq_ignore_ascii_case("utc") {
        return Some(UtcOffset::UTC);
    }
    let (sign, rest) = match (s.strip_prefix('+'), s.strip_prefix('-')) {
        (Some(rest), _) => (1, rest),
        (_, Some(rest)) => (-1, rest),
        _ => return None,
    };
    let digits = |p: &str| !p.is_empty() && p.len() <= 2 && p.bytes().all(|b| b.is_ascii_digit());
    let (h, m) = match rest.split_once(':') {
        Some(hm) => hm,
        None if rest.len() == 4 && rest.is_ascii() => rest.split_at(2),
        None => (rest, "0"),
    };
    if !digits(h) || !digits(m) {
        return None;
    }
    let (h, m): (i8, i8) = (h.parse().ok()?, m.parse().ok()?);
    if m >= 60 || h > 14 || (h == 14 && m > 0) {
        return None;
    }
    UtcOffset::from_hms(sign * h, sign * m, 0).ok()
}

// ---------------------------------------------------------------------------------------------
// Sample content
// ---------------------------------------------------------------------------------------------

/// The portal's sections, in the order the home page shows them: (slug, Vietnamese, English).
const SECTIONS: [(&str, &str, &str); 4] = [
    ("thoi-su", "Thời sự", "Current affairs"),
    ("kinh-te", "Kinh tế", "Economy"),
    ("van-hoa", "Văn hóa", "Culture"),
    ("xa-hoi", "Xã hội", "Society"),
];

/// (id, slug, section, published, Vietnamese title, English title). The province is fictional.
type Sample = (
    u64,
    &'static str,
    &'static str,
    OffsetDateTime,
    &'static str,
    &'static str,
);

#[rustfmt::skip]
const SAMPLES: [Sample; 20] = [
    (1, "khai-mac-ky-hop-thu-15-hdnd-tinh", "thoi-su", datetime!(2026-04-20 08:15 +07:00),
     "Khai mạc Kỳ họp thứ 15 Hội đồng nhân dân tỉnh khóa XVII",
     "15th session of the Provincial People's Council opens"),
    (2, "ubnd-tinh-trien-khai-nhiem-vu-2026", "thoi-su", datetime!(2026-04-16 10:00 +07:00),
     "UBND tỉnh triển khai nhiệm vụ phát triển kinh tế - xã hội năm 2026",
     "Provincial People's Committee sets out the 2026 socio-economic tasks"),
    (3, "tham-cac-xa-vung-cao-bien-gioi", "thoi-su", datetime!(2026-04-09 16:40 +07:00),
     "Đoàn công tác của tỉnh thăm, làm việc tại các xã vùng cao biên giới",
     "Provincial delegation visits highland border communes"),
    (4, "tong-ket-cai-cach-hanh-chinh-2025", "thoi-su", datetime!(2026-03-27 09:30 +07:00),
     "Hội nghị tổng kết công tác cải cách hành chính năm 2025",
     "Conference reviews administrative reform in 2025"),
    (5, "phong-chong-chay-rung-mua-kho", "thoi-su", datetime!(2026-03-12 14:05 +07:00),
     "Tăng cường phòng, chống cháy rừng trong mùa khô",
     "Forest fire prevention stepped up for the dry season"),
    (6, "xuat-khau-quy-i-tang-12-phan-tram", "kinh-te", datetime!(2026-04-18 07:45 +07:00),
     "Kim ngạch xuất khẩu quý I tăng 12% so với cùng kỳ",
     "First-quarter exports up 12% year on year"),
    (7, "khoi-cong-cao-toc-noi-cua-khau", "kinh-te", datetime!(2026-04-11 09:00 +07:00),
     "Khởi công dự án đường cao tốc nối tỉnh với cửa khẩu quốc tế",
     "Work begins on the expressway to the international border gate"),
    (8, "nong-dan-trung-mua-ca-phe", "kinh-te", datetime!(2026-03-30 15:20 +07:00),
     "Nông dân trúng mùa cà phê, giá bán ở mức cao",
     "Coffee farmers enjoy a bumper crop and high prices"),
    (9, "thu-hut-18-du-an-vao-khu-cong-nghiep", "kinh-te", datetime!(2026-03-19 11:10 +07:00),
     "Thu hút 18 dự án đầu tư mới vào các khu công nghiệp",
     "Industrial parks draw 18 new investment projects"),
    (10, "hop-tac-xa-che-dat-ocop-4-sao", "kinh-te", datetime!(2026-03-05 08:00 +07:00),
     "Hợp tác xã chè đạt chứng nhận OCOP 4 sao",
     "Tea cooperative earns a 4-star OCOP certificate"),
    (11, "le-hoi-hoa-ban-2026", "van-hoa", datetime!(2026-04-19 19:30 +07:00),
     "Lễ hội hoa ban 2026 thu hút hàng vạn du khách",
     "2026 Ban Flower Festival draws tens of thousands of visitors"),
    (12, "bao-ton-hat-then-dong-bao-tay", "van-hoa", datetime!(2026-04-07 10:25 +07:00),
     "Bảo tồn nghệ thuật hát then của đồng bào Tày",
     "Preserving the Then singing of the Tày people"),
    (13, "khanh-thanh-nha-van-hoa-ban-na-lai", "van-hoa", datetime!(2026-03-25 16:00 +07:00),
     "Khánh thành nhà văn hóa cộng đồng tại bản Nà Lai",
     "Community cultural house opens in Nà Lai village"),
    (14, "trung-bay-di-san-van-hoa-phi-vat-the", "van-hoa", datetime!(2026-03-15 09:45 +07:00),
     "Trưng bày chuyên đề về di sản văn hóa phi vật thể của tỉnh",
     "Exhibition on the province's intangible cultural heritage"),
    (15, "lien-hoan-nghe-thuat-quan-chung-lan-v", "van-hoa", datetime!(2026-03-08 20:00 +07:00),
     "Liên hoan nghệ thuật quần chúng các dân tộc lần thứ V",
     "Fifth festival of ethnic amateur arts"),
    (16, "thi-sinh-dang-ky-thi-tot-nghiep-thpt", "xa-hoi", datetime!(2026-04-17 13:30 +07:00),
     "Hơn 12.000 thí sinh đăng ký dự thi tốt nghiệp trung học phổ thông",
     "Over 12,000 candidates register for the high-school graduation exam"),
    (17, "ban-giao-150-can-nha-cho-ho-ngheo", "xa-hoi", datetime!(2026-04-10 08:50 +07:00),
     "Bàn giao 150 căn nhà cho hộ nghèo trước mùa mưa lũ",
     "150 houses handed over to poor households before the flood season"),
    (18, "benh-vien-tinh-can-thiep-tim-mach", "xa-hoi", datetime!(2026-04-02 14:15 +07:00),
     "Bệnh viện Đa khoa tỉnh triển khai kỹ thuật can thiệp tim mạch",
     "Provincial General Hospital introduces cardiac intervention"),
    (19, "ra-quan-thang-thanh-nien-2026", "xa-hoi", datetime!(2026-03-22 07:30 +07:00),
     "Ra quân Tháng Thanh niên năm 2026",
     "Youth Month 2026 campaign launched"),
    (20, "tiem-vac-xin-soi-vung-sau", "xa-hoi", datetime!(2026-03-10 10:40 +07:00),
     "Tiêm vắc xin sởi cho trẻ em tại các xã vùng sâu",
     "Measles vaccination for children in remote communes"),
];

fn sample_catalog() -> Catalog {
    let catalog = Catalog::new();
    for (id, slug, section, published, vi, _) in SAMPLES {
        let article = Article::new(ArticleId::from(id), slug, vi, section, published);
        // The samples have distinct ids and slugs: insert cannot fail.
        let _ = catalog.insert(article);
    }
    catalog
}

// ---------------------------------------------------------------------------------------------
// Language
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Lang {
    Vi,
    En,
}

type Params = Query<HashMap<String, String>>;

impl Lang {
    /// `?lang=en` is English; anything else is the portal's Vietnamese.
    fn of(q: &HashMap<String, String>) -> Lang {
        match q.get("lang").map(String::as_str) {
            Some("en") => Lang::En,
            _ => Lang::Vi,
        }
    }

    fn t(self, vi: &'static str, en: &'static str) -> &'static str {
        match self {
            Lang::Vi => vi,
            Lang::En => en,
        }
    }

    fn code(self) -> &'static str {
        self.t("vi", "en")
    }

    /// The query string that keeps this language on a link.
    fn query(self) -> &'static str {
        self.t("", "?lang=en")
    }

    fn home(self) -> &'static str {
        self.t("/", "/?lang=en")
    }

    fn title(self, a: &Article) -> String {
        let en = SAMPLES
            .iter()
            .find(|s| ArticleId::from(s.0) == a.id)
            .map(|s| s.5);
        match (self, en) {
            (Lang::En, Some(en)) => en.to_string(),
            _ => a.title.clone(),
        }
    }

    fn section(self, slug: &str) -> String {
        SECTIONS
            .iter()
            .find(|s| s.0 == slug)
            .map_or_else(|| slug.to_string(), |s| self.t(s.1, s.2).to_string())
    }

    fn date(self, t: OffsetDateTime) -> String {
        let (d, m, y, h, min) = (t.day(), t.month(), t.year(), t.hour(), t.minute());
        match self {
            Lang::Vi => format!("{d:02}/{:02}/{y} {h:02}:{min:02}", u8::from(m)),
            Lang::En => format!("{d} {m} {y}, {h:02}:{min:02}"), // time's Month prints "April"
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The app
// ---------------------------------------------------------------------------------------------

struct App {
    counter: Counter,
    catalog: Catalog,
    snapshot: PathBuf,
}

type AppState = State<Arc<App>>;

fn router(app: Arc<App>, count: bool, admin_token: Option<Arc<str>>) -> Router {
    let mut routes = Router::new()
        .route("/", get(home))
        .route("/articles/{id}", get(article_page))
        .route("/api/stats", get(api_stats))
        .route("/api/articles/{id}", get(api_article))
        .route("/api/top", get(api_top))
        .route("/api/history", get(api_history))
        .route("/api/sync", get(api_sync))
        .route("/chart.svg", get(chart))
        .route("/metrics", get(metrics));
    if let Some(token) = admin_token {
        // Without a token these routes do not exist at all (404).
        let admin = Router::new()
            .route("/admin/save", post(admin_save))
            .route("/admin/status", get(admin_status))
            .route_layer(middleware::from_fn_with_state(token, require_token));
        routes = routes.merge(admin);
    }
    let mut app_router = routes.fallback(not_found).with_state(app.clone());
    if count {
        app_router = app_router.layer(CountLayer::new(app.counter.clone()));
    }
    // Outermost, so it runs after the CountLayer has counted (see the module docs).
    app_router.layer(middleware::from_fn_with_state(app, fill_late_numbers))
}

#[tokio::main]
async fn main() {
    let cfg = match parse_args(std::env::args_os().skip(1)) {
        Ok(Some(cfg)) => cfg,
        Ok(None) => {
            println!("{USAGE}");
            return;
        }
        Err(e) => {
            eprintln!("server: {e}\n(run with --help to see the flags)");
            std::process::exit(2);
        }
    };
    if let Some(dir) = cfg.snapshot.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!("server: cannot create {}: {e}", dir.display());
            std::process::exit(1);
        }
    }
    let had_snapshot = cfg.snapshot.exists();
    let mut builder = Counter::builder()
        .utc_offset(cfg.offset)
        .snapshot_path(&cfg.snapshot)
        .autosave(Duration::from_secs(60))
        .move_corrupt_snapshot_aside(true)
        .initial_total(cfg.initial_total, cfg.initial_total);
    if let Some(url) = &cfg.redis {
        builder = builder.redis(url.clone(), cfg.site.clone());
    }
    let counter = match builder.build() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("server: {e}");
            std::process::exit(1);
        }
    };
    if had_snapshot && !cfg.snapshot.exists() {
        eprintln!(
            "server: warning: {} could not be read; it was renamed to {}.corrupt-<unix time> \
             and counting starts from zero",
            cfg.snapshot.display(),
            cfg.snapshot.display()
        );
    }
    let admin_token = std::env::var("VC_ADMIN_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
        .map(Arc::<str>::from);
    let admin = admin_token.is_some();
    let app = Arc::new(App {
        counter,
        catalog: sample_catalog(),
        snapshot: cfg.snapshot.clone(),
    });
    let listener = match tokio::net::TcpListener::bind(cfg.addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("server: cannot listen on {}: {e}", cfg.addr);
            std::process::exit(1);
        }
    };
    let local = listener.local_addr().unwrap_or(cfg.addr);
    println!(
        "visitor-counter demo portal: http://{local}/ (counting {}, snapshot {}, admin routes {}, {})",
        if cfg.count { "on" } else { "off: --no-count" },
        cfg.snapshot.display(),
        if admin { "on" } else { "off" },
        match &cfg.redis {
            Some(url) => format!("site {:?} shared through {url}", cfg.site),
            None => "not shared".into(),
        },
    );
    let service = router(app.clone(), cfg.count, admin_token)
        .into_make_service_with_connect_info::<SocketAddr>();
    if let Err(e) = axum::serve(listener, service)
        .with_graceful_shutdown(shutdown_signal())
        .await
    {
        eprintln!("server: {e}");
    }
    // Every connection is closed: save once more and say how it went. (Dropping the last clone
    // of the counter would also save, silently.)
    match app.counter.save() {
        Ok(()) => {
            let s = app.counter.stats();
            println!(
                "saved {} ({} visits, {} page views in total)",
                app.snapshot.display(),
                s.visits.total,
                s.page_views.total
            );
        }
        Err(e) => {
            eprintln!("server: final save failed: {e}");
            std::process::exit(1);
        }
    }
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

// ---------------------------------------------------------------------------------------------
// Pages
// ---------------------------------------------------------------------------------------------

async fn home(State(app): AppState, Query(q): Params) -> Html<String> {
    let lang = Lang::of(&q);
    let mut main = String::new();
    for (slug, _, _) in SECTIONS {
        let _ = write!(
            main,
            r#"<section id="{slug}"><h2>{}</h2><ul class="news">"#,
            esc(&lang.section(slug))
        );
        for a in app.catalog.section(slug, 10) {
            let views = app.counter.article_stats(a.id).views.total;
            let _ = write!(
                main,
                r#"<li><a class="article-link" href="/articles/{id}{q}">{title}</a>
<span class="meta">{date} · <span class="views" data-article="{id}">{views}</span> {label}</span></li>"#,
                id = a.id,
                q = lang.query(),
                title = esc(&lang.title(&a)),
                date = lang.date(a.published_at),
                label = lang.t("lượt xem", "views"),
            );
        }
        main.push_str("</ul></section>");
    }
    let sidebar = sidebar(&app, lang, refresh_ms(&q));
    Html(layout(
        lang,
        "/",
        lang.t("Trang chủ", "Home"),
        &main,
        Some(&sidebar),
    ))
}

async fn article_page(State(app): AppState, Path(id): Path<String>, Query(q): Params) -> Response {
    let lang = Lang::of(&q);
    let Some(a) = parse_id(&id).and_then(|id| app.catalog.get(id)) else {
        return not_found_page(lang);
    };
    let title = esc(&lang.title(&a));
    let body = lang.t(
        "(Nội dung minh họa.) Bài viết này thuộc trang ví dụ của thư viện visitor-counter. \
         Mỗi lần tải trang là một lượt xem trang; một lượt truy cập kéo dài đến khi người đọc \
         không hoạt động 30 phút; các lần tải lại bài viết của cùng một người đọc trong 30 phút \
         chỉ được tính là một lượt xem bài.",
        "(Placeholder text.) This article belongs to the example site of the visitor-counter \
         library. Every page load is a page view; a visit lasts until the reader has been idle \
         for 30 minutes; reloads of an article by the same reader within 30 minutes count as one \
         view of the article.",
    );
    let main = format!(
        r#"<article><p class="crumb"><a href="{home}">{home_label}</a> › <a href="{home}#{section_slug}">{section}</a></p>
<h1>{title}</h1>
<p class="meta">{date} · {views_label}: <span id="article-views">{views}</span></p>
<p>{body}</p></article>"#,
        home = lang.home(),
        home_label = lang.t("Trang chủ", "Home"),
        section_slug = esc(&a.section),
        section = esc(&lang.section(&a.section)),
        date = lang.date(a.published_at),
        views_label = lang.t("Lượt xem", "Views"),
        views = late("article-views"),
    );
    let sidebar = sidebar(&app, lang, refresh_ms(&q));
    let path = format!("/articles/{}", a.id);
    let page = layout(lang, &path, &title, &main, Some(&sidebar));
    // The extension tells the CountLayer to count a view of this article.
    (Extension(a.id), Html(page)).into_response()
}

async fn not_found(Query(q): Params) -> Response {
    not_found_page(Lang::of(&q))
}

fn not_found_page(lang: Lang) -> Response {
    let main = format!(
        r#"<h1>{}</h1><p>{} <a href="{}">{}</a></p>"#,
        lang.t("Không tìm thấy trang", "Page not found"),
        lang.t(
            "Trang bạn tìm không tồn tại hoặc đã bị gỡ.",
            "The page you are looking for does not exist or was removed."
        ),
        lang.home(),
        lang.t("Về trang chủ", "Back to the home page"),
    );
    let title = lang.t("Không tìm thấy trang", "Page not found");
    (
        StatusCode::NOT_FOUND,
        Html(layout(lang, "/", title, &main, None)),
    )
        .into_response()
}

/// `?refresh=MS`: how often the statistics box refreshes (default 5 s, 50 ms to 1 hour).
fn refresh_ms(q: &HashMap<String, String>) -> u64 {
    q.get("refresh")
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(5000, |ms| ms.clamp(50, 3_600_000))
}

/// The most-read box and the statistics box with its chart.
fn sidebar(app: &App, lang: Lang, refresh: u64) -> String {
    let mut s = format!(
        r#"<section class="box" id="most-read"><h3>{}</h3>"#,
        lang.t("Tin đọc nhiều", "Most read")
    );
    for (vi, en, id, period) in [
        ("Hôm nay", "Today", "top-today", Period::Today),
        ("Trong tuần", "This week", "top-week", Period::ThisWeek),
    ] {
        let _ = write!(s, r#"<h4>{}</h4><ol id="{id}">"#, lang.t(vi, en));
        let top = app.catalog.top(&app.counter, period, 5);
        if top.is_empty() {
            let _ = write!(
                s,
                "<li class=\"none\">{}</li>",
                lang.t("Chưa có lượt xem", "No views yet")
            );
        }
        for (a, views) in top {
            let _ = write!(
                s,
                r#"<li><a class="top-link" href="/articles/{}{}">{}</a> <span class="top-views">({views})</span></li>"#,
                a.id,
                lang.query(),
                esc(&lang.title(&a)),
            );
        }
        s.push_str("</ol>");
    }
    s.push_str("</section>");
    let row = |vi: &'static str, en: &'static str, id: &str| {
        format!(
            r#"<li>{}: <b id="{id}">{}</b></li>"#,
            lang.t(vi, en),
            late(id)
        )
    };
    let _ = write!(
        s,
        r#"<section class="box" id="vc-stats" data-refresh="{refresh}"><h3>{title}</h3><ul>{}{}{}{}{}{}</ul>
<img id="vc-chart" src="/chart.svg?days=30{chart_lang}" width="356" height="178" alt="{alt}"></section>"#,
        row("Đang truy cập", "Online now", "vc-online"),
        row("Hôm nay", "Today", "vc-today"),
        row("Hôm qua", "Yesterday", "vc-yesterday"),
        row("Trong tuần", "This week", "vc-week"),
        row("Trong tháng", "This month", "vc-month"),
        row("Tổng lượt truy cập", "Total visits", "vc-total"),
        title = lang.t("Thống kê truy cập", "Visitor statistics"),
        chart_lang = lang.t("", "&amp;lang=en"),
        alt = lang.t(
            "Lượt truy cập và lượt xem trang 30 ngày qua",
            "Visits and page views, last 30 days"
        ),
    );
    s
}

fn layout(lang: Lang, path: &str, title: &str, main: &str, sidebar: Option<&str>) -> String {
    let mut nav = String::new();
    for (slug, vi, en) in SECTIONS {
        let _ = write!(
            nav,
            r##"<a href="{}#{slug}">{}</a>"##,
            lang.home(),
            lang.t(vi, en)
        );
    }
    let (switch_href, switch_label) = match lang {
        Lang::Vi => (format!("{path}?lang=en"), "English"),
        Lang::En => (path.to_string(), "Tiếng Việt"),
    };
    let (sidebar, script) = match sidebar {
        Some(s) => (
            format!("<aside>{s}</aside>"),
            format!("<script>{SCRIPT}</script>"),
        ),
        None => (String::new(), String::new()),
    };
    format!(
        r#"<!doctype html>
<html lang="{code}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · {site}</title><style>{CSS}</style></head>
<body><header><div class="wrap"><a class="site" href="{home}">{site}</a>
<a class="lang" href="{switch_href}">{switch_label}</a></div>
<nav class="wrap"><a href="{home}">{home_label}</a>{nav}</nav></header>
<div class="wrap cols"><main>{main}</main>{sidebar}</div>
<footer class="wrap">{footer}</footer>{script}</body></html>"#,
        code = lang.code(),
        site = lang.t(
            "Cổng Thông tin điện tử tỉnh Hòa Lâm",
            "Hòa Lâm Province Web Portal"
        ),
        home = lang.home(),
        home_label = lang.t("Trang chủ", "Home"),
        footer = lang.t(
            "Trang minh họa của thư viện visitor-counter; tỉnh và tin bài là hư cấu. \
             Trang dùng cookie vc_id để đếm lượt truy cập.",
            "Example site of the visitor-counter library; the province and the news are \
             fictional. The site uses the vc_id cookie to count visits."
        ),
    )
}

const CSS: &str = "\
body{margin:0;font-family:Arial,Helvetica,sans-serif;color:#222;background:#f5f5f5}
.wrap{max-width:1080px;margin:0 auto;padding:0 12px}
header{background:#a50000;color:#fff}
header .site{display:inline-block;color:#fff;font-size:1.5em;font-weight:bold;padding:14px 0;text-decoration:none}
header .lang{float:right;color:#fff;padding:18px 0}
nav{background:#c8102e;padding:6px 12px}nav a{color:#fff;margin-right:18px;text-decoration:none}
.cols{display:flex;gap:20px;margin-top:16px}main{flex:1;background:#fff;padding:4px 16px 16px}
aside{width:380px}
h2{color:#a50000;border-bottom:2px solid #a50000;font-size:1.1em;text-transform:uppercase}
.news{list-style:none;padding:0}.news li{padding:6px 0;border-bottom:1px dotted #ccc}
.article-link{color:#0a3d7a;text-decoration:none;font-weight:bold}.article-link:hover{text-decoration:underline}
.meta{display:block;color:#777;font-size:.85em;margin-top:2px}
.box{background:#fff;border:1px solid #ddd;border-top:3px solid #a50000;padding:8px 12px;margin-bottom:16px}
.box h3{margin:4px 0 8px;color:#a50000;font-size:1em;text-transform:uppercase}
.box h4{margin:8px 0 4px;font-size:.9em}.box ol{padding-left:20px;margin:0}.box li{margin:3px 0;font-size:.9em}
.box a{color:#0a3d7a;text-decoration:none}.none{color:#999;list-style:none}
#vc-stats ul{list-style:none;padding:0;margin:0 0 8px}#vc-stats li{padding:3px 0;border-bottom:1px dotted #eee}
#vc-stats b{float:right;white-space:nowrap}#vc-chart{max-width:100%;height:auto}
footer{color:#777;font-size:.85em;padding:16px 12px}
@media (max-width:760px){.cols{display:block}aside{width:auto}}";

/// Refreshes the statistics box from `/api/stats`, and the chart when the numbers moved.
const SCRIPT: &str = r#"
(function () {
  var box = document.getElementById("vc-stats");
  if (!box || !window.fetch) return;
  var every = Number(box.dataset.refresh) || 5000;
  var fields = {
    "vc-online": function (s) { return s.online; },
    "vc-today": function (s) { return s.visits.today; },
    "vc-yesterday": function (s) { return s.visits.yesterday; },
    "vc-week": function (s) { return s.visits.this_week; },
    "vc-month": function (s) { return s.visits.this_month; },
    "vc-total": function (s) { return s.visits.total; }
  };
  var chart = document.getElementById("vc-chart");
  var chartSrc = chart ? chart.getAttribute("src") : "";
  var lastViews = null;
  function group(n) { return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, " "); }
  function tick() {
    if (document.hidden) { setTimeout(tick, every); return; }
    fetch("/api/stats", { cache: "no-store" })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (s) {
        for (var id in fields) {
          var el = document.getElementById(id);
          if (el) el.textContent = group(fields[id](s));
        }
        if (chart && lastViews !== null && s.page_views.total !== lastViews) {
          chart.src = chartSrc + "&t=" + Date.now();
        }
        lastViews = s.page_views.total;
      })
      .catch(function () {})
      .then(function () { setTimeout(tick, every); });
  }
  setTimeout(tick, every);
})();
"#;

// ---------------------------------------------------------------------------------------------
// Numbers filled in after counting
// ---------------------------------------------------------------------------------------------

const LATE: &str = "<!--late:";

/// A marker [`fill_late_numbers`] replaces with a number read after the request was counted.
fn late(name: &str) -> String {
    format!("{LATE}{name}-->")
}

/// The outermost middleware: in HTML responses, replaces the `late` markers with the counter's
/// numbers read now, after the `CountLayer` (inside this one) has counted the request. Other
/// responses pass through untouched.
async fn fill_late_numbers(State(app): AppState, req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let html = res
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if !html {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let bytes = match axum::body::to_bytes(body, 1 << 20).await {
        Ok(b) => b,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let Some(mut rest) = std::str::from_utf8(&bytes)
        .ok()
        .filter(|s| s.contains(LATE))
    else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    let stats = app.counter.stats();
    let article_views = parts
        .extensions
        .get::<ArticleId>()
        .map(|&id| app.counter.article_stats(id).views.total);
    let mut out = String::with_capacity(rest.len());
    while let Some((before, after)) = rest.split_once(LATE) {
        let Some((name, tail)) = after.split_once("-->") else {
            break;
        };
        out.push_str(before);
        let value = match name {
            "vc-online" => grouped(stats.online),
            "vc-today" => grouped(stats.visits.today),
            "vc-yesterday" => grouped(stats.visits.yesterday),
            "vc-week" => grouped(stats.visits.this_week),
            "vc-month" => grouped(stats.visits.this_month),
            "vc-total" => grouped(stats.visits.total),
            "article-views" => article_views.unwrap_or(0).to_string(),
            _ => String::new(),
        };
        out.push_str(&value);
        rest = tail;
    }
    out.push_str(rest);
    parts.headers.remove(CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(out))
}

// ---------------------------------------------------------------------------------------------
// JSON API
// ---------------------------------------------------------------------------------------------

/// JSON with `Cache-Control: no-store` (the numbers change all the time).
fn json<T: Serialize>(status: StatusCode, value: T) -> Response {
    (status, [(CACHE_CONTROL, "no-store")], Json(value)).into_response()
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    json(status, json!({ "error": message.into() }))
}

fn bad_request(message: impl Into<String>) -> Response {
    error(StatusCode::BAD_REQUEST, message)
}

/// An article id: digits only.
fn parse_id(s: &str) -> Option<ArticleId> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u64>().ok().map(ArticleId::from)
}

/// A count parameter from 1 up; values above `max` are capped to it. `Err`: the message.
fn count_param(
    q: &HashMap<String, String>,
    name: &str,
    default: usize,
    max: usize,
) -> Result<usize, String> {
    let Some(v) = q.get(name) else {
        return Ok(default);
    };
    let digits = !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
    match v.parse::<u64>() {
        Ok(n) if n >= 1 => Ok(usize::try_from(n).unwrap_or(usize::MAX).min(max)),
        Err(_) if digits => Ok(max), // more digits than u64 holds: capped
        _ => Err(format!(
            "`{name}` must be a whole number from 1 to {max} (larger values are capped), got {v:?}"
        )),
    }
}

/// The `period` parameter (default `today`). `Err`: the message.
fn period_param(q: &HashMap<String, String>) -> Result<Period, String> {
    const NAMES: [(&str, Period); 8] = [
        ("today", Period::Today),
        ("yesterday", Period::Yesterday),
        ("this_week", Period::ThisWeek),
        ("last_week", Period::LastWeek),
        ("this_month", Period::ThisMonth),
        ("last_month", Period::LastMonth),
        ("this_year", Period::ThisYear),
        ("total", Period::Total),
    ];
    let Some(v) = q.get("period") else {
        return Ok(Period::Today);
    };
    NAMES
        .iter()
        .find(|(n, _)| n == v)
        .map(|&(_, p)| p)
        .ok_or_else(|| {
            let names: Vec<&str> = NAMES.iter().map(|(n, _)| *n).collect();
            format!("`period` must be one of {}, got {v:?}", names.join(", "))
        })
}

async fn api_stats(State(app): AppState) -> Response {
    json(StatusCode::OK, app.counter.stats())
}

async fn api_article(State(app): AppState, Path(id): Path<String>) -> Response {
    let Some(id) = parse_id(&id) else {
        return bad_request(format!("article id must be a whole number, got {id:?}"));
    };
    if app.catalog.get(id).is_none() {
        return error(StatusCode::NOT_FOUND, format!("no article {id}"));
    }
    json(StatusCode::OK, app.counter.article_stats(id))
}

#[derive(Serialize)]
struct TopEntry {
    id: ArticleId,
    slug: String,
    title: String,
    views: u64,
}

async fn api_top(State(app): AppState, Query(q): Params) -> Response {
    let params = period_param(&q).and_then(|p| Ok((p, count_param(&q, "n", 10, 100)?)));
    let (period, n) = match params {
        Ok(pn) => pn,
        Err(e) => return bad_request(e),
    };
    let top: Vec<TopEntry> = app
        .catalog
        .top(&app.counter, period, n)
        .into_iter()
        .map(|(a, views)| TopEntry {
            id: a.id,
            slug: a.slug,
            title: a.title,
            views,
        })
        .collect();
    json(StatusCode::OK, top)
}

async fn api_history(State(app): AppState, Query(q): Params) -> Response {
    match count_param(&q, "days", 30, HISTORY_DAYS) {
        Ok(days) => json(StatusCode::OK, app.counter.history(days)),
        Err(e) => bad_request(e),
    }
}

// ---------------------------------------------------------------------------------------------
// Chart
// ---------------------------------------------------------------------------------------------

async fn chart(State(app): AppState, Query(q): Params) -> Response {
    let days = match count_param(&q, "days", 30, HISTORY_DAYS) {
        Ok(d) => d,
        Err(e) => return bad_request(e),
    };
    let svg = chart_svg(&app.counter.history(days), Lang::of(&q));
    (
        [
            (CONTENT_TYPE, "image/svg+xml; charset=utf-8"),
            (CACHE_CONTROL, "no-store"),
        ],
        svg,
    )
        .into_response()
}

/// The smallest of 1, 2, 5, 10, 20, 50... that splits `0..=max` into at most 5 steps.
fn tick_step(max: u64) -> u64 {
    let mut power = 1u64;
    loop {
        for m in [1, 2, 5] {
            let step = power.saturating_mul(m);
            if max.div_ceil(step) <= 5 {
                return step;
            }
        }
        power = power.saturating_mul(10);
    }
}

/// Page views per day as bars, visits per day as a line, with axes, labels and a legend.
fn chart_svg(days: &[DayCounts], lang: Lang) -> String {
    // Sized for the sidebar: drawn at 480 x 240, shown at about 360 pixels wide.
    const W: f64 = 480.0;
    const H: f64 = 240.0;
    const LEFT: f64 = 46.0;
    const RIGHT: f64 = 12.0;
    const TOP: f64 = 46.0;
    const BOTTOM: f64 = 26.0;
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let peak = days
        .iter()
        .map(|d| d.page_views.max(d.visits))
        .max()
        .unwrap_or(0)
        .max(1);
    let step = tick_step(peak);
    let top_value = peak.div_ceil(step).saturating_mul(step);
    let y = |v: u64| TOP + ph - v as f64 / top_value as f64 * ph;
    let slot = pw / days.len().max(1) as f64;
    let x = |i: usize| LEFT + slot * (i as f64 + 0.5);
    let (pv_label, visits_label) = (
        lang.t("Lượt xem trang", "Page views"),
        lang.t("Lượt truy cập", "Visits"),
    );
    let title = match lang {
        Lang::Vi => format!("Lượt truy cập và lượt xem trang, {} ngày qua", days.len()),
        Lang::En => format!("Visits and page views, last {} days", days.len()),
    };

    let mut s = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="Arial, Helvetica, sans-serif" font-size="12">
<title>{title}</title><rect width="{W}" height="{H}" fill="#fff"/>
<text x="{LEFT}" y="16" font-size="14" font-weight="bold" fill="#a50000">{title}</text>
"##
    );
    // Legend.
    let lx = LEFT;
    let _ = writeln!(
        s,
        r##"<rect x="{lx}" y="26" width="12" height="10" fill="#f2b3b3"/><text x="{}" y="35">{pv_label}</text>
<line x1="{}" y1="31" x2="{}" y2="31" stroke="#a50000" stroke-width="2"/><text x="{}" y="35">{visits_label}</text>"##,
        lx + 16.0,
        lx + 130.0,
        lx + 146.0,
        lx + 150.0,
    );
    // Horizontal grid and y labels.
    let mut v = 0;
    while v <= top_value {
        let yy = y(v);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{yy:.1}" x2="{}" y2="{yy:.1}" stroke="#e5e5e5"/><text x="{}" y="{:.1}" text-anchor="end" fill="#555">{}</text>"##,
            W - RIGHT,
            LEFT - 6.0,
            yy + 4.0,
            grouped(v),
        );
        match v.checked_add(step) {
            Some(next) => v = next,
            None => break,
        }
    }
    // Page views as bars, with a tooltip per day.
    let bar = (slot * 0.7).max(1.0);
    for (i, d) in days.iter().enumerate() {
        let top = y(d.page_views);
        let _ = writeln!(
            s,
            r##"<rect x="{:.1}" y="{top:.1}" width="{bar:.1}" height="{:.1}" fill="#f2b3b3"><title>{}: {} {}, {} {}</title></rect>"##,
            x(i) - bar / 2.0,
            TOP + ph - top,
            day_label(lang, d, true),
            d.visits,
            visits_label.to_lowercase(),
            d.page_views,
            pv_label.to_lowercase(),
        );
    }
    // Visits as a line, with dots when there is room.
    let points: Vec<String> = days
        .iter()
        .enumerate()
        .map(|(i, d)| format!("{:.1},{:.1}", x(i), y(d.visits)))
        .collect();
    let _ = writeln!(
        s,
        r##"<polyline points="{}" fill="none" stroke="#a50000" stroke-width="2"/>"##,
        points.join(" ")
    );
    if days.len() <= 62 {
        for (i, d) in days.iter().enumerate() {
            let _ = writeln!(
                s,
                r##"<circle cx="{:.1}" cy="{:.1}" r="2" fill="#a50000"/>"##,
                x(i),
                y(d.visits)
            );
        }
    }
    // Axes and date labels (about five, today always among them).
    let _ = writeln!(
        s,
        r##"<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{0}" stroke="#333"/><line x1="{LEFT}" y1="{0}" x2="{1}" y2="{0}" stroke="#333"/>"##,
        TOP + ph,
        W - RIGHT,
    );
    let every = days.len().div_ceil(5).max(1);
    for i in (0..days.len()).rev().step_by(every) {
        let _ = writeln!(
            s,
            r##"<line x1="{0:.1}" y1="{1}" x2="{0:.1}" y2="{2}" stroke="#333"/><text x="{0:.1}" y="{3}" text-anchor="middle" fill="#555">{4}</text>"##,
            x(i),
            TOP + ph,
            TOP + ph + 4.0,
            TOP + ph + 17.0,
            day_label(lang, &days[i], false),
        );
    }
    s.push_str("</svg>\n");
    s
}

fn day_label(lang: Lang, d: &DayCounts, with_year: bool) -> String {
    let (day, month, year) = (d.date.day(), d.date.month(), d.date.year());
    let short = &month.to_string()[..3]; // "Apr"
    match (lang, with_year) {
        (Lang::Vi, false) => format!("{day:02}/{:02}", u8::from(month)),
        (Lang::Vi, true) => format!("{day:02}/{:02}/{year}", u8::from(month)),
        (Lang::En, false) => format!("{day} {short}"),
        (Lang::En, true) => format!("{day} {short} {year}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------------

async fn metrics(State(app): AppState) -> Response {
    let c = &app.counter;
    let (s, ex, saves, sync) = (c.stats(), c.exclusions(), c.save_status(), c.sync_status());
    let mut m = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, u64)]| {
        let _ = writeln!(m, "# HELP visitor_counter_{name} {help}");
        let _ = writeln!(m, "# TYPE visitor_counter_{name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(m, "visitor_counter_{name}{labels} {value}");
        }
    };
    metric(
        "online",
        "gauge",
        "Visitors whose last page view was less than the online window (5 min) ago.",
        &[("", s.online)],
    );
    metric(
        "visits_today",
        "gauge",
        "Visits started today (site's local day).",
        &[("", s.visits.today)],
    );
    metric(
        "page_views_today",
        "gauge",
        "Page views today (site's local day).",
        &[("", s.page_views.today)],
    );
    metric(
        "visitors_today",
        "gauge",
        "Distinct visitors today (site's local day).",
        &[("", s.visitors.today)],
    );
    metric(
        "visits_total",
        "counter",
        "Visits ever counted, the initial total included.",
        &[("", s.visits.total)],
    );
    metric(
        "page_views_total",
        "counter",
        "Page views ever counted, the initial total included.",
        &[("", s.page_views.total)],
    );
    metric(
        "excluded_requests_total",
        "counter",
        "Requests not counted as page views since start, by reason.",
        &[
            (r#"{reason="bot"}"#, ex.bot),
            (r#"{reason="prefetch"}"#, ex.prefetch),
            (r#"{reason="method"}"#, ex.method),
            (r#"{reason="status"}"#, ex.status),
            (r#"{reason="not_page"}"#, ex.not_page),
        ],
    );
    metric(
        "tracked_sessions",
        "gauge",
        "Visitors currently held in the session table.",
        &[("", c.tracked_sessions() as u64)],
    );
    metric(
        "snapshot_saves_total",
        "counter",
        "Snapshot saves since start, by outcome.",
        &[
            (r#"{outcome="ok"}"#, saves.saves),
            (r#"{outcome="failed"}"#, saves.failures),
        ],
    );
    metric(
        "syncs_total",
        "counter",
        "Syncs with the shared site (--redis) since start, by outcome.",
        &[
            (r#"{outcome="ok"}"#, sync.syncs),
            (r#"{outcome="failed"}"#, sync.failures),
        ],
    );
    metric(
        "sync_pending_page_views",
        "gauge",
        "Page views recorded here and not yet in the shared site's Redis.",
        &[("", sync.pending_page_views)],
    );
    (
        [
            (CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8"),
            (CACHE_CONTROL, "no-store"),
        ],
        m,
    )
        .into_response()
}

// ---------------------------------------------------------------------------------------------
// Admin
// ---------------------------------------------------------------------------------------------

/// Lets a request through only with `Authorization: Bearer <VC_ADMIN_TOKEN>`.
async fn require_token(State(token): State<Arc<str>>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map_or("", |(_, t)| t.trim());
    if !constant_time_eq(given.as_bytes(), token.as_bytes()) {
        let mut res = error(
            StatusCode::UNAUTHORIZED,
            "admin routes need `Authorization: Bearer <token>`",
        );
        res.headers_mut().insert(
            WWW_AUTHENTICATE,
            axum::http::HeaderValue::from_static("Bearer"),
        );
        return res;
    }
    next.run(req).await
}

/// Compares without stopping at the first difference, so the time taken does not tell an
/// attacker how much of a guess was right (only, at most, the token's length).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let (x, y) = (
            a.get(i).copied().unwrap_or(0),
            b.get(i).copied().unwrap_or(0),
        );
        diff |= usize::from(x ^ y);
    }
    std::hint::black_box(diff) == 0
}

/// `GET /api/sync`: how syncing with the shared site goes (all zeros when it is not shared).
async fn api_sync(State(app): AppState) -> Response {
    json(StatusCode::OK, sync_status_json(&app))
}

fn sync_status_json(app: &App) -> serde_json::Value {
    let s = app.counter.sync_status();
    json!({
        "syncs": s.syncs,
        "failures": s.failures,
        "last_error": s.last_error,
        "last_synced_at_unix": s.last_synced_at.map(|t| t.unix_timestamp()),
        "pending_page_views": s.pending_page_views,
    })
}

fn save_status_json(app: &App) -> serde_json::Value {
    let s = app.counter.save_status();
    json!({
        "path": app.snapshot.display().to_string(),
        "saves": s.saves,
        "failures": s.failures,
        "last_error": s.last_error,
        "last_saved_at_unix": s.last_saved_at.map(|t| t.unix_timestamp()),
    })
}

async fn admin_save(State(app): AppState) -> Response {
    match app.counter.save() {
        Ok(()) => json(
            StatusCode::OK,
            json!({ "saved": true, "status": save_status_json(&app) }),
        ),
        Err(e) => json(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({ "error": e.to_string(), "status": save_status_json(&app) }),
        ),
    }
}

async fn admin_status(State(app): AppState) -> Response {
    json(
        StatusCode::OK,
        json!({
            "snapshot": save_status_json(&app),
            "sync": sync_status_json(&app),
            "tracked_sessions": app.counter.tracked_sessions(),
            "tracked_article_views": app.counter.tracked_article_views(),
            "exclusions": app.counter.exclusions(),
        }),
    )
}

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

/// Digits grouped by thousands with a space, as the portals print them: 10 370.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(ch);
    }
    out
}

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
