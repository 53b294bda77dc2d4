//! A news site on actix-web 4 counted by [`Count`]: `GET /` with the "Thống kê truy cập" box,
//! `GET /articles/{id}` (1 to 5, else 404) counted as a view of that article and showing its
//! views, and `GET /api/stats`, the [`Stats`](visitor_counter::Stats) as JSON.
//!
//! ```text
//! cargo run --release --example actix                       # http://127.0.0.1:8080/
//! cargo run --release --example actix -- --addr 127.0.0.1:0 --snapshot data/actix.snapshot
//! ```
//!
//! One `Count` is built before the server and cloned into each worker's `App`, so the workers
//! share its rules. `--pace-limit N` sets its pace limit (default 60 page views a minute per
//! visitor, 0: none); `--no-count` serves the same app without it, to measure its cost
//! (`.ci/load-actix.sh`). The numbers on a page include the
//! view showing them: `Count` counts once the handler has answered, and the page is rendered
//! when actix-web sends the body, after that ([`Late`]).

use std::convert::Infallible;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, MessageBody};
use actix_web::error::ErrorNotFound;
use actix_web::middleware::Condition;
use actix_web::web::{self, Bytes, Data, Path};
use actix_web::{App, HttpMessage, HttpRequest, HttpResponse, HttpServer, Result};
use clap::Parser;
use maud::{html, Markup, DOCTYPE};
use visitor_counter::{web::actix::Count, ArticleId, Counter};

/// An actix-web news site counted by visitor-counter's `Count` middleware.
#[derive(Parser)]
struct Args {
    /// Where to listen (port 0: any free port)
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8080")]
    addr: String,
    /// A snapshot file: loaded at start, saved every minute and on exit (default: none)
    #[arg(long, value_name = "PATH")]
    snapshot: Option<PathBuf>,
    /// Page views of one visitor counted in a minute; those past it are excluded (0: no limit)
    #[arg(long, value_name = "N", default_value_t = visitor_counter::web::DEFAULT_PACE_LIMIT)]
    pace_limit: u32,
    /// Serve the same app without the middleware (to measure its cost)
    #[arg(long)]
    no_count: bool,
}

const ARTICLES: [&str; 5] = [
    "Khánh thành cầu mới bắc qua sông Hồng",
    "Giá lúa vụ đông xuân tăng nhẹ",
    "Tuyển sinh lớp 10: những điều cần biết",
    "Lễ hội hoa xuân mở cửa đến rằm tháng Giêng",
    "Dự báo thời tiết: không khí lạnh tăng cường",
];

/// A body rendered when actix-web starts sending it: after `Count` has counted the request.
struct Late(Option<Box<dyn FnOnce() -> Markup>>);

impl MessageBody for Late {
    type Error = Infallible;
    fn size(&self) -> BodySize {
        BodySize::Stream
    }
    fn poll_next(
        mut self: Pin<&mut Self>,
        _: &mut Context,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Poll::Ready(self.0.take().map(|f| Ok(f().into_string().into())))
    }
}

/// A page: `main`, then the statistics box, both read from the counter as the page is sent.
fn page(counter: Data<Counter>, main: impl FnOnce(&Counter) -> Markup + 'static) -> HttpResponse {
    let render = move || {
        let s = counter.stats();
        html! { (DOCTYPE) html lang="vi" { head { meta charset="utf-8"; title { "Tin tức" } } body {
            (main(&counter))
            footer #vc-stats { h2 { "Thống kê truy cập" } ul {
                li { "Đang truy cập: " b { (s.online) } }
                li { "Hôm nay: " b { (s.visits.today) } }
                li { "Trong tuần: " b { (s.visits.this_week) } }
                li { "Tổng lượt truy cập: " b { (s.visits.total) } }
            } }
        } } }
    };
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(Late(Some(Box::new(render))))
}

async fn home(counter: Data<Counter>) -> HttpResponse {
    page(counter, |_| {
        html! {
            h1 { "Tin tức" }
            ul { @for (i, title) in ARTICLES.iter().enumerate() {
                li { a href={ "/articles/" (i + 1) } { (title) } }
            } }
        }
    })
}

/// Marks the request with the article's id: `Count` counts a view of that article.
async fn article(req: HttpRequest, id: Path<u64>, counter: Data<Counter>) -> Result<HttpResponse> {
    let title = id.checked_sub(1).and_then(|i| ARTICLES.get(i as usize));
    let title = *title.ok_or_else(|| ErrorNotFound("Không tìm thấy bài viết"))?;
    let id = ArticleId::from(*id);
    req.extensions_mut().insert(id);
    Ok(page(counter, move |c| {
        html! {
            h1 { (title) }
            p { "Lượt xem: " b #article-views { (c.article_stats(id).views.total) } }
            a href="/" { "Trang chủ" }
        }
    }))
}

async fn stats(counter: Data<Counter>) -> HttpResponse {
    HttpResponse::Ok().json(counter.stats())
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let mut builder = Counter::builder().utc_offset(time::macros::offset!(+7));
    if let Some(path) = &args.snapshot {
        std::fs::create_dir_all(path.parent().unwrap_or(std::path::Path::new(".")))?;
        builder = builder
            .snapshot_path(path)
            .autosave(std::time::Duration::from_secs(60));
    }
    let counter = builder.build()?;
    let count = Count::new(counter.clone()).pace_limit(args.pace_limit);
    let counting = !args.no_count;
    let data = Data::new(counter.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .wrap(Condition::new(counting, count.clone()))
            .route("/", web::get().to(home))
            .route("/articles/{id}", web::get().to(article))
            .route("/api/stats", web::get().to(stats))
    })
    .bind(&args.addr)?;
    for addr in server.addrs() {
        println!("actix example: http://{addr}/ (counting: {counting})");
    }
    server.run().await?; // until Ctrl-C or SIGTERM, then open requests finish
    if let Some(path) = &args.snapshot {
        counter.save()?;
        println!("saved {}", path.display());
    }
    Ok(())
}
