//! [`Counter`]: recording page views and reading the statistics.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use crate::articles::views::ArticleViews;
use crate::builder::CounterBuilder;
use crate::calendar::clock::{clamp_nanos, from_nanos, Clock};
#[cfg(feature = "web")]
use crate::calendar::local::DayInfo;
use crate::calendar::local::{period_keys, Calendar, PeriodKeys};
use crate::calendar::periods::{Merge, Period, PeriodBuckets, Periods, HISTORY_DAYS};
use crate::common::periodic;
use crate::error::SnapshotError;
use crate::ids::{session_key, ArticleId, VisitorId};
use crate::snapshot;
use crate::snapshot::state::{SavedCalendar, State};
use crate::sync::engine::{Cut, SavedSync, ShardVisit, Sharing, Tables};
use crate::sync::log::{PageView, ShardLog};
use crate::sync::{SyncError, SyncStatus};
#[cfg(feature = "web")]
use crate::visitors::pace::Pace;
use crate::visitors::saved::SavedSessions;
use crate::visitors::sessions::{SessionConfig, Sessions};
use crate::visitors::traffic::{ShardTraffic, Tally, TrafficCounts};
use crate::visitors::unique::{Unique, UniqueCounts};

/// The site's statistics at one instant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Visitors whose last page view was less than the online window ago (exact).
    pub online: u64,
    /// Visits (sessions started) per period (exact).
    pub visits: Periods,
    /// Page views per period (exact).
    pub page_views: Periods,
    /// Distinct visitors per period: exact up to 4,096, within 2 % beyond.
    pub visitors: Periods,
}

/// One article's statistics.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArticleStats {
    /// Counted views per period (after refresh dedup).
    pub views: Periods,
}

/// One local day of history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayCounts {
    /// The local date.
    pub date: Date,
    /// Visits that started that day.
    pub visits: u64,
    /// Page views that day.
    pub page_views: u64,
    /// Distinct visitors that day.
    pub visitors: u64,
}

/// The visitor counter. Cheap to clone: clones share one state, so hand one to every request
/// handler.
///
/// See the [crate docs](crate) for the model (sessions, visits, calendar buckets) and what is
/// exact; each method says what it locks.
#[derive(Clone)]
pub struct Counter {
    // Dropped first, while `inner` is still alive: the last clone's guards stop the sync and
    // autosave threads, wait for them, and make the final sync, then the final save.
    _sync: Option<Arc<periodic::Guard<Inner>>>,
    _autosave: Option<Arc<periodic::Guard<Inner>>>,
    inner: Arc<Inner>,
}

/// What each shard of the session table carries besides its sessions, under the same lock.
#[derive(Default)]
pub(crate) struct ShardShare {
    /// The shard's share of the visit and page view counts.
    traffic: ShardTraffic,
    /// Page views for the next sync, when the counter shares its site.
    log: ShardLog,
}

pub(crate) struct Inner {
    clock: Arc<dyn Clock>,
    calendar: Calendar,
    sessions: Sessions<ShardShare>,
    unique: Unique,
    articles: ArticleViews,
    initial: Tally,
    snapshot_path: Option<PathBuf>,
    /// Serialises saves.
    save_lock: Mutex<()>,
    save_status: Mutex<SaveStatus>,
    exclusions: [AtomicU64; Exclusion::ALL.len()],
    /// The secret key of the local day, for ids derived from request data
    /// ([`Counter::day_key`]).
    #[cfg(feature = "web")]
    day_key: Mutex<Option<DayKey>>,
    /// Page views per visitor in its current minute, for the web rules' pace limit.
    #[cfg(feature = "web")]
    pace: Pace,
    /// The site this counter shares, if any: its readings add the site's numbers (see
    /// `sync/`), and its own tables hold only what was recorded since the last sync.
    sharing: Option<Sharing>,
}

/// The secret key of a local day (see [`Counter::day_key`]).
#[cfg(feature = "web")]
struct DayKey {
    day: DayInfo,
    key: [u64; 2],
    /// Whether the key is the shared site's.
    from_site: bool,
}

/// Why a request was not counted as a page view (see [`Counter::exclude`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Exclusion {
    /// A crawler or tool, by its User-Agent (or an empty one).
    Bot,
    /// A browser prefetch or prerender (`Sec-Purpose` or `Purpose: prefetch`).
    Prefetch,
    /// A method the rules do not count: other than GET or HEAD for a page, other than POST
    /// for a beacon.
    Method,
    /// A response that is not a success (404, 500, redirects...).
    Status,
    /// A successful response that is not a page (an image, a script, JSON...), or a beacon
    /// that names no page of this site.
    NotPage,
    /// A page view past the visitor's pace limit: more page views in a minute than a person
    /// reads (see `web::Rules::pace_limit`).
    Pace,
}

impl Exclusion {
    /// Every reason, in declaration order.
    pub const ALL: [Exclusion; 6] = [
        Exclusion::Bot,
        Exclusion::Prefetch,
        Exclusion::Method,
        Exclusion::Status,
        Exclusion::NotPage,
        Exclusion::Pace,
    ];

    /// The reason's name in snake case, as in [`Exclusions`]' fields and the metrics' `reason`
    /// label: `bot`, `prefetch`, `method`, `status`, `not_page`, `pace`.
    pub const fn name(self) -> &'static str {
        match self {
            Exclusion::Bot => "bot",
            Exclusion::Prefetch => "prefetch",
            Exclusion::Method => "method",
            Exclusion::Status => "status",
            Exclusion::NotPage => "not_page",
            Exclusion::Pace => "pace",
        }
    }
}

/// Requests not counted, by reason, since the counter was built (not saved in snapshots).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exclusions {
    /// [`Exclusion::Bot`]
    pub bot: u64,
    /// [`Exclusion::Prefetch`]
    pub prefetch: u64,
    /// [`Exclusion::Method`]
    pub method: u64,
    /// [`Exclusion::Status`]
    pub status: u64,
    /// [`Exclusion::NotPage`]
    pub not_page: u64,
    /// [`Exclusion::Pace`]
    pub pace: u64,
}

impl Exclusions {
    /// The field of `reason`.
    pub fn get(&self, reason: Exclusion) -> u64 {
        *{ *self }.field(reason)
    }

    fn field(&mut self, reason: Exclusion) -> &mut u64 {
        match reason {
            Exclusion::Bot => &mut self.bot,
            Exclusion::Prefetch => &mut self.prefetch,
            Exclusion::Method => &mut self.method,
            Exclusion::Status => &mut self.status,
            Exclusion::NotPage => &mut self.not_page,
            Exclusion::Pace => &mut self.pace,
        }
    }
}

/// How saving has gone: readable with [`Counter::save_status`], so a host app can alert when
/// background saves fail.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SaveStatus {
    /// Successful saves by this counter (manual, background and final).
    pub saves: u64,
    /// Failed saves.
    pub failures: u64,
    /// The error of the last failed save, if the last save failed.
    pub last_error: Option<String>,
    /// When the last successful save was taken (by the counter's clock).
    pub last_saved_at: Option<OffsetDateTime>,
}

impl Inner {
    pub(crate) fn new(
        clock: Arc<dyn Clock>,
        calendar: Calendar,
        sessions: SessionConfig,
        dedup: crate::builder::DedupConfig,
        initial: Tally,
        snapshot_path: Option<PathBuf>,
    ) -> Inner {
        Inner {
            clock,
            calendar,
            sessions: Sessions::new(sessions),
            unique: Unique::default(),
            articles: ArticleViews::new(dedup.window, dedup.max_entries),
            initial,
            snapshot_path,
            save_lock: Mutex::new(()),
            save_status: Mutex::new(SaveStatus::default()),
            exclusions: Default::default(),
            #[cfg(feature = "web")]
            day_key: Mutex::new(None),
            #[cfg(feature = "web")]
            pace: Pace::new(sessions.max_sessions),
            sharing: None,
        }
    }

    /// Takes this restored state's counts out of its tables, for a site it is about to share
    /// (see `CounterBuilder::redis`): returns its totals (the initial total included), leaving
    /// the tables, and the initial total, empty.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn hand_over_to_site(&mut self) -> Tally {
        let mut total = std::mem::take(&mut self.initial);
        self.sessions.for_each_share(|s| {
            total.merge(s.traffic.take_counts().periods.total());
        });
        self.unique.take();
        self.articles.counts.take_all();
        total
    }

    /// Makes this fresh state share a site: page views are logged for syncs, and the article
    /// rankings are the site's.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn share(&mut self, sharing: Sharing) {
        // Each shard's log holds its share of the bound on what waits.
        let mut shards = 0;
        self.sessions.for_each_share(|_| shards += 1);
        let cap = self.sessions.max_sessions().div_ceil(shards.max(1));
        self.sessions
            .for_each_share(|s| s.log = ShardLog::sharing(cap));
        self.articles.counts.rank(false);
        self.sharing = Some(sharing);
    }

    /// Syncs with the shared site once (see `sync/engine.rs`).
    pub(crate) fn sync(&self) -> Result<(), SyncError> {
        let sharing = self
            .sharing
            .as_ref()
            .filter(|s| s.sends())
            .ok_or_else(SyncError::not_shared)?;
        sharing.sync(self.now(), &self.calendar, |spares| Cut::of(self, spares))
    }

    #[inline]
    pub(crate) fn now(&self) -> i64 {
        clamp_nanos(self.clock.unix_nanos())
    }

    /// Everything, as a snapshot holds it. A counter that shares its site first seals what its
    /// tables recorded into numbered parts (see `Sharing::seal`), and saves those parts and
    /// their counts instead of its tables' counts: whatever a sync after the save sends, a
    /// counter restored from the snapshot sends nothing twice. (Page views recorded after the
    /// seal are not in the snapshot; a save holds the page views completed before it began.)
    fn capture(&self) -> State<'static> {
        let saved_at = self.now();
        let (sync, articles, article_dedup, traffic, unique) =
            match self.sharing.as_ref().filter(|s| s.sends()) {
                // The seal first: it cuts the tables (their counts go into the parts).
                Some(sharing) => (
                    Some(sharing.seal(&self.calendar, |spares| Cut::of(self, spares))),
                    Vec::new(),
                    self.articles.dedup.records(saved_at),
                    TrafficCounts::default(),
                    Default::default(),
                ),
                None => {
                    let sync = self.sharing.as_ref().map(|sharing| sharing.saved());
                    let (articles, article_dedup) = self.articles.records(saved_at);
                    let mut traffic = TrafficCounts::default();
                    self.sessions
                        .for_each_share(|s| s.traffic.merge_into(&mut traffic));
                    (
                        sync,
                        articles,
                        article_dedup,
                        traffic,
                        self.unique.snapshot(),
                    )
                }
            };
        State {
            saved_at,
            calendar: SavedCalendar {
                zone: self.calendar.zone.describe(),
                week_start: self.calendar.week_start.number_days_from_monday(),
            },
            initial: self.initial,
            traffic,
            unique,
            sessions: self.sessions.saved(),
            articles,
            article_dedup,
            sync,
        }
    }

    /// Loads everything of a decoded snapshot but its sessions into this fresh state, taking it
    /// out of `state`. The state must come from `snapshot::decode`, which has vetted all of it
    /// but the sessions (instants in range, well-formed buckets).
    pub(crate) fn restore_counts(&mut self, state: &mut State<'_>) {
        let mut traffic = std::mem::take(&mut state.traffic);
        let mut unique = std::mem::take(&mut state.unique);
        let week_start = self.calendar.week_start;
        let week_changed = state.calendar.week_start != week_start.number_days_from_monday();
        if week_changed {
            rebuild_weeks(&mut traffic, week_start);
            unique.periods.clear_weeks();
        }
        self.initial = state.initial;
        let mut first = Some(traffic);
        self.sessions
            .for_each_share(|s| s.traffic.replace(first.take().unwrap_or_default()));
        self.unique.restore(unique);
        let articles = std::mem::take(&mut state.articles);
        self.articles
            .restore(state.saved_at, articles, &state.article_dedup);
        if week_changed {
            self.articles.clear_weeks();
        }
    }

    /// Gives this fresh state the vetted sync state of a decoded snapshot (after
    /// [`share`](Self::share), if it shares its site). A counter that does not share its site
    /// keeps the site's numbers and the counts not sent as they were, and counts on by itself:
    /// nothing is sent, nothing read is lost.
    pub(crate) fn restore_sync(&mut self, saved: SavedSync) {
        let sharing = self.sharing.get_or_insert_with(Sharing::unshared);
        sharing.restore(saved);
    }

    /// Loads the sessions of a decoded snapshot into this fresh state, checking each record
    /// (see `Sessions::load`); on an error the caller throws this state away.
    pub(crate) fn load_sessions(&mut self, sessions: &SavedSessions<'_>) -> Result<(), String> {
        self.sessions.load(sessions)
    }

    /// Writes a snapshot to the snapshot path; records the outcome in the save status.
    pub(crate) fn save(&self) -> Result<(), SnapshotError> {
        let path = self
            .snapshot_path
            .as_ref()
            .ok_or(SnapshotError::NoSnapshotPath)?;
        let _one_at_a_time = self.save_lock.lock();
        let state = self.capture();
        let result = snapshot::save(&state, path);
        let mut status = self.save_status.lock();
        match &result {
            Ok(()) => {
                status.saves += 1;
                status.last_error = None;
                status.last_saved_at = Some(from_nanos(state.saved_at));
            }
            Err(e) => {
                status.failures += 1;
                status.last_error = Some(e.to_string());
            }
        }
        result
    }
}

/// Re-buckets weeks of visits and page views from the daily history (after a change of the
/// week's first day).
fn rebuild_weeks(traffic: &mut TrafficCounts, week_start: time::Weekday) {
    traffic.periods.clear_weeks();
    let mut days: Vec<(i32, Tally)> = traffic.days.iter().map(|(d, t)| (d, *t)).collect();
    days.sort_unstable_by_key(|(d, _)| *d);
    for (day, tally) in days {
        if let Ok(date) = Date::from_julian_day(day) {
            let week = period_keys(date, week_start).week;
            traffic.periods.add_to_week(week, &tally);
        }
    }
}

/// What a sync cuts: this counter's tables.
impl Tables for Inner {
    fn now(&self) -> i64 {
        Inner::now(self)
    }

    fn for_each_shard(&self, f: &mut ShardVisit<'_>) {
        self.sessions
            .for_each_share_with_last_seen(|s, last_seen| f(&mut s.log, &mut s.traffic, last_seen));
    }

    fn take_visitors(&self) -> UniqueCounts {
        self.unique.take()
    }

    fn take_articles(&self) -> Vec<(ArticleId, PeriodBuckets<u64>)> {
        self.articles.counts.take_all()
    }
}

impl std::fmt::Debug for Counter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counter")
            .field("zone", &self.inner.calendar.zone.describe())
            .field("week_start", &self.inner.calendar.week_start)
            .field("sessions", &self.inner.sessions.len())
            .finish_non_exhaustive()
    }
}

impl Counter {
    /// A builder with the defaults: UTC, weeks from Monday, 5 minutes online, 30 minute sessions.
    pub fn builder() -> CounterBuilder {
        CounterBuilder::default()
    }

    /// Wraps the state; with `autosave` or `sync` (nanoseconds of the clock), starts background
    /// saves or syncs.
    pub(crate) fn from_inner(inner: Inner, autosave: Option<i64>, sync: Option<i64>) -> Counter {
        let inner = Arc::new(inner);
        let sync = sync.map(|every| {
            let job = periodic::Job {
                target: Arc::downgrade(&inner),
                now: Inner::now,
                // Failures are in the sync status, and what failed is sent by the next sync.
                run: |inner: &Inner| {
                    let _ = inner.sync();
                },
            };
            // The first sync right away: it reads the site's numbers and fetches the day's key
            // of cookieless ids.
            Arc::new(periodic::start(
                "visitor-counter-sync",
                job,
                every,
                inner.now(),
            ))
        });
        let autosave = autosave.map(|every| {
            let now = inner.now();
            let job = periodic::Job {
                target: Arc::downgrade(&inner),
                now: Inner::now,
                // Failures are recorded in the save status and retried next interval; the final
                // save's outcome is in the save status of a counter nobody holds any more.
                run: |inner: &Inner| {
                    let _ = inner.save();
                },
            };
            Arc::new(periodic::start(
                "visitor-counter-autosave",
                job,
                every,
                now.saturating_add(every),
            ))
        });
        Counter {
            _sync: sync,
            _autosave: autosave,
            inner,
        }
    }

    #[inline]
    fn now(&self) -> i64 {
        self.inner.now()
    }

    /// Records one page view by `visitor`, now.
    ///
    /// **Locking:** write-locks the visitor's shard of the session table for a few
    /// instructions; that shard also holds its share of the counters and its list of visitors
    /// that came online, so a page view takes one lock and no global one. A visitor's first page
    /// view of a local day also takes the unique-visitor lock. Allocates only for a visitor not
    /// yet tracked. Every 4,096th page view on a shard tries (never waits for) the upkeep locks.
    #[inline]
    pub fn hit(&self, visitor: VisitorId) {
        self.record(visitor, self.now(), None);
    }

    /// Records one page view of an article page by `visitor`, now: a page view as [`hit`]
    /// counts it, and a view of `article` unless this visitor had a view of it counted less than
    /// the article dedup window ago.
    ///
    /// **Locking:** as [`hit`], plus, while the dedup window is not zero, the (article, visitor)
    /// shard of the dedup table (a read lock for a refresh within the window); when the view
    /// counts, the article's shard of the article table and then its ranking shard.
    ///
    /// [`hit`]: Counter::hit
    pub fn view_article(&self, article: ArticleId, visitor: VisitorId) {
        self.view_article_at(article, visitor, self.now());
    }

    /// [`view_article`](Counter::view_article) at `now`.
    #[inline]
    fn view_article_at(&self, article: ArticleId, visitor: VisitorId, now: i64) {
        let articles = &self.inner.articles;
        let counted = articles.dedup.admit(article, visitor, now);
        let keys = self.record(visitor, now, Some((article, counted)));
        if counted {
            articles.counts.count(article, &keys);
            if articles.dedup.over_bound() {
                articles.dedup.try_upkeep(now);
            }
        }
    }

    /// Records a page view (of `article`, with whether its view counts), and returns its
    /// period keys.
    #[inline]
    fn record(
        &self,
        visitor: VisitorId,
        now: i64,
        article: Option<(ArticleId, bool)>,
    ) -> PeriodKeys {
        let inner = &*self.inner;
        let (touch, day) = inner
            .sessions
            .touch(visitor, now, |touch, came_online, share| {
                let day = share.traffic.record(&inner.calendar, now, touch.new_visit);
                // Copies of the day's key and start, so that `day` stays in registers for
                // the page view of a counter that shares no site.
                let (day_key, start) = (day.keys.day, day.start);
                let page_view = || PageView {
                    key: session_key(visitor),
                    at: now,
                    day: day_key,
                    prior: touch.previous,
                    article: article.map(|(a, counted)| (a.as_u64(), counted)),
                    new_visit: touch.new_visit,
                    new_day: touch.previous.is_none_or(|p| p < start),
                };
                share.log.record(page_view, came_online);
                day
            });
        let new_day = touch.previous.is_none_or(|p| p < day.start);
        if new_day {
            inner.unique.insert(visitor, &day.keys);
        }
        if touch.upkeep_due || (touch.previous.is_none() && inner.sessions.over_bound()) {
            inner.sessions.try_upkeep(now);
        }
        if touch.upkeep_due {
            inner.articles.dedup.try_upkeep(now);
            #[cfg(feature = "web")]
            inner.pace.try_upkeep(now);
        }
        day.keys
    }

    /// The statistics now.
    ///
    /// Runs session upkeep first (so `online` is exact at this instant), then reads each counter
    /// stripe and the unique-visitor sketches. Its cost does not grow with the number of tracked
    /// visitors: it is a few microseconds plus the upkeep of visitors that went offline since the
    /// last reading.
    ///
    /// **Locking:** the upkeep lock (waits for a running upkeep), each session shard in turn, the
    /// unique-visitor lock. Page views on other threads keep flowing.
    pub fn stats(&self) -> Stats {
        let inner = &*self.inner;
        let now = self.now();
        inner.sessions.upkeep(now);
        inner.articles.dedup.try_upkeep(now);
        let keys = inner.calendar.keys(now);
        let (mut visits, mut page_views) = (Periods::default(), Periods::default());
        let view = inner.sharing.as_ref().map(|s| s.view.read());
        let mut came_online = 0;
        inner.sessions.for_each_share(|s| {
            s.traffic.add_periods(&keys, &mut visits, &mut page_views);
            came_online += s.log.came_online();
        });
        let mut visitors = inner.unique.periods(&keys);
        // The initial totals, until the site (which adds them once) is read.
        if view.as_ref().is_none_or(|v| v.site.epoch.is_none()) {
            visits.total = visits.total.saturating_add(inner.initial.visits);
            page_views.total = page_views.total.saturating_add(inner.initial.page_views);
        }
        let mut online = None;
        if let Some(view) = &view {
            view.add_traffic(&keys, &mut visits, &mut page_views);
            view.add_visitors(&keys, &mut visitors);
            online = view.online(now, inner.sessions.online_window(), came_online);
        }
        let online = online.unwrap_or_else(|| inner.sessions.online());
        Stats {
            online,
            visits,
            page_views,
            visitors,
        }
    }

    /// One article's views per period; zeros for an article never viewed (or reset).
    ///
    /// **Locking:** read-locks the article's shard.
    pub fn article_stats(&self, article: ArticleId) -> ArticleStats {
        let keys = self.inner.calendar.keys(self.now());
        let view = self.inner.sharing.as_ref().map(|s| s.view.read());
        let mut views = self.inner.articles.stats(article, &keys);
        if let Some(view) = &view {
            views += view.article(article, &keys);
        }
        ArticleStats { views }
    }

    /// The `n` most viewed articles in `period`: articles with at least one counted view, most
    /// views first, ties broken by smaller id.
    ///
    /// **Locking:** read-locks each shard of the article table in turn.
    pub fn top_articles(&self, period: Period, n: usize) -> Vec<(ArticleId, u64)> {
        let keys = self.inner.calendar.keys(self.now());
        let articles = &self.inner.articles;
        match self.inner.sharing.as_ref().map(|s| s.view.read()) {
            None => articles.top(period, n, &keys),
            Some(view) => {
                // The site's top `n` and every article viewed since its last sync hold the top
                // `n` of site and delta together: any other article has no more views than the
                // site's `n`th, which the delta cannot lower.
                let here = articles.top(period, usize::MAX, &keys);
                view.top(period, n, &keys, here.into_iter().map(|(id, _)| id), |id| {
                    articles.stats(id, &keys).get(period)
                })
            }
        }
    }

    /// The last `days` local days, oldest first and today last, one row per day with zeros where
    /// nothing happened. At most [`HISTORY_DAYS`](crate::HISTORY_DAYS) rows are kept: a larger
    /// `days` returns that many.
    ///
    /// **Locking:** each session shard in turn, then the unique-visitor lock.
    pub fn history(&self, days: usize) -> Vec<DayCounts> {
        let n = days.min(HISTORY_DAYS);
        let today = self.inner.calendar.date(self.now());
        let dates: Vec<Date> = (0..n as i64)
            .rev()
            .filter_map(|back| today.checked_sub(time::Duration::days(back)))
            .collect();
        let keys: Vec<i32> = dates.iter().map(|d| d.to_julian_day()).collect();
        let mut tallies = vec![Tally::default(); keys.len()];
        let view = self.inner.sharing.as_ref().map(|s| s.view.read());
        self.inner
            .sessions
            .for_each_share(|s| s.traffic.add_days(&keys, &mut tallies));
        let mut visitors = self.inner.unique.days(&keys);
        if let Some(view) = &view {
            view.add_days(&keys, &mut tallies, &mut visitors);
        }
        dates
            .into_iter()
            .zip(tallies)
            .zip(visitors)
            .map(|((date, t), visitors)| DayCounts {
                date,
                visits: t.visits,
                page_views: t.page_views,
                visitors,
            })
            .collect()
    }

    /// Saves a snapshot to the configured snapshot path, replacing the file atomically: a crash
    /// at any moment leaves the old or the new snapshot. See [`snapshot`](crate::snapshot) for
    /// the format and for what point in time a snapshot reflects.
    ///
    /// **Locking:** concurrent saves wait for each other. Page views keep flowing: each session shard's counts,
    /// the unique-visitor state and each session shard are locked only while copied. A counter
    /// that shares its site first waits for a sync in progress, then seals what it recorded
    /// since into numbered parts as a sync does (each shard's log briefly; readings wait on the
    /// shared view's write lock meanwhile), so that the snapshot holds what the site may not
    /// have yet and nothing twice (see `CounterBuilder::redis`).
    ///
    /// **Threads:** a save of at least 65,536 sessions sorts them on two threads: this one and
    /// a second one it starts twice, briefly (no shard lock is held meanwhile).
    ///
    /// # Errors
    /// [`SnapshotError::NoSnapshotPath`] without a snapshot path; [`SnapshotError::Io`] when the
    /// file system refuses (the old snapshot and the counter's state are untouched).
    pub fn save(&self) -> Result<(), SnapshotError> {
        self.inner.save()
    }

    /// Syncs with the site this counter shares (see [`CounterBuilder::redis`]): sends the page
    /// views recorded since the last sync, and reads the site's numbers. The background thread
    /// does this every `sync_every`; call it to sync now (a test, a shutdown).
    ///
    /// **Locking:** one sync at a time; page views keep flowing (each shard, the unique-visitor
    /// lock and the article table are locked in turn while their counts are taken, and readings
    /// wait for that).
    ///
    /// # Errors
    /// When the counter does not share a site, the server cannot be reached or does not answer
    /// within `sync_timeout`, or the site was created with another calendar or other windows.
    /// Nothing recorded is lost by an error: the next sync sends it.
    ///
    /// [`CounterBuilder::redis`]: crate::CounterBuilder
    pub fn sync(&self) -> Result<(), SyncError> {
        self.inner.sync()
    }

    /// How syncs have gone so far, and the page views not yet sent. A counter that does not
    /// share a site has the default status.
    pub fn sync_status(&self) -> SyncStatus {
        match &self.inner.sharing {
            None => SyncStatus::default(),
            Some(sharing) => {
                let mut live = 0;
                self.inner.sessions.for_each_share(|s| live += s.log.len());
                sharing.status(live)
            }
        }
    }

    /// How saves have gone so far (counts, last error, last save time).
    pub fn save_status(&self) -> SaveStatus {
        self.inner.save_status.lock().clone()
    }

    /// Resets one article's counts (every period) and its refresh-dedup state, and takes it
    /// out of the rankings. Removing an article from an [`articles::Catalog`] does not do this:
    /// counts outlive catalog entries until reset here.
    ///
    /// **Locking:** scans the dedup table and the article's ranking shard.
    ///
    /// On a counter that shares its site (feature `redis`) the reset is this counter's alone:
    /// the site's counts for the article, and views this counter already cut for a sync, stay,
    /// so its readings do not drop to zero. Resetting an article across a site is not supported.
    ///
    /// [`articles::Catalog`]: crate::articles::Catalog
    pub fn reset_article(&self, article: ArticleId) {
        self.inner.articles.reset(article);
    }

    /// (article, visitor) pairs the refresh dedup currently remembers (at most
    /// `max_dedup_entries` after upkeep).
    pub fn tracked_article_views(&self) -> usize {
        self.inner.articles.dedup.len()
    }

    /// Records a request that was not counted, by reason (the web layer calls this; custom
    /// integrations may too). Readable with [`Counter::exclusions`].
    pub fn exclude(&self, reason: Exclusion) {
        self.inner.exclusions[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Requests not counted since the counter was built, by reason.
    pub fn exclusions(&self) -> Exclusions {
        let mut all = Exclusions::default();
        for (reason, n) in Exclusion::ALL.into_iter().zip(&self.inner.exclusions) {
            *all.field(reason) = n.load(Ordering::Relaxed);
        }
        all
    }

    /// Today's date on the site's local calendar.
    pub fn today(&self) -> Date {
        self.inner.calendar.date(self.now())
    }

    /// Today's local date and a secret key of it, for keyed hashes (SipHash-1-3) of request
    /// data: drawn at random at the first call of the day, shared by every clone of this
    /// counter, kept only in memory, and forgotten at the first call of the next day. A
    /// counter that shares its site takes the day's key from the site instead, once a sync has
    /// fetched it (see `sync/engine.rs`), so that every counter of the site agrees. The
    /// cookieless ids of [`web::Rules`](crate::web::Rules) come from it. Locks one small mutex;
    /// the day is looked up in the calendar once a day, and the caller hashes with no lock held.
    #[cfg(feature = "web")]
    pub(crate) fn day_key(&self) -> (Date, [u64; 2]) {
        let now = self.now();
        let mut day_key = self.inner.day_key.lock();
        let entry = match &mut *day_key {
            Some(entry) if entry.day.contains(now) => entry,
            slot => slot.insert(DayKey {
                day: self.inner.calendar.day(now),
                key: [crate::ids::random_u64(), crate::ids::random_u64()],
                from_site: false,
            }),
        };
        if !entry.from_site {
            let shared = self.inner.sharing.as_ref();
            if let Some(key) = shared.and_then(|s| s.day_key(entry.day.date.to_julian_day())) {
                entry.key = key;
                entry.from_site = true;
            }
        }
        (entry.day.date, entry.key)
    }

    /// Records a page view by `visitor` now (of `article`, if any, as
    /// [`view_article`](Counter::view_article) does), unless it would be more than
    /// `per_minute` page views in the visitor's minute (see `visitors/pace.rs`; 0: no limit):
    /// then it records nothing and answers false. The web rules count through it. Locks the
    /// visitor's shard of the pace table, then as `hit` or `view_article`.
    #[cfg(feature = "web")]
    #[inline]
    pub(crate) fn record_paced(
        &self,
        visitor: VisitorId,
        article: Option<ArticleId>,
        per_minute: u32,
    ) -> bool {
        let now = self.now();
        if per_minute > 0 && !self.inner.pace.admit(visitor, now, per_minute) {
            return false;
        }
        match article {
            Some(a) => self.view_article_at(a, visitor, now),
            None => {
                self.record(visitor, now, None);
            }
        }
        true
    }

    /// Whether `visitor` has a live session now (a page view less than `session_timeout` ago).
    /// Locks the visitor's shard of the session table.
    #[cfg(feature = "web")]
    pub(crate) fn in_visit(&self, visitor: VisitorId) -> bool {
        self.inner.sessions.in_visit(visitor, self.now())
    }

    /// Visitors currently tracked in the session table (at most `max_sessions` after upkeep).
    pub fn tracked_sessions(&self) -> usize {
        self.inner.sessions.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_exclusion_is_listed_at_its_own_index() {
        for (i, reason) in Exclusion::ALL.into_iter().enumerate() {
            assert_eq!(reason as usize, i, "{reason:?}");
        }
        let names: std::collections::HashSet<_> = Exclusion::ALL.map(Exclusion::name).into();
        assert_eq!(names.len(), Exclusion::ALL.len());
    }
}
