//! The load algorithm: what happens after an L1 miss ([`Inner::load`]), when a refresh is due
//! ([`Inner::reload_classified`]), for the keyed `get` (L2 only, [`Inner::get`]) and `set`
//! ([`Inner::set`]).
//!
//! A miss joins the key's single-flight; the leader looks at L1 once more (another leader may
//! have just filled it), then L2, then runs the loader, writes the value through to L2 and
//! fills L1. A reload skips L1 and L2 (the point is to reload from the source). Both end in
//! [`Inner::run_loader`], which stamps the load before the loader runs so that an invalidation
//! from then on hides its result (see `invalidation.rs`).

use tracing::Instrument;

use std::future::Future;

use crate::entry::Stamps;
use crate::flight::{FlightOutcome, LeaderGuard, Role};
use crate::l2::{ReadMark, WriteCondition};
use crate::loaded::{Loaded, Storage};
use crate::options::EntryOptions;
use crate::stats::bump;
use crate::store::Store;

use super::fleet::{BeforeLoad, LeaseHold, spread};
use super::l1::{Fill, Found, ReadStart};
use super::l2_access::{L2Hit, L2Lookup, ReadFor};
use super::mode::CallMode;
use super::{EntryKey, Inner, ResolvedOptions};

/// A loader's error, as the engine treats it.
pub enum LoadError<E> {
    /// A failure: counted in `load_errors`, and answered with a stale value when the entry's
    /// `stale_if_error` window allows.
    Failed(E),
    /// Not a failure, just nothing to cache (the `None` of an `Option` function, the
    /// `Ok(None)` of a `Result<Option<T>, E>` one): returned to the caller as it is.
    Nothing(E),
}

impl<E> LoadError<E> {
    /// The same kind of error without its value (a background reload drops its error where
    /// it happens, so the error type need not be `Send`).
    pub fn dropped(self) -> LoadError<()> {
        match self {
            LoadError::Failed(_) => LoadError::Failed(()),
            LoadError::Nothing(_) => LoadError::Nothing(()),
        }
    }
}

/// Why the loader runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Reason {
    /// Nothing usable in L1 or L2.
    Miss,
    /// Refresh-ahead: the entry is still fresh.
    Refresh,
    /// Keys of a batch found nowhere (`batch.rs`).
    Batch,
}

/// How a load runs: as the key's leader (or not), why, the mark of the L2 read before it, and
/// the invalidation counters as its flight started.
struct LoaderRun<'a, V: Clone> {
    leader: Option<LeaderGuard<'a, V>>,
    reason: Reason,
    mark: ReadMark,
    start: ReadStart,
}

/// What a loaded value is stored against: the mark of the L2 read before its load (and the
/// lease it took), its L1 stamps (`None`: not put in L1), and the invalidation counters as
/// its flight started.
struct Stamped<'a> {
    mark: &'a ReadMark,
    /// The key's lease, when this load holds it: ended by the write.
    lease: Option<LeaseHold>,
    stamps: Option<Stamps>,
    start: ReadStart,
}

/// The outcome of joining a key's single-flight.
enum Joined<'a, V: Clone> {
    /// Another caller's load finished with this value.
    Done(V),
    /// This caller leads. `None`: a blocking caller that may not wait (it would stall the
    /// runtime the other load runs on) loads without leading: its value is returned, not
    /// cached.
    Leads(Option<LeaderGuard<'a, V>>),
}

impl Inner {
    /// Joins the single-flight of `key`: waits for another caller's load (taking over if that
    /// caller gives up), or leads.
    async fn join<'s, M: CallMode, K, V: Clone>(
        &self,
        store: &'s Store<K, V>,
        key: &EntryKey<K>,
        options: &ResolvedOptions,
    ) -> Joined<'s, V> {
        loop {
            match store.flights.join(&key.text, &options.tags) {
                Role::Leader(guard) => return Joined::Leads(Some(guard)),
                Role::Waiter(flight) => match M::wait(&flight).await {
                    Some(FlightOutcome::Value(value)) => return Joined::Done(value),
                    Some(FlightOutcome::Retry) => continue,
                    None => return Joined::Leads(None),
                },
            }
        }
    }

    /// Loads a key after an L1 miss: single-flight, L1 again, L2, then the loader with
    /// write-through; the loader decides how its value is cached.
    pub(crate) async fn load_deciding<M, K, V, E, Fut>(
        &self,
        store: &Store<K, V>,
        key: EntryKey<K>,
        options: &ResolvedOptions,
        loader: impl FnOnce() -> Fut,
    ) -> Result<V, E>
    where
        M: CallMode,
        V: Clone + 'static,
        Fut: Future<Output = Result<Loaded<V>, E>>,
    {
        let loader = || async { loader().await.map_err(LoadError::Failed) };
        self.load_classified::<M, K, V, E, _>(store, key, options, loader)
            .await
    }

    /// [`load_deciding`](Self::load_deciding) with a loader that also says which of its errors
    /// are failures ([`LoadError`]).
    pub(crate) async fn load_classified<M, K, V, E, Fut>(
        &self,
        store: &Store<K, V>,
        key: EntryKey<K>,
        options: &ResolvedOptions,
        loader: impl FnOnce() -> Fut,
    ) -> Result<V, E>
    where
        M: CallMode,
        V: Clone + 'static,
        Fut: Future<Output = Result<Loaded<V>, LoadError<E>>>,
    {
        let leader = match self.join::<M, K, V>(store, &key, options).await {
            Joined::Done(value) => {
                bump(&store.counters.coalesced);
                return Ok(value);
            }
            Joined::Leads(leader) => leader,
        };
        // From here on, an invalidation of a tag the flight does not know of shows here.
        let start = self.l1.read_start();
        // Another leader may have filled the key between our probe and our flight, or its
        // value was written by key (`set`, `#[cache_put]`: taken as is, kept in this store).
        if let Some(found) = self.l1.find(store, &key) {
            return Ok(self.take_found(store, key, found, options, leader, start));
        }
        let Some(guard) = leader else {
            // Not leading (a blocking caller that may not wait): its value is stored nowhere,
            // so it takes no lease either.
            let read = self
                .l2
                .read::<M, K, V>(store, &key.text, options, ReadFor::Get);
            if let L2Lookup::Hit(hit) = read.await {
                return Ok(hit.value);
            }
            bump(&store.counters.misses);
            let load = LoaderRun {
                leader: None,
                reason: Reason::Miss,
                mark: ReadMark::default(),
                start,
            };
            return self
                .run_loader::<M, K, V, E, Fut>(store, key, options, load, loader)
                .await;
        };
        self.load_through_fleet::<M, K, V, E, Fut>(store, key, options, (guard, start), loader)
            .await
    }

    /// The miss path of a key's leader once L1 has nothing: reads L2 (taking the key's fleet
    /// lease, or waiting for the process that holds it), then loads if it must.
    async fn load_through_fleet<M, K, V, E, Fut>(
        &self,
        store: &Store<K, V>,
        key: EntryKey<K>,
        options: &ResolvedOptions,
        (guard, mut start): (LeaderGuard<'_, V>, ReadStart),
        loader: impl FnOnce() -> Fut,
    ) -> Result<V, E>
    where
        M: CallMode,
        V: Clone + 'static,
        Fut: Future<Output = Result<Loaded<V>, LoadError<E>>>,
    {
        let reading = (&guard, &mut start);
        let mark = match self
            .read_before_load::<M, K, V>(store, &key, options, reading)
            .await
        {
            BeforeLoad::Load(mark) => mark,
            BeforeLoad::Hit(hit) => {
                return Ok(self.take_l2_hit(store, key, hit, options, start, guard));
            }
            BeforeLoad::Stale(value) => {
                return Ok(self.serve_stale(store, value, start, guard));
            }
        };
        let leader = Some(guard);
        bump(&store.counters.misses);
        let load = LoaderRun {
            leader,
            reason: Reason::Miss,
            mark,
            start,
        };
        self.run_loader::<M, K, V, E, Fut>(store, key, options, load, loader)
            .await
    }

    /// A value a key's leader (`None`: a caller loading without leading) found in L1 after
    /// joining the key's flight: another leader filled the key since the probe, or its value
    /// was written by key (`set`, `#[cache_put]`: taken as is, kept in this store). Counted as
    /// coalesced and handed to the flight's waiters.
    pub(super) fn take_found<K, V: Clone>(
        &self,
        store: &Store<K, V>,
        key: EntryKey<K>,
        found: Found<V>,
        options: &ResolvedOptions,
        leader: Option<LeaderGuard<'_, V>>,
        start: ReadStart,
    ) -> V {
        bump(&store.counters.coalesced);
        let value = match found {
            Found::Entry(value) => value,
            Found::Put(value) => {
                if let Some(guard) = &leader {
                    let fill = Fill {
                        value: value.clone(),
                        ttl: options.ttl,
                        stamps: self.l1.stamps(&options.tags),
                    };
                    self.l1
                        .fill(store, key, fill, options, || guard.is_invalidated());
                }
                value
            }
        };
        if let Some(guard) = leader {
            guard.complete(&value, || self.l1.unchanged_since(start));
        }
        value
    }

    /// A stale value served while another process reloads the key for the fleet: counted,
    /// handed to the flight's waiters, stored nowhere.
    pub(super) fn serve_stale<K, V: Clone>(
        &self,
        store: &Store<K, V>,
        value: V,
        start: ReadStart,
        guard: LeaderGuard<'_, V>,
    ) -> V {
        bump(&store.counters.stale_served);
        guard.complete(&value, || self.l1.unchanged_since(start));
        value
    }

    /// Reloads a fresh entry whose refresh point passed (refresh-ahead), through its
    /// single-flight, without reading L1 or L2; the loader decides how its value is cached and
    /// which of its errors are failures ([`LoadError`]).
    pub(crate) async fn reload_classified<M, K, V, E, Fut>(
        &self,
        store: &Store<K, V>,
        key: EntryKey<K>,
        options: &ResolvedOptions,
        loader: impl FnOnce() -> Fut,
    ) -> Result<V, E>
    where
        M: CallMode,
        V: Clone + 'static,
        Fut: Future<Output = Result<Loaded<V>, LoadError<E>>>,
    {
        let leader = match self.join::<M, K, V>(store, &key, options).await {
            Joined::Done(value) => return Ok(value),
            Joined::Leads(leader) => leader,
        };
        let start = self.l1.read_start();
        // A refresh reads nothing from L2 (its write-through requires that no invalidation
        // marker be there); it takes the key's lease unless another process refreshes it
        // for the fleet, whose value then replaces this process's copy.
        let mark = match self
            .l2
            .take_lease::<M, K, V>(store, &key.text, options)
            .await
        {
            Some(mark) => mark,
            None => {
                bump(&store.counters.refreshes_skipped);
                if let Some(value) = self.l1.fresh(store, &key) {
                    if let Some(guard) = leader {
                        guard.complete(&value, || self.l1.unchanged_since(start));
                    }
                    return Ok(value);
                }
                // The copy is gone meanwhile (expired, or dropped by the write-through
                // message of the process refreshing the key): a miss, which waits for that
                // process's value instead of loading the key a second time.
                if let Some(guard) = leader {
                    return self
                        .load_through_fleet::<M, K, V, E, Fut>(
                            store,
                            key,
                            options,
                            (guard, start),
                            loader,
                        )
                        .await;
                }
                ReadMark::default()
            }
        };
        if mark.lease().is_some() {
            bump(&store.counters.leases_won);
        }
        bump(&store.counters.refreshes);
        let load = LoaderRun {
            leader,
            reason: Reason::Refresh,
            mark,
            start,
        };
        self.run_loader::<M, K, V, E, Fut>(store, key, options, load, loader)
            .await
    }

    /// Runs the loader as the key's leader: writes an `Ok` through and fills L1 (unless an
    /// invalidation hit the load), answers a failure with a stale value when one is allowed.
    async fn run_loader<M, K, V, E, Fut>(
        &self,
        store: &Store<K, V>,
        key: EntryKey<K>,
        options: &ResolvedOptions,
        load: LoaderRun<'_, V>,
        loader: impl FnOnce() -> Fut,
    ) -> Result<V, E>
    where
        M: CallMode,
        V: Clone + 'static,
        Fut: Future<Output = Result<Loaded<V>, LoadError<E>>>,
    {
        let LoaderRun {
            leader,
            reason,
            mark,
            start,
        } = load;
        // Renewed while the loader runs; given up if it ends without a write (error, panic,
        // cancellation), so the fleet's waiters load instead.
        let lease = LeaseHold::start(self, &key.text, &mark);
        // Taken before the loader runs: an invalidation from here on hides its result.
        let stamps = self.l1.stamps(&options.tags);
        bump(&store.counters.loads);
        let loaded = self.traced_load(store, reason, 1, loader()).await;
        match loaded {
            Ok(Loaded { value, storage }) => {
                let Some(guard) = leader else {
                    return Ok(value);
                };
                let decided;
                let (options, stamps) = match storage {
                    Storage::AsAsked => (options, Some(stamps)),
                    Storage::With(chosen) => {
                        decided = self.decided(options, &chosen);
                        // Tags the flight was not started with were not stamped before the
                        // load: stamped as of its start, unless a tag invalidation ran since.
                        let stamps = if decided.tags == options.tags {
                            Some(stamps)
                        } else {
                            self.l1.stamps_after_read(Vec::new(), &decided, start)
                        };
                        (&decided, stamps)
                    }
                    Storage::Nowhere => {
                        guard.complete(&value, || true);
                        return Ok(value);
                    }
                };
                let stamped = Stamped {
                    mark: &mark,
                    lease,
                    stamps,
                    start,
                };
                self.store_loaded::<M, K, V>(store, key, &value, options, stamped, guard)
                    .await;
                Ok(value)
            }
            Err(LoadError::Nothing(nothing)) => Err(nothing),
            Err(LoadError::Failed(error)) => {
                bump(&store.counters.load_errors);
                if reason == Reason::Refresh {
                    self.l1.release_refresh(store, &key);
                }
                let Some(stale) = self.l1.stale(store, &key) else {
                    return Err(error);
                };
                if reason == Reason::Miss {
                    bump(&store.counters.stale_served);
                }
                if let Some(guard) = leader {
                    guard.complete(&stale, || self.l1.unchanged_since(start));
                }
                Ok(stale)
            }
        }
    }

    /// Runs a loader call (for `keys` keys) in a `cache.load` span that records its outcome
    /// and duration, and records its duration in metrics.
    pub(super) async fn traced_load<K, V, T, E>(
        &self,
        store: &Store<K, V>,
        reason: Reason,
        keys: usize,
        load: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let started = std::time::Instant::now();
        let span = tracing::debug_span!(
            "cache.load",
            cache = self.metrics_label(),
            function = store.name(),
            reason = ?reason,
            keys,
            outcome = tracing::field::Empty,
            duration_ms = tracing::field::Empty,
        );
        let loaded = load.instrument(span.clone()).await;
        let elapsed = started.elapsed();
        span.record("outcome", if loaded.is_ok() { "ok" } else { "error" });
        span.record("duration_ms", elapsed.as_secs_f64() * 1000.0);
        #[cfg(feature = "metrics")]
        super::metrics::record_load(self.metrics_label(), store.name(), elapsed);
        loaded
    }

    /// Stores a loaded value: writes it through (unless an invalidation covered its load) and
    /// fills L1, then hands it to the callers waiting for it.
    async fn store_loaded<M: CallMode, K, V: Clone + 'static>(
        &self,
        store: &Store<K, V>,
        key: EntryKey<K>,
        value: &V,
        options: &ResolvedOptions,
        stamped: Stamped<'_>,
        guard: LeaderGuard<'_, V>,
    ) {
        if !options.may_store(value) {
            // Returned to this caller (and the waiting ones), stored nowhere.
            guard.complete(value, || true);
            return;
        }
        if writes_through(&guard, stamped.mark) {
            let condition = WriteCondition::UnchangedSince(stamped.mark);
            let reached = self
                .l2
                .write::<M, K, V>(store, &key.text, value, options, condition)
                .await;
            if reached && let Some(lease) = stamped.lease {
                lease.written();
            }
        }
        let start = stamped.start;
        self.fill_and_share(store, key, value, options, stamped.stamps, (guard, start));
    }

    /// The end of storing a loaded value, once it was written through: puts it in L1 with
    /// `stamps` (`None`: not put in L1) unless an invalidation covered its load, then hands it
    /// to the callers waiting for it on the flight `guard` leads (started at `start`).
    pub(super) fn fill_and_share<K, V: Clone>(
        &self,
        store: &Store<K, V>,
        key: EntryKey<K>,
        value: &V,
        options: &ResolvedOptions,
        stamps: Option<Stamps>,
        (guard, start): (LeaderGuard<'_, V>, ReadStart),
    ) {
        if let Some(stamps) = stamps {
            let fill = Fill {
                value: value.clone(),
                ttl: options.ttl,
                stamps,
            };
            self.l1
                .fill(store, key, fill, options, || guard.is_invalidated());
        }
        // A value carrying only the flight's tags: an invalidation of any detached it.
        let known_tags = guard.knows_tags(&options.tags);
        guard.complete(value, || known_tags || self.l1.unchanged_since(start));
    }

    /// The options a loader chose for its value, with the call's level and storage rules.
    fn decided(&self, asked: &ResolvedOptions, chosen: &EntryOptions) -> ResolvedOptions {
        ResolvedOptions {
            level: asked.level,
            store_if: asked.store_if.clone(),
            ..self.resolve(chosen)
        }
    }

    /// A value found in L2 by the key's leader: counted, put in L1 (unless an invalidation
    /// ran meanwhile), handed to the waiting callers.
    pub(super) fn take_l2_hit<K, V: Clone>(
        &self,
        store: &Store<K, V>,
        key: EntryKey<K>,
        hit: L2Hit<V>,
        options: &ResolvedOptions,
        start: ReadStart,
        guard: LeaderGuard<'_, V>,
    ) -> V {
        bump(&store.counters.l2_hits);
        let value = hit.value.clone();
        // Tags the flight was not started with were not watched for it: the counters tell.
        let known_tags = guard.knows_tags(&hit.tags);
        if let Some(stamps) = self.l1.stamps_after_read(hit.tags, options, start) {
            let fill = Fill {
                value: hit.value,
                ttl: spread(hit.ttl),
                stamps,
            };
            self.l1
                .fill(store, key, fill, options, || guard.is_invalidated());
        }
        guard.complete(&value, || known_tags || self.l1.unchanged_since(start));
        value
    }

    /// The keyed `get` after an L1 miss: L2 through single-flight; never runs a loader.
    pub(crate) async fn get<M: CallMode, K, V: Clone + 'static>(
        &self,
        store: &Store<K, V>,
        key: EntryKey<K>,
        options: &ResolvedOptions,
    ) -> Option<V> {
        // One keyspace: what a `#[cached]` function (or a put) stored under this key.
        if let Some(Found::Entry(value) | Found::Put(value)) = self.l1.elsewhere(store, &key.text) {
            store.counters.l1_hits.incr(crate::thread_slot::current());
            return Some(value);
        }
        // A flight that fails or is invalidated leaves its waiters with a miss.
        let found = match store.flights.join(&key.text, &options.tags) {
            Role::Waiter(flight) => match M::wait(&flight).await {
                Some(FlightOutcome::Value(value)) => Some(value),
                _ => None,
            },
            Role::Leader(guard) => {
                let start = self.l1.read_start();
                let lookup = self
                    .l2
                    .read::<M, K, V>(store, &key.text, options, ReadFor::Get);
                let lookup = lookup.await;
                if let L2Lookup::Hit(hit) = lookup {
                    return Some(self.take_l2_hit(store, key, hit, options, start, guard));
                }
                None
            }
        };
        if found.is_none() {
            bump(&store.counters.misses);
        }
        found
    }

    /// The keyed `set`: write-through to L2, drop other copies of the key, then fill L1.
    pub(crate) async fn set<M: CallMode, K, V: Clone>(
        &self,
        store: &Store<K, V>,
        key: EntryKey<K>,
        value: V,
        options: &ResolvedOptions,
    ) {
        let stamps = self.l1.stamps(&options.tags);
        self.l2
            .write::<M, K, V>(store, &key.text, &value, options, WriteCondition::Always)
            .await;
        self.l1.invalidate_key(&key.text);
        let fill = Fill {
            value,
            ttl: options.ttl,
            stamps,
        };
        self.l1.fill(store, key, fill, options, || false);
    }
}

/// Whether a loaded value is written through: unless an invalidation detached its flight. A
/// load that holds the key's lease writes even then: L2 itself refuses a value read before an
/// invalidation (a marker, a voided lease, a newer tag generation), and the invalidation's
/// message may have reached this process after the read. Without a lease, the detached flight
/// keeps it out of L2.
pub(super) fn writes_through<V: Clone>(guard: &LeaderGuard<'_, V>, mark: &ReadMark) -> bool {
    !guard.is_invalidated() || mark.lease().is_some()
}
