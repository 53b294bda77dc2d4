//! Two pieces of work at once, on the load path: a snapshot's checksum beside its decoding, and
//! article rankings beside the article table.

use parking_lot::Mutex;

/// Runs `apart` on a second thread named `name` while `here` runs on this one, and returns
/// both results. When the work is too small to be `worth_a_thread`, or no thread can be
/// started, `apart` runs here too, after `here`. A panic in `apart` is resumed on this thread.
pub(crate) fn join<A, B, RA, RB>(name: &str, worth_a_thread: bool, apart: A, here: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send,
    RA: Send,
    B: FnOnce() -> RB,
{
    if !worth_a_thread {
        let b = here();
        return (apart(), b);
    }
    // Whichever thread takes `apart` out runs it: the second one, or this one if none started.
    let slot = Mutex::new(Some(apart));
    let take_and_run = || {
        let apart = slot.lock().take();
        apart.map(|apart| apart())
    };
    std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new()
            .name(name.into())
            .spawn_scoped(scope, take_and_run);
        let b = here();
        let a = match spawned {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(_) => None,
        };
        match a.or_else(take_and_run) {
            Some(a) => (a, b),
            // The second thread ran `apart`, or could not start and left it here.
            None => unreachable!("`apart` was run by neither thread"),
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn both_sides_run_and_return_their_results() {
        let data = [1u64, 2, 3, 4];
        for worth_a_thread in [false, true] {
            let (sum, max) = super::join(
                "test",
                worth_a_thread,
                || data.iter().sum::<u64>(),
                || data.iter().max().copied(),
            );
            assert_eq!((sum, max), (10, Some(4)));
        }
    }

    #[test]
    fn each_side_may_borrow_its_own_half_mutably() {
        let mut data = [5u64, 1, 4, 2, 8, 3];
        for worth_a_thread in [false, true] {
            let (left, right) = data.split_at_mut(3);
            super::join(
                "test",
                worth_a_thread,
                || right.sort_unstable(),
                || left.sort_unstable(),
            );
            assert_eq!(data, [1, 4, 5, 2, 3, 8]);
            data = [5, 1, 4, 2, 8, 3];
        }
    }
}
