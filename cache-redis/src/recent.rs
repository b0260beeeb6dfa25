//! Invalidations Redis confirmed lately, kept for a failover: a replica is promoted from
//! asynchronous replication, so the last writes the old master acknowledged (invalidation
//! markers, tag generations) may be missing on the new master, and a master that is demoted
//! late keeps acknowledging writes that the new master never sees. When the master moves,
//! the invalidations confirmed within [`REPLAY_WINDOW`] are queued again (`pending.rs`) and
//! applied on the new master before its entries are read.
//!
//! Bounded: past `max` items within the window, a namespace flush is queued instead.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use std::sync::atomic::{AtomicU64, Ordering};

use cache_core::l2::Invalidation;
use parking_lot::Mutex;

use crate::connection::Connection;
use crate::pending::Pending;

/// How far back invalidations are applied again after the master moved: longer than a
/// Sentinel failover takes to reach the clients (promotion, then `+switch-master` or the
/// periodic check), far longer than a replica lags on a healthy link.
pub(crate) const REPLAY_WINDOW: Duration = Duration::from_secs(10);

/// What to queue again after a failover.
#[derive(Debug, PartialEq)]
pub(crate) enum Replay {
    /// These invalidations, in the order they were confirmed.
    Invalidations(Vec<Invalidation>),
    /// Too many to keep: the whole namespace.
    Flush,
}

/// The invalidations confirmed within the window.
pub(crate) struct Recent {
    items: Mutex<Items>,
    max: usize,
    window: Duration,
}

#[derive(Default)]
struct Items {
    confirmed: VecDeque<(Instant, Invalidation)>,
    /// When an item was last dropped for lack of room.
    overflowed: Option<Instant>,
}

impl Recent {
    pub(crate) fn new(max: usize, window: Duration) -> Self {
        Self {
            items: Mutex::default(),
            max,
            window,
        }
    }

    /// Notes an invalidation Redis confirmed now.
    pub(crate) fn record(&self, invalidation: &Invalidation) {
        let now = Instant::now();
        let mut items = self.items.lock();
        items.confirmed.push_back((now, invalidation.clone()));
        let window = self.window;
        while items
            .confirmed
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) > window)
        {
            items.confirmed.pop_front();
        }
        if items.confirmed.len() > self.max {
            items.confirmed.pop_front();
            items.overflowed = Some(now);
        }
    }

    /// What to apply again on a new master.
    pub(crate) fn replay(&self) -> Replay {
        let now = Instant::now();
        let items = self.items.lock();
        if items
            .overflowed
            .is_some_and(|at| now.duration_since(at) <= self.window)
        {
            return Replay::Flush;
        }
        Replay::Invalidations(
            items
                .confirmed
                .iter()
                .filter(|(at, _)| now.duration_since(*at) <= self.window)
                .map(|(_, invalidation)| invalidation.clone())
                .collect(),
        )
    }
}

/// The policy's side of a failover: records what Redis confirmed (when the master can move)
/// and queues it again once the connection reports that the master moved.
pub(crate) struct FailoverReplay {
    recent: Option<Recent>,
    /// The connection's switch count whose losses were queued.
    handled: AtomicU64,
}

impl FailoverReplay {
    pub(crate) fn new(connection: &Connection, max: usize) -> Self {
        Self {
            recent: connection
                .fails_over()
                .then(|| Recent::new(max, REPLAY_WINDOW)),
            handled: AtomicU64::new(0),
        }
    }

    /// Redis confirmed `invalidation`, which was sent when the connection had seen
    /// `switches_before` switches; if the master moved meanwhile it may have landed on the old
    /// one, so it is queued again right away.
    pub(crate) fn confirmed(
        &self,
        connection: &Connection,
        invalidation: &Invalidation,
        switches_before: u64,
        pending: &Pending,
    ) {
        if let Some(recent) = &self.recent {
            recent.record(invalidation);
            if connection.switches() != switches_before {
                pending.push(invalidation);
            }
        }
    }

    /// Whether the master moved since the last [`requeue`](Self::requeue).
    pub(crate) fn moved(&self, connection: &Connection) -> bool {
        self.recent.is_some() && self.handled.load(Ordering::Acquire) != connection.switches()
    }

    /// Queues again what the old master confirmed lately.
    pub(crate) fn requeue(&self, connection: &Connection, pending: &Pending) {
        let Some(recent) = &self.recent else { return };
        let switches = connection.switches();
        if self.handled.swap(switches, Ordering::AcqRel) == switches {
            return;
        }
        match recent.replay() {
            Replay::Flush => {
                tracing::warn!(
                    "the master moved; too many recent invalidations to apply again: flushing the namespace"
                );
                pending.push_flush();
            }
            Replay::Invalidations(invalidations) => {
                tracing::warn!(
                    count = invalidations.len(),
                    window = ?REPLAY_WINDOW,
                    "the master moved; applying the recent invalidations again on the new one"
                );
                for invalidation in &invalidations {
                    pending.push(invalidation);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> Invalidation {
        Invalidation::Keys(vec![k.to_owned()])
    }

    #[test]
    fn keeps_the_window_and_overflows_into_a_flush() {
        let recent = Recent::new(3, Duration::from_millis(50));
        recent.record(&key("a"));
        std::thread::sleep(Duration::from_millis(80));
        recent.record(&key("b"));
        recent.record(&Invalidation::Tags(vec!["t".into()]));
        assert_eq!(
            recent.replay(),
            Replay::Invalidations(vec![key("b"), Invalidation::Tags(vec!["t".into()])])
        );
        for k in ["c", "d"] {
            recent.record(&key(k));
        }
        assert_eq!(recent.replay(), Replay::Flush);
        std::thread::sleep(Duration::from_millis(80));
        assert_eq!(recent.replay(), Replay::Invalidations(Vec::new()));
    }
}
