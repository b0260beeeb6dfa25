//! Batches of keys through the keyed API: `Cache::get_many`, `set_many` and
//! `get_or_load_many` ([`Inner::get_many`], [`Inner::set_many`], [`Inner::get_or_load_many`]).
//!
//! A batch goes through the per-key machinery of a single-key call (`load.rs`), so it shares
//! each key's single-flight with single-key calls and with overlapping batches, and keeps
//! read-your-writes and the fleet-wide leases; it runs each stage once for all its keys:
//!
//! 1. one pass over L1;
//! 2. the flight of each key L1 did not have is joined: led by this batch, or awaited (another
//!    caller here, single-key or batch, is loading it);
//! 3. the led keys: L1 again (another leader may have just filled one, or a `#[cached]`
//!    function's store holds the key), then one L2 read for the rest, which also takes the fleet-wide lease of each key found nowhere;
//! 4. one loader call with the led keys found nowhere (one per [`MAX_BATCH_LOAD`] keys); what
//!    it returns is written through in one L2 call (one backplane message), put in L1 and
//!    handed to each key's waiters. A key it leaves out is stored nowhere and left out of the
//!    result; its flight is given up, so whoever waits for it loads it;
//! 5. then the waits: for the keys whose lease another process holds (its value, a stale one,
//!    or past the bound a load of their own, in one more loader call), then for the keys
//!    another caller here was loading. A key whose other load failed or was invalidated goes
//!    round again from step 2: this batch may then lead it, and calls its loader once more.
//!
//! A batch ends every flight it leads before it waits for a flight of this process, so two
//! overlapping batches, each leading keys the other needs, never wait for each other.
//!
//! A loader error is returned at once: nothing that call loaded is stored (not even what its
//! other chunks loaded), the flights and leases the batch holds are given up. Only what an
//! earlier loader call of the same batch stored (the rare rounds of step 5) stays. A batch does
//! not refresh ahead (an entry past its refresh point is served as is, its refresh left to the
//! next single-key call) and does not answer a failed load with a stale value.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use crate::entry::Stamps;
use crate::flight::{Flight, FlightOutcome, LeaderGuard, Role};
use crate::l2::{ReadMark, WriteCondition};
use crate::stats::{bump, bump_by};
use crate::store::SerdeFns;

use super::fleet::{BeforeLoad, FirstRead, LeaseHold, Waiter};
use super::l1::{Fill, Found, ReadStart};
use super::l2_access::{L2Lookup, ReadFor};
use super::load::{Reason, writes_through};
use super::mode::CallMode;
use super::put::KeyedStore;
use super::{EntryKey, Inner, ResolvedOptions};

/// The most keys one loader call of a batch receives: a batch that finds more keys nowhere
/// calls its loader once per this many.
pub const MAX_BATCH_LOAD: usize = 1000;

/// A key of the keyed API's stores.
type Key = EntryKey<Box<str>>;

/// A key this batch leads the flight of.
struct Led<'s, V: Clone> {
    key: Key,
    guard: LeaderGuard<'s, V>,
}

/// The keys of a batch after joining their flights: those it leads, and those another caller
/// leads (with the flight to wait on).
type Joined<'s, V> = (Vec<Led<'s, V>>, Vec<(Key, Arc<Flight<V>>)>);

/// A key to load: its flight (`None`: a blocking caller that may not wait for another
/// caller's load loads it without leading, and its value is returned, not stored), the mark of
/// its L2 read (holding its lease, if the read took it), and the invalidation counters as of
/// its last read.
struct ToLoad<'s, V: Clone> {
    key: Key,
    guard: Option<LeaderGuard<'s, V>>,
    mark: ReadMark,
    start: ReadStart,
}

/// A led key whose lease another process holds: waited for once this batch's loads are
/// stored. `waiter` indexes the batch's fleet waiters.
struct LeasedElsewhere<'s, 'w, V: Clone> {
    led: Led<'s, V>,
    first: FirstRead<'w, V>,
    waiter: usize,
}

/// Each distinct key once, in order of first appearance.
fn distinct<'k>(keys: &[&'k str]) -> Vec<&'k str> {
    let mut seen = HashSet::with_capacity(keys.len());
    keys.iter()
        .copied()
        .filter(|key| seen.insert(*key))
        .collect()
}

impl Inner {
    /// The L1 pass of a batch over the keyed store of `V` at `site`: hits go to `found`
    /// (counted), the keys L1 does not have are returned. A hit that claims the entry's
    /// refresh gives the claim back (batches do not refresh).
    fn probe_many<'k, V>(
        &self,
        site: usize,
        keys: &[&'k str],
        found: &mut HashMap<String, V>,
    ) -> Vec<&'k str>
    where
        V: Clone + Send + Sync + 'static,
    {
        let mut missing = Vec::new();
        for key in distinct(keys) {
            match self.probe_keyed::<V>(site, key) {
                Some(hit) => {
                    if hit.refresh {
                        self.l1.with_store::<Box<str>, V, _>(site, |store| {
                            self.l1.release_refresh(store, &Self::keyed_key(store, key));
                        });
                    }
                    found.insert(key.to_owned(), hit.value);
                }
                None => missing.push(key),
            }
        }
        missing
    }

    /// Joins the flight of each key: led by this caller, or another caller's to wait for.
    fn join_many<'s, V: Clone>(
        store: &'s KeyedStore<V>,
        keys: Vec<Key>,
        options: &ResolvedOptions,
    ) -> Joined<'s, V> {
        let mut led = Vec::new();
        let mut waiting = Vec::new();
        for key in keys {
            match store.flights.join(&key.text, &options.tags) {
                Role::Leader(guard) => led.push(Led { key, guard }),
                Role::Waiter(flight) => waiting.push((key, flight)),
            }
        }
        (led, waiting)
    }

    /// `Cache::get_many`: what L1, then one L2 read, have of `keys` (no loader). Each key
    /// missing from L1 goes through its single-flight as `get` does: read by this caller, or
    /// the value of the load another caller runs.
    pub(crate) async fn get_many<M, V>(
        &self,
        site: usize,
        serde: impl FnOnce() -> Option<SerdeFns<V>>,
        keys: &[&str],
        options: &ResolvedOptions,
    ) -> HashMap<String, V>
    where
        M: CallMode,
        V: Clone + Send + Sync + 'static,
    {
        let mut found = HashMap::with_capacity(keys.len());
        let missing = self.probe_many::<V>(site, keys, &mut found);
        if missing.is_empty() {
            return found;
        }
        let store = self.keyed_store::<V>(site, serde);
        let keys = missing
            .into_iter()
            .map(|key| Self::keyed_key(&store, key))
            .collect();
        let (led, waiting) = Self::join_many(&store, keys, options);
        let start = self.l1.read_start();
        let texts: Vec<&str> = led.iter().map(|led| &*led.key.text).collect();
        let lookups = self
            .l2
            .read_many::<M, _, V>(&store, &texts, options, ReadFor::Get)
            .await;
        let mut misses = 0;
        for (Led { key, guard }, lookup) in led.into_iter().zip(lookups) {
            match lookup {
                L2Lookup::Hit(hit) => {
                    let text = key.text.to_string();
                    let value = self.take_l2_hit(&store, key, hit, options, start, guard);
                    found.insert(text, value);
                }
                // The flight is given up: its waiters read L2 themselves (and miss too).
                L2Lookup::Miss(_) | L2Lookup::Leased { .. } => misses += 1,
            }
        }
        for (key, flight) in waiting {
            match M::wait(&flight).await {
                Some(FlightOutcome::Value(value)) => {
                    found.insert(key.text.to_string(), value);
                }
                _ => misses += 1,
            }
        }
        bump_by(&store.counters.misses, misses);
        found
    }

    /// `Cache::set_many`: writes every entry through in one L2 call (one backplane message),
    /// drops this process's other copies of each key, then keeps each in the keyed store of
    /// `V` at `site`, as `set` does for one.
    pub(crate) async fn set_many<M, V>(
        &self,
        site: usize,
        serde: impl FnOnce() -> Option<SerdeFns<V>>,
        entries: &[(&str, V)],
        options: &ResolvedOptions,
    ) where
        M: CallMode,
        V: Clone + Send + Sync + 'static,
    {
        let store = self.keyed_store::<V>(site, serde);
        // A key given twice is written once, with its last value (what two `set`s leave).
        let mut seen = HashSet::with_capacity(entries.len());
        let mut entries: Vec<(&str, &V)> = entries
            .iter()
            .rev()
            .filter(|(key, _)| seen.insert(*key))
            .map(|(key, value)| (*key, value))
            .collect();
        entries.reverse();
        let stamps: Vec<Stamps> = entries
            .iter()
            .map(|_| self.l1.stamps(&options.tags))
            .collect();
        let writes: Vec<(&str, &V, WriteCondition<'_>)> = entries
            .iter()
            .map(|(key, value)| (*key, *value, WriteCondition::Always))
            .collect();
        self.l2
            .write_many::<M, _, V>(&store, &writes, options)
            .await;
        for ((key, value), stamps) in entries.into_iter().zip(stamps) {
            self.l1.invalidate_key(key);
            let fill = Fill {
                value: value.clone(),
                ttl: options.ttl,
                stamps,
            };
            self.l1
                .fill(&store, Self::keyed_key(&store, key), fill, options, || {
                    false
                });
        }
    }

    /// `Cache::get_or_load_many`: every key L1, L2 or `loader` has (see the module doc).
    pub(crate) async fn get_or_load_many<M, V, E, F, Fut>(
        &self,
        site: usize,
        serde: impl FnOnce() -> Option<SerdeFns<V>>,
        keys: &[&str],
        options: &ResolvedOptions,
        loader: &mut F,
    ) -> Result<HashMap<String, V>, E>
    where
        M: CallMode,
        V: Clone + Send + Sync + 'static,
        F: FnMut(Vec<String>) -> Fut,
        Fut: Future<Output = Result<HashMap<String, V>, E>>,
    {
        let mut found = HashMap::with_capacity(keys.len());
        let missing = self.probe_many::<V>(site, keys, &mut found);
        if missing.is_empty() {
            return Ok(found);
        }
        let store = self.keyed_store::<V>(site, serde);
        let mut pending: Vec<Key> = missing
            .into_iter()
            .map(|key| Self::keyed_key(&store, key))
            .collect();
        while !pending.is_empty() {
            pending = self
                .load_round::<M, V, E, F, Fut>(&store, pending, options, loader, &mut found)
                .await?;
        }
        Ok(found)
    }

    /// One round of a batch load (steps 2 to 5 of the module doc); returns the keys to go
    /// round again.
    async fn load_round<M, V, E, F, Fut>(
        &self,
        store: &KeyedStore<V>,
        keys: Vec<Key>,
        options: &ResolvedOptions,
        loader: &mut F,
        found: &mut HashMap<String, V>,
    ) -> Result<Vec<Key>, E>
    where
        M: CallMode,
        V: Clone + Send + Sync + 'static,
        F: FnMut(Vec<String>) -> Fut,
        Fut: Future<Output = Result<HashMap<String, V>, E>>,
    {
        let (led, waiting) = Self::join_many(store, keys, options);
        // From here on, an invalidation of a tag the flights do not know of shows here.
        let start = self.l1.read_start();
        let mut unfound = Vec::with_capacity(led.len());
        for Led { key, guard } in led {
            // A `#[cached]` function's entry of the key is served, not copied (a copy would
            // outlive the tag invalidations of the function's tags).
            let in_l1 = self
                .l1
                .find(store, &key)
                .or_else(|| self.l1.fresh_anywhere::<V>(&key.text).map(Found::Entry));
            match in_l1 {
                Some(value) => {
                    let text = key.text.to_string();
                    let value = self.take_found(store, key, value, options, Some(guard), start);
                    found.insert(text, value);
                }
                None => unfound.push(Led { key, guard }),
            }
        }
        // Registered before the read, so a wake-up for a key leased elsewhere is not lost.
        let waiters: Vec<Option<Waiter<'_>>> = unfound
            .iter()
            .map(|led| self.fleet_waiter(&led.key.text))
            .collect();
        let mut armed: Vec<_> = waiters
            .iter()
            .map(|waiter| waiter.as_ref().map(Waiter::armed))
            .collect();
        let texts: Vec<&str> = unfound.iter().map(|led| &*led.key.text).collect();
        let lookups = self
            .l2
            .read_many::<M, _, V>(store, &texts, options, ReadFor::Load)
            .await;
        let read_at = Instant::now();
        let mut to_load = Vec::new();
        let mut elsewhere = Vec::new();
        for (index, (Led { key, guard }, lookup)) in unfound.into_iter().zip(lookups).enumerate() {
            match lookup {
                L2Lookup::Hit(hit) => {
                    let text = key.text.to_string();
                    let value = self.take_l2_hit(store, key, hit, options, start, guard);
                    found.insert(text, value);
                }
                L2Lookup::Miss(mark) => {
                    if mark.lease().is_some() {
                        bump(&store.counters.leases_won);
                    }
                    let guard = Some(guard);
                    to_load.push(ToLoad {
                        key,
                        guard,
                        mark,
                        start,
                    });
                }
                L2Lookup::Leased { wait_at_most, .. } => {
                    let first = FirstRead {
                        lookup,
                        woken: armed[index].take(),
                        deadline: Some(read_at + wait_at_most),
                    };
                    let led = Led { key, guard };
                    elsewhere.push(LeasedElsewhere {
                        led,
                        first,
                        waiter: index,
                    });
                }
            }
        }
        bump_by(&store.counters.misses, to_load.len());
        self.load_and_store::<M, V, E, F, Fut>(store, to_load, options, loader, found)
            .await?;

        // The keys another process loads: their values, or past the bound, one more load.
        let mut timed_out = Vec::new();
        for LeasedElsewhere { led, first, waiter } in elsewhere {
            let Led { key, guard } = led;
            let mut start = start;
            let waiter = waiters[waiter].as_ref();
            let outcome = self
                .after_first_read::<M, _, V>(
                    store,
                    &key,
                    options,
                    (&guard, &mut start),
                    (waiter, first),
                )
                .await;
            let text = key.text.to_string();
            match outcome {
                BeforeLoad::Hit(hit) => {
                    let value = self.take_l2_hit(store, key, hit, options, start, guard);
                    found.insert(text, value);
                }
                BeforeLoad::Stale(value) => {
                    found.insert(text, self.serve_stale(store, value, start, guard));
                }
                BeforeLoad::Load(mark) => {
                    bump(&store.counters.misses);
                    let guard = Some(guard);
                    timed_out.push(ToLoad {
                        key,
                        guard,
                        mark,
                        start,
                    });
                }
            }
        }
        self.load_and_store::<M, V, E, F, Fut>(store, timed_out, options, loader, found)
            .await?;

        // The keys other callers here load: their values, or another round.
        let mut retry = Vec::new();
        let mut unled = Vec::new();
        for (key, flight) in waiting {
            match M::wait(&flight).await {
                Some(FlightOutcome::Value(value)) => {
                    bump(&store.counters.coalesced);
                    found.insert(key.text.to_string(), value);
                }
                Some(FlightOutcome::Retry) => retry.push(key),
                None => {
                    bump(&store.counters.misses);
                    let start = self.l1.read_start();
                    unled.push(ToLoad {
                        key,
                        guard: None,
                        mark: ReadMark::default(),
                        start,
                    });
                }
            }
        }
        self.load_and_store::<M, V, E, F, Fut>(store, unled, options, loader, found)
            .await?;
        Ok(retry)
    }

    /// Runs the loader on `items` (one call per [`MAX_BATCH_LOAD`] keys), then stores what it
    /// returned. An error is returned at once, and nothing is stored: the flights are given up
    /// (their waiters load themselves) and the leases released.
    async fn load_and_store<M, V, E, F, Fut>(
        &self,
        store: &KeyedStore<V>,
        items: Vec<ToLoad<'_, V>>,
        options: &ResolvedOptions,
        loader: &mut F,
        found: &mut HashMap<String, V>,
    ) -> Result<(), E>
    where
        M: CallMode,
        V: Clone + Send + Sync + 'static,
        F: FnMut(Vec<String>) -> Fut,
        Fut: Future<Output = Result<HashMap<String, V>, E>>,
    {
        if items.is_empty() {
            return Ok(());
        }
        // Renewed while the loader runs; given up for each key that ends without a write.
        let leases: Vec<Option<LeaseHold>> = items
            .iter()
            .map(|item| LeaseHold::start(self, &item.key.text, &item.mark))
            .collect();
        // Taken before the loader runs: an invalidation from here on hides its result.
        let stamps: Vec<Stamps> = items
            .iter()
            .map(|_| self.l1.stamps(&options.tags))
            .collect();
        let texts: Vec<String> = items.iter().map(|item| item.key.text.to_string()).collect();
        let mut loaded = HashMap::with_capacity(items.len());
        for chunk in texts.chunks(MAX_BATCH_LOAD) {
            bump_by(&store.counters.loads, chunk.len());
            let call = loader(chunk.to_vec());
            match self
                .traced_load(store, Reason::Batch, chunk.len(), call)
                .await
            {
                Ok(values) => loaded.extend(values),
                Err(error) => {
                    bump_by(&store.counters.load_errors, chunk.len());
                    return Err(error);
                }
            }
        }
        self.store_many::<M, V>(store, items, (leases, stamps), loaded, options, found)
            .await;
        Ok(())
    }

    /// Stores what a batch's loader returned for `items`: one write-through for every value
    /// that goes to L2, then each key in L1 and to its waiters. A key the loader left out is
    /// stored nowhere and its flight given up.
    async fn store_many<M, V>(
        &self,
        store: &KeyedStore<V>,
        items: Vec<ToLoad<'_, V>>,
        (leases, stamps): (Vec<Option<LeaseHold>>, Vec<Stamps>),
        mut loaded: HashMap<String, V>,
        options: &ResolvedOptions,
        found: &mut HashMap<String, V>,
    ) where
        M: CallMode,
        V: Clone + Send + Sync + 'static,
    {
        let values: Vec<Option<V>> = items
            .iter()
            .map(|item| loaded.remove(&*item.key.text))
            .collect();
        // The values written through, by their index in `items`.
        let written: Vec<usize> = (0..items.len())
            .filter(|&index| {
                let (item, value) = (&items[index], &values[index]);
                match (&item.guard, value) {
                    (Some(guard), Some(value)) => {
                        options.may_store(value) && writes_through(guard, &item.mark)
                    }
                    _ => false,
                }
            })
            .collect();
        let writes: Vec<(&str, &V, WriteCondition<'_>)> = written
            .iter()
            .filter_map(|&index| {
                let item = &items[index];
                let value = values[index].as_ref()?;
                Some((
                    &*item.key.text,
                    value,
                    WriteCondition::UnchangedSince(&item.mark),
                ))
            })
            .collect();
        let reached_l2 = self.l2.write_many::<M, _, V>(store, &writes, options).await;
        let mut reached = vec![false; items.len()];
        for (&index, answered) in written.iter().zip(reached_l2) {
            reached[index] = answered;
        }
        let each = items.into_iter().zip(values).zip(leases).zip(stamps);
        for ((((item, value), lease), stamps), reached) in each.zip(reached) {
            // Left out by the loader: the flight is given up, the lease released.
            let Some(value) = value else { continue };
            if reached && let Some(lease) = lease {
                lease.written();
            }
            let ToLoad {
                key, guard, start, ..
            } = item;
            let text = key.text.to_string();
            match guard {
                Some(guard) if options.may_store(&value) => {
                    self.fill_and_share(store, key, &value, options, Some(stamps), (guard, start));
                }
                Some(guard) => guard.complete(&value, || true),
                None => {}
            }
            found.insert(text, value);
        }
    }
}
