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

use parking_lot::{Mutex, RwLock};

use crate::calendar::clock::from_nanos;
use crate::calendar::local::{Calendar, PeriodKeys};
use crate::calendar::periods::{Period, Periods};
use crate::ids::ArticleId;
use crate::sync::batch::Batch;
use crate::sync::log::Entry;
use crate::sync::site::{Delta, Record, Site};
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
struct Part {
    id: u64,
    seq: u64,
    bytes: Vec<u8>,
    page_views: u64,
}

struct Work {
    store: Box<dyn Store>,
    /// This counter's id: a random number drawn when it was built. Parts restored from a
    /// snapshot keep the id that numbered them, so two counters restored from copies of one
    /// snapshot send them once between them and number their own parts apart.
    id: u64,
    next_seq: u64,
    inflight: VecDeque<Part>,
    waiting: Batch,
    /// Emptied logs, handed back to the shards at the next cut.
    spares: Vec<Vec<Entry>>,
}

/// A counter's share of a site: what it sends, and what it has read.
pub(crate) struct Sharing {
    config: Config,
    pub(crate) view: RwLock<View>,
    work: Mutex<Work>,
    status: Mutex<SyncStatus>,
}

/// What a cut took from the counter's tables: their logs, one per shard, and their counts.
pub(crate) struct Cut {
    pub logs: Vec<Vec<Entry>>,
    pub delta: Delta,
}

impl Sharing {
    pub(crate) fn new(config: Config, store: Box<dyn Store>, id: u64) -> Sharing {
        Sharing {
            config,
            view: RwLock::new(View::default()),
            work: Mutex::new(Work {
                store,
                id,
                next_seq: 1,
                inflight: VecDeque::new(),
                waiting: Batch::default(),
                spares: Vec::new(),
            }),
            status: Mutex::new(SyncStatus::default()),
        }
    }

    /// Syncs once: takes what the tables recorded (`cut` gets spare logs to swap in), sends it
    /// and whatever earlier syncs could not, and reads the site's changes.
    pub(crate) fn sync(
        &self,
        now: i64,
        calendar: &Calendar,
        cut: impl FnOnce(&mut Vec<Vec<Entry>>) -> Cut,
    ) -> Result<(), SyncError> {
        let mut work = self.work.lock();
        let work = &mut *work;
        let logs = {
            let mut view = self.view.write();
            let Cut { logs, delta } = cut(&mut work.spares);
            view.waiting.absorb(delta);
            logs
        };
        let mut entries = Vec::with_capacity(logs.iter().map(Vec::len).sum());
        for mut log in logs {
            entries.append(&mut log);
            work.spares.push(log);
        }
        let batch = Batch::from_entries(entries, calendar, self.config.session_timeout);
        work.waiting
            .absorb(batch, self.config.session_timeout, self.config.max_entries);
        let result = self.send(work, now);
        let mut status = self.status.lock();
        status.pending_page_views =
            work.waiting.page_views() + work.inflight.iter().map(|p| p.page_views).sum::<u64>();
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

    /// Sends the parts in flight, then the waiting batch, then reads the changes.
    fn send(&self, work: &mut Work, now: i64) -> Result<(), SyncError> {
        let (since, epoch) = {
            let view = self.view.read();
            (view.site.since, view.site.epoch.clone())
        };
        let mut reply = None;
        loop {
            if work.inflight.is_empty() {
                if work.waiting.is_empty() {
                    break;
                }
                let batch = std::mem::take(&mut work.waiting);
                for part in batch.into_parts() {
                    let seq = work.next_seq;
                    work.next_seq += 1;
                    work.inflight.push_back(Part {
                        id: work.id,
                        seq,
                        bytes: part.encode(self.config.session_timeout, self.config.dedup_window),
                        page_views: part.page_views(),
                    });
                }
                let mut view = self.view.write();
                let waiting = std::mem::take(&mut view.waiting);
                view.inflight.absorb(waiting);
            }
            while let Some(part) = work.inflight.front() {
                let call = Call {
                    id: part.id,
                    seq: part.seq,
                    part: &part.bytes,
                    since,
                    now,
                };
                reply = Some(work.store.call(&call)?);
                work.inflight.pop_front();
            }
        }
        let read = |work: &mut Work, since: u64| {
            work.store.call(&Call {
                id: work.id,
                seq: 0,
                part: &[],
                since,
                now,
            })
        };
        let mut reply = match reply {
            Some(r) => r,
            None => read(work, since)?,
        };
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
        view.inflight = Delta::default();
        Ok(())
    }

    /// How syncing has gone; `live` page views are in the tables' logs, not cut yet.
    pub(crate) fn status(&self, live: u64) -> SyncStatus {
        let mut s = self.status.lock().clone();
        s.pending_page_views += live;
        s
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
