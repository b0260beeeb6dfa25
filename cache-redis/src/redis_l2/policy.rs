//! The policy every Redis operation of an attached `RedisL2` runs under, applied by one
//! function, [`Policy::run`]: the operation's time limit, the circuit breaker (`breaker.rs`)
//! and the queue of invalidations Redis did not confirm (`pending.rs`). A change Redis did not
//! confirm is queued, and announced on the backplane at once unless the breaker skipped it
//! (its command may have failed before its own `PUBLISH`, e.g. on a metadata key of the wrong
//! type: other processes must still drop their L1 copies). A read first applies what is
//! queued (replayed through `run` as well); past the queue's bound the namespace is flushed in
//! O(1). Also the backplane thread's periodic step ([`Policy::maintain`]).
//!
//! The commands themselves (`commands.rs`) know nothing of this policy. Outside it: the
//! backplane's subscription (its own connection and heartbeat, `backplane.rs`) and the
//! connection made when the `RedisL2` is built (`builder.rs`).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use cache_core::l2::{BoxFuture, Invalidation, L2Error, L2ErrorKind, L2Write};

use super::Inner;
use crate::backplane::{self, Op};
use crate::commands::{self, Keyspace};
use crate::error::timed;
use crate::pending::{Done, Pending};
use crate::recent::FailoverReplay;

/// Keys per `UNLINK` when the queue is replayed.
const REPLAY_KEYS_PER_CALL: usize = 256;

/// The policy's state: the keyspace the commands go to, the breaker and settings (in
/// `Inner`), the queue and its replay.
pub(super) struct Policy {
    keyspace: Keyspace,
    inner: Arc<Inner>,
    pending: Pending,
    /// One replay of the queue at a time; other readers skip Redis meanwhile.
    replaying: tokio::sync::Mutex<()>,
    /// The backplane's `changes` when the flush generation was last read.
    flush_checked: AtomicU64,
    /// What a failover may have lost, applied again on the new master (`recent.rs`).
    failover: FailoverReplay,
}

/// How long an operation may take.
#[derive(Debug, Clone, Copy)]
pub(super) enum Limit {
    /// One round trip (or two at once): the operation timeout.
    RoundTrip,
    /// A walk over the keyspace (many round trips, each within the operation timeout): the
    /// bulk timeout.
    Bulk,
}

/// How an operation meets the breaker and the queue.
#[derive(Debug, Clone, Copy)]
pub(super) enum Kind<'a> {
    /// Reads entries: the queued invalidations are applied first, so no entry they remove is
    /// read back. Skipped (`L2ErrorKind::Replaying`) while another caller applies them.
    Read,
    /// Reads, with no queue in front: key listing (an operator's view, which may show keys
    /// whose removal waits), and the namespace's flush generation (which the queue's replay
    /// itself needs).
    Inspect,
    /// Writes an entry. If Redis does not confirm it, an older value may still be there: this
    /// removal of the key is queued, even when Redis rejected the write (the removal is
    /// another command, which may well pass), and announced.
    Write(&'a Invalidation),
    /// Invalidates. If Redis does not confirm it, the invalidation is announced, and queued
    /// unless Redis rejected it outright (replaying it would be rejected again).
    Change(&'a Invalidation),
    /// Applies a queued invalidation: it stays queued until Redis confirms it; announced if
    /// not confirmed.
    Replay(&'a Invalidation),
    /// Announces a change that was not confirmed (part of that change's policy): through the
    /// breaker, nothing queued.
    Announce,
    /// Past the breaker: a health check reports what Redis does now, not what the breaker
    /// remembers.
    Probe,
    /// Takes, renews or gives up a key's lease (fleet-wide single-flight): through the
    /// breaker, nothing queued or announced (a lease that is neither renewed nor given up
    /// expires on its own).
    Lease,
}

/// One operation, as the policy sees it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Operation<'a> {
    /// What it is, in errors.
    pub(super) what: &'static str,
    pub(super) limit: Limit,
    pub(super) kind: Kind<'a>,
}

impl Policy {
    pub(super) fn new(keyspace: Keyspace, inner: Arc<Inner>) -> Self {
        Self {
            pending: Pending::new(inner.settings.max_pending),
            failover: FailoverReplay::new(&keyspace.connection, inner.settings.max_pending),
            keyspace,
            inner,
            replaying: tokio::sync::Mutex::new(()),
            flush_checked: AtomicU64::new(0),
        }
    }

    /// Where the commands go.
    pub(super) fn keyspace(&self) -> &Keyspace {
        &self.keyspace
    }

    /// Announces that `key` changed (or that its lease was given up, so its waiters read it
    /// again), as a write would: through the breaker, nothing queued.
    pub(super) async fn announce(&self, key: &str) -> Result<(), L2Error> {
        let operation = Operation {
            what: "PUBLISH",
            limit: Limit::RoundTrip,
            kind: Kind::Announce,
        };
        let message = self.message(Op::Keys {
            keys: vec![key.to_owned()],
        });
        self.run(operation, commands::publish(&self.keyspace, &message))
            .await
    }

    /// How many invalidations wait for Redis.
    pub(super) fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Runs one Redis command under the policy: every operation goes through here.
    pub(super) async fn run<T>(
        &self,
        operation: Operation<'_>,
        command: impl Future<Output = Result<T, L2Error>>,
    ) -> Result<T, L2Error> {
        if matches!(operation.kind, Kind::Read) && self.unsettled() {
            self.settle().await?;
        }
        let result = self.attempt(operation, command).await;
        match (result, operation.kind) {
            (
                Err(error),
                Kind::Write(invalidation) | Kind::Change(invalidation) | Kind::Replay(invalidation),
            ) => Err(self.unconfirmed(error, operation.kind, invalidation).await),
            (result, _) => result,
        }
    }

    /// Runs a command within the operation's time limit, through the breaker unless the
    /// operation is a probe.
    async fn attempt<T>(
        &self,
        operation: Operation<'_>,
        command: impl Future<Output = Result<T, L2Error>>,
    ) -> Result<T, L2Error> {
        let settings = &self.inner.settings;
        let limit = match operation.limit {
            Limit::RoundTrip => settings.operation_timeout,
            Limit::Bulk => settings.bulk_timeout,
        };
        let command = timed(limit, operation.what, command);
        match operation.kind {
            Kind::Probe => command.await,
            _ => self.inner.breaker.call(command).await,
        }
    }

    /// Applies an invalidation of the cache to Redis and tells other processes.
    pub(super) async fn invalidate(&self, invalidation: &Invalidation) -> Result<(), L2Error> {
        self.apply(invalidation, Kind::Change(invalidation)).await
    }

    /// Runs an invalidation's command: one of the cache's ([`Kind::Change`]) or a queued one
    /// ([`Kind::Replay`]).
    async fn apply(&self, invalidation: &Invalidation, kind: Kind<'_>) -> Result<(), L2Error> {
        let (what, limit) = match invalidation {
            Invalidation::Keys(_) => ("L2 invalidation", Limit::RoundTrip),
            Invalidation::Pattern(_) => ("pattern invalidation", Limit::Bulk),
            Invalidation::Tags(_) => ("L2 tag invalidation", Limit::RoundTrip),
            Invalidation::Clear => ("clear", Limit::Bulk),
        };
        let message = self.message(Op::from(invalidation));
        let command = commands::invalidate(&self.keyspace, invalidation, &message);
        let connection = &self.keyspace.connection;
        let switches = connection.switches();
        self.run(Operation { what, limit, kind }, command).await?;
        self.failover
            .confirmed(connection, invalidation, switches, &self.pending);
        Ok(())
    }

    /// Applies a queued invalidation.
    async fn reapply(&self, invalidation: &Invalidation) -> Result<(), L2Error> {
        self.apply(invalidation, Kind::Replay(invalidation)).await
    }

    /// Writes an entry and tells other processes. If Redis does not confirm it, an older
    /// value may still be there: its removal is queued. A write that lands makes a removal of
    /// the key queued before it obsolete.
    pub(super) async fn write(&self, key: &str, write: L2Write<'_>) -> Result<(), L2Error> {
        let removal = Invalidation::Keys(vec![key.to_owned()]);
        let message = self.message(Op::from(&removal));
        let operation = Operation {
            what: "L2 write",
            limit: Limit::RoundTrip,
            kind: Kind::Write(&removal),
        };
        let mark = self.pending.mark();
        let written = self
            .run(
                operation,
                commands::write(&self.keyspace, key, write, &message),
            )
            .await?;
        if written {
            self.pending.written(key, mark);
        }
        Ok(())
    }

    fn message(&self, op: Op) -> String {
        backplane::encode(&self.inner.origin, op)
    }

    /// Handles a change Redis did not confirm, as its kind says: queues `invalidation` and
    /// announces it. The error says what was done.
    async fn unconfirmed(
        &self,
        mut error: L2Error,
        kind: Kind<'_>,
        invalidation: &Invalidation,
    ) -> L2Error {
        let queue = match kind {
            Kind::Write(_) => true,
            Kind::Change(_) => error.kind != L2ErrorKind::Protocol,
            _ => false,
        };
        if queue {
            self.pending.push(invalidation);
            error
                .message
                .push_str("; queued, applied when Redis answers");
        }
        if error.kind.is_skipped() {
            // Redis is away: the replay announces it once applied.
            return error;
        }
        let operation = Operation {
            what: "PUBLISH",
            limit: Limit::RoundTrip,
            kind: Kind::Announce,
        };
        let message = self.message(Op::from(invalidation));
        match self
            .attempt(operation, commands::publish(&self.keyspace, &message))
            .await
        {
            Ok(()) => error.message.push_str("; announced to other processes"),
            Err(announce) => tracing::debug!(%announce, "cannot announce an unconfirmed change"),
        }
        error
    }

    /// Whether a read must first learn the flush generation or apply queued invalidations.
    fn unsettled(&self) -> bool {
        self.flush_checked.load(Ordering::Acquire) != self.inner.status.changes()
            || !self.pending.is_empty()
            || self.failover.moved(&self.keyspace.connection)
    }

    /// Before a read trusts Redis: knows the namespace's flush generation (read again after
    /// each change of the subscription, when a flush message may have been missed) and
    /// applies the queued invalidations, if any.
    ///
    /// One caller replays at a time; the others do not wait for it (a replay may include a
    /// long pattern invalidation): their reads skip Redis (`L2ErrorKind::Replaying`,
    /// counted in `Stats::l2_skipped`) meanwhile. Boxed: the replay runs operations through
    /// [`run`](Self::run), which calls this.
    fn settle(&self) -> BoxFuture<'_, Result<(), L2Error>> {
        Box::pin(async move {
            if self.failover.moved(&self.keyspace.connection) {
                self.failover
                    .requeue(&self.keyspace.connection, &self.pending);
            }
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
        })
    }

    /// Replays one batch of the queue: flush, clear, tags, patterns, then keys. Stops at the
    /// first failure (the rest waits); an item Redis rejects outright is dropped (logged).
    async fn replay(&self) -> Result<(), L2Error> {
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
            confirmed(self.flush().await)?;
            self.pending.done(Done::Flush(sequence));
        }
        if let Some(sequence) = batch.clear {
            confirmed(self.reapply(&Invalidation::Clear).await)?;
            self.pending.done(Done::Clear(sequence));
        }
        if !batch.tags.is_empty() {
            let tags = batch.tags.iter().map(|(tag, _)| tag.clone()).collect();
            confirmed(self.reapply(&Invalidation::Tags(tags)).await)?;
            self.pending.done(Done::Tags(&batch.tags));
        }
        for item in &batch.patterns {
            let pattern = Invalidation::Pattern(item.0.clone());
            confirmed(self.reapply(&pattern).await)?;
            self.pending
                .done(Done::Patterns(std::slice::from_ref(item)));
        }
        for chunk in batch.keys.chunks(REPLAY_KEYS_PER_CALL) {
            let keys = chunk.iter().map(|(key, _)| key.clone()).collect();
            confirmed(self.reapply(&Invalidation::Keys(keys)).await)?;
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

    /// Hides every entry of the namespace in O(1), the replay of an overflowed queue; to
    /// other processes it is a clear (announced as one if not confirmed).
    async fn flush(&self) -> Result<(), L2Error> {
        let operation = Operation {
            what: "namespace flush",
            limit: Limit::RoundTrip,
            kind: Kind::Replay(&Invalidation::Clear),
        };
        let prefix = backplane::flush_message_prefix(&self.inner.origin);
        let connection = &self.keyspace.connection;
        let switches = connection.switches();
        let generation = self
            .run(operation, commands::flush(&self.keyspace, &prefix))
            .await?;
        self.inner.status.learn_flush(generation);
        // Lost in a failover, it would be applied again as a clear.
        self.failover
            .confirmed(connection, &Invalidation::Clear, switches, &self.pending);
        Ok(())
    }

    /// Reads the namespace's flush generation, and notes the subscription's state it is
    /// current for.
    async fn learn_flush(&self) -> Result<(), L2Error> {
        let changes = self.inner.status.changes();
        let operation = Operation {
            what: "reading the flush generation",
            limit: Limit::RoundTrip,
            kind: Kind::Inspect,
        };
        let read = self.run(operation, commands::flush_generation(&self.keyspace));
        if let Some(generation) = read.await? {
            self.inner.status.learn_flush(generation);
        }
        self.flush_checked.store(changes, Ordering::Release);
        Ok(())
    }

    /// The backplane thread's step: watch a cluster for failovers, learn the namespace's flush
    /// generation (which also probes a half-open breaker when no call does), then replay what
    /// waits.
    pub(super) async fn maintain(&self) {
        self.keyspace.connection.observe_failovers().await;
        if let Err(error) = self.learn_flush().await {
            tracing::debug!(%error, "cannot read the flush generation");
        }
        if let Err(error) = self.settle().await {
            tracing::debug!(%error, "queued invalidations still wait for Redis");
        }
    }
}
