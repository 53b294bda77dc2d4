//! The web side: which requests are page views, and who made them.
//!
//! - [`bots`] (feature `bots`, also at [`crate::bots`]): crawler detection by User-Agent.
#![cfg_attr(
    feature = "tower",
    doc = "- [`CountLayer`] (feature `tower`): a tower layer (axum 0.8) that counts page views \
           with one line; its docs give the rules and the visitor identity."
)]

// This folder holds `bots/` (the crawler list as data, its automata, the verdict cache) and
// `layer.rs` (the tower layer). It records through the crate's public API (`Counter`, the ids, `Exclusion`)
// like any other app, and nothing below the front door imports it.

pub mod bots;
#[cfg(feature = "tower")]
mod layer;

#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub use layer::{CountLayer, CountService, PagePredicate, COOKIE_NAME};
