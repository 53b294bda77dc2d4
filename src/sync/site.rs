//! What a counter that shares its site reads: the site's numbers as of its last sync (a
//! replica of the records the site's script keeps, see `site.lua`), and the counts recorded
//! here that the site does not hold yet.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::articles::views::ArticleCounts;
use crate::calendar::clock::held;
use crate::calendar::local::PeriodKeys;
use crate::calendar::periods::{DayRing, Period, PeriodBuckets, Periods, Span};
use crate::common::bounded;
use crate::ids::ArticleId;
use crate::sync::engine::Mark;
use crate::visitors::traffic::{Tally, TrafficCounts};
use crate::visitors::unique::UniqueCounts;

/// One record of the site as its script answers it: the record's name (`s:<kind>:<key>` or
/// `A:<article>`), its change number, and its hash fields.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Record {
    pub name: Vec<u8>,
    pub number: u64,
    pub fields: Vec<(Vec<u8>, Vec<u8>)>,
}

/// The site's numbers as of the last sync.
pub(crate) struct Site {
    /// Names the site's data in Redis; another epoch means the data were lost and started over.
    pub epoch: Option<String>,
    /// The change number read up to.
    pub since: u64,
    /// The site's marker at or after it (not saved: a counter restored from a snapshot reads
    /// the site again from its start).
    pub mark: Option<Mark>,
    pub traffic: TrafficCounts,
    pub visitors: PeriodBuckets<u64>,
    pub visitor_days: DayRing<u64>,
    pub articles: ArticleCounts,
    /// Visitors online at the last sync, by the counter's clock at that sync.
    pub online: u64,
    /// When the last sync was, by the counter's clock.
    pub synced_at: Option<i64>,
}

impl Default for Site {
    fn default() -> Self {
        Site {
            epoch: None,
            since: 0,
            mark: None,
            traffic: TrafficCounts::default(),
            visitors: PeriodBuckets::default(),
            visitor_days: DayRing::default(),
            articles: ArticleCounts::new(),
            online: 0,
            synced_at: None,
        }
    }
}

fn number(v: &[u8]) -> Option<u64> {
    std::str::from_utf8(v).ok()?.parse().ok()
}

fn key_of(v: &[u8]) -> Option<i32> {
    std::str::from_utf8(v).ok()?.parse().ok()
}

impl Site {
    /// Takes in a record the site answered. A record that cannot be read (a foreign or crafted
    /// value under the site's keys) is passed over: its reading stays as it was.
    pub(crate) fn apply(&mut self, r: &Record) {
        self.since = self.since.max(r.number);
        let field = |name: &[u8]| {
            r.fields
                .iter()
                .find(|(f, _)| f.as_slice() == name)
                .and_then(|(_, v)| number(v))
        };
        match r.name.as_slice() {
            [b's', b':', kind, b':', key @ ..] => {
                let Some(key) = key_of(key) else { return };
                let span = match kind {
                    b'd' => Span::Day,
                    b'w' => Span::Week,
                    b'm' => Span::Month,
                    b'y' => Span::Year,
                    b't' => Span::Total,
                    _ => return,
                };
                let tally = Tally {
                    visits: field(b"v").unwrap_or(0),
                    page_views: field(b"p").unwrap_or(0),
                };
                let visitors = visitors_of(&r.fields);
                if let Some(t) = self.traffic.periods.bucket_mut(span, key) {
                    *t = tally;
                }
                if let Some(v) = self.visitors.bucket_mut(span, key) {
                    *v = visitors;
                }
                if span == Span::Day {
                    if let Some(t) = self.traffic.days.slot_mut(key) {
                        *t = tally;
                    }
                    if let Some(v) = self.visitor_days.slot_mut(key) {
                        *v = visitors;
                    }
                }
            }
            [b'A', b':', id @ ..] => {
                let Ok(id) = <[u8; 8]>::try_from(id) else {
                    return;
                };
                let mut held: Vec<(Span, i32, u64)> = r
                    .fields
                    .iter()
                    .filter_map(|(f, v)| {
                        let v = number(v)?;
                        match f.as_slice() {
                            b"t" => Some((Span::Total, 0, v)),
                            [kind, b':', key @ ..] => {
                                let span = match kind {
                                    b'd' => Span::Day,
                                    b'w' => Span::Week,
                                    b'm' => Span::Month,
                                    b'y' => Span::Year,
                                    _ => return None,
                                };
                                Some((span, key_of(key)?, v))
                            }
                            _ => None,
                        }
                    })
                    .collect();
                // Oldest first, so that each kind keeps its two newest periods.
                held.sort_by_key(|&(_, key, _)| key);
                let mut views = PeriodBuckets::<u64>::default();
                for (span, key, v) in held {
                    if let Some(b) = views.bucket_mut(span, key) {
                        *b = v;
                    }
                }
                self.articles
                    .set(ArticleId::from(u64::from_be_bytes(id)), views);
            }
            _ => {}
        }
    }
}

/// The distinct visitors of a period's summary: its count `u` (exact up to 1,000, then the
/// estimate of its HyperLogLog), plus `e`, those a counter past its bound counted alone.
fn visitors_of(fields: &[(Vec<u8>, Vec<u8>)]) -> u64 {
    let field = |name: &[u8]| {
        fields
            .iter()
            .find(|(f, _)| f.as_slice() == name)
            .and_then(|(_, v)| number(v))
            .unwrap_or(0)
    };
    field(b"u").saturating_add(field(b"e"))
}

/// Counts recorded on this counter that the site's readings do not hold yet.
#[derive(Clone, Default)]
pub(crate) struct Delta {
    pub traffic: TrafficCounts,
    pub visitors: PeriodBuckets<u64>,
    pub visitor_days: DayRing<u64>,
    pub articles: HashMap<ArticleId, PeriodBuckets<u64>>,
    /// Visitors that came online on this counter.
    pub came_online: u64,
}

impl Delta {
    /// The delta of counts taken from this counter's own tables.
    pub(crate) fn of(
        traffic: TrafficCounts,
        unique: UniqueCounts,
        articles: Vec<(ArticleId, PeriodBuckets<u64>)>,
        came_online: u64,
    ) -> Delta {
        Delta {
            traffic,
            visitors: unique.periods.map(|d| d.count()),
            visitor_days: unique.days,
            articles: articles.into_iter().collect(),
            came_online,
        }
    }

    /// Adds `other` in.
    pub(crate) fn absorb(&mut self, other: Delta) {
        self.traffic.periods.merge(&other.traffic.periods);
        self.traffic.days.merge(&other.traffic.days);
        self.visitors.merge(&other.visitors);
        self.visitor_days.merge(&other.visitor_days);
        for (id, views) in other.articles {
            self.articles.entry(id).or_default().merge(&views);
        }
        self.came_online += other.came_online;
    }

    /// Adds the visitors per reading period at `now`.
    pub(crate) fn add_visitors(&self, now: &PeriodKeys, into: &mut Periods) {
        *into += self.visitors.read(now, |v| *v);
    }

    /// One article's views per reading period at `now`.
    pub(crate) fn article(&self, id: ArticleId, now: &PeriodKeys) -> Periods {
        self.articles
            .get(&id)
            .map(|b| b.read(now, |v| *v))
            .unwrap_or_default()
    }

    /// The articles this delta holds views of in `period` at `now`.
    pub(crate) fn articles_in<'a>(
        &'a self,
        period: Period,
        now: &'a PeriodKeys,
    ) -> impl Iterator<Item = ArticleId> + 'a {
        self.articles
            .iter()
            .filter(move |(_, b)| b.at(period, now).is_some_and(|v| *v > 0))
            .map(|(id, _)| *id)
    }
}

/// A [`Site`] as a snapshot holds it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct SavedSite {
    #[serde(deserialize_with = "bounded::option_string")]
    pub epoch: Option<String>,
    pub since: u64,
    pub traffic: TrafficCounts,
    pub visitors: PeriodBuckets<u64>,
    pub visitor_days: DayRing<u64>,
    #[serde(deserialize_with = "bounded::vec")]
    pub articles: Vec<(ArticleId, PeriodBuckets<u64>)>,
    pub online: u64,
    pub synced_at: Option<i64>,
}

/// Whether restored counts are safe to use (their buckets in order).
fn well_formed(
    traffic: &TrafficCounts,
    visitors: &PeriodBuckets<u64>,
    visitor_days: &DayRing<u64>,
    articles: &[(ArticleId, PeriodBuckets<u64>)],
) -> bool {
    traffic.periods.is_well_formed()
        && traffic.days.is_well_formed()
        && visitors.is_well_formed()
        && visitor_days.is_well_formed()
        && articles.iter().all(|(_, b)| b.is_well_formed())
}

impl SavedSite {
    pub(crate) fn validate(&self) -> Result<(), String> {
        let well_formed = well_formed(
            &self.traffic,
            &self.visitors,
            &self.visitor_days,
            &self.articles,
        ) && self.synced_at.is_none_or(held);
        well_formed
            .then_some(())
            .ok_or_else(|| "malformed site readings".into())
    }
}

impl Site {
    pub(crate) fn saved(&self) -> SavedSite {
        SavedSite {
            epoch: self.epoch.clone(),
            since: self.since,
            traffic: self.traffic.clone(),
            visitors: self.visitors.clone(),
            visitor_days: self.visitor_days.clone(),
            articles: self.articles.all(),
            online: self.online,
            synced_at: self.synced_at,
        }
    }

    /// The site's numbers of a vetted snapshot.
    pub(crate) fn restored(saved: SavedSite) -> Site {
        let mut articles = ArticleCounts::new();
        articles.restore(saved.articles);
        Site {
            epoch: saved.epoch,
            since: saved.since,
            mark: None,
            traffic: saved.traffic,
            visitors: saved.visitors,
            visitor_days: saved.visitor_days,
            articles,
            online: saved.online,
            synced_at: saved.synced_at,
        }
    }
}

/// A [`Delta`] as a snapshot holds it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct SavedDelta {
    pub traffic: TrafficCounts,
    pub visitors: PeriodBuckets<u64>,
    pub visitor_days: DayRing<u64>,
    #[serde(deserialize_with = "bounded::vec")]
    pub articles: Vec<(ArticleId, PeriodBuckets<u64>)>,
    pub came_online: u64,
}

impl SavedDelta {
    pub(crate) fn validate(&self) -> Result<(), String> {
        well_formed(
            &self.traffic,
            &self.visitors,
            &self.visitor_days,
            &self.articles,
        )
        .then_some(())
        .ok_or_else(|| "malformed counts not synced yet".into())
    }
}

impl Delta {
    pub(crate) fn saved(&self) -> SavedDelta {
        SavedDelta {
            traffic: self.traffic.clone(),
            visitors: self.visitors.clone(),
            visitor_days: self.visitor_days.clone(),
            articles: self
                .articles
                .iter()
                .map(|(id, b)| (*id, b.clone()))
                .collect(),
            came_online: self.came_online,
        }
    }

    pub(crate) fn restored(saved: SavedDelta) -> Delta {
        let mut delta = Delta {
            traffic: saved.traffic,
            visitors: saved.visitors,
            visitor_days: saved.visitor_days,
            articles: HashMap::new(),
            came_online: saved.came_online,
        };
        // A repeated article adds up.
        for (id, views) in saved.articles {
            delta.articles.entry(id).or_default().merge(&views);
        }
        delta
    }
}
