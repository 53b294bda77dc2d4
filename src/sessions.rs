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
//! was seen since is put back at its true instant before anything is removed).
//!
//! # Locking
//! A page view write-locks the visitor's shard of the `DashMap` for a few instructions; a visitor
//! coming online also locks its thread stripe's buffer. Upkeep holds the upkeep mutex (page views
//! only `try_lock` it and never wait) and locks one shard at a time.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

use std::collections::hash_map::Entry as MapEntry;
use std::collections::HashMap;

use parking_lot::Mutex;

use crate::clock::{held, pack, unpack};
use crate::ids::{mix64, IdBuildHasher, VisitorId};
use crate::snapshot::state::SessionColumn;
use crate::stripes::Padded;

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
}

/// Durations in nanoseconds and the bound, validated by the builder.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SessionConfig {
    pub online_window: i64,
    pub session_timeout: i64,
    pub max_sessions: usize,
}

/// (instant, visitor): when a visitor was queued, and who.
type Queued = (i64, u64);

type Queue = BinaryHeap<Reverse<Queued>>;

#[derive(Default)]
struct Queues {
    /// Visitors flagged online, by the instant they were queued (at most their last page view).
    online: Queue,
    /// Visitors flagged offline, by their last page view.
    idle: Queue,
}

/// Run opportunistic upkeep once per this many page views on a shard.
pub(crate) const UPKEEP_EVERY: u32 = 4096;

/// One shard: its visitors, the visitors that came online since upkeep last ran, and the
/// shard's share of whatever else a page view updates (`P`: the traffic counters), so that a page
/// view takes one lock, not two.
struct Shard<P> {
    map: HashMap<u64, Packed, IdBuildHasher>,
    came_online: Vec<Queued>,
    payload: P,
}

pub(crate) struct Sessions<P> {
    shards: Box<[Padded<Mutex<Shard<P>>>]>,
    /// `64 - log2(shards)`.
    shift: u32,
    len: Padded<AtomicUsize>,
    online: Padded<AtomicI64>,
    queues: Mutex<Queues>,
    cfg: SessionConfig,
}

impl<P: Default> Sessions<P> {
    pub(crate) fn new(cfg: SessionConfig) -> Sessions<P> {
        let n = shard_count();
        Sessions {
            shards: (0..n)
                .map(|_| {
                    Padded(Mutex::new(Shard {
                        map: HashMap::default(),
                        came_online: Vec::new(),
                        payload: P::default(),
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

impl<P> Sessions<P> {
    /// The shard of a visitor. Uses hash bits that the shard's own table does not use for its
    /// bucket index or its control bytes (the top seven), like `DashMap`.
    #[inline]
    fn shard_index(&self, v: u64) -> usize {
        ((mix64(v) << 7) >> self.shift) as usize
    }

    #[inline]
    fn shard(&self, v: u64) -> &Mutex<Shard<P>> {
        &self.shards[self.shard_index(v)]
    }

    /// Records a page view by `visitor` at `now`, then runs `f` on the visitor's shard payload
    /// under the same lock. Hot path: one shard lock; allocates only for a visitor the table
    /// does not hold yet (or when a shard's came-online buffer grows).
    #[inline]
    pub(crate) fn touch<R>(
        &self,
        visitor: VisitorId,
        now: i64,
        f: impl FnOnce(&Touch, &mut P) -> R,
    ) -> (Touch, R) {
        let v = visitor.as_u64();
        let mut guard = self.shard(v).lock();
        let shard = &mut *guard;
        let (touch, came_online) = match shard.map.entry(v) {
            MapEntry::Occupied(mut e) => {
                let s = *e.get();
                let last = s.last_seen();
                *e.get_mut() = Packed::new(last.max(now), true);
                let touch = Touch {
                    new_visit: now.saturating_sub(last) >= self.cfg.session_timeout,
                    previous: Some(last),
                };
                (touch, !s.online())
            }
            MapEntry::Vacant(e) => {
                e.insert(Packed::new(now, true));
                self.len.fetch_add(1, Ordering::Relaxed);
                let touch = Touch {
                    new_visit: true,
                    previous: None,
                };
                (touch, true)
            }
        };
        if came_online {
            self.online.fetch_add(1, Ordering::Relaxed);
            shard.came_online.push((now, v));
        }
        let r = f(&touch, &mut shard.payload);
        (touch, r)
    }

    /// Runs `f` on each shard's payload, locking one shard at a time.
    pub(crate) fn for_each_payload(&self, mut f: impl FnMut(&mut P)) {
        for s in self.shards.iter() {
            f(&mut s.lock().payload);
        }
    }

    /// Runs `f` on the entry of `v`, if tracked, under its shard's lock.
    fn with_entry<R>(&self, v: u64, f: impl FnOnce(&mut Packed) -> R) -> Option<R> {
        self.shard(v).lock().map.get_mut(&v).map(f)
    }

    /// Removes `v` when `keep` says so; true when removed.
    fn remove_if(&self, v: u64, remove: impl FnOnce(Packed) -> bool) -> bool {
        let mut shard = self.shard(v).lock();
        match shard.map.get(&v) {
            Some(&s) if remove(s) => {
                shard.map.remove(&v);
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

    /// Visitors tracked.
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    fn upkeep_locked(&self, q: &mut Queues, now: i64) {
        for s in self.shards.iter() {
            q.online.extend(s.lock().came_online.drain(..).map(Reverse));
        }
        self.expire_online(q, now.saturating_sub(self.cfg.online_window));
        self.expire_idle(q, now.saturating_sub(self.cfg.session_timeout));
        self.evict(q);
        // Give memory back after a crowd has gone, so the two queues never both hold
        // buffers sized for every session.
        for queue in [&mut q.online, &mut q.idle] {
            if queue.capacity() > 4 * queue.len() + 4096 {
                queue.shrink_to(2 * queue.len());
            }
        }
    }

    /// Flags offline every visitor whose last page view is at or before `edge`.
    fn expire_online(&self, q: &mut Queues, edge: i64) {
        while let Some(&Reverse((queued, v))) = q.online.peek() {
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
                        requeue = Some(Reverse((last, v)));
                    } else {
                        *e = Packed::new(last, false);
                        offline = Some(Reverse((last, v)));
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
        while let Some(&Reverse((last, v))) = q.idle.peek() {
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
            if let Some(Reverse((last, v))) = q.idle.pop() {
                self.remove_offline(v, last);
            } else if let Some(Reverse((queued, v))) = q.online.pop() {
                let removed = self.remove_if(v, |s| s.online() && s.last_seen() <= queued);
                if removed {
                    self.len.fetch_sub(1, Ordering::Relaxed);
                    self.online.fetch_sub(1, Ordering::Relaxed);
                } else if let Some(s) = self.with_entry(v, |e| *e) {
                    // Seen since it was queued: queue it again at its true last page view.
                    if s.online() {
                        q.online.push(Reverse((s.last_seen(), v)));
                    }
                }
            } else {
                break;
            }
        }
    }
}

impl<P> Sessions<P> {
    /// Every tracked session, as snapshot format 2 writes them: shard after shard, each in its
    /// table's order (which a restore into a table of the same size walks sequentially). Locks
    /// one shard at a time.
    pub(crate) fn column(&self) -> SessionColumn<'static> {
        let mut out = SessionColumn::with_capacity(self.len());
        for s in self.shards.iter() {
            let s = s.lock();
            for (&v, p) in s.map.iter() {
                out.push_packed(v, p.0);
            }
        }
        out
    }

    /// Restores saved sessions, `(visitor, last page view, online)`, into this table while
    /// nothing else can see it (hence `&mut self`: no locks). Each shard's table is sized once
    /// and the queues are built apart and heapified, on a second thread when one can be started,
    /// so restoring n sessions costs n inserts and O(n) queue work. The instants must be in the
    /// range held (the snapshot decoder has vetted them).
    pub(crate) fn restore<I>(&mut self, records: I)
    where
        I: Iterator<Item = (u64, i64, bool)> + Clone + Send,
    {
        let mut queued = std::thread::scope(|scope| {
            let spawned = std::thread::Builder::new()
                .name("visitor-counter-restore".into())
                .spawn_scoped(scope, {
                    let records = records.clone();
                    move || Queues::of(records)
                });
            self.insert_all(records.clone());
            match spawned {
                Ok(handle) => handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                Err(_) => Queues::of(records),
            }
        });
        let queues = self.queues.get_mut();
        queues.online.append(&mut queued.online);
        queues.idle.append(&mut queued.idle);
    }

    /// The insertion half of [`Sessions::restore`].
    fn insert_all(&mut self, records: impl Iterator<Item = (u64, i64, bool)> + Clone) {
        let mut per_shard = vec![0usize; self.shards.len()];
        for (v, _, _) in records.clone() {
            per_shard[self.shard_index(v)] += 1;
        }
        for (shard, n) in self.shards.iter_mut().zip(per_shard) {
            shard.0.get_mut().map.reserve(n);
        }
        let (mut added, mut online) = (0usize, 0i64);
        for (v, last_seen, is_online) in records {
            debug_assert!(held(last_seen));
            let i = self.shard_index(v);
            let old = self.shards[i]
                .0
                .get_mut()
                .map
                .insert(v, Packed::new(last_seen, is_online));
            match old {
                // A repeated visitor: keep the counts consistent with the entry that stays
                // (the other's queue entry is stale, which upkeep expects).
                Some(old) if old.online() => online -= 1,
                Some(_) => {}
                None => added += 1,
            }
            online += i64::from(is_online);
        }
        *self.len.0.get_mut() += added;
        *self.online.0.get_mut() += online;
    }
}

impl Queues {
    /// Queues holding restored sessions: online ones at their last page view in the online
    /// queue, the others in the idle queue. Heapifies once.
    fn of(records: impl Iterator<Item = (u64, i64, bool)> + Clone) -> Queues {
        let (n_online, n_idle) =
            records.clone().fold(
                (0, 0),
                |(on, off), r| if r.2 { (on + 1, off) } else { (on, off + 1) },
            );
        let mut online = Vec::with_capacity(n_online);
        let mut idle = Vec::with_capacity(n_idle);
        for (v, last_seen, is_online) in records {
            if is_online {
                online.push(Reverse((last_seen, v)));
            } else {
                idle.push(Reverse((last_seen, v)));
            }
        }
        Queues {
            online: BinaryHeap::from(online),
            idle: BinaryHeap::from(idle),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

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
            crate::clock::MIN_NS,
            crate::clock::MIN_NS - 1,
            -1,
            0,
            1,
            crate::clock::BASE_NS,
            crate::clock::MAX_NS,
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
        let t0 = crate::clock::BASE_NS;
        t.touch(v, t0, |_, _| ());
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
        t.touch(v, 0, |_, _| ());
        t.touch(v, 200 * S, |_, _| ());
        t.upkeep(450 * S);
        assert_eq!(t.online(), 1);
        t.upkeep(500 * S);
        assert_eq!(t.online(), 0);
        // Back after going offline: online again, same visit (within the timeout).
        let touch = t.touch(v, 600 * S, |_, _| ()).0;
        assert!(!touch.new_visit);
        t.upkeep(600 * S);
        assert_eq!(t.online(), 1);
    }

    #[test]
    fn eviction_forgets_least_recently_seen() {
        let t = table(3);
        for i in 0..3u64 {
            t.touch(VisitorId::from(i), i as i64 * S, |_, _| ());
        }
        // Visitor 0 comes back: now 1 is the least recently seen.
        t.touch(VisitorId::from(0), 10 * S, |_, _| ());
        t.touch(VisitorId::from(9), 11 * S, |_, _| ());
        t.upkeep(11 * S);
        assert_eq!(t.len(), 3);
        assert!(t.touch(VisitorId::from(1), 12 * S, |_, _| ()).0.new_visit);
        assert!(!t.touch(VisitorId::from(0), 12 * S, |_, _| ()).0.new_visit);
        t.upkeep(12 * S);
        assert_eq!(t.online(), t.len() as u64);
    }
}
