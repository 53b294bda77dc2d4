//! A batch: the page views a counter sends to its site, compacted, and the parts it is sent in.
//!
//! The site decides visits, distinct visitors, online and refresh dedup against its own state,
//! so it needs each visitor's page views in time order; but only where they could change a
//! decision. A batch holds, per visitor, its **runs**: the page views of one local day each
//! less than the session timeout after the one before. Within a run no page view can start a
//! visit (the one before it is less than a timeout ago), and every page view falls on the same
//! day, so a run is sent as its first and last instants and its page view count. Article views
//! are kept one by one per (article, visitor), as any of them may be the one the site counts.
//!
//! # Bound
//! A batch that cannot be sent (Redis down) absorbs the next ones. It holds at most
//! `max_entries` runs and article views together; past that, the page views of visitors it does
//! not hold yet are kept only as counts per day, with this counter's own decisions: page views
//! stay exact, while visits, distinct visitors and article views of those visitors are what
//! this counter alone saw (a visitor also seen by another counter may count twice).
//!
//! # Parts
//! A batch goes to the site in parts of at most [`PART_ENTRIES`] runs and article views, each
//! applied once; a visitor's runs and a pair's views stay in one part, in order.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::calendar::clock::held;
use crate::calendar::local::{Calendar, DayInfo, PeriodKeys};
use crate::common::bounded;
use crate::sync::log::{Entry, ARTICLE, COUNTED, NEW_DAY, NEW_VISIT};

/// Runs and article views per part: a part costs the site's script about 10 µs per visitor
/// (a few commands each), so a part keeps Redis busy for a few milliseconds.
pub(crate) const PART_ENTRIES: usize = 500;

/// A visitor's page views within one local day, each less than the session timeout after the
/// one before.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Run {
    pub key: u64,
    pub day: i32,
    pub first: i64,
    pub last: i64,
    pub views: u32,
    /// Visits this counter alone saw start in the run.
    pub local_visits: u32,
    /// Whether this counter alone saw the visitor's first page view of the day in the run.
    pub new_day: bool,
}

/// A view of an article by a visitor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct View {
    pub article: u64,
    pub key: u64,
    pub at: i64,
    pub day: i32,
    /// Whether this counter's own refresh dedup counted it.
    pub counted: bool,
}

/// Counts per day that this counter decided alone (see "Bound").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Alone {
    pub page_views: u64,
    pub visits: u64,
    pub visitors: u64,
}

/// Page views to send, compacted.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Batch {
    /// Sorted by visitor key, then time.
    #[serde(deserialize_with = "bounded::vec")]
    runs: Vec<Run>,
    /// Sorted by article, visitor key, then time.
    #[serde(deserialize_with = "bounded::vec")]
    views: Vec<View>,
    alone: BTreeMap<i32, Alone>,
    /// Article views counted alone, by (article, day).
    alone_views: BTreeMap<(u64, i32), u64>,
    /// The period keys of every day the batch names.
    days: BTreeMap<i32, PeriodKeys>,
    /// Page views in the batch (runs and alone counts).
    page_views: u64,
}

/// The local days of instants, remembered as they are found (a batch spans a day or two).
struct Days<'c> {
    calendar: &'c Calendar,
    known: Vec<DayInfo>,
}

impl Days<'_> {
    fn of(&mut self, at: i64) -> DayInfo {
        if let Some(d) = self.known.iter().find(|d| d.contains(at)) {
            return *d;
        }
        let d = self.calendar.day(at);
        self.known.push(d);
        d
    }
}

impl Batch {
    /// The batch of logged page views (any order), with a visit's `session_timeout`.
    pub(crate) fn from_entries(
        mut entries: Vec<Entry>,
        calendar: &Calendar,
        session_timeout: i64,
    ) -> Batch {
        entries.sort_unstable_by_key(|e| (e.key, e.at));
        let mut days = Days {
            calendar,
            known: Vec::new(),
        };
        let mut batch = Batch::default();
        for e in &entries {
            let day = days.of(e.at);
            batch.days.insert(day.keys.day, day.keys);
            batch.page_views += 1;
            let local_visit = u32::from(e.flags & NEW_VISIT != 0);
            let new_day = e.flags & NEW_DAY != 0;
            let run = Run {
                key: e.key,
                day: day.keys.day,
                first: e.at,
                last: e.at,
                views: 1,
                local_visits: local_visit,
                new_day,
            };
            match batch.runs.last_mut() {
                Some(p) if continues(p, &run, session_timeout) => join(p, &run),
                _ => batch.runs.push(run),
            }
            if e.flags & ARTICLE != 0 {
                batch.views.push(View {
                    article: e.article,
                    key: e.key,
                    at: e.at,
                    day: day.keys.day,
                    counted: e.flags & COUNTED != 0,
                });
            }
        }
        batch
            .views
            .sort_unstable_by_key(|v| (v.article, v.key, v.at));
        batch
    }

    /// Checks what sending a restored batch relies on: every day it names is known, instants
    /// are in range, runs and views are in the order the batch keeps them.
    pub(crate) fn validate(&self) -> Result<(), String> {
        let known = |d: &i32| self.days.contains_key(d);
        if let Some(r) = self
            .runs
            .iter()
            .find(|r| !known(&r.day) || !held(r.first) || !held(r.last) || r.first > r.last)
        {
            return Err(format!("a waiting run of day {}: malformed", r.day));
        }
        if let Some(v) = self.views.iter().find(|v| !known(&v.day) || !held(v.at)) {
            return Err(format!(
                "a waiting article view of day {}: malformed",
                v.day
            ));
        }
        let unknown = self
            .alone
            .keys()
            .chain(self.alone_views.keys().map(|k| &k.1));
        if let Some(d) = unknown.clone().find(|d| !known(d)) {
            return Err(format!("waiting counts of an unknown day {d}"));
        }
        let runs_sorted = self
            .runs
            .windows(2)
            .all(|w| (w[0].key, w[0].first) <= (w[1].key, w[1].first));
        let views_sorted = self
            .views
            .windows(2)
            .all(|w| (w[0].article, w[0].key, w[0].at) <= (w[1].article, w[1].key, w[1].at));
        if !(runs_sorted && views_sorted) {
            return Err("the waiting batch is out of order".into());
        }
        Ok(())
    }

    /// Whether there is nothing to send.
    pub(crate) fn is_empty(&self) -> bool {
        self.runs.is_empty() && self.views.is_empty() && self.alone.is_empty()
    }

    /// Page views the batch holds.
    pub(crate) fn page_views(&self) -> u64 {
        self.page_views
    }

    /// Runs and article views held (what the bound counts).
    pub(crate) fn entries(&self) -> usize {
        self.runs.len() + self.views.len()
    }

    /// Takes in `later`, a batch of page views recorded after these, keeping at most
    /// `max_entries` runs and article views (see "Bound").
    pub(crate) fn absorb(&mut self, later: Batch, session_timeout: i64, max_entries: usize) {
        self.page_views += later.page_views;
        self.days.extend(later.days);
        for (day, a) in later.alone {
            self.add_alone(day, a);
        }
        for (k, n) in later.alone_views {
            *self.alone_views.entry(k).or_default() += n;
        }
        // A later run that continues its visitor's last run costs nothing; any other needs
        // room, and without room is kept as counts.
        let mut room = max_entries.saturating_sub(self.entries());
        let mut earlier = std::mem::take(&mut self.runs).into_iter().peekable();
        let mut runs = Vec::with_capacity(earlier.len() + later.runs.len());
        for r in later.runs {
            while let Some(e) = earlier.next_if(|e| e.key <= r.key) {
                runs.push(e);
            }
            match runs.last_mut() {
                Some(p) if continues(p, &r, session_timeout) => join(p, &r),
                _ if room > 0 => {
                    room -= 1;
                    runs.push(r);
                }
                _ => self.add_alone(
                    r.day,
                    Alone {
                        page_views: u64::from(r.views),
                        visits: u64::from(r.local_visits),
                        visitors: u64::from(r.new_day),
                    },
                ),
            }
        }
        runs.extend(earlier);
        self.runs = runs;
        for v in later.views {
            if room > 0 {
                room -= 1;
                self.views.push(v);
            } else if v.counted {
                *self.alone_views.entry((v.article, v.day)).or_default() += 1;
            }
        }
        self.views.sort_by_key(|v| (v.article, v.key, v.at));
    }

    fn add_alone(&mut self, day: i32, a: Alone) {
        let mine = self.alone.entry(day).or_default();
        mine.page_views += a.page_views;
        mine.visits += a.visits;
        mine.visitors += a.visitors;
    }

    /// The batch cut into parts (see "Parts"), in order; the counts decided alone go with the
    /// first.
    pub(crate) fn into_parts(self) -> Vec<Batch> {
        let mut parts = Vec::new();
        let mut part = Batch {
            alone: self.alone,
            alone_views: self.alone_views,
            ..Batch::default()
        };
        let mut runs = self.runs.into_iter().peekable();
        let mut views = self.views.into_iter().peekable();
        loop {
            // A visitor's runs, then a pair's views, never split between parts.
            while let Some(r) = runs.next() {
                part.runs.push(r);
                let last = runs.peek().is_none_or(|next| next.key != r.key);
                if last && part.entries() >= PART_ENTRIES {
                    break;
                }
            }
            if part.entries() < PART_ENTRIES {
                while let Some(v) = views.next() {
                    part.views.push(v);
                    let last = views
                        .peek()
                        .is_none_or(|next| (next.article, next.key) != (v.article, v.key));
                    if last && part.entries() >= PART_ENTRIES {
                        break;
                    }
                }
            }
            let done = runs.peek().is_none() && views.peek().is_none();
            part.days = self
                .days
                .iter()
                .filter(|(d, _)| part.names_day(**d))
                .map(|(d, k)| (*d, *k))
                .collect();
            part.page_views = part.runs.iter().map(|r| u64::from(r.views)).sum::<u64>()
                + part.alone.values().map(|a| a.page_views).sum::<u64>();
            parts.push(std::mem::take(&mut part));
            if done {
                return parts;
            }
        }
    }

    /// Whether a run, view or count of this batch falls on `day`.
    fn names_day(&self, day: i32) -> bool {
        self.alone.contains_key(&day)
            || self.alone_views.keys().any(|k| k.1 == day)
            || self.runs.iter().any(|r| r.day == day)
            || self.views.iter().any(|v| v.day == day)
    }

    /// The part as the site's script reads it (see `site.lua`): a visit's threshold is
    /// `session_timeout` before a run's first page view, a view's `dedup_window` before it.
    pub(crate) fn encode(&self, session_timeout: i64, dedup_window: i64) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + 60 * self.runs.len() + 40 * self.views.len());
        let index: BTreeMap<i32, u16> = self
            .days
            .keys()
            .enumerate()
            .map(|(i, d)| (*d, (i + 1).min(usize::from(u16::MAX)) as u16))
            .collect();
        let day_index = |d: i32| index.get(&d).copied().unwrap_or(0);
        put_u32(&mut out, self.days.len());
        for (d, keys) in &self.days {
            for k in [keys.day, keys.week, keys.month, keys.year] {
                out.extend_from_slice(&k.to_le_bytes());
            }
            let a = self.alone.get(d).copied().unwrap_or_default();
            for n in [a.page_views, a.visits, a.visitors] {
                out.extend_from_slice(&(n as f64).to_le_bytes());
            }
        }
        // Visitors: each with at most u16::MAX runs per entry (a longer list goes as two).
        let groups = group_by(&self.runs, |r| r.key);
        put_u32(&mut out, groups.len());
        for runs in groups {
            out.extend_from_slice(&runs[0].key.to_be_bytes());
            out.extend_from_slice(&(runs.len() as u16).to_le_bytes());
            for r in runs {
                out.extend_from_slice(&day_index(r.day).to_le_bytes());
                out.extend_from_slice(&ordered(r.first.saturating_sub(session_timeout)));
                out.extend_from_slice(&ordered(r.last));
                out.extend_from_slice(&(r.last.div_euclid(1_000) as f64).to_le_bytes());
                out.extend_from_slice(&r.views.to_le_bytes());
            }
        }
        let pairs = group_by(&self.views, |v| (v.article, v.key));
        put_u32(&mut out, pairs.len());
        for views in pairs {
            out.extend_from_slice(&views[0].article.to_be_bytes());
            out.extend_from_slice(&views[0].key.to_be_bytes());
            out.extend_from_slice(&(views.len() as u16).to_le_bytes());
            for v in views {
                out.extend_from_slice(&day_index(v.day).to_le_bytes());
                out.extend_from_slice(&ordered(v.at));
                out.extend_from_slice(&ordered(v.at.saturating_sub(dedup_window)));
            }
        }
        put_u32(&mut out, self.alone_views.len());
        for (&(article, day), &n) in &self.alone_views {
            out.extend_from_slice(&article.to_be_bytes());
            out.extend_from_slice(&day_index(day).to_le_bytes());
            out.extend_from_slice(&(n.min(u64::from(u32::MAX)) as u32).to_le_bytes());
        }
        out
    }
}

/// Whether run `r` continues run `p`: the same visitor and day, less than the session timeout
/// after it.
fn continues(p: &Run, r: &Run, session_timeout: i64) -> bool {
    p.key == r.key
        && p.day == r.day
        && r.first.saturating_sub(p.last) < session_timeout
        && p.views.checked_add(r.views).is_some()
}

/// Joins run `r` into `p`, which it continues.
fn join(p: &mut Run, r: &Run) {
    p.first = p.first.min(r.first);
    p.last = p.last.max(r.last);
    p.views += r.views;
    p.local_visits += r.local_visits;
    p.new_day |= r.new_day;
}

/// Consecutive items with one key, at most `u16::MAX` per group.
fn group_by<T, K: PartialEq>(items: &[T], key: impl Fn(&T) -> K) -> Vec<&[T]> {
    let mut groups = Vec::new();
    let mut start = 0;
    for i in 1..=items.len() {
        let split = i == items.len()
            || key(&items[i]) != key(&items[start])
            || i - start == usize::from(u16::MAX);
        if split {
            groups.push(&items[start..i]);
            start = i;
        }
    }
    groups
}

fn put_u32(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n.min(u32::MAX as usize) as u32).to_le_bytes());
}

/// An instant as the site's script compares it: the sign bit flipped, big-endian, so that the
/// bytes order as the instants do.
pub(crate) fn ordered(at: i64) -> [u8; 8] {
    ((at as u64) ^ (1 << 63)).to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::local::Zone;
    use time::{UtcOffset, Weekday};

    const S: i64 = 1_000_000_000;
    const T: i64 = 30 * 60 * S;
    /// 2026-01-29T00:00Z, a Thursday.
    const DAY0: i64 = 1_769_644_800 * S;

    fn utc() -> Calendar {
        Calendar {
            zone: Zone::Fixed(UtcOffset::UTC),
            week_start: Weekday::Monday,
        }
    }

    fn entry(key: u64, at: i64, flags: u8) -> Entry {
        Entry {
            key,
            at,
            article: 0,
            flags,
        }
    }

    fn view(key: u64, at: i64, article: u64, counted: bool) -> Entry {
        Entry {
            key,
            at,
            article,
            flags: ARTICLE | if counted { COUNTED } else { 0 },
        }
    }

    fn spans(b: &Batch) -> Vec<(u64, i64, i64, u32)> {
        b.runs
            .iter()
            .map(|r| (r.key, r.first, r.last, r.views))
            .collect()
    }

    #[test]
    fn runs_end_at_a_session_timeout_and_at_midnight() {
        let noon = DAY0 + 12 * 3600 * S;
        let late = DAY0 + 24 * 3600 * S - 60 * S;
        let entries = vec![
            entry(7, noon + 29 * 60 * S, 0),
            entry(7, noon, NEW_VISIT | NEW_DAY),
            // A session timeout after the one before: a run of its own.
            entry(7, noon + 59 * 60 * S, NEW_VISIT),
            entry(9, late, NEW_VISIT | NEW_DAY),
            // Two minutes later, after midnight: the same visit, another day.
            entry(9, late + 120 * S, NEW_DAY),
        ];
        let b = Batch::from_entries(entries, &utc(), T);
        assert_eq!(
            spans(&b),
            vec![
                (7, noon, noon + 29 * 60 * S, 2),
                (7, noon + 59 * 60 * S, noon + 59 * 60 * S, 1),
                (9, late, late, 1),
                (9, late + 120 * S, late + 120 * S, 1),
            ]
        );
        assert_eq!(b.runs[3].day, b.runs[2].day + 1);
        assert_eq!(b.page_views(), 5);
        assert_eq!(b.days.len(), 2);
    }

    #[test]
    fn a_later_batch_continues_the_runs_it_can_and_past_the_bound_counts_alone() {
        let t = DAY0 + 3600 * S;
        let mut first = Batch::from_entries(vec![entry(1, t, NEW_VISIT | NEW_DAY)], &utc(), T);
        let later = Batch::from_entries(
            vec![
                entry(1, t + 60 * S, 0),
                entry(2, t + 60 * S, NEW_VISIT | NEW_DAY),
                entry(3, t + 60 * S, NEW_VISIT | NEW_DAY),
                view(3, t + 60 * S, 40, true),
            ],
            &utc(),
            T,
        );
        // Room for one more run: visitor 1 continues its run, visitor 2 takes the room, and
        // visitor 3's page view and counted article view are kept as counts.
        first.absorb(later, T, 2);
        assert_eq!(
            spans(&first),
            vec![(1, t, t + 60 * S, 2), (2, t + 60 * S, t + 60 * S, 1)]
        );
        let day = utc().day(t).keys.day;
        assert_eq!(
            first.alone.get(&day),
            Some(&Alone {
                page_views: 2,
                visits: 1,
                visitors: 1
            })
        );
        assert_eq!(first.alone_views.get(&(40, day)), Some(&1));
        assert_eq!(first.page_views(), 5);
    }

    #[test]
    fn parts_keep_a_visitor_whole_and_carry_every_run_and_view_once() {
        let t = DAY0 + 3600 * S;
        let mut entries = Vec::new();
        for key in 0..1_200u64 {
            entries.push(entry(key, t, NEW_VISIT));
            entries.push(entry(key, t + 2 * T, NEW_VISIT));
            entries.push(view(key, t + S, key % 7, true));
        }
        let b = Batch::from_entries(entries, &utc(), T);
        let (runs, views) = (b.runs.clone(), b.views.clone());
        let parts = b.into_parts();
        assert!(parts.len() >= 7, "{} parts", parts.len());
        for p in &parts {
            assert!(p.entries() <= PART_ENTRIES + 1, "{}", p.entries());
            assert!(!p.encode(T, T).is_empty());
        }
        let all_runs: Vec<Run> = parts.iter().flat_map(|p| p.runs.clone()).collect();
        let all_views: Vec<View> = parts.iter().flat_map(|p| p.views.clone()).collect();
        assert_eq!(all_runs, runs);
        let mut sorted = all_views.clone();
        sorted.sort_by_key(|v| (v.article, v.key, v.at));
        assert_eq!(sorted, views);
        // No visitor's runs are split between two parts.
        for w in parts.windows(2) {
            let (a, b) = (w[0].runs.last(), w[1].runs.first());
            if let (Some(a), Some(b)) = (a, b) {
                assert_ne!(a.key, b.key);
            }
        }
        assert_eq!(parts.iter().map(Batch::page_views).sum::<u64>(), 3_600);
    }

    #[test]
    fn ordered_instants_sort_as_their_bytes() {
        let mut instants = [i64::MIN, -5, -1, 0, 1, 7, i64::MAX, DAY0];
        instants.sort_unstable();
        let bytes: Vec<[u8; 8]> = instants.iter().map(|&t| ordered(t)).collect();
        assert!(bytes.windows(2).all(|w| w[0] < w[1]));
    }
}
