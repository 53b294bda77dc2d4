//! The snapshot decoder must reject any input with an `Err`, never panic or abort.
//!
//! `cargo fuzz run decode` (needs a nightly toolchain, or `RUSTC_BOOTSTRAP=1` on stable).
//! Each input is tried twice: as a whole file, and as a payload behind a valid header (correct
//! length and checksum), so mutations reach the payload decoder instead of the checksum.
#![no_main]

use libfuzzer_sys::fuzz_target;

fn with_header(payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u64;
    let mut crc = crc32fast::Hasher::new();
    crc.update(&1u32.to_le_bytes());
    crc.update(&len.to_le_bytes());
    crc.update(payload);
    let mut file = b"VCSNAP\r\n".to_vec();
    file.extend_from_slice(&1u32.to_le_bytes());
    file.extend_from_slice(&len.to_le_bytes());
    file.extend_from_slice(&crc.finalize().to_le_bytes());
    file.extend_from_slice(payload);
    file
}

fuzz_target!(|data: &[u8]| {
    let _ = visitor_counter::snapshot::inspect(data);
    let _ = visitor_counter::snapshot::inspect(&with_header(data));
});
