//! The tower layer: [`CountLayer`] and its service, counting each request the layer's rules
//! call a page view (the rules and the visitor identity are documented on [`CountLayer`]).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use http::header::{CACHE_CONTROL, CONTENT_TYPE, SET_COOKIE};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};

use super::rules::{is_html, Rules, Verdict};
use crate::ArticleId;

/// Decides from a response's status and headers whether it is a page. Default: `text/html`.
pub type PagePredicate = Arc<dyn Fn(StatusCode, &HeaderMap) -> bool + Send + Sync>;

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
/// Each request is counted by the [`Rules`](super::Rules) (the same as every adapter's; their
/// docs give the exclusions, in order, and the visitor identity): the method, User-Agent and
/// prefetch headers before the app answers; the status and the page predicate (by default:
/// `text/html`) after. An [`ArticleId`] extension on the request or the response (axum
/// handlers can return `(Extension(id), Html(..))`) makes the page view an article view.
///
/// In beacon mode ([`CountLayer::beacon`]) the layer answers the beacon's requests itself
/// (`204 No Content`, `Cache-Control: no-store`, an empty body made with the response body's
/// `Default`), and lets every other request through uncounted.
///
/// For cookieless ids the peer address is `axum::extract::ConnectInfo<SocketAddr>`, present
/// when the app is served with `into_make_service_with_connect_info`; serve the app that way
/// (or set [`CountLayer::trusted_proxy_header`] behind a proxy), or every reader with the same
/// User-Agent is one visitor.
///
/// A site's own crawler list ([`CountLayer::bots`]):
///
/// ```
/// use visitor_counter::{bots::Detector, web::CountLayer, Counter};
///
/// let bots = Detector::builder().add_pattern("acmewatch/").build()?;
/// let layer = CountLayer::new(Counter::builder().build()?).bots(bots);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct CountLayer {
    rules: Rules,
    is_page: PagePredicate,
}

impl std::fmt::Debug for CountLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountLayer").finish_non_exhaustive()
    }
}

fn default_is_page(_: StatusCode, headers: &HeaderMap) -> bool {
    is_html(headers.get(CONTENT_TYPE).map(HeaderValue::as_bytes))
}

impl CountLayer {
    super::rules::rule_options!(CountLayer);

    /// Counts by these rules (built with [`Rules::new`] and its options).
    pub fn with_rules(rules: Rules) -> CountLayer {
        CountLayer {
            rules,
            is_page: Arc::new(default_is_page),
        }
    }

    /// Replaces the page predicate (called for 2xx responses only).
    #[must_use]
    pub fn page_predicate(
        self,
        f: impl Fn(StatusCode, &HeaderMap) -> bool + Send + Sync + 'static,
    ) -> CountLayer {
        CountLayer {
            rules: self.rules,
            is_page: Arc::new(f),
        }
    }
}

impl<S> tower::Layer<S> for CountLayer {
    type Service = CountService<S>;
    fn layer(&self, inner: S) -> CountService<S> {
        CountService {
            inner,
            layer: Arc::new(self.clone()),
        }
    }
}

/// The service [`CountLayer`] wraps around an app.
#[derive(Clone)]
pub struct CountService<S> {
    inner: S,
    layer: Arc<CountLayer>,
}

impl<S> std::fmt::Debug for CountService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountService").finish_non_exhaustive()
    }
}

/// What was decided before the app answered.
struct Plan {
    verdict: Verdict,
    /// The article the request was marked with.
    article: Option<ArticleId>,
    layer: Arc<CountLayer>,
}

/// Adds a `Set-Cookie` header of this value, if any.
fn set_cookie<B>(res: &mut Response<B>, cookie: Option<String>) {
    if let Some(cookie) = cookie {
        // Takes the string's buffer over: no copy.
        if let Ok(value) = HeaderValue::try_from(cookie) {
            res.headers_mut().append(SET_COOKIE, value);
        }
    }
}

impl Plan {
    fn finish<B>(self, res: &mut Response<B>) {
        let article = self
            .article
            .or_else(|| res.extensions().get::<ArticleId>().copied());
        let status = res.status();
        let is_page = &self.layer.is_page;
        let counted = self.layer.rules.after(
            self.verdict,
            status.as_u16(),
            || is_page(status, res.headers()),
            article,
        );
        set_cookie(res, counted.set_cookie);
    }
}

impl<S, ReqBody, ResBody> tower::Service<Request<ReqBody>> for CountService<S>
where
    S: tower::Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let peer = req
            .extensions()
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let rules = &self.layer.rules;
        if rules.is_beacon(req.uri().path()) {
            let method = req.method().as_str();
            let counted = rules.count_beacon(method, req.uri().query(), req.headers(), peer);
            let mut res = Response::new(ResBody::default());
            *res.status_mut() = StatusCode::NO_CONTENT;
            let no_store = HeaderValue::from_static("no-store");
            res.headers_mut().insert(CACHE_CONTROL, no_store);
            set_cookie(&mut res, counted.set_cookie);
            return ResponseFuture {
                kind: Kind::Beacon {
                    response: Some(res),
                },
            };
        }
        let verdict = rules.before(req.method().as_str(), req.headers(), peer);
        let plan = Plan {
            verdict,
            article: req.extensions().get::<ArticleId>().copied(),
            layer: self.layer.clone(),
        };
        ResponseFuture {
            kind: Kind::App {
                inner: self.inner.call(req),
                plan: Some(plan),
            },
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`CountService`]: the app's response, counted when it arrives, or the
    /// layer's own answer to a beacon. No allocation: it holds the app's future and what was
    /// decided before the app answered.
    pub struct ResponseFuture<F, B> {
        #[pin]
        kind: Kind<F, B>,
    }
}

pin_project_lite::pin_project! {
    #[project = KindProj]
    enum Kind<F, B> {
        App {
            #[pin]
            inner: F,
            plan: Option<Plan>,
        },
        Beacon {
            response: Option<Response<B>>,
        },
    }
}

impl<F, B> std::fmt::Debug for ResponseFuture<F, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::App { inner, plan } => {
                let mut res = ready!(inner.poll(cx))?;
                if let Some(plan) = plan.take() {
                    plan.finish(&mut res);
                }
                Poll::Ready(Ok(res))
            }
            KindProj::Beacon { response } => match response.take() {
                Some(res) => Poll::Ready(Ok(res)),
                None => Poll::Pending,
            },
        }
    }
}
