//! Redis Sentinel: the master of a service, found through the sentinels on every (re)connect
//! and followed across failovers.
//!
//! - **Resolving**: every sentinel is asked `SENTINEL MASTER <service>` at once; the answer of
//!   the newest configuration (highest `config-epoch`) names the master, which must then say
//!   `master` to `ROLE` on the connection that will carry the commands. Resolution runs as a
//!   task of its own, so a caller that gives up (its operation timeout) does not abort it.
//! - **Following** (`sentinel/follow.rs`): a command failing for lack of a connection, or
//!   answered `READONLY`, `LOADING` or `MASTERDOWN`, makes the next command resolve again.
//! - **Checking** (`sentinel/watch.rs`): on a timer, the sentinels' answer is compared with the
//!   master in use and `ROLE` is asked again; a `+switch-master` message from a sentinel is a
//!   hint to do so at once.
//!
//! Each master connection has a generation number, watched by the backplane: when it changes,
//! the subscription moves to the new master (and L1 goes through the degraded path, since
//! messages may have been lost meanwhile).

mod ask;
mod follow;
mod watch;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use parking_lot::Mutex;
use redis::aio::MultiplexedConnection;
use redis::{
    AsyncConnectionConfig, ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisError,
};

use crate::error::Error;
use crate::tls::TlsOptions;

pub(crate) use ask::SentinelNode;
pub(crate) use follow::MasterConnection;
pub(crate) use watch::watch;

/// A server's address as the sentinels name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Address {
    pub(crate) host: String,
    pub(crate) port: u16,
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// How the master (and any server the sentinels name) is reached: TLS like the sentinels'
/// URLs, the master's own credentials and database.
#[derive(Clone, Debug)]
pub(crate) struct MasterSettings {
    /// `Some(insecure)` when the sentinels' URLs use `rediss://`.
    pub(crate) tls: Option<bool>,
    pub(crate) redis: redis::RedisConnectionInfo,
    pub(crate) tcp: redis::io::tcp::TcpSettings,
    pub(crate) certificates: TlsOptions,
}

impl MasterSettings {
    /// A client for the server at `address`.
    pub(crate) fn client(&self, address: &Address) -> Result<redis::Client, Error> {
        let host = address.host.clone();
        let port = address.port;
        let addr = match self.tls {
            Some(insecure) => ConnectionAddr::TcpTls {
                host,
                port,
                insecure,
                tls_params: None,
            },
            None => ConnectionAddr::Tcp(host, port),
        };
        let info: ConnectionInfo = addr
            .into_connection_info()
            .map_err(Error::Client)?
            .set_redis_settings(self.redis.clone())
            .set_tcp_settings(self.tcp.clone());
        self.certificates.client(info)
    }
}

/// The master in use: its connection and generation.
#[derive(Clone)]
pub(crate) struct Master {
    pub(crate) address: Address,
    /// For the backplane's subscription.
    pub(crate) client: redis::Client,
    /// The data connection (multiplexed, shared by every command).
    pub(crate) connection: MultiplexedConnection,
    /// Changes each time a master connection is made or dropped.
    pub(crate) generation: u64,
}

type Resolution = Shared<BoxFuture<'static, Result<Master, RedisError>>>;

enum Slot {
    /// No master known: the next command resolves.
    Empty,
    /// A resolution runs; callers wait for it.
    Resolving(Resolution),
    Ready(Box<Master>),
}

/// A service behind Redis Sentinel: the sentinels, how to reach its master, and the master
/// in use. Shared by the data connection and the backplane.
pub(crate) struct Sentinel {
    sentinels: Vec<SentinelNode>,
    service: String,
    master: MasterSettings,
    connect_timeout: Duration,
    slot: Mutex<Slot>,
    /// The generation of the master connection (see [`Master::generation`]).
    generation: tokio::sync::watch::Sender<u64>,
    /// The last master connected to, to tell a failover from a reconnection.
    last_address: Mutex<Option<Address>>,
    /// How many times the master moved to another address.
    switches: AtomicU64,
}

impl Sentinel {
    pub(crate) fn new(
        sentinels: Vec<SentinelNode>,
        service: String,
        master: MasterSettings,
        connect_timeout: Duration,
    ) -> Arc<Self> {
        Arc::new(Self {
            sentinels,
            service,
            master,
            connect_timeout,
            slot: Mutex::new(Slot::Empty),
            generation: tokio::sync::watch::Sender::new(0),
            last_address: Mutex::new(None),
            switches: AtomicU64::new(0),
        })
    }

    /// The service's name.
    pub(crate) fn service(&self) -> &str {
        &self.service
    }

    /// The master in use, resolved first if none is (bounded by the connect timeout).
    pub(crate) async fn master(self: &Arc<Self>) -> Result<Master, RedisError> {
        let resolution = {
            let mut slot = self.slot.lock();
            match &*slot {
                Slot::Ready(master) => return Ok(Master::clone(master)),
                Slot::Resolving(resolution) => resolution.clone(),
                Slot::Empty => {
                    let task = tokio::spawn(Arc::clone(self).resolve());
                    let sentinel = Arc::downgrade(self);
                    let resolution = async move {
                        task.await.unwrap_or_else(|error| {
                            // Its runtime went away: the next caller resolves again.
                            if let Some(sentinel) = sentinel.upgrade() {
                                sentinel.abandon_resolution();
                            }
                            Err(RedisError::from(std::io::Error::other(format!(
                                "the Sentinel resolution stopped: {error}"
                            ))))
                        })
                    }
                    .boxed()
                    .shared();
                    *slot = Slot::Resolving(resolution.clone());
                    resolution
                }
            }
        };
        resolution.await
    }

    /// Forgets a resolution that will not finish.
    fn abandon_resolution(&self) {
        let mut slot = self.slot.lock();
        if matches!(*slot, Slot::Resolving(_)) {
            *slot = Slot::Empty;
        }
    }

    /// The master in use, if one is connected.
    pub(crate) fn current(&self) -> Option<Master> {
        match &*self.slot.lock() {
            Slot::Ready(master) => Some(Master::clone(master)),
            _ => None,
        }
    }

    /// Drops the master connection of `generation` (if it is still the one in use): the next
    /// command resolves the master again.
    pub(crate) fn forget(&self, generation: u64, why: &dyn std::fmt::Display) {
        let mut slot = self.slot.lock();
        if let Slot::Ready(master) = &*slot
            && master.generation == generation
        {
            tracing::info!(service = %self.service, master = %master.address, %why, "resolving the Sentinel master again");
            *slot = Slot::Empty;
            self.generation.send_modify(|generation| *generation += 1);
        }
    }

    /// Watches the master connection's generation.
    pub(crate) fn generations(&self) -> tokio::sync::watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// How many times the master moved to another address since this was built.
    pub(crate) fn switches(&self) -> u64 {
        self.switches.load(Ordering::Acquire)
    }

    /// Asks the sentinels, connects to the master they name, checks its role, and makes it
    /// the master in use.
    async fn resolve(self: Arc<Self>) -> Result<Master, RedisError> {
        let outcome = tokio::time::timeout(self.connect_timeout, self.connect()).await;
        let outcome = outcome.unwrap_or_else(|_| {
            Err(RedisError::from(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "no master of {:?} resolved within {:?}",
                    self.service, self.connect_timeout
                ),
            )))
        });
        let mut slot = self.slot.lock();
        match outcome {
            Ok((address, client, connection)) => {
                let mut generation = 0;
                self.generation.send_modify(|current| {
                    *current += 1;
                    generation = *current;
                });
                let master = Master {
                    address,
                    client,
                    connection,
                    generation,
                };
                self.note_address(&master.address);
                *slot = Slot::Ready(Box::new(master.clone()));
                Ok(master)
            }
            Err(error) => {
                *slot = Slot::Empty;
                Err(error)
            }
        }
    }

    /// Counts a switch when the master's address is not the last one's.
    fn note_address(&self, address: &Address) {
        let mut last = self.last_address.lock();
        match &*last {
            Some(previous) if previous != address => {
                self.switches.fetch_add(1, Ordering::AcqRel);
                tracing::warn!(service = %self.service, from = %previous, to = %address, "the Sentinel master moved");
            }
            Some(_) => {}
            None => {
                tracing::debug!(service = %self.service, master = %address, "Sentinel master found")
            }
        }
        *last = Some(address.clone());
    }

    /// The master the sentinels name, connected and checked with `ROLE`.
    async fn connect(&self) -> Result<(Address, redis::Client, MultiplexedConnection), RedisError> {
        let address = self.named_master().await?;
        let client = self
            .master
            .client(&address)
            .map_err(|error| RedisError::from(std::io::Error::other(error.to_string())))?;
        let config =
            AsyncConnectionConfig::new().set_connection_timeout(Some(self.connect_timeout));
        let mut connection = client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        ask::require_master(&mut connection, &address).await?;
        Ok((address, client, connection))
    }

    /// The master named by the sentinel with the newest configuration among those that
    /// answer within half the connect timeout (the other half is for the master).
    pub(crate) async fn named_master(&self) -> Result<Address, RedisError> {
        ask::newest_master(&self.sentinels, &self.service, self.connect_timeout / 2).await
    }
}
