//! The router and its middleware: the `CountLayer`, the admin guard, and the filler of the
//! numbers read after counting (see "Numbers that include the request showing them" in the
//! crate docs).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::PreEscaped;
use subtle::ConstantTimeEq;
use visitor_counter::web::CountLayer;
use visitor_counter::ArticleId;

use crate::i18n::grouped;
use crate::{api, chart, pages, App, AppState};

/// Every route, the `CountLayer` (unless `--no-count`) and the late-number filler.
pub fn router(app: Arc<App>, count: bool, admin_token: Option<Arc<str>>) -> Router {
    let mut routes = Router::new()
        .route("/", get(pages::home))
        .route("/articles/{id}", get(pages::article))
        .route("/api/stats", get(api::stats))
        .route("/api/articles/{id}", get(api::article))
        .route("/api/top", get(api::top))
        .route("/api/history", get(api::history))
        .route("/api/sync", get(api::sync))
        .route("/chart.svg", get(chart::chart))
        .route("/metrics", get(api::metrics));
    if let Some(token) = admin_token {
        // Without a token these routes do not exist at all (404).
        let admin = Router::new()
            .route("/admin/save", post(api::admin_save))
            .route("/admin/status", get(api::admin_status))
            .route_layer(middleware::from_fn_with_state(token, require_token));
        routes = routes.merge(admin);
    }
    let mut app_router = routes.fallback(pages::not_found).with_state(app.clone());
    if count {
        app_router = app_router.layer(CountLayer::new(app.counter.clone()));
    }
    // Outermost, so it runs after the CountLayer has counted (see the crate docs).
    app_router.layer(middleware::from_fn_with_state(app, fill_late_numbers))
}

/// Lets a request through only with `Authorization: Bearer <VC_ADMIN_TOKEN>`.
async fn require_token(State(token): State<Arc<str>>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map_or("", |(_, t)| t.trim());
    // In constant time, so the time taken does not tell how much of a guess was right (at most
    // whether its length was).
    if given.as_bytes().ct_eq(token.as_bytes()).into() {
        return next.run(req).await;
    }
    let message = "admin routes need `Authorization: Bearer <token>`";
    let mut res = api::error(StatusCode::UNAUTHORIZED, message);
    res.headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    res
}

const LATE: &str = "<!--late:";

/// A marker [`fill_late_numbers`] replaces with a number read after the request was counted:
/// `vc-online`, `vc-today`, `vc-yesterday`, `vc-week`, `vc-month`, `vc-total` or
/// `article-views` (of the article in the response's `ArticleId` extension).
pub fn late(name: &str) -> PreEscaped<String> {
    PreEscaped(format!("{LATE}{name}-->"))
}

/// The outermost middleware: in HTML responses, replaces the [`late`] markers with the
/// counter's numbers read now, after the `CountLayer` (inside this one) has counted the request.
/// Other responses pass through untouched.
pub async fn fill_late_numbers(State(app): AppState, req: Request, next: Next) -> Response {
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
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
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
        out.push_str(&match name {
            "vc-online" => grouped(stats.online),
            "vc-today" => grouped(stats.visits.today),
            "vc-yesterday" => grouped(stats.visits.yesterday),
            "vc-week" => grouped(stats.visits.this_week),
            "vc-month" => grouped(stats.visits.this_month),
            "vc-total" => grouped(stats.visits.total),
            "article-views" => article_views.unwrap_or(0).to_string(),
            _ => String::new(),
        });
        rest = tail;
    }
    out.push_str(rest);
    parts.headers.remove(CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(out))
}
