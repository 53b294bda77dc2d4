//! The crawler and browser User-Agent corpora of `tests/bots_corpus/` (see their headers for
//! sources, versions and licenses), one User-Agent a line; shared by `tests/bots_corpus.rs` and
//! `benches/bots.rs`.
#![allow(dead_code)]

fn corpus(text: &'static str) -> Vec<&'static str> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect()
}

/// Real crawler User-Agents (npm `crawler-user-agents`).
pub fn crawlers() -> Vec<&'static str> {
    corpus(include_str!("../bots_corpus/crawlers.txt"))
}

/// Real browser User-Agents (npm `user-agents`).
pub fn browsers() -> Vec<&'static str> {
    corpus(include_str!("../bots_corpus/browsers.txt"))
}
