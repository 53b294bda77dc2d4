//! The snapshot decoder must reject any input with an `Err`, never panic or abort; and a counter
//! restored from any input it accepts must work.
//!
//! `cargo fuzz run decode` (needs a nightly toolchain, or `RUSTC_BOOTSTRAP=1` on stable).
//! Each input is tried twice: as a whole file, and as a payload behind a valid header (correct
//! length and checksum) of the current format version, so mutations reach the payload decoder
//! instead of the checksum. Whatever `inspect` accepts is built into a counter with a small
//! session bound (smaller than the file may hold), which then counts page views, runs upkeep two
//! hours later (which expires or evicts every restored session) and saves: a crafted but
//! accepted session table must not make any of that panic.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use visitor_counter::{Counter, ManualClock, VisitorId};

fn with_header(version: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u64;
    let mut crc = crc32fast::Hasher::new();
    crc.update(&version.to_le_bytes());
    crc.update(&len.to_le_bytes());
    crc.update(payload);
    let mut file = b"VCSNAP\r\n".to_vec();
    file.extend_from_slice(&version.to_le_bytes());
    file.extend_from_slice(&len.to_le_bytes());
    file.extend_from_slice(&crc.finalize().to_le_bytes());
    file.extend_from_slice(payload);
    file
}

/// Builds a counter from an accepted file and drives it.
fn restore_and_use(file: &[u8], data: &[u8]) {
    let dir = std::env::temp_dir().join(format!("vc-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("counter.snapshot");
    std::fs::write(&path, file).unwrap();
    let clock = ManualClock::new(time::OffsetDateTime::UNIX_EPOCH + Duration::from_secs(1));
    let c = Counter::builder()
        .clock(clock.clone())
        .max_sessions(4)
        .snapshot_path(&path)
        .build()
        .expect("inspect accepted this file, so build must");
    // Visitors named by the input's bytes.
    for chunk in data.chunks(8).take(16) {
        let mut id = [0u8; 8];
        id[..chunk.len()].copy_from_slice(chunk);
        c.hit(VisitorId::from(u64::from_le_bytes(id)));
    }
    let _ = c.stats();
    clock.advance(Duration::from_secs(7200));
    c.hit(VisitorId::from(7));
    let _ = c.stats();
    c.save().unwrap();
    let _ = c.tracked_sessions();
}

fuzz_target!(|data: &[u8]| {
    if visitor_counter::snapshot::inspect(data).is_ok() {
        restore_and_use(data, data);
    }
    let file = with_header(visitor_counter::snapshot::FORMAT_VERSION, data);
    if visitor_counter::snapshot::inspect(&file).is_ok() {
        restore_and_use(&file, data);
    }
});
