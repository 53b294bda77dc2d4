//! The web side: which requests are page views, and who made them.
//!
//! - [`bots`] (feature `bots`, also at [`crate::bots`]): crawler detection by User-Agent.
#![cfg_attr(
    feature = "web",
    doc = "- [`Rules`] (feature `web`): which requests are page views and who made them, for \
           any framework: the one place the exclusions and the visitor identity are decided."
)]
#![cfg_attr(
    feature = "web",
    doc = "- [`Beacon`] (feature `web`): beacon mode, for pages served through a page cache: \
           the pages' script and the request it sends, which the rules count instead of the \
           pages."
)]
#![cfg_attr(
    feature = "tower",
    doc = "- [`CountLayer`] (feature `tower`): a tower layer (axum 0.8) that counts page views \
           with one line."
)]
#![cfg_attr(
    feature = "actix",
    doc = "- [`actix::Count`] (feature `actix`): the same as actix-web 4 middleware."
)]

// This folder holds `bots/` (the crawler list as data, its automata, the verdict cache),
// `rules.rs` (the framework-neutral rules), `beacon.rs` (beacon mode's options, script and
// query), and the adapters over them: `layer.rs` (tower) and
// `actix.rs` (actix-web). It records through the crate's public API (`Counter`, the ids, `Exclusion`)
// like any other app, and nothing below the front door imports it.

#[cfg(feature = "actix")]
#[cfg_attr(docsrs, doc(cfg(feature = "actix")))]
pub mod actix;
#[cfg(feature = "web")]
mod beacon;
pub mod bots;
#[cfg(feature = "tower")]
mod layer;
#[cfg(feature = "web")]
mod rules;

#[cfg(feature = "web")]
#[cfg_attr(docsrs, doc(cfg(feature = "web")))]
pub use beacon::{Beacon, BeaconPathError};
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub use layer::{CountLayer, CountService, PagePredicate};
#[cfg(feature = "web")]
#[cfg_attr(docsrs, doc(cfg(feature = "web")))]
pub use rules::{
    is_html, Counted, Headers, Outcome, Rules, Verdict, COOKIE_NAME, DEFAULT_PACE_LIMIT,
};
