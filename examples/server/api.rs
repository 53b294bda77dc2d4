//! The JSON API, the admin routes and `/metrics`: none of them is counted as a page view.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use prometheus_client::encoding;
use serde::Serialize;
use serde_json::json;
use visitor_counter::{ArticleId, Period, HISTORY_DAYS};

use crate::{App, AppState, Params};

/// JSON with `Cache-Control: no-store` (the numbers change all the time).
fn json<T: Serialize>(status: StatusCode, value: T) -> Response {
    (status, [(CACHE_CONTROL, "no-store")], Json(value)).into_response()
}

/// `{"error": message}`.
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    json(status, json!({ "error": message.into() }))
}

pub fn bad_request(message: impl Into<String>) -> Response {
    error(StatusCode::BAD_REQUEST, message)
}

/// An article id: digits only.
pub fn parse_id(s: &str) -> Option<ArticleId> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u64>().ok().map(ArticleId::from)
}

/// A count parameter from 1 up; values above `max` are capped to it. `Err`: the message.
pub fn count_param(
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

/// The `period` parameter (default `today`), by [`Period`]'s name. `Err`: the message.
fn period_param(q: &HashMap<String, String>) -> Result<Period, String> {
    q.get("period").map_or(Ok(Period::Today), |v| {
        v.parse::<Period>().map_err(|e| format!("`period`: {e}"))
    })
}

/// `GET /api/stats`: the counter's `Stats`.
pub async fn stats(State(app): AppState) -> Response {
    json(StatusCode::OK, app.counter.stats())
}

/// `GET /api/articles/{id}`: the article's `ArticleStats`.
pub async fn article(State(app): AppState, Path(id): Path<String>) -> Response {
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

/// `GET /api/top?period=today&n=10`: the most read articles.
pub async fn top(State(app): AppState, Query(q): Params) -> Response {
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

/// `GET /api/history?days=30`: `DayCounts` per day, oldest first.
pub async fn history(State(app): AppState, Query(q): Params) -> Response {
    match count_param(&q, "days", 30, HISTORY_DAYS) {
        Ok(days) => json(StatusCode::OK, app.counter.history(days)),
        Err(e) => bad_request(e),
    }
}

/// `GET /api/sync`: how syncing with the shared site goes (all zeros when it is not shared).
pub async fn sync(State(app): AppState) -> Response {
    json(StatusCode::OK, sync_status(&app))
}

fn sync_status(app: &App) -> serde_json::Value {
    let s = app.counter.sync_status();
    json!({
        "syncs": s.syncs,
        "failures": s.failures,
        "last_error": s.last_error,
        "last_synced_at_unix": s.last_synced_at.map(|t| t.unix_timestamp()),
        "pending_page_views": s.pending_page_views,
    })
}

fn save_status(app: &App) -> serde_json::Value {
    let s = app.counter.save_status();
    json!({
        "path": app.snapshot.display().to_string(),
        "saves": s.saves,
        "failures": s.failures,
        "last_error": s.last_error,
        "last_saved_at_unix": s.last_saved_at.map(|t| t.unix_timestamp()),
    })
}

/// `POST /admin/save`: saves the snapshot now.
pub async fn admin_save(State(app): AppState) -> Response {
    match app.counter.save() {
        Ok(()) => json(
            StatusCode::OK,
            json!({ "saved": true, "status": save_status(&app) }),
        ),
        Err(e) => json(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({ "error": e.to_string(), "status": save_status(&app) }),
        ),
    }
}

/// `GET /admin/status`: snapshot, sync and memory.
pub async fn admin_status(State(app): AppState) -> Response {
    json(
        StatusCode::OK,
        json!({
            "snapshot": save_status(&app),
            "sync": sync_status(&app),
            "tracked_sessions": app.counter.tracked_sessions(),
            "tracked_article_views": app.counter.tracked_article_views(),
            "exclusions": app.counter.exclusions(),
        }),
    )
}

/// `GET /metrics`: the registry built at startup, with the collector of
/// [`visitor_counter::metrics`]. The collector reads the counter now, once per scrape.
///
/// In the OpenMetrics text format when the request's `Accept` names it (Prometheus's scrapes
/// do), else in the Prometheus text format 0.0.4: for `curl`, and for `promtool check
/// metrics`, which reads only that format (given OpenMetrics, it takes a counter's `_total`
/// samples for a family apart from the `# HELP` and `# TYPE` of its name). Both hold the same
/// samples under the same names.
pub async fn metrics(State(app): AppState, headers: HeaderMap) -> Response {
    let openmetrics = headers.get_all(ACCEPT).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.contains("application/openmetrics-text"))
    });
    let mut text = String::new();
    let (encoded, content_type) = if openmetrics {
        (
            encoding::text::encode(&mut text, &app.metrics),
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )
    } else {
        (
            encoding::prometheus_text::encode(&mut text, &app.metrics),
            encoding::prometheus_text::CONTENT_TYPE,
        )
    };
    if let Err(e) = encoded {
        return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    }
    (
        [(CONTENT_TYPE, content_type), (CACHE_CONTROL, "no-store")],
        text,
    )
        .into_response()
}
