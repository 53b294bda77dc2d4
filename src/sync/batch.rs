//! A batch: the page views a counter sends to its site, compacted, and the parts it is sent in.
//!
//! The site decides visits, distinct visitors, online and refresh dedup against its own state.
//! For each visitor it needs the page views that may start a visit or a local day (**runs**,
//! see `log.rs`), each with the visitor's page view before it on this counter, and the
//! visitor's last page view; for each article view, the view. Page views themselves are sent
//! as counts per day: they are exact whatever the order they reach the site in.
//!
//! # Bound
//! While parts wait to be sent (Redis down), the batch behind them absorbs the cuts of later
//! syncs. The parts and that batch hold at most `max_entries` visitors, runs and article views
//! together (the counter's `max_sessions`); past that, the visitors the batch does not
//! hold yet are kept only as counts per day with this counter's own decisions: page views stay
//! exact, while those visitors' visits, distinct visitors and article views are what this
//! counter alone saw (a visitor also seen by another counter may count twice), and the site's
//! online and sessions do not see them.
//!
//! # Parts
//! A batch goes to the site in parts of about [`PART_ENTRIES`] visitors, runs and article
//! views, each applied once. A visitor's runs and views stay in one part, unless they are more
//! than a part holds: then they go as consecutive spans of its time, one part each (see
//! `spans`). Visitors go by the lowest article id they viewed, then by key, so that those who
//! read one article share parts: the script reads and writes an article's counts once for each
//! part that names it. A part keeps its own visitors in key order. The counts per day go with
//! the first part.

use std::collections::BTreeMap;

use time::{Date, Weekday};

use crate::calendar::local::{period_keys, PeriodKeys};
use crate::sync::log::{Start, Taken};

/// Visitors, runs and article views per part: the site's script spends 5 to 10 µs on each (on
/// the machine in `BENCHMARKS.md`), so a part keeps Redis busy for a few milliseconds.
pub(crate) const PART_ENTRIES: usize = 250;

/// A view of an article by a visitor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct View {
    pub article: u64,
    pub key: u64,
    pub at: i64,
    pub day: i32,
    /// Whether this counter's own refresh dedup counted it.
    pub counted: bool,
}

/// Counts of one day: page views, and what this counter decided alone (see "Bound").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct DayCounts {
    pub page_views: u64,
    pub visits: u64,
    pub visitors: u64,
}

/// Page views to send, compacted.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Batch {
    /// Each visitor's last page view, by visitor key.
    lasts: Vec<(u64, i64)>,
    /// Sorted by visitor key, then time.
    runs: Vec<Start>,
    /// Sorted by visitor key, article, then time.
    views: Vec<View>,
    counts: BTreeMap<i32, DayCounts>,
    /// Article views counted alone, by (article, day).
    alone_views: BTreeMap<(u64, i32), u64>,
    /// The period keys of every day the batch names.
    days: BTreeMap<i32, PeriodKeys>,
}

impl Batch {
    /// The batch of what logs held at a cut (see `log.rs`), in any order: their starts, views
    /// and counts past their bound, each visitor's last page view (`lasts`, read from the
    /// session table at the cut), and the page views of each day.
    pub(crate) fn from_log(
        taken: Taken,
        mut lasts: Vec<(u64, i64)>,
        page_views: impl IntoIterator<Item = (i32, u64)>,
        week_start: Weekday,
    ) -> Batch {
        let Taken {
            starts,
            mut views,
            counts,
            alone_views,
        } = taken;
        // A run is a logged start that starts a visit or a day here.
        let mut runs = starts;
        runs.retain(|s| s.new_visit || s.new_day);
        runs.sort_unstable_by_key(run_order);
        views.sort_unstable_by_key(view_order);
        keep_latest(&mut lasts);
        let mut batch = Batch {
            lasts,
            runs,
            views,
            counts,
            alone_views,
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
            .chain(batch.alone_views.keys().map(|k| k.1))
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

    /// Checks what a part relies on: every day it names is known, instants are in range,
    /// visitors, runs and views are in the order the batch keeps them.
    #[cfg(test)]
    fn validate(&self) -> Result<(), String> {
        let known = |d: &i32| self.days.contains_key(d);
        let held = crate::calendar::clock::held;
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
                .all(|w| run_order(&w[0]) <= run_order(&w[1]))
            && self
                .views
                .windows(2)
                .all(|w| view_order(&w[0]) <= view_order(&w[1]));
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

    /// Visitors, runs, article views and article views counted alone held (what the bound
    /// counts).
    pub(crate) fn entries(&self) -> usize {
        self.lasts.len() + self.runs.len() + self.views.len() + self.alone_views.len()
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
        // A visitor held keeps its last page view up to date; its later runs and views, and a
        // new visitor (taken whole), need room, and past it leave counts only.
        let mut room = max_entries.saturating_sub(self.entries());
        let (mut lasts, mut runs, mut views) = (Vec::new(), Vec::new(), Vec::new());
        for (key, last, r, v) in later.visitors() {
            let held = self.lasts.binary_search_by_key(&key, |l| l.0).is_ok();
            let cost = usize::from(!held) + r.len() + v.len();
            if cost <= room {
                room -= cost;
                lasts.push((key, last));
                runs.extend_from_slice(r);
                views.extend_from_slice(v);
                continue;
            }
            if held {
                lasts.push((key, last));
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
        keep_latest(&mut self.lasts);
        self.runs.extend(runs);
        self.runs.sort_by_key(run_order);
        self.views.extend(views);
        self.views.sort_by_key(view_order);
    }

    fn add_counts(&mut self, day: i32, c: DayCounts) {
        let mine = self.counts.entry(day).or_default();
        mine.page_views += c.page_views;
        mine.visits += c.visits;
        mine.visitors += c.visitors;
    }

    /// The visitors of the batch, in key order: each with its last page view, runs and views.
    fn visitors(&self) -> Vec<(u64, i64, &[Start], &[View])> {
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
            part.lasts.sort_unstable();
            part.runs.sort_unstable_by_key(run_order);
            part.views.sort_unstable_by_key(view_order);
            parts.push(std::mem::take(part));
        };
        let mut visitors = self.visitors();
        visitors.sort_by_key(|&(key, _, _, views)| (views.first().map(|v| v.article), key));
        for (key, last, runs, views) in visitors {
            if 1 + runs.len() + views.len() <= PART_ENTRIES {
                part.lasts.push((key, last));
                part.runs.extend_from_slice(runs);
                part.views.extend_from_slice(views);
                if part.entries() >= PART_ENTRIES {
                    finish(&mut part, &mut parts);
                }
                continue;
            }
            // A visitor heavier than a part: consecutive spans of its time, one part each.
            for (until, runs, views) in spans(last, runs, views) {
                part.lasts.push((key, until));
                part.runs.extend(runs);
                part.views.extend(views);
                if part.entries() >= PART_ENTRIES {
                    finish(&mut part, &mut parts);
                }
            }
        }
        for (&k, &n) in &self.alone_views {
            part.alone_views.insert(k, n);
            if part.entries() >= PART_ENTRIES {
                finish(&mut part, &mut parts);
            }
        }
        if !part.is_empty() || parts.is_empty() {
            finish(&mut part, &mut parts);
        }
        parts
    }

    /// The part as the site's script reads it (see `site.lua`), instants in whole
    /// microseconds: its days (period keys; page views, and the visits and visitors counted
    /// alone), its visitors (last page view, runs, article views) and the article views counted
    /// alone.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + 40 * self.lasts.len() + 30 * self.views.len());
        let index: BTreeMap<i32, u16> = self
            .days
            .keys()
            .enumerate()
            .map(|(i, d)| (*d, (i + 1).min(usize::from(u16::MAX)) as u16))
            .collect();
        let day_index = |d: i32| index.get(&d).copied().unwrap_or(0).to_le_bytes();
        put_u32(&mut out, self.days.len());
        for (d, keys) in &self.days {
            for k in [keys.day, keys.week, keys.month, keys.year] {
                out.extend_from_slice(&k.to_le_bytes());
            }
            let c = self.counts.get(d).copied().unwrap_or_default();
            for n in [c.page_views, c.visits, c.visitors] {
                out.extend_from_slice(&(n.min(1 << 53) as i64).to_le_bytes());
            }
        }
        // A part holds at most `PART_ENTRIES` runs and views of a visitor (see `spans`).
        let visitors = self.visitors();
        put_u32(&mut out, visitors.len());
        for (key, last, runs, views) in visitors {
            out.extend_from_slice(&key.to_be_bytes());
            out.extend_from_slice(&micros(last).to_le_bytes());
            out.extend_from_slice(&count16(runs.len()));
            out.extend_from_slice(&count16(views.len()));
            for r in runs {
                out.extend_from_slice(&day_index(r.day));
                out.extend_from_slice(&micros(r.at).to_le_bytes());
                let prior = if r.prior == i64::MIN {
                    NONE
                } else {
                    micros(r.prior)
                };
                out.extend_from_slice(&prior.to_le_bytes());
            }
            for v in views {
                out.extend_from_slice(&v.article.to_be_bytes());
                out.extend_from_slice(&day_index(v.day));
                out.extend_from_slice(&micros(v.at).to_le_bytes());
            }
        }
        put_u32(&mut out, self.alone_views.len());
        for (&(article, day), &n) in &self.alone_views {
            out.extend_from_slice(&article.to_be_bytes());
            out.extend_from_slice(&day_index(day));
            out.extend_from_slice(&(n.min(u64::from(u32::MAX)) as u32).to_le_bytes());
        }
        out
    }
}

/// What an encoded part names: the keys of its visitors that viewed articles (whose entries
/// the call may write), its periods (`d:<day>`, `w:<week>`, `m:<month>`, `y:<year>`, `t:0`) and
/// its articles, each once, for the keys a call declares. A part that cannot be read names what
/// was read of it (the site's script refuses it).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Touched {
    pub viewers: Vec<[u8; 8]>,
    pub periods: Vec<String>,
    pub articles: Vec<[u8; 8]>,
}

/// What an encoded part names (see [`Batch::encode`]).
pub(crate) fn touched(part: &[u8]) -> Touched {
    let mut out = Touched::default();
    let mut r = Reader(part);
    let _ = (|| -> Option<()> {
        let days = r.u32()?;
        for _ in 0..days {
            let keys: Vec<i32> = (0..4).map(|_| r.i32()).collect::<Option<_>>()?;
            r.skip(24)?;
            for (kind, key) in ["d", "w", "m", "y"].iter().zip(keys) {
                out.periods.push(format!("{kind}:{key}"));
            }
        }
        if days > 0 {
            out.periods.push("t:0".into());
        }
        for _ in 0..r.u32()? {
            let key = r.key()?;
            r.skip(8)?;
            let (runs, views) = (r.u16()?, r.u16()?);
            if views > 0 {
                out.viewers.push(key);
            }
            r.skip(18 * usize::from(runs))?;
            for _ in 0..views {
                out.articles.push(r.key()?);
                r.skip(10)?;
            }
        }
        for _ in 0..r.u32()? {
            out.articles.push(r.key()?);
            r.skip(6)?;
        }
        Some(())
    })();
    for list in [&mut out.viewers, &mut out.articles] {
        list.sort_unstable();
        list.dedup();
    }
    out.periods.sort_unstable();
    out.periods.dedup();
    out
}

/// Reads an encoded part.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }
    fn skip(&mut self, n: usize) -> Option<()> {
        self.0 = self.0.get(n..)?;
        Some(())
    }
    fn u16(&mut self) -> Option<u16> {
        self.take().map(u16::from_le_bytes)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_le_bytes)
    }
    fn i32(&mut self) -> Option<i32> {
        self.take().map(i32::from_le_bytes)
    }
    fn key(&mut self) -> Option<[u8; 8]> {
        self.take()
    }
}

/// "No page view before this one" in a part: outside the range of instants the crate holds, and
/// exactly a Lua number.
const NONE: i64 = -(1 << 53);

/// An instant in whole microseconds (rounded down), as the site's script compares instants.
pub(crate) fn micros(at: i64) -> i64 {
    at.div_euclid(1_000)
}

/// A visitor's runs and views cut into consecutive spans of time of about `PART_ENTRIES - 1`
/// runs and views each (instants that are equal stay in one span), each with the latest
/// instant it holds: the visitor's last page view as far as the site needs to know when it
/// applies the span. The last span ends at `last`. Runs stay in time order, views in article
/// then time order; a later span holds only later instants, so the site's visits and refresh
/// dedup see the page views in the order they happened.
fn spans(last: i64, runs: &[Start], views: &[View]) -> Vec<(i64, Vec<Start>, Vec<View>)> {
    let mut times: Vec<i64> = runs
        .iter()
        .map(|r| r.at)
        .chain(views.iter().map(|v| v.at))
        .collect();
    times.sort_unstable();
    let mut out = Vec::new();
    let (mut from, mut i) = (i64::MIN, 0);
    while i < times.len() {
        let mut end = (i + PART_ENTRIES - 1).min(times.len());
        let until = times[end - 1];
        while end < times.len() && times[end] == until {
            end += 1;
        }
        let within = |at: i64| from < at && at <= until;
        out.push((
            until,
            runs.iter().filter(|r| within(r.at)).copied().collect(),
            views.iter().filter(|v| within(v.at)).copied().collect(),
        ));
        (from, i) = (until, end);
    }
    if let Some(span) = out.last_mut() {
        span.0 = span.0.max(last);
    }
    out
}

/// The order a batch keeps its runs in: by visitor key, then time.
fn run_order(r: &Start) -> (u64, i64) {
    (r.key, r.at)
}

/// The order a batch keeps its article views in: by visitor key, article, then time.
fn view_order(v: &View) -> (u64, u64, i64) {
    (v.key, v.article, v.at)
}

/// Sorts visitors' last page views by visitor, a visitor named twice keeping its latest.
fn keep_latest(lasts: &mut Vec<(u64, i64)>) {
    lasts.sort_unstable();
    lasts.dedup_by(|later, kept| {
        let same = later.0 == kept.0;
        if same {
            kept.1 = kept.1.max(later.1);
        }
        same
    });
}

/// A count of a visitor's runs or views in a part, which `into_parts` keeps below `u16::MAX`.
fn count16(n: usize) -> [u8; 2] {
    debug_assert!(n <= PART_ENTRIES);
    (n.min(usize::from(u16::MAX)) as u16).to_le_bytes()
}

fn put_u32(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n.min(u32::MAX as usize) as u32).to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::log::{PageView, ShardLog, Taken};

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
    fn batch(log: &mut ShardLog, views: &[(u64, i64, Option<u64>)], cut: i64) -> Batch {
        let mut last = std::collections::BTreeMap::new();
        let mut page_views = std::collections::BTreeMap::new();
        for &(key, at, article) in views {
            let prior: Option<i64> = last.get(&key).copied();
            log.record(
                || PageView {
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
        let (taken, _) = log.take(Default::default(), cut).unwrap();
        let mut keys: Vec<u64> = taken.starts.iter().map(|s| s.key).collect();
        keys.extend(taken.views.iter().map(|v| v.key));
        let lasts = keys.into_iter().map(|k| (k, last[&k])).collect();
        Batch::from_log(taken, lasts, page_views, Weekday::Monday)
    }

    #[test]
    fn runs_are_the_page_views_that_start_a_visit_or_a_day() {
        let noon = DAY0 + 12 * 3600 * S;
        let late = DAY0 + 24 * 3600 * S - 60 * S;
        let b = batch(
            &mut ShardLog::sharing(usize::MAX),
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
        let mut log = ShardLog::sharing(usize::MAX);
        let _ = batch(&mut log, &[(1, t, None)], t);
        // The first page view after the cut starts nothing here but is logged, so the visitor
        // is sent with its last page view; the next ones are not logged.
        log.record(
            || PageView {
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
        log.record(
            || PageView {
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
        assert_eq!(log.len(), 2);
        let (taken, _) = log.take(Taken::default(), t + 3 * S).unwrap();
        assert_eq!(taken.starts.len(), 1);
    }

    #[test]
    fn a_later_batch_past_the_bound_leaves_counts_for_new_visitors() {
        let t = DAY0 + 3600 * S;
        let mut first = batch(&mut ShardLog::sharing(usize::MAX), &[(1, t, None)], t);
        let later = batch(
            &mut ShardLog::sharing(usize::MAX),
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
        let b = batch(&mut ShardLog::sharing(usize::MAX), &views, t + 3 * T);
        let (lasts, runs, all_views) = (b.lasts.clone(), b.runs.clone(), b.views.clone());
        assert_eq!(
            (lasts.len(), runs.len(), all_views.len()),
            (1_200, 2_400, 1_200)
        );
        let parts = b.into_parts();
        assert!(parts.len() >= 9, "{} parts", parts.len());
        for p in &parts {
            assert!(p.entries() <= PART_ENTRIES + 3, "{}", p.entries());
            assert!(!p.encode().is_empty());
            p.validate().unwrap();
        }
        // Each visitor in one part (parts go by article, each in key order: `validate`).
        let mut lasts_sent: Vec<(u64, i64)> = parts.iter().flat_map(|p| p.lasts.clone()).collect();
        let mut runs_sent: Vec<Start> = parts.iter().flat_map(|p| p.runs.clone()).collect();
        let mut views_sent: Vec<View> = parts.iter().flat_map(|p| p.views.clone()).collect();
        lasts_sent.sort_unstable();
        runs_sent.sort_unstable_by_key(run_order);
        views_sent.sort_unstable_by_key(view_order);
        assert_eq!(
            (lasts_sent, runs_sent, views_sent),
            (lasts, runs, all_views)
        );
        assert_eq!(parts.iter().map(Batch::page_views).sum::<u64>(), 3_600);
    }

    #[test]
    fn a_visitor_heavier_than_a_part_goes_as_consecutive_spans_of_its_time() {
        let t = DAY0 + 3600 * S;
        // Visitor 5 views 700 articles a minute apart, a visit of its own every 40 minutes;
        // visitors 4 and 6 one page view each.
        let mut views = vec![(4, t, None)];
        for i in 0..700_i64 {
            views.push((
                5,
                t + 40 * 60 * S * (i / 3) + i % 3 * 60 * S,
                Some(i as u64 % 90),
            ));
        }
        views.push((6, t, None));
        let b = batch(&mut ShardLog::sharing(usize::MAX), &views, t + 1_000 * T);
        let heavy_last = b.lasts[1].1;
        let (mut runs, mut all_views) = (b.runs.clone(), b.views.clone());
        let parts = b.into_parts();
        assert!(parts.len() >= 4, "{} parts", parts.len());
        let mut spans = Vec::new();
        for p in &parts {
            assert!(p.entries() <= 2 * PART_ENTRIES, "{}", p.entries());
            p.validate().unwrap();
            spans.extend(p.visitors().into_iter().filter(|v| v.0 == 5).map(|v| {
                let times: Vec<i64> =
                    v.2.iter()
                        .map(|r| r.at)
                        .chain(v.3.iter().map(|x| x.at))
                        .collect();
                (v.1, times)
            }));
        }
        // Each span ends at its latest instant, before every instant of the next one; the last
        // ends at the visitor's last page view.
        assert!(spans.len() >= 3);
        for w in spans.windows(2) {
            assert_eq!(w[0].0, *w[0].1.iter().max().unwrap());
            assert!(w[1].1.iter().all(|&at| at > w[0].0));
        }
        assert_eq!(spans.last().unwrap().0, heavy_last);
        let mut runs_sent: Vec<Start> = parts.iter().flat_map(|p| p.runs.clone()).collect();
        let mut views_sent: Vec<View> = parts.iter().flat_map(|p| p.views.clone()).collect();
        for v in [&mut runs, &mut runs_sent] {
            v.sort_unstable_by_key(run_order);
        }
        for v in [&mut all_views, &mut views_sent] {
            v.sort_unstable_by_key(view_order);
        }
        assert_eq!((runs_sent, views_sent), (runs, all_views));
        // Visitors without article views go first, the heavy one's spans after them.
        let keys = |p: &Batch| -> Vec<u64> { p.lasts.iter().map(|l| l.0).collect() };
        assert_eq!(keys(&parts[0]), [4, 5, 6]);
        assert!(parts[1..].iter().all(|p| keys(p) == [5]));
    }

    #[test]
    fn a_part_names_the_entries_of_its_visitors_with_article_views_only() {
        let t = DAY0 + 3600 * S;
        // Visitor 1 views article 9 twice, visitor 2 article 9, visitor 3 nothing.
        let views = [
            (1, t, Some(9)),
            (1, t + S, Some(9)),
            (2, t, Some(9)),
            (3, t, None),
        ];
        let b = batch(&mut ShardLog::sharing(usize::MAX), &views, t + T);
        let parts = b.into_parts();
        assert_eq!(parts.len(), 1);
        let bytes = parts[0].encode();
        let named = touched(&bytes);
        assert_eq!(named.viewers, [1u64.to_be_bytes(), 2u64.to_be_bytes()]);
        assert_eq!(named.articles, [9u64.to_be_bytes()]);
        assert_eq!(named.periods.len(), 5);
        assert_eq!(touched(&bytes[..20]), Touched::default());
    }

    #[test]
    fn readers_of_one_article_share_parts() {
        let t = DAY0 + 3600 * S;
        // 1,000 visitors, each viewing one of 10 articles (visitor i article i % 10).
        let views: Vec<(u64, i64, Option<u64>)> = (0..1_000)
            .map(|i| (i, t + i as i64, Some(i % 10)))
            .collect();
        let b = batch(&mut ShardLog::sharing(usize::MAX), &views, t + T);
        let parts = b.into_parts();
        let mut articles = 0;
        for p in &parts {
            p.validate().unwrap();
            articles += touched(&p.encode()).articles.len();
        }
        // In key order every part would name all 10.
        assert!(
            articles <= parts.len() + 10,
            "{articles} in {} parts",
            parts.len()
        );
        let sent: usize = parts.iter().map(|p| p.lasts.len()).sum();
        assert_eq!(sent, 1_000);
    }

    #[test]
    fn views_counted_alone_spread_over_parts() {
        let mut b = Batch::default();
        for article in 0..1_000u64 {
            for d in 0..3 {
                b.alone_views.insert((article, JD0 + d), 1);
            }
            b.know_day(JD0, Weekday::Monday);
        }
        for d in 0..3 {
            b.know_day(JD0 + d, Weekday::Monday);
        }
        let parts = b.into_parts();
        assert!(parts.len() >= 12, "{}", parts.len());
        assert!(parts.iter().all(|p| p.entries() <= PART_ENTRIES));
        let sent: usize = parts.iter().map(|p| p.alone_views.len()).sum();
        assert_eq!(sent, 3_000);
        for p in &parts {
            p.validate().unwrap();
        }
    }
}
