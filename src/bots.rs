//! Crawler detection by User-Agent.
//!
//! The patterns are the isbot list (348 regular expressions for crawlers, preview fetchers,
//! monitoring tools and HTTP libraries, maintained as the `isbot` crate) plus the few it lacks
//! (the JDK's `Java-http-client`), compiled once into a single regular expression, so a check is one automaton pass over the User-Agent, not one
//! scan per pattern. An empty or missing User-Agent counts as a bot: browsers always send one.
//!
//! ```
//! use visitor_counter::bots::is_bot;
//! assert!(is_bot("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"));
//! assert!(is_bot("curl/8.5.0"));
//! assert!(is_bot(""));
//! assert!(!is_bot("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"));
//! ```

use std::sync::LazyLock;

/// Patterns the isbot 0.1 list lacks (found by our tests).
const EXTRA_PATTERNS: &[&str] = &["^java-http-client/"];

static BOTS: LazyLock<isbot::Bots> = LazyLock::new(|| {
    let mut bots = isbot::Bots::default();
    bots.append(EXTRA_PATTERNS);
    bots
});

/// Whether a User-Agent is a crawler, a preview fetcher, a monitor or a bare HTTP library.
/// The pattern set is compiled on the first call (a few milliseconds) and shared afterwards.
pub fn is_bot(user_agent: &str) -> bool {
    user_agent.trim().is_empty() || BOTS.is_bot(user_agent)
}
