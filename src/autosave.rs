//! The autosave thread: saves every interval of the counter's clock; when the last clone of the
//! counter is dropped, [`Guard`] stops the thread, waits for a save in progress, and makes the
//! final save before the drop returns.
//!
//! The thread holds only a weak reference, upgraded for the length of one save. It wakes at
//! least every 100 ms of real time to look at the counter's clock, so with a [`ManualClock`]
//! saves follow the manual time.
//!
//! [`ManualClock`]: crate::ManualClock

use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::counter::Inner;

/// Wakes the autosave thread to stop it.
#[derive(Default)]
struct Stop {
    stopped: Mutex<bool>,
    wake: Condvar,
}

/// Owned by every clone of an autosaving counter; the last one's drop ends the thread and saves.
pub(crate) struct Guard {
    stop: Arc<Stop>,
    thread: Option<JoinHandle<()>>,
    inner: Weak<Inner>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        *self.stop.stopped.lock() = true;
        self.stop.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some(inner) = self.inner.upgrade() {
            // The final save; its outcome is in the save status of a counter nobody holds, so
            // there is no one left to tell.
            let _ = inner.save();
        }
    }
}

/// Starts the thread; `every` is in nanoseconds of the counter's clock, counted from `now`.
pub(crate) fn start(inner: Weak<Inner>, every: i64, now: i64) -> Guard {
    let stop = Arc::new(Stop::default());
    let poll = Duration::from_nanos(every.clamp(1_000_000, 100_000_000) as u64);
    let thread = {
        let (stop, inner) = (stop.clone(), inner.clone());
        std::thread::Builder::new()
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
            })
            // Without a thread there are no background saves; the final save still happens
            // and the save status shows what did.
            .ok()
    };
    Guard {
        stop,
        thread,
        inner,
    }
}
