//! The session table: who is online, whose visit is still going on, and the memory bound.
//!
//! # Model
//! Each tracked visitor has one entry, the instant of its last page view and an "online" flag.
//! A page view starts a visit when the visitor has no entry or its last page view was at least
//! `session_timeout` ago. The table counts the visitors flagged online in one counter.
//!
//! # Keeping "online" exact without scanning
//! A visitor whose flag goes from off to on is queued (in its shard's buffer) with the instant
//! it came online. Upkeep moves the buffers into the online queue, ordered by that instant, and
//! takes out every entry at least `online_window` old: a visitor that was seen since is queued
//! again at its last page view; one that was not is flagged offline, leaves the online count and
//! is queued in the idle queue, which forgets it once `session_timeout` has passed. Every flagged
//! visitor always has a queue entry no later than its last page view, so after upkeep at
//! instant `t` the count is exactly the visitors whose last page view is after `t - online_window`.
//! Readings run upkeep first; its cost is proportional to the visitors that went offline since
//! the previous run, never to the number of tracked visitors. The queues (`expiry.rs`) cost
//! O(1) amortised per entry.
//!
//! # Bound
//! Past `max_sessions` entries, upkeep forgets the least recently seen: offline visitors in order
//! of their last page view first, then online ones in the same order (a queue entry whose visitor
//! was seen since is put back at its true instant before anything is removed). It forgets down to
//! `max_sessions` less 1/1024 of it (nothing less for a bound under 1024), so that a flood of new
//! visitors at the bound runs upkeep once per batch, not once per visitor: each costs O(1)
//! amortised there, as below the bound.
//!
//! # Saved and loaded
//! A save copies each shard's entries as flat records ([`SavedSessions`]), one shard at a time
//! under its lock. A load checks each record as it goes into its shard (instant in range, no key
//! twice), then builds both queues in one pass: a visitor flagged online is queued at its last
//! page view, one flagged offline in the idle queue at the same instant. So a crafted file can
//! make a load fail, never a table whose counts disagree with its entries.
//!
//! # Locking
//! A page view locks the visitor's shard for a few instructions; a visitor coming online also
//! pushes to the shard's buffer under the same lock. Upkeep holds the upkeep mutex (page views
//! only `try_lock` it and never wait) and locks one shard at a time.

use std::collections::hash_map::Entry as MapEntry;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

use parking_lot::Mutex;

use crate::calendar::clock::{pack, unpack};
use crate::common::stripes::Padded;
use crate::ids::{session_key, IdBuildHasher, VisitorId};
use crate::visitors::expiry::{Queue, Queued};
use crate::visitors::saved::{check_record, twice, SavedSessions};

/// An entry: the last page view and the online flag [`pack`]ed in one word (16 bytes per entry
/// with its key, which keeps 1M sessions near 50 bytes each).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Packed(u64);

impl Packed {
    #[inline]
    fn new(last_seen: i64, online: bool) -> Packed {
        Packed(pack(last_seen, online))
    }
    #[inline]
    fn last_seen(self) -> i64 {
        unpack(self.0).0
    }
    #[inline]
    fn online(self) -> bool {
        unpack(self.0).1
    }
}

/// What a page view did to its visitor's session.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Touch {
    /// The page view starts a visit.
    pub new_visit: bool,
    /// The visitor's previous page view, if it was still tracked.
    pub previous: Option<i64>,
    /// The shard has seen [`UPKEEP_EVERY`] page views since it last said so: time for the
    /// caller to try upkeep (this table's and its own tables').
    pub upkeep_due: bool,
}

/// Durations in nanoseconds and the bound, validated by the builder.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SessionConfig {
    pub online_window: i64,
    pub session_timeout: i64,
    pub max_sessions: usize,
}

#[derive(Default)]
struct Queues {
    /// Visitors flagged online, by the instant they were queued (at most their last page view).
    online: Queue,
    /// Visitors flagged offline, by their last page view.
    idle: Queue,
}

/// At the bound, the table forgets this fraction of `max_sessions` at a time (at least one).
const EVICTION_BATCH: usize = 1024;

/// Run opportunistic upkeep once per this many page views on a shard.
pub(crate) const UPKEEP_EVERY: u32 = 4096;

/// One shard: its visitors, the visitors that came online since upkeep last ran, and the
/// shard's share of whatever else a page view updates (`Share`: the counter's traffic counts and
/// sync log), so that a page view takes one lock, not two.
struct Shard<Share> {
    /// Visitors by session key.
    map: HashMap<u64, Packed, IdBuildHasher>,
    came_online: Vec<Queued>,
    /// Page views since the shard last said upkeep was due.
    since_upkeep: u32,
    share: Share,
}

impl<Share: Default> Default for Shard<Share> {
    fn default() -> Self {
        Shard {
            map: HashMap::default(),
            came_online: Vec::new(),
            since_upkeep: 0,
            share: Share::default(),
        }
    }
}

pub(crate) struct Sessions<Share> {
    shards: Box<[Padded<Mutex<Shard<Share>>>]>,
    /// `64 - log2(shards)`.
    shift: u32,
    len: Padded<AtomicUsize>,
    online: Padded<AtomicI64>,
    queues: Mutex<Queues>,
    cfg: SessionConfig,
}

impl<Share: Default> Sessions<Share> {
    pub(crate) fn new(cfg: SessionConfig) -> Sessions<Share> {
        Sessions::with_shards(cfg, shard_count())
    }

    /// A table of `n` shards (a power of two).
    fn with_shards(cfg: SessionConfig, n: usize) -> Sessions<Share> {
        Sessions {
            shards: (0..n).map(|_| Padded(Mutex::default())).collect(),
            shift: 64 - n.trailing_zeros(),
            len: Padded(AtomicUsize::new(0)),
            online: Padded(AtomicI64::new(0)),
            queues: Mutex::new(Queues::default()),
            cfg,
        }
    }
}

/// Shards: a power of two, four per available core, between 4 and 64 (as `DashMap` does).
fn shard_count() -> usize {
    let cores = std::thread::available_parallelism().map_or(4, |n| n.get());
    (cores * 4).next_power_of_two().clamp(4, 64)
}

impl<Share> Sessions<Share> {
    /// The shard of session key `k`: its top bits. (The shard's table hashes the key again, so
    /// its bucket index and control bytes do not depend on the shard.)
    #[inline]
    fn shard_index(&self, k: u64) -> usize {
        (k >> self.shift) as usize
    }

    #[inline]
    fn shard(&self, k: u64) -> &Mutex<Shard<Share>> {
        &self.shards[self.shard_index(k)]
    }

    /// Records a page view by `visitor` at `now`, then runs `f` on the page view (and whether
    /// it brought the visitor online) and the visitor's shard share under the same lock. Hot
    /// path: one shard lock; allocates only for a visitor the table does not hold yet (or when a
    /// shard's came-online buffer grows).
    #[inline]
    pub(crate) fn touch<R>(
        &self,
        visitor: VisitorId,
        now: i64,
        f: impl FnOnce(&Touch, bool, &mut Share) -> R,
    ) -> (Touch, R) {
        let k = session_key(visitor);
        let mut guard = self.shard(k).lock();
        let shard = &mut *guard;
        let (mut touch, came_online) = match shard.map.entry(k) {
            MapEntry::Occupied(mut e) => {
                let s = *e.get();
                let last = s.last_seen();
                *e.get_mut() = Packed::new(last.max(now), true);
                let touch = Touch {
                    new_visit: now.saturating_sub(last) >= self.cfg.session_timeout,
                    previous: Some(last),
                    upkeep_due: false,
                };
                (touch, !s.online())
            }
            MapEntry::Vacant(e) => {
                e.insert(Packed::new(now, true));
                self.len.fetch_add(1, Ordering::Relaxed);
                let touch = Touch {
                    new_visit: true,
                    previous: None,
                    upkeep_due: false,
                };
                (touch, true)
            }
        };
        if came_online {
            self.online.fetch_add(1, Ordering::Relaxed);
            shard.came_online.push((now, k));
        }
        shard.since_upkeep += 1;
        if shard.since_upkeep >= UPKEEP_EVERY {
            shard.since_upkeep = 0;
            touch.upkeep_due = true;
        }
        let r = f(&touch, came_online, &mut shard.share);
        (touch, r)
    }

    /// Runs `f` on each shard's share, locking one shard at a time.
    pub(crate) fn for_each_share(&self, mut f: impl FnMut(&mut Share)) {
        self.for_each_share_with_last_seen(|share, _| f(share));
    }

    /// Runs `f` on each shard's share, locking one shard at a time, with a lookup of the last
    /// page view of the shard's visitors by session key (those the table holds).
    pub(crate) fn for_each_share_with_last_seen(
        &self,
        mut f: impl FnMut(&mut Share, &dyn Fn(u64) -> Option<i64>),
    ) {
        for s in self.shards.iter() {
            let mut guard = s.lock();
            let Shard { map, share, .. } = &mut *guard;
            f(share, &|k| map.get(&k).map(|p| p.last_seen()));
        }
    }

    /// Runs `f` on the entry of `k`, if tracked, under its shard's lock.
    fn with_entry<R>(&self, k: u64, f: impl FnOnce(&mut Packed) -> R) -> Option<R> {
        self.shard(k).lock().map.get_mut(&k).map(f)
    }

    /// Whether `visitor` has a live session at `now`: a page view less than `session_timeout`
    /// before it.
    #[cfg_attr(not(feature = "web"), allow(dead_code))]
    pub(crate) fn in_visit(&self, visitor: VisitorId, now: i64) -> bool {
        self.with_entry(session_key(visitor), |e| {
            now.saturating_sub(e.last_seen()) < self.cfg.session_timeout
        })
        .unwrap_or(false)
    }

    /// Removes `k` when `remove` says so; true when removed.
    fn remove_if(&self, k: u64, remove: impl FnOnce(Packed) -> bool) -> bool {
        let mut shard = self.shard(k).lock();
        match shard.map.get(&k) {
            Some(&s) if remove(s) => {
                shard.map.remove(&k);
                true
            }
            _ => false,
        }
    }

    /// Whether the table holds more than `max_sessions` visitors.
    #[inline]
    pub(crate) fn over_bound(&self) -> bool {
        self.len.load(Ordering::Relaxed) > self.cfg.max_sessions
    }

    /// Runs upkeep unless another thread is running it. Never blocks.
    pub(crate) fn try_upkeep(&self, now: i64) {
        if let Some(mut q) = self.queues.try_lock() {
            self.upkeep_locked(&mut q, now);
        }
    }

    /// Runs upkeep, waiting for a concurrent run to finish; afterwards [`Sessions::online`] is
    /// exact for `now`.
    pub(crate) fn upkeep(&self, now: i64) {
        let mut q = self.queues.lock();
        self.upkeep_locked(&mut q, now);
    }

    /// Visitors flagged online (exact for the instant of the last [`Sessions::upkeep`]).
    pub(crate) fn online(&self) -> u64 {
        self.online.load(Ordering::Relaxed).max(0) as u64
    }

    /// The bound on visitors tracked.
    pub(crate) fn max_sessions(&self) -> usize {
        self.cfg.max_sessions
    }

    /// The online window, in nanoseconds.
    pub(crate) fn online_window(&self) -> i64 {
        self.cfg.online_window
    }

    /// Visitors tracked.
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    fn upkeep_locked(&self, q: &mut Queues, now: i64) {
        for s in self.shards.iter() {
            for e in s.lock().came_online.drain(..) {
                q.online.push(e);
            }
        }
        self.expire_online(q, now.saturating_sub(self.cfg.online_window));
        self.expire_idle(q, now.saturating_sub(self.cfg.session_timeout));
        self.evict(q);
        q.online.trim();
        q.idle.trim();
    }

    /// Flags offline every visitor whose last page view is at or before `edge`.
    fn expire_online(&self, q: &mut Queues, edge: i64) {
        while let Some((queued, v)) = q.online.peek() {
            if queued > edge {
                break;
            }
            q.online.pop();
            let mut requeue = None;
            let mut offline = None;
            self.with_entry(v, |e| {
                let s = *e;
                if s.online() {
                    let last = s.last_seen();
                    if last > edge {
                        requeue = Some((last, v));
                    } else {
                        *e = Packed::new(last, false);
                        offline = Some((last, v));
                    }
                }
            });
            if let Some(o) = offline {
                self.online.fetch_sub(1, Ordering::Relaxed);
                q.idle.push(o);
            }
            if let Some(r) = requeue {
                q.online.push(r);
            }
        }
    }

    /// Forgets offline visitors whose last page view is at or before `edge`.
    fn expire_idle(&self, q: &mut Queues, edge: i64) {
        while let Some((last, v)) = q.idle.peek() {
            if last > edge {
                break;
            }
            q.idle.pop();
            self.remove_offline(v, last);
        }
    }

    /// Removes `v` if it is offline and last seen at `last`; false for a stale queue entry.
    fn remove_offline(&self, v: u64, last: i64) -> bool {
        let removed = self.remove_if(v, |s| !s.online() && s.last_seen() == last);
        if removed {
            self.len.fetch_sub(1, Ordering::Relaxed);
        }
        removed
    }

    /// Forgets the least recently seen visitors once more than `max_sessions` are tracked: down
    /// to `max_sessions` less a batch of [`EVICTION_BATCH`]th of it, so that at the bound one
    /// upkeep (which locks every shard to gather who came online) serves a batch of new visitors
    /// rather than each one.
    fn evict(&self, q: &mut Queues) {
        if !self.over_bound() {
            return;
        }
        let max = self.cfg.max_sessions;
        // Counted once: visitors that other threads add meanwhile wait for the next upkeep, so
        // a flood cannot make this one forget more than the batch.
        let mut excess = self.len().saturating_sub(max - max / EVICTION_BATCH);
        while excess > 0 {
            if let Some((last, v)) = q.idle.pop() {
                if self.remove_offline(v, last) {
                    excess -= 1;
                }
            } else if let Some((queued, v)) = q.online.pop() {
                let removed = self.remove_if(v, |s| s.online() && s.last_seen() <= queued);
                if removed {
                    excess -= 1;
                    self.len.fetch_sub(1, Ordering::Relaxed);
                    self.online.fetch_sub(1, Ordering::Relaxed);
                } else if let Some(s) = self.with_entry(v, |e| *e) {
                    // Seen since it was queued: queue it again at its true last page view.
                    if s.online() {
                        q.online.push((s.last_seen(), v));
                    }
                }
            } else {
                break;
            }
        }
    }
}

impl<Share> Sessions<Share> {
    /// Every tracked session as flat records, written one shard at a time under its lock.
    pub(crate) fn saved(&self) -> SavedSessions<'static> {
        let mut saved = SavedSessions::with_capacity(self.len());
        for s in self.shards.iter() {
            saved.extend(s.lock().map.iter().map(|(&k, p)| (k, p.0)));
        }
        saved
    }

    /// Loads a snapshot's sessions into this empty table while nothing else can see it (hence
    /// `&mut self`: no locks). Each record is checked as it goes into its shard: its instant in
    /// range, its key not seen before. Then the queues are built. (A table larger than
    /// `max_sessions`, saved under a larger bound, forgets its least recently seen at the first
    /// upkeep.) On an error the table is left partly loaded, and the caller throws it away.
    pub(crate) fn load(&mut self, saved: &SavedSessions<'_>) -> Result<(), String> {
        debug_assert!(self.len() == 0);
        // Size each shard's table once, so that loading does not rehash.
        let mut per_shard = vec![0usize; self.shards.len()];
        for (k, _) in saved.records()? {
            per_shard[self.shard_index(k)] += 1;
        }
        for (shard, &n) in self.shards.iter_mut().zip(&per_shard) {
            shard.0.get_mut().map.reserve(n);
        }
        let mut online = Vec::new();
        let mut idle = Vec::new();
        for (k, packed) in saved.records()? {
            let (last_seen, is_online) = check_record(k, packed)?;
            let shard = self.shards[self.shard_index(k)].0.get_mut();
            if shard.map.insert(k, Packed(packed)).is_some() {
                return Err(twice(k));
            }
            match is_online {
                true => online.push((last_seen, k)),
                false => idle.push((last_seen, k)),
            }
        }
        *self.len.0.get_mut() = saved.len();
        *self.online.0.get_mut() = online.len() as i64;
        let queues = self.queues.get_mut();
        queues.online = Queue::from_unsorted(online);
        queues.idle = Queue::from_unsorted(idle);
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    /// A seeded xorshift generator of numbers below the bound it is given.
    pub(crate) fn below(seed: u64) -> impl FnMut(u64) -> u64 {
        let mut x = seed;
        move |n| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        }
    }

    fn table(max: usize) -> Sessions<()> {
        Sessions::new(SessionConfig {
            online_window: 300 * S,
            session_timeout: 1800 * S,
            max_sessions: max,
        })
    }

    #[test]
    fn packing_round_trips_at_the_range_ends() {
        for t in [
            crate::calendar::clock::MIN_NS,
            crate::calendar::clock::MIN_NS - 1,
            -1,
            0,
            1,
            crate::calendar::clock::BASE_NS,
            crate::calendar::clock::MAX_NS,
        ] {
            for online in [false, true] {
                let p = Packed::new(t, online);
                assert_eq!((p.last_seen(), p.online()), (t, online));
            }
        }
    }

    #[test]
    fn online_edges_are_exact() {
        let t = table(100);
        let v = VisitorId::from(1);
        let t0 = crate::calendar::clock::BASE_NS;
        t.touch(v, t0, |_, _, _| ());
        t.upkeep(t0 + 300 * S - 1);
        assert_eq!(t.online(), 1);
        t.upkeep(t0 + 300 * S);
        assert_eq!(t.online(), 0);
        assert_eq!(t.len(), 1);
        t.upkeep(t0 + 1800 * S);
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn a_visitor_seen_again_stays_online() {
        let t = table(100);
        let v = VisitorId::from(1);
        t.touch(v, 0, |_, _, _| ());
        t.touch(v, 200 * S, |_, _, _| ());
        t.upkeep(450 * S);
        assert_eq!(t.online(), 1);
        t.upkeep(500 * S);
        assert_eq!(t.online(), 0);
        // Back after going offline: online again, same visit (within the timeout).
        let touch = t.touch(v, 600 * S, |_, _, _| ()).0;
        assert!(!touch.new_visit);
        t.upkeep(600 * S);
        assert_eq!(t.online(), 1);
    }

    #[test]
    fn eviction_forgets_least_recently_seen() {
        let t = table(3);
        for i in 0..3u64 {
            t.touch(VisitorId::from(i), i as i64 * S, |_, _, _| ());
        }
        // Visitor 0 comes back: now 1 is the least recently seen.
        t.touch(VisitorId::from(0), 10 * S, |_, _, _| ());
        t.touch(VisitorId::from(9), 11 * S, |_, _, _| ());
        t.upkeep(11 * S);
        assert_eq!(t.len(), 3);
        assert!(
            t.touch(VisitorId::from(1), 12 * S, |_, _, _| ())
                .0
                .new_visit
        );
        assert!(
            !t.touch(VisitorId::from(0), 12 * S, |_, _, _| ())
                .0
                .new_visit
        );
        t.upkeep(12 * S);
        assert_eq!(t.online(), t.len() as u64);
    }

    /// A table restored from another's sessions behaves exactly as the original from then on:
    /// same page-view outcomes, online count and size after every upkeep, through eviction,
    /// expiry, a second save of a restored table, and restores onto a table of another shard
    /// count.
    #[test]
    fn a_restored_table_goes_on_exactly_as_the_original() {
        let mut next = below(0x9e37_79b9_7f4a_7c15u64);
        let restore = |from: &Sessions<()>, shards: usize| {
            let mut t = Sessions::with_shards(from.cfg, shards);
            t.load(&from.saved()).unwrap();
            t
        };
        for round in 0..40 {
            let max = 1 + next(30) as usize;
            let original = table(max);
            let mut restored: Option<Sessions<()>> = None;
            let mut now = crate::calendar::clock::BASE_NS;
            for step in 0..600 {
                match next(10) {
                    0..=5 => {
                        let v = VisitorId::from(next(40));
                        let a = original.touch(v, now, |_, _, _| ()).0;
                        if let Some(r) = &restored {
                            let b = r.touch(v, now, |_, _, _| ()).0;
                            assert_eq!(
                                (a.new_visit, a.previous),
                                (b.new_visit, b.previous),
                                "round {round} step {step}"
                            );
                        }
                    }
                    6 | 7 => now += [1, 60 * S, 400 * S, 2000 * S][next(4) as usize],
                    8 => {
                        original.upkeep(now);
                        if let Some(r) = &restored {
                            r.upkeep(now);
                            assert_eq!(
                                (original.online(), original.len()),
                                (r.online(), r.len()),
                                "round {round} step {step}"
                            );
                        }
                    }
                    _ => {
                        // Save the restored table if there is one, else the original; restore
                        // onto 4 or 64 shards.
                        let shards = [4, 64][next(2) as usize];
                        let from = restored.as_ref().unwrap_or(&original);
                        let r = restore(from, shards);
                        assert_eq!((r.online(), r.len()), (from.online(), from.len()));
                        restored = Some(r);
                    }
                }
            }
            if let Some(r) = &restored {
                now += 10_000 * S;
                original.upkeep(now);
                r.upkeep(now);
                assert_eq!((original.online(), original.len()), (r.online(), r.len()));
            }
        }
    }

    /// A load refuses records it cannot hold: a key saved twice, an instant out of range, a
    /// partial record. Sound records of any instant and flag load, in any order.
    #[test]
    fn a_load_refuses_records_that_would_break_the_table() {
        use crate::calendar::clock::{held, MAX_NS, MIN_NS};
        let t0 = crate::calendar::clock::BASE_NS;
        let load = |records: &[(u64, u64)]| {
            table(10).load(&SavedSessions::from_records(records.iter().copied()))
        };
        assert!(load(&[
            (1, pack(t0, true)),
            (2, pack(MIN_NS, false)),
            (3, pack(MAX_NS, true))
        ])
        .is_ok());
        let twice = load(&[
            (1, pack(t0, true)),
            (2, pack(t0, false)),
            (1, pack(t0, false)),
        ]);
        assert!(twice.unwrap_err().contains("saved twice"));
        // The word that `unpack`s to one nanosecond before the range.
        let out_of_range = pack(MIN_NS, false).wrapping_sub(1);
        assert!(!held(unpack(out_of_range).0));
        let err = load(&[(1, out_of_range)]).unwrap_err();
        assert!(err.contains("out of range"), "{err}");
    }

    /// A session stamped in the future (a clock that was ahead when it was saved) stays
    /// tracked and online until its time has passed, and its visitor goes on with its visit.
    #[test]
    fn a_future_session_stays_until_its_time_has_passed() {
        let t0 = crate::calendar::clock::BASE_NS;
        let later = t0 + 100 * 86_400 * S;
        let records = [
            (session_key(VisitorId::from(1)), pack(t0, false)),
            (session_key(VisitorId::from(2)), pack(later, true)),
        ];
        let mut t = table(100);
        t.load(&SavedSessions::from_records(records)).unwrap();
        t.upkeep(t0 + 2 * 1800 * S);
        assert_eq!(
            (t.len(), t.online()),
            (1, 1),
            "only the future session is left"
        );
        let touch = t.touch(VisitorId::from(2), later + S, |_, _, _| ()).0;
        assert_eq!((touch.new_visit, touch.previous), (false, Some(later)));
        t.upkeep(later + 2 * 1800 * S);
        assert_eq!((t.len(), t.online()), (0, 0));
    }
}
