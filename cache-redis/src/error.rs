//! Errors: [`Error`], of building and attaching a `RedisL2` (configuration), and the mapping of
//! redis-rs errors and timeouts to `cache_core::l2::L2Error` (operations, which the cache counts
//! and falls back from).

use std::future::Future;
use std::time::Duration;

use cache_core::l2::{L2Error, L2ErrorKind};
use redis::{ErrorKind, RedisError};

/// A `RedisL2` that cannot be built or attached: a bad setting, or a Redis that refuses the
/// credentials or the TLS handshake; never a Redis outage (an unreachable Redis is not an error
/// at build time; the cache runs without it and retries).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A builder setting is out of range.
    #[error("invalid RedisL2 configuration: `{setting}` {reason}")]
    InvalidConfig {
        /// The builder method at fault.
        setting: &'static str,
        /// What is wrong with its value.
        reason: String,
    },
    /// A URL redis-rs cannot parse.
    #[error("invalid Redis URL {url:?}: {source}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// Why redis-rs rejected it.
        #[source]
        source: RedisError,
    },
    /// `RedisL2Builder::build` ran outside a tokio runtime.
    #[error("RedisL2Builder::build must run inside a tokio runtime")]
    NoRuntime,
    /// redis-rs could not create its client.
    #[error("cannot create the Redis client: {0}")]
    Client(#[source] RedisError),
    /// The backplane's thread could not be started.
    #[error("cannot start the backplane thread: {0}")]
    Backplane(#[source] std::io::Error),
    /// Redis answered but refused the credentials (a wrong password, an unknown or disabled
    /// ACL user), when the `RedisL2` was built.
    #[error("Redis refused the credentials (check the user and password of the URL): {0}")]
    Authentication(#[source] RedisError),
    /// The TLS handshake with Redis failed when the `RedisL2` was built: a certificate not
    /// signed by a trusted CA, a host name it does not cover, or a client certificate refused.
    #[error(
        "the TLS handshake with Redis failed (certificate authority, host name or client certificate): {0}"
    )]
    TlsHandshake(#[source] RedisError),
    /// This `RedisL2` already serves a cache; build one `RedisL2` per `Cache`.
    #[error("this RedisL2 is already attached to a cache; build one RedisL2 per Cache")]
    AlreadyAttached,
}

impl Error {
    pub(crate) fn config(setting: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidConfig {
            setting,
            reason: reason.into(),
        }
    }
}

/// A redis-rs error as an L2 error of the kind it is, keeping it as the source. A reply that
/// says the server cannot serve now (a failover under way: `READONLY`, `LOADING`,
/// `MASTERDOWN`, `CLUSTERDOWN`, `TRYAGAIN`, or a `MOVED`/`ASK` redirection the cluster client
/// gave up following), or that no replica is in sync (`NOREPLICAS`, under
/// `min-replicas-to-write`), counts as no connection, not as a rejection: what it refused is
/// queued and applied once a master answers.
pub(crate) fn from_redis(error: RedisError) -> L2Error {
    let kind = if error.is_timeout() {
        L2ErrorKind::Timeout
    } else if error.is_io_error()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || matches!(error.kind(), ErrorKind::ClusterConnectionNotFound)
        || is_failing_over(&error)
    {
        L2ErrorKind::Connection
    } else {
        match error.kind() {
            ErrorKind::Server(_)
            | ErrorKind::Extension
            | ErrorKind::Parse
            | ErrorKind::UnexpectedReturnType => L2ErrorKind::Protocol,
            _ => L2ErrorKind::Other,
        }
    };
    L2Error::with_source(kind, error.to_string(), error)
}

/// Whether a reply says the server cannot serve now because of a failover.
fn is_failing_over(error: &RedisError) -> bool {
    matches!(
        error.code(),
        Some(
            "READONLY"
                | "LOADING"
                | "MASTERDOWN"
                | "CLUSTERDOWN"
                | "TRYAGAIN"
                | "MOVED"
                | "ASK"
                | "NOREPLICAS"
        )
    )
}

/// An answer that does not have the expected shape.
pub(crate) fn protocol(message: impl Into<String>) -> L2Error {
    L2Error::new(L2ErrorKind::Protocol, message)
}

/// Runs a Redis operation within `limit`: a late answer is a [`L2ErrorKind::Timeout`].
pub(crate) async fn timed<T>(
    limit: Duration,
    what: &str,
    operation: impl Future<Output = Result<T, L2Error>>,
) -> Result<T, L2Error> {
    match tokio::time::timeout(limit, operation).await {
        Ok(result) => result,
        Err(_) => Err(L2Error::new(
            L2ErrorKind::Timeout,
            format!("{what} did not finish within {limit:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failover_replies_are_transient_and_others_rejections() {
        let reply = |code: &str| redis::make_extension_error(code.to_owned(), None);
        for code in [
            "READONLY",
            "LOADING",
            "MASTERDOWN",
            "CLUSTERDOWN",
            "TRYAGAIN",
            "ASK",
            "NOREPLICAS",
        ] {
            assert_eq!(
                from_redis(reply(code)).kind,
                L2ErrorKind::Connection,
                "{code}"
            );
        }
        let moved = RedisError::from((
            ErrorKind::Server(redis::ServerErrorKind::Moved),
            "moved",
            "449 127.0.0.1:7000".to_owned(),
        ));
        assert_eq!(from_redis(moved).kind, L2ErrorKind::Connection);
        assert_eq!(from_redis(reply("WRONGTYPE")).kind, L2ErrorKind::Protocol);
    }
}
