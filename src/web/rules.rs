//! Which requests are page views, and who made them: [`Rules`], the one place where the
//! exclusions and the visitor identity are decided. The tower layer and the actix-web
//! middleware are thin adapters over it, and any other framework can count with it in a few
//! lines (see [`Rules`]).

use std::hash::BuildHasher;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use crate::bots::Detector;
use crate::{ArticleId, Counter, Exclusion, VisitorId};

/// The cookie that carries a visitor's id.
pub const COOKIE_NAME: &str = "vc_id";

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

/// The headers the rules read: a header map type makes their names once (`KNOWN` below), not
/// once per request.
const KNOWN: [&str; 5] = ["user-agent", "cookie", "sec-purpose", "purpose", "x-moz"];

/// The index of `name` in [`KNOWN`].
#[cfg(any(feature = "http", feature = "actix"))]
fn known(name: &str) -> Option<usize> {
    KNOWN.iter().position(|k| *k == name)
}

/// The [`KNOWN`] names as a static array of this header name type.
#[cfg(any(feature = "http", feature = "actix"))]
macro_rules! known_names {
    ($name:ty) => {{
        static NAMES: [$name; 5] = [
            <$name>::from_static(KNOWN[0]),
            <$name>::from_static(KNOWN[1]),
            <$name>::from_static(KNOWN[2]),
            <$name>::from_static(KNOWN[3]),
            <$name>::from_static(KNOWN[4]),
        ];
        &NAMES
    }};
}

#[cfg(feature = "http")]
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
/// `cookieless`, `trusted_proxy_header`, `bots`), written once for every adapter: a struct
/// with a `rules: Rules` field, whose own constructor `with_rules` sets the rest.
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
    };
}
#[cfg(any(feature = "tower", feature = "actix"))]
pub(super) use rule_options;

#[derive(Clone)]
enum Identity {
    Cookie { secure: bool },
    Cookieless { site: String },
}

struct Shared {
    counter: Counter,
    identity: Identity,
    /// Lowercase.
    proxy_header: Option<String>,
    bots: Detector,
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
///    counted either: browsers do not request it again);
/// 4. after the app answered: a status outside 2xx → [`Exclusion::Status`]; a response that is
///    not a page (by the adapter's predicate; by default not `text/html`, see [`is_html`]) →
///    [`Exclusion::NotPage`];
/// 5. otherwise a page view: [`Counter::view_article`] when the app marked the request or the
///    response with an [`ArticleId`], else [`Counter::hit`].
///
/// Every exclusion is counted with [`Counter::exclude`].
///
/// # Visitor identity
/// - **Cookie** (default): a random 128-bit id (keyed SipHash output under per-thread random
///   keys) in the first-party cookie `vc_id` (HttpOnly, SameSite=Lax, Path=/, one year;
///   `Secure` with [`Rules::secure_cookie`]), set on the first counted response and read back
///   afterwards. The counter sees `VisitorId::from_key(<cookie value>)`.
/// - **Cookieless** ([`Rules::cookieless`]): the id is a keyed hash (SipHash-1-3) of the
///   client IP, the User-Agent and the site name, under a secret key drawn at random for each
///   local day and held by the counter, so that every `Rules` on clones of one counter agrees
///   (one per actix worker, say). The key is kept only in memory and replaced by the next
///   day's at the first request after midnight: ids change at local midnight (and at a
///   restart), no IP or User-Agent is stored anywhere, the snapshot included, and once a day
///   is over nothing can link its ids to the readers. Each process draws its own keys: with
///   several instances sharing a site (feature `redis`), a reader whose requests go to two
///   instances counts as two visitors there; use cookies, or route a client to one instance.
///   The client IP is the peer's address, or the first address of a proxy header named with
///   [`Rules::trusted_proxy_header`], which only a deployment behind such a proxy should set
///   (`ip`, `ip:port` and `[v6]:port` entries are understood). Without either, every reader
///   with the same User-Agent is one visitor.
///
/// # Cost and locks
/// [`Rules::before`] reads the headers without allocating (but for a copy of a User-Agent that
/// is not UTF-8, for a cookieless id); the bot check is a cached lookup ([`Detector`]), and
/// cookieless ids lock the counter's day-key mutex for one hash. [`Rules::after`] records like
/// `hit`, and allocates the `Set-Cookie` value of a new visitor (one `String`).
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
    Count {
        visitor: VisitorId,
        /// A new cookie value to set on the response.
        new_cookie: Option<CookieValue>,
    },
}

/// A new visitor's cookie value: 32 hex digits, kept on the stack until the `Set-Cookie`
/// header is written.
#[derive(Clone, Copy, Debug)]
struct CookieValue([u8; 32]);

impl CookieValue {
    fn as_str(&self) -> &str {
        // ASCII hex digits: always UTF-8.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
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
}

/// What [`Rules::after`] did, and the cookie the response must carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counted {
    /// How the request was counted.
    pub outcome: Outcome,
    /// A `Set-Cookie` header value to add to the response: a new visitor's id, set on its
    /// first counted response.
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
    /// Rules that count into `counter`, identifying visitors by the `vc_id` cookie.
    pub fn new(counter: Counter) -> Rules {
        Rules {
            shared: Arc::new(Shared {
                counter,
                identity: Identity::Cookie { secure: false },
                proxy_header: None,
                bots: Detector::default(),
            }),
        }
    }

    fn with(self, f: impl FnOnce(&mut Shared)) -> Rules {
        let mut shared = Arc::try_unwrap(self.shared).unwrap_or_else(|s| Shared {
            counter: s.counter.clone(),
            identity: s.identity.clone(),
            proxy_header: s.proxy_header.clone(),
            bots: s.bots.clone(),
        });
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

    /// The counter the rules count into.
    pub fn counter(&self) -> &Counter {
        &self.shared.counter
    }

    /// Decides what can be decided before the app answers: the method, a bot, a prefetch
    /// (rules 1 to 3), and the visitor. `peer` is the socket's remote address, if known.
    pub fn before<H: Headers + ?Sized>(
        &self,
        method: &str,
        headers: &H,
        peer: Option<IpAddr>,
    ) -> Verdict {
        let s = &*self.shared;
        let excluded = |why| Verdict {
            plan: Plan::Excluded(why),
        };
        if method != "GET" && method != "HEAD" {
            return excluded(Exclusion::Method);
        }
        let ua = headers.values(KNOWN[0]).next().unwrap_or(&[]);
        if s.bots.is_bot_bytes(ua) {
            return excluded(Exclusion::Bot);
        }
        if KNOWN[2..]
            .iter()
            .any(|name| headers.values(name).any(says_prefetch))
        {
            return excluded(Exclusion::Prefetch);
        }
        let (visitor, new_cookie) = match &s.identity {
            Identity::Cookie { .. } => match cookie_value(headers) {
                Some(v) => (VisitorId::from_key(v), None),
                None => {
                    let v = new_cookie_value();
                    (VisitorId::from_key(v.as_str()), Some(v))
                }
            },
            Identity::Cookieless { site } => {
                let ip = self.client_ip(headers).or(peer);
                // Bytes that are not UTF-8 (some browsers put raw device names in their
                // User-Agent) are replaced, not dropped.
                let ua = String::from_utf8_lossy(ua);
                (self.cookieless_id(ip, &ua, site), None)
            }
        };
        Verdict {
            plan: Plan::Count {
                visitor,
                new_cookie,
            },
        }
    }

    /// Counts the request once the app has answered with `status` (rules 4 and 5).
    /// `is_page` is asked only for a 2xx status; `article` is the article the app marked the
    /// request or the response with, if any.
    pub fn after(
        &self,
        verdict: Verdict,
        status: u16,
        is_page: impl FnOnce() -> bool,
        article: Option<ArticleId>,
    ) -> Counted {
        let counter = &self.shared.counter;
        let excluded = |why| {
            counter.exclude(why);
            Counted {
                outcome: Outcome::Excluded(why),
                set_cookie: None,
            }
        };
        let (visitor, new_cookie) = match verdict.plan {
            Plan::Excluded(why) => return excluded(why),
            Plan::Count {
                visitor,
                new_cookie,
            } => (visitor, new_cookie),
        };
        if !(200..300).contains(&status) {
            return excluded(Exclusion::Status);
        }
        if !is_page() {
            return excluded(Exclusion::NotPage);
        }
        let outcome = match article {
            Some(a) => {
                counter.view_article(a, visitor);
                Outcome::ArticleView(a)
            }
            None => {
                counter.hit(visitor);
                Outcome::PageView
            }
        };
        Counted {
            outcome,
            set_cookie: new_cookie.map(|v| self.cookie_header(v.as_str())),
        }
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

    fn cookieless_id(&self, ip: Option<IpAddr>, ua: &str, site: &str) -> VisitorId {
        VisitorId::from(self.shared.counter.keyed_for_today((ip, ua, site)))
    }
}

/// Whether the value contains `prefetch`, in any case; without allocating.
fn says_prefetch(v: &[u8]) -> bool {
    v.windows(8).any(|w| w.eq_ignore_ascii_case(b"prefetch"))
}

/// The first well-formed `vc_id` value (32 hex digits) in the `Cookie` headers.
fn cookie_value<H: Headers + ?Sized>(headers: &H) -> Option<&str> {
    headers
        .values(KNOWN[1])
        .filter_map(|v| std::str::from_utf8(v).ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim_ascii().strip_prefix(COOKIE_NAME)?.strip_prefix('='))
        .find(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A fresh 128-bit cookie value as 32 hex digits: two outputs of SipHash-1-3 under this
/// thread's secret random keys (std's `RandomState`, seeded from the OS once per thread) over a
/// per-thread sequence number. Unpredictable without the keys, and no system call per visitor.
fn new_cookie_value() -> CookieValue {
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
    let value = (u128::from(a) << 64) | u128::from(b);
    let mut hex = [0u8; 32];
    for (i, digit) in hex.iter_mut().enumerate() {
        *digit = b"0123456789abcdef"[(value >> (124 - 4 * i)) as usize & 0xf];
    }
    CookieValue(hex)
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
        assert_eq!(cookie_value(&headers[..]), Some(good));
        assert_eq!(cookie_value(&[("cookie", "vc_idx=1")][..]), None);
    }

    #[test]
    fn prefetch_is_found_in_any_case() {
        assert!(says_prefetch(b"PreFetch;prerender"));
        assert!(!says_prefetch(b"prefetc"));
    }

    #[test]
    fn new_cookie_values_are_32_hex_digits_and_differ() {
        let (a, b) = (new_cookie_value(), new_cookie_value());
        let (a, b) = (a.as_str(), b.as_str());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
