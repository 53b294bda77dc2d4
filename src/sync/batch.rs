//! A batch: the page views a counter sends to its site, compacted, and the parts it is sent in.
//!
//! The site decides visits, distinct visitors, online and refresh dedup against its own state.
//! For each visitor it needs the page views that may start a visit or a local day (**runs**,
//! see `log.rs`), each with the visitor's page view before it on this counter, and the
//! visitor's last page view; for each article view, the view. Page views themselves are sent
//! as counts per day: they are exact whatever the order they reach the site in.
//!
//! # Bound
//! A batch that cannot be sent (Redis down) absorbs the next ones. It holds at most
//! `max_entries` visitors, runs and article views together; past that, the visitors it does not
//! hold yet are kept only as counts per day with this counter's own decisions: page views stay
//! exact, while those visitors' visits, distinct visitors and article views are what this
//! counter alone saw (a visitor also seen by another counter may count twice), and the site's
//! online and sessions do not see them.
//!
//! # Parts
//! A batch goes to the site in parts of about [`PART_ENTRIES`] visitors, runs and article
//! views, each applied once; a visitor's runs and views stay in one part, in order. The counts
//! per day go with the first part.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::{Date, Weekday};

use crate::calendar::clock::held;
use crate::calendar::local::{period_keys, PeriodKeys};
use crate::common::bounded;
use crate::sync::log::Start;

/// Visitors, runs and article views per part: the site's script spends 5 to 10 µs on each (on
/// the machine in `BENCHMARKS.md`), so a part keeps Redis busy for a few milliseconds.
pub(crate) const PART_ENTRIES: usize = 250;

/// A page view that may start a visit or a local day at the site.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Run {
    pub key: u64,
    pub day: i32,
    pub at: i64,
    /// The visitor's page view before it on this counter (`i64::MIN`: none).
    pub prior: i64,
    /// Whether this counter saw it start a visit.
    pub new_visit: bool,
    /// Whether this counter saw it start the visitor's local day.
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

/// Counts of one day: page views, and what this counter decided alone (see "Bound").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DayCounts {
    pub page_views: u64,
    pub visits: u64,
    pub visitors: u64,
}

/// Page views to send, compacted.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Batch {
    /// Each visitor's last page view, by visitor key.
    #[serde(deserialize_with = "bounded::vec")]
    lasts: Vec<(u64, i64)>,
    /// Sorted by visitor key, then time.
    #[serde(deserialize_with = "bounded::vec")]
    runs: Vec<Run>,
    /// Sorted by visitor key, article, then time.
    #[serde(deserialize_with = "bounded::vec")]
    views: Vec<View>,
    counts: BTreeMap<i32, DayCounts>,
    /// Article views counted alone, by (article, day).
    alone_views: BTreeMap<(u64, i32), u64>,
    /// The period keys of every day the batch names.
    days: BTreeMap<i32, PeriodKeys>,
}

impl Batch {
    /// The batch of what logs held at a cut (see `log.rs`), in any order: their starts and
    /// views, each visitor's last page view (`lasts`, read from the session table at the cut),
    /// and the page views of each day.
    pub(crate) fn from_log(
        starts: Vec<Start>,
        mut views: Vec<View>,
        mut lasts: Vec<(u64, i64)>,
        page_views: impl IntoIterator<Item = (i32, u64)>,
        week_start: Weekday,
    ) -> Batch {
        let mut runs: Vec<Run> = starts
            .into_iter()
            .filter(|s| s.new_visit || s.new_day)
            .map(|s| Run {
                key: s.key,
                day: s.day,
                at: s.at,
                prior: s.prior,
                new_visit: s.new_visit,
                new_day: s.new_day,
            })
            .collect();
        runs.sort_unstable_by_key(|r| (r.key, r.at));
        views.sort_unstable_by_key(|v| (v.key, v.article, v.at));
        // A visitor named twice keeps its latest last page view.
        lasts.sort_unstable();
        lasts.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                kept.1 = kept.1.max(later.1);
            }
            same
        });
        let mut batch = Batch {
            lasts,
            runs,
            views,
            ..Batch::default()
        };
        for (day, n) in page_views {
            batch.counts.entry(day).or_default().page_views += n;
        }
        let days: Vec<i32> = batch
            .runs
            .iter()
            .map(|r| r.day)
            .chain(batch.views.iter().map(|v| v.day))
            .chain(batch.counts.keys().copied())
            .collect();
        for day in days {
            batch.know_day(day, week_start);
        }
        batch
    }

    /// Adds `day`'s period keys to the days the batch names.
    fn know_day(&mut self, day: i32, week_start: Weekday) {
        self.days.entry(day).or_insert_with(|| {
            let date = Date::from_julian_day(day).unwrap_or(Date::MIN);
            period_keys(date, week_start)
        });
    }

    /// Checks what sending a restored batch relies on: every day it names is known, instants
    /// are in range, visitors, runs and views are in the order the batch keeps them.
    pub(crate) fn validate(&self) -> Result<(), String> {
        let known = |d: &i32| self.days.contains_key(d);
        if let Some(r) = self.runs.iter().find(|r| !known(&r.day) || !held(r.at)) {
            return Err(format!("a waiting run of day {}: malformed", r.day));
        }
        if let Some(v) = self.views.iter().find(|v| !known(&v.day) || !held(v.at)) {
            return Err(format!(
                "a waiting article view of day {}: malformed",
                v.day
            ));
        }
        if self.lasts.iter().any(|l| !held(l.1)) {
            return Err("a waiting last page view out of range".into());
        }
        let mut unknown = self
            .counts
            .keys()
            .chain(self.alone_views.keys().map(|k| &k.1));
        if let Some(d) = unknown.find(|d| !known(d)) {
            return Err(format!("waiting counts of an unknown day {d}"));
        }
        let sorted = self.lasts.windows(2).all(|w| w[0].0 < w[1].0)
            && self
                .runs
                .windows(2)
                .all(|w| (w[0].key, w[0].at) <= (w[1].key, w[1].at))
            && self
                .views
                .windows(2)
                .all(|w| (w[0].key, w[0].article, w[0].at) <= (w[1].key, w[1].article, w[1].at));
        if !sorted {
            return Err("the waiting batch is out of order".into());
        }
        Ok(())
    }

    /// Whether there is nothing to send.
    pub(crate) fn is_empty(&self) -> bool {
        self.lasts.is_empty()
            && self.runs.is_empty()
            && self.views.is_empty()
            && self.counts.is_empty()
            && self.alone_views.is_empty()
    }

    /// Page views the batch holds.
    pub(crate) fn page_views(&self) -> u64 {
        self.counts.values().map(|c| c.page_views).sum()
    }

    /// Visitors, runs and article views held (what the bound counts).
    pub(crate) fn entries(&self) -> usize {
        self.lasts.len() + self.runs.len() + self.views.len()
    }

    /// Takes in `later`, a batch of page views recorded after these, keeping at most
    /// `max_entries` visitors, runs and article views (see "Bound").
    pub(crate) fn absorb(&mut self, later: Batch, max_entries: usize) {
        if self.is_empty() && later.entries() <= max_entries {
            *self = later;
            return;
        }
        self.days.extend(&later.days);
        for (&day, &c) in &later.counts {
            self.add_counts(day, c);
        }
        for (&k, &n) in &later.alone_views {
            *self.alone_views.entry(k).or_default() += n;
        }
        // A visitor held keeps what comes later; a new one is taken whole while there is room
        // for it, and past that leaves counts only.
        let mut room = max_entries.saturating_sub(self.entries());
        let (mut lasts, mut runs, mut views) = (Vec::new(), Vec::new(), Vec::new());
        for (key, last, r, v) in later.visitors() {
            let held = self.lasts.binary_search_by_key(&key, |l| l.0).is_ok();
            let cost = 1 + r.len() + v.len();
            if held || cost <= room {
                room = room.saturating_sub(cost - usize::from(held));
                lasts.push((key, last));
                runs.extend_from_slice(r);
                views.extend_from_slice(v);
                continue;
            }
            for r in r {
                self.add_counts(
                    r.day,
                    DayCounts {
                        page_views: 0,
                        visits: u64::from(r.new_visit),
                        visitors: u64::from(r.new_day),
                    },
                );
            }
            for v in v.iter().filter(|v| v.counted) {
                *self.alone_views.entry((v.article, v.day)).or_default() += 1;
            }
        }
        self.lasts.extend(lasts);
        self.lasts.sort_unstable();
        self.lasts.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                kept.1 = kept.1.max(later.1);
            }
            same
        });
        self.runs.extend(runs);
        self.runs.sort_by_key(|r| (r.key, r.at));
        self.views.extend(views);
        self.views.sort_by_key(|v| (v.key, v.article, v.at));
    }

    fn add_counts(&mut self, day: i32, c: DayCounts) {
        let mine = self.counts.entry(day).or_default();
        mine.page_views += c.page_views;
        mine.visits += c.visits;
        mine.visitors += c.visitors;
    }

    /// The visitors of the batch, in key order: each with its last page view, runs and views.
    fn visitors(&self) -> Vec<(u64, i64, &[Run], &[View])> {
        let (mut r, mut v) = (0, 0);
        self.lasts
            .iter()
            .map(|&(key, last)| {
                let skip_r = self.runs[r..].iter().take_while(|x| x.key < key).count();
                let skip_v = self.views[v..].iter().take_while(|x| x.key < key).count();
                (r, v) = (r + skip_r, v + skip_v);
                let r_end = r + self.runs[r..].iter().take_while(|x| x.key == key).count();
                let v_end = v + self.views[v..].iter().take_while(|x| x.key == key).count();
                let out = (key, last, &self.runs[r..r_end], &self.views[v..v_end]);
                (r, v) = (r_end, v_end);
                out
            })
            .collect()
    }

    /// The batch cut into parts (see "Parts"), in order.
    pub(crate) fn into_parts(self) -> Vec<Batch> {
        let mut parts = Vec::new();
        let mut part = Batch {
            counts: self.counts.clone(),
            alone_views: self.alone_views.clone(),
            ..Batch::default()
        };
        let finish = |part: &mut Batch, parts: &mut Vec<Batch>| {
            let mut days: Vec<i32> = part.runs.iter().map(|r| r.day).collect();
            days.extend(part.views.iter().map(|v| v.day));
            days.extend(part.counts.keys());
            days.extend(part.alone_views.keys().map(|k| k.1));
            part.days = days
                .into_iter()
                .filter_map(|d| Some((d, *self.days.get(&d)?)))
                .collect();
            parts.push(std::mem::take(part));
        };
        for (key, last, runs, views) in self.visitors() {
            part.lasts.push((key, last));
            part.runs.extend_from_slice(runs);
            part.views.extend_from_slice(views);
            if part.entries() >= PART_ENTRIES {
                finish(&mut part, &mut parts);
            }
        }
        if !part.is_empty() || parts.is_empty() {
            finish(&mut part, &mut parts);
        }
        parts
    }

    /// The part as the site's script reads it (see `site.lua`): a run's visit threshold is its
    /// page view less `session_timeout`, a visitor's dedup horizon its last page view less
    /// `dedup_window`, a view's dedup threshold the view less `dedup_window`.
    pub(crate) fn encode(&self, session_timeout: i64, dedup_window: i64) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + 40 * self.lasts.len() + 30 * self.views.len());
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
            let c = self.counts.get(d).copied().unwrap_or_default();
            for n in [c.page_views, c.visits, c.visitors] {
                out.extend_from_slice(&(n as f64).to_le_bytes());
            }
        }
        // Visitors: at most u16::MAX runs and views each per entry (more go as two entries).
        let visitors: Vec<(u64, i64, &[Run], &[View])> = self
            .visitors()
            .into_iter()
            .flat_map(|(key, last, runs, views)| {
                let n = runs
                    .len()
                    .max(views.len())
                    .div_ceil(usize::from(u16::MAX))
                    .max(1);
                let at = |i: usize, len: usize| (i * usize::from(u16::MAX)).min(len);
                (0..n).map(move |i| {
                    let r = &runs[at(i, runs.len())..at(i + 1, runs.len())];
                    let v = &views[at(i, views.len())..at(i + 1, views.len())];
                    (key, last, r, v)
                })
            })
            .collect();
        put_u32(&mut out, visitors.len());
        for (key, last, runs, views) in visitors {
            out.extend_from_slice(&key.to_be_bytes());
            out.extend_from_slice(&ordered(last));
            out.extend_from_slice(&(last.div_euclid(1_000) as f64).to_le_bytes());
            out.extend_from_slice(&ordered(last.saturating_sub(dedup_window)));
            out.extend_from_slice(&(runs.len() as u16).to_le_bytes());
            for r in runs {
                out.extend_from_slice(&day_index(r.day).to_le_bytes());
                out.extend_from_slice(&ordered(r.at.saturating_sub(session_timeout)));
                out.extend_from_slice(&ordered(r.prior));
            }
            out.extend_from_slice(&(views.len() as u16).to_le_bytes());
            for v in views {
                out.extend_from_slice(&v.article.to_be_bytes());
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

fn put_u32(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n.min(u32::MAX as usize) as u32).to_le_bytes());
}

/// An instant as the site's script compares it: the sign bit flipped, big-endian, so that the
/// bytes order as the instants do (`i64::MIN`, "none", is all zeros).
pub(crate) fn ordered(at: i64) -> [u8; 8] {
    ((at as u64) ^ (1 << 63)).to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::log::{Log, PageView};

    const S: i64 = 1_000_000_000;
    const T: i64 = 30 * 60 * S;
    /// 2026-01-29T00:00Z, a Thursday.
    const DAY0: i64 = 1_769_644_800 * S;
    /// Its Julian day.
    const JD0: i32 = 2_461_070;

    fn day(at: i64) -> i32 {
        JD0 + (at - DAY0).div_euclid(86_400 * S) as i32
    }

    /// The batch of page views `(visitor, instant, article)` logged as the hot path logs them
    /// (visits and days as a lone counter sees them), cut at `cut`.
    fn batch(log: &mut Log, views: &[(u64, i64, Option<u64>)], cut: i64) -> Batch {
        let mut last = std::collections::BTreeMap::new();
        let mut page_views = std::collections::BTreeMap::new();
        for &(key, at, article) in views {
            let prior: Option<i64> = last.get(&key).copied();
            log.push(
                PageView {
                    key,
                    at,
                    day: day(at),
                    prior,
                    article: article.map(|a| (a, true)),
                    new_visit: prior.is_none_or(|p| at - p >= T),
                    new_day: prior.is_none_or(|p| day(p) < day(at)),
                },
                false,
            );
            last.insert(key, at);
            *page_views.entry(day(at)).or_insert(0) += 1;
        }
        let (taken, _) = log.take(Default::default(), cut);
        let mut keys: Vec<u64> = taken.starts.iter().map(|s| s.key).collect();
        keys.extend(taken.views.iter().map(|v| v.key));
        let lasts = keys.into_iter().map(|k| (k, last[&k])).collect();
        Batch::from_log(
            taken.starts,
            taken.views,
            lasts,
            page_views,
            Weekday::Monday,
        )
    }

    fn enabled() -> Log {
        Log::new()
    }

    #[test]
    fn runs_are_the_page_views_that_start_a_visit_or_a_day() {
        let noon = DAY0 + 12 * 3600 * S;
        let late = DAY0 + 24 * 3600 * S - 60 * S;
        let b = batch(
            &mut enabled(),
            &[
                (7, noon, None),
                (7, noon + 29 * 60 * S, None),
                // A session timeout after the one before: a visit of its own.
                (7, noon + 59 * 60 * S, None),
                (9, late, None),
                // Two minutes later, after midnight: the same visit, another day.
                (9, late + 120 * S, None),
            ],
            late + 200 * S,
        );
        let runs: Vec<(u64, i64, i64, bool, bool)> = b
            .runs
            .iter()
            .map(|r| (r.key, r.at, r.prior, r.new_visit, r.new_day))
            .collect();
        let (q, r) = (noon + 29 * 60 * S, noon + 59 * 60 * S);
        assert_eq!(
            runs,
            vec![
                (7, noon, i64::MIN, true, true),
                (7, r, q, true, false),
                (9, late, i64::MIN, true, true),
                (9, late + 120 * S, late, false, true),
            ]
        );
        assert_eq!(b.lasts, vec![(7, r), (9, late + 120 * S)]);
        assert_eq!(b.page_views(), 5);
        assert_eq!(b.days.len(), 2);
    }

    #[test]
    fn after_a_cut_a_visitor_logs_its_first_page_view_only() {
        let t = DAY0 + 3600 * S;
        let mut log = enabled();
        let _ = batch(&mut log, &[(1, t, None)], t);
        // The first page view after the cut starts nothing here but is logged, so the visitor
        // is sent with its last page view; the next ones are not logged.
        log.push(
            PageView {
                key: 1,
                at: t + S,
                day: day(t),
                prior: Some(t),
                article: None,
                new_visit: false,
                new_day: false,
            },
            false,
        );
        log.push(
            PageView {
                key: 1,
                at: t + 2 * S,
                day: day(t),
                prior: Some(t + S),
                article: None,
                new_visit: false,
                new_day: false,
            },
            false,
        );
        let (starts, _) = log.held();
        assert_eq!(starts.len(), 1);
        assert_eq!(log.len(), 2);
    }

    #[test]
    fn a_later_batch_past_the_bound_leaves_counts_for_new_visitors() {
        let t = DAY0 + 3600 * S;
        let mut first = batch(&mut enabled(), &[(1, t, None)], t);
        let later = batch(
            &mut enabled(),
            &[
                (1, t + 60 * S, None),
                (2, t + 60 * S, None),
                (3, t + 60 * S, Some(40)),
            ],
            t + 60 * S,
        );
        // Room for three entries more than visitor 1's two (its last page view, its run):
        // visitor 1 is held and takes one for its later run, visitor 2 (a last page view and a
        // run) fits, visitor 3 (and its view) does not and leaves counts.
        first.absorb(later, 5);
        assert_eq!(first.lasts, vec![(1, t + 60 * S), (2, t + 60 * S)]);
        assert_eq!(first.runs.len(), 3);
        assert_eq!(
            first.counts.get(&day(t)),
            Some(&DayCounts {
                page_views: 4,
                visits: 1,
                visitors: 1
            })
        );
        assert_eq!(first.alone_views.get(&(40, day(t))), Some(&1));
        first.validate().unwrap();
    }

    #[test]
    fn parts_keep_a_visitor_whole_and_carry_everything_once() {
        let t = DAY0 + 3600 * S;
        let mut views = Vec::new();
        for key in 0..1_200u64 {
            views.push((key, t, None));
            views.push((key, t + S, Some(key % 7)));
            views.push((key, t + 2 * T, None));
        }
        let b = batch(&mut enabled(), &views, t + 3 * T);
        let (lasts, runs, all_views) = (b.lasts.clone(), b.runs.clone(), b.views.clone());
        assert_eq!(
            (lasts.len(), runs.len(), all_views.len()),
            (1_200, 2_400, 1_200)
        );
        let parts = b.into_parts();
        assert!(parts.len() >= 9, "{} parts", parts.len());
        for p in &parts {
            assert!(p.entries() <= PART_ENTRIES + 3, "{}", p.entries());
            assert!(!p.encode(T, T).is_empty());
            p.validate().unwrap();
        }
        let lasts_sent: Vec<(u64, i64)> = parts.iter().flat_map(|p| p.lasts.clone()).collect();
        let runs_sent: Vec<Run> = parts.iter().flat_map(|p| p.runs.clone()).collect();
        let views_sent: Vec<View> = parts.iter().flat_map(|p| p.views.clone()).collect();
        assert_eq!(
            (lasts_sent, runs_sent, views_sent),
            (lasts, runs, all_views)
        );
        for w in parts.windows(2) {
            assert!(w[0].lasts.last().unwrap().0 < w[1].lasts.first().unwrap().0);
        }
        assert_eq!(parts.iter().map(Batch::page_views).sum::<u64>(), 3_600);
    }

    #[test]
    fn ordered_instants_sort_as_their_bytes() {
        let mut instants = [i64::MIN, -5, -1, 0, 1, 7, i64::MAX, DAY0];
        instants.sort_unstable();
        let bytes: Vec<[u8; 8]> = instants.iter().map(|&t| ordered(t)).collect();
        assert!(bytes.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(ordered(i64::MIN), [0; 8]);
    }
}
