//! Snapshot files: what they hold, their layout, and the versioning policy.
//!
//! A snapshot holds everything a counter knows: the period counters and daily history, the
//! unique-visitor sets and sketches, every tracked session with its last page view and online
//! flag, article counters and refresh-dedup state. A counter saved, dropped and rebuilt from its
//! snapshot answers every reading exactly as the uninterrupted counter would, however much time
//! passed in between.
//!
//! # Layout
//! A 24-byte header (magic, format version, payload length, CRC-32) and a bincode 2 payload; see
//! the table in the source of `snapshot/format.rs` and the codec in `snapshot/codec.rs`.
//!
//! | bytes | field |
//! |---|---|
//! | 0..8 | magic `b"VCSNAP\r\n"` |
//! | 8..12 | format version, `u32` little-endian (this release writes 5) |
//! | 12..20 | payload length, `u64` little-endian |
//! | 20..24 | CRC-32 of bytes 8..20 and the payload |
//!
//! # Format versions
//! This release writes and reads format 5: the header above, then the payload of
//! `snapshot/state.rs`, whose sessions are flat 16-byte records (see `visitors/saved.rs`).
//! Formats 1 to 4 were written only by builds before the first release; a file in one of them is
//! refused with an error that says so.
//!
//! # Versioning policy
//! From the first release on, every release reads every format an earlier release wrote: a
//! release that changes the payload (or the codec) adds a format version and keeps the decoder
//! of the old one. A golden file of each such version is committed under `tests/golden/` and
//! decoded by a test. A file of a newer version than the release knows is refused with an error
//! naming the version.
//!
//! # Trust
//! Decoding never trusts the file: the header is checked against the file's real size, the
//! checksum is verified before anything decoded is used, lists are read without preallocating
//! their claimed length, byte strings are borrowed from the file (their length checked against
//! the bytes left), and restored state is vetted before use: the session table checks each
//! record as it loads it (see `visitors/sessions.rs`). A bad file is an `Err`, never a panic.
//! A load allocates in proportion to the file: about 4 times its size for a real file with 1M
//! sessions, at most about 12 times for one crafted so that every session sits alone in its
//! second of the expiry queues. Its time is in proportion to the file too: the session table's
//! hash maps draw a random seed each, so keys crafted to collide do not.
//!
//! # One counter per file
//! A snapshot file belongs to one live counter. `build` removes the `<name>.tmp-*` files that an
//! interrupted save left beside the snapshot, so a second counter built on the same path while
//! the first is saving would make that save fail.
//!
//! # Point in time
//! `save` copies each piece of state under its own short lock while page views keep flowing, so
//! a snapshot holds every page view that completed before `save` was called; page views made
//! while it runs may be in it or not, and such a page view may be in the session table but not
//! yet in the counts.
//!
//! # A different calendar on restore
//! Counts already recorded keep the local days they were recorded on; the builder's offset or time
//! zone applies to page views from then on. If the week's first day differs from the snapshot's,
//! this week and last week of visits and page views are rebuilt from the daily history, and those
//! of unique visitors and article views restart at zero (they cannot be re-bucketed).

mod codec;
pub(crate) mod file;
mod format;
pub(crate) mod state;

use time::OffsetDateTime;

use crate::error::SnapshotError;
use state::State;

/// The format version this release writes.
pub const FORMAT_VERSION: u32 = 5;

/// Writes a state as a whole snapshot file to `path`, atomically (see [`file::write_atomic`]).
/// The payload is measured first (a snapshot may hold at most 4 GiB), then encoded straight
/// into the file.
pub(crate) fn save(state: &State<'_>, path: &std::path::Path) -> Result<(), SnapshotError> {
    let len = codec::size(state).map_err(SnapshotError::Encode)?;
    if len > format::MAX_PAYLOAD {
        // It could not be read back.
        return Err(SnapshotError::Encode(format!(
            "a payload of {len} bytes, over the {} bytes a snapshot may hold",
            format::MAX_PAYLOAD
        )));
    }
    file::write_atomic(path, |f| {
        format::write_sealed(f, FORMAT_VERSION, len, |out| codec::encode_into(state, out))
    })
}

/// Payloads at least this long are checksummed on a second thread while they are decoded.
const CHECK_APART: usize = 1 << 20;

/// Decodes a whole snapshot file and vets all of it but its sessions (which the session table
/// checks as it loads them). It borrows its sessions from `file`.
///
/// A large payload's checksum is computed on a second thread (when one can be started) while
/// this one decodes and vets it: both read the whole file, so together they take about half as
/// long. Decoding never trusts its input, so it may run before the checksum is known; a
/// checksum mismatch is reported before anything decoding found.
pub(crate) fn decode(file: &[u8]) -> Result<State<'_>, String> {
    let (sealed, payload) = format::open_unverified(file)?;
    let (verified, decoded) = crate::common::parallel::join(
        "visitor-counter-checksum",
        payload.len() >= CHECK_APART,
        || sealed.verify(payload),
        || decode_payload(sealed.version, payload),
    );
    verified?;
    decoded
}

/// Decodes a payload of format `version` and vets all of it but its sessions.
fn decode_payload(version: u32, payload: &[u8]) -> Result<State<'_>, String> {
    let state = match version {
        FORMAT_VERSION => codec::decode::<State>(payload)?,
        1..FORMAT_VERSION => {
            return Err(format!(
                "format version {version} was written by a build before the first release, \
                 which this release does not read (it reads version {FORMAT_VERSION})"
            ))
        }
        v => {
            return Err(format!(
                "format version {v} is not supported by this release (it reads version {FORMAT_VERSION})"
            ))
        }
    };
    state.validate_all_but_sessions()?;
    Ok(state)
}

/// What a snapshot file holds, as [`inspect`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SnapshotInfo {
    /// The file's format version.
    pub format_version: u32,
    /// When it was taken.
    pub saved_at: OffsetDateTime,
    /// The zone its counts were bucketed in.
    pub zone: String,
    /// Tracked sessions it holds.
    pub sessions: usize,
    /// Articles with counters it holds.
    pub articles: usize,
}

/// Checks and decodes the bytes of a snapshot file without building a counter: for operators
/// looking at a file moved aside, and for fuzzing the decoder.
///
/// # Errors
/// [`SnapshotError::Corrupt`] with the reason when the bytes are not a readable snapshot.
///
/// ```
/// let err = visitor_counter::snapshot::inspect(b"not a snapshot").unwrap_err();
/// assert!(err.to_string().contains("truncated"));
/// ```
pub fn inspect(bytes: &[u8]) -> Result<SnapshotInfo, SnapshotError> {
    let corrupt = |reason| SnapshotError::Corrupt { path: None, reason };
    // `decode` verifies the checksum; the header is read here only for its version.
    let format_version = format::open_unverified(bytes).map_err(corrupt)?.0.version;
    let state = decode(bytes).map_err(corrupt)?;
    state.sessions.check().map_err(corrupt)?;
    Ok(SnapshotInfo {
        format_version,
        saved_at: crate::calendar::clock::from_nanos(state.saved_at),
        zone: state.calendar.zone.clone(),
        sessions: state.sessions.len(),
        articles: state.articles.len(),
    })
}
