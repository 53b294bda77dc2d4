#![doc = include_str!("../README.md")]
//!
//! # The model
//!
//! - **Page view**: every [`Counter::hit`] and every [`Counter::view_article`].
//! - **Session and visit**: a visitor's session is live while less than `session_timeout` has
//!   passed since its last page view; a page view with no live session starts a **visit**, counted
//!   on the local day it starts (midnight does not split it).
//! - **Online**: visitors whose last page view was less than `online_window` ago.
//! - **Visitors**: distinct visitors with a page view in the period.
//! - **Local calendar**: days, weeks (from the configured weekday), months and years of the
//!   site's own offset or time zone; see [`Periods`] for the eight reading periods.
//! - **Article view**: [`Counter::view_article`] counts a view of the article unless the same
//!   visitor had one counted less than `article_dedup_window` ago (a refresh); the page view
//!   counts either way. [`Counter::top_articles`] lists the most read; the [`articles`] module
//!   has a small catalog to join them with.
//! - **Snapshots**: [`Counter::save`] (or `autosave`) writes everything to one file, atomically;
//!   `build` restores it exactly. See [`snapshot`] for the format and its guarantees. `build`
//!   reads the file, checks it, and loads every session into the session table as it checks
//!   it (about 75 ms of CPU for 1M sessions, see `BENCHMARKS.md`); the file's bytes are freed
//!   before `build` returns.
//!
//! # What is exact, what is approximate
//!
//! | reading | how |
//! |---|---|
//! | page views, visits, article views (every period, history) | exact counters |
//! | `online` | exact at the instant of the reading (upkeep runs first) |
//! | distinct visitors | exact up to 4,096 per period; beyond, a HyperLogLog sketch of 2^16 registers read with Ertl's improved estimator: about 0.4 % standard error, within 2 % |
//! | `top_articles(period, n)`, `n` ≤ 100 | exact, from rankings maintained on every counted view |
//! | visits after `max_sessions` is exceeded | a forgotten visitor's next page view starts a new visit |
//! | article dedup after `max_dedup_entries` is exceeded | a forgotten (article, visitor) pair's next view counts again |
//! | the web rules' visitors (`web::Rules`) | a request without a cookie counts under the day's cookieless id of its address and User-Agent: two browsers behind one address with one User-Agent, both without a cookie, are one visitor that day; a new browser that comes back another day is two distinct visitors in a period spanning both days (its first day's cookieless id and its own) |
//! | the web rules' pace limit | exact per visitor's minute; past `max_sessions` visitors within a minute, the oldest minutes are forgotten and start afresh |
//! | a shared site (feature `redis`) | the site's numbers as of the last sync, exact as above but distinct visitors (exact up to 1,000 a period, then Redis's HyperLogLog: 0.81 % standard error), plus what this instance recorded since; `online` as of the last sync plus the visitors that came online here since. See "Several instances" above for when instances agree |
//!
//! Readings are not a single atomic snapshot: a page view recorded on another thread while
//! [`Counter::stats`] runs may show in one field and not yet in another.
//!
//! # Cost and locking
//!
//! [`Counter::hit`] takes no global lock: it write-locks one shard of the session table, which
//! also holds that shard's share of the visit and page view counters (one lock per page view,
//! nearly always uncontended), and allocates nothing for a visitor already tracked. A visitor's
//! first page view of a local day also updates the distinct-visitor sketches under their own
//! lock. Expired sessions are dropped by upkeep, which readings run and page views only try
//! (never wait for); at `max_sessions`, upkeep forgets the least recently seen in batches, at
//! O(1) amortised cost per visitor. [`Counter::stats`] does not scan the
//! sessions. [`Counter::view_article`] adds the article's shard of the article table and of the
//! dedup table, and its ranking shard when the view counts. Each method's docs say what it
//! locks.
//!
//! A counter that shares its site (feature `redis`) also logs, under the same lock, a page view
//! that may start a visit or a local day and every article view on its shard's log (no
//! allocation once the log has grown to a sync interval's visitors); its readings take the
//! shared view's read lock, which a sync holds for writing
//! only while it takes the tables' counts and while it applies the site's answer, never while
//! it waits for Redis.
//!
//! # Instants
//!
//! Instants are held with nanosecond precision between the years 1854 and 2146 (clamped
//! outside). The counter assumes its clock does not go backwards by much: a page view stamped
//! before a period the counter has already rolled past is dropped from that period's bucket
//! (still counted in the total).

#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// The front door (`counter.rs`, `builder.rs`, `ids.rs`, `error.rs`) at the top; below it one
// folder per concern, each saying in its module docs what it holds and what it may use. The
// model (`calendar`, `visitors`, `articles`) never imports the snapshot format or the web side;
// `common` is below everything.
pub mod articles;
mod builder;
mod calendar;
mod common;
mod counter;
mod error;
mod ids;
#[cfg(feature = "prometheus")]
#[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
pub mod metrics;
pub mod snapshot;
mod sync;
mod visitors;
#[cfg(feature = "bots")]
#[cfg_attr(docsrs, doc(cfg(feature = "bots")))]
pub mod web;

pub use builder::{CounterBuilder, MAX_DURATION};
pub use calendar::clock::{Clock, ManualClock, SystemClock};
pub use calendar::periods::{Period, Periods, UnknownPeriod, HISTORY_DAYS};
pub use counter::{ArticleStats, Counter, DayCounts, Exclusion, Exclusions, SaveStatus, Stats};
pub use error::{BuildError, SnapshotError};
pub use ids::{ArticleId, VisitorId};
pub use sync::{SyncError, SyncStatus};
#[cfg(feature = "bots")]
#[cfg_attr(docsrs, doc(cfg(feature = "bots")))]
pub use web::bots;
