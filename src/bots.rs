//! Crawler detection by User-Agent.
//!
//! The patterns are the isbot list (348 regular expressions for crawlers, preview fetchers,
//! monitoring tools and HTTP libraries, maintained as the `isbot` crate), compiled once into a
//! single regular expression, so a check is one automaton pass over the User-Agent, not one
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

static BOTS: LazyLock<isbot::Bots> = LazyLock::new(isbot::Bots::default);

/// Whether a User-Agent is a crawler, a preview fetcher, a monitor or a bare HTTP library.
/// The pattern set is compiled on the first call (a few milliseconds) and shared afterwards.
pub fn is_bot(user_agent: &str) -> bool {
    user_agent.trim().is_empty() || BOTS.is_bot(user_agent)
}
