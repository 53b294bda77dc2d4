#![cfg(feature = "tower")]
//! `web::CountLayer` around an axum 0.8 `Router`, driven with `oneshot` and hand-built requests:
//! cookie and cookieless identity, what is excluded and why, article marking, and errors.
//!
//! Every counter runs on a `ManualClock` (site offset +07:00); nothing sleeps, nothing listens.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Request};
use axum::http::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE, USER_AGENT};
use axum::http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Json, Redirect};
use axum::routing::get;
use axum::{Extension, Router};
use http_body_util::BodyExt;
use time::macros::{date, datetime, offset};
use time::OffsetDateTime;
use tower::{Layer, Service, ServiceExt};
use visitor_counter::web::{CountLayer, COOKIE_NAME};
use visitor_counter::{ArticleId, Counter, Exclusions, ManualClock};

#[path = "common/timeline.rs"]
mod timeline;
use timeline::row;

const MIN: Duration = Duration::from_secs(60);

const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                      (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const FIREFOX: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0";
const COC_COC: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                       (KHTML, like Gecko) coc_coc_browser/121.0.0 Chrome/115.0.0.0 Safari/537.36";
const GOOGLEBOT: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

/// Thursday, mid-morning in Hà Nội.
const START: OffsetDateTime = datetime!(2024-03-14 10:00 +07:00);

fn counter_at(start: OffsetDateTime) -> (Counter, ManualClock) {
    let clock = ManualClock::new(start);
    let counter = Counter::builder()
        .utc_offset(offset!(+7))
        .clock(clock.clone())
        .build()
        .expect("valid configuration");
    (counter, clock)
}

fn counter() -> (Counter, ManualClock) {
    counter_at(START)
}

async fn home() -> Html<&'static str> {
    Html("<h1>Trang chủ</h1>")
}

async fn article(Path(id): Path<u64>) -> impl IntoResponse {
    (
        Extension(ArticleId::from(id)),
        Html(format!("<h1>Bài {id}</h1>")),
    )
}

/// A news site: pages, an article route, assets, an API, errors and redirects.
fn routes() -> Router {
    Router::new()
        .route("/", get(home).post(home).put(home).delete(home))
        .route("/tin-tuc", get(home))
        .route("/article/{id}", get(article))
        .route(
            "/api/stats",
            get(|| async { Json(serde_json::json!({ "online": 1 })) }),
        )
        .route(
            "/style.css",
            get(|| async { ([(CONTENT_TYPE, "text/css")], "body { margin: 0 }") }),
        )
        .route("/robots.txt", get(|| async { "User-agent: *\nAllow: /\n" }))
        .route("/empty", get(|| async { StatusCode::NO_CONTENT }))
        .route(
            "/shouty",
            get(|| async { ([(CONTENT_TYPE, "Text/HTML; Charset=UTF-8")], "<p>hi</p>") }),
        )
        .route(
            "/het-hang",
            get(|| async { (StatusCode::NOT_FOUND, Html("<h1>Không tìm thấy</h1>")) }),
        )
        .route(
            "/loi",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, Html("<h1>Lỗi</h1>")) }),
        )
        .route(
            "/not-modified",
            get(|| async { (StatusCode::NOT_MODIFIED, [(CONTENT_TYPE, "text/html")]) }),
        )
        .route("/cu", get(|| async { Redirect::to("/") }))
        .route("/cu-vinh-vien", get(|| async { Redirect::permanent("/") }))
        .route(
            "/with-cookie",
            get(|| async {
                (
                    [
                        (SET_COOKIE, "theme=dark; Path=/"),
                        (axum::http::header::CACHE_CONTROL, "no-store"),
                    ],
                    Html("<p>giao diện tối</p>"),
                )
            }),
        )
}

fn app(layer: CountLayer) -> Router {
    routes().layer(layer)
}

fn get_req(uri: &str, ua: &str) -> Request {
    Request::builder()
        .uri(uri)
        .header(USER_AGENT, ua)
        .body(Body::empty())
        .unwrap()
}

fn with_cookie(uri: &str, ua: &str, cookie: &str) -> Request {
    let mut req = get_req(uri, ua);
    req.headers_mut()
        .insert(COOKIE, HeaderValue::from_str(cookie).unwrap());
    req
}

/// A request as `axum::serve(.., app.into_make_service_with_connect_info::<SocketAddr>())`
/// would hand it over: with the socket address in the extensions.
fn from_addr(uri: &str, ua: &str, addr: &str) -> Request {
    let mut req = get_req(uri, ua);
    let addr: SocketAddr = addr.parse().unwrap();
    req.extensions_mut().insert(ConnectInfo(addr));
    req
}

async fn send(app: &Router, req: Request) -> Response<Body> {
    app.clone()
        .oneshot(req)
        .await
        .expect("Router is infallible")
}

async fn body_text(res: Response<Body>) -> String {
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn set_cookies(res: &Response<Body>) -> Vec<String> {
    res.headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// The `vc_id` Set-Cookie headers of a response.
fn vc_cookies(res: &Response<Body>) -> Vec<String> {
    set_cookies(res)
        .into_iter()
        .filter(|c| c.starts_with(&format!("{COOKIE_NAME}=")))
        .collect()
}

/// The value of the one `vc_id` cookie the response sets.
fn vc_value(res: &Response<Body>) -> String {
    let cookies = vc_cookies(res);
    assert_eq!(cookies.len(), 1, "exactly one vc_id cookie: {cookies:?}");
    let first = cookies[0].split(';').next().unwrap();
    first[COOKIE_NAME.len() + 1..].to_owned()
}

/// The attributes after `name=value`, trimmed, in order.
fn attributes(set_cookie: &str) -> Vec<String> {
    set_cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_owned())
        .collect()
}

/// A new visitor's `vc_id` value: 128 random bits in hex, then the cookieless id it was
/// counted under (64 bits) and that id's local date (32), in hex.
fn is_new_visitor_cookie(value: &str) -> bool {
    let hex = |s: &str, n| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    let parts: Vec<&str> = value.split('.').collect();
    matches!(parts[..], [random, id, date] if hex(random, 32) && hex(id, 16) && hex(date, 8))
}

/// (visits today, page views today, visitors today)
fn today(counter: &Counter) -> (u64, u64, u64) {
    let s = counter.stats();
    (s.visits.today, s.page_views.today, s.visitors.today)
}

fn nothing_counted(counter: &Counter) {
    let s = counter.stats();
    assert_eq!(row(&s.page_views), [0; 8]);
    assert_eq!(row(&s.visits), [0; 8]);
    assert_eq!(row(&s.visitors), [0; 8]);
    assert_eq!(s.online, 0);
}

// ---------------------------------------------------------------------------------------------
// Cookie identity
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn first_counted_response_sets_the_visitor_cookie() {
    let (counter, _clock) = counter();
    let app = app(CountLayer::new(counter.clone()));

    let res = send(&app, get_req("/", CHROME)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let cookies = vc_cookies(&res);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let value = vc_value(&res);
    assert!(is_new_visitor_cookie(&value), "{value}");

    let mut attrs = attributes(&cookies[0]);
    attrs.sort();
    assert_eq!(
        attrs,
        ["HttpOnly", "Max-Age=31536000", "Path=/", "SameSite=Lax"],
        "{}",
        cookies[0]
    );
    assert!(!cookies[0].contains("Secure"));

    // The page itself is untouched.
    assert_eq!(body_text(res).await, "<h1>Trang chủ</h1>");
    assert_eq!(today(&counter), (1, 1, 1));
}

#[tokio::test]
async fn secure_cookie_adds_the_secure_attribute() {
    let (counter, _clock) = counter();
    let app = app(CountLayer::new(counter.clone()).secure_cookie(true));

    let res = send(&app, get_req("/", CHROME)).await;
    let cookies = vc_cookies(&res);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let mut attrs = attributes(&cookies[0]);
    attrs.sort();
    assert_eq!(
        attrs,
        [
            "HttpOnly",
            "Max-Age=31536000",
            "Path=/",
            "SameSite=Lax",
            "Secure"
        ]
    );

    assert_eq!(today(&counter), (1, 1, 1));
}

#[tokio::test]
async fn secure_cookie_can_be_turned_off_again() {
    let (counter, _clock) = counter();
    let app = app(CountLayer::new(counter.clone())
        .secure_cookie(true)
        .secure_cookie(false));
    let res = send(&app, get_req("/", CHROME)).await;
    let cookies = vc_cookies(&res);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    assert!(!cookies[0].contains("Secure"), "{}", cookies[0]);
}

#[tokio::test]
async fn returning_cookie_is_the_same_visitor() {
    let (counter, clock) = counter();
    let app = app(CountLayer::new(counter.clone()));

    let first = send(&app, get_req("/", CHROME)).await;
    let id = vc_value(&first);

    clock.advance(2 * MIN);
    let second = send(
        &app,
        with_cookie("/tin-tuc", CHROME, &format!("{COOKIE_NAME}={id}")),
    )
    .await;
    assert_eq!(second.status(), StatusCode::OK);
    assert!(
        set_cookies(&second).is_empty(),
        "no new cookie for a known visitor: {:?}",
        set_cookies(&second)
    );

    let s = counter.stats();
    assert_eq!(s.visitors.today, 1);
    assert_eq!(s.page_views.today, 2);
    assert_eq!(s.visits.today, 1);
    assert_eq!(s.online, 1);
    assert_eq!(counter.exclusions(), Exclusions::default());
}

#[tokio::test]
async fn visitor_cookie_is_found_among_other_cookies_and_headers() {
    let (counter, _clock) = counter();
    let app = app(CountLayer::new(counter.clone()));
    let id = vc_value(&send(&app, get_req("/", CHROME)).await);

    // Among other cookies in one header.
    let res = send(
        &app,
        with_cookie(
            "/",
            CHROME,
            &format!("_ga=GA1.1.42; {COOKIE_NAME}={id}; theme=dark"),
        ),
    )
    .await;
    assert!(vc_cookies(&res).is_empty());

    // In a second Cookie header (HTTP/2 sends one per cookie).
    let mut req = with_cookie("/", CHROME, "_ga=GA1.1.42");
    req.headers_mut().append(
        COOKIE,
        HeaderValue::from_str(&format!("{COOKIE_NAME}={id}")).unwrap(),
    );
    let res = send(&app, req).await;
    assert!(vc_cookies(&res).is_empty());

    // A look-alike name is not the visitor cookie: a new cookie (and the request counted
    // under the cookieless id of its address and User-Agent, as the first one was).
    let res = send(
        &app,
        with_cookie("/", CHROME, &format!("x{COOKIE_NAME}={id}")),
    )
    .await;
    assert_eq!(vc_cookies(&res).len(), 1);

    let s = counter.stats();
    assert_eq!(s.page_views.today, 4);
    assert_eq!(s.visitors.today, 1);
}

#[tokio::test]
async fn each_new_browser_gets_its_own_cookie() {
    let (counter, _clock) = counter();
    let app = app(CountLayer::new(counter.clone()));

    let a = vc_value(&send(&app, get_req("/", CHROME)).await);
    let b = vc_value(&send(&app, get_req("/", CHROME)).await);
    let c = vc_value(&send(&app, get_req("/", FIREFOX)).await);
    let own = |v: &str| v[..32].to_owned();
    assert_ne!(own(&a), own(&b));
    assert_ne!(own(&a), own(&c));
    assert_ne!(own(&b), own(&c));
    // The first two, without a cookie and from one address and agent, were counted as that
    // day's one cookieless visitor.
    assert_eq!(today(&counter), (2, 3, 2));
}

#[tokio::test]
async fn malformed_cookie_is_replaced() {
    let (counter, _clock) = counter();
    let app = app(CountLayer::new(counter.clone()));

    let bad_values = [
        "",
        "abc",
        "not-a-hex-id-at-all-not-a-hex-id",  // 32 chars, not hex
        "0123456789abcdef0123456789abcde",   // 31 hex digits
        "0123456789abcdef0123456789abcdef0", // 33 hex digits
        "0123456789abcdef 0123456789abcdef", // a space inside
        "\"0123456789abcdef0123456789abcdef\"", // quoted
    ];
    let mut fresh = Vec::new();
    for bad in bad_values {
        let res = send(
            &app,
            with_cookie("/", CHROME, &format!("{COOKIE_NAME}={bad}")),
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK);
        let new = vc_value(&res);
        assert_ne!(new, bad);
        assert!(is_new_visitor_cookie(&new), "{new}");
        fresh.push(new);
    }
    let n = bad_values.len() as u64;
    assert_eq!(
        today(&counter),
        (1, n, 1),
        "each malformed cookie is replaced, and counted as no cookie: the day's cookieless \
         visitor of its address and agent"
    );

    // The replacement is then recognised.
    let res = send(
        &app,
        with_cookie("/", CHROME, &format!("{COOKIE_NAME}={}", fresh[0])),
    )
    .await;
    assert!(vc_cookies(&res).is_empty());
    assert_eq!(today(&counter), (1, n + 1, 1));
}

#[tokio::test]
async fn a_valid_cookie_next_to_a_malformed_one_is_used() {
    let (counter, _clock) = counter();
    let app = app(CountLayer::new(counter.clone()));
    let id = vc_value(&send(&app, get_req("/", CHROME)).await);

    let res = send(
        &app,
        with_cookie(
            "/",
            CHROME,
            &format!("{COOKIE_NAME}=garbage; {COOKIE_NAME}={id}"),
        ),
    )
    .await;
    assert!(vc_cookies(&res).is_empty());
    assert_eq!(today(&counter), (1, 2, 1));
}

#[tokio::test]
async fn uncounted_responses_set_no_cookie() {
    let (counter, _clock) = counter();
    let app = app(CountLayer::new(counter.clone()));

    for req in [
        get_req("/", GOOGLEBOT),
        get_req("/api/stats", CHROME),
        get_req("/style.css", CHROME),
        get_req("/het-hang", CHROME),
        get_req("/cu", CHROME),
        Request::builder()
            .method(Method::POST)
            .uri("/")
            .header(USER_AGENT, CHROME)
            .body(Body::empty())
            .unwrap(),
    ] {
        let uri = req.uri().clone();
        let res = send(&app, req).await;
        assert!(
            vc_cookies(&res).is_empty(),
            "{uri}: {:?}",
            set_cookies(&res)
        );
    }
    nothing_counted(&counter);

    // The first counted response then sets it, once.
    let res = send(&app, get_req("/", CHROME)).await;
    assert_eq!(vc_cookies(&res).len(), 1);
}

#[tokio::test]
async fn the_apps_own_cookies_and_headers_are_kept() {
    let (counter, _clock) = counter();
    let app = app(CountLayer::new(counter.clone()));

    let res = send(&app, get_req("/with-cookie", CHROME)).await;
    let cookies = set_cookies(&res);
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    assert!(
        cookies.contains(&"theme=dark; Path=/".to_owned()),
        "{cookies:?}"
    );
    assert_eq!(vc_cookies(&res).len(), 1);
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert_eq!(body_text(res).await, "<p>giao diện tối</p>");
}

#[tokio::test]
async fn head_is_counted_and_gets_the_cookie() {
    let (counter, _clock) = counter();
    let app = app(CountLayer::new(counter.clone()));

    let req = Request::builder()
        .method(Method::HEAD)
        .uri("/")
        .header(USER_AGENT, CHROME)
        .body(Body::empty())
        .unwrap();
    let res = send(&app, req).await;
    assert_eq!(res.status(), StatusCode::OK);
    let id = vc_value(&res);
    assert_eq!(body_text(res).await, "", "HEAD has no body");

    let mut req = with_cookie("/", CHROME, &format!("{COOKIE_NAME}={id}"));
    *req.method_mut() = Method::HEAD;
    send(&app, req).await;

    assert_eq!(today(&counter), (1, 2, 1));
    assert_eq!(counter.exclusions(), Exclusions::default());
}

// ---------------------------------------------------------------------------------------------
// Cookieless identity
// ---------------------------------------------------------------------------------------------

fn cookieless(counter: &Counter) -> Router {
    app(CountLayer::new(counter.clone()).cookieless("example.vn"))
}

#[tokio::test]
async fn cookieless_same_ip_and_user_agent_is_one_visitor() {
    let (counter, clock) = counter();
    let app = cookieless(&counter);

    for port in [51000, 51001, 51002] {
        // A new connection each time: the port does not matter, only the IP.
        let res = send(&app, from_addr("/", CHROME, &format!("203.0.113.5:{port}"))).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert!(set_cookies(&res).is_empty(), "{:?}", set_cookies(&res));
        clock.advance(MIN);
    }
    assert_eq!(today(&counter), (1, 3, 1));
    assert_eq!(counter.stats().online, 1);
}

#[tokio::test]
async fn cookieless_different_ip_or_user_agent_is_another_visitor() {
    let (counter, _clock) = counter();
    let app = cookieless(&counter);

    for (ua, addr) in [
        (CHROME, "203.0.113.5:51000"),
        (CHROME, "203.0.113.6:51000"),  // another IP
        (FIREFOX, "203.0.113.5:51000"), // another browser on the first IP
        (COC_COC, "[2001:db8::1]:443"), // IPv6
        (CHROME, "203.0.113.5:52000"),  // the first visitor again
        (FIREFOX, "203.0.113.5:52000"), // the third again
    ] {
        let res = send(&app, from_addr("/", ua, addr)).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert!(set_cookies(&res).is_empty());
    }
    assert_eq!(today(&counter), (4, 6, 4));
}

#[tokio::test]
async fn cookieless_ignores_cookies() {
    let (counter, _clock) = counter();
    let app = cookieless(&counter);

    // Two people behind one IP with one browser build look alike; a cookie does not tell them
    // apart in cookieless mode, and none is set.
    for id in [
        "0123456789abcdef0123456789abcdef",
        "fedcba9876543210fedcba9876543210",
    ] {
        let mut req = from_addr("/", CHROME, "203.0.113.5:51000");
        req.headers_mut().insert(
            COOKIE,
            HeaderValue::from_str(&format!("{COOKIE_NAME}={id}")).unwrap(),
        );
        let res = send(&app, req).await;
        assert!(set_cookies(&res).is_empty());
    }
    assert_eq!(today(&counter), (1, 2, 1));
}

#[tokio::test]
async fn cookieless_ids_rotate_at_local_midnight() {
    // 23:50 in Hà Nội (16:50 UTC), Thursday 14 March 2024.
    let (counter, clock) = counter_at(datetime!(2024-03-14 23:50 +07:00));
    let app = cookieless(&counter);

    send(&app, from_addr("/", CHROME, "203.0.113.5:51000")).await;
    clock.advance(8 * MIN); // 23:58
    send(&app, from_addr("/", CHROME, "203.0.113.5:51000")).await;
    assert_eq!(counter.today(), date!(2024 - 03 - 14));
    assert_eq!(today(&counter), (1, 2, 1));

    // 00:02 local on Friday (still 17:02 UTC on Thursday): the same person gets a new id.
    clock.advance(4 * MIN);
    assert_eq!(counter.today(), date!(2024 - 03 - 15));
    send(&app, from_addr("/", CHROME, "203.0.113.5:51000")).await;

    let s = counter.stats();
    assert_eq!(s.visitors.today, 1);
    assert_eq!(s.visitors.yesterday, 1);
    assert_eq!(
        s.visitors.this_week, 2,
        "one person, two ids across midnight"
    );
    assert_eq!(s.page_views.this_week, 3);
    assert_eq!(
        s.visits.this_week, 2,
        "the new id starts a new visit though the old one's session is live"
    );
    assert_eq!(
        s.online, 2,
        "both ids were seen within the online window (5 min)"
    );

    // And stays stable through Friday.
    clock.advance(10 * 60 * MIN);
    send(&app, from_addr("/", CHROME, "203.0.113.5:51000")).await;
    let s = counter.stats();
    assert_eq!(s.visitors.today, 1);
    assert_eq!(s.visitors.this_week, 2);
}

#[tokio::test]
async fn cookieless_ids_do_not_rotate_at_utc_midnight() {
    // 06:50 in Hà Nội is 23:50 UTC the day before.
    let (counter, clock) = counter_at(datetime!(2024-03-14 06:50 +07:00));
    let app = cookieless(&counter);

    send(&app, from_addr("/", CHROME, "203.0.113.5:51000")).await;
    clock.advance(20 * MIN); // 07:10 local, 00:10 UTC
    send(&app, from_addr("/", CHROME, "203.0.113.5:51000")).await;

    let s = counter.stats();
    assert_eq!(s.visitors.today, 1);
    assert_eq!(s.visitors.this_week, 1);
    assert_eq!(s.page_views.today, 2);
    assert_eq!(s.visits.today, 1);
}

#[tokio::test]
async fn trusted_proxy_header_gives_the_client_ip() {
    let (counter, _clock) = counter();
    let app = app(CountLayer::new(counter.clone())
        .cookieless("example.vn")
        .trusted_proxy_header("x-forwarded-for"));

    let via_proxy = |proxy: &str, xff: &str| {
        let mut req = from_addr("/", CHROME, proxy);
        req.headers_mut()
            .insert("x-forwarded-for", HeaderValue::from_str(xff).unwrap());
        req
    };

    // Two clients behind the same proxy socket are two visitors.
    send(&app, via_proxy("10.0.0.1:40000", "203.0.113.5")).await;
    send(&app, via_proxy("10.0.0.1:40000", "203.0.113.6")).await;
    assert_eq!(today(&counter), (2, 2, 2));

    // The first address is the client; the proxies it went through do not matter.
    send(&app, via_proxy("10.0.0.2:40000", "203.0.113.5, 10.0.0.9")).await;
    send(
        &app,
        via_proxy("10.0.0.3:40000", " 203.0.113.5 ,10.0.0.1, 10.0.0.2"),
    )
    .await;
    assert_eq!(today(&counter), (2, 4, 2));

    // Without the header, the socket address is used.
    send(&app, from_addr("/", CHROME, "203.0.113.5:51000")).await;
    assert_eq!(today(&counter), (2, 5, 2), "same IP as the first client");
    send(&app, from_addr("/", CHROME, "10.0.0.1:40000")).await;
    assert_eq!(today(&counter), (3, 6, 3), "the proxy itself, as a client");
}

#[tokio::test]
async fn proxy_header_is_ignored_unless_trusted() {
    let (counter, _clock) = counter();
    let app = cookieless(&counter);

    for xff in ["203.0.113.5", "203.0.113.6", "198.51.100.7"] {
        let mut req = from_addr("/", CHROME, "10.0.0.1:40000");
        req.headers_mut()
            .insert("x-forwarded-for", HeaderValue::from_str(xff).unwrap());
        send(&app, req).await;
    }
    assert_eq!(
        today(&counter),
        (1, 3, 1),
        "a spoofable header must not mint visitors"
    );
}

// ---------------------------------------------------------------------------------------------
// What is not counted, and why
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn bots_are_excluded() {
    let (counter, _clock) = counter();
    let app = app(CountLayer::new(counter.clone()));

    for ua in [
        GOOGLEBOT,
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "curl/8.5.0",
        "",
        "   ",
    ] {
        let res = send(&app, get_req("/", ua)).await;
        assert_eq!(res.status(), StatusCode::OK, "{ua:?} still gets the page");
        assert!(set_cookies(&res).is_empty());
        assert_eq!(body_text(res).await, "<h1>Trang chủ</h1>");
    }
    // No User-Agent header at all.
    let req = Request::builder().uri("/").body(Body::empty()).unwrap();
    send(&app, req).await;

    nothing_counted(&counter);
    assert_eq!(
        counter.exclusions(),
        Exclusions {
            bot: 6,
            ..Exclusions::default()
        }
    );
}

/// A layer given its own detector drops what that detector calls a bot (a site's monitor the
/// list does not know) and counts what it allows (a partner's crawler).
#[tokio::test]
async fn a_layer_with_its_own_detector_drops_and_counts_by_it() {
    let (counter, _clock) = counter();
    let bots = visitor_counter::bots::Detector::builder()
        .add_pattern("acmewatch/")
        .allow_pattern("partner-reader/")
        .build()
        .unwrap();
    let own = app(CountLayer::new(counter.clone()).bots(bots));
    let monitor = format!("{CHROME} AcmeWatch/2");
    send(&own, get_req("/", &monitor)).await;
    send(&own, get_req("/", GOOGLEBOT)).await;
    assert_eq!(counter.stats().page_views.total, 0);
    assert_eq!(counter.exclusions().bot, 2);
    let partner = "Mozilla/5.0 (compatible; partner-reader/1.0; +https://partner.vn/bot)";
    send(&own, get_req("/", partner)).await;
    assert_eq!(counter.stats().page_views.total, 1);
    // The same agents through a layer with the shipped list.
    let plain = app(CountLayer::new(counter.clone()));
    send(&plain, get_req("/", &monitor)).await;
    send(&plain, get_req("/", partner)).await;
    assert_eq!(counter.stats().page_views.total, 2);
    assert_eq!(counter.exclusions().bot, 3);
}

#[tokio::test]
async fn prefetches_are_excluded() {
    let (counter, _clock) = counter();
    let app = app(CountLayer::new(counter.clone()));

    for (name, value) in [
        ("sec-purpose", "prefetch"),
        ("sec-purpose", "prefetch;prerender"),
        ("Sec-Purpose", "prefetch; anonymous-client-ip"),
        ("purpose", "prefetch"),
        ("Purpose", "Prefetch"),
    ] {
        let mut req = get_req("/", CHROME);
        req.headers_mut()
            .insert(name, HeaderValue::from_static(value));
        let res = send(&app, req).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert!(set_cookies(&res).is_empty());
    }
    nothing_counted(&counter);
    assert_eq!(
        counter.exclusions(),
        Exclusions {
            prefetch: 5,
            ..Exclusions::default()
        }
    );

    // The navigation that follows counts.
    send(&app, get_req("/", CHROME)).await;
    assert_eq!(today(&counter), (1, 1, 1));
}

#[tokio::test]
async fn error_statuses_are_excluded() {
    let (counter, _clock) = counter();
    let app = app(CountLayer::new(counter.clone()));

    let res = send(&app, get_req("/het-hang", CHROME)).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(body_text(res).await, "<h1>Không tìm thấy</h1>");

    let res = send(&app, get_req("/khong-co-trang-nay", CHROME)).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "axum's own fallback");

    let res = send(&app, get_req("/loi", CHROME)).await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body_text(res).await, "<h1>Lỗi</h1>");

    nothing_counted(&counter);
    assert_eq!(
        counter.exclusions(),
        Exclusions {
            status: 3,
            ..Exclusions::default()
        }
    );
}

#[tokio::test]
async fn redirects_and_not_modified_are_excluded() {
    let (counter, _clock) = counter();
    let app = app(CountLayer::new(counter.clone()));

    let res = send(&app, get_req("/cu", CHROME)).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[LOCATION], "/");
    assert!(set_cookies(&res).is_empty());

    let res = send(&app, get_req("/cu-vinh-vien", CHROME)).await;
    assert_eq!(res.status(), StatusCode::PERMANENT_REDIRECT);

    let res = send(&app, get_req("/not-modified", CHROME)).await;
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);

    nothing_counted(&counter);
    assert_eq!(
        counter.exclusions(),
        Exclusions {
            status: 3,
            ..Exclusions::default()
        }
    );
}

#[tokio::test]
async fn methods_other_than_get_and_head_are_excluded() {
    let (counter, _clock) = counter();
    let app = app(CountLayer::new(counter.clone()));

    for method in [Method::POST, Method::PUT, Method::DELETE, Method::OPTIONS] {
        let req = Request::builder()
            .method(method.clone())
            .uri("/")
            .header(USER_AGENT, CHROME)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from("q=tin+tuc"))
            .unwrap();
        let res = send(&app, req).await;
        assert!(set_cookies(&res).is_empty(), "{method}");
        if method == Method::POST {
            assert_eq!(res.status(), StatusCode::OK);
            assert_eq!(body_text(res).await, "<h1>Trang chủ</h1>");
        }
    }
    nothing_counted(&counter);
    assert_eq!(
        counter.exclusions(),
        Exclusions {
            method: 4,
            ..Exclusions::default()
        }
    );
}

#[tokio::test]
async fn non_html_successes_are_excluded() {
    let (counter, _clock) = counter();
    let app = app(CountLayer::new(counter.clone()));

    let res = send(&app, get_req("/api/stats", CHROME)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[CONTENT_TYPE], "application/json");
    assert_eq!(body_text(res).await, r#"{"online":1}"#);

    let res = send(&app, get_req("/style.css", CHROME)).await;
    assert_eq!(res.headers()[CONTENT_TYPE], "text/css");

    let res = send(&app, get_req("/robots.txt", CHROME)).await;
    assert!(res.headers()[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));

    let res = send(&app, get_req("/empty", CHROME)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    nothing_counted(&counter);
    assert_eq!(
        counter.exclusions(),
        Exclusions {
            not_page: 4,
            ..Exclusions::default()
        }
    );
}

#[tokio::test]
async fn html_content_type_is_matched_without_regard_to_case() {
    let (counter, _clock) = counter();
    let app = app(CountLayer::new(counter.clone()));

    let res = send(&app, get_req("/shouty", CHROME)).await;
    assert_eq!(vc_cookies(&res).len(), 1);
    assert_eq!(today(&counter), (1, 1, 1));
    assert_eq!(counter.exclusions(), Exclusions::default());
}

#[tokio::test]
async fn exclusions_are_checked_in_the_documented_order() {
    let (counter, _clock) = counter();
    let app = app(CountLayer::new(counter.clone()));

    // 1. The method first: a bot's POST is a method exclusion.
    let req = Request::builder()
        .method(Method::POST)
        .uri("/")
        .header(USER_AGENT, GOOGLEBOT)
        .body(Body::empty())
        .unwrap();
    send(&app, req).await;
    // 2. Then the bot: a bot's prefetch of a missing page is a bot.
    let mut req = get_req("/het-hang", GOOGLEBOT);
    req.headers_mut()
        .insert("sec-purpose", HeaderValue::from_static("prefetch"));
    send(&app, req).await;
    // 3. Then the prefetch: a prefetch of a missing page is a prefetch.
    let mut req = get_req("/het-hang", CHROME);
    req.headers_mut()
        .insert("sec-purpose", HeaderValue::from_static("prefetch"));
    send(&app, req).await;
    // 4. Then the status: a 404 JSON answer is a status exclusion.
    let router = Router::new()
        .route(
            "/api/missing",
            get(|| async { (StatusCode::NOT_FOUND, Json(serde_json::json!({}))) }),
        )
        .layer(CountLayer::new(counter.clone()));
    send(&router, get_req("/api/missing", CHROME)).await;
    // 5. Then the page predicate.
    send(&app, get_req("/api/stats", CHROME)).await;

    nothing_counted(&counter);
    assert_eq!(
        counter.exclusions(),
        Exclusions {
            bot: 1,
            prefetch: 1,
            method: 1,
            status: 1,
            not_page: 1,
            pace: 0,
        }
    );
}

#[tokio::test]
async fn every_kind_of_request_at_once() {
    let (counter, _clock) = counter();
    let app = app(CountLayer::new(counter.clone()));

    let id = vc_value(&send(&app, get_req("/", CHROME)).await);
    let me = |uri: &str| with_cookie(uri, CHROME, &format!("{COOKIE_NAME}={id}"));

    send(&app, me("/tin-tuc")).await; // page
    send(&app, me("/style.css")).await; // asset
    send(&app, me("/api/stats")).await; // API
    send(&app, me("/het-hang")).await; // 404
    send(&app, get_req("/", GOOGLEBOT)).await; // bot
    send(&app, get_req("/tin-tuc", "curl/8.5.0")).await; // bot
    let mut head = me("/");
    *head.method_mut() = Method::HEAD;
    send(&app, head).await; // page
    let mut post = me("/");
    *post.method_mut() = Method::POST;
    send(&app, post).await; // method
    let mut prefetch = me("/tin-tuc");
    prefetch
        .headers_mut()
        .insert("purpose", HeaderValue::from_static("prefetch"));
    send(&app, prefetch).await; // prefetch

    assert_eq!(today(&counter), (1, 3, 1));
    assert_eq!(
        counter.exclusions(),
        Exclusions {
            bot: 2,
            prefetch: 1,
            method: 1,
            status: 1,
            not_page: 2,
            pace: 0,
        }
    );
}

#[tokio::test]
async fn page_predicate_can_be_replaced() {
    let (counter, _clock) = counter();
    let is_json = |status: StatusCode, headers: &HeaderMap| {
        assert!(status.is_success(), "called for 2xx only, got {status}");
        headers
            .get(CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/json"))
    };
    let app = app(CountLayer::new(counter.clone()).page_predicate(is_json));

    // Now JSON is a page and HTML is not.
    let res = send(&app, get_req("/api/stats", CHROME)).await;
    assert_eq!(vc_cookies(&res).len(), 1);
    send(&app, get_req("/", CHROME)).await;
    // Statuses are still checked first.
    send(&app, get_req("/het-hang", CHROME)).await;

    assert_eq!(today(&counter), (1, 1, 1));
    assert_eq!(
        counter.exclusions(),
        Exclusions {
            not_page: 1,
            status: 1,
            ..Exclusions::default()
        }
    );
}

#[tokio::test]
async fn page_predicate_counting_everything_still_skips_errors_and_bots() {
    let (counter, _clock) = counter();
    let app = app(CountLayer::new(counter.clone()).page_predicate(|_, _| true));

    send(&app, get_req("/style.css", CHROME)).await;
    send(&app, get_req("/empty", CHROME)).await;
    send(&app, get_req("/loi", CHROME)).await;
    send(&app, get_req("/style.css", GOOGLEBOT)).await;

    let s = counter.stats();
    assert_eq!(s.page_views.today, 2);
    assert_eq!(
        s.visitors.today, 1,
        "no cookie sent back: the day's cookieless visitor"
    );
    assert_eq!(
        counter.exclusions(),
        Exclusions {
            status: 1,
            bot: 1,
            ..Exclusions::default()
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Articles
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn article_id_from_the_handler_counts_an_article_view() {
    let (counter, clock) = counter();
    let app = app(CountLayer::new(counter.clone()));

    let res = send(&app, get_req("/article/7", CHROME)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let id = vc_value(&res);
    assert_eq!(body_text(res).await, "<h1>Bài 7</h1>");
    assert_eq!(counter.article_stats(ArticleId::from(7)).views.today, 1);
    assert_eq!(today(&counter), (1, 1, 1));

    // A refresh within the dedup window (30 min): a page view, not an article view.
    clock.advance(5 * MIN);
    let me = |uri: &str| with_cookie(uri, CHROME, &format!("{COOKIE_NAME}={id}"));
    send(&app, me("/article/7")).await;
    let views = counter.article_stats(ArticleId::from(7)).views;
    assert_eq!(views.today, 1);
    assert_eq!(views.total, 1);
    assert_eq!(today(&counter), (1, 2, 1));

    // Another reader counts.
    send(&app, get_req("/article/7", FIREFOX)).await;
    assert_eq!(counter.article_stats(ArticleId::from(7)).views.today, 2);

    // Another article by the first reader counts.
    send(&app, me("/article/8")).await;
    assert_eq!(counter.article_stats(ArticleId::from(8)).views.today, 1);

    // 31 minutes after the first counted view (the refresh at +5 did not restart the window),
    // the first reader counts again, within the same visit.
    clock.advance(26 * MIN);
    send(&app, me("/article/7")).await;
    assert_eq!(counter.article_stats(ArticleId::from(7)).views.today, 3);

    assert_eq!(today(&counter), (2, 5, 2));
    assert_eq!(
        row(&counter.article_stats(ArticleId::from(9)).views),
        [0; 8]
    );
}

#[tokio::test]
async fn plain_pages_are_not_article_views() {
    let (counter, _clock) = counter();
    let app = app(CountLayer::new(counter.clone()));
    send(&app, get_req("/", CHROME)).await;
    send(&app, get_req("/tin-tuc", FIREFOX)).await;
    assert_eq!(today(&counter), (2, 2, 2));
    assert!(counter
        .top_articles(visitor_counter::Period::Total, 10)
        .is_empty());
}

#[tokio::test]
async fn excluded_article_requests_count_no_article_view() {
    let (counter, _clock) = counter();
    let app = app(CountLayer::new(counter.clone()));

    send(&app, get_req("/article/7", GOOGLEBOT)).await;
    let mut req = get_req("/article/7", CHROME);
    req.headers_mut()
        .insert("sec-purpose", HeaderValue::from_static("prefetch"));
    send(&app, req).await;

    assert_eq!(
        row(&counter.article_stats(ArticleId::from(7)).views),
        [0; 8]
    );
    nothing_counted(&counter);
    assert_eq!(
        counter.exclusions(),
        Exclusions {
            bot: 1,
            prefetch: 1,
            ..Exclusions::default()
        }
    );
}

#[tokio::test]
async fn article_id_in_the_request_extensions_counts_an_article_view() {
    let (counter, clock) = counter();
    let app = app(CountLayer::new(counter.clone()));

    // Put there directly (as any outer layer could).
    let mut req = get_req("/tin-tuc", CHROME);
    req.extensions_mut().insert(ArticleId::from(42));
    let res = send(&app, req).await;
    let id = vc_value(&res);
    assert_eq!(counter.article_stats(ArticleId::from(42)).views.today, 1);

    clock.advance(MIN);
    let mut req = with_cookie("/tin-tuc", CHROME, &format!("{COOKIE_NAME}={id}"));
    req.extensions_mut().insert(ArticleId::from(42));
    send(&app, req).await;
    assert_eq!(
        counter.article_stats(ArticleId::from(42)).views.today,
        1,
        "refresh within the dedup window"
    );
    assert_eq!(today(&counter), (1, 2, 1));
}

/// Marks `/bai-viet/{slug}` requests with the article id the slug maps to, before the count
/// layer sees them.
async fn mark_article(mut req: Request, next: Next) -> Response<Body> {
    let id = match req.uri().path() {
        "/bai-viet/bao-so-3" => Some(3),
        "/bai-viet/gia-vang" => Some(5),
        _ => None,
    };
    if let Some(id) = id {
        req.extensions_mut().insert(ArticleId::from(id));
    }
    next.run(req).await
}

#[tokio::test]
async fn article_id_from_an_outer_middleware_counts_an_article_view() {
    let (counter, _clock) = counter();
    let app = Router::new()
        .route("/bai-viet/{slug}", get(home))
        .route("/", get(home))
        .layer(CountLayer::new(counter.clone()))
        .layer(middleware::from_fn(mark_article)); // outermost: runs first

    send(&app, get_req("/bai-viet/bao-so-3", CHROME)).await;
    send(&app, get_req("/bai-viet/bao-so-3", FIREFOX)).await;
    send(&app, get_req("/bai-viet/gia-vang", CHROME)).await;
    send(&app, get_req("/bai-viet/khong-ro", CHROME)).await;
    send(&app, get_req("/", CHROME)).await;

    assert_eq!(counter.article_stats(ArticleId::from(3)).views.today, 2);
    assert_eq!(counter.article_stats(ArticleId::from(5)).views.today, 1);
    assert_eq!(
        counter.top_articles(visitor_counter::Period::Today, 10),
        [(ArticleId::from(3), 2), (ArticleId::from(5), 1)]
    );
    assert_eq!(counter.stats().page_views.today, 5);
}

#[tokio::test]
async fn article_views_follow_cookieless_identity_and_its_dedup() {
    let (counter, clock) = counter();
    let app = cookieless(&counter);

    send(&app, from_addr("/article/7", CHROME, "203.0.113.5:51000")).await;
    clock.advance(MIN);
    send(&app, from_addr("/article/7", CHROME, "203.0.113.5:51001")).await; // refresh
    send(&app, from_addr("/article/7", CHROME, "203.0.113.9:51000")).await; // someone else

    assert_eq!(counter.article_stats(ArticleId::from(7)).views.today, 2);
    assert_eq!(today(&counter), (2, 3, 2));
}

// ---------------------------------------------------------------------------------------------
// Errors from the inner service
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
struct AppError(&'static str);

#[tokio::test]
async fn inner_errors_pass_through_untouched() {
    let (counter, _clock) = counter();
    let inner = tower::service_fn(|_req: Request| async {
        Err::<Response<Body>, _>(AppError("database is down"))
    });
    let svc = CountLayer::new(counter.clone()).layer(inner);

    let err = svc
        .clone()
        .oneshot(get_req("/", CHROME))
        .await
        .expect_err("the inner error");
    assert_eq!(err, AppError("database is down"));

    let mut req = get_req("/article/7", CHROME);
    req.extensions_mut().insert(ArticleId::from(7));
    let err = svc.oneshot(req).await.expect_err("the inner error");
    assert_eq!(err, AppError("database is down"));

    // Nothing was served, so nothing was counted.
    nothing_counted(&counter);
    assert_eq!(
        row(&counter.article_stats(ArticleId::from(7)).views),
        [0; 8]
    );
    assert_eq!(counter.exclusions(), Exclusions::default());
}

/// A service that is never ready.
#[derive(Clone)]
struct Overloaded;

impl Service<Request> for Overloaded {
    type Response = Response<Body>;
    type Error = AppError;
    type Future = std::future::Ready<Result<Response<Body>, AppError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), AppError>> {
        Poll::Ready(Err(AppError("overloaded")))
    }

    fn call(&mut self, _req: Request) -> Self::Future {
        unreachable!("never ready")
    }
}

#[tokio::test]
async fn inner_readiness_errors_pass_through_untouched() {
    let (counter, _clock) = counter();
    let svc = CountLayer::new(counter.clone()).layer(Overloaded);
    let err = svc
        .oneshot(get_req("/", CHROME))
        .await
        .expect_err("not ready");
    assert_eq!(err, AppError("overloaded"));
    nothing_counted(&counter);
    assert_eq!(counter.exclusions(), Exclusions::default());
}

#[tokio::test]
async fn successful_inner_responses_pass_through_untouched() {
    let (counter, _clock) = counter();
    let inner = tower::service_fn(|req: Request| async move {
        let res = Response::builder()
            .status(StatusCode::OK)
            .header(CONTENT_TYPE, "text/html; charset=utf-8")
            .header("x-path", req.uri().path())
            .body(Body::from("<p>xin chào</p>"))
            .unwrap();
        Ok::<_, Infallible>(res)
    });
    let svc = CountLayer::new(counter.clone()).layer(inner);

    let res = svc.clone().oneshot(get_req("/a", CHROME)).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["x-path"], "/a");
    assert_eq!(res.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
    assert_eq!(res.headers().len(), 3, "content-type, x-path, set-cookie");
    assert_eq!(body_text(res).await, "<p>xin chào</p>");

    let res = svc.oneshot(get_req("/b", GOOGLEBOT)).await.unwrap();
    assert_eq!(res.headers().len(), 2, "content-type, x-path");
    assert_eq!(body_text(res).await, "<p>xin chào</p>");

    assert_eq!(today(&counter), (1, 1, 1));
    assert_eq!(
        counter.exclusions(),
        Exclusions {
            bot: 1,
            ..Exclusions::default()
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Edge cases of header decoding
// ---------------------------------------------------------------------------------------------

/// A browser User-Agent carrying non-ASCII bytes (some Android builds put a localised device
/// name there; HTTP allows such bytes in header values) is still a browser.
#[tokio::test]
async fn non_ascii_user_agent_is_not_a_bot() {
    let ua = "Mozilla/5.0 (Linux; U; Android 12; zh-CN; 红米Note 11 Build/SP1A.210812.016) \
              AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36";
    assert!(
        !visitor_counter::bots::is_bot(ua),
        "the pattern list itself accepts it"
    );

    let (counter, _clock) = counter();
    let app = app(CountLayer::new(counter.clone()));
    let mut req = get_req("/", CHROME);
    req.headers_mut()
        .insert(USER_AGENT, HeaderValue::from_bytes(ua.as_bytes()).unwrap());
    send(&app, req).await;

    assert_eq!(counter.exclusions(), Exclusions::default());
    assert_eq!(today(&counter), (1, 1, 1));
}

/// A User-Agent that is not UTF-8 is matched with the bad bytes replaced, the same on the
/// first request (the regex runs) and on later ones (the cached verdict is used): a bot stays
/// a bot and a browser stays a browser.
#[tokio::test]
async fn non_utf8_user_agents_keep_their_verdict_when_seen_again() {
    let bot = b"curl/8.5.0 (\xff\xfe)";
    let browser = b"Mozilla/5.0 (Linux; Android 14; \xc0\xff) AppleWebKit/537.36 \
                    (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36";
    let (counter, _clock) = counter();
    let app = app(CountLayer::new(counter.clone()));
    for _ in 0..3 {
        for ua in [&bot[..], &browser[..]] {
            let mut req = get_req("/", CHROME);
            req.headers_mut()
                .insert(USER_AGENT, HeaderValue::from_bytes(ua).unwrap());
            send(&app, req).await;
        }
    }
    assert_eq!(counter.exclusions().bot, 3);
    // Three browser page views without the cookie: the day's one cookieless visitor.
    assert_eq!(today(&counter), (1, 3, 1));
}

/// Some proxies (Azure App Service among them) write the client's port into
/// `X-Forwarded-For`: `203.0.113.5:54321`, `[2001:db8::1]:443`. The first entry is still the
/// client's address; falling back to the proxy's socket merges every client into one visitor.
#[tokio::test]
async fn trusted_proxy_header_entries_with_ports() {
    let (counter, _clock) = counter();
    let app = app(CountLayer::new(counter.clone())
        .cookieless("example.vn")
        .trusted_proxy_header("x-forwarded-for"));

    for xff in [
        "203.0.113.5:54321",
        "198.51.100.7:40000",
        "[2001:db8::1]:443",
        "203.0.113.5", // the first client again, without a port
    ] {
        let mut req = from_addr("/", CHROME, "10.0.0.1:40000");
        req.headers_mut()
            .insert("x-forwarded-for", HeaderValue::from_str(xff).unwrap());
        send(&app, req).await;
    }
    assert_eq!(today(&counter), (3, 4, 3), "three clients behind one proxy");
}

// ---------------------------------------------------------------------------------------------
// The cases every adapter shares
// ---------------------------------------------------------------------------------------------

#[path = "common/web_cases.rs"]
mod web_cases;

/// Every case of `common/web_cases.rs` through the layer, in an axum `Router` with one route
/// that answers as the case says; `tests/actix.rs` runs the same cases through the actix-web
/// middleware and straight through `web::Rules`, so the adapters cannot drift apart.
#[tokio::test]
async fn shared_cases_through_the_tower_layer() {
    use axum::http::header::CACHE_CONTROL;
    use web_cases::{Observed, Run, Setup};

    async fn answer(
        Path((case, step)): Path<(usize, usize)>,
    ) -> Result<Response<Body>, (StatusCode, &'static str)> {
        let a = web_cases::answer(case, step);
        let status = StatusCode::from_u16(a.status).unwrap();
        if a.error {
            return Err((status, a.body()));
        }
        let mut res = Response::builder().status(status);
        if let Some(content_type) = a.content_type {
            res = res.header(CONTENT_TYPE, content_type);
        }
        if let Some(location) = a.location() {
            res = res.header(LOCATION, location);
        }
        if a.own_headers {
            res = res
                .header(SET_COOKIE, web_cases::OWN_COOKIE)
                .header(CACHE_CONTROL, "no-store");
        }
        if let Some(id) = a.marked_response() {
            res = res.extension(id);
        }
        Ok(res.body(Body::from(a.body())).unwrap())
    }

    fn layer(counter: &Counter, setup: Setup) -> CountLayer {
        let mut layer = CountLayer::new(counter.clone()).secure_cookie(setup.secure_cookie);
        if setup.cookieless {
            layer = layer.cookieless(web_cases::SITE);
        }
        if let Some(name) = setup.proxy_header {
            layer = layer.trusted_proxy_header(name);
        }
        if setup.own_bots {
            layer = layer.bots(web_cases::own_bots());
        }
        if setup.json_pages {
            layer = layer.page_predicate(|_, headers: &HeaderMap| {
                web_cases::is_json(headers.get(CONTENT_TYPE).map(HeaderValue::as_bytes))
            });
        }
        if let Some(n) = setup.pace_limit {
            layer = layer.pace_limit(n);
        }
        if setup.beacon {
            layer = layer.beacon(web_cases::beacon_setup());
        }
        layer
    }

    for index in 0..web_cases::all().len() {
        let mut run = Run::new("tower", index);
        let app = Router::new()
            .route("/{case}/{step}", axum::routing::any(answer))
            .layer(layer(&run.counter, run.setup()));
        while let Some(sent) = run.next() {
            let mut req = Request::builder()
                .method(sent.method)
                .uri(&sent.path)
                .body(Body::empty())
                .unwrap();
            for (name, value) in &sent.headers {
                let name = axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap();
                let value = HeaderValue::from_bytes(value.as_bytes()).unwrap();
                req.headers_mut().append(name, value);
            }
            if let Some(peer) = sent.peer {
                req.extensions_mut().insert(ConnectInfo(peer));
            }
            // As an outer middleware would.
            if let Some(id) = sent.answer.marked_request() {
                req.extensions_mut().insert(id);
            }
            let res = send(&app, req).await;
            let status = res.status().as_u16();
            let headers = res
                .headers()
                .iter()
                .map(|(n, v)| {
                    let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
                    (n.as_str().to_owned(), v)
                })
                .collect();
            let body = Some(body_text(res).await);
            run.check(Observed {
                status,
                headers,
                body,
                outcome: None,
            });
        }
        run.finish();
    }
}
