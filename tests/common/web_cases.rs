//! The request cases every web adapter must count alike: one table of short scripts (the
//! requests, how the app answers each, and what each must count), a driver-agnostic way to run
//! them, and the checks.
//!
//! `tests/layer.rs` runs every case through the tower layer, `tests/actix.rs` through the
//! actix-web middleware and straight through `web::Rules`: an adapter that drifts from the
//! rules fails one of those tests. A driver does, for each case:
//!
//! ```text
//! let mut run = Run::new("tower", index);   // a fresh counter on a ManualClock
//! let app = ...;                            // the framework's app: one route, `/{case}/{step}`,
//!                                           // answering `answer(case, step)`, counted with the
//!                                           // adapter configured by `run.setup()`
//! while let Some(sent) = run.next() {       // advances the clock, builds the request
//!     let observed = ...;                   // sends `sent`, reads the response
//!     run.check(observed);                  // status, cookies, headers, body, counts
//! }
//! ```
//!
//! The case's counter is built like the other web tests' (site offset +07:00, on a
//! `ManualClock` that only the steps move); nothing sleeps.
//!
//! Included with `#[path = "common/web_cases.rs"] mod web_cases;`; a test binary may use only
//! some of it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::LazyLock;
use std::time::Duration;

use time::macros::{datetime, offset};
use time::OffsetDateTime;
use visitor_counter::bots::Detector;
use visitor_counter::web::{Outcome, COOKIE_NAME};
use visitor_counter::{ArticleId, Counter, Exclusion, Exclusions, ManualClock, Period, Stats};

pub const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                          (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
pub const FIREFOX: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0";
pub const COC_COC: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                           (KHTML, like Gecko) coc_coc_browser/121.0.0 Chrome/115.0.0.0 Safari/537.36";
/// A browser whose User-Agent carries a localised device name (UTF-8, not ASCII).
pub const XIAOMI: &str = "Mozilla/5.0 (Linux; U; Android 12; zh-CN; \
                          红米Note 11 Build/SP1A.210812.016) AppleWebKit/537.36 \
                          (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36";
pub const GOOGLEBOT: &str =
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
pub const BINGBOT: &str = "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)";
/// A site's own uptime monitor, which the shipped list does not know.
pub const MONITOR: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                           (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 AcmeWatch/2";
/// A partner's reader, a bot by the shipped list, allowed by the site's own detector.
pub const PARTNER: &str = "Mozilla/5.0 (compatible; partner-reader/1.0; +https://partner.vn/bot)";

/// The site name of cookieless ids.
pub const SITE: &str = "example.vn";
/// The `Content-Type` of the app's pages.
pub const HTML: &str = "text/html; charset=utf-8";
pub const JSON: &str = "application/json";
/// The app's own cookie, set by answers `with_own_headers`.
pub const OWN_COOKIE: &str = "theme=dark; Path=/";

/// Thursday, mid-morning in Hà Nội.
pub const START: OffsetDateTime = datetime!(2024-03-14 10:00 +07:00);
const MIN: Duration = Duration::from_secs(60);

/// How the adapter is configured: each driver maps this onto the adapter's own options
/// (`secure_cookie`, `cookieless`, `trusted_proxy_header`, `bots`, `page_predicate`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Setup {
    pub secure_cookie: bool,
    /// `cookieless(SITE)`.
    pub cookieless: bool,
    pub proxy_header: Option<&'static str>,
    /// `bots(own_bots())`.
    pub own_bots: bool,
    /// `page_predicate`: a page is a 2xx `application/json` response ([`is_json`]).
    pub json_pages: bool,
}

const COOKIE: Setup = Setup {
    secure_cookie: false,
    cookieless: false,
    proxy_header: None,
    own_bots: false,
    json_pages: false,
};
const SECURE: Setup = Setup {
    secure_cookie: true,
    ..COOKIE
};
const COOKIELESS: Setup = Setup {
    cookieless: true,
    ..COOKIE
};
const BEHIND_PROXY: Setup = Setup {
    proxy_header: Some("X-Forwarded-For"),
    ..COOKIELESS
};
const OWN_BOTS: Setup = Setup {
    own_bots: true,
    ..COOKIE
};
const JSON_PAGES: Setup = Setup {
    json_pages: true,
    ..COOKIE
};

/// The detector of `Setup::own_bots`: the shipped list, plus the site's monitor, minus its
/// partner's reader.
pub fn own_bots() -> Detector {
    Detector::builder()
        .add_pattern("acmewatch/")
        .allow_pattern("partner-reader/")
        .build()
        .expect("valid patterns")
}

/// The page predicate of `Setup::json_pages`, on the response's `Content-Type`.
pub fn is_json(content_type: Option<&[u8]>) -> bool {
    content_type.is_some_and(|v| v.starts_with(JSON.as_bytes()))
}

/// Where the app puts the article id that makes a page view an article view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    None,
    /// In the request's extensions: by the handler (actix: `req.extensions_mut()`) or by an
    /// outer middleware before the adapter sees the request (tower).
    Request(u64),
    /// In the response's extensions.
    Response(u64),
}

/// How the app answers a step.
#[derive(Clone, Copy, Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: Option<&'static str>,
    pub mark: Mark,
    /// The handler fails (`Err`) with this status, with the text [`Answer::body`], rather than
    /// answering.
    pub error: bool,
    /// The app sets its own cookie ([`OWN_COOKIE`]) and `Cache-Control: no-store`.
    pub own_headers: bool,
}

impl Answer {
    /// 200, an HTML page.
    pub const fn page() -> Answer {
        Answer {
            status: 200,
            content_type: Some(HTML),
            mark: Mark::None,
            error: false,
            own_headers: false,
        }
    }

    /// 200 with this `Content-Type` (`None`: without one).
    pub const fn typed(content_type: Option<&'static str>) -> Answer {
        Answer {
            content_type,
            ..Answer::page()
        }
    }

    pub const fn status(self, status: u16) -> Answer {
        Answer { status, ..self }
    }

    /// The handler returns an error with this status.
    pub const fn fails(status: u16) -> Answer {
        Answer {
            status,
            error: true,
            ..Answer::page()
        }
    }

    pub const fn marked_on_request(self, article: u64) -> Answer {
        Answer {
            mark: Mark::Request(article),
            ..self
        }
    }

    pub const fn marked_on_response(self, article: u64) -> Answer {
        Answer {
            mark: Mark::Response(article),
            ..self
        }
    }

    pub const fn with_own_headers(self) -> Answer {
        Answer {
            own_headers: true,
            ..self
        }
    }

    /// The body the app sends.
    pub fn body(&self) -> &'static str {
        if self.error {
            "lỗi"
        } else if matches!(self.status, 204 | 304) {
            ""
        } else if self.content_type == Some(JSON) {
            "{}"
        } else {
            "<p>trang</p>"
        }
    }

    /// The `Location` of a redirect.
    pub fn location(&self) -> Option<&'static str> {
        ((300..400).contains(&self.status) && self.status != 304).then_some("/")
    }

    pub fn article(&self) -> Option<ArticleId> {
        match self.mark {
            Mark::None => None,
            Mark::Request(id) | Mark::Response(id) => Some(ArticleId::from(id)),
        }
    }

    pub fn marked_request(&self) -> Option<ArticleId> {
        match self.mark {
            Mark::Request(id) => Some(ArticleId::from(id)),
            _ => None,
        }
    }

    pub fn marked_response(&self) -> Option<ArticleId> {
        match self.mark {
            Mark::Response(id) => Some(ArticleId::from(id)),
            _ => None,
        }
    }
}

/// The `Cookie` headers a step sends.
#[derive(Clone, Copy, Debug)]
pub enum Cookie {
    None,
    /// This header value.
    Raw(&'static str),
    /// `vc_id=<the value step n's response set>`.
    Issued(usize),
    /// The same among other cookies in one header.
    IssuedAmongOthers(usize),
    /// The same in a second `Cookie` header (HTTP/2 sends one per cookie).
    IssuedInASecondHeader(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    /// A visitor the counter has not seen before (distinct visitors in total + 1).
    New,
    /// One it has.
    Known,
}

/// What a step must count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counts {
    PageView(Who),
    ArticleView(u64, Who),
    Excluded(Exclusion),
}

impl Counts {
    pub fn outcome(self) -> Outcome {
        match self {
            Counts::PageView(_) => Outcome::PageView,
            Counts::ArticleView(id, _) => Outcome::ArticleView(ArticleId::from(id)),
            Counts::Excluded(why) => Outcome::Excluded(why),
        }
    }
}

/// One request of a case.
#[derive(Clone, Debug)]
pub struct Step {
    /// How far the clock moves before the request.
    pub after: Duration,
    pub method: &'static str,
    /// `None`: no `User-Agent` header at all.
    pub user_agent: Option<&'static str>,
    pub headers: Vec<(&'static str, &'static str)>,
    pub cookie: Cookie,
    /// The peer's socket address.
    pub peer: Option<&'static str>,
    pub answer: Answer,
    pub counts: Option<Counts>,
    /// The response carries a new `vc_id` cookie.
    pub sets_cookie: bool,
}

/// A GET from Chrome, answered with an HTML page.
pub fn get() -> Step {
    Step {
        after: Duration::ZERO,
        method: "GET",
        user_agent: Some(CHROME),
        headers: Vec::new(),
        cookie: Cookie::None,
        peer: None,
        answer: Answer::page(),
        counts: None,
        sets_cookie: false,
    }
}

impl Step {
    pub fn after(self, after: Duration) -> Step {
        Step { after, ..self }
    }
    pub fn method(self, method: &'static str) -> Step {
        Step { method, ..self }
    }
    pub fn ua(self, ua: &'static str) -> Step {
        Step {
            user_agent: Some(ua),
            ..self
        }
    }
    pub fn no_ua(self) -> Step {
        Step {
            user_agent: None,
            ..self
        }
    }
    pub fn header(mut self, name: &'static str, value: &'static str) -> Step {
        self.headers.push((name, value));
        self
    }
    pub fn cookie(self, cookie: Cookie) -> Step {
        Step { cookie, ..self }
    }
    pub fn from(self, peer: &'static str) -> Step {
        Step {
            peer: Some(peer),
            ..self
        }
    }
    pub fn answer(self, answer: Answer) -> Step {
        Step { answer, ..self }
    }
    pub fn page_view(self, who: Who) -> Step {
        Step {
            counts: Some(Counts::PageView(who)),
            ..self
        }
    }
    pub fn article_view(self, id: u64, who: Who) -> Step {
        Step {
            counts: Some(Counts::ArticleView(id, who)),
            ..self
        }
    }
    pub fn excluded(self, why: Exclusion) -> Step {
        Step {
            counts: Some(Counts::Excluded(why)),
            ..self
        }
    }
    pub fn sets_cookie(self) -> Step {
        Step {
            sets_cookie: true,
            ..self
        }
    }
}

/// A script of steps on a fresh counter.
#[derive(Debug)]
pub struct Case {
    pub name: &'static str,
    pub setup: Setup,
    pub start: OffsetDateTime,
    pub steps: Vec<Step>,
}

fn case(name: &'static str, setup: Setup, steps: Vec<Step>) -> Case {
    Case {
        name,
        setup,
        start: START,
        steps,
    }
}

fn case_from(start: OffsetDateTime, name: &'static str, setup: Setup, steps: Vec<Step>) -> Case {
    Case {
        start,
        ..case(name, setup, steps)
    }
}

static CASES: LazyLock<Vec<Case>> = LazyLock::new(cases);

/// Every case, in order; a driver runs `Run::new(driver, i)` for each index.
pub fn all() -> &'static [Case] {
    &CASES
}

/// How the app answers step `step` of case `case` (the handler's path is `/{case}/{step}`).
pub fn answer(case: usize, step: usize) -> Answer {
    CASES[case].steps[step].answer
}

fn cases() -> Vec<Case> {
    use Cookie::{Issued, IssuedAmongOthers, IssuedInASecondHeader, Raw};
    use Exclusion::{Bot, Method, NotPage, Prefetch, Status};
    use Who::{Known, New};
    const VALID: &str = "vc_id=0123456789abcdef0123456789abcdef";
    let page = Answer::page;
    let typed = |ct| Answer::typed(Some(ct));
    vec![
        case(
            "the first page view sets the cookie; sent back, it is the same visitor",
            COOKIE,
            vec![
                get().page_view(New).sets_cookie(),
                get().after(2 * MIN).cookie(Issued(0)).page_view(Known),
                get().cookie(IssuedAmongOthers(0)).page_view(Known),
                get().cookie(IssuedInASecondHeader(0)).page_view(Known),
                // Another browser, and the first one without its cookie: new visitors.
                get().ua(FIREFOX).page_view(New).sets_cookie(),
                get().page_view(New).sets_cookie(),
                get().cookie(Issued(5)).page_view(Known),
            ],
        ),
        case(
            "the cookie is Secure when asked",
            SECURE,
            vec![
                get().page_view(New).sets_cookie(),
                get().cookie(Issued(0)).page_view(Known),
            ],
        ),
        case(
            "Secure means nothing without a cookie",
            Setup {
                secure_cookie: true,
                ..COOKIELESS
            },
            vec![get().from("203.0.113.5:51000").page_view(New)],
        ),
        case(
            "malformed and look-alike cookies are replaced; a well-formed one is used",
            COOKIE,
            vec![
                get().cookie(Raw("vc_id=")).page_view(New).sets_cookie(),
                get().cookie(Raw("vc_id=abc")).page_view(New).sets_cookie(),
                get()
                    .cookie(Raw("vc_id=not-a-hex-id-at-all-not-a-hex-id"))
                    .page_view(New)
                    .sets_cookie(),
                get()
                    .cookie(Raw("vc_id=0123456789abcdef0123456789abcde"))
                    .page_view(New)
                    .sets_cookie(),
                get()
                    .cookie(Raw("vc_id=0123456789abcdef0123456789abcdef0"))
                    .page_view(New)
                    .sets_cookie(),
                get()
                    .cookie(Raw("vc_id=\"0123456789abcdef0123456789abcdef\""))
                    .page_view(New)
                    .sets_cookie(),
                get()
                    .cookie(Raw("xvc_id=0123456789abcdef0123456789abcdef"))
                    .page_view(New)
                    .sets_cookie(),
                // Well-formed but never issued here: used as it is (no new cookie).
                get()
                    .cookie(Raw("vc_id=garbage; vc_id=0123456789abcdef0123456789abcdef"))
                    .page_view(New),
                get().cookie(Raw(VALID)).page_view(Known),
                get().cookie(Issued(0)).page_view(Known),
            ],
        ),
        case(
            "nothing uncounted sets the cookie; the first counted response does",
            COOKIE,
            vec![
                get().ua(GOOGLEBOT).excluded(Bot),
                get().header("sec-purpose", "prefetch").excluded(Prefetch),
                get().method("POST").excluded(Method),
                get().answer(page().status(404)).excluded(Status),
                get().answer(page().status(303)).excluded(Status),
                get().answer(typed(JSON)).excluded(NotPage),
                get().page_view(New).sets_cookie(),
            ],
        ),
        case(
            "HEAD is a page view; other methods are not",
            COOKIE,
            vec![
                get().method("HEAD").page_view(New).sets_cookie(),
                get().method("HEAD").cookie(Issued(0)).page_view(Known),
                get().method("POST").cookie(Issued(0)).excluded(Method),
                get().method("PUT").cookie(Issued(0)).excluded(Method),
                get().method("DELETE").excluded(Method),
                get().method("PATCH").excluded(Method),
                get().method("OPTIONS").excluded(Method),
                get().method("POST").ua(GOOGLEBOT).excluded(Method),
            ],
        ),
        case(
            "crawlers are told by the shipped list",
            COOKIE,
            vec![
                get().ua(GOOGLEBOT).excluded(Bot),
                get().ua(BINGBOT).excluded(Bot),
                get().ua("curl/8.5.0").excluded(Bot),
                get().ua("python-requests/2.32.3").excluded(Bot),
                get().ua("").excluded(Bot),
                get().ua("   ").excluded(Bot),
                get().no_ua().excluded(Bot),
                get().ua(PARTNER).excluded(Bot),
                get().ua(GOOGLEBOT).cookie(Raw(VALID)).excluded(Bot),
                get().ua(XIAOMI).page_view(New).sets_cookie(),
                get().ua(COC_COC).page_view(New).sets_cookie(),
                get().ua(MONITOR).page_view(New).sets_cookie(),
            ],
        ),
        case(
            "crawlers are told by the site's own detector",
            OWN_BOTS,
            vec![
                get().ua(MONITOR).excluded(Bot),
                get().ua(GOOGLEBOT).excluded(Bot),
                get().no_ua().excluded(Bot),
                get().ua(PARTNER).page_view(New).sets_cookie(),
                get().page_view(New).sets_cookie(),
            ],
        ),
        case(
            "prefetches and prerenders are not views; the navigation that follows is",
            COOKIE,
            vec![
                get().header("sec-purpose", "prefetch").excluded(Prefetch),
                get()
                    .header("sec-purpose", "prefetch;prerender")
                    .excluded(Prefetch),
                get()
                    .header("Sec-Purpose", "prefetch; anonymous-client-ip")
                    .excluded(Prefetch),
                get().header("purpose", "prefetch").excluded(Prefetch),
                get().header("Purpose", "Prefetch").excluded(Prefetch),
                get().header("X-Moz", "prefetch").excluded(Prefetch),
                get()
                    .header("sec-fetch-dest", "document")
                    .page_view(New)
                    .sets_cookie(),
                get()
                    .cookie(Issued(6))
                    .header("sec-purpose", "prefetch")
                    .answer(page().marked_on_request(7))
                    .excluded(Prefetch),
                get()
                    .cookie(Issued(6))
                    .answer(page().marked_on_request(7))
                    .article_view(7, Known),
            ],
        ),
        case(
            "answers outside 2xx are not views",
            COOKIE,
            vec![
                get().answer(page().status(404)).excluded(Status),
                get().answer(page().status(500)).excluded(Status),
                get().answer(page().status(403)).excluded(Status),
                get().answer(Answer::fails(500)).excluded(Status),
                get().answer(Answer::fails(503)).excluded(Status),
                get().answer(Answer::fails(404)).excluded(Status),
                get().answer(page().status(301)).excluded(Status),
                get().answer(page().status(302)).excluded(Status),
                get().answer(page().status(303)).excluded(Status),
                get().answer(page().status(307)).excluded(Status),
                get().answer(page().status(308)).excluded(Status),
                get().answer(page().status(304)).excluded(Status),
                get().answer(typed(JSON).status(404)).excluded(Status),
                get()
                    .answer(page().status(203))
                    .page_view(New)
                    .sets_cookie(),
            ],
        ),
        case(
            "successes that are not pages are not views",
            COOKIE,
            vec![
                get().answer(typed(JSON)).excluded(NotPage),
                get().answer(typed("image/png")).excluded(NotPage),
                get().answer(typed("text/css")).excluded(NotPage),
                get()
                    .answer(typed("text/plain; charset=utf-8"))
                    .excluded(NotPage),
                get().answer(typed("text/htm")).excluded(NotPage),
                get().answer(Answer::typed(None)).excluded(NotPage),
                get()
                    .answer(Answer::typed(None).status(204))
                    .excluded(NotPage),
                get()
                    .answer(typed("Text/HTML; Charset=UTF-8"))
                    .page_view(New)
                    .sets_cookie(),
                get()
                    .answer(typed("text/html"))
                    .page_view(New)
                    .sets_cookie(),
            ],
        ),
        case(
            "a page predicate of the app's own",
            JSON_PAGES,
            vec![
                get().answer(typed(JSON)).page_view(New).sets_cookie(),
                get().cookie(Issued(0)).excluded(NotPage),
                get()
                    .cookie(Issued(0))
                    .answer(typed(JSON).status(404))
                    .excluded(Status),
                get().ua(GOOGLEBOT).answer(typed(JSON)).excluded(Bot),
                get().cookie(Issued(0)).answer(typed(JSON)).page_view(Known),
            ],
        ),
        case(
            "an article id on the request or the response makes an article view",
            COOKIE,
            vec![
                get()
                    .answer(page().marked_on_request(7))
                    .article_view(7, New)
                    .sets_cookie(),
                get()
                    .after(MIN)
                    .cookie(Issued(0))
                    .answer(page().marked_on_response(8))
                    .article_view(8, Known),
                get().cookie(Issued(0)).page_view(Known),
                get()
                    .ua(FIREFOX)
                    .answer(page().marked_on_response(7))
                    .article_view(7, New)
                    .sets_cookie(),
                // Marked, but not a view: no article view either.
                get()
                    .ua(GOOGLEBOT)
                    .answer(page().marked_on_request(7))
                    .excluded(Bot),
                get()
                    .method("POST")
                    .answer(page().marked_on_response(7))
                    .excluded(Method),
                get()
                    .answer(page().status(404).marked_on_request(9))
                    .excluded(Status),
                get()
                    .answer(Answer::fails(500).marked_on_request(9))
                    .excluded(Status),
                get()
                    .answer(typed(JSON).marked_on_response(9))
                    .excluded(NotPage),
                get()
                    .cookie(Issued(0))
                    .answer(page().marked_on_request(9))
                    .article_view(9, Known),
            ],
        ),
        case(
            "the app's own cookie and headers are kept",
            COOKIE,
            vec![
                get()
                    .answer(page().with_own_headers())
                    .page_view(New)
                    .sets_cookie(),
                get()
                    .cookie(Issued(0))
                    .answer(page().with_own_headers())
                    .page_view(Known),
                get()
                    .answer(page().status(404).with_own_headers())
                    .excluded(Status),
                get()
                    .answer(typed(JSON).with_own_headers())
                    .excluded(NotPage),
            ],
        ),
        case(
            "cookieless: one visitor per IP and User-Agent, no cookie set or read",
            COOKIELESS,
            vec![
                get().from("203.0.113.5:51000").page_view(New),
                // A new connection: the port does not matter, only the IP.
                get().after(MIN).from("203.0.113.5:51001").page_view(Known),
                get().from("203.0.113.6:51000").page_view(New),
                get().ua(FIREFOX).from("203.0.113.5:51000").page_view(New),
                get().ua(COC_COC).from("[2001:db8::1]:443").page_view(New),
                get().from("203.0.113.5:52000").page_view(Known),
                get().ua(FIREFOX).from("203.0.113.5:52000").page_view(Known),
                // Cookies neither tell people apart nor are set.
                get()
                    .cookie(Raw(VALID))
                    .from("203.0.113.5:51000")
                    .page_view(Known),
                get()
                    .cookie(Raw("vc_id=fedcba9876543210fedcba9876543210"))
                    .from("203.0.113.5:51000")
                    .page_view(Known),
                get().ua(GOOGLEBOT).from("203.0.113.7:1").excluded(Bot),
                get()
                    .from("203.0.113.5:51000")
                    .answer(page().marked_on_request(7))
                    .article_view(7, Known),
                get()
                    .from("203.0.113.9:51000")
                    .answer(page().marked_on_response(7))
                    .article_view(7, New),
            ],
        ),
        case(
            "cookieless without a peer address: one visitor per User-Agent",
            COOKIELESS,
            vec![
                get().page_view(New),
                get().page_view(Known),
                get().ua(FIREFOX).page_view(New),
                get().from("203.0.113.5:51000").page_view(New),
            ],
        ),
        case_from(
            // 23:50 in Hà Nội (16:50 UTC), Thursday 14 March 2024.
            datetime!(2024-03-14 23:50 +07:00),
            "cookieless ids rotate at local midnight",
            COOKIELESS,
            vec![
                get().from("203.0.113.5:51000").page_view(New),
                // 23:58: the same day, the same id.
                get()
                    .after(8 * MIN)
                    .from("203.0.113.5:51000")
                    .page_view(Known),
                // 00:02 local on Friday (still 17:02 UTC on Thursday): a new id.
                get()
                    .after(4 * MIN)
                    .from("203.0.113.5:51000")
                    .page_view(New),
                // 10:02 on Friday: still Friday's id.
                get()
                    .after(600 * MIN)
                    .from("203.0.113.5:51000")
                    .page_view(Known),
            ],
        ),
        case_from(
            // 06:50 in Hà Nội is 23:50 UTC the day before.
            datetime!(2024-03-14 06:50 +07:00),
            "cookieless ids do not rotate at UTC midnight",
            COOKIELESS,
            vec![
                get().from("203.0.113.5:51000").page_view(New),
                // 07:10 local, 00:10 UTC.
                get()
                    .after(20 * MIN)
                    .from("203.0.113.5:51000")
                    .page_view(Known),
            ],
        ),
        case(
            "a trusted proxy header gives the client's address",
            BEHIND_PROXY,
            vec![
                // Two clients behind one proxy socket are two visitors.
                get()
                    .from("10.0.0.1:40000")
                    .header("x-forwarded-for", "203.0.113.5")
                    .page_view(New),
                get()
                    .from("10.0.0.1:40000")
                    .header("x-forwarded-for", "203.0.113.6")
                    .page_view(New),
                // The first address is the client's; the proxies after it do not matter.
                get()
                    .from("10.0.0.2:40000")
                    .header("x-forwarded-for", "203.0.113.5, 10.0.0.9")
                    .page_view(Known),
                get()
                    .from("10.0.0.3:40000")
                    .header("X-Forwarded-For", " 203.0.113.5 ,10.0.0.1, 10.0.0.2")
                    .page_view(Known),
                // Entries with a port (some proxies write them).
                get()
                    .from("10.0.0.1:40000")
                    .header("x-forwarded-for", "203.0.113.5:54321")
                    .page_view(Known),
                get()
                    .from("10.0.0.1:40000")
                    .header("x-forwarded-for", "198.51.100.7:40000")
                    .page_view(New),
                get()
                    .from("10.0.0.1:40000")
                    .header("x-forwarded-for", "[2001:db8::1]:443")
                    .page_view(New),
                get()
                    .from("10.0.0.1:40000")
                    .header("x-forwarded-for", "2001:db8::1")
                    .page_view(Known),
                // Without the header, the peer's address.
                get().from("203.0.113.5:51000").page_view(Known),
                get().from("10.0.0.1:40000").page_view(New),
                // An entry that is no address: the peer's address as well.
                get()
                    .from("10.0.0.1:40000")
                    .header("x-forwarded-for", "unknown")
                    .page_view(Known),
            ],
        ),
        case(
            "a proxy header name that is no header name matches nothing: the peer's address",
            Setup {
                proxy_header: Some("not a header\n"),
                ..COOKIELESS
            },
            vec![
                get().from("203.0.113.5:1000").page_view(New),
                get().from("203.0.113.5:1001").page_view(Known),
                get().from("203.0.113.6:1000").page_view(New),
            ],
        ),
        case(
            "a proxy header is ignored unless trusted",
            COOKIELESS,
            vec![
                get()
                    .from("10.0.0.1:40000")
                    .header("x-forwarded-for", "203.0.113.5")
                    .page_view(New),
                get()
                    .from("10.0.0.1:40000")
                    .header("x-forwarded-for", "203.0.113.6")
                    .page_view(Known),
                get()
                    .from("10.0.0.1:40000")
                    .header("x-forwarded-for", "198.51.100.7:40000")
                    .page_view(Known),
            ],
        ),
        case(
            "exclusions are checked in the documented order",
            COOKIE,
            vec![
                // 1. The method: a bot's POST of a missing page.
                get()
                    .method("POST")
                    .ua(GOOGLEBOT)
                    .header("sec-purpose", "prefetch")
                    .answer(page().status(404))
                    .excluded(Method),
                // 2. The bot: a bot's prefetch of a missing page.
                get()
                    .ua(GOOGLEBOT)
                    .header("sec-purpose", "prefetch")
                    .answer(page().status(404))
                    .excluded(Bot),
                // 3. The prefetch: a prefetch of a missing page.
                get()
                    .header("sec-purpose", "prefetch")
                    .answer(page().status(404))
                    .excluded(Prefetch),
                // 4. The status: a 404 JSON answer.
                get().answer(typed(JSON).status(404)).excluded(Status),
                // 5. The page predicate.
                get().answer(typed(JSON)).excluded(NotPage),
            ],
        ),
    ]
}

/// A request to send, built from a step.
#[derive(Clone, Debug)]
pub struct Sent {
    /// `/{case}/{step}`.
    pub path: String,
    pub method: &'static str,
    /// In order; names as the case wrote them (any case).
    pub headers: Vec<(&'static str, String)>,
    pub peer: Option<SocketAddr>,
    pub answer: Answer,
}

/// What came back.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    pub status: u16,
    /// Every header, in any case.
    pub headers: Vec<(String, String)>,
    /// `None`: not checked.
    pub body: Option<String>,
    /// The outcome, when the driver sees it (straight through `Rules`).
    pub outcome: Option<Outcome>,
}

/// What the checks compare before and after a step.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Reading {
    stats: Stats,
    exclusions: Exclusions,
    /// Counted views of every article, in total.
    article_views: u64,
    /// Of the article the step's answer marks.
    marked_views: u64,
}

impl Reading {
    fn of(counter: &Counter, marked: Option<ArticleId>) -> Reading {
        Reading {
            stats: counter.stats(),
            exclusions: counter.exclusions(),
            article_views: counter
                .top_articles(Period::Total, usize::MAX)
                .iter()
                .map(|(_, n)| n)
                .sum(),
            marked_views: marked.map_or(0, |a| counter.article_stats(a).views.total),
        }
    }
}

/// One case being run by one driver.
pub struct Run {
    driver: &'static str,
    index: usize,
    case: &'static Case,
    pub counter: Counter,
    clock: ManualClock,
    next: usize,
    /// The `vc_id` value each step's response set.
    issued: Vec<Option<String>>,
    before: Option<Reading>,
}

impl Run {
    /// Case `index` of [`all`], on a fresh counter at the case's start.
    pub fn new(driver: &'static str, index: usize) -> Run {
        let case = &all()[index];
        let clock = ManualClock::new(case.start);
        let counter = Counter::builder()
            .utc_offset(offset!(+7))
            .clock(clock.clone())
            .build()
            .expect("valid configuration");
        Run {
            driver,
            index,
            case,
            counter,
            clock,
            next: 0,
            issued: vec![None; case.steps.len()],
            before: None,
        }
    }

    pub fn setup(&self) -> Setup {
        self.case.setup
    }

    fn context(&self, step: usize) -> String {
        format!(
            "{} adapter, case {} ({:?}), step {step}",
            self.driver, self.index, self.case.name
        )
    }

    fn issued(&self, step: usize) -> &str {
        self.issued[step]
            .as_deref()
            .unwrap_or_else(|| panic!("{}: step {step} set no cookie", self.context(self.next)))
    }

    /// Moves the clock and builds the next step's request; `None` after the last step.
    pub fn next(&mut self) -> Option<Sent> {
        assert!(
            self.before.is_none(),
            "{}: check the response before the next step",
            self.context(self.next - 1)
        );
        let j = self.next;
        let step = self.case.steps.get(j)?;
        self.next += 1;
        self.clock.advance(step.after);
        self.before = Some(Reading::of(&self.counter, step.answer.article()));

        let mut headers: Vec<(&'static str, String)> = Vec::new();
        if let Some(ua) = step.user_agent {
            headers.push(("user-agent", ua.to_owned()));
        }
        headers.extend(step.headers.iter().map(|&(n, v)| (n, v.to_owned())));
        let vc = |k| format!("{COOKIE_NAME}={}", self.issued(k));
        match step.cookie {
            Cookie::None => {}
            Cookie::Raw(v) => headers.push(("cookie", v.to_owned())),
            Cookie::Issued(k) => headers.push(("cookie", vc(k))),
            Cookie::IssuedAmongOthers(k) => {
                headers.push(("cookie", format!("_ga=GA1.1.42; {}; theme=dark", vc(k))))
            }
            Cookie::IssuedInASecondHeader(k) => {
                headers.push(("Cookie", "_ga=GA1.1.42".to_owned()));
                headers.push(("Cookie", vc(k)));
            }
        }
        Some(Sent {
            path: format!("/{}/{j}", self.index),
            method: step.method,
            headers,
            peer: step.peer.map(|p| p.parse().expect("a socket address")),
            answer: step.answer,
        })
    }

    /// Checks the response to the step [`Run::next`] built, and what the counter counted.
    pub fn check(&mut self, observed: Observed) {
        let j = self.next - 1;
        let ctx = self.context(j);
        let step = &self.case.steps[j];
        let answer = step.answer;
        let counts = step
            .counts
            .unwrap_or_else(|| panic!("{ctx}: the case does not say what the step counts"));
        match counts {
            Counts::PageView(_) => assert_eq!(answer.mark, Mark::None, "{ctx}: the case"),
            Counts::ArticleView(id, _) => {
                assert_eq!(
                    answer.article(),
                    Some(ArticleId::from(id)),
                    "{ctx}: the case"
                )
            }
            Counts::Excluded(_) => {}
        }

        // The response: the app's, with at most a `vc_id` cookie added.
        assert_eq!(
            observed.status, answer.status,
            "{ctx}: the app's status passes through"
        );
        let header = |name: &str| -> Vec<&str> {
            observed
                .headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
                .collect()
        };
        let set_cookies = header("set-cookie");
        let (vc, others): (Vec<&str>, Vec<&str>) = set_cookies
            .iter()
            .partition(|c| c.starts_with(&format!("{COOKIE_NAME}=")));
        if step.sets_cookie {
            assert_eq!(vc.len(), 1, "{ctx}: one new vc_id cookie: {set_cookies:?}");
            let mut parts = vc[0].split(';').map(str::trim);
            let value = &parts.next().unwrap()[COOKIE_NAME.len() + 1..];
            assert!(
                value.len() == 32 && value.bytes().all(|b| b.is_ascii_hexdigit()),
                "{ctx}: 128 bits in hex: {value:?}"
            );
            assert!(
                !self.issued.iter().flatten().any(|v| v == value),
                "{ctx}: each new visitor gets a value of its own"
            );
            let mut attrs: Vec<&str> = parts.collect();
            attrs.sort_unstable();
            let mut want = vec!["HttpOnly", "Max-Age=31536000", "Path=/", "SameSite=Lax"];
            if self.case.setup.secure_cookie {
                want.push("Secure");
            }
            assert_eq!(attrs, want, "{ctx}: {}", vc[0]);
            self.issued[j] = Some(value.to_owned());
        } else {
            assert!(vc.is_empty(), "{ctx}: no vc_id cookie: {set_cookies:?}");
        }
        if answer.own_headers {
            assert_eq!(others, [OWN_COOKIE], "{ctx}: the app's cookie is kept");
            assert_eq!(header("cache-control"), ["no-store"], "{ctx}");
        } else {
            assert_eq!(others, Vec::<&str>::new(), "{ctx}");
        }
        if let Some(location) = answer.location() {
            assert_eq!(header("location"), [location], "{ctx}");
        }
        if !answer.error {
            let content_type = header("content-type");
            assert_eq!(
                content_type.first().copied(),
                answer.content_type,
                "{ctx}: the app's Content-Type"
            );
        }
        if let Some(body) = &observed.body {
            if step.method != "HEAD" {
                assert_eq!(body, answer.body(), "{ctx}: the app's body");
            }
        }
        if let Some(outcome) = observed.outcome {
            assert_eq!(outcome, counts.outcome(), "{ctx}: the rules' outcome");
        }

        // The counts.
        let before = self.before.take().expect("next() before check()");
        let after = Reading::of(&self.counter, answer.article());
        match counts {
            Counts::Excluded(why) => {
                let mut want = before.clone();
                let e = &mut want.exclusions;
                match why {
                    Exclusion::Bot => e.bot += 1,
                    Exclusion::Prefetch => e.prefetch += 1,
                    Exclusion::Method => e.method += 1,
                    Exclusion::Status => e.status += 1,
                    Exclusion::NotPage => e.not_page += 1,
                    other => panic!("{ctx}: an exclusion the cases do not know: {other:?}"),
                }
                assert_eq!(
                    after, want,
                    "{ctx}: excluded as {why:?}, nothing else counted"
                );
            }
            Counts::PageView(who) | Counts::ArticleView(_, who) => {
                let article = u64::from(matches!(counts, Counts::ArticleView(..)));
                assert_eq!(
                    after.exclusions, before.exclusions,
                    "{ctx}: nothing excluded"
                );
                assert_eq!(
                    after.stats.page_views.total,
                    before.stats.page_views.total + 1,
                    "{ctx}: one page view"
                );
                assert_eq!(
                    after.stats.page_views.today,
                    before.stats.page_views.today + 1,
                    "{ctx}: one page view today"
                );
                assert_eq!(
                    after.stats.visitors.total,
                    before.stats.visitors.total + u64::from(who == Who::New),
                    "{ctx}: a {who:?} visitor"
                );
                assert_eq!(
                    after.article_views,
                    before.article_views + article,
                    "{ctx}: article views"
                );
                assert_eq!(
                    after.marked_views,
                    before.marked_views + article,
                    "{ctx}: the marked article's views"
                );
            }
        }
    }

    /// Asserts every step was sent and checked.
    pub fn finish(self) {
        assert!(
            self.before.is_none() && self.next == self.case.steps.len(),
            "{}: the case was not run to its end",
            self.context(self.next)
        );
    }
}
