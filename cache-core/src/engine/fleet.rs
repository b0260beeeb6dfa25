//! Fleet-wide single-flight, the engine's side. The L2 leases the key of a load
//! ([`L2::read_for_load`](crate::l2::L2::read_for_load)): one process loads it for the fleet.
//!
//! - **Waiting.** When another process holds the lease of a key this process missed, the key's
//!   local leader waits for that process's value instead of loading it too. It is woken
//!   through the backplane: the holder's write-through announces the key, a holder that gives
//!   up announces that too (`InvalidationSink::lease_released`), and an invalidation of the key
//!   wakes it (the invalidation voided the lease). Each wake-up (and, in case a message is
//!   lost, a jittered [`POLL`]) reads L2 again: the value, a lease of its own to load with, or
//!   more waiting, at most the L2's bound, after which it loads itself (counted in
//!   `lease_timeouts`). A stale value within its window, in L1 or in L2, is served at once
//!   instead of waiting (`lease_stale`).
//! - **Holding.** A load that took the lease renews it while its loader runs and gives it up
//!   if it ends without writing: error, panic or cancellation ([`LeaseHold`]'s drop). A
//!   process killed mid-load delays the others by at most the lease's lifetime: then one of
//!   them takes it over.
//!
//! Without an L2 that leases (none, one that does not, `fleet_single_flight(false)`, or an
//! error), every process loads on its own, single-flight within the process as always.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::sync::futures::Notified;

use crate::blocking::driver;
use crate::flight::LeaderGuard;
use crate::l2::{L2, ReadMark};
use crate::stats::bump;
use crate::store::Store;

use super::l1::ReadStart;
use super::l2_access::{L2Hit, L2Lookup, ReadFor};
use super::mode::CallMode;
use super::{EntryKey, Inner, ResolvedOptions};

/// How long a waiter sleeps between two reads when no message wakes it (jittered by half
/// either way, so waiters of one key do not read in step).
pub(crate) const POLL: Duration = Duration::from_millis(100);

/// The keys this process waits for another process's load of, and how to wake their waiters.
#[derive(Default)]
pub(crate) struct Fleet {
    waiting: Mutex<HashMap<Arc<str>, Arc<Notify>>>,
}

impl Fleet {
    /// Registers a waiter for `key` (before its read, so no wake-up after the read is missed).
    fn waiter(&self, key: &Arc<str>) -> Waiter<'_> {
        let notify = Arc::clone(self.waiting.lock().entry(Arc::clone(key)).or_default());
        Waiter {
            fleet: self,
            key: Arc::clone(key),
            notify,
        }
    }

    /// Wakes the waiters of `key`.
    pub(crate) fn wake(&self, key: &str) {
        if let Some(notify) = self.waiting.lock().get(key) {
            notify.notify_waiters();
        }
    }

    /// Wakes the waiters of every key `matches` accepts.
    pub(crate) fn wake_matching(&self, matches: &dyn Fn(&str) -> bool) {
        for (key, notify) in self.waiting.lock().iter() {
            if matches(key) {
                notify.notify_waiters();
            }
        }
    }
}

/// One registered waiter; unregisters on drop.
pub(super) struct Waiter<'a> {
    fleet: &'a Fleet,
    key: Arc<str>,
    notify: Arc<Notify>,
}

impl Waiter<'_> {
    /// A wake-up to wait for, enabled now (a wake from here on is not lost).
    pub(super) fn armed(&self) -> Pin<Box<Notified<'_>>> {
        let mut notified = Box::pin(self.notify.notified());
        notified.as_mut().enable();
        notified
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        let mut waiting = self.fleet.waiting.lock();
        // The map's and this one: nobody else waits for the key.
        if Arc::strong_count(&self.notify) == 2 {
            waiting.remove(&self.key);
        }
    }
}

/// What the read before a load ends with.
pub(crate) enum BeforeLoad<V> {
    /// The value, in L2 (possibly written by the process this one waited for).
    Hit(L2Hit<V>),
    /// Another process is reloading the key: a stale value to serve meanwhile.
    Stale(V),
    /// Load, with this mark (holding the key's lease, or none).
    Load(ReadMark),
}

/// A pause around [`POLL`], jittered by half either way.
fn jittered(pause: Duration) -> Duration {
    let noise = foldhash::fast::RandomState::default().hash_one(Instant::now());
    pause / 2 + pause.mul_f64((noise % 1024) as f64 / 1024.0)
}

/// The L1 lifetime of a copy read from L2: up to a tenth shorter than what L2 has left, so
/// the copies of a key in a fleet do not all expire (or reach their refresh point) at one
/// instant, the moment its L2 entry expires.
pub(crate) fn spread(ttl: Duration) -> Duration {
    let noise = foldhash::fast::RandomState::default().hash_one(Instant::now());
    ttl.mul_f64(1.0 - 0.1 * ((noise % 1024) as f64 / 1024.0))
}

/// The first read before a load, taken by the caller (one key's, or a batch's read of many
/// keys): what it found, the wake-up armed before it (so a wake-up after the read is not lost),
/// and the bound of a wait it starts (`None`: from when the wait starts).
pub(crate) struct FirstRead<'w, V> {
    pub(crate) lookup: L2Lookup<V>,
    pub(crate) woken: Option<Pin<Box<Notified<'w>>>>,
    pub(crate) deadline: Option<Instant>,
}

impl Inner {
    /// Reads L2 before a load, as the key's local leader (`guard`): the value, or the lease to
    /// load it with, or, while another process holds the lease, its value once it lands
    /// (woken by the backplane, bounded), or a stale value meanwhile. `start` is moved to the
    /// last read's start: asleep between reads, the flight passed invalidations by, and what
    /// the last read found is as of its start.
    pub(crate) async fn read_before_load<M: CallMode, K, V: Clone>(
        &self,
        store: &Store<K, V>,
        key: &EntryKey<K>,
        options: &ResolvedOptions,
        reading: (&LeaderGuard<'_, V>, &mut ReadStart),
    ) -> BeforeLoad<V> {
        let waiter = self.fleet_waiter(&key.text);
        let woken = waiter.as_ref().map(Waiter::armed);
        let lookup = self
            .l2
            .read::<M, K, V>(store, &key.text, options, ReadFor::Load)
            .await;
        let first = FirstRead {
            lookup,
            woken,
            deadline: None,
        };
        self.after_first_read::<M, K, V>(store, key, options, reading, (waiter.as_ref(), first))
            .await
    }

    /// A waiter for another process's load of `key`, registered now (before the read that may
    /// find its lease held, so no wake-up after that read is missed); `None` when the L2 takes
    /// no leases.
    pub(super) fn fleet_waiter(&self, key: &Arc<str>) -> Option<Waiter<'_>> {
        self.l2.leasing().map(|_| self.fleet.waiter(key))
    }

    /// [`read_before_load`](Self::read_before_load) from its first read on: waits while
    /// another process holds the lease (woken through `waiter`), reading again after each
    /// wake-up.
    pub(super) async fn after_first_read<M: CallMode, K, V: Clone>(
        &self,
        store: &Store<K, V>,
        key: &EntryKey<K>,
        options: &ResolvedOptions,
        (guard, start): (&LeaderGuard<'_, V>, &mut ReadStart),
        (waiter, first): (Option<&Waiter<'_>>, FirstRead<'_, V>),
    ) -> BeforeLoad<V> {
        let FirstRead {
            mut lookup,
            mut woken,
            mut deadline,
        } = first;
        let mut waited = false;
        loop {
            let (mark, wait_at_most, stale) = match lookup {
                L2Lookup::Hit(hit) => {
                    if waited {
                        bump(&store.counters.lease_waits);
                    }
                    return BeforeLoad::Hit(hit);
                }
                L2Lookup::Miss(mark) => {
                    if mark.lease().is_some() {
                        bump(&store.counters.leases_won);
                    }
                    return BeforeLoad::Load(mark);
                }
                L2Lookup::Leased {
                    mark,
                    wait_at_most,
                    stale,
                } => (mark, wait_at_most, stale),
            };
            if let Some(value) = self.l1.stale(store, key).or(stale.map(|hit| hit.value)) {
                bump(&store.counters.lease_stale);
                return BeforeLoad::Stale(value);
            }
            let deadline = *deadline.get_or_insert_with(|| Instant::now() + wait_at_most);
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(notified) = woken.take().filter(|_| !left.is_zero()) else {
                bump(&store.counters.lease_timeouts);
                return BeforeLoad::Load(mark);
            };
            let pause = jittered(POLL).min(left);
            guard.sleep(true);
            M::l2(Box::pin(async move {
                let _ = tokio::time::timeout(pause, notified).await;
            }))
            .await;
            waited = true;
            // Awake before reading: an invalidation from here on detaches the flight.
            guard.sleep(false);
            *start = self.l1.read_start();
            woken = waiter.map(Waiter::armed);
            lookup = self
                .l2
                .read::<M, K, V>(store, &key.text, options, ReadFor::Load)
                .await;
        }
    }
}

/// The lease a load holds: renewed while the load runs, given up when it is dropped before
/// the load's value was written (an error, a panic, a cancelled caller).
pub(crate) struct LeaseHold {
    renewal: tokio::task::AbortHandle,
    release: Option<(Arc<dyn L2>, String, ReadMark)>,
}

impl LeaseHold {
    /// Starts renewing the lease `mark` holds, if it holds one and the L2 leases.
    pub(crate) fn start(inner: &Inner, key: &str, mark: &ReadMark) -> Option<Self> {
        mark.lease()?;
        let (l2, every) = inner.l2.leasing()?;
        let (renewing, key, mark) = (Arc::clone(&l2), key.to_owned(), mark.clone());
        let renewal = {
            let (key, mark) = (key.clone(), mark.clone());
            spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    if let Err(error) = renewing.renew_lease(&key, &mark).await {
                        tracing::debug!(%error, "lease renewal failed");
                    }
                }
            })
        };
        Some(Self {
            renewal,
            release: Some((l2, key, mark)),
        })
    }

    /// The load's write reached L2: it ended the lease (written, or refused because the lease
    /// was voided meanwhile), nothing to give up.
    pub(crate) fn written(mut self) {
        self.release = None;
    }
}

impl Drop for LeaseHold {
    fn drop(&mut self) {
        self.renewal.abort();
        if let Some((l2, key, mark)) = self.release.take() {
            spawn(async move {
                if let Err(error) = l2.release_lease(&key, &mark).await {
                    tracing::debug!(%error, "lease release failed; it expires on its own");
                }
            });
        }
    }
}

/// Runs a lease chore on the current tokio runtime, or the crate's driver runtime outside one.
fn spawn(chore: impl Future<Output = ()> + Send + 'static) -> tokio::task::AbortHandle {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle.spawn(chore).abort_handle(),
        Err(_) => driver().spawn(chore).abort_handle(),
    }
}
