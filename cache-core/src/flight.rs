//! Single-flight: one load per key at a time, shared with every concurrent caller.
//!
//! The first caller to miss a key becomes the leader and holds a [`LeaderGuard`]; later callers
//! wait on the [`Flight`]. If the leader finishes, waiters get a clone of its value. If the
//! leader fails, panics or is dropped (its future cancelled), the guard tells the waiters to
//! retry and wakes them: the next one becomes leader and runs its own loader, so a waiter never
//! hangs and never gets a wrong value.
//!
//! # Read-your-writes
//!
//! An invalidation that covers a flight (by its key, a pattern matching it, one of its tags, or
//! `clear`) *detaches* it: the flight leaves the map, so a call that starts afterwards leads a
//! load of its own instead of joining one that may have read older data, and it is marked
//! invalidated, so its value goes to its leader only (stored nowhere) and its waiters retry.
//! The leader publishes its value under the map's lock ([`LeaderGuard::complete`]), the same
//! lock an invalidation takes to detach flights: either the invalidation finds the flight (and
//! the value is not shared), or the flight is gone from the map before the invalidation
//! returns (and no later call can join it).
//!
//! A leader that waits for another process's load of its key ([`LeaderGuard::sleep`]) holds
//! no value yet, and reads one only after it wakes: an invalidation leaves its flight alone
//! meanwhile (the value it reads afterwards is newer than the invalidation, and may be handed
//! to every caller, even one that joined after the invalidation).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::{Condvar, Mutex};
use tokio::sync::Notify;

enum Progress<V> {
    Running,
    Done(V),
    /// The leader gave up, or an invalidation covered the load: waiters start over.
    Retry,
}

/// What a waiter got.
pub(crate) enum FlightOutcome<V> {
    /// The leader's value.
    Value(V),
    /// The leader gave up or its load was invalidated; try to lead.
    Retry,
}

/// One in-flight load.
pub(crate) struct Flight<V> {
    state: Mutex<Progress<V>>,
    condvar: Condvar,
    notify: Notify,
    /// Set, under the flights' lock, by an invalidation that covers this load: its result is
    /// returned to its leader but neither cached nor handed to waiters.
    invalidated: AtomicBool,
    /// Set while the leader waits for another process's load, before reading anything:
    /// invalidations pass such a flight by.
    sleeping: AtomicBool,
    key: Arc<str>,
    /// The tags the loaded value will carry, as far as known when the load started (a value
    /// read from L2 may bring more: the leader checks those when it completes).
    tags: Box<[String]>,
}

impl<V: Clone> Flight<V> {
    fn new(key: Arc<str>, tags: &[String]) -> Self {
        Self {
            state: Mutex::new(Progress::Running),
            condvar: Condvar::new(),
            notify: Notify::new(),
            invalidated: AtomicBool::new(false),
            sleeping: AtomicBool::new(false),
            key,
            tags: tags.into(),
        }
    }

    /// Whether an invalidation covered this load since it started.
    pub(crate) fn is_invalidated(&self) -> bool {
        self.invalidated.load(Ordering::SeqCst)
    }

    fn outcome(&self) -> Option<FlightOutcome<V>> {
        match &*self.state.lock() {
            Progress::Running => None,
            Progress::Done(value) => Some(FlightOutcome::Value(value.clone())),
            Progress::Retry => Some(FlightOutcome::Retry),
        }
    }

    /// Waits asynchronously for the leader.
    pub(crate) async fn wait(&self) -> FlightOutcome<V> {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(outcome) = self.outcome() {
                return outcome;
            }
            notified.await;
        }
    }

    /// Waits for the leader, blocking the thread.
    pub(crate) fn wait_blocking(&self) -> FlightOutcome<V> {
        let mut state = self.state.lock();
        loop {
            match &*state {
                Progress::Running => self.condvar.wait(&mut state),
                Progress::Done(value) => return FlightOutcome::Value(value.clone()),
                Progress::Retry => return FlightOutcome::Retry,
            }
        }
    }

    fn finish(&self, state: Progress<V>) {
        *self.state.lock() = state;
        self.condvar.notify_all();
        self.notify.notify_waiters();
    }
}

/// The flights of one store, by key.
pub(crate) struct Flights<V> {
    map: Mutex<HashMap<Arc<str>, Arc<Flight<V>>>>,
}

impl<V> Default for Flights<V> {
    fn default() -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
        }
    }
}

/// The caller's part in a load.
pub(crate) enum Role<'a, V: Clone> {
    Leader(LeaderGuard<'a, V>),
    Waiter(Arc<Flight<V>>),
}

impl<V: Clone> Flights<V> {
    /// Joins the flight for `key`, or starts one and leads it; `tags` are the tags its value
    /// is known to carry.
    pub(crate) fn join(&self, key: &Arc<str>, tags: &[String]) -> Role<'_, V> {
        let mut map = self.map.lock();
        if let Some(flight) = map.get(key) {
            return Role::Waiter(Arc::clone(flight));
        }
        let flight = Arc::new(Flight::new(Arc::clone(key), tags));
        map.insert(Arc::clone(key), Arc::clone(&flight));
        Role::Leader(LeaderGuard {
            flights: self,
            flight,
            finished: false,
        })
    }

    /// Detaches every flight `covered` selects (see the module doc).
    fn detach(&self, covered: impl Fn(&Flight<V>) -> bool) {
        self.map.lock().retain(|_, flight| {
            if !covered(flight) || flight.sleeping.load(Ordering::SeqCst) {
                return true;
            }
            flight.invalidated.store(true, Ordering::SeqCst);
            false
        });
    }

    /// Detaches the flight of `key`.
    pub(crate) fn detach_key(&self, key: &str) {
        self.detach(|flight| &*flight.key == key);
    }

    /// Detaches the flights whose key `matches` accepts.
    pub(crate) fn detach_matching(&self, matches: &dyn Fn(&str) -> bool) {
        self.detach(|flight| matches(&flight.key));
    }

    /// Detaches the flights known to carry one of `tags`.
    pub(crate) fn detach_tagged(&self, tags: &[String]) {
        self.detach(|flight| flight.tags.iter().any(|tag| tags.contains(tag)));
    }

    /// Detaches every flight.
    pub(crate) fn detach_all(&self) {
        self.detach(|_| true);
    }
}

/// Held by the leader; publishes its value, or abandons the flight when dropped unfinished
/// (error, panic, cancellation).
pub(crate) struct LeaderGuard<'a, V: Clone> {
    flights: &'a Flights<V>,
    flight: Arc<Flight<V>>,
    finished: bool,
}

impl<V: Clone> LeaderGuard<'_, V> {
    /// Whether an invalidation covered this load: its value must not be stored.
    pub(crate) fn is_invalidated(&self) -> bool {
        self.flight.is_invalidated()
    }

    /// Marks the leader asleep (waiting for another process's load, holding no value) or
    /// awake (about to read a value): see the module doc. Set under the flights' lock, as
    /// invalidations read it, so an invalidation either finds the leader asleep (and the read
    /// after it wakes sees the invalidation) or awake (and detaches the flight).
    pub(crate) fn sleep(&self, sleeping: bool) {
        let _map = self.flights.map.lock();
        self.flight.sleeping.store(sleeping, Ordering::SeqCst);
    }

    /// Whether `tags` are all tags the flight was started with (an invalidation of any of
    /// them detaches it).
    pub(crate) fn knows_tags(&self, tags: &[String]) -> bool {
        tags.iter().all(|tag| self.flight.tags.contains(tag))
    }

    /// Ends the flight: hands `value` to every waiter, unless an invalidation covered the
    /// load or `unaffected` (checked with the flight still in the map, for invalidations
    /// the flight cannot be told about, e.g. of tags it learns only from its value) says one
    /// may have; then the waiters retry.
    pub(crate) fn complete(mut self, value: &V, unaffected: impl FnOnce() -> bool) {
        self.finished = true;
        let shared = {
            let mut map = self.flights.map.lock();
            let shared = !self.flight.is_invalidated() && unaffected();
            self.remove_from(&mut map);
            shared
        };
        self.flight.finish(if shared {
            Progress::Done(value.clone())
        } else {
            Progress::Retry
        });
    }

    fn remove_from(&self, map: &mut HashMap<Arc<str>, Arc<Flight<V>>>) {
        let key = &self.flight.key;
        if map.get(key).is_some_and(|f| Arc::ptr_eq(f, &self.flight)) {
            map.remove(key);
        }
    }
}

impl<V: Clone> Drop for LeaderGuard<'_, V> {
    fn drop(&mut self) {
        if !self.finished {
            self.remove_from(&mut self.flights.map.lock());
            self.flight.finish(Progress::Retry);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const LIMIT: Duration = Duration::from_secs(5);

    fn key(text: &str) -> Arc<str> {
        text.into()
    }

    fn leader<'a>(flights: &'a Flights<u32>, text: &str) -> LeaderGuard<'a, u32> {
        match flights.join(&key(text), &[]) {
            Role::Leader(guard) => guard,
            Role::Waiter(_) => panic!("expected to lead {text}"),
        }
    }

    fn waiter(flights: &Flights<u32>, text: &str) -> Arc<Flight<u32>> {
        match flights.join(&key(text), &[]) {
            Role::Waiter(flight) => flight,
            Role::Leader(_) => panic!("expected to wait for {text}"),
        }
    }

    #[tokio::test]
    async fn a_completed_flight_hands_its_value_to_async_and_blocking_waiters() {
        let flights = Flights::default();
        let guard = leader(&flights, "k");
        let (first, second) = (waiter(&flights, "k"), waiter(&flights, "k"));
        let (sent, blocking) = std::sync::mpsc::channel();
        std::thread::spawn(move || sent.send(second.wait_blocking()));
        guard.complete(&7, || true);
        let waited = tokio::time::timeout(LIMIT, first.wait()).await.unwrap();
        assert!(matches!(waited, FlightOutcome::Value(7)));
        assert!(matches!(
            blocking.recv_timeout(LIMIT),
            Ok(FlightOutcome::Value(7))
        ));
        // The flight is gone: the next caller leads a new one.
        drop(leader(&flights, "k"));
    }

    #[tokio::test]
    async fn a_dropped_leader_abandons_and_a_waiter_takes_over() {
        let flights = Flights::default();
        let guard = leader(&flights, "k");
        let flight = waiter(&flights, "k");
        // The leader's future is cancelled: its guard is dropped unfinished.
        drop(guard);
        let waited = tokio::time::timeout(LIMIT, flight.wait()).await.unwrap();
        assert!(matches!(waited, FlightOutcome::Retry));
        let takeover = leader(&flights, "k");
        let next = waiter(&flights, "k");
        takeover.complete(&2, || true);
        let waited = tokio::time::timeout(LIMIT, next.wait()).await.unwrap();
        assert!(matches!(waited, FlightOutcome::Value(2)));
    }

    #[test]
    fn a_panicking_leader_abandons_its_flight() {
        let flights = Flights::default();
        let flight = std::thread::scope(|scope| {
            let (ready_tx, ready_rx) = std::sync::mpsc::channel();
            let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
            let flights = &flights;
            let panicking = scope.spawn(move || {
                let _guard = leader(flights, "k");
                ready_tx.send(()).unwrap();
                go_rx.recv_timeout(LIMIT).unwrap();
                panic!("loader bug");
            });
            ready_rx.recv_timeout(LIMIT).unwrap();
            let flight = waiter(flights, "k");
            go_tx.send(()).unwrap();
            assert!(panicking.join().is_err(), "the leader panicked");
            flight
        });
        // Already finished: this wait returns at once.
        assert!(matches!(flight.wait_blocking(), FlightOutcome::Retry));
        drop(leader(&flights, "k"));
    }

    #[tokio::test]
    async fn a_detached_flight_is_left_by_later_callers_and_not_shared_with_its_waiters() {
        let flights = Flights::default();
        let tagged = match flights.join(&key("user:1"), &["user".to_owned()]) {
            Role::Leader(guard) => guard,
            Role::Waiter(_) => panic!("expected to lead"),
        };
        let other = leader(&flights, "order:1");
        let early = waiter(&flights, "user:1");
        flights.detach_tagged(&["user".to_owned()]);
        assert!(tagged.is_invalidated());
        assert!(!other.is_invalidated());
        // A call after the invalidation leads a load of its own.
        let later = leader(&flights, "user:1");
        tagged.complete(&1, || true);
        let waited = tokio::time::timeout(LIMIT, early.wait()).await.unwrap();
        assert!(matches!(waited, FlightOutcome::Retry));
        // The detached leader's completion left the new flight in place.
        let joined = waiter(&flights, "user:1");
        later.complete(&2, || true);
        let waited = tokio::time::timeout(LIMIT, joined.wait()).await.unwrap();
        assert!(matches!(waited, FlightOutcome::Value(2)));
    }

    #[tokio::test]
    async fn a_value_the_leader_cannot_vouch_for_sends_its_waiters_to_retry() {
        let flights = Flights::default();
        let guard = leader(&flights, "k");
        let flight = waiter(&flights, "k");
        guard.complete(&1, || false);
        let waited = tokio::time::timeout(LIMIT, flight.wait()).await.unwrap();
        assert!(matches!(waited, FlightOutcome::Retry));
    }

    #[tokio::test]
    async fn an_invalidation_passes_a_sleeping_flight_by() {
        let flights = Flights::default();
        let guard = leader(&flights, "k");
        guard.sleep(true);
        flights.detach_key("k");
        assert!(
            !guard.is_invalidated(),
            "asleep: nothing read yet to invalidate"
        );
        // A call after the invalidation joins it, and gets what the leader reads once awake.
        let joined = waiter(&flights, "k");
        guard.sleep(false);
        flights.detach_key("k");
        assert!(guard.is_invalidated(), "awake: detached");
        guard.complete(&1, || true);
        let waited = tokio::time::timeout(LIMIT, joined.wait()).await.unwrap();
        assert!(matches!(waited, FlightOutcome::Retry));
    }

    #[test]
    fn detaching_by_key_pattern_and_all_selects_the_right_flights() {
        let flights = Flights::default();
        let (a, b, c) = (
            leader(&flights, "user:1"),
            leader(&flights, "user:2"),
            leader(&flights, "order:1"),
        );
        flights.detach_key("user:1");
        assert!(a.is_invalidated() && !b.is_invalidated() && !c.is_invalidated());
        flights.detach_matching(&|key| key.starts_with("user:"));
        assert!(b.is_invalidated() && !c.is_invalidated());
        flights.detach_all();
        assert!(c.is_invalidated());
    }
}
