//! Damaged and hostile snapshot files: every one is an `Err`, never a panic, never a changed
//! file, and decoding one never allocates much more than the file's own size.
//!
//! - Every single-bit flip and every truncation of a real snapshot is refused by
//!   [`snapshot::inspect`] and (for a sample spread over the file) by `build`, whose error names
//!   the file and which leaves the file byte for byte as it was.
//! - Random and crafted inputs (random bytes, valid headers over random payloads, a real payload
//!   with length prefixes overwritten to claim huge lists, hand-built payloads that really hold
//!   many elements) never make `inspect` panic; they make it return `Err`, except for those
//!   that happen to be readable snapshots (about a tenth of the generated inputs: most of a
//!   real payload is fixed-width counts, and a huge claim written over a count is just a big
//!   count), which `build` must then accept as well. The heap's high-water mark during each
//!   call stays within `2 * input_len + 64 KiB`: the promise of `snapshot/mod.rs` ("decoding
//!   allocates little more than twice the file's size").
//!
//! The allocator wraps [`System`] and keeps the live heap bytes and their high-water mark in
//! atomics. Every test in this binary shares those counters, so each test holds [`SERIAL`] for
//! its whole run and measurements never mix. Everything goes through the public API with a
//! `ManualClock`; nothing sleeps.
//!
//! The 100,000-input run is ignored in debug builds (CI runs it in release with `--ignored`); a
//! 5,000-input run of the same generator is not. The generator is deterministic, but the real
//! snapshot it mutates lists sessions and articles in hash-map order, which changes from run to
//! run; a failure prints the inputs concerned.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use time::macros::{datetime, offset};
use visitor_counter::snapshot::inspect;
use visitor_counter::{ArticleId, BuildError, Counter, ManualClock, VisitorId};

// ---------------------------------------------------------------------------------------------
// The counting allocator
// ---------------------------------------------------------------------------------------------

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::{serial, LIVE, PEAK};

/// Runs `f` and returns its result with the heap's high-water mark during the call, in bytes
/// above what was live when it started.
fn peak_during<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let r = f();
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    (r, peak)
}

/// The promise being checked: at most twice the input plus 64 KiB.
fn allowed(input_len: usize) -> usize {
    2 * input_len + 64 * 1024
}

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

fn temp_dir(name: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let d = std::env::temp_dir().join(format!(
        "vc-corruption-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A real snapshot: two local days of traffic at UTC+7 by 40 visitors (more than
/// `max_sessions`), with article views and refreshes, saved through the public API.
fn real_snapshot() -> Vec<u8> {
    let dir = temp_dir("real");
    let path = dir.join("counter.snapshot");
    let clock = ManualClock::new(datetime!(2025-03-30 21:00 +07:00));
    let c = Counter::builder()
        .utc_offset(offset!(+7))
        .clock(clock.clone())
        .max_sessions(32)
        .snapshot_path(&path)
        .build()
        .unwrap();
    for i in 0..600u64 {
        let v = VisitorId::from((i * 7) % 40);
        if i % 3 == 0 {
            c.view_article(ArticleId::from(100 + (i / 3) % 9), v);
        } else {
            c.hit(v);
        }
        // 600 page views over about 28 hours: crosses local midnight and a week start.
        clock.advance(Duration::from_secs(150 + i % 37));
    }
    c.save().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::remove_dir_all(dir).unwrap();
    bytes
}

/// The header (as `snapshot/format.rs` lays it out) for `payload`, with a correct CRC, so the
/// payload reaches the decoder; the format version is the one this release writes.
fn with_header(payload: &[u8]) -> Vec<u8> {
    with_header_version(visitor_counter::snapshot::FORMAT_VERSION, payload)
}

fn with_header_version(version: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u64;
    let mut h = crc32fast::Hasher::new();
    h.update(&version.to_le_bytes());
    h.update(&len.to_le_bytes());
    h.update(payload);
    let mut file = b"VCSNAP\r\n".to_vec();
    file.extend_from_slice(&version.to_le_bytes());
    file.extend_from_slice(&len.to_le_bytes());
    file.extend_from_slice(&h.finalize().to_le_bytes());
    file.extend_from_slice(payload);
    file
}

const HEADER_LEN: usize = 24;

fn hex(bytes: &[u8]) -> String {
    const SHOWN: usize = 96;
    let mut s: String = bytes
        .iter()
        .take(SHOWN)
        .map(|b| format!("{b:02x}"))
        .collect();
    if bytes.len() > SHOWN {
        s += &format!("... ({} bytes)", bytes.len());
    }
    s
}

/// Builds a counter from the snapshot file at `path` and checks that it refuses it properly:
/// `BuildError::Snapshot`, an error text naming the file, the file left byte for byte as it was,
/// and nothing else created next to it.
fn assert_build_refuses(path: &Path, bytes: &[u8], what: &str) {
    std::fs::write(path, bytes).unwrap();
    let clock = ManualClock::new(datetime!(2025-04-01 12:00 UTC));
    let result = Counter::builder()
        .utc_offset(offset!(+7))
        .clock(clock)
        .max_sessions(32)
        .snapshot_path(path)
        .build();
    let err = match result {
        Err(e) => e,
        Ok(_) => panic!("{what}: build accepted the damaged file"),
    };
    assert!(
        matches!(err, BuildError::Snapshot(_)),
        "{what}: wrong error kind {err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()),
        "{what}: the error does not name the file: {msg}"
    );
    assert!(
        std::fs::read(path).unwrap() == bytes,
        "{what}: build changed the file"
    );
    let entries = std::fs::read_dir(path.parent().unwrap()).unwrap().count();
    assert_eq!(entries, 1, "{what}: build left other files next to it");
}

// ---------------------------------------------------------------------------------------------
// Hand-built payloads (bincode 2 `standard()` with little-endian fixed-width integers, see
// `snapshot/codec.rs`, `snapshot/state.rs` and `visitors/saved.rs`)
// ---------------------------------------------------------------------------------------------

/// Bytes of a length prefix (of a list or a string): a `u64`, little-endian.
const LEN_PREFIX: usize = 8;

/// The key of an empty period slot: `i32::MIN`, little-endian.
const EMPTY_KEY: [u8; 4] = i32::MIN.to_le_bytes();

/// A payload of the current format built field by field: saved at the Unix epoch, every count zero,
/// every period slot either key 0 or empty, so that by default it is a snapshot `build`
/// accepts. Each list is a claimed length and the number of elements really present; day-ring
/// elements past [`HISTORY_DAYS`](visitor_counter::HISTORY_DAYS) (which the decoder refuses)
/// use key 0 instead of the empty key.
#[derive(Clone)]
struct Parts {
    /// The format version in the header.
    version: u32,
    /// The zone string's claimed length and the bytes present.
    zone_claim: u64,
    zone: Vec<u8>,
    /// `traffic.days`: (key, visits, page views), each element 20 bytes (24 decoded).
    days: (u64, usize),
    /// The exact set of the first unique-visitor day slot: the ids 0, 1, 2, ..., each 8 bytes.
    exact: (u64, usize),
    /// Instead of that exact set, a sketch: its registers (each 1 byte, all 0) and its
    /// histogram (each entry 4 bytes: the first counts the registers present, the others are
    /// 0), so that with 65,536 registers and 50 entries it is a consistent sketch.
    sketch: Option<((u64, usize), (u64, usize))>,
    /// `unique.days`: (key, distinct visitors), each element 12 bytes (16 decoded).
    unique_days: (u64, usize),
    /// `sessions`: a byte string of 16-byte records (borrowed when decoded), which claims 16
    /// times the claim here (session keys 1, 2, 3, ..., all idle).
    sessions: (u64, usize),
    /// `articles`: the id and its period buckets, each element 112 bytes (144 decoded).
    articles: (u64, usize),
    /// `article_dedup`: (article, visitor, age), each element 24 bytes (24 decoded).
    dedup: (u64, usize),
}

const RING: usize = visitor_counter::HISTORY_DAYS;
/// The most ids an exact visitor set holds (`distinct::EXACT_LIMIT`).
const EXACT_MAX: usize = 4096;
/// A sketch's registers (2^16) and histogram entries (register values 0 to 49).
const REGISTERS: usize = 1 << 16;
const HISTOGRAM: usize = 50;

impl Default for Parts {
    fn default() -> Self {
        Parts {
            version: visitor_counter::snapshot::FORMAT_VERSION,
            zone_claim: 12,
            zone: b"UTC+07:00:00".to_vec(),
            days: (RING as u64, RING),
            exact: (0, 0),
            sketch: None,
            unique_days: (RING as u64, RING),
            sessions: (0, 0),
            articles: (0, 0),
            dedup: (0, 0),
        }
    }
}

fn list(out: &mut Vec<u8>, (claim, present): (u64, usize), element: impl Fn(usize) -> Vec<u8>) {
    out.extend(claim.to_le_bytes());
    for i in 0..present {
        out.extend(element(i));
    }
}

/// Period buckets (day, week, month, year: a slot with key 0 and an empty one each; the total)
/// with `value(k)` in the k-th of the nine places.
fn buckets(value: impl Fn(usize) -> Vec<u8>) -> Vec<u8> {
    let mut out = Vec::new();
    for kind in 0..4 {
        out.extend(0i32.to_le_bytes());
        out.extend(value(2 * kind));
        out.extend(EMPTY_KEY);
        out.extend(value(2 * kind + 1));
    }
    out.extend(value(8));
    out
}

/// A day-ring element: the empty key within the ring, key 0 past it.
fn ring_element(i: usize, value: &[u8]) -> Vec<u8> {
    let mut e = if i < RING {
        EMPTY_KEY.to_vec()
    } else {
        0i32.to_le_bytes().to_vec()
    };
    e.extend_from_slice(value);
    e
}

impl Parts {
    /// The first unique-visitor day slot: a `Distinct` is its variant (a `u32`: 0 for an exact
    /// set, 1 for a sketch) and then the set as a list, or the registers and the histogram.
    fn first_distinct(&self) -> Vec<u8> {
        let mut d = Vec::new();
        match self.sketch {
            None => {
                d.extend(0u32.to_le_bytes());
                list(&mut d, self.exact, |i| (i as u64).to_le_bytes().to_vec());
            }
            Some((registers, histogram)) => {
                d.extend(1u32.to_le_bytes());
                list(&mut d, registers, |_| vec![0]);
                list(&mut d, histogram, |i| {
                    let n = if i == 0 { registers.1 as u32 } else { 0 };
                    n.to_le_bytes().to_vec()
                });
            }
        }
        d
    }

    fn payload(&self) -> Vec<u8> {
        let mut p = 0i64.to_le_bytes().to_vec(); // saved_at: the Unix epoch
        p.extend(self.zone_claim.to_le_bytes());
        p.extend_from_slice(&self.zone);
        p.push(0); // week_start: Monday
        p.extend([0; 16]); // initial: visits and page views
        p.extend(buckets(|_| vec![0; 16])); // traffic.periods
        list(&mut p, self.days, |i| ring_element(i, &[0; 16]));
        // unique.periods: the first slot as set up, every other one an empty exact set.
        p.extend(buckets(|k| {
            if k == 0 {
                self.first_distinct()
            } else {
                let mut d = 0u32.to_le_bytes().to_vec();
                d.extend(0u64.to_le_bytes());
                d
            }
        }));
        list(&mut p, self.unique_days, |i| ring_element(i, &[0; 8]));
        let (claim, present) = self.sessions;
        // The k-th 16-byte record: key k + 1, last seen at 2000-01-01, idle.
        list(&mut p, (claim.saturating_mul(16), present), |k| {
            let mut r = (k as u64 + 1).to_le_bytes().to_vec();
            r.extend([0; 8]);
            r
        });
        list(&mut p, self.articles, |_| {
            let mut a = vec![0; 8];
            a.extend(buckets(|_| vec![0; 8]));
            a
        });
        list(&mut p, self.dedup, |_| vec![0; 24]);
        p.push(0); // sync: none
        p
    }

    /// The payload behind a header of its version.
    fn file(&self) -> Vec<u8> {
        with_header_version(self.version, &self.payload())
    }
}

/// A file of a format that only builds before the first release wrote is refused with an
/// error that says so, and `build` leaves it where it is.
#[test]
fn a_pre_release_format_is_refused_with_a_clear_error() {
    let _g = serial();
    let dir = temp_dir("pre-release");
    let payload = Parts::default().payload();
    for version in 1..visitor_counter::snapshot::FORMAT_VERSION {
        let path = dir.join(format!("v{version}.snapshot"));
        let file = with_header_version(version, &payload);
        std::fs::write(&path, &file).unwrap();
        let err = inspect(&file).unwrap_err().to_string();
        assert!(err.contains("before the first release"), "{err}");
        let err = match Counter::builder().snapshot_path(&path).build() {
            Ok(_) => panic!("format {version} accepted"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("before the first release"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), file);
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_hand_built_payload_matches_the_format() {
    let _g = serial();
    // (version, bytes of three sessions, sessions tracked once restored)
    for (version, session_bytes, tracked) in
        [(visitor_counter::snapshot::FORMAT_VERSION, 8 + 3 * 16, 3)]
    {
        // If this fails the layout assumed by the crafted inputs below is out of date.
        let parts = Parts {
            version,
            sessions: (3, 3),
            articles: (2, 2),
            exact: (2, 2),
            dedup: (1, 1),
            ..Parts::default()
        };
        let payload = parts.payload();
        // Every element size above, added up: saved_at, zone, week start, initial, traffic
        // periods, traffic days, unique periods (the exact set holds two ids), unique days,
        // sessions, articles, dedup, the sync state (none).
        assert_eq!(
            payload.len(),
            8 + (8 + 12)
                + 1
                + 16
                + 176
                + (8 + 512 * 20)
                + (8 * 4 + 9 * 12 + 2 * 8)
                + (8 + 512 * 12)
                + session_bytes
                + (8 + 2 * 112)
                + (8 + 24)
                + 1,
            "format {version}"
        );
        let file = parts.file();
        let info = inspect(&file).unwrap();
        assert_eq!(info.zone, "UTC+07:00:00");
        assert_eq!(info.sessions, 3);
        assert_eq!(info.articles, 2);
        assert_eq!(info.format_version, version);
        assert_eq!(info.saved_at, time::OffsetDateTime::UNIX_EPOCH);
        // `build` accepts it too, and a full sketch in place of the exact set as well.
        let sketch = Parts {
            sketch: Some(((REGISTERS as u64, REGISTERS), (HISTOGRAM as u64, HISTOGRAM))),
            ..parts.clone()
        };
        let sketch_file = sketch.file();
        assert_eq!(
            sketch_file.len(),
            file.len() - (LEN_PREFIX + 2 * 8)
                + (LEN_PREFIX + REGISTERS)
                + (LEN_PREFIX + 4 * HISTOGRAM)
        );
        inspect(&sketch_file).unwrap();
        let dir = temp_dir("hand-built");
        let path = dir.join("counter.snapshot");
        for file in [&file, &sketch_file] {
            std::fs::write(&path, file).unwrap();
            let c = Counter::builder()
                .clock(ManualClock::new(datetime!(1970-01-01 0:00:01 UTC)))
                .snapshot_path(&path)
                .build()
                .unwrap();
            // Visitors 1, 2 and 3.
            assert_eq!(c.tracked_sessions(), tracked, "format {version}");
            assert_eq!(c.stats().visits.total, 0);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
    // The real snapshot starts the same way: saved_at, then the zone.
    let real = real_snapshot();
    let p = &real[HEADER_LEN..];
    assert_eq!(&p[8..8 + LEN_PREFIX], &12u64.to_le_bytes());
    assert_eq!(&p[8 + LEN_PREFIX..8 + LEN_PREFIX + 12], b"UTC+07:00:00");
}

/// `inspect` is for looking at a file `build` refused (or moved aside): it must refuse what
/// `build` refuses, not only what bincode cannot decode.
#[test]
fn inspect_refuses_what_build_refuses() {
    let _g = serial();
    let real = real_snapshot();
    let mut saved_at_out_of_range = real[HEADER_LEN..].to_vec();
    // saved_at is the first 8 bytes (an `i64`, nanoseconds: here in 2025); make it i64::MIN
    // (the year 1677).
    let saved_at = i64::from_le_bytes(saved_at_out_of_range[..8].try_into().unwrap());
    assert_eq!(
        saved_at.div_euclid(1_000_000_000) / (365 * 86_400),
        55,
        "{saved_at}"
    );
    saved_at_out_of_range[..8].copy_from_slice(&i64::MIN.to_le_bytes());
    let no_history = Parts {
        days: (0, 0),
        ..Parts::default()
    };
    // Two sessions, the second's record changed: its key repeats the first's, or its instant
    // is one nanosecond before the range a session can hold.
    let two = Parts {
        sessions: (2, 2),
        ..Parts::default()
    }
    .payload();
    let mut records = 32u64.to_le_bytes().to_vec();
    records.extend(1u64.to_le_bytes());
    records.extend([0; 8]);
    let second = records.len();
    records.extend(2u64.to_le_bytes());
    records.extend([0; 8]);
    let at = two
        .windows(records.len())
        .position(|w| w == records)
        .expect("the two records in the payload");
    let mut repeated = two.clone();
    repeated[at + second..at + second + 8].copy_from_slice(&1u64.to_le_bytes());
    let mut out_of_range = two.clone();
    // Bit 62 alone: -2^62 ns from 2000-01-01 (63-bit two's complement), one nanosecond
    // before the first instant a session can hold.
    out_of_range[at + second + 8..at + second + 16].copy_from_slice(&(1u64 << 62).to_le_bytes());
    let dir = temp_dir("inspect-vs-build");
    let path = dir.join("counter.snapshot");
    let mut wrong = Vec::new();
    for (name, file) in [
        ("saved_at in 1677", with_header(&saved_at_out_of_range)),
        ("no daily history", no_history.file()),
        ("a session key saved twice", with_header(&repeated)),
        ("a session instant out of range", with_header(&out_of_range)),
    ] {
        assert_build_refuses(&path, &file, name);
        match inspect(&file) {
            Ok(info) => wrong.push(format!("{name}: {info:?} ({})", hex(&file))),
            Err(e) => println!("{name}: {e}"),
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
    assert!(
        wrong.is_empty(),
        "inspect accepted files that build refuses:\n{}",
        wrong.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Bit flips and truncations of a real snapshot
// ---------------------------------------------------------------------------------------------

#[test]
fn the_real_snapshot_is_a_few_kilobytes_and_reads_back() {
    let _g = serial();
    let file = real_snapshot();
    println!("real snapshot: {} bytes", file.len());
    assert!(
        (1024..=64 * 1024).contains(&file.len()),
        "{} bytes",
        file.len()
    );
    let (info, peak) = peak_during(|| inspect(&file));
    let info = info.unwrap();
    println!("inspect peaked at {peak} bytes");
    assert_eq!(
        info.format_version,
        visitor_counter::snapshot::FORMAT_VERSION
    );
    assert_eq!(info.zone, "UTC+07:00:00");
    assert!(info.sessions > 0 && info.sessions <= 32, "{info:?}");
    assert_eq!(info.articles, 9);
    assert!(
        peak <= allowed(file.len()),
        "decoding the real snapshot ({} bytes) peaked at {peak} bytes",
        file.len()
    );
}

#[test]
fn every_single_bit_flip_is_refused_by_inspect() {
    let _g = serial();
    let mut file = real_snapshot();
    inspect(&file).unwrap();
    for bit in 0..file.len() * 8 {
        file[bit / 8] ^= 1 << (bit % 8);
        let r = inspect(&file);
        file[bit / 8] ^= 1 << (bit % 8);
        assert!(r.is_err(), "flip of bit {bit} (byte {}) accepted", bit / 8);
    }
}

#[test]
fn single_bit_flips_spread_over_the_file_are_refused_by_build() {
    let _g = serial();
    let file = real_snapshot();
    let dir = temp_dir("flip-build");
    let path = dir.join("counter.snapshot");
    let bits = file.len() * 8;
    // Every bit of the header, then about 200 more spread evenly over the payload.
    let step = (bits - HEADER_LEN * 8).div_ceil(200);
    let sample = (0..HEADER_LEN * 8).chain((HEADER_LEN * 8..bits).step_by(step).map(|b| {
        // A different bit position within each sampled byte.
        b - b % 8 + (b / 8) % 8
    }));
    let mut n = 0;
    for bit in sample {
        let mut bad = file.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        assert_build_refuses(&path, &bad, &format!("flip of bit {bit}"));
        n += 1;
    }
    assert!(n >= 350, "{n}");
    // The undamaged file is accepted by the same builder.
    std::fs::write(&path, &file).unwrap();
    Counter::builder()
        .utc_offset(offset!(+7))
        .clock(ManualClock::new(datetime!(2025-04-01 12:00 UTC)))
        .max_sessions(32)
        .snapshot_path(&path)
        .build()
        .unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn every_truncation_is_refused() {
    let _g = serial();
    let file = real_snapshot();
    for len in 0..file.len() {
        assert!(
            inspect(&file[..len]).is_err(),
            "truncation to {len} accepted"
        );
    }
    // Padding is refused too.
    let mut padded = file.clone();
    padded.push(0);
    assert!(inspect(&padded).is_err());

    let dir = temp_dir("truncate-build");
    let path = dir.join("counter.snapshot");
    let step = file.len().div_ceil(100);
    let sample = (0..=HEADER_LEN + 2)
        .chain((0..file.len()).step_by(step))
        .chain(file.len() - 3..file.len());
    for len in sample {
        assert_build_refuses(&path, &file[..len], &format!("truncation to {len}"));
    }
    assert_build_refuses(&path, &padded, "one byte of padding");
    std::fs::remove_dir_all(dir).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Random and crafted inputs
// ---------------------------------------------------------------------------------------------

/// splitmix64: small, deterministic, good enough to spread inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Runs of bytes that claim huge lengths when read as bincode's 8-byte little-endian lengths:
/// `u64::MAX`, `i64::MAX`, 4 GiB (the decode limit), just under it, 2 GiB, and 16 MiB.
const HUGE_CLAIMS: [&[u8]; 6] = [
    &[0xff; 8],
    &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
    &[0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00],
    &[0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00],
    &[0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00],
    &[0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00],
];

/// One input for case `i`: random bytes, a valid magic over random bytes, a valid header over
/// a random payload, or the real payload with a length prefix (or a random spot) overwritten
/// with a huge claim. The last three have a correct CRC, so they reach the decoder.
fn fuzz_input(rng: &mut Rng, real_payload: &[u8], i: usize) -> Vec<u8> {
    match i % 8 {
        0 => {
            let n = rng.below(200);
            rng.bytes(n)
        }
        1 => {
            let mut f = b"VCSNAP\r\n".to_vec();
            let n = rng.below(300);
            f.extend(rng.bytes(n));
            f
        }
        2 | 3 => {
            let n = rng.below(if i % 16 == 2 { 40 } else { 2000 });
            with_header(&rng.bytes(n))
        }
        4 => {
            // A random payload opening with a plausible saved_at and zone, then noise.
            let mut p = 0i64.to_le_bytes().to_vec();
            p.extend(12u64.to_le_bytes());
            p.extend_from_slice(b"UTC+07:00:00");
            let n = rng.below(400);
            p.extend(rng.bytes(n));
            with_header(&p)
        }
        _ => {
            // The real payload with a huge claim written over it: at a random spot, or at the
            // zone's length (right after saved_at), or with several bytes flipped.
            let mut p = real_payload.to_vec();
            let claim = HUGE_CLAIMS[rng.below(HUGE_CLAIMS.len())];
            let at = match rng.below(4) {
                0 => 8, // saved_at is an i64
                _ => rng.below(p.len()),
            };
            for (k, b) in claim.iter().enumerate() {
                if let Some(x) = p.get_mut(at + k) {
                    *x = *b;
                }
            }
            if rng.below(4) == 0 {
                let cut = rng.below(p.len());
                p.truncate(cut);
            }
            with_header(&p)
        }
    }
}

/// Crafted inputs that do not come from the generator: huge claims in hand-built payloads,
/// unknown versions, and 13-byte files.
fn crafted_inputs(real: &[u8]) -> Vec<(String, Vec<u8>)> {
    let real_payload = &real[HEADER_LEN..];
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    crafted_parts(visitor_counter::snapshot::FORMAT_VERSION, &mut out);
    // The real payload with each huge claim at every one of its first 64 bytes.
    for at in 0..64.min(real_payload.len()) {
        for claim in HUGE_CLAIMS {
            let mut p = real_payload.to_vec();
            for (k, b) in claim.iter().enumerate() {
                if let Some(x) = p.get_mut(at + k) {
                    *x = *b;
                }
            }
            out.push((
                format!("real payload, claim {claim:02x?} at {at}"),
                with_header(&p),
            ));
        }
    }
    for version in [0, 1, 4, 6, 7, u32::MAX] {
        out.push((
            format!("format version {version}"),
            with_header_version(version, real_payload),
        ));
    }
    // 13-byte files: shorter than the header, whatever they hold.
    out.push(("13 bytes of 0xff".into(), vec![0xff; 13]));
    out.push(("13 zero bytes".into(), vec![0; 13]));
    let mut m = b"VCSNAP\r\n".to_vec();
    m.extend([0xff; 5]);
    out.push(("magic and a huge claim, 13 bytes".into(), m));
    // A 13-byte payload (saved_at, then the first 5 bytes of a huge zone length claim),
    // behind a valid header.
    let mut p = 0i64.to_le_bytes().to_vec();
    p.extend([0xff; 5]);
    assert_eq!(p.len(), 13);
    out.push(("13-byte payload with huge claims".into(), with_header(&p)));
    out.push(("13-byte payload alone".into(), p));
    out
}

/// Hand-built payloads of format `version` with a huge or one-too-many claim in each list.
fn crafted_parts(version: u32, out: &mut Vec<(String, Vec<u8>)>) {
    let parts = Parts {
        version,
        ..Parts::default()
    };
    for (k, claim) in [
        1u64 << 31,
        u64::from(u32::MAX),
        1 << 32,
        u64::MAX,
        u64::from(u32::MAX) - 100,
        i64::MAX as u64,
        // One past a capped list's size (day rings, exact sets, sketch registers), and 1 Mi.
        RING as u64 + 1,
        EXACT_MAX as u64 + 1,
        REGISTERS as u64 + 1,
        1 << 20,
    ]
    .into_iter()
    .enumerate()
    {
        let huge = (claim, 2);
        out.push((
            format!("format {version}: zone claims {claim} bytes"),
            Parts {
                zone_claim: claim,
                ..parts.clone()
            }
            .file(),
        ));
        for (name, p) in [
            (
                "days",
                Parts {
                    days: huge,
                    ..parts.clone()
                },
            ),
            (
                "exact set",
                Parts {
                    exact: huge,
                    ..parts.clone()
                },
            ),
            (
                "unique days",
                Parts {
                    unique_days: huge,
                    ..parts.clone()
                },
            ),
            (
                "sessions",
                Parts {
                    sessions: huge,
                    ..parts.clone()
                },
            ),
            (
                "articles",
                Parts {
                    articles: huge,
                    ..parts.clone()
                },
            ),
            (
                "dedup",
                Parts {
                    dedup: huge,
                    ..parts.clone()
                },
            ),
            (
                "sketch registers",
                Parts {
                    sketch: Some((huge, (HISTOGRAM as u64, HISTOGRAM))),
                    ..parts.clone()
                },
            ),
            (
                "sketch histogram",
                Parts {
                    sketch: Some(((REGISTERS as u64, REGISTERS), huge)),
                    ..parts.clone()
                },
            ),
        ] {
            out.push((
                format!("format {version}: {name} claims {claim} [{k}]"),
                p.file(),
            ));
        }
    }
}

/// What one run of the inspect fuzzing found.
struct Findings {
    /// Where files that `inspect` accepts are handed to `build`.
    path: PathBuf,
    inputs: usize,
    accepted: usize,
    /// The largest `peak / (2 * len + 64 KiB)` (over 1.0 fails) and its input.
    worst_use: (f64, String),
    /// The same among the inputs within the bound.
    worst_within: (f64, String),
    /// Inputs over the memory bound.
    over: Vec<String>,
    /// Inputs `inspect` accepts and `build` refuses.
    inconsistent: Vec<String>,
}

impl Findings {
    fn new(path: PathBuf) -> Findings {
        Findings {
            path,
            inputs: 0,
            accepted: 0,
            worst_use: (0.0, String::new()),
            worst_within: (0.0, String::new()),
            over: Vec::new(),
            inconsistent: Vec::new(),
        }
    }

    /// Runs `inspect` on `input` (a panic fails the test right here) and notes whether it
    /// stayed within the memory bound. An input that happens to be a readable snapshot (a huge
    /// claim written over a count, say) may be accepted, but then `build` must accept it too.
    fn check(&mut self, name: &str, input: &[u8]) {
        let (r, peak) = peak_during(|| inspect(input));
        self.inputs += 1;
        let what = || {
            format!(
                "{name}: {} bytes, peak {peak} bytes = {:.1} x len",
                input.len(),
                peak as f64 / input.len().max(1) as f64
            )
        };
        let used = peak as f64 / allowed(input.len()) as f64;
        if used > self.worst_use.0 {
            self.worst_use = (used, what());
        }
        if used <= 1.0 && used > self.worst_within.0 {
            self.worst_within = (used, what());
        }
        if peak > allowed(input.len()) {
            self.over.push(format!(
                "{name}: {} bytes, peak {peak} bytes (allowed {}): {}",
                input.len(),
                allowed(input.len()),
                hex(input)
            ));
        }
        if let Ok(info) = r {
            self.accepted += 1;
            std::fs::write(&self.path, input).unwrap();
            let built = Counter::builder()
                .utc_offset(offset!(+7))
                .clock(ManualClock::new(datetime!(2025-04-01 12:00 UTC)))
                .snapshot_path(&self.path)
                .build();
            if let Err(e) = built {
                self.inconsistent.push(format!(
                    "{name}: inspect says {info:?}, build says {e}: {}",
                    hex(input)
                ));
            }
        }
    }

    fn report(self) {
        println!(
            "{} inputs ({} readable snapshots among them); worst peak / (2 * len + 64 KiB): {:.3} \
             ({}); worst among those within the bound: {:.3} ({})",
            self.inputs,
            self.accepted,
            self.worst_use.0,
            self.worst_use.1,
            self.worst_within.0,
            self.worst_within.1
        );
        let first = |v: &[String]| v.iter().take(8).cloned().collect::<Vec<_>>().join("\n");
        let mut problems = String::new();
        if !self.over.is_empty() {
            problems += &format!(
                "{} of {} inputs made inspect allocate more than 2 * len + 64 KiB; the first \
                 ones:\n{}\n",
                self.over.len(),
                self.inputs,
                first(&self.over)
            );
        }
        if !self.inconsistent.is_empty() {
            problems += &format!(
                "{} inputs were accepted by inspect but refused by build; the first ones:\n{}\n",
                self.inconsistent.len(),
                first(&self.inconsistent)
            );
        }
        assert!(problems.is_empty(), "{problems}");
    }
}

fn fuzz_inspect(n: usize) {
    let _g = serial();
    let real = real_snapshot();
    let real_payload = real[HEADER_LEN..].to_vec();
    let dir = temp_dir("fuzz");
    let mut findings = Findings::new(dir.join("counter.snapshot"));
    let crafted = crafted_inputs(&real);
    for (name, input) in &crafted {
        findings.check(name, input);
    }
    let mut rng = Rng(0x5eed_0fc0_ffee);
    for i in 0..n.saturating_sub(crafted.len()) {
        let input = fuzz_input(&mut rng, &real_payload, i);
        findings.check(&format!("generated #{i}"), &input);
    }
    std::fs::remove_dir_all(dir).unwrap();
    findings.report();
}

#[test]
fn five_thousand_random_and_crafted_inputs_are_refused_within_the_memory_bound() {
    fuzz_inspect(5_000);
}

/// CI runs this in release: `cargo test --release --all-features -- --ignored`.
#[test]
#[ignore = "slow in debug builds; CI runs it in release with --ignored"]
fn a_hundred_thousand_random_and_crafted_inputs_are_refused_within_the_memory_bound() {
    fuzz_inspect(100_000);
}

// ---------------------------------------------------------------------------------------------
// The memory bound, one hostile shape at a time
// ---------------------------------------------------------------------------------------------

/// A 40-byte file whose zone string claims 2 GiB (bincode's own string decoding checks the claim
/// against its 4 GiB decode limit, then allocates it zeroed before reading a byte of it).
#[test]
fn a_huge_string_length_claim_is_not_allocated() {
    let _g = serial();
    let file = with_header(
        &Parts {
            zone_claim: 1 << 31,
            zone: Vec::new(),
            ..Parts::default()
        }
        .payload()[..8 + LEN_PREFIX],
    );
    assert_eq!(file.len(), 40);
    let (r, inspect_peak) = peak_during(|| inspect(&file));
    assert!(r.is_err());
    // `build` decodes the same way.
    let dir = temp_dir("huge-string");
    let path = dir.join("counter.snapshot");
    let (_, build_peak) = peak_during(|| assert_build_refuses(&path, &file, "2 GiB zone claim"));
    std::fs::remove_dir_all(dir).unwrap();
    assert!(
        inspect_peak <= allowed(file.len()) && build_peak <= allowed(file.len()) + 64 * 1024,
        "a {}-byte file ({}) made inspect allocate {inspect_peak} bytes at its peak, and build \
         {build_peak} bytes",
        file.len(),
        hex(&file)
    );
}

/// Lists that really hold many elements, each taking more memory decoded than encoded (a day
/// slot 20 bytes encoded and 24 decoded, a unique-visitor day 12 and 16, a format 1 session 17
/// and 24 (a format 2 or 3 session is borrowed from the input), an article 112 and 144; an exact set's ids are 8 bytes either way, but end up in a hash set).
/// The lists whose size the format knows are built at that size, a snapshot `inspect` accepts,
/// and one element over it, which it refuses; the others hold 100,000 elements (10,000
/// articles) and are snapshots it accepts (repeated visitors and articles collapse when
/// restored).
#[test]
fn lists_of_small_elements_stay_within_twice_the_input() {
    let _g = serial();
    let n: usize = 100_000;
    let many = (n as u64, n);
    let full = |cap: usize| (cap as u64, cap);
    let over = |cap: usize| (cap as u64 + 1, cap + 1);
    let d = Parts::default;
    let mut over_bound = Vec::new();
    let mut wrong = Vec::new();
    // (name, elements, the cap it goes past if refused, the payload)
    for (name, count, refused_past, parts) in [
        (
            "traffic days, full",
            RING,
            None,
            Parts {
                days: full(RING),
                ..d()
            },
        ),
        (
            "traffic days, one over",
            RING + 1,
            Some(RING),
            Parts {
                days: over(RING),
                ..d()
            },
        ),
        (
            "exact set, full",
            EXACT_MAX,
            None,
            Parts {
                exact: full(EXACT_MAX),
                ..d()
            },
        ),
        (
            "exact set, one over",
            EXACT_MAX + 1,
            Some(EXACT_MAX),
            Parts {
                exact: over(EXACT_MAX),
                ..d()
            },
        ),
        (
            "unique days, full",
            RING,
            None,
            Parts {
                unique_days: full(RING),
                ..d()
            },
        ),
        (
            "unique days, one over",
            RING + 1,
            Some(RING),
            Parts {
                unique_days: over(RING),
                ..d()
            },
        ),
        (
            "sketch, full",
            REGISTERS,
            None,
            Parts {
                sketch: Some((full(REGISTERS), full(HISTOGRAM))),
                ..d()
            },
        ),
        (
            "sketch registers, one over",
            REGISTERS + 1,
            Some(REGISTERS),
            Parts {
                sketch: Some((over(REGISTERS), full(HISTOGRAM))),
                ..d()
            },
        ),
        (
            "sketch histogram, one over",
            HISTOGRAM + 1,
            Some(HISTOGRAM),
            Parts {
                sketch: Some((full(REGISTERS), over(HISTOGRAM))),
                ..d()
            },
        ),
        (
            "sessions (borrowed, checked by a sorted copy of their keys)",
            n,
            None,
            Parts {
                sessions: many,
                ..d()
            },
        ),
        (
            "articles",
            n / 10,
            None,
            Parts {
                articles: (n as u64 / 10, n / 10),
                ..d()
            },
        ),
        ("article dedup", n, None, Parts { dedup: many, ..d() }),
    ] {
        let file = parts.file();
        let (r, peak) = peak_during(|| inspect(&file));
        println!(
            "{name}: {count} elements, {} bytes, peak {peak} bytes ({:.2}x, {:.3} of the bound)",
            file.len(),
            peak as f64 / file.len() as f64,
            peak as f64 / allowed(file.len()) as f64
        );
        match (refused_past, r) {
            (None, Ok(_)) => {}
            (None, Err(e)) => wrong.push(format!("{name}: refused: {e}")),
            (Some(cap), Ok(info)) => wrong.push(format!(
                "{name}: {count} elements, over the {cap} the format allows, accepted: {info:?}"
            )),
            (Some(cap), Err(e)) => {
                // Refused for claiming too many, not for some other fault of the payload.
                let claims = format!("claims {} elements, more than the {cap}", cap + 1);
                if !e.to_string().contains(&claims) {
                    wrong.push(format!("{name}: refused, but not for its length: {e}"));
                }
            }
        }
        if peak > allowed(file.len()) {
            over_bound.push(format!(
                "{name}: {count} elements, a {}-byte file, peak {peak} bytes (allowed {})",
                file.len(),
                allowed(file.len())
            ));
        }
    }
    assert!(over_bound.is_empty(), "{}", over_bound.join("\n"));
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
