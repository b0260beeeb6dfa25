//! Mapping redis-rs errors and timeouts to [`L2Error`].

use std::future::Future;
use std::time::Duration;

use cache_core::{L2Error, L2ErrorKind};
use redis::{ErrorKind, RedisError};

/// The kind of failure a redis-rs error is.
pub(crate) fn from_redis(error: RedisError) -> L2Error {
    let kind = if error.is_timeout() {
        L2ErrorKind::Timeout
    } else if error.is_io_error()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || matches!(error.kind(), ErrorKind::ClusterConnectionNotFound)
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
    L2Error::new(kind, error.to_string())
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
