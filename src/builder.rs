//! [`CounterBuilder`]: configuration, validated in [`CounterBuilder::build`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use time::{UtcOffset, Weekday};

use crate::calendar::clock::{duration_nanos, Clock, SystemClock};
use crate::calendar::local::{Calendar, Zone};
use crate::counter::{Counter, Inner};
use crate::error::{BuildError, SnapshotError};
use crate::snapshot::{self, file};
use crate::sync::engine::SavedSync;
use crate::visitors::sessions::SessionConfig;
use crate::visitors::traffic::Tally;

/// The longest duration any option accepts: 366 days.
pub const MAX_DURATION: Duration = Duration::from_secs(366 * 86_400);

/// Configures and builds a [`Counter`]. Every setter takes and returns the builder; nothing is
/// checked until [`build`](CounterBuilder::build), which returns an error instead of panicking.
///
/// ```
/// use std::time::Duration;
/// use time::{macros::offset, Weekday};
/// use visitor_counter::Counter;
///
/// let counter = Counter::builder()
///     .utc_offset(offset!(+7))           // Asia/Ho_Chi_Minh
///     .week_start(Weekday::Monday)
///     .online_window(Duration::from_secs(5 * 60))
///     .session_timeout(Duration::from_secs(30 * 60))
///     .max_sessions(200_000)
///     .initial_total(1_090_533, 2_500_000) // carried over from the old counter
///     .build()?;
/// assert_eq!(counter.stats().visits.total, 1_090_533);
/// # Ok::<(), visitor_counter::BuildError>(())
/// ```
#[must_use]
pub struct CounterBuilder {
    zone: ZoneChoice,
    week_start: Weekday,
    online_window: Duration,
    session_timeout: Duration,
    article_dedup_window: Duration,
    max_sessions: usize,
    max_dedup_entries: usize,
    initial: Tally,
    clock: Arc<dyn Clock>,
    snapshot_path: Option<PathBuf>,
    autosave: Option<Duration>,
    move_corrupt_aside: bool,
    /// The Redis URL and site name of a shared site.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    redis: Option<(crate::sync::Address, String)>,
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    sync_every: Duration,
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    sync_timeout: Duration,
}

enum ZoneChoice {
    Fixed(UtcOffset),
    #[cfg_attr(not(feature = "tz"), allow(dead_code))]
    Named(String),
}

impl Default for CounterBuilder {
    fn default() -> Self {
        CounterBuilder {
            zone: ZoneChoice::Fixed(UtcOffset::UTC),
            week_start: Weekday::Monday,
            online_window: Duration::from_secs(5 * 60),
            session_timeout: Duration::from_secs(30 * 60),
            article_dedup_window: Duration::from_secs(30 * 60),
            max_sessions: 1_000_000,
            max_dedup_entries: 1_000_000,
            initial: Tally::default(),
            clock: Arc::new(SystemClock),
            snapshot_path: None,
            autosave: None,
            move_corrupt_aside: false,
            redis: None,
            sync_every: Duration::from_secs(1),
            sync_timeout: Duration::from_secs(2),
        }
    }
}

impl CounterBuilder {
    /// The site's fixed offset from UTC; local days, weeks, months and years follow it.
    /// Default: UTC. Replaces an earlier `time_zone` (feature `tz`).
    pub fn utc_offset(mut self, offset: UtcOffset) -> Self {
        self.zone = ZoneChoice::Fixed(offset);
        self
    }

    /// An IANA time zone such as `"Europe/Berlin"`, with its daylight-saving changes (days of 23
    /// and 25 hours). The tz database is bundled (from `jiff`), so it does not depend on the host.
    /// A day starts at its first local midnight (the first of two when clocks fall back to
    /// midnight, as Havana's do; the end of the gap when they skip it) and ends where the next
    /// day starts.
    /// Replaces an earlier [`utc_offset`](CounterBuilder::utc_offset); an unknown name makes
    /// `build` fail.
    #[cfg(feature = "tz")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tz")))]
    pub fn time_zone(mut self, name: impl Into<String>) -> Self {
        self.zone = ZoneChoice::Named(name.into());
        self
    }

    /// The weekday weeks begin on, at local midnight. Default: Monday.
    pub fn week_start(mut self, day: Weekday) -> Self {
        self.week_start = day;
        self
    }

    /// A visitor is online while less than this has passed since its last page view.
    /// Default: 5 minutes. Must not be longer than the session timeout.
    pub fn online_window(mut self, d: Duration) -> Self {
        self.online_window = d;
        self
    }

    /// A visitor's session (visit) lasts while less than this has passed since its last page
    /// view. Default: 30 minutes.
    pub fn session_timeout(mut self, d: Duration) -> Self {
        self.session_timeout = d;
        self
    }

    /// A visitor's repeated views of one article count once per this window. Default: 30 minutes;
    /// `Duration::ZERO` counts every view.
    pub fn article_dedup_window(mut self, d: Duration) -> Self {
        self.article_dedup_window = d;
        self
    }

    /// At most this many visitors are tracked; past it the least recently seen are forgotten
    /// (their next page view starts a new visit), 1/1024 of the bound at a time, so that a
    /// flood of new visitors costs about as much at the bound as below it. Each tracked visitor
    /// costs about 50 bytes. Default: 1,000,000.
    pub fn max_sessions(mut self, n: usize) -> Self {
        self.max_sessions = n;
        self
    }

    /// At most this many (article, visitor) pairs are remembered for refresh dedup; past it the
    /// oldest are forgotten first, and a forgotten pair's next view counts again. Entries also
    /// expire after the dedup window. Each costs about 40 bytes. Default: 1,000,000.
    pub fn max_dedup_entries(mut self, n: usize) -> Self {
        self.max_dedup_entries = n;
        self
    }

    /// Visits and page views counted before this counter existed (for a site moving from an
    /// older counter). They are added to the totals (which stop at `u64::MAX`, as every count
    /// does). Ignored when a snapshot is loaded, which already holds them.
    pub fn initial_total(mut self, visits: u64, page_views: u64) -> Self {
        self.initial = Tally { visits, page_views };
        self
    }

    /// Where the counter reads the time. Default: [`SystemClock`].
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The snapshot file, loaded by `build` when it exists and written by
    /// [`Counter::save`](crate::Counter::save). One live counter per file: `build` removes
    /// temporary files an interrupted save left beside it, which would break a save that another
    /// counter on the same file has in progress.
    ///
    /// Loading reads the file once, checks it, restores the counts and articles and loads the
    /// sessions, each checked as it goes into the session table (about 75 ms of CPU for 1M
    /// sessions and 10k articles in a fresh process, on the machine in `BENCHMARKS.md`). A large
    /// file's checksum is computed on a second thread, which has ended when `build` returns.
    pub fn snapshot_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.snapshot_path = Some(path.into());
        self
    }

    /// Saves to the snapshot path in the background every `every` (of the counter's clock).
    /// Dropping the last clone of the counter stops the thread and makes a final save. Failed
    /// saves are retried at the next interval and show in [`Counter::save_status`].
    pub fn autosave(mut self, every: Duration) -> Self {
        self.autosave = Some(every);
        self
    }

    /// When the snapshot file cannot be read, rename it to `<name>.corrupt-<unix time>` and
    /// start with empty counters instead of failing `build` (default: `false`, fail). The site
    /// stays up and an operator can look at the file later (see
    /// [`snapshot::inspect`](crate::snapshot::inspect)).
    pub fn move_corrupt_snapshot_aside(mut self, yes: bool) -> Self {
        self.move_corrupt_aside = yes;
        self
    }

    /// Counts one site together with every counter built with the same Redis and site name:
    /// several app instances behind a load balancer then show the same numbers. See the
    /// [crate docs](crate#several-instances) for what the readings mean, when they agree and
    /// what happens when Redis is down.
    ///
    /// `url` is a Redis URL: `redis://[user:password@]host:port/db`, `rediss://...` (TLS: the
    /// server's certificate is checked against the system's trust store, which honours
    /// `SSL_CERT_FILE`; no OpenSSL is needed), or `unix://path`. A malformed one makes `build`
    /// fail; an unreachable server does not: the counter starts, counts, and syncs once the
    /// server answers. `site` names the site's data in that Redis (1 to 200 characters, no
    /// braces: its keys start with `vc:{<site>}:`, one hash tag, so a Redis Cluster keeps a
    /// site on one node).
    ///
    /// A snapshot of a counter that did not share its site (moving a site from one instance
    /// to several) hands its totals, visits and page views, to the site as its initial total,
    /// in place of `initial_total`: they count once, if this counter creates the site. Its
    /// daily history, distinct visitors and article counts are not sent; its sessions and
    /// refresh dedup carry on. Every counter of a site should have a snapshot file of its own.
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn redis(mut self, url: impl Into<String>, site: impl Into<String>) -> Self {
        let address = crate::sync::Address::Url(url.into());
        self.redis = Some((address, site.into()));
        self
    }

    /// The same as [`redis`](Self::redis), through Redis Sentinel: `sentinels` are the
    /// sentinels' URLs (`redis://host:26379`, `rediss://user:password@host:26379` with TLS or
    /// credentials for the sentinels), `master` the name they monitor. Each connection goes to
    /// the primary the sentinels name at the time, so a failover is followed without
    /// rebuilding the counter: the first sync after it fails, and the next reaches the new
    /// primary.
    ///
    /// The primary is reached with the first sentinel URL's TLS and credentials, unless
    /// `master` is a URL whose host is the name (`rediss://vc:secret@mymaster/0`): then with
    /// its own scheme, credentials and database.
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn redis_sentinel<I, S>(
        mut self,
        sentinels: I,
        master: impl Into<String>,
        site: impl Into<String>,
    ) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let address = crate::sync::Address::Sentinel {
            sentinels: sentinels.into_iter().map(Into::into).collect(),
            master: master.into(),
        };
        self.redis = Some((address, site.into()));
        self
    }

    /// The same as [`redis`](Self::redis), on a Redis Cluster: `nodes` are seed nodes' URLs
    /// (with the cluster's TLS and credentials). The site's keys share one hash tag, so they
    /// live in one slot; the cluster client follows that slot wherever it moves (MOVED, ASK,
    /// and TRYAGAIN while it moves, retried a few times within 200 ms, then by the next sync).
    /// A call declares every key it writes, so a slot moving meanwhile makes it fail whole
    /// before it runs, never half-applied.
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn redis_cluster<I, S>(mut self, nodes: I, site: impl Into<String>) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let address = crate::sync::Address::Cluster(nodes.into_iter().map(Into::into).collect());
        self.redis = Some((address, site.into()));
        self
    }

    /// How often the background thread syncs with the site (by the counter's clock).
    /// Default: 1 second. `Duration::ZERO` starts no thread: only
    /// [`Counter::sync`](crate::Counter::sync) syncs.
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn sync_every(mut self, every: Duration) -> Self {
        self.sync_every = every;
        self
    }

    /// How long a sync may wait for Redis (to connect, and for each answer). A slower sync is
    /// an error and is retried by the next one, which sends the same parts again (they are
    /// applied once). Default: 2 seconds.
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn sync_timeout(mut self, limit: Duration) -> Self {
        self.sync_timeout = limit;
        self
    }

    /// Checks the configuration and builds the counter.
    ///
    /// # Errors
    /// A [`BuildError`] saying which option is wrong and how to fix it: a zero or absurd
    /// duration, an online window longer than the session timeout, `max_sessions(0)`, autosave
    /// without a snapshot path, an unknown time zone.
    pub fn build(self) -> Result<Counter, BuildError> {
        // Every option is checked before anything touches a file or the network.
        let config = self.checked()?;
        let fresh = || {
            Inner::new(
                self.clock.clone(),
                config.calendar.clone(),
                config.sessions,
                config.dedup,
                self.initial,
                self.snapshot_path.clone(),
            )
        };
        let mut inner = fresh();
        let mut loaded = Loaded::Nothing;
        if let Some(path) = &self.snapshot_path {
            file::clean_temporaries(path);
            match load(&mut inner, path) {
                Ok(l) => loaded = l,
                Err(e) => {
                    if !self.move_corrupt_aside {
                        return Err(BuildError::Snapshot(e));
                    }
                    let unix_time = self.clock.now().unix_timestamp();
                    file::move_aside(path, unix_time).map_err(BuildError::Snapshot)?;
                    inner = fresh();
                }
            }
        }
        #[cfg(feature = "redis")]
        let sync_every = match &self.redis {
            Some((address, site)) => {
                // A snapshot of a counter that did not share its site: its totals go to the
                // site as its initial total (see `redis`).
                let initial = match loaded {
                    Loaded::Plain => inner.hand_over_to_site(),
                    _ => self.initial,
                };
                let store = shared_store(address, site, &config, initial, self.sync_timeout)?;
                let sync = crate::sync::engine::Config {
                    max_entries: self.max_sessions,
                };
                // A random id: each counter numbers its own parts.
                let id = crate::ids::random_u64();
                let sharing = crate::sync::engine::Sharing::new(sync, Box::new(store), id);
                inner.share(sharing);
                Some(duration_nanos(self.sync_every)).filter(|&n| n > 0)
            }
            None => None,
        };
        #[cfg(not(feature = "redis"))]
        let sync_every = None;
        if let Loaded::Shared(sync) = loaded {
            inner.restore_sync(*sync);
        }
        Ok(Counter::from_inner(inner, config.autosave, sync_every))
    }

    /// The options checked, as `build` uses them, or the error naming the first wrong one.
    fn checked(&self) -> Result<Config, BuildError> {
        let check = |option: &'static str, value: Duration, zero_ok: bool| {
            if (value.is_zero() && !zero_ok) || value > MAX_DURATION {
                Err(BuildError::InvalidDuration { option, value })
            } else {
                Ok(())
            }
        };
        check("online_window", self.online_window, false)?;
        check("session_timeout", self.session_timeout, false)?;
        check("article_dedup_window", self.article_dedup_window, true)?;
        if let Some(every) = self.autosave {
            check("autosave", every, false)?;
        }
        if self.online_window > self.session_timeout {
            return Err(BuildError::OnlineWindowExceedsSessionTimeout {
                online_window: self.online_window,
                session_timeout: self.session_timeout,
            });
        }
        if self.max_sessions == 0 {
            return Err(BuildError::ZeroMaxSessions);
        }
        if self.max_dedup_entries == 0 {
            return Err(BuildError::ZeroMaxDedupEntries);
        }
        if self.autosave.is_some() && self.snapshot_path.is_none() {
            return Err(BuildError::AutosaveWithoutSnapshotPath);
        }
        #[cfg(feature = "redis")]
        if let Some((address, site)) = &self.redis {
            check("sync_every", self.sync_every, true)?;
            check("sync_timeout", self.sync_timeout, false)?;
            let redis = |reason: String| BuildError::Redis { reason };
            crate::sync::redis::check(address, site).map_err(redis)?;
            check_initial_total(self.initial).map_err(redis)?;
        }
        let zone = match &self.zone {
            ZoneChoice::Fixed(o) => Zone::Fixed(*o),
            ZoneChoice::Named(name) => named_zone(name.clone())?,
        };
        Ok(Config {
            calendar: Calendar {
                zone,
                week_start: self.week_start,
            },
            sessions: SessionConfig {
                online_window: duration_nanos(self.online_window),
                session_timeout: duration_nanos(self.session_timeout),
                max_sessions: self.max_sessions,
            },
            dedup: DedupConfig {
                window: duration_nanos(self.article_dedup_window),
                max_entries: self.max_dedup_entries,
            },
            autosave: self.autosave.map(duration_nanos),
        })
    }
}

/// The options of a [`CounterBuilder`], checked (see `CounterBuilder::checked`).
struct Config {
    calendar: Calendar,
    sessions: SessionConfig,
    dedup: DedupConfig,
    /// Nanoseconds between autosaves.
    autosave: Option<i64>,
}

/// Refresh dedup's window (nanoseconds; 0: every view counts) and bound.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DedupConfig {
    pub window: i64,
    pub max_entries: usize,
}

/// Checks the initial totals a shared site starts from: Redis counters are signed 64-bit, so
/// room is left for the page views to come.
#[cfg(feature = "redis")]
fn check_initial_total(initial: Tally) -> Result<(), String> {
    const MOST: u64 = 1 << 62;
    if initial.visits.max(initial.page_views) > MOST {
        return Err(format!(
            "`initial_total` of {} visits and {} page views: a shared site starts from at \
             most {MOST} (its Redis counters are signed 64-bit)",
            initial.visits, initial.page_views
        ));
    }
    Ok(())
}

/// The store of a shared site (see `sync/redis.rs`).
#[cfg(feature = "redis")]
fn shared_store(
    address: &crate::sync::Address,
    site: &str,
    config: &Config,
    initial: Tally,
    timeout: Duration,
) -> Result<crate::sync::redis::RedisStore, BuildError> {
    let redis = |reason: String| BuildError::Redis { reason };
    // A snapshot's totals handed over (see `redis`) are checked here.
    check_initial_total(initial).map_err(redis)?;
    let site_config = crate::sync::redis::SiteConfig {
        zone: config.calendar.zone.describe(),
        week_start: config.calendar.week_start.number_days_from_monday(),
        online_window: config.sessions.online_window,
        session_timeout: config.sessions.session_timeout,
        dedup_window: config.dedup.window,
        initial_visits: initial.visits,
        initial_page_views: initial.page_views,
    };
    crate::sync::redis::RedisStore::new(address, site, site_config, timeout).map_err(redis)
}

/// What `load` found.
enum Loaded {
    /// No snapshot file.
    Nothing,
    /// The snapshot of a counter that did not share its site.
    Plain,
    /// The snapshot of one that did, with its sync state.
    Shared(Box<SavedSync>),
}

/// Restores `inner` from the snapshot at `path`, if there is one, but for its sync state,
/// which is returned (see `Inner::restore_sync`).
fn load(inner: &mut Inner, path: &Path) -> Result<Loaded, SnapshotError> {
    let Some(bytes) = file::read(path)? else {
        return Ok(Loaded::Nothing);
    };
    let corrupt = |reason| SnapshotError::Corrupt {
        path: Some(path.to_path_buf()),
        reason,
    };
    // On an error the caller throws `inner` away.
    let mut state = snapshot::decode(&bytes).map_err(corrupt)?;
    inner.restore_counts(&mut state);
    inner.load_sessions(&state.sessions).map_err(corrupt)?;
    Ok(state
        .sync
        .map_or(Loaded::Plain, |s| Loaded::Shared(Box::new(s))))
}

#[cfg(feature = "tz")]
fn named_zone(name: String) -> Result<Zone, BuildError> {
    Zone::named(&name).ok_or(BuildError::UnknownTimeZone { name })
}

#[cfg(not(feature = "tz"))]
fn named_zone(name: String) -> Result<Zone, BuildError> {
    Err(BuildError::UnknownTimeZone { name })
}
