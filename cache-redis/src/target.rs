//! Where Redis is (the builder's [`Target`]) and what a `RedisL2` opens there: the data
//! connection (`connection.rs`) and the [`Source`] the backplane subscribes through.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClientBuilder, ClusterConfig};
use redis::io::tcp::TcpSettings;
use redis::{ConnectionInfo, IntoConnectionInfo};

use crate::connection::Connection;
use crate::error::Error;
use crate::sentinel::{MasterConnection, MasterSettings, Sentinel, SentinelNode};
use crate::tls::{self, TlsOptions};

/// Where Redis is.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    Standalone(String),
    Cluster(Vec<String>),
    Sentinel {
        sentinels: Vec<String>,
        service: String,
    },
}

/// The master's own credentials and database, for a Sentinel service.
#[derive(Clone, Default)]
pub(crate) struct MasterAuth {
    pub(crate) username: Option<String>,
    pub(crate) password: Option<String>,
    pub(crate) db: i64,
}

impl std::fmt::Debug for MasterAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterAuth")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("db", &self.db)
            .finish()
    }
}

/// What opening a target needs besides the target.
pub(crate) struct OpenSettings<'a> {
    pub(crate) connect_timeout: Duration,
    pub(crate) operation_timeout: Duration,
    pub(crate) tls: &'a TlsOptions,
    pub(crate) master: &'a MasterAuth,
}

impl Target {
    /// Checks what can be checked without connecting.
    pub(crate) fn validate(&self, tls: &TlsOptions) -> Result<(), Error> {
        let urls: &[String] = match self {
            Target::Standalone(url) => std::slice::from_ref(url),
            Target::Cluster(nodes) if nodes.is_empty() => {
                return Err(Error::config("cluster", "needs at least one node URL"));
            }
            Target::Cluster(nodes) => nodes,
            Target::Sentinel { sentinels, .. } if sentinels.is_empty() => {
                return Err(Error::config("sentinel", "needs at least one sentinel URL"));
            }
            Target::Sentinel { service, .. } if service.trim().is_empty() => {
                return Err(Error::config("sentinel", "needs the service (master) name"));
            }
            Target::Sentinel { sentinels, .. } => sentinels,
        };
        let infos = urls
            .iter()
            .map(|url| info(url))
            .collect::<Result<Vec<_>, _>>()?;
        if tls.is_set() && !infos.iter().any(|info| tls::uses_tls(info.addr())) {
            return Err(Error::config(
                "tls_ca_certificates / tls_client_certificate",
                "apply to rediss:// URLs only, and no URL uses rediss://",
            ));
        }
        tls.validate()
    }

    /// Opens the data connection (lazily: nothing is sent yet) and the backplane's source.
    pub(crate) fn open(&self, settings: &OpenSettings<'_>) -> Result<(Connection, Source), Error> {
        let tcp = TcpSettings::default().set_nodelay(true);
        let client = |url: &str| {
            let info = info(url)?.set_tcp_settings(tcp.clone());
            if tls::uses_tls(info.addr()) {
                tls::install_crypto_provider();
            }
            settings.tls.client(info)
        };
        match self {
            Target::Standalone(url) => {
                let client = client(url)?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(settings.connect_timeout))
                    .set_number_of_retries(1)
                    .set_min_delay(Duration::from_millis(10))
                    .set_max_delay(Duration::from_millis(100));
                let manager = ConnectionManager::new_lazy_with_config(client.clone(), config)
                    .map_err(Error::Client)?;
                Ok((Connection::Single(manager), Source::Nodes(vec![client])))
            }
            Target::Cluster(urls) => {
                let clients = urls
                    .iter()
                    .map(|url| client(url))
                    .collect::<Result<Vec<_>, _>>()?;
                let infos: Vec<ConnectionInfo> = clients
                    .iter()
                    .map(|c| c.get_connection_info().clone())
                    .collect();
                let mut builder = ClusterClientBuilder::new(infos.clone())
                    .tcp_settings(tcp.clone())
                    .connection_timeout(settings.connect_timeout)
                    .response_timeout(settings.operation_timeout)
                    .retries(2)
                    .min_retry_wait(10)
                    .max_retry_wait(100);
                if let (Some(certificates), Some(mode)) = (
                    settings.tls.certificates(),
                    infos.first().and_then(tls_mode),
                ) {
                    builder = builder.tls(mode).certs(certificates);
                }
                let cluster = builder.build().map_err(Error::Client)?;
                let config = ClusterConfig::new()
                    .set_connection_timeout(settings.connect_timeout)
                    .set_response_timeout(settings.operation_timeout);
                let connection = cluster.get_pending_async_connection_with_config(config);
                let epochs = Arc::default();
                Ok((
                    Connection::Cluster(connection, epochs),
                    Source::Nodes(clients),
                ))
            }
            Target::Sentinel { sentinels, service } => {
                let clients = sentinels
                    .iter()
                    .map(|url| client(url))
                    .collect::<Result<Vec<_>, _>>()?;
                let first = clients[0].get_connection_info();
                let mut redis = redis::RedisConnectionInfo::default();
                if let Some(username) = &settings.master.username {
                    redis = redis.set_username(username);
                }
                if let Some(password) = &settings.master.password {
                    redis = redis.set_password(password);
                }
                let master = MasterSettings {
                    tls: tls_mode(first).map(|mode| mode == redis::TlsMode::Insecure),
                    redis: redis.set_db(settings.master.db),
                    tcp: tcp.clone(),
                    certificates: settings.tls.clone(),
                };
                let nodes = clients.into_iter().map(SentinelNode::new).collect();
                let sentinel =
                    Sentinel::new(nodes, service.clone(), master, settings.connect_timeout);
                let connection = MasterConnection::new(Arc::clone(&sentinel), settings.master.db);
                Ok((Connection::Sentinel(connection), Source::Sentinel(sentinel)))
            }
        }
    }
}

fn info(url: &str) -> Result<ConnectionInfo, Error> {
    url.into_connection_info()
        .map_err(|source| Error::InvalidUrl {
            url: url.to_owned(),
            source,
        })
}

fn tls_mode(info: &ConnectionInfo) -> Option<redis::TlsMode> {
    match info.addr() {
        redis::ConnectionAddr::TcpTls { insecure: true, .. } => Some(redis::TlsMode::Insecure),
        redis::ConnectionAddr::TcpTls { .. } => Some(redis::TlsMode::Secure),
        _ => None,
    }
}

/// How the backplane finds a server to subscribe on.
#[derive(Clone)]
pub(crate) enum Source {
    /// These servers, tried in turn (one for standalone; the given nodes of a cluster, where
    /// messages reach every node).
    Nodes(Vec<redis::Client>),
    /// The master of a Sentinel service, wherever it is now.
    Sentinel(Arc<Sentinel>),
}

/// A future that completes when the subscription's server stops being the right one.
pub(crate) type Moved = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A server to subscribe on, for one attempt.
pub(crate) struct Server {
    pub(crate) client: redis::Client,
    /// Completes when the master moves (never, for fixed nodes).
    pub(crate) moved: Moved,
    /// The master generation subscribed to, for [`Source::failed`].
    generation: Option<u64>,
}

impl Source {
    /// The server for subscription attempt number `attempt`.
    pub(crate) async fn server(&self, attempt: usize) -> Result<Server, String> {
        match self {
            Source::Nodes(clients) => Ok(Server {
                client: clients[attempt % clients.len()].clone(),
                moved: Box::pin(std::future::pending()),
                generation: None,
            }),
            Source::Sentinel(sentinel) => {
                let mut generations = sentinel.generations();
                let master = sentinel.master().await.map_err(|error| error.to_string())?;
                let generation = master.generation;
                let moved = async move {
                    let _ = generations.wait_for(|current| *current != generation).await;
                };
                Ok(Server {
                    client: master.client,
                    moved: Box::pin(moved),
                    generation: Some(generation),
                })
            }
        }
    }

    /// The subscription on `server` could not be made or was lost: a Sentinel master is
    /// resolved again before the next attempt.
    pub(crate) fn failed(&self, server: &Server, why: &str) {
        if let (Source::Sentinel(sentinel), Some(generation)) = (self, server.generation) {
            sentinel.forget(generation, &why);
        }
    }

    /// What runs beside the subscriber on the backplane's thread: for a Sentinel service, the
    /// periodic check of the master and the `+switch-master` hints (`sentinel/watch.rs`).
    pub(crate) fn watcher(&self, interval: Duration) -> Option<Moved> {
        match self {
            Source::Nodes(_) => None,
            Source::Sentinel(sentinel) => Some(Box::pin(crate::sentinel::watch(
                Arc::clone(sentinel),
                interval,
            ))),
        }
    }
}
