//! `Attached`: a `RedisL2` attached to its cache, the `L2` the engine calls. Its namespace's
//! keyspace, its policy (timeouts, breaker, queue: `policy.rs`) and its backplane thread are set
//! from the start, so no operation checks for a half-built state. Each operation is one Redis
//! command (`commands.rs`) run under the policy.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use cache_core::l2::{
    BoxError, BoxFuture, Invalidation, L2, L2Context, L2Entry, L2Error, L2Read, L2Status, L2Write,
    PerKey, ReadMark,
};

use super::policy::{Kind, Limit, Operation, Policy};
use super::{FleetSettings, Inner};
use crate::backplane::{self, Backplane, Maintain, SubscriberConfig};
use crate::commands::{self, Keyspace, LeaseAsk, Taken};
use crate::error::Error;
use crate::layout::Layout;

/// A `RedisL2` attached to its cache. The backplane thread stops when the cache (its only
/// owner) is dropped.
pub(super) struct Attached {
    inner: Arc<Inner>,
    policy: Policy,
    /// Set right after the thread starts (it needs a weak handle on this value).
    backplane: OnceLock<Backplane>,
}

impl Attached {
    /// Attaches to the cache of `context`: its namespace's layout, and the backplane thread
    /// that reports other processes' invalidations to the cache's sink. Waits (bounded by
    /// the connect timeout) for the first subscription, so the first loads are coherent and
    /// written through.
    pub(super) fn start(inner: Arc<Inner>, context: &L2Context) -> Result<Arc<Self>, BoxError> {
        let layout = Layout::new(context.namespace());
        let sink = context.sink();
        let status = Arc::clone(&inner.status);
        // Not connected until the subscription proves itself: L1 starts degraded.
        status.report(sink.as_ref());
        let settings = &inner.settings;
        let config = SubscriberConfig {
            source: inner.source.clone(),
            channel: layout.channel(),
            origin: inner.origin.clone(),
            heartbeat: settings.heartbeat,
            connect_timeout: settings.connect_timeout,
            max_backoff: settings.max_backoff,
        };
        let connect_timeout = settings.connect_timeout;
        let keyspace = Keyspace {
            connection: inner.connection.clone(),
            layout,
            scan_count: settings.scan_count,
            step_timeout: settings.operation_timeout,
        };
        let attached = Arc::new(Self {
            policy: Policy::new(keyspace, Arc::clone(&inner)),
            inner,
            backplane: OnceLock::new(),
        });
        let weak = Arc::downgrade(&attached);
        let maintain: Maintain = Box::new(move || {
            let weak = weak.clone();
            Box::pin(async move {
                if let Some(attached) = weak.upgrade() {
                    attached.policy.maintain().await;
                }
            })
        });
        let thread = backplane::start(config, sink, Arc::clone(&status), maintain)
            .map_err(|source| Box::new(Error::Backplane(source)))?;
        let _ = attached.backplane.set(thread);
        // The subscriber runs on its own thread: blocking here is safe.
        let deadline = std::time::Instant::now() + connect_timeout;
        while !status.is_connected() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        if !status.is_connected() {
            tracing::warn!(
                ?connect_timeout,
                "backplane not subscribed yet; L1 degraded until it is"
            );
        }
        Ok(attached)
    }

    fn keyspace(&self) -> &Keyspace {
        self.policy.keyspace()
    }

    /// The fleet-wide single-flight's settings, if it is on.
    fn fleet(&self) -> Option<FleetSettings> {
        self.inner.settings.fleet
    }

    /// The lease to ask for with `token`, if the fleet-wide single-flight is on.
    fn lease_ask<'a>(&self, token: Option<&'a str>) -> Option<LeaseAsk<'a>> {
        let fleet = self.fleet()?;
        Some(LeaseAsk {
            token: token?,
            ttl: fleet.lease_ttl,
            wait_at_most: fleet.wait_at_most,
        })
    }

    /// A read, taking the key's lease on a miss when `ask` says so.
    async fn read_leasing(
        &self,
        key: &str,
        expected_tags: &[String],
        ask: Option<LeaseAsk<'_>>,
    ) -> Result<L2Read, L2Error> {
        let operation = Operation {
            what: "L2 read",
            limit: Limit::RoundTrip,
            kind: Kind::Read,
        };
        let status = &self.inner.status;
        let command = commands::read(self.keyspace(), key, expected_tags, status, ask);
        self.policy.run(operation, command).await
    }

    /// A batch read (one script per `KEYS_PER_SCRIPT` keys or, on a cluster, per hash slot),
    /// taking the lease of each key with no fresh entry when `ask` says so.
    async fn read_many_leasing(
        &self,
        keys: &[&str],
        expected_tags: &[String],
        ask: Option<LeaseAsk<'_>>,
    ) -> Result<PerKey<L2Read>, L2Error> {
        let operation = Operation {
            what: "L2 batch read",
            limit: Limit::RoundTrip,
            kind: Kind::Read,
        };
        let status = &self.inner.status;
        let command = commands::read_many(self.keyspace(), keys, expected_tags, status, ask);
        self.policy.run(operation, command).await
    }
}

/// Taking, renewing or giving up a lease.
const LEASE_OPERATION: Operation<'static> = Operation {
    what: "lease",
    limit: Limit::RoundTrip,
    kind: Kind::Lease,
};

impl L2 for Attached {
    fn get<'a>(
        &'a self,
        key: &'a str,
        expected_tags: &'a [String],
    ) -> BoxFuture<'a, Result<Option<L2Entry>, L2Error>> {
        Box::pin(async move { Ok(self.read(key, expected_tags).await?.into_entry()) })
    }

    fn read<'a>(
        &'a self,
        key: &'a str,
        expected_tags: &'a [String],
    ) -> BoxFuture<'a, Result<L2Read, L2Error>> {
        Box::pin(self.read_leasing(key, expected_tags, None))
    }

    fn read_for_load<'a>(
        &'a self,
        key: &'a str,
        expected_tags: &'a [String],
    ) -> BoxFuture<'a, Result<L2Read, L2Error>> {
        Box::pin(async move {
            let token = self.fleet().map(|_| backplane::random_id());
            let ask = self.lease_ask(token.as_deref());
            self.read_leasing(key, expected_tags, ask).await
        })
    }

    fn read_many<'a>(
        &'a self,
        keys: &'a [&'a str],
        expected_tags: &'a [String],
    ) -> BoxFuture<'a, Result<PerKey<L2Read>, L2Error>> {
        Box::pin(self.read_many_leasing(keys, expected_tags, None))
    }

    fn read_many_for_load<'a>(
        &'a self,
        keys: &'a [&'a str],
        expected_tags: &'a [String],
    ) -> BoxFuture<'a, Result<PerKey<L2Read>, L2Error>> {
        Box::pin(async move {
            // One token for the batch: each lease it wins is ended or given up key by key.
            let token = self.fleet().map(|_| backplane::random_id());
            let ask = self.lease_ask(token.as_deref());
            self.read_many_leasing(keys, expected_tags, ask).await
        })
    }

    fn set_many<'a>(
        &'a self,
        writes: &'a [(&'a str, L2Write<'a>)],
    ) -> BoxFuture<'a, Result<PerKey<()>, L2Error>> {
        Box::pin(self.policy.write_many(writes))
    }

    fn take_lease<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<ReadMark>, L2Error>> {
        Box::pin(async move {
            let token = backplane::random_id();
            let Some(ask) = self.lease_ask(Some(&token)) else {
                return Ok(Some(ReadMark::default()));
            };
            let command = commands::take_lease(self.keyspace(), key, ask);
            Ok(match self.policy.run(LEASE_OPERATION, command).await? {
                Taken::Won => Some(ReadMark::default().with_lease(token)),
                Taken::Held => None,
            })
        })
    }

    fn renew_lease<'a>(
        &'a self,
        key: &'a str,
        mark: &'a ReadMark,
    ) -> BoxFuture<'a, Result<(), L2Error>> {
        Box::pin(async move {
            let Some(ask) = self.lease_ask(mark.lease()) else {
                return Ok(());
            };
            let command = commands::renew_lease(self.keyspace(), key, mark, ask);
            self.policy.run(LEASE_OPERATION, command).await.map(drop)
        })
    }

    fn release_lease<'a>(
        &'a self,
        key: &'a str,
        mark: &'a ReadMark,
    ) -> BoxFuture<'a, Result<(), L2Error>> {
        Box::pin(async move {
            let command = commands::release_lease(self.keyspace(), key, mark);
            if self.policy.run(LEASE_OPERATION, command).await? {
                // The waiting processes read the key again (and take the lease).
                self.policy.announce(key).await?;
            }
            Ok(())
        })
    }

    fn lease_renewal(&self) -> Option<Duration> {
        self.fleet().map(|fleet| fleet.lease_ttl / 3)
    }

    fn set<'a>(&'a self, key: &'a str, write: L2Write<'a>) -> BoxFuture<'a, Result<(), L2Error>> {
        Box::pin(self.policy.write(key, write))
    }

    fn invalidate<'a>(&'a self, keys: &'a [&'a str]) -> BoxFuture<'a, Result<(), L2Error>> {
        let keys = keys.iter().map(|key| (*key).to_owned()).collect();
        invalidate(&self.policy, Invalidation::Keys(keys))
    }

    fn invalidate_pattern<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<(), L2Error>> {
        invalidate(&self.policy, Invalidation::Pattern(pattern.to_owned()))
    }

    fn invalidate_tags<'a>(&'a self, tags: &'a [&'a str]) -> BoxFuture<'a, Result<(), L2Error>> {
        let tags = tags.iter().map(|tag| (*tag).to_owned()).collect();
        invalidate(&self.policy, Invalidation::Tags(tags))
    }

    fn clear(&self) -> BoxFuture<'_, Result<(), L2Error>> {
        invalidate(&self.policy, Invalidation::Clear)
    }

    fn keys<'a>(
        &'a self,
        pattern: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<String>, L2Error>> {
        let operation = Operation {
            what: "key listing",
            limit: Limit::Bulk,
            kind: Kind::Inspect,
        };
        let status = &self.inner.status;
        let command = commands::list_keys(self.keyspace(), pattern, limit, status);
        Box::pin(self.policy.run(operation, command))
    }

    fn health(&self) -> BoxFuture<'_, Result<(), L2Error>> {
        let operation = Operation {
            what: "PING",
            limit: Limit::RoundTrip,
            kind: Kind::Probe,
        };
        Box::pin(self.policy.run(operation, commands::ping(self.keyspace())))
    }

    fn status(&self) -> L2Status {
        L2Status::new(
            Some(self.inner.status.is_connected()),
            Some(self.inner.breaker.state()),
            self.policy.pending(),
        )
    }
}

/// An invalidation made by the cache (not a replay).
fn invalidate(policy: &Policy, invalidation: Invalidation) -> BoxFuture<'_, Result<(), L2Error>> {
    Box::pin(async move { policy.invalidate(&invalidation).await })
}
