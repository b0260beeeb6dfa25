//! [`RedisL2Builder`]: where Redis is, how to reach it safely, and how long to wait for it.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::backplane::{Status, random_id};
use crate::breaker::{Breaker, BreakerSettings};
use crate::error::Error;
use crate::redis_l2::{FleetSettings, Inner, RedisL2, Settings};
use crate::target::{MasterAuth, OpenSettings, Target};
use crate::tls::{self, ClientCertificate, TlsOptions};

/// Default limit of one Redis operation (a read, a write, one step of a scan): 250 ms.
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_millis(250);
/// Default limit of a whole pattern invalidation or `clear` (many `SCAN` steps): 30 s.
pub const DEFAULT_BULK_TIMEOUT: Duration = Duration::from_secs(30);
/// Default limit of establishing a connection or the backplane subscription: 1 s.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Default interval of the backplane's heartbeat `PING`: 1 s.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(1);
/// Default `COUNT` hint of each `SCAN` step: 500.
pub const DEFAULT_SCAN_COUNT: usize = 500;
/// Default number of consecutive failures (no answer, timeout) that opens the circuit
/// breaker: 3.
pub const DEFAULT_BREAKER_THRESHOLD: u32 = 3;
/// Default time an open circuit breaker skips Redis before one probe: 1 s.
pub const DEFAULT_BREAKER_COOLDOWN: Duration = Duration::from_secs(1);
/// Default bound of the queue of invalidations waiting for Redis: 10,000 (past it, one
/// namespace flush replaces them).
pub const DEFAULT_MAX_PENDING_INVALIDATIONS: usize = 10_000;
/// Default lifetime of the lease a load takes on its key for the fleet, renewed every third
/// of it while the load runs: 2 s. A process killed mid-load delays the others at most this
/// long (then one of them takes the lease over).
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(2);
/// Default longest wait of a caller for another process's load of the same key: 5 s. Past it
/// the caller loads the key itself.
pub const DEFAULT_FLEET_WAIT: Duration = Duration::from_secs(5);
/// Default URL when neither [`url`](RedisL2Builder::url) nor
/// [`cluster`](RedisL2Builder::cluster) is given.
pub const DEFAULT_URL: &str = "redis://127.0.0.1:6379/";

/// Builds a [`RedisL2`]. Every setting is optional.
///
/// ```no_run
/// use std::time::Duration;
/// use cache_core::Cache;
/// use cache_redis::RedisL2;
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let l2 = RedisL2::builder()
///     .url("redis://127.0.0.1:6379/")                  // or .cluster([...node URLs])
///     .operation_timeout(Duration::from_millis(250))   // each read/write/scan step
///     .bulk_timeout(Duration::from_secs(30))           // a whole pattern invalidation / clear
///     .connect_timeout(Duration::from_secs(1))         // connecting, subscribing
///     .heartbeat(Duration::from_secs(1))               // backplane liveness check
///     .scan_count(500)                                 // SCAN ... COUNT
///     .breaker_threshold(3)                            // failures that open the breaker
///     .breaker_cooldown(Duration::from_secs(1))        // skip Redis this long, then probe
///     .max_pending_invalidations(10_000)               // queued while Redis is away
///     .fleet_single_flight(true)                       // one load per key across processes
///     .lease_ttl(Duration::from_secs(2))               // a killed loader holds a key this long
///     .fleet_wait(Duration::from_secs(5))              // longest wait for another process
///     .build()
///     .await?;
/// let cache = Cache::builder().namespace("billing").l2(l2).build()?;
/// # drop(cache); Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct RedisL2Builder {
    target: Target,
    operation_timeout: Duration,
    bulk_timeout: Duration,
    connect_timeout: Duration,
    heartbeat: Duration,
    max_backoff: Duration,
    scan_count: usize,
    breaker_threshold: u32,
    breaker_cooldown: Duration,
    max_pending: usize,
    tls: TlsOptions,
    master: MasterAuth,
    fleet_single_flight: bool,
    lease_ttl: Duration,
    fleet_wait: Duration,
}

impl Default for RedisL2Builder {
    fn default() -> Self {
        Self {
            target: Target::Standalone(DEFAULT_URL.to_owned()),
            operation_timeout: DEFAULT_OPERATION_TIMEOUT,
            bulk_timeout: DEFAULT_BULK_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            heartbeat: DEFAULT_HEARTBEAT,
            max_backoff: Duration::from_secs(2),
            scan_count: DEFAULT_SCAN_COUNT,
            breaker_threshold: DEFAULT_BREAKER_THRESHOLD,
            breaker_cooldown: DEFAULT_BREAKER_COOLDOWN,
            max_pending: DEFAULT_MAX_PENDING_INVALIDATIONS,
            tls: TlsOptions::default(),
            master: MasterAuth::default(),
            fleet_single_flight: true,
            lease_ttl: DEFAULT_LEASE_TTL,
            fleet_wait: DEFAULT_FLEET_WAIT,
        }
    }
}

impl RedisL2Builder {
    /// A standalone Redis server, e.g. `"redis://127.0.0.1:6379/"`. Also `rediss://` for TLS
    /// (the system's root certificates, or [`tls_ca_certificates`](Self::tls_ca_certificates);
    /// `rediss://host/#insecure` skips certificate checks, for tests),
    /// `redis://user:password@host/` for an ACL user, `redis://:password@host/db` for
    /// `requirepass`. Default [`DEFAULT_URL`].
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.target = Target::Standalone(url.into());
        self
    }

    /// A Redis Cluster, given some (or all) of its nodes' URLs; the others are discovered.
    pub fn cluster<I, S>(mut self, nodes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.target = Target::Cluster(nodes.into_iter().map(Into::into).collect());
        self
    }

    /// A service behind Redis Sentinel: the sentinels' URLs (`redis://host:26379`, with
    /// `rediss://` and `user:password@` for the sentinels' own TLS and ACL user) and the
    /// service (master) name they monitor.
    ///
    /// The master is found through the sentinels on every (re)connect and checked with
    /// `ROLE`; a failover is followed (a `READONLY`/`LOADING` reply, a lost connection, a
    /// periodic check, or a sentinel's `+switch-master` make the next command find the master
    /// again), and the backplane moves its subscription to the new master. The master is
    /// reached with TLS when the sentinels are (same `#insecure`, same certificates), with
    /// the credentials of [`sentinel_master_auth`](Self::sentinel_master_auth).
    ///
    /// ```no_run
    /// # #[tokio::main] async fn main() -> Result<(), cache_redis::Error> {
    /// let l2 = cache_redis::RedisL2::builder()
    ///     .sentinel(
    ///         ["redis://10.0.0.1:26379", "redis://10.0.0.2:26379", "redis://10.0.0.3:26379"],
    ///         "cache",
    ///     )
    ///     .sentinel_master_auth("app", "secret")
    ///     .build()
    ///     .await?;
    /// # drop(l2); Ok(()) }
    /// ```
    pub fn sentinel<I, S>(mut self, sentinels: I, service: impl Into<String>) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.target = Target::Sentinel {
            sentinels: sentinels.into_iter().map(Into::into).collect(),
            service: service.into(),
        };
        self
    }

    /// The ACL user and password of a Sentinel service's master (and of its replicas, which
    /// become masters): `""` as the user for the default user (`requirepass`). Credentials
    /// in the sentinels' URLs are the sentinels' own. None by default.
    pub fn sentinel_master_auth(
        mut self,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        let username = username.into();
        self.master.username = (!username.is_empty()).then_some(username);
        self.master.password = Some(password.into());
        self
    }

    /// The database of a Sentinel service's master. Default 0.
    pub fn sentinel_master_db(mut self, db: i64) -> Self {
        self.master.db = db;
        self
    }

    /// CA certificates (PEM) to trust for `rediss://` connections instead of the system's
    /// root certificates, e.g. a private CA of a managed Redis. A bad PEM is an error from
    /// [`build`](Self::build).
    ///
    /// ```no_run
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let ca = std::fs::read("/etc/redis/ca.pem")?;
    /// let l2 = cache_redis::RedisL2::builder()
    ///     .url("rediss://app:secret@redis.internal:6380/")
    ///     .tls_ca_certificates(ca)
    ///     .build()
    ///     .await?;
    /// # drop(l2); Ok(()) }
    /// ```
    pub fn tls_ca_certificates(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls.ca = Some(Arc::from(pem.into()));
        self
    }

    /// A client certificate chain and its private key (PEM) presented on `rediss://`
    /// connections, for servers that require one (`tls-auth-clients yes`, mutual TLS).
    pub fn tls_client_certificate(
        mut self,
        certificate_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.tls.client = Some(ClientCertificate {
            chain: Arc::from(certificate_pem.into()),
            key: Arc::from(key_pem.into()),
        });
        self
    }

    /// Limit of one operation: a read (value and tag check), a write, an invalidation, one
    /// step of a scan. Past it the operation fails with [`L2ErrorKind::Timeout`](cache_core::l2::L2ErrorKind::Timeout) and the cache
    /// falls back to the loader. Default [`DEFAULT_OPERATION_TIMEOUT`] (250 ms).
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = timeout;
        self
    }

    /// Limit of a whole pattern invalidation or `clear`, which scan the keyspace step by step.
    /// Default [`DEFAULT_BULK_TIMEOUT`] (30 s).
    pub fn bulk_timeout(mut self, timeout: Duration) -> Self {
        self.bulk_timeout = timeout;
        self
    }

    /// Limit of connecting (the check in [`build`](Self::build)) and of subscribing the
    /// backplane. Default [`DEFAULT_CONNECT_TIMEOUT`] (1 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How often the backplane checks its subscription with a `PING` answered through it,
    /// which must come within the same interval. The backplane counts as connected while its
    /// last proof is younger than three heartbeats; a lost subscription empties L1 and keeps
    /// it degraded until it is back (see the crate docs). Default [`DEFAULT_HEARTBEAT`] (1 s).
    pub fn heartbeat(mut self, interval: Duration) -> Self {
        self.heartbeat = interval;
        self
    }

    /// Longest pause between two attempts to resubscribe the backplane (the pause doubles
    /// from 25 ms up to this). Default 2 s.
    pub fn max_reconnect_backoff(mut self, backoff: Duration) -> Self {
        self.max_backoff = backoff;
        self
    }

    /// `COUNT` hint of each `SCAN` step of a pattern invalidation. Default
    /// [`DEFAULT_SCAN_COUNT`] (500).
    pub fn scan_count(mut self, count: usize) -> Self {
        self.scan_count = count;
        self
    }

    /// Consecutive failures (no answer, no connection, a timeout; not errors Redis answers
    /// with) after which the circuit breaker opens: calls then skip Redis, counted in
    /// `Stats::l2_skipped`, for [`breaker_cooldown`](Self::breaker_cooldown), after which one
    /// call probes Redis and closes or reopens it. An outage thus costs callers one timeout
    /// per cool-down instead of one per call. Default [`DEFAULT_BREAKER_THRESHOLD`] (3).
    ///
    /// ```
    /// # #[tokio::main] async fn main() {
    /// let built = cache_redis::RedisL2::builder().breaker_threshold(0).build().await;
    /// assert!(built.is_err());
    /// # }
    /// ```
    pub fn breaker_threshold(mut self, failures: u32) -> Self {
        self.breaker_threshold = failures;
        self
    }

    /// How long an open circuit breaker skips Redis before letting one probe through.
    /// Default [`DEFAULT_BREAKER_COOLDOWN`] (1 s).
    pub fn breaker_cooldown(mut self, cooldown: Duration) -> Self {
        self.breaker_cooldown = cooldown;
        self
    }

    /// Bound of the queue of invalidations Redis did not confirm (a failed or skipped key,
    /// pattern, tag or clear invalidation, or the removal after a failed write), replayed
    /// when Redis answers again, before any read from Redis. Past the bound the queue becomes
    /// one namespace flush: an O(1) generation bump that hides every entry written before
    /// it. Default [`DEFAULT_MAX_PENDING_INVALIDATIONS`] (10,000).
    pub fn max_pending_invalidations(mut self, max: usize) -> Self {
        self.max_pending = max;
        self
    }

    /// Fleet-wide single-flight (on by default): when several processes miss the same key,
    /// one of them loads it (it takes the key's lease in Redis, in the read that found the
    /// key missing) and the others wait for its value, woken by the backplane, at most
    /// [`fleet_wait`](Self::fleet_wait); refresh-ahead runs once per key across the fleet.
    /// Off, every process that misses a key loads it (single-flight within each process).
    ///
    /// ```no_run
    /// # async fn example() -> Result<(), cache_redis::Error> {
    /// let l2 = cache_redis::RedisL2::builder().fleet_single_flight(false).build().await?;
    /// # drop(l2); Ok(()) }
    /// ```
    pub fn fleet_single_flight(mut self, on: bool) -> Self {
        self.fleet_single_flight = on;
        self
    }

    /// Lifetime of the lease a load takes on its key, renewed every third of it while the
    /// load runs; a process killed mid-load delays the others at most this long. Default
    /// [`DEFAULT_LEASE_TTL`] (2 s).
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # async fn example() -> Result<(), cache_redis::Error> {
    /// let l2 = cache_redis::RedisL2::builder().lease_ttl(Duration::from_secs(1)).build().await?;
    /// # drop(l2); Ok(()) }
    /// ```
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl;
        self
    }

    /// Longest wait of a caller for another process's load of the same key (the bound a
    /// caller can see); past it the caller loads the key itself. Default
    /// [`DEFAULT_FLEET_WAIT`] (5 s).
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # async fn example() -> Result<(), cache_redis::Error> {
    /// let l2 = cache_redis::RedisL2::builder().fleet_wait(Duration::from_secs(2)).build().await?;
    /// # drop(l2); Ok(()) }
    /// ```
    pub fn fleet_wait(mut self, wait: Duration) -> Self {
        self.fleet_wait = wait;
        self
    }

    fn validate(&self) -> Result<(), Error> {
        for (setting, value) in [
            ("operation_timeout", self.operation_timeout),
            ("bulk_timeout", self.bulk_timeout),
            ("connect_timeout", self.connect_timeout),
            ("heartbeat", self.heartbeat),
            ("max_reconnect_backoff", self.max_backoff),
            ("breaker_cooldown", self.breaker_cooldown),
            ("lease_ttl", self.lease_ttl),
        ] {
            if value.is_zero() {
                return Err(Error::config(setting, "must be longer than zero"));
            }
        }
        if self.scan_count == 0 {
            return Err(Error::config("scan_count", "must be at least 1"));
        }
        if self.breaker_threshold == 0 {
            return Err(Error::config("breaker_threshold", "must be at least 1"));
        }
        if self.max_pending == 0 {
            return Err(Error::config(
                "max_pending_invalidations",
                "must be at least 1",
            ));
        }
        self.target.validate(&self.tls)
    }

    /// Builds the L2. Must run inside a tokio runtime, which drives its data connection (the
    /// backplane runs on a thread of its own, see the crate docs).
    ///
    /// A bad setting (e.g. an unparsable URL, an unreadable certificate) is an error, and so
    /// is a Redis that answers but refuses the credentials ([`Error::Authentication`]) or the
    /// TLS handshake ([`Error::TlsHandshake`]), found within the connect timeout. Redis being
    /// unreachable is not: the service starts, the cache runs on L1 and loaders (counting `l2_errors`), and
    /// uses Redis as soon as it answers. To fail fast instead, call
    /// [`health`](cache_core::l2::L2::health) on the result before handing it to the cache.
    pub async fn build(self) -> Result<RedisL2, Error> {
        self.validate()?;
        tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let (connection, source) = self.target.open(&OpenSettings {
            connect_timeout: self.connect_timeout,
            operation_timeout: self.operation_timeout,
            tls: &self.tls,
            master: &self.master,
        })?;
        let l2 = RedisL2 {
            inner: Arc::new(Inner {
                connection,
                settings: Settings {
                    operation_timeout: self.operation_timeout,
                    bulk_timeout: self.bulk_timeout,
                    connect_timeout: self.connect_timeout,
                    heartbeat: self.heartbeat,
                    max_backoff: self.max_backoff,
                    scan_count: self.scan_count,
                    max_pending: self.max_pending,
                    fleet: self.fleet_single_flight.then_some(FleetSettings {
                        lease_ttl: self.lease_ttl,
                        wait_at_most: self.fleet_wait,
                    }),
                },
                source,
                origin: random_id(),
                status: Arc::new(Status::new(self.heartbeat)),
                breaker: Breaker::new(BreakerSettings {
                    threshold: self.breaker_threshold,
                    cooldown: self.breaker_cooldown,
                }),
                attached: AtomicBool::new(false),
            }),
        };
        // Connect now, so the first request does not pay for it. Credentials or a certificate
        // Redis refuses are an error; Redis not answering only a warning.
        let mut connection = l2.inner.connection.clone();
        let ping = redis::cmd("PING");
        let ping = ping.query_async::<()>(&mut connection);
        match tokio::time::timeout(self.connect_timeout, ping).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) if is_refused_credentials(&error) => {
                return Err(Error::Authentication(error));
            }
            Ok(Err(error)) if tls::is_handshake_failure(&error) => {
                return Err(Error::TlsHandshake(error));
            }
            Ok(Err(error)) => {
                tracing::warn!(%error, "Redis is not reachable yet; the cache starts without L2 and retries");
            }
            Err(_) => tracing::warn!(
                connect_timeout = ?self.connect_timeout,
                "Redis did not answer in time; the cache starts without L2 and retries"
            ),
        }
        Ok(l2)
    }
}

/// Whether Redis refused the credentials (a wrong password, an unknown or disabled user).
fn is_refused_credentials(error: &redis::RedisError) -> bool {
    error.kind() == redis::ErrorKind::AuthenticationFailed
        || matches!(error.code(), Some("WRONGPASS" | "NOAUTH"))
}
