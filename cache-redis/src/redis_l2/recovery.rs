//! Recovery after Redis failures, for an attached `RedisL2`: the circuit breaker around every
//! operation (`guarded`), the queue of invalidations Redis did not confirm (`pending.rs`) and
//! its replay before a read trusts Redis, the O(1) namespace flush past the queue's bound, and
//! the backplane thread's periodic step (`maintain`).

use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::Duration;

use cache_core::l2::{Invalidation, L2Error, L2ErrorKind};

use super::Attached;
use crate::backplane;
use crate::error::{from_redis, protocol, timed};
use crate::pending::Done;
use crate::scripts::FLUSH_SCRIPT;

/// Keys per `UNLINK` when the queue is replayed.
const REPLAY_KEYS_PER_CALL: usize = 256;

impl Attached {
    /// Whether an entry written at generation `written_at` was written after the last
    /// namespace flush known here.
    pub(super) fn survives_flush(&self, written_at: &str) -> bool {
        let flushed = self.inner.status.flushed();
        flushed == 0 || written_at.parse::<u64>().is_ok_and(|w| w >= flushed)
    }

    /// Runs one operation within `limit`, through the circuit breaker.
    pub(super) async fn guarded<T>(
        &self,
        what: &str,
        limit: Duration,
        operation: impl Future<Output = Result<T, L2Error>>,
    ) -> Result<T, L2Error> {
        self.inner.breaker.call(timed(limit, what, operation)).await
    }

    /// Queues an invalidation Redis did not confirm (it answered nothing, or was skipped);
    /// the error says so.
    pub(super) fn queue_unconfirmed<T>(
        &self,
        result: Result<T, L2Error>,
        invalidation: impl FnOnce() -> Invalidation,
    ) -> Result<T, L2Error> {
        result.map_err(|mut error| {
            if error.kind == L2ErrorKind::Protocol {
                return error;
            }
            self.pending.push(&invalidation());
            error
                .message
                .push_str("; queued, applied when Redis answers");
            error
        })
    }

    /// Before a read trusts Redis: knows the namespace's flush generation (read again after
    /// each change of the subscription, when a flush message may have been missed) and
    /// applies the queued invalidations, if any.
    ///
    /// One caller replays at a time; the others do not wait for it (a replay may include a
    /// long pattern invalidation): their reads skip Redis (`Stats::l2_skipped`) meanwhile.
    pub(super) async fn settle(&self) -> Result<(), L2Error> {
        if self.flush_checked.load(Ordering::Acquire) != self.inner.status.changes() {
            self.learn_flush().await?;
        }
        if self.pending.is_empty() {
            return Ok(());
        }
        let Ok(_replaying) = self.replaying.try_lock() else {
            return Err(L2Error::new(
                L2ErrorKind::Replaying,
                "Redis skipped: queued invalidations are being applied",
            ));
        };
        if self.pending.is_empty() {
            return Ok(());
        }
        self.replay().await
    }

    /// Replays one batch of the queue: flush, clear, tags, patterns, then keys. Stops at the
    /// first failure (the rest waits); an item Redis rejects outright is dropped (logged).
    async fn replay(&self) -> Result<(), L2Error> {
        let settings = &self.inner.settings;
        let operation = settings.operation_timeout;
        let batch = self.pending.batch();
        let confirmed = |result: Result<(), L2Error>| match result {
            Ok(()) => Ok(()),
            Err(error) if error.kind == L2ErrorKind::Protocol => {
                tracing::warn!(%error, "queued invalidation rejected by Redis; dropped");
                Ok(())
            }
            Err(error) => Err(error),
        };
        if let Some(sequence) = batch.flush {
            confirmed(
                self.guarded("namespace flush", operation, self.flush())
                    .await,
            )?;
            self.pending.done(Done::Flush(sequence));
        }
        if let Some(sequence) = batch.clear {
            confirmed(self.inner.breaker.call(self.remove_all()).await)?;
            self.pending.done(Done::Clear(sequence));
        }
        if !batch.tags.is_empty() {
            let tags: Vec<&str> = batch.tags.iter().map(|(tag, _)| tag.as_str()).collect();
            let removed = self.guarded("L2 tag invalidation", operation, self.remove_tags(&tags));
            confirmed(removed.await)?;
            self.pending.done(Done::Tags(&batch.tags));
        }
        for item in &batch.patterns {
            let removed = self.inner.breaker.call(self.remove_matching(&item.0));
            confirmed(removed.await)?;
            self.pending
                .done(Done::Patterns(std::slice::from_ref(item)));
        }
        for chunk in batch.keys.chunks(REPLAY_KEYS_PER_CALL) {
            let keys: Vec<&str> = chunk.iter().map(|(key, _)| key.as_str()).collect();
            confirmed(
                self.guarded("L2 invalidation", operation, self.remove(&keys))
                    .await,
            )?;
            self.pending.done(Done::Keys(chunk));
        }
        tracing::info!(
            keys = batch.keys.len(),
            patterns = batch.patterns.len(),
            tags = batch.tags.len(),
            clear = batch.clear.is_some(),
            flush = batch.flush.is_some(),
            "queued invalidations applied"
        );
        Ok(())
    }

    /// Hides every entry of the namespace in O(1) (see `scripts.rs`, `FLUSH`).
    async fn flush(&self) -> Result<(), L2Error> {
        let layout = &self.layout;
        let generation: String = FLUSH_SCRIPT
            .key(layout.gen_key())
            .arg(layout.channel())
            .arg(backplane::flush_message_prefix(&self.inner.origin))
            .invoke_async(&mut self.connection())
            .await
            .map_err(from_redis)?;
        let generation = generation
            .parse::<u64>()
            .map_err(|_| protocol("the flush script returned no generation"))?;
        self.inner.status.learn_flush(generation);
        Ok(())
    }

    /// Reads the namespace's flush generation, and notes the subscription's state it is
    /// current for.
    async fn learn_flush(&self) -> Result<(), L2Error> {
        let changes = self.inner.status.changes();
        let limit = self.inner.settings.operation_timeout;
        let read = self.guarded(
            "reading the flush generation",
            limit,
            self.namespace_field::<u64>("flushed"),
        );
        if let Some(generation) = read.await? {
            self.inner.status.learn_flush(generation);
        }
        self.flush_checked.store(changes, Ordering::Release);
        Ok(())
    }

    /// The backplane thread's step: learn the namespace's flush generation (which also probes
    /// a half-open breaker when no call does), then replay what waits.
    pub(super) async fn maintain(&self) {
        if let Err(error) = self.learn_flush().await {
            tracing::debug!(%error, "cannot read the flush generation");
        }
        if let Err(error) = self.settle().await {
            tracing::debug!(%error, "queued invalidations still wait for Redis");
        }
    }
}
