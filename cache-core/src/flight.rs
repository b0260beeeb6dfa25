//! Single-flight: one load per key at a time, shared with every concurrent caller.
//!
//! The first caller to miss a key becomes the leader and holds a [`LeaderGuard`]; later callers
//! wait on the [`Flight`]. If the leader finishes, waiters get a clone of its value. If the
//! leader fails, panics or is dropped (its future cancelled), the guard marks the flight
//! abandoned and wakes everyone: the next waiter becomes leader and runs its own loader, so a
//! waiter never hangs and never gets a wrong value.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::{Condvar, Mutex};
use tokio::sync::Notify;

enum State<V> {
    Running,
    Done(V),
    Abandoned,
}

/// What a waiter got.
pub(crate) enum Outcome<V> {
    /// The leader's value.
    Value(V),
    /// The leader gave up; try to lead.
    Abandoned,
}

/// One in-flight load.
pub(crate) struct Flight<V> {
    state: Mutex<State<V>>,
    condvar: Condvar,
    notify: Notify,
    /// Set by an invalidation that hits this key while the load runs: its result is returned
    /// to the caller but not cached.
    poisoned: AtomicBool,
    key: Arc<str>,
}

impl<V: Clone> Flight<V> {
    fn new(key: Arc<str>) -> Self {
        Self {
            state: Mutex::new(State::Running),
            condvar: Condvar::new(),
            notify: Notify::new(),
            poisoned: AtomicBool::new(false),
            key,
        }
    }

    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    pub(crate) fn poison(&self) {
        self.poisoned.store(true, Ordering::SeqCst);
    }

    pub(crate) fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::SeqCst)
    }

    fn outcome(&self) -> Option<Outcome<V>> {
        match &*self.state.lock() {
            State::Running => None,
            State::Done(value) => Some(Outcome::Value(value.clone())),
            State::Abandoned => Some(Outcome::Abandoned),
        }
    }

    /// Waits asynchronously for the leader.
    pub(crate) async fn wait(&self) -> Outcome<V> {
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
    pub(crate) fn wait_blocking(&self) -> Outcome<V> {
        let mut state = self.state.lock();
        loop {
            match &*state {
                State::Running => self.condvar.wait(&mut state),
                State::Done(value) => return Outcome::Value(value.clone()),
                State::Abandoned => return Outcome::Abandoned,
            }
        }
    }

    fn finish(&self, state: State<V>) {
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
    /// Joins the flight for `key`, or starts one and leads it.
    pub(crate) fn join(&self, key: &Arc<str>) -> Role<'_, V> {
        let mut map = self.map.lock();
        if let Some(flight) = map.get(key) {
            return Role::Waiter(Arc::clone(flight));
        }
        let flight = Arc::new(Flight::new(Arc::clone(key)));
        map.insert(Arc::clone(key), Arc::clone(&flight));
        Role::Leader(LeaderGuard {
            flights: self,
            flight,
            finished: false,
        })
    }

    /// Poisons every in-flight load whose key satisfies `affected`.
    pub(crate) fn poison(&self, affected: &dyn Fn(&str) -> bool) {
        for flight in self.map.lock().values() {
            if affected(flight.key()) {
                flight.poison();
            }
        }
    }

    fn remove(&self, flight: &Arc<Flight<V>>) {
        let mut map = self.map.lock();
        if map.get(&flight.key).is_some_and(|f| Arc::ptr_eq(f, flight)) {
            map.remove(&flight.key);
        }
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
    pub(crate) fn flight(&self) -> &Flight<V> {
        &self.flight
    }

    /// Hands `value` to every waiter.
    pub(crate) fn complete(mut self, value: &V) {
        self.finished = true;
        self.flights.remove(&self.flight);
        self.flight.finish(State::Done(value.clone()));
    }
}

impl<V: Clone> Drop for LeaderGuard<'_, V> {
    fn drop(&mut self) {
        if !self.finished {
            self.flights.remove(&self.flight);
            self.flight.finish(State::Abandoned);
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
        match flights.join(&key(text)) {
            Role::Leader(guard) => guard,
            Role::Waiter(_) => panic!("expected to lead {text}"),
        }
    }

    fn waiter(flights: &Flights<u32>, text: &str) -> Arc<Flight<u32>> {
        match flights.join(&key(text)) {
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
        guard.complete(&7);
        let waited = tokio::time::timeout(LIMIT, first.wait()).await.unwrap();
        assert!(matches!(waited, Outcome::Value(7)));
        assert!(matches!(
            blocking.recv_timeout(LIMIT),
            Ok(Outcome::Value(7))
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
        assert!(matches!(waited, Outcome::Abandoned));
        let takeover = leader(&flights, "k");
        let next = waiter(&flights, "k");
        takeover.complete(&2);
        let waited = tokio::time::timeout(LIMIT, next.wait()).await.unwrap();
        assert!(matches!(waited, Outcome::Value(2)));
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
        assert!(matches!(flight.wait_blocking(), Outcome::Abandoned));
        drop(leader(&flights, "k"));
    }

    #[test]
    fn poison_marks_only_the_matching_flights() {
        let flights = Flights::default();
        let (a, b) = (leader(&flights, "user:1"), leader(&flights, "order:1"));
        flights.poison(&|key| key.starts_with("user:"));
        assert!(a.flight().is_poisoned());
        assert!(!b.flight().is_poisoned());
    }
}
