//! The backplane's state shared with the `RedisL2`: whether the subscription works, judged
//! from evidence (the age of its last proof, a heartbeat answered through it or a message),
//! what the engine was last told, and the namespace's flush generation.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cache_core::l2::InvalidationSink;
use parking_lot::Mutex;

/// The backplane counts as connected while its last proof is younger than this many
/// heartbeats.
pub(crate) const LIVENESS_HEARTBEATS: u32 = 3;

/// State shared between the `RedisL2` and its subscriber.
pub(crate) struct Status {
    /// Set while a subscription is established.
    subscribed: AtomicBool,
    /// When the subscription last proved it works (ms since `origin`; 0: never).
    last_proof_ms: AtomicU64,
    origin: Instant,
    /// Oldest acceptable proof, in ms.
    limit_ms: u64,
    /// What the engine was last told, so it hears each change once.
    reported: Mutex<Option<bool>>,
    /// The namespace's last flush generation: entries written before it are invisible.
    flushed: AtomicU64,
    /// Bumped each time the subscription is made or lost: a flush may have been missed, so
    /// readers read the flush generation again before trusting Redis.
    changes: AtomicU64,
}

impl Status {
    pub(crate) fn new(heartbeat: Duration) -> Self {
        let limit = heartbeat * LIVENESS_HEARTBEATS;
        Self {
            subscribed: AtomicBool::new(false),
            last_proof_ms: AtomicU64::new(0),
            origin: Instant::now(),
            limit_ms: u64::try_from(limit.as_millis()).unwrap_or(u64::MAX),
            reported: Mutex::new(None),
            flushed: AtomicU64::new(0),
            changes: AtomicU64::new(1),
        }
    }

    /// How many times the subscription was made or lost (starts at 1).
    pub(crate) fn changes(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }

    fn now_ms(&self) -> u64 {
        // Starts at 1, so 0 means "never".
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX) + 1
    }

    /// Records a proof that the subscription works.
    pub(crate) fn prove(&self) {
        self.last_proof_ms.store(self.now_ms(), Ordering::Release);
    }

    /// Whether the subscription is established and proved itself recently.
    pub(crate) fn is_connected(&self) -> bool {
        let last = self.last_proof_ms.load(Ordering::Acquire);
        self.subscribed.load(Ordering::Acquire)
            && last != 0
            && self.now_ms().saturating_sub(last) <= self.limit_ms
    }

    /// Tells the engine the current state if it changed since it was last told.
    pub(crate) fn report(&self, sink: &dyn InvalidationSink) {
        let mut reported = self.reported.lock();
        let connected = self.is_connected();
        if *reported != Some(connected) {
            *reported = Some(connected);
            sink.set_connected(connected);
        }
    }

    pub(crate) fn set_subscribed(&self, subscribed: bool) {
        self.subscribed.store(subscribed, Ordering::Release);
        self.changes.fetch_add(1, Ordering::AcqRel);
        if subscribed {
            self.prove();
        }
    }

    /// The last flush generation known.
    pub(crate) fn flushed(&self) -> u64 {
        self.flushed.load(Ordering::Acquire)
    }

    /// Learns a flush generation (from a message, a read, or this process's own flush).
    pub(crate) fn learn_flush(&self, generation: u64) {
        self.flushed.fetch_max(generation, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn liveness_needs_a_recent_proof() {
        let status = Status::new(Duration::from_millis(10));
        assert!(!status.is_connected(), "never subscribed");
        status.set_subscribed(true);
        assert!(status.is_connected());
        std::thread::sleep(Duration::from_millis(40));
        assert!(!status.is_connected(), "no proof for 4 heartbeats");
        status.prove();
        assert!(status.is_connected());
        status.set_subscribed(false);
        assert!(!status.is_connected());
    }
}
