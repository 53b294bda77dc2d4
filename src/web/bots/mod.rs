//! Crawler detection by User-Agent.
//!
//! The patterns are the list of the `isbot` package (npm, Unlicense: 206 regular expressions
//! for search crawlers, AI crawlers, link previewers, feed readers, monitors, SEO and security
//! scanners, HTTP libraries, headless browsers and automation), carried in the crate as data
//! (`src/web/bots/patterns.txt`, whose header names the version) and compiled once into one
//! automaton (the `regex` crate: linear time, no scan per pattern). The few patterns that use
//! look-around, which that automaton does not support, are matched by their core and checked
//! exactly where it matches. Verdicts are then cached per User-Agent, so a page view from a
//! User-Agent seen before costs a hash, not a regex pass. An empty or blank User-Agent counts
//! as a bot: browsers always send one.
//!
//! Headless browsers and automation count as bots: `HeadlessChrome` (Puppeteer and Playwright
//! with their default User-Agent), PhantomJS, Selenium, Playwright, Chrome-Lighthouse. A site
//! that wants a monitor or a partner's crawler counted, or one more agent dropped, builds a
//! [`Detector`] and hands it to the tower layer (`CountLayer::bots`).
//!
//! How well the list does is measured in `tests/bots_corpus.rs`: on the 2,118 crawler
//! User-Agents of npm `crawler-user-agents` 1.60.0 and the 952 browser User-Agents of npm
//! `user-agents` 2.1.198 (the recall and false positives are in `BENCHMARKS.md`). To take a
//! newer list, run `scripts/update-bot-patterns.sh` (it needs Node.js and npm) and that test.
//!
//! ```
//! use visitor_counter::bots::{is_bot, matched};
//! assert!(is_bot("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"));
//! assert!(is_bot("curl/8.5.0"));
//! assert!(is_bot(""));
//! assert!(!is_bot("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"));
//! // Why an agent was dropped: the pattern of the list that matched it.
//! let pattern = matched("Mozilla/5.0 (compatible; Uptimia/1.0)").unwrap();
//! assert!(pattern.starts_with("^mozilla/"));
//! ```

mod cache;
mod patterns;

use std::fmt;
use std::sync::{Arc, LazyLock};

use regex::bytes::Regex;

use self::cache::VerdictCache;
use self::patterns::Compiled;

/// What [`matched`] and [`Detector::matched`] name for an empty or blank User-Agent.
pub const EMPTY_USER_AGENT: &str = "(empty User-Agent)";

/// Whether a User-Agent is a crawler, a preview fetcher, a monitor, a bare HTTP library or an
/// automated browser, by the shipped list. The list is compiled on the first call (a few
/// milliseconds) and shared afterwards.
///
/// # Cost
/// Verdicts are cached by User-Agent (see [`Detector::is_bot_bytes`]): a User-Agent seen before
/// costs a hash of its bytes and one atomic load; the automaton runs only on a miss.
pub fn is_bot(user_agent: &str) -> bool {
    SHIPPED.is_bot(user_agent)
}

/// [`is_bot`] for a User-Agent as raw header bytes (see [`Detector::is_bot_bytes`]).
pub fn is_bot_bytes(user_agent: &[u8]) -> bool {
    SHIPPED.is_bot_bytes(user_agent)
}

/// The pattern of the shipped list that makes `user_agent` a bot (the first in the list's
/// order, when several do), [`EMPTY_USER_AGENT`] for an empty or blank one, `None` for one
/// that is not a bot. Not cached: for an owner asking why an agent was dropped.
pub fn matched(user_agent: &str) -> Option<&'static str> {
    SHIPPED.matched(user_agent)
}

static SHIPPED: LazyLock<Detector> = LazyLock::new(|| {
    // The shipped list compiles: `tests::the_shipped_list_compiles_whole` proves it for every
    // build.
    Detector::builder()
        .build()
        .unwrap_or_else(|e| unreachable!("the shipped bot patterns: {e}"))
});

/// A crawler detector: the shipped list with patterns added or removed, and agents allowed
/// whatever the list says. Cheap to clone (clones share the compiled list and the cache).
///
/// ```
/// use visitor_counter::bots::Detector;
///
/// let bots = Detector::builder()
///     // Our own uptime monitor drives a real browser; the list does not know it.
///     .add_pattern("acmewatch/")
///     // A partner's crawler we count as a reader.
///     .allow_pattern("partner-reader/")
///     .build()?;
/// let monitor = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
///                Chrome/126.0 Safari/537.36 AcmeWatch/2";
/// assert!(bots.is_bot(monitor));
/// assert_eq!(bots.matched(monitor), Some("acmewatch/"));
/// assert!(!bots.is_bot("Mozilla/5.0 (compatible; partner-reader/1.0; +https://partner.vn/bot)"));
/// # Ok::<(), visitor_counter::bots::PatternError>(())
/// ```
#[derive(Clone)]
pub struct Detector {
    inner: Arc<Inner>,
}

struct Inner {
    list: Compiled,
    /// Agents that are never bots (an alternation of the allowed patterns).
    allow: Option<Regex>,
    allowed: Vec<Box<str>>,
    cache: VerdictCache,
}

impl Default for Detector {
    /// The shipped list (shares [`is_bot`]'s compiled list and cache).
    fn default() -> Detector {
        SHIPPED.clone()
    }
}

impl fmt::Debug for Detector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Detector")
            .field("patterns", &self.inner.list.texts.len())
            .field("allowed", &self.inner.allowed)
            .finish_non_exhaustive()
    }
}

impl Detector {
    /// A builder starting from the shipped list.
    pub fn builder() -> DetectorBuilder {
        DetectorBuilder {
            patterns: patterns::lines(patterns::SHIPPED)
                .map(str::to_owned)
                .collect(),
            removed: Vec::new(),
            allow: Vec::new(),
        }
    }

    /// Whether `user_agent` is a bot: empty or blank, or matched by a pattern and not allowed.
    pub fn is_bot(&self, user_agent: &str) -> bool {
        self.is_bot_bytes(user_agent.as_bytes())
    }

    /// [`is_bot`](Self::is_bot) for a User-Agent as raw header bytes. Bytes that are not UTF-8
    /// (some browsers put raw device names in their User-Agent) are replaced with U+FFFD before
    /// matching, as [`String::from_utf8_lossy`] does; a valid User-Agent gets exactly the
    /// verdict of [`is_bot`](Self::is_bot).
    ///
    /// # Cost and locking
    /// Never locks. Verdicts are kept in a four-way set-associative cache of 4096 slots per
    /// detector (1024 buckets of four `AtomicU64`, 32 KiB), each slot holding 62 bits of an XXH3
    /// hash of the User-Agent (seeded at random once per detector, so nobody can aim
    /// collisions) and the verdict. A check hashes the bytes and loads at most the four slots of
    /// its bucket (relaxed); a miss (a new User-Agent, or one evicted since) runs the automaton
    /// and stores the verdict in an empty slot of the bucket, else in one chosen in turn, with
    /// one relaxed store. Agents sharing a full bucket evict each other (a miss, never a wrong
    /// verdict); two whose tags (62 bits of the hash) are equal would share a verdict, a chance
    /// of about 2^-62 per pair.
    pub fn is_bot_bytes(&self, user_agent: &[u8]) -> bool {
        let inner = &*self.inner;
        inner.cache.get_or(user_agent, || {
            inner.is_bot(&String::from_utf8_lossy(user_agent))
        })
    }

    /// The pattern that makes `user_agent` a bot (the first in the list's order, when several
    /// do), [`EMPTY_USER_AGENT`] for an empty or blank one, `None` for one that is not a bot
    /// (no pattern matches, or an allowed pattern does). Not cached.
    pub fn matched(&self, user_agent: &str) -> Option<&str> {
        self.inner.decide(user_agent)
    }

    /// The patterns, in list order.
    pub fn patterns(&self) -> impl Iterator<Item = &str> {
        self.inner.list.texts.iter().map(|p| &**p)
    }
}

impl Inner {
    /// Whether `ua` is a bot, uncached: one pass of the automaton (and of the allowed
    /// patterns' when it matches).
    fn is_bot(&self, ua: &str) -> bool {
        ua.trim().is_empty() || (self.list.is_match(ua.as_bytes()) && !self.allowed(ua))
    }

    fn allowed(&self, ua: &str) -> bool {
        self.allow
            .as_ref()
            .is_some_and(|a| a.is_match(ua.as_bytes()))
    }

    /// The pattern that makes `ua` a bot (see [`Detector::matched`]).
    fn decide<'a>(&'a self, ua: &str) -> Option<&'a str> {
        if ua.trim().is_empty() {
            return Some(EMPTY_USER_AGENT);
        }
        if !self.is_bot(ua) {
            return None;
        }
        self.list.first_match(ua.as_bytes())
    }
}

/// Builds a [`Detector`]: starts from the shipped list; [`build`](Self::build) compiles.
#[derive(Clone, Debug)]
pub struct DetectorBuilder {
    patterns: Vec<String>,
    removed: Vec<String>,
    allow: Vec<String>,
}

impl DetectorBuilder {
    /// Adds a pattern: a regular expression (the `regex` crate's syntax, plus a look-behind at
    /// its start and a look-ahead at its end as JavaScript writes them), matched
    /// case-insensitively anywhere in the User-Agent.
    #[must_use]
    pub fn add_pattern(mut self, pattern: impl Into<String>) -> Self {
        self.patterns.push(pattern.into());
        self
    }

    /// Removes a pattern of the list, named by its exact text (see [`Detector::patterns`]).
    #[must_use]
    pub fn remove_pattern(mut self, pattern: impl Into<String>) -> Self {
        self.removed.push(pattern.into());
        self
    }

    /// Starts from no patterns at all instead of the shipped list.
    #[must_use]
    pub fn without_shipped_list(mut self) -> Self {
        self.patterns.clear();
        self
    }

    /// Never counts as a bot a User-Agent this pattern matches (same syntax as
    /// [`add_pattern`](Self::add_pattern), without look-around), whatever the list says: a partner's crawler
    /// the site wants counted, say. Empty User-Agents stay bots.
    #[must_use]
    pub fn allow_pattern(mut self, pattern: impl Into<String>) -> Self {
        self.allow.push(pattern.into());
        self
    }

    /// Compiles the detector (a few milliseconds for the shipped list).
    ///
    /// # Errors
    /// [`PatternError`] naming the pattern: one the `regex` crate cannot compile, look-around
    /// other than at a pattern's start or end, or a removed pattern that is not in the list.
    pub fn build(self) -> Result<Detector, PatternError> {
        let mut patterns = self.patterns;
        for r in &self.removed {
            let before = patterns.len();
            patterns.retain(|p| p != r);
            if patterns.len() == before {
                return Err(PatternError::new(r, "not in the list: nothing to remove"));
            }
        }
        let list = Compiled::new(patterns)?;
        for a in &self.allow {
            patterns::compile(&patterns::from_javascript(a))
                .map_err(|e| PatternError::new(a, e))?;
        }
        let allow = match self.allow.is_empty() {
            true => None,
            false => {
                let alternation: Vec<String> = self
                    .allow
                    .iter()
                    .map(|a| format!("(?:{})", patterns::from_javascript(a)))
                    .collect();
                Some(
                    patterns::compile(&alternation.join("|"))
                        .map_err(|e| PatternError::new("", e))?,
                )
            }
        };
        Ok(Detector {
            inner: Arc::new(Inner {
                list,
                allow,
                allowed: self.allow.into_iter().map(String::into_boxed_str).collect(),
                cache: VerdictCache::new(),
            }),
        })
    }
}

/// A pattern a [`DetectorBuilder`] could not take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatternError {
    pattern: String,
    reason: String,
}

impl PatternError {
    fn new(pattern: &str, reason: impl Into<String>) -> PatternError {
        PatternError {
            pattern: pattern.to_owned(),
            reason: reason.into(),
        }
    }

    /// The pattern, as given.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bot pattern {:?}: {}", self.pattern, self.reason)
    }
}

impl std::error::Error for PatternError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_list_compiles_whole() {
        let d = Detector::builder().build().unwrap();
        assert_eq!(
            d.patterns().count(),
            patterns::lines(patterns::SHIPPED).count()
        );
        assert!(d.patterns().count() > 200);
    }

    #[test]
    fn cached_verdicts_match_uncached_ones() {
        let d = Detector::default();
        let uas = [
            "",
            "   ",
            "curl/8.5.0",
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/126.0 Safari/537.36",
        ];
        for _ in 0..3 {
            for ua in uas {
                assert_eq!(is_bot(ua), d.matched(ua).is_some(), "{ua:?}");
            }
        }
    }

    #[test]
    fn invalid_utf8_is_matched_lossily() {
        let raw =
            b"Mozilla/5.0 (Linux; Android 14; \xff\xfe) AppleWebKit/537.36 Chrome/126.0 Mobile";
        let lossy = String::from_utf8_lossy(raw);
        for _ in 0..2 {
            assert_eq!(is_bot_bytes(raw), matched(&lossy).is_some());
        }
        assert!(!is_bot_bytes(raw));
        let bot = b"Googlebot/2.1 \xff";
        for _ in 0..2 {
            assert!(is_bot_bytes(bot));
        }
    }

    #[test]
    fn a_builder_adds_removes_and_allows() {
        let watch = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                     Chrome/126.0 Safari/537.36 AcmeWatch/2";
        let uptimia = "Mozilla/5.0 (compatible; Uptimia/1.0)";
        let partner = "Mozilla/5.0 (compatible; partner-reader/1.0; +http://partner.vn/bot)";
        let by = matched(uptimia).unwrap();
        let d = Detector::builder()
            .add_pattern("acmewatch/")
            .remove_pattern(by)
            .allow_pattern("partner-reader/")
            .build()
            .unwrap();
        assert!(!is_bot(watch));
        assert!(d.is_bot(watch));
        assert_eq!(d.matched(watch), Some("acmewatch/"));
        assert_ne!(d.matched(uptimia), Some(by));
        assert_eq!(d.patterns().count(), Detector::default().patterns().count());
        assert!(is_bot(partner));
        assert!(!d.is_bot(partner));
        assert_eq!(d.matched(partner), None);
        assert!(d.is_bot(""), "empty agents stay bots");
        assert_eq!(d.matched(" "), Some(EMPTY_USER_AGENT));
        // Its own cache: the shipped detector's verdicts are untouched.
        assert!(!is_bot(watch));
        assert!(is_bot(partner));
    }

    #[test]
    fn bad_patterns_are_errors_naming_them() {
        for (builder, pattern) in [
            (Detector::builder().add_pattern("(unclosed"), "(unclosed"),
            (Detector::builder().add_pattern("a(?!b)c"), "a(?!b)c"),
            (
                Detector::builder().remove_pattern("no such pattern"),
                "no such pattern",
            ),
            (Detector::builder().allow_pattern("[z-a]"), "[z-a]"),
        ] {
            let e = builder.build().unwrap_err();
            assert_eq!(e.pattern(), pattern);
            assert!(e.to_string().contains(pattern), "{e}");
        }
    }

    #[test]
    fn an_empty_list_finds_only_empty_agents() {
        let d = Detector::builder().without_shipped_list().build().unwrap();
        assert!(!d.is_bot("Googlebot/2.1"));
        assert!(d.is_bot(""));
        assert_eq!(d.patterns().count(), 0);
    }
}
