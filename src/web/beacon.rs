//! Beacon mode: pages a cache may store, counted by a request their script sends
//! ([`Beacon`], given to [`Rules::beacon`](super::Rules::beacon)).

use std::fmt;
use std::sync::Arc;

use crate::ArticleId;

/// Where the page's script sends its beacon, and which article ids it may name: the
/// configuration of beacon mode ([`Rules::beacon`](super::Rules::beacon), and the same option
/// on the adapters).
///
/// In beacon mode a page response is not counted and sets no cookie, so a page cache (Varnish,
/// nginx `proxy_cache`, a CDN) may store it. The page carries [`Beacon::script`], which sends
/// one `POST` to the beacon path once the page is shown; the adapter answers that request
/// itself (`204 No Content`, `Cache-Control: no-store`, and the visitor cookie when one is
/// due) and counts it by the same rules as a page: bots by User-Agent, prefetch and
/// prerender (the script of a prerendered page waits until the page is shown), the visitor's
/// identity and the pace limit. Clients that run no scripts count nothing.
///
/// Anyone can send a beacon without loading the page, as with every analytics script. A forged
/// beacon counts like the page load it claims to be: without a cookie it is the day's cookieless
/// visitor of its address and User-Agent, and the pace limit holds each visitor to its page
/// views a minute, so one client cannot add more than that; a client that changes its
/// User-Agent or address for every request makes a new visitor each time, as it would by
/// loading the pages. A beacon from another site's page (`Sec-Fetch-Site: cross-site`) is not
/// counted. Give [`Beacon::articles`] a check of the ids, so that a forged id adds no article.
///
/// ```
/// use std::sync::Arc;
/// use visitor_counter::articles::Catalog;
/// use visitor_counter::web::{Beacon, CountLayer};
/// use visitor_counter::{ArticleId, Counter};
///
/// let catalog = Arc::new(Catalog::new());
/// let known = Arc::clone(&catalog);
/// let beacon = Beacon::at("/_vc/beacon")?.articles(move |id| known.get(id).is_some());
/// let layer = CountLayer::new(Counter::builder().build()?).beacon(beacon.clone());
///
/// // In the article page's template, anywhere in the body:
/// let tag = beacon.script(Some(ArticleId::from(7)));
/// assert!(tag.starts_with("<script>") && tag.contains("/_vc/beacon?p="));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Beacon {
    path: Arc<str>,
    articles: Option<Arc<dyn Fn(ArticleId) -> bool + Send + Sync>>,
}

impl fmt::Debug for Beacon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Beacon")
            .field("path", &self.path)
            .field("articles", &self.articles.as_ref().map(|_| "checked"))
            .finish()
    }
}

impl Default for Beacon {
    /// The beacon at [`Beacon::DEFAULT_PATH`], taking every article id.
    fn default() -> Beacon {
        Beacon {
            path: Beacon::DEFAULT_PATH.into(),
            articles: None,
        }
    }
}

/// The longest page path a beacon may name, in bytes (as sent, percent-encoded).
const MAX_PAGE_PATH: usize = 2048;

impl Beacon {
    /// The default beacon path.
    pub const DEFAULT_PATH: &'static str = "/_vc/beacon";

    /// A beacon at `path`: an absolute path of letters, digits, `-`, `.`, `_`, `~` and `/`, at
    /// most 256 bytes, not starting with `//` (so the script can use it as it is).
    ///
    /// # Errors
    /// [`BeaconPathError`] for any other path.
    pub fn at(path: &str) -> Result<Beacon, BeaconPathError> {
        let fits = path.len() <= 256
            && path.starts_with('/')
            && !path.starts_with("//")
            && path
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~/".contains(&b));
        if !fits {
            return Err(BeaconPathError {
                path: path.to_owned(),
            });
        }
        Ok(Beacon {
            path: path.into(),
            ..Beacon::default()
        })
    }

    /// Counts a beacon's article id as an article view only when `known` says the id is an
    /// article (a catalog lookup, say); a beacon naming any other id counts as a page view
    /// without an article. Without it every id is taken.
    #[must_use]
    pub fn articles(self, known: impl Fn(ArticleId) -> bool + Send + Sync + 'static) -> Beacon {
        Beacon {
            articles: Some(Arc::new(known)),
            ..self
        }
    }

    /// The beacon's path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The `<script>` element a page carries in beacon mode (about 400 bytes, no
    /// dependencies): `article` is the article the page shows, if any. Put it anywhere in the
    /// page's HTML as it is (it needs no escaping: with maud, `(PreEscaped(beacon.script(id)))`;
    /// with askama or tera, `{{ script|safe }}`).
    ///
    /// Once the page is shown (a prerendered page waits for the reader to open it) it sends
    /// `POST <path>?p=<the page's path>&a=<article>` with `fetch(.., {keepalive: true})`, or
    /// `navigator.sendBeacon` where there is no `fetch`, and when the answer arrives it
    /// dispatches a `vc:counted` event on `document`: a statistics box that listens for it can
    /// show numbers that include this page view. Pages restored from the back-forward cache run
    /// no script again, and count no second view (as a server that does not see them).
    pub fn script(&self, article: Option<ArticleId>) -> String {
        let article = article.map(|a| format!("+\"&a={a}\"")).unwrap_or_default();
        format!(
            "<script>(function(d){{var u=\"{path}?p=\"+encodeURIComponent(location.pathname)\
             {article};function s(){{if(window.fetch)fetch(u,{{method:\"POST\",keepalive:true,\
             credentials:\"same-origin\"}}).then(function(){{d.dispatchEvent(new Event(\
             \"vc:counted\"))}},function(){{}});else if(navigator.sendBeacon)\
             navigator.sendBeacon(u)}}if(d.prerendering)d.addEventListener(\
             \"prerenderingchange\",s,{{once:true}});else s()}})(document)</script>",
            path = self.path,
        )
    }

    /// Whether `article` counts as an article view.
    pub(super) fn takes(&self, article: ArticleId) -> bool {
        self.articles.as_ref().is_none_or(|known| known(article))
    }
}

/// What a beacon's query string says: the page's path and, for an article, its id. `None` when
/// it names no page (no `p`, a `p` that is no absolute path, or an `a` that is no id).
pub(super) fn page_of(query: Option<&str>) -> Option<Option<ArticleId>> {
    let (mut page, mut article) = (false, None);
    for pair in query.unwrap_or("").split('&') {
        match pair.split_once('=') {
            Some(("p", path)) => {
                let absolute = path.starts_with('/')
                    || path.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("%2f"));
                page = absolute && path.len() <= MAX_PAGE_PATH;
            }
            Some(("a", id)) => {
                let digits = !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit());
                article = Some(digits.then(|| id.parse::<u64>().ok()).flatten()?);
            }
            _ => {}
        }
    }
    page.then_some(article.map(ArticleId::from))
}

/// A beacon path [`Beacon::at`] does not take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BeaconPathError {
    path: String,
}

impl fmt::Display for BeaconPathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "beacon path {:?}: give an absolute path such as \"/_vc/beacon\" (at most 256 bytes \
             of letters, digits, '-', '.', '_', '~' and '/', not starting with \"//\")",
            self.path
        )
    }
}

impl std::error::Error for BeaconPathError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_checked() {
        for good in ["/_vc/beacon", "/b", "/a-b.c~d/e_f/"] {
            assert_eq!(Beacon::at(good).unwrap().path(), good);
        }
        for bad in [
            "",
            "_vc",
            "//evil.example/b",
            "/a b",
            "/a?b",
            "/a\"b",
            "/<script>",
            &format!("/{}", "a".repeat(256)),
        ] {
            let err = Beacon::at(bad).unwrap_err();
            assert!(err.to_string().contains("beacon path"), "{err}");
        }
    }

    #[test]
    fn the_query_names_the_page_and_the_article() {
        let a = |n| Some(Some(ArticleId::from(n)));
        assert_eq!(page_of(Some("p=%2Farticles%2F7&a=7")), a(7));
        assert_eq!(page_of(Some("a=7&p=/articles/7")), a(7));
        assert_eq!(page_of(Some("p=%2f")), Some(None));
        assert_eq!(page_of(Some("p=%2F&x=1&a")), Some(None));
        for bad in [
            None,
            Some(""),
            Some("a=7"),
            Some("p=articles"),
            Some("p=%2F&a=x"),
            Some("p=%2F&a="),
            Some("p=%2F&a=-1"),
            Some("p=%2F&a=99999999999999999999"),
        ] {
            assert_eq!(page_of(bad), None, "{bad:?}");
        }
        let long = format!("p=/{}", "a".repeat(MAX_PAGE_PATH));
        assert_eq!(page_of(Some(&long)), None);
    }

    #[test]
    fn the_script_names_the_path_and_the_article() {
        let b = Beacon::at("/stats/b").unwrap();
        let page = b.script(None);
        let article = b.script(Some(ArticleId::from(42)));
        assert!(page.starts_with("<script>(function(d){var u=\"/stats/b?p=\""));
        assert!(page.ends_with("})(document)</script>"));
        assert!(!page.contains("&a="));
        assert!(article.contains("+\"&a=42\";function s()"));
        assert!(article.len() < 450, "{}", article.len());
    }

    #[test]
    fn article_ids_are_checked_when_asked() {
        let all = Beacon::default();
        let odd = Beacon::default().articles(|a| a.as_u64() % 2 == 1);
        assert!(all.takes(ArticleId::from(2)));
        assert!(odd.takes(ArticleId::from(3)));
        assert!(!odd.takes(ArticleId::from(2)));
    }
}
