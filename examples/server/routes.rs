//! The router and its middleware: the `CountLayer` (in server or beacon mode) and the admin
//! guard.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use subtle::ConstantTimeEq;
use visitor_counter::web::CountLayer;

use crate::{api, chart, pages, App};

/// Every route, and the `CountLayer` (unless `counting` is `None`: `--no-count`) with the pace
/// limit, in beacon mode when the app has a beacon.
pub fn router(app: Arc<App>, counting: Option<u32>, admin_token: Option<Arc<str>>) -> Router {
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
    let router = routes.fallback(pages::not_found).with_state(app.clone());
    let Some(pace_limit) = counting else {
        return router;
    };
    let mut layer = CountLayer::new(app.counter.clone()).pace_limit(pace_limit);
    if let Some(beacon) = &app.beacon {
        layer = layer.beacon(beacon.clone());
    }
    router.layer(layer)
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
