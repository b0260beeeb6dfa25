//! Which slot a thread owns: a small number per live thread, so per-thread state (the hit
//! counter's slots, the shard locks' reader lanes) can be written by one thread only, with
//! plain loads and stores instead of locked instructions.
//!
//! A slot is handed to a new thread only after its previous owner exited. The hand-over goes
//! through a mutex, which orders the old owner's last write before the new owner's first.

/// Threads that get a slot of their own; later threads get none (and share an atomic
/// fallback wherever a slot is used).
pub(crate) const SLOTS: usize = 128;

/// Which slots live threads own. A new thread gets the lowest free slot, so the low slots
/// (the ones that buy a reader lane, `store/shard_lock.rs`) go to live threads first,
/// whatever order earlier threads ended in.
struct Registry {
    /// Bit `n`: slot `n` is owned.
    taken: u128,
    limit: usize,
}

impl Registry {
    const fn new(limit: usize) -> Self {
        assert!(limit <= u128::BITS as usize);
        Self { taken: 0, limit }
    }

    fn claim(&mut self) -> Option<usize> {
        let lowest_free = (!self.taken).trailing_zeros() as usize;
        (lowest_free < self.limit).then(|| {
            self.taken |= 1 << lowest_free;
            lowest_free
        })
    }

    fn release(&mut self, slot: usize) {
        self.taken &= !(1 << slot);
    }
}

static REGISTRY: parking_lot::Mutex<Registry> = parking_lot::Mutex::new(Registry::new(SLOTS));

/// This thread's slot, released when the thread exits.
struct ThreadSlot(Option<usize>);

impl Drop for ThreadSlot {
    fn drop(&mut self) {
        if let Some(slot) = self.0 {
            REGISTRY.lock().release(slot);
        }
    }
}

thread_local! {
    static SLOT: ThreadSlot = ThreadSlot(REGISTRY.lock().claim());
}

/// This thread's slot (below [`SLOTS`]), or `None` when every slot is taken or the thread is
/// exiting (its thread-locals already destroyed).
#[inline]
pub(crate) fn current() -> Option<usize> {
    SLOT.try_with(|slot| slot.0).ok().flatten()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn slots_are_handed_out_once_lowest_first_and_reused_after_release() {
        let mut registry = Registry::new(3);
        let claimed: Vec<_> = (0..4).map(|_| registry.claim()).collect();
        assert_eq!(claimed, [Some(0), Some(1), Some(2), None]);
        registry.release(2);
        registry.release(1);
        assert_eq!(registry.claim(), Some(1), "the lowest free slot first");
        assert_eq!(registry.claim(), Some(2));
        assert_eq!(registry.claim(), None);
    }

    #[test]
    fn live_threads_own_different_slots() {
        let all_reported = AtomicBool::new(false);
        let (report, reports) = mpsc::channel();
        std::thread::scope(|scope| {
            for _ in 0..4 {
                let (report, all_reported) = (report.clone(), &all_reported);
                scope.spawn(move || {
                    let slot = current();
                    report.send(slot).expect("the test listens");
                    // Alive (holding the slot) until all four reported.
                    let deadline = Instant::now() + Duration::from_secs(10);
                    while !all_reported.load(Ordering::Acquire) && Instant::now() < deadline {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    assert_eq!(current(), slot, "a thread keeps its slot");
                });
            }
            let mut owned: Vec<_> = (0..4)
                .filter_map(|_| {
                    reports
                        .recv_timeout(Duration::from_secs(10))
                        .expect("reported")
                })
                .collect();
            all_reported.store(true, Ordering::Release);
            owned.sort_unstable();
            owned.dedup();
            assert_eq!(owned.len(), 4, "four live threads, four slots");
        });
    }
}
