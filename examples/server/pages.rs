//! The HTML pages, written with `maud` (which escapes every value it inserts): the home page,
//! the article pages, the 404 page, and the layout and sidebar they share. A page holds the
//! numbers as they were when it was rendered; `stats.js` shows the live ones (see "Numbers that
//! include the request showing them" in `main.rs`).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::header::CACHE_CONTROL;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use maud::{html, Markup, PreEscaped, DOCTYPE};
use visitor_counter::{ArticleId, Period};

use crate::api::parse_id;
use crate::catalog::SECTIONS;
use crate::i18n::{grouped, Lang};
use crate::{App, AppState, Params};

const CSS: &str = include_str!("style.css");
const SCRIPT: &str = include_str!("stats.js");

/// A counted page: in beacon mode it carries the beacon's script (naming `article`) and may be
/// cached for a minute by any cache, since it holds nothing of the reader's and sets no cookie.
fn counted_page(
    app: &App,
    article: Option<ArticleId>,
    page: impl FnOnce(Option<String>) -> Markup,
) -> Response {
    let Some(beacon) = &app.beacon else {
        return page(None).into_response();
    };
    let page = page(Some(beacon.script(article)));
    ([(CACHE_CONTROL, "public, max-age=60")], page).into_response()
}

/// `GET /`: the news by section, and the sidebar.
pub async fn home(State(app): AppState, Query(q): Params) -> Response {
    let lang = Lang::of(&q);
    let main = html! {
        @for (slug, _, _) in SECTIONS {
            section #(slug) {
                h2 { (lang.section(slug)) }
                ul.news {
                    @for a in app.catalog.section(slug, 10) {
                        li {
                            a.article-link href={ "/articles/" (a.id) (lang.query()) } {
                                (lang.title(&a))
                            }
                            span.meta {
                                (lang.date_time(a.published_at)) " · "
                                span.views data-article=(a.id) {
                                    (app.counter.article_stats(a.id).views.total)
                                }
                                " " (lang.t("lượt xem", "views"))
                            }
                        }
                    }
                }
            }
        }
    };
    let sidebar = sidebar(&app, lang, refresh_ms(&q));
    counted_page(&app, None, |beacon| {
        layout(
            lang,
            "/",
            lang.t("Trang chủ", "Home"),
            main,
            Some(sidebar),
            beacon,
        )
    })
}

/// `GET /articles/{id}`: an article, counted as a view of it; the 404 page for unknown ids.
pub async fn article(State(app): AppState, Path(id): Path<String>, Query(q): Params) -> Response {
    let lang = Lang::of(&q);
    let Some(a) = parse_id(&id).and_then(|id| app.catalog.get(id)) else {
        return not_found_page(lang);
    };
    let title = lang.title(&a);
    let body = lang.t(
        "(Nội dung minh họa.) Bài viết này thuộc trang ví dụ của thư viện visitor-counter. \
         Mỗi lần tải trang là một lượt xem trang; một lượt truy cập kéo dài đến khi người \
         đọc không hoạt động 30 phút; các lần tải lại bài viết của cùng một người đọc trong \
         30 phút chỉ được tính là một lượt xem bài.",
        "(Placeholder text.) This article belongs to the example site of the \
         visitor-counter library. Every page load is a page view; a visit lasts until the \
         reader has been idle for 30 minutes; reloads of an article by the same reader \
         within 30 minutes count as one view of the article.",
    );
    let main = html! {
        article {
            p.crumb {
                a href=(lang.home()) { (lang.t("Trang chủ", "Home")) }
                " › "
                a href={ (lang.home()) "#" (a.section) } { (lang.section(&a.section)) }
            }
            h1 { (title) }
            p.meta {
                (lang.date_time(a.published_at)) " · " (lang.t("Lượt xem", "Views")) ": "
                span #article-views data-article=(a.id) {
                    (app.counter.article_stats(a.id).views.total)
                }
            }
            p { (body) }
        }
    };
    let sidebar = sidebar(&app, lang, refresh_ms(&q));
    let path = format!("/articles/{}", a.id);
    let page = counted_page(&app, Some(a.id), |beacon| {
        layout(lang, &path, &title, main, Some(sidebar), beacon)
    });
    // The extension tells the CountLayer to count a view of this article (in server mode).
    (Extension(a.id), page).into_response()
}

/// Any other path: the 404 page.
pub async fn not_found(Query(q): Params) -> Response {
    not_found_page(Lang::of(&q))
}

fn not_found_page(lang: Lang) -> Response {
    let title = lang.t("Không tìm thấy trang", "Page not found");
    let main = html! {
        h1 { (title) }
        p {
            (lang.t(
                "Trang bạn tìm không tồn tại hoặc đã bị gỡ.",
                "The page you are looking for does not exist or was removed.",
            ))
            " "
            a href=(lang.home()) { (lang.t("Về trang chủ", "Back to the home page")) }
        }
    };
    (
        StatusCode::NOT_FOUND,
        layout(lang, "/", title, main, None, None),
    )
        .into_response()
}

/// `?refresh=MS`: how often the statistics box refreshes (default 5 s, 50 ms to 1 hour).
fn refresh_ms(q: &HashMap<String, String>) -> u64 {
    q.get("refresh")
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(5000, |ms| ms.clamp(50, 3_600_000))
}

/// The most-read box, and the statistics box with its chart.
fn sidebar(app: &App, lang: Lang, refresh: u64) -> Markup {
    let most_read = [
        ("Hôm nay", "Today", "top-today", Period::Today),
        ("Trong tuần", "This week", "top-week", Period::ThisWeek),
    ];
    let now = app.counter.stats();
    let stats = [
        ("Đang truy cập", "Online now", "vc-online", now.online),
        ("Hôm nay", "Today", "vc-today", now.visits.today),
        ("Hôm qua", "Yesterday", "vc-yesterday", now.visits.yesterday),
        ("Trong tuần", "This week", "vc-week", now.visits.this_week),
        (
            "Trong tháng",
            "This month",
            "vc-month",
            now.visits.this_month,
        ),
        (
            "Tổng lượt truy cập",
            "Total visits",
            "vc-total",
            now.visits.total,
        ),
    ];
    html! {
        section.box #most-read {
            h3 { (lang.t("Tin đọc nhiều", "Most read")) }
            @for (vi, en, id, period) in most_read {
                h4 { (lang.t(vi, en)) }
                ol #(id) {
                    @let top = app.catalog.top(&app.counter, period, 5);
                    @if top.is_empty() {
                        li.none { (lang.t("Chưa có lượt xem", "No views yet")) }
                    }
                    @for (a, views) in top {
                        li {
                            a.top-link href={ "/articles/" (a.id) (lang.query()) } {
                                (lang.title(&a))
                            }
                            " "
                            span.top-views { "(" (views) ")" }
                        }
                    }
                }
            }
        }
        section.box #vc-stats data-refresh=(refresh) {
            h3 { (lang.t("Thống kê truy cập", "Visitor statistics")) }
            ul {
                @for (vi, en, id, n) in stats {
                    li { (lang.t(vi, en)) ": " b #(id) { (grouped(n)) } }
                }
            }
            img #vc-chart src={ "/chart.svg?days=30" (lang.t("", "&lang=en")) }
                width="356" height="178"
                alt=(lang.t("Lượt truy cập và lượt xem trang 30 ngày qua",
                            "Visits and page views, last 30 days"));
        }
    }
}

/// The page around `main`: header, navigation, language switch, sidebar, footer, and the
/// beacon's script in beacon mode.
fn layout(
    lang: Lang,
    path: &str,
    title: &str,
    main: Markup,
    sidebar: Option<Markup>,
    beacon: Option<String>,
) -> Markup {
    let site = lang.t(
        "Cổng Thông tin điện tử tỉnh Hòa Lâm",
        "Hòa Lâm Province Web Portal",
    );
    let (switch_href, switch_label) = match lang {
        Lang::Vi => (format!("{path}?lang=en"), "English"),
        Lang::En => (path.to_string(), "Tiếng Việt"),
    };
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (site) }
                style { (PreEscaped(CSS)) }
            }
            body {
                header {
                    div.wrap {
                        a.site href=(lang.home()) { (site) }
                        a.lang href=(switch_href) { (switch_label) }
                    }
                    nav.wrap {
                        a href=(lang.home()) { (lang.t("Trang chủ", "Home")) }
                        @for (slug, vi, en) in SECTIONS {
                            a href={ (lang.home()) "#" (slug) } { (lang.t(vi, en)) }
                        }
                    }
                }
                div.wrap.cols {
                    main { (main) }
                    @if let Some(sidebar) = &sidebar {
                        aside { (sidebar) }
                    }
                }
                footer.wrap {
                    (lang.t(
                        "Trang minh họa của thư viện visitor-counter; tỉnh và tin bài là hư cấu. \
                         Trang dùng cookie vc_id để đếm lượt truy cập.",
                        "Example site of the visitor-counter library; the province and the news \
                         are fictional. The site uses the vc_id cookie to count visits.",
                    ))
                }
                @if let Some(beacon) = beacon {
                    (PreEscaped(beacon))
                }
                @if sidebar.is_some() {
                    script { (PreEscaped(SCRIPT)) }
                }
            }
        }
    }
}
