//! Small pieces every area uses, below all of them: they import nothing else of the crate.
//!
//! - `bounded.rs`: decoding lists and byte strings from untrusted bytes without trusting their
//!   length prefixes (the model's saved forms name it in their serde attributes; the snapshot
//!   codec sets its budget);
//! - `parallel.rs`: two pieces of work at once, on a second thread when it is worth one;
//! - `periodic.rs`: a background thread that runs a job every interval of the counter's clock
//!   (autosave), stopped and run a last time by the last clone's drop;
//! - `stripes.rs`: cache-padded stripes and per-thread buffers for state every thread updates;
//! - `windows.rs`: a table of entries that each live one window after their stamp (refresh
//!   dedup, the pace limit), with its upkeep queue and bound.

pub(crate) mod bounded;
pub(crate) mod parallel;
pub(crate) mod periodic;
pub(crate) mod stripes;
pub(crate) mod windows;
