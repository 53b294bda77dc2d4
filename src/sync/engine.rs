//! One sync: the cut, the batch and its parts, the calls to the store, and the status.
//!
//! # Exactly once
//! Every part carries the id of the counter that numbered it and a sequence number; the store
//! applies a part whose number it has already applied for this id as nothing. A part stays
//! here until a call with it returned: a call that failed (or timed out after the store had
//! applied it) is made again with the same part and number by the next sync, so each part
//! counts once. While parts wait (Redis down), what later syncs cut waits in one batch behind
//! them, bounded together with them (see `batch.rs`, "Bound"), and is numbered once they are
//! through. A save numbers everything (see [`Sharing::seal`]): a snapshot holds parts only.
//!
//! # Readings
//! The counts a cut takes from the counter's tables move, under the [`View`]'s write lock, into
//! the view's waiting delta, and into the in-flight delta when their batch is numbered; once
//! every part is through, the site's answer replaces the in-flight delta, under the same lock.
//! So a reading (which holds the view's read lock while it reads the tables) sees each page
//! view once: in the tables, in a delta, or in the site's numbers.
//!
//! # Locking
//! One sync or seal at a time (the work mutex, held across calls to the store). The view's
//! write lock is held while a cut takes the tables (each shard, the unique-visitor lock and the
//! article table one after the other) and numbers the batch, and while an answer is applied;
//! never during a call to the store.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

use crate::calendar::clock::from_nanos;
use crate::calendar::local::{Calendar, PeriodKeys};
use crate::calendar::periods::{Period, PeriodBuckets, Periods};
use crate::common::bounded;
use crate::ids::{random_u64, ArticleId};
use crate::sync::batch::Batch;
use crate::sync::log::{ShardLog, Taken};
use crate::sync::site::{Delta, Record, SavedDelta, SavedSite, Site};
use crate::sync::{ErrorKind, SyncError, SyncStatus};
use crate::visitors::traffic::{ShardTraffic, Tally, TrafficCounts};
use crate::visitors::unique::UniqueCounts;

/// Records a store answers per call at most.
pub(crate) const LIMIT: usize = 1_000;

/// Where a site's numbers are merged: a call applies a part (once) and answers what changed.
pub(crate) trait Store: Send {
    /// Applies `call.part` unless a part numbered `call.seq` was applied for `call.id` already
    /// (`seq` 0: nothing to apply), and answers the records changed since `call.since`.
    fn call(&mut self, call: &Call<'_>) -> Result<Reply, SyncError>;

    /// The server's eviction policy, when it is one that may evict the site's keys and the
    /// server lets the store read it.
    fn eviction_policy(&self) -> Option<String> {
        None
    }

    /// The site's secret key of local day `day` (a Julian day number): the one stored, or
    /// `proposal`, stored now to expire `lives` nanoseconds from now.
    fn day_key(
        &mut self,
        _day: i32,
        _proposal: [u8; 16],
        _lives: i64,
    ) -> Result<[u8; 16], SyncError> {
        Err(SyncError::new(
            ErrorKind::Reply,
            "this store keeps no day keys",
        ))
    }
}

/// One call to a [`Store`].
pub(crate) struct Call<'a> {
    /// The id of the counter that numbered the part.
    pub id: u64,
    pub seq: u64,
    pub part: &'a [u8],
    pub since: u64,
    /// The marker of what the counter read (see [`Mark`]).
    pub mark: Option<&'a Mark>,
    /// The counter's clock.
    pub now: i64,
    /// Apply the part even when it does not follow the last one applied for its id (see
    /// [`Reply::gap`]).
    pub gap_ok: bool,
    /// Whether to answer the records changed (a part followed by another in the same sync
    /// need not: only the last answer is read).
    pub answer: bool,
}

/// A marker of the site's changes (see `site.lua`, `mk`): while the site holds it, it holds
/// every change up to its number.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Mark {
    pub token: String,
    pub number: String,
}

/// A [`Store`]'s answer.
#[derive(Clone, Debug, Default)]
pub(crate) struct Reply {
    /// Names the site's data; another epoch means they were lost and started over.
    pub epoch: String,
    /// The last part the site applied for the call's counter id.
    pub applied: u64,
    /// The call's part number holds another counter's part: two live counters share the id.
    pub claimed: bool,
    /// The part does not follow the last one applied for its id, and was not applied: the site
    /// lost the parts in between (unless `gap_ok`).
    pub gap: bool,
    /// The site's last change number.
    pub last: u64,
    /// Visitors online at the call's `now`.
    pub online: u64,
    /// The server's clock.
    pub server_now: i64,
    /// The call's marker is gone: the site lost writes the counter had read.
    pub lost: bool,
    /// Records changed since `since`, oldest change first, at most [`LIMIT`].
    pub records: Vec<Record>,
    /// The marker at or after the last record answered.
    pub mark: Option<Mark>,
}

/// How this counter's batches are cut and bounded.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Config {
    /// Visitors, runs and article views the parts in flight and the waiting batch hold at most.
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
    /// Visitors, runs and article views it holds (what the bound counts).
    pub entries: u64,
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

/// What waits to reach the site: the parts in flight, then the waiting batch; and the parts
/// the site acknowledged lately, kept to be sent again if the site loses them.
#[derive(Default)]
struct Pending {
    parts: VecDeque<Part>,
    waiting: Batch,
    /// This counter's id (see [`Sharing`]).
    id: u64,
    /// The number the next part gets.
    next_seq: u64,
    /// Parts of this counter's id the site acknowledged, with when (by the counter's clock),
    /// for [`RETAIN`] and at most the bound's entries.
    acked: VecDeque<(Part, i64)>,
    /// The last part of this counter's id the site acknowledged, and when.
    acked_seq: u64,
    acked_at: i64,
}

/// How long acknowledged parts are kept, to be sent again if the site loses them (a Redis that
/// crashes under `appendfsync everysec`, a failover to a replica that lagged): a minute.
pub(crate) const RETAIN: i64 = 60 * 1_000_000_000;

/// How long the site keeps what it knows of a counter that stopped calling (its applied part
/// number: `site.lua`, `COUNTER_TTL`).
const COUNTER_TTL: i64 = 30 * 86_400 * 1_000_000_000;

struct Work {
    store: Box<dyn Store>,
    /// Emptied logs, handed back to the shards at the next cut.
    spares: Vec<Taken>,
}

/// A counter's share of a site: what it sends, and what it has read.
///
/// Its id is a random number drawn when it was built. Parts restored from a snapshot keep the
/// id that numbered them, so a part is applied once whichever counter sends it, and two
/// counters restored from copies of one snapshot number their own parts apart. A part carries
/// a digest of its bytes: when the site holds another part under the same id and number (two
/// live counters share the id: a forked process, a cloned machine), this counter draws a new
/// id and numbers its parts again.
///
/// Locks, in this order: the work mutex (one sync or seal at a time, held across calls to the
/// store), the view, the pending parts and batch (held briefly; status readings take it).
pub(crate) struct Sharing {
    config: Config,
    /// False for the sync state of a snapshot restored into a counter that does not share its
    /// site: kept, read and saved, never sent.
    sends: bool,
    pub(crate) view: RwLock<View>,
    work: Mutex<Work>,
    pending: Mutex<Pending>,
    status: Mutex<SyncStatus>,
    /// The site's secret keys of local days (Julian day numbers), today's and tomorrow's as
    /// fetched by the last syncs (see [`Sharing::day_key`]).
    day_keys: Mutex<Vec<(i32, [u64; 2])>>,
}

/// What [`Tables::for_each_shard`] runs on a shard: its log, its share of the visit and
/// page-view counts, and a lookup of its visitors' last page views by session key.
pub(crate) type ShardVisit<'a> =
    dyn FnMut(&mut ShardLog, &mut ShardTraffic, &dyn Fn(u64) -> Option<i64>) + 'a;

/// The counter's tables, as a sync cuts them (`counter.rs` implements it).
pub(crate) trait Tables {
    /// The counter's clock.
    fn now(&self) -> i64;
    /// Runs `f` on each session shard, one locked at a time.
    fn for_each_shard(&self, f: &mut ShardVisit<'_>);
    /// Takes the distinct visitors recorded since the last cut.
    fn take_visitors(&self) -> UniqueCounts;
    /// Takes the article views counted since the last cut.
    fn take_articles(&self) -> Vec<(ArticleId, PeriodBuckets<u64>)>;
}

/// What a cut took from the counter's tables: their logs, one per shard, the last page view of
/// each visitor they name (from the session table), and their counts.
pub(crate) struct Cut {
    pub logs: Vec<Taken>,
    pub lasts: Vec<(u64, i64)>,
    pub delta: Delta,
}

impl Cut {
    /// Takes everything the tables recorded since the last cut: each shard's log (swapping in
    /// a spare) and counts, the distinct visitors, the article counts.
    pub(crate) fn of(tables: &dyn Tables, spares: &mut Vec<Taken>) -> Cut {
        let (mut logs, mut lasts) = (Vec::new(), Vec::new());
        let mut traffic = TrafficCounts::default();
        let mut came_online = 0;
        tables.for_each_shard(&mut |log, shard_traffic, last_seen| {
            // Read under the shard's lock: every page view logged so far is at or before it.
            if let Some((log, online)) = log.take(spares.pop().unwrap_or_default(), tables.now()) {
                // Each visitor logged, with its last page view: from the session table, or (a
                // visitor forgotten since) the latest page view logged.
                let logged = log.starts.iter().map(|s| (s.key, s.at));
                let logged = logged.chain(log.views.iter().map(|v| (v.key, v.at)));
                lasts.extend(logged.map(|(key, at)| (key, last_seen(key).unwrap_or(at).max(at))));
                logs.push(log);
                came_online += online;
            }
            let counts = shard_traffic.take_counts();
            traffic.periods.merge(&counts.periods);
            traffic.days.merge(&counts.days);
        });
        let delta = Delta::of(
            traffic,
            tables.take_visitors(),
            tables.take_articles(),
            came_online,
        );
        Cut { logs, lasts, delta }
    }
}

impl Sharing {
    pub(crate) fn new(config: Config, store: Box<dyn Store>, id: u64) -> Sharing {
        Sharing {
            config,
            sends: true,
            view: RwLock::new(View::default()),
            work: Mutex::new(Work {
                store,
                spares: Vec::new(),
            }),
            pending: Mutex::new(Pending {
                id,
                next_seq: 1,
                ..Pending::default()
            }),
            status: Mutex::new(SyncStatus::default()),
            day_keys: Mutex::new(Vec::new()),
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
            max_entries: usize::MAX,
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

    /// Takes what the tables recorded into the waiting batch and delta (`cut` gets spare logs
    /// to swap in), under the view's write lock and the pending lock, which the caller holds:
    /// each page view is then in exactly one place for readings and saves. The batch is bounded
    /// together with the parts in flight (see `batch.rs`, "Bound").
    fn cut(
        &self,
        view: &mut View,
        pending: &mut Pending,
        calendar: &Calendar,
        spares: &mut Vec<Taken>,
        cut: impl FnOnce(&mut Vec<Taken>) -> Cut,
    ) {
        let Cut { logs, lasts, delta } = cut(spares);
        let mut all = Taken::default();
        for mut log in logs {
            all.starts.append(&mut log.starts);
            all.views.append(&mut log.views);
            for (&day, c) in &log.counts {
                let mine = all.counts.entry(day).or_default();
                mine.visits += c.visits;
                mine.visitors += c.visitors;
            }
            for (&k, &n) in &log.alone_views {
                *all.alone_views.entry(k).or_default() += n;
            }
            spares.push(log);
        }
        let page_views = delta.traffic.days.iter().map(|(d, t)| (d, t.page_views));
        let batch = Batch::from_log(all, lasts, page_views, calendar.week_start);
        view.waiting.absorb(delta);
        let in_parts: u64 = pending.parts.iter().map(|p| p.entries).sum();
        let room = self
            .config
            .max_entries
            .saturating_sub(usize::try_from(in_parts).unwrap_or(usize::MAX));
        pending.waiting.absorb(batch, room);
    }

    /// Numbers the waiting batch into parts after those in flight, and moves its delta with
    /// them, under the locks the caller holds.
    fn number(&self, view: &mut View, pending: &mut Pending) {
        if pending.waiting.is_empty() {
            return;
        }
        for part in std::mem::take(&mut pending.waiting).into_parts() {
            let seq = pending.next_seq;
            pending.next_seq += 1;
            pending.parts.push_back(Part {
                id: pending.id,
                seq,
                bytes: Arc::new(part.encode()),
                page_views: part.page_views(),
                entries: part.entries() as u64,
            });
        }
        let waiting = std::mem::take(&mut view.waiting);
        view.inflight.absorb(waiting);
    }

    /// Seals what the tables recorded for a save, and answers the sync state to save: cuts the
    /// tables and numbers everything into parts, sending nothing. A snapshot then holds only
    /// numbered parts, which a counter restored from it sends under the numbers they have:
    /// applied once, whether a sync after the save sent them already or not. Waits for a sync
    /// in progress, so that no part is sent while a save numbers more.
    pub(crate) fn seal(
        &self,
        calendar: &Calendar,
        cut: impl FnOnce(&mut Vec<Taken>) -> Cut,
    ) -> SavedSync {
        let _work = self.work.lock();
        let mut view = self.view.write();
        let mut pending = self.pending.lock();
        self.cut(&mut view, &mut pending, calendar, &mut Vec::new(), cut);
        self.number(&mut view, &mut pending);
        saved(&view, &pending)
    }

    /// Syncs once: takes what the tables recorded, sends it and whatever earlier syncs could
    /// not, and reads the site's changes. While earlier parts are in flight (Redis down), what
    /// the tables recorded waits in one batch, numbered once they are through (in `send`).
    pub(crate) fn sync(
        &self,
        now: i64,
        calendar: &Calendar,
        cut: impl FnOnce(&mut Vec<Taken>) -> Cut,
    ) -> Result<(), SyncError> {
        let mut work = self.work.lock();
        let work = &mut *work;
        {
            let mut view = self.view.write();
            let mut pending = self.pending.lock();
            self.cut(&mut view, &mut pending, calendar, &mut work.spares, cut);
        }
        let result = self.send(work, now);
        if result.is_ok() {
            self.fetch_day_keys(work, calendar, now);
        }
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

    /// The site's secret key of local day `day` (a Julian day number), once a sync fetched it:
    /// cookieless visitor ids taken under it agree on every counter of the site. The site keeps
    /// a day's key until an hour after the day (by this counter's calendar), and every counter
    /// forgets it with the day; the first counter that needs it draws it.
    pub(crate) fn day_key(&self, day: i32) -> Option<[u64; 2]> {
        let keys = self.day_keys.lock();
        keys.iter().find(|(d, _)| *d == day).map(|(_, k)| *k)
    }

    /// Fetches (or makes) the site's keys of today and tomorrow, when not held yet; a failure
    /// leaves it to the next sync.
    fn fetch_day_keys(&self, work: &mut Work, calendar: &Calendar, now: i64) {
        let today = calendar.day(now);
        let tomorrow = calendar.day(today.end);
        let mut keys = self.day_keys.lock();
        keys.retain(|(d, _)| *d >= today.date.to_julian_day());
        for day in [today, tomorrow] {
            let julian = day.date.to_julian_day();
            if keys.iter().any(|(d, _)| *d == julian) {
                continue;
            }
            let mut proposal = [0; 16];
            proposal[..8].copy_from_slice(&random_u64().to_le_bytes());
            proposal[8..].copy_from_slice(&random_u64().to_le_bytes());
            // Until an hour after the day (by this counter's clock; the server counts it down).
            let lives = day.end.saturating_add(3_600 * 1_000_000_000) - now;
            if let Ok(key) = work.store.day_key(julian, proposal, lives) {
                let half = |i: usize| {
                    let mut b = [0; 8];
                    b.copy_from_slice(&key[i..i + 8]);
                    u64::from_le_bytes(b)
                };
                keys.push((julian, [half(0), half(8)]));
            }
        }
    }

    /// Page views in the parts in flight and the waiting batch.
    fn pending_page_views(&self) -> u64 {
        let pending = self.pending.lock();
        pending.waiting.page_views() + pending.parts.iter().map(|p| p.page_views).sum::<u64>()
    }

    /// Sends the parts in flight (numbered by an earlier sync or a save), then numbers and
    /// sends the batch that waited behind them, then reads the changes. Parts the site
    /// acknowledged and lost are sent again first, while this counter keeps them.
    fn send(&self, work: &mut Work, now: i64) -> Result<(), SyncError> {
        let (since, epoch, mark) = {
            let view = self.view.read();
            let site = &view.site;
            (site.since, site.epoch.clone(), site.mark.clone())
        };
        self.forget_acked(now);
        let mut resent = false;
        let mut reply = loop {
            self.send_parts(work, since, now)?;
            let id = self.pending.lock().id;
            let reply = work.store.call(&read_call(id, since, mark.as_ref(), now))?;
            // Once a sync: the parts it puts back are sent by the same sync.
            if resent || !self.resend_lost(reply.applied, now) {
                break reply;
            }
            resent = true;
        };
        {
            let mut status = self.status.lock();
            status.clock_offset = Some(time::Duration::nanoseconds(
                now.saturating_sub(reply.server_now),
            ));
            status.eviction_policy = work.store.eviction_policy();
        }
        // Data that started over or lost writes this counter had read (another epoch, its
        // marker gone, a change number below what was read: a Redis restarted from a file
        // older than its last answers) are read from their start; so are they by a counter that
        // has no marker of what it read (restored from a snapshot).
        let fresh = epoch.as_ref().is_some_and(|e| *e != reply.epoch)
            || reply.lost
            || reply.last < since
            || (since > 0 && mark.is_none());
        let id = self.pending.lock().id;
        if fresh {
            reply = work.store.call(&read_call(id, 0, None, now))?;
        }
        let mut records = std::mem::take(&mut reply.records);
        while records.len() % LIMIT == 0 && !records.is_empty() {
            let last = records.last().map_or(0, |r| r.number);
            let more = work.store.call(&read_call(id, last, None, now))?;
            reply.online = more.online;
            reply.mark = more.mark;
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
        site.mark = reply.mark;
        site.online = reply.online;
        site.synced_at = Some(now);
        // Every part is through (nothing numbers more while the work mutex is held): the site's
        // numbers hold what was in flight.
        if self.pending.lock().parts.is_empty() {
            view.inflight = Delta::default();
        }
        Ok(())
    }

    /// Sends the parts in flight, then numbers the batch that waited behind them and sends it.
    fn send_parts(&self, work: &mut Work, since: u64, now: i64) -> Result<(), SyncError> {
        let mut gap_ok = false;
        loop {
            let (next, id) = {
                let pending = self.pending.lock();
                (pending.parts.front().cloned(), pending.id)
            };
            let Some(part) = next else {
                // The parts from before are through (or there were none): the batch that
                // waited behind them is numbered and follows, once.
                let mut view = self.view.write();
                let mut pending = self.pending.lock();
                self.number(&mut view, &mut pending);
                if pending.parts.is_empty() {
                    return Ok(());
                }
                continue;
            };
            let call = Call {
                id: part.id,
                seq: part.seq,
                part: &part.bytes,
                since,
                mark: None,
                now,
                // Parts of another id (restored from a snapshot) follow no part of this one's.
                gap_ok: gap_ok || part.id != id,
                answer: false,
            };
            let reply = match work.store.call(&call) {
                Ok(r) => r,
                // A part the site cannot read would stop every sync: it is dropped, and said.
                Err(e) if e.is_malformed_part() => {
                    self.pending.lock().parts.pop_front();
                    return Err(e);
                }
                Err(e) => return Err(e),
            };
            let mut pending = self.pending.lock();
            if reply.claimed {
                self.renumber(&mut pending);
                continue;
            }
            if reply.gap {
                // The site lost parts before this one: those still kept go first, and the
                // rest is counted lost.
                self.put_back(&mut pending, reply.applied, part.seq);
                gap_ok = true;
                continue;
            }
            gap_ok = false;
            pending.parts.pop_front();
            if part.id == pending.id {
                pending.acked_seq = pending.acked_seq.max(part.seq);
                pending.acked_at = now;
                pending.acked.push_back((part, now));
            }
        }
    }

    /// Another live counter holds this counter's id: draws a new one, and numbers the parts of
    /// the old one that wait again, in order, under it.
    fn renumber(&self, pending: &mut Pending) {
        let old = pending.id;
        pending.id = random_u64();
        pending.next_seq = 1;
        pending.acked.clear();
        pending.acked_seq = 0;
        for part in pending.parts.iter_mut().filter(|p| p.id == old) {
            part.id = pending.id;
            part.seq = pending.next_seq;
            pending.next_seq += 1;
        }
    }

    /// When the site holds fewer of this counter's parts than it acknowledged (`applied`, while
    /// it still keeps what it knows of the counter), puts those it lost back in front of the
    /// parts in flight (see [`put_back`](Self::put_back)), and answers whether it did.
    fn resend_lost(&self, applied: u64, now: i64) -> bool {
        let mut pending = self.pending.lock();
        let lost =
            pending.acked_seq > applied && now.saturating_sub(pending.acked_at) < COUNTER_TTL;
        if lost {
            let next = pending.next_seq;
            self.put_back(&mut pending, applied, next);
        }
        lost
    }

    /// Drops the acknowledged parts older than [`RETAIN`], and the oldest past the bound.
    fn forget_acked(&self, now: i64) {
        let mut pending = self.pending.lock();
        let mut kept: u64 = pending.acked.iter().map(|(p, _)| p.entries).sum();
        let bound = self.config.max_entries as u64;
        while let Some((part, at)) = pending.acked.front() {
            if now.saturating_sub(*at) < RETAIN && kept <= bound {
                break;
            }
            kept -= part.entries;
            pending.acked.pop_front();
        }
    }

    /// Puts the acknowledged parts numbered after `applied` and before `before` back in front
    /// of the parts in flight, in order, and counts those no longer kept as lost.
    fn put_back(&self, pending: &mut Pending, applied: u64, before: u64) {
        let lost: Vec<Part> = pending
            .acked
            .iter()
            .map(|(p, _)| p)
            .filter(|p| p.seq > applied && p.seq < before)
            .cloned()
            .collect();
        pending
            .acked
            .retain(|(p, _)| p.seq <= applied || p.seq >= before);
        let missing = before
            .saturating_sub(applied + 1)
            .min(pending.acked_seq.saturating_sub(applied));
        self.status.lock().lost_parts += missing.saturating_sub(lost.len() as u64);
        for part in lost.into_iter().rev() {
            pending.parts.push_front(part);
        }
        pending.acked_seq = pending.acked_seq.min(applied);
    }

    /// How syncing has gone; `live` page views are in the tables' logs, not cut yet.
    pub(crate) fn status(&self, live: u64) -> SyncStatus {
        let mut s = self.status.lock().clone();
        s.pending_page_views = self.pending_page_views() + live;
        s
    }

    /// The sync state as a snapshot holds it, of a counter that does not send (one that sends
    /// saves what [`seal`](Self::seal) answers).
    pub(crate) fn saved(&self) -> SavedSync {
        saved(&self.view.read(), &self.pending.lock())
    }

    /// Takes a snapshot's vetted sync state into this fresh counter's.
    pub(crate) fn restore(&self, saved: SavedSync) {
        let mut view = self.view.write();
        view.site = Site::restored(saved.site);
        view.inflight = Delta::restored(saved.inflight);
        self.pending.lock().parts = saved.parts.into();
    }
}

/// A call that applies nothing and answers the records changed since `since`.
fn read_call<'a>(id: u64, since: u64, mark: Option<&'a Mark>, now: i64) -> Call<'a> {
    Call {
        id,
        seq: 0,
        part: &[],
        since,
        mark,
        now,
        gap_ok: false,
        answer: true,
    }
}

/// The sync state to save, read under the caller's locks.
fn saved(view: &View, pending: &Pending) -> SavedSync {
    let mut inflight = view.inflight.clone();
    inflight.absorb(view.waiting.clone());
    SavedSync {
        parts: pending.parts.iter().cloned().collect(),
        site: view.site.saved(),
        inflight: inflight.saved(),
    }
}

/// A shared counter's sync state as a snapshot holds it: the parts not known to be applied
/// (with the id and number of the counter that numbered them), the site's numbers as last
/// read, and the counts of those parts, which readings add to them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct SavedSync {
    #[serde(deserialize_with = "bounded::vec")]
    pub parts: Vec<Part>,
    pub site: SavedSite,
    pub inflight: SavedDelta,
}

impl SavedSync {
    /// Checks what a restore relies on: well-formed buckets, instants in range.
    pub(crate) fn validate(&self) -> Result<(), String> {
        self.site.validate()?;
        self.inflight.validate()
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use time::{UtcOffset, Weekday};

    use super::*;
    use crate::calendar::local::Zone;
    use crate::sync::log::Start;

    const S: i64 = 1_000_000_000;
    /// 2026-01-29T00:00Z.
    const DAY0: i64 = 1_769_644_800 * S;
    const JD0: i32 = 2_461_070;

    /// A store that is down until `up` is set, then applies every part it is given once.
    struct Flaky {
        up: Arc<AtomicBool>,
        applied: Arc<Mutex<Vec<(u64, u64)>>>,
    }

    impl Store for Flaky {
        fn call(&mut self, call: &Call<'_>) -> Result<Reply, SyncError> {
            if !self.up.load(Ordering::Relaxed) {
                return Err(SyncError::new(ErrorKind::Connection, "down"));
            }
            let mut applied = self.applied.lock();
            if call.seq > 0 {
                applied.push((call.id, call.seq));
            }
            let last = applied.iter().filter(|a| a.0 == call.id).map(|a| a.1).max();
            Ok(Reply {
                epoch: "e".into(),
                applied: last.unwrap_or(0),
                ..Reply::default()
            })
        }
    }

    /// A cut of one page view by each of `visitors` at `at`, each starting a visit.
    fn cut_of(visitors: std::ops::Range<u64>, at: i64) -> impl FnOnce(&mut Vec<Taken>) -> Cut {
        move |_| {
            let starts: Vec<Start> = visitors
                .clone()
                .map(|key| Start {
                    key,
                    at,
                    prior: i64::MIN,
                    day: JD0,
                    new_visit: true,
                    new_day: false,
                })
                .collect();
            let lasts = visitors.map(|k| (k, at)).collect();
            Cut {
                logs: vec![Taken {
                    starts,
                    ..Taken::default()
                }],
                lasts,
                delta: Delta::default(),
            }
        }
    }

    fn entries(sharing: &Sharing) -> u64 {
        let pending = sharing.pending.lock();
        pending.parts.iter().map(|p| p.entries).sum::<u64>() + pending.waiting.entries() as u64
    }

    #[test]
    fn while_the_store_is_down_what_waits_stays_within_the_bound_and_is_sent_once_after() {
        let up = Arc::new(AtomicBool::new(false));
        let applied = Arc::new(Mutex::new(Vec::new()));
        let store = Flaky {
            up: up.clone(),
            applied: applied.clone(),
        };
        let config = Config { max_entries: 500 };
        let sharing = Sharing::new(config, Box::new(store), 7);
        let calendar = Calendar {
            zone: Zone::Fixed(UtcOffset::UTC),
            week_start: Weekday::Monday,
        };
        // 30 syncs of 100 visitors each (a visitor and its run: 200 entries), a save between.
        for i in 0..30_i64 {
            let at = DAY0 + i * 60 * S;
            let visitors = (i as u64 % 7) * 100..(i as u64 % 7) * 100 + 100;
            if i == 10 {
                let saved = sharing.seal(&calendar, cut_of(visitors, at));
                assert!(!saved.parts.is_empty());
                continue;
            }
            assert!(sharing.sync(at, &calendar, cut_of(visitors, at)).is_err());
            assert!(
                entries(&sharing) <= 500,
                "{} entries wait",
                entries(&sharing)
            );
        }
        up.store(true, Ordering::Relaxed);
        sharing
            .sync(DAY0 + 3_600 * S, &calendar, |_| Cut {
                logs: Vec::new(),
                lasts: Vec::new(),
                delta: Delta::default(),
            })
            .unwrap();
        assert_eq!(entries(&sharing), 0);
        // Every part numbered, in order, once: the parts from before, then the batch that
        // waited behind them.
        let applied = applied.lock().clone();
        let want: Vec<(u64, u64)> = (1..=applied.len() as u64).map(|seq| (7, seq)).collect();
        assert_eq!(applied, want);
        assert!(applied.len() >= 2);
    }

    /// A store that applies parts as the site's script does (once per id and number; another
    /// part under a known number is claimed), and can forget the parts applied after a point,
    /// as a Redis restarted from an older file does.
    /// A part as [`Site`] applied it: id, seq, digest, page views.
    type Applied = (u64, u64, u64, u64);

    #[derive(Clone, Default)]
    struct Site {
        /// Each part applied, in order.
        applied: Arc<Mutex<Vec<Applied>>>,
    }

    impl Site {
        fn forget_after(&self, n: usize) {
            self.applied.lock().truncate(n);
        }
        fn page_views(&self) -> u64 {
            self.applied.lock().iter().map(|a| a.3).sum()
        }
    }

    impl Store for Site {
        fn call(&mut self, call: &Call<'_>) -> Result<Reply, SyncError> {
            let mut applied = self.applied.lock();
            let digest = xxhash_rust::xxh3::xxh3_64(call.part);
            let last = |a: &Vec<Applied>| a.iter().filter(|x| x.0 == call.id).map(|x| x.1).max();
            let (mut claimed, mut gap) = (false, false);
            let known = last(&applied).unwrap_or(0);
            if call.seq > 0 {
                match applied.iter().find(|x| (x.0, x.1) == (call.id, call.seq)) {
                    Some(x) => claimed = x.2 != digest,
                    None if call.seq > known + 1 && !call.gap_ok => gap = true,
                    None if call.seq > known => {
                        // The first day's page views (see `Batch::encode`).
                        let page_views = u64::from_le_bytes(call.part[20..28].try_into().unwrap());
                        applied.push((call.id, call.seq, digest, page_views));
                    }
                    None => {}
                }
            }
            Ok(Reply {
                epoch: "e".into(),
                applied: last(&applied).unwrap_or(0),
                claimed,
                gap,
                ..Reply::default()
            })
        }
    }

    /// A cut of `page_views` page views on day 0.
    fn views(page_views: u64) -> impl FnOnce(&mut Vec<Taken>) -> Cut {
        move |_| {
            let mut delta = Delta::default();
            if let Some(t) = delta.traffic.days.slot_mut(JD0) {
                t.page_views = page_views;
            }
            Cut {
                logs: Vec::new(),
                lasts: Vec::new(),
                delta,
            }
        }
    }

    fn utc() -> Calendar {
        Calendar {
            zone: Zone::Fixed(UtcOffset::UTC),
            week_start: Weekday::Monday,
        }
    }

    #[test]
    fn parts_the_site_lost_are_sent_again_while_kept() {
        let site = Site::default();
        let sharing = Sharing::new(Config { max_entries: 1_000 }, Box::new(site.clone()), 7);
        for i in 1..=5 {
            sharing.sync(DAY0 + i * S, &utc(), views(10)).unwrap();
        }
        assert_eq!(site.page_views(), 50);
        // The site loses the last two parts; the next sync notices and sends them again.
        site.forget_after(3);
        sharing.sync(DAY0 + 6 * S, &utc(), views(1)).unwrap();
        assert_eq!(site.page_views(), 51);
        assert_eq!(sharing.status(0).lost_parts, 0);
        // Parts acknowledged longer ago than they are kept: counted as lost.
        site.forget_after(4);
        sharing
            .sync(DAY0 + 6 * S + RETAIN + S, &utc(), views(1))
            .unwrap();
        assert_eq!(site.page_views(), 41);
        assert_eq!(sharing.status(0).lost_parts, 2);
    }

    #[test]
    fn a_counter_whose_id_another_counter_holds_numbers_its_parts_again() {
        let site = Site::default();
        let config = Config { max_entries: 1_000 };
        // Two counters with one id (a forked process), each with parts of its own.
        let a = Sharing::new(config, Box::new(site.clone()), 7);
        let b = Sharing::new(config, Box::new(site.clone()), 7);
        a.sync(DAY0 + S, &utc(), views(3)).unwrap();
        b.sync(DAY0 + S, &utc(), views(4)).unwrap();
        b.sync(DAY0 + 2 * S, &utc(), views(5)).unwrap();
        a.sync(DAY0 + 2 * S, &utc(), views(6)).unwrap();
        assert_eq!(site.page_views(), 18);
        let ids: std::collections::BTreeSet<u64> =
            site.applied.lock().iter().map(|x| x.0).collect();
        assert_eq!(ids.len(), 2, "one of them took a new id");
    }
}
