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
    /// `max_dedup_entries(0)`.
    ZeroMaxDedupEntries,
    /// `autosave` without `snapshot_path`.
    AutosaveWithoutSnapshotPath,
    /// The time zone name is not in the bundled tz database.
    UnknownTimeZone {
        /// The name given.
        name: String,
    },
    /// The snapshot file exists but cannot be read; it was left as it was.
    Snapshot(SnapshotError),
    /// The Redis options of a shared site are wrong (feature `redis`): a malformed URL, a site
    /// name with braces, an `initial_total` Redis cannot hold.
    Redis {
        /// What is wrong, and how to fix it.
        reason: String,
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
            BuildError::ZeroMaxDedupEntries => write!(
                f,
                "`max_dedup_entries` is 0: give at least 1, or set `article_dedup_window` to zero \
                 to count every view"
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
            BuildError::Redis { reason } => write!(f, "{reason}"),
            BuildError::Snapshot(e) => write!(
                f,
                "{e}; the file was left as it was: fix or remove it, or build with \
                 `move_corrupt_snapshot_aside(true)` to start fresh and keep it for inspection"
            ),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Snapshot(e) => Some(e),
            _ => None,
        }
    }
}

/// Why a snapshot could not be saved or read.
#[derive(Debug)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The counter was built without [`snapshot_path`](crate::CounterBuilder::snapshot_path).
    NoSnapshotPath,
    /// The file system refused.
    Io {
        /// The snapshot file.
        path: PathBuf,
        /// What was being done, e.g. `"fsync"`.
        action: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// The bytes are not a snapshot this release can read.
    Corrupt {
        /// The file, when the bytes came from one.
        path: Option<PathBuf>,
        /// What is wrong with it.
        reason: String,
    },
    /// The state could not be encoded (a bug: please report it).
    Encode(String),
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotError::NoSnapshotPath => write!(
                f,
                "no snapshot file configured: build the counter with `snapshot_path`"
            ),
            SnapshotError::Io {
                path,
                action,
                source,
            } => write!(
                f,
                "snapshot {}: cannot {action} it: {source}",
                path.display()
            ),
            SnapshotError::Corrupt {
                path: Some(path),
                reason,
            } => write!(f, "snapshot {} is unreadable: {reason}", path.display()),
            SnapshotError::Corrupt { path: None, reason } => {
                write!(f, "not a readable snapshot: {reason}")
            }
            SnapshotError::Encode(e) => write!(f, "cannot encode the snapshot: {e}"),
        }
    }
}

impl std::error::Error for SnapshotError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SnapshotError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
