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
use visitor_counter::web::{Beacon, Outcome, COOKIE_NAME};
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
/// (`secure_cookie`, `cookieless`, `trusted_proxy_header`, `bots`, `page_predicate`,
/// `pace_limit`, `beacon`).
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
    /// `pace_limit(n)`; `None`: the default.
    pub pace_limit: Option<u32>,
    /// `beacon(beacon())`.
    pub beacon: bool,
}

const COOKIE: Setup = Setup {
    secure_cookie: false,
    cookieless: false,
    proxy_header: None,
    own_bots: false,
    json_pages: false,
    pace_limit: None,
    beacon: false,
};
const BEACON: Setup = Setup {
    beacon: true,
    ..COOKIE
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

/// The beacon of `Setup::beacon`: at [`BEACON_PATH`], taking odd article ids only (the
/// site's catalog, say).
pub fn beacon_setup() -> Beacon {
    Beacon::at(BEACON_PATH)
        .expect("a valid path")
        .articles(|id| id.as_u64() % 2 == 1)
}

pub const BEACON_PATH: &str = "/_vc/b";

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

    /// The adapter's own answer to a beacon: 204, nothing else of the app's.
    pub const fn beacon() -> Answer {
        Answer {
            status: 204,
            content_type: None,
            ..Answer::page()
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
    /// Nothing: in beacon mode the page's beacon counts it.
    Deferred,
}

impl Counts {
    pub fn outcome(self) -> Outcome {
        match self {
            Counts::PageView(_) => Outcome::PageView,
            Counts::ArticleView(id, _) => Outcome::ArticleView(ArticleId::from(id)),
            Counts::Excluded(why) => Outcome::Excluded(why),
            Counts::Deferred => Outcome::Deferred,
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
    /// The new cookie is the sent one's own random id, without the cookieless id it carried.
    pub drops_carry: bool,
    /// A beacon with this query string (the adapter answers it).
    pub beacon: Option<&'static str>,
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
        drops_carry: false,
        beacon: None,
    }
}

/// A beacon from Chrome's page script, with this query string.
pub fn beacon(query: &'static str) -> Step {
    Step {
        method: "POST",
        answer: Answer::beacon(),
        beacon: Some(query),
        ..get()
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
    pub fn drops_carry(self) -> Step {
        Step {
            sets_cookie: true,
            drops_carry: true,
            ..self
        }
    }
    /// The article whose views the step's checks read: the one the app marks, or the one a
    /// beacon counts.
    pub fn article(&self) -> Option<ArticleId> {
        match (self.beacon, self.counts) {
            (Some(_), Some(Counts::ArticleView(id, _))) => Some(ArticleId::from(id)),
            (Some(_), _) => None,
            (None, _) => self.answer.article(),
        }
    }
    pub fn deferred(self) -> Step {
        Step {
            counts: Some(Counts::Deferred),
            ..self
        }
    }
}

/// All-time totals a case ends with (and, when given, today's distinct visitors).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Totals {
    pub online: u64,
    pub visits: u64,
    pub visitors: u64,
    pub page_views: u64,
    pub visitors_today: Option<u64>,
}

/// A script of steps on a fresh counter.
#[derive(Debug)]
pub struct Case {
    pub name: &'static str,
    pub setup: Setup,
    pub start: OffsetDateTime,
    pub steps: Vec<Step>,
    /// What the counter reads after the last step.
    pub end: Option<Totals>,
}

fn case(name: &'static str, setup: Setup, steps: Vec<Step>) -> Case {
    Case {
        name,
        setup,
        start: START,
        steps,
        end: None,
    }
}

impl Case {
    fn ends_with(self, online: u64, visits: u64, visitors: u64, page_views: u64) -> Case {
        let end = Totals {
            online,
            visits,
            visitors,
            page_views,
            visitors_today: None,
        };
        Case {
            end: Some(end),
            ..self
        }
    }

    fn visitors_today(mut self, n: u64) -> Case {
        if let Some(end) = &mut self.end {
            end.visitors_today = Some(n);
        }
        self
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
    use Exclusion::{Bot, Method, NotPage, Pace, Prefetch, Status};
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
                // Another browser, and one at another address: new visitors.
                get().ua(FIREFOX).page_view(New).sets_cookie(),
                get().from("203.0.113.5:1").page_view(New).sets_cookie(),
                get().cookie(Issued(5)).page_view(Known),
                // The first browser without its cookie: the day's cookieless visitor of its
                // address and User-Agent, which it was counted as: the same visitor.
                get().page_view(Known).sets_cookie(),
                get().cookie(Issued(7)).page_view(Known),
            ],
        )
        .ends_with(3, 3, 3, 9),
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
                // Without a valid cookie: the cookieless visitor of its address and agent.
                get().cookie(Raw("vc_id=")).page_view(New).sets_cookie(),
                get()
                    .cookie(Raw("vc_id=abc"))
                    .page_view(Known)
                    .sets_cookie(),
                get()
                    .cookie(Raw("vc_id=not-a-hex-id-at-all-not-a-hex-id"))
                    .page_view(Known)
                    .sets_cookie(),
                get()
                    .cookie(Raw("vc_id=0123456789abcdef0123456789abcde"))
                    .page_view(Known)
                    .sets_cookie(),
                get()
                    .cookie(Raw("vc_id=0123456789abcdef0123456789abcdef0"))
                    .page_view(Known)
                    .sets_cookie(),
                get()
                    .cookie(Raw("vc_id=\"0123456789abcdef0123456789abcdef\""))
                    .page_view(Known)
                    .sets_cookie(),
                get()
                    .cookie(Raw("xvc_id=0123456789abcdef0123456789abcdef"))
                    .page_view(Known)
                    .sets_cookie(),
                get()
                    .cookie(Raw(
                        "vc_id=0123456789abcdef0123456789abcdef.0123456789abcdef.0025",
                    ))
                    .page_view(Known)
                    .sets_cookie(),
                get()
                    .cookie(Raw(
                        "vc_id=0123456789abcdef0123456789abcdef.0123456789abcdef.00258ab4.",
                    ))
                    .page_view(Known)
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
                    .page_view(Known)
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
        case(
            "the pace is judged after the status and the page predicate",
            Setup {
                pace_limit: Some(2),
                ..COOKIE
            },
            vec![
                get().page_view(New).sets_cookie(),
                get().cookie(Issued(0)).page_view(Known),
                // At the limit: what is not a page view is excluded for its own reason.
                get()
                    .cookie(Issued(0))
                    .answer(typed(JSON))
                    .excluded(NotPage),
                get()
                    .cookie(Issued(0))
                    .answer(page().status(404))
                    .excluded(Status),
                get().cookie(Issued(0)).ua(GOOGLEBOT).excluded(Bot),
                get().cookie(Issued(0)).excluded(Pace),
                get()
                    .cookie(Issued(0))
                    .answer(page().marked_on_request(7))
                    .excluded(Pace),
                // The visitor's minute began at step 0: a new one begins a minute later.
                get()
                    .after(MIN)
                    .cookie(Issued(0))
                    .answer(page().marked_on_request(7))
                    .article_view(7, Known),
                // Another visitor has a minute of its own.
                get().ua(FIREFOX).page_view(New).sets_cookie(),
            ],
        )
        .ends_with(2, 2, 2, 4),
        case(
            "no pace limit when it is off",
            Setup {
                pace_limit: Some(0),
                ..COOKIE
            },
            std::iter::once(get().page_view(New).sets_cookie())
                .chain((0..199).map(|_| get().cookie(Issued(0)).page_view(Known)))
                .collect(),
        )
        .ends_with(1, 1, 1, 200),
        case(
            "a client that never keeps the cookie is one visitor a day",
            COOKIE,
            // 100 loads in 10 minutes from one address and User-Agent, none sending a cookie.
            std::iter::once(get().from("203.0.113.5:1").page_view(New).sets_cookie())
                .chain((1..100).map(|_| {
                    get()
                        .after(Duration::from_secs(6))
                        .from("203.0.113.5:1")
                        .page_view(Known)
                        .sets_cookie()
                }))
                .collect(),
        )
        .ends_with(1, 1, 1, 100),
        case(
            "a browser that keeps its cookie is one visitor, not two",
            COOKIE,
            vec![
                get().from("203.0.113.5:1").page_view(New).sets_cookie(),
                get().after(MIN).cookie(Issued(0)).page_view(Known),
                // Another address (a phone between networks): still the same visitor.
                get()
                    .after(MIN)
                    .cookie(Issued(0))
                    .from("198.51.100.7:1")
                    .page_view(Known),
                get().after(MIN).cookie(Issued(0)).page_view(Known),
                get().after(MIN).cookie(Issued(0)).page_view(Known),
            ],
        )
        .ends_with(1, 1, 1, 5),
        case_from(
            datetime!(2024-03-14 23:50 +07:00),
            "across midnight the visit goes on; the next visit is under the browser's own id",
            COOKIE,
            vec![
                get().from("203.0.113.5:1").page_view(New).sets_cookie(),
                get().after(8 * MIN).cookie(Issued(0)).page_view(Known),
                // 00:02 on Friday: the carried id's day is over, its visit is not.
                get().after(4 * MIN).cookie(Issued(0)).page_view(Known),
                get().after(20 * MIN).cookie(Issued(0)).page_view(Known),
                // 01:12, after 50 idle minutes: a new visit, under the browser's own id, and
                // the cookie without the carried id.
                get()
                    .after(50 * MIN)
                    .cookie(Issued(0))
                    .page_view(New)
                    .drops_carry(),
                get().after(MIN).cookie(Issued(4)).page_view(Known),
                get()
                    .after(MIN)
                    .cookie(Issued(0))
                    .page_view(Known)
                    .drops_carry(),
            ],
        )
        .ends_with(1, 2, 2, 7),
        case(
            "two browsers behind one address and User-Agent: one visitor that day, two the next",
            COOKIE,
            vec![
                get().from("203.0.113.5:1").page_view(New).sets_cookie(),
                get().from("203.0.113.5:2").page_view(Known).sets_cookie(),
                get().after(MIN).cookie(Issued(0)).page_view(Known),
                get().after(MIN).cookie(Issued(1)).page_view(Known),
                // The next morning: each browser is itself.
                get()
                    .after(24 * 60 * MIN)
                    .cookie(Issued(0))
                    .page_view(New)
                    .drops_carry(),
                get().cookie(Issued(1)).page_view(New).drops_carry(),
                get().after(MIN).cookie(Issued(4)).page_view(Known),
                get().after(MIN).cookie(Issued(5)).page_view(Known),
            ],
        )
        .ends_with(2, 3, 3, 8)
        .visitors_today(2),
        case(
            "300 loads with one cookie in under a minute: 60 page views",
            COOKIE,
            std::iter::once(get().page_view(New).sets_cookie())
                .chain((1..300).map(|i| {
                    let step = get().after(Duration::from_millis(150)).cookie(Issued(0));
                    if i < 60 {
                        step.page_view(Known)
                    } else {
                        step.excluded(Pace)
                    }
                }))
                .collect(),
        )
        .ends_with(1, 1, 1, 60),
        case(
            "a reader at a person's pace is never held back, all day",
            COOKIE,
            reading_day(),
        )
        .ends_with(1, 5, 1, READING_DAY_PAGES),
        case(
            "beacon mode: pages are not counted and set no cookie; their beacons are",
            BEACON,
            vec![
                get().deferred(),
                beacon("p=%2F").page_view(New).sets_cookie(),
                get()
                    .cookie(Issued(1))
                    .answer(page().marked_on_request(7))
                    .deferred(),
                beacon("p=%2Farticles%2F7&a=7")
                    .cookie(Issued(1))
                    .article_view(7, Known),
                // An id the beacon's check does not take: a page view only.
                beacon("p=%2Farticles%2F8&a=8")
                    .cookie(Issued(1))
                    .page_view(Known),
                // Uncounted answers of the app count nothing either.
                get().answer(page().status(404)).deferred(),
                get().ua(GOOGLEBOT).deferred(),
                get().method("POST").deferred(),
                // A client that runs no script: nothing, however often.
                get().from("203.0.113.9:1").deferred(),
                get().from("203.0.113.9:1").deferred(),
            ],
        )
        .ends_with(1, 1, 1, 3),
        case(
            "beacons are counted by the page rules",
            BEACON,
            vec![
                beacon("p=%2F").method("GET").excluded(Method),
                beacon("p=%2F").method("HEAD").excluded(Method),
                beacon("p=%2F").ua(GOOGLEBOT).excluded(Bot),
                beacon("p=%2F").no_ua().excluded(Bot),
                beacon("p=%2F")
                    .header("sec-purpose", "prefetch;prerender")
                    .excluded(Prefetch),
                beacon("p=%2F")
                    .header("sec-fetch-site", "cross-site")
                    .excluded(NotPage),
                beacon("").excluded(NotPage),
                beacon("a=7").excluded(NotPage),
                beacon("p=tin-tuc").excluded(NotPage),
                beacon("p=%2F&a=bay").excluded(NotPage),
                beacon("p=%2F")
                    .header("sec-fetch-site", "same-origin")
                    .from("203.0.113.5:1")
                    .page_view(New)
                    .sets_cookie(),
                // Without the cookie: the day's cookieless visitor again.
                beacon("p=%2F")
                    .from("203.0.113.5:1")
                    .page_view(Known)
                    .sets_cookie(),
                beacon("p=%2Fa&a=9")
                    .cookie(Issued(10))
                    .article_view(9, Known),
            ],
        )
        .ends_with(1, 1, 1, 3),
        case(
            "forged beacons are held to the pace",
            Setup {
                pace_limit: Some(5),
                ..BEACON
            },
            std::iter::once(beacon("p=%2F").page_view(New).sets_cookie())
                .chain((1..20).map(|i| {
                    let step = beacon("p=%2F").after(Duration::from_secs(1));
                    if i < 5 {
                        step.page_view(Known).sets_cookie()
                    } else {
                        step.excluded(Pace)
                    }
                }))
                .collect(),
        )
        .ends_with(1, 1, 1, 5),
        case(
            "cookieless beacon mode",
            Setup {
                cookieless: true,
                ..BEACON
            },
            vec![
                get().from("203.0.113.5:1").deferred(),
                beacon("p=%2F").from("203.0.113.5:1").page_view(New),
                beacon("p=%2F&a=7")
                    .from("203.0.113.5:2")
                    .article_view(7, Known),
            ],
        )
        .ends_with(1, 1, 1, 2),
    ]
}

/// Page views of [`reading_day`].
const READING_DAY_PAGES: u64 = 5 * 61;

/// A reader's day at a person's pace, as fast as people read: five sittings (08:00, 10:30,
/// 12:30, 17:00, 21:00), each opening the front page, then every one of its 50 links in tabs
/// within 40 seconds, then reading ten of them, one every 20 seconds.
fn reading_day() -> Vec<Step> {
    let page = |after: Duration| {
        get()
            .after(after)
            .cookie(Cookie::Issued(0))
            .page_view(Who::Known)
    };
    let tab = Duration::from_millis(800);
    let read = Duration::from_secs(20);
    // From the end of one sitting to the start of the next.
    let sitting = tab * 50 + read * 10;
    let mut steps = vec![get().page_view(Who::New).sets_cookie()];
    let starts = [0, 150, 270, 540, 780u32];
    for (i, pair) in starts.windows(2).enumerate() {
        if i == 0 {
            steps.extend((0..50).map(|_| page(tab)));
            steps.extend((0..10).map(|_| page(read)));
        }
        steps.push(page(MIN * (pair[1] - pair[0]) - sitting));
        steps.extend((0..50).map(|_| page(tab)));
        steps.extend((0..10).map(|_| page(read)));
    }
    steps
}

/// A request to send, built from a step.
#[derive(Clone, Debug)]
pub struct Sent {
    /// `/{case}/{step}`, or the beacon's path and query.
    pub path: String,
    /// A beacon's query string (empty: none).
    pub beacon: Option<&'static str>,
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
        self.before = Some(Reading::of(&self.counter, step.article()));

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
        let path = match step.beacon {
            None => format!("/{}/{j}", self.index),
            Some("") => BEACON_PATH.to_owned(),
            Some(query) => format!("{BEACON_PATH}?{query}"),
        };
        Some(Sent {
            path,
            beacon: step.beacon,
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
            // A beacon names its article in its query.
            _ if step.beacon.is_some() => {}
            Counts::PageView(_) => assert_eq!(answer.mark, Mark::None, "{ctx}: the case"),
            Counts::ArticleView(id, _) => {
                assert_eq!(
                    answer.article(),
                    Some(ArticleId::from(id)),
                    "{ctx}: the case"
                )
            }
            Counts::Excluded(_) | Counts::Deferred => {}
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
            let hex = |s: &str, n| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
            let (random, carried) = value.split_once('.').unwrap_or((value, ""));
            assert!(hex(random, 32), "{ctx}: 128 bits in hex: {value:?}");
            if step.drops_carry {
                let Cookie::Issued(k) = step.cookie else {
                    panic!("{ctx}: the case: a carry is dropped from an issued cookie")
                };
                assert_eq!(
                    value,
                    &self.issued(k)[..32],
                    "{ctx}: the browser's own id, without the carried one"
                );
            } else {
                // `<random>.<carried cookieless id>.<its local date>`.
                let (id, date) = carried.split_once('.').unwrap_or_default();
                assert!(
                    hex(id, 16) && hex(date, 8),
                    "{ctx}: a carried id: {value:?}"
                );
                assert!(
                    !self.issued.iter().flatten().any(|v| v.starts_with(random)),
                    "{ctx}: each new visitor gets a value of its own"
                );
            }
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
        if step.beacon.is_some() {
            assert_eq!(
                header("cache-control"),
                ["no-store"],
                "{ctx}: a beacon's answer"
            );
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
        let after = Reading::of(&self.counter, step.article());
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
                    Exclusion::Pace => e.pace += 1,
                    other => panic!("{ctx}: an exclusion the cases do not know: {other:?}"),
                }
                assert_eq!(
                    after, want,
                    "{ctx}: excluded as {why:?}, nothing else counted"
                );
            }
            Counts::Deferred => {
                assert_eq!(after, before, "{ctx}: nothing counted, nothing excluded");
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

    /// Asserts every step was sent and checked, and the case's end.
    pub fn finish(self) {
        let ctx = self.context(self.next);
        assert!(
            self.before.is_none() && self.next == self.case.steps.len(),
            "{ctx}: the case was not run to its end"
        );
        if let Some(want) = self.case.end {
            let s = self.counter.stats();
            let got = Totals {
                online: s.online,
                visits: s.visits.total,
                visitors: s.visitors.total,
                page_views: s.page_views.total,
                visitors_today: want.visitors_today.map(|_| s.visitors.today),
            };
            assert_eq!(got, want, "{ctx}: the totals after the last step");
        }
    }
}
