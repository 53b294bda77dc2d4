//! The snapshot decoder must reject any input with an `Err`, never panic or abort.
//!
//! `cargo fuzz run decode` (needs a nightly toolchain, or `RUSTC_BOOTSTRAP=1` on stable).
//! Each input is tried three times: as a whole file, and as a payload behind a valid header
//! (correct length and checksum) of each format version (1 and 2), so mutations reach the
//! payload decoders instead of the checksum.
#![no_main]

use libfuzzer_sys::fuzz_target;

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

fuzz_target!(|data: &[u8]| {
    let _ = visitor_counter::snapshot::inspect(data);
    for version in [1, 2] {
        let _ = visitor_counter::snapshot::inspect(&with_header(version, data));
    }
});
