//! `GET /chart.svg`: visits and page views per day as an SVG chart, written with `maud` (SVG is
//! XML, so every element is closed, empty ones with `{}`).

use axum::extract::{Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use visitor_counter::{DayCounts, HISTORY_DAYS};

use crate::api::{bad_request, count_param};
use crate::i18n::{grouped, Lang};
use crate::{AppState, Params};

/// `GET /chart.svg?days=30`.
pub async fn chart(State(app): AppState, Query(q): Params) -> Response {
    let days = match count_param(&q, "days", 30, HISTORY_DAYS) {
        Ok(d) => d,
        Err(e) => return bad_request(e),
    };
    let svg = chart_svg(&app.counter.history(days), Lang::of(&q));
    let headers = [
        (CONTENT_TYPE, "image/svg+xml; charset=utf-8"),
        (CACHE_CONTROL, "no-store"),
    ];
    (headers, svg.into_string()).into_response()
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

/// A coordinate, to a tenth of a pixel.
fn px(v: f64) -> String {
    format!("{v:.1}")
}

/// Page views per day as bars, visits per day as a line, with axes, labels and a legend.
fn chart_svg(days: &[DayCounts], lang: Lang) -> Markup {
    // Sized for the sidebar: drawn at 480 x 240, shown at about 360 pixels wide.
    const W: f64 = 480.0;
    const H: f64 = 240.0;
    const LEFT: f64 = 46.0;
    const RIGHT: f64 = 12.0;
    const TOP: f64 = 46.0;
    const BOTTOM: f64 = 26.0;
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let bottom = TOP + ph;
    let peak = days
        .iter()
        .map(|d| d.page_views.max(d.visits))
        .max()
        .unwrap_or(0)
        .max(1);
    let step = tick_step(peak);
    let top_value = peak.div_ceil(step).saturating_mul(step);
    let y = |v: u64| bottom - v as f64 / top_value as f64 * ph;
    let slot = pw / days.len().max(1) as f64;
    let x = |i: usize| LEFT + slot * (i as f64 + 0.5);
    let bar = (slot * 0.7).max(1.0);
    let pv_label = lang.t("Lượt xem trang", "Page views");
    let visits_label = lang.t("Lượt truy cập", "Visits");
    let title = match lang {
        Lang::Vi => format!("Lượt truy cập và lượt xem trang, {} ngày qua", days.len()),
        Lang::En => format!("Visits and page views, last {} days", days.len()),
    };
    // The y axis: 0, step, 2 step... up to top_value.
    let ticks =
        std::iter::successors(Some(0u64), |v| v.checked_add(step)).take_while(|&v| v <= top_value);
    let points: Vec<String> = days
        .iter()
        .enumerate()
        .map(|(i, d)| format!("{},{}", px(x(i)), px(y(d.visits))))
        .collect();
    // About five date labels, today always among them.
    let every = days.len().div_ceil(5).max(1);
    let labelled = (0..days.len()).rev().step_by(every);

    html! {
        svg xmlns="http://www.w3.org/2000/svg" width=(W) height=(H) viewBox={ "0 0 " (W) " " (H) }
            font-family="Arial, Helvetica, sans-serif" font-size="12" {
            title { (title) }
            rect width=(W) height=(H) fill="#fff" {}
            text x=(LEFT) y="16" font-size="14" font-weight="bold" fill="#a50000" { (title) }
            // Legend.
            rect x=(LEFT) y="26" width="12" height="10" fill="#f2b3b3" {}
            text x=(LEFT + 16.0) y="35" { (pv_label) }
            line x1=(LEFT + 130.0) y1="31" x2=(LEFT + 146.0) y2="31" stroke="#a50000"
                stroke-width="2" {}
            text x=(LEFT + 150.0) y="35" { (visits_label) }
            // Horizontal grid and y labels.
            @for v in ticks {
                line x1=(LEFT) y1=(px(y(v))) x2=(W - RIGHT) y2=(px(y(v))) stroke="#e5e5e5" {}
                text x=(LEFT - 6.0) y=(px(y(v) + 4.0)) text-anchor="end" fill="#555" {
                    (grouped(v))
                }
            }
            // Page views as bars, with a tooltip per day.
            @for (i, d) in days.iter().enumerate() {
                rect x=(px(x(i) - bar / 2.0)) y=(px(y(d.page_views))) width=(px(bar))
                    height=(px(bottom - y(d.page_views))) fill="#f2b3b3" {
                    title {
                        (lang.day(d.date, true)) ": " (d.visits) " " (visits_label.to_lowercase())
                        ", " (d.page_views) " " (pv_label.to_lowercase())
                    }
                }
            }
            // Visits as a line, with dots when there is room.
            polyline points=(points.join(" ")) fill="none" stroke="#a50000" stroke-width="2" {}
            @if days.len() <= 62 {
                @for (i, d) in days.iter().enumerate() {
                    circle cx=(px(x(i))) cy=(px(y(d.visits))) r="2" fill="#a50000" {}
                }
            }
            // Axes and date labels.
            line x1=(LEFT) y1=(TOP) x2=(LEFT) y2=(bottom) stroke="#333" {}
            line x1=(LEFT) y1=(bottom) x2=(W - RIGHT) y2=(bottom) stroke="#333" {}
            @for i in labelled {
                line x1=(px(x(i))) y1=(bottom) x2=(px(x(i))) y2=(bottom + 4.0) stroke="#333" {}
                text x=(px(x(i))) y=(bottom + 17.0) text-anchor="middle" fill="#555" {
                    (lang.day(days[i].date, false))
                }
            }
        }
    }
}
