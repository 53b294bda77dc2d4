//! Several instances, one site: sharing a site's counts through Redis (feature `redis`).
//!
//! A counter built with [`CounterBuilder::redis`] records page views exactly as any counter does
//! (the hot path never touches the network) and also logs them for its next **sync**: every
//! `sync_every` a background thread (or [`Counter::sync`] on demand) sends what was recorded
//! since the last sync to a script in Redis, which decides visits, online, distinct visitors and
//! refresh dedup against the site's own state, atomically, and answers with the site's numbers
//! that changed. Readings are the site's numbers as of the last sync plus what this counter
//! recorded since.
//!
//! This folder holds `log.rs` (the per-shard page-view log of the hot path, [`ShardLog`]),
//! `batch.rs` (a batch: per visitor the page views that may start a visit or a day and its
//! last one, page views as counts per day; bounded, cut into parts, encoded), `site.rs` (the
//! site's numbers as read, and the counts not synced yet), `engine.rs` (one sync: the cut of
//! the counter's tables through [`Tables`], the parts, retries, lost writes and status, against
//! a [`Store`]), `redis.rs` (the store over Redis, Sentinel or a Cluster, feature `redis`) and
//! `site.lua` (the script). It builds on the model (calendar, visitors, articles); the model
//! does not know it, and the counter meets it through `ShardLog`, `Tables` and `Sharing`.
//!
//! [`ShardLog`]: log::ShardLog
//! [`Tables`]: engine::Tables
//! [`Store`]: engine::Store
//! [`CounterBuilder::redis`]: crate::CounterBuilder
//! [`Counter::sync`]: crate::Counter::sync

// Without the `redis` feature nothing syncs, but the counter still reads through the same
// paths (a counter that shares no site has no view to add), so the model of a sync is built
// either way and only the store over Redis is left out.
#![cfg_attr(not(feature = "redis"), allow(dead_code))]

pub(crate) mod batch;
pub(crate) mod engine;
pub(crate) mod log;
#[cfg(feature = "redis")]
pub(crate) mod redis;
pub(crate) mod site;

use std::fmt;

/// Where a site's Redis is, as the builder was told (see `CounterBuilder::redis`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Address {
    Url(String),
    Sentinel {
        sentinels: Vec<String>,
        master: String,
    },
    Cluster(Vec<String>),
}

use time::OffsetDateTime;

/// Why a [`Counter::sync`](crate::Counter::sync) failed. Nothing recorded is lost by it: what
/// was not applied is sent again by the next sync.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncError {
    kind: ErrorKind,
    message: String,
}

/// What went wrong, for the crate's own decisions (the message says it to people).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    /// The counter does not share a site.
    NotShared,
    /// The server could not be reached, or the connection failed.
    Connection,
    /// No answer within `sync_timeout`.
    Timeout,
    /// The site was created with another calendar or other windows.
    SiteDiffers,
    /// The server answered something this counter cannot read.
    Reply,
    /// The site's script could not read a part (dropped: see `engine.rs`).
    MalformedPart,
}

impl SyncError {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> SyncError {
        SyncError {
            kind,
            message: message.into(),
        }
    }

    /// Whether the site was created with another calendar (offset or time zone, week start) or
    /// other windows than this counter's: such a counter sends nothing until it is rebuilt to
    /// match.
    pub fn is_site_mismatch(&self) -> bool {
        self.kind == ErrorKind::SiteDiffers
    }

    /// Whether the site's script could not read the part sent (it is dropped, so that it does
    /// not stop every later sync).
    pub(crate) fn is_malformed_part(&self) -> bool {
        self.kind == ErrorKind::MalformedPart
    }
}

impl fmt::Display for SyncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SyncError {}

/// How syncing has gone: readable with [`Counter::sync_status`](crate::Counter::sync_status),
/// so a host app can alert when the site's Redis is out of reach.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SyncStatus {
    /// Successful syncs.
    pub syncs: u64,
    /// Failed syncs.
    pub failures: u64,
    /// The last failure, while the last sync failed.
    pub last_error: Option<String>,
    /// When the last successful sync was, by the counter's clock.
    pub last_synced_at: Option<OffsetDateTime>,
    /// Page views recorded here and not yet in Redis.
    pub pending_page_views: u64,
    /// This counter's clock minus the Redis server's, at the last call that answered.
    pub clock_offset: Option<time::Duration>,
    /// Parts of page views the site acknowledged, then lost (a Redis that crashed under
    /// `appendfsync everysec`, a failover to a replica that lagged), which this counter no
    /// longer kept to send again (it keeps them a minute).
    pub lost_parts: u64,
    /// The server's `maxmemory-policy` when it is one that evicts keys (the site's keys must
    /// not be evicted: use `noeviction`), where the server lets the counter read it.
    pub eviction_policy: Option<String>,
}
