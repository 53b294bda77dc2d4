#![cfg(feature = "actix")]
//! `web::actix::Count` around an actix-web 4 `App`, driven with `actix_web::test`
//! (`init_service`, `TestRequest`, `call_service`): cookie and cookieless identity, what is
//! excluded and why, article marking through the request's or the response's extensions,
//! and errors. The tower layer's tests (`tests/layer.rs`) are the model; both files also run
//! the shared cases of `common/web_cases.rs`, which this file runs straight through
//! `web::Rules` as well, so the two adapters cannot drift apart.
//!
//! Every counter runs on a `ManualClock` (site offset +07:00); nothing sleeps, nothing listens.

use std::fmt;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::{ErrorInternalServerError, ErrorServiceUnavailable, InternalError};
use actix_web::http::header::{
    HeaderMap, HeaderName, HeaderValue, CACHE_CONTROL, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE,
    USER_AGENT,
};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::{from_fn, Next};
use actix_web::test::{self, TestRequest};
use actix_web::{web, App, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use time::macros::{date, datetime, offset};
use time::OffsetDateTime;
use visitor_counter::web::actix::Count;
use visitor_counter::web::{is_html, Rules, COOKIE_NAME};
use visitor_counter::{ArticleId, Counter, Exclusions, ManualClock, Period};

#[path = "common/timeline.rs"]
mod timeline;
use timeline::row;

#[path = "common/web_cases.rs"]
mod web_cases;
use web_cases::{CHROME, COC_COC, FIREFOX, GOOGLEBOT};

const MIN: Duration = Duration::from_secs(60);
const HTML: &str = "text/html; charset=utf-8";

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

fn page(html: &'static str) -> HttpResponse {
    HttpResponse::Ok().content_type(HTML).body(html)
}

async fn home() -> HttpResponse {
    page("<h1>Trang chủ</h1>")
}

/// Marks the request, as the README says a handler does.
async fn article(req: HttpRequest, id: web::Path<u64>) -> HttpResponse {
    let id = id.into_inner();
    req.extensions_mut().insert(ArticleId::from(id));
    HttpResponse::Ok()
        .content_type(HTML)
        .body(format!("<h1>Bài {id}</h1>"))
}

/// Marks the response instead.
async fn article_on_response(id: web::Path<u64>) -> HttpResponse {
    let id = id.into_inner();
    let mut res = HttpResponse::Ok()
        .content_type(HTML)
        .body(format!("<h1>Bài {id}</h1>"));
    res.extensions_mut().insert(ArticleId::from(id));
    res
}

/// An error of the app's own, answered with 503.
#[derive(Debug)]
struct Maintenance;

impl fmt::Display for Maintenance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("đang bảo trì")
    }
}

impl ResponseError for Maintenance {
    fn status_code(&self) -> StatusCode {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

/// A news site: pages, article routes, assets, an API, errors and redirects.
fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::route().to(home)) // every method
        .route("/tin-tuc", web::get().to(home))
        .route("/articles/{id}", web::get().to(article))
        .route("/bai/{id}", web::get().to(article_on_response))
        .route(
            "/api/stats",
            web::get().to(|| async { web::Json(serde_json::json!({ "online": 1 })) }),
        )
        .route(
            "/style.css",
            web::get().to(|| async {
                HttpResponse::Ok()
                    .content_type("text/css")
                    .body("body { margin: 0 }")
            }),
        )
        .route(
            "/logo.png",
            web::get().to(|| async {
                HttpResponse::Ok()
                    .content_type("image/png")
                    .body(&b"\x89PNG\r\n\x1a\n"[..])
            }),
        )
        .route(
            "/robots.txt",
            web::get().to(|| async { "User-agent: *\nAllow: /\n" }),
        )
        .route(
            "/empty",
            web::get().to(|| async { HttpResponse::NoContent().finish() }),
        )
        .route(
            "/shouty",
            web::get().to(|| async {
                HttpResponse::Ok()
                    .content_type("Text/HTML; Charset=UTF-8")
                    .body("<p>hi</p>")
            }),
        )
        .route(
            "/html",
            web::get().to(|| async { web::Html::new("<p>xin chào</p>") }),
        )
        .route(
            "/het-hang",
            web::get().to(|| async {
                HttpResponse::NotFound()
                    .content_type(HTML)
                    .body("<h1>Không tìm thấy</h1>")
            }),
        )
        .route(
            "/loi",
            web::get().to(|| async {
                HttpResponse::InternalServerError()
                    .content_type(HTML)
                    .body("<h1>Lỗi</h1>")
            }),
        )
        .route(
            "/that-bai",
            web::get().to(|| async {
                Err::<HttpResponse, _>(ErrorInternalServerError("database is down"))
            }),
        )
        .route(
            "/bao-tri",
            web::get().to(|| async { Err::<HttpResponse, _>(Maintenance) }),
        )
        .route(
            "/not-modified",
            web::get().to(|| async { HttpResponse::NotModified().content_type(HTML).finish() }),
        )
        .route("/cu", web::get().to(|| async { web::Redirect::to("/") }))
        .route(
            "/cu-vinh-vien",
            web::get().to(|| async { web::Redirect::to("/").permanent() }),
        )
        .route(
            "/xem-them",
            web::get().to(|| async {
                HttpResponse::SeeOther()
                    .insert_header((LOCATION, "/"))
                    .finish()
            }),
        )
        .route(
            "/with-cookie",
            web::get().to(|| async {
                HttpResponse::Ok()
                    .content_type(HTML)
                    .append_header((SET_COOKIE, "theme=dark; Path=/"))
                    .insert_header((CACHE_CONTROL, "no-store"))
                    .body("<p>giao diện tối</p>")
            }),
        );
}

/// The test app: `routes` counted by `$count`, as an initialised service.
macro_rules! app {
    ($count:expr) => {
        test::init_service(App::new().configure(routes).wrap($count)).await
    };
}

/// Sends a `TestRequest` to an app made by `app!`.
macro_rules! send {
    ($app:expr, $req:expr) => {
        test::call_service(&$app, $req.to_request()).await
    };
}

fn get(uri: &str, ua: &str) -> TestRequest {
    TestRequest::get().uri(uri).insert_header((USER_AGENT, ua))
}

fn with_cookie(uri: &str, ua: &str, cookie: &str) -> TestRequest {
    get(uri, ua).insert_header((COOKIE, cookie))
}

fn with_id(uri: &str, ua: &str, id: &str) -> TestRequest {
    with_cookie(uri, ua, &format!("{COOKIE_NAME}={id}"))
}

/// A request from this socket address, as `HttpServer` hands it over.
fn from_addr(uri: &str, ua: &str, addr: &str) -> TestRequest {
    get(uri, ua).peer_addr(addr.parse().unwrap())
}

async fn body_text<B: MessageBody>(res: ServiceResponse<B>) -> String {
    String::from_utf8(test::read_body(res).await.to_vec()).unwrap()
}

/// The first value of a response header, as text.
fn header<B>(res: &ServiceResponse<B>, name: HeaderName) -> &str {
    let value = res.headers().get(&name);
    value
        .unwrap_or_else(|| panic!("no {name}"))
        .to_str()
        .unwrap()
}

fn set_cookies<B>(res: &ServiceResponse<B>) -> Vec<String> {
    res.headers()
        .get_all(SET_COOKIE)
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// The `vc_id` Set-Cookie headers of a response.
fn vc_cookies<B>(res: &ServiceResponse<B>) -> Vec<String> {
    set_cookies(res)
        .into_iter()
        .filter(|c| c.starts_with(&format!("{COOKIE_NAME}=")))
        .collect()
}

/// The value of the one `vc_id` cookie the response sets.
fn vc_value<B>(res: &ServiceResponse<B>) -> String {
    let cookies = vc_cookies(res);
    assert_eq!(cookies.len(), 1, "exactly one vc_id cookie: {cookies:?}");
    let first = cookies[0].split(';').next().unwrap();
    first[COOKIE_NAME.len() + 1..].to_owned()
}

/// The attributes after `name=value`, trimmed, sorted.
fn attributes(set_cookie: &str) -> Vec<String> {
    let mut attrs: Vec<String> = set_cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_owned())
        .collect();
    attrs.sort();
    attrs
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
// The cases every adapter shares
// ---------------------------------------------------------------------------------------------

/// Answers step `{step}` of case `{case}` as `common/web_cases.rs` says.
async fn answer(
    req: HttpRequest,
    path: web::Path<(usize, usize)>,
) -> Result<HttpResponse, InternalError<&'static str>> {
    let (case, step) = path.into_inner();
    let a = web_cases::answer(case, step);
    // Marked first: an error answer must not count the mark.
    if let Some(id) = a.marked_request() {
        req.extensions_mut().insert(id);
    }
    let status = StatusCode::from_u16(a.status).unwrap();
    if a.error {
        return Err(InternalError::new(a.body(), status));
    }
    let mut res = HttpResponse::build(status);
    if let Some(content_type) = a.content_type {
        res.insert_header((CONTENT_TYPE, content_type));
    }
    if let Some(location) = a.location() {
        res.insert_header((LOCATION, location));
    }
    if a.own_headers {
        res.append_header((SET_COOKIE, web_cases::OWN_COOKIE))
            .insert_header((CACHE_CONTROL, "no-store"));
    }
    let mut res = res.body(a.body());
    if let Some(id) = a.marked_response() {
        res.extensions_mut().insert(id);
    }
    Ok(res)
}

fn is_json_response(_: StatusCode, headers: &HeaderMap) -> bool {
    web_cases::is_json(headers.get(CONTENT_TYPE).map(HeaderValue::as_bytes))
}

/// The middleware configured by its own options, as the case's setup says.
fn count_for(counter: &Counter, setup: web_cases::Setup) -> Count {
    let mut count = Count::new(counter.clone()).secure_cookie(setup.secure_cookie);
    if setup.cookieless {
        count = count.cookieless(web_cases::SITE);
    }
    if let Some(name) = setup.proxy_header {
        count = count.trusted_proxy_header(name);
    }
    if setup.own_bots {
        count = count.bots(web_cases::own_bots());
    }
    if setup.json_pages {
        count = count.page_predicate(is_json_response);
    }
    if let Some(n) = setup.pace_limit {
        count = count.pace_limit(n);
    }
    if setup.beacon {
        count = count.beacon(web_cases::beacon_setup());
    }
    count
}

#[actix_web::test]
async fn shared_cases_through_the_actix_middleware() {
    for index in 0..web_cases::all().len() {
        let mut run = web_cases::Run::new("actix", index);
        let app = test::init_service(
            App::new()
                .route("/{case}/{step}", web::route().to(answer))
                .wrap(count_for(&run.counter, run.setup())),
        )
        .await;
        while let Some(sent) = run.next() {
            let mut req = TestRequest::default()
                .method(Method::from_bytes(sent.method.as_bytes()).unwrap())
                .uri(&sent.path);
            for (name, value) in &sent.headers {
                req =
                    req.append_header((*name, HeaderValue::from_bytes(value.as_bytes()).unwrap()));
            }
            if let Some(peer) = sent.peer {
                req = req.peer_addr(peer);
            }
            let res = send!(app, req);
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
            run.check(web_cases::Observed {
                status,
                headers,
                body,
                outcome: None,
            });
        }
        run.finish();
    }
}

/// The same cases with no framework at all: what `Rules` decides is what both adapters must do.
#[test]
fn shared_cases_straight_through_the_rules() {
    for index in 0..web_cases::all().len() {
        let mut run = web_cases::Run::new("rules", index);
        let setup = run.setup();
        let mut rules = Rules::new(run.counter.clone()).secure_cookie(setup.secure_cookie);
        if setup.cookieless {
            rules = rules.cookieless(web_cases::SITE);
        }
        if let Some(name) = setup.proxy_header {
            rules = rules.trusted_proxy_header(name);
        }
        if setup.own_bots {
            rules = rules.bots(web_cases::own_bots());
        }
        if let Some(n) = setup.pace_limit {
            rules = rules.pace_limit(n);
        }
        if setup.beacon {
            rules = rules.beacon(web_cases::beacon_setup());
        }
        while let Some(sent) = run.next() {
            let peer = sent.peer.map(|p| p.ip());
            if let Some(query) = sent.beacon {
                assert!(rules.is_beacon(web_cases::BEACON_PATH));
                let query = Some(query).filter(|q| !q.is_empty());
                let counted = rules.count_beacon(sent.method, query, &sent.headers[..], peer);
                // The answer an adapter would send.
                let mut headers = vec![("cache-control".to_owned(), "no-store".to_owned())];
                if let Some(cookie) = &counted.set_cookie {
                    headers.push(("set-cookie".to_owned(), cookie.clone()));
                }
                run.check(web_cases::Observed {
                    status: 204,
                    headers,
                    body: None,
                    outcome: Some(counted.outcome),
                });
                continue;
            }
            let verdict = rules.before(sent.method, &sent.headers[..], peer);
            let a = sent.answer;
            let content_type = a.content_type.map(str::as_bytes);
            let is_page = || match setup.json_pages {
                true => web_cases::is_json(content_type),
                false => is_html(content_type),
            };
            let counted = rules.after(verdict, a.status, is_page, a.article());
            // The response an adapter would send: the app's headers, and the cookie.
            let mut headers = Vec::new();
            let mut add =
                |name: &str, value: &str| headers.push((name.to_owned(), value.to_owned()));
            if let (Some(content_type), false) = (a.content_type, a.error) {
                add("content-type", content_type);
            }
            if let Some(location) = a.location() {
                add("location", location);
            }
            if a.own_headers {
                add("set-cookie", web_cases::OWN_COOKIE);
                add("cache-control", "no-store");
            }
            if let Some(cookie) = &counted.set_cookie {
                add("set-cookie", cookie);
            }
            run.check(web_cases::Observed {
                status: a.status,
                headers,
                body: None,
                outcome: Some(counted.outcome),
            });
        }
        run.finish();
    }
}

// ---------------------------------------------------------------------------------------------
// Cookie identity
// ---------------------------------------------------------------------------------------------

#[actix_web::test]
async fn first_counted_response_sets_the_visitor_cookie() {
    let (counter, _clock) = counter();
    let app = app!(Count::new(counter.clone()));

    let res = send!(app, get("/", CHROME));
    assert_eq!(res.status(), StatusCode::OK);
    let cookies = vc_cookies(&res);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let value = vc_value(&res);
    assert!(is_new_visitor_cookie(&value), "{value}");
    assert_eq!(
        attributes(&cookies[0]),
        ["HttpOnly", "Max-Age=31536000", "Path=/", "SameSite=Lax"],
        "{}",
        cookies[0]
    );

    // The page itself is untouched.
    assert_eq!(header(&res, CONTENT_TYPE), HTML);
    assert_eq!(body_text(res).await, "<h1>Trang chủ</h1>");
    assert_eq!(today(&counter), (1, 1, 1));
}

#[actix_web::test]
async fn secure_cookie_adds_the_secure_attribute_and_can_be_turned_off_again() {
    let (counter, _clock) = counter();
    let app = app!(Count::new(counter.clone()).secure_cookie(true));
    let res = send!(app, get("/", CHROME));
    let cookies = vc_cookies(&res);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    assert_eq!(
        attributes(&cookies[0]),
        [
            "HttpOnly",
            "Max-Age=31536000",
            "Path=/",
            "SameSite=Lax",
            "Secure"
        ]
    );

    let app = app!(Count::new(counter.clone())
        .secure_cookie(true)
        .secure_cookie(false));
    let res = send!(app, get("/", FIREFOX));
    let cookies = vc_cookies(&res);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    assert!(!cookies[0].contains("Secure"), "{}", cookies[0]);
    assert_eq!(today(&counter), (2, 2, 2));
}

#[actix_web::test]
async fn returning_cookie_is_the_same_visitor() {
    let (counter, clock) = counter();
    let app = app!(Count::new(counter.clone()));

    // 10:00: a first page; the response sets the cookie.
    let first = send!(app, get("/", CHROME));
    let id = vc_value(&first);

    // 10:02: the browser sends it back; no new cookie.
    clock.advance(2 * MIN);
    let second = send!(app, with_id("/tin-tuc", CHROME, &id));
    assert_eq!(second.status(), StatusCode::OK);
    assert!(
        set_cookies(&second).is_empty(),
        "no new cookie for a known visitor: {:?}",
        set_cookies(&second)
    );

    // 10:04: among other cookies, one header.
    clock.advance(2 * MIN);
    let third = send!(
        app,
        with_cookie(
            "/",
            CHROME,
            &format!("_ga=GA1.1.42; {COOKIE_NAME}={id}; theme=dark")
        )
    );
    assert!(set_cookies(&third).is_empty());

    let s = counter.stats();
    assert_eq!(s.visitors.today, 1);
    assert_eq!(s.page_views.today, 3);
    assert_eq!(s.visits.today, 1);
    assert_eq!(s.online, 1);
    assert_eq!(counter.exclusions(), Exclusions::default());
}

#[actix_web::test]
async fn each_new_browser_gets_its_own_cookie() {
    let (counter, _clock) = counter();
    let app = app!(Count::new(counter.clone()));

    let a = vc_value(&send!(app, get("/", CHROME)));
    let b = vc_value(&send!(app, get("/", CHROME)));
    let c = vc_value(&send!(app, get("/", FIREFOX)));
    let own = |v: &str| v[..32].to_owned();
    assert_ne!(own(&a), own(&b));
    assert_ne!(own(&a), own(&c));
    assert_ne!(own(&b), own(&c));
    // The first two, without a cookie and from one address and agent, were counted as that
    // day's one cookieless visitor.
    assert_eq!(today(&counter), (2, 3, 2));
}

#[actix_web::test]
async fn malformed_cookie_is_replaced() {
    let (counter, _clock) = counter();
    let app = app!(Count::new(counter.clone()));

    let res = send!(
        app,
        with_id("/", CHROME, "not-a-hex-id-at-all-not-a-hex-id")
    );
    let fresh = vc_value(&res);
    assert_ne!(fresh, "not-a-hex-id-at-all-not-a-hex-id");
    // The replacement is then recognised.
    let res = send!(app, with_id("/", CHROME, &fresh));
    assert!(vc_cookies(&res).is_empty());
    assert_eq!(today(&counter), (1, 2, 1));
}

#[actix_web::test]
async fn the_apps_own_cookies_and_headers_are_kept() {
    let (counter, _clock) = counter();
    let app = app!(Count::new(counter.clone()));

    let res = send!(app, get("/with-cookie", CHROME));
    let cookies = set_cookies(&res);
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    assert!(
        cookies.contains(&"theme=dark; Path=/".to_owned()),
        "{cookies:?}"
    );
    assert_eq!(vc_cookies(&res).len(), 1);
    assert_eq!(header(&res, CACHE_CONTROL), "no-store");
    assert_eq!(body_text(res).await, "<p>giao diện tối</p>");
}

#[actix_web::test]
async fn head_is_counted_when_the_app_answers_it() {
    let (counter, _clock) = counter();
    let app = app!(Count::new(counter.clone()));

    // `/` answers every method.
    let res = send!(app, get("/", CHROME).method(Method::HEAD));
    assert_eq!(res.status(), StatusCode::OK);
    let id = vc_value(&res);
    send!(app, with_id("/", CHROME, &id).method(Method::HEAD));
    assert_eq!(today(&counter), (1, 2, 1));

    // A `web::get()` route does not answer HEAD in actix-web (the app's choice, not the
    // middleware's): not a page view, but a status exclusion.
    let res = send!(app, with_id("/tin-tuc", CHROME, &id).method(Method::HEAD));
    assert!(res.status().is_client_error(), "{}", res.status());
    assert_eq!(today(&counter), (1, 2, 1));
    assert_eq!(
        counter.exclusions(),
        Exclusions {
            status: 1,
            ..Exclusions::default()
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Cookieless identity
// ---------------------------------------------------------------------------------------------

/// The app counted without cookies, for the site `example.vn`.
macro_rules! cookieless_app {
    ($counter:expr) => {
        app!(Count::new($counter.clone()).cookieless("example.vn"))
    };
}

#[actix_web::test]
async fn cookieless_same_ip_and_user_agent_is_one_visitor() {
    let (counter, clock) = counter();
    let app = cookieless_app!(counter);

    for port in [51000, 51001, 51002] {
        // A new connection each time: the port does not matter, only the IP.
        let res = send!(app, from_addr("/", CHROME, &format!("203.0.113.5:{port}")));
        assert_eq!(res.status(), StatusCode::OK);
        assert!(set_cookies(&res).is_empty(), "{:?}", set_cookies(&res));
        clock.advance(MIN);
    }
    assert_eq!(today(&counter), (1, 3, 1));
    assert_eq!(counter.stats().online, 1);
}

#[actix_web::test]
async fn cookieless_different_ip_or_user_agent_is_another_visitor() {
    let (counter, _clock) = counter();
    let app = cookieless_app!(counter);

    for (ua, addr) in [
        (CHROME, "203.0.113.5:51000"),
        (CHROME, "203.0.113.6:51000"),  // another IP
        (FIREFOX, "203.0.113.5:51000"), // another browser on the first IP
        (COC_COC, "[2001:db8::1]:443"), // IPv6
        (CHROME, "203.0.113.5:52000"),  // the first visitor again
        (FIREFOX, "203.0.113.5:52000"), // the third again
    ] {
        let res = send!(app, from_addr("/", ua, addr));
        assert_eq!(res.status(), StatusCode::OK);
        assert!(set_cookies(&res).is_empty());
    }
    assert_eq!(today(&counter), (4, 6, 4));
}

#[actix_web::test]
async fn cookieless_ids_rotate_at_local_midnight() {
    // 23:50 in Hà Nội (16:50 UTC), Thursday 14 March 2024.
    let (counter, clock) = counter_at(datetime!(2024-03-14 23:50 +07:00));
    let app = cookieless_app!(counter);
    let reader = || from_addr("/", CHROME, "203.0.113.5:51000");

    send!(app, reader());
    clock.advance(8 * MIN); // 23:58: the same day, the same id
    send!(app, reader());
    assert_eq!(counter.today(), date!(2024 - 03 - 14));
    assert_eq!(today(&counter), (1, 2, 1));

    // 00:02 local on Friday (still 17:02 UTC on Thursday): the same person gets a new id.
    clock.advance(4 * MIN);
    assert_eq!(counter.today(), date!(2024 - 03 - 15));
    send!(app, reader());

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
    assert_eq!(s.online, 2, "both ids were seen within the online window");

    // 10:02 on Friday: still Friday's id.
    clock.advance(10 * 60 * MIN);
    send!(app, reader());
    let s = counter.stats();
    assert_eq!(s.visitors.today, 1);
    assert_eq!(s.visitors.this_week, 2);
}

#[actix_web::test]
async fn cookieless_ids_do_not_rotate_at_utc_midnight() {
    // 06:50 in Hà Nội is 23:50 UTC the day before.
    let (counter, clock) = counter_at(datetime!(2024-03-14 06:50 +07:00));
    let app = cookieless_app!(counter);

    send!(app, from_addr("/", CHROME, "203.0.113.5:51000"));
    clock.advance(20 * MIN); // 07:10 local, 00:10 UTC
    send!(app, from_addr("/", CHROME, "203.0.113.5:51000"));

    let s = counter.stats();
    assert_eq!(s.visitors.this_week, 1);
    assert_eq!((s.visits.today, s.page_views.today), (1, 2));
}

#[actix_web::test]
async fn trusted_proxy_header_gives_the_client_ip() {
    let (counter, _clock) = counter();
    let app = app!(Count::new(counter.clone())
        .cookieless("example.vn")
        .trusted_proxy_header("X-Forwarded-For"));
    let via_proxy = |proxy: &str, xff: &str| {
        from_addr("/", CHROME, proxy).insert_header(("x-forwarded-for", xff))
    };

    // Two clients behind the same proxy socket are two visitors.
    send!(app, via_proxy("10.0.0.1:40000", "203.0.113.5"));
    send!(app, via_proxy("10.0.0.1:40000", "203.0.113.6"));
    assert_eq!(today(&counter), (2, 2, 2));

    // The first address is the client; the proxies it went through do not matter.
    send!(app, via_proxy("10.0.0.2:40000", "203.0.113.5, 10.0.0.9"));
    send!(app, via_proxy("10.0.0.3:40000", " 203.0.113.5 ,10.0.0.1"));
    assert_eq!(today(&counter), (2, 4, 2));

    // Entries with a port: `ip:port` and `[v6]:port` (Azure App Service writes them).
    send!(app, via_proxy("10.0.0.1:40000", "203.0.113.5:54321"));
    assert_eq!(today(&counter), (2, 5, 2), "the first client, with a port");
    send!(app, via_proxy("10.0.0.1:40000", "[2001:db8::1]:443"));
    send!(app, via_proxy("10.0.0.1:40000", "2001:db8::1"));
    assert_eq!(
        today(&counter),
        (3, 7, 3),
        "one IPv6 client, with and without a port"
    );

    // Without the header, the peer's address is used.
    send!(app, from_addr("/", CHROME, "203.0.113.5:51000"));
    assert_eq!(today(&counter), (3, 8, 3), "same IP as the first client");
    send!(app, from_addr("/", CHROME, "10.0.0.1:40000"));
    assert_eq!(today(&counter), (4, 9, 4), "the proxy itself, as a client");
}

#[actix_web::test]
async fn proxy_header_is_ignored_unless_trusted() {
    let (counter, _clock) = counter();
    let app = cookieless_app!(counter);

    for xff in ["203.0.113.5", "203.0.113.6", "198.51.100.7:40000"] {
        let req = from_addr("/", CHROME, "10.0.0.1:40000").insert_header(("x-forwarded-for", xff));
        send!(app, req);
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

#[actix_web::test]
async fn bots_are_excluded() {
    let (counter, _clock) = counter();
    let app = app!(Count::new(counter.clone()));

    for ua in [GOOGLEBOT, web_cases::BINGBOT, "curl/8.5.0", "", "   "] {
        let res = send!(app, get("/", ua));
        assert_eq!(res.status(), StatusCode::OK, "{ua:?} still gets the page");
        assert!(set_cookies(&res).is_empty());
        assert_eq!(body_text(res).await, "<h1>Trang chủ</h1>");
    }
    // No User-Agent header at all.
    let res = send!(app, TestRequest::get().uri("/"));
    assert!(set_cookies(&res).is_empty());

    nothing_counted(&counter);
    assert_eq!(
        counter.exclusions(),
        Exclusions {
            bot: 6,
            ..Exclusions::default()
        }
    );
}

/// A middleware given its own detector drops what that detector calls a bot (a site's monitor
/// the list does not know) and counts what it allows (a partner's crawler).
#[actix_web::test]
async fn a_middleware_with_its_own_detector_drops_and_counts_by_it() {
    let (counter, _clock) = counter();
    let own = app!(Count::new(counter.clone()).bots(web_cases::own_bots()));
    send!(own, get("/", web_cases::MONITOR));
    send!(own, get("/", GOOGLEBOT));
    assert_eq!(counter.stats().page_views.total, 0);
    assert_eq!(counter.exclusions().bot, 2);
    send!(own, get("/", web_cases::PARTNER));
    assert_eq!(counter.stats().page_views.total, 1);

    // The same agents through a middleware with the shipped list.
    let plain = app!(Count::new(counter.clone()));
    send!(plain, get("/", web_cases::MONITOR));
    send!(plain, get("/", web_cases::PARTNER));
    assert_eq!(counter.stats().page_views.total, 2);
    assert_eq!(counter.exclusions().bot, 3);
}

#[actix_web::test]
async fn prefetches_are_excluded() {
    let (counter, _clock) = counter();
    let app = app!(Count::new(counter.clone()));

    for (name, value) in [
        ("sec-purpose", "prefetch"),
        ("sec-purpose", "prefetch;prerender"),
        ("Sec-Purpose", "prefetch; anonymous-client-ip"),
        ("purpose", "prefetch"),
        ("Purpose", "Prefetch"),
        ("X-Moz", "prefetch"),
    ] {
        let res = send!(app, get("/", CHROME).insert_header((name, value)));
        assert_eq!(res.status(), StatusCode::OK);
        assert!(set_cookies(&res).is_empty());
    }
    nothing_counted(&counter);
    assert_eq!(
        counter.exclusions(),
        Exclusions {
            prefetch: 6,
            ..Exclusions::default()
        }
    );

    // The navigation that follows counts.
    send!(app, get("/", CHROME));
    assert_eq!(today(&counter), (1, 1, 1));
}

#[actix_web::test]
async fn error_statuses_are_excluded() {
    let (counter, _clock) = counter();
    let app = app!(Count::new(counter.clone()));

    let res = send!(app, get("/het-hang", CHROME));
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(body_text(res).await, "<h1>Không tìm thấy</h1>");

    let res = send!(app, get("/khong-co-trang-nay", CHROME));
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "actix-web's own 404");

    let res = send!(app, get("/articles/abc", CHROME));
    assert_eq!(
        res.status(),
        StatusCode::NOT_FOUND,
        "the path extractor failed"
    );

    let res = send!(app, get("/loi", CHROME));
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body_text(res).await, "<h1>Lỗi</h1>");

    // Handlers returning `Err`: actix-web renders the error as the response.
    let res = send!(app, get("/that-bai", CHROME));
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(set_cookies(&res).is_empty());
    assert_eq!(body_text(res).await, "database is down");
    let res = send!(app, get("/bao-tri", CHROME));
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body_text(res).await, "đang bảo trì");

    nothing_counted(&counter);
    assert_eq!(
        counter.exclusions(),
        Exclusions {
            status: 6,
            ..Exclusions::default()
        }
    );
}

/// A middleware inside `Count` that fails the request (`Err`, not a response): actix-web
/// renders that error as a response further out, so it is a status exclusion, not a page, and
/// the error reaches the caller untouched.
#[actix_web::test]
async fn errors_from_inside_count_as_status_and_pass_through() {
    let (counter, _clock) = counter();
    async fn closed(
        req: ServiceRequest,
        next: Next<impl MessageBody + 'static>,
    ) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
        if req.path().starts_with("/articles/") {
            return Err(ErrorServiceUnavailable("đang bảo trì"));
        }
        next.call(req).await
    }
    let app = test::init_service(
        App::new()
            .configure(routes)
            .wrap(from_fn(closed)) // inner: runs after `Count` has seen the request
            .wrap(Count::new(counter.clone())),
    )
    .await;

    for _ in 0..2 {
        let err = test::try_call_service(&app, get("/articles/7", CHROME).to_request())
            .await
            .expect_err("the inner error");
        assert_eq!(err.to_string(), "đang bảo trì");
        assert_eq!(
            err.as_response_error().status_code(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
    nothing_counted(&counter);
    assert_eq!(
        row(&counter.article_stats(ArticleId::from(7)).views),
        [0; 8]
    );
    assert_eq!(
        counter.exclusions(),
        Exclusions {
            status: 2,
            ..Exclusions::default()
        }
    );

    // Other paths pass and count.
    let res = send!(app, get("/", CHROME));
    assert_eq!(vc_cookies(&res).len(), 1);
    assert_eq!(today(&counter), (1, 1, 1));
}

#[actix_web::test]
async fn redirects_and_not_modified_are_excluded() {
    let (counter, _clock) = counter();
    let app = app!(Count::new(counter.clone()));

    for (uri, status) in [
        ("/cu", StatusCode::TEMPORARY_REDIRECT),
        ("/cu-vinh-vien", StatusCode::PERMANENT_REDIRECT),
        ("/xem-them", StatusCode::SEE_OTHER),
    ] {
        let res = send!(app, get(uri, CHROME));
        assert_eq!(res.status(), status, "{uri}");
        assert_eq!(header(&res, LOCATION), "/", "{uri}");
        assert!(set_cookies(&res).is_empty(), "{uri}");
    }
    let res = send!(app, get("/not-modified", CHROME));
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);

    nothing_counted(&counter);
    assert_eq!(
        counter.exclusions(),
        Exclusions {
            status: 4,
            ..Exclusions::default()
        }
    );
}

#[actix_web::test]
async fn methods_other_than_get_and_head_are_excluded() {
    let (counter, _clock) = counter();
    let app = app!(Count::new(counter.clone()));

    for method in [Method::POST, Method::PUT, Method::DELETE, Method::OPTIONS] {
        let req = get("/", CHROME)
            .method(method.clone())
            .insert_header((CONTENT_TYPE, "application/x-www-form-urlencoded"))
            .set_payload("q=tin+tuc");
        let res = send!(app, req);
        assert_eq!(res.status(), StatusCode::OK, "{method}");
        assert!(set_cookies(&res).is_empty(), "{method}");
        assert_eq!(body_text(res).await, "<h1>Trang chủ</h1>");
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

#[actix_web::test]
async fn non_html_successes_are_excluded() {
    let (counter, _clock) = counter();
    let app = app!(Count::new(counter.clone()));

    let res = send!(app, get("/api/stats", CHROME));
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, CONTENT_TYPE), "application/json");
    assert_eq!(body_text(res).await, r#"{"online":1}"#);

    let res = send!(app, get("/style.css", CHROME));
    assert_eq!(header(&res, CONTENT_TYPE), "text/css");
    let res = send!(app, get("/logo.png", CHROME));
    assert_eq!(header(&res, CONTENT_TYPE), "image/png");
    let res = send!(app, get("/robots.txt", CHROME));
    assert!(header(&res, CONTENT_TYPE).starts_with("text/plain"));
    let res = send!(app, get("/empty", CHROME));
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    nothing_counted(&counter);
    assert_eq!(
        counter.exclusions(),
        Exclusions {
            not_page: 5,
            ..Exclusions::default()
        }
    );
}

#[actix_web::test]
async fn html_is_told_by_the_content_type_in_any_case() {
    let (counter, _clock) = counter();
    let app = app!(Count::new(counter.clone()));

    let res = send!(app, get("/shouty", CHROME));
    assert_eq!(vc_cookies(&res).len(), 1);
    let res = send!(app, get("/html", FIREFOX)); // `web::Html`
    assert_eq!(vc_cookies(&res).len(), 1);
    assert_eq!(today(&counter), (2, 2, 2));
    assert_eq!(counter.exclusions(), Exclusions::default());
}

#[actix_web::test]
async fn page_predicate_can_be_replaced() {
    let (counter, _clock) = counter();
    let is_json = |status: StatusCode, headers: &HeaderMap| {
        assert!(status.is_success(), "called for 2xx only, got {status}");
        is_json_response(status, headers)
    };
    let app = app!(Count::new(counter.clone()).page_predicate(is_json));

    // Now JSON is a page and HTML is not.
    let res = send!(app, get("/api/stats", CHROME));
    assert_eq!(vc_cookies(&res).len(), 1);
    send!(app, get("/", CHROME));
    // Statuses are still checked first.
    send!(app, get("/het-hang", CHROME));
    send!(app, get("/that-bai", CHROME));

    assert_eq!(today(&counter), (1, 1, 1));
    assert_eq!(
        counter.exclusions(),
        Exclusions {
            not_page: 1,
            status: 2,
            ..Exclusions::default()
        }
    );
}

#[actix_web::test]
async fn every_kind_of_request_at_once() {
    let (counter, _clock) = counter();
    let app = app!(Count::new(counter.clone()));

    let id = vc_value(&send!(app, get("/", CHROME)));
    let me = |uri: &str| with_id(uri, CHROME, &id);

    send!(app, me("/tin-tuc")); // page
    send!(app, me("/articles/3")); // article
    send!(app, me("/style.css")); // asset
    send!(app, me("/api/stats")); // API
    send!(app, me("/het-hang")); // 404
    send!(app, me("/that-bai")); // handler error
    send!(app, get("/", GOOGLEBOT)); // bot
    send!(app, get("/tin-tuc", "curl/8.5.0")); // bot
    send!(app, me("/").method(Method::HEAD)); // page
    send!(app, me("/").method(Method::POST)); // method
    send!(app, me("/tin-tuc").insert_header(("purpose", "prefetch"))); // prefetch

    assert_eq!(today(&counter), (1, 4, 1));
    assert_eq!(counter.article_stats(ArticleId::from(3)).views.today, 1);
    assert_eq!(
        counter.exclusions(),
        Exclusions {
            bot: 2,
            prefetch: 1,
            method: 1,
            status: 2,
            not_page: 2,
            pace: 0,
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Articles
// ---------------------------------------------------------------------------------------------

#[actix_web::test]
async fn article_id_in_the_request_extensions_counts_an_article_view() {
    let (counter, clock) = counter();
    let app = app!(Count::new(counter.clone()));

    // 10:00: the handler puts the id in `req.extensions_mut()`.
    let res = send!(app, get("/articles/7", CHROME));
    assert_eq!(res.status(), StatusCode::OK);
    let id = vc_value(&res);
    assert_eq!(body_text(res).await, "<h1>Bài 7</h1>");
    assert_eq!(counter.article_stats(ArticleId::from(7)).views.today, 1);
    assert_eq!(today(&counter), (1, 1, 1));

    // 10:05: a refresh within the dedup window (30 min): a page view, not an article view.
    clock.advance(5 * MIN);
    send!(app, with_id("/articles/7", CHROME, &id));
    let views = counter.article_stats(ArticleId::from(7)).views;
    assert_eq!((views.today, views.total), (1, 1));
    assert_eq!(today(&counter), (1, 2, 1));

    // Another reader counts; another article by the first reader counts.
    send!(app, get("/articles/7", FIREFOX));
    assert_eq!(counter.article_stats(ArticleId::from(7)).views.today, 2);
    send!(app, with_id("/articles/8", CHROME, &id));
    assert_eq!(counter.article_stats(ArticleId::from(8)).views.today, 1);

    // 10:31, 31 minutes after the first counted view (the refresh at 10:05 did not restart the
    // window): the first reader counts again, within the same visit.
    clock.advance(26 * MIN);
    send!(app, with_id("/articles/7", CHROME, &id));
    assert_eq!(counter.article_stats(ArticleId::from(7)).views.today, 3);

    assert_eq!(today(&counter), (2, 5, 2));
    assert_eq!(
        counter.top_articles(Period::Today, 10),
        [(ArticleId::from(7), 3), (ArticleId::from(8), 1)]
    );
}

#[actix_web::test]
async fn article_id_in_the_response_extensions_counts_an_article_view() {
    let (counter, clock) = counter();
    let app = app!(Count::new(counter.clone()));

    let res = send!(app, get("/bai/42", CHROME));
    let id = vc_value(&res);
    assert_eq!(body_text(res).await, "<h1>Bài 42</h1>");
    assert_eq!(counter.article_stats(ArticleId::from(42)).views.today, 1);

    clock.advance(MIN);
    send!(app, with_id("/bai/42", CHROME, &id));
    assert_eq!(
        counter.article_stats(ArticleId::from(42)).views.today,
        1,
        "refresh within the dedup window"
    );
    assert_eq!(today(&counter), (1, 2, 1));
}

/// Marks `/bai-viet/{slug}` requests with the article id the slug maps to, before `Count`
/// sees them.
async fn mark_article(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = match req.path() {
        "/bai-viet/bao-so-3" => Some(3),
        "/bai-viet/gia-vang" => Some(5),
        _ => None,
    };
    if let Some(id) = id {
        req.extensions_mut().insert(ArticleId::from(id));
    }
    next.call(req).await
}

#[actix_web::test]
async fn article_id_from_an_outer_middleware_counts_an_article_view() {
    let (counter, _clock) = counter();
    let app = test::init_service(
        App::new()
            .route("/bai-viet/{slug}", web::get().to(home))
            .route("/", web::get().to(home))
            .wrap(Count::new(counter.clone()))
            .wrap(from_fn(mark_article)), // outermost: runs first
    )
    .await;

    send!(app, get("/bai-viet/bao-so-3", CHROME));
    send!(app, get("/bai-viet/bao-so-3", FIREFOX));
    send!(app, get("/bai-viet/gia-vang", CHROME));
    send!(app, get("/bai-viet/khong-ro", CHROME));
    send!(app, get("/", CHROME));

    assert_eq!(
        counter.top_articles(Period::Today, 10),
        [(ArticleId::from(3), 2), (ArticleId::from(5), 1)]
    );
    assert_eq!(counter.stats().page_views.today, 5);
}

/// actix-web reuses its request objects: the mark of one request must not stay for the next.
#[actix_web::test]
async fn a_marked_request_does_not_mark_the_next_one() {
    let (counter, _clock) = counter();
    let app = app!(Count::new(counter.clone()));

    // Three readers without a cookie, at three addresses.
    for i in 0..3 {
        let addr = format!("203.0.113.{i}:1000");
        send!(app, from_addr("/articles/7", CHROME, &addr));
        send!(app, from_addr("/tin-tuc", CHROME, &addr));
        send!(app, from_addr("/", CHROME, &addr));
    }
    assert_eq!(counter.article_stats(ArticleId::from(7)).views.today, 3);
    assert_eq!(counter.top_articles(Period::Today, 10).len(), 1);
    assert_eq!(today(&counter), (3, 9, 3));
}

#[actix_web::test]
async fn excluded_article_requests_count_no_article_view() {
    let (counter, _clock) = counter();
    let app = app!(Count::new(counter.clone()));

    send!(app, get("/articles/7", GOOGLEBOT));
    send!(
        app,
        get("/bai/7", CHROME).insert_header(("sec-purpose", "prefetch"))
    );
    send!(app, get("/articles/7", CHROME).method(Method::PUT)); // no such route: 404 or 405

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
            method: 1,
            ..Exclusions::default()
        }
    );
}

#[actix_web::test]
async fn article_views_follow_cookieless_identity_and_its_dedup() {
    let (counter, clock) = counter();
    let app = cookieless_app!(counter);

    send!(app, from_addr("/articles/7", CHROME, "203.0.113.5:51000"));
    clock.advance(MIN);
    send!(app, from_addr("/articles/7", CHROME, "203.0.113.5:51001")); // refresh
    send!(app, from_addr("/articles/7", CHROME, "203.0.113.9:51000")); // someone else

    assert_eq!(counter.article_stats(ArticleId::from(7)).views.today, 2);
    assert_eq!(today(&counter), (2, 3, 2));
}

// ---------------------------------------------------------------------------------------------
// Where the middleware sits, and header edge cases
// ---------------------------------------------------------------------------------------------

/// `HttpServer::new` calls its factory once per worker. One `Count`, built before the server
/// and cloned into each worker's `App` (as `examples/actix.rs` does), shares its rules: a
/// reader is one visitor whichever worker answers.
#[actix_web::test]
async fn one_count_cloned_into_each_worker_is_one_set_of_rules() {
    let (counter, _clock) = counter();
    let count = Count::new(counter.clone()).cookieless("example.vn");
    let worker_a = app!(count.clone());
    let worker_b = app!(count.clone());

    send!(worker_a, from_addr("/", CHROME, "203.0.113.5:51000"));
    send!(worker_b, from_addr("/", CHROME, "203.0.113.5:51001"));
    send!(worker_a, from_addr("/", FIREFOX, "203.0.113.5:51002"));
    assert_eq!(today(&counter), (2, 3, 2));
}

/// A `Count` built inside the factory, one per worker (the shape of the `Count` doc example):
/// cookieless ids come from the counter's key of the day, so the workers still agree on a
/// reader.
#[actix_web::test]
async fn a_count_built_in_each_worker_agrees_on_cookieless_readers() {
    let (counter, _clock) = counter();
    let worker_a = app!(Count::new(counter.clone()).cookieless("example.vn"));
    let worker_b = app!(Count::new(counter.clone()).cookieless("example.vn"));

    send!(worker_a, from_addr("/", CHROME, "203.0.113.5:51000"));
    send!(worker_b, from_addr("/", CHROME, "203.0.113.5:51001"));
    assert_eq!(today(&counter), (1, 2, 1));
}

/// Wrapping one scope counts that scope only: requests elsewhere are neither counted nor
/// excluded.
#[actix_web::test]
async fn a_scope_of_its_own() {
    let (counter, _clock) = counter();
    let app = test::init_service(
        App::new()
            .service(
                web::scope("/tin")
                    .wrap(Count::new(counter.clone()))
                    .route("/{slug}", web::get().to(home)),
            )
            .route("/", web::get().to(home)),
    )
    .await;

    let res = send!(app, get("/tin/bao-so-3", CHROME));
    assert_eq!(vc_cookies(&res).len(), 1);
    let res = send!(app, get("/", CHROME));
    assert!(set_cookies(&res).is_empty());
    send!(app, get("/", GOOGLEBOT));

    assert_eq!(today(&counter), (1, 1, 1));
    assert_eq!(counter.exclusions(), Exclusions::default());
}

/// A User-Agent that is not UTF-8 is matched with the bad bytes replaced, the same on the
/// first request (the regex runs) and on later ones (the cached verdict is used): a bot stays
/// a bot and a browser stays a browser.
#[actix_web::test]
async fn non_utf8_user_agents_keep_their_verdict_when_seen_again() {
    let bot = b"curl/8.5.0 (\xff\xfe)";
    let browser = b"Mozilla/5.0 (Linux; Android 14; \xc0\xff) AppleWebKit/537.36 \
                    (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36";
    let (counter, _clock) = counter();
    let app = app!(Count::new(counter.clone()));
    for _ in 0..3 {
        for ua in [&bot[..], &browser[..]] {
            let ua = HeaderValue::from_bytes(ua).unwrap();
            send!(
                app,
                TestRequest::get().uri("/").insert_header((USER_AGENT, ua))
            );
        }
    }
    assert_eq!(counter.exclusions().bot, 3);
    // Three browser page views without the cookie: the day's one cookieless visitor.
    assert_eq!(today(&counter), (1, 3, 1));
}
