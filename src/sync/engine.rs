//! One sync: the cut, the batch and its parts, the calls to the store, and the status.
//!
//! # Exactly once
//! Every part carries this counter's id and a sequence number; the store applies a part whose
//! number it has already applied for this id as nothing. A part stays here until a call with
//! it returned: a call that failed (or timed out after the store had applied it) is made again
//! with the same part and number by the next sync, so each part counts once. New page views
//! wait in the next batch meanwhile, which absorbs the cuts of every sync until the parts
//! before it are through (see `batch.rs`, "Bound").
//!
//! # Readings
//! The counts a cut takes from the counter's tables move, under the [`View`]'s write lock, into
//! the view's waiting delta, and with their batch into the in-flight delta; once every part of
//! a batch is through, the site's answer replaces the in-flight delta, under the same lock. So a
//! reading (which holds the view's read lock while it reads the tables) sees each page view
//! once: in the tables, in a delta, or in the site's numbers.
//!
//! # Locking
//! One sync at a time (the work mutex). The view's write lock is held while the cut takes the
//! tables (each shard, the unique-visitor lock and the article table one after the other) and
//! while an answer is applied; never during a call to the store.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

use crate::calendar::clock::from_nanos;
use crate::calendar::local::{Calendar, PeriodKeys};
use crate::calendar::periods::{Period, Periods};
use crate::common::bounded;
use crate::ids::ArticleId;
use crate::sync::batch::Batch;
use crate::sync::log::Taken;
use crate::sync::site::{Delta, Record, SavedDelta, SavedSite, Site};
use crate::sync::{ErrorKind, SyncError, SyncStatus};
use crate::visitors::traffic::Tally;

/// Records a store answers per call at most.
pub(crate) const LIMIT: usize = 1_000;

/// Where a site's numbers are merged: a call applies a part (once) and answers what changed.
pub(crate) trait Store: Send {
    /// Applies `call.part` unless a part numbered `call.seq` or later was applied for this
    /// counter (`seq` 0: nothing to apply), and answers the records changed since `call.since`.
    fn call(&mut self, call: &Call<'_>) -> Result<Reply, SyncError>;
}

/// One call to a [`Store`].
pub(crate) struct Call<'a> {
    /// The id of the counter that numbered the part.
    pub id: u64,
    pub seq: u64,
    pub part: &'a [u8],
    pub since: u64,
    /// The counter's clock.
    pub now: i64,
    /// Whether to answer the records changed (a part followed by another in the same sync
    /// need not: only the last answer is read).
    pub answer: bool,
}

/// A [`Store`]'s answer.
#[derive(Clone, Debug, Default)]
pub(crate) struct Reply {
    /// Names the site's data; another epoch means they were lost and started over.
    pub epoch: String,
    /// Visitors online at the call's `now`.
    pub online: u64,
    /// Records changed since `since`, oldest change first, at most [`LIMIT`].
    pub records: Vec<Record>,
    /// Distinct-visitor sets of the site that passed their exact limit and wait to be replaced
    /// by a sketch: a call that applies no part replaces one.
    pub sketches_waiting: u64,
}

/// How this counter's batches are cut and bounded.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Config {
    pub session_timeout: i64,
    pub dedup_window: i64,
    /// Runs and article views a waiting batch holds at most.
    pub max_entries: usize,
}

/// What readings add to this counter's own tables.
#[derive(Default)]
pub(crate) struct View {
    pub site: Site,
    /// Counts of the batch being sent.
    pub inflight: Delta,
    /// Counts of the batch waiting to be sent.
    pub waiting: Delta,
}

impl View {
    /// Adds the site's and the deltas' visits and page views per reading period at `now`.
    pub(crate) fn add_traffic(
        &self,
        now: &PeriodKeys,
        visits: &mut Periods,
        page_views: &mut Periods,
    ) {
        for t in [
            &self.site.traffic,
            &self.inflight.traffic,
            &self.waiting.traffic,
        ] {
            *visits += t.periods.read(now, |t| t.visits);
            *page_views += t.periods.read(now, |t| t.page_views);
        }
    }

    /// Adds the site's and the deltas' distinct visitors per reading period at `now`.
    pub(crate) fn add_visitors(&self, now: &PeriodKeys, visitors: &mut Periods) {
        *visitors += self.site.visitors.read(now, |v| *v);
        self.inflight.add_visitors(now, visitors);
        self.waiting.add_visitors(now, visitors);
    }

    /// Visitors online at `now`: those online at the last sync plus those that came online here
    /// since (`live` of them still in the tables' logs); `None` once the last sync is an online
    /// window old or more, when everyone it counted has gone offline or been seen again (the
    /// counter then reads its own table).
    pub(crate) fn online(&self, now: i64, online_window: i64, live: u64) -> Option<u64> {
        let at = self.site.synced_at?;
        (now.saturating_sub(at) < online_window)
            .then(|| self.site.online + self.inflight.came_online + self.waiting.came_online + live)
    }

    /// The site's and the deltas' views of one article per reading period at `now`.
    pub(crate) fn article(&self, id: ArticleId, now: &PeriodKeys) -> Periods {
        let mut views = self.site.articles.stats(id, now);
        views += self.inflight.article(id, now);
        views += self.waiting.article(id, now);
        views
    }

    /// The top `n` of `period` at `now`, of the site's counts, the deltas and `here` (this
    /// counter's own articles with views in `period`, `local` giving their count).
    pub(crate) fn top(
        &self,
        period: Period,
        n: usize,
        now: &PeriodKeys,
        here: impl Iterator<Item = ArticleId>,
        local: impl Fn(ArticleId) -> u64,
    ) -> Vec<(ArticleId, u64)> {
        let mut ids: Vec<ArticleId> = self
            .site
            .articles
            .top(period, n, now)
            .into_iter()
            .map(|(id, _)| id)
            .chain(self.inflight.articles_in(period, now))
            .chain(self.waiting.articles_in(period, now))
            .chain(here)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let mut all: Vec<(ArticleId, u64)> = ids
            .into_iter()
            .map(|id| (id, self.article(id, now).get(period) + local(id)))
            .filter(|&(_, views)| views > 0)
            .collect();
        all.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        all.truncate(n);
        all
    }

    /// Adds the site's and the deltas' visits, page views and visitors on each of `days`.
    pub(crate) fn add_days(&self, days: &[i32], tallies: &mut [Tally], visitors: &mut [u64]) {
        for (i, &d) in days.iter().enumerate() {
            for t in [
                &self.site.traffic,
                &self.inflight.traffic,
                &self.waiting.traffic,
            ] {
                if let (Some(sum), Some(add)) = (tallies.get_mut(i), t.days.get(d)) {
                    sum.visits += add.visits;
                    sum.page_views += add.page_views;
                }
            }
            for ring in [
                &self.site.visitor_days,
                &self.inflight.visitor_days,
                &self.waiting.visitor_days,
            ] {
                if let (Some(sum), Some(add)) = (visitors.get_mut(i), ring.get(d)) {
                    *sum += add;
                }
            }
        }
    }
}

/// A part sent or to be sent, numbered by the counter `id`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Part {
    pub id: u64,
    pub seq: u64,
    #[serde(with = "shared_bytes")]
    pub bytes: Arc<Vec<u8>>,
    pub page_views: u64,
}

/// A part's bytes, shared by the sync that sends them and a save that copies them, as a byte
/// string (borrowed from the file while decoding, see `common/bounded.rs`).
mod shared_bytes {
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer, Serializer};

    use crate::common::bounded::Bytes;

    pub(super) fn serialize<S: Serializer>(b: &Arc<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(b)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<Vec<u8>>, D::Error> {
        Ok(Arc::new(Bytes::deserialize(d)?.0.into_owned()))
    }
}

/// What waits to reach the site: the parts in flight, then the waiting batch.
#[derive(Default)]
struct Pending {
    parts: VecDeque<Part>,
    waiting: Batch,
}

struct Work {
    store: Box<dyn Store>,
    /// This counter's id: a random number drawn when it was built. Parts restored from a
    /// snapshot keep the id that numbered them, so two counters restored from copies of one
    /// snapshot send them once between them and number their own parts apart.
    id: u64,
    next_seq: u64,
    /// Emptied logs, handed back to the shards at the next cut.
    spares: Vec<Taken>,
}

/// A counter's share of a site: what it sends, and what it has read.
///
/// Locks, in this order: the work mutex (one sync at a time, held across calls to the store),
/// the view, the pending parts and batch (held briefly: a save reads them while a sync waits
/// for the store).
pub(crate) struct Sharing {
    config: Config,
    /// False for the sync state of a snapshot restored into a counter that does not share its
    /// site: kept, read and saved, never sent.
    sends: bool,
    pub(crate) view: RwLock<View>,
    work: Mutex<Work>,
    pending: Mutex<Pending>,
    status: Mutex<SyncStatus>,
}

/// What a cut took from the counter's tables: their logs, one per shard, the last page view of
/// each visitor they name (from the session table), and their counts.
pub(crate) struct Cut {
    pub logs: Vec<Taken>,
    pub lasts: Vec<(u64, i64)>,
    pub delta: Delta,
}

impl Sharing {
    pub(crate) fn new(config: Config, store: Box<dyn Store>, id: u64) -> Sharing {
        Sharing {
            config,
            sends: true,
            view: RwLock::new(View::default()),
            work: Mutex::new(Work {
                store,
                id,
                next_seq: 1,
                spares: Vec::new(),
            }),
            pending: Mutex::new(Pending::default()),
            status: Mutex::new(SyncStatus::default()),
        }
    }

    /// The sync state of a counter that does not share its site (see `sends`).
    pub(crate) fn unshared() -> Sharing {
        struct Unshared;
        impl Store for Unshared {
            fn call(&mut self, _: &Call<'_>) -> Result<Reply, SyncError> {
                Err(SyncError::not_shared())
            }
        }
        let config = Config {
            session_timeout: 0,
            dedup_window: 0,
            max_entries: 0,
        };
        Sharing {
            sends: false,
            ..Sharing::new(config, Box::new(Unshared), 0)
        }
    }

    /// Whether syncs send anything (see `sends`).
    pub(crate) fn sends(&self) -> bool {
        self.sends
    }

    /// Syncs once: takes what the tables recorded (`cut` gets spare logs to swap in), sends it
    /// and whatever earlier syncs could not, and reads the site's changes.
    pub(crate) fn sync(
        &self,
        now: i64,
        calendar: &Calendar,
        cut: impl FnOnce(&mut Vec<Taken>) -> Cut,
    ) -> Result<(), SyncError> {
        let mut work = self.work.lock();
        let work = &mut *work;
        {
            // The tables' counts move to the waiting delta and their page views to the waiting
            // batch while readings and saves wait: each page view is in exactly one place.
            let mut view = self.view.write();
            let mut pending = self.pending.lock();
            let Cut { logs, lasts, delta } = cut(&mut work.spares);
            let page_views: Vec<(i32, u64)> = delta
                .traffic
                .days
                .iter()
                .map(|(d, t)| (d, t.page_views))
                .collect();
            view.waiting.absorb(delta);
            drop(view);
            let (mut starts, mut views) = (Vec::new(), Vec::new());
            for mut log in logs {
                starts.append(&mut log.starts);
                views.append(&mut log.views);
                work.spares.push(log);
            }
            let batch = Batch::from_log(starts, views, lasts, page_views, calendar.week_start);
            pending.waiting.absorb(batch, self.config.max_entries);
        }
        let result = self.send(work, now);
        let waiting = self.pending_page_views();
        let mut status = self.status.lock();
        status.pending_page_views = waiting;
        match &result {
            Ok(()) => {
                status.syncs += 1;
                status.last_error = None;
                status.last_synced_at = Some(from_nanos(now));
            }
            Err(e) => {
                status.failures += 1;
                status.last_error = Some(e.to_string());
            }
        }
        result
    }

    /// Page views in the parts in flight and the waiting batch.
    fn pending_page_views(&self) -> u64 {
        let pending = self.pending.lock();
        pending.waiting.page_views() + pending.parts.iter().map(|p| p.page_views).sum::<u64>()
    }

    /// Turns the waiting batch into numbered parts in flight, with its delta; false when there
    /// are parts in flight already, or nothing waits.
    fn number_waiting(&self, work: &mut Work) -> bool {
        let mut view = self.view.write();
        let mut pending = self.pending.lock();
        if !pending.parts.is_empty() || pending.waiting.is_empty() {
            return false;
        }
        let batch = std::mem::take(&mut pending.waiting);
        for part in batch.into_parts() {
            let seq = work.next_seq;
            work.next_seq += 1;
            pending.parts.push_back(Part {
                id: work.id,
                seq,
                bytes: Arc::new(part.encode(self.config.session_timeout, self.config.dedup_window)),
                page_views: part.page_views(),
            });
        }
        let waiting = std::mem::take(&mut view.waiting);
        view.inflight.absorb(waiting);
        true
    }

    /// Sends the parts in flight, then the waiting batch, then reads the changes.
    fn send(&self, work: &mut Work, now: i64) -> Result<(), SyncError> {
        let (since, epoch) = {
            let view = self.view.read();
            (view.site.since, view.site.epoch.clone())
        };
        let mut reply = None;
        loop {
            let (next, more) = {
                let pending = self.pending.lock();
                let more = pending.parts.len() > 1 || !pending.waiting.is_empty();
                (pending.parts.front().cloned(), more)
            };
            let Some(part) = next else {
                if self.number_waiting(work) {
                    continue;
                }
                break;
            };
            let call = Call {
                id: part.id,
                seq: part.seq,
                part: &part.bytes,
                since,
                now,
                answer: !more,
            };
            match work.store.call(&call) {
                Ok(r) => {
                    // Sets that passed their exact limit are replaced by sketches before the
                    // next part adds to them: one call each, a few milliseconds of Redis time.
                    let mut waiting = r.sketches_waiting;
                    reply = Some(r);
                    for _ in 0..16 {
                        if waiting == 0 {
                            break;
                        }
                        waiting = work
                            .store
                            .call(&Call {
                                id: work.id,
                                seq: 0,
                                part: &[],
                                since,
                                now,
                                answer: false,
                            })?
                            .sketches_waiting;
                    }
                }
                // A part the site cannot read would stop every sync: it is dropped, and said.
                Err(e) if e.is_malformed_part() => {
                    self.pending.lock().parts.pop_front();
                    return Err(e);
                }
                Err(e) => return Err(e),
            }
            self.pending.lock().parts.pop_front();
        }
        let read = |work: &mut Work, since: u64| {
            work.store.call(&Call {
                id: work.id,
                seq: 0,
                part: &[],
                since,
                now,
                answer: true,
            })
        };
        let mut reply = match reply {
            Some(r) => r,
            None => read(work, since)?,
        };
        // Sets waiting for their sketch get one call each (a few milliseconds of Redis time).
        for _ in 0..16 {
            if reply.sketches_waiting == 0 {
                break;
            }
            reply = read(work, since)?;
        }
        // Data that started over (another epoch) are read again from their first change.
        let fresh = epoch.as_ref().is_some_and(|e| *e != reply.epoch);
        if fresh {
            reply = read(work, 0)?;
        }
        let mut records = std::mem::take(&mut reply.records);
        while records.len() % LIMIT == 0 && !records.is_empty() {
            let last = records.last().map_or(0, |r| r.number);
            let more = read(work, last)?;
            reply.online = more.online;
            if more.records.is_empty() {
                break;
            }
            records.extend(more.records);
        }
        let mut view = self.view.write();
        if fresh {
            view.site = Site::default();
        }
        let site = &mut view.site;
        site.epoch = Some(reply.epoch);
        for r in &records {
            site.apply(r);
        }
        site.online = reply.online;
        site.synced_at = Some(now);
        // Every part is through: the site's numbers hold what was in flight.
        if self.pending.lock().parts.is_empty() {
            view.inflight = Delta::default();
        }
        Ok(())
    }

    /// How syncing has gone; `live` page views are in the tables' logs, not cut yet.
    pub(crate) fn status(&self, live: u64) -> SyncStatus {
        let mut s = self.status.lock().clone();
        s.pending_page_views = self.pending_page_views() + live;
        s
    }

    /// The sync state as a snapshot holds it, with `log`, the page views the tables logged
    /// since the last cut. `view` is read-locked by the caller, which reads the tables
    /// meanwhile (see `Inner::capture`).
    pub(crate) fn saved(&self, view: &View, log: Batch) -> SavedSync {
        let pending = self.pending.lock();
        SavedSync {
            log,
            waiting: pending.waiting.clone(),
            parts: pending.parts.iter().cloned().collect(),
            site: view.site.saved(),
            inflight: view.inflight.saved(),
            waiting_delta: view.waiting.saved(),
        }
    }

    /// Takes a snapshot's vetted sync state into this fresh counter's. The page views the
    /// tables had logged join the waiting batch, after it.
    pub(crate) fn restore(&self, saved: SavedSync) {
        let mut view = self.view.write();
        view.site = Site::restored(saved.site);
        view.inflight = Delta::restored(saved.inflight);
        view.waiting = Delta::restored(saved.waiting_delta);
        let mut pending = self.pending.lock();
        pending.parts = saved.parts.into();
        pending.waiting = saved.waiting;
        pending
            .waiting
            .absorb(saved.log, self.config.max_entries.max(1));
    }
}

/// A shared counter's sync state as a snapshot holds it: the page views not cut into a batch
/// yet, the waiting batch, the parts in flight (with the id and number of the counter that
/// numbered them), the site's numbers as last read, and the deltas readings add to them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct SavedSync {
    pub log: Batch,
    pub waiting: Batch,
    #[serde(deserialize_with = "bounded::vec")]
    pub parts: Vec<Part>,
    pub site: SavedSite,
    pub inflight: SavedDelta,
    pub waiting_delta: SavedDelta,
}

impl SavedSync {
    /// Checks what a restore relies on: instants in range, well-formed buckets, every day a
    /// batch names known.
    pub(crate) fn validate(&self) -> Result<(), String> {
        self.log.validate()?;
        self.waiting.validate()?;
        self.site.validate()?;
        self.inflight.validate()?;
        self.waiting_delta.validate()
    }
}

impl SyncError {
    /// The error of a counter that does not share a site.
    pub(crate) fn not_shared() -> SyncError {
        SyncError::new(
            ErrorKind::NotShared,
            "this counter does not share a site: build it with `CounterBuilder::redis` \
             (feature `redis`)",
        )
    }
}
