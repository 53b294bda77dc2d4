//! A thin article model: what a news item is, and a small concurrent catalog of them.
//!
//! The counter only knows [`ArticleId`]s. Host apps either keep their own article store and
//! call [`Counter::view_article`] with its ids, or use this [`Catalog`] directly: insert the
//! articles, look them up by id or slug, list a section newest first, and join a "most read"
//! list with its articles in one call ([`Catalog::top`]).
//!
//! Removing an article from the catalog keeps its view counts (they belong to the counter);
//! [`Counter::reset_article`] resets them.
//!
//! ```
//! use time::macros::datetime;
//! use visitor_counter::articles::{Article, Catalog};
//! use visitor_counter::{ArticleId, Counter, Period, VisitorId};
//!
//! let catalog = Catalog::new();
//! catalog.insert(Article::new(
//!     ArticleId::from(7),
//!     "le-hoi-hoa-ban",
//!     "Lễ hội hoa ban 2026",
//!     "van-hoa",
//!     datetime!(2026-03-01 08:00 +07:00),
//! ))?;
//! let counter = Counter::builder().build()?;
//! let article = catalog.get_by_slug("le-hoi-hoa-ban").unwrap();
//! counter.view_article(article.id, VisitorId::from(1));
//!
//! let most_read = catalog.top(&counter, Period::Today, 10);
//! assert_eq!(most_read[0].0.title, "Lễ hội hoa ban 2026");
//! assert_eq!(most_read[0].1, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Locking
//! One `RwLock` over the catalog: lookups and listings share it, changes take it alone.
//!
//! [`ArticleId`]: crate::ArticleId
//! [`Counter::view_article`]: crate::Counter::view_article
//! [`Counter::reset_article`]: crate::Counter::reset_article

// This folder holds the article side of the model: `catalog.rs` (the public catalog above; its
// `top` is the one place here that calls the front door, `Counter::top_articles`), `views.rs`
// (per-article period counters behind `Counter::view_article`), `dedup.rs` (refresh dedup and
// its saved form) and `rankings.rs` (the maintained "most read" lists). It uses `calendar`,
// `common` and the ids; the snapshot format embeds its saved forms, and nothing here imports
// the snapshot format.

mod catalog;
pub(crate) mod dedup;
pub(crate) mod rankings;
pub(crate) mod views;

pub use catalog::{Article, Catalog, CatalogError};
