//! Two pieces of work at once, for the load path: a snapshot's checksum beside its decoding,
//! its session records beside their time orders, article rankings beside the article table.

/// Runs `apart` on a second thread named `name` while `here` runs on this one, and returns
/// both results. When the work is too small to be `worth_a_thread`, or no thread can be
/// started, `apart` runs here too, after `here` (hence `Copy`: closures that only borrow). A
/// panic in `apart` is resumed on this thread.
pub(crate) fn join<A, B, RA, RB>(name: &str, worth_a_thread: bool, apart: A, here: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send + Copy,
    RA: Send,
    B: FnOnce() -> RB,
{
    if !worth_a_thread {
        let b = here();
        return (apart(), b);
    }
    std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new()
            .name(name.into())
            .spawn_scoped(scope, apart);
        let b = here();
        let a = match spawned {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(_) => apart(),
        };
        (a, b)
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
}
