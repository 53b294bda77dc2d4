//! The autosave thread: saves every interval of the counter's clock, stops when the counter is
//! dropped (whose last clone then makes a final save).
//!
//! The thread holds only a weak reference, so it never keeps a dropped counter alive. It wakes at
//! least every 100 ms of real time to look at the counter's clock, so with a [`ManualClock`]
//! saves follow the manual time.
//!
//! [`ManualClock`]: crate::ManualClock

use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::counter::Inner;

/// Wakes the autosave thread to stop it.
#[derive(Default)]
pub(crate) struct Stop {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl Stop {
    pub(crate) fn stop(&self) {
        *self.stopped.lock() = true;
        self.wake.notify_all();
    }
}

/// Starts the thread; `every` is in nanoseconds of the counter's clock.
pub(crate) fn start(inner: Weak<Inner>, stop: Arc<Stop>, every: i64, now: i64) {
    let poll = Duration::from_nanos(every.clamp(1_000_000, 100_000_000) as u64);
    let spawned = std::thread::Builder::new()
        .name("visitor-counter-autosave".into())
        .spawn(move || {
            let mut due = now.saturating_add(every);
            loop {
                {
                    let mut stopped = stop.stopped.lock();
                    if !*stopped {
                        stop.wake.wait_for(&mut stopped, poll);
                    }
                    if *stopped {
                        return;
                    }
                }
                let Some(inner) = inner.upgrade() else {
                    return;
                };
                let now = inner.now();
                if now >= due {
                    // Failures are recorded in the save status and retried next interval.
                    let _ = inner.save();
                    due = now.saturating_add(every);
                }
            }
        });
    // Without a thread there are no background saves; the status will show none happened.
    drop(spawned);
}
