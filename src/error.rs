//! Errors of building a counter and of snapshots.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Why [`CounterBuilder::build`](crate::CounterBuilder::build) refused the configuration.
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// A duration option is zero, or longer than [`MAX_DURATION`](crate::MAX_DURATION).
    InvalidDuration {
        /// The builder method, e.g. `"online_window"`.
        option: &'static str,
        /// The value given.
        value: Duration,
    },
    /// `online_window` is longer than `session_timeout`.
    OnlineWindowExceedsSessionTimeout {
        /// The online window given.
        online_window: Duration,
        /// The session timeout given.
        session_timeout: Duration,
    },
    /// `max_sessions(0)`.
    ZeroMaxSessions,
    /// `autosave` without `snapshot_path`.
    AutosaveWithoutSnapshotPath,
    /// The time zone name is not in the bundled tz database.
    UnknownTimeZone {
        /// The name given.
        name: String,
    },
    /// Snapshots are not available in this release.
    SnapshotsUnavailable {
        /// The snapshot path given.
        path: PathBuf,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::InvalidDuration { option, value } => write!(
                f,
                "`{option}` is {value:?}: give a duration greater than zero and at most {} days",
                crate::MAX_DURATION.as_secs() / 86_400
            ),
            BuildError::OnlineWindowExceedsSessionTimeout {
                online_window,
                session_timeout,
            } => write!(
                f,
                "`online_window` ({online_window:?}) is longer than `session_timeout` \
                 ({session_timeout:?}): a visitor counted online must still be in a session; \
                 shorten `online_window` or lengthen `session_timeout`"
            ),
            BuildError::ZeroMaxSessions => write!(
                f,
                "`max_sessions` is 0: give at least 1 (each tracked session costs about 50 bytes)"
            ),
            BuildError::AutosaveWithoutSnapshotPath => write!(
                f,
                "`autosave` needs a file to save to: set `snapshot_path` as well"
            ),
            BuildError::UnknownTimeZone { name } => write!(
                f,
                "unknown time zone {name:?}: give an IANA name such as \"Asia/Ho_Chi_Minh\" or \
                 \"Europe/Berlin\""
            ),
            BuildError::SnapshotsUnavailable { path } => write!(
                f,
                "snapshot {}: snapshots are not available yet in this release; \
                 remove `snapshot_path` and `autosave`",
                path.display()
            ),
        }
    }
}

impl std::error::Error for BuildError {}

/// Why [`Counter::save`](crate::Counter::save) failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The counter was built without [`snapshot_path`](crate::CounterBuilder::snapshot_path).
    NoSnapshotPath,
    /// Snapshots are not available in this release.
    Unavailable,
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotError::NoSnapshotPath => write!(
                f,
                "no snapshot file configured: build the counter with `snapshot_path`"
            ),
            SnapshotError::Unavailable => {
                write!(f, "snapshots are not available yet in this release")
            }
        }
    }
}

impl std::error::Error for SnapshotError {}
