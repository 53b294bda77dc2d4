//! The tower layer: [`CountLayer`] and its service, counting each request the layer's rules
//! call a page view (the rules and the visitor identity are documented on [`CountLayer`]).

use std::future::Future;
use std::hash::BuildHasher;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use http::header::{HeaderName, CONTENT_TYPE, COOKIE, SET_COOKIE, USER_AGENT};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use parking_lot::Mutex;
use time::Date;

use crate::bots::Detector;
use crate::{ArticleId, Counter, Exclusion, VisitorId};

/// The cookie that carries a visitor's id.
pub const COOKIE_NAME: &str = "vc_id";

/// Decides from a response's status and headers whether it is a page. Default: `text/html`.
pub type PagePredicate = Arc<dyn Fn(StatusCode, &HeaderMap) -> bool + Send + Sync>;

#[derive(Clone)]
enum Identity {
    Cookie { secure: bool },
    Cookieless { site: String },
}

/// The per-day secret key of cookieless ids.
struct DailyKey {
    day: Option<Date>,
    key: std::collections::hash_map::RandomState,
}

struct Shared {
    counter: Counter,
    identity: Identity,
    proxy_header: Option<http::HeaderName>,
    is_page: PagePredicate,
    bots: Detector,
    daily: Mutex<DailyKey>,
}

/// A tower [`Layer`](tower::Layer) that counts page views.
///
/// Counting page views in a tower (and axum 0.8) app with one layer.
///
/// ```
/// use axum::{routing::get, Router};
/// use visitor_counter::{web::CountLayer, Counter};
///
/// let counter = Counter::builder().build()?;
/// let app: Router = Router::new()
///     .route("/", get(|| async { axum::response::Html("<h1>Trang chủ</h1>") }))
///     .layer(CountLayer::new(counter.clone()));
/// # Ok::<(), visitor_counter::BuildError>(())
/// ```
///
/// For each request the layer decides, in this order:
/// 1. a method other than GET or HEAD → not counted ([`Exclusion::Method`]);
/// 2. a crawler by User-Agent (the shipped list, [`is_bot`](crate::bots::is_bot), or the
///    [`Detector`](crate::bots::Detector) given to [`CountLayer::bots`]) → [`Exclusion::Bot`];
/// 3. a prefetch or prerender (`Sec-Purpose`, `Purpose` or `X-Moz` header containing
///    `prefetch`) → [`Exclusion::Prefetch`] (a prerendered page the reader then opens is not
///    counted either: browsers do not request it again);
/// 4. after the app answered: a status outside 2xx → [`Exclusion::Status`]; a response the page
///    predicate rejects (by default: not `text/html`) → [`Exclusion::NotPage`];
/// 5. otherwise a page view: [`Counter::view_article`] when the request or the response carries
///    an [`ArticleId`] extension (axum handlers can return `(Extension(id), Html(..))`), else
///    [`Counter::hit`].
///
/// # Visitor identity
/// - **Cookie** (default): a random 128-bit id (keyed SipHash output under per-thread random
///   keys) in the first-party cookie `vc_id` (HttpOnly,
///   SameSite=Lax, Path=/, one year; `Secure` with [`CountLayer::secure_cookie`]), set on the
///   first counted response and read back afterwards. The counter sees
///   `VisitorId::from_key(<cookie value>)`.
/// - **Cookieless** ([`CountLayer::cookieless`]): the id is a keyed hash (SipHash-1-3) of the
///   client IP, the User-Agent and the site name, under a secret key drawn at random for each
///   local day and kept only in memory: ids change at local midnight, and no IP or User-Agent
///   is stored anywhere, the snapshot included. The client IP is the socket's
///   (`axum::extract::ConnectInfo<SocketAddr>`, present when the app is served with
///   `into_make_service_with_connect_info`), or the first address of a proxy header named with
///   [`CountLayer::trusted_proxy_header`], which only a deployment behind such a proxy should set
///   (`ip`, `ip:port` and `[v6]:port` entries are understood). Without either, every reader with
///   the same User-Agent would be one visitor: serve the app with connect info.
#[derive(Clone)]
pub struct CountLayer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for CountLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountLayer").finish_non_exhaustive()
    }
}

fn default_is_page(status: StatusCode, headers: &HeaderMap) -> bool {
    let _ = status;
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim_start().get(..9))
        .is_some_and(|v| v.eq_ignore_ascii_case("text/html"))
}

impl CountLayer {
    /// Counts into `counter`, identifying visitors by the `vc_id` cookie.
    pub fn new(counter: Counter) -> CountLayer {
        CountLayer {
            shared: Arc::new(Shared {
                counter,
                identity: Identity::Cookie { secure: false },
                proxy_header: None,
                is_page: Arc::new(default_is_page),
                bots: Detector::default(),
                daily: Mutex::new(DailyKey {
                    day: None,
                    key: Default::default(),
                }),
            }),
        }
    }

    fn with(self, f: impl FnOnce(&mut Shared)) -> CountLayer {
        let mut shared = Arc::try_unwrap(self.shared).unwrap_or_else(|s| Shared {
            counter: s.counter.clone(),
            identity: s.identity.clone(),
            proxy_header: s.proxy_header.clone(),
            is_page: s.is_page.clone(),
            bots: s.bots.clone(),
            daily: Mutex::new(DailyKey {
                day: None,
                key: Default::default(),
            }),
        });
        f(&mut shared);
        CountLayer {
            shared: Arc::new(shared),
        }
    }

    /// Marks the cookie `Secure` (sites served over HTTPS only).
    #[must_use]
    pub fn secure_cookie(self, secure: bool) -> CountLayer {
        self.with(|s| {
            if let Identity::Cookie { secure: ref mut v } = s.identity {
                *v = secure;
            }
        })
    }

    /// Identifies visitors without cookies, by a daily-keyed hash of IP, User-Agent and `site`.
    #[must_use]
    pub fn cookieless(self, site: impl Into<String>) -> CountLayer {
        let site = site.into();
        self.with(|s| s.identity = Identity::Cookieless { site })
    }

    /// Takes the client IP from the first address in this header (such as `x-forwarded-for`)
    /// instead of the socket. Set it only behind a proxy that overwrites the header.
    ///
    /// # Panics
    /// Never: an invalid header name is ignored and the socket address is used.
    #[must_use]
    pub fn trusted_proxy_header(self, name: &str) -> CountLayer {
        let name = http::HeaderName::from_bytes(name.as_bytes()).ok();
        self.with(|s| s.proxy_header = name)
    }

    /// Tells crawlers by this detector instead of the shipped list: one with a site's own
    /// monitor added, or a partner's crawler allowed (see [`Detector`]).
    ///
    /// ```
    /// use visitor_counter::{bots::Detector, web::CountLayer, Counter};
    ///
    /// let bots = Detector::builder().add_pattern("acmewatch/").build()?;
    /// let layer = CountLayer::new(Counter::builder().build()?).bots(bots);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn bots(self, detector: Detector) -> CountLayer {
        self.with(|s| s.bots = detector)
    }

    /// Replaces the page predicate (called for 2xx responses only).
    #[must_use]
    pub fn page_predicate(
        self,
        f: impl Fn(StatusCode, &HeaderMap) -> bool + Send + Sync + 'static,
    ) -> CountLayer {
        let f: PagePredicate = Arc::new(f);
        self.with(|s| s.is_page = f)
    }
}

impl<S> tower::Layer<S> for CountLayer {
    type Service = CountService<S>;
    fn layer(&self, inner: S) -> CountService<S> {
        CountService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service [`CountLayer`] wraps around an app.
#[derive(Clone)]
pub struct CountService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> std::fmt::Debug for CountService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountService").finish_non_exhaustive()
    }
}

/// What was decided before the app answered.
enum Plan {
    Excluded(Exclusion),
    Count {
        visitor: VisitorId,
        /// A new cookie value to set on the response.
        new_cookie: Option<String>,
        article: Option<ArticleId>,
    },
}

/// Headers that announce a prefetch or prerender (names made once, not parsed per request).
static PURPOSE_HEADERS: [HeaderName; 3] = [
    HeaderName::from_static("sec-purpose"),
    HeaderName::from_static("purpose"),
    HeaderName::from_static("x-moz"),
];

/// Whether the (visible ASCII) value contains `prefetch`, in any case; without allocating.
fn says_prefetch(v: &HeaderValue) -> bool {
    v.to_str().is_ok_and(|v| {
        v.as_bytes()
            .windows(8)
            .any(|w| w.eq_ignore_ascii_case(b"prefetch"))
    })
}

fn cookie_value(h: &HeaderMap) -> Option<&str> {
    h.get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        // `to_str` let through visible ASCII and tabs only: ASCII trimming is the full trim.
        .filter_map(|c| c.trim_ascii().strip_prefix(COOKIE_NAME)?.strip_prefix('='))
        .find(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A fresh 128-bit cookie value as 32 hex digits: two outputs of SipHash-1-3 under this
/// thread's secret random keys (std's `RandomState`, seeded from the OS once per thread) over a
/// per-thread sequence number. Unpredictable without the keys, and no system call per visitor.
fn new_cookie_value() -> String {
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
    // ASCII digits: always valid UTF-8, so this borrows and then copies once.
    String::from_utf8_lossy(&hex).into_owned()
}

impl Shared {
    fn plan<B>(&self, req: &Request<B>) -> Plan {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return Plan::Excluded(Exclusion::Method);
        }
        let h = req.headers();
        let ua = h.get(USER_AGENT).map_or(&[][..], |v| v.as_bytes());
        if self.bots.is_bot_bytes(ua) {
            return Plan::Excluded(Exclusion::Bot);
        }
        if PURPOSE_HEADERS
            .iter()
            .any(|name| h.get(name).is_some_and(says_prefetch))
        {
            return Plan::Excluded(Exclusion::Prefetch);
        }
        let article = req.extensions().get::<ArticleId>().copied();
        let (visitor, new_cookie) = match &self.identity {
            Identity::Cookie { .. } => match cookie_value(h) {
                Some(v) => (VisitorId::from_key(v), None),
                None => {
                    let v = new_cookie_value();
                    (VisitorId::from_key(&v), Some(v))
                }
            },
            Identity::Cookieless { site } => {
                let ip = self.client_ip(req);
                // Bytes that are not UTF-8 (some browsers put raw device names in their
                // User-Agent) are replaced, not dropped.
                let ua = String::from_utf8_lossy(ua);
                (self.cookieless_id(ip, &ua, site), None)
            }
        };
        Plan::Count {
            visitor,
            new_cookie,
            article,
        }
    }

    fn client_ip<B>(&self, req: &Request<B>) -> Option<IpAddr> {
        if let Some(name) = &self.proxy_header {
            let first = req
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .and_then(|v| {
                    // Some proxies write `ip:port` or `[v6]:port`.
                    let v = v.trim();
                    v.parse::<IpAddr>()
                        .ok()
                        .or_else(|| v.parse::<SocketAddr>().ok().map(|s| s.ip()))
                });
            if first.is_some() {
                return first;
            }
        }
        req.extensions()
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
    }

    fn cookieless_id(&self, ip: Option<IpAddr>, ua: &str, site: &str) -> VisitorId {
        let today = self.counter.today();
        let mut daily = self.daily.lock();
        if daily.day != Some(today) {
            *daily = DailyKey {
                day: Some(today),
                key: Default::default(),
            };
        }
        VisitorId::from(daily.key.hash_one((ip, ua, site)))
    }

    fn finish<B>(&self, plan: Plan, res: &mut Response<B>) {
        let (visitor, new_cookie, article) = match plan {
            Plan::Excluded(why) => return self.counter.exclude(why),
            Plan::Count {
                visitor,
                new_cookie,
                article,
            } => (visitor, new_cookie, article),
        };
        if !res.status().is_success() {
            return self.counter.exclude(Exclusion::Status);
        }
        if !(self.is_page)(res.status(), res.headers()) {
            return self.counter.exclude(Exclusion::NotPage);
        }
        match article.or_else(|| res.extensions().get::<ArticleId>().copied()) {
            Some(a) => self.counter.view_article(a, visitor),
            None => self.counter.hit(visitor),
        }
        if let Some(v) = new_cookie {
            let secure = matches!(self.identity, Identity::Cookie { secure: true });
            const ATTRS: &str = "; Max-Age=31536000; Path=/; HttpOnly; SameSite=Lax";
            let mut cookie =
                String::with_capacity(COOKIE_NAME.len() + 1 + v.len() + ATTRS.len() + 8);
            cookie.push_str(COOKIE_NAME);
            cookie.push('=');
            cookie.push_str(&v);
            cookie.push_str(ATTRS);
            if secure {
                cookie.push_str("; Secure");
            }
            // Takes the string's buffer over: no copy.
            if let Ok(value) = HeaderValue::try_from(cookie) {
                res.headers_mut().append(SET_COOKIE, value);
            }
        }
    }
}

impl<S, ReqBody, ResBody> tower::Service<Request<ReqBody>> for CountService<S>
where
    S: tower::Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let plan = self.shared.plan(&req);
        let shared = self.shared.clone();
        ResponseFuture {
            inner: self.inner.call(req),
            plan: Some((plan, shared)),
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`CountService`]: the app's response, counted when it arrives. No
    /// allocation: it holds the app's future and what was decided before the app answered.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        plan: Option<(Plan, Arc<Shared>)>,
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut res = ready!(this.inner.poll(cx))?;
        if let Some((plan, shared)) = this.plan.take() {
            shared.finish(plan, &mut res);
        }
        Poll::Ready(Ok(res))
    }
}
