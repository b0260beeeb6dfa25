//! Which slot a thread owns: a small number per live thread, so per-thread state (the hit
//! counter's slots, the shard locks' reader lanes) can be written by one thread only, with
//! plain loads and stores instead of locked instructions.
//!
//! A slot is handed to a new thread only after its previous owner exited. The hand-over goes
//! through a mutex, which orders the old owner's last write before the new owner's first.
//! Callers receive a [`ThreadSlot`] token, which cannot leave its thread (it is not `Send`): the
//! memory safety of the reader lanes rests on a thread writing its own lane only, and the type
//! keeps a slot from being passed to, or kept by, another thread.

use std::marker::PhantomData;

/// Threads that get a slot of their own; later threads get none (and share an atomic
/// fallback wherever a slot is used).
pub(crate) const SLOTS: usize = 128;

/// The calling thread's slot, as [`current`] found it: proof that the number belongs to this
/// thread. Not `Send`: it cannot reach another thread (nor be held across an `.await` of a
/// task that may move).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ThreadSlot {
    index: Option<usize>,
    _this_thread: PhantomData<*const ()>,
}

impl ThreadSlot {
    /// The slot's number (below [`SLOTS`]); `None` when the thread has no slot.
    #[inline]
    pub(crate) fn index(self) -> Option<usize> {
        self.index
    }
}

/// Which slots live threads own. A new thread gets the lowest free slot, so the low slots
/// (the ones that buy a reader lane, `store/shard_lock.rs`) go to live threads first,
/// whatever order earlier threads ended in.
struct SlotRegistry {
    /// Bit `n`: slot `n` is owned.
    taken: u128,
    limit: usize,
}

impl SlotRegistry {
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

static REGISTRY: parking_lot::Mutex<SlotRegistry> =
    parking_lot::Mutex::new(SlotRegistry::new(SLOTS));

/// The slot a thread owns, released when the thread exits.
struct OwnedSlot(Option<usize>);

impl Drop for OwnedSlot {
    fn drop(&mut self) {
        if let Some(slot) = self.0 {
            REGISTRY.lock().release(slot);
        }
    }
}

thread_local! {
    static SLOT: OwnedSlot = OwnedSlot(REGISTRY.lock().claim());
}

/// This thread's slot; its [`index`](ThreadSlot::index) is `None` when every slot is taken or
/// the thread is exiting (its thread-locals already destroyed).
#[inline]
pub(crate) fn current() -> ThreadSlot {
    ThreadSlot {
        index: SLOT.try_with(|slot| slot.0).ok().flatten(),
        _this_thread: PhantomData,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn slots_are_handed_out_once_lowest_first_and_reused_after_release() {
        let mut registry = SlotRegistry::new(3);
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
                    let slot = current().index();
                    report.send(slot).expect("the test listens");
                    // Alive (holding the slot) until all four reported.
                    let deadline = Instant::now() + Duration::from_secs(10);
                    while !all_reported.load(Ordering::Acquire) && Instant::now() < deadline {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    assert_eq!(current().index(), slot, "a thread keeps its slot");
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
