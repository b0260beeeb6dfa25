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
