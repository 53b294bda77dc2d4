//! Which requests are page views, and who made them: [`Rules`], the one place where the
//! exclusions and the visitor identity are decided. The tower layer and the actix-web
//! middleware are thin adapters over it, and any other framework can count with it in a few
//! lines (see [`Rules`]).

use std::hash::{BuildHasher, Hash, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use super::beacon::{self, Beacon};
use crate::bots::Detector;
use crate::{ArticleId, Counter, Exclusion, VisitorId};

/// The cookie that carries a visitor's id.
pub const COOKIE_NAME: &str = "vc_id";

/// The default pace limit: page views a visitor may have counted in a minute
/// ([`Rules::pace_limit`]).
pub const DEFAULT_PACE_LIMIT: u32 = 60;

/// The attributes of the cookie, after its value.
const COOKIE_ATTRS: &str = "; Max-Age=31536000; Path=/; HttpOnly; SameSite=Lax";

/// A request's headers as the rules read them: every value of a header, by its name.
///
/// Implemented for `http::HeaderMap` (feature `http`, which `tower` implies), actix-web's
/// `HeaderMap` (feature `actix`), and a slice of `(name, value)` pairs for any other framework.
pub trait Headers {
    /// The values of the header `name` (given in lowercase; a header's name is
    /// case-insensitive), in the order the request has them.
    fn values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a [u8]>;
}

impl<K: AsRef<str>, V: AsRef<[u8]>> Headers for [(K, V)] {
    fn values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a [u8]> {
        self.iter()
            .filter(move |(k, _)| k.as_ref().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }
}

const USER_AGENT: &str = "user-agent";
const COOKIE: &str = "cookie";
const SEC_FETCH_SITE: &str = "sec-fetch-site";
/// The headers that mark a prefetch or a prerender.
const PREFETCH: [&str; 3] = ["sec-purpose", "purpose", "x-moz"];

/// The headers the rules read: a header map type makes their names once (`known_names!`), not
/// once per request.
#[cfg(any(feature = "http", feature = "actix"))]
const KNOWN: [&str; 6] = [
    USER_AGENT,
    COOKIE,
    SEC_FETCH_SITE,
    PREFETCH[0],
    PREFETCH[1],
    PREFETCH[2],
];

/// The index of `name` in [`KNOWN`].
#[cfg(any(feature = "http", feature = "actix"))]
fn known(name: &str) -> Option<usize> {
    KNOWN.iter().position(|k| *k == name)
}

/// The [`KNOWN`] names as a static array of this header name type.
#[cfg(any(feature = "http", feature = "actix"))]
macro_rules! known_names {
    ($name:ty) => {{
        static NAMES: [$name; KNOWN.len()] = [
            <$name>::from_static(KNOWN[0]),
            <$name>::from_static(KNOWN[1]),
            <$name>::from_static(KNOWN[2]),
            <$name>::from_static(KNOWN[3]),
            <$name>::from_static(KNOWN[4]),
            <$name>::from_static(KNOWN[5]),
        ];
        &NAMES
    }};
}

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
impl Headers for http::HeaderMap {
    fn values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a [u8]> {
        let names = known_names!(http::HeaderName);
        match known(name) {
            Some(i) => self.get_all(&names[i]),
            None => self.get_all(name),
        }
        .iter()
        .map(|v| v.as_bytes())
    }
}

#[cfg(feature = "actix")]
#[cfg_attr(docsrs, doc(cfg(feature = "actix")))]
impl Headers for actix_web::http::header::HeaderMap {
    fn values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a [u8]> {
        let names = known_names!(actix_web::http::header::HeaderName);
        // actix-web's `get_all(&str)` makes a `HeaderName` (allocating for a name it does not
        // know), so another name (a trusted proxy header) is found by a pass over the map.
        let (known, other) = match known(name) {
            Some(i) => (Some(self.get_all(&names[i])), None),
            None => {
                let other = self
                    .iter()
                    .filter(move |(k, _)| k.as_str().eq_ignore_ascii_case(name))
                    .map(|(_, v)| v);
                (None, Some(other))
            }
        };
        known
            .into_iter()
            .flatten()
            .chain(other.into_iter().flatten())
            .map(|v| v.as_bytes())
    }
}

/// The options of an adapter that forward to its [`Rules`] (`new`, `secure_cookie`,
/// `cookieless`, `trusted_proxy_header`, `bots`, `pace_limit`, `beacon`), written once for every
/// adapter: a struct with a `rules: Rules` field, whose own constructor `with_rules` sets the
/// rest.
#[cfg(any(feature = "tower", feature = "actix"))]
macro_rules! rule_options {
    ($adapter:ident) => {
        /// Counts into `counter`, identifying visitors by the `vc_id` cookie.
        pub fn new(counter: $crate::Counter) -> $adapter {
            $adapter::with_rules($crate::web::Rules::new(counter))
        }

        fn with(mut self, f: impl FnOnce($crate::web::Rules) -> $crate::web::Rules) -> $adapter {
            self.rules = f(self.rules);
            self
        }

        /// Marks the cookie `Secure` (sites served over HTTPS only); see
        /// [`Rules::secure_cookie`]($crate::web::Rules::secure_cookie).
        #[must_use]
        pub fn secure_cookie(self, secure: bool) -> $adapter {
            self.with(|r| r.secure_cookie(secure))
        }

        /// Identifies visitors without cookies, by a daily-keyed hash of IP, User-Agent and
        /// `site`; see [`Rules::cookieless`]($crate::web::Rules::cookieless).
        #[must_use]
        pub fn cookieless(self, site: impl Into<String>) -> $adapter {
            self.with(|r| r.cookieless(site))
        }

        /// Takes the client IP from the first address in this header (such as
        /// `x-forwarded-for`) instead of the peer's. Set it only behind a proxy that
        /// overwrites the header.
        #[must_use]
        pub fn trusted_proxy_header(self, name: &str) -> $adapter {
            self.with(|r| r.trusted_proxy_header(name))
        }

        /// Tells crawlers by this detector instead of the shipped list: one with a site's own
        /// monitor added, or a partner's crawler allowed (see
        /// [`Detector`]($crate::bots::Detector)).
        #[must_use]
        pub fn bots(self, detector: $crate::bots::Detector) -> $adapter {
            self.with(|r| r.bots(detector))
        }

        /// Counts at most `per_minute` page views of a visitor in a minute (default
        /// [`DEFAULT_PACE_LIMIT`]($crate::web::DEFAULT_PACE_LIMIT); 0: no limit); see
        /// [`Rules::pace_limit`]($crate::web::Rules::pace_limit).
        #[must_use]
        pub fn pace_limit(self, per_minute: u32) -> $adapter {
            self.with(|r| r.pace_limit(per_minute))
        }

        /// Beacon mode: pages are not counted and set no cookie (a cache may store them); the
        /// adapter answers the beacon that [`Beacon::script`]($crate::web::Beacon::script)
        /// sends and counts it instead. See [`Rules::beacon`]($crate::web::Rules::beacon).
        #[must_use]
        pub fn beacon(self, beacon: $crate::web::Beacon) -> $adapter {
            self.with(|r| r.beacon(beacon))
        }
    };
}
#[cfg(any(feature = "tower", feature = "actix"))]
pub(super) use rule_options;

#[derive(Clone)]
enum Identity {
    Cookie { secure: bool },
    Cookieless { site: String },
}

#[derive(Clone)]
struct Shared {
    counter: Counter,
    identity: Identity,
    /// Lowercase.
    proxy_header: Option<String>,
    bots: Detector,
    /// Page views per visitor and minute; 0: no limit.
    pace: u32,
    beacon: Option<Beacon>,
}

/// The rules of what a request is: a page view, an article view, or which [`Exclusion`]; and
/// who made it. Cheap to clone (one `Arc`); the adapters (`web::CountLayer`,
/// `web::actix::Count`) hold one, and an app on another framework uses it directly:
///
/// ```
/// use visitor_counter::web::{Outcome, Rules};
/// use visitor_counter::Counter;
///
/// let counter = Counter::builder().build()?;
/// let rules = Rules::new(counter.clone());
///
/// // Before the app answers: the method, the headers and the peer's address.
/// let headers = [("user-agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0")];
/// let verdict = rules.before("GET", &headers[..], Some([127, 0, 0, 1].into()));
/// // ... the app answers 200 with text/html ...
/// let counted = rules.after(verdict, 200, || true, None);
/// assert_eq!(counted.outcome, Outcome::PageView);
/// // A first visit: the response should carry this `Set-Cookie` header value.
/// assert!(counted.set_cookie.unwrap().starts_with("vc_id="));
/// assert_eq!(counter.stats().page_views.today, 1);
/// # Ok::<(), visitor_counter::BuildError>(())
/// ```
///
/// The rules, in this order:
/// 1. a method other than GET or HEAD → not counted ([`Exclusion::Method`]);
/// 2. a crawler by User-Agent (the shipped list, [`is_bot`](crate::bots::is_bot), or the
///    [`Detector`] given to [`Rules::bots`]) → [`Exclusion::Bot`];
/// 3. a prefetch or prerender (`Sec-Purpose`, `Purpose` or `X-Moz` header containing
///    `prefetch`) → [`Exclusion::Prefetch`] (a prerendered page the reader then opens is not
///    counted either: browsers do not request it again; in beacon mode it is, see below);
/// 4. after the app answered: a status outside 2xx → [`Exclusion::Status`]; a response that is
///    not a page (by the adapter's predicate; by default not `text/html`, see [`is_html`]) →
///    [`Exclusion::NotPage`];
/// 5. the visitor's pace: past [`Rules::pace_limit`] page views in its minute (default 60) →
///    [`Exclusion::Pace`];
/// 6. otherwise a page view: [`Counter::view_article`] when the app marked the request or the
///    response with an [`ArticleId`], else [`Counter::hit`].
///
/// Every exclusion is counted with [`Counter::exclude`]. In beacon mode ([`Rules::beacon`])
/// pages are not counted at all ([`Outcome::Deferred`]); their beacons are, by the same rules
/// ([`Rules::count_beacon`]).
///
/// # Visitor identity
/// - **Cookie** (default): the first-party cookie `vc_id` (HttpOnly, SameSite=Lax, Path=/, one
///   year; `Secure` with [`Rules::secure_cookie`]) names the visitor: a random 128-bit id
///   (keyed SipHash output under per-thread random keys) in 32 hex digits, and the counter sees
///   `VisitorId::from_key(<those digits>)`. A request without a valid cookie is counted under
///   the day's **cookieless id** of its address and User-Agent (below), not under a fresh
///   random id, so a client that never keeps the cookie (a scraper, many AI crawlers posing
///   as browsers) is one visitor a day, however many pages it loads. Its response sets a new
///   cookie that carries that cookieless id and the local date: a browser that keeps the
///   cookie goes on being counted under the cookieless id all that day, and for as long as
///   the visit then lasts (across midnight, as any visit), so its first page is not counted
///   twice. Its first request after that is counted under its own random id, and its answer
///   rewrites the cookie without the carried id. So two browsers behind one address with the
///   same User-Agent, both arriving without a cookie, are one visitor on that first day; from
///   their next visit on they are two.
/// - **Cookieless** ([`Rules::cookieless`]): every request is counted under its cookieless id,
///   and no cookie is read or set.
///
/// The cookieless id is a keyed hash (SipHash-1-3) of the client IP, the User-Agent and the
/// site name (none in cookie mode), under a secret key drawn at random for each local day and
/// held by the counter, so that every `Rules` on clones of one counter agrees (one per actix
/// worker, say). The key is kept only in memory and replaced by the next day's at the first
/// request after midnight: ids change at local midnight (and at a restart), no IP or User-Agent
/// is stored anywhere, the snapshot and the cookie included, and once a day is over nothing can
/// link its ids to the readers. Each process draws its own keys: with several instances sharing
/// a site (feature `redis`), a reader without a cookie whose requests go to two instances counts
/// as two visitors there; route a client to one instance. The client IP is the peer's address,
/// or the first address of a proxy header named with [`Rules::trusted_proxy_header`], which only
/// a deployment behind such a proxy should set (`ip`, `ip:port` and `[v6]:port` entries are
/// understood). Without either, every reader with the same User-Agent is one visitor.
///
/// # Pace
/// A person does not read more than a page a second for long; scrapers do. The rules count at
/// most [`Rules::pace_limit`] page views (default [`DEFAULT_PACE_LIMIT`], 60) of one visitor in
/// a minute: the visitor's minute starts at its first page view after the previous one ended,
/// and the page views past the limit within it are excluded as [`Exclusion::Pace`] (they do not
/// count as page views, keep the visitor online, or count article views). A reader opening
/// every link of a front page in tabs stays far below it. The counts per minute are held by the
/// counter, shared by every `Rules` on it, bounded by `max_sessions`, and not saved in snapshots.
///
/// # Cost and locks
/// [`Rules::before`] reads the headers without allocating (but for a copy of a User-Agent that
/// is not UTF-8, for a cookieless id); the bot check is a cached lookup ([`Detector`]), and
/// cookieless ids lock the counter's day-key mutex for one hash. A cookie that still carries a
/// cookieless id also locks the day-key mutex and, after its day, the visitor's shard of the
/// session table. [`Rules::after`] locks the visitor's shard of the pace table (unless the
/// limit is off), records like `hit`, and allocates the `Set-Cookie` value of a new visitor
/// (one `String`); nothing for a returning one.
#[derive(Clone)]
pub struct Rules {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Rules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rules").finish_non_exhaustive()
    }
}

/// What [`Rules::before`] decided, to hand to [`Rules::after`] once the app has answered.
#[derive(Debug)]
#[must_use = "a verdict counts nothing until it is given to `Rules::after`"]
pub struct Verdict {
    plan: Plan,
}

#[derive(Debug)]
enum Plan {
    Excluded(Exclusion),
    /// Beacon mode: the page's beacon counts it.
    Deferred,
    Count {
        visitor: VisitorId,
        /// A cookie value to set on the response.
        new_cookie: Option<CookieValue>,
    },
}

/// How a request was counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A page view ([`Counter::hit`]).
    PageView,
    /// A view of this article ([`Counter::view_article`]).
    ArticleView(ArticleId),
    /// Not counted, for this reason ([`Counter::exclude`]).
    Excluded(Exclusion),
    /// Not counted here, nor excluded: in beacon mode a page is counted by its beacon.
    Deferred,
}

/// What [`Rules::after`] did, and the cookie the response must carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counted {
    /// How the request was counted.
    pub outcome: Outcome,
    /// A `Set-Cookie` header value to add to the response: a new visitor's id, set on its
    /// first counted response (or its cookie without the carried cookieless id, once that is
    /// over).
    pub set_cookie: Option<String>,
}

/// The default page predicate: a `Content-Type` of `text/html` (any parameters, any case).
pub fn is_html(content_type: Option<&[u8]>) -> bool {
    content_type
        .map(<[u8]>::trim_ascii_start)
        .and_then(|v| v.get(..9))
        .is_some_and(|v| v.eq_ignore_ascii_case(b"text/html"))
}

impl Rules {
    /// Rules that count into `counter`, identifying visitors by the `vc_id` cookie, with the
    /// default pace limit.
    pub fn new(counter: Counter) -> Rules {
        Rules {
            shared: Arc::new(Shared {
                counter,
                identity: Identity::Cookie { secure: false },
                proxy_header: None,
                bots: Detector::default(),
                pace: DEFAULT_PACE_LIMIT,
                beacon: None,
            }),
        }
    }

    fn with(self, f: impl FnOnce(&mut Shared)) -> Rules {
        let mut shared = Arc::unwrap_or_clone(self.shared);
        f(&mut shared);
        Rules {
            shared: Arc::new(shared),
        }
    }

    /// Marks the cookie `Secure` (sites served over HTTPS only). No effect on cookieless rules.
    #[must_use]
    pub fn secure_cookie(self, secure: bool) -> Rules {
        self.with(|s| {
            if let Identity::Cookie { secure: ref mut v } = s.identity {
                *v = secure;
            }
        })
    }

    /// Identifies visitors without cookies, by a daily-keyed hash of IP, User-Agent and `site`.
    #[must_use]
    pub fn cookieless(self, site: impl Into<String>) -> Rules {
        let site = site.into();
        self.with(|s| s.identity = Identity::Cookieless { site })
    }

    /// Takes the client IP from the first address in this header (such as `x-forwarded-for`)
    /// instead of the peer's address. Set it only behind a proxy that overwrites the header.
    #[must_use]
    pub fn trusted_proxy_header(self, name: &str) -> Rules {
        let name = name.to_ascii_lowercase();
        self.with(|s| s.proxy_header = Some(name))
    }

    /// Tells crawlers by this detector instead of the shipped list (see [`Detector`]).
    #[must_use]
    pub fn bots(self, detector: Detector) -> Rules {
        self.with(|s| s.bots = detector)
    }

    /// Counts at most `per_minute` page views of one visitor in a minute, excluding the rest as
    /// [`Exclusion::Pace`] (see "Pace" above). Default [`DEFAULT_PACE_LIMIT`]; 0 turns the
    /// limit off.
    #[must_use]
    pub fn pace_limit(self, per_minute: u32) -> Rules {
        self.with(|s| s.pace = per_minute)
    }

    /// Beacon mode, for pages served through a page cache: [`Rules::before`] counts no page
    /// ([`Outcome::Deferred`], no cookie), and the page's script ([`Beacon::script`]) sends a
    /// beacon that [`Rules::count_beacon`] counts instead. See [`Beacon`].
    #[must_use]
    pub fn beacon(self, beacon: Beacon) -> Rules {
        self.with(|s| s.beacon = Some(beacon))
    }

    /// The counter the rules count into.
    pub fn counter(&self) -> &Counter {
        &self.shared.counter
    }

    /// Whether `path` (a request's path, without its query) is the beacon's, in beacon mode:
    /// the adapter then answers the request itself, with [`Rules::count_beacon`].
    pub fn is_beacon(&self, path: &str) -> bool {
        self.shared
            .beacon
            .as_ref()
            .is_some_and(|b| b.path() == path)
    }

    /// Decides what can be decided before the app answers: the method, a bot, a prefetch
    /// (rules 1 to 3), and the visitor. `peer` is the socket's remote address, if known. In
    /// beacon mode: nothing ([`Outcome::Deferred`]).
    pub fn before<H: Headers + ?Sized>(
        &self,
        method: &str,
        headers: &H,
        peer: Option<IpAddr>,
    ) -> Verdict {
        if self.shared.beacon.is_some() {
            return Verdict {
                plan: Plan::Deferred,
            };
        }
        let plan = match self.identify(method == "GET" || method == "HEAD", headers, peer) {
            Ok((visitor, new_cookie)) => Plan::Count {
                visitor,
                new_cookie,
            },
            Err(why) => Plan::Excluded(why),
        };
        Verdict { plan }
    }

    /// Counts the request once the app has answered with `status` (rules 4 to 6).
    /// `is_page` is asked only for a 2xx status; `article` is the article the app marked the
    /// request or the response with, if any.
    pub fn after(
        &self,
        verdict: Verdict,
        status: u16,
        is_page: impl FnOnce() -> bool,
        article: Option<ArticleId>,
    ) -> Counted {
        let (visitor, new_cookie) = match verdict.plan {
            Plan::Excluded(why) => return self.excluded(why),
            Plan::Deferred => {
                return Counted {
                    outcome: Outcome::Deferred,
                    set_cookie: None,
                }
            }
            Plan::Count {
                visitor,
                new_cookie,
            } => (visitor, new_cookie),
        };
        if !(200..300).contains(&status) {
            return self.excluded(Exclusion::Status);
        }
        if !is_page() {
            return self.excluded(Exclusion::NotPage);
        }
        self.count(visitor, new_cookie, article)
    }

    /// Counts a beacon: a request to [`Rules::is_beacon`]'s path, which the adapter answers
    /// itself with `204 No Content`, `Cache-Control: no-store` and the returned `Set-Cookie`,
    /// whatever the outcome. `query` is the request's query string (`p=<page path>&a=<article
    /// id>`, as [`Beacon::script`] sends it).
    ///
    /// The rules, in this order: a method other than POST → [`Exclusion::Method`]; a bot and
    /// a prefetch or prerender as for pages; a beacon from another site's page
    /// (`Sec-Fetch-Site: cross-site`) or one that names no page (no `p`, or a malformed `a`) →
    /// [`Exclusion::NotPage`]; the pace; otherwise a view of the article it names (when the
    /// [`Beacon`]'s check takes the id) or a page view.
    pub fn count_beacon<H: Headers + ?Sized>(
        &self,
        method: &str,
        query: Option<&str>,
        headers: &H,
        peer: Option<IpAddr>,
    ) -> Counted {
        let (visitor, new_cookie) = match self.identify(method == "POST", headers, peer) {
            Ok(who) => who,
            Err(why) => return self.excluded(why),
        };
        let cross_site = headers
            .values(SEC_FETCH_SITE)
            .any(|v| v.eq_ignore_ascii_case(b"cross-site"));
        let Some(article) = beacon::page_of(query).filter(|_| !cross_site) else {
            return self.excluded(Exclusion::NotPage);
        };
        let beacon = self.shared.beacon.as_ref();
        let article = article.filter(|&a| beacon.is_none_or(|b| b.takes(a)));
        self.count(visitor, new_cookie, article)
    }

    /// Rules 1 to 3 (with the method already judged), then the visitor and the cookie its
    /// response should set.
    fn identify<H: Headers + ?Sized>(
        &self,
        method_ok: bool,
        headers: &H,
        peer: Option<IpAddr>,
    ) -> Result<(VisitorId, Option<CookieValue>), Exclusion> {
        let s = &*self.shared;
        if !method_ok {
            return Err(Exclusion::Method);
        }
        let ua = headers.values(USER_AGENT).next().unwrap_or(&[]);
        if s.bots.is_bot_bytes(ua) {
            return Err(Exclusion::Bot);
        }
        if PREFETCH
            .iter()
            .any(|name| headers.values(name).any(says_prefetch))
        {
            return Err(Exclusion::Prefetch);
        }
        let (visitor, new_cookie) = match &s.identity {
            Identity::Cookie { .. } => match cookie_value(headers) {
                Some(IdCookie {
                    random,
                    carry: None,
                }) => (VisitorId::from_key(random), None),
                Some(IdCookie {
                    random,
                    carry: Some((carried, date)),
                }) => {
                    if self.carries_on(carried, date) {
                        (carried, None)
                    } else {
                        let own = CookieValue::own(random);
                        (VisitorId::from_key(own.as_str()), Some(own))
                    }
                }
                None => {
                    let (id, date) = self.cookieless_id(headers, peer, ua, "");
                    (id, Some(CookieValue::carrying(id, date)))
                }
            },
            Identity::Cookieless { site } => (self.cookieless_id(headers, peer, ua, site).0, None),
        };
        Ok((visitor, new_cookie))
    }

    /// Rules 5 and 6: the pace, then the page view.
    fn count(
        &self,
        visitor: VisitorId,
        new_cookie: Option<CookieValue>,
        article: Option<ArticleId>,
    ) -> Counted {
        let s = &*self.shared;
        if !s.counter.record_paced(visitor, article, s.pace) {
            return self.excluded(Exclusion::Pace);
        }
        let outcome = article.map_or(Outcome::PageView, Outcome::ArticleView);
        Counted {
            outcome,
            set_cookie: new_cookie.map(|v| self.cookie_header(v.as_str())),
        }
    }

    fn excluded(&self, why: Exclusion) -> Counted {
        self.shared.counter.exclude(why);
        Counted {
            outcome: Outcome::Excluded(why),
            set_cookie: None,
        }
    }

    /// Whether a cookie that carries the cookieless id `carried` of `date` is still counted
    /// under it: on that local date, and after it while the visit goes on.
    fn carries_on(&self, carried: VisitorId, date: i32) -> bool {
        let counter = &self.shared.counter;
        counter.day_key().0.to_julian_day() == date || counter.in_visit(carried)
    }

    fn cookie_header(&self, value: &str) -> String {
        let secure = matches!(self.shared.identity, Identity::Cookie { secure: true });
        let mut cookie =
            String::with_capacity(COOKIE_NAME.len() + 1 + value.len() + COOKIE_ATTRS.len() + 8);
        cookie.push_str(COOKIE_NAME);
        cookie.push('=');
        cookie.push_str(value);
        cookie.push_str(COOKIE_ATTRS);
        if secure {
            cookie.push_str("; Secure");
        }
        cookie
    }

    fn client_ip<H: Headers + ?Sized>(&self, headers: &H) -> Option<IpAddr> {
        let name = self.shared.proxy_header.as_deref()?;
        let value = std::str::from_utf8(headers.values(name).next()?).ok()?;
        // Some proxies write `ip:port` or `[v6]:port`.
        let first = value.split(',').next()?.trim();
        first
            .parse::<IpAddr>()
            .ok()
            .or_else(|| first.parse::<SocketAddr>().ok().map(|s| s.ip()))
    }

    /// The day's cookieless id of the request's client IP and User-Agent on `site`, and the
    /// local date it is of.
    fn cookieless_id<H: Headers + ?Sized>(
        &self,
        headers: &H,
        peer: Option<IpAddr>,
        ua: &[u8],
        site: &str,
    ) -> (VisitorId, i32) {
        let ip = self.client_ip(headers).or(peer);
        // Bytes that are not UTF-8 (some browsers put raw device names in their User-Agent)
        // are replaced, not dropped.
        let ua = String::from_utf8_lossy(ua);
        let (date, [k0, k1]) = self.shared.counter.day_key();
        let mut hasher = siphasher::sip::SipHasher13::new_with_keys(k0, k1);
        (ip, &*ua, site).hash(&mut hasher);
        let id = VisitorId::from(hasher.finish());
        (id, date.to_julian_day())
    }
}

/// Whether the value contains `prefetch`, in any case; without allocating.
fn says_prefetch(v: &[u8]) -> bool {
    v.windows(8).any(|w| w.eq_ignore_ascii_case(b"prefetch"))
}

/// A `vc_id` value as read: the visitor's own random id (32 hex digits) and, on the cookie of
/// a visitor first counted without one, the cookieless id it was counted under and that id's
/// local date (as a Julian day number).
#[derive(Debug, PartialEq, Eq)]
struct IdCookie<'a> {
    random: &'a str,
    carry: Option<(VisitorId, i32)>,
}

/// Lengths of a `vc_id` value's parts: `<random>` or `<random>.<carried id>.<date>`.
const RANDOM_LEN: usize = 32;
const CARRIED_LEN: usize = 16;
const DATE_LEN: usize = 8;
const CARRYING_LEN: usize = RANDOM_LEN + 1 + CARRIED_LEN + 1 + DATE_LEN;

impl<'a> IdCookie<'a> {
    fn parse(value: &'a str) -> Option<IdCookie<'a>> {
        let hex = |s: &str, len| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
        let mut parts = value.split('.');
        let random = parts.next().filter(|r| hex(r, RANDOM_LEN))?;
        let carry = match (parts.next(), parts.next(), parts.next()) {
            (None, _, _) => None,
            (Some(id), Some(date), None) if hex(id, CARRIED_LEN) && hex(date, DATE_LEN) => {
                let id = u64::from_str_radix(id, 16).ok()?;
                let date = u32::from_str_radix(date, 16).ok()?;
                Some((VisitorId::from(id), date as i32))
            }
            _ => return None,
        };
        Some(IdCookie { random, carry })
    }
}

/// The first well-formed `vc_id` value in the `Cookie` headers.
fn cookie_value<H: Headers + ?Sized>(headers: &H) -> Option<IdCookie<'_>> {
    headers
        .values(COOKIE)
        .filter_map(|v| std::str::from_utf8(v).ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim_ascii().strip_prefix(COOKIE_NAME)?.strip_prefix('='))
        .find_map(IdCookie::parse)
}

/// A `vc_id` value to set, kept on the stack until the `Set-Cookie` header is written: 32 hex
/// digits, or those followed by a carried cookieless id and its date.
#[derive(Clone, Copy, Debug)]
struct CookieValue {
    bytes: [u8; CARRYING_LEN],
    len: usize,
}

impl CookieValue {
    /// A new visitor's value: a fresh random id, carrying the cookieless id `carried` of the
    /// local date `date` (a Julian day number).
    fn carrying(carried: VisitorId, date: i32) -> CookieValue {
        let mut bytes = [b'.'; CARRYING_LEN];
        let (random, rest) = bytes.split_at_mut(RANDOM_LEN);
        let (id, date_hex) = rest[1..].split_at_mut(CARRIED_LEN);
        hex_into(random, new_random_id());
        hex_into(id, u128::from(carried.as_u64()));
        hex_into(&mut date_hex[1..], u128::from(date as u32));
        CookieValue {
            bytes,
            len: CARRYING_LEN,
        }
    }

    /// The value of a visitor's own random id alone (its carried id is over).
    fn own(random: &str) -> CookieValue {
        let mut bytes = [0; CARRYING_LEN];
        bytes[..RANDOM_LEN].copy_from_slice(&random.as_bytes()[..RANDOM_LEN]);
        CookieValue {
            bytes,
            len: RANDOM_LEN,
        }
    }

    fn as_str(&self) -> &str {
        // ASCII hex digits and dots: always UTF-8.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

/// Writes the low `4 * out.len()` bits of `value` into `out` as lowercase hex digits.
fn hex_into(out: &mut [u8], value: u128) {
    let n = out.len();
    for (i, digit) in out.iter_mut().enumerate() {
        *digit = b"0123456789abcdef"[(value >> (4 * (n - 1 - i))) as usize & 0xf];
    }
}

/// A fresh 128-bit id: two outputs of SipHash-1-3 under this thread's secret random keys
/// (std's `RandomState`, seeded from the OS once per thread) over a per-thread sequence
/// number. Unpredictable without the keys, and no system call per visitor.
fn new_random_id() -> u128 {
    use std::cell::Cell;
    use std::collections::hash_map::RandomState;
    thread_local! {
        static KEYS: RandomState = RandomState::new();
        static SEQ: Cell<u64> = const { Cell::new(0) };
    }
    let n = SEQ.with(|s| {
        let n = s.get();
        s.set(n.wrapping_add(1));
        n
    });
    let (a, b) = KEYS.with(|k| (k.hash_one((n, 0u8)), k.hash_one((n, 1u8))));
    (u128::from(a) << 64) | u128::from(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_told_by_its_content_type() {
        assert!(is_html(Some(b"text/html")));
        assert!(is_html(Some(b" Text/HTML; charset=utf-8")));
        assert!(!is_html(Some(b"text/htm")));
        assert!(!is_html(Some(b"application/json")));
        assert!(!is_html(None));
    }

    #[test]
    fn the_cookie_is_the_first_well_formed_vc_id() {
        let good = "0123456789abcdef0123456789ABCDEF";
        let headers = [
            ("Cookie", "a=1; vc_id=short".to_string()),
            (
                "cookie",
                format!("other=2;  vc_id={good}; vc_id=ffffffffffffffffffffffffffffffff"),
            ),
        ];
        let plain = |random| IdCookie {
            random,
            carry: None,
        };
        assert_eq!(cookie_value(&headers[..]), Some(plain(good)));
        assert_eq!(cookie_value(&[("cookie", "vc_idx=1")][..]), None);
        let carrying = format!("vc_id={good}.00000000000000ff.00258ab4");
        assert_eq!(
            cookie_value(&[("cookie", carrying)][..]),
            Some(IdCookie {
                random: good,
                carry: Some((VisitorId::from(255), 0x0025_8ab4)),
            })
        );
        for bad in [
            format!("vc_id={good}."),
            format!("vc_id={good}.00000000000000ff"),
            format!("vc_id={good}.00000000000000ff.00258ab4."),
            format!("vc_id={good}.00000000000000fg.00258ab4"),
            format!("vc_id={good}.0000000000000ff.00258ab4"),
            format!("vc_id={good}.00000000000000ff.0258ab4"),
        ] {
            assert_eq!(cookie_value(&[("cookie", &bad)][..]), None, "{bad}");
        }
    }

    #[test]
    fn prefetch_is_found_in_any_case() {
        assert!(says_prefetch(b"PreFetch;prerender"));
        assert!(!says_prefetch(b"prefetc"));
    }

    #[test]
    fn new_cookie_values_carry_the_cookieless_id_and_read_back() {
        let (a, b) = (
            CookieValue::carrying(VisitorId::from(u64::MAX - 1), 2_460_384),
            CookieValue::carrying(VisitorId::from(7), 2_460_385),
        );
        let read = IdCookie::parse(a.as_str()).unwrap();
        assert_eq!(read.carry, Some((VisitorId::from(u64::MAX - 1), 2_460_384)));
        assert_eq!(
            IdCookie::parse(b.as_str()).unwrap().carry,
            Some((VisitorId::from(7), 2_460_385))
        );
        assert_ne!(read.random, IdCookie::parse(b.as_str()).unwrap().random);
        let own = CookieValue::own(read.random);
        assert_eq!(own.as_str(), read.random);
        assert_eq!(
            IdCookie::parse(own.as_str()),
            Some(IdCookie {
                random: read.random,
                carry: None
            })
        );
    }
}
