//! The snapshot decoder must reject any input with an `Err`, never panic or abort.
//!
//! `cargo fuzz run decode` (needs a nightly toolchain, or `RUSTC_BOOTSTRAP=1` on stable).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = visitor_counter::snapshot::inspect(data);
});
