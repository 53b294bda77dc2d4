//! A background thread that runs a job every interval of the counter's clock (autosave runs on
//! it); when the last clone of the counter is dropped, [`Guard`] stops the thread, waits for a
//! run in progress, and makes a final run before the drop returns.
//!
//! The thread holds only a weak reference to what it works on, upgraded for the length of one
//! run. It wakes at least every 100 ms of real time to look at the counter's clock, so with a
//! [`ManualClock`] runs follow the manual time.
//!
//! [`ManualClock`]: crate::ManualClock

use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

/// What the thread works on, and how: `now` reads the counter's clock (nanoseconds), `run` is
/// the job (its outcome is the job's to record).
pub(crate) struct Job<T> {
    pub target: Weak<T>,
    pub now: fn(&T) -> i64,
    pub run: fn(&T),
}

/// Wakes the thread to stop it.
#[derive(Default)]
struct Stop {
    stopped: Mutex<bool>,
    wake: Condvar,
}

/// Owned by every clone of the counter; the last one's drop ends the thread and runs the job a
/// final time.
pub(crate) struct Guard<T> {
    stop: Arc<Stop>,
    thread: Option<JoinHandle<()>>,
    target: Weak<T>,
    run: fn(&T),
}

impl<T> Drop for Guard<T> {
    fn drop(&mut self) {
        *self.stop.stopped.lock() = true;
        self.stop.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some(target) = self.target.upgrade() {
            (self.run)(&target);
        }
    }
}

/// Starts a thread named `name` that runs `job` first at `first`, then every `every`
/// nanoseconds of the counter's clock.
pub(crate) fn start<T: Send + Sync + 'static>(
    name: &str,
    job: Job<T>,
    every: i64,
    first: i64,
) -> Guard<T> {
    let stop = Arc::new(Stop::default());
    let poll = Duration::from_nanos(every.clamp(1_000_000, 100_000_000) as u64);
    let Job {
        target,
        now: clock,
        run,
    } = job;
    let thread = {
        let (stop, target) = (stop.clone(), target.clone());
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let mut due = first;
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
                    let Some(target) = target.upgrade() else {
                        return;
                    };
                    let now = clock(&target);
                    if now >= due {
                        run(&target);
                        due = now.saturating_add(every);
                    }
                }
            })
            // Without a thread there are no background runs; the final run still happens.
            .ok()
    };
    Guard {
        stop,
        thread,
        target,
        run,
    }
}
