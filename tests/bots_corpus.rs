#![cfg(feature = "bots")]
//! The shipped bot list against public corpora (see the headers of the files under
//! `tests/bots_corpus/` for their sources, versions and licenses): its recall on real crawler
//! User-Agents and its false positives on real browser User-Agents, asserted as floors so that
//! a list update that loses ground fails. `scripts/update-bot-patterns.sh` regenerates the
//! list and the corpora.

use visitor_counter::bots::{is_bot, is_bot_bytes, matched};

#[path = "common/bots_corpus.rs"]
mod bots_corpus;
use bots_corpus::{browsers, crawlers};

/// Recall at least 0.99 (the isbot list as published misses 9 of the 2,118 crawler
/// User-Agents: in-app browsers and Electron apps the corpus counts as crawlers).
#[test]
fn the_list_finds_at_least_99_percent_of_the_crawlers() {
    let all = crawlers();
    assert!(all.len() >= 2_000, "{} crawlers", all.len());
    let missed: Vec<&str> = all.iter().copied().filter(|ua| !is_bot(ua)).collect();
    let recall = 1.0 - missed.len() as f64 / all.len() as f64;
    println!(
        "recall {recall:.4}: {} of {} crawler User-Agents missed",
        missed.len(),
        all.len()
    );
    for ua in &missed {
        println!("  missed: {ua}");
    }
    assert!(recall >= 0.99, "recall {recall:.4}");
    assert!(missed.len() <= 9, "{} missed", missed.len());
}

/// False positives at most 0.1 % of the browsers: none of these 952.
#[test]
fn the_list_takes_no_browser_for_a_crawler() {
    let all = browsers();
    assert!(all.len() >= 900, "{} browsers", all.len());
    let wrong: Vec<String> = all
        .iter()
        .filter(|ua| is_bot(ua))
        .map(|ua| format!("  {ua}\n    by {:?}", matched(ua)))
        .collect();
    let rate = wrong.len() as f64 / all.len() as f64;
    println!(
        "false positives {rate:.4}: {} of {}",
        wrong.len(),
        all.len()
    );
    assert!(rate <= 0.001, "{}", wrong.join("\n"));
}

/// Every verdict names its pattern, and the cached and the byte verdicts agree with it.
#[test]
fn matched_agrees_with_is_bot_on_both_corpora() {
    for ua in crawlers().into_iter().chain(browsers()) {
        for _ in 0..2 {
            assert_eq!(is_bot(ua), matched(ua).is_some(), "{ua}");
            assert_eq!(is_bot_bytes(ua.as_bytes()), is_bot(ua), "{ua}");
        }
    }
}
