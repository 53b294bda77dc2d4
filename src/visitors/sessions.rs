//! The session table: who is online, whose visit is still going on, and the memory bound.
//!
//! # Model
//! Each tracked visitor has one entry, the instant of its last page view and an "online" flag.
//! A page view starts a visit when the visitor has no entry or its last page view was at least
//! `session_timeout` ago. The table counts the visitors flagged online in one counter.
//!
//! # Keeping "online" exact without scanning
//! A visitor whose flag goes from off to on is queued (in a per-thread-stripe buffer) with the
//! instant it came online. Upkeep moves the buffers into a min-heap ordered by that instant and
//! pops every entry at least `online_window` old: a visitor that was seen since is queued again
//! at its last page view; one that was not is flagged offline, leaves the online count and is
//! queued in a second heap, which drops it once `session_timeout` has passed. Every flagged
//! visitor always has a queue entry no later than its last page view, so after upkeep at
//! instant `t` the count is exactly the visitors whose last page view is after `t - online_window`.
//! Readings run upkeep first; its cost is proportional to the visitors that went offline since
//! the previous run, never to the number of tracked visitors.
//!
//! # Bound
//! Past `max_sessions` entries, upkeep forgets the least recently seen: offline visitors in order
//! of their last page view first, then online ones in the same order (a queue entry whose visitor
//! was seen since is put back at its true instant before anything is removed). Restored
//! sessions are forgotten in the order their snapshot's time orders give, which a crafted file
//! can get wrong (see `restored.rs`, "Trust").
//!
//! # Restored sessions
//! A counter restored from a snapshot does not rebuild this table: each shard keeps its part of
//! the snapshot's sorted session records and each queue a cursor over their time order (see
//! `restored.rs`). A visitor the table does not hold is looked up there and taken into the table
//! by its first page view, or by upkeep when its queue entry comes up, so the model above holds
//! for restored visitors as for the others. When the bytes are released is in `restored.rs`
//! ("Memory").
//!
//! # Locking
//! A page view locks the visitor's shard for a few instructions (a visitor the table does not
//! hold also searches the shard's restored records, if any, under that lock); a visitor coming
//! online also pushes to the shard's buffer under the same lock. Upkeep holds the upkeep mutex
//! (page views only `try_lock` it and never wait) and locks one shard at a time.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

use std::collections::hash_map::Entry as MapEntry;
use std::collections::HashMap;

use parking_lot::Mutex;

use crate::calendar::clock::{pack, unpack};
use crate::common::stripes::Padded;
use crate::ids::{session_key, IdBuildHasher, VisitorId};
use crate::visitors::restored::{Kind, Ordered, RestoredColumn, RestoredShard};
use crate::visitors::saved::{record, SavedSessions, SessionTable};

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

/// (instant, session key): when a visitor was queued, and who.
type Queued = (i64, u64);

/// A min-queue of [`Queued`] entries: a heap, merged with the restored sessions' time order
/// while a snapshot's sessions are being taken in.
#[derive(Default)]
struct Queue {
    heap: BinaryHeap<Reverse<Queued>>,
    restored: Option<Ordered>,
}

impl Queue {
    #[inline]
    fn peek(&self) -> Option<Queued> {
        let heap = self.heap.peek().map(|r| r.0);
        match (heap, self.restored.as_ref().and_then(Ordered::peek)) {
            (Some(h), Some(r)) => Some(h.min(r)),
            (h, r) => h.or(r),
        }
    }

    fn pop(&mut self) -> Option<Queued> {
        let restored = self.restored.as_ref().and_then(Ordered::peek);
        match self.heap.peek() {
            Some(&Reverse(h)) if restored.is_none_or(|r| h <= r) => self.heap.pop().map(|r| r.0),
            _ => self.pop_restored(),
        }
    }

    fn pop_restored(&mut self) -> Option<Queued> {
        let cursor = self.restored.as_mut()?;
        let head = cursor.peek();
        if !cursor.advance() {
            // Through, nearly through, or not sorted.
            self.drain_restored();
        }
        head
    }

    /// Moves what is left of the restored order into the heap, letting go of its bytes: its
    /// entries, then the records no entry named if it was faulty (see `restored.rs`, "Trust"),
    /// whether a page view took them in meanwhile or not.
    fn drain_restored(&mut self) {
        if let Some(mut cursor) = self.restored.take() {
            self.heap.extend(cursor.rest().map(Reverse));
            self.heap.extend(cursor.unnamed().map(Reverse));
        }
    }

    /// Reads a restored order through `cursor`, merged with the heap (at once, when the
    /// cursor holds no entry).
    fn read_restored(&mut self, cursor: Ordered) {
        let through = cursor.peek().is_none();
        self.restored = Some(cursor);
        if through {
            self.drain_restored();
        }
    }

    fn push(&mut self, entry: Queued) {
        self.heap.push(Reverse(entry));
    }
}

#[derive(Default)]
struct Queues {
    /// Visitors flagged online, by the instant they were queued (at most their last page view).
    online: Queue,
    /// Visitors flagged offline, by their last page view.
    idle: Queue,
    /// Whether shards may still hold restored sessions.
    restored_parts: bool,
}

/// Run opportunistic upkeep once per this many page views on a shard.
pub(crate) const UPKEEP_EVERY: u32 = 4096;

/// One shard: its visitors, the visitors that came online since upkeep last ran, and the
/// shard's share of whatever else a page view updates (`Share`: the counter's traffic counts and
/// sync log), so that a page
/// view takes one lock, not two.
struct Shard<Share> {
    /// Visitors by session key.
    map: HashMap<u64, Packed, IdBuildHasher>,
    came_online: Vec<Queued>,
    /// Page views since the shard last said upkeep was due.
    since_upkeep: u32,
    share: Share,
    /// This shard's restored sessions not taken into `map` yet.
    restored: Option<RestoredShard>,
}

impl<Share> Shard<Share> {
    /// The entry of session key `k`: in the table, or taken into it from the restored sessions.
    fn entry(&mut self, k: u64) -> Option<&mut Packed> {
        match self.map.entry(k) {
            MapEntry::Occupied(e) => Some(e.into_mut()),
            MapEntry::Vacant(e) => take_restored(&mut self.restored, k).map(|p| e.insert(p)),
        }
    }
}

/// Takes the restored session of key `k` out of `restored`, dropping the shard's part once it is
/// spent.
#[inline]
fn take_restored(restored: &mut Option<RestoredShard>, k: u64) -> Option<Packed> {
    let part = restored.as_mut()?;
    let taken = part.take(k);
    if part.is_spent() {
        *restored = None;
    }
    taken.map(Packed)
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
        let n = shard_count();
        Sessions {
            shards: (0..n)
                .map(|_| {
                    Padded(Mutex::new(Shard {
                        map: HashMap::default(),
                        came_online: Vec::new(),
                        since_upkeep: 0,
                        share: Share::default(),
                        restored: None,
                    }))
                })
                .collect(),
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
    /// The shard of session key `k`: its top bits, so that a snapshot's sessions, sorted by
    /// key, are sorted by shard. (The shard's table hashes the key again, so its bucket index and
    /// control bytes do not depend on the shard.)
    #[inline]
    fn shard_index(&self, k: u64) -> usize {
        (k >> self.shift) as usize
    }

    #[inline]
    fn shard(&self, k: u64) -> &Mutex<Shard<Share>> {
        &self.shards[self.shard_index(k)]
    }

    /// Records a page view by `visitor` at `now`, then runs `f` on the page view (and whether
    /// it brought the visitor online) and the visitor's shard share under the same lock. Hot path: one shard lock; allocates only for a visitor the table
    /// does not hold yet (or when a shard's came-online buffer grows).
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
        let seen_again = |e: &mut Packed, s: Packed| {
            let last = s.last_seen();
            *e = Packed::new(last.max(now), true);
            let touch = Touch {
                new_visit: now.saturating_sub(last) >= self.cfg.session_timeout,
                previous: Some(last),
                upkeep_due: false,
            };
            (touch, !s.online())
        };
        let (mut touch, came_online) = match shard.map.entry(k) {
            MapEntry::Occupied(mut e) => {
                let s = *e.get();
                seen_again(e.get_mut(), s)
            }
            MapEntry::Vacant(e) => match take_restored(&mut shard.restored, k) {
                // Back after a restart: the restored session goes on in the table.
                Some(s) => seen_again(e.insert(s), s),
                None => {
                    e.insert(Packed::new(now, true));
                    self.len.fetch_add(1, Ordering::Relaxed);
                    let touch = Touch {
                        new_visit: true,
                        previous: None,
                        upkeep_due: false,
                    };
                    (touch, true)
                }
            },
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
        self.shard(k).lock().entry(k).map(f)
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
        match shard.entry(k) {
            Some(&mut s) if remove(s) => {
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
            q.online
                .heap
                .extend(s.lock().came_online.drain(..).map(Reverse));
        }
        self.expire_online(q, now.saturating_sub(self.cfg.online_window));
        self.expire_idle(q, now.saturating_sub(self.cfg.session_timeout));
        self.evict(q);
        self.release_restored(q, now);
        // Give memory back after a crowd has gone, so the two queues never both hold
        // buffers sized for every session.
        for queue in [&mut q.online.heap, &mut q.idle.heap] {
            if queue.capacity() > 4 * queue.len() + 4096 {
                queue.shrink_to(2 * queue.len());
            }
        }
    }

    /// Lets go of a snapshot's bytes once they are no longer worth keeping (see `restored.rs`,
    /// "Memory"): a cursor whose next entry is later than `now` (sessions stamped in the future)
    /// moves what is left into its heap, and once both cursors are gone, the shards take their
    /// last restored sessions in.
    fn release_restored(&self, q: &mut Queues, now: i64) {
        for queue in [&mut q.online, &mut q.idle] {
            if queue
                .restored
                .as_ref()
                .and_then(Ordered::peek)
                .is_some_and(|(at, _)| at > now)
            {
                queue.drain_restored();
            }
        }
        if q.restored_parts && q.online.restored.is_none() && q.idle.restored.is_none() {
            for s in self.shards.iter() {
                let mut s = s.lock();
                if let Some(part) = s.restored.take() {
                    let rest = part.remaining().map(|(k, packed)| (k, Packed(packed)));
                    s.map.extend(rest);
                }
            }
            q.restored_parts = false;
        }
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

    /// Forgets the least recently seen visitors while more than `max_sessions` are tracked.
    fn evict(&self, q: &mut Queues) {
        while self.over_bound() {
            if let Some((last, v)) = q.idle.pop() {
                self.remove_offline(v, last);
            } else if let Some((queued, v)) = q.online.pop() {
                let removed = self.remove_if(v, |s| s.online() && s.last_seen() <= queued);
                if removed {
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
    /// Every tracked session, laid out as a snapshot holds them. Copies one shard at a time
    /// under its lock (the table's entries and the restored sessions not taken yet), then sorts
    /// with no lock held.
    pub(crate) fn table(&self) -> SavedSessions<'static> {
        let mut sessions = Vec::with_capacity(self.len());
        // Shard after shard: each shard's keys are below the next one's.
        let mut groups = Vec::with_capacity(self.shards.len());
        for s in self.shards.iter() {
            let start = sessions.len();
            let s = s.lock();
            sessions.extend(s.map.iter().map(|(&k, p)| record(k, p.0)));
            if let Some(restored) = &s.restored {
                sessions.extend(restored.remaining().map(|(k, p)| record(k, p)));
            }
            groups.push(start..sessions.len());
        }
        SavedSessions::Table(SessionTable::build_in_groups(sessions, &groups))
    }

    /// Restores a snapshot's sessions into this empty table while nothing else can see it
    /// (hence `&mut self`: no locks). Reads no session: each shard is given its key range of the
    /// sorted records (found by bisection), and the queues their cursors; the counts are the
    /// column's. The shards' tables are not sized for the restored sessions: they grow as page
    /// views and upkeep take sessions in (which spreads over up to `session_timeout`, and idle
    /// sessions that expire leave again), where a table reserved for all of them would take 19
    /// to 39 bytes per restored session at the load.
    pub(crate) fn restore(&mut self, column: RestoredColumn) {
        debug_assert!(self.len() == 0);
        let n = column.len();
        let mut lo = 0;
        let last = self.shards.len() - 1;
        for (i, shard) in self.shards.iter_mut().enumerate() {
            // Shard `i` holds the keys whose top bits are `i`.
            let hi = if i == last {
                n
            } else {
                column.partition_point(((i + 1) as u64) << self.shift)
            };
            let shard = shard.0.get_mut();
            shard.restored = RestoredShard::new(column.clone(), lo, hi);
            lo = hi;
        }
        *self.len.0.get_mut() = n;
        *self.online.0.get_mut() = column.online_len() as i64;
        let queues = self.queues.get_mut();
        queues
            .online
            .read_restored(Ordered::new(column.clone(), Kind::Online));
        queues.idle.read_restored(Ordered::new(column, Kind::Idle));
        queues.restored_parts = n > 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    /// A seeded xorshift generator of numbers below the bound it is given.
    fn below(seed: u64) -> impl FnMut(u64) -> u64 {
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
    /// expiry, a second save of a partly taken-in table, and restores onto a table of another
    /// shard count.
    #[test]
    fn a_restored_table_goes_on_exactly_as_the_original() {
        let mut next = below(0x9e37_79b9_7f4a_7c15u64);
        let restore = |from: &Sessions<()>, shards: usize| {
            let mut t = table(from.cfg.max_sessions);
            if shards != t.shards.len() {
                t.shards = (0..shards)
                    .map(|_| {
                        Padded(Mutex::new(Shard {
                            map: HashMap::default(),
                            came_online: Vec::new(),
                            share: (),
                            restored: None,
                            since_upkeep: 0,
                        }))
                    })
                    .collect();
                t.shift = 64 - shards.trailing_zeros();
            }
            let file = std::sync::Arc::new(Vec::new());
            t.restore(RestoredColumn::new(from.table(), &file));
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
                        // Save the restored table if there is one (partly taken in), else the
                        // original; restore onto 4 or 64 shards.
                        let shards = [4, 64][next(2) as usize];
                        let from = restored.as_ref().unwrap_or(&original);
                        let r = restore(from, shards);
                        assert_eq!((r.online(), r.len()), (from.online(), from.len()));
                        restored = Some(r);
                    }
                }
            }
            // Long after: every restored session is taken in or gone, and the bytes released.
            if let Some(r) = &restored {
                now += 10_000 * S;
                original.upkeep(now);
                r.upkeep(now);
                assert_eq!((original.online(), original.len()), (r.online(), r.len()));
                let q = r.queues.lock();
                assert!(q.online.restored.is_none() && q.idle.restored.is_none());
                assert!(r.shards.iter().all(|s| s.lock().restored.is_none()));
            }
        }
    }

    /// A restored table whose time orders a crafted file damaged (entries naming no record, a
    /// record of the other kind or a record named before, or orders out of time order) is
    /// accepted at the load and read safely: page views see the same visits as in the original,
    /// sessions expire late but never early, the counts always match the sessions held, and
    /// once a faulty order is read through every session of its kind that no entry named is
    /// queued, so none is left behind.
    #[test]
    fn damaged_time_orders_make_sessions_expire_late_but_lose_none() {
        use crate::common::bounded::Bytes;
        use crate::visitors::saved::{SessionTable, INDEX};
        use std::borrow::Cow;
        let mut next = below(0x2545_f491_4f6c_dd1du64);
        // The online count and size, checked against the sessions the table holds.
        let counts = |t: &Sessions<()>| {
            let SavedSessions::Table(held) = t.table() else {
                unreachable!("a table is saved as a table")
            };
            let flagged = (held.records.chunks(16))
                .filter(|r| r[15] >> 7 == 1)
                .count();
            assert_eq!((t.online(), t.len()), (flagged as u64, held.len()));
            (t.online(), t.len())
        };
        for round in 0..40 {
            let original = table(1000);
            let mut now = crate::calendar::clock::BASE_NS;
            for _ in 0..300 {
                original.touch(VisitorId::from(next(60)), now, |_, _, _| ());
                now += [S, 30 * S, 200 * S][next(3) as usize];
                if next(8) == 0 {
                    original.upkeep(now);
                }
            }
            original.upkeep(now);
            let SavedSessions::Table(good) = original.table() else {
                unreachable!("a table is saved as a table")
            };
            let n = good.len() as u32;
            let (mut online, mut idle) = (good.online.to_vec(), good.idle.to_vec());
            let (on_entries, idle_entries) = (online.clone(), idle.clone());
            // One order damaged, in one way, at one to three entries.
            let (order, other) = match next(2) {
                0 => (&mut online, &idle_entries),
                _ => (&mut idle, &on_entries),
            };
            let len = order.len() / INDEX;
            if round % 4 == 3 {
                // Out of time order, otherwise sound.
                let reversed: Vec<u8> = order.chunks(INDEX).rev().flatten().copied().collect();
                *order = reversed;
            } else if len > 0 {
                for _ in 0..1 + next(3) {
                    let index = match round % 4 {
                        // Past the table (mostly within its last 64 records' bitmap word).
                        0 => [n, n + 1 + next(3) as u32, u32::MAX][next(4).min(2) as usize],
                        1 if !other.is_empty() => {
                            let at = next((other.len() / INDEX) as u64) as usize * INDEX;
                            u32::from_le_bytes(other[at..at + INDEX].try_into().unwrap())
                        }
                        _ => {
                            let at = next(len as u64) as usize * INDEX;
                            u32::from_le_bytes(order[at..at + INDEX].try_into().unwrap())
                        }
                    };
                    let j = next(len as u64) as usize * INDEX;
                    order[j..j + INDEX].copy_from_slice(&index.to_le_bytes());
                }
            }
            let damaged = SessionTable {
                records: Bytes(Cow::Owned(good.records.to_vec())),
                online: Bytes(Cow::Owned(online)),
                idle: Bytes(Cow::Owned(idle)),
            };
            damaged.validate().unwrap();
            let mut r = table(1000);
            let file = std::sync::Arc::new(Vec::new());
            r.restore(RestoredColumn::new(SavedSessions::Table(damaged), &file));
            assert_eq!(counts(&r), counts(&original), "round {round}");
            for step in 0..300 {
                match next(4) {
                    0 | 1 => {
                        let v = VisitorId::from(next(80));
                        let a = original.touch(v, now, |_, _, _| ()).0;
                        let b = r.touch(v, now, |_, _, _| ()).0;
                        assert_eq!(a.new_visit, b.new_visit, "round {round} step {step}");
                    }
                    2 => now += [S, 100 * S, 400 * S, 2000 * S][next(4) as usize],
                    _ => {
                        original.upkeep(now);
                        r.upkeep(now);
                        let (a, b) = (counts(&original), counts(&r));
                        assert!(b.0 >= a.0 && b.1 >= a.1, "round {round} step {step}");
                    }
                }
            }
            // Long after: one upkeep expires every session and releases the bytes.
            now += 10_000 * S;
            original.upkeep(now);
            r.upkeep(now);
            assert_eq!(counts(&r), counts(&original), "round {round}");
            assert!(r.shards.iter().all(|s| s.lock().restored.is_none()));
        }
    }

    /// Over `max_sessions`, a table whose idle order names a record twice and another never
    /// forgets the same sessions as the table with sound orders: the record no entry names is
    /// queued as soon as the order is read through, before eviction turns to online sessions or
    /// to visitors not in the snapshot. (Found in review: it was queued only when the bytes
    /// were released, after eviction.)
    #[test]
    fn eviction_reaches_a_record_no_entry_names_before_anyone_else() {
        use crate::common::bounded::Bytes;
        use crate::visitors::saved::{SessionTable, RECORD};
        use std::borrow::Cow;
        let now = crate::calendar::clock::BASE_NS + 100_000 * S;
        // A and B idle, seen 1000 and 900 s ago; C online, seen 10 s ago.
        let [a, b, c, d] = [1, 2, 3, 4].map(VisitorId::from);
        let records = SessionTable::build(vec![
            record(session_key(a), pack(now - 1000 * S, false)),
            record(session_key(b), pack(now - 900 * S, false)),
            record(session_key(c), pack(now - 10 * S, true)),
        ])
        .records
        .to_vec();
        let index = |v: VisitorId| {
            let at = records
                .chunks(RECORD)
                .position(|r| r[..8] == session_key(v).to_le_bytes());
            at.unwrap() as u32
        };
        let order = |vs: &[VisitorId]| -> Vec<u8> {
            vs.iter().flat_map(|&v| index(v).to_le_bytes()).collect()
        };
        let restored = |idle: &[VisitorId], max: usize| {
            let mut t = table(max);
            let sessions = SessionTable {
                records: Bytes(Cow::Owned(records.clone())),
                online: Bytes(Cow::Owned(order(&[c]))),
                idle: Bytes(Cow::Owned(order(idle))),
            };
            let file = std::sync::Arc::new(Vec::new());
            t.restore(RestoredColumn::new(SavedSessions::Table(sessions), &file));
            t
        };
        // One session kept: C, the most recently seen, in both.
        let (sound, damaged) = (restored(&[a, b], 1), restored(&[a, a], 1));
        for t in [&sound, &damaged] {
            t.upkeep(now);
            assert_eq!((t.online(), t.len()), (1, 1));
            let back = t.touch(c, now, |_, _, _| ()).0;
            assert_eq!((back.new_visit, back.previous), (false, Some(now - 10 * S)));
        }
        // A visitor not in the snapshot views a page with two sessions kept: it stays.
        let (sound, damaged) = (restored(&[a, b], 2), restored(&[a, a], 2));
        for t in [&sound, &damaged] {
            t.touch(d, now, |_, _, _| ());
            t.upkeep(now);
            assert_eq!((t.online(), t.len()), (2, 2));
            assert!(!t.touch(d, now + S, |_, _, _| ()).0.new_visit);
            assert!(t.touch(b, now + S, |_, _, _| ()).0.previous.is_none());
        }
    }

    /// A session stamped in the future (a clock that was ahead when it was saved) does not keep
    /// the snapshot's bytes: once the others are gone, upkeep takes it into the table, and it
    /// stays tracked and online as in the uninterrupted table. (Found in review.)
    #[test]
    fn a_future_session_does_not_keep_the_snapshot_bytes() {
        use crate::common::bounded::Bytes;
        use crate::visitors::saved::{SessionTable, INDEX};
        use std::borrow::Cow;
        let t0 = crate::calendar::clock::BASE_NS;
        // Visitor 1 was last seen at t0; visitor 2 is stamped 100 days later.
        let (a, b) = (
            session_key(VisitorId::from(1)),
            session_key(VisitorId::from(2)),
        );
        let later = t0 + 100 * 86_400 * S;
        let saved = SessionTable::build(vec![
            record(a, pack(t0, false)),
            record(b, pack(later, true)),
        ]);
        // A "file": the table's three byte strings, then 1 MiB standing for the rest.
        let mut file = Vec::new();
        let mut at = Vec::new();
        for part in [&saved.records, &saved.online, &saved.idle] {
            let start = file.len();
            file.extend_from_slice(part);
            at.push(start..file.len());
        }
        file.resize(file.len() + (1 << 20), 0);
        let file = std::sync::Arc::new(file);
        let in_file = SessionTable {
            records: Bytes(Cow::Borrowed(&file[at[0].clone()])),
            online: Bytes(Cow::Borrowed(&file[at[1].clone()])),
            idle: Bytes(Cow::Borrowed(&file[at[2].clone()])),
        };
        assert_eq!(in_file.online.len(), INDEX);
        let mut t = table(100);
        t.restore(RestoredColumn::new(SavedSessions::Table(in_file), &file));
        assert!(std::sync::Arc::strong_count(&file) > 1, "read in place");
        t.upkeep(t0 + 2 * 1800 * S);
        assert_eq!(
            (t.len(), t.online()),
            (1, 1),
            "only the future session is left"
        );
        assert_eq!(
            std::sync::Arc::strong_count(&file),
            1,
            "the bytes are released"
        );
        // Its visitor comes back: the same visit.
        let touch = t.touch(VisitorId::from(2), later + S, |_, _, _| ()).0;
        assert_eq!((touch.new_visit, touch.previous), (false, Some(later)));
    }
}
