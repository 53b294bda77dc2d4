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
//! | 8..12 | format version, `u32` little-endian (this release writes 4) |
//! | 12..20 | payload length, `u64` little-endian |
//! | 20..24 | CRC-32 of bytes 8..20 and the payload |
//!
//! # Format versions
//! - 1: the payload as a bincode list of sessions (17 bytes each).
//! - 2: sessions as one byte string of 16-byte records, decoded in place; the rest as in 1.
//! - 3: sessions sorted by session key, with their online and idle time orders, so that a
//!   restored counter reads them in place (see `visitors/saved.rs` for the layout and
//!   `visitors/restored.rs` for how they are read); the rest as in 2. The sessions of a file of
//!   version 1 or 2 are sorted into that layout when a counter is restored from it (which
//!   allocates about three times their size, once), not when it is only decoded.
//! - 4 (written by this release): 3, then an optional sync state: what a counter that shares
//!   its site through Redis has not sent yet (page views logged, the waiting batch, the parts
//!   in flight with their numbers) and the site's numbers as it last read them (see
//!   `sync/engine.rs`). Absent for a counter that does not share a site.
//!
//! # Versioning policy
//! Every release reads every older format version; a release that changes the payload (or the
//! codec) adds a new version number and keeps the old decoders. A golden file of each version is
//! committed under `tests/golden/` and decoded by a test. A file of a newer version than the
//! release knows is refused with an error naming the version.
//!
//! # Trust
//! Decoding never trusts the file: the header is checked against the file's real size, the
//! checksum is verified before anything decoded is used, lists are read without preallocating
//! their claimed length, byte strings are borrowed from the file (their length checked against
//! the bytes left), and restored state is vetted before use. A bad file is an `Err`, never a
//! panic, and decoding allocates little more than twice the file's size. Format 3's session
//! time orders are checked at the load to be as long as the records of their kind; what they
//! name is vetted as they are read after the load, and they are not checked to be sorted by
//! time (at every load, the first would cost a random write per session, the second a random
//! read): a file crafted with bad orders and a recomputed checksum can make restored sessions
//! expire late, or be forgotten out of turn over `max_sessions`, never a panic or a wrong
//! count (see `visitors/restored.rs`, "Trust").
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
use state::{StateV1, StateV2, StateV3, StateV4};

/// The format version this release writes.
pub const FORMAT_VERSION: u32 = 4;

/// Writes a state as a whole snapshot file to `path`, atomically (see [`file::write_atomic`]).
/// The payload is measured first (a snapshot may hold at most 4 GiB), then encoded straight
/// into the file.
pub(crate) fn save(state: &StateV4<'_>, path: &std::path::Path) -> Result<(), SnapshotError> {
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

/// Payloads at least this long are checksummed on a second thread while they are decoded, and
/// their session table vetted on another while the rest is restored.
const CHECK_APART: usize = 1 << 20;

/// Decodes a whole snapshot file of any supported version into the current state type, and
/// vets it: a state returned here is safe to restore. It borrows its sessions from `file`.
pub(crate) fn decode(file: &[u8]) -> Result<StateV4<'_>, String> {
    decode_with(file, |_| {})
}

/// [`decode`], handing the state to `early` as soon as everything in it but its session table
/// is vetted, while the table is vetted on another thread: a load restores the counts and
/// articles meanwhile. `early` sees the state without its sessions (they are put back before
/// it is returned). It runs before the checksum and the session table are known to be good: a
/// caller that gets an error must throw away whatever `early` built.
///
/// A large payload's checksum is computed on a second thread (when one can be started) while
/// this one decodes and vets it: both read the whole file, so together they take about half as
/// long. Decoding never trusts its input, so it may run before the checksum is known; a
/// checksum mismatch is reported before anything decoding found. A large session table is
/// vetted on one thread more, while this one restores the rest (`early`).
pub(crate) fn decode_with<'a>(
    file: &'a [u8],
    early: impl FnOnce(&mut StateV4<'a>),
) -> Result<StateV4<'a>, String> {
    let (sealed, payload) = format::open_unverified(file)?;
    let large = payload.len() >= CHECK_APART;
    let (verified, decoded) = crate::common::parallel::join(
        "visitor-counter-checksum",
        large,
        || sealed.verify(payload),
        || {
            let mut state = decode_payload(sealed.version, payload)?;
            let sessions = std::mem::take(&mut state.sessions);
            let (vetted, ()) = crate::common::parallel::join(
                "visitor-counter-vet",
                large,
                || sessions.validate(),
                || early(&mut state),
            );
            vetted?;
            state.sessions = sessions;
            Ok(state)
        },
    );
    verified?;
    decoded
}

/// Decodes a payload of format `version` and vets all of it but its sessions.
fn decode_payload(version: u32, payload: &[u8]) -> Result<StateV4<'_>, String> {
    let state = match version {
        1 => StateV4::from(StateV3::from(StateV2::from(codec::decode::<StateV1>(
            payload,
        )?))),
        2 => StateV4::from(StateV3::from(codec::decode::<StateV2>(payload)?)),
        3 => StateV4::from(codec::decode::<StateV3>(payload)?),
        4 => codec::decode::<StateV4>(payload)?,
        v => {
            return Err(format!(
                "format version {v} is not supported by this release (it reads versions 1 to {FORMAT_VERSION})"
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
    let (format_version, _) = format::open(bytes).map_err(corrupt)?;
    let state = decode(bytes).map_err(corrupt)?;
    Ok(SnapshotInfo {
        format_version,
        saved_at: crate::calendar::clock::from_nanos(state.saved_at),
        zone: state.calendar.zone.clone(),
        sessions: state.sessions.len(),
        articles: state.articles.len(),
    })
}
