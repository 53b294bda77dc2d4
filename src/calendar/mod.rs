//! Time and the site's calendar.
//!
//! - `clock.rs`: the injected [`Clock`](crate::Clock)s and the crate's instants (`i64`
//!   nanoseconds, clamped to what the session table can pack);
//! - `local.rs`: which local day, week, month and year an instant falls in, for a fixed offset
//!   or an IANA zone (feature `tz`);
//! - `periods.rs`: the eight reading periods and the calendar buckets every count is kept in.
//!
//! Uses `time` (and `jiff` with `tz`) and the bounded decoding of `common` (named in the
//! buckets' serde attributes); nothing else of the crate. Everything else builds on it.

pub(crate) mod clock;
pub(crate) mod local;
pub(crate) mod periods;
