//! Injected time: every time-dependent path reads a [`Clock`].
//!
//! Inside the crate an instant is an `i64` count of nanoseconds since the Unix epoch (UTC),
//! clamped to [`MIN_NS`]..=[`MAX_NS`] (the years 1854 to 2146), which is what the session table
//! can pack.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use time::OffsetDateTime;

/// A source of the current instant.
///
/// The counter reads it on every page view and every reading, so it should be cheap.
/// [`SystemClock`] is the default; tests use [`ManualClock`].
pub trait Clock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> OffsetDateTime;

    /// The current instant as nanoseconds since the Unix epoch: what the counter reads on
    /// every page view. The default converts [`Clock::now`]; override it when the clock can
    /// answer without building a calendar date (both clocks of this crate do).
    #[inline]
    fn unix_nanos(&self) -> i128 {
        self.now().unix_timestamp_nanos()
    }
}

/// The system's wall clock (`OffsetDateTime::now_utc()`).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[inline]
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    #[inline]
    fn unix_nanos(&self) -> i128 {
        match SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => d.as_nanos() as i128,
            Err(e) => -(e.duration().as_nanos() as i128),
        }
    }
}

/// A clock that only moves when told to. Clones share one time, so a test keeps a clone and
/// steps the counter's clock from outside.
///
/// It keeps nanoseconds in one atomic: `advance` and `set` are lock-free. Instants are held with
/// nanosecond precision between the years 1854 and 2146; outside that range they are clamped.
///
/// ```
/// use std::time::Duration;
/// use time::macros::datetime;
/// use visitor_counter::{Clock, ManualClock};
///
/// let clock = ManualClock::new(datetime!(2024-02-29 23:59:59 +07:00));
/// let shared = clock.clone();
/// shared.advance(Duration::from_secs(1));
/// assert_eq!(clock.now(), datetime!(2024-03-01 00:00:00 +07:00));
/// ```
#[derive(Clone, Debug)]
pub struct ManualClock {
    nanos: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: OffsetDateTime) -> ManualClock {
        ManualClock {
            nanos: Arc::new(AtomicI64::new(to_nanos(start))),
        }
    }

    /// Moves the clock forward by `by` (saturating at the end of the supported range).
    pub fn advance(&self, by: Duration) {
        let by = duration_nanos(by);
        let _ = self
            .nanos
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_add(by).min(MAX_NS))
            });
    }

    /// Puts the clock at `to` (forwards or backwards).
    pub fn set(&self, to: OffsetDateTime) {
        self.nanos.store(to_nanos(to), Ordering::Release);
    }
}

impl Clock for ManualClock {
    #[inline]
    fn now(&self) -> OffsetDateTime {
        from_nanos(self.nanos.load(Ordering::Acquire))
    }

    #[inline]
    fn unix_nanos(&self) -> i128 {
        i128::from(self.nanos.load(Ordering::Acquire))
    }
}

/// Nanoseconds in a second.
pub(crate) const NS_PER_SEC: i64 = 1_000_000_000;
/// Nanoseconds in a day of 24 hours.
pub(crate) const NS_PER_DAY: i64 = 86_400 * NS_PER_SEC;
/// 2000-01-01T00:00:00Z in nanoseconds since the Unix epoch: the centre of the packed range.
pub(crate) const BASE_NS: i64 = 946_684_800 * NS_PER_SEC;
/// Earliest instant held (about 1854).
pub(crate) const MIN_NS: i64 = BASE_NS - (1 << 62) + 1;
/// Latest instant held (about 2146).
pub(crate) const MAX_NS: i64 = BASE_NS + (1 << 62) - 1;

/// An instant held in the range and a flag, in one word: bit 63 is the flag, bits 0..63 the
/// instant's offset from [`BASE_NS`] as a 63-bit two's complement number. The session table
/// keeps its entries in this form, and a snapshot writes it as is.
#[inline]
pub(crate) fn pack(instant: i64, flag: bool) -> u64 {
    let offset = (instant.wrapping_sub(BASE_NS) as u64) & !(1 << 63);
    offset | (u64::from(flag) << 63)
}

/// The instant and the flag of a [`pack`]ed word. Every word unpacks to an instant within
/// one nanosecond of the range: `MIN_NS - 1 ..= MAX_NS`.
#[inline]
pub(crate) fn unpack(word: u64) -> (i64, bool) {
    (
        (((word << 1) as i64) >> 1).wrapping_add(BASE_NS),
        word >> 63 == 1,
    )
}

/// Whether an instant is within the range held.
#[inline]
pub(crate) fn held(instant: i64) -> bool {
    (MIN_NS..=MAX_NS).contains(&instant)
}

/// An instant as clamped nanoseconds since the Unix epoch.
#[inline]
pub(crate) fn to_nanos(t: OffsetDateTime) -> i64 {
    clamp_nanos(t.unix_timestamp_nanos())
}

/// Nanoseconds since the Unix epoch, clamped to the range held.
#[inline]
pub(crate) fn clamp_nanos(n: i128) -> i64 {
    n.clamp(i128::from(MIN_NS), i128::from(MAX_NS)) as i64
}

/// The instant of clamped nanoseconds since the Unix epoch, in UTC.
pub(crate) fn from_nanos(n: i64) -> OffsetDateTime {
    // In range by construction: MIN_NS..=MAX_NS is well inside what `time` represents.
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(n)).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// A duration in nanoseconds, saturating at `i64::MAX`.
#[inline]
pub(crate) fn duration_nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn nanos_round_trip() {
        let t = datetime!(2024-02-29 23:59:59.999_999_999 +07:00);
        assert_eq!(from_nanos(to_nanos(t)), t);
    }

    #[test]
    fn far_instants_are_clamped_not_wrapped() {
        assert_eq!(to_nanos(datetime!(1700-01-01 0:00 UTC)), MIN_NS);
        assert_eq!(to_nanos(datetime!(2200-01-01 0:00 UTC)), MAX_NS);
    }

    #[test]
    fn fast_reads_agree_with_now() {
        let m = ManualClock::new(datetime!(2024-02-29 23:59:59.999_999_999 +07:00));
        assert_eq!(m.unix_nanos(), m.now().unix_timestamp_nanos());
        let s = SystemClock;
        let (a, b, c) = (s.now(), s.unix_nanos(), s.now());
        assert!(a.unix_timestamp_nanos() <= b && b <= c.unix_timestamp_nanos());
    }

    #[test]
    fn advance_saturates() {
        let c = ManualClock::new(datetime!(2100-01-01 0:00 UTC));
        c.advance(Duration::MAX);
        assert_eq!(to_nanos(c.now()), MAX_NS);
    }
}
