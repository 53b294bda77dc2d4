//! Middleware for actix-web 4: [`Count`], counting each request the [`Rules`] call a page
//! view, with the same options and behaviour as the tower layer.

use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use actix_web::body::EitherBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::{HeaderMap, HeaderValue, CACHE_CONTROL, CONTENT_TYPE, SET_COOKIE};
use actix_web::http::StatusCode;
use actix_web::{HttpMessage, HttpResponse};

use super::rules::{is_html, Rules, Verdict};
use crate::ArticleId;
#[cfg(doc)]
use crate::Exclusion;

/// Decides from a response's status and headers whether it is a page. Default: `text/html`.
pub type PagePredicate = Arc<dyn Fn(StatusCode, &HeaderMap) -> bool + Send + Sync>;

/// actix-web middleware that counts page views (feature `actix`).
///
/// ```
/// use actix_web::{web, App, HttpResponse};
/// use visitor_counter::{web::actix::Count, Counter};
///
/// let counter = Counter::builder().build()?;
/// let app = App::new()
///     .wrap(Count::new(counter.clone()))
///     .route("/", web::get().to(|| async {
///         HttpResponse::Ok().content_type("text/html").body("<h1>Trang chủ</h1>")
///     }));
/// # Ok::<(), visitor_counter::BuildError>(())
/// ```
///
/// Each request is counted by the [`Rules`] (the same as the tower layer's; their docs give the
/// exclusions, in order, and the visitor identity): the method, User-Agent and prefetch headers
/// before the app answers; the status and the page predicate (by default: `text/html`) after.
/// A handler's `Err` reaches `Count` as the error response actix-web renders for it, counted
/// by its status like any other; an `Err` from a middleware inside `Count` counts as
/// [`Exclusion::Status`] (actix-web answers it with an error response). (The tower layer
/// counts nothing for an inner service's `Err`, which axum apps never return.) actix-web does
/// not answer HEAD on `web::get()` routes: such a request gets a 404 and counts as
/// [`Exclusion::Status`], unless the app routes HEAD too.
///
/// In beacon mode ([`Count::beacon`]) the middleware answers the beacon's requests itself
/// (`204 No Content`, `Cache-Control: no-store`), and lets every other request through
/// uncounted. Its responses' body is therefore an `EitherBody` of the app's and its own.
///
/// A handler marks its page as an article view by putting the [`ArticleId`] in the request's
/// extensions (`req.extensions_mut().insert(id)`, with `req: HttpRequest`) or the response's.
/// The peer address for cookieless ids is the connection's (`ServiceRequest::peer_addr`), or
/// the first address of [`Count::trusted_proxy_header`].
#[derive(Clone)]
pub struct Count {
    rules: Rules,
    is_page: PagePredicate,
}

impl std::fmt::Debug for Count {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Count").finish_non_exhaustive()
    }
}

fn default_is_page(_: StatusCode, headers: &HeaderMap) -> bool {
    is_html(headers.get(CONTENT_TYPE).map(HeaderValue::as_bytes))
}

impl Count {
    super::rules::rule_options!(Count);

    /// Counts by these rules (built with [`Rules::new`] and its options).
    pub fn with_rules(rules: Rules) -> Count {
        Count {
            rules,
            is_page: Arc::new(default_is_page),
        }
    }

    /// Replaces the page predicate (called for 2xx responses only).
    #[must_use]
    pub fn page_predicate(
        self,
        f: impl Fn(StatusCode, &HeaderMap) -> bool + Send + Sync + 'static,
    ) -> Count {
        Count {
            rules: self.rules,
            is_page: Arc::new(f),
        }
    }
}

impl<S, B> Transform<S, ServiceRequest> for Count
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = CountMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<CountMiddleware<S>, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(CountMiddleware {
            service,
            count: Rc::new(self.clone()),
        }))
    }
}

/// The service [`Count`] wraps around an app.
pub struct CountMiddleware<S> {
    service: S,
    count: Rc<Count>,
}

impl<S> std::fmt::Debug for CountMiddleware<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountMiddleware").finish_non_exhaustive()
    }
}

impl<S, B> Service<ServiceRequest> for CountMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = CountFuture<S::Future, B>;

    actix_web::dev::forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let peer = req.peer_addr().map(|a| a.ip());
        let rules = &self.count.rules;
        if rules.is_beacon(req.path()) {
            let query = Some(req.query_string()).filter(|q| !q.is_empty());
            let counted = rules.count_beacon(req.method().as_str(), query, req.headers(), peer);
            let mut answer = HttpResponse::NoContent();
            answer.insert_header((CACHE_CONTROL, HeaderValue::from_static("no-store")));
            if let Some(cookie) = counted.set_cookie {
                answer.append_header((SET_COOKIE, cookie));
            }
            let res = req.into_response(answer.finish()).map_into_right_body();
            return CountFuture {
                kind: Kind::Beacon {
                    response: Some(res),
                },
            };
        }
        let verdict = rules.before(req.method().as_str(), req.headers(), peer);
        CountFuture {
            kind: Kind::App {
                inner: self.service.call(req),
                plan: Some((verdict, self.count.clone())),
            },
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`CountMiddleware`]: the app's response, counted when it arrives, or the
    /// middleware's own answer to a beacon. No allocation: it holds the app's future and what
    /// was decided before the app answered.
    pub struct CountFuture<F, B> {
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
            plan: Option<(Verdict, Rc<Count>)>,
        },
        Beacon {
            response: Option<ServiceResponse<EitherBody<B>>>,
        },
    }
}

impl<F, B> std::fmt::Debug for CountFuture<F, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountFuture").finish_non_exhaustive()
    }
}

impl<F, B> Future for CountFuture<F, B>
where
    F: Future<Output = Result<ServiceResponse<B>, actix_web::Error>>,
{
    type Output = Result<ServiceResponse<EitherBody<B>>, actix_web::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (inner, plan) = match self.project().kind.project() {
            KindProj::App { inner, plan } => (inner, plan),
            KindProj::Beacon { response } => {
                return match response.take() {
                    Some(res) => Poll::Ready(Ok(res)),
                    None => Poll::Pending,
                }
            }
        };
        let result = ready!(inner.poll(cx));
        let Some((verdict, count)) = plan.take() else {
            return Poll::Ready(result.map(ServiceResponse::map_into_left_body));
        };
        let mut res = match result {
            Ok(res) => res,
            Err(e) => {
                // actix renders the error as an error response.
                let _ = count.rules.after(verdict, 500, || false, None);
                return Poll::Ready(Err(e));
            }
        };
        let article = res
            .request()
            .extensions()
            .get::<ArticleId>()
            .copied()
            .or_else(|| res.response().extensions().get::<ArticleId>().copied());
        let status = res.status();
        let counted = count.rules.after(
            verdict,
            status.as_u16(),
            || (count.is_page)(status, res.headers()),
            article,
        );
        if let Some(cookie) = counted.set_cookie {
            if let Ok(value) = HeaderValue::try_from(cookie) {
                res.headers_mut().append(SET_COOKIE, value);
            }
        }
        Poll::Ready(Ok(res.map_into_left_body()))
    }
}
