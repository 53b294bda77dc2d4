//! Visitors: sessions, visits, page views and distinct visitors.
//!
//! - `sessions.rs`: the session table (who is online, whose visit goes on, the memory bound);
//! - `restored.rs`: a snapshot's sessions, read in place until each visitor comes back or
//!   expires;
//! - `saved.rs`: the byte layout of saved sessions (every format version), how a save lays the
//!   table out and what a load checks; it belongs here, with the table that reads it in place,
//!   and the snapshot format embeds it;
//! - `pace.rs`: page views per visitor in its current minute, for the web rules' pace limit;
//! - `traffic.rs`: visits and page views per period and per day, a share in each session
//!   shard;
//! - `unique.rs` and `distinct.rs`: distinct visitors per period (exact, then HyperLogLog).
//!
//! Uses `calendar`, `common` and the ids. It does not import the snapshot format.

pub(crate) mod distinct;
#[cfg(feature = "web")]
pub(crate) mod pace;
pub(crate) mod restored;
pub(crate) mod saved;
pub(crate) mod sessions;
pub(crate) mod traffic;
pub(crate) mod unique;
