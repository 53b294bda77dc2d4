//! Visitors: sessions, visits, page views and distinct visitors.
//!
//! - `sessions.rs`: the session table (who is online, whose visit goes on, the memory bound),
//!   how it saves and loads its sessions;
//! - `expiry.rs`: the table's expiry queues (time-bucketed, O(1) amortised per entry);
//! - `saved.rs`: the byte layout of saved sessions, which the snapshot format embeds;
//! - `pace.rs`: page views per visitor in its current minute, for the web rules' pace limit;
//! - `traffic.rs`: visits and page views per period and per day, a share in each session
//!   shard;
//! - `unique.rs` and `distinct.rs`: distinct visitors per period (exact, then HyperLogLog).
//!
//! Uses `calendar`, `common` and the ids. It does not import the snapshot format.

pub(crate) mod distinct;
pub(crate) mod expiry;
#[cfg(feature = "web")]
pub(crate) mod pace;
pub(crate) mod saved;
pub(crate) mod sessions;
pub(crate) mod traffic;
pub(crate) mod unique;
